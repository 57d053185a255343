/*
 * Aggregated records: a hand-written protobuf encoder/decoder for the two
 * messages of the KPL format, with no protobuf library.
 *
 * Builder: the key tables and the records are kept as already-encoded protobuf
 * fields in three growable buffers, so the exact final size is their sum plus
 * KN_AGG_OVERHEAD and finishing is three copies plus the MD5. Key deduplication
 * uses open-addressing maps whose slots carry a generation number, making reset
 * O(1) however many keys the previous aggregate had.
 *
 * Decoder: a first pass over the top-level fields collects the key tables (they
 * may legally follow the records) and counts records; a second pass decodes the
 * records. Every read is checked against the end of its enclosing field.
 */
#include "agg.h"

#include <stdlib.h>
#include <string.h>

#include "md5.h"

const uint8_t kn_agg_magic[KN_AGG_MAGIC_LEN] = {0xf3, 0x89, 0x9a, 0xc2};

/* Protobuf wire types and the field numbers of the two messages. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };
enum { F_PK_TABLE = 1, F_EHK_TABLE = 2, F_RECORDS = 3 };          /* AggregatedRecord */
enum { F_PK_INDEX = 1, F_EHK_INDEX = 2, F_DATA = 3, F_TAGS = 4 }; /* Record */
enum { F_TAG_KEY = 1, F_TAG_VALUE = 2 };                          /* Tag */
#define TAG(field, wt) ((uint8_t)((field) << 3 | (wt)))
#define VARINT_MAX_LEN 10
#define MIN_RECORD_LEN 4 /* index field (2 bytes) + empty data field (2 bytes) */
#define MIN_SLOTS 16

/* ---- shared helpers ---- */

static size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Ensures room for `need` elements of `elem` bytes; doubles to stay amortised O(1). */
static int reserve(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem)
            return -1;
        ncap *= 2;
    }
    void *n = realloc(*arr, ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* ---- builder ---- */

typedef struct {
    size_t off; /* of the key bytes inside the table's encoded buffer */
    size_t len;
    uint64_t hash;
} agg_key;

typedef struct {
    uint32_t gen; /* slot is in use only when equal to the table's gen */
    uint32_t idx;
} agg_slot;

/* One deduplicated key table, kept encoded as repeated protobuf string fields. */
typedef struct {
    uint8_t field_tag;
    uint8_t *enc;
    size_t enc_len, enc_cap;
    agg_key *keys;
    size_t count, keys_cap;
    agg_slot *slots;
    size_t slot_cap; /* power of two, at least twice count */
    uint32_t gen;
} keytab;

struct kn_agg_builder_s {
    keytab pk, ehk;
    uint8_t *rec; /* encoded `records` fields */
    size_t rec_len, rec_cap;
    size_t count;
    kn_md5_t *md5;
};

static uint64_t hash_key(const char *k, size_t len) {
    const uint64_t mul = 0xff51afd7ed558ccdull;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    for (; len >= 8; k += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, k, 8);
        h = (h ^ w) * mul;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    if (len)
        memcpy(&w, k, len);
    h = (h ^ w) * mul;
    return h ^ (h >> 29);
}

/* Index of key k in t, or SIZE_MAX. */
static size_t keytab_find(const keytab *t, const char *k, size_t len, uint64_t h) {
    if (!t->slot_cap)
        return SIZE_MAX;
    size_t mask = t->slot_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const agg_slot *s = &t->slots[i];
        if (s->gen != t->gen)
            return SIZE_MAX;
        const agg_key *e = &t->keys[s->idx];
        if (e->hash == h && e->len == len && (!len || !memcmp(t->enc + e->off, k, len)))
            return s->idx;
    }
}

static void keytab_place(keytab *t, size_t idx) {
    size_t mask = t->slot_cap - 1;
    size_t i = (size_t)t->keys[idx].hash & mask;
    while (t->slots[i].gen == t->gen)
        i = (i + 1) & mask;
    t->slots[i].gen = t->gen;
    t->slots[i].idx = (uint32_t)idx;
}

