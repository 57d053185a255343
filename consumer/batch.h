/*
 * Turns Kinesis records (a GetRecords reply or a fan-out event) into the batch
 * of user records handed to a record processor: KPL aggregates are split into
 * their user records with subsequence numbers 0, 1, ...; an aggregate that does
 * not decode (bad MD5, malformed protobuf) is delivered as one plain record, as
 * the KCL does. Records at or before a starting checkpoint are dropped, so
 * restarting at (sequence, subsequence) delivers exactly the rest of that
 * aggregate and what follows.
 *
 * With the shard's hash range set, the KCL's rule applies (AggregatorUtil): an
 * aggregate holding any user record whose hash key (its explicit hash key, else
 * the MD5 of its partition key) lies outside [start, end] is dropped whole. A
 * producer re-sends such an aggregate after a reshard put it on the wrong shard,
 * so delivering it would repeat its records. Plain records are never dropped.
 *
 * Pure (no I/O, no clock); one builder per shard consumer, not thread-safe.
 */
#ifndef KN_BATCH_H
#define KN_BATCH_H

#include <stddef.h>

#include "kinesis/consumer.h"
#include "kinesis/kinesis.h"
#include "lease.h"

typedef struct kn_batch_builder_s kn_batch_builder_t;

/** NULL when out of memory. */
kn_batch_builder_t *kn_batch_builder_new(void);
/** Accepts NULL. */
void kn_batch_builder_destroy(kn_batch_builder_t *b);

/**
 * Builds the user records of recs[0..n). Records whose position is at or
 * before `after` are dropped (NULL, or a sentinel: none). On KN_OK *out points
 * to *count user records, views into `recs` and the builder, valid until the
 * next build and while `recs` lives; *last (when *count > 0) is the position of
 * the last one. KN_ERR_NOMEM, or KN_ERR_BAD_RESPONSE for a record without a
 * sequence number or with one that is not a decimal where it must be compared
 * (while filtering, and the last one).
 */
kn_err_t kn_batch_build(kn_batch_builder_t *b, const kn_record_t *recs, size_t n,
                        const kn_esn_t *after, const kn_user_record_t **out, size_t *count,
                        kn_esn_t *last);

/** Aggregates delivered as plain records because they did not decode, since creation. */
size_t kn_batch_builder_malformed(const kn_batch_builder_t *b);

/**
 * The shard's hash range, inclusive decimal bounds (a lease's startingHashKey
 * and endingHashKey). Either NULL (leases of older tables have none): no range
 * check. KN_OK, KN_ERR_INVALID_ARG (not a hash key, or start > end; the
 * previous range stays) or KN_ERR_NOMEM.
 */
kn_err_t kn_batch_builder_set_hash_range(kn_batch_builder_t *b, const char *start,
                                         const char *end);

/** An aggregate dropped by the hash-range rule. */
typedef struct kn_batch_drop_s {
    const char *sequence_number; /* the Kinesis record's, a view into the built records */
    size_t user_records;         /* how many user records it held */
} kn_batch_drop_t;

/**
 * The aggregates the last kn_batch_build() dropped for the hash range, in
 * order, valid like its output. Returns their number; *drops may be NULL when 0.
 */
size_t kn_batch_builder_drops(const kn_batch_builder_t *b, const kn_batch_drop_t **drops);

#endif
