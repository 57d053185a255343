/*
 * Helpers for the consumer integration tests: streams on kinesis-local, numbered
 * records, a record processor that logs every callback as a line in a file
 * (flushed before each checkpoint, like kinesis-cat -C), and a reader for those
 * logs so a test can check what each worker delivered and checkpointed.
 */
#ifndef KN_CONSUMER_TEST_H
#define KN_CONSUMER_TEST_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "kinesis/consumer.h"
#include "kinesis/kinesis.h"
#include "kn_test_server.h"

/** A client for the kinesis-local peer (kn_test_require_peers() first). */
kn_kinesis_t *kct_kinesis(void);

/** Creates `name` with `shards` shards and waits until it is ACTIVE. */
void kct_create_stream(kn_kinesis_t *k, const char *name, int shards);

/** Deletes `name` (kinesis-local counts shards of all streams against one limit). */
void kct_delete_stream(kn_kinesis_t *k, const char *name);

/**
 * Puts records with data "<prefix>-<i>" for i in [from, to), random partition
 * keys, in PutRecords calls of up to `batch`, retrying failed entries.
 */
void kct_put(kn_kinesis_t *k, const char *stream, const char *prefix, int from, int to, int batch);

/**
 * Puts KPL aggregates holding user records "<prefix>-<i>" for i in [from, to),
 * `per` user records each.
 */
void kct_put_aggregated(kn_kinesis_t *k, const char *stream, const char *prefix, int from, int to,
                        int per);

/**
 * A thread writing records "<prefix>-0", "<prefix>-1", ... in batches of `batch`
 * every `pause_ms` until stopped; kct_putter_stop returns how many it wrote.
 */
typedef struct kct_putter_s kct_putter_t;
kct_putter_t *kct_putter_start(kn_kinesis_t *k, const char *stream, const char *prefix, int batch,
                               int pause_ms);
int kct_putter_stop(kct_putter_t *p);

/** Monotonic milliseconds (comparable between processes of one host). */
int64_t kct_now_ms(void);

/*
 * The logging processor; its opaque pointer is a kct_log_t. Lines:
 *   I <shard> <checkpoint> <subseq> <ms>         initialize
 *   R <shard> <seq> <subseq> <data> <ms>         a record (before its batch's checkpoint)
 *   C <shard> <seq> <subseq> <ms>                a successful checkpoint
 *   E|L|S <shard> <rc> <ms>                      shard ended / lease lost / shutdown, with
 *                                               the result of their checkpoint (0 for L)
 */
typedef struct kct_log_s {
    FILE *f;
    int checkpoint; /* checkpoint at the end of every N-th batch of a shard; 0: never */
    int slow_ms;    /* sleep in every process_records call */
} kct_log_t;

extern const kn_processor_t kct_processor;

typedef struct kct_line_s {
    char kind;
    char shard[64];
    char seq[132];
    long long sub;
    char data[64];
    int64_t ms;
    int worker; /* index given to kct_read */
} kct_line_t;

/** Appends the lines of `path` to *lines (realloc'd), tagging them with `worker`. */
void kct_read(const char *path, int worker, kct_line_t **lines, size_t *n);

/** Compares two sequence numbers as decimals. */
int kct_seq_cmp(const char *a, const char *b);

/**
 * A configuration for a worker of `app` on `stream` with short failover times,
 * plus the properties in environment variable KCT_CONF ("name=value;..."), so
 * the same tests run in another mode (tests/integration/test_fanout_*.sh).
 */
kn_conf_t *kct_conf(const char *app, const char *stream, const char *worker_id, int failover_ms);

#endif

/*
 * Worker processes. A test program whose main() starts with
 *   if (argc > 1 && !strcmp(argv[1], "worker")) return kct_worker_main(argc, argv);
 * can run workers as separate processes of itself: kct_spawn_worker() execs
 * /proc/self/exe with "worker STREAM APP WORKER_ID LOG_PATH FAILOVER_MS". The
 * worker logs with kct_processor into LOG_PATH, shuts down gracefully on
 * SIGTERM (kn_consumer_shutdown from the signal handler) and exits 0 when
 * kn_consumer_run returned KN_OK.
 */
int kct_worker_main(int argc, char **argv);

/* KN_TEST_MAIN for programs that also serve as their own worker processes (include
 * kn_test.h and <string.h> first). */
#define KCT_TEST_MAIN_WITH_WORKERS(suite_fn)                                      \
    int main(int argc, char **argv) {                                            \
        if (argc > 1 && !strcmp(argv[1], "worker"))                              \
            return kct_worker_main(argc, argv);                                  \
        SRunner *sr = srunner_create(suite_fn());                                \
        srunner_run_all(sr, CK_NORMAL);                                          \
        int failed = srunner_ntests_failed(sr);                                  \
        srunner_free(sr);                                                        \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                             \
    }
/** Starts a worker process; returns its pid. */
int kct_spawn_worker(const char *stream, const char *app, const char *worker_id,
                     const char *log_path, int failover_ms);
/** Waits for a worker to exit (up to timeout_ms, then SIGKILL); returns its exit status or -1. */
int kct_wait_worker(int pid, int64_t timeout_ms);

/*
 * Scripted HTTP peers (for kn_test_server handlers): reads one complete request
 * from fd into req (at most size bytes): *target points to its X-Amz-Target value
 * (NUL-terminated in place, "" when absent) and *body to its body. Returns 0, or
 * -1 when the peer closed the connection or the request does not fit.
 */
int kct_http_read(int fd, char *req, size_t size, const char **target, const char **body);
/** Writes an HTTP/1.1 reply with a JSON body; 0, or -1 when the peer went away. */
int kct_http_reply(int fd, int status, const char *json);

/** One scripted exchange: the operation expected (in X-Amz-Target) and the reply to give. */
typedef struct kct_step_s {
    const char *op;
    int status;
    const char *reply;
} kct_step_t;

#define KCT_SCRIPT_SEEN 16 /* requests whose target and body a script keeps */

/** A scripted service: steps answered in order. Zero it, set steps and n. */
typedef struct kct_script_s {
    const kct_step_t *steps;
    int n, next;                          /* next: requests received so far */
    char seen[KCT_SCRIPT_SEEN][512];      /* "target body" of the first requests, in order */
    pthread_mutex_t mu;                   /* initialise before serving */
} kct_script_t;

/**
 * kn_test_server handler (opaque: a kct_script_t): answers each request with
 * the next step when its target names the step's operation, else (or beyond
 * the script) with a 500 UnexpectedRequest.
 */
void kct_script_serve(kn_test_server_t *srv, int fd, void *opaque);

/** A DynamoDB client for dynalite. */
struct kn_dynamodb_s *kct_dynamodb(void);
/**
 * Scans lease table `table`: counts[i] = leases owned by owners[i], over the
 * leases not at SHARD_END; returns how many those are, or -1 on error.
 */
int kct_owner_counts(struct kn_dynamodb_s *d, const char *table, const char *const *owners,
                     int nowners, int *counts);
