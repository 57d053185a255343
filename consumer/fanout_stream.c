/* One shard's fan-out core: decoder to bounded queue, back-pressure, resubscribe policy. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event_stream.h"
#include "fanout_stream.h"
#include "json.h"
#include "kinesis_json.h"
#include "polling.h" /* kn_polling_position: the same start-position mapping */

#define EVENT_TYPE "SubscribeToShardEvent"
/* Longest exception message kept (the rest of a huge payload is not worth an error object). */
#define MAX_EXCEPTION_TEXT 1024

struct kn_fo_item_s {
    kn_fo_item_t *next;
    kn_error_t *error; /* an error to report, or NULL for an event */
    size_t len;
    uint8_t payload[]; /* the event's JSON */
};

struct kn_fo_stream_s {
    kn_fo_limits_t lim;
    kn_rng_t rng;
    kn_es_decoder_t *dec;
    /* shared: the I/O side and the fetch side, under the caller's lock */
    kn_fo_item_t *head, *tail;
    size_t queued_events, queued_bytes;
    int subscribed;     /* a subscription is live or starting */
    int ending;         /* it was told to stop (cancel asked, exception, bad bytes); no more data */
    int reported;       /* an error is already queued for the current subscription */
    kn_err_t end_code;  /* and its code */
    int paused;
    int failures;       /* consecutive failed subscriptions */
    kn_err_t last_code; /* why the last one failed */
    int64_t last_subscribe_ms, last_activity_ms, next_subscribe_ms;
    int64_t now;        /* of the feed in progress */
    size_t added;       /* entries queued by the feed in progress */
    kn_fo_stats_t st;
    /* fetch side only */
    kn_esn_t from;
    int64_t timestamp_ms;
    int has_continuation;
    char continuation[KN_SEQ_MAX_DIGITS + 1];
    atomic_uint_least64_t repeats; /* read by stats() under the lock, written without */
};

kn_fo_stream_t *kn_fo_stream_new(const kn_fo_limits_t *lim, const kn_esn_t *from,
                                 int64_t timestamp_ms, uint64_t seed) {
    if (!lim || !from || !lim->max_events || !lim->max_bytes || lim->watchdog_ms <= 0)
        return NULL;
    kn_fo_stream_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->lim = *lim;
    s->from = *from;
    s->timestamp_ms = timestamp_ms;
    kn_rng_seed(&s->rng, seed);
    atomic_init(&s->repeats, 0);
    s->last_subscribe_ms = INT64_MIN / 2;
    s->next_subscribe_ms = INT64_MIN / 2;
    return s;
}

void kn_fo_item_free(kn_fo_item_t *it) {
    if (!it)
        return;
    kn_error_destroy(it->error);
    free(it);
}

int kn_fo_item_is_error(const kn_fo_item_t *it) {
    return it && it->error != NULL;
}

static void drop_queue(kn_fo_stream_t *s) {
    while (s->head) {
        kn_fo_item_t *it = s->head;
        s->head = it->next;
        kn_fo_item_free(it);
    }
    s->tail = NULL;
    s->queued_events = s->queued_bytes = 0;
}

void kn_fo_stream_destroy(kn_fo_stream_t *s) {
    if (!s)
        return;
    drop_queue(s);
    kn_es_decoder_destroy(s->dec);
    free(s);
}

static void push(kn_fo_stream_t *s, kn_fo_item_t *it) {
    it->next = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    if (!it->error) {
        s->queued_events++;
        s->queued_bytes += it->len;
    }
    s->added++;
}

/* ---- backoff ---- */

static int64_t backoff_base(kn_err_t code) {
    switch (code) {
    case KN_ERR_RESOURCE_IN_USE:
    case KN_ERR_LIMIT_EXCEEDED:
    case KN_ERR_THROTTLING:
    case KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED:
        return KN_FO_BACKOFF_IN_USE_MS;
    case KN_ERR_KMS:
        return KN_FO_BACKOFF_KMS_MS;
    default:
        return KN_FO_BACKOFF_BASE_MS;
    }
}

