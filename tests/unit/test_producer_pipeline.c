/*
 * The producer pipeline driven by hand: a fake sender records requests, the
 * test answers them, and time is whatever the test passes. Covers map waiting,
 * aggregation per shard, the 500 / 5 MiB / 1 MiB limits, linger, TTL, partial
 * failures, wrong-shard re-routing, the rate limiter, strict ordering under
 * retries, the in-flight limit and abort with requests in flight.
 */
#include <stdio.h>
#include <string.h>

#include "agg.h"
#include "kn_test.h"
#include "pipeline.h"

#define MS 1000
#define MAXKEY "340282366920938463463374607431768211455"

typedef struct {
    char *pk, *ehk;
    uint8_t *data;
    size_t len;
} fentry_t;

typedef struct {
    char stream[64];
    size_t n;
    fentry_t *e;
    void *ticket;
    int answered;
} freq_t;

typedef struct {
    char stream[64];
    char token[64];
    void *ticket;
    int answered;
} flist_t;

static freq_t reqs[4096];
static size_t nreqs;
static flist_t lists[256];
static size_t nlists;
static kn_err_t put_rc = KN_OK;
/* Shard ids of the current test world start here (children get new ids, as in Kinesis). */
static int id_base;

static kn_err_t fake_put(void *ctx, const char *stream, const kn_put_entry_t *entries, size_t count,
                         void *ticket, kn_error_t **err) {
    (void)ctx;
    if (put_rc != KN_OK) {
        *err = kn_error_new(put_rc, "fake refuses");
        return put_rc;
    }
    ck_assert_uint_lt(nreqs, sizeof(reqs) / sizeof(reqs[0]));
    freq_t *q = &reqs[nreqs++];
    memset(q, 0, sizeof(*q));
    snprintf(q->stream, sizeof(q->stream), "%s", stream);
    q->n = count;
    q->ticket = ticket;
    q->e = calloc(count, sizeof(fentry_t));
    for (size_t i = 0; i < count; i++) {
        q->e[i].pk = strdup(entries[i].partition_key);
        q->e[i].ehk = entries[i].explicit_hash_key ? strdup(entries[i].explicit_hash_key) : NULL;
        q->e[i].len = entries[i].data_len;
        q->e[i].data = malloc(entries[i].data_len + 1);
        memcpy(q->e[i].data, entries[i].data, entries[i].data_len);
    }
    return KN_OK;
}

static kn_err_t fake_list(void *ctx, const char *stream, const char *next_token, void *ticket,
                          kn_error_t **err) {
    (void)ctx;
    (void)err;
    flist_t *l = &lists[nlists++];
    memset(l, 0, sizeof(*l));
    snprintf(l->stream, sizeof(l->stream), "%s", stream);
    snprintf(l->token, sizeof(l->token), "%s", next_token ? next_token : "");
    l->ticket = ticket;
    return KN_OK;
}

static void reset_fake(void) {
    for (size_t i = 0; i < nreqs; i++) {
        for (size_t j = 0; j < reqs[i].n; j++) {
            free(reqs[i].e[j].pk);
            free(reqs[i].e[j].ehk);
            free(reqs[i].e[j].data);
        }
        free(reqs[i].e);
    }
    nreqs = nlists = 0;
    put_rc = KN_OK;
}

static kn_pipeline_conf_t base_conf(void) {
    kn_pipeline_conf_t c = {.aggregation_enabled = 1,
                            .aggregation_max_bytes = 51200,
                            .rate_limit_percent = 150,
                            .max_inflight = 24,
                            .strict = 0,
                            .retry_base_ms = 100,
                            .retry_max_ms = 20000,
                            .seed = 7};
    return c;
}

static kn_pipeline_t *pl;
static kn_pstream_t *st;
static kn_rec_list_t done;
static uint64_t seq;

static void start(kn_pipeline_conf_t c) {
    reset_fake();
    id_base = 0;
    kn_sender_t s = {fake_put, fake_list, NULL};
    kn_logger_t lg = {NULL, NULL, KN_LOG_ERROR};
    pl = kn_pipeline_new(&c, &s, &lg);
    ck_assert_ptr_nonnull(pl);
    st = kn_pstream_new("s1");
    kn_pipeline_open_stream(pl, st);
    memset(&done, 0, sizeof(done));
    seq = 0;
}

