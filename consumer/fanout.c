/* Enhanced fan-out retrieval: SubscribeToShard streams behind the retriever interface; see fanout.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanout.h"

#define LOG_FAC "fanout"
/* Fetch with nothing to do and no wake function: look at the queue this often. */
#define POLL_WITHOUT_WAKE_MS 20

struct kn_fanout_s {
    kn_kinesis_t *k;     /* borrowed: unary calls */
    kn_http_t *http;     /* owned: the subscriptions' transport */
    kn_kinesis_t *sk;    /* owned: the client subscribing over it */
    char *stream;
    char *consumer_arn;
    kn_fo_limits_t lim;
    atomic_uint_least64_t *calls;
    kn_logger_t lg;
    pthread_mutex_t mu; /* guards what follows */
    kn_shard_list_t *shards; /* the last listing, NULL before the first */
    int64_t shards_at;
    kn_rng_t rng;
};

typedef enum { SHARD_OPEN, SHARD_CLOSED, SHARD_GONE, SHARD_UNKNOWN } shard_state_t;

typedef struct {
    kn_retriever_t base; /* first: the shard consumer holds a kn_retriever_t * */
    kn_fanout_t *fo;
    char *shard_id;
    pthread_mutex_t mu;  /* guards core (but settle), stream, wake */
    pthread_cond_t cv;   /* the subscription closed */
    kn_fo_stream_t *core;
    kn_service_stream_t *stream; /* the live subscription, NULL between them */
    kn_fanout_wake_fn *wake;
    void *wake_ctx;
    int64_t end_check_at; /* fetch side: no closed-shard check before this */
} sub_t;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_call(kn_fanout_t *fo) {
    if (fo->calls)
        atomic_fetch_add(fo->calls, 1);
}

/* ---- the shared context ---- */

