/*
 * Lease <-> DynamoDB item, exactly as the KCL 2.x DynamoDBLeaseSerializer
 * names and types the attributes, and extended sequence number ordering.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"

static const char *const esn_names[] = {
    [KN_ESN_TRIM_HORIZON] = "TRIM_HORIZON",
    [KN_ESN_LATEST] = "LATEST",
    [KN_ESN_AT_TIMESTAMP] = "AT_TIMESTAMP",
    [KN_ESN_NUMBER] = NULL,
    [KN_ESN_SHARD_END] = "SHARD_END",
};

/* 2^128 - 1, the largest hash key. */
static const char max_hash_key[] = "340282366920938463463374607431768211455";

/* Longest decimal digits an int64 attribute may have (9223372036854775807). */
#define INT64_MAX_DIGITS 19

kn_esn_t kn_esn_sentinel(kn_esn_kind_t kind) {
    kn_esn_t e;
    memset(&e, 0, sizeof(e));
    e.kind = kind == KN_ESN_NUMBER ? KN_ESN_TRIM_HORIZON : kind;
    return e;
}

int kn_decimal_valid(const char *s, size_t max_digits) {
    if (!s || !*s)
        return 0;
    size_t n = strspn(s, "0123456789");
    if (s[n] || n > max_digits)
        return 0;
    return n == 1 || s[0] != '0';
}

int kn_decimal_cmp(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    return (c > 0) - (c < 0);
}

int kn_hash_key_valid(const char *s) {
    return kn_decimal_valid(s, KN_HASH_KEY_MAX_DIGITS) && kn_decimal_cmp(s, max_hash_key) <= 0;
}

kn_err_t kn_esn_parse(const char *text, int64_t subseq, kn_esn_t *out) {
    if (!text || !out || subseq < 0)
        return KN_ERR_INVALID_ARG;
    for (int k = 0; k <= KN_ESN_SHARD_END; k++) {
        if (esn_names[k] && !strcmp(text, esn_names[k])) {
            *out = kn_esn_sentinel((kn_esn_kind_t)k);
            out->subseq = subseq;
            return KN_OK;
        }
    }
    if (!kn_decimal_valid(text, KN_SEQ_MAX_DIGITS))
        return KN_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    out->kind = KN_ESN_NUMBER;
    memcpy(out->seq, text, strlen(text) + 1);
    out->subseq = subseq;
    return KN_OK;
}

const char *kn_esn_str(const kn_esn_t *e) {
    if (!e)
        return "";
    return e->kind == KN_ESN_NUMBER ? e->seq : esn_names[e->kind];
}

/* LATEST and AT_TIMESTAMP share a rank. */
static int esn_rank(kn_esn_kind_t k) {
    return k == KN_ESN_AT_TIMESTAMP ? KN_ESN_LATEST : (int)k;
}

int kn_esn_cmp(const kn_esn_t *a, const kn_esn_t *b) {
    int ra = esn_rank(a->kind), rb = esn_rank(b->kind);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (a->kind == KN_ESN_NUMBER) {
        int c = kn_decimal_cmp(a->seq, b->seq);
        if (c)
            return c;
    }
    return (a->subseq > b->subseq) - (a->subseq < b->subseq);
}

/* ---- lease struct ---- */

void kn_lease_clear(kn_lease_t *l) {
    if (!l)
        return;
    free(l->key);
    free(l->owner);
    for (size_t i = 0; i < l->nparents; i++)
        free(l->parents[i]);
    for (size_t i = 0; i < l->nchildren; i++)
        free(l->children[i]);
    free(l->starting_hash_key);
    free(l->ending_hash_key);
    memset(l, 0, sizeof(*l));
}

kn_err_t kn_lease_set_str(char **field, const char *value) {
    char *dup = NULL;
    if (value && !(dup = strdup(value)))
        return KN_ERR_NOMEM;
    free(*field);
    *field = dup;
    return KN_OK;
}

kn_err_t kn_lease_copy(kn_lease_t *dst, const kn_lease_t *src) {
    *dst = *src;
    dst->key = dst->owner = dst->starting_hash_key = dst->ending_hash_key = NULL;
    dst->nparents = dst->nchildren = 0;
    int rc = kn_lease_set_str(&dst->key, src->key) | kn_lease_set_str(&dst->owner, src->owner) |
             kn_lease_set_str(&dst->starting_hash_key, src->starting_hash_key) |
             kn_lease_set_str(&dst->ending_hash_key, src->ending_hash_key);
    for (size_t i = 0; !rc && i < src->nparents; i++)
        rc = kn_lease_add_relative(dst->parents, &dst->nparents, src->parents[i]);
    for (size_t i = 0; !rc && i < src->nchildren; i++)
        rc = kn_lease_add_relative(dst->children, &dst->nchildren, src->children[i]);
    if (rc) {
        kn_lease_clear(dst);
        return KN_ERR_NOMEM;
    }
    return KN_OK;
}

