/*
 * The transport: a libcurl multi handle driven by one I/O thread per kn_http_t.
 *
 * Ownership: a request (kn_http_req_t) is created by kn_http_submit and freed by
 * the I/O thread right after its on_done returns. Other threads only touch the
 * command fields (cmds, cmd_next, queued) and the queue head, under h->lock;
 * everything else of a request, the lists, the easy-handle pool and the multi
 * handle belong to the I/O thread.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"

#define FAC "http"
#define KN_HTTP_USER_AGENT "kinesis-c/" KN_VERSION_STR
#define KN_HTTP_MAX_METHOD 16
#define KN_HTTP_EASY_POOL 8                    /* idle easy handles kept for reuse */
#define KN_HTTP_POLL_MAX_MS 1000               /* longest sleep without a timer due */
#define KN_HTTP_BODY_INITIAL 4096              /* first buffer when the length is unknown */
#define KN_HTTP_BODY_PREALLOC_MAX (1u << 20)   /* trust a Content-Length this far up front */
#define KN_HTTP_MAX_META 1024                  /* longest request id / content type kept */
#define KN_HTTP_TRACE_BODY_MAX 1024            /* body bytes shown per trace line */
#define KN_HTTP_TCP_KEEPALIVE_S 60L
/* First libcurl that reuses h2c prior-knowledge connections (curl issue #10634). */
#define KN_CURL_H2C_REUSE_FIXED 0x080000

enum { REQ_NEW, REQ_DELAYED, REQ_ACTIVE, REQ_DONE };
enum { CMD_SUBMIT = 1, CMD_CANCEL = 2, CMD_RESUME = 4 };

struct kn_http_req_s {
    kn_http_t *h;
    /* Set at submit, read-only afterwards. */
    char *method;
    char *url;
    char *log_url;  /* scheme://host[:port]/path: no user info, query or fragment */
    char *hostport; /* for error messages */
    uint8_t *body;
    size_t body_len;
    int body_owned; /* body is our copy (else the caller's, borrowed) */
    struct curl_slist *headers;
    int streaming, sensitive, https, hand_over;
    int64_t start_at, timeout_ms, idle_timeout_ms;
    size_t max_body;
    void (*on_headers)(void *, const kn_http_response_t *);
    int (*on_data)(void *, const uint8_t *, size_t);
    void (*on_done)(void *, const kn_http_response_t *, const kn_error_t *);
    void *opaque;

    /* Command queue, under h->lock. */
    unsigned cmds;
    int queued;
    struct kn_http_req_s *cmd_next;

    /* I/O thread only. */
    int state;
    struct kn_http_req_s *next, *prev; /* in h->delayed or h->active */
    struct kn_http_req_s *work_next;   /* commands taken off the queue, being run */
    unsigned work_cmds;
    uint64_t streamed; /* bytes handed to on_data */
    CURL *easy;
    int64_t started_at, last_byte_at;
    int paused, headers_done;
    int64_t content_length; /* -1 unknown */
    kn_http_response_t *resp;
    size_t body_cap;
    kn_err_t fail; /* set by a callback that stopped the transfer */
    char fail_msg[128];
    char errbuf[CURL_ERROR_SIZE];
};

struct kn_http_s {
    kn_logger_t log;
    char *ca_file; /* NULL: system store */
    int tls_verify, version, trace;
    int h2c_no_reuse; /* libcurl < 8.0 breaks reused h2c prior-knowledge connections */
    int64_t connect_timeout_ms, request_timeout_ms;
    long max_connections;
    CURLM *multi;
    pthread_t thread;

    pthread_mutex_t lock;
    kn_http_req_t *cmd_head, *cmd_tail;
    int stopping;

    /* I/O thread only. */
    kn_http_req_t *delayed; /* by start_at, submission order among equals */
    kn_http_req_t *active;
    CURL *pool[KN_HTTP_EASY_POOL];
    int npool;
};

/* Handed to on_done when even the error object cannot be allocated. */
static const struct kn_error_s oom_error = {KN_ERR_NOMEM, 0, 0, NULL, (char *)"out of memory",
                                            NULL};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
    /* Never cleaned up: other libraries in the process may use libcurl too. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sat_add(int64_t a, int64_t b) {
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ------------------------------------------------------------ responses */

void kn_http_response_destroy(kn_http_response_t *resp) {
    if (!resp)
        return;
    free(resp->request_id);
    free(resp->content_type);
    free(resp->body);
    free(resp);
}

static void req_free(kn_http_req_t *r) {
    if (!r)
        return;
    free(r->method);
    free(r->url);
    free(r->log_url);
    free(r->hostport);
    if (r->body_owned)
        free(r->body);
    curl_slist_free_all(r->headers);
    kn_http_response_destroy(r->resp);
    free(r);
}

/* --------------------------------------------------------------- logging */

/* Header names whose values are credentials. Substring match: also catches
 * Proxy-Authorization and Set-Cookie. */
