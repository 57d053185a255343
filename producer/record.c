/* User records, Kinesis-record containers and the shared result/error objects. */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_pool.h"

kn_serr_t *kn_serr_new(kn_error_t *err) {
    if (!err)
        return NULL;
    kn_serr_t *e = malloc(sizeof(*e));
    if (!e) {
        kn_error_destroy(err);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    e->err = err;
    return e;
}

kn_serr_t *kn_serr_ref(kn_serr_t *e) {
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void kn_serr_unref(kn_serr_t *e) {
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        kn_error_destroy(e->err);
        free(e);
    }
}

kn_kresult_t *kn_kresult_new(const char *shard_id, const char *sequence_number) {
    size_t a = strlen(shard_id) + 1, b = strlen(sequence_number) + 1;
    kn_kresult_t *r = malloc(sizeof(*r) + a + b);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->shard_id = (char *)(r + 1);
    r->sequence_number = r->shard_id + a;
    memcpy(r->shard_id, shard_id, a);
    memcpy(r->sequence_number, sequence_number, b);
    return r;
}

kn_kresult_t *kn_kresult_ref(kn_kresult_t *r) {
    if (r)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void kn_kresult_unref(kn_kresult_t *r) {
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        free(r);
}

kn_rec_t *kn_rec_fill(void *mem, const char *pk, size_t pk_len, const char *ehk, size_t ehk_len,
                      const void *data, size_t data_len, void *opaque) {
    kn_rec_t *r = mem;
    memset(r, 0, sizeof(*r));
    r->opaque = opaque;
    r->data_len = (uint32_t)data_len;
    r->pk_len = (uint16_t)pk_len;
    r->ehk_len = (uint8_t)ehk_len;
    char *p = r->bytes;
    memcpy(p, pk, pk_len);
    p[pk_len] = 0;
    p += pk_len + 1;
    if (ehk_len) {
        memcpy(p, ehk, ehk_len);
        p[ehk_len] = 0;
        p += ehk_len + 1;
        r->flags |= KN_REC_HAS_EHK;
    }
    if (data_len)
        memcpy(p, data, data_len);
    return r;
}

kn_rec_t *kn_rec_new(const char *pk, size_t pk_len, const char *ehk, size_t ehk_len,
                     const void *data, size_t data_len, void *opaque) {
    void *mem = malloc(kn_rec_alloc_size(pk_len, ehk_len, data_len));
    return mem ? kn_rec_fill(mem, pk, pk_len, ehk, ehk_len, data, data_len, opaque) : NULL;
}

void kn_rec_drop_refs(kn_rec_t *r) {
    for (uint16_t i = 0; i < r->nattempts; i++)
        kn_serr_unref(r->attempts[i].err);
    free(r->attempts);
    kn_kresult_unref(r->result);
    kn_serr_unref(r->error);
    r->attempts = NULL;
    r->nattempts = r->attempts_cap = 0;
    r->result = NULL;
    r->error = NULL;
}

void kn_rec_free(kn_rec_t *r) {
    if (!r)
        return;
    kn_rec_release_run_t run = {0};
    kn_rec_pool_release(&run, r);
    kn_rec_pool_release_end(&run);
}

kn_err_t kn_rec_add_attempt(kn_rec_t *r, kn_serr_t *err, int64_t start_us, int64_t done_us) {
    if (r->nattempts == UINT16_MAX)
        return KN_OK; /* absurdly many: keep the first ones */
    if (r->nattempts == r->attempts_cap) {
        uint16_t cap = r->attempts_cap ? (uint16_t)(r->attempts_cap * 2) : 4;
        if (cap < r->attempts_cap)
            cap = UINT16_MAX;
        kn_rec_attempt_t *a = realloc(r->attempts, cap * sizeof(*a));
        if (!a)
            return KN_ERR_NOMEM;
        r->attempts = a;
        r->attempts_cap = cap;
    }
    kn_rec_attempt_t *a = &r->attempts[r->nattempts++];
    a->err = kn_serr_ref(err);
    a->start_us = start_us;
    a->duration_us = done_us > start_us ? done_us - start_us : 0;
    return KN_OK;
}

/* Merges two seq-sorted chains; ties keep `a` first. */
static kn_rec_t *merge_seq(kn_rec_t *a, kn_rec_t *b) {
    kn_rec_t head, *t = &head;
    while (a && b) {
        if (b->seq < a->seq) {
            t->next = b;
            b = b->next;
        } else {
            t->next = a;
            a = a->next;
        }
        t = t->next;
    }
    t->next = a ? a : b;
    return head.next;
}

static int sorted_by_seq(const kn_rec_list_t *l) {
    for (const kn_rec_t *r = l->head; r && r->next; r = r->next)
        if (r->next->seq < r->seq)
            return 0;
    return 1;
}

void kn_rec_list_sort_seq(kn_rec_list_t *l) {
    if (sorted_by_seq(l))
        return; /* the usual case: records that waited for a first shard map */
    /* bottom-up merge sort: run lengths 1, 2, 4, ... */
    for (size_t width = 1; width < l->count; width *= 2) {
        kn_rec_t *rest = l->head, *out = NULL, *out_tail = NULL;
        while (rest) {
            kn_rec_t *a = rest, *b, *p = a;
            for (size_t i = 1; i < width && p->next; i++)
                p = p->next;
            b = p->next;
            p->next = NULL;
            p = b;
            for (size_t i = 1; p && i < width && p->next; i++)
                p = p->next;
            if (p) {
                rest = p->next;
                p->next = NULL;
            } else {
                rest = NULL;
            }
            kn_rec_t *m = merge_seq(a, b);
            if (out_tail)
                out_tail->next = m;
            else
                out = m;
            for (out_tail = m; out_tail->next;)
                out_tail = out_tail->next;
        }
        l->head = out;
        l->tail = out_tail;
    }
}

kn_krec_t *kn_krec_new(void) {
    kn_krec_t *k = calloc(1, sizeof(*k));
    if (k)
        k->deadline_us = k->expire_us = INT64_MAX;
    return k;
}

void kn_krec_free(kn_krec_t *k) {
    if (!k)
        return;
    kn_kresult_unref(k->result);
    free(k->blob);
    free(k);
}

kn_rec_t *kn_krec_take_delivered(kn_krec_t *k) {
    kn_rec_t *r = kn_rec_list_pop(&k->recs);
    if (!r)
        return NULL;
    r->result = kn_kresult_ref(k->result);
    r->sent_us = k->sent_us;
    r->done_us = k->done_us;
    if (k->aggregated)
        r->flags |= KN_REC_AGGREGATED;
    return r;
}

void kn_krec_update_times(kn_krec_t *k) {
    k->deadline_us = k->expire_us = INT64_MAX;
    for (const kn_rec_t *r = k->recs.head; r; r = r->next) {
        if (r->deadline_us < k->deadline_us)
            k->deadline_us = r->deadline_us;
        if (r->expire_us < k->expire_us)
            k->expire_us = r->expire_us;
    }
}

void kn_krec_list_remove(kn_krec_list_t *l, kn_krec_t *prev, kn_krec_t *k) {
    if (prev)
        prev->next = k->next;
    else
        l->head = k->next;
    if (l->tail == k)
        l->tail = prev;
    l->count--;
    k->next = NULL;
}
