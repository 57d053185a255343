/* Shard discovery decisions: leases to create, parent/child ordering, child shards. */
#include <stdio.h>
#include <string.h>

#include "kn_test.h"
#include "shard_sync.h"

#define MAXH "340282366920938463463374607431768211455"
#define HALF "170141183460469231731687303715884105727"
#define HALF1 "170141183460469231731687303715884105728"

/*
 * A stream that was split and merged:
 *   s0 (closed) -> s2, s3 (split, closed) -> s4 (merge of s2+s3, open)
 *   s1 (open)
 */
static const kn_shard_info_t lineage[] = {
    {"s4", "s2", "s3", "0", HALF, 0},
    {"s0", NULL, NULL, "0", HALF, 1},
    {"s1", NULL, NULL, HALF1, MAXH, 0},
    {"s2", "s0", NULL, "0", "1000", 1},
    {"s3", "s0", NULL, "1001", HALF, 1},
};
#define NLINEAGE (sizeof(lineage) / sizeof(lineage[0]))

static const kn_lease_t *find(const kn_lease_t *l, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i].key, key))
            return &l[i];
    return NULL;
}

static kn_lease_t mk(const char *key, kn_esn_kind_t kind, const char *p1, const char *p2) {
    kn_lease_t l;
    memset(&l, 0, sizeof(l));
    kn_lease_set_str(&l.key, key);
    l.checkpoint = kn_esn_sentinel(kind);
    if (p1)
        kn_lease_add_relative(l.parents, &l.nparents, p1);
    if (p2)
        kn_lease_add_relative(l.parents, &l.nparents, p2);
    return l;
}

START_TEST(empty_table_trim_horizon_takes_whole_lineage) {
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_OK);
    ck_assert_int_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(out[i].checkpoint.kind, KN_ESN_TRIM_HORIZON);
        ck_assert_ptr_null(out[i].owner);
        ck_assert_int_eq(out[i].counter, 0);
    }
    const kn_lease_t *s4 = find(out, n, "s4");
    ck_assert_int_eq(s4->nparents, 2);
    ck_assert(kn_lease_has_relative(s4->parents, s4->nparents, "s2"));
    ck_assert(kn_lease_has_relative(s4->parents, s4->nparents, "s3"));
    ck_assert_str_eq(s4->starting_hash_key, "0");
    ck_assert_str_eq(s4->ending_hash_key, HALF);
    ck_assert_int_eq(find(out, n, "s0")->nparents, 0);
    kn_shard_sync_free(out, n);
}
END_TEST

START_TEST(empty_table_latest_takes_open_shards) {
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, NULL, 0, KN_ESN_LATEST, &out, &n), KN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_ptr_nonnull(find(out, n, "s1"));
    ck_assert_ptr_nonnull(find(out, n, "s4"));
    ck_assert_int_eq(find(out, n, "s4")->checkpoint.kind, KN_ESN_LATEST);
    ck_assert_int_eq(find(out, n, "s1")->checkpoint.kind, KN_ESN_LATEST);
    kn_shard_sync_free(out, n);
}
END_TEST

START_TEST(empty_table_at_timestamp_whole_lineage) {
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, NULL, 0, KN_ESN_AT_TIMESTAMP, &out, &n),
                     KN_OK);
    ck_assert_int_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(out[i].checkpoint.kind, KN_ESN_AT_TIMESTAMP);
    kn_shard_sync_free(out, n);
}
END_TEST

/* A split while workers run: the children of a leased parent start at TRIM_HORIZON. */
START_TEST(children_of_leased_parent_trim_horizon) {
    kn_lease_t have[] = {mk("s0", KN_ESN_LATEST, NULL, NULL), mk("s1", KN_ESN_LATEST, NULL, NULL)};
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, have, 2, KN_ESN_LATEST, &out, &n), KN_OK);
    ck_assert_int_eq(n, 3); /* s2, s3 and their merge s4 */
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(out[i].checkpoint.kind, KN_ESN_TRIM_HORIZON);
    ck_assert_ptr_null(find(out, n, "s0"));
    kn_shard_sync_free(out, n);
    /* once all leases exist, nothing more */
    kn_lease_t all[] = {have[0], have[1], mk("s2", 0, "s0", NULL), mk("s3", 0, "s0", NULL),
                        mk("s4", 0, "s2", "s3")};
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, all, 5, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(out);
    for (size_t i = 0; i < 5; i++)
        kn_lease_clear(&all[i]);
}
END_TEST

/* History before what the table knows is not re-read, whatever the initial position. */
START_TEST(ancestors_of_leased_shards_skipped) {
    kn_lease_t have[] = {mk("s4", KN_ESN_TRIM_HORIZON, "s2", "s3")};
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, have, 1, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(out[0].key, "s1");
    kn_shard_sync_free(out, n);
    kn_lease_clear(&have[0]);
}
END_TEST

