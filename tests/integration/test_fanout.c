/*
 * Enhanced fan-out against kinesis-local, over h2c (prior knowledge) and over
 * TLS with the test CA (verification on, HTTP/2 by ALPN, streams multiplexed):
 *   - stream-consumer registration is idempotent when several workers race,
 *     reuses an existing consumer, and fails clearly on bad input;
 *   - exception frames inside the 200 reply become error objects: an unknown
 *     consumer ARN gives ResourceNotFound, a second subscription for the same
 *     (consumer, shard) ResourceInUse, and the first one keeps working;
 *   - back-pressure: a shard whose processor does not keep up is paused at its
 *     queue bound while the other shard keeps receiving; once drained it resumes
 *     and every record arrives once, in order.
 * The retrievers are driven directly (no lease table), as a shard consumer would.
 * Deadlines only catch hangs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fanout.h"
#include "fanout_registration.h"
#include "kinesis_api.h"
#include "kn_consumer_test.h"
#include "kn_test.h"

#define HANG_MS 90000
#define MAX_HASH "340282366920938463463374607431768211455"

/* A configuration for kinesis-local, over TLS with the test CA when `tls`. */
static kn_conf_t *conf_for(int tls) {
    kn_conf_t *conf = kn_conf_new();
    char err[512];
    kn_conf_set(conf, "log.level", "warn", NULL, 0);
    if (tls) {
        const char *ca = getenv("KN_TEST_CA_FILE");
        ck_assert_msg(kn_test_kinesis_tls_endpoint() && ca, "no TLS peer in the environment");
        ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", kn_test_kinesis_tls_endpoint(),
                                     err, sizeof(err)), KN_OK);
        ck_assert_int_eq(kn_conf_set(conf, "tls.ca.file", ca, err, sizeof(err)), KN_OK);
    }
    return conf;
}

static kn_kinesis_t *client(const kn_conf_t *conf) {
    char err[512];
    kn_kinesis_t *k = kn_kinesis_new(conf, err, sizeof(err));
    ck_assert_msg(k != NULL, "client: %s", err);
    return k;
}

static kn_fanout_t *fanout(const kn_conf_t *conf, kn_kinesis_t *k, const kn_fanout_conf_t *fc) {
    kn_error_t *e = NULL;
    kn_fanout_t *fo = kn_fanout_new(conf, k, NULL, fc, NULL, &e);
    ck_assert_msg(fo != NULL, "kn_fanout_new: %s", e ? kn_error_message(e) : "?");
    return fo;
}

/* A fresh stream on kinesis-local with a registered stream consumer. */
typedef struct {
    char stream[64];
    kn_conf_t *conf;
    kn_kinesis_t *k;
    char *arn;
} fixture_t;

static char *register_consumer(kn_kinesis_t *k, const char *stream, const char *name);

static void fixture_open(fixture_t *fx, int tls, const char *prefix, int shards,
                         const char *consumer) {
    kn_test_require_peers();
    char name[32];
    snprintf(name, sizeof(name), "%s%s", prefix, tls ? "-tls" : "");
    kn_test_unique_name(name, fx->stream, sizeof(fx->stream));
    fx->conf = conf_for(tls);
    fx->k = client(fx->conf);
    kct_create_stream(fx->k, fx->stream, shards);
    fx->arn = register_consumer(fx->k, fx->stream, consumer);
}

static void fixture_close(fixture_t *fx) {
    free(fx->arn);
    kct_delete_stream(fx->k, fx->stream);
    kn_kinesis_destroy(fx->k);
    kn_conf_destroy(fx->conf);
}

static char *register_consumer(kn_kinesis_t *k, const char *stream, const char *name) {
    char *arn = NULL;
    kn_error_t *e = NULL;
    kn_err_t rc = kn_fanout_register(k, stream, name, 60000, NULL, NULL, &arn, &e);
    ck_assert_msg(rc == KN_OK, "register: %s", e ? kn_error_message(e) : kn_err2name(rc));
    return arn;
}

/* ---- registration ---- */

typedef struct {
    const char *stream;
    kn_err_t rc;
    char *arn;
    pthread_t th;
} reg_t;

static void *reg_main(void *arg) {
    reg_t *r = arg;
    kn_kinesis_t *k = kct_kinesis();
    kn_error_t *e = NULL;
    r->rc = kn_fanout_register(k, r->stream, "racer", 60000, NULL, NULL, &r->arn, &e);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
    return NULL;
}

