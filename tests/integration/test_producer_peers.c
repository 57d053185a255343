/*
 * The producer against the local peers.
 *  - kinesis-local: 100,000 records over 1,000 partition keys into a 4-shard
 *    stream with ordering=strict, read back with GetRecords and deaggregated:
 *    every record exactly once, where its report said, inside its shard's hash
 *    range, and each key's records in put order.
 *  - kinesalite (validates request sizes and counts like AWS): records from
 *    tiny to the 1 MiB limit, aggregated and not, never get a request rejected.
 *  - kinesis-local resharded (2 -> 4 shards) while producing: a KCL-style reader
 *    still gets every record exactly once, and so does this SDK's consumer, which
 *    drops the same wrong-shard aggregates (the KCL's hash-range rule).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "hashkey.h"
#include "kinesis/consumer.h"
#include "kinesis/kinesis.h"
#include "kinesis/producer.h"
#include "kn_consumer_test.h"
#include "kn_test.h"

#define N_RECORDS 100000
#define N_KEYS 1000

typedef struct {
    int count;
    kn_err_t err;
    char shard[32];
    char seq[64];
    int64_t subseq;
} seen_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static seen_t *seen;
static int n_seen;

static void on_report(const kn_delivery_report_t *r, void *cb_opaque) {
    (void)cb_opaque;
    intptr_t id = (intptr_t)r->opaque;
    pthread_mutex_lock(&lock);
    ck_assert(id >= 0 && id < n_seen);
    seen_t *s = &seen[id];
    s->count++;
    s->err = kn_error_code(r->error);
    if (r->error) {
        char buf[512];
        fprintf(stderr, "record %ld failed: %s\n", (long)id,
                kn_error_format(r->error, buf, sizeof(buf)));
    }
    snprintf(s->shard, sizeof(s->shard), "%s", r->shard_id ? r->shard_id : "");
    snprintf(s->seq, sizeof(s->seq), "%s", r->sequence_number ? r->sequence_number : "");
    s->subseq = r->subsequence_number;
    pthread_mutex_unlock(&lock);
}

static void reset_seen(int n) {
    free(seen);
    seen = calloc((size_t)n, sizeof(*seen));
    n_seen = n;
}

static kn_kinesis_t *client(const char *endpoint) {
    kn_conf_t *c = kn_conf_new();
    char err[256];
    ck_assert_int_eq(kn_conf_set(c, "kinesis.endpoint.url", endpoint, err, sizeof(err)), KN_OK);
    kn_kinesis_t *k = kn_kinesis_new(c, err, sizeof(err));
    ck_assert_msg(k != NULL, "%s", err);
    kn_conf_destroy(c);
    return k;
}

static void create_stream(kn_kinesis_t *k, const char *name, int shards) {
    kn_error_t *e = NULL;
    char buf[512];
    ck_assert_msg(kn_kinesis_create_stream(k, name, shards, KN_STREAM_MODE_PROVISIONED, &e) == KN_OK,
                  "%s", kn_error_format(e, buf, sizeof(buf)));
    ck_assert_msg(kn_kinesis_wait_stream_active(k, name, 60000, &e) == KN_OK, "%s",
                  kn_error_format(e, buf, sizeof(buf)));
}

static kn_producer_t *producer(const char *endpoint, const char *const *props) {
    kn_conf_t *c = kn_conf_new();
    char err[256];
    ck_assert_int_eq(kn_conf_set(c, "kinesis.endpoint.url", endpoint, err, sizeof(err)), KN_OK);
    for (; props && *props; props += 2)
        ck_assert_msg(kn_conf_set(c, props[0], props[1], err, sizeof(err)) == KN_OK, "%s", err);
    kn_conf_set_delivery_report_fn(c, on_report, NULL);
    kn_producer_t *p = kn_producer_new(c, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

/* Reads every record of every shard; calls fn for each user record. */
typedef void (*user_fn)(const char *shard, kn_u128_t lo, kn_u128_t hi, const char *seq,
                        int64_t sub, int aggregated, const uint8_t *data, size_t len,
                        const char *pk, size_t pk_len, const char *ehk, size_t ehk_len);

