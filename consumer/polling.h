/*
 * Polling retrieval: GetShardIterator, then GetRecords with max.records, an
 * idle pause between calls, a new iterator after the last fetched record when
 * the iterator expired, backoff on throttling and errors, and a synthetic shard
 * end when the shard no longer exists (as the KCL does).
 */
#ifndef KN_POLLING_H
#define KN_POLLING_H

#include <stdatomic.h>

#include "log.h"
#include "retrieval.h"

/** Pause after a batch from a shard that is behind the tip: the 5 GetRecords/s per shard limit. */
#define KN_POLLING_BEHIND_PAUSE_MS 200
/** Longest pause after repeated errors. */
#define KN_POLLING_MAX_BACKOFF_MS 10000

typedef struct kn_polling_conf_s {
    int max_records;               /* GetRecords Limit */
    int64_t idle_ms;               /* pause once caught up */
    atomic_uint_least64_t *calls;  /* counts Kinesis requests, or NULL */
} kn_polling_conf_t;

/**
 * A polling retriever for start->shard_id of start->stream over client `k`
 * (borrowed, thread-safe). NULL when out of memory.
 */
kn_retriever_t *kn_polling_new(kn_kinesis_t *k, const kn_retrieval_start_t *start,
                               const kn_polling_conf_t *pc, const kn_logger_t *lg);

/** The iterator request polling makes for a start position (pure, for tests). */
void kn_polling_position(const kn_esn_t *from, int64_t timestamp_ms, const char *last_fetched,
                         kn_position_t *pos);

/** The pause before the next GetRecords after `errors` consecutive failures (0: none). */
int64_t kn_polling_backoff_ms(int errors, int throttled);

#endif
