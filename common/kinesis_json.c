/*
 * Kinesis JSON 1.1 bodies: validation and request building, reply parsing into
 * the typed results of kinesis/kinesis.h. Pure: no I/O, no clock.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hashkey.h"
#include "json.h"
#include "kinesis_json.h"
#include "utf8.h"

#define ARN_PREFIX              "arn:"
#define MAX_PUT_RECORDS_TEXT    ((size_t)64 * 1024 * 1024) /* refuse to build beyond this */
#define PUT_RECORDS_FRAMING     64 /* {"StreamARN":,"Records":[]} and the NUL */
#define PUT_RECORDS_ENTRY_FRAMING 64 /* ,{"Data":"","PartitionKey":,"ExplicitHashKey":} */
/* Longest JSON literal of an n-byte string: every byte as \u00XX, and the quotes. */
#define JSON_ESCAPED_MAX(n)     (6 * (n) + 2)
#define MAX_ENCRYPTION_TYPE     KN_KJ_MAX_ENCRYPTION_TYPE
#define MAX_KEY_ID              2048
#define MAX_PARTITION_KEY_BYTES KN_KJ_MAX_PARTITION_KEY_BYTES
#define MAX_STATUS              32
#define MAX_RECORD_TEXT         KN_KJ_MAX_RECORD_TEXT

static const char *const stream_status_names[] = {"",       "CREATING", "DELETING",
                                                  "ACTIVE", "UPDATING", NULL};
static const char *const stream_mode_names[] = {"PROVISIONED", "ON_DEMAND", NULL};
static const char *const consumer_status_names[] = {"", "CREATING", "DELETING", "ACTIVE", NULL};
static const char *const encryption_names[] = {"NONE", "KMS", NULL};
static const char *const shard_filter_names[] = {
    "",          "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON",
    "AT_LATEST", "AT_TIMESTAMP",   "FROM_TIMESTAMP",  NULL};
static const char *const position_names[] = {
    "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", NULL};

static kn_err_t invalid(kn_error_t **err, const char *fmt, const char *what) {
    if (err && !*err)
        *err = kn_error_new(KN_ERR_INVALID_ARG, fmt, what);
    return KN_ERR_INVALID_ARG;
}

static cJSON *nomem(cJSON *partial, kn_error_t **err) {
    cJSON_Delete(partial);
    if (err && !*err)
        *err = kn_error_new(KN_ERR_NOMEM, "out of memory building a request");
    return NULL;
}

/* ------------------------------------------------------------- validation */

int kn_kj_is_arn(const char *s) {
    return s && !strncmp(s, ARN_PREFIX, strlen(ARN_PREFIX));
}

/* [a-zA-Z0-9_.-]{1,max}: stream, consumer and shard names. */
static int name_ok(const char *s, size_t max) {
    return kn_json_name_ok(s, 1, max);
}

/* "arn:" then printable ASCII without spaces. */
static int arn_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (!kn_kj_is_arn(s) || n <= strlen(ARN_PREFIX) || n > KN_KINESIS_MAX_ARN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] >= 0x7f)
            return 0;
    return 1;
}

static int decimal_ok(const char *s, size_t max_digits) {
    size_t n = s ? strlen(s) : 0;
    return n && n <= max_digits && strspn(s, "0123456789") == n && !(n > 1 && s[0] == '0');
}

static int hash_key_ok(const char *s) {
    kn_u128_t v;
    return s && kn_u128_parse_decimal(s, strlen(s), &v) == KN_OK;
}

kn_err_t kn_kj_check_stream(const char *stream, kn_error_t **err) {
    if (!stream || !*stream)
        return invalid(err, "%s: a stream name or ARN is required", "stream");
    if (kn_kj_is_arn(stream))
        return arn_ok(stream)
                   ? KN_OK
                   : invalid(err, "stream ARN \"%.64s\" is malformed or too long", stream);
    if (!name_ok(stream, KN_KINESIS_MAX_STREAM_NAME))
        return invalid(err, "stream name \"%.64s\" must be 1..128 characters of [a-zA-Z0-9_.-]",
                       stream);
    return KN_OK;
}

kn_err_t kn_kj_check_partition_key(const char *key, kn_error_t **err) {
    if (!key || !*key)
        return invalid(err, "%s: a partition key of 1..256 characters is required",
                       "partition key");
    size_t len = strlen(key), units = 0;
    if (len > MAX_PARTITION_KEY_BYTES)
        return invalid(err, "%s is longer than 256 characters", "partition key");
    if (kn_utf8_count(key, len, NULL, &units) != KN_OK)
        return invalid(err, "%s is not valid UTF-8", "partition key");
    if (units > KN_KINESIS_MAX_PARTITION_KEY)
        return invalid(err, "%s is longer than 256 characters", "partition key");
    return KN_OK;
}

static kn_err_t check_shard_id(const char *id, const char *what, kn_error_t **err) {
    return name_ok(id, KN_KINESIS_MAX_SHARD_ID)
               ? KN_OK
               : invalid(err, "%s must be 1..128 characters of [a-zA-Z0-9_.-]", what);
}

/* Adds StreamARN or StreamName. */
static int add_stream(cJSON *o, const char *stream) {
    return kn_json_add_str(o, kn_kj_is_arn(stream) ? "StreamARN" : "StreamName", stream);
}

/* A new body naming a valid stream, or NULL with *err. */
static cJSON *stream_body(const char *stream, kn_error_t **err) {
    if (kn_kj_check_stream(stream, err) != KN_OK)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || add_stream(o, stream))
        return nomem(o, err);
    return o;
}

/* Finishes a builder: a failed add means out of memory. */
static cJSON *finish(cJSON *o, int rc, kn_error_t **err) {
    return rc ? nomem(o, err) : o;
}

/* --------------------------------------------------------------- requests */

