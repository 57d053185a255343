/* The DynamoDB lease table: creation and conditional lease writes; see lease_table.h. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_table.h"

#define LOG_FAC "lease_table"

struct kn_lease_table_s {
    kn_dynamodb_t *ddb;
    char *table;
    kn_logger_t lg;
    atomic_uint_least64_t calls;
};

kn_lease_table_t *kn_lease_table_new(kn_dynamodb_t *ddb, const char *table,
                                     const kn_logger_t *lg) {
    if (!ddb || !table || !*table)
        return NULL;
    kn_lease_table_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->table = strdup(table))) {
        free(t);
        return NULL;
    }
    t->ddb = ddb;
    if (lg)
        t->lg = *lg;
    atomic_init(&t->calls, 0);
    return t;
}

void kn_lease_table_destroy(kn_lease_table_t *t) {
    if (!t)
        return;
    free(t->table);
    free(t);
}

uint64_t kn_lease_table_calls(const kn_lease_table_t *t) {
    return t ? atomic_load(&((kn_lease_table_t *)t)->calls) : 0;
}

static void count(kn_lease_table_t *t) {
    atomic_fetch_add(&t->calls, 1);
}

kn_err_t kn_lease_table_ensure(kn_lease_table_t *t, int64_t timeout_ms, kn_error_t **err) {
    kn_table_status_t status;
    kn_error_t *e = NULL;
    count(t);
    kn_err_t rc = kn_dynamodb_describe_table(t->ddb, t->table, &status, NULL, &e);
    if (rc == KN_OK && status == KN_TABLE_STATUS_ACTIVE)
        return KN_OK;
    if (rc == KN_ERR_RESOURCE_NOT_FOUND) {
        kn_error_destroy(e);
        e = NULL;
        KN_LOG_INFO(&t->lg, LOG_FAC, "creating lease table %s (PAY_PER_REQUEST)", t->table);
        kn_ddb_key_schema_t key = {"leaseKey", 'S', NULL, 0};
        count(t);
        rc = kn_dynamodb_create_table(t->ddb, t->table, &key, NULL, 0, &e);
        if (rc == KN_ERR_RESOURCE_IN_USE) { /* another worker is creating it */
            kn_error_destroy(e);
            e = NULL;
            rc = KN_OK;
        }
    }
    if (rc == KN_OK) {
        count(t);
        rc = kn_dynamodb_wait_table_active(t->ddb, t->table, timeout_ms, &e);
    }
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
    return rc;
}

/* ---- expressions ---- */

void kn_lease_write_clear(kn_lease_write_t *w) {
    cJSON_Delete(w->names);
    cJSON_Delete(w->values);
    memset(w, 0, sizeof(*w));
}

static kn_err_t write_begin(kn_lease_write_t *w) {
    memset(w, 0, sizeof(*w));
    w->names = cJSON_CreateObject();
    w->values = cJSON_CreateObject();
    return w->names && w->values ? KN_OK : KN_ERR_NOMEM;
}

/* Adds the placeholder #alias for attribute `attr`. */
static int name(kn_lease_write_t *w, const char *alias, const char *attr) {
    return cJSON_AddStringToObject(w->names, alias, attr) ? 0 : -1;
}

static kn_err_t write_end(kn_lease_write_t *w, int rc) {
    if (rc) {
        kn_lease_write_clear(w);
        return KN_ERR_NOMEM;
    }
    return KN_OK;
}

/* The common condition: this owner at this counter. */
static int owned_at(kn_lease_write_t *w, const char *owner, int64_t expected) {
    snprintf(w->condition, sizeof(w->condition), "#lc = :c AND #lo = :o");
    return name(w, "#lc", "leaseCounter") | name(w, "#lo", "leaseOwner") |
           kn_ddb_put(w->values, ":c", kn_ddb_n(expected)) |
           kn_ddb_put(w->values, ":c1", kn_ddb_n(expected + 1)) |
           kn_ddb_put(w->values, ":o", kn_ddb_s(owner));
}

kn_err_t kn_lease_write_renew(kn_lease_write_t *w, const char *owner, int64_t expected) {
    if (!owner)
        return KN_ERR_INVALID_ARG;
    if (write_begin(w))
        return write_end(w, -1);
    snprintf(w->update, sizeof(w->update), "SET #lc = :c1");
    return write_end(w, owned_at(w, owner, expected));
}

