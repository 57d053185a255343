/*
 * kinesis-c: definitions shared by the producer and the consumer.
 *
 * Errors are plain codes (kn_err_t) plus, where a call can fail remotely, error
 * objects (kn_error_t) that keep the AWS error type, message, HTTP status and
 * request id. There is no thread-local "last error": every failure is returned.
 *
 * Configuration is string-keyed (kn_conf_set) and backed by one property table;
 * docs/CONFIGURATION.md is generated from that table.
 */
#ifndef KINESIS_COMMON_H
#define KINESIS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KN_VERSION_STR "0.1.0"

/**
 * Error codes. Library errors are negative, errors reported by the service are
 * positive, KN_OK is zero. Use kn_err2name() for the stable name and
 * kn_err2str() for a human description.
 */
typedef enum {
    /* Library errors */
    KN_ERR_INVALID_ARG = -100,   /**< NULL, empty, out of range or malformed argument */
    KN_ERR_NOMEM,                /**< allocation failed */
    KN_ERR_UNKNOWN_PROPERTY,     /**< kn_conf_set: no such property */
    KN_ERR_TOO_LARGE,            /**< input longer than its limit */
    KN_ERR_BAD_UTF8,             /**< text that is not valid UTF-8 */
    KN_ERR_QUEUE_FULL,           /**< a memory or count bound is reached */
    KN_ERR_TIMED_OUT,            /**< an operation or request timed out */
    KN_ERR_TRANSPORT,            /**< connection, DNS, TLS or other network failure */
    KN_ERR_BAD_RESPONSE,         /**< malformed, truncated or oversized server reply */
    KN_ERR_CRC,                  /**< checksum mismatch in received data */
    KN_ERR_NO_CREDENTIALS,       /**< no credential provider produced credentials */
    KN_ERR_NO_REGION,            /**< no region configured or found */
    KN_ERR_RECORD_EXPIRED,       /**< a record reached its TTL undelivered */
    KN_ERR_SHUTDOWN,             /**< the handle is shutting down */
    KN_ERR_LEASE_LOST,           /**< the shard lease moved to another worker */
    KN_ERR_STATE,                /**< the call is not valid in the current state */
    KN_ERR_CANCELLED,            /**< the operation was cancelled */
    KN_ERR_FILE,                 /**< a file could not be read */
    KN_ERR__LIB_END,             /**< not an error: end of library codes */

    KN_OK = 0,

    /* Errors from AWS services, mapped from the JSON "__type". */
    KN_ERR_SERVICE = 1,                    /**< a service error with an unlisted type */
    KN_ERR_RESOURCE_NOT_FOUND,             /**< ResourceNotFoundException */
    KN_ERR_RESOURCE_IN_USE,                /**< ResourceInUseException */
    KN_ERR_LIMIT_EXCEEDED,                 /**< LimitExceededException */
    KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED,/**< ProvisionedThroughputExceededException */
    KN_ERR_THROTTLING,                     /**< ThrottlingException, RequestLimitExceeded, SlowDown */
    KN_ERR_EXPIRED_ITERATOR,               /**< ExpiredIteratorException */
    KN_ERR_INVALID_ARGUMENT,               /**< InvalidArgumentException */
    KN_ERR_VALIDATION,                     /**< ValidationException, SerializationException */
    KN_ERR_ACCESS_DENIED,                  /**< AccessDeniedException */
    KN_ERR_INVALID_SIGNATURE,              /**< InvalidSignatureException, SignatureDoesNotMatch */
    KN_ERR_UNRECOGNIZED_CLIENT,            /**< UnrecognizedClientException, InvalidClientTokenId */
    KN_ERR_EXPIRED_TOKEN,                  /**< ExpiredTokenException */
    KN_ERR_MISSING_AUTH,                   /**< MissingAuthenticationToken, IncompleteSignature */
    KN_ERR_CONDITIONAL_CHECK_FAILED,       /**< ConditionalCheckFailedException */
    KN_ERR_KMS,                            /**< any KMS*Exception */
    KN_ERR_INTERNAL_FAILURE,               /**< InternalFailure, InternalServerError, 500 */
    KN_ERR_SERVICE_UNAVAILABLE,            /**< ServiceUnavailable, 503 */
    KN_ERR_UNKNOWN_OPERATION,              /**< UnknownOperationException */
    KN_ERR__SVC_END                        /**< not an error: end of service codes */
} kn_err_t;