kn_fanout_t *kn_fanout_new(const kn_conf_t *conf, kn_kinesis_t *k, kn_creds_t *creds,
                           const kn_fanout_conf_t *fc, const kn_logger_t *lg, kn_error_t **err) {
    if (!conf || !k || !fc || !fc->stream || !fc->consumer_arn || !fc->max_queued_events ||
        !fc->max_queued_bytes || fc->watchdog_ms < 0) {
        if (err)
            *err = kn_error_new(KN_ERR_INVALID_ARG, "kn_fanout_new: bad arguments");
        return NULL;
    }
    kn_fanout_t *fo = calloc(1, sizeof(*fo));
    kn_conf_t *sc = kn_conf_dup(conf);
    if (!fo || !sc) {
        free(fo);
        kn_conf_destroy(sc);
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    fo->k = k;
    fo->lim.max_events = fc->max_queued_events;
    fo->lim.max_bytes = fc->max_queued_bytes;
    fo->lim.watchdog_ms = fc->watchdog_ms ? fc->watchdog_ms : KN_FANOUT_WATCHDOG_MS;
    fo->calls = fc->calls;
    if (lg)
        fo->lg = *lg;
    pthread_mutex_init(&fo->mu, NULL);
    kn_rng_seed_random(&fo->rng);
    fo->stream = strdup(fc->stream);
    fo->consumer_arn = strdup(fc->consumer_arn);
    sc->max_connections = KN_FANOUT_MAX_CONNECTIONS;
    kn_error_t *e = NULL;
    if ((fo->http = kn_http_new(sc, &e)))
        fo->sk = kn_kinesis_new_shared(sc, fo->http, creds, &e);
    kn_conf_destroy(sc);
    if (!fo->stream || !fo->consumer_arn || !fo->sk) {
        kn_fanout_destroy(fo);
        if (err)
            *err = e ? e : kn_error_new(KN_ERR_NOMEM, "out of memory");
        else
            kn_error_destroy(e);
        return NULL;
    }
    return fo;
}

void kn_fanout_destroy(kn_fanout_t *fo) {
    if (!fo)
        return;
    kn_kinesis_destroy(fo->sk);
    kn_http_destroy(fo->http);
    kn_shard_list_destroy(fo->shards);
    free(fo->stream);
    free(fo->consumer_arn);
    pthread_mutex_destroy(&fo->mu);
    free(fo);
}

/* What the (at most KN_FANOUT_SHARD_CHECK_MS old) listing says about a shard. */
static shard_state_t shard_state(kn_fanout_t *fo, const char *shard_id, int64_t now) {
    pthread_mutex_lock(&fo->mu);
    if (!fo->shards || now - fo->shards_at >= KN_FANOUT_SHARD_CHECK_MS) {
        kn_shard_list_t *list = NULL;
        kn_error_t *e = NULL;
        count_call(fo);
        if (kn_kinesis_list_all_shards(fo->k, fo->stream, NULL, &list, &e) == KN_OK) {
            kn_shard_list_destroy(fo->shards);
            fo->shards = list;
            fo->shards_at = now;
        } else {
            char buf[512];
            KN_LOG_DBG(&fo->lg, LOG_FAC, "ListShards for the shard-end check failed: %s",
                       kn_error_format(e, buf, sizeof(buf)));
        }
        kn_error_destroy(e);
    }
    shard_state_t st = fo->shards ? SHARD_GONE : SHARD_UNKNOWN;
    for (size_t i = 0; fo->shards && i < fo->shards->count; i++) {
        const kn_shard_t *sh = &fo->shards->shards[i];
        if (!strcmp(sh->shard_id, shard_id)) {
            st = sh->ending_sequence_number ? SHARD_CLOSED : SHARD_OPEN;
            break;
        }
    }
    pthread_mutex_unlock(&fo->mu);
    return st;
}

/* ---- one shard: the I/O side ---- */

static int sub_on_data(void *opaque, const uint8_t *data, size_t len) {
    sub_t *s = opaque;
    size_t added = 0;
    pthread_mutex_lock(&s->mu);
    int r = kn_fo_stream_feed(s->core, data, len, now_ms(), &added);
    if (added && s->wake) /* under the lock: destroy cannot free wake_ctx meanwhile */
        s->wake(s->wake_ctx);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void sub_on_close(void *opaque, const kn_error_t *err) {
    sub_t *s = opaque;
    pthread_mutex_lock(&s->mu);
    kn_fo_stream_closed(s->core, err, now_ms());
    s->stream = NULL;
    pthread_cond_broadcast(&s->cv);
    if (s->wake)
        s->wake(s->wake_ctx);
    pthread_mutex_unlock(&s->mu);
}

/* ---- one shard: the fetch side ---- */

/* Starts a subscription at pos (s->mu held: its callbacks wait until the handle is stored). */
static void subscribe(sub_t *s, const kn_position_t *pos, int64_t now) {
    kn_fanout_t *fo = s->fo;
    kn_service_stream_cbs_t cbs = {NULL, sub_on_data, sub_on_close, s, 0};
    kn_error_t *e = NULL;
    count_call(fo);
    KN_LOG_DBG(&fo->lg, LOG_FAC, "%s: SubscribeToShard %s%s", s->shard_id,
               pos->type == KN_POSITION_AFTER_SEQUENCE_NUMBER ? "after "
               : pos->type == KN_POSITION_AT_SEQUENCE_NUMBER  ? "at "
                                                              : "from a sentinel",
               pos->sequence_number ? pos->sequence_number : "");
    if (kn_kinesis_subscribe_to_shard(fo->sk, fo->consumer_arn, s->shard_id, pos, &cbs,
                                      &s->stream, &e) != KN_OK) {
        s->stream = NULL;
        kn_fo_stream_closed(s->core, e, now); /* queued as an error, with backoff */
    }
    kn_error_destroy(e);
}

/* With the queue empty: subscribe, cancel a silent subscription, or say when to look again. */
static int64_t act(sub_t *s, int64_t now) {
    kn_position_t pos;
    int64_t wait;
    int64_t cap = s->wake ? KN_FANOUT_IDLE_RECHECK_MS : POLL_WITHOUT_WAKE_MS;
    switch (kn_fo_stream_next(s->core, now, &pos, &wait)) {
    case KN_FO_SUBSCRIBE:
        subscribe(s, &pos, now);
        return kn_fo_stream_ready(s->core) ? 0 : cap; /* 0: it failed at once, report it */
    case KN_FO_CANCEL:
        KN_LOG_INFO(&s->fo->lg, LOG_FAC, "%s: subscription silent, renewing it", s->shard_id);
        kn_service_stream_cancel(s->stream);
        return 0; /* the watchdog's error is queued */
    default:
        break;
    }
    return wait < 0 || wait > cap ? cap : wait;
}

/*
 * The shard is caught up and idle: if the listing says it is closed (or gone),
 * confirm that nothing follows the last continuation. 1 with *res (ChildShards,
 * or NULL for a shard that no longer exists) when it has ended.
 */
static int check_end(sub_t *s, int64_t now, kn_get_records_result_t **res) {
    kn_fanout_t *fo = s->fo;
    *res = NULL;
    if (now < s->end_check_at)
        return 0;
    s->end_check_at = now + KN_FANOUT_SHARD_CHECK_MS;
    shard_state_t st = shard_state(fo, s->shard_id, now);
    if (st != SHARD_CLOSED && st != SHARD_GONE)
        return 0;
    kn_position_t pos;
    kn_fo_stream_position(s->core, &pos); /* fetch-side state */
    char *it = NULL;
    kn_error_t *e = NULL;
    count_call(fo);
    kn_err_t rc = kn_kinesis_get_shard_iterator(fo->k, fo->stream, s->shard_id, &pos, &it, &e);
    if (rc == KN_OK) {
        count_call(fo);
        rc = kn_kinesis_get_records(fo->k, it, 1, res, &e);
        free(it);
    }
    int ended = 0;
    if (rc == KN_ERR_RESOURCE_NOT_FOUND) {
        ended = 1; /* trimmed or re-created: a synthetic end, as in polling */
    } else if (rc == KN_OK) {
        ended = (*res)->record_count == 0 && !(*res)->next_shard_iterator;
    } else {
        char buf[512];
        KN_LOG_DBG(&fo->lg, LOG_FAC, "%s: shard-end check failed: %s", s->shard_id,
                   kn_error_format(e, buf, sizeof(buf)));
    }
    kn_error_destroy(e);
    if (!ended) {
        kn_get_records_result_destroy(*res);
        *res = NULL;
    }
    if (ended)
        KN_LOG_INFO(&fo->lg, LOG_FAC, "%s: shard %s and read to its end", s->shard_id,
                    st == SHARD_GONE ? "no longer listed" : "closed");
    return ended;
}

/* Settles a taken entry outside the lock: records, shard end, or the error to report. */
static kn_err_t settle(sub_t *s, kn_fo_item_t *it, int more, kn_fetch_t *f, kn_error_t **err) {
    int is_error = kn_fo_item_is_error(it);
    kn_get_records_result_t *res = NULL;
    kn_error_t *e = NULL;
    kn_err_t rc = kn_fo_stream_settle(s->core, it, &res, &f->shard_end, &e);
    if (rc != KN_OK && !is_error) {
        /* A malformed event: what else that subscription sent cannot be trusted. */
        pthread_mutex_lock(&s->mu);
        if (kn_fo_stream_abort(s->core, now_ms()))
            kn_service_stream_cancel(s->stream);
        pthread_mutex_unlock(&s->mu);
    }
    if (rc != KN_OK) {
        if (err)
            *err = e;
        else
            kn_error_destroy(e);
        return rc;
    }
    f->result = res;
    kn_get_records_result_t *end = NULL;
    if (!f->shard_end && !more && res->record_count == 0 && res->millis_behind_latest == 0 &&
        check_end(s, now_ms(), &end)) {
        f->shard_end = 1;
        if (end) { /* its ChildShards */
            kn_get_records_result_destroy(f->result);
            f->result = end;
        }
    }
    return KN_OK;
}

static kn_err_t sub_fetch(kn_retriever_t *r, kn_fetch_t *f, kn_error_t **err) {
    sub_t *s = (sub_t *)r;
    memset(f, 0, sizeof(*f));
    if (err)
        *err = NULL;
    int64_t now = now_ms();
    kn_err_t rc = KN_OK;
    int resume = 0;
    pthread_mutex_lock(&s->mu);
    kn_fo_item_t *it = kn_fo_stream_take(s->core, now, &resume);
    if (resume && s->stream)
        kn_service_stream_resume(s->stream);
    if (it) {
        int more = kn_fo_stream_ready(s->core);
        pthread_mutex_unlock(&s->mu);
        rc = settle(s, it, more, f, err);
        if (f->shard_end)
            return KN_OK;
        pthread_mutex_lock(&s->mu);
        if (kn_fo_stream_ready(s->core)) {
            pthread_mutex_unlock(&s->mu);
            return rc; /* next_ms 0: the rest of the queue */
        }
        now = now_ms();
    }
    f->next_ms = act(s, now);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void sub_destroy(kn_retriever_t *r) {
    sub_t *s = (sub_t *)r;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->wake = NULL;
    if (s->stream)
        kn_service_stream_cancel(s->stream);
    while (s->stream)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    kn_fo_stream_destroy(s->core);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->shard_id);
    free(s);
}

void kn_fanout_retriever_stats(kn_retriever_t *r, kn_fo_stats_t *st) {
    sub_t *s = (sub_t *)r;
    pthread_mutex_lock(&s->mu);
    kn_fo_stream_stats(s->core, st);
    pthread_mutex_unlock(&s->mu);
}

kn_retriever_t *kn_fanout_retriever_new(kn_fanout_t *fo, const kn_retrieval_start_t *start,
                                        kn_fanout_wake_fn *wake, void *wake_ctx) {
    if (!fo || !start || !start->shard_id)
        return NULL;
    sub_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.fetch = sub_fetch;
    s->base.destroy = sub_destroy;
    s->fo = fo;
    s->wake = wake;
    s->wake_ctx = wake_ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_lock(&fo->mu);
    uint64_t seed = kn_rng_next(&fo->rng);
    pthread_mutex_unlock(&fo->mu);
    s->shard_id = strdup(start->shard_id);
    s->core = kn_fo_stream_new(&fo->lim, &start->from, start->timestamp_ms, seed);
    if (!s->shard_id || !s->core) {
        sub_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}
