/*
 * What happens to the records of a PutRecords request once its outcome is
 * known, and to records whose TTL passes while they wait.
 *
 *  - Entry succeeded: its user records are done (shared shard id and sequence
 *    number). If it landed on a shard other than predicted, the shard map is
 *    stale; a plain record is still fine (the service routed it by its own
 *    key), but an aggregate whose records are not all inside the actual shard's
 *    hash range (or whose shard the map does not know) would be dropped by a
 *    KCL-style consumer, so all its records are routed and sent again
 *    ("wrong shard"; non-checking consumers then see duplicates).
 *  - Entry failed (ProvisionedThroughputExceeded, InternalFailure): only that
 *    entry is retried, never the whole batch.
 *  - Request failed: retriable errors (throttling, 5xx, network, timeout, an
 *    unreadable reply) retry every entry; others (ResourceNotFound,
 *    AccessDenied, validation, bad signature, ...) fail its records at once.
 *  - A retry waits a full-jitter exponential backoff per entry (base x2 per
 *    retry up to the cap; throttling uses a larger base, see common/retry.h).
 *    Records whose TTL has passed are reported KN_ERR_RECORD_EXPIRED instead;
 *    the others of the entry are re-encoded and retried.
 *
 * Every attempt is recorded on each user record with its error and duration.
 * Sans-IO: time is passed in; the random source is the retrier's own.
 */
#ifndef KN_RETRIER_H
#define KN_RETRIER_H

#include <stdint.h>

#include "aggregator.h"
#include "record.h"
#include "retry.h"
#include "shard_map.h"

typedef struct kn_retrier_s {
    kn_retry_policy_t policy; /* base_ms and max_ms are used; attempts are bounded by the TTL */
    kn_rng_t rng;
} kn_retrier_t;

/** What the pipeline must do next with the records of one outcome. */
typedef struct kn_retrier_out_s {
    kn_krec_list_t delivered; /* delivered entries (result set, blob freed): ready to report */
    kn_rec_list_t done;     /* failed records (error set): ready to report */
    kn_krec_list_t retry;   /* entries to send again after not_before_us, in request order */
    kn_rec_list_t reroute;  /* records to route through the shard map again, in order */
    int stale_map;          /* a response showed the shard map stale */
    int throttled;          /* some entry was throttled (krec->throttled tells which) */
} kn_retrier_out_t;

/** A retrier with backoff base/cap in milliseconds and a seeded random source. */
void kn_retrier_init(kn_retrier_t *rt, int64_t base_ms, int64_t max_ms, uint64_t seed);

/**
 * Applies the outcome of one PutRecords request whose entries are `sent` (in
 * request order, each with k->sent_us set): either `request_err` (the request
 * failed as a whole) or `result` (one entry per request entry; a count mismatch
 * is handled as a failed request). `map` is the stream's current shard map,
 * used for wrong-shard checks. Every krec of `sent` ends up in out->retry or
 * released or in out->delivered, and every user record in out->done,
 * out->reroute or an entry of out->retry or out->delivered.
 */
void kn_retrier_on_outcome(kn_retrier_t *rt, kn_agg_ctx_t *agg, kn_krec_list_t *sent,
                           const kn_error_t *request_err, const kn_put_records_result_t *result,
                           const kn_shard_map_t *map, int64_t now_us, kn_retrier_out_t *out);

/**
 * Moves every record of `recs` whose expiration is <= now_us to `done` with
 * KN_ERR_RECORD_EXPIRED. Returns how many.
 */
size_t kn_retrier_expire_list(kn_rec_list_t *recs, int64_t now_us, kn_rec_list_t *done);

/**
 * Same for the records of a waiting Kinesis record; the remaining ones are
 * re-encoded. Returns 1 when k is now empty (the caller releases it), else 0.
 * Records are reported expired even if re-encoding runs out of memory (then
 * the rest of k fails with KN_ERR_NOMEM too and 1 is returned).
 */
int kn_retrier_expire_krec(kn_agg_ctx_t *agg, kn_krec_t *k, int64_t now_us, kn_rec_list_t *done);

#endif
