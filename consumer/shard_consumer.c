/* One held lease's state machine; see shard_consumer.h. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "checkpointer.h"
#include "processor_pool.h"
#include "shard_consumer.h"

#define LOG_FAC "shard_consumer"

enum { ST_WAITING, ST_INITIALIZING, ST_PROCESSING, ST_SHARD_END, ST_DONE };

struct kn_shard_consumer_s {
    kn_shard_env_t env;
    kn_lease_t lease; /* as acquired: key, parents */
    uint64_t token;
    int state;
    int initialized; /* the processor's initialize ran */
    void *app_state;
    kn_retriever_t *ret;
    kn_batch_builder_t *bb;
    kn_checkpointer_t cp;
    kn_esn_t start;
    kn_lease_t *children; /* child leases to create at the end of the shard */
    size_t nchildren;
    int children_known, children_done;
    atomic_int lost, shutdown, caught_up;
};

kn_shard_consumer_t *kn_shard_consumer_new(const kn_shard_env_t *env, const kn_lease_t *lease,
                                           uint64_t token) {
    kn_shard_consumer_t *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    sc->env = *env;
    sc->token = token;
    sc->state = ST_WAITING;
    atomic_init(&sc->lost, 0);
    atomic_init(&sc->shutdown, 0);
    atomic_init(&sc->caught_up, 0);
    if (kn_lease_copy(&sc->lease, lease) || !(sc->bb = kn_batch_builder_new())) {
        kn_shard_consumer_destroy(sc);
        return NULL;
    }
    /* the KCL's hash-range rule for aggregates; leases of older tables carry no range */
    kn_err_t rc = kn_batch_builder_set_hash_range(sc->bb, lease->starting_hash_key,
                                                  lease->ending_hash_key);
    if (rc == KN_ERR_INVALID_ARG)
        KN_LOG_WARN(&sc->env.lg, LOG_FAC, "%s: unusable hash range in the lease, not checked",
                    lease->key);
    else if (rc) {
        kn_shard_consumer_destroy(sc);
        return NULL;
    }
    return sc;
}

void kn_shard_consumer_destroy(kn_shard_consumer_t *sc) {
    if (!sc)
        return;
    if (sc->ret)
        sc->ret->destroy(sc->ret);
    kn_batch_builder_destroy(sc->bb);
    kn_shard_sync_free(sc->children, sc->nchildren);
    kn_lease_clear(&sc->lease);
    free(sc);
}

const char *kn_shard_consumer_shard_id(const kn_shard_consumer_t *sc) {
    return sc->lease.key;
}

int kn_shard_consumer_caught_up(const kn_shard_consumer_t *sc) {
    return atomic_load(&((kn_shard_consumer_t *)sc)->caught_up);
}

void kn_shard_consumer_lost(kn_shard_consumer_t *sc) {
    atomic_store(&sc->lost, 1);
}

void kn_shard_consumer_shutdown(kn_shard_consumer_t *sc) {
    atomic_store(&sc->shutdown, 1);
}

static const char *key(const kn_shard_consumer_t *sc) {
    return sc->lease.key;
}

static void log_error(kn_shard_consumer_t *sc, const char *what, kn_err_t rc, kn_error_t *e) {
    char buf[512];
    KN_LOG_WARN(&sc->env.lg, LOG_FAC, "%s: %s: %s", key(sc), what,
                e ? kn_error_format(e, buf, sizeof(buf)) : kn_err2str(rc));
    kn_error_destroy(e);
}

/* ---- checkpoints: conditional writes of the held lease ---- */

static kn_err_t ckpt_write(void *opaque, const kn_esn_t *checkpoint, const kn_esn_t *pending) {
    kn_shard_consumer_t *sc = opaque;
    kn_lease_t l;
    kn_err_t rc = kn_lease_manager_get(sc->env.leases, key(sc), sc->token, &l);
    if (rc) {
        atomic_store(&sc->lost, 1);
        return KN_ERR_LEASE_LOST;
    }
    if (checkpoint) {
        l.checkpoint = *checkpoint;
        l.owner_switches = 0;
        l.has_pending = 0;
    }
    if (pending) {
        l.pending = *pending;
        l.has_pending = 1;
    }
    kn_error_t *e = NULL;
    rc = kn_lease_manager_update(sc->env.leases, &l, sc->token, &e);
    kn_lease_clear(&l);
    if (rc == KN_ERR_LEASE_LOST)
        atomic_store(&sc->lost, 1);
    if (rc && rc != KN_ERR_LEASE_LOST)
        log_error(sc, "checkpoint failed", rc, e);
    else
        kn_error_destroy(e);
    return rc;
}

