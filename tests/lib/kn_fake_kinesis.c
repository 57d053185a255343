/* A fake Kinesis (ListShards, PutRecords) over HTTP/1.1 for tests and benchmarks. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base64.h"
#include "hashkey.h"
#include "kn_fake_kinesis.h"
#include "kn_test_server.h"
#include "md5.h"

#define MAX_SHARDS 1024
#define MAX_BODY (16u * 1024 * 1024)
#define TARGET_PREFIX "Kinesis_20131202."

typedef unsigned __int128 u128;

/* Usable outside Check (the benchmark sink is a plain program): abort loudly. */
#define MUST(cond)                                                                  \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: fake Kinesis: %s failed\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

typedef struct conn_s {
    struct conn_s *next;
    struct kn_fake_kinesis_s *f;
    int fd;
    pthread_t thread;
} conn_t;

struct kn_fake_kinesis_s {
    int listen_fd;
    pthread_t accept_thread;
    atomic_int stopping;
    conn_t *conns;           /* under lock */
    char url[64];
    int nshards;
    int store;
    u128 start[MAX_SHARDS];
    pthread_mutex_t lock;
    kn_fake_faults_t faults;
    int64_t requests, entries, entry_no, lists;
    uint64_t seq;
    size_t max_body, max_entry, max_entries;
    kn_fake_record_t *recs;
    size_t nrecs, cap;
};

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->buf, cap);
        MUST(p);
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

static void sb_str(sbuf_t *b, const char *s) { sb_add(b, s, strlen(s)); }

static void u128_dec(u128 v, char out[40]) {
    kn_u128_t k = {(uint64_t)(v >> 64), (uint64_t)v};
    kn_u128_to_decimal(k, out, 40);
}

void kn_fake_kinesis_range(const kn_fake_kinesis_t *f, int i, char *start, char *end) {
    u128_dec(f->start[i], start);
    u128_dec(i + 1 < f->nshards ? f->start[i + 1] - 1 : ~(u128)0, end);
}

static int shard_of(const kn_fake_kinesis_t *f, kn_u128_t h) {
    u128 v = (u128)h.hi << 64 | h.lo;
    int i = f->nshards - 1;
    while (i > 0 && f->start[i] > v)
        i--;
    return i;
}

static int respond(int fd, int status, const char *reason, const char *body) {
    char head[256];
    size_t n = strlen(body);
    int h = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     "x-amzn-RequestId: fake-request\r\nContent-Length: %zu\r\n\r\n",
                     status, reason, n);
    if (kn_test_write_all(fd, head, (size_t)h))
        return -1;
    return kn_test_write_all(fd, body, n);
}

static void list_shards(kn_fake_kinesis_t *f, int fd) {
    pthread_mutex_lock(&f->lock);
    int fail = f->lists++ < f->faults.list_fail_first;
    pthread_mutex_unlock(&f->lock);
    if (fail) {
        respond(fd, 500, "Internal Server Error", "{\"__type\":\"InternalFailure\"}");
        return;
    }
    sbuf_t b = {0};
    sb_str(&b, "{\"Shards\":[");
    for (int i = 0; i < f->nshards; i++) {
        char s[40], e[40], item[512];
        kn_fake_kinesis_range(f, i, s, e);
        snprintf(item, sizeof(item),
                 "%s{\"ShardId\":\"shardId-%012d\",\"HashKeyRange\":{\"StartingHashKey\":\"%s\","
                 "\"EndingHashKey\":\"%s\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":"
                 "\"49000000000000000000000000000000000000000000000000000000\"}}",
                 i ? "," : "", i, s, e);
        sb_str(&b, item);
    }
    sb_str(&b, "]}");
    respond(fd, 200, "OK", b.buf);
    free(b.buf);
}

typedef struct {
    char *pk, *ehk;
    uint8_t *data; /* store mode only */
    size_t len;
} entry_t;

