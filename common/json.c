/* Checked getters over cJSON for untrusted replies, and small request-building helpers. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Largest integer a double holds exactly; larger JSON numbers are not integral enough to trust. */
#define JSON_MAX_EXACT_INT 9007199254740992.0

static int bad(kn_error_t **err, const char *name, const char *what) {
    if (err && !*err)
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "reply field '%s' %s", name, what);
    return -1;
}

/* The member, or NULL when absent or JSON null; -1 when required and missing. */
static int member(const cJSON *obj, const char *name, int required, const cJSON **out,
                  kn_error_t **err) {
    *out = NULL;
    if (!cJSON_IsObject(obj))
        return bad(err, name, "is in something that is not an object");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!m || cJSON_IsNull(m))
        return required ? bad(err, name, "is missing") : 0;
    *out = m;
    return 0;
}

int kn_json_str(const cJSON *obj, const char *name, int required, size_t max_len, const char **out,
                kn_error_t **err) {
    const cJSON *m;
    *out = NULL;
    if (member(obj, name, required, &m, err) < 0)
        return -1;
    if (!m)
        return 0;
    if (!cJSON_IsString(m) || !m->valuestring)
        return bad(err, name, "is not a string");
    size_t len = strlen(m->valuestring);
    if (len > (max_len ? max_len : KN_JSON_MAX_STR))
        return bad(err, name, "is too long");
    if (required && len == 0)
        return bad(err, name, "is empty");
    *out = m->valuestring;
    return 0;
}

int kn_json_strdup(const cJSON *obj, const char *name, int required, size_t max_len, char **out,
                   kn_error_t **err) {
    const char *s;
    *out = NULL;
    if (kn_json_str(obj, name, required, max_len, &s, err) < 0)
        return -1;
    if (s && !(*out = strdup(s))) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory reading '%s'", name);
        return -1;
    }
    return 0;
}

int kn_json_decimal(const cJSON *obj, const char *name, int required, size_t max_digits, char **out,
                    kn_error_t **err) {
    const char *s;
    *out = NULL;
    if (kn_json_str(obj, name, required, max_digits, &s, err) < 0)
        return -1;
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
        return bad(err, name, "is not a decimal number");
    return kn_json_strdup(obj, name, required, max_digits, out, err);
}

static int number(const cJSON *obj, const char *name, int required, const cJSON **m,
                  kn_error_t **err) {
    if (member(obj, name, required, m, err) < 0)
        return -1;
    if (*m && (!cJSON_IsNumber(*m) || !isfinite((*m)->valuedouble)))
        return bad(err, name, "is not a number");
    return 0;
}

int kn_json_int(const cJSON *obj, const char *name, int required, int64_t min, int64_t max,
                int64_t *out, kn_error_t **err) {
    const cJSON *m;
    if (number(obj, name, required, &m, err) < 0)
        return -1;
    if (!m)
        return 0;
    double d = m->valuedouble;
    if (d != floor(d) || fabs(d) > JSON_MAX_EXACT_INT)
        return bad(err, name, "is not an integer");
    if (d < (double)min || d > (double)max)
        return bad(err, name, "is out of range");
    *out = (int64_t)d;
    return 0;
}

int kn_json_bool(const cJSON *obj, const char *name, int required, int *out, kn_error_t **err) {
    const cJSON *m;
    if (member(obj, name, required, &m, err) < 0)
        return -1;
    if (!m)
        return 0;
    if (!cJSON_IsBool(m))
        return bad(err, name, "is not a boolean");
    *out = cJSON_IsTrue(m);
    return 0;
}

int kn_json_time_ms(const cJSON *obj, const char *name, int required, int64_t *out,
                    kn_error_t **err) {
    const cJSON *m;
    if (number(obj, name, required, &m, err) < 0)
        return -1;
    if (!m)
        return 0;
    /* Seconds since 1970 up to the year ~2255: anything else is not a timestamp. */
    double s = m->valuedouble;
    if (s < 0 || s > 9e9)
        return bad(err, name, "is not a plausible timestamp");
    *out = (int64_t)llround(s * 1000.0);
    return 0;
}

int kn_json_array(const cJSON *obj, const char *name, int required, size_t max_items,
                  const cJSON **out, kn_error_t **err) {
    if (member(obj, name, required, out, err) < 0)
        return -1;
    if (!*out)
        return 0;
    if (!cJSON_IsArray(*out)) {
        *out = NULL;
        return bad(err, name, "is not an array");
    }
    if ((size_t)cJSON_GetArraySize(*out) > max_items) {
        *out = NULL;
        return bad(err, name, "has too many items");
    }
    return 0;
}

int kn_json_object(const cJSON *obj, const char *name, int required, const cJSON **out,
                   kn_error_t **err) {
    if (member(obj, name, required, out, err) < 0)
        return -1;
    if (*out && !cJSON_IsObject(*out)) {
        *out = NULL;
        return bad(err, name, "is not an object");
    }
    return 0;
}

int kn_json_name_ok(const char *s, size_t min, size_t max) {
    size_t n = s ? strlen(s) : 0;
    if (n < min || n > max || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int kn_json_enum(const char *value, const char *const *names) {
    for (int i = 0; value && names[i]; i++)
        if (!strcmp(names[i], value))
            return i;
    return -1;
}

int kn_json_add_item(cJSON *obj, const char *name, cJSON *item) {
    if (!item)
        return -1;
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

int kn_json_add_str(cJSON *obj, const char *name, const char *value) {
    return kn_json_add_item(obj, name, cJSON_CreateString(value));
}

int kn_json_add_int(cJSON *obj, const char *name, int64_t value) {
    return kn_json_add_item(obj, name, cJSON_CreateNumber((double)value));
}

int kn_json_add_bool(cJSON *obj, const char *name, int value) {
    return kn_json_add_item(obj, name, cJSON_CreateBool(value));
}

int kn_json_add_time_ms(cJSON *obj, const char *name, int64_t ms) {
    /* Raw text keeps the milliseconds exact; a double printed by cJSON might not. */
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64 ".%03d", ms / 1000, (int)(ms % 1000));
    return kn_json_add_item(obj, name, cJSON_CreateRaw(buf));
}

void kn_json_excerpt(const uint8_t *text, size_t len, char *buf, size_t max) {
    if (!max)
        return;
    size_t n = len < max - 1 ? len : max - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (text[i] < 0x20 || text[i] >= 0x7f) ? '.' : (char)text[i];
    buf[n] = '\0';
}