cJSON *kn_kj_build_create_stream(const char *stream_name, int shard_count, kn_stream_mode_t mode,
                                 kn_error_t **err) {
    if (kn_kj_is_arn(stream_name) || !name_ok(stream_name, KN_KINESIS_MAX_STREAM_NAME)) {
        invalid(err, "stream name \"%.64s\" must be 1..128 characters of [a-zA-Z0-9_.-]",
                stream_name ? stream_name : "(null)");
        return NULL;
    }
    if (mode != KN_STREAM_MODE_PROVISIONED && mode != KN_STREAM_MODE_ON_DEMAND) {
        invalid(err, "%s must be PROVISIONED or ON_DEMAND", "stream mode");
        return NULL;
    }
    int min = mode == KN_STREAM_MODE_ON_DEMAND ? 0 : 1;
    if (shard_count < min || shard_count > KN_KINESIS_MAX_SHARD_COUNT) {
        invalid(err, "%s out of range (provisioned: 1..100000, on-demand: 0..100000)",
                "shard count");
        return NULL;
    }
    cJSON *o = stream_body(stream_name, err);
    if (!o)
        return NULL;
    int rc = 0;
    if (shard_count > 0)
        rc |= kn_json_add_int(o, "ShardCount", shard_count);
    cJSON *m = cJSON_CreateObject();
    rc |= kn_json_add_item(o, "StreamModeDetails", m);
    if (!rc)
        rc |= kn_json_add_str(m, "StreamMode", stream_mode_names[mode]);
    return finish(o, rc, err);
}

cJSON *kn_kj_build_delete_stream(const char *stream, int enforce_consumer_deletion,
                                 kn_error_t **err) {
    cJSON *o = stream_body(stream, err);
    if (!o)
        return NULL;
    return finish(
        o, enforce_consumer_deletion ? kn_json_add_bool(o, "EnforceConsumerDeletion", 1) : 0, err);
}

cJSON *kn_kj_build_stream_only(const char *stream, kn_error_t **err) {
    return stream_body(stream, err);
}

static int add_shard_filter(cJSON *o, const kn_shard_filter_t *f, kn_error_t **err) {
    if (!f || f->type == KN_SHARD_FILTER_NONE)
        return 0;
    if (f->type < KN_SHARD_FILTER_AFTER_SHARD_ID || f->type > KN_SHARD_FILTER_FROM_TIMESTAMP)
        return invalid(err, "%s type is unknown", "shard filter");
    int rc = 0;
    cJSON *sf = cJSON_CreateObject();
    if (kn_json_add_item(o, "ShardFilter", sf))
        return -1;
    rc |= kn_json_add_str(sf, "Type", shard_filter_names[f->type]);
    if (f->type == KN_SHARD_FILTER_AFTER_SHARD_ID) {
        if (check_shard_id(f->shard_id, "shard filter shard id", err) != KN_OK)
            return KN_ERR_INVALID_ARG;
        rc |= kn_json_add_str(sf, "ShardId", f->shard_id);
    }
    if (f->type == KN_SHARD_FILTER_AT_TIMESTAMP || f->type == KN_SHARD_FILTER_FROM_TIMESTAMP) {
        if (f->timestamp_ms < 0)
            return invalid(err, "%s timestamp is negative", "shard filter");
        rc |= kn_json_add_time_ms(sf, "Timestamp", f->timestamp_ms);
    }
    return rc;
}

cJSON *kn_kj_build_list_shards(const char *stream, const kn_shard_filter_t *filter, int max_results,
                               const char *next_token, kn_error_t **err) {
    if (max_results < 0 || max_results > KN_KINESIS_MAX_LIST_SHARDS) {
        invalid(err, "%s must be 0 (default) or 1..10000", "ListShards max results");
        return NULL;
    }
    cJSON *o;
    int rc = 0;
    if (next_token) {
        /* The service rejects NextToken together with StreamName or ShardFilter. */
        if (!*next_token || strlen(next_token) > KN_KJ_MAX_NEXT_TOKEN) {
            invalid(err, "%s is empty or too long", "ListShards next token");
            return NULL;
        }
        if (!(o = cJSON_CreateObject()))
            return nomem(NULL, err);
        rc |= kn_json_add_str(o, "NextToken", next_token);
    } else {
        if (!(o = stream_body(stream, err)))
            return NULL;
        int frc = add_shard_filter(o, filter, err);
        if (frc == KN_ERR_INVALID_ARG) {
            cJSON_Delete(o);
            return NULL;
        }
        rc |= frc;
    }
    if (max_results > 0)
        rc |= kn_json_add_int(o, "MaxResults", max_results);
    return finish(o, rc, err);
}

cJSON *kn_kj_build_split_shard(const char *stream, const char *shard_id, const char *new_start,
                               kn_error_t **err) {
    if (check_shard_id(shard_id, "shard id to split", err) != KN_OK)
        return NULL;
    if (!hash_key_ok(new_start)) {
        invalid(err, "%s must be a decimal below 2^128", "new starting hash key");
        return NULL;
    }
    cJSON *o = stream_body(stream, err);
    if (!o)
        return NULL;
    int rc = kn_json_add_str(o, "ShardToSplit", shard_id);
    rc |= kn_json_add_str(o, "NewStartingHashKey", new_start);
    return finish(o, rc, err);
}

cJSON *kn_kj_build_merge_shards(const char *stream, const char *shard_id, const char *adjacent,
                                kn_error_t **err) {
    if (check_shard_id(shard_id, "shard id to merge", err) != KN_OK ||
        check_shard_id(adjacent, "adjacent shard id", err) != KN_OK)
        return NULL;
    cJSON *o = stream_body(stream, err);
    if (!o)
        return NULL;
    int rc = kn_json_add_str(o, "ShardToMerge", shard_id);
    rc |= kn_json_add_str(o, "AdjacentShardToMerge", adjacent);
    return finish(o, rc, err);
}

cJSON *kn_kj_build_update_shard_count(const char *stream, int target, kn_error_t **err) {
    if (target < 1 || target > KN_KINESIS_MAX_SHARD_COUNT) {
        invalid(err, "%s must be 1..100000", "target shard count");
        return NULL;
    }
    cJSON *o = stream_body(stream, err);
    if (!o)
        return NULL;
    int rc = kn_json_add_int(o, "TargetShardCount", target);
    rc |= kn_json_add_str(o, "ScalingType", "UNIFORM_SCALING");
    return finish(o, rc, err);
}

