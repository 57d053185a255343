/* Levelled logging through the user's callback (stderr by default). */
#ifndef KN_LOG_H
#define KN_LOG_H

#include "kinesis/common.h"

/** Where a handle sends its logs. Copied by value into every handle; no globals. */
typedef struct kn_logger_s {
    kn_log_fn *fn;      /* NULL: stderr */
    void *opaque;
    kn_log_level_t level;
} kn_logger_t;

void kn_log(const kn_logger_t *lg, kn_log_level_t level, const char *facility,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** Cheap check to skip building expensive trace messages. */
static inline int kn_log_enabled(const kn_logger_t *lg, kn_log_level_t level) {
    return lg && level <= lg->level;
}

#define KN_LOG_ERR(lg, fac, ...)  kn_log((lg), KN_LOG_ERROR, (fac), __VA_ARGS__)
#define KN_LOG_WARN(lg, fac, ...) kn_log((lg), KN_LOG_WARN, (fac), __VA_ARGS__)
#define KN_LOG_INFO(lg, fac, ...) kn_log((lg), KN_LOG_INFO, (fac), __VA_ARGS__)
#define KN_LOG_DBG(lg, fac, ...)  do { if (kn_log_enabled((lg), KN_LOG_DEBUG)) \
        kn_log((lg), KN_LOG_DEBUG, (fac), __VA_ARGS__); } while (0)
#define KN_LOG_TRACE(lg, fac, ...) do { if (kn_log_enabled((lg), KN_LOG_TRACE)) \
        kn_log((lg), KN_LOG_TRACE, (fac), __VA_ARGS__); } while (0)

#endif
