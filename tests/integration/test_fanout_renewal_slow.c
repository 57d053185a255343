/*
 * SLOW (about 5.5 minutes): a fan-out subscription renewed across the
 * 5-minute boundary at which the service (here kinesis-local) ends every
 * SubscribeToShard stream, without losing or repeating a record.
 *
 * Two consumer workers of different applications read the same 2-shard stream
 * in this process, one over h2c and one over TLS (test CA, verification on),
 * while records are written throughout. Each must deliver every record exactly
 * once, and each of its shards must have been subscribed again AFTER a
 * continuation (the renewal) at least once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kn_consumer_test.h"
#include "kn_test.h"

#define SHARDS 2
#define FAILOVER 10000
/* The service ends subscriptions after 300 s; write a little longer than that. */
#define WRITE_MS (318 * 1000)
#define HANG_MS 120000

typedef struct {
    atomic_int renewals; /* "SubscribeToShard after <continuation>" */
    atomic_int warnings;
} counts_t;

static void count_log(void *opaque, kn_log_level_t level, const char *facility,
                      const char *message) {
    counts_t *c = opaque;
    if (level <= KN_LOG_WARN) {
        atomic_fetch_add(&c->warnings, 1);
        fprintf(stderr, "[renewal] %s: %s\n", facility, message);
    }
    if (!strcmp(facility, "fanout") && strstr(message, "SubscribeToShard after "))
        atomic_fetch_add(&c->renewals, 1);
}

typedef struct {
    const char *name;
    kn_consumer_t *c;
    kct_log_t lg;
    char path[160];
    counts_t counts;
    kn_err_t rc;
    pthread_t th;
} worker_t;

static void *run_worker(void *arg) {
    worker_t *w = arg;
    w->rc = kn_consumer_run(w->c);
    return NULL;
}

static void start_worker(worker_t *w, const char *stream, int tls) {
    char app[96], err[512];
    snprintf(app, sizeof(app), "%s-%s", stream, w->name);
    snprintf(w->path, sizeof(w->path), "/tmp/%s.log", app);
    w->lg.f = fopen(w->path, "w+");
    ck_assert_ptr_nonnull(w->lg.f);
    w->lg.checkpoint = 1;
    atomic_init(&w->counts.renewals, 0);
    atomic_init(&w->counts.warnings, 0);
    kn_conf_t *conf = kct_conf(app, stream, NULL, FAILOVER);
    ck_assert_int_eq(kn_conf_set(conf, "retrieval.mode", "fanout", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "debug", err, sizeof(err)), KN_OK);
    if (tls) {
        ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url",
                                     kn_test_kinesis_tls_endpoint(), err, sizeof(err)), KN_OK);
        ck_assert_int_eq(kn_conf_set(conf, "tls.ca.file", getenv("KN_TEST_CA_FILE"), err,
                                     sizeof(err)), KN_OK);
    }
    kn_conf_set_log_fn(conf, count_log, &w->counts);
    w->c = kn_consumer_new(conf, &kct_processor, &w->lg, err, sizeof(err));
    kn_conf_destroy(conf);
    ck_assert_msg(w->c != NULL, "%s: %s", w->name, err);
    ck_assert_int_eq(pthread_create(&w->th, NULL, run_worker, w), 0);
}

/* Counts R lines and distinct records; checks the order within each shard. */
static void tally(worker_t *w, int *lines, int *distinct, int total) {
    kct_line_t *l = NULL;
    size_t n = 0;
    kct_read(w->path, 0, &l, &n);
    char *seen = calloc((size_t)total, 1);
    char last[SHARDS][132] = {"", ""};
    *lines = *distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (l[i].kind != 'R')
            continue;
        (*lines)++;
        int id = atoi(l[i].data + 2); /* "r-<i>" */
        if (id >= 0 && id < total && !seen[id]) {
            seen[id] = 1;
            (*distinct)++;
        }
        int s = atoi(l[i].shard + strlen("shardId-"));
        ck_assert(s >= 0 && s < SHARDS);
        ck_assert_msg(kct_seq_cmp(l[i].seq, last[s]) > 0 || !*last[s],
                      "%s: %s delivered out of order or twice", w->name, l[i].data);
        snprintf(last[s], sizeof(last[s]), "%s", l[i].seq);
    }
    free(seen);
    free(l);
}

START_TEST(subscription_renewed_without_loss_or_repeat) {
    kn_test_require_peers();
    ck_assert_msg(kn_test_kinesis_tls_endpoint() && getenv("KN_TEST_CA_FILE"), "no TLS peer");
    char stream[64];
    kn_test_unique_name("fo-renew", stream, sizeof(stream));
    kn_kinesis_t *k = kct_kinesis();
    kct_create_stream(k, stream, SHARDS);
    worker_t w[2] = {{.name = "h2c"}, {.name = "tls"}};
    for (int i = 0; i < 2; i++)
        start_worker(&w[i], stream, i);

    int64_t t0 = kct_now_ms();
    int put = 0;
    while (kct_now_ms() - t0 < WRITE_MS) {
        kct_put(k, stream, "r", put, put + 4, 4);
        put += 4;
        usleep(500000);
    }
    fprintf(stderr, "[renewal] %d records written over %lld s\n", put,
            (long long)(kct_now_ms() - t0) / 1000);
    for (int i = 0; i < 2; i++) {
        int lines = 0, distinct = 0;
        for (int64_t end = kct_now_ms() + HANG_MS; kct_now_ms() < end; usleep(200000)) {
            tally(&w[i], &lines, &distinct, put);
            if (distinct == put)
                break;
        }
        kn_consumer_shutdown(w[i].c);
        pthread_join(w[i].th, NULL);
        ck_assert_int_eq(w[i].rc, KN_OK);
        tally(&w[i], &lines, &distinct, put);
        int renewals = atomic_load(&w[i].counts.renewals);
        fprintf(stderr, "[renewal] %s: %d records delivered, %d distinct; %d resubscriptions "
                        "after a continuation; %d warnings\n",
                w[i].name, lines, distinct, renewals, atomic_load(&w[i].counts.warnings));
        ck_assert_int_eq(distinct, put); /* nothing lost */
        ck_assert_int_eq(lines, put);    /* nothing repeated */
        ck_assert_int_ge(renewals, SHARDS); /* each shard crossed the 5-minute end */
        kn_consumer_destroy(w[i].c);
        fclose(w[i].lg.f);
        unlink(w[i].path);
    }
    kct_delete_stream(k, stream);
    kn_kinesis_destroy(k);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("fanout_renewal_slow");
    TCase *tc = tcase_create("slow");
    tcase_set_timeout(tc, 800);
    tcase_add_test(tc, subscription_renewed_without_loss_or_repeat);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
