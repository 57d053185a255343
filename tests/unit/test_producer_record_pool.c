/*
 * Producer record pool (record_pool.c): bytes and layout of pooled records,
 * pinned accounting, batched release, spare blocks, eviction, many threads.
 * Leaks and double frees are caught by the ASan build (every test is forked,
 * LeakSanitizer fails the test that leaked).
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kn_test.h"
#include "record_pool.h"

#define BLOCK 4096              /* test pools: ~15 of the records below per block */
#define MAX_POOLED (BLOCK / 4)  /* larger records are malloc()ed */
#define MAX_RECS 128            /* more than one block of records holds */

static int64_t rec_size(const kn_rec_t *r) {
    return (int64_t)kn_rec_alloc_size(r->pk_len, r->ehk_len, r->data_len);
}

/* Data sizes that differ record to record, so sums of sizes are not multiples of one size. */
static size_t var_len(size_t i) { return 40 + (i * 37) % 160; }

/* A record of key "k" and `data_len` bytes of `fill` (pool NULL: malloc()ed alone). */
static kn_rec_t *mk(kn_rec_pool_t *pool, size_t data_len, int fill) {
    uint8_t data[4096];
    ck_assert_uint_le(data_len, sizeof(data));
    memset(data, fill, data_len);
    kn_rec_t *r = kn_rec_pool_alloc(pool, "k", 1, NULL, 0, data, data_len, NULL);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* r holds exactly what mk(pool, len, fill) put in it. */
static void check_fill(const kn_rec_t *r, size_t len, int fill) {
    ck_assert_str_eq(kn_rec_pk(r), "k");
    ck_assert_uint_eq(r->data_len, len);
    for (size_t i = 0; i < len; i++)
        ck_assert_uint_eq(kn_rec_data(r)[i], (uint8_t)fill);
}

/*
 * Allocates recs[from], recs[from + 1], ... (sizes var_len(index), fill the
 * index) while they land in `block`; returns the index of the first record
 * that did not, which is stored in *next instead.
 */
static size_t fill_block(kn_rec_pool_t *pool, const struct kn_rec_block_s *block, kn_rec_t **recs,
                         size_t from, kn_rec_t **next) {
    for (size_t i = from; i < MAX_RECS; i++) {
        kn_rec_t *r = mk(pool, var_len(i), (int)i);
        if (r->block != block) {
            *next = r;
            return i;
        }
        recs[i] = r;
    }
    ck_abort_msg("%d records did not fill a block", MAX_RECS);
    return 0;
}

/* Starts recs with a new record and fills its block; see fill_block. */
static size_t fill_new(kn_rec_pool_t *pool, kn_rec_t **recs, kn_rec_t **next) {
    recs[0] = mk(pool, var_len(0), 0);
    ck_assert_ptr_nonnull(recs[0]->block);
    return fill_block(pool, recs[0]->block, recs, 1, next);
}

/* Frees recs[from..to) with kn_rec_free; returns the sum of their sizes. */
static int64_t free_range(kn_rec_t **recs, size_t from, size_t to) {
    int64_t sum = 0;
    for (size_t i = from; i < to; i++) {
        sum += rec_size(recs[i]);
        kn_rec_free(recs[i]);
    }
    return sum;
}

static void check_rec(const kn_rec_t *r, const char *pk, const char *ehk, const uint8_t *data,
                      size_t len, const void *opaque) {
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->pk_len, strlen(pk));
    ck_assert_str_eq(kn_rec_pk(r), pk);
    if (ehk) {
        ck_assert_uint_eq(r->ehk_len, strlen(ehk));
        ck_assert_str_eq(kn_rec_ehk(r), ehk);
        ck_assert(r->flags & KN_REC_HAS_EHK);
    } else {
        ck_assert_uint_eq(r->ehk_len, 0);
        ck_assert_ptr_null(kn_rec_ehk(r));
        ck_assert(!(r->flags & KN_REC_HAS_EHK));
    }
    ck_assert_uint_eq(r->data_len, len);
    ck_assert(len == 0 || !memcmp(kn_rec_data(r), data, len));
    ck_assert_ptr_eq(r->opaque, opaque);
}

static int aligned(const void *p) { return (uintptr_t)p % alignof(max_align_t) == 0; }