static void free_done(void) {
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(&done)))
        kn_rec_free(r);
}

/* A delivered entry's records as the report side sees them. */
static void flatten_into(kn_krec_t *k, kn_rec_list_t *out) {
    kn_rec_t *r;
    while ((r = kn_krec_take_delivered(k)))
        kn_rec_list_push(out, r);
    kn_krec_free(k);
}

/* Finished records as the report side sees them: delivered ones flattened. */
static void take_done(void) {
    kn_krec_list_t dl = {0};
    kn_pipeline_take_done(pl, &done, &dl);
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(&dl)))
        flatten_into(k, &done);
}

static void stop(void) {
    kn_error_t *e = kn_error_new(KN_ERR_SHUTDOWN, "test over");
    kn_pipeline_abort(pl, e, 0);
    kn_error_destroy(e);
    /* complete whatever is still in flight */
    for (size_t i = 0; i < nreqs; i++)
        if (!reqs[i].answered) {
            reqs[i].answered = 1;
            kn_error_t *x = kn_error_new(KN_ERR_SHUTDOWN, "cancelled");
            kn_pipeline_put_done(reqs[i].ticket, NULL, x);
            kn_error_destroy(x);
        }
    for (size_t i = 0; i < nlists; i++)
        if (!lists[i].answered) {
            lists[i].answered = 1;
            kn_error_t *x = kn_error_new(KN_ERR_SHUTDOWN, "cancelled");
            kn_pipeline_list_done(lists[i].ticket, NULL, x);
            kn_error_destroy(x);
        }
    kn_pipeline_run(pl, 0, 1);
    ck_assert_uint_eq(kn_pipeline_inflight(pl), 0);
    take_done();
    free_done();
    kn_pipeline_destroy(pl);
    kn_pstream_free(st);
    reset_fake();
}

/* A record put at `t` with linger 100 ms and TTL `ttl_ms`. */
static kn_rec_t *put(const char *pk, const char *ehk, size_t len, int64_t t, int64_t ttl_ms) {
    uint8_t buf[1100000];
    ck_assert_uint_le(len, sizeof(buf));
    int n = snprintf((char *)buf, sizeof(buf), "%s#%llu", pk, (unsigned long long)seq);
    if ((size_t)n < len)
        memset(buf + n, 'x', len - (size_t)n);
    kn_rec_t *r = kn_rec_new(pk, strlen(pk), ehk, ehk ? strlen(ehk) : 0, buf, len, NULL);
    ck_assert_ptr_nonnull(r);
    if (ehk) {
        kn_u128_parse_decimal(ehk, strlen(ehk), &r->hash);
        r->flags |= KN_REC_HASHED;
    }
    r->stream = st;
    r->put_us = t;
    r->deadline_us = t + 100 * MS;
    r->expire_us = kn_add_sat(t, kn_ms_to_us(ttl_ms));
    r->seq = seq++;
    kn_rec_list_t l = {0};
    kn_rec_list_push(&l, r);
    kn_pipeline_add(pl, &l, t);
    return r;
}

/* Width of the high 64 bits of each of n equal ranges (n a power of two); 0 for n = 1. */
static uint64_t width(int n) { return n == 1 ? 0 : UINT64_MAX / (uint64_t)n + 1; }

static kn_shard_list_t *shard_list(int n) {
    /* n equal ranges */
    kn_shard_list_t *l = calloc(1, sizeof(*l));
    l->shards = calloc((size_t)n, sizeof(kn_shard_t));
    l->count = (size_t)n;
    for (int i = 0; i < n; i++) {
        char id[32], a[48], b[48];
        snprintf(id, sizeof(id), "shardId-%012d", id_base + i);
        kn_u128_t lo = {(uint64_t)i * width(n), 0};
        kn_u128_t hi = {(uint64_t)(i + 1) * width(n) - 1, UINT64_MAX};
        if (i == n - 1)
            hi.hi = UINT64_MAX;
        kn_u128_to_decimal(lo, a, sizeof(a));
        kn_u128_to_decimal(hi, b, sizeof(b));
        l->shards[i].shard_id = strdup(id);
        l->shards[i].starting_hash_key = strdup(a);
        l->shards[i].ending_hash_key = strdup(b);
    }
    return l;
}

