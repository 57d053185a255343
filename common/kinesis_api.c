/*
 * The Kinesis client: construction, typed sync calls and their async twins,
 * wait helpers, SubscribeToShard's start. Requests and replies are built and
 * parsed by kinesis_json.c (GetRecords replies by records_json.c, from their
 * text); this file only moves them through service_call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinesis_api.h"
#include "records_json.h"

#define LIST_ALL_PAGE       1000    /* MaxResults per page when listing every shard */
#define LIST_ALL_MAX_SHARDS 1000000 /* a stream reporting more is broken */

struct kn_kinesis_s {
    kn_service_client_t c;
    kn_service_t *svc; /* c.svc */
    kn_kj_validate_t limits;
};

#define give kn_service_give

static kn_err_t no_client(kn_error_t **err) {
    return give(KN_ERR_INVALID_ARG,
                kn_error_new(KN_ERR_INVALID_ARG, "no client, or no place for the result"), err);
}

/* ------------------------------------------------------------ construction */

void kn_kinesis_destroy(kn_kinesis_t *k) {
    if (!k)
        return;
    kn_service_client_clear(&k->c);
    free(k);
}

kn_kinesis_t *kn_kinesis_new_shared(const kn_conf_t *conf, kn_http_t *http, kn_creds_t *creds,
                                    kn_error_t **err) {
    kn_kinesis_t *k = calloc(1, sizeof(*k));
    if (!k) {
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (kn_service_client_init(&k->c, conf, "kinesis", KN_KINESIS_TARGET_PREFIX,
                               KN_KINESIS_CONTENT_TYPE, http, creds, err) != KN_OK) {
        free(k);
        return NULL;
    }
    k->svc = k->c.svc;
    k->limits = KN_KJ_VALIDATE;
    return k;
}

kn_kinesis_t *kn_kinesis_new(const kn_conf_t *conf, char *errstr, size_t errstr_size) {
    kn_conf_t *defaults = conf ? NULL : kn_conf_new();
    kn_error_t *e = NULL;
    kn_kinesis_t *k =
        (conf || defaults) ? kn_kinesis_new_shared(conf ? conf : defaults, NULL, NULL, &e) : NULL;
    kn_conf_destroy(defaults);
    if (!k && errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", e ? kn_error_message(e) : "out of memory");
    kn_error_destroy(e);
    return k;
}

const char *kn_kinesis_region(const kn_kinesis_t *k) {
    return k ? k->c.region : NULL;
}

const char *kn_kinesis_endpoint(const kn_kinesis_t *k) {
    return k ? k->c.endpoint : NULL;
}

kn_service_t *kn_kinesis_service(kn_kinesis_t *k) {
    return k ? k->svc : NULL;
}

void kn_kinesis_set_limit_checks(kn_kinesis_t *k, int on) {
    if (k)
        k->limits = on ? KN_KJ_VALIDATE : KN_KJ_NO_LIMITS;
}

/* ------------------------------------------------------------- sync calls */

/* Sends a built body (consumed; NULL means the builder failed with *e set). */
static kn_err_t call(kn_kinesis_t *k, const char *op, cJSON *body, cJSON **reply, kn_error_t **e) {
    if (!body)
        return *e ? kn_error_code(*e) : KN_ERR_NOMEM;
    kn_err_t rc = kn_service_call(k->svc, op, body, NULL, reply, e);
    cJSON_Delete(body);
    return rc;
}

/* A call whose reply carries nothing we need; checks the client too. */
static kn_err_t call_void(kn_kinesis_t *k, const char *op, cJSON *body, kn_error_t *e,
                          kn_error_t **err) {
    if (!k) {
        cJSON_Delete(body);
        kn_error_destroy(e);
        return no_client(err);
    }
    kn_err_t rc = call(k, op, body, NULL, &e);
    return give(rc, e, err);
}

kn_err_t kn_kinesis_create_stream(kn_kinesis_t *k, const char *stream_name, int shard_count,
                                  kn_stream_mode_t mode, kn_error_t **err) {
    kn_error_t *e = NULL;
    cJSON *body = kn_kj_build_create_stream(stream_name, shard_count, mode, &e);
    return call_void(k, "CreateStream", body, e, err);
}

kn_err_t kn_kinesis_delete_stream(kn_kinesis_t *k, const char *stream,
                                  int enforce_consumer_deletion, kn_error_t **err) {
    kn_error_t *e = NULL;
    cJSON *body = kn_kj_build_delete_stream(stream, enforce_consumer_deletion, &e);
    return call_void(k, "DeleteStream", body, e, err);
}

kn_err_t kn_kinesis_split_shard(kn_kinesis_t *k, const char *stream, const char *shard_id,
                                const char *new_starting_hash_key, kn_error_t **err) {
    kn_error_t *e = NULL;
    cJSON *body = kn_kj_build_split_shard(stream, shard_id, new_starting_hash_key, &e);
    return call_void(k, "SplitShard", body, e, err);
}

kn_err_t kn_kinesis_merge_shards(kn_kinesis_t *k, const char *stream, const char *shard_id,
                                 const char *adjacent_shard_id, kn_error_t **err) {
    kn_error_t *e = NULL;
    cJSON *body = kn_kj_build_merge_shards(stream, shard_id, adjacent_shard_id, &e);
    return call_void(k, "MergeShards", body, e, err);
}

kn_err_t kn_kinesis_update_shard_count(kn_kinesis_t *k, const char *stream, int target_shard_count,
                                       kn_error_t **err) {
    kn_error_t *e = NULL;
    cJSON *body = kn_kj_build_update_shard_count(stream, target_shard_count, &e);
    return call_void(k, "UpdateShardCount", body, e, err);
}

kn_err_t kn_kinesis_describe_stream_summary(kn_kinesis_t *k, const char *stream,
                                            kn_stream_summary_t **out, kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k || !out)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *reply = NULL;
    kn_err_t rc = call(k, "DescribeStreamSummary", kn_kj_build_stream_only(stream, &e), &reply, &e);
    if (rc == KN_OK)
        rc = kn_kj_parse_stream_summary(reply, out, &e);
    cJSON_Delete(reply);
    return give(rc, e, err);
}

kn_err_t kn_kinesis_list_shards(kn_kinesis_t *k, const char *stream,
                                const kn_shard_filter_t *filter, int max_results,
                                const char *next_token, kn_shard_list_t **out, kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k || !out)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *reply = NULL;
    cJSON *body = kn_kj_build_list_shards(stream, filter, max_results, next_token, &e);
    kn_err_t rc = call(k, "ListShards", body, &reply, &e);
    if (rc == KN_OK)
        rc = kn_kj_parse_list_shards(reply, out, &e);
    cJSON_Delete(reply);
    return give(rc, e, err);
}

