/*
 * Lease taking and stealing: the taker core's decisions, then whole fleets of
 * lease managers sharing an in-memory table on one simulated clock.
 */
#include <stdio.h>
#include <string.h>

#include "kn_fake_lease_store.h"
#include "kn_test.h"
#include "lease_manager.h"
#include "lease_renewer.h"
#include "lease_taker.h"

#define FAILOVER 3000


/* n leases "s00".., the first `owned` of them owned by owners[i % nowners]. */
static kn_lease_t *table(size_t n, size_t owned, const char *const *owners, size_t nowners) {
    kn_lease_t *t = calloc(n, sizeof(*t));
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "s%02zu", i);
        t[i] = kn_fake_lease(key, i < owned ? owners[i % nowners] : NULL, 1);
    }
    return t;
}

static void free_table(kn_lease_t *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        kn_lease_clear(&t[i]);
    free(t);
}

static kn_taker_t *taker(const char *id, int64_t max_leases, int64_t max_steal) {
    kn_taker_conf_t c = {FAILOVER, max_leases, max_steal, 7};
    return kn_taker_new(id, &c);
}

START_TEST(alone_takes_everything_free) {
    kn_lease_t *t = table(12, 0, NULL, 0);
    kn_taker_t *tk = taker("me", 0, 1);
    ck_assert_int_eq(kn_taker_update(tk, t, 12, 0), KN_OK);
    kn_take_plan_t p;
    ck_assert_int_eq(kn_taker_plan(tk, 0, &p), KN_OK);
    ck_assert_int_eq(p.workers, 1);
    ck_assert_int_eq(p.target, 12);
    ck_assert_int_eq(p.n, 12);
    for (size_t i = 0; i < p.n; i++)
        ck_assert(!p.takes[i].steal);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 12);
}
END_TEST

START_TEST(fair_share_is_ceil_of_leases_per_worker) {
    const char *owners[] = {"a", "b"};
    kn_lease_t *t = table(10, 4, owners, 2); /* a:2 b:2, 6 free */
    kn_taker_t *tk = taker("me", 0, 1);
    kn_taker_update(tk, t, 10, 0);
    kn_take_plan_t p;
    kn_taker_plan(tk, 0, &p);
    ck_assert_int_eq(p.workers, 3);
    ck_assert_int_eq(p.target, 4); /* ceil(10/3) */
    ck_assert_int_eq(p.n, 4);
    for (size_t i = 0; i < p.n; i++)
        ck_assert_ptr_null(p.takes[i].lease.owner);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 10);
}
END_TEST

START_TEST(max_leases_per_worker_caps_target) {
    kn_lease_t *t = table(12, 0, NULL, 0);
    kn_taker_t *tk = taker("me", 5, 1);
    kn_taker_update(tk, t, 12, 0);
    kn_take_plan_t p;
    kn_taker_plan(tk, 0, &p);
    ck_assert_int_eq(p.target, 5);
    ck_assert_int_eq(p.n, 5);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 12);
}
END_TEST

/* Expiry is seeing no counter change for failover.time.ms on the local clock. */
START_TEST(expiry_on_the_local_clock) {
    const char *owners[] = {"dead"};
    kn_lease_t *t = table(2, 2, owners, 1);
    kn_taker_t *tk = taker("me", 0, 0);
    kn_taker_update(tk, t, 2, 5000); /* first seen at 5000, whatever the owner's clock says */
    ck_assert_int_eq(kn_taker_is_expired(tk, "s00", 5000 + FAILOVER), 0);
    ck_assert_int_eq(kn_taker_is_expired(tk, "s00", 5000 + FAILOVER + 1), 1);
    /* s01's counter moves at 7000: its expiry restarts, s00's does not */
    t[1].counter++;
    kn_taker_update(tk, t, 2, 7000);
    ck_assert_int_eq(kn_taker_is_expired(tk, "s00", 8001), 1);
    ck_assert_int_eq(kn_taker_is_expired(tk, "s01", 8001), 0);
    ck_assert_int_eq(kn_taker_is_expired(tk, "s01", 7000 + FAILOVER + 1), 1);
    ck_assert_int_eq(kn_taker_is_expired(tk, "nope", 0), -1);
    kn_take_plan_t p;
    kn_taker_plan(tk, 7500, &p); /* nothing expired yet, stealing off */
    ck_assert_int_eq(p.n, 0);
    kn_take_plan_clear(&p);
    kn_taker_plan(tk, 8001, &p); /* s00 expired: taken, not stolen */
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(p.takes[0].lease.key, "s00");
    ck_assert_str_eq(p.takes[0].lease.owner, "dead");
    ck_assert(!p.takes[0].steal);
    ck_assert_int_eq(p.workers, 2); /* dead still owns the unexpired s01 */
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 2);
}
END_TEST

