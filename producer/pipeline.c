/* The producer pipeline: routing, per-shard stages, collection, outcomes. See pipeline.h. */
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "record_pool.h"

#define FAC "producer"

typedef struct kn_pshard_s {
    struct kn_pshard_s *next_all;    /* every shard state of the stream */
    struct kn_pshard_s *next_active; /* shards with something buffered */
    int active;
    int gone;                /* not in the current shard map */
    kn_pstream_t *stream;
    char *id;
    kn_aggregator_t agg;
    kn_limiter_t lim;
    kn_krec_list_t queue;    /* closed entries in order; strict mode: retries at the head */
    kn_krec_list_t retry;    /* default mode: entries waiting out a backoff */
    int64_t queue_expire;    /* lower bound of the expirations in queue and retry */
    int64_t inflight;        /* entries in requests in flight */
    int in_batch;            /* entries in the stream's collector */
    int stalled;             /* waits for the rate limiter or a backoff: entries queued
                              * until it is idle again leave their pool blocks */
} kn_pshard_t;

struct kn_pstream_s {
    kn_pstream_t *reg_next;  /* the producer's registry */
    char *name;
    /* Everything below belongs to the pipeline thread. */
    int known;
    kn_pstream_t *pl_next;
    kn_shard_map_t map;
    int listing;             /* a ListShards fetch is in progress */
    int list_backoff;        /* the last fetch failed: records wait out a backoff */
    kn_shard_list_t *pages;  /* shards of the pages received so far */
    kn_rec_list_t waiting;   /* records waiting for the map, or to be routed again */
    int64_t waiting_expire;
    kn_pshard_t *all;
    kn_pshard_t *active;
    kn_collector_t coll;
    int64_t coll_expire;
    int coll_full;           /* nothing more can join the batch: send as soon as allowed */
};

/* Recently hashed partition keys: with a bounded set of keys (the usual case)
 * most records skip the MD5. Four ways per set, a hit moving one place towards
 * the front, a new key going in front (with two ways, the 7 % of 1000 keys in
 * sets of three or more kept evicting each other; direct-mapped, 1/8 of them);
 * short keys only. */
#define PK_CACHE_SLOTS 4096
#define PK_CACHE_WAYS 4
#define PK_CACHE_KEY 32

typedef struct pk_cache_s {
    uint64_t tag;
    kn_u128_t hash;
    uint8_t len; /* 0: empty */
    char key[PK_CACHE_KEY];
} pk_cache_t;

typedef struct req_s {
    struct req_s *next;
    kn_pipeline_t *pl;
    kn_pstream_t *stream;
    int is_list;
    kn_krec_list_t krecs;
    int64_t sent_us;
    int64_t body_bytes;      /* counted in pl->body_bytes while in flight */
    /* the completion */
    kn_put_records_result_t *result;
    kn_shard_list_t *list;
    kn_error_t *err;
} req_t;

struct kn_pipeline_s {
    kn_pipeline_conf_t conf;
    kn_sender_t sender;
    kn_logger_t log;
    kn_agg_ctx_t agg;
    kn_retrier_t rt;
    kn_md5_t *md5;
    pk_cache_t *pk_cache;
    kn_pstream_t *streams;
    kn_rec_list_t done;      /* failed records */
    kn_krec_list_t delivered;/* delivered entries */
    uint64_t seq;            /* numbers records in arrival order */
    size_t inflight;         /* PutRecords in flight */
    int64_t body_bytes;      /* their estimated bodies (see KN_REQ_BODY_COPIES) */
    size_t list_inflight;    /* ListShards in flight */
    kn_serr_t *abort_err;
    int kick;                /* run again at once (a request failed to start) */
    kn_put_entry_t entries[KN_PUT_MAX_ENTRIES];
    pthread_mutex_t lock;    /* guards the completion queue only */
    req_t *compl_head, *compl_tail;
    atomic_int ncompl;
    void (*wake)(void *);
    void *wake_arg;
    kn_pipeline_stats_t stats;
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void stat_add(atomic_llong *c, long long v) {
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

/* ------------------------------------------------------------ streams */

kn_pstream_t *kn_pstream_new(const char *name) {
    kn_pstream_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    return s;
}

void kn_pstream_free(kn_pstream_t *s) {
    if (!s)
        return;
    free(s->name);
    free(s);
}

const char *kn_pstream_name(const kn_pstream_t *s) { return s->name; }
kn_pstream_t **kn_pstream_next(kn_pstream_t *s) { return &s->reg_next; }

static void free_pages(kn_pstream_t *s) {
    kn_shard_list_destroy(s->pages);
    s->pages = NULL;
}

static void stream_init(kn_pipeline_t *pl, kn_pstream_t *s) {
    s->known = 1;
    kn_shard_map_init(&s->map);
    kn_collector_init(&s->coll);
    s->waiting_expire = s->coll_expire = INT64_MAX;
    s->pl_next = pl->streams;
    pl->streams = s;
}

static void stream_clear(kn_pstream_t *s) {
    kn_pshard_t *sh = s->all;
    while (sh) {
        kn_pshard_t *n = sh->next_all;
        free(sh->id);
        free(sh);
        sh = n;
    }
    s->all = s->active = NULL;
    free_pages(s);
    kn_shard_map_clear(&s->map);
    s->known = 0;
}

/* ------------------------------------------------------------ finishing */

static void finish(kn_pipeline_t *pl, kn_rec_t *r, kn_serr_t *err, int64_t now_us) {
    r->error = kn_serr_ref(err);
    r->done_us = now_us;
    kn_rec_list_push(&pl->done, r);
}

static void fail_list(kn_pipeline_t *pl, kn_rec_list_t *l, kn_serr_t *err, int64_t now_us) {
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(l)))
        finish(pl, r, err, now_us);
}

