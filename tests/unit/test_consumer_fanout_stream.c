/*
 * The fan-out core (consumer/fanout_stream.c) fed with encoded event-stream
 * bytes as a SubscribeToShard response would bring them: events in any
 * chunking, initial-response, exception and error frames, corrupt and truncated
 * frames, back-pressure bookkeeping, resubscribe positions and backoff, repeats,
 * the watchdog and shard end. Time is an argument; nothing sleeps.
 */
#include <stdio.h>
#include <string.h>

#include "crc32.h"
#include "event_stream.h"
#include "fanout_stream.h"
#include "kn_test.h"

#define SEQ(n) "4968045062801334915674163048947" #n

typedef struct {
    uint8_t b[8192];
    size_t len;
} buf_t;

/* Appends one message with :message-type, optional :event-type / :exception-type, payload. */
static void add_msg(buf_t *out, const char *mtype, const char *etype_hdr, const char *etype,
                    const char *payload) {
    kn_es_header_t h[3];
    size_t n = 0;
    h[n++] = kn_es_header_string(KN_ES_HDR_MESSAGE_TYPE, mtype);
    if (etype)
        h[n++] = kn_es_header_string(etype_hdr, etype);
    h[n++] = kn_es_header_string(KN_ES_HDR_CONTENT_TYPE, "application/json");
    size_t len;
    ck_assert_int_eq(kn_es_encode(h, n, payload, strlen(payload), out->b + out->len,
                                  sizeof(out->b) - out->len, &len),
                     KN_OK);
    out->len += len;
}

/* An event with records seqs[0..n) (data "r0") and a continuation (NULL: none). */
static void add_event(buf_t *out, const char *const *seqs, size_t n, const char *cont,
                      int64_t behind, const char *extra) {
    char json[4096];
    size_t o = (size_t)snprintf(json, sizeof(json), "{\"Records\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(json + o, sizeof(json) - o,
                              "%s{\"Data\":\"cjA=\",\"PartitionKey\":\"k\",\"SequenceNumber\":"
                              "\"%s\",\"ApproximateArrivalTimestamp\":1795324873.5}",
                              i ? "," : "", seqs[i]);
    o += (size_t)snprintf(json + o, sizeof(json) - o, "],\"MillisBehindLatest\":%lld",
                          (long long)behind);
    if (cont)
        o += (size_t)snprintf(json + o, sizeof(json) - o, ",\"ContinuationSequenceNumber\":\"%s\"",
                              cont);
    snprintf(json + o, sizeof(json) - o, "%s}", extra ? extra : "");
    add_msg(out, "event", KN_ES_HDR_EVENT_TYPE, "SubscribeToShardEvent", json);
}

static void add_exception(buf_t *out, const char *type, const char *message) {
    char json[512];
    snprintf(json, sizeof(json), "{\"message\":\"%s\"}", message);
    add_msg(out, "exception", KN_ES_HDR_EXCEPTION_TYPE, type, json);
}

/* Events SEQ(1) then SEQ(2), one record each; returns where the second begins. */
static size_t two_events(buf_t *b) {
    const char *seqs[] = {SEQ(1), SEQ(2)};
    b->len = 0;
    add_event(b, seqs, 1, SEQ(1), 0, NULL);
    size_t second = b->len;
    add_event(b, seqs + 1, 1, SEQ(2), 0, NULL);
    return second;
}

static const kn_fo_limits_t LIM = {4, 1 << 20, 30000};

static kn_fo_stream_t *new_at(const char *checkpoint, const kn_fo_limits_t *lim) {
    kn_esn_t from;
    ck_assert_int_eq(kn_esn_parse(checkpoint, 0, &from), KN_OK);
    kn_fo_stream_t *s = kn_fo_stream_new(lim ? lim : &LIM, &from, 0, 42);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Asks for the next action at `now` and expects SUBSCRIBE; returns the position type. */
static kn_position_type_t subscribe(kn_fo_stream_t *s, int64_t now, char *seq_out) {
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, now, &pos, &wait), KN_FO_SUBSCRIBE);
    if (seq_out)
        snprintf(seq_out, 140, "%s", pos.sequence_number ? pos.sequence_number : "");
    return pos.type;
}

