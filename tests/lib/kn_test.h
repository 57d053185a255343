/* Helpers shared by the Check test programs. */
#ifndef KN_TEST_H
#define KN_TEST_H

#include <check.h>
#include <stdlib.h>

/* Defines main() running one suite; exit status 0 iff every test passed. */
#define KN_TEST_MAIN(suite_fn)                                                   \
    int main(void) {                                                             \
        SRunner *sr = srunner_create(suite_fn());                                \
        srunner_run_all(sr, CK_NORMAL);                                          \
        int failed = srunner_ntests_failed(sr);                                  \
        srunner_free(sr);                                                        \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                             \
    }

/*
 * Peer endpoints exported by tests/peers/peers.sh. Integration tests call
 * kn_test_require_peers() first: without the variables the test exits 77
 * (skipped) when run by hand; tests/run.sh always provides them.
 */
const char *kn_test_kinesis_endpoint(void);    /* kinesis-local, plain HTTP */
const char *kn_test_kinesis_tls_endpoint(void);/* kinesis-local, TLS (or NULL) */
const char *kn_test_dynamodb_endpoint(void);   /* dynalite */
const char *kn_test_kinesalite_endpoint(void); /* kinesalite */
void kn_test_require_peers(void);

/* A name unique to this process and call, e.g. "test-1234-7", for streams and tables. */
const char *kn_test_unique_name(const char *prefix, char *buf, size_t size);

/* Sets the environment every test must have: no IMDS, dummy credentials, a region. */
void kn_test_safe_env(void);

#endif
