/*
 * Workers of one application in separate processes (this program re-executed
 * in worker mode) sharing a 12-shard stream on kinesis-local + dynalite:
 * they split the shards evenly; the shards of a SIGKILLed worker are taken by
 * the others and resume from its checkpoints (nothing missing, duplicates only
 * after its last checkpoints, counted); a worker stopped with SIGTERM
 * checkpoints, releases its leases and they are taken at once.
 *
 * Times are measured and printed; the assertions are about what was delivered,
 * with generous deadlines only to catch a hang.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dynamodb_api.h"
#include "kn_consumer_test.h"
#include "kn_test.h"

#define FAILOVER 3000
#define SHARDS 12
#define DEADLINE_MS 120000

static const char *ids[3] = {"w0", "w1", "w2"};

typedef struct {
    char stream[64];
    char logs[3][160];
    int pid[3];
    kn_dynamodb_t *d;
    kn_kinesis_t *k;
} group_t;

static int counts_are(group_t *g, const int *want) {
    int c[3];
    if (kct_owner_counts(g->d, g->stream, ids, 3, c) != SHARDS)
        return 0;
    for (int i = 0; i < 3; i++)
        if (c[i] != want[i])
            return 0;
    return 1;
}

/* Polls the lease table until the owners match `want`; returns the time it took. */
static int64_t wait_owners(group_t *g, const int *want, int64_t since) {
    for (int64_t end = kct_now_ms() + DEADLINE_MS; kct_now_ms() < end; usleep(50000))
        if (counts_are(g, want))
            return kct_now_ms() - since;
    int c[3];
    kct_owner_counts(g->d, g->stream, ids, 3, c);
    ck_abort_msg("owners %d/%d/%d, wanted %d/%d/%d", c[0], c[1], c[2], want[0], want[1], want[2]);
    return -1;
}

typedef struct {
    kct_line_t *l;
    size_t n;
} logs_t;

static void read_logs(group_t *g, logs_t *lg) {
    lg->l = NULL;
    lg->n = 0;
    for (int i = 0; i < 3; i++)
        kct_read(g->logs[i], i, &lg->l, &lg->n);
}

/* Whether every record prefix-[0, count) was delivered by someone. */
static int all_delivered(group_t *g, const char *prefix, int count) {
    logs_t lg;
    read_logs(g, &lg);
    char *seen = calloc((size_t)count, 1);
    size_t plen = strlen(prefix);
    int got = 0;
    for (size_t i = 0; i < lg.n; i++) {
        const kct_line_t *x = &lg.l[i];
        if (x->kind != 'R' || strncmp(x->data, prefix, plen) || x->data[plen] != '-')
            continue;
        int id = atoi(x->data + plen + 1);
        if (id >= 0 && id < count && !seen[id]) {
            seen[id] = 1;
            got++;
        }
    }
    free(seen);
    free(lg.l);
    return got == count;
}

static void wait_delivered(group_t *g, const char *prefix, int count) {
    for (int64_t end = kct_now_ms() + DEADLINE_MS; kct_now_ms() < end; usleep(100000))
        if (all_delivered(g, prefix, count))
            return;
    ck_abort_msg("not every %s record was delivered", prefix);
}

