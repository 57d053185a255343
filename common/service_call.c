/*
 * The AWS JSON-protocol call: sign, submit, parse, map errors, retry with
 * backoff. Retries are resubmitted from the transport's completion callback
 * with the transport's own delay, so no thread ever sleeps for a backoff.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "endpoint.h"
#include "json.h"
#include "service_call.h"
#include "sigv4.h"

#define OP_MAX            64  /* longest operation name */
#define TARGET_PREFIX_MAX 64  /* longest X-Amz-Target prefix */
#define EXCERPT_MAX       120 /* bytes of a bad reply quoted in an error */
#define SVC_HEADERS_MAX   6 /* Host, Content-Type, X-Amz-Target, X-Amz-Date, token, Authorization */

struct kn_service_s {
    kn_http_t *http;
    kn_creds_t *creds;
    char *url;       /* scheme://authority/path, as requested */
    char *path;      /* as signed */
    char *authority; /* Host header */
    char *region;
    char *signing_name;
    char *target_prefix;
    char *content_type;
    kn_retry_policy_t retry;
    kn_logger_t logger;
    pthread_mutex_t rng_lock;
    kn_rng_t rng;
};

/* One call in flight, across its attempts. */
typedef struct call_s {
    kn_service_t *svc;
    char op[OP_MAX + 1];
    char *body;
    size_t body_len;
    int attempts; /* made so far */
    int max_attempts;
    int64_t timeout_ms;
    struct timespec started;
    kn_service_done_fn *done;
    void *opaque;
    kn_service_decode_fn *decode; /* NULL: the reply is parsed with cJSON */
    void *decode_ctx;
} call_t;

struct kn_service_stream_s {
    kn_service_t *svc;
    kn_service_stream_cbs_t cbs;
    kn_http_req_t *req;
    char op[OP_MAX + 1];
};

void kn_service_destroy(kn_service_t *s) {
    if (!s)
        return;
    free(s->url);
    free(s->path);
    free(s->authority);
    free(s->region);
    free(s->signing_name);
    free(s->target_prefix);
    free(s->content_type);
    pthread_mutex_destroy(&s->rng_lock);
    free(s);
}

kn_service_t *kn_service_new(const kn_service_params_t *p, kn_error_t **err) {
    if (!p || !p->http || !p->creds || !p->endpoint_url || !p->region || !*p->region ||
        !p->signing_name || !p->target_prefix || strlen(p->target_prefix) > TARGET_PREFIX_MAX ||
        !p->content_type || p->retry.max_attempts < 1) {
        if (err)
            *err = kn_error_new(KN_ERR_INVALID_ARG, "service parameters incomplete");
        return NULL;
    }
    kn_url_t url;
    if (kn_url_parse(p->endpoint_url, &url) != KN_OK) {
        if (err)
            *err = kn_error_new(KN_ERR_INVALID_ARG,
                                "endpoint URL \"%s\" is not a valid http(s) URL", p->endpoint_url);
        return NULL;
    }
    kn_service_t *s = calloc(1, sizeof(*s));
    if (!s) {
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->rng_lock, NULL);
    kn_rng_seed_random(&s->rng);
    s->http = p->http;
    s->creds = p->creds;
    s->retry = p->retry;
    s->logger = p->logger;
    if (asprintf(&s->url, "%s://%s%s", url.https ? "https" : "http", url.authority, url.path) < 0)
        s->url = NULL;
    s->path = strdup(url.path);
    s->authority = strdup(url.authority);
    s->region = strdup(p->region);
    s->signing_name = strdup(p->signing_name);
    s->target_prefix = strdup(p->target_prefix);
    s->content_type = strdup(p->content_type);
    if (!s->url || !s->path || !s->authority || !s->region || !s->signing_name ||
        !s->target_prefix || !s->content_type) {
        kn_service_destroy(s);
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return s;
}

const kn_logger_t *kn_service_logger(const kn_service_t *s) {
    return &s->logger;
}

/* ------------------------------------------------------------ reply parsing */

static int is_2xx(int status) {
    return status >= 200 && status < 300;
}

static int all_space(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)p[i]))
            return 0;
    return 1;
}

