/*
 * The transport against a scripted HTTP/1.1 peer on 127.0.0.1: replies, keep-alive,
 * timeouts, refused connections, oversized bodies, streaming with pause/resume,
 * idle timeouts, cancellation, shutdown, delayed submissions, threads, proxies
 * and log redaction. (HTTP/2 is covered by tests/integration/test_http_h2.c.)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "http.h"
#include "kn_test.h"
#include "kn_test_log.h"
#include "kn_test_server.h"

#define BIG_TOTAL (64u * 1024 * 1024)
#define STREAM_CHUNKS 200
#define WAIT_SLICE_MS 5

/* ------------------------------------------------------- the fake peer */

typedef struct {
    atomic_int requests;
    atomic_ulong big_sent;
    pthread_mutex_t lock;
    char last_head[16384]; /* request line and headers of the latest request */
    char order[256];      /* tags of /ok?tag=X in arrival order */
} peer_t;

static peer_t peer;
static kn_test_server_t *srv;

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits (without a deadline of its own; Check's timeout is the backstop) for cond. */
#define WAIT_FOR(cond)                                                                   \
    do {                                                                                 \
        while (!(cond))                                                                  \
            msleep(WAIT_SLICE_MS);                                                       \
    } while (0)

static int send_str(int fd, const char *s) {
    return kn_test_write_all(fd, s, strlen(s));
}

static int send_chunk(int fd, const void *data, size_t len) {
    char head[32];
    snprintf(head, sizeof(head), "%zx\r\n", len);
    return send_str(fd, head) || kn_test_write_all(fd, data, len) || send_str(fd, "\r\n");
}

static void reply(int fd, const char *status, const char *extra, const char *body, size_t len) {
    char head[1024];
    snprintf(head, sizeof(head),
             "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
             "Content-Type: application/x-amz-json-1.1\r\n%s\r\n",
             status, len, extra);
    if (!send_str(fd, head))
        kn_test_write_all(fd, body, len);
}

/* Reads one request; returns its body length or -1 when the connection ended. */
static long read_request(int fd, char *head, size_t headsz, char **body) {
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        if (n + 1 >= headsz)
            return -1;
        ssize_t r = recv(fd, head + n, headsz - 1 - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        head[n] = 0;
        end = strstr(head, "\r\n\r\n");
    }
    size_t hlen = (size_t)(end - head) + 4;
    const char *cl = strcasestr(head, "\r\ncontent-length:");
    long blen = cl ? strtol(cl + 17, NULL, 10) : 0;
    *body = malloc((size_t)blen + 1);
    size_t have = n - hlen < (size_t)blen ? n - hlen : (size_t)blen; /* no pipelining */
    memcpy(*body, head + hlen, have);
    while ((long)have < blen) {
        ssize_t r = recv(fd, *body + have, (size_t)blen - have, 0);
        if (r <= 0) {
            free(*body);
            return -1;
        }
        have += (size_t)r;
    }
    (*body)[blen] = 0;
    head[hlen] = 0;
    return blen;
}

static void hang(kn_test_server_t *s, int fd) {
    char buf[256];
    while (kn_test_server_sleep(s, 20)) {
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0)
            return; /* client gave up */
    }
}

/* Returns 0 to close the connection after this request. */
static int serve(kn_test_server_t *s, int fd, const char *head, const char *body, long blen) {
    char method[16], path[1024];
    if (sscanf(head, "%15s %1023s", method, path) != 2)
        return 0;
    int n = atomic_fetch_add(&peer.requests, 1) + 1;
    pthread_mutex_lock(&peer.lock);
    snprintf(peer.last_head, sizeof(peer.last_head), "%s", head);
    const char *tag = strstr(path, "tag=");
    if (tag && strlen(peer.order) + 1 < sizeof(peer.order))
        strncat(peer.order, tag + 4, 1);
    pthread_mutex_unlock(&peer.lock);

    char extra[128];
    int a = 0, b = 0;
    if (!strncmp(path, "http://", 7)) { /* we are being used as a proxy */
        reply(fd, "200 OK", "", "via-proxy", 9);
    } else if (!strncmp(path, "/ok", 3)) {
        snprintf(extra, sizeof(extra), "x-amzn-RequestId: rid-%d\r\n", n);
        reply(fd, "200 OK", extra, "{\"ok\":true}", 11);
    } else if (!strncmp(path, "/echo", 5)) {
        size_t hl = strlen(head);
        char *out = malloc(hl + (size_t)blen + 1);
        memcpy(out, head, hl);
        memcpy(out + hl, body, (size_t)blen);
        reply(fd, "200 OK", "", out, hl + (size_t)blen);
        free(out);
    } else if (!strcmp(path, "/redirect")) {
        reply(fd, "301 Moved Permanently", "Location: /ok\r\n", "", 0);
    } else if (!strcmp(path, "/status/503")) {
        const char *b503 = "{\"__type\":\"ServiceUnavailable\",\"message\":\"later\"}";
        reply(fd, "503 Service Unavailable", "x-amz-request-id: s3-rid\r\n", b503, strlen(b503));
    } else if (sscanf(path, "/delay/%d", &a) == 1) {
        if (!kn_test_server_sleep(s, a))
            return 0;
        reply(fd, "200 OK", "", "late", 4);
    } else if (!strcmp(path, "/hang")) {
        hang(s, fd);
        return 0;
    } else if (!strcmp(path, "/big-declared")) {
        if (!send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 200000000\r\n\r\n"))
            send_str(fd, "0123456789");
        hang(s, fd);
        return 0;
    } else if (!strcmp(path, "/big-chunked")) {
        static const char block[65536];
        if (send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
            return 0;
        for (unsigned long sent = 0; sent < BIG_TOTAL; sent += sizeof(block)) {
            if (send_chunk(fd, block, sizeof(block)))
                return 0;
            atomic_fetch_add(&peer.big_sent, sizeof(block));
        }
        send_str(fd, "0\r\n\r\n");
    } else if (!strcmp(path, "/drop")) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        return 0;
    } else if (sscanf(path, "/stream/%d/%d", &a, &b) == 2) {
        if (send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         "Content-Type: application/vnd.amazon.eventstream\r\n\r\n"))
            return 0;
        for (int i = 0; i < a; i++) {
            char c[32];
            int len = snprintf(c, sizeof(c), "chunk-%04d\n", i);
            if (send_chunk(fd, c, (size_t)len) || (b && !kn_test_server_sleep(s, b)))
                return 0;
        }
        send_str(fd, "0\r\n\r\n");
    } else if (!strcmp(path, "/stream-then-hang")) {
        if (send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") ||
            send_chunk(fd, "first\n", 6) || send_chunk(fd, "second\n", 7))
            return 0;
        hang(s, fd);
        return 0;
    } else if (!strcmp(path, "/stream-error")) {
        const char *e = "{\"__type\":\"ResourceInUseException\",\"message\":\"busy\"}";
        reply(fd, "400 Bad Request", "", e, strlen(e));
    } else {
        reply(fd, "404 Not Found", "", "", 0);
    }
    return 1;
}

