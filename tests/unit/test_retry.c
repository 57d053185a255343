/* Retry policy: backoff caps, jitter bounds, overflow safety and decisions. */
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "kn_test.h"
#include "retry.h"

#define DRAWS 20000

START_TEST(policy_from_conf) {
    kn_conf_t *conf = kn_conf_new();
    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(kn_conf_set(conf, "retry.backoff.base.ms", "50", NULL, 0), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "retry.backoff.max.ms", "7000", NULL, 0), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "retry.max.attempts", "4", NULL, 0), KN_OK);
    kn_retry_policy_t p = kn_retry_policy_from_conf(conf);
    ck_assert_int_eq(p.base_ms, 50);
    ck_assert_int_eq(p.max_ms, 7000);
    ck_assert_int_eq(p.max_attempts, 4);
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(cap_doubles_then_saturates) {
    kn_retry_policy_t p = {100, 20000, 10};
    int64_t expect = 100;
    for (int r = 0; r < 12; r++) {
        int64_t want = expect < 20000 ? expect : 20000;
        ck_assert_int_eq(kn_retry_cap_ms(&p, r, 0), want);
        expect *= 2;
    }
    /* throttling: larger base, same ceiling */
    ck_assert_int_eq(kn_retry_cap_ms(&p, 0, 1), 100 * KN_RETRY_THROTTLE_BASE_FACTOR);
    ck_assert_int_eq(kn_retry_cap_ms(&p, 20, 1), 20000);
    /* negative retry numbers behave as the first retry */
    ck_assert_int_eq(kn_retry_cap_ms(&p, -3, 0), 100);
}
END_TEST

START_TEST(cap_never_overflows) {
    kn_retry_policy_t p = {INT64_MAX / 3, INT64_MAX, 5};
    int64_t prev = 0;
    for (int r = 0; r < 200; r++) {
        int64_t c = kn_retry_cap_ms(&p, r, r & 1);
        ck_assert_int_gt(c, 0);
        if (!(r & 1)) {
            ck_assert_int_ge(c, prev); /* monotonic, no wrap to negative */
            prev = c;
        }
    }
    ck_assert_int_eq(kn_retry_cap_ms(&p, 1000, 0), INT64_MAX);
    ck_assert_int_eq(kn_retry_cap_ms(&p, INT32_MAX, 1), INT64_MAX);
    /* degenerate policies give no delay rather than garbage */
    kn_retry_policy_t zero = {0, 1000, 3};
    ck_assert_int_eq(kn_retry_cap_ms(&zero, 4, 0), 0);
    ck_assert_int_eq(kn_retry_cap_ms(NULL, 4, 0), 0);
    kn_rng_t rng;
    kn_rng_seed(&rng, 1);
    ck_assert_int_ge(kn_retry_delay_ms(&p, 100000, NULL, &rng), 0);
}
END_TEST

START_TEST(jitter_within_bounds_and_spread) {
    kn_retry_policy_t p = {100, 20000, 10};
    kn_rng_t rng;
    kn_rng_seed_random(&rng);
    for (int r = 0; r < 10; r++) {
        int64_t cap = kn_retry_cap_ms(&p, r, 0);
        int64_t lo = INT64_MAX, hi = -1;
        double sum = 0;
        for (int i = 0; i < DRAWS; i++) {
            int64_t d = kn_retry_delay_ms(&p, r, NULL, &rng);
            ck_assert_int_ge(d, 0);
            ck_assert_int_le(d, cap);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += (double)d;
        }
        /* full jitter covers the whole range: extremes near both ends, mean near cap/2 */
        ck_assert_int_le(lo, cap / 50);
        ck_assert_int_ge(hi, cap - cap / 50);
        double mean = sum / DRAWS;
        ck_assert_msg(mean > cap * 0.45 && mean < cap * 0.55, "mean %f cap %lld", mean,
                      (long long)cap);
    }
}
END_TEST

