/* Per-shard aggregation (aggregator.c): exact size limit, plain singles, order, rebuild. */
#include <stdio.h>
#include <string.h>

#include "aggregator.h"
#include "kn_test.h"

static kn_rec_t *mkrec(const char *pk, const char *ehk, size_t data_len, int fill, int64_t t) {
    uint8_t data[70000];
    ck_assert_uint_le(data_len, sizeof(data));
    memset(data, fill, data_len);
    kn_rec_t *r = kn_rec_new(pk, strlen(pk), ehk, ehk ? strlen(ehk) : 0, data, data_len, NULL);
    ck_assert_ptr_nonnull(r);
    if (ehk)
        ck_assert_int_eq(kn_u128_parse_decimal(ehk, strlen(ehk), &r->hash), KN_OK);
    else
        ck_assert_int_eq(kn_hashkey_from_partition_key(pk, strlen(pk), &r->hash), KN_OK);
    r->put_us = t;
    r->deadline_us = t + 100;
    r->expire_us = t + 1000;
    return r;
}

/* Every test starts with an enabled context (51200 bytes), an empty aggregator and output. */
static kn_agg_ctx_t c;
static kn_aggregator_t a;
static kn_krec_list_t out;

static void setup(void) {
    ck_assert_int_eq(kn_agg_ctx_init(&c, 1, 51200), KN_OK);
    kn_aggregator_init(&a);
    memset(&out, 0, sizeof(out));
}

static void teardown(void) { kn_agg_ctx_clear(&c); }

static void free_krecs(kn_agg_ctx_t *ctx, kn_krec_list_t *l) {
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(l))) {
        kn_rec_t *r;
        while ((r = kn_rec_list_pop(&k->recs)))
            kn_rec_free(r);
        kn_krec_release(ctx, k);
    }
}

/* Decodes k and checks it carries exactly its records, in order. */
static void check_blob(kn_agg_decoder_t *d, const kn_krec_t *k) {
    const kn_agg_record_t *recs;
    size_t n;
    ck_assert_int_eq(kn_agg_decode(d, k->blob, k->blob_len, &recs, &n), KN_OK);
    ck_assert_uint_eq(n, k->recs.count);
    size_t i = 0;
    for (const kn_rec_t *r = k->recs.head; r; r = r->next, i++) {
        ck_assert_uint_eq(r->subseq, i);
        ck_assert(k->aggregated);
        ck_assert_uint_eq(recs[i].partition_key_len, r->pk_len);
        ck_assert(!memcmp(recs[i].partition_key, kn_rec_pk(r), r->pk_len));
        ck_assert_uint_eq(recs[i].data_len, r->data_len);
        ck_assert(!memcmp(recs[i].data, kn_rec_data(r), r->data_len));
        if (r->ehk_len) {
            ck_assert_uint_eq(recs[i].explicit_hash_key_len, r->ehk_len);
            ck_assert(!memcmp(recs[i].explicit_hash_key, kn_rec_ehk(r), r->ehk_len));
        } else {
            ck_assert_ptr_null(recs[i].explicit_hash_key);
        }
    }
}

START_TEST(fills_to_exact_limit) {
    char pk[32];
    const int N = 3000;
    kn_rec_t *all[3000];
    for (int i = 0; i < N; i++) {
        snprintf(pk, sizeof(pk), "key-%d", i % 97);
        /* sizes vary so the limit is hit at different offsets */
        all[i] = mkrec(pk, i % 11 == 0 ? "12345678901234567890" : NULL, 50 + (size_t)(i * 7) % 150,
                       i & 0xff, i);
        ck_assert_int_eq(kn_aggregator_add(&c, &a, all[i], &out), KN_OK);
    }
    ck_assert_int_eq(kn_aggregator_flush(&c, &a, &out), KN_OK);
    ck_assert_uint_eq(a.recs.count, 0);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    kn_agg_builder_t *b = kn_agg_builder_new();
    int seen = 0;
    int64_t blob_bytes = 0;
    for (kn_krec_t *k = out.head; k; k = k->next) {
        ck_assert_ptr_nonnull(k->blob);
        ck_assert_uint_le(k->blob_len, 51200);
        ck_assert_uint_eq(k->wire_bytes, k->blob_len + 1);
        ck_assert_str_eq(kn_krec_pk(k), "a");
        /* the entry's EHK is the first record's hash key */
        char dec[40];
        kn_u128_to_decimal(k->recs.head->hash, dec, sizeof(dec));
        ck_assert_str_eq(kn_krec_ehk(k), dec);
        ck_assert_ptr_eq(k->recs.head, all[seen]);
        check_blob(d, k);
        /* exact: the next record would not have fitted */
        if (k->next) {
            kn_agg_builder_reset(b);
            for (const kn_rec_t *r = k->recs.head; r; r = r->next)
                kn_agg_builder_add(b, kn_rec_pk(r), r->pk_len, kn_rec_ehk(r), r->ehk_len,
                                   kn_rec_data(r), r->data_len, SIZE_MAX);
            const kn_rec_t *nx = k->next->recs.head;
            ck_assert_uint_gt(kn_agg_builder_size_if_added(b, kn_rec_pk(nx), nx->pk_len,
                                                           kn_rec_ehk(nx), nx->ehk_len, nx->data_len),
                              51200);
            ck_assert_uint_gt(k->blob_len, 51200 - 300);
        }
        /* times are the minimum over the records: the first ones here */
        ck_assert_int_eq(k->deadline_us, k->recs.head->deadline_us);
        ck_assert_int_eq(k->expire_us, k->recs.head->expire_us);
        seen += (int)k->recs.count;
        blob_bytes += (int64_t)k->blob_len;
    }
    ck_assert_int_eq(seen, N);
    ck_assert_int_eq(c.bytes, blob_bytes);
    free_krecs(&c, &out);
    ck_assert_int_eq(c.bytes, 0);
    kn_agg_builder_destroy(b);
    kn_agg_decoder_destroy(d);
}
END_TEST