START_TEST(three_workers_share_balance_and_fail_over) {
    group_t g;
    memset(&g, 0, sizeof(g));
    kn_test_unique_name("grp", g.stream, sizeof(g.stream));
    g.k = kct_kinesis();
    g.d = kct_dynamodb();
    kct_create_stream(g.k, g.stream, SHARDS);
    kct_put(g.k, g.stream, "a", 0, 240, 120);

    /* three workers start together: an even split within two failover periods */
    int64_t t0 = kct_now_ms();
    for (int i = 0; i < 3; i++) {
        snprintf(g.logs[i], sizeof(g.logs[i]), "/tmp/%s-%s.log", g.stream, ids[i]);
        g.pid[i] = kct_spawn_worker(g.stream, g.stream, ids[i], g.logs[i], FAILOVER);
    }
    const int even[3] = {4, 4, 4};
    int64_t t_even = wait_owners(&g, even, t0);
    fprintf(stderr, "[group] 12 shards split 4/4/4 after %lld ms (failover %d ms)\n",
            (long long)t_even, FAILOVER);
    wait_delivered(&g, "a", 240);

    /* SIGKILL w2 while records flow: the others take its shards and resume from its
     * checkpoints (workers checkpoint every second batch, so some were not) */
    kct_putter_t *put = kct_putter_start(g.k, g.stream, "b", 12, 100);
    usleep(3000000);
    int64_t t_kill = kct_now_ms();
    kill(g.pid[2], SIGKILL);
    kct_wait_worker(g.pid[2], 5000);
    logs_t before;
    read_logs(&g, &before);
    const int two[3] = {6, 6, 0};
    int64_t t_taken = wait_owners(&g, two, t_kill);
    /* when did w0/w1 first deliver a record of one of w2's shards? */
    int64_t t_resumed = -1;
    while (t_resumed < 0 && kct_now_ms() - t_kill < DEADLINE_MS) {
        logs_t now_l;
        read_logs(&g, &now_l);
        for (size_t i = 0; i < now_l.n; i++) {
            const kct_line_t *x = &now_l.l[i];
            if (x->kind != 'I' || x->worker == 2 || x->ms < t_kill)
                continue;
            for (size_t j = 0; j < now_l.n; j++)
                if (now_l.l[j].kind == 'R' && now_l.l[j].worker == x->worker &&
                    !strcmp(now_l.l[j].shard, x->shard) && now_l.l[j].ms >= x->ms &&
                    (t_resumed < 0 || now_l.l[j].ms < t_resumed + t_kill))
                    t_resumed = now_l.l[j].ms - t_kill;
        }
        free(now_l.l);
        usleep(100000);
    }
    usleep(2000000);
    int put_count = kct_putter_stop(put);
    wait_delivered(&g, "b", put_count);
    fprintf(stderr, "[group] SIGKILL: w2's shards owned by w0/w1 %lld ms after the kill, first "
                    "record of one of them delivered after %lld ms (failover %d ms + one lease "
                    "cycle %d ms = %d ms)\n",
            (long long)t_taken, (long long)t_resumed, FAILOVER, FAILOVER / 3,
            FAILOVER + FAILOVER / 3);

    /* duplicates: only records w2 had delivered after its last checkpoint in that shard */
    logs_t after;
    read_logs(&g, &after);
    int dups = 0;
    for (size_t i = 0; i < after.n; i++) {
        const kct_line_t *x = &after.l[i];
        if (x->kind != 'R' || x->worker == 2 || x->ms < t_kill)
            continue;
        const char *w2_ckpt = NULL; /* w2's last checkpoint of this shard */
        int by_w2 = 0;
        for (size_t j = 0; j < before.n; j++) {
            const kct_line_t *y = &before.l[j];
            if (y->worker != 2 || strcmp(y->shard, x->shard))
                continue;
            if (y->kind == 'C')
                w2_ckpt = y->seq;
            if (y->kind == 'R' && !strcmp(y->data, x->data))
                by_w2 = 1;
        }
        if (!by_w2)
            continue;
        dups++;
        ck_assert_msg(!w2_ckpt || kct_seq_cmp(x->seq, w2_ckpt) > 0,
                      "%s (%s) re-delivered although w2 checkpointed %s", x->data, x->seq,
                      w2_ckpt);
    }
    fprintf(stderr, "[group] SIGKILL: %d of %d records delivered again (all after w2's last "
                    "checkpoints)\n", dups, put_count);
    free(before.l);
    free(after.l);

    /* SIGTERM w1: it checkpoints, releases, and w0 takes everything at once */
    int64_t t_term = kct_now_ms();
    kill(g.pid[1], SIGTERM);
    const int one[3] = {12, 0, 0};
    int64_t t_w0 = wait_owners(&g, one, t_term);
    ck_assert_int_eq(kct_wait_worker(g.pid[1], DEADLINE_MS), 0);
    kct_put(g.k, g.stream, "c", 0, 60, 60);
    wait_delivered(&g, "c", 60);
    fprintf(stderr, "[group] SIGTERM: w1's leases released and owned by w0 %lld ms later\n",
            (long long)t_w0);
    /* w1 shut down gracefully: every shard it held got shutdown_requested with a checkpoint */
    logs_t fin;
    read_logs(&g, &fin);
    int shutdowns = 0;
    for (size_t i = 0; i < fin.n; i++)
        if (fin.l[i].worker == 1 && fin.l[i].kind == 'S') {
            ck_assert_int_eq(fin.l[i].sub, KN_OK);
            shutdowns++;
        }
    ck_assert_int_eq(shutdowns, 6);
    /* and nothing w1 had checkpointed was delivered again */
    for (size_t i = 0; i < fin.n; i++) {
        const kct_line_t *x = &fin.l[i];
        if (x->kind != 'R' || x->worker != 0 || x->ms < t_term)
            continue;
        for (size_t j = 0; j < fin.n; j++)
            ck_assert_msg(!(fin.l[j].worker == 1 && fin.l[j].kind == 'R' &&
                            !strcmp(fin.l[j].data, x->data)),
                          "%s delivered again after a graceful handover", x->data);
    }
    free(fin.l);

    kill(g.pid[0], SIGTERM);
    ck_assert_int_eq(kct_wait_worker(g.pid[0], DEADLINE_MS), 0);
    for (int i = 0; i < 3; i++)
        unlink(g.logs[i]);
    kn_dynamodb_destroy(g.d);
    kct_delete_stream(g.k, g.stream);
    kn_kinesis_destroy(g.k);
}
END_TEST

static Suite *suite(void) {
    kn_test_require_peers(); /* exits 77 (skipped) without them */
    setenv("KCT_CHECKPOINT_EVERY", "2", 1); /* workers checkpoint every second batch */
    Suite *s = suite_create("consumer_group");
    TCase *tc = tcase_create("group");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, three_workers_share_balance_and_fail_over);
    suite_add_tcase(s, tc);
    return s;
}

KCT_TEST_MAIN_WITH_WORKERS(suite)