/* Takes and settles one entry; returns its code, the records in *res. */
static kn_err_t pop(kn_fo_stream_t *s, int64_t now, kn_get_records_result_t **res, int *end,
                    int *resume, kn_error_t **err) {
    int r = 0, e = 0;
    kn_fo_item_t *it = kn_fo_stream_take(s, now, &r);
    ck_assert_ptr_nonnull(it);
    if (resume)
        *resume = r;
    kn_err_t rc = kn_fo_stream_settle(s, it, res, &e, err);
    if (end)
        *end = e;
    return rc;
}

static void pop_records(kn_fo_stream_t *s, int64_t now, size_t want_count) {
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, now, &res, NULL, NULL, &err), KN_OK);
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(res->record_count, want_count);
    kn_get_records_result_destroy(res);
}

START_TEST(events_in_any_chunking) {
    const char *seqs[] = {SEQ(1), SEQ(2), SEQ(3)};
    buf_t b = {.len = 0};
    add_msg(&b, "event", KN_ES_HDR_EVENT_TYPE, "initial-response", "{}"); /* accepted */
    add_event(&b, seqs, 2, SEQ(2), 1500, NULL);
    add_msg(&b, "event", KN_ES_HDR_EVENT_TYPE, "SomethingNew", "{}"); /* ignored */
    add_event(&b, seqs + 2, 1, SEQ(3), 0, NULL);
    for (size_t chunk = 1; chunk <= b.len; chunk = chunk < 64 ? chunk + 1 : chunk * 3) {
        kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
        char seq[140];
        ck_assert_int_eq(subscribe(s, 0, seq), KN_POSITION_TRIM_HORIZON);
        size_t added = 0, total = 0;
        for (size_t o = 0; o < b.len; o += chunk) {
            size_t n = b.len - o < chunk ? b.len - o : chunk;
            ck_assert_int_eq(kn_fo_stream_feed(s, b.b + o, n, 10, &added), KN_HTTP_CONTINUE);
            total += added;
        }
        ck_assert_uint_eq(total, 2); /* initial-response and unknown events queue nothing */
        kn_get_records_result_t *res;
        int end = 1;
        kn_error_t *err = NULL;
        ck_assert_int_eq(pop(s, 20, &res, &end, NULL, &err), KN_OK);
        ck_assert_int_eq(end, 0);
        ck_assert_uint_eq(res->record_count, 2);
        ck_assert_str_eq(res->records[1].sequence_number, SEQ(2));
        ck_assert_uint_eq(res->records[0].data_len, 2);
        ck_assert_mem_eq(res->records[0].data, "r0", 2);
        ck_assert_int_eq(res->millis_behind_latest, 1500);
        kn_get_records_result_destroy(res);
        pop_records(s, 20, 1);
        ck_assert(!kn_fo_stream_ready(s));
        /* the next subscription continues after the last continuation handed over */
        kn_position_t pos;
        kn_fo_stream_position(s, &pos);
        ck_assert_int_eq(pos.type, KN_POSITION_AFTER_SEQUENCE_NUMBER);
        ck_assert_str_eq(pos.sequence_number, SEQ(3));
        kn_fo_stream_destroy(s);
    }
}
END_TEST