static void answer_list(size_t i, int nshards) {
    ck_assert_uint_lt(i, nlists);
    lists[i].answered = 1;
    kn_pipeline_list_done(lists[i].ticket, shard_list(nshards), NULL);
}

/* The shard a hash key belongs to in an n-shard map. */
static int shard_of(kn_u128_t h, int n) { return n == 1 ? 0 : (int)(h.hi / width(n)); }

/* Answers request i: entries listed in `fail` fail with `code`, the others land
 * on the shard their first record predicts (or `force_shard` when >= 0). */
static void answer(size_t i, const char *fail_code, const int *fail, size_t nfail, int nshards) {
    freq_t *q = &reqs[i];
    ck_assert(!q->answered);
    q->answered = 1;
    kn_put_records_result_t *r = calloc(1, sizeof(*r));
    r->count = q->n;
    r->entries = calloc(q->n, sizeof(*r->entries));
    for (size_t j = 0; j < q->n; j++) {
        int failed = 0;
        for (size_t f = 0; f < nfail; f++)
            failed |= (size_t)fail[f] == j;
        if (failed) {
            r->entries[j].err = kn_err_from_aws_type(fail_code);
            r->entries[j].error_code = strdup(fail_code);
            r->entries[j].error_message = strdup("injected");
            r->failed_record_count++;
            continue;
        }
        kn_u128_t h;
        if (q->e[j].ehk)
            kn_u128_parse_decimal(q->e[j].ehk, strlen(q->e[j].ehk), &h);
        else
            kn_hashkey_from_partition_key(q->e[j].pk, strlen(q->e[j].pk), &h);
        char id[32], sn[32];
        snprintf(id, sizeof(id), "shardId-%012d", id_base + shard_of(h, nshards));
        snprintf(sn, sizeof(sn), "%zu%04zu", i + 1, j);
        r->entries[j].shard_id = strdup(id);
        r->entries[j].sequence_number = strdup(sn);
    }
    kn_pipeline_put_done(q->ticket, r, NULL);
}

static void answer_ok(size_t i, int nshards) { answer(i, NULL, NULL, 0, nshards); }

static int64_t run(int64_t t, int flushing) {
    int64_t next = kn_pipeline_run(pl, t, flushing);
    take_done();
    return next;
}

/* start() and a shard map of `shards` equal shards at t = 0. */
static void start_ready(kn_pipeline_conf_t c, int shards) {
    start(c);
    run(0, 0);
    answer_list(0, shards);
    run(0, 0);
}

/* Number of user records in entry j of request i. */
static size_t user_count(kn_agg_decoder_t *d, size_t i, size_t j) {
    fentry_t *e = &reqs[i].e[j];
    if (strcmp(e->pk, "a") || !kn_agg_is_aggregated(e->data, e->len))
        return 1;
    const kn_agg_record_t *recs;
    size_t n;
    ck_assert_int_eq(kn_agg_decode(d, e->data, e->len, &recs, &n), KN_OK);
    return n;
}

START_TEST(waits_for_map_then_aggregates_per_shard) {
    start(base_conf());
    char pk[16];
    for (int i = 0; i < 40; i++) {
        snprintf(pk, sizeof(pk), "key%d", i);
        put(pk, NULL, 10, 0, 30000);
    }
    ck_assert_int_eq(run(0, 0), 30000 * MS); /* waiting for ListShards; TTL is the only timer */
    ck_assert_uint_eq(nlists, 1);
    ck_assert_str_eq(lists[0].stream, "s1");
    ck_assert_uint_eq(nreqs, 0); /* never sent without the map */
    run(50 * MS, 0);
    ck_assert_uint_eq(nreqs, 0);
    answer_list(0, 4);
    /* routed at 60 ms; the linger deadline (put + 100 ms) is the next timer */
    ck_assert_int_eq(run(60 * MS, 0), 100 * MS);
    ck_assert_uint_eq(nreqs, 0);
    run(100 * MS, 0);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_uint_eq(reqs[0].n, 4); /* one aggregate per shard */
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    size_t total = 0;
    for (size_t j = 0; j < 4; j++) {
        fentry_t *e = &reqs[0].e[j];
        ck_assert_str_eq(e->pk, "a");
        ck_assert_ptr_nonnull(e->ehk);
        const kn_agg_record_t *recs;
        size_t n;
        ck_assert_int_eq(kn_agg_decode(d, e->data, e->len, &recs, &n), KN_OK);
        /* never mixes shards: every user record maps to the entry's shard */
        kn_u128_t eh;
        kn_u128_parse_decimal(e->ehk, strlen(e->ehk), &eh);
        for (size_t k = 0; k < n; k++) {
            kn_u128_t h;
            kn_hashkey_from_partition_key(recs[k].partition_key, recs[k].partition_key_len, &h);
            ck_assert_int_eq(shard_of(h, 4), shard_of(eh, 4));
        }
        total += n;
    }
    ck_assert_uint_eq(total, 40);
    kn_agg_decoder_destroy(d);
    answer_ok(0, 4);
    run(120 * MS, 0);
    ck_assert_uint_eq(done.count, 40);
    for (kn_rec_t *x = done.head; x; x = x->next) {
        ck_assert_ptr_null(x->error);
        ck_assert_ptr_nonnull(x->result);
        ck_assert(x->flags & KN_REC_AGGREGATED);
        ck_assert_int_eq(x->done_us, 120 * MS);
    }
    free_done();
    const kn_pipeline_stats_t *s = kn_pipeline_stats(pl);
    ck_assert_int_eq(atomic_load(&s->kinesis_records), 4);
    ck_assert_int_eq(atomic_load(&s->requests), 1);
    stop();
}
END_TEST

