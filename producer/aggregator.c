/* Per-shard KPL aggregation with exact sizes; see aggregator.h. */
#include <stdlib.h>
#include <string.h>

#include "aggregator.h"

kn_err_t kn_agg_ctx_init(kn_agg_ctx_t *c, int enabled, size_t max_bytes) {
    memset(c, 0, sizeof(*c));
    c->enabled = enabled;
    c->max_bytes = max_bytes;
    c->probe = kn_agg_builder_new();
    return c->probe ? KN_OK : KN_ERR_NOMEM;
}

void kn_agg_ctx_clear(kn_agg_ctx_t *c) {
    kn_agg_builder_destroy(c->probe);
    c->probe = NULL;
    while (c->nspare)
        kn_agg_builder_destroy(c->spare[--c->nspare]);
}

void kn_aggregator_init(kn_aggregator_t *a) {
    memset(a, 0, sizeof(*a));
    a->deadline_us = a->expire_us = INT64_MAX;
}

static kn_agg_builder_t *borrow(kn_agg_ctx_t *c) {
    return c->nspare ? c->spare[--c->nspare] : kn_agg_builder_new();
}

static void give_back(kn_agg_ctx_t *c, kn_agg_builder_t *b) {
    if (!b)
        return;
    kn_agg_builder_reset(b);
    if (c->nspare < KN_AGG_SPARE_BUILDERS)
        c->spare[c->nspare++] = b;
    else
        kn_agg_builder_destroy(b);
}

/* Brings ctx->bytes in line with the aggregator's builder. */
static void recount(kn_agg_ctx_t *c, kn_aggregator_t *a) {
    int64_t now = a->b ? (int64_t)kn_agg_builder_size(a->b) : 0;
    c->bytes += now - a->counted;
    a->counted = now;
}

static kn_err_t builder_add(kn_agg_builder_t *b, const kn_rec_t *r, size_t max) {
    return kn_agg_builder_add(b, kn_rec_pk(r), r->pk_len, kn_rec_ehk(r), r->ehk_len,
                              kn_rec_data(r), r->data_len, max);
}

/* Sets the entry's sizes from its records (numbered as they joined). */
static void finish_krec(kn_krec_t *k) {
    k->aggregated = k->blob != NULL;
    if (k->blob) {
        k->wire_bytes = k->blob_len + KN_AGG_PARTITION_KEY_LEN;
        kn_u128_to_decimal(k->recs.head->hash, k->ehk, sizeof(k->ehk));
    } else {
        k->wire_bytes = (size_t)k->recs.head->data_len + k->recs.head->pk_len;
        k->ehk[0] = 0;
    }
}

/* Finishes builder b (NULL or holding exactly `recs` when recs->count > 1) into a blob. */
static kn_err_t make_blob(const kn_agg_ctx_t *c, kn_agg_builder_t *b, uint8_t **blob,
                          size_t *len) {
    size_t size = kn_agg_builder_size(b);
    uint8_t *p = malloc(size);
    if (!p)
        return KN_ERR_NOMEM;
    kn_err_t rc = c->defer_digests ? kn_agg_builder_finish_unsealed(b, p, size, len)
                                   : kn_agg_builder_finish(b, p, size, len);
    if (rc != KN_OK) {
        free(p);
        return rc;
    }
    *blob = p;
    return KN_OK;
}

/* A Kinesis record from `recs` (moved in on success) whose earliest deadline and
 * expiration are given; b holds the records when count > 1. */
static kn_err_t close_krec(const kn_agg_ctx_t *c, kn_agg_builder_t *b, kn_rec_list_t *recs,
                           int64_t deadline_us, int64_t expire_us, kn_krec_t **out) {
    kn_krec_t *k = kn_krec_new();
    if (!k)
        return KN_ERR_NOMEM;
    if (recs->count > 1) {
        kn_err_t rc = make_blob(c, b, &k->blob, &k->blob_len);
        if (rc != KN_OK) {
            kn_krec_free(k);
            return rc;
        }
        k->unsealed = (uint8_t)c->defer_digests;
    }
    kn_rec_list_concat(&k->recs, recs);
    finish_krec(k);
    k->deadline_us = deadline_us;
    k->expire_us = expire_us;
    *out = k;
    return KN_OK;
}

static kn_err_t send_alone(const kn_agg_ctx_t *c, kn_rec_t *r, kn_krec_list_t *out) {
    kn_rec_list_t one = {0};
    r->subseq = 0;
    kn_rec_list_push(&one, r);
    kn_krec_t *k;
    kn_err_t rc = close_krec(c, NULL, &one, r->deadline_us, r->expire_us, &k);
    if (rc == KN_OK)
        kn_krec_list_push(out, k);
    else
        r->next = NULL;
    return rc;
}

/* Appends r to the open aggregate, pointing the record KN_AGG_AHEAD places
 * back at it (that one was just written, so it is still in cache). */
static void join(kn_aggregator_t *a, kn_rec_t *r) {
    size_t i = a->recs.count % KN_AGG_AHEAD;
    if (a->recs.count >= KN_AGG_AHEAD)
        a->last[i]->ahead = r;
    a->last[i] = r;
    r->ahead = NULL;
    r->subseq = (uint32_t)a->recs.count;
    kn_rec_list_push(&a->recs, r);
}

