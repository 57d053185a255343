/*
 * Credentials: the conf, environment and shared-file providers, the chain's
 * order and messages, and the cache (fake clock, fake provider, threads).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds.h"
#include "kn_test.h"
#include "kn_test_log.h"
#include "kn_test_sandbox.h"

#define T0 1700000000000LL /* an arbitrary epoch ms */
#define MINUTE 60000LL

static char dir[64];

static void setup(void) { kn_test_sandbox_enter(dir, sizeof(dir)); }
static void teardown(void) { kn_test_sandbox_remove(dir); }

static void write_home(const char *rel, const char *text) {
    kn_test_write_file(dir, rel, text, strlen(text), NULL, 0);
}

/* Runs the standard chain for conf once; returns its code, fills *out and message. */
static kn_err_t chain_get(const kn_conf_t *conf, kn_credentials_t *out, char *msg, size_t size) {
    kn_creds_t *c = kn_creds_new(conf);
    ck_assert_ptr_nonnull(c);
    kn_error_t *err = NULL;
    kn_err_t rc = kn_creds_get(c, out, &err);
    ck_assert_int_eq(rc == KN_OK, err == NULL);
    snprintf(msg, size, "%s", err ? kn_error_message(err) : "");
    kn_error_destroy(err);
    kn_creds_destroy(c);
    return rc;
}

/* The standard chain must yield exactly these. */
static void chain_yields(const kn_conf_t *conf, const char *id, const char *secret,
                         const char *token) {
    kn_credentials_t k;
    char msg[1024];
    kn_err_t rc = chain_get(conf, &k, msg, sizeof(msg));
    ck_assert_msg(rc == KN_OK, "%s: %s", kn_err2name(rc), msg);
    ck_assert_str_eq(k.access_key_id, id);
    ck_assert_str_eq(k.secret_access_key, secret);
    if (token)
        ck_assert_str_eq(k.session_token, token);
    else
        ck_assert_ptr_null(k.session_token);
    ck_assert_int_eq(k.expiration_ms, 0);
    kn_credentials_clear(&k);
}

/* The standard chain must fail with `code` and exactly `message`. */
static void chain_fails(const kn_conf_t *conf, kn_err_t code, const char *message) {
    kn_credentials_t k;
    char msg[2048];
    ck_assert_int_eq(chain_get(conf, &k, msg, sizeof(msg)), code);
    ck_assert_str_eq(msg, message);
    ck_assert_ptr_null(k.access_key_id);
}