/* Moves the shards of `page` to the end of `all`. */
static kn_err_t append_shards(kn_shard_list_t *all, kn_shard_list_t *page) {
    if (!page->count)
        return KN_OK;
    kn_shard_t *s = realloc(all->shards, (all->count + page->count) * sizeof(*s));
    if (!s)
        return KN_ERR_NOMEM;
    memcpy(s + all->count, page->shards, page->count * sizeof(*s));
    all->shards = s;
    all->count += page->count;
    free(page->shards);
    page->shards = NULL;
    page->count = 0;
    return KN_OK;
}

kn_err_t kn_kinesis_list_all_shards(kn_kinesis_t *k, const char *stream,
                                    const kn_shard_filter_t *filter, kn_shard_list_t **out,
                                    kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k || !out)
        return no_client(err);
    kn_shard_list_t *all = NULL;
    char *token = NULL;
    kn_error_t *e = NULL;
    kn_err_t rc;
    do {
        kn_shard_list_t *page = NULL;
        rc = kn_kinesis_list_shards(k, stream, filter, LIST_ALL_PAGE, token, &page, &e);
        if (rc != KN_OK)
            break;
        if (page->next_token && token && !strcmp(page->next_token, token)) {
            kn_shard_list_destroy(page);
            rc = KN_ERR_BAD_RESPONSE;
            e = kn_error_new(rc, "ListShards returned the same NextToken twice");
            break;
        }
        free(token);
        token = page->next_token;
        page->next_token = NULL;
        if (!all) {
            all = page;
            continue;
        }
        rc = append_shards(all, page);
        kn_shard_list_destroy(page);
        if (rc == KN_OK && all->count > LIST_ALL_MAX_SHARDS) {
            rc = KN_ERR_BAD_RESPONSE;
            e = kn_error_new(rc, "ListShards keeps paging past %d shards", LIST_ALL_MAX_SHARDS);
        }
    } while (rc == KN_OK && token);
    free(token);
    if (rc != KN_OK) {
        kn_shard_list_destroy(all);
        return give(rc, e, err);
    }
    *out = all;
    return give(KN_OK, NULL, err);
}

