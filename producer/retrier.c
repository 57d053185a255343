/* Per-entry outcome handling, backoff and TTL expiry; see retrier.h. */
#include <limits.h>
#include <string.h>

#include "retrier.h"

void kn_retrier_init(kn_retrier_t *rt, int64_t base_ms, int64_t max_ms, uint64_t seed) {
    rt->policy.base_ms = base_ms;
    rt->policy.max_ms = max_ms;
    rt->policy.max_attempts = INT_MAX;
    kn_rng_seed(&rt->rng, seed);
}

static void finish(kn_rec_t *r, kn_serr_t *err, int64_t now_us, kn_rec_list_t *done) {
    r->error = kn_serr_ref(err);
    r->done_us = now_us;
    kn_rec_list_push(done, r);
}

static void finish_all(kn_krec_t *k, kn_serr_t *err, int64_t now_us, kn_rec_list_t *done) {
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(&k->recs)))
        finish(r, err, now_us, done);
}

/* A reply we could not read says nothing about what was written: retry it like a
 * network failure (at-least-once) rather than fail records that may be fine. */
static int retriable(const kn_error_t *e) {
    return kn_error_is_retriable(e) || kn_error_code(e) == KN_ERR_BAD_RESPONSE;
}

static kn_serr_t *expired_error(const kn_rec_t *r) {
    const kn_serr_t *le = r->nattempts ? r->attempts[r->nattempts - 1].err : NULL;
    const kn_error_t *last = le ? le->err : NULL;
    char buf[512] = "";
    if (last)
        kn_error_format(last, buf, sizeof(buf));
    return kn_serr_new(kn_error_new(KN_ERR_RECORD_EXPIRED,
                                    "not delivered within record.ttl.ms (%u attempts)%s%s",
                                    (unsigned)r->nattempts, last ? "; last error: " : "", buf));
}

size_t kn_retrier_expire_list(kn_rec_list_t *recs, int64_t now_us, kn_rec_list_t *done) {
    kn_rec_list_t keep = {0};
    size_t n = 0;
    kn_rec_t *r;
    while ((r = kn_rec_list_pop(recs))) {
        if (r->expire_us > now_us) {
            kn_rec_list_push(&keep, r);
            continue;
        }
        kn_serr_t *e = expired_error(r);
        finish(r, e, now_us, done);
        kn_serr_unref(e);
        n++;
    }
    *recs = keep;
    return n;
}

int kn_retrier_expire_krec(kn_agg_ctx_t *agg, kn_krec_t *k, int64_t now_us, kn_rec_list_t *done) {
    if (k->expire_us > now_us)
        return 0;
    if (!kn_retrier_expire_list(&k->recs, now_us, done))
        return 0;
    if (!k->recs.count)
        return 1;
    if (kn_krec_rebuild(agg, k) != KN_OK) {
        kn_serr_t *e = kn_serr_new(kn_error_new(KN_ERR_NOMEM, "no memory to re-encode an aggregate"));
        finish_all(k, e, now_us, done);
        kn_serr_unref(e);
        return 1;
    }
    return 0;
}

static void add_attempt_all(kn_krec_t *k, kn_serr_t *err, int64_t now_us) {
    for (kn_rec_t *r = k->recs.head; r; r = r->next)
        kn_rec_add_attempt(r, err, k->sent_us, now_us); /* out of memory: history is shorter */
}

/* The entry failed with `err` (the attempt is recorded here). */
static void fail_or_retry(kn_retrier_t *rt, kn_agg_ctx_t *agg, kn_krec_t *k, kn_serr_t *err,
                          int64_t now_us, kn_retrier_out_t *out) {
    add_attempt_all(k, err, now_us);
    /* no error object (out of memory): retry without history rather than lose it */
    const kn_error_t *e = err ? err->err : NULL;
    if (e && !retriable(e)) {
        finish_all(k, err, now_us, &out->done);
        kn_krec_release(agg, k);
        return;
    }
    if (kn_retrier_expire_krec(agg, k, now_us, &out->done)) {
        kn_krec_release(agg, k);
        return;
    }
    k->throttled = (uint8_t)kn_retry_is_throttling(e);
    out->throttled |= k->throttled;
    int64_t delay_ms = kn_retry_delay_ms(&rt->policy, k->retries, e, &rt->rng);
    if (k->retries < UINT16_MAX)
        k->retries++;
    k->not_before_us = kn_add_sat(now_us, kn_ms_to_us(delay_ms));
    /* its linger is long over: it goes out as soon as the backoff allows */
    k->deadline_us = k->not_before_us;
    kn_krec_list_push(&out->retry, k);
}