START_TEST(credentials_values) {
    kn_credentials_t a, b;
    ck_assert_int_eq(kn_credentials_set(&a, "AKID", "SECRET", "", 5), KN_OK);
    ck_assert_ptr_null(a.session_token);
    ck_assert_int_eq(a.expiration_ms, 5);
    kn_credentials_clear(&a);
    ck_assert_int_eq(kn_credentials_set(&a, "AKID", "SECRET", "TOKEN", 7), KN_OK);
    ck_assert_int_eq(kn_credentials_copy(&b, &a), KN_OK);
    ck_assert_ptr_ne(a.secret_access_key, b.secret_access_key);
    ck_assert_str_eq(b.access_key_id, "AKID");
    ck_assert_str_eq(b.secret_access_key, "SECRET");
    ck_assert_str_eq(b.session_token, "TOKEN");
    ck_assert_int_eq(b.expiration_ms, 7);
    kn_credentials_clear(&a);
    ck_assert_ptr_null(a.access_key_id);
    ck_assert_ptr_null(a.secret_access_key);
    ck_assert_ptr_null(a.session_token);
    ck_assert_int_eq(a.expiration_ms, 0);
    kn_credentials_clear(&b);
    kn_credentials_clear(NULL);
    kn_secret_free(NULL);
    ck_assert_int_eq(kn_credentials_set(&a, "", "SECRET", NULL, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_credentials_set(&a, "AKID", NULL, NULL, 0), KN_ERR_INVALID_ARG);
    ck_assert_ptr_null(a.access_key_id);
    ck_assert_int_eq(kn_credentials_copy(&a, NULL), KN_ERR_INVALID_ARG);
}
END_TEST

/* The chain's clauses for the remote providers when none is configured. */
#define REMOTE_NONE(profile)                                                                       \
    "; web-identity: AWS_WEB_IDENTITY_TOKEN_FILE not set and no web_identity_token_file in "      \
    "profile '" profile "'; container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "               \
    "AWS_CONTAINER_CREDENTIALS_FULL_URI not set; imds: disabled (AWS_EC2_METADATA_DISABLED)"

START_TEST(nothing_configured_lists_every_source) {
    char want[1024];
    snprintf(want, sizeof(want),
             "no credentials: conf not set; environment: AWS_ACCESS_KEY_ID not set; "
             "profile 'default': not found in %s/.aws/credentials (no such file), "
             "%s/.aws/config (no such file)" REMOTE_NONE("default"),
             dir, dir);
    chain_fails(NULL, KN_ERR_NO_CREDENTIALS, want);
    /* the files exist but hold other profiles; the profile name comes from conf */
    write_home(".aws/credentials", "[other]\naws_access_key_id = A\naws_secret_access_key = B\n");
    write_home(".aws/config", "[default]\nregion = us-east-1\n");
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "profile", "x", NULL, 0), KN_OK);
    snprintf(want, sizeof(want),
             "no credentials: conf not set; environment: AWS_ACCESS_KEY_ID not set; "
             "profile 'x': not found in %s/.aws/credentials, %s/.aws/config" REMOTE_NONE("x"),
             dir, dir);
    chain_fails(conf, KN_ERR_NO_CREDENTIALS, want);
    /* a profile without keys (e.g. one that assumes a role) is not configured either */
    snprintf(want, sizeof(want),
             "no credentials: conf not set; environment: AWS_ACCESS_KEY_ID not set; "
             "profile 'default': no aws_access_key_id in %s/.aws/credentials, "
             "%s/.aws/config" REMOTE_NONE("default"),
             dir, dir);
    chain_fails(NULL, KN_ERR_NO_CREDENTIALS, want);
    /* a secret alone in the environment does not count */
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    chain_fails(NULL, KN_ERR_NO_CREDENTIALS, want);
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(chain_precedence) {
    write_home(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                                   "aws_secret_access_key = secret-file\n");
    chain_yields(NULL, "AKIDFILE", "secret-file", NULL);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
    chain_yields(NULL, "AKIDENV", "secret-env", NULL);
    setenv("AWS_SESSION_TOKEN", "token-env", 1);
    chain_yields(NULL, "AKIDENV", "secret-env", "token-env");
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "credentials.access.key.id", "AKIDCONF", NULL, 0), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "credentials.secret.access.key", "secret-conf", NULL, 0),
                     KN_OK);
    chain_yields(conf, "AKIDCONF", "secret-conf", NULL);
    ck_assert_int_eq(kn_conf_set(conf, "credentials.session.token", "token-conf", NULL, 0), KN_OK);
    chain_yields(conf, "AKIDCONF", "secret-conf", "token-conf");
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(partial_settings_are_errors) {
    /* each stops the chain even though a later source would have worked */
    write_home(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                                   "aws_secret_access_key = secret-file\n");
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "credentials.access.key.id", "AKIDCONF", NULL, 0), KN_OK);
    chain_fails(conf, KN_ERR_INVALID_ARG,
                "conf: credentials.access.key.id and credentials.secret.access.key must be set "
                "together (only the key id is set)");
    kn_conf_destroy(conf);
    conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "credentials.session.token", "tok", NULL, 0), KN_OK);
    chain_fails(conf, KN_ERR_INVALID_ARG,
                "conf: credentials.access.key.id and credentials.secret.access.key must be set "
                "together (only the session token is set)");
    kn_conf_destroy(conf);

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    chain_fails(NULL, KN_ERR_INVALID_ARG,
                "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    chain_fails(NULL, KN_ERR_INVALID_ARG,
                "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    unsetenv("AWS_ACCESS_KEY_ID");

    write_home(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\n");
    char want[1024];
    snprintf(want, sizeof(want),
             "profile 'default': aws_access_key_id is set but aws_secret_access_key is not "
             "(%s/.aws/credentials, %s/.aws/config (no such file))",
             dir, dir);
    chain_fails(NULL, KN_ERR_INVALID_ARG, want);
}
END_TEST

START_TEST(profile_selection_and_files) {
    write_home(".aws/credentials", "[default]\naws_access_key_id = AKIDDEF\n"
                                   "aws_secret_access_key = secret-def\n"
                                   "[dev]\r\naws_access_key_id = AKIDDEV\r\n"
                                   "aws_secret_access_key = secret-dev\r\n"
                                   "aws_session_token = token-dev\r\n");
    write_home(".aws/config", "[profile dev]\naws_access_key_id = AKIDCFGDEV\n"
                              "aws_secret_access_key = secret-cfg-dev\n"
                              "[profile ops]\nregion = us-east-1\n"
                              "aws_access_key_id = AKIDOPS\n"
                              "aws_secret_access_key = secret-ops\n"
                              "[profile mix]\naws_secret_access_key = secret-mix-cfg\n"
                              "aws_session_token = token-mix-cfg\n");
    chain_yields(NULL, "AKIDDEF", "secret-def", NULL);
    /* AWS_PROFILE, and the credentials file wins over the config file */
    setenv("AWS_PROFILE", "dev", 1);
    chain_yields(NULL, "AKIDDEV", "secret-dev", "token-dev");
    /* a profile only in the config file */
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "profile", "ops", NULL, 0), KN_OK);
    chain_yields(conf, "AKIDOPS", "secret-ops", NULL);
    /* key by key: the id from the credentials file, the rest from the config file */
    write_home(".aws/credentials", "[mix]\naws_access_key_id = AKIDMIX\n"
                                   "aws_secret_access_key =\n");
    ck_assert_int_eq(kn_conf_set(conf, "profile", "mix", NULL, 0), KN_OK);
    chain_yields(conf, "AKIDMIX", "secret-mix-cfg", "token-mix-cfg");
    /* other file locations */
    char cpath[4096];
    const char *elsewhere = "[mix]\naws_access_key_id = AKIDELSE\naws_secret_access_key = s-else\n";
    kn_test_write_file(dir, "elsewhere/creds", elsewhere, strlen(elsewhere), cpath, sizeof(cpath));
    setenv("AWS_SHARED_CREDENTIALS_FILE", cpath, 1);
    setenv("AWS_CONFIG_FILE", "~/elsewhere/none", 1);
    chain_yields(conf, "AKIDELSE", "s-else", NULL);
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(malformed_file_stops_chain) {
    write_home(".aws/credentials", "[default]\naws_access_key_id = AKID\n"
                                   "aws_secret_access_key wJalrXUtnFEMI/SECRET\n");
    char want[1024];
    snprintf(want, sizeof(want), "%s/.aws/credentials:3: expected 'key = value'", dir);
    chain_fails(NULL, KN_ERR_INVALID_ARG, want);
    /* a huge line */
    size_t n = 20000;
    char *text = malloc(n + 32);
    strcpy(text, "[default]\nx = ");
    memset(text + 14, 'y', n);
    strcpy(text + 14 + n, "\n");
    write_home(".aws/config", text);
    write_home(".aws/credentials", "[other]\n");
    free(text);
    snprintf(want, sizeof(want), "%s/.aws/config:2: line longer than the limit", dir);
    chain_fails(NULL, KN_ERR_TOO_LARGE, want);
    /* a config file that is a directory */
    setenv("AWS_CONFIG_FILE", dir, 1);
    snprintf(want, sizeof(want), "%s: not a regular file", dir);
    chain_fails(NULL, KN_ERR_FILE, want);
}
END_TEST

