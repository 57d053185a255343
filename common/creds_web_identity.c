/*
 * Provider "web-identity": a web identity token (EKS IRSA and other OIDC
 * federations) exchanged for role credentials with STS
 * AssumeRoleWithWebIdentity. The call is unsigned (the token is the proof), in
 * the Query protocol: a form-encoded POST, answered in XML. The XML is read by a
 * small strict extractor: STS replies are flat and known, and a parser library
 * would be a dependency for four fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds_remote.h"
#include "endpoint.h"
#include "json.h"
#include "profile.h"

#define NAME "web-identity"
#define STS_VERSION "2011-06-15"
/** IAM limits: role ARNs up to 2048 characters, session names 2..64 of [\w+=,.@-]. */
#define ROLE_ARN_MAX 2048
#define SESSION_NAME_MAX 64
#define EXCERPT_MAX 120

/* ------------------------------------------------------------------ XML */

typedef struct {
    const char *p, *end;
} span_t;

/* Position of `needle` in s, or NULL. */
static const char *span_find(span_t s, const char *needle) {
    return memmem(s.p, (size_t)(s.end - s.p), needle, strlen(needle));
}

/*
 * The content of the first element `name` in s (between its start and end
 * tags). Returns 0, or -1 when there is none or it is not closed.
 */
static int xml_element(span_t s, const char *name, span_t *out) {
    char open[80], close[80];
    snprintf(open, sizeof(open), "<%s", name);
    snprintf(close, sizeof(close), "</%s>", name);
    for (span_t rest = s;;) {
        const char *tag = span_find(rest, open);
        if (!tag)
            return -1;
        const char *after = tag + strlen(open);
        if (after >= s.end)
            return -1;
        if (*after != '>' && *after != ' ' && *after != '\t' && *after != '\r' &&
            *after != '\n' && *after != '/') {
            rest.p = after; /* a longer name with the same prefix */
            continue;
        }
        /* The start tag ends at the first '>' outside quotes (attributes: xmlns). */
        char quote = 0;
        const char *q = after;
        for (; q < s.end && (quote || *q != '>'); q++)
            if (*q == '"' || *q == '\'')
                quote = quote == *q ? 0 : quote ? quote : *q;
        if (q >= s.end)
            return -1;
        if (q[-1] == '/') { /* <name/>: empty */
            *out = (span_t){q + 1, q + 1};
            return 0;
        }
        span_t inner = {q + 1, s.end};
        const char *c = span_find(inner, close);
        if (!c)
            return -1;
        *out = (span_t){q + 1, c};
        return 0;
    }
}

/* Decodes one entity at *p (just after '&'); -1 for an unknown or malformed one. */
static int xml_entity(const char **p, const char *end) {
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t n = strlen(named[i].name);
        if ((size_t)(end - *p) >= n && !memcmp(*p, named[i].name, n)) {
            *p += n;
            return named[i].c;
        }
    }
    if (*p >= end || **p != '#')
        return -1;
    (*p)++;
    int hex = *p < end && (**p == 'x' || **p == 'X');
    if (hex)
        (*p)++;
    long v = 0;
    int nd = 0;
    for (; *p < end && **p != ';' && nd < 8; (*p)++, nd++) {
        char ch = **p;
        int d = ch >= '0' && ch <= '9'                   ? ch - '0'
                : hex && ch >= 'a' && ch <= 'f'          ? ch - 'a' + 10
                : hex && ch >= 'A' && ch <= 'F'          ? ch - 'A' + 10
                                                         : -1;
        if (d < 0)
            return -1;
        v = v * (hex ? 16 : 10) + d;
    }
    if (!nd || *p >= end || **p != ';' || v < 0x20 || v > 0x7e) /* credentials are ASCII */
        return -1;
    (*p)++;
    return (int)v;
}

/*
 * The text of a leaf element, whitespace-trimmed and entity-decoded, into a
 * heap string (NULL for malformed text: markup inside, a bad entity, too long).
 */