static const char *const secret_headers[] = {"authorization", "x-amz-security-token",
                                             "x-aws-ec2-metadata-token", "cookie"};

/*
 * Length of `line` to show before "[redacted]", or len when nothing is secret.
 * Matches "name:" anywhere, because libcurl's own HTTP/2 text lines print
 * headers as "[name: value]".
 */
static size_t redact_at(const char *line, size_t len) {
    for (size_t i = 0; i < sizeof(secret_headers) / sizeof(secret_headers[0]); i++) {
        size_t n = strlen(secret_headers[i]);
        for (size_t p = 0; p + n <= len; p++) {
            if (strncasecmp(line + p, secret_headers[i], n))
                continue;
            size_t q = p + n;
            while (q < len && line[q] == ' ')
                q++;
            if (q < len && line[q] == ':')
                return q + 1;
        }
    }
    return len;
}

static void trace_lines(const kn_http_req_t *r, const char *dir, const char *data, size_t size) {
    while (size) {
        size_t n = 0;
        while (n < size && data[n] != '\n')
            n++;
        size_t len = n;
        while (len && (data[len - 1] == '\r'))
            len--;
        if (len) {
            size_t show = redact_at(data, len);
            kn_log(&r->h->log, KN_LOG_TRACE, FAC, "%s %.*s%s", dir, (int)show, data,
                   show < len ? " [redacted]" : "");
        }
        data += n < size ? n + 1 : n;
        size -= n < size ? n + 1 : n;
    }
}

static void trace_body(const kn_http_req_t *r, const char *dir, const char *data, size_t size) {
    char out[KN_HTTP_TRACE_BODY_MAX * 4 + 1];
    size_t o = 0, shown = size < KN_HTTP_TRACE_BODY_MAX ? size : KN_HTTP_TRACE_BODY_MAX;
    /* A body can quote headers too (an echo, an error page). */
    size_t cut = redact_at(data, shown);
    int redacted = cut < shown;
    shown = cut;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
    }
    out[o] = 0;
    kn_log(&r->h->log, KN_LOG_TRACE, FAC, "%s body (%zu bytes): %s%s", dir, size, out,
           redacted ? " [redacted]..." : shown < size ? "..." : "");
}

static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *ud) {
    (void)easy;
    const kn_http_req_t *r = ud;
    switch (type) {
    case CURLINFO_TEXT: trace_lines(r, "*", data, size); break;
    case CURLINFO_HEADER_OUT: trace_lines(r, ">", data, size); break;
    case CURLINFO_HEADER_IN: trace_lines(r, "<", data, size); break;
    case CURLINFO_DATA_OUT:
        if (!r->sensitive)
            trace_body(r, ">", data, size);
        break;
    case CURLINFO_DATA_IN:
        if (!r->sensitive)
            trace_body(r, "<", data, size);
        break;
    default: break; /* TLS records */
    }
    return 0;
}

static void log_done(const kn_http_req_t *r, const kn_error_t *err) {
    if (!kn_log_enabled(&r->h->log, KN_LOG_DEBUG))
        return;
    int64_t ms = r->started_at ? now_ms() - r->started_at : 0;
    const kn_http_response_t *resp = r->resp;
    if (err) {
        kn_log(&r->h->log, KN_LOG_DEBUG, FAC, "%s %s -> %s: %s (%" PRId64 " ms)", r->method,
               r->log_url, kn_err2name(kn_error_code(err)), kn_error_message(err), ms);
        return;
    }
    char version[8];
    snprintf(version, sizeof(version), resp->http_version >= 20 ? "%d" : "%d.%d",
             resp->http_version / 10, resp->http_version % 10);
    kn_log(&r->h->log, KN_LOG_DEBUG, FAC,
           "%s %s -> %d HTTP/%s, %" PRIu64 " bytes (%" PRId64 " ms%s%s)", r->method, r->log_url,
           resp->status, version, r->streamed + resp->body_len, ms,
           resp->request_id ? ", request id " : "", resp->request_id ? resp->request_id : "");
}

/* -------------------------------------------------------------- finishing */

