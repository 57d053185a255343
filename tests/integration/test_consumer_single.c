/*
 * One consumer worker on kinesis-local + dynalite, in this process: reads a
 * 4-shard stream completely, deaggregates KPL aggregates, resumes after its
 * checkpoints (also inside an aggregate), writes lease items in the KCL 2.x
 * layout, and fails clearly on bad input.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dynamodb_api.h"
#include "kn_consumer_test.h"
#include "kn_test.h"
#include "kn_test_server.h"

#define FAILOVER 3000
#define WAIT_MS 90000

typedef struct {
    kn_consumer_t *c;
    kn_err_t rc;
    pthread_t th;
} worker_t;

static void *run_worker(void *arg) {
    worker_t *w = arg;
    w->rc = kn_consumer_run(w->c);
    return NULL;
}

static void start_worker(worker_t *w, kn_conf_t *conf, kct_log_t *lg) {
    char err[512];
    w->c = kn_consumer_new(conf, &kct_processor, lg, err, sizeof(err));
    ck_assert_msg(w->c != NULL, "kn_consumer_new: %s", err);
    ck_assert_int_eq(pthread_create(&w->th, NULL, run_worker, w), 0);
}

static void stop_worker(worker_t *w) {
    kn_consumer_shutdown(w->c);
    pthread_join(w->th, NULL);
    const kn_error_t *e = kn_consumer_error(w->c);
    ck_assert_msg(w->rc == KN_OK, "run: %s", e ? kn_error_message(e) : kn_err2name(w->rc));
    kn_consumer_destroy(w->c);
}

/* Number of distinct data values in R lines of `path` (each counted once). */
static size_t distinct_records(const char *path, size_t *total) {
    kct_line_t *l = NULL;
    size_t n = 0, distinct = 0;
    kct_read(path, 0, &l, &n);
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        if (l[i].kind != 'R')
            continue;
        (*total)++;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = l[j].kind == 'R' && !strcmp(l[j].data, l[i].data);
        distinct += !seen;
    }
    free(l);
    return distinct;
}

static size_t wait_records(const char *path, size_t want) {
    size_t total = 0, got = 0;
    for (int64_t end = kct_now_ms() + WAIT_MS; kct_now_ms() < end; usleep(200000))
        if ((got = distinct_records(path, &total)) >= want)
            break;
    return got;
}

static FILE *open_log(char *path, size_t size, const char *name) {
    snprintf(path, size, "/tmp/%s.log", name);
    FILE *f = fopen(path, "w+");
    ck_assert_ptr_nonnull(f);
    return f;
}

/* All items of the lease table. */
static cJSON *scan_table(const char *table) {
    kn_conf_t *conf = kn_conf_new();
    kn_error_t *e = NULL;
    kn_dynamodb_t *d = kn_dynamodb_new(conf, NULL, NULL, &e);
    ck_assert_ptr_nonnull(d);
    cJSON *items = NULL;
    kn_ddb_read_t opts = {0};
    opts.consistent = 1;
    ck_assert_int_eq(kn_dynamodb_scan_all(d, table, &opts, &items, &e), KN_OK);
    kn_dynamodb_destroy(d);
    kn_conf_destroy(conf);
    return items;
}

static const char *attr_type(const cJSON *item, const char *name) {
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(item, name);
    return av && av->child ? av->child->string : NULL;
}

/*
 * Every attribute is one the KCL 2.x serializer writes, with its DynamoDB type;
 * the ones it always writes are present.
 */
static void check_kcl_layout(const cJSON *item) {
    static const char *const known[][2] = {
        {"leaseKey", "S"}, {"leaseOwner", "S"}, {"leaseCounter", "N"}, {"checkpoint", "S"},
        {"checkpointSubSequenceNumber", "N"}, {"ownerSwitchesSinceCheckpoint", "N"},
        {"parentShardId", "SS"}, {"childShardIds", "SS"}, {"startingHashKey", "S"},
        {"endingHashKey", "S"}, {"pendingCheckpoint", "S"},
        {"pendingCheckpointSubSequenceNumber", "N"}};
    static const char *const required[] = {"leaseKey", "leaseCounter", "checkpoint",
                                           "checkpointSubSequenceNumber",
                                           "ownerSwitchesSinceCheckpoint", "startingHashKey",
                                           "endingHashKey"};
    const cJSON *a;
    cJSON_ArrayForEach(a, item) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && !ok; i++)
            if (!strcmp(a->string, known[i][0])) {
                ck_assert_msg(cJSON_GetArraySize(a) == 1 && !strcmp(a->child->string, known[i][1]),
                              "%s has type %s, the KCL writes %s", a->string, a->child->string,
                              known[i][1]);
                ok = 1;
            }
        ck_assert_msg(ok, "attribute %s is not in the KCL 2.x layout", a->string);
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        ck_assert_msg(attr_type(item, required[i]), "%s missing in %s", required[i],
                      cJSON_PrintUnformatted(item));
}