static size_t field_size(size_t len) {
    return 1 + varint_size(len) + len;
}

/* Makes room to insert one key of `len` bytes; the table's content is unchanged. */
static int keytab_reserve(keytab *t, size_t len) {
    if (t->count >= UINT32_MAX / 2)
        return -1;
    if (reserve((void **)&t->enc, &t->enc_cap, t->enc_len + field_size(len), 1) ||
        reserve((void **)&t->keys, &t->keys_cap, t->count + 1, sizeof(agg_key)))
        return -1;
    if ((t->count + 1) * 2 <= t->slot_cap)
        return 0;
    size_t ncap = t->slot_cap ? t->slot_cap * 2 : MIN_SLOTS;
    agg_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    free(t->slots);
    t->slots = ns;
    t->slot_cap = ncap;
    t->gen = 1;
    for (size_t i = 0; i < t->count; i++)
        keytab_place(t, i);
    return 0;
}

static void keytab_insert(keytab *t, const char *k, size_t len, uint64_t h) {
    uint8_t *p = t->enc + t->enc_len;
    *p++ = t->field_tag;
    p = put_varint(p, len);
    if (len)
        memcpy(p, k, len);
    t->keys[t->count] = (agg_key){.off = (size_t)(p - t->enc), .len = len, .hash = h};
    t->enc_len = (size_t)(p - t->enc) + len;
    keytab_place(t, t->count++);
}

static void keytab_reset(keytab *t) {
    t->enc_len = 0;
    t->count = 0;
    if (++t->gen == 0) { /* wrapped: old generations could match again */
        if (t->slots)
            memset(t->slots, 0, t->slot_cap * sizeof(*t->slots));
        t->gen = 1;
    }
}

static void keytab_free(keytab *t) {
    free(t->enc);
    free(t->keys);
    free(t->slots);
}

kn_agg_builder_t *kn_agg_builder_new(void) {
    kn_agg_builder_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->pk.field_tag = TAG(F_PK_TABLE, WT_LEN);
    b->ehk.field_tag = TAG(F_EHK_TABLE, WT_LEN);
    b->pk.gen = b->ehk.gen = 1;
    b->md5 = kn_md5_new();
    if (!b->md5) {
        kn_agg_builder_destroy(b);
        return NULL;
    }
    return b;
}

void kn_agg_builder_destroy(kn_agg_builder_t *b) {
    if (!b)
        return;
    keytab_free(&b->pk);
    keytab_free(&b->ehk);
    free(b->rec);
    kn_md5_destroy(b->md5);
    free(b);
}

void kn_agg_builder_reset(kn_agg_builder_t *b) {
    if (!b)
        return;
    keytab_reset(&b->pk);
    keytab_reset(&b->ehk);
    b->rec_len = 0;
    b->count = 0;
}

size_t kn_agg_builder_count(const kn_agg_builder_t *b) {
    return b ? b->count : 0;
}

size_t kn_agg_builder_size(const kn_agg_builder_t *b) {
    return b ? KN_AGG_OVERHEAD + b->pk.enc_len + b->ehk.enc_len + b->rec_len : 0;
}

/* What adding one record would do: key indexes, whether keys are new, the sizes. */
typedef struct {
    uint64_t pk_hash, ehk_hash;
    size_t pk_idx, ehk_idx;
    int pk_new, ehk_new, has_ehk;
    size_t inner_len; /* of the encoded Record message */
    size_t total;     /* finished aggregate size after the add */
} add_plan;

