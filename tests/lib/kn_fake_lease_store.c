/* In-memory lease table with DynamoDB-like conditional writes, for unit tests. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kn_fake_lease_store.h"

struct kn_fake_store_s {
    pthread_mutex_t mu;
    kn_lease_t *items;
    size_t n, cap;
    int fail_n;
    kn_err_t fail_code;
    int lose_n;
    unsigned long calls;
};

kn_fake_store_t *kn_fake_store_new(void) {
    kn_fake_store_t *fs = calloc(1, sizeof(*fs));
    if (fs)
        pthread_mutex_init(&fs->mu, NULL);
    return fs;
}

void kn_fake_store_destroy(kn_fake_store_t *fs) {
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++)
        kn_lease_clear(&fs->items[i]);
    free(fs->items);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
}

static kn_lease_t *find(kn_fake_store_t *fs, const char *key) {
    for (size_t i = 0; i < fs->n; i++)
        if (!strcmp(fs->items[i].key, key))
            return &fs->items[i];
    return NULL;
}

static void put_locked(kn_fake_store_t *fs, const kn_lease_t *l) {
    kn_lease_t *cur = find(fs, l->key);
    if (!cur) {
        if (fs->n == fs->cap) {
            fs->cap = fs->cap ? fs->cap * 2 : 16;
            fs->items = realloc(fs->items, fs->cap * sizeof(*fs->items));
        }
        cur = &fs->items[fs->n++];
    } else {
        kn_lease_clear(cur);
    }
    kn_lease_copy(cur, l);
}

kn_lease_t kn_fake_lease(const char *key, const char *owner, int64_t counter) {
    kn_lease_t l;
    memset(&l, 0, sizeof(l));
    kn_lease_set_str(&l.key, key);
    kn_lease_set_str(&l.owner, owner);
    l.counter = counter;
    l.checkpoint = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    return l;
}

void kn_fake_store_put(kn_fake_store_t *fs, const kn_lease_t *l) {
    pthread_mutex_lock(&fs->mu);
    put_locked(fs, l);
    pthread_mutex_unlock(&fs->mu);
}

/* Begins a call: the injected failure, if any. */
static kn_err_t enter(kn_fake_store_t *fs, kn_error_t **err) {
    pthread_mutex_lock(&fs->mu);
    fs->calls++;
    if (fs->fail_n > 0) {
        fs->fail_n--;
        if (err)
            *err = kn_error_new(fs->fail_code, "injected failure");
        pthread_mutex_unlock(&fs->mu);
        return fs->fail_code;
    }
    return KN_OK;
}

