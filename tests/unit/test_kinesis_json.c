/*
 * Kinesis request building and reply parsing without a network: bodies are
 * checked member by member, replies come from canned JSON, including the
 * malformed kinds a broken or hostile server could send.
 */
#include <string.h>

#include "json.h"
#include "kinesis_json.h"
#include "kn_test.h"
#include "service_call.h"

/* Parses a built body back for member checks. */
static cJSON *reparse(cJSON *built) {
    ck_assert_ptr_nonnull(built);
    char *text = cJSON_PrintUnformatted(built);
    cJSON_Delete(built);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

static const char *str_member(const cJSON *o, const char *name) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

/* Expects a builder failure with KN_ERR_INVALID_ARG and a message. */
#define ASSERT_INVALID(expr)                                     \
    do {                                                         \
        kn_error_t *e_ = NULL;                                   \
        kn_error_t **err = &e_;                                  \
        cJSON *j_ = (expr);                                      \
        ck_assert_ptr_null(j_);                                  \
        ck_assert_ptr_nonnull(e_);                               \
        ck_assert_int_eq(kn_error_code(e_), KN_ERR_INVALID_ARG); \
        ck_assert(strlen(kn_error_message(e_)) > 0);             \
        kn_error_destroy(e_);                                    \
    } while (0)

START_TEST(create_stream_body) {
    kn_error_t *e = NULL;
    cJSON *j = reparse(kn_kj_build_create_stream("s-1.x_y", 4, KN_STREAM_MODE_PROVISIONED, &e));
    ck_assert_str_eq(str_member(j, "StreamName"), "s-1.x_y");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "ShardCount")->valueint, 4);
    ck_assert_str_eq(str_member(cJSON_GetObjectItem(j, "StreamModeDetails"), "StreamMode"),
                     "PROVISIONED");
    cJSON_Delete(j);
    j = reparse(kn_kj_build_create_stream("od", 0, KN_STREAM_MODE_ON_DEMAND, &e));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "ShardCount"));
    ck_assert_str_eq(str_member(cJSON_GetObjectItem(j, "StreamModeDetails"), "StreamMode"),
                     "ON_DEMAND");
    cJSON_Delete(j);

    char long_name[KN_KINESIS_MAX_STREAM_NAME + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ASSERT_INVALID(kn_kj_build_create_stream(long_name, 1, KN_STREAM_MODE_PROVISIONED, err));
    long_name[KN_KINESIS_MAX_STREAM_NAME] = '\0'; /* exactly 128: fine */
    j = kn_kj_build_create_stream(long_name, 1, KN_STREAM_MODE_PROVISIONED, &e);
    ck_assert_ptr_nonnull(j);
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_create_stream(NULL, 1, KN_STREAM_MODE_PROVISIONED, err));
    ASSERT_INVALID(kn_kj_build_create_stream("", 1, KN_STREAM_MODE_PROVISIONED, err));
    ASSERT_INVALID(kn_kj_build_create_stream("has space", 1, KN_STREAM_MODE_PROVISIONED, err));
    ASSERT_INVALID(kn_kj_build_create_stream("arn:aws:kinesis:us-east-1:000000000000:stream/x", 1,
                                             KN_STREAM_MODE_PROVISIONED, err));
    ASSERT_INVALID(kn_kj_build_create_stream("s", 0, KN_STREAM_MODE_PROVISIONED, err));
    ASSERT_INVALID(kn_kj_build_create_stream("s", -1, KN_STREAM_MODE_ON_DEMAND, err));
    ASSERT_INVALID(kn_kj_build_create_stream("s", KN_KINESIS_MAX_SHARD_COUNT + 1,
                                             KN_STREAM_MODE_PROVISIONED, err));
    ASSERT_INVALID(kn_kj_build_create_stream("s", 1, (kn_stream_mode_t)7, err));
}
END_TEST

START_TEST(stream_name_or_arn) {
    kn_error_t *e = NULL;
    const char *arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s1";
    cJSON *j = reparse(kn_kj_build_stream_only(arn, &e));
    ck_assert_str_eq(str_member(j, "StreamARN"), arn);
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "StreamName"));
    cJSON_Delete(j);
    j = reparse(kn_kj_build_delete_stream("s1", 1, &e));
    ck_assert_str_eq(str_member(j, "StreamName"), "s1");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "EnforceConsumerDeletion")));
    cJSON_Delete(j);
    j = reparse(kn_kj_build_delete_stream("s1", 0, &e));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "EnforceConsumerDeletion"));
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_stream_only("arn:", err));
    ASSERT_INVALID(kn_kj_build_stream_only("arn:aws:kinesis:x y", err));
    ASSERT_INVALID(kn_kj_build_stream_only(NULL, err));
    ASSERT_INVALID(kn_kj_build_stream_only("caf\xc3\xa9", err));
}
END_TEST