static kn_err_t plan_add(const kn_agg_builder_t *b, const char *pk, size_t pk_len,
                         const char *ehk, size_t ehk_len, size_t data_len, add_plan *pl) {
    if (!b || (!pk && pk_len))
        return KN_ERR_INVALID_ARG;
    if (pk_len > KN_AGG_MAX_SIZE || ehk_len > KN_AGG_MAX_SIZE || data_len > KN_AGG_MAX_SIZE)
        return KN_ERR_TOO_LARGE;
    size_t added = 0;
    pl->pk_hash = hash_key(pk, pk_len);
    pl->pk_idx = keytab_find(&b->pk, pk, pk_len, pl->pk_hash);
    pl->pk_new = pl->pk_idx == SIZE_MAX;
    if (pl->pk_new) {
        pl->pk_idx = b->pk.count;
        added += field_size(pk_len);
    }
    pl->has_ehk = ehk && ehk_len;
    pl->ehk_new = 0;
    size_t inner = 1 + varint_size(pl->pk_idx) + 1 + varint_size(data_len) + data_len;
    if (pl->has_ehk) {
        pl->ehk_hash = hash_key(ehk, ehk_len);
        pl->ehk_idx = keytab_find(&b->ehk, ehk, ehk_len, pl->ehk_hash);
        pl->ehk_new = pl->ehk_idx == SIZE_MAX;
        if (pl->ehk_new) {
            pl->ehk_idx = b->ehk.count;
            added += field_size(ehk_len);
        }
        inner += 1 + varint_size(pl->ehk_idx);
    }
    pl->inner_len = inner;
    added += field_size(inner);
    size_t cur = kn_agg_builder_size(b);
    if (added > KN_AGG_MAX_SIZE - cur)
        return KN_ERR_TOO_LARGE;
    pl->total = cur + added;
    return KN_OK;
}

size_t kn_agg_builder_size_if_added(const kn_agg_builder_t *b, const char *pk, size_t pk_len,
                                    const char *ehk, size_t ehk_len, size_t data_len) {
    add_plan pl;
    return plan_add(b, pk, pk_len, ehk, ehk_len, data_len, &pl) == KN_OK ? pl.total : SIZE_MAX;
}

kn_err_t kn_agg_builder_add(kn_agg_builder_t *b, const char *pk, size_t pk_len, const char *ehk,
                            size_t ehk_len, const void *data, size_t data_len, size_t max_size) {
    if (!data && data_len)
        return KN_ERR_INVALID_ARG;
    add_plan pl;
    kn_err_t err = plan_add(b, pk, pk_len, ehk, ehk_len, data_len, &pl);
    if (err)
        return err;
    if (pl.total > max_size)
        return KN_ERR_TOO_LARGE;
    /* Reserve everything first so a failed allocation leaves the builder as it was. */
    if ((pl.pk_new && keytab_reserve(&b->pk, pk_len)) ||
        (pl.ehk_new && keytab_reserve(&b->ehk, ehk_len)) ||
        reserve((void **)&b->rec, &b->rec_cap, b->rec_len + field_size(pl.inner_len), 1))
        return KN_ERR_NOMEM;
    if (pl.pk_new)
        keytab_insert(&b->pk, pk, pk_len, pl.pk_hash);
    if (pl.ehk_new)
        keytab_insert(&b->ehk, ehk, ehk_len, pl.ehk_hash);
    uint8_t *p = b->rec + b->rec_len;
    *p++ = TAG(F_RECORDS, WT_LEN);
    p = put_varint(p, pl.inner_len);
    *p++ = TAG(F_PK_INDEX, WT_VARINT);
    p = put_varint(p, pl.pk_idx);
    if (pl.has_ehk) {
        *p++ = TAG(F_EHK_INDEX, WT_VARINT);
        p = put_varint(p, pl.ehk_idx);
    }
    *p++ = TAG(F_DATA, WT_LEN);
    p = put_varint(p, data_len);
    if (data_len)
        memcpy(p, data, data_len);
    b->rec_len = (size_t)(p - b->rec) + data_len;
    b->count++;
    return KN_OK;
}

