/* Lease taking and stealing decisions; the rules are in lease_taker.h. */
#include <stdlib.h>
#include <string.h>

#include "lease_taker.h"

typedef struct {
    kn_lease_t lease;
    int64_t last_change_ms; /* monotonic time of the scan that last saw the counter change */
} entry_t;

struct kn_taker_s {
    char *worker_id;
    kn_taker_conf_t conf;
    uint64_t rng;
    entry_t *entries; /* sorted by key */
    size_t n;
};

typedef struct {
    const char *owner;
    size_t count;
} owner_count_t;

kn_taker_t *kn_taker_new(const char *worker_id, const kn_taker_conf_t *conf) {
    if (!worker_id || !*worker_id || !conf || conf->failover_ms <= 0 || conf->max_leases < 0 ||
        conf->max_steal < 0)
        return NULL;
    kn_taker_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->worker_id = strdup(worker_id))) {
        free(t);
        return NULL;
    }
    t->conf = *conf;
    t->rng = conf->seed ? conf->seed : 0x9e3779b97f4a7c15ull;
    return t;
}

static void free_entries(entry_t *e, size_t n) {
    for (size_t i = 0; i < n; i++)
        kn_lease_clear(&e[i].lease);
    free(e);
}

void kn_taker_destroy(kn_taker_t *t) {
    if (!t)
        return;
    free_entries(t->entries, t->n);
    free(t->worker_id);
    free(t);
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const entry_t *)a)->lease.key, ((const entry_t *)b)->lease.key);
}

static entry_t *find(const kn_taker_t *t, const char *key) {
    entry_t probe = {.lease = {.key = (char *)key}};
    return t->n ? bsearch(&probe, t->entries, t->n, sizeof(*t->entries), entry_cmp) : NULL;
}

kn_err_t kn_taker_update(kn_taker_t *t, const kn_lease_t *leases, size_t n, int64_t scan_ms) {
    if (!t || (n && !leases))
        return KN_ERR_INVALID_ARG;
    entry_t *fresh = calloc(n ? n : 1, sizeof(*fresh));
    if (!fresh)
        return KN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (kn_lease_copy(&fresh[i].lease, &leases[i])) {
            free_entries(fresh, i);
            return KN_ERR_NOMEM;
        }
        const entry_t *old = find(t, leases[i].key);
        fresh[i].last_change_ms =
            old && old->lease.counter == leases[i].counter ? old->last_change_ms : scan_ms;
    }
    qsort(fresh, n, sizeof(*fresh), entry_cmp);
    free_entries(t->entries, t->n);
    t->entries = fresh;
    t->n = n;
    return KN_OK;
}

kn_err_t kn_taker_note_write(kn_taker_t *t, const kn_lease_t *lease, int64_t now_ms) {
    entry_t *e = t && lease ? find(t, lease->key) : NULL;
    if (!e)
        return KN_OK; /* the next scan brings it */
    kn_lease_t copy;
    if (kn_lease_copy(&copy, lease))
        return KN_ERR_NOMEM;
    kn_lease_clear(&e->lease);
    e->lease = copy;
    e->last_change_ms = now_ms;
    return KN_OK;
}

static int expired(const kn_taker_t *t, const entry_t *e, int64_t now_ms) {
    return now_ms - e->last_change_ms > t->conf.failover_ms;
}

static int very_old(const kn_taker_t *t, const entry_t *e, int64_t now_ms) {
    return e->lease.owner &&
           now_ms - e->last_change_ms > KN_LEASE_VERY_OLD_FACTOR * t->conf.failover_ms;
}

int64_t kn_taker_next_expiry(const kn_taker_t *t) {
    int64_t next = INT64_MAX;
    for (size_t i = 0; t && i < t->n; i++) {
        const entry_t *e = &t->entries[i];
        if (!e->lease.owner || !strcmp(e->lease.owner, t->worker_id) ||
            e->lease.checkpoint.kind == KN_ESN_SHARD_END)
            continue;
        int64_t at = e->last_change_ms + t->conf.failover_ms + 1;
        if (at < next)
            next = at;
    }
    return next;
}

int kn_taker_is_expired(const kn_taker_t *t, const char *key, int64_t now_ms) {
    const entry_t *e = t && key ? find(t, key) : NULL;
    return e ? expired(t, e, now_ms) : -1;
}

static int available(const kn_taker_t *t, const entry_t *e, int64_t now_ms) {
    return !e->lease.owner || expired(t, e, now_ms);
}

static uint64_t next_rand(kn_taker_t *t) {
    /* xorshift64*: cheap, and seedable for deterministic tests */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1dull;
}

static void shuffle(kn_taker_t *t, const entry_t **v, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_rand(t) % i);
        const entry_t *tmp = v[i - 1];
        v[i - 1] = v[j];
        v[j] = tmp;
    }
}