/* Parses Records with cJSON (robust, used by store mode and as fallback). */
static int parse_json(const char *body, entry_t **out, size_t *n, int keep_data) {
    cJSON *root = cJSON_Parse(body);
    cJSON *recs = root ? cJSON_GetObjectItemCaseSensitive(root, "Records") : NULL;
    if (!cJSON_IsArray(recs)) {
        cJSON_Delete(root);
        return -1;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(recs), i = 0;
    entry_t *e = calloc(cnt ? cnt : 1, sizeof(*e));
    cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "Data");
        cJSON *pk = cJSON_GetObjectItemCaseSensitive(r, "PartitionKey");
        cJSON *ehk = cJSON_GetObjectItemCaseSensitive(r, "ExplicitHashKey");
        if (!cJSON_IsString(d) || !cJSON_IsString(pk))
            continue;
        e[i].pk = strdup(pk->valuestring);
        e[i].ehk = cJSON_IsString(ehk) ? strdup(ehk->valuestring) : NULL;
        size_t blen = strlen(d->valuestring);
        e[i].data = malloc(blen + 1);
        if (kn_base64_decode(d->valuestring, blen, e[i].data, blen + 1, &e[i].len) != KN_OK)
            e[i].len = 0;
        if (!keep_data) {
            free(e[i].data);
            e[i].data = NULL;
        }
        i++;
    }
    cJSON_Delete(root);
    *out = e;
    *n = i;
    return 0;
}

/* Scans this SDK's own encoding without building a tree (fast mode). */
static int parse_fast(const char *body, entry_t **out, size_t *n) {
    size_t cap = 64, cnt = 0;
    entry_t *e = calloc(cap, sizeof(*e));
    const char *p = strstr(body, "\"Records\":[");
    if (!p) {
        free(e);
        return -1;
    }
    while ((p = strstr(p, "{\"Data\":\""))) {
        p += 9;
        const char *q = strchr(p, '"');
        if (!q)
            break;
        size_t b64 = (size_t)(q - p), pad = b64 && q[-1] == '=' ? (b64 > 1 && q[-2] == '=' ? 2 : 1) : 0;
        size_t len = b64 / 4 * 3 - pad;
        if (strncmp(q, "\",\"PartitionKey\":\"", 18))
            break;
        const char *k = q + 18, *ke = strchr(k, '"');
        if (!ke || memchr(k, '\\', (size_t)(ke - k)))
            break; /* escapes: let cJSON do it */
        if (cnt == cap) {
            cap *= 2;
            e = realloc(e, cap * sizeof(*e));
        }
        e[cnt].pk = strndup(k, (size_t)(ke - k));
        e[cnt].ehk = NULL;
        e[cnt].data = NULL;
        e[cnt].len = len;
        p = ke + 1;
        if (!strncmp(p, ",\"ExplicitHashKey\":\"", 20)) {
            const char *h = p + 20, *he = strchr(h, '"');
            if (!he)
                break;
            e[cnt].ehk = strndup(h, (size_t)(he - h));
            p = he + 1;
        }
        cnt++;
    }
    *out = e;
    *n = cnt;
    return 0;
}

static void free_entries(entry_t *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(e[i].pk);
        free(e[i].ehk);
        free(e[i].data);
    }
    free(e);
}

