/* PutRecords/ListShards through the Kinesis client, completions to the pipeline. */
#include "sender.h"

static void on_put(void *ticket, kn_put_records_result_t *result, const kn_error_t *err) {
    kn_pipeline_put_done(ticket, result, err);
}

static void on_list(void *ticket, kn_shard_list_t *result, const kn_error_t *err) {
    kn_pipeline_list_done(ticket, result, err);
}

static kn_err_t put_records(void *ctx, const char *stream, const kn_put_entry_t *entries,
                            size_t count, void *ticket, kn_error_t **err) {
    const kn_call_opts_t once = {.max_attempts = 1};
    return kn_kinesis_put_records_async(ctx, stream, entries, count, &once, on_put, ticket, err);
}

static kn_err_t list_shards(void *ctx, const char *stream, const char *next_token, void *ticket,
                            kn_error_t **err) {
    const kn_shard_filter_t open = {.type = KN_SHARD_FILTER_AT_LATEST};
    /* a later page names neither the stream nor the filter (the service forbids it) */
    return kn_kinesis_list_shards_async(ctx, next_token ? NULL : stream,
                                        next_token ? NULL : &open, KN_SENDER_LIST_PAGE,
                                        next_token, NULL, on_list, ticket, err);
}

kn_sender_t kn_sender_kinesis(kn_kinesis_t *k) {
    kn_sender_t s = {put_records, list_shards, k};
    return s;
}