static void track_times(kn_aggregator_t *a, const kn_rec_t *r) {
    if (r->deadline_us < a->deadline_us)
        a->deadline_us = r->deadline_us;
    if (r->expire_us < a->expire_us)
        a->expire_us = r->expire_us;
}

kn_err_t kn_aggregator_flush(kn_agg_ctx_t *c, kn_aggregator_t *a, kn_krec_list_t *out) {
    if (!a->recs.count)
        return KN_OK;
    kn_krec_t *k;
    kn_err_t rc = close_krec(c, a->b, &a->recs, a->deadline_us, a->expire_us, &k);
    if (rc != KN_OK)
        return rc;
    /* a blob takes over the builder's bytes one for one; a plain record has none */
    if (!k->blob)
        c->bytes -= a->counted;
    a->counted = 0;
    give_back(c, a->b);
    a->b = NULL;
    a->deadline_us = a->expire_us = INT64_MAX;
    kn_krec_list_push(out, k);
    return KN_OK;
}

kn_err_t kn_aggregator_add(kn_agg_ctx_t *c, kn_aggregator_t *a, kn_rec_t *r, kn_krec_list_t *out) {
    if (!c->enabled)
        return send_alone(c, r, out);
    for (;;) {
        if (!a->recs.count) {
            size_t alone = kn_agg_builder_size_if_added(c->probe, kn_rec_pk(r), r->pk_len,
                                                        kn_rec_ehk(r), r->ehk_len, r->data_len);
            if (alone > c->max_bytes)
                return send_alone(c, r, out);
            /* A single record is not copied into a builder until a second one joins. */
            join(a, r);
            track_times(a, r);
            return KN_OK;
        }
        int borrowed = 0;
        if (!a->b) {
            kn_agg_builder_t *b = borrow(c);
            if (!b)
                return KN_ERR_NOMEM;
            if (builder_add(b, a->recs.head, SIZE_MAX) != KN_OK) {
                give_back(c, b);
                return KN_ERR_NOMEM;
            }
            a->b = b;
            borrowed = 1;
        }
        kn_err_t rc = builder_add(a->b, r, c->max_bytes);
        if (rc == KN_OK) {
            join(a, r);
            track_times(a, r);
            recount(c, a);
            return KN_OK;
        }
        if (rc != KN_ERR_TOO_LARGE) {
            if (borrowed) {
                give_back(c, a->b);
                a->b = NULL;
            }
            return rc;
        }
        recount(c, a);
        rc = kn_aggregator_flush(c, a, out);
        if (rc != KN_OK)
            return rc;
        /* the aggregator is empty now: start the next aggregate with r */
    }
}

void kn_aggregator_take(kn_agg_ctx_t *c, kn_aggregator_t *a, kn_rec_list_t *out) {
    c->bytes -= a->counted;
    a->counted = 0;
    give_back(c, a->b);
    a->b = NULL;
    kn_rec_list_concat(out, &a->recs);
    a->deadline_us = a->expire_us = INT64_MAX;
}

kn_err_t kn_krec_rebuild(kn_agg_ctx_t *c, kn_krec_t *k) {
    uint8_t *blob = NULL;
    size_t len = 0;
    if (k->recs.count > 1) {
        kn_agg_builder_t *b = borrow(c);
        if (!b)
            return KN_ERR_NOMEM;
        kn_err_t rc = KN_OK;
        for (kn_rec_t *r = k->recs.head; r && rc == KN_OK; r = r->next)
            rc = builder_add(b, r, SIZE_MAX);
        if (rc == KN_OK)
            rc = make_blob(c, b, &blob, &len);
        give_back(c, b);
        if (rc != KN_OK)
            return rc;
    }
    c->bytes += (int64_t)len - (int64_t)k->blob_len;
    free(k->blob);
    k->blob = blob;
    k->blob_len = len;
    k->unsealed = (uint8_t)(blob && c->defer_digests);
    uint32_t i = 0;
    for (kn_rec_t *r = k->recs.head; r; r = r->next)
        r->subseq = i++;
    finish_krec(k);
    kn_krec_update_times(k);
    return KN_OK;
}

void kn_agg_seal_list(kn_krec_list_t *l) {
    uint8_t *blobs[KN_AGG_CHECK_CHUNK];
    size_t lens[KN_AGG_CHECK_CHUNK], m = 0;
    for (kn_krec_t *k = l->head; k; k = k->next) {
        if (!k->blob || !k->unsealed)
            continue;
        blobs[m] = k->blob;
        lens[m++] = k->blob_len;
        k->unsealed = 0;
        if (m == KN_AGG_CHECK_CHUNK) {
            kn_agg_seal_many(blobs, lens, m);
            m = 0;
        }
    }
    kn_agg_seal_many(blobs, lens, m);
}

void kn_krec_drop_blob(kn_agg_ctx_t *c, kn_krec_t *k) {
    c->bytes -= (int64_t)k->blob_len;
    free(k->blob);
    k->blob = NULL;
    k->blob_len = 0;
}

void kn_krec_release(kn_agg_ctx_t *c, kn_krec_t *k) {
    if (!k)
        return;
    c->bytes -= (int64_t)k->blob_len;
    kn_krec_free(k);
}