/** Stable identifier of a code, e.g. "KN_ERR_QUEUE_FULL". Never NULL. */
const char *kn_err2name(kn_err_t err);
/** Human-readable description of a code. Never NULL. */
const char *kn_err2str(kn_err_t err);

/**
 * An error object: what went wrong, as precisely as it is known.
 * Objects handed to callbacks are owned by the library and valid only during the
 * callback; use kn_error_copy() to keep one.
 */
typedef struct kn_error_s kn_error_t;

kn_err_t kn_error_code(const kn_error_t *e);
/** The AWS error type (the "__type" suffix, e.g. "ResourceNotFoundException") or NULL. */
const char *kn_error_type(const kn_error_t *e);
/** The message, from the service or the library. Never NULL for a non-NULL error. */
const char *kn_error_message(const kn_error_t *e);
/** The HTTP status of the reply, or 0 when no reply was received. */
int kn_error_http_status(const kn_error_t *e);
/** The x-amzn-RequestId of the reply, or NULL. */
const char *kn_error_request_id(const kn_error_t *e);
/** Nonzero when repeating the same request may succeed (throttling, 5xx, network). */
int kn_error_is_retriable(const kn_error_t *e);
/** Writes "NAME: message (type, HTTP status, request id)" into buf; returns buf. */
const char *kn_error_format(const kn_error_t *e, char *buf, size_t size);
/** Returns a copy the caller owns, or NULL when out of memory. */
kn_error_t *kn_error_copy(const kn_error_t *e);
/** Frees an error the caller owns. Accepts NULL. */
void kn_error_destroy(kn_error_t *e);

/** Log levels, syslog-like: lower is more severe. */
typedef enum {
    KN_LOG_ERROR = 3,
    KN_LOG_WARN = 4,
    KN_LOG_INFO = 6,
    KN_LOG_DEBUG = 7,
    KN_LOG_TRACE = 8
} kn_log_level_t;

/**
 * Log callback. Runs on whichever library or application thread logs, so it must
 * be thread-safe. Messages never contain secret keys, session tokens or
 * Authorization headers.
 */
typedef void (kn_log_fn)(void *opaque, kn_log_level_t level, const char *facility,
                         const char *message);

/** Configuration object: a set of properties, see docs/CONFIGURATION.md. */
typedef struct kn_conf_s kn_conf_t;

/** A configuration with every property at its default. NULL when out of memory. */
kn_conf_t *kn_conf_new(void);
/** A deep copy, or NULL when out of memory. */
kn_conf_t *kn_conf_dup(const kn_conf_t *conf);
/** Accepts NULL. */
void kn_conf_destroy(kn_conf_t *conf);

/**
 * Sets property `name` to `value` (parsed from its string form).
 * Returns KN_OK, KN_ERR_UNKNOWN_PROPERTY or KN_ERR_INVALID_ARG; on error a
 * sentence naming the problem is written to errstr (if not NULL).
 */
kn_err_t kn_conf_set(kn_conf_t *conf, const char *name, const char *value,
                     char *errstr, size_t errstr_size);
/**
 * Writes the current value of `name` as a string into buf. Secrets read back as
 * "[redacted]" when set. Returns KN_OK, KN_ERR_UNKNOWN_PROPERTY or
 * KN_ERR_TOO_LARGE (buf too small).
 */
kn_err_t kn_conf_get(const kn_conf_t *conf, const char *name, char *buf, size_t size);
/** Routes library logs to `fn` (NULL: stderr) for handles created from this conf. */
void kn_conf_set_log_fn(kn_conf_t *conf, kn_log_fn *fn, void *opaque);

/**
 * Prints the property table as Markdown (the body of docs/CONFIGURATION.md) to
 * the given FILE* (passed as void* to keep <stdio.h> out of this header).
 */
void kn_conf_properties_markdown(void *fp);

#ifdef __cplusplus
}
#endif
#endif /* KINESIS_COMMON_H */
