/*
 * GetRecords replies read straight from their JSON text into a
 * kn_get_records_result_t, without a cJSON tree. A reply is up to 10 MB, nearly
 * all of it base64 Data, which a general parser copies character by character
 * into string nodes before anything is decoded; here each Data string is found
 * with memchr and base64-decoded from the reply text into the result's arena.
 *
 * Strict and bounded like the cJSON path (kn_kj_parse_get_records, same
 * results, limits and error messages): RFC 8259 grammar for the whole text,
 * skipped members included (nesting at most KN_RJ_MAX_DEPTH), no trailing
 * bytes but whitespace; members matched case-sensitively, the first of
 * duplicates wins. ChildShards (the end of a shard, rare and small) goes
 * through cJSON. Differences: \u0000 in a string and numbers longer than
 * KN_RJ_MAX_NUMBER characters are refused, and the two numbers read
 * (MillisBehindLatest, ApproximateArrivalTimestamp) must be exact decimal
 * conversions (at most 15 significant digits, powers of ten up to 22), which
 * every number the service sends is.
 *
 * Pure: no I/O, no clock, no locale.
 */
#ifndef KN_RECORDS_JSON_H
#define KN_RECORDS_JSON_H

#include <stddef.h>

#include "err.h"
#include "kinesis/kinesis.h"

/** Deepest nesting of arrays and objects accepted anywhere in a reply. */
#define KN_RJ_MAX_DEPTH 64
/** Longest number accepted (cJSON reads at most 63 characters of one). */
#define KN_RJ_MAX_NUMBER 63

/**
 * Parses a GetRecords reply of len bytes at text. KN_OK with *out the
 * caller's (kn_get_records_result_destroy), else KN_ERR_BAD_RESPONSE (with
 * *err naming what broke) or KN_ERR_NOMEM.
 */
kn_err_t kn_rj_parse_get_records(const char *text, size_t len, kn_get_records_result_t **out,
                                 kn_error_t **err);

#endif
