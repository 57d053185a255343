/*
 * Checked reads of service replies over cJSON. A reply is untrusted input: every
 * getter checks presence, JSON type and range, and on failure returns -1 with
 * *err set to a KN_ERR_BAD_RESPONSE naming the field. `required` 0 makes an
 * absent (or JSON null) member fine: the getter then returns 0 and leaves the
 * output at its "absent" value (NULL, or untouched for numbers).
 */
#ifndef KN_JSON_H
#define KN_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/** Longest string accepted in a reply field unless a getter says otherwise. */
#define KN_JSON_MAX_STR (64u * 1024)

/**
 * String member (borrowed) of at most max_len bytes (0: KN_JSON_MAX_STR). A
 * required string must also be non-empty; an optional one may be "".
 */
int kn_json_str(const cJSON *obj, const char *name, int required, size_t max_len, const char **out,
                kn_error_t **err);

/** Like kn_json_str, but *out is a copy the caller frees (NULL when absent). */
int kn_json_strdup(const cJSON *obj, const char *name, int required, size_t max_len, char **out,
                   kn_error_t **err);

/** String member of 1..max_digits ASCII digits without a leading zero (or "0"), copied. */
int kn_json_decimal(const cJSON *obj, const char *name, int required, size_t max_digits, char **out,
                    kn_error_t **err);

/** Integral number member in [min, max]. */
int kn_json_int(const cJSON *obj, const char *name, int required, int64_t min, int64_t max,
                int64_t *out, kn_error_t **err);

/** Boolean member. */
int kn_json_bool(const cJSON *obj, const char *name, int required, int *out, kn_error_t **err);

/**
 * Timestamp member in epoch seconds (a JSON number, possibly fractional, as the
 * AWS JSON protocols send it) converted to epoch milliseconds.
 */
int kn_json_time_ms(const cJSON *obj, const char *name, int required, int64_t *out,
                    kn_error_t **err);

/** Array member (borrowed) with at most max_items items. Absent optional: *out NULL. */
int kn_json_array(const cJSON *obj, const char *name, int required, size_t max_items,
                  const cJSON **out, kn_error_t **err);

/** Object member (borrowed). Absent optional: *out NULL. */
int kn_json_object(const cJSON *obj, const char *name, int required, const cJSON **out,
                   kn_error_t **err);

/** Whether `s` is an AWS resource name: min..max characters of [a-zA-Z0-9_.-]. */
int kn_json_name_ok(const char *s, size_t min, size_t max);

/** Index of `value` in a NULL-terminated list of names, or -1 (also for NULL). */
int kn_json_enum(const char *value, const char *const *names);

/**
 * Adds a string member, returning 0, or -1 when out of memory. The add helpers
 * let request builders chain `rc |= ...` and check once.
 */
int kn_json_add_str(cJSON *obj, const char *name, const char *value);
/** Adds an integer member (exact up to 2^53). */
int kn_json_add_int(cJSON *obj, const char *name, int64_t value);
/** Adds a boolean member. */
int kn_json_add_bool(cJSON *obj, const char *name, int value);
/** Adds epoch milliseconds as a JSON number of seconds with exactly three decimals. */
int kn_json_add_time_ms(cJSON *obj, const char *name, int64_t ms);
/** Adds `item` (ownership taken, also on failure); NULL item is an allocation failure. */
int kn_json_add_item(cJSON *obj, const char *name, cJSON *item);

/**
 * At most max-1 bytes of text for error messages, NUL-terminated; bytes outside
 * printable ASCII become '.'.
 */
void kn_json_excerpt(const uint8_t *text, size_t len, char *buf, size_t max);

#endif
