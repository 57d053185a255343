/*
 * Lease renewal: the renewer core on its own, then the renewal cycle of the
 * lease manager against an in-memory lease table with an injected clock.
 */
#include <stdio.h>
#include <string.h>

#include "kn_fake_lease_store.h"
#include "kn_test.h"
#include "lease_manager.h"
#include "lease_renewer.h"

#define FAILOVER 3000


START_TEST(interval_is_a_third_minus_epsilon) {
    ck_assert_int_eq(kn_renewer_interval_ms(10000), 3308);
    ck_assert_int_eq(kn_renewer_interval_ms(3000), 975);
    ck_assert_int_ge(kn_renewer_interval_ms(1), 100);
}
END_TEST

START_TEST(validity_ends_failover_after_last_renewal_sent) {
    kn_renewer_t *r = kn_renewer_new("me", FAILOVER);
    kn_lease_t l = kn_fake_lease("s1", "me", 5);
    uint64_t tok;
    ck_assert_int_eq(kn_renewer_add(r, &l, 1000, &tok), KN_OK);
    ck_assert_uint_gt(tok, 0);
    ck_assert_int_eq(kn_renewer_get(r, "s1", tok, 1000 + FAILOVER - 1, NULL), KN_OK);
    ck_assert_int_eq(kn_renewer_get(r, "s1", tok, 1000 + FAILOVER, NULL), KN_ERR_LEASE_LOST);
    /* a renewal sent at 2000 moves the deadline */
    kn_renewer_renewed(r, "s1", 5, 2000);
    int64_t c;
    ck_assert_int_eq(kn_renewer_expected(r, "s1", &c), KN_OK);
    ck_assert_int_eq(c, 6);
    ck_assert_int_eq(kn_renewer_get(r, "s1", tok, 2000 + FAILOVER - 1, NULL), KN_OK);
    /* a stale answer for an older counter changes nothing */
    kn_renewer_renewed(r, "s1", 5, 2500);
    ck_assert_int_eq(kn_renewer_expected(r, "s1", &c), KN_OK);
    ck_assert_int_eq(c, 6);
    ck_assert_int_eq(kn_renewer_get(r, "s1", tok, 2000 + FAILOVER, NULL), KN_ERR_LEASE_LOST);
    kn_lease_clear(&l);
    kn_renewer_destroy(r);
}
END_TEST

START_TEST(reacquisition_gets_a_new_token) {
    kn_renewer_t *r = kn_renewer_new("me", FAILOVER);
    kn_lease_t l = kn_fake_lease("s1", "me", 1);
    uint64_t t1, t2;
    kn_renewer_add(r, &l, 0, &t1);
    kn_renewer_add(r, &l, 10, &t2);
    ck_assert_uint_ne(t1, t2);
    ck_assert_int_eq(kn_renewer_count(r), 1);
    ck_assert_int_eq(kn_renewer_get(r, "s1", t1, 20, NULL), KN_ERR_LEASE_LOST);
    kn_lease_t copy;
    ck_assert_int_eq(kn_renewer_get(r, "s1", t2, 20, &copy), KN_OK);
    ck_assert_str_eq(copy.owner, "me");
    kn_lease_clear(&copy);
    /* not ours: refused */
    kn_lease_t other = kn_fake_lease("s2", "you", 1);
    ck_assert_int_eq(kn_renewer_add(r, &other, 0, NULL), KN_ERR_INVALID_ARG);
    kn_renewer_remove(r, "s1");
    kn_renewer_remove(r, "unknown");
    ck_assert_int_eq(kn_renewer_count(r), 0);
    kn_lease_clear(&l);
    kn_lease_clear(&other);
    kn_renewer_destroy(r);
    kn_renewer_destroy(NULL);
}
END_TEST

