/*
 * The DynamoDB client against dynalite: a KCL-shaped lease table with its
 * owner index, conditional writes, paging, queries and error mapping.
 */
#include <stdio.h>
#include <string.h>

#include "dynamodb_api.h"
#include "kn_test.h"
#include "kn_test_log.h"

#define WAIT_MS 60000

static kn_test_log_t cap; /* each test runs in its own process */

static kn_dynamodb_t *client(void) {
    kn_test_require_peers();
    kn_test_log_init(&cap);
    kn_conf_t *conf = kn_conf_new();
    char errstr[256];
    ck_assert_int_eq(kn_conf_set(conf, "dynamodb.endpoint.url", kn_test_dynamodb_endpoint(), errstr,
                                 sizeof(errstr)),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "retry.backoff.base.ms", "5", errstr, sizeof(errstr)),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "debug", errstr, sizeof(errstr)), KN_OK);
    kn_conf_set_log_fn(conf, kn_test_log_fn, &cap);
    kn_error_t *e = NULL;
    kn_dynamodb_t *d = kn_dynamodb_new(conf, NULL, NULL, &e);
    ck_assert_msg(d != NULL, "kn_dynamodb_new: %s", e ? kn_error_message(e) : "?");
    kn_conf_destroy(conf);
    return d;
}

static void ok(kn_err_t rc, kn_error_t **ep, const char *what) {
    char buf[512];
    ck_assert_msg(rc == KN_OK, "%s: %s", what,
                  *ep ? kn_error_format(*ep, buf, sizeof(buf)) : kn_err2name(rc));
    ck_assert_ptr_null(*ep);
}

/* Expects `rc` to be `want`, with an error object of that code; frees it. */
static void fails(kn_err_t rc, kn_error_t **ep, kn_err_t want) {
    ck_assert_msg(rc == want, "got %s, want %s", kn_err2name(rc), kn_err2name(want));
    ck_assert_ptr_nonnull(*ep);
    ck_assert_int_eq(kn_error_code(*ep), want);
    kn_error_destroy(*ep);
    *ep = NULL;
}