/* ---- endings ---- */

static int64_t finish(kn_shard_consumer_t *sc) {
    sc->state = ST_DONE;
    return KN_POOL_DONE;
}

static int64_t finish_lost(kn_shard_consumer_t *sc) {
    KN_LOG_INFO(&sc->env.lg, LOG_FAC, "%s: lease lost", key(sc));
    if (sc->initialized && sc->env.processor->lease_lost)
        sc->env.processor->lease_lost(sc->env.opaque, sc->app_state);
    return finish(sc);
}

static void release(kn_shard_consumer_t *sc) {
    kn_error_t *e = NULL;
    kn_err_t rc = kn_lease_manager_release(sc->env.leases, key(sc), sc->token, &e);
    if (rc && rc != KN_ERR_LEASE_LOST)
        log_error(sc, "release failed (the lease will expire instead)", rc, e);
    else
        kn_error_destroy(e);
}

static int64_t finish_shutdown(kn_shard_consumer_t *sc) {
    if (sc->initialized && sc->env.processor->shutdown_requested)
        sc->env.processor->shutdown_requested(sc->env.opaque, sc->app_state, &sc->cp);
    if (atomic_load(&sc->lost))
        return finish(sc); /* the processor found out while checkpointing */
    release(sc);
    KN_LOG_DBG(&sc->env.lg, LOG_FAC, "%s: released for shutdown", key(sc));
    return finish(sc);
}

/* ---- states ---- */

static int parents_done(kn_shard_consumer_t *sc) {
    if (sc->env.predecessor_running && sc->env.predecessor_running(sc->env.ctx, key(sc), sc))
        return 0;
    if (!sc->lease.nparents)
        return 1;
    kn_lease_t *snap;
    size_t n;
    if (kn_lease_manager_snapshot(sc->env.leases, &snap, &n))
        return 0;
    int done = kn_shard_sync_parents_done(&sc->lease, snap, n);
    kn_lease_manager_free_leases(snap, n);
    return done;
}

static int64_t initialize(kn_shard_consumer_t *sc, int64_t now) {
    kn_lease_t l;
    if (kn_lease_manager_get(sc->env.leases, key(sc), sc->token, &l))
        return finish_lost(sc);
    if (l.checkpoint.kind == KN_ESN_SHARD_END) {
        kn_lease_clear(&l);
        release(sc); /* nothing left to read */
        return finish(sc);
    }
    kn_retrieval_start_t start = {sc->env.stream, key(sc), l.checkpoint, sc->env.timestamp_ms};
    kn_error_t *e = NULL;
    sc->ret = sc->env.new_retriever(sc->env.ctx, &start, &e);
    if (!sc->ret) {
        kn_lease_clear(&l);
        log_error(sc, "cannot start retrieval", KN_ERR_NOMEM, e);
        return now + sc->env.poll_ms;
    }
    sc->start = l.checkpoint;
    kn_ckpt_init(&sc->cp, &l, ckpt_write, sc);
    kn_shard_start_t info = {key(sc), kn_esn_str(&l.checkpoint), l.checkpoint.subseq,
                             l.has_pending ? kn_esn_str(&l.pending) : NULL,
                             l.has_pending ? l.pending.subseq : 0};
    KN_LOG_INFO(&sc->env.lg, LOG_FAC, "%s: starting at %s/%lld", key(sc), info.checkpoint,
                (long long)info.checkpoint_subsequence);
    if (sc->env.processor->initialize)
        sc->env.processor->initialize(sc->env.opaque, &info, &sc->app_state);
    kn_lease_clear(&l);
    sc->initialized = 1;
    sc->state = ST_PROCESSING;
    return now;
}

