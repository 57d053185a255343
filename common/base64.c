/*
 * Base64 with tables built by the preprocessor (no initialisation at run time):
 * encoding looks up 12 input bits at a time in a 4096-entry table of character
 * pairs, two lookups per 3 bytes; decoding ORs four 256-entry tables that hold
 * each character's 6 bits already shifted into place, one lookup per character
 * and a single test per quantum for invalid characters (their entries have the
 * top bit set). About twice the speed of one lookup per character each way.
 */
#include "base64.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

/* The character of a 6-bit value, as a constant expression. */
#define B64_CHAR(x)                                                                        \
    ((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x)-26 : (x) < 62 ? '0' + (x)-52 : (x) == 62 ? '+' : '/')

/* 12 bits -> their two characters. */
#define PAIR(i) {(char)B64_CHAR((i) >> 6), (char)B64_CHAR((i)&63)}
#define PAIR4(i) PAIR(i), PAIR((i) + 1), PAIR((i) + 2), PAIR((i) + 3)
#define PAIR16(i) PAIR4(i), PAIR4((i) + 4), PAIR4((i) + 8), PAIR4((i) + 12)
#define PAIR64(i) PAIR16(i), PAIR16((i) + 16), PAIR16((i) + 32), PAIR16((i) + 48)
#define PAIR256(i) PAIR64(i), PAIR64((i) + 64), PAIR64((i) + 128), PAIR64((i) + 192)
#define PAIR1024(i) PAIR256(i), PAIR256((i) + 256), PAIR256((i) + 512), PAIR256((i) + 768)
static const char enc_pairs[4096][2] = {PAIR1024(0), PAIR1024(1024), PAIR1024(2048),
                                        PAIR1024(3072)};

#define BAD 0x80000000u /* set in the decode entries of characters outside the alphabet */

/* The 6-bit value of a character, -1 outside the alphabet ('=' included). */
#define B64_VALUE(c)                                                            \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                     \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                               \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                \
     : (c) == '+'               ? 62                                            \
     : (c) == '/'               ? 63                                            \
                                : -1)
/* Character c at quantum position k (0..3): its bits shifted into place, or BAD. */
#define DEC(c, k) (B64_VALUE(c) < 0 ? BAD : (uint32_t)B64_VALUE(c) << (18 - 6 * (k)))
#define DEC4(c, k) DEC(c, k), DEC((c) + 1, k), DEC((c) + 2, k), DEC((c) + 3, k)
#define DEC16(c, k) DEC4(c, k), DEC4((c) + 4, k), DEC4((c) + 8, k), DEC4((c) + 12, k)
#define DEC64(c, k) DEC16(c, k), DEC16((c) + 16, k), DEC16((c) + 32, k), DEC16((c) + 48, k)
#define DEC256(k) {DEC64(0, k), DEC64(64, k), DEC64(128, k), DEC64(192, k)}
static const uint32_t dec_table[4][256] = {DEC256(0), DEC256(1), DEC256(2), DEC256(3)};

size_t kn_base64_encoded_len(size_t n) {
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > (SIZE_MAX - 1) / 4)
        return SIZE_MAX;
    return groups * 4;
}

/* Writes the 24 bits of v as three bytes. */
static void put3(uint8_t *o, uint32_t v) {
    o[0] = (uint8_t)(v >> 16);
    o[1] = (uint8_t)(v >> 8);
    o[2] = (uint8_t)v;
}

#ifdef HAVE_AVX2_PATH
/*
 * 24 input bytes to 32 characters per step with AVX2, after W. Mula and
 * D. Lemire, "Faster Base64 Encoding and Decoding Using AVX2 Instructions"
 * (2018): each 32-bit lane gets one 3-byte group as bytes [b1 b0 b2 b1], two
 * multiplies move the four 6-bit fields into the four bytes, and a 16-entry
 * table of offsets turns them into characters. Reads 4 bytes past each group
 * of 24 (so it stops 32 bytes before the end); the scalar loop does the rest.
 * Returns the input bytes consumed (a multiple of 3).
 */
__attribute__((target("avx2"))) static size_t encode_avx2(const uint8_t *p, size_t n, char *o) {
    const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 1,
                                            0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i offsets = _mm256_setr_epi8(
        'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
        '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0, 'a' - 26, '0' - 52, '0' - 52, '0' - 52,
        '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63,
        'A', 0, 0);
    size_t i = 0;
    for (; i + 32 <= n; i += 24, o += 32) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(p + i + 12));
        __m256i v = _mm256_shuffle_epi8(_mm256_set_m128i(hi, lo), spread);
        __m256i ac = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i bd = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                                        _mm256_set1_epi32(0x01000010));
        __m256i idx = _mm256_or_si256(ac, bd); /* one 6-bit value per byte */
        /* 0..25 -> 13, 26..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12 */
        __m256i sel = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
        sel = _mm256_or_si256(sel, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
                                                     _mm256_set1_epi8(13)));
        __m256i chars = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, sel));
        _mm256_storeu_si256((__m256i *)o, chars);
    }
    return i;
}
#endif

