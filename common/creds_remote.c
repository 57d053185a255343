/* Plumbing shared by the remote credential providers: transport, token files, times, JSON. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "creds_remote.h"
#include "json.h"

kn_creds_remote_t *kn_creds_remote_new(const char *name, const kn_conf_t *conf,
                                       int64_t connect_timeout_ms) {
    kn_creds_remote_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->name = name;
    r->conf = conf ? kn_conf_dup(conf) : kn_conf_new();
    if (!r->conf) {
        free(r);
        return NULL;
    }
    if (connect_timeout_ms > 0 && (r->conf->connect_timeout_ms <= 0 ||
                                   r->conf->connect_timeout_ms > connect_timeout_ms))
        r->conf->connect_timeout_ms = connect_timeout_ms;
    r->lg = kn_conf_logger(r->conf);
    return r;
}

void kn_creds_remote_destroy(void *remote) {
    kn_creds_remote_t *r = remote;
    if (!r)
        return;
    kn_http_destroy(r->http);
    kn_conf_destroy(r->conf);
    free(r);
}

kn_creds_provider_t *kn_creds_remote_provider_new(const char *name, const kn_conf_t *conf,
                                                  kn_creds_fetch_fn *fetch) {
    kn_creds_remote_t *r = kn_creds_remote_new(name, conf, 0);
    return r ? kn_creds_provider_new(name, fetch, kn_creds_remote_destroy, r) : NULL;
}

static void pause_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static int transient(kn_err_t rc) {
    return rc == KN_ERR_TRANSPORT || rc == KN_ERR_TIMED_OUT;
}

kn_err_t kn_creds_remote_perform(kn_creds_remote_t *r, const kn_http_request_t *req, int attempts,
                                 kn_http_response_t **resp, kn_error_t **err) {
    *resp = NULL;
    *err = NULL;
    if (!r->http) {
        kn_error_t *e = NULL;
        if (!(r->http = kn_http_new(r->conf, &e))) {
            kn_err_t rc = e ? kn_error_code(e) : KN_ERR_NOMEM;
            *err = kn_error_new(rc, "%s: no transport: %s", r->name,
                                e ? kn_error_message(e) : "out of memory");
            kn_error_destroy(e);
            return rc;
        }
    }
    kn_err_t rc = KN_ERR_TRANSPORT;
    int64_t delay = KN_CREDS_HTTP_RETRY_MS;
    for (int i = 0; i < attempts; i++, delay *= 2) {
        if (i)
            pause_ms(delay);
        kn_error_destroy(*err);
        *err = NULL;
        kn_creds_response_destroy(*resp);
        *resp = NULL;
        rc = kn_http_perform(r->http, req, resp, err);
        if (rc == KN_OK && (*resp)->status < 500)
            return KN_OK;
        if (rc != KN_OK && !transient(rc))
            break;
    }
    if (rc == KN_OK) /* a 5xx after every attempt: the caller reads it */
        return KN_OK;
    kn_error_t *e = kn_error_new(rc, "%s: %s", r->name, *err ? kn_error_message(*err) : kn_err2str(rc));
    kn_error_destroy(*err);
    *err = e;
    return rc;
}

void kn_creds_response_destroy(kn_http_response_t *resp) {
    if (resp && resp->body)
        explicit_bzero(resp->body, resp->body_len);
    kn_http_response_destroy(resp);
}