/* Remembers the children reported with the end of the shard. */
static void note_children(kn_shard_consumer_t *sc, const kn_get_records_result_t *res) {
    if (!res || !res->child_shard_count)
        return;
    kn_shard_info_t *info = calloc(res->child_shard_count, sizeof(*info));
    if (!info)
        return;
    for (size_t i = 0; i < res->child_shard_count; i++) {
        const kn_child_shard_t *c = &res->child_shards[i];
        info[i].id = c->shard_id;
        info[i].parent = c->parent_count > 0 ? c->parent_shards[0] : NULL;
        info[i].adjacent_parent = c->parent_count > 1 ? c->parent_shards[1] : NULL;
        info[i].starting_hash_key = c->starting_hash_key;
        info[i].ending_hash_key = c->ending_hash_key;
    }
    kn_err_t rc = kn_shard_sync_children(key(sc), info, res->child_shard_count, &sc->children,
                                         &sc->nchildren);
    if (rc == KN_OK)
        sc->children_known = 1;
    else
        KN_LOG_WARN(&sc->env.lg, LOG_FAC, "%s: unusable ChildShards (%s), asking ListShards",
                    key(sc), kn_err2name(rc));
    free(info);
}

/* Counts and reports the aggregates the last build dropped for the hash range. */
static void note_drops(kn_shard_consumer_t *sc) {
    const kn_batch_drop_t *d;
    size_t n = kn_batch_builder_drops(sc->bb, &d);
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&sc->env.counters->dropped_aggregates, 1);
        atomic_fetch_add(&sc->env.counters->dropped_records, d[i].user_records);
        KN_LOG_WARN(&sc->env.lg, LOG_FAC,
                    "%s: KPL aggregate %s dropped whole (%zu user records): it holds a user "
                    "record outside the shard's hash range, as a producer's copy sent to the "
                    "wrong shard during a reshard does (the KCL drops it too)",
                    key(sc), d[i].sequence_number, d[i].user_records);
    }
}

static void deliver(kn_shard_consumer_t *sc, const kn_get_records_result_t *res) {
    const kn_user_record_t *recs;
    size_t n;
    kn_esn_t last;
    size_t malformed = kn_batch_builder_malformed(sc->bb);
    kn_err_t rc = kn_batch_build(sc->bb, res->records, res->record_count, &sc->start, &recs, &n,
                                 &last);
    if (rc) {
        log_error(sc, "cannot build a batch", rc, NULL);
        return;
    }
    if (kn_batch_builder_malformed(sc->bb) != malformed) {
        atomic_fetch_add(&sc->env.counters->malformed_aggregates,
                         kn_batch_builder_malformed(sc->bb) - malformed);
        KN_LOG_WARN(&sc->env.lg, LOG_FAC, "%s: malformed KPL aggregate delivered as a plain record",
                    key(sc));
    }
    note_drops(sc);
    if (!n)
        return;
    kn_batch_t batch = {key(sc), recs, n, res->millis_behind_latest};
    kn_ckpt_delivered(&sc->cp, &last); /* the processor may checkpoint the batch's end */
    sc->env.processor->process_records(sc->env.opaque, sc->app_state, &batch, &sc->cp);
    atomic_fetch_add(&sc->env.counters->records, n);
    atomic_fetch_add(&sc->env.counters->batches, 1);
}

static int64_t process(kn_shard_consumer_t *sc, int64_t now) {
    kn_fetch_t f;
    kn_error_t *e = NULL;
    kn_err_t rc = sc->ret->fetch(sc->ret, &f, &e);
    if (rc) {
        log_error(sc, "fetching records failed", rc, e);
        return now + f.next_ms;
    }
    kn_error_destroy(e);
    if (f.result) {
        atomic_store(&sc->caught_up, f.result->millis_behind_latest == 0);
        deliver(sc, f.result);
    }
    if (f.shard_end) {
        note_children(sc, f.result);
        sc->state = ST_SHARD_END;
        KN_LOG_INFO(&sc->env.lg, LOG_FAC, "%s: end of shard reached", key(sc));
    }
    kn_get_records_result_destroy(f.result);
    return f.shard_end ? now : now + f.next_ms;
}

