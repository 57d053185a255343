/*
 * The transport: one background I/O thread per kn_http_t driving a libcurl
 * multi handle. Keep-alive connections are reused; over TLS, HTTP/2 is
 * negotiated with ALPN and requests to one host multiplex on few connections.
 * On plain http:// (conf http.version=auto) ordinary requests use HTTP/1.1 and
 * streaming requests HTTP/2 with prior knowledge. With libcurl before 8.0 (Debian
 * 12 ships 7.88) a reused h2c prior-knowledge connection fails (curl issue
 * #10634), so there each h2c request gets a connection of its own; over TLS
 * HTTP/2 multiplexes normally.
 *
 * Threads: kn_http_submit/resume/cancel may be called from any thread. Every
 * callback of a request (on_headers, on_data, on_done) runs on the I/O thread and
 * must not block; it may call kn_http_submit/resume/cancel (they take effect
 * after the callback returns), but not kn_http_perform or kn_http_destroy.
 *
 * Proxies: the standard variables are honoured as libcurl reads them
 * (http_proxy, https_proxy/HTTPS_PROXY, all_proxy, no_proxy/NO_PROXY; libcurl
 * ignores upper-case HTTP_PROXY on purpose). Redirects are never followed (a 3xx
 * is a reply).
 *
 * Logs (facility "http"): one debug line per request (method, URL without user
 * info or query, status or error, HTTP version, duration); at trace level the
 * request and response headers, with the values of Authorization,
 * X-Amz-Security-Token and other credential headers replaced by "[redacted]",
 * and the bodies unless the request is marked `sensitive`. Bodies are never
 * logged below trace.
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
/** Largest request body kn_http_submit accepts (KN_ERR_TOO_LARGE beyond). */
#define KN_HTTP_MAX_REQUEST_BODY (64u * 1024 * 1024)
/** Longest URL and longest "name: value" header line accepted (KN_ERR_TOO_LARGE). */
#define KN_HTTP_MAX_URL 8192
#define KN_HTTP_MAX_HEADER_LINE 16384
/** Most request headers accepted (KN_ERR_TOO_LARGE). */
#define KN_HTTP_MAX_HEADERS 128

typedef struct kn_http_s kn_http_t;
typedef struct kn_http_req_s kn_http_req_t; /* an in-flight request */

typedef struct kn_http_response_s {
    int status;           /* HTTP status */
    int http_version;     /* 10, 11 or 20, as negotiated */
    char *request_id;     /* x-amzn-RequestId (or x-amz-request-id), or NULL */
    char *content_type;   /* or NULL */
    uint8_t *body;        /* buffered body, NUL-terminated, never NULL; streamed 2xx reply: empty */
    size_t body_len;
} kn_http_response_t;

enum { KN_HTTP_CONTINUE = 0, KN_HTTP_PAUSE = 1, KN_HTTP_ABORT = 2 };

typedef struct kn_http_request_s {
    const char *method;          /* "GET", "POST", "PUT", "DELETE", "HEAD" (upper-case token) */
    const char *url;             /* absolute http:// or https:// URL */
    /*
     * Copied at submit. Names are tokens, values have no CR/LF; an empty value is
     * sent empty. Without a Content-Type none is sent (libcurl's form default is
     * suppressed). "Expect: 100-continue" is never sent; User-Agent defaults to
     * "kinesis-c/<version>".
     */
    const kn_header_t *headers;
    size_t nheaders;
    const uint8_t *body;         /* copied at submit, unless body_borrowed */
    size_t body_len;
    /*
     * The caller keeps body valid and unchanged until on_done has run, so it is
     * not copied (a PutRecords body is up to ~7 MB).
     */
    int body_borrowed;
    /*
     * Streaming: a 2xx body is handed to on_data chunk by chunk and not buffered
     * (a non-2xx body is still buffered into the response, for error parsing).
     */
    int streaming;
    int64_t timeout_ms;      /* whole exchange; 0 = conf request.timeout.ms (streaming: none) */
    int64_t idle_timeout_ms; /* streaming: KN_ERR_TIMED_OUT when no byte arrives for this
                                long while not paused; 0 = none */
    /*
     * Credential traffic (STS, IMDS, container credentials): request and reply
     * bodies are never logged, not even at trace level.
     */
    int sensitive;
    /* Largest buffered reply body; 0 or more than KN_HTTP_MAX_BODY = KN_HTTP_MAX_BODY. */
    size_t max_body;
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
     * KN_ERR_BAD_RESPONSE, KN_ERR_CANCELLED, KN_ERR_SHUTDOWN, KN_ERR_NOMEM). resp may
     * be NULL when err is set; when not NULL it holds what was received (status,
     * request id) and errors after the headers carry the status and request id too.
     * Both are owned by the transport and valid during the call only.
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
 * Queues `req` to start after `delay_ms` (0: now; requests due at the same time
 * start in submission order). On KN_OK on_done will run exactly once; *handle
 * (if not NULL, set before any callback can run) identifies the request until
 * on_done returns. Errors: KN_ERR_INVALID_ARG (NULL/malformed method, URL,
 * header, no on_done, streaming without on_data, negative times), KN_ERR_TOO_LARGE
 * (limits above), KN_ERR_NOMEM, KN_ERR_SHUTDOWN (no callback then).
 */
kn_err_t kn_http_submit(kn_http_t *h, const kn_http_request_t *req, int64_t delay_ms,
                        kn_http_req_t **handle);
/**
 * Resumes a paused streaming request (no effect when not paused). Harmless on a
 * finished handle as long as the call returns before its on_done returns (e.g.
 * both hold the caller's lock); after that the handle is gone.
 */
void kn_http_resume(kn_http_t *h, kn_http_req_t *req);
/**
 * Ends a request early, started or still delayed: on_done with KN_ERR_CANCELLED
 * (unless already done). Same handle validity rule as kn_http_resume.
 */
void kn_http_cancel(kn_http_t *h, kn_http_req_t *req);

/**
 * Blocking convenience for non-streaming requests: submits, waits, and hands
 * over the response (*resp, free with kn_http_response_destroy) or the error
 * (*err, free with kn_error_destroy; err may be NULL). req's callbacks and
 * opaque are ignored. Returns KN_OK when a reply (any status) was received, else
 * the error's code. Called on the I/O thread (from a callback) it returns
 * KN_ERR_STATE instead of deadlocking.
 */
kn_err_t kn_http_perform(kn_http_t *h, const kn_http_request_t *req, kn_http_response_t **resp,
                         kn_error_t **err);
/** Frees a response from kn_http_perform. Accepts NULL. */
void kn_http_response_destroy(kn_http_response_t *resp);

/**
 * Whether the caller runs on this transport's I/O thread (inside one of its
 * callbacks), where nothing may block. NULL: no.
 */
int kn_http_on_io_thread(const kn_http_t *h);

#endif