static void peer_conn(kn_test_server_t *s, int fd, void *opaque) {
    (void)opaque;
    char head[16384];
    char *body;
    long blen;
    while ((blen = read_request(fd, head, sizeof(head), &body)) >= 0) {
        int keep = serve(s, fd, head, body, blen);
        free(body);
        if (!keep)
            break;
    }
}

static char base_url[64];

static const char *url(const char *path, char *buf, size_t size) {
    snprintf(buf, size, "%s%s", base_url, path);
    return buf;
}

static void peer_setup(void) {
    kn_test_safe_env();
    memset(&peer, 0, sizeof(peer));
    pthread_mutex_init(&peer.lock, NULL);
    srv = kn_test_server_start(peer_conn, NULL);
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", kn_test_server_port(srv));
}

static void peer_teardown(void) {
    kn_test_server_stop(srv);
    srv = NULL;
    pthread_mutex_destroy(&peer.lock);
}

static kn_http_t *new_http(const char *k1, const char *v1) {
    kn_conf_t *conf = kn_conf_new();
    ck_assert_ptr_nonnull(conf);
    if (k1)
        ck_assert_int_eq(kn_conf_set(conf, k1, v1, NULL, 0), KN_OK);
    kn_error_t *err = NULL;
    kn_http_t *h = kn_http_new(conf, &err);
    ck_assert_msg(h != NULL, "kn_http_new: %s", kn_error_message(err));
    kn_conf_destroy(conf);
    return h;
}

/* ------------------------------------------------ async request recorder */

typedef struct {
    pthread_mutex_t lock;
    int done_calls;
    kn_err_t code;
    int status;
    char errmsg[512];
    int headers_calls;
    int header_status;
    /* streaming */
    char data[8192];
    size_t data_len;
    int chunks;
    int pause_every; /* pause after this many on_data calls; 0 = never */
    atomic_int paused;
    int abort_at;    /* return KN_HTTP_ABORT on this on_data call; 0 = never */
    char body[256];
} rec_t;

static void rec_init(rec_t *r) {
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
}

static void rec_on_headers(void *opaque, const kn_http_response_t *resp) {
    rec_t *r = opaque;
    pthread_mutex_lock(&r->lock);
    r->headers_calls++;
    r->header_status = resp->status;
    pthread_mutex_unlock(&r->lock);
}

static int rec_on_data(void *opaque, const uint8_t *data, size_t len) {
    rec_t *r = opaque;
    pthread_mutex_lock(&r->lock);
    ck_assert_msg(!atomic_load(&r->paused), "on_data while paused");
    size_t room = sizeof(r->data) - r->data_len;
    size_t n = len < room ? len : room;
    memcpy(r->data + r->data_len, data, n);
    r->data_len += n;
    int call = ++r->chunks;
    pthread_mutex_unlock(&r->lock);
    if (r->abort_at && call == r->abort_at)
        return KN_HTTP_ABORT;
    if (r->pause_every && call % r->pause_every == 0) {
        atomic_store(&r->paused, 1);
        return KN_HTTP_PAUSE;
    }
    return KN_HTTP_CONTINUE;
}

static void rec_on_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    rec_t *r = opaque;
    pthread_mutex_lock(&r->lock);
    r->done_calls++;
    r->code = kn_error_code(err);
    r->status = resp ? resp->status : 0;
    if (err)
        snprintf(r->errmsg, sizeof(r->errmsg), "%s", kn_error_message(err));
    if (resp)
        snprintf(r->body, sizeof(r->body), "%s", (const char *)resp->body);
    pthread_mutex_unlock(&r->lock);
}

static int rec_done(rec_t *r) {
    pthread_mutex_lock(&r->lock);
    int d = r->done_calls;
    pthread_mutex_unlock(&r->lock);
    return d;
}

static int rec_chunks(rec_t *r) {
    pthread_mutex_lock(&r->lock);
    int c = r->chunks;
    pthread_mutex_unlock(&r->lock);
    return c;
}

