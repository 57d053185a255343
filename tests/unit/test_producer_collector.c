/* PutRecords batching limits (collector.c): 500 entries, 5 MiB, deadlines. */
#include "collector.h"
#include "kn_test.h"

static kn_krec_t *entry(size_t bytes, int64_t deadline) {
    kn_krec_t *k = kn_krec_new();
    ck_assert_ptr_nonnull(k);
    k->wire_bytes = bytes;
    k->deadline_us = deadline;
    return k;
}

static void free_list(kn_krec_list_t *l) {
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(l)))
        kn_krec_free(k);
}

START_TEST(five_hundred_entries) {
    kn_collector_t c;
    kn_collector_init(&c);
    for (int i = 0; i < 500; i++) {
        kn_krec_t *k = entry(100, 1000);
        ck_assert(kn_collector_fits(&c, k));
        kn_collector_add(&c, k);
        ck_assert_int_eq(kn_collector_due(&c, 0, 0), i == 499);
    }
    kn_krec_t *extra = entry(1, 1000);
    ck_assert(!kn_collector_fits(&c, extra));
    kn_krec_list_t batch;
    kn_collector_take(&c, &batch);
    ck_assert_uint_eq(batch.count, 500);
    ck_assert_uint_eq(c.krecs.count, 0);
    ck_assert_uint_eq(c.bytes, 0);
    ck_assert(kn_collector_fits(&c, extra));
    free_list(&batch);
    kn_krec_free(extra);
}
END_TEST

START_TEST(five_mebibytes) {
    kn_collector_t c;
    kn_collector_init(&c);
    /* five maximal records fill a request exactly */
    for (int i = 0; i < 5; i++) {
        kn_krec_t *k = entry(KN_KREC_MAX_BYTES, 1000);
        ck_assert(kn_collector_fits(&c, k));
        kn_collector_add(&c, k);
    }
    ck_assert_uint_eq(c.bytes, KN_PUT_MAX_BYTES);
    kn_krec_t *one = entry(1, 1000);
    ck_assert(!kn_collector_fits(&c, one));
    kn_krec_list_t batch;
    kn_collector_take(&c, &batch);
    free_list(&batch);
    /* 4 MiB + 1 MiB - 1 leaves room for exactly one more byte */
    for (int i = 0; i < 4; i++)
        kn_collector_add(&c, entry(KN_KREC_MAX_BYTES, 1000));
    kn_collector_add(&c, entry(KN_KREC_MAX_BYTES - 1, 1000));
    ck_assert(kn_collector_fits(&c, one));
    kn_collector_add(&c, one);
    kn_krec_t *two = entry(1, 1000);
    ck_assert(!kn_collector_fits(&c, two));
    kn_collector_take(&c, &batch);
    ck_assert_uint_eq(batch.count, 6);
    free_list(&batch);
    kn_krec_free(two);
}
END_TEST

START_TEST(earliest_deadline_or_flush) {
    kn_collector_t c;
    kn_collector_init(&c);
    ck_assert(!kn_collector_due(&c, INT64_MAX, 1)); /* empty: never */
    kn_collector_add(&c, entry(10, 300));
    kn_collector_add(&c, entry(10, 200));
    kn_collector_add(&c, entry(10, 400));
    ck_assert_int_eq(c.deadline_us, 200);
    ck_assert(!kn_collector_due(&c, 199, 0));
    ck_assert(kn_collector_due(&c, 199, 1));
    ck_assert(kn_collector_due(&c, 200, 0));
    kn_krec_list_t batch;
    kn_collector_take(&c, &batch);
    ck_assert_int_eq(c.deadline_us, INT64_MAX);
    ck_assert_int_eq(batch.head->deadline_us, 300); /* order kept */
    free_list(&batch);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_collector");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, five_hundred_entries);
    tcase_add_test(tc, five_mebibytes);
    tcase_add_test(tc, earliest_deadline_or_flush);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
