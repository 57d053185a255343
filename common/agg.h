/*
 * The KPL aggregated-record format (amazon-kinesis-producer aggregation-format.md):
 *
 *   F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16)
 *
 *   message AggregatedRecord { repeated string partition_key_table = 1;
 *                              repeated string explicit_hash_key_table = 2;
 *                              repeated Record records = 3; }
 *   message Record { required uint64 partition_key_index = 1;
 *                    optional uint64 explicit_hash_key_index = 2;
 *                    required bytes data = 3; repeated Tag tags = 4; }
 *
 * The builder writes the canonical form that the KPL and aws-kinesis-agg write:
 * deduplicated key tables in first-use order, tables before records, no EHK
 * index for records without one, no tags. The decoder accepts any valid
 * protobuf (fields in any order, unknown fields skipped) and checks every
 * length, index and the MD5 before use.
 */
#ifndef KN_AGG_H
#define KN_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#define KN_AGG_MAGIC_LEN 4
#define KN_AGG_DIGEST_LEN 16
#define KN_AGG_OVERHEAD (KN_AGG_MAGIC_LEN + KN_AGG_DIGEST_LEN) /* bytes around the protobuf */
#define KN_AGG_MAX_SIZE ((size_t)INT32_MAX) /* protobuf's 2 GiB message limit */
/** Aggregates kn_agg_seal_many() and kn_agg_check_many() hash per round (bounds their stack). */
#define KN_AGG_CHECK_CHUNK 64

/** The four magic bytes that start an aggregated record. */
extern const uint8_t kn_agg_magic[KN_AGG_MAGIC_LEN];

/* ---- Builder (producer side) ---- */

/**
 * Collects user records into one aggregate. Adding copies the key and data
 * bytes, so the caller's buffers may be released right after the call. Adds are
 * O(1) amortised: keys are deduplicated through hash maps, and each record is
 * encoded as it is added so finishing is a few copies and one MD5.
 * Not thread-safe.
 */
typedef struct kn_agg_builder_s kn_agg_builder_t;

/** An empty builder, or NULL when out of memory. */
kn_agg_builder_t *kn_agg_builder_new(void);

/** Accepts NULL. */
void kn_agg_builder_destroy(kn_agg_builder_t *b);

/** Drops every record and key but keeps the memory for the next aggregate. */
void kn_agg_builder_reset(kn_agg_builder_t *b);

/** Number of user records added since creation or the last reset. */
size_t kn_agg_builder_count(const kn_agg_builder_t *b);

/** Exact size kn_agg_builder_finish() would write now (KN_AGG_OVERHEAD when empty). */
size_t kn_agg_builder_size(const kn_agg_builder_t *b);

/**
 * Exact finished size if this record were added now, without adding it.
 * A partition key or EHK already in the builder costs only its index.
 * ehk NULL or ehk_len 0 means the record has no explicit hash key. Returns
 * SIZE_MAX for invalid arguments or a size beyond KN_AGG_MAX_SIZE.
 */
size_t kn_agg_builder_size_if_added(const kn_agg_builder_t *b, const char *pk, size_t pk_len,
                                    const char *ehk, size_t ehk_len, size_t data_len);

/**
 * Adds a user record if the aggregate then stays within max_size bytes (pass
 * SIZE_MAX for no limit); the check and the add share one key lookup.
 * pk/ehk are the key bytes (not validated here: the producer checks UTF-8,
 * lengths and the EHK's decimal range first); data may be NULL when data_len is 0.
 * Returns KN_OK, KN_ERR_TOO_LARGE (would exceed max_size or KN_AGG_MAX_SIZE;
 * nothing added), KN_ERR_INVALID_ARG or KN_ERR_NOMEM (builder unchanged).
 */
kn_err_t kn_agg_builder_add(kn_agg_builder_t *b, const char *pk, size_t pk_len, const char *ehk,
                            size_t ehk_len, const void *data, size_t data_len, size_t max_size);

/**
 * Writes the aggregate (magic, protobuf, MD5) into out, which needs
 * kn_agg_builder_size() bytes, and stores that length in *out_len. The builder
 * keeps its records; call kn_agg_builder_reset() to start the next aggregate.
 * Returns KN_OK, KN_ERR_TOO_LARGE (out_size too small, nothing written),
 * KN_ERR_INVALID_ARG or KN_ERR_NOMEM (libcrypto failure).
 */