kn_err_t kn_base64_encode(const void *in, size_t n, char *out, size_t out_size, size_t *out_len) {
    if ((!in && n) || !out)
        return KN_ERR_INVALID_ARG;
    size_t len = kn_base64_encoded_len(n);
    if (len == SIZE_MAX || out_size <= len)
        return KN_ERR_TOO_LARGE;
    const uint8_t *p = in;
    char *o = out;
    size_t i = 0;
#ifdef HAVE_AVX2_PATH
    if (n >= 64 && __builtin_cpu_supports("avx2")) {
        i = encode_avx2(p, n, o);
        o += i / 3 * 4;
    }
#endif
    for (; i + 6 <= n; i += 6) { /* two quanta per round: fewer loop tests */
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        uint32_t w = (uint32_t)p[i + 3] << 16 | (uint32_t)p[i + 4] << 8 | p[i + 5];
        memcpy(o, enc_pairs[v >> 12], 2);
        memcpy(o + 2, enc_pairs[v & 0xfff], 2);
        memcpy(o + 4, enc_pairs[w >> 12], 2);
        memcpy(o + 6, enc_pairs[w & 0xfff], 2);
        o += 8;
    }
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        memcpy(o, enc_pairs[v >> 12], 2);
        memcpy(o + 2, enc_pairs[v & 0xfff], 2);
        o += 4;
    }
    size_t rest = n - i; /* 0, 1 or 2 bytes, padded to a full quantum */
    if (rest) {
        uint32_t v = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        memcpy(o, enc_pairs[v >> 12], 2);
        o[2] = rest == 2 ? enc_pairs[v & 0xfff][0] : '=';
        o[3] = '=';
        o += 4;
    }
    *o = '\0';
    if (out_len)
        *out_len = len;
    return KN_OK;
}

/* Padding characters ('=') ending the final quantum q[0..3]: 0, 1 or 2. */
static size_t padding(const char *q) {
    return (size_t)(q[3] == '=') + (q[3] == '=' && q[2] == '=');
}

size_t kn_base64_decoded_len(const char *in, size_t n) {
    size_t len = n / 4 * 3;
    if (in && n >= 4 && n % 4 == 0)
        len -= padding(in + n - 4);
    return len;
}

kn_err_t kn_base64_decode(const char *in, size_t n, uint8_t *out, size_t out_size,
                          size_t *out_len) {
    if ((!in && n) || (!out && n) || !out_len)
        return KN_ERR_INVALID_ARG;
    if (n % 4)
        return KN_ERR_INVALID_ARG;
    size_t len = kn_base64_decoded_len(in, n);
    if (out_size < len)
        return KN_ERR_TOO_LARGE;
    *out_len = 0;
    if (n == 0)
        return KN_OK;
    const uint8_t *s = (const uint8_t *)in;
    uint8_t *o = out;
    size_t full = n - 4; /* the last quantum may carry padding */
    /* Reading a whole quantum before writing keeps in-place decoding correct. */
    for (size_t i = 0; i < full; i += 4) {
        uint32_t v = dec_table[0][s[i]] | dec_table[1][s[i + 1]] | dec_table[2][s[i + 2]] |
                     dec_table[3][s[i + 3]];
        if (v & BAD)
            return KN_ERR_INVALID_ARG;
        put3(o, v);
        o += 3;
    }
    const uint8_t *q = s + full;
    size_t pad = padding(in + full);
    uint32_t v = dec_table[0][q[0]] | dec_table[1][q[1]] | (pad == 2 ? 0 : dec_table[2][q[2]]) |
                 (pad ? 0 : dec_table[3][q[3]]);
    if (v & BAD)
        return KN_ERR_INVALID_ARG;
    /* the bits that padding drops must be zero, so each byte string has one encoding */
    if ((pad == 2 && (v & 0xffff)) || (pad == 1 && (v & 0xff)))
        return KN_ERR_INVALID_ARG;
    uint8_t last[3];
    put3(last, v);
    memcpy(o, last, 3 - pad);
    *out_len = len;
    return KN_OK;
}