/* Whether every user record of an aggregate lies in [lo, hi] (else a KCL drops it whole). */
static int kcl_accepts(const kn_agg_record_t *u, size_t n, kn_u128_t lo, kn_u128_t hi) {
    for (size_t j = 0; j < n; j++) {
        kn_u128_t h;
        if (u[j].explicit_hash_key)
            kn_u128_parse_decimal(u[j].explicit_hash_key, u[j].explicit_hash_key_len, &h);
        else
            kn_hashkey_from_partition_key(u[j].partition_key, u[j].partition_key_len, &h);
        if (kn_u128_cmp(lo, h) > 0 || kn_u128_cmp(h, hi) > 0)
            return 0;
    }
    return 1;
}

static size_t kcl_dropped; /* aggregates a KCL would drop, seen by the last read_back */

static size_t read_back(kn_kinesis_t *k, const char *stream, user_fn fn) {
    kcl_dropped = 0;
    kn_shard_list_t *shards;
    kn_error_t *e = NULL;
    char buf[512];
    ck_assert_msg(kn_kinesis_list_all_shards(k, stream, NULL, &shards, &e) == KN_OK, "%s",
                  kn_error_format(e, buf, sizeof(buf)));
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    size_t kinesis_records = 0;
    for (size_t s = 0; s < shards->count; s++) {
        const kn_shard_t *sh = &shards->shards[s];
        kn_u128_t lo, hi;
        kn_u128_parse_decimal(sh->starting_hash_key, strlen(sh->starting_hash_key), &lo);
        kn_u128_parse_decimal(sh->ending_hash_key, strlen(sh->ending_hash_key), &hi);
        kn_position_t pos = {.type = KN_POSITION_TRIM_HORIZON};
        char *it = NULL;
        ck_assert_msg(kn_kinesis_get_shard_iterator(k, stream, sh->shard_id, &pos, &it, &e) == KN_OK,
                      "%s", kn_error_format(e, buf, sizeof(buf)));
        while (it) {
            kn_get_records_result_t *res;
            ck_assert_msg(kn_kinesis_get_records(k, it, 10000, &res, &e) == KN_OK, "%s",
                          kn_error_format(e, buf, sizeof(buf)));
            free(it);
            it = res->next_shard_iterator ? strdup(res->next_shard_iterator) : NULL;
            for (size_t i = 0; i < res->record_count; i++) {
                const kn_record_t *r = &res->records[i];
                kinesis_records++;
                const kn_agg_record_t *u;
                size_t n;
                if (kn_agg_is_aggregated(r->data, r->data_len) &&
                    kn_agg_decode(d, r->data, r->data_len, &u, &n) == KN_OK) {
                    if (!kcl_accepts(u, n, lo, hi)) {
                        kcl_dropped++;
                        continue;
                    }
                    for (size_t j = 0; j < n; j++)
                        fn(sh->shard_id, lo, hi, r->sequence_number, (int64_t)j, 1, u[j].data,
                           u[j].data_len, u[j].partition_key, u[j].partition_key_len,
                           u[j].explicit_hash_key, u[j].explicit_hash_key_len);
                } else {
                    fn(sh->shard_id, lo, hi, r->sequence_number, 0, 0, r->data, r->data_len,
                       r->partition_key, strlen(r->partition_key), NULL, 0);
                }
            }
            int done = res->record_count == 0 && res->millis_behind_latest <= 0;
            kn_get_records_result_destroy(res);
            if (done)
                break;
        }
        free(it);
    }
    kn_agg_decoder_destroy(d);
    kn_shard_list_destroy(shards);
    return kinesis_records;
}

static int *found;
static int *last_of_key;

static int data_id(const uint8_t *data, size_t len) {
    char txt[32];
    ck_assert_uint_lt(len, sizeof(txt));
    memcpy(txt, data, len);
    txt[len] = 0;
    ck_assert_msg(!strncmp(txt, "id:", 3), "unexpected data %s", txt);
    return atoi(txt + 3);
}

