/*
 * kinesis-c producer: what the KPL is for Java, in-process.
 *
 * kn_producer_put() validates and copies a record and returns at once. A
 * pipeline thread routes records to their predicted shard (shard map from
 * ListShards), aggregates them per shard in the KPL format, rate-limits per
 * shard, packs PutRecords requests (500 entries, 5 MiB) and retries failed
 * entries with backoff until record.ttl.ms. Every accepted record gets exactly
 * one delivery report. One producer writes to any number of streams.
 *
 * Threads:
 *  - kn_producer_put(), kn_producer_flush(), kn_producer_stats_json() and
 *    kn_producer_outstanding() may be called from any number of threads at once.
 *  - Delivery reports and the statistics callback run on ONE thread: by default
 *    the producer's own callback thread (delivery.report.mode=thread); with
 *    delivery.report.mode=poll, inside kn_producer_poll() (and inside
 *    kn_producer_flush() / kn_producer_destroy(), which poll while they wait) on
 *    the calling application thread. Never inside kn_producer_put().
 *  - A callback may call kn_producer_put() (use queue.full.behavior=error there:
 *    a blocking put inside a callback waits for reports that the callback itself
 *    holds up), but not kn_producer_flush() or kn_producer_destroy().
 *  - kn_producer_destroy() must not run concurrently with any other call.
 *
 * Memory: buffer.max.bytes and buffer.max.records bound everything held for
 * accepted records until their reports have run; at the bound put() returns
 * KN_ERR_QUEUE_FULL (or waits, queue.full.behavior=block). In poll mode the
 * application must poll, or the bound is reached.
 *
 * Delivery is at least once: a request that timed out may still have been
 * written, and is sent again (see docs/INTRODUCTION or the header of
 * producer/pipeline.h for ordering).
 */
#ifndef KINESIS_PRODUCER_H
#define KINESIS_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A producer. Opaque. */
typedef struct kn_producer_s kn_producer_t;

/** One attempt to deliver a record. */
typedef struct kn_producer_attempt_s {
    const kn_error_t *error; /**< why it failed; NULL for the attempt that delivered it */
    int64_t start_us;        /**< when the request was sent, in microseconds after put() */
    int64_t duration_us;     /**< until its outcome was known */
} kn_producer_attempt_t;

/**
 * The outcome of one record. Everything it points to is valid during the
 * callback only (copy what you keep; kn_error_copy() for the error).
 */
typedef struct kn_delivery_report_s {
    const kn_error_t *error;      /**< NULL: delivered. Else e.g. KN_ERR_RECORD_EXPIRED,
                                       KN_ERR_SHUTDOWN, or the service's error */
    const char *stream;           /**< as given to put() */
    const char *shard_id;         /**< where it was written; NULL when not delivered */
    const char *sequence_number;  /**< of the Kinesis record that carried it; NULL when not delivered */
    int64_t subsequence_number;   /**< its index inside that aggregated record (0 when sent alone) */
    int aggregated;               /**< nonzero when it travelled inside an aggregated record */
    const void *data;             /**< the record as given to put() */
    size_t data_len;
    const char *partition_key;
    const char *explicit_hash_key; /**< NULL when none was given */
    size_t attempt_count;          /**< attempts made; 0 when it never left (expired or shut down first) */
    const kn_producer_attempt_t *attempts; /**< in order; the last one delivered it on success */
    int64_t latency_us;            /**< from put() to this report */
    void *opaque;                  /**< the caller's pointer from put() */
} kn_delivery_report_t;

/** Delivery report callback; `cb_opaque` is the pointer given with the callback. */
typedef void(kn_delivery_report_fn)(const kn_delivery_report_t *report, void *cb_opaque);

/** Sets the delivery report callback (NULL: reports are counted, not delivered). */
void kn_conf_set_delivery_report_fn(kn_conf_t *conf, kn_delivery_report_fn *fn, void *cb_opaque);

/** Statistics callback: `json` is kn_producer_stats_json()'s text, valid during the call. */
typedef void(kn_producer_stats_fn)(const char *json, void *cb_opaque);

/** Sets the statistics callback, run every statistics.interval.ms on the report thread. */
void kn_conf_set_producer_stats_fn(kn_conf_t *conf, kn_producer_stats_fn *fn, void *cb_opaque);

/**
 * Creates a producer from `conf` (see docs/CONFIGURATION.md, scopes common and
 * producer). On success the producer owns `conf` (do not use or destroy it
 * afterwards); on failure NULL is returned, `conf` stays the caller's, and a
 * sentence is written to errstr (if not NULL).
 */
kn_producer_t *kn_producer_new(kn_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * Queues one record and returns at once; the data and keys are copied.
 * `stream` is a stream name or ARN; `partition_key` 1..256 characters of valid
 * UTF-8; `explicit_hash_key` NULL or a decimal in [0, 2^128-1] that chooses the
 * shard instead of the key's MD5; `data` up to record.max.bytes (data plus key
 * within 1 MiB); `opaque` comes back in the report.
 * Returns KN_OK (a report will follow), KN_ERR_INVALID_ARG (bad stream name or
 * hash key, NULL argument), KN_ERR_BAD_UTF8, KN_ERR_TOO_LARGE (key over 256
 * characters, data too large), KN_ERR_QUEUE_FULL, KN_ERR_SHUTDOWN (destroy has
 * begun) or KN_ERR_NOMEM. Only KN_OK is followed by a report.
 */
kn_err_t kn_producer_put(kn_producer_t *p, const char *stream, const char *partition_key,
                         const char *explicit_hash_key, const void *data, size_t len,
                         void *opaque);

/**
 * delivery.report.mode=poll: runs ready delivery reports (and the statistics
 * callback when due) on this thread, waiting up to timeout_ms (0: do not wait,
 * -1: until at least one report) for the first. Returns how many reports ran.
 * In thread mode it returns 0 at once.
 */
int kn_producer_poll(kn_producer_t *p, int timeout_ms);

/**
 * Sends everything buffered now, ignoring the linger time (rate limits and
 * retry backoff still apply), and waits until every record put before this call
 * has been reported, or `timeout_ms` (-1: no limit). Returns KN_OK, or
 * KN_ERR_TIMED_OUT with the number still outstanding in *outstanding (if not
 * NULL; 0 on KN_OK).
 */
kn_err_t kn_producer_flush(kn_producer_t *p, int64_t timeout_ms, size_t *outstanding);

/** Records accepted and not yet reported. */
size_t kn_producer_outstanding(kn_producer_t *p);

/**
 * The statistics as a JSON object (docs/STATISTICS.md), or NULL when out of
 * memory. The caller frees it with free().
 */
char *kn_producer_stats_json(kn_producer_t *p);

/**
 * Flushes for up to shutdown.timeout.ms, then ends: records still not
 * delivered are reported with KN_ERR_SHUTDOWN (requests in flight are
 * cancelled; what they carried may still have been written). Every accepted
 * record has been reported when this returns; nothing is left allocated.
 * Accepts NULL.
 */
void kn_producer_destroy(kn_producer_t *p);

#ifdef __cplusplus
}
#endif
#endif /* KINESIS_PRODUCER_H */
