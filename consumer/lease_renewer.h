/*
 * The leases this worker holds and the decisions about renewing them
 * (sans-IO: the caller performs the DynamoDB writes and passes times from its
 * monotonic clock).
 *
 * A held lease stays valid while its last successful renewal was sent less than
 * failover.time.ms ago. Other workers only consider the lease expired after
 * seeing its counter unchanged for failover.time.ms, and they saw the last change
 * after it was written, which is after this worker sent it: so a worker that
 * stops processing when its lease is no longer valid stops before anyone else
 * can take the lease (up to the rate difference of two monotonic clocks).
 *
 * Every renewal is a conditional increment of leaseCounter from the value held
 * here. When the condition fails the caller re-reads the item: owner still this
 * worker and counter exactly one higher means the first attempt did land (a
 * timed-out request, retried) — a spurious failure, not a lost lease.
 *
 * Not thread-safe: the owner serializes calls.
 */
#ifndef KN_LEASE_RENEWER_H
#define KN_LEASE_RENEWER_H

#include <stddef.h>
#include <stdint.h>

#include "lease.h"

/** Subtracted from failover/3 so a renewal lands before the deadline (the KCL's epsilon). */
#define KN_LEASE_EPSILON_MS 25

typedef struct kn_renewer_s kn_renewer_t;

/** How often held leases are renewed: failover/3 - epsilon (3308 ms for 10 s). */
int64_t kn_renewer_interval_ms(int64_t failover_ms);

/** A renewer for worker_id. NULL when out of memory or on bad arguments. */
kn_renewer_t *kn_renewer_new(const char *worker_id, int64_t failover_ms);
/** Accepts NULL. */
void kn_renewer_destroy(kn_renewer_t *r);

/**
 * Starts holding a lease this worker just took: `lease` as written (owner this
 * worker, counter after the take), `sent_ms` when the take was sent. Each
 * acquisition gets a new token (> 0), so a checkpoint made for an earlier
 * acquisition of the same shard is refused. KN_ERR_INVALID_ARG when the lease
 * is not owned by this worker.
 */
kn_err_t kn_renewer_add(kn_renewer_t *r, const kn_lease_t *lease, int64_t sent_ms,
                        uint64_t *token);

/** Stops holding `key` (released, lost or finished). Unknown keys are ignored. */
void kn_renewer_remove(kn_renewer_t *r, const char *key);

/** Number of leases held (valid or not yet noticed to have lapsed). */
size_t kn_renewer_count(const kn_renewer_t *r);

/** The i-th held lease key (0 <= i < count), for iterating a renewal cycle. */
const char *kn_renewer_key_at(const kn_renewer_t *r, size_t i);

/**
 * A copy of the held lease `key` when it is still valid at now_ms and (token
 * nonzero) still the same acquisition. KN_ERR_LEASE_LOST otherwise; out is then
 * untouched. out may be NULL to only test validity. Also KN_ERR_NOMEM.
 */
kn_err_t kn_renewer_get(const kn_renewer_t *r, const char *key, uint64_t token, int64_t now_ms,
                        kn_lease_t *out);

/** Counter the next conditional write of `key` must expect; KN_ERR_LEASE_LOST if not held. */
kn_err_t kn_renewer_expected(const kn_renewer_t *r, const char *key, int64_t *counter);

/** The conditional renewal of `key` from `expected`, sent at sent_ms, succeeded. */
void kn_renewer_renewed(kn_renewer_t *r, const char *key, int64_t expected, int64_t sent_ms);

/**
 * Another conditional write of a held lease (a checkpoint) succeeded:
 * `written` is the lease as it now is in the table. Counts as a renewal.
 */
kn_err_t kn_renewer_updated(kn_renewer_t *r, const kn_lease_t *written, int64_t sent_ms);

typedef enum {
    KN_RENEW_OK,   /* the lease is held: the failure was spurious */
    KN_RENEW_LOST  /* another worker has it, or it is gone: no longer held */
} kn_renew_outcome_t;

/**
 * A conditional write of `key` expecting `expected` failed its condition; the
 * caller re-read the item (`reread`, NULL when it no longer exists). Decides
 * whether the write landed anyway (owner this worker and counter expected+1:
 * KN_RENEW_OK, counted as a renewal at sent_ms) or the lease is lost (dropped).
 */
kn_renew_outcome_t kn_renewer_reread(kn_renewer_t *r, const char *key, int64_t expected,
                                     const kn_lease_t *reread, int64_t sent_ms);

/**
 * Drops every held lease no longer valid at now_ms (renewals failing, e.g.
 * throttled or unreachable DynamoDB), calling lost(opaque, key) for each before
 * dropping it. Returns how many were dropped.
 */
size_t kn_renewer_expire(kn_renewer_t *r, int64_t now_ms,
                         void (*lost)(void *opaque, const char *key), void *opaque);

#endif