/* Checks one record to write; limits only when validating (NULL pointers always). */
static kn_err_t check_entry(const kn_put_entry_t *e, size_t index, kn_kj_validate_t v,
                            kn_error_t **err) {
    char what[48];
    snprintf(what, sizeof(what), "record %zu", index);
    if (!e || (!e->data && e->data_len) || !e->partition_key)
        return invalid(err, "%s: data or partition key missing", what);
    if (v == KN_KJ_NO_LIMITS)
        return KN_OK;
    if (e->data_len > KN_KINESIS_MAX_RECORD_DATA)
        return invalid(err, "%s: data is larger than 1 MiB", what);
    kn_error_t *pe = NULL;
    if (kn_kj_check_partition_key(e->partition_key, &pe) != KN_OK) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_INVALID_ARG, "%s: %s", what, kn_error_message(pe));
        kn_error_destroy(pe);
        return KN_ERR_INVALID_ARG;
    }
    if (e->explicit_hash_key && !hash_key_ok(e->explicit_hash_key))
        return invalid(err, "%s: explicit hash key must be a decimal below 2^128", what);
    return KN_OK;
}

/* Base64 of the entry's data as a new string. */
static char *encode_data(const kn_put_entry_t *e) {
    size_t n = kn_base64_encoded_len(e->data_len);
    char *out = n == SIZE_MAX ? NULL : malloc(n + 1);
    if (out && kn_base64_encode(e->data, e->data_len, out, n + 1, NULL) != KN_OK) {
        free(out);
        out = NULL;
    }
    return out;
}

cJSON *kn_kj_build_put_record(const char *stream, const kn_put_entry_t *entry,
                              const char *sequence_number_for_ordering, kn_kj_validate_t v,
                              kn_error_t **err) {
    if (check_entry(entry, 0, v, err) != KN_OK)
        return NULL;
    if (sequence_number_for_ordering &&
        !decimal_ok(sequence_number_for_ordering, KN_KINESIS_MAX_SEQUENCE_NUMBER)) {
        invalid(err, "%s must be a decimal sequence number", "sequence number for ordering");
        return NULL;
    }
    cJSON *o = stream_body(stream, err);
    if (!o)
        return NULL;
    char *b64 = encode_data(entry);
    int rc = b64 ? kn_json_add_str(o, "Data", b64) : -1;
    free(b64);
    rc |= kn_json_add_str(o, "PartitionKey", entry->partition_key);
    if (entry->explicit_hash_key)
        rc |= kn_json_add_str(o, "ExplicitHashKey", entry->explicit_hash_key);
    if (sequence_number_for_ordering)
        rc |= kn_json_add_str(o, "SequenceNumberForOrdering", sequence_number_for_ordering);
    return finish(o, rc, err);
}

/* A growing text buffer for the one hand-built body. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} textbuf_t;

static char *tb_reserve(textbuf_t *b, size_t n) {
    if (b->failed)
        return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1 && cap <= MAX_PUT_RECORDS_TEXT)
            cap *= 2;
        char *p = cap < b->len + n + 1 ? NULL : realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static void tb_add(textbuf_t *b, const char *s, size_t n) {
    char *dst = tb_reserve(b, n);
    if (dst) {
        memcpy(dst, s, n);
        b->len += n;
        b->p[b->len] = '\0';
    }
}

static void tb_str(textbuf_t *b, const char *s) {
    tb_add(b, s, strlen(s));
}

/* A JSON string literal, escaped by cJSON (partition keys may hold anything). */
static void tb_json_string(textbuf_t *b, const char *s) {
    cJSON *tmp = cJSON_CreateString(s);
    char *lit = tmp ? cJSON_PrintUnformatted(tmp) : NULL;
    if (lit)
        tb_str(b, lit);
    else
        b->failed = 1;
    free(lit);
    cJSON_Delete(tmp);
}

static void tb_base64(textbuf_t *b, const void *data, size_t len) {
    size_t n = kn_base64_encoded_len(len);
    char *dst = n == SIZE_MAX ? NULL : tb_reserve(b, n);
    if (!dst || kn_base64_encode(data, len, dst, n + 1, NULL) != KN_OK) {
        b->failed = 1;
        return;
    }
    b->len += n;
}

char *kn_kj_build_put_records(const char *stream, const kn_put_entry_t *entries, size_t count,
                              kn_kj_validate_t v, kn_error_t **err) {
    if (kn_kj_check_stream(stream, err) != KN_OK)
        return NULL;
    if (!entries || count == 0 || (v == KN_KJ_VALIDATE && count > KN_KINESIS_MAX_PUT_RECORDS)) {
        invalid(err, "%s must have 1..500 entries", "PutRecords");
        return NULL;
    }
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (check_entry(&entries[i], i, v, err) != KN_OK)
            return NULL;
        total += entries[i].data_len + strlen(entries[i].partition_key);
    }
    if (v == KN_KJ_VALIDATE && total > KN_KINESIS_MAX_PUT_RECORDS_BYTES) {
        invalid(err, "%s: data and partition keys exceed 5 MiB", "PutRecords");
        return NULL;
    }
    /* One allocation of a bound on the text (keys at their worst-case escaping),
     * so that a body of several MB is never copied by a growing realloc. */
    size_t bound = PUT_RECORDS_FRAMING + JSON_ESCAPED_MAX(strlen(stream));
    for (size_t i = 0; i < count; i++) {
        const kn_put_entry_t *e = &entries[i];
        size_t b64 = kn_base64_encoded_len(e->data_len);
        bound += PUT_RECORDS_ENTRY_FRAMING + (b64 == SIZE_MAX ? 0 : b64) +
                 JSON_ESCAPED_MAX(strlen(e->partition_key)) +
                 (e->explicit_hash_key ? JSON_ESCAPED_MAX(strlen(e->explicit_hash_key)) : 0);
    }
    textbuf_t b = {0};
    if (bound <= MAX_PUT_RECORDS_TEXT && (b.p = malloc(bound + 1)))
        b.cap = bound + 1;
    tb_str(&b, "{");
    tb_json_string(&b, kn_kj_is_arn(stream) ? "StreamARN" : "StreamName");
    tb_str(&b, ":");
    tb_json_string(&b, stream);
    tb_str(&b, ",\"Records\":[");
    for (size_t i = 0; i < count && !b.failed; i++) {
        const kn_put_entry_t *e = &entries[i];
        tb_str(&b, i ? ",{\"Data\":\"" : "{\"Data\":\"");
        tb_base64(&b, e->data, e->data_len);
        tb_str(&b, "\",\"PartitionKey\":");
        tb_json_string(&b, e->partition_key);
        if (e->explicit_hash_key) {
            tb_str(&b, ",\"ExplicitHashKey\":");
            tb_json_string(&b, e->explicit_hash_key);
        }
        tb_str(&b, "}");
    }
    tb_str(&b, "]}");
    if (b.failed) {
        free(b.p);
        if (err && !*err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory building PutRecords");
        return NULL;
    }
    return b.p;
}

