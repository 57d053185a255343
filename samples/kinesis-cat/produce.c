/*
 * kinesis-cat -P: every stdin line (without its newline) becomes one record.
 * -K DELIM splits a line into partition key and data at the first DELIM, -k KEY
 * gives every record the same key, otherwise each record gets a random key.
 * Failed records (bad input, expired, non-retriable service error) are printed
 * on stderr as one JSON line each; at end of input the producer is flushed and
 * a JSON summary is printed last. Exit 0 iff every record was delivered.
 * Built on kinesis/producer.h only.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kinesis/producer.h>

#include "kcat.h"

/* How long a put waits before trying again while the producer's buffer is full. */
#define FULL_WAIT_US 1000

typedef struct {
    pthread_mutex_t lock; /* stderr lines and counters: reports run on another thread */
    long delivered, failed, retries;
} produce_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes s as a JSON string body (without quotes). */
static void json_text(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
}

static void print_failure(produce_t *st, long line, kn_err_t code, const char *message) {
    pthread_mutex_lock(&st->lock);
    fprintf(stderr, "{\"failed\":%ld,\"error\":\"%s\",\"message\":\"", line, kn_err2name(code));
    json_text(stderr, message);
    fputs("\"}\n", stderr);
    st->failed++;
    pthread_mutex_unlock(&st->lock);
}

static void on_report(const kn_delivery_report_t *r, void *opaque) {
    produce_t *st = opaque;
    long line = (long)(intptr_t)r->opaque;
    if (r->error) {
        print_failure(st, line, kn_error_code(r->error), kn_error_message(r->error));
    } else {
        pthread_mutex_lock(&st->lock);
        st->delivered++;
        pthread_mutex_unlock(&st->lock);
    }
    pthread_mutex_lock(&st->lock);
    if (r->attempt_count > 1)
        st->retries += (long)r->attempt_count - 1;
    pthread_mutex_unlock(&st->lock);
}

static const char *describe(kn_err_t rc) {
    switch (rc) {
    case KN_ERR_INVALID_ARG: return "invalid partition key, explicit hash key or stream";
    case KN_ERR_BAD_UTF8: return "the partition key is not valid UTF-8";
    case KN_ERR_TOO_LARGE: return "the partition key or the record is too long";
    default: return kn_err2str(rc);
    }
}

/* A random partition key (the records spread over all shards). */
static void random_key(uint64_t *state, char out[17]) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    snprintf(out, 17, "%016llx", (unsigned long long)z);
}

static int set(kn_conf_t *conf, const char *name, const char *value) {
    char err[256];
    if (kn_conf_set(conf, name, value, err, sizeof(err)) != KN_OK) {
        kcat_errorf("%s", err);
        return -1;
    }
    return 0;
}

int kcat_produce(const kcat_opts_t *o, kn_conf_t *conf) {
    if (!o->stream) {
        kcat_errorf("-P needs a stream (-s NAME) (see kinesis-cat --help)");
        return KCAT_EXIT_USAGE;
    }
    if (o->key_delim && o->key) {
        kcat_errorf("-K and -k cannot be combined (see kinesis-cat --help)");
        return KCAT_EXIT_USAGE;
    }
    if (o->key_delim && !*o->key_delim) {
        kcat_errorf("-K needs a non-empty delimiter (see kinesis-cat --help)");
        return KCAT_EXIT_USAGE;
    }
    if ((o->no_aggregate && set(conf, "aggregation.enabled", "false")) ||
        (o->ordering && set(conf, "ordering", o->ordering)))
        return KCAT_EXIT_USAGE;
    produce_t st = {.lock = PTHREAD_MUTEX_INITIALIZER};
    kn_conf_set_delivery_report_fn(conf, on_report, &st);
    char err[512];
    kn_conf_t *pconf = kn_conf_dup(conf); /* the producer takes ownership of its copy */
    kn_producer_t *p = pconf ? kn_producer_new(pconf, err, sizeof(err)) : NULL;
    if (!p) {
        kcat_errorf("cannot start the producer: %s", pconf ? err : "out of memory");
        kn_conf_destroy(pconf);
        return KCAT_EXIT_RUNTIME;
    }
    double start = now_s();
    uint64_t rng = (uint64_t)getpid() << 32 ^ (uint64_t)(start * 1e9);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long records = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        long lineno = ++records;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = 0;
        const char *key = o->key, *data = line;
        size_t len = (size_t)n;
        char rnd[17];
        if (o->key_delim) {
            char *d = strstr(line, o->key_delim);
            if (!d) {
                print_failure(&st, lineno, KN_ERR_INVALID_ARG, "no partition key delimiter in the line");
                continue;
            }
            *d = 0;
            key = line;
            data = d + strlen(o->key_delim);
            len = (size_t)(line + n - data);
        } else if (!key) {
            random_key(&rng, rnd);
            key = rnd;
        }
        kn_err_t rc;
        while ((rc = kn_producer_put(p, o->stream, key, o->explicit_hash_key, data, len,
                                     (void *)(intptr_t)lineno)) == KN_ERR_QUEUE_FULL)
            usleep(FULL_WAIT_US); /* reports free room; the input is not dropped */
        if (rc != KN_OK)
            print_failure(&st, lineno, rc, describe(rc));
    }
    free(line);
    kn_producer_flush(p, -1, NULL);
    kn_producer_destroy(p);
    pthread_mutex_lock(&st.lock);
    fprintf(stderr, "{\"records\":%ld,\"delivered\":%ld,\"failed\":%ld,\"retries\":%ld,\"seconds\":%.3f}\n",
            records, st.delivered, st.failed, st.retries, now_s() - start);
    int ok = st.delivered == records && !st.failed;
    pthread_mutex_unlock(&st.lock);
    return ok ? KCAT_EXIT_OK : KCAT_EXIT_RUNTIME;
}
