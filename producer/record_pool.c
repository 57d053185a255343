/* Blocks of user records; see record_pool.h. */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "record_pool.h"

/*
 * A block's `live` starts at LIVE_BIAS while it is the pool's current block,
 * so releases can never bring it to zero while records may still be added;
 * retiring it subtracts LIVE_BIAS - nalloc, leaving exactly the records not
 * yet released. Whoever brings it to zero recycles the block. No atomic
 * operation per allocation, one per run of releases.
 */
#define LIVE_BIAS ((int64_t)1 << 48)

/* Records are laid out at this alignment (kn_rec_t holds 64-bit fields). */
#define REC_ALIGN alignof(max_align_t)

typedef struct kn_rec_block_s {
    kn_rec_pool_t *pool;
    struct kn_rec_block_s *next; /* spare list */
    atomic_llong live;
    int64_t nalloc;              /* records placed in it (by the allocating side) */
    int64_t bytes;               /* their kn_rec_alloc_size() bytes (same) */
    size_t used;                 /* bytes of mem handed out (same) */
    alignas(max_align_t) unsigned char mem[];
} kn_rec_block_t;

struct kn_rec_pool_s {
    kn_rec_block_t *cur;         /* the allocating side's (its calls are serialized) */
    pthread_mutex_t lock;        /* spare and nspare: blocks come back from any thread */
    kn_rec_block_t *spare;
    size_t nspare, max_spare;
    size_t block_bytes;          /* mem bytes per block; 0: pool disabled */
    size_t max_pooled;           /* larger records are malloc()ed */
    atomic_llong pinned;
};

static size_t round_up(size_t n) { return (n + REC_ALIGN - 1) & ~(REC_ALIGN - 1); }

kn_rec_pool_t *kn_rec_pool_new(size_t block_bytes, size_t max_spare) {
    kn_rec_pool_t *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pthread_mutex_init(&pool->lock, NULL);
    pool->block_bytes = block_bytes & ~(REC_ALIGN - 1);
    pool->max_pooled = pool->block_bytes / 4;
    pool->max_spare = max_spare;
    atomic_init(&pool->pinned, 0);
    return pool;
}

/* Puts an empty block on the spare list or frees it. */
static void recycle(kn_rec_block_t *b) {
    kn_rec_pool_t *pool = b->pool;
    atomic_fetch_sub_explicit(&pool->pinned, b->bytes, memory_order_relaxed);
    pthread_mutex_lock(&pool->lock);
    if (pool->nspare < pool->max_spare) {
        b->next = pool->spare;
        pool->spare = b;
        pool->nspare++;
        b = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    free(b);
}

/* Drops `n` records from b's live count; the last one recycles it. */
static void block_sub(kn_rec_block_t *b, int64_t n) {
    if (atomic_fetch_sub_explicit(&b->live, n, memory_order_acq_rel) == n)
        recycle(b);
}

/* The current block stops taking records. Returns it when it is empty already
 * (the caller recycles it), else NULL. */
static kn_rec_block_t *retire(kn_rec_pool_t *pool) {
    kn_rec_block_t *b = pool->cur;
    pool->cur = NULL;
    if (!b)
        return NULL;
    int64_t drop = LIVE_BIAS - b->nalloc;
    return atomic_fetch_sub_explicit(&b->live, drop, memory_order_acq_rel) == drop ? b : NULL;
}

void kn_rec_pool_destroy(kn_rec_pool_t *pool) {
    if (!pool)
        return;
    kn_rec_block_t *empty = retire(pool);
    if (empty)
        recycle(empty);
    /* a block still holding records would be recycled into a freed pool: the
     * caller's contract is that none does */
    while (pool->spare) {
        kn_rec_block_t *b = pool->spare;
        pool->spare = b->next;
        free(b);
    }
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* A fresh current block, from the spares when it can. */
static kn_rec_block_t *new_block(kn_rec_pool_t *pool) {
    pthread_mutex_lock(&pool->lock);
    kn_rec_block_t *b = pool->spare;
    if (b) {
        pool->spare = b->next;
        pool->nspare--;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!b && !(b = malloc(sizeof(*b) + pool->block_bytes)))
        return NULL;
    b->pool = pool;
    b->next = NULL;
    atomic_init(&b->live, LIVE_BIAS);
    b->nalloc = b->bytes = 0;
    b->used = 0;
    pool->cur = b;
    return b;
}

void *kn_rec_pool_take(kn_rec_pool_t *pool, size_t size, kn_rec_block_t **block) {
    *block = NULL;
    if (!pool || size > pool->max_pooled)
        return NULL;
    size_t need = round_up(size);
    kn_rec_block_t *b = pool->cur;
    if (!b || b->used + need > pool->block_bytes) {
        kn_rec_block_t *empty = retire(pool);
        b = new_block(pool);
        if (empty) /* only now: consecutive current blocks are always distinct */
            recycle(empty);
        if (!b)
            return NULL;
    }
    void *mem = b->mem + b->used;
    b->used += need;
    b->nalloc++;
    b->bytes += (int64_t)size;
    *block = b;
    return mem;
}

kn_rec_t *kn_rec_pool_alloc(kn_rec_pool_t *pool, const char *pk, size_t pk_len, const char *ehk,
                            size_t ehk_len, const void *data, size_t data_len, void *opaque) {
    kn_rec_block_t *b;
    void *mem = kn_rec_pool_take(pool, kn_rec_alloc_size(pk_len, ehk_len, data_len), &b);
    if (!mem)
        return kn_rec_new(pk, pk_len, ehk, ehk_len, data, data_len, opaque);
    kn_rec_t *r = kn_rec_fill(mem, pk, pk_len, ehk, ehk_len, data, data_len, opaque);
    r->block = b;
    return r;
}

void kn_rec_pool_release_end(kn_rec_release_run_t *run) {
    if (!run->block)
        return;
    kn_rec_block_t *b = run->block;
    atomic_fetch_add_explicit(&b->pool->pinned, run->bytes, memory_order_relaxed);
    block_sub(b, run->count);
    run->block = NULL;
    run->count = run->bytes = 0;
}

int64_t kn_rec_pool_release(kn_rec_release_run_t *run, kn_rec_t *r) {
    int64_t size = (int64_t)kn_rec_alloc_size(r->pk_len, r->ehk_len, r->data_len);
    kn_rec_block_t *b = r->block;
    kn_rec_drop_refs(r);
    if (!b) {
        free(r);
        return size;
    }
    if (run->block != b) {
        kn_rec_pool_release_end(run);
        run->block = b;
    }
    run->count++;
    run->bytes += size;
    return size;
}

kn_rec_t *kn_rec_pool_evict(kn_rec_t *r) {
    if (!r->block)
        return r;
    size_t size = kn_rec_alloc_size(r->pk_len, r->ehk_len, r->data_len);
    kn_rec_t *copy = malloc(size);
    if (!copy)
        return r;
    memcpy(copy, r, size);
    copy->block = NULL;
    kn_rec_release_run_t run = {r->block, 1, (int64_t)size};
    kn_rec_pool_release_end(&run); /* r's references now belong to the copy */
    return copy;
}

int64_t kn_rec_pool_pinned(const kn_rec_pool_t *pool) {
    return pool ? atomic_load_explicit(&pool->pinned, memory_order_relaxed) : 0;
}
