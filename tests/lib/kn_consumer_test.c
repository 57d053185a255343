/* Consumer integration test helpers; see kn_consumer_test.h. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "dynamodb_api.h"
#include "kn_test_server.h"
#include "kn_consumer_test.h"

/*
 * These helpers also run outside Check tests (worker processes, the benchmark),
 * where ck_assert cannot report: a failed step prints why and aborts, which a
 * Check test reports as an error.
 */
#define MUST(cond, ...)                                                                  \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

kn_kinesis_t *kct_kinesis(void) {
    kn_conf_t *conf = kn_conf_new();
    char err[512];
    kn_conf_set(conf, "log.level", "warn", NULL, 0);
    kn_kinesis_t *k = kn_kinesis_new(conf, err, sizeof(err));
    kn_conf_destroy(conf);
    MUST(k != NULL, "kinesis client: %s", err);
    return k;
}

static void fail_with(const char *what, kn_error_t *e) {
    char buf[512];
    MUST(0, "%s: %s", what, e ? kn_error_format(e, buf, sizeof(buf)) : "?");
}

void kct_create_stream(kn_kinesis_t *k, const char *name, int shards) {
    kn_error_t *e = NULL;
    if (kn_kinesis_create_stream(k, name, shards, KN_STREAM_MODE_PROVISIONED, &e))
        fail_with("CreateStream", e);
    if (kn_kinesis_wait_stream_active(k, name, 60000, &e))
        fail_with("waiting for the stream", e);
}

void kct_delete_stream(kn_kinesis_t *k, const char *name) {
    kn_error_t *e = NULL;
    if (kn_kinesis_delete_stream(k, name, 1, &e) == KN_OK)
        kn_kinesis_wait_stream_deleted(k, name, 60000, NULL);
    kn_error_destroy(e);
}

static void put_entries(kn_kinesis_t *k, const char *stream, kn_put_entry_t *ents, size_t n) {
    for (int attempt = 0; n && attempt < 20; attempt++) {
        kn_put_records_result_t *res = NULL;
        kn_error_t *e = NULL;
        if (kn_kinesis_put_records(k, stream, ents, n, &res, &e)) {
            kn_error_destroy(e);
            usleep(100000);
            continue;
        }
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
            if (res->entries[i].err != KN_OK)
                ents[left++] = ents[i];
        kn_put_records_result_destroy(res);
        n = left;
    }
    MUST(n == 0, "%zu records could not be put", n);
}

void kct_put(kn_kinesis_t *k, const char *stream, const char *prefix, int from, int to, int batch) {
    kn_put_entry_t *ents = calloc((size_t)batch, sizeof(*ents));
    char(*data)[64] = calloc((size_t)batch, sizeof(*data));
    char(*keys)[32] = calloc((size_t)batch, sizeof(*keys));
    for (int i = from; i < to;) {
        size_t n = 0;
        for (; n < (size_t)batch && i < to; n++, i++) {
            snprintf(data[n], sizeof(data[n]), "%s-%d", prefix, i);
            snprintf(keys[n], sizeof(keys[n]), "pk-%d-%d", i, rand());
            ents[n].data = data[n];
            ents[n].data_len = strlen(data[n]);
            ents[n].partition_key = keys[n];
        }
        put_entries(k, stream, ents, n);
    }
    free(ents);
    free(data);
    free(keys);
}

void kct_put_aggregated(kn_kinesis_t *k, const char *stream, const char *prefix, int from, int to,
                        int per) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    size_t cap = 1024 * 1024;
    uint8_t *buf = malloc(cap);
    for (int i = from; i < to;) {
        kn_agg_builder_reset(b);
        char first_key[32] = "";
        for (int j = 0; j < per && i < to; j++, i++) {
            char data[64], key[32];
            snprintf(data, sizeof(data), "%s-%d", prefix, i);
            snprintf(key, sizeof(key), "agg-%d", rand() % 7);
            if (!*first_key)
                snprintf(first_key, sizeof(first_key), "%s", key);
            MUST(kn_agg_builder_add(b, key, strlen(key), NULL, 0, data, strlen(data), SIZE_MAX) ==
                     KN_OK, "aggregating %s", data);
        }
        size_t len;
        MUST(kn_agg_builder_finish(b, buf, cap, &len) == KN_OK, "finishing an aggregate");
        kn_put_entry_t ent = {buf, len, first_key, NULL};
        put_entries(k, stream, &ent, 1);
    }
    free(buf);
    kn_agg_builder_destroy(b);
}

