/*
 * What the remote credential providers (web identity, container, IMDS) share:
 * a transport of their own (a provider must never use the transport of the
 * client it serves: that one's I/O thread may be the caller), bounded
 * token-file reads, ISO 8601 times and the JSON credentials shape; plus the
 * pure parts of each provider, exposed for tests.
 *
 * Every reply is untrusted: sizes are bounded, fields checked, and neither a
 * secret nor a token ever reaches a log line or an error message.
 */
#ifndef KN_CREDS_REMOTE_H
#define KN_CREDS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"

/** Largest token file read (web identity JWTs and container tokens are a few KiB). */
#define KN_CREDS_TOKEN_FILE_MAX (16 * 1024)
/** Largest credentials reply accepted (KN_ERR_BAD_RESPONSE beyond). */
#define KN_CREDS_REPLY_MAX (64 * 1024)
/** Longest key id, secret or session token accepted from a reply. */
#define KN_CREDS_FIELD_MAX (16 * 1024)
/** Whole-exchange timeout of an STS or container credentials request. */
#define KN_CREDS_HTTP_TIMEOUT_MS 5000
/** Attempts of an STS or container request that fails on the network or with a 5xx. */
#define KN_CREDS_HTTP_ATTEMPTS 3
/** First pause between those attempts; doubles. */
#define KN_CREDS_HTTP_RETRY_MS 100

/** IMDS: connect and whole-request timeout, attempts, and the session token's lifetime. */
#define KN_IMDS_TIMEOUT_MS 1000
#define KN_IMDS_ATTEMPTS 2
#define KN_IMDS_TOKEN_TTL_S 21600
/** The default IMDS address and the ECS agent address of relative container URIs. */
#define KN_IMDS_DEFAULT_URL "http://169.254.169.254"
#define KN_CONTAINER_HOST_URL "http://169.254.170.2"
/** Global STS endpoint, used when no region is known. */
#define KN_STS_GLOBAL_URL "https://sts.amazonaws.com"

/** A remote provider's plumbing: its copy of the conf and a transport made at first use. */
typedef struct kn_creds_remote_s {
    const char *name; /* the provider's name, prefix of its messages */
    kn_conf_t *conf;
    kn_http_t *http;
    kn_logger_t lg;
} kn_creds_remote_t;

/**
 * Copies `conf` (NULL: defaults); `connect_timeout_ms` > 0 lowers the copy's
 * connect timeout to it. NULL when out of memory.
 */
kn_creds_remote_t *kn_creds_remote_new(const char *name, const kn_conf_t *conf,
                                       int64_t connect_timeout_ms);
/** Stops the transport and frees. Accepts NULL; usable as a provider's destroy_state. */
void kn_creds_remote_destroy(void *remote);
/** A provider `name` around `fetch` whose state is a kn_creds_remote_t. NULL when out of memory. */
kn_creds_provider_t *kn_creds_remote_provider_new(const char *name, const kn_conf_t *conf,
                                                  kn_creds_fetch_fn *fetch);

/**
 * kn_http_perform on the provider's transport (created now if needed), up to
 * `attempts` times while the request fails on the network or the reply is a
 * 5xx, pausing KN_CREDS_HTTP_RETRY_MS (doubling) in between. KN_OK with *resp
 * when a reply was received (any status: the last one); else the transport's
 * error in *err, its message prefixed with the provider's name.
 */
kn_err_t kn_creds_remote_perform(kn_creds_remote_t *r, const kn_http_request_t *req, int attempts,
                                 kn_http_response_t **resp, kn_error_t **err);

/** Wipes the body (it may hold credentials), then frees the response. Accepts NULL. */
void kn_creds_response_destroy(kn_http_response_t *resp);

/**
 * Reads a token file (`what` names it in messages, e.g. "web-identity: token
 * file") into *out (heap, the caller frees it with kn_secret_free): at most
 * KN_CREDS_TOKEN_FILE_MAX bytes, trailing whitespace removed, no control
 * characters or NUL, not empty. KN_OK, KN_ERR_FILE, KN_ERR_TOO_LARGE,
 * KN_ERR_INVALID_ARG or KN_ERR_NOMEM, with *err naming the path.
 */
kn_err_t kn_creds_read_token_file(const char *what, const char *path, char **out, kn_error_t **err);

/**
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" to epoch milliseconds.
 * Returns 0, or -1 for anything else (out of range fields included).
 */
int kn_iso8601_ms(const char *text, int64_t *out_ms);

/**
 * The container/IMDS credentials JSON: AccessKeyId, SecretAccessKey, Token
 * (optional), Expiration (ISO 8601, optional: absent means no expiry) and, when
 * present, "Code" which must be "Success". `name` prefixes messages. KN_OK or
 * KN_ERR_BAD_RESPONSE / KN_ERR_NOMEM with *err; *out (clear on entry) stays
 * clear on failure.
 */
kn_err_t kn_creds_parse_json(const char *name, const uint8_t *body, size_t len,
                             kn_credentials_t *out, kn_error_t **err);

/**
 * An STS AssumeRoleWithWebIdentity reply: for a 2xx status the credentials in
 * AssumeRoleWithWebIdentityResult/Credentials (AccessKeyId, SecretAccessKey,
 * SessionToken, Expiration), the five XML entities and numeric references
 * decoded; otherwise the <Error><Code>/<Message> as a service error (with the
 * status and `request_id`, else the reply's <RequestId>). Malformed, truncated
 * or oversized replies are KN_ERR_BAD_RESPONSE. Pure.
 */
kn_err_t kn_sts_parse_web_identity(int status, const uint8_t *body, size_t len,
                                   const char *request_id, kn_credentials_t *out,
                                   kn_error_t **err);

/**
 * The URL web identity POSTs to: kn_endpoint_resolve(conf, "sts", region) with
 * the region from conf, environment or profile (never IMDS), else
 * KN_STS_GLOBAL_URL; "/" appended to a bare host. Pure string work.
 */
kn_err_t kn_sts_url(const kn_conf_t *conf, char *url, size_t size, kn_error_t **err);

/**
 * The container credentials URL from the environment (see
 * kn_creds_provider_container_new), checked: KN_OK, KN_ERR_NO_CREDENTIALS when
 * neither variable is set, KN_ERR_INVALID_ARG for a malformed URL or a plain-http
 * FULL_URI whose host is not allowed, KN_ERR_TOO_LARGE. Pure string work.
 */
kn_err_t kn_container_url(char *buf, size_t size, kn_error_t **err);

/** Whether AWS_EC2_METADATA_DISABLED is "true" (any case). */
int kn_imds_disabled(void);

/**
 * The IMDS base URL: AWS_EC2_METADATA_SERVICE_ENDPOINT (checked, one trailing
 * '/' removed), else KN_IMDS_DEFAULT_URL. Pure string work.
 */
kn_err_t kn_imds_base_url(char *buf, size_t size, kn_error_t **err);

/**
 * The instance's region from IMDSv2 (/latest/meta-data/placement/region), on a
 * transport made for the call. KN_ERR_NO_REGION (without any network) when IMDS
 * is disabled, and when it is unreachable or answers no valid region; *err
 * (may be NULL) says why.
 */
kn_err_t kn_imds_region(const kn_conf_t *conf, char *buf, size_t size, kn_error_t **err);

#endif