kn_err_t kn_creds_read_token_file(const char *what, const char *path, char **out,
                                  kn_error_t **err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = kn_error_new(KN_ERR_FILE, "%s %s: %s", what, path, strerror(errno));
        return KN_ERR_FILE;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        *err = kn_error_new(KN_ERR_FILE, "%s %s: not a regular file", what, path);
        return KN_ERR_FILE;
    }
    char *buf = malloc(KN_CREDS_TOKEN_FILE_MAX + 1);
    if (!buf) {
        close(fd);
        *err = kn_error_new(KN_ERR_NOMEM, "%s: out of memory", what);
        return KN_ERR_NOMEM;
    }
    size_t len = 0;
    ssize_t n = 0;
    /* One byte more than the limit tells an oversized file from one exactly at it. */
    while (len <= KN_CREDS_TOKEN_FILE_MAX &&
           (n = read(fd, buf + len, KN_CREDS_TOKEN_FILE_MAX + 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    int read_errno = n < 0 ? errno : 0;
    close(fd);
    kn_err_t rc = KN_OK;
    if (read_errno) {
        rc = KN_ERR_FILE;
        *err = kn_error_new(rc, "%s %s: %s", what, path, strerror(read_errno));
    } else if (len > KN_CREDS_TOKEN_FILE_MAX) {
        rc = KN_ERR_TOO_LARGE;
        *err = kn_error_new(rc, "%s %s: larger than %d bytes", what, path,
                            KN_CREDS_TOKEN_FILE_MAX);
    } else {
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
            len--;
        buf[len] = '\0';
        for (size_t i = 0; i < len && rc == KN_OK; i++)
            if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
                rc = KN_ERR_INVALID_ARG;
        if (rc != KN_OK || !len) {
            rc = KN_ERR_INVALID_ARG;
            *err = kn_error_new(rc, "%s %s: %s", what, path,
                                len ? "contains control characters" : "is empty");
        }
    }
    if (rc != KN_OK) {
        explicit_bzero(buf, KN_CREDS_TOKEN_FILE_MAX + 1);
        free(buf);
        return rc;
    }
    *out = buf;
    return KN_OK;
}

/* Exactly `n` digits at *p, advancing it; -1 when not. */
static int digits(const char **p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

static int expect(const char **p, char c) {
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int kn_iso8601_ms(const char *text, int64_t *out_ms) {
    if (!text || !out_ms)
        return -1;
    const char *p = text;
    struct tm tm = {0};
    int y = digits(&p, 4), mo = expect(&p, '-') ? -1 : digits(&p, 2);
    int d = expect(&p, '-') ? -1 : digits(&p, 2);
    int h = expect(&p, 'T') ? -1 : digits(&p, 2);
    int mi = expect(&p, ':') ? -1 : digits(&p, 2);
    int s = expect(&p, ':') ? -1 : digits(&p, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || s < 0 || s > 60)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0 || n > 9)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2), om = expect(&p, ':') ? -1 : digits(&p, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* timegm normalises Feb 30 into March */
        return -1;
    *out_ms = ((int64_t)t - offset_s) * 1000 + ms;
    return 0;
}

kn_err_t kn_creds_parse_json(const char *name, const uint8_t *body, size_t len,
                             kn_credentials_t *out, kn_error_t **err) {
    memset(out, 0, sizeof(*out));
    if (len > KN_CREDS_REPLY_MAX) {
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "%s: reply larger than %d bytes", name,
                            KN_CREDS_REPLY_MAX);
        return KN_ERR_BAD_RESPONSE;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)body, len, &end, 0);
    while (j && end && end < (const char *)body + len && strchr(" \t\r\n", *end) && *end)
        end++;
    if (!cJSON_IsObject(j) || end != (const char *)body + len) {
        cJSON_Delete(j);
        *err = kn_error_new(KN_ERR_BAD_RESPONSE, "%s: reply is not a JSON object", name);
        return KN_ERR_BAD_RESPONSE;
    }
    const char *code = NULL, *id = NULL, *secret = NULL, *token = NULL, *exp = NULL;
    kn_error_t *e = NULL;
    int bad = kn_json_str(j, "Code", 0, 64, &code, &e) ||
              kn_json_str(j, "AccessKeyId", 1, KN_CREDS_FIELD_MAX, &id, &e) ||
              kn_json_str(j, "SecretAccessKey", 1, KN_CREDS_FIELD_MAX, &secret, &e) ||
              kn_json_str(j, "Token", 0, KN_CREDS_FIELD_MAX, &token, &e) ||
              kn_json_str(j, "Expiration", 0, 64, &exp, &e);
    kn_err_t rc = KN_OK;
    int64_t exp_ms = 0;
    if (!bad && code && strcmp(code, "Success")) {
        rc = KN_ERR_BAD_RESPONSE;
        *err = kn_error_new(rc, "%s: reply Code is \"%.64s\", not \"Success\"", name, code);
    } else if (bad) {
        rc = KN_ERR_BAD_RESPONSE;
        *err = kn_error_new(rc, "%s: %s", name, e ? kn_error_message(e) : "malformed reply");
    } else if (exp && kn_iso8601_ms(exp, &exp_ms)) {
        rc = KN_ERR_BAD_RESPONSE;
        *err = kn_error_new(rc, "%s: Expiration \"%.64s\" is not an ISO 8601 time", name, exp);
    } else if ((rc = kn_credentials_set(out, id, secret, token, exp_ms)) != KN_OK) {
        *err = kn_error_new(rc, "%s: out of memory", name);
    }
    kn_error_destroy(e);
    cJSON_Delete(j);
    return rc;
}