struct kct_putter_s {
    kn_kinesis_t *k;
    char stream[160];
    char prefix[32];
    int batch, pause_ms, count;
    atomic_int stop;
    pthread_t th;
};

static void *putter_main(void *arg) {
    kct_putter_t *p = arg;
    while (!atomic_load(&p->stop)) {
        kct_put(p->k, p->stream, p->prefix, p->count, p->count + p->batch, p->batch);
        p->count += p->batch;
        usleep((useconds_t)p->pause_ms * 1000);
    }
    return NULL;
}

kct_putter_t *kct_putter_start(kn_kinesis_t *k, const char *stream, const char *prefix, int batch,
                               int pause_ms) {
    kct_putter_t *p = calloc(1, sizeof(*p));
    MUST(p, "out of memory");
    p->k = k;
    snprintf(p->stream, sizeof(p->stream), "%s", stream);
    snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
    p->batch = batch;
    p->pause_ms = pause_ms;
    atomic_init(&p->stop, 0);
    MUST(!pthread_create(&p->th, NULL, putter_main, p), "pthread_create");
    return p;
}

int kct_putter_stop(kct_putter_t *p) {
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    int n = p->count;
    free(p);
    return n;
}

int64_t kct_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the logging processor ---- */

/* The per-shard state: the shard id (for the ending callbacks) and a batch count. */
typedef struct {
    int batches;
    char id[];
} shard_state_t;

static void p_init(void *opaque, const kn_shard_start_t *s, void **state) {
    kct_log_t *lg = opaque;
    fprintf(lg->f, "I %s %s %lld %lld\n", s->shard_id, s->checkpoint,
            (long long)s->checkpoint_subsequence, (long long)kct_now_ms());
    fflush(lg->f);
    shard_state_t *st = calloc(1, sizeof(*st) + strlen(s->shard_id) + 1);
    strcpy(st->id, s->shard_id);
    *state = st;
}

static void p_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    kct_log_t *lg = opaque;
    shard_state_t *st = state;
    for (size_t i = 0; i < b->count; i++) {
        const kn_user_record_t *r = &b->records[i];
        fprintf(lg->f, "R %s %s %lld %.*s %lld\n", b->shard_id, r->sequence_number,
                (long long)r->subsequence_number, (int)r->data_len, (const char *)r->data,
                (long long)kct_now_ms());
    }
    fflush(lg->f); /* output before checkpoint */
    if (lg->slow_ms)
        usleep((useconds_t)lg->slow_ms * 1000);
    if (lg->checkpoint && ++st->batches % lg->checkpoint == 0 && kn_checkpoint(cp) == KN_OK) {
        const kn_user_record_t *last = &b->records[b->count - 1];
        fprintf(lg->f, "C %s %s %lld %lld\n", b->shard_id, last->sequence_number,
                (long long)last->subsequence_number, (long long)kct_now_ms());
        fflush(lg->f);
    }
}

static void end_line(kct_log_t *lg, char kind, void *state, int rc) {
    shard_state_t *st = state;
    fprintf(lg->f, "%c %s %d %lld\n", kind, st ? st->id : "-", rc, (long long)kct_now_ms());
    fflush(lg->f);
}

static void p_lost(void *opaque, void *state) {
    end_line(opaque, 'L', state, 0);
    free(state);
}

static void p_ended(void *opaque, void *state, kn_checkpointer_t *cp) {
    kn_err_t rc = kn_checkpoint(cp);
    end_line(opaque, 'E', state, rc);
    if (rc == KN_OK || rc == KN_ERR_LEASE_LOST)
        free(state); /* the last call; otherwise it comes again */
}

