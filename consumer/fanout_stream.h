/*
 * The sans-IO core of one shard's enhanced fan-out retrieval: it turns the raw
 * bytes of SubscribeToShard responses into a bounded queue of events, decides
 * when the HTTP/2 stream must pause (queue full) and resume (drained below half),
 * when to subscribe again and from where, how long to back off after each kind
 * of failure, and when a silent subscription must be renewed. No I/O, no clock
 * (every call takes `now` in monotonic milliseconds), no locks.
 *
 * Two sides use it. The I/O side (the transport's callbacks) calls feed() and
 * closed(). The fetch side (the shard consumer's pool step, one call at a time)
 * calls next(), take(), abort() and settle(). Every call except settle() reads
 * or writes state both sides share, so the caller serialises them with one lock;
 * settle() touches only fetch-side state and may run outside that lock (it parses
 * the event's JSON, which should not hold up the I/O thread).
 *
 * Positions: the first subscription starts where the lease says (a checkpoint AT
 * its sequence number, or a sentinel); every later one AFTER the last
 * ContinuationSequenceNumber settled, i.e. handed to the processor, so events
 * still queued when a subscription ended are delivered first and nothing is read
 * twice. Records at or before that continuation are dropped as repeats.
 *
 * Memory per shard: queued payloads up to about max_bytes (a chunk arriving
 * when the queue is already full is still decoded, so one chunk more), plus the
 * decoder's buffer for a message split across chunks (at most
 * KN_ES_MAX_MESSAGE_LEN).
 */
#ifndef KN_FANOUT_STREAM_H
#define KN_FANOUT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "http.h" /* KN_HTTP_CONTINUE, KN_HTTP_PAUSE, KN_HTTP_ABORT */
#include "kinesis/kinesis.h"
#include "lease.h"
#include "retry.h" /* kn_rng_t */

/** Least time between two SubscribeToShard calls of one shard (the service allows 1/s). */
#define KN_FO_MIN_SUBSCRIBE_GAP_MS 1000
/** Backoff base after a failed or broken subscription; doubled per consecutive failure. */
#define KN_FO_BACKOFF_BASE_MS 1000
/** Backoff base after ResourceInUse / LimitExceeded / throttling (a lock held for seconds). */
#define KN_FO_BACKOFF_IN_USE_MS 2000
/** Backoff base after a KMS error (a key problem does not clear up in seconds). */
#define KN_FO_BACKOFF_KMS_MS 5000
/** Longest backoff. */
#define KN_FO_MAX_BACKOFF_MS 30000

typedef struct kn_fo_limits_s {
    size_t max_events;   /* queued events that pause the stream (>= 1) */
    size_t max_bytes;    /* queued payload bytes that pause the stream (>= 1) */
    int64_t watchdog_ms; /* no message this long on an unpaused subscription: renew it */
} kn_fo_limits_t;

typedef struct kn_fo_stream_s kn_fo_stream_t;
/** One queued entry: an event's payload, or an error to report in order. */
typedef struct kn_fo_item_s kn_fo_item_t;

/** Counters, for tests and statistics. */
typedef struct kn_fo_stats_s {
    uint64_t subscribes;  /* subscriptions started */
    uint64_t events;      /* SubscribeToShardEvents queued */
    uint64_t errors;      /* exception frames, broken or refused subscriptions */
    uint64_t pauses;      /* times the stream was paused */
    uint64_t resumes;     /* times it was resumed */
    uint64_t repeats;     /* records dropped as at or before the continuation */
    size_t queued_events; /* now */
    size_t queued_bytes;  /* now */
    int paused;           /* now */
    int subscribed;       /* now: a subscription is live or starting */
} kn_fo_stats_t;

/**
 * A core starting at `from` (timestamp_ms for AT_TIMESTAMP). `seed` seeds the
 * backoff jitter. NULL when out of memory or for invalid limits.
 */
kn_fo_stream_t *kn_fo_stream_new(const kn_fo_limits_t *lim, const kn_esn_t *from,
                                 int64_t timestamp_ms, uint64_t seed);
