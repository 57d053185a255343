/*
 * The public producer API end to end against a fake Kinesis on 127.0.0.1
 * (tests/lib/kn_fake_kinesis): input validation, exactly-once reports with
 * shard, sequence and subsequence numbers, injected faults, back-pressure,
 * flush, poll mode, statistics, and destroy with records in flight.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "hashkey.h"
#include "kinesis/producer.h"
#include "kn_fake_kinesis.h"
#include "kn_test.h"
#include "kn_test_server.h"

#define MAXREC 40000

typedef struct {
    int count;        /* reports for this record */
    kn_err_t err;
    char shard[32];
    char seq[32];
    int64_t subseq;
    int aggregated;
    size_t attempts;
} seen_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static seen_t seen[MAXREC];
static int reports, report_thread_is_caller, stats_calls;
static int check_payload; /* records carry "rec-<id>" and alternate between two streams */
static pthread_t caller;

static void on_report(const kn_delivery_report_t *r, void *cb_opaque) {
    ck_assert_ptr_eq(cb_opaque, &seen);
    intptr_t id = (intptr_t)r->opaque;
    ck_assert(id >= 0 && id < MAXREC);
    pthread_mutex_lock(&lock);
    seen_t *s = &seen[id];
    s->count++;
    s->err = kn_error_code(r->error);
    snprintf(s->shard, sizeof(s->shard), "%s", r->shard_id ? r->shard_id : "");
    snprintf(s->seq, sizeof(s->seq), "%s", r->sequence_number ? r->sequence_number : "");
    s->subseq = r->subsequence_number;
    s->aggregated = r->aggregated;
    s->attempts = r->attempt_count;
    reports++;
    if (pthread_equal(pthread_self(), caller))
        report_thread_is_caller++;
    pthread_mutex_unlock(&lock);
    if (!check_payload)
        return;
    /* the record itself comes back */
    char want[32];
    snprintf(want, sizeof(want), "rec-%ld", (long)id);
    ck_assert_uint_eq(r->data_len, strlen(want));
    ck_assert(!memcmp(r->data, want, r->data_len));
    ck_assert_str_eq(r->stream, id % 2 ? "stream-b" : "stream-a");
    if (!r->error) {
        ck_assert_uint_ge(r->attempt_count, 1);
        ck_assert_ptr_null(r->attempts[r->attempt_count - 1].error);
        for (size_t i = 0; i + 1 < r->attempt_count; i++)
            ck_assert_ptr_nonnull(r->attempts[i].error);
    }
}

static void on_stats(const char *json, void *opaque) {
    (void)opaque;
    cJSON *o = cJSON_Parse(json);
    ck_assert_ptr_nonnull(o);
    cJSON_Delete(o);
    pthread_mutex_lock(&lock);
    stats_calls++;
    pthread_mutex_unlock(&lock);
}

static void reset_seen(void) {
    pthread_mutex_lock(&lock);
    memset(seen, 0, sizeof(seen));
    reports = report_thread_is_caller = stats_calls = 0;
    caller = pthread_self();
    pthread_mutex_unlock(&lock);
}