static void list_unlink(kn_http_req_t **head, kn_http_req_t *r) {
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static void list_push(kn_http_req_t **head, kn_http_req_t *r) {
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void pool_put(kn_http_t *h, CURL *easy) {
    if (h->npool < KN_HTTP_EASY_POOL) {
        curl_easy_reset(easy);
        h->pool[h->npool++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

/* Detaches r from curl and the lists; r stays allocated. */
static void req_detach(kn_http_t *h, kn_http_req_t *r) {
    if (r->state == REQ_ACTIVE) {
        curl_multi_remove_handle(h->multi, r->easy);
        pool_put(h, r->easy);
        r->easy = NULL;
        list_unlink(&h->active, r);
    } else if (r->state == REQ_DELAYED) {
        list_unlink(&h->delayed, r);
    }
    r->state = REQ_DONE;
}

/* An error object for r: after the headers it carries the status and request id. */
static kn_error_t *req_error(const kn_http_req_t *r, kn_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static kn_error_t *req_error(const kn_http_req_t *r, kn_err_t code, const char *fmt, ...) {
    char msg[CURL_ERROR_SIZE + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kn_error_t *e = kn_error_new(code, "%s", msg);
    if (e && r->resp && r->resp->status) {
        e->http_status = r->resp->status;
        if (r->resp->request_id)
            e->request_id = strdup(r->resp->request_id);
    }
    return e;
}

/* Runs on_done exactly once and frees r. `err` (owned) NULL = a reply was received. */
static void req_finish(kn_http_t *h, kn_http_req_t *r, kn_error_t *err, int oom) {
    req_detach(h, r);
    const kn_error_t *e = oom && !err ? &oom_error : err;
    kn_http_response_t *resp = r->resp;
    if (resp && !resp->body) {
        resp->body = calloc(1, 1);
        if (!resp->body && !e)
            e = &oom_error;
    }
    if (e && (!resp || !resp->status || !resp->body))
        resp = NULL;
    log_done(r, e);
    r->on_done(r->opaque, resp, e);
    kn_error_destroy(err);
    if (r->hand_over && resp)
        r->resp = NULL; /* kn_http_perform took it */
    pthread_mutex_lock(&h->lock);
    if (r->queued) {
        kn_http_req_t **pp = &h->cmd_head, *prev = NULL;
        while (*pp != r) {
            prev = *pp;
            pp = &(*pp)->cmd_next;
        }
        *pp = r->cmd_next;
        if (h->cmd_tail == r)
            h->cmd_tail = prev;
    }
    pthread_mutex_unlock(&h->lock);
    req_free(r);
}

static void req_fail(kn_http_t *h, kn_http_req_t *r, kn_err_t code, const char *msg) {
    req_finish(h, r, req_error(r, code, "%s (%s)", msg, r->hostport), 1);
}

/* ------------------------------------------------------------- callbacks */

static void set_fail(kn_http_req_t *r, kn_err_t code, const char *msg) {
    r->fail = code;
    snprintf(r->fail_msg, sizeof(r->fail_msg), "%s", msg);
}

static int buffered(const kn_http_req_t *r) {
    return !r->streaming || r->resp->status < 200 || r->resp->status > 299;
}

static char *dup_meta(const char *v, size_t n) {
    return strndup(v, n < KN_HTTP_MAX_META ? n : KN_HTTP_MAX_META);
}

/* The final status and headers are in: size the body buffer, tell on_headers. */
static int headers_complete(kn_http_req_t *r) {
    r->headers_done = 1;
    kn_http_response_t *resp = r->resp;
    size_t cap = 1;
    if (buffered(r)) {
        if (r->content_length > (int64_t)r->max_body && strcmp(r->method, "HEAD")) {
            char msg[96];
            snprintf(msg, sizeof(msg), "reply body of %" PRId64 " bytes exceeds the limit of %zu",
                     r->content_length, r->max_body);
            set_fail(r, KN_ERR_BAD_RESPONSE, msg);
            return 0;
        }
        int64_t cl = r->content_length;
        if (cl > (int64_t)KN_HTTP_BODY_PREALLOC_MAX)
            cl = KN_HTTP_BODY_PREALLOC_MAX;
        cap = cl >= 0 ? (size_t)cl + 1 : KN_HTTP_BODY_INITIAL;
    }
    resp->body = calloc(1, cap);
    if (!resp->body) {
        set_fail(r, KN_ERR_NOMEM, "out of memory for the reply body");
        return 0;
    }
    r->body_cap = cap;
    if (r->on_headers)
        r->on_headers(r->opaque, resp);
    return 1;
}

/* "HTTP/1.1 200 OK", "HTTP/2 200": version as 11/20 and the status. */
static void parse_status_line(kn_http_req_t *r, const char *line, size_t len) {
    const char *p = line + 5, *end = line + len;
    int major = 0, minor = 0;
    if (p < end && isdigit((unsigned char)*p))
        major = *p++ - '0';
    if (p + 1 < end && *p == '.' && isdigit((unsigned char)p[1])) {
        minor = p[1] - '0';
        p += 2;
    }
    int status = 0;
    while (p < end && *p == ' ')
        p++;
    for (int i = 0; i < 3 && p < end && isdigit((unsigned char)*p); i++)
        status = status * 10 + (*p++ - '0');
    kn_http_response_t *resp = r->resp;
    resp->status = status;
    resp->http_version = major * 10 + minor;
    free(resp->request_id);
    free(resp->content_type);
    resp->request_id = resp->content_type = NULL;
    r->content_length = -1;
}

static void parse_header(kn_http_req_t *r, const char *line, size_t len) {
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    kn_http_response_t *resp = r->resp;
#define IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(line, name, nlen))
    if (IS("x-amzn-requestid") || (IS("x-amz-request-id") && !resp->request_id)) {
        free(resp->request_id);
        resp->request_id = dup_meta(v, vlen);
    } else if (IS("content-type")) {
        free(resp->content_type);
        resp->content_type = dup_meta(v, vlen);
    } else if (IS("content-length")) {
        int64_t n = 0;
        for (const char *p = v; p < end && isdigit((unsigned char)*p); p++)
            n = n > (INT64_MAX - 9) / 10 ? INT64_MAX : n * 10 + (*p - '0');
        r->content_length = n;
    }
#undef IS
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
    kn_http_req_t *r = ud;
    size_t len = size * n, l = len;
    if (!r->paused)
        r->last_byte_at = now_ms();
    if (r->headers_done)
        return len; /* trailers */
    while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
        l--;
    if (l >= 5 && !strncmp(buf, "HTTP/", 5))
        parse_status_line(r, buf, l);
    else if (l)
        parse_header(r, buf, l);
    else if (r->resp->status >= 200) /* the blank line ending a final response */
        return headers_complete(r) ? len : 0;
    return len;
}

static int body_append(kn_http_req_t *r, const char *data, size_t len) {
    kn_http_response_t *resp = r->resp;
    if (len > r->max_body - resp->body_len) {
        char msg[64];
        snprintf(msg, sizeof(msg), "reply body exceeds the limit of %zu bytes", r->max_body);
        set_fail(r, KN_ERR_BAD_RESPONSE, msg);
        return 0;
    }
    size_t need = resp->body_len + len + 1;
    if (need > r->body_cap) {
        size_t cap = r->body_cap;
        while (cap < need)
            cap = cap > (r->max_body + 1) / 2 ? r->max_body + 1 : cap * 2;
        uint8_t *nb = realloc(resp->body, cap);
        if (!nb) {
            set_fail(r, KN_ERR_NOMEM, "out of memory for the reply body");
            return 0;
        }
        resp->body = nb;
        r->body_cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, len);
    resp->body_len += len;
    resp->body[resp->body_len] = 0;
    return 1;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    kn_http_req_t *r = ud;
    size_t len = size * n;
    if (r->paused)
        return CURL_WRITEFUNC_PAUSE; /* libcurl keeps it and hands it over again on resume */
    r->last_byte_at = now_ms();
    if (!r->headers_done && !headers_complete(r))
        return 0;
    if (buffered(r))
        return body_append(r, data, len) ? len : 0;
    r->streamed += len;
    int rc = r->on_data(r->opaque, (const uint8_t *)data, len);
    if (rc == KN_HTTP_ABORT) {
        set_fail(r, KN_ERR_CANCELLED, "aborted by the receiver");
        return 0;
    }
    if (rc == KN_HTTP_PAUSE) {
        /* Consumes this chunk and stops reading: on HTTP/2 the stream window closes. */
        r->paused = 1;
        curl_easy_pause(r->easy, CURLPAUSE_RECV);
    }
    return len;
}

/* ------------------------------------------------------------- starting */

static long curl_version_for(const kn_http_t *h, const kn_http_req_t *r) {
    switch (h->version) {
    case KN_HTTP_1_1: return CURL_HTTP_VERSION_1_1;
    case KN_HTTP_2: return r->https ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    default:
        if (r->https)
            return CURL_HTTP_VERSION_2TLS;
        /* kinesis-local hangs on "Upgrade: h2c" for POSTs, so no upgrade dance. */
        return r->streaming ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1;
    }
}

static int easy_setup(kn_http_t *h, kn_http_req_t *r, CURL *e) {
    int ok = 1;
#define SET(opt, val) (ok &= curl_easy_setopt(e, opt, val) == CURLE_OK)
    long version = curl_version_for(h, r);
    r->errbuf[0] = 0;
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, KN_HTTP_USER_AGENT);
    SET(CURLOPT_HTTPHEADER, r->headers);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTP_VERSION, version);
    if (version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE && h->h2c_no_reuse) {
        /* libcurl 7.88 sets up a second HTTP/2 layer on a reused h2c connection and
         * fails the request ("Error in the HTTP2 framing layer"): one connection each. */
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    } else if (version != CURL_HTTP_VERSION_1_1) {
        SET(CURLOPT_PIPEWAIT, 1L); /* wait to multiplex rather than open a connection */
    }
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, KN_HTTP_TCP_KEEPALIVE_S);
    SET(CURLOPT_TCP_KEEPINTVL, KN_HTTP_TCP_KEEPALIVE_S);
    SET(CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L);
    if (h->ca_file)
        SET(CURLOPT_CAINFO, h->ca_file);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_PRIVATE, r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    if (h->trace) {
        SET(CURLOPT_DEBUGFUNCTION, on_debug);
        SET(CURLOPT_DEBUGDATA, r);
        SET(CURLOPT_VERBOSE, 1L);
    }
    const char *body = r->body ? (const char *)r->body : "";
    if (!strcmp(r->method, "GET")) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(r->method, "HEAD")) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(r->method, "POST"))
            SET(CURLOPT_CUSTOMREQUEST, r->method);
        if (r->body_len || strcmp(r->method, "DELETE")) {
            SET(CURLOPT_POSTFIELDS, body);
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        }
    }
#undef SET
    return ok;
}

static void req_start(kn_http_t *h, kn_http_req_t *r) {
    CURL *e = h->npool ? h->pool[--h->npool] : curl_easy_init();
    if (!e || !easy_setup(h, r, e) || curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        if (e)
            pool_put(h, e);
        req_fail(h, r, KN_ERR_NOMEM, "could not set up the transfer");
        return;
    }
    r->easy = e;
    r->state = REQ_ACTIVE;
    r->started_at = r->last_byte_at = now_ms();
    list_push(&h->active, r);
}

static void delayed_insert(kn_http_t *h, kn_http_req_t *r) {
    r->state = REQ_DELAYED;
    kn_http_req_t *prev = NULL, *cur = h->delayed;
    while (cur && cur->start_at <= r->start_at) {
        prev = cur;
        cur = cur->next;
    }
    r->prev = prev;
    r->next = cur;
    if (cur)
        cur->prev = r;
    if (prev)
        prev->next = r;
    else
        h->delayed = r;
}

/* ---------------------------------------------------------- I/O thread */

static void on_resume(kn_http_t *h, kn_http_req_t *r) {
    if (r->state != REQ_ACTIVE || !r->paused)
        return;
    r->paused = 0;
    r->last_byte_at = now_ms();
    /* May hand held-back data to on_data right here. */
    CURLcode rc = curl_easy_pause(r->easy, CURLPAUSE_CONT);
    if (r->fail)
        req_fail(h, r, r->fail, r->fail_msg);
    else if (rc != CURLE_OK)
        req_fail(h, r, KN_ERR_TRANSPORT, curl_easy_strerror(rc));
}

/* Runs queued commands; returns 0 once destroy was asked for. */
static int drain_commands(kn_http_t *h) {
    /* Take the whole queue; commands posted meanwhile queue the request again. */
    pthread_mutex_lock(&h->lock);
    kn_http_req_t *list = h->cmd_head;
    h->cmd_head = h->cmd_tail = NULL;
    int stopping = h->stopping;
    for (kn_http_req_t *r = list; r; r = r->cmd_next) {
        r->queued = 0;
        r->work_next = r->cmd_next;
        r->work_cmds = r->cmds;
        r->cmds = 0;
    }
    pthread_mutex_unlock(&h->lock);

    int64_t now = now_ms();
    while (list) {
        kn_http_req_t *r = list;
        list = r->work_next;
        unsigned cmds = r->work_cmds;
        if (stopping) {
            if (cmds & CMD_SUBMIT)
                req_fail(h, r, KN_ERR_SHUTDOWN, "transport shut down");
            continue;
        }
        if (cmds & CMD_CANCEL) {
            req_fail(h, r, KN_ERR_CANCELLED, "request cancelled");
            continue;
        }
        if (cmds & CMD_SUBMIT) {
            if (r->start_at > now)
                delayed_insert(h, r);
            else
                req_start(h, r);
        } else if (cmds & CMD_RESUME) {
            on_resume(h, r);
        }
    }
    return !stopping;
}

static void start_due(kn_http_t *h, int64_t now) {
    while (h->delayed && h->delayed->start_at <= now) {
        kn_http_req_t *r = h->delayed;
        list_unlink(&h->delayed, r);
        r->state = REQ_NEW;
        req_start(h, r);
    }
}

static int idle_watched(const kn_http_req_t *r) {
    return r->streaming && r->idle_timeout_ms > 0 && !r->paused;
}

static void expire_idle(kn_http_t *h, int64_t now) {
    kn_http_req_t *r = h->active;
    while (r) {
        kn_http_req_t *next = r->next;
        if (idle_watched(r) && now - r->last_byte_at >= r->idle_timeout_ms) {
            char msg[64];
            snprintf(msg, sizeof(msg), "no data for %" PRId64 " ms", r->idle_timeout_ms);
            req_fail(h, r, KN_ERR_TIMED_OUT, msg);
        }
        r = next;
    }
}

static int next_wait_ms(const kn_http_t *h, int64_t now) {
    int64_t due = sat_add(now, KN_HTTP_POLL_MAX_MS);
    if (h->delayed && h->delayed->start_at < due)
        due = h->delayed->start_at;
    for (const kn_http_req_t *r = h->active; r; r = r->next)
        if (idle_watched(r) && sat_add(r->last_byte_at, r->idle_timeout_ms) < due)
            due = sat_add(r->last_byte_at, r->idle_timeout_ms);
    return due <= now ? 0 : (int)(due - now);
}

static kn_err_t map_curl_error(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return KN_ERR_TIMED_OUT;
    case CURLE_OUT_OF_MEMORY: return KN_ERR_NOMEM;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return KN_ERR_BAD_RESPONSE;
    default: return KN_ERR_TRANSPORT; /* connect, DNS, TLS, send, recv, h2 stream errors */
    }
}

