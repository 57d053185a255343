/* The delivery-report queue, its callback thread and report building. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"
#include "record_pool.h"
#include "reports.h"

/* Attempts described on the stack before the report needs the heap. */
#define ATTEMPTS_ON_STACK 16

struct kn_reports_s {
    kn_reports_conf_t c;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kn_rec_list_t queue;      /* failed records */
    kn_krec_list_t delivered; /* delivered Kinesis records */
    int64_t pending;          /* user records in both */
    int stop;
    int has_thread;
    pthread_t thread;
    int64_t next_stats_us;
};

void kn_reports_push(kn_reports_t *r, kn_rec_list_t *failed, kn_krec_list_t *delivered) {
    if (!failed->count && !delivered->count)
        return;
    int64_t n = (int64_t)failed->count;
    for (const kn_krec_t *k = delivered->head; k; k = k->next)
        n += (int64_t)k->recs.count;
    pthread_mutex_lock(&r->lock);
    int was_empty = !r->pending;
    kn_rec_list_concat(&r->queue, failed);
    kn_krec_list_concat(&r->delivered, delivered);
    r->pending += n;
    if (was_empty)
        pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Takes the whole queue (under the lock). */
static void take(kn_reports_t *r, kn_rec_list_t *failed, kn_krec_list_t *delivered) {
    *failed = r->queue;
    *delivered = r->delivered;
    memset(&r->queue, 0, sizeof(r->queue));
    memset(&r->delivered, 0, sizeof(r->delivered));
    r->pending = 0;
}

/* Where and when a delivered record's Kinesis record landed; NULL for failures. */
typedef struct {
    const kn_kresult_t *result;
    int64_t sent_us, done_us;
    int aggregated;
} landed_t;

static void deliver(kn_reports_t *r, const kn_rec_t *rec, const landed_t *at, int64_t latency_us) {
    kn_producer_attempt_t stack[ATTEMPTS_ON_STACK], *att = stack;
    const kn_kresult_t *res = at ? at->result : rec->result;
    size_t n = rec->nattempts + (res ? 1u : 0u);
    if (n > ATTEMPTS_ON_STACK && !(att = malloc(n * sizeof(*att)))) {
        att = stack; /* out of memory: report the first attempts only */
        n = ATTEMPTS_ON_STACK;
    }
    size_t i = 0;
    for (; i < rec->nattempts && i < n; i++) {
        att[i].error = rec->attempts[i].err ? rec->attempts[i].err->err : NULL;
        att[i].start_us = rec->attempts[i].start_us - rec->put_us;
        att[i].duration_us = rec->attempts[i].duration_us;
    }
    if (res && i < n) {
        int64_t sent = at ? at->sent_us : rec->sent_us, done = at ? at->done_us : rec->done_us;
        att[i].error = NULL;
        att[i].start_us = sent - rec->put_us;
        att[i].duration_us = done - sent;
        i++;
    }
    int aggregated = at ? at->aggregated : !!(rec->flags & KN_REC_AGGREGATED);
    kn_delivery_report_t rep = {
        .error = rec->error ? rec->error->err : NULL,
        .stream = kn_pstream_name(rec->stream),
        .shard_id = res ? res->shard_id : NULL,
        .sequence_number = res ? res->sequence_number : NULL,
        .subsequence_number = aggregated ? rec->subseq : 0,
        .aggregated = aggregated,
        .data = kn_rec_data(rec),
        .data_len = rec->data_len,
        .partition_key = kn_rec_pk(rec),
        .explicit_hash_key = kn_rec_ehk(rec),
        .attempt_count = i,
        .attempts = att,
        .latency_us = latency_us,
        .opaque = rec->opaque,
    };
    r->c.dr_fn(&rep, r->c.dr_opaque);
    if (att != stack)
        free(att);
}

static void maybe_stats(kn_reports_t *r, int64_t now) {
    if (!r->c.stats_fn || r->c.stats_interval_us <= 0 || now < r->next_stats_us)
        return;
    r->next_stats_us = now + r->c.stats_interval_us;
    char *json = r->c.stats_json(r->c.stats_arg);
    if (json)
        r->c.stats_fn(json, r->c.stats_opaque);
    free(json);
}

/* Header lines of a record the report side reads. */
static void prefetch_rec(const kn_rec_t *rec) {
    const char *p = (const char *)rec;
    for (size_t off = 0; off < sizeof(kn_rec_t); off += 64)
        __builtin_prefetch(p + off);
}

/*
 * Runs the callback of one record (`at`: where it landed, NULL for a failed
 * one), releases it and counts what it held.
 */
static void serve_one(kn_reports_t *r, kn_rec_t *rec, const landed_t *at, int64_t now,
                      kn_release_t *rel, kn_rec_release_run_t *run) {
    /* The records are cold by now and a Kinesis record's are spread over
     * memory: fetch one several places ahead while this one is served. */
    if (rec->ahead)
        prefetch_rec(rec->ahead);
    else if (rec->next)
        prefetch_rec(rec->next);
    int64_t latency = now - rec->put_us;
    if (r->c.dr_fn)
        deliver(r, rec, at, latency);
    kn_pstats_count_report(r->c.stats, rec, latency);
    rel->records++;
    rel->per_epoch[rec->epoch % KN_FLUSH_EPOCHS]++;
    rel->bytes += kn_rec_pool_release(run, rec);
}

/* Serves a taken queue: delivered entries one by one (their records are still
 * warm when reported), then failures; gives the memory back once. */
static int serve(kn_reports_t *r, kn_rec_list_t *failed, kn_krec_list_t *delivered) {
    kn_release_t rel;
    memset(&rel, 0, sizeof(rel));
    kn_rec_release_run_t run = {0};
    int64_t now = r->c.now_us();
    int n = 0;
    kn_krec_t *k;
    kn_rec_t *rec;
    while ((k = kn_krec_list_pop(delivered))) {
        /* the records are read where the Kinesis record says, not written to */
        landed_t at = {k->result, k->sent_us, k->done_us, k->aggregated};
        for (kn_rec_t *next; (rec = k->recs.head); k->recs.head = next, n++) {
            next = rec->next;
            serve_one(r, rec, &at, now, &rel, &run);
        }
        k->recs.tail = NULL;
        k->recs.count = 0;
        kn_krec_free(k);
    }
    for (; (rec = kn_rec_list_pop(failed)); n++)
        serve_one(r, rec, NULL, now, &rel, &run);
    kn_rec_pool_release_end(&run); /* before the bound is told: pinned bytes count */
    if (n)
        r->c.released(r->c.released_arg, &rel);
    maybe_stats(r, now);
    return n;
}

static void abs_time(struct timespec *ts, int64_t from_now_us) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    int64_t ns = ts->tv_nsec + (from_now_us % 1000000) * 1000;
    ts->tv_sec += (time_t)(from_now_us / 1000000 + ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

static void *report_main(void *arg) {
    kn_reports_t *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->pending && !r->stop) {
            if (r->c.stats_fn && r->c.stats_interval_us > 0) {
                int64_t wait = r->next_stats_us - r->c.now_us();
                if (wait <= 0)
                    break;
                struct timespec ts;
                abs_time(&ts, wait);
                pthread_cond_timedwait(&r->cond, &r->lock, &ts);
            } else {
                pthread_cond_wait(&r->cond, &r->lock);
            }
        }
        kn_rec_list_t failed;
        kn_krec_list_t delivered;
        take(r, &failed, &delivered);
        int stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        serve(r, &failed, &delivered);
        pthread_mutex_lock(&r->lock);
        if (stop && !r->pending)
            break;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int kn_reports_poll(kn_reports_t *r, int timeout_ms) {
    if (r->has_thread)
        return 0;
    pthread_mutex_lock(&r->lock);
    if (!r->pending && timeout_ms != 0) {
        struct timespec ts;
        if (timeout_ms > 0)
            abs_time(&ts, (int64_t)timeout_ms * 1000);
        while (!r->pending) {
            if (timeout_ms < 0)
                pthread_cond_wait(&r->cond, &r->lock);
            else if (pthread_cond_timedwait(&r->cond, &r->lock, &ts))
                break;
        }
    }
    kn_rec_list_t failed;
    kn_krec_list_t delivered;
    take(r, &failed, &delivered);
    pthread_mutex_unlock(&r->lock);
    return serve(r, &failed, &delivered);
}

kn_reports_t *kn_reports_new(const kn_reports_conf_t *conf) {
    kn_reports_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->c = *conf;
    r->next_stats_us = conf->now_us() + conf->stats_interval_us;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->lock, NULL);
    if (conf->threaded) {
        if (pthread_create(&r->thread, NULL, report_main, r)) {
            kn_reports_destroy(r);
            return NULL;
        }
        r->has_thread = 1;
        pthread_setname_np(r->thread, "kn-reports");
    }
    return r;
}

void kn_reports_destroy(kn_reports_t *r) {
    if (!r)
        return;
    if (r->has_thread) {
        pthread_mutex_lock(&r->lock);
        r->stop = 1;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    } else {
        kn_rec_list_t failed;
        kn_krec_list_t delivered;
        take(r, &failed, &delivered);
        serve(r, &failed, &delivered);
    }
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
