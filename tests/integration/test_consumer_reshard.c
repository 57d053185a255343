/*
 * Resharding while records flow, with two workers in separate processes on
 * kinesis-local + dynalite: a split, then a merge of one split child with its
 * neighbour. Every record is delivered, and each parent shard is delivered
 * completely before any record of its children; the lease table records the
 * lineage (parentShardId, childShardIds, SHARD_END).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dynamodb_api.h"
#include "hashkey.h"
#include "kn_consumer_test.h"
#include "kn_test.h"

#define FAILOVER 3000
#define DEADLINE_MS 120000

static kn_shard_list_t *shards(kn_kinesis_t *k, const char *stream) {
    kn_shard_list_t *l = NULL;
    ck_assert_int_eq(kn_kinesis_list_all_shards(k, stream, NULL, &l, NULL), KN_OK);
    return l;
}

static const kn_shard_t *find(const kn_shard_list_t *l, const char *id) {
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->shards[i].shard_id, id))
            return &l->shards[i];
    return NULL;
}

/* The midpoint of a shard's hash range, as a decimal string. */
static void midpoint(const kn_shard_t *s, char *buf, size_t size) {
    kn_u128_t a, b;
    ck_assert_int_eq(kn_u128_parse_decimal(s->starting_hash_key, strlen(s->starting_hash_key), &a),
                     KN_OK);
    ck_assert_int_eq(kn_u128_parse_decimal(s->ending_hash_key, strlen(s->ending_hash_key), &b),
                     KN_OK);
    /* (a + b) / 2 without overflow: a/2 + b/2 + (a&b&1) */
    kn_u128_t m;
    kn_u128_t ha = {a.hi >> 1, (a.lo >> 1) | (a.hi << 63)}, hb = {b.hi >> 1, (b.lo >> 1) | (b.hi << 63)};
    m.lo = ha.lo + hb.lo;
    m.hi = ha.hi + hb.hi + (m.lo < ha.lo);
    uint64_t carry = a.lo & b.lo & 1;
    m.lo += carry;
    m.hi += m.lo < carry;
    kn_u128_to_decimal(m, buf, size);
}

static void reshard_wait(kn_kinesis_t *k, const char *stream) {
    kn_error_t *e = NULL;
    usleep(200000);
    ck_assert_int_eq(kn_kinesis_wait_stream_active(k, stream, 60000, &e), KN_OK);
}

