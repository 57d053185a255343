/*
 * The transport against kinesis-local, the real HTTP/2 peer: h2c with prior
 * knowledge, the http.version=auto choices on plain http, and ALPN h2 over TLS
 * with certificate verification, multiplexed on one connection. Requests go
 * through a counting TCP relay so connections are counted on the wire.
 */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "conf.h"
#include "http.h"
#include "kn_test.h"
#include "kn_test_log.h"
#include "kn_test_server.h"

#define CONCURRENT 8
#define RELAY_BUF 65536

static int upstream_port;

static int port_of(const char *url) {
    const char *colon = strrchr(url, ':');
    ck_assert_ptr_nonnull(colon);
    return atoi(colon + 1);
}

/* Copies bytes both ways between the client and kinesis-local until either closes. */
static void relay_conn(kn_test_server_t *srv, int fd, void *opaque) {
    (void)opaque;
    int up = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)upstream_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (up < 0 || connect(up, (struct sockaddr *)&a, sizeof(a))) {
        if (up >= 0)
            close(up);
        return;
    }
    char *buf = malloc(RELAY_BUF);
    struct pollfd p[2] = {{fd, POLLIN, 0}, {up, POLLIN, 0}};
    while (buf && !kn_test_server_stopping(srv)) {
        if (poll(p, 2, 50) <= 0)
            continue;
        int done = 0;
        for (int i = 0; i < 2 && !done; i++) {
            if (!p[i].revents)
                continue;
            ssize_t n = recv(p[i].fd, buf, RELAY_BUF, 0);
            done = n <= 0 || kn_test_write_all(p[1 - i].fd, buf, (size_t)n);
        }
        if (done)
            break;
    }
    free(buf);
    close(up);
}

static kn_test_server_t *relay;
static char relay_url[64];

static void start_relay(const char *endpoint) {
    upstream_port = port_of(endpoint);
    relay = kn_test_server_start(relay_conn, NULL);
    snprintf(relay_url, sizeof(relay_url), "%s://127.0.0.1:%d/",
             strncmp(endpoint, "https", 5) ? "http" : "https", kn_test_server_port(relay));
}

static void stop_relay(void) {
    kn_test_server_stop(relay);
    relay = NULL;
}

static kn_http_t *new_http(const char *version, const char *ca_file) {
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "http.version", version, NULL, 0), KN_OK);
    if (ca_file)
        ck_assert_int_eq(kn_conf_set(conf, "tls.ca.file", ca_file, NULL, 0), KN_OK);
    kn_error_t *err = NULL;
    kn_http_t *h = kn_http_new(conf, &err);
    ck_assert_msg(h != NULL, "%s", kn_error_message(err));
    kn_conf_destroy(conf);
    return h;
}

/* Shaped like a signed Kinesis call: kinesis-local checks presence, not the signature. */
static const kn_header_t list_streams_headers[] = {
    {"Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, "
                      "SignedHeaders=host;x-amz-date, Signature=feedfacecafe"},
    {"X-Amz-Date", "20240101T000000Z"},
    {"X-Amz-Target", "Kinesis_20131202.ListStreams"},
    {"Content-Type", "application/x-amz-json-1.1"},
};

#define NHEADERS (sizeof(list_streams_headers) / sizeof(list_streams_headers[0]))

static kn_http_request_t list_streams(const char *url) {
    kn_http_request_t req = {.method = "POST", .url = url, .headers = list_streams_headers,
                             .nheaders = NHEADERS, .body = (const uint8_t *)"{}", .body_len = 2};
    return req;
}

/* Any Kinesis operation, shaped like list_streams(); hdrs and target are the caller's. */
static kn_http_request_t kinesis_op(const char *url, kn_header_t *hdrs, char *target,
                                    size_t target_size, const char *op, const char *body) {
    memcpy(hdrs, list_streams_headers, sizeof(list_streams_headers));
    snprintf(target, target_size, "Kinesis_20131202.%s", op);
    hdrs[2].value = target;
    kn_http_request_t req = {.method = "POST", .url = url, .headers = hdrs, .nheaders = NHEADERS,
                             .body = (const uint8_t *)body, .body_len = strlen(body)};
    return req;
}