/** Frees the core and everything queued. Accepts NULL. */
void kn_fo_stream_destroy(kn_fo_stream_t *s);

typedef enum {
    KN_FO_WAIT = 0,  /* nothing to do now; *wait_ms says how long (-1: until woken) */
    KN_FO_SUBSCRIBE, /* subscribe now at *pos, then report the outcome through closed() if it fails */
    KN_FO_CANCEL     /* the subscription went silent: cancel it (closed() follows) */
} kn_fo_action_t;

/**
 * Fetch side, when take() found nothing: what to do. SUBSCRIBE marks the
 * subscription as started; pos->sequence_number points into the core and
 * stays valid until the next call on it.
 */
kn_fo_action_t kn_fo_stream_next(kn_fo_stream_t *s, int64_t now, kn_position_t *pos,
                                 int64_t *wait_ms);

/**
 * I/O side: bytes of the live subscription's body. Returns KN_HTTP_CONTINUE,
 * KN_HTTP_PAUSE (the queue is full: stop reading until take() says resume) or
 * KN_HTTP_ABORT (an exception frame or undecodable bytes ended it: an error is
 * queued; closed() follows). *added (if not NULL) is the number of entries
 * queued by this call.
 */
int kn_fo_stream_feed(kn_fo_stream_t *s, const uint8_t *data, size_t len, int64_t now,
                      size_t *added);

/**
 * I/O side (or the fetch side when starting failed): the subscription ended.
 * err NULL is a clean end (every 5 minutes), unless a message was cut off.
 * Failures queue an error (unless one was already queued for it) and grow the
 * backoff; a clean end allows the next subscription one gap after the last.
 */
void kn_fo_stream_closed(kn_fo_stream_t *s, const kn_error_t *err, int64_t now);

/**
 * Fetch side: the oldest queued entry, or NULL. *resume is set when the stream
 * was paused and the queue is now at or below half its limits: the caller must
 * resume the transfer.
 */
kn_fo_item_t *kn_fo_stream_take(kn_fo_stream_t *s, int64_t now, int *resume);

/** Whether entries are queued. */
int kn_fo_stream_ready(const kn_fo_stream_t *s);

/**
 * Fetch side, outside the lock: what a taken entry means; frees it. For an
 * event: KN_OK, *res the records (those at or before the last continuation
 * dropped; never NULL) and *shard_end set when it carried ChildShards; the
 * continuation becomes the resubscribe position. For a queued error: its code,
 * with *err. A malformed event gives KN_ERR_BAD_RESPONSE with *err: call abort().
 */
kn_err_t kn_fo_stream_settle(kn_fo_stream_t *s, kn_fo_item_t *it, kn_get_records_result_t **res,
                             int *shard_end, kn_error_t **err);

/**
 * Fetch side: the subscription's data cannot be trusted (a malformed event):
 * drops what is queued and counts a failure. Returns nonzero when a live
 * subscription must be cancelled.
 */
int kn_fo_stream_abort(kn_fo_stream_t *s, int64_t now);

/** Where the next subscription would start (fetch side; pointers valid as for next()). */
void kn_fo_stream_position(const kn_fo_stream_t *s, kn_position_t *pos);

/** Copies the counters. */
void kn_fo_stream_stats(const kn_fo_stream_t *s, kn_fo_stats_t *st);

/** Whether a taken entry is a queued error (rather than an event). */
int kn_fo_item_is_error(const kn_fo_item_t *it);

/** Frees an entry that is not settled. Accepts NULL. */
void kn_fo_item_free(kn_fo_item_t *it);

/**
 * The pause before subscribing again after `failures` consecutive failures
 * (>= 1) ending with `code` ("equal jitter": between half and all of a cap that
 * doubles per failure from a base chosen by the code, up to
 * KN_FO_MAX_BACKOFF_MS). KN_OK (a clean end) or failures <= 0 gives 0. Without
 * rng, the cap.
 */
int64_t kn_fo_backoff_ms(kn_err_t code, int failures, kn_rng_t *rng);

#endif
