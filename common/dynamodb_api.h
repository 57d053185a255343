/*
 * A DynamoDB client (JSON 1.0) for the lease table: table creation and status,
 * single-item reads and conditional writes, Scan and Query with paging.
 *
 * Items, keys and attribute values are cJSON objects in DynamoDB's
 * AttributeValue form: {"leaseKey":{"S":"shardId-0"},"leaseCounter":{"N":"3"},
 * "parentShardId":{"SS":["a","b"]}}. The kn_ddb_* helpers build and read them.
 *
 * Every call is synchronous (it blocks the caller, who must not be on the
 * transport's I/O thread), thread-safe, retried on throttling and 5xx per the
 * configured policy, and returns KN_OK or a code with *err (if not NULL) the
 * caller owns. A failed condition is KN_ERR_CONDITIONAL_CHECK_FAILED and is
 * never retried.
 */
#ifndef KN_DYNAMODB_API_H
#define KN_DYNAMODB_API_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "creds.h"
#include "http.h"
#include "service_call.h"

#define KN_DYNAMODB_TARGET_PREFIX "DynamoDB_20120810."
#define KN_DYNAMODB_CONTENT_TYPE  "application/x-amz-json-1.0"
#define KN_DDB_MAX_TABLE_NAME     255 /* characters of [a-zA-Z0-9_.-], at least 3 */

typedef struct kn_dynamodb_s kn_dynamodb_t;

/**
 * A client for the endpoint of conf (dynamodb.endpoint.url,
 * AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, regional default). `http` and
 * `creds` are borrowed when not NULL, else created from conf. NULL with *err.
 */
kn_dynamodb_t *kn_dynamodb_new(const kn_conf_t *conf, kn_http_t *http, kn_creds_t *creds,
                               kn_error_t **err);
/** Frees the client; no call may be in progress. Accepts NULL. */
void kn_dynamodb_destroy(kn_dynamodb_t *d);
/** The generic call context (operations without a typed wrapper). */
kn_service_t *kn_dynamodb_service(kn_dynamodb_t *d);

/* ------------------------------------------------------------------ tables */

/** A key: HASH attribute, optional RANGE attribute; types are 'S', 'N' or 'B'. */
typedef struct kn_ddb_key_schema_s {
    const char *hash_name;
    char hash_type;
    const char *range_name; /* NULL: no sort key */
    char range_type;
} kn_ddb_key_schema_t;

/** A global secondary index. */
typedef struct kn_ddb_index_s {
    const char *name;
    kn_ddb_key_schema_t key;
    const char *projection; /* "KEYS_ONLY" or "ALL"; NULL = KEYS_ONLY */
} kn_ddb_index_t;

typedef enum {
    KN_TABLE_STATUS_UNKNOWN = 0,
    KN_TABLE_STATUS_CREATING,
    KN_TABLE_STATUS_UPDATING,
    KN_TABLE_STATUS_DELETING,
    KN_TABLE_STATUS_ACTIVE
} kn_table_status_t;

/** CreateTable in PAY_PER_REQUEST mode with `key` and `nindexes` GSIs (indexes may be NULL). */
kn_err_t kn_dynamodb_create_table(kn_dynamodb_t *d, const char *table,
                                  const kn_ddb_key_schema_t *key, const kn_ddb_index_t *indexes,
                                  size_t nindexes, kn_error_t **err);
/** DescribeTable: the table's status (and item count estimate, -1 when absent, if not NULL). */
kn_err_t kn_dynamodb_describe_table(kn_dynamodb_t *d, const char *table, kn_table_status_t *status,
                                    int64_t *item_count, kn_error_t **err);
/** Polls DescribeTable until ACTIVE; KN_ERR_TIMED_OUT after timeout_ms. */
kn_err_t kn_dynamodb_wait_table_active(kn_dynamodb_t *d, const char *table, int64_t timeout_ms,
                                       kn_error_t **err);
/** DeleteTable. */
kn_err_t kn_dynamodb_delete_table(kn_dynamodb_t *d, const char *table, kn_error_t **err);

/* ------------------------------------------------------------------- items */

/** Expression options of PutItem, UpdateItem and DeleteItem; NULL members are not sent. */
typedef struct kn_ddb_write_s {
    const char *condition;     /* ConditionExpression */
    const char *update;        /* UpdateExpression (UpdateItem only, required there) */
    const cJSON *names;        /* ExpressionAttributeNames {"#o":"leaseOwner"} */
    const cJSON *values;       /* ExpressionAttributeValues {":c":{"N":"3"}} */
    const char *return_values; /* "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW" */
} kn_ddb_write_t;