START_TEST(list_shards_body) {
    kn_error_t *e = NULL;
    kn_shard_filter_t f = {.type = KN_SHARD_FILTER_AT_TIMESTAMP, .timestamp_ms = 1700000000005};
    cJSON *built = kn_kj_build_list_shards("s1", &f, 1, NULL, &e);
    ck_assert_ptr_nonnull(built);
    char *text = cJSON_PrintUnformatted(built);
    /* Milliseconds travel exactly, as fractional seconds. */
    ck_assert_ptr_nonnull(strstr(text, "\"Timestamp\":1700000000.005"));
    free(text);
    cJSON *j = reparse(built);
    ck_assert_str_eq(str_member(j, "StreamName"), "s1");
    ck_assert_str_eq(str_member(cJSON_GetObjectItem(j, "ShardFilter"), "Type"), "AT_TIMESTAMP");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "MaxResults")->valueint, 1);
    cJSON_Delete(j);

    /* A later page: the token alone, never with the stream or filter. */
    j = reparse(kn_kj_build_list_shards("s1", &f, 0, "s1::shardId-000000000001", &e));
    ck_assert_str_eq(str_member(j, "NextToken"), "s1::shardId-000000000001");
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "StreamName"));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "ShardFilter"));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "MaxResults"));
    cJSON_Delete(j);

    kn_shard_filter_t after = {.type = KN_SHARD_FILTER_AFTER_SHARD_ID,
                               .shard_id = "shardId-000000000002"};
    j = reparse(kn_kj_build_list_shards("s1", &after, 0, NULL, &e));
    ck_assert_str_eq(str_member(cJSON_GetObjectItem(j, "ShardFilter"), "ShardId"),
                     "shardId-000000000002");
    cJSON_Delete(j);
    kn_shard_filter_t none = {.type = KN_SHARD_FILTER_NONE};
    j = reparse(kn_kj_build_list_shards("s1", &none, 0, NULL, &e));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "ShardFilter"));
    cJSON_Delete(j);

    after.shard_id = NULL;
    ASSERT_INVALID(kn_kj_build_list_shards("s1", &after, 0, NULL, err));
    kn_shard_filter_t bad = {.type = (kn_shard_filter_type_t)99};
    ASSERT_INVALID(kn_kj_build_list_shards("s1", &bad, 0, NULL, err));
    ASSERT_INVALID(kn_kj_build_list_shards("s1", NULL, 10001, NULL, err));
    ASSERT_INVALID(kn_kj_build_list_shards("s1", NULL, -1, NULL, err));
    ASSERT_INVALID(kn_kj_build_list_shards(NULL, NULL, 0, NULL, err));
    ASSERT_INVALID(kn_kj_build_list_shards(NULL, NULL, 0, "", err));
}
END_TEST

START_TEST(resharding_bodies) {
    kn_error_t *e = NULL;
    cJSON *j = reparse(kn_kj_build_split_shard("s1", "shardId-000000000000",
                                               "170141183460469231731687303715884105728", &e));
    ck_assert_str_eq(str_member(j, "ShardToSplit"), "shardId-000000000000");
    ck_assert_str_eq(str_member(j, "NewStartingHashKey"),
                     "170141183460469231731687303715884105728");
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_split_shard("s1", "shardId-000000000000",
                                           "340282366920938463463374607431768211456", err));
    ASSERT_INVALID(kn_kj_build_split_shard("s1", "shardId-000000000000", "-1", err));
    ASSERT_INVALID(kn_kj_build_split_shard("s1", "", "1", err));
    j = reparse(kn_kj_build_merge_shards("s1", "shardId-000000000001", "shardId-000000000002", &e));
    ck_assert_str_eq(str_member(j, "AdjacentShardToMerge"), "shardId-000000000002");
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_merge_shards("s1", "shardId-000000000001", NULL, err));
    j = reparse(kn_kj_build_update_shard_count("s1", 3, &e));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "TargetShardCount")->valueint, 3);
    ck_assert_str_eq(str_member(j, "ScalingType"), "UNIFORM_SCALING");
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_update_shard_count("s1", 0, err));
}
END_TEST