kn_err_t kn_kinesis_put_record(kn_kinesis_t *k, const char *stream, const kn_put_entry_t *entry,
                               const char *sequence_number_for_ordering,
                               kn_put_record_result_t **out, kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *reply = NULL;
    cJSON *body =
        kn_kj_build_put_record(stream, entry, sequence_number_for_ordering, k->limits, &e);
    kn_err_t rc = call(k, "PutRecord", body, &reply, &e);
    kn_put_record_result_t *r = NULL;
    if (rc == KN_OK)
        rc = kn_kj_parse_put_record(reply, &r, &e);
    cJSON_Delete(reply);
    if (out)
        *out = r;
    else
        kn_put_record_result_destroy(r);
    return give(rc, e, err);
}

kn_err_t kn_kinesis_put_records(kn_kinesis_t *k, const char *stream, const kn_put_entry_t *entries,
                                size_t count, kn_put_records_result_t **out, kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k || !out)
        return no_client(err);
    kn_error_t *e = NULL;
    char *body = kn_kj_build_put_records(stream, entries, count, k->limits, &e);
    if (!body)
        return give(e ? kn_error_code(e) : KN_ERR_NOMEM, e, err);
    cJSON *reply = NULL;
    kn_err_t rc = kn_service_call_owned(k->svc, "PutRecords", body, NULL, &reply, &e);
    if (rc == KN_OK)
        rc = kn_kj_parse_put_records(reply, count, out, &e);
    cJSON_Delete(reply);
    return give(rc, e, err);
}

kn_err_t kn_kinesis_get_shard_iterator(kn_kinesis_t *k, const char *stream, const char *shard_id,
                                       const kn_position_t *position, char **iterator,
                                       kn_error_t **err) {
    if (iterator)
        *iterator = NULL;
    if (!k || !iterator)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *reply = NULL;
    cJSON *body = kn_kj_build_get_shard_iterator(stream, shard_id, position, &e);
    kn_err_t rc = call(k, "GetShardIterator", body, &reply, &e);
    if (rc == KN_OK)
        rc = kn_kj_parse_shard_iterator(reply, iterator, &e);
    cJSON_Delete(reply);
    return give(rc, e, err);
}

static kn_err_t decode_get_records(void *ctx, const uint8_t *body, size_t len, kn_error_t **err) {
    return kn_rj_parse_get_records((const char *)body, len, ctx, err);
}

kn_err_t kn_kinesis_get_records(kn_kinesis_t *k, const char *shard_iterator, int limit,
                                kn_get_records_result_t **out, kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k || !out)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *body = kn_kj_build_get_records(shard_iterator, limit, &e);
    if (!body)
        return give(e ? kn_error_code(e) : KN_ERR_NOMEM, e, err);
    /* the reply is read from its text straight into *out (records_json.c) */
    const kn_call_opts_t opts = {.decode = decode_get_records, .decode_ctx = out};
    kn_err_t rc = kn_service_call(k->svc, "GetRecords", body, &opts, NULL, &e);
    cJSON_Delete(body);
    return give(rc, e, err);
}

/* ---------------------------------------------------------------- consumers */

/* The stream's ARN: itself when it is one, else looked up. */
static kn_err_t stream_arn(kn_kinesis_t *k, const char *stream, char **arn, kn_error_t **e) {
    *arn = NULL;
    if (kn_kj_is_arn(stream)) {
        if (kn_kj_check_stream(stream, e) != KN_OK)
            return KN_ERR_INVALID_ARG;
        return (*arn = strdup(stream)) ? KN_OK : KN_ERR_NOMEM;
    }
    kn_stream_summary_t *s = NULL;
    kn_err_t rc = kn_kinesis_describe_stream_summary(k, stream, &s, e);
    if (rc == KN_OK) {
        *arn = s->stream_arn;
        s->stream_arn = NULL;
    }
    kn_stream_summary_destroy(s);
    return rc;
}

/* A body addressing a consumer by ARN, or by stream (ARN looked up) and name. */
static cJSON *consumer_body(kn_kinesis_t *k, const char *stream, const char *consumer_name,
                            const char *consumer_arn, kn_error_t **e) {
    if (consumer_arn)
        return kn_kj_build_consumer_ref(NULL, NULL, consumer_arn, e);
    char *arn = NULL;
    if (!stream || !*stream) {
        *e = kn_error_new(KN_ERR_INVALID_ARG,
                          "a consumer ARN, or a stream and consumer name, is required");
        return NULL;
    }
    if (kn_kj_check_stream(stream, e) != KN_OK ||
        kn_kj_check_consumer_name(consumer_name, e) != KN_OK ||
        stream_arn(k, stream, &arn, e) != KN_OK)
        return NULL;
    cJSON *body = kn_kj_build_consumer_ref(arn, consumer_name, NULL, e);
    free(arn);
    return body;
}

