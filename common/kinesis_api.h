/*
 * Internal side of the Kinesis client (kinesis/kinesis.h is the public side):
 * construction over a shared transport, async calls for the producer and
 * consumer, and the SubscribeToShard entry point.
 *
 * Async calls: on KN_OK the `done` callback runs exactly once, on the
 * transport's I/O thread (it must not block; it may start further async
 * calls). The typed result passed to it belongs to the callback (destroy it);
 * on failure the result is NULL and `err` (valid during the call only) is the
 * last attempt's error. Any other return means nothing started, no callback,
 * and *err (if not NULL) says why.
 *
 * SubscribeToShard: kn_kinesis_subscribe_to_shard() builds, signs and starts
 * the request on the streaming hook of service_call.h; the 2xx body (an AWS
 * event stream, application/vnd.amazon.eventstream) reaches cbs->on_data in raw
 * chunks, with pause/resume/cancel through kn_service_stream_*. Decoding the
 * events (common/event_stream.c) and turning SubscribeToShardEvent payloads
 * into records (kn_kj_parse_records + ContinuationSequenceNumber) is the
 * fan-out consumer's part.
 */
#ifndef KN_KINESIS_API_H
#define KN_KINESIS_API_H

#include "http.h"
#include "kinesis/kinesis.h"
#include "kinesis_json.h"
#include "service_call.h"

/** The Kinesis X-Amz-Target prefix and content type. */
#define KN_KINESIS_TARGET_PREFIX "Kinesis_20131202."
#define KN_KINESIS_CONTENT_TYPE  "application/x-amz-json-1.1"

/**
 * A client over a transport and credential chain the caller keeps (both
 * borrowed, either NULL to create a private one from conf). NULL with *err on
 * failure.
 */
kn_kinesis_t *kn_kinesis_new_shared(const kn_conf_t *conf, kn_http_t *http, kn_creds_t *creds,
                                    kn_error_t **err);

/** The generic call context, for operations without a typed wrapper. */
kn_service_t *kn_kinesis_service(kn_kinesis_t *k);

/** Tests only: turn off the client-side service-limit checks to provoke server-side errors. */
void kn_kinesis_set_limit_checks(kn_kinesis_t *k, int on);

/** PutRecords completion; `result` belongs to the callback. */
typedef void(kn_put_records_done_fn)(void *opaque, kn_put_records_result_t *result,
                                     const kn_error_t *err);
/**
 * PutRecords, async. The entries are encoded before this returns, so they need
 * not outlive the call. opts->max_attempts = 1 for callers that retry failed
 * entries themselves (the producer).
 */
kn_err_t kn_kinesis_put_records_async(kn_kinesis_t *k, const char *stream,
                                      const kn_put_entry_t *entries, size_t count,
                                      const kn_call_opts_t *opts, kn_put_records_done_fn *done,
                                      void *opaque, kn_error_t **err);

/** ListShards completion; `result` belongs to the callback. */
typedef void(kn_list_shards_done_fn)(void *opaque, kn_shard_list_t *result, const kn_error_t *err);
/** One ListShards page, async; arguments as kn_kinesis_list_shards(). */
kn_err_t kn_kinesis_list_shards_async(kn_kinesis_t *k, const char *stream,
                                      const kn_shard_filter_t *filter, int max_results,
                                      const char *next_token, const kn_call_opts_t *opts,
                                      kn_list_shards_done_fn *done, void *opaque, kn_error_t **err);

/** GetRecords completion; `result` belongs to the callback. */
typedef void(kn_get_records_done_fn)(void *opaque, kn_get_records_result_t *result,
                                     const kn_error_t *err);
/** GetRecords, async. */
kn_err_t kn_kinesis_get_records_async(kn_kinesis_t *k, const char *shard_iterator, int limit,
                                      const kn_call_opts_t *opts, kn_get_records_done_fn *done,
                                      void *opaque, kn_error_t **err);

/** GetShardIterator completion; `iterator` belongs to the callback (free()). */
typedef void(kn_shard_iterator_done_fn)(void *opaque, char *iterator, const kn_error_t *err);
/** GetShardIterator, async. */
kn_err_t kn_kinesis_get_shard_iterator_async(kn_kinesis_t *k, const char *stream,
                                             const char *shard_id, const kn_position_t *position,
                                             const kn_call_opts_t *opts,
                                             kn_shard_iterator_done_fn *done, void *opaque,
                                             kn_error_t **err);

/**
 * Starts SubscribeToShard for `consumer_arn` on `shard_id` from `position`
 * (never retried here; the caller resubscribes). See the file comment and
 * kn_service_stream_start() for the callbacks and the handle.
 */
kn_err_t kn_kinesis_subscribe_to_shard(kn_kinesis_t *k, const char *consumer_arn,
                                       const char *shard_id, const kn_position_t *position,
                                       const kn_service_stream_cbs_t *cbs,
                                       kn_service_stream_t **stream, kn_error_t **err);

#endif
