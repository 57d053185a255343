/* KPL aggregated records: builder, exact sizes, decoder, malformed input, an aws-kinesis-agg vector. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "kn_test.h"
#include "md5.h"

typedef struct {
    const char *pk;
    size_t pk_len;
    const char *ehk; /* NULL: none */
    size_t ehk_len;
    const uint8_t *data;
    size_t data_len;
} urec;

static urec mk(const char *pk, const char *ehk, const void *data, size_t len) {
    urec r = {pk, strlen(pk), ehk, ehk ? strlen(ehk) : 0, data, len};
    return r;
}

/* Builds and finishes an aggregate of n records; the caller frees the result. */
static uint8_t *build(kn_agg_builder_t *b, const urec *r, size_t n, size_t *len) {
    kn_agg_builder_reset(b);
    for (size_t i = 0; i < n; i++) {
        size_t predicted = kn_agg_builder_size_if_added(b, r[i].pk, r[i].pk_len, r[i].ehk,
                                                        r[i].ehk_len, r[i].data_len);
        ck_assert_int_eq(kn_agg_builder_add(b, r[i].pk, r[i].pk_len, r[i].ehk, r[i].ehk_len,
                                            r[i].data, r[i].data_len, SIZE_MAX),
                         KN_OK);
        if (predicted != kn_agg_builder_size(b))
            ck_abort_msg("record %zu: predicted %zu, got %zu", i, predicted, kn_agg_builder_size(b));
    }
    ck_assert_uint_eq(kn_agg_builder_count(b), n);
    size_t size = kn_agg_builder_size(b);
    uint8_t *out = malloc(size);
    ck_assert_int_eq(kn_agg_builder_finish(b, out, size, len), KN_OK);
    ck_assert_uint_eq(*len, size);
    return out;
}

static void expect_records(const kn_agg_record_t *got, size_t count, const urec *want, size_t n) {
    ck_assert_uint_eq(count, n);
    for (size_t i = 0; i < n; i++) {
        const kn_agg_record_t *g = &got[i];
        if (g->partition_key_len != want[i].pk_len || g->data_len != want[i].data_len ||
            (want[i].pk_len && memcmp(g->partition_key, want[i].pk, want[i].pk_len)) ||
            (want[i].data_len && memcmp(g->data, want[i].data, want[i].data_len)))
            ck_abort_msg("record %zu differs", i);
        if (want[i].ehk && want[i].ehk_len) {
            if (!g->explicit_hash_key || g->explicit_hash_key_len != want[i].ehk_len ||
                memcmp(g->explicit_hash_key, want[i].ehk, want[i].ehk_len))
                ck_abort_msg("record %zu: EHK differs", i);
        } else if (g->explicit_hash_key) {
            ck_abort_msg("record %zu: unexpected EHK", i);
        }
    }
}

static void round_trip(const urec *r, size_t n) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    size_t len, count;
    uint8_t *agg = build(b, r, n, &len);
    ck_assert(kn_agg_is_aggregated(agg, len));
    const kn_agg_record_t *recs;
    ck_assert_int_eq(kn_agg_decode(d, agg, len, &recs, &count), KN_OK);
    expect_records(recs, count, r, n);
    free(agg);
    kn_agg_decoder_destroy(d);
    kn_agg_builder_destroy(b);
}