static void check_user(const char *shard, kn_u128_t lo, kn_u128_t hi, const char *seq, int64_t sub,
                       int aggregated, const uint8_t *data, size_t len, const char *pk,
                       size_t pk_len, const char *ehk, size_t ehk_len) {
    (void)aggregated;
    (void)ehk;
    (void)ehk_len;
    int id = data_id(data, len);
    ck_assert(id >= 0 && id < N_RECORDS);
    found[id]++;
    /* in its shard's hash key range */
    kn_u128_t h;
    ck_assert_int_eq(kn_hashkey_from_partition_key(pk, pk_len, &h), KN_OK);
    ck_assert_msg(kn_u128_cmp(lo, h) <= 0 && kn_u128_cmp(h, hi) <= 0, "record %d outside %s", id,
                  shard);
    /* where its report said */
    ck_assert_str_eq(seen[id].shard, shard);
    ck_assert_str_eq(seen[id].seq, seq);
    ck_assert_int_eq(seen[id].subseq, sub);
    /* each key in put order (one key lives in one shard, read in order) */
    int key = id % N_KEYS;
    ck_assert_msg(last_of_key[key] < id, "key %d: record %d after %d", key, id, last_of_key[key]);
    last_of_key[key] = id;
}

START_TEST(kinesis_local_100k_strict) {
    const char *ep = kn_test_kinesis_endpoint();
    kn_kinesis_t *k = client(ep);
    char stream[64];
    kn_test_unique_name("producer-strict", stream, sizeof(stream));
    create_stream(k, stream, 4);
    const char *props[] = {"ordering", "strict", "record.ttl.ms", "600000", NULL};
    kn_producer_t *p = producer(ep, props);
    reset_seen(N_RECORDS);
    char key[32], data[32];
    for (int i = 0; i < N_RECORDS; i++) {
        snprintf(key, sizeof(key), "key-%d", i % N_KEYS);
        snprintf(data, sizeof(data), "id:%d", i);
        ck_assert_int_eq(kn_producer_put(p, stream, key, NULL, data, strlen(data), (void *)(intptr_t)i),
                         KN_OK);
    }
    size_t left = 0;
    ck_assert_int_eq(kn_producer_flush(p, 600000, &left), KN_OK);
    char *js = kn_producer_stats_json(p);
    fprintf(stderr, "kinesis-local stats: %s\n", js);
    free(js);
    kn_producer_destroy(p);
    for (int i = 0; i < N_RECORDS; i++) {
        ck_assert_int_eq(seen[i].count, 1);
        ck_assert_int_eq(seen[i].err, KN_OK);
    }
    found = calloc(N_RECORDS, sizeof(int));
    last_of_key = malloc(N_KEYS * sizeof(int));
    for (int i = 0; i < N_KEYS; i++)
        last_of_key[i] = -1;
    size_t krecs = read_back(k, stream, check_user);
    for (int i = 0; i < N_RECORDS; i++)
        ck_assert_msg(found[i] == 1, "record %d read %d times", i, found[i]);
    fprintf(stderr, "100000 user records in %zu Kinesis records\n", krecs);
    ck_assert_uint_lt(krecs, N_RECORDS / 100);
    free(found);
    free(last_of_key);
    kn_error_t *e = NULL;
    kn_kinesis_delete_stream(k, stream, 1, &e);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
}
END_TEST

static size_t kl_users, kl_big;
static void count_user(const char *shard, kn_u128_t lo, kn_u128_t hi, const char *seq, int64_t sub,
                       int aggregated, const uint8_t *data, size_t len, const char *pk,
                       size_t pk_len, const char *ehk, size_t ehk_len) {
    (void)shard, (void)seq, (void)sub, (void)aggregated, (void)data, (void)pk, (void)pk_len;
    (void)lo, (void)hi, (void)ehk, (void)ehk_len;
    kl_users++;
    kl_big += len > 500000;
}

