/*
 * The property table: every configurable value of every component, with its
 * type, range, default and description. kn_conf_set/get parse and print through
 * it, and docs/CONFIGURATION.md is generated from it, so the two cannot drift.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

typedef enum { PT_STR, PT_INT, PT_BOOL, PT_ENUM } prop_type_t;

#define PF_SECRET 0x1 /* never printed back */

typedef struct {
    const char *name;
    const char *scope; /* common, producer, consumer */
    prop_type_t type;
    size_t offset;
    const char *def;
    int64_t min, max;    /* PT_INT */
    const char *values;  /* PT_ENUM: '|'-separated, index = stored value */
    const int *enum_map; /* PT_ENUM: stored value per index, NULL = index */
    int flags;
    const char *desc;
} prop_t;

#define F(field) offsetof(struct kn_conf_s, field)

static const int log_levels[] = {KN_LOG_ERROR, KN_LOG_WARN, KN_LOG_INFO, KN_LOG_DEBUG,
                                 KN_LOG_TRACE};

static const prop_t props[] = {
    {"region", "common", PT_STR, F(region), "", 0, 0, NULL, NULL, 0,
     "AWS region. Empty: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's `region`."},
    {"profile", "common", PT_STR, F(profile), "", 0, 0, NULL, NULL, 0,
     "Shared-file profile for credentials and region. Empty: AWS_PROFILE, else `default`."},
    {"kinesis.endpoint.url", "common", PT_STR, F(kinesis_endpoint), "", 0, 0, NULL, NULL, 0,
     "Kinesis endpoint URL. Empty: AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL, then "
     "`https://kinesis.<region>.amazonaws.com`."},
    {"dynamodb.endpoint.url", "common", PT_STR, F(dynamodb_endpoint), "", 0, 0, NULL, NULL, 0,
     "DynamoDB endpoint URL (lease table). Empty: AWS_ENDPOINT_URL_DYNAMODB, then "
     "AWS_ENDPOINT_URL, then `https://dynamodb.<region>.amazonaws.com`."},
    {"sts.endpoint.url", "common", PT_STR, F(sts_endpoint), "", 0, 0, NULL, NULL, 0,
     "STS endpoint URL. Empty: AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, then "
     "`https://sts.<region>.amazonaws.com`."},
    {"credentials.access.key.id", "common", PT_STR, F(access_key_id), "", 0, 0, NULL, NULL, 0,
     "Static access key id. When set (with the secret), the provider chain is not consulted."},
    {"credentials.secret.access.key", "common", PT_STR, F(secret_access_key), "", 0, 0, NULL,
     NULL, PF_SECRET, "Static secret access key. Never logged or read back."},
    {"credentials.session.token", "common", PT_STR, F(session_token), "", 0, 0, NULL, NULL,
     PF_SECRET, "Static session token for temporary credentials. Never logged or read back."},
    {"tls.ca.file", "common", PT_STR, F(ca_file), "", 0, 0, NULL, NULL, 0,
     "PEM file of CA certificates to trust. Empty: AWS_CA_BUNDLE, else the system store."},
    {"tls.verify", "common", PT_BOOL, F(tls_verify), "true", 0, 1, NULL, NULL, 0,
     "Verify the server certificate and host name. Turn off only for testing."},
    {"http.version", "common", PT_ENUM, F(http_version), "auto", 0, 0, "auto|1.1|2", NULL, 0,
     "`auto`: HTTP/2 over TLS when the server offers it (ALPN), HTTP/1.1 on plain http "
     "except streaming calls, which use HTTP/2 with prior knowledge. `1.1`: HTTP/1.1 "
     "everywhere. `2`: HTTP/2 everywhere (prior knowledge on plain http)."},
    {"connect.timeout.ms", "common", PT_INT, F(connect_timeout_ms), "6000", 100, 300000, NULL,
     NULL, 0, "Time allowed to establish a connection, TLS included."},
    {"request.timeout.ms", "common", PT_INT, F(request_timeout_ms), "30000", 100, 600000, NULL,
     NULL, 0,
     "Time allowed for one request/response exchange (not for streaming calls, which have "
     "their own idle watchdog). A timed-out request may still have succeeded."},
    {"max.connections", "common", PT_INT, F(max_connections), "24", 1, 256, NULL, NULL, 0,
     "Most connections a client keeps open to one host."},
    {"retry.backoff.base.ms", "common", PT_INT, F(retry_base_ms), "100", 1, 60000, NULL, NULL, 0,
     "First retry delay cap; each retry doubles it (full jitter: the delay is random below "
     "the cap)."},
    {"retry.backoff.max.ms", "common", PT_INT, F(retry_max_ms), "20000", 1, 600000, NULL, NULL,
     0, "Largest retry delay cap."},
    {"retry.max.attempts", "common", PT_INT, F(retry_max_attempts), "10", 1, 1000, NULL, NULL,
     0, "Attempts (first try included) for a control-plane or lease-table call before its "
     "error is returned."},
    {"log.level", "common", PT_ENUM, F(log_level), "info", 0, 0, "error|warn|info|debug|trace",
     log_levels, 0, "Least severe level logged. Secrets never appear at any level."},
    {"application.name", "consumer", PT_STR, F(application_name), "", 0, 0, NULL, NULL, 0,
     "Consumer application (required): workers with the same name share the shards of the "
     "stream through one lease table."},
    {"lease.table.name", "consumer", PT_STR, F(lease_table_name), "", 0, 0, NULL, NULL, 0,
     "DynamoDB lease table (KCL 2.x layout), created PAY_PER_REQUEST when missing. Empty: "
     "`application.name`."},
    {"stream.name", "consumer", PT_STR, F(stream_name), "", 0, 0, NULL, NULL, 0,
     "Stream to consume (required): a name or a stream ARN."},
    {"worker.id", "consumer", PT_STR, F(worker_id), "", 0, 0, NULL, NULL, 0,
     "This worker's id in the lease table (leaseOwner); must be unique among live workers. "
     "Empty: `host:pid:random`."},
    {"initial.position", "consumer", PT_ENUM, F(initial_position), "TRIM_HORIZON", 0, 0,
     "TRIM_HORIZON|LATEST|AT_TIMESTAMP", NULL, 0,
     "Where shards without a checkpoint start: the oldest record, the tip, or "
     "`initial.position.timestamp`. Only applies to shards the lease table does not know yet."},
    {"initial.position.timestamp", "consumer", PT_STR, F(initial_position_timestamp), "", 0, 0,
     NULL, NULL, 0,
     "For AT_TIMESTAMP: RFC 3339 time (`2024-05-01T12:00:00Z`, fractions and offsets "
     "allowed) or milliseconds since the epoch."},
    {"retrieval.mode", "consumer", PT_ENUM, F(retrieval_mode), "polling", 0, 0, "polling|fanout",
     NULL, 0,
     "`polling`: GetRecords. `fanout`: enhanced fan-out (SubscribeToShard over HTTP/2)."},
    {"failover.time.ms", "consumer", PT_INT, F(failover_time_ms), "10000", 1000, 86400000, NULL,
     NULL, 0,
     "Lease duration. A lease whose counter was not seen to change for this long is expired "
     "and may be taken; holders renew every failover/3 and stop processing a lease they could "
     "not renew within this time. Leases are taken and scanned every failover/3 as well."},
    {"max.leases.per.worker", "consumer", PT_INT, F(max_leases_per_worker), "0", 0, 1000000, NULL,
     NULL, 0, "Most leases this worker holds. 0: no limit."},
    {"max.leases.to.steal", "consumer", PT_INT, F(max_leases_to_steal), "1", 0, 1000, NULL, NULL,
     0, "Most leases stolen from the most loaded worker per taking cycle when this worker is "
        "below its fair share. 0: never steal."},
    {"max.records", "consumer", PT_INT, F(max_records), "10000", 1, 10000, NULL, NULL, 0,
     "Limit of each GetRecords call (records before deaggregation)."},
    {"idle.time.between.reads.ms", "consumer", PT_INT, F(idle_time_between_reads_ms), "1000", 200,
     60000, NULL, NULL, 0,
     "Pause between GetRecords calls of one shard once it is caught up (the KCL uses 1500). "
     "While a shard is behind the tip the pause is 200 ms, the service's 5 calls/s per shard."},
    {"shard.sync.interval.ms", "consumer", PT_INT, F(shard_sync_interval_ms), "60000", 1000,
     86400000, NULL, NULL, 0,
     "How often ListShards is compared with the lease table to create leases for new shards. "
     "Children of ended shards also get leases at once from GetRecords' ChildShards."},
    {"processor.threads", "consumer", PT_INT, F(processor_threads), "8", 1, 1024, NULL, NULL, 0,
     "Threads that fetch records and run the record processors; shards beyond this number "
     "take turns."},
    {"consumer.name", "consumer", PT_STR, F(consumer_name), "", 0, 0, NULL, NULL, 0,
     "Fan-out: the stream consumer (1..128 of a-z A-Z 0-9 _ . -) registered with "
     "RegisterStreamConsumer when missing and never deregistered by the library. Empty: "
     "`application.name`."},
    {"fanout.max.queued.events", "consumer", PT_INT, F(fanout_max_queued_events), "10", 1, 10000,
     NULL, NULL, 0,
     "Fan-out: events queued per shard before its HTTP/2 stream is paused (flow control then "
     "stops the server for that shard only); resumed when half are processed."},
    {"fanout.max.queued.bytes", "consumer", PT_INT, F(fanout_max_queued_bytes), "16777216", 1024,
     1073741824, NULL, NULL, 0,
     "Fan-out: bytes of event payload queued per shard before its stream is paused. With "
     "`fanout.max.queued.events` it bounds the memory of each subscription."},
    {"aggregation.enabled", "producer", PT_BOOL, F(aggregation_enabled), "true", 0, 1, NULL,
     NULL, 0,
     "Pack user records bound for the same shard into KPL-format aggregated records "
     "(decodable by the KCL, aws-kinesis-agg and this SDK's consumer). A record alone is "
     "always sent as a plain record."},
    {"aggregation.max.bytes", "producer", PT_INT, F(aggregation_max_bytes), "51200", 64,
     1048575, NULL, NULL, 0,
     "Largest aggregated record, exactly (magic, protobuf and checksum included). A user "
     "record that does not fit alone is sent as a plain record. The user-record count per "
     "aggregate is unbounded."},
    {"record.max.bytes", "producer", PT_INT, F(record_max_bytes), "1048576", 1, 1048576, NULL,
     NULL, 0,
     "Largest data accepted by kn_producer_put() (KN_ERR_TOO_LARGE above). Data plus "
     "partition key must also fit the 1 MiB Kinesis record limit."},
    {"record.max.buffered.time.ms", "producer", PT_INT, F(record_max_buffered_time_ms), "100",
     0, 3600000, NULL, NULL, 0,
     "Linger: how long a record may wait for others to share its aggregate and request. "
     "kn_producer_flush() ignores it."},
    {"record.ttl.ms", "producer", PT_INT, F(record_ttl_ms), "30000", 100, INT64_MAX, NULL,
     NULL, 0,
     "A record not delivered this long after put() is reported KN_ERR_RECORD_EXPIRED. Time "
     "arithmetic saturates, so huge values mean \"retry until shutdown\"."},
    {"rate.limit.percent", "producer", PT_INT, F(rate_limit_percent), "150", 1, 10000, NULL,
     NULL, 0,
     "Per-shard token buckets at this percentage of the shard write limits (1000 Kinesis "
     "records/s and 1 MiB/s), slowed further while the service answers "
     "ProvisionedThroughputExceeded (halved per throttle, recovering 10% per second)."},
    {"ordering", "producer", PT_ENUM, F(ordering), "default", 0, 0, "default|strict", NULL, 0,
     "`strict`: records with the same partition key reach Kinesis in put order, also across "
     "retries (one request in flight per shard). `default`: a retried record may be "
     "overtaken by records put up to its retry delays later (within record.ttl.ms)."},
    {"buffer.max.bytes", "producer", PT_INT, F(buffer_max_bytes), "67108864", 2097152,
     1099511627776, NULL, NULL, 0,
     "Memory bound: every byte the producer holds for accepted records (data, keys, "
     "per-record overhead, aggregated copies and the bodies of requests in flight) until "
     "their reports have run. put() then returns KN_ERR_QUEUE_FULL (or blocks, see "
     "queue.full.behavior)."},
    {"buffer.max.records", "producer", PT_INT, F(buffer_max_records), "1000000", 1,
     2147483647, NULL, NULL, 0, "Count bound: accepted records not yet reported."},
    {"queue.full.behavior", "producer", PT_ENUM, F(queue_full_behavior), "error", 0, 0,
     "error|block", NULL, 0,
     "At a bound, put() returns KN_ERR_QUEUE_FULL at once (`error`) or waits up to "
     "queue.block.timeout.ms for room (`block`)."},
    {"queue.block.timeout.ms", "producer", PT_INT, F(queue_block_timeout_ms), "10000", 0,
     86400000, NULL, NULL, 0, "Longest wait of a blocking put() before KN_ERR_QUEUE_FULL."},
    {"shutdown.timeout.ms", "producer", PT_INT, F(shutdown_timeout_ms), "30000", 0, 86400000,
     NULL, NULL, 0,
     "kn_producer_destroy() flushes for up to this long, then reports what is left with "
     "KN_ERR_SHUTDOWN."},
    {"delivery.report.mode", "producer", PT_ENUM, F(delivery_report_mode), "thread", 0, 0,
     "thread|poll", NULL, 0,
     "Where delivery reports (and the statistics callback) run: on the producer's own "
     "callback thread (`thread`), or inside kn_producer_poll() on the application's thread "
     "(`poll`)."},
    {"statistics.interval.ms", "producer", PT_INT, F(statistics_interval_ms), "0", 0,
     86400000, NULL, NULL, 0,
     "Period of the statistics callback (kinesis/producer.h); 0 turns it off. The JSON is "
     "described in docs/STATISTICS.md."},
};

