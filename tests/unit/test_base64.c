/* Base64: RFC 4648 vectors, agreement with OpenSSL's encoder, strict rejection of malformed text. */
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "base64.h"
#include "kn_test.h"

static void check_pair(const char *plain, const char *enc) {
    char out[64];
    size_t len = 0;
    ck_assert_int_eq(kn_base64_encode(plain, strlen(plain), out, sizeof(out), &len), KN_OK);
    ck_assert_str_eq(out, enc);
    ck_assert_uint_eq(len, strlen(enc));
    ck_assert_uint_eq(kn_base64_encoded_len(strlen(plain)), strlen(enc));
    uint8_t dec[64];
    ck_assert_uint_eq(kn_base64_decoded_len(enc, strlen(enc)), strlen(plain));
    ck_assert_int_eq(kn_base64_decode(enc, strlen(enc), dec, sizeof(dec), &len), KN_OK);
    ck_assert_uint_eq(len, strlen(plain));
    ck_assert(!memcmp(dec, plain, len));
}

START_TEST(rfc4648_vectors) {
    check_pair("", "");
    check_pair("f", "Zg==");
    check_pair("fo", "Zm8=");
    check_pair("foo", "Zm9v");
    check_pair("foob", "Zm9vYg==");
    check_pair("fooba", "Zm9vYmE=");
    check_pair("foobar", "Zm9vYmFy");
}
END_TEST

START_TEST(agrees_with_openssl_and_round_trips) {
    uint8_t in[300], dec[300];
    char ours[410];
    unsigned char theirs[410];
    uint32_t x = 99;
    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            in[i] = (uint8_t)(x >> 24);
        }
        size_t len;
        ck_assert_int_eq(kn_base64_encode(in, n, ours, sizeof(ours), &len), KN_OK);
        int tlen = EVP_EncodeBlock(theirs, in, (int)n);
        ck_assert_int_eq((int)len, tlen);
        ck_assert_str_eq(ours, (const char *)theirs);
        size_t dlen;
        ck_assert_int_eq(kn_base64_decode(ours, len, dec, kn_base64_decoded_len(ours, len), &dlen), KN_OK);
        ck_assert_uint_eq(dlen, n);
        ck_assert(n == 0 || !memcmp(dec, in, n));
    }
    /* every byte value in every position of a quantum */
    for (unsigned b = 0; b < 256; b++)
        for (int pos = 0; pos < 3; pos++) {
            uint8_t v[3] = {0x5a, 0xa5, 0x3c};
            v[pos] = (uint8_t)b;
            size_t len, dlen;
            ck_assert_int_eq(kn_base64_encode(v, 3, ours, sizeof(ours), &len), KN_OK);
            ck_assert_int_eq(kn_base64_decode(ours, len, dec, 3, &dlen), KN_OK);
            ck_assert(dlen == 3 && !memcmp(dec, v, 3));
        }
}
END_TEST

/* Random lengths past the two-quanta loop and its tails, both ways, against OpenSSL. */
START_TEST(random_lengths_against_openssl) {
    enum { MAX = 5000 };
    static uint8_t in[MAX], back[MAX + 3];
    static char ours[MAX / 3 * 4 + 8];
    static unsigned char theirs[MAX / 3 * 4 + 8], their_back[MAX + 3];
    uint32_t x = 12345;
    for (int round = 0; round < 400; round++) {
        x = x * 1664525u + 1013904223u;
        size_t n = round < 40 ? (size_t)round : (x >> 8) % (MAX + 1);
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            in[i] = (uint8_t)(x >> 24);
        }
        size_t len, dlen;
        ck_assert_int_eq(kn_base64_encode(in, n, ours, sizeof(ours), &len), KN_OK);
        int tlen = EVP_EncodeBlock(theirs, in, (int)n);
        ck_assert_int_eq((int)len, tlen);
        ck_assert_str_eq(ours, (const char *)theirs);
        ck_assert_int_eq(kn_base64_decode(ours, len, back, sizeof(back), &dlen), KN_OK);
        ck_assert_uint_eq(dlen, n);
        ck_assert(n == 0 || !memcmp(back, in, n));
        /* OpenSSL decodes whole quanta, padding bytes included */
        int blen = EVP_DecodeBlock(their_back, (const unsigned char *)ours, (int)len);
        ck_assert_int_ge(blen, (int)n);
        ck_assert(n == 0 || !memcmp(their_back, in, n));
    }
}
END_TEST

/* Every byte value at every offset of a 96-byte input, which the vector path
 * (AVX2 where the CPU has it) encodes in 24-byte steps: same text as OpenSSL. */