START_TEST(kinesalite_never_rejects) {
    const char *ep = kn_test_kinesalite_endpoint();
    kn_kinesis_t *k = client(ep);
    char stream[64];
    kn_test_unique_name("producer-limits", stream, sizeof(stream));
    create_stream(k, stream, 8);
    static const char *const modes[][6] = {
        {"aggregation.enabled", "true", "rate.limit.percent", "10000", NULL, NULL},
        {"aggregation.enabled", "false", "rate.limit.percent", "10000", NULL, NULL},
        {"aggregation.max.bytes", "1048575", "rate.limit.percent", "10000", NULL, NULL},
    };
    static uint8_t big[1024 * 1024];
    memset(big, 'b', sizeof(big));
    size_t total = 0, bigs = 0;
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        kn_producer_t *p = producer(ep, (const char *const *)modes[m]);
        const int n = 6000;
        reset_seen(n);
        char key[300];
        for (int i = 0; i < n; i++) {
            /* mostly small, some near the 1 MiB record limit with long keys, some mid-size */
            size_t len = i % 500 == 7 ? sizeof(big) - 256 : i % 97 == 3 ? 60000 : (size_t)(i % 300);
            int klen = snprintf(key, sizeof(key), "k%d-", i % 777);
            if (len == sizeof(big) - 256) {
                memset(key + klen, 'x', 256 - (size_t)klen);
                key[256] = 0;
                bigs++;
            }
            ck_assert_int_eq(kn_producer_put(p, stream, key, i % 13 ? NULL : "1234567890",
                                             big, len, (void *)(intptr_t)i),
                             KN_OK);
        }
        ck_assert_int_eq(kn_producer_flush(p, 600000, NULL), KN_OK);
        char *js = kn_producer_stats_json(p);
        fprintf(stderr, "kinesalite mode %zu: %s\n", m, js);
        ck_assert_ptr_nonnull(strstr(js, "\"requests\":{\"sent\":"));
        ck_assert_ptr_nonnull(strstr(js, "\"failed\":0,\"in_flight\""));
        ck_assert_ptr_nonnull(strstr(js, "\"failed\":0,\"retried\""));
        free(js);
        kn_producer_destroy(p);
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(seen[i].count, 1);
            ck_assert_msg(seen[i].err == KN_OK, "mode %zu record %d: %s", m, i,
                          kn_err2name(seen[i].err));
        }
        total += (size_t)n;
    }
    kl_users = kl_big = 0;
    read_back(k, stream, count_user);
    ck_assert_uint_eq(kl_users, total);
    ck_assert_uint_eq(kl_big, bigs);
    kn_error_t *e = NULL;
    kn_kinesis_delete_stream(k, stream, 1, &e);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
}
END_TEST

/* ---- reading back with this SDK's consumer ---- */

typedef struct {
    atomic_int *found; /* deliveries per record id */
    atomic_int ids_seen;
    atomic_int drop_lines; /* "dropped whole" warnings logged */
} consumed_t;

static void cons_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    (void)state;
    consumed_t *c = opaque;
    for (size_t i = 0; i < b->count; i++)
        if (atomic_fetch_add(&c->found[data_id(b->records[i].data, b->records[i].data_len)], 1) == 0)
            atomic_fetch_add(&c->ids_seen, 1);
    kn_checkpoint(cp);
}

static void cons_log(void *opaque, kn_log_level_t level, const char *facility, const char *msg) {
    (void)level;
    (void)facility;
    if (strstr(msg, "dropped whole"))
        atomic_fetch_add(&((consumed_t *)opaque)->drop_lines, 1);
}

static void *cons_run(void *arg) {
    kn_consumer_run(arg);
    return NULL;
}

/*
 * Reads the resharded stream with one worker until every child shard is
 * caught up: each record exactly once, and exactly the aggregates the test's
 * KCL-style reader dropped are dropped (one warning each).
 */
static void consume_exactly_once(const char *stream, int n, size_t expect_dropped) {
    consumed_t c = {calloc((size_t)n, sizeof(atomic_int)), 0, 0};
    kn_conf_t *conf = kct_conf(stream, stream, "w-reshard", 3000);
    kn_conf_set_log_fn(conf, cons_log, &c);
    const kn_processor_t proc = {NULL, cons_records, NULL, NULL, NULL};
    char err[256];
    kn_consumer_t *w = kn_consumer_new(conf, &proc, &c, err, sizeof(err));
    ck_assert_msg(w != NULL, "%s", err);
    kn_conf_destroy(conf);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cons_run, w), 0);
    kn_consumer_stats_t st = {0};
    for (int64_t end = kct_now_ms() + 120000; kct_now_ms() < end; usleep(200000)) {
        kn_consumer_get_stats(w, &st);
        /* the 4 children are held and read to their tips only after both parents ended */
        if (atomic_load(&c.ids_seen) == n && st.leases_held == 4 && st.shards_caught_up == 4)
            break;
    }
    kn_consumer_shutdown(w);
    pthread_join(th, NULL);
    kn_consumer_get_stats(w, &st); /* final counts, after the last batch */
    kn_consumer_destroy(w);
    fprintf(stderr, "consumer: %d of %d records, %d aggregates dropped\n",
            atomic_load(&c.ids_seen), n, atomic_load(&c.drop_lines));
    for (int i = 0; i < n; i++)
        ck_assert_msg(atomic_load(&c.found[i]) == 1, "consumer: record %d delivered %d times", i,
                      atomic_load(&c.found[i]));
    ck_assert_int_eq(atomic_load(&c.drop_lines), (int)expect_dropped);
    ck_assert_uint_eq(st.dropped_aggregates, expect_dropped); /* the public counter agrees */
    ck_assert_uint_eq(st.dropped_records == 0, expect_dropped == 0);
    ck_assert_uint_eq(st.malformed_aggregates, 0);
    free(c.found);
}

