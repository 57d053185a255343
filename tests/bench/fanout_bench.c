/*
 * Enhanced fan-out figures. Prints; never fails on speed.
 *
 *   bench_fanout_bench decode    the per-shard core on large events, no peers: bytes
 *                                through the push decoder into the queue (16 KiB chunks as
 *                                HTTP/2 hands them over), then JSON + base64 to records
 *   bench_fanout_bench latency   put -> process_records p50/p99 on kinesis-local + dynalite:
 *                                polling (idle 1000 and 200 ms) against fan-out (h2c, TLS)
 *   bench_fanout_bench memory    heap and RSS per idle subscription (h2c, TLS), and what a
 *                                paused subscription holds while data keeps coming
 *   bench_fanout_bench           all of them (latency and memory need the peers)
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "event_stream.h"
#include "fanout.h"
#include "fanout_registration.h"
#include "kinesis/consumer.h"
#include "kn_consumer_test.h"
#include "kn_test.h"

#define EVENT_RECORDS 1000
#define RECORD_DATA 700 /* bytes: about 1 MiB of JSON per event */
#define CHUNK (16 * 1024)
#define MIN_SECONDS 1.0
#define LATENCY_RECORDS 300
#define LATENCY_GAP_US 50000
#define MEMORY_SHARDS 40
#define PAUSED_MB 4 /* put in 100 KB records */

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- decode ---- */

/* One SubscribeToShardEvent of EVENT_RECORDS records as the service frames it. */
static uint8_t *make_event(size_t *len) {
    uint8_t data[RECORD_DATA];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 31 + 7);
    char *b64 = malloc(RECORD_DATA * 2);
    size_t b64len = 0;
    kn_base64_encode(data, sizeof(data), b64, RECORD_DATA * 2, &b64len);
    size_t cap = EVENT_RECORDS * (b64len + 256) + 256, o = 0;
    char *json = malloc(cap);
    o += (size_t)snprintf(json + o, cap - o, "{\"Records\":[");
    for (int i = 0; i < EVENT_RECORDS; i++)
        o += (size_t)snprintf(json + o, cap - o,
                              "%s{\"Data\":\"%.*s\",\"PartitionKey\":\"device-%d\",\"SequenceNumber\":"
                              "\"4968045082535264341853911466892221053702580094883%07d\","
                              "\"ApproximateArrivalTimestamp\":1795325436.618}",
                              i ? "," : "", (int)b64len, b64, i, i);
    o += (size_t)snprintf(json + o, cap - o,
                          "],\"ContinuationSequenceNumber\":"
                          "\"4968045082535264341853911466892221053702580094883%07d\","
                          "\"MillisBehindLatest\":0}", EVENT_RECORDS - 1);
    kn_es_header_t h[3] = {kn_es_header_string(KN_ES_HDR_MESSAGE_TYPE, "event"),
                           kn_es_header_string(KN_ES_HDR_EVENT_TYPE, "SubscribeToShardEvent"),
                           kn_es_header_string(KN_ES_HDR_CONTENT_TYPE, "application/json")};
    size_t size;
    kn_es_encoded_size(h, 3, o, &size);
    uint8_t *ev = malloc(size);
    kn_es_encode(h, 3, json, o, ev, size, len);
    free(json);
    free(b64);
    return ev;
}