static void fail_krec(kn_pipeline_t *pl, kn_krec_t *k, kn_serr_t *err, int64_t now_us) {
    fail_list(pl, &k->recs, err, now_us);
    kn_krec_release(&pl->agg, k);
}

static void fail_one(kn_pipeline_t *pl, kn_rec_t *r, kn_err_t code, const char *what,
                     int64_t now_us) {
    kn_serr_t *e = kn_serr_new(kn_error_new(code, "%s", what));
    finish(pl, r, e, now_us);
    kn_serr_unref(e);
}

/* ------------------------------------------------------------ waiting records */

/*
 * Records that will wait (a retry's backoff, a rate-limited or blocked shard, a
 * shard map that failed to load) move out of their pool blocks, so a slow
 * record does not keep the block of records that moved on alive and counted
 * against the memory bound (record_pool.h). Never for entries in flight: the
 * transport may be reading a plain record's data.
 */
static kn_rec_t *evict_one(kn_pipeline_t *pl, kn_rec_t *r) {
    kn_rec_t *moved = kn_rec_pool_evict(r);
    if (moved != r)
        stat_add(&pl->stats.evicted, 1);
    return moved;
}

static void evict_recs(kn_pipeline_t *pl, kn_rec_list_t *l) {
    kn_rec_t **link = &l->head;
    for (kn_rec_t *r; (r = *link); link = &r->next) {
        r = *link = evict_one(pl, r);
        l->tail = r;
    }
}

static void evict_krec(kn_pipeline_t *pl, kn_krec_t *k) {
    if (k->evicted)
        return;
    k->evicted = 1;
    evict_recs(pl, &k->recs);
}

/* The shard has to wait: what it has queued, and what joins it until it is idle, waits too. */
static void stall(kn_pipeline_t *pl, kn_pshard_t *sh) {
    if (sh->stalled)
        return;
    sh->stalled = 1;
    for (kn_krec_t *k = sh->queue.head; k; k = k->next)
        evict_krec(pl, k);
    for (kn_krec_t *k = sh->retry.head; k; k = k->next)
        evict_krec(pl, k);
}

/* ------------------------------------------------------------ shards */

static void activate(kn_pstream_t *s, kn_pshard_t *sh) {
    if (sh->active)
        return;
    sh->active = 1;
    sh->next_active = s->active;
    s->active = sh;
}

static kn_pshard_t *shard_find(kn_pstream_t *s, const char *id) {
    for (kn_pshard_t *sh = s->all; sh; sh = sh->next_all)
        if (!strcmp(sh->id, id))
            return sh;
    return NULL;
}

static kn_pshard_t *shard_new(kn_pipeline_t *pl, kn_pstream_t *s, const char *id, int64_t now_us) {
    kn_pshard_t *sh = calloc(1, sizeof(*sh));
    if (!sh || !(sh->id = strdup(id))) {
        free(sh);
        return NULL;
    }
    sh->stream = s;
    kn_aggregator_init(&sh->agg);
    kn_limiter_init(&sh->lim, pl->conf.rate_limit_percent, now_us);
    sh->queue_expire = INT64_MAX;
    sh->next_all = s->all;
    s->all = sh;
    return sh;
}

static void queue_entry(kn_pipeline_t *pl, kn_pshard_t *sh, kn_krec_t *k, int front) {
    if (sh->stalled)
        evict_krec(pl, k);
    k->shard = sh;
    k->shard_id = sh->id;
    if (front)
        kn_krec_list_push_front(&sh->queue, k);
    else
        kn_krec_list_push(&sh->queue, k);
    sh->queue_expire = min64(sh->queue_expire, k->expire_us);
    activate(sh->stream, sh);
}

/* Everything a shard holds that is not in flight, back as records (map refresh). */
static void shard_take_all(kn_pipeline_t *pl, kn_pshard_t *sh, kn_rec_list_t *out) {
    kn_aggregator_take(&pl->agg, &sh->agg, out);
    kn_krec_list_t *lists[2] = {&sh->retry, &sh->queue};
    for (int i = 0; i < 2; i++) {
        kn_krec_t *k;
        while ((k = kn_krec_list_pop(lists[i]))) {
            kn_rec_list_concat(out, &k->recs);
            kn_krec_release(&pl->agg, k);
        }
    }
    sh->queue_expire = INT64_MAX;
}

