/* MD5: the portable and batched forms against OpenSSL's one-shot digest. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "kn_test.h"
#include "md5.h"

/* The reference: OpenSSL's one-shot MD5. */
static void reference(const uint8_t *p, size_t n, uint8_t out[KN_MD5_LEN]) {
    unsigned int len = 0;
    static const uint8_t empty[1];
    ck_assert(EVP_Digest(p ? p : empty, n, out, &len, EVP_md5(), NULL));
    ck_assert_uint_eq(len, KN_MD5_LEN);
}

/* Deterministic pseudo-random bytes (xorshift), so failures repeat. */
static void fill(uint8_t *p, size_t n, uint64_t *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        p[i] = (uint8_t)*seed;
    }
}

/* Every length around the padding edges (55, 56, 64, ...) and beyond the EVP switch. */
START_TEST(single_messages_every_length) {
    enum { MAX = 1200 };
    uint8_t buf[MAX];
    uint64_t seed = 42;
    fill(buf, sizeof(buf), &seed);
    kn_md5_t *m = kn_md5_new();
    ck_assert_ptr_nonnull(m);
    for (size_t n = 0; n <= MAX; n++) {
        uint8_t want[KN_MD5_LEN], got[KN_MD5_LEN], got_oneshot[KN_MD5_LEN];
        reference(buf, n, want);
        ck_assert_int_eq(kn_md5(m, buf, n, got), KN_OK);
        ck_assert_int_eq(kn_md5(NULL, buf, n, got_oneshot), KN_OK);
        ck_assert_msg(!memcmp(want, got, KN_MD5_LEN), "length %zu", n);
        ck_assert_msg(!memcmp(want, got_oneshot, KN_MD5_LEN), "length %zu (one-shot)", n);
    }
    kn_md5_destroy(m);
}
END_TEST

/* RFC 1321's test suite. */
START_TEST(rfc1321_vectors) {
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t d[KN_MD5_LEN];
        char hex[2 * KN_MD5_LEN + 1];
        ck_assert_int_eq(kn_md5(NULL, v[i].in, strlen(v[i].in), d), KN_OK);
        for (int j = 0; j < KN_MD5_LEN; j++)
            snprintf(hex + 2 * j, 3, "%02x", d[j]);
        ck_assert_str_eq(hex, v[i].hex);
    }
}
END_TEST

/* Batches of every size up to a few times the lane count, with mixed lengths. */
START_TEST(batches_match_one_at_a_time) {
    enum { MAXCOUNT = 3 * KN_MD5_LANES + 3, MAXLEN = 3000 };
    uint64_t seed = 7;
    uint8_t *bufs[MAXCOUNT];
    const uint8_t *ptrs[MAXCOUNT];
    size_t lens[MAXCOUNT];
    uint8_t got[MAXCOUNT][KN_MD5_LEN];
    for (int i = 0; i < MAXCOUNT; i++)
        bufs[i] = malloc(MAXLEN);
    for (int round = 0; round < 200; round++) {
        size_t count = (size_t)round % (MAXCOUNT + 1);
        for (size_t i = 0; i < count; i++) {
            uint8_t r;
            fill(&r, 1, &seed);
            /* short keys mostly, some multi-block messages, some empty */
            lens[i] = r < 16 ? 0 : r < 200 ? r % 70 : (size_t)r * 11 % MAXLEN;
            fill(bufs[i], lens[i], &seed);
            ptrs[i] = lens[i] || r & 1 ? bufs[i] : NULL;
        }
        ck_assert_int_eq(kn_md5_many(ptrs, lens, count, got), KN_OK);
        for (size_t i = 0; i < count; i++) {
            uint8_t want[KN_MD5_LEN];
            reference(ptrs[i], lens[i], want);
            ck_assert_msg(!memcmp(want, got[i], KN_MD5_LEN), "round %d message %zu (%zu bytes)",
                          round, i, lens[i]);
        }
    }
    for (int i = 0; i < MAXCOUNT; i++)
        free(bufs[i]);
}
END_TEST

/* One long message among short ones: the other lanes keep taking new messages. */
START_TEST(batch_with_one_long_message) {
    enum { COUNT = 40, LONG = 200000 };
    uint64_t seed = 99;
    uint8_t *big = malloc(LONG);
    uint8_t small[COUNT][40];
    const uint8_t *ptrs[COUNT];
    size_t lens[COUNT];
    uint8_t got[COUNT][KN_MD5_LEN];
    fill(big, LONG, &seed);
    for (int i = 0; i < COUNT; i++) {
        fill(small[i], sizeof(small[i]), &seed);
        ptrs[i] = i == 3 ? big : small[i];
        lens[i] = i == 3 ? LONG : (size_t)i;
    }
    ck_assert_int_eq(kn_md5_many(ptrs, lens, COUNT, got), KN_OK);
    for (int i = 0; i < COUNT; i++) {
        uint8_t want[KN_MD5_LEN];
        reference(ptrs[i], lens[i], want);
        ck_assert_msg(!memcmp(want, got[i], KN_MD5_LEN), "message %d", i);
    }
    free(big);
}
END_TEST

START_TEST(bad_arguments) {
    uint8_t d[1][KN_MD5_LEN];
    const uint8_t *none[1] = {NULL};
    size_t five[1] = {5}, zero[1] = {0};
    ck_assert_int_eq(kn_md5_many(none, five, 1, d), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_md5_many(NULL, five, 1, d), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_md5_many(none, NULL, 1, d), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_md5_many(none, zero, 1, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_md5_many(NULL, NULL, 0, NULL), KN_OK);
    ck_assert_int_eq(kn_md5_many(none, zero, 1, d), KN_OK);
    uint8_t want[KN_MD5_LEN];
    reference(NULL, 0, want);
    ck_assert(!memcmp(want, d[0], KN_MD5_LEN));
    ck_assert_int_eq(kn_md5(NULL, NULL, 1, d[0]), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_md5(NULL, "x", 1, NULL), KN_ERR_INVALID_ARG);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("md5");
    TCase *tc = tcase_create("md5");
    tcase_add_test(tc, single_messages_every_length);
    tcase_add_test(tc, rfc1321_vectors);
    tcase_add_test(tc, batches_match_one_at_a_time);
    tcase_add_test(tc, batch_with_one_long_message);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