static kn_http_request_t get_req(const char *u, rec_t *r, int streaming) {
    kn_http_request_t req = {.method = "GET", .url = u, .streaming = streaming,
                             .on_headers = rec_on_headers, .on_data = rec_on_data,
                             .on_done = rec_on_done, .opaque = r};
    return req;
}

static kn_err_t perform_get(kn_http_t *h, const char *path, kn_http_response_t **resp,
                            kn_error_t **err) {
    char u[256];
    kn_http_request_t req = {.method = "GET", .url = url(path, u, sizeof(u))};
    return kn_http_perform(h, &req, resp, err);
}

/* ------------------------------------------------------------------ tests */

START_TEST(reply_status_body_request_id) {
    kn_http_t *h = new_http(NULL, NULL);
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(perform_get(h, "/ok", &resp, &err), KN_OK);
    ck_assert_ptr_null(err);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_int_eq(resp->http_version, 11);
    ck_assert_str_eq((char *)resp->body, "{\"ok\":true}");
    ck_assert_uint_eq(resp->body_len, 11);
    ck_assert_str_eq(resp->request_id, "rid-1");
    ck_assert_str_eq(resp->content_type, "application/x-amz-json-1.1");
    kn_http_response_destroy(resp);

    /* a non-2xx status is a reply, not an error; S3-style request id header */
    ck_assert_int_eq(perform_get(h, "/status/503", &resp, &err), KN_OK);
    ck_assert_int_eq(resp->status, 503);
    ck_assert_str_eq(resp->request_id, "s3-rid");
    ck_assert_ptr_nonnull(strstr((char *)resp->body, "ServiceUnavailable"));
    kn_http_response_destroy(resp);

    /* redirects are replies, never followed */
    ck_assert_int_eq(perform_get(h, "/redirect", &resp, &err), KN_OK);
    ck_assert_int_eq(resp->status, 301);
    ck_assert_int_eq(atomic_load(&peer.requests), 3);
    kn_http_response_destroy(resp);

    /* empty body: still a NUL-terminated buffer */
    ck_assert_int_eq(perform_get(h, "/nothing-here", &resp, &err), KN_OK);
    ck_assert_int_eq(resp->status, 404);
    ck_assert_ptr_nonnull(resp->body);
    ck_assert_uint_eq(resp->body_len, 0);
    ck_assert_ptr_null(resp->request_id);
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
}
END_TEST

START_TEST(request_headers_on_the_wire) {
    kn_http_t *h = new_http(NULL, NULL);
    char u[256];
    size_t big_len = 1500000; /* large enough that libcurl would otherwise send Expect */
    uint8_t *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)('a' + i % 26);
    kn_header_t hdrs[] = {{"X-Amz-Target", "Kinesis_20131202.ListStreams"}, {"X-Empty", ""}};
    kn_http_response_t *resp = NULL;
    /* the body copied at submit, then borrowed (the caller keeps it until done) */
    for (int borrowed = 0; borrowed < 2; borrowed++) {
        kn_http_request_t req = {.method = "POST", .url = url("/echo", u, sizeof(u)),
                                 .headers = hdrs, .nheaders = 2, .body = big, .body_len = big_len,
                                 .body_borrowed = borrowed};
        ck_assert_int_eq(kn_http_perform(h, &req, &resp, NULL), KN_OK);
        const char *echo = (const char *)resp->body;
        ck_assert_ptr_nonnull(strstr(echo, "POST /echo HTTP/1.1\r\n"));
        ck_assert_ptr_nonnull(strstr(echo, "\r\nUser-Agent: kinesis-c/" KN_VERSION_STR "\r\n"));
        ck_assert_ptr_nonnull(strstr(echo, "\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\n"));
        ck_assert_ptr_nonnull(strstr(echo, "\r\nX-Empty:"));
        ck_assert_ptr_nonnull(strstr(echo, "\r\nContent-Length: 1500000\r\n"));
        ck_assert_ptr_null(strcasestr(echo, "expect:"));      /* no 100-continue round trip */
        ck_assert_ptr_null(strcasestr(echo, "content-type:")); /* no form-urlencoded default */
        const char *sent_body = strstr(echo, "\r\n\r\n") + 4;
        ck_assert_uint_eq(resp->body_len - (size_t)(sent_body - echo), big_len);
        ck_assert(!memcmp(sent_body, big, big_len));
        kn_http_response_destroy(resp);
    }
    free(big);

    /* PUT without a body still says Content-Length: 0 (IMDSv2 token requests) */
    kn_header_t ttl = {"X-aws-ec2-metadata-token-ttl-seconds", "21600"};
    kn_http_request_t put = {.method = "PUT", .url = u, .headers = &ttl, .nheaders = 1};
    ck_assert_int_eq(kn_http_perform(h, &put, &resp, NULL), KN_OK);
    ck_assert_ptr_nonnull(strstr((char *)resp->body, "PUT /echo HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr((char *)resp->body, "\r\nContent-Length: 0\r\n"));
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
}
END_TEST

START_TEST(keep_alive_reuses_one_connection) {
    kn_http_t *h = new_http(NULL, NULL);
    for (int i = 0; i < 20; i++) {
        kn_http_response_t *resp = NULL;
        ck_assert_int_eq(perform_get(h, "/ok", &resp, NULL), KN_OK);
        ck_assert_int_eq(resp->status, 200);
        kn_http_response_destroy(resp);
    }
    ck_assert_int_eq(atomic_load(&peer.requests), 20);
    ck_assert_int_eq(kn_test_server_accepted(srv), 1);
    kn_http_destroy(h);
}
END_TEST

START_TEST(request_timeout) {
    kn_http_t *h = new_http("request.timeout.ms", "300");
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(perform_get(h, "/hang", &resp, &err), KN_ERR_TIMED_OUT);
    ck_assert_ptr_null(resp);
    ck_assert_int_eq(kn_error_code(err), KN_ERR_TIMED_OUT);
    ck_assert(kn_error_is_retriable(err));
    kn_error_destroy(err);
    /* a per-request timeout overrides the configured one */
    char u[256];
    kn_http_request_t req = {.method = "GET", .url = url("/delay/600", u, sizeof(u)),
                             .timeout_ms = 20000};
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, &err), KN_OK);
    ck_assert_str_eq((char *)resp->body, "late");
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
}
END_TEST