START_TEST(alloc_carries_bytes_and_layout) {
    uint8_t data[2 * MAX_POOLED];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    int tag;
    /* 4100 is not a multiple of the alignment: the pool rounds it down */
    kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK + 4, 2);
    ck_assert_ptr_nonnull(pool);

    kn_rec_t *a = kn_rec_pool_alloc(pool, "pk-a", 4, "12345", 5, data, 10, &tag);
    kn_rec_t *b = kn_rec_pool_alloc(pool, "pk-bb", 5, NULL, 0, data + 1, 33, NULL);
    kn_rec_t *c = kn_rec_pool_alloc(pool, "pk-c", 4, "9", 1, NULL, 0, &tag);
    check_rec(a, "pk-a", "12345", data, 10, &tag);
    check_rec(b, "pk-bb", NULL, data + 1, 33, NULL);
    check_rec(c, "pk-c", "9", NULL, 0, &tag);
    ck_assert_ptr_nonnull(a->block);
    ck_assert_ptr_eq(b->block, a->block);
    ck_assert_ptr_eq(c->block, a->block);
    /* side by side, in allocation order, each aligned for kn_rec_t */
    ck_assert((uintptr_t)b >= (uintptr_t)a + (uintptr_t)rec_size(a));
    ck_assert((uintptr_t)c >= (uintptr_t)b + (uintptr_t)rec_size(b));
    ck_assert(aligned(a) && aligned(b) && aligned(c));

    /* a whole block: increasing addresses, no record overwriting another */
    kn_rec_t *recs[MAX_RECS], *next;
    size_t n = fill_block(pool, a->block, recs, 0, &next);
    ck_assert_uint_ge(n, 3);
    ck_assert_ptr_nonnull(next->block);
    ck_assert_ptr_ne(next->block, a->block);
    ck_assert((uintptr_t)recs[0] >= (uintptr_t)c + (uintptr_t)rec_size(c));
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_eq(recs[i]->block, a->block);
        ck_assert(aligned(recs[i]));
        if (i) {
            uintptr_t prev_end = (uintptr_t)recs[i - 1] + (uintptr_t)rec_size(recs[i - 1]);
            ck_assert((uintptr_t)recs[i] >= prev_end);
        }
        check_fill(recs[i], var_len(i), (int)i);
    }
    check_rec(a, "pk-a", "12345", data, 10, &tag);
    check_rec(b, "pk-bb", NULL, data + 1, 33, NULL);
    check_fill(next, var_len(n), (int)n);

    /* exactly a quarter of a block is pooled, one byte more is malloc()ed */
    size_t at_limit = MAX_POOLED - kn_rec_alloc_size(1, 0, 0);
    kn_rec_t *at = kn_rec_pool_alloc(pool, "k", 1, NULL, 0, data, at_limit, NULL);
    kn_rec_t *over = kn_rec_pool_alloc(pool, "k", 1, NULL, 0, data, at_limit + 1, NULL);
    kn_rec_t *big = kn_rec_pool_alloc(pool, "big", 3, "77", 2, data, sizeof(data), &tag);
    ck_assert_uint_eq(rec_size(at), MAX_POOLED);
    ck_assert_ptr_nonnull(at->block);
    ck_assert_ptr_null(over->block);
    ck_assert_ptr_null(big->block);
    check_rec(at, "k", NULL, data, at_limit, NULL);
    check_rec(over, "k", NULL, data, at_limit + 1, NULL);
    check_rec(big, "big", "77", data, sizeof(data), &tag);

    /* block_bytes 0 and no pool: every record on its own, like kn_rec_new */
    kn_rec_pool_t *unpooled = kn_rec_pool_new(0, 4);
    ck_assert_ptr_nonnull(unpooled);
    const size_t lens[] = {0, 1, 100, sizeof(data)};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        kn_rec_t *u = kn_rec_pool_alloc(unpooled, "u", 1, "5", 1, data, lens[i], &tag);
        kn_rec_t *v = kn_rec_pool_alloc(NULL, "v", 1, NULL, 0, data, lens[i], NULL);
        kn_rec_t *w = kn_rec_new("v", 1, NULL, 0, data, lens[i], NULL);
        check_rec(u, "u", "5", data, lens[i], &tag);
        check_rec(v, "v", NULL, data, lens[i], NULL);
        ck_assert_ptr_null(u->block);
        ck_assert_ptr_null(v->block);
        /* same header and bytes as kn_rec_new gives */
        ck_assert(!memcmp(v, w, (size_t)rec_size(w)));
        kn_rec_free(u);
        kn_rec_free(v);
        kn_rec_free(w);
    }
    ck_assert_int_eq(kn_rec_pool_pinned(unpooled), 0);
    kn_rec_pool_destroy(unpooled);

    kn_rec_free(a);
    kn_rec_free(b);
    kn_rec_free(c);
    free_range(recs, 0, n);
    kn_rec_free(next);
    kn_rec_free(at);
    kn_rec_free(over);
    kn_rec_free(big);
    kn_rec_pool_destroy(pool);
}
END_TEST

