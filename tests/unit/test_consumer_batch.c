/* Deaggregation with subsequence numbers and restart filtering of retrieved records. */
#include <stdio.h>
#include <string.h>

#include "agg.h"
#include "batch.h"
#include "hashkey.h"
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

/* ---- the KCL's hash-range rule ---- */

/* An aggregate of user records "v0".."v{n-1}" with these partition keys and EHKs (NULL: none). */
static void make_keyed_agg(blob_t *out, const char *const *pks, const char *const *ehks, int n) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    for (int i = 0; i < n; i++) {
        char data[16];
        snprintf(data, sizeof(data), "v%d", i);
        const char *ehk = ehks ? ehks[i] : NULL;
        ck_assert_int_eq(kn_agg_builder_add(b, pks[i], strlen(pks[i]), ehk, ehk ? strlen(ehk) : 0,
                                            data, strlen(data), SIZE_MAX),
                         KN_OK);
    }
    ck_assert_int_eq(kn_agg_builder_finish(b, out->buf, sizeof(out->buf), &out->len), KN_OK);
    kn_agg_builder_destroy(b);
}

static kn_u128_t pk_hash(const char *pk) {
    kn_u128_t h;
    ck_assert_int_eq(kn_hashkey_from_partition_key(pk, strlen(pk), &h), KN_OK);
    return h;
}

static kn_u128_t add(kn_u128_t v, int d) {
    if (d > 0) {
        v.lo += 1;
        v.hi += v.lo == 0;
    } else {
        v.hi -= v.lo == 0;
        v.lo -= 1;
    }
    return v;
}

/* Sets [lo, hi] given as integers. */
static void set_range(kn_batch_builder_t *b, kn_u128_t lo, kn_u128_t hi) {
    char s[KN_U128_DEC_MAX + 1], e[KN_U128_DEC_MAX + 1];
    ck_assert_uint_gt(kn_u128_to_decimal(lo, s, sizeof(s)), 0);
    ck_assert_uint_gt(kn_u128_to_decimal(hi, e, sizeof(e)), 0);
    ck_assert_int_eq(kn_batch_builder_set_hash_range(b, s, e), KN_OK);
}

/* Three keys and the range that just holds their hash keys; keys[2] has the highest. */
typedef struct {
    const char *keys[3];
    kn_u128_t lo, hi;
} keyset_t;

static keyset_t keyset(void) {
    keyset_t k = {{"a", "partitionKey-1", "abc"}, {0, 0}, {0, 0}};
    kn_u128_t h[3] = {pk_hash(k.keys[0]), pk_hash(k.keys[1]), pk_hash(k.keys[2])};
    /* the test relies on this order of the three MD5s */
    ck_assert_int_lt(kn_u128_cmp(h[0], h[1]), 0);
    ck_assert_int_lt(kn_u128_cmp(h[1], h[2]), 0);
    k.lo = h[0];
    k.hi = h[2];
    return k;
}

/* The keyset, and an aggregate of its three keys in *agg. */
static keyset_t keyset_agg(blob_t *agg) {
    keyset_t ks = keyset();
    make_keyed_agg(agg, ks.keys, NULL, 3);
    return ks;
}

/* Every key within [start, end] (both bounds inclusive): the whole aggregate is delivered. */
START_TEST(range_all_keys_inside) {
    blob_t agg;
    keyset_t ks = keyset_agg(&agg);
    kn_record_t r[1] = {rec("100", agg.buf, agg.len, "a")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    set_range(b, ks.lo, ks.hi);
    const kn_user_record_t *u;
    size_t n;
    const kn_batch_drop_t *d;
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(u[i].partition_key, ks.keys[i]);
    ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 0);
    kn_batch_builder_destroy(b);
}
END_TEST

/*
 * One partition key past either end drops every user record of the aggregate,
 * also those before it; plain records around it are delivered.
 */