/* ---- the cache, with a fake clock and a fake provider ---- */

typedef struct {
    atomic_llong now;
    atomic_int calls;
} fake_clock_t;

static int64_t fake_now(void *opaque) {
    fake_clock_t *fc = opaque;
    atomic_fetch_add(&fc->calls, 1);
    return atomic_load(&fc->now);
}

#define MAX_HANDED 16

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fake_clock_t *clock;
    int64_t lifetime_ms; /* 0: credentials that do not expire */
    int fail;            /* fetches fail with KN_ERR_TRANSPORT */
    int gate_closed;     /* fetches block until opened */
    int fetches;         /* fetches started */
    int destroyed;
    /* what was handed out, to check that the chain wiped it */
    char *secret_ptr[MAX_HANDED], *token_ptr[MAX_HANDED];
    char secret_text[MAX_HANDED][1024], token_text[MAX_HANDED][1024];
} fake_t;

static void fake_init(fake_t *f, fake_clock_t *fc, int64_t lifetime_ms) {
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->clock = fc;
    f->lifetime_ms = lifetime_ms;
}

/* Consecutive generations' strings differ in length by 200 bytes, so the
 * allocator does not reuse one generation's freed memory for the next and hide
 * whether it was wiped. */
static kn_err_t fake_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    fake_t *f = self->state;
    pthread_mutex_lock(&f->mu);
    int n = ++f->fetches;
    pthread_cond_broadcast(&f->cv);
    while (f->gate_closed)
        pthread_cond_wait(&f->cv, &f->mu);
    int fail = f->fail;
    pthread_mutex_unlock(&f->mu);
    if (fail) {
        *err = kn_error_new(KN_ERR_TRANSPORT, "fake: endpoint unreachable (fetch %d)", n);
        return KN_ERR_TRANSPORT;
    }
    char id[32], secret[1024], token[1024];
    snprintf(id, sizeof(id), "AKIDFAKE%04d", n);
    snprintf(secret, sizeof(secret), "fake-secret-%04d-%0*d", n, 32 + 200 * (n % 4), 0);
    snprintf(token, sizeof(token), "fake-token-%04d-%0*d", n, 132 + 200 * (n % 4), 0);
    int64_t exp = f->lifetime_ms ? atomic_load(&f->clock->now) + f->lifetime_ms : 0;
    kn_err_t rc = kn_credentials_set(out, id, secret, token, exp);
    if (rc == KN_OK && n <= MAX_HANDED) {
        f->secret_ptr[n - 1] = out->secret_access_key;
        f->token_ptr[n - 1] = out->session_token;
        strcpy(f->secret_text[n - 1], secret);
        strcpy(f->token_text[n - 1], token);
    }
    return rc;
}

static void fake_destroy(void *state) { ((fake_t *)state)->destroyed = 1; }

#define REAL_LIFETIME_MS 2000

