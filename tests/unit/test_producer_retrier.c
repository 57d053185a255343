/* Outcome handling (retrier.c): partial failures, whole-request failures, TTL, wrong shard. */
#include <string.h>

#include "kn_test.h"
#include "retrier.h"

#define MAXKEY "340282366920938463463374607431768211455"
#define HALF "170141183460469231731687303715884105727"
#define HALF1 "170141183460469231731687303715884105728"

static kn_agg_ctx_t agg;
static kn_shard_map_t map;
static kn_retrier_t rt;

static void setup(void) {
    ck_assert_int_eq(kn_agg_ctx_init(&agg, 1, 51200), KN_OK);
    kn_shard_map_init(&map);
    kn_shard_t s[2] = {{.shard_id = "shard-lo", .starting_hash_key = "0", .ending_hash_key = HALF},
                       {.shard_id = "shard-hi", .starting_hash_key = HALF1,
                        .ending_hash_key = MAXKEY}};
    kn_shard_range_t *old;
    size_t nold;
    kn_error_t *err;
    ck_assert_int_eq(kn_shard_map_update(&map, s, 2, 0, &old, &nold, &err), KN_OK);
    kn_retrier_init(&rt, 100, 20000, 42);
}

static void teardown(void) {
    ck_assert_int_eq(agg.bytes, 0); /* every blob was released */
    kn_agg_ctx_clear(&agg);
    kn_shard_map_clear(&map);
}

/* A record with an explicit hash key, so the test picks its shard. */
static kn_rec_t *rec(const char *ehk, int64_t expire) {
    kn_rec_t *r = kn_rec_new("pk", 2, ehk, strlen(ehk), "data", 4, NULL);
    ck_assert_ptr_nonnull(r);
    kn_u128_parse_decimal(ehk, strlen(ehk), &r->hash);
    r->deadline_us = 0;
    r->expire_us = expire;
    return r;
}

/* A Kinesis record of these records, predicted for `shard`, sent at t=1000. */
static kn_krec_t *krec(const char *shard, kn_rec_t **recs, int n) {
    kn_aggregator_t a;
    kn_aggregator_init(&a);
    kn_krec_list_t out = {0};
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(kn_aggregator_add(&agg, &a, recs[i], &out), KN_OK);
    ck_assert_int_eq(kn_aggregator_flush(&agg, &a, &out), KN_OK);
    ck_assert_uint_eq(out.count, 1);
    out.head->shard_id = shard;
    out.head->sent_us = 1000;
    return out.head;
}

/* A delivered entry's records as the report side sees them. */
static void flatten_into(kn_krec_t *k, kn_rec_list_t *out) {
    kn_rec_t *r;
    while ((r = kn_krec_take_delivered(k)))
        kn_rec_list_push(out, r);
    kn_krec_free(k);
}

/* Delivered entries as user records (what the report side sees), after the failed ones. */
static void flatten(kn_retrier_out_t *o) {
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(&o->delivered)))
        flatten_into(k, &o->done);
}

static void drain(kn_retrier_out_t *o) {
    kn_rec_t *r;
    kn_krec_t *k;
    flatten(o);
    while ((r = kn_rec_list_pop(&o->done)))
        kn_rec_free(r);
    while ((r = kn_rec_list_pop(&o->reroute)))
        kn_rec_free(r);
    while ((k = kn_krec_list_pop(&o->retry))) {
        while ((r = kn_rec_list_pop(&k->recs)))
            kn_rec_free(r);
        kn_krec_release(&agg, k);
    }
}

