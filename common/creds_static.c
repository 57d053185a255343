/* Provider "conf": credentials given in the configuration. */
#include <stdlib.h>
#include <string.h>

#include "creds.h"

static int is_set(const char *s) { return s && *s; }

static kn_err_t static_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    const kn_credentials_t *k = self->state;
    if (!k) {
        *err = kn_error_new(KN_ERR_NO_CREDENTIALS, "conf not set");
        return KN_ERR_NO_CREDENTIALS;
    }
    if (!is_set(k->access_key_id) || !is_set(k->secret_access_key)) {
        *err = kn_error_new(KN_ERR_INVALID_ARG,
                            "conf: credentials.access.key.id and credentials.secret.access.key "
                            "must be set together (only %s is set)",
                            is_set(k->access_key_id)       ? "the key id"
                            : is_set(k->secret_access_key) ? "the secret"
                                                           : "the session token");
        return KN_ERR_INVALID_ARG;
    }
    kn_err_t rc = kn_credentials_copy(out, k);
    if (rc != KN_OK)
        *err = kn_error_new(rc, "conf: out of memory");
    return rc;
}

static void static_destroy(void *state) {
    kn_credentials_clear(state);
    free(state);
}

static char *dup_or_null(const char *s, int *failed) {
    if (!is_set(s))
        return NULL;
    char *d = strdup(s);
    *failed |= !d;
    return d;
}

kn_creds_provider_t *kn_creds_provider_static_new(const char *access_key_id,
                                                  const char *secret_access_key,
                                                  const char *session_token) {
    kn_credentials_t *k = NULL;
    if (is_set(access_key_id) || is_set(secret_access_key) || is_set(session_token)) {
        /* Kept even when partial: the error is reported at fetch, where it is seen. */
        k = calloc(1, sizeof(*k));
        if (!k)
            return NULL;
        int failed = 0;
        k->access_key_id = dup_or_null(access_key_id, &failed);
        k->secret_access_key = dup_or_null(secret_access_key, &failed);
        k->session_token = dup_or_null(session_token, &failed);
        if (failed) {
            static_destroy(k);
            return NULL;
        }
    }
    return kn_creds_provider_new("conf", static_fetch, static_destroy, k);
}
