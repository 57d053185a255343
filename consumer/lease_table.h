/*
 * The lease table in DynamoDB: created PAY_PER_REQUEST when missing (HASH key
 * leaseKey), and the lease store operations of lease_manager.h as conditional
 * DynamoDB writes with the KCL 2.x attribute names. Reads are consistent.
 *
 * Thread-safe (the DynamoDB client is); every call blocks.
 */
#ifndef KN_LEASE_TABLE_H
#define KN_LEASE_TABLE_H

#include <stdint.h>

#include "dynamodb_api.h"
#include "lease_manager.h"
#include "log.h"

typedef struct kn_lease_table_s kn_lease_table_t;

/** A table handle over a DynamoDB client (borrowed). NULL when out of memory. */
kn_lease_table_t *kn_lease_table_new(kn_dynamodb_t *ddb, const char *table,
                                     const kn_logger_t *lg);
/** Accepts NULL. */
void kn_lease_table_destroy(kn_lease_table_t *t);

/**
 * Makes sure the table exists and is ACTIVE: DescribeTable, CreateTable when it
 * is missing (another worker creating it at the same time is fine), then waits
 * up to timeout_ms.
 */
kn_err_t kn_lease_table_ensure(kn_lease_table_t *t, int64_t timeout_ms, kn_error_t **err);

/** The lease store operations over this table. */
kn_lease_store_t kn_lease_table_store(kn_lease_table_t *t);

/** DynamoDB requests made so far (calls, not retries). Thread-safe. */
uint64_t kn_lease_table_calls(const kn_lease_table_t *t);

/** Deletes a lease item unconditionally (tests and tooling). */
kn_err_t kn_lease_table_delete(kn_lease_table_t *t, const char *key, kn_error_t **err);

/**
 * The UpdateItem arguments of a store operation, built without I/O (tested
 * directly): the update and condition expressions with their names and values.
 */
typedef struct kn_lease_write_s {
    char update[512];
    char condition[256];
    cJSON *names;
    cJSON *values;
} kn_lease_write_t;

/** Frees names and values. */
void kn_lease_write_clear(kn_lease_write_t *w);

/** renew: counter+1 if owner and counter match. */
kn_err_t kn_lease_write_renew(kn_lease_write_t *w, const char *owner, int64_t expected);
/** take: owner := new_owner, counter+1 (ownerSwitches+1 on a change) if counter matches. */
kn_err_t kn_lease_write_take(kn_lease_write_t *w, const kn_lease_t *scanned, const char *new_owner);
/** update: checkpoint, pending (set or removed), ownerSwitches, childShardIds, counter+1. */
kn_err_t kn_lease_write_update(kn_lease_write_t *w, const kn_lease_t *l, int64_t expected);
/** release: owner removed, counter+1 if owner and counter match. */
kn_err_t kn_lease_write_release(kn_lease_write_t *w, const char *owner, int64_t expected);

#endif