START_TEST(reread_tells_spurious_from_lost) {
    kn_renewer_t *r = kn_renewer_new("me", FAILOVER);
    kn_lease_t l = kn_fake_lease("s1", "me", 7);
    kn_renewer_add(r, &l, 0, NULL);
    /* our first attempt landed although its reply was lost */
    kn_lease_t cur = kn_fake_lease("s1", "me", 8);
    ck_assert_int_eq(kn_renewer_reread(r, "s1", 7, &cur, 500), KN_RENEW_OK);
    ck_assert_int_eq(kn_renewer_get(r, "s1", 0, 500 + FAILOVER - 1, NULL), KN_OK);
    kn_lease_clear(&cur);
    /* owner still us but the counter moved twice: someone else wrote it */
    cur = kn_fake_lease("s1", "me", 10);
    ck_assert_int_eq(kn_renewer_reread(r, "s1", 8, &cur, 600), KN_RENEW_LOST);
    ck_assert_int_eq(kn_renewer_count(r), 0);
    kn_lease_clear(&cur);
    /* another owner */
    kn_renewer_add(r, &l, 0, NULL);
    cur = kn_fake_lease("s1", "you", 8);
    ck_assert_int_eq(kn_renewer_reread(r, "s1", 7, &cur, 600), KN_RENEW_LOST);
    kn_lease_clear(&cur);
    /* gone */
    kn_renewer_add(r, &l, 0, NULL);
    ck_assert_int_eq(kn_renewer_reread(r, "s1", 7, NULL, 600), KN_RENEW_LOST);
    kn_lease_clear(&l);
    kn_renewer_destroy(r);
}
END_TEST

static void count_lost(void *opaque, const char *key) {
    (void)key;
    (*(int *)opaque)++;
}

START_TEST(expire_drops_lapsed_leases) {
    kn_renewer_t *r = kn_renewer_new("me", FAILOVER);
    kn_lease_t a = kn_fake_lease("a", "me", 1), b = kn_fake_lease("b", "me", 1);
    kn_renewer_add(r, &a, 0, NULL);
    kn_renewer_add(r, &b, 1000, NULL);
    int lost = 0;
    ck_assert_int_eq(kn_renewer_expire(r, FAILOVER, count_lost, &lost), 1);
    ck_assert_int_eq(lost, 1);
    ck_assert_str_eq(kn_renewer_key_at(r, 0), "b");
    ck_assert_int_eq(kn_renewer_expire(r, 1000 + FAILOVER, NULL, NULL), 1);
    ck_assert_int_eq(kn_renewer_count(r), 0);
    kn_lease_clear(&a);
    kn_lease_clear(&b);
    kn_renewer_destroy(r);
}
END_TEST

/* ---- the renewal cycle against a fake table ---- */

typedef struct {
    int64_t now;
    int lost;
    int acquired;
    char last_lost[64];
    char key[8][64]; /* the first acquisitions */
    uint64_t token[8];
} world_t;

static int64_t fake_clock(void *opaque) {
    return ((world_t *)opaque)->now;
}

static void on_lost(void *opaque, const char *key) {
    world_t *w = opaque;
    w->lost++;
    snprintf(w->last_lost, sizeof(w->last_lost), "%s", key);
}

static void on_acquired(void *opaque, const kn_lease_t *l, uint64_t token, int stolen) {
    world_t *w = opaque;
    (void)stolen;
    if (w->acquired < 8) {
        snprintf(w->key[w->acquired], sizeof(w->key[0]), "%s", l->key);
        w->token[w->acquired] = token;
    }
    w->acquired++;
}

static kn_lease_manager_t *manager(kn_fake_store_t *fs, world_t *w, const char *id) {
    kn_lease_store_t ops = kn_fake_store_ops(fs);
    kn_taker_conf_t tc = {FAILOVER, 0, 1, 42};
    kn_lease_events_t ev = {on_acquired, on_lost, w};
    return kn_lease_manager_new(&ops, id, &tc, fake_clock, w, &ev);
}

static void put_unowned(kn_fake_store_t *fs, const char *key) {
    kn_lease_t l = kn_fake_lease(key, NULL, 0);
    kn_fake_store_put(fs, &l);
    kn_lease_clear(&l);
}

static int64_t counter_of(kn_fake_store_t *fs, const char *key) {
    kn_lease_t l;
    ck_assert_int_eq(kn_fake_store_get(fs, key, &l), KN_OK);
    int64_t c = l.counter;
    kn_lease_clear(&l);
    return c;
}

