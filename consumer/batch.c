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
    /* MD5 checks of the aggregates of one build, all at once: per record */
    const uint8_t **rec_p;
    size_t *rec_n;
    uint8_t *rec_ok; /* the record is an aggregate whose digest matches */
    size_t rec_cap;
    /* the shard's hash range, when known */
    int has_range;
    kn_u128_t range_lo, range_hi;
    /* hash keys of one aggregate's partition keys, all at once */
    size_t *hash_slot; /* per partition-key table entry: its digest's index, or NO_OFFSET */
    const uint8_t **hash_p;
    size_t *hash_n;
    uint8_t (*hash_md5)[KN_MD5_LEN];
    size_t hash_cap;
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
    free(b->rec_p);
    free(b->rec_n);
    free(b->rec_ok);
    free(b->hash_slot);
    free(b->hash_p);
    free(b->hash_n);
    free(b->hash_md5);
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
    b->range_lo = lo;
    b->range_hi = hi;
    b->has_range = 1;
    return KN_OK;
}

/*
 * Room for `need` elements in `count` parallel arrays sharing *cap. An array
 * already grown stays grown when a later one fails; *cap moves only when all did.
 */
static kn_err_t grow_arrays(size_t *cap, size_t need, size_t count, void **const arrays[],
                            const size_t elem[]) {
    if (need <= *cap)
        return KN_OK;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    for (size_t i = 0; i < count; i++) {
        void *np = realloc(*arrays[i], n * elem[i]);
        if (!np)
            return KN_ERR_NOMEM;
        *arrays[i] = np;
    }
    *cap = n;
    return KN_OK;
}

static kn_err_t grow(void **p, size_t *cap, size_t need, size_t elem) {
    void **const arrays[] = {p};
    return grow_arrays(cap, need, 1, arrays, &elem);
}

/* Room for `need` user records in the three parallel arrays. */
static kn_err_t reserve(kn_batch_builder_t *b, size_t need) {
    void **const arrays[] = {(void **)&b->recs, (void **)&b->pk_off, (void **)&b->ehk_off};
    const size_t elem[] = {sizeof(*b->recs), sizeof(*b->pk_off), sizeof(*b->ehk_off)};
    return grow_arrays(&b->cap, need, 3, arrays, elem);
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

/* Room for the hash keys of `nkeys` partition keys. */
static kn_err_t reserve_hashes(kn_batch_builder_t *b, size_t nkeys) {
    void **const arrays[] = {(void **)&b->hash_slot, (void **)&b->hash_p, (void **)&b->hash_n,
                             (void **)&b->hash_md5};
    const size_t elem[] = {sizeof(*b->hash_slot), sizeof(*b->hash_p), sizeof(*b->hash_n),
                           sizeof(*b->hash_md5)};
    return grow_arrays(&b->hash_cap, nkeys, 4, arrays, elem);
}

/*
 * The KCL's rule: *in is set when every user record's hash key lies in the
 * shard's range. The MD5s of the partition keys that records without an
 * explicit hash key use are computed together, one per distinct key (records
 * share table entries); an explicit hash key is parsed once per run of records
 * sharing it.
 */
static kn_err_t aggregate_in_range(kn_batch_builder_t *b, const kn_agg_record_t *ar,
                                   size_t nar, int *in) {
    size_t nkeys = kn_agg_decoder_partition_key_count(b->dec), m = 0;
    kn_err_t rc = reserve_hashes(b, nkeys);
    if (rc)
        return rc;
    for (size_t i = 0; i < nkeys; i++)
        b->hash_slot[i] = NO_OFFSET;
    for (size_t i = 0; i < nar; i++) {
        size_t k = ar[i].partition_key_index;
        if (ar[i].explicit_hash_key || b->hash_slot[k] != NO_OFFSET)
            continue;
        const char *key;
        b->hash_n[m] = kn_agg_decoder_partition_key(b->dec, k, &key);
        b->hash_p[m] = (const uint8_t *)key;
        b->hash_slot[k] = m++;
    }
    if ((rc = kn_md5_many(b->hash_p, b->hash_n, m, b->hash_md5)))
        return rc;
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
            last_ehk = a->explicit_hash_key;
        } else {
            h = kn_u128_from_be(b->hash_md5[b->hash_slot[a->partition_key_index]]);
        }
        if (kn_u128_cmp(h, b->range_lo) < 0 || kn_u128_cmp(h, b->range_hi) > 0)
            return KN_OK;
    }
    *in = 1;
    return KN_OK;
}

/* Checks the digests of every aggregate among recs[0..n) at once, into b->rec_ok. */
static kn_err_t check_aggregates(kn_batch_builder_t *b, const kn_record_t *recs, size_t n) {
    void **const arrays[] = {(void **)&b->rec_p, (void **)&b->rec_n, (void **)&b->rec_ok};
    const size_t elem[] = {sizeof(*b->rec_p), sizeof(*b->rec_n), sizeof(*b->rec_ok)};
    kn_err_t rc = grow_arrays(&b->rec_cap, n, 3, arrays, elem);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        b->rec_p[i] = recs[i].data;
        b->rec_n[i] = recs[i].data_len;
    }
    kn_agg_check_many(b->rec_p, b->rec_n, n, b->rec_ok);
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
    if (!rc)
        rc = check_aggregates(b, recs, n);
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
            /* a digest mismatch is malformed like a bad protobuf */
            kn_err_t drc = b->rec_ok[i] ? kn_agg_decode_checked(b->dec, r->data, r->data_len,
                                                                &ar, &nar)
                                        : KN_ERR_CRC;
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
