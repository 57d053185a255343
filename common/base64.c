/*
 * Base64 with a 256-entry decode table: one lookup per character and a single
 * test per quantum for invalid characters (invalid entries have the top bit set).
 */
#include "base64.h"

#include <stdint.h>
#include <string.h>

static const char enc_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Character -> 6-bit value; 0xff marks every character outside the alphabet, '=' included. */
static const uint8_t dec_table[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3e, 0xff, 0xff, 0xff, 0x3f,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

#define BAD 0x80u /* set in dec_table entries of invalid characters */

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

kn_err_t kn_base64_encode(const void *in, size_t n, char *out, size_t out_size, size_t *out_len) {
    if ((!in && n) || !out)
        return KN_ERR_INVALID_ARG;
    size_t len = kn_base64_encoded_len(n);
    if (len == SIZE_MAX || out_size <= len)
        return KN_ERR_TOO_LARGE;
    const uint8_t *p = in;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = enc_alphabet[v >> 18];
        o[1] = enc_alphabet[(v >> 12) & 63];
        o[2] = enc_alphabet[(v >> 6) & 63];
        o[3] = enc_alphabet[v & 63];
        o += 4;
    }
    size_t rest = n - i; /* 0, 1 or 2 bytes, padded to a full quantum */
    if (rest) {
        uint32_t v = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        o[0] = enc_alphabet[v >> 18];
        o[1] = enc_alphabet[(v >> 12) & 63];
        o[2] = rest == 2 ? enc_alphabet[(v >> 6) & 63] : '=';
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
        uint32_t a = dec_table[s[i]], b = dec_table[s[i + 1]];
        uint32_t c = dec_table[s[i + 2]], d = dec_table[s[i + 3]];
        if ((a | b | c | d) & BAD)
            return KN_ERR_INVALID_ARG;
        put3(o, a << 18 | b << 12 | c << 6 | d);
        o += 3;
    }
    const uint8_t *q = s + full;
    size_t pad = padding(in + full);
    uint32_t a = dec_table[q[0]], b = dec_table[q[1]];
    uint32_t c = pad == 2 ? 0 : dec_table[q[2]], d = pad ? 0 : dec_table[q[3]];
    if ((a | b | c | d) & BAD)
        return KN_ERR_INVALID_ARG;
    /* the bits that padding drops must be zero, so each byte string has one encoding */
    if ((pad == 2 && (b & 0x0f)) || (pad == 1 && (c & 0x03)))
        return KN_ERR_INVALID_ARG;
    uint8_t last[3];
    put3(last, a << 18 | b << 12 | c << 6 | d);
    memcpy(o, last, 3 - pad);
    *out_len = len;
    return KN_OK;
}