START_TEST(pinned_until_block_recycled) {
    kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK, 4);
    ck_assert_ptr_nonnull(pool);
    kn_rec_t *a[MAX_RECS], *b0;
    for (size_t i = 0; i < 3; i++)
        a[i] = mk(pool, var_len(i), (int)i);
    const struct kn_rec_block_s *blk_a = a[0]->block;
    ck_assert_ptr_eq(a[1]->block, blk_a);
    ck_assert_ptr_eq(a[2]->block, blk_a);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);

    /* released records of the current block are pinned, to the byte */
    int64_t expect = rec_size(a[0]);
    kn_rec_free(a[0]);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), expect);
    kn_rec_release_run_t run = {0};
    int64_t s1 = rec_size(a[1]);
    ck_assert_int_eq(kn_rec_pool_release(&run, a[1]), s1);
    kn_rec_pool_release_end(&run);
    expect += s1;
    ck_assert_int_eq(kn_rec_pool_pinned(pool), expect);

    /* malloc()ed records never are, and the release still reports their size */
    kn_rec_t *large = mk(pool, MAX_POOLED, 1), *large2 = mk(pool, 3000, 2);
    ck_assert_ptr_null(large->block);
    ck_assert_ptr_null(large2->block);
    int64_t ls = rec_size(large);
    ck_assert_int_eq(kn_rec_pool_release(&run, large), ls);
    kn_rec_pool_release_end(&run);
    kn_rec_free(large2);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), expect);

    /* a new block retires A; A's released bytes stay pinned while a[2..] live */
    size_t n = fill_block(pool, blk_a, a, 3, &b0);
    ck_assert_uint_ge(n, 5);
    ck_assert_ptr_nonnull(b0->block);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), expect);
    int64_t sb = rec_size(b0);
    kn_rec_free(b0);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), expect + sb);

    for (size_t i = 2; i + 1 < n; i++) {
        int64_t s = rec_size(a[i]);
        ck_assert_int_eq(kn_rec_pool_release(&run, a[i]), s);
        kn_rec_pool_release_end(&run);
        expect += s;
        ck_assert_int_eq(kn_rec_pool_pinned(pool), expect + sb);
    }
    /* the last one recycles A: only B's released record is left pinned */
    kn_rec_free(a[n - 1]);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), sb);

    /* a pool without blocks pins nothing */
    kn_rec_pool_t *unpooled = kn_rec_pool_new(0, 4);
    kn_rec_t *u = mk(unpooled, 10, 3), *v = mk(unpooled, 20, 4);
    int64_t us = rec_size(u);
    ck_assert_int_eq(kn_rec_pool_release(&run, u), us);
    kn_rec_pool_release_end(&run);
    kn_rec_free(v);
    ck_assert_int_eq(kn_rec_pool_pinned(unpooled), 0);
    kn_rec_pool_destroy(unpooled);
    kn_rec_pool_destroy(pool);
}
END_TEST

typedef struct {
    int64_t pinned_before;   /* after the early releases */
    int64_t pinned_after;    /* after the interleaved ones */
    int64_t returned;        /* sizes the interleaved releases reported */
    int64_t expected;        /* their kn_rec_alloc_size() sum */
    int next_blocks_reuse;   /* the next two blocks are A's and B's memory */
} release_outcome_t;

/*
 * Blocks A and B retired, all but 3 of A's and 2 of B's records released
 * one by one, then those in the order A A B B A, in one run (batched) or with
 * kn_rec_free; C is current and holds an unreleased record.
 */
