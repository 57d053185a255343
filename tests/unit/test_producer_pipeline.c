/*
 * The producer pipeline driven by hand: a fake sender records requests, the
 * test answers them, and time is whatever the test passes. Covers map waiting,
 * aggregation per shard, the 500 / 5 MiB / 1 MiB limits, linger, TTL, partial
 * failures, wrong-shard re-routing, the rate limiter, strict ordering under
 * retries, the in-flight limit and abort with requests in flight, and records
 * from a pool leaving their blocks when they have to wait (retry backoff, rate
 * limiter, strict ordering behind a retry, a failed ListShards).
 */
#include <stdio.h>
#include <string.h>

#include "agg.h"
#include "kn_test.h"
#include "pipeline.h"
#include "record_pool.h"

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

/* The data of the record numbered `n` with key pk: "pk#n", padded with 'x' to len. */
static void fill_data(uint8_t *buf, size_t cap, const char *pk, uint64_t n, size_t len) {
    int w = snprintf((char *)buf, cap, "%s#%llu", pk, (unsigned long long)n);
    if ((size_t)w < len)
        memset(buf + w, 'x', len - (size_t)w);
}

/* A record from `pool` (NULL: malloc()ed alone, like kn_rec_new) put at `t`
 * with linger 100 ms and TTL `ttl_ms`. */