START_TEST(one_worker_reads_four_shards) {
    kn_test_require_peers();
    char stream[64], path[128];
    kn_test_unique_name("cons1", stream, sizeof(stream));
    kn_kinesis_t *k = kct_kinesis();
    kct_create_stream(k, stream, 4);
    kct_put(k, stream, "r", 0, 200, 50);
    kct_log_t lg = {open_log(path, sizeof(path), stream), 1, 0};
    kn_conf_t *conf = kct_conf(stream, stream, "w-one", FAILOVER);
    worker_t w;
    start_worker(&w, conf, &lg);
    ck_assert_int_eq(wait_records(path, 200), 200);
    /* more while it runs */
    kct_put(k, stream, "r", 200, 260, 30);
    ck_assert_int_eq(wait_records(path, 260), 260);
    kn_consumer_stats_t st;
    kn_consumer_get_stats(w.c, &st);
    ck_assert_int_eq(st.leases_held, 4);
    ck_assert_int_ge(st.records_delivered, 260);
    /* while held: owned by this worker, KCL layout */
    cJSON *items = scan_table(stream), *it;
    ck_assert_int_eq(cJSON_GetArraySize(items), 4);
    cJSON_ArrayForEach(it, items) {
        check_kcl_layout(it);
        const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "leaseOwner"), "S");
        ck_assert_str_eq(o->valuestring, "w-one");
    }
    cJSON_Delete(items);
    stop_worker(&w);

    /* one delivery per record, in sequence order per shard, and the released leases
     * hold the last checkpoint of each shard */
    size_t total = 0;
    ck_assert_int_eq(distinct_records(path, &total), 260);
    ck_assert_int_eq(total, 260);
    kct_line_t *l = NULL;
    size_t n = 0;
    kct_read(path, 0, &l, &n);
    items = scan_table(stream);
    cJSON_ArrayForEach(it, items) {
        check_kcl_layout(it);
        ck_assert_ptr_null(cJSON_GetObjectItem(it, "leaseOwner"));
        const char *key = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "leaseKey"), "S")->valuestring;
        const char *ck = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "checkpoint"), "S")->valuestring;
        const char *prev = NULL, *last_c = NULL;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(l[i].shard, key))
                continue;
            if (l[i].kind == 'R') {
                ck_assert_msg(!prev || kct_seq_cmp(prev, l[i].seq) < 0, "out of order in %s", key);
                prev = l[i].seq;
            }
            if (l[i].kind == 'C')
                last_c = l[i].seq;
        }
        if (last_c)
            ck_assert_str_eq(ck, last_c);
        else
            ck_assert_str_eq(ck, "TRIM_HORIZON");
    }
    cJSON_Delete(items);
    free(l);
    fclose(lg.f);
    unlink(path);
    kn_conf_destroy(conf);
    kct_delete_stream(k, stream);
    kn_kinesis_destroy(k);
}
END_TEST

/* A processor that checkpoints in the middle of the first aggregate it sees, then stops. */
typedef struct {
    FILE *f;
    char seq[132];
    atomic_int done;
} mid_t;

static void mid_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    (void)state;
    mid_t *m = opaque;
    for (size_t i = 0; i < b->count && !atomic_load(&m->done); i++) {
        const kn_user_record_t *r = &b->records[i];
        fprintf(m->f, "R %s %s %lld %.*s 0\n", b->shard_id, r->sequence_number,
                (long long)r->subsequence_number, (int)r->data_len, (const char *)r->data);
        if (r->aggregated && r->subsequence_number == 4) {
            ck_assert_int_eq(kn_checkpoint_at(cp, r->sequence_number, 4), KN_OK);
            snprintf(m->seq, sizeof(m->seq), "%s", r->sequence_number);
            atomic_store(&m->done, 1);
        }
    }
    fflush(m->f);
}

