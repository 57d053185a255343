/*
 * The pipeline's sender over the Kinesis client: PutRecords and ListShards as
 * async calls whose completions (on the transport's I/O thread) go straight
 * back to the pipeline's completion queue. PutRecords is tried once per call
 * (the retrier decides about every entry); ListShards keeps the client's own
 * retries and asks for the open shards only (AT_LATEST; a peer that ignores
 * the filter is fine, closed shards are skipped by the shard map).
 */
#ifndef KN_SENDER_H
#define KN_SENDER_H

#include "kinesis_api.h"
#include "pipeline.h"

/** Largest page asked of ListShards. */
#define KN_SENDER_LIST_PAGE 1000

/** A sender over `k` (borrowed; it must outlive every call it starts). */
kn_sender_t kn_sender_kinesis(kn_kinesis_t *k);

#endif
