/*
 * MD5. Kinesis uses it for partition-key hash keys and for the aggregated-record
 * checksum, on both the producer and the consumer hot paths. Long messages go
 * through OpenSSL's EVP interface with a reusable hasher (the fetched algorithm
 * and context are kept); short ones through a portable implementation that
 * skips EVP's per-call cost; kn_md5_many() hashes a batch several messages side
 * by side, several times the throughput of one at a time.
 */
#ifndef KN_MD5_H
#define KN_MD5_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#define KN_MD5_LEN 16 /* digest size in bytes */
/* Messages kn_md5_many() hashes side by side: what each compiler vectorizes best
 * (measured: GCC 16, four vectors with SSE2, one with AVX-512; clang one SSE2 vector). */
#if defined(__clang__)
#define KN_MD5_LANES 4
#else
#define KN_MD5_LANES 16
#endif

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

/**
 * The MD5 of each of `count` messages (p[i], n[i] bytes; p[i] may be NULL when
 * n[i] is 0) into out[i]: the same digests as kn_md5(), computed
 * KN_MD5_LANES at a time. Pure (no hasher, no allocation). Returns KN_OK, or
 * KN_ERR_INVALID_ARG for NULL arrays or a NULL message with a length.
 */
kn_err_t kn_md5_many(const uint8_t *const *p, const size_t *n, size_t count,
                     uint8_t (*out)[KN_MD5_LEN]);

#endif