/* The fake's credentials, expiring REAL_LIFETIME_MS from now on the real clock. */
static kn_err_t real_clock_fetch(kn_creds_provider_t *self, kn_credentials_t *out,
                                 kn_error_t **err) {
    kn_err_t rc = fake_fetch(self, out, err);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == KN_OK)
        out->expiration_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + REAL_LIFETIME_MS;
    return rc;
}

/* The clock and fake provider of the cache tests (each test runs in its own process). */
static fake_clock_t fc;
static fake_t f;

/* Sets a field of `f` that fetches in other threads read. */
static void fake_set(int *field, int value) {
    pthread_mutex_lock(&f.mu);
    *field = value;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.mu);
}

static int fake_fetches(void) {
    pthread_mutex_lock(&f.mu);
    int n = f.fetches;
    pthread_mutex_unlock(&f.mu);
    return n;
}

/* A chain of the fake alone, its clock at T0; logs go to cap when given. */
static kn_creds_t *fake_rig(int64_t lifetime_ms, kn_test_log_t *cap) {
    atomic_store(&fc.now, T0);
    atomic_store(&fc.calls, 0);
    fake_init(&f, &fc, lifetime_ms);
    kn_creds_provider_t *p = kn_creds_provider_new("fake", fake_fetch, fake_destroy, &f);
    kn_logger_t lg = {kn_test_log_fn, cap, KN_LOG_TRACE};
    kn_creds_t *c = kn_creds_new_from(&p, 1, cap ? &lg : NULL);
    ck_assert_ptr_nonnull(c);
    kn_creds_set_clock(c, fake_now, &fc);
    return c;
}

/* kn_creds_get must succeed with generation `n` of the fake's credentials. */
static void get_is(kn_creds_t *c, int n) {
    kn_credentials_t k;
    kn_error_t *err = NULL;
    kn_err_t rc = kn_creds_get(c, &k, &err);
    ck_assert_msg(rc == KN_OK, "%s: %s", kn_err2name(rc), kn_error_message(err));
    char want[32];
    snprintf(want, sizeof(want), "AKIDFAKE%04d", n);
    ck_assert_str_eq(k.access_key_id, want);
    kn_credentials_clear(&k);
}

START_TEST(cache_static_fetched_once) {
    kn_creds_t *c = fake_rig(0, NULL);
    get_is(c, 1);
    atomic_store(&fc.now, T0 + 100000 * MINUTE);
    get_is(c, 1);
    get_is(c, 1);
    ck_assert_int_eq(fake_fetches(), 1);
    kn_creds_destroy(c);
    ck_assert(f.destroyed);
}
END_TEST

/* Reads the capture's count of lines at `level`. */
static int log_lines(kn_test_log_t *cap, kn_log_level_t level) {
    pthread_mutex_lock(&cap->lock);
    int n = cap->lines[level];
    pthread_mutex_unlock(&cap->lock);
    return n;
}

/* Bounds for waiting on the background refresher (a hang, not slowness, fails the test). */
#define WAIT_STEP_US 1000
#define WAIT_STEPS 30000

static void pause_us(long us) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};
    nanosleep(&ts, NULL);
}

/* Waits until the capture holds `n` warnings (the refresher logs one per failed refresh). */
static void wait_warnings(kn_test_log_t *cap, int n) {
    for (int i = 0; i < WAIT_STEPS && log_lines(cap, KN_LOG_WARN) < n; i++)
        pause_us(WAIT_STEP_US);
    ck_assert_int_eq(log_lines(cap, KN_LOG_WARN), n);
}

/*
 * kn_creds_get keeps returning valid credentials until the refresher has
 * published generation `n`; fails if it never does.
 */
static void eventually_is(kn_creds_t *c, int n) {
    char want[32];
    snprintf(want, sizeof(want), "AKIDFAKE%04d", n);
    for (int i = 0; i < WAIT_STEPS; i++) {
        kn_credentials_t k;
        kn_error_t *err = NULL;
        kn_err_t rc = kn_creds_get(c, &k, &err);
        ck_assert_msg(rc == KN_OK, "%s: %s", kn_err2name(rc), kn_error_message(err));
        int done = !strcmp(k.access_key_id, want);
        kn_credentials_clear(&k);
        if (done)
            return;
        pause_us(WAIT_STEP_US);
    }
    ck_abort_msg("generation %d never arrived", n);
}

