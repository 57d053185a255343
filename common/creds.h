/*
 * AWS credentials and the provider chain.
 *
 * A provider is one source: conf, environment, shared files, then the remote
 * ones (web identity via STS, container endpoint, EC2 IMDSv2), in the AWS SDKs'
 * order (kn_creds_new). The chain (kn_creds_t) asks each provider in order and
 * caches what it got. Temporary credentials are refreshed ahead of expiry by a
 * background thread the chain starts when it first caches credentials that
 * expire, so kn_creds_get() returns the cached copy at once; only the first
 * fetch (or one after the cached credentials expired) runs on the caller's
 * thread. kn_creds_get() and kn_creds_get_nowait() are thread-safe.
 *
 * Secrets never reach a log line or an error message, and their bytes are
 * zeroed before their memory is freed.
 */
#ifndef KN_CREDS_H
#define KN_CREDS_H

#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "log.h"

/**
 * Temporary credentials are refreshed this long before they expire, plus a
 * random extra of up to KN_CREDS_REFRESH_JITTER_MS (so a fleet does not refresh
 * all at once); credentials that live less than twice that are refreshed
 * halfway through their remaining lifetime.
 */
#define KN_CREDS_REFRESH_MARGIN_MS (5 * 60 * 1000)
#define KN_CREDS_REFRESH_JITTER_MS (2 * 60 * 1000)
/** The refresher re-reads the clock at least this often (suspend, wall-clock steps). */
#define KN_CREDS_REFRESHER_MAX_SLEEP_MS (60 * 1000)
/** After a failed fetch, the first delay before the refresher tries again; doubles. */
#define KN_CREDS_RETRY_BASE_MS 1000
/** Longest delay between refresh attempts while the old credentials are valid. */
#define KN_CREDS_RETRY_MAX_MS (60 * 1000)
/** Most providers in one chain. */
#define KN_CREDS_MAX_PROVIDERS 16

typedef struct kn_credentials_s {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;   /* NULL when the credentials are not temporary */
    int64_t expiration_ms; /* wall-clock epoch ms; 0 = does not expire */
} kn_credentials_t;

/** Zeroes the secret bytes, frees every field and resets the struct. Accepts NULL. */
void kn_credentials_clear(kn_credentials_t *c);
/** Deep copy into *dst (which must be clear). KN_OK or KN_ERR_NOMEM (dst left clear). */
kn_err_t kn_credentials_copy(kn_credentials_t *dst, const kn_credentials_t *src);
/**
 * Fills *dst (which must be clear) with copies of the strings; `session_token`
 * NULL or "" means none. KN_OK, KN_ERR_INVALID_ARG (id or secret NULL/empty) or
 * KN_ERR_NOMEM (dst left clear).
 */
kn_err_t kn_credentials_set(kn_credentials_t *dst, const char *access_key_id,
                            const char *secret_access_key, const char *session_token,
                            int64_t expiration_ms);
/** Zeroes a NUL-terminated secret, then frees it. Accepts NULL. */
void kn_secret_free(char *s);

typedef struct kn_creds_provider_s kn_creds_provider_t;

/**
 * A provider's fetch. Fills *out (clear on entry) and returns KN_OK, or:
 * - KN_ERR_NO_CREDENTIALS when this source is not configured, so the chain moves
 *   on. *err may then carry a short reason, written as a clause of the chain's
 *   final message, e.g. "environment: AWS_ACCESS_KEY_ID not set".
 * - any other code, with *err set, when the source is configured but failed
 *   (partial settings, unreadable or malformed file, remote error): the chain
 *   stops there, as the AWS SDKs do.
 * Leaves *out clear on failure. May block on I/O; never called concurrently on
 * one provider by the chain.
 */
typedef kn_err_t (kn_creds_fetch_fn)(kn_creds_provider_t *self, kn_credentials_t *out,
                                     kn_error_t **err);

struct kn_creds_provider_s {
    const char *name; /* "conf", "environment", "profile", ... for logs and errors */
    kn_creds_fetch_fn *fetch;
    void (*destroy_state)(void *state); /* NULL: nothing to release */
    void *state;
};

/**
 * A provider around `fetch`; `name` must be a string literal (or outlive the
 * provider). Takes ownership of `state` (released with destroy_state, also when
 * this returns NULL for lack of memory).
 */
kn_creds_provider_t *kn_creds_provider_new(const char *name, kn_creds_fetch_fn *fetch,
                                           void (*destroy_state)(void *state), void *state);
/** Releases the state and the provider. Accepts NULL. */
void kn_creds_provider_destroy(kn_creds_provider_t *p);

/**
 * Provider "conf": the given values (credentials.access.key.id, ...secret...,
 * ...session.token). All NULL or empty: not configured ("conf not set"). Some
 * set without both id and secret: KN_ERR_INVALID_ARG at fetch.
 */
kn_creds_provider_t *kn_creds_provider_static_new(const char *access_key_id,
                                                  const char *secret_access_key,
                                                  const char *session_token);
/**
 * Provider "environment": AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optional
 * AWS_SESSION_TOKEN, read at each fetch. No (or empty) AWS_ACCESS_KEY_ID: not
 * configured. A key id without a secret: KN_ERR_INVALID_ARG.
 */