static int add_position(cJSON *o, const char *type_member, const char *seq_member,
                        const kn_position_t *pos, kn_error_t **err) {
    if (!pos || pos->type < KN_POSITION_AT_SEQUENCE_NUMBER || pos->type > KN_POSITION_AT_TIMESTAMP)
        return invalid(err, "%s is missing or of an unknown type", "starting position");
    int rc = kn_json_add_str(o, type_member, position_names[pos->type]);
    if (pos->type == KN_POSITION_AT_SEQUENCE_NUMBER ||
        pos->type == KN_POSITION_AFTER_SEQUENCE_NUMBER) {
        if (!decimal_ok(pos->sequence_number, KN_KINESIS_MAX_SEQUENCE_NUMBER))
            return invalid(err, "%s needs a decimal sequence number", "starting position");
        rc |= kn_json_add_str(o, seq_member, pos->sequence_number);
    } else if (pos->type == KN_POSITION_AT_TIMESTAMP) {
        if (pos->timestamp_ms < 0)
            return invalid(err, "%s timestamp is negative", "starting position");
        rc |= kn_json_add_time_ms(o, "Timestamp", pos->timestamp_ms);
    }
    return rc;
}

cJSON *kn_kj_build_get_shard_iterator(const char *stream, const char *shard_id,
                                      const kn_position_t *pos, kn_error_t **err) {
    if (check_shard_id(shard_id, "shard id", err) != KN_OK)
        return NULL;
    cJSON *o = stream_body(stream, err);
    if (!o)
        return NULL;
    int rc = kn_json_add_str(o, "ShardId", shard_id);
    int prc = add_position(o, "ShardIteratorType", "StartingSequenceNumber", pos, err);
    if (prc == KN_ERR_INVALID_ARG) {
        cJSON_Delete(o);
        return NULL;
    }
    return finish(o, rc | prc, err);
}