/* Builds PutRecords text and parses it back. */
static cJSON *put_records_json(const kn_put_entry_t *entries, size_t n, kn_kj_validate_t v) {
    kn_error_t *e = NULL;
    char *text = kn_kj_build_put_records("s1", entries, n, v, &e);
    ck_assert_msg(text != NULL, "build failed: %s", e ? kn_error_message(e) : "?");
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

static kn_err_t put_records_error(const kn_put_entry_t *entries, size_t n) {
    kn_error_t *e = NULL;
    char *text = kn_kj_build_put_records("s1", entries, n, KN_KJ_VALIDATE, &e);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(e);
    kn_err_t code = kn_error_code(e);
    kn_error_destroy(e);
    return code;
}

START_TEST(put_records_body) {
    const uint8_t bin[] = {0x00, 0xff, 0x10, 0x80, 0x7f};
    kn_put_entry_t entries[] = {
        {.data = bin, .data_len = sizeof(bin), .partition_key = "k\"q\\1"},
        {.data = NULL, .data_len = 0, .partition_key = "\xe2\x82\xac", .explicit_hash_key = "0"},
    };
    cJSON *j = put_records_json(entries, 2, KN_KJ_VALIDATE);
    ck_assert_str_eq(str_member(j, "StreamName"), "s1");
    cJSON *recs = cJSON_GetObjectItem(j, "Records");
    ck_assert_int_eq(cJSON_GetArraySize(recs), 2);
    cJSON *r0 = cJSON_GetArrayItem(recs, 0), *r1 = cJSON_GetArrayItem(recs, 1);
    ck_assert_str_eq(str_member(r0, "Data"), "AP8QgH8=");
    ck_assert_str_eq(str_member(r0, "PartitionKey"), "k\"q\\1");
    ck_assert_ptr_null(cJSON_GetObjectItem(r0, "ExplicitHashKey"));
    ck_assert_str_eq(str_member(r1, "Data"), "");
    ck_assert_str_eq(str_member(r1, "PartitionKey"), "\xe2\x82\xac");
    ck_assert_str_eq(str_member(r1, "ExplicitHashKey"), "0");
    cJSON_Delete(j);

    /* Partition keys: 256 UTF-16 units fine (2-byte chars), 257 not; astral chars count twice. */
    char key[4 * 300];
    for (int i = 0; i < 256; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 2);
    key[512] = '\0';
    kn_put_entry_t one = {.data = bin, .data_len = 1, .partition_key = key};
    cJSON_Delete(put_records_json(&one, 1, KN_KJ_VALIDATE));
    memcpy(key + 512, "x", 2);
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    for (int i = 0; i < 129; i++)
        memcpy(key + 4 * i, "\xf0\x9f\x98\x80", 4);
    key[4 * 129] = '\0';
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    one.partition_key = "bad\xc3";
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    one.partition_key = "";
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    one.partition_key = NULL;
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    one.partition_key = "k";
    one.explicit_hash_key = "340282366920938463463374607431768211456"; /* 2^128 */
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    one.explicit_hash_key = NULL;
    one.data = NULL; /* length without data */
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    one.data = bin;
    one.data_len = KN_KINESIS_MAX_RECORD_DATA + 1;
    ck_assert_int_eq(put_records_error(&one, 1), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(put_records_error(entries, 0), KN_ERR_INVALID_ARG);

    /* 5 MiB in all: five full records and their keys are over, five without keys' room are not. */
    uint8_t *mib = calloc(1, KN_KINESIS_MAX_RECORD_DATA);
    kn_put_entry_t five[5];
    for (int i = 0; i < 5; i++)
        five[i] = (kn_put_entry_t){
            .data = mib, .data_len = KN_KINESIS_MAX_RECORD_DATA, .partition_key = "k"};
    ck_assert_int_eq(put_records_error(five, 5), KN_ERR_INVALID_ARG);
    five[4].data_len -= 5;
    cJSON_Delete(put_records_json(five, 5, KN_KJ_VALIDATE));
    free(mib);

    /* 501 entries: refused unless the limit checks are off (to provoke the server). */
    kn_put_entry_t *many = calloc(KN_KINESIS_MAX_PUT_RECORDS + 1, sizeof(*many));
    for (int i = 0; i <= KN_KINESIS_MAX_PUT_RECORDS; i++)
        many[i] = (kn_put_entry_t){.data = bin, .data_len = 1, .partition_key = "k"};
    ck_assert_int_eq(put_records_error(many, KN_KINESIS_MAX_PUT_RECORDS + 1), KN_ERR_INVALID_ARG);
    j = put_records_json(many, KN_KINESIS_MAX_PUT_RECORDS + 1, KN_KJ_NO_LIMITS);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "Records")),
                     KN_KINESIS_MAX_PUT_RECORDS + 1);
    cJSON_Delete(j);
    free(many);
}
END_TEST

START_TEST(put_record_body) {
    kn_error_t *e = NULL;
    kn_put_entry_t en = {
        .data = "hi", .data_len = 2, .partition_key = "pk", .explicit_hash_key = "12"};
    cJSON *j = reparse(kn_kj_build_put_record(
        "s1", &en, "49590338271490256608559692538361571095921575989136588898", KN_KJ_VALIDATE, &e));
    ck_assert_str_eq(str_member(j, "Data"), "aGk=");
    ck_assert_str_eq(str_member(j, "ExplicitHashKey"), "12");
    ck_assert_str_eq(str_member(j, "SequenceNumberForOrdering"),
                     "49590338271490256608559692538361571095921575989136588898");
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_put_record("s1", &en, "01", KN_KJ_VALIDATE, err));
    ASSERT_INVALID(kn_kj_build_put_record("s1", NULL, NULL, KN_KJ_VALIDATE, err));
}
END_TEST