START_TEST(start_positions) {
    char seq[140];
    kn_fo_stream_t *s = new_at(SEQ(7), NULL);
    ck_assert_int_eq(subscribe(s, 0, seq), KN_POSITION_AT_SEQUENCE_NUMBER);
    ck_assert_str_eq(seq, SEQ(7));
    kn_fo_stream_destroy(s);
    s = new_at("LATEST", NULL);
    ck_assert_int_eq(subscribe(s, 0, NULL), KN_POSITION_LATEST);
    kn_fo_stream_destroy(s);
    kn_esn_t at = kn_esn_sentinel(KN_ESN_AT_TIMESTAMP);
    s = kn_fo_stream_new(&LIM, &at, 1795324873123, 1);
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, 0, &pos, &wait), KN_FO_SUBSCRIBE);
    ck_assert_int_eq(pos.type, KN_POSITION_AT_TIMESTAMP);
    ck_assert_int_eq(pos.timestamp_ms, 1795324873123);
    kn_fo_stream_destroy(s);
    /* a subscription that failed before any event starts over from the lease's position */
    s = new_at(SEQ(7), NULL);
    subscribe(s, 0, NULL);
    kn_error_t *e = kn_error_new(KN_ERR_TRANSPORT, "connection refused");
    kn_fo_stream_closed(s, e, 5);
    kn_error_destroy(e);
    kn_get_records_result_t *res;
    ck_assert_int_eq(pop(s, 6, &res, NULL, NULL, &e), KN_ERR_TRANSPORT);
    kn_error_destroy(e);
    ck_assert_int_eq(subscribe(s, 100000, seq), KN_POSITION_AT_SEQUENCE_NUMBER);
    ck_assert_str_eq(seq, SEQ(7));
    kn_fo_stream_destroy(s);
    ck_assert_ptr_null(kn_fo_stream_new(NULL, &at, 0, 1));
    kn_fo_limits_t zero = {0, 1, 1};
    ck_assert_ptr_null(kn_fo_stream_new(&zero, &at, 0, 1));
    kn_fo_stream_destroy(NULL);
    kn_fo_item_free(NULL);
}
END_TEST

/* A clean end (5 minutes) while events are still queued: they come first, then the
 * resubscription AFTER the last continuation, one gap after the previous subscribe. */
START_TEST(renewal_after_clean_end) {
    const char *seqs[] = {SEQ(1), SEQ(2), SEQ(3), SEQ(4)};
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    subscribe(s, 1000, NULL);
    buf_t b = {.len = 0};
    add_event(&b, seqs, 2, SEQ(2), 0, NULL);
    add_event(&b, seqs + 2, 1, SEQ(3), 0, NULL);
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 1200, NULL), KN_HTTP_CONTINUE);
    kn_fo_stream_closed(s, NULL, 1300);
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, 1300, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, 0); /* the queue first */
    pop_records(s, 1300, 2);
    /* handed over up to SEQ(2): a subscription now would continue after it, and the
     * service allows the next call 1 s after the previous one */
    ck_assert_int_eq(kn_fo_stream_next(s, 1300, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, 0);
    pop_records(s, 1400, 1);
    ck_assert_int_eq(kn_fo_stream_next(s, 1400, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, 600);
    char seq[140];
    ck_assert_int_eq(subscribe(s, 2000, seq), KN_POSITION_AFTER_SEQUENCE_NUMBER);
    ck_assert_str_eq(seq, SEQ(3));
    /* the server repeats SEQ(3) and sends SEQ(4): only SEQ(4) is delivered */
    b.len = 0;
    add_event(&b, seqs + 2, 2, SEQ(4), 0, NULL);
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 2100, NULL), KN_HTTP_CONTINUE);
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 2100, &res, NULL, NULL, &err), KN_OK);
    ck_assert_uint_eq(res->record_count, 1);
    ck_assert_str_eq(res->records[0].sequence_number, SEQ(4));
    kn_get_records_result_destroy(res);
    kn_fo_stats_t st;
    kn_fo_stream_stats(s, &st);
    ck_assert_uint_eq(st.repeats, 1);
    ck_assert_uint_eq(st.subscribes, 2);
    ck_assert_uint_eq(st.errors, 0);
    /* a continuation never moves back (an empty event with an older one) */
    b.len = 0;
    add_event(&b, NULL, 0, SEQ(1), 0, NULL);
    kn_fo_stream_feed(s, b.b, b.len, 2200, NULL);
    pop_records(s, 2200, 0);
    kn_fo_stream_position(s, &pos);
    ck_assert_str_eq(pos.sequence_number, SEQ(4));
    kn_fo_stream_destroy(s);
}
END_TEST

