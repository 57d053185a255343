/*
 * Provider "imds": the EC2 instance role through IMDSv2, and the instance's
 * region. Every exchange starts with a session token (PUT /latest/api/token);
 * IMDSv1 (plain GETs without a token) is never used. Timeouts are short and
 * attempts few because this provider runs last in the chain on every host, EC2
 * or not: a laptop must learn quickly that there is no instance metadata.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "creds_remote.h"
#include "endpoint.h"

#define NAME "imds"
/** Longest IMDS session token and role name accepted. */
#define TOKEN_MAX 1024
#define ROLE_MAX 128
/** A cached session token is renewed this long before its TTL ends. */
#define TOKEN_MARGIN_S 60

#define PATH_TOKEN "/latest/api/token"
#define PATH_ROLES "/latest/meta-data/iam/security-credentials/"
#define PATH_REGION "/latest/meta-data/placement/region"

int kn_imds_disabled(void) {
    const char *v = getenv("AWS_EC2_METADATA_DISABLED");
    return v && !strcasecmp(v, "true");
}

kn_err_t kn_imds_base_url(char *buf, size_t size, kn_error_t **err) {
    const char *v = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    return kn_endpoint_url_setting(v && *v ? v : KN_IMDS_DEFAULT_URL,
                                   NAME ": AWS_EC2_METADATA_SERVICE_ENDPOINT", buf, size, err);
}

/* One IMDS conversation's state: where, and the session token (cached across fetches). */
typedef struct imds_s {
    kn_creds_remote_t *remote;
    char base[KN_URL_MAX + 1];
    char token[TOKEN_MAX + 1]; /* "" when none */
    int64_t token_until_s;     /* monotonic seconds after which it is renewed */
} imds_t;

static int64_t mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void imds_forget_token(imds_t *m) {
    explicit_bzero(m->token, sizeof(m->token));
    m->token_until_s = 0;
}