START_TEST(limits_500_entries_and_5_mib) {
    kn_pipeline_conf_t c = base_conf();
    c.aggregation_enabled = 0;
    c.rate_limit_percent = 100000; /* keep the limiter out of this test */
    start_ready(c, 4);
    char pk[16];
    for (int i = 0; i < 1200; i++) {
        snprintf(pk, sizeof(pk), "k%d", i);
        put(pk, NULL, 20, 0, 30000);
    }
    run(0, 1);
    ck_assert_uint_eq(nreqs, 3);
    ck_assert_uint_eq(reqs[0].n, 500);
    ck_assert_uint_eq(reqs[1].n, 500);
    ck_assert_uint_eq(reqs[2].n, 200);
    for (size_t i = 0; i < nreqs; i++)
        answer_ok(i, 4);
    run(0, 0);
    ck_assert_uint_eq(done.count, 1200);
    free_done();
    stop();

    /* large records: each request stays within 5 MiB including keys */
    c.aggregation_enabled = 1;
    start_ready(c, 4);
    for (int i = 0; i < 30; i++) {
        snprintf(pk, sizeof(pk), "big%d", i);
        put(pk, NULL, 1024 * 1024 - strlen(pk), 0, 30000); /* exactly 1 MiB with its key */
    }
    run(0, 1);
    ck_assert_uint_eq(nreqs, 6);
    for (size_t i = 0; i < nreqs; i++) {
        size_t bytes = 0;
        for (size_t j = 0; j < reqs[i].n; j++) {
            ck_assert_uint_le(reqs[i].e[j].len + strlen(reqs[i].e[j].pk), 1024 * 1024);
            ck_assert_str_ne(reqs[i].e[j].pk, "a"); /* too big to aggregate */
            bytes += reqs[i].e[j].len + strlen(reqs[i].e[j].pk);
        }
        ck_assert_uint_le(bytes, 5 * 1024 * 1024);
        ck_assert_uint_eq(reqs[i].n, 5);
    }
    stop();
}
END_TEST

START_TEST(aggregates_respect_max_bytes) {
    kn_pipeline_conf_t c = base_conf();
    c.rate_limit_percent = 100000;
    start_ready(c, 1);
    for (int i = 0; i < 5000; i++)
        put("same-key", NULL, 100, 0, 30000);
    run(0, 1);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    size_t users = 0;
    for (size_t i = 0; i < nreqs; i++)
        for (size_t j = 0; j < reqs[i].n; j++) {
            ck_assert_uint_le(reqs[i].e[j].len, 51200);
            users += user_count(d, i, j);
        }
    ck_assert_uint_eq(users, 5000);
    /* 5000 x ~110 bytes: 11 aggregates of up to 51200 bytes, the first ten full */
    ck_assert_uint_eq(reqs[0].n, 11);
    ck_assert_uint_gt(reqs[0].e[0].len, 51000);
    kn_agg_decoder_destroy(d);
    stop();
}
END_TEST

