/*
 * Consumer figures (printed, never failing on speed):
 *  1. user records per CPU-second from GetRecords reply text to the processor
 *     callback: reply parsing with base64 (records_json.c, what polling uses),
 *     KPL deaggregation, batch building and delivery, for 100-byte user records in 50 KB aggregates (the KPL default
 *     maximum) and for plain 100-byte records; the aggregates' partition keys all
 *     lie in the first shard of a 4-shard stream, whose hash range the batch
 *     builder checks (the KCL's rule), and deaggregation is also timed without it;
 * and, when the local peers run (tests/peers/peers.sh), on kinesis-local + dynalite:
 *  2. DynamoDB calls per worker per minute at steady state (idle shards, and
 *     shards receiving records with a checkpoint per batch);
 *  3. memory per held lease (malloc'd bytes in use);
 *  4. time from SIGKILL of a worker to another worker delivering its shards'
 *     records, for failover.time.ms 10000 (the default) and 3000.
 *
 * Usage: bench_consumer_bench [--quick]   (--quick: part 1 only)
 *        bench_consumer_bench --reps N    (part 1's aggregated reply N times, untimed,
 *                                          for valgrind --tool=callgrind)
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "base64.h"
#include "batch.h"
#include "hashkey.h"
#include "kinesis_json.h"
#include "kn_consumer_test.h"
#include "records_json.h"
#include "kn_test.h"

#define RECORD_LEN 100
#define AGG_MAX 51200
#define AGGS_PER_REPLY 100
#define PLAIN_PER_REPLY 10000
#define MIN_SECONDS 1.0
/* the first shard of a 4-shard stream: hash keys [0, 2^126 - 1] */
#define SHARD_START "0"
#define SHARD_END "85070591730234615865843651857942052863"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

/* ---- 1. GetRecords reply to processor ---- */

typedef struct {
    char *buf;
    size_t len, cap;
} text_t;

static void append(text_t *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = realloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void append_record(text_t *t, const uint8_t *data, size_t len, const char *pk, long seq) {
    size_t b64 = kn_base64_encoded_len(len);
    char *enc = malloc(b64 + 1);
    kn_base64_encode(data, len, enc, b64 + 1, NULL);
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "%s{\"SequenceNumber\":\"4959033827149025660855969253836157109592157598913%07ld\","
                     "\"ApproximateArrivalTimestamp\":1700000000.123,\"PartitionKey\":\"%s\","
                     "\"Data\":\"",
                     t->len > 12 ? "," : "", seq, pk);
    append(t, head, (size_t)n);
    append(t, enc, b64);
    append(t, "\"}", 2);
    free(enc);
}

/* A reply of AGGS_PER_REPLY aggregates (or PLAIN_PER_REPLY plain records); *users = user records. */
static char *make_reply(int aggregated, size_t *users) {
    text_t t = {0};
    append(&t, "{\"Records\":[", 12);
    uint8_t data[RECORD_LEN];
    memset(data, 'x', sizeof(data));
    *users = 0;
    long seq = 0;
    if (!aggregated) {
        for (int i = 0; i < PLAIN_PER_REPLY; i++, (*users)++) {
            char pk[32];
            snprintf(pk, sizeof(pk), "partition-%d", i);
            append_record(&t, data, sizeof(data), pk, seq++);
        }
    } else {
        kn_agg_builder_t *b = kn_agg_builder_new();
        uint8_t *agg = malloc(AGG_MAX);
        kn_u128_t end;
        kn_u128_parse_decimal(SHARD_END, strlen(SHARD_END), &end);
        int key = 0;
        for (int a = 0; a < AGGS_PER_REPLY; a++) {
            kn_agg_builder_reset(b);
            for (int i = 0;; i++) {
                char pk[32];
                kn_u128_t h;
                do { /* keys of the shard, as a producer aggregates them */
                    snprintf(pk, sizeof(pk), "partition-%d", key++);
                    kn_hashkey_from_partition_key(pk, strlen(pk), &h);
                } while (kn_u128_cmp(h, end) > 0);
                data[0] = (uint8_t)i;
                if (kn_agg_builder_add(b, pk, strlen(pk), NULL, 0, data, sizeof(data), AGG_MAX))
                    break;
            }
            size_t len;
            kn_agg_builder_finish(b, agg, AGG_MAX, &len);
            *users += kn_agg_builder_count(b);
            append_record(&t, agg, len, "partition-0", seq++);
        }
        free(agg);
        kn_agg_builder_destroy(b);
    }
    append(&t, "],\"NextShardIterator\":\"AAAA\",\"MillisBehindLatest\":0}", 52);
    return t.buf;
}