static void expect_exception(const char *type, kn_err_t code, int retriable) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    const char *seqs[] = {SEQ(1)};
    subscribe(s, 0, NULL);
    buf_t b = {.len = 0};
    add_event(&b, seqs, 1, SEQ(1), 0, NULL);
    add_exception(&b, type, "it went wrong");
    add_event(&b, seqs, 1, SEQ(1), 0, NULL); /* after the exception: never queued */
    size_t added;
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 10, &added), KN_HTTP_ABORT);
    ck_assert_uint_eq(added, 2);
    /* the transport reports the abort as a cancellation: the exception stays the reason */
    kn_error_t *cancel = kn_error_new(KN_ERR_CANCELLED, "aborted by the receiver");
    kn_fo_stream_closed(s, cancel, 20);
    kn_error_destroy(cancel);
    pop_records(s, 30, 1); /* the event before the exception is delivered */
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 30, &res, NULL, NULL, &err), code);
    ck_assert_ptr_null(res);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(kn_error_code(err), code);
    ck_assert_str_eq(kn_error_type(err), type);
    ck_assert_str_eq(kn_error_message(err), "it went wrong");
    ck_assert_int_eq(kn_error_is_retriable(err), retriable);
    kn_error_destroy(err);
    ck_assert(!kn_fo_stream_ready(s));
    /* the resubscription waits out the backoff for this kind of error */
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, 30, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_ge(wait, KN_FO_MIN_SUBSCRIBE_GAP_MS - 30);
    ck_assert_int_le(wait, kn_fo_backoff_ms(code, 1, NULL));
    char seq[140];
    ck_assert_int_eq(subscribe(s, 30 + wait, seq), KN_POSITION_AFTER_SEQUENCE_NUMBER);
    ck_assert_str_eq(seq, SEQ(1));
    kn_fo_stream_destroy(s);
}

START_TEST(exception_frames) {
    expect_exception("ResourceInUseException", KN_ERR_RESOURCE_IN_USE, 0);
    expect_exception("ResourceNotFoundException", KN_ERR_RESOURCE_NOT_FOUND, 0);
    expect_exception("LimitExceededException", KN_ERR_LIMIT_EXCEEDED, 1);
    expect_exception("KMSThrottlingException", KN_ERR_KMS, 0);
    expect_exception("KMSAccessDeniedException", KN_ERR_KMS, 0);
    expect_exception("InternalFailureException", KN_ERR_INTERNAL_FAILURE, 1);
    expect_exception("SomethingNewException", KN_ERR_SERVICE, 0);
}
END_TEST