START_TEST(aggregates_and_restart_inside_one) {
    kn_test_require_peers();
    char stream[64], path[128], path2[128];
    kn_test_unique_name("cons-agg", stream, sizeof(stream));
    kn_kinesis_t *k = kct_kinesis();
    kct_create_stream(k, stream, 1);
    kct_put(k, stream, "plain", 0, 20, 20);
    kct_put_aggregated(k, stream, "agg", 0, 100, 10);
    kn_conf_t *conf = kct_conf(stream, stream, "w-agg", FAILOVER);

    /* first worker: checkpoints at user record 4 of the first aggregate */
    mid_t m = {open_log(path, sizeof(path), stream), "", 0};
    atomic_init(&m.done, 0);
    kn_processor_t p = {NULL, mid_records, NULL, NULL, NULL};
    char err[256];
    worker_t w;
    w.c = kn_consumer_new(conf, &p, &m, err, sizeof(err));
    ck_assert_ptr_nonnull(w.c);
    pthread_create(&w.th, NULL, run_worker, &w);
    for (int64_t end = kct_now_ms() + WAIT_MS; !atomic_load(&m.done) && kct_now_ms() < end;)
        usleep(100000);
    ck_assert(atomic_load(&m.done));
    stop_worker(&w);

    /* second worker: resumes with user record 5 of that aggregate, nothing before */
    char stream2[80];
    snprintf(stream2, sizeof(stream2), "%s-2", stream);
    kct_log_t lg = {open_log(path2, sizeof(path2), stream2), 1, 0};
    start_worker(&w, conf, &lg);
    ck_assert_int_eq(wait_records(path2, 95), 95);
    stop_worker(&w);
    kct_line_t *l = NULL;
    size_t n = 0;
    kct_read(path2, 0, &l, &n);
    size_t first_r = 0;
    while (l[first_r].kind != 'R')
        first_r++;
    ck_assert_str_eq(l[0].seq, m.seq); /* initialize: the checkpoint */
    ck_assert_int_eq(l[0].sub, 4);
    ck_assert_str_eq(l[first_r].seq, m.seq);
    ck_assert_int_eq(l[first_r].sub, 5);
    ck_assert_str_eq(l[first_r].data, "agg-5");
    /* all 100 user records were delivered across the two workers, with subsequence numbers */
    size_t total;
    ck_assert_int_eq(distinct_records(path2, &total), 95);
    int agg_seen = 0;
    for (size_t i = 0; i < n; i++)
        if (l[i].kind == 'R' && !strncmp(l[i].data, "agg-", 4)) {
            agg_seen++;
            ck_assert_int_eq(l[i].sub, atoi(l[i].data + 4) % 10);
        }
    ck_assert_int_eq(agg_seen, 95);
    free(l);
    fclose(m.f);
    fclose(lg.f);
    unlink(path);
    unlink(path2);
    kn_conf_destroy(conf);
    kct_delete_stream(k, stream);
    kn_kinesis_destroy(k);
}
END_TEST

START_TEST(latest_skips_older_records) {
    kn_test_require_peers();
    char stream[64], path[128];
    kn_test_unique_name("cons-latest", stream, sizeof(stream));
    kn_kinesis_t *k = kct_kinesis();
    kct_create_stream(k, stream, 2);
    kct_put(k, stream, "old", 0, 30, 30);
    kct_log_t lg = {open_log(path, sizeof(path), stream), 1, 0};
    kn_conf_t *conf = kct_conf(stream, stream, NULL, FAILOVER);
    kn_conf_set(conf, "initial.position", "LATEST", NULL, 0);
    worker_t w;
    start_worker(&w, conf, &lg);
    /* wait until both shards are being read, then write */
    for (int64_t end = kct_now_ms() + WAIT_MS; kct_now_ms() < end; usleep(100000)) {
        kn_consumer_stats_t st;
        kn_consumer_get_stats(w.c, &st);
        if (st.shards_caught_up == 2)
            break;
    }
    kct_put(k, stream, "new", 0, 40, 40);
    ck_assert_int_eq(wait_records(path, 40), 40);
    stop_worker(&w);
    kct_line_t *l = NULL;
    size_t n = 0;
    kct_read(path, 0, &l, &n);
    for (size_t i = 0; i < n; i++)
        if (l[i].kind == 'R')
            ck_assert_msg(!strncmp(l[i].data, "new-", 4), "delivered %s", l[i].data);
    free(l);
    fclose(lg.f);
    unlink(path);
    kn_conf_destroy(conf);
    kct_delete_stream(k, stream);
    kn_kinesis_destroy(k);
}
END_TEST

/* A DynamoDB that denies everything, as a table without IAM permissions does. */
static void deny_all(kn_test_server_t *srv, int fd, void *opaque) {
    (void)opaque;
    char req[16384];
    const char *target, *body;
    while (!kn_test_server_stopping(srv) && !kct_http_read(fd, req, sizeof(req), &target, &body))
        if (kct_http_reply(fd, 400,
                           "{\"__type\":\"com.amazon.coral.service#AccessDeniedException\","
                           "\"message\":\"User: arn:aws:iam::000000000000:user/test is not "
                           "authorized to perform: dynamodb:DescribeTable\"}"))
            return;
}