static release_outcome_t interleaved_release(int batched) {
    release_outcome_t o = {0};
    kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK, 4);
    ck_assert_ptr_nonnull(pool);
    kn_rec_t *a[MAX_RECS], *b[MAX_RECS], *c[MAX_RECS], *d[MAX_RECS], *e0;
    size_t na = fill_new(pool, a, &b[0]);
    size_t nb = fill_block(pool, b[0]->block, b, 1, &c[0]);
    ck_assert_uint_ge(na, 3);
    ck_assert_uint_ge(nb, 2);
    const struct kn_rec_block_s *blk_a = a[0]->block, *blk_b = b[0]->block;

    int64_t early = free_range(a, 0, na - 3) + free_range(b, 0, nb - 2);
    o.pinned_before = kn_rec_pool_pinned(pool);
    ck_assert_int_eq(o.pinned_before, early);

    kn_rec_t *order[] = {a[na - 3], a[na - 2], b[nb - 2], b[nb - 1], a[na - 1]};
    if (batched) {
        kn_rec_release_run_t run = {0};
        for (size_t i = 0; i < 5; i++) {
            o.expected += rec_size(order[i]);
            o.returned += kn_rec_pool_release(&run, order[i]);
        }
        kn_rec_pool_release_end(&run);
    } else {
        for (size_t i = 0; i < 5; i++) {
            o.expected += rec_size(order[i]);
            o.returned += rec_size(order[i]);
            kn_rec_free(order[i]);
        }
    }
    o.pinned_after = kn_rec_pool_pinned(pool);

    /* both blocks went to the spares: the next two blocks are made of them */
    size_t nc = fill_block(pool, c[0]->block, c, 1, &d[0]);
    size_t nd = fill_block(pool, d[0]->block, d, 1, &e0);
    o.next_blocks_reuse = (d[0]->block == blk_a && e0->block == blk_b) ||
                          (d[0]->block == blk_b && e0->block == blk_a);
    free_range(c, 0, nc);
    free_range(d, 0, nd);
    kn_rec_free(e0);
    kn_rec_pool_destroy(pool);
    return o;
}

START_TEST(batched_release_matches_one_by_one) {
    release_outcome_t batched = interleaved_release(1), single = interleaved_release(0);
    ck_assert_int_gt(batched.pinned_before, 0);
    ck_assert_int_eq(batched.pinned_before, single.pinned_before);
    /* A and B recycled in both: nothing pinned (C's record is unreleased) */
    ck_assert_int_eq(batched.pinned_after, 0);
    ck_assert_int_eq(single.pinned_after, 0);
    ck_assert_int_eq(batched.returned, batched.expected);
    ck_assert_int_eq(batched.expected, single.expected);
    ck_assert(batched.next_blocks_reuse);
    ck_assert(single.next_blocks_reuse);

    /* a run can be reused after release_end, across blocks and malloc()ed records */
    kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK, 0);
    kn_rec_t *a[MAX_RECS], *b[MAX_RECS], *c0;
    size_t na = fill_new(pool, a, &b[0]);
    size_t nb = fill_block(pool, b[0]->block, b, 1, &c0);
    kn_rec_release_run_t run = {0};
    int64_t sum = 0;
    for (size_t i = 0; i < na || i < nb; i++) {
        if (i < na)
            sum += kn_rec_pool_release(&run, a[i]);
        if (i < nb)
            sum += kn_rec_pool_release(&run, b[i]);
        if (i % 3 == 0)
            sum += kn_rec_pool_release(&run, mk(pool, 2 * MAX_POOLED, 9));
        if (i % 4 == 0)
            kn_rec_pool_release_end(&run);
    }
    kn_rec_pool_release_end(&run);
    ck_assert_int_gt(sum, 0);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    int64_t sc = rec_size(c0);
    ck_assert_int_eq(kn_rec_pool_release(&run, c0), sc);
    kn_rec_pool_release_end(&run);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), sc);
    kn_rec_pool_destroy(pool);
}
END_TEST

