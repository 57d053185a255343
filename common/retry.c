/* Retry decisions and full-jitter exponential backoff. */
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"

kn_retry_policy_t kn_retry_policy_from_conf(const kn_conf_t *conf) {
    kn_retry_policy_t p = {conf->retry_base_ms, conf->retry_max_ms,
                           conf->retry_max_attempts > INT32_MAX ? INT32_MAX
                                                                : (int)conf->retry_max_attempts};
    return p;
}

void kn_rng_seed(kn_rng_t *rng, uint64_t seed) {
    rng->state = seed;
}

void kn_rng_seed_random(kn_rng_t *rng) {
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* The address differs between objects seeded in the same nanosecond. */
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)rng;
    }
    kn_rng_seed(rng, seed);
}

uint64_t kn_rng_next(kn_rng_t *rng) {
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t kn_rng_uniform(kn_rng_t *rng, uint64_t max) {
    if (max == UINT64_MAX)
        return kn_rng_next(rng);
    uint64_t n = max + 1;
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
        r = kn_rng_next(rng);
    } while (r >= limit);
    return r % n;
}

static int64_t sat_mul(int64_t a, int64_t b) {
    if (a <= 0 || b <= 0)
        return 0;
    return a > INT64_MAX / b ? INT64_MAX : a * b;
}

int64_t kn_retry_cap_ms(const kn_retry_policy_t *p, int retry, int throttled) {
    if (!p || p->max_ms <= 0 || p->base_ms <= 0)
        return 0;
    int64_t base = throttled ? sat_mul(p->base_ms, KN_RETRY_THROTTLE_BASE_FACTOR) : p->base_ms;
    if (retry < 0)
        retry = 0;
    int64_t cap = retry >= 62 ? INT64_MAX : sat_mul(base, (int64_t)1 << retry);
    return cap < p->max_ms ? cap : p->max_ms;
}

int kn_retry_is_throttling(const kn_error_t *err) {
    switch (kn_error_code(err)) {
    case KN_ERR_THROTTLING:
    case KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED:
    case KN_ERR_LIMIT_EXCEEDED:
        return 1;
    default:
        return 0;
    }
}

int64_t kn_retry_delay_ms(const kn_retry_policy_t *p, int retry, const kn_error_t *err,
                          kn_rng_t *rng) {
    int64_t cap = kn_retry_cap_ms(p, retry, kn_retry_is_throttling(err));
    return rng ? (int64_t)kn_rng_uniform(rng, (uint64_t)cap) : cap;
}

int kn_retry_should_retry(const kn_retry_policy_t *p, int attempts, const kn_error_t *err) {
    return p && err && kn_error_is_retriable(err) && attempts < p->max_attempts;
}
