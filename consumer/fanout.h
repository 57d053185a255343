/*
 * Enhanced fan-out retrieval (retrieval.mode=fanout): one SubscribeToShard
 * HTTP/2 stream per held shard, behind the same retriever interface as polling,
 * so leases, checkpoints, deaggregation, shard end and shutdown are shared.
 *
 * The transport's I/O thread feeds each stream's bytes into the shard's core
 * (fanout_stream.h), which queues events up to a bound and pauses the HTTP/2
 * stream when the queue is full; flow control then stops the server for that
 * shard alone. The shard's pool step (fetch) takes one event at a time, parses
 * it off the I/O thread, resumes the stream once the queue is half empty, and
 * subscribes again when a subscription ended (every 5 minutes), broke, or went
 * silent. A fetch never blocks on the network except to start a subscription or
 * to check a shard's end; an empty queue returns at once, and the retriever
 * wakes its shard through `wake` when an event or the end of a subscription
 * arrives.
 *
 * Shard end: an event with ChildShards. Servers that never send ChildShards
 * (kinesis-local) are covered too: when the shard is caught up and idle, a
 * ListShards listing (shared by all shards, at most one call per
 * KN_FANOUT_SHARD_CHECK_MS) says whether it is closed or gone; if so,
 * GetShardIterator + GetRecords after the last continuation confirm that
 * nothing is left and bring the children.
 */
#ifndef KN_FANOUT_H
#define KN_FANOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kinesis_api.h"
#include "log.h"
#include "fanout_stream.h"
#include "retrieval.h"

/** No message for this long on an unpaused subscription: subscribe again (KCL: 60 s). */
#define KN_FANOUT_WATCHDOG_MS 30000
/** Age after which the shared ListShards listing of the closed-shard check is refreshed. */
#define KN_FANOUT_SHARD_CHECK_MS 5000
/** Longest a fetch with nothing to do sleeps before looking again (the wake usually comes first). */
#define KN_FANOUT_IDLE_RECHECK_MS 5000
/**
 * Connections of the subscriptions' own transport. Over TLS they multiplex (100
 * streams per connection); over plain http each subscription needs a connection of
 * its own (libcurl before 8.0, see http.h), so this also caps the shards one worker
 * can subscribe to over h2c.
 */
#define KN_FANOUT_MAX_CONNECTIONS 256

typedef struct kn_fanout_conf_s {
    const char *stream;           /* name or ARN */
    const char *consumer_arn;     /* the registered stream consumer */
    size_t max_queued_events;     /* per shard: pause the stream at this many events */
    size_t max_queued_bytes;      /* per shard: or at this many payload bytes */
    int64_t watchdog_ms;          /* 0: KN_FANOUT_WATCHDOG_MS */
    atomic_uint_least64_t *calls; /* counts Kinesis requests, or NULL */
} kn_fanout_conf_t;

/** What the shards of one worker share: client, consumer ARN, limits, the shard listing. */
typedef struct kn_fanout_s kn_fanout_t;

/**
 * A fan-out context. Subscriptions run on a transport of their own made from
 * `conf` (endpoint, region, TLS settings) with KN_FANOUT_MAX_CONNECTIONS
 * connections, so streams that stay open for minutes never hold the connections
 * client `k` (borrowed: the ListShards and GetRecords calls of the shard-end
 * check) needs. `creds` (borrowed; NULL: a chain from conf) signs them. NULL with
 * *err (if err is not NULL) on bad arguments or failure.
 */
kn_fanout_t *kn_fanout_new(const kn_conf_t *conf, kn_kinesis_t *k, kn_creds_t *creds,
                           const kn_fanout_conf_t *fc, const kn_logger_t *lg, kn_error_t **err);
/**
 * Frees the context and its transport; every retriever made from it must be
 * destroyed first. Not on the transport's I/O thread. Accepts NULL.
 */
void kn_fanout_destroy(kn_fanout_t *fo);

/** Asks the shard's pool step to run soon. Called on the I/O thread; must not block long. */
typedef void(kn_fanout_wake_fn)(void *ctx);

/**
 * A retriever subscribing to start->shard_id. `wake` (may be NULL: the fetch
 * then polls its queue often) is called with wake_ctx until the retriever's
 * destroy returns, never after. destroy cancels the live subscription and waits
 * for it to close; it must not run on the transport's I/O thread. NULL when out
 * of memory.
 */
kn_retriever_t *kn_fanout_retriever_new(kn_fanout_t *fo, const kn_retrieval_start_t *start,
                                        kn_fanout_wake_fn *wake, void *wake_ctx);

/** The counters of a retriever made by kn_fanout_retriever_new (any thread). */
void kn_fanout_retriever_stats(kn_retriever_t *r, kn_fo_stats_t *st);

#endif