cJSON *kn_kj_build_get_records(const char *iterator, int limit, kn_error_t **err) {
    if (!iterator || !*iterator || strlen(iterator) > KN_KJ_MAX_ITERATOR) {
        invalid(err, "%s is empty or too long", "shard iterator");
        return NULL;
    }
    if (limit < 0 || limit > KN_KINESIS_MAX_GET_RECORDS) {
        invalid(err, "%s must be 0 (default) or 1..10000", "GetRecords limit");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return nomem(NULL, err);
    int rc = kn_json_add_str(o, "ShardIterator", iterator);
    if (limit > 0)
        rc |= kn_json_add_int(o, "Limit", limit);
    return finish(o, rc, err);
}

kn_err_t kn_kj_check_consumer_name(const char *name, kn_error_t **err) {
    return name_ok(name, KN_KINESIS_MAX_CONSUMER_NAME)
               ? KN_OK
               : invalid(err, "%s must be 1..128 characters of [a-zA-Z0-9_.-]", "consumer name");
}

cJSON *kn_kj_build_register_consumer(const char *stream_arn, const char *consumer_name,
                                     kn_error_t **err) {
    if (!arn_ok(stream_arn)) {
        invalid(err, "%s: a stream ARN is required", "RegisterStreamConsumer");
        return NULL;
    }
    if (kn_kj_check_consumer_name(consumer_name, err) != KN_OK)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return nomem(NULL, err);
    int rc = kn_json_add_str(o, "StreamARN", stream_arn);
    rc |= kn_json_add_str(o, "ConsumerName", consumer_name);
    return finish(o, rc, err);
}

cJSON *kn_kj_build_consumer_ref(const char *stream_arn, const char *consumer_name,
                                const char *consumer_arn, kn_error_t **err) {
    cJSON *o = NULL;
    int rc = 0;
    if (consumer_arn) {
        if (!arn_ok(consumer_arn)) {
            invalid(err, "%s is malformed", "consumer ARN");
            return NULL;
        }
        if (!(o = cJSON_CreateObject()))
            return nomem(NULL, err);
        rc |= kn_json_add_str(o, "ConsumerARN", consumer_arn);
    } else {
        if (!arn_ok(stream_arn)) {
            invalid(err, "%s: a consumer ARN, or a stream ARN and consumer name, is required",
                    "consumer");
            return NULL;
        }
        if (kn_kj_check_consumer_name(consumer_name, err) != KN_OK)
            return NULL;
        if (!(o = cJSON_CreateObject()))
            return nomem(NULL, err);
        rc |= kn_json_add_str(o, "StreamARN", stream_arn);
        rc |= kn_json_add_str(o, "ConsumerName", consumer_name);
    }
    return finish(o, rc, err);
}

cJSON *kn_kj_build_subscribe_to_shard(const char *consumer_arn, const char *shard_id,
                                      const kn_position_t *pos, kn_error_t **err) {
    if (!arn_ok(consumer_arn)) {
        invalid(err, "%s: a consumer ARN is required", "SubscribeToShard");
        return NULL;
    }
    if (check_shard_id(shard_id, "shard id", err) != KN_OK)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *sp = cJSON_CreateObject();
    int rc = kn_json_add_item(o, "StartingPosition", sp);
    if (!o || rc)
        return nomem(o, err);
    rc |= kn_json_add_str(o, "ConsumerARN", consumer_arn);
    rc |= kn_json_add_str(o, "ShardId", shard_id);
    int prc = add_position(sp, "Type", "SequenceNumber", pos, err);
    if (prc == KN_ERR_INVALID_ARG) {
        cJSON_Delete(o);
        return NULL;
    }
    return finish(o, rc | prc, err);
}

/* ---------------------------------------------------------------- replies */

/* Reply errors name the operation: "ListShards reply field 'Shards' is not an array". */
static kn_err_t reply_failed(const char *op, kn_error_t **err) {
    if (!err)
        return KN_ERR_BAD_RESPONSE;
    kn_error_t *inner = *err;
    kn_err_t code = inner ? kn_error_code(inner) : KN_ERR_NOMEM;
    *err = kn_error_new(code, "%s %s", op, inner ? kn_error_message(inner) : "out of memory");
    kn_error_destroy(inner);
    return code;
}

static kn_err_t reply_nomem(const char *op, kn_error_t **err) {
    if (err && !*err)
        *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
    return reply_failed(op, err);
}

/* Maps an enum string; unknown values map to 0 (the UNKNOWN member) rather than failing. */
static int enum_member(const cJSON *o, const char *name, int required, const char *const *names,
                       int *out, kn_error_t **err) {
    const char *s;
    if (kn_json_str(o, name, required, MAX_STATUS, &s, err) < 0)
        return -1;
    int i = kn_json_enum(s, names);
    *out = i < 0 ? 0 : i;
    return 0;
}

void kn_stream_summary_destroy(kn_stream_summary_t *s) {
    if (!s)
        return;
    free(s->stream_name);
    free(s->stream_arn);
    free(s->encryption_type);
    free(s->key_id);
    free(s);
}

kn_err_t kn_kj_parse_stream_summary(const cJSON *reply, kn_stream_summary_t **out,
                                    kn_error_t **err) {
    static const char op[] = "DescribeStreamSummary";
    *out = NULL;
    const cJSON *d, *md = NULL;
    kn_stream_summary_t *s = calloc(1, sizeof(*s));
    if (!s)
        return reply_nomem(op, err);
    int status = 0, mode = 0;
    int64_t retention = 0, open = 0, consumers = -1;
    if (kn_json_object(reply, "StreamDescriptionSummary", 1, &d, err) < 0 ||
        kn_json_strdup(d, "StreamName", 1, KN_KINESIS_MAX_STREAM_NAME, &s->stream_name, err) < 0 ||
        kn_json_strdup(d, "StreamARN", 1, KN_KINESIS_MAX_ARN, &s->stream_arn, err) < 0 ||
        enum_member(d, "StreamStatus", 1, stream_status_names, &status, err) < 0 ||
        kn_json_object(d, "StreamModeDetails", 0, &md, err) < 0 ||
        (md && enum_member(md, "StreamMode", 0, stream_mode_names, &mode, err) < 0) ||
        kn_json_int(d, "RetentionPeriodHours", 1, 1, 24 * 365 * 100, &retention, err) < 0 ||
        kn_json_time_ms(d, "StreamCreationTimestamp", 0, &s->creation_timestamp_ms, err) < 0 ||
        kn_json_int(d, "OpenShardCount", 1, 0, KN_KINESIS_MAX_SHARD_COUNT * 10, &open, err) < 0 ||
        kn_json_int(d, "ConsumerCount", 0, 0, 1000000, &consumers, err) < 0 ||
        kn_json_strdup(d, "EncryptionType", 0, MAX_ENCRYPTION_TYPE, &s->encryption_type, err) < 0 ||
        kn_json_strdup(d, "KeyId", 0, MAX_KEY_ID, &s->key_id, err) < 0) {
        kn_stream_summary_destroy(s);
        return reply_failed(op, err);
    }
    s->status = (kn_stream_status_t)status;
    s->mode = (kn_stream_mode_t)mode;
    s->retention_period_hours = (int)retention;
    s->open_shard_count = (int)open;
    s->consumer_count = (int)consumers;
    *out = s;
    return KN_OK;
}

static void shard_clear(kn_shard_t *s) {
    free(s->shard_id);
    free(s->parent_shard_id);
    free(s->adjacent_parent_shard_id);
    free(s->starting_hash_key);
    free(s->ending_hash_key);
    free(s->starting_sequence_number);
    free(s->ending_sequence_number);
}

void kn_shard_list_destroy(kn_shard_list_t *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        shard_clear(&l->shards[i]);
    free(l->shards);
    free(l->next_token);
    free(l);
}

/* A decimal hash key member below 2^128. */
static int hash_key_member(const cJSON *o, const char *name, char **out, kn_error_t **err) {
    if (kn_json_decimal(o, name, 1, KN_KINESIS_MAX_HASH_KEY, out, err) < 0)
        return -1;
    if (!hash_key_ok(*out)) {
        free(*out);
        *out = NULL;
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field '%s' is not below 2^128", name);
        return -1;
    }
    return 0;
}

static int hash_range(const cJSON *o, char **start, char **end, kn_error_t **err) {
    const cJSON *r;
    return kn_json_object(o, "HashKeyRange", 1, &r, err) < 0 ||
                   hash_key_member(r, "StartingHashKey", start, err) < 0 ||
                   hash_key_member(r, "EndingHashKey", end, err) < 0
               ? -1
               : 0;
}

static int parse_shard(const cJSON *o, kn_shard_t *s, kn_error_t **err) {
    const cJSON *seq;
    if (!cJSON_IsObject(o)) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field 'Shards' holds a non-object");
        return -1;
    }
    return kn_json_strdup(o, "ShardId", 1, KN_KINESIS_MAX_SHARD_ID, &s->shard_id, err) < 0 ||
                   kn_json_strdup(o, "ParentShardId", 0, KN_KINESIS_MAX_SHARD_ID,
                                  &s->parent_shard_id, err) < 0 ||
                   kn_json_strdup(o, "AdjacentParentShardId", 0, KN_KINESIS_MAX_SHARD_ID,
                                  &s->adjacent_parent_shard_id, err) < 0 ||
                   hash_range(o, &s->starting_hash_key, &s->ending_hash_key, err) < 0 ||
                   kn_json_object(o, "SequenceNumberRange", 1, &seq, err) < 0 ||
                   kn_json_decimal(seq, "StartingSequenceNumber", 1, KN_KINESIS_MAX_SEQUENCE_NUMBER,
                                   &s->starting_sequence_number, err) < 0 ||
                   kn_json_decimal(seq, "EndingSequenceNumber", 0, KN_KINESIS_MAX_SEQUENCE_NUMBER,
                                   &s->ending_sequence_number, err) < 0
               ? -1
               : 0;
}

