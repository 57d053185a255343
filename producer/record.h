/*
 * The producer's internal record types, shared by every pipeline stage.
 *
 * A user record (kn_rec_t) is one accepted put(): one allocation holding the
 * header, the partition key, the explicit hash key and the data. It lives until
 * its delivery report has run. A Kinesis record (kn_krec_t) is what one
 * PutRecords entry carries: a single user record sent as is, or an aggregate of
 * user records that all map to one predicted shard. Records and containers are
 * linked through intrusive `next` pointers, so moving them between stages never
 * allocates.
 *
 * Times are monotonic microseconds (int64_t *_us) from whichever clock the
 * pipeline is driven with; deadlines and expirations saturate at INT64_MAX.
 */
#ifndef KN_PRODUCER_RECORD_H
#define KN_PRODUCER_RECORD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hashkey.h"
#include "kinesis/kinesis.h"

/* Kinesis limits the producer packs against. */
#define KN_KREC_MAX_BYTES (1024 * 1024)           /* data + partition key of one Kinesis record */
#define KN_PUT_MAX_BYTES (5 * 1024 * 1024)        /* data + partition keys of one PutRecords */
#define KN_PUT_MAX_ENTRIES KN_KINESIS_MAX_PUT_RECORDS /* entries of one PutRecords */
#define KN_AGG_PARTITION_KEY "a"                  /* the KPL's key for aggregates */
#define KN_AGG_PARTITION_KEY_LEN 1

/** An error shared by every record it concerns (one failed request can fail thousands). */
typedef struct kn_serr_s {
    atomic_int refs;
    kn_error_t *err;
} kn_serr_t;

/** Wraps `err` (ownership passes; NULL err gives NULL) with one reference. */
kn_serr_t *kn_serr_new(kn_error_t *err);
/** A new reference. Accepts NULL. */
kn_serr_t *kn_serr_ref(kn_serr_t *e);
/** Drops a reference; the last one frees. Accepts NULL. */
void kn_serr_unref(kn_serr_t *e);

/** Where a Kinesis record landed, shared by the user records it carried. */
typedef struct kn_kresult_s {
    atomic_int refs;
    char *shard_id;        /* points into the same allocation */
    char *sequence_number; /* same */
} kn_kresult_t;

/** A result holding copies of both strings, with one reference; NULL when out of memory. */
kn_kresult_t *kn_kresult_new(const char *shard_id, const char *sequence_number);
kn_kresult_t *kn_kresult_ref(kn_kresult_t *r);
void kn_kresult_unref(kn_kresult_t *r);

/** One failed attempt of a user record. */
typedef struct kn_rec_attempt_s {
    kn_serr_t *err;
    int64_t start_us;    /* when the request carrying it was started */
    int64_t duration_us; /* until its outcome was known */
} kn_rec_attempt_t;

#define KN_REC_HAS_EHK 0x1    /* the user gave an explicit hash key */
#define KN_REC_AGGREGATED 0x2 /* delivered inside an aggregate (set when reported) */
#define KN_REC_HASHED 0x4     /* hash is set (explicit hash key parsed, or MD5 computed) */

struct kn_pstream_s;    /* the pipeline's per-stream state */
struct kn_rec_block_s;  /* record_pool.h */

typedef struct kn_rec_s {
    struct kn_rec_s *next;
    /* A record a few places further down the same Kinesis record, set when
     * aggregated: the report side prefetches it, since a Kinesis record's user
     * records are spread over memory. Only a hint: it may be stale. */
    struct kn_rec_s *ahead;
    struct kn_rec_block_s *block; /* the pool block holding it, NULL when malloc()ed alone */
    _Atomic(struct kn_rec_s *) qnext; /* the producer's put queue only */
    struct kn_pstream_s *stream;
    kn_u128_t hash;      /* explicit hash key, else MD5 of the partition key */
    int64_t put_us;
    int64_t deadline_us; /* latest time to be sent (linger) */
    int64_t expire_us;   /* TTL: reported KN_ERR_RECORD_EXPIRED after this */
    int64_t sent_us;     /* start of the latest attempt */
    int64_t done_us;     /* when the outcome was known */
    uint64_t seq;        /* put order: restores order when records are routed again */
    void *opaque;
    kn_rec_attempt_t *attempts; /* failed attempts, NULL until the first */
    kn_kresult_t *result;       /* on success (set by kn_krec_flatten) */
    kn_serr_t *error;           /* on failure */
    uint32_t data_len;
    uint32_t subseq;     /* index inside its Kinesis record (set when it joins one) */
    uint16_t pk_len;     /* bytes */
    uint8_t ehk_len;     /* bytes, 0 without one */
    uint8_t flags;       /* KN_REC_* */
    uint16_t nattempts;  /* entries in attempts */
    uint16_t attempts_cap;
    uint32_t epoch;      /* flush epoch at put() */
    /* partition key, NUL, explicit hash key, NUL, data */
    char bytes[];
} kn_rec_t;

