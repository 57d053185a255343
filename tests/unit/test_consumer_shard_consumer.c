/*
 * The shard consumer state machine, stepped by hand against an in-memory lease
 * table and a scripted retriever (canned GetRecords replies): callbacks and
 * their order, checkpoints, shard end with child leases, lease loss, shutdown.
 */
#include <stdio.h>
#include <string.h>

#include "agg.h"
#include "base64.h"
#include "checkpointer.h"
#include "hashkey.h"
#include "kinesis_json.h"
#include "kn_fake_lease_store.h"
#include "kn_test.h"
#include "processor_pool.h"
#include "shard_consumer.h"

#define FAILOVER 3000

/* ---- scripted retriever ---- */

typedef struct {
    kn_retriever_t base;
    const char *const *replies; /* GetRecords replies; no NextShardIterator = shard end */
    size_t n, next;
    kn_esn_t from; /* where it was asked to start */
} script_t;

static kn_err_t script_fetch(kn_retriever_t *r, kn_fetch_t *f, kn_error_t **err) {
    script_t *s = (script_t *)r;
    memset(f, 0, sizeof(*f));
    f->next_ms = 100;
    if (s->next >= s->n)
        return KN_OK; /* nothing new */
    cJSON *j = cJSON_Parse(s->replies[s->next++]);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(kn_kj_parse_get_records(j, &f->result, err), KN_OK);
    cJSON_Delete(j);
    f->shard_end = f->result->next_shard_iterator == NULL;
    return KN_OK;
}

static void script_destroy(kn_retriever_t *r) {
    free(r);
}

typedef struct {
    const char *const *replies;
    size_t n;
    kn_esn_t started_from;
    int retrievers;
} script_src_t;

static kn_retriever_t *new_script(void *ctx, const kn_retrieval_start_t *start, kn_error_t **err) {
    (void)err;
    script_src_t *src = ctx;
    script_t *s = calloc(1, sizeof(*s));
    s->base.fetch = script_fetch;
    s->base.destroy = script_destroy;
    s->replies = src->replies;
    s->n = src->n;
    s->from = start->from;
    src->started_from = start->from;
    src->retrievers++;
    return &s->base;
}

/* ---- recording processor ---- */

typedef struct {
    char log[2048]; /* callbacks in order */
    char start[64];
    int records;
    char last_seq[64];
    int checkpoint_each_batch;
    int shard_end_checkpoints; /* how many shard_ended calls checkpoint (the first ones don't) */
    int shard_ended_calls;
    kn_err_t last_ckpt;
} rec_t;

static void add_log(rec_t *r, const char *what) {
    strncat(r->log, what, sizeof(r->log) - strlen(r->log) - 1);
    strncat(r->log, " ", sizeof(r->log) - strlen(r->log) - 1);
}

static void p_init(void *opaque, const kn_shard_start_t *start, void **state) {
    rec_t *r = opaque;
    add_log(r, "init");
    snprintf(r->start, sizeof(r->start), "%s/%lld", start->checkpoint,
             (long long)start->checkpoint_subsequence);
    *state = r;
}

static void p_records(void *opaque, void *state, const kn_batch_t *b, kn_checkpointer_t *cp) {
    rec_t *r = opaque;
    ck_assert_ptr_eq(state, r);
    add_log(r, "batch");
    for (size_t i = 0; i < b->count; i++) {
        char one[96];
        snprintf(one, sizeof(one), "%s=%.*s", b->records[i].sequence_number,
                 (int)b->records[i].data_len, (const char *)b->records[i].data);
        add_log(r, one);
    }
    r->records += (int)b->count;
    snprintf(r->last_seq, sizeof(r->last_seq), "%s", b->records[b->count - 1].sequence_number);
    if (r->checkpoint_each_batch)
        r->last_ckpt = kn_checkpoint(cp);
}

static void p_lost(void *opaque, void *state) {
    (void)state;
    add_log(opaque, "lost");
}

static void p_ended(void *opaque, void *state, kn_checkpointer_t *cp) {
    (void)state;
    rec_t *r = opaque;
    add_log(r, "ended");
    if (++r->shard_ended_calls > r->shard_end_checkpoints)
        return;
    r->last_ckpt = kn_checkpoint(cp);
}

static void p_shutdown(void *opaque, void *state, kn_checkpointer_t *cp) {
    (void)state;
    rec_t *r = opaque;
    add_log(r, "shutdown");
    r->last_ckpt = kn_checkpoint(cp);
}

