/*
 * Collection of Kinesis records into PutRecords requests of one stream: at most
 * KN_PUT_MAX_ENTRIES (500) entries and KN_PUT_MAX_BYTES (5 MiB) of data plus
 * partition keys, each entry already within 1 MiB (aggregator and put() see to
 * that). The pipeline adds entries while they fit and takes the batch when the
 * next one does not fit, when it is full, when the earliest deadline inside has
 * passed, or on flush.
 *
 * Sans-IO and single-threaded (the pipeline thread).
 */
#ifndef KN_COLLECTOR_H
#define KN_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

typedef struct kn_collector_s {
    kn_krec_list_t krecs;
    size_t bytes;        /* sum of wire_bytes */
    int64_t deadline_us; /* min over krecs; INT64_MAX when empty */
} kn_collector_t;

/** An empty collector. */
void kn_collector_init(kn_collector_t *c);

/** Whether k can join the current batch without breaking a limit. */
int kn_collector_fits(const kn_collector_t *c, const kn_krec_t *k);

/** Adds k (the caller checked kn_collector_fits). */
void kn_collector_add(kn_collector_t *c, kn_krec_t *k);

/**
 * Whether the batch should be sent at now_us: it is full (500 entries), its
 * earliest deadline has passed, or `flushing` is set. Never for an empty batch.
 */
int kn_collector_due(const kn_collector_t *c, int64_t now_us, int flushing);

/** Moves the whole batch to `out` (empty first) and resets the collector. */
void kn_collector_take(kn_collector_t *c, kn_krec_list_t *out);

#endif