/* The processor: touches every record as an application minimally would. */
static void deliver(const kn_batch_t *batch) {
    size_t s = 0;
    for (size_t i = 0; i < batch->count; i++)
        s += batch->records[i].data_len + (size_t)batch->records[i].partition_key[0];
    sink += s;
}

/* The two stages of the whole path; the parse time (when not NULL) is added up. */
static __attribute__((noinline)) void reply_to_processor(const char *reply, size_t reply_len,
                                                         kn_batch_builder_t *bb, size_t users,
                                                         double *parse) {
    kn_esn_t after = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    double s0 = parse ? cpu_s() : 0;
    kn_get_records_result_t *r = NULL;
    if (kn_rj_parse_get_records(reply, reply_len, &r, NULL) != KN_OK)
        abort();
    if (parse)
        *parse += cpu_s() - s0;
    const kn_user_record_t *u;
    size_t n;
    kn_esn_t last;
    if (kn_batch_build(bb, r->records, r->record_count, &after, &u, &n, &last) || n != users)
        abort();
    kn_batch_t batch = {"shardId-000000000000", u, n, 0};
    deliver(&batch);
    kn_get_records_result_destroy(r);
}

/* Deaggregation and delivery of a parsed reply. */
static __attribute__((noinline)) void deaggregate(const kn_get_records_result_t *r,
                                                  kn_batch_builder_t *bb) {
    kn_esn_t after = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    const kn_user_record_t *u;
    size_t n;
    kn_batch_build(bb, r->records, r->record_count, &after, &u, &n, NULL);
    kn_batch_t batch = {"shardId-000000000000", u, n, 0};
    deliver(&batch);
}

static kn_get_records_result_t *parsed(const char *reply, size_t reply_len) {
    kn_get_records_result_t *r = NULL;
    kn_rj_parse_get_records(reply, reply_len, &r, NULL);
    return r;
}

/* The generic path the reply parser replaced: a cJSON tree, then the typed parse. */
static double cjson_path_ms(const char *reply, size_t reply_len) {
    size_t reps = 0;
    double t0 = cpu_s(), t;
    do {
        cJSON *j = cJSON_ParseWithLength(reply, reply_len);
        kn_get_records_result_t *r = NULL;
        if (kn_kj_parse_get_records(j, &r, NULL) != KN_OK)
            abort();
        cJSON_Delete(j);
        kn_get_records_result_destroy(r);
        reps++;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    return 1e3 * t / (double)reps;
}

/*
 * --reps N: exactly N whole-path runs of the aggregated reply (hash range
 * checked), then N deaggregations without the check, and no timing: for
 * counting instructions with valgrind --tool=callgrind, which repeats exactly
 * on a busy machine.
 */
static void count_delivery(int reps) {
    size_t users;
    char *reply = make_reply(1, &users);
    size_t reply_len = strlen(reply);
    kn_batch_builder_t *bb = kn_batch_builder_new();
    if (kn_batch_builder_set_hash_range(bb, SHARD_START, SHARD_END))
        abort();
    for (int i = 0; i < reps; i++)
        reply_to_processor(reply, reply_len, bb, users, NULL);
    kn_get_records_result_t *r = parsed(reply, reply_len);
    kn_batch_builder_set_hash_range(bb, NULL, NULL);
    for (int i = 0; i < reps; i++)
        deaggregate(r, bb);
    kn_get_records_result_destroy(r);
    printf("%d runs of a %zu-byte reply holding %zu user records\n", reps, reply_len, users);
    kn_batch_builder_destroy(bb);
    free(reply);
}

static void bench_delivery(int aggregated) {
    size_t users;
    char *reply = make_reply(aggregated, &users);
    size_t reply_len = strlen(reply);
    kn_batch_builder_t *bb = kn_batch_builder_new();
    if (kn_batch_builder_set_hash_range(bb, SHARD_START, SHARD_END))
        abort();
    double full = 0, build = 0, build_nr = 0, parse = 0;
    size_t reps = 0, built_reps = 0, built_nr_reps = 0;
    /* whole path: reply text -> processor, timing its three stages */
    double t0 = cpu_s();
    do {
        reply_to_processor(reply, reply_len, bb, users, &parse);
        reps++;
    } while ((full = cpu_s() - t0) < MIN_SECONDS);
    /* deaggregation and delivery only, with and without the hash-range check */
    kn_get_records_result_t *r = parsed(reply, reply_len);
    t0 = cpu_s();
    do {
        deaggregate(r, bb);
        built_reps++;
    } while ((build = cpu_s() - t0) < MIN_SECONDS);
    kn_batch_builder_set_hash_range(bb, NULL, NULL);
    t0 = cpu_s();
    do {
        deaggregate(r, bb);
        built_nr_reps++;
    } while ((build_nr = cpu_s() - t0) < MIN_SECONDS);
    kn_get_records_result_destroy(r);
    printf("%-44s %10.0f user records/CPU-s\n"
           "    %.1f MB reply of %zu user records: %.1f ms CPU each = reply parse with base64 %.1f "
           "(cJSON path: %.1f) + deaggregation/delivery %.1f; the last alone: %.0f/CPU-s "
           "(%.1f ms), without the hash-range check %.0f/CPU-s (%.1f ms)\n",
           aggregated ? "GetRecords reply -> processor, KPL 50 KB" : "GetRecords reply -> processor, plain",
           (double)(reps * users) / full, (double)reply_len / 1e6, users, 1e3 * full / reps,
           1e3 * parse / reps, cjson_path_ms(reply, reply_len), 1e3 * (full - parse) / reps,
           (double)(built_reps * users) / build, 1e3 * build / built_reps,
           (double)(built_nr_reps * users) / build_nr, 1e3 * build_nr / built_nr_reps);
    kn_batch_builder_destroy(bb);
    free(reply);
}

/* ---- 2-4: on the local peers ---- */

typedef struct {
    atomic_uint_least64_t records;
} count_t;

static void count_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    (void)state;
    atomic_fetch_add(&((count_t *)opaque)->records, b->count);
    kn_checkpoint(cp);
}

