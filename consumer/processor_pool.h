/*
 * A bounded pool of threads running scheduled tasks: each task is a step
 * function that runs, returns when it wants to run next, and is never run by
 * two threads at once. Shard consumers are tasks: one shard's records go to
 * its processor in order, one batch at a time, while different shards run in
 * parallel on at most `threads` threads. The earliest due task runs first.
 */
#ifndef KN_PROCESSOR_POOL_H
#define KN_PROCESSOR_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

/** Returned by a step to end its task. */
#define KN_POOL_DONE INT64_MIN

/** One step at monotonic time now_ms; returns the time of the next step or KN_POOL_DONE. */
typedef int64_t (kn_pool_step_fn)(void *arg, int64_t now_ms);
/** After the last step, on the pool thread that ran it; the task is freed afterwards. */
typedef void (kn_pool_done_fn)(void *arg);

typedef struct kn_pool_s kn_pool_t;
typedef struct kn_pool_task_s kn_pool_task_t;

/** Starts `threads` threads. NULL on failure. */
kn_pool_t *kn_pool_new(size_t threads);

/**
 * Adds a task first due at due_ms (monotonic). *task (if not NULL) identifies it
 * for kn_pool_wake until its done function has returned.
 */
kn_err_t kn_pool_add(kn_pool_t *p, kn_pool_step_fn *step, kn_pool_done_fn *done, void *arg,
                     int64_t due_ms, kn_pool_task_t **task);

/** Runs the task as soon as a thread is free (again right after, if it is running now). */
void kn_pool_wake(kn_pool_t *p, kn_pool_task_t *task);

/** Tasks not yet done. */
size_t kn_pool_count(kn_pool_t *p);

/**
 * Stops the threads after their current steps and frees the pool; tasks still
 * present are dropped without their done function. Accepts NULL.
 */
void kn_pool_destroy(kn_pool_t *p);

/** The monotonic clock the pool schedules by, in milliseconds. */
int64_t kn_pool_now_ms(void);

struct timespec;
/** *ts = CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait on a monotonic condvar. */
void kn_pool_deadline(struct timespec *ts, int64_t ms);

#endif