/* Returns -1 to drop the connection. */
static int put_records(kn_fake_kinesis_t *f, int fd, const char *body, size_t body_len,
                       kn_md5_t *md5) {
    pthread_mutex_lock(&f->lock);
    int64_t req = ++f->requests;
    kn_fake_faults_t ft = f->faults;
    if (body_len > f->max_body)
        f->max_body = body_len;
    pthread_mutex_unlock(&f->lock);
    if (ft.delay_ms)
        usleep((useconds_t)ft.delay_ms * 1000);
    if (ft.request_drop_every && req % ft.request_drop_every == 0)
        return -1;
    if (ft.request_500_every && req % ft.request_500_every == 0)
        return respond(fd, 500, "Internal Server Error",
                       "{\"__type\":\"InternalFailure\",\"message\":\"injected\"}");
    if (ft.request_throttle_every && req % ft.request_throttle_every == 0)
        return respond(fd, 400, "Bad Request",
                       "{\"__type\":\"LimitExceededException\",\"message\":\"injected\"}");
    entry_t *e = NULL;
    size_t n = 0;
    int bad = f->store ? parse_json(body, &e, &n, 1)
                       : (parse_fast(body, &e, &n) || !n ? parse_json(body, &e, &n, 0) : 0);
    if (bad || !n) {
        free_entries(e, n);
        return respond(fd, 400, "Bad Request",
                       "{\"__type\":\"SerializationException\",\"message\":\"bad Records\"}");
    }
    sbuf_t b = {0};
    sb_str(&b, "{\"Records\":[");
    int failed = 0;
    pthread_mutex_lock(&f->lock);
    if (n > f->max_entries)
        f->max_entries = n;
    for (size_t i = 0; i < n; i++) {
        char item[256];
        int64_t no = ++f->entry_no;
        size_t esize = e[i].len + strlen(e[i].pk);
        if (esize > f->max_entry)
            f->max_entry = esize;
        const char *code = NULL;
        if (ft.entry_throttle_every && no % ft.entry_throttle_every == 0)
            code = "ProvisionedThroughputExceededException";
        else if (ft.entry_internal_every && no % ft.entry_internal_every == 0)
            code = "InternalFailure";
        if (code) {
            failed++;
            snprintf(item, sizeof(item), "%s{\"ErrorCode\":\"%s\",\"ErrorMessage\":\"injected\"}",
                     i ? "," : "", code);
            sb_str(&b, item);
            continue;
        }
        kn_u128_t h = {0, 0};
        if (e[i].ehk)
            kn_u128_parse_decimal(e[i].ehk, strlen(e[i].ehk), &h);
        else
            kn_hashkey_from_partition_key_md5(md5, e[i].pk, strlen(e[i].pk), &h);
        int shard = shard_of(f, h);
        char seq[32];
        snprintf(seq, sizeof(seq), "49%024llu", (unsigned long long)++f->seq);
        f->entries++;
        snprintf(item, sizeof(item), "%s{\"SequenceNumber\":\"%s\",\"ShardId\":\"shardId-%012d\"}",
                 i ? "," : "", seq, shard);
        sb_str(&b, item);
        if (f->store) {
            if (f->nrecs == f->cap) {
                f->cap = f->cap ? f->cap * 2 : 1024;
                f->recs = realloc(f->recs, f->cap * sizeof(*f->recs));
                MUST(f->recs);
            }
            kn_fake_record_t *r = &f->recs[f->nrecs++];
            r->shard = shard;
            snprintf(r->shard_id, sizeof(r->shard_id), "shardId-%012d", shard);
            snprintf(r->seq, sizeof(r->seq), "%s", seq);
            r->pk = e[i].pk;
            r->ehk = e[i].ehk;
            r->data = e[i].data;
            r->len = e[i].len;
            e[i].pk = e[i].ehk = NULL;
            e[i].data = NULL;
        }
    }
    pthread_mutex_unlock(&f->lock);
    char tail[64];
    snprintf(tail, sizeof(tail), "],\"FailedRecordCount\":%d}", failed);
    sb_str(&b, tail);
    int rc = respond(fd, 200, "OK", b.buf);
    free(b.buf);
    free_entries(e, n);
    return rc;
}

