/*
 * Credentials values, providers, and the caching chain every client shares.
 *
 * The chain fetches outside its mutex (providers may block on I/O later) with a
 * `fetching` flag so that concurrent callers share one fetch: they either get
 * the still-valid cached credentials or wait for the fetch in flight.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds.h"

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
    kn_credentials_t cached; /* empty until the first successful fetch */
    int fetching;            /* a thread is fetching outside the mutex */
    kn_err_t last_rc;        /* outcome of the latest fetch, for callers that waited on it */
    kn_error_t *last_err;
    int failures;            /* consecutive failed fetches */
    int64_t retry_at_ms;     /* while the cached ones are valid, no refresh before this */
};

static int64_t realtime_ms(void *opaque) {
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kn_creds_t *kn_creds_new_from(kn_creds_provider_t **providers, int count, const kn_logger_t *lg) {
    int ok = providers && count > 0 && count <= KN_CREDS_MAX_PROVIDERS;
    for (int i = 0; ok && i < count; i++)
        ok = providers[i] != NULL;
    kn_creds_t *c = ok ? calloc(1, sizeof(*c)) : NULL;
    if (c && pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        c = NULL;
    }
    if (c && pthread_cond_init(&c->fetched, NULL)) {
        pthread_mutex_destroy(&c->mu);
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
    /*
     * The remote providers go here, in the AWS SDK order: web identity
     * (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, via STS), container
     * (AWS_CONTAINER_CREDENTIALS_*), then IMDSv2 unless
     * AWS_EC2_METADATA_DISABLED=true. Each reports "not configured" when its
     * variables are absent, so the chain's final message lists it.
     */
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
    for (int i = 0; i < c->count; i++)
        kn_creds_provider_destroy(c->providers[i]);
    kn_credentials_clear(&c->cached);
    kn_error_destroy(c->last_err);
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

/* Asks each provider in turn. Runs without the mutex. */
static kn_err_t fetch_chain(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err) {
    char *tried = NULL;
    for (int i = 0; i < c->count; i++) {
        kn_creds_provider_t *p = c->providers[i];
        kn_error_t *e = NULL;
        KN_LOG_TRACE(&c->lg, FAC, "trying provider %s", p->name);
        memset(out, 0, sizeof(*out));
        kn_err_t rc = p->fetch(p, out, &e);
        if (rc == KN_OK && (!out->access_key_id || !*out->access_key_id ||
                            !out->secret_access_key || !*out->secret_access_key)) {
            kn_credentials_clear(out);
            rc = KN_ERR_INVALID_ARG;
            e = kn_error_new(rc, "%s: provider returned an empty key id or secret", p->name);
        }
        if (rc == KN_OK) {
            KN_LOG_DBG(&c->lg, FAC, "credentials from %s", p->name);
            free(tried);
            return KN_OK;
        }
        kn_credentials_clear(out);
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

static int cached_valid(const kn_creds_t *c, int64_t now, int64_t margin) {
    const kn_credentials_t *k = &c->cached;
    return k->access_key_id && (k->expiration_ms == 0 || now < k->expiration_ms - margin);
}

/* Called with the mutex held after a fetch ends: publish or keep the old ones. */
static void fetch_done(kn_creds_t *c, kn_err_t rc, kn_credentials_t *fresh, kn_error_t *e) {
    int64_t now = c->clock(c->clock_opaque);
    c->fetching = 0;
    c->last_rc = rc;
    kn_error_destroy(c->last_err);
    c->last_err = NULL;
    if (rc == KN_OK) {
        kn_credentials_clear(&c->cached);
        c->cached = *fresh; /* moved: the cache now owns the strings */
        memset(fresh, 0, sizeof(*fresh));
        c->failures = 0;
        c->retry_at_ms = 0;
    } else {
        c->last_err = e;
        c->failures++;
        if (cached_valid(c, now, 0)) {
            int64_t delay = retry_delay_ms(c->failures);
            c->retry_at_ms = now + delay;
            KN_LOG_WARN(&c->lg, FAC,
                        "credentials refresh failed; using the current ones (valid %lld s more), "
                        "next try in %lld ms: %s",
                        (long long)(c->cached.expiration_ms - now) / 1000, (long long)delay,
                        kn_error_message(e));
        }
    }
    pthread_cond_broadcast(&c->fetched);
}

kn_err_t kn_creds_get(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err) {
    if (err)
        *err = NULL;
    if (!out)
        return KN_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (!c)
        return KN_ERR_INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    int tried = 0; /* a fetch ended since this call began */
    kn_err_t rc;
    for (;;) {
        int64_t now = c->clock(c->clock_opaque);
        int usable = cached_valid(c, now, 0);
        if (cached_valid(c, now, KN_CREDS_REFRESH_MARGIN_MS) ||
            (usable && (c->fetching || tried || now < c->retry_at_ms)) ||
            (tried && c->last_rc == KN_OK && c->cached.access_key_id)) {
            rc = kn_credentials_copy(out, &c->cached);
            if (rc != KN_OK && err)
                *err = kn_error_new(rc, "out of memory copying credentials");
            break;
        }
        if (tried) {
            rc = c->last_rc;
            if (err)
                *err = kn_error_copy(c->last_err);
            break;
        }
        if (c->fetching) {
            while (c->fetching)
                pthread_cond_wait(&c->fetched, &c->mu);
            tried = 1;
            continue;
        }
        c->fetching = 1;
        pthread_mutex_unlock(&c->mu);
        kn_credentials_t fresh = {0};
        kn_error_t *e = NULL;
        KN_LOG_TRACE(&c->lg, FAC, "fetching credentials");
        kn_err_t frc = fetch_chain(c, &fresh, &e);
        pthread_mutex_lock(&c->mu);
        fetch_done(c, frc, &fresh, e);
        tried = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