static inline const char *kn_rec_pk(const kn_rec_t *r) { return r->bytes; }
static inline const char *kn_rec_ehk(const kn_rec_t *r) {
    return r->ehk_len ? r->bytes + r->pk_len + 1 : NULL;
}
static inline const uint8_t *kn_rec_data(const kn_rec_t *r) {
    return (const uint8_t *)r->bytes + r->pk_len + 1 + (r->ehk_len ? r->ehk_len + 1u : 0u);
}
/** Bytes allocated for a record with these lengths (what the memory bound counts). */
static inline size_t kn_rec_alloc_size(size_t pk_len, size_t ehk_len, size_t data_len) {
    return sizeof(kn_rec_t) + pk_len + 1 + (ehk_len ? ehk_len + 1 : 0) + data_len;
}

/**
 * Fills `mem` (kn_rec_alloc_size() bytes) as a record, hash, times, stream and
 * block left to the caller, and returns it. Lengths must already be validated.
 */
kn_rec_t *kn_rec_fill(void *mem, const char *pk, size_t pk_len, const char *ehk, size_t ehk_len,
                      const void *data, size_t data_len, void *opaque);
/** kn_rec_fill() on its own allocation. NULL when out of memory. */
kn_rec_t *kn_rec_new(const char *pk, size_t pk_len, const char *ehk, size_t ehk_len,
                     const void *data, size_t data_len, void *opaque);
/** Drops the record's result, error and attempts (not its memory). */
void kn_rec_drop_refs(kn_rec_t *r);
/** Drops the references and frees the record, or gives it back to its pool block. Accepts NULL. */
void kn_rec_free(kn_rec_t *r);
/** Appends a failed attempt (error reference taken). KN_ERR_NOMEM keeps the record intact. */
kn_err_t kn_rec_add_attempt(kn_rec_t *r, kn_serr_t *err, int64_t start_us, int64_t done_us);

/*
 * An intrusive FIFO of `type` (linked through its `next` member), with
 * name_push (at the end), name_push_front, name_pop (NULL when empty) and
 * name_concat (moves all of src to the end of dst, emptying src).
 */
#define KN_FIFO_DEFINE(name, list_t, type)                                       \
    typedef struct {                                                             \
        type *head, *tail;                                                       \
        size_t count;                                                            \
    } list_t;                                                                    \
    static inline void name##_push(list_t *l, type *x) {                         \
        x->next = NULL;                                                          \
        if (l->tail)                                                             \
            l->tail->next = x;                                                   \
        else                                                                     \
            l->head = x;                                                         \
        l->tail = x;                                                             \
        l->count++;                                                              \
    }                                                                            \
    static inline void name##_push_front(list_t *l, type *x) {                   \
        x->next = l->head;                                                       \
        l->head = x;                                                             \
        if (!l->tail)                                                            \
            l->tail = x;                                                         \
        l->count++;                                                              \
    }                                                                            \
    static inline type *name##_pop(list_t *l) {                                  \
        type *x = l->head;                                                       \
        if (!x)                                                                  \
            return NULL;                                                         \
        l->head = x->next;                                                       \
        if (!l->head)                                                            \
            l->tail = NULL;                                                      \
        l->count--;                                                              \
        x->next = NULL;                                                          \
        return x;                                                                \
    }                                                                            \
    static inline void name##_concat(list_t *dst, list_t *src) {                 \
        if (!src->head)                                                          \
            return;                                                              \
        if (dst->tail)                                                           \
            dst->tail->next = src->head;                                         \
        else                                                                     \
            dst->head = src->head;                                               \
        dst->tail = src->tail;                                                   \
        dst->count += src->count;                                                \
        src->head = src->tail = NULL;                                            \
        src->count = 0;                                                          \
    }

