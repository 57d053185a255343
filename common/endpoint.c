/*
 * Region and endpoint resolution, and endpoint URL parsing. No I/O but the
 * config file, and the instance-metadata region as the region's last resort.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds_remote.h"
#include "endpoint.h"
#include "profile.h"

static void set_err(kn_error_t **err, kn_error_t *e) {
    if (err)
        *err = e;
    else
        kn_error_destroy(e);
}

int kn_region_valid(const char *region) {
    if (!region || !*region)
        return 0;
    size_t n = 0;
    for (const char *s = region; *s; s++, n++)
        if (n >= KN_REGION_MAX || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static const char *nonempty_env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Validates `value` (read from `from`) and copies it into buf. */
static kn_err_t region_store(const char *value, const char *from, char *buf, size_t size,
                             kn_error_t **err) {
    if (!kn_region_valid(value)) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG,
                                  "%s: not a region name (lowercase letters, digits and '-', at "
                                  "most %d characters)",
                                  from, KN_REGION_MAX));
        return KN_ERR_INVALID_ARG;
    }
    if (strlen(value) >= size) {
        set_err(err, kn_error_new(KN_ERR_TOO_LARGE, "%s: region longer than the buffer", from));
        return KN_ERR_TOO_LARGE;
    }
    strcpy(buf, value);
    return KN_OK;
}

