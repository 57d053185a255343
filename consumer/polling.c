/* Polling retrieval with GetShardIterator and GetRecords; see polling.h. */
#include <stdlib.h>
#include <string.h>

#include "polling.h"

#define LOG_FAC "polling"
/* First retry pause; doubled per consecutive failure up to KN_POLLING_MAX_BACKOFF_MS. */
#define BACKOFF_BASE_MS 200
#define THROTTLE_FACTOR 5

typedef struct {
    kn_retriever_t base; /* first: the shard consumer holds a kn_retriever_t * */
    kn_kinesis_t *k;
    char *stream;
    char *shard_id;
    kn_esn_t from;
    int64_t timestamp_ms;
    kn_polling_conf_t pc;
    kn_logger_t lg;
    char *iterator;     /* NULL: get a new one first */
    char *last_fetched; /* sequence number of the last record fetched, NULL before any */
    int errors;         /* consecutive failures */
} polling_t;

void kn_polling_position(const kn_esn_t *from, int64_t timestamp_ms, const char *last_fetched,
                         kn_position_t *pos) {
    memset(pos, 0, sizeof(*pos));
    if (last_fetched) {
        pos->type = KN_POSITION_AFTER_SEQUENCE_NUMBER;
        pos->sequence_number = last_fetched;
        return;
    }
    switch (from->kind) {
    case KN_ESN_NUMBER:
        pos->type = KN_POSITION_AT_SEQUENCE_NUMBER;
        pos->sequence_number = from->seq;
        break;
    case KN_ESN_LATEST:
        pos->type = KN_POSITION_LATEST;
        break;
    case KN_ESN_AT_TIMESTAMP:
        pos->type = KN_POSITION_AT_TIMESTAMP;
        pos->timestamp_ms = timestamp_ms;
        break;
    default:
        pos->type = KN_POSITION_TRIM_HORIZON;
        break;
    }
}

int64_t kn_polling_backoff_ms(int errors, int throttled) {
    if (errors <= 0)
        return 0;
    int64_t d = BACKOFF_BASE_MS * (throttled ? THROTTLE_FACTOR : 1);
    for (int i = 1; i < errors && d < KN_POLLING_MAX_BACKOFF_MS; i++)
        d *= 2;
    return d < KN_POLLING_MAX_BACKOFF_MS ? d : KN_POLLING_MAX_BACKOFF_MS;
}

static int throttled(kn_err_t rc) {
    return rc == KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED || rc == KN_ERR_LIMIT_EXCEEDED ||
           rc == KN_ERR_THROTTLING;
}

static kn_err_t failed(polling_t *p, kn_err_t rc, kn_fetch_t *f) {
    p->errors++;
    f->next_ms = kn_polling_backoff_ms(p->errors, throttled(rc));
    return rc;
}

static void drop_error(kn_error_t **err) {
    if (err) {
        kn_error_destroy(*err);
        *err = NULL;
    }
}

/* The shard is gone (trimmed, or the stream re-created): a synthetic end, as the KCL does. */
static kn_err_t shard_gone(polling_t *p, kn_fetch_t *f, kn_error_t **err) {
    KN_LOG_WARN(&p->lg, LOG_FAC, "%s: shard not found, treating it as ended", p->shard_id);
    drop_error(err);
    f->shard_end = 1;
    return KN_OK;
}

static void count_call(polling_t *p) {
    if (p->pc.calls)
        atomic_fetch_add(p->pc.calls, 1);
}

static kn_err_t new_iterator(polling_t *p, kn_fetch_t *f, kn_error_t **err) {
    count_call(p);
    kn_position_t pos;
    kn_polling_position(&p->from, p->timestamp_ms, p->last_fetched, &pos);
    kn_err_t rc = kn_kinesis_get_shard_iterator(p->k, p->stream, p->shard_id, &pos, &p->iterator,
                                                err);
    if (rc == KN_ERR_RESOURCE_NOT_FOUND) {
        return shard_gone(p, f, err);
    }
    return rc ? failed(p, rc, f) : KN_OK;
}

static kn_err_t polling_fetch(kn_retriever_t *r, kn_fetch_t *f, kn_error_t **err) {
    polling_t *p = (polling_t *)r;
    memset(f, 0, sizeof(*f));
    if (!p->iterator) {
        kn_err_t rc = new_iterator(p, f, err);
        if (rc || f->shard_end)
            return rc;
    }
    kn_get_records_result_t *res = NULL;
    count_call(p);
    kn_err_t rc = kn_kinesis_get_records(p->k, p->iterator, p->pc.max_records, &res, err);
    if (rc == KN_ERR_EXPIRED_ITERATOR) {
        /* Iterators live 5 minutes: start again after the last record fetched. */
        KN_LOG_DBG(&p->lg, LOG_FAC, "%s: iterator expired, getting a new one", p->shard_id);
        free(p->iterator);
        p->iterator = NULL;
        drop_error(err);
        return KN_OK;
    }
    if (rc == KN_ERR_RESOURCE_NOT_FOUND) {
        return shard_gone(p, f, err);
    }
    if (rc)
        return failed(p, rc, f);
    p->errors = 0;
    if (res->record_count) {
        char *last = strdup(res->records[res->record_count - 1].sequence_number);
        if (!last) {
            kn_get_records_result_destroy(res);
            return failed(p, KN_ERR_NOMEM, f);
        }
        free(p->last_fetched);
        p->last_fetched = last;
    }
    free(p->iterator);
    p->iterator = res->next_shard_iterator; /* NULL: closed and read to the end */
    res->next_shard_iterator = NULL;
    f->shard_end = p->iterator == NULL;
    f->result = res;
    f->next_ms = res->record_count && res->millis_behind_latest > 0 ? KN_POLLING_BEHIND_PAUSE_MS
                                                                     : p->pc.idle_ms;
    return KN_OK;
}

static void polling_destroy(kn_retriever_t *r) {
    polling_t *p = (polling_t *)r;
    if (!p)
        return;
    free(p->stream);
    free(p->shard_id);
    free(p->iterator);
    free(p->last_fetched);
    free(p);
}

kn_retriever_t *kn_polling_new(kn_kinesis_t *k, const kn_retrieval_start_t *start,
                               const kn_polling_conf_t *pc, const kn_logger_t *lg) {
    if (!k || !start || !start->stream || !start->shard_id || !pc)
        return NULL;
    polling_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->base.fetch = polling_fetch;
    p->base.destroy = polling_destroy;
    p->k = k;
    p->from = start->from;
    p->timestamp_ms = start->timestamp_ms;
    p->pc = *pc;
    if (lg)
        p->lg = *lg;
    p->stream = strdup(start->stream);
    p->shard_id = strdup(start->shard_id);
    if (!p->stream || !p->shard_id) {
        polling_destroy(&p->base);
        return NULL;
    }
    return &p->base;
}
