/*
 * Credentials values, providers, and the caching chain every client shares.
 *
 * The chain fetches outside its mutex (providers block on I/O) with a
 * `fetching` flag so that concurrent callers share one fetch: they either get
 * the still-valid cached credentials or wait for the fetch in flight. Once
 * credentials that expire are cached, a refresher thread owns refreshing them:
 * it wakes at the refresh point (or when a caller notices it has passed, e.g.
 * after a suspend) and retries failures with a growing delay, so callers only
 * ever copy the cache unless it holds nothing valid.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds.h"
#include "retry.h"

#define FAC "creds"

void kn_secret_free(char *s) {
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void kn_credentials_clear(kn_credentials_t *c) {
    if (!c)
        return;
    kn_secret_free(c->access_key_id);
    kn_secret_free(c->secret_access_key);
    kn_secret_free(c->session_token);
    memset(c, 0, sizeof(*c));
}

kn_err_t kn_credentials_set(kn_credentials_t *dst, const char *access_key_id,
                            const char *secret_access_key, const char *session_token,
                            int64_t expiration_ms) {
    if (!dst)
        return KN_ERR_INVALID_ARG;
    memset(dst, 0, sizeof(*dst));
    if (!access_key_id || !*access_key_id || !secret_access_key || !*secret_access_key)
        return KN_ERR_INVALID_ARG;
    dst->access_key_id = strdup(access_key_id);
    dst->secret_access_key = strdup(secret_access_key);
    if (session_token && *session_token)
        dst->session_token = strdup(session_token);
    dst->expiration_ms = expiration_ms;
    if (!dst->access_key_id || !dst->secret_access_key ||
        (session_token && *session_token && !dst->session_token)) {
        kn_credentials_clear(dst);
        return KN_ERR_NOMEM;
    }
    return KN_OK;
}

kn_err_t kn_credentials_copy(kn_credentials_t *dst, const kn_credentials_t *src) {
    if (!src)
        return KN_ERR_INVALID_ARG;
    return kn_credentials_set(dst, src->access_key_id, src->secret_access_key,
                              src->session_token, src->expiration_ms);
}

kn_creds_provider_t *kn_creds_provider_new(const char *name, kn_creds_fetch_fn *fetch,
                                           void (*destroy_state)(void *state), void *state) {
    kn_creds_provider_t *p = name && fetch ? calloc(1, sizeof(*p)) : NULL;
    if (!p) {
        if (destroy_state)
            destroy_state(state);
        return NULL;
    }
    p->name = name;
    p->fetch = fetch;
    p->destroy_state = destroy_state;
    p->state = state;
    return p;
}

void kn_creds_provider_destroy(kn_creds_provider_t *p) {
    if (!p)
        return;
    if (p->destroy_state)
        p->destroy_state(p->state);
    free(p);
}

struct kn_creds_s {
    kn_creds_provider_t *providers[KN_CREDS_MAX_PROVIDERS];
    int count;
    kn_logger_t lg;
    kn_creds_clock_fn *clock;
    void *clock_opaque;
    pthread_mutex_t mu;
    pthread_cond_t fetched;  /* signalled when a fetch ends */
    pthread_cond_t wake;     /* wakes the refresher (CLOCK_MONOTONIC timed waits) */
    kn_credentials_t cached; /* empty until the first successful fetch */
    const char *source;      /* provider of the cached ones */
    int fetching;            /* a thread is fetching outside the mutex */
    kn_err_t last_rc;        /* outcome of the latest fetch, for callers that waited on it */
    kn_error_t *last_err;
    int failures;            /* consecutive failed fetches */
    int64_t retry_at_ms;     /* after a failure, the refresher waits until then */
    int64_t refresh_at_ms;   /* the cached ones are due for refresh from then on */
    kn_rng_t rng;            /* refresh jitter */
    pthread_t refresher;
    int refresher_state;     /* REFRESHER_* */
    int stopping;
};

enum { REFRESHER_NONE, REFRESHER_RUNNING, REFRESHER_FAILED };

static int64_t realtime_ms(void *opaque) {
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cond for the refresher's timed waits measures time on CLOCK_MONOTONIC. */
static int wake_cond_init(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr))
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) || pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    return rc ? -1 : 0;
}

/* The chain's mutex and conds; -1 (nothing left initialised) on failure. */
static int sync_init(kn_creds_t *c) {
    if (pthread_mutex_init(&c->mu, NULL))
        return -1;
    if (pthread_cond_init(&c->fetched, NULL)) {
        pthread_mutex_destroy(&c->mu);
        return -1;
    }
    if (wake_cond_init(&c->wake)) {
        pthread_cond_destroy(&c->fetched);
        pthread_mutex_destroy(&c->mu);
        return -1;
    }
    return 0;
}