static kn_err_t consumer_call(kn_kinesis_t *k, const char *op, const char *member, cJSON *body,
                              kn_error_t *e, kn_stream_consumer_t **out, kn_error_t **err) {
    cJSON *reply = NULL;
    kn_err_t rc = call(k, op, body, &reply, &e);
    kn_stream_consumer_t *c = NULL;
    if (rc == KN_OK)
        rc = kn_kj_parse_consumer(reply, member, &c, &e);
    cJSON_Delete(reply);
    if (out)
        *out = c;
    else
        kn_stream_consumer_destroy(c);
    return give(rc, e, err);
}

kn_err_t kn_kinesis_register_stream_consumer(kn_kinesis_t *k, const char *stream,
                                             const char *consumer_name, kn_stream_consumer_t **out,
                                             kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k)
        return no_client(err);
    kn_error_t *e = NULL;
    char *arn = NULL;
    cJSON *body = NULL;
    /* Arguments first: a bad name must not cost a lookup. */
    if (kn_kj_check_stream(stream, &e) == KN_OK &&
        kn_kj_check_consumer_name(consumer_name, &e) == KN_OK &&
        stream_arn(k, stream, &arn, &e) == KN_OK)
        body = kn_kj_build_register_consumer(arn, consumer_name, &e);
    free(arn);
    if (!body && !e)
        e = kn_error_new(KN_ERR_NOMEM, "out of memory");
    return consumer_call(k, "RegisterStreamConsumer", "Consumer", body, e, out, err);
}

kn_err_t kn_kinesis_describe_stream_consumer(kn_kinesis_t *k, const char *stream,
                                             const char *consumer_name, const char *consumer_arn,
                                             kn_stream_consumer_t **out, kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k || !out)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *body = consumer_body(k, stream, consumer_name, consumer_arn, &e);
    return consumer_call(k, "DescribeStreamConsumer", "ConsumerDescription", body, e, out, err);
}

kn_err_t kn_kinesis_deregister_stream_consumer(kn_kinesis_t *k, const char *stream,
                                               const char *consumer_name, const char *consumer_arn,
                                               kn_error_t **err) {
    if (!k)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *body = consumer_body(k, stream, consumer_name, consumer_arn, &e);
    return call_void(k, "DeregisterStreamConsumer", body, e, err);
}

/* -------------------------------------------------------------------- waits */

static kn_err_t timed_out(const char *what, const char *name, int64_t timeout_ms,
                          kn_error_t **err) {
    return give(KN_ERR_TIMED_OUT,
                kn_error_new(KN_ERR_TIMED_OUT, "%s %s: still not there after %lld ms", what, name,
                             (long long)timeout_ms),
                err);
}

/* Polls the stream; want_gone: until ResourceNotFound, else until ACTIVE. */
static kn_err_t wait_stream(kn_kinesis_t *k, const char *stream, int64_t timeout_ms, int want_gone,
                            kn_error_t **err) {
    if (!k)
        return no_client(err);
    if (timeout_ms < 0)
        return give(KN_ERR_INVALID_ARG, kn_error_new(KN_ERR_INVALID_ARG, "negative timeout"), err);
    int64_t deadline = kn_service_now_ms() + timeout_ms, pause = KN_SERVICE_POLL_FIRST_MS;
    do {
        kn_stream_summary_t *s = NULL;
        kn_error_t *e = NULL;
        kn_err_t rc = kn_kinesis_describe_stream_summary(k, stream, &s, &e);
        kn_stream_status_t status = s ? s->status : KN_STREAM_STATUS_UNKNOWN;
        kn_stream_summary_destroy(s);
        if (want_gone && rc == KN_ERR_RESOURCE_NOT_FOUND) {
            kn_error_destroy(e);
            return give(KN_OK, NULL, err);
        }
        if (rc != KN_OK)
            return give(rc, e, err);
        if (!want_gone && status == KN_STREAM_STATUS_ACTIVE)
            return give(KN_OK, NULL, err);
        if (!want_gone && status == KN_STREAM_STATUS_DELETING)
            return give(KN_ERR_STATE,
                        kn_error_new(KN_ERR_STATE, "stream %s is being deleted", stream), err);
    } while (kn_service_poll_pause(deadline, &pause));
    return timed_out("stream", stream, timeout_ms, err);
}