START_TEST(cache_refreshes_within_margin) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    get_is(c, 1);
    /* before the earliest refresh point (margin + the largest jitter) the cached ones are used */
    atomic_store(&fc.now, T0 + 60 * MINUTE - KN_CREDS_REFRESH_MARGIN_MS -
                              KN_CREDS_REFRESH_JITTER_MS - 1);
    get_is(c, 1);
    ck_assert_int_eq(fake_fetches(), 1);
    /* at the latest refresh point the caller gets the cached ones at once and wakes the refresher */
    int64_t t = T0 + 60 * MINUTE - KN_CREDS_REFRESH_MARGIN_MS;
    atomic_store(&fc.now, t);
    eventually_is(c, 2);
    get_is(c, 2);
    ck_assert_int_eq(fake_fetches(), 2);
    /* long after expiry (a suspended host, no refresh ran): the caller fetches */
    atomic_store(&fc.now, t + 1000 * MINUTE);
    get_is(c, 3);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_short_lived_refreshed_halfway) {
    /* 4 minutes is less than twice the margin: refreshed after half the lifetime */
    kn_creds_t *c = fake_rig(4 * MINUTE, NULL);
    get_is(c, 1);
    atomic_store(&fc.now, T0 + 2 * MINUTE - 1);
    get_is(c, 1);
    ck_assert_int_eq(fake_fetches(), 1);
    atomic_store(&fc.now, T0 + 2 * MINUTE);
    eventually_is(c, 2);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_failed_refresh_keeps_valid_ones) {
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    kn_creds_t *c = fake_rig(60 * MINUTE, &cap);
    get_is(c, 1);
    fake_set(&f.fail, 1);
    int64_t t = T0 + 57 * MINUTE; /* 3 minutes of validity left */
    atomic_store(&fc.now, t);
    get_is(c, 1); /* wakes the refresher, whose fetch fails: a warning */
    wait_warnings(&cap, 1);
    ck_assert_int_eq(fake_fetches(), 2);
    ck_assert_ptr_nonnull(strstr(cap.text, "fake: endpoint unreachable (fetch 2)"));
    get_is(c, 1);
    /* no new attempt until the retry delay has passed, then it doubles */
    atomic_store(&fc.now, t + KN_CREDS_RETRY_BASE_MS - 1);
    get_is(c, 1);
    ck_assert_int_eq(fake_fetches(), 2);
    atomic_store(&fc.now, t + KN_CREDS_RETRY_BASE_MS);
    get_is(c, 1);
    wait_warnings(&cap, 2);
    ck_assert_int_eq(fake_fetches(), 3);
    t += KN_CREDS_RETRY_BASE_MS;
    atomic_store(&fc.now, t + 2 * KN_CREDS_RETRY_BASE_MS - 1);
    get_is(c, 1);
    ck_assert_int_eq(fake_fetches(), 3);
    atomic_store(&fc.now, t + 2 * KN_CREDS_RETRY_BASE_MS);
    get_is(c, 1);
    wait_warnings(&cap, 3);
    ck_assert_int_eq(fake_fetches(), 4);
    /* once they have expired, a non-blocking caller gets a clear error at once */
    atomic_store(&fc.now, T0 + 60 * MINUTE + 5000);
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get_nowait(c, &k, &err), KN_ERR_EXPIRED_TOKEN);
    ck_assert_str_eq(kn_error_message(err), "credentials from fake expired 5 s ago and could not "
                                            "be refreshed: fake: endpoint unreachable (fetch 4)");
    ck_assert_ptr_null(k.access_key_id);
    kn_error_destroy(err);
    /* that call woke the refresher, which tries again behind it */
    const char *want5 = "credentials from fake expired 5 s ago and could not be refreshed: "
                        "fake: endpoint unreachable (fetch 5)";
    int seen = 0;
    for (int i = 0; i < WAIT_STEPS && !seen; i++) {
        ck_assert_int_eq(kn_creds_get_nowait(c, &k, &err), KN_ERR_EXPIRED_TOKEN);
        seen = !strcmp(kn_error_message(err), want5);
        kn_error_destroy(err);
        pause_us(WAIT_STEP_US);
    }
    ck_assert_msg(seen, "the refresher did not try again");
    ck_assert_int_eq(fake_fetches(), 5);
    /* a blocking caller tries once itself and gets that attempt's error */
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_ERR_TRANSPORT);
    ck_assert_str_eq(kn_error_message(err), "fake: endpoint unreachable (fetch 6)");
    ck_assert_ptr_null(k.access_key_id);
    kn_error_destroy(err);
    /* with nothing valid, every blocking call tries again */
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_ERR_TRANSPORT);
    ck_assert_int_eq(fake_fetches(), 7);
    /* and recovers */
    fake_set(&f.fail, 0);
    get_is(c, 8);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_nowait_never_fetches_inline) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    fake_set(&f.gate_closed, 1);
    kn_credentials_t k;
    kn_error_t *err = NULL;
    /* nothing yet: a clear error at once, and the refresher fetches in the background */
    ck_assert_int_eq(kn_creds_get_nowait(c, &k, &err), KN_ERR_NO_CREDENTIALS);
    ck_assert_str_eq(kn_error_message(err), "no credentials yet: the first fetch is in progress");
    kn_error_destroy(err);
    pthread_mutex_lock(&f.mu);
    while (f.fetches < 1)
        pthread_cond_wait(&f.cv, &f.mu);
    pthread_mutex_unlock(&f.mu);
    /* while that fetch is blocked in the provider, nowait still returns at once */
    ck_assert_int_eq(kn_creds_get_nowait(c, &k, NULL), KN_ERR_NO_CREDENTIALS);
    fake_set(&f.gate_closed, 0);
    for (int i = 0; i < WAIT_STEPS && kn_creds_get_nowait(c, &k, NULL) != KN_OK; i++)
        pause_us(WAIT_STEP_US);
    ck_assert_str_eq(k.access_key_id, "AKIDFAKE0001");
    kn_credentials_clear(&k);
    ck_assert_int_eq(fake_fetches(), 1);
    /* due for refresh: the cached ones, and the refresh happens behind the caller */
    atomic_store(&fc.now, T0 + 58 * MINUTE);
    ck_assert_int_eq(kn_creds_get_nowait(c, &k, NULL), KN_OK);
    ck_assert_str_eq(k.access_key_id, "AKIDFAKE0001");
    kn_credentials_clear(&k);
    eventually_is(c, 2);
    /* expired while a refresh is still in flight */
    fake_set(&f.gate_closed, 1);
    atomic_store(&fc.now, T0 + 58 * MINUTE + 61 * MINUTE);
    ck_assert_int_eq(kn_creds_get_nowait(c, &k, &err), KN_ERR_EXPIRED_TOKEN);
    ck_assert_str_eq(kn_error_message(err), "credentials from fake expired 60 s ago; refreshing");
    kn_error_destroy(err);
    fake_set(&f.gate_closed, 0);
    kn_creds_destroy(c);
}
END_TEST

