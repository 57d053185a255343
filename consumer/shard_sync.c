/* Lease creation decisions from ListShards; the rules are in shard_sync.h. */
#include <stdlib.h>
#include <string.h>

#include "shard_sync.h"

enum { ST_NEW = 0, ST_VISITING, ST_DONE };
enum { D_SKIP = 0, D_LEASED, D_CREATE };

typedef struct {
    const kn_shard_info_t *shards;
    size_t n;
    const kn_shard_info_t **by_id; /* sorted by id */
    const char **lease_keys;       /* sorted */
    size_t nleases;
    unsigned char *state;
    unsigned char *decision;
    unsigned char *leased_descendant;
    size_t *stack;
} sync_t;

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int shard_ptr_cmp(const void *a, const void *b) {
    return strcmp((*(const kn_shard_info_t *const *)a)->id,
                  (*(const kn_shard_info_t *const *)b)->id);
}

static int has_lease(const sync_t *s, const char *id) {
    return id && s->nleases &&
           bsearch(&id, s->lease_keys, s->nleases, sizeof(*s->lease_keys), str_cmp);
}

/* Index of shard `id` in s->shards, or -1. */
static long shard_index(const sync_t *s, const char *id) {
    if (!id || !s->n)
        return -1;
    kn_shard_info_t probe = {.id = id};
    const kn_shard_info_t *pp = &probe;
    const kn_shard_info_t **hit = bsearch(&pp, s->by_id, s->n, sizeof(*s->by_id), shard_ptr_cmp);
    return hit ? (long)(*hit - s->shards) : -1;
}

static void free_sync(sync_t *s) {
    free(s->by_id);
    free(s->lease_keys);
    free(s->state);
    free(s->decision);
    free(s->leased_descendant);
    free(s->stack);
}

static kn_err_t init_sync(sync_t *s, const kn_shard_info_t *shards, size_t n,
                          const kn_lease_t *leases, size_t nleases) {
    memset(s, 0, sizeof(*s));
    s->shards = shards;
    s->n = n;
    s->nleases = nleases;
    size_t m = n ? n : 1;
    s->by_id = calloc(m, sizeof(*s->by_id));
    s->lease_keys = calloc(nleases ? nleases : 1, sizeof(*s->lease_keys));
    s->state = calloc(m, 1);
    s->decision = calloc(m, 1);
    s->leased_descendant = calloc(m, 1);
    s->stack = calloc(2 * m, sizeof(*s->stack)); /* mark_ancestors may push a shard twice */
    if (!s->by_id || !s->lease_keys || !s->state || !s->decision || !s->leased_descendant ||
        !s->stack)
        return KN_ERR_NOMEM;
    for (size_t i = 0; i < nleases; i++) {
        if (!leases[i].key)
            return KN_ERR_INVALID_ARG;
        s->lease_keys[i] = leases[i].key;
    }
    qsort(s->lease_keys, nleases, sizeof(*s->lease_keys), str_cmp);
    for (size_t i = 0; i < n; i++) {
        const kn_shard_info_t *sh = &shards[i];
        if (!sh->id || !*sh->id || strlen(sh->id) > KN_LEASE_KEY_MAX ||
            (sh->starting_hash_key && !kn_hash_key_valid(sh->starting_hash_key)) ||
            (sh->ending_hash_key && !kn_hash_key_valid(sh->ending_hash_key)))
            return KN_ERR_INVALID_ARG;
        s->by_id[i] = sh;
    }
    qsort(s->by_id, n, sizeof(*s->by_id), shard_ptr_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(s->by_id[i - 1]->id, s->by_id[i]->id))
            return KN_ERR_INVALID_ARG;
    return KN_OK;
}

/* Marks every ancestor of a leased shard: they are history already read. */
static void mark_ancestors(sync_t *s) {
    size_t top = 0;
    for (size_t i = 0; i < s->n; i++)
        if (has_lease(s, s->shards[i].id))
            s->stack[top++] = i;
    while (top) {
        const kn_shard_info_t *sh = &s->shards[s->stack[--top]];
        const char *ps[2] = {sh->parent, sh->adjacent_parent};
        for (int k = 0; k < 2; k++) {
            long p = shard_index(s, ps[k]);
            if (p >= 0 && !s->leased_descendant[p]) {
                s->leased_descendant[p] = 1;
                s->stack[top++] = (size_t)p;
            }
        }
    }
}

