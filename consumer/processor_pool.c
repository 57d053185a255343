/* Scheduled task pool; see processor_pool.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "processor_pool.h"

struct kn_pool_task_s {
    kn_pool_step_fn *step;
    kn_pool_done_fn *done;
    void *arg;
    int64_t due_ms;
    int running;
    int rerun;    /* woken while running: run again at once */
    int finished; /* its last step returned; done() is running */
    kn_pool_task_t *next;
};

struct kn_pool_s {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    kn_pool_task_t *tasks;
    size_t ntasks;
    int stopping;
    pthread_t *threads;
    size_t nthreads;
};

int64_t kn_pool_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kn_pool_deadline(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void unlink_task(kn_pool_t *p, kn_pool_task_t *t) {
    for (kn_pool_task_t **pp = &p->tasks; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            p->ntasks--;
            return;
        }
    }
}

/* The earliest due idle task, or NULL; *wait_ms: how long until one is due (-1: none). */
static kn_pool_task_t *pick(kn_pool_t *p, int64_t now, int64_t *wait_ms) {
    kn_pool_task_t *best = NULL;
    for (kn_pool_task_t *t = p->tasks; t; t = t->next)
        if (!t->running && !t->finished && (!best || t->due_ms < best->due_ms))
            best = t;
    if (best && best->due_ms <= now)
        return best;
    *wait_ms = best ? best->due_ms - now : -1;
    return NULL;
}

static void timed_wait(kn_pool_t *p, int64_t wait_ms) {
    if (wait_ms < 0) {
        pthread_cond_wait(&p->cv, &p->mu);
        return;
    }
    struct timespec ts;
    kn_pool_deadline(&ts, wait_ms);
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *worker(void *arg) {
    kn_pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        int64_t wait_ms = -1;
        kn_pool_task_t *t = pick(p, kn_pool_now_ms(), &wait_ms);
        if (!t) {
            timed_wait(p, wait_ms);
            continue;
        }
        t->running = 1;
        t->rerun = 0;
        pthread_mutex_unlock(&p->mu);
        int64_t next = t->step(t->arg, kn_pool_now_ms());
        pthread_mutex_lock(&p->mu);
        t->running = 0;
        if (next == KN_POOL_DONE) {
            t->finished = 1;
            pthread_mutex_unlock(&p->mu);
            if (t->done)
                t->done(t->arg);
            pthread_mutex_lock(&p->mu);
            unlink_task(p, t);
            free(t);
        } else {
            t->due_ms = t->rerun ? kn_pool_now_ms() : next;
        }
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

kn_pool_t *kn_pool_new(size_t threads) {
    if (!threads)
        return NULL;
    kn_pool_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->threads = calloc(threads, sizeof(*p->threads)))) {
        free(p);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    for (; p->nthreads < threads; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, worker, p)) {
            kn_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

kn_err_t kn_pool_add(kn_pool_t *p, kn_pool_step_fn *step, kn_pool_done_fn *done, void *arg,
                     int64_t due_ms, kn_pool_task_t **task) {
    if (!p || !step)
        return KN_ERR_INVALID_ARG;
    kn_pool_task_t *t = calloc(1, sizeof(*t));
    if (!t)
        return KN_ERR_NOMEM;
    t->step = step;
    t->done = done;
    t->arg = arg;
    t->due_ms = due_ms;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        free(t);
        return KN_ERR_SHUTDOWN;
    }
    t->next = p->tasks;
    p->tasks = t;
    p->ntasks++;
    if (task)
        *task = t;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return KN_OK;
}

void kn_pool_wake(kn_pool_t *p, kn_pool_task_t *task) {
    if (!p || !task)
        return;
    pthread_mutex_lock(&p->mu);
    if (task->running)
        task->rerun = 1;
    else if (!task->finished)
        task->due_ms = INT64_MIN + 1; /* before anything else */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

size_t kn_pool_count(kn_pool_t *p) {
    pthread_mutex_lock(&p->mu);
    size_t n = p->ntasks;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void kn_pool_destroy(kn_pool_t *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while (p->tasks) {
        kn_pool_task_t *t = p->tasks;
        p->tasks = t->next;
        free(t);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}