kn_creds_t *kn_creds_new_from(kn_creds_provider_t **providers, int count, const kn_logger_t *lg) {
    int ok = providers && count > 0 && count <= KN_CREDS_MAX_PROVIDERS;
    for (int i = 0; ok && i < count; i++)
        ok = providers[i] != NULL;
    kn_creds_t *c = ok ? calloc(1, sizeof(*c)) : NULL;
    if (c && sync_init(c)) {
        free(c);
        c = NULL;
    }
    if (!c) {
        for (int i = 0; providers && i < count; i++)
            kn_creds_provider_destroy(providers[i]);
        return NULL;
    }
    memcpy(c->providers, providers, (size_t)count * sizeof(*providers));
    c->count = count;
    if (lg)
        c->lg = *lg;
    else
        c->lg.level = 0; /* below every level: nothing is logged */
    c->clock = realtime_ms;
    c->refresh_at_ms = INT64_MAX;
    kn_rng_seed_random(&c->rng);
    return c;
}

kn_creds_t *kn_creds_new(const kn_conf_t *conf) {
    kn_creds_provider_t *list[KN_CREDS_MAX_PROVIDERS];
    int n = 0;
    list[n++] = kn_creds_provider_static_new(conf ? conf->access_key_id : NULL,
                                             conf ? conf->secret_access_key : NULL,
                                             conf ? conf->session_token : NULL);
    list[n++] = kn_creds_provider_env_new();
    list[n++] = kn_creds_provider_profile_new(conf ? conf->profile : NULL);
    list[n++] = kn_creds_provider_web_identity_new(conf);
    list[n++] = kn_creds_provider_container_new(conf);
    list[n++] = kn_creds_provider_imds_new(conf);
    for (int i = 0; i < n; i++) {
        if (!list[i]) {
            for (int j = 0; j < n; j++)
                kn_creds_provider_destroy(list[j]);
            return NULL;
        }
    }
    kn_logger_t lg = {NULL, NULL, 0};
    if (conf)
        lg = kn_conf_logger(conf);
    return kn_creds_new_from(list, n, &lg);
}

void kn_creds_set_clock(kn_creds_t *c, kn_creds_clock_fn *fn, void *opaque) {
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->clock = fn ? fn : realtime_ms;
    c->clock_opaque = fn ? opaque : NULL;
    pthread_mutex_unlock(&c->mu);
}

void kn_creds_destroy(kn_creds_t *c) {
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    int joinable = c->refresher_state == REFRESHER_RUNNING;
    pthread_mutex_unlock(&c->mu);
    if (joinable)
        pthread_join(c->refresher, NULL);
    for (int i = 0; i < c->count; i++)
        kn_creds_provider_destroy(c->providers[i]);
    kn_credentials_clear(&c->cached);
    kn_error_destroy(c->last_err);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->fetched);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Appends "; clause" (or the first clause) to a heap string; keeps *s on failure. */
static void append_clause(char **s, const char *clause) {
    char *joined = NULL;
    if (asprintf(&joined, "%s%s%s", *s ? *s : "", *s ? "; " : "", clause) < 0)
        return;
    free(*s);
    *s = joined;
}

/* What one provider's fetch gave, checked: empty or already expired credentials are errors. */
static kn_err_t fetch_one(kn_creds_t *c, kn_creds_provider_t *p, kn_credentials_t *out,
                          kn_error_t **e) {
    memset(out, 0, sizeof(*out));
    kn_err_t rc = p->fetch(p, out, e);
    if (rc != KN_OK) {
        kn_credentials_clear(out);
        return rc;
    }
    if (!out->access_key_id || !*out->access_key_id || !out->secret_access_key ||
        !*out->secret_access_key) {
        kn_credentials_clear(out);
        *e = kn_error_new(KN_ERR_INVALID_ARG, "%s: provider returned an empty key id or secret",
                          p->name);
        return KN_ERR_INVALID_ARG;
    }
    int64_t now = c->clock(c->clock_opaque);
    if (out->expiration_ms && out->expiration_ms <= now) {
        *e = kn_error_new(KN_ERR_EXPIRED_TOKEN,
                          "%s: the credentials received expired %lld s ago (check the clock)",
                          p->name, (long long)(now - out->expiration_ms) / 1000);
        kn_credentials_clear(out);
        return KN_ERR_EXPIRED_TOKEN;
    }
    return KN_OK;
}