kn_err_t kn_agg_builder_finish(kn_agg_builder_t *b, uint8_t *out, size_t out_size,
                               size_t *out_len);

/**
 * kn_agg_builder_finish() without the MD5: the last KN_AGG_DIGEST_LEN bytes
 * are zero until kn_agg_seal_many() fills them, so a caller sending many
 * aggregates at once can hash them side by side.
 */
kn_err_t kn_agg_builder_finish_unsealed(kn_agg_builder_t *b, uint8_t *out, size_t out_size,
                                        size_t *out_len);

/**
 * Writes the MD5 of each of `count` aggregates finished unsealed (blobs[i],
 * lens[i] bytes, as kn_agg_builder_finish_unsealed() reported) into its last
 * bytes, several at a time (kn_md5_many).
 */
void kn_agg_seal_many(uint8_t *const *blobs, const size_t *lens, size_t count);

/* ---- Decoder (consumer side) ---- */

/**
 * One user record, as views into the aggregate passed to kn_agg_decode(): valid
 * while that buffer lives and until the next decode with the same decoder.
 * Keys are not NUL-terminated and not checked for UTF-8 (proto2 strings are
 * bytes on the wire; the KCL does not reject them either).
 */
typedef struct {
    const uint8_t *data;
    size_t data_len;
    const char *partition_key;
    size_t partition_key_len;
    const char *explicit_hash_key; /* NULL when the record has none */
    size_t explicit_hash_key_len;
    /* Index into the aggregate's partition-key table, so a consumer can compute
     * one MD5 hash key per distinct key rather than per record. */
    size_t partition_key_index;
} kn_agg_record_t;

/** Reusable decoder state (scratch arrays and an MD5 hasher). Not thread-safe. */
typedef struct kn_agg_decoder_s kn_agg_decoder_t;

/** A decoder, or NULL when out of memory. */
kn_agg_decoder_t *kn_agg_decoder_new(void);

/** Accepts NULL. */
void kn_agg_decoder_destroy(kn_agg_decoder_t *d);

/**
 * Nonzero when p starts with the magic and more than 16 bytes follow it: the
 * KCL's test for trying to de-aggregate. Says nothing about validity.
 */
int kn_agg_is_aggregated(const uint8_t *p, size_t n);

/**
 * Decodes the aggregate of n bytes at p. On KN_OK *records points to *count
 * user records in order (sub-sequence numbers 0, 1, ...). Errors: KN_ERR_INVALID_ARG
 * (NULL arguments or not kn_agg_is_aggregated()), KN_ERR_CRC (MD5 mismatch),
 * KN_ERR_BAD_RESPONSE (malformed protobuf: truncated or overlong varint,
 * length past the end, wrong wire type, missing required field, key index out
 * of range), KN_ERR_NOMEM. On any error the caller should treat the bytes as one
 * ordinary record, as the KCL does.
 */
kn_err_t kn_agg_decode(kn_agg_decoder_t *d, const uint8_t *p, size_t n,
                       const kn_agg_record_t **records, size_t *count);

/** Size of the partition-key table of the last successful decode. */
size_t kn_agg_decoder_partition_key_count(const kn_agg_decoder_t *d);

/**
 * Entry i of that table: its bytes (a view like the records', not
 * NUL-terminated) in *key and its length returned. Out of range: NULL and 0.
 */
size_t kn_agg_decoder_partition_key(const kn_agg_decoder_t *d, size_t i, const char **key);

/**
 * Checks the MD5 of many aggregates at once (kn_md5_many(): several times the
 * throughput of one kn_agg_decode() after another): ok[i] is 1 when p[i]
 * (n[i] bytes) passes kn_agg_is_aggregated() and its digest matches, else 0.
 */
void kn_agg_check_many(const uint8_t *const *p, const size_t *n, size_t count, uint8_t *ok);

/**
 * kn_agg_decode() without the MD5 check, for an aggregate kn_agg_check_many()
 * accepted. Same results and errors otherwise.
 */
kn_err_t kn_agg_decode_checked(kn_agg_decoder_t *d, const uint8_t *p, size_t n,
                               const kn_agg_record_t **records, size_t *count);

#endif