static kn_conf_t *conf_for(const char *url) {
    kn_test_safe_env();
    kn_conf_t *c = kn_conf_new();
    char err[256];
    ck_assert_int_eq(kn_conf_set(c, "kinesis.endpoint.url", url, err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_set(c, "region", "us-east-1", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_set(c, "log.level", "error", err, sizeof(err)), KN_OK);
    kn_conf_set_delivery_report_fn(c, on_report, &seen);
    return c;
}

static void set(kn_conf_t *c, const char *k, const char *v) {
    char err[256];
    ck_assert_msg(kn_conf_set(c, k, v, err, sizeof(err)) == KN_OK, "%s", err);
}

static kn_producer_t *make(kn_conf_t *c) {
    char err[256];
    kn_producer_t *p = kn_producer_new(c, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

static kn_err_t put_id(kn_producer_t *p, int id, const char *key, const char *ehk) {
    char data[32];
    snprintf(data, sizeof(data), "rec-%d", id);
    return kn_producer_put(p, id % 2 ? "stream-b" : "stream-a", key, ehk, data, strlen(data),
                           (void *)(intptr_t)id);
}

START_TEST(bad_inputs) {
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(1, 0);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    set(c, "record.max.bytes", "1000");
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 0;
    static char big[1100], key257[300], key256[300], emoji128[600], emoji129[600], longname[200];
    memset(big, 'x', sizeof(big));
    memset(key257, 'k', 257);
    memset(key256, 'k', 256);
    for (int i = 0; i < 129; i++)
        memcpy(emoji129 + 4 * i, "\xF0\x9F\x98\x80", 4); /* U+1F600: 2 UTF-16 units */
    memcpy(emoji128, emoji129, 4 * 128);
    memset(longname, 'n', 129);
    const struct {
        const char *stream, *key, *ehk;
        const void *data;
        size_t len;
        kn_err_t want;
    } cases[] = {
        {NULL, "k", NULL, "d", 1, KN_ERR_INVALID_ARG},
        {"s", NULL, NULL, "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", NULL, NULL, 1, KN_ERR_INVALID_ARG},
        {"s", "", NULL, "d", 1, KN_ERR_INVALID_ARG},
        {"s", key257, NULL, "d", 1, KN_ERR_TOO_LARGE},
        {"s", emoji129, NULL, "d", 1, KN_ERR_TOO_LARGE},
        {"s", "\xC3\x28", NULL, "d", 1, KN_ERR_BAD_UTF8},
        {"s", "\xED\xA0\x80", NULL, "d", 1, KN_ERR_BAD_UTF8}, /* a surrogate */
        {"s", "\xC0\xAF", NULL, "d", 1, KN_ERR_BAD_UTF8},     /* overlong */
        {"s", "k", "", "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", "abc", "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", "-1", "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", "007", "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", "340282366920938463463374607431768211456", "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", "3402823669209384634633746074317682114550", "d", 1, KN_ERR_INVALID_ARG},
        {"s", "k", NULL, big, 1001, KN_ERR_TOO_LARGE},
        {"a b", "k", NULL, "d", 1, KN_ERR_INVALID_ARG},
        {"", "k", NULL, "d", 1, KN_ERR_INVALID_ARG},
        {longname, "k", NULL, "d", 1, KN_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(kn_producer_put(p, cases[i].stream, cases[i].key, cases[i].ehk,
                                      cases[i].data, cases[i].len, NULL) == cases[i].want,
                      "case %zu", i);
    ck_assert_int_eq(kn_producer_put(NULL, "s", "k", NULL, "d", 1, NULL), KN_ERR_INVALID_ARG);
    /* limits themselves are fine */
    ck_assert_int_eq(kn_producer_put(p, "stream-a", key256, NULL, big, 1000, (void *)0), KN_OK);
    ck_assert_int_eq(kn_producer_put(p, "stream-a", emoji128, "0", "", 0, (void *)2), KN_OK);
    ck_assert_int_eq(kn_producer_put(p, "stream-a", "k",
                                     "340282366920938463463374607431768211455", "rec-4", 5,
                                     (void *)4),
                     KN_OK);
    ck_assert_int_eq(kn_producer_put(p, longname + 1, "k", NULL, "rec-6", 5, (void *)6), KN_OK);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, 4); /* only accepted records are reported */
    ck_assert_int_eq(seen[0].err, KN_OK);
    ck_assert_int_eq(seen[6].count, 1);
    pthread_mutex_unlock(&lock);
    char *js = kn_producer_stats_json(p);
    cJSON *o = cJSON_Parse(js);
    cJSON *u = cJSON_GetObjectItem(o, "user_records");
    ck_assert_int_eq(cJSON_GetObjectItem(u, "rejected")->valueint, 19); /* not the NULL producer */
    ck_assert_int_eq(cJSON_GetObjectItem(u, "delivered")->valueint, 4);
    cJSON_Delete(o);
    free(js);
    kn_producer_destroy(p);
    kn_fake_kinesis_stop(f);
}
END_TEST

/* Checks every record 0..n-1 was reported once, delivered, and matches what the fake stored. */
static void check_exactly_once(kn_fake_kinesis_t *f, int n, int nshards) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(seen[i].count == 1, "record %d reported %d times", i, seen[i].count);
        ck_assert_msg(seen[i].err == KN_OK, "record %d: %s", i, kn_err2name(seen[i].err));
    }
    pthread_mutex_unlock(&lock);
    /* read back: decode every stored Kinesis record; each user record exactly once,
       inside its shard's range, at the position its report named */
    size_t nrec;
    const kn_fake_record_t *recs = kn_fake_kinesis_records(f, &nrec);
    static int found[MAXREC];
    memset(found, 0, sizeof(found));
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    char lo[40], hi[40];
    for (size_t i = 0; i < nrec; i++) {
        const kn_agg_record_t *ur, one = {.data = recs[i].data, .data_len = recs[i].len,
                                          .partition_key = recs[i].pk,
                                          .partition_key_len = strlen(recs[i].pk)};
        size_t nu = 1;
        int agg = kn_agg_is_aggregated(recs[i].data, recs[i].len);
        if (agg) {
            ck_assert_int_eq(kn_agg_decode(d, recs[i].data, recs[i].len, &ur, &nu), KN_OK);
            ck_assert_str_eq(recs[i].pk, "a");
        } else {
            ur = &one;
        }
        kn_fake_kinesis_range(f, recs[i].shard, lo, hi);
        kn_u128_t l, h;
        kn_u128_parse_decimal(lo, strlen(lo), &l);
        kn_u128_parse_decimal(hi, strlen(hi), &h);
        for (size_t j = 0; j < nu; j++) {
            char txt[32] = "";
            ck_assert_uint_lt(ur[j].data_len, sizeof(txt));
            memcpy(txt, ur[j].data, ur[j].data_len);
            txt[ur[j].data_len] = 0;
            int id = atoi(txt + 4);
            ck_assert(id >= 0 && id < n);
            found[id]++;
            kn_u128_t k;
            if (ur[j].explicit_hash_key)
                kn_u128_parse_decimal(ur[j].explicit_hash_key, ur[j].explicit_hash_key_len, &k);
            else
                kn_hashkey_from_partition_key(ur[j].partition_key, ur[j].partition_key_len, &k);
            ck_assert(kn_u128_cmp(l, k) <= 0 && kn_u128_cmp(k, h) <= 0);
            pthread_mutex_lock(&lock);
            ck_assert_str_eq(seen[id].seq, recs[i].seq);
            ck_assert_str_eq(seen[id].shard, recs[i].shard_id);
            ck_assert_int_eq(seen[id].subseq, agg ? (int64_t)j : 0);
            ck_assert_int_eq(seen[id].aggregated, agg);
            pthread_mutex_unlock(&lock);
        }
    }
    for (int i = 0; i < n; i++)
        ck_assert_msg(found[i] == 1, "record %d stored %d times", i, found[i]);
    kn_agg_decoder_destroy(d);
    (void)nshards;
}

START_TEST(exactly_once_with_reports) {
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(4, 1);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    set(c, "statistics.interval.ms", "10");
    kn_conf_set_producer_stats_fn(c, on_stats, NULL);
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 1;
    const int N = 20000;
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "key-%d", i % 1000);
        ck_assert_int_eq(put_id(p, i, key, i % 97 == 0 ? "12345678901234567890" : NULL), KN_OK);
    }
    size_t left = 1;
    ck_assert_int_eq(kn_producer_flush(p, -1, &left), KN_OK);
    ck_assert_uint_eq(left, 0);
    ck_assert_uint_eq(kn_producer_outstanding(p), 0);
    check_exactly_once(f, N, 4);
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(report_thread_is_caller, 0); /* reports run on the producer's thread */
    pthread_mutex_unlock(&lock);
    /* aggregation happened: far fewer Kinesis records than user records */
    ck_assert_int_lt(kn_fake_kinesis_entries(f), N / 10);
    char *js = kn_producer_stats_json(p);
    cJSON *o = cJSON_Parse(js);
    ck_assert_ptr_nonnull(o);
    cJSON *u = cJSON_GetObjectItem(o, "user_records");
    ck_assert_int_eq(cJSON_GetObjectItem(u, "accepted")->valueint, N);
    ck_assert_int_eq(cJSON_GetObjectItem(u, "delivered")->valueint, N);
    cJSON *k = cJSON_GetObjectItem(o, "kinesis_records");
    ck_assert_int_eq(cJSON_GetObjectItem(k, "delivered")->valueint, (int)kn_fake_kinesis_entries(f));
    cJSON *b = cJSON_GetObjectItem(o, "buffer");
    ck_assert_int_eq(cJSON_GetObjectItem(b, "records")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(b, "bytes")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "latency_us"), "count")->valueint, N);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "streams")->valueint, 2);
    cJSON_Delete(o);
    free(js);
    kn_producer_destroy(p);
    size_t body, entry, entries;
    kn_fake_kinesis_maxima(f, &body, &entry, &entries);
    ck_assert_uint_le(entry, 51200 + 1);
    ck_assert_uint_le(entries, 500);
    kn_fake_kinesis_stop(f);
}
END_TEST

