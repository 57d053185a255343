/* The per-shard token buckets and their reaction to throttling (limiter.c). */
#include <stdint.h>

#include "kn_test.h"
#include "limiter.h"

#define S 1000000 /* one second in microseconds */

START_TEST(records_bucket_at_150_percent) {
    kn_limiter_t l;
    kn_limiter_init(&l, 150, 0);
    /* A full bucket holds one second: 1500 records. */
    int taken = 0;
    while (kn_limiter_try_take(&l, 1, 10, 0))
        taken++;
    ck_assert_int_eq(taken, 1500);
    /* 1500 records per second refill: one every 666.67 us. */
    ck_assert_int_eq(kn_limiter_ready_at(&l, 1, 10, 0), 667);
    ck_assert(!kn_limiter_try_take(&l, 1, 10, 666));
    ck_assert(kn_limiter_try_take(&l, 1, 10, 667));
    /* After another second exactly 1500 more pass (the 1/3 unit remainder is kept). */
    taken = 0;
    for (int64_t t = 667; t <= 667 + S; t += 50)
        while (kn_limiter_try_take(&l, 1, 10, t))
            taken++;
    ck_assert_int_eq(taken, 1500);
}
END_TEST

START_TEST(bytes_bucket_limits_large_records) {
    kn_limiter_t l;
    kn_limiter_init(&l, 100, 0);
    /* 1 MiB per second: a 1 MiB record empties it; the next needs a full second. */
    ck_assert(kn_limiter_try_take(&l, 1, 1024 * 1024, 0));
    ck_assert(!kn_limiter_try_take(&l, 1, 1024 * 1024, 0));
    kn_limiter_t m;
    kn_limiter_init(&m, 100, 0);
    ck_assert(kn_limiter_try_take(&m, 1, KN_LIMITER_MIN_BYTE_CAPACITY, 0));
    ck_assert_int_eq(kn_limiter_ready_at(&m, 1, 1024 * 1024, 0), S);
    ck_assert(!kn_limiter_try_take(&m, 1, 1024 * 1024, S - 1));
    ck_assert(kn_limiter_try_take(&m, 1, 1024 * 1024, S));
    /* More than the capacity can never pass. */
    ck_assert_int_eq(kn_limiter_ready_at(&m, 1, KN_LIMITER_MIN_BYTE_CAPACITY + 1, S), INT64_MAX);
    ck_assert(!kn_limiter_try_take(&m, 1, KN_LIMITER_MIN_BYTE_CAPACITY + 1, 100 * S));
}
END_TEST

START_TEST(low_rate_keeps_fractions) {
    kn_limiter_t l;
    kn_limiter_init(&l, 1, 0); /* 10 records per second */
    while (kn_limiter_try_take(&l, 1, 1, 0))
        ;
    /* Refilled in 1 us steps, 10 records still arrive per second. */
    int taken = 0;
    for (int64_t t = 1; t <= S; t++)
        taken += kn_limiter_try_take(&l, 1, 1, t);
    ck_assert_int_eq(taken, 10);
}
END_TEST

START_TEST(throttle_halves_then_recovers) {
    kn_limiter_t l;
    kn_limiter_init(&l, 100, 0);
    ck_assert_int_eq(kn_limiter_factor(&l, 0), 1000);
    kn_limiter_throttled(&l, 10 * S);
    ck_assert_int_eq(kn_limiter_factor(&l, 10 * S), 500);
    /* buckets emptied */
    ck_assert(!kn_limiter_try_take(&l, 1, 1, 10 * S));
    /* half rate: 500 records per second -> 2000 us per record */
    ck_assert_int_eq(kn_limiter_ready_at(&l, 1, 1, 10 * S), 10 * S + 2000);
    /* a second report inside the window does not count again */
    kn_limiter_throttled(&l, 10 * S + KN_LIMITER_THROTTLE_WINDOW_US - 1);
    /* (it already recovered 9.9 thousandths meanwhile) */
    ck_assert_int_eq(kn_limiter_factor(&l, 10 * S + KN_LIMITER_THROTTLE_WINDOW_US - 1), 509);
    /* repeated throttling goes down to the floor, never to zero */
    int64_t t = 11 * S;
    for (int i = 0; i < 20; i++, t += KN_LIMITER_THROTTLE_WINDOW_US)
        kn_limiter_throttled(&l, t);
    int64_t last = t - KN_LIMITER_THROTTLE_WINDOW_US;
    ck_assert_int_eq(kn_limiter_factor(&l, last), KN_LIMITER_MIN_FACTOR);
    ck_assert_int_lt(kn_limiter_ready_at(&l, 1, 1, last), INT64_MAX);
    ck_assert_int_eq(l.throttles, 21);
    /* linear recovery: +100 per second, then capped at 1000 */
    ck_assert_int_eq(kn_limiter_factor(&l, last + 2 * S), KN_LIMITER_MIN_FACTOR + 200);
    ck_assert_int_eq(kn_limiter_factor(&l, last + 100 * S), 1000);
}
END_TEST

START_TEST(clock_going_backwards_is_harmless) {
    kn_limiter_t l;
    kn_limiter_init(&l, 100, 5 * S);
    while (kn_limiter_try_take(&l, 1, 1, 5 * S))
        ;
    ck_assert(!kn_limiter_try_take(&l, 1, 1, 4 * S));
    ck_assert_int_ge(kn_limiter_ready_at(&l, 1, 1, 4 * S), 4 * S);
    /* huge idle gaps fill the buckets without overflowing */
    ck_assert(kn_limiter_try_take(&l, 1000, 1024 * 1024, INT64_MAX / 2));
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_limiter");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, records_bucket_at_150_percent);
    tcase_add_test(tc, bytes_bucket_limits_large_records);
    tcase_add_test(tc, low_rate_keeps_fractions);
    tcase_add_test(tc, throttle_halves_then_recovers);
    tcase_add_test(tc, clock_going_backwards_is_harmless);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