START_TEST(partial_failure_retries_only_failed_entries) {
    kn_rec_t *r[4] = {rec("1", 1 << 30), rec("2", 1 << 30), rec("3", 1 << 30), rec("4", 1 << 30)};
    kn_krec_list_t sent = {0};
    kn_krec_list_push(&sent, krec("shard-lo", &r[0], 2)); /* aggregate of 2 */
    kn_krec_list_push(&sent, krec("shard-lo", &r[2], 1));
    kn_krec_list_push(&sent, krec("shard-lo", &r[3], 1));
    kn_put_records_entry_result_t e[3] = {
        {.err = KN_OK, .shard_id = "shard-lo", .sequence_number = "495"},
        {.err = KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED,
         .error_code = "ProvisionedThroughputExceededException", .error_message = "slow down"},
        {.err = KN_ERR_INTERNAL_FAILURE, .error_code = "InternalFailure", .error_message = "oops"},
    };
    kn_put_records_result_t res = {.failed_record_count = 2, .count = 3, .entries = e};
    kn_retrier_out_t o = {0};
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 5000, &o);
    flatten(&o);
    ck_assert_uint_eq(sent.count, 0);
    /* the first entry's two records are done, with subsequence numbers */
    ck_assert_uint_eq(o.done.count, 2);
    ck_assert_ptr_eq(o.done.head, r[0]);
    ck_assert_str_eq(r[0]->result->shard_id, "shard-lo");
    ck_assert_str_eq(r[1]->result->sequence_number, "495");
    ck_assert_uint_eq(r[1]->subseq, 1);
    ck_assert_ptr_null(r[0]->error);
    ck_assert_uint_eq(r[0]->nattempts, 0);
    /* only the two failed entries come back, in request order, with backoff */
    ck_assert_uint_eq(o.retry.count, 2);
    kn_krec_t *k1 = o.retry.head, *k2 = k1->next;
    ck_assert_ptr_eq(k1->recs.head, r[2]);
    ck_assert_ptr_eq(k2->recs.head, r[3]);
    ck_assert(k1->throttled);
    ck_assert(!k2->throttled);
    ck_assert(o.throttled);
    ck_assert_int_eq(k1->retries, 1);
    /* full jitter below the cap: throttling base 5 x 100 ms, else 100 ms */
    ck_assert_int_ge(k1->not_before_us, 5000);
    ck_assert_int_le(k1->not_before_us, 5000 + 500 * 1000);
    ck_assert_int_le(k2->not_before_us, 5000 + 100 * 1000);
    /* the attempt is on the record: its error and duration */
    ck_assert_uint_eq(r[2]->nattempts, 1);
    ck_assert_int_eq(kn_error_code(r[2]->attempts[0].err->err),
                     KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED);
    ck_assert_str_eq(kn_error_message(r[2]->attempts[0].err->err), "slow down");
    ck_assert_int_eq(r[2]->attempts[0].start_us, 1000);
    ck_assert_int_eq(r[2]->attempts[0].duration_us, 4000);
    ck_assert_int_eq(kn_error_code(r[3]->attempts[0].err->err), KN_ERR_INTERNAL_FAILURE);
    ck_assert(!o.stale_map);
    drain(&o);
}
END_TEST

START_TEST(whole_request_failures) {
    /* retriable: every entry retried */
    kn_rec_t *r[3] = {rec("1", 1 << 30), rec("2", 1 << 30), rec(HALF1, 1 << 30)};
    kn_krec_list_t sent = {0};
    kn_krec_list_push(&sent, krec("shard-lo", &r[0], 2));
    kn_krec_list_push(&sent, krec("shard-hi", &r[2], 1));
    kn_error_t *net = kn_error_new(KN_ERR_TRANSPORT, "connection reset");
    kn_retrier_out_t o = {0};
    kn_retrier_on_outcome(&rt, &agg, &sent, net, NULL, &map, 2000, &o);
    flatten(&o);
    kn_error_destroy(net);
    ck_assert_uint_eq(o.retry.count, 2);
    ck_assert_uint_eq(o.done.count, 0);
    ck_assert_int_eq(kn_error_code(r[1]->attempts[0].err->err), KN_ERR_TRANSPORT);
    /* the same attempt error object is shared, not copied per record */
    ck_assert_ptr_eq(r[0]->attempts[0].err, r[2]->attempts[0].err);
    /* non-retriable on the retry: reported at once with that error */
    kn_krec_list_t again = o.retry;
    memset(&o, 0, sizeof(o));
    kn_error_t *nf = kn_error_from_service(400, "ResourceNotFoundException", "no stream", "req-9");
    kn_retrier_on_outcome(&rt, &agg, &again, nf, NULL, &map, 3000, &o);
    flatten(&o);
    kn_error_destroy(nf);
    ck_assert_uint_eq(o.retry.count, 0);
    ck_assert_uint_eq(o.done.count, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kn_error_code(r[i]->error->err), KN_ERR_RESOURCE_NOT_FOUND);
        ck_assert_str_eq(kn_error_request_id(r[i]->error->err), "req-9");
        ck_assert_uint_eq(r[i]->nattempts, 2);
        ck_assert_ptr_null(r[i]->result);
    }
    drain(&o);
    /* other non-retriable request errors */
    const char *types[] = {"AccessDeniedException", "ValidationException",
                           "InvalidSignatureException", "KMSDisabledException"};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        kn_rec_t *x = rec("5", 1 << 30);
        kn_krec_list_push(&sent, krec("shard-lo", &x, 1));
        kn_error_t *err = kn_error_from_service(400, types[t], "no", NULL);
        memset(&o, 0, sizeof(o));
        kn_retrier_on_outcome(&rt, &agg, &sent, err, NULL, &map, 3000, &o);
    flatten(&o);
        kn_error_destroy(err);
        ck_assert_msg(o.done.count == 1 && o.retry.count == 0, "%s", types[t]);
        drain(&o);
    }
}
END_TEST