kn_err_t kn_kinesis_wait_stream_active(kn_kinesis_t *k, const char *stream, int64_t timeout_ms,
                                       kn_error_t **err) {
    return wait_stream(k, stream, timeout_ms, 0, err);
}

kn_err_t kn_kinesis_wait_stream_deleted(kn_kinesis_t *k, const char *stream, int64_t timeout_ms,
                                        kn_error_t **err) {
    return wait_stream(k, stream, timeout_ms, 1, err);
}

kn_err_t kn_kinesis_wait_consumer_active(kn_kinesis_t *k, const char *stream,
                                         const char *consumer_name, const char *consumer_arn,
                                         int64_t timeout_ms, kn_stream_consumer_t **out,
                                         kn_error_t **err) {
    if (out)
        *out = NULL;
    if (!k)
        return no_client(err);
    if (timeout_ms < 0)
        return give(KN_ERR_INVALID_ARG, kn_error_new(KN_ERR_INVALID_ARG, "negative timeout"), err);
    int64_t deadline = kn_service_now_ms() + timeout_ms, pause = KN_SERVICE_POLL_FIRST_MS;
    do {
        kn_stream_consumer_t *c = NULL;
        kn_error_t *e = NULL;
        kn_err_t rc =
            kn_kinesis_describe_stream_consumer(k, stream, consumer_name, consumer_arn, &c, &e);
        if (rc != KN_OK)
            return give(rc, e, err);
        kn_consumer_status_t status = c->status;
        if (status == KN_CONSUMER_STATUS_ACTIVE) {
            if (out)
                *out = c;
            else
                kn_stream_consumer_destroy(c);
            return give(KN_OK, NULL, err);
        }
        kn_stream_consumer_destroy(c);
        if (status == KN_CONSUMER_STATUS_DELETING)
            return give(KN_ERR_STATE, kn_error_new(KN_ERR_STATE, "consumer is being deleted"), err);
    } while (kn_service_poll_pause(deadline, &pause));
    return timed_out("consumer",
                     consumer_arn    ? consumer_arn
                     : consumer_name ? consumer_name
                                     : "?",
                     timeout_ms, err);
}

/* --------------------------------------------------------------- async calls */

typedef enum {
    ASYNC_PUT_RECORDS,
    ASYNC_LIST_SHARDS,
    ASYNC_GET_RECORDS,
    ASYNC_SHARD_ITERATOR
} async_kind_t;

/* One typed async call: which parser, which callback. */
typedef struct async_s {
    async_kind_t kind;
    size_t expected; /* PutRecords: entries sent */
    union {
        kn_put_records_done_fn *put_records;
        kn_list_shards_done_fn *list_shards;
        kn_get_records_done_fn *get_records;
        kn_shard_iterator_done_fn *shard_iterator;
    } done;
    void *opaque;
} async_t;

static void async_done(void *opaque, cJSON *reply, const kn_error_t *err) {
    async_t *a = opaque;
    kn_error_t *e = NULL;
    void *result = NULL;
    if (!err) {
        switch (a->kind) {
        case ASYNC_PUT_RECORDS:
            kn_kj_parse_put_records(reply, a->expected, (kn_put_records_result_t **)&result, &e);
            break;
        case ASYNC_LIST_SHARDS:
            kn_kj_parse_list_shards(reply, (kn_shard_list_t **)&result, &e);
            break;
        case ASYNC_GET_RECORDS:
            kn_kj_parse_get_records(reply, (kn_get_records_result_t **)&result, &e);
            break;
        case ASYNC_SHARD_ITERATOR:
            kn_kj_parse_shard_iterator(reply, (char **)&result, &e);
            break;
        }
        if (!result && !e)
            e = kn_error_new(KN_ERR_NOMEM, "out of memory");
        err = e;
    }
    cJSON_Delete(reply);
    switch (a->kind) {
    case ASYNC_PUT_RECORDS:
        a->done.put_records(a->opaque, result, err);
        break;
    case ASYNC_LIST_SHARDS:
        a->done.list_shards(a->opaque, result, err);
        break;
    case ASYNC_GET_RECORDS:
        a->done.get_records(a->opaque, result, err);
        break;
    case ASYNC_SHARD_ITERATOR:
        a->done.shard_iterator(a->opaque, result, err);
        break;
    }
    kn_error_destroy(e);
    free(a);
}

