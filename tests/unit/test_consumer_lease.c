/* The lease <-> KCL 2.x DynamoDB item mapping and extended sequence number order. */
#include <stdio.h>
#include <string.h>

#include "kn_test.h"
#include "lease.h"

static kn_esn_t esn(const char *s, int64_t sub) {
    kn_esn_t e;
    ck_assert_int_eq(kn_esn_parse(s, sub, &e), KN_OK);
    return e;
}

START_TEST(esn_sentinel_order) {
    kn_esn_t th = esn("TRIM_HORIZON", 0), la = esn("LATEST", 0), at = esn("AT_TIMESTAMP", 0);
    kn_esn_t zero = esn("0", 0), big = esn("49590338271490256608559692538361571095921575989136588898", 0);
    kn_esn_t end = esn("SHARD_END", 0);
    ck_assert_int_lt(kn_esn_cmp(&th, &la), 0);
    ck_assert_int_lt(kn_esn_cmp(&th, &at), 0);
    ck_assert_int_eq(kn_esn_cmp(&la, &at), 0);
    ck_assert_int_lt(kn_esn_cmp(&la, &zero), 0);
    ck_assert_int_lt(kn_esn_cmp(&at, &zero), 0);
    ck_assert_int_lt(kn_esn_cmp(&zero, &big), 0);
    ck_assert_int_lt(kn_esn_cmp(&big, &end), 0);
    ck_assert_int_gt(kn_esn_cmp(&end, &th), 0);
    ck_assert_int_eq(kn_esn_cmp(&end, &end), 0);
    ck_assert_str_eq(kn_esn_str(&th), "TRIM_HORIZON");
    ck_assert_str_eq(kn_esn_str(&end), "SHARD_END");
    ck_assert_str_eq(kn_esn_str(&big), "49590338271490256608559692538361571095921575989136588898");
}
END_TEST

START_TEST(esn_numbers_as_decimals) {
    /* shorter number is smaller even when lexically larger */
    kn_esn_t a = esn("9", 0), b = esn("10", 0);
    ck_assert_int_lt(kn_esn_cmp(&a, &b), 0);
    /* the longest allowed sequence number: 129 digits */
    char longest[KN_SEQ_MAX_DIGITS + 2];
    memset(longest, '9', KN_SEQ_MAX_DIGITS);
    longest[KN_SEQ_MAX_DIGITS] = 0;
    kn_esn_t l = esn(longest, 0);
    ck_assert_int_gt(kn_esn_cmp(&l, &b), 0);
    char lower[KN_SEQ_MAX_DIGITS + 1];
    memcpy(lower, longest, sizeof(lower));
    lower[KN_SEQ_MAX_DIGITS - 1] = '8';
    kn_esn_t lo = esn(lower, 0);
    ck_assert_int_lt(kn_esn_cmp(&lo, &l), 0);
    /* same sequence: the subsequence decides */
    kn_esn_t s3 = esn("12345", 3), s4 = esn("12345", 4), s0 = esn("12345", 0);
    ck_assert_int_lt(kn_esn_cmp(&s3, &s4), 0);
    ck_assert_int_lt(kn_esn_cmp(&s0, &s3), 0);
    kn_esn_t n2 = esn("12346", 0);
    ck_assert_int_lt(kn_esn_cmp(&s4, &n2), 0);
}
END_TEST