/* ResourceInUse again and again: the pauses grow (never under 1 s), up to the cap. */
START_TEST(growing_backoff_for_resource_in_use) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    int64_t now = 0, prev_wait = 0;
    for (int i = 0; i < 8; i++) {
        subscribe(s, now, NULL);
        buf_t b = {.len = 0};
        add_exception(&b, "ResourceInUseException", "Another active subscription exists");
        ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, now + 50, NULL), KN_HTTP_ABORT);
        kn_fo_stream_closed(s, NULL, now + 60);
        kn_get_records_result_t *res;
        kn_error_t *err = NULL;
        ck_assert_int_eq(pop(s, now + 60, &res, NULL, NULL, &err), KN_ERR_RESOURCE_IN_USE);
        kn_error_destroy(err);
        kn_position_t pos;
        int64_t wait;
        ck_assert_int_eq(kn_fo_stream_next(s, now + 60, &pos, &wait), KN_FO_WAIT);
        int64_t cap = kn_fo_backoff_ms(KN_ERR_RESOURCE_IN_USE, i + 1, NULL);
        ck_assert_int_ge(wait + 60, KN_FO_MIN_SUBSCRIBE_GAP_MS);
        ck_assert_int_ge(wait, cap / 2 - 60);
        ck_assert_int_le(wait, cap);
        ck_assert_int_le(cap, KN_FO_MAX_BACKOFF_MS);
        if (i > 0 && cap < KN_FO_MAX_BACKOFF_MS)
            ck_assert_int_ge(wait, prev_wait / 2); /* the range doubles */
        prev_wait = wait;
        ck_assert_int_eq(kn_fo_stream_next(s, now + 60 + wait - 1, &pos, &wait), KN_FO_WAIT);
        now += 60 + prev_wait;
    }
    /* a working subscription resets it */
    subscribe(s, now, NULL);
    buf_t b = {.len = 0};
    add_event(&b, NULL, 0, SEQ(1), 0, NULL);
    kn_fo_stream_feed(s, b.b, b.len, now + 10, NULL);
    pop_records(s, now + 10, 0);
    kn_fo_stream_closed(s, NULL, now + 20);
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, now + 20, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, KN_FO_MIN_SUBSCRIBE_GAP_MS - 20);
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(backoff_policy) {
    ck_assert_int_eq(kn_fo_backoff_ms(KN_OK, 3, NULL), 0);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_TRANSPORT, 0, NULL), 0);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_TRANSPORT, 1, NULL), KN_FO_BACKOFF_BASE_MS);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_TRANSPORT, 2, NULL), 2 * KN_FO_BACKOFF_BASE_MS);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_RESOURCE_IN_USE, 1, NULL), KN_FO_BACKOFF_IN_USE_MS);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_LIMIT_EXCEEDED, 2, NULL), 2 * KN_FO_BACKOFF_IN_USE_MS);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_KMS, 1, NULL), KN_FO_BACKOFF_KMS_MS);
    ck_assert_int_eq(kn_fo_backoff_ms(KN_ERR_TRANSPORT, 1000, NULL), KN_FO_MAX_BACKOFF_MS);
    kn_rng_t rng;
    kn_rng_seed(&rng, 7);
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t d = kn_fo_backoff_ms(KN_ERR_RESOURCE_IN_USE, 3, &rng);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_int_ge(lo, 2 * KN_FO_BACKOFF_IN_USE_MS);
    ck_assert_int_le(hi, 4 * KN_FO_BACKOFF_IN_USE_MS);
    ck_assert_int_lt(lo, hi); /* spread, not one value */
}
END_TEST

START_TEST(corrupt_frames) {
    /* a flipped payload byte: message CRC; a flipped length: prelude CRC; both abort the
     * subscription after the good events before them were queued */
    for (int which = 0; which < 3; which++) {
        kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
        subscribe(s, 0, NULL);
        buf_t b;
        size_t second = two_events(&b);
        if (which == 0)
            b.b[b.len - 10] ^= 0x20;
        else if (which == 1)
            b.b[second + 2] ^= 0x01;
        else { /* a length beyond the limit under a valid prelude CRC: refused unallocated */
            uint8_t *p = b.b + second;
            memcpy(p, "\x7f\xff\xff\xff", 4);
            uint32_t crc = kn_crc32(0, p, 8);
            for (int k = 0; k < 4; k++)
                p[8 + k] = (uint8_t)(crc >> (24 - 8 * k));
        }
        ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 10, NULL), KN_HTTP_ABORT);
        /* later bytes of the same subscription are refused */
        ck_assert_int_eq(kn_fo_stream_feed(s, b.b, 4, 11, NULL), KN_HTTP_ABORT);
        kn_error_t *cancel = kn_error_new(KN_ERR_CANCELLED, "aborted by the receiver");
        kn_fo_stream_closed(s, cancel, 20);
        kn_error_destroy(cancel);
        pop_records(s, 30, 1);
        kn_get_records_result_t *res;
        kn_error_t *err = NULL;
        kn_err_t rc = pop(s, 30, &res, NULL, NULL, &err);
        ck_assert_msg(rc == KN_ERR_CRC || rc == KN_ERR_BAD_RESPONSE, "case %d: %s", which,
                      kn_err2name(rc));
        kn_error_destroy(err);
        char seq[140];
        ck_assert_int_eq(subscribe(s, 100000, seq), KN_POSITION_AFTER_SEQUENCE_NUMBER);
        ck_assert_str_eq(seq, SEQ(1)); /* nothing of the corrupt event counted */
        kn_fo_stream_destroy(s);
    }
}
END_TEST

