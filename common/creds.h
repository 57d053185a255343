/*
 * AWS credentials and the provider chain.
 *
 * A provider is one source (static conf, environment, shared files; the remote
 * providers — web identity, container, IMDS — plug in the same way). The chain
 * (kn_creds_t) asks each provider in order, caches what it got, and refreshes
 * temporary credentials before they expire. kn_creds_get() is thread-safe.
 */
#ifndef KN_CREDS_H
#define KN_CREDS_H

#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "log.h"

typedef struct kn_credentials_s {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL when the credentials are not temporary */
    int64_t expiration_ms; /* wall-clock epoch ms; 0 = does not expire */
} kn_credentials_t;

/** Zeroes the secret bytes, frees every field and resets the struct. */
void kn_credentials_clear(kn_credentials_t *c);
/** Deep copy into *dst (which must be clear). KN_OK or KN_ERR_NOMEM. */
kn_err_t kn_credentials_copy(kn_credentials_t *dst, const kn_credentials_t *src);

typedef struct kn_creds_provider_s kn_creds_provider_t;
struct kn_creds_provider_s {
    const char *name; /* "static", "environment", "profile", ... for logs and errors */
    /*
     * Fills *out. Returns KN_ERR_NO_CREDENTIALS (with *err left NULL) when this
     * source is not configured at all, so the chain moves on; any other error
     * (with *err set) means it is configured but failed, and the chain stops
     * there, as the AWS SDKs do. May block on I/O; never called concurrently.
     */
    kn_err_t (*fetch)(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err);
    void (*destroy)(kn_creds_provider_t *self);
    void *state;
};

kn_creds_provider_t *kn_creds_provider_static_new(const char *access_key_id,
                                                  const char *secret_access_key,
                                                  const char *session_token);
/** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. */
kn_creds_provider_t *kn_creds_provider_env_new(void);
/**
 * The profile (NULL or "": AWS_PROFILE, else "default") in the shared credentials
 * file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) and config file
 * (AWS_CONFIG_FILE, else ~/.aws/config, section "[profile NAME]" or "[default]").
 */
kn_creds_provider_t *kn_creds_provider_profile_new(const char *profile);
void kn_creds_provider_destroy(kn_creds_provider_t *p);

/** The caching chain one client uses. */
typedef struct kn_creds_s kn_creds_t;

/**
 * The standard chain for a configuration: static credentials when
 * credentials.access.key.id is set, else environment, then shared files, then
 * (later) the remote providers. NULL only when out of memory.
 */
kn_creds_t *kn_creds_new(const kn_conf_t *conf);
/** A chain of exactly these providers, in order; takes ownership of them. */
kn_creds_t *kn_creds_new_from(kn_creds_provider_t **providers, int count, const kn_logger_t *lg);
/**
 * Current credentials, copied into *out (caller clears). Fetches on first use and
 * when the cached ones expire within the refresh margin. On failure returns the
 * code and sets *err naming every source tried.
 */
kn_err_t kn_creds_get(kn_creds_t *c, kn_credentials_t *out, kn_error_t **err);
void kn_creds_destroy(kn_creds_t *c);

#endif
