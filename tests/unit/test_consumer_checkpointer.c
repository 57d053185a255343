/* Checkpoint validation and prepare-then-commit, with a recording fake writer. */
#include <string.h>

#include "checkpointer.h"
#include "kn_test.h"

typedef struct {
    int writes;
    int has_ckpt, has_pending;
    kn_esn_t ckpt, pending;
    kn_err_t fail; /* returned instead of writing */
} rec_t;

static kn_err_t rec_write(void *opaque, const kn_esn_t *checkpoint, const kn_esn_t *pending) {
    rec_t *r = opaque;
    if (r->fail)
        return r->fail;
    r->writes++;
    r->has_ckpt = checkpoint != NULL;
    if (checkpoint)
        r->ckpt = *checkpoint;
    r->has_pending = pending != NULL;
    if (pending)
        r->pending = *pending;
    return KN_OK;
}

static kn_esn_t esn(const char *s, int64_t sub) {
    kn_esn_t e;
    ck_assert_int_eq(kn_esn_parse(s, sub, &e), KN_OK);
    return e;
}

static void start(kn_checkpointer_t *cp, rec_t *r, const char *from) {
    kn_lease_t l;
    memset(&l, 0, sizeof(l));
    l.checkpoint = esn(from, 0);
    memset(r, 0, sizeof(*r));
    kn_ckpt_init(cp, &l, rec_write, r);
}

START_TEST(nothing_delivered_nothing_written) {
    kn_checkpointer_t cp;
    rec_t r;
    start(&cp, &r, "TRIM_HORIZON");
    ck_assert_int_eq(kn_checkpoint(&cp), KN_OK);
    ck_assert_int_eq(r.writes, 0);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "1", 0), KN_ERR_INVALID_ARG); /* beyond delivered */
}
END_TEST

START_TEST(checkpoint_at_end_of_delivered) {
    kn_checkpointer_t cp;
    rec_t r;
    start(&cp, &r, "TRIM_HORIZON");
    kn_esn_t d = esn("49590338271490256608559692538361571095921575989136588898", 2);
    kn_ckpt_delivered(&cp, &d);
    ck_assert_int_eq(kn_checkpoint(&cp), KN_OK);
    ck_assert_int_eq(r.writes, 1);
    ck_assert(r.has_ckpt);
    ck_assert(!r.has_pending); /* a checkpoint clears the pending one */
    ck_assert_int_eq(kn_esn_cmp(&r.ckpt, &d), 0);
    ck_assert_int_eq(r.ckpt.subseq, 2);
    /* deliveries never move backwards */
    kn_esn_t older = esn("100", 0);
    kn_ckpt_delivered(&cp, &older);
    ck_assert_int_eq(kn_esn_cmp(&cp.largest, &d), 0);
}
END_TEST