START_TEST(connection_refused) {
    int fd;
    int port = kn_test_refusing_port(&fd);
    kn_http_t *h = new_http(NULL, NULL);
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
    kn_http_request_t req = {.method = "GET", .url = u};
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, &err), KN_ERR_TRANSPORT);
    char hostport[64];
    snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", port);
    ck_assert_msg(strstr(kn_error_message(err), hostport), "%s", kn_error_message(err));
    ck_assert(kn_error_is_retriable(err));
    ck_assert_int_eq(kn_error_http_status(err), 0);
    kn_error_destroy(err);
    kn_http_destroy(h);
    close(fd);
}
END_TEST

START_TEST(oversized_declared_body) {
    kn_http_t *h = new_http(NULL, NULL);
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    /* refused on the Content-Length alone: the peer sends 10 bytes and waits */
    ck_assert_int_eq(perform_get(h, "/big-declared", &resp, &err), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "200000000"));
    ck_assert_int_eq(kn_error_http_status(err), 200);
    kn_error_destroy(err);
    kn_http_destroy(h);
}
END_TEST

START_TEST(oversized_streamed_body_stops_reading) {
    kn_http_t *h = new_http(NULL, NULL);
    char u[256];
    kn_http_request_t req = {.method = "GET", .url = url("/big-chunked", u, sizeof(u)),
                             .max_body = 1u << 20};
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, &err), KN_ERR_BAD_RESPONSE);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "1048576"));
    kn_error_destroy(err);
    kn_http_destroy(h);
    kn_test_server_stop(srv); /* joins the sender: its count is final */
    srv = NULL;
    ck_assert_uint_lt(atomic_load(&peer.big_sent), BIG_TOTAL);
}
END_TEST

START_TEST(connection_dropped_mid_body) {
    kn_http_t *h = new_http(NULL, NULL);
    kn_error_t *err = NULL;
    kn_http_response_t *resp = NULL;
    ck_assert_int_eq(perform_get(h, "/drop", &resp, &err), KN_ERR_TRANSPORT);
    ck_assert(kn_error_is_retriable(err));
    kn_error_destroy(err);
    /* the transport recovers on a fresh connection */
    ck_assert_int_eq(perform_get(h, "/ok", &resp, &err), KN_OK);
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
}
END_TEST

/* http.version=auto: plain-http streaming speaks HTTP/2 with prior knowledge, the rest 1.1. */
START_TEST(auto_version_on_plain_http) {
    kn_http_t *h = new_http(NULL, NULL);
    kn_http_response_t *resp = NULL;
    ck_assert_int_eq(perform_get(h, "/ok", &resp, NULL), KN_OK);
    ck_assert_int_eq(resp->http_version, 11);
    kn_http_response_destroy(resp);
    char u[256];
    rec_t r;
    rec_init(&r);
    kn_http_request_t req = get_req(url("/stream/1/0", u, sizeof(u)), &r, 1);
    ck_assert_int_eq(kn_http_submit(h, &req, 0, NULL), KN_OK);
    WAIT_FOR(rec_done(&r));
    ck_assert_int_ne(r.code, KN_OK); /* this peer cannot speak HTTP/2 */
    pthread_mutex_lock(&peer.lock);
    ck_assert_msg(!strncmp(peer.last_head, "PRI * HTTP/2.0", 14), "%s", peer.last_head);
    pthread_mutex_unlock(&peer.lock);
    kn_http_destroy(h);
}
END_TEST

static void expect_stream_data(const rec_t *r, int nchunks) {
    char want[16];
    ck_assert_uint_eq(r->data_len, (size_t)nchunks * 11);
    for (int i = 0; i < nchunks; i++) {
        snprintf(want, sizeof(want), "chunk-%04d\n", i);
        ck_assert(!memcmp(r->data + (size_t)i * 11, want, 11));
    }
}

START_TEST(streaming_pause_resume) {
    kn_http_t *h = new_http("http.version", "1.1");
    char u[256];
    snprintf(u, sizeof(u), "%s/stream/%d/1", base_url, STREAM_CHUNKS);
    rec_t r;
    rec_init(&r);
    r.pause_every = 7;
    kn_http_request_t req = get_req(u, &r, 1);
    kn_http_req_t *handle = NULL;
    ck_assert_int_eq(kn_http_submit(h, &req, 0, &handle), KN_OK);
    ck_assert_ptr_nonnull(handle);
    int pauses = 0;
    while (!rec_done(&r)) {
        if (!atomic_load(&r.paused)) {
            msleep(WAIT_SLICE_MS);
            continue;
        }
        /* paused: nothing may arrive while the peer keeps sending */
        int before = rec_chunks(&r);
        msleep(pauses < 3 ? 150 : 5);
        ck_assert_int_eq(rec_chunks(&r), before);
        ck_assert_int_eq(rec_done(&r), 0);
        pauses++;
        atomic_store(&r.paused, 0);
        kn_http_resume(h, handle);
    }
    ck_assert_int_eq(r.done_calls, 1);
    ck_assert_int_eq(r.code, KN_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.headers_calls, 1);
    ck_assert_int_eq(r.header_status, 200);
    ck_assert_str_eq(r.body, ""); /* a streamed 2xx body is not buffered */
    ck_assert_int_ge(pauses, 3);
    expect_stream_data(&r, STREAM_CHUNKS);
    kn_http_destroy(h);
}
END_TEST