/* A provider whose credentials expired before they arrived (e.g. a wrong clock). */
static kn_err_t stale_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    (void)self, (void)err;
    return kn_credentials_set(out, "AKIDSTALE", "secret", "token", T0 - 90000);
}

START_TEST(cache_rejects_expired_on_arrival) {
    kn_creds_provider_t *p = kn_creds_provider_new("stale", stale_fetch, NULL, NULL);
    kn_creds_t *c = kn_creds_new_from(&p, 1, NULL);
    atomic_store(&fc.now, T0);
    kn_creds_set_clock(c, fake_now, &fc);
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_ERR_EXPIRED_TOKEN);
    ck_assert_str_eq(kn_error_message(err),
                     "stale: the credentials received expired 90 s ago (check the clock)");
    ck_assert_ptr_null(k.access_key_id);
    kn_error_destroy(err);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_refresher_runs_without_callers) {
    /* the real clock and 2-second credentials: refreshed by the refresher alone */
    atomic_store(&fc.now, T0);
    fake_init(&f, &fc, 0);
    kn_creds_provider_t *p = kn_creds_provider_new("fake", real_clock_fetch, fake_destroy, &f);
    kn_creds_t *c = kn_creds_new_from(&p, 1, NULL);
    ck_assert_ptr_nonnull(c);
    get_is(c, 1);
    /* nobody calls kn_creds_get meanwhile */
    for (int i = 0; i < WAIT_STEPS && fake_fetches() < 3; i++)
        pause_us(WAIT_STEP_US);
    ck_assert_int_ge(fake_fetches(), 3);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_first_fetch_fails) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    f.fail = 1;
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_ERR_TRANSPORT);
    ck_assert_str_eq(kn_error_message(err), "fake: endpoint unreachable (fetch 1)");
    kn_error_destroy(err);
    f.fail = 0;
    get_is(c, 2);
    kn_creds_destroy(c);
}
END_TEST

typedef struct {
    kn_creds_t *c;
    kn_err_t rc;
    char id[32];
} getter_t;

static void *getter(void *arg) {
    getter_t *g = arg;
    kn_credentials_t k;
    g->rc = kn_creds_get(g->c, &k, NULL);
    if (g->rc == KN_OK)
        snprintf(g->id, sizeof(g->id), "%s", k.access_key_id);
    kn_credentials_clear(&k);
    return NULL;
}

#define NTHREADS 8

/*
 * Starts NTHREADS callers of kn_creds_get against a fake whose gate is closed,
 * opens the gate once all of them are inside, and joins them. Every caller
 * reads the clock once on entry, under the chain's lock: when all have, one is
 * blocked in the fetch and the others are waiting for it.
 */
static void run_getters(kn_creds_t *c, getter_t *g) {
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        g[i] = (getter_t){c, KN_ERR_STATE, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, getter, &g[i]), 0);
    }
    while (atomic_load(&fc.calls) < NTHREADS)
        sched_yield();
    ck_assert_int_eq(fake_fetches(), 1);
    fake_set(&f.gate_closed, 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
}