kn_creds_provider_t *kn_creds_provider_env_new(void);
/**
 * Provider "profile": the profile (`profile` NULL or "": AWS_PROFILE, else
 * "default") in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 * ~/.aws/credentials) and config file (AWS_CONFIG_FILE, else ~/.aws/config).
 * aws_access_key_id, aws_secret_access_key and aws_session_token are taken from
 * the credentials file, key by key, else from the config file. Not configured
 * when the profile or its aws_access_key_id is in neither file; a key id without
 * a secret: KN_ERR_INVALID_ARG; a malformed file: its parse error.
 */
kn_creds_provider_t *kn_creds_provider_profile_new(const char *profile);

/** The caching chain one client uses. */
typedef struct kn_creds_s kn_creds_t;

/** Wall-clock time in epoch milliseconds. */
typedef int64_t (kn_creds_clock_fn)(void *opaque);

/**
 * Provider "web-identity" (EKS IRSA and other OIDC federations): the token file
 * AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (and AWS_ROLE_SESSION_NAME,
 * default "kinesis-c-<epoch ms>"), else web_identity_token_file / role_arn /
 * role_session_name of the profile in the shared config file, exchanged with
 * STS AssumeRoleWithWebIdentity (unsigned Query-protocol POST, XML reply) at the
 * endpoint kn_endpoint_resolve(conf, "sts", region) gives (region from conf,
 * environment or profile; none: the global https://sts.amazonaws.com). The token
 * file is read at every fetch (it rotates). Not configured without a token file;
 * a token file without a role ARN is KN_ERR_INVALID_ARG. conf is copied (NULL:
 * defaults). NULL only when out of memory.
 */
kn_creds_provider_t *kn_creds_provider_web_identity_new(const kn_conf_t *conf);
/**
 * Provider "container" (ECS tasks, EKS Pod Identity):
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (appended to http://169.254.170.2),
 * else AWS_CONTAINER_CREDENTIALS_FULL_URI, which over plain http must name a
 * loopback host (127.0.0.0/8, ::1, localhost) or an ECS/EKS agent address
 * (169.254.170.2, 169.254.170.23, fd00:ec2::23): any other is KN_ERR_INVALID_ARG.
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch), else
 * AWS_CONTAINER_AUTHORIZATION_TOKEN, is sent as the Authorization header. The
 * JSON reply carries AccessKeyId, SecretAccessKey, Token and Expiration.
 * conf is copied. NULL only when out of memory.
 */
kn_creds_provider_t *kn_creds_provider_container_new(const kn_conf_t *conf);
/**
 * Provider "imds": the EC2 instance role through IMDSv2 (a session token from
 * PUT /latest/api/token, then the role name and its credentials); IMDSv1 is
 * never used. Base URL http://169.254.169.254, else
 * AWS_EC2_METADATA_SERVICE_ENDPOINT. AWS_EC2_METADATA_DISABLED=true: not
 * configured, without any network. Short timeouts and two attempts, so that on
 * a host without IMDS the chain fails fast ("not reachable" is reported as not
 * configured). conf is copied. NULL only when out of memory.
 */
kn_creds_provider_t *kn_creds_provider_imds_new(const kn_conf_t *conf);

/**
 * The standard chain for a configuration (NULL conf: defaults), in the AWS
 * SDKs' order: conf, environment, shared files (static keys), web identity,
 * container, IMDS. Logs go to the conf's logger. NULL only when out of memory.
 */
kn_creds_t *kn_creds_new(const kn_conf_t *conf);
/**
 * A chain of exactly these providers, in order (1 .. KN_CREDS_MAX_PROVIDERS, no
 * NULL entries). Takes ownership of them, also when it returns NULL (bad
 * arguments or out of memory). `lg` is copied; NULL: no logging.
 */
kn_creds_t *kn_creds_new_from(kn_creds_provider_t **providers, int count, const kn_logger_t *lg);
/**
 * Replaces the clock (default: CLOCK_REALTIME in ms) so tests can move time.
 * Call before the chain is shared between threads.
 */
void kn_creds_set_clock(kn_creds_t *c, kn_creds_clock_fn *fn, void *opaque);
/**
 * Current credentials, copied into *out (overwritten; the caller clears it).
 * While the cached credentials are valid they are returned at once; when they
 * are due for refresh (see KN_CREDS_REFRESH_MARGIN_MS) the background refresher
 * is woken, and the caller does not wait for it. Blocks only when nothing valid
 * is cached (first use, or expired): then it fetches on the calling thread, or
 * waits for the fetch in flight — concurrent callers share one fetch. A failed
 * refresh keeps the old credentials until they expire (a warning is logged) and
 * is retried after a growing delay. On failure returns the code and sets *err
 * (may be NULL) naming every source tried; *out is left clear. Must not be
 * called on a transport's I/O thread: use kn_creds_get_nowait() there.
 */
kn_err_t kn_creds_get(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err);
/**
 * Like kn_creds_get() but never fetches on the calling thread, so it is safe
 * on an I/O thread: valid cached credentials, else the background refresher is
 * woken (started if needed) and the call fails at once with KN_ERR_EXPIRED_TOKEN
 * (the cached ones expired; the message says when, from which source, and why
 * the last refresh failed), the last fetch's error, or KN_ERR_NO_CREDENTIALS
 * (nothing fetched yet).
 */
kn_err_t kn_creds_get_nowait(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err);
/**
 * Stops the refresher (waiting for a fetch in flight to end), wipes the cache
 * and destroys the providers. Accepts NULL. Not concurrently with get.
 */
void kn_creds_destroy(kn_creds_t *c);

#endif
