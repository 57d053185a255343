/*
 * Kinesis requests and replies as JSON, with no I/O: argument validation and
 * request bodies (kn_kj_build_*), and reply parsing into the typed results of
 * kinesis/kinesis.h (kn_kj_parse_*). The client (kinesis_api.c) glues these to
 * service calls; unit tests drive them directly with canned JSON.
 *
 * Builders return a new cJSON object (the caller deletes it) or NULL with *err
 * set: KN_ERR_INVALID_ARG naming the bad argument, or KN_ERR_NOMEM. Parsers
 * return KN_OK with *out owned by the caller, or KN_ERR_BAD_RESPONSE naming the
 * field that broke the API's promise.
 */
#ifndef KN_KINESIS_JSON_H
#define KN_KINESIS_JSON_H

#include <cjson/cJSON.h>

#include "err.h"
#include "kinesis/kinesis.h"

/** Longest shard iterator accepted in either direction (the API says 512; leave room). */
#define KN_KJ_MAX_ITERATOR 4096
/** Longest pagination token accepted in either direction. */
#define KN_KJ_MAX_NEXT_TOKEN 1048576
/** Most child shards / parents accepted in one reply. */
#define KN_KJ_MAX_CHILD_SHARDS  1000
#define KN_KJ_MAX_PARENT_SHARDS 10

/** Longest EncryptionType, partition key (bytes of UTF-8) and base64 Data text read from a reply. */
#define KN_KJ_MAX_ENCRYPTION_TYPE 16
#define KN_KJ_MAX_PARTITION_KEY_BYTES (KN_KINESIS_MAX_PARTITION_KEY * 4)
#define KN_KJ_MAX_RECORD_TEXT ((size_t)64 * 1024 * 1024)

/** Whether builders check the service limits (tests turn it off to provoke server-side errors). */
typedef enum { KN_KJ_VALIDATE = 1, KN_KJ_NO_LIMITS = 0 } kn_kj_validate_t;

/* ------------------------------------------------------------- validation */

/** KN_OK when `stream` is a valid stream name or stream ARN, else KN_ERR_INVALID_ARG with *err. */
kn_err_t kn_kj_check_stream(const char *stream, kn_error_t **err);
/** KN_OK when `key` is a valid partition key (UTF-8, 1..256 UTF-16 units, as AWS counts). */
kn_err_t kn_kj_check_partition_key(const char *key, kn_error_t **err);
/** KN_OK when `name` is a valid consumer name (1..128 of [a-zA-Z0-9_.-]). */
kn_err_t kn_kj_check_consumer_name(const char *name, kn_error_t **err);
/** Whether `s` is an ARN (starts with "arn:"). */
int kn_kj_is_arn(const char *s);

/* --------------------------------------------------------------- requests */

cJSON *kn_kj_build_create_stream(const char *stream_name, int shard_count, kn_stream_mode_t mode,
                                 kn_error_t **err);
cJSON *kn_kj_build_delete_stream(const char *stream, int enforce_consumer_deletion,
                                 kn_error_t **err);
/** DescribeStreamSummary and any other call whose body is just the stream. */
cJSON *kn_kj_build_stream_only(const char *stream, kn_error_t **err);
/** ListShards: NextToken (+MaxResults) alone when next_token is set, else stream (+filter). */
cJSON *kn_kj_build_list_shards(const char *stream, const kn_shard_filter_t *filter, int max_results,
                               const char *next_token, kn_error_t **err);
cJSON *kn_kj_build_split_shard(const char *stream, const char *shard_id, const char *new_start,
                               kn_error_t **err);
cJSON *kn_kj_build_merge_shards(const char *stream, const char *shard_id, const char *adjacent,
                                kn_error_t **err);
cJSON *kn_kj_build_update_shard_count(const char *stream, int target, kn_error_t **err);
cJSON *kn_kj_build_put_record(const char *stream, const kn_put_entry_t *entry,
                              const char *sequence_number_for_ordering, kn_kj_validate_t v,
                              kn_error_t **err);
