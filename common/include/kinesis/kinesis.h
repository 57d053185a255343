/*
 * kinesis-c: a typed client for the Kinesis Data Streams API.
 *
 * One kn_kinesis_t is a connection pool, a credential chain and a retry policy
 * for one region and endpoint. It is thread-safe: any number of threads may
 * call it at once. Every call here is synchronous: it blocks the calling thread
 * until the reply (after retries) arrives, runs no callback, and must not be
 * made from a library callback.
 *
 * Streams are named by name or by ARN: an argument starting with "arn:" is sent
 * as StreamARN, anything else as StreamName.
 *
 * Every call returns KN_OK or an error code. When `err` is not NULL and the call
 * fails, *err receives an error object the caller owns (kn_error_destroy) with
 * the AWS error type, message, HTTP status and request id; on success *err is
 * set to NULL. Arguments are checked before anything is sent: a bad one gives
 * KN_ERR_INVALID_ARG. A reply that is not what the API promises (wrong JSON
 * types, missing fields, absurd values) gives KN_ERR_BAD_RESPONSE.
 *
 * Results are returned as structs the library allocates; each has a destroy
 * function that accepts NULL. Strings in them are NUL-terminated UTF-8.
 * Sequence numbers and hash keys are decimal strings (they exceed 64 bits).
 */
#ifndef KINESIS_KINESIS_H
#define KINESIS_KINESIS_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Service limits, checked before sending. */
#define KN_KINESIS_MAX_STREAM_NAME   128           /**< characters in a stream name */
#define KN_KINESIS_MAX_ARN           2048          /**< characters in a stream or consumer ARN */
#define KN_KINESIS_MAX_CONSUMER_NAME 128           /**< characters in a consumer name */
#define KN_KINESIS_MAX_SHARD_ID      128           /**< characters in a shard id */
#define KN_KINESIS_MAX_SHARD_COUNT   100000        /**< shards in CreateStream / UpdateShardCount */
#define KN_KINESIS_MAX_PARTITION_KEY 256           /**< UTF-16 units in a partition key */
#define KN_KINESIS_MAX_RECORD_DATA   (1024 * 1024) /**< bytes of data in one record */
#define KN_KINESIS_MAX_PUT_RECORDS   500           /**< entries in one PutRecords call */
/** Bytes of data and partition keys in one PutRecords call. */
#define KN_KINESIS_MAX_PUT_RECORDS_BYTES (5 * 1024 * 1024)
#define KN_KINESIS_MAX_GET_RECORDS     10000 /**< Limit of one GetRecords call */
#define KN_KINESIS_MAX_LIST_SHARDS     10000 /**< MaxResults of one ListShards call */
#define KN_KINESIS_MAX_SEQUENCE_NUMBER 129   /**< digits in a sequence number */
#define KN_KINESIS_MAX_HASH_KEY        39    /**< digits in a hash key (< 2^128) */

/** A Kinesis client. Opaque. */
typedef struct kn_kinesis_s kn_kinesis_t;

/**
 * Creates a client from `conf` (which may be destroyed afterwards): resolves the
 * region (conf `region`, AWS_REGION, AWS_DEFAULT_REGION, the profile) and the
 * endpoint (conf `kinesis.endpoint.url`, AWS_ENDPOINT_URL_KINESIS,
 * AWS_ENDPOINT_URL, the regional default), starts the transport thread and sets
 * up the credential chain. Credentials are first fetched by the first call.
 * Returns NULL with a sentence in errstr (if not NULL) on failure.
 */
kn_kinesis_t *kn_kinesis_new(const kn_conf_t *conf, char *errstr, size_t errstr_size);

/** Stops the transport and frees the client. No call may be in progress. Accepts NULL. */
void kn_kinesis_destroy(kn_kinesis_t *k);

/** The region the client signs for. Valid as long as the client. */
const char *kn_kinesis_region(const kn_kinesis_t *k);

/** The endpoint URL the client sends to. Valid as long as the client. */
const char *kn_kinesis_endpoint(const kn_kinesis_t *k);

/* ------------------------------------------------------------------ streams */

typedef enum {
    KN_STREAM_MODE_PROVISIONED = 0, /**< a fixed number of shards */
    KN_STREAM_MODE_ON_DEMAND = 1    /**< capacity managed by the service */
} kn_stream_mode_t;

typedef enum {
    KN_STREAM_STATUS_UNKNOWN = 0, /**< a status this library does not know */
    KN_STREAM_STATUS_CREATING,
    KN_STREAM_STATUS_DELETING,
    KN_STREAM_STATUS_ACTIVE,
    KN_STREAM_STATUS_UPDATING
} kn_stream_status_t;