static void p_shutdown(void *opaque, void *state, kn_checkpointer_t *cp) {
    end_line(opaque, 'S', state, kn_checkpoint(cp));
    free(state);
}

const kn_processor_t kct_processor = {p_init, p_records, p_lost, p_ended, p_shutdown};

/* ---- reading logs ---- */

void kct_read(const char *path, int worker, kct_line_t **lines, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[512];
    size_t cap = *n;
    while (fgets(buf, sizeof(buf), f)) {
        kct_line_t l;
        memset(&l, 0, sizeof(l));
        l.worker = worker;
        l.kind = buf[0];
        long long ms = 0;
        int ok = 0;
        switch (buf[0]) {
        case 'R':
            ok = sscanf(buf, "R %63s %131s %lld %63s %lld", l.shard, l.seq, &l.sub, l.data, &ms) == 5;
            break;
        case 'C':
        case 'I':
            ok = sscanf(buf + 1, " %63s %131s %lld %lld", l.shard, l.seq, &l.sub, &ms) == 4;
            break;
        default: /* E, L, S: shard, return code of the checkpoint, time */
            ok = sscanf(buf + 1, " %63s %lld %lld", l.shard, &l.sub, &ms) == 3;
            break;
        }
        if (!ok)
            continue; /* a line cut by SIGKILL */
        l.ms = ms;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            *lines = realloc(*lines, cap * sizeof(**lines));
        }
        (*lines)[(*n)++] = l;
    }
    fclose(f);
}

int kct_seq_cmp(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static void conf_set(kn_conf_t *conf, const char *name, const char *value) {
    char err[256];
    if (kn_conf_set(conf, name, value, err, sizeof(err)) != KN_OK) {
        fprintf(stderr, "kct_conf: %s\n", err);
        abort();
    }
}

kn_conf_t *kct_conf(const char *app, const char *stream, const char *worker_id, int failover_ms) {
    kn_conf_t *conf = kn_conf_new();
    char v[32];
    snprintf(v, sizeof(v), "%d", failover_ms);
    conf_set(conf, "application.name", app);
    conf_set(conf, "stream.name", stream);
    if (worker_id)
        conf_set(conf, "worker.id", worker_id);
    conf_set(conf, "failover.time.ms", v);
    conf_set(conf, "idle.time.between.reads.ms", "200");
    conf_set(conf, "log.level", "warn");
    /* KCT_CONF="name=value;name=value": the same tests in another mode (e.g. fan-out) */
    const char *extra = getenv("KCT_CONF");
    char *list = extra ? strdup(extra) : NULL, *save = NULL;
    for (char *kv = list ? strtok_r(list, ";", &save) : NULL; kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "KCT_CONF: \"%s\" is not name=value\n", kv);
            abort();
        }
        *eq = '\0';
        conf_set(conf, kv, eq + 1);
    }
    free(list);
    return conf;
}

/* ---- worker processes ---- */

static kn_consumer_t *signal_target; /* the one consumer of a worker process */

static void on_term(int sig) {
    (void)sig;
    kn_consumer_shutdown(signal_target);
}

int kct_worker_main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: worker STREAM APP WORKER_ID LOG_PATH FAILOVER_MS\n");
        return 2;
    }
    FILE *f = fopen(argv[5], "a");
    if (!f)
        return 3;
    /* KCT_CHECKPOINT_EVERY=N: checkpoint every N-th batch of a shard (default 1) */
    const char *every = getenv("KCT_CHECKPOINT_EVERY");
    kct_log_t lg = {f, every ? atoi(every) : 1, 0};
    kn_conf_t *conf = kct_conf(argv[3], argv[2], argv[4], atoi(argv[6]));
    char err[512];
    kn_consumer_t *c = kn_consumer_new(conf, &kct_processor, &lg, err, sizeof(err));
    kn_conf_destroy(conf);
    if (!c) {
        fprintf(stderr, "worker: %s\n", err);
        return 4;
    }
    signal_target = c;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    kn_err_t rc = kn_consumer_run(c);
    if (rc)
        fprintf(stderr, "worker %s: %s\n", argv[4],
                kn_consumer_error(c) ? kn_error_message(kn_consumer_error(c)) : kn_err2name(rc));
    kn_consumer_destroy(c);
    fclose(f);
    return rc == KN_OK ? 0 : 1;
}