START_TEST(spare_block_reused) {
    kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK, 1);
    kn_rec_t *a[MAX_RECS], *b[MAX_RECS], *c[MAX_RECS], *d[MAX_RECS], *e0;
    size_t na = fill_new(pool, a, &b[0]);
    const struct kn_rec_block_s *blk_a = a[0]->block;
    free_range(a, 0, na);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    /* B is current; the block after it is A's memory again */
    size_t nb = fill_block(pool, b[0]->block, b, 1, &c[0]);
    const struct kn_rec_block_s *blk_b = b[0]->block;
    ck_assert_ptr_eq(c[0]->block, blk_a);
    check_fill(c[0], var_len(nb), (int)nb);
    size_t nc = fill_block(pool, blk_a, c, 1, &d[0]);
    for (size_t i = 1; i < nc; i++)
        check_fill(c[i], var_len(i), (int)i);
    /* B goes to the single spare slot; C (A's memory) finds it taken and is freed */
    free_range(b, 0, nb);
    free_range(c, 0, nc);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    size_t nd = fill_block(pool, d[0]->block, d, 1, &e0);
    ck_assert_ptr_eq(e0->block, blk_b);
    free_range(d, 0, nd);
    kn_rec_free(e0);
    kn_rec_pool_destroy(pool);

    /* no spares: recycled blocks are freed (LeakSanitizer checks the rest) */
    pool = kn_rec_pool_new(BLOCK, 0);
    na = fill_new(pool, a, &b[0]);
    free_range(a, 0, na);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    nb = fill_block(pool, b[0]->block, b, 1, &c[0]);
    ck_assert_ptr_nonnull(c[0]->block);
    check_fill(c[0], var_len(nb), (int)nb);
    check_fill(b[0], var_len(na), (int)na);
    for (size_t i = 1; i < nb; i++)
        check_fill(b[i], var_len(i), (int)i);
    free_range(b, 0, nb);
    kn_rec_free(c[0]);
    kn_rec_pool_destroy(pool);
}
END_TEST

START_TEST(evict_copies_and_moves_references) {
    /* no spares, so the original block is freed and ASan sees any use of it */
    kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK, 0);
    uint8_t data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ 0x5a);
    const char *ehk = "170141183460469231731687303715884105727";
    int tag;
    kn_rec_t *keep = mk(pool, 50, 1); /* a neighbour that outlives the eviction */
    kn_rec_t *r = kn_rec_pool_alloc(pool, "part-1", 6, ehk, strlen(ehk), data, sizeof(data), &tag);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(r->block, keep->block);
    r->next = keep;
    r->seq = 42;
    r->put_us = 1000;
    r->deadline_us = 2000;
    r->subseq = 7;
    kn_kresult_t *result = kn_kresult_new("shardId-000000000001", "4959033827149025660855969");
    ck_assert_ptr_nonnull(result);
    r->result = kn_kresult_ref(result); /* ours stays, to count */
    kn_serr_t *serr = kn_serr_new(kn_error_new(KN_ERR_TRANSPORT, "connection reset"));
    ck_assert_ptr_nonnull(serr);
    ck_assert_int_eq(kn_rec_add_attempt(r, serr, 100, 250), KN_OK);
    r->error = kn_serr_ref(serr);
    ck_assert_int_eq(atomic_load(&serr->refs), 3);
    ck_assert_int_eq(atomic_load(&result->refs), 2);

    size_t size = (size_t)rec_size(r);
    unsigned char before[sizeof(kn_rec_t) + 512];
    ck_assert_uint_le(size, sizeof(before));
    memcpy(before, r, size);
    const struct kn_rec_block_s *blk = r->block;

    kn_rec_t *copy = kn_rec_pool_evict(r);
    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_ne(copy, r);
    ck_assert_ptr_null(copy->block);
    /* byte for byte the same record, but for the block */
    unsigned char after[sizeof(before)];
    memcpy(after, copy, size);
    memcpy(after + offsetof(kn_rec_t, block), &blk, sizeof(blk));
    ck_assert(!memcmp(after, before, size));
    check_rec(copy, "part-1", ehk, data, sizeof(data), &tag);
    ck_assert_ptr_eq(copy->next, keep);
    ck_assert_uint_eq(copy->seq, 42);
    ck_assert_int_eq(copy->put_us, 1000);
    ck_assert_int_eq(copy->deadline_us, 2000);
    ck_assert_uint_eq(copy->subseq, 7);
    ck_assert_ptr_eq(copy->result, result);
    ck_assert_ptr_eq(copy->error, serr);
    ck_assert_uint_eq(copy->nattempts, 1);
    ck_assert_ptr_eq(copy->attempts[0].err, serr);
    ck_assert_int_eq(copy->attempts[0].start_us, 100);
    ck_assert_int_eq(copy->attempts[0].duration_us, 150);
    /* the references moved, none taken or dropped */
    ck_assert_int_eq(atomic_load(&serr->refs), 3);
    ck_assert_int_eq(atomic_load(&result->refs), 2);
    /* the original counts as released in its (current) block */
    ck_assert_int_eq(kn_rec_pool_pinned(pool), (int64_t)size);

    /* retire the block with fillers released at once; it lives on through `keep` */
    kn_rec_t *f = mk(pool, 200, 2);
    int64_t fillers = 0;
    while (f->block == blk) {
        fillers += rec_size(f);
        kn_rec_free(f);
        f = mk(pool, 200, 2);
    }
    ck_assert_int_eq(kn_rec_pool_pinned(pool), (int64_t)size + fillers);
    /* releasing `keep` recycles (frees) it: nothing pinned is left */
    kn_rec_free(keep);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    check_rec(copy, "part-1", ehk, data, sizeof(data), &tag);

    /* the copy's references are dropped exactly once, and it pins nothing */
    kn_rec_free(copy);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    ck_assert_int_eq(atomic_load(&serr->refs), 1);
    ck_assert_int_eq(atomic_load(&result->refs), 1);
    kn_serr_unref(serr);
    kn_kresult_unref(result);

    /* the last live record of a retired block: eviction recycles the block */
    kn_rec_t *g[MAX_RECS], *h0;
    size_t ng = fill_block(pool, f->block, g, 0, &h0);
    kn_rec_t *last = f;
    int64_t released = free_range(g, 0, ng);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), released);
    kn_rec_t *last_copy = kn_rec_pool_evict(last);
    ck_assert_ptr_ne(last_copy, last);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    check_fill(last_copy, 200, 2);
    kn_rec_free(last_copy);
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);

    /* records that are not in a block are returned as they are */
    kn_rec_pool_t *unpooled = kn_rec_pool_new(0, 4);
    kn_rec_t *lone[] = {mk(NULL, 10, 3), mk(unpooled, 10, 4), mk(pool, 2 * MAX_POOLED, 5)};
    for (size_t i = 0; i < 3; i++) {
        lone[i]->result = kn_kresult_new("s", "1");
        ck_assert_ptr_eq(kn_rec_pool_evict(lone[i]), lone[i]);
        ck_assert_ptr_nonnull(lone[i]->result);
        kn_rec_free(lone[i]);
    }
    ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
    ck_assert_int_eq(kn_rec_pool_pinned(unpooled), 0);
    kn_rec_free(h0);
    kn_rec_pool_destroy(unpooled);
    kn_rec_pool_destroy(pool);
}
END_TEST