START_TEST(cycle_renews_by_conditional_increment) {
    kn_fake_store_t *fs = kn_fake_store_new();
    world_t w = {0};
    put_unowned(fs, "s1");
    kn_lease_manager_t *m = manager(fs, &w, "me");
    ck_assert_int_eq(kn_lease_manager_take(m, 100, NULL), KN_OK);
    ck_assert_int_eq(w.acquired, 1);
    ck_assert_int_eq(counter_of(fs, "s1"), 1);
    for (int i = 0; i < 5; i++) {
        w.now += kn_renewer_interval_ms(FAILOVER);
        ck_assert_int_eq(kn_lease_manager_renew(m, NULL), KN_OK);
    }
    ck_assert_int_eq(counter_of(fs, "s1"), 6);
    ck_assert_int_eq(kn_lease_manager_held(m), 1);
    ck_assert_int_eq(w.lost, 0);
    kn_lease_manager_destroy(m);
    kn_fake_store_destroy(fs);
}
END_TEST

/* A renewal whose reply was lost landed anyway: the retry's failed condition is spurious. */
START_TEST(cycle_spurious_failure_keeps_lease) {
    kn_fake_store_t *fs = kn_fake_store_new();
    world_t w = {0};
    put_unowned(fs, "s1");
    kn_lease_manager_t *m = manager(fs, &w, "me");
    kn_lease_manager_take(m, 100, NULL);
    w.now = 1000;
    kn_fake_store_lose_replies(fs, 1);
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_lease_manager_renew(m, &err), KN_ERR_TIMED_OUT);
    ck_assert_ptr_nonnull(err);
    kn_error_destroy(err);
    ck_assert_int_eq(counter_of(fs, "s1"), 2); /* it did land */
    w.now = 2000;
    ck_assert_int_eq(kn_lease_manager_renew(m, NULL), KN_OK); /* condition fails, re-read: ours */
    ck_assert_int_eq(w.lost, 0);
    ck_assert_int_eq(kn_lease_manager_held(m), 1);
    /* counted from the spurious write's send time */
    ck_assert_int_eq(kn_lease_manager_get(m, "s1", 0, NULL), KN_OK);
    w.now = 3000;
    ck_assert_int_eq(kn_lease_manager_renew(m, NULL), KN_OK);
    ck_assert_int_eq(counter_of(fs, "s1"), 3);
    kn_lease_manager_destroy(m);
    kn_fake_store_destroy(fs);
}
END_TEST

START_TEST(cycle_detects_a_taken_lease) {
    kn_fake_store_t *fs = kn_fake_store_new();
    world_t w = {0};
    put_unowned(fs, "s1");
    kn_lease_manager_t *m = manager(fs, &w, "me");
    kn_lease_manager_take(m, 100, NULL);
    /* another worker takes it */
    kn_lease_t l;
    kn_fake_store_get(fs, "s1", &l);
    kn_lease_set_str(&l.owner, "other");
    l.counter += 1;
    kn_fake_store_put(fs, &l);
    kn_lease_clear(&l);
    w.now = 900;
    ck_assert_int_eq(kn_lease_manager_renew(m, NULL), KN_OK);
    ck_assert_int_eq(w.lost, 1);
    ck_assert_str_eq(w.last_lost, "s1");
    ck_assert_int_eq(kn_lease_manager_held(m), 0);
    ck_assert_int_eq(kn_lease_manager_get(m, "s1", 0, NULL), KN_ERR_LEASE_LOST);
    kn_lease_manager_destroy(m);
    kn_fake_store_destroy(fs);
}
END_TEST

/*
 * The table is unreachable for the holder: the lease stops being valid for the
 * holder (processing stops) strictly before another worker, watching the
 * counter from its own scans, may consider it expired.
 */
