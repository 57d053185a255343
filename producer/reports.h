/*
 * Delivery reports: finished records queue here (pushed by the pipeline
 * thread) and are handed to the application's callback exactly once each,
 * then freed. Served either by a dedicated callback thread or by whichever
 * thread calls kn_reports_poll(). The statistics callback runs on the same
 * thread, every interval.
 *
 * After serving a batch, `released` tells the producer how much it no longer
 * holds (memory bound, flush accounting) in one call per batch rather than per
 * record, to keep shared counters cool.
 */
#ifndef KN_REPORTS_H
#define KN_REPORTS_H

#include <stdint.h>

#include "kinesis/producer.h"
#include "record.h"
#include "stats.h"

/** Flush epochs tracked at once (see producer.c). */
#define KN_FLUSH_EPOCHS 64

/** What one served batch gave back. */
typedef struct kn_release_s {
    int64_t records;
    int64_t bytes;
    int64_t per_epoch[KN_FLUSH_EPOCHS];
} kn_release_t;

typedef struct kn_reports_conf_s {
    kn_delivery_report_fn *dr_fn; /* NULL: reports are only counted */
    void *dr_opaque;
    kn_producer_stats_fn *stats_fn; /* NULL: no statistics callback */
    void *stats_opaque;
    int64_t stats_interval_us;      /* 0: no statistics callback */
    char *(*stats_json)(void *arg); /* builds the JSON for stats_fn */
    void *stats_arg;
    void (*released)(void *arg, const kn_release_t *rel);
    void *released_arg;
    int64_t (*now_us)(void);        /* the clock latencies are measured with */
    kn_pstats_t *stats;
    int threaded;                   /* serve on an own thread */
} kn_reports_conf_t;

typedef struct kn_reports_s kn_reports_t;

/** The report queue (and its thread when threaded). NULL when out of memory or no thread. */
kn_reports_t *kn_reports_new(const kn_reports_conf_t *conf);

/** Queues failed records and delivered Kinesis records (any thread); both lists are emptied. */
void kn_reports_push(kn_reports_t *r, kn_rec_list_t *failed, kn_krec_list_t *delivered);

/**
 * Serves queued reports on the calling thread, waiting up to timeout_ms (-1:
 * until at least one) for the first. Returns how many ran. For the threaded
 * mode it returns 0 at once.
 */
int kn_reports_poll(kn_reports_t *r, int timeout_ms);

/**
 * Serves everything still queued (on the thread, or here when not threaded),
 * stops the thread and frees. Nothing may be pushed concurrently. Accepts NULL.
 */
void kn_reports_destroy(kn_reports_t *r);

#endif