START_TEST(single_record_is_plain) {
    kn_rec_t *r = mkrec("user-7", "99", 10, 1, 5);
    ck_assert_int_eq(kn_aggregator_add(&c, &a, r, &out), KN_OK);
    ck_assert_uint_eq(out.count, 0);
    ck_assert_int_eq(a.deadline_us, 105);
    ck_assert_int_eq(c.bytes, 0); /* one record is not copied */
    ck_assert_int_eq(kn_aggregator_flush(&c, &a, &out), KN_OK);
    ck_assert_uint_eq(out.count, 1);
    kn_krec_t *k = out.head;
    ck_assert_ptr_null(k->blob);
    ck_assert_str_eq(kn_krec_pk(k), "user-7");
    ck_assert_str_eq(kn_krec_ehk(k), "99");
    ck_assert_uint_eq(kn_krec_data_len(k), 10);
    ck_assert_uint_eq(k->wire_bytes, 16);
    ck_assert(!k->aggregated);
    free_krecs(&c, &out);
    /* without an EHK the plain entry has none */
    r = mkrec("user-8", NULL, 3, 1, 5);
    ck_assert_int_eq(kn_aggregator_add(&c, &a, r, &out), KN_OK);
    ck_assert_int_eq(kn_aggregator_flush(&c, &a, &out), KN_OK);
    ck_assert_ptr_null(kn_krec_ehk(out.head));
    free_krecs(&c, &out);
    /* flushing an empty aggregator produces nothing */
    ck_assert_int_eq(kn_aggregator_flush(&c, &a, &out), KN_OK);
    ck_assert_uint_eq(out.count, 0);
}
END_TEST

START_TEST(large_record_keeps_order) {
    kn_rec_t *r1 = mkrec("k1", NULL, 100, 1, 1), *r2 = mkrec("k2", NULL, 100, 2, 2);
    kn_rec_t *big = mkrec("k3", NULL, 60000, 3, 3), *r4 = mkrec("k4", NULL, 100, 4, 4);
    ck_assert_int_eq(kn_aggregator_add(&c, &a, r1, &out), KN_OK);
    ck_assert_int_eq(kn_aggregator_add(&c, &a, r2, &out), KN_OK);
    ck_assert_uint_eq(out.count, 0);
    ck_assert_int_gt(c.bytes, 200);
    /* too big to aggregate: the open aggregate goes first, then the big one alone */
    ck_assert_int_eq(kn_aggregator_add(&c, &a, big, &out), KN_OK);
    ck_assert_uint_eq(out.count, 2);
    ck_assert_uint_eq(out.head->recs.count, 2);
    ck_assert_ptr_eq(out.head->recs.head, r1);
    ck_assert_ptr_eq(out.tail->recs.head, big);
    ck_assert_ptr_null(out.tail->blob);
    ck_assert_uint_eq(out.tail->wire_bytes, 60002);
    ck_assert_int_eq(kn_aggregator_add(&c, &a, r4, &out), KN_OK);
    ck_assert_uint_eq(a.recs.count, 1);
    /* a record that fits alone but not with the open one closes it as a plain record */
    kn_rec_t *r5 = mkrec("k5", NULL, 51100, 5, 5);
    ck_assert_int_eq(kn_aggregator_add(&c, &a, r5, &out), KN_OK);
    ck_assert_uint_eq(out.count, 3);
    ck_assert_ptr_eq(out.tail->recs.head, r4);
    ck_assert_ptr_null(out.tail->blob);
    ck_assert_ptr_eq(a.recs.head, r5);
    ck_assert_int_eq(kn_aggregator_flush(&c, &a, &out), KN_OK);
    free_krecs(&c, &out);
    ck_assert_int_eq(c.bytes, 0);
}
END_TEST

START_TEST(disabled_sends_each_alone) {
    c.enabled = 0;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(kn_aggregator_add(&c, &a, mkrec("same", NULL, 10, i, i), &out), KN_OK);
    ck_assert_uint_eq(out.count, 5);
    for (kn_krec_t *k = out.head; k; k = k->next)
        ck_assert_ptr_null(k->blob);
    free_krecs(&c, &out);
}
END_TEST

