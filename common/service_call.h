/*
 * One generic call for the AWS JSON protocols (Kinesis: JSON 1.1, DynamoDB:
 * JSON 1.0): POST / with X-Amz-Target "<prefix><Operation>", SigV4-signed, the
 * reply parsed as JSON, service errors turned into kn_error_t objects, and
 * retriable failures retried with full-jitter backoff. Each attempt is signed
 * anew (current date, current credentials).
 *
 * Threads: kn_service_call_async() may be called from any thread, including a
 * transport callback. Its completion callback runs on the transport's I/O thread
 * and must not block (it may start another async call). Credentials: a call
 * started on an application thread may block it for the chain's first fetch
 * (or one after the cached credentials expired); on the I/O thread (retries,
 * calls started from callbacks) they come from the cache only
 * (kn_creds_get_nowait), so a call there fails at once with the credentials
 * error instead of waiting. Temporary credentials are refreshed ahead of expiry
 * by the chain's own thread, so neither case waits in normal operation. The
 * sync wrapper kn_service_call() blocks the caller and must not be called on the
 * I/O thread.
 */
#ifndef KN_SERVICE_CALL_H
#define KN_SERVICE_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "creds.h"
#include "endpoint.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "retry.h"

/** Where and how to call one service. Strings are copied; http and creds are borrowed. */
typedef struct kn_service_params_s {
    kn_http_t *http;
    kn_creds_t *creds;
    const char *endpoint_url;  /* "https://kinesis.us-east-1.amazonaws.com" */
    const char *region;        /* signing region */
    const char *signing_name;  /* "kinesis", "dynamodb"; also the log facility */
    const char *target_prefix; /* "Kinesis_20131202." */
    const char *content_type;  /* "application/x-amz-json-1.1" */
    kn_retry_policy_t retry;
    kn_logger_t logger;
} kn_service_params_t;

typedef struct kn_service_s kn_service_t;

/** A service context. NULL with *err set for a bad endpoint URL or missing parameter. */
kn_service_t *kn_service_new(const kn_service_params_t *params, kn_error_t **err);
/** Frees the context. Every call on it must have completed. Accepts NULL. */
void kn_service_destroy(kn_service_t *s);
/** The logger of the context (for the typed layers' own messages). */
const kn_logger_t *kn_service_logger(const kn_service_t *s);

/**
 * Reads a 2xx reply body in place of the cJSON parse, for replies too large to
 * parse generically (GetRecords): stores what it read through ctx and returns
 * KN_OK, or returns an error (with *err) and stores nothing.
 */
typedef kn_err_t(kn_service_decode_fn)(void *ctx, const uint8_t *body, size_t len,
                                       kn_error_t **err);

/** Per-call overrides; a NULL pointer or zero field keeps the context's setting. */
typedef struct kn_call_opts_s {
    int max_attempts;   /* e.g. 1 for a caller that does its own retrying */
    int64_t timeout_ms; /* per attempt; 0: conf request.timeout.ms */
    /* With decode set, a 2xx body goes to decode (on the I/O thread, before the
     * retry decision, so a refused reply counts like an unreadable one) and the
     * call's result is NULL; error replies are parsed as usual. */
    kn_service_decode_fn *decode;
    void *decode_ctx;
} kn_call_opts_t;

/**
 * Completion of an async call, run once on the I/O thread. On success `result`
 * is the parsed reply (an object; "{}" for an empty body) and ownership passes
 * to the callback (cJSON_Delete it); `err` is NULL. On failure `result` is NULL
 * and `err` (owned by the library, valid during the call) is the last attempt's
 * error.
 */
typedef void(kn_service_done_fn)(void *opaque, cJSON *result, const kn_error_t *err);

/**
 * Starts `op` with the JSON text `body` (copied). On KN_OK `done` runs exactly
 * once later. On any other return (bad argument, no credentials, shut down)
 * nothing was started, `done` is never called and *err (if not NULL) says why.
 */
kn_err_t kn_service_call_async(kn_service_t *s, const char *op, const char *body,
                               const kn_call_opts_t *opts, kn_service_done_fn *done, void *opaque,
                               kn_error_t **err);

/** Like kn_service_call_async() but owns the malloc'd `body` (freed on every path). */
kn_err_t kn_service_call_async_owned(kn_service_t *s, const char *op, char *body,
                                     const kn_call_opts_t *opts, kn_service_done_fn *done,
                                     void *opaque, kn_error_t **err);

/**
 * Blocking call. On KN_OK *result (if result is not NULL) is the reply the
 * caller deletes; on failure *err (if not NULL) is the error the caller owns.
 * `body` is serialized here; it stays the caller's.
 */
kn_err_t kn_service_call(kn_service_t *s, const char *op, const cJSON *body,
                         const kn_call_opts_t *opts, cJSON **result, kn_error_t **err);