int kn_lease_has_relative(char *const *list, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], id))
            return 1;
    return 0;
}

kn_err_t kn_lease_add_relative(char **list, size_t *n, const char *id) {
    if (!id || !*id)
        return KN_ERR_INVALID_ARG;
    if (kn_lease_has_relative(list, *n, id))
        return KN_OK;
    if (*n >= KN_LEASE_MAX_RELATIVES)
        return KN_ERR_TOO_LARGE;
    if (!(list[*n] = strdup(id)))
        return KN_ERR_NOMEM;
    (*n)++;
    return KN_OK;
}

/* ---- item writing ---- */

static int add_typed(cJSON *item, const char *name, const char *type, const char *value) {
    cJSON *av = cJSON_CreateObject();
    if (!av || !cJSON_AddStringToObject(av, type, value)) {
        cJSON_Delete(av);
        return -1;
    }
    cJSON_AddItemToObject(item, name, av);
    return 0;
}

static int add_n(cJSON *item, const char *name, int64_t v) {
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return add_typed(item, name, "N", buf);
}

static int add_ss(cJSON *item, const char *name, char *const *ids, size_t n) {
    if (!n)
        return 0; /* DynamoDB rejects empty sets; the KCL omits them */
    cJSON *av = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateStringArray((const char *const *)ids, (int)n);
    if (!av || !arr) {
        cJSON_Delete(av);
        cJSON_Delete(arr);
        return -1;
    }
    cJSON_AddItemToObject(av, "SS", arr);
    cJSON_AddItemToObject(item, name, av);
    return 0;
}

cJSON *kn_lease_to_item(const kn_lease_t *l) {
    if (!l || !l->key)
        return NULL;
    cJSON *item = cJSON_CreateObject();
    if (!item)
        return NULL;
    int rc = add_typed(item, "leaseKey", "S", l->key);
    if (l->owner)
        rc |= add_typed(item, "leaseOwner", "S", l->owner);
    rc |= add_n(item, "leaseCounter", l->counter);
    rc |= add_n(item, "ownerSwitchesSinceCheckpoint", l->owner_switches);
    rc |= add_typed(item, "checkpoint", "S", kn_esn_str(&l->checkpoint));
    rc |= add_n(item, "checkpointSubSequenceNumber", l->checkpoint.subseq);
    if (l->has_pending) {
        rc |= add_typed(item, "pendingCheckpoint", "S", kn_esn_str(&l->pending));
        rc |= add_n(item, "pendingCheckpointSubSequenceNumber", l->pending.subseq);
    }
    rc |= add_ss(item, "parentShardId", l->parents, l->nparents);
    rc |= add_ss(item, "childShardIds", l->children, l->nchildren);
    if (l->starting_hash_key && l->ending_hash_key) {
        rc |= add_typed(item, "startingHashKey", "S", l->starting_hash_key);
        rc |= add_typed(item, "endingHashKey", "S", l->ending_hash_key);
    }
    if (rc) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

/* ---- item reading ---- */

typedef struct {
    kn_error_t **err;
} rd_t;

static kn_err_t bad(rd_t *rd, const char *attr, const char *what) {
    if (rd->err && !*rd->err)
        *rd->err = kn_error_new(KN_ERR_BAD_RESPONSE, "lease item: attribute %s %s", attr, what);
    return KN_ERR_BAD_RESPONSE;
}

/* The value of a typed attribute, NULL when absent; *rc set when present with another type. */
static const cJSON *typed(rd_t *rd, const cJSON *item, const char *attr, const char *type,
                          kn_err_t *rc) {
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(item, attr);
    if (!av || cJSON_IsNull(av))
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(av, type);
    if (!cJSON_IsObject(av) || !v) {
        *rc = bad(rd, attr, "has the wrong type");
        return NULL;
    }
    return v;
}

static kn_err_t read_str(rd_t *rd, const cJSON *item, const char *attr, size_t max, int required,
                         const char **out) {
    kn_err_t rc = KN_OK;
    const cJSON *v = typed(rd, item, attr, "S", &rc);
    *out = NULL;
    if (rc)
        return rc;
    if (!v)
        return required ? bad(rd, attr, "is missing") : KN_OK;
    if (!cJSON_IsString(v) || !v->valuestring || !*v->valuestring)
        return bad(rd, attr, "is not a non-empty string");
    if (strlen(v->valuestring) > max)
        return bad(rd, attr, "is too long");
    *out = v->valuestring;
    return KN_OK;
}

/* A non-negative integer N attribute; absent: *out untouched. */
static kn_err_t read_n(rd_t *rd, const cJSON *item, const char *attr, int required,
                       int64_t *out) {
    kn_err_t rc = KN_OK;
    const cJSON *v = typed(rd, item, attr, "N", &rc);
    if (rc)
        return rc;
    if (!v)
        return required ? bad(rd, attr, "is missing") : KN_OK;
    if (!cJSON_IsString(v) || !kn_decimal_valid(v->valuestring, INT64_MAX_DIGITS))
        return bad(rd, attr, "is not a non-negative integer");
    errno = 0;
    long long n = strtoll(v->valuestring, NULL, 10);
    if (errno)
        return bad(rd, attr, "is out of range");
    *out = n;
    return KN_OK;
}

static kn_err_t read_ss(rd_t *rd, const cJSON *item, const char *attr, char **list,
                        size_t *n) {
    kn_err_t rc = KN_OK;
    const cJSON *v = typed(rd, item, attr, "SS", &rc);
    if (rc || !v)
        return rc;
    if (!cJSON_IsArray(v))
        return bad(rd, attr, "is not a string set");
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e) || !e->valuestring || !*e->valuestring ||
            strlen(e->valuestring) > KN_LEASE_KEY_MAX)
            return bad(rd, attr, "holds a bad shard id");
        rc = kn_lease_add_relative(list, n, e->valuestring);
        if (rc == KN_ERR_TOO_LARGE)
            return bad(rd, attr, "holds too many shard ids");
        if (rc)
            return rc;
    }
    return KN_OK;
}

