/* Producer statistics (stats.c): latency percentiles, counting reports, the JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kn_test.h"
#include "stats.h"

START_TEST(percentiles_within_a_bucket) {
    static kn_lat_hist_t h;
    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(kn_lat_hist_percentile(&h, 50), 0);
    /* 1..10000 us, once each */
    for (int64_t v = 1; v <= 10000; v++)
        kn_lat_hist_add(&h, v);
    kn_lat_hist_add(&h, -5); /* clamped to 0 */
    ck_assert_int_eq(atomic_load(&h.count), 10001);
    ck_assert_int_eq(atomic_load(&h.max), 10000);
    const double pct[] = {50, 90, 99};
    for (int i = 0; i < 3; i++) {
        int64_t exact = (int64_t)(pct[i] * 100), got = kn_lat_hist_percentile(&h, pct[i]);
        /* the upper end of its bucket: never below, at most 25% above */
        ck_assert_int_ge(got, exact - 1);
        ck_assert_int_le(got, exact * 5 / 4);
    }
    ck_assert_int_eq(kn_lat_hist_percentile(&h, 100), 10000); /* capped at the max seen */
    /* small values are exact */
    static kn_lat_hist_t s;
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 10; i++)
        kn_lat_hist_add(&s, 7);
    ck_assert_int_eq(kn_lat_hist_percentile(&s, 50), 7);
    /* huge values do not overflow the buckets */
    kn_lat_hist_add(&s, INT64_MAX);
    ck_assert_int_eq(kn_lat_hist_percentile(&s, 100), INT64_MAX);
}
END_TEST

START_TEST(reports_and_json) {
    static kn_pstats_t st;
    static kn_pipeline_stats_t pl;
    memset(&st, 0, sizeof(st));
    memset(&pl, 0, sizeof(pl));
    st.start_us = 1000;
    kn_rec_t *ok = kn_rec_new("k", 1, NULL, 0, "d", 1, NULL);
    kn_rec_t *bad = kn_rec_new("k", 1, NULL, 0, "d", 1, NULL);
    bad->error = kn_serr_new(kn_error_new(KN_ERR_RECORD_EXPIRED, "too late"));
    kn_serr_t *att = kn_serr_new(kn_error_from_service(500, "InternalFailure", "x", NULL));
    kn_rec_add_attempt(bad, att, 0, 5);
    kn_rec_add_attempt(bad, att, 10, 15);
    kn_serr_unref(att);
    kn_pstats_count_report(&st, ok, 100);
    kn_pstats_count_report(&st, bad, 30000);
    atomic_store(&pl.kinesis_records, 1);
    atomic_store(&pl.inflight, 2);
    kn_pstats_view_t v = {.now_us = 5000, .buffered_records = 3, .buffered_bytes = 400,
                          .buffer_max_records = 10, .buffer_max_bytes = 1 << 20, .streams = 1};
    char *js = kn_pstats_json(&st, &pl, &v);
    cJSON *o = cJSON_Parse(js);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "uptime_ms")->valueint, 4);
    cJSON *u = cJSON_GetObjectItem(o, "user_records");
    ck_assert_int_eq(cJSON_GetObjectItem(u, "delivered")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(u, "failed")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(u, "failed_attempts")->valueint, 2);
    cJSON *e = cJSON_GetObjectItem(o, "errors");
    ck_assert_int_eq(cJSON_GetObjectItem(e, "KN_ERR_RECORD_EXPIRED")->valueint, 1);
    ck_assert_int_eq(cJSON_GetArraySize(e), 1);
    cJSON *b = cJSON_GetObjectItem(o, "buffer");
    ck_assert_int_eq(cJSON_GetObjectItem(b, "records")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(b, "bytes")->valueint, 400);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "requests"), "in_flight")->valueint, 2);
    cJSON *l = cJSON_GetObjectItem(o, "latency_us");
    ck_assert_int_eq(cJSON_GetObjectItem(l, "count")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(l, "max")->valueint, 30000);
    cJSON_Delete(o);
    free(js);
    kn_rec_free(ok);
    kn_rec_free(bad);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("producer_stats");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, percentiles_within_a_bucket);
    tcase_add_test(tc, reports_and_json);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