kn_err_t kn_kj_parse_list_shards(const cJSON *reply, kn_shard_list_t **out, kn_error_t **err) {
    static const char op[] = "ListShards";
    *out = NULL;
    const cJSON *arr;
    kn_shard_list_t *l = calloc(1, sizeof(*l));
    if (!l)
        return reply_nomem(op, err);
    if (kn_json_array(reply, "Shards", 0, KN_KINESIS_MAX_LIST_SHARDS, &arr, err) < 0 ||
        kn_json_strdup(reply, "NextToken", 0, KN_KJ_MAX_NEXT_TOKEN, &l->next_token, err) < 0) {
        kn_shard_list_destroy(l);
        return reply_failed(op, err);
    }
    size_t n = arr ? (size_t)cJSON_GetArraySize(arr) : 0;
    if (n && !(l->shards = calloc(n, sizeof(*l->shards)))) {
        kn_shard_list_destroy(l);
        return reply_nomem(op, err);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (parse_shard(it, &l->shards[l->count++], err) < 0) {
            kn_shard_list_destroy(l);
            return reply_failed(op, err);
        }
    }
    if (l->next_token && !*l->next_token) {
        free(l->next_token);
        l->next_token = NULL;
    }
    *out = l;
    return KN_OK;
}

void kn_put_record_result_destroy(kn_put_record_result_t *r) {
    if (!r)
        return;
    free(r->shard_id);
    free(r->sequence_number);
    free(r->encryption_type);
    free(r);
}

kn_err_t kn_kj_parse_put_record(const cJSON *reply, kn_put_record_result_t **out,
                                kn_error_t **err) {
    static const char op[] = "PutRecord";
    *out = NULL;
    kn_put_record_result_t *r = calloc(1, sizeof(*r));
    if (!r)
        return reply_nomem(op, err);
    if (kn_json_strdup(reply, "ShardId", 1, KN_KINESIS_MAX_SHARD_ID, &r->shard_id, err) < 0 ||
        kn_json_decimal(reply, "SequenceNumber", 1, KN_KINESIS_MAX_SEQUENCE_NUMBER,
                        &r->sequence_number, err) < 0 ||
        kn_json_strdup(reply, "EncryptionType", 0, MAX_ENCRYPTION_TYPE, &r->encryption_type, err) <
            0) {
        kn_put_record_result_destroy(r);
        return reply_failed(op, err);
    }
    *out = r;
    return KN_OK;
}

void kn_put_records_result_destroy(kn_put_records_result_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->entries[i].shard_id);
        free(r->entries[i].sequence_number);
        free(r->entries[i].error_code);
        free(r->entries[i].error_message);
    }
    free(r->entries);
    free(r->encryption_type);
    free(r);
}

static int parse_put_entry(const cJSON *o, kn_put_records_entry_result_t *e, kn_error_t **err) {
    if (!cJSON_IsObject(o)) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field 'Records' holds a non-object");
        return -1;
    }
    if (kn_json_strdup(o, "ErrorCode", 0, KN_JSON_MAX_STR, &e->error_code, err) < 0 ||
        kn_json_strdup(o, "ErrorMessage", 0, KN_JSON_MAX_STR, &e->error_message, err) < 0)
        return -1;
    if (e->error_code && *e->error_code) {
        e->err = kn_err_from_aws_type(e->error_code);
        return 0;
    }
    free(e->error_code);
    e->error_code = NULL;
    e->err = KN_OK;
    return kn_json_strdup(o, "ShardId", 1, KN_KINESIS_MAX_SHARD_ID, &e->shard_id, err) < 0 ||
                   kn_json_decimal(o, "SequenceNumber", 1, KN_KINESIS_MAX_SEQUENCE_NUMBER,
                                   &e->sequence_number, err) < 0
               ? -1
               : 0;
}

kn_err_t kn_kj_parse_put_records(const cJSON *reply, size_t expected, kn_put_records_result_t **out,
                                 kn_error_t **err) {
    static const char op[] = "PutRecords";
    *out = NULL;
    const cJSON *arr;
    int64_t failed = 0;
    kn_put_records_result_t *r = calloc(1, sizeof(*r));
    if (!r)
        return reply_nomem(op, err);
    if (kn_json_array(reply, "Records", 1, expected, &arr, err) < 0 ||
        kn_json_int(reply, "FailedRecordCount", 0, 0, (int64_t)expected, &failed, err) < 0 ||
        kn_json_strdup(reply, "EncryptionType", 0, MAX_ENCRYPTION_TYPE, &r->encryption_type, err) <
            0) {
        kn_put_records_result_destroy(r);
        return reply_failed(op, err);
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n != expected) {
        kn_put_records_result_destroy(r);
        if (err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "%s reply has %zu results for %zu records", op,
                                n, expected);
        return KN_ERR_BAD_RESPONSE;
    }
    if (!(r->entries = calloc(n, sizeof(*r->entries)))) {
        kn_put_records_result_destroy(r);
        return reply_nomem(op, err);
    }
    const cJSON *it;
    size_t nfailed = 0;
    cJSON_ArrayForEach(it, arr) {
        kn_put_records_entry_result_t *e = &r->entries[r->count++];
        if (parse_put_entry(it, e, err) < 0) {
            kn_put_records_result_destroy(r);
            return reply_failed(op, err);
        }
        nfailed += e->err != KN_OK;
    }
    /* The per-entry results are the truth; a disagreeing count is a broken reply. */
    if (cJSON_GetObjectItemCaseSensitive(reply, "FailedRecordCount") && (size_t)failed != nfailed) {
        kn_put_records_result_destroy(r);
        if (err)
            *err =
                kn_error_new(KN_ERR_BAD_RESPONSE, "%s reply says %lld failed records but lists %zu",
                             op, (long long)failed, nfailed);
        return KN_ERR_BAD_RESPONSE;
    }
    r->failed_record_count = nfailed;
    *out = r;
    return KN_OK;
}