START_TEST(count_mismatch_is_retried) {
    kn_rec_t *r[2] = {rec("1", 1 << 30), rec("2", 1 << 30)};
    kn_krec_list_t sent = {0};
    kn_krec_list_push(&sent, krec("shard-lo", &r[0], 1));
    kn_krec_list_push(&sent, krec("shard-lo", &r[1], 1));
    kn_put_records_entry_result_t e[1] = {{.err = KN_OK, .shard_id = "shard-lo",
                                           .sequence_number = "1"}};
    kn_put_records_result_t res = {.count = 1, .entries = e};
    kn_retrier_out_t o = {0};
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 2000, &o);
    flatten(&o);
    ck_assert_uint_eq(o.retry.count, 2);
    ck_assert_int_eq(kn_error_code(r[0]->attempts[0].err->err), KN_ERR_BAD_RESPONSE);
    drain(&o);
}
END_TEST

START_TEST(ttl_expiry_on_failure) {
    /* r0 expires at 4000, r1 and r2 later: after a failure at 5000 only r0 is reported */
    kn_rec_t *r[3] = {rec("1", 4000), rec("2", 1 << 30), rec("3", 1 << 30)};
    kn_krec_list_t sent = {0};
    kn_krec_t *k = krec("shard-lo", r, 3);
    size_t blob_before = k->blob_len;
    kn_krec_list_push(&sent, k);
    kn_put_records_entry_result_t e[1] = {{.err = KN_ERR_INTERNAL_FAILURE,
                                           .error_code = "InternalFailure"}};
    kn_put_records_result_t res = {.failed_record_count = 1, .count = 1, .entries = e};
    kn_retrier_out_t o = {0};
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 5000, &o);
    flatten(&o);
    ck_assert_uint_eq(o.done.count, 1);
    ck_assert_ptr_eq(o.done.head, r[0]);
    ck_assert_int_eq(kn_error_code(r[0]->error->err), KN_ERR_RECORD_EXPIRED);
    ck_assert_ptr_nonnull(strstr(kn_error_message(r[0]->error->err), "InternalFailure"));
    ck_assert_uint_eq(r[0]->nattempts, 1);
    ck_assert_uint_eq(o.retry.count, 1);
    /* the rest was re-encoded; EHK now from r1 */
    ck_assert_uint_lt(o.retry.head->blob_len, blob_before);
    ck_assert_str_eq(o.retry.head->ehk, "2");
    ck_assert_uint_eq(r[2]->subseq, 1);
    drain(&o);

    /* expiry while waiting: the list form and the entry form */
    kn_rec_list_t wait = {0}, done = {0};
    kn_rec_list_push(&wait, rec("1", 10));
    kn_rec_list_push(&wait, rec("2", 30));
    kn_rec_list_push(&wait, rec("3", 20));
    ck_assert_uint_eq(kn_retrier_expire_list(&wait, 20, &done), 2);
    ck_assert_uint_eq(wait.count, 1);
    ck_assert_int_eq(wait.head->expire_us, 30);
    ck_assert_int_eq(kn_error_code(done.head->error->err), KN_ERR_RECORD_EXPIRED);
    kn_rec_t *x;
    while ((x = kn_rec_list_pop(&done)))
        kn_rec_free(x);
    kn_rec_free(kn_rec_list_pop(&wait));
    kn_rec_t *y[2] = {rec("1", 10), rec("2", 10)};
    k = krec("shard-lo", y, 2);
    ck_assert_int_eq(kn_retrier_expire_krec(&agg, k, 9, &done), 0);
    ck_assert_int_eq(kn_retrier_expire_krec(&agg, k, 10, &done), 1);
    ck_assert_uint_eq(done.count, 2);
    while ((x = kn_rec_list_pop(&done)))
        kn_rec_free(x);
    kn_krec_release(&agg, k);
}
END_TEST

