/*
 * Standard base64 (RFC 4648 section 4, alphabet A-Z a-z 0-9 + /, '=' padding),
 * the encoding of the Data field of every Kinesis JSON record. Both directions
 * write into caller buffers so the record hot path never allocates.
 */
#ifndef KN_BASE64_H
#define KN_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

/**
 * Exact number of characters kn_base64_encode() writes for n input bytes,
 * not counting the terminating NUL. SIZE_MAX when the result would overflow.
 */
size_t kn_base64_encoded_len(size_t n);

/**
 * Encodes n bytes (in may be NULL when n is 0) into out as a NUL-terminated
 * string. out_size must be at least kn_base64_encoded_len(n) + 1. On success the
 * length (without the NUL) goes to *out_len if out_len is not NULL.
 * Returns KN_OK, KN_ERR_INVALID_ARG (NULL pointers) or KN_ERR_TOO_LARGE
 * (out_size too small; nothing written).
 */
kn_err_t kn_base64_encode(const void *in, size_t n, char *out, size_t out_size, size_t *out_len);

/**
 * Number of bytes kn_base64_decode() produces for these n characters: exact for
 * well-formed input (it looks at the padding), an upper bound otherwise.
 */
size_t kn_base64_decoded_len(const char *in, size_t n);

/**
 * Strictly decodes n characters: the length must be a multiple of 4, only the
 * 64 alphabet characters may appear, '=' only as one or two final padding
 * characters, and the bits dropped by padding must be zero (so every byte string
 * has exactly one accepted encoding). No whitespace is skipped. n == 0 decodes
 * to nothing. out may be the same memory as in (decoding in place).
 * Returns KN_OK with the length in *out_len, KN_ERR_INVALID_ARG for NULL
 * pointers or malformed input (callers that got the text from a server report
 * that as KN_ERR_BAD_RESPONSE), or KN_ERR_TOO_LARGE when out_size is smaller
 * than kn_base64_decoded_len(). On error the contents of out are unspecified.
 */
kn_err_t kn_base64_decode(const char *in, size_t n, uint8_t *out, size_t out_size,
                          size_t *out_len);

#endif