START_TEST(iterator_bodies) {
    kn_error_t *e = NULL;
    static const char *const types[] = {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER",
                                        "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"};
    for (int t = KN_POSITION_AT_SEQUENCE_NUMBER; t <= KN_POSITION_AT_TIMESTAMP; t++) {
        kn_position_t pos = {
            .type = (kn_position_type_t)t, .sequence_number = "123", .timestamp_ms = 1700000000123};
        cJSON *built = kn_kj_build_get_shard_iterator("s1", "shardId-000000000000", &pos, &e);
        ck_assert_ptr_nonnull(built);
        char *text = cJSON_PrintUnformatted(built);
        cJSON *j = reparse(built);
        ck_assert_str_eq(str_member(j, "ShardIteratorType"), types[t]);
        ck_assert_str_eq(str_member(j, "ShardId"), "shardId-000000000000");
        int has_seq = t <= KN_POSITION_AFTER_SEQUENCE_NUMBER;
        ck_assert_int_eq(str_member(j, "StartingSequenceNumber") != NULL, has_seq);
        ck_assert_int_eq(strstr(text, "\"Timestamp\":1700000000.123") != NULL,
                         t == KN_POSITION_AT_TIMESTAMP);
        free(text);
        cJSON_Delete(j);
    }
    kn_position_t pos = {.type = KN_POSITION_AT_SEQUENCE_NUMBER};
    ASSERT_INVALID(kn_kj_build_get_shard_iterator("s1", "shardId-000000000000", &pos, err));
    pos.type = KN_POSITION_AT_TIMESTAMP;
    pos.timestamp_ms = -5;
    ASSERT_INVALID(kn_kj_build_get_shard_iterator("s1", "shardId-000000000000", &pos, err));
    ASSERT_INVALID(kn_kj_build_get_shard_iterator("s1", "shardId-000000000000", NULL, err));
    pos.type = KN_POSITION_LATEST;
    ASSERT_INVALID(kn_kj_build_get_shard_iterator("s1", "shard id", &pos, err));

    cJSON *j = reparse(kn_kj_build_get_records("AAAA", 25, &e));
    ck_assert_str_eq(str_member(j, "ShardIterator"), "AAAA");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "Limit")->valueint, 25);
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_get_records("", 0, err));
    ASSERT_INVALID(kn_kj_build_get_records("AAAA", 10001, err));

    pos = (kn_position_t){.type = KN_POSITION_AFTER_SEQUENCE_NUMBER, .sequence_number = "77"};
    j = reparse(kn_kj_build_subscribe_to_shard(
        "arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c:1", "shardId-000000000001",
        &pos, &e));
    cJSON *sp = cJSON_GetObjectItem(j, "StartingPosition");
    ck_assert_str_eq(str_member(sp, "Type"), "AFTER_SEQUENCE_NUMBER");
    ck_assert_str_eq(str_member(sp, "SequenceNumber"), "77");
    ck_assert_str_eq(str_member(j, "ShardId"), "shardId-000000000001");
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_subscribe_to_shard("c", "shardId-000000000001", &pos, err));
}
END_TEST

START_TEST(consumer_bodies) {
    kn_error_t *e = NULL;
    const char *sarn = "arn:aws:kinesis:us-east-1:000000000000:stream/s1";
    cJSON *j = reparse(kn_kj_build_register_consumer(sarn, "app", &e));
    ck_assert_str_eq(str_member(j, "StreamARN"), sarn);
    ck_assert_str_eq(str_member(j, "ConsumerName"), "app");
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_register_consumer("s1", "app", err));
    ASSERT_INVALID(kn_kj_build_register_consumer(sarn, "a/b", err));
    j = reparse(
        kn_kj_build_consumer_ref(NULL, NULL, "arn:aws:kinesis:x:1:stream/s/consumer/c:1", &e));
    ck_assert_ptr_nonnull(str_member(j, "ConsumerARN"));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "StreamARN"));
    cJSON_Delete(j);
    ASSERT_INVALID(kn_kj_build_consumer_ref(NULL, "app", NULL, err));
}
END_TEST

/* Canned reply of the current PARSE and the error it produced (tests are single-threaded). */
static cJSON *canned;
static kn_error_t *parse_err;

static const cJSON *parsed(const char *text) {
    canned = cJSON_Parse(text);
    ck_assert_ptr_nonnull(canned);
    return canned;
}

/* A parser's code, after checking that an error object comes with every failure and only then. */
static kn_err_t checked(kn_err_t rc) {
    ck_assert_int_eq(rc == KN_OK, parse_err == NULL);
    if (parse_err)
        ck_assert(strlen(kn_error_message(parse_err)) > 0);
    kn_error_destroy(parse_err);
    parse_err = NULL;
    cJSON_Delete(canned);
    canned = NULL;
    return rc;
}

/* Runs a parser on canned reply text. */
#define PARSE(fn, text, ...) checked(fn(parsed(text), __VA_ARGS__, &parse_err))