START_TEST(steal_one_from_most_loaded) {
    const char *owners[] = {"a"};
    kn_lease_t *t = table(12, 12, owners, 1);
    kn_taker_t *tk = taker("me", 0, 1);
    kn_taker_update(tk, t, 12, 0);
    kn_take_plan_t p;
    kn_taker_plan(tk, 100, &p);
    ck_assert_int_eq(p.target, 6);
    ck_assert_int_eq(p.n, 1); /* max.leases.to.steal */
    ck_assert(p.takes[0].steal);
    ck_assert_str_eq(p.takes[0].lease.owner, "a");
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    /* a larger allowance steals up to the surplus */
    tk = taker("me", 0, 10);
    kn_taker_update(tk, t, 12, 0);
    kn_taker_plan(tk, 100, &p);
    ck_assert_int_eq(p.n, 6);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    /* never steal */
    tk = taker("me", 0, 0);
    kn_taker_update(tk, t, 12, 0);
    kn_taker_plan(tk, 100, &p);
    ck_assert_int_eq(p.n, 0);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 12);
}
END_TEST

START_TEST(steal_rules_at_target) {
    /* 10 leases, a:4 b:4 me:2 -> target 4: need 2, most loaded exactly at target -> 1 */
    const char *owners[] = {"a", "b", "a", "b", "a", "b", "a", "b", "me", "me"};
    kn_lease_t *t = table(10, 10, owners, 10);
    kn_taker_t *tk = taker("me", 0, 5);
    kn_taker_update(tk, t, 10, 0);
    kn_take_plan_t p;
    kn_taker_plan(tk, 10, &p);
    ck_assert_int_eq(p.target, 4);
    ck_assert_int_eq(p.mine, 2);
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(p.takes[0].lease.owner, "a"); /* tie: smallest id */
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    /* me:3 needs only 1 and the most loaded is at target: no steal (no churn) */
    kn_lease_set_str(&t[0].owner, "me");
    tk = taker("me", 0, 5);
    kn_taker_update(tk, t, 10, 0);
    kn_taker_plan(tk, 10, &p);
    ck_assert_int_eq(p.mine, 3);
    ck_assert_int_eq(p.n, 0);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 10);
}
END_TEST

START_TEST(free_leases_before_stealing) {
    const char *owners[] = {"a"};
    kn_lease_t *t = table(6, 5, owners, 1); /* a:5, one free */
    kn_taker_t *tk = taker("me", 0, 5);
    kn_taker_update(tk, t, 6, 0);
    kn_take_plan_t p;
    kn_taker_plan(tk, 10, &p);
    ck_assert_int_eq(p.n, 1);
    ck_assert(!p.takes[0].steal);
    ck_assert_str_eq(p.takes[0].lease.key, "s05");
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 6);
}
END_TEST

