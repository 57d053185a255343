/* Shard map: ranges from ListShards, binary search, fetch backoff, invalidation (shard_map.c). */
#include <string.h>

#include "kn_test.h"
#include "shard_map.h"

#define MAXKEY "340282366920938463463374607431768211455"

/* Four shards splitting the key space evenly, as AWS creates them. */
static const char *bounds4[][2] = {
    {"0", "85070591730234615865843651857942052863"},
    {"85070591730234615865843651857942052864", "170141183460469231731687303715884105727"},
    {"170141183460469231731687303715884105728", "255211775190703847597530955573826158591"},
    {"255211775190703847597530955573826158592", MAXKEY},
};

static void shard(kn_shard_t *s, const char *id, const char *start, const char *end, int closed) {
    memset(s, 0, sizeof(*s));
    s->shard_id = (char *)id;
    s->starting_hash_key = (char *)start;
    s->ending_hash_key = (char *)end;
    s->ending_sequence_number = closed ? (char *)"49" : NULL;
}

static kn_u128_t key(const char *dec) {
    kn_u128_t v;
    ck_assert_int_eq(kn_u128_parse_decimal(dec, strlen(dec), &v), KN_OK);
    return v;
}

static void load4(kn_shard_map_t *m, int64_t now) {
    kn_shard_t s[5];
    const char *ids[] = {"shardId-000000000003", "shardId-000000000001", "shardId-000000000002",
                         "shardId-000000000004"};
    /* out of order, plus a closed parent that must be ignored */
    shard(&s[0], ids[2], bounds4[2][0], bounds4[2][1], 0);
    shard(&s[1], ids[0], bounds4[0][0], bounds4[0][1], 0);
    shard(&s[2], "shardId-000000000000", "0", MAXKEY, 1);
    shard(&s[3], ids[3], bounds4[3][0], bounds4[3][1], 0);
    shard(&s[4], ids[1], bounds4[1][0], bounds4[1][1], 0);
    kn_shard_range_t *old;
    size_t nold;
    kn_error_t *err;
    ck_assert_int_eq(kn_shard_map_update(m, s, 5, now, &old, &nold, &err), KN_OK);
    ck_assert_ptr_null(err);
    kn_shard_map_ranges_free(old, nold);
}

START_TEST(lookup_by_binary_search) {
    kn_shard_map_t m;
    kn_shard_map_init(&m);
    kn_u128_t zero = {0, 0};
    ck_assert_int_eq(kn_shard_map_lookup(&m, zero), -1); /* not ready */
    load4(&m, 100);
    ck_assert_int_eq(m.state, KN_SHARD_MAP_READY);
    ck_assert_int_eq(m.count, 4);
    const char *probes[][2] = {
        {"0", "shardId-000000000003"},
        {"85070591730234615865843651857942052863", "shardId-000000000003"},
        {"85070591730234615865843651857942052864", "shardId-000000000001"},
        {"200000000000000000000000000000000000000", "shardId-000000000002"},
        {"255211775190703847597530955573826158591", "shardId-000000000002"},
        {"255211775190703847597530955573826158592", "shardId-000000000004"},
        {MAXKEY, "shardId-000000000004"},
    };
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        long idx = kn_shard_map_lookup(&m, key(probes[i][0]));
        ck_assert_int_ge(idx, 0);
        ck_assert_str_eq(m.ranges[idx].shard_id, probes[i][1]);
        ck_assert(kn_shard_map_range_holds(&m, idx, key(probes[i][0])));
        ck_assert_int_eq(kn_shard_map_find_id(&m, probes[i][1]), idx);
    }
    ck_assert(!kn_shard_map_range_holds(&m, 0, key(MAXKEY)));
    ck_assert(!kn_shard_map_range_holds(&m, 9, key(MAXKEY)));
    ck_assert_int_eq(kn_shard_map_find_id(&m, "shardId-000000000000"), -1); /* closed */
    ck_assert_int_eq(kn_shard_map_find_id(&m, NULL), -1);
    kn_shard_map_clear(&m);
}
END_TEST

