/*
 * The worker: configuration, clients, the coordinator loop (taking leases and
 * shard sync on the kn_consumer_run thread, renewals on their own thread so a
 * slow ListShards never delays them), shard consumers on the processor pool,
 * and graceful shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "creds.h"
#include "dynamodb_api.h"
#include "fanout.h"
#include "fanout_registration.h"
#include "err.h"
#include "http.h"
#include "kinesis/consumer.h"
#include "kinesis_api.h"
#include "lease_manager.h"
#include "lease_renewer.h"
#include "lease_table.h"
#include "polling.h"
#include "processor_pool.h"
#include "retry.h"
#include "shard_consumer.h"
#include "shard_sync.h"
#include "creds_remote.h" /* kn_iso8601_ms */

#define LOG_FAC "consumer"
/* Lease-table calls are capped so one call never outlasts a renewal interval by much. */
#define LEASE_CALL_MAX_ATTEMPTS 3
/* Waiting for the lease table to become ACTIVE after creating it. */
#define TABLE_ACTIVE_TIMEOUT_MS (5 * 60 * 1000)
/* Upper bound on a graceful shutdown before leases are left to expire. */
#define SHUTDOWN_MIN_WAIT_MS 30000
#define PARENT_POLL_MAX_MS 1000
/* Closest two taking cycles may follow each other. */
#define MIN_TAKE_GAP_MS 50
#define WORKER_ID_MAX 256
/* Waiting for the fan-out stream consumer to become ACTIVE after registering it. */
#define CONSUMER_ACTIVE_TIMEOUT_MS (5 * 60 * 1000)

typedef struct entry_s {
    struct kn_consumer_s *c;
    kn_shard_consumer_t *sc;
    kn_pool_task_t *task;
    struct entry_s *next;
} entry_t;

struct kn_consumer_s {
    kn_conf_t *conf;
    kn_processor_t proc;
    void *opaque;
    kn_logger_t lg;
    char worker_id[WORKER_ID_MAX + 1];
    char *table;
    int64_t timestamp_ms;
    int64_t interval_ms; /* renewal and taking */
    int pipe_fd[2];
    atomic_int stop;
    atomic_int ran;
    kn_error_t *error;

    kn_http_t *http;
    kn_creds_t *creds;
    kn_kinesis_t *kinesis;
    kn_dynamodb_t *ddb;
    kn_lease_table_t *lt;
    kn_lease_manager_t *leases;
    kn_fanout_t *fanout; /* retrieval.mode=fanout, once the stream consumer is ACTIVE */
    kn_pool_t *pool;     /* set and cleared under mu: fan-out wakes come from the I/O thread */
    kn_shard_counters_t counters;
    atomic_uint_least64_t kinesis_calls;

    pthread_mutex_t mu; /* guards entries, stopping_renewer */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC: an entry finished, or the renewer should stop */
    entry_t *entries;
    int stop_renewer;
    pthread_t renewer;
    int renewer_started;
};

static void set_errstr(char *errstr, size_t size, const char *msg) {
    if (errstr && size)
        snprintf(errstr, size, "%s", msg);
}

/* ---- configuration ---- */

static int valid_table_name(const char *s) {
    size_t n = strlen(s);
    return n >= 3 && n <= KN_DDB_MAX_TABLE_NAME &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static void make_worker_id(char *buf, size_t size) {
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = 0;
    kn_rng_t rng;
    kn_rng_seed_random(&rng);
    snprintf(buf, size, "%s:%ld:%08" PRIx64, host, (long)getpid(),
             kn_rng_next(&rng) & 0xffffffffu);
}

/* Configuration for the clients: each call bounded so a lease cycle is never held up long. */
static kn_conf_t *client_conf(const kn_conf_t *conf, int64_t failover_ms) {
    kn_conf_t *c = kn_conf_dup(conf);
    if (!c)
        return NULL;
    int64_t cap = failover_ms / 3;
    if (c->request_timeout_ms > cap)
        c->request_timeout_ms = cap < 1000 ? 1000 : cap;
    if (c->retry_max_attempts > LEASE_CALL_MAX_ATTEMPTS)
        c->retry_max_attempts = LEASE_CALL_MAX_ATTEMPTS;
    if (c->retry_max_ms > failover_ms / 10)
        c->retry_max_ms = failover_ms / 10;
    if (c->retry_base_ms > c->retry_max_ms)
        c->retry_base_ms = c->retry_max_ms;
    return c;
}

/* Milliseconds since the epoch, or an RFC 3339 time. */
static kn_err_t parse_timestamp(const char *s, int64_t *ms) {
    if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 15) {
        *ms = strtoll(s, NULL, 10);
        return KN_OK;
    }
    return kn_iso8601_ms(s, ms) == 0 ? KN_OK : KN_ERR_INVALID_ARG;
}

