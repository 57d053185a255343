/* Idempotent stream-consumer registration; see fanout_registration.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanout_registration.h"
#include "kinesis_api.h"

static int throttled(kn_err_t rc) {
    return rc == KN_ERR_LIMIT_EXCEEDED || rc == KN_ERR_THROTTLING ||
           rc == KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED;
}

static int64_t throttle_pause(kn_rng_t *rng) {
    return KN_FANOUT_THROTTLE_MS +
           (rng ? (int64_t)kn_rng_uniform(rng, KN_FANOUT_THROTTLE_JITTER_MS) : 0);
}

/* The next CREATING/DELETING poll pause: first, then 1.5x up to the max. */
static int64_t poll_pause(kn_fanout_reg_t *st) {
    st->poll_ms = st->poll_ms <= 0 ? KN_FANOUT_POLL_FIRST_MS : st->poll_ms * 3 / 2;
    if (st->poll_ms > KN_FANOUT_POLL_MAX_MS)
        st->poll_ms = KN_FANOUT_POLL_MAX_MS;
    return st->poll_ms;
}

static kn_fanout_reg_op_t after_describe(kn_fanout_reg_t *st, kn_err_t rc,
                                         kn_consumer_status_t status, kn_rng_t *rng,
                                         int64_t *pause_ms) {
    if (rc == KN_OK) {
        st->describe_throttled = 0;
        if (status == KN_CONSUMER_STATUS_ACTIVE)
            return KN_FANOUT_REG_DONE;
        *pause_ms = poll_pause(st); /* CREATING, or DELETING until it is gone */
        return KN_FANOUT_REG_DESCRIBE;
    }
    if (rc == KN_ERR_RESOURCE_NOT_FOUND)
        return KN_FANOUT_REG_REGISTER;
    if ((throttled(rc) || kn_err_is_retriable(rc)) &&
        ++st->describe_throttled <= KN_FANOUT_DESCRIBE_THROTTLES) {
        *pause_ms = throttle_pause(rng);
        return KN_FANOUT_REG_DESCRIBE;
    }
    return KN_FANOUT_REG_FAIL;
}

static kn_fanout_reg_op_t after_register(kn_fanout_reg_t *st, kn_err_t rc, kn_rng_t *rng,
                                         int64_t *pause_ms) {
    if (rc == KN_OK) {
        *pause_ms = poll_pause(st); /* it starts CREATING */
        return KN_FANOUT_REG_DESCRIBE;
    }
    if (rc == KN_ERR_RESOURCE_IN_USE)
        return KN_FANOUT_REG_DESCRIBE; /* another worker registered it meanwhile */
    if ((throttled(rc) || kn_err_is_retriable(rc)) &&
        ++st->register_limited < KN_FANOUT_REGISTER_ATTEMPTS) {
        *pause_ms = throttle_pause(rng);
        return KN_FANOUT_REG_REGISTER;
    }
    return KN_FANOUT_REG_FAIL;
}

kn_fanout_reg_op_t kn_fanout_reg_next(kn_fanout_reg_t *st, kn_fanout_reg_op_t op, kn_err_t rc,
                                      kn_consumer_status_t status, kn_rng_t *rng,
                                      int64_t *pause_ms) {
    *pause_ms = 0;
    switch (op) {
    case KN_FANOUT_REG_DESCRIBE:
        return after_describe(st, rc, status, rng, pause_ms);
    case KN_FANOUT_REG_REGISTER:
        return after_register(st, rc, rng, pause_ms);
    default:
        return op;
    }
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int plain_sleep(void *ctx, int64_t ms) {
    (void)ctx;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return 0;
}

kn_err_t kn_fanout_register(kn_kinesis_t *k, const char *stream, const char *name,
                            int64_t timeout_ms, kn_fanout_sleep_fn *sleep, void *sleep_ctx,
                            char **consumer_arn, kn_error_t **err) {
    if (consumer_arn)
        *consumer_arn = NULL;
    if (!k || !stream || !name || !consumer_arn || timeout_ms < 0)
        return kn_service_give(KN_ERR_INVALID_ARG,
                               kn_error_new(KN_ERR_INVALID_ARG, "kn_fanout_register: bad arguments"),
                               err);
    if (!sleep)
        sleep = plain_sleep;
    kn_rng_t rng;
    kn_rng_seed_random(&rng);
    kn_fanout_reg_t st;
    memset(&st, 0, sizeof(st));
    int64_t deadline = mono_ms() + timeout_ms;
    kn_fanout_reg_op_t op = KN_FANOUT_REG_DESCRIBE;
    for (;;) {
        kn_stream_consumer_t *c = NULL;
        kn_error_t *e = NULL;
        kn_err_t rc = op == KN_FANOUT_REG_DESCRIBE
                          ? kn_kinesis_describe_stream_consumer(k, stream, name, NULL, &c, &e)
                          : kn_kinesis_register_stream_consumer(k, stream, name, &c, &e);
        int64_t pause;
        kn_fanout_reg_op_t next =
            kn_fanout_reg_next(&st, op, rc, c ? c->status : KN_CONSUMER_STATUS_UNKNOWN, &rng,
                               &pause);
        if (next == KN_FANOUT_REG_DONE) {
            *consumer_arn = c->consumer_arn;
            c->consumer_arn = NULL;
            kn_stream_consumer_destroy(c);
            kn_error_destroy(e);
            return *consumer_arn ? KN_OK : kn_service_give(KN_ERR_BAD_RESPONSE, NULL, err);
        }
        int creating = c && c->status != KN_CONSUMER_STATUS_ACTIVE;
        kn_stream_consumer_destroy(c);
        if (next == KN_FANOUT_REG_FAIL)
            return kn_service_give(rc, e, err);
        if (mono_ms() + pause > deadline) {
            kn_error_destroy(e);
            e = kn_error_new(KN_ERR_TIMED_OUT,
                             "stream consumer %s not ACTIVE after %lld ms (%s)", name,
                             (long long)timeout_ms, creating ? "still CREATING or DELETING"
                                                            : "throttled");
            return kn_service_give(KN_ERR_TIMED_OUT, e, err);
        }
        kn_error_destroy(e);
        if (pause > 0 && sleep(sleep_ctx, pause))
            return kn_service_give(KN_ERR_SHUTDOWN,
                                   kn_error_new(KN_ERR_SHUTDOWN, "shut down while registering "
                                                                 "stream consumer %s", name),
                                   err);
        op = next;
    }
}