static void req_complete(kn_http_t *h, kn_http_req_t *r, CURLcode rc) {
    if (rc == CURLE_OK) {
        long v = 0;
        if (curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &v) == CURLE_OK && v)
            r->resp->http_version = v == CURL_HTTP_VERSION_1_0   ? 10
                                    : v == CURL_HTTP_VERSION_1_1 ? 11
                                    : v == CURL_HTTP_VERSION_2_0 ? 20
                                                                 : 30;
        if (!r->headers_done)
            req_fail(h, r, KN_ERR_BAD_RESPONSE, "reply ended before its headers");
        else
            req_finish(h, r, NULL, 0);
        return;
    }
    if (r->fail) {
        req_fail(h, r, r->fail, r->fail_msg);
        return;
    }
    req_finish(h, r,
               req_error(r, map_curl_error(rc), "%s: %s", r->hostport,
                         r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc)),
               1);
}

static void reap(kn_http_t *h) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            req_complete(h, (kn_http_req_t *)priv, m->data.result);
    }
}

static void shut_down(kn_http_t *h) {
    while (h->active)
        req_fail(h, h->active, KN_ERR_SHUTDOWN, "transport shut down");
    while (h->delayed)
        req_fail(h, h->delayed, KN_ERR_SHUTDOWN, "transport shut down");
    /* Submits after `stopping` are refused, so a last drain empties the queue. */
    drain_commands(h);
}