static cJSON *call_ok(kn_http_t *h, const char *op, const char *body) {
    kn_header_t hdrs[NHEADERS];
    char target[128];
    kn_http_request_t req =
        kinesis_op(kn_test_kinesis_endpoint(), hdrs, target, sizeof(target), op, body);
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_msg(kn_http_perform(h, &req, &resp, &err) == KN_OK, "%s: %s", op,
                  kn_error_message(err));
    ck_assert_msg(resp->status == 200, "%s: %d %s", op, resp->status, (char *)resp->body);
    cJSON *j = resp->body_len ? cJSON_Parse((const char *)resp->body) : cJSON_CreateObject();
    kn_http_response_destroy(resp);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void expect_list_streams_reply(const kn_http_response_t *resp, int version) {
    ck_assert_int_eq(resp->status, 200);
    ck_assert_int_eq(resp->http_version, version);
    ck_assert_ptr_nonnull(resp->request_id);
    ck_assert_ptr_nonnull(strstr((const char *)resp->body, "StreamNames"));
}

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, ok, version_ok;
    int want_version;
} batch_t;

static void batch_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    batch_t *b = opaque;
    pthread_mutex_lock(&b->lock);
    if (!err && resp->status == 200 && strstr((const char *)resp->body, "StreamNames"))
        b->ok++;
    if (err)
        fprintf(stderr, "request failed: %s\n", kn_error_message(err));
    if (resp && resp->http_version == b->want_version)
        b->version_ok++;
    b->done++;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Submits CONCURRENT requests at once and waits for them all. */
static void run_batch(kn_http_t *h, const char *url, int want_version) {
    batch_t b = {.want_version = want_version};
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    for (int i = 0; i < CONCURRENT; i++) {
        kn_http_request_t req = list_streams(url);
        req.on_done = batch_done;
        req.opaque = &b;
        ck_assert_int_eq(kn_http_submit(h, &req, 0, NULL), KN_OK);
    }
    pthread_mutex_lock(&b.lock);
    while (b.done < CONCURRENT)
        pthread_cond_wait(&b.cond, &b.lock);
    pthread_mutex_unlock(&b.lock);
    ck_assert_int_eq(b.ok, CONCURRENT);
    ck_assert_int_eq(b.version_ok, CONCURRENT);
    pthread_cond_destroy(&b.cond);
    pthread_mutex_destroy(&b.lock);
}

/*
 * libcurl 8 multiplexes h2c on one connection; libcurl 7.88 cannot reuse an h2c
 * prior-knowledge connection (curl issue #10634), so the transport opens one per
 * request there rather than fail them.
 */
START_TEST(h2c_prior_knowledge) {
    start_relay(kn_test_kinesis_endpoint());
    kn_http_t *h = new_http("2", NULL);
    run_batch(h, relay_url, 20);
    run_batch(h, relay_url, 20);
    int multiplexing = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
    ck_assert_int_eq(kn_test_server_accepted(relay), multiplexing ? 1 : 2 * CONCURRENT);
    kn_http_destroy(h);
    stop_relay();
}
END_TEST

START_TEST(auto_plain_http_uses_http11) {
    kn_http_t *h = new_http("auto", NULL);
    kn_http_request_t req = list_streams(kn_test_kinesis_endpoint());
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, &err), KN_OK);
    expect_list_streams_reply(resp, 11);
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
}
END_TEST

typedef struct {
    atomic_int done;
    int header_version;
    size_t streamed;
    kn_err_t code;
} stream_rec_t;

static void sr_headers(void *opaque, const kn_http_response_t *resp) {
    ((stream_rec_t *)opaque)->header_version = resp->http_version;
}

static int sr_data(void *opaque, const uint8_t *data, size_t len) {
    (void)data;
    ((stream_rec_t *)opaque)->streamed += len;
    return KN_HTTP_CONTINUE;
}

static void sr_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    stream_rec_t *s = opaque;
    s->code = kn_error_code(err);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->body_len, 0); /* handed to on_data instead */
    atomic_store(&s->done, 1);
}

START_TEST(auto_plain_http_streaming_uses_h2c) {
    kn_http_t *h = new_http("auto", NULL);
    stream_rec_t s = {0};
    kn_http_request_t req = list_streams(kn_test_kinesis_endpoint());
    req.streaming = 1;
    req.on_headers = sr_headers;
    req.on_data = sr_data;
    req.on_done = sr_done;
    req.opaque = &s;
    ck_assert_int_eq(kn_http_submit(h, &req, 0, NULL), KN_OK);
    while (!atomic_load(&s.done)) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(s.code, KN_OK);
    ck_assert_int_eq(s.header_version, 20);
    ck_assert_uint_gt(s.streamed, 0);
    kn_http_destroy(h);
}
END_TEST