typedef struct {
    kn_producer_t *p;
    int first, count;
} putter_t;

static void *putter(void *arg) {
    putter_t *t = arg;
    char key[32];
    for (int i = t->first; i < t->first + t->count; i++) {
        snprintf(key, sizeof(key), "t-%d", i % 333);
        ck_assert_int_eq(put_id(t->p, i, key, NULL), KN_OK);
    }
    return NULL;
}

START_TEST(faults_many_threads_strict) {
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(3, 1);
    kn_fake_faults_t ft = {.entry_throttle_every = 7, .entry_internal_every = 11,
                           .request_500_every = 5, .request_throttle_every = 9,
                           .request_drop_every = 13, .list_fail_first = 2};
    kn_fake_kinesis_set_faults(f, &ft);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    set(c, "ordering", "strict");
    set(c, "retry.backoff.base.ms", "1");
    set(c, "retry.backoff.max.ms", "20");
    set(c, "aggregation.max.bytes", "2000");
    set(c, "rate.limit.percent", "10000");
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 1;
    putter_t t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (putter_t){p, i * 2500, 2500};
        pthread_create(&th[i], NULL, putter, &t[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    check_exactly_once(f, 10000, 3);
    /* strict: per key, stored order is put order (each thread put its keys in order) */
    size_t nrec;
    const kn_fake_record_t *recs = kn_fake_kinesis_records(f, &nrec);
    (void)recs;
    int retried = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 10000; i++) {
        retried += seen[i].attempts > 1;
        int j = i + 666; /* same key, same stream, same thread, later put */
        if (j < 10000 && j / 2500 == i / 2500) {
            ck_assert_str_eq(seen[i].shard, seen[j].shard);
            int cmp = strcmp(seen[i].seq, seen[j].seq);
            ck_assert_msg(cmp < 0 || (cmp == 0 && seen[i].subseq < seen[j].subseq),
                          "records %d and %d out of order: %s/%lld (%zu attempts) %s/%lld (%zu)",
                          i, j, seen[i].seq, (long long)seen[i].subseq, seen[i].attempts,
                          seen[j].seq, (long long)seen[j].subseq, seen[j].attempts);
        }
    }
    pthread_mutex_unlock(&lock);
    ck_assert_int_gt(retried, 0);
    kn_producer_destroy(p);
    kn_fake_kinesis_stop(f);
}
END_TEST

START_TEST(back_pressure) {
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(1, 0);
    kn_fake_faults_t ft = {.delay_ms = 300};
    kn_fake_kinesis_set_faults(f, &ft);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    set(c, "buffer.max.records", "50");
    set(c, "record.max.buffered.time.ms", "0");
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 1;
    int ok = 0, full = 0;
    for (int i = 0; i < 200; i++) {
        kn_err_t rc = put_id(p, i, "k", NULL);
        ok += rc == KN_OK;
        full += rc == KN_ERR_QUEUE_FULL;
    }
    ck_assert_int_le(ok, 50);
    ck_assert_int_eq(ok + full, 200);
    ck_assert_uint_le(kn_producer_outstanding(p), 50);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, ok);
    pthread_mutex_unlock(&lock);
    kn_producer_destroy(p);

    /* block mode: puts wait for room instead */
    c = conf_for(kn_fake_kinesis_url(f));
    set(c, "buffer.max.records", "20");
    set(c, "queue.full.behavior", "block");
    set(c, "record.max.buffered.time.ms", "0");
    p = make(c);
    reset_seen();
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(put_id(p, i, "k", NULL), KN_OK);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, 60);
    pthread_mutex_unlock(&lock);
    kn_producer_destroy(p);

    /* ... for at most queue.block.timeout.ms */
    c = conf_for(kn_fake_kinesis_url(f));
    set(c, "buffer.max.records", "1");
    set(c, "queue.full.behavior", "block");
    set(c, "queue.block.timeout.ms", "1");
    ft.delay_ms = 3000;
    kn_fake_kinesis_set_faults(f, &ft);
    p = make(c);
    reset_seen();
    ck_assert_int_eq(put_id(p, 0, "k", NULL), KN_OK);
    ck_assert_int_eq(put_id(p, 1, "k", NULL), KN_ERR_QUEUE_FULL);
    kn_producer_destroy(p);
    kn_fake_kinesis_stop(f);
}
END_TEST