START_TEST(huge_ttl_saturates) {
    kn_rec_t *r = rec("1", INT64_MAX);
    kn_krec_list_t sent = {0};
    kn_krec_t *k = krec("shard-lo", &r, 1);
    k->retries = 200; /* a cap of base * 2^200 must not overflow */
    kn_krec_list_push(&sent, k);
    kn_error_t *err = kn_error_new(KN_ERR_TIMED_OUT, "timeout");
    kn_retrier_out_t o = {0};
    kn_retrier_on_outcome(&rt, &agg, &sent, err, NULL, &map, INT64_MAX - 10, &o);
    flatten(&o);
    kn_error_destroy(err);
    ck_assert_uint_eq(o.retry.count, 1);
    ck_assert_int_ge(o.retry.head->not_before_us, INT64_MAX - 10);
    drain(&o);
    /* backoff stays below the configured cap */
    for (int i = 0; i < 50; i++) {
        r = rec("1", INT64_MAX);
        k = krec("shard-lo", &r, 1);
        k->retries = (uint16_t)(i % 20);
        kn_krec_list_push(&sent, k);
        err = kn_error_new(KN_ERR_TIMED_OUT, "timeout");
        memset(&o, 0, sizeof(o));
        kn_retrier_on_outcome(&rt, &agg, &sent, err, NULL, &map, 0, &o);
    flatten(&o);
        kn_error_destroy(err);
        int64_t cap_ms = 100LL << (i % 20);
        if (cap_ms > 20000)
            cap_ms = 20000;
        ck_assert_int_le(o.retry.head->not_before_us, cap_ms * 1000);
        drain(&o);
    }
}
END_TEST

START_TEST(wrong_shard) {
    kn_put_records_entry_result_t e[1] = {{.err = KN_OK, .shard_id = "shard-hi",
                                           .sequence_number = "7"}};
    kn_put_records_result_t res = {.count = 1, .entries = e};
    /* an aggregate predicted for shard-lo whose second record belongs to shard-hi
       (a stale map) landed on shard-hi: every record is routed again */
    kn_rec_t *a[2] = {rec(HALF1, 1 << 30), rec("5", 1 << 30)};
    kn_krec_list_t sent = {0};
    kn_krec_list_push(&sent, krec("shard-lo", a, 2));
    kn_retrier_out_t o = {0};
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 2000, &o);
    flatten(&o);
    ck_assert(o.stale_map);
    ck_assert_uint_eq(o.done.count, 0);
    ck_assert_uint_eq(o.reroute.count, 2);
    ck_assert_ptr_eq(o.reroute.head, a[0]);
    ck_assert_uint_eq(a[1]->nattempts, 1);
    ck_assert_ptr_nonnull(strstr(kn_error_message(a[1]->attempts[0].err->err), "shard-hi"));
    drain(&o);
    /* all records inside the actual shard: delivered, but the map is stale */
    kn_rec_t *b[2] = {rec(HALF1, 1 << 30), rec(MAXKEY, 1 << 30)};
    kn_krec_list_push(&sent, krec("shard-lo", b, 2));
    memset(&o, 0, sizeof(o));
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 2000, &o);
    flatten(&o);
    ck_assert(o.stale_map);
    ck_assert_uint_eq(o.done.count, 2);
    ck_assert_str_eq(b[1]->result->shard_id, "shard-hi");
    drain(&o);
    /* a shard the map does not know: cannot be checked, so sent again */
    kn_rec_t *c[2] = {rec("1", 1 << 30), rec("2", 1 << 30)};
    kn_krec_list_push(&sent, krec("shard-lo", c, 2));
    e[0].shard_id = "shard-new";
    memset(&o, 0, sizeof(o));
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 2000, &o);
    flatten(&o);
    ck_assert_uint_eq(o.reroute.count, 2);
    drain(&o);
    /* a plain record anywhere is fine: the service routed it by its own key */
    kn_rec_t *d = rec("3", 1 << 30);
    kn_krec_list_push(&sent, krec("shard-hi", &d, 1));
    e[0].shard_id = "shard-lo";
    memset(&o, 0, sizeof(o));
    kn_retrier_on_outcome(&rt, &agg, &sent, NULL, &res, &map, 2000, &o);
    flatten(&o);
    ck_assert(o.stale_map);
    ck_assert_uint_eq(o.done.count, 1);
    ck_assert_ptr_null(d->error);
    drain(&o);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_retrier");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, partial_failure_retries_only_failed_entries);
    tcase_add_test(tc, whole_request_failures);
    tcase_add_test(tc, count_mismatch_is_retried);
    tcase_add_test(tc, ttl_expiry_on_failure);
    tcase_add_test(tc, huge_ttl_saturates);
    tcase_add_test(tc, wrong_shard);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
