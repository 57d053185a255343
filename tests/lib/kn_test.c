#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kn_test.h"

static const char *env_or_null(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *kn_test_kinesis_endpoint(void) { return env_or_null("KN_TEST_KINESIS_ENDPOINT"); }
const char *kn_test_kinesis_tls_endpoint(void) { return env_or_null("KN_TEST_KINESIS_TLS_ENDPOINT"); }
const char *kn_test_dynamodb_endpoint(void) { return env_or_null("KN_TEST_DYNAMODB_ENDPOINT"); }
const char *kn_test_kinesalite_endpoint(void) { return env_or_null("KN_TEST_KINESALITE_ENDPOINT"); }

void kn_test_safe_env(void) {
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST", 0);
    setenv("AWS_SECRET_ACCESS_KEY", "testsecretkeytestsecretkeytestsecretkey0", 0);
    setenv("AWS_REGION", "us-east-1", 0);
}

void kn_test_require_peers(void) {
    kn_test_safe_env();
    if (!kn_test_kinesis_endpoint() || !kn_test_dynamodb_endpoint() ||
        !kn_test_kinesalite_endpoint()) {
        fprintf(stderr, "peers not running (source tests/peers/peers.sh env): skipped\n");
        exit(77);
    }
    setenv("AWS_ENDPOINT_URL_KINESIS", kn_test_kinesis_endpoint(), 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", kn_test_dynamodb_endpoint(), 1);
}

const char *kn_test_unique_name(const char *prefix, char *buf, size_t size) {
    static int counter; /* test programs are single-threaded here */
    snprintf(buf, size, "%s-%ld-%d", prefix, (long)getpid(), ++counter);
    return buf;
}