START_TEST(streaming_error_status_is_buffered) {
    kn_http_t *h = new_http("http.version", "1.1");
    char u[256];
    rec_t r;
    rec_init(&r);
    kn_http_request_t req = get_req(url("/stream-error", u, sizeof(u)), &r, 1);
    ck_assert_int_eq(kn_http_submit(h, &req, 0, NULL), KN_OK);
    WAIT_FOR(rec_done(&r));
    ck_assert_int_eq(r.code, KN_OK);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(r.chunks, 0);
    ck_assert_ptr_nonnull(strstr(r.body, "ResourceInUseException"));
    kn_http_destroy(h);
}
END_TEST

START_TEST(streaming_idle_timeout) {
    kn_http_t *h = new_http("http.version", "1.1");
    char u[256];
    rec_t r;
    rec_init(&r);
    kn_http_request_t req = get_req(url("/stream-then-hang", u, sizeof(u)), &r, 1);
    req.idle_timeout_ms = 200;
    ck_assert_int_eq(kn_http_submit(h, &req, 0, NULL), KN_OK);
    WAIT_FOR(rec_done(&r));
    ck_assert_int_eq(r.code, KN_ERR_TIMED_OUT);
    ck_assert_int_eq(r.data_len, 13);
    ck_assert(!memcmp(r.data, "first\nsecond\n", 13));

    /* the idle timer does not run while paused; it restarts on resume */
    rec_t p;
    rec_init(&p);
    p.pause_every = 1;
    req.opaque = &p;
    kn_http_req_t *handle;
    ck_assert_int_eq(kn_http_submit(h, &req, 0, &handle), KN_OK);
    WAIT_FOR(atomic_load(&p.paused));
    msleep(3 * 200);
    ck_assert_int_eq(rec_done(&p), 0);
    p.pause_every = 0;
    atomic_store(&p.paused, 0);
    kn_http_resume(h, handle);
    WAIT_FOR(rec_done(&p));
    ck_assert_int_eq(p.code, KN_ERR_TIMED_OUT);
    ck_assert_int_eq(p.data_len, 13);
    kn_http_destroy(h);
}
END_TEST

START_TEST(cancel_in_flight_delayed_and_abort) {
    kn_http_t *h = new_http("http.version", "1.1");
    char u[256], s[256];
    rec_t a, b, c;
    rec_init(&a);
    rec_init(&b);
    rec_init(&c);
    kn_http_request_t ra = get_req(url("/hang", u, sizeof(u)), &a, 0);
    kn_http_request_t rb = get_req(url("/ok", s, sizeof(s)), &b, 0);
    kn_http_req_t *ha, *hb;
    ck_assert_int_eq(kn_http_submit(h, &ra, 0, &ha), KN_OK);
    ck_assert_int_eq(kn_http_submit(h, &rb, 3600 * 1000, &hb), KN_OK);
    WAIT_FOR(atomic_load(&peer.requests) == 1); /* the hanging one reached the peer */
    kn_http_cancel(h, ha);
    kn_http_cancel(h, hb);
    WAIT_FOR(rec_done(&a) && rec_done(&b));
    ck_assert_int_eq(a.code, KN_ERR_CANCELLED);
    ck_assert_int_eq(b.code, KN_ERR_CANCELLED);
    ck_assert_int_eq(atomic_load(&peer.requests), 1); /* the delayed one never started */

    /* on_data returning KN_HTTP_ABORT */
    char t[256];
    snprintf(t, sizeof(t), "%s/stream/50/1", base_url);
    kn_http_request_t rc = get_req(t, &c, 1);
    c.abort_at = 3;
    ck_assert_int_eq(kn_http_submit(h, &rc, 0, NULL), KN_OK);
    WAIT_FOR(rec_done(&c));
    ck_assert_int_eq(c.code, KN_ERR_CANCELLED);
    ck_assert_int_eq(c.chunks, 3);
    msleep(50);
    ck_assert_int_eq(rec_done(&a) + rec_done(&b) + rec_done(&c), 3); /* exactly once each */
    kn_http_destroy(h);
}
END_TEST

#define SHUTDOWN_REQS 8
typedef struct {
    rec_t rec;
    kn_http_t *h;
    kn_err_t resubmit;
} shut_t;

static void shut_on_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    shut_t *s = opaque;
    rec_on_done(&s->rec, resp, err);
    /* submitting from a callback during shutdown is refused, not lost */
    kn_http_request_t again = {.method = "GET", .url = "http://127.0.0.1:9/",
                               .on_done = shut_on_done, .opaque = s};
    s->resubmit = kn_http_submit(s->h, &again, 0, NULL);
}