/* A JSON object from a body, or NULL when the body is not exactly one JSON object. */
static cJSON *parse_object(const uint8_t *body, size_t len) {
    const char *text = (const char *)body;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j)
        return NULL;
    if (!cJSON_IsObject(j) || !end || end < text || !all_space(end, len - (size_t)(end - text))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* "<UnknownOperationException/>": some servers answer errors in bare XML. */
static char *xml_error_type(const uint8_t *body, size_t len) {
    if (len < 3 || body[0] != '<')
        return NULL;
    size_t n = 0;
    while (1 + n < len && (isalnum(body[1 + n]) || body[1 + n] == '_' || body[1 + n] == '.'))
        n++;
    if (!n || n > 128 || 1 + n >= len || (body[1 + n] != '/' && body[1 + n] != '>'))
        return NULL;
    return strndup((const char *)body + 1, n);
}

static kn_error_t *error_from_reply(const kn_http_response_t *resp) {
    cJSON *j = resp->body_len ? parse_object(resp->body, resp->body_len) : NULL;
    if (j) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (!cJSON_IsString(m))
            m = cJSON_GetObjectItemCaseSensitive(j, "Message");
        const char *type = cJSON_IsString(t) ? t->valuestring : NULL;
        const char *msg = cJSON_IsString(m) ? m->valuestring : NULL;
        kn_error_t *e = kn_error_from_service(resp->status, type, msg, resp->request_id);
        cJSON_Delete(j);
        return e;
    }
    char excerpt[EXCERPT_MAX + 1];
    char msg[EXCERPT_MAX + 32];
    kn_json_excerpt(resp->body, resp->body_len, excerpt, sizeof(excerpt));
    snprintf(msg, sizeof(msg), "HTTP %d%s%s", resp->status, *excerpt ? ": " : "", excerpt);
    char *type = xml_error_type(resp->body, resp->body_len);
    kn_error_t *e = kn_error_from_service(resp->status, type, msg, resp->request_id);
    free(type);
    return e;
}

/* Adds the reply's status and request id to an error about it (err may be NULL). */
static void note_reply(const kn_http_response_t *resp, kn_error_t **err) {
    if (!resp || !err || !*err)
        return;
    if ((*err)->http_status == 0)
        (*err)->http_status = resp->status;
    if (resp->request_id && !(*err)->request_id)
        (*err)->request_id = strdup(resp->request_id);
}

kn_err_t kn_service_parse_reply(const kn_http_response_t *resp, cJSON **result, kn_error_t **err) {
    *result = NULL;
    *err = NULL;
    if (!resp) {
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "no reply");
    } else if (!is_2xx(resp->status)) {
        *err = error_from_reply(resp);
    } else if (!resp->body_len || all_space((const char *)resp->body, resp->body_len)) {
        *result = cJSON_CreateObject();
        if (!*result)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
    } else if (!(*result = parse_object(resp->body, resp->body_len))) {
        char excerpt[EXCERPT_MAX + 1];
        kn_json_excerpt(resp->body, resp->body_len, excerpt, sizeof(excerpt));
        *err =
            kn_error_new(KN_ERR_BAD_RESPONSE, "reply (HTTP %d, %zu bytes) is not a JSON object: %s",
                         resp->status, resp->body_len, excerpt);
    }
    if (*err) {
        note_reply(resp, err);
        return (*err)->code;
    }
    return *result ? KN_OK : KN_ERR_NOMEM;
}

/* ------------------------------------------------------- request building */

static int op_name_ok(const char *op) {
    size_t n = op ? strlen(op) : 0;
    if (!n || n > OP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)op[i]))
            return 0;
    return 1;
}