/* Asks each provider in turn; *source names the one that answered. Runs without the mutex. */
static kn_err_t fetch_chain(kn_creds_t *c, kn_credentials_t *out, const char **source,
                            kn_error_t **err) {
    char *tried = NULL;
    for (int i = 0; i < c->count; i++) {
        kn_creds_provider_t *p = c->providers[i];
        kn_error_t *e = NULL;
        KN_LOG_TRACE(&c->lg, FAC, "trying provider %s", p->name);
        kn_err_t rc = fetch_one(c, p, out, &e);
        if (rc == KN_OK) {
            KN_LOG_DBG(&c->lg, FAC, "credentials from %s", p->name);
            *source = p->name;
            kn_error_destroy(e);
            free(tried);
            return KN_OK;
        }
        if (rc != KN_ERR_NO_CREDENTIALS) {
            free(tried);
            *err = e ? e : kn_error_new(rc, "%s: %s", p->name, kn_err2str(rc));
            return rc;
        }
        if (e)
            append_clause(&tried, kn_error_message(e));
        else {
            char clause[128];
            snprintf(clause, sizeof(clause), "%s: not configured", p->name);
            append_clause(&tried, clause);
        }
        kn_error_destroy(e);
    }
    *err = kn_error_new(KN_ERR_NO_CREDENTIALS, "no credentials: %s",
                        tried ? tried : "no provider configured");
    free(tried);
    return KN_ERR_NO_CREDENTIALS;
}

static int64_t retry_delay_ms(int failures) {
    int64_t d = KN_CREDS_RETRY_BASE_MS;
    for (int i = 1; i < failures && d < KN_CREDS_RETRY_MAX_MS; i++)
        d *= 2;
    return d < KN_CREDS_RETRY_MAX_MS ? d : KN_CREDS_RETRY_MAX_MS;
}

static int cached_valid(const kn_creds_t *c, int64_t now) {
    const kn_credentials_t *k = &c->cached;
    return k->access_key_id && (k->expiration_ms == 0 || now < k->expiration_ms);
}

/* Whether the refresher should fetch now (mutex held). */
static int refresh_due(const kn_creds_t *c, int64_t now) {
    if (c->fetching || now < c->retry_at_ms)
        return 0;
    return !cached_valid(c, now) || now >= c->refresh_at_ms;
}

/* When the refresher should look again: the next due time, or INT64_MAX. */
static int64_t next_due(const kn_creds_t *c, int64_t now) {
    if (!cached_valid(c, now))
        return c->retry_at_ms;
    if (c->refresh_at_ms == INT64_MAX)
        return INT64_MAX;
    return c->refresh_at_ms > c->retry_at_ms ? c->refresh_at_ms : c->retry_at_ms;
}

/* Expiry minus the margin, the jitter, but at most half the remaining lifetime. */
static int64_t refresh_point(kn_creds_t *c, int64_t expiration_ms, int64_t now) {
    if (!expiration_ms)
        return INT64_MAX;
    int64_t margin =
        KN_CREDS_REFRESH_MARGIN_MS + (int64_t)kn_rng_uniform(&c->rng, KN_CREDS_REFRESH_JITTER_MS);
    int64_t half = (expiration_ms - now) / 2;
    return expiration_ms - (margin < half ? margin : half);
}

static void *refresher_main(void *arg);

/* Starts the refresher once (mutex held). Without it, callers refresh inline. */
static void refresher_start(kn_creds_t *c) {
    if (c->refresher_state != REFRESHER_NONE)
        return;
    int rc = pthread_create(&c->refresher, NULL, refresher_main, c);
    c->refresher_state = rc ? REFRESHER_FAILED : REFRESHER_RUNNING;
    if (rc)
        KN_LOG_WARN(&c->lg, FAC, "could not start the credentials refresher (error %d): "
                                 "refreshing in the callers instead", rc);
}

/* Called with the mutex held after a fetch ends: publish or keep the old ones. */
static void fetch_done(kn_creds_t *c, kn_err_t rc, kn_credentials_t *fresh, const char *source,
                       kn_error_t *e) {
    int64_t now = c->clock(c->clock_opaque);
    c->fetching = 0;
    c->last_rc = rc;
    kn_error_destroy(c->last_err);
    c->last_err = NULL;
    if (rc == KN_OK) {
        kn_credentials_clear(&c->cached);
        c->cached = *fresh; /* moved: the cache now owns the strings */
        memset(fresh, 0, sizeof(*fresh));
        c->source = source;
        c->failures = 0;
        c->retry_at_ms = 0;
        c->refresh_at_ms = refresh_point(c, c->cached.expiration_ms, now);
        if (c->cached.expiration_ms) {
            KN_LOG_DBG(&c->lg, FAC, "credentials from %s valid %lld s, refresh in %lld s", source,
                       (long long)(c->cached.expiration_ms - now) / 1000,
                       (long long)(c->refresh_at_ms - now) / 1000);
            refresher_start(c);
        }
    } else {
        c->last_err = e;
        c->failures++;
        int64_t delay = retry_delay_ms(c->failures);
        c->retry_at_ms = now + delay;
        if (cached_valid(c, now))
            KN_LOG_WARN(&c->lg, FAC,
                        "credentials refresh failed; using the current ones (valid %lld s more), "
                        "next try in %lld ms: %s",
                        (long long)(c->cached.expiration_ms - now) / 1000, (long long)delay,
                        kn_error_message(e));
    }
    pthread_cond_broadcast(&c->fetched);
    pthread_cond_signal(&c->wake);
}