/* ------------------------------------------------------------ routing */

static void wait_for_map(kn_pipeline_t *pl, kn_pstream_t *s, kn_rec_t *r) {
    if (s->list_backoff)
        r = evict_one(pl, r); /* it will wait out the backoff: see evict_recs */
    kn_rec_list_push(&s->waiting, r);
    s->waiting_expire = min64(s->waiting_expire, r->expire_us);
}

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211u;
    return h;
}

static int pk_cache_hit(const pk_cache_t *c, uint64_t tag, const char *pk, size_t len) {
    return c->len == len && c->tag == tag && !memcmp(c->key, pk, len);
}

/* The MD5 hash key of the record's partition key, from the cache when it can. */
static kn_err_t hash_key(kn_pipeline_t *pl, kn_rec_t *r) {
    const char *pk = kn_rec_pk(r);
    if (r->pk_len > PK_CACHE_KEY)
        return kn_hashkey_from_partition_key_md5(pl->md5, pk, r->pk_len, &r->hash);
    uint64_t tag = fnv1a(pk, r->pk_len);
    pk_cache_t *set = &pl->pk_cache[tag % (PK_CACHE_SLOTS / PK_CACHE_WAYS) * PK_CACHE_WAYS];
    for (int w = 0; w < PK_CACHE_WAYS; w++) {
        if (!pk_cache_hit(&set[w], tag, pk, r->pk_len))
            continue;
        r->hash = set[w].hash;
        if (w) {
            pk_cache_t t = set[w - 1];
            set[w - 1] = set[w];
            set[w] = t;
        }
        return KN_OK;
    }
    kn_err_t rc = kn_hashkey_from_partition_key_md5(pl->md5, pk, r->pk_len, &r->hash);
    if (rc == KN_OK) {
        memmove(&set[1], &set[0], (PK_CACHE_WAYS - 1) * sizeof(*set));
        set[0].tag = tag;
        set[0].hash = r->hash;
        set[0].len = (uint8_t)r->pk_len;
        memcpy(set[0].key, pk, r->pk_len);
    }
    return rc;
}

static void route(kn_pipeline_t *pl, kn_pstream_t *s, kn_rec_t *r, int64_t now_us) {
    if (!(r->flags & KN_REC_HASHED)) {
        if (hash_key(pl, r) != KN_OK) {
            fail_one(pl, r, KN_ERR_NOMEM, "could not hash the partition key", now_us);
            return;
        }
        r->flags |= KN_REC_HASHED;
    }
    if (s->map.state != KN_SHARD_MAP_READY || s->waiting.count) {
        wait_for_map(pl, s, r);
        return;
    }
    long idx = kn_shard_map_lookup(&s->map, r->hash);
    kn_pshard_t *sh = idx >= 0 ? s->map.ranges[idx].user : NULL;
    if (!sh) {
        /* cannot happen with a validated map; refresh rather than guess */
        kn_shard_map_invalidate(&s->map, INT64_MAX);
        wait_for_map(pl, s, r);
        return;
    }
    kn_krec_list_t out = {0};
    if (kn_aggregator_add(&pl->agg, &sh->agg, r, &out) != KN_OK)
        fail_one(pl, r, KN_ERR_NOMEM, "no memory to aggregate the record", now_us);
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(&out)))
        queue_entry(pl, sh, k, 0);
    if (sh->agg.recs.count)
        activate(s, sh);
}

/* Routes the waiting records, in put order, once the map is usable. */
static void route_waiting(kn_pipeline_t *pl, kn_pstream_t *s, int64_t now_us) {
    if (s->map.state != KN_SHARD_MAP_READY || !s->waiting.count)
        return;
    kn_rec_list_t l = s->waiting;
    memset(&s->waiting, 0, sizeof(s->waiting));
    s->waiting_expire = INT64_MAX;
    kn_rec_list_sort_seq(&l);
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(&l)))
        route(pl, s, r, now_us);
}

void kn_pipeline_open_stream(kn_pipeline_t *pl, kn_pstream_t *s) {
    if (!s->known)
        stream_init(pl, s);
}

void kn_pipeline_add(kn_pipeline_t *pl, kn_rec_list_t *recs, int64_t now_us) {
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(recs))) {
        kn_pstream_t *s = r->stream;
        r->seq = pl->seq++;
        if (!s->known)
            stream_init(pl, s);
        if (pl->abort_err)
            finish(pl, r, pl->abort_err, now_us);
        else
            route(pl, s, r, now_us);
    }
}

/* ------------------------------------------------------------ shard maps */