START_TEST(linger_and_flush) {
    start_ready(base_conf(), 2);
    put("k", NULL, 10, 1000 * MS, 30000);
    ck_assert_int_eq(run(1000 * MS, 0), 1100 * MS);
    ck_assert_int_eq(run(1099 * MS, 0), 1100 * MS);
    ck_assert_uint_eq(nreqs, 0);
    run(1100 * MS, 0);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_str_eq(reqs[0].e[0].pk, "k"); /* alone: a plain record with its own key */
    /* flushing ignores linger */
    put("k2", NULL, 10, 2000 * MS, 30000);
    run(2000 * MS, 1);
    ck_assert_uint_eq(nreqs, 2);
    stop();
}
END_TEST

START_TEST(ttl_while_map_missing) {
    start(base_conf());
    put("k", NULL, 10, 0, 1000);
    put("k", NULL, 10, 500 * MS, 1000);
    run(0, 0);
    /* ListShards keeps failing (retriable): records wait, then expire at their TTL */
    kn_error_t *e = kn_error_new(KN_ERR_TRANSPORT, "refused");
    lists[0].answered = 1;
    kn_pipeline_list_done(lists[0].ticket, NULL, e);
    int64_t next = run(10 * MS, 0);
    ck_assert_int_eq(next, 1000 * MS); /* first expiry before the 1 s map backoff */
    run(1000 * MS, 0);
    ck_assert_uint_eq(done.count, 1);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_RECORD_EXPIRED);
    ck_assert_uint_eq(nlists, 1);
    run(1010 * MS, 0); /* backoff over: another ListShards */
    ck_assert_uint_eq(nlists, 2);
    lists[1].answered = 1;
    kn_pipeline_list_done(lists[1].ticket, NULL, e);
    kn_error_destroy(e);
    run(1500 * MS, 0);
    ck_assert_uint_eq(done.count, 2);
    ck_assert_uint_eq(nreqs, 0);
    free_done();
    stop();

    /* a stream that does not exist fails its records at once */
    start(base_conf());
    put("k", NULL, 10, 0, 30000);
    run(0, 0);
    e = kn_error_from_service(400, "ResourceNotFoundException", "Stream s1 not found", NULL);
    lists[0].answered = 1;
    kn_pipeline_list_done(lists[0].ticket, NULL, e);
    kn_error_destroy(e);
    run(5 * MS, 0);
    ck_assert_uint_eq(done.count, 1);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_RESOURCE_NOT_FOUND);
    free_done();
    stop();
}
END_TEST

START_TEST(partial_failure_resends_only_failed) {
    kn_pipeline_conf_t c = base_conf();
    c.aggregation_enabled = 0;
    start_ready(c, 1);
    kn_rec_t *r[3] = {put("a1", NULL, 10, 0, 30000), put("a2", NULL, 10, 0, 30000),
                      put("a3", NULL, 10, 0, 30000)};
    run(0, 1);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_uint_eq(reqs[0].n, 3);
    int fail[1] = {1};
    answer(0, "InternalFailure", fail, 1, 1);
    int64_t next = run(10 * MS, 0);
    ck_assert_uint_eq(done.count, 2);
    ck_assert_ptr_eq(done.head, r[0]);
    ck_assert_ptr_eq(done.tail, r[2]);
    ck_assert_int_ge(next, 10 * MS);
    ck_assert_int_le(next, 110 * MS); /* backoff below the 100 ms cap of the first retry */
    run(next, 0);
    ck_assert_uint_eq(nreqs, 2);
    ck_assert_uint_eq(reqs[1].n, 1); /* only the failed entry */
    ck_assert_str_eq(reqs[1].e[0].pk, "a2");
    answer_ok(1, 1);
    run(next + 1, 0);
    ck_assert_uint_eq(done.count, 3);
    ck_assert_ptr_eq(done.tail, r[1]);
    ck_assert_uint_eq(r[1]->nattempts, 1);
    ck_assert_str_eq(kn_error_type(r[1]->attempts[0].err->err), "InternalFailure");
    free_done();
    stop();
}
END_TEST