kn_err_t kn_agg_builder_finish_unsealed(kn_agg_builder_t *b, uint8_t *out, size_t out_size,
                                        size_t *out_len) {
    if (!b || !out || !out_len)
        return KN_ERR_INVALID_ARG;
    size_t size = kn_agg_builder_size(b);
    if (out_size < size)
        return KN_ERR_TOO_LARGE;
    uint8_t *p = out;
    memcpy(p, kn_agg_magic, KN_AGG_MAGIC_LEN);
    p += KN_AGG_MAGIC_LEN;
    const struct {
        const uint8_t *p;
        size_t n;
    } parts[] = {{b->pk.enc, b->pk.enc_len}, {b->ehk.enc, b->ehk.enc_len}, {b->rec, b->rec_len}};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (parts[i].n)
            memcpy(p, parts[i].p, parts[i].n);
        p += parts[i].n;
    }
    memset(p, 0, KN_AGG_DIGEST_LEN);
    *out_len = size;
    return KN_OK;
}

kn_err_t kn_agg_builder_finish(kn_agg_builder_t *b, uint8_t *out, size_t out_size,
                               size_t *out_len) {
    kn_err_t err = kn_agg_builder_finish_unsealed(b, out, out_size, out_len);
    if (err)
        return err;
    size_t body = *out_len - KN_AGG_OVERHEAD;
    return kn_md5(b->md5, out + KN_AGG_MAGIC_LEN, body, out + KN_AGG_MAGIC_LEN + body);
}

void kn_agg_seal_many(uint8_t *const *blobs, const size_t *lens, size_t count) {
    const uint8_t *body[KN_AGG_CHECK_CHUNK];
    size_t len[KN_AGG_CHECK_CHUNK];
    uint8_t digest[KN_AGG_CHECK_CHUNK][KN_MD5_LEN];
    for (size_t i = 0; i < count;) {
        size_t m = 0, first = i;
        for (; i < count && m < KN_AGG_CHECK_CHUNK; i++, m++) {
            body[m] = blobs[i] + KN_AGG_MAGIC_LEN;
            len[m] = lens[i] - KN_AGG_OVERHEAD;
        }
        kn_md5_many(body, len, m, digest);
        for (size_t j = 0; j < m; j++)
            memcpy(blobs[first + j] + KN_AGG_MAGIC_LEN + len[j], digest[j], KN_MD5_LEN);
    }
}

/* ---- decoder ---- */

typedef struct {
    const uint8_t *p;
    size_t n;
} view;

struct kn_agg_decoder_s {
    kn_md5_t *md5;
    view *pk, *ehk;
    size_t pk_count, pk_cap, ehk_count, ehk_cap;
    kn_agg_record_t *recs;
    size_t rec_cap;
};

/* One protobuf field: its number and wire type, and its value or payload view. */
typedef struct {
    uint64_t num;
    int wt;
    uint64_t u;
    view v;
} pb_field;

