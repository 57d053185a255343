/*
 * AWS Signature Version 4 for requests carried in headers (no presigning).
 * Pure: no I/O, no clock of its own (the caller passes the signing time), no
 * logging (nothing here may ever print a secret).
 */
#ifndef KN_SIGV4_H
#define KN_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "creds.h"

/* Input limits; longer input is KN_ERR_INVALID_ARG. Real values are far shorter. */
#define KN_SIGV4_MAX_SCOPE_PART 64   /* region, service */
#define KN_SIGV4_MAX_METHOD 32
#define KN_SIGV4_MAX_ACCESS_KEY 128
#define KN_SIGV4_MAX_SECRET 256
#define KN_SIGV4_MAX_HEADERS 1024
#define KN_SIGV4_MAX_HEADER_NAME 256

typedef struct kn_header_s {
    const char *name;
    const char *value;
} kn_header_t;

typedef struct kn_sigv4_request_s {
    const char *method;          /* "POST" */
    /*
     * Path as sent on the wire, e.g. "/"; NULL or "" = "/". Must start with '/'.
     * Every byte outside the RFC 3986 unreserved set (and '/') is percent-encoded,
     * so a path already encoded on the wire ("/a%20b") is encoded again, as AWS
     * expects for every service but S3.
     */
    const char *path;
    /*
     * Query without '?', as sent; NULL or "" = none. Keys and values are
     * percent-decoded, then re-encoded canonically; '+' is a literal plus and a
     * '%' not followed by two hex digits is a literal percent sign.
     */
    const char *query;
    /*
     * Every header to sign, in wire order; must include Host. Names are RFC 9110
     * tokens; values may not contain control characters other than HTAB.
     * An Authorization header is ignored (never signed).
     */
    const kn_header_t *headers;
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
    const char *service;         /* "kinesis", "dynamodb", "sts" */
    const char *region;
    time_t when;                 /* signing time, UTC seconds; ignored when headers carry X-Amz-Date */
    /*
     * Optional: lowercase hex SHA-256 of the body when the caller already has it
     * (or "UNSIGNED-PAYLOAD"); body is then not read. NULL = hash body/body_len.
     */
    const char *payload_hash;
    /*
     * Nonzero = S3-style canonical URI: keep "." / ".." segments and repeated
     * slashes as they are (still percent-encoded). Zero (every other service)
     * removes dot segments and empty segments first.
     */
    int keep_path;
} kn_sigv4_request_t;

typedef struct kn_sigv4_result_s {
    char amz_date[17];       /* "20150830T123600Z": send as X-Amz-Date */
    char signature[65];      /* lowercase hex */
    char *authorization;     /* value of the Authorization header (owned) */
    /* Filled only when kn_sigv4_sign is asked for them (tests, trace logs). */
    char *canonical_request;
    char *string_to_sign;
} kn_sigv4_result_t;

/*
 * The derived signing key for one (secret, date, region, service), so the
 * four-step HMAC chain runs once a day per client instead of once per request.
 * Zero-initialise it (`kn_sigv4_key_cache_t c = {0};`) before first use. It is
 * keyed by a SHA-256 of the secret, so rotated credentials miss the cache, and
 * it holds no copy of the secret itself.
 * Not thread-safe: use one per thread, or guard it with the caller's lock.
 */
typedef struct kn_sigv4_key_cache_s {
    int valid;
    char date[9];                             /* YYYYMMDD */
    char region[KN_SIGV4_MAX_SCOPE_PART + 1];
    char service[KN_SIGV4_MAX_SCOPE_PART + 1];
    uint8_t secret_digest[32];
    uint8_t key[32];
} kn_sigv4_key_cache_t;

/**
 * Signs `req` with `creds`. The caller sends X-Amz-Date (out->amz_date), the
 * Authorization header, and, when creds has a session token (NULL or "" = none),
 * X-Amz-Security-Token — which is signed too: it is added to the signed headers
 * when not already in req->headers. When req->headers carry X-Amz-Date (exactly once, in the form
 * YYYYMMDDTHHMMSSZ) that time is used instead of req->when.
 * *out is overwritten (clear it first if it held a result); on error it is left
 * zeroed. Returns KN_OK, KN_ERR_INVALID_ARG or KN_ERR_NOMEM.
 * Reentrant; `creds` and `req` are only read.
 */
kn_err_t kn_sigv4_sign(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                       kn_sigv4_result_t *out, int want_intermediates);

/**
 * kn_sigv4_sign with a signing-key cache (NULL = no cache). The cache is read and
 * updated; see kn_sigv4_key_cache_t for thread-safety.
 */
kn_err_t kn_sigv4_sign_cached(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                              kn_sigv4_key_cache_t *cache, kn_sigv4_result_t *out,
                              int want_intermediates);

/** Frees what kn_sigv4_sign allocated in *r and zeroes it. Accepts NULL. */
void kn_sigv4_result_clear(kn_sigv4_result_t *r);

/** Wipes a key cache (the derived key is secret material). Accepts NULL. */
void kn_sigv4_key_cache_clear(kn_sigv4_key_cache_t *c);

#endif