int64_t kn_fo_backoff_ms(kn_err_t code, int failures, kn_rng_t *rng) {
    if (code == KN_OK || failures <= 0)
        return 0;
    int64_t cap = backoff_base(code);
    for (int i = 1; i < failures && cap < KN_FO_MAX_BACKOFF_MS; i++)
        cap *= 2;
    if (cap > KN_FO_MAX_BACKOFF_MS)
        cap = KN_FO_MAX_BACKOFF_MS;
    /* Spread shards that failed together (a takeover, a throttled account) apart. */
    return rng ? cap / 2 + (int64_t)kn_rng_uniform(rng, (uint64_t)(cap - cap / 2)) : cap;
}

/* A failure (or, with KN_OK, a clean end) of the current subscription: when the next may start. */
static void schedule(kn_fo_stream_t *s, kn_err_t code, int64_t now) {
    if (code == KN_OK) {
        s->failures = 0;
    } else {
        s->failures++;
        s->st.errors++;
    }
    s->last_code = code;
    int64_t at = now + kn_fo_backoff_ms(code, s->failures, &s->rng);
    int64_t gap = s->last_subscribe_ms + KN_FO_MIN_SUBSCRIBE_GAP_MS;
    s->next_subscribe_ms = at > gap ? at : gap;
}

/* Queues an error for the current subscription (once) and stops taking its data. */
static void report(kn_fo_stream_t *s, kn_error_t *e) {
    s->ending = 1;
    if (s->reported) {
        kn_error_destroy(e);
        return;
    }
    s->reported = 1;
    s->end_code = e ? kn_error_code(e) : KN_ERR_NOMEM;
    kn_fo_item_t *it = e ? calloc(1, sizeof(*it)) : NULL;
    if (!it) {
        kn_error_destroy(e);
        return;
    }
    it->error = e;
    push(s, it);
}

/* ---- the I/O side ---- */

/* The text of an exception payload: {"message": ...} as Kinesis sends it, else the raw bytes. */
static char *exception_text(const kn_es_message_t *m) {
    cJSON *j = cJSON_ParseWithLength((const char *)m->payload, m->payload_len);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (!cJSON_IsString(msg))
        msg = cJSON_GetObjectItemCaseSensitive(j, "Message");
    size_t n = m->payload_len < MAX_EXCEPTION_TEXT ? m->payload_len : MAX_EXCEPTION_TEXT;
    char *text = cJSON_IsString(msg) ? strndup(msg->valuestring, MAX_EXCEPTION_TEXT)
                                     : strndup((const char *)m->payload, n);
    cJSON_Delete(j);
    return text;
}

/* An exception (":message-type" exception, with ":exception-type") or error frame. */
static kn_error_t *frame_error(const kn_es_message_t *m, int is_exception) {
    const char *type, *text = NULL;
    size_t tlen, xlen = 0;
    int has_type = kn_es_message_header_string(
        m, is_exception ? KN_ES_HDR_EXCEPTION_TYPE : KN_ES_HDR_ERROR_CODE, &type, &tlen);
    char *tname = has_type ? strndup(type, tlen) : NULL;
    char *owned = NULL;
    if (is_exception) {
        owned = exception_text(m);
    } else if (kn_es_message_header_string(m, KN_ES_HDR_ERROR_MESSAGE, &text, &xlen)) {
        owned = strndup(text, xlen);
    }
    kn_error_t *e = kn_error_from_service(200, tname ? tname : "UnknownEventStreamError",
                                          owned && *owned ? owned : "event-stream error frame",
                                          NULL);
    free(tname);
    free(owned);
    return e;
}

static kn_err_t on_message(void *opaque, const kn_es_message_t *m) {
    kn_fo_stream_t *s = opaque;
    const kn_es_header_t *mt = kn_es_message_header(m, KN_ES_HDR_MESSAGE_TYPE);
    s->last_activity_ms = s->now;
    if (kn_es_header_string_is(mt, "exception") || kn_es_header_string_is(mt, "error")) {
        report(s, frame_error(m, kn_es_header_string_is(mt, "exception")));
        return s->end_code; /* stops decoding this subscription */
    }
    if (!kn_es_header_string_is(mt, "event")) {
        report(s, kn_error_new(KN_ERR_BAD_RESPONSE, "event-stream message without a known "
                                                    ":message-type"));
        return KN_ERR_BAD_RESPONSE;
    }
    /* initial-response (sent by AWS, not by every server) and unknown events carry nothing */
    if (!kn_es_header_string_is(kn_es_message_header(m, KN_ES_HDR_EVENT_TYPE), EVENT_TYPE))
        return KN_OK;
    kn_fo_item_t *it = malloc(sizeof(*it) + m->payload_len);
    if (!it) {
        report(s, kn_error_new(KN_ERR_NOMEM, "out of memory queuing an event"));
        return KN_ERR_NOMEM;
    }
    it->error = NULL;
    it->len = m->payload_len;
    if (m->payload_len)
        memcpy(it->payload, m->payload, m->payload_len);
    push(s, it);
    s->st.events++;
    s->failures = 0; /* the subscription works */
    return KN_OK;
}

