/*
 * GetRecords replies read from text (records_json.c) against the cJSON path
 * (cJSON_Parse + kn_kj_parse_get_records): the same results for valid replies,
 * BAD_RESPONSE for malformed ones, no crash on any prefix or mutation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "base64.h"
#include "kinesis_json.h"
#include "kn_test.h"
#include "records_json.h"

/* The reference result, or NULL when the cJSON path refuses the text. */
static kn_get_records_result_t *reference(const char *text, size_t len) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j)
        return NULL;
    for (; end < text + len; end++)
        if (!strchr(" \t\r\n", *end)) {
            cJSON_Delete(j);
            return NULL;
        }
    kn_get_records_result_t *r = NULL;
    kn_error_t *e = NULL;
    if (!cJSON_IsObject(j) || kn_kj_parse_get_records(j, &r, &e) != KN_OK)
        r = NULL;
    kn_error_destroy(e);
    cJSON_Delete(j);
    return r;
}

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void assert_same(const kn_get_records_result_t *a, const kn_get_records_result_t *b) {
    ck_assert_uint_eq(a->record_count, b->record_count);
    for (size_t i = 0; i < a->record_count; i++) {
        const kn_record_t *x = &a->records[i], *y = &b->records[i];
        ck_assert_uint_eq(x->data_len, y->data_len);
        ck_assert(x->data_len == 0 || !memcmp(x->data, y->data, x->data_len));
        ck_assert_int_eq(x->data == NULL, y->data == NULL);
        ck_assert_str_eq(x->partition_key, y->partition_key);
        ck_assert_str_eq(x->sequence_number, y->sequence_number);
        ck_assert_int_eq(x->approximate_arrival_ms, y->approximate_arrival_ms);
        ck_assert_int_eq(x->encryption, y->encryption);
    }
    ck_assert(str_eq(a->next_shard_iterator, b->next_shard_iterator));
    ck_assert_int_eq(a->millis_behind_latest, b->millis_behind_latest);
    ck_assert_uint_eq(a->child_shard_count, b->child_shard_count);
    for (size_t i = 0; i < a->child_shard_count; i++) {
        const kn_child_shard_t *x = &a->child_shards[i], *y = &b->child_shards[i];
        ck_assert_str_eq(x->shard_id, y->shard_id);
        ck_assert(str_eq(x->starting_hash_key, y->starting_hash_key));
        ck_assert(str_eq(x->ending_hash_key, y->ending_hash_key));
        ck_assert_uint_eq(x->parent_count, y->parent_count);
        for (size_t j = 0; j < x->parent_count; j++)
            ck_assert_str_eq(x->parent_shards[j], y->parent_shards[j]);
    }
}

/* Both parsers accept `text` and agree; returns the text parser's record count. */
static size_t agree(const char *text) {
    kn_get_records_result_t *want = reference(text, strlen(text)), *got = NULL;
    kn_error_t *e = NULL;
    ck_assert_msg(want != NULL, "the cJSON path refuses: %s", text);
    kn_err_t rc = kn_rj_parse_get_records(text, strlen(text), &got, &e);
    ck_assert_msg(rc == KN_OK, "refused (%s): %s", e ? kn_error_message(e) : "?", text);
    assert_same(want, got);
    size_t n = got->record_count;
    kn_get_records_result_destroy(want);
    kn_get_records_result_destroy(got);
    return n;
}

/* The text parser refuses `text` with KN_ERR_BAD_RESPONSE and a message containing `why`. */
static void refused(const char *text, size_t len, const char *why) {
    kn_get_records_result_t *got = (kn_get_records_result_t *)1;
    kn_error_t *e = NULL;
    ck_assert_msg(kn_rj_parse_get_records(text, len, &got, &e) == KN_ERR_BAD_RESPONSE,
                  "accepted: %.*s", (int)len, text);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strstr(kn_error_message(e), why), "'%s' does not say '%s'", kn_error_message(e),
                  why);
    kn_error_destroy(e);
}

#define R(seq, data, pk) "{\"SequenceNumber\":\"" seq "\",\"Data\":\"" data "\",\"PartitionKey\":\"" pk "\"}"