static void fail_waiting(kn_pipeline_t *pl, kn_pstream_t *s, const kn_error_t *err,
                         int64_t now_us) {
    kn_serr_t *e = kn_serr_new(kn_error_copy(err));
    fail_list(pl, &s->waiting, e, now_us);
    kn_serr_unref(e);
    s->waiting_expire = INT64_MAX;
}

static void list_failed(kn_pipeline_t *pl, kn_pstream_t *s, const kn_error_t *err,
                        int64_t now_us, int backoff_done) {
    char buf[512];
    s->listing = 0;
    free_pages(s);
    if (!backoff_done)
        kn_shard_map_update_failed(&s->map, now_us);
    KN_LOG_WARN(&pl->log, FAC, "stream %s: shard map update failed, next try in %lld ms: %s",
                s->name, (long long)((s->map.next_update_us - now_us) / 1000),
                kn_error_format(err, buf, sizeof(buf)));
    /* A stream that does not exist or may not be read will not get better by waiting. */
    if (err && !kn_error_is_retriable(err)) {
        fail_waiting(pl, s, err, now_us);
    } else {
        s->list_backoff = 1;
        evict_recs(pl, &s->waiting);
    }
}

static void list_request(kn_pipeline_t *pl, kn_pstream_t *s, const char *next_token,
                         int64_t now_us) {
    req_t *q = calloc(1, sizeof(*q));
    kn_error_t *err = NULL;
    kn_err_t rc = KN_ERR_NOMEM;
    if (q) {
        q->pl = pl;
        q->stream = s;
        q->is_list = 1;
        q->sent_us = now_us;
        rc = pl->sender.list_shards(pl->sender.ctx, s->name, next_token, q, &err);
    }
    stat_add(&pl->stats.list_shards, 1);
    if (rc == KN_OK) {
        pl->list_inflight++;
        return;
    }
    free(q);
    if (!err)
        err = kn_error_new(rc, "could not start ListShards");
    list_failed(pl, s, err, now_us, 0);
    kn_error_destroy(err);
}

/* Gives every range of the new map its shard state; shards that left the map
 * hand their records back for routing. */
static void remap(kn_pipeline_t *pl, kn_pstream_t *s, kn_shard_range_t *old, size_t nold,
                  int64_t now_us) {
    for (kn_pshard_t *sh = s->all; sh; sh = sh->next_all)
        sh->gone = 1;
    for (size_t i = 0; i < s->map.count; i++) {
        kn_shard_range_t *r = &s->map.ranges[i];
        kn_pshard_t *sh = shard_find(s, r->shard_id);
        if (!sh)
            sh = shard_new(pl, s, r->shard_id, now_us);
        r->user = sh;
        if (sh)
            sh->gone = 0;
        else
            kn_shard_map_invalidate(&s->map, INT64_MAX); /* out of memory: try again later */
    }
    kn_shard_map_ranges_free(old, nold);
    kn_rec_list_t back = {0};
    for (kn_pshard_t *sh = s->all; sh; sh = sh->next_all)
        if (sh->gone)
            shard_take_all(pl, sh, &back);
    kn_rec_list_concat(&s->waiting, &back);
}

static void list_done(kn_pipeline_t *pl, req_t *q, int64_t now_us) {
    kn_pstream_t *s = q->stream;
    pl->list_inflight--;
    if (pl->abort_err) {
        s->listing = 0;
        free_pages(s);
        return;
    }
    if (q->err) {
        list_failed(pl, s, q->err, now_us, 0);
        return;
    }
    kn_shard_list_t *page = q->list;
    if (!page) {
        kn_error_t *e = kn_error_new(KN_ERR_BAD_RESPONSE, "ListShards completed without a result");
        list_failed(pl, s, e, now_us, 0);
        kn_error_destroy(e);
        return;
    }
    if (!s->pages) {
        s->pages = page; /* the first page becomes the accumulator */
        q->list = NULL;
    } else if (page->count) {
        size_t n = s->pages->count + page->count;
        kn_shard_t *p = realloc(s->pages->shards, n * sizeof(*p));
        if (!p) {
            kn_error_t *e = kn_error_new(KN_ERR_NOMEM, "no memory for the shard list");
            list_failed(pl, s, e, now_us, 0);
            kn_error_destroy(e);
            return;
        }
        /* the shard structs move; their strings now belong to s->pages */
        memcpy(p + s->pages->count, page->shards, page->count * sizeof(*p));
        s->pages->shards = p;
        s->pages->count = n;
        page->count = 0;
    }
    if (page->next_token) {
        list_request(pl, s, page->next_token, now_us);
        return;
    }
    kn_shard_range_t *old;
    size_t nold;
    kn_error_t *err = NULL;
    if (kn_shard_map_update(&s->map, s->pages->shards, s->pages->count, now_us, &old, &nold,
                             &err) != KN_OK) {
        list_failed(pl, s, err, now_us, 1);
        kn_error_destroy(err);
        return;
    }
    s->listing = 0;
    free_pages(s);
    stat_add(&pl->stats.map_refreshes, 1);
    KN_LOG_DBG(&pl->log, FAC, "stream %s: shard map has %zu open shards", s->name, s->map.count);
    remap(pl, s, old, nold, now_us);
    route_waiting(pl, s, now_us);
}

