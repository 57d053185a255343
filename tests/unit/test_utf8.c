/* UTF-8 validation and counting, checked exhaustively against an independent decoder. */
#include <stdint.h>
#include <string.h>

#include "kn_test.h"
#include "utf8.h"

static int valid(const char *s) {
    return kn_utf8_valid(s, strlen(s));
}

START_TEST(known_sequences) {
    ck_assert(valid(""));
    ck_assert(valid("partition-key-1"));
    ck_assert(valid("\xc3\xa9"));             /* U+00E9 */
    ck_assert(valid("\xe2\x82\xac"));         /* U+20AC */
    ck_assert(valid("\xed\x9f\xbf"));         /* U+D7FF, last before the surrogates */
    ck_assert(valid("\xee\x80\x80"));         /* U+E000, first after them */
    ck_assert(valid("\xef\xbf\xbf"));         /* U+FFFF */
    ck_assert(valid("\xf0\x9f\x98\x80"));     /* U+1F600 */
    ck_assert(valid("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    ck_assert(kn_utf8_valid("a\0b", 3));      /* NUL is a character */
    ck_assert(!valid("\xc0\x80"));            /* overlong NUL */
    ck_assert(!valid("\xc1\xbf"));            /* overlong */
    ck_assert(!valid("\xe0\x80\x80"));        /* overlong */
    ck_assert(!valid("\xe0\x9f\xbf"));        /* overlong U+07FF */
    ck_assert(!valid("\xed\xa0\x80"));        /* U+D800 */
    ck_assert(!valid("\xed\xbf\xbf"));        /* U+DFFF */
    ck_assert(!valid("\xf0\x80\x80\x80"));    /* overlong */
    ck_assert(!valid("\xf0\x8f\xbf\xbf"));    /* overlong U+FFFF */
    ck_assert(!valid("\xf4\x90\x80\x80"));    /* U+110000 */
    ck_assert(!valid("\xf5\x80\x80\x80"));
    ck_assert(!valid("\xff"));
    ck_assert(!valid("\x80"));                /* lone continuation */
    ck_assert(!valid("abc\xe2\x82"));         /* truncated at the end */
    ck_assert(!valid("abcdefghij\xe2\x82"));  /* truncated after the 8-byte fast path */
    ck_assert(!valid("abcdefgh\xe2" "a\xac"));/* ASCII where a continuation belongs */
    ck_assert(!valid("\xf0\x9f\x98"));
    ck_assert(kn_utf8_valid(NULL, 0));
    ck_assert(!kn_utf8_valid(NULL, 1));
    ck_assert_int_eq(kn_utf8_count(NULL, 1, NULL, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_utf8_count("\xc0\x80", 2, NULL, NULL), KN_ERR_BAD_UTF8);
}
END_TEST

START_TEST(counts) {
    size_t cp = 0, u16 = 0;
    ck_assert_int_eq(kn_utf8_count("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10, &cp, &u16), KN_OK);
    ck_assert_uint_eq(cp, 4);
    ck_assert_uint_eq(u16, 5); /* the emoji is a surrogate pair in UTF-16 */
    /* a 256-character partition key of 3-byte characters is 768 bytes */
    char key[768];
    for (int i = 0; i < 256; i++)
        memcpy(key + 3 * i, "\xe2\x82\xac", 3);
    ck_assert_int_eq(kn_utf8_count(key, sizeof(key), &cp, NULL), KN_OK);
    ck_assert_uint_eq(cp, 256);
    char ascii[1000];
    memset(ascii, 'k', sizeof(ascii));
    ck_assert_int_eq(kn_utf8_count(ascii, sizeof(ascii), NULL, &u16), KN_OK);
    ck_assert_uint_eq(u16, 1000);
}
END_TEST

/*
 * Reference: decode by the lead byte's count of leading ones, then accept only
 * the shortest form of a scalar value. A different formulation from the
 * library's second-byte ranges. Returns the sequence length or 0.
 */
static size_t ref_decode(const uint8_t *p, size_t n) {
    size_t len;
    uint32_t v;
    if (p[0] < 0x80)
        return 1;
    else if ((p[0] & 0xe0) == 0xc0)
        len = 2, v = p[0] & 0x1f;
    else if ((p[0] & 0xf0) == 0xe0)
        len = 3, v = p[0] & 0x0f;
    else if ((p[0] & 0xf8) == 0xf0)
        len = 4, v = p[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return len;
}

static int ref_valid(const uint8_t *p, size_t n) {
    while (n) {
        size_t l = ref_decode(p, n);
        if (!l)
            return 0;
        p += l;
        n -= l;
    }
    return 1;
}

START_TEST(exhaustive_up_to_three_bytes) {
    uint8_t s[3];
    for (uint32_t a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        if (kn_utf8_valid((char *)s, 1) != ref_valid(s, 1))
            ck_abort_msg("disagree on %02x", a);
        for (uint32_t b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            if (kn_utf8_valid((char *)s, 2) != ref_valid(s, 2))
                ck_abort_msg("disagree on %02x %02x", a, b);
            /* third byte: all values only after lead bytes where it matters */
            if (a < 0xe0 || a > 0xf4)
                continue;
            for (uint32_t c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (kn_utf8_valid((char *)s, 3) != ref_valid(s, 3))
                    ck_abort_msg("disagree on %02x %02x %02x", a, b, c);
            }
        }
    }
}
END_TEST

START_TEST(every_scalar_value) {
    for (uint32_t v = 0; v <= 0x10ffff; v++) {
        uint8_t s[4];
        size_t n;
        if (v < 0x80) {
            s[0] = (uint8_t)v, n = 1;
        } else if (v < 0x800) {
            s[0] = (uint8_t)(0xc0 | v >> 6), s[1] = (uint8_t)(0x80 | (v & 0x3f)), n = 2;
        } else if (v < 0x10000) {
            s[0] = (uint8_t)(0xe0 | v >> 12), s[1] = (uint8_t)(0x80 | ((v >> 6) & 0x3f));
            s[2] = (uint8_t)(0x80 | (v & 0x3f)), n = 3;
        } else {
            s[0] = (uint8_t)(0xf0 | v >> 18), s[1] = (uint8_t)(0x80 | ((v >> 12) & 0x3f));
            s[2] = (uint8_t)(0x80 | ((v >> 6) & 0x3f)), s[3] = (uint8_t)(0x80 | (v & 0x3f)), n = 4;
        }
        size_t cp = 0, u16 = 0;
        kn_err_t err = kn_utf8_count((char *)s, n, &cp, &u16);
        /* plain checks: Check's assertions are too slow for a million iterations */
        int surrogate = v >= 0xd800 && v <= 0xdfff;
        if (surrogate ? err != KN_ERR_BAD_UTF8 : (err != KN_OK || cp != 1 || u16 != (v > 0xffff ? 2u : 1u)))
            ck_abort_msg("U+%04X: err %d, %zu code points, %zu UTF-16 units", v, err, cp, u16);
    }
}
END_TEST

START_TEST(random_four_byte_and_mixed) {
    uint32_t x = 7;
    uint8_t s[24];
    for (int iter = 0; iter < 2000000; iter++) {
        size_t n = 1 + iter % sizeof(s);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            uint8_t r = (uint8_t)(x >> 16);
            /* bias towards lead and continuation bytes so sequences are often plausible */
            s[i] = (x >> 30) ? (uint8_t)(0x80 | (r & 0x7f)) : r;
        }
        if (kn_utf8_valid((char *)s, n) != ref_valid(s, n))
            ck_abort_msg("disagree on iteration %d", iter);
    }
}
END_TEST

static Suite *utf8_suite(void) {
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, known_sequences);
    tcase_add_test(tc, counts);
    tcase_add_test(tc, exhaustive_up_to_three_bytes);
    tcase_add_test(tc, every_scalar_value);
    tcase_add_test(tc, random_four_byte_and_mixed);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(utf8_suite)
