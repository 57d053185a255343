/*
 * What a shard consumer needs from a retrieval mode. Polling (polling.c,
 * GetRecords) implements it; enhanced fan-out (fanout.c, SubscribeToShard)
 * plugs in the same way, and everything after retrieval (deaggregation,
 * delivery, checkpoints, shard end) is shared.
 *
 * A retriever belongs to one shard consumer and is called from whichever pool
 * thread runs that shard's step, one call at a time.
 */
#ifndef KN_RETRIEVAL_H
#define KN_RETRIEVAL_H

#include <stdint.h>

#include "kinesis/kinesis.h"
#include "lease.h"

/** The outcome of one fetch. */
typedef struct kn_fetch_s {
    /* Records, MillisBehindLatest and (at the end of a closed shard) ChildShards;
     * NULL when nothing arrived. The caller destroys it. */
    kn_get_records_result_t *result;
    int shard_end;   /* the shard is closed and every record was fetched */
    int64_t next_ms; /* fetch again after this many milliseconds (also after an error) */
} kn_fetch_t;

typedef struct kn_retriever_s kn_retriever_t;
struct kn_retriever_s {
    /**
     * One step of retrieval, blocking for at most one request. KN_OK with *f
     * filled; otherwise the error (with *err) and f->next_ms for the retry.
     */
    kn_err_t (*fetch)(kn_retriever_t *r, kn_fetch_t *f, kn_error_t **err);
    /** Frees the retriever. */
    void (*destroy)(kn_retriever_t *r);
};

/**
 * Where reading starts. A checkpoint (a sequence number) is read AT that
 * sequence number, and the batch builder drops what the checkpoint covers, so
 * the rest of a partly processed KPL aggregate is delivered; a sentinel maps to
 * TRIM_HORIZON, LATEST or AT_TIMESTAMP (at timestamp_ms).
 */
typedef struct kn_retrieval_start_s {
    const char *stream;
    const char *shard_id;
    kn_esn_t from;
    int64_t timestamp_ms;
} kn_retrieval_start_t;

#endif
