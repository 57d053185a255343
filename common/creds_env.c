/* Provider "environment": AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. */
#include <stdlib.h>

#include "creds.h"

static kn_err_t env_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    (void)self;
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (!id || !*id) {
        *err = kn_error_new(KN_ERR_NO_CREDENTIALS, "environment: AWS_ACCESS_KEY_ID not set");
        return KN_ERR_NO_CREDENTIALS;
    }
    if (!secret || !*secret) {
        *err = kn_error_new(KN_ERR_INVALID_ARG,
                            "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        return KN_ERR_INVALID_ARG;
    }
    kn_err_t rc = kn_credentials_set(out, id, secret, token, 0);
    if (rc != KN_OK)
        *err = kn_error_new(rc, "environment: out of memory");
    return rc;
}

kn_creds_provider_t *kn_creds_provider_env_new(void) {
    return kn_creds_provider_new("environment", env_fetch, NULL, NULL);
}