kn_err_t kn_lease_write_take(kn_lease_write_t *w, const kn_lease_t *scanned,
                             const char *new_owner) {
    if (!scanned || !new_owner)
        return KN_ERR_INVALID_ARG;
    if (write_begin(w))
        return write_end(w, -1);
    int switched = !scanned->owner || strcmp(scanned->owner, new_owner);
    /* checkpointOwner: a KCL 3.x handoff marker, void once the lease changes hands */
    snprintf(w->update, sizeof(w->update), "SET #lo = :o, #lc = :c1 REMOVE #co%s",
             switched ? " ADD #os :one" : "");
    snprintf(w->condition, sizeof(w->condition), "#lc = :c");
    int rc = name(w, "#lc", "leaseCounter") | name(w, "#lo", "leaseOwner") |
             name(w, "#co", "checkpointOwner") |
             kn_ddb_put(w->values, ":c", kn_ddb_n(scanned->counter)) |
             kn_ddb_put(w->values, ":c1", kn_ddb_n(scanned->counter + 1)) |
             kn_ddb_put(w->values, ":o", kn_ddb_s(new_owner));
    if (switched)
        rc |= name(w, "#os", "ownerSwitchesSinceCheckpoint") |
              kn_ddb_put(w->values, ":one", kn_ddb_n(1));
    return write_end(w, rc);
}

kn_err_t kn_lease_write_update(kn_lease_write_t *w, const kn_lease_t *l, int64_t expected) {
    if (!l || !l->owner)
        return KN_ERR_INVALID_ARG;
    if (write_begin(w))
        return write_end(w, -1);
    int rc = owned_at(w, l->owner, expected);
    rc |= name(w, "#cp", "checkpoint") | name(w, "#cs", "checkpointSubSequenceNumber") |
          name(w, "#os", "ownerSwitchesSinceCheckpoint") | name(w, "#pc", "pendingCheckpoint") |
          name(w, "#ps", "pendingCheckpointSubSequenceNumber") |
          name(w, "#pst", "pendingCheckpointState") |
          kn_ddb_put(w->values, ":cp", kn_ddb_s(kn_esn_str(&l->checkpoint))) |
          kn_ddb_put(w->values, ":cs", kn_ddb_n(l->checkpoint.subseq)) |
          kn_ddb_put(w->values, ":os", kn_ddb_n(l->owner_switches));
    size_t n = (size_t)snprintf(w->update, sizeof(w->update),
                                "SET #lc = :c1, #cp = :cp, #cs = :cs, #os = :os");
    if (l->has_pending) {
        rc |= kn_ddb_put(w->values, ":pc", kn_ddb_s(kn_esn_str(&l->pending))) |
              kn_ddb_put(w->values, ":ps", kn_ddb_n(l->pending.subseq));
        n += (size_t)snprintf(w->update + n, sizeof(w->update) - n, ", #pc = :pc, #ps = :ps");
    }
    if (l->nchildren) {
        rc |= name(w, "#ch", "childShardIds") |
              kn_ddb_put(w->values, ":ch",
                         kn_ddb_ss((const char *const *)l->children, l->nchildren));
        n += (size_t)snprintf(w->update + n, sizeof(w->update) - n, ", #ch = :ch");
    }
    /* The KCL keeps no application state with a pending checkpoint written here. */
    snprintf(w->update + n, sizeof(w->update) - n, "%s",
             l->has_pending ? " REMOVE #pst" : " REMOVE #pc, #ps, #pst");
    return write_end(w, rc);
}

kn_err_t kn_lease_write_release(kn_lease_write_t *w, const char *owner, int64_t expected) {
    if (!owner)
        return KN_ERR_INVALID_ARG;
    if (write_begin(w))
        return write_end(w, -1);
    snprintf(w->update, sizeof(w->update), "REMOVE #lo SET #lc = :c1");
    return write_end(w, owned_at(w, owner, expected));
}

/* ---- store operations ---- */

static cJSON *key_of(const char *key) {
    cJSON *k = cJSON_CreateObject();
    if (k && kn_ddb_put(k, "leaseKey", kn_ddb_s(key))) {
        cJSON_Delete(k);
        return NULL;
    }
    return k;
}

static kn_err_t nomem(kn_error_t **err) {
    if (err)
        *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
    return KN_ERR_NOMEM;
}

static kn_err_t do_update(kn_lease_table_t *t, const char *key, kn_err_t built,
                          kn_lease_write_t *w, kn_error_t **err) {
    if (built) {
        kn_lease_write_clear(w);
        return built == KN_ERR_NOMEM ? nomem(err) : built;
    }
    cJSON *k = key_of(key);
    if (!k) {
        kn_lease_write_clear(w);
        return nomem(err);
    }
    kn_ddb_write_t opts = {w->condition, w->update, w->names, w->values, NULL};
    count(t);
    kn_err_t rc = kn_dynamodb_update_item(t->ddb, t->table, k, &opts, NULL, err);
    cJSON_Delete(k);
    kn_lease_write_clear(w);
    return rc;
}