static void amz_date_now(char out[17]) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/*
 * Signs and submits one attempt of `op`. Fetches the current credentials;
 * returns KN_OK or the error (in *err) that prevented the submission.
 * On the I/O thread (retries, calls started from callbacks) the credentials
 * come from the cache only: a fetch there would stall every request of the
 * transport; the chain's refresher keeps the cache fresh.
 */
static kn_err_t submit_signed(kn_service_t *s, const char *op, const char *body, size_t body_len,
                              kn_http_request_t *req, int64_t delay_ms, kn_http_req_t **handle,
                              kn_error_t **err) {
    kn_credentials_t creds = {0};
    kn_err_t rc = kn_http_on_io_thread(s->http) ? kn_creds_get_nowait(s->creds, &creds, err)
                                                : kn_creds_get(s->creds, &creds, err);
    if (rc != KN_OK) {
        if (err && !*err)
            *err = kn_error_new(rc, "no credentials for %s", op);
        return rc;
    }
    char target[TARGET_PREFIX_MAX + OP_MAX + 1];
    char amz_date[17];
    snprintf(target, sizeof(target), "%s%s", s->target_prefix, op);
    amz_date_now(amz_date);
    kn_header_t h[SVC_HEADERS_MAX];
    size_t nh = 0;
    h[nh++] = (kn_header_t){"Host", s->authority};
    h[nh++] = (kn_header_t){"Content-Type", s->content_type};
    h[nh++] = (kn_header_t){"X-Amz-Target", target};
    h[nh++] = (kn_header_t){"X-Amz-Date", amz_date};
    if (creds.session_token && *creds.session_token)
        h[nh++] = (kn_header_t){"X-Amz-Security-Token", creds.session_token};
    kn_sigv4_request_t sreq = {
        .method = "POST",
        .path = s->path,
        .query = NULL,
        .headers = h,
        .nheaders = nh,
        .body = (const uint8_t *)body,
        .body_len = body_len,
        .service = s->signing_name,
        .region = s->region,
        .when = time(NULL),
    };
    kn_sigv4_result_t sig = {0};
    rc = kn_sigv4_sign(&sreq, &creds, &sig, 0);
    if (rc != KN_OK) {
        kn_credentials_clear(&creds);
        if (err)
            *err = kn_error_new(rc, "signing %s failed", op);
        return rc;
    }
    h[nh++] = (kn_header_t){"Authorization", sig.authorization};
    req->method = "POST";
    req->url = s->url;
    req->headers = h;
    req->nheaders = nh;
    req->body = (const uint8_t *)body;
    req->body_len = body_len;
    rc = kn_http_submit(s->http, req, delay_ms, handle);
    kn_sigv4_result_clear(&sig);
    kn_credentials_clear(&creds);
    if (rc != KN_OK && err)
        *err = kn_error_new(rc, "%s could not be submitted: %s", op, kn_err2str(rc));
    return rc;
}

/* ------------------------------------------------------------ async calls */

static int64_t elapsed_ms(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void call_free(call_t *c) {
    if (!c)
        return;
    free(c->body);
    free(c);
}

static void call_on_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *terr);

static kn_err_t call_submit(call_t *c, int64_t delay_ms, kn_error_t **err) {
    kn_http_request_t req = {
        .timeout_ms = c->timeout_ms,
        .body_borrowed = 1, /* the call owns its body until its last attempt is done */
        .on_done = call_on_done,
        .opaque = c,
    };
    c->attempts++;
    return submit_signed(c->svc, c->op, c->body, c->body_len, &req, delay_ms, NULL, err);
}