/* ------------------------------------------------------------ sending */

/* Sends the stream's batch. Returns 0 when the in-flight limit forbids it now. */
static int send_batch(kn_pipeline_t *pl, kn_pstream_t *s, int64_t now_us) {
    if (!s->coll.krecs.count)
        return 1;
    if (pl->inflight >= (size_t)pl->conf.max_inflight)
        return 0;
    req_t *q = calloc(1, sizeof(*q));
    if (!q)
        return 0; /* try again on the next run */
    q->pl = pl;
    kn_collector_take(&s->coll, &q->krecs);
    kn_agg_seal_list(&q->krecs); /* the batch's aggregates hashed side by side */
    s->coll_full = 0;
    s->coll_expire = INT64_MAX;
    q->stream = s;
    q->sent_us = now_us;
    size_t n = 0;
    for (kn_krec_t *k = q->krecs.head; k; k = k->next, n++) {
        k->sent_us = now_us;
        k->shard->in_batch--;
        k->shard->inflight++;
        pl->entries[n].data = kn_krec_data(k);
        pl->entries[n].data_len = kn_krec_data_len(k);
        pl->entries[n].partition_key = kn_krec_pk(k);
        pl->entries[n].explicit_hash_key = kn_krec_ehk(k);
        q->body_bytes += (int64_t)((kn_krec_data_len(k) + 2) / 3 * 4 + k->wire_bytes -
                                   kn_krec_data_len(k) + KN_REQ_ENTRY_FRAMING);
        if (k->retries)
            stat_add(&pl->stats.retries, 1);
    }
    q->body_bytes *= KN_REQ_BODY_COPIES;
    pl->body_bytes += q->body_bytes;
    pl->inflight++;
    stat_add(&pl->stats.requests, 1);
    kn_error_t *err = NULL;
    kn_err_t rc = pl->sender.put_records(pl->sender.ctx, s->name, pl->entries, n, q, &err);
    if (rc != KN_OK) {
        /* handled like a failed request on the next run */
        q->err = err ? err : kn_error_new(rc, "could not start PutRecords");
        pthread_mutex_lock(&pl->lock);
        q->next = pl->compl_head;
        pl->compl_head = q;
        if (!pl->compl_tail)
            pl->compl_tail = q;
        atomic_fetch_add(&pl->ncompl, 1);
        pthread_mutex_unlock(&pl->lock);
        pl->kick = 1;
    }
    return 1;
}

static void put_done(kn_pipeline_t *pl, req_t *q, int64_t now_us) {
    kn_pstream_t *s = q->stream;
    pl->inflight--;
    pl->body_bytes -= q->body_bytes;
    size_t i = 0;
    for (kn_krec_t *e = q->krecs.head; e; e = e->next, i++) {
        e->shard->inflight--;
        const kn_put_records_result_t *res = q->result;
        if (!q->err && res && res->count == q->krecs.count && res->entries[i].err == KN_OK) {
            stat_add(&pl->stats.kinesis_records, 1);
            stat_add(&pl->stats.kinesis_bytes, (long long)e->wire_bytes);
            if (e->blob)
                stat_add(&pl->stats.aggregated_records, 1);
        } else if (!q->err && res && res->count == q->krecs.count) {
            stat_add(&pl->stats.entries_failed, 1);
        }
    }
    if (q->err || !q->result)
        stat_add(&pl->stats.requests_failed, 1);
    kn_retrier_out_t out = {0};
    kn_krec_t *k;
    kn_retrier_on_outcome(&pl->rt, &pl->agg, &q->krecs, q->err, q->result, &s->map, now_us, &out);
    kn_rec_list_concat(&pl->done, &out.done);
    kn_krec_list_concat(&pl->delivered, &out.delivered);
    if (out.reroute.count)
        stat_add(&pl->stats.wrong_shard, 1);
    while ((k = kn_krec_list_pop(&out.retry))) {
        kn_pshard_t *sh = k->shard;
        if (k->throttled) {
            stat_add(&pl->stats.throttles, 1);
            kn_limiter_throttled(&sh->lim, now_us);
        }
        if (pl->abort_err) {
            fail_krec(pl, k, pl->abort_err, now_us);
        } else if (sh->gone) {
            kn_rec_list_concat(&out.reroute, &k->recs);
            kn_krec_release(&pl->agg, k);
        } else if (pl->conf.strict) {
            /* one entry per shard in flight, so this is the shard's oldest: it goes first */
            evict_krec(pl, k);
            queue_entry(pl, sh, k, 1);
        } else {
            evict_krec(pl, k);
            kn_krec_list_push(&sh->retry, k);
            sh->queue_expire = min64(sh->queue_expire, k->expire_us);
            activate(s, sh);
        }
    }
    if (pl->abort_err) {
        fail_list(pl, &out.reroute, pl->abort_err, now_us);
    } else if (out.reroute.count) {
        kn_rec_t *r;
        while ((r = kn_rec_list_pop(&out.reroute)))
            wait_for_map(pl, s, r);
    }
    if (out.stale_map && kn_shard_map_invalidate(&s->map, q->sent_us))
        KN_LOG_INFO(&pl->log, FAC, "stream %s: records landed on unexpected shards; "
                    "refreshing the shard map", s->name);
    route_waiting(pl, s, now_us);
}

