/* Deaggregation and checkpoint filtering of retrieved records; see batch.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "batch.h"
#include "hashkey.h"
#include "md5.h"

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
    /* the shard's hash range, when known */
    int has_range;
    kn_u128_t range_lo, range_hi;
    kn_md5_t *md5;        /* hash keys of partition keys; created with the range */
    uint8_t *pk_checked;  /* per partition-key table entry: its hash key is in range */
    size_t pk_checked_cap;
    kn_batch_drop_t *drops; /* aggregates the last build dropped */
    size_t ndrops, drops_cap;
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
    kn_md5_destroy(b->md5);
    free(b->pk_checked);
    free(b->drops);
    free(b);
}

size_t kn_batch_builder_malformed(const kn_batch_builder_t *b) {
    return b ? b->malformed : 0;
}

size_t kn_batch_builder_drops(const kn_batch_builder_t *b, const kn_batch_drop_t **drops) {
    if (drops)
        *drops = b ? b->drops : NULL;
    return b ? b->ndrops : 0;
}

kn_err_t kn_batch_builder_set_hash_range(kn_batch_builder_t *b, const char *start,
                                         const char *end) {
    if (!b)
        return KN_ERR_INVALID_ARG;
    if (!start || !end) {
        b->has_range = 0;
        return KN_OK;
    }
    kn_u128_t lo, hi;
    if (kn_u128_parse_decimal(start, strlen(start), &lo) ||
        kn_u128_parse_decimal(end, strlen(end), &hi) || kn_u128_cmp(lo, hi) > 0)
        return KN_ERR_INVALID_ARG;
    if (!b->md5 && !(b->md5 = kn_md5_new()))
        return KN_ERR_NOMEM;
    b->range_lo = lo;
    b->range_hi = hi;
    b->has_range = 1;
    return KN_OK;
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

/*
 * An explicit hash key inside an aggregate, read as the KCL reads it (Java's
 * BigInteger): leading zeros allowed. Anything that is not a decimal of at most
 * 2^128-1 cannot lie in a shard's range.
 */
static int parse_ehk(const char *s, size_t len, kn_u128_t *out) {
    while (len > 1 && s[0] == '0') {
        s++;
        len--;
    }
    return kn_u128_parse_decimal(s, len, out) == KN_OK;
}

/*
 * The KCL's rule: *in is set when every user record's hash key lies in the
 * shard's range. One MD5 per distinct partition key (records share table
 * entries), one parse per run of records with the same explicit hash key.
 */
static kn_err_t aggregate_in_range(kn_batch_builder_t *b, const kn_agg_record_t *ar,
                                   size_t nar, int *in) {
    size_t nkeys = kn_agg_decoder_partition_key_count(b->dec);
    kn_err_t rc = grow((void **)&b->pk_checked, &b->pk_checked_cap, nkeys, 1);
    if (rc)
        return rc;
    if (nkeys)
        memset(b->pk_checked, 0, nkeys);
    const char *last_ehk = NULL; /* the last explicit hash key found in range */
    *in = 0;
    for (size_t i = 0; i < nar; i++) {
        const kn_agg_record_t *a = &ar[i];
        kn_u128_t h;
        if (a->explicit_hash_key) {
            if (a->explicit_hash_key == last_ehk)
                continue;
            if (!parse_ehk(a->explicit_hash_key, a->explicit_hash_key_len, &h))
                return KN_OK;
        } else {
            if (b->pk_checked[a->partition_key_index])
                continue;
            if ((rc = kn_hashkey_from_partition_key_md5(b->md5, a->partition_key,
                                                        a->partition_key_len, &h)))
                return rc;
        }
        if (kn_u128_cmp(h, b->range_lo) < 0 || kn_u128_cmp(h, b->range_hi) > 0)
            return KN_OK;
        if (a->explicit_hash_key)
            last_ehk = a->explicit_hash_key;
        else
            b->pk_checked[a->partition_key_index] = 1;
    }
    *in = 1;
    return KN_OK;
}

static kn_err_t note_drop(kn_batch_builder_t *b, const kn_record_t *r, size_t nar) {
    kn_err_t rc = grow((void **)&b->drops, &b->drops_cap, b->ndrops + 1, sizeof(*b->drops));
    if (!rc)
        b->drops[b->ndrops++] = (kn_batch_drop_t){r->sequence_number, nar};
    return rc;
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
    b->ndrops = 0;
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
                int in = 1;
                if (b->has_range && (rc = aggregate_in_range(b, ar, nar, &in)))
                    break;
                rc = in ? add_aggregate(b, r, ar, nar, min_sub, &k) : note_drop(b, r, nar);
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
