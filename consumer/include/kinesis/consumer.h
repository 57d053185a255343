/*
 * kinesis-c consumer: the KCL for C.
 *
 * A consumer is one worker of an application (application.name). Workers of the
 * same application share the shards of a stream through a DynamoDB lease table
 * in the KCL 2.x layout, so C and Java workers can share one table. Each shard
 * this worker holds gets its own record processor: a set of callbacks and a
 * per-shard state pointer.
 *
 *     kn_conf_t *conf = kn_conf_new();
 *     kn_conf_set(conf, "application.name", "my-app", errstr, sizeof(errstr));
 *     kn_conf_set(conf, "stream.name", "my-stream", errstr, sizeof(errstr));
 *     kn_consumer_t *c = kn_consumer_new(conf, &my_processor, my_opaque,
 *                                        errstr, sizeof(errstr));
 *     kn_conf_destroy(conf);               // the consumer keeps a copy
 *     kn_err_t err = kn_consumer_run(c);   // until kn_consumer_shutdown()
 *     kn_consumer_destroy(c);
 *
 * Threads. kn_consumer_run() runs the coordinator (lease renewal, taking,
 * shard discovery) on the calling thread. Every processor callback runs on one
 * of processor.threads pool threads: the callbacks of one shard never run
 * concurrently and come in order (initialize, then process_records one batch at
 * a time, then exactly one of lease_lost, shard_ended or shutdown_requested);
 * different shards run in parallel. Callbacks may block (the shard waits) but
 * should return well within failover.time.ms, or the lease may be lost meanwhile.
 *
 * Delivery is at least once: after a failover or a restart, the records after
 * the last checkpoint of a shard are delivered again.
 */
#ifndef KINESIS_CONSUMER_H
#define KINESIS_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kn_consumer_s kn_consumer_t;

/** Checkpoints of one shard; handed to the callbacks of that shard. */
typedef struct kn_checkpointer_s kn_checkpointer_t;

/** One user record (KPL aggregates are already split into their user records). */
typedef struct kn_user_record_s {
    const uint8_t *data;
    size_t data_len;
    const char *partition_key;
    const char *explicit_hash_key;   /**< decimal, or NULL when the record has none */
    const char *sequence_number;     /**< of the Kinesis record that carried it */
    int64_t subsequence_number;      /**< index in its KPL aggregate; 0 for plain records */
    int64_t approximate_arrival_ms;  /**< ms since the epoch, 0 when unknown */
    int aggregated;                  /**< 1 when it came out of a KPL aggregate */
} kn_user_record_t;

/** A batch of records from one shard, in order. Valid during the callback only. */
typedef struct kn_batch_s {
    const char *shard_id;
    const kn_user_record_t *records;
    size_t count;
    int64_t millis_behind_latest; /**< how far this shard's reader is behind the tip; -1 unknown */
} kn_batch_t;

/** Where a shard's processing starts. Valid during initialize only. */
typedef struct kn_shard_start_s {
    const char *shard_id;
    /** The checkpoint: a sequence number or TRIM_HORIZON, LATEST, AT_TIMESTAMP, SHARD_END. */
    const char *checkpoint;
    int64_t checkpoint_subsequence;
    /** A prepared but uncommitted checkpoint, or NULL. */
    const char *pending_checkpoint;
    int64_t pending_subsequence;
} kn_shard_start_t;

/**
 * The record processor. `opaque` is the pointer given to kn_consumer_new();
 * `state` is what initialize stored in *state (NULL if nothing). Every callback
 * is optional except process_records. All run on processor pool threads.
 */
typedef struct kn_processor_s {
    /** First call for a shard this worker now holds, before any records. */
    void (*initialize)(void *opaque, const kn_shard_start_t *start, void **state);
    /**
     * The next batch. Checkpoint with `cp` (now, or in a later callback of this
     * shard); records after the last checkpoint are delivered again after a
     * failover. Empty batches are not delivered.
     */
    void (*process_records)(void *opaque, void *state, const kn_batch_t *batch,
                            kn_checkpointer_t *cp);
    /** Last call: another worker has the lease; checkpoints are no longer possible. */
    void (*lease_lost)(void *opaque, void *state);
    /**
     * Last call: every record of the shard was delivered. Must call
     * kn_checkpoint(cp), which records SHARD_END; until it does, the shard's
     * children do not start (the call is repeated later).
     */
    void (*shard_ended)(void *opaque, void *state, kn_checkpointer_t *cp);
    /**
     * Last call: the worker is shutting down (kn_consumer_shutdown). Checkpoint
     * what was processed; the lease is then released for another worker.
     */
    void (*shutdown_requested)(void *opaque, void *state, kn_checkpointer_t *cp);
} kn_processor_t;

