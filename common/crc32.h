/* CRC-32/IEEE (the zlib/gzip polynomial), as used by the AWS event-stream framing. */
#ifndef KN_CRC32_H
#define KN_CRC32_H

#include <stddef.h>
#include <stdint.h>

/**
 * Extends `crc` (0 to start) over n bytes at p and returns the new value, with
 * the same semantics as zlib's crc32(): kn_crc32(kn_crc32(0, a, x), b, y) equals
 * the CRC of a followed by b. p may be NULL when n is 0.
 */
uint32_t kn_crc32(uint32_t crc, const void *p, size_t n);

/** The slicing-by-8 tables (constant; exposed so the unit test can recompute them). */
extern const uint32_t kn_crc32_tables[8][256];

#endif