START_TEST(shard_end_leases_are_ignored) {
    kn_lease_t *t = table(4, 0, NULL, 0);
    t[0].checkpoint = kn_esn_sentinel(KN_ESN_SHARD_END);
    t[1].checkpoint = kn_esn_sentinel(KN_ESN_SHARD_END);
    kn_lease_set_str(&t[1].owner, "gone");
    kn_taker_t *tk = taker("me", 0, 1);
    kn_taker_update(tk, t, 4, 0);
    kn_take_plan_t p;
    kn_taker_plan(tk, 0, &p);
    ck_assert_int_eq(p.leases, 2);
    ck_assert_int_eq(p.workers, 1);
    ck_assert_int_eq(p.n, 2);
    for (size_t i = 0; i < p.n; i++)
        ck_assert_int_ne(p.takes[i].lease.checkpoint.kind, KN_ESN_SHARD_END);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 4);
}
END_TEST

START_TEST(very_old_leases_first_past_target) {
    const char *owners[] = {"me", "dead"};
    kn_lease_t *t = table(4, 4, owners, 2); /* me:2, dead:2 */
    kn_taker_t *tk = taker("me", 0, 1);
    kn_taker_update(tk, t, 4, 0);
    /* keep my own leases fresh, let dead's age past 3 failovers */
    int64_t now = 3 * FAILOVER + 1;
    t[0].counter += 5;
    t[2].counter += 5;
    kn_taker_update(tk, t, 4, now);
    kn_take_plan_t p;
    kn_taker_plan(tk, now, &p);
    ck_assert_int_eq(p.workers, 1);
    ck_assert_int_eq(p.target, 4);
    ck_assert_int_eq(p.n, 2);
    kn_take_plan_clear(&p);
    /* with a cap of 3, only one of them fits */
    kn_taker_destroy(tk);
    tk = taker("me", 3, 1);
    kn_taker_update(tk, t, 4, 0);
    t[0].counter++;
    t[2].counter++;
    kn_taker_update(tk, t, 4, now);
    kn_taker_plan(tk, now, &p);
    ck_assert_int_eq(p.n, 1);
    kn_take_plan_clear(&p);
    kn_taker_destroy(tk);
    free_table(t, 4);
}
END_TEST

START_TEST(next_expiry_of_other_workers) {
    const char *owners[] = {"me", "a", "b"};
    kn_lease_t *t = table(4, 3, owners, 3); /* me, a, b own one each; s03 free */
    kn_taker_t *tk = taker("me", 0, 1);
    ck_assert_int_eq(kn_taker_next_expiry(tk), INT64_MAX);
    kn_taker_update(tk, t, 4, 1000);
    t[2].counter++; /* b renews */
    kn_taker_update(tk, t, 4, 2000);
    ck_assert_int_eq(kn_taker_next_expiry(tk), 1000 + FAILOVER + 1); /* a's; mine never counts */
    ck_assert_int_eq(kn_taker_is_expired(tk, "s01", 1000 + FAILOVER + 1), 1);
    kn_taker_destroy(tk);
    free_table(t, 4);
}
END_TEST

START_TEST(bad_arguments) {
    kn_taker_conf_t c = {0, 0, 1, 1};
    ck_assert_ptr_null(kn_taker_new("me", &c));
    c.failover_ms = 10;
    ck_assert_ptr_null(kn_taker_new("", &c));
    ck_assert_ptr_null(kn_taker_new(NULL, &c));
    c.max_steal = -1;
    ck_assert_ptr_null(kn_taker_new("me", &c));
    kn_taker_destroy(NULL);
    kn_take_plan_clear(NULL);
    kn_take_plan_t p;
    ck_assert_int_eq(kn_taker_plan(NULL, 0, &p), KN_ERR_INVALID_ARG);
}
END_TEST

/* ---- fleets on a shared fake table ---- */

#define MAX_WORKERS 4

typedef struct {
    int64_t now;
    int acquired, lost;
} world_t;

static int64_t fake_clock(void *opaque) {
    return ((world_t *)opaque)->now;
}

static void on_acquired(void *opaque, const kn_lease_t *l, uint64_t token, int stolen) {
    (void)l;
    (void)token;
    (void)stolen;
    ((world_t *)opaque)->acquired++;
}

static void on_lost(void *opaque, const char *key) {
    (void)key;
    ((world_t *)opaque)->lost++;
}

