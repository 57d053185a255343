/*
 * kinesis-cat -C: joins consumer group APP (lease table APP, KCL 2.x layout) and
 * prints every user record with FORMAT. A batch is written and flushed before
 * it is checkpointed; SIGINT/SIGTERM shut down gracefully (checkpoint, release
 * the leases), and --exit-idle does the same once nothing arrives and every
 * held shard is caught up. Built on kinesis/consumer.h only.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kinesis/consumer.h>

#include "kcat.h"

#define IDLE_CHECK_MS 200

typedef struct {
    const char *format;
    atomic_int_least64_t last_record_ms;
    atomic_int write_failed;
    kn_consumer_t *c;
} consume_t;

/* The one consumer of this process, for the signal handler. */
static kn_consumer_t *signal_consumer;

static void on_signal(int sig) {
    (void)sig;
    kn_consumer_shutdown(signal_consumer); /* async-signal-safe */
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One record through FORMAT: %s %k %S %u %p %T %%, and \n \t escapes. */
static void print_record(const char *fmt, const char *shard, const kn_user_record_t *r, FILE *out) {
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\' && (p[1] == 'n' || p[1] == 't')) {
            fputc(*++p == 'n' ? '\n' : '\t', out);
            continue;
        }
        if (*p != '%' || !p[1]) {
            fputc(*p, out);
            continue;
        }
        switch (*++p) {
        case 's':
            fwrite(r->data, 1, r->data_len, out);
            break;
        case 'k':
            fputs(r->partition_key, out);
            break;
        case 'S':
            fputs(r->sequence_number, out);
            break;
        case 'u':
            fprintf(out, "%lld", (long long)r->subsequence_number);
            break;
        case 'p':
            fputs(shard, out);
            break;
        case 'T':
            fprintf(out, "%lld", (long long)r->approximate_arrival_ms);
            break;
        case '%':
            fputc('%', out);
            break;
        default: /* unknown: printed as is */
            fputc('%', out);
            fputc(*p, out);
            break;
        }
    }
}

static void on_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    (void)state;
    consume_t *k = opaque;
    atomic_store(&k->last_record_ms, mono_ms());
    flockfile(stdout); /* shards run in parallel: keep each batch's lines together */
    for (size_t i = 0; i < b->count; i++)
        print_record(k->format, b->shard_id, &b->records[i], stdout);
    int failed = fflush(stdout) != 0 || ferror(stdout);
    funlockfile(stdout);
    if (failed) {
        /* Not written, so not checkpointed: stop; another run picks up from here. */
        if (!atomic_exchange(&k->write_failed, 1))
            kcat_errorf("cannot write to standard output; stopping");
        kn_consumer_shutdown(k->c);
        return;
    }
    kn_err_t rc = kn_checkpoint(cp);
    if (rc != KN_OK && rc != KN_ERR_LEASE_LOST)
        kcat_errorf("checkpoint failed: %s (the batch may be printed again)", kn_err2str(rc));
}

static void on_shard_ended(void *opaque, void *state, kn_checkpointer_t *cp) {
    (void)opaque;
    (void)state;
    kn_checkpoint(cp);
}

static void on_shutdown(void *opaque, void *state, kn_checkpointer_t *cp) {
    (void)state;
    consume_t *k = opaque;
    if (!atomic_load(&k->write_failed))
        kn_checkpoint(cp); /* everything delivered was printed and flushed */
}

typedef struct {
    consume_t *k;
    int64_t idle_ms;
    atomic_int done;
} idle_watch_t;

/* --exit-idle: no record for idle_ms and every held shard caught up: shut down. */
static void *idle_main(void *arg) {
    idle_watch_t *w = arg;
    while (!atomic_load(&w->done)) {
        usleep(IDLE_CHECK_MS * 1000);
        kn_consumer_stats_t st;
        kn_consumer_get_stats(w->k->c, &st);
        if (mono_ms() - atomic_load(&w->k->last_record_ms) >= w->idle_ms &&
            st.shards_caught_up == st.leases_held) {
            kn_consumer_shutdown(w->k->c);
            break;
        }
    }
    return NULL;
}