START_TEST(parse_put_records_reply) {
    kn_put_records_result_t *r = NULL;
    const char *ok =
        "{\"FailedRecordCount\":1,\"Records\":["
        "{\"SequenceNumber\":\"4959\",\"ShardId\":\"shardId-000000000001\"},"
        "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"slow\"},"
        "{\"SequenceNumber\":\"4960\",\"ShardId\":\"shardId-000000000000\"}],"
        "\"EncryptionType\":\"NONE\"}";
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, ok, 3, &r), KN_OK);
    ck_assert_uint_eq(r->count, 3);
    ck_assert_uint_eq(r->failed_record_count, 1);
    ck_assert_int_eq(r->entries[0].err, KN_OK);
    ck_assert_str_eq(r->entries[0].sequence_number, "4959");
    ck_assert_str_eq(r->entries[0].shard_id, "shardId-000000000001");
    ck_assert_int_eq(r->entries[1].err, KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED);
    ck_assert_str_eq(r->entries[1].error_code, "ProvisionedThroughputExceededException");
    ck_assert_str_eq(r->entries[1].error_message, "slow");
    ck_assert_ptr_null(r->entries[1].shard_id);
    ck_assert_str_eq(r->encryption_type, "NONE");
    kn_put_records_result_destroy(r);
    kn_put_records_result_destroy(NULL);

    /* More or fewer results than records sent, disagreeing counts, wrong types. */
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, ok, 2, &r), KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, ok, 4, &r), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records,
                           "{\"FailedRecordCount\":0,\"Records\":[{\"ErrorCode\":\"X\"}]}", 1, &r),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records,
                           "{\"Records\":[{\"SequenceNumber\":4959,\"ShardId\":\"s\"}]}", 1, &r),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records,
                           "{\"Records\":[{\"SequenceNumber\":\"12a\",\"ShardId\":\"s\"}]}", 1, &r),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, "{\"Records\":[{\"ShardId\":\"s\"}]}", 1, &r),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, "{\"Records\":{}}", 1, &r),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, "{}", 1, &r), KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, "{\"Records\":[7]}", 1, &r),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_put_records, "[]", 1, &r), KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(
        PARSE(
            kn_kj_parse_put_records,
            "{\"FailedRecordCount\":-1,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}",
            1, &r),
        KN_ERR_BAD_RESPONSE);
}
END_TEST

START_TEST(parse_get_records_reply) {
    kn_get_records_result_t *r = NULL;
    const char *ok = "{\"Records\":["
                     "{\"Data\":\"AP8QgH8=\",\"PartitionKey\":\"k1\",\"SequenceNumber\":\"100\","
                     "\"ApproximateArrivalTimestamp\":1.700000000123E9,\"EncryptionType\":\"KMS\"},"
                     "{\"Data\":\"\",\"PartitionKey\":\"k2\",\"SequenceNumber\":\"101\"}],"
                     "\"NextShardIterator\":null,\"MillisBehindLatest\":0,"
                     "\"ChildShards\":[{\"ShardId\":\"shardId-000000000002\","
                     "\"ParentShards\":[\"shardId-000000000000\",\"shardId-000000000001\"],"
                     "\"HashKeyRange\":{\"StartingHashKey\":\"0\","
                     "\"EndingHashKey\":\"340282366920938463463374607431768211455\"}}]}";
    ck_assert_int_eq(PARSE(kn_kj_parse_get_records, ok, &r), KN_OK);
    ck_assert_uint_eq(r->record_count, 2);
    const uint8_t bin[] = {0x00, 0xff, 0x10, 0x80, 0x7f};
    ck_assert_uint_eq(r->records[0].data_len, sizeof(bin));
    ck_assert_mem_eq(r->records[0].data, bin, sizeof(bin));
    ck_assert_str_eq(r->records[0].partition_key, "k1");
    ck_assert_str_eq(r->records[0].sequence_number, "100");
    ck_assert_int_eq(r->records[0].approximate_arrival_ms, 1700000000123);
    ck_assert_int_eq(r->records[0].encryption, KN_ENCRYPTION_KMS);
    ck_assert_uint_eq(r->records[1].data_len, 0);
    ck_assert_ptr_null(r->records[1].data);
    ck_assert_int_eq(r->records[1].approximate_arrival_ms, 0);
    ck_assert_int_eq(r->records[1].encryption, KN_ENCRYPTION_NONE);
    ck_assert_ptr_null(r->next_shard_iterator);
    ck_assert_int_eq(r->millis_behind_latest, 0);
    ck_assert_uint_eq(r->child_shard_count, 1);
    ck_assert_str_eq(r->child_shards[0].shard_id, "shardId-000000000002");
    ck_assert_uint_eq(r->child_shards[0].parent_count, 2);
    ck_assert_str_eq(r->child_shards[0].parent_shards[1], "shardId-000000000001");
    ck_assert_str_eq(r->child_shards[0].ending_hash_key, "340282366920938463463374607431768211455");
    kn_get_records_result_destroy(r);

    ck_assert_int_eq(
        PARSE(kn_kj_parse_get_records,
              "{\"Records\":[],\"NextShardIterator\":\"it2\",\"MillisBehindLatest\":5}", &r),
        KN_OK);
    ck_assert_uint_eq(r->record_count, 0);
    ck_assert_str_eq(r->next_shard_iterator, "it2");
    ck_assert_int_eq(r->millis_behind_latest, 5);
    kn_get_records_result_destroy(r);
    kn_get_records_result_destroy(NULL);

    static const char
        *const
            bad[] =
                {
                    "{\"Records\":[{\"Data\":\"A\",\"PartitionKey\":\"k\",\"SequenceNumber\":\"1\"}"
                    "]}", /* base64 */
                    "{\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":\"k\",\"SequenceNumber\":1}]"
                    "}",
                    "{\"Records\":[{\"Data\":\"AA==\",\"SequenceNumber\":\"1\"}]}",
                    "{\"Records\":[{\"PartitionKey\":\"k\",\"SequenceNumber\":\"1\"}]}",
                    "{\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":\"k\",\"SequenceNumber\":"
                    "\"1\","
                    "\"ApproximateArrivalTimestamp\":\"yesterday\"}]}",
                    "{\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":\"k\",\"SequenceNumber\":"
                    "\"1\","
                    "\"ApproximateArrivalTimestamp\":-5}]}",
                    "{\"Records\":[],\"MillisBehindLatest\":\"0\"}",
                    "{\"Records\":[],\"MillisBehindLatest\":1.5}",
                    "{\"Records\":[],\"NextShardIterator\":17}",
                    "{\"Records\":null}",
                    "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"c\",\"ParentShards\":[\"p\"]}]"
                    "}",
                    "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"c\",\"ParentShards\":[3],"
                    "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"}}]}",
                    "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"c\",\"ParentShards\":[\"p\"],"
                    "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":"
                    "\"340282366920938463463374607431768211456\"}}]}",
                    "{\"Records\":[\"x\"]}",
                };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(PARSE(kn_kj_parse_get_records, bad[i], &r) == KN_ERR_BAD_RESPONSE, "case %zu",
                      i);
        ck_assert_ptr_null(r);
    }
}
END_TEST

