/*
 * The decisions of idempotent stream-consumer registration
 * (consumer/fanout_registration.c), driven with the outcomes a server can give:
 * found ACTIVE, missing, CREATING, DELETING, registered meanwhile by another
 * worker, throttled, refused.
 */
#include "fanout_registration.h"
#include "kn_test.h"

#define D KN_FANOUT_REG_DESCRIBE
#define R KN_FANOUT_REG_REGISTER

static kn_fanout_reg_op_t next(kn_fanout_reg_t *st, kn_fanout_reg_op_t op, kn_err_t rc,
                               kn_consumer_status_t status, int64_t *pause) {
    return kn_fanout_reg_next(st, op, rc, status, NULL, pause);
}

START_TEST(existing_active_consumer_is_used) {
    kn_fanout_reg_t st = {0};
    int64_t pause = -1;
    ck_assert_int_eq(next(&st, D, KN_OK, KN_CONSUMER_STATUS_ACTIVE, &pause), KN_FANOUT_REG_DONE);
    ck_assert_int_eq(pause, 0);
}
END_TEST

START_TEST(missing_consumer_is_registered_then_waited_for) {
    kn_fanout_reg_t st = {0};
    int64_t pause;
    ck_assert_int_eq(next(&st, D, KN_ERR_RESOURCE_NOT_FOUND, 0, &pause), R);
    ck_assert_int_eq(pause, 0);
    ck_assert_int_eq(next(&st, R, KN_OK, KN_CONSUMER_STATUS_CREATING, &pause), D);
    ck_assert_int_eq(pause, KN_FANOUT_POLL_FIRST_MS);
    /* CREATING: growing pauses up to the max */
    int64_t prev = pause;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(next(&st, D, KN_OK, KN_CONSUMER_STATUS_CREATING, &pause), D);
        ck_assert_int_ge(pause, prev);
        ck_assert_int_le(pause, KN_FANOUT_POLL_MAX_MS);
        prev = pause;
    }
    ck_assert_int_eq(pause, KN_FANOUT_POLL_MAX_MS);
    ck_assert_int_eq(next(&st, D, KN_OK, KN_CONSUMER_STATUS_ACTIVE, &pause), KN_FANOUT_REG_DONE);
}
END_TEST

START_TEST(race_with_another_worker) {
    kn_fanout_reg_t st = {0};
    int64_t pause;
    /* both saw it missing; the other registered first: ours is ResourceInUse */
    ck_assert_int_eq(next(&st, D, KN_ERR_RESOURCE_NOT_FOUND, 0, &pause), R);
    ck_assert_int_eq(next(&st, R, KN_ERR_RESOURCE_IN_USE, 0, &pause), D);
    ck_assert_int_eq(pause, 0);
    ck_assert_int_eq(next(&st, D, KN_OK, KN_CONSUMER_STATUS_ACTIVE, &pause), KN_FANOUT_REG_DONE);
    /* a consumer being deleted: wait until it is gone, then register again */
    kn_fanout_reg_t st2 = {0};
    ck_assert_int_eq(next(&st2, D, KN_OK, KN_CONSUMER_STATUS_DELETING, &pause), D);
    ck_assert_int_gt(pause, 0);
    ck_assert_int_eq(next(&st2, D, KN_ERR_RESOURCE_NOT_FOUND, 0, &pause), R);
}
END_TEST

START_TEST(limit_exceeded_is_retried_then_given_up) {
    kn_fanout_reg_t st = {0};
    int64_t pause;
    kn_rng_t rng;
    kn_rng_seed(&rng, 3);
    int tries = 1;
    while (kn_fanout_reg_next(&st, R, KN_ERR_LIMIT_EXCEEDED, 0, &rng, &pause) == R) {
        ck_assert_int_ge(pause, KN_FANOUT_THROTTLE_MS);
        ck_assert_int_le(pause, KN_FANOUT_THROTTLE_MS + KN_FANOUT_THROTTLE_JITTER_MS);
        tries++;
        ck_assert_int_le(tries, KN_FANOUT_REGISTER_ATTEMPTS);
    }
    ck_assert_int_eq(tries, KN_FANOUT_REGISTER_ATTEMPTS);
    /* throttled describes back off, a success resets the count */
    kn_fanout_reg_t st2 = {0};
    for (int i = 0; i < KN_FANOUT_DESCRIBE_THROTTLES; i++)
        ck_assert_int_eq(next(&st2, D, KN_ERR_LIMIT_EXCEEDED, 0, &pause), D);
    ck_assert_int_eq(pause, KN_FANOUT_THROTTLE_MS);
    ck_assert_int_eq(next(&st2, D, KN_ERR_THROTTLING, 0, &pause), KN_FANOUT_REG_FAIL);
    kn_fanout_reg_t st3 = {0};
    ck_assert_int_eq(next(&st3, D, KN_ERR_TRANSPORT, 0, &pause), D);
    ck_assert_int_eq(next(&st3, D, KN_OK, KN_CONSUMER_STATUS_CREATING, &pause), D);
    ck_assert_int_eq(st3.describe_throttled, 0);
}
END_TEST

START_TEST(other_errors_fail_at_once) {
    kn_fanout_reg_t st = {0};
    int64_t pause;
    ck_assert_int_eq(next(&st, D, KN_ERR_ACCESS_DENIED, 0, &pause), KN_FANOUT_REG_FAIL);
    ck_assert_int_eq(next(&st, D, KN_ERR_INVALID_ARG, 0, &pause), KN_FANOUT_REG_FAIL);
    ck_assert_int_eq(next(&st, R, KN_ERR_VALIDATION, 0, &pause), KN_FANOUT_REG_FAIL);
    ck_assert_int_eq(next(&st, R, KN_ERR_RESOURCE_NOT_FOUND, 0, &pause), KN_FANOUT_REG_FAIL);
    ck_assert_int_eq(next(&st, KN_FANOUT_REG_DONE, KN_OK, 0, &pause), KN_FANOUT_REG_DONE);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_fanout_registration");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, existing_active_consumer_is_used);
    tcase_add_test(tc, missing_consumer_is_registered_then_waited_for);
    tcase_add_test(tc, race_with_another_worker);
    tcase_add_test(tc, limit_exceeded_is_retried_then_given_up);
    tcase_add_test(tc, other_errors_fail_at_once);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