#define NPROPS (sizeof(props) / sizeof(props[0]))

static const prop_t *prop_find(const char *name) {
    for (size_t i = 0; i < NPROPS; i++)
        if (!strcmp(props[i].name, name))
            return &props[i];
    return NULL;
}

static void *field(const kn_conf_t *conf, const prop_t *p) {
    return (char *)conf + p->offset;
}

/* Index of `value` in a '|'-separated list, or -1. */
static int enum_index(const char *values, const char *value) {
    size_t vlen = strlen(value);
    int idx = 0;
    for (const char *s = values; s && *s; idx++) {
        size_t n = strcspn(s, "|");
        if (n == vlen && !strncmp(s, value, n))
            return idx;
        s += n;
        if (*s == '|')
            s++;
    }
    return -1;
}

static const char *enum_name(const prop_t *p, int stored, size_t *len) {
    const char *s = p->values;
    for (int idx = 0; *s; idx++) {
        size_t n = strcspn(s, "|");
        if ((p->enum_map ? p->enum_map[idx] : idx) == stored) {
            *len = n;
            return s;
        }
        s += n;
        if (*s == '|')
            s++;
    }
    *len = 0;
    return "";
}

static void errf(char *errstr, size_t size, const char *fmt, const char *a, const char *b) {
    if (errstr && size)
        snprintf(errstr, size, fmt, a, b);
}