static char *xml_text(span_t s) {
    while (s.p < s.end && strchr(" \t\r\n", *s.p))
        s.p++;
    while (s.end > s.p && strchr(" \t\r\n", s.end[-1]))
        s.end--;
    if (s.end - s.p > KN_CREDS_FIELD_MAX)
        return NULL;
    char *out = malloc((size_t)(s.end - s.p) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const char *p = s.p; p < s.end;) {
        int ch = (unsigned char)*p++;
        if (ch == '<' || (ch == '&' && (ch = xml_entity(&p, s.end)) < 0)) {
            explicit_bzero(out, n);
            free(out);
            return NULL;
        }
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return out;
}

/* The text of child `name` of s, or NULL (absent or malformed). */
static char *xml_child_text(span_t s, const char *name) {
    span_t e;
    return xml_element(s, name, &e) ? NULL : xml_text(e);
}

static kn_err_t bad_reply(const char *what, kn_error_t **err) {
    *err = kn_error_new(KN_ERR_BAD_RESPONSE, NAME ": STS reply: %s", what);
    return KN_ERR_BAD_RESPONSE;
}

static kn_err_t sts_error(int status, span_t body, const char *request_id, kn_error_t **err) {
    span_t e;
    char *code = NULL, *msg = NULL, *rid = NULL;
    if (!xml_element(body, "Error", &e)) {
        code = xml_child_text(e, "Code");
        msg = xml_child_text(e, "Message");
    }
    if (!request_id)
        request_id = rid = xml_child_text(body, "RequestId");
    char text[512];
    if (code) {
        snprintf(text, sizeof(text), NAME ": STS AssumeRoleWithWebIdentity: %s",
                 msg && *msg ? msg : code);
    } else {
        char excerpt[EXCERPT_MAX + 1];
        kn_json_excerpt((const uint8_t *)body.p, (size_t)(body.end - body.p), excerpt,
                        sizeof(excerpt));
        snprintf(text, sizeof(text), NAME ": STS AssumeRoleWithWebIdentity: HTTP %d%s%s", status,
                 *excerpt ? ": " : "", excerpt);
    }
    *err = kn_error_from_service(status, code, text, request_id);
    free(code);
    free(msg);
    free(rid);
    return *err ? kn_error_code(*err) : KN_ERR_NOMEM;
}

kn_err_t kn_sts_parse_web_identity(int status, const uint8_t *body, size_t len,
                                   const char *request_id, kn_credentials_t *out,
                                   kn_error_t **err) {
    memset(out, 0, sizeof(*out));
    *err = NULL;
    if (!body || len > KN_CREDS_REPLY_MAX)
        return bad_reply("missing or larger than the limit", err);
    if (memchr(body, '\0', len))
        return bad_reply("contains a NUL byte", err);
    span_t all = {(const char *)body, (const char *)body + len};
    if (status < 200 || status >= 300)
        return sts_error(status, all, request_id, err);
    span_t result, creds;
    if (xml_element(all, "AssumeRoleWithWebIdentityResult", &result) ||
        xml_element(result, "Credentials", &creds))
        return bad_reply("no AssumeRoleWithWebIdentityResult/Credentials element", err);
    char *id = xml_child_text(creds, "AccessKeyId");
    char *secret = xml_child_text(creds, "SecretAccessKey");
    char *token = xml_child_text(creds, "SessionToken");
    char *exp = xml_child_text(creds, "Expiration");
    int64_t exp_ms = 0;
    kn_err_t rc;
    if (!id || !*id || !secret || !*secret || !token || !*token || !exp)
        rc = bad_reply("a credentials field is missing, empty or malformed", err);
    else if (kn_iso8601_ms(exp, &exp_ms))
        rc = bad_reply("Expiration is not an ISO 8601 time", err);
    else if ((rc = kn_credentials_set(out, id, secret, token, exp_ms)) != KN_OK)
        *err = kn_error_new(rc, NAME ": out of memory");
    free(id);
    kn_secret_free(secret);
    kn_secret_free(token);
    free(exp);
    return rc;
}

/* ------------------------------------------------------------- settings */

typedef struct {
    char token_file[KN_PROFILE_PATH_MAX];
    char role_arn[ROLE_ARN_MAX + 1];
    char session[SESSION_NAME_MAX + 1];
    const char *from; /* "environment" or "profile" */
} settings_t;

static int session_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 2 || n > SESSION_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_+=,.@-", *s)))
            return 0;
    return 1;
}