kn_err_t kn_kj_parse_shard_iterator(const cJSON *reply, char **out, kn_error_t **err) {
    *out = NULL;
    if (kn_json_strdup(reply, "ShardIterator", 1, KN_KJ_MAX_ITERATOR, out, err) < 0)
        return reply_failed("GetShardIterator", err);
    return KN_OK;
}

void kn_kj_child_shards_free(kn_child_shard_t *c, size_t count) {
    if (!c)
        return;
    for (size_t i = 0; i < count; i++) {
        free(c[i].shard_id);
        for (size_t j = 0; j < c[i].parent_count; j++)
            free(c[i].parent_shards[j]);
        free(c[i].parent_shards);
        free(c[i].starting_hash_key);
        free(c[i].ending_hash_key);
    }
    free(c);
}

static int parse_child(const cJSON *o, kn_child_shard_t *c, kn_error_t **err) {
    const cJSON *parents, *p;
    if (!cJSON_IsObject(o)) {
        if (err && !*err)
            *err =
                kn_error_new(KN_ERR_BAD_RESPONSE, "reply field 'ChildShards' holds a non-object");
        return -1;
    }
    if (kn_json_strdup(o, "ShardId", 1, KN_KINESIS_MAX_SHARD_ID, &c->shard_id, err) < 0 ||
        kn_json_array(o, "ParentShards", 1, KN_KJ_MAX_PARENT_SHARDS, &parents, err) < 0 ||
        hash_range(o, &c->starting_hash_key, &c->ending_hash_key, err) < 0)
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(parents);
    if (n && !(c->parent_shards = calloc(n, sizeof(char *))))
        return -1;
    cJSON_ArrayForEach(p, parents) {
        if (!cJSON_IsString(p) || !name_ok(p->valuestring, KN_KINESIS_MAX_SHARD_ID)) {
            if (err && !*err)
                *err = kn_error_new(KN_ERR_BAD_RESPONSE,
                                    "reply field 'ParentShards' holds a bad shard id");
            return -1;
        }
        if (!(c->parent_shards[c->parent_count] = strdup(p->valuestring)))
            return -1;
        c->parent_count++;
    }
    return 0;
}

kn_err_t kn_kj_parse_child_shards(const cJSON *obj, kn_child_shard_t **out, size_t *count,
                                  kn_error_t **err) {
    const cJSON *arr, *it;
    *out = NULL;
    *count = 0;
    if (kn_json_array(obj, "ChildShards", 0, KN_KJ_MAX_CHILD_SHARDS, &arr, err) < 0)
        return KN_ERR_BAD_RESPONSE;
    size_t n = arr ? (size_t)cJSON_GetArraySize(arr) : 0;
    if (!n)
        return KN_OK;
    kn_child_shard_t *c = calloc(n, sizeof(*c));
    if (!c)
        goto nomem;
    size_t done = 0;
    cJSON_ArrayForEach(it, arr) {
        done++;
        if (parse_child(it, &c[done - 1], err) < 0) {
            kn_kj_child_shards_free(c, done);
            if (err && *err)
                return kn_error_code(*err);
            goto nomem;
        }
    }
    *out = c;
    *count = n;
    return KN_OK;
nomem:
    if (err && !*err)
        *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
    return KN_ERR_NOMEM;
}

void kn_get_records_result_destroy(kn_get_records_result_t *r) {
    if (!r)
        return;
    free(r->next_shard_iterator);
    kn_kj_child_shards_free(r->child_shards, r->child_shard_count);
    free(r); /* the records and their bytes live in the same block */
}

kn_encryption_t kn_kj_encryption(const char *name) {
    int i = kn_json_enum(name, encryption_names);
    return !name ? KN_ENCRYPTION_NONE : i < 0 ? KN_ENCRYPTION_UNKNOWN : (kn_encryption_t)i;
}

kn_get_records_result_t *kn_kj_records_alloc(size_t n, size_t arena_bytes, uint8_t **arena) {
    /* One block: the result, the record array, then every record's bytes. */
    size_t head = sizeof(kn_get_records_result_t);
    head = (head + alignof(kn_record_t) - 1) / alignof(kn_record_t) * alignof(kn_record_t);
    if (n > (SIZE_MAX - head) / sizeof(kn_record_t) ||
        arena_bytes > SIZE_MAX - head - n * sizeof(kn_record_t))
        return NULL;
    /* only the head and the records are zeroed: the arena is written before it is read */
    kn_get_records_result_t *r = malloc(head + n * sizeof(kn_record_t) + arena_bytes);
    if (!r)
        return NULL;
    memset(r, 0, head + n * sizeof(kn_record_t));
    r->records = n ? (kn_record_t *)((char *)r + head) : NULL;
    r->millis_behind_latest = -1;
    *arena = (uint8_t *)((char *)r + head + n * sizeof(kn_record_t));
    return r;
}