/** What DescribeStreamSummary reports. */
typedef struct kn_stream_summary_s {
    char *stream_name;
    char *stream_arn;
    kn_stream_status_t status;
    kn_stream_mode_t mode; /**< PROVISIONED when the reply omits it */
    int retention_period_hours;
    int64_t creation_timestamp_ms; /**< epoch milliseconds, 0 when absent */
    int open_shard_count;
    int consumer_count;    /**< -1 when absent */
    char *encryption_type; /**< "NONE", "KMS", or NULL when absent */
    char *key_id;          /**< KMS key, or NULL */
} kn_stream_summary_t;

/** Frees a summary. Accepts NULL. */
void kn_stream_summary_destroy(kn_stream_summary_t *s);

/**
 * CreateStream. `stream_name` is a name, not an ARN (1..128 of [a-zA-Z0-9_.-]).
 * PROVISIONED needs 1..KN_KINESIS_MAX_SHARD_COUNT shards; ON_DEMAND takes 0
 * (service default) or a shard count. Returns as soon as the service accepted
 * the request; see kn_kinesis_wait_stream_active().
 */
kn_err_t kn_kinesis_create_stream(kn_kinesis_t *k, const char *stream_name, int shard_count,
                                  kn_stream_mode_t mode, kn_error_t **err);

/**
 * DeleteStream. With `enforce_consumer_deletion` nonzero, registered enhanced
 * fan-out consumers are deleted too (else their presence fails the call).
 */
kn_err_t kn_kinesis_delete_stream(kn_kinesis_t *k, const char *stream,
                                  int enforce_consumer_deletion, kn_error_t **err);

/** DescribeStreamSummary. On KN_OK *out is a summary the caller destroys. */
kn_err_t kn_kinesis_describe_stream_summary(kn_kinesis_t *k, const char *stream,
                                            kn_stream_summary_t **out, kn_error_t **err);

/**
 * Polls DescribeStreamSummary (with growing pauses) until the stream is ACTIVE.
 * KN_ERR_TIMED_OUT after `timeout_ms`; a missing stream is an error at once.
 */
kn_err_t kn_kinesis_wait_stream_active(kn_kinesis_t *k, const char *stream, int64_t timeout_ms,
                                       kn_error_t **err);

/**
 * Polls DescribeStreamSummary until it reports ResourceNotFound.
 * KN_ERR_TIMED_OUT after `timeout_ms`.
 */
kn_err_t kn_kinesis_wait_stream_deleted(kn_kinesis_t *k, const char *stream, int64_t timeout_ms,
                                        kn_error_t **err);

/* ------------------------------------------------------------------- shards */

/** One shard as ListShards reports it. Absent optional strings are NULL. */
typedef struct kn_shard_s {
    char *shard_id;
    char *parent_shard_id;
    char *adjacent_parent_shard_id;
    char *starting_hash_key; /**< decimal, inclusive */
    char *ending_hash_key;   /**< decimal, inclusive */
    char *starting_sequence_number;
    char *ending_sequence_number; /**< NULL while the shard is open */
} kn_shard_t;

/** A page (or, from kn_kinesis_list_all_shards, the whole list) of shards. */
typedef struct kn_shard_list_s {
    kn_shard_t *shards;
    size_t count;
    char *next_token; /**< NULL on the last page */
} kn_shard_list_t;

/** Frees a shard list. Accepts NULL. */
void kn_shard_list_destroy(kn_shard_list_t *l);

typedef enum {
    KN_SHARD_FILTER_NONE = 0,       /**< no filter: every shard in the retention period */
    KN_SHARD_FILTER_AFTER_SHARD_ID, /**< shards after `shard_id` */
    KN_SHARD_FILTER_AT_TRIM_HORIZON,
    KN_SHARD_FILTER_FROM_TRIM_HORIZON,
    KN_SHARD_FILTER_AT_LATEST,     /**< the open shards */
    KN_SHARD_FILTER_AT_TIMESTAMP,  /**< uses `timestamp_ms` */
    KN_SHARD_FILTER_FROM_TIMESTAMP /**< uses `timestamp_ms` */
} kn_shard_filter_type_t;

/** ListShards ShardFilter. */
typedef struct kn_shard_filter_s {
    kn_shard_filter_type_t type;
    const char *shard_id; /**< AFTER_SHARD_ID only */
    int64_t timestamp_ms; /**< *_TIMESTAMP only, epoch milliseconds */
} kn_shard_filter_t;

/**
 * One ListShards call. The first page names the stream (and optionally a
 * filter, NULL for none); a later page passes the previous page's next_token,
 * and then `stream` and `filter` are not sent (the service forbids both), so
 * they may be NULL. `max_results` 0 is the service default, else 1..10000.
 * On KN_OK *out is a list the caller destroys.
 */