START_TEST(split_and_merge_while_records_flow) {
    char stream[64], logs[2][160];
    kn_test_unique_name("reshard", stream, sizeof(stream));
    kn_kinesis_t *k = kct_kinesis();
    kct_create_stream(k, stream, 2);
    int pid[2];
    const char *ids[2] = {"r0", "r1"};
    for (int i = 0; i < 2; i++) {
        snprintf(logs[i], sizeof(logs[i]), "/tmp/%s-%s.log", stream, ids[i]);
        pid[i] = kct_spawn_worker(stream, stream, ids[i], logs[i], FAILOVER);
    }
    kct_putter_t *put = kct_putter_start(k, stream, "x", 10, 100);
    usleep(2000000);

    /* split shard 0 in the middle */
    kn_shard_list_t *l = shards(k, stream);
    const kn_shard_t *s0 = find(l, "shardId-000000000000");
    ck_assert_ptr_nonnull(s0);
    char mid[48];
    midpoint(s0, mid, sizeof(mid));
    kn_error_t *e = NULL;
    ck_assert_int_eq(kn_kinesis_split_shard(k, stream, "shardId-000000000000", mid, &e), KN_OK);
    kn_shard_list_destroy(l);
    reshard_wait(k, stream);
    usleep(2000000);

    /* merge the upper split child with shard 1, its neighbour */
    l = shards(k, stream);
    const kn_shard_t *upper = NULL, *s1 = find(l, "shardId-000000000001");
    for (size_t i = 0; i < l->count; i++)
        if (l->shards[i].parent_shard_id &&
            !strcmp(l->shards[i].parent_shard_id, "shardId-000000000000") &&
            !strcmp(l->shards[i].starting_hash_key, mid))
            upper = &l->shards[i];
    ck_assert_ptr_nonnull(upper);
    ck_assert_ptr_nonnull(s1);
    ck_assert_int_eq(kn_kinesis_merge_shards(k, stream, upper->shard_id, s1->shard_id, &e), KN_OK);
    kn_shard_list_destroy(l);
    reshard_wait(k, stream);
    usleep(3000000);
    int put_count = kct_putter_stop(put);

    /* every record delivered */
    kct_line_t *lines = NULL;
    size_t n = 0;
    char *seen = calloc((size_t)put_count, 1);
    int got = 0;
    for (int64_t end = kct_now_ms() + DEADLINE_MS; got < put_count && kct_now_ms() < end;
         usleep(200000)) {
        free(lines);
        lines = NULL;
        n = 0;
        for (int i = 0; i < 2; i++)
            kct_read(logs[i], i, &lines, &n);
        for (size_t i = 0; i < n; i++) {
            int id = lines[i].kind == 'R' ? atoi(lines[i].data + 2) : -1;
            if (id >= 0 && id < put_count && !seen[id]) {
                seen[id] = 1;
                got++;
            }
        }
    }
    ck_assert_int_eq(got, put_count);

    /*
     * Each parent completely before its children: every parent record is first
     * delivered before any child record. A later copy of a parent record is a
     * duplicate (a worker whose lease was just taken may deliver one more batch
     * before its next renewal tells it, as in the KCL), so each record counts at
     * its first delivery, by whichever worker.
     */
    int64_t *first_ms = malloc((size_t)put_count * sizeof(*first_ms));
    ck_assert_ptr_nonnull(first_ms);
    for (int i = 0; i < put_count; i++)
        first_ms[i] = -1;
    for (size_t i = 0; i < n; i++) {
        int id = lines[i].kind == 'R' ? atoi(lines[i].data + 2) : -1;
        if (id >= 0 && id < put_count && (first_ms[id] < 0 || lines[i].ms < first_ms[id]))
            first_ms[id] = lines[i].ms;
    }
    l = shards(k, stream);
    ck_assert_int_eq(l->count, 5);
    int checked = 0;
    for (size_t c = 0; c < l->count; c++) {
        const kn_shard_t *ch = &l->shards[c];
        const char *parents[2] = {ch->parent_shard_id, ch->adjacent_parent_shard_id};
        int64_t child_first = -1;
        for (size_t i = 0; i < n; i++)
            if (lines[i].kind == 'R' && !strcmp(lines[i].shard, ch->shard_id) &&
                (child_first < 0 || lines[i].ms < child_first))
                child_first = lines[i].ms;
        for (int p = 0; p < 2; p++) {
            if (!parents[p])
                continue;
            int64_t parent_last = -1;
            for (size_t i = 0; i < n; i++) {
                int id = lines[i].kind == 'R' ? atoi(lines[i].data + 2) : -1;
                if (id >= 0 && id < put_count && !strcmp(lines[i].shard, parents[p]) &&
                    lines[i].ms == first_ms[id] && lines[i].ms > parent_last)
                    parent_last = lines[i].ms;
            }
            if (child_first >= 0 && parent_last >= 0) {
                ck_assert_msg(parent_last <= child_first,
                              "%s delivered at %lld, after its child %s started at %lld",
                              parents[p], (long long)parent_last, ch->shard_id,
                              (long long)child_first);
                checked++;
            }
        }
    }
    fprintf(stderr, "[reshard] %d records over a split and a merge; %d parent/child pairs "
                    "checked for order\n", put_count, checked);
    ck_assert_int_ge(checked, 3);

    /* the lease table holds the lineage */
    kn_dynamodb_t *d = kct_dynamodb();
    cJSON *items = NULL;
    kn_ddb_read_t opts = {0};
    opts.consistent = 1;
    ck_assert_int_eq(kn_dynamodb_scan_all(d, stream, &opts, &items, NULL), KN_OK);
    ck_assert_int_eq(cJSON_GetArraySize(items), 5);
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        const char *key = kn_ddb_get_s(it, "leaseKey");
        const kn_shard_t *sh = find(l, key);
        ck_assert_ptr_nonnull(sh);
        const cJSON *ps = kn_ddb_get_ss(it, "parentShardId");
        ck_assert_int_eq(ps ? cJSON_GetArraySize(ps) : 0,
                         (sh->parent_shard_id != NULL) + (sh->adjacent_parent_shard_id != NULL));
        if (sh->ending_sequence_number) { /* closed: finished, children recorded */
            ck_assert_str_eq(kn_ddb_get_s(it, "checkpoint"), "SHARD_END");
            ck_assert_ptr_nonnull(kn_ddb_get_ss(it, "childShardIds"));
        }
    }
    cJSON_Delete(items);
    kn_dynamodb_destroy(d);
    kn_shard_list_destroy(l);

    for (int i = 0; i < 2; i++) {
        kill(pid[i], SIGTERM);
        ck_assert_int_eq(kct_wait_worker(pid[i], DEADLINE_MS), 0);
        unlink(logs[i]);
    }
    free(seen);
    free(first_ms);
    free(lines);
    kct_delete_stream(k, stream);
    kn_kinesis_destroy(k);
}
END_TEST

static Suite *suite(void) {
    kn_test_require_peers(); /* exits 77 (skipped) without them */
    Suite *s = suite_create("consumer_reshard");
    TCase *tc = tcase_create("reshard");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, split_and_merge_while_records_flow);
    suite_add_tcase(s, tc);
    return s;
}

KCT_TEST_MAIN_WITH_WORKERS(suite)