START_TEST(bad_shard_lists) {
    kn_lease_t *out;
    size_t n;
    kn_shard_info_t dup[] = {{"a", NULL, NULL, NULL, NULL, 0}, {"a", NULL, NULL, NULL, NULL, 0}};
    ck_assert_int_eq(kn_shard_sync_plan(dup, 2, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_ERR_INVALID_ARG);
    kn_shard_info_t cycle[] = {{"a", "b", NULL, NULL, NULL, 1}, {"b", "a", NULL, NULL, NULL, 1}};
    ck_assert_int_eq(kn_shard_sync_plan(cycle, 2, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_ERR_INVALID_ARG);
    kn_shard_info_t self[] = {{"a", "a", NULL, NULL, NULL, 1}};
    ck_assert_int_eq(kn_shard_sync_plan(self, 1, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_ERR_INVALID_ARG);
    kn_shard_info_t hash[] = {{"a", NULL, NULL, "0", "340282366920938463463374607431768211456", 0}};
    ck_assert_int_eq(kn_shard_sync_plan(hash, 1, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_ERR_INVALID_ARG);
    kn_shard_info_t noid[] = {{NULL, NULL, NULL, NULL, NULL, 0}};
    ck_assert_int_eq(kn_shard_sync_plan(noid, 1, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n),
                     KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_shard_sync_plan(lineage, NLINEAGE, NULL, 0, KN_ESN_SHARD_END, &out, &n),
                     KN_ERR_INVALID_ARG);
    /* a parent outside the listing (trimmed) is simply not there */
    kn_shard_info_t orphan[] = {{"c", "gone", NULL, NULL, NULL, 0}};
    ck_assert_int_eq(kn_shard_sync_plan(orphan, 1, NULL, 0, KN_ESN_LATEST, &out, &n), KN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(out[0].checkpoint.kind, KN_ESN_LATEST);
    kn_shard_sync_free(out, n);
}
END_TEST

/* Long lineages are handled without recursion. */
START_TEST(long_lineage) {
    enum { N = 5000 };
    static char ids[N][16];
    static kn_shard_info_t sh[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "x%05d", i);
        sh[i].id = ids[i];
        sh[i].parent = i ? ids[i - 1] : NULL;
        sh[i].closed = i < N - 1;
    }
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_plan(sh, N, NULL, 0, KN_ESN_TRIM_HORIZON, &out, &n), KN_OK);
    ck_assert_int_eq(n, N);
    kn_shard_sync_free(out, n);
}
END_TEST

START_TEST(child_waits_for_every_leased_parent) {
    kn_lease_t leases[] = {mk("s2", KN_ESN_SHARD_END, "s0", NULL),
                           mk("s3", KN_ESN_NUMBER, "s0", NULL), mk("s4", 0, "s2", "s3")};
    kn_esn_parse("123", 0, &leases[1].checkpoint);
    ck_assert(!kn_shard_sync_parents_done(&leases[2], leases, 3));
    leases[1].checkpoint = kn_esn_sentinel(KN_ESN_SHARD_END);
    ck_assert(kn_shard_sync_parents_done(&leases[2], leases, 3));
    /* a parent without a lease (never read, or cleaned up) does not block */
    ck_assert(kn_shard_sync_parents_done(&leases[2], leases, 1));
    ck_assert(kn_shard_sync_parents_done(&leases[0], leases, 3));
    for (size_t i = 0; i < 3; i++)
        kn_lease_clear(&leases[i]);
}
END_TEST

START_TEST(child_shards_at_shard_end) {
    kn_shard_info_t children[] = {{"s2", "s0", NULL, "0", "1000", 0},
                                  {"s3", "s0", NULL, "1001", HALF, 0}};
    kn_lease_t *out;
    size_t n;
    ck_assert_int_eq(kn_shard_sync_children("s0", children, 2, &out, &n), KN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(out[1].checkpoint.kind, KN_ESN_TRIM_HORIZON);
    ck_assert_str_eq(out[1].parents[0], "s0");
    ck_assert_str_eq(out[1].starting_hash_key, "1001");
    kn_shard_sync_free(out, n);
    /* merge child: the parent may be the adjacent one */
    kn_shard_info_t merged[] = {{"s4", "s2", "s3", "0", HALF, 0}};
    ck_assert_int_eq(kn_shard_sync_children("s3", merged, 1, &out, &n), KN_OK);
    ck_assert_int_eq(out[0].nparents, 2);
    kn_shard_sync_free(out, n);
    /* a child that does not name the parent is a bad reply */
    ck_assert_int_eq(kn_shard_sync_children("s1", merged, 1, &out, &n), KN_ERR_BAD_RESPONSE);
    kn_shard_info_t badhash[] = {{"s4", "s1", NULL, "x", HALF, 0}};
    ck_assert_int_eq(kn_shard_sync_children("s1", badhash, 1, &out, &n), KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(kn_shard_sync_children("s1", NULL, 0, &out, &n), KN_OK);
    ck_assert_int_eq(n, 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_shard_sync");
    TCase *tc = tcase_create("shard_sync");
    tcase_add_test(tc, empty_table_trim_horizon_takes_whole_lineage);
    tcase_add_test(tc, empty_table_latest_takes_open_shards);
    tcase_add_test(tc, empty_table_at_timestamp_whole_lineage);
    tcase_add_test(tc, children_of_leased_parent_trim_horizon);
    tcase_add_test(tc, ancestors_of_leased_shards_skipped);
    tcase_add_test(tc, bad_shard_lists);
    tcase_add_test(tc, long_lineage);
    tcase_add_test(tc, child_waits_for_every_leased_parent);
    tcase_add_test(tc, child_shards_at_shard_end);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
