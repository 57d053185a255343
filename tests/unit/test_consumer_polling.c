/*
 * Polling retrieval against a scripted Kinesis on 127.0.0.1: the iterator for
 * each start position, the pause after a batch, a new iterator after the last
 * fetched record when the iterator expired, backoff on throttling, and shard end
 * (no NextShardIterator, or the shard gone).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kinesis_api.h"
#include "kn_consumer_test.h"
#include "kn_test.h"
#include "kn_test_server.h"
#include "polling.h"

typedef struct {
    kn_test_server_t *srv;
    kn_kinesis_t *k;
    kn_retriever_t *r;
    kct_script_t script;
} rig_t;

static void rig_start(rig_t *g, const kct_step_t *steps, int n, const char *from) {
    memset(g, 0, sizeof(*g));
    kn_test_safe_env();
    pthread_mutex_init(&g->script.mu, NULL);
    g->script.steps = steps;
    g->script.n = n;
    g->srv = kn_test_server_start(kct_script_serve, &g->script);
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_server_port(g->srv));
    kn_conf_t *conf = kn_conf_new();
    kn_conf_set(conf, "kinesis.endpoint.url", url, NULL, 0);
    kn_conf_set(conf, "retry.max.attempts", "1", NULL, 0); /* the retriever's own backoff */
    kn_conf_set(conf, "log.level", "error", NULL, 0);
    g->k = kn_kinesis_new(conf, err, sizeof(err));
    ck_assert_msg(g->k != NULL, "%s", err);
    kn_conf_destroy(conf);
    kn_retrieval_start_t start = {"s", "shardId-000000000000", {0}, 1700000000123};
    ck_assert_int_eq(kn_esn_parse(from, 0, &start.from), KN_OK);
    kn_polling_conf_t pc = {500, 1000, NULL};
    g->r = kn_polling_new(g->k, &start, &pc, NULL);
    ck_assert_ptr_nonnull(g->r);
}

static void rig_stop(rig_t *g) {
    g->r->destroy(g->r);
    kn_kinesis_destroy(g->k);
    kn_test_server_stop(g->srv);
    pthread_mutex_destroy(&g->script.mu);
}

static kn_err_t fetch(rig_t *g, kn_fetch_t *f) {
    kn_error_t *e = NULL;
    kn_err_t rc = g->r->fetch(g->r, f, &e);
    kn_error_destroy(e);
    return rc;
}

#define IT(x) "{\"ShardIterator\":\"" x "\"}"
#define REC(seq) "{\"SequenceNumber\":\"" seq "\",\"Data\":\"YQ==\",\"PartitionKey\":\"p\"}"

START_TEST(expired_iterator_and_throttling) {
    static const kct_step_t steps[] = {
        {"GetShardIterator", 200, IT("it-1")},
        {"GetRecords", 200, "{\"Records\":[" REC("100") "," REC("101") "],"
                            "\"NextShardIterator\":\"it-2\",\"MillisBehindLatest\":500}"},
        {"GetRecords", 400, "{\"__type\":\"ExpiredIteratorException\",\"message\":\"expired\"}"},
        {"GetShardIterator", 200, IT("it-3")},
        {"GetRecords", 400, "{\"__type\":\"ProvisionedThroughputExceededException\"}"},
        {"GetRecords", 400, "{\"__type\":\"ProvisionedThroughputExceededException\"}"},
        {"GetRecords", 200, "{\"Records\":[],\"NextShardIterator\":\"it-4\",\"MillisBehindLatest\":0}"},
        {"GetRecords", 200, "{\"Records\":[" REC("102") "],\"MillisBehindLatest\":0,"
                            "\"ChildShards\":[{\"ShardId\":\"shardId-000000000002\","
                            "\"ParentShards\":[\"shardId-000000000000\"],\"HashKeyRange\":"
                            "{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"9\"}}]}"},
    };
    rig_t g;
    rig_start(&g, steps, 8, "TRIM_HORIZON");
    kn_fetch_t f;
    /* a batch from a shard that is behind: the short pause */
    ck_assert_int_eq(fetch(&g, &f), KN_OK);
    ck_assert_int_eq(f.result->record_count, 2);
    ck_assert_int_eq(f.result->millis_behind_latest, 500);
    ck_assert_int_eq(f.next_ms, KN_POLLING_BEHIND_PAUSE_MS);
    ck_assert(!f.shard_end);
    kn_get_records_result_destroy(f.result);
    ck_assert_msg(strstr(g.script.seen[0], "\"ShardIteratorType\":\"TRIM_HORIZON\""), "%s",
                  g.script.seen[0]);
    ck_assert_msg(strstr(g.script.seen[1], "\"ShardIterator\":\"it-1\"") &&
                  strstr(g.script.seen[1], "\"Limit\":500"), "%s", g.script.seen[1]);
    /* expired: nothing this time, at once again, from after the last fetched record */
    ck_assert_int_eq(fetch(&g, &f), KN_OK);
    ck_assert_ptr_null(f.result);
    ck_assert_int_eq(f.next_ms, 0);
    ck_assert_int_eq(fetch(&g, &f), KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED);
    ck_assert_msg(strstr(g.script.seen[3], "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\"") &&
                  strstr(g.script.seen[3], "\"StartingSequenceNumber\":\"101\""), "%s",
                  g.script.seen[3]);
    /* throttled: growing pauses, the same iterator again */
    int64_t first = f.next_ms;
    ck_assert_int_eq(first, kn_polling_backoff_ms(1, 1));
    ck_assert_int_eq(fetch(&g, &f), KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED);
    ck_assert_int_gt(f.next_ms, first);
    ck_assert_msg(strstr(g.script.seen[5], "\"ShardIterator\":\"it-3\""), "%s", g.script.seen[5]);
    /* caught up: the idle pause */
    ck_assert_int_eq(fetch(&g, &f), KN_OK);
    ck_assert_int_eq(f.result->record_count, 0);
    ck_assert_int_eq(f.next_ms, 1000);
    kn_get_records_result_destroy(f.result);
    /* the end: no next iterator, children reported */
    ck_assert_int_eq(fetch(&g, &f), KN_OK);
    ck_assert(f.shard_end);
    ck_assert_int_eq(f.result->child_shard_count, 1);
    kn_get_records_result_destroy(f.result);
    rig_stop(&g);
}
END_TEST

