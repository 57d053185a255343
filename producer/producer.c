/*
 * The public producer: validation and the lock-light put() handoff, the memory
 * bound, the pipeline thread, flush and shutdown.
 *
 * put() checks the memory bound, takes room in the record pool and counts the
 * record for flush under one short mutex (put_lock; one lock instead of an
 * atomic operation per counter: together they were most of put()'s own time),
 * copies the record outside it, then pushes it onto an intrusive
 * multi-producer single-consumer FIFO (D. Vyukov's: one atomic exchange per
 * push, no lock, no allocation); the pipeline thread pops records in put order,
 * a batch at a time, touching each record once. The pipeline is only signalled
 * when it sleeps.
 *
 * Flush accounting: each record carries the flush epoch current at its put();
 * flush() opens a new epoch and waits until the records of older epochs are
 * reported. Counters per epoch live in a small ring (KN_FLUSH_EPOCHS); with
 * more concurrent flushes than that a flush waits for every record instead,
 * which is slower but never returns early.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "creds.h"
#include "http.h"
#include "kinesis/producer.h"
#include "kinesis_api.h"
#include "kinesis_json.h"
#include "pipeline.h"
#include "record_pool.h"
#include "reports.h"
#include "sender.h"
#include "stats.h"
#include "utf8.h"

#define FAC "producer"

/* Records taken from the put queue per pipeline pass: big enough to amortise
 * the pass, small enough that they are still in cache when aggregated. */
#define PIPELINE_BATCH 512

/* While records keep arriving, the timers (linger, batches) run at least this
 * often rather than after every batch, so a backlog still fills aggregates. */
#define PIPELINE_RUN_EVERY_US 10000

/* Below this many blocks' worth of buffer.max.bytes, records are malloc()ed
 * singly: a block's granularity would be coarse against so small a bound. */
#define POOL_MIN_BLOCKS 64

/* A partition key is at most 256 characters, so at most 4 * 256 bytes of UTF-8. */
#define PK_MAX_BYTES (4 * KN_KINESIS_MAX_PARTITION_KEY)

enum { PHASE_RUN = 0, PHASE_ABORT, PHASE_TRANSPORT_GONE };

struct kn_producer_s {
    kn_conf_t *conf;
    kn_logger_t log;
    int64_t linger_us, ttl_us;
    size_t record_max;
    int64_t max_bytes, max_records;
    int block;
    int64_t block_timeout_us;
    int poll_mode;

    /* streams: append-only list, read without locks */
    pthread_mutex_t reg_lock;
    _Atomic(kn_pstream_t *) streams;
    atomic_llong nstreams;

    /* Written under put_lock only (atomic so that anyone may read them without it):
     * the memory bound's counters, the flush counters, and the pool's allocations. */
    pthread_mutex_t put_lock;
    atomic_llong held_bytes, held_records;
    atomic_llong outstanding[KN_FLUSH_EPOCHS];
    kn_rec_pool_t *pool; /* where put() copies records */

    /* put -> pipeline: the FIFO's tail (producers) and head (pipeline thread) */
    _Atomic(kn_rec_t *) in_tail;
    kn_rec_t *in_head;
    atomic_ullong epoch;
    atomic_int flushers;
    atomic_int closing;

    /* the pipeline thread */
    kn_pipeline_t *pl;
    pthread_t pl_thread;
    int pl_started;
    pthread_mutex_t pl_lock;
    pthread_cond_t pl_cond;
    atomic_int pl_sleeping;
    int pl_kick;             /* under pl_lock */
    atomic_int phase;
    int aborted;             /* under pl_lock: the pipeline applied the abort */
    int64_t agg_counted;     /* pipeline thread: aggregate and request-body bytes in held_bytes */

    /* I/O */
    kn_http_t *http;
    kn_creds_t *creds;
    kn_kinesis_t *kin;

    /* reports, waiters (blocked puts, flushes) */
    kn_reports_t *reports;
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    atomic_int waiters;

    kn_pstats_t stats;