/** Like kn_service_call() with the body as malloc'd JSON text, owned (freed on every path). */
kn_err_t kn_service_call_owned(kn_service_t *s, const char *op, char *body,
                               const kn_call_opts_t *opts, cJSON **result, kn_error_t **err);

/**
 * Turns a received reply into its result or error: 2xx with a JSON object body
 * (or an empty body) gives KN_OK and *result; malformed JSON gives
 * KN_ERR_BAD_RESPONSE with an excerpt; other statuses give the service error
 * from "__type" and "message" (or "Message"), status and request id. Pure.
 */
kn_err_t kn_service_parse_reply(const kn_http_response_t *resp, cJSON **result, kn_error_t **err);

/* ---------------------------------------------------- typed-client helpers */

/**
 * What a typed client (Kinesis, DynamoDB) holds: transport and credential chain
 * (owned or borrowed), the call context, the resolved region and endpoint.
 */
typedef struct kn_service_client_s {
    kn_http_t *http;
    kn_creds_t *creds;
    int own_http, own_creds;
    kn_service_t *svc;
    char region[KN_REGION_MAX + 1];
    char endpoint[KN_URL_MAX + 1];
} kn_service_client_t;

/**
 * Fills *c for `service` ("kinesis", "dynamodb"): resolves region and endpoint
 * from conf and environment, borrows `http`/`creds` when not NULL or creates
 * them from conf, and makes the call context. On failure *c is cleared and
 * *err names the cause.
 */
kn_err_t kn_service_client_init(kn_service_client_t *c, const kn_conf_t *conf, const char *service,
                                const char *target_prefix, const char *content_type,
                                kn_http_t *http, kn_creds_t *creds, kn_error_t **err);
/** Releases what kn_service_client_init made (the transport first, ending calls in flight). */
void kn_service_client_clear(kn_service_client_t *c);

/**
 * Ends a typed call: moves `e` to *err (or frees it when err is NULL) and
 * returns rc. A failure without an error object gets a generic one; KN_OK
 * drops any stray object and sets *err to NULL.
 */
kn_err_t kn_service_give(kn_err_t rc, kn_error_t *e, kn_error_t **err);

/** Monotonic milliseconds, for deadlines of the wait helpers. */
int64_t kn_service_now_ms(void);

/**
 * Sleeps before the next poll of a wait helper: *pause_ms, cut at the deadline,
 * then grows it 1.5x up to KN_SERVICE_POLL_MAX_MS. Returns 0 (without sleeping)
 * once the deadline has passed.
 */
int kn_service_poll_pause(int64_t deadline_ms, int64_t *pause_ms);
#define KN_SERVICE_POLL_FIRST_MS 100
#define KN_SERVICE_POLL_MAX_MS   2000

/* -------------------------------------------------------------- streaming */

/**
 * A streaming call (SubscribeToShard): signed like any other call, never
 * retried, its 2xx body handed over chunk by chunk. All callbacks run on the
 * I/O thread.
 */
typedef struct kn_service_stream_cbs_s {
    /* The 2xx reply's headers arrived; data follows. May be NULL. */
    void (*on_open)(void *opaque, const kn_http_response_t *resp);
    /* A body chunk (consumed whatever is returned): KN_HTTP_CONTINUE, KN_HTTP_PAUSE
     * (stop reading until kn_service_stream_resume) or KN_HTTP_ABORT. */
    int (*on_data)(void *opaque, const uint8_t *data, size_t len);
    /*
     * Exactly once: err NULL when a 2xx body ended normally; else the transport
     * error, the cancellation, or the service error parsed from a non-2xx reply.
     * The stream handle is invalid once this returns.
     */
    void (*on_close)(void *opaque, const kn_error_t *err);
    void *opaque;
    int64_t idle_timeout_ms; /* KN_ERR_TIMED_OUT when nothing arrives this long unpaused; 0 none */
} kn_service_stream_cbs_t;

typedef struct kn_service_stream_s kn_service_stream_t;

/**
 * Starts streaming call `op` with JSON `body` (copied). On KN_OK *stream is the
 * handle for resume/cancel, valid until on_close returned; otherwise nothing
 * started and *err says why.
 */
kn_err_t kn_service_stream_start(kn_service_t *s, const char *op, const char *body,
                                 const kn_service_stream_cbs_t *cbs, kn_service_stream_t **stream,
                                 kn_error_t **err);
/** Resumes a stream paused by on_data returning KN_HTTP_PAUSE. Any thread. */
void kn_service_stream_resume(kn_service_stream_t *st);
/** Ends a stream early: on_close follows with KN_ERR_CANCELLED (unless closing). Any thread. */
void kn_service_stream_cancel(kn_service_stream_t *st);

#endif