kn_err_t kn_kinesis_list_shards(kn_kinesis_t *k, const char *stream,
                                const kn_shard_filter_t *filter, int max_results,
                                const char *next_token, kn_shard_list_t **out, kn_error_t **err);

/** Every page of ListShards, concatenated into one list (next_token NULL). */
kn_err_t kn_kinesis_list_all_shards(kn_kinesis_t *k, const char *stream,
                                    const kn_shard_filter_t *filter, kn_shard_list_t **out,
                                    kn_error_t **err);

/** SplitShard at `new_starting_hash_key` (decimal), which becomes the second child's first key. */
kn_err_t kn_kinesis_split_shard(kn_kinesis_t *k, const char *stream, const char *shard_id,
                                const char *new_starting_hash_key, kn_error_t **err);

/** MergeShards: `shard_id` and `adjacent_shard_id` must have adjacent hash ranges. */
kn_err_t kn_kinesis_merge_shards(kn_kinesis_t *k, const char *stream, const char *shard_id,
                                 const char *adjacent_shard_id, kn_error_t **err);

/** UpdateShardCount with UNIFORM_SCALING to 1..KN_KINESIS_MAX_SHARD_COUNT shards. */
kn_err_t kn_kinesis_update_shard_count(kn_kinesis_t *k, const char *stream, int target_shard_count,
                                       kn_error_t **err);

/* ------------------------------------------------------------------ writing */

/** One record to write. The data is copied into the request; it need not outlive the call. */
typedef struct kn_put_entry_s {
    const void *data;              /**< may be NULL when data_len is 0 */
    size_t data_len;               /**< 0..KN_KINESIS_MAX_RECORD_DATA */
    const char *partition_key;     /**< valid UTF-8, 1..256 characters (UTF-16 units) */
    const char *explicit_hash_key; /**< decimal < 2^128, or NULL */
} kn_put_entry_t;

/** PutRecord result. */
typedef struct kn_put_record_result_s {
    char *shard_id;
    char *sequence_number;
    char *encryption_type; /**< or NULL */
} kn_put_record_result_t;

/** Frees a PutRecord result. Accepts NULL. */
void kn_put_record_result_destroy(kn_put_record_result_t *r);

/**
 * PutRecord. `sequence_number_for_ordering` (or NULL) is the sequence number of
 * the previous record with the same partition key, for strict ordering.
 * On KN_OK *out (if `out` is not NULL) is a result the caller destroys.
 */
kn_err_t kn_kinesis_put_record(kn_kinesis_t *k, const char *stream, const kn_put_entry_t *entry,
                               const char *sequence_number_for_ordering,
                               kn_put_record_result_t **out, kn_error_t **err);

/** The outcome of one PutRecords entry: either a shard and sequence number, or an error. */
typedef struct kn_put_records_entry_result_s {
    kn_err_t err;          /**< KN_OK, or the code of error_code */
    char *shard_id;        /**< on success */
    char *sequence_number; /**< on success */
    char *error_code;      /**< on failure: e.g. "ProvisionedThroughputExceededException" */
    char *error_message;   /**< on failure, or NULL */
} kn_put_records_entry_result_t;

/** PutRecords result: one entry per request entry, in request order. */
typedef struct kn_put_records_result_s {
    size_t failed_record_count;
    size_t count;
    kn_put_records_entry_result_t *entries;
    char *encryption_type; /**< or NULL */
} kn_put_records_result_t;

/** Frees a PutRecords result. Accepts NULL. */
void kn_put_records_result_destroy(kn_put_records_result_t *r);

/**
 * PutRecords with 1..500 entries of at most 5 MiB in all (data and partition
 * keys). KN_OK means the call succeeded: entries may
 * still have failed one by one (see failed_record_count and each entry's err).
 * A reply whose entry count differs from the request is KN_ERR_BAD_RESPONSE.
 */
kn_err_t kn_kinesis_put_records(kn_kinesis_t *k, const char *stream, const kn_put_entry_t *entries,
                                size_t count, kn_put_records_result_t **out, kn_error_t **err);

/* ------------------------------------------------------------------ reading */

typedef enum {
    KN_POSITION_AT_SEQUENCE_NUMBER = 0,
    KN_POSITION_AFTER_SEQUENCE_NUMBER,
    KN_POSITION_TRIM_HORIZON,
    KN_POSITION_LATEST,
    KN_POSITION_AT_TIMESTAMP
} kn_position_type_t;

/** A starting position in a shard (GetShardIterator, SubscribeToShard). */
typedef struct kn_position_s {
    kn_position_type_t type;
    const char *sequence_number; /**< AT_/AFTER_SEQUENCE_NUMBER only */
    int64_t timestamp_ms; /**< AT_TIMESTAMP only, epoch milliseconds (sent with ms precision) */
} kn_position_t;