static void bench_decode(void) {
    size_t len;
    uint8_t *ev = make_event(&len);
    kn_fo_limits_t lim = {1000000, (size_t)1 << 40, 30000};
    kn_esn_t th = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    for (int settle = 0; settle < 2; settle++) {
        kn_fo_stream_t *s = NULL;
        size_t events = 0, records = 0;
        double t0 = cpu_s(), t;
        do {
            if (!s || settle) { /* parsing: a fresh shard each time, so no record is a repeat */
                kn_fo_stream_destroy(s);
                s = kn_fo_stream_new(&lim, &th, 0, 1);
                kn_position_t pos;
                int64_t wait;
                kn_fo_stream_next(s, 0, &pos, &wait);
            }
            for (size_t o = 0; o < len; o += CHUNK)
                kn_fo_stream_feed(s, ev + o, len - o < CHUNK ? len - o : CHUNK, 0, NULL);
            int resume;
            kn_fo_item_t *it = kn_fo_stream_take(s, 0, &resume);
            if (settle) {
                kn_get_records_result_t *res = NULL;
                int end;
                kn_fo_stream_settle(s, it, &res, &end, NULL);
                records += res ? res->record_count : 0;
                kn_get_records_result_destroy(res);
            } else {
                kn_fo_item_free(it);
            }
            events++;
        } while ((t = cpu_s() - t0) < MIN_SECONDS);
        double mb = (double)len * (double)events / 1e6;
        if (!settle)
            printf("%-52s %8.0f MB/s  (%.2f MB events, %d KiB chunks)\n",
                   "wire bytes -> decoded, CRC-checked, queued", mb / t, (double)len / 1e6,
                   CHUNK / 1024);
        else
            printf("%-52s %8.0f MB/s  %6.2f M records/s of 700 bytes\n",
                   "... and parsed to records (JSON, base64)", mb / t, (double)records / t / 1e6);
        kn_fo_stream_destroy(s);
    }
    free(ev);
}

/* ---- latency ---- */

typedef struct {
    int64_t *lat;
    atomic_int n;
} lat_t;

static void lat_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    (void)state;
    lat_t *l = opaque;
    int64_t now = kct_now_ms();
    for (size_t i = 0; i < b->count; i++) {
        int idx = atomic_fetch_add(&l->n, 1);
        if (idx < LATENCY_RECORDS)
            l->lat[idx] = now - strtoll((const char *)b->records[i].data, NULL, 10);
    }
    kn_checkpoint(cp);
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    kn_consumer_t *c;
    pthread_t th;
} runner_t;

static void *run_main(void *arg) {
    kn_consumer_run(((runner_t *)arg)->c);
    return NULL;
}

static void bench_latency_mode(kn_kinesis_t *k, const char *label, const char *const *props) {
    char stream[64], err[512];
    kn_test_unique_name("fo-lat", stream, sizeof(stream));
    kct_create_stream(k, stream, 2);
    kn_conf_t *conf = kct_conf(stream, stream, NULL, 10000);
    for (size_t i = 0; props[i]; i += 2)
        if (kn_conf_set(conf, props[i], props[i + 1], err, sizeof(err)))
            printf("%s: %s\n", label, err);
    lat_t l = {calloc(LATENCY_RECORDS, sizeof(int64_t)), 0};
    atomic_init(&l.n, 0);
    kn_processor_t proc = {NULL, lat_records, NULL, NULL, NULL};
    runner_t r = {kn_consumer_new(conf, &proc, &l, err, sizeof(err)), 0};
    kn_conf_destroy(conf);
    if (!r.c) {
        printf("%s: %s\n", label, err);
        return;
    }
    pthread_create(&r.th, NULL, run_main, &r);
    for (int64_t end = kct_now_ms() + 60000; kct_now_ms() < end; usleep(50000)) {
        kn_consumer_stats_t st;
        kn_consumer_get_stats(r.c, &st);
        if (st.leases_held == 2 && st.shards_caught_up == 2)
            break;
    }
    for (int i = 0; i < LATENCY_RECORDS; i++) {
        char data[32], key[16];
        snprintf(data, sizeof(data), "%lld", (long long)kct_now_ms());
        snprintf(key, sizeof(key), "k%d", i);
        kn_put_entry_t ent = {data, strlen(data), key, NULL};
        kn_put_records_result_t *res = NULL;
        kn_error_t *e = NULL;
        kn_kinesis_put_records(k, stream, &ent, 1, &res, &e);
        kn_put_records_result_destroy(res);
        kn_error_destroy(e);
        usleep(LATENCY_GAP_US);
    }
    for (int64_t end = kct_now_ms() + 60000;
         kct_now_ms() < end && atomic_load(&l.n) < LATENCY_RECORDS;)
        usleep(50000);
    kn_consumer_shutdown(r.c);
    pthread_join(r.th, NULL);
    kn_consumer_destroy(r.c);
    int n = atomic_load(&l.n) < LATENCY_RECORDS ? atomic_load(&l.n) : LATENCY_RECORDS;
    qsort(l.lat, (size_t)n, sizeof(int64_t), cmp64);
    if (n)
        printf("%-40s p50 %5lld ms  p99 %5lld ms  max %5lld ms  (%d records)\n", label,
               (long long)l.lat[n / 2], (long long)l.lat[n * 99 / 100], (long long)l.lat[n - 1],
               n);
    free(l.lat);
    kct_delete_stream(k, stream);
}