START_TEST(cache_concurrent_callers_share_one_fetch) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    f.gate_closed = 1;
    getter_t g[NTHREADS];
    run_getters(c, g);
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(g[i].rc, KN_OK);
        ck_assert_str_eq(g[i].id, "AKIDFAKE0001");
    }
    ck_assert_int_eq(fake_fetches(), 1);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_concurrent_failure_shared) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    f.gate_closed = 1;
    f.fail = 1;
    getter_t g[NTHREADS];
    run_getters(c, g);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(g[i].rc, KN_ERR_TRANSPORT);
    /* the waiters got the failed fetch's error instead of each trying again */
    ck_assert_int_eq(fake_fetches(), 1);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(cache_valid_ones_served_during_refresh) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    get_is(c, 1);
    atomic_store(&fc.now, T0 + 56 * MINUTE);
    fake_set(&f.gate_closed, 1);
    get_is(c, 1); /* wakes the refresher */
    pthread_mutex_lock(&f.mu);
    while (f.fetches < 2)
        pthread_cond_wait(&f.cv, &f.mu);
    pthread_mutex_unlock(&f.mu);
    /* the refresh is blocked in the provider: callers, many of them, do not wait for it */
    getter_t g[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        g[i] = (getter_t){c, KN_ERR_STATE, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, getter, &g[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(g[i].rc, KN_OK);
        ck_assert_str_eq(g[i].id, "AKIDFAKE0001");
    }
    fake_set(&f.gate_closed, 0);
    eventually_is(c, 2);
    ck_assert_int_eq(fake_fetches(), 2);
    kn_creds_destroy(c);
}
END_TEST

/*
 * Whether any byte of `text` past the allocator's bookkeeping (glibc and ASan
 * keep up to 16 bytes of metadata at the start of a freed chunk) is still at
 * `p`. This reads freed memory on purpose, outside the sanitizers' view; it is
 * the only way to see that the chain zeroed a secret before freeing it.
 */
__attribute__((no_sanitize("address", "thread"), noinline)) static int
survives(const char *p, const char *text) {
    const volatile char *v = p;
    size_t n = strlen(text);
    for (size_t i = 16; i < n; i++)
        if (v[i] == text[i])
            return 1;
    return 0;
}

START_TEST(secrets_wiped_when_replaced_and_destroyed) {
    kn_creds_t *c = fake_rig(60 * MINUTE, NULL);
    get_is(c, 1);
    atomic_store(&fc.now, T0 + 58 * MINUTE);
    eventually_is(c, 2); /* generation 1 left the cache */
    /*
     * Probe freed memory before any assertion: a passing ck_assert may allocate
     * (Check records a mark point) and so reuse a freed chunk, which would make
     * a stray byte look like a surviving secret.
     */
    int secret1 = survives(f.secret_ptr[0], f.secret_text[0]);
    int token1 = survives(f.token_ptr[0], f.token_text[0]);
    kn_creds_destroy(c); /* generation 2 goes with the chain */
    int secret2 = survives(f.secret_ptr[1], f.secret_text[1]);
    int token2 = survives(f.token_ptr[1], f.token_text[1]);
    ck_assert_msg(!secret1, "secret 1 not wiped");
    ck_assert_msg(!token1, "token 1 not wiped");
    ck_assert_msg(!secret2, "secret 2 not wiped");
    ck_assert_msg(!token2, "token 2 not wiped");

    /* kn_credentials_clear on its own */
    kn_credentials_t k;
    const char *secret = "a-secret-of-some-length-0123456789abcdef";
    ck_assert_int_eq(kn_credentials_set(&k, "AKID", secret, secret, 0), KN_OK);
    char *sp = k.secret_access_key, *tp = k.session_token;
    kn_credentials_clear(&k);
    int secret_left = survives(sp, secret), token_left = survives(tp, secret);
    ck_assert(!secret_left);
    ck_assert(!token_left);
}
END_TEST

START_TEST(chain_arguments) {
    ck_assert_ptr_null(kn_creds_new_from(NULL, 1, NULL));
    fake_t a, b;
    fake_init(&a, &fc, 0);
    fake_init(&b, &fc, 0);
    kn_creds_provider_t *list[2] = {kn_creds_provider_new("a", fake_fetch, fake_destroy, &a),
                                    NULL};
    /* a NULL entry: refused, and the providers given are released */
    ck_assert_ptr_null(kn_creds_new_from(list, 2, NULL));
    ck_assert(a.destroyed);
    list[0] = kn_creds_provider_new("b", fake_fetch, fake_destroy, &b);
    ck_assert_ptr_null(kn_creds_new_from(list, 0, NULL));
    ck_assert(!b.destroyed);
    kn_creds_provider_destroy(list[0]);
    ck_assert(b.destroyed);
    /* too many */
    kn_creds_provider_t *many[KN_CREDS_MAX_PROVIDERS + 1];
    b.destroyed = 0;
    for (int i = 0; i <= KN_CREDS_MAX_PROVIDERS; i++)
        many[i] = kn_creds_provider_new("m", fake_fetch, fake_destroy, &b);
    ck_assert_ptr_null(kn_creds_new_from(many, KN_CREDS_MAX_PROVIDERS + 1, NULL));
    ck_assert(b.destroyed);
    ck_assert_ptr_null(kn_creds_provider_new("x", NULL, fake_destroy, &a));
    ck_assert_ptr_null(kn_creds_provider_new(NULL, fake_fetch, NULL, NULL));
    kn_creds_provider_destroy(NULL);
    kn_creds_destroy(NULL);
    kn_credentials_t k;
    ck_assert_int_eq(kn_creds_get(NULL, &k, NULL), KN_ERR_INVALID_ARG);
    ck_assert_ptr_null(k.access_key_id);
}
END_TEST

/* A provider that claims success with nothing in it, and one that is "not configured". */
static kn_err_t empty_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    (void)self, (void)out, (void)err;
    return KN_OK;
}