START_TEST(destroy_with_records_in_flight) {
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(2, 0);
    kn_fake_faults_t ft = {.delay_ms = 5000};
    kn_fake_kinesis_set_faults(f, &ft);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    set(c, "shutdown.timeout.ms", "50");
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 1;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(put_id(p, i, i % 3 ? "a" : "b", NULL), KN_OK);
    size_t left = 0;
    ck_assert_int_eq(kn_producer_flush(p, 20, &left), KN_ERR_TIMED_OUT);
    ck_assert_uint_gt(left, 0);
    kn_producer_destroy(p); /* in flight for 5 s: cancelled */
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, 1000);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(seen[i].count, 1);
        ck_assert_int_eq(seen[i].err, KN_ERR_SHUTDOWN);
    }
    pthread_mutex_unlock(&lock);
    kn_fake_kinesis_stop(f);
}
END_TEST

START_TEST(ttl_expiry_without_service) {
    int fd;
    int port = kn_test_refusing_port(&fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    kn_conf_t *c = conf_for(url);
    set(c, "record.ttl.ms", "300");
    set(c, "retry.max.attempts", "1");
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 1;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(put_id(p, i, "k", NULL), KN_OK);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(seen[i].count, 1);
        ck_assert_int_eq(seen[i].err, KN_ERR_RECORD_EXPIRED);
        ck_assert_uint_eq(seen[i].attempts, 0); /* never sent: no shard map */
    }
    pthread_mutex_unlock(&lock);
    kn_producer_destroy(p);
    close(fd);
}
END_TEST

