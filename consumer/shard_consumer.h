/*
 * The life of one held lease, as a state machine run step by step on the
 * processor pool (one step at a time per shard):
 *
 *   WAITING_ON_PARENTS -> INITIALIZING -> PROCESSING -> SHARD_END -> done
 *            any state -> lease lost (lease_lost)        -> done
 *            any state -> shutdown (shutdown_requested, release) -> done
 *
 * WAITING_ON_PARENTS waits until every parent with a lease has checkpointed
 * SHARD_END (and an earlier acquisition of the same shard in this worker has
 * finished). PROCESSING fetches, deaggregates and delivers one batch per step,
 * checking before each delivery that the lease is still valid. At the end of
 * the shard, child leases are created (from ChildShards, else ListShards), the
 * parent's childShardIds written, and shard_ended asks the processor to
 * checkpoint SHARD_END; then the lease is released.
 */
#ifndef KN_SHARD_CONSUMER_H
#define KN_SHARD_CONSUMER_H

#include <stdatomic.h>
#include <stdint.h>

#include "kinesis/consumer.h"
#include "lease_manager.h"
#include "log.h"
#include "retrieval.h"
#include "shard_sync.h"

/** Counters shared by the shard consumers of one worker. */
typedef struct kn_shard_counters_s {
    atomic_uint_least64_t records;
    atomic_uint_least64_t batches;
    atomic_uint_least64_t malformed_aggregates;
    /* aggregates holding a user record outside the shard's hash range, and their user records */
    atomic_uint_least64_t dropped_aggregates;
    atomic_uint_least64_t dropped_records;
} kn_shard_counters_t;

/** What every shard consumer of a worker shares (all borrowed). */
typedef struct kn_shard_env_s {
    kn_lease_manager_t *leases;
    const kn_processor_t *processor;
    void *opaque; /* the application's pointer */
    /* Creates the retriever for a shard (polling or fan-out). NULL with *err on failure. */
    kn_retriever_t *(*new_retriever)(void *ctx, const kn_retrieval_start_t *start,
                                     kn_error_t **err);
    /* Every shard of the stream (ListShards), for when the end of a shard came
     * without ChildShards. The caller destroys *out. */
    kn_err_t (*list_shards)(void *ctx, kn_shard_list_t **out, kn_error_t **err);
    /* Whether another (earlier) shard consumer of this shard is still running. */
    int (*predecessor_running)(void *ctx, const char *shard_id, const void *self);
    void *ctx;
    const char *stream;
    int64_t timestamp_ms;     /* initial.position.timestamp for AT_TIMESTAMP leases */
    int64_t poll_ms;          /* parent checks and retries of failed steps */
    int64_t shard_end_retry_ms; /* repeating shard_ended when SHARD_END was not checkpointed */
    kn_shard_counters_t *counters;
    kn_logger_t lg;
} kn_shard_env_t;

typedef struct kn_shard_consumer_s kn_shard_consumer_t;

/** A consumer of `lease` (acquisition `token`). NULL when out of memory. */
kn_shard_consumer_t *kn_shard_consumer_new(const kn_shard_env_t *env, const kn_lease_t *lease,
                                           uint64_t token);
/** Accepts NULL. Only once its last step has returned (or it never ran). */
void kn_shard_consumer_destroy(kn_shard_consumer_t *sc);

/** The pool step (kn_pool_step_fn); arg is the shard consumer. */
int64_t kn_shard_consumer_step(void *sc, int64_t now_ms);

/** The lease was lost: the next step ends with lease_lost. Any thread. */
void kn_shard_consumer_lost(kn_shard_consumer_t *sc);
/** Graceful shutdown: the next step ends with shutdown_requested and a release. Any thread. */
void kn_shard_consumer_shutdown(kn_shard_consumer_t *sc);

/** The shard id. */
const char *kn_shard_consumer_shard_id(const kn_shard_consumer_t *sc);
/** Whether the last read found the shard caught up with its tip. Any thread. */
int kn_shard_consumer_caught_up(const kn_shard_consumer_t *sc);

#endif
