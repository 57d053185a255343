/*
 * MD5 through OpenSSL's EVP interface. Kinesis uses MD5 for partition-key hash
 * keys and for the aggregated-record checksum, once per user record on both the
 * producer and the consumer hot paths, so a reusable hasher keeps the fetched
 * algorithm and context instead of looking them up on every call (about 3x
 * cheaper for short keys with OpenSSL 3).
 */
#ifndef KN_MD5_H
#define KN_MD5_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#define KN_MD5_LEN 16 /* digest size in bytes */

/** A reusable MD5 hasher. Not thread-safe: one per thread or per owning object. */
typedef struct kn_md5_s kn_md5_t;

/** A new hasher, or NULL when out of memory or when libcrypto offers no MD5 (FIPS mode). */
kn_md5_t *kn_md5_new(void);

/** Accepts NULL. */
void kn_md5_destroy(kn_md5_t *m);

/**
 * MD5 of n bytes at p (p may be NULL when n is 0) into out. With m NULL a
 * one-shot (slower) digest is computed. Returns KN_OK, KN_ERR_INVALID_ARG or
 * KN_ERR_NOMEM (libcrypto failure).
 */
kn_err_t kn_md5(kn_md5_t *m, const void *p, size_t n, uint8_t out[KN_MD5_LEN]);

#endif
