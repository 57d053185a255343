/*
 * demo: the main job on the local peers, through the public API.
 *
 *  1. creates a stream (kinesis.h);
 *  2. produces records over many partition keys with the producer library
 *     (aggregated KPL records, batched PutRecords, one delivery report each);
 *  3. consumes them with the consumer library (a lease table in DynamoDB,
 *     polling, deaggregation, checkpoints) until every record has arrived;
 *  4. prints what happened and checks it: every record exactly once, each
 *     partition key in put order.
 *
 * Endpoints and credentials come from the environment (samples/demo.sh starts
 * the peers and exports them).
 *
 *   demo [RECORDS] [SHARDS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kinesis/consumer.h>
#include <kinesis/kinesis.h>
#include <kinesis/producer.h>

#define DEMO_KEYS 100
#define DEMO_WAIT_MS 60000
#define DEMO_CONSUME_TIMEOUT_S 180

typedef struct demo_s {
    int records;
    /* producer side, written by the report thread */
    atomic_int delivered, failed, aggregated;
    /* consumer side: record i is "key-K:i"; seen[i] counts deliveries */
    unsigned char *seen;
    int last_index[DEMO_KEYS]; /* per key, the last index consumed, for the order check */
    pthread_mutex_t lock;
    int consumed, duplicates, out_of_order;
    kn_consumer_t *consumer;
} demo_t;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int conf_set(kn_conf_t *conf, const char *name, const char *value) {
    char err[256];
    if (kn_conf_set(conf, name, value, err, sizeof(err)) == KN_OK)
        return 0;
    fprintf(stderr, "demo: %s\n", err);
    return -1;
}

static void print_error(const char *what, const kn_error_t *err) {
    char buf[1024];
    fprintf(stderr, "demo: %s: %s\n", what, kn_error_format(err, buf, sizeof(buf)));
}

/* ------------------------------------------------------------------ stream */

static int create_stream(const char *stream, int shards) {
    kn_conf_t *conf = kn_conf_new();
    char errstr[512];
    kn_kinesis_t *k = conf ? kn_kinesis_new(conf, errstr, sizeof(errstr)) : NULL;
    kn_conf_destroy(conf);
    if (!k) {
        fprintf(stderr, "demo: %s\n", conf ? errstr : "out of memory");
        return -1;
    }
    printf("Kinesis endpoint %s, region %s\n", kn_kinesis_endpoint(k), kn_kinesis_region(k));
    kn_error_t *err = NULL;
    int rc = 0;
    if (kn_kinesis_create_stream(k, stream, shards, KN_STREAM_MODE_PROVISIONED, &err) ||
        kn_kinesis_wait_stream_active(k, stream, DEMO_WAIT_MS, &err)) {
        print_error("create stream", err);
        rc = -1;
    } else {
        printf("1. created stream %s with %d shards\n", stream, shards);
    }
    kn_error_destroy(err);
    kn_kinesis_destroy(k);
    return rc;
}

/* ---------------------------------------------------------------- producer */

/* Runs on the producer's report thread. */
static void on_report(const kn_delivery_report_t *r, void *opaque) {
    demo_t *d = opaque;
    if (r->error) {
        char buf[512];
        fprintf(stderr, "demo: record %s not delivered: %s\n", (const char *)r->opaque,
                kn_error_format(r->error, buf, sizeof(buf)));
        atomic_fetch_add(&d->failed, 1);
        return;
    }
    atomic_fetch_add(&d->delivered, 1);
    if (r->aggregated)
        atomic_fetch_add(&d->aggregated, 1);
}

static int produce(demo_t *d, const char *stream) {
    kn_conf_t *conf = kn_conf_new();
    if (!conf || conf_set(conf, "ordering", "strict")) {
        kn_conf_destroy(conf);
        return -1;
    }
    kn_conf_set_delivery_report_fn(conf, on_report, d);
    char errstr[512];
    kn_producer_t *p = kn_producer_new(conf, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "demo: %s\n", errstr);
        kn_conf_destroy(conf);
        return -1;
    }
    int64_t t0 = now_ms();
    for (int i = 0; i < d->records; i++) {
        char key[16], data[64];
        snprintf(key, sizeof(key), "key-%d", i % DEMO_KEYS);
        int len = snprintf(data, sizeof(data), "%s:%d", key, i);
        kn_err_t e = kn_producer_put(p, stream, key, NULL, data, (size_t)len, NULL);
        if (e != KN_OK) {
            fprintf(stderr, "demo: put record %d: %s\n", i, kn_err2str(e));
            kn_producer_destroy(p);
            return -1;
        }
    }
    size_t outstanding = 0;
    kn_producer_flush(p, DEMO_WAIT_MS, &outstanding);
    int64_t t1 = now_ms();
    char *stats = kn_producer_stats_json(p);
    kn_producer_destroy(p); /* reports whatever is left, so the counts below are final */
    printf("2. produced %d records over %d keys in %lld ms: %d delivered (%d inside KPL "
           "aggregates), %d failed\n",
           d->records, DEMO_KEYS, (long long)(t1 - t0), atomic_load(&d->delivered),
           atomic_load(&d->aggregated), atomic_load(&d->failed));
    if (stats)
        printf("   producer statistics: %.300s%s\n", stats, strlen(stats) > 300 ? "..." : "");
    free(stats);
    return atomic_load(&d->delivered) == d->records ? 0 : -1;
}

/* ---------------------------------------------------------------- consumer */