int kn_fo_stream_feed(kn_fo_stream_t *s, const uint8_t *data, size_t len, int64_t now,
                      size_t *added) {
    if (added)
        *added = 0;
    if (!s || !s->subscribed || s->ending)
        return KN_HTTP_ABORT; /* data of a subscription already given up */
    s->now = now;
    s->added = 0;
    kn_err_t rc = kn_es_decoder_feed(s->dec, data, len);
    if (rc != KN_OK && !s->reported)
        report(s, kn_error_new(rc, "%s in a SubscribeToShard event stream",
                               rc == KN_ERR_CRC ? "checksum mismatch" : "undecodable message"));
    if (added)
        *added = s->added;
    if (rc != KN_OK)
        return KN_HTTP_ABORT;
    if (!s->paused && (s->queued_events >= s->lim.max_events ||
                       s->queued_bytes >= s->lim.max_bytes)) {
        s->paused = 1;
        s->st.pauses++;
    }
    return s->paused ? KN_HTTP_PAUSE : KN_HTTP_CONTINUE;
}

void kn_fo_stream_closed(kn_fo_stream_t *s, const kn_error_t *err, int64_t now) {
    if (!s || !s->subscribed)
        return;
    kn_err_t code = KN_OK;
    if (s->reported) {
        code = s->end_code; /* the transport's cancellation is only its echo */
    } else if (err) {
        code = kn_error_code(err);
        kn_error_t *e = kn_error_new(code, "SubscribeToShard ended: %s", kn_error_message(err));
        if (e) {
            e->http_status = kn_error_http_status(err);
            if (kn_error_type(err))
                e->type = strdup(kn_error_type(err));
        }
        report(s, e);
    } else if (kn_es_decoder_has_partial(s->dec)) {
        code = KN_ERR_BAD_RESPONSE;
        report(s, kn_error_new(code, "SubscribeToShard event stream truncated"));
    }
    s->subscribed = 0;
    s->paused = 0;
    schedule(s, code, now);
}

/* ---- the fetch side ---- */

void kn_fo_stream_position(const kn_fo_stream_t *s, kn_position_t *pos) {
    kn_polling_position(&s->from, s->timestamp_ms, s->has_continuation ? s->continuation : NULL,
                        pos);
}

kn_fo_action_t kn_fo_stream_next(kn_fo_stream_t *s, int64_t now, kn_position_t *pos,
                                 int64_t *wait_ms) {
    *wait_ms = -1;
    if (s->head) {
        *wait_ms = 0;
        return KN_FO_WAIT;
    }
    if (s->subscribed) {
        if (s->paused || s->ending)
            return KN_FO_WAIT;
        int64_t due = s->last_activity_ms + s->lim.watchdog_ms;
        if (now < due) {
            *wait_ms = due - now;
            return KN_FO_WAIT;
        }
        s->ending = 1;
        report(s, kn_error_new(KN_ERR_TIMED_OUT, "no event from SubscribeToShard for %lld ms: "
                                                 "subscribing again",
                               (long long)(now - s->last_activity_ms)));
        return KN_FO_CANCEL;
    }
    if (now < s->next_subscribe_ms) {
        *wait_ms = s->next_subscribe_ms - now;
        return KN_FO_WAIT;
    }
    if (!s->dec && !(s->dec = kn_es_decoder_new(on_message, s))) {
        *wait_ms = KN_FO_BACKOFF_BASE_MS;
        return KN_FO_WAIT;
    }
    kn_es_decoder_reset(s->dec);
    s->subscribed = 1;
    s->ending = s->reported = s->paused = 0;
    s->last_subscribe_ms = s->last_activity_ms = now;
    s->st.subscribes++;
    kn_fo_stream_position(s, pos);
    return KN_FO_SUBSCRIBE;
}