START_TEST(refuses_behind_last_or_beyond_delivered) {
    kn_checkpointer_t cp;
    rec_t r;
    start(&cp, &r, "500");
    kn_esn_t d = esn("900", 3);
    kn_ckpt_delivered(&cp, &d);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "499", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "900", 4), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "901", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "1000", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(r.writes, 0);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "500", 0), KN_OK); /* equal to the last: allowed */
    ck_assert_int_eq(kn_checkpoint_at(&cp, "900", 2), KN_OK);
    ck_assert_int_eq(r.writes, 2);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "899", 0), KN_ERR_INVALID_ARG); /* now behind */
    ck_assert_int_eq(kn_checkpoint_at(&cp, "900", 1), KN_ERR_INVALID_ARG);
    /* not sequence numbers */
    ck_assert_int_eq(kn_checkpoint_at(&cp, "TRIM_HORIZON", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "SHARD_END", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "09", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, NULL, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(&cp, "900", -1), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_at(NULL, "900", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint(NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(r.writes, 2);
}
END_TEST

START_TEST(shard_end_only_at_the_end) {
    kn_checkpointer_t cp;
    rec_t r;
    start(&cp, &r, "500");
    kn_esn_t d = esn("900", 0), end = kn_esn_sentinel(KN_ESN_SHARD_END);
    kn_ckpt_delivered(&cp, &d);
    ck_assert_int_eq(kn_ckpt_check(&cp, &end), KN_ERR_INVALID_ARG);
    kn_ckpt_delivered(&cp, &end);
    ck_assert_int_eq(kn_checkpoint(&cp), KN_OK);
    ck_assert_int_eq(r.ckpt.kind, KN_ESN_SHARD_END);
    /* after SHARD_END no number is allowed any more */
    ck_assert_int_eq(kn_checkpoint_at(&cp, "900", 0), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(prepare_then_commit) {
    kn_checkpointer_t cp;
    rec_t r;
    start(&cp, &r, "100");
    kn_esn_t d = esn("300", 0);
    kn_ckpt_delivered(&cp, &d);
    ck_assert_int_eq(kn_checkpoint_commit(&cp), KN_ERR_STATE);
    ck_assert_int_eq(kn_checkpoint_prepare(&cp, "200", 0), KN_OK);
    ck_assert_int_eq(r.writes, 1);
    ck_assert(!r.has_ckpt); /* the checkpoint itself does not move */
    ck_assert(r.has_pending);
    ck_assert_str_eq(kn_esn_str(&r.pending), "200");
    ck_assert_str_eq(kn_esn_str(&cp.last), "100");
    ck_assert_int_eq(kn_checkpoint_commit(&cp), KN_OK);
    ck_assert_int_eq(r.writes, 2);
    ck_assert(r.has_ckpt);
    ck_assert(!r.has_pending);
    ck_assert_str_eq(kn_esn_str(&r.ckpt), "200");
    ck_assert_int_eq(kn_checkpoint_commit(&cp), KN_ERR_STATE);
    /* prepare everything delivered, then a later checkpoint overtakes it */
    ck_assert_int_eq(kn_checkpoint_prepare(&cp, NULL, 0), KN_OK);
    ck_assert_str_eq(kn_esn_str(&r.pending), "300");
    kn_esn_t d2 = esn("400", 0);
    kn_ckpt_delivered(&cp, &d2);
    ck_assert_int_eq(kn_checkpoint(&cp), KN_OK);
    ck_assert_int_eq(kn_checkpoint_commit(&cp), KN_ERR_STATE);
    ck_assert_int_eq(kn_checkpoint_prepare(&cp, "399", 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_checkpoint_prepare(&cp, "401", 0), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(failed_write_changes_nothing) {
    kn_checkpointer_t cp;
    rec_t r;
    start(&cp, &r, "100");
    kn_esn_t d = esn("300", 0);
    kn_ckpt_delivered(&cp, &d);
    r.fail = KN_ERR_LEASE_LOST;
    ck_assert_int_eq(kn_checkpoint(&cp), KN_ERR_LEASE_LOST);
    ck_assert_str_eq(kn_esn_str(&cp.last), "100");
    ck_assert_int_eq(kn_checkpoint_prepare(&cp, NULL, 0), KN_ERR_LEASE_LOST);
    ck_assert(!cp.has_pending);
    r.fail = KN_ERR_THROTTLING;
    ck_assert_int_eq(kn_checkpoint_at(&cp, "200", 0), KN_ERR_THROTTLING);
    r.fail = KN_OK;
    ck_assert_int_eq(kn_checkpoint_at(&cp, "200", 0), KN_OK);
    ck_assert_str_eq(kn_esn_str(&cp.last), "200");
}
END_TEST

/* A lease taken over with a pending checkpoint starts with it. */
START_TEST(starts_from_lease_pending) {
    kn_lease_t l;
    memset(&l, 0, sizeof(l));
    l.checkpoint = esn("100", 0);
    l.has_pending = 1;
    l.pending = esn("150", 0);
    kn_checkpointer_t cp;
    rec_t r = {0};
    kn_ckpt_init(&cp, &l, rec_write, &r);
    kn_esn_t d = esn("200", 0);
    kn_ckpt_delivered(&cp, &d);
    ck_assert_int_eq(kn_checkpoint_commit(&cp), KN_OK);
    ck_assert_str_eq(kn_esn_str(&r.ckpt), "150");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("consumer_checkpointer");
    TCase *tc = tcase_create("checkpointer");
    tcase_add_test(tc, nothing_delivered_nothing_written);
    tcase_add_test(tc, checkpoint_at_end_of_delivered);
    tcase_add_test(tc, refuses_behind_last_or_beyond_delivered);
    tcase_add_test(tc, shard_end_only_at_the_end);
    tcase_add_test(tc, prepare_then_commit);
    tcase_add_test(tc, failed_write_changes_nothing);
    tcase_add_test(tc, starts_from_lease_pending);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