/* Ends a write that took effect: its reply may be "lost". */
static kn_err_t leave_write(kn_fake_store_t *fs, kn_err_t rc, kn_error_t **err) {
    if (rc == KN_OK && fs->lose_n > 0) {
        fs->lose_n--;
        rc = KN_ERR_TIMED_OUT;
        if (err)
            *err = kn_error_new(rc, "injected lost reply");
    } else if (rc == KN_ERR_CONDITIONAL_CHECK_FAILED && err) {
        *err = kn_error_new(rc, "The conditional request failed");
    }
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

static kn_err_t f_scan(void *impl, kn_lease_t **out, size_t *n, kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    *out = calloc(fs->n ? fs->n : 1, sizeof(**out));
    for (size_t i = 0; i < fs->n; i++)
        kn_lease_copy(&(*out)[i], &fs->items[i]);
    *n = fs->n;
    pthread_mutex_unlock(&fs->mu);
    return KN_OK;
}

static kn_err_t f_get(void *impl, const char *key, kn_lease_t *out, kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    kn_lease_t *cur = find(fs, key);
    rc = cur ? kn_lease_copy(out, cur) : KN_ERR_RESOURCE_NOT_FOUND;
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

static kn_err_t f_create(void *impl, const kn_lease_t *l, kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    if (find(fs, l->key))
        return leave_write(fs, KN_ERR_CONDITIONAL_CHECK_FAILED, err);
    put_locked(fs, l);
    return leave_write(fs, KN_OK, err);
}

static int owned_by(const kn_lease_t *l, const char *owner) {
    return l->owner && owner && !strcmp(l->owner, owner);
}

static kn_err_t f_renew(void *impl, const char *key, const char *owner, int64_t expected,
                        kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    kn_lease_t *cur = find(fs, key);
    if (!cur || !owned_by(cur, owner) || cur->counter != expected)
        return leave_write(fs, KN_ERR_CONDITIONAL_CHECK_FAILED, err);
    cur->counter++;
    return leave_write(fs, KN_OK, err);
}

static kn_err_t f_take(void *impl, const kn_lease_t *scanned, const char *new_owner,
                       kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    kn_lease_t *cur = find(fs, scanned->key);
    if (!cur || cur->counter != scanned->counter)
        return leave_write(fs, KN_ERR_CONDITIONAL_CHECK_FAILED, err);
    if (!owned_by(cur, new_owner))
        cur->owner_switches++;
    kn_lease_set_str(&cur->owner, new_owner);
    cur->counter++;
    return leave_write(fs, KN_OK, err);
}

static kn_err_t f_update(void *impl, const kn_lease_t *l, int64_t expected, kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    kn_lease_t *cur = find(fs, l->key);
    if (!cur || !owned_by(cur, l->owner) || cur->counter != expected)
        return leave_write(fs, KN_ERR_CONDITIONAL_CHECK_FAILED, err);
    cur->checkpoint = l->checkpoint;
    cur->has_pending = l->has_pending;
    cur->pending = l->pending;
    cur->owner_switches = l->owner_switches;
    for (size_t i = 0; i < l->nchildren; i++)
        kn_lease_add_relative(cur->children, &cur->nchildren, l->children[i]);
    cur->counter++;
    return leave_write(fs, KN_OK, err);
}

static kn_err_t f_release(void *impl, const char *key, const char *owner, int64_t expected,
                          kn_error_t **err) {
    kn_fake_store_t *fs = impl;
    kn_err_t rc = enter(fs, err);
    if (rc)
        return rc;
    kn_lease_t *cur = find(fs, key);
    if (!cur || !owned_by(cur, owner) || cur->counter != expected)
        return leave_write(fs, KN_ERR_CONDITIONAL_CHECK_FAILED, err);
    kn_lease_set_str(&cur->owner, NULL);
    cur->counter++;
    return leave_write(fs, KN_OK, err);
}

kn_lease_store_t kn_fake_store_ops(kn_fake_store_t *fs) {
    kn_lease_store_t s = {fs, f_scan, f_get, f_create, f_renew, f_take, f_update, f_release};
    return s;
}

kn_err_t kn_fake_store_get(kn_fake_store_t *fs, const char *key, kn_lease_t *out) {
    pthread_mutex_lock(&fs->mu);
    kn_lease_t *cur = find(fs, key);
    kn_err_t rc = cur ? kn_lease_copy(out, cur) : KN_ERR_RESOURCE_NOT_FOUND;
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

size_t kn_fake_store_count(kn_fake_store_t *fs) {
    pthread_mutex_lock(&fs->mu);
    size_t n = fs->n;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

size_t kn_fake_store_owned_by(kn_fake_store_t *fs, const char *owner) {
    pthread_mutex_lock(&fs->mu);
    size_t c = 0;
    for (size_t i = 0; i < fs->n; i++)
        c += owner ? owned_by(&fs->items[i], owner) : !fs->items[i].owner;
    pthread_mutex_unlock(&fs->mu);
    return c;
}

void kn_fake_store_fail_next(kn_fake_store_t *fs, int n, kn_err_t code) {
    pthread_mutex_lock(&fs->mu);
    fs->fail_n = n;
    fs->fail_code = code;
    pthread_mutex_unlock(&fs->mu);
}

void kn_fake_store_lose_replies(kn_fake_store_t *fs, int n) {
    pthread_mutex_lock(&fs->mu);
    fs->lose_n = n;
    pthread_mutex_unlock(&fs->mu);
}

unsigned long kn_fake_store_calls(kn_fake_store_t *fs) {
    pthread_mutex_lock(&fs->mu);
    unsigned long c = fs->calls;
    pthread_mutex_unlock(&fs->mu);
    return c;
}