START_TEST(deadline_is_minimum_and_take_returns_records) {
    kn_rec_t *r1 = mkrec("a1", NULL, 10, 1, 50), *r2 = mkrec("a2", NULL, 10, 1, 20);
    kn_rec_t *r3 = mkrec("a3", NULL, 10, 1, 70);
    r3->expire_us = 90; /* a retried record may expire before the others */
    kn_aggregator_add(&c, &a, r1, &out);
    kn_aggregator_add(&c, &a, r2, &out);
    kn_aggregator_add(&c, &a, r3, &out);
    ck_assert_int_eq(a.deadline_us, 120);
    ck_assert_int_eq(a.expire_us, 90);
    kn_rec_list_t back = {0};
    kn_aggregator_take(&c, &a, &back);
    ck_assert_uint_eq(back.count, 3);
    ck_assert_ptr_eq(back.head, r1);
    ck_assert_int_eq(c.bytes, 0);
    ck_assert_int_eq(a.deadline_us, INT64_MAX);
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(&back)))
        kn_rec_free(r);
}
END_TEST

START_TEST(rebuild_after_removal) {
    kn_rec_t *r[4];
    for (int i = 0; i < 4; i++) {
        char pk[16];
        snprintf(pk, sizeof(pk), "p%d", i);
        r[i] = mkrec(pk, NULL, 20, i, 10 * i);
        kn_aggregator_add(&c, &a, r[i], &out);
    }
    kn_aggregator_flush(&c, &a, &out);
    kn_krec_t *k = out.head;
    size_t before = k->blob_len;
    /* drop the first record (say it expired): the rest is re-encoded, EHK follows the new first */
    kn_rec_free(kn_rec_list_pop(&k->recs));
    ck_assert_int_eq(kn_krec_rebuild(&c, k), KN_OK);
    ck_assert_uint_lt(k->blob_len, before);
    ck_assert_int_eq(c.bytes, (int64_t)k->blob_len);
    char dec[40];
    kn_u128_to_decimal(r[1]->hash, dec, sizeof(dec));
    ck_assert_str_eq(k->ehk, dec);
    ck_assert_int_eq(k->deadline_us, r[1]->deadline_us);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    check_blob(d, k);
    kn_agg_decoder_destroy(d);
    /* down to one: a plain record */
    kn_rec_free(kn_rec_list_pop(&k->recs));
    kn_rec_free(kn_rec_list_pop(&k->recs));
    ck_assert_int_eq(kn_krec_rebuild(&c, k), KN_OK);
    ck_assert_ptr_null(k->blob);
    ck_assert_str_eq(kn_krec_pk(k), "p3");
    ck_assert_uint_eq(r[3]->subseq, 0);
    ck_assert(!k->aggregated);
    ck_assert_int_eq(c.bytes, 0);
    free_krecs(&c, &out);
}
END_TEST

/* With deferred digests, blobs are valid only once kn_agg_seal_list() ran, also after a rebuild. */
START_TEST(deferred_digests_sealed_together) {
    enum { N = 3000 };
    c.defer_digests = 1;
    for (int i = 0; i < N; i++) {
        char pk[16];
        snprintf(pk, sizeof(pk), "key-%d", i % 13);
        ck_assert_int_eq(kn_aggregator_add(&c, &a, mkrec(pk, NULL, 150, i & 0xff, i), &out), KN_OK);
    }
    ck_assert_int_eq(kn_aggregator_flush(&c, &a, &out), KN_OK);
    ck_assert_uint_gt(out.count, KN_AGG_CHECK_CHUNK / 8); /* several aggregates */
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *recs;
    size_t n;
    for (kn_krec_t *k = out.head; k; k = k->next) {
        ck_assert(k->unsealed);
        ck_assert_int_eq(kn_agg_decode(d, k->blob, k->blob_len, &recs, &n), KN_ERR_CRC);
    }
    kn_agg_seal_list(&out);
    for (kn_krec_t *k = out.head; k; k = k->next) {
        ck_assert(!k->unsealed);
        check_blob(d, k);
    }
    /* a rebuilt aggregate is unsealed again until the next seal */
    kn_krec_t *k = out.head;
    kn_rec_free(kn_rec_list_pop(&k->recs));
    ck_assert_int_eq(kn_krec_rebuild(&c, k), KN_OK);
    ck_assert(k->unsealed);
    kn_agg_seal_list(&out);
    check_blob(d, k);
    kn_agg_decoder_destroy(d);
    free_krecs(&c, &out);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_aggregator");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fills_to_exact_limit);
    tcase_add_test(tc, single_record_is_plain);
    tcase_add_test(tc, large_record_keeps_order);
    tcase_add_test(tc, disabled_sends_each_alone);
    tcase_add_test(tc, deadline_is_minimum_and_take_returns_records);
    tcase_add_test(tc, rebuild_after_removal);
    tcase_add_test(tc, deferred_digests_sealed_together);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
