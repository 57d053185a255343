/*
 * 128-bit hash-key arithmetic without compiler extensions: decimal conversion
 * works on 32-bit limbs so every intermediate product fits in 64 bits.
 */
#include "hashkey.h"

#include <string.h>

#define DEC_CHUNK 1000000000u /* 10^9: nine decimal digits per limb division */
#define DEC_CHUNK_DIGITS 9

kn_u128_t kn_u128_from_be(const uint8_t b[16]) {
    kn_u128_t v = {0, 0};
    for (int i = 0; i < 8; i++) {
        v.hi = v.hi << 8 | b[i];
        v.lo = v.lo << 8 | b[i + 8];
    }
    return v;
}

/* Limbs most significant first. */
static void to_limbs(kn_u128_t v, uint32_t l[4]) {
    l[0] = (uint32_t)(v.hi >> 32);
    l[1] = (uint32_t)v.hi;
    l[2] = (uint32_t)(v.lo >> 32);
    l[3] = (uint32_t)v.lo;
}

kn_err_t kn_u128_parse_decimal(const char *s, size_t len, kn_u128_t *out) {
    if (!s || !out || len == 0 || len > KN_U128_DEC_MAX)
        return KN_ERR_INVALID_ARG;
    if (s[0] == '0' && len > 1)
        return KN_ERR_INVALID_ARG;
    uint32_t l[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return KN_ERR_INVALID_ARG;
        /* l = l * 10 + digit, least significant limb first; a final carry means > 2^128-1 */
        uint64_t carry = (uint64_t)(s[i] - '0');
        for (int k = 3; k >= 0; k--) {
            uint64_t t = (uint64_t)l[k] * 10 + carry;
            l[k] = (uint32_t)t;
            carry = t >> 32;
        }
        if (carry)
            return KN_ERR_INVALID_ARG;
    }
    out->hi = (uint64_t)l[0] << 32 | l[1];
    out->lo = (uint64_t)l[2] << 32 | l[3];
    return KN_OK;
}

/* Divides the limbs by 10^9 in place and returns the remainder. */
static uint32_t div_chunk(uint32_t l[4]) {
    uint64_t rem = 0;
    for (int k = 0; k < 4; k++) {
        uint64_t cur = rem << 32 | l[k];
        l[k] = (uint32_t)(cur / DEC_CHUNK);
        rem = cur % DEC_CHUNK;
    }
    return (uint32_t)rem;
}

size_t kn_u128_to_decimal(kn_u128_t v, char *buf, size_t size) {
    char tmp[KN_U128_DEC_MAX + DEC_CHUNK_DIGITS];
    size_t pos = sizeof(tmp);
    uint32_t l[4];
    to_limbs(v, l);
    do {
        uint32_t r = div_chunk(l);
        int more = l[0] | l[1] | l[2] | l[3];
        /* full chunks keep their leading zeros; the most significant one does not */
        for (int d = 0; d < DEC_CHUNK_DIGITS && (more || r || d == 0); d++) {
            tmp[--pos] = (char)('0' + r % 10);
            r /= 10;
        }
        if (!more)
            break;
    } while (1);
    size_t len = sizeof(tmp) - pos;
    if (!buf || size <= len) {
        if (buf && size)
            buf[0] = '\0';
        return 0;
    }
    memcpy(buf, tmp + pos, len);
    buf[len] = '\0';
    return len;
}

kn_err_t kn_hashkey_from_partition_key_md5(kn_md5_t *md5, const char *pk, size_t len,
                                           kn_u128_t *out) {
    if (!out)
        return KN_ERR_INVALID_ARG;
    uint8_t digest[KN_MD5_LEN];
    kn_err_t err = kn_md5(md5, pk, len, digest);
    if (err)
        return err;
    *out = kn_u128_from_be(digest);
    return KN_OK;
}

kn_err_t kn_hashkey_from_partition_key(const char *pk, size_t len, kn_u128_t *out) {
    return kn_hashkey_from_partition_key_md5(NULL, pk, len, out);
}
