/* Sorted open-shard hash ranges with fetch backoff and KPL-style invalidation. */
#include <stdlib.h>
#include <string.h>

#include "shard_map.h"

void kn_shard_map_init(kn_shard_map_t *m) {
    memset(m, 0, sizeof(*m));
    m->state = KN_SHARD_MAP_NONE;
    m->updated_us = INT64_MIN;
    m->next_update_us = INT64_MIN;
    m->backoff_ms = KN_SHARD_MAP_BACKOFF_MIN_MS;
}

void kn_shard_map_ranges_free(kn_shard_range_t *ranges, size_t count) {
    for (size_t i = 0; ranges && i < count; i++)
        free(ranges[i].shard_id);
    free(ranges);
}

void kn_shard_map_clear(kn_shard_map_t *m) {
    kn_shard_map_ranges_free(m->ranges, m->count);
    m->ranges = NULL;
    m->count = 0;
}

long kn_shard_map_lookup(const kn_shard_map_t *m, kn_u128_t hash) {
    if (m->state != KN_SHARD_MAP_READY || !m->count)
        return -1;
    /* last range whose start <= hash */
    size_t lo = 0, hi = m->count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (kn_u128_cmp(m->ranges[mid].start, hash) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    const kn_shard_range_t *r = &m->ranges[lo];
    if (kn_u128_cmp(r->start, hash) > 0 || kn_u128_cmp(hash, r->end) > 0)
        return -1;
    return (long)lo;
}

long kn_shard_map_find_id(const kn_shard_map_t *m, const char *shard_id) {
    for (size_t i = 0; shard_id && i < m->count; i++)
        if (!strcmp(m->ranges[i].shard_id, shard_id))
            return (long)i;
    return -1;
}

int kn_shard_map_range_holds(const kn_shard_map_t *m, long idx, kn_u128_t hash) {
    if (idx < 0 || (size_t)idx >= m->count)
        return 0;
    const kn_shard_range_t *r = &m->ranges[idx];
    return kn_u128_cmp(r->start, hash) <= 0 && kn_u128_cmp(hash, r->end) <= 0;
}

int kn_shard_map_update_due(const kn_shard_map_t *m, int64_t now_us) {
    return m->state == KN_SHARD_MAP_NONE && now_us >= m->next_update_us;
}

void kn_shard_map_update_started(kn_shard_map_t *m) { m->state = KN_SHARD_MAP_UPDATING; }

void kn_shard_map_update_failed(kn_shard_map_t *m, int64_t now_us) {
    m->state = KN_SHARD_MAP_NONE;
    int64_t wait_us = m->backoff_ms * 1000;
    m->next_update_us = now_us > INT64_MAX - wait_us ? INT64_MAX : now_us + wait_us;
    m->backoff_ms = m->backoff_ms * 3 / 2;
    if (m->backoff_ms > KN_SHARD_MAP_BACKOFF_MAX_MS)
        m->backoff_ms = KN_SHARD_MAP_BACKOFF_MAX_MS;
}

int kn_shard_map_invalidate(kn_shard_map_t *m, int64_t request_sent_us) {
    if (m->state != KN_SHARD_MAP_READY || m->updated_us >= request_sent_us)
        return 0;
    m->state = KN_SHARD_MAP_NONE;
    m->next_update_us = INT64_MIN;
    return 1;
}

static int range_cmp(const void *a, const void *b) {
    return kn_u128_cmp(((const kn_shard_range_t *)a)->start, ((const kn_shard_range_t *)b)->start);
}

static int parse_key(const char *s, kn_u128_t *out) {
    return s && kn_u128_parse_decimal(s, strlen(s), out) == KN_OK;
}

/* Open shards always tile [0, 2^128-1] exactly; anything else is a reply we
 * cannot route with (a key in a gap would have no predicted shard). */
static kn_err_t check_cover(const kn_shard_range_t *r, size_t n, kn_error_t **err) {
    const kn_u128_t zero = {0, 0}, max = {UINT64_MAX, UINT64_MAX};
    if (n == 0) {
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "the stream has no open shard");
        return KN_ERR_BAD_RESPONSE;
    }
    if (kn_u128_cmp(r[0].start, zero) || kn_u128_cmp(r[n - 1].end, max)) {
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "the open shards do not cover the hash key space");
        return KN_ERR_BAD_RESPONSE;
    }
    for (size_t i = 1; i < n; i++) {
        kn_u128_t next = r[i - 1].end;
        next.lo++;
        if (!next.lo)
            next.hi++;
        if (kn_u128_cmp(r[i].start, next)) {
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "open shards %s and %s %s",
                                r[i - 1].shard_id, r[i].shard_id,
                                kn_u128_cmp(r[i].start, next) < 0 ? "overlap" : "leave a gap");
            return KN_ERR_BAD_RESPONSE;
        }
    }
    return KN_OK;
}

kn_err_t kn_shard_map_update(kn_shard_map_t *m, const kn_shard_t *shards, size_t count,
                             int64_t now_us, kn_shard_range_t **old, size_t *old_count,
                             kn_error_t **err) {
    *old = NULL;
    *old_count = 0;
    *err = NULL;
    kn_shard_range_t *r = calloc(count ? count : 1, sizeof(*r));
    if (!r) {
        kn_shard_map_update_failed(m, now_us);
        *err = kn_error_new(KN_ERR_NOMEM, "no memory for %zu shard ranges", count);
        return KN_ERR_NOMEM;
    }
    size_t n = 0;
    kn_err_t rc = KN_OK;
    for (size_t i = 0; i < count && rc == KN_OK; i++) {
        const kn_shard_t *s = &shards[i];
        if (s->ending_sequence_number)
            continue; /* closed: receives no more records */
        if (!s->shard_id || !parse_key(s->starting_hash_key, &r[n].start) ||
            !parse_key(s->ending_hash_key, &r[n].end) || kn_u128_cmp(r[n].start, r[n].end) > 0) {
            *err = kn_error_new(KN_ERR_BAD_RESPONSE, "shard %s has an invalid hash key range",
                                s->shard_id ? s->shard_id : "(no id)");
            rc = KN_ERR_BAD_RESPONSE;
        } else if (!(r[n].shard_id = strdup(s->shard_id))) {
            *err = kn_error_new(KN_ERR_NOMEM, "no memory for a shard id");
            rc = KN_ERR_NOMEM;
        } else {
            n++;
        }
    }
    if (rc == KN_OK) {
        qsort(r, n, sizeof(*r), range_cmp);
        rc = check_cover(r, n, err);
    }
    if (rc != KN_OK) {
        kn_shard_map_ranges_free(r, n);
        kn_shard_map_update_failed(m, now_us);
        return rc;
    }
    *old = m->ranges;
    *old_count = m->count;
    m->ranges = r;
    m->count = n;
    m->state = KN_SHARD_MAP_READY;
    m->updated_us = now_us;
    m->backoff_ms = KN_SHARD_MAP_BACKOFF_MIN_MS;
    m->generation++;
    return KN_OK;
}