/* The processor callbacks run on the consumer's pool threads, one shard at a time each. */
static void on_initialize(void *opaque, const kn_shard_start_t *start, void **state) {
    (void)opaque;
    (void)state;
    printf("   consumer: took %s from %s\n", start->shard_id, start->checkpoint);
}

static void on_records(void *opaque, void *state, const kn_batch_t *batch, kn_checkpointer_t *cp) {
    demo_t *d = opaque;
    (void)state;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < batch->count; i++) {
        const kn_user_record_t *r = &batch->records[i];
        int key, index;
        char text[64];
        size_t n = r->data_len < sizeof(text) - 1 ? r->data_len : sizeof(text) - 1;
        memcpy(text, r->data, n);
        text[n] = '\0';
        if (sscanf(text, "key-%d:%d", &key, &index) != 2 || key < 0 || key >= DEMO_KEYS ||
            index < 0 || index >= d->records)
            continue;
        if (d->seen[index]++) {
            d->duplicates++;
            continue;
        }
        if (index < d->last_index[key])
            d->out_of_order++;
        d->last_index[key] = index;
        d->consumed++;
    }
    int done = d->consumed == d->records;
    pthread_mutex_unlock(&d->lock);
    kn_checkpoint(cp);
    if (done)
        kn_consumer_shutdown(d->consumer);
}

static void on_lease_lost(void *opaque, void *state) {
    (void)opaque;
    (void)state;
}

static void on_shard_ended(void *opaque, void *state, kn_checkpointer_t *cp) {
    (void)opaque;
    (void)state;
    kn_checkpoint(cp);
}

static void on_shutdown(void *opaque, void *state, kn_checkpointer_t *cp) {
    (void)opaque;
    (void)state;
    kn_checkpoint(cp);
}

static void *watchdog(void *arg) {
    demo_t *d = arg;
    for (int s = 0; s < DEMO_CONSUME_TIMEOUT_S * 10; s++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&d->lock);
        int done = d->consumed == d->records;
        pthread_mutex_unlock(&d->lock);
        if (done)
            return NULL;
    }
    fprintf(stderr, "demo: not every record arrived within %d s; stopping\n",
            DEMO_CONSUME_TIMEOUT_S);
    kn_consumer_shutdown(d->consumer);
    return NULL;
}

static int consume(demo_t *d, const char *stream, const char *app) {
    static const kn_processor_t processor = {on_initialize, on_records, on_lease_lost,
                                             on_shard_ended, on_shutdown};
    kn_conf_t *conf = kn_conf_new();
    if (!conf || conf_set(conf, "application.name", app) || conf_set(conf, "stream.name", stream) ||
        conf_set(conf, "initial.position", "TRIM_HORIZON")) {
        kn_conf_destroy(conf);
        return -1;
    }
    char errstr[512];
    d->consumer = kn_consumer_new(conf, &processor, d, errstr, sizeof(errstr));
    kn_conf_destroy(conf);
    if (!d->consumer) {
        fprintf(stderr, "demo: %s\n", errstr);
        return -1;
    }
    pthread_t wd;
    int have_wd = pthread_create(&wd, NULL, watchdog, d) == 0;
    int64_t t0 = now_ms();
    kn_err_t e = kn_consumer_run(d->consumer);
    int64_t t1 = now_ms();
    if (have_wd)
        pthread_join(wd, NULL);
    if (e != KN_OK)
        print_error("consumer", kn_consumer_error(d->consumer));
    kn_consumer_stats_t st;
    kn_consumer_get_stats(d->consumer, &st);
    printf("3. consumed as worker %s of application %s in %lld ms: %d records, %llu batches, "
           "%llu Kinesis and %llu DynamoDB calls, %zu leases taken\n",
           kn_consumer_worker_id(d->consumer), app, (long long)(t1 - t0), d->consumed,
           (unsigned long long)st.batches_delivered, (unsigned long long)st.kinesis_calls,
           (unsigned long long)st.dynamodb_calls, (size_t)st.leases_taken);
    kn_consumer_destroy(d->consumer);
    d->consumer = NULL;
    return e == KN_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    int records = argc > 1 ? atoi(argv[1]) : 20000;
    int shards = argc > 2 ? atoi(argv[2]) : 4;
    if (records <= 0 || records > 10000000 || shards <= 0 || shards > 50) {
        fprintf(stderr, "usage: demo [RECORDS 1..10000000] [SHARDS 1..50]\n");
        return 2;
    }
    char stream[64], app[64];
    long stamp = (long)time(NULL);
    snprintf(stream, sizeof(stream), "demo-%ld", stamp);
    snprintf(app, sizeof(app), "demo-app-%ld", stamp);

    setvbuf(stdout, NULL, _IOLBF, 0); /* keep our lines in step with the library's log lines */
    demo_t d = {.records = records};
    pthread_mutex_init(&d.lock, NULL);
    for (int k = 0; k < DEMO_KEYS; k++)
        d.last_index[k] = -1;
    d.seen = calloc((size_t)records, 1);
    int rc = 1;
    if (!d.seen)
        goto out;
    if (create_stream(stream, shards) || produce(&d, stream) || consume(&d, stream, app))
        goto out;
    printf("4. %d of %d records consumed, %d duplicates, %d out of per-key order: %s\n",
           d.consumed, records, d.duplicates, d.out_of_order,
           d.consumed == records && !d.out_of_order ? "all there, in order" : "MISMATCH");
    rc = d.consumed == records && !d.out_of_order ? 0 : 1;
out:
    free(d.seen);
    pthread_mutex_destroy(&d.lock);
    return rc;
}