static const kn_processor_t counting = {NULL, count_records, NULL, NULL, NULL};

typedef struct {
    kn_consumer_t *c;
    pthread_t th;
} runner_t;

static void *run_main(void *arg) {
    kn_consumer_run(((runner_t *)arg)->c);
    return NULL;
}

static kn_consumer_t *start(runner_t *r, const char *stream, int failover_ms, count_t *cnt) {
    kn_conf_t *conf = kct_conf(stream, stream, NULL, failover_ms);
    kn_conf_set(conf, "idle.time.between.reads.ms", "1000", NULL, 0);
    char err[256];
    r->c = kn_consumer_new(conf, &counting, cnt, err, sizeof(err));
    kn_conf_destroy(conf);
    if (!r->c) {
        fprintf(stderr, "consumer: %s\n", err);
        exit(1);
    }
    pthread_create(&r->th, NULL, run_main, r);
    return r->c;
}

static void stop(runner_t *r) {
    kn_consumer_shutdown(r->c);
    pthread_join(r->th, NULL);
    kn_consumer_destroy(r->c);
}

static void wait_held(kn_consumer_t *c, size_t n) {
    for (int i = 0; i < 600; i++) {
        kn_consumer_stats_t st;
        kn_consumer_get_stats(c, &st);
        if (st.leases_held == n && st.shards_caught_up == n)
            return;
        usleep(100000);
    }
    fprintf(stderr, "worker did not settle on %zu leases\n", n);
}

static void bench_ddb_calls(kn_kinesis_t *k) {
    char stream[64];
    kn_test_unique_name("bench-ddb", stream, sizeof(stream));
    const int shards = 8, seconds = 30;
    kct_create_stream(k, stream, shards);
    count_t cnt;
    atomic_init(&cnt.records, 0);
    runner_t r;
    kn_consumer_t *c = start(&r, stream, 10000, &cnt);
    wait_held(c, (size_t)shards);
    sleep(2);
    kn_consumer_stats_t a, b;
    kn_consumer_get_stats(c, &a);
    sleep((unsigned)seconds);
    kn_consumer_get_stats(c, &b);
    double idle = (double)(b.dynamodb_calls - a.dynamodb_calls) * 60.0 / seconds;
    double kin_idle = (double)(b.kinesis_calls - a.kinesis_calls) * 60.0 / seconds;
    /* records arriving on every shard: one checkpoint per non-empty batch */
    kn_consumer_get_stats(c, &a);
    for (int s = 0; s < seconds; s++) {
        kct_put(k, stream, "d", s * 40, s * 40 + 40, 40);
        sleep(1);
    }
    kn_consumer_get_stats(c, &b);
    double busy = (double)(b.dynamodb_calls - a.dynamodb_calls) * 60.0 / seconds;
    printf("%-44s %10.0f /min idle, %.0f /min with records (checkpoint per batch); "
           "%d leases, failover 10 s; Kinesis calls %.0f /min idle\n",
           "DynamoDB calls per worker", idle, busy, shards, kin_idle);
    stop(&r);
    kct_delete_stream(k, stream);
}

