/* Provider "profile": static keys from the shared credentials and config files. */
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "profile.h"

/* The value in the credentials file, else in the config file; NULL when empty or absent. */
static const char *lookup(const kn_profile_src_t *cred, const kn_profile_src_t *cfg,
                          const char *profile, const char *key) {
    const char *v = kn_profile_get(cred->file, profile, key);
    if (!v || !*v)
        v = kn_profile_get(cfg->file, profile, key);
    return v && *v ? v : NULL;
}

static kn_err_t from_files(const kn_profile_src_t *cred, const kn_profile_src_t *cfg,
                           const char *profile, kn_credentials_t *out, kn_error_t **err) {
    char a[KN_PROFILE_PATH_MAX + 32], b[KN_PROFILE_PATH_MAX + 32];
    const char *where_a = kn_profile_src_describe(cred, a, sizeof(a));
    const char *where_b = kn_profile_src_describe(cfg, b, sizeof(b));
    if (!kn_profile_has(cred->file, profile) && !kn_profile_has(cfg->file, profile)) {
        *err = kn_error_new(KN_ERR_NO_CREDENTIALS, "profile '%s': not found in %s, %s", profile,
                            where_a, where_b);
        return KN_ERR_NO_CREDENTIALS;
    }
    const char *id = lookup(cred, cfg, profile, "aws_access_key_id");
    const char *secret = lookup(cred, cfg, profile, "aws_secret_access_key");
    const char *token = lookup(cred, cfg, profile, "aws_session_token");
    if (!id) {
        *err = kn_error_new(KN_ERR_NO_CREDENTIALS, "profile '%s': no aws_access_key_id in %s, %s",
                            profile, where_a, where_b);
        return KN_ERR_NO_CREDENTIALS;
    }
    if (!secret) {
        *err = kn_error_new(KN_ERR_INVALID_ARG,
                            "profile '%s': aws_access_key_id is set but aws_secret_access_key "
                            "is not (%s, %s)",
                            profile, where_a, where_b);
        return KN_ERR_INVALID_ARG;
    }
    kn_err_t rc = kn_credentials_set(out, id, secret, token, 0);
    if (rc != KN_OK)
        *err = kn_error_new(rc, "profile '%s': out of memory", profile);
    return rc;
}

static kn_err_t profile_fetch(kn_creds_provider_t *self, kn_credentials_t *out,
                              kn_error_t **err) {
    char profile[KN_PROFILE_MAX_NAME + 1];
    kn_err_t rc = kn_profile_name(self->state, profile, sizeof(profile), err);
    if (rc != KN_OK)
        return rc;
    kn_profile_src_t cred, cfg;
    rc = kn_profile_src_load(&cred, KN_PROFILE_CREDENTIALS, err);
    if (rc == KN_OK) {
        rc = kn_profile_src_load(&cfg, KN_PROFILE_CONFIG, err);
        if (rc == KN_OK)
            rc = from_files(&cred, &cfg, profile, out, err);
        kn_profile_src_clear(&cfg);
    }
    kn_profile_src_clear(&cred);
    return rc;
}

kn_creds_provider_t *kn_creds_provider_profile_new(const char *profile) {
    char *name = NULL;
    if (profile && *profile && !(name = strdup(profile)))
        return NULL;
    return kn_creds_provider_new("profile", profile_fetch, free, name);
}
