/* Producer counters, latency histogram and the statistics JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "stats.h"

#define RELAXED memory_order_relaxed

static int64_t ld(const atomic_llong *a) { return atomic_load_explicit(a, RELAXED); }
/* Single-writer increment: no read-modify-write needed. */
static void bump(atomic_llong *a, long long v) { atomic_store_explicit(a, ld(a) + v, RELAXED); }

static int bucket_of(int64_t us) {
    if (us < KN_LAT_LINEAR)
        return us < 0 ? 0 : (int)us;
    int e = 63 - __builtin_clzll((unsigned long long)us); /* >= 4 */
    int sub = (int)((us >> (e - 2)) & (KN_LAT_SUB - 1));
    return KN_LAT_LINEAR + (e - 4) * KN_LAT_SUB + sub;
}

/* The largest value that falls in bucket b. */
static int64_t bucket_top(int b) {
    if (b < KN_LAT_LINEAR)
        return b;
    int e = (b - KN_LAT_LINEAR) / KN_LAT_SUB + 4, sub = (b - KN_LAT_LINEAR) % KN_LAT_SUB;
    if (e == 63 && sub == KN_LAT_SUB - 1)
        return INT64_MAX;
    return (int64_t)(((uint64_t)(KN_LAT_SUB + sub + 1) << (e - 2)) - 1);
}

void kn_lat_hist_add(kn_lat_hist_t *h, int64_t us) {
    if (us < 0)
        us = 0;
    bump(&h->bucket[bucket_of(us)], 1);
    bump(&h->count, 1);
    if (us > ld(&h->max))
        atomic_store_explicit(&h->max, us, RELAXED);
}

int64_t kn_lat_hist_percentile(const kn_lat_hist_t *h, double pct) {
    int64_t n = ld(&h->count);
    if (n <= 0)
        return 0;
    int64_t want = (int64_t)((double)n * pct / 100.0 + 0.5);
    if (want < 1)
        want = 1;
    int64_t seen = 0;
    for (int b = 0; b < KN_LAT_BUCKETS; b++) {
        seen += ld(&h->bucket[b]);
        if (seen >= want) {
            int64_t top = bucket_top(b), max = ld(&h->max);
            return top < max ? top : max;
        }
    }
    return ld(&h->max);
}

/* Library codes -100.. map to slots 0..31, service codes 1.. to 32..63. */
static int err_slot(kn_err_t code) {
    int c = (int)code;
    if (c >= KN_ERR_INVALID_ARG && c < KN_ERR_INVALID_ARG + 32)
        return c - KN_ERR_INVALID_ARG;
    if (c > 0 && c < 32)
        return 32 + c;
    return 32; /* KN_OK slot: never used for a failure; stands for "other" */
}

static kn_err_t slot_code(int slot) {
    return slot < 32 ? (kn_err_t)(KN_ERR_INVALID_ARG + slot) : (kn_err_t)(slot - 32);
}

void kn_pstats_count_report(kn_pstats_t *s, const kn_rec_t *r, int64_t latency_us) {
    if (r->error) {
        bump(&s->failed, 1);
        bump(&s->errors[err_slot(kn_error_code(r->error->err))], 1);
    } else {
        bump(&s->delivered, 1);
    }
    if (r->nattempts)
        bump(&s->attempts_retried, r->nattempts);
    kn_lat_hist_add(&s->latency, latency_us);
}

static void num(cJSON *o, const char *k, int64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

char *kn_pstats_json(const kn_pstats_t *s, const kn_pipeline_stats_t *pl, const kn_pstats_view_t *v) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    num(o, "uptime_ms", (v->now_us - s->start_us) / 1000);
    cJSON *u = cJSON_AddObjectToObject(o, "user_records");
    if (u) {
        num(u, "accepted", ld(&s->accepted));
        num(u, "delivered", ld(&s->delivered));
        num(u, "failed", ld(&s->failed));
        num(u, "rejected", ld(&s->rejected));
        num(u, "queue_full", ld(&s->queue_full));
        num(u, "failed_attempts", ld(&s->attempts_retried));
    }
    cJSON *b = cJSON_AddObjectToObject(o, "buffer");
    if (b) {
        num(b, "records", v->buffered_records);
        num(b, "bytes", v->buffered_bytes);
        num(b, "aggregate_bytes", ld(&pl->agg_bytes));
        num(b, "request_bytes", ld(&pl->body_bytes));
        num(b, "pinned_bytes", v->pinned_bytes);
        num(b, "evicted_records", ld(&pl->evicted));
        num(b, "max_records", v->buffer_max_records);
        num(b, "max_bytes", v->buffer_max_bytes);
    }
    cJSON *k = cJSON_AddObjectToObject(o, "kinesis_records");
    if (k) {
        num(k, "delivered", ld(&pl->kinesis_records));
        num(k, "aggregated", ld(&pl->aggregated_records));
        num(k, "bytes", ld(&pl->kinesis_bytes));
        num(k, "failed", ld(&pl->entries_failed));
        num(k, "retried", ld(&pl->retries));
        num(k, "throttled", ld(&pl->throttles));
        num(k, "wrong_shard", ld(&pl->wrong_shard));
    }
    cJSON *q = cJSON_AddObjectToObject(o, "requests");
    if (q) {
        num(q, "sent", ld(&pl->requests));
        num(q, "failed", ld(&pl->requests_failed));
        num(q, "in_flight", ld(&pl->inflight));
        num(q, "list_shards", ld(&pl->list_shards));
        num(q, "shard_map_updates", ld(&pl->map_refreshes));
    }
    num(o, "streams", v->streams);
    cJSON *e = cJSON_AddObjectToObject(o, "errors");
    for (int i = 0; e && i < KN_STATS_ERR_SLOTS; i++) {
        int64_t n = ld(&s->errors[i]);
        if (n)
            num(e, i == 32 ? "OTHER" : kn_err2name(slot_code(i)), n);
    }
    cJSON *l = cJSON_AddObjectToObject(o, "latency_us");
    if (l) {
        num(l, "count", ld(&s->latency.count));
        num(l, "p50", kn_lat_hist_percentile(&s->latency, 50));
        num(l, "p90", kn_lat_hist_percentile(&s->latency, 90));
        num(l, "p99", kn_lat_hist_percentile(&s->latency, 99));
        num(l, "max", ld(&s->latency.max));
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}