static void apply_completions(kn_pipeline_t *pl, int64_t now_us) {
    if (!atomic_load(&pl->ncompl))
        return;
    pthread_mutex_lock(&pl->lock);
    req_t *q = pl->compl_head;
    pl->compl_head = pl->compl_tail = NULL;
    atomic_store(&pl->ncompl, 0);
    pthread_mutex_unlock(&pl->lock);
    while (q) {
        req_t *next = q->next;
        if (q->is_list)
            list_done(pl, q, now_us);
        else
            put_done(pl, q, now_us);
        kn_put_records_result_destroy(q->result);
        kn_shard_list_destroy(q->list);
        kn_error_destroy(q->err);
        free(q);
        q = next;
    }
}

static void enqueue_completion(req_t *q) {
    kn_pipeline_t *pl = q->pl;
    pthread_mutex_lock(&pl->lock);
    q->next = NULL;
    if (pl->compl_tail)
        pl->compl_tail->next = q;
    else
        pl->compl_head = q;
    pl->compl_tail = q;
    atomic_fetch_add(&pl->ncompl, 1);
    pthread_mutex_unlock(&pl->lock);
    if (pl->wake)
        pl->wake(pl->wake_arg);
}

void kn_pipeline_put_done(void *ticket, kn_put_records_result_t *result, const kn_error_t *err) {
    req_t *q = ticket;
    q->result = result;
    if (err && !(q->err = kn_error_copy(err)))
        q->err = kn_error_new(KN_ERR_NOMEM, "out of memory copying an error");
    enqueue_completion(q);
}

void kn_pipeline_list_done(void *ticket, kn_shard_list_t *result, const kn_error_t *err) {
    req_t *q = ticket;
    q->list = result;
    if (err && !(q->err = kn_error_copy(err)))
        q->err = kn_error_new(KN_ERR_NOMEM, "out of memory copying an error");
    enqueue_completion(q);
}

int kn_pipeline_has_completions(kn_pipeline_t *pl) { return atomic_load(&pl->ncompl) > 0; }

/* ------------------------------------------------------------ timers */

/* Drops expired records from the entries a shard holds; recomputes the bound. */
static void expire_shard(kn_pipeline_t *pl, kn_pshard_t *sh, int64_t now_us) {
    int64_t next = INT64_MAX;
    kn_krec_list_t *lists[2] = {&sh->queue, &sh->retry};
    for (int i = 0; i < 2; i++) {
        kn_krec_t *prev = NULL, *k = lists[i]->head;
        while (k) {
            kn_krec_t *n = k->next;
            if (kn_retrier_expire_krec(&pl->agg, k, now_us, &pl->done)) {
                kn_krec_list_remove(lists[i], prev, k);
                kn_krec_release(&pl->agg, k);
            } else {
                next = min64(next, k->expire_us);
                prev = k;
            }
            k = n;
        }
    }
    sh->queue_expire = next;
}

/* The same for a batch held back by the in-flight limit. */
static void expire_batch(kn_pipeline_t *pl, kn_pstream_t *s, int64_t now_us) {
    kn_krec_list_t l;
    kn_collector_take(&s->coll, &l);
    s->coll_expire = INT64_MAX;
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(&l))) {
        if (kn_retrier_expire_krec(&pl->agg, k, now_us, &pl->done)) {
            k->shard->in_batch--;
            kn_krec_release(&pl->agg, k);
            continue;
        }
        kn_collector_add(&s->coll, k); /* fits: it only shrank */
        s->coll_expire = min64(s->coll_expire, k->expire_us);
    }
}

/* The next entry a shard may send: a due retry first (default mode), else the
 * queue head. Sets *list and *prev for removal; returns NULL and *wait when none. */
static kn_krec_t *next_entry(kn_pshard_t *sh, int64_t now_us, kn_krec_list_t **list,
                             kn_krec_t **prev, int64_t *wait) {
    *wait = INT64_MAX;
    kn_krec_t *p = NULL;
    for (kn_krec_t *k = sh->retry.head; k; p = k, k = k->next) {
        if (k->not_before_us <= now_us) {
            *list = &sh->retry;
            *prev = p;
            return k;
        }
        *wait = min64(*wait, k->not_before_us);
    }
    kn_krec_t *k = sh->queue.head;
    if (!k)
        return NULL;
    if (k->not_before_us > now_us) { /* strict mode: a retry blocks the shard */
        *wait = min64(*wait, k->not_before_us);
        return NULL;
    }
    *list = &sh->queue;
    *prev = NULL;
    return k;
}