/* libcurl prints HTTP/2 request headers in its own text lines: those are redacted too. */
START_TEST(h2_trace_redacts_authorization) {
    kn_test_log_t c;
    kn_test_log_init(&c);
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "trace", NULL, 0), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "http.version", "2", NULL, 0), KN_OK);
    kn_conf_set_log_fn(conf, kn_test_log_fn, &c);
    kn_http_t *h = kn_http_new(conf, NULL);
    kn_conf_destroy(conf);
    kn_http_request_t req = list_streams(kn_test_kinesis_endpoint());
    kn_http_response_t *resp = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, NULL), KN_OK);
    expect_list_streams_reply(resp, 20);
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
    ck_assert_msg(!strstr(c.text, "feedfacecafe"), "%s", c.text);
    ck_assert_msg(!strstr(c.text, "Credential="), "%s", c.text);
    ck_assert_ptr_nonnull(strcasestr(c.text, "authorization: [redacted]"));
}
END_TEST

START_TEST(tls_alpn_h2_with_verification) {
    const char *tls = kn_test_kinesis_tls_endpoint(), *ca = getenv("KN_TEST_CA_FILE");
    if (!tls || !ca || !*ca) {
        fprintf(stderr, "no TLS peer (KN_TEST_KINESIS_TLS_ENDPOINT, KN_TEST_CA_FILE): skipped\n");
        return;
    }
    unsetenv("AWS_CA_BUNDLE");
    /* the test CA is not in the system store: verification must refuse the peer */
    kn_http_t *h = new_http("auto", NULL);
    kn_http_request_t req = list_streams(tls);
    kn_http_response_t *resp = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, &err), KN_ERR_TRANSPORT);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "127.0.0.1:"));
    kn_error_destroy(err);
    kn_http_destroy(h);

    /* trusted through AWS_CA_BUNDLE */
    setenv("AWS_CA_BUNDLE", ca, 1);
    h = new_http("auto", NULL);
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, &err), KN_OK);
    expect_list_streams_reply(resp, 20);
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
    unsetenv("AWS_CA_BUNDLE");

    /* trusted through tls.ca.file: ALPN picks h2, requests multiplex on one connection */
    start_relay(tls);
    h = new_http("auto", ca);
    run_batch(h, relay_url, 20);
    ck_assert_int_eq(kn_test_server_accepted(relay), 1);
    kn_http_destroy(h);
    stop_relay();

    /* http.version=1.1 holds over TLS too */
    h = new_http("1.1", ca);
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, NULL), KN_OK);
    expect_list_streams_reply(resp, 11);
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
}
END_TEST

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

typedef struct {
    atomic_int paused, chunks, done, pause_next;
    atomic_int bad; /* data arrived while paused */
    kn_err_t code;
    int status, version;
} sub_t;

static void sub_headers(void *opaque, const kn_http_response_t *resp) {
    sub_t *s = opaque;
    s->status = resp->status;
    s->version = resp->http_version;
}

static int sub_data(void *opaque, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    sub_t *s = opaque;
    if (atomic_load(&s->paused))
        atomic_store(&s->bad, 1);
    atomic_fetch_add(&s->chunks, 1);
    if (atomic_exchange(&s->pause_next, 0)) {
        atomic_store(&s->paused, 1);
        return KN_HTTP_PAUSE;
    }
    return KN_HTTP_CONTINUE;
}

static void sub_done(void *opaque, const kn_http_response_t *resp, const kn_error_t *err) {
    (void)resp;
    sub_t *s = opaque;
    s->code = kn_error_code(err);
    atomic_store(&s->done, 1);
}

/*
 * A live SubscribeToShard stream (an event each second) in http.version=auto:
 * h2c prior knowledge, paused and resumed without data while paused, while
 * ordinary calls to the same peer keep working over HTTP/1.1; then cancelled.
 */
