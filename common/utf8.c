/*
 * UTF-8 validation by the ranges of Unicode Table 3-7, with an eight-bytes-at-a-
 * time fast path for ASCII, which is what almost every partition key is.
 */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

#define ASCII_MASK 0x8080808080808080ull

kn_err_t kn_utf8_count(const char *s, size_t len, size_t *codepoints, size_t *utf16_units) {
    if (!s && len)
        return KN_ERR_INVALID_ARG;
    const uint8_t *p = (const uint8_t *)s, *end = len ? p + len : p; /* NULL + 0 is UB */
    size_t cps = 0, supplementary = 0;
    while (p < end) {
        if ((size_t)(end - p) >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!(w & ASCII_MASK)) {
                p += 8;
                cps += 8;
                continue;
            }
        }
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            cps++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return KN_ERR_BAD_UTF8; /* continuation byte, C0/C1 overlong lead, or F5..FF */
        }
        if ((size_t)(end - p) <= need || p[1] < lo || p[1] > hi)
            return KN_ERR_BAD_UTF8;
        for (size_t i = 2; i <= need; i++)
            if ((p[i] & 0xc0) != 0x80)
                return KN_ERR_BAD_UTF8;
        supplementary += need == 3;
        cps++;
        p += need + 1;
    }
    if (codepoints)
        *codepoints = cps;
    if (utf16_units)
        *utf16_units = cps + supplementary;
    return KN_OK;
}

int kn_utf8_valid(const char *s, size_t len) {
    return kn_utf8_count(s, len, NULL, NULL) == KN_OK;
}
