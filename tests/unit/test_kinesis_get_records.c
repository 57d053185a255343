/*
 * kn_kinesis_get_records() against a scripted Kinesis on 127.0.0.1: the reply
 * is read from its text (the service call's decode hook), error replies are
 * still service errors, an unreadable 2xx reply is KN_ERR_BAD_RESPONSE with the
 * status and request id, and retriable failures are retried before decoding.
 */
#include <pthread.h>
#include <string.h>

#include "kinesis_api.h"
#include "kn_consumer_test.h"
#include "kn_test.h"
#include "kn_test_server.h"

/* GetRecords once against scripted replies; *e gets the error, if any. */
static kn_err_t get(const kct_step_t *steps, int n, int attempts, kn_get_records_result_t **out,
                    kn_error_t **e) {
    kn_test_safe_env();
    kct_script_t s = {.steps = steps, .n = n};
    pthread_mutex_init(&s.mu, NULL);
    kn_test_server_t *srv = kn_test_server_start(kct_script_serve, &s);
    char url[64], err[256], tries[8];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_server_port(srv));
    snprintf(tries, sizeof(tries), "%d", attempts);
    kn_conf_t *conf = kn_conf_new();
    kn_conf_set(conf, "kinesis.endpoint.url", url, NULL, 0);
    kn_conf_set(conf, "retry.max.attempts", tries, NULL, 0);
    kn_conf_set(conf, "retry.backoff.base.ms", "1", NULL, 0);
    kn_conf_set(conf, "log.level", "error", NULL, 0);
    kn_kinesis_t *k = kn_kinesis_new(conf, err, sizeof(err));
    ck_assert_msg(k != NULL, "%s", err);
    kn_conf_destroy(conf);
    kn_err_t rc = kn_kinesis_get_records(k, "iterator", 100, out, e);
    kn_kinesis_destroy(k);
    kn_test_server_stop(srv);
    pthread_mutex_destroy(&s.mu);
    ck_assert_int_eq(s.next, n); /* every scripted reply was asked for */
    return rc;
}

START_TEST(reply_read_from_text) {
    const kct_step_t steps[] = {
        {"GetRecords", 200,
         "{\"Records\":[{\"SequenceNumber\":\"42\",\"Data\":\"aGVsbG8=\",\"PartitionKey\":\"k\","
         "\"ApproximateArrivalTimestamp\":1700000000.5}],\"NextShardIterator\":\"next\","
         "\"MillisBehindLatest\":7}"}};
    kn_get_records_result_t *r = NULL;
    kn_error_t *e = NULL;
    ck_assert_int_eq(get(steps, 1, 1, &r, &e), KN_OK);
    ck_assert_ptr_null(e);
    ck_assert_uint_eq(r->record_count, 1);
    ck_assert_uint_eq(r->records[0].data_len, 5);
    ck_assert(!memcmp(r->records[0].data, "hello", 5));
    ck_assert_str_eq(r->records[0].sequence_number, "42");
    ck_assert_int_eq(r->records[0].approximate_arrival_ms, 1700000000500);
    ck_assert_str_eq(r->next_shard_iterator, "next");
    ck_assert_int_eq(r->millis_behind_latest, 7);
    kn_get_records_result_destroy(r);
}
END_TEST

START_TEST(error_replies_and_unreadable_ones) {
    const kct_step_t expired[] = {
        {"GetRecords", 400,
         "{\"__type\":\"ExpiredIteratorException\",\"message\":\"Iterator expired\"}"}};
    kn_get_records_result_t *r = NULL;
    kn_error_t *e = NULL;
    ck_assert_int_eq(get(expired, 1, 1, &r, &e), KN_ERR_EXPIRED_ITERATOR);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(kn_error_type(e), "ExpiredIteratorException");
    kn_error_destroy(e);
    e = NULL;
    const kct_step_t bad[] = {
        {"GetRecords", 200,
         "{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"!!\",\"PartitionKey\":\"k\"}]}"}};
    ck_assert_int_eq(get(bad, 1, 3, &r, &e), KN_ERR_BAD_RESPONSE); /* not retried */
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(kn_error_message(e), "'Data' is not valid base64"));
    ck_assert_int_eq(kn_error_http_status(e), 200);
    ck_assert_str_eq(kn_error_request_id(e), "scripted");
    kn_error_destroy(e);
}
END_TEST

START_TEST(retried_before_decoding) {
    const kct_step_t steps[] = {{"GetRecords", 500, "{\"__type\":\"InternalFailure\"}"},
                                {"GetRecords", 200, "{\"Records\":[]}"}};
    kn_get_records_result_t *r = NULL;
    kn_error_t *e = NULL;
    ck_assert_int_eq(get(steps, 2, 2, &r, &e), KN_OK);
    ck_assert_uint_eq(r->record_count, 0);
    ck_assert_ptr_null(r->next_shard_iterator);
    kn_get_records_result_destroy(r);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kinesis_get_records");
    TCase *tc = tcase_create("get_records");
    tcase_add_test(tc, reply_read_from_text);
    tcase_add_test(tc, error_replies_and_unreadable_ones);
    tcase_add_test(tc, retried_before_decoding);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
