/* Per-shard token buckets with throttle feedback; see limiter.h for the policy. */
#include <stdint.h>

#include "limiter.h"

#define UNIT 1000000 /* token units per record or byte */

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

void kn_limiter_init(kn_limiter_t *l, int64_t rate_percent, int64_t now_us) {
    if (rate_percent < 1)
        rate_percent = 1;
    l->rec_rate = max64(KN_SHARD_RECORDS_PER_S * rate_percent / 100, 1);
    l->byte_rate = max64((int64_t)KN_SHARD_BYTES_PER_S * rate_percent / 100, 1);
    l->rec_cap = l->rec_rate * UNIT;
    l->byte_cap = max64(l->byte_rate, KN_LIMITER_MIN_BYTE_CAPACITY) * UNIT;
    l->rec_tokens = l->rec_cap;
    l->byte_tokens = l->byte_cap;
    l->rec_rem = l->byte_rem = 0;
    l->factor_base = KN_LIMITER_FACTOR_ONE;
    l->last_refill_us = now_us;
    l->last_throttle_us = INT64_MIN;
    l->throttles = 0;
}

int64_t kn_limiter_factor(kn_limiter_t *l, int64_t now_us) {
    if (l->last_throttle_us == INT64_MIN || now_us <= l->last_throttle_us)
        return l->factor_base;
    int64_t since = now_us - l->last_throttle_us;
    /* Past the full recovery time the factor is 1 whatever the base was. */
    if (since >= (int64_t)KN_LIMITER_FACTOR_ONE * UNIT / KN_LIMITER_RECOVERY_PER_S)
        return KN_LIMITER_FACTOR_ONE;
    int64_t f = l->factor_base + since * KN_LIMITER_RECOVERY_PER_S / UNIT;
    return f < KN_LIMITER_FACTOR_ONE ? f : KN_LIMITER_FACTOR_ONE;
}

/* Adds elapsed * rate * factor / 1000 units, keeping the sub-unit remainder so
 * that frequent small refills lose nothing. */
static void bucket_refill(int64_t *tokens, int64_t *rem, int64_t cap, int64_t rate,
                          int64_t factor, int64_t elapsed) {
    int64_t room = cap - *tokens;
    if (room <= 0)
        return;
    int64_t per_us_k = rate * factor; /* thousandths of a unit per microsecond */
    /* Enough time to fill the bucket: avoid the multiplication overflowing. */
    if (elapsed >= room / per_us_k * KN_LIMITER_FACTOR_ONE + KN_LIMITER_FACTOR_ONE) {
        *tokens = cap;
        *rem = 0;
        return;
    }
    int64_t add_k = elapsed * per_us_k + *rem;
    *tokens += add_k / KN_LIMITER_FACTOR_ONE;
    *rem = add_k % KN_LIMITER_FACTOR_ONE;
    if (*tokens >= cap) {
        *tokens = cap;
        *rem = 0;
    }
}

static void refill(kn_limiter_t *l, int64_t now_us) {
    if (now_us <= l->last_refill_us)
        return;
    int64_t elapsed = now_us - l->last_refill_us;
    /* The factor at the start of the interval: it only grows between throttles,
     * so this never grants more than the service allowed. */
    int64_t f = kn_limiter_factor(l, l->last_refill_us);
    bucket_refill(&l->rec_tokens, &l->rec_rem, l->rec_cap, l->rec_rate, f, elapsed);
    bucket_refill(&l->byte_tokens, &l->byte_rem, l->byte_cap, l->byte_rate, f, elapsed);
    l->last_refill_us = now_us;
}

int kn_limiter_try_take(kn_limiter_t *l, int64_t records, int64_t bytes, int64_t now_us) {
    refill(l, now_us);
    if (records > l->rec_cap / UNIT || bytes > l->byte_cap / UNIT)
        return 0;
    if (l->rec_tokens < records * UNIT || l->byte_tokens < bytes * UNIT)
        return 0;
    l->rec_tokens -= records * UNIT;
    l->byte_tokens -= bytes * UNIT;
    return 1;
}

/* Microseconds until `need` more units arrive at rate*factor/1000 per us. */
static int64_t wait_us(int64_t need, int64_t rem, int64_t rate, int64_t factor) {
    if (need <= 0)
        return 0;
    int64_t per_us_k = rate * factor;
    int64_t need_k = need * KN_LIMITER_FACTOR_ONE - rem;
    return (need_k + per_us_k - 1) / per_us_k;
}

int64_t kn_limiter_ready_at(kn_limiter_t *l, int64_t records, int64_t bytes, int64_t now_us) {
    refill(l, now_us);
    if (records > l->rec_cap / UNIT || bytes > l->byte_cap / UNIT)
        return INT64_MAX;
    int64_t f = kn_limiter_factor(l, now_us);
    int64_t a = wait_us(records * UNIT - l->rec_tokens, l->rec_rem, l->rec_rate, f);
    int64_t b = wait_us(bytes * UNIT - l->byte_tokens, l->byte_rem, l->byte_rate, f);
    return now_us + max64(a, b);
}

void kn_limiter_throttled(kn_limiter_t *l, int64_t now_us) {
    refill(l, now_us);
    if (l->last_throttle_us != INT64_MIN && now_us >= l->last_throttle_us &&
        now_us - l->last_throttle_us < KN_LIMITER_THROTTLE_WINDOW_US)
        return;
    int64_t f = kn_limiter_factor(l, now_us) / 2;
    l->factor_base = f > KN_LIMITER_MIN_FACTOR ? f : KN_LIMITER_MIN_FACTOR;
    l->last_throttle_us = now_us;
    l->rec_tokens = l->byte_tokens = 0;
    l->rec_rem = l->byte_rem = 0;
    l->throttles++;
}