static kn_err_t absent_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    (void)self, (void)out, (void)err;
    return KN_ERR_NO_CREDENTIALS;
}

START_TEST(chain_custom_providers) {
    kn_creds_provider_t *list[2] = {kn_creds_provider_new("quiet", absent_fetch, NULL, NULL),
                                    kn_creds_provider_new("hollow", empty_fetch, NULL, NULL)};
    kn_creds_t *c = kn_creds_new_from(list, 2, NULL);
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_ERR_INVALID_ARG);
    ck_assert_str_eq(kn_error_message(err), "hollow: provider returned an empty key id or secret");
    kn_error_destroy(err);
    kn_creds_destroy(c);
}
END_TEST

START_TEST(no_secret_in_logs) {
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    const char *secrets[] = {"envSECRETwJalrXUtnFEMI", "envTOKENFwoGZXIvYXdzE", "fileSECRETbPxRfiCY",
                             "fileTOKENIQoJb3JpZ2lu", "confSECRETK7MDENG"};
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "trace", NULL, 0), KN_OK);
    kn_conf_set_log_fn(conf, kn_test_log_fn, &cap);
    /* environment */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", secrets[0], 1);
    setenv("AWS_SESSION_TOKEN", secrets[1], 1);
    kn_creds_t *c = kn_creds_new(conf);
    kn_credentials_t k;
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    /* shared file, and a malformed one */
    unsetenv("AWS_ACCESS_KEY_ID");
    char text[512];
    snprintf(text, sizeof(text),
             "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = %s\n"
             "aws_session_token = %s\n",
             secrets[2], secrets[3]);
    write_home(".aws/credentials", text);
    c = kn_creds_new(conf);
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    ck_assert_str_eq(k.session_token, secrets[3]);
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    snprintf(text, sizeof(text), "[default]\naws_secret_access_key %s\n", secrets[2]);
    write_home(".aws/credentials", text);
    c = kn_creds_new(conf);
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_ERR_INVALID_ARG);
    ck_assert_ptr_null(strstr(kn_error_message(err), secrets[2]));
    kn_error_destroy(err);
    kn_creds_destroy(c);
    /* conf */
    ck_assert_int_eq(kn_conf_set(conf, "credentials.access.key.id", "AKIDCONF", NULL, 0), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "credentials.secret.access.key", secrets[4], NULL, 0),
                     KN_OK);
    c = kn_creds_new(conf);
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    /* a refresh failure warning */
    c = fake_rig(60 * MINUTE, &cap);
    get_is(c, 1);
    fake_set(&f.fail, 1);
    atomic_store(&fc.now, T0 + 59 * MINUTE);
    get_is(c, 1);
    wait_warnings(&cap, 1);
    kn_creds_destroy(c);

    ck_assert_ptr_nonnull(strstr(cap.text, "trying provider environment"));
    ck_assert_ptr_nonnull(strstr(cap.text, "credentials from profile"));
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        ck_assert_msg(!strstr(cap.text, secrets[i]), "secret %zu logged", i);
    ck_assert_ptr_null(strstr(cap.text, f.secret_text[0]));
    ck_assert_ptr_null(strstr(cap.text, f.token_text[0]));
    kn_conf_destroy(conf);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("creds");
    TCase *tc = tcase_create("providers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, credentials_values);
    tcase_add_test(tc, nothing_configured_lists_every_source);
    tcase_add_test(tc, chain_precedence);
    tcase_add_test(tc, partial_settings_are_errors);
    tcase_add_test(tc, profile_selection_and_files);
    tcase_add_test(tc, malformed_file_stops_chain);
    tcase_add_test(tc, no_secret_in_logs);
    suite_add_tcase(s, tc);
    tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cache_static_fetched_once);
    tcase_add_test(tc, cache_refreshes_within_margin);
    tcase_add_test(tc, cache_short_lived_refreshed_halfway);
    tcase_add_test(tc, cache_failed_refresh_keeps_valid_ones);
    tcase_add_test(tc, cache_nowait_never_fetches_inline);
    tcase_add_test(tc, cache_rejects_expired_on_arrival);
    tcase_add_test(tc, cache_refresher_runs_without_callers);
    tcase_add_test(tc, cache_first_fetch_fails);
    tcase_add_test(tc, cache_concurrent_callers_share_one_fetch);
    tcase_add_test(tc, cache_concurrent_failure_shared);
    tcase_add_test(tc, cache_valid_ones_served_during_refresh);
    tcase_add_test(tc, secrets_wiped_when_replaced_and_destroyed);
    tcase_add_test(tc, chain_arguments);
    tcase_add_test(tc, chain_custom_providers);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