static size_t unhex(const char *hex, uint8_t *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* magic + body + MD5(body): a well-checksummed aggregate around arbitrary protobuf bytes. */
static uint8_t *seal(const uint8_t *body, size_t n, size_t *len) {
    uint8_t *p = malloc(n + KN_AGG_OVERHEAD);
    memcpy(p, kn_agg_magic, KN_AGG_MAGIC_LEN);
    if (n)
        memcpy(p + KN_AGG_MAGIC_LEN, body, n);
    ck_assert_int_eq(kn_md5(NULL, body, n, p + KN_AGG_MAGIC_LEN + n), KN_OK);
    *len = n + KN_AGG_OVERHEAD;
    return p;
}

static kn_err_t decode_body(const uint8_t *body, size_t n, size_t *count) {
    size_t len;
    uint8_t *p = seal(body, n, &len);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *recs;
    kn_err_t err = kn_agg_decode(d, p, len, &recs, count);
    kn_agg_decoder_destroy(d);
    free(p);
    return err;
}

/*
 * Produced with the npm package aws-kinesis-agg 4.2.8 (awslabs/kinesis-aggregation,
 * Apache-2.0) by a throwaway node script:
 *   const a = new (require('aws-kinesis-agg').RecordAggregator)();
 *   a.addUserRecord({partitionKey: 'alpha', data: Buffer.from('hello')});
 *   a.addUserRecord({partitionKey: 'beta', data: Buffer.alloc(0)});
 *   a.addUserRecord({partitionKey: 'alpha', data: Buffer.from([0x00, 0xff, 0x80, 0x0a])});
 *   console.log(a.build().data.toString('hex'));
 * and the same for VECTOR2 with the records of vector2_records below (EHKs are
 * large numbers on purpose: aws-kinesis-agg keeps its tables in JS objects,
 * which reorder keys that look like small array indexes).
 */
static const char VECTOR1[] =
    "f3899ac20a05616c7068610a04626574611a0908001a0568656c6c6f1a0408011a001a0808001a0400ff800a"
    "a6273abf59a6511ca2b13d999f9b1afb";
static const char VECTOR2[] =
    "f3899ac20a06757365722d310a06757365722d320a06757365722d3312273137303134313138333436303436"
    "3932333137333136383733303337313538383431303537323812273334303238323336363932303933383436"
    "333436333337343630373433313736383231313435351a07080010001a01781a0608011a0279791a09080010"
    "011a030102031a08080210001a027a7a663b51ab5de97666498a0bad1a657d03";
#define EHK_2_127 "170141183460469231731687303715884105728"
#define EHK_MAX "340282366920938463463374607431768211455"

static void check_vector(const char *hex, const urec *r, size_t n) {
    uint8_t want[512];
    size_t want_len = unhex(hex, want);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *recs;
    size_t count;
    ck_assert_int_eq(kn_agg_decode(d, want, want_len, &recs, &count), KN_OK);
    expect_records(recs, count, r, n);
    kn_agg_decoder_destroy(d);
    kn_agg_builder_t *b = kn_agg_builder_new();
    size_t len;
    uint8_t *ours = build(b, r, n, &len);
    ck_assert_uint_eq(len, want_len);
    ck_assert(!memcmp(ours, want, len));
    free(ours);
    kn_agg_builder_destroy(b);
}

START_TEST(aws_kinesis_agg_vectors) {
    const uint8_t bin[] = {0x00, 0xff, 0x80, 0x0a};
    const uint8_t three[] = {1, 2, 3};
    urec v1[] = {mk("alpha", NULL, "hello", 5), mk("beta", NULL, "", 0), mk("alpha", NULL, bin, 4)};
    check_vector(VECTOR1, v1, 3);
    urec v2[] = {mk("user-1", EHK_2_127, "x", 1), mk("user-2", NULL, "yy", 2),
                 mk("user-1", EHK_MAX, three, 3), mk("user-3", EHK_2_127, "zz", 2)};
    check_vector(VECTOR2, v2, 4);
}
END_TEST

START_TEST(round_trips) {
    const uint8_t bin[] = {0, 1, 0xfe, 0xff, 0x80, 0x7f, 0};
    urec one[] = {mk("k", NULL, "data", 4)};
    round_trip(one, 1);
    urec shared[] = {mk("same", NULL, "a", 1), mk("same", NULL, "bb", 2), mk("same", NULL, "ccc", 3)};
    round_trip(shared, 3);
    urec distinct[] = {mk("k1", NULL, "a", 1), mk("k2", "12", bin, sizeof(bin)), mk("k3", "0", "", 0),
                       mk("k1", "12", "z", 1), mk("", NULL, "empty key", 9)};
    round_trip(distinct, 5);
    urec empties[] = {mk("e", NULL, "", 0), mk("e", NULL, "", 0)};
    round_trip(empties, 2);
    /* an empty EHK string counts as no EHK */
    urec noehk[] = {mk("k", "", "d", 1)};
    round_trip(noehk, 1);
}
END_TEST

static uint32_t rng(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

/* Random builds: many keys (multi-byte index varints), long keys and data (multi-byte lengths). */
START_TEST(exact_size_random_builds) {
    enum { KEYS = 300, MAXREC = 700, DATA = 20000 };
    static char keys[KEYS][300];
    static size_t key_len[KEYS];
    static uint8_t data[DATA];
    uint64_t s = 0x1234567;
    for (int k = 0; k < KEYS; k++) {
        key_len[k] = k % 7 == 0 ? 130 + rng(&s) % 160 : 1 + rng(&s) % 20;
        for (size_t i = 0; i < key_len[k]; i++)
            keys[k][i] = (char)('a' + rng(&s) % 26);
        keys[k][0] = (char)('A' + k % 26); /* reduce accidental duplicates */
    }
    for (int i = 0; i < DATA; i++)
        data[i] = (uint8_t)rng(&s);
    static urec recs[MAXREC];
    kn_agg_builder_t *b = kn_agg_builder_new();
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    for (int iter = 0; iter < 60; iter++) {
        size_t n = 1 + rng(&s) % MAXREC;
        int nkeys = 1 + (int)(rng(&s) % KEYS);
        for (size_t i = 0; i < n; i++) {
            int k = (int)(rng(&s) % (uint32_t)nkeys), e = (int)(rng(&s) % (uint32_t)nkeys);
            size_t dl = rng(&s) % 10 == 0 ? rng(&s) % DATA : rng(&s) % 200;
            recs[i] = (urec){keys[k], key_len[k], rng(&s) % 3 ? NULL : keys[e], key_len[e],
                             data + rng(&s) % (DATA - dl + 1), dl};
        }
        size_t len, count;
        uint8_t *agg = build(b, recs, n, &len); /* checks every prediction */
        const kn_agg_record_t *out;
        ck_assert_int_eq(kn_agg_decode(d, agg, len, &out, &count), KN_OK);
        expect_records(out, count, recs, n);
        free(agg);
    }
    kn_agg_decoder_destroy(d);
    kn_agg_builder_destroy(b);
}
END_TEST

START_TEST(size_limit_and_dedup) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    ck_assert_uint_eq(kn_agg_builder_size(b), KN_AGG_OVERHEAD);
    ck_assert_int_eq(kn_agg_builder_add(b, "k", 1, NULL, 0, "abc", 3, SIZE_MAX), KN_OK);
    size_t before = kn_agg_builder_size(b);
    size_t next = kn_agg_builder_size_if_added(b, "other", 5, "99", 2, 100);
    /* one byte short: refused and nothing changes */
    static const uint8_t hundred[100];
    ck_assert_int_eq(kn_agg_builder_add(b, "other", 5, "99", 2, hundred, 100, next - 1), KN_ERR_TOO_LARGE);
    ck_assert_uint_eq(kn_agg_builder_size(b), before);
    ck_assert_uint_eq(kn_agg_builder_count(b), 1);
    ck_assert_int_eq(kn_agg_builder_add(b, "other", 5, "99", 2, hundred, 100, next), KN_OK);
    ck_assert_uint_eq(kn_agg_builder_size(b), next);
    /* a key already present costs only its index: record tag and length, index tag and
     * value, data tag, length and byte */
    ck_assert_uint_eq(kn_agg_builder_size_if_added(b, "k", 1, NULL, 0, 1), next + 7);
    /* 1000 distinct keys used 5 times each: the decoded table has 1000 entries */
    kn_agg_builder_reset(b);
    char key[16];
    for (int rep = 0; rep < 5; rep++)
        for (int k = 0; k < 1000; k++) {
            int kl = snprintf(key, sizeof(key), "key-%d", k);
            ck_assert_int_eq(kn_agg_builder_add(b, key, (size_t)kl, NULL, 0, "v", 1, SIZE_MAX), KN_OK);
        }
    size_t size = kn_agg_builder_size(b), len, count;
    uint8_t *agg = malloc(size);
    ck_assert_int_eq(kn_agg_builder_finish(b, agg, size - 1, &len), KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_agg_builder_finish(b, agg, size, &len), KN_OK);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *recs;
    ck_assert_int_eq(kn_agg_decode(d, agg, len, &recs, &count), KN_OK);
    ck_assert_uint_eq(count, 5000);
    ck_assert_uint_eq(kn_agg_decoder_partition_key_count(d), 1000);
    ck_assert_uint_eq(recs[4321].partition_key_index, 321);
    ck_assert(recs[4321].partition_key_len == 7 && !memcmp(recs[4321].partition_key, "key-321", 7));
    free(agg);
    /* arguments */
    ck_assert_int_eq(kn_agg_builder_add(b, NULL, 1, NULL, 0, "v", 1, SIZE_MAX), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_agg_builder_add(b, "k", 1, NULL, 0, NULL, 1, SIZE_MAX), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_agg_builder_add(NULL, "k", 1, NULL, 0, "v", 1, SIZE_MAX), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_agg_builder_add(b, "k", 1, NULL, 0, "v", KN_AGG_MAX_SIZE, SIZE_MAX),
                     KN_ERR_TOO_LARGE);
    ck_assert_uint_eq(kn_agg_builder_size_if_added(NULL, "k", 1, NULL, 0, 1), SIZE_MAX);
    ck_assert_uint_eq(kn_agg_builder_size_if_added(b, "k", 1, NULL, 0, SIZE_MAX), SIZE_MAX);
    kn_agg_builder_destroy(b);
    kn_agg_builder_destroy(NULL);
    kn_agg_decoder_destroy(d);
    kn_agg_decoder_destroy(NULL);
}
END_TEST

START_TEST(reset_reuses_cleanly) {
    urec a[] = {mk("x", "5", "1", 1), mk("y", NULL, "2", 1)};
    urec c[] = {mk("y", "6", "3", 1), mk("z", "5", "4", 1), mk("x", NULL, "5", 1)};
    kn_agg_builder_t *reused = kn_agg_builder_new(), *fresh = kn_agg_builder_new();
    size_t l1, l2;
    free(build(reused, a, 2, &l1));
    uint8_t *p1 = build(reused, c, 3, &l1); /* build() resets first */
    uint8_t *p2 = build(fresh, c, 3, &l2);
    ck_assert_uint_eq(l1, l2);
    ck_assert(!memcmp(p1, p2, l1));
    free(p1);
    free(p2);
    /* an empty aggregate is 20 bytes and decodes to nothing */
    kn_agg_builder_reset(reused);
    uint8_t empty[KN_AGG_OVERHEAD + 1];
    ck_assert_int_eq(kn_agg_builder_finish(reused, empty, sizeof(empty), &l1), KN_OK);
    ck_assert_uint_eq(l1, KN_AGG_OVERHEAD);
    ck_assert(!kn_agg_is_aggregated(empty, l1)); /* the KCL needs more than 16 bytes after the magic */
    kn_agg_builder_destroy(reused);
    kn_agg_builder_destroy(fresh);
}
END_TEST

START_TEST(is_aggregated) {
    uint8_t p[21] = {0xf3, 0x89, 0x9a, 0xc2};
    ck_assert(kn_agg_is_aggregated(p, 21));
    ck_assert(!kn_agg_is_aggregated(p, 20));
    ck_assert(!kn_agg_is_aggregated(NULL, 21));
    p[3] = 0xc3;
    ck_assert(!kn_agg_is_aggregated(p, 21));
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *recs;
    size_t count;
    ck_assert_int_eq(kn_agg_decode(d, p, 21, &recs, &count), KN_ERR_INVALID_ARG);
    p[3] = 0xc2;
    ck_assert_int_eq(kn_agg_decode(d, p, 21, &recs, &count), KN_ERR_CRC);
    kn_agg_decoder_destroy(d);
}
END_TEST

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

START_TEST(malformed_protobuf) {
    size_t count;
    /* baseline: table "k", one record {pk 0, data "d"} */
    ck_assert_int_eq(decode_body(B(0x0a, 1, 'k', 0x1a, 5, 0x08, 0, 0x1a, 1, 'd'), &count), KN_OK);
    ck_assert_uint_eq(count, 1);
    /* records before the table, an unknown field of each wire type, a valid tag: still fine */
    ck_assert_int_eq(decode_body(B(0x1a, 5, 0x08, 0, 0x1a, 1, 'd', 0x0a, 1, 'k', 0x28, 0x96, 0x01,
                                   0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3d, 1, 2, 3, 4, 0x42, 1, 'x'),
                                 &count),
                     KN_OK);
    ck_assert_int_eq(decode_body(B(0x0a, 1, 'k', 0x1a, 11, 0x08, 0, 0x1a, 1, 'd', 0x22, 4, 0x0a, 0,
                                   0x12, 0, 0x38, 1),
                                 &count),
                     KN_OK);
    /* an empty aggregate body: zero records */
    ck_assert_int_eq(decode_body(B(0x0a, 1, 'k'), &count), KN_OK);
    ck_assert_uint_eq(count, 0);

    const struct {
        const char *what;
        const uint8_t *p;
        size_t n;
    } bad[] = {
        {"missing pk index", B(0x0a, 1, 'k', 0x1a, 5, 0x1a, 1, 'd', 0x38, 0)},
        {"missing data", B(0x0a, 1, 'k', 0x1a, 4, 0x08, 0, 0x38, 0)},
        {"pk index out of range", B(0x0a, 1, 'k', 0x1a, 5, 0x08, 1, 0x1a, 1, 'd')},
        {"no pk table", B(0x1a, 5, 0x08, 0, 0x1a, 1, 'd')},
        {"ehk index out of range", B(0x0a, 1, 'k', 0x1a, 7, 0x08, 0, 0x10, 0, 0x1a, 1, 'd')},
        {"huge index", B(0x0a, 1, 'k', 0x1a, 14, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                         0xff, 0x01, 0x1a, 1, 'd')},
        {"data as varint", B(0x0a, 1, 'k', 0x1a, 4, 0x08, 0, 0x18, 1)},
        {"index as bytes", B(0x0a, 1, 'k', 0x1a, 6, 0x0a, 1, 0, 0x1a, 1, 'd')},
        {"table entry as varint", B(0x08, 1, 0x1a, 5, 0x08, 0, 0x1a, 1, 'd')},
        {"record as fixed32", B(0x0a, 1, 'k', 0x1d, 1, 2, 3, 4)},
        {"data length past record", B(0x0a, 1, 'k', 0x1a, 5, 0x08, 0, 0x1a, 2, 'd')},
        {"record length past end", B(0x0a, 1, 'k', 0x1a, 6, 0x08, 0, 0x1a, 1, 'd')},
        {"table length past end", B(0x0a, 9, 'k')},
        {"truncated varint", B(0x0a, 1, 'k', 0x28, 0x80)},
        {"varint truncated by its record", B(0x0a, 1, 'k', 0x1a, 4, 0x08, 0x80, 0x80, 0x80)},
        {"truncated key", B(0x0a)},
        {"11-byte varint", B(0x0a, 1, 'k', 0x28, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                             0x80, 0x00)},
        {"10-byte varint above 64 bits", B(0x0a, 1, 'k', 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0x02)},
        {"field number 0", B(0x0a, 1, 'k', 0x02, 0)},
        {"start group", B(0x0a, 1, 'k', 0x2b)},
        {"end group", B(0x0a, 1, 'k', 0x2c)},
        {"wire type 6", B(0x0a, 1, 'k', 0x2e)},
        {"truncated fixed64", B(0x0a, 1, 'k', 0x29, 1, 2, 3)},
        {"tag without key", B(0x0a, 1, 'k', 0x1a, 9, 0x08, 0, 0x1a, 1, 'd', 0x22, 2, 0x12, 0)},
        {"tag key as varint", B(0x0a, 1, 'k', 0x1a, 9, 0x08, 0, 0x1a, 1, 'd', 0x22, 2, 0x08, 0)},
        {"malformed tag", B(0x0a, 1, 'k', 0x1a, 9, 0x08, 0, 0x1a, 1, 'd', 0x22, 2, 0x0a, 5)},
        {"record shorter than any valid one", B(0x0a, 1, 'k', 0x1a, 0)},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(decode_body(bad[i].p, bad[i].n, &count) == KN_ERR_BAD_RESPONSE, "%s accepted",
                      bad[i].what);
}
END_TEST

/* Views of a successful decode must lie inside the input. */
static void check_within(const kn_agg_record_t *r, size_t count, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < count; i++) {
        const uint8_t *pk = (const uint8_t *)r[i].partition_key;
        const uint8_t *ehk = (const uint8_t *)r[i].explicit_hash_key;
        if (r[i].data < p || r[i].data + r[i].data_len > p + n || pk < p ||
            pk + r[i].partition_key_len > p + n ||
            (ehk && (ehk < p || ehk + r[i].explicit_hash_key_len > p + n)))
            ck_abort_msg("record %zu points outside the input", i);
    }
}

static uint8_t *sample_aggregate(size_t *len, urec *recs, size_t *n) {
    static const uint8_t bin[200] = {1, 2, 3};
    urec r[] = {mk("alpha", NULL, "hello", 5), mk("beta", "1234567890", bin, sizeof(bin)),
                mk("alpha", "1234567890", "", 0), mk("gamma", NULL, "world!", 6),
                mk("beta", "99", bin, 50)};
    memcpy(recs, r, sizeof(r));
    *n = sizeof(r) / sizeof(r[0]);
    kn_agg_builder_t *b = kn_agg_builder_new();
    uint8_t *agg = build(b, r, *n, len);
    kn_agg_builder_destroy(b);
    return agg;
}

START_TEST(every_truncation_fails_cleanly) {
    urec recs[8];
    size_t n, len, count;
    uint8_t *agg = sample_aggregate(&len, recs, &n);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *out;
    /* cut anywhere: the checksum no longer matches (or the magic is gone) */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact-size copy so ASan sees any over-read */
        memcpy(copy, agg, cut);
        kn_err_t err = kn_agg_decode(d, copy, cut, &out, &count);
        if (err != KN_ERR_CRC && err != KN_ERR_INVALID_ARG)
            ck_abort_msg("cut at %zu: %d", cut, err);
        free(copy);
    }
    /* cut the protobuf and re-seal it, so the parser itself meets the truncation */
    size_t body_len = len - KN_AGG_OVERHEAD, failures = 0;
    for (size_t cut = 0; cut < body_len; cut++) {
        size_t slen;
        uint8_t *s = seal(agg + KN_AGG_MAGIC_LEN, cut, &slen);
        kn_err_t err = kn_agg_decode(d, s, slen, &out, &count);
        if (err == KN_OK) {
            /* only a cut between top-level fields parses: a prefix of the records */
            ck_assert_uint_lt(count, n);
            expect_records(out, count, recs, count);
            check_within(out, count, s, slen);
        } else if (err != KN_ERR_BAD_RESPONSE && err != KN_ERR_INVALID_ARG) {
            ck_abort_msg("cut at %zu: %d", cut, err);
        } else {
            failures++;
        }
        free(s);
    }
    ck_assert_uint_gt(failures, body_len / 2);
    kn_agg_decoder_destroy(d);
    free(agg);
}
END_TEST