static kn_err_t check_conf(const kn_conf_t *conf, const kn_processor_t *proc, char *errstr,
                           size_t size, int64_t *ts) {
    if (!proc || !proc->process_records) {
        set_errstr(errstr, size, "kn_consumer_new: a processor with process_records is required");
        return KN_ERR_INVALID_ARG;
    }
    if (!*conf->application_name) {
        set_errstr(errstr, size, "application.name is required");
        return KN_ERR_INVALID_ARG;
    }
    if (!*conf->stream_name) {
        set_errstr(errstr, size, "stream.name is required");
        return KN_ERR_INVALID_ARG;
    }
    const char *table = *conf->lease_table_name ? conf->lease_table_name : conf->application_name;
    if (!valid_table_name(table)) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "lease table name \"%.300s\" must be 3..255 of a-z A-Z 0-9 _ . - "
                 "(set lease.table.name)", table);
        set_errstr(errstr, size, msg);
        return KN_ERR_INVALID_ARG;
    }
    if (strlen(conf->worker_id) > WORKER_ID_MAX) {
        set_errstr(errstr, size, "worker.id is longer than 256 characters");
        return KN_ERR_INVALID_ARG;
    }
    if (conf->retrieval_mode != 0) {
        const char *name = *conf->consumer_name ? conf->consumer_name : conf->application_name;
        kn_error_t *e = NULL;
        if (kn_kj_check_consumer_name(name, &e) != KN_OK) {
            char msg[400];
            snprintf(msg, sizeof(msg), "stream consumer name \"%.200s\": %s (set consumer.name)",
                     name, kn_error_message(e));
            kn_error_destroy(e);
            set_errstr(errstr, size, msg);
            return KN_ERR_INVALID_ARG;
        }
    }
    *ts = 0;
    if (conf->initial_position == KN_ESN_AT_TIMESTAMP &&
        parse_timestamp(conf->initial_position_timestamp, ts) != KN_OK) {
        set_errstr(errstr, size, "initial.position AT_TIMESTAMP needs initial.position.timestamp "
                                 "(RFC 3339 or milliseconds since the epoch)");
        return KN_ERR_INVALID_ARG;
    }
    return KN_OK;
}

/* ---- lifecycle ---- */

static void free_clients(kn_consumer_t *c) {
    kn_lease_manager_destroy(c->leases);
    kn_lease_table_destroy(c->lt);
    kn_dynamodb_destroy(c->ddb);
    kn_kinesis_destroy(c->kinesis);
    kn_http_destroy(c->http);
    kn_creds_destroy(c->creds);
    c->leases = NULL;
    c->lt = NULL;
    c->ddb = NULL;
    c->kinesis = NULL;
    c->http = NULL;
    c->creds = NULL;
}

static int64_t clock_ms(void *opaque) {
    (void)opaque;
    return kn_pool_now_ms();
}

static void on_acquired(void *opaque, const kn_lease_t *lease, uint64_t token, int stolen);
static void on_lost(void *opaque, const char *key);

static kn_err_t make_clients(kn_consumer_t *c, char *errstr, size_t size) {
    kn_error_t *e = NULL;
    kn_conf_t *cc = client_conf(c->conf, c->conf->failover_time_ms);
    kn_err_t rc = cc ? KN_OK : KN_ERR_NOMEM;
    if (!rc && !(c->http = kn_http_new(cc, &e)))
        rc = e ? kn_error_code(e) : KN_ERR_NOMEM;
    if (!rc && !(c->creds = kn_creds_new(cc)))
        rc = KN_ERR_NOMEM;
    if (!rc && !(c->kinesis = kn_kinesis_new_shared(cc, c->http, c->creds, &e)))
        rc = e ? kn_error_code(e) : KN_ERR_NOMEM;
    if (!rc && !(c->ddb = kn_dynamodb_new(cc, c->http, c->creds, &e)))
        rc = e ? kn_error_code(e) : KN_ERR_NOMEM;
    if (!rc && !(c->lt = kn_lease_table_new(c->ddb, c->table, &c->lg)))
        rc = KN_ERR_NOMEM;
    if (!rc) {
        kn_lease_store_t store = kn_lease_table_store(c->lt);
        kn_rng_t rng;
        kn_rng_seed_random(&rng);
        kn_taker_conf_t tc = {c->conf->failover_time_ms, c->conf->max_leases_per_worker,
                              c->conf->max_leases_to_steal, kn_rng_next(&rng)};
        kn_lease_events_t ev = {on_acquired, on_lost, c};
        if (!(c->leases = kn_lease_manager_new(&store, c->worker_id, &tc, clock_ms, NULL, &ev)))
            rc = KN_ERR_NOMEM;
    }
    kn_conf_destroy(cc);
    if (rc) {
        char buf[512];
        set_errstr(errstr, size, e ? kn_error_format(e, buf, sizeof(buf)) : kn_err2str(rc));
    }
    kn_error_destroy(e);
    return rc;
}