START_TEST(range_one_key_outside_drops_aggregate) {
    blob_t agg;
    keyset_t ks = keyset_agg(&agg);
    kn_record_t r[3] = {rec("100", "x", 1, "px"), rec("200", agg.buf, agg.len, "a"),
                        rec("300", "y", 1, "py")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    kn_esn_t last;
    const kn_batch_drop_t *d;
    const kn_u128_t ranges[2][2] = {{ks.lo, add(ks.hi, -1)}, {add(ks.lo, 1), ks.hi}};
    for (int t = 0; t < 2; t++) {
        set_range(b, ranges[t][0], ranges[t][1]);
        ck_assert_int_eq(kn_batch_build(b, r, 3, NULL, &u, &n, &last), KN_OK);
        ck_assert_int_eq(n, 2);
        check_user(&u[0], "100", 0, "x");
        check_user(&u[1], "300", 0, "y");
        ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 1);
        ck_assert_str_eq(d[0].sequence_number, "200");
        ck_assert_uint_eq(d[0].user_records, 3);
    }
    /* the dropped aggregate last: the batch ends at the last delivered record */
    ck_assert_int_eq(kn_batch_build(b, r, 2, NULL, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(kn_esn_str(&last), "100");
    /* nothing but the dropped aggregate: an empty batch */
    ck_assert_int_eq(kn_batch_build(b, r + 1, 1, NULL, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 1);
    /* each build reports its own drops */
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, &last), KN_OK);
    ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 0);
    ck_assert_int_eq(kn_batch_builder_malformed(b), 0);
    kn_batch_builder_destroy(b);
}
END_TEST