START_TEST(parse_list_shards_reply) {
    kn_shard_list_t *l = NULL;
    const char *ok =
        "{\"Shards\":["
        "{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{\"StartingHashKey\":\"0\","
        "\"EndingHashKey\":\"170141183460469231731687303715884105727\"},"
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\",\"EndingSequenceNumber\":"
        "\"9223372036854775807\"}},"
        "{\"ShardId\":\"shardId-000000000002\",\"ParentShardId\":\"shardId-000000000000\","
        "\"AdjacentParentShardId\":\"shardId-000000000001\","
        "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"5\"},"
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"2\"}}],"
        "\"NextToken\":\"s1::shardId-000000000002\"}";
    ck_assert_int_eq(PARSE(kn_kj_parse_list_shards, ok, &l), KN_OK);
    ck_assert_uint_eq(l->count, 2);
    ck_assert_str_eq(l->shards[0].ending_sequence_number, "9223372036854775807");
    ck_assert_ptr_null(l->shards[0].parent_shard_id);
    ck_assert_ptr_null(l->shards[1].ending_sequence_number);
    ck_assert_str_eq(l->shards[1].adjacent_parent_shard_id, "shardId-000000000001");
    ck_assert_str_eq(l->next_token, "s1::shardId-000000000002");
    kn_shard_list_destroy(l);
    ck_assert_int_eq(PARSE(kn_kj_parse_list_shards, "{\"Shards\":[]}", &l), KN_OK);
    ck_assert_uint_eq(l->count, 0);
    ck_assert_ptr_null(l->next_token);
    kn_shard_list_destroy(l);
    ck_assert_int_eq(PARSE(kn_kj_parse_list_shards, "{\"Shards\":[{\"ShardId\":\"x\"}]}", &l),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_list_shards, "{\"Shards\":\"all\"}", &l),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_list_shards, "{\"Shards\":[],\"NextToken\":5}", &l),
                     KN_ERR_BAD_RESPONSE);
}
END_TEST