/* Whether an aggregate that landed on `actual` is readable there: every record's
 * hash key inside that shard's range. */
static int all_in_shard(const kn_shard_map_t *map, const kn_krec_t *k, const char *actual) {
    long idx = kn_shard_map_find_id(map, actual);
    if (idx < 0)
        return 0;
    for (const kn_rec_t *r = k->recs.head; r; r = r->next)
        if (!kn_shard_map_range_holds(map, idx, r->hash))
            return 0;
    return 1;
}

static void succeed(kn_agg_ctx_t *agg, kn_krec_t *k, const kn_put_records_entry_result_t *e,
                    const kn_shard_map_t *map, int64_t now_us, kn_retrier_out_t *out) {
    const char *actual = e->shard_id ? e->shard_id : "";
    if (!k->shard_id || strcmp(actual, k->shard_id)) {
        out->stale_map = 1;
        if (k->blob && !all_in_shard(map, k, actual)) {
            kn_serr_t *err = kn_serr_new(kn_error_new(
                KN_ERR_STATE,
                "aggregate landed on %s, not on predicted %s, and not all its records belong "
                "there (stale shard map): sent again",
                actual, k->shard_id ? k->shard_id : "(none)"));
            add_attempt_all(k, err, now_us);
            kn_serr_unref(err);
            kn_rec_list_concat(&out->reroute, &k->recs);
            kn_krec_release(agg, k);
            return;
        }
    }
    /* The records are not touched here: the report side reads the result from
     * the container (one pass over them instead of two). */
    k->result = kn_kresult_new(actual, e->sequence_number ? e->sequence_number : "");
    if (!k->result) {
        kn_serr_t *err = kn_serr_new(kn_error_new(KN_ERR_NOMEM, "delivered to %s, but no memory "
                                                                "to report where", actual));
        finish_all(k, err, now_us, &out->done);
        kn_serr_unref(err);
        kn_krec_release(agg, k);
        return;
    }
    k->done_us = now_us;
    kn_krec_drop_blob(agg, k);
    kn_krec_list_push(&out->delivered, k);
}

void kn_retrier_on_outcome(kn_retrier_t *rt, kn_agg_ctx_t *agg, kn_krec_list_t *sent,
                           const kn_error_t *request_err, const kn_put_records_result_t *result,
                           const kn_shard_map_t *map, int64_t now_us, kn_retrier_out_t *out) {
    int whole = request_err || !result || result->count != sent->count;
    kn_serr_t *req_err = NULL;
    if (request_err)
        req_err = kn_serr_new(kn_error_copy(request_err));
    else if (whole)
        req_err = kn_serr_new(kn_error_new(KN_ERR_BAD_RESPONSE,
                                           "PutRecords answered %zu entries for %zu sent",
                                           result ? result->count : 0, sent->count));
    size_t i = 0;
    kn_krec_t *k;
    while ((k = kn_krec_list_pop(sent))) {
        if (whole) {
            fail_or_retry(rt, agg, k, req_err, now_us, out);
            continue;
        }
        const kn_put_records_entry_result_t *e = &result->entries[i++];
        if (e->err == KN_OK) {
            succeed(agg, k, e, map, now_us, out);
        } else {
            kn_serr_t *err = kn_serr_new(kn_error_from_service(
                200, e->error_code ? e->error_code : "InternalFailure", e->error_message, NULL));
            fail_or_retry(rt, agg, k, err, now_us, out);
            kn_serr_unref(err);
        }
    }
    kn_serr_unref(req_err);
}