static kn_err_t prop_set(kn_conf_t *conf, const prop_t *p, const char *value, char *errstr,
                         size_t errsz) {
    void *f = field(conf, p);
    switch (p->type) {
    case PT_STR: {
        char *dup = strdup(value);
        if (!dup)
            return KN_ERR_NOMEM;
        free(*(char **)f);
        *(char **)f = dup;
        return KN_OK;
    }
    case PT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            errf(errstr, errsz, "%s: \"%s\" is not an integer", p->name, value);
            return KN_ERR_INVALID_ARG;
        }
        if (v < p->min || v > p->max) {
            if (errstr && errsz)
                snprintf(errstr, errsz, "%s: %lld is outside [%" PRId64 ", %" PRId64 "]",
                         p->name, v, p->min, p->max);
            return KN_ERR_INVALID_ARG;
        }
        *(int64_t *)f = v;
        return KN_OK;
    }
    case PT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1"))
            *(int *)f = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0"))
            *(int *)f = 0;
        else {
            errf(errstr, errsz, "%s: \"%s\" is not true or false", p->name, value);
            return KN_ERR_INVALID_ARG;
        }
        return KN_OK;
    case PT_ENUM: {
        int idx = enum_index(p->values, value);
        if (idx < 0) {
            errf(errstr, errsz, "%s: expected one of %s", p->name, p->values);
            return KN_ERR_INVALID_ARG;
        }
        *(int *)f = p->enum_map ? p->enum_map[idx] : idx;
        return KN_OK;
    }
    }
    return KN_ERR_INVALID_ARG;
}

