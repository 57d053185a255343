/*
 * Which leases to take or steal (sans-IO, the KCL 2.x DynamoDBLeaseTaker rules).
 *
 * Expiry never compares wall clocks between hosts: the taker remembers, per
 * lease, the time on this process's monotonic clock of the scan at which it
 * last saw leaseCounter change. A lease is expired when that was more than
 * failover.time.ms ago; an unowned lease is available at once.
 *
 * Leases whose checkpoint is SHARD_END need no processing: they are neither
 * taken nor counted.
 *
 * Each cycle: fair share target = 1 if live workers >= leases, else
 * ceil(leases / live workers), capped by max.leases.per.worker; live workers =
 * distinct owners of unexpired leases plus this worker. Owned leases expired for
 * more than three failover periods are taken first, regardless of the target.
 * Otherwise take available (unowned or expired) leases, shuffled, up to the
 * target. Only when none is available, steal from the single most loaded
 * worker: min(needed, its surplus) if it is above target, one if it is exactly
 * at target and this worker needs more than one; at most max.leases.to.steal.
 *
 * Not thread-safe: one coordinator thread drives it.
 */
#ifndef KN_LEASE_TAKER_H
#define KN_LEASE_TAKER_H

#include <stddef.h>
#include <stdint.h>

#include "lease.h"

/** Leases expired this many failover periods are "very old" and taken first. */
#define KN_LEASE_VERY_OLD_FACTOR 3

typedef struct kn_taker_conf_s {
    int64_t failover_ms;
    int64_t max_leases; /* max.leases.per.worker; 0 = no cap */
    int64_t max_steal;  /* max.leases.to.steal per cycle; 0 = never steal */
    uint64_t seed;      /* shuffling; tests pass a fixed one */
} kn_taker_conf_t;

typedef struct kn_taker_s kn_taker_t;

/** NULL when out of memory or on bad arguments. */
kn_taker_t *kn_taker_new(const char *worker_id, const kn_taker_conf_t *conf);
/** Accepts NULL. */
void kn_taker_destroy(kn_taker_t *t);

/**
 * Feeds one complete scan of the lease table made at scan_ms. Leases missing
 * from it are forgotten. KN_ERR_NOMEM leaves the previous view in place.
 */
kn_err_t kn_taker_update(kn_taker_t *t, const kn_lease_t *leases, size_t n, int64_t scan_ms);

/**
 * Records that this worker wrote `lease` (took or released it) so the next
 * cycle sees its own write without waiting for a scan; the counter change
 * restarts the lease's expiry at now_ms.
 */
kn_err_t kn_taker_note_write(kn_taker_t *t, const kn_lease_t *lease, int64_t now_ms);

/**
 * When the next lease owned by another worker expires if its counter does not
 * move (the earliest last-change time plus failover, plus 1 ms); INT64_MAX when
 * there is none. A taking cycle then finds it expired at once instead of up to
 * a cycle later.
 */
int64_t kn_taker_next_expiry(const kn_taker_t *t);

/** Whether the lease `key` is expired at now_ms; -1 when unknown. */
int kn_taker_is_expired(const kn_taker_t *t, const char *key, int64_t now_ms);

/** One lease to take: conditional on lease.counter; the previous owner is lease.owner. */
typedef struct kn_take_s {
    kn_lease_t lease;
    int steal; /* taken from a live owner */
} kn_take_t;

typedef struct kn_take_plan_s {
    kn_take_t *takes;
    size_t n;
    size_t leases;  /* leases that need processing */
    size_t workers; /* live workers, this one included */
    size_t target;  /* fair share */
    size_t mine;    /* unexpired leases this worker owns */
} kn_take_plan_t;

/** Decides this cycle's takes and steals. KN_OK or KN_ERR_NOMEM. */
kn_err_t kn_taker_plan(kn_taker_t *t, int64_t now_ms, kn_take_plan_t *plan);

/** Frees a plan's contents. Accepts NULL. */
void kn_take_plan_clear(kn_take_plan_t *plan);

#endif
