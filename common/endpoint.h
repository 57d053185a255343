/*
 * Region and endpoint resolution: string building from conf, environment and
 * the shared config file. Nothing here resolves or contacts a host, except the
 * region's last resort, EC2 instance metadata, which AWS_EC2_METADATA_DISABLED
 * turns off (kn_region_resolve_offline never uses it).
 */
#ifndef KN_ENDPOINT_H
#define KN_ENDPOINT_H

#include <stddef.h>

#include "conf.h"
#include "err.h"

/** Longest region name ("us-east-1"); AWS names are far shorter. */
#define KN_REGION_MAX 64
/** Longest endpoint URL accepted. */
#define KN_URL_MAX 1024

/**
 * The region: conf `region`, else AWS_REGION, else AWS_DEFAULT_REGION, else the
 * `region` of the profile (conf `profile`, else AWS_PROFILE, else "default") in
 * the shared config file. Empty values count as unset. Returns KN_OK,
 * KN_ERR_NO_REGION when none is found, KN_ERR_INVALID_ARG for a name that is not
 * lowercase letters, digits and '-' (at most KN_REGION_MAX), KN_ERR_TOO_LARGE
 * when buf is too small, or the config file's parse error. *err (may be NULL)
 * names the source on failure. conf may be NULL.
 */
kn_err_t kn_region_resolve_offline(const kn_conf_t *conf, char *buf, size_t size,
                                   kn_error_t **err);
/**
 * kn_region_resolve_offline(), then, when it finds no region and
 * AWS_EC2_METADATA_DISABLED is not "true", the EC2 instance's region from
 * IMDSv2 (kn_imds_region: a short, bounded exchange). When that fails too the
 * KN_ERR_NO_REGION message also says why IMDS gave none.
 */
kn_err_t kn_region_resolve_err(const kn_conf_t *conf, char *buf, size_t size, kn_error_t **err);
/** kn_region_resolve_err() without the error object. */
kn_err_t kn_region_resolve(const kn_conf_t *conf, char *buf, size_t size);

/** Whether `region` is a well-formed region name (see kn_region_resolve). */
int kn_region_valid(const char *region);

/**
 * The endpoint URL for `service` ("kinesis", "dynamodb", "sts"): its conf
 * property (kinesis.endpoint.url, ...), else AWS_ENDPOINT_URL_<SERVICE>, else
 * AWS_ENDPOINT_URL, else https://<service>.<region>.amazonaws.com
 * (".amazonaws.com.cn" in cn-* regions; `region` is needed only then). One
 * trailing '/' is removed. Returns KN_OK, KN_ERR_INVALID_ARG (unknown service,
 * URL rejected by kn_url_parse, bad region), KN_ERR_NO_REGION, or
 * KN_ERR_TOO_LARGE; *err (may be NULL) names the source, never the URL (it
 * could carry a password). conf may be NULL.
 */
kn_err_t kn_endpoint_resolve_err(const kn_conf_t *conf, const char *service, const char *region,
                                 char *buf, size_t size, kn_error_t **err);
/** kn_endpoint_resolve_err() without the error object. */
kn_err_t kn_endpoint_resolve(const kn_conf_t *conf, const char *service, const char *region,
                             char *buf, size_t size);

/**
 * A URL from a setting (`from` names it in messages): one trailing '/' removed,
 * checked with kn_url_parse, copied into buf. KN_OK, KN_ERR_INVALID_ARG or
 * KN_ERR_TOO_LARGE with *err (may be NULL) naming `from`, never the URL.
 */
kn_err_t kn_endpoint_url_setting(const char *value, const char *from, char *buf, size_t size,
                                 kn_error_t **err);

/** Parts of an endpoint URL. */
typedef struct kn_url_s {
    int https;
    char host[256];      /* lowercased; without brackets for IPv6 */
    int port;            /* explicit or scheme default */
    char authority[300]; /* value of the Host header: host ([v6]), plus ":port" when not default */
    char path[256];      /* "/" when empty */
    const char *error;   /* after a failed parse: a static sentence saying what is wrong */
} kn_url_t;

/**
 * Splits an http:// or https:// URL (scheme case-insensitive). Rejects user
 * info, a query or fragment, an empty or malformed host, a port outside
 * 1..65535, characters outside printable ASCII, and parts longer than their
 * field (KN_ERR_TOO_LARGE; whole URL: KN_URL_MAX). Returns KN_OK,
 * KN_ERR_INVALID_ARG or KN_ERR_TOO_LARGE; on failure out->error says why.
 */
kn_err_t kn_url_parse(const char *url, kn_url_t *out);

#endif
