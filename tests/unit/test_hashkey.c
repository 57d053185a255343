/* MD5 hash keys and 128-bit decimal conversion. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hashkey.h"
#include "kn_test.h"
#include "md5.h"

#define U128_MAX_DEC "340282366920938463463374607431768211455"

static const char *dec(kn_u128_t v, char *buf) {
    ck_assert_uint_gt(kn_u128_to_decimal(v, buf, KN_U128_DEC_MAX + 1), 0);
    return buf;
}

/*
 * Expected values were computed independently with Python:
 *   python3 -c "import hashlib; print(int(hashlib.md5(b'a').hexdigest(), 16))"
 */
START_TEST(partition_key_hashes) {
    static const struct {
        const char *key;
        size_t len;
        const char *decimal;
        uint64_t hi, lo;
    } cases[] = {
        {"", 0, "281949768489412648962353822266799178366", 0xd41d8cd98f00b204ull, 0xe9800998ecf8427eull},
        {"a", 1, "16955237001963240173058271559858726497", 0x0cc175b9c0f1b6a8ull, 0x31c399e269772661ull},
        {"abc", 3, "191415658344158766168031473277922803570", 0x900150983cd24fb0ull, 0xd6963f7d28e17f72ull},
        {"partitionKey-1", 14, "159499196025307651934328298402289840726", 0x77fe6d8289696ba8ull,
         0x510480fbe3887256ull},
        {"\xe2\x82\xac", 3, "250752887591472196339670448948845824634", 0xbca53fde466a76b7ull,
         0xbee3e18997e94a7aull},
    };
    kn_md5_t *m = kn_md5_new();
    ck_assert_ptr_nonnull(m);
    char buf[KN_U128_DEC_MAX + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kn_u128_t a, b;
        ck_assert_int_eq(kn_hashkey_from_partition_key(cases[i].key, cases[i].len, &a), KN_OK);
        ck_assert_int_eq(kn_hashkey_from_partition_key_md5(m, cases[i].key, cases[i].len, &b), KN_OK);
        ck_assert_int_eq(kn_u128_cmp(a, b), 0);
        ck_assert(a.hi == cases[i].hi && a.lo == cases[i].lo);
        ck_assert_str_eq(dec(a, buf), cases[i].decimal);
    }
    /* a 256-character key, reusing the hasher */
    char x256[256];
    memset(x256, 'x', sizeof(x256));
    kn_u128_t h;
    ck_assert_int_eq(kn_hashkey_from_partition_key_md5(m, x256, sizeof(x256), &h), KN_OK);
    ck_assert_str_eq(dec(h, buf), "265353499944959180620795534685136097465");
    ck_assert_int_eq(kn_hashkey_from_partition_key(NULL, 0, &h), KN_OK);
    ck_assert_int_eq(kn_hashkey_from_partition_key(NULL, 1, &h), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_hashkey_from_partition_key("a", 1, NULL), KN_ERR_INVALID_ARG);
    kn_md5_destroy(m);
    kn_md5_destroy(NULL);
}
END_TEST

START_TEST(md5_reusable_matches_one_shot) {
    kn_md5_t *m = kn_md5_new();
    uint8_t data[3000], a[KN_MD5_LEN], b[KN_MD5_LEN];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 31 + 7);
    for (size_t n = 0; n <= sizeof(data); n += 97) {
        ck_assert_int_eq(kn_md5(m, data, n, a), KN_OK);
        ck_assert_int_eq(kn_md5(NULL, data, n, b), KN_OK);
        ck_assert(!memcmp(a, b, KN_MD5_LEN));
    }
    ck_assert_int_eq(kn_md5(m, NULL, 5, a), KN_ERR_INVALID_ARG);
    kn_md5_destroy(m);
}
END_TEST

static kn_err_t parse(const char *s, kn_u128_t *v) {
    return kn_u128_parse_decimal(s, strlen(s), v);
}

START_TEST(parse_bounds_and_syntax) {
    kn_u128_t v = {7, 7};
    ck_assert_int_eq(parse("0", &v), KN_OK);
    ck_assert(v.hi == 0 && v.lo == 0);
    ck_assert_int_eq(parse(U128_MAX_DEC, &v), KN_OK);
    ck_assert(v.hi == UINT64_MAX && v.lo == UINT64_MAX);
    ck_assert_int_eq(parse("18446744073709551616", &v), KN_OK); /* 2^64 */
    ck_assert(v.hi == 1 && v.lo == 0);
    ck_assert_int_eq(parse("18446744073709551615", &v), KN_OK);
    ck_assert(v.hi == 0 && v.lo == UINT64_MAX);
    ck_assert_int_eq(parse("170141183460469231731687303715884105728", &v), KN_OK); /* 2^127 */
    ck_assert(v.hi == 1ull << 63 && v.lo == 0);

    kn_u128_t keep = {1, 2};
    v = keep;
    static const char *bad[] = {
        "340282366920938463463374607431768211456", /* 2^128 */
        "340282366920938463463374607431768211465",
        "999999999999999999999999999999999999999", /* 39 digits, too big */
        "1000000000000000000000000000000000000000", /* 40 digits */
        "0340282366920938463463374607431768211455", /* 40 digits with a leading zero */
        "", "+1", "-1", " 1", "1 ", "1\n", "01", "00", "12a", "0x10", "1.0", "1e5", "\xd9\xa1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i], &v) == KN_ERR_INVALID_ARG, "accepted \"%s\"", bad[i]);
        ck_assert(v.hi == keep.hi && v.lo == keep.lo);
    }
    ck_assert_int_eq(kn_u128_parse_decimal(NULL, 1, &v), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_u128_parse_decimal("1", 1, NULL), KN_ERR_INVALID_ARG);
    /* not NUL-terminated: only len bytes count */
    ck_assert_int_eq(kn_u128_parse_decimal("12345", 2, &v), KN_OK);
    ck_assert(v.hi == 0 && v.lo == 12);
}
END_TEST