static kn_esn_kind_t decide(sync_t *s, size_t i, kn_esn_kind_t initial) {
    const kn_shard_info_t *sh = &s->shards[i];
    if (has_lease(s, sh->id)) {
        s->decision[i] = D_LEASED;
        return initial;
    }
    if (s->leased_descendant[i]) {
        s->decision[i] = D_SKIP;
        return initial;
    }
    const char *ps[2] = {sh->parent, sh->adjacent_parent};
    int after_leased = 0, after_created = 0;
    for (int k = 0; k < 2; k++) {
        long p = shard_index(s, ps[k]);
        after_leased |= has_lease(s, ps[k]);
        after_created |= p >= 0 && s->decision[p] == D_CREATE;
    }
    if (after_leased || after_created) {
        s->decision[i] = D_CREATE;
        /* Read completely after its parents; only a lineage started at a timestamp
         * skips what came before it, in the children too. */
        return !after_leased && initial == KN_ESN_AT_TIMESTAMP ? KN_ESN_AT_TIMESTAMP
                                                              : KN_ESN_TRIM_HORIZON;
    }
    s->decision[i] = initial == KN_ESN_LATEST && sh->closed ? D_SKIP : D_CREATE;
    return initial;
}

/* Parents first, iteratively (lineages can be long); a parent cycle is bad input. */
static kn_err_t resolve(sync_t *s, size_t start, kn_esn_kind_t initial, kn_esn_kind_t *kinds) {
    size_t top = 0;
    s->stack[top++] = start;
    s->state[start] = ST_VISITING;
    while (top) {
        size_t i = s->stack[top - 1];
        const kn_shard_info_t *sh = &s->shards[i];
        const char *ps[2] = {sh->parent, sh->adjacent_parent};
        int pushed = 0;
        for (int k = 0; k < 2 && !pushed; k++) {
            long p = shard_index(s, ps[k]);
            if (p < 0 || s->state[p] == ST_DONE)
                continue;
            if (s->state[p] == ST_VISITING)
                return KN_ERR_INVALID_ARG;
            s->state[p] = ST_VISITING;
            s->stack[top++] = (size_t)p;
            pushed = 1;
        }
        if (pushed)
            continue;
        kinds[i] = decide(s, i, initial);
        s->state[i] = ST_DONE;
        top--;
    }
    return KN_OK;
}

static kn_err_t new_lease(kn_lease_t *l, const kn_shard_info_t *sh, kn_esn_kind_t kind) {
    memset(l, 0, sizeof(*l));
    l->checkpoint = kn_esn_sentinel(kind);
    kn_err_t rc = kn_lease_set_str(&l->key, sh->id);
    if (!rc && sh->parent)
        rc = kn_lease_add_relative(l->parents, &l->nparents, sh->parent);
    if (!rc && sh->adjacent_parent)
        rc = kn_lease_add_relative(l->parents, &l->nparents, sh->adjacent_parent);
    if (!rc && sh->starting_hash_key && sh->ending_hash_key)
        rc = kn_lease_set_str(&l->starting_hash_key, sh->starting_hash_key) ?
                 KN_ERR_NOMEM : kn_lease_set_str(&l->ending_hash_key, sh->ending_hash_key);
    if (rc)
        kn_lease_clear(l);
    return rc;
}

void kn_shard_sync_free(kn_lease_t *leases, size_t n) {
    for (size_t i = 0; leases && i < n; i++)
        kn_lease_clear(&leases[i]);
    free(leases);
}

