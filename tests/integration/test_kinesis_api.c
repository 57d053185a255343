/*
 * The Kinesis client against real peers: every operation against kinesis-local,
 * server-side validation against kinesalite, and malformed or missing replies
 * against a scripted loopback server.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kinesis/kinesis.h"
#include "kinesis_api.h"
#include "kn_test.h"
#include "kn_test_log.h"
#include "kn_test_server.h"

#define WAIT_MS         60000 /* generous bound for CREATING/UPDATING/DELETING to end */
#define MAX_READ_ROUNDS 50    /* GetRecords calls before giving up on reaching a shard's end */

/* ------------------------------------------------------------- log capture */

/* Occurrences of `needle` in the captured lines. */
static int capture_count(kn_test_log_t *c, const char *needle) {
    int n = 0;
    pthread_mutex_lock(&c->lock);
    for (const char *p = c->text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Whether every line fitted in the capture (none dropped). */
static int capture_complete(kn_test_log_t *c) {
    pthread_mutex_lock(&c->lock);
    int total = 0;
    for (int l = 0; l <= KN_LOG_TRACE; l++)
        total += c->lines[l];
    int lines = 0;
    for (size_t i = 0; i < c->len; i++)
        lines += c->text[i] == '\n';
    pthread_mutex_unlock(&c->lock);
    return lines == total;
}

/* --------------------------------------------------------------- clients */

/* A client for `endpoint` with quick retries; `cap` (optional) receives debug logs. */
static kn_kinesis_t *client_for(const char *endpoint, int attempts, kn_test_log_t *cap,
                                const char *level) {
    kn_conf_t *conf = kn_conf_new();
    char errstr[256], num[16];
    snprintf(num, sizeof(num), "%d", attempts);
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", endpoint, errstr, sizeof(errstr)),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "retry.max.attempts", num, errstr, sizeof(errstr)), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "retry.backoff.base.ms", "5", errstr, sizeof(errstr)),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "retry.backoff.max.ms", "20", errstr, sizeof(errstr)),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "connect.timeout.ms", "2000", errstr, sizeof(errstr)),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "request.timeout.ms", "10000", errstr, sizeof(errstr)),
                     KN_OK);
    if (cap) {
        ck_assert_int_eq(kn_conf_set(conf, "log.level", level, errstr, sizeof(errstr)), KN_OK);
        kn_conf_set_log_fn(conf, kn_test_log_fn, cap);
    }
    kn_kinesis_t *k = kn_kinesis_new(conf, errstr, sizeof(errstr));
    ck_assert_msg(k != NULL, "kn_kinesis_new: %s", errstr);
    kn_conf_destroy(conf);
    return k;
}

static kn_kinesis_t *local_client(void) {
    kn_test_require_peers();
    return client_for(kn_test_kinesis_endpoint(), 3, NULL, NULL);
}

/* Fails the test with the error's full text unless rc is KN_OK (*ep is read after the call ran). */
static void ok(kn_err_t rc, kn_error_t **ep, const char *what) {
    char buf[512];
    ck_assert_msg(rc == KN_OK, "%s: %s", what,
                  *ep ? kn_error_format(*ep, buf, sizeof(buf)) : kn_err2name(rc));
    ck_assert_ptr_null(*ep);
}

static void create_active(kn_kinesis_t *k, const char *name, int shards) {
    kn_error_t *e = NULL;
    ok(kn_kinesis_create_stream(k, name, shards, KN_STREAM_MODE_PROVISIONED, &e), &e,
       "CreateStream");
    ok(kn_kinesis_wait_stream_active(k, name, WAIT_MS, &e), &e, "wait active");
}

/* A kinesis-local client and a new ACTIVE stream named into name[size]. */
static kn_kinesis_t *with_stream(const char *prefix, int shards, char *name, size_t size) {
    kn_kinesis_t *k = local_client();
    kn_test_unique_name(prefix, name, size);
    create_active(k, name, shards);
    return k;
}

static void delete_gone(kn_kinesis_t *k, const char *name) {
    kn_error_t *e = NULL;
    ok(kn_kinesis_delete_stream(k, name, 1, &e), &e, "DeleteStream");
    ok(kn_kinesis_wait_stream_deleted(k, name, WAIT_MS, &e), &e, "wait deleted");
}

static size_t open_shards(kn_kinesis_t *k, const char *stream) {
    kn_shard_filter_t latest = {.type = KN_SHARD_FILTER_AT_LATEST};
    kn_shard_list_t *l = NULL;
    kn_error_t *e = NULL;
    ok(kn_kinesis_list_all_shards(k, stream, &latest, &l, &e), &e, "ListShards AT_LATEST");
    size_t n = l->count;
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_null(l->shards[i].ending_sequence_number);
    kn_shard_list_destroy(l);
    return n;
}

/* ------------------------------------------------------------------ tests */

START_TEST(stream_lifecycle_and_paging) {
    char name[64];
    kn_kinesis_t *k = with_stream("api-life", 4, name, sizeof(name));
    kn_error_t *e = NULL;

    kn_stream_summary_t *s = NULL;
    ok(kn_kinesis_describe_stream_summary(k, name, &s, &e), &e, "DescribeStreamSummary");
    ck_assert_str_eq(s->stream_name, name);
    ck_assert_int_eq(s->status, KN_STREAM_STATUS_ACTIVE);
    ck_assert_int_eq(s->open_shard_count, 4);
    ck_assert_int_eq(s->mode, KN_STREAM_MODE_PROVISIONED);
    ck_assert_int_gt(s->retention_period_hours, 0);
    ck_assert_int_gt(s->creation_timestamp_ms, 0);
    ck_assert(!strncmp(s->stream_arn, "arn:aws:kinesis:us-east-1:", 26));
    /* The same stream by ARN. */
    kn_stream_summary_t *by_arn = NULL;
    ok(kn_kinesis_describe_stream_summary(k, s->stream_arn, &by_arn, &e), &e, "by ARN");
    ck_assert_str_eq(by_arn->stream_name, name);
    kn_stream_summary_destroy(by_arn);

    /* MaxResults 1 over 4 shards: four pages, each after the first by NextToken alone. */
    char *token = NULL;
    int pages = 0;
    char seen[4][32];
    do {
        kn_shard_list_t *page = NULL;
        ok(kn_kinesis_list_shards(k, token ? NULL : s->stream_arn, NULL, 1, token, &page, &e), &e,
           "ListShards page");
        ck_assert_uint_eq(page->count, 1);
        ck_assert_int_lt(pages, 4);
        snprintf(seen[pages], sizeof(seen[pages]), "%s", page->shards[0].shard_id);
        for (int i = 0; i < pages; i++)
            ck_assert_str_ne(seen[i], seen[pages]);
        pages++;
        free(token);
        token = page->next_token ? strdup(page->next_token) : NULL;
        kn_shard_list_destroy(page);
    } while (token && pages < 5);
    free(token);
    ck_assert_int_eq(pages, 4);

    kn_shard_list_t *all = NULL;
    ok(kn_kinesis_list_all_shards(k, name, NULL, &all, &e), &e, "list all");
    ck_assert_uint_eq(all->count, 4);
    ck_assert_str_eq(all->shards[0].starting_hash_key, "0");
    ck_assert_str_eq(all->shards[3].ending_hash_key, "340282366920938463463374607431768211455");
    ck_assert_ptr_null(all->next_token);
    kn_shard_list_destroy(all);
    kn_stream_summary_destroy(s);

    delete_gone(k, name);
    ck_assert_int_eq(kn_kinesis_describe_stream_summary(k, name, &s, &e),
                     KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_ptr_null(s);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
}
END_TEST

START_TEST(put_and_get_round_trip) {
    char name[64];
    kn_kinesis_t *k = with_stream("api-rt", 1, name, sizeof(name));
    kn_error_t *e = NULL;

    uint8_t all_bytes[256];
    for (int i = 0; i < 256; i++)
        all_bytes[i] = (uint8_t)i;
    kn_put_entry_t first = {
        .data = all_bytes, .data_len = sizeof(all_bytes), .partition_key = "bin"};
    kn_put_record_result_t *pr = NULL;
    ok(kn_kinesis_put_record(k, name, &first, NULL, &pr, &e), &e, "PutRecord");
    ck_assert_str_eq(pr->shard_id, "shardId-000000000000");
    char *first_seq = strdup(pr->sequence_number);

    const uint8_t zeros[3] = {0, 0, 0};
    kn_put_entry_t batch[] = {
        {.data = zeros, .data_len = sizeof(zeros), .partition_key = "z\xc3\xa9ro"},
        {.data = "text", .data_len = 4, .partition_key = "p2", .explicit_hash_key = "42"},
        {.data = NULL, .data_len = 0, .partition_key = "empty"},
    };
    kn_put_records_result_t *r = NULL;
    ok(kn_kinesis_put_records(k, name, batch, 3, &r, &e), &e, "PutRecords");
    ck_assert_uint_eq(r->count, 3);
    ck_assert_uint_eq(r->failed_record_count, 0);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(r->entries[i].err, KN_OK);
        ck_assert_str_eq(r->entries[i].shard_id, "shardId-000000000000");
    }
    /* Sequence numbers are kept as strings; same shard ⇒ increasing (compare as decimals). */
    ck_assert(strlen(r->entries[0].sequence_number) > strlen(first_seq) ||
              strcmp(r->entries[0].sequence_number, first_seq) > 0);

    char *it = NULL;
    kn_position_t th = {.type = KN_POSITION_TRIM_HORIZON};
    ok(kn_kinesis_get_shard_iterator(k, name, "shardId-000000000000", &th, &it, &e), &e,
       "iterator");
    kn_get_records_result_t *g = NULL;
    ok(kn_kinesis_get_records(k, it, 100, &g, &e), &e, "GetRecords");
    ck_assert_uint_eq(g->record_count, 4);
    ck_assert_uint_eq(g->records[0].data_len, 256);
    ck_assert_mem_eq(g->records[0].data, all_bytes, 256);
    ck_assert_str_eq(g->records[0].partition_key, "bin");
    ck_assert_str_eq(g->records[0].sequence_number, first_seq);
    ck_assert_int_gt(g->records[0].approximate_arrival_ms, 0);
    ck_assert_mem_eq(g->records[1].data, zeros, 3);
    ck_assert_str_eq(g->records[1].partition_key, "z\xc3\xa9ro");
    ck_assert_str_eq(g->records[2].sequence_number, r->entries[1].sequence_number);
    ck_assert_uint_eq(g->records[3].data_len, 0);
    ck_assert_ptr_nonnull(g->next_shard_iterator);
    ck_assert_int_ge(g->millis_behind_latest, 0);
    /* AT_TIMESTAMP from the second record's arrival: every record that arrived at or after it
     * (the first too when both arrived in the same millisecond). */
    int64_t second_arrival = g->records[1].approximate_arrival_ms;
    size_t from_ts = 0;
    while (g->records[from_ts].approximate_arrival_ms < second_arrival)
        from_ts++;
    free(it);

    /* The other four iterator types. */
    kn_position_t at = {.type = KN_POSITION_AT_SEQUENCE_NUMBER, .sequence_number = first_seq};
    kn_position_t after = {.type = KN_POSITION_AFTER_SEQUENCE_NUMBER, .sequence_number = first_seq};
    kn_position_t ts = {.type = KN_POSITION_AT_TIMESTAMP, .timestamp_ms = second_arrival};
    kn_position_t latest = {.type = KN_POSITION_LATEST};
    struct {
        kn_position_t *pos;
        size_t expect;
        const char *first;
    } cases[] = {{&at, 4, first_seq},
                 {&after, 3, r->entries[0].sequence_number},
                 {&ts, 4 - from_ts, g->records[from_ts].sequence_number},
                 {&latest, 0, NULL}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        kn_get_records_result_t *g2 = NULL;
        ok(kn_kinesis_get_shard_iterator(k, name, "shardId-000000000000", cases[c].pos, &it, &e),
           &e, "iterator type");
        ok(kn_kinesis_get_records(k, it, 0, &g2, &e), &e, "GetRecords");
        ck_assert_msg(g2->record_count == cases[c].expect, "case %zu: %zu records", c,
                      g2->record_count);
        if (cases[c].first)
            ck_assert_str_eq(g2->records[0].sequence_number, cases[c].first);
        kn_get_records_result_destroy(g2);
        free(it);
    }
    kn_get_records_result_destroy(g);
    kn_put_records_result_destroy(r);
    kn_put_record_result_destroy(pr);
    free(first_seq);
    delete_gone(k, name);
    kn_kinesis_destroy(k);
}
END_TEST

/* ------------------------------------------------------------ async calls */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    kn_err_t code;
    void *result;
    pthread_t thread;
} waiter_t;