static void call_on_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *terr) {
    call_t *c = opaque;
    kn_service_t *s = c->svc;
    cJSON *result = NULL;
    kn_error_t *e = NULL;
    if (terr) {
        e = kn_error_copy(terr);
    } else if (c->decode && resp && is_2xx(resp->status)) {
        kn_err_t drc = c->decode(c->decode_ctx, resp->body, resp->body_len, &e);
        if (drc != KN_OK && !e)
            e = kn_error_new(drc, "%s reply could not be read", c->op);
        note_reply(resp, &e);
    } else {
        kn_service_parse_reply(resp, &result, &e);
    }
    if (terr && !e)
        e = kn_error_new(KN_ERR_NOMEM, "out of memory");
    kn_retry_policy_t policy = s->retry;
    policy.max_attempts = c->max_attempts;
    if (e && kn_retry_should_retry(&policy, c->attempts, e)) {
        pthread_mutex_lock(&s->rng_lock);
        int64_t delay = kn_retry_delay_ms(&policy, c->attempts - 1, e, &s->rng);
        pthread_mutex_unlock(&s->rng_lock);
        char buf[512];
        KN_LOG_DBG(&s->logger, s->signing_name,
                   "%s attempt %d/%d failed: %s; retrying in %" PRId64 " ms", c->op, c->attempts,
                   c->max_attempts, kn_error_format(e, buf, sizeof(buf)), delay);
        kn_error_t *serr = NULL;
        if (call_submit(c, delay, &serr) == KN_OK) {
            kn_error_destroy(e);
            return;
        }
        /* The retry could not even start (shutdown, credentials): that is now the last error. */
        if (serr) {
            kn_error_destroy(e);
            e = serr;
        }
    }
    if (e) {
        char buf[512];
        KN_LOG_DBG(&s->logger, s->signing_name, "%s failed after %d attempt(s), %" PRId64 " ms: %s",
                   c->op, c->attempts, elapsed_ms(&c->started),
                   kn_error_format(e, buf, sizeof(buf)));
    } else {
        KN_LOG_DBG(&s->logger, s->signing_name, "%s ok (HTTP %d, %d attempt(s), %" PRId64 " ms)",
                   c->op, resp->status, c->attempts, elapsed_ms(&c->started));
    }
    c->done(c->opaque, result, e);
    kn_error_destroy(e);
    call_free(c);
}

kn_err_t kn_service_call_async_owned(kn_service_t *s, const char *op, char *body,
                                     const kn_call_opts_t *opts, kn_service_done_fn *done,
                                     void *opaque, kn_error_t **err) {
    if (err)
        *err = NULL;
    if (!s || !op_name_ok(op) || !body || !done) {
        free(body);
        if (err)
            *err = kn_error_new(KN_ERR_INVALID_ARG, "service call: bad operation or arguments");
        return KN_ERR_INVALID_ARG;
    }
    call_t *c = calloc(1, sizeof(*c));
    if (!c) {
        free(body);
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return KN_ERR_NOMEM;
    }
    c->svc = s;
    c->body = body;
    c->body_len = strlen(body);
    snprintf(c->op, sizeof(c->op), "%s", op);
    c->max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : s->retry.max_attempts;
    c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 0;
    c->decode = opts ? opts->decode : NULL;
    c->decode_ctx = opts ? opts->decode_ctx : NULL;
    c->done = done;
    c->opaque = opaque;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    kn_err_t rc = call_submit(c, 0, err);
    if (rc != KN_OK)
        call_free(c);
    return rc;
}

kn_err_t kn_service_call_async(kn_service_t *s, const char *op, const char *body,
                               const kn_call_opts_t *opts, kn_service_done_fn *done, void *opaque,
                               kn_error_t **err) {
    char *copy = body ? strdup(body) : NULL;
    if (body && !copy) {
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return KN_ERR_NOMEM;
    }
    return kn_service_call_async_owned(s, op, copy, opts, done, opaque, err);
}

/* ------------------------------------------------------------- sync calls */

typedef struct sync_wait_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
    cJSON *result;
    kn_error_t *err;
} sync_wait_t;