/* Moves the shard's sendable entries into the stream's batch. Returns when it
 * wants to be looked at again (INT64_MAX: on a completion). */
static int64_t feed(kn_pipeline_t *pl, kn_pstream_t *s, kn_pshard_t *sh, int64_t now_us) {
    /* Strict: a stale map means records are being routed again; entries queued under
     * the old map must not overtake them (they are taken back if their shard is gone). */
    if (pl->conf.strict && s->map.state != KN_SHARD_MAP_READY)
        return INT64_MAX;
    for (;;) {
        if (pl->conf.strict && (sh->inflight || sh->in_batch)) {
            if (sh->in_batch && (sh->queue.count || sh->agg.recs.count))
                s->coll_full = 1; /* the batch cannot grow for this shard: do not linger */
            return INT64_MAX;
        }
        kn_krec_list_t *list;
        kn_krec_t *prev, *k;
        int64_t wait;
        if (!(k = next_entry(sh, now_us, &list, &prev, &wait))) {
            if (wait != INT64_MAX && sh->queue.count)
                stall(pl, sh); /* strict: a retry's backoff holds the queue */
            return wait;
        }
        if (!kn_collector_fits(&s->coll, k)) {
            s->coll_full = 1;
            if (!send_batch(pl, s, now_us))
                return INT64_MAX;
            continue;
        }
        if (!kn_limiter_try_take(&sh->lim, 1, (int64_t)k->wire_bytes, now_us)) {
            stall(pl, sh);
            return kn_limiter_ready_at(&sh->lim, 1, (int64_t)k->wire_bytes, now_us);
        }
        kn_krec_list_remove(list, prev, k);
        kn_collector_add(&s->coll, k);
        s->coll_expire = min64(s->coll_expire, k->expire_us);
        sh->in_batch++;
    }
}

static int64_t shard_step(kn_pipeline_t *pl, kn_pstream_t *s, kn_pshard_t *sh, int64_t now_us,
                          int flushing) {
    int64_t next = INT64_MAX;
    kn_aggregator_t *a = &sh->agg;
    if (a->recs.count) {
        if (flushing || a->deadline_us <= now_us || a->expire_us <= now_us) {
            kn_krec_list_t out = {0};
            if (kn_aggregator_flush(&pl->agg, a, &out) != KN_OK)
                next = now_us + 1000; /* out of memory: try again shortly */
            kn_krec_t *k;
            while ((k = kn_krec_list_pop(&out)))
                queue_entry(pl, sh, k, 0);
        } else {
            next = min64(a->deadline_us, a->expire_us);
        }
    }
    if (sh->queue_expire <= now_us)
        expire_shard(pl, sh, now_us);
    next = min64(next, sh->queue_expire);
    return min64(next, feed(pl, s, sh, now_us));
}

static int shard_idle(const kn_pshard_t *sh) {
    return !sh->agg.recs.count && !sh->queue.count && !sh->retry.count;
}

static int64_t stream_step(kn_pipeline_t *pl, kn_pstream_t *s, int64_t now_us, int flushing) {
    int64_t next = INT64_MAX;
    if (!s->listing && kn_shard_map_update_due(&s->map, now_us)) {
        s->listing = 1;
        s->list_backoff = 0;
        kn_shard_map_update_started(&s->map);
        list_request(pl, s, NULL, now_us);
    }
    if (s->map.state == KN_SHARD_MAP_NONE && !s->listing)
        next = min64(next, s->map.next_update_us);
    route_waiting(pl, s, now_us);
    if (s->waiting.count && s->waiting_expire <= now_us) {
        kn_retrier_expire_list(&s->waiting, now_us, &pl->done);
        s->waiting_expire = INT64_MAX;
        for (kn_rec_t *r = s->waiting.head; r; r = r->next)
            s->waiting_expire = min64(s->waiting_expire, r->expire_us);
    }
    if (s->waiting.count)
        next = min64(next, s->waiting_expire);
    kn_pshard_t **pp = &s->active;
    while (*pp) {
        kn_pshard_t *sh = *pp;
        next = min64(next, shard_step(pl, s, sh, now_us, flushing));
        if (shard_idle(sh)) {
            sh->active = 0;
            sh->stalled = 0;
            *pp = sh->next_active;
        } else {
            pp = &sh->next_active;
        }
    }
    if (s->coll.krecs.count && s->coll_expire <= now_us)
        expire_batch(pl, s, now_us);
    if (kn_collector_due(&s->coll, now_us, flushing) || (s->coll_full && s->coll.krecs.count)) {
        if (send_batch(pl, s, now_us) && s->active)
            next = now_us; /* the shards may have more for the next batch */
    }
    if (s->coll.krecs.count) {
        if (pl->inflight < (size_t)pl->conf.max_inflight)
            next = min64(next, s->coll.deadline_us);
        next = min64(next, s->coll_expire);
    }
    return next;
}