kn_err_t kn_region_resolve_offline(const kn_conf_t *conf, char *buf, size_t size,
                                   kn_error_t **err) {
    if (err)
        *err = NULL;
    if (!buf || !size)
        return KN_ERR_INVALID_ARG;
    buf[0] = '\0';
    if (conf && conf->region && *conf->region)
        return region_store(conf->region, "conf region", buf, size, err);
    if (nonempty_env("AWS_REGION"))
        return region_store(getenv("AWS_REGION"), "AWS_REGION", buf, size, err);
    if (nonempty_env("AWS_DEFAULT_REGION"))
        return region_store(getenv("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION", buf, size, err);

    char profile[KN_PROFILE_MAX_NAME + 1];
    kn_err_t rc = kn_profile_name(conf ? conf->profile : NULL, profile, sizeof(profile), err);
    if (rc != KN_OK)
        return rc;
    kn_profile_src_t cfg;
    rc = kn_profile_src_load(&cfg, KN_PROFILE_CONFIG, err);
    if (rc == KN_OK) {
        char where[KN_PROFILE_PATH_MAX + 32], from[sizeof(where) + KN_PROFILE_MAX_NAME + 32];
        kn_profile_src_describe(&cfg, where, sizeof(where));
        const char *value = kn_profile_get(cfg.file, profile, "region");
        snprintf(from, sizeof(from), "region of profile '%s' in %s", profile, where);
        if (value && *value) {
            rc = region_store(value, from, buf, size, err);
        } else {
            rc = KN_ERR_NO_REGION;
            set_err(err, kn_error_new(rc, "no region: conf region, AWS_REGION and "
                                          "AWS_DEFAULT_REGION are not set, and there is no %s",
                                      from));
        }
    }
    kn_profile_src_clear(&cfg);
    return rc;
}

kn_err_t kn_region_resolve_err(const kn_conf_t *conf, char *buf, size_t size, kn_error_t **err) {
    kn_error_t *e = NULL;
    kn_err_t rc = kn_region_resolve_offline(conf, buf, size, &e);
    if (rc == KN_ERR_NO_REGION && !kn_imds_disabled()) {
        /* Last resort, as the AWS SDKs: the EC2 instance's own region. */
        kn_error_t *ie = NULL;
        if ((rc = kn_imds_region(conf, buf, size, &ie)) == KN_OK) {
            kn_error_destroy(e);
            e = NULL;
        } else {
            kn_error_t *both = kn_error_new(KN_ERR_NO_REGION, "%s; %s", kn_error_message(e),
                                            ie ? kn_error_message(ie) : "instance metadata failed");
            if (both) {
                kn_error_destroy(e);
                e = both;
            }
            rc = KN_ERR_NO_REGION;
        }
        kn_error_destroy(ie);
    }
    set_err(err, e);
    return rc;
}

kn_err_t kn_region_resolve(const kn_conf_t *conf, char *buf, size_t size) {
    return kn_region_resolve_err(conf, buf, size, NULL);
}

typedef struct {
    const char *service;
    size_t conf_field; /* offset of the char * in kn_conf_t */
    const char *conf_name;
    const char *env;
} service_t;

static const service_t services[] = {
    {"kinesis", offsetof(kn_conf_t, kinesis_endpoint), "kinesis.endpoint.url",
     "AWS_ENDPOINT_URL_KINESIS"},
    {"dynamodb", offsetof(kn_conf_t, dynamodb_endpoint), "dynamodb.endpoint.url",
     "AWS_ENDPOINT_URL_DYNAMODB"},
    {"sts", offsetof(kn_conf_t, sts_endpoint), "sts.endpoint.url", "AWS_ENDPOINT_URL_STS"},
};

static const service_t *service_find(const char *service) {
    for (size_t i = 0; service && i < sizeof(services) / sizeof(services[0]); i++)
        if (!strcmp(services[i].service, service))
            return &services[i];
    return NULL;
}

static kn_err_t store(const char *text, char *buf, size_t size, const char *from,
                      kn_error_t **err) {
    if (strlen(text) >= size) {
        set_err(err, kn_error_new(KN_ERR_TOO_LARGE, "%s: endpoint longer than the buffer", from));
        return KN_ERR_TOO_LARGE;
    }
    strcpy(buf, text);
    return KN_OK;
}

kn_err_t kn_endpoint_url_setting(const char *value, const char *from, char *buf, size_t size,
                                 kn_error_t **err) {
    char url[KN_URL_MAX + 1];
    size_t n = strnlen(value, sizeof(url));
    if (n > KN_URL_MAX) {
        set_err(err, kn_error_new(KN_ERR_TOO_LARGE, "%s: URL longer than %d characters", from,
                                  KN_URL_MAX));
        return KN_ERR_TOO_LARGE;
    }
    memcpy(url, value, n + 1);
    if (n && url[n - 1] == '/')
        url[n - 1] = '\0';
    kn_url_t parts;
    kn_err_t rc = kn_url_parse(url, &parts);
    if (rc != KN_OK) {
        set_err(err, kn_error_new(rc, "%s: %s", from, parts.error));
        return rc;
    }
    return store(url, buf, size, from, err);
}

kn_err_t kn_endpoint_resolve_err(const kn_conf_t *conf, const char *service, const char *region,
                                 char *buf, size_t size, kn_error_t **err) {
    if (err)
        *err = NULL;
    if (!buf || !size)
        return KN_ERR_INVALID_ARG;
    buf[0] = '\0';
    const service_t *svc = service_find(service);
    if (!svc) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG, "no endpoint rules for service '%s'",
                                  service ? service : "(null)"));
        return KN_ERR_INVALID_ARG;
    }
    const char *conf_value = conf ? *(char *const *)((const char *)conf + svc->conf_field) : NULL;
    if (conf_value && *conf_value)
        return kn_endpoint_url_setting(conf_value, svc->conf_name, buf, size, err);
    if (nonempty_env(svc->env))
        return kn_endpoint_url_setting(getenv(svc->env), svc->env, buf, size, err);
    if (nonempty_env("AWS_ENDPOINT_URL"))
        return kn_endpoint_url_setting(getenv("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL", buf, size, err);

    if (!region || !*region) {
        set_err(err, kn_error_new(KN_ERR_NO_REGION, "%s: no region to build the default endpoint",
                                  svc->service));
        return KN_ERR_NO_REGION;
    }
    if (!kn_region_valid(region)) {
        set_err(err, kn_error_new(KN_ERR_INVALID_ARG, "%s: not a region name", svc->service));
        return KN_ERR_INVALID_ARG;
    }
    char url[KN_URL_MAX + 1];
    snprintf(url, sizeof(url), "https://%s.%s.amazonaws.com%s", svc->service, region,
             strncmp(region, "cn-", 3) ? "" : ".cn");
    return store(url, buf, size, svc->service, err);
}