START_TEST(destroy_with_requests_in_flight) {
    kn_http_t *h = new_http("http.version", "1.1");
    char hang_u[256], stream_u[256], ok_u[256];
    url("/hang", hang_u, sizeof(hang_u));
    snprintf(stream_u, sizeof(stream_u), "%s/stream/100/50", base_url);
    url("/ok", ok_u, sizeof(ok_u));
    shut_t s[SHUTDOWN_REQS];
    for (int i = 0; i < SHUTDOWN_REQS; i++) {
        rec_init(&s[i].rec);
        s[i].h = h;
        int streaming = i >= 3 && i < 5;
        kn_http_request_t req = get_req(i < 3 ? hang_u : streaming ? stream_u : ok_u, &s[i].rec,
                                        streaming);
        req.on_done = shut_on_done;
        req.opaque = &s[i];
        s[i].rec.pause_every = i == 3 ? 1 : 0; /* one stream paused, one running */
        ck_assert_int_eq(kn_http_submit(h, &req, i < 5 ? 0 : 3600 * 1000, NULL), KN_OK);
    }
    WAIT_FOR(atomic_load(&peer.requests) == 5 && atomic_load(&s[3].rec.paused));
    kn_http_destroy(h);
    for (int i = 0; i < SHUTDOWN_REQS; i++) {
        ck_assert_int_eq(s[i].rec.done_calls, 1);
        ck_assert_int_eq(s[i].rec.code, KN_ERR_SHUTDOWN);
        ck_assert_int_eq(s[i].resubmit, KN_ERR_SHUTDOWN);
    }
}
END_TEST

/* Records the order requests reach the peer; one connection keeps them in line. */
START_TEST(delayed_submissions_start_in_order) {
    kn_http_t *h = new_http("max.connections", "1");
    struct {
        char tag;
        int64_t delay;
    } plan[] = {{'d', 400}, {'b', 200}, {'a', 0}, {'c', 200}, {'e', 400}, {'f', 600}};
    enum { N = sizeof(plan) / sizeof(plan[0]) };
    rec_t r[N];
    char u[N][256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        rec_init(&r[i]);
        char path[32];
        snprintf(path, sizeof(path), "/ok?tag=%c", plan[i].tag);
        kn_http_request_t req = get_req(url(path, u[i], sizeof(u[i])), &r[i], 0);
        ck_assert_int_eq(kn_http_submit(h, &req, plan[i].delay, NULL), KN_OK);
    }
    for (int i = 0; i < N; i++)
        WAIT_FOR(rec_done(&r[i]));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_mutex_lock(&peer.lock);
    ck_assert_str_eq(peer.order, "abcdef");
    pthread_mutex_unlock(&peer.lock);
    int64_t elapsed = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_ge(elapsed, 600); /* nothing starts before its delay */
    kn_http_destroy(h);
}
END_TEST

#define SUBMITTERS 4
#define PER_SUBMITTER 40
typedef struct {
    kn_http_t *h;
    atomic_int *ok;
    atomic_int *calls;
} submitter_t;

static atomic_int calls_seen, ok_seen;

static void count_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    (void)opaque;
    if (!err && resp->status == 200 && !strcmp((char *)resp->body, "{\"ok\":true}"))
        atomic_fetch_add(&ok_seen, 1);
    atomic_fetch_add(&calls_seen, 1);
}

static void *submitter(void *arg) {
    submitter_t *s = arg;
    char u[256];
    url("/ok", u, sizeof(u));
    for (int i = 0; i < PER_SUBMITTER; i++) {
        kn_http_request_t req = {.method = "GET", .url = u, .on_done = count_done};
        ck_assert_int_eq(kn_http_submit(s->h, &req, i % 3, NULL), KN_OK);
    }
    return NULL;
}

START_TEST(concurrent_submitters) {
    kn_http_t *h = new_http("max.connections", "3");
    pthread_t t[SUBMITTERS];
    submitter_t s = {h, NULL, NULL};
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_create(&t[i], NULL, submitter, &s);
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(t[i], NULL);
    WAIT_FOR(atomic_load(&calls_seen) == SUBMITTERS * PER_SUBMITTER);
    ck_assert_int_eq(atomic_load(&ok_seen), SUBMITTERS * PER_SUBMITTER);
    ck_assert_int_le(kn_test_server_accepted(srv), 3);
    kn_http_destroy(h);
}
END_TEST

static void *performer(void *arg) {
    kn_http_t *h = arg;
    for (int i = 0; i < 10; i++) {
        kn_http_response_t *resp = NULL;
        kn_error_t *err = NULL;
        ck_assert_int_eq(perform_get(h, "/ok", &resp, &err), KN_OK);
        ck_assert_int_eq(resp->status, 200);
        ck_assert_ptr_nonnull(resp->request_id);
        kn_http_response_destroy(resp);
    }
    return NULL;
}

typedef struct {
    rec_t rec;
    kn_http_t *h;
    kn_err_t nested;
} nested_t;

static void perform_in_callback(void *opaque, const kn_http_response_t *resp,
                                const kn_error_t *err) {
    nested_t *n = opaque;
    kn_http_response_t *r2 = NULL;
    kn_error_t *e2 = NULL;
    n->nested = perform_get(n->h, "/ok", &r2, &e2);
    ck_assert_ptr_null(r2);
    ck_assert_int_eq(kn_error_code(e2), KN_ERR_STATE);
    kn_error_destroy(e2);
    rec_on_done(&n->rec, resp, err);
}