START_TEST(checkpoint_start_and_vanished_shard) {
    static const kct_step_t steps[] = {
        {"GetShardIterator", 200, IT("it-1")},
        {"GetRecords", 400, "{\"__type\":\"ResourceNotFoundException\",\"message\":\"gone\"}"},
    };
    rig_t g;
    rig_start(&g, steps, 2, "49590338271490256608559692538361571095921575989136588898");
    kn_fetch_t f;
    ck_assert_int_eq(fetch(&g, &f), KN_OK);
    ck_assert(f.shard_end); /* a synthetic end, as the KCL makes it */
    ck_assert_ptr_null(f.result);
    ck_assert_msg(strstr(g.script.seen[0], "\"ShardIteratorType\":\"AT_SEQUENCE_NUMBER\"") &&
                  strstr(g.script.seen[0], "\"StartingSequenceNumber\":"
                                           "\"49590338271490256608559692538361571095921575989136588898\""),
                  "%s", g.script.seen[0]);
    rig_stop(&g);
}
END_TEST

START_TEST(positions_and_backoff) {
    kn_position_t pos;
    kn_esn_t e = kn_esn_sentinel(KN_ESN_LATEST);
    kn_polling_position(&e, 0, NULL, &pos);
    ck_assert_int_eq(pos.type, KN_POSITION_LATEST);
    e = kn_esn_sentinel(KN_ESN_AT_TIMESTAMP);
    kn_polling_position(&e, 1700000000123, NULL, &pos);
    ck_assert_int_eq(pos.type, KN_POSITION_AT_TIMESTAMP);
    ck_assert_int_eq(pos.timestamp_ms, 1700000000123);
    kn_polling_position(&e, 0, "555", &pos); /* after a fetch, always after it */
    ck_assert_int_eq(pos.type, KN_POSITION_AFTER_SEQUENCE_NUMBER);
    ck_assert_str_eq(pos.sequence_number, "555");
    ck_assert_int_eq(kn_polling_backoff_ms(0, 0), 0);
    ck_assert_int_lt(kn_polling_backoff_ms(1, 0), kn_polling_backoff_ms(1, 1));
    ck_assert_int_lt(kn_polling_backoff_ms(1, 0), kn_polling_backoff_ms(2, 0));
    ck_assert_int_eq(kn_polling_backoff_ms(60, 1), KN_POLLING_MAX_BACKOFF_MS);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_polling");
    TCase *tc = tcase_create("polling");
    tcase_add_test(tc, expired_iterator_and_throttling);
    tcase_add_test(tc, checkpoint_start_and_vanished_shard);
    tcase_add_test(tc, positions_and_backoff);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
