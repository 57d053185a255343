/* MD5 via EVP with an explicitly fetched algorithm and a reused context. */
#include "md5.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct kn_md5_s {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

kn_md5_t *kn_md5_new(void) {
    kn_md5_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->md = EVP_MD_fetch(NULL, "MD5", NULL);
    m->ctx = EVP_MD_CTX_new();
    if (!m->md || !m->ctx) {
        kn_md5_destroy(m);
        return NULL;
    }
    return m;
}

void kn_md5_destroy(kn_md5_t *m) {
    if (!m)
        return;
    EVP_MD_CTX_free(m->ctx);
    EVP_MD_free(m->md);
    free(m);
}

kn_err_t kn_md5(kn_md5_t *m, const void *p, size_t n, uint8_t out[KN_MD5_LEN]) {
    static const uint8_t empty[1] = {0};
    if ((!p && n) || !out)
        return KN_ERR_INVALID_ARG;
    if (!p)
        p = empty; /* libcrypto wants a pointer even for zero bytes */
    unsigned int len = 0;
    int ok;
    if (!m)
        ok = EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
    else
        ok = EVP_DigestInit_ex(m->ctx, m->md, NULL) && EVP_DigestUpdate(m->ctx, p, n) &&
             EVP_DigestFinal_ex(m->ctx, out, &len);
    return ok && len == KN_MD5_LEN ? KN_OK : KN_ERR_NOMEM;
}