int64_t kn_pipeline_run(kn_pipeline_t *pl, int64_t now_us, int flushing) {
    apply_completions(pl, now_us);
    int64_t next = INT64_MAX;
    for (kn_pstream_t *s = pl->streams; s; s = s->pl_next)
        next = min64(next, stream_step(pl, s, now_us, flushing));
    if (pl->kick || atomic_load(&pl->ncompl)) {
        pl->kick = 0;
        next = now_us;
    }
    atomic_store_explicit(&pl->stats.inflight, (long long)pl->inflight, memory_order_relaxed);
    atomic_store_explicit(&pl->stats.agg_bytes, pl->agg.bytes, memory_order_relaxed);
    atomic_store_explicit(&pl->stats.body_bytes, pl->body_bytes, memory_order_relaxed);
    return next;
}

void kn_pipeline_take_done(kn_pipeline_t *pl, kn_rec_list_t *failed, kn_krec_list_t *delivered) {
    kn_rec_list_concat(failed, &pl->done);
    kn_krec_list_concat(delivered, &pl->delivered);
}

size_t kn_pipeline_abort(kn_pipeline_t *pl, const kn_error_t *err, int64_t now_us) {
    if (!pl->abort_err) {
        pl->abort_err = kn_serr_new(kn_error_copy(err));
        if (!pl->abort_err)
            pl->abort_err = kn_serr_new(kn_error_new(KN_ERR_SHUTDOWN, "shutting down"));
    }
    apply_completions(pl, now_us);
    for (kn_pstream_t *s = pl->streams; s; s = s->pl_next) {
        fail_list(pl, &s->waiting, pl->abort_err, now_us);
        for (kn_pshard_t *sh = s->all; sh; sh = sh->next_all) {
            kn_rec_list_t l = {0};
            shard_take_all(pl, sh, &l);
            fail_list(pl, &l, pl->abort_err, now_us);
            sh->active = 0;
            sh->in_batch = 0;
        }
        s->active = NULL;
        kn_krec_list_t batch;
        kn_collector_take(&s->coll, &batch);
        kn_krec_t *k;
        while ((k = kn_krec_list_pop(&batch)))
            fail_krec(pl, k, pl->abort_err, now_us);
    }
    return pl->inflight + pl->list_inflight;
}

size_t kn_pipeline_inflight(const kn_pipeline_t *pl) { return pl->inflight + pl->list_inflight; }

const kn_pipeline_stats_t *kn_pipeline_stats(const kn_pipeline_t *pl) { return &pl->stats; }

/* ------------------------------------------------------------ lifecycle */

kn_pipeline_t *kn_pipeline_new(const kn_pipeline_conf_t *conf, const kn_sender_t *sender,
                               const kn_logger_t *logger) {
    kn_pipeline_t *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return NULL;
    pl->conf = *conf;
    if (pl->conf.max_inflight < 1)
        pl->conf.max_inflight = 1;
    pl->sender = *sender;
    if (logger)
        pl->log = *logger;
    else
        pl->log.level = KN_LOG_INFO;
    kn_retrier_init(&pl->rt, conf->retry_base_ms, conf->retry_max_ms, conf->seed);
    pthread_mutex_init(&pl->lock, NULL);
    atomic_init(&pl->ncompl, 0);
    if (kn_agg_ctx_init(&pl->agg, conf->aggregation_enabled, conf->aggregation_max_bytes) !=
            KN_OK ||
        !(pl->md5 = kn_md5_new()) || !(pl->pk_cache = calloc(PK_CACHE_SLOTS, sizeof(pk_cache_t)))) {
        kn_pipeline_destroy(pl);
        return NULL;
    }
    pl->agg.defer_digests = 1; /* send_batch digests each request's aggregates together */
    return pl;
}

void kn_pipeline_set_wake(kn_pipeline_t *pl, void (*wake)(void *arg), void *arg) {
    pl->wake = wake;
    pl->wake_arg = arg;
}

void kn_pipeline_destroy(kn_pipeline_t *pl) {
    if (!pl)
        return;
    kn_pstream_t *s = pl->streams;
    while (s) {
        kn_pstream_t *n = s->pl_next;
        stream_clear(s);
        s = n;
    }
    req_t *q = pl->compl_head;
    while (q) {
        req_t *n = q->next;
        kn_put_records_result_destroy(q->result);
        kn_shard_list_destroy(q->list);
        kn_error_destroy(q->err);
        free(q);
        q = n;
    }
    kn_serr_unref(pl->abort_err);
    kn_agg_ctx_clear(&pl->agg);
    kn_md5_destroy(pl->md5);
    free(pl->pk_cache);
    pthread_mutex_destroy(&pl->lock);
    free(pl);
}
