/* Logging: one formatted line per call to the user's callback, or to stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static const char *level_name(kn_log_level_t level) {
    switch (level) {
    case KN_LOG_ERROR: return "ERROR";
    case KN_LOG_WARN: return "WARN";
    case KN_LOG_INFO: return "INFO";
    case KN_LOG_DEBUG: return "DEBUG";
    default: return "TRACE";
    }
}

void kn_log(const kn_logger_t *lg, kn_log_level_t level, const char *facility,
            const char *fmt, ...) {
    if (!kn_log_enabled(lg, level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (lg->fn) {
        lg->fn(lg->opaque, level, facility, msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* One fprintf so concurrent lines do not interleave. */
    fprintf(stderr, "%02d:%02d:%02d.%03ld kinesis %s [%s] %s\n", tm.tm_hour, tm.tm_min,
            tm.tm_sec, ts.tv_nsec / 1000000, level_name(level), facility, msg);
}