START_TEST(registration_is_idempotent) {
    kn_test_require_peers();
    char stream[64];
    kn_test_unique_name("fo-reg", stream, sizeof(stream));
    kn_kinesis_t *k = kct_kinesis();
    kct_create_stream(k, stream, 1);
    /* four workers start at once: one registers, the others find it */
    reg_t r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (reg_t){stream, KN_ERR_STATE, NULL, 0};
        ck_assert_int_eq(pthread_create(&r[i].th, NULL, reg_main, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(r[i].th, NULL);
        ck_assert_int_eq(r[i].rc, KN_OK);
        ck_assert_str_eq(r[i].arn, r[0].arn);
    }
    kn_stream_consumer_t *c = NULL;
    kn_error_t *e = NULL;
    ck_assert_int_eq(kn_kinesis_describe_stream_consumer(k, stream, "racer", NULL, &c, &e), KN_OK);
    ck_assert_int_eq(c->status, KN_CONSUMER_STATUS_ACTIVE);
    ck_assert_str_eq(c->consumer_arn, r[0].arn);
    kn_stream_consumer_destroy(c);
    /* again later: the same consumer */
    char *again = register_consumer(k, stream, "racer");
    ck_assert_str_eq(again, r[0].arn);
    free(again);
    for (int i = 0; i < 4; i++)
        free(r[i].arn);
    /* bad input and a missing stream fail at once, with the service's error */
    char *arn = NULL;
    ck_assert_int_eq(kn_fanout_register(k, stream, "bad name!", 1000, NULL, NULL, &arn, &e),
                     KN_ERR_INVALID_ARG);
    ck_assert_ptr_null(arn);
    kn_error_destroy(e);
    e = NULL;
    ck_assert_int_eq(kn_fanout_register(k, "no-such-stream-fo", "x", 60000, NULL, NULL, &arn, &e),
                     KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_str_eq(kn_error_type(e), "ResourceNotFoundException");
    kn_error_destroy(e);
    ck_assert_int_eq(kn_fanout_register(NULL, stream, "x", 1000, NULL, NULL, &arn, NULL),
                     KN_ERR_INVALID_ARG);
    kct_delete_stream(k, stream);
    kn_kinesis_destroy(k);
}
END_TEST

/* ---- driving retrievers ---- */

typedef struct {
    kn_retriever_t *r;
    char shard[32];
    char **data; /* delivered records, in order */
    size_t n, cap;
    kn_err_t last_error;
    char last_type[64];
} drv_t;

static kn_retriever_t *retriever(kn_fanout_t *fo, const char *stream, const char *shard) {
    kn_retrieval_start_t start = {stream, shard, kn_esn_sentinel(KN_ESN_TRIM_HORIZON), 0};
    kn_retriever_t *r = kn_fanout_retriever_new(fo, &start, NULL, NULL);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* One fetch; keeps what arrived. Returns the fetch's code. */
static kn_err_t step(drv_t *d) {
    kn_fetch_t f;
    kn_error_t *e = NULL;
    kn_err_t rc = d->r->fetch(d->r, &f, &e);
    if (rc) {
        d->last_error = rc;
        snprintf(d->last_type, sizeof(d->last_type), "%s", kn_error_type(e) ? kn_error_type(e) : "");
        kn_error_destroy(e);
    } else if (f.result) {
        for (size_t i = 0; i < f.result->record_count; i++) {
            if (d->n == d->cap) {
                d->cap = d->cap ? 2 * d->cap : 64;
                d->data = realloc(d->data, d->cap * sizeof(*d->data));
            }
            const kn_record_t *rec = &f.result->records[i];
            d->data[d->n++] = strndup((const char *)rec->data, rec->data_len);
        }
        kn_get_records_result_destroy(f.result);
    }
    if (f.next_ms > 0)
        usleep((useconds_t)(f.next_ms > 50 ? 50 : f.next_ms) * 1000);
    return rc;
}

static void drv_free(drv_t *d) {
    for (size_t i = 0; i < d->n; i++)
        free(d->data[i]);
    free(d->data);
    d->r->destroy(d->r);
}

/* Steps until an error comes; returns it. */
static kn_err_t until_error(drv_t *d) {
    for (int64_t end = kct_now_ms() + HANG_MS; kct_now_ms() < end;)
        if (step(d) != KN_OK)
            return d->last_error;
    ck_abort_msg("no error from the subscription");
    return KN_OK;
}

/* Steps until `want` records arrived. */
static void until_records(drv_t *d, size_t want) {
    for (int64_t end = kct_now_ms() + HANG_MS; kct_now_ms() < end && d->n < want;)
        step(d);
    ck_assert_msg(d->n >= want, "%s: %zu of %zu records", d->shard, d->n, want);
}

static void put_to(kn_kinesis_t *k, const char *stream, const char *ehk, const char *prefix,
                   int from, int to) {
    for (int i = from; i < to; i++) {
        char data[32];
        snprintf(data, sizeof(data), "%s-%d", prefix, i);
        kn_put_entry_t ent = {data, strlen(data), "pk", ehk};
        kn_put_records_result_t *res = NULL;
        kn_error_t *e = NULL;
        kn_err_t rc = kn_kinesis_put_records(k, stream, &ent, 1, &res, &e);
        ck_assert_msg(rc == KN_OK && res->entries[0].err == KN_OK, "put %s", data);
        kn_put_records_result_destroy(res);
        kn_error_destroy(e);
    }
}

static void exception_frames(int tls) {
    fixture_t fx;
    fixture_open(&fx, tls, "fo-exc", 1, "exc");

    /* an unknown consumer ARN: 200, then a ResourceNotFoundException frame */
    char bogus[512];
    const char *tail = strstr(fx.arn, "/consumer/exc:");
    ck_assert_ptr_nonnull(tail);
    snprintf(bogus, sizeof(bogus), "%.*s/consumer/nobody:%s", (int)(tail - fx.arn), fx.arn,
             tail + strlen("/consumer/exc:"));
    kn_fanout_conf_t fc = {fx.stream, bogus, 10, 1 << 20, 0, NULL};
    kn_fanout_t *fo = fanout(fx.conf, fx.k, &fc);
    drv_t d = {.r = retriever(fo, fx.stream, "shardId-000000000000")};
    ck_assert_int_eq(until_error(&d), KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_str_eq(d.last_type, "ResourceNotFoundException");
    drv_free(&d);
    kn_fanout_destroy(fo);

    /* a second subscription for the same (consumer, shard) while the first is live */
    fc.consumer_arn = fx.arn;
    fo = fanout(fx.conf, fx.k, &fc);
    put_to(fx.k, fx.stream, NULL, "x", 0, 3);
    drv_t a = {.r = retriever(fo, fx.stream, "shardId-000000000000")};
    until_records(&a, 3);
    drv_t b = {.r = retriever(fo, fx.stream, "shardId-000000000000")};
    ck_assert_int_eq(until_error(&b), KN_ERR_RESOURCE_IN_USE);
    ck_assert_str_eq(b.last_type, "ResourceInUseException");
    kn_fo_stats_t st;
    kn_fanout_retriever_stats(b.r, &st);
    ck_assert_uint_ge(st.errors, 1);
    drv_free(&b);
    /* the first still delivers */
    put_to(fx.k, fx.stream, NULL, "x", 3, 5);
    until_records(&a, 5);
    for (size_t i = 0; i < a.n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "x-%zu", i);
        ck_assert_str_eq(a.data[i], want);
    }
    drv_free(&a);
    kn_fanout_destroy(fo);
    fixture_close(&fx);
}

START_TEST(exception_frames_h2c) {
    exception_frames(0);
}
END_TEST

START_TEST(exception_frames_tls) {
    exception_frames(1);
}
END_TEST

/* ---- back-pressure ---- */

typedef struct {
    kn_kinesis_t *k;
    const char *stream;
    atomic_int stop;
    atomic_int count; /* records put to each shard */
    pthread_t th;
} putter_t;

static void *putter_main(void *arg) {
    putter_t *p = arg;
    while (!atomic_load(&p->stop)) {
        int i = atomic_load(&p->count);
        put_to(p->k, p->stream, "0", "s0", i, i + 1);
        put_to(p->k, p->stream, MAX_HASH, "s1", i, i + 1);
        atomic_store(&p->count, i + 1);
        usleep(100000);
    }
    return NULL;
}

/* Whether d has record "<prefix>-<i>". */
static int has_record(const drv_t *d, const char *prefix, int i) {
    char want[32];
    snprintf(want, sizeof(want), "%s-%d", prefix, i);
    for (size_t j = d->n; j-- > 0;)
        if (!strcmp(d->data[j], want))
            return 1;
    return 0;
}

static void check_exact(const drv_t *d, const char *prefix, int count) {
    ck_assert_uint_eq(d->n, (size_t)count);
    for (int i = 0; i < count; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%s-%d", prefix, i);
        ck_assert_msg(!strcmp(d->data[i], want), "%s: record %d is %s", d->shard, i, d->data[i]);
    }
}

static void slow_shard(int tls) {
    fixture_t fx;
    fixture_open(&fx, tls, "fo-bp", 2, "bp");
    const char *stream = fx.stream;
    kn_kinesis_t *pk = kct_kinesis(); /* the putter's own client */
    /* two events (or 64 KiB) per shard before its stream pauses */
    kn_fanout_conf_t fc = {stream, fx.arn, 2, 64 * 1024, 0, NULL};
    kn_fanout_t *fo = fanout(fx.conf, fx.k, &fc);
    drv_t slow = {.r = retriever(fo, stream, "shardId-000000000000"), .shard = "slow"};
    drv_t fast = {.r = retriever(fo, stream, "shardId-000000000001"), .shard = "fast"};
    step(&slow); /* subscribes; then its processor "hangs" */
    step(&fast);
    putter_t p = {pk, stream, 0, 0, 0};
    atomic_init(&p.stop, 0);
    atomic_init(&p.count, 0);
    ck_assert_int_eq(pthread_create(&p.th, NULL, putter_main, &p), 0);

    /* the slow shard's queue fills and its stream pauses; the fast one keeps going */
    kn_fo_stats_t st;
    int64_t end = kct_now_ms() + HANG_MS;
    do {
        step(&fast);
        kn_fanout_retriever_stats(slow.r, &st);
    } while (!st.paused && kct_now_ms() < end);
    ck_assert_msg(st.paused, "the slow shard's stream never paused");
    int at_pause = atomic_load(&p.count);
    int64_t paused_at = kct_now_ms();
    while (!has_record(&fast, "s1", at_pause + 20) && kct_now_ms() < end)
        step(&fast);
    ck_assert_msg(has_record(&fast, "s1", at_pause + 20),
                  "the fast shard stalled while the slow one was paused");
    kn_fanout_retriever_stats(slow.r, &st);
    ck_assert_int_eq(st.paused, 1);
    ck_assert_uint_ge(st.queued_events, 2);
    ck_assert_uint_le(st.queued_events, 2 + 16); /* the bound, plus what one chunk held */
    fprintf(stderr, "[fanout %s] slow shard paused with %zu events (%zu bytes) queued; the fast "
                    "one received 20 more records in %lld ms meanwhile\n",
            tls ? "tls" : "h2c", st.queued_events, st.queued_bytes,
            (long long)(kct_now_ms() - paused_at));

    /* the processor catches up: resumed, and every record arrives once, in order */
    atomic_store(&p.stop, 1);
    pthread_join(p.th, NULL);
    int total = atomic_load(&p.count);
    int64_t drain_from = kct_now_ms();
    until_records(&slow, (size_t)total);
    until_records(&fast, (size_t)total);
    kn_fanout_retriever_stats(slow.r, &st);
    ck_assert_uint_ge(st.resumes, 1);
    fprintf(stderr, "[fanout %s] drained %d records after %lld ms; %llu pauses, %llu resumes, "
                    "%llu subscriptions\n",
            tls ? "tls" : "h2c", total, (long long)(kct_now_ms() - drain_from),
            (unsigned long long)st.pauses, (unsigned long long)st.resumes,
            (unsigned long long)st.subscribes);
    check_exact(&slow, "s0", total);
    check_exact(&fast, "s1", total);
    drv_free(&slow);
    drv_free(&fast);
    kn_fanout_destroy(fo);
    kn_kinesis_destroy(pk);
    fixture_close(&fx);
}

START_TEST(slow_shard_never_stalls_others_h2c) {
    slow_shard(0);
}
END_TEST

START_TEST(slow_shard_never_stalls_others_tls) {
    slow_shard(1);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("fanout");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, registration_is_idempotent);
    tcase_add_test(tc, exception_frames_h2c);
    tcase_add_test(tc, exception_frames_tls);
    tcase_add_test(tc, slow_shard_never_stalls_others_h2c);
    tcase_add_test(tc, slow_shard_never_stalls_others_tls);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