kn_err_t kn_shard_sync_plan(const kn_shard_info_t *shards, size_t nshards,
                            const kn_lease_t *leases, size_t nleases, kn_esn_kind_t initial,
                            kn_lease_t **out, size_t *nout) {
    if (!out || !nout || (nshards && !shards) || (nleases && !leases) ||
        (initial != KN_ESN_TRIM_HORIZON && initial != KN_ESN_LATEST &&
         initial != KN_ESN_AT_TIMESTAMP))
        return KN_ERR_INVALID_ARG;
    *out = NULL;
    *nout = 0;
    sync_t s;
    kn_esn_kind_t *kinds = calloc(nshards ? nshards : 1, sizeof(*kinds));
    kn_err_t rc = kinds ? init_sync(&s, shards, nshards, leases, nleases) : KN_ERR_NOMEM;
    if (!rc)
        mark_ancestors(&s);
    for (size_t i = 0; !rc && i < nshards; i++)
        if (s.state[i] != ST_DONE)
            rc = resolve(&s, i, initial, kinds);
    size_t ncreate = 0;
    for (size_t i = 0; !rc && i < nshards; i++)
        ncreate += s.decision[i] == D_CREATE;
    kn_lease_t *res = NULL;
    if (!rc && ncreate && !(res = calloc(ncreate, sizeof(*res))))
        rc = KN_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; !rc && i < nshards; i++)
        if (s.decision[i] == D_CREATE && !(rc = new_lease(&res[k], &shards[i], kinds[i])))
            k++;
    if (kinds)
        free_sync(&s);
    free(kinds);
    if (rc) {
        kn_shard_sync_free(res, k);
        return rc;
    }
    *out = res;
    *nout = k;
    return KN_OK;
}

int kn_shard_sync_parents_done(const kn_lease_t *child, const kn_lease_t *leases,
                               size_t nleases) {
    for (size_t p = 0; p < child->nparents; p++)
        for (size_t i = 0; i < nleases; i++)
            if (!strcmp(leases[i].key, child->parents[p]) &&
                leases[i].checkpoint.kind != KN_ESN_SHARD_END)
                return 0;
    return 1;
}

kn_err_t kn_shard_sync_children(const char *parent, const kn_shard_info_t *children,
                                size_t nchildren, kn_lease_t **out, size_t *nout) {
    if (!parent || !out || !nout || (nchildren && !children))
        return KN_ERR_INVALID_ARG;
    *out = NULL;
    *nout = 0;
    for (size_t i = 0; i < nchildren; i++) {
        const kn_shard_info_t *c = &children[i];
        if (!c->id || !*c->id || strlen(c->id) > KN_LEASE_KEY_MAX ||
            !((c->parent && !strcmp(c->parent, parent)) ||
              (c->adjacent_parent && !strcmp(c->adjacent_parent, parent))) ||
            (c->starting_hash_key && !kn_hash_key_valid(c->starting_hash_key)) ||
            (c->ending_hash_key && !kn_hash_key_valid(c->ending_hash_key)))
            return KN_ERR_BAD_RESPONSE;
    }
    if (!nchildren)
        return KN_OK;
    kn_lease_t *res = calloc(nchildren, sizeof(*res));
    if (!res)
        return KN_ERR_NOMEM;
    for (size_t i = 0; i < nchildren; i++) {
        if (new_lease(&res[i], &children[i], KN_ESN_TRIM_HORIZON)) {
            kn_shard_sync_free(res, i);
            return KN_ERR_NOMEM;
        }
    }
    *out = res;
    *nout = nchildren;
    return KN_OK;
}

kn_err_t kn_shard_sync_infos(const kn_shard_list_t *list, kn_shard_info_t **out) {
    *out = calloc(list->count ? list->count : 1, sizeof(**out));
    if (!*out)
        return KN_ERR_NOMEM;
    for (size_t i = 0; i < list->count; i++) {
        const kn_shard_t *sh = &list->shards[i];
        kn_shard_info_t *in = &(*out)[i];
        in->id = sh->shard_id;
        in->parent = sh->parent_shard_id;
        in->adjacent_parent = sh->adjacent_parent_shard_id;
        in->starting_hash_key = sh->starting_hash_key;
        in->ending_hash_key = sh->ending_hash_key;
        in->closed = sh->ending_sequence_number != NULL;
    }
    return KN_OK;
}

kn_err_t kn_shard_sync_children_of(const char *parent, const kn_shard_info_t *shards, size_t n,
                                   kn_lease_t **out, size_t *nout) {
    if (!parent || (n && !shards) || !out || !nout)
        return KN_ERR_INVALID_ARG;
    kn_shard_info_t *kids = calloc(n ? n : 1, sizeof(*kids));
    if (!kids)
        return KN_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((shards[i].parent && !strcmp(shards[i].parent, parent)) ||
            (shards[i].adjacent_parent && !strcmp(shards[i].adjacent_parent, parent)))
            kids[k++] = shards[i];
    kn_err_t rc = kn_shard_sync_children(parent, kids, k, out, nout);
    free(kids);
    return rc;
}
