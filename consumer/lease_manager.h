/*
 * Lease management: the renewal and taking cycles and every conditional write
 * of a held lease, driven against a lease store (the DynamoDB table in
 * lease_table.c; unit tests plug in an in-memory fake) with an injected
 * monotonic clock. Decisions come from the renewer and taker cores.
 *
 * Threads: the cycles run on the coordinator thread; kn_lease_manager_get,
 * _update and _release may be called from processor threads at the same time.
 * Writes of one lease are serialized (a renewal and a checkpoint never race on
 * the counter); writes of different leases run in parallel.
 */
#ifndef KN_LEASE_MANAGER_H
#define KN_LEASE_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "lease.h"
#include "lease_taker.h"

/*
 * The operations on the lease table. Every write is conditional and fails with
 * KN_ERR_CONDITIONAL_CHECK_FAILED when its condition does not hold; any other
 * error (with *err set when err is not NULL) means the outcome is unknown or
 * nothing was written.
 */
typedef struct kn_lease_store_s {
    void *impl;
    /** Every lease, consistent read. */
    kn_err_t (*scan)(void *impl, kn_lease_t **out, size_t *n, kn_error_t **err);
    /** One lease, consistent read; KN_ERR_RESOURCE_NOT_FOUND when absent. */
    kn_err_t (*get)(void *impl, const char *key, kn_lease_t *out, kn_error_t **err);
    /** Puts `l` if no lease with its key exists. */
    kn_err_t (*create)(void *impl, const kn_lease_t *l, kn_error_t **err);
    /** counter := expected+1 if owner = `owner` and counter = expected. */
    kn_err_t (*renew)(void *impl, const char *key, const char *owner, int64_t expected,
                      kn_error_t **err);
    /**
     * owner := new_owner, counter := scanned->counter+1 (and ownerSwitchesSinceCheckpoint
     * +1 when the owner changes) if counter = scanned->counter.
     */
    kn_err_t (*take)(void *impl, const kn_lease_t *scanned, const char *new_owner,
                     kn_error_t **err);
    /**
     * Writes checkpoint, pending checkpoint (removed when !has_pending),
     * ownerSwitchesSinceCheckpoint and childShardIds of `l`, counter :=
     * expected+1, if owner = l->owner and counter = expected.
     */
    kn_err_t (*update)(void *impl, const kn_lease_t *l, int64_t expected, kn_error_t **err);
    /** Removes the owner, counter := expected+1, if owner = `owner` and counter = expected. */
    kn_err_t (*release)(void *impl, const char *key, const char *owner, int64_t expected,
                        kn_error_t **err);
} kn_lease_store_t;

/** The injectable monotonic clock, in milliseconds. */
typedef int64_t (kn_clock_fn)(void *opaque);

/** What the manager tells its owner; called on the coordinator thread (lost: also in _update). */
typedef struct kn_lease_events_s {
    /** This worker now holds `lease` (as written); `token` identifies this acquisition. */
    void (*acquired)(void *opaque, const kn_lease_t *lease, uint64_t token, int stolen);
    /** This worker no longer holds `key`: another worker took it, or renewals lapsed. */
    void (*lost)(void *opaque, const char *key);
    void *opaque;
} kn_lease_events_t;

typedef struct kn_lease_manager_s kn_lease_manager_t;

/** NULL when out of memory or on bad arguments. `store` and `events` are copied. */
kn_lease_manager_t *kn_lease_manager_new(const kn_lease_store_t *store, const char *worker_id,
                                         const kn_taker_conf_t *taker, kn_clock_fn *clock,
                                         void *clock_opaque, const kn_lease_events_t *events);
/** Accepts NULL. */
void kn_lease_manager_destroy(kn_lease_manager_t *m);

/**
 * One renewal cycle: drops held leases whose renewals lapsed, then renews
 * every held lease once (re-reading on a failed condition). Returns KN_OK, or
 * the error of the last failed renewal (the leases stay held until they lapse).
 */
kn_err_t kn_lease_manager_renew(kn_lease_manager_t *m, kn_error_t **err);

/**
 * One taking cycle: scans the table, then takes or steals as the taker decides.
 * `max_new` limits acquisitions (0: none, e.g. while shutting down). Errors are
 * those of the scan; a failed take is skipped.
 */
kn_err_t kn_lease_manager_take(kn_lease_manager_t *m, size_t max_new, kn_error_t **err);

/** kn_taker_next_expiry() of the last scan: when a taking cycle may find a lease expired. */
int64_t kn_lease_manager_next_expiry(kn_lease_manager_t *m);

/** The last scan (plus this worker's own writes since), copied. */
kn_err_t kn_lease_manager_snapshot(kn_lease_manager_t *m, kn_lease_t **out, size_t *n);

/** Frees a snapshot. */
void kn_lease_manager_free_leases(kn_lease_t *leases, size_t n);

/**
 * A copy of the held lease `key` of acquisition `token` when it is still valid;
 * KN_ERR_LEASE_LOST otherwise.
 */
kn_err_t kn_lease_manager_get(kn_lease_manager_t *m, const char *key, uint64_t token,
                              kn_lease_t *out);

/**
 * Writes `desired` (checkpoint, pending, childShardIds, ownerSwitchesSinceCheckpoint)
 * to the held lease of acquisition `token`, conditional on ownership and
 * counter. A failed condition is re-read: if the write landed anyway it is
 * KN_OK, otherwise the lease is lost (KN_ERR_LEASE_LOST, events.lost called).
 */
kn_err_t kn_lease_manager_update(kn_lease_manager_t *m, const kn_lease_t *desired,
                                 uint64_t token, kn_error_t **err);

/**
 * Gives up the held lease: removes the owner so another worker takes it at
 * once. The lease is no longer held whatever the outcome.
 */
kn_err_t kn_lease_manager_release(kn_lease_manager_t *m, const char *key, uint64_t token,
                                  kn_error_t **err);

/** Creates a lease if absent (shard sync, child shards). KN_OK also when it exists. */
kn_err_t kn_lease_manager_create(kn_lease_manager_t *m, const kn_lease_t *l, kn_error_t **err);

/** Number of leases held now. */
size_t kn_lease_manager_held(kn_lease_manager_t *m);

/** Counts since creation. */
typedef struct kn_lease_counts_s {
    uint64_t taken;  /* successful takes, steals included */
    uint64_t stolen;
    uint64_t lost;   /* lost to another worker or lapsed */
} kn_lease_counts_t;

/** Copies the counts. */
void kn_lease_manager_counts(kn_lease_manager_t *m, kn_lease_counts_t *out);

#endif
