/*
 * Helpers for the consumer integration tests: streams on kinesis-local, numbered
 * records, a record processor that logs every callback as a line in a file
 * (flushed before each checkpoint, like kinesis-cat -C), and a reader for those
 * logs so a test can check what each worker delivered and checkpointed.
 */
#ifndef KN_CONSUMER_TEST_H
#define KN_CONSUMER_TEST_H

#include <stdint.h>
#include <stdio.h>

#include "kinesis/consumer.h"
#include "kinesis/kinesis.h"

/** A client for the kinesis-local peer (kn_test_require_peers() first). */
kn_kinesis_t *kct_kinesis(void);

/** Creates `name` with `shards` shards and waits until it is ACTIVE. */
void kct_create_stream(kn_kinesis_t *k, const char *name, int shards);

/**
 * Puts records with data "<prefix>-<i>" for i in [from, to), random partition
 * keys, in PutRecords calls of up to `batch`, retrying failed entries.
 */
void kct_put(kn_kinesis_t *k, const char *stream, const char *prefix, int from, int to, int batch);

/**
 * Puts KPL aggregates holding user records "<prefix>-<i>" for i in [from, to),
 * `per` user records each.
 */
void kct_put_aggregated(kn_kinesis_t *k, const char *stream, const char *prefix, int from, int to,
                        int per);

/** Monotonic milliseconds (comparable between processes of one host). */
int64_t kct_now_ms(void);

/*
 * The logging processor; its opaque pointer is a kct_log_t. Lines:
 *   I <shard> <checkpoint> <subseq> <ms>         initialize
 *   R <shard> <seq> <subseq> <data> <ms>         a record (before its batch's checkpoint)
 *   C <shard> <seq> <subseq> <ms>                a successful checkpoint
 *   E|L|S <shard> <rc> <ms>                      shard ended / lease lost / shutdown, with
 *                                               the result of their checkpoint (0 for L)
 */
typedef struct kct_log_s {
    FILE *f;
    int checkpoint; /* checkpoint at the end of every batch (default 1) */
    int slow_ms;    /* sleep in every process_records call */
} kct_log_t;

extern const kn_processor_t kct_processor;

typedef struct kct_line_s {
    char kind;
    char shard[64];
    char seq[132];
    long long sub;
    char data[64];
    int64_t ms;
    int worker; /* index given to kct_read */
} kct_line_t;

/** Appends the lines of `path` to *lines (realloc'd), tagging them with `worker`. */
void kct_read(const char *path, int worker, kct_line_t **lines, size_t *n);

/** Compares two sequence numbers as decimals. */
int kct_seq_cmp(const char *a, const char *b);

/** A configuration for a worker of `app` on `stream` with short failover times. */
kn_conf_t *kct_conf(const char *app, const char *stream, const char *worker_id, int failover_ms);

#endif
