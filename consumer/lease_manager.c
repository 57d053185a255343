/* Renewal and taking cycles and conditional writes of held leases; see lease_manager.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lease_manager.h"
#include "lease_renewer.h"

struct kn_lease_manager_s {
    kn_lease_store_t store;
    char *worker_id;
    kn_clock_fn *clock;
    void *clock_opaque;
    kn_lease_events_t ev;
    int64_t failover_ms;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t key_free;
    kn_renewer_t *renewer;
    kn_taker_t *taker;
    kn_lease_t *snap; /* last scan, with this worker's writes applied */
    size_t nsnap;
    char **busy; /* keys with a write in flight */
    size_t nbusy, busy_cap;
    kn_lease_counts_t counts;
};

static int64_t now_ms(kn_lease_manager_t *m) {
    return m->clock(m->clock_opaque);
}

kn_lease_manager_t *kn_lease_manager_new(const kn_lease_store_t *store, const char *worker_id,
                                         const kn_taker_conf_t *taker, kn_clock_fn *clock,
                                         void *clock_opaque, const kn_lease_events_t *events) {
    if (!store || !worker_id || !*worker_id || !taker || !clock)
        return NULL;
    kn_lease_manager_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->store = *store;
    m->clock = clock;
    m->clock_opaque = clock_opaque;
    if (events)
        m->ev = *events;
    m->failover_ms = taker->failover_ms;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->key_free, NULL);
    m->worker_id = strdup(worker_id);
    m->renewer = kn_renewer_new(worker_id, taker->failover_ms);
    m->taker = kn_taker_new(worker_id, taker);
    if (!m->worker_id || !m->renewer || !m->taker) {
        kn_lease_manager_destroy(m);
        return NULL;
    }
    return m;
}

void kn_lease_manager_free_leases(kn_lease_t *leases, size_t n) {
    for (size_t i = 0; leases && i < n; i++)
        kn_lease_clear(&leases[i]);
    free(leases);
}