START_TEST(wrong_shard_reroutes) {
    start(base_conf());
    run(0, 0);
    answer_list(0, 1); /* stale view: one shard */
    run(0, 0);
    /* keys that fall in both halves of the real two-shard stream */
    kn_rec_t *r[20];
    char pk[16];
    for (int i = 0; i < 20; i++) {
        snprintf(pk, sizeof(pk), "w%d", i);
        r[i] = put(pk, NULL, 10, 0, 30000);
    }
    run(200 * MS, 0);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_uint_eq(reqs[0].n, 1);
    /* the shard was split into two children: the aggregate lands on its EHK's child,
       where some of its records do not belong */
    id_base = 1;
    answer_ok(0, 2);
    run(210 * MS, 0);
    ck_assert_uint_eq(done.count, 0);
    ck_assert_uint_eq(nlists, 2); /* map invalidated and fetched again */
    answer_list(1, 2);
    run(220 * MS, 1);
    ck_assert_uint_eq(nreqs, 2);
    ck_assert_uint_eq(reqs[1].n, 2); /* now one aggregate per real shard */
    answer_ok(1, 2);
    run(230 * MS, 0);
    ck_assert_uint_eq(done.count, 20);
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof(want), "shardId-%012d", 1 + shard_of(r[i]->hash, 2));
        ck_assert_str_eq(r[i]->result->shard_id, want);
        ck_assert_uint_eq(r[i]->nattempts, 1); /* the wrong-shard attempt is on record */
    }
    ck_assert_int_eq(atomic_load(&kn_pipeline_stats(pl)->wrong_shard), 1);
    free_done();
    stop();
}
END_TEST

START_TEST(rate_limiter_per_shard) {
    kn_pipeline_conf_t c = base_conf();
    c.aggregation_enabled = 0;
    c.rate_limit_percent = 100; /* 1000 Kinesis records per second per shard */
    start_ready(c, 1);
    for (int i = 0; i < 2500; i++)
        put("hot", NULL, 10, 0, 30000);
    int64_t next = run(0, 1);
    size_t sent = 0;
    for (size_t i = 0; i < nreqs; i++)
        sent += reqs[i].n;
    ck_assert_uint_eq(sent, 1000); /* the bucket's capacity: one second */
    ck_assert_int_eq(next, 1 * MS); /* one more token per millisecond */
    run(500 * MS, 1);
    sent = 0;
    for (size_t i = 0; i < nreqs; i++)
        sent += reqs[i].n;
    ck_assert_uint_eq(sent, 1500);
    /* throttling slows the shard further: answer everything throttled */
    for (size_t i = 0; i < nreqs; i++) {
        int all[500];
        for (int j = 0; j < 500; j++)
            all[j] = j;
        answer(i, "ProvisionedThroughputExceededException", all, reqs[i].n, 1);
    }
    run(501 * MS, 1);
    ck_assert_int_gt(atomic_load(&kn_pipeline_stats(pl)->throttles), 0);
    size_t before = nreqs;
    run(1500 * MS, 1); /* a second later: far fewer than 1000 more */
    sent = 0;
    for (size_t i = before; i < nreqs; i++)
        sent += reqs[i].n;
    ck_assert_uint_le(sent, 600);
    stop();
}
END_TEST