static const kn_processor_t processor = {p_init, p_records, p_lost, p_ended, p_shutdown};

/* ---- the rig ---- */

typedef struct {
    int64_t now;
    kn_fake_store_t *fs;
    kn_lease_manager_t *m;
    rec_t rec;
    script_src_t src;
    kn_shard_counters_t counters;
    kn_shard_consumer_t *sc;
    kn_lease_t taken;
    uint64_t token;
    int acquired;
    char warnings[1024]; /* log lines at WARN and above */
} rig_t;

static void rig_log(void *opaque, kn_log_level_t level, const char *facility, const char *msg) {
    (void)level;
    (void)facility;
    rig_t *r = opaque;
    size_t used = strlen(r->warnings);
    snprintf(r->warnings + used, sizeof(r->warnings) - used, "%s\n", msg);
}

static int64_t rig_clock(void *opaque) {
    return ((rig_t *)opaque)->now;
}

static void rig_acquired(void *opaque, const kn_lease_t *l, uint64_t token, int stolen) {
    (void)stolen;
    rig_t *r = opaque;
    kn_lease_clear(&r->taken);
    kn_lease_copy(&r->taken, l);
    r->token = token;
    r->acquired++;
}

static void rig_lost(void *opaque, const char *key) {
    rig_t *r = opaque;
    if (r->sc && !strcmp(key, kn_shard_consumer_shard_id(r->sc)))
        kn_shard_consumer_lost(r->sc);
}

static kn_lease_t mk(const char *key, const char *owner, const char *ckpt, const char *parent) {
    kn_lease_t l;
    memset(&l, 0, sizeof(l));
    kn_lease_set_str(&l.key, key);
    kn_lease_set_str(&l.owner, owner);
    kn_esn_parse(ckpt, 0, &l.checkpoint);
    if (parent)
        kn_lease_add_relative(l.parents, &l.nparents, parent);
    return l;
}

static void put(rig_t *r, const char *key, const char *owner, const char *ckpt,
                const char *parent) {
    kn_lease_t l = mk(key, owner, ckpt, parent);
    kn_fake_store_put(r->fs, &l);
    kn_lease_clear(&l);
}

static void rig_init(rig_t *r, const char *const *replies, size_t n) {
    memset(r, 0, sizeof(*r));
    r->now = 1000;
    r->fs = kn_fake_store_new();
    kn_lease_store_t ops = kn_fake_store_ops(r->fs);
    kn_taker_conf_t tc = {FAILOVER, 1, 0, 5}; /* one lease at a time */
    kn_lease_events_t ev = {rig_acquired, rig_lost, r};
    r->m = kn_lease_manager_new(&ops, "me", &tc, rig_clock, r, &ev);
    r->src.replies = replies;
    r->src.n = n;
}

/* Takes `key` (the only free lease) and makes its shard consumer. */
static void rig_take(rig_t *r) {
    ck_assert_int_eq(kn_lease_manager_take(r->m, 1, NULL), KN_OK);
    ck_assert_int_eq(r->acquired, 1);
    kn_shard_env_t env = {0};
    env.leases = r->m;
    env.processor = &processor;
    env.opaque = &r->rec;
    env.new_retriever = new_script;
    env.ctx = &r->src;
    env.stream = "stream";
    env.poll_ms = 250;
    env.shard_end_retry_ms = 900;
    env.counters = &r->counters;
    env.lg = (kn_logger_t){rig_log, r, KN_LOG_WARN};
    r->sc = kn_shard_consumer_new(&env, &r->taken, r->token);
    ck_assert_ptr_nonnull(r->sc);
}

/* Steps until done or `max` steps; returns the number of steps taken. */
static int run(rig_t *r, int max) {
    int i = 0;
    for (; i < max; i++) {
        int64_t next = kn_shard_consumer_step(r->sc, r->now);
        if (next == KN_POOL_DONE)
            return i + 1;
        r->now = next > r->now ? next : r->now;
    }
    return -1;
}

static void rig_free(rig_t *r) {
    kn_shard_consumer_destroy(r->sc);
    kn_lease_manager_destroy(r->m);
    kn_fake_store_destroy(r->fs);
    kn_lease_clear(&r->taken);
}

static kn_lease_t stored(rig_t *r, const char *key) {
    kn_lease_t l;
    ck_assert_int_eq(kn_fake_store_get(r->fs, key, &l), KN_OK);
    return l;
}

/* "a" "b" "c" base64 */
#define REC(seq, b64) "{\"SequenceNumber\":\"" seq "\",\"Data\":\"" b64 "\",\"PartitionKey\":\"p\"," \
                      "\"ApproximateArrivalTimestamp\":1700000000.5}"