START_TEST(esn_rejects_bad_text) {
    kn_esn_t e;
    char too_long[KN_SEQ_MAX_DIGITS + 2];
    memset(too_long, '1', KN_SEQ_MAX_DIGITS + 1);
    too_long[KN_SEQ_MAX_DIGITS + 1] = 0;
    const char *bad[] = {"", "007", "-1", "1e5", "12a", "trim_horizon", " 1", too_long, "SHARD_END "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(kn_esn_parse(bad[i], 0, &e) == KN_ERR_INVALID_ARG, "accepted '%s'", bad[i]);
    ck_assert_int_eq(kn_esn_parse(NULL, 0, &e), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_esn_parse("5", -1, &e), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(hash_keys) {
    ck_assert(kn_hash_key_valid("0"));
    ck_assert(kn_hash_key_valid("340282366920938463463374607431768211455"));
    ck_assert(!kn_hash_key_valid("340282366920938463463374607431768211456"));
    ck_assert(!kn_hash_key_valid("1000000000000000000000000000000000000000"));
    ck_assert(!kn_hash_key_valid("01"));
    ck_assert(!kn_hash_key_valid(""));
}
END_TEST

static void fill_lease(kn_lease_t *l) {
    memset(l, 0, sizeof(*l));
    kn_lease_set_str(&l->key, "shardId-000000000002");
    kn_lease_set_str(&l->owner, "worker-a");
    l->counter = 42;
    l->checkpoint = esn("49590338271490256608559692538361571095921575989136588898", 7);
    l->has_pending = 1;
    l->pending = esn("49590338271490256608559692538361571095921575989136589999", 0);
    l->owner_switches = 3;
    kn_lease_add_relative(l->parents, &l->nparents, "shardId-000000000000");
    kn_lease_add_relative(l->parents, &l->nparents, "shardId-000000000001");
    kn_lease_add_relative(l->children, &l->nchildren, "shardId-000000000005");
    kn_lease_set_str(&l->starting_hash_key, "0");
    kn_lease_set_str(&l->ending_hash_key, "170141183460469231731687303715884105727");
}

/* The exact attribute names and DynamoDB types the KCL 2.x serializer writes. */
START_TEST(item_matches_kcl_layout) {
    kn_lease_t l;
    fill_lease(&l);
    cJSON *item = kn_lease_to_item(&l);
    ck_assert_ptr_nonnull(item);
    cJSON *expected = cJSON_Parse(
        "{\"leaseKey\":{\"S\":\"shardId-000000000002\"},"
        "\"leaseOwner\":{\"S\":\"worker-a\"},"
        "\"leaseCounter\":{\"N\":\"42\"},"
        "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"3\"},"
        "\"checkpoint\":{\"S\":\"49590338271490256608559692538361571095921575989136588898\"},"
        "\"checkpointSubSequenceNumber\":{\"N\":\"7\"},"
        "\"pendingCheckpoint\":{\"S\":\"49590338271490256608559692538361571095921575989136589999\"},"
        "\"pendingCheckpointSubSequenceNumber\":{\"N\":\"0\"},"
        "\"parentShardId\":{\"SS\":[\"shardId-000000000000\",\"shardId-000000000001\"]},"
        "\"childShardIds\":{\"SS\":[\"shardId-000000000005\"]},"
        "\"startingHashKey\":{\"S\":\"0\"},"
        "\"endingHashKey\":{\"S\":\"170141183460469231731687303715884105727\"}}");
    ck_assert_ptr_nonnull(expected);
    ck_assert_msg(cJSON_Compare(item, expected, 1), "item differs: %s", cJSON_PrintUnformatted(item));

    kn_lease_t back;
    ck_assert_int_eq(kn_lease_from_item(item, &back, NULL), KN_OK);
    ck_assert_str_eq(back.key, l.key);
    ck_assert_str_eq(back.owner, l.owner);
    ck_assert_int_eq(back.counter, 42);
    ck_assert_int_eq(kn_esn_cmp(&back.checkpoint, &l.checkpoint), 0);
    ck_assert_int_eq(back.has_pending, 1);
    ck_assert_int_eq(kn_esn_cmp(&back.pending, &l.pending), 0);
    ck_assert_int_eq(back.owner_switches, 3);
    ck_assert_int_eq(back.nparents, 2);
    ck_assert_str_eq(back.parents[1], "shardId-000000000001");
    ck_assert_int_eq(back.nchildren, 1);
    ck_assert_str_eq(back.ending_hash_key, l.ending_hash_key);
    kn_lease_clear(&back);
    cJSON_Delete(item);
    cJSON_Delete(expected);
    kn_lease_clear(&l);
}
END_TEST

/* A new unowned lease omits what the KCL omits: owner, pending, empty sets. */
START_TEST(item_of_new_lease) {
    kn_lease_t l;
    memset(&l, 0, sizeof(l));
    kn_lease_set_str(&l.key, "shardId-000000000000");
    l.checkpoint = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    cJSON *item = kn_lease_to_item(&l);
    cJSON *expected = cJSON_Parse(
        "{\"leaseKey\":{\"S\":\"shardId-000000000000\"},\"leaseCounter\":{\"N\":\"0\"},"
        "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"},\"checkpoint\":{\"S\":\"TRIM_HORIZON\"},"
        "\"checkpointSubSequenceNumber\":{\"N\":\"0\"}}");
    ck_assert_msg(cJSON_Compare(item, expected, 1), "item differs: %s", cJSON_PrintUnformatted(item));
    cJSON_Delete(item);
    cJSON_Delete(expected);
    kn_lease_clear(&l);
    ck_assert_ptr_null(kn_lease_to_item(NULL));
}
END_TEST

/* An item as a Java KCL 3.x worker leaves it, with attributes this SDK does not use. */
START_TEST(item_from_java_worker) {
    cJSON *item = cJSON_Parse(
        "{\"leaseKey\":{\"S\":\"shardId-000000000001\"},\"leaseCounter\":{\"N\":\"1234\"},"
        "\"checkpoint\":{\"S\":\"SHARD_END\"},\"checkpointSubSequenceNumber\":{\"N\":\"0\"},"
        "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"},\"throughputKBps\":{\"N\":\"12.5\"},"
        "\"checkpointOwner\":{\"S\":\"w2\"},\"entityType\":{\"S\":\"LEASE\"},"
        "\"childShardIds\":{\"SS\":[\"shardId-000000000003\",\"shardId-000000000004\"]}}");
    ck_assert(kn_lease_item_is_lease(item));
    kn_lease_t l;
    ck_assert_int_eq(kn_lease_from_item(item, &l, NULL), KN_OK);
    ck_assert_ptr_null(l.owner);
    ck_assert_int_eq(l.counter, 1234);
    ck_assert_int_eq(l.checkpoint.kind, KN_ESN_SHARD_END);
    ck_assert_int_eq(l.nchildren, 2);
    ck_assert_int_eq(l.nparents, 0);
    ck_assert_ptr_null(l.starting_hash_key);
    kn_lease_clear(&l);
    cJSON_Delete(item);

    item = cJSON_Parse("{\"leaseKey\":{\"S\":\"Leader\"},\"entityType\":{\"S\":\"LEADER\"}}");
    ck_assert(!kn_lease_item_is_lease(item));
    cJSON_Delete(item);
}
END_TEST

static void expect_bad(const char *json, const char *fragment) {
    cJSON *item = cJSON_Parse(json);
    ck_assert_ptr_nonnull(item);
    kn_lease_t l;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_lease_from_item(item, &l, &err), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(kn_error_message(err), fragment), "'%s' lacks '%s'",
                  kn_error_message(err), fragment);
    ck_assert_ptr_null(l.key);
    kn_error_destroy(err);
    cJSON_Delete(item);
}