/**
 * PutRecords as JSON text (the caller frees it): built by hand around one
 * base64 pass, since a full batch is up to ~7 MB of text.
 */
char *kn_kj_build_put_records(const char *stream, const kn_put_entry_t *entries, size_t count,
                              kn_kj_validate_t v, kn_error_t **err);
cJSON *kn_kj_build_get_shard_iterator(const char *stream, const char *shard_id,
                                      const kn_position_t *pos, kn_error_t **err);
cJSON *kn_kj_build_get_records(const char *iterator, int limit, kn_error_t **err);
/** Register: stream_arn must be an ARN. */
cJSON *kn_kj_build_register_consumer(const char *stream_arn, const char *consumer_name,
                                     kn_error_t **err);
/** Describe/Deregister: by consumer_arn, else by stream_arn + consumer_name. */
cJSON *kn_kj_build_consumer_ref(const char *stream_arn, const char *consumer_name,
                                const char *consumer_arn, kn_error_t **err);
/** SubscribeToShard: ConsumerARN, ShardId, StartingPosition. */
cJSON *kn_kj_build_subscribe_to_shard(const char *consumer_arn, const char *shard_id,
                                      const kn_position_t *pos, kn_error_t **err);

/* ---------------------------------------------------------------- replies */

kn_err_t kn_kj_parse_stream_summary(const cJSON *reply, kn_stream_summary_t **out,
                                    kn_error_t **err);
kn_err_t kn_kj_parse_list_shards(const cJSON *reply, kn_shard_list_t **out, kn_error_t **err);
kn_err_t kn_kj_parse_put_record(const cJSON *reply, kn_put_record_result_t **out, kn_error_t **err);
/** `expected`: the request's entry count; a reply with another count is malformed. */
kn_err_t kn_kj_parse_put_records(const cJSON *reply, size_t expected, kn_put_records_result_t **out,
                                 kn_error_t **err);
kn_err_t kn_kj_parse_shard_iterator(const cJSON *reply, char **out, kn_error_t **err);
kn_err_t kn_kj_parse_get_records(const cJSON *reply, kn_get_records_result_t **out,
                                 kn_error_t **err);
/**
 * The members GetRecords shares with a SubscribeToShard event: Records,
 * MillisBehindLatest, ChildShards (next_shard_iterator is left NULL; an event's
 * ContinuationSequenceNumber is the caller's to read).
 */
kn_err_t kn_kj_parse_records(const cJSON *reply, kn_get_records_result_t **out, kn_error_t **err);
/**
 * A result for n records in one block (what kn_get_records_result_destroy()
 * frees): the records zeroed, millis_behind_latest -1, and *arena pointing to
 * arena_bytes of uninitialised room after the records for their bytes. NULL
 * when out of memory. Shared by the reply parsers.
 */
kn_get_records_result_t *kn_kj_records_alloc(size_t n, size_t arena_bytes, uint8_t **arena);

/** An EncryptionType value: NULL (absent) is NONE, a name not known is UNKNOWN. */
kn_encryption_t kn_kj_encryption(const char *name);

/** RegisterStreamConsumer ("Consumer") or DescribeStreamConsumer ("ConsumerDescription"). */
kn_err_t kn_kj_parse_consumer(const cJSON *reply, const char *member, kn_stream_consumer_t **out,
                              kn_error_t **err);
/**
 * The "ChildShards" member of a GetRecords reply or SubscribeToShard event
 * (absent: *out NULL, *count 0). The caller frees with kn_kj_child_shards_free.
 */
kn_err_t kn_kj_parse_child_shards(const cJSON *obj, kn_child_shard_t **out, size_t *count,
                                  kn_error_t **err);
void kn_kj_child_shards_free(kn_child_shard_t *c, size_t count);

#endif