START_TEST(random_corruption_stays_in_bounds) {
    urec recs[8];
    size_t n, len, count;
    uint8_t *agg = sample_aggregate(&len, recs, &n);
    size_t body_len = len - KN_AGG_OVERHEAD;
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    const kn_agg_record_t *out;
    uint64_t s = 42;
    size_t ok = 0, failed = 0;
    uint8_t *body = malloc(body_len);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(body, agg + KN_AGG_MAGIC_LEN, body_len);
        int flips = 1 + (int)(rng(&s) % 4);
        for (int f = 0; f < flips; f++)
            body[rng(&s) % body_len] ^= (uint8_t)(1u << (rng(&s) % 8));
        size_t slen;
        uint8_t *sealed = seal(body, body_len, &slen); /* a matching MD5: the parser decides */
        kn_err_t err = kn_agg_decode(d, sealed, slen, &out, &count);
        if (err == KN_OK) {
            check_within(out, count, sealed, slen);
            for (size_t i = 0; i < count; i++)
                if (out[i].partition_key_index >= kn_agg_decoder_partition_key_count(d))
                    ck_abort_msg("index out of table");
            ok++;
        } else if (err == KN_ERR_BAD_RESPONSE) {
            failed++;
        } else {
            ck_abort_msg("unexpected %d", err);
        }
        free(sealed);
    }
    free(body);
    ck_assert_uint_gt(failed, 0);
    ck_assert_uint_gt(ok, 0);
    /* a flipped byte under the original checksum is caught by the MD5 */
    agg[len / 2] ^= 0x10;
    ck_assert_int_eq(kn_agg_decode(d, agg, len, &out, &count), KN_ERR_CRC);
    agg[len / 2] ^= 0x10;
    agg[len - 1] ^= 0x01;
    ck_assert_int_eq(kn_agg_decode(d, agg, len, &out, &count), KN_ERR_CRC);
    free(agg);
    kn_agg_decoder_destroy(d);
}
END_TEST

