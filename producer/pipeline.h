/*
 * The producer pipeline: user records in, PutRecords requests out, outcomes in,
 * finished records out. It wires the sans-IO stages together:
 *
 *   route (shard_map) -> aggregator (per shard) -> shard queue -> limiter
 *     -> collector (per stream) -> sender ... outcome -> retrier
 *       -> done | back to the shard queue | routed again
 *
 * It owns no thread, socket or clock. The driver (producer.c, or a unit test)
 * feeds records with kn_pipeline_add(), calls kn_pipeline_run() with the
 * current time and sleeps until the time it returns (or until woken), and takes
 * finished records with kn_pipeline_take_done(). Requests leave through a
 * kn_sender_t; their completions come back through kn_pipeline_put_done() /
 * kn_pipeline_list_done(), the only calls that may be made from another
 * thread (they queue; the next run applies them).
 *
 * Ordering. Default mode: several requests per shard may be in flight and a
 * retried entry waits out its backoff while newer entries of its shard go
 * ahead, so a record can be overtaken by records put up to its retry delays
 * later (bounded by record.ttl.ms); without retries a shard's entries leave in
 * put order. Strict mode: a shard has at most one entry in flight (one entry
 * per request, one request at a time; PutRecords does not promise order among
 * entries of one request) and a retried entry goes back to the head of its
 * shard's queue, so records of one partition key reach the shard in put order,
 * including across retries and re-routing after a reshard: while the map is
 * being refreshed nothing of the stream is sent, and records routed again are
 * merged back in put order with those their closed shard still held.
 */
#ifndef KN_PIPELINE_H
#define KN_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "aggregator.h"
#include "collector.h"
#include "limiter.h"
#include "log.h"
#include "md5.h"
#include "record.h"
#include "retrier.h"
#include "shard_map.h"

/*
 * Memory a request in flight holds outside the pipeline: its JSON body (data in
 * base64, keys, framing) in this many copies (the service call's, which the
 * transport borrows), counted against the producer's memory bound while in flight.
 */
#define KN_REQ_BODY_COPIES 1
#define KN_REQ_ENTRY_FRAMING 64 /* JSON punctuation and names per entry, rounded up */

typedef struct kn_pipeline_conf_s {
    int aggregation_enabled;
    size_t aggregation_max_bytes;
    int64_t rate_limit_percent;
    int64_t max_inflight;          /* requests in flight at once (max.connections) */
    int strict;                    /* ordering=strict */
    int64_t retry_base_ms, retry_max_ms;
    uint64_t seed;                 /* backoff jitter */
} kn_pipeline_conf_t;

/**
 * Where requests go. Each function starts one call and returns at once: on
 * KN_OK the implementation later calls kn_pipeline_put_done() (resp.
 * kn_pipeline_list_done()) with `ticket` exactly once, from any thread; on any
 * other return nothing was started and *err (if set) says why. Entries are
 * only borrowed during the call.
 */
typedef struct kn_sender_s {
    kn_err_t (*put_records)(void *ctx, const char *stream, const kn_put_entry_t *entries,
                            size_t count, void *ticket, kn_error_t **err);
    /* One page: the first page names the stream, later ones pass next_token. */
    kn_err_t (*list_shards)(void *ctx, const char *stream, const char *next_token, void *ticket,
                            kn_error_t **err);
    void *ctx;
} kn_sender_t;

/** Counters, written by the pipeline thread, readable from any thread. */
typedef struct kn_pipeline_stats_s {
    atomic_llong kinesis_records;   /* entries delivered */
    atomic_llong kinesis_bytes;     /* their data + partition key bytes */
    atomic_llong aggregated_records;/* entries that were aggregates */
    atomic_llong requests;          /* PutRecords started */
    atomic_llong requests_failed;   /* whole-request failures */
    atomic_llong entries_failed;    /* failed entries of answered requests */
    atomic_llong retries;           /* entries sent again */
    atomic_llong throttles;         /* throttled entries */
    atomic_llong wrong_shard;       /* aggregates routed again after landing elsewhere */
    atomic_llong list_shards;       /* ListShards pages requested */
    atomic_llong map_refreshes;     /* successful shard map updates */
    atomic_llong inflight;          /* requests in flight now */
    atomic_llong agg_bytes;         /* aggregate bytes held (open builders and blobs) */
    atomic_llong body_bytes;        /* estimated request bodies of requests in flight */
    atomic_llong evicted;           /* user records moved out of their pool block to wait */
} kn_pipeline_stats_t;