static void sync_done(void *opaque, cJSON *result, const kn_error_t *err) {
    sync_wait_t *w = opaque;
    pthread_mutex_lock(&w->lock);
    w->result = result;
    if (err && !(w->err = kn_error_copy(err)))
        w->err = kn_error_new(KN_ERR_NOMEM, "out of memory");
    w->finished = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

kn_err_t kn_service_call(kn_service_t *s, const char *op, const cJSON *body,
                         const kn_call_opts_t *opts, cJSON **result, kn_error_t **err) {
    char *text = body ? cJSON_PrintUnformatted(body) : strdup("{}");
    if (!text) {
        if (result)
            *result = NULL;
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory building %s", op ? op : "request");
        return KN_ERR_NOMEM;
    }
    return kn_service_call_owned(s, op, text, opts, result, err);
}

kn_err_t kn_service_call_owned(kn_service_t *s, const char *op, char *text,
                               const kn_call_opts_t *opts, cJSON **result, kn_error_t **err) {
    if (result)
        *result = NULL;
    if (err)
        *err = NULL;
    sync_wait_t w = {.finished = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    kn_err_t rc = kn_service_call_async_owned(s, op, text, opts, sync_done, &w, err);
    if (rc == KN_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.finished)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = w.err ? kn_error_code(w.err) : KN_OK;
        if (result)
            *result = w.result;
        else
            cJSON_Delete(w.result);
        if (err)
            *err = w.err;
        else
            kn_error_destroy(w.err);
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return rc;
}

/* ---------------------------------------------------- typed-client helpers */

void kn_service_client_clear(kn_service_client_t *c) {
    if (c->own_http)
        kn_http_destroy(c->http);
    kn_service_destroy(c->svc);
    if (c->own_creds)
        kn_creds_destroy(c->creds);
    memset(c, 0, sizeof(*c));
}

kn_err_t kn_service_client_init(kn_service_client_t *c, const kn_conf_t *conf, const char *service,
                                const char *target_prefix, const char *content_type,
                                kn_http_t *http, kn_creds_t *creds, kn_error_t **err) {
    kn_error_t *e = NULL;
    memset(c, 0, sizeof(*c));
    kn_err_t rc = kn_region_resolve_err(conf, c->region, sizeof(c->region), &e);
    if (rc == KN_OK)
        rc =
            kn_endpoint_resolve_err(conf, service, c->region, c->endpoint, sizeof(c->endpoint), &e);
    if (rc == KN_OK && !(c->http = http)) {
        if ((c->http = kn_http_new(conf, &e)))
            c->own_http = 1;
        else
            rc = e ? kn_error_code(e) : KN_ERR_NOMEM;
    }
    if (rc == KN_OK && !(c->creds = creds)) {
        if ((c->creds = kn_creds_new(conf)))
            c->own_creds = 1;
        else
            rc = KN_ERR_NOMEM;
    }
    kn_logger_t lg = kn_conf_logger(conf);
    if (rc == KN_OK) {
        kn_service_params_t p = {
            .http = c->http,
            .creds = c->creds,
            .endpoint_url = c->endpoint,
            .region = c->region,
            .signing_name = service,
            .target_prefix = target_prefix,
            .content_type = content_type,
            .retry = kn_retry_policy_from_conf(conf),
            .logger = lg,
        };
        if (!(c->svc = kn_service_new(&p, &e)))
            rc = e ? kn_error_code(e) : KN_ERR_NOMEM;
    }
    if (rc != KN_OK) {
        kn_service_client_clear(c);
        if (!e)
            e = kn_error_new(rc, "cannot set up the %s client: %s", service, kn_err2str(rc));
        if (err)
            *err = e;
        else
            kn_error_destroy(e);
        return rc;
    }
    KN_LOG_DBG(&lg, service, "client for %s in %s", c->endpoint, c->region);
    return KN_OK;
}

kn_err_t kn_service_give(kn_err_t rc, kn_error_t *e, kn_error_t **err) {
    if (rc == KN_OK) {
        kn_error_destroy(e);
        e = NULL;
    } else if (!e) {
        e = kn_error_new(rc, "%s", kn_err2str(rc));
    }
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
    return rc;
}

int64_t kn_service_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kn_service_poll_pause(int64_t deadline_ms, int64_t *pause_ms) {
    int64_t left = deadline_ms - kn_service_now_ms();
    if (left <= 0)
        return 0;
    int64_t ms = *pause_ms < left ? *pause_ms : left;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    *pause_ms =
        *pause_ms * 3 / 2 < KN_SERVICE_POLL_MAX_MS ? *pause_ms * 3 / 2 : KN_SERVICE_POLL_MAX_MS;
    return 1;
}

/* -------------------------------------------------------------- streaming */

static void stream_on_headers(void *opaque, const kn_http_response_t *resp) {
    kn_service_stream_t *st = opaque;
    if (is_2xx(resp->status)) {
        KN_LOG_DBG(&st->svc->logger, st->svc->signing_name,
                   "%s stream open (HTTP/%s, request id %s)", st->op,
                   resp->http_version == 20 ? "2" : "1.1",
                   resp->request_id ? resp->request_id : "-");
        if (st->cbs.on_open)
            st->cbs.on_open(st->cbs.opaque, resp);
    }
}

static int stream_on_data(void *opaque, const uint8_t *data, size_t len) {
    kn_service_stream_t *st = opaque;
    return st->cbs.on_data(st->cbs.opaque, data, len);
}

static void stream_on_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *terr) {
    kn_service_stream_t *st = opaque;
    kn_error_t *e = NULL;
    if (!terr && resp && !is_2xx(resp->status)) {
        cJSON *unused = NULL;
        kn_service_parse_reply(resp, &unused, &e);
        cJSON_Delete(unused);
    }
    const kn_error_t *report = terr ? terr : e;
    if (report) {
        char buf[512];
        KN_LOG_DBG(&st->svc->logger, st->svc->signing_name, "%s stream closed: %s", st->op,
                   kn_error_format(report, buf, sizeof(buf)));
    }
    st->cbs.on_close(st->cbs.opaque, report);
    kn_error_destroy(e);
    free(st);
}

kn_err_t kn_service_stream_start(kn_service_t *s, const char *op, const char *body,
                                 const kn_service_stream_cbs_t *cbs, kn_service_stream_t **stream,
                                 kn_error_t **err) {
    if (err)
        *err = NULL;
    if (stream)
        *stream = NULL;
    if (!s || !op_name_ok(op) || !body || !cbs || !cbs->on_data || !cbs->on_close || !stream) {
        if (err)
            *err = kn_error_new(KN_ERR_INVALID_ARG, "stream call: bad operation or arguments");
        return KN_ERR_INVALID_ARG;
    }
    kn_service_stream_t *st = calloc(1, sizeof(*st));
    if (!st) {
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return KN_ERR_NOMEM;
    }
    st->svc = s;
    st->cbs = *cbs;
    snprintf(st->op, sizeof(st->op), "%s", op);
    kn_http_request_t req = {
        .streaming = 1,
        .idle_timeout_ms = cbs->idle_timeout_ms,
        .on_headers = stream_on_headers,
        .on_data = stream_on_data,
        .on_done = stream_on_done,
        .opaque = st,
    };
    /* Published before submitting: callbacks may run before submit returns. */
    *stream = st;
    kn_err_t rc = submit_signed(s, op, body, strlen(body), &req, 0, &st->req, err);
    if (rc != KN_OK) {
        *stream = NULL;
        free(st);
    }
    return rc;
}

void kn_service_stream_resume(kn_service_stream_t *st) {
    if (st && st->req)
        kn_http_resume(st->svc->http, st->req);
}

void kn_service_stream_cancel(kn_service_stream_t *st) {
    if (st && st->req)
        kn_http_cancel(st->svc->http, st->req);
}
