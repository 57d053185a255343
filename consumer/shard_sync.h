/*
 * Shard discovery decisions (sans-IO): which leases to create from a ListShards
 * result and the lease table, when a child shard may start, and the child
 * leases to create at the end of a shard.
 *
 * Rules, for each shard without a lease, parents before children:
 *  - a shard with a descendant that has a lease is history already read: skip;
 *  - a shard with a parent that has (or is getting) a lease starts at
 *    TRIM_HORIZON, to be read completely after its parents (AT_TIMESTAMP when
 *    the whole lineage is being created from an AT_TIMESTAMP start);
 *  - any other shard is a root of what this application reads: it starts at the
 *    initial position, except that with LATEST closed roots are skipped (nothing
 *    is ever read from them). On an empty table this yields, for TRIM_HORIZON
 *    and AT_TIMESTAMP, the whole lineage, and for LATEST, the open shards.
 * A child starts only once every parent that has a lease has checkpointed
 * SHARD_END (a parent without a lease counts as done).
 */
#ifndef KN_SHARD_SYNC_H
#define KN_SHARD_SYNC_H

#include <stddef.h>

#include "kinesis/kinesis.h"
#include "lease.h"

/** A shard as ListShards (or GetRecords ChildShards) describes it; strings borrowed. */
typedef struct kn_shard_info_s {
    const char *id;
    const char *parent;          /* ParentShardId or NULL */
    const char *adjacent_parent; /* AdjacentParentShardId or NULL */
    const char *starting_hash_key;
    const char *ending_hash_key;
    int closed;                  /* has an EndingSequenceNumber */
} kn_shard_info_t;

/**
 * The leases to create: unowned, counter 0, parents and hash range set,
 * checkpoint per the rules above. `initial` is TRIM_HORIZON, LATEST or
 * AT_TIMESTAMP. *out (free each with kn_lease_clear, then the array) may be
 * NULL when *nout is 0. KN_OK, KN_ERR_INVALID_ARG (a shard without an id, a
 * duplicate id, a bad hash key) or KN_ERR_NOMEM.
 */
kn_err_t kn_shard_sync_plan(const kn_shard_info_t *shards, size_t nshards,
                            const kn_lease_t *leases, size_t nleases, kn_esn_kind_t initial,
                            kn_lease_t **out, size_t *nout);

/** Frees an array returned by kn_shard_sync_plan or kn_shard_sync_children. */
void kn_shard_sync_free(kn_lease_t *leases, size_t n);

/**
 * Whether `child` may start: every parent that has a lease in `leases` has
 * checkpointed SHARD_END.
 */
int kn_shard_sync_parents_done(const kn_lease_t *child, const kn_lease_t *leases, size_t nleases);

/**
 * At the end of `parent`: the child leases to create (TRIM_HORIZON, unowned,
 * with their parents and hash ranges) from the ChildShards of the last
 * GetRecords. Each child must name the parent as ParentShardId or
 * AdjacentParentShardId: KN_ERR_BAD_RESPONSE otherwise.
 */
kn_err_t kn_shard_sync_children(const char *parent, const kn_shard_info_t *children,
                                size_t nchildren, kn_lease_t **out, size_t *nout);

/**
 * Views of a ListShards result as shard infos (strings borrowed from `list`).
 * *out is freed with free(). KN_OK or KN_ERR_NOMEM.
 */
kn_err_t kn_shard_sync_infos(const kn_shard_list_t *list, kn_shard_info_t **out);

/**
 * The child leases of `parent` found in a full shard listing (the shards that
 * name it as a parent), as kn_shard_sync_children makes them. None is fine.
 */
kn_err_t kn_shard_sync_children_of(const char *parent, const kn_shard_info_t *shards, size_t n,
                                   kn_lease_t **out, size_t *nout);

#endif
