/*
 * Producer statistics: counters kept by the put, pipeline and report sides, a
 * put-to-report latency histogram, and the JSON of kn_producer_stats_json()
 * (documented field by field in docs/STATISTICS.md).
 *
 * Every counter has one writer thread and is read from any thread with
 * relaxed atomics, so reading never blocks the pipeline.
 */
#ifndef KN_PRODUCER_STATS_H
#define KN_PRODUCER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "pipeline.h"
#include "record.h"

/* Latency buckets: exact below 16 us, then 4 per power of two (25% wide). */
#define KN_LAT_LINEAR 16
#define KN_LAT_SUB 4
#define KN_LAT_BUCKETS (KN_LAT_LINEAR + (64 - 4) * KN_LAT_SUB)

typedef struct kn_lat_hist_s {
    atomic_llong bucket[KN_LAT_BUCKETS];
    atomic_llong count;
    atomic_llong max;
} kn_lat_hist_t;

/** Adds one value (microseconds; negative counts as 0). Single writer. */
void kn_lat_hist_add(kn_lat_hist_t *h, int64_t us);
/** The value below which `pct` percent of the values lie (a bucket's upper end); 0 when empty. */
int64_t kn_lat_hist_percentile(const kn_lat_hist_t *h, double pct);

/* Error codes counted by type: library codes and service codes in one array. */
#define KN_STATS_ERR_SLOTS 64

typedef struct kn_pstats_s {
    int64_t start_us;
    /* put side (any thread) */
    atomic_llong rejected;        /* put() calls that returned an error */
    atomic_llong queue_full;      /* of which KN_ERR_QUEUE_FULL */
    /* pipeline thread */
    atomic_llong accepted;        /* records taken from the put queue */
    /* report side (one thread) */
    atomic_llong delivered;
    atomic_llong failed;
    atomic_llong errors[KN_STATS_ERR_SLOTS]; /* failed records by final error code */
    atomic_llong attempts_retried;           /* failed attempts of reported records */
    kn_lat_hist_t latency;                   /* put() to report, microseconds */
} kn_pstats_t;

/** Counts one reported record (report thread). */
void kn_pstats_count_report(kn_pstats_t *s, const kn_rec_t *r, int64_t latency_us);

/** What the producer knows besides the counters. */
typedef struct kn_pstats_view_s {
    int64_t now_us;
    int64_t buffered_records, buffered_bytes;
    int64_t pinned_bytes;
    int64_t buffer_max_records, buffer_max_bytes;
    int64_t streams;
} kn_pstats_view_t;

/** The statistics JSON (caller frees), or NULL when out of memory. */
char *kn_pstats_json(const kn_pstats_t *s, const kn_pipeline_stats_t *pl, const kn_pstats_view_t *v);

#endif
