/*
 * demo: the main job on the local peers, through the public API.
 * Creates a stream, writes records with PutRecords, reads every shard back with
 * GetRecords and prints what happened. Endpoints and credentials come from the
 * environment (samples/demo.sh starts the peers and exports them).
 *
 *   demo [STREAM] [RECORDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kinesis/kinesis.h>

#define DEMO_SHARDS 2
#define DEMO_WAIT_MS 60000

static void fail(const char *what, const kn_error_t *err) {
    char buf[1024];
    fprintf(stderr, "demo: %s: %s\n", what, kn_error_format(err, buf, sizeof(buf)));
}

static int put_all(kn_kinesis_t *k, const char *stream, int n) {
    kn_put_entry_t entries[KN_KINESIS_MAX_PUT_RECORDS];
    char keys[KN_KINESIS_MAX_PUT_RECORDS][32], data[KN_KINESIS_MAX_PUT_RECORDS][64];
    int sent = 0;
    while (sent < n) {
        int batch = n - sent < KN_KINESIS_MAX_PUT_RECORDS ? n - sent : KN_KINESIS_MAX_PUT_RECORDS;
        for (int i = 0; i < batch; i++) {
            snprintf(keys[i], sizeof(keys[i]), "key-%d", (sent + i) % 10);
            int len = snprintf(data[i], sizeof(data[i]), "record %d", sent + i);
            entries[i] = (kn_put_entry_t){data[i], (size_t)len, keys[i], NULL};
        }
        kn_put_records_result_t *res = NULL;
        kn_error_t *err = NULL;
        if (kn_kinesis_put_records(k, stream, entries, (size_t)batch, &res, &err) != KN_OK) {
            fail("PutRecords", err);
            kn_error_destroy(err);
            return -1;
        }
        printf("PutRecords: %d records sent, %zu failed\n", batch, res->failed_record_count);
        kn_put_records_result_destroy(res);
        sent += batch;
    }
    return 0;
}

/* Reads one shard from TRIM_HORIZON until a read returns nothing new. */
static long read_shard(kn_kinesis_t *k, const char *stream, const kn_shard_t *shard) {
    kn_position_t pos = {.type = KN_POSITION_TRIM_HORIZON};
    char *it = NULL;
    kn_error_t *err = NULL;
    if (kn_kinesis_get_shard_iterator(k, stream, shard->shard_id, &pos, &it, &err) != KN_OK) {
        fail("GetShardIterator", err);
        kn_error_destroy(err);
        return -1;
    }
    long total = 0;
    while (it) {
        kn_get_records_result_t *res = NULL;
        if (kn_kinesis_get_records(k, it, 1000, &res, &err) != KN_OK) {
            fail("GetRecords", err);
            kn_error_destroy(err);
            free(it);
            return -1;
        }
        free(it);
        it = NULL;
        if (res->record_count) {
            const kn_record_t *first = &res->records[0], *last = &res->records[res->record_count - 1];
            printf("  %s: %zu records, first \"%.*s\" (key %s), last \"%.*s\"\n", shard->shard_id,
                   res->record_count, (int)first->data_len, (const char *)first->data,
                   first->partition_key, (int)last->data_len, (const char *)last->data);
            total += (long)res->record_count;
            if (res->next_shard_iterator)
                it = strdup(res->next_shard_iterator);
        }
        kn_get_records_result_destroy(res);
    }
    return total;
}

int main(int argc, char **argv) {
    char name[64];
    snprintf(name, sizeof(name), "demo-%ld", (long)time(NULL));
    const char *stream = argc > 1 ? argv[1] : name;
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    if (n <= 0 || n > 1000000) {
        fprintf(stderr, "usage: demo [STREAM] [RECORDS 1..1000000]\n");
        return 2;
    }
    kn_conf_t *conf = kn_conf_new();
    char errstr[512];
    kn_kinesis_t *k = conf ? kn_kinesis_new(conf, errstr, sizeof(errstr)) : NULL;
    kn_conf_destroy(conf);
    if (!k) {
        fprintf(stderr, "demo: %s\n", conf ? errstr : "out of memory");
        return 1;
    }
    printf("Kinesis endpoint %s, region %s\n", kn_kinesis_endpoint(k), kn_kinesis_region(k));

    int rc = 1;
    kn_error_t *err = NULL;
    kn_shard_list_t *shards = NULL;
    if (kn_kinesis_create_stream(k, stream, DEMO_SHARDS, KN_STREAM_MODE_PROVISIONED, &err) ||
        kn_kinesis_wait_stream_active(k, stream, DEMO_WAIT_MS, &err)) {
        fail("create stream", err);
        goto out;
    }
    printf("Created stream %s with %d shards\n", stream, DEMO_SHARDS);
    if (put_all(k, stream, n))
        goto out;
    if (kn_kinesis_list_all_shards(k, stream, NULL, &shards, &err)) {
        fail("ListShards", err);
        goto out;
    }
    long read = 0;
    for (size_t i = 0; i < shards->count; i++) {
        long got = read_shard(k, stream, &shards->shards[i]);
        if (got < 0)
            goto out;
        read += got;
    }
    printf("Read back %ld of %d records from %zu shards: %s\n", read, n, shards->count,
           read == n ? "all there" : "MISMATCH");
    rc = read == n ? 0 : 1;
out:
    kn_error_destroy(err);
    kn_shard_list_destroy(shards);
    kn_kinesis_destroy(k);
    return rc;
}
