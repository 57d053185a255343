/* Strict UTF-8 validation and length counting (partition keys, names, JSON text). */
#ifndef KN_UTF8_H
#define KN_UTF8_H

#include <stddef.h>

#include "kinesis/common.h"

/**
 * Nonzero when the len bytes at s are well-formed UTF-8 (Unicode Table 3-7): no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * truncated sequence. Embedded NUL bytes are valid. s may be NULL when len is 0.
 */
int kn_utf8_valid(const char *s, size_t len);

/**
 * Validates like kn_utf8_valid() and counts in the same pass: code points go to
 * *codepoints and UTF-16 code units (code points above U+FFFF count twice, as in
 * Java's String.length()) to *utf16_units; either pointer may be NULL.
 * Returns KN_OK, KN_ERR_BAD_UTF8, or KN_ERR_INVALID_ARG (s NULL with len > 0).
 */
kn_err_t kn_utf8_count(const char *s, size_t len, size_t *codepoints, size_t *utf16_units);

#endif