START_TEST(truncated_stream) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    subscribe(s, 0, NULL);
    buf_t b;
    size_t first = two_events(&b);
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, first + 20, 10, NULL), KN_HTTP_CONTINUE);
    kn_fo_stream_closed(s, NULL, 20); /* "clean" end in the middle of a message */
    pop_records(s, 30, 1);
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 30, &res, NULL, NULL, &err), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "truncated"));
    kn_error_destroy(err);
    char seq[140];
    ck_assert_int_eq(subscribe(s, 100000, seq), KN_POSITION_AFTER_SEQUENCE_NUMBER);
    ck_assert_str_eq(seq, SEQ(1));
    /* a transport error mid-stream is reported with its code */
    kn_error_t *te = kn_error_new(KN_ERR_TRANSPORT, "connection reset");
    kn_fo_stream_closed(s, te, 100010);
    kn_error_destroy(te);
    ck_assert_int_eq(pop(s, 100020, &res, NULL, NULL, &err), KN_ERR_TRANSPORT);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "connection reset"));
    kn_error_destroy(err);
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(malformed_event_aborts) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    subscribe(s, 0, NULL);
    const char *bad[] = {"not json", "[]", "{\"Records\":[],\"MillisBehindLatest\":0}",
                         "{\"Records\":[],\"ContinuationSequenceNumber\":\"01\"}",
                         "{\"Records\":[{\"Data\":1}],\"ContinuationSequenceNumber\":\"1\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_t b = {.len = 0};
        add_msg(&b, "event", KN_ES_HDR_EVENT_TYPE, "SubscribeToShardEvent", bad[i]);
        add_event(&b, NULL, 0, SEQ(1), 0, NULL);
        ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 10, NULL), KN_HTTP_CONTINUE);
        kn_get_records_result_t *res;
        kn_error_t *err = NULL;
        ck_assert_int_eq(pop(s, 20, &res, NULL, NULL, &err), KN_ERR_BAD_RESPONSE);
        ck_assert_ptr_nonnull(err);
        kn_error_destroy(err);
        /* the rest of that subscription is dropped and it must be cancelled, once */
        ck_assert_int_eq(kn_fo_stream_abort(s, 20), 1);
        ck_assert(!kn_fo_stream_ready(s));
        ck_assert_int_eq(kn_fo_stream_abort(s, 20), 0);
        ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 21, NULL), KN_HTTP_ABORT);
        kn_error_t *cancel = kn_error_new(KN_ERR_CANCELLED, "cancelled");
        kn_fo_stream_closed(s, cancel, 30);
        kn_error_destroy(cancel);
        ck_assert(!kn_fo_stream_ready(s));
        subscribe(s, 1000000 * (int64_t)(i + 1), NULL);
    }
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(back_pressure_by_events) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL); /* max 4 events */
    subscribe(s, 0, NULL);
    for (int i = 0; i < 4; i++) {
        char seq[16];
        snprintf(seq, sizeof(seq), "%d", 100 + i);
        const char *one[] = {seq};
        buf_t b = {.len = 0};
        add_event(&b, one, 1, seq, 0, NULL);
        ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, i, NULL),
                         i < 3 ? KN_HTTP_CONTINUE : KN_HTTP_PAUSE);
    }
    kn_fo_stats_t st;
    kn_fo_stream_stats(s, &st);
    ck_assert_int_eq(st.paused, 1);
    ck_assert_uint_eq(st.pauses, 1);
    ck_assert_uint_eq(st.queued_events, 4);
    /* paused: the watchdog does not fire, however long the processor takes */
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, 1000000, &pos, &wait), KN_FO_WAIT);
    int resume;
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 1000000, &res, NULL, &resume, &err), KN_OK);
    kn_get_records_result_destroy(res);
    ck_assert_int_eq(resume, 0); /* 3 left: above half */
    ck_assert_int_eq(pop(s, 1000001, &res, NULL, &resume, &err), KN_OK);
    kn_get_records_result_destroy(res);
    ck_assert_int_eq(resume, 1); /* 2 left: resume */
    kn_fo_stream_stats(s, &st);
    ck_assert_int_eq(st.paused, 0);
    ck_assert_uint_eq(st.resumes, 1);
    /* the watchdog counts from the resume */
    ck_assert_int_eq(kn_fo_stream_next(s, 1000001, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, 0); /* entries queued */
    pop_records(s, 1000002, 1);
    pop_records(s, 1000002, 1);
    ck_assert_int_eq(kn_fo_stream_next(s, 1000002, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, LIM.watchdog_ms - 1);
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(back_pressure_by_bytes) {
    kn_fo_limits_t lim = {1000, 600, 30000};
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", &lim);
    subscribe(s, 0, NULL);
    const char *seqs[] = {"11", "12", "13"};
    buf_t b = {.len = 0};
    add_event(&b, seqs, 3, "13", 0, NULL); /* ~400 bytes of JSON */
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 1, NULL), KN_HTTP_CONTINUE);
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 2, NULL), KN_HTTP_PAUSE);
    kn_fo_stats_t st;
    kn_fo_stream_stats(s, &st);
    ck_assert_uint_ge(st.queued_bytes, 600);
    int resume;
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 3, &res, NULL, &resume, &err), KN_OK);
    ck_assert_int_eq(resume, 0); /* ~400 bytes: above half of 600 */
    kn_get_records_result_destroy(res);
    ck_assert_int_eq(pop(s, 3, &res, NULL, &resume, &err), KN_OK);
    ck_assert_int_eq(resume, 1);
    ck_assert_uint_eq(res->record_count, 0); /* the same records again: repeats */
    kn_get_records_result_destroy(res);
    /* paused when the subscription ended: nothing to resume afterwards */
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 4, NULL), KN_HTTP_CONTINUE);
    ck_assert_int_eq(kn_fo_stream_feed(s, b.b, b.len, 4, NULL), KN_HTTP_PAUSE);
    kn_fo_stream_closed(s, NULL, 5);
    ck_assert_int_eq(pop(s, 6, &res, NULL, &resume, &err), KN_OK);
    kn_get_records_result_destroy(res);
    ck_assert_int_eq(resume, 0);
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(watchdog_renews_silent_subscription) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    subscribe(s, 0, NULL);
    kn_position_t pos;
    int64_t wait;
    ck_assert_int_eq(kn_fo_stream_next(s, 1000, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, LIM.watchdog_ms - 1000);
    buf_t b = {.len = 0};
    add_event(&b, NULL, 0, "5", 0, NULL);
    kn_fo_stream_feed(s, b.b, b.len, 20000, NULL);
    pop_records(s, 20000, 0);
    ck_assert_int_eq(kn_fo_stream_next(s, 49999, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, 1);
    ck_assert_int_eq(kn_fo_stream_next(s, 50000, &pos, &wait), KN_FO_CANCEL);
    /* asked once; then waiting for the cancellation to complete */
    ck_assert_int_eq(kn_fo_stream_next(s, 50001, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, 0); /* the watchdog's error is queued */
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 50001, &res, NULL, NULL, &err), KN_ERR_TIMED_OUT);
    kn_error_destroy(err);
    ck_assert_int_eq(kn_fo_stream_next(s, 50001, &pos, &wait), KN_FO_WAIT);
    ck_assert_int_eq(wait, -1);
    kn_error_t *cancel = kn_error_new(KN_ERR_CANCELLED, "cancelled");
    kn_fo_stream_closed(s, cancel, 50010);
    kn_error_destroy(cancel);
    char seq[140];
    ck_assert_int_eq(subscribe(s, 100000, seq), KN_POSITION_AFTER_SEQUENCE_NUMBER);
    ck_assert_str_eq(seq, "5");
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(child_shards_end_the_shard) {
    const char *seqs[] = {SEQ(1)};
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    subscribe(s, 0, NULL);
    buf_t b = {.len = 0};
    add_event(&b, seqs, 1, SEQ(1), 0, NULL);
    /* the final event: ChildShards and no continuation */
    add_event(&b, NULL, 0, NULL, 0,
              ",\"ChildShards\":[{\"ShardId\":\"shardId-000000000002\",\"ParentShards\":"
              "[\"shardId-000000000000\"],\"HashKeyRange\":{\"StartingHashKey\":\"0\","
              "\"EndingHashKey\":\"100\"}}]");
    kn_fo_stream_feed(s, b.b, b.len, 1, NULL);
    int end = 1;
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 2, &res, &end, NULL, &err), KN_OK);
    ck_assert_int_eq(end, 0);
    kn_get_records_result_destroy(res);
    ck_assert_int_eq(pop(s, 2, &res, &end, NULL, &err), KN_OK);
    ck_assert_int_eq(end, 1);
    ck_assert_uint_eq(res->child_shard_count, 1);
    ck_assert_str_eq(res->child_shards[0].shard_id, "shardId-000000000002");
    kn_get_records_result_destroy(res);
    kn_position_t pos;
    kn_fo_stream_position(s, &pos);
    ck_assert_str_eq(pos.sequence_number, SEQ(1));
    kn_fo_stream_destroy(s);
}
END_TEST