/* Many aggregates checked at once, some corrupted, some not aggregates at all. */
START_TEST(check_many_and_decode_checked) {
    enum { N = 3 * KN_AGG_CHECK_CHUNK / 2 };
    urec recs[8];
    size_t n, len;
    uint8_t *good = sample_aggregate(&len, recs, &n);
    uint8_t *bufs[N];
    const uint8_t *p[N];
    size_t lens[N];
    uint8_t ok[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = malloc(len);
        memcpy(bufs[i], good, len);
        lens[i] = len;
        if (i % 5 == 1)
            bufs[i][KN_AGG_MAGIC_LEN + (size_t)i % (len - KN_AGG_OVERHEAD)] ^= 0x40; /* body */
        if (i % 7 == 2)
            bufs[i][len - 1] ^= 0x01; /* digest */
        if (i % 11 == 3)
            bufs[i][0] = 0; /* no magic: not an aggregate */
        if (i % 13 == 4)
            lens[i] = KN_AGG_OVERHEAD; /* too short to be one */
        p[i] = bufs[i];
    }
    kn_agg_check_many(p, lens, N, ok);
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    for (int i = 0; i < N; i++) {
        const kn_agg_record_t *out;
        size_t count;
        kn_err_t one = kn_agg_decode(d, p[i], lens[i], &out, &count);
        ck_assert_msg(ok[i] == (one == KN_OK), "aggregate %d: check %d, decode %d", i, ok[i], one);
        if (ok[i]) {
            ck_assert_int_eq(kn_agg_decode_checked(d, p[i], lens[i], &out, &count), KN_OK);
            expect_records(out, count, recs, n);
            /* the partition-key table, in first-use order */
            const char *key;
            ck_assert_uint_eq(kn_agg_decoder_partition_key_count(d), 3);
            ck_assert_uint_eq(kn_agg_decoder_partition_key(d, 1, &key), 4);
            ck_assert(!memcmp(key, "beta", 4));
            ck_assert_uint_eq(kn_agg_decoder_partition_key(d, 3, &key), 0);
            ck_assert_ptr_null(key);
        }
        free(bufs[i]);
    }
    /* decode_checked still refuses what is not an aggregate, and a bad protobuf */
    const kn_agg_record_t *out;
    size_t count;
    ck_assert_int_eq(kn_agg_decode_checked(d, (const uint8_t *)"plain", 5, &out, &count),
                     KN_ERR_INVALID_ARG);
    good[KN_AGG_MAGIC_LEN] = 0xff; /* a key with wire type 7: malformed */
    good[KN_AGG_MAGIC_LEN + 1] = 0x07;
    ck_assert_int_eq(kn_agg_decode_checked(d, good, len, &out, &count), KN_ERR_BAD_RESPONSE);
    kn_agg_check_many(NULL, NULL, 0, NULL);
    free(good);
    kn_agg_decoder_destroy(d);
}
END_TEST