START_TEST(strict_order_under_retries) {
    kn_pipeline_conf_t c = base_conf();
    c.strict = 1;
    c.aggregation_max_bytes = 200; /* small aggregates: many entries per shard */
    start_ready(c, 2);
    const int N = 300;
    kn_rec_t *r[300];
    char pk[16];
    for (int i = 0; i < N; i++) {
        snprintf(pk, sizeof(pk), "key%d", i % 5);
        r[i] = put(pk, NULL, 30, i * MS, 30000);
    }
    /* answer requests as they come; fail every third entry (throttled or 5xx, or the
       whole request) and check order of delivery per key */
    size_t answered = 0;
    int64_t t = 300 * MS;
    int rounds = 0;
    while (done.count < (size_t)N && rounds++ < 10000) {
        int64_t next = run(t, 1);
        while (answered < nreqs) {
            freq_t *q = &reqs[answered];
            /* strict: at most one entry per shard per request */
            for (size_t a = 0; a < q->n; a++)
                for (size_t b = a + 1; b < q->n; b++) {
                    kn_u128_t ha, hb;
                    kn_u128_parse_decimal(q->e[a].ehk ? q->e[a].ehk : "0", strlen(q->e[a].ehk ? q->e[a].ehk : "0"), &ha);
                    kn_u128_parse_decimal(q->e[b].ehk ? q->e[b].ehk : "0", strlen(q->e[b].ehk ? q->e[b].ehk : "0"), &hb);
                    if (q->e[a].ehk && q->e[b].ehk)
                        ck_assert_int_ne(shard_of(ha, 2), shard_of(hb, 2));
                }
            if (answered % 7 == 3) {
                kn_error_t *e = kn_error_new(KN_ERR_TIMED_OUT, "timeout");
                q->answered = 1;
                kn_pipeline_put_done(q->ticket, NULL, e);
                kn_error_destroy(e);
            } else if (answered % 3 == 1) {
                int f[1] = {0};
                answer(answered, answered % 2 ? "ProvisionedThroughputExceededException"
                                              : "InternalFailure", f, 1, 2);
            } else {
                answer_ok(answered, 2);
            }
            answered++;
        }
        t = next > t ? next : t + 1;
    }
    ck_assert_uint_eq(done.count, (size_t)N);
    /* per key: sequence numbers increase in put order */
    for (int k = 0; k < 5; k++) {
        const char *prev_sn = NULL;
        uint32_t prev_sub = 0;
        for (int i = k; i < N; i += 5) {
            ck_assert_ptr_null(r[i]->error);
            const char *sn = r[i]->result->sequence_number;
            if (prev_sn) {
                int cmp = strlen(sn) != strlen(prev_sn) ? (strlen(sn) > strlen(prev_sn) ? 1 : -1)
                                                        : strcmp(sn, prev_sn);
                ck_assert_msg(cmp > 0 || (cmp == 0 && r[i]->subseq > prev_sub),
                              "key %d record %d out of order", k, i);
            }
            prev_sn = sn;
            prev_sub = r[i]->subseq;
        }
    }
    ck_assert_int_gt(atomic_load(&kn_pipeline_stats(pl)->retries), 0);
    free_done();
    stop();
}
END_TEST

START_TEST(strict_order_across_reshard) {
    kn_pipeline_conf_t c = base_conf();
    c.strict = 1;
    c.aggregation_enabled = 0; /* one record per entry: easy to follow */
    start_ready(c, 1);
    /* three records of one key; the first is in flight when the shard splits */
    kn_rec_t *r[3];
    for (int i = 0; i < 3; i++)
        r[i] = put("same", NULL, 10, 0, 30000);
    run(0, 1);
    ck_assert_uint_eq(nreqs, 1); /* strict: one entry per shard in flight */
    /* the service answers from a split stream: the shard the key lives in is a child */
    id_base = 1;
    int fail[1] = {0};
    answer(0, "InternalFailure", fail, 1, 2); /* r0 must be retried */
    run(10 * MS, 1);
    run(500 * MS, 1); /* r0's retry lands on the child: plain record, accepted, map stale */
    ck_assert_uint_eq(nreqs, 2);
    ck_assert_str_eq(reqs[1].e[0].pk, "same");
    answer_ok(1, 2);
    run(501 * MS, 1);
    ck_assert_uint_eq(done.count, 1);
    ck_assert_uint_eq(nlists, 2); /* refreshing */
    /* nothing of the stream goes out while the map is stale */
    run(600 * MS, 1);
    ck_assert_uint_eq(nreqs, 2);
    answer_list(1, 2);
    for (int64_t t = 700; nreqs < 4 && t < 2000; t += 10) {
        run(t * MS, 1);
        for (size_t i = 2; i < nreqs; i++)
            if (!reqs[i].answered)
                answer_ok(i, 2);
    }
    run(2000 * MS, 1);
    ck_assert_uint_eq(done.count, 3);
    /* put order kept: sequence numbers increase r0 < r1 < r2 */
    ck_assert_int_lt(strcmp(r[0]->result->sequence_number, r[1]->result->sequence_number), 0);
    ck_assert_int_lt(strcmp(r[1]->result->sequence_number, r[2]->result->sequence_number), 0);
    free_done();
    stop();
}
END_TEST

START_TEST(inflight_limit) {
    kn_pipeline_conf_t c = base_conf();
    c.aggregation_enabled = 0;
    c.max_inflight = 1;
    c.rate_limit_percent = 100000;
    start_ready(c, 1);
    for (int i = 0; i < 1000; i++)
        put("k", NULL, 10, 0, 30000);
    run(0, 1);
    ck_assert_uint_eq(nreqs, 1);
    run(1 * MS, 1);
    ck_assert_uint_eq(nreqs, 1);
    answer_ok(0, 1);
    run(2 * MS, 1);
    ck_assert_uint_eq(nreqs, 2);
    ck_assert_uint_eq(done.count, 500);
    free_done();
    stop();
}
END_TEST