/* A body that must be one short line of printable ASCII: copied, trimmed. */
static int short_text(const kn_http_response_t *resp, char *buf, size_t size) {
    size_t n = resp->body_len;
    while (n && strchr(" \t\r\n", resp->body[n - 1]))
        n--;
    if (!n || n >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (resp->body[i] < 0x21 || resp->body[i] > 0x7e)
            return -1;
    memcpy(buf, resp->body, n);
    buf[n] = '\0';
    return 0;
}

/*
 * One request to IMDS. Network failures (nothing listens, or a timeout: not on
 * EC2) come back as KN_ERR_NO_CREDENTIALS, so the chain reports them as "not
 * available" rather than as a failure of a configured source.
 */
static kn_err_t imds_request(imds_t *m, const char *method, const char *path,
                             const kn_header_t *h, size_t nh, kn_http_response_t **resp,
                             kn_error_t **err) {
    char url[KN_URL_MAX + 128];
    snprintf(url, sizeof(url), "%s%s", m->base, path);
    kn_http_request_t req = {
        .method = method,
        .url = url,
        .headers = h,
        .nheaders = nh,
        .timeout_ms = KN_IMDS_TIMEOUT_MS,
        .sensitive = 1,
        .max_body = KN_CREDS_REPLY_MAX,
    };
    kn_err_t rc = kn_creds_remote_perform(m->remote, &req, KN_IMDS_ATTEMPTS, resp, err);
    if (rc == KN_ERR_TRANSPORT || rc == KN_ERR_TIMED_OUT) {
        kn_error_t *e = kn_error_new(KN_ERR_NO_CREDENTIALS, "%s (not on EC2?)",
                                     kn_error_message(*err));
        kn_error_destroy(*err);
        *err = e;
        return KN_ERR_NO_CREDENTIALS;
    }
    return rc;
}

/* Makes sure m->token holds a live session token. */
static kn_err_t imds_token(imds_t *m, kn_error_t **err) {
    if (m->token[0] && mono_s() < m->token_until_s)
        return KN_OK;
    imds_forget_token(m);
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", KN_IMDS_TOKEN_TTL_S);
    kn_header_t h[] = {{"X-aws-ec2-metadata-token-ttl-seconds", ttl}};
    kn_http_response_t *resp = NULL;
    kn_err_t rc = imds_request(m, "PUT", PATH_TOKEN, h, 1, &resp, err);
    if (rc == KN_OK && resp->status != 200) {
        rc = resp->status == 403 || resp->status == 404 || resp->status == 405
                 ? KN_ERR_NO_CREDENTIALS
                 : KN_ERR_BAD_RESPONSE;
        *err = kn_error_new(rc, NAME ": session token request answered HTTP %d (IMDSv2 "
                                "unavailable; IMDSv1 is not used)",
                            resp->status);
    } else if (rc == KN_OK && short_text(resp, m->token, sizeof(m->token))) {
        rc = KN_ERR_BAD_RESPONSE;
        *err = kn_error_new(rc, NAME ": malformed session token");
        imds_forget_token(m);
    } else if (rc == KN_OK) {
        m->token_until_s = mono_s() + KN_IMDS_TOKEN_TTL_S - TOKEN_MARGIN_S;
    }
    kn_creds_response_destroy(resp);
    return rc;
}

/*
 * GET `path` with the session token. A 401 means the token expired (or IMDS
 * restarted): a new one is fetched once. Other statuses are the caller's.
 */
static kn_err_t imds_get(imds_t *m, const char *path, kn_http_response_t **resp, kn_error_t **err) {
    for (int attempt = 0;; attempt++) {
        kn_err_t rc = imds_token(m, err);
        if (rc != KN_OK)
            return rc;
        kn_header_t h[] = {{"X-aws-ec2-metadata-token", m->token}};
        rc = imds_request(m, "GET", path, h, 1, resp, err);
        if (rc != KN_OK || (*resp)->status != 401)
            return rc;
        imds_forget_token(m);
        if (attempt) {
            kn_creds_response_destroy(*resp);
            *resp = NULL;
            *err = kn_error_new(KN_ERR_BAD_RESPONSE,
                                NAME ": GET %s refused a fresh session token (HTTP 401)", path);
            return KN_ERR_BAD_RESPONSE;
        }
        kn_creds_response_destroy(*resp);
        *resp = NULL;
    }
}

/* A non-200 reply to a GET: no role (404) is "not configured", anything else an error. */
static kn_err_t status_error(const kn_http_response_t *resp, const char *what, kn_error_t **err) {
    kn_err_t rc = resp->status == 404 ? KN_ERR_NO_CREDENTIALS : KN_ERR_BAD_RESPONSE;
    *err = kn_error_new(rc, NAME ": %s: HTTP %d", what, resp->status);
    return rc;
}

static kn_err_t imds_credentials(imds_t *m, kn_credentials_t *out, kn_error_t **err) {
    kn_http_response_t *resp = NULL;
    kn_err_t rc = imds_get(m, PATH_ROLES, &resp, err);
    char role[ROLE_MAX + 1];
    if (rc == KN_OK && resp->status != 200) {
        rc = status_error(resp, resp->status == 404 ? "no IAM role attached to this instance"
                                                    : "listing the instance role",
                          err);
    } else if (rc == KN_OK) {
        /* One role per instance profile; the first line is it. */
        size_t n = strcspn((const char *)resp->body, "\r\n");
        kn_http_response_t line = {.body = resp->body, .body_len = n};
        if (short_text(&line, role, sizeof(role)) || strchr(role, '/')) {
            rc = KN_ERR_BAD_RESPONSE;
            *err = kn_error_new(rc, NAME ": malformed role name");
        }
    }
    kn_creds_response_destroy(resp);
    resp = NULL;
    if (rc != KN_OK)
        return rc;
    char path[sizeof(PATH_ROLES) + ROLE_MAX];
    snprintf(path, sizeof(path), "%s%s", PATH_ROLES, role);
    rc = imds_get(m, path, &resp, err);
    if (rc == KN_OK && resp->status != 200)
        rc = status_error(resp, "credentials of the instance role", err);
    else if (rc == KN_OK)
        rc = kn_creds_parse_json(NAME, resp->body, resp->body_len, out, err);
    kn_creds_response_destroy(resp);
    if (rc == KN_OK)
        KN_LOG_DBG(&m->remote->lg, "creds", NAME ": credentials of role %s", role);
    return rc;
}

static kn_err_t imds_begin(imds_t *m, kn_error_t **err) {
    if (kn_imds_disabled()) {
        *err = kn_error_new(KN_ERR_NO_CREDENTIALS, NAME ": disabled (AWS_EC2_METADATA_DISABLED)");
        return KN_ERR_NO_CREDENTIALS;
    }
    char base[KN_URL_MAX + 1];
    kn_err_t rc = kn_imds_base_url(base, sizeof(base), err);
    if (rc != KN_OK)
        return rc;
    if (strcmp(base, m->base)) { /* moved: a token is only good where it came from */
        imds_forget_token(m);
        strcpy(m->base, base);
    }
    return KN_OK;
}

static kn_err_t imds_fetch(kn_creds_provider_t *self, kn_credentials_t *out, kn_error_t **err) {
    imds_t *m = self->state;
    kn_err_t rc = imds_begin(m, err);
    return rc == KN_OK ? imds_credentials(m, out, err) : rc;
}

static void imds_destroy(void *state) {
    imds_t *m = state;
    if (!m)
        return;
    kn_creds_remote_destroy(m->remote);
    imds_forget_token(m);
    free(m);
}

static imds_t *imds_new(const kn_conf_t *conf) {
    imds_t *m = calloc(1, sizeof(*m));
    if (m && !(m->remote = kn_creds_remote_new(NAME, conf, KN_IMDS_TIMEOUT_MS))) {
        free(m);
        m = NULL;
    }
    return m;
}

kn_creds_provider_t *kn_creds_provider_imds_new(const kn_conf_t *conf) {
    imds_t *m = imds_new(conf);
    return m ? kn_creds_provider_new(NAME, imds_fetch, imds_destroy, m) : NULL;
}

kn_err_t kn_imds_region(const kn_conf_t *conf, char *buf, size_t size, kn_error_t **err) {
    kn_error_t *e = NULL;
    kn_err_t rc;
    char region[KN_REGION_MAX + 1];
    imds_t *m = imds_new(conf);
    if (!m) {
        rc = KN_ERR_NOMEM;
        e = kn_error_new(rc, NAME ": out of memory");
    } else if ((rc = imds_begin(m, &e)) == KN_OK) {
        kn_http_response_t *resp = NULL;
        rc = imds_get(m, PATH_REGION, &resp, &e);
        if (rc == KN_OK && resp->status != 200)
            rc = status_error(resp, "region", &e);
        else if (rc == KN_OK && (short_text(resp, region, sizeof(region)) ||
                                 !kn_region_valid(region))) {
            rc = KN_ERR_BAD_RESPONSE;
            e = kn_error_new(rc, NAME ": malformed region");
        } else if (rc == KN_OK && strlen(region) >= size) {
            rc = KN_ERR_TOO_LARGE;
            e = kn_error_new(rc, NAME ": region longer than the buffer");
        }
        kn_creds_response_destroy(resp);
    }
    imds_destroy(m);
    if (rc == KN_OK) {
        strcpy(buf, region);
    } else {
        kn_error_t *wrapped = kn_error_new(KN_ERR_NO_REGION, "instance metadata region: %s",
                                           kn_error_message(e));
        kn_error_destroy(e);
        e = wrapped;
        rc = KN_ERR_NO_REGION;
    }
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
    return rc;
}
