/*
 * KPL aggregation interop with the npm package aws-kinesis-agg (through
 * tests/integration/agg_interop.js):
 *  - the aggregates this producer sends (captured by the fake Kinesis) decode
 *    with aws-kinesis-agg, checksums verified, to exactly the records put;
 *  - aggregates aws-kinesis-agg builds decode with this SDK's decoder.
 * Skipped (77) when node or the npm packages are missing (tests/peers/peers.sh install).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "base64.h"
#include "kinesis/producer.h"
#include "kn_fake_kinesis.h"
#include "kn_test.h"

#define N 3000

static char script[4096], node_path[4096];

static void require_node(void) {
    const char *src = getenv("KN_SOURCE_DIR");
    if (!src || system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "node not found: skipped\n");
        exit(77);
    }
    snprintf(script, sizeof(script), "%s/tests/integration/agg_interop.js", src);
    snprintf(node_path, sizeof(node_path), "%s/tests/peers/node_modules", src);
    char probe[8192];
    snprintf(probe, sizeof(probe), "%s/aws-kinesis-agg/package.json", node_path);
    if (access(probe, R_OK)) {
        fprintf(stderr, "aws-kinesis-agg not installed (tests/peers/peers.sh install): skipped\n");
        exit(77);
    }
}

static FILE *run_node(const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof(cmd), "NODE_PATH='%s' node '%s' %s", node_path, script, args);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    return f;
}

static uint8_t *b64dec(const char *s, size_t *len) {
    size_t n = strlen(s);
    uint8_t *out = malloc(n + 1);
    ck_assert_int_eq(kn_base64_decode(s, n, out, n + 1, len), KN_OK);
    return out;
}

static char *b64enc(const uint8_t *p, size_t n) {
    size_t cap = kn_base64_encoded_len(n) + 1, len;
    char *out = malloc(cap);
    ck_assert_int_eq(kn_base64_encode(p, n, out, cap, &len), KN_OK);
    return out;
}

/* The record put as number i. */
static void record(int i, char *pk, size_t pksz, uint8_t *data, size_t *len, const char **ehk) {
    snprintf(pk, pksz, i % 3 ? "key-%d" : "\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87-%d", i % 211);
    *len = (size_t)(i % 7 == 0 ? 0 : 8 + i % 300);
    for (size_t j = 0; j < *len; j++)
        data[j] = (uint8_t)(i * 31 + (int)j);
    if (*len >= 4)
        memcpy(data, &i, sizeof(i));
    *ehk = i % 10 == 0 ? "170141183460469231731687303715884105728" : NULL;
}

START_TEST(our_aggregates_decode_with_aws_kinesis_agg) {
    require_node();
    kn_test_safe_env();
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(4, 1);
    kn_conf_t *c = kn_conf_new();
    char err[256];
    ck_assert_int_eq(kn_conf_set(c, "kinesis.endpoint.url", kn_fake_kinesis_url(f), err, sizeof(err)),
                     KN_OK);
    kn_producer_t *p = kn_producer_new(c, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    char pk[64];
    uint8_t data[400];
    size_t len;
    const char *ehk;
    for (int i = 0; i < N; i++) {
        record(i, pk, sizeof(pk), data, &len, &ehk);
        ck_assert_int_eq(kn_producer_put(p, "interop", pk, ehk, data, len, NULL), KN_OK);
    }
    ck_assert_int_eq(kn_producer_flush(p, -1, NULL), KN_OK);
    kn_producer_destroy(p);

    /* the Kinesis records as sent, for the oracle */
    size_t nrec;
    const kn_fake_record_t *recs = kn_fake_kinesis_records(f, &nrec);
    char path[] = "/tmp/kn-interop-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *out = fdopen(fd, "w");
    size_t aggregated = 0;
    for (size_t i = 0; i < nrec; i++) {
        char *d = b64enc(recs[i].data, recs[i].len);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pk", recs[i].pk);
        cJSON_AddStringToObject(o, "data", d);
        char *txt = cJSON_PrintUnformatted(o);
        fprintf(out, "%s\n", txt);
        free(txt);
        cJSON_Delete(o);
        free(d);
        aggregated += kn_agg_is_aggregated(recs[i].data, recs[i].len);
    }
    fclose(out);
    ck_assert_uint_gt(aggregated, 0);

    /* every user record comes back from aws-kinesis-agg, each exactly once */
    static int found[N];
    memset(found, 0, sizeof(found));
    char args[256];
    snprintf(args, sizeof(args), "decode '%s'", path);
    FILE *in = run_node(args);
    char *line = NULL;
    size_t cap = 0, users = 0;
    while (getline(&line, &cap, in) > 0) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_ptr_nonnull(o);
        size_t dlen;
        uint8_t *d = b64dec(cJSON_GetObjectItem(o, "data")->valuestring, &dlen);
        int id = -1;
        if (dlen >= 4)
            memcpy(&id, d, sizeof(id));
        else /* empty data: identify by the oracle's position against ours */
            id = -2;
        if (id >= 0) {
            ck_assert(id < N);
            char want_pk[64];
            uint8_t want[400];
            size_t want_len;
            const char *want_ehk;
            record(id, want_pk, sizeof(want_pk), want, &want_len, &want_ehk);
            ck_assert_str_eq(cJSON_GetObjectItem(o, "pk")->valuestring, want_pk);
            ck_assert_uint_eq(dlen, want_len);
            ck_assert(!memcmp(d, want, dlen));
            found[id]++;
        }
        users++;
        free(d);
        cJSON_Delete(o);
    }
    free(line);
    ck_assert_int_eq(pclose(in), 0);
    unlink(path);
    ck_assert_uint_eq(users, N);
    for (int i = 0; i < N; i++)
        if (i % 7)
            ck_assert_msg(found[i] == 1, "record %d decoded %d times", i, found[i]);
    kn_fake_kinesis_stop(f);
}
END_TEST

