/*
 * Provider "container": the credentials endpoint of the ECS agent or of EKS Pod
 * Identity. Plain http is only accepted towards the machine itself or the
 * agents' link-local addresses, as the AWS SDKs do, because the Authorization
 * token and the credentials would otherwise cross a network in the clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "creds_remote.h"
#include "endpoint.h"
#include "json.h"

#define NAME "container"
#define EXCERPT_MAX 120

/* A dotted-quad IPv4 address starting with 127. */
static int ipv4_loopback(const char *h) {
    int part[4], n = 0;
    if (sscanf(h, "%3d.%3d.%3d.%3d%n", &part[0], &part[1], &part[2], &part[3], &n) != 4 ||
        h[n] != '\0')
        return 0;
    for (int i = 0; i < 4; i++)
        if (part[i] < 0 || part[i] > 255)
            return 0;
    for (const char *p = h; *p; p++) /* sscanf also took signs and spaces */
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return 0;
    return part[0] == 127;
}

/* Hosts plain http may reach: loopback, and the ECS / EKS Pod Identity agents. */
static int http_host_allowed(const char *host) {
    static const char *const allowed[] = {"localhost", "::1", "169.254.170.2", "169.254.170.23",
                                          "fd00:ec2::23"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (!strcmp(host, allowed[i]))
            return 1;
    return ipv4_loopback(host);
}

kn_err_t kn_container_url(char *buf, size_t size, kn_error_t **err) {
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *from = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
    char url[KN_URL_MAX + 1];
    if (rel && *rel) {
        if (*rel != '/') {
            *err = kn_error_new(KN_ERR_INVALID_ARG, NAME ": %s must start with '/'", from);
            return KN_ERR_INVALID_ARG;
        }
        if ((size_t)snprintf(url, sizeof(url), "%s%s", KN_CONTAINER_HOST_URL, rel) >= sizeof(url)) {
            *err = kn_error_new(KN_ERR_TOO_LARGE, NAME ": %s too long", from);
            return KN_ERR_TOO_LARGE;
        }
    } else if (full && *full) {
        from = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
        if (strlen(full) >= sizeof(url)) {
            *err = kn_error_new(KN_ERR_TOO_LARGE, NAME ": %s too long", from);
            return KN_ERR_TOO_LARGE;
        }
        strcpy(url, full);
    } else {
        *err = kn_error_new(KN_ERR_NO_CREDENTIALS, NAME ": AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
                                                   "and AWS_CONTAINER_CREDENTIALS_FULL_URI not set");
        return KN_ERR_NO_CREDENTIALS;
    }
    kn_url_t parts;
    kn_err_t rc = kn_url_parse(url, &parts);
    if (rc != KN_OK) {
        *err = kn_error_new(rc, NAME ": %s: %s", from, parts.error);
        return rc;
    }
    if (!parts.https && !http_host_allowed(parts.host)) {
        *err = kn_error_new(KN_ERR_INVALID_ARG,
                            NAME ": %s: plain http is only allowed to a loopback address or the "
                                 "ECS/EKS agent (169.254.170.2, 169.254.170.23, fd00:ec2::23); "
                                 "use https for host %s",
                            from, parts.host);
        return KN_ERR_INVALID_ARG;
    }
    if (strlen(url) >= size) {
        *err = kn_error_new(KN_ERR_TOO_LARGE, NAME ": URL longer than the buffer");
        return KN_ERR_TOO_LARGE;
    }
    strcpy(buf, url);
    return KN_OK;
}

/* The Authorization value: the token file (read now: it rotates), else the variable, else none. */
static kn_err_t auth_token(char **out, kn_error_t **err) {
    *out = NULL;
    const char *file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (file && *file)
        return kn_creds_read_token_file(NAME ": AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file, out,
                                        err);
    const char *token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (!token || !*token)
        return KN_OK;
    for (const char *p = token; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) { /* would split the header */
            *err = kn_error_new(KN_ERR_INVALID_ARG,
                                NAME ": AWS_CONTAINER_AUTHORIZATION_TOKEN contains control "
                                     "characters");
            return KN_ERR_INVALID_ARG;
        }
    }
    if (!(*out = strdup(token))) {
        *err = kn_error_new(KN_ERR_NOMEM, NAME ": out of memory");
        return KN_ERR_NOMEM;
    }
    return KN_OK;
}

/* A non-2xx reply: {"code": ..., "message": ...} when the agent says more than the status. */
static kn_err_t reply_error(const kn_http_response_t *resp, kn_error_t **err) {
    cJSON *j = resp->body_len <= KN_CREDS_REPLY_MAX
                   ? cJSON_ParseWithLength((const char *)resp->body, resp->body_len)
                   : NULL;
    const char *code = NULL, *msg = NULL;
    kn_error_t *ignored = NULL;
    if (cJSON_IsObject(j)) {
        if (kn_json_str(j, "code", 0, 256, &code, &ignored) || !code)
            kn_json_str(j, "Code", 0, 256, &code, &ignored);
        if (kn_json_str(j, "message", 0, 1024, &msg, &ignored) || !msg)
            kn_json_str(j, "Message", 0, 1024, &msg, &ignored);
    }
    kn_error_destroy(ignored);
    char text[1200];
    if (msg && *msg) {
        snprintf(text, sizeof(text), NAME ": HTTP %d: %s", resp->status, msg);
    } else {
        char excerpt[EXCERPT_MAX + 1];
        kn_json_excerpt(resp->body, resp->body_len, excerpt, sizeof(excerpt));
        snprintf(text, sizeof(text), NAME ": HTTP %d%s%s", resp->status, *excerpt ? ": " : "",
                 excerpt);
    }
    *err = kn_error_from_service(resp->status, code, text, resp->request_id);
    cJSON_Delete(j);
    return *err ? kn_error_code(*err) : KN_ERR_NOMEM;
}

static kn_err_t container_fetch(kn_creds_provider_t *self, kn_credentials_t *out,
                                kn_error_t **err) {
    kn_creds_remote_t *r = self->state;
    char url[KN_URL_MAX + 1];
    kn_err_t rc = kn_container_url(url, sizeof(url), err);
    if (rc != KN_OK)
        return rc;
    char *token = NULL;
    if ((rc = auth_token(&token, err)) != KN_OK)
        return rc;
    kn_header_t headers[] = {{"Accept", "application/json"}, {"Authorization", token}};
    kn_http_request_t req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .nheaders = token ? 2 : 1,
        .timeout_ms = KN_CREDS_HTTP_TIMEOUT_MS,
        .sensitive = 1,
        .max_body = KN_CREDS_REPLY_MAX,
    };
    KN_LOG_DBG(&r->lg, "creds", NAME ": fetching from the container endpoint%s",
               token ? " with an authorization token" : "");
    kn_http_response_t *resp = NULL;
    rc = kn_creds_remote_perform(r, &req, KN_CREDS_HTTP_ATTEMPTS, &resp, err);
    kn_secret_free(token);
    if (rc == KN_OK) {
        if (resp->status >= 200 && resp->status < 300)
            rc = kn_creds_parse_json(NAME, resp->body, resp->body_len, out, err);
        else
            rc = reply_error(resp, err);
    }
    kn_creds_response_destroy(resp);
    return rc;
}

kn_creds_provider_t *kn_creds_provider_container_new(const kn_conf_t *conf) {
    return kn_creds_remote_provider_new(NAME, conf, container_fetch);
}
