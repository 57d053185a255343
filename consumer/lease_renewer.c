/* Held leases and renewal decisions; see lease_renewer.h for the safety argument. */
#include <stdlib.h>
#include <string.h>

#include "lease_renewer.h"

/* A renewal interval below this would hammer the table; failover has a minimum too. */
#define MIN_INTERVAL_MS 100

typedef struct {
    kn_lease_t lease;
    int64_t last_ok_ms; /* when the last successful write was sent */
    uint64_t token;
} held_t;

struct kn_renewer_s {
    char *worker_id;
    int64_t failover_ms;
    held_t *held;
    size_t n, cap;
    uint64_t next_token;
};

int64_t kn_renewer_interval_ms(int64_t failover_ms) {
    int64_t i = failover_ms / 3 - KN_LEASE_EPSILON_MS;
    return i < MIN_INTERVAL_MS ? MIN_INTERVAL_MS : i;
}

kn_renewer_t *kn_renewer_new(const char *worker_id, int64_t failover_ms) {
    if (!worker_id || !*worker_id || failover_ms <= 0)
        return NULL;
    kn_renewer_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->worker_id = strdup(worker_id))) {
        free(r);
        return NULL;
    }
    r->failover_ms = failover_ms;
    r->next_token = 1;
    return r;
}

void kn_renewer_destroy(kn_renewer_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        kn_lease_clear(&r->held[i].lease);
    free(r->held);
    free(r->worker_id);
    free(r);
}

static held_t *find(const kn_renewer_t *r, const char *key) {
    for (size_t i = 0; key && i < r->n; i++)
        if (!strcmp(r->held[i].lease.key, key))
            return &r->held[i];
    return NULL;
}

static int valid(const kn_renewer_t *r, const held_t *h, int64_t now_ms) {
    return now_ms - h->last_ok_ms < r->failover_ms;
}

kn_err_t kn_renewer_add(kn_renewer_t *r, const kn_lease_t *lease, int64_t sent_ms,
                        uint64_t *token) {
    if (!r || !lease || !lease->key || !lease->owner || strcmp(lease->owner, r->worker_id))
        return KN_ERR_INVALID_ARG;
    kn_lease_t copy;
    if (kn_lease_copy(&copy, lease))
        return KN_ERR_NOMEM;
    held_t *h = find(r, lease->key);
    if (!h) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 8;
            held_t *nh = realloc(r->held, cap * sizeof(*nh));
            if (!nh) {
                kn_lease_clear(&copy);
                return KN_ERR_NOMEM;
            }
            r->held = nh;
            r->cap = cap;
        }
        h = &r->held[r->n++];
    } else {
        kn_lease_clear(&h->lease);
    }
    h->lease = copy;
    h->last_ok_ms = sent_ms;
    h->token = r->next_token++;
    if (token)
        *token = h->token;
    return KN_OK;
}

void kn_renewer_remove(kn_renewer_t *r, const char *key) {
    held_t *h = r ? find(r, key) : NULL;
    if (!h)
        return;
    kn_lease_clear(&h->lease);
    *h = r->held[--r->n];
}

size_t kn_renewer_count(const kn_renewer_t *r) {
    return r ? r->n : 0;
}

const char *kn_renewer_key_at(const kn_renewer_t *r, size_t i) {
    return r && i < r->n ? r->held[i].lease.key : NULL;
}

kn_err_t kn_renewer_get(const kn_renewer_t *r, const char *key, uint64_t token, int64_t now_ms,
                        kn_lease_t *out) {
    const held_t *h = r ? find(r, key) : NULL;
    if (!h || (token && h->token != token) || !valid(r, h, now_ms))
        return KN_ERR_LEASE_LOST;
    return out ? kn_lease_copy(out, &h->lease) : KN_OK;
}

kn_err_t kn_renewer_expected(const kn_renewer_t *r, const char *key, int64_t *counter) {
    const held_t *h = r ? find(r, key) : NULL;
    if (!h)
        return KN_ERR_LEASE_LOST;
    *counter = h->lease.counter;
    return KN_OK;
}

/* A write sent at sent_ms moved the counter from expected to expected+1. */
static void advanced(held_t *h, int64_t expected, int64_t sent_ms) {
    if (h->lease.counter != expected)
        return; /* a stale answer to an older write */
    h->lease.counter = expected + 1;
    if (sent_ms > h->last_ok_ms)
        h->last_ok_ms = sent_ms;
}

void kn_renewer_renewed(kn_renewer_t *r, const char *key, int64_t expected, int64_t sent_ms) {
    held_t *h = r ? find(r, key) : NULL;
    if (h)
        advanced(h, expected, sent_ms);
}

kn_err_t kn_renewer_updated(kn_renewer_t *r, const kn_lease_t *written, int64_t sent_ms) {
    held_t *h = r && written ? find(r, written->key) : NULL;
    if (!h)
        return KN_ERR_LEASE_LOST;
    kn_lease_t copy;
    if (kn_lease_copy(&copy, written))
        return KN_ERR_NOMEM;
    kn_lease_clear(&h->lease);
    h->lease = copy;
    if (sent_ms > h->last_ok_ms)
        h->last_ok_ms = sent_ms;
    return KN_OK;
}

kn_renew_outcome_t kn_renewer_reread(kn_renewer_t *r, const char *key, int64_t expected,
                                     const kn_lease_t *reread, int64_t sent_ms) {
    held_t *h = r ? find(r, key) : NULL;
    if (!h)
        return KN_RENEW_LOST;
    if (reread && reread->owner && !strcmp(reread->owner, r->worker_id) &&
        reread->counter == expected + 1 && h->lease.counter == expected) {
        advanced(h, expected, sent_ms);
        return KN_RENEW_OK;
    }
    kn_renewer_remove(r, key);
    return KN_RENEW_LOST;
}

size_t kn_renewer_expire(kn_renewer_t *r, int64_t now_ms,
                         void (*lost)(void *opaque, const char *key), void *opaque) {
    size_t dropped = 0;
    for (size_t i = 0; r && i < r->n;) {
        if (valid(r, &r->held[i], now_ms)) {
            i++;
            continue;
        }
        if (lost)
            lost(opaque, r->held[i].lease.key);
        kn_renewer_remove(r, r->held[i].lease.key);
        dropped++;
    }
    return dropped;
}
