/*
 * Idempotent registration of the enhanced fan-out stream consumer, as the KCL
 * does it: DescribeStreamConsumer first; RegisterStreamConsumer only when it is
 * missing (ResourceInUse there means another worker registered it meanwhile:
 * describe again); wait until ACTIVE with growing pauses; throttling
 * (LimitExceeded) is retried with backoff. Any number of workers may run this
 * at once. The library never deregisters a consumer.
 *
 * The decisions are a pure step function (kn_fanout_reg_next) so every branch
 * is tested without a server; kn_fanout_register drives it with real calls.
 */
#ifndef KN_FANOUT_REGISTRATION_H
#define KN_FANOUT_REGISTRATION_H

#include <stdint.h>

#include "kinesis/kinesis.h"
#include "retry.h"

/** Most RegisterStreamConsumer calls refused with LimitExceeded before giving up (KCL: 10). */
#define KN_FANOUT_REGISTER_ATTEMPTS 10
/** Most throttled DescribeStreamConsumer calls in a row before giving up. */
#define KN_FANOUT_DESCRIBE_THROTTLES 20
/** First pause while the consumer is CREATING (or DELETING); grows 1.5x up to the max. */
#define KN_FANOUT_POLL_FIRST_MS 250
#define KN_FANOUT_POLL_MAX_MS 2000
/** Pause after a throttled call: this plus up to KN_FANOUT_THROTTLE_JITTER_MS (KCL: 1000 + 0..100). */
#define KN_FANOUT_THROTTLE_MS 1000
#define KN_FANOUT_THROTTLE_JITTER_MS 250

typedef enum {
    KN_FANOUT_REG_DESCRIBE = 0, /* DescribeStreamConsumer by stream and name */
    KN_FANOUT_REG_REGISTER,     /* RegisterStreamConsumer */
    KN_FANOUT_REG_DONE,         /* ACTIVE: use its ARN */
    KN_FANOUT_REG_FAIL          /* give up with the last error */
} kn_fanout_reg_op_t;

/** The state of one registration run; zero it to start. */
typedef struct kn_fanout_reg_s {
    int register_limited; /* RegisterStreamConsumer refused with LimitExceeded so far */
    int describe_throttled; /* throttled describes in a row */
    int64_t poll_ms;      /* the current CREATING/DELETING pause */
} kn_fanout_reg_t;

/**
 * After operation `op` returned `rc` (and, for a describe that succeeded, the
 * consumer's `status`): the next operation, and in *pause_ms how long to wait
 * before it. Pure but for `rng` (jitter; NULL: none).
 */
kn_fanout_reg_op_t kn_fanout_reg_next(kn_fanout_reg_t *st, kn_fanout_reg_op_t op, kn_err_t rc,
                                      kn_consumer_status_t status, kn_rng_t *rng,
                                      int64_t *pause_ms);

/**
 * Waits ms milliseconds, or less when the caller is shutting down: returns
 * nonzero to stop the registration (KN_ERR_SHUTDOWN).
 */
typedef int(kn_fanout_sleep_fn)(void *ctx, int64_t ms);

/**
 * Makes sure consumer `name` of `stream` (name or ARN) exists and is ACTIVE;
 * on KN_OK *consumer_arn is its ARN (the caller frees it). KN_ERR_TIMED_OUT
 * after timeout_ms; other errors as the last call failed. `sleep` may be NULL
 * (nanosleep).
 */
kn_err_t kn_fanout_register(kn_kinesis_t *k, const char *stream, const char *name,
                            int64_t timeout_ms, kn_fanout_sleep_fn *sleep, void *sleep_ctx,
                            char **consumer_arn, kn_error_t **err);

#endif