static const char *const three_batches[] = {
    "{\"Records\":[" REC("100", "YQ==") "," REC("101", "Yg==") "],"
    "\"NextShardIterator\":\"it2\",\"MillisBehindLatest\":5}",
    "{\"Records\":[],\"NextShardIterator\":\"it3\",\"MillisBehindLatest\":0}",
    "{\"Records\":[" REC("102", "Yw==") "],\"MillisBehindLatest\":0,"
    "\"ChildShards\":[{\"ShardId\":\"s2\",\"ParentShards\":[\"s1\"],"
    "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"100\"}},"
    "{\"ShardId\":\"s3\",\"ParentShards\":[\"s1\"],"
    "\"HashKeyRange\":{\"StartingHashKey\":\"101\",\"EndingHashKey\":\"200\"}}]}",
};

START_TEST(reads_to_shard_end_and_creates_children) {
    rig_t r;
    rig_init(&r, three_batches, 3);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    r.rec.checkpoint_each_batch = 1;
    r.rec.shard_end_checkpoints = 1;
    ck_assert_int_gt(run(&r, 50), 0);
    ck_assert_str_eq(r.rec.log, "init batch 100=a 101=b batch 102=c ended ");
    ck_assert_str_eq(r.rec.start, "TRIM_HORIZON/0");
    ck_assert_int_eq(r.rec.last_ckpt, KN_OK);
    ck_assert_int_eq(atomic_load(&r.counters.records), 3);
    ck_assert_int_eq(atomic_load(&r.counters.batches), 2);
    kn_lease_t s1 = stored(&r, "s1");
    ck_assert_int_eq(s1.checkpoint.kind, KN_ESN_SHARD_END);
    ck_assert_ptr_null(s1.owner); /* released once finished */
    ck_assert_int_eq(s1.nchildren, 2);
    ck_assert(kn_lease_has_relative(s1.children, s1.nchildren, "s2"));
    kn_lease_clear(&s1);
    kn_lease_t s2 = stored(&r, "s2");
    ck_assert_int_eq(s2.checkpoint.kind, KN_ESN_TRIM_HORIZON);
    ck_assert_ptr_null(s2.owner);
    ck_assert_int_eq(s2.nparents, 1);
    ck_assert_str_eq(s2.parents[0], "s1");
    ck_assert_str_eq(s2.ending_hash_key, "100");
    kn_lease_clear(&s2);
    ck_assert_int_eq(kn_lease_manager_held(r.m), 0);
    rig_free(&r);
}
END_TEST

/* Restarting at a checkpoint: reading starts there and nothing up to it is delivered again. */
START_TEST(resumes_after_checkpoint) {
    rig_t r;
    rig_init(&r, three_batches, 1);
    put(&r, "s1", NULL, "100", NULL);
    rig_take(&r);
    run(&r, 3);
    ck_assert_str_eq(r.rec.start, "100/0");
    ck_assert_int_eq(r.src.started_from.kind, KN_ESN_NUMBER);
    ck_assert_str_eq(r.src.started_from.seq, "100");
    ck_assert_str_eq(r.rec.log, "init batch 101=b ");
    rig_free(&r);
}
END_TEST

START_TEST(checkpoints_are_conditional_writes) {
    rig_t r;
    rig_init(&r, three_batches, 1);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    r.rec.checkpoint_each_batch = 1;
    run(&r, 3);
    kn_lease_t s1 = stored(&r, "s1");
    ck_assert_str_eq(kn_esn_str(&s1.checkpoint), "101");
    ck_assert_str_eq(s1.owner, "me");
    kn_lease_clear(&s1);
    rig_free(&r);
}
END_TEST

START_TEST(lost_lease_ends_with_lease_lost) {
    rig_t r;
    rig_init(&r, three_batches, 3);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    r.rec.checkpoint_each_batch = 1;
    ck_assert_int_eq(run(&r, 2), -1); /* init + first batch */
    /* another worker steals it: our next checkpoint fails and the renewer notices */
    kn_lease_t s1 = stored(&r, "s1");
    kn_lease_set_str(&s1.owner, "thief");
    s1.counter += 1;
    kn_fake_store_put(r.fs, &s1);
    kn_lease_clear(&s1);
    r.now += 100;
    kn_lease_manager_renew(r.m, NULL);
    ck_assert_int_gt(run(&r, 5), 0);
    ck_assert_str_eq(r.rec.log, "init batch 100=a 101=b lost ");
    s1 = stored(&r, "s1");
    ck_assert_str_eq(s1.owner, "thief"); /* nothing released or written */
    ck_assert_str_eq(kn_esn_str(&s1.checkpoint), "101");
    kn_lease_clear(&s1);
    rig_free(&r);
}
END_TEST