static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { /* most varints here are one byte */
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < VARINT_MAX_LEN; i++) {
        if (p == end)
            return -1;
        uint8_t c = *p++;
        if (i == VARINT_MAX_LEN - 1 && c > 1)
            return -1; /* more than 64 bits */
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field at *pp, bounds-checked against end. Groups (wire types 3, 4) are rejected. */
static int next_field(const uint8_t **pp, const uint8_t *end, pb_field *f) {
    uint64_t key;
    if (read_varint(pp, end, &key))
        return -1;
    f->num = key >> 3;
    f->wt = (int)(key & 7);
    if (f->num == 0)
        return -1;
    size_t avail;
    switch (f->wt) {
    case WT_VARINT:
        return read_varint(pp, end, &f->u);
    case WT_LEN:
        if (read_varint(pp, end, &f->u))
            return -1;
        avail = (size_t)(end - *pp);
        if (f->u > avail)
            return -1;
        f->v = (view){*pp, (size_t)f->u};
        *pp += f->u;
        return 0;
    case WT_I64:
    case WT_I32:
        avail = (size_t)(end - *pp);
        if (avail < (f->wt == WT_I64 ? 8u : 4u))
            return -1;
        *pp += f->wt == WT_I64 ? 8 : 4;
        return 0;
    default:
        return -1;
    }
}

kn_agg_decoder_t *kn_agg_decoder_new(void) {
    kn_agg_decoder_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->md5 = kn_md5_new();
    if (!d->md5) {
        free(d);
        return NULL;
    }
    return d;
}

void kn_agg_decoder_destroy(kn_agg_decoder_t *d) {
    if (!d)
        return;
    kn_md5_destroy(d->md5);
    free(d->pk);
    free(d->ehk);
    free(d->recs);
    free(d);
}

size_t kn_agg_decoder_partition_key_count(const kn_agg_decoder_t *d) {
    return d ? d->pk_count : 0;
}

int kn_agg_is_aggregated(const uint8_t *p, size_t n) {
    return p && n > KN_AGG_MAGIC_LEN + KN_AGG_DIGEST_LEN &&
           !memcmp(p, kn_agg_magic, KN_AGG_MAGIC_LEN);
}

static int push_view(view **arr, size_t *count, size_t *cap, view v) {
    if (reserve((void **)arr, cap, *count + 1, sizeof(view)))
        return -1;
    (*arr)[(*count)++] = v;
    return 0;
}

/* A Tag message: required string key = 1; optional string value = 2. */
static int check_tag(view v) {
    const uint8_t *p = v.p, *end = v.p + v.n;
    int has_key = 0;
    pb_field f;
    while (p < end) {
        if (next_field(&p, end, &f))
            return -1;
        if (f.num == F_TAG_KEY || f.num == F_TAG_VALUE) {
            if (f.wt != WT_LEN)
                return -1;
            has_key |= f.num == F_TAG_KEY;
        }
    }
    return has_key ? 0 : -1;
}

static int decode_record(const kn_agg_decoder_t *d, view v, kn_agg_record_t *r) {
    const uint8_t *p = v.p, *end = v.p + v.n;
    int has_pk = 0, has_ehk = 0, has_data = 0;
    uint64_t pki = 0, ehki = 0;
    pb_field f;
    while (p < end) {
        if (next_field(&p, end, &f))
            return -1;
        switch (f.num) {
        case F_PK_INDEX:
        case F_EHK_INDEX:
            if (f.wt != WT_VARINT)
                return -1;
            if (f.num == F_PK_INDEX) {
                pki = f.u;
                has_pk = 1;
            } else {
                ehki = f.u;
                has_ehk = 1;
            }
            break;
        case F_DATA:
            if (f.wt != WT_LEN)
                return -1;
            r->data = f.v.p;
            r->data_len = f.v.n;
            has_data = 1;
            break;
        case F_TAGS:
            if (f.wt != WT_LEN || check_tag(f.v))
                return -1;
            break;
        default:
            break; /* unknown field: skipped, as protobuf parsers do */
        }
    }
    if (!has_pk || !has_data || pki >= d->pk_count || (has_ehk && ehki >= d->ehk_count))
        return -1;
    r->partition_key = (const char *)d->pk[pki].p;
    r->partition_key_len = d->pk[pki].n;
    r->partition_key_index = (size_t)pki;
    r->explicit_hash_key = has_ehk ? (const char *)d->ehk[ehki].p : NULL;
    r->explicit_hash_key_len = has_ehk ? d->ehk[ehki].n : 0;
    return 0;
}

/* Pass 1: key tables and the number of records. Returns 0, -1 malformed, -2 no memory. */
static int scan_tables(kn_agg_decoder_t *d, const uint8_t *p, const uint8_t *end, size_t *nrec) {
    pb_field f;
    *nrec = 0;
    while (p < end) {
        if (next_field(&p, end, &f))
            return -1;
        if (f.num < F_PK_TABLE || f.num > F_RECORDS)
            continue;
        if (f.wt != WT_LEN)
            return -1;
        if (f.num == F_PK_TABLE) {
            if (push_view(&d->pk, &d->pk_count, &d->pk_cap, f.v))
                return -2;
        } else if (f.num == F_EHK_TABLE) {
            if (push_view(&d->ehk, &d->ehk_count, &d->ehk_cap, f.v))
                return -2;
        } else {
            if (f.v.n < MIN_RECORD_LEN)
                return -1;
            (*nrec)++;
        }
    }
    return 0;
}

/* Decodes the protobuf of an aggregate whose digest was checked. */
static kn_err_t decode_body(kn_agg_decoder_t *d, const uint8_t *p, size_t n,
                            const kn_agg_record_t **records, size_t *count) {
    const uint8_t *body = p + KN_AGG_MAGIC_LEN, *end = p + n - KN_AGG_DIGEST_LEN;
    d->pk_count = d->ehk_count = 0;
    size_t nrec;
    int rc = scan_tables(d, body, end, &nrec);
    if (rc)
        goto fail;
    if (reserve((void **)&d->recs, &d->rec_cap, nrec, sizeof(kn_agg_record_t))) {
        rc = -2;
        goto fail;
    }
    size_t i = 0;
    pb_field f;
    for (const uint8_t *q = body; q < end;) {
        next_field(&q, end, &f); /* cannot fail: pass 1 walked the same fields */
        if (f.num == F_RECORDS && decode_record(d, f.v, &d->recs[i++])) {
            rc = -1;
            goto fail;
        }
    }
    *records = d->recs;
    *count = nrec;
    return KN_OK;
fail:
    d->pk_count = d->ehk_count = 0;
    return rc == -2 ? KN_ERR_NOMEM : KN_ERR_BAD_RESPONSE;
}

kn_err_t kn_agg_decode(kn_agg_decoder_t *d, const uint8_t *p, size_t n,
                       const kn_agg_record_t **records, size_t *count) {
    if (!d || !records || !count || !kn_agg_is_aggregated(p, n))
        return KN_ERR_INVALID_ARG;
    d->pk_count = d->ehk_count = 0;
    const uint8_t *body = p + KN_AGG_MAGIC_LEN, *end = p + n - KN_AGG_DIGEST_LEN;
    uint8_t digest[KN_MD5_LEN];
    kn_err_t err = kn_md5(d->md5, body, (size_t)(end - body), digest);
    if (err)
        return err;
    if (memcmp(digest, end, KN_MD5_LEN))
        return KN_ERR_CRC;
    return decode_body(d, p, n, records, count);
}

kn_err_t kn_agg_decode_checked(kn_agg_decoder_t *d, const uint8_t *p, size_t n,
                               const kn_agg_record_t **records, size_t *count) {
    if (!d || !records || !count || !kn_agg_is_aggregated(p, n))
        return KN_ERR_INVALID_ARG;
    return decode_body(d, p, n, records, count);
}

void kn_agg_check_many(const uint8_t *const *p, const size_t *n, size_t count, uint8_t *ok) {
    const uint8_t *body[KN_AGG_CHECK_CHUNK];
    size_t len[KN_AGG_CHECK_CHUNK], idx[KN_AGG_CHECK_CHUNK];
    uint8_t digest[KN_AGG_CHECK_CHUNK][KN_MD5_LEN];
    for (size_t i = 0; i < count;) {
        size_t m = 0;
        for (; i < count && m < KN_AGG_CHECK_CHUNK; i++) {
            ok[i] = 0;
            if (!kn_agg_is_aggregated(p[i], n[i]))
                continue;
            body[m] = p[i] + KN_AGG_MAGIC_LEN;
            len[m] = n[i] - KN_AGG_OVERHEAD;
            idx[m++] = i;
        }
        kn_md5_many(body, len, m, digest);
        for (size_t j = 0; j < m; j++)
            ok[idx[j]] = !memcmp(digest[j], body[j] + len[j], KN_MD5_LEN);
    }
}

size_t kn_agg_decoder_partition_key(const kn_agg_decoder_t *d, size_t i, const char **key) {
    if (!d || i >= d->pk_count) {
        if (key)
            *key = NULL;
        return 0;
    }
    if (key)
        *key = (const char *)d->pk[i].p;
    return d->pk[i].n;
}