#define WAITER_INIT \
    { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, KN_OK, NULL, 0 }

static void waiter_finish(waiter_t *w, void *result, const kn_error_t *err) {
    pthread_mutex_lock(&w->lock);
    w->result = result;
    w->code = err ? kn_error_code(err) : KN_OK;
    w->thread = pthread_self();
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *waiter_wait(waiter_t *w) {
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    ck_assert_int_eq(w->code, KN_OK);
    ck_assert(!pthread_equal(w->thread, pthread_self())); /* callbacks run on the I/O thread */
    return w->result;
}

static void put_records_done(void *opaque, kn_put_records_result_t *r, const kn_error_t *err) {
    waiter_finish(opaque, r, err);
}
static void list_shards_done(void *opaque, kn_shard_list_t *r, const kn_error_t *err) {
    waiter_finish(opaque, r, err);
}
static void iterator_done(void *opaque, char *it, const kn_error_t *err) {
    waiter_finish(opaque, it, err);
}
static void get_records_done(void *opaque, kn_get_records_result_t *r, const kn_error_t *err) {
    waiter_finish(opaque, r, err);
}

START_TEST(async_calls) {
    char name[64];
    kn_kinesis_t *k = with_stream("api-async", 2, name, sizeof(name));
    kn_error_t *e = NULL;

    kn_put_entry_t entries[] = {{.data = "a", .data_len = 1, .partition_key = "k1"},
                                {.data = "b", .data_len = 1, .partition_key = "k2"}};
    kn_call_opts_t once = {.max_attempts = 1};
    waiter_t w1 = WAITER_INIT;
    ok(kn_kinesis_put_records_async(k, name, entries, 2, &once, put_records_done, &w1, &e), &e,
       "put async");
    kn_put_records_result_t *pr = waiter_wait(&w1);
    ck_assert_uint_eq(pr->count, 2);
    ck_assert_uint_eq(pr->failed_record_count, 0);
    char shard[64];
    snprintf(shard, sizeof(shard), "%s", pr->entries[0].shard_id);
    kn_put_records_result_destroy(pr);

    waiter_t w2 = WAITER_INIT;
    ok(kn_kinesis_list_shards_async(k, name, NULL, 0, NULL, NULL, list_shards_done, &w2, &e), &e,
       "list async");
    kn_shard_list_t *l = waiter_wait(&w2);
    ck_assert_uint_eq(l->count, 2);
    kn_shard_list_destroy(l);

    waiter_t w3 = WAITER_INIT;
    kn_position_t th = {.type = KN_POSITION_TRIM_HORIZON};
    ok(kn_kinesis_get_shard_iterator_async(k, name, shard, &th, NULL, iterator_done, &w3, &e), &e,
       "iterator async");
    char *it = waiter_wait(&w3);
    waiter_t w4 = WAITER_INIT;
    ok(kn_kinesis_get_records_async(k, it, 10, NULL, get_records_done, &w4, &e), &e, "get async");
    kn_get_records_result_t *g = waiter_wait(&w4);
    ck_assert_uint_ge(g->record_count, 1);
    ck_assert_str_eq(g->records[0].partition_key, "k1");
    kn_get_records_result_destroy(g);
    free(it);

    /* Refused before sending: no callback, the error says why. */
    ck_assert_int_eq(
        kn_kinesis_put_records_async(k, name, entries, 0, NULL, put_records_done, &w1, &e),
        KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    delete_gone(k, name);
    kn_kinesis_destroy(k);
}
END_TEST

/* Reads a closed shard from TRIM_HORIZON to its end; returns the last result. */
static kn_get_records_result_t *read_to_end(kn_kinesis_t *k, const char *stream,
                                            const char *shard) {
    kn_error_t *e = NULL;
    char *it = NULL;
    kn_position_t th = {.type = KN_POSITION_TRIM_HORIZON};
    ok(kn_kinesis_get_shard_iterator(k, stream, shard, &th, &it, &e), &e, "iterator");
    for (int round = 0; round < MAX_READ_ROUNDS; round++) {
        kn_get_records_result_t *g = NULL;
        ok(kn_kinesis_get_records(k, it, 0, &g, &e), &e, "GetRecords");
        free(it);
        if (!g->next_shard_iterator)
            return g;
        it = strdup(g->next_shard_iterator);
        kn_get_records_result_destroy(g);
    }
    free(it);
    ck_abort_msg("shard %s never ended", shard);
    return NULL;
}

START_TEST(resharding) {
    char name[64];
    kn_kinesis_t *k = with_stream("api-reshard", 2, name, sizeof(name));
    kn_error_t *e = NULL;
    kn_put_entry_t one = {
        .data = "x", .data_len = 1, .partition_key = "p", .explicit_hash_key = "1"};
    ok(kn_kinesis_put_record(k, name, &one, NULL, NULL, &e), &e, "PutRecord");

    /* Split shard 0 in the middle of its range: 2 parents' worth of open shards become 3. */
    kn_shard_list_t *l = NULL;
    ok(kn_kinesis_list_all_shards(k, name, NULL, &l, &e), &e, "list");
    ck_assert_str_eq(l->shards[0].shard_id, "shardId-000000000000");
    kn_shard_list_destroy(l);
    ok(kn_kinesis_split_shard(k, name, "shardId-000000000000",
                              "85070591730234615865843651857942052864", &e),
       &e, "SplitShard");
    ok(kn_kinesis_wait_stream_active(k, name, WAIT_MS, &e), &e, "wait after split");
    ck_assert_uint_eq(open_shards(k, name), 3);
    ok(kn_kinesis_list_all_shards(k, name, NULL, &l, &e), &e, "list all");
    ck_assert_uint_eq(l->count, 4);
    ck_assert_ptr_nonnull(l->shards[0].ending_sequence_number); /* the parent is closed */
    kn_shard_list_destroy(l);

    /* The end of the closed parent: no next iterator, and the children. */
    kn_get_records_result_t *g = read_to_end(k, name, "shardId-000000000000");
    ck_assert_uint_eq(g->child_shard_count, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(g->child_shards[i].parent_count, 1);
        ck_assert_str_eq(g->child_shards[i].parent_shards[0], "shardId-000000000000");
    }
    char child_a[64], child_b[64];
    snprintf(child_a, sizeof(child_a), "%s", g->child_shards[0].shard_id);
    snprintf(child_b, sizeof(child_b), "%s", g->child_shards[1].shard_id);
    kn_get_records_result_destroy(g);

    /* Merge the two children back: 2 open shards. */
    ok(kn_kinesis_merge_shards(k, name, child_a, child_b, &e), &e, "MergeShards");
    ok(kn_kinesis_wait_stream_active(k, name, WAIT_MS, &e), &e, "wait after merge");
    ck_assert_uint_eq(open_shards(k, name), 2);
    g = read_to_end(k, name, child_a);
    ck_assert_uint_eq(g->child_shard_count, 1);
    ck_assert_uint_eq(g->child_shards[0].parent_count, 2);
    kn_get_records_result_destroy(g);

    /* UpdateShardCount to 4. */
    ok(kn_kinesis_update_shard_count(k, name, 4, &e), &e, "UpdateShardCount");
    ok(kn_kinesis_wait_stream_active(k, name, WAIT_MS, &e), &e, "wait after update");
    kn_stream_summary_t *s = NULL;
    ok(kn_kinesis_describe_stream_summary(k, name, &s, &e), &e, "summary");
    ck_assert_int_eq(s->open_shard_count, 4);
    kn_stream_summary_destroy(s);
    ck_assert_uint_eq(open_shards(k, name), 4);
    delete_gone(k, name);
    kn_kinesis_destroy(k);
}
END_TEST

START_TEST(consumers) {
    char name[64];
    kn_kinesis_t *k = with_stream("api-efo", 1, name, sizeof(name));
    kn_error_t *e = NULL;

    kn_stream_consumer_t *c = NULL;
    ok(kn_kinesis_register_stream_consumer(k, name, "app1", &c, &e), &e, "Register");
    ck_assert_str_eq(c->consumer_name, "app1");
    ck_assert(!strncmp(c->consumer_arn, "arn:", 4));
    ck_assert(c->status == KN_CONSUMER_STATUS_CREATING || c->status == KN_CONSUMER_STATUS_ACTIVE);
    char *arn = strdup(c->consumer_arn);
    kn_stream_consumer_destroy(c);

    kn_stream_consumer_t *active = NULL;
    ok(kn_kinesis_wait_consumer_active(k, name, "app1", NULL, WAIT_MS, &active, &e), &e,
       "wait consumer");
    ck_assert_int_eq(active->status, KN_CONSUMER_STATUS_ACTIVE);
    ck_assert_str_eq(active->consumer_arn, arn);
    ck_assert_ptr_nonnull(active->stream_arn);
    kn_stream_consumer_destroy(active);

    ok(kn_kinesis_describe_stream_consumer(k, NULL, NULL, arn, &c, &e), &e, "Describe by ARN");
    ck_assert_str_eq(c->consumer_name, "app1");
    kn_stream_consumer_destroy(c);

    /* A second registration of the same name is refused by the service. */
    ck_assert_int_eq(kn_kinesis_register_stream_consumer(k, name, "app1", NULL, &e),
                     KN_ERR_RESOURCE_IN_USE);
    kn_error_destroy(e);

    ok(kn_kinesis_deregister_stream_consumer(k, NULL, NULL, arn, &e), &e, "Deregister");
    /* Deregistration goes DELETING, then gone. */
    kn_err_t rc = KN_OK;
    for (int i = 0; i < 600 && rc == KN_OK; i++) {
        rc = kn_kinesis_describe_stream_consumer(k, name, "app1", NULL, &c, &e);
        kn_stream_consumer_destroy(c);
        if (rc == KN_OK)
            usleep(100 * 1000);
    }
    ck_assert_int_eq(rc, KN_ERR_RESOURCE_NOT_FOUND);
    kn_error_destroy(e);
    free(arn);
    delete_gone(k, name);
    kn_kinesis_destroy(k);
}
END_TEST

/* ----------------------------------------------------- SubscribeToShard */

#define STREAM_BUF_MAX (1024 * 1024)

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int opened, status, chunks, closed;
    char content_type[128];
    kn_err_t close_code;
    char *bytes; /* the raw event stream so far, bounded */
    size_t len;
} sub_t;

static void sub_open(void *opaque, const kn_http_response_t *resp) {
    sub_t *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->opened++;
    s->status = resp->status;
    snprintf(s->content_type, sizeof(s->content_type), "%s",
             resp->content_type ? resp->content_type : "");
    pthread_mutex_unlock(&s->lock);
}

static int sub_data(void *opaque, const uint8_t *data, size_t len) {
    sub_t *s = opaque;
    pthread_mutex_lock(&s->lock);
    if (s->len + len <= STREAM_BUF_MAX) {
        memcpy(s->bytes + s->len, data, len);
        s->len += len;
    }
    int first = s->chunks++ == 0;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return first ? KN_HTTP_PAUSE : KN_HTTP_CONTINUE; /* the consumer resumes it */
}

static void sub_close(void *opaque, const kn_error_t *err) {
    sub_t *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->closed++;
    s->close_code = err ? kn_error_code(err) : KN_OK;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Whether the raw stream bytes contain `needle` (binary-safe). */
static int sub_has(sub_t *s, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s->len; i++)
        if (!memcmp(s->bytes + i, needle, n))
            return 1;
    return 0;
}

START_TEST(subscribe_to_shard_plumbing) {
    char name[64];
    kn_kinesis_t *k = with_stream("api-sub", 1, name, sizeof(name));
    kn_error_t *e = NULL;
    kn_put_entry_t rec = {.data = "hello-efo", .data_len = 9, .partition_key = "p"};
    ok(kn_kinesis_put_record(k, name, &rec, NULL, NULL, &e), &e, "PutRecord");
    kn_stream_consumer_t *c = NULL;
    ok(kn_kinesis_register_stream_consumer(k, name, "sub1", NULL, &e), &e, "Register");
    ok(kn_kinesis_wait_consumer_active(k, name, "sub1", NULL, WAIT_MS, &c, &e), &e,
       "wait consumer");

    sub_t s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    s.bytes = malloc(STREAM_BUF_MAX);
    kn_service_stream_cbs_t cbs = {
        .on_open = sub_open, .on_data = sub_data, .on_close = sub_close, .opaque = &s};
    kn_position_t th = {.type = KN_POSITION_TRIM_HORIZON};
    kn_service_stream_t *st = NULL;
    ok(kn_kinesis_subscribe_to_shard(k, c->consumer_arn, "shardId-000000000000", &th, &cbs, &st,
                                     &e),
       &e, "SubscribeToShard");
    ck_assert_ptr_nonnull(st);
    pthread_mutex_lock(&s.lock);
    while (!s.chunks && !s.closed)
        pthread_cond_wait(&s.cond, &s.lock);
    ck_assert_int_eq(s.closed, 0);
    pthread_mutex_unlock(&s.lock);
    kn_service_stream_resume(st); /* paused by the first chunk */
    pthread_mutex_lock(&s.lock);
    /* The record's base64 ("aGVsbG8tZWZv") arrives inside a SubscribeToShardEvent. */
    while (!s.closed && !(sub_has(&s, "SubscribeToShardEvent") && sub_has(&s, "aGVsbG8tZWZv")))
        pthread_cond_wait(&s.cond, &s.lock);
    ck_assert_int_eq(s.closed, 0);
    ck_assert_int_eq(s.opened, 1);
    ck_assert_int_eq(s.status, 200);
    ck_assert_str_eq(s.content_type, "application/vnd.amazon.eventstream");
    pthread_mutex_unlock(&s.lock);
    kn_service_stream_cancel(st);
    pthread_mutex_lock(&s.lock);
    while (!s.closed)
        pthread_cond_wait(&s.cond, &s.lock);
    ck_assert_int_eq(s.closed, 1);
    ck_assert_int_eq(s.close_code, KN_ERR_CANCELLED);
    pthread_mutex_unlock(&s.lock);

    /* A consumer that does not exist: the service error reaches on_close, no on_open. */
    sub_t bad = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    bad.bytes = malloc(STREAM_BUF_MAX);
    cbs.opaque = &bad;
    char ghost[512];
    snprintf(ghost, sizeof(ghost), "%s-ghost", c->consumer_arn);
    ok(kn_kinesis_subscribe_to_shard(k, ghost, "shardId-000000000000", &th, &cbs, &st, &e), &e,
       "SubscribeToShard ghost");
    pthread_mutex_lock(&bad.lock);
    while (!bad.closed)
        pthread_cond_wait(&bad.cond, &bad.lock);
    ck_assert_int_eq(bad.opened, 0);
    ck_assert(bad.close_code > KN_OK); /* a service error, parsed from the reply */
    pthread_mutex_unlock(&bad.lock);
    /* Bad arguments: refused before anything is sent. */
    ck_assert_int_eq(
        kn_kinesis_subscribe_to_shard(k, "not-an-arn", "shardId-000000000000", &th, &cbs, &st, &e),
        KN_ERR_INVALID_ARG);
    ck_assert_ptr_null(st);
    kn_error_destroy(e);

    free(s.bytes);
    free(bad.bytes);
    kn_stream_consumer_destroy(c);
    delete_gone(k, name);
    kn_kinesis_destroy(k);
}
END_TEST

START_TEST(missing_stream_not_retried) {
    kn_test_require_peers();
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    kn_kinesis_t *k = client_for(kn_test_kinesis_endpoint(), 5, &cap, "debug");
    kn_stream_summary_t *s = NULL;
    kn_error_t *e = NULL;
    char name[64];
    kn_test_unique_name("api-missing", name, sizeof(name));
    ck_assert_int_eq(kn_kinesis_describe_stream_summary(k, name, &s, &e),
                     KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(kn_error_code(e), KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_str_eq(kn_error_type(e), "ResourceNotFoundException");
    ck_assert_int_eq(kn_error_http_status(e), 400);
    ck_assert_ptr_nonnull(kn_error_request_id(e)); /* kinesis-local sends x-amzn-RequestId */
    ck_assert(!kn_error_is_retriable(e));
    ck_assert_ptr_nonnull(strstr(kn_error_message(e), name));
    kn_error_destroy(e);
    ck_assert_int_eq(capture_count(&cap, "retrying"), 0);
    ck_assert_int_eq(capture_count(&cap, "failed after 1 attempt"), 1);
    /* Without an err out-parameter the code alone comes back. */
    ck_assert_int_eq(kn_kinesis_describe_stream_summary(k, name, &s, NULL),
                     KN_ERR_RESOURCE_NOT_FOUND);
    kn_kinesis_destroy(k);
}
END_TEST

START_TEST(server_validation_errors) {
    kn_test_require_peers();
    kn_kinesis_t *k = client_for(kn_test_kinesalite_endpoint(), 3, NULL, NULL);
    char name[64];
    kn_test_unique_name("api-val", name, sizeof(name));
    kn_error_t *e = NULL;
    create_active(k, name, 1);
    kn_kinesis_set_limit_checks(k, 0);

    kn_put_entry_t *many = calloc(KN_KINESIS_MAX_PUT_RECORDS + 1, sizeof(*many));
    for (int i = 0; i <= KN_KINESIS_MAX_PUT_RECORDS; i++)
        many[i] = (kn_put_entry_t){.data = "d", .data_len = 1, .partition_key = "k"};
    kn_put_records_result_t *r = NULL;
    ck_assert_int_eq(kn_kinesis_put_records(k, name, many, KN_KINESIS_MAX_PUT_RECORDS + 1, &r, &e),
                     KN_ERR_VALIDATION);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(kn_error_type(e), "ValidationException");
    ck_assert_int_eq(kn_error_http_status(e), 400);
    ck_assert(!kn_error_is_retriable(e));
    kn_error_destroy(e);
    free(many);

    char key[KN_KINESIS_MAX_PARTITION_KEY + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    kn_put_entry_t longkey = {.data = "d", .data_len = 1, .partition_key = key};
    ck_assert_int_eq(kn_kinesis_put_record(k, name, &longkey, NULL, NULL, &e), KN_ERR_VALIDATION);
    ck_assert_str_eq(kn_error_type(e), "ValidationException");
    kn_error_destroy(e);

    /* With the checks on, the same call never leaves the client. */
    kn_kinesis_set_limit_checks(k, 1);
    ck_assert_int_eq(kn_kinesis_put_record(k, name, &longkey, NULL, NULL, &e), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_error_http_status(e), 0);
    kn_error_destroy(e);
    /* kinesalite also answers DescribeStreamSummary in the shape we expect. */
    kn_stream_summary_t *s = NULL;
    ok(kn_kinesis_describe_stream_summary(k, name, &s, &e), &e, "kinesalite summary");
    kn_stream_summary_destroy(s);
    delete_gone(k, name);
    kn_kinesis_destroy(k);
}
END_TEST

/* --------------------------------------------------- scripted bad server */

typedef struct {
    const char *reply; /* full HTTP response bytes; NULL: close after reading */
    int close_after;   /* close the connection after replying */
} script_t;

/* Reads one request (headers, then Content-Length bytes); 0 on success. */
static int read_request(int fd) {
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && len >= sizeof(buf) - 1)
            return -1;
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < body) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return 0;
}

static void scripted_conn(kn_test_server_t *srv, int fd, void *opaque) {
    const script_t *sc = opaque;
    while (!kn_test_server_stopping(srv) && read_request(fd) == 0) {
        if (!sc->reply || kn_test_write_all(fd, sc->reply, strlen(sc->reply)) || sc->close_after)
            return;
    }
}

/* Runs DescribeStreamSummary against a server answering `reply`; returns the error (caller destroys). */
static kn_error_t *against(const char *reply, int close_after, int attempts, int *accepted) {
    script_t sc = {reply, close_after};
    kn_test_server_t *srv = kn_test_server_start(scripted_conn, &sc);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_server_port(srv));
    kn_kinesis_t *k = client_for(url, attempts, NULL, NULL);
    kn_stream_summary_t *s = NULL;
    kn_error_t *e = NULL;
    kn_err_t rc = kn_kinesis_describe_stream_summary(k, "s1", &s, &e);
    ck_assert_int_ne(rc, KN_OK);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(kn_error_code(e), rc);
    kn_kinesis_destroy(k);
    if (accepted)
        *accepted = kn_test_server_accepted(srv);
    kn_test_server_stop(srv);
    return e;
}

#define HTTP200(body)                                                 \
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n" \
    "x-amzn-RequestId: fake-1\r\nContent-Length: " #body "\r\n\r\n"

static char *reply_with(const char *body) {
    char *r = NULL;
    ck_assert_int_ge(asprintf(&r,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                              "x-amzn-RequestId: fake-1\r\nContent-Length: %zu\r\n\r\n%s",
                              strlen(body), body),
                     0);
    return r;
}

START_TEST(malformed_replies) {
    kn_test_safe_env();
    static const char *const bodies[] = {
        "{\"StreamDescriptionSummary\":{\"StreamName\":", /* truncated JSON */
        "this is not json",
        "{\"StreamDescriptionSummary\":[]}", /* wrong type */
        "{\"StreamDescriptionSummary\":{\"StreamName\":\"s1\",\"StreamARN\":\"a\","
        "\"StreamStatus\":5,\"RetentionPeriodHours\":24,\"OpenShardCount\":1}}",
        "{\"StreamDescriptionSummary\":{\"StreamName\":\"s1\",\"StreamARN\":\"a\","
        "\"StreamStatus\":\"ACTIVE\",\"RetentionPeriodHours\":24,\"OpenShardCount\":-3}}",
        "{}", /* required member missing */
        "[1]",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char *reply = reply_with(bodies[i]);
        int accepted = 0;
        kn_error_t *e = against(reply, 0, 3, &accepted);
        ck_assert_msg(kn_error_code(e) == KN_ERR_BAD_RESPONSE, "case %zu: %s", i,
                      kn_err2name(kn_error_code(e)));
        ck_assert(!kn_error_is_retriable(e));
        ck_assert_int_eq(accepted, 1); /* a bad reply is not retried */
        kn_error_destroy(e);
        free(reply);
    }
    /* A 5xx that is not JSON: retried, then reported with the status. */
    const char *html = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 12\r\n\r\n<html></html>";
    kn_error_t *e = against(html, 0, 2, NULL);
    ck_assert_int_eq(kn_error_code(e), KN_ERR_INTERNAL_FAILURE);
    ck_assert_int_eq(kn_error_http_status(e), 502);
    kn_error_destroy(e);
    /* The connection cut in the middle of the body: a transport failure, retried. */
    const char *cut = HTTP200(100) "{\"StreamDescriptionSummary\":";
    int accepted = 0;
    e = against(cut, 1, 2, &accepted);
    ck_assert_int_eq(kn_error_code(e), KN_ERR_TRANSPORT);
    ck_assert_int_eq(accepted, 2);
    kn_error_destroy(e);
}
END_TEST

START_TEST(unreachable_endpoint) {
    kn_test_safe_env();
    int fd = -1;
    int port = kn_test_refusing_port(&fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    kn_kinesis_t *k = client_for(url, 3, &cap, "debug");
    kn_error_t *e = NULL;
    ck_assert_int_eq(
        kn_kinesis_describe_stream_summary(k, "s1", &(kn_stream_summary_t *){NULL}, &e),
        KN_ERR_TRANSPORT);
    ck_assert(kn_error_is_retriable(e));
    ck_assert_int_eq(kn_error_http_status(e), 0);
    kn_error_destroy(e);
    ck_assert_int_eq(capture_count(&cap, "retrying"), 2);
    ck_assert_int_eq(capture_count(&cap, "failed after 3 attempt"), 1);
    kn_kinesis_destroy(k);
    close(fd);
}
END_TEST

START_TEST(construction_and_arguments) {
    kn_test_safe_env();
    char errstr[256] = "";
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", "ftp://x", errstr, sizeof(errstr)),
                     KN_OK);
    ck_assert_ptr_null(kn_kinesis_new(conf, errstr, sizeof(errstr)));
    ck_assert(strlen(errstr) > 0);
    ck_assert_int_eq(
        kn_conf_set(conf, "kinesis.endpoint.url", "http://127.0.0.1:1", errstr, sizeof(errstr)),
        KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "region", "eu-west-3", errstr, sizeof(errstr)), KN_OK);
    kn_kinesis_t *k = kn_kinesis_new(conf, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(kn_kinesis_region(k), "eu-west-3");
    ck_assert_str_eq(kn_kinesis_endpoint(k), "http://127.0.0.1:1");
    kn_conf_destroy(conf);

    /* Bad arguments never reach the (unreachable) endpoint: INVALID_ARG at once. */
    kn_error_t *e = NULL;
    kn_stream_summary_t *s = NULL;
    ck_assert_int_eq(kn_kinesis_describe_stream_summary(k, NULL, &s, &e), KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_kinesis_describe_stream_summary(NULL, "s", &s, &e), KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_kinesis_create_stream(k, "bad name", 1, KN_STREAM_MODE_PROVISIONED, &e),
                     KN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kn_error_message(e), "stream name"));
    kn_error_destroy(e);
    ck_assert_int_eq(
        kn_kinesis_put_records(k, "s", NULL, 1, &(kn_put_records_result_t *){NULL}, &e),
        KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_kinesis_get_records(k, "", 0, &(kn_get_records_result_t *){NULL}, &e),
                     KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_kinesis_register_stream_consumer(k, "s", "a b", NULL, NULL),
                     KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_kinesis_wait_stream_active(k, "s", -1, &e), KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    ck_assert_int_eq(kn_kinesis_describe_stream_consumer(k, NULL, "app", NULL,
                                                         &(kn_stream_consumer_t *){NULL}, &e),
                     KN_ERR_INVALID_ARG);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
    kn_kinesis_destroy(NULL);
}
END_TEST

START_TEST(secrets_never_logged) {
    kn_test_require_peers();
    static const char secret[] = "SECRETKEYneverINlogs0123456789abcdefXYZ0";
    static const char token[] = "SESSIONTOKENneverINlogs-FwoGZXIvYXdzEHMaDE";
    setenv("AWS_ACCESS_KEY_ID", "AKIDLOGTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    setenv("AWS_SESSION_TOKEN", token, 1);
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    kn_kinesis_t *k = client_for(kn_test_kinesis_endpoint(), 2, &cap, "trace");
    char name[64];
    kn_test_unique_name("api-log", name, sizeof(name));
    kn_error_t *e = NULL;
    ck_assert_int_eq(
        kn_kinesis_describe_stream_summary(k, name, &(kn_stream_summary_t *){NULL}, &e),
        KN_ERR_RESOURCE_NOT_FOUND);
    kn_error_destroy(e);
    kn_kinesis_destroy(k);
    /* Trace really logged the exchange (else the assertions below prove nothing)... */
    ck_assert_int_ge(capture_count(&cap, "DescribeStreamSummary"), 1);
    ck_assert_int_ge(capture_count(&cap, "X-Amz-Target"), 1);
    ck_assert_int_ge(capture_count(&cap, "ResourceNotFoundException"), 1);
    /* ...and no secret, token or Authorization value appears in any line. */
    ck_assert(capture_complete(&cap));
    ck_assert_int_eq(capture_count(&cap, secret), 0);
    ck_assert_int_eq(capture_count(&cap, token), 0);
    ck_assert_int_eq(capture_count(&cap, "AWS4-HMAC-SHA256 Credential="), 0);
    ck_assert_int_eq(capture_count(&cap, "Signature="), 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kinesis_api");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, stream_lifecycle_and_paging);
    tcase_add_test(tc, put_and_get_round_trip);
    tcase_add_test(tc, async_calls);
    tcase_add_test(tc, resharding);
    tcase_add_test(tc, consumers);
    tcase_add_test(tc, subscribe_to_shard_plumbing);
    tcase_add_test(tc, missing_stream_not_retried);
    tcase_add_test(tc, server_validation_errors);
    tcase_add_test(tc, malformed_replies);
    tcase_add_test(tc, unreachable_endpoint);
    tcase_add_test(tc, construction_and_arguments);
    tcase_add_test(tc, secrets_never_logged);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