START_TEST(aws_kinesis_agg_aggregates_decode_here) {
    require_node();
    FILE *in = run_node("encode 3000");
    char *line = NULL;
    size_t cap = 0;
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    /* decoded user records, in order */
    size_t nusers = 0, ndecoded = 0, naggs = 0;
    static char *pk_got[4000], *ehk_got[4000], *data_got[4000];
    while (getline(&line, &cap, in) > 0) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_ptr_nonnull(o);
        cJSON *a = cJSON_GetObjectItem(o, "agg"), *r = cJSON_GetObjectItem(o, "rec");
        if (a) {
            naggs++;
            size_t len;
            uint8_t *blob = b64dec(a->valuestring, &len);
            const kn_agg_record_t *u;
            size_t n;
            ck_assert(kn_agg_is_aggregated(blob, len));
            ck_assert_int_eq(kn_agg_decode(d, blob, len, &u, &n), KN_OK);
            for (size_t j = 0; j < n; j++, ndecoded++) {
                ck_assert_uint_lt(ndecoded, 4000);
                pk_got[ndecoded] = strndup(u[j].partition_key, u[j].partition_key_len);
                ehk_got[ndecoded] = u[j].explicit_hash_key
                                        ? strndup(u[j].explicit_hash_key, u[j].explicit_hash_key_len)
                                        : NULL;
                data_got[ndecoded] = b64enc(u[j].data, u[j].data_len);
            }
            free(blob);
        } else {
            ck_assert_ptr_nonnull(r);
            ck_assert_uint_lt(nusers, ndecoded);
            ck_assert_str_eq(cJSON_GetObjectItem(r, "pk")->valuestring, pk_got[nusers]);
            cJSON *e = cJSON_GetObjectItem(r, "ehk");
            if (cJSON_IsString(e))
                ck_assert_str_eq(e->valuestring, ehk_got[nusers]);
            else
                ck_assert_ptr_null(ehk_got[nusers]);
            ck_assert_str_eq(cJSON_GetObjectItem(r, "data")->valuestring, data_got[nusers]);
            nusers++;
        }
        cJSON_Delete(o);
    }
    free(line);
    ck_assert_int_eq(pclose(in), 0);
    ck_assert_uint_eq(nusers, 3000);
    ck_assert_uint_eq(ndecoded, 3000);
    ck_assert_uint_gt(naggs, 0);
    for (size_t i = 0; i < ndecoded; i++) {
        free(pk_got[i]);
        free(ehk_got[i]);
        free(data_got[i]);
    }
    kn_agg_decoder_destroy(d);
}
END_TEST

static Suite *suite(void) {
    require_node(); /* exits 77 (skipped) without node and the npm packages */
    Suite *s = suite_create("producer_interop");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, our_aggregates_decode_with_aws_kinesis_agg);
    tcase_add_test(tc, aws_kinesis_agg_aggregates_decode_here);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