START_TEST(valid_replies_agree) {
    ck_assert_uint_eq(agree("{\"Records\":[]}"), 0);
    ck_assert_uint_eq(agree("{\"Records\":[],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}"), 0);
    ck_assert_uint_eq(agree(" \r\n\t{ \"Records\" : [ " R("1", "", "p") " , " R("2", "YQ==", "q") " ] } \n"), 2);
    /* every padding length, escapes in keys and data, timestamps, encryption */
    ck_assert_uint_eq(
        agree("{\"MillisBehindLatest\":1234567,\"Records\":["
              "{\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\","
              "\"ApproximateArrivalTimestamp\":1700000000.123,\"Data\":\"YWI=\","
              "\"PartitionKey\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\\t\","
              "\"EncryptionType\":\"KMS\"},"
              "{\"SequenceNumber\":\"2\",\"ApproximateArrivalTimestamp\":1.7e9,"
              "\"Data\":\"YWJj\\/w==\",\"PartitionKey\":\"k\",\"EncryptionType\":\"NONE\"},"
              "{\"SequenceNumber\":\"3\",\"ApproximateArrivalTimestamp\":17000000005E-1,"
              "\"Data\":\"YWJjZA==\",\"PartitionKey\":\"k\",\"EncryptionType\":\"ROT13\"},"
              "{\"SequenceNumber\":\"4\",\"ApproximateArrivalTimestamp\":null,\"Data\":\"\","
              "\"PartitionKey\":\"k\",\"EncryptionType\":null}],"
              "\"NextShardIterator\":null}"),
        4);
    /* unknown members of every kind are skipped; the first of duplicates wins */
    ck_assert_uint_eq(
        agree("{\"Extra\":{\"a\":[1,-2.5e-3,true,false,null,{\"b\":[]}],\"c\":\"\\u0041\"},"
              "\"Records\":[{\"Other\":[[[]]],\"SequenceNumber\":\"7\",\"SequenceNumber\":\"8\","
              "\"Data\":\"eA==\",\"PartitionKey\":\"x\",\"Data\":\"eQ==\"}],"
              "\"Records\":\"ignored\",\"NextShardIterator\":\"\",\"MillisBehindLatest\":-0}"),
        1);
    /* escaped base64 characters are still base64 */
    ck_assert_uint_eq(agree("{\"Records\":[" R("1", "Y\\u0051==", "p") "]}"), 1);
    /* member names written with escapes are still those members */
    ck_assert_uint_eq(agree("{\"Rec\\u006frds\":[" R("5", "Zg==", "z") "]}"), 1);
    /* the end of a shard: ChildShards, no iterator */
    ck_assert_uint_eq(
        agree("{\"Records\":[" R("9", "", "p") "],\"MillisBehindLatest\":0,\"ChildShards\":["
              "{\"ShardId\":\"shardId-000000000002\",\"ParentShards\":[\"shardId-000000000000\"],"
              "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"100\"}},"
              "{\"ShardId\":\"shardId-000000000003\",\"ParentShards\":[\"shardId-000000000000\","
              "\"shardId-000000000001\"],\"HashKeyRange\":{\"StartingHashKey\":\"101\","
              "\"EndingHashKey\":\"340282366920938463463374607431768211455\"}}]}"),
        1);
    ck_assert_uint_eq(agree("{\"Records\":[],\"ChildShards\":null}"), 0);
}
END_TEST

/* A reply like the consumer benchmark's: KPL aggregates and plain records. */
static char *big_reply(size_t *users) {
    size_t cap = 4 << 20, len = 0;
    char *t = malloc(cap);
    len += (size_t)sprintf(t, "{\"Records\":[");
    kn_agg_builder_t *b = kn_agg_builder_new();
    uint8_t *agg = malloc(51200), data[100];
    char *b64 = malloc(70000);
    *users = 0;
    for (int a = 0; a < 40; a++) {
        size_t alen;
        const uint8_t *payload = data;
        if (a % 4) {
            kn_agg_builder_reset(b);
            for (int i = 0;; i++) {
                char pk[32];
                snprintf(pk, sizeof(pk), "key-%d-%d", a, i);
                memset(data, 'a' + i % 26, sizeof(data));
                if (kn_agg_builder_add(b, pk, strlen(pk), NULL, 0, data, sizeof(data) - (size_t)(i % 3),
                                       51200))
                    break;
            }
            kn_agg_builder_finish(b, agg, 51200, &alen);
            payload = agg;
        } else {
            alen = (size_t)a; /* plain records of several lengths */
        }
        kn_base64_encode(payload, alen, b64, 70000, NULL);
        ck_assert_uint_lt(len + strlen(b64) + 300, cap);
        len += (size_t)sprintf(t + len,
                               "%s{\"SequenceNumber\":\"4959033827149025660855969253836157109592157598913%05d\","
                               "\"ApproximateArrivalTimestamp\":1700000000.%03d,\"Data\":\"%s\","
                               "\"PartitionKey\":\"pk-%d\"}",
                               a ? "," : "", a, a, b64, a);
        (*users)++;
    }
    sprintf(t + len, "],\"NextShardIterator\":\"AAAAAAAA\",\"MillisBehindLatest\":0}");
    free(b64);
    free(agg);
    kn_agg_builder_destroy(b);
    return t;
}

