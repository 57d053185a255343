/* Consumer integration test helpers; see kn_consumer_test.h. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "kn_consumer_test.h"

kn_kinesis_t *kct_kinesis(void) {
    kn_conf_t *conf = kn_conf_new();
    char err[512];
    kn_conf_set(conf, "log.level", "warn", NULL, 0);
    kn_kinesis_t *k = kn_kinesis_new(conf, err, sizeof(err));
    kn_conf_destroy(conf);
    ck_assert_msg(k != NULL, "kinesis client: %s", err);
    return k;
}

static void fail_with(const char *what, kn_error_t *e) {
    char buf[512];
    ck_abort_msg("%s: %s", what, e ? kn_error_format(e, buf, sizeof(buf)) : "?");
}

void kct_create_stream(kn_kinesis_t *k, const char *name, int shards) {
    kn_error_t *e = NULL;
    if (kn_kinesis_create_stream(k, name, shards, KN_STREAM_MODE_PROVISIONED, &e))
        fail_with("CreateStream", e);
    if (kn_kinesis_wait_stream_active(k, name, 60000, &e))
        fail_with("waiting for the stream", e);
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
    ck_assert_msg(n == 0, "%zu records could not be put", n);
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
            ck_assert_int_eq(kn_agg_builder_add(b, key, strlen(key), NULL, 0, data, strlen(data),
                                                SIZE_MAX),
                             KN_OK);
        }
        size_t len;
        ck_assert_int_eq(kn_agg_builder_finish(b, buf, cap, &len), KN_OK);
        kn_put_entry_t ent = {buf, len, first_key, NULL};
        put_entries(k, stream, &ent, 1);
    }
    free(buf);
    kn_agg_builder_destroy(b);
}

int64_t kct_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the logging processor ---- */

/* The per-shard state is the shard id, so the ending callbacks can name it. */
static void p_init(void *opaque, const kn_shard_start_t *s, void **state) {
    kct_log_t *lg = opaque;
    fprintf(lg->f, "I %s %s %lld %lld\n", s->shard_id, s->checkpoint,
            (long long)s->checkpoint_subsequence, (long long)kct_now_ms());
    fflush(lg->f);
    *state = strdup(s->shard_id);
}

static void log_checkpoint(kct_log_t *lg, const char *shard, kn_checkpointer_t *cp,
                           const kn_user_record_t *last) {
    if (kn_checkpoint(cp) == KN_OK) {
        fprintf(lg->f, "C %s %s %lld %lld\n", shard, last->sequence_number,
                (long long)last->subsequence_number, (long long)kct_now_ms());
        fflush(lg->f);
    }
}

static void p_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    (void)state;
    kct_log_t *lg = opaque;
    for (size_t i = 0; i < b->count; i++) {
        const kn_user_record_t *r = &b->records[i];
        fprintf(lg->f, "R %s %s %lld %.*s %lld\n", b->shard_id, r->sequence_number,
                (long long)r->subsequence_number, (int)r->data_len, (const char *)r->data,
                (long long)kct_now_ms());
    }
    fflush(lg->f); /* output before checkpoint */
    if (lg->slow_ms)
        usleep((useconds_t)lg->slow_ms * 1000);
    if (lg->checkpoint)
        log_checkpoint(lg, b->shard_id, cp, &b->records[b->count - 1]);
}

static void end_line(kct_log_t *lg, char kind, void *state, int rc) {
    fprintf(lg->f, "%c %s %d %lld\n", kind, state ? (char *)state : "-", rc,
            (long long)kct_now_ms());
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

kn_conf_t *kct_conf(const char *app, const char *stream, const char *worker_id, int failover_ms) {
    kn_conf_t *conf = kn_conf_new();
    char v[32], err[256];
    snprintf(v, sizeof(v), "%d", failover_ms);
    ck_assert_int_eq(kn_conf_set(conf, "application.name", app, err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "stream.name", stream, err, sizeof(err)), KN_OK);
    if (worker_id)
        ck_assert_int_eq(kn_conf_set(conf, "worker.id", worker_id, err, sizeof(err)), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "failover.time.ms", v, err, sizeof(err)), KN_OK);
    kn_conf_set(conf, "idle.time.between.reads.ms", "200", NULL, 0);
    kn_conf_set(conf, "log.level", "warn", NULL, 0);
    return conf;
}