kn_conf_t *kn_conf_new(void) {
    kn_conf_t *conf = calloc(1, sizeof(*conf));
    if (!conf)
        return NULL;
    for (size_t i = 0; i < NPROPS; i++) {
        if (prop_set(conf, &props[i], props[i].def, NULL, 0) != KN_OK) {
            kn_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

void kn_conf_destroy(kn_conf_t *conf) {
    if (!conf)
        return;
    for (size_t i = 0; i < NPROPS; i++)
        if (props[i].type == PT_STR)
            free(*(char **)field(conf, &props[i]));
    free(conf);
}

kn_conf_t *kn_conf_dup(const kn_conf_t *conf) {
    if (!conf)
        return NULL;
    kn_conf_t *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *conf;
    int failed = 0;
    for (size_t i = 0; i < NPROPS; i++) {
        if (props[i].type != PT_STR)
            continue;
        char **dst = field(c, &props[i]);
        if (failed) {
            *dst = NULL;
            continue;
        }
        *dst = strdup(*dst);
        failed = !*dst;
    }
    if (failed) {
        kn_conf_destroy(c);
        return NULL;
    }
    return c;
}

kn_err_t kn_conf_set(kn_conf_t *conf, const char *name, const char *value, char *errstr,
                     size_t errstr_size) {
    if (!conf || !name || !value) {
        errf(errstr, errstr_size, "%s%s", "kn_conf_set: conf, name and value must not be NULL",
             "");
        return KN_ERR_INVALID_ARG;
    }
    const prop_t *p = prop_find(name);
    if (!p) {
        errf(errstr, errstr_size, "no configuration property named \"%s\"%s", name, "");
        return KN_ERR_UNKNOWN_PROPERTY;
    }
    return prop_set(conf, p, value, errstr, errstr_size);
}

kn_err_t kn_conf_get(const kn_conf_t *conf, const char *name, char *buf, size_t size) {
    if (!conf || !name || !buf || !size)
        return KN_ERR_INVALID_ARG;
    const prop_t *p = prop_find(name);
    if (!p)
        return KN_ERR_UNKNOWN_PROPERTY;
    const void *f = field(conf, p);
    int n = 0;
    switch (p->type) {
    case PT_STR: {
        const char *s = *(char *const *)f;
        n = snprintf(buf, size, "%s", (p->flags & PF_SECRET) && *s ? "[redacted]" : s);
        break;
    }
    case PT_INT:
        n = snprintf(buf, size, "%" PRId64, *(const int64_t *)f);
        break;
    case PT_BOOL:
        n = snprintf(buf, size, "%s", *(const int *)f ? "true" : "false");
        break;
    case PT_ENUM: {
        size_t len;
        const char *s = enum_name(p, *(const int *)f, &len);
        n = snprintf(buf, size, "%.*s", (int)len, s);
        break;
    }
    }
    return n < 0 || (size_t)n >= size ? KN_ERR_TOO_LARGE : KN_OK;
}

void kn_conf_set_log_fn(kn_conf_t *conf, kn_log_fn *fn, void *opaque) {
    if (!conf)
        return;
    conf->log_fn = fn;
    conf->log_opaque = opaque;
}

kn_logger_t kn_conf_logger(const kn_conf_t *conf) {
    kn_logger_t lg = {conf->log_fn, conf->log_opaque, (kn_log_level_t)conf->log_level};
    return lg;
}

static const char *type_name(const prop_t *p) {
    switch (p->type) {
    case PT_STR: return "string";
    case PT_INT: return "integer";
    case PT_BOOL: return "boolean";
    default: return "enum";
    }
}

void kn_conf_properties_markdown(void *fp) {
    FILE *out = fp;
    static const char *scopes[] = {"common", "producer", "consumer"};
    fprintf(out, "# Configuration properties\n\n"
                 "Generated from the property table in `common/conf.c` by `build/bin/confdoc`;\n"
                 "do not edit by hand (`cmake --build build --target confdoc-update` rewrites it).\n"
                 "Set properties with `kn_conf_set(conf, name, value, errstr, size)` or\n"
                 "`kinesis-cat -X name=value`.\n");
    for (size_t s = 0; s < sizeof(scopes) / sizeof(scopes[0]); s++) {
        int any = 0;
        for (size_t i = 0; i < NPROPS; i++) {
            const prop_t *p = &props[i];
            if (strcmp(p->scope, scopes[s]))
                continue;
            if (!any++)
                fprintf(out, "\n## %s\n\n| Property | Type | Range | Default | Description |\n"
                             "|---|---|---|---|---|\n", scopes[s]);
            char range[64] = "";
            if (p->type == PT_INT)
                snprintf(range, sizeof(range), "%" PRId64 " .. %" PRId64, p->min, p->max);
            else if (p->type == PT_BOOL)
                snprintf(range, sizeof(range), "true, false");
            fprintf(out, "| `%s` | %s | ", p->name, type_name(p));
            if (p->type == PT_ENUM) {
                for (const char *v = p->values; *v; v++)
                    fputs(*v == '|' ? ", " : (char[]){*v, 0}, out);
            } else {
                fputs(range, out);
            }
            fprintf(out, " | %s%s%s | %s |\n", *p->def ? "`" : "", *p->def ? p->def : "(empty)",
                     *p->def ? "`" : "", p->desc);
        }
    }
}