/** GetShardIterator. On KN_OK *iterator is a string the caller frees with free(). */
kn_err_t kn_kinesis_get_shard_iterator(kn_kinesis_t *k, const char *stream, const char *shard_id,
                                       const kn_position_t *position, char **iterator,
                                       kn_error_t **err);

typedef enum {
    KN_ENCRYPTION_NONE = 0,
    KN_ENCRYPTION_KMS = 1,
    KN_ENCRYPTION_UNKNOWN = 2 /**< a type this library does not know */
} kn_encryption_t;

/** One record read from a shard. */
typedef struct kn_record_s {
    const uint8_t *data; /**< base64-decoded; NULL when data_len is 0 */
    size_t data_len;
    const char *partition_key;
    const char *sequence_number;
    int64_t approximate_arrival_ms; /**< epoch milliseconds, 0 when absent */
    kn_encryption_t encryption;
} kn_record_t;

/** A child shard reported at the end of a closed shard. */
typedef struct kn_child_shard_s {
    char *shard_id;
    char **parent_shards;
    size_t parent_count;
    char *starting_hash_key;
    char *ending_hash_key;
} kn_child_shard_t;

/** GetRecords result. */
typedef struct kn_get_records_result_s {
    kn_record_t *records;
    size_t record_count;
    char *next_shard_iterator;      /**< NULL when the shard is closed and fully read */
    int64_t millis_behind_latest;   /**< -1 when absent */
    kn_child_shard_t *child_shards; /**< set at the end of a closed shard */
    size_t child_shard_count;
} kn_get_records_result_t;

/** Frees a GetRecords result, records included. Accepts NULL. */
void kn_get_records_result_destroy(kn_get_records_result_t *r);

/** GetRecords. `limit` 0 is the service default, else 1..10000. On KN_OK *out is the caller's. */
kn_err_t kn_kinesis_get_records(kn_kinesis_t *k, const char *shard_iterator, int limit,
                                kn_get_records_result_t **out, kn_error_t **err);

/* ----------------------------------------------- enhanced fan-out consumers */

typedef enum {
    KN_CONSUMER_STATUS_UNKNOWN = 0,
    KN_CONSUMER_STATUS_CREATING,
    KN_CONSUMER_STATUS_DELETING,
    KN_CONSUMER_STATUS_ACTIVE
} kn_consumer_status_t;

/** An enhanced fan-out consumer. */
typedef struct kn_stream_consumer_s {
    char *consumer_name;
    char *consumer_arn;
    kn_consumer_status_t status;
    int64_t creation_timestamp_ms; /**< 0 when absent */
    char *stream_arn;              /**< or NULL when the reply omits it */
} kn_stream_consumer_t;

/** Frees a consumer description. Accepts NULL. */
void kn_stream_consumer_destroy(kn_stream_consumer_t *c);

/**
 * RegisterStreamConsumer. The API needs the stream's ARN; given a name, the
 * client looks the ARN up first (DescribeStreamSummary). On KN_OK *out (if not
 * NULL) is the new consumer (usually CREATING), the caller's to destroy.
 */
kn_err_t kn_kinesis_register_stream_consumer(kn_kinesis_t *k, const char *stream,
                                             const char *consumer_name, kn_stream_consumer_t **out,
                                             kn_error_t **err);

/**
 * DescribeStreamConsumer by `consumer_arn`, or by `stream` (name or ARN) and
 * `consumer_name` when consumer_arn is NULL. On KN_OK *out is the caller's.
 */
kn_err_t kn_kinesis_describe_stream_consumer(kn_kinesis_t *k, const char *stream,
                                             const char *consumer_name, const char *consumer_arn,
                                             kn_stream_consumer_t **out, kn_error_t **err);

/** DeregisterStreamConsumer, addressed like kn_kinesis_describe_stream_consumer(). */
kn_err_t kn_kinesis_deregister_stream_consumer(kn_kinesis_t *k, const char *stream,
                                               const char *consumer_name, const char *consumer_arn,
                                               kn_error_t **err);

/**
 * Polls DescribeStreamConsumer until the consumer is ACTIVE; KN_ERR_TIMED_OUT
 * after `timeout_ms`. On KN_OK *out (if not NULL) is the active consumer.
 */
kn_err_t kn_kinesis_wait_consumer_active(kn_kinesis_t *k, const char *stream,
                                         const char *consumer_name, const char *consumer_arn,
                                         int64_t timeout_ms, kn_stream_consumer_t **out,
                                         kn_error_t **err);

#ifdef __cplusplus
}
#endif
#endif /* KINESIS_KINESIS_H */