static size_t in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Bytes in use with a worker holding every lease of an n-shard stream, caught up. */
static size_t worker_bytes(kn_kinesis_t *k, int n) {
    char stream[64];
    kn_test_unique_name("bench-mem", stream, sizeof(stream));
    kct_create_stream(k, stream, n);
    count_t cnt;
    atomic_init(&cnt.records, 0);
    size_t before = in_use();
    runner_t r;
    kn_consumer_t *c = start(&r, stream, 10000, &cnt);
    wait_held(c, (size_t)n);
    sleep(3);
    size_t used = in_use() - before;
    stop(&r);
    kct_delete_stream(k, stream);
    return used;
}

static void bench_memory(kn_kinesis_t *k) {
    size_t one = worker_bytes(k, 1), many = worker_bytes(k, 41);
    printf("%-44s %10.0f bytes  (worker with 1 lease: %zu bytes, with 41: %zu bytes)\n",
           "memory per held lease (idle shards)", (double)(many - one) / 40.0, one, many);
}

/* Two worker processes; one is SIGKILLed; when does the other deliver its shards' records? */
static void bench_failover(kn_kinesis_t *k, int failover_ms) {
    char stream[64], logs[2][160];
    kn_test_unique_name("bench-kill", stream, sizeof(stream));
    kct_create_stream(k, stream, 4);
    int pid[2];
    const char *ids[2] = {"k0", "k1"};
    for (int i = 0; i < 2; i++) {
        snprintf(logs[i], sizeof(logs[i]), "/tmp/%s-%s.log", stream, ids[i]);
        pid[i] = kct_spawn_worker(stream, stream, ids[i], logs[i], failover_ms);
    }
    /* wait for a 2/2 split: each log shows two initialized shards */
    for (int t = 0; t < 600; t++) {
        kct_line_t *l = NULL;
        size_t n = 0, inits[2] = {0, 0};
        for (int i = 0; i < 2; i++)
            kct_read(logs[i], i, &l, &n);
        for (size_t i = 0; i < n; i++)
            inits[l[i].worker] += l[i].kind == 'I';
        free(l);
        if (inits[0] >= 2 && inits[1] >= 2)
            break;
        usleep(100000);
    }
    sleep(2);
    int64_t killed = kct_now_ms();
    kill(pid[1], SIGKILL);
    kct_wait_worker(pid[1], 5000);
    int64_t resumed = -1;
    for (int i = 0; resumed < 0 && i < 1200; i++) {
        kct_put(k, stream, "f", i * 8, i * 8 + 8, 8);
        kct_line_t *l = NULL;
        size_t n = 0;
        kct_read(logs[0], 0, &l, &n);
        kct_read(logs[1], 1, &l, &n);
        for (size_t a = 0; a < n && resumed < 0; a++) {
            if (l[a].worker != 1 || l[a].kind != 'I')
                continue; /* a shard k1 had */
            for (size_t b = 0; b < n; b++)
                if (l[b].worker == 0 && l[b].kind == 'R' && l[b].ms > killed &&
                    !strcmp(l[b].shard, l[a].shard) && (resumed < 0 || l[b].ms < resumed))
                    resumed = l[b].ms;
        }
        free(l);
        usleep(50000);
    }
    printf("%-44s %10lld ms  (failover.time.ms %d; renewal/taking cycle %d ms)\n",
           "SIGKILL -> other worker delivers its shards", (long long)(resumed - killed),
           failover_ms, failover_ms / 3 - 25);
    kill(pid[0], SIGTERM);
    kct_wait_worker(pid[0], 60000);
    for (int i = 0; i < 2; i++)
        unlink(logs[i]);
    kct_delete_stream(k, stream);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "worker"))
        return kct_worker_main(argc, argv);
    if (argc > 2 && !strcmp(argv[1], "--reps")) {
        count_delivery(atoi(argv[2]));
        return 0;
    }
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    bench_delivery(1);
    bench_delivery(0);
    if (quick)
        return 0;
    if (!kn_test_kinesis_endpoint() || !kn_test_dynamodb_endpoint()) {
        printf("(peers not running: eval \"$(tests/peers/peers.sh start)\" for the lease figures)\n");
        return 0;
    }
    kn_test_require_peers();
    kn_kinesis_t *k = kct_kinesis();
    bench_ddb_calls(k);
    bench_memory(k);
    bench_failover(k, 10000);
    bench_failover(k, 3000);
    kn_kinesis_destroy(k);
    return 0;
}
