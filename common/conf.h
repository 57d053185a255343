/*
 * The configuration object and its one property table (conf.c). Library code
 * reads typed fields directly; users set them by name through kn_conf_set().
 * To add a property: a field here, a row in conf.c's table, then regenerate
 * docs/CONFIGURATION.md (the `confdoc` build target).
 */
#ifndef KN_CONF_H
#define KN_CONF_H

#include <stdint.h>

#include "kinesis/common.h"
#include "log.h"

typedef enum { KN_HTTP_AUTO = 0, KN_HTTP_1_1, KN_HTTP_2 } kn_http_version_t;

struct kn_conf_s {
    /* common: AWS account access */
    char *region;
    char *profile;
    char *kinesis_endpoint;
    char *dynamodb_endpoint;
    char *sts_endpoint;
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    /* common: transport */
    char *ca_file;
    int tls_verify;
    int http_version; /* kn_http_version_t */
    int64_t connect_timeout_ms;
    int64_t request_timeout_ms;
    int64_t max_connections;
    /* common: retries of API calls */
    int64_t retry_base_ms;
    int64_t retry_max_ms;
    int64_t retry_max_attempts;
    /* common: logging */
    int log_level; /* kn_log_level_t */
    /* consumer */
    char *application_name;
    char *lease_table_name;
    char *stream_name;
    char *worker_id;
    int initial_position; /* kn_esn_kind_t: 0 TRIM_HORIZON, 1 LATEST, 2 AT_TIMESTAMP */
    char *initial_position_timestamp;
    int retrieval_mode;   /* 0 polling, 1 fanout */
    int64_t failover_time_ms;
    int64_t max_leases_per_worker;
    int64_t max_leases_to_steal;
    int64_t max_records;
    int64_t idle_time_between_reads_ms;
    int64_t shard_sync_interval_ms;
    int64_t processor_threads;
    char *consumer_name;          /* fan-out: the stream consumer */
    int64_t fanout_max_queued_events;
    int64_t fanout_max_queued_bytes;
    /* producer */
    int aggregation_enabled;
    int64_t aggregation_max_bytes;
    int64_t record_max_bytes;
    int64_t record_max_buffered_time_ms;
    int64_t record_ttl_ms;
    int64_t rate_limit_percent;
    int ordering;              /* 0 default, 1 strict */
    int64_t buffer_max_bytes;
    int64_t buffer_max_records;
    int queue_full_behavior;   /* 0 error, 1 block */
    int64_t queue_block_timeout_ms;
    int64_t shutdown_timeout_ms;
    int delivery_report_mode;  /* 0 thread, 1 poll */
    int64_t statistics_interval_ms;
    /* producer callbacks, set through kinesis/producer.h; stored as generic
     * function pointers so this header needs no producer types */
    void (*dr_fn)(void);
    void *dr_opaque;
    void (*stats_fn)(void);
    void *stats_opaque;
    kn_log_fn *log_fn;
    void *log_opaque;
};

/** The logger a handle created from this configuration uses. */
kn_logger_t kn_conf_logger(const kn_conf_t *conf);

#endif