/* Child leases and the parent's childShardIds; KN_OK once both are written. */
static kn_err_t write_children(kn_shard_consumer_t *sc) {
    kn_error_t *e = NULL;
    kn_err_t rc = KN_OK;
    if (!sc->children_known && sc->env.list_shards) {
        kn_shard_list_t *list = NULL;
        kn_shard_info_t *info = NULL;
        rc = sc->env.list_shards(sc->env.ctx, &list, &e);
        if (rc == KN_OK)
            rc = kn_shard_sync_infos(list, &info);
        if (rc == KN_OK)
            rc = kn_shard_sync_children_of(key(sc), info, list->count, &sc->children,
                                           &sc->nchildren);
        free(info);
        kn_shard_list_destroy(list);
        if (rc) {
            log_error(sc, "cannot list child shards", rc, e);
            return rc;
        }
        sc->children_known = 1;
    }
    for (size_t i = 0; i < sc->nchildren; i++) {
        if ((rc = kn_lease_manager_create(sc->env.leases, &sc->children[i], &e))) {
            log_error(sc, "cannot create a child lease", rc, e);
            return rc;
        }
    }
    if (!sc->nchildren)
        return KN_OK;
    kn_lease_t l;
    if (kn_lease_manager_get(sc->env.leases, key(sc), sc->token, &l))
        return KN_ERR_LEASE_LOST;
    for (size_t i = 0; !rc && i < sc->nchildren; i++)
        rc = kn_lease_add_relative(l.children, &l.nchildren, sc->children[i].key);
    if (!rc)
        rc = kn_lease_manager_update(sc->env.leases, &l, sc->token, &e);
    kn_lease_clear(&l);
    if (rc && rc != KN_ERR_LEASE_LOST)
        log_error(sc, "cannot record childShardIds", rc, e);
    else
        kn_error_destroy(e);
    return rc;
}

static int64_t shard_end(kn_shard_consumer_t *sc, int64_t now) {
    if (!sc->children_done) {
        kn_err_t rc = write_children(sc);
        if (rc == KN_ERR_LEASE_LOST)
            return finish_lost(sc);
        if (rc)
            return now + sc->env.poll_ms;
        sc->children_done = 1;
    }
    kn_esn_t end = kn_esn_sentinel(KN_ESN_SHARD_END);
    kn_ckpt_delivered(&sc->cp, &end);
    if (sc->env.processor->shard_ended)
        sc->env.processor->shard_ended(sc->env.opaque, sc->app_state, &sc->cp);
    else
        kn_checkpoint(&sc->cp); /* no callback: the library records the end itself */
    if (atomic_load(&sc->lost))
        return finish(sc); /* its checkpoint found the lease gone; the callback was the last */
    if (sc->cp.last.kind != KN_ESN_SHARD_END) {
        KN_LOG_ERR(&sc->env.lg, LOG_FAC,
                   "%s: shard_ended did not checkpoint SHARD_END; the shard's children cannot "
                   "start until it does (asking again)", key(sc));
        return now + sc->env.shard_end_retry_ms;
    }
    release(sc);
    return finish(sc);
}

int64_t kn_shard_consumer_step(void *arg, int64_t now_ms) {
    kn_shard_consumer_t *sc = arg;
    if (sc->state == ST_DONE)
        return KN_POOL_DONE;
    if (atomic_load(&sc->lost) ||
        kn_lease_manager_get(sc->env.leases, key(sc), sc->token, NULL) != KN_OK)
        return finish_lost(sc);
    if (atomic_load(&sc->shutdown))
        return finish_shutdown(sc);
    switch (sc->state) {
    case ST_WAITING:
        if (!parents_done(sc))
            return now_ms + sc->env.poll_ms;
        sc->state = ST_INITIALIZING;
        /* fall through */
    case ST_INITIALIZING:
        return initialize(sc, now_ms);
    case ST_PROCESSING:
        return process(sc, now_ms);
    default:
        return shard_end(sc, now_ms);
    }
}