START_TEST(poll_mode) {
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(2, 0);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    set(c, "delivery.report.mode", "poll");
    set(c, "record.max.buffered.time.ms", "0");
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 1;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(put_id(p, i, "k", NULL), KN_OK);
    /* nothing runs until the application polls */
    usleep(200000);
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, 0);
    pthread_mutex_unlock(&lock);
    int served = 0;
    while (served < 100)
        served += kn_producer_poll(p, 100);
    ck_assert_int_eq(served, 100);
    for (int i = 100; i < 200; i++)
        ck_assert_int_eq(put_id(p, i, "k", NULL), KN_OK);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK); /* polls while it waits */
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, 200);
    ck_assert_int_eq(report_thread_is_caller, 200);
    pthread_mutex_unlock(&lock);
    ck_assert_int_eq(kn_producer_poll(p, 0), 0);
    kn_producer_destroy(p);
    kn_fake_kinesis_stop(f);
}
END_TEST

START_TEST(one_mebibyte_with_key) {
    /* a Kinesis record is at most 1 MiB counting its partition key */
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(2, 0);
    kn_conf_t *c = conf_for(kn_fake_kinesis_url(f));
    kn_producer_t *p = make(c);
    reset_seen();
    check_payload = 0;
    static uint8_t mib[1024 * 1024];
    ck_assert_int_eq(kn_producer_put(p, "s", "kk", NULL, mib, sizeof(mib) - 1, (void *)0),
                     KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_producer_put(p, "s", "kk", NULL, mib, sizeof(mib) - 2, (void *)1), KN_OK);
    ck_assert_int_eq(kn_producer_put(p, "s", "k", NULL, mib, sizeof(mib), (void *)2),
                     KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_producer_put(p, "s", "k", NULL, mib, sizeof(mib) - 1, (void *)3), KN_OK);
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    pthread_mutex_lock(&lock);
    ck_assert_int_eq(reports, 2);
    ck_assert_int_eq(seen[1].err, KN_OK);
    ck_assert_int_eq(seen[3].err, KN_OK);
    ck_assert_int_eq(seen[1].aggregated, 0); /* too big to share an aggregate */
    pthread_mutex_unlock(&lock);
    size_t body, entry, entries;
    kn_fake_kinesis_maxima(f, &body, &entry, &entries);
    ck_assert_uint_eq(entry, 1024 * 1024);
    kn_producer_destroy(p);
    kn_fake_kinesis_stop(f);
}
END_TEST

START_TEST(new_fails_cleanly) {
    char err[256] = "";
    ck_assert_ptr_null(kn_producer_new(NULL, err, sizeof(err)));
    ck_assert(strlen(err) > 0);
    kn_conf_t *c = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(c, "kinesis.endpoint.url", "ftp://x", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_set(c, "region", "us-east-1", err, sizeof(err)), KN_OK);
    err[0] = 0;
    ck_assert_ptr_null(kn_producer_new(c, err, sizeof(err)));
    ck_assert(strlen(err) > 0);
    kn_conf_destroy(c); /* still the caller's */
    kn_producer_destroy(NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, exactly_once_with_reports);
    tcase_add_test(tc, faults_many_threads_strict);
    tcase_add_test(tc, back_pressure);
    tcase_add_test(tc, destroy_with_records_in_flight);
    tcase_add_test(tc, ttl_expiry_without_service);
    tcase_add_test(tc, poll_mode);
    tcase_add_test(tc, one_mebibyte_with_key);
    tcase_add_test(tc, new_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
