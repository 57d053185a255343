/* Deaggregation with subsequence numbers and restart filtering of retrieved records. */
#include <stdio.h>
#include <string.h>

#include "agg.h"
#include "batch.h"
#include "kn_test.h"

typedef struct {
    uint8_t buf[4096];
    size_t len;
} blob_t;

/* An aggregate of n user records "u0".."u{n-1}", keys k0/k1 alternating, EHK on odd ones. */
static void make_agg(blob_t *out, int n) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    for (int i = 0; i < n; i++) {
        char data[16];
        snprintf(data, sizeof(data), "u%d", i);
        const char *pk = i % 2 ? "k1" : "k0";
        const char *ehk = i % 2 ? "12345678901234567890" : NULL;
        ck_assert_int_eq(kn_agg_builder_add(b, pk, 2, ehk, ehk ? strlen(ehk) : 0, data,
                                            strlen(data), SIZE_MAX),
                         KN_OK);
    }
    ck_assert_int_eq(kn_agg_builder_finish(b, out->buf, sizeof(out->buf), &out->len), KN_OK);
    kn_agg_builder_destroy(b);
}

static kn_record_t rec(const char *seq, const void *data, size_t len, const char *pk) {
    kn_record_t r;
    memset(&r, 0, sizeof(r));
    r.sequence_number = seq;
    r.data = data;
    r.data_len = len;
    r.partition_key = pk;
    r.approximate_arrival_ms = 1700000000123;
    return r;
}

static void check_user(const kn_user_record_t *u, const char *seq, int64_t sub, const char *data) {
    ck_assert_str_eq(u->sequence_number, seq);
    ck_assert_int_eq(u->subsequence_number, sub);
    ck_assert_int_eq(u->data_len, strlen(data));
    ck_assert(!memcmp(u->data, data, u->data_len));
}