START_TEST(perform_from_threads_not_from_callbacks) {
    kn_http_t *h = new_http(NULL, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, performer, h);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&peer.requests), 40);

    nested_t n = {.h = h};
    rec_init(&n.rec);
    char u[256];
    kn_http_request_t req = {.method = "GET", .url = url("/ok", u, sizeof(u)),
                             .on_done = perform_in_callback, .opaque = &n};
    ck_assert_int_eq(kn_http_submit(h, &req, 0, NULL), KN_OK);
    WAIT_FOR(rec_done(&n.rec));
    ck_assert_int_eq(n.nested, KN_ERR_STATE);
    ck_assert_int_eq(n.rec.code, KN_OK);
    kn_http_destroy(h);
}
END_TEST

static void never_called(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    (void)opaque;
    (void)resp;
    (void)err;
    ck_abort_msg("on_done of a refused submission");
}

START_TEST(bad_requests_are_refused) {
    kn_http_t *h = new_http(NULL, NULL);
    kn_http_request_t ok = {.method = "GET", .url = "http://127.0.0.1:9/", .on_done = never_called};
    kn_http_request_t r;
    ck_assert_int_eq(kn_http_submit(NULL, &ok, 0, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_http_submit(h, NULL, 0, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_http_submit(h, &ok, -1, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.url = "ftp://127.0.0.1/";
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.url = "http://";
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.url = NULL;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.method = "get";
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.method = "GET /x HTTP/1.1\r\n";
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.on_done = NULL;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.streaming = 1; /* no on_data */
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.body_len = 5; /* no body */
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.timeout_ms = -5;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    kn_header_t injected = {"X-A", "1\r\nX-Injected: 2"};
    r = ok, r.headers = &injected, r.nheaders = 1;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    kn_header_t badname = {"X A", "1"};
    r = ok, r.headers = &badname, r.nheaders = 1;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    r = ok, r.headers = NULL, r.nheaders = 1;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_INVALID_ARG);
    kn_header_t many[KN_HTTP_MAX_HEADERS + 1];
    for (int i = 0; i <= KN_HTTP_MAX_HEADERS; i++)
        many[i] = (kn_header_t){"X-Many", "1"};
    r = ok, r.headers = many, r.nheaders = KN_HTTP_MAX_HEADERS + 1;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_TOO_LARGE);
    char *longv = malloc(KN_HTTP_MAX_HEADER_LINE + 10);
    memset(longv, 'v', KN_HTTP_MAX_HEADER_LINE + 9);
    longv[KN_HTTP_MAX_HEADER_LINE + 9] = 0;
    kn_header_t longh = {"X-Long", longv};
    r = ok, r.headers = &longh, r.nheaders = 1;
    ck_assert_int_eq(kn_http_submit(h, &r, 0, NULL), KN_ERR_TOO_LARGE);
    free(longv);
    kn_http_response_t dummy, *resp = &dummy; /* must be reset to NULL */
    kn_error_t *err = NULL;
    r = ok, r.streaming = 1;
    ck_assert_int_eq(kn_http_perform(h, &r, &resp, &err), KN_ERR_INVALID_ARG);
    ck_assert_ptr_null(resp);
    ck_assert_int_eq(kn_error_code(err), KN_ERR_INVALID_ARG);
    kn_error_destroy(err);
    kn_http_resume(h, NULL);
    kn_http_cancel(h, NULL);
    kn_http_destroy(h);
    kn_http_destroy(NULL);
    kn_http_response_destroy(NULL);
    ck_assert_ptr_null(kn_http_new(NULL, NULL));
}
END_TEST

START_TEST(ca_file_must_be_readable) {
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "tls.ca.file", "/nonexistent/ca.pem", NULL, 0), KN_OK);
    kn_error_t *err = NULL;
    ck_assert_ptr_null(kn_http_new(conf, &err));
    ck_assert_int_eq(kn_error_code(err), KN_ERR_FILE);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "/nonexistent/ca.pem"));
    kn_error_destroy(err);
    ck_assert_int_eq(kn_conf_set(conf, "tls.ca.file", "", NULL, 0), KN_OK);
    setenv("AWS_CA_BUNDLE", "/nonexistent/bundle.pem", 1);
    ck_assert_ptr_null(kn_http_new(conf, &err));
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "/nonexistent/bundle.pem"));
    kn_error_destroy(err);
    unsetenv("AWS_CA_BUNDLE");
    kn_conf_destroy(conf);
}
END_TEST

/* The environment's proxy settings are honoured, and no_proxy exempts loopback. */
START_TEST(proxy_environment) {
    int fd;
    int port = kn_test_refusing_port(&fd);
    char target[128], proxy[128];
    snprintf(target, sizeof(target), "http://127.0.0.1:%d/ok", port);
    snprintf(proxy, sizeof(proxy), "%s", base_url);
    setenv("http_proxy", proxy, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    kn_http_t *h = new_http(NULL, NULL);
    kn_http_request_t req = {.method = "GET", .url = target};
    kn_http_response_t *resp = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, NULL), KN_OK);
    ck_assert_str_eq((char *)resp->body, "via-proxy");
    kn_http_response_destroy(resp);
    pthread_mutex_lock(&peer.lock);
    ck_assert_ptr_nonnull(strstr(peer.last_head, target)); /* absolute-form request line */
    pthread_mutex_unlock(&peer.lock);
    kn_http_destroy(h);

    /* proxy unreachable, but loopback is exempt: the request goes direct */
    char dead[64];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", port);
    setenv("http_proxy", dead, 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    h = new_http(NULL, NULL);
    ck_assert_int_eq(perform_get(h, "/ok", &resp, NULL), KN_OK);
    ck_assert_str_eq((char *)resp->body, "{\"ok\":true}");
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
    unsetenv("http_proxy");
    unsetenv("no_proxy");
    close(fd);
}
END_TEST