START_TEST(item_bad_input) {
    expect_bad("{}", "leaseKey");
    expect_bad("[]", "item");
    expect_bad("{\"leaseKey\":{\"N\":\"1\"},\"leaseCounter\":{\"N\":\"1\"}}", "leaseKey");
    expect_bad("{\"leaseKey\":{\"S\":\"\"},\"leaseCounter\":{\"N\":\"1\"}}", "leaseKey");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"}}", "leaseCounter");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"-1\"}}", "leaseCounter");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1.5\"}}", "leaseCounter");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"99999999999999999999\"}}",
               "leaseCounter");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},"
               "\"checkpoint\":{\"S\":\"SOMEWHERE\"}}", "checkpoint");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},"
               "\"checkpoint\":{\"S\":\"5\"},\"checkpointSubSequenceNumber\":{\"S\":\"1\"}}",
               "checkpointSubSequenceNumber");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},"
               "\"parentShardId\":{\"S\":\"p\"}}", "parentShardId");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},"
               "\"parentShardId\":{\"SS\":[\"a\",7]}}", "parentShardId");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},"
               "\"startingHashKey\":{\"S\":\"0\"},"
               "\"endingHashKey\":{\"S\":\"340282366920938463463374607431768211456\"}}",
               "endingHashKey");
    expect_bad("{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},"
               "\"startingHashKey\":{\"S\":\"0\"}}", "endingHashKey");
    /* a set larger than any real lineage */
    char json[4096] = "{\"leaseKey\":{\"S\":\"s\"},\"leaseCounter\":{\"N\":\"1\"},\"childShardIds\":{\"SS\":[";
    for (int i = 0; i <= KN_LEASE_MAX_RELATIVES; i++)
        snprintf(json + strlen(json), sizeof(json) - strlen(json), "%s\"c%d\"", i ? "," : "", i);
    strcat(json, "]}}");
    expect_bad(json, "childShardIds");
    /* an oversized key */
    char big[KN_LEASE_KEY_MAX + 100];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char *j = malloc(sizeof(big) + 100);
    snprintf(j, sizeof(big) + 100, "{\"leaseKey\":{\"S\":\"%s\"},\"leaseCounter\":{\"N\":\"1\"}}", big);
    expect_bad(j, "leaseKey");
    free(j);
    kn_lease_t l;
    ck_assert_int_eq(kn_lease_from_item(NULL, &l, NULL), KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(kn_lease_from_item(NULL, NULL, NULL), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(lease_copy_and_relatives) {
    kn_lease_t l, c;
    fill_lease(&l);
    ck_assert_int_eq(kn_lease_copy(&c, &l), KN_OK);
    ck_assert_ptr_ne(c.key, l.key);
    ck_assert_str_eq(c.parents[0], l.parents[0]);
    /* adding a present id is a no-op, an empty one is refused */
    ck_assert_int_eq(kn_lease_add_relative(c.parents, &c.nparents, "shardId-000000000000"), KN_OK);
    ck_assert_int_eq(c.nparents, 2);
    ck_assert_int_eq(kn_lease_add_relative(c.parents, &c.nparents, ""), KN_ERR_INVALID_ARG);
    ck_assert(kn_lease_has_relative(c.children, c.nchildren, "shardId-000000000005"));
    kn_lease_clear(&l);
    kn_lease_clear(&c);
    kn_lease_clear(NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_lease");
    TCase *tc = tcase_create("lease");
    tcase_add_test(tc, esn_sentinel_order);
    tcase_add_test(tc, esn_numbers_as_decimals);
    tcase_add_test(tc, esn_rejects_bad_text);
    tcase_add_test(tc, hash_keys);
    tcase_add_test(tc, item_matches_kcl_layout);
    tcase_add_test(tc, item_of_new_lease);
    tcase_add_test(tc, item_from_java_worker);
    tcase_add_test(tc, item_bad_input);
    tcase_add_test(tc, lease_copy_and_relatives);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
