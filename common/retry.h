/*
 * Retry policy: when to try a failed call again and how long to wait first.
 * Pure: no clock, no globals; the random source is a small PRNG state the
 * caller owns (one per thread or per retrying object).
 *
 * Backoff is "full jitter" exponential: before retry number n (0 for the first
 * retry) the delay is uniform in [0, min(max_ms, base * 2^n)]. Throttling errors
 * (ThrottlingException, ProvisionedThroughputExceeded, LimitExceeded) use a base
 * KN_RETRY_THROTTLE_BASE_FACTOR times larger, as the AWS SDKs do, because an
 * overloaded service recovers faster when callers spread out further; the cap
 * (max_ms) is the same.
 */
#ifndef KN_RETRY_H
#define KN_RETRY_H

#include <stdint.h>

#include "conf.h"
#include "err.h"

/** Multiplier of base_ms for throttling errors. */
#define KN_RETRY_THROTTLE_BASE_FACTOR 5

typedef struct kn_retry_policy_s {
    int64_t base_ms;  /* delay cap of the first retry, > 0 */
    int64_t max_ms;   /* largest delay cap, >= 0 */
    int max_attempts; /* attempts in all, first try included, >= 1 */
} kn_retry_policy_t;

/** A pseudo-random generator state (splitmix64). Not for cryptography. */
typedef struct kn_rng_s {
    uint64_t state;
} kn_rng_t;

/** The policy of conf retry.backoff.base.ms, retry.backoff.max.ms, retry.max.attempts. */
kn_retry_policy_t kn_retry_policy_from_conf(const kn_conf_t *conf);

/** Seeds `rng` deterministically (tests). */
void kn_rng_seed(kn_rng_t *rng, uint64_t seed);
/** Seeds `rng` from getrandom(), falling back to time, pid and an address. */
void kn_rng_seed_random(kn_rng_t *rng);
/** The next 64 random bits. */
uint64_t kn_rng_next(kn_rng_t *rng);
/** Uniform in [0, max] inclusive, without modulo bias. */
uint64_t kn_rng_uniform(kn_rng_t *rng, uint64_t max);

/**
 * The delay cap before retry number `retry` (0 = first retry):
 * min(max_ms, base * 2^retry), base multiplied by KN_RETRY_THROTTLE_BASE_FACTOR
 * when `throttled`. Saturates instead of overflowing; never negative.
 */
int64_t kn_retry_cap_ms(const kn_retry_policy_t *p, int retry, int throttled);

/**
 * A full-jitter delay before retry number `retry` after error `err` (NULL: not a
 * throttling error): uniform in [0, kn_retry_cap_ms()]. Without `rng`, the cap.
 */
int64_t kn_retry_delay_ms(const kn_retry_policy_t *p, int retry, const kn_error_t *err,
                          kn_rng_t *rng);

/** Whether `err` is a throttling error (gets the larger backoff base). */
int kn_retry_is_throttling(const kn_error_t *err);

/**
 * Whether to try again after `attempts` attempts (>= 1) ended with `err`:
 * only when the error is retriable (kn_error_is_retriable: throttling, 5xx,
 * network, timeouts) and attempts < max_attempts. NULL err (success): no.
 */
int kn_retry_should_retry(const kn_retry_policy_t *p, int attempts, const kn_error_t *err);

#endif