static kn_rec_t *pool_put(kn_rec_pool_t *pool, const char *pk, const char *ehk, size_t len,
                          int64_t t, int64_t ttl_ms) {
    static uint8_t buf[1100000];
    ck_assert_uint_le(len, sizeof(buf) - 64);
    fill_data(buf, sizeof(buf), pk, seq, len);
    kn_rec_t *r = kn_rec_pool_alloc(pool, pk, strlen(pk), ehk, ehk ? strlen(ehk) : 0, buf, len,
                                    NULL);
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

/* A record malloc()ed alone (never moved by the pipeline), put like pool_put(). */
static kn_rec_t *put(const char *pk, const char *ehk, size_t len, int64_t t, int64_t ttl_ms) {
    return pool_put(NULL, pk, ehk, len, t, ttl_ms);
}

/* Whether r still holds the bytes it was put with (the pipeline numbers records
 * in put order, as put() does, so r->seq names them). */
static int data_intact(const kn_rec_t *r) {
    uint8_t *want = malloc(r->data_len + 64);
    fill_data(want, r->data_len + 64, kn_rec_pk(r), r->seq, r->data_len);
    int same = !memcmp(want, kn_rec_data(r), r->data_len);
    free(want);
    return same;
}

/* Checks delivered records (no error, a result, their bytes intact; a record
 * that failed an attempt waited its backoff out of its block) and returns how
 * many left their pool block. */
static size_t check_delivered(const kn_rec_list_t *l) {
    size_t moved = 0;
    for (const kn_rec_t *x = l->head; x; x = x->next) {
        ck_assert_ptr_null(x->error);
        ck_assert_ptr_nonnull(x->result);
        ck_assert_msg(data_intact(x), "record %llu: data changed", (unsigned long long)x->seq);
        if (x->nattempts)
            ck_assert_ptr_null(x->block);
        moved += !x->block;
    }
    return moved;
}

/* Per partition key, delivered records carry increasing sequence numbers in
 * put order (increasing subsequence numbers inside one aggregate). Sorts l. */
static void check_key_order(kn_rec_list_t *l) {
    struct {
        const char *pk, *sn;
        uint32_t sub;
    } last[16];
    size_t nkeys = 0;
    kn_rec_list_sort_seq(l);
    for (const kn_rec_t *x = l->head; x; x = x->next) {
        ck_assert_ptr_null(x->error);
        ck_assert_ptr_nonnull(x->result);
        const char *sn = x->result->sequence_number;
        size_t k = 0;
        while (k < nkeys && strcmp(last[k].pk, kn_rec_pk(x)))
            k++;
        if (k == nkeys) {
            ck_assert_uint_lt(nkeys, sizeof(last) / sizeof(last[0]));
            last[nkeys++].pk = kn_rec_pk(x);
        } else {
            const char *prev = last[k].sn;
            int cmp = strlen(sn) != strlen(prev) ? (strlen(sn) > strlen(prev) ? 1 : -1)
                                                 : strcmp(sn, prev);
            ck_assert_msg(cmp > 0 || (cmp == 0 && x->subseq > last[k].sub),
                          "key %s record %llu out of order", kn_rec_pk(x),
                          (unsigned long long)x->seq);
        }
        last[k].sn = sn;
        last[k].sub = x->subseq;
    }
}

static long long evicted(void) { return atomic_load(&kn_pipeline_stats(pl)->evicted); }

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

/* Answers ListShards request i with an error. */
static void fail_list_req(size_t i, const kn_error_t *e) {
    ck_assert_uint_lt(i, nlists);
    lists[i].answered = 1;
    kn_pipeline_list_done(lists[i].ticket, NULL, e);
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
    fail_list_req(0, e);
    int64_t next = run(10 * MS, 0);
    ck_assert_int_eq(next, 1000 * MS); /* first expiry before the 1 s map backoff */
    run(1000 * MS, 0);
    ck_assert_uint_eq(done.count, 1);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_RECORD_EXPIRED);
    ck_assert_uint_eq(nlists, 1);
    run(1010 * MS, 0); /* backoff over: another ListShards */
    ck_assert_uint_eq(nlists, 2);
    fail_list_req(1, e);
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
    fail_list_req(0, e);
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

/* Strict mode over two shards: runs from `t`, answering requests as they come
 * (every seventh times out whole, every third of the others fails its first
 * entry, throttled or 5xx) until `want` records are done. */
static void answer_strict_until(size_t want, int64_t t) {
    size_t answered = 0;
    int rounds = 0;
    while (done.count < want && rounds++ < 10000) {
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
    ck_assert_uint_eq(done.count, want);
}

static kn_pipeline_conf_t strict_conf(void) {
    kn_pipeline_conf_t c = base_conf();
    c.strict = 1;
    c.aggregation_max_bytes = 200; /* small aggregates: many entries per shard */
    return c;
}

START_TEST(strict_order_under_retries) {
    start_ready(strict_conf(), 2);
    const int N = 300;
    char pk[16];
    for (int i = 0; i < N; i++) {
        snprintf(pk, sizeof(pk), "key%d", i % 5);
        put(pk, NULL, 30, i * MS, 30000);
    }
    /* fail entries and whole requests along the way; per key, sequence numbers
       increase in put order */
    answer_strict_until((size_t)N, 300 * MS);
    check_key_order(&done);
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

/* ---- records from a pool: those that have to wait leave their blocks ---- */

static kn_rec_pool_t *pool;

static void pool_start(void) {
    pool = kn_rec_pool_new(KN_REC_POOL_BLOCK_BYTES, 4);
    ck_assert_ptr_nonnull(pool);
}

/* After stop(): every record is released, so the pool can go (ASan would see a
 * block kept alive by a record nobody released, or a record used after). */
static void pool_stop(void) {
    kn_rec_pool_destroy(pool);
    pool = NULL;
}

static size_t rec_size(const kn_rec_t *r) {
    return kn_rec_alloc_size(r->pk_len, r->ehk_len, r->data_len);
}

/* Runs from t in 10 ms steps, answering every new request successfully, until
 * `want` records are done; returns the time reached. */
static int64_t deliver_until(size_t want, int64_t t, int nshards) {
    for (int i = 0; done.count < want && i < 1000; i++, t += 10 * MS) {
        run(t, 1);
        for (size_t q = 0; q < nreqs; q++)
            if (!reqs[q].answered)
                answer_ok(q, nshards);
    }
    run(t, 0);
    ck_assert_uint_eq(done.count, want);
    return t;
}

START_TEST(evicts_on_partial_failure) {
    kn_pipeline_conf_t c = base_conf();
    c.aggregation_enabled = 0;
    pool_start();
    start_ready(c, 1);
    kn_rec_t *r[4];
    int64_t sizes = 0;
    char pk[8];
    for (int i = 0; i < 4; i++) {
        snprintf(pk, sizeof(pk), "a%d", i);
        r[i] = pool_put(pool, pk, NULL, 10, 0, 30000);
        sizes += (int64_t)rec_size(r[i]);
    }
    struct kn_rec_block_s *blk = r[0]->block;
    ck_assert_ptr_nonnull(blk);
    for (int i = 1; i < 4; i++)
        ck_assert_ptr_eq(r[i]->block, blk); /* put order: one block */
    const int64_t failed_bytes = (int64_t)(rec_size(r[1]) + rec_size(r[2]));
    run(0, 1);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_uint_eq(reqs[0].n, 4);
    ck_assert_int_eq(evicted(), 0); /* in flight: never moved */
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);

    int fail[2] = {1, 2};
    answer(0, "ProvisionedThroughputExceededException", fail, 2, 1);
    int64_t next = run(10 * MS, 0);
    /* the delivered ones stayed in their block; the two retried ones left it */
    ck_assert_uint_eq(done.count, 2);
    ck_assert_ptr_eq(done.head, r[0]);
    ck_assert_ptr_eq(done.tail, r[3]);
    ck_assert_ptr_eq(r[0]->block, blk);
    ck_assert_ptr_eq(r[3]->block, blk);
    ck_assert_uint_eq(check_delivered(&done), 0);
    ck_assert_int_eq(evicted(), 2);
    /* the originals are released into the still-living block: pinned */
    ck_assert_int_eq(kn_rec_pool_pinned(pool), failed_bytes);
    free_done();
    ck_assert_int_eq(kn_rec_pool_pinned(pool), sizes); /* the block is still the current one */

    /* retire the block (the next allocation does not fit) and release the rest of
       it: it goes back although the retried records are still waiting */
    static uint8_t filler[8000];
    kn_rec_t *f[16];
    size_t nf = 0;
    do {
        ck_assert_uint_lt(nf, 16);
        f[nf] = kn_rec_pool_alloc(pool, "f", 1, NULL, 0, filler, sizeof(filler), NULL);
        ck_assert_ptr_nonnull(f[nf]);
    } while (f[nf++]->block == blk);
    for (size_t i = 0; i + 1 < nf; i++)
        kn_rec_free(f[i]);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    kn_rec_free(f[nf - 1]);

    /* the resends (each entry after its own backoff) carry the evicted copies,
       bytes intact */
    ck_assert_int_gt(next, 10 * MS);
    size_t resent = 0;
    for (int64_t t = next; resent < 2 && t < next + 5000 * MS; t += MS) {
        run(t, 0);
        for (; nreqs > 1 + resent; resent++) {
            fentry_t *e = &reqs[1 + resent].e[0];
            ck_assert_uint_eq(reqs[1 + resent].n, 1);
            size_t j = !strcmp(e->pk, "a1") ? 1 : 2;
            ck_assert_str_eq(e->pk, reqs[0].e[j].pk);
            ck_assert_uint_eq(e->len, reqs[0].e[j].len);
            ck_assert_mem_eq(e->data, reqs[0].e[j].data, e->len);
            answer_ok(1 + resent, 1);
        }
    }
    ck_assert_uint_eq(resent, 2);
    ck_assert_str_ne(reqs[1].e[0].pk, reqs[2].e[0].pk);
    deliver_until(2, next + 5000 * MS, 1);
    ck_assert_uint_eq(check_delivered(&done), 2);
    for (kn_rec_t *x = done.head; x; x = x->next) {
        ck_assert_ptr_ne(x, r[1]);
        ck_assert_ptr_ne(x, r[2]);
        ck_assert_uint_eq(x->nattempts, 1);
        ck_assert_str_eq(kn_error_type(x->attempts[0].err->err),
                         "ProvisionedThroughputExceededException");
    }
    ck_assert_int_eq(evicted(), 2); /* copies are not moved again */
    free_done();
    stop();

    /* an aggregate waiting out its backoff off-block, two of its records expiring
       meanwhile: it is rebuilt from the moved copies and resent with their bytes */
    start_ready(base_conf(), 1);
    for (int i = 0; i < 4; i++) {
        snprintf(pk, sizeof(pk), "g%d", i);
        pool_put(pool, pk, NULL, 10, 0, i < 2 ? 150 : 30000);
    }
    run(100 * MS, 0);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_uint_eq(reqs[0].n, 1);
    int first[1] = {0};
    answer(0, "InternalFailure", first, 1, 1);
    run(110 * MS, 0);
    ck_assert_uint_eq(nreqs, 1); /* in backoff */
    ck_assert_int_eq(evicted(), 4);
    run(150 * MS, 0);
    ck_assert_uint_eq(done.count, 2);
    for (kn_rec_t *x = done.head; x; x = x->next) {
        ck_assert_int_eq(kn_error_code(x->error->err), KN_ERR_RECORD_EXPIRED);
        ck_assert_ptr_null(x->block);
        ck_assert(data_intact(x));
    }
    free_done();
    for (int64_t t = 150 * MS; nreqs < 2 && t < 1000 * MS; t += MS)
        run(t, 0);
    ck_assert_uint_eq(nreqs, 2);
    ck_assert_uint_eq(reqs[1].n, 1);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *ur;
    size_t nur;
    ck_assert_int_eq(kn_agg_decode(d, reqs[1].e[0].data, reqs[1].e[0].len, &ur, &nur), KN_OK);
    ck_assert_uint_eq(nur, 2);
    for (size_t i = 0; i < nur; i++) {
        uint8_t want[64];
        snprintf(pk, sizeof(pk), "g%zu", i + 2);
        fill_data(want, sizeof(want), pk, i + 2, 10);
        ck_assert_uint_eq(ur[i].data_len, 10);
        ck_assert_mem_eq(ur[i].data, want, 10);
        ck_assert_uint_eq(ur[i].partition_key_len, 2);
        ck_assert_mem_eq(ur[i].partition_key, pk, 2);
    }
    kn_agg_decoder_destroy(d);
    answer_ok(1, 1);
    deliver_until(2, 1000 * MS, 1);
    ck_assert_uint_eq(check_delivered(&done), 2);
    check_key_order(&done);
    free_done();
    stop();
    pool_stop();
}
END_TEST

START_TEST(evicts_while_rate_limited) {
    kn_pipeline_conf_t c = base_conf();
    c.aggregation_enabled = 0;
    c.rate_limit_percent = 100; /* 1000 Kinesis records per second per shard */
    pool_start();
    start_ready(c, 2);
    /* shard 0 gets more than its bucket holds, shard 1 a few */
    for (int i = 0; i < 1200; i++)
        pool_put(pool, "hot", "0", 10, 0, 30000);
    for (int i = 0; i < 10; i++)
        pool_put(pool, "cold", MAXKEY, 10, 0, 30000);
    run(0, 1);
    size_t sent = 0;
    for (size_t i = 0; i < nreqs; i++)
        sent += reqs[i].n;
    ck_assert_uint_eq(sent, 1010);
    ck_assert_int_eq(evicted(), 200); /* what shard 0 holds back */
    /* while shard 0 waits, what joins it waits too; shard 1 goes on */
    for (int i = 0; i < 5; i++)
        pool_put(pool, "hot", "0", 10, 1 * MS, 30000);
    for (int i = 0; i < 5; i++)
        pool_put(pool, "cold", MAXKEY, 10, 1 * MS, 30000);
    ck_assert_int_eq(evicted(), 205);
    int64_t t = deliver_until(1220, 1 * MS, 2);
    ck_assert_uint_eq(check_delivered(&done), 205);
    for (kn_rec_t *x = done.head; x; x = x->next) {
        int hot = !strcmp(kn_rec_pk(x), "hot");
        /* the first 1000 of shard 0 went out at once */
        ck_assert_msg(!x->block == (hot && x->seq >= 1000), "record %llu (%s) block %p",
                      (unsigned long long)x->seq, kn_rec_pk(x), (void *)x->block);
    }
    free_done();
    ck_assert_int_eq(evicted(), 205);

    /* shard 0 is idle again: new records stay in their blocks */
    t += 2000 * MS; /* the bucket is full again */
    for (int i = 0; i < 10; i++)
        pool_put(pool, "hot", "0", 10, t, 30000);
    deliver_until(10, t, 2);
    ck_assert_uint_eq(check_delivered(&done), 0);
    ck_assert_int_eq(evicted(), 205);
    free_done();
    stop();
    pool_stop();
}
END_TEST

START_TEST(evicts_waiting_records_after_list_failure) {
    pool_start();
    start(base_conf());
    char pk[8];
    for (int i = 0; i < 6; i++) {
        snprintf(pk, sizeof(pk), "k%d", i % 3);
        pool_put(pool, pk, NULL, 10, 0, 30000);
    }
    run(0, 0);
    ck_assert_uint_eq(nlists, 1);
    ck_assert_int_eq(evicted(), 0);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    /* a retriable ListShards failure: the records wait for the next try off their block */
    kn_error_t *e = kn_error_new(KN_ERR_TRANSPORT, "refused");
    fail_list_req(0, e);
    run(10 * MS, 0);
    ck_assert_int_eq(evicted(), 6);
    ck_assert_int_gt(kn_rec_pool_pinned(pool), 0); /* the originals, in the current block */
    /* records arriving during the backoff wait it out off their block too */
    pool_put(pool, "k0", NULL, 10, 20 * MS, 30000);
    pool_put(pool, "k1", NULL, 10, 20 * MS, 30000);
    ck_assert_int_eq(evicted(), 8);
    run(1010 * MS, 0);
    ck_assert_uint_eq(nlists, 2);
    fail_list_req(1, e);
    kn_error_destroy(e);
    run(1020 * MS, 0);
    ck_assert_int_eq(evicted(), 8);
    ck_assert_uint_eq(nreqs, 0);
    ck_assert_uint_eq(done.count, 0);
    /* the map arrives: delivered whole and in order per key */
    run(2520 * MS, 0);
    ck_assert_uint_eq(nlists, 3);
    answer_list(2, 2);
    deliver_until(8, 2530 * MS, 2);
    ck_assert_uint_eq(check_delivered(&done), 8);
    check_key_order(&done);
    ck_assert_int_eq(evicted(), 8);
    free_done();
    stop();

    /* shutting down while they wait: the moved copies fail and are freed like any */
    start(base_conf());
    for (int i = 0; i < 3; i++)
        pool_put(pool, "k", NULL, 10, 0, 30000);
    run(0, 0);
    e = kn_error_new(KN_ERR_TRANSPORT, "refused");
    fail_list_req(0, e);
    kn_error_destroy(e);
    run(10 * MS, 0);
    ck_assert_int_eq(evicted(), 3);
    e = kn_error_new(KN_ERR_SHUTDOWN, "producer destroyed");
    ck_assert_uint_eq(kn_pipeline_abort(pl, e, 20 * MS), 0);
    kn_error_destroy(e);
    take_done();
    ck_assert_uint_eq(done.count, 3);
    for (kn_rec_t *x = done.head; x; x = x->next) {
        ck_assert_int_eq(kn_error_code(x->error->err), KN_ERR_SHUTDOWN);
        ck_assert_ptr_null(x->block);
        ck_assert(data_intact(x));
    }
    free_done();
    stop();

    /* a stream that does not exist: its records fail where they are */
    start(base_conf());
    for (int i = 0; i < 3; i++)
        pool_put(pool, "k", NULL, 10, 0, 30000);
    run(0, 0);
    e = kn_error_from_service(400, "ResourceNotFoundException", "Stream s1 not found", NULL);
    fail_list_req(0, e);
    kn_error_destroy(e);
    run(5 * MS, 0);
    ck_assert_uint_eq(done.count, 3);
    for (kn_rec_t *x = done.head; x; x = x->next) {
        ck_assert_int_eq(kn_error_code(x->error->err), KN_ERR_RESOURCE_NOT_FOUND);
        ck_assert_ptr_nonnull(x->block);
        ck_assert(data_intact(x));
    }
    ck_assert_int_eq(evicted(), 0);
    free_done();
    stop();
    pool_stop();
}
END_TEST

START_TEST(strict_mode_evicts_behind_backoff) {
    kn_pipeline_conf_t c = strict_conf();
    c.aggregation_enabled = 0; /* one record per entry: easy to follow */
    c.rate_limit_percent = 100000; /* keep the limiter out of this test */
    pool_start();
    start_ready(c, 1);
    for (int i = 0; i < 5; i++)
        pool_put(pool, "same", NULL, 10, 0, 30000);
    run(0, 1);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_uint_eq(reqs[0].n, 1); /* strict: one entry of the shard in flight */
    ck_assert_int_eq(evicted(), 0);
    int fail[1] = {0};
    answer(0, "InternalFailure", fail, 1, 1);
    /* the retry goes back to the head in backoff: it and everything behind it wait */
    run(10 * MS, 1);
    ck_assert_uint_eq(nreqs, 1);
    ck_assert_int_eq(evicted(), 5);
    pool_put(pool, "same", NULL, 10, 20 * MS, 30000); /* joins the held queue */
    ck_assert_int_eq(evicted(), 6);
    int64_t t = deliver_until(6, 20 * MS, 1);
    ck_assert_uint_eq(nreqs, 7); /* one at a time, the retry first */
    ck_assert_uint_eq(check_delivered(&done), 6);
    check_key_order(&done);
    free_done();
    /* idle again: a new record stays in its block */
    pool_put(pool, "same", NULL, 10, t, 30000);
    deliver_until(1, t, 1);
    ck_assert_uint_eq(check_delivered(&done), 0);
    ck_assert_int_eq(evicted(), 6);
    free_done();
    stop();

    /* many keys, aggregates over two shards, failures along the way: every retried
       record left its block, every moved record is counted once, order per key holds */
    start_ready(strict_conf(), 2);
    const int N = 300;
    char pk[16];
    for (int i = 0; i < N; i++) {
        snprintf(pk, sizeof(pk), "key%d", i % 5);
        pool_put(pool, pk, NULL, 30, i * MS, 30000);
    }
    answer_strict_until((size_t)N, 300 * MS);
    size_t moved = check_delivered(&done);
    ck_assert_uint_gt(moved, 0);
    ck_assert_int_eq(evicted(), (long long)moved);
    check_key_order(&done);
    free_done();
    stop();
    pool_stop();
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
    tcase_add_test(tc, evicts_on_partial_failure);
    tcase_add_test(tc, evicts_while_rate_limited);
    tcase_add_test(tc, evicts_waiting_records_after_list_failure);
    tcase_add_test(tc, strict_mode_evicts_behind_backoff);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
