/* Deaggregation and checkpoint filtering of retrieved records; see batch.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "batch.h"

#define NO_OFFSET SIZE_MAX

struct kn_batch_builder_s {
    kn_agg_decoder_t *dec;
    kn_user_record_t *recs;
    size_t *pk_off; /* arena offset of a copied partition key, NO_OFFSET: pointer already set */
    size_t *ehk_off;
    size_t cap;
    char *arena; /* NUL-terminated copies of keys from aggregates */
    size_t alen, acap;
    size_t *key_slots; /* per aggregate: arena offset of each partition-key table entry */
    size_t nslots;
    size_t malformed;
};

kn_batch_builder_t *kn_batch_builder_new(void) {
    kn_batch_builder_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->dec = kn_agg_decoder_new())) {
        free(b);
        return NULL;
    }
    return b;
}

void kn_batch_builder_destroy(kn_batch_builder_t *b) {
    if (!b)
        return;
    kn_agg_decoder_destroy(b->dec);
    free(b->recs);
    free(b->pk_off);
    free(b->ehk_off);
    free(b->arena);
    free(b->key_slots);
    free(b);
}

size_t kn_batch_builder_malformed(const kn_batch_builder_t *b) {
    return b ? b->malformed : 0;
}

static kn_err_t grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return KN_OK;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (!np)
        return KN_ERR_NOMEM;
    *p = np;
    *cap = n;
    return KN_OK;
}

/* Room for `need` user records in the three parallel arrays. */
static kn_err_t reserve(kn_batch_builder_t *b, size_t need) {
    if (need <= b->cap)
        return KN_OK;
    size_t n = b->cap ? b->cap : 256;
    while (n < need)
        n *= 2;
    kn_user_record_t *r = realloc(b->recs, n * sizeof(*r));
    if (!r)
        return KN_ERR_NOMEM;
    b->recs = r;
    size_t *p = realloc(b->pk_off, n * sizeof(*p));
    if (!p)
        return KN_ERR_NOMEM;
    b->pk_off = p;
    size_t *e = realloc(b->ehk_off, n * sizeof(*e));
    if (!e)
        return KN_ERR_NOMEM;
    b->ehk_off = e;
    b->cap = n;
    return KN_OK;
}

/* Copies len bytes plus a NUL into the arena; the offset goes to *off. */
static kn_err_t arena_add(kn_batch_builder_t *b, const char *s, size_t len, size_t *off) {
    if (len >= SIZE_MAX - b->alen - 1)
        return KN_ERR_NOMEM;
    kn_err_t rc = grow((void **)&b->arena, &b->acap, b->alen + len + 1, 1);
    if (rc)
        return rc;
    memcpy(b->arena + b->alen, s, len);
    b->arena[b->alen + len] = 0;
    *off = b->alen;
    b->alen += len + 1;
    return KN_OK;
}

static void plain(kn_user_record_t *u, const kn_record_t *r) {
    u->data = r->data;
    u->data_len = r->data_len;
    u->partition_key = r->partition_key;
    u->explicit_hash_key = NULL;
    u->sequence_number = r->sequence_number;
    u->subsequence_number = 0;
    u->approximate_arrival_ms = r->approximate_arrival_ms;
    u->aggregated = 0;
}