static owner_count_t *count_of(owner_count_t *oc, size_t *noc, const char *owner) {
    for (size_t i = 0; i < *noc; i++)
        if (!strcmp(oc[i].owner, owner))
            return &oc[i];
    oc[*noc].owner = owner;
    oc[*noc].count = 0;
    return &oc[(*noc)++];
}

static kn_err_t add_take(kn_take_plan_t *plan, const entry_t *e, int steal) {
    kn_take_t *tk = &plan->takes[plan->n];
    if (kn_lease_copy(&tk->lease, &e->lease))
        return KN_ERR_NOMEM;
    tk->steal = steal;
    plan->n++;
    return KN_OK;
}

/* Steals from the most loaded other worker (ties: smallest id, for determinism). */
static kn_err_t plan_steal(kn_taker_t *t, int64_t now_ms, const owner_count_t *oc, size_t noc,
                           size_t needed, const entry_t **cand, kn_take_plan_t *plan) {
    const owner_count_t *most = NULL;
    for (size_t i = 0; i < noc; i++) {
        if (!strcmp(oc[i].owner, t->worker_id))
            continue;
        if (!most || oc[i].count > most->count ||
            (oc[i].count == most->count && strcmp(oc[i].owner, most->owner) < 0))
            most = &oc[i];
    }
    if (!most)
        return KN_OK;
    size_t n = 0;
    if (most->count > plan->target)
        n = most->count - plan->target < needed ? most->count - plan->target : needed;
    else if (most->count == plan->target && needed > 1)
        n = 1;
    if ((int64_t)n > t->conf.max_steal)
        n = (size_t)t->conf.max_steal;
    if (!n)
        return KN_OK;
    size_t nc = 0;
    for (size_t i = 0; i < t->n; i++) {
        const entry_t *e = &t->entries[i];
        if (e->lease.checkpoint.kind != KN_ESN_SHARD_END && e->lease.owner &&
            !strcmp(e->lease.owner, most->owner) && !expired(t, e, now_ms))
            cand[nc++] = e;
    }
    shuffle(t, cand, nc);
    for (size_t i = 0; i < n && i < nc; i++)
        if (add_take(plan, cand[i], 1))
            return KN_ERR_NOMEM;
    return KN_OK;
}

kn_err_t kn_taker_plan(kn_taker_t *t, int64_t now_ms, kn_take_plan_t *plan) {
    if (!t || !plan)
        return KN_ERR_INVALID_ARG;
    memset(plan, 0, sizeof(*plan));
    size_t slots = t->n ? t->n : 1;
    owner_count_t *oc = calloc(slots + 1, sizeof(*oc));
    const entry_t **cand = calloc(slots, sizeof(*cand));
    plan->takes = calloc(slots, sizeof(*plan->takes));
    if (!oc || !cand || !plan->takes) {
        free(oc);
        free(cand);
        kn_take_plan_clear(plan);
        return KN_ERR_NOMEM;
    }
    size_t noc = 0, navail = 0, nold = 0;
    count_of(oc, &noc, t->worker_id);
    for (size_t i = 0; i < t->n; i++) {
        const entry_t *e = &t->entries[i];
        if (e->lease.checkpoint.kind == KN_ESN_SHARD_END)
            continue;
        plan->leases++;
        if (available(t, e, now_ms))
            cand[navail++] = e;
        else
            count_of(oc, &noc, e->lease.owner)->count++;
    }
    plan->workers = noc;
    plan->mine = oc[0].count;
    plan->target = noc >= plan->leases ? 1 : (plan->leases + noc - 1) / noc;
    if (t->conf.max_leases && plan->target > (size_t)t->conf.max_leases)
        plan->target = (size_t)t->conf.max_leases;
    size_t cap = t->conf.max_leases ? (size_t)t->conf.max_leases : SIZE_MAX;
    size_t room = cap > plan->mine ? cap - plan->mine : 0;
    shuffle(t, cand, navail);

    kn_err_t rc = KN_OK;
    /* Very old leases first, past the target: their shards have waited longest. */
    for (size_t i = 0; !rc && i < navail && plan->n < room; i++)
        if (very_old(t, cand[i], now_ms) && !(rc = add_take(plan, cand[i], 0)))
            nold++;
    size_t needed = plan->target > plan->mine ? plan->target - plan->mine : 0;
    if (!rc && !nold && needed && navail) {
        for (size_t i = 0; !rc && i < navail && plan->n < needed; i++)
            rc = add_take(plan, cand[i], 0);
    } else if (!rc && !navail && needed && t->conf.max_steal > 0) {
        rc = plan_steal(t, now_ms, oc, noc, needed, cand, plan);
    }
    free(oc);
    free(cand);
    if (rc)
        kn_take_plan_clear(plan);
    return rc;
}

void kn_take_plan_clear(kn_take_plan_t *plan) {
    if (!plan)
        return;
    for (size_t i = 0; plan->takes && i < plan->n; i++)
        kn_lease_clear(&plan->takes[i].lease);
    free(plan->takes);
    memset(plan, 0, sizeof(*plan));
}