/* Starts `op` with text `body` (consumed; NULL: the builder failed with *e set). */
static kn_err_t async_start(kn_kinesis_t *k, const char *op, char *body, async_t *proto,
                            const kn_call_opts_t *opts, kn_error_t *e, kn_error_t **err) {
    if (!body)
        return give(e ? kn_error_code(e) : KN_ERR_NOMEM, e, err);
    async_t *a = malloc(sizeof(*a));
    if (!a) {
        free(body);
        return give(KN_ERR_NOMEM, NULL, err);
    }
    *a = *proto;
    kn_err_t rc = kn_service_call_async_owned(k->svc, op, body, opts, async_done, a, &e);
    if (rc != KN_OK)
        free(a);
    return give(rc, e, err);
}

/* The text of a built body (consumed). */
static char *print_body(cJSON *body) {
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    return text;
}

kn_err_t kn_kinesis_put_records_async(kn_kinesis_t *k, const char *stream,
                                      const kn_put_entry_t *entries, size_t count,
                                      const kn_call_opts_t *opts, kn_put_records_done_fn *done,
                                      void *opaque, kn_error_t **err) {
    if (!k || !done)
        return no_client(err);
    kn_error_t *e = NULL;
    char *body = kn_kj_build_put_records(stream, entries, count, k->limits, &e);
    async_t a = {
        .kind = ASYNC_PUT_RECORDS, .expected = count, .done.put_records = done, .opaque = opaque};
    return async_start(k, "PutRecords", body, &a, opts, e, err);
}

kn_err_t kn_kinesis_list_shards_async(kn_kinesis_t *k, const char *stream,
                                      const kn_shard_filter_t *filter, int max_results,
                                      const char *next_token, const kn_call_opts_t *opts,
                                      kn_list_shards_done_fn *done, void *opaque,
                                      kn_error_t **err) {
    if (!k || !done)
        return no_client(err);
    kn_error_t *e = NULL;
    char *body = print_body(kn_kj_build_list_shards(stream, filter, max_results, next_token, &e));
    async_t a = {.kind = ASYNC_LIST_SHARDS, .done.list_shards = done, .opaque = opaque};
    return async_start(k, "ListShards", body, &a, opts, e, err);
}

kn_err_t kn_kinesis_get_records_async(kn_kinesis_t *k, const char *shard_iterator, int limit,
                                      const kn_call_opts_t *opts, kn_get_records_done_fn *done,
                                      void *opaque, kn_error_t **err) {
    if (!k || !done)
        return no_client(err);
    kn_error_t *e = NULL;
    char *body = print_body(kn_kj_build_get_records(shard_iterator, limit, &e));
    async_t a = {.kind = ASYNC_GET_RECORDS, .done.get_records = done, .opaque = opaque};
    return async_start(k, "GetRecords", body, &a, opts, e, err);
}

kn_err_t kn_kinesis_get_shard_iterator_async(kn_kinesis_t *k, const char *stream,
                                             const char *shard_id, const kn_position_t *position,
                                             const kn_call_opts_t *opts,
                                             kn_shard_iterator_done_fn *done, void *opaque,
                                             kn_error_t **err) {
    if (!k || !done)
        return no_client(err);
    kn_error_t *e = NULL;
    char *body = print_body(kn_kj_build_get_shard_iterator(stream, shard_id, position, &e));
    async_t a = {.kind = ASYNC_SHARD_ITERATOR, .done.shard_iterator = done, .opaque = opaque};
    return async_start(k, "GetShardIterator", body, &a, opts, e, err);
}

kn_err_t kn_kinesis_subscribe_to_shard(kn_kinesis_t *k, const char *consumer_arn,
                                       const char *shard_id, const kn_position_t *position,
                                       const kn_service_stream_cbs_t *cbs,
                                       kn_service_stream_t **stream, kn_error_t **err) {
    if (stream)
        *stream = NULL;
    if (!k)
        return no_client(err);
    kn_error_t *e = NULL;
    char *body = print_body(kn_kj_build_subscribe_to_shard(consumer_arn, shard_id, position, &e));
    if (!body)
        return give(e ? kn_error_code(e) : KN_ERR_NOMEM, e, err);
    kn_err_t rc = kn_service_stream_start(k->svc, "SubscribeToShard", body, cbs, stream, &e);
    free(body);
    return give(rc, e, err);
}