/* A checkpoint after another worker took the lease: KN_ERR_LEASE_LOST, then lease_lost. */
START_TEST(checkpoint_reports_lease_lost) {
    static const char *const two[] = {
        "{\"Records\":[" REC("100", "YQ==") "],\"NextShardIterator\":\"i\",\"MillisBehindLatest\":0}",
        "{\"Records\":[" REC("101", "Yg==") "],\"NextShardIterator\":\"j\",\"MillisBehindLatest\":0}",
    };
    rig_t r;
    rig_init(&r, two, 2);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    r.rec.checkpoint_each_batch = 1;
    ck_assert_int_eq(run(&r, 2), -1);
    ck_assert_int_eq(r.rec.last_ckpt, KN_OK);
    kn_lease_t s1 = stored(&r, "s1");
    kn_lease_set_str(&s1.owner, "thief");
    s1.counter += 1;
    kn_fake_store_put(r.fs, &s1);
    kn_lease_clear(&s1);
    ck_assert_int_gt(run(&r, 3), 0); /* the renewer has not noticed yet; the checkpoint does */
    ck_assert_int_eq(r.rec.last_ckpt, KN_ERR_LEASE_LOST);
    ck_assert_str_eq(r.rec.log, "init batch 100=a batch 101=b lost ");
    s1 = stored(&r, "s1");
    ck_assert_str_eq(kn_esn_str(&s1.checkpoint), "100");
    kn_lease_clear(&s1);
    rig_free(&r);
}
END_TEST

/* The holder stops delivering once its renewals lapsed, even before anyone says so. */
START_TEST(lapsed_lease_stops_delivery) {
    rig_t r;
    rig_init(&r, three_batches, 3);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    ck_assert_int_eq(run(&r, 2), -1);
    r.now += FAILOVER; /* no renewal happened */
    ck_assert_int_eq(run(&r, 1), 1);
    ck_assert_str_eq(r.rec.log, "init batch 100=a 101=b lost ");
    rig_free(&r);
}
END_TEST

START_TEST(shutdown_checkpoints_and_releases) {
    rig_t r;
    rig_init(&r, three_batches, 3);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    ck_assert_int_eq(run(&r, 2), -1);
    kn_shard_consumer_shutdown(r.sc);
    ck_assert_int_eq(run(&r, 1), 1);
    ck_assert_str_eq(r.rec.log, "init batch 100=a 101=b shutdown ");
    ck_assert_int_eq(r.rec.last_ckpt, KN_OK);
    kn_lease_t s1 = stored(&r, "s1");
    ck_assert_ptr_null(s1.owner);
    ck_assert_str_eq(kn_esn_str(&s1.checkpoint), "101");
    kn_lease_clear(&s1);
    ck_assert_int_eq(kn_lease_manager_held(r.m), 0);
    rig_free(&r);
}
END_TEST

START_TEST(shard_ended_repeated_until_checkpointed) {
    rig_t r;
    rig_init(&r, three_batches + 2, 1);
    put(&r, "s1", NULL, "TRIM_HORIZON", NULL);
    rig_take(&r);
    r.rec.shard_end_checkpoints = 0;
    ck_assert_int_eq(run(&r, 4), -1);
    ck_assert_int_eq(r.rec.shard_ended_calls, 2);
    kn_lease_t s1 = stored(&r, "s1");
    ck_assert_int_ne(s1.checkpoint.kind, KN_ESN_SHARD_END);
    ck_assert_str_eq(s1.owner, "me");
    kn_lease_clear(&s1);
    r.rec.shard_end_checkpoints = 100;
    kn_lease_manager_renew(r.m, NULL);
    ck_assert_int_gt(run(&r, 2), 0);
    s1 = stored(&r, "s1");
    ck_assert_int_eq(s1.checkpoint.kind, KN_ESN_SHARD_END);
    kn_lease_clear(&s1);
    rig_free(&r);
}
END_TEST