/** A FIFO of user records. */
KN_FIFO_DEFINE(kn_rec_list, kn_rec_list_t, kn_rec_t)

/** Sorts by seq, stably (merge sort, no allocation). */
void kn_rec_list_sort_seq(kn_rec_list_t *l);

struct kn_pshard_s; /* the pipeline's per-shard state */

/** A Kinesis record: one PutRecords entry. */
typedef struct kn_krec_s {
    struct kn_krec_s *next;
    struct kn_pshard_s *shard; /* predicted shard */
    const char *shard_id;      /* its id (owned by the pipeline's shard state) */
    kn_rec_list_t recs;        /* user records in put order */
    uint8_t *blob;             /* the aggregate, when recs.count > 1; else NULL */
    size_t blob_len;
    size_t wire_bytes;         /* data + partition key, as the service counts */
    int64_t deadline_us;       /* min over recs */
    int64_t expire_us;         /* min over recs */
    int64_t not_before_us;     /* retry backoff */
    int64_t sent_us;           /* start of the latest attempt */
    uint16_t retries;          /* attempts that failed so far */
    uint8_t throttled;         /* the latest attempt was throttled */
    uint8_t aggregated;        /* sent as an aggregate (blob may be freed since) */
    uint8_t unsealed;          /* the blob's MD5 is not written yet (kn_agg_seal_list) */
    uint8_t evicted;           /* its records left their pool blocks (pipeline.c) */
    kn_kresult_t *result;      /* delivered: where (one reference) */
    int64_t done_us;           /* delivered: when the answer came */
    char ehk[KN_U128_DEC_MAX + 1]; /* aggregate: decimal hash key of the first record */
} kn_krec_t;

/** Data and keys of the PutRecords entry for k. */
static inline const uint8_t *kn_krec_data(const kn_krec_t *k) {
    return k->blob ? k->blob : kn_rec_data(k->recs.head);
}
static inline size_t kn_krec_data_len(const kn_krec_t *k) {
    return k->blob ? k->blob_len : k->recs.head->data_len;
}
static inline const char *kn_krec_pk(const kn_krec_t *k) {
    return k->blob ? KN_AGG_PARTITION_KEY : kn_rec_pk(k->recs.head);
}
/** NULL when the entry carries no explicit hash key. */
static inline const char *kn_krec_ehk(const kn_krec_t *k) {
    return k->blob ? k->ehk : kn_rec_ehk(k->recs.head);
}

/** An empty container, or NULL when out of memory. */
kn_krec_t *kn_krec_new(void);
/** Frees the container, its blob and result, not its records (they must have moved on). Accepts NULL. */
void kn_krec_free(kn_krec_t *k);
/**
 * Takes the next user record of a delivered Kinesis record, giving it a
 * reference to the shared result, the attempt's times and the aggregated flag;
 * NULL when none is left (then free the container). For inspecting outcomes:
 * the report thread reads them from the container instead, without a write
 * and an atomic reference per record.
 */
kn_rec_t *kn_krec_take_delivered(kn_krec_t *k);
/** Recomputes deadline and expiration as the minimum over the records. */
void kn_krec_update_times(kn_krec_t *k);

/** A FIFO of Kinesis records. */
KN_FIFO_DEFINE(kn_krec_list, kn_krec_list_t, kn_krec_t)

/** Removes k, which must be in l after `prev` (NULL: k is the head). */
void kn_krec_list_remove(kn_krec_list_t *l, kn_krec_t *prev, kn_krec_t *k);

/** a + b without overflow past INT64_MAX (b >= 0). */
static inline int64_t kn_add_sat(int64_t a, int64_t b) {
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}
/** Milliseconds to microseconds, saturating. */
static inline int64_t kn_ms_to_us(int64_t ms) {
    return ms > INT64_MAX / 1000 ? INT64_MAX : ms * 1000;
}

#endif