START_TEST(error_frames_and_unknown_messages) {
    kn_fo_stream_t *s = new_at("TRIM_HORIZON", NULL);
    subscribe(s, 0, NULL);
    /* ":message-type error" with :error-code / :error-message headers */
    kn_es_header_t h[3] = {kn_es_header_string(KN_ES_HDR_MESSAGE_TYPE, "error"),
                           kn_es_header_string(KN_ES_HDR_ERROR_CODE, "InternalFailure"),
                           kn_es_header_string(KN_ES_HDR_ERROR_MESSAGE, "try later")};
    uint8_t buf[256];
    size_t len;
    ck_assert_int_eq(kn_es_encode(h, 3, NULL, 0, buf, sizeof(buf), &len), KN_OK);
    ck_assert_int_eq(kn_fo_stream_feed(s, buf, len, 1, NULL), KN_HTTP_ABORT);
    kn_fo_stream_closed(s, NULL, 2);
    kn_get_records_result_t *res;
    kn_error_t *err = NULL;
    ck_assert_int_eq(pop(s, 3, &res, NULL, NULL, &err), KN_ERR_INTERNAL_FAILURE);
    ck_assert_str_eq(kn_error_message(err), "try later");
    kn_error_destroy(err);
    /* no :message-type at all */
    subscribe(s, 100000, NULL);
    h[0] = kn_es_header_string(KN_ES_HDR_CONTENT_TYPE, "application/json");
    ck_assert_int_eq(kn_es_encode(h, 1, "{}", 2, buf, sizeof(buf), &len), KN_OK);
    ck_assert_int_eq(kn_fo_stream_feed(s, buf, len, 100001, NULL), KN_HTTP_ABORT);
    ck_assert_int_eq(pop(s, 100002, &res, NULL, NULL, &err), KN_ERR_BAD_RESPONSE);
    kn_error_destroy(err);
    kn_fo_stream_destroy(s);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_fanout_stream");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, events_in_any_chunking);
    tcase_add_test(tc, start_positions);
    tcase_add_test(tc, renewal_after_clean_end);
    tcase_add_test(tc, exception_frames);
    tcase_add_test(tc, growing_backoff_for_resource_in_use);
    tcase_add_test(tc, backoff_policy);
    tcase_add_test(tc, corrupt_frames);
    tcase_add_test(tc, truncated_stream);
    tcase_add_test(tc, malformed_event_aborts);
    tcase_add_test(tc, back_pressure_by_events);
    tcase_add_test(tc, back_pressure_by_bytes);
    tcase_add_test(tc, watchdog_renews_silent_subscription);
    tcase_add_test(tc, child_shards_end_the_shard);
    tcase_add_test(tc, error_frames_and_unknown_messages);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
