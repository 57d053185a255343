/*
 * The transport: one background I/O thread per kn_http_t driving a libcurl
 * multi handle. Keep-alive connections are reused; over TLS, HTTP/2 is
 * negotiated with ALPN and requests to one host multiplex on few connections.
 * On plain http:// (conf http.version=auto) ordinary requests use HTTP/1.1 and
 * streaming requests HTTP/2 with prior knowledge.
 *
 * Threads: kn_http_submit/resume/cancel may be called from any thread. Every
 * callback of a request (on_headers, on_data, on_done) runs on the I/O thread and
 * must not block; it may call kn_http_submit/resume/cancel.
 *
 * This is the only place in the SDK that touches sockets.
 */
#ifndef KN_HTTP_H
#define KN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "sigv4.h" /* kn_header_t */

/** Largest non-streamed reply body accepted; a larger one fails with KN_ERR_BAD_RESPONSE. */
#define KN_HTTP_MAX_BODY (64u * 1024 * 1024)

typedef struct kn_http_s kn_http_t;
typedef struct kn_http_req_s kn_http_req_t; /* an in-flight request */

typedef struct kn_http_response_s {
    int status;           /* HTTP status */
    int http_version;     /* 11 or 20, as negotiated */
    char *request_id;     /* x-amzn-RequestId (or x-amz-request-id), or NULL */
    char *content_type;   /* or NULL */
    uint8_t *body;        /* buffered body, NUL-terminated; for a streamed 2xx reply: empty */
    size_t body_len;
} kn_http_response_t;

enum { KN_HTTP_CONTINUE = 0, KN_HTTP_PAUSE = 1, KN_HTTP_ABORT = 2 };

typedef struct kn_http_request_s {
    const char *method;          /* "GET", "POST", "PUT" */
    const char *url;             /* absolute http:// or https:// URL */
    const kn_header_t *headers;  /* copied at submit */
    size_t nheaders;
    const uint8_t *body;         /* copied at submit */
    size_t body_len;
    /*
     * Streaming: a 2xx body is handed to on_data chunk by chunk and not buffered
     * (a non-2xx body is still buffered into the response, for error parsing).
     */
    int streaming;
    int64_t timeout_ms;      /* whole exchange; 0 = conf request.timeout.ms (streaming: none) */
    int64_t idle_timeout_ms; /* streaming: KN_ERR_TIMED_OUT when no byte arrives for this
                                long while not paused; 0 = none */
    /* Optional: status and headers known, before any on_data. Not for redirects. */
    void (*on_headers)(void *opaque, const kn_http_response_t *resp);
    /*
     * Streaming only. The chunk is consumed whatever is returned. KN_HTTP_PAUSE stops
     * reading after this chunk (HTTP/2 flow control then stops the server) until
     * kn_http_resume(); KN_HTTP_ABORT ends the request with KN_ERR_CANCELLED.
     */
    int (*on_data)(void *opaque, const uint8_t *data, size_t len);
    /*
     * Exactly once per submitted request. err is NULL when a reply was received,
     * whatever its status; else it says why not (KN_ERR_TRANSPORT, KN_ERR_TIMED_OUT,
     * KN_ERR_BAD_RESPONSE, KN_ERR_CANCELLED, KN_ERR_SHUTDOWN). resp may be NULL when
     * err is set. Both are owned by the transport and valid during the call only.
     */
    void (*on_done)(void *opaque, const kn_http_response_t *resp, const kn_error_t *err);
    void *opaque;
} kn_http_request_t;

/** Starts the I/O thread. NULL with *err set on failure. */
kn_http_t *kn_http_new(const kn_conf_t *conf, kn_error_t **err);
/**
 * Cancels everything in flight or delayed (on_done with KN_ERR_SHUTDOWN), stops
 * and joins the I/O thread. Must not be called from a callback. Accepts NULL.
 */
void kn_http_destroy(kn_http_t *h);

/**
 * Queues `req` to start after `delay_ms` (0: now). On KN_OK on_done will run
 * exactly once; *handle (if not NULL) identifies the request until then.
 * Errors: KN_ERR_INVALID_ARG, KN_ERR_NOMEM, KN_ERR_SHUTDOWN (no callback then).
 */
kn_err_t kn_http_submit(kn_http_t *h, const kn_http_request_t *req, int64_t delay_ms,
                        kn_http_req_t **handle);
/** Resumes a paused streaming request. Harmless on a finished handle until its on_done returned. */
void kn_http_resume(kn_http_t *h, kn_http_req_t *req);
/** Ends a request early: on_done with KN_ERR_CANCELLED (unless already done). */
void kn_http_cancel(kn_http_t *h, kn_http_req_t *req);

/**
 * Blocking convenience for non-streaming requests: submits, waits, and hands
 * over the response (*resp, free with kn_http_response_destroy) or the error
 * (*err, free with kn_error_destroy). Must not be called from a callback.
 */
kn_err_t kn_http_perform(kn_http_t *h, const kn_http_request_t *req, kn_http_response_t **resp,
                         kn_error_t **err);
void kn_http_response_destroy(kn_http_response_t *resp);

#endif
