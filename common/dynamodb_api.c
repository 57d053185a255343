/*
 * The DynamoDB client for the lease table: JSON 1.0 bodies built and checked
 * here, sent through service_call. Caller-supplied items, keys and expression
 * values are referenced into the request, not copied.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynamodb_api.h"
#include "json.h"

#define DDB_MIN_TABLE_NAME     3
#define DDB_MAX_INDEX_NAME     255
#define DDB_MAX_PAGES          100000 /* scan_all: more pages than any lease table has */
#define DDB_MAX_ITEMS_PER_PAGE 1000000

struct kn_dynamodb_s {
    kn_service_client_t c;
};

static const char *const table_status_names[] = {"",         "CREATING", "UPDATING",
                                                 "DELETING", "ACTIVE",   NULL};

void kn_dynamodb_destroy(kn_dynamodb_t *d) {
    if (!d)
        return;
    kn_service_client_clear(&d->c);
    free(d);
}

kn_dynamodb_t *kn_dynamodb_new(const kn_conf_t *conf, kn_http_t *http, kn_creds_t *creds,
                               kn_error_t **err) {
    kn_dynamodb_t *d = calloc(1, sizeof(*d));
    if (!d) {
        if (err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (kn_service_client_init(&d->c, conf, "dynamodb", KN_DYNAMODB_TARGET_PREFIX,
                               KN_DYNAMODB_CONTENT_TYPE, http, creds, err) != KN_OK) {
        free(d);
        return NULL;
    }
    return d;
}

kn_service_t *kn_dynamodb_service(kn_dynamodb_t *d) {
    return d ? d->c.svc : NULL;
}

/* ------------------------------------------------------------- validation */

static kn_err_t invalid(kn_error_t **e, const char *what) {
    if (!*e)
        *e = kn_error_new(KN_ERR_INVALID_ARG, "%s", what);
    return KN_ERR_INVALID_ARG;
}

/* Ends a call refused before sending. */
static kn_err_t refuse(const char *what, kn_error_t **err) {
    return kn_service_give(KN_ERR_INVALID_ARG, kn_error_new(KN_ERR_INVALID_ARG, "%s", what), err);
}

/* A new body naming a valid table, or NULL with *e. */
static cJSON *table_body(const char *table, kn_error_t **e) {
    if (!kn_json_name_ok(table, DDB_MIN_TABLE_NAME, KN_DDB_MAX_TABLE_NAME)) {
        invalid(e, "table name must be 3..255 characters of [a-zA-Z0-9_.-]");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || kn_json_add_str(o, "TableName", table)) {
        cJSON_Delete(o);
        *e = kn_error_new(KN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return o;
}

/* Adds a reference to the caller's object (not copied, not freed with the body). */
static int add_ref(cJSON *o, const char *name, const cJSON *ref) {
    return cJSON_AddItemReferenceToObject(o, name, (cJSON *)ref) ? 0 : -1;
}

static int add_opt_str(cJSON *o, const char *name, const char *value) {
    return value ? kn_json_add_str(o, name, value) : 0;
}

/*
 * Adds the expression members shared by writes and reads. Returns the body, or
 * NULL (body deleted, *e set) when they are not objects; an allocation failure
 * is flagged in *rc.
 */
static cJSON *with_expressions(cJSON *body, const cJSON *names, const cJSON *values, int *rc,
                               kn_error_t **e) {
    if ((names && !cJSON_IsObject(names)) || (values && !cJSON_IsObject(values))) {
        invalid(e, "expression attribute names and values must be JSON objects");
        cJSON_Delete(body);
        return NULL;
    }
    if (names)
        *rc |= add_ref(body, "ExpressionAttributeNames", names);
    if (values)
        *rc |= add_ref(body, "ExpressionAttributeValues", values);
    return body;
}

/* Sends `body` (deleted here; NULL: building failed with *e set). */
static kn_err_t call(kn_dynamodb_t *d, const char *op, cJSON *body, int build_rc, cJSON **reply,
                     kn_error_t **e) {
    if (body && build_rc) {
        cJSON_Delete(body);
        body = NULL;
        if (!*e)
            *e = kn_error_new(KN_ERR_NOMEM, "out of memory building %s", op);
    }
    if (!body)
        return *e ? kn_error_code(*e) : KN_ERR_NOMEM;
    kn_err_t rc = kn_service_call(d->c.svc, op, body, NULL, reply, e);
    cJSON_Delete(body);
    return rc;
}

static kn_err_t no_client(kn_error_t **err) {
    return kn_service_give(
        KN_ERR_INVALID_ARG,
        kn_error_new(KN_ERR_INVALID_ARG, "no client, or no place for the result"), err);
}

/* Removes member `name` from a reply and returns it when it is an object/array as wanted. */
static kn_err_t take(cJSON *reply, const char *op, const char *name, int want_array, int required,
                     cJSON **out, kn_error_t **e) {
    *out = NULL;
    cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, name);
    if (!m || cJSON_IsNull(m)) {
        if (!required)
            return KN_OK;
        *e = kn_error_new(KN_ERR_BAD_RESPONSE, "%s reply field '%s' is missing", op, name);
        return KN_ERR_BAD_RESPONSE;
    }
    if (want_array ? !cJSON_IsArray(m) : !cJSON_IsObject(m)) {
        *e = kn_error_new(KN_ERR_BAD_RESPONSE, "%s reply field '%s' is not %s", op, name,
                          want_array ? "an array" : "an object");
        return KN_ERR_BAD_RESPONSE;
    }
    *out = cJSON_DetachItemViaPointer(reply, m);
    return KN_OK;
}

/* ------------------------------------------------------------------ tables */

static int type_ok(char t) {
    return t == 'S' || t == 'N' || t == 'B';
}

static int key_ok(const kn_ddb_key_schema_t *k) {
    return k && kn_json_name_ok(k->hash_name, 1, DDB_MAX_INDEX_NAME) && type_ok(k->hash_type) &&
           (!k->range_name ||
            (kn_json_name_ok(k->range_name, 1, DDB_MAX_INDEX_NAME) && type_ok(k->range_type)));
}

/* Appends {"AttributeName","KeyType"} elements of `k` to `schema`. */
static int add_key_schema(cJSON *parent, const kn_ddb_key_schema_t *k) {
    cJSON *schema = cJSON_CreateArray();
    if (kn_json_add_item(parent, "KeySchema", schema))
        return -1;
    const char *names[2] = {k->hash_name, k->range_name};
    static const char *const kinds[2] = {"HASH", "RANGE"};
    int rc = 0;
    for (int i = 0; i < 2 && names[i]; i++) {
        cJSON *el = cJSON_CreateObject();
        rc |= el && cJSON_AddItemToArray(schema, el) ? 0 : -1;
        if (el) {
            rc |= kn_json_add_str(el, "AttributeName", names[i]);
            rc |= kn_json_add_str(el, "KeyType", kinds[i]);
        }
    }
    return rc;
}

/* Adds an AttributeDefinitions entry unless `name` is already defined. */
static int define_attr(cJSON *defs, const char *name, char type) {
    const cJSON *it;
    cJSON_ArrayForEach(it, defs) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "AttributeName");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return 0;
    }
    char t[2] = {type, '\0'};
    cJSON *el = cJSON_CreateObject();
    if (!el || !cJSON_AddItemToArray(defs, el)) {
        cJSON_Delete(el);
        return -1;
    }
    return kn_json_add_str(el, "AttributeName", name) | kn_json_add_str(el, "AttributeType", t);
}

static int define_key(cJSON *defs, const kn_ddb_key_schema_t *k) {
    int rc = define_attr(defs, k->hash_name, k->hash_type);
    if (k->range_name)
        rc |= define_attr(defs, k->range_name, k->range_type);
    return rc;
}

static int add_index(cJSON *gsis, cJSON *defs, const kn_ddb_index_t *ix) {
    cJSON *g = cJSON_CreateObject();
    if (!g || !cJSON_AddItemToArray(gsis, g)) {
        cJSON_Delete(g);
        return -1;
    }
    int rc = kn_json_add_str(g, "IndexName", ix->name);
    rc |= add_key_schema(g, &ix->key);
    rc |= define_key(defs, &ix->key);
    cJSON *proj = cJSON_CreateObject();
    rc |= kn_json_add_item(g, "Projection", proj);
    if (!rc)
        rc |=
            kn_json_add_str(proj, "ProjectionType", ix->projection ? ix->projection : "KEYS_ONLY");
    return rc;
}

kn_err_t kn_dynamodb_create_table(kn_dynamodb_t *d, const char *table,
                                  const kn_ddb_key_schema_t *key, const kn_ddb_index_t *indexes,
                                  size_t nindexes, kn_error_t **err) {
    if (!d)
        return no_client(err);
    kn_error_t *e = NULL;
    if (!key_ok(key))
        return refuse("key schema needs attribute names and types S, N or B", err);
    for (size_t i = 0; i < nindexes; i++)
        if (!indexes || !kn_json_name_ok(indexes[i].name, DDB_MIN_TABLE_NAME, DDB_MAX_INDEX_NAME) ||
            !key_ok(&indexes[i].key))
            return refuse("index needs a name (3..255 characters) and a key schema", err);
    cJSON *body = table_body(table, &e);
    int rc = 0;
    if (body) {
        cJSON *defs = cJSON_CreateArray();
        rc |= kn_json_add_item(body, "AttributeDefinitions", defs);
        rc |= rc ? 0 : define_key(defs, key);
        rc |= add_key_schema(body, key);
        rc |= kn_json_add_str(body, "BillingMode", "PAY_PER_REQUEST");
        if (nindexes && !rc) {
            cJSON *gsis = cJSON_CreateArray();
            rc |= kn_json_add_item(body, "GlobalSecondaryIndexes", gsis);
            for (size_t i = 0; i < nindexes && !rc; i++)
                rc |= add_index(gsis, defs, &indexes[i]);
        }
    }
    kn_err_t code = call(d, "CreateTable", body, rc, NULL, &e);
    return kn_service_give(code, e, err);
}

kn_err_t kn_dynamodb_describe_table(kn_dynamodb_t *d, const char *table, kn_table_status_t *status,
                                    int64_t *item_count, kn_error_t **err) {
    if (!d || !status)
        return no_client(err);
    kn_error_t *e = NULL;
    cJSON *reply = NULL;
    kn_err_t rc = call(d, "DescribeTable", table_body(table, &e), 0, &reply, &e);
    const cJSON *t = NULL;
    const char *s = NULL;
    int64_t count = -1;
    if (rc == KN_OK && (kn_json_object(reply, "Table", 1, &t, &e) < 0 ||
                        kn_json_str(t, "TableStatus", 1, 32, &s, &e) < 0 ||
                        kn_json_int(t, "ItemCount", 0, 0, INT64_C(1) << 52, &count, &e) < 0))
        rc = KN_ERR_BAD_RESPONSE;
    if (rc == KN_OK) {
        int i = kn_json_enum(s, table_status_names);
        *status = i < 0 ? KN_TABLE_STATUS_UNKNOWN : (kn_table_status_t)i;
        if (item_count)
            *item_count = count;
    }
    cJSON_Delete(reply);
    return kn_service_give(rc, e, err);
}

kn_err_t kn_dynamodb_wait_table_active(kn_dynamodb_t *d, const char *table, int64_t timeout_ms,
                                       kn_error_t **err) {
    if (!d)
        return no_client(err);
    if (timeout_ms < 0)
        return kn_service_give(KN_ERR_INVALID_ARG,
                               kn_error_new(KN_ERR_INVALID_ARG, "negative timeout"), err);
    int64_t deadline = kn_service_now_ms() + timeout_ms, pause = KN_SERVICE_POLL_FIRST_MS;
    do {
        kn_table_status_t status = KN_TABLE_STATUS_UNKNOWN;
        kn_error_t *e = NULL;
        kn_err_t rc = kn_dynamodb_describe_table(d, table, &status, NULL, &e);
        if (rc != KN_OK)
            return kn_service_give(rc, e, err);
        if (status == KN_TABLE_STATUS_ACTIVE)
            return kn_service_give(KN_OK, NULL, err);
        if (status == KN_TABLE_STATUS_DELETING)
            return kn_service_give(
                KN_ERR_STATE, kn_error_new(KN_ERR_STATE, "table %s is being deleted", table), err);
    } while (kn_service_poll_pause(deadline, &pause));
    return kn_service_give(KN_ERR_TIMED_OUT,
                           kn_error_new(KN_ERR_TIMED_OUT, "table %s not ACTIVE after %lld ms",
                                        table, (long long)timeout_ms),
                           err);
}

kn_err_t kn_dynamodb_delete_table(kn_dynamodb_t *d, const char *table, kn_error_t **err) {
    if (!d)
        return no_client(err);
    kn_error_t *e = NULL;
    kn_err_t code = call(d, "DeleteTable", table_body(table, &e), 0, NULL, &e);
    return kn_service_give(code, e, err);
}

/* ------------------------------------------------------------------- items */

kn_err_t kn_dynamodb_get_item(kn_dynamodb_t *d, const char *table, const cJSON *key, int consistent,
                              cJSON **item, kn_error_t **err) {
    if (item)
        *item = NULL;
    if (!d || !item)
        return no_client(err);
    kn_error_t *e = NULL;
    if (!cJSON_IsObject(key))
        return refuse("GetItem needs a key object", err);
    cJSON *body = table_body(table, &e), *reply = NULL;
    int rc = 0;
    if (body) {
        rc |= add_ref(body, "Key", key);
        rc |= consistent ? kn_json_add_bool(body, "ConsistentRead", 1) : 0;
    }
    kn_err_t code = call(d, "GetItem", body, rc, &reply, &e);
    if (code == KN_OK)
        code = take(reply, "GetItem", "Item", 0, 0, item, &e);
    cJSON_Delete(reply);
    return kn_service_give(code, e, err);
}

/* PutItem, UpdateItem, DeleteItem: `what`/`target` is the item or key. */
static kn_err_t write_item(kn_dynamodb_t *d, const char *op, const char *table, const char *what,
                           const cJSON *target, const kn_ddb_write_t *o, cJSON **attributes,
                           kn_error_t **err) {
    if (attributes)
        *attributes = NULL;
    if (!d)
        return no_client(err);
    kn_error_t *e = NULL;
    int is_update = !strcmp(op, "UpdateItem");
    if (!cJSON_IsObject(target))
        return refuse("an item or key object is required", err);
    if (is_update && (!o || !o->update || !*o->update))
        return refuse("UpdateItem needs an update expression", err);
    cJSON *body = table_body(table, &e), *reply = NULL;
    int rc = 0;
    if (body) {
        rc |= add_ref(body, what, target);
        if (o) {
            rc |= add_opt_str(body, "ConditionExpression", o->condition);
            rc |= is_update ? kn_json_add_str(body, "UpdateExpression", o->update) : 0;
            rc |= add_opt_str(body, "ReturnValues", o->return_values);
            body = with_expressions(body, o->names, o->values, &rc, &e);
        }
    }
    kn_err_t code = call(d, op, body, rc, &reply, &e);
    if (code == KN_OK && attributes)
        code = take(reply, op, "Attributes", 0, 0, attributes, &e);
    cJSON_Delete(reply);
    return kn_service_give(code, e, err);
}

kn_err_t kn_dynamodb_put_item(kn_dynamodb_t *d, const char *table, const cJSON *item,
                              const kn_ddb_write_t *opts, cJSON **attributes, kn_error_t **err) {
    return write_item(d, "PutItem", table, "Item", item, opts, attributes, err);
}

kn_err_t kn_dynamodb_update_item(kn_dynamodb_t *d, const char *table, const cJSON *key,
                                 const kn_ddb_write_t *opts, cJSON **attributes, kn_error_t **err) {
    return write_item(d, "UpdateItem", table, "Key", key, opts, attributes, err);
}

kn_err_t kn_dynamodb_delete_item(kn_dynamodb_t *d, const char *table, const cJSON *key,
                                 const kn_ddb_write_t *opts, cJSON **attributes, kn_error_t **err) {
    return write_item(d, "DeleteItem", table, "Key", key, opts, attributes, err);
}

void kn_ddb_page_clear(kn_ddb_page_t *p) {
    if (!p)
        return;
    cJSON_Delete(p->items);
    cJSON_Delete(p->last_key);
    p->items = NULL;
    p->last_key = NULL;
}

static kn_err_t read_page(kn_dynamodb_t *d, const char *op, const char *table,
                          const kn_ddb_read_t *o, kn_ddb_page_t *page, kn_error_t **err) {
    if (page)
        page->items = page->last_key = NULL;
    if (!d || !page)
        return no_client(err);
    kn_error_t *e = NULL;
    int is_query = !strcmp(op, "Query");
    if (is_query && (!o || !o->key_condition || !*o->key_condition))
        return refuse("Query needs a key condition expression", err);
    if (o && (o->limit < 0 || (o->start_key && !cJSON_IsObject(o->start_key)) ||
              (o->index && !kn_json_name_ok(o->index, DDB_MIN_TABLE_NAME, DDB_MAX_INDEX_NAME))))
        return refuse("bad limit, start key or index name", err);
    cJSON *body = table_body(table, &e), *reply = NULL;
    int rc = 0;
    if (body && o) {
        rc |= add_opt_str(body, "IndexName", o->index);
        rc |= is_query ? kn_json_add_str(body, "KeyConditionExpression", o->key_condition) : 0;
        rc |= add_opt_str(body, "FilterExpression", o->filter);
        rc |= o->limit ? kn_json_add_int(body, "Limit", o->limit) : 0;
        rc |= o->consistent ? kn_json_add_bool(body, "ConsistentRead", 1) : 0;
        rc |= o->start_key ? add_ref(body, "ExclusiveStartKey", o->start_key) : 0;
        body = with_expressions(body, o->names, o->values, &rc, &e);
    }
    kn_err_t code = call(d, op, body, rc, &reply, &e);
    if (code == KN_OK)
        code = take(reply, op, "Items", 1, 1, &page->items, &e);
    if (code == KN_OK)
        code = take(reply, op, "LastEvaluatedKey", 0, 0, &page->last_key, &e);
    if (code == KN_OK && cJSON_GetArraySize(page->items) > DDB_MAX_ITEMS_PER_PAGE) {
        code = KN_ERR_BAD_RESPONSE;
        e = kn_error_new(code, "%s reply has too many items", op);
    }
    const cJSON *it;
    cJSON *items = code == KN_OK ? page->items : NULL;
    cJSON_ArrayForEach(it, items) {
        if (!cJSON_IsObject(it)) {
            code = KN_ERR_BAD_RESPONSE;
            e = kn_error_new(code, "%s reply field 'Items' holds a non-object", op);
            break;
        }
    }
    if (code != KN_OK)
        kn_ddb_page_clear(page);
    cJSON_Delete(reply);
    return kn_service_give(code, e, err);
}

kn_err_t kn_dynamodb_scan(kn_dynamodb_t *d, const char *table, const kn_ddb_read_t *opts,
                          kn_ddb_page_t *page, kn_error_t **err) {
    return read_page(d, "Scan", table, opts, page, err);
}

kn_err_t kn_dynamodb_query(kn_dynamodb_t *d, const char *table, const kn_ddb_read_t *opts,
                           kn_ddb_page_t *page, kn_error_t **err) {
    return read_page(d, "Query", table, opts, page, err);
}

kn_err_t kn_dynamodb_scan_all(kn_dynamodb_t *d, const char *table, const kn_ddb_read_t *opts,
                              cJSON **items, kn_error_t **err) {
    if (items)
        *items = NULL;
    if (!d || !items)
        return no_client(err);
    kn_ddb_read_t o = opts ? *opts : (kn_ddb_read_t){0};
    cJSON *all = cJSON_CreateArray(), *start = NULL;
    kn_err_t rc = all ? KN_OK : KN_ERR_NOMEM;
    kn_error_t *e = NULL;
    for (int pages = 0; rc == KN_OK; pages++) {
        if (pages == DDB_MAX_PAGES) {
            rc = KN_ERR_BAD_RESPONSE;
            e = kn_error_new(rc, "Scan keeps paging past %d pages", DDB_MAX_PAGES);
            break;
        }
        kn_ddb_page_t page = {0};
        o.start_key = start;
        rc = kn_dynamodb_scan(d, table, &o, &page, &e);
        cJSON_Delete(start);
        start = NULL;
        if (rc != KN_OK)
            break;
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(page.items, 0)))
            cJSON_AddItemToArray(all, it);
        start = page.last_key;
        page.last_key = NULL;
        kn_ddb_page_clear(&page);
        if (!start)
            break;
    }
    cJSON_Delete(start);
    if (rc != KN_OK) {
        cJSON_Delete(all);
        return kn_service_give(rc, e, err);
    }
    *items = all;
    return kn_service_give(KN_OK, NULL, err);
}

