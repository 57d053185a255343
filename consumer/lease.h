/*
 * The lease: one row of the lease table, in the KCL 2.x layout so Java and C
 * workers can share a table, plus extended sequence numbers (a sequence number
 * or a sentinel, with a KPL subsequence number) and their ordering.
 *
 * Pure: no I/O, no clock. Items are DynamoDB AttributeValue JSON (cJSON), e.g.
 * {"leaseKey":{"S":"shardId-000000000000"},"leaseCounter":{"N":"3"},...}.
 */
#ifndef KN_LEASE_H
#define KN_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/** Kinesis sequence numbers match 0|([1-9]\d{0,128}). */
#define KN_SEQ_MAX_DIGITS 129
/** Hash keys are 0 .. 2^128-1, at most 39 decimal digits. */
#define KN_HASH_KEY_MAX_DIGITS 39
/** Longest lease key accepted (shard ids are 20 characters; multi-stream keys are longer). */
#define KN_LEASE_KEY_MAX 512
/** Longest worker id accepted in leaseOwner. */
#define KN_WORKER_ID_MAX 512
/** Most ids in parentShardId / childShardIds (a split has 2 children, a merge 2 parents). */
#define KN_LEASE_MAX_RELATIVES 16

/*
 * Kinds in ascending order of position in a shard, as the KCL orders them:
 * TRIM_HORIZON < LATEST = AT_TIMESTAMP < any sequence number < SHARD_END.
 */
typedef enum {
    KN_ESN_TRIM_HORIZON = 0,
    KN_ESN_LATEST,
    KN_ESN_AT_TIMESTAMP,
    KN_ESN_NUMBER,
    KN_ESN_SHARD_END
} kn_esn_kind_t;

/** Extended sequence number: a position in a shard, down to a KPL user record. */
typedef struct kn_esn_s {
    kn_esn_kind_t kind;
    char seq[KN_SEQ_MAX_DIGITS + 1]; /* decimal digits for KN_ESN_NUMBER, else "" */
    int64_t subseq;                  /* KPL subsequence number; 0 for plain records */
} kn_esn_t;

/** A sentinel position (any kind but KN_ESN_NUMBER) with subsequence 0. */
kn_esn_t kn_esn_sentinel(kn_esn_kind_t kind);

/**
 * Parses a checkpoint string: a sentinel name (TRIM_HORIZON, LATEST,
 * AT_TIMESTAMP, SHARD_END) or a sequence number. subseq must be >= 0.
 * KN_ERR_INVALID_ARG for anything else (leading zeros, > 129 digits, ...).
 */
kn_err_t kn_esn_parse(const char *text, int64_t subseq, kn_esn_t *out);

/** The checkpoint string: the digits or the sentinel name. */
const char *kn_esn_str(const kn_esn_t *e);

/**
 * Total order: <0, 0, >0. Numbers compare as decimals, then by subsequence.
 * LATEST and AT_TIMESTAMP are equal (both mean "a starting position").
 */
int kn_esn_cmp(const kn_esn_t *a, const kn_esn_t *b);

/** Whether s is 1..max_digits decimal digits without a leading zero (or exactly "0"). */
int kn_decimal_valid(const char *s, size_t max_digits);

/** Compares two valid decimal strings numerically. */
int kn_decimal_cmp(const char *a, const char *b);

/** Whether s is a valid decimal hash key, 0 .. 2^128-1. */
int kn_hash_key_valid(const char *s);

/** A lease. Strings are owned; absent optional values are NULL (or 0 counts). */
typedef struct kn_lease_s {
    char *key;                 /* leaseKey: the shard id */
    char *owner;               /* leaseOwner: worker id, NULL when unowned */
    int64_t counter;           /* leaseCounter */
    kn_esn_t checkpoint;       /* checkpoint + checkpointSubSequenceNumber */
    int has_pending;           /* pendingCheckpoint present */
    kn_esn_t pending;          /* pendingCheckpoint + pendingCheckpointSubSequenceNumber */
    int64_t owner_switches;    /* ownerSwitchesSinceCheckpoint */
    char *parents[KN_LEASE_MAX_RELATIVES];  /* parentShardId (SS) */
    size_t nparents;
    char *children[KN_LEASE_MAX_RELATIVES]; /* childShardIds (SS) */
    size_t nchildren;
    char *starting_hash_key;   /* decimal, NULL when unknown */
    char *ending_hash_key;
} kn_lease_t;

/** Frees every owned string and zeroes the lease. Accepts NULL. */
void kn_lease_clear(kn_lease_t *l);

/** Deep copy into *dst (overwritten, not freed). KN_OK or KN_ERR_NOMEM (dst then clear). */
kn_err_t kn_lease_copy(kn_lease_t *dst, const kn_lease_t *src);

/** Replaces a string field (NULL allowed). KN_OK or KN_ERR_NOMEM (field unchanged). */
kn_err_t kn_lease_set_str(char **field, const char *value);

/** Adds an id to a relative list unless present. KN_ERR_TOO_LARGE when full. */
kn_err_t kn_lease_add_relative(char **list, size_t *n, const char *id);

/** Whether id is in the list. */
int kn_lease_has_relative(char *const *list, size_t n, const char *id);

/**
 * The complete item for a conditional create (PutItem), with every attribute
 * the KCL 2.x serializer writes for this lease; optional ones are omitted when
 * absent. NULL when out of memory.
 */
cJSON *kn_lease_to_item(const kn_lease_t *l);

/**
 * Whether an item is a lease. KCL 3.5 may keep other entities in the lease
 * table, marked by entityType; items without one are leases.
 */
int kn_lease_item_is_lease(const cJSON *item);

/**
 * Reads an item (a GetItem "Item" or one of a Scan's "Items") into *out.
 * Unknown attributes are ignored. KN_OK, KN_ERR_NOMEM, or KN_ERR_BAD_RESPONSE
 * with *err (if err is not NULL) naming the bad attribute; *out is clear on error.
 */
kn_err_t kn_lease_from_item(const cJSON *item, kn_lease_t *out, kn_error_t **err);

#endif
