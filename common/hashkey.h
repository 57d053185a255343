/*
 * Kinesis hash keys: unsigned 128-bit integers in [0, 2^128-1]. A record's hash
 * key is its ExplicitHashKey when given, else the MD5 of its partition key read
 * as a big-endian integer; the shard whose [StartingHashKey, EndingHashKey]
 * holds it receives the record. Hash keys travel as decimal strings.
 */
#ifndef KN_HASHKEY_H
#define KN_HASHKEY_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"
#include "md5.h"

/** An unsigned 128-bit integer: hi holds bits 127..64, lo bits 63..0. */
typedef struct {
    uint64_t hi, lo;
} kn_u128_t;

#define KN_U128_DEC_MAX 39 /* digits of 2^128-1 = 340282366920938463463374607431768211455 */

/** Compares two values: negative, zero or positive like strcmp. Inline: shard
 * lookups make several per record. */
static inline int kn_u128_cmp(kn_u128_t a, kn_u128_t b) {
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/** The integer whose big-endian representation is the 16 bytes at b. */
kn_u128_t kn_u128_from_be(const uint8_t b[16]);

/**
 * Parses a canonical decimal hash key, the form the service accepts
 * (pattern 0|([1-9]\d{0,38})): 1..39 ASCII digits, no sign, no spaces, no
 * leading zero except "0" itself, value at most 2^128-1. s need not be
 * NUL-terminated. Returns KN_OK or KN_ERR_INVALID_ARG (*out untouched).
 */
kn_err_t kn_u128_parse_decimal(const char *s, size_t len, kn_u128_t *out);

/**
 * Writes v in decimal, NUL-terminated, into buf and returns its length (1..39).
 * A buffer of KN_U128_DEC_MAX + 1 bytes always suffices; when size is too small
 * nothing but an empty string (if size > 0) is written and 0 is returned.
 */
size_t kn_u128_to_decimal(kn_u128_t v, char *buf, size_t size);

/**
 * The hash key of a partition key: MD5 of its len bytes as a big-endian 128-bit
 * integer. md5 is a reusable hasher (much cheaper per call) or NULL for a
 * one-shot digest. pk may be NULL when len is 0. Returns KN_OK,
 * KN_ERR_INVALID_ARG or KN_ERR_NOMEM.
 */
kn_err_t kn_hashkey_from_partition_key_md5(kn_md5_t *md5, const char *pk, size_t len,
                                           kn_u128_t *out);

/** kn_hashkey_from_partition_key_md5() with a one-shot digest. */
kn_err_t kn_hashkey_from_partition_key(const char *pk, size_t len, kn_u128_t *out);

#endif