kn_err_t kn_endpoint_resolve(const kn_conf_t *conf, const char *service, const char *region,
                             char *buf, size_t size) {
    return kn_endpoint_resolve_err(conf, service, region, buf, size, NULL);
}

#define URL_FAIL(code, text)                                                                       \
    do {                                                                                           \
        memset(out, 0, sizeof(*out));                                                              \
        out->error = (text);                                                                       \
        return (code);                                                                             \
    } while (0)

static int host_char(char c, int v6) {
    if (v6)
        return isxdigit((unsigned char)c) || c == ':' || c == '.';
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Digits only, 1..65535; -1 otherwise. */
static int parse_port(const char *s, size_t n) {
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

kn_err_t kn_url_parse(const char *url, kn_url_t *out) {
    if (!out)
        return KN_ERR_INVALID_ARG;
    if (!url)
        URL_FAIL(KN_ERR_INVALID_ARG, "no URL");
    memset(out, 0, sizeof(*out));
    size_t len = strnlen(url, KN_URL_MAX + 1);
    if (len > KN_URL_MAX)
        URL_FAIL(KN_ERR_TOO_LARGE, "URL too long");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            URL_FAIL(KN_ERR_INVALID_ARG, "URL contains a space, control or non-ASCII character");
    if (strpbrk(url, "?#"))
        URL_FAIL(KN_ERR_INVALID_ARG, "an endpoint URL takes no query or fragment");
    const char *p;
    if (!strncasecmp(url, "https://", 8)) {
        out->https = 1;
        p = url + 8;
    } else if (!strncasecmp(url, "http://", 7)) {
        p = url + 7;
    } else {
        URL_FAIL(KN_ERR_INVALID_ARG, "scheme must be http:// or https://");
    }
    const char *auth_end = p + strcspn(p, "/");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        URL_FAIL(KN_ERR_INVALID_ARG, "user info (user@host) is not allowed");

    int v6 = *p == '[';
    const char *host = p + v6, *host_end, *rest;
    if (v6) {
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end)
            URL_FAIL(KN_ERR_INVALID_ARG, "IPv6 address without ']'");
        if (!memchr(host, ':', (size_t)(host_end - host)))
            URL_FAIL(KN_ERR_INVALID_ARG, "malformed IPv6 address");
        rest = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        rest = host_end;
    }
    if (host_end == host)
        URL_FAIL(KN_ERR_INVALID_ARG, "empty host");
    if ((size_t)(host_end - host) >= sizeof(out->host))
        URL_FAIL(KN_ERR_TOO_LARGE, "host name too long");
    for (const char *s = host; s < host_end; s++) {
        if (!host_char(*s, v6))
            URL_FAIL(KN_ERR_INVALID_ARG, "invalid character in host");
        out->host[s - host] = (char)tolower((unsigned char)*s);
    }

    int def_port = out->https ? 443 : 80;
    out->port = def_port;
    if (rest < auth_end) {
        if (*rest != ':')
            URL_FAIL(KN_ERR_INVALID_ARG, "unexpected text after the host");
        out->port = parse_port(rest + 1, (size_t)(auth_end - rest - 1));
        if (out->port < 0)
            URL_FAIL(KN_ERR_INVALID_ARG, "port must be a number in 1..65535");
    }

    const char *path = *auth_end ? auth_end : "/";
    if (strlen(path) >= sizeof(out->path))
        URL_FAIL(KN_ERR_TOO_LARGE, "path too long");
    strcpy(out->path, path);
    snprintf(out->authority, sizeof(out->authority), v6 ? "[%s]" : "%s", out->host);
    if (out->port != def_port) {
        size_t n = strlen(out->authority);
        snprintf(out->authority + n, sizeof(out->authority) - n, ":%d", out->port);
    }
    return KN_OK;
}