START_TEST(parse_summary_consumer_iterator) {
    kn_stream_summary_t *s = NULL;
    const char *ok =
        "{\"StreamDescriptionSummary\":{\"StreamName\":\"s1\","
        "\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/s1\","
        "\"StreamStatus\":\"ACTIVE\",\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"},"
        "\"RetentionPeriodHours\":24,\"StreamCreationTimestamp\":1700000000.5,"
        "\"EnhancedMonitoring\":[],\"EncryptionType\":\"NONE\",\"OpenShardCount\":4,"
        "\"ConsumerCount\":1}}";
    ck_assert_int_eq(PARSE(kn_kj_parse_stream_summary, ok, &s), KN_OK);
    ck_assert_str_eq(s->stream_name, "s1");
    ck_assert_int_eq(s->status, KN_STREAM_STATUS_ACTIVE);
    ck_assert_int_eq(s->mode, KN_STREAM_MODE_ON_DEMAND);
    ck_assert_int_eq(s->retention_period_hours, 24);
    ck_assert_int_eq(s->creation_timestamp_ms, 1700000000500);
    ck_assert_int_eq(s->open_shard_count, 4);
    ck_assert_int_eq(s->consumer_count, 1);
    kn_stream_summary_destroy(s);
    ck_assert_int_eq(
        PARSE(kn_kj_parse_stream_summary,
              "{\"StreamDescriptionSummary\":{\"StreamName\":\"s1\",\"StreamARN\":\"a\","
              "\"StreamStatus\":\"MELTING\",\"RetentionPeriodHours\":24,\"OpenShardCount\":1}}",
              &s),
        KN_OK);
    ck_assert_int_eq(s->status, KN_STREAM_STATUS_UNKNOWN);
    ck_assert_int_eq(s->consumer_count, -1);
    kn_stream_summary_destroy(s);
    ck_assert_int_eq(
        PARSE(kn_kj_parse_stream_summary,
              "{\"StreamDescriptionSummary\":{\"StreamName\":\"s1\",\"StreamStatus\":\"ACTIVE\","
              "\"RetentionPeriodHours\":24,\"OpenShardCount\":1}}",
              &s),
        KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(
        PARSE(kn_kj_parse_stream_summary,
              "{\"StreamDescriptionSummary\":{\"StreamName\":\"s1\",\"StreamARN\":\"a\","
              "\"StreamStatus\":\"ACTIVE\",\"RetentionPeriodHours\":24,\"OpenShardCount\":1e300}}",
              &s),
        KN_ERR_BAD_RESPONSE);

    kn_stream_consumer_t *c = NULL;
    ck_assert_int_eq(
        PARSE(kn_kj_parse_consumer,
              "{\"ConsumerDescription\":{\"ConsumerName\":\"app\",\"ConsumerARN\":\"arn:c\","
              "\"ConsumerStatus\":\"CREATING\",\"ConsumerCreationTimestamp\":1700000000,"
              "\"StreamARN\":\"arn:s\"}}",
              "ConsumerDescription", &c),
        KN_OK);
    ck_assert_int_eq(c->status, KN_CONSUMER_STATUS_CREATING);
    ck_assert_str_eq(c->stream_arn, "arn:s");
    ck_assert_int_eq(c->creation_timestamp_ms, 1700000000000);
    kn_stream_consumer_destroy(c);
    ck_assert_int_eq(
        PARSE(kn_kj_parse_consumer, "{\"Consumer\":{\"ConsumerName\":\"app\"}}", "Consumer", &c),
        KN_ERR_BAD_RESPONSE);

    char *it = NULL;
    ck_assert_int_eq(PARSE(kn_kj_parse_shard_iterator, "{\"ShardIterator\":\"abc\"}", &it), KN_OK);
    ck_assert_str_eq(it, "abc");
    free(it);
    ck_assert_int_eq(PARSE(kn_kj_parse_shard_iterator, "{\"ShardIterator\":\"\"}", &it),
                     KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(PARSE(kn_kj_parse_shard_iterator, "{\"ShardIterator\":[]}", &it),
                     KN_ERR_BAD_RESPONSE);
}
END_TEST

/* A reply as the transport would hand it over. */
static kn_err_t reply(int status, const char *body, const char *request_id, cJSON **result,
                      kn_error_t **err) {
    kn_http_response_t resp = {.status = status,
                               .http_version = 11,
                               .request_id = (char *)request_id,
                               .body = (uint8_t *)body,
                               .body_len = strlen(body)};
    return kn_service_parse_reply(&resp, result, err);
}

START_TEST(service_reply_mapping) {
    cJSON *res = NULL;
    kn_error_t *e = NULL;
    ck_assert_int_eq(reply(200, "{\"a\":1}  \n", NULL, &res, &e), KN_OK);
    ck_assert_int_eq(cJSON_GetObjectItem(res, "a")->valueint, 1);
    cJSON_Delete(res);
    ck_assert_int_eq(reply(200, "", NULL, &res, &e), KN_OK);
    ck_assert(cJSON_IsObject(res));
    cJSON_Delete(res);

    static const char *const broken[] = {"{\"a\":", "not json",   "[1,2]", "{\"a\":1} trailing",
                                         "\"str\"", "{\"a\":1}{}"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        ck_assert_int_eq(reply(200, broken[i], "rid-9", &res, &e), KN_ERR_BAD_RESPONSE);
        ck_assert_ptr_null(res);
        ck_assert_int_eq(kn_error_http_status(e), 200);
        ck_assert_str_eq(kn_error_request_id(e), "rid-9");
        kn_error_destroy(e);
    }
    ck_assert_int_eq(reply(200, "{\"a\":\n\x01", NULL, &res, &e), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_null(strchr(kn_error_message(e), '\x01')); /* excerpt is sanitised */
    kn_error_destroy(e);

    ck_assert_int_eq(reply(400, "{\"__type\":\"ResourceNotFoundException\",\"message\":\"no s1\"}",
                           "rid-1", &res, &e),
                     KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_str_eq(kn_error_type(e), "ResourceNotFoundException");
    ck_assert_str_eq(kn_error_message(e), "no s1");
    ck_assert_str_eq(kn_error_request_id(e), "rid-1");
    ck_assert_int_eq(kn_error_http_status(e), 400);
    ck_assert(!kn_error_is_retriable(e));
    kn_error_destroy(e);
    ck_assert_int_eq(
        reply(400,
              "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
              "\"Message\":\"The conditional request failed\"}",
              NULL, &res, &e),
        KN_ERR_CONDITIONAL_CHECK_FAILED);
    ck_assert_str_eq(kn_error_message(e), "The conditional request failed");
    kn_error_destroy(e);
    ck_assert_int_eq(reply(500, "Internal Server Error", NULL, &res, &e), KN_ERR_INTERNAL_FAILURE);
    ck_assert(kn_error_is_retriable(e));
    ck_assert_ptr_nonnull(strstr(kn_error_message(e), "Internal Server Error"));
    kn_error_destroy(e);
    ck_assert_int_eq(reply(404, "<UnknownOperationException/>\n", NULL, &res, &e),
                     KN_ERR_UNKNOWN_OPERATION);
    ck_assert_str_eq(kn_error_type(e), "UnknownOperationException");
    kn_error_destroy(e);
    ck_assert_int_eq(reply(503, "", NULL, &res, &e), KN_ERR_SERVICE_UNAVAILABLE);
    kn_error_destroy(e);
    ck_assert_int_eq(reply(400, "{\"__type\":7}", NULL, &res, &e), KN_ERR_SERVICE);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_service_parse_reply(NULL, &res, &e), KN_ERR_BAD_RESPONSE);
    kn_error_destroy(e);
}
END_TEST

START_TEST(json_getters) {
    cJSON *o =
        cJSON_Parse("{\"s\":\"x\",\"e\":\"\",\"n\":3,\"f\":2.5,\"big\":1e20,\"b\":true,\"z\":null,"
                    "\"d\":\"0123\",\"t\":1700000000.0004}");
    kn_error_t *e = NULL;
    const char *s;
    int64_t v = -7;
    ck_assert_int_eq(kn_json_str(o, "s", 1, 0, &s, &e), 0);
    ck_assert_str_eq(s, "x");
    ck_assert_int_eq(kn_json_str(o, "e", 0, 0, &s, &e), 0);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(kn_json_str(o, "z", 0, 0, &s, &e), 0);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(kn_json_str(o, "s", 1, 0, &s, NULL), 0);
    ck_assert_int_eq(kn_json_int(o, "missing", 0, 0, 10, &v, &e), 0);
    ck_assert_int_eq(v, -7);
    ck_assert_int_eq(kn_json_int(o, "n", 1, 0, 10, &v, &e), 0);
    ck_assert_int_eq(v, 3);
    ck_assert_ptr_null(e);
    struct {
        int rc;
    } fails[] = {
        {kn_json_str(o, "e", 1, 0, &s, &e)},
        {kn_json_str(o, "n", 1, 0, &s, &e)},
        {kn_json_int(o, "n", 1, 4, 10, &v, &e)},
        {kn_json_int(o, "f", 1, 0, 10, &v, &e)},
        {kn_json_int(o, "big", 1, 0, INT64_MAX, &v, &e)},
        {kn_json_int(o, "z", 1, 0, 1, &v, &e)},
        {kn_json_bool(o, "n", 1, (int *)&v, &e)},
    };
    for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++)
        ck_assert_int_eq(fails[i].rc, -1);
    ck_assert_int_eq(kn_error_code(e), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_nonnull(
        strstr(kn_error_message(e), "'e'")); /* the first failure names its field */
    kn_error_destroy(e);
    e = NULL;
    char *d = NULL;
    ck_assert_int_eq(kn_json_decimal(o, "d", 1, 10, &d, &e), -1);
    ck_assert_ptr_null(d);
    kn_error_destroy(e);
    e = NULL;
    ck_assert_int_eq(kn_json_time_ms(o, "t", 1, &v, &e), 0);
    ck_assert_int_eq(v, 1700000000000);
    ck_assert_int_eq(kn_json_str(NULL, "s", 1, 0, &s, &e), -1);
    kn_error_destroy(e);
    cJSON_Delete(o);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kinesis_json");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, create_stream_body);
    tcase_add_test(tc, stream_name_or_arn);
    tcase_add_test(tc, list_shards_body);
    tcase_add_test(tc, resharding_bodies);
    tcase_add_test(tc, put_records_body);
    tcase_add_test(tc, put_record_body);
    tcase_add_test(tc, iterator_bodies);
    tcase_add_test(tc, consumer_bodies);
    tcase_add_test(tc, parse_put_records_reply);
    tcase_add_test(tc, parse_get_records_reply);
    tcase_add_test(tc, parse_list_shards_reply);
    tcase_add_test(tc, parse_summary_consumer_iterator);
    tcase_add_test(tc, service_reply_mapping);
    tcase_add_test(tc, json_getters);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