static int log_count(const char *needle) {
    int n = 0;
    pthread_mutex_lock(&cap.lock);
    for (const char *p = cap.text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    pthread_mutex_unlock(&cap.lock);
    return n;
}

/* A lease item: leaseKey, leaseOwner, leaseCounter, parentShardId (SS). */
static cJSON *lease(const char *key, const char *owner, int64_t counter) {
    cJSON *item = cJSON_CreateObject();
    static const char *const parents[] = {"shardId-000000000000", "shardId-000000000001"};
    ck_assert_int_eq(kn_ddb_put(item, "leaseKey", kn_ddb_s(key)), 0);
    ck_assert_int_eq(kn_ddb_put(item, "leaseOwner", kn_ddb_s(owner)), 0);
    ck_assert_int_eq(kn_ddb_put(item, "leaseCounter", kn_ddb_n(counter)), 0);
    ck_assert_int_eq(kn_ddb_put(item, "parentShardId", kn_ddb_ss(parents, 2)), 0);
    ck_assert_int_eq(kn_ddb_put(item, "checkpointed", kn_ddb_bool(0)), 0);
    return item;
}

static cJSON *key_of(const char *key) {
    cJSON *k = cJSON_CreateObject();
    ck_assert_int_eq(kn_ddb_put(k, "leaseKey", kn_ddb_s(key)), 0);
    return k;
}

static cJSON *obj2(const char *n1, cJSON *v1, const char *n2, cJSON *v2) {
    cJSON *o = cJSON_CreateObject();
    ck_assert_int_eq(kn_ddb_put(o, n1, v1), 0);
    if (n2)
        ck_assert_int_eq(kn_ddb_put(o, n2, v2), 0);
    return o;
}

START_TEST(lease_table_operations) {
    kn_dynamodb_t *d = client();
    char table[64];
    kn_test_unique_name("api-leases", table, sizeof(table));
    kn_error_t *e = NULL;
    kn_ddb_key_schema_t key = {.hash_name = "leaseKey", .hash_type = 'S'};
    kn_ddb_index_t gsi = {.name = "LeaseOwnerToLeaseKeyIndex",
                          .key = {.hash_name = "leaseOwner",
                                  .hash_type = 'S',
                                  .range_name = "leaseKey",
                                  .range_type = 'S'},
                          .projection = "KEYS_ONLY"};
    ok(kn_dynamodb_create_table(d, table, &key, &gsi, 1, &e), &e, "CreateTable");
    ok(kn_dynamodb_wait_table_active(d, table, WAIT_MS, &e), &e, "wait table");
    kn_table_status_t status = KN_TABLE_STATUS_UNKNOWN;
    int64_t count = -5;
    ok(kn_dynamodb_describe_table(d, table, &status, &count, &e), &e, "DescribeTable");
    ck_assert_int_eq(status, KN_TABLE_STATUS_ACTIVE);
    ck_assert_int_eq(count, 0);
    fails(kn_dynamodb_create_table(d, table, &key, NULL, 0, &e), &e, KN_ERR_RESOURCE_IN_USE);

    /* Create-if-absent: the second put fails its condition and is not retried. */
    kn_ddb_write_t absent = {.condition = "attribute_not_exists(leaseKey)"};
    cJSON *item = lease("shardId-000000000002", "worker-a", 1);
    ok(kn_dynamodb_put_item(d, table, item, &absent, NULL, &e), &e, "PutItem");
    int retries_before = log_count("retrying");
    ck_assert_int_eq(kn_dynamodb_put_item(d, table, item, &absent, NULL, &e),
                     KN_ERR_CONDITIONAL_CHECK_FAILED);
    ck_assert_str_eq(kn_error_type(e), "ConditionalCheckFailedException");
    ck_assert_int_eq(kn_error_http_status(e), 400);
    ck_assert(!kn_error_is_retriable(e));
    kn_error_destroy(e);
    e = NULL;
    ck_assert_int_eq(log_count("retrying"), retries_before);
    cJSON_Delete(item);

    /* Consistent read back through the attribute helpers. */
    cJSON *k2 = key_of("shardId-000000000002");
    cJSON *got = NULL;
    ok(kn_dynamodb_get_item(d, table, k2, 1, &got, &e), &e, "GetItem");
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(kn_ddb_get_s(got, "leaseOwner"), "worker-a");
    int64_t counter = 0;
    ck_assert_int_eq(kn_ddb_get_n(got, "leaseCounter", &counter), 0);
    ck_assert_int_eq(counter, 1);
    ck_assert_str_eq(kn_ddb_get_n_str(got, "leaseCounter"), "1");
    const cJSON *ss = kn_ddb_get_ss(got, "parentShardId");
    ck_assert_int_eq(cJSON_GetArraySize(ss), 2);
    int b = 7;
    ck_assert_int_eq(kn_ddb_get_bool(got, "checkpointed", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_ptr_null(kn_ddb_get_s(got, "leaseCounter")); /* wrong type: not an S */
    ck_assert_int_eq(kn_ddb_get_n(got, "leaseOwner", &counter), -1);
    cJSON_Delete(got);
    cJSON *missing = key_of("shardId-999999999999");
    ok(kn_dynamodb_get_item(d, table, missing, 0, &got, &e), &e, "GetItem missing");
    ck_assert_ptr_null(got);
    cJSON_Delete(missing);

    /* Take the lease: counter must match, owner changes, counter bumps. */
    cJSON *names = cJSON_CreateObject();
    cJSON_AddStringToObject(names, "#o", "leaseOwner");
    cJSON *vals = obj2(":o", kn_ddb_s("worker-b"), ":c", kn_ddb_n(1));
    ck_assert_int_eq(kn_ddb_put(vals, ":one", kn_ddb_n(1)), 0);
    kn_ddb_write_t take = {.condition = "leaseCounter = :c",
                           .update = "SET #o = :o ADD leaseCounter :one",
                           .names = names,
                           .values = vals,
                           .return_values = "ALL_NEW"};
    cJSON *attrs = NULL;
    ok(kn_dynamodb_update_item(d, table, k2, &take, &attrs, &e), &e, "UpdateItem");
    ck_assert_str_eq(kn_ddb_get_s(attrs, "leaseOwner"), "worker-b");
    ck_assert_int_eq(kn_ddb_get_n(attrs, "leaseCounter", &counter), 0);
    ck_assert_int_eq(counter, 2);
    cJSON_Delete(attrs);
    /* The same update again has a stale counter. */
    fails(kn_dynamodb_update_item(d, table, k2, &take, &attrs, &e), &e,
          KN_ERR_CONDITIONAL_CHECK_FAILED);
    ck_assert_ptr_null(attrs);
    cJSON_Delete(vals);

    /* REMOVE with UPDATED_NEW; a reserved word without a placeholder is a ValidationException. */
    kn_ddb_write_t remove = {.update = "REMOVE #o", .names = names, .return_values = "UPDATED_NEW"};
    ok(kn_dynamodb_update_item(d, table, k2, &remove, &attrs, &e), &e, "UpdateItem REMOVE");
    ck_assert_ptr_null(
        kn_ddb_get_s(attrs, "leaseOwner")); /* removed, so not among the new values */
    cJSON_Delete(attrs);
    ok(kn_dynamodb_get_item(d, table, k2, 1, &got, &e), &e, "GetItem after REMOVE");
    ck_assert_ptr_null(kn_ddb_get_s(got, "leaseOwner"));
    ck_assert_str_eq(kn_ddb_get_s(got, "leaseKey"), "shardId-000000000002");
    cJSON_Delete(got);
    cJSON *ownerv = obj2(":o", kn_ddb_s("x"), NULL, NULL);
    kn_ddb_write_t reserved = {.update = "SET owner = :o", .values = ownerv};
    fails(kn_dynamodb_update_item(d, table, k2, &reserved, NULL, &e), &e, KN_ERR_VALIDATION);
    cJSON_Delete(ownerv);
    cJSON_Delete(names);

    /* More leases for paging and queries. */
    for (int i = 3; i < 8; i++) {
        char lk[32];
        snprintf(lk, sizeof(lk), "shardId-%012d", i);
        item = lease(lk, i % 2 ? "worker-a" : "worker-c", 1);
        ok(kn_dynamodb_put_item(d, table, item, NULL, NULL, &e), &e, "PutItem more");
        cJSON_Delete(item);
    }
    kn_ddb_read_t rd = {.limit = 2, .consistent = 1};
    int pages = 0, seen = 0;
    kn_ddb_page_t page = {0};
    cJSON *start = NULL;
    do {
        rd.start_key = start;
        ok(kn_dynamodb_scan(d, table, &rd, &page, &e), &e, "Scan page");
        cJSON_Delete(start);
        ck_assert_int_le(cJSON_GetArraySize(page.items), 2);
        seen += cJSON_GetArraySize(page.items);
        start = page.last_key;
        page.last_key = NULL;
        kn_ddb_page_clear(&page);
        pages++;
    } while (start && pages < 10);
    ck_assert_int_eq(seen, 6);
    ck_assert_int_ge(pages, 3);
    cJSON *all = NULL;
    kn_ddb_read_t filtered = {.filter = "leaseOwner = :o", .values = NULL, .limit = 1};
    cJSON *ov = obj2(":o", kn_ddb_s("worker-a"), NULL, NULL);
    filtered.values = ov;
    ok(kn_dynamodb_scan_all(d, table, &filtered, &all, &e), &e, "scan_all");
    ck_assert_int_eq(cJSON_GetArraySize(all), 3); /* 3, 5, 7 */
    cJSON_Delete(all);

    /* Query the table by key and the index by owner. */
    kn_ddb_read_t q = {.key_condition = "leaseKey = :k", .consistent = 1};
    cJSON *kv = obj2(":k", kn_ddb_s("shardId-000000000004"), NULL, NULL);
    q.values = kv;
    ok(kn_dynamodb_query(d, table, &q, &page, &e), &e, "Query");
    ck_assert_int_eq(cJSON_GetArraySize(page.items), 1);
    ck_assert_str_eq(kn_ddb_get_s(cJSON_GetArrayItem(page.items, 0), "leaseOwner"), "worker-c");
    kn_ddb_page_clear(&page);
    cJSON_Delete(kv);
    kn_ddb_read_t qi = {
        .index = "LeaseOwnerToLeaseKeyIndex", .key_condition = "leaseOwner = :o", .values = ov};
    ok(kn_dynamodb_query(d, table, &qi, &page, &e), &e, "Query index");
    ck_assert_int_eq(cJSON_GetArraySize(page.items), 3);
    ck_assert_ptr_null(page.last_key);
    kn_ddb_page_clear(&page);
    qi.consistent = 1; /* not allowed on a GSI */
    fails(kn_dynamodb_query(d, table, &qi, &page, &e), &e, KN_ERR_VALIDATION);

    /* Conditional delete: wrong owner fails, right owner returns the old item. */
    cJSON *k3 = key_of("shardId-000000000003");
    kn_ddb_write_t del = {.condition = "leaseOwner = :o", .values = ov, .return_values = "ALL_OLD"};
    cJSON *cv = obj2(":o", kn_ddb_s("worker-c"), NULL, NULL);
    kn_ddb_write_t wrong = {.condition = "leaseOwner = :o", .values = cv};
    fails(kn_dynamodb_delete_item(d, table, k3, &wrong, NULL, &e), &e,
          KN_ERR_CONDITIONAL_CHECK_FAILED);
    ok(kn_dynamodb_delete_item(d, table, k3, &del, &attrs, &e), &e, "DeleteItem");
    ck_assert_str_eq(kn_ddb_get_s(attrs, "leaseKey"), "shardId-000000000003");
    cJSON_Delete(attrs);
    ok(kn_dynamodb_get_item(d, table, k3, 1, &got, &e), &e, "GetItem deleted");
    ck_assert_ptr_null(got);
    cJSON_Delete(cv);
    cJSON_Delete(ov);
    cJSON_Delete(k3);
    cJSON_Delete(k2);

    ok(kn_dynamodb_delete_table(d, table, &e), &e, "DeleteTable");
    kn_err_t rc = kn_dynamodb_describe_table(d, table, &status, NULL, &e);
    ck_assert(rc == KN_ERR_RESOURCE_NOT_FOUND ||
              (rc == KN_OK && status == KN_TABLE_STATUS_DELETING));
    kn_error_destroy(e);
    kn_dynamodb_destroy(d);
}
END_TEST

START_TEST(arguments_checked_before_sending) {
    kn_dynamodb_t *d = client();
    kn_error_t *e = NULL;
    cJSON *k = key_of("x");
    cJSON *got = NULL;
    kn_ddb_key_schema_t key = {.hash_name = "leaseKey", .hash_type = 'S'};
    kn_ddb_key_schema_t badkey = {.hash_name = "leaseKey", .hash_type = 'X'};
    kn_ddb_page_t page = {0};
    kn_table_status_t st;
    fails(kn_dynamodb_create_table(d, "ab", &key, NULL, 0, &e), &e, KN_ERR_INVALID_ARG);
    fails(kn_dynamodb_create_table(d, "table", &badkey, NULL, 0, &e), &e, KN_ERR_INVALID_ARG);
    fails(kn_dynamodb_create_table(d, "table", &key, NULL, 1, &e), &e, KN_ERR_INVALID_ARG);
    fails(kn_dynamodb_describe_table(d, "bad name", &st, NULL, &e), &e, KN_ERR_INVALID_ARG);
    fails(kn_dynamodb_get_item(d, "table", NULL, 0, &got, &e), &e, KN_ERR_INVALID_ARG);
    fails(kn_dynamodb_update_item(d, "table", k, NULL, NULL, &e), &e, KN_ERR_INVALID_ARG);
    cJSON *str = cJSON_CreateString("not an object");
    kn_ddb_write_t badvals = {.condition = "a = :a", .values = str};
    fails(kn_dynamodb_put_item(d, "table", k, &badvals, NULL, &e), &e, KN_ERR_INVALID_ARG);
    cJSON_Delete(str);
    fails(kn_dynamodb_query(d, "table", NULL, &page, &e), &e, KN_ERR_INVALID_ARG);
    kn_ddb_read_t neg = {.limit = -1};
    fails(kn_dynamodb_scan(d, "table", &neg, &page, &e), &e, KN_ERR_INVALID_ARG);
    ck_assert_int_eq(log_count("DescribeTable"), 0); /* nothing was sent */
    cJSON_Delete(k);
    kn_dynamodb_destroy(d);
    kn_dynamodb_destroy(NULL);

    /* Helpers refuse what DynamoDB would. */
    ck_assert_ptr_null(kn_ddb_s(NULL));
    ck_assert_ptr_null(kn_ddb_ss(NULL, 0));
    cJSON *n = kn_ddb_n(INT64_MIN);
    ck_assert_str_eq(cJSON_GetObjectItem(n, "N")->valuestring, "-9223372036854775808");
    cJSON *item = cJSON_CreateObject();
    ck_assert_int_eq(kn_ddb_put(item, "n", n), 0);
    int64_t v = 0;
    ck_assert_int_eq(kn_ddb_get_n(item, "n", &v), 0);
    ck_assert_int_eq(v, INT64_MIN);
    ck_assert_int_eq(kn_ddb_put(item, "n", kn_ddb_s("1.5")), 0); /* replaced */
    ck_assert_int_eq(cJSON_GetArraySize(item), 1);
    ck_assert_int_eq(kn_ddb_put(item, "f", cJSON_Parse("{\"N\":\"1.5\"}")), 0);
    ck_assert_int_eq(kn_ddb_get_n(item, "f", &v), -1);
    ck_assert_int_eq(kn_ddb_put(item, "big", cJSON_Parse("{\"N\":\"99999999999999999999\"}")), 0);
    ck_assert_int_eq(kn_ddb_get_n(item, "big", &v), -1);
    ck_assert_int_eq(kn_ddb_put(item, "mixed", cJSON_Parse("{\"SS\":[\"a\",1]}")), 0);
    ck_assert_ptr_null(kn_ddb_get_ss(item, "mixed"));
    ck_assert_ptr_null(kn_ddb_get_ss(NULL, "mixed"));
    ck_assert_int_eq(kn_ddb_put(NULL, "x", kn_ddb_bool(1)), -1);
    cJSON_Delete(item);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("dynamodb_api");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, lease_table_operations);
    tcase_add_test(tc, arguments_checked_before_sending);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