kn_consumer_t *kn_consumer_new(const kn_conf_t *conf, const kn_processor_t *processor,
                               void *opaque, char *errstr, size_t errstr_size) {
    if (!conf) {
        set_errstr(errstr, errstr_size, "kn_consumer_new: conf is NULL");
        return NULL;
    }
    int64_t ts;
    if (check_conf(conf, processor, errstr, errstr_size, &ts))
        return NULL;
    kn_consumer_t *c = calloc(1, sizeof(*c));
    if (!c) {
        set_errstr(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->pipe_fd[0] = c->pipe_fd[1] = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&c->stop, 0);
    atomic_init(&c->ran, 0);
    atomic_init(&c->kinesis_calls, 0);
    atomic_init(&c->counters.records, 0);
    atomic_init(&c->counters.batches, 0);
    atomic_init(&c->counters.malformed_aggregates, 0);
    atomic_init(&c->counters.dropped_aggregates, 0);
    atomic_init(&c->counters.dropped_records, 0);
    c->proc = *processor;
    c->opaque = opaque;
    c->timestamp_ms = ts;
    c->conf = kn_conf_dup(conf);
    if (!c->conf || pipe2(c->pipe_fd, O_CLOEXEC | O_NONBLOCK)) {
        set_errstr(errstr, errstr_size, "out of memory or file descriptors");
        kn_consumer_destroy(c);
        return NULL;
    }
    c->lg = kn_conf_logger(c->conf);
    c->interval_ms = kn_renewer_interval_ms(c->conf->failover_time_ms);
    if (*conf->worker_id)
        snprintf(c->worker_id, sizeof(c->worker_id), "%s", conf->worker_id);
    else
        make_worker_id(c->worker_id, sizeof(c->worker_id));
    c->table = strdup(*conf->lease_table_name ? conf->lease_table_name : conf->application_name);
    if (!c->table || make_clients(c, errstr, errstr_size)) {
        if (!c->table)
            set_errstr(errstr, errstr_size, "out of memory");
        kn_consumer_destroy(c);
        return NULL;
    }
    return c;
}

void kn_consumer_shutdown(kn_consumer_t *c) {
    if (!c)
        return;
    /* Only async-signal-safe operations: an atomic store and write(2). */
    atomic_store(&c->stop, 1);
    if (c->pipe_fd[1] >= 0) {
        int saved = errno;
        ssize_t w = write(c->pipe_fd[1], "x", 1);
        (void)w; /* a full pipe already holds a wake-up */
        errno = saved;
    }
}

const kn_error_t *kn_consumer_error(const kn_consumer_t *c) {
    return c ? c->error : NULL;
}

const char *kn_consumer_worker_id(const kn_consumer_t *c) {
    return c ? c->worker_id : "";
}

void kn_consumer_get_stats(kn_consumer_t *c, kn_consumer_stats_t *st) {
    if (!c || !st)
        return;
    memset(st, 0, sizeof(*st));
    if (c->leases) {
        st->leases_held = kn_lease_manager_held(c->leases);
        kn_lease_counts_t lc;
        kn_lease_manager_counts(c->leases, &lc);
        st->leases_taken = lc.taken;
        st->leases_stolen = lc.stolen;
        st->leases_lost = lc.lost;
    }
    pthread_mutex_lock(&c->mu);
    for (entry_t *e = c->entries; e; e = e->next)
        st->shards_caught_up += kn_shard_consumer_caught_up(e->sc) != 0;
    pthread_mutex_unlock(&c->mu);
    st->records_delivered = atomic_load(&c->counters.records);
    st->batches_delivered = atomic_load(&c->counters.batches);
    st->dynamodb_calls = kn_lease_table_calls(c->lt);
    st->kinesis_calls = atomic_load(&c->kinesis_calls);
    st->malformed_aggregates = atomic_load(&c->counters.malformed_aggregates);
    st->dropped_aggregates = atomic_load(&c->counters.dropped_aggregates);
    st->dropped_records = atomic_load(&c->counters.dropped_records);
}

void kn_consumer_destroy(kn_consumer_t *c) {
    if (!c)
        return;
    free_clients(c);
    while (c->entries) {
        entry_t *e = c->entries;
        c->entries = e->next;
        kn_shard_consumer_destroy(e->sc);
        free(e);
    }
    kn_fanout_destroy(c->fanout); /* after the retrievers made from it */
    for (int i = 0; i < 2; i++)
        if (c->pipe_fd[i] >= 0)
            close(c->pipe_fd[i]);
    kn_error_destroy(c->error);
    kn_conf_destroy(c->conf);
    free(c->table);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- shard consumers ---- */

/* A fan-out subscription has news for its shard (transport I/O thread). */
static void wake_entry(void *arg) {
    entry_t *e = arg;
    kn_consumer_t *c = e->c;
    pthread_mutex_lock(&c->mu);
    if (c->pool)
        kn_pool_wake(c->pool, e->task);
    pthread_mutex_unlock(&c->mu);
}

/* The entry whose shard consumer is initializing start->shard_id: the oldest of that shard
 * (a newer acquisition waits until the older one is done). */
static entry_t *initializing_entry(kn_consumer_t *c, const char *shard_id) {
    entry_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (entry_t *e = c->entries; e && !found; e = e->next)
        if (!strcmp(kn_shard_consumer_shard_id(e->sc), shard_id))
            found = e;
    pthread_mutex_unlock(&c->mu);
    return found;
}

static kn_retriever_t *new_retriever(void *ctx, const kn_retrieval_start_t *start,
                                     kn_error_t **err) {
    kn_consumer_t *c = ctx;
    kn_polling_conf_t pc = {(int)c->conf->max_records, c->conf->idle_time_between_reads_ms,
                            &c->kinesis_calls};
    kn_retriever_t *r;
    if (c->fanout) {
        entry_t *self = initializing_entry(c, start->shard_id);
        r = kn_fanout_retriever_new(c->fanout, start, self ? wake_entry : NULL, self);
    } else {
        r = kn_polling_new(c->kinesis, start, &pc, &c->lg);
    }
    if (!r && err)
        *err = kn_error_new(KN_ERR_NOMEM, "out of memory");
    return r;
}

static kn_err_t list_shards(void *ctx, kn_shard_list_t **out, kn_error_t **err) {
    kn_consumer_t *c = ctx;
    atomic_fetch_add(&c->kinesis_calls, 1);
    return kn_kinesis_list_all_shards(c->kinesis, c->conf->stream_name, NULL, out, err);
}

static int predecessor_running(void *ctx, const char *shard_id, const void *self) {
    kn_consumer_t *c = ctx;
    int found = 0;
    pthread_mutex_lock(&c->mu);
    /* entries are in acquisition order: anything before self for this shard is older */
    for (entry_t *e = c->entries; e && e->sc != self; e = e->next)
        found |= !strcmp(kn_shard_consumer_shard_id(e->sc), shard_id);
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* The pool task of an entry: its shard consumer's step. */
static int64_t entry_step(void *arg, int64_t now_ms) {
    return kn_shard_consumer_step(((entry_t *)arg)->sc, now_ms);
}

/* After a shard consumer's last step, on its pool thread. */
static void entry_done(void *arg) {
    entry_t *done = arg;
    kn_consumer_t *c = done->c;
    pthread_mutex_lock(&c->mu);
    for (entry_t **pp = &c->entries; *pp; pp = &(*pp)->next) {
        if (*pp == done) {
            *pp = done->next;
            break;
        }
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    kn_shard_consumer_destroy(done->sc);
    free(done);
}

static void env_of(kn_consumer_t *c, kn_shard_env_t *env) {
    memset(env, 0, sizeof(*env));
    env->leases = c->leases;
    env->processor = &c->proc;
    env->opaque = c->opaque;
    env->new_retriever = new_retriever;
    env->list_shards = list_shards;
    env->predecessor_running = predecessor_running;
    env->ctx = c;
    env->stream = c->conf->stream_name;
    env->timestamp_ms = c->timestamp_ms;
    env->poll_ms = c->interval_ms < PARENT_POLL_MAX_MS ? c->interval_ms : PARENT_POLL_MAX_MS;
    env->shard_end_retry_ms = c->interval_ms;
    env->counters = &c->counters;
    env->lg = c->lg;
}

/* The lease manager took a lease for us (coordinator thread). */
static void on_acquired(void *opaque, const kn_lease_t *lease, uint64_t token, int stolen) {
    kn_consumer_t *c = opaque;
    KN_LOG_INFO(&c->lg, LOG_FAC, "%s lease %s (counter %" PRId64 ")", stolen ? "stole" : "took",
                lease->key, lease->counter);
    kn_shard_env_t env;
    env_of(c, &env);
    entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->sc = kn_shard_consumer_new(&env, lease, token))) {
        free(e);
        KN_LOG_ERR(&c->lg, LOG_FAC, "out of memory: lease %s left to expire", lease->key);
        return;
    }
    e->c = c;
    pthread_mutex_lock(&c->mu);
    entry_t **tail = &c->entries;
    while (*tail) {
        /* an earlier acquisition of this shard is over; it finishes before this one starts */
        if (!strcmp(kn_shard_consumer_shard_id((*tail)->sc), lease->key)) {
            kn_shard_consumer_lost((*tail)->sc);
            kn_pool_wake(c->pool, (*tail)->task);
        }
        tail = &(*tail)->next;
    }
    *tail = e;
    /* The pool stores the task handle before the task can run, under its own lock. */
    kn_err_t rc = kn_pool_add(c->pool, entry_step, entry_done, e, kn_pool_now_ms(), &e->task);
    if (rc) {
        *tail = NULL;
        kn_shard_consumer_destroy(e->sc);
        free(e);
    }
    pthread_mutex_unlock(&c->mu);
}

/* A held lease is gone (renewer thread, coordinator, or a checkpointing pool thread). */
static void on_lost(void *opaque, const char *key) {
    kn_consumer_t *c = opaque;
    pthread_mutex_lock(&c->mu);
    for (entry_t *e = c->entries; e; e = e->next) {
        if (!strcmp(kn_shard_consumer_shard_id(e->sc), key)) {
            kn_shard_consumer_lost(e->sc);
            kn_pool_wake(c->pool, e->task);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- the renewer thread ---- */

static void log_err(kn_consumer_t *c, kn_log_level_t level, const char *what, kn_err_t rc,
                    kn_error_t *e) {
    char buf[512];
    kn_log(&c->lg, level, LOG_FAC, "%s: %s", what,
           e ? kn_error_format(e, buf, sizeof(buf)) : kn_err2str(rc));
    kn_error_destroy(e);
}

static void *renewer_main(void *arg) {
    kn_consumer_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop_renewer) {
        pthread_mutex_unlock(&c->mu);
        kn_error_t *e = NULL;
        kn_err_t rc = kn_lease_manager_renew(c->leases, &e);
        if (rc)
            log_err(c, KN_LOG_WARN, "renewing leases", rc, e);
        else
            kn_error_destroy(e);
        struct timespec ts;
        kn_pool_deadline(&ts, c->interval_ms);
        pthread_mutex_lock(&c->mu);
        while (!c->stop_renewer && pthread_cond_timedwait(&c->cv, &c->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- shard sync ---- */

static kn_err_t shard_sync(kn_consumer_t *c, kn_error_t **err) {
    kn_shard_list_t *list = NULL;
    kn_err_t rc = list_shards(c, &list, err);
    if (rc)
        return rc;
    kn_shard_info_t *info = NULL;
    kn_lease_t *snap = NULL, *create = NULL;
    size_t nsnap = 0, ncreate = 0;
    rc = kn_shard_sync_infos(list, &info);
    if (!rc)
        rc = kn_lease_manager_snapshot(c->leases, &snap, &nsnap);
    if (!rc)
        rc = kn_shard_sync_plan(info, list->count, snap, nsnap,
                                (kn_esn_kind_t)c->conf->initial_position, &create, &ncreate);
    if (rc && err && !*err)
        *err = kn_error_new(rc, "shard sync: cannot plan leases for %zu shards", list->count);
    for (size_t i = 0; !rc && i < ncreate; i++) {
        if ((rc = kn_lease_manager_create(c->leases, &create[i], err)) == KN_OK)
            KN_LOG_INFO(&c->lg, LOG_FAC, "created lease %s at %s", create[i].key,
                        kn_esn_str(&create[i].checkpoint));
    }
    kn_shard_sync_free(create, ncreate);
    kn_lease_manager_free_leases(snap, nsnap);
    free(info);
    kn_shard_list_destroy(list);
    return rc;
}

/* ---- run ---- */

/* Waits up to ms for kn_consumer_shutdown(); returns nonzero once it was called. */
static int wait_stop(kn_consumer_t *c, int64_t ms) {
    if (atomic_load(&c->stop))
        return 1;
    struct pollfd pfd = {c->pipe_fd[0], POLLIN, 0};
    int r = poll(&pfd, 1, ms < 0 ? 0 : (int)(ms > INT32_MAX ? INT32_MAX : ms));
    if (r > 0) {
        char buf[64];
        while (read(c->pipe_fd[0], buf, sizeof(buf)) > 0)
            ;
    }
    return atomic_load(&c->stop);
}

/* Ends run with an error: the service's error object (type, status, request id kept),
 * its message prefixed with what was being done. Returned, so logged at info only. */
static kn_err_t fail(kn_consumer_t *c, kn_err_t rc, kn_error_t *e, const char *what) {
    kn_error_destroy(c->error);
    c->error = e ? e : kn_error_new(rc, "%s", kn_err2str(rc));
    char *msg = NULL;
    if (c->error && asprintf(&msg, "%s: %s", what, c->error->message) >= 0) {
        free(c->error->message);
        c->error->message = msg;
    }
    KN_LOG_INFO(&c->lg, LOG_FAC, "stopping: %s", c->error ? c->error->message : what);
    return rc;
}

static int registration_sleep(void *ctx, int64_t ms) {
    return wait_stop(ctx, ms);
}

/* retrieval.mode=fanout: the stream consumer exists and is ACTIVE (registered if missing). */
static kn_err_t start_fanout(kn_consumer_t *c) {
    const kn_conf_t *conf = c->conf;
    const char *name = *conf->consumer_name ? conf->consumer_name : conf->application_name;
    char *arn = NULL;
    kn_error_t *e = NULL;
    kn_err_t rc = kn_fanout_register(c->kinesis, conf->stream_name, name,
                                     CONSUMER_ACTIVE_TIMEOUT_MS, registration_sleep, c, &arn, &e);
    if (rc == KN_ERR_SHUTDOWN) {
        kn_error_destroy(e); /* kn_consumer_shutdown() while waiting: not a failure */
        return rc;
    }
    if (rc) {
        char what[400];
        snprintf(what, sizeof(what), "registering stream consumer %.200s", name);
        return fail(c, rc, e, what);
    }
    kn_fanout_conf_t fc = {conf->stream_name, arn, (size_t)conf->fanout_max_queued_events,
                           (size_t)conf->fanout_max_queued_bytes, 0, &c->kinesis_calls};
    c->fanout = kn_fanout_new(conf, c->kinesis, c->creds, &fc, &c->lg, &e);
    if (c->fanout)
        KN_LOG_INFO(&c->lg, LOG_FAC, "enhanced fan-out as stream consumer %s", arn);
    free(arn);
    return c->fanout ? KN_OK : fail(c, e ? kn_error_code(e) : KN_ERR_NOMEM, e, "starting fan-out");
}

static kn_err_t start(kn_consumer_t *c) {
    kn_error_t *e = NULL;
    kn_err_t rc = kn_lease_table_ensure(c->lt, TABLE_ACTIVE_TIMEOUT_MS, &e);
    if (rc) {
        char what[400];
        snprintf(what, sizeof(what), "lease table %.300s", c->table);
        return fail(c, rc, e, what);
    }
    if (c->conf->retrieval_mode != 0 && (rc = start_fanout(c)))
        return rc;
    /* A first scan (taking nothing yet) so shard sync sees the table as it is. */
    if ((rc = kn_lease_manager_take(c->leases, 0, &e)))
        return fail(c, rc, e, "reading the lease table");
    if ((rc = shard_sync(c, &e))) {
        char what[400];
        snprintf(what, sizeof(what), "listing the shards of stream %.300s", c->conf->stream_name);
        return fail(c, rc, e, what);
    }
    kn_pool_t *pool = kn_pool_new((size_t)c->conf->processor_threads);
    if (!pool)
        return fail(c, KN_ERR_NOMEM, NULL, "starting processor threads");
    pthread_mutex_lock(&c->mu);
    c->pool = pool;
    pthread_mutex_unlock(&c->mu);
    if (pthread_create(&c->renewer, NULL, renewer_main, c))
        return fail(c, KN_ERR_NOMEM, NULL, "starting the renewer thread");
    c->renewer_started = 1;
    KN_LOG_INFO(&c->lg, LOG_FAC, "worker %s consuming %s with lease table %s", c->worker_id,
                c->conf->stream_name, c->table);
    return KN_OK;
}

static void coordinate(kn_consumer_t *c) {
    int64_t now = kn_pool_now_ms(), next_take = now,
            next_sync = now + c->conf->shard_sync_interval_ms;
    for (;;) {
        now = kn_pool_now_ms();
        if (now >= next_take) {
            kn_error_t *e = NULL;
            kn_err_t rc = kn_lease_manager_take(c->leases, SIZE_MAX, &e);
            if (rc)
                log_err(c, KN_LOG_WARN, "taking leases", rc, e);
            int64_t after = kn_pool_now_ms();
            next_take = after + c->interval_ms;
            /* A lease of a silent worker expires before the next regular cycle: look
             * again right then rather than up to a cycle later. */
            int64_t expiry = kn_lease_manager_next_expiry(c->leases);
            if (expiry < next_take)
                next_take = expiry > after + MIN_TAKE_GAP_MS ? expiry : after + MIN_TAKE_GAP_MS;
        }
        if (now >= next_sync) {
            kn_error_t *e = NULL;
            kn_err_t rc = shard_sync(c, &e);
            if (rc)
                log_err(c, KN_LOG_WARN, "shard sync", rc, e);
            else
                kn_error_destroy(e);
            next_sync = kn_pool_now_ms() + c->conf->shard_sync_interval_ms;
        }
        int64_t next = next_take < next_sync ? next_take : next_sync;
        if (wait_stop(c, next - kn_pool_now_ms()))
            return;
    }
}

/* Graceful shutdown: every shard checkpoints and releases its lease, renewals go on meanwhile. */
static void drain(kn_consumer_t *c) {
    int64_t limit = 2 * c->conf->failover_time_ms;
    if (limit < SHUTDOWN_MIN_WAIT_MS)
        limit = SHUTDOWN_MIN_WAIT_MS;
    struct timespec ts;
    kn_pool_deadline(&ts, limit);
    pthread_mutex_lock(&c->mu);
    for (entry_t *e = c->entries; e; e = e->next) {
        kn_shard_consumer_shutdown(e->sc);
        kn_pool_wake(c->pool, e->task);
    }
    while (c->entries && pthread_cond_timedwait(&c->cv, &c->mu, &ts) != ETIMEDOUT)
        ;
    int left = c->entries != NULL;
    pthread_mutex_unlock(&c->mu);
    if (left)
        KN_LOG_WARN(&c->lg, LOG_FAC, "shutdown: processors still busy after %" PRId64
                    " ms; their leases will expire", limit);
}

static void stop_threads(kn_consumer_t *c) {
    if (c->renewer_started) {
        pthread_mutex_lock(&c->mu);
        c->stop_renewer = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->renewer, NULL);
        c->renewer_started = 0;
    }
    pthread_mutex_lock(&c->mu);
    kn_pool_t *pool = c->pool;
    c->pool = NULL; /* no more wakes from subscriptions */
    pthread_mutex_unlock(&c->mu);
    kn_pool_destroy(pool); /* waits for steps in progress */
}

kn_err_t kn_consumer_run(kn_consumer_t *c) {
    if (!c)
        return KN_ERR_INVALID_ARG;
    if (atomic_exchange(&c->ran, 1))
        return KN_ERR_STATE;
    if (atomic_load(&c->stop))
        return KN_OK;
    kn_err_t rc = start(c);
    if (rc == KN_OK) {
        coordinate(c);
        KN_LOG_INFO(&c->lg, LOG_FAC, "worker %s shutting down", c->worker_id);
        drain(c);
    }
    stop_threads(c);
    return rc == KN_ERR_SHUTDOWN && atomic_load(&c->stop) ? KN_OK : rc;
}
