/*
 * An in-memory lease table with the conditional semantics of the DynamoDB one,
 * for driving the consumer's lease logic deterministically. Faults can be
 * injected: calls that fail without effect, and writes that take effect but
 * whose reply is lost (the caller sees KN_ERR_TIMED_OUT).
 */
#ifndef KN_FAKE_LEASE_STORE_H
#define KN_FAKE_LEASE_STORE_H

#include "lease_manager.h"

typedef struct kn_fake_store_s kn_fake_store_t;

kn_fake_store_t *kn_fake_store_new(void);
void kn_fake_store_destroy(kn_fake_store_t *fs);

/** The store interface over this fake. */
kn_lease_store_t kn_fake_store_ops(kn_fake_store_t *fs);

/** A lease at TRIM_HORIZON (owner may be NULL); the caller clears it. */
kn_lease_t kn_fake_lease(const char *key, const char *owner, int64_t counter);

/** Puts a lease unconditionally. */
void kn_fake_store_put(kn_fake_store_t *fs, const kn_lease_t *l);
/** A copy of a lease; KN_ERR_RESOURCE_NOT_FOUND when absent. */
kn_err_t kn_fake_store_get(kn_fake_store_t *fs, const char *key, kn_lease_t *out);
/** Number of leases. */
size_t kn_fake_store_count(kn_fake_store_t *fs);
/** Number of leases owned by `owner` (NULL: unowned). */
size_t kn_fake_store_owned_by(kn_fake_store_t *fs, const char *owner);

/** The next n calls fail with `code` and change nothing. */
void kn_fake_store_fail_next(kn_fake_store_t *fs, int n, kn_err_t code);
/** The next n writes take effect but report KN_ERR_TIMED_OUT. */
void kn_fake_store_lose_replies(kn_fake_store_t *fs, int n);
/** Every call made, faults included. */
unsigned long kn_fake_store_calls(kn_fake_store_t *fs);

#endif