/* ---------------------------------------------------------------- logging */

static kn_http_t *new_logged_http(kn_test_log_t *c, const char *level) {
    kn_test_log_init(c);
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "log.level", level, NULL, 0), KN_OK);
    kn_conf_set_log_fn(conf, kn_test_log_fn, c);
    kn_http_t *h = kn_http_new(conf, NULL);
    ck_assert_ptr_nonnull(h);
    kn_conf_destroy(conf);
    return h;
}

static void post_secretly(kn_http_t *h, const char *body, int sensitive) {
    char u[256];
    kn_header_t hdrs[] = {
        {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDSECRETKEYID/20240101/us-east-1/"
                          "kinesis/aws4_request, SignedHeaders=host;x-amz-date, "
                          "Signature=feedfacecafe"},
        {"X-Amz-Security-Token", "SESSIONTOKENVALUE"},
        {"Content-Type", "application/x-amz-json-1.1"}};
    kn_http_request_t req = {.method = "POST", .url = url("/echo?q=QUERYVALUE", u, sizeof(u)),
                             .headers = hdrs, .nheaders = 3, .body = (const uint8_t *)body,
                             .body_len = strlen(body), .sensitive = sensitive};
    kn_http_response_t *resp = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, NULL), KN_OK);
    /* the peer echoes the request, so the secrets are in the reply body too */
    ck_assert_ptr_nonnull(strstr((char *)resp->body, "SESSIONTOKENVALUE"));
    kn_http_response_destroy(resp);
}

static void assert_no_secrets(const kn_test_log_t *c) {
    ck_assert_msg(!strstr(c->text, "feedfacecafe"), "signature logged:\n%s", c->text);
    ck_assert_msg(!strstr(c->text, "AKIDSECRETKEYID"), "credential logged:\n%s", c->text);
    ck_assert_msg(!strstr(c->text, "SESSIONTOKENVALUE"), "token logged:\n%s", c->text);
}

START_TEST(trace_redacts_credentials) {
    kn_test_log_t c;
    kn_http_t *h = new_logged_http(&c, "trace");
    post_secretly(h, "{\"StreamName\":\"PLAINBODY\"}", 0);
    kn_http_destroy(h);
    /* the reply body echoes the headers: even body traces must not show them */
    assert_no_secrets(&c);
    ck_assert_ptr_nonnull(strstr(c.text, "Authorization: [redacted]"));
    ck_assert_ptr_nonnull(strstr(c.text, "X-Amz-Security-Token: [redacted]"));
    ck_assert_ptr_nonnull(strstr(c.text, "PLAINBODY")); /* bodies are traced... */
    ck_assert_int_eq(c.lines[KN_LOG_DEBUG], 1);
}
END_TEST

START_TEST(sensitive_bodies_never_logged) {
    kn_test_log_t c;
    kn_http_t *h = new_logged_http(&c, "trace");
    post_secretly(h, "{\"WebIdentityToken\":\"SECRETBODY\"}", 1);
    kn_http_destroy(h);
    assert_no_secrets(&c);
    ck_assert_msg(!strstr(c.text, "SECRETBODY"), "sensitive body logged:\n%s", c.text);
    ck_assert_ptr_nonnull(strstr(c.text, "Authorization: [redacted]"));
}
END_TEST

START_TEST(debug_logs_one_line_without_bodies) {
    kn_test_log_t c;
    kn_http_t *h = new_logged_http(&c, "debug");
    post_secretly(h, "{\"StreamName\":\"PLAINBODY\"}", 0);
    kn_http_destroy(h);
    assert_no_secrets(&c);
    ck_assert_int_eq(c.lines[KN_LOG_DEBUG], 1);
    ck_assert_msg(strstr(c.text, "POST http://127.0.0.1:") && strstr(c.text, "/echo -> 200"), "%s",
                  c.text);
    ck_assert_ptr_null(strstr(c.text, "PLAINBODY"));
    ck_assert_ptr_null(strstr(c.text, "QUERYVALUE"));
}
END_TEST

static Suite *http_suite(void) {
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, peer_setup, peer_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reply_status_body_request_id);
    tcase_add_test(tc, request_headers_on_the_wire);
    tcase_add_test(tc, keep_alive_reuses_one_connection);
    tcase_add_test(tc, request_timeout);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, oversized_declared_body);
    tcase_add_test(tc, oversized_streamed_body_stops_reading);
    tcase_add_test(tc, connection_dropped_mid_body);
    tcase_add_test(tc, auto_version_on_plain_http);
    tcase_add_test(tc, streaming_pause_resume);
    tcase_add_test(tc, streaming_error_status_is_buffered);
    tcase_add_test(tc, streaming_idle_timeout);
    tcase_add_test(tc, cancel_in_flight_delayed_and_abort);
    tcase_add_test(tc, destroy_with_requests_in_flight);
    tcase_add_test(tc, delayed_submissions_start_in_order);
    tcase_add_test(tc, concurrent_submitters);
    tcase_add_test(tc, perform_from_threads_not_from_callbacks);
    tcase_add_test(tc, bad_requests_are_refused);
    tcase_add_test(tc, ca_file_must_be_readable);
    tcase_add_test(tc, proxy_environment);
    tcase_add_test(tc, trace_redacts_credentials);
    tcase_add_test(tc, sensitive_bodies_never_logged);
    tcase_add_test(tc, debug_logs_one_line_without_bodies);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(http_suite)