typedef struct {
    kn_fake_store_t *fs;
    world_t w[MAX_WORKERS];
    kn_lease_manager_t *m[MAX_WORKERS];
    int alive[MAX_WORKERS];
    char ids[MAX_WORKERS][8];
    int64_t now;
    int64_t next_take[MAX_WORKERS];
    int64_t last_renew[MAX_WORKERS];
} fleet_t;

static void fleet_init(fleet_t *f, int nworkers, int nleases) {
    memset(f, 0, sizeof(*f));
    f->fs = kn_fake_store_new();
    for (int i = 0; i < nleases; i++) {
        char key[32];
        snprintf(key, sizeof(key), "shard-%02d", i);
        kn_lease_t l = kn_fake_lease(key, NULL, 0);
        kn_fake_store_put(f->fs, &l);
        kn_lease_clear(&l);
    }
    kn_lease_store_t ops = kn_fake_store_ops(f->fs);
    for (int i = 0; i < nworkers; i++) {
        snprintf(f->ids[i], sizeof(f->ids[i]), "w%d", i);
        kn_taker_conf_t tc = {FAILOVER, 0, 1, (uint64_t)(i + 1) * 7919};
        kn_lease_events_t ev = {on_acquired, on_lost, &f->w[i]};
        f->m[i] = kn_lease_manager_new(&ops, f->ids[i], &tc, fake_clock, &f->w[i], &ev);
        f->alive[i] = 1;
    }
}

static void fleet_free(fleet_t *f) {
    for (int i = 0; i < MAX_WORKERS; i++)
        kn_lease_manager_destroy(f->m[i]);
    kn_fake_store_destroy(f->fs);
}

/* Advances time by `step` ms; every live worker renews every interval (worker i
 * offset by i*37 ms so they do not act in lockstep) and takes as the consumer's
 * coordinator does: every interval, and right when a silent worker's lease expires. */
static void fleet_run(fleet_t *f, int64_t until, int64_t step) {
    int64_t interval = kn_renewer_interval_ms(FAILOVER);
    for (; f->now < until; f->now += step) {
        for (int i = 0; i < MAX_WORKERS; i++) {
            if (!f->m[i] || !f->alive[i])
                continue;
            f->w[i].now = f->now;
            if ((f->now + i * 37) % interval < step) {
                kn_lease_manager_renew(f->m[i], NULL);
                f->last_renew[i] = f->now;
            }
            if (f->now >= f->next_take[i]) {
                kn_lease_manager_take(f->m[i], 1000, NULL);
                int64_t expiry = kn_lease_manager_next_expiry(f->m[i]);
                f->next_take[i] = f->now + interval;
                if (expiry < f->next_take[i])
                    f->next_take[i] = expiry > f->now + step ? expiry : f->now + step;
            }
        }
    }
}

static int balanced(fleet_t *f, int nworkers, size_t each) {
    for (int i = 0; i < nworkers; i++)
        if (f->alive[i] && kn_fake_store_owned_by(f->fs, f->ids[i]) != each)
            return 0;
    return 1;
}

/* Three workers starting together split 12 shards evenly within two failover periods. */
START_TEST(three_workers_split_twelve_evenly) {
    fleet_t f;
    fleet_init(&f, 3, 12);
    int64_t even_at = -1;
    while (f.now < 2 * FAILOVER) {
        fleet_run(&f, f.now + 25, 25);
        if (even_at < 0 && balanced(&f, 3, 4))
            even_at = f.now;
    }
    ck_assert_msg(even_at >= 0, "not even after two failover periods: %zu %zu %zu",
                  kn_fake_store_owned_by(f.fs, "w0"), kn_fake_store_owned_by(f.fs, "w1"),
                  kn_fake_store_owned_by(f.fs, "w2"));
    /* and it stays that way: no churn */
    fleet_run(&f, f.now + 5 * FAILOVER, 25);
    ck_assert(balanced(&f, 3, 4));
    uint64_t lost = 0;
    for (int i = 0; i < 3; i++) {
        kn_lease_counts_t c;
        kn_lease_manager_counts(f.m[i], &c);
        lost += c.lost;
        ck_assert_int_eq(kn_lease_manager_held(f.m[i]), 4);
    }
    /* every steal cost the victim one lease, nothing else was lost */
    ck_assert_int_le(lost, 12);
    fleet_free(&f);
}
END_TEST