/* Copies the three settings (any may be NULL/empty) and checks them. */
static kn_err_t settings_fill(settings_t *st, const char *file, const char *arn, const char *session,
                              const char *arn_name, const char *session_name, kn_error_t **err) {
    if (!arn || !*arn) {
        *err = kn_error_new(KN_ERR_INVALID_ARG, NAME ": a web identity token file is set (%s) "
                                                "but %s is not", st->from, arn_name);
        return KN_ERR_INVALID_ARG;
    }
    if (strlen(file) >= sizeof(st->token_file) || strlen(arn) > ROLE_ARN_MAX) {
        *err = kn_error_new(KN_ERR_TOO_LARGE, NAME ": token file path or %s too long", arn_name);
        return KN_ERR_TOO_LARGE;
    }
    strcpy(st->token_file, file);
    strcpy(st->role_arn, arn);
    if (session && *session) {
        if (!session_name_ok(session)) {
            *err = kn_error_new(KN_ERR_INVALID_ARG,
                                NAME ": %s must be 2 to %d of letters, digits and _+=,.@-",
                                session_name, SESSION_NAME_MAX);
            return KN_ERR_INVALID_ARG;
        }
        strcpy(st->session, session);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(st->session, sizeof(st->session), "kinesis-c-%lld",
                 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    }
    return KN_OK;
}

/* From the environment, else the profile; KN_ERR_NO_CREDENTIALS when neither has a token file. */
static kn_err_t settings_load(const kn_conf_t *conf, settings_t *st, kn_error_t **err) {
    const char *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    if (file && *file) {
        st->from = "environment";
        return settings_fill(st, file, getenv("AWS_ROLE_ARN"), getenv("AWS_ROLE_SESSION_NAME"),
                             "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", err);
    }
    char profile[KN_PROFILE_MAX_NAME + 1];
    kn_err_t rc = kn_profile_name(conf->profile, profile, sizeof(profile), err);
    if (rc != KN_OK)
        return rc;
    kn_profile_src_t cfg;
    rc = kn_profile_src_load(&cfg, KN_PROFILE_CONFIG, err);
    if (rc == KN_OK) {
        file = kn_profile_get(cfg.file, profile, "web_identity_token_file");
        st->from = "profile";
        if (file && *file) {
            rc = settings_fill(st, file, kn_profile_get(cfg.file, profile, "role_arn"),
                               kn_profile_get(cfg.file, profile, "role_session_name"), "role_arn",
                               "role_session_name", err);
        } else {
            rc = KN_ERR_NO_CREDENTIALS;
            *err = kn_error_new(rc, NAME ": AWS_WEB_IDENTITY_TOKEN_FILE not set and no "
                                     "web_identity_token_file in profile '%s'",
                                profile);
        }
    }
    kn_profile_src_clear(&cfg);
    return rc;
}

/* ---------------------------------------------------------------- fetch */

/* application/x-www-form-urlencoded: everything but the unreserved set is %XX. */
static void form_append(const char *start, char **p, const char *key, const char *value) {
    static const char hex[] = "0123456789ABCDEF";
    *p += sprintf(*p, "%s%s=", *p > start ? "&" : "", key);
    for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("-._~", *s)) {
            *(*p)++ = (char)*s;
        } else {
            *(*p)++ = '%';
            *(*p)++ = hex[*s >> 4];
            *(*p)++ = hex[*s & 15];
        }
    }
    **p = '\0';
}

