/* Errors, error objects and the configuration table. */
#include <string.h>

#include "conf.h"
#include "err.h"
#include "kn_test.h"

START_TEST(err_names) {
    ck_assert_str_eq(kn_err2name(KN_OK), "KN_OK");
    ck_assert_str_eq(kn_err2name(KN_ERR_QUEUE_FULL), "KN_ERR_QUEUE_FULL");
    ck_assert_str_eq(kn_err2name(KN_ERR_CONDITIONAL_CHECK_FAILED), "KN_ERR_CONDITIONAL_CHECK_FAILED");
    ck_assert_str_eq(kn_err2name((kn_err_t)12345), "KN_ERR_UNKNOWN");
    /* every code in both ranges has a distinct name and a description */
    for (int c = KN_ERR_INVALID_ARG; c < KN_ERR__SVC_END; c++) {
        if (c == KN_ERR__LIB_END || (c > KN_ERR__LIB_END && c < KN_OK))
            continue;
        ck_assert_msg(strcmp(kn_err2name((kn_err_t)c), "KN_ERR_UNKNOWN"), "code %d unnamed", c);
        ck_assert_msg(strcmp(kn_err2str((kn_err_t)c), "Unknown error code"), "code %d", c);
    }
}
END_TEST

START_TEST(aws_types_map) {
    ck_assert_int_eq(kn_err_from_aws_type("ResourceNotFoundException"), KN_ERR_RESOURCE_NOT_FOUND);
    ck_assert_int_eq(kn_err_from_aws_type("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"),
                     KN_ERR_CONDITIONAL_CHECK_FAILED);
    ck_assert_int_eq(kn_err_from_aws_type("ExpiredIteratorException:http://internal.amazon.com/"),
                     KN_ERR_EXPIRED_ITERATOR);
    ck_assert_int_eq(kn_err_from_aws_type("KMSSomethingNewException"), KN_ERR_KMS);
    ck_assert_int_eq(kn_err_from_aws_type("NoSuchThing"), KN_ERR_SERVICE);
    ck_assert_int_eq(kn_err_from_aws_type(NULL), KN_ERR_SERVICE);
}
END_TEST

START_TEST(service_error_object) {
    kn_error_t *e = kn_error_from_service(
        400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "slow down", "req-1");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(kn_error_code(e), KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED);
    ck_assert_str_eq(kn_error_type(e), "ProvisionedThroughputExceededException");
    ck_assert_str_eq(kn_error_message(e), "slow down");
    ck_assert_str_eq(kn_error_request_id(e), "req-1");
    ck_assert_int_eq(kn_error_http_status(e), 400);
    ck_assert(kn_error_is_retriable(e));
    kn_error_t *c = kn_error_copy(e);
    kn_error_destroy(e);
    char buf[256];
    kn_error_format(c, buf, sizeof(buf));
    ck_assert_str_eq(buf, "KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED: slow down "
                          "(ProvisionedThroughputExceededException, HTTP 400, request id req-1)");
    kn_error_destroy(c);

    e = kn_error_from_service(502, NULL, NULL, NULL);
    ck_assert_int_eq(kn_error_code(e), KN_ERR_INTERNAL_FAILURE);
    ck_assert(kn_error_is_retriable(e));
    kn_error_destroy(e);
    e = kn_error_from_service(400, "ValidationException", "bad", NULL);
    ck_assert(!kn_error_is_retriable(e));
    kn_error_destroy(e);
    kn_error_destroy(NULL);
}
END_TEST

START_TEST(conf_set_get) {
    kn_conf_t *conf = kn_conf_new();
    char err[256], buf[64];
    ck_assert_int_eq(kn_conf_get(conf, "request.timeout.ms", buf, sizeof(buf)), KN_OK);
    ck_assert_str_eq(buf, "30000");
    ck_assert_int_eq(kn_conf_set(conf, "request.timeout.ms", "5000", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(conf->request_timeout_ms, 5000);
    ck_assert_int_eq(kn_conf_set(conf, "request.timeout.ms", "5", err, sizeof(err)), KN_ERR_INVALID_ARG);
    ck_assert_str_eq(err, "request.timeout.ms: 5 is outside [100, 600000]");
    ck_assert_int_eq(kn_conf_set(conf, "request.timeout.ms", "12x", err, sizeof(err)), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_conf_set(conf, "request.timeout.ms", "", err, sizeof(err)), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_conf_set(conf, "no.such", "1", err, sizeof(err)), KN_ERR_UNKNOWN_PROPERTY);
    ck_assert_str_eq(err, "no configuration property named \"no.such\"");
    ck_assert_int_eq(kn_conf_set(conf, NULL, "1", err, sizeof(err)), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_conf_set(NULL, "region", "x", NULL, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "debug", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(conf->log_level, KN_LOG_DEBUG);
    ck_assert_int_eq(kn_conf_get(conf, "log.level", buf, sizeof(buf)), KN_OK);
    ck_assert_str_eq(buf, "debug");
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "loud", err, sizeof(err)), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_conf_set(conf, "tls.verify", "false", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(conf->tls_verify, 0);
    ck_assert_int_eq(kn_conf_set(conf, "tls.verify", "maybe", err, sizeof(err)), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_conf_set(conf, "http.version", "2", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(conf->http_version, KN_HTTP_2);
    /* secrets never read back */
    ck_assert_int_eq(kn_conf_set(conf, "credentials.secret.access.key", "s3cr3t", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_get(conf, "credentials.secret.access.key", buf, sizeof(buf)), KN_OK);
    ck_assert_str_eq(buf, "[redacted]");
    ck_assert_int_eq(kn_conf_set(conf, "region", "eu-west-1", err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_get(conf, "region", buf, 4), KN_ERR_TOO_LARGE);

    kn_conf_t *dup = kn_conf_dup(conf);
    kn_conf_destroy(conf);
    ck_assert_str_eq(dup->region, "eu-west-1");
    ck_assert_str_eq(dup->secret_access_key, "s3cr3t");
    kn_conf_destroy(dup);
    kn_conf_destroy(NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("conf_err");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, err_names);
    tcase_add_test(tc, aws_types_map);
    tcase_add_test(tc, service_error_object);
    tcase_add_test(tc, conf_set_get);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
