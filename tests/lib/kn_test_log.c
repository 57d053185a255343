#include <stdio.h>
#include <string.h>

#include "kn_test_log.h"

void kn_test_log_init(kn_test_log_t *c) {
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void kn_test_log_fn(void *opaque, kn_log_level_t level, const char *facility, const char *message) {
    kn_test_log_t *c = opaque;
    pthread_mutex_lock(&c->lock);
    size_t room = sizeof(c->text) - c->len;
    int n = snprintf(c->text + c->len, room, "[%s] %s\n", facility, message);
    if (n > 0 && (size_t)n < room)
        c->len += (size_t)n;
    else
        c->text[c->len] = '\0'; /* keep only whole lines */
    if (level >= 0 && level <= KN_LOG_TRACE)
        c->lines[level]++;
    pthread_mutex_unlock(&c->lock);
}