/* Checks one record and adds the bytes it needs in the arena to *need. */
static int measure_record(const cJSON *o, size_t *need, kn_error_t **err) {
    const char *data, *pk, *seq, *enc;
    int64_t ts = 0;
    if (!cJSON_IsObject(o)) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field 'Records' holds a non-object");
        return -1;
    }
    if (kn_json_str(o, "Data", 0, MAX_RECORD_TEXT, &data, err) < 0 ||
        kn_json_str(o, "PartitionKey", 1, MAX_PARTITION_KEY_BYTES, &pk, err) < 0 ||
        kn_json_str(o, "SequenceNumber", 1, KN_KINESIS_MAX_SEQUENCE_NUMBER, &seq, err) < 0 ||
        kn_json_time_ms(o, "ApproximateArrivalTimestamp", 0, &ts, err) < 0 ||
        kn_json_str(o, "EncryptionType", 0, MAX_ENCRYPTION_TYPE, &enc, err) < 0)
        return -1;
    if (!data) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field 'Data' is missing");
        return -1;
    }
    if (!decimal_ok(seq, KN_KINESIS_MAX_SEQUENCE_NUMBER)) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE,
                                "reply field 'SequenceNumber' is not a decimal number");
        return -1;
    }
    *need += kn_base64_decoded_len(data, strlen(data)) + strlen(pk) + 1 + strlen(seq) + 1;
    return 0;
}

/* Fills one record from a reply object already checked by measure_record. */
static int fill_record(const cJSON *o, kn_record_t *rec, uint8_t **arena, kn_error_t **err) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "Data");
    const char *data = cJSON_IsString(d) ? d->valuestring : "";
    const char *pk = cJSON_GetObjectItemCaseSensitive(o, "PartitionKey")->valuestring;
    const char *seq = cJSON_GetObjectItemCaseSensitive(o, "SequenceNumber")->valuestring;
    const char *enc = NULL;
    size_t dlen = strlen(data), cap = kn_base64_decoded_len(data, dlen), n = 0;
    if (kn_base64_decode(data, dlen, *arena, cap, &n) != KN_OK) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field 'Data' is not valid base64");
        return -1;
    }
    rec->data = n ? *arena : NULL;
    rec->data_len = n;
    *arena += cap;
    size_t pl = strlen(pk) + 1, sl = strlen(seq) + 1;
    memcpy(*arena, pk, pl);
    rec->partition_key = (const char *)*arena;
    *arena += pl;
    memcpy(*arena, seq, sl);
    rec->sequence_number = (const char *)*arena;
    *arena += sl;
    kn_json_time_ms(o, "ApproximateArrivalTimestamp", 0, &rec->approximate_arrival_ms, NULL);
    kn_json_str(o, "EncryptionType", 0, MAX_ENCRYPTION_TYPE, &enc, NULL);
    rec->encryption = kn_kj_encryption(enc);
    return 0;
}

kn_err_t kn_kj_parse_records(const cJSON *reply, kn_get_records_result_t **out, kn_error_t **err) {
    static const char op[] = "GetRecords";
    *out = NULL;
    const cJSON *arr, *it;
    int64_t behind = -1;
    if (kn_json_array(reply, "Records", 1, KN_KINESIS_MAX_GET_RECORDS, &arr, err) < 0 ||
        kn_json_int(reply, "MillisBehindLatest", 0, 0, INT64_C(1) << 50, &behind, err) < 0)
        return reply_failed(op, err);
    size_t n = (size_t)cJSON_GetArraySize(arr), need = 0;
    cJSON_ArrayForEach(it, arr) if (measure_record(it, &need, err) < 0) return reply_failed(op,
                                                                                            err);
    uint8_t *arena;
    kn_get_records_result_t *r = kn_kj_records_alloc(n, need, &arena);
    if (!r)
        return reply_nomem(op, err);
    r->millis_behind_latest = behind;
    cJSON_ArrayForEach(it, arr) {
        if (fill_record(it, &r->records[r->record_count], &arena, err) < 0) {
            kn_get_records_result_destroy(r);
            return reply_failed(op, err);
        }
        r->record_count++;
    }
    if (kn_kj_parse_child_shards(reply, &r->child_shards, &r->child_shard_count, err) != KN_OK) {
        kn_get_records_result_destroy(r);
        return reply_failed(op, err);
    }
    *out = r;
    return KN_OK;
}

kn_err_t kn_kj_parse_get_records(const cJSON *reply, kn_get_records_result_t **out,
                                 kn_error_t **err) {
    kn_err_t rc = kn_kj_parse_records(reply, out, err);
    if (rc != KN_OK)
        return rc;
    if (kn_json_strdup(reply, "NextShardIterator", 0, KN_KJ_MAX_ITERATOR,
                       &(*out)->next_shard_iterator, err) < 0) {
        kn_get_records_result_destroy(*out);
        *out = NULL;
        return reply_failed("GetRecords", err);
    }
    return KN_OK;
}

void kn_stream_consumer_destroy(kn_stream_consumer_t *c) {
    if (!c)
        return;
    free(c->consumer_name);
    free(c->consumer_arn);
    free(c->stream_arn);
    free(c);
}

kn_err_t kn_kj_parse_consumer(const cJSON *reply, const char *member, kn_stream_consumer_t **out,
                              kn_error_t **err) {
    const char *op =
        strcmp(member, "Consumer") ? "DescribeStreamConsumer" : "RegisterStreamConsumer";
    *out = NULL;
    const cJSON *d;
    int status = 0;
    kn_stream_consumer_t *c = calloc(1, sizeof(*c));
    if (!c)
        return reply_nomem(op, err);
    if (kn_json_object(reply, member, 1, &d, err) < 0 ||
        kn_json_strdup(d, "ConsumerName", 1, KN_KINESIS_MAX_CONSUMER_NAME, &c->consumer_name, err) <
            0 ||
        kn_json_strdup(d, "ConsumerARN", 1, KN_KINESIS_MAX_ARN, &c->consumer_arn, err) < 0 ||
        enum_member(d, "ConsumerStatus", 1, consumer_status_names, &status, err) < 0 ||
        kn_json_time_ms(d, "ConsumerCreationTimestamp", 0, &c->creation_timestamp_ms, err) < 0 ||
        kn_json_strdup(d, "StreamARN", 0, KN_KINESIS_MAX_ARN, &c->stream_arn, err) < 0) {
        kn_stream_consumer_destroy(c);
        return reply_failed(op, err);
    }
    c->status = (kn_consumer_status_t)status;
    *out = c;
    return KN_OK;
}