int kn_fo_stream_ready(const kn_fo_stream_t *s) {
    return s && s->head != NULL;
}

kn_fo_item_t *kn_fo_stream_take(kn_fo_stream_t *s, int64_t now, int *resume) {
    *resume = 0;
    kn_fo_item_t *it = s->head;
    if (!it)
        return NULL;
    s->head = it->next;
    if (!s->head)
        s->tail = NULL;
    it->next = NULL;
    if (!it->error) {
        s->queued_events--;
        s->queued_bytes -= it->len;
    }
    if (s->paused && s->queued_events <= s->lim.max_events / 2 &&
        s->queued_bytes <= s->lim.max_bytes / 2) {
        s->paused = 0;
        s->last_activity_ms = now; /* the watchdog counts from the resume */
        if (s->subscribed && !s->ending) {
            *resume = 1;
            s->st.resumes++;
        }
    }
    return it;
}

/* Drops the records at or before the continuation already handed over (a server repeat). */
static size_t drop_repeats(kn_fo_stream_t *s, kn_get_records_result_t *r) {
    if (!s->has_continuation)
        return 0;
    size_t kept = 0;
    for (size_t i = 0; i < r->record_count; i++)
        if (kn_decimal_cmp(r->records[i].sequence_number, s->continuation) > 0)
            r->records[kept++] = r->records[i];
    size_t dropped = r->record_count - kept;
    r->record_count = kept;
    return dropped;
}

static kn_err_t bad_event(const char *what, kn_error_t **err) {
    if (err && !*err)
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "SubscribeToShardEvent: %s", what);
    return KN_ERR_BAD_RESPONSE;
}

kn_err_t kn_fo_stream_settle(kn_fo_stream_t *s, kn_fo_item_t *it, kn_get_records_result_t **res,
                             int *shard_end, kn_error_t **err) {
    *res = NULL;
    *shard_end = 0;
    if (err)
        *err = NULL;
    if (it->error) {
        kn_err_t code = kn_error_code(it->error);
        if (err) {
            *err = it->error;
            it->error = NULL;
        }
        kn_fo_item_free(it);
        return code;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)it->payload, it->len);
    kn_fo_item_free(it);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return bad_event("payload is not a JSON object", err);
    }
    kn_get_records_result_t *r = NULL;
    char *cont = NULL;
    kn_err_t rc = kn_kj_parse_records(j, &r, err);
    /* The final event of a closed shard may come without a continuation (it has ChildShards). */
    if (rc == KN_OK &&
        kn_json_decimal(j, "ContinuationSequenceNumber", r->child_shard_count == 0,
                        KN_SEQ_MAX_DIGITS, &cont, err) < 0)
        rc = KN_ERR_BAD_RESPONSE;
    cJSON_Delete(j);
    if (rc != KN_OK) {
        kn_get_records_result_destroy(r);
        return rc == KN_ERR_NOMEM ? rc : bad_event("malformed", err);
    }
    atomic_fetch_add(&s->repeats, drop_repeats(s, r));
    if (cont) {
        if (!s->has_continuation || kn_decimal_cmp(cont, s->continuation) > 0)
            memcpy(s->continuation, cont, strlen(cont) + 1);
        s->has_continuation = 1;
        free(cont);
    }
    *shard_end = r->child_shard_count > 0;
    *res = r;
    return KN_OK;
}

int kn_fo_stream_abort(kn_fo_stream_t *s, int64_t now) {
    drop_queue(s);
    if (s->subscribed) {
        if (s->ending)
            return 0; /* already on its way out */
        s->ending = s->reported = 1; /* the caller reports this one itself */
        s->end_code = KN_ERR_BAD_RESPONSE;
        return 1;
    }
    schedule(s, KN_ERR_BAD_RESPONSE, now);
    return 0;
}

void kn_fo_stream_stats(const kn_fo_stream_t *s, kn_fo_stats_t *st) {
    *st = s->st;
    st->repeats = atomic_load(&((kn_fo_stream_t *)s)->repeats);
    st->queued_events = s->queued_events;
    st->queued_bytes = s->queued_bytes;
    st->paused = s->paused;
    st->subscribed = s->subscribed;
}