START_TEST(plain_records_pass_through) {
    kn_record_t r[2] = {rec("100", "a", 1, "pa"), rec("200", "bb", 2, "pb")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    kn_esn_t last;
    ck_assert_int_eq(kn_batch_build(b, r, 2, NULL, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 2);
    check_user(&u[0], "100", 0, "a");
    check_user(&u[1], "200", 0, "bb");
    ck_assert_str_eq(u[1].partition_key, "pb");
    ck_assert_ptr_null(u[1].explicit_hash_key);
    ck_assert_int_eq(u[1].aggregated, 0);
    ck_assert_int_eq(u[1].approximate_arrival_ms, 1700000000123);
    ck_assert_str_eq(kn_esn_str(&last), "200");
    ck_assert_int_eq(kn_batch_build(b, NULL, 0, NULL, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 0);
    kn_batch_builder_destroy(b);
}
END_TEST

START_TEST(aggregate_split_with_subsequence_numbers) {
    blob_t agg;
    make_agg(&agg, 5);
    kn_record_t r[3] = {rec("100", "x", 1, "px"), rec("200", agg.buf, agg.len, "k0"),
                        rec("300", "y", 1, "py")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    kn_esn_t last;
    ck_assert_int_eq(kn_batch_build(b, r, 3, NULL, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 7);
    check_user(&u[0], "100", 0, "x");
    for (int i = 0; i < 5; i++) {
        char data[16];
        snprintf(data, sizeof(data), "u%d", i);
        check_user(&u[1 + i], "200", i, data);
        ck_assert_int_eq(u[1 + i].aggregated, 1);
        ck_assert_str_eq(u[1 + i].partition_key, i % 2 ? "k1" : "k0");
        if (i % 2)
            ck_assert_str_eq(u[1 + i].explicit_hash_key, "12345678901234567890");
        else
            ck_assert_ptr_null(u[1 + i].explicit_hash_key);
        ck_assert_int_eq(u[1 + i].approximate_arrival_ms, 1700000000123);
    }
    check_user(&u[6], "300", 0, "y");
    ck_assert_str_eq(kn_esn_str(&last), "300");
    ck_assert_int_eq(kn_batch_builder_malformed(b), 0);
    kn_batch_builder_destroy(b);
}
END_TEST

/* Restart at a checkpoint inside an aggregate: the rest of it, nothing before. */
START_TEST(restart_inside_aggregate) {
    blob_t agg;
    make_agg(&agg, 5);
    kn_record_t r[3] = {rec("100", "x", 1, "px"), rec("200", agg.buf, agg.len, "k0"),
                        rec("300", "y", 1, "py")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    kn_esn_t after, last;
    kn_esn_parse("200", 2, &after);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 3);
    check_user(&u[0], "200", 3, "u3");
    check_user(&u[1], "200", 4, "u4");
    check_user(&u[2], "300", 0, "y");
    /* at the aggregate's last user record: the whole aggregate is done */
    kn_esn_parse("200", 4, &after);
    ck_assert_int_eq(kn_batch_build(b, r + 1, 2, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 1);
    check_user(&u[0], "300", 0, "y");
    /* at a plain record: it and everything before are dropped */
    kn_esn_parse("100", 0, &after);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 6);
    check_user(&u[0], "200", 0, "u0");
    /* everything filtered: empty batch */
    kn_esn_parse("999", 0, &after);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 0);
    /* a sentinel start filters nothing */
    after = kn_esn_sentinel(KN_ESN_TRIM_HORIZON);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 7);
    kn_batch_builder_destroy(b);
}
END_TEST

/* Aggregates that do not decode are delivered unchanged, as one plain record. */
START_TEST(malformed_aggregate_as_plain_record) {
    blob_t agg;
    make_agg(&agg, 3);
    agg.buf[agg.len - 1] ^= 0xff; /* MD5 mismatch */
    uint8_t junk[40];
    memcpy(junk, kn_agg_magic, KN_AGG_MAGIC_LEN);
    memset(junk + KN_AGG_MAGIC_LEN, 0xff, sizeof(junk) - KN_AGG_MAGIC_LEN);
    kn_record_t r[2] = {rec("100", agg.buf, agg.len, "k0"), rec("200", junk, sizeof(junk), "pj")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    ck_assert_int_eq(kn_batch_build(b, r, 2, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(u[0].data_len, agg.len);
    ck_assert_ptr_eq(u[0].data, agg.buf);
    ck_assert_int_eq(u[0].aggregated, 0);
    ck_assert_str_eq(u[0].partition_key, "k0");
    ck_assert_int_eq(u[1].data_len, sizeof(junk));
    ck_assert_int_eq(kn_batch_builder_malformed(b), 2);
    kn_batch_builder_destroy(b);
}
END_TEST

START_TEST(bad_input) {
    kn_record_t r[1] = {rec("01", "a", 1, "p")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_ERR_BAD_RESPONSE);
    r[0].sequence_number = NULL;
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_ERR_BAD_RESPONSE);
    ck_assert_int_eq(kn_batch_build(b, NULL, 1, NULL, &u, &n, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_batch_build(NULL, r, 1, NULL, &u, &n, NULL), KN_ERR_INVALID_ARG);
    kn_batch_builder_destroy(b);
    kn_batch_builder_destroy(NULL);
}
END_TEST

/* Large batches: many aggregates, arrays and the key arena grow. */
START_TEST(large_batch) {
    enum { NAGG = 300, PER = 40 };
    kn_agg_builder_t *ab = kn_agg_builder_new();
    static uint8_t bufs[NAGG][2048];
    static char seqs[NAGG][24];
    kn_record_t r[NAGG];
    for (int a = 0; a < NAGG; a++) {
        kn_agg_builder_reset(ab);
        for (int i = 0; i < PER; i++) {
            char pk[32];
            snprintf(pk, sizeof(pk), "key-%d-%d", a, i);
            kn_agg_builder_add(ab, pk, strlen(pk), NULL, 0, pk, strlen(pk), SIZE_MAX);
        }
        size_t len;
        ck_assert_int_eq(kn_agg_builder_finish(ab, bufs[a], sizeof(bufs[a]), &len), KN_OK);
        snprintf(seqs[a], sizeof(seqs[a]), "%d", 1000 + a);
        r[a] = rec(seqs[a], bufs[a], len, "x");
    }
    kn_agg_builder_destroy(ab);
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    ck_assert_int_eq(kn_batch_build(b, r, NAGG, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, NAGG * PER);
    for (size_t i = 0; i < n; i++) {
        char pk[32];
        snprintf(pk, sizeof(pk), "key-%zu-%zu", i / PER, i % PER);
        ck_assert_str_eq(u[i].partition_key, pk);
        ck_assert_int_eq(u[i].data_len, strlen(pk));
        ck_assert(!memcmp(u[i].data, pk, u[i].data_len));
    }
    kn_batch_builder_destroy(b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, plain_records_pass_through);
    tcase_add_test(tc, aggregate_split_with_subsequence_numbers);
    tcase_add_test(tc, restart_inside_aggregate);
    tcase_add_test(tc, malformed_aggregate_as_plain_record);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, large_batch);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