static void *io_main(void *arg) {
    kn_http_t *h = arg;
    while (drain_commands(h)) {
        int64_t now = now_ms();
        start_due(h, now);
        expire_idle(h, now);
        int running;
        curl_multi_perform(h->multi, &running);
        reap(h);
        curl_multi_poll(h->multi, NULL, 0, next_wait_ms(h, now_ms()), NULL);
    }
    shut_down(h);
    return NULL;
}

/* ------------------------------------------------------------ public API */

static void set_err(kn_error_t **err, kn_error_t *e) {
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
}

kn_http_t *kn_http_new(const kn_conf_t *conf, kn_error_t **err) {
    if (err)
        *err = NULL;
    if (!conf) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG, "kn_http_new: conf is NULL"));
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    kn_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        set_err(err, kn_error_new(KN_ERR_NOMEM, "out of memory"));
        return NULL;
    }
    h->log = kn_conf_logger(conf);
    h->trace = kn_log_enabled(&h->log, KN_LOG_TRACE);
    h->tls_verify = conf->tls_verify;
    h->version = conf->http_version;
    h->connect_timeout_ms = conf->connect_timeout_ms;
    h->request_timeout_ms = conf->request_timeout_ms;
    h->max_connections = (long)conf->max_connections;
    h->h2c_no_reuse = curl_version_info(CURLVERSION_NOW)->version_num < KN_CURL_H2C_REUSE_FIXED;
    const char *ca = conf->ca_file && *conf->ca_file ? conf->ca_file : getenv("AWS_CA_BUNDLE");
    if (ca && *ca) {
        if (access(ca, R_OK)) {
            set_err(err, kn_error_new(KN_ERR_FILE, "CA file %s: %s", ca, strerror(errno)));
            free(h);
            return NULL;
        }
        if (!(h->ca_file = strdup(ca))) {
            set_err(err, kn_error_new(KN_ERR_NOMEM, "out of memory"));
            free(h);
            return NULL;
        }
    }
    h->multi = curl_multi_init();
    if (!h->multi || curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) ||
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->max_connections)) {
        set_err(err, kn_error_new(KN_ERR_NOMEM, "could not create the libcurl multi handle"));
        curl_multi_cleanup(h->multi);
        free(h->ca_file);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    int rc = pthread_create(&h->thread, NULL, io_main, h);
    if (rc) {
        set_err(err, kn_error_new(KN_ERR_NOMEM, "could not start the I/O thread: %s",
                                  strerror(rc)));
        pthread_mutex_destroy(&h->lock);
        curl_multi_cleanup(h->multi);
        free(h->ca_file);
        free(h);
        return NULL;
    }
    if (!h->tls_verify)
        KN_LOG_WARN(&h->log, FAC, "TLS certificate verification is off (tls.verify=false)");
    return h;
}

