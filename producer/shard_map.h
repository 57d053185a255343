/*
 * The shard map of one stream: the open shards' hash-key ranges, sorted, so a
 * record's hash key finds its predicted shard by binary search.
 *
 * Sans-IO: the pipeline fetches ListShards pages and hands them over; this file
 * only decides when a fetch is due and keeps the ranges. States:
 *   NONE      no usable map (never fetched, or invalidated): lookups fail,
 *             an update is due once the backoff allows;
 *   UPDATING  a fetch is in flight: lookups fail;
 *   READY     lookups succeed.
 * A failed fetch backs off from KN_SHARD_MAP_BACKOFF_MIN_MS, x1.5 each time, to
 * KN_SHARD_MAP_BACKOFF_MAX_MS (as the KPL). Invalidation follows the KPL rule:
 * only a map built before the request that revealed it stale is dropped, so
 * the many responses of one stale period cause one refresh.
 */
#ifndef KN_SHARD_MAP_H
#define KN_SHARD_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hashkey.h"
#include "kinesis/kinesis.h"

#define KN_SHARD_MAP_BACKOFF_MIN_MS 1000
#define KN_SHARD_MAP_BACKOFF_MAX_MS 30000

typedef enum { KN_SHARD_MAP_NONE = 0, KN_SHARD_MAP_UPDATING, KN_SHARD_MAP_READY } kn_shard_map_state_t;

/** One open shard. */
typedef struct kn_shard_range_s {
    kn_u128_t start, end; /* inclusive */
    char *shard_id;
    void *user;           /* for the pipeline's per-shard state; starts NULL */
} kn_shard_range_t;

typedef struct kn_shard_map_s {
    kn_shard_map_state_t state;
    kn_shard_range_t *ranges; /* sorted by start, disjoint */
    size_t count;
    int64_t updated_us;     /* when the current ranges were installed; INT64_MIN: never */
    int64_t next_update_us; /* earliest start of the next fetch */
    int64_t backoff_ms;     /* wait after the next failure */
    uint64_t generation;    /* incremented by every successful update */
} kn_shard_map_t;

/** An empty map in state NONE, with an update due at once. */
void kn_shard_map_init(kn_shard_map_t *m);
/** Frees the ranges. */
void kn_shard_map_clear(kn_shard_map_t *m);

/**
 * Index of the shard whose range holds `hash`, or -1 when the map is not READY
 * or no open shard holds it (then the map needs a refresh: see
 * kn_shard_map_invalidate).
 */
long kn_shard_map_lookup(const kn_shard_map_t *m, kn_u128_t hash);
/** Index of the shard named `shard_id`, or -1. */
long kn_shard_map_find_id(const kn_shard_map_t *m, const char *shard_id);

/** Whether the state is NONE and the backoff allows a fetch at now_us. */
int kn_shard_map_update_due(const kn_shard_map_t *m, int64_t now_us);
/** The pipeline started a fetch: state UPDATING. */
void kn_shard_map_update_started(kn_shard_map_t *m);

/**
 * A fetch completed with these shards (all pages): the open ones (no ending
 * sequence number) replace the ranges and the state becomes READY. Closed
 * shards are skipped. Open shards must tile the hash key space exactly (as the
 * service guarantees): a range that does not parse, an overlap or a gap fails
 * the update with KN_ERR_BAD_RESPONSE (*err set; the old ranges stay and the
 * state returns to NONE with backoff, as for kn_shard_map_update_failed).
 * On success the previous ranges are moved to *old (ownership passes: free
 * with kn_shard_map_ranges_free) so the caller can carry its per-shard state
 * over by shard id.
 */
kn_err_t kn_shard_map_update(kn_shard_map_t *m, const kn_shard_t *shards, size_t count,
                             int64_t now_us, kn_shard_range_t **old, size_t *old_count,
                             kn_error_t **err);
/** A fetch failed: state NONE, next fetch after the backoff, which then grows. */
void kn_shard_map_update_failed(kn_shard_map_t *m, int64_t now_us);

/**
 * A response showed the map stale (a record landed on an unexpected shard, or
 * no shard held a key). Drops a READY map built before `request_sent_us`
 * (state NONE, refresh due at once). Returns 1 when it did.
 */
int kn_shard_map_invalidate(kn_shard_map_t *m, int64_t request_sent_us);

/** Frees ranges returned by kn_shard_map_update. Accepts NULL. */
void kn_shard_map_ranges_free(kn_shard_range_t *ranges, size_t count);

/** Whether `hash` lies in the range of shard `idx`. */
int kn_shard_map_range_holds(const kn_shard_map_t *m, long idx, kn_u128_t hash);

#endif
