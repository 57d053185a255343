/*
 * Where put() copies user records: blocks filled in put order, each given back
 * whole once every record in it has been reported.
 *
 * Why not one malloc() per record: the record was allocated on the
 * application's thread and freed on the report thread, and the allocator's
 * locking and chunk bookkeeping cost about a third of the producer's CPU; worse,
 * records of consecutive puts landed anywhere in the heap, so the pipeline's
 * walk in put order missed the cache on every record. In blocks, consecutive
 * records sit side by side (the hardware prefetcher follows the walk), an
 * allocation is a bump of the current block (the caller serializes them: the
 * producer does it under the lock it takes for its memory bound anyway), and
 * giving records back is one atomic subtraction per run of records from the
 * same block, from any thread.
 *
 * A block lives while any of its records does. Bytes of reported records whose
 * block is still alive are "pinned": the producer counts them against its
 * memory bound (kn_rec_pool_pinned) and moves records that will wait long
 * (retry backoff, a missing shard map) out of their block (kn_rec_pool_evict),
 * so one slow record cannot hold a block of fast ones.
 *
 * Records larger than a quarter of a block, and every record of a pool created
 * with block_bytes 0, are malloc()ed singly (r->block NULL); kn_rec_free() and
 * the release functions handle both kinds.
 */
#ifndef KN_PRODUCER_RECORD_POOL_H
#define KN_PRODUCER_RECORD_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/** Default block size: small enough to stay on the heap (glibc mmaps >= 128 KiB). */
#define KN_REC_POOL_BLOCK_BYTES (64 * 1024)

/** Blocks kept for reuse (page faults and malloc avoided while the load is steady). */
#define KN_REC_POOL_SPARE_BLOCKS 32

typedef struct kn_rec_pool_s kn_rec_pool_t;

/**
 * A pool of `block_bytes` blocks keeping up to `max_spare` empty ones; with
 * block_bytes 0 every record is malloc()ed. NULL when out of memory.
 */
kn_rec_pool_t *kn_rec_pool_new(size_t block_bytes, size_t max_spare);

/** Frees the pool. Every record must have been released. Accepts NULL. */
void kn_rec_pool_destroy(kn_rec_pool_t *pool);

struct kn_rec_block_s;

/**
 * Room for one record of `size` (kn_rec_alloc_size()) bytes in the current
 * block, to fill with kn_rec_fill() and mark with r->block = *block; NULL (and
 * *block NULL) when the record must be malloc()ed instead: too large, pool
 * NULL or disabled, or no memory for a new block. Calls must not overlap; the
 * room is the caller's even after it stops serializing.
 */
void *kn_rec_pool_take(kn_rec_pool_t *pool, size_t size, struct kn_rec_block_s **block);

/**
 * kn_rec_pool_take() and kn_rec_fill(), or kn_rec_new() when the record cannot
 * be pooled. Calls must not overlap (as kn_rec_pool_take). NULL when out of
 * memory.
 */
kn_rec_t *kn_rec_pool_alloc(kn_rec_pool_t *pool, const char *pk, size_t pk_len, const char *ehk,
                            size_t ehk_len, const void *data, size_t data_len, void *opaque);

/** Records released but not yet applied to their blocks (see kn_rec_pool_release). */
typedef struct kn_rec_release_run_s {
    struct kn_rec_block_s *block; /* the current run's block, NULL when none */
    int64_t count;                /* records of the run */
    int64_t bytes;                /* their kn_rec_alloc_size() bytes */
} kn_rec_release_run_t;

/**
 * Releases a reported record (its references dropped, its memory freed or
 * counted towards its block) and returns its kn_rec_alloc_size(). Consecutive
 * records of one block are applied together: call kn_rec_pool_release_end()
 * after the last one. `run` starts zeroed.
 */
int64_t kn_rec_pool_release(kn_rec_release_run_t *run, kn_rec_t *r);

/** Applies the pending run (see kn_rec_pool_release). */
void kn_rec_pool_release_end(kn_rec_release_run_t *run);

/**
 * Moves a pooled record into its own allocation, so that it no longer keeps
 * its block alive; returns the record to use from now on (r itself when it was
 * not pooled or when out of memory). The caller must relink it wherever r was
 * linked; r's `next` is copied, its references move over.
 */
kn_rec_t *kn_rec_pool_evict(kn_rec_t *r);

/** Bytes of released records whose blocks are still alive. Any thread. */
int64_t kn_rec_pool_pinned(const kn_rec_pool_t *pool);

#endif