/* The explicit hash key, not the partition key, decides for records that have one. */
START_TEST(range_explicit_hash_keys) {
    keyset_t ks = keyset();
    char inside[KN_U128_DEC_MAX + 1], outside[KN_U128_DEC_MAX + 1], padded[KN_U128_DEC_MAX + 4];
    kn_u128_to_decimal(add(ks.lo, 1), inside, sizeof(inside));
    kn_u128_to_decimal(add(ks.hi, 1), outside, sizeof(outside));
    snprintf(padded, sizeof(padded), "00%s", inside); /* as Java's BigInteger reads it */
    /* "abc" hashes inside, but its EHK is outside */
    const char *pks[3] = {"a", "abc", "a"};
    const char *ehk_out[3] = {NULL, outside, NULL};
    /* "zzz" hashes above the range; its EHK is inside */
    ck_assert_int_gt(kn_u128_cmp(pk_hash("zzz"), ks.hi), 0);
    const char *pks_in[3] = {"a", "zzz", "zzz"};
    const char *ehk_in[3] = {NULL, inside, padded};
    const char *ehk_bad[3] = {NULL, inside, "12x"};
    blob_t out_agg, in_agg, bad_agg;
    make_keyed_agg(&out_agg, pks, ehk_out, 3);
    make_keyed_agg(&in_agg, pks_in, ehk_in, 3);
    make_keyed_agg(&bad_agg, pks_in, ehk_bad, 3);
    kn_record_t r[3] = {rec("100", out_agg.buf, out_agg.len, "a"),
                        rec("200", in_agg.buf, in_agg.len, "a"),
                        rec("300", bad_agg.buf, bad_agg.len, "a")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    set_range(b, ks.lo, ks.hi);
    const kn_user_record_t *u;
    size_t n;
    const kn_batch_drop_t *d;
    ck_assert_int_eq(kn_batch_build(b, r, 3, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(u[i].sequence_number, "200");
    ck_assert_str_eq(u[1].explicit_hash_key, inside);
    ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 2);
    ck_assert_str_eq(d[0].sequence_number, "100");
    ck_assert_str_eq(d[1].sequence_number, "300"); /* not a decimal: cannot be in the range */
    kn_batch_builder_destroy(b);
}
END_TEST

/* Plain records and aggregates that do not decode are never dropped. */
START_TEST(range_plain_records_never_dropped) {
    blob_t agg;
    keyset_t ks = keyset_agg(&agg);
    agg.buf[agg.len - 1] ^= 0xff; /* MD5 mismatch: a plain record */
    kn_record_t r[2] = {rec("100", "x", 1, "outside-the-range"), rec("200", agg.buf, agg.len, "a")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    /* a range holding no key at all: [h(abc)+1, h(abc)+1] */
    set_range(b, add(ks.hi, 1), add(ks.hi, 1));
    const kn_user_record_t *u;
    size_t n;
    ck_assert_int_eq(kn_batch_build(b, r, 2, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(u[0].partition_key, "outside-the-range");
    ck_assert_int_eq(u[1].aggregated, 0);
    ck_assert_ptr_eq(u[1].data, agg.buf);
    ck_assert_uint_eq(kn_batch_builder_drops(b, NULL), 0);
    ck_assert_int_eq(kn_batch_builder_malformed(b), 1);
    kn_batch_builder_destroy(b);
}
END_TEST

/* Without a range (leases of older tables) nothing is checked; bad ranges are refused. */
START_TEST(range_absent_or_invalid) {
    blob_t agg;
    keyset_t ks = keyset_agg(&agg);
    kn_record_t r[1] = {rec("100", agg.buf, agg.len, "a")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    const kn_user_record_t *u;
    size_t n;
    set_range(b, add(ks.hi, 1), add(ks.hi, 1));
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(kn_batch_builder_set_hash_range(b, NULL, "5"), KN_OK);
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(kn_batch_builder_drops(b, NULL), 0);
    /* refused, and the previous setting (none) stays */
    ck_assert_int_eq(kn_batch_builder_set_hash_range(b, "5", "4"), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_batch_builder_set_hash_range(b, "-1", "4"), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_batch_builder_set_hash_range(b, "0", "340282366920938463463374607431768211456"),
                     KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_batch_builder_set_hash_range(NULL, "0", "1"), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 3);
    /* the full range of a one-shard stream holds everything */
    ck_assert_int_eq(kn_batch_builder_set_hash_range(b, "0", "340282366920938463463374607431768211455"),
                     KN_OK);
    ck_assert_int_eq(kn_batch_build(b, r, 1, NULL, &u, &n, NULL), KN_OK);
    ck_assert_int_eq(n, 3);
    kn_batch_builder_destroy(b);
    ck_assert_uint_eq(kn_batch_builder_drops(NULL, NULL), 0);
}
END_TEST

/* Restarting inside aggregates: the rule looks at every user record, the checkpoint at what follows it. */
START_TEST(range_with_checkpoint_restart) {
    keyset_t ks = keyset();
    const char *out_keys[3] = {"a", "abc", "a"};
    blob_t in_agg, out_agg;
    make_keyed_agg(&in_agg, ks.keys, NULL, 3);
    make_keyed_agg(&out_agg, out_keys, NULL, 3);
    kn_record_t r[3] = {rec("200", in_agg.buf, in_agg.len, "a"),
                        rec("300", out_agg.buf, out_agg.len, "a"), rec("400", "y", 1, "py")};
    kn_batch_builder_t *b = kn_batch_builder_new();
    set_range(b, ks.lo, add(ks.hi, -1)); /* "abc" is outside */
    const kn_user_record_t *u;
    size_t n;
    kn_esn_t after, last;
    const kn_batch_drop_t *d;
    /* restart after subsequence 0 of 200: "abc" (subsequence 2) is still checked */
    kn_esn_parse("200", 0, &after);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 1);
    check_user(&u[0], "400", 0, "y");
    ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 2);
    /* restart after subsequence 1 of 300: its out-of-range record, already covered, still counts */
    kn_esn_t in_300;
    kn_esn_parse("300", 1, &in_300);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &in_300, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 1);
    check_user(&u[0], "400", 0, "y");
    ck_assert_uint_eq(kn_batch_builder_drops(b, &d), 1);
    ck_assert_str_eq(d[0].sequence_number, "300");
    /* everything in range: the checkpoint filtering is unchanged */
    set_range(b, ks.lo, ks.hi);
    ck_assert_int_eq(kn_batch_build(b, r, 3, &after, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 6);
    check_user(&u[0], "200", 1, "v1");
    check_user(&u[2], "300", 0, "v0");
    ck_assert_int_eq(kn_batch_build(b, r, 3, &in_300, &u, &n, &last), KN_OK);
    ck_assert_int_eq(n, 2);
    check_user(&u[0], "300", 2, "v2");
    ck_assert_str_eq(kn_esn_str(&last), "400");
    ck_assert_int_eq(last.subseq, 0);
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
    TCase *range = tcase_create("hash_range");
    tcase_add_test(range, range_all_keys_inside);
    tcase_add_test(range, range_one_key_outside_drops_aggregate);
    tcase_add_test(range, range_explicit_hash_keys);
    tcase_add_test(range, range_plain_records_never_dropped);
    tcase_add_test(range, range_absent_or_invalid);
    tcase_add_test(range, range_with_checkpoint_restart);
    suite_add_tcase(s, range);
    return s;
}

KN_TEST_MAIN(suite)