static int header_value(const char *head, const char *name, char *out, size_t size) {
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (!strncasecmp(h, name, nl) && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ')
                h++;
            size_t n = strcspn(h, "\r\n");
            if (n >= size)
                n = size - 1;
            memcpy(out, h, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}

static void *serve_conn(void *arg) {
    conn_t *cn = arg;
    kn_fake_kinesis_t *f = cn->f;
    int fd = cn->fd;
    kn_md5_t *md5 = kn_md5_new();
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    MUST(buf && md5);
    while (!atomic_load(&f->stopping)) {
        char *end;
        buf[len] = 0;
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            if (len == cap)
                goto out; /* absurd header */
            ssize_t got = recv(fd, buf + len, cap - len, 0);
            if (got <= 0)
                goto out;
            len += (size_t)got;
            buf[len] = 0;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        *end = 0;
        char v[256] = "";
        size_t body_len = header_value(buf, "Content-Length", v, sizeof(v)) ? strtoul(v, NULL, 10) : 0;
        char target[128] = "";
        header_value(buf, "X-Amz-Target", target, sizeof(target));
        int expect = header_value(buf, "Expect", v, sizeof(v)) && !strcasecmp(v, "100-continue");
        if (body_len > MAX_BODY)
            goto out;
        if (head_len + body_len > cap) {
            cap = head_len + body_len;
            buf = realloc(buf, cap + 1);
        }
        if (expect && len < head_len + body_len &&
            kn_test_write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
            goto out;
        while (len < head_len + body_len) {
            ssize_t got = recv(fd, buf + len, cap - len, 0);
            if (got <= 0)
                goto out;
            len += (size_t)got;
        }
        char *body = buf + head_len;
        char saved = body[body_len];
        body[body_len] = 0;
        int rc = 0;
        if (!strcmp(target, TARGET_PREFIX "ListShards"))
            list_shards(f, fd);
        else if (!strcmp(target, TARGET_PREFIX "PutRecords"))
            rc = put_records(f, fd, body, body_len, md5);
        else
            rc = respond(fd, 400, "Bad Request", "{\"__type\":\"UnknownOperationException\"}");
        body[body_len] = saved;
        if (rc)
            goto out;
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
    }
out:
    free(buf);
    kn_md5_destroy(md5);
    shutdown(fd, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg) {
    kn_fake_kinesis_t *f = arg;
    for (;;) {
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* closed by stop */
        }
        if (atomic_load(&f->stopping)) {
            close(fd);
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_t *cn = calloc(1, sizeof(*cn));
        MUST(cn);
        cn->f = f;
        cn->fd = fd;
        pthread_mutex_lock(&f->lock);
        cn->next = f->conns;
        f->conns = cn;
        pthread_mutex_unlock(&f->lock);
        MUST(pthread_create(&cn->thread, NULL, serve_conn, cn) == 0);
    }
}

kn_fake_kinesis_t *kn_fake_kinesis_start(int shards, int store) {
    MUST(shards >= 1 && shards <= MAX_SHARDS);
    kn_fake_kinesis_t *f = calloc(1, sizeof(*f));
    MUST(f);
    f->nshards = shards;
    f->store = store;
    u128 step = ~(u128)0 / (u128)shards;
    for (int i = 0; i < shards; i++)
        f->start[i] = step * (u128)i;
    pthread_mutex_init(&f->lock, NULL);
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    MUST(f->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    MUST(bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    MUST(listen(f->listen_fd, 256) == 0);
    socklen_t alen = sizeof(a);
    MUST(getsockname(f->listen_fd, (struct sockaddr *)&a, &alen) == 0);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    MUST(pthread_create(&f->accept_thread, NULL, accept_main, f) == 0);
    return f;
}

const char *kn_fake_kinesis_url(const kn_fake_kinesis_t *f) { return f->url; }

void kn_fake_kinesis_set_faults(kn_fake_kinesis_t *f, const kn_fake_faults_t *faults) {
    pthread_mutex_lock(&f->lock);
    f->faults = *faults;
    pthread_mutex_unlock(&f->lock);
}

int64_t kn_fake_kinesis_requests(kn_fake_kinesis_t *f) {
    pthread_mutex_lock(&f->lock);
    int64_t n = f->requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int64_t kn_fake_kinesis_entries(kn_fake_kinesis_t *f) {
    pthread_mutex_lock(&f->lock);
    int64_t n = f->entries;
    pthread_mutex_unlock(&f->lock);
    return n;
}

void kn_fake_kinesis_maxima(kn_fake_kinesis_t *f, size_t *body, size_t *entry, size_t *entries) {
    pthread_mutex_lock(&f->lock);
    *body = f->max_body;
    *entry = f->max_entry;
    *entries = f->max_entries;
    pthread_mutex_unlock(&f->lock);
}

const kn_fake_record_t *kn_fake_kinesis_records(kn_fake_kinesis_t *f, size_t *count) {
    pthread_mutex_lock(&f->lock);
    *count = f->nrecs;
    const kn_fake_record_t *r = f->recs;
    pthread_mutex_unlock(&f->lock);
    return r;
}

void kn_fake_kinesis_stop(kn_fake_kinesis_t *f) {
    if (!f)
        return;
    atomic_store(&f->stopping, 1);
    shutdown(f->listen_fd, SHUT_RDWR);
    close(f->listen_fd);
    pthread_join(f->accept_thread, NULL);
    pthread_mutex_lock(&f->lock);
    conn_t *cn = f->conns;
    f->conns = NULL;
    for (conn_t *c = cn; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&f->lock);
    while (cn) {
        conn_t *n = cn->next;
        pthread_join(cn->thread, NULL);
        close(cn->fd);
        free(cn);
        cn = n;
    }
    for (size_t i = 0; i < f->nrecs; i++) {
        free(f->recs[i].pk);
        free(f->recs[i].ehk);
        free(f->recs[i].data);
    }
    free(f->recs);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void kn_fake_kinesis_serve_forever(kn_fake_kinesis_t *f) {
    printf("%s\n", f->url);
    fflush(stdout);
    for (;;)
        pause();
}