START_TEST(subscribe_to_shard_pause_resume_cancel) {
    kn_http_t *h = new_http("auto", NULL);
    char name[64], body[512];
    kn_test_unique_name("kn-http", name, sizeof(name));
    snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"ShardCount\":1}", name);
    cJSON_Delete(call_ok(h, "CreateStream", body));
    char arn[256] = "";
    for (;;) {
        snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", name);
        cJSON *d = call_ok(h, "DescribeStreamSummary", body);
        cJSON *sum = cJSON_GetObjectItem(d, "StreamDescriptionSummary");
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(sum, "StreamStatus"));
        if (st && !strcmp(st, "ACTIVE"))
            snprintf(arn, sizeof(arn), "%s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(sum, "StreamARN")));
        cJSON_Delete(d);
        if (*arn)
            break;
        msleep(100);
    }
    snprintf(body, sizeof(body), "{\"StreamARN\":\"%s\",\"ConsumerName\":\"c1\"}", arn);
    cJSON *reg = call_ok(h, "RegisterStreamConsumer", body);
    char consumer[384];
    snprintf(consumer, sizeof(consumer), "%s",
             cJSON_GetStringValue(
                 cJSON_GetObjectItem(cJSON_GetObjectItem(reg, "Consumer"), "ConsumerARN")));
    cJSON_Delete(reg);
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"%s\",\"PartitionKey\":\"k\",\"Data\":\"aGVsbG8=\"}", name);
    cJSON_Delete(call_ok(h, "PutRecord", body));

    sub_t s = {0};
    atomic_store(&s.pause_next, 1);
    kn_header_t hdrs[NHEADERS];
    char target[128];
    snprintf(body, sizeof(body),
             "{\"ConsumerARN\":\"%s\",\"ShardId\":\"shardId-000000000000\","
             "\"StartingPosition\":{\"Type\":\"TRIM_HORIZON\"}}", consumer);
    kn_http_request_t req = kinesis_op(kn_test_kinesis_endpoint(), hdrs, target, sizeof(target),
                                       "SubscribeToShard", body);
    req.streaming = 1;
    req.idle_timeout_ms = 30000;
    req.on_headers = sub_headers;
    req.on_data = sub_data;
    req.on_done = sub_done;
    req.opaque = &s;
    kn_http_req_t *handle;
    ck_assert_int_eq(kn_http_submit(h, &req, 0, &handle), KN_OK);
    while (!atomic_load(&s.paused) && !atomic_load(&s.done))
        msleep(10);
    ck_assert_int_eq(atomic_load(&s.done), 0);
    ck_assert_int_eq(s.status, 200);
    ck_assert_int_eq(s.version, 20);
    /* paused across more than two server ticks; meanwhile an HTTP/1.1 call */
    int before = atomic_load(&s.chunks);
    kn_http_response_t *resp = NULL;
    kn_http_request_t ls = list_streams(kn_test_kinesis_endpoint());
    ck_assert_int_eq(kn_http_perform(h, &ls, &resp, NULL), KN_OK);
    expect_list_streams_reply(resp, 11);
    kn_http_response_destroy(resp);
    msleep(2500);
    ck_assert_int_eq(atomic_load(&s.chunks), before);
    atomic_store(&s.paused, 0);
    kn_http_resume(h, handle);
    while (atomic_load(&s.chunks) < before + 2 && !atomic_load(&s.done))
        msleep(10);
    ck_assert_int_eq(atomic_load(&s.done), 0);
    kn_http_cancel(h, handle);
    while (!atomic_load(&s.done))
        msleep(10);
    ck_assert_int_eq(s.code, KN_ERR_CANCELLED);
    ck_assert_int_eq(atomic_load(&s.bad), 0);
    snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"EnforceConsumerDeletion\":true}", name);
    cJSON_Delete(call_ok(h, "DeleteStream", body));
    kn_http_destroy(h);
}
END_TEST

static Suite *h2_suite(void) {
    kn_test_require_peers(); /* exits 77 (skipped) without them */
    Suite *s = suite_create("http_h2");
    TCase *tc = tcase_create("http_h2");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, h2c_prior_knowledge);
    tcase_add_test(tc, auto_plain_http_uses_http11);
    tcase_add_test(tc, auto_plain_http_streaming_uses_h2c);
    tcase_add_test(tc, h2_trace_redacts_authorization);
    tcase_add_test(tc, tls_alpn_h2_with_verification);
    tcase_add_test(tc, subscribe_to_shard_pause_resume_cancel);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(h2_suite)