/* Appends the user records of one decoded aggregate after index `*k`. */
static kn_err_t add_aggregate(kn_batch_builder_t *b, const kn_record_t *r,
                              const kn_agg_record_t *ar, size_t nar, int64_t min_sub,
                              size_t *k) {
    size_t nkeys = kn_agg_decoder_partition_key_count(b->dec);
    kn_err_t rc = reserve(b, *k + nar);
    if (!rc)
        rc = grow((void **)&b->key_slots, &b->nslots, nkeys, sizeof(size_t));
    for (size_t i = 0; !rc && i < nkeys; i++)
        b->key_slots[i] = NO_OFFSET;
    const char *last_ehk = NULL;
    size_t last_ehk_off = NO_OFFSET;
    for (size_t i = 0; !rc && i < nar; i++) {
        if ((int64_t)i < min_sub)
            continue;
        const kn_agg_record_t *a = &ar[i];
        size_t *slot = &b->key_slots[a->partition_key_index];
        if (*slot == NO_OFFSET)
            rc = arena_add(b, a->partition_key, a->partition_key_len, slot);
        if (!rc && a->explicit_hash_key && a->explicit_hash_key != last_ehk) {
            last_ehk = a->explicit_hash_key;
            rc = arena_add(b, a->explicit_hash_key, a->explicit_hash_key_len, &last_ehk_off);
        }
        if (rc)
            break;
        kn_user_record_t *u = &b->recs[*k];
        u->data = a->data;
        u->data_len = a->data_len;
        u->partition_key = NULL;
        u->explicit_hash_key = NULL;
        u->sequence_number = r->sequence_number;
        u->subsequence_number = (int64_t)i;
        u->approximate_arrival_ms = r->approximate_arrival_ms;
        u->aggregated = 1;
        b->pk_off[*k] = *slot;
        b->ehk_off[*k] = a->explicit_hash_key ? last_ehk_off : NO_OFFSET;
        (*k)++;
    }
    return rc;
}

kn_err_t kn_batch_build(kn_batch_builder_t *b, const kn_record_t *recs, size_t n,
                        const kn_esn_t *after, const kn_user_record_t **out, size_t *count,
                        kn_esn_t *last) {
    if (!b || (n && !recs) || !out || !count)
        return KN_ERR_INVALID_ARG;
    *out = NULL;
    *count = 0;
    b->alen = 0;
    int filtering = after && after->kind == KN_ESN_NUMBER;
    size_t k = 0;
    kn_err_t rc = reserve(b, n);
    for (size_t i = 0; !rc && i < n; i++) {
        const kn_record_t *r = &recs[i];
        int64_t min_sub = 0; /* user records below this subsequence are already processed */
        if (!r->sequence_number)
            return KN_ERR_BAD_RESPONSE;
        if (filtering) {
            /* only compared numbers need checking here; the last one is parsed below */
            if (!kn_decimal_valid(r->sequence_number, KN_SEQ_MAX_DIGITS))
                return KN_ERR_BAD_RESPONSE;
            int c = kn_decimal_cmp(r->sequence_number, after->seq);
            if (c < 0)
                continue;
            if (c > 0)
                filtering = 0; /* sequence numbers only grow within a shard */
            else
                min_sub = after->subseq + 1;
        }
        const kn_agg_record_t *ar;
        size_t nar;
        if (kn_agg_is_aggregated(r->data, r->data_len)) {
            kn_err_t drc = kn_agg_decode(b->dec, r->data, r->data_len, &ar, &nar);
            if (drc == KN_OK) {
                rc = add_aggregate(b, r, ar, nar, min_sub, &k);
                continue;
            }
            if (drc == KN_ERR_NOMEM)
                return drc;
            b->malformed++;
        }
        if (min_sub > 0)
            continue; /* the plain record itself was the checkpoint */
        if (!(rc = reserve(b, k + 1))) {
            plain(&b->recs[k], r);
            b->pk_off[k] = b->ehk_off[k] = NO_OFFSET;
            k++;
        }
    }
    if (rc)
        return rc;
    /* The arena is final now: turn offsets into pointers. */
    for (size_t i = 0; i < k; i++) {
        if (b->pk_off[i] != NO_OFFSET)
            b->recs[i].partition_key = b->arena + b->pk_off[i];
        if (b->ehk_off[i] != NO_OFFSET)
            b->recs[i].explicit_hash_key = b->arena + b->ehk_off[i];
    }
    kn_esn_t end;
    if (k && kn_esn_parse(b->recs[k - 1].sequence_number, b->recs[k - 1].subsequence_number,
                          last ? last : &end))
        return KN_ERR_BAD_RESPONSE;
    *out = b->recs;
    *count = k;
    return KN_OK;
}