static void bench_latency(kn_kinesis_t *k) {
    static const char *const poll1000[] = {"idle.time.between.reads.ms", "1000", NULL};
    static const char *const poll200[] = {"idle.time.between.reads.ms", "200", NULL};
    static const char *const fo_h2c[] = {"retrieval.mode", "fanout", NULL};
    const char *tls_ep = kn_test_kinesis_tls_endpoint(), *ca = getenv("KN_TEST_CA_FILE");
    const char *const fo_tls[] = {"retrieval.mode", "fanout", "kinesis.endpoint.url", tls_ep,
                                  "tls.ca.file", ca, NULL};
    printf("put -> process_records, one record every %d ms, 2 shards, kinesis-local:\n",
           LATENCY_GAP_US / 1000);
    bench_latency_mode(k, "polling, idle.time.between.reads 1000", poll1000);
    bench_latency_mode(k, "polling, idle.time.between.reads 200", poll200);
    bench_latency_mode(k, "fan-out, h2c", fo_h2c);
    if (tls_ep && ca)
        bench_latency_mode(k, "fan-out, TLS", fo_tls);
}

/* ---- memory ---- */

static size_t heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    if (f)
        fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static kn_conf_t *conf_for(int tls) {
    kn_conf_t *conf = kn_conf_new();
    kn_conf_set(conf, "log.level", "error", NULL, 0);
    if (tls) {
        kn_conf_set(conf, "kinesis.endpoint.url", kn_test_kinesis_tls_endpoint(), NULL, 0);
        kn_conf_set(conf, "tls.ca.file", getenv("KN_TEST_CA_FILE"), NULL, 0);
    }
    return conf;
}

/* Fetches r until `events` events arrived (or 60 s). */
static void fetch_events(kn_retriever_t *r, uint64_t events) {
    for (int64_t end = kct_now_ms() + 60000; kct_now_ms() < end;) {
        kn_fo_stats_t st;
        kn_fanout_retriever_stats(r, &st);
        if (st.events >= events)
            return;
        kn_fetch_t f;
        kn_error_t *e = NULL;
        if (r->fetch(r, &f, &e) == KN_OK)
            kn_get_records_result_destroy(f.result);
        kn_error_destroy(e);
        usleep(20000);
    }
}

