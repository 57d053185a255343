/*
 * AWS Signature Version 4 for requests carried in headers (no presigning).
 * Pure: no I/O, no clock of its own (the caller passes the signing time).
 */
#ifndef KN_SIGV4_H
#define KN_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "creds.h"

typedef struct kn_header_s {
    const char *name;
    const char *value;
} kn_header_t;

typedef struct kn_sigv4_request_s {
    const char *method;          /* "POST" */
    const char *path;            /* as sent on the wire, e.g. "/" ; NULL = "/" */
    const char *query;           /* without '?', as sent; NULL or "" = none */
    const kn_header_t *headers;  /* every header to sign; must include Host */
    size_t nheaders;
    const uint8_t *body;
    size_t body_len;
    const char *service;         /* "kinesis", "dynamodb", "sts" */
    const char *region;
    time_t when;                 /* signing time, UTC seconds; ignored when headers carry X-Amz-Date */
} kn_sigv4_request_t;

typedef struct kn_sigv4_result_s {
    char amz_date[17];       /* "20150830T123600Z": send as X-Amz-Date */
    char signature[65];      /* lowercase hex */
    char *authorization;     /* value of the Authorization header (owned) */
    /* Filled only when kn_sigv4_sign is asked for them (tests, trace logs). */
    char *canonical_request;
    char *string_to_sign;
} kn_sigv4_result_t;

/**
 * Signs `req` with `creds`. The caller sends X-Amz-Date (out->amz_date), the
 * Authorization header, and, when creds has a session token, X-Amz-Security-Token
 * — which is signed too: it is added to the signed headers when not already in
 * req->headers. Returns KN_OK, KN_ERR_INVALID_ARG or KN_ERR_NOMEM.
 */
kn_err_t kn_sigv4_sign(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                       kn_sigv4_result_t *out, int want_intermediates);
/** Frees what kn_sigv4_sign allocated in *r. */
void kn_sigv4_result_clear(kn_sigv4_result_t *r);

#endif
