/*
 * A fake Kinesis endpoint for producer tests and benchmarks: HTTP/1.1 with
 * keep-alive on 127.0.0.1, answering ListShards (n equal shards, as AWS splits
 * them) and PutRecords like the service (shard by explicit hash key or MD5 of
 * the partition key, increasing sequence numbers), with injectable faults.
 *
 * Modes:
 *  - store: every accepted entry is kept (data base64-decoded) for read-back;
 *    requests are parsed with cJSON.
 *  - fast: entries are only counted (a benchmark sink); the request scanner
 *    expects this SDK's own encoding and falls back to cJSON otherwise.
 */
#ifndef KN_FAKE_KINESIS_H
#define KN_FAKE_KINESIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct kn_fake_kinesis_s kn_fake_kinesis_t;

/** Faults, each "every Nth" (0 = never), counted over the whole run. */
typedef struct kn_fake_faults_s {
    int entry_throttle_every;   /* entry fails: ProvisionedThroughputExceededException */
    int entry_internal_every;   /* entry fails: InternalFailure */
    int request_500_every;      /* PutRecords answered HTTP 500 InternalFailure, nothing stored */
    int request_throttle_every; /* PutRecords answered HTTP 400 LimitExceededException */
    int request_drop_every;     /* connection closed without an answer, nothing stored */
    int list_fail_first;        /* the first N ListShards answer HTTP 500 */
    int delay_ms;               /* every PutRecords waits this long before answering */
} kn_fake_faults_t;

/** One stored Kinesis record (store mode). Strings are NUL-terminated. */
typedef struct kn_fake_record_s {
    int shard;             /* index 0..n-1 */
    char shard_id[32];
    char seq[32];          /* fixed width, so strcmp orders them */
    char *pk;
    char *ehk;             /* NULL when absent */
    uint8_t *data;
    size_t len;
} kn_fake_record_t;

/** Starts the fake with `shards` open shards on a free port. Aborts the test when it cannot. */
kn_fake_kinesis_t *kn_fake_kinesis_start(int shards, int store);
/** "http://127.0.0.1:PORT". */
const char *kn_fake_kinesis_url(const kn_fake_kinesis_t *f);
/** Replaces the faults (takes effect for the next requests). */
void kn_fake_kinesis_set_faults(kn_fake_kinesis_t *f, const kn_fake_faults_t *faults);
/** Counters: PutRecords requests seen (faulted ones included), entries accepted. */
int64_t kn_fake_kinesis_requests(kn_fake_kinesis_t *f);
int64_t kn_fake_kinesis_entries(kn_fake_kinesis_t *f);
/** Largest request body and largest entry (data + key) seen, and the most entries in one request. */
void kn_fake_kinesis_maxima(kn_fake_kinesis_t *f, size_t *body, size_t *entry, size_t *entries);
/** Stored records (store mode), in acceptance order; valid until stop. */
const kn_fake_record_t *kn_fake_kinesis_records(kn_fake_kinesis_t *f, size_t *count);
/** Inclusive hash key range of shard i as decimal strings (buffers of 40). */
void kn_fake_kinesis_range(const kn_fake_kinesis_t *f, int i, char *start, char *end);
/** Stops serving and frees everything. Accepts NULL. */
void kn_fake_kinesis_stop(kn_fake_kinesis_t *f);

/** Serves until killed (a benchmark sink in its own process); prints the URL on stdout first. */
void kn_fake_kinesis_serve_forever(kn_fake_kinesis_t *f);

#endif