START_TEST(abort_with_requests_in_flight) {
    start_ready(base_conf(), 1);
    put("a", NULL, 10, 0, 30000);
    put("b", NULL, 10, 0, 30000);
    run(0, 1);
    ck_assert_uint_eq(nreqs, 1);
    put("c", NULL, 10, 0, 30000); /* buffered, not in flight */
    kn_error_t *e = kn_error_new(KN_ERR_SHUTDOWN, "producer destroyed");
    ck_assert_uint_eq(kn_pipeline_abort(pl, e, 5 * MS), 1);
    kn_error_destroy(e);
    take_done();
    ck_assert_uint_eq(done.count, 1);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_SHUTDOWN);
    free_done();
    /* the request in flight fails retriably: no retry after abort */
    e = kn_error_new(KN_ERR_TRANSPORT, "reset");
    reqs[0].answered = 1;
    kn_pipeline_put_done(reqs[0].ticket, NULL, e);
    kn_error_destroy(e);
    run(6 * MS, 0);
    ck_assert_uint_eq(done.count, 2);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_SHUTDOWN);
    ck_assert_uint_eq(done.head->nattempts, 1);
    ck_assert_uint_eq(kn_pipeline_inflight(pl), 0);
    put("d", NULL, 10, 7 * MS, 30000); /* after abort: fails at once */
    take_done();
    ck_assert_uint_eq(done.count, 3);
    free_done();
    stop();
}
END_TEST

START_TEST(send_refused_is_a_failed_request) {
    kn_pipeline_conf_t c = base_conf();
    start_ready(c, 1);
    put("a", NULL, 10, 0, 30000);
    put_rc = KN_ERR_NO_CREDENTIALS;
    int64_t next = run(0, 1);
    ck_assert_int_eq(next, 0); /* run again at once to apply it */
    run(0, 0);
    ck_assert_uint_eq(done.count, 1);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_NO_CREDENTIALS);
    free_done();
    stop();
}
END_TEST

START_TEST(paged_list_shards) {
    start(base_conf());
    put("k", NULL, 10, 0, 30000);
    run(0, 0);
    kn_shard_list_t *p1 = shard_list(2);
    /* first page: shard 0 only, with a token */
    kn_shard_list_t *p2 = calloc(1, sizeof(*p2));
    p2->shards = calloc(1, sizeof(kn_shard_t));
    p2->shards[0] = p1->shards[1];
    p2->count = 1;
    p1->count = 1;
    p1->next_token = strdup("tok-1");
    lists[0].answered = 1;
    kn_pipeline_list_done(lists[0].ticket, p1, NULL);
    run(1 * MS, 0);
    ck_assert_uint_eq(nlists, 2);
    ck_assert_str_eq(lists[1].token, "tok-1");
    lists[1].answered = 1;
    kn_pipeline_list_done(lists[1].ticket, p2, NULL);
    run(2 * MS, 1);
    ck_assert_uint_eq(nreqs, 1);
    answer_ok(0, 2);
    run(3 * MS, 0);
    ck_assert_uint_eq(done.count, 1);
    ck_assert_int_eq(atomic_load(&kn_pipeline_stats(pl)->map_refreshes), 1);
    free_done();
    stop();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_pipeline");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, waits_for_map_then_aggregates_per_shard);
    tcase_add_test(tc, limits_500_entries_and_5_mib);
    tcase_add_test(tc, aggregates_respect_max_bytes);
    tcase_add_test(tc, linger_and_flush);
    tcase_add_test(tc, ttl_while_map_missing);
    tcase_add_test(tc, partial_failure_resends_only_failed);
    tcase_add_test(tc, wrong_shard_reroutes);
    tcase_add_test(tc, rate_limiter_per_shard);
    tcase_add_test(tc, strict_order_under_retries);
    tcase_add_test(tc, strict_order_across_reshard);
    tcase_add_test(tc, inflight_limit);
    tcase_add_test(tc, abort_with_requests_in_flight);
    tcase_add_test(tc, send_refused_is_a_failed_request);
    tcase_add_test(tc, paged_list_shards);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