START_TEST(fetch_backoff) {
    kn_shard_map_t m;
    kn_shard_map_init(&m);
    ck_assert(kn_shard_map_update_due(&m, 0));
    kn_shard_map_update_started(&m);
    ck_assert(!kn_shard_map_update_due(&m, 0));
    /* failures back off 1 s, 1.5 s, 2.25 s ... up to 30 s */
    int64_t now = 0, expect_ms = 1000;
    for (int i = 0; i < 12; i++) {
        kn_shard_map_update_failed(&m, now);
        ck_assert(!kn_shard_map_update_due(&m, now + expect_ms * 1000 - 1));
        ck_assert(kn_shard_map_update_due(&m, now + expect_ms * 1000));
        now += expect_ms * 1000;
        kn_shard_map_update_started(&m);
        expect_ms = expect_ms * 3 / 2 > 30000 ? 30000 : expect_ms * 3 / 2;
    }
    ck_assert_int_eq(m.backoff_ms, 30000);
    /* success resets the backoff */
    load4(&m, now);
    ck_assert_int_eq(m.backoff_ms, 1000);
    ck_assert(!kn_shard_map_update_due(&m, now));
    /* a huge clock never overflows the next fetch time */
    kn_shard_map_update_failed(&m, INT64_MAX - 5);
    ck_assert_int_eq(m.next_update_us, INT64_MAX);
    kn_shard_map_clear(&m);
}
END_TEST

START_TEST(invalidate_only_when_older_than_request) {
    kn_shard_map_t m;
    kn_shard_map_init(&m);
    load4(&m, 1000);
    uint64_t gen = m.generation;
    /* a request sent before the map was built says nothing about it */
    ck_assert(!kn_shard_map_invalidate(&m, 999));
    ck_assert(!kn_shard_map_invalidate(&m, 1000));
    ck_assert_int_eq(m.state, KN_SHARD_MAP_READY);
    ck_assert(kn_shard_map_invalidate(&m, 1001));
    ck_assert_int_eq(m.state, KN_SHARD_MAP_NONE);
    ck_assert_int_eq(kn_shard_map_lookup(&m, key("5")), -1);
    ck_assert(kn_shard_map_update_due(&m, 1001));
    /* further stale responses do not pile up refreshes */
    kn_shard_map_update_started(&m);
    ck_assert(!kn_shard_map_invalidate(&m, 5000));
    load4(&m, 6000);
    ck_assert_int_eq(m.generation, gen + 1);
    kn_shard_map_clear(&m);
}
END_TEST

START_TEST(bad_ranges_rejected) {
    kn_shard_map_t m;
    kn_shard_map_init(&m);
    load4(&m, 10);
    kn_shard_t s[2];
    kn_shard_range_t *old;
    size_t nold;
    kn_error_t *err;
    struct {
        const char *a0, *a1, *b0, *b1, *why;
    } bad[] = {
        {"0", "100", "100", MAXKEY, "overlap"},
        {"0", "100", "102", MAXKEY, "gap"},
        {"1", "100", "101", MAXKEY, "cover"},
        {"0", "100", "101", "340282366920938463463374607431768211454", "cover"},
        {"0", "100", "101", "340282366920938463463374607431768211456", "invalid"},
        {"0", "x", "101", MAXKEY, "invalid"},
        {"0", "-1", "101", MAXKEY, "invalid"},
        {"50", "10", "101", MAXKEY, "invalid"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        shard(&s[0], "a", bad[i].a0, bad[i].a1, 0);
        shard(&s[1], "b", bad[i].b0, bad[i].b1, 0);
        ck_assert_int_eq(kn_shard_map_update(&m, s, 2, 20, &old, &nold, &err), KN_ERR_BAD_RESPONSE);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strstr(kn_error_message(err), bad[i].why), "%zu: %s", i, kn_error_message(err));
        kn_error_destroy(err);
        ck_assert_ptr_null(old);
        /* the old ranges stay; the state asks for a retry after backoff */
        ck_assert_int_eq(m.count, 4);
        ck_assert_int_eq(m.state, KN_SHARD_MAP_NONE);
    }
    shard(&s[0], "a", "0", MAXKEY, 1);
    ck_assert_int_eq(kn_shard_map_update(&m, s, 1, 20, &old, &nold, &err), KN_ERR_BAD_RESPONSE);
    ck_assert(strstr(kn_error_message(err), "no open shard"));
    kn_error_destroy(err);
    /* one shard holding everything is fine; the old ranges are handed back */
    shard(&s[0], "only", "0", MAXKEY, 0);
    ck_assert_int_eq(kn_shard_map_update(&m, s, 1, 30, &old, &nold, &err), KN_OK);
    ck_assert_int_eq(nold, 4);
    ck_assert_str_eq(old[0].shard_id, "shardId-000000000003");
    kn_shard_map_ranges_free(old, nold);
    ck_assert_int_eq(kn_shard_map_lookup(&m, key(MAXKEY)), 0);
    kn_shard_map_clear(&m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_shard_map");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, lookup_by_binary_search);
    tcase_add_test(tc, fetch_backoff);
    tcase_add_test(tc, invalidate_only_when_older_than_request);
    tcase_add_test(tc, bad_ranges_rejected);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