START_TEST(holder_stops_before_others_may_take) {
    kn_fake_store_t *fs = kn_fake_store_new();
    world_t wa = {0}, wb = {0};
    put_unowned(fs, "s1");
    kn_lease_manager_t *a = manager(fs, &wa, "a");
    kn_lease_manager_t *b = manager(fs, &wb, "b");
    kn_lease_manager_take(a, 100, NULL);
    int64_t interval = kn_renewer_interval_ms(FAILOVER);
    int64_t a_invalid_at = -1, b_took_at = -1;
    for (int64_t t = 0; t <= 4 * FAILOVER; t += 50) {
        wa.now = wb.now = t;
        if (t % interval == 0) {
            if (t >= 1000) /* from now on every call of a fails */
                kn_fake_store_fail_next(fs, 1, KN_ERR_TRANSPORT);
            kn_lease_manager_renew(a, NULL);
        }
        if (t % 500 == 0 && b_took_at < 0) {
            kn_lease_manager_take(b, 100, NULL);
            if (wb.acquired)
                b_took_at = t;
        }
        if (a_invalid_at < 0 && kn_lease_manager_get(a, "s1", 0, NULL) != KN_OK)
            a_invalid_at = t;
        ck_assert_msg(!(wb.acquired && kn_lease_manager_get(a, "s1", 0, NULL) == KN_OK),
                      "both hold s1 at t=%lld", (long long)t);
    }
    ck_assert_int_ge(a_invalid_at, 0);
    ck_assert_int_ge(b_took_at, 0);
    ck_assert_int_lt(a_invalid_at, b_took_at);
    kn_lease_manager_destroy(a);
    kn_lease_manager_destroy(b);
    kn_fake_store_destroy(fs);
}
END_TEST

START_TEST(release_frees_lease_at_once) {
    kn_fake_store_t *fs = kn_fake_store_new();
    world_t wa = {0}, wb = {0};
    put_unowned(fs, "s1");
    put_unowned(fs, "s2");
    kn_lease_manager_t *a = manager(fs, &wa, "a");
    kn_lease_manager_t *b = manager(fs, &wb, "b");
    kn_lease_manager_take(a, 100, NULL);
    ck_assert_int_eq(kn_lease_manager_held(a), 2);
    kn_lease_manager_take(b, 100, NULL); /* fair share 1, nothing free: steals one */
    ck_assert_int_eq(wb.acquired, 1);
    wa.now = wb.now = 100;
    kn_lease_manager_renew(a, NULL); /* a notices the steal */
    ck_assert_int_eq(wa.lost, 1);
    ck_assert_int_eq(kn_fake_store_owned_by(fs, "a"), 1);
    /* a releases what it has left; b takes it on its next cycle, long before expiry */
    const char *kept = !strcmp(wa.last_lost, "s1") ? "s2" : "s1";
    ck_assert_int_eq(kn_lease_manager_release(a, kept, wa.token[!strcmp(wa.key[0], kept) ? 0 : 1],
                                              NULL), KN_OK);
    ck_assert_int_eq(kn_lease_manager_held(a), 0);
    ck_assert_int_eq(kn_fake_store_owned_by(fs, NULL), 1);
    wa.now = wb.now = 200;
    kn_lease_manager_take(b, 100, NULL);
    ck_assert_int_eq(wb.acquired, 2);
    ck_assert_int_eq(kn_fake_store_owned_by(fs, "b"), 2);
    /* releasing again, or with a stale token, is refused */
    ck_assert_int_eq(kn_lease_manager_release(a, kept, 1, NULL), KN_ERR_LEASE_LOST);
    kn_lease_manager_destroy(a);
    kn_lease_manager_destroy(b);
    kn_fake_store_destroy(fs);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_lease_renewer");
    TCase *tc = tcase_create("renewer");
    tcase_add_test(tc, interval_is_a_third_minus_epsilon);
    tcase_add_test(tc, validity_ends_failover_after_last_renewal_sent);
    tcase_add_test(tc, reacquisition_gets_a_new_token);
    tcase_add_test(tc, reread_tells_spurious_from_lost);
    tcase_add_test(tc, expire_drops_lapsed_leases);
    tcase_add_test(tc, cycle_renews_by_conditional_increment);
    tcase_add_test(tc, cycle_spurious_failure_keeps_lease);
    tcase_add_test(tc, cycle_detects_a_taken_lease);
    tcase_add_test(tc, holder_stops_before_others_may_take);
    tcase_add_test(tc, release_frees_lease_at_once);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