START_TEST(large_reply_agrees) {
    size_t users;
    char *t = big_reply(&users);
    ck_assert_uint_eq(agree(t), users);
    free(t);
}
END_TEST

START_TEST(malformed_replies_refused) {
    static const struct {
        const char *text, *why;
        int loose; /* cJSON reads it anyway (numbers and strings more loosely than RFC 8259) */
    } cases[] = {
        {"", "not valid JSON"},
        {"[]", "not valid JSON"},
        {"{\"Records\":[]", "not valid JSON"},
        {"{\"Records\":[]} x", "trailing characters"},
        {"{\"Records\":[]}{}", "trailing characters"},
        {"{\"Records\":[],}", "not valid JSON"},
        {"{\"Records\":[,]}", "not valid JSON"},
        {"{Records:[]}", "not valid JSON"},
        {"{\"Records\":[]", "not valid JSON"},
        {"{\"X\":tru,\"Records\":[]}", "bad literal"},
        {"{\"X\":01,\"Records\":[]}", "not valid JSON", 1},
        {"{\"X\":1.,\"Records\":[]}", "bad number", 1},
        {"{\"X\":.5,\"Records\":[]}", "value expected"},
        {"{\"X\":-,\"Records\":[]}", "bad number"},
        {"{\"X\":1e,\"Records\":[]}", "bad number"},
        {"{\"X\":\"a\\x\",\"Records\":[]}", "bad escape"},
        {"{\"X\":\"a\\u12\",\"Records\":[]}", "bad escape"},
        {"{\"X\":\"\\u0000\",\"Records\":[]}", "bad escape"},
        {"{\"X\":\"\\ud800\",\"Records\":[]}", "bad escape"},
        {"{\"X\":\"\\udc00\",\"Records\":[]}", "bad escape"},
        {"{\"X\":\"\\ud800\\u0041\",\"Records\":[]}", "bad escape"},
        {"{\"X\":\"a\tb\",\"Records\":[]}", "control character", 1},
        {"{\"X\":\"abc", "unterminated string"},
        {"{}", "'Records' is missing"},
        {"{\"Records\":null}", "'Records' is missing"},
        {"{\"Records\":{}}", "'Records' is not an array"},
        {"{\"Records\":[1]}", "'Records' holds a non-object"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"p\"}]}", "'Data' is missing"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":null,\"PartitionKey\":\"p\"}]}", "'Data' is missing"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":5,\"PartitionKey\":\"p\"}]}", "'Data' is not a string"},
        {"{\"Records\":[" R("1", "YQ=", "p") "]}", "'Data' is not valid base64"},
        {"{\"Records\":[" R("1", "YR==", "p") "]}", "'Data' is not valid base64"},
        {"{\"Records\":[" R("1", "YQ==\x01", "p") "]}", "'Data' is not valid base64"},
        {"{\"Records\":[" R("1", "", "") "]}", "'PartitionKey' is empty"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"\"}]}", "'PartitionKey' is missing"},
        {"{\"Records\":[{\"Data\":\"\",\"PartitionKey\":\"p\"}]}", "'SequenceNumber' is missing"},
        {"{\"Records\":[" R("01", "", "p") "]}", "'SequenceNumber' is not a decimal"},
        {"{\"Records\":[" R("1a", "", "p") "]}", "'SequenceNumber' is not a decimal"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"\",\"PartitionKey\":\"p\","
         "\"ApproximateArrivalTimestamp\":-1}]}", "not a plausible timestamp"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"\",\"PartitionKey\":\"p\","
         "\"ApproximateArrivalTimestamp\":\"1\"}]}", "is not a number"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"\",\"PartitionKey\":\"p\","
         "\"EncryptionType\":\"12345678901234567\"}]}", "'EncryptionType' is too long"},
        {"{\"Records\":[],\"MillisBehindLatest\":-1}", "is out of range"},
        {"{\"Records\":[],\"MillisBehindLatest\":1.5}", "is not an integer"},
        {"{\"Records\":[],\"MillisBehindLatest\":12345678901234567}", "converts exactly"},
        {"{\"Records\":[],\"NextShardIterator\":7}", "'NextShardIterator' is not a string"},
        {"{\"Records\":[],\"ChildShards\":{}}", "'ChildShards' is not an array"},
        {"{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"s\"}]}", "GetRecords reply field 'ParentShards'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refused(cases[i].text, strlen(cases[i].text), cases[i].why);
        /* the cJSON path refuses them too, except what it reads more loosely */
        if (!cases[i].loose && !strstr(cases[i].why, "bad escape") &&
            !strstr(cases[i].why, "converts exactly")) {
            kn_get_records_result_t *r = reference(cases[i].text, strlen(cases[i].text));
            ck_assert_msg(r == NULL, "the cJSON path accepts case %zu", i);
        }
    }
}
END_TEST

/* Limits: nesting, record count, key and iterator lengths, number length. */
START_TEST(limits) {
    char *t = malloc(2 << 20);
    /* nesting one level beyond the limit inside an unknown member */
    size_t n = (size_t)sprintf(t, "{\"X\":");
    for (int i = 0; i < KN_RJ_MAX_DEPTH; i++)
        t[n++] = '[';
    for (int i = 0; i < KN_RJ_MAX_DEPTH; i++)
        t[n++] = ']';
    n += (size_t)sprintf(t + n, ",\"Records\":[]}");
    refused(t, n, "nested too deeply");
    /* one level less is fine */
    n = (size_t)sprintf(t, "{\"X\":");
    for (int i = 0; i < KN_RJ_MAX_DEPTH - 1; i++)
        t[n++] = '[';
    for (int i = 0; i < KN_RJ_MAX_DEPTH - 1; i++)
        t[n++] = ']';
    sprintf(t + n, ",\"Records\":[]}");
    ck_assert_uint_eq(agree(t), 0);
    /* 10000 records, then one more */
    n = (size_t)sprintf(t, "{\"Records\":[");
    for (int i = 0; i < KN_KINESIS_MAX_GET_RECORDS; i++)
        n += (size_t)sprintf(t + n, "%s" R("%d", "", "p"), i ? "," : "", i + 1);
    sprintf(t + n, "]}");
    ck_assert_uint_eq(agree(t), KN_KINESIS_MAX_GET_RECORDS);
    n += (size_t)sprintf(t + n, "," R("1", "", "p") "]}");
    refused(t, n, "'Records' has too many items");
    /* partition key of the largest size, then one byte more */
    char *pk = malloc(KN_KJ_MAX_PARTITION_KEY_BYTES + 2);
    memset(pk, 'k', KN_KJ_MAX_PARTITION_KEY_BYTES + 1);
    pk[KN_KJ_MAX_PARTITION_KEY_BYTES] = 0;
    sprintf(t, "{\"Records\":[" R("1", "", "%s") "]}", pk);
    ck_assert_uint_eq(agree(t), 1);
    pk[KN_KJ_MAX_PARTITION_KEY_BYTES] = 'k';
    pk[KN_KJ_MAX_PARTITION_KEY_BYTES + 1] = 0;
    n = (size_t)sprintf(t, "{\"Records\":[" R("1", "", "%s") "]}", pk);
    refused(t, n, "'PartitionKey' is too long");
    free(pk);
    /* the iterator */
    n = (size_t)sprintf(t, "{\"Records\":[],\"NextShardIterator\":\"");
    memset(t + n, 'i', KN_KJ_MAX_ITERATOR + 1);
    n += KN_KJ_MAX_ITERATOR + 1;
    n += (size_t)sprintf(t + n, "\"}");
    refused(t, n, "'NextShardIterator' is too long");
    /* a number of 64 characters */
    n = (size_t)sprintf(t, "{\"X\":1%063d,\"Records\":[]}", 0);
    refused(t, n, "number too long");
    free(t);
}
END_TEST

/* Every proper prefix of a valid reply is refused, without reading past it. */
START_TEST(every_prefix_refused) {
    const char *full = "{\"Records\":[" R("1", "YWJj", "caf\\u00e9") ",{\"SequenceNumber\":\"2\","
                       "\"ApproximateArrivalTimestamp\":1700000000.5,\"Data\":\"\",\"PartitionKey\":\"k\","
                       "\"X\":[true,null,{\"y\":-1e5}]}],\"NextShardIterator\":\"it\","
                       "\"MillisBehindLatest\":3,\"ChildShards\":null}";
    size_t len = strlen(full);
    ck_assert_uint_eq(agree(full), 2);
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n ? n : 1); /* exactly n bytes: a read past them is an ASan error */
        memcpy(copy, full, n);
        kn_get_records_result_t *r = NULL;
        kn_error_t *e = NULL;
        ck_assert_msg(kn_rj_parse_get_records(copy, n, &r, &e) == KN_ERR_BAD_RESPONSE,
                      "prefix of %zu bytes accepted", n);
        kn_error_destroy(e);
        free(copy);
    }
}
END_TEST