/* v * 10 computed as v*8 + v*2 with shifts and a carry: independent of the library's limb loop. */
static kn_u128_t times10(kn_u128_t v) {
    kn_u128_t a = {v.hi << 3 | v.lo >> 61, v.lo << 3};
    kn_u128_t b = {v.hi << 1 | v.lo >> 63, v.lo << 1};
    kn_u128_t r = {a.hi + b.hi, a.lo + b.lo};
    r.hi += r.lo < a.lo;
    return r;
}

static kn_u128_t minus1(kn_u128_t v) {
    kn_u128_t r = {v.hi - (v.lo == 0), v.lo - 1};
    return r;
}

START_TEST(decimal_powers_of_ten) {
    kn_u128_t p = {0, 1};
    char want[KN_U128_DEC_MAX + 2], buf[KN_U128_DEC_MAX + 1];
    for (int k = 0; k <= 38; k++) {
        /* 10^k is "1" and k zeros; 10^k - 1 is k nines */
        want[0] = '1';
        memset(want + 1, '0', (size_t)k);
        want[k + 1] = '\0';
        ck_assert_str_eq(dec(p, buf), want);
        kn_u128_t back;
        ck_assert_int_eq(parse(want, &back), KN_OK);
        ck_assert_int_eq(kn_u128_cmp(back, p), 0);
        if (k > 0) {
            memset(want, '9', (size_t)k);
            want[k] = '\0';
            ck_assert_str_eq(dec(minus1(p), buf), want);
        }
        p = times10(p);
    }
}
END_TEST

START_TEST(decimal_round_trip_and_buffers) {
    char buf[KN_U128_DEC_MAX + 1];
    kn_u128_t zero = {0, 0}, max = {UINT64_MAX, UINT64_MAX};
    ck_assert_str_eq(dec(zero, buf), "0");
    ck_assert_uint_eq(kn_u128_to_decimal(max, buf, sizeof(buf)), KN_U128_DEC_MAX);
    ck_assert_str_eq(buf, U128_MAX_DEC);
    ck_assert_uint_eq(kn_u128_to_decimal(max, buf, KN_U128_DEC_MAX), 0); /* no room for the NUL */
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(kn_u128_to_decimal(zero, buf, 1), 0);
    ck_assert_uint_eq(kn_u128_to_decimal(zero, NULL, 0), 0);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        kn_u128_t v;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v.hi = x >> (i % 64);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v.lo = x;
        size_t len = kn_u128_to_decimal(v, buf, sizeof(buf));
        kn_u128_t back = {0, 0};
        if (len != strlen(buf) || kn_u128_parse_decimal(buf, len, &back) != KN_OK ||
            back.hi != v.hi || back.lo != v.lo)
            ck_abort_msg("round trip of %016llx%016llx gave \"%s\"", (unsigned long long)v.hi,
                         (unsigned long long)v.lo, buf);
    }
}
END_TEST

START_TEST(compare) {
    kn_u128_t a = {1, 0}, b = {0, UINT64_MAX}, c = {1, 0};
    ck_assert_int_gt(kn_u128_cmp(a, b), 0);
    ck_assert_int_lt(kn_u128_cmp(b, a), 0);
    ck_assert_int_eq(kn_u128_cmp(a, c), 0);
    kn_u128_t d = {1, 1};
    ck_assert_int_lt(kn_u128_cmp(c, d), 0);
    uint8_t be[16];
    for (int i = 0; i < 16; i++)
        be[i] = (uint8_t)(i + 1);
    kn_u128_t v = kn_u128_from_be(be);
    ck_assert(v.hi == 0x0102030405060708ull && v.lo == 0x090a0b0c0d0e0f10ull);
}
END_TEST

static Suite *hashkey_suite(void) {
    Suite *s = suite_create("hashkey");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, partition_key_hashes);
    tcase_add_test(tc, md5_reusable_matches_one_shot);
    tcase_add_test(tc, parse_bounds_and_syntax);
    tcase_add_test(tc, decimal_powers_of_ten);
    tcase_add_test(tc, decimal_round_trip_and_buffers);
    tcase_add_test(tc, compare);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(hashkey_suite)
