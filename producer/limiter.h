/*
 * Per-shard rate limiter: two token buckets (Kinesis records and bytes) sized to
 * the shard write limits times rate.limit.percent, slowed further while the
 * service answers ProvisionedThroughputExceeded for the shard.
 *
 * Sans-IO: every call takes `now_us` (monotonic microseconds); nothing here
 * reads a clock. Integer arithmetic only, so tests are exact.
 *
 * Adaptation (AIMD): each throttle report halves the shard's rate factor (at
 * most once per KN_LIMITER_THROTTLE_WINDOW_US, so one response carrying many
 * throttled entries counts once), down to KN_LIMITER_MIN_FACTOR, and empties
 * both buckets. The factor then recovers linearly by
 * KN_LIMITER_RECOVERY_PER_S per second without throttling, back to 1.
 */
#ifndef KN_LIMITER_H
#define KN_LIMITER_H

#include <stdint.h>

/** Kinesis shard write limits. */
#define KN_SHARD_RECORDS_PER_S 1000
#define KN_SHARD_BYTES_PER_S (1024 * 1024)

/** The rate factor is kept in thousandths. */
#define KN_LIMITER_FACTOR_ONE 1000
/** Lowest factor after repeated throttling: 1/20 of the configured rate. */
#define KN_LIMITER_MIN_FACTOR 50
/** Factor regained per second without throttling (so 5% -> 100% in 9.5 s). */
#define KN_LIMITER_RECOVERY_PER_S 100
/** Throttle reports closer together than this count as one. */
#define KN_LIMITER_THROTTLE_WINDOW_US 100000
/**
 * The byte bucket always holds at least this much, so a maximal Kinesis
 * record (1 MiB data plus a 256-character key) can pass at low rate limits.
 */
#define KN_LIMITER_MIN_BYTE_CAPACITY (1024 * 1024 + 1024)

typedef struct kn_limiter_s {
    /* Tokens are in millionths (1 record or 1 byte = 1e6) so that a refill of
     * rate_per_s per second is exactly rate_per_s units per microsecond. */
    int64_t rec_tokens, byte_tokens;
    int64_t rec_cap, byte_cap;   /* same units */
    int64_t rec_rate, byte_rate; /* per second at factor 1 */
    int64_t rec_rem, byte_rem;   /* sub-unit refill remainders, in thousandths */
    int64_t factor_base;         /* thousandths of the configured rate after the last throttle */
    int64_t last_refill_us;
    int64_t last_throttle_us;    /* INT64_MIN: never */
    int64_t throttles;           /* reports that lowered the factor */
} kn_limiter_t;

/**
 * Starts with full buckets at the shard limits times `rate_percent`/100
 * (`rate_percent` >= 1).
 */
void kn_limiter_init(kn_limiter_t *l, int64_t rate_percent, int64_t now_us);

/**
 * Takes `records` and `bytes` tokens when both buckets hold enough; returns 1
 * then, else 0 and takes nothing.
 */
int kn_limiter_try_take(kn_limiter_t *l, int64_t records, int64_t bytes, int64_t now_us);

/**
 * The earliest time (>= now_us) at which kn_limiter_try_take(records, bytes)
 * would succeed if nothing else is taken; INT64_MAX when it never can (more
 * than a bucket's capacity).
 */
int64_t kn_limiter_ready_at(kn_limiter_t *l, int64_t records, int64_t bytes, int64_t now_us);

/** The service throttled this shard: multiplicative decrease, see above. */
void kn_limiter_throttled(kn_limiter_t *l, int64_t now_us);

/** The current rate factor in thousandths (for statistics). */
int64_t kn_limiter_factor(kn_limiter_t *l, int64_t now_us);

#endif