/* Random byte changes: never a crash; whatever both parsers accept, they read alike. */
START_TEST(mutations_agree_or_are_refused) {
    size_t users;
    char *base = big_reply(&users);
    size_t len = strlen(base);
    /* a small reply so that mutations hit the structure, not only base64 */
    const char *small = "{\"Records\":[" R("12", "YWJj", "p\\u0041") ",{\"SequenceNumber\":\"13\","
                        "\"ApproximateArrivalTimestamp\":1700000000.25,\"Data\":\"eHk=\","
                        "\"PartitionKey\":\"q\",\"EncryptionType\":\"KMS\"}],"
                        "\"NextShardIterator\":\"abc\",\"MillisBehindLatest\":10}";
    size_t slen = strlen(small);
    char *m = malloc(len + 1);
    uint32_t x = 2024;
    int both = 0;
    for (int round = 0; round < 3000; round++) {
        int use_small = round % 4 != 0;
        const char *src = use_small ? small : base;
        size_t n = use_small ? slen : len;
        memcpy(m, src, n + 1);
        for (int k = 0; k < 1 + round % 3; k++) {
            x = x * 1664525u + 1013904223u;
            size_t at = (x >> 8) % n;
            x = x * 1664525u + 1013904223u;
            static const char pick[] = "\"\\{}[],:0123456789-+.eEtfnul uA=/";
            m[at] = (x >> 24) & 1 ? pick[(x >> 8) % (sizeof(pick) - 1)] : (char)(x >> 16);
        }
        kn_get_records_result_t *got = NULL;
        kn_error_t *e = NULL;
        kn_err_t rc = kn_rj_parse_get_records(m, n, &got, &e);
        ck_assert(rc == KN_OK || rc == KN_ERR_BAD_RESPONSE);
        ck_assert((rc == KN_OK) == (got != NULL));
        kn_get_records_result_t *want = reference(m, n);
        if (got && want) {
            assert_same(want, got);
            both++;
        }
        kn_get_records_result_destroy(want);
        kn_get_records_result_destroy(got);
        kn_error_destroy(e);
    }
    ck_assert_int_gt(both, 0);
    free(m);
    free(base);
}
END_TEST

START_TEST(bad_arguments) {
    kn_get_records_result_t *r;
    kn_error_t *e = NULL;
    ck_assert_int_eq(kn_rj_parse_get_records(NULL, 3, &r, &e), KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_rj_parse_get_records("{}", 2, NULL, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_rj_parse_get_records("{}", 2, &r, NULL), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_null(r);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("records_json");
    TCase *tc = tcase_create("records_json");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, valid_replies_agree);
    tcase_add_test(tc, large_reply_agrees);
    tcase_add_test(tc, malformed_replies_refused);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, every_prefix_refused);
    tcase_add_test(tc, mutations_agree_or_are_refused);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