START_TEST(bad_input_fails_clearly) {
    kn_test_require_peers();
    char err[512];
    kct_log_t lg = {stderr, 1, 0};
    /* configuration errors come from new */
    kn_conf_t *conf = kn_conf_new();
    ck_assert_ptr_null(kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err)));
    ck_assert_str_eq(err, "application.name is required");
    kn_conf_set(conf, "application.name", "x", NULL, 0);
    ck_assert_ptr_null(kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err)));
    ck_assert_str_eq(err, "stream.name is required");
    kn_conf_set(conf, "stream.name", "s", NULL, 0);
    ck_assert_ptr_null(kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err)));
    ck_assert_msg(strstr(err, "lease table name"), "%s", err);
    kn_conf_set(conf, "application.name", "app-x", NULL, 0);
    kn_conf_set(conf, "initial.position", "AT_TIMESTAMP", NULL, 0);
    ck_assert_ptr_null(kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err)));
    ck_assert_msg(strstr(err, "initial.position.timestamp"), "%s", err);
    kn_conf_set(conf, "initial.position.timestamp", "2024-05-01T12:00:00.250Z", NULL, 0);
    kn_consumer_t *c = kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    kn_consumer_destroy(c);
    kn_processor_t none = {0};
    ck_assert_ptr_null(kn_consumer_new(conf, &none, &lg, err, sizeof(err)));
    ck_assert_ptr_null(kn_consumer_new(NULL, &kct_processor, &lg, err, sizeof(err)));
    kn_conf_destroy(conf);

    /* an unknown stream: run fails with ResourceNotFound, naming the stream */
    char stream[64];
    kn_test_unique_name("cons-missing", stream, sizeof(stream));
    conf = kct_conf(stream, stream, NULL, FAILOVER);
    c = kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(kn_consumer_run(c), KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_ptr_nonnull(kn_consumer_error(c));
    ck_assert_msg(strstr(kn_error_message(kn_consumer_error(c)), stream), "%s",
                  kn_error_message(kn_consumer_error(c)));
    ck_assert_int_eq(kn_consumer_run(c), KN_ERR_STATE); /* once */
    kn_consumer_destroy(c);

    /* no permission on the lease table: a clear error at once */
    kn_test_server_t *srv = kn_test_server_start(deny_all, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_server_port(srv));
    kn_conf_set(conf, "dynamodb.endpoint.url", url, NULL, 0);
    c = kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err));
    ck_assert_int_eq(kn_consumer_run(c), KN_ERR_ACCESS_DENIED);
    ck_assert_str_eq(kn_error_type(kn_consumer_error(c)), "AccessDeniedException");
    ck_assert_msg(strstr(kn_error_message(kn_consumer_error(c)), "lease table"), "%s",
                  kn_error_message(kn_consumer_error(c)));
    kn_consumer_stats_t st;
    kn_consumer_get_stats(c, &st);
    ck_assert_int_le(st.dynamodb_calls, 2);
    kn_consumer_destroy(c);
    kn_test_server_stop(srv);

    /* an unreachable DynamoDB endpoint: a transport error after a few bounded attempts */
    int refusing_fd;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_refusing_port(&refusing_fd));
    kn_conf_set(conf, "dynamodb.endpoint.url", url, NULL, 0);
    c = kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    int64_t t0 = kct_now_ms();
    kn_err_t rc = kn_consumer_run(c);
    int64_t took = kct_now_ms() - t0;
    ck_assert_int_eq(rc, KN_ERR_TRANSPORT);
    close(refusing_fd);
    kn_consumer_get_stats(c, &st);
    fprintf(stderr, "unreachable endpoint: %s after %lld ms, %llu lease-table calls\n",
            kn_error_message(kn_consumer_error(c)), (long long)took,
            (unsigned long long)st.dynamodb_calls);
    ck_assert_int_le(st.dynamodb_calls, 3); /* no busy loop: a handful of bounded calls */
    kn_consumer_destroy(c);

    /* shutdown before run: run returns at once */
    kn_conf_set(conf, "dynamodb.endpoint.url", "", NULL, 0);
    c = kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err));
    kn_consumer_shutdown(c);
    ck_assert_int_eq(kn_consumer_run(c), KN_OK);
    kn_consumer_destroy(c);
    kn_consumer_destroy(NULL);
    kn_conf_destroy(conf);
}
END_TEST

static Suite *suite(void) {
    kn_test_require_peers(); /* exits 77 (skipped) without them */
    Suite *s = suite_create("consumer_single");
    TCase *tc = tcase_create("single");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, bad_input_fails_clearly);
    tcase_add_test(tc, one_worker_reads_four_shards);
    tcase_add_test(tc, aggregates_and_restart_inside_one);
    tcase_add_test(tc, latest_skips_older_records);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