static char *form_body(const settings_t *st, const char *token) {
    size_t cap = 128 + 3 * (strlen(st->role_arn) + strlen(st->session) + strlen(token));
    char *body = malloc(cap), *p = body;
    if (!body)
        return NULL;
    *p = '\0';
    form_append(body, &p, "Action", "AssumeRoleWithWebIdentity");
    form_append(body, &p, "Version", STS_VERSION);
    form_append(body, &p, "RoleArn", st->role_arn);
    form_append(body, &p, "RoleSessionName", st->session);
    form_append(body, &p, "WebIdentityToken", token);
    return body;
}

kn_err_t kn_sts_url(const kn_conf_t *conf, char *url, size_t size, kn_error_t **err) {
    char endpoint[KN_URL_MAX + 1], region[KN_REGION_MAX + 1];
    kn_error_t *e = NULL;
    kn_err_t rc = kn_endpoint_resolve_err(conf, "sts", NULL, endpoint, sizeof(endpoint), &e);
    if (rc == KN_ERR_NO_REGION) { /* nothing configured: needs the region, if one is known */
        kn_error_destroy(e);
        e = NULL;
        if (kn_region_resolve_offline(conf, region, sizeof(region), NULL) == KN_OK)
            rc = kn_endpoint_resolve_err(conf, "sts", region, endpoint, sizeof(endpoint), &e);
        else
            rc = snprintf(endpoint, sizeof(endpoint), "%s", KN_STS_GLOBAL_URL) > 0 ? KN_OK
                                                                                  : KN_ERR_NOMEM;
    }
    if (rc != KN_OK) {
        *err = kn_error_new(rc, NAME ": STS endpoint: %s", e ? kn_error_message(e) : kn_err2str(rc));
        kn_error_destroy(e);
        return rc;
    }
    /* The resolver drops a trailing '/': put the root path back on a bare host. */
    kn_url_t parts;
    int bare = kn_url_parse(endpoint, &parts) == KN_OK && !strcmp(parts.path, "/") &&
               endpoint[strlen(endpoint) - 1] != '/';
    snprintf(url, size, "%s%s", endpoint, bare ? "/" : "");
    return KN_OK;
}

static kn_err_t web_identity_fetch(kn_creds_provider_t *self, kn_credentials_t *out,
                                   kn_error_t **err) {
    kn_creds_remote_t *r = self->state;
    settings_t st;
    kn_err_t rc = settings_load(r->conf, &st, err);
    if (rc != KN_OK)
        return rc;
    char url[KN_URL_MAX + 2];
    if ((rc = kn_sts_url(r->conf, url, sizeof(url), err)) != KN_OK)
        return rc;
    char *token = NULL;
    if ((rc = kn_creds_read_token_file(NAME ": token file", st.token_file, &token, err)) != KN_OK)
        return rc;
    char *body = form_body(&st, token);
    kn_secret_free(token);
    if (!body) {
        *err = kn_error_new(KN_ERR_NOMEM, NAME ": out of memory");
        return KN_ERR_NOMEM;
    }
    kn_header_t headers[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Accept", "text/xml"},
    };
    kn_http_request_t req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .nheaders = sizeof(headers) / sizeof(headers[0]),
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
        .timeout_ms = KN_CREDS_HTTP_TIMEOUT_MS,
        .sensitive = 1,
        .max_body = KN_CREDS_REPLY_MAX,
    };
    KN_LOG_DBG(&r->lg, "creds", NAME ": AssumeRoleWithWebIdentity for %s (from the %s)",
               st.role_arn, st.from);
    kn_http_response_t *resp = NULL;
    rc = kn_creds_remote_perform(r, &req, KN_CREDS_HTTP_ATTEMPTS, &resp, err);
    kn_secret_free(body);
    if (rc == KN_OK)
        rc = kn_sts_parse_web_identity(resp->status, resp->body, resp->body_len,
                                       resp->request_id, out, err);
    kn_creds_response_destroy(resp);
    return rc;
}

kn_creds_provider_t *kn_creds_provider_web_identity_new(const kn_conf_t *conf) {
    return kn_creds_remote_provider_new(NAME, conf, web_identity_fetch);
}