/* Many threads: 4 allocating (taking room under one mutex, as the producer does,
 * and filling it outside), 1 releasing in random order, batched. */
#define NTHREADS 4
#define PER_THREAD 50000
#define TOTAL (NTHREADS * PER_THREAD)
#define MAX_DATA 600
#define MT_BLOCK 2048 /* small: records over 512 bytes are malloc()ed, so both kinds mix */

typedef struct {
    kn_rec_pool_t *pool;
    pthread_mutex_t take_lock; /* serializes kn_rec_pool_take */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kn_rec_list_t pending; /* allocated, not yet released */
    int producers_left;
    atomic_int bad;        /* failures seen by a thread (Check asserts only in the test's thread) */
    unsigned char *seen;   /* per record id: released already */
    size_t released;
    int64_t released_bytes;
} mt_t;

typedef struct {
    mt_t *mt;
    uint32_t first_id;
} producer_arg_t;

static uint32_t mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static size_t mt_len(uint32_t id) { return 1 + mix(id) % MAX_DATA; }
static uint8_t mt_byte(uint32_t id, size_t i) { return (uint8_t)(mix(id ^ 0x9e3779b9U) + i * 13); }

static void *mt_producer(void *arg) {
    const producer_arg_t *pa = arg;
    mt_t *mt = pa->mt;
    uint8_t data[MAX_DATA];
    char pk[16], ehk[16];
    for (uint32_t id = pa->first_id; id < pa->first_id + PER_THREAD; id++) {
        size_t len = mt_len(id);
        for (size_t i = 0; i < len; i++)
            data[i] = mt_byte(id, i);
        int pk_len = snprintf(pk, sizeof(pk), "p%u", (unsigned)id);
        int ehk_len = id % 7 ? 0 : snprintf(ehk, sizeof(ehk), "%u", (unsigned)id);
        size_t size = kn_rec_alloc_size((size_t)pk_len, (size_t)ehk_len, len);
        struct kn_rec_block_s *block;
        pthread_mutex_lock(&mt->take_lock);
        void *mem = kn_rec_pool_take(mt->pool, size, &block);
        pthread_mutex_unlock(&mt->take_lock);
        if (!mem)
            mem = malloc(size);
        kn_rec_t *r = mem ? kn_rec_fill(mem, pk, (size_t)pk_len, ehk, (size_t)ehk_len, data, len,
                                        (void *)(uintptr_t)(id + 1))
                          : NULL;
        if (r)
            r->block = block;
        if (!r) {
            atomic_fetch_add(&mt->bad, 1);
            continue;
        }
        pthread_mutex_lock(&mt->lock);
        kn_rec_list_push(&mt->pending, r);
        pthread_cond_signal(&mt->cond);
        pthread_mutex_unlock(&mt->lock);
    }
    pthread_mutex_lock(&mt->lock);
    mt->producers_left--;
    pthread_cond_signal(&mt->cond);
    pthread_mutex_unlock(&mt->lock);
    return NULL;
}