static void bench_memory_mode(kn_kinesis_t *pk, int tls) {
    char stream[64];
    kn_test_unique_name("fo-mem", stream, sizeof(stream));
    kct_create_stream(pk, stream, MEMORY_SHARDS);
    kn_conf_t *conf = conf_for(tls);
    char err[512];
    kn_kinesis_t *k = kn_kinesis_new(conf, err, sizeof(err));
    char *arn = NULL;
    kn_error_t *e = NULL;
    kn_fanout_t *fo = NULL;
    kn_fanout_conf_t fc = {stream, NULL, 1, 1 << 20, 0, NULL};
    if (!k || kn_fanout_register(k, stream, "mem", 60000, NULL, NULL, &arn, &e) ||
        !(fc.consumer_arn = arn) || !(fo = kn_fanout_new(conf, k, NULL, &fc, NULL, &e))) {
        printf("memory: cannot start: %s\n", e ? kn_error_message(e) : err);
        kn_error_destroy(e);
        kn_kinesis_destroy(k);
        kn_conf_destroy(conf);
        free(arn);
        return;
    }
    kn_retriever_t *r[MEMORY_SHARDS];
    /* a first subscription warms the transport (TLS context, connection) */
    char shard[32];
    kn_retrieval_start_t start = {stream, shard, kn_esn_sentinel(KN_ESN_TRIM_HORIZON), 0};
    snprintf(shard, sizeof(shard), "shardId-%012d", 0);
    r[0] = kn_fanout_retriever_new(fo, &start, NULL, NULL);
    fetch_events(r[0], 1);
    size_t heap0 = heap_bytes(), rss0 = rss_bytes();
    for (int i = 1; i < MEMORY_SHARDS; i++) {
        snprintf(shard, sizeof(shard), "shardId-%012d", i);
        r[i] = kn_fanout_retriever_new(fo, &start, NULL, NULL);
        kn_fetch_t f; /* the first fetch subscribes */
        if (r[i]->fetch(r[i], &f, &e) == KN_OK)
            kn_get_records_result_destroy(f.result);
        kn_error_destroy(e);
        e = NULL;
    }
    for (int i = 1; i < MEMORY_SHARDS; i++)
        fetch_events(r[i], 1);
    size_t heap1 = heap_bytes(), rss1 = rss_bytes();
    printf("%-4s idle subscriptions: %6.1f KB heap, %6.1f KB RSS each (%d subscriptions)\n",
           tls ? "TLS" : "h2c", (double)(heap1 - heap0) / 1024 / (MEMORY_SHARDS - 1),
           (double)((ssize_t)rss1 - (ssize_t)rss0) / 1024 / (MEMORY_SHARDS - 1), MEMORY_SHARDS);

    /* shard 0's processor stops (queue bound: 1 event) while PAUSED_MB arrive for it */
    fetch_events(r[0], 2);
    size_t heap2 = heap_bytes();
    static char big[100 * 1024];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < PAUSED_MB * 10; i++) {
        kn_put_entry_t ent = {big, sizeof(big), "k", "0"};
        kn_put_records_result_t *res = NULL;
        kn_kinesis_put_records(pk, stream, &ent, 1, &res, &e);
        kn_put_records_result_destroy(res);
        kn_error_destroy(e);
        e = NULL;
    }
    usleep(5000000);
    kn_fo_stats_t st;
    kn_fanout_retriever_stats(r[0], &st);
    size_t heap3 = heap_bytes();
    printf("%-4s paused subscription while %d MB arrived for it: heap +%.2f MB, queue %zu "
           "event(s) / %.2f MB, paused %d\n",
           tls ? "TLS" : "h2c", PAUSED_MB, (double)((ssize_t)heap3 - (ssize_t)heap2) / 1e6,
           st.queued_events, (double)st.queued_bytes / 1e6, st.paused);
    /* the processor is back: the data held back by flow control arrives */
    int64_t t0 = kct_now_ms();
    size_t got = 0;
    while (got < PAUSED_MB * 10 && kct_now_ms() - t0 < 60000) {
        kn_fetch_t f;
        if (r[0]->fetch(r[0], &f, &e) == KN_OK && f.result) {
            got += f.result->record_count;
            kn_get_records_result_destroy(f.result);
        }
        kn_error_destroy(e);
        e = NULL;
        usleep(10000);
    }
    printf("%-4s resumed: %zu records of 100 KB received %lld ms later\n", tls ? "TLS" : "h2c",
           got, (long long)(kct_now_ms() - t0));
    for (int i = 0; i < MEMORY_SHARDS; i++)
        r[i]->destroy(r[i]);
    kn_fanout_destroy(fo);
    free(arn);
    kn_kinesis_destroy(k);
    kn_conf_destroy(conf);
    kct_delete_stream(pk, stream);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (all || !strcmp(what, "decode"))
        bench_decode();
    if (!all && strcmp(what, "latency") && strcmp(what, "memory"))
        return 0;
    if (!kn_test_kinesis_endpoint() || !kn_test_dynamodb_endpoint()) {
        printf("(peers not running: eval \"$(tests/peers/peers.sh start)\" for latency and "
               "memory)\n");
        return 0;
    }
    kn_test_require_peers();
    kn_kinesis_t *k = kct_kinesis();
    if (all || !strcmp(what, "latency"))
        bench_latency(k);
    if (all || !strcmp(what, "memory")) {
        bench_memory_mode(k, 0);
        if (kn_test_kinesis_tls_endpoint() && getenv("KN_TEST_CA_FILE"))
            bench_memory_mode(k, 1);
    }
    kn_kinesis_destroy(k);
    return 0;
}
