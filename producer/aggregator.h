/*
 * Aggregation per predicted shard, in the KPL format (common/agg.c).
 *
 * Each shard has one open aggregate (kn_aggregator_t). A record joins it while
 * the exact finished size stays within aggregation.max.bytes; otherwise the
 * open aggregate is closed into a Kinesis record first. Closing one record
 * gives a plain Kinesis record with the record's own partition key (and
 * explicit hash key, if it had one); closing two or more gives an aggregate
 * with partition key "a" and, as explicit hash key, the decimal hash key of its
 * first record, so it lands on the shard the first record (and, with a current
 * shard map, every record) belongs to. A record too large to aggregate closes
 * the open aggregate and then goes alone, so a shard's records keep their order.
 * The caller never mixes shards: one aggregator per predicted shard.
 *
 * Builders (which copy key and data bytes) are borrowed from a shared context
 * only while an aggregate holds two or more records, so idle shards hold no
 * buffers. The context counts the aggregate bytes that exist besides the user
 * records (open builders and closed blobs), for the producer's memory bound.
 *
 * Sans-IO and single-threaded: the pipeline thread owns all of it.
 */
#ifndef KN_AGGREGATOR_H
#define KN_AGGREGATOR_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "record.h"

/** Idle builders kept for reuse; more are freed. */
#define KN_AGG_SPARE_BUILDERS 8

/** Shared by every aggregator of a pipeline. */
typedef struct kn_agg_ctx_s {
    int enabled;
    size_t max_bytes;      /* aggregation.max.bytes: largest aggregate */
    kn_agg_builder_t *probe; /* always empty: sizes a record alone */
    kn_agg_builder_t *spare[KN_AGG_SPARE_BUILDERS];
    size_t nspare;
    int64_t bytes;         /* aggregate bytes held: open builders plus blobs */
    int defer_digests;     /* blobs are made unsealed; kn_agg_seal_list() digests them */
} kn_agg_ctx_t;

/** How far ahead a record's `ahead` hint points (see record.h). */
#define KN_AGG_AHEAD 8

/** One shard's open aggregate. Zero-initialised is empty. */
typedef struct kn_aggregator_s {
    kn_rec_list_t recs;
    kn_rec_t *last[KN_AGG_AHEAD]; /* the latest records joined, by index % KN_AGG_AHEAD */
    kn_agg_builder_t *b;   /* borrowed while recs.count >= 2 */
    int64_t counted;       /* bytes of b included in ctx->bytes */
    int64_t deadline_us;   /* min over recs; INT64_MAX when empty */
    int64_t expire_us;     /* min over recs; INT64_MAX when empty */
} kn_aggregator_t;

/** `enabled` 0 turns every record into its own Kinesis record. KN_OK or KN_ERR_NOMEM. */
kn_err_t kn_agg_ctx_init(kn_agg_ctx_t *c, int enabled, size_t max_bytes);
/** Frees the spare builders. Every aggregator must be empty. */
void kn_agg_ctx_clear(kn_agg_ctx_t *c);

/** An empty aggregator. */
void kn_aggregator_init(kn_aggregator_t *a);

/**
 * Adds `r`. Kinesis records that are complete as a result (the previous open
 * aggregate, and/or `r` alone when it cannot be aggregated) are appended to
 * `out` in sending order. On KN_ERR_NOMEM `r` was not added (the caller still
 * owns it) and the open aggregate is unchanged.
 */
kn_err_t kn_aggregator_add(kn_agg_ctx_t *c, kn_aggregator_t *a, kn_rec_t *r, kn_krec_list_t *out);

/** Closes the open aggregate, if any, into `out`. KN_ERR_NOMEM leaves it open. */
kn_err_t kn_aggregator_flush(kn_agg_ctx_t *c, kn_aggregator_t *a, kn_krec_list_t *out);

/** Moves the open aggregate's records to the end of `out` unsent (re-routing, shutdown). */
void kn_aggregator_take(kn_agg_ctx_t *c, kn_aggregator_t *a, kn_rec_list_t *out);

/**
 * Re-encodes `k` after records were removed from k->recs (k must hold at least
 * one): a plain record when one remains. Subsequence numbers are renumbered.
 * KN_ERR_NOMEM leaves k as it was, records removed but blob stale: the caller
 * must not send it then.
 */
kn_err_t kn_krec_rebuild(kn_agg_ctx_t *c, kn_krec_t *k);

/**
 * Writes the MD5 of every unsealed aggregate in `l` (with defer_digests set,
 * blobs are made without it), many at a time: call before sending them.
 */
void kn_agg_seal_list(kn_krec_list_t *l);

/** Frees a Kinesis record's container and blob (not its records), updating the count. */
void kn_krec_release(kn_agg_ctx_t *c, kn_krec_t *k);

/** Frees only the blob (a delivered record keeps its container for the report side). */
void kn_krec_drop_blob(kn_agg_ctx_t *c, kn_krec_t *k);

#endif