START_TEST(uniform_small_ranges) {
    kn_rng_t rng;
    kn_rng_seed(&rng, 42);
    int seen[4] = {0};
    for (int i = 0; i < 4000; i++) {
        uint64_t v = kn_rng_uniform(&rng, 3);
        ck_assert_uint_le(v, 3);
        seen[v]++;
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_gt(seen[i], 800);
    ck_assert_uint_eq(kn_rng_uniform(&rng, 0), 0);
    (void)kn_rng_uniform(&rng, UINT64_MAX);
    /* same seed, same sequence; a different seed, a different one */
    kn_rng_t a, b, c;
    kn_rng_seed(&a, 7);
    kn_rng_seed(&b, 7);
    kn_rng_seed(&c, 8);
    uint64_t va = kn_rng_next(&a);
    ck_assert_uint_eq(va, kn_rng_next(&b));
    ck_assert_uint_ne(va, kn_rng_next(&c));
}
END_TEST

START_TEST(throttling_uses_larger_base) {
    kn_retry_policy_t p = {100, 20000, 10};
    kn_error_t *thr = kn_error_from_service(400, "ThrottlingException", "slow", NULL);
    kn_error_t *pte =
        kn_error_from_service(400, "ProvisionedThroughputExceededException", "x", NULL);
    kn_error_t *net = kn_error_new(KN_ERR_TRANSPORT, "connection reset");
    ck_assert(kn_retry_is_throttling(thr));
    ck_assert(kn_retry_is_throttling(pte));
    ck_assert(!kn_retry_is_throttling(net));
    ck_assert(!kn_retry_is_throttling(NULL));
    kn_rng_t rng;
    kn_rng_seed(&rng, 99);
    int64_t max_thr = 0, max_net = 0;
    for (int i = 0; i < DRAWS; i++) {
        int64_t a = kn_retry_delay_ms(&p, 0, thr, &rng), b = kn_retry_delay_ms(&p, 0, net, &rng);
        ck_assert_int_le(a, 100 * KN_RETRY_THROTTLE_BASE_FACTOR);
        ck_assert_int_le(b, 100);
        max_thr = a > max_thr ? a : max_thr;
        max_net = b > max_net ? b : max_net;
    }
    ck_assert_int_gt(max_thr, 100);
    ck_assert_int_eq(kn_retry_delay_ms(&p, 0, thr, NULL), 100 * KN_RETRY_THROTTLE_BASE_FACTOR);
    kn_error_destroy(thr);
    kn_error_destroy(pte);
    kn_error_destroy(net);
}
END_TEST

START_TEST(decisions_per_error_class) {
    kn_retry_policy_t p = {100, 20000, 3};
    struct {
        kn_error_t *e;
        int retriable;
    } cases[] = {
        {kn_error_from_service(400, "ThrottlingException", "t", NULL), 1},
        {kn_error_from_service(400, "LimitExceededException", "l", NULL), 1},
        {kn_error_from_service(500, "InternalFailure", "i", NULL), 1},
        {kn_error_from_service(503, NULL, NULL, NULL), 1},
        {kn_error_from_service(502, "SomethingNew", "bad gateway", NULL), 1},
        {kn_error_new(KN_ERR_TRANSPORT, "refused"), 1},
        {kn_error_new(KN_ERR_TIMED_OUT, "timeout"), 1},
        {kn_error_from_service(400, "ValidationException", "v", NULL), 0},
        {kn_error_from_service(400, "InvalidArgumentException", "a", NULL), 0},
        {kn_error_from_service(400, "AccessDeniedException", "d", NULL), 0},
        {kn_error_from_service(403, "UnrecognizedClientException", "u", NULL), 0},
        {kn_error_from_service(400, "ResourceNotFoundException", "n", NULL), 0},
        {kn_error_new(KN_ERR_BAD_RESPONSE, "garbage"), 0},
        {kn_error_new(KN_ERR_CANCELLED, "cancelled"), 0},
        {kn_error_new(KN_ERR_SHUTDOWN, "shutdown"), 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_ptr_nonnull(cases[i].e);
        for (int attempts = 1; attempts <= 4; attempts++) {
            int want = cases[i].retriable && attempts < p.max_attempts;
            ck_assert_msg(kn_retry_should_retry(&p, attempts, cases[i].e) == want,
                          "case %zu (%s) attempts %d", i, kn_error_message(cases[i].e), attempts);
        }
        kn_error_destroy(cases[i].e);
    }
    ck_assert(!kn_retry_should_retry(&p, 1, NULL));
    ck_assert(!kn_retry_should_retry(NULL, 1, NULL));
    kn_retry_policy_t once = {100, 1000, 1};
    kn_error_t *t = kn_error_new(KN_ERR_TIMED_OUT, "t");
    ck_assert(!kn_retry_should_retry(&once, 1, t));
    kn_error_destroy(t);
}
END_TEST

static Suite *retry_suite(void) {
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("retry");
    tcase_add_test(tc, policy_from_conf);
    tcase_add_test(tc, cap_doubles_then_saturates);
    tcase_add_test(tc, cap_never_overflows);
    tcase_add_test(tc, jitter_within_bounds_and_spread);
    tcase_add_test(tc, uniform_small_ranges);
    tcase_add_test(tc, throttling_uses_larger_base);
    tcase_add_test(tc, decisions_per_error_class);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(retry_suite)