/* r is intact: the record its id says, with its own bytes, in a block iff small. */
static int mt_intact(mt_t *mt, const kn_rec_t *r) {
    uintptr_t op = (uintptr_t)r->opaque;
    if (op == 0 || op > TOTAL)
        return 0;
    uint32_t id = (uint32_t)(op - 1);
    if (mt->seen[id])
        return 0;
    mt->seen[id] = 1;
    char want[16];
    int n = snprintf(want, sizeof(want), "p%u", (unsigned)id);
    if (r->pk_len != (size_t)n || strcmp(kn_rec_pk(r), want))
        return 0;
    if (id % 7 == 0) {
        n = snprintf(want, sizeof(want), "%u", (unsigned)id);
        if (r->ehk_len != (size_t)n || !kn_rec_ehk(r) || strcmp(kn_rec_ehk(r), want))
            return 0;
    } else if (r->ehk_len || kn_rec_ehk(r)) {
        return 0;
    }
    size_t len = mt_len(id);
    if (r->data_len != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (kn_rec_data(r)[i] != mt_byte(id, i))
            return 0;
    int small = kn_rec_alloc_size(r->pk_len, r->ehk_len, r->data_len) <= MT_BLOCK / 4;
    return small == (r->block != NULL);
}

static void *mt_releaser(void *arg) {
    mt_t *mt = arg;
    uint32_t rng = 12345;
    kn_rec_t **batch = NULL;
    size_t cap = 0;
    kn_rec_release_run_t run = {0};
    for (;;) {
        pthread_mutex_lock(&mt->lock);
        while (!mt->pending.head && mt->producers_left > 0)
            pthread_cond_wait(&mt->cond, &mt->lock);
        kn_rec_list_t got = mt->pending;
        memset(&mt->pending, 0, sizeof(mt->pending));
        int done = mt->producers_left == 0;
        pthread_mutex_unlock(&mt->lock);
        if (!got.head && done)
            break;
        if (got.count > cap) {
            cap = got.count * 2;
            kn_rec_t **nb = realloc(batch, cap * sizeof(*batch));
            if (!nb) {
                atomic_fetch_add(&mt->bad, 1);
                break;
            }
            batch = nb;
        }
        size_t n = 0;
        for (kn_rec_t *r = got.head; r; r = r->next)
            batch[n++] = r;
        /* a partial shuffle: random order, yet with runs of one block left */
        for (size_t i = n; i > 1; i--) {
            rng = mix(rng + (uint32_t)i);
            if (rng % 4 == 0) {
                size_t j = (rng >> 2) % i;
                kn_rec_t *t = batch[i - 1];
                batch[i - 1] = batch[j];
                batch[j] = t;
            }
        }
        for (size_t i = 0; i < n; i++) {
            kn_rec_t *r = batch[i];
            if (!mt_intact(mt, r))
                atomic_fetch_add(&mt->bad, 1);
            int64_t size = (int64_t)kn_rec_alloc_size(r->pk_len, r->ehk_len, r->data_len);
            if (kn_rec_pool_release(&run, r) != size)
                atomic_fetch_add(&mt->bad, 1);
            mt->released++;
            mt->released_bytes += size;
        }
        kn_rec_pool_release_end(&run);
        if (kn_rec_pool_pinned(mt->pool) < 0)
            atomic_fetch_add(&mt->bad, 1);
    }
    free(batch);
    return NULL;
}

START_TEST(threads_allocate_and_release) {
    mt_t mt = {0};
    mt.pool = kn_rec_pool_new(MT_BLOCK, 4);
    ck_assert_ptr_nonnull(mt.pool);
    pthread_mutex_init(&mt.lock, NULL);
    pthread_mutex_init(&mt.take_lock, NULL);
    pthread_cond_init(&mt.cond, NULL);
    mt.producers_left = NTHREADS;
    atomic_init(&mt.bad, 0);
    mt.seen = calloc(TOTAL, 1);
    ck_assert_ptr_nonnull(mt.seen);

    pthread_t rel, prod[NTHREADS];
    producer_arg_t args[NTHREADS];
    ck_assert_int_eq(pthread_create(&rel, NULL, mt_releaser, &mt), 0);
    for (int t = 0; t < NTHREADS; t++) {
        args[t] = (producer_arg_t){&mt, (uint32_t)t * PER_THREAD};
        ck_assert_int_eq(pthread_create(&prod[t], NULL, mt_producer, &args[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(prod[t], NULL);
    pthread_join(rel, NULL);

    ck_assert_int_eq(atomic_load(&mt.bad), 0);
    ck_assert_uint_eq(mt.released, TOTAL);
    for (size_t id = 0; id < TOTAL; id++)
        ck_assert(mt.seen[id]);
    ck_assert_ptr_null(mt.pending.head);
    /* all released: only the current block's records can still be pinned */
    int64_t pinned = kn_rec_pool_pinned(mt.pool);
    ck_assert_int_ge(pinned, 0);
    ck_assert_int_le(pinned, MT_BLOCK);
    ck_assert_int_le(pinned, mt.released_bytes);

    /* retire that block too (probes released at once): then nothing is */
    kn_rec_t *probe = mk(mt.pool, 300, 7);
    const struct kn_rec_block_s *first = probe->block;
    ck_assert_ptr_nonnull(first);
    while (probe->block == first) {
        kn_rec_free(probe);
        probe = mk(mt.pool, 300, 7);
    }
    ck_assert_int_eq(kn_rec_pool_pinned(mt.pool), 0);
    int64_t ps = rec_size(probe);
    kn_rec_free(probe);
    ck_assert_int_eq(kn_rec_pool_pinned(mt.pool), ps);

    kn_rec_pool_destroy(mt.pool);
    pthread_cond_destroy(&mt.cond);
    pthread_mutex_destroy(&mt.lock);
    pthread_mutex_destroy(&mt.take_lock);
    free(mt.seen);
}
END_TEST

START_TEST(destroy_frees_everything) {
    kn_rec_pool_destroy(NULL);
    ck_assert_int_eq(kn_rec_pool_pinned(NULL), 0);
    kn_rec_pool_destroy(kn_rec_pool_new(BLOCK, 4)); /* never used */
    kn_rec_pool_destroy(kn_rec_pool_new(0, 0));

    /* spares, a retired block freed past max_spare, and a current block all released */
    const size_t spares[] = {0, 1, KN_REC_POOL_SPARE_BLOCKS};
    for (size_t k = 0; k < sizeof(spares) / sizeof(spares[0]); k++) {
        kn_rec_pool_t *pool = kn_rec_pool_new(BLOCK, spares[k]);
        ck_assert_ptr_nonnull(pool);
        kn_rec_t *blocks[4][MAX_RECS], *next;
        size_t n[4];
        n[0] = fill_new(pool, blocks[0], &blocks[1][0]);
        for (int i = 1; i < 4; i++) {
            kn_rec_t **after = i < 3 ? &blocks[i + 1][0] : &next;
            n[i] = fill_block(pool, blocks[i][0]->block, blocks[i], 1, after);
        }
        for (int i = 0; i < 4; i++)
            free_range(blocks[i], 0, n[i]);
        kn_rec_t *large = mk(pool, 2 * MAX_POOLED, 1);
        kn_rec_free(large);
        /* the four blocks are recycled; next's block is current */
        ck_assert_int_eq(kn_rec_pool_pinned(pool), 0);
        int64_t sn = rec_size(next);
        kn_rec_free(next);
        ck_assert_int_eq(kn_rec_pool_pinned(pool), sn);
        kn_rec_pool_destroy(pool);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_record_pool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120); /* Check's 4 s default: short for 200,000 records under ASan */
    tcase_add_test(tc, alloc_carries_bytes_and_layout);
    tcase_add_test(tc, pinned_until_block_recycled);
    tcase_add_test(tc, batched_release_matches_one_by_one);
    tcase_add_test(tc, spare_block_reused);
    tcase_add_test(tc, evict_copies_and_moves_references);
    tcase_add_test(tc, threads_allocate_and_release);
    tcase_add_test(tc, destroy_frees_everything);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