static kn_err_t st_scan(void *impl, kn_lease_t **out, size_t *n, kn_error_t **err) {
    kn_lease_table_t *t = impl;
    kn_ddb_read_t opts = {0};
    opts.consistent = 1;
    cJSON *items = NULL;
    count(t);
    kn_err_t rc = kn_dynamodb_scan_all(t->ddb, t->table, &opts, &items, err);
    if (rc)
        return rc;
    size_t cap = (size_t)cJSON_GetArraySize(items);
    kn_lease_t *leases = calloc(cap ? cap : 1, sizeof(*leases));
    if (!leases) {
        cJSON_Delete(items);
        return nomem(err);
    }
    size_t k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, items) {
        if (!kn_lease_item_is_lease(item))
            continue;
        kn_error_t *e = NULL;
        kn_err_t prc = kn_lease_from_item(item, &leases[k], &e);
        if (prc == KN_OK) {
            k++;
        } else if (prc == KN_ERR_NOMEM) {
            kn_error_destroy(e);
            kn_lease_manager_free_leases(leases, k);
            cJSON_Delete(items);
            return nomem(err);
        } else {
            /* One bad row must not stop every worker; it is left alone. */
            KN_LOG_WARN(&t->lg, LOG_FAC, "skipping a malformed item in %s: %s", t->table,
                        kn_error_message(e));
        }
        kn_error_destroy(e);
    }
    cJSON_Delete(items);
    *out = leases;
    *n = k;
    return KN_OK;
}

static kn_err_t st_get(void *impl, const char *key, kn_lease_t *out, kn_error_t **err) {
    kn_lease_table_t *t = impl;
    cJSON *k = key_of(key), *item = NULL;
    if (!k)
        return nomem(err);
    count(t);
    kn_err_t rc = kn_dynamodb_get_item(t->ddb, t->table, k, 1, &item, err);
    cJSON_Delete(k);
    if (rc)
        return rc;
    if (!item || !kn_lease_item_is_lease(item)) {
        cJSON_Delete(item);
        if (err)
            *err = kn_error_new(KN_ERR_RESOURCE_NOT_FOUND, "no lease %s in %s", key, t->table);
        return KN_ERR_RESOURCE_NOT_FOUND;
    }
    rc = kn_lease_from_item(item, out, err);
    cJSON_Delete(item);
    return rc;
}

static kn_err_t st_create(void *impl, const kn_lease_t *l, kn_error_t **err) {
    kn_lease_table_t *t = impl;
    cJSON *item = kn_lease_to_item(l);
    if (!item)
        return nomem(err);
    kn_ddb_write_t opts = {"attribute_not_exists(leaseKey)", NULL, NULL, NULL, NULL};
    count(t);
    kn_err_t rc = kn_dynamodb_put_item(t->ddb, t->table, item, &opts, NULL, err);
    cJSON_Delete(item);
    return rc;
}

static kn_err_t st_renew(void *impl, const char *key, const char *owner, int64_t expected,
                         kn_error_t **err) {
    kn_lease_write_t w;
    kn_err_t built = kn_lease_write_renew(&w, owner, expected);
    return do_update(impl, key, built, &w, err);
}

static kn_err_t st_take(void *impl, const kn_lease_t *scanned, const char *new_owner,
                        kn_error_t **err) {
    kn_lease_write_t w;
    kn_err_t built = kn_lease_write_take(&w, scanned, new_owner);
    return do_update(impl, scanned->key, built, &w, err);
}

static kn_err_t st_update(void *impl, const kn_lease_t *l, int64_t expected, kn_error_t **err) {
    kn_lease_write_t w;
    kn_err_t built = kn_lease_write_update(&w, l, expected);
    return do_update(impl, l->key, built, &w, err);
}

static kn_err_t st_release(void *impl, const char *key, const char *owner, int64_t expected,
                           kn_error_t **err) {
    kn_lease_write_t w;
    kn_err_t built = kn_lease_write_release(&w, owner, expected);
    return do_update(impl, key, built, &w, err);
}

kn_lease_store_t kn_lease_table_store(kn_lease_table_t *t) {
    kn_lease_store_t s = {t, st_scan, st_get, st_create, st_renew, st_take, st_update, st_release};
    return s;
}

kn_err_t kn_lease_table_delete(kn_lease_table_t *t, const char *key, kn_error_t **err) {
    cJSON *k = key_of(key);
    if (!k)
        return nomem(err);
    count(t);
    kn_err_t rc = kn_dynamodb_delete_item(t->ddb, t->table, k, NULL, NULL, err);
    cJSON_Delete(k);
    return rc;
}