START_TEST(every_byte_value_at_every_offset_of_a_long_input) {
    enum { N = 96 };
    uint8_t in[N];
    char ours[N / 3 * 4 + 1];
    unsigned char theirs[N / 3 * 4 + 1];
    for (size_t i = 0; i < N; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (unsigned b = 0; b < 256; b++)
        for (size_t pos = 0; pos < N; pos++) {
            uint8_t keep = in[pos];
            in[pos] = (uint8_t)b;
            size_t len;
            ck_assert_int_eq(kn_base64_encode(in, N, ours, sizeof(ours), &len), KN_OK);
            ck_assert_int_eq((int)len, EVP_EncodeBlock(theirs, in, N));
            ck_assert_str_eq(ours, (const char *)theirs);
            in[pos] = keep;
        }
}
END_TEST

/* Each byte value in each position of two quanta: accepted exactly when it is in the alphabet. */
START_TEST(every_character_in_every_position) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int c = 0; c < 256; c++) {
        if (c == '=')
            continue; /* padding has its own rules (rejects_malformed) */
        int valid = c && strchr(alphabet, c) != NULL;
        for (int pos = 0; pos < 8; pos++) {
            char text[9] = "QUJDREVG"; /* "ABCDEF" */
            text[pos] = (char)c;
            uint8_t out[6];
            size_t len;
            kn_err_t rc = kn_base64_decode(text, 8, out, sizeof(out), &len);
            ck_assert_msg(rc == (valid ? KN_OK : KN_ERR_INVALID_ARG), "byte %d at %d", c, pos);
        }
    }
}
END_TEST

static kn_err_t dec(const char *s) {
    uint8_t out[64];
    size_t len;
    return kn_base64_decode(s, strlen(s), out, sizeof(out), &len);
}

START_TEST(rejects_malformed) {
    ck_assert_int_eq(dec("Zm9vYmFy"), KN_OK);
    /* length not a multiple of 4, missing padding */
    ck_assert_int_eq(dec("Zg"), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zg="), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zm9vY"), KN_ERR_INVALID_ARG);
    /* padding in the wrong place */
    ck_assert_int_eq(dec("Z==="), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("===="), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zg=a"), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zg==Zg=="), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zm=vYmFy"), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("=m9vYmFy"), KN_ERR_INVALID_ARG);
    /* nonzero bits under the padding: a second encoding of the same bytes */
    ck_assert_int_eq(dec("Zh=="), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zm9="), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(dec("Zm8="), KN_OK);
    /* characters outside the standard alphabet, in every position */
    const char bad[] = {'-', '_', ' ', '\n', '\r', '.', '*', '\x80', '\xff', '\0'};
    for (size_t i = 0; i < sizeof(bad); i++)
        for (int pos = 0; pos < 8; pos++) {
            char s[9] = "Zm9vYmFy";
            s[pos] = bad[i];
            uint8_t out[8];
            size_t len;
            ck_assert_int_eq(kn_base64_decode(s, 8, out, sizeof(out), &len), KN_ERR_INVALID_ARG);
        }
    /* every byte that is not in the alphabet is rejected */
    for (unsigned c = 0; c < 256; c++) {
        char s[5] = "AAAA";
        s[1] = (char)c;
        uint8_t out[3];
        size_t len;
        int valid = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
        ck_assert_int_eq(kn_base64_decode(s, 4, out, 3, &len), valid ? KN_OK : KN_ERR_INVALID_ARG);
    }
}
END_TEST

START_TEST(buffers_and_arguments) {
    char enc[9];
    uint8_t out[6];
    size_t len = 77;
    /* encode needs room for the NUL */
    ck_assert_int_eq(kn_base64_encode("foobar", 6, enc, 8, &len), KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_base64_encode("foobar", 6, enc, 9, NULL), KN_OK);
    ck_assert_str_eq(enc, "Zm9vYmFy");
    ck_assert_int_eq(kn_base64_encode(NULL, 1, enc, 9, &len), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_base64_encode(NULL, 0, enc, 9, &len), KN_OK);
    ck_assert_str_eq(enc, "");
    ck_assert_int_eq(kn_base64_encode("f", 1, NULL, 9, &len), KN_ERR_INVALID_ARG);
    /* decode checks the exact size first */
    ck_assert_int_eq(kn_base64_decode("Zm9vYmE=", 8, out, 4, &len), KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_base64_decode("Zm9vYmE=", 8, out, 5, &len), KN_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(kn_base64_decode(NULL, 4, out, 6, &len), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_base64_decode("Zg==", 4, out, 6, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_base64_decode("", 0, NULL, 0, &len), KN_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(kn_base64_encoded_len(SIZE_MAX), SIZE_MAX);
    ck_assert_uint_eq(kn_base64_encoded_len(0), 0);
    ck_assert_uint_eq(kn_base64_encoded_len(4), 8);
}
END_TEST

START_TEST(decodes_in_place) {
    char s[] = "SGVsbG8sIEtpbmVzaXMh"; /* "Hello, Kinesis!" */
    size_t len;
    ck_assert_int_eq(kn_base64_decode(s, strlen(s), (uint8_t *)s, sizeof(s), &len), KN_OK);
    ck_assert_uint_eq(len, 15);
    ck_assert(!memcmp(s, "Hello, Kinesis!", 15));
}
END_TEST

static Suite *base64_suite(void) {
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rfc4648_vectors);
    tcase_add_test(tc, agrees_with_openssl_and_round_trips);
    tcase_add_test(tc, random_lengths_against_openssl);
    tcase_add_test(tc, every_byte_value_at_every_offset_of_a_long_input);
    tcase_add_test(tc, every_character_in_every_position);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, buffers_and_arguments);
    tcase_add_test(tc, decodes_in_place);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(base64_suite)