/**
 * GetItem. On KN_OK *item is the item (caller deletes) or NULL when there is
 * none; `consistent` asks for a strongly consistent read.
 */
kn_err_t kn_dynamodb_get_item(kn_dynamodb_t *d, const char *table, const cJSON *key, int consistent,
                              cJSON **item, kn_error_t **err);
/**
 * PutItem, UpdateItem, DeleteItem. `opts` may be NULL (not for UpdateItem). On
 * KN_OK *attributes (if not NULL) receives the returned Attributes object (per
 * ReturnValues; NULL when none), which the caller deletes.
 */
kn_err_t kn_dynamodb_put_item(kn_dynamodb_t *d, const char *table, const cJSON *item,
                              const kn_ddb_write_t *opts, cJSON **attributes, kn_error_t **err);
kn_err_t kn_dynamodb_update_item(kn_dynamodb_t *d, const char *table, const cJSON *key,
                                 const kn_ddb_write_t *opts, cJSON **attributes, kn_error_t **err);
kn_err_t kn_dynamodb_delete_item(kn_dynamodb_t *d, const char *table, const cJSON *key,
                                 const kn_ddb_write_t *opts, cJSON **attributes, kn_error_t **err);

/** Scan / Query options; NULL or zero members are not sent. */
typedef struct kn_ddb_read_s {
    const char *index;         /* IndexName */
    const char *key_condition; /* KeyConditionExpression (Query only, required there) */
    const char *filter;        /* FilterExpression */
    const cJSON *names;
    const cJSON *values;
    int limit;              /* Limit, 0 = none */
    int consistent;         /* ConsistentRead */
    const cJSON *start_key; /* ExclusiveStartKey: a previous page's last_key */
} kn_ddb_read_t;

/** One page of Scan or Query results, owned by the caller (kn_ddb_page_clear). */
typedef struct kn_ddb_page_s {
    cJSON *items;    /* array of items, never NULL on KN_OK */
    cJSON *last_key; /* LastEvaluatedKey, NULL on the last page */
} kn_ddb_page_t;

/** Frees the page's contents and zeroes it. Accepts NULL. */
void kn_ddb_page_clear(kn_ddb_page_t *p);

/** One Scan page. */
kn_err_t kn_dynamodb_scan(kn_dynamodb_t *d, const char *table, const kn_ddb_read_t *opts,
                          kn_ddb_page_t *page, kn_error_t **err);
/** One Query page. */
kn_err_t kn_dynamodb_query(kn_dynamodb_t *d, const char *table, const kn_ddb_read_t *opts,
                           kn_ddb_page_t *page, kn_error_t **err);
/** Every Scan page, items concatenated into *items (caller deletes). opts->start_key is ignored. */
kn_err_t kn_dynamodb_scan_all(kn_dynamodb_t *d, const char *table, const kn_ddb_read_t *opts,
                              cJSON **items, kn_error_t **err);

/* --------------------------------------------------------- attribute values */

/** {"S": s}, or NULL when out of memory or s is NULL. */
cJSON *kn_ddb_s(const char *s);
/** {"N": "<n>"}. */
cJSON *kn_ddb_n(int64_t n);
/** {"SS": [...]} of `count` strings (at least one: DynamoDB has no empty sets). */
cJSON *kn_ddb_ss(const char *const *values, size_t count);
/** {"BOOL": b}. */
cJSON *kn_ddb_bool(int b);
/**
 * Sets attribute `name` = `value` in an item, key or values object (replacing any
 * previous one); takes `value`. 0, or -1 when out of memory (value freed).
 */
int kn_ddb_put(cJSON *obj, const char *name, cJSON *value);

/** The string of S attribute `name`, or NULL when absent or of another type. */
const char *kn_ddb_get_s(const cJSON *item, const char *name);
/** The text of N attribute `name`, or NULL. */
const char *kn_ddb_get_n_str(const cJSON *item, const char *name);
/** N attribute `name` as an int64: 0, or -1 when absent, not N, or not an integer in range. */
int kn_ddb_get_n(const cJSON *item, const char *name, int64_t *out);
/** The array of SS attribute `name` (borrowed, strings only), or NULL. */
const cJSON *kn_ddb_get_ss(const cJSON *item, const char *name);
/** BOOL attribute `name`: 0 or 1 into *out and returns 0; -1 when absent or not BOOL. */
int kn_ddb_get_bool(const cJSON *item, const char *name, int *out);

#endif