/**
 * A worker. `conf` is copied. Properties (docs/CONFIGURATION.md, scope
 * consumer): application.name and stream.name are required. Returns NULL with
 * a sentence in errstr on a bad configuration or when out of memory. Creates
 * no connection: service errors (unknown stream, no permission, unreachable
 * endpoint) come from kn_consumer_run().
 */
kn_consumer_t *kn_consumer_new(const kn_conf_t *conf, const kn_processor_t *processor,
                               void *opaque, char *errstr, size_t errstr_size);

/**
 * Runs the worker on the calling thread until kn_consumer_shutdown() completes
 * (KN_OK) or a fatal error: the stream does not exist (KN_ERR_RESOURCE_NOT_FOUND),
 * the lease table cannot be created or read (e.g. KN_ERR_ACCESS_DENIED), or the
 * services stay unreachable during start-up (KN_ERR_TRANSPORT, KN_ERR_TIMED_OUT).
 * kn_consumer_error() then describes it. Call at most once.
 */
kn_err_t kn_consumer_run(kn_consumer_t *c);

/**
 * Starts a graceful shutdown: held shards get shutdown_requested, their leases
 * are released so other workers take them at once, then kn_consumer_run()
 * returns. Async-signal-safe and callable from any thread, also before run.
 */
void kn_consumer_shutdown(kn_consumer_t *c);

/** The error that ended kn_consumer_run(), or NULL. Owned by the consumer. */
const kn_error_t *kn_consumer_error(const kn_consumer_t *c);

/** This worker's id (worker.id, or the generated host:pid:random one). */
const char *kn_consumer_worker_id(const kn_consumer_t *c);

/** A snapshot of the worker's state, for monitoring and tests. */
typedef struct kn_consumer_stats_s {
    size_t leases_held;       /**< leases this worker holds now */
    size_t shards_caught_up;  /**< held shards whose last read found nothing behind the tip */
    uint64_t records_delivered; /**< user records handed to process_records */
    uint64_t batches_delivered;
    uint64_t dynamodb_calls;  /**< lease-table requests sent (retries included) */
    uint64_t kinesis_calls;   /**< Kinesis requests sent (retries included) */
    uint64_t leases_taken;    /**< successful takes, steals included */
    uint64_t leases_stolen;
    uint64_t leases_lost;
    /** KPL aggregates that failed to decode and were delivered as plain records. */
    uint64_t malformed_aggregates;
    /**
     * KPL aggregates dropped whole because a user record's hash key lies outside
     * the shard's range (the KCL's rule: such copies were re-sent by the producer
     * to the right shard), and the user records they held.
     */
    uint64_t dropped_aggregates;
    uint64_t dropped_records;
} kn_consumer_stats_t;

/** Fills *stats. Thread-safe. */
void kn_consumer_get_stats(kn_consumer_t *c, kn_consumer_stats_t *stats);

/**
 * Stops the worker if running (as kn_consumer_shutdown, waiting for
 * kn_consumer_run to return is the caller's business) and frees it. Must not be
 * called while kn_consumer_run() is still running. Accepts NULL.
 */
void kn_consumer_destroy(kn_consumer_t *c);

/*
 * Checkpoints. Callable only from the callbacks of the shard the checkpointer
 * belongs to. A checkpoint is a conditional write to the lease table guarded by
 * this worker's ownership of the lease: KN_ERR_LEASE_LOST when another worker
 * has it. A value behind the last checkpoint or beyond what was delivered is
 * refused with KN_ERR_INVALID_ARG. Other errors (KN_ERR_THROTTLING,
 * KN_ERR_TRANSPORT, ...) mean nothing was written; retrying is fine.
 */

/** Checkpoints everything delivered so far (in shard_ended: SHARD_END). */
kn_err_t kn_checkpoint(kn_checkpointer_t *cp);

/** Checkpoints at a record: its sequence number and subsequence number. */
kn_err_t kn_checkpoint_at(kn_checkpointer_t *cp, const char *sequence_number,
                          int64_t subsequence_number);

/**
 * Writes a pending checkpoint (the lease's pendingCheckpoint) without moving
 * the checkpoint: sequence_number NULL means everything delivered so far.
 * A worker that takes the shard over sees it in kn_shard_start_t.
 */
kn_err_t kn_checkpoint_prepare(kn_checkpointer_t *cp, const char *sequence_number,
                               int64_t subsequence_number);

/** Commits the prepared checkpoint. KN_ERR_STATE when none is prepared. */
kn_err_t kn_checkpoint_commit(kn_checkpointer_t *cp);

#ifdef __cplusplus
}
#endif
#endif /* KINESIS_CONSUMER_H */