/* --------------------------------------------------------- attribute values */

static cJSON *typed(const char *type, cJSON *value) {
    cJSON *o = value ? cJSON_CreateObject() : NULL;
    if (!o || kn_json_add_item(o, type, value)) {
        cJSON_Delete(o);
        if (!o)
            cJSON_Delete(value);
        return NULL;
    }
    return o;
}

cJSON *kn_ddb_s(const char *s) {
    return s ? typed("S", cJSON_CreateString(s)) : NULL;
}

cJSON *kn_ddb_n(int64_t n) {
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, n);
    return typed("N", cJSON_CreateString(buf));
}

cJSON *kn_ddb_ss(const char *const *values, size_t count) {
    if (!values || !count || count > INT32_MAX)
        return NULL;
    return typed("SS", cJSON_CreateStringArray(values, (int)count));
}

cJSON *kn_ddb_bool(int b) {
    return typed("BOOL", cJSON_CreateBool(b));
}

int kn_ddb_put(cJSON *obj, const char *name, cJSON *value) {
    if (!obj || !name) {
        cJSON_Delete(value);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    return kn_json_add_item(obj, name, value);
}

/* The member `type` of attribute `name`, or NULL. */
static const cJSON *attr(const cJSON *item, const char *name, const char *type) {
    const cJSON *a =
        cJSON_IsObject(item) && name ? cJSON_GetObjectItemCaseSensitive(item, name) : NULL;
    return cJSON_IsObject(a) ? cJSON_GetObjectItemCaseSensitive(a, type) : NULL;
}

const char *kn_ddb_get_s(const cJSON *item, const char *name) {
    const cJSON *v = attr(item, name, "S");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *kn_ddb_get_n_str(const cJSON *item, const char *name) {
    const cJSON *v = attr(item, name, "N");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int kn_ddb_get_n(const cJSON *item, const char *name, int64_t *out) {
    const char *s = kn_ddb_get_n_str(item, name);
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

const cJSON *kn_ddb_get_ss(const cJSON *item, const char *name) {
    const cJSON *v = attr(item, name, "SS"), *it;
    if (!cJSON_IsArray(v))
        return NULL;
    cJSON_ArrayForEach(it, v) if (!cJSON_IsString(it)) return NULL;
    return v;
}

int kn_ddb_get_bool(const cJSON *item, const char *name, int *out) {
    const cJSON *v = attr(item, name, "BOOL");
    if (!cJSON_IsBool(v))
        return -1;
    *out = cJSON_IsTrue(v);
    return 0;
}
