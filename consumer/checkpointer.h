/*
 * The checkpointer behind the public kn_checkpoint_* calls: which values are
 * allowed, and prepare-then-commit. The write itself is injected (the shard
 * consumer passes a conditional lease-table update; unit tests pass a fake), so
 * the rules are tested without DynamoDB.
 *
 * Allowed: a sequence number (with subsequence) at or after the last
 * checkpoint and at or before the largest position delivered to the processor;
 * SHARD_END only once the end of the shard was delivered. Prepared values obey
 * the same rule, and again when they are committed (a later checkpoint may have
 * overtaken them).
 *
 * Used by one thread at a time: the processor thread running a callback of
 * that shard.
 */
#ifndef KN_CHECKPOINTER_H
#define KN_CHECKPOINTER_H

#include "kinesis/consumer.h"
#include "lease.h"

/**
 * Writes a checkpoint: `checkpoint` (NULL: leave it) and the pending checkpoint
 * (`pending` NULL: remove it). Returns KN_OK, KN_ERR_LEASE_LOST, or the error
 * of the failed call.
 */
typedef kn_err_t (kn_ckpt_write_fn)(void *opaque, const kn_esn_t *checkpoint,
                                     const kn_esn_t *pending);

struct kn_checkpointer_s {
    kn_esn_t last;    /* last checkpoint written (from the lease at start) */
    kn_esn_t largest; /* largest position delivered; SHARD_END at the end of the shard */
    int has_pending;
    kn_esn_t pending;
    kn_ckpt_write_fn *write;
    void *opaque;
};

/** Starts from the lease's checkpoint (and pending checkpoint, if any). */
void kn_ckpt_init(kn_checkpointer_t *cp, const kn_lease_t *lease, kn_ckpt_write_fn *write,
                  void *opaque);

/** Records that everything up to `pos` was delivered (positions only grow). */
void kn_ckpt_delivered(kn_checkpointer_t *cp, const kn_esn_t *pos);

/** KN_OK when `value` may be checkpointed now, else KN_ERR_INVALID_ARG. */
kn_err_t kn_ckpt_check(const kn_checkpointer_t *cp, const kn_esn_t *value);

/** Validates and writes `value` as the checkpoint (clearing any pending one). */
kn_err_t kn_ckpt_commit(kn_checkpointer_t *cp, const kn_esn_t *value);

/** Validates and writes `value` as the pending checkpoint. */
kn_err_t kn_ckpt_prepare(kn_checkpointer_t *cp, const kn_esn_t *value);

#endif