static kn_err_t read_esn(rd_t *rd, const cJSON *item, const char *attr, const char *sub_attr,
                         int required, kn_esn_t *out, int *present) {
    const char *s;
    int64_t sub = 0;
    kn_err_t rc = read_str(rd, item, attr, KN_SEQ_MAX_DIGITS, required, &s);
    if (!rc)
        rc = read_n(rd, item, sub_attr, 0, &sub);
    if (rc)
        return rc;
    *present = s != NULL;
    if (s && kn_esn_parse(s, sub, out) != KN_OK)
        return bad(rd, attr, "is neither a sequence number nor a sentinel");
    return KN_OK;
}

int kn_lease_item_is_lease(const cJSON *item) {
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(item, "entityType");
    const cJSON *s = av ? cJSON_GetObjectItemCaseSensitive(av, "S") : NULL;
    if (!av)
        return cJSON_IsObject(item);
    return cJSON_IsString(s) && !strcmp(s->valuestring, "LEASE");
}

kn_err_t kn_lease_from_item(const cJSON *item, kn_lease_t *out, kn_error_t **err) {
    rd_t rd = {err};
    if (!out)
        return KN_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(item))
        return bad(&rd, "(item)", "is not an object");
    const char *key, *owner, *start, *end;
    int present;
    kn_err_t rc = read_str(&rd, item, "leaseKey", KN_LEASE_KEY_MAX, 1, &key);
    if (!rc)
        rc = read_str(&rd, item, "leaseOwner", KN_WORKER_ID_MAX, 0, &owner);
    if (!rc)
        rc = read_n(&rd, item, "leaseCounter", 1, &out->counter);
    if (!rc)
        rc = read_n(&rd, item, "ownerSwitchesSinceCheckpoint", 0, &out->owner_switches);
    /* A lease the KCL created always has a checkpoint; be lenient like its deserializer. */
    out->checkpoint = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    if (!rc)
        rc = read_esn(&rd, item, "checkpoint", "checkpointSubSequenceNumber", 0, &out->checkpoint,
                      &present);
    if (!rc)
        rc = read_esn(&rd, item, "pendingCheckpoint", "pendingCheckpointSubSequenceNumber", 0,
                      &out->pending, &out->has_pending);
    if (!rc)
        rc = read_ss(&rd, item, "parentShardId", out->parents, &out->nparents);
    if (!rc)
        rc = read_ss(&rd, item, "childShardIds", out->children, &out->nchildren);
    if (!rc)
        rc = read_str(&rd, item, "startingHashKey", KN_HASH_KEY_MAX_DIGITS, 0, &start);
    if (!rc)
        rc = read_str(&rd, item, "endingHashKey", KN_HASH_KEY_MAX_DIGITS, 0, &end);
    if (!rc && start && !kn_hash_key_valid(start))
        rc = bad(&rd, "startingHashKey", "is not a hash key");
    if (!rc && end && !kn_hash_key_valid(end))
        rc = bad(&rd, "endingHashKey", "is not a hash key");
    if (!rc && (!start) != (!end))
        rc = bad(&rd, start ? "endingHashKey" : "startingHashKey", "is missing");
    if (!rc && (kn_lease_set_str(&out->key, key) || kn_lease_set_str(&out->owner, owner) ||
                kn_lease_set_str(&out->starting_hash_key, start) ||
                kn_lease_set_str(&out->ending_hash_key, end)))
        rc = KN_ERR_NOMEM;
    if (rc)
        kn_lease_clear(out);
    return rc;
}