static int *rs_found;
static void count_resharded(const char *shard, kn_u128_t lo, kn_u128_t hi, const char *seq,
                            int64_t sub, int aggregated, const uint8_t *data, size_t len,
                            const char *pk, size_t pk_len, const char *ehk, size_t ehk_len) {
    (void)shard, (void)seq, (void)sub, (void)aggregated, (void)ehk, (void)ehk_len;
    int id = data_id(data, len);
    kn_u128_t h;
    kn_hashkey_from_partition_key(pk, pk_len, &h);
    ck_assert(kn_u128_cmp(lo, h) <= 0 && kn_u128_cmp(h, hi) <= 0);
    rs_found[id]++;
}

/* Records put with a stale shard map (after a reshard) still reach a KCL-style reader
 * exactly once: aggregates that landed on a shard not holding all their records are sent
 * again (a KCL drops those), plain records are fine wherever they land. */
START_TEST(kinesis_local_reshard_while_producing) {
    const char *ep = kn_test_kinesis_endpoint();
    kn_kinesis_t *k = client(ep);
    char stream[64];
    kn_test_unique_name("producer-reshard", stream, sizeof(stream));
    create_stream(k, stream, 2);
    const char *props[] = {"record.ttl.ms", "600000", NULL};
    kn_producer_t *p = producer(ep, props);
    const int n = 20000;
    reset_seen(n);
    char key[32], data[32];
    for (int i = 0; i < n; i++) {
        if (i == n / 2) {
            /* the producer's map now says 2 shards; the stream gets 4 */
            ck_assert_int_eq(kn_producer_flush(p, 600000, NULL), KN_OK);
            kn_error_t *e = NULL;
            char buf[512];
            ck_assert_msg(kn_kinesis_update_shard_count(k, stream, 4, &e) == KN_OK, "%s",
                          kn_error_format(e, buf, sizeof(buf)));
            ck_assert_msg(kn_kinesis_wait_stream_active(k, stream, 60000, &e) == KN_OK, "%s",
                          kn_error_format(e, buf, sizeof(buf)));
        }
        snprintf(key, sizeof(key), "key-%d", i % 500);
        snprintf(data, sizeof(data), "id:%d", i);
        ck_assert_int_eq(kn_producer_put(p, stream, key, NULL, data, strlen(data),
                                         (void *)(intptr_t)i),
                         KN_OK);
    }
    ck_assert_int_eq(kn_producer_flush(p, 600000, NULL), KN_OK);
    char *js = kn_producer_stats_json(p);
    fprintf(stderr, "reshard stats: %s\n", js);
    ck_assert_ptr_nonnull(strstr(js, "\"shard_map_updates\":"));
    ck_assert_ptr_null(strstr(js, "\"shard_map_updates\":1,")); /* refreshed after the reshard */
    free(js);
    kn_producer_destroy(p);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(seen[i].count, 1);
        ck_assert_int_eq(seen[i].err, KN_OK);
    }
    rs_found = calloc((size_t)n, sizeof(int));
    read_back(k, stream, count_resharded);
    fprintf(stderr, "aggregates a KCL would drop: %zu\n", kcl_dropped);
    for (int i = 0; i < n; i++)
        ck_assert_msg(rs_found[i] == 1, "record %d read %d times", i, rs_found[i]);
    free(rs_found);
    consume_exactly_once(stream, n, kcl_dropped);
    kn_error_t *e = NULL;
    kn_kinesis_delete_stream(k, stream, 1, &e);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
}
END_TEST

static Suite *suite(void) {
    kn_test_require_peers(); /* exits 77 (skipped) without them */
    Suite *s = suite_create("producer_peers");
    TCase *tc = tcase_create("peers");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, kinesis_local_100k_strict);
    tcase_add_test(tc, kinesalite_never_rejects);
    tcase_add_test(tc, kinesis_local_reshard_while_producing);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