/* Unsealed aggregates get the same bytes as sealed ones once kn_agg_seal_many() ran. */
START_TEST(finish_unsealed_then_seal_many) {
    enum { N = KN_AGG_CHECK_CHUNK + 5 };
    kn_agg_builder_t *b = kn_agg_builder_new();
    uint8_t *sealed[N], *unsealed[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        kn_agg_builder_reset(b);
        for (int j = 0; j <= i % 9; j++) {
            char pk[16];
            snprintf(pk, sizeof(pk), "k%d", j);
            ck_assert_int_eq(kn_agg_builder_add(b, pk, strlen(pk), NULL, 0, pk, strlen(pk), SIZE_MAX),
                             KN_OK);
        }
        size_t size = kn_agg_builder_size(b), l1, l2;
        sealed[i] = malloc(size);
        unsealed[i] = malloc(size);
        ck_assert_int_eq(kn_agg_builder_finish(b, sealed[i], size, &l1), KN_OK);
        ck_assert_int_eq(kn_agg_builder_finish_unsealed(b, unsealed[i], size, &l2), KN_OK);
        ck_assert_uint_eq(l1, l2);
        lens[i] = l2;
        ck_assert(!memcmp(sealed[i], unsealed[i], size - KN_AGG_DIGEST_LEN));
    }
    kn_agg_seal_many(unsealed, lens, N);
    for (int i = 0; i < N; i++) {
        ck_assert(!memcmp(sealed[i], unsealed[i], lens[i]));
        free(sealed[i]);
        free(unsealed[i]);
    }
    uint8_t small[8];
    size_t len;
    ck_assert_int_eq(kn_agg_builder_finish_unsealed(b, small, sizeof(small), &len), KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_agg_builder_finish_unsealed(NULL, small, sizeof(small), &len),
                     KN_ERR_INVALID_ARG);
    kn_agg_seal_many(NULL, NULL, 0);
    kn_agg_builder_destroy(b);
}
END_TEST

static Suite *agg_suite(void) {
    Suite *s = suite_create("agg");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, aws_kinesis_agg_vectors);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, exact_size_random_builds);
    tcase_add_test(tc, size_limit_and_dedup);
    tcase_add_test(tc, reset_reuses_cleanly);
    tcase_add_test(tc, is_aggregated);
    tcase_add_test(tc, malformed_protobuf);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, random_corruption_stays_in_bounds);
    tcase_add_test(tc, check_many_and_decode_checked);
    tcase_add_test(tc, finish_unsealed_then_seal_many);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(agg_suite)
