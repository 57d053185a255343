/* A log callback that keeps every line in memory, for tests that inspect log output. */
#ifndef KN_TEST_LOG_H
#define KN_TEST_LOG_H

#include <pthread.h>
#include <stddef.h>

#include "kinesis/common.h"

typedef struct kn_test_log_s {
    pthread_mutex_t mu;
    char text[65536]; /* "LEVEL [facility] message\n" lines; later lines dropped when full */
    size_t len;
    int count[KN_LOG_TRACE + 1]; /* lines per level */
} kn_test_log_t;

/** A ready capture, e.g. `kn_test_log_t cap = KN_TEST_LOG_INIT;`. */
#define KN_TEST_LOG_INIT {.mu = PTHREAD_MUTEX_INITIALIZER}

/** The kn_log_fn to install, with a kn_test_log_t * as opaque. Thread-safe. */
void kn_test_log_fn(void *opaque, kn_log_level_t level, const char *facility, const char *message);

#endif