    /* the FIFO's stub record; last, because kn_rec_t ends in a flexible array */
    kn_rec_t in_stub;
};

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void deadline_ts(struct timespec *ts, int64_t at_us) {
    ts->tv_sec = (time_t)(at_us / 1000000);
    ts->tv_nsec = (long)(at_us % 1000000) * 1000;
}

static void errf(char *buf, size_t size, const char *fmt, ...) {
    if (!buf || !size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

void kn_conf_set_delivery_report_fn(kn_conf_t *conf, kn_delivery_report_fn *fn, void *cb_opaque) {
    if (!conf)
        return;
    conf->dr_fn = (void (*)(void))fn;
    conf->dr_opaque = cb_opaque;
}

void kn_conf_set_producer_stats_fn(kn_conf_t *conf, kn_producer_stats_fn *fn, void *cb_opaque) {
    if (!conf)
        return;
    conf->stats_fn = (void (*)(void))fn;
    conf->stats_opaque = cb_opaque;
}

/* ------------------------------------------------------------ waking */

static void wake_pipeline(void *arg) {
    kn_producer_t *p = arg;
    pthread_mutex_lock(&p->pl_lock);
    p->pl_kick = 1;
    pthread_cond_signal(&p->pl_cond);
    pthread_mutex_unlock(&p->pl_lock);
}

static void wake_waiters(kn_producer_t *p) {
    if (!atomic_load(&p->waiters))
        return;
    pthread_mutex_lock(&p->wait_lock);
    pthread_cond_broadcast(&p->wait_cond);
    pthread_mutex_unlock(&p->wait_lock);
}

/* Adds to a counter written under put_lock only: no atomic read-modify-write needed. */
static void add_locked(atomic_llong *c, int64_t v) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* The report side gave memory back. */
static void released(void *arg, const kn_release_t *rel) {
    kn_producer_t *p = arg;
    pthread_mutex_lock(&p->put_lock);
    add_locked(&p->held_bytes, -rel->bytes);
    add_locked(&p->held_records, -rel->records);
    for (int i = 0; i < KN_FLUSH_EPOCHS; i++)
        if (rel->per_epoch[i])
            add_locked(&p->outstanding[i], -rel->per_epoch[i]);
    pthread_mutex_unlock(&p->put_lock);
    wake_waiters(p);
}

/* ------------------------------------------------------------ streams */

static kn_pstream_t *stream_find(kn_producer_t *p, const char *name) {
    for (kn_pstream_t *s = atomic_load_explicit(&p->streams, memory_order_acquire); s;
         s = *kn_pstream_next(s))
        if (!strcmp(kn_pstream_name(s), name))
            return s;
    return NULL;
}

static kn_err_t stream_get(kn_producer_t *p, const char *name, kn_pstream_t **out) {
    kn_pstream_t *s = stream_find(p, name);
    if (s) {
        *out = s;
        return KN_OK;
    }
    kn_error_t *err = NULL;
    if (kn_kj_check_stream(name, &err) != KN_OK) {
        kn_error_destroy(err);
        return KN_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&p->reg_lock);
    s = stream_find(p, name); /* another thread may have added it meanwhile */
    if (!s && (s = kn_pstream_new(name))) {
        *kn_pstream_next(s) = atomic_load(&p->streams);
        atomic_store_explicit(&p->streams, s, memory_order_release);
        atomic_fetch_add(&p->nstreams, 1);
    }
    pthread_mutex_unlock(&p->reg_lock);
    *out = s;
    return s ? KN_OK : KN_ERR_NOMEM;
}

/* ------------------------------------------------------------ put */

static kn_err_t check_key(const char *pk, size_t *len) {
    *len = strnlen(pk, PK_MAX_BYTES + 1);
    if (*len == 0)
        return KN_ERR_INVALID_ARG;
    if (*len > PK_MAX_BYTES)
        return KN_ERR_TOO_LARGE;
    size_t units;
    kn_err_t rc = kn_utf8_count(pk, *len, NULL, &units);
    if (rc != KN_OK)
        return rc;
    /* the service counts characters as UTF-16 code units */
    return units > KN_KINESIS_MAX_PARTITION_KEY ? KN_ERR_TOO_LARGE : KN_OK;
}

/* Whether one more record of `size` bytes fits the bounds. Memory pinned in
 * record blocks by reported records counts too: the bound is what is held. */
static int fits(kn_producer_t *p, int64_t size) {
    return atomic_load_explicit(&p->held_bytes, memory_order_relaxed) + size +
                   kn_rec_pool_pinned(p->pool) <=
               p->max_bytes &&
           atomic_load_explicit(&p->held_records, memory_order_relaxed) + 1 <= p->max_records;
}

/* Reserves room for one record, waiting when configured to. On KN_OK put_lock
 * is held. */
static kn_err_t reserve_locked(kn_producer_t *p, int64_t size) {
    int64_t deadline = 0;
    for (;;) {
        pthread_mutex_lock(&p->put_lock);
        if (fits(p, size)) {
            add_locked(&p->held_bytes, size);
            add_locked(&p->held_records, 1);
            return KN_OK;
        }
        pthread_mutex_unlock(&p->put_lock);
        if (!p->block || atomic_load(&p->closing))
            return KN_ERR_QUEUE_FULL;
        int64_t now = now_us();
        if (!deadline)
            deadline = now + p->block_timeout_us;
        if (now >= deadline)
            return KN_ERR_QUEUE_FULL;
        struct timespec ts;
        deadline_ts(&ts, deadline < now + 10000 ? deadline : now + 10000);
        atomic_fetch_add(&p->waiters, 1);
        pthread_mutex_lock(&p->wait_lock);
        if (!fits(p, size)) /* a hint without put_lock: the wait is short anyway */
            pthread_cond_timedwait(&p->wait_cond, &p->wait_lock, &ts);
        pthread_mutex_unlock(&p->wait_lock);
        atomic_fetch_sub(&p->waiters, 1);
    }
}

static void inbox_link(kn_producer_t *p, kn_rec_t *r) {
    atomic_store_explicit(&r->qnext, NULL, memory_order_relaxed);
    kn_rec_t *prev = atomic_exchange(&p->in_tail, r);
    atomic_store_explicit(&prev->qnext, r, memory_order_release);
}

static void push_inbox(kn_producer_t *p, kn_rec_t *r) {
    inbox_link(p, r);
    if (atomic_load(&p->pl_sleeping))
        wake_pipeline(p);
}

/* The oldest record, or NULL when empty or when a producer is between its
 * exchange and its link (the caller retries soon: see inbox_empty). */
static kn_rec_t *inbox_pop(kn_producer_t *p) {
    kn_rec_t *head = p->in_head;
    kn_rec_t *next = atomic_load_explicit(&head->qnext, memory_order_acquire);
    if (head == &p->in_stub) {
        if (!next)
            return NULL;
        p->in_head = head = next;
        next = atomic_load_explicit(&head->qnext, memory_order_acquire);
    }
    if (next) {
        p->in_head = next;
        return head;
    }
    if (head != atomic_load(&p->in_tail))
        return NULL;
    inbox_link(p, &p->in_stub); /* head is the last record: park the stub behind it */
    next = atomic_load_explicit(&head->qnext, memory_order_acquire);
    if (!next)
        return NULL;
    p->in_head = next;
    return head;
}

static int inbox_empty(kn_producer_t *p) {
    return p->in_head == atomic_load(&p->in_tail) &&
           !atomic_load_explicit(&p->in_head->qnext, memory_order_acquire);
}

static kn_err_t put_checked(kn_producer_t *p, const char *stream, const char *partition_key,
                            const char *explicit_hash_key, const void *data, size_t len,
                            void *opaque) {
    if (!p || !stream || !partition_key || (!data && len))
        return KN_ERR_INVALID_ARG;
    if (atomic_load_explicit(&p->closing, memory_order_relaxed))
        return KN_ERR_SHUTDOWN;
    size_t pk_len, ehk_len = 0;
    kn_err_t rc = check_key(partition_key, &pk_len);
    if (rc != KN_OK)
        return rc;
    kn_u128_t hash = {0, 0};
    if (explicit_hash_key) {
        ehk_len = strnlen(explicit_hash_key, KN_U128_DEC_MAX + 1);
        if (kn_u128_parse_decimal(explicit_hash_key, ehk_len, &hash) != KN_OK)
            return KN_ERR_INVALID_ARG;
    }
    if (len > p->record_max || len + pk_len > KN_KREC_MAX_BYTES)
        return KN_ERR_TOO_LARGE;
    kn_pstream_t *s;
    if ((rc = stream_get(p, stream, &s)) != KN_OK)
        return rc;
    int64_t size = (int64_t)kn_rec_alloc_size(pk_len, ehk_len, len);
    if ((rc = reserve_locked(p, size)) != KN_OK)
        return rc;
    struct kn_rec_block_s *block;
    void *mem = kn_rec_pool_take(p->pool, (size_t)size, &block);
    uint32_t epoch =
        (uint32_t)(atomic_load_explicit(&p->epoch, memory_order_acquire) % KN_FLUSH_EPOCHS);
    add_locked(&p->outstanding[epoch], 1);
    pthread_mutex_unlock(&p->put_lock);
    if (!mem && !(mem = malloc((size_t)size))) {
        pthread_mutex_lock(&p->put_lock);
        add_locked(&p->held_bytes, -size);
        add_locked(&p->held_records, -1);
        add_locked(&p->outstanding[epoch], -1);
        pthread_mutex_unlock(&p->put_lock);
        return KN_ERR_NOMEM;
    }
    kn_rec_t *r = kn_rec_fill(mem, partition_key, pk_len, explicit_hash_key, ehk_len, data, len,
                              opaque);
    r->block = block;
    r->epoch = epoch;
    if (explicit_hash_key) {
        r->hash = hash;
        r->flags |= KN_REC_HASHED;
    }
    r->stream = s;
    r->put_us = now_us();
    r->deadline_us = kn_add_sat(r->put_us, p->linger_us);
    r->expire_us = kn_add_sat(r->put_us, p->ttl_us);
    push_inbox(p, r);
    return KN_OK;
}

kn_err_t kn_producer_put(kn_producer_t *p, const char *stream, const char *partition_key,
                         const char *explicit_hash_key, const void *data, size_t len,
                         void *opaque) {
    kn_err_t rc = put_checked(p, stream, partition_key, explicit_hash_key, data, len, opaque);
    if (rc != KN_OK && p) {
        atomic_fetch_add_explicit(&p->stats.rejected, 1, memory_order_relaxed);
        if (rc == KN_ERR_QUEUE_FULL)
            atomic_fetch_add_explicit(&p->stats.queue_full, 1, memory_order_relaxed);
    }
    return rc;
}

/* ------------------------------------------------------------ pipeline thread */

/* Up to `max` records in put order. */
static void take_inbox(kn_producer_t *p, kn_rec_list_t *out, size_t max) {
    kn_rec_t *r;
    while (out->count < max && (r = inbox_pop(p)))
        kn_rec_list_push(out, r);
}

/* Sleeps until `next_us` or a wake-up; never when work is already waiting. */
static void pipeline_sleep(kn_producer_t *p, int64_t next_us) {
    pthread_mutex_lock(&p->pl_lock);
    atomic_store(&p->pl_sleeping, 1);
    if (!p->pl_kick && inbox_empty(p) && !kn_pipeline_has_completions(p->pl)) {
        if (next_us == INT64_MAX) {
            pthread_cond_wait(&p->pl_cond, &p->pl_lock);
        } else if (next_us > now_us()) {
            struct timespec ts;
            deadline_ts(&ts, next_us);
            pthread_cond_timedwait(&p->pl_cond, &p->pl_lock, &ts);
        }
    }
    p->pl_kick = 0;
    atomic_store(&p->pl_sleeping, 0);
    pthread_mutex_unlock(&p->pl_lock);
}

static void *pipeline_main(void *arg) {
    kn_producer_t *p = arg;
    kn_error_t *shutdown = kn_error_new(KN_ERR_SHUTDOWN, "the producer was destroyed before "
                                                         "the record was delivered");
    int64_t last_run = 0;
    for (;;) {
        int64_t now = now_us();
        kn_rec_list_t in = {0};
        take_inbox(p, &in, PIPELINE_BATCH);
        size_t taken = in.count;
        if (taken)
            atomic_fetch_add_explicit(&p->stats.accepted, (long long)taken, memory_order_relaxed);
        kn_pipeline_add(p->pl, &in, now);
        int phase = atomic_load(&p->phase);
        if (taken == PIPELINE_BATCH && phase == PHASE_RUN && now - last_run < PIPELINE_RUN_EVERY_US)
            continue; /* more records are waiting: take them before the timers run */
        last_run = now;
        if (phase >= PHASE_ABORT) {
            pthread_mutex_lock(&p->pl_lock);
            if (!p->aborted) {
                kn_pipeline_abort(p->pl, shutdown, now);
                p->aborted = 1;
                pthread_cond_broadcast(&p->pl_cond);
            }
            pthread_mutex_unlock(&p->pl_lock);
        }
        int flushing = atomic_load(&p->flushers) > 0 || atomic_load(&p->closing);
        int64_t next = kn_pipeline_run(p->pl, now, flushing);
        kn_rec_list_t failed = {0};
        kn_krec_list_t delivered = {0};
        kn_pipeline_take_done(p->pl, &failed, &delivered);
        kn_reports_push(p->reports, &failed, &delivered);
        /* aggregated copies and request bodies in flight count against the bound too */
        const kn_pipeline_stats_t *ps = kn_pipeline_stats(p->pl);
        int64_t agg = atomic_load_explicit(&ps->agg_bytes, memory_order_relaxed) +
                      atomic_load_explicit(&ps->body_bytes, memory_order_relaxed);
        if (agg != p->agg_counted) {
            pthread_mutex_lock(&p->put_lock);
            add_locked(&p->held_bytes, agg - p->agg_counted);
            pthread_mutex_unlock(&p->put_lock);
            p->agg_counted = agg;
        }
        if (phase == PHASE_TRANSPORT_GONE && !kn_pipeline_inflight(p->pl) &&
            !kn_pipeline_has_completions(p->pl) && inbox_empty(p))
            break;
        if (taken == PIPELINE_BATCH)
            continue; /* more records are waiting */
        if (!inbox_empty(p) && !atomic_load(&p->in_head->qnext)) {
            sched_yield(); /* a put is half-way through linking its record */
            continue;
        }
        pipeline_sleep(p, next);
    }
    kn_error_destroy(shutdown);
    return NULL;
}

/* ------------------------------------------------------------ flush, poll */

int kn_producer_poll(kn_producer_t *p, int timeout_ms) {
    return p ? kn_reports_poll(p->reports, timeout_ms) : 0;
}

size_t kn_producer_outstanding(kn_producer_t *p) {
    int64_t n = p ? atomic_load(&p->held_records) : 0;
    return n > 0 ? (size_t)n : 0;
}

/* Records of epochs up to `e` not yet reported (see the file comment). */
static int64_t older_outstanding(kn_producer_t *p, uint64_t e) {
    uint64_t cur = atomic_load(&p->epoch);
    int64_t n = 0;
    for (uint64_t i = 0; i < KN_FLUSH_EPOCHS; i++) {
        uint64_t slot_epoch = cur - i; /* the newest epoch that uses this slot */
        if (slot_epoch > e && cur - e < KN_FLUSH_EPOCHS)
            continue; /* only newer records there */
        n += atomic_load(&p->outstanding[slot_epoch % KN_FLUSH_EPOCHS]);
    }
    return n;
}

kn_err_t kn_producer_flush(kn_producer_t *p, int64_t timeout_ms, size_t *outstanding) {
    if (outstanding)
        *outstanding = 0;
    if (!p)
        return KN_ERR_INVALID_ARG;
    uint64_t e = atomic_fetch_add(&p->epoch, 1);
    atomic_fetch_add(&p->flushers, 1);
    wake_pipeline(p);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : kn_add_sat(now_us(), kn_ms_to_us(timeout_ms));
    int64_t left;
    while ((left = older_outstanding(p, e)) > 0) {
        int64_t now = now_us();
        if (now >= deadline)
            break;
        int64_t slice = deadline - now < 10000 ? deadline - now : 10000;
        if (p->poll_mode) {
            kn_reports_poll(p->reports, (int)(slice / 1000 + 1));
            continue;
        }
        struct timespec ts;
        deadline_ts(&ts, now + slice);
        atomic_fetch_add(&p->waiters, 1);
        pthread_mutex_lock(&p->wait_lock);
        if (older_outstanding(p, e) > 0)
            pthread_cond_timedwait(&p->wait_cond, &p->wait_lock, &ts);
        pthread_mutex_unlock(&p->wait_lock);
        atomic_fetch_sub(&p->waiters, 1);
    }
    atomic_fetch_sub(&p->flushers, 1);
    if (left > 0) {
        if (outstanding)
            *outstanding = (size_t)left;
        return KN_ERR_TIMED_OUT;
    }
    return KN_OK;
}

/* ------------------------------------------------------------ statistics */

static char *stats_json(void *arg) {
    kn_producer_t *p = arg;
    kn_pstats_view_t v = {
        .now_us = now_us(),
        .buffered_records = atomic_load(&p->held_records),
        .buffered_bytes = atomic_load(&p->held_bytes),
        .pinned_bytes = kn_rec_pool_pinned(p->pool),
        .buffer_max_records = p->max_records,
        .buffer_max_bytes = p->max_bytes,
        .streams = atomic_load(&p->nstreams),
    };
    return kn_pstats_json(&p->stats, kn_pipeline_stats(p->pl), &v);
}

char *kn_producer_stats_json(kn_producer_t *p) { return p ? stats_json(p) : NULL; }

/* ------------------------------------------------------------ lifecycle */

static void free_streams(kn_producer_t *p) {
    kn_pstream_t *s = atomic_load(&p->streams);
    while (s) {
        kn_pstream_t *n = *kn_pstream_next(s);
        kn_pstream_free(s);
        s = n;
    }
    atomic_store(&p->streams, NULL);
}

/* Frees what kn_producer_new built, in reverse; the threads must be stopped. */
static void teardown(kn_producer_t *p) {
    kn_http_destroy(p->http);
    kn_kinesis_destroy(p->kin);
    kn_creds_destroy(p->creds);
    kn_reports_destroy(p->reports);
    kn_pipeline_destroy(p->pl);
    kn_rec_pool_destroy(p->pool); /* every record is reported by now */
    free_streams(p);
    pthread_mutex_destroy(&p->reg_lock);
    pthread_mutex_destroy(&p->put_lock);
    pthread_mutex_destroy(&p->pl_lock);
    pthread_cond_destroy(&p->pl_cond);
    pthread_mutex_destroy(&p->wait_lock);
    pthread_cond_destroy(&p->wait_cond);
}

static void init_sync(kn_producer_t *p) {
    atomic_init(&p->in_stub.qnext, NULL);
    atomic_init(&p->in_tail, &p->in_stub);
    p->in_head = &p->in_stub;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->pl_cond, &ca);
    pthread_cond_init(&p->wait_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->reg_lock, NULL);
    pthread_mutex_init(&p->put_lock, NULL);
    pthread_mutex_init(&p->pl_lock, NULL);
    pthread_mutex_init(&p->wait_lock, NULL);
}

kn_producer_t *kn_producer_new(kn_conf_t *conf, char *errstr, size_t errstr_size) {
    if (!conf) {
        errf(errstr, errstr_size, "kn_producer_new: conf must not be NULL");
        return NULL;
    }
    kn_producer_t *p = calloc(1, sizeof(*p));
    if (!p) {
        errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    init_sync(p);
    p->log = kn_conf_logger(conf);
    p->linger_us = kn_ms_to_us(conf->record_max_buffered_time_ms);
    p->ttl_us = kn_ms_to_us(conf->record_ttl_ms);
    p->record_max = (size_t)conf->record_max_bytes;
    p->max_bytes = conf->buffer_max_bytes;
    p->max_records = conf->buffer_max_records;
    p->block = conf->queue_full_behavior == 1;
    p->block_timeout_us = kn_ms_to_us(conf->queue_block_timeout_ms);
    p->poll_mode = conf->delivery_report_mode == 1;
    p->stats.start_us = now_us();

    kn_error_t *err = NULL;
    char buf[512];
    int pooled = p->max_bytes >= (int64_t)POOL_MIN_BLOCKS * KN_REC_POOL_BLOCK_BYTES;
    p->pool = kn_rec_pool_new(pooled ? KN_REC_POOL_BLOCK_BYTES : 0, KN_REC_POOL_SPARE_BLOCKS);
    p->http = p->pool ? kn_http_new(conf, &err) : NULL;
    p->creds = p->http ? kn_creds_new(conf) : NULL;
    p->kin = p->creds ? kn_kinesis_new_shared(conf, p->http, p->creds, &err) : NULL;
    if (!p->kin) {
        errf(errstr, errstr_size, "%s",
             err ? kn_error_format(err, buf, sizeof(buf)) : "out of memory");
        kn_error_destroy(err);
        teardown(p);
        free(p);
        return NULL;
    }
    kn_pipeline_conf_t pc = {
        .aggregation_enabled = conf->aggregation_enabled,
        .aggregation_max_bytes = (size_t)conf->aggregation_max_bytes,
        .rate_limit_percent = conf->rate_limit_percent,
        .max_inflight = conf->max_connections,
        .strict = conf->ordering == 1,
        .retry_base_ms = conf->retry_base_ms,
        .retry_max_ms = conf->retry_max_ms,
        .seed = (uint64_t)now_us() ^ (uint64_t)(uintptr_t)p,
    };
    kn_sender_t sender = kn_sender_kinesis(p->kin);
    p->pl = kn_pipeline_new(&pc, &sender, &p->log);
    kn_reports_conf_t rc = {
        .dr_fn = (kn_delivery_report_fn *)conf->dr_fn,
        .dr_opaque = conf->dr_opaque,
        .stats_fn = (kn_producer_stats_fn *)conf->stats_fn,
        .stats_opaque = conf->stats_opaque,
        .stats_interval_us = kn_ms_to_us(conf->statistics_interval_ms),
        .stats_json = stats_json,
        .stats_arg = p,
        .released = released,
        .released_arg = p,
        .now_us = now_us,
        .stats = &p->stats,
        .threaded = !p->poll_mode,
    };
    p->reports = p->pl ? kn_reports_new(&rc) : NULL;
    if (p->pl) /* before the thread starts: completions may follow its first request */
        kn_pipeline_set_wake(p->pl, wake_pipeline, p);
    if (!p->reports || pthread_create(&p->pl_thread, NULL, pipeline_main, p)) {
        errf(errstr, errstr_size, "could not start the producer's threads");
        teardown(p);
        free(p);
        return NULL;
    }
    p->pl_started = 1;
    pthread_setname_np(p->pl_thread, "kn-pipeline");
    p->conf = conf;
    return p;
}

void kn_producer_destroy(kn_producer_t *p) {
    if (!p)
        return;
    atomic_store(&p->closing, 1);
    size_t left = 0;
    if (kn_producer_flush(p, p->conf->shutdown_timeout_ms, &left) != KN_OK)
        KN_LOG_WARN(&p->log, FAC, "shutdown: %zu records not delivered within "
                    "shutdown.timeout.ms are reported KN_ERR_SHUTDOWN", left);
    /* stop sending, fail what is buffered, then cancel what is in flight */
    atomic_store(&p->phase, PHASE_ABORT);
    pthread_mutex_lock(&p->pl_lock);
    p->pl_kick = 1;
    pthread_cond_broadcast(&p->pl_cond);
    while (!p->aborted)
        pthread_cond_wait(&p->pl_cond, &p->pl_lock);
    pthread_mutex_unlock(&p->pl_lock);
    kn_http_destroy(p->http); /* every request in flight completes now (cancelled) */
    p->http = NULL;
    atomic_store(&p->phase, PHASE_TRANSPORT_GONE);
    wake_pipeline(p);
    pthread_join(p->pl_thread, NULL);
    kn_conf_t *conf = p->conf;
    teardown(p);
    free(p);
    kn_conf_destroy(conf);
}
