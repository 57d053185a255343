/* Collects library log lines in memory so tests can assert what was (not) logged. */
#ifndef KN_TEST_LOG_H
#define KN_TEST_LOG_H

#include <pthread.h>
#include <stddef.h>

#include "kinesis/common.h"

#define KN_TEST_LOG_MAX 65536

typedef struct kn_test_log_s {
    pthread_mutex_t lock;
    char text[KN_TEST_LOG_MAX]; /* "[facility] message\n" per line; later lines dropped when full */
    size_t len;
    int lines[KN_LOG_TRACE + 1]; /* lines per level, dropped ones included */
} kn_test_log_t;

/* A ready capture, e.g. `kn_test_log_t cap = KN_TEST_LOG_INIT;` (or kn_test_log_init). */
#define KN_TEST_LOG_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}

/* Empties `c`. */
void kn_test_log_init(kn_test_log_t *c);
/* A kn_log_fn: pass it to kn_conf_set_log_fn with the kn_test_log_t as opaque. Thread-safe. */
void kn_test_log_fn(void *opaque, kn_log_level_t level, const char *facility, const char *message);

#endif