START_TEST(child_waits_for_parent) {
    rig_t r;
    rig_init(&r, three_batches, 1);
    put(&r, "p", "other", "100", NULL);
    put(&r, "c", NULL, "TRIM_HORIZON", "p");
    rig_take(&r);
    ck_assert_str_eq(r.taken.key, "c");
    ck_assert_int_eq(run(&r, 3), -1);
    ck_assert_str_eq(r.rec.log, ""); /* not even initialized */
    ck_assert_int_eq(r.src.retrievers, 0);
    /* the parent ends; the next scan shows it */
    put(&r, "p", "other", "SHARD_END", NULL);
    kn_lease_manager_renew(r.m, NULL);
    kn_lease_manager_take(r.m, 0, NULL);
    ck_assert_int_eq(run(&r, 2), -1);
    ck_assert_str_eq(r.rec.log, "init batch 100=a 101=b ");
    rig_free(&r);
}
END_TEST

/* Appends a GetRecords record holding a KPL aggregate of these partition keys to *p. */
static void append_agg_record(char **p, const char *end, const char *seq, const char *const *pks,
                              int n) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(kn_agg_builder_add(b, pks[i], strlen(pks[i]), NULL, 0, pks[i],
                                            strlen(pks[i]), SIZE_MAX),
                         KN_OK);
    uint8_t agg[512];
    size_t len;
    ck_assert_int_eq(kn_agg_builder_finish(b, agg, sizeof(agg), &len), KN_OK);
    kn_agg_builder_destroy(b);
    char b64[1024];
    ck_assert_int_eq(kn_base64_encode(agg, len, b64, sizeof(b64), NULL), KN_OK);
    int w = snprintf(*p, (size_t)(end - *p), "%s{\"SequenceNumber\":\"%s\",\"Data\":\"%s\","
                     "\"PartitionKey\":\"a\"}", (*p)[-1] == '[' ? "" : ",", seq, b64);
    ck_assert_int_lt(w, end - *p);
    *p += w;
}

/* The lease's hash range reaches deaggregation: an aggregate holding a key outside it is dropped. */
START_TEST(drops_aggregates_outside_the_lease_range) {
    static const char *const inside[] = {"a", "a"}, *const mixed[] = {"a", "b", "a"};
    static char reply[2048];
    char *p = reply + sprintf(reply, "{\"Records\":[");
    append_agg_record(&p, reply + sizeof(reply), "100", inside, 2);
    append_agg_record(&p, reply + sizeof(reply), "101", mixed, 3);
    snprintf(p, (size_t)(reply + sizeof(reply) - p),
             "],\"NextShardIterator\":\"it2\",\"MillisBehindLatest\":0}");
    const char *const replies[] = {reply};
    rig_t r;
    rig_init(&r, replies, 1);
    /* the shard holds exactly the hash key of "a" */
    kn_u128_t h;
    char dec[KN_U128_DEC_MAX + 1];
    ck_assert_int_eq(kn_hashkey_from_partition_key("a", 1, &h), KN_OK);
    kn_u128_to_decimal(h, dec, sizeof(dec));
    kn_lease_t l = mk("s1", NULL, "TRIM_HORIZON", NULL);
    kn_lease_set_str(&l.starting_hash_key, dec);
    kn_lease_set_str(&l.ending_hash_key, dec);
    kn_fake_store_put(r.fs, &l);
    kn_lease_clear(&l);
    rig_take(&r);
    ck_assert_int_eq(run(&r, 3), -1);
    ck_assert_str_eq(r.rec.log, "init batch 100=a 100=a ");
    ck_assert_int_eq(atomic_load(&r.counters.records), 2);
    ck_assert_int_eq(atomic_load(&r.counters.dropped_aggregates), 1);
    ck_assert_int_eq(atomic_load(&r.counters.dropped_records), 3);
    ck_assert_ptr_nonnull(strstr(r.warnings, "s1: KPL aggregate 101 dropped whole (3 user records)"));
    rig_free(&r);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_shard_consumer");
    TCase *tc = tcase_create("shard_consumer");
    tcase_add_test(tc, reads_to_shard_end_and_creates_children);
    tcase_add_test(tc, resumes_after_checkpoint);
    tcase_add_test(tc, checkpoints_are_conditional_writes);
    tcase_add_test(tc, lost_lease_ends_with_lease_lost);
    tcase_add_test(tc, checkpoint_reports_lease_lost);
    tcase_add_test(tc, lapsed_lease_stops_delivery);
    tcase_add_test(tc, shutdown_checkpoints_and_releases);
    tcase_add_test(tc, shard_ended_repeated_until_checkpointed);
    tcase_add_test(tc, child_waits_for_parent);
    tcase_add_test(tc, drops_aggregates_outside_the_lease_range);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
