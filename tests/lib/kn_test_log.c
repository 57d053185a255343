#include <stdio.h>

#include "kn_test_log.h"

void kn_test_log_fn(void *opaque, kn_log_level_t level, const char *facility, const char *message) {
    kn_test_log_t *cap = opaque;
    pthread_mutex_lock(&cap->mu);
    size_t room = sizeof(cap->text) - cap->len;
    int n = snprintf(cap->text + cap->len, room, "%d [%s] %s\n", (int)level, facility, message);
    if (n > 0 && (size_t)n < room)
        cap->len += (size_t)n;
    else
        cap->text[cap->len] = '\0'; /* keep only whole lines */
    if (level >= 0 && level <= KN_LOG_TRACE)
        cap->count[level]++;
    pthread_mutex_unlock(&cap->mu);
}