void kn_http_destroy(kn_http_t *h) {
    if (!h)
        return;
    if (pthread_equal(pthread_self(), h->thread)) {
        KN_LOG_ERR(&h->log, FAC, "kn_http_destroy called from a transport callback: ignored");
        return;
    }
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_mutex_unlock(&h->lock);
    curl_multi_wakeup(h->multi);
    pthread_join(h->thread, NULL);
    for (int i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    curl_multi_cleanup(h->multi);
    pthread_mutex_destroy(&h->lock);
    free(h->ca_file);
    free(h);
}

static int is_token_char(unsigned char c) {
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

static int valid_method(const char *m) {
    size_t n = strlen(m);
    if (!n || n > KN_HTTP_MAX_METHOD)
        return 0;
    for (const char *p = m; *p; p++)
        if (!isupper((unsigned char)*p))
            return 0;
    return 1;
}

/* Builds the curl header list; returns KN_OK or the reason not. */
static kn_err_t build_headers(const kn_http_request_t *req, struct curl_slist **out) {
    if (req->nheaders > KN_HTTP_MAX_HEADERS)
        return KN_ERR_TOO_LARGE;
    if (req->nheaders && !req->headers)
        return KN_ERR_INVALID_ARG;
    int has_type = 0, has_expect = 0;
    char line[KN_HTTP_MAX_HEADER_LINE + 2];
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        if (!name || !*name || !value)
            goto invalid;
        for (const char *p = name; *p; p++)
            if (!is_token_char((unsigned char)*p))
                goto invalid;
        for (const char *p = value; *p; p++)
            if (*p == '\r' || *p == '\n')
                goto invalid;
        has_type |= !strcasecmp(name, "Content-Type");
        has_expect |= !strcasecmp(name, "Expect");
        /* "Name;" is libcurl's spelling of a header with an empty value. */
        int n = *value ? snprintf(line, sizeof(line), "%s: %s", name, value)
                       : snprintf(line, sizeof(line), "%s;", name);
        if (n < 0 || (size_t)n > KN_HTTP_MAX_HEADER_LINE) {
            curl_slist_free_all(list);
            return KN_ERR_TOO_LARGE;
        }
        struct curl_slist *l = curl_slist_append(list, line);
        if (!l)
            goto nomem;
        list = l;
    }
    /* "Name:" removes a header libcurl would add. */
    const char *removals[] = {has_expect ? NULL : "Expect:", has_type ? NULL : "Content-Type:"};
    for (size_t i = 0; i < sizeof(removals) / sizeof(removals[0]); i++) {
        if (!removals[i])
            continue;
        struct curl_slist *l = curl_slist_append(list, removals[i]);
        if (!l)
            goto nomem;
        list = l;
    }
    *out = list;
    return KN_OK;
invalid:
    curl_slist_free_all(list);
    return KN_ERR_INVALID_ARG;
nomem:
    curl_slist_free_all(list);
    return KN_ERR_NOMEM;
}

/* Checks the URL; extracts "host:port" for errors and the URL to log. */
static kn_err_t parse_url(kn_http_req_t *r) {
    if (strlen(r->url) > KN_HTTP_MAX_URL)
        return KN_ERR_TOO_LARGE;
    if (strncasecmp(r->url, "http://", 7) && strncasecmp(r->url, "https://", 8))
        return KN_ERR_INVALID_ARG;
    r->https = !strncasecmp(r->url, "https://", 8);
    CURLU *u = curl_url();
    if (!u)
        return KN_ERR_NOMEM;
    char *host = NULL, *port = NULL, *path = NULL;
    kn_err_t rc = KN_ERR_INVALID_ARG;
    if (curl_url_set(u, CURLUPART_URL, r->url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
        /* Show the port only when the URL names it. */
        char *given = NULL;
        int explicit_port = curl_url_get(u, CURLUPART_PORT, &given, 0) == CURLUE_OK;
        curl_free(given);
        rc = KN_OK;
        if (asprintf(&r->hostport, "%s:%s", host, port) < 0) {
            r->hostport = NULL;
            rc = KN_ERR_NOMEM;
        } else if (asprintf(&r->log_url, "%s://%s%s%s%s", r->https ? "https" : "http", host,
                            explicit_port ? ":" : "", explicit_port ? port : "", path) < 0) {
            r->log_url = NULL;
            rc = KN_ERR_NOMEM;
        }
    }
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static kn_err_t req_new(const kn_http_t *h, const kn_http_request_t *req, int64_t delay_ms,
                        kn_http_req_t **out) {
    if (!req->method || !req->url || !req->on_done || (req->streaming && !req->on_data) ||
        (req->body_len && !req->body) || req->timeout_ms < 0 || req->idle_timeout_ms < 0 ||
        delay_ms < 0 || !valid_method(req->method))
        return KN_ERR_INVALID_ARG;
    if (req->body_len > KN_HTTP_MAX_REQUEST_BODY)
        return KN_ERR_TOO_LARGE;
    kn_http_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return KN_ERR_NOMEM;
    r->h = (kn_http_t *)h;
    r->method = strdup(req->method);
    r->url = strdup(req->url);
    r->resp = calloc(1, sizeof(*r->resp));
    if (req->body_len && req->body_borrowed) {
        r->body = (uint8_t *)req->body; /* never written: only handed to libcurl */
    } else if (req->body_len && (r->body = malloc(req->body_len))) {
        memcpy(r->body, req->body, req->body_len);
        r->body_owned = 1;
    }
    if (!r->method || !r->url || !r->resp || (req->body_len && !r->body)) {
        req_free(r);
        return KN_ERR_NOMEM;
    }
    kn_err_t rc = parse_url(r);
    if (rc == KN_OK)
        rc = build_headers(req, &r->headers);
    if (rc != KN_OK) {
        req_free(r);
        return rc;
    }
    r->body_len = req->body_len;
    r->streaming = req->streaming;
    r->sensitive = req->sensitive;
    r->timeout_ms = req->timeout_ms ? req->timeout_ms : req->streaming ? 0 : h->request_timeout_ms;
    r->idle_timeout_ms = req->idle_timeout_ms;
    r->max_body =
        req->max_body && req->max_body < KN_HTTP_MAX_BODY ? req->max_body : KN_HTTP_MAX_BODY;
    r->on_headers = req->on_headers;
    r->on_data = req->on_data;
    r->on_done = req->on_done;
    r->opaque = req->opaque;
    r->content_length = -1;
    r->start_at = sat_add(now_ms(), delay_ms);
    *out = r;
    return KN_OK;
}

/*
 * Queues `cmd` for r and wakes the I/O thread; sets *handle under the lock so
 * it is in place before any callback. Returns 0 (nothing queued) once destroy
 * began: everything left is then being finished with KN_ERR_SHUTDOWN.
 */
static int post_command(kn_http_t *h, kn_http_req_t *r, unsigned cmd, kn_http_req_t **handle) {
    pthread_mutex_lock(&h->lock);
    int open = !h->stopping;
    if (open) {
        r->cmds |= cmd;
        if (!r->queued) {
            r->queued = 1;
            r->cmd_next = NULL;
            if (h->cmd_tail)
                h->cmd_tail->cmd_next = r;
            else
                h->cmd_head = r;
            h->cmd_tail = r;
        }
        if (handle)
            *handle = r;
    }
    pthread_mutex_unlock(&h->lock);
    if (open)
        curl_multi_wakeup(h->multi);
    return open;
}

static kn_err_t submit(kn_http_t *h, const kn_http_request_t *req, int64_t delay_ms,
                       kn_http_req_t **handle, int hand_over) {
    if (!h || !req)
        return KN_ERR_INVALID_ARG;
    kn_http_req_t *r;
    kn_err_t rc = req_new(h, req, delay_ms, &r);
    if (rc != KN_OK)
        return rc;
    r->hand_over = hand_over;
    if (!post_command(h, r, CMD_SUBMIT, handle)) {
        req_free(r);
        return KN_ERR_SHUTDOWN;
    }
    return KN_OK;
}

kn_err_t kn_http_submit(kn_http_t *h, const kn_http_request_t *req, int64_t delay_ms,
                        kn_http_req_t **handle) {
    return submit(h, req, delay_ms, handle, 0);
}

void kn_http_resume(kn_http_t *h, kn_http_req_t *req) {
    if (h && req)
        post_command(h, req, CMD_RESUME, NULL);
}

void kn_http_cancel(kn_http_t *h, kn_http_req_t *req) {
    if (h && req)
        post_command(h, req, CMD_CANCEL, NULL);
}

/* ---------------------------------------------------------------- perform */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    kn_err_t code;
    kn_http_response_t *resp;
    kn_error_t *err;
} waiter_t;

static void perform_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    waiter_t *w = opaque;
    pthread_mutex_lock(&w->lock);
    w->code = err ? kn_error_code(err) : KN_OK;
    w->err = err ? kn_error_copy(err) : NULL;
    w->resp = (kn_http_response_t *)resp; /* handed over: the request is marked hand_over */
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int kn_http_on_io_thread(const kn_http_t *h) {
    return h && pthread_equal(pthread_self(), h->thread);
}

kn_err_t kn_http_perform(kn_http_t *h, const kn_http_request_t *req, kn_http_response_t **resp,
                         kn_error_t **err) {
    if (resp)
        *resp = NULL;
    if (err)
        *err = NULL;
    if (!h || !req || !resp || req->streaming) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG,
                                  "kn_http_perform: NULL argument or streaming request"));
        return KN_ERR_INVALID_ARG;
    }
    if (pthread_equal(pthread_self(), h->thread)) {
        set_err(err, kn_error_new(KN_ERR_STATE, "kn_http_perform called on the transport thread"));
        return KN_ERR_STATE;
    }
    waiter_t w = {.code = KN_OK};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    kn_http_request_t copy = *req;
    copy.on_headers = NULL;
    copy.on_data = NULL;
    copy.on_done = perform_done;
    copy.opaque = &w;
    kn_err_t rc = submit(h, &copy, 0, NULL, 1);
    if (rc == KN_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = w.code;
    } else {
        w.err = kn_error_new(rc, "request not submitted: %s", kn_err2str(rc));
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    if (rc == KN_OK) {
        *resp = w.resp;
    } else {
        kn_http_response_destroy(w.resp);
        set_err(err, w.err);
    }
    return rc;
}
