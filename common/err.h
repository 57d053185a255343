/* Internal constructors for error objects (the accessors are public in kinesis/common.h). */
#ifndef KN_ERR_H
#define KN_ERR_H

#include "kinesis/common.h"

struct kn_error_s {
    kn_err_t code;
    int http_status;
    int retriable;
    char *type;       /* AWS "__type" short name, or NULL */
    char *message;    /* never NULL */
    char *request_id; /* or NULL */
};

/** A library error with a printf-style message. Returns NULL only when out of memory. */
kn_error_t *kn_error_new(kn_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * An error from a service reply. `type` may be a full "__type" such as
 * "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException": the part
 * after '#' (and before ':') is kept. Code and retriability come from the type,
 * else from the HTTP status.
 */
kn_error_t *kn_error_from_service(int http_status, const char *type, const char *message,
                                  const char *request_id);

/** Maps an AWS error type (short or full form) to a code; KN_ERR_SERVICE when unknown. */
kn_err_t kn_err_from_aws_type(const char *type);

/** Whether a code is retriable by default (throttling, 5xx, network, timeout). */
int kn_err_is_retriable(kn_err_t code);

#endif