/* --from trim_horizon|latest|at_timestamp:RFC3339 */
static int set_from(kn_conf_t *conf, const char *from) {
    char err[256];
    const char *ts = NULL, *pos;
    if (!strcmp(from, "trim_horizon")) {
        pos = "TRIM_HORIZON";
    } else if (!strcmp(from, "latest")) {
        pos = "LATEST";
    } else if (!strncmp(from, "at_timestamp:", 13) && from[13]) {
        pos = "AT_TIMESTAMP";
        ts = from + 13;
    } else {
        kcat_errorf("--from expects trim_horizon, latest or at_timestamp:RFC3339, got \"%s\" "
                    "(see kinesis-cat --help)", from);
        return KCAT_EXIT_USAGE;
    }
    if (kn_conf_set(conf, "initial.position", pos, err, sizeof(err)) ||
        (ts && kn_conf_set(conf, "initial.position.timestamp", ts, err, sizeof(err)))) {
        kcat_errorf("%s", err);
        return KCAT_EXIT_USAGE;
    }
    return KCAT_EXIT_OK;
}

static int configure(const kcat_opts_t *o, kn_conf_t *conf) {
    char err[256];
    if (!o->stream || !*o->stream || !o->group || !*o->group) {
        kcat_errorf("-C needs a stream (-s NAME) and a group (-G APP) (see kinesis-cat --help)");
        return KCAT_EXIT_USAGE;
    }
    if (o->consumer_name && !o->fanout) {
        kcat_errorf("--consumer-name goes with --fanout (see kinesis-cat --help)");
        return KCAT_EXIT_USAGE;
    }
    /* --fanout: the library registers stream consumer NAME (default APP) if missing */
    if ((o->fanout && kn_conf_set(conf, "retrieval.mode", "fanout", err, sizeof(err))) ||
        (o->consumer_name && kn_conf_set(conf, "consumer.name", o->consumer_name, err,
                                         sizeof(err))) ||
        kn_conf_set(conf, "stream.name", o->stream, err, sizeof(err)) ||
        kn_conf_set(conf, "application.name", o->group, err, sizeof(err)) ||
        (o->worker_id && kn_conf_set(conf, "worker.id", o->worker_id, err, sizeof(err)))) {
        kcat_errorf("%s", err);
        return KCAT_EXIT_USAGE;
    }
    return o->from ? set_from(conf, o->from) : KCAT_EXIT_OK;
}

int kcat_consume(const kcat_opts_t *o, kn_conf_t *conf) {
    int rc = configure(o, conf);
    if (rc)
        return rc;
    consume_t k = {o->format ? o->format : "%s\\n", 0, 0, NULL};
    atomic_init(&k.last_record_ms, mono_ms());
    atomic_init(&k.write_failed, 0);
    kn_processor_t proc = {NULL, on_records, NULL, on_shard_ended, on_shutdown};
    char err[512];
    k.c = kn_consumer_new(conf, &proc, &k, err, sizeof(err));
    if (!k.c) {
        kcat_errorf("%s", err);
        return KCAT_EXIT_USAGE;
    }
    signal_consumer = k.c;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an fflush error, handled above */

    idle_watch_t watch = {&k, o->exit_idle_s * 1000, 0};
    atomic_init(&watch.done, 0);
    pthread_t th;
    int watching = o->exit_idle_s >= 0 && !pthread_create(&th, NULL, idle_main, &watch);

    kn_err_t run = kn_consumer_run(k.c);
    if (watching) {
        atomic_store(&watch.done, 1);
        pthread_join(th, NULL);
    }
    if (run != KN_OK && kn_consumer_error(k.c))
        kcat_error_obj("consuming", kn_consumer_error(k.c));
    else if (run != KN_OK)
        kcat_errorf("consuming: %s", kn_err2str(run));
    kn_consumer_destroy(k.c);
    return run == KN_OK && !atomic_load(&k.write_failed) ? KCAT_EXIT_OK : KCAT_EXIT_RUNTIME;
}