int kct_spawn_worker(const char *stream, const char *app, const char *worker_id,
                     const char *log_path, int failover_ms) {
    char fo[16];
    snprintf(fo, sizeof(fo), "%d", failover_ms);
    pid_t pid = fork();
    MUST(pid >= 0, "fork failed");
    if (pid == 0) {
        execl("/proc/self/exe", "worker", "worker", stream, app, worker_id, log_path, fo,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

int kct_wait_worker(int pid, int64_t timeout_ms) {
    int status;
    for (int64_t end = kct_now_ms() + timeout_ms; kct_now_ms() < end; usleep(20000)) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int kct_http_read(int fd, char *req, size_t size, const char **target, const char **body) {
    size_t have = 0;
    for (;;) {
        if (have + 1 >= size)
            return -1;
        ssize_t r = read(fd, req + have, size - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        req[have] = 0;
        char *end = strstr(req, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strcasestr(req, "content-length:");
        size_t len = cl ? (size_t)atol(cl + 15) : 0, head = (size_t)(end + 4 - req);
        if (have < head + len)
            continue;
        *end = 0;
        *body = end + 4;
        char *t = strcasestr(req, "x-amz-target:");
        *target = "";
        if (t) {
            t += 13;
            while (*t == ' ')
                t++;
            t[strcspn(t, "\r\n")] = 0;
            *target = t;
        }
        return 0;
    }
}

int kct_http_reply(int fd, int status, const char *json) {
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     "x-amzn-RequestId: scripted\r\nContent-Length: %zu\r\n\r\n",
                     status, status == 200 ? "OK" : "Bad Request", strlen(json));
    return kn_test_write_all(fd, head, (size_t)n) || kn_test_write_all(fd, json, strlen(json))
               ? -1 : 0;
}

void kct_script_serve(kn_test_server_t *srv, int fd, void *opaque) {
    kct_script_t *s = opaque;
    char req[8192];
    const char *target, *body;
    while (!kn_test_server_stopping(srv) && !kct_http_read(fd, req, sizeof(req), &target, &body)) {
        pthread_mutex_lock(&s->mu);
        const kct_step_t *st = s->next < s->n ? &s->steps[s->next] : NULL;
        int ok = st && strstr(target, st->op);
        if (s->next < KCT_SCRIPT_SEEN)
            snprintf(s->seen[s->next], sizeof(s->seen[0]), "%s %s", target, body);
        s->next++;
        pthread_mutex_unlock(&s->mu);
        if (kct_http_reply(fd, ok ? st->status : 500,
                           ok ? st->reply : "{\"__type\":\"UnexpectedRequest\"}"))
            return;
    }
}

kn_dynamodb_t *kct_dynamodb(void) {
    kn_conf_t *conf = kn_conf_new();
    kn_error_t *e = NULL;
    kn_dynamodb_t *d = kn_dynamodb_new(conf, NULL, NULL, &e);
    kn_conf_destroy(conf);
    MUST(d != NULL, "dynamodb client: %s", e ? kn_error_message(e) : "?");
    return d;
}

int kct_owner_counts(kn_dynamodb_t *d, const char *table, const char *const *owners, int nowners,
                     int *counts) {
    cJSON *items = NULL;
    kn_ddb_read_t opts = {0};
    opts.consistent = 1;
    kn_error_t *e = NULL;
    for (int i = 0; i < nowners; i++)
        counts[i] = 0;
    if (kn_dynamodb_scan_all(d, table, &opts, &items, &e) != KN_OK) {
        kn_error_destroy(e);
        return -1;
    }
    int open = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        const char *ck = kn_ddb_get_s(it, "checkpoint");
        if (ck && !strcmp(ck, "SHARD_END"))
            continue;
        open++;
        const char *o = kn_ddb_get_s(it, "leaseOwner");
        for (int i = 0; o && i < nowners; i++)
            counts[i] += !strcmp(o, owners[i]);
    }
    cJSON_Delete(items);
    return open;
}