void kn_lease_manager_destroy(kn_lease_manager_t *m) {
    if (!m)
        return;
    kn_renewer_destroy(m->renewer);
    kn_taker_destroy(m->taker);
    kn_lease_manager_free_leases(m->snap, m->nsnap);
    for (size_t i = 0; i < m->nbusy; i++)
        free(m->busy[i]);
    free(m->busy);
    free(m->worker_id);
    pthread_cond_destroy(&m->key_free);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- per-lease write serialization ---- */

static int busy_index(const kn_lease_manager_t *m, const char *key) {
    for (size_t i = 0; i < m->nbusy; i++)
        if (!strcmp(m->busy[i], key))
            return (int)i;
    return -1;
}

static kn_err_t lock_key(kn_lease_manager_t *m, const char *key) {
    char *dup = strdup(key);
    if (!dup)
        return KN_ERR_NOMEM;
    pthread_mutex_lock(&m->mu);
    while (busy_index(m, key) >= 0)
        pthread_cond_wait(&m->key_free, &m->mu);
    if (m->nbusy == m->busy_cap) {
        size_t cap = m->busy_cap ? m->busy_cap * 2 : 8;
        char **nb = realloc(m->busy, cap * sizeof(*nb));
        if (!nb) {
            pthread_mutex_unlock(&m->mu);
            free(dup);
            return KN_ERR_NOMEM;
        }
        m->busy = nb;
        m->busy_cap = cap;
    }
    m->busy[m->nbusy++] = dup;
    pthread_mutex_unlock(&m->mu);
    return KN_OK;
}

static void unlock_key(kn_lease_manager_t *m, const char *key) {
    pthread_mutex_lock(&m->mu);
    int i = busy_index(m, key);
    if (i >= 0) {
        free(m->busy[i]);
        m->busy[i] = m->busy[--m->nbusy];
    }
    pthread_cond_broadcast(&m->key_free);
    pthread_mutex_unlock(&m->mu);
}

/* ---- the snapshot (under mu) ---- */

/* This worker wrote `l`: the snapshot and the taker see it before the next scan. */
static void note_write(kn_lease_manager_t *m, const kn_lease_t *l) {
    kn_taker_note_write(m->taker, l, now_ms(m));
    for (size_t i = 0; i < m->nsnap; i++) {
        if (strcmp(m->snap[i].key, l->key))
            continue;
        kn_lease_t copy;
        if (kn_lease_copy(&copy, l) == KN_OK) {
            kn_lease_clear(&m->snap[i]);
            m->snap[i] = copy;
        }
        return;
    }
}

kn_err_t kn_lease_manager_snapshot(kn_lease_manager_t *m, kn_lease_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    kn_err_t rc = KN_OK;
    kn_lease_t *copy = calloc(m->nsnap ? m->nsnap : 1, sizeof(*copy));
    size_t i = 0;
    for (; copy && i < m->nsnap; i++)
        if ((rc = kn_lease_copy(&copy[i], &m->snap[i])))
            break;
    pthread_mutex_unlock(&m->mu);
    if (!copy || rc) {
        kn_lease_manager_free_leases(copy, i);
        return KN_ERR_NOMEM;
    }
    *out = copy;
    *n = i;
    return KN_OK;
}

/* ---- renewal ---- */

static void set_err(kn_error_t **err, kn_error_t *e) {
    if (err) {
        kn_error_destroy(*err);
        *err = e;
    } else {
        kn_error_destroy(e);
    }
}

typedef struct {
    char **keys;
    size_t n;
} keylist_t;

static void collect_key(void *opaque, const char *key) {
    keylist_t *kl = opaque;
    char *dup = strdup(key);
    if (dup)
        kl->keys[kl->n++] = dup;
}

static void free_keys(keylist_t *kl) {
    for (size_t i = 0; i < kl->n; i++)
        free(kl->keys[i]);
    free(kl->keys);
}

static void report_lost(kn_lease_manager_t *m, const char *key) {
    pthread_mutex_lock(&m->mu);
    m->counts.lost++;
    pthread_mutex_unlock(&m->mu);
    if (m->ev.lost)
        m->ev.lost(m->ev.opaque, key);
}

/* Renews one held lease; returns the error of a renewal that could not be decided. */
static kn_err_t renew_one(kn_lease_manager_t *m, const char *key, kn_error_t **err) {
    kn_err_t rc = lock_key(m, key);
    if (rc)
        return rc;
    int64_t expected;
    pthread_mutex_lock(&m->mu);
    rc = kn_renewer_expected(m->renewer, key, &expected);
    pthread_mutex_unlock(&m->mu);
    if (rc) {
        unlock_key(m, key);
        return KN_OK; /* released meanwhile */
    }
    int64_t sent = now_ms(m);
    kn_error_t *e = NULL;
    rc = m->store.renew(m->store.impl, key, m->worker_id, expected, &e);
    int lost = 0;
    if (rc == KN_OK) {
        pthread_mutex_lock(&m->mu);
        kn_renewer_renewed(m->renewer, key, expected, sent);
        pthread_mutex_unlock(&m->mu);
    } else if (rc == KN_ERR_CONDITIONAL_CHECK_FAILED) {
        kn_error_destroy(e);
        e = NULL;
        kn_lease_t cur;
        rc = m->store.get(m->store.impl, key, &cur, &e);
        if (rc == KN_OK || rc == KN_ERR_RESOURCE_NOT_FOUND) {
            pthread_mutex_lock(&m->mu);
            lost = kn_renewer_reread(m->renewer, key, expected, rc == KN_OK ? &cur : NULL,
                                     sent) == KN_RENEW_LOST;
            if (rc == KN_OK)
                note_write(m, &cur);
            pthread_mutex_unlock(&m->mu);
            if (rc == KN_OK)
                kn_lease_clear(&cur);
            kn_error_destroy(e);
            e = NULL;
            rc = KN_OK;
        }
    }
    unlock_key(m, key);
    if (lost)
        report_lost(m, key);
    if (rc)
        set_err(err, e);
    else
        kn_error_destroy(e);
    return rc;
}

kn_err_t kn_lease_manager_renew(kn_lease_manager_t *m, kn_error_t **err) {
    keylist_t lapsed = {0}, held = {0};
    pthread_mutex_lock(&m->mu);
    size_t n = kn_renewer_count(m->renewer);
    lapsed.keys = calloc(n ? n : 1, sizeof(char *));
    held.keys = calloc(n ? n : 1, sizeof(char *));
    if (lapsed.keys && held.keys) {
        kn_renewer_expire(m->renewer, now_ms(m), collect_key, &lapsed);
        for (size_t i = 0; i < kn_renewer_count(m->renewer); i++)
            collect_key(&held, kn_renewer_key_at(m->renewer, i));
    }
    pthread_mutex_unlock(&m->mu);
    if (!lapsed.keys || !held.keys) {
        free(lapsed.keys);
        free(held.keys);
        return KN_ERR_NOMEM;
    }
    for (size_t i = 0; i < lapsed.n; i++)
        report_lost(m, lapsed.keys[i]);
    kn_err_t last = KN_OK;
    for (size_t i = 0; i < held.n; i++) {
        kn_err_t rc = renew_one(m, held.keys[i], err);
        if (rc)
            last = rc;
    }
    free_keys(&lapsed);
    free_keys(&held);
    return last;
}

/* ---- taking ---- */

static kn_err_t take_one(kn_lease_manager_t *m, const kn_take_t *tk) {
    kn_err_t rc = lock_key(m, tk->lease.key);
    if (rc)
        return rc;
    int64_t sent = now_ms(m);
    rc = m->store.take(m->store.impl, &tk->lease, m->worker_id, NULL);
    kn_lease_t taken;
    uint64_t token = 0;
    if (rc == KN_OK && (rc = kn_lease_copy(&taken, &tk->lease)) == KN_OK) {
        int switched = !taken.owner || strcmp(taken.owner, m->worker_id);
        if ((rc = kn_lease_set_str(&taken.owner, m->worker_id)) == KN_OK) {
            taken.counter++;
            taken.owner_switches += switched;
            pthread_mutex_lock(&m->mu);
            rc = kn_renewer_add(m->renewer, &taken, sent, &token);
            note_write(m, &taken);
            m->counts.taken += rc == KN_OK;
            m->counts.stolen += rc == KN_OK && tk->steal;
            pthread_mutex_unlock(&m->mu);
        }
        if (rc == KN_OK && m->ev.acquired)
            m->ev.acquired(m->ev.opaque, &taken, token, tk->steal);
        kn_lease_clear(&taken);
    }
    unlock_key(m, tk->lease.key);
    return rc;
}

kn_err_t kn_lease_manager_take(kn_lease_manager_t *m, size_t max_new, kn_error_t **err) {
    kn_lease_t *leases = NULL;
    size_t n = 0;
    kn_error_t *e = NULL;
    kn_err_t rc = m->store.scan(m->store.impl, &leases, &n, &e);
    if (rc) {
        set_err(err, e);
        return rc;
    }
    /* The scan's end: every change it saw was written before now, so expiry counted
     * from here never runs ahead of the holder's own validity. */
    int64_t seen = now_ms(m);
    kn_take_plan_t plan;
    pthread_mutex_lock(&m->mu);
    rc = kn_taker_update(m->taker, leases, n, seen);
    if (rc == KN_OK) {
        kn_lease_manager_free_leases(m->snap, m->nsnap);
        m->snap = leases;
        m->nsnap = n;
        leases = NULL;
        rc = kn_taker_plan(m->taker, seen, &plan);
    }
    pthread_mutex_unlock(&m->mu);
    kn_lease_manager_free_leases(leases, n);
    if (rc)
        return rc;
    for (size_t i = 0; i < plan.n && i < max_new; i++)
        take_one(m, &plan.takes[i]); /* a lost race is normal: someone else took it */
    kn_take_plan_clear(&plan);
    return KN_OK;
}

int64_t kn_lease_manager_next_expiry(kn_lease_manager_t *m) {
    pthread_mutex_lock(&m->mu);
    int64_t t = kn_taker_next_expiry(m->taker);
    pthread_mutex_unlock(&m->mu);
    return t;
}

/* ---- writes of held leases ---- */

kn_err_t kn_lease_manager_get(kn_lease_manager_t *m, const char *key, uint64_t token,
                              kn_lease_t *out) {
    pthread_mutex_lock(&m->mu);
    kn_err_t rc = kn_renewer_get(m->renewer, key, token, now_ms(m), out);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Whether the re-read item shows that our update from `expected` landed. */
static int update_landed(const kn_lease_manager_t *m, const kn_lease_t *cur,
                         const kn_lease_t *want, int64_t expected) {
    return cur->owner && !strcmp(cur->owner, m->worker_id) && cur->counter == expected + 1 &&
           !kn_esn_cmp(&cur->checkpoint, &want->checkpoint) &&
           cur->checkpoint.kind == want->checkpoint.kind && cur->has_pending == want->has_pending;
}

kn_err_t kn_lease_manager_update(kn_lease_manager_t *m, const kn_lease_t *desired,
                                 uint64_t token, kn_error_t **err) {
    if (!desired || !desired->key)
        return KN_ERR_INVALID_ARG;
    kn_err_t rc = lock_key(m, desired->key);
    if (rc)
        return rc;
    int64_t expected = 0;
    kn_lease_t want;
    memset(&want, 0, sizeof(want));
    pthread_mutex_lock(&m->mu);
    rc = kn_renewer_get(m->renewer, desired->key, token, now_ms(m), NULL);
    if (!rc)
        rc = kn_renewer_expected(m->renewer, desired->key, &expected);
    pthread_mutex_unlock(&m->mu);
    if (!rc && !(rc = kn_lease_copy(&want, desired)))
        rc = kn_lease_set_str(&want.owner, m->worker_id);
    if (rc) {
        kn_lease_clear(&want);
        unlock_key(m, desired->key);
        return rc;
    }
    want.counter = expected;
    int64_t sent = now_ms(m);
    kn_error_t *e = NULL;
    rc = m->store.update(m->store.impl, &want, expected, &e);
    int lost = 0;
    if (rc == KN_ERR_CONDITIONAL_CHECK_FAILED) {
        kn_error_destroy(e);
        e = NULL;
        kn_lease_t cur;
        kn_err_t grc = m->store.get(m->store.impl, desired->key, &cur, &e);
        if (grc == KN_OK && update_landed(m, &cur, &want, expected))
            rc = KN_OK;
        else if (grc == KN_OK || grc == KN_ERR_RESOURCE_NOT_FOUND)
            lost = 1;
        else
            rc = grc; /* undecided: the caller may retry */
        if (grc == KN_OK)
            kn_lease_clear(&cur);
    }
    pthread_mutex_lock(&m->mu);
    if (rc == KN_OK) {
        want.counter = expected + 1;
        kn_renewer_updated(m->renewer, &want, sent);
        note_write(m, &want);
    } else if (lost) {
        kn_renewer_remove(m->renewer, desired->key);
    }
    pthread_mutex_unlock(&m->mu);
    unlock_key(m, desired->key);
    kn_lease_clear(&want);
    if (lost) {
        kn_error_destroy(e);
        e = NULL;
        report_lost(m, desired->key);
        rc = KN_ERR_LEASE_LOST;
    }
    if (rc)
        set_err(err, e);
    else
        kn_error_destroy(e);
    return rc;
}

kn_err_t kn_lease_manager_release(kn_lease_manager_t *m, const char *key, uint64_t token,
                                  kn_error_t **err) {
    kn_err_t rc = lock_key(m, key);
    if (rc)
        return rc;
    int64_t expected = 0;
    kn_lease_t held;
    pthread_mutex_lock(&m->mu);
    /* Validity does not matter here: releasing a lapsed lease is still right. */
    rc = kn_renewer_get(m->renewer, key, token, INT64_MIN / 2, &held);
    if (!rc)
        kn_renewer_expected(m->renewer, key, &expected);
    pthread_mutex_unlock(&m->mu);
    if (rc) {
        unlock_key(m, key);
        return rc;
    }
    kn_error_t *e = NULL;
    rc = m->store.release(m->store.impl, key, m->worker_id, expected, &e);
    pthread_mutex_lock(&m->mu);
    kn_renewer_remove(m->renewer, key);
    if (rc == KN_OK) {
        kn_lease_set_str(&held.owner, NULL);
        held.counter = expected + 1;
        note_write(m, &held);
    }
    pthread_mutex_unlock(&m->mu);
    unlock_key(m, key);
    kn_lease_clear(&held);
    if (rc)
        set_err(err, e);
    else
        kn_error_destroy(e);
    return rc;
}

kn_err_t kn_lease_manager_create(kn_lease_manager_t *m, const kn_lease_t *l, kn_error_t **err) {
    kn_error_t *e = NULL;
    kn_err_t rc = m->store.create(m->store.impl, l, &e);
    if (rc == KN_ERR_CONDITIONAL_CHECK_FAILED)
        rc = KN_OK;
    if (rc)
        set_err(err, e);
    else
        kn_error_destroy(e);
    return rc;
}

size_t kn_lease_manager_held(kn_lease_manager_t *m) {
    pthread_mutex_lock(&m->mu);
    size_t n = kn_renewer_count(m->renewer);
    pthread_mutex_unlock(&m->mu);
    return n;
}

void kn_lease_manager_counts(kn_lease_manager_t *m, kn_lease_counts_t *out) {
    pthread_mutex_lock(&m->mu);
    *out = m->counts;
    pthread_mutex_unlock(&m->mu);
}