/* One fetch by the calling thread; the mutex is released meanwhile. */
static void fetch_unlocked(kn_creds_t *c) {
    c->fetching = 1;
    pthread_mutex_unlock(&c->mu);
    kn_credentials_t fresh = {0};
    kn_error_t *e = NULL;
    const char *source = NULL;
    KN_LOG_TRACE(&c->lg, FAC, "fetching credentials");
    kn_err_t rc = fetch_chain(c, &fresh, &source, &e);
    pthread_mutex_lock(&c->mu);
    fetch_done(c, rc, &fresh, source, e);
}

static void *refresher_main(void *arg) {
    kn_creds_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        int64_t now = c->clock(c->clock_opaque);
        if (refresh_due(c, now)) {
            KN_LOG_TRACE(&c->lg, FAC, "refreshing credentials in the background");
            fetch_unlocked(c);
            continue;
        }
        /* Not due: until the next due time. A caller's fetch in flight signals its end. */
        int64_t due = c->fetching ? INT64_MAX : next_due(c, now);
        int64_t wait = due == INT64_MAX || due - now > KN_CREDS_REFRESHER_MAX_SLEEP_MS
                           ? KN_CREDS_REFRESHER_MAX_SLEEP_MS
                           : due - now;
        if (wait < 1)
            wait = 1;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait / 1000;
        until.tv_nsec += (wait % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->wake, &c->mu, &until);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The cached ones are past their refresh point: wake the refresher, or say the caller must. */
static int kick_refresher(kn_creds_t *c, int64_t now, int may_start) {
    if (!refresh_due(c, now))
        return 0;
    if (may_start)
        refresher_start(c);
    if (c->refresher_state == REFRESHER_RUNNING) {
        pthread_cond_signal(&c->wake);
        return 0;
    }
    return 1;
}

static kn_err_t copy_cached(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err) {
    kn_err_t rc = kn_credentials_copy(out, &c->cached);
    if (rc != KN_OK && err)
        *err = kn_error_new(rc, "out of memory copying credentials");
    return rc;
}

/* Why nothing valid is cached, for callers that do not fetch (mutex held). */
static kn_err_t unusable(const kn_creds_t *c, int64_t now, kn_error_t **err) {
    kn_err_t rc;
    kn_error_t *e;
    if (c->cached.access_key_id) {
        rc = KN_ERR_EXPIRED_TOKEN;
        e = kn_error_new(rc, "credentials from %s expired %lld s ago%s%s", c->source,
                         (long long)(now - c->cached.expiration_ms) / 1000,
                         c->last_err ? " and could not be refreshed: " : "; refreshing",
                         c->last_err ? kn_error_message(c->last_err) : "");
    } else if (c->last_err) {
        rc = c->last_rc;
        e = kn_error_copy(c->last_err);
    } else {
        rc = KN_ERR_NO_CREDENTIALS;
        e = kn_error_new(rc, "no credentials yet: the first fetch is in progress");
    }
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
    return rc;
}

static int get_begin(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err) {
    if (err)
        *err = NULL;
    if (!out)
        return 0;
    memset(out, 0, sizeof(*out));
    return c != NULL;
}

kn_err_t kn_creds_get(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err) {
    if (!get_begin(c, out, err))
        return KN_ERR_INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    int tried = 0; /* a fetch ended since this call began */
    kn_err_t rc;
    for (;;) {
        int64_t now = c->clock(c->clock_opaque);
        if (cached_valid(c, now)) {
            if (kick_refresher(c, now, 0) && !tried) {
                fetch_unlocked(c); /* no refresher thread: refresh inline */
                tried = 1;
                continue;
            }
            rc = copy_cached(c, out, err);
            break;
        }
        if (tried) {
            if (c->last_rc == KN_OK) {
                rc = unusable(c, now, err); /* fetched, but expired already (clock moved) */
            } else {
                rc = c->last_rc;
                if (err)
                    *err = kn_error_copy(c->last_err);
            }
            break;
        }
        if (c->fetching) {
            while (c->fetching)
                pthread_cond_wait(&c->fetched, &c->mu);
        } else {
            fetch_unlocked(c);
        }
        tried = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

kn_err_t kn_creds_get_nowait(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err) {
    if (!get_begin(c, out, err))
        return KN_ERR_INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    int64_t now = c->clock(c->clock_opaque);
    kn_err_t rc;
    kick_refresher(c, now, 1);
    if (cached_valid(c, now))
        rc = copy_cached(c, out, err);
    else
        rc = unusable(c, now, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}