/** The pipeline's state for one stream (the producer's registry holds the name). */
typedef struct kn_pstream_s kn_pstream_t;
typedef struct kn_pipeline_s kn_pipeline_t;

/** A stream handle for `name` (copied); NULL when out of memory. */
kn_pstream_t *kn_pstream_new(const char *name);
/** Frees a stream handle after the pipeline that used it was destroyed. Accepts NULL. */
void kn_pstream_free(kn_pstream_t *s);
/** The stream's name. */
const char *kn_pstream_name(const kn_pstream_t *s);
/** Registry link for the producer (the pipeline never touches it). */
kn_pstream_t **kn_pstream_next(kn_pstream_t *s);

/** A pipeline; NULL when out of memory. `sender` is copied. */
kn_pipeline_t *kn_pipeline_new(const kn_pipeline_conf_t *conf, const kn_sender_t *sender,
                               const kn_logger_t *logger);
/**
 * Frees the pipeline. It must hold no record (kn_pipeline_abort and every
 * completion processed). Accepts NULL.
 */
void kn_pipeline_destroy(kn_pipeline_t *pl);

/** Called (from the completing thread) after a completion was queued, to wake the driver. */
void kn_pipeline_set_wake(kn_pipeline_t *pl, void (*wake)(void *arg), void *arg);

/**
 * Completion of a PutRecords (the ticket knows its pipeline): `result` (or
 * NULL) passes to the pipeline; `err` is copied. Any thread.
 */
void kn_pipeline_put_done(void *ticket, kn_put_records_result_t *result, const kn_error_t *err);
/** Completion of a ListShards page, likewise. Any thread. */
void kn_pipeline_list_done(void *ticket, kn_shard_list_t *result, const kn_error_t *err);

/** Makes the pipeline know `s` (its shard map is fetched on the next run) before any record. */
void kn_pipeline_open_stream(kn_pipeline_t *pl, kn_pstream_t *s);

/**
 * Takes new records (each with stream and times set; hash set when
 * KN_REC_HASHED), numbers them in list order (seq) and routes them. `recs` is
 * emptied.
 */
void kn_pipeline_add(kn_pipeline_t *pl, kn_rec_list_t *recs, int64_t now_us);

/**
 * Applies queued completions, fires what is due at now_us (linger, backoff,
 * TTL, shard map fetches), and sends what is ready. `flushing` treats every
 * linger deadline as passed. Returns the next time something falls due
 * (INT64_MAX: nothing until a record or completion arrives).
 */
int64_t kn_pipeline_run(kn_pipeline_t *pl, int64_t now_us, int flushing);

/**
 * Moves finished records to the caller: failed records (error set) to the end
 * of `failed`, delivered Kinesis records (result set; kn_krec_flatten gives
 * their user records) to the end of `delivered`.
 */
void kn_pipeline_take_done(kn_pipeline_t *pl, kn_rec_list_t *failed, kn_krec_list_t *delivered);

/**
 * Shutdown: every record not in a request in flight is finished with a copy of
 * `err`, and so will be those of requests in flight when they complete, instead
 * of being retried. Returns the number of requests still in flight.
 */
size_t kn_pipeline_abort(kn_pipeline_t *pl, const kn_error_t *err, int64_t now_us);

/** Requests in flight (started, completion not yet applied). */
size_t kn_pipeline_inflight(const kn_pipeline_t *pl);
/** Whether completions are queued and not yet applied. Any thread. */
int kn_pipeline_has_completions(kn_pipeline_t *pl);
/** The counters. */
const kn_pipeline_stats_t *kn_pipeline_stats(const kn_pipeline_t *pl);

#endif