/* A worker that dies: the others take its leases once they expired, never before. */
START_TEST(dead_worker_leases_taken_after_expiry) {
    fleet_t f;
    fleet_init(&f, 3, 12);
    fleet_run(&f, 4 * FAILOVER, 25);
    ck_assert(balanced(&f, 3, 4));
    int64_t killed = f.now;
    f.alive[2] = 0;
    int64_t recovered = -1;
    while (f.now < killed + 4 * FAILOVER) {
        fleet_run(&f, f.now + 25, 25);
        size_t dead_owned = kn_fake_store_owned_by(f.fs, "w2");
        if (f.now < f.last_renew[2] + FAILOVER)
            ck_assert_int_eq(dead_owned, 4); /* not while w2 could still be processing */
        if (recovered < 0 && dead_owned == 0)
            recovered = f.now;
    }
    ck_assert_int_ge(recovered, f.last_renew[2] + FAILOVER);
    /* failover plus one lease cycle: the last counter change is seen at most one
     * cycle late, and the take follows the expiry at once */
    ck_assert_int_le(recovered, killed + FAILOVER + kn_renewer_interval_ms(FAILOVER) + 50);
    ck_assert(balanced(&f, 2, 6));
    fleet_free(&f);
}
END_TEST

/* A worker joining a settled fleet gets its share by stealing, one lease a cycle. */
START_TEST(joining_worker_steals_its_share) {
    fleet_t f;
    fleet_init(&f, 2, 12);
    fleet_run(&f, 4 * FAILOVER, 25);
    ck_assert(balanced(&f, 2, 6));
    kn_lease_store_t ops = kn_fake_store_ops(f.fs);
    kn_taker_conf_t tc = {FAILOVER, 0, 1, 99};
    kn_lease_events_t ev = {on_acquired, on_lost, &f.w[2]};
    snprintf(f.ids[2], sizeof(f.ids[2]), "w2");
    f.m[2] = kn_lease_manager_new(&ops, "w2", &tc, fake_clock, &f.w[2], &ev);
    f.alive[2] = 1;
    fleet_run(&f, f.now + 8 * FAILOVER, 25);
    ck_assert(balanced(&f, 3, 4));
    kn_lease_counts_t c;
    kn_lease_manager_counts(f.m[2], &c);
    ck_assert_int_eq(c.taken, 4);
    ck_assert_int_eq(c.stolen, 4);
    fleet_free(&f);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_lease_taker");
    TCase *tc = tcase_create("taker");
    tcase_add_test(tc, alone_takes_everything_free);
    tcase_add_test(tc, fair_share_is_ceil_of_leases_per_worker);
    tcase_add_test(tc, max_leases_per_worker_caps_target);
    tcase_add_test(tc, expiry_on_the_local_clock);
    tcase_add_test(tc, steal_one_from_most_loaded);
    tcase_add_test(tc, steal_rules_at_target);
    tcase_add_test(tc, free_leases_before_stealing);
    tcase_add_test(tc, shard_end_leases_are_ignored);
    tcase_add_test(tc, very_old_leases_first_past_target);
    tcase_add_test(tc, next_expiry_of_other_workers);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    TCase *fleet = tcase_create("fleet");
    tcase_add_test(fleet, three_workers_split_twelve_evenly);
    tcase_add_test(fleet, dead_worker_leases_taken_after_expiry);
    tcase_add_test(fleet, joining_worker_steals_its_share);
    suite_add_tcase(s, fleet);
    return s;
}

KN_TEST_MAIN(suite)
