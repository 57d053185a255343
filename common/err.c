/* Error codes, their names, and error objects. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const struct {
    kn_err_t code;
    const char *name;
    const char *desc;
} err_table[] = {
    {KN_ERR_INVALID_ARG, "KN_ERR_INVALID_ARG", "Invalid argument"},
    {KN_ERR_NOMEM, "KN_ERR_NOMEM", "Out of memory"},
    {KN_ERR_UNKNOWN_PROPERTY, "KN_ERR_UNKNOWN_PROPERTY", "Unknown configuration property"},
    {KN_ERR_TOO_LARGE, "KN_ERR_TOO_LARGE", "Input exceeds its size limit"},
    {KN_ERR_BAD_UTF8, "KN_ERR_BAD_UTF8", "Text is not valid UTF-8"},
    {KN_ERR_QUEUE_FULL, "KN_ERR_QUEUE_FULL", "Queue or memory bound reached"},
    {KN_ERR_TIMED_OUT, "KN_ERR_TIMED_OUT", "Timed out"},
    {KN_ERR_TRANSPORT, "KN_ERR_TRANSPORT", "Network or connection failure"},
    {KN_ERR_BAD_RESPONSE, "KN_ERR_BAD_RESPONSE", "Malformed or unexpected server reply"},
    {KN_ERR_CRC, "KN_ERR_CRC", "Checksum mismatch"},
    {KN_ERR_NO_CREDENTIALS, "KN_ERR_NO_CREDENTIALS", "No AWS credentials found"},
    {KN_ERR_NO_REGION, "KN_ERR_NO_REGION", "No AWS region configured"},
    {KN_ERR_RECORD_EXPIRED, "KN_ERR_RECORD_EXPIRED", "Record reached its TTL before delivery"},
    {KN_ERR_SHUTDOWN, "KN_ERR_SHUTDOWN", "Handle is shutting down"},
    {KN_ERR_LEASE_LOST, "KN_ERR_LEASE_LOST", "Shard lease was lost"},
    {KN_ERR_STATE, "KN_ERR_STATE", "Operation not valid in current state"},
    {KN_ERR_CANCELLED, "KN_ERR_CANCELLED", "Operation cancelled"},
    {KN_ERR_FILE, "KN_ERR_FILE", "File could not be read"},
    {KN_OK, "KN_OK", "Success"},
    {KN_ERR_SERVICE, "KN_ERR_SERVICE", "Service error"},
    {KN_ERR_RESOURCE_NOT_FOUND, "KN_ERR_RESOURCE_NOT_FOUND", "Resource not found"},
    {KN_ERR_RESOURCE_IN_USE, "KN_ERR_RESOURCE_IN_USE", "Resource in use"},
    {KN_ERR_LIMIT_EXCEEDED, "KN_ERR_LIMIT_EXCEEDED", "Limit exceeded"},
    {KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED, "KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED",
     "Provisioned throughput exceeded"},
    {KN_ERR_THROTTLING, "KN_ERR_THROTTLING", "Request throttled"},
    {KN_ERR_EXPIRED_ITERATOR, "KN_ERR_EXPIRED_ITERATOR", "Shard iterator expired"},
    {KN_ERR_INVALID_ARGUMENT, "KN_ERR_INVALID_ARGUMENT", "Service rejected an argument"},
    {KN_ERR_VALIDATION, "KN_ERR_VALIDATION", "Request failed service validation"},
    {KN_ERR_ACCESS_DENIED, "KN_ERR_ACCESS_DENIED", "Access denied"},
    {KN_ERR_INVALID_SIGNATURE, "KN_ERR_INVALID_SIGNATURE", "Request signature does not match"},
    {KN_ERR_UNRECOGNIZED_CLIENT, "KN_ERR_UNRECOGNIZED_CLIENT", "Access key not recognized"},
    {KN_ERR_EXPIRED_TOKEN, "KN_ERR_EXPIRED_TOKEN", "Security token expired"},
    {KN_ERR_MISSING_AUTH, "KN_ERR_MISSING_AUTH", "Missing or incomplete authentication"},
    {KN_ERR_CONDITIONAL_CHECK_FAILED, "KN_ERR_CONDITIONAL_CHECK_FAILED",
     "Conditional check failed"},
    {KN_ERR_KMS, "KN_ERR_KMS", "KMS error"},
    {KN_ERR_INTERNAL_FAILURE, "KN_ERR_INTERNAL_FAILURE", "Internal service failure"},
    {KN_ERR_SERVICE_UNAVAILABLE, "KN_ERR_SERVICE_UNAVAILABLE", "Service unavailable"},
    {KN_ERR_UNKNOWN_OPERATION, "KN_ERR_UNKNOWN_OPERATION", "Unknown operation"},
};

static int err_index(kn_err_t code) {
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].code == code)
            return (int)i;
    return -1;
}

const char *kn_err2name(kn_err_t err) {
    int i = err_index(err);
    return i < 0 ? "KN_ERR_UNKNOWN" : err_table[i].name;
}

const char *kn_err2str(kn_err_t err) {
    int i = err_index(err);
    return i < 0 ? "Unknown error code" : err_table[i].desc;
}

/* AWS "__type" short names. Both services share most; DynamoDB adds its own. */
static const struct {
    const char *type;
    kn_err_t code;
} aws_types[] = {
    {"ResourceNotFoundException", KN_ERR_RESOURCE_NOT_FOUND},
    {"ResourceInUseException", KN_ERR_RESOURCE_IN_USE},
    {"LimitExceededException", KN_ERR_LIMIT_EXCEEDED},
    {"ProvisionedThroughputExceededException", KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED},
    {"ThrottlingException", KN_ERR_THROTTLING},
    {"Throttling", KN_ERR_THROTTLING},
    {"RequestLimitExceeded", KN_ERR_THROTTLING},
    {"TooManyRequestsException", KN_ERR_THROTTLING},
    {"SlowDown", KN_ERR_THROTTLING},
    {"ExpiredIteratorException", KN_ERR_EXPIRED_ITERATOR},
    {"InvalidArgumentException", KN_ERR_INVALID_ARGUMENT},
    {"ValidationException", KN_ERR_VALIDATION},
    {"SerializationException", KN_ERR_VALIDATION},
    {"AccessDeniedException", KN_ERR_ACCESS_DENIED},
    {"AccessDenied", KN_ERR_ACCESS_DENIED},
    {"InvalidSignatureException", KN_ERR_INVALID_SIGNATURE},
    {"SignatureDoesNotMatch", KN_ERR_INVALID_SIGNATURE},
    {"UnrecognizedClientException", KN_ERR_UNRECOGNIZED_CLIENT},
    {"InvalidClientTokenId", KN_ERR_UNRECOGNIZED_CLIENT},
    {"ExpiredTokenException", KN_ERR_EXPIRED_TOKEN},
    {"ExpiredToken", KN_ERR_EXPIRED_TOKEN},
    {"MissingAuthenticationTokenException", KN_ERR_MISSING_AUTH},
    {"MissingAuthenticationToken", KN_ERR_MISSING_AUTH},
    {"IncompleteSignatureException", KN_ERR_MISSING_AUTH},
    {"IncompleteSignature", KN_ERR_MISSING_AUTH},
    {"ConditionalCheckFailedException", KN_ERR_CONDITIONAL_CHECK_FAILED},
    {"KMSDisabledException", KN_ERR_KMS},
    {"KMSInvalidStateException", KN_ERR_KMS},
    {"KMSAccessDeniedException", KN_ERR_KMS},
    {"KMSNotFoundException", KN_ERR_KMS},
    {"KMSOptInRequired", KN_ERR_KMS},
    {"KMSThrottlingException", KN_ERR_KMS},
    {"InternalFailure", KN_ERR_INTERNAL_FAILURE},
    {"InternalFailureException", KN_ERR_INTERNAL_FAILURE},
    {"InternalServerError", KN_ERR_INTERNAL_FAILURE},
    {"InternalServerErrorException", KN_ERR_INTERNAL_FAILURE},
    {"ServiceUnavailable", KN_ERR_SERVICE_UNAVAILABLE},
    {"ServiceUnavailableException", KN_ERR_SERVICE_UNAVAILABLE},
    {"UnknownOperationException", KN_ERR_UNKNOWN_OPERATION},
};

/* "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" and
 * "Foo:http://internal..." both reduce to the bare exception name. */
static size_t aws_type_short(const char *type, const char **start) {
    const char *hash = strrchr(type, '#');
    const char *s = hash ? hash + 1 : type;
    *start = s;
    return strcspn(s, ":");
}

kn_err_t kn_err_from_aws_type(const char *type) {
    if (!type)
        return KN_ERR_SERVICE;
    const char *s;
    size_t n = aws_type_short(type, &s);
    for (size_t i = 0; i < sizeof(aws_types) / sizeof(aws_types[0]); i++)
        if (strlen(aws_types[i].type) == n && !strncmp(aws_types[i].type, s, n))
            return aws_types[i].code;
    if (n > 3 && !strncmp(s, "KMS", 3))
        return KN_ERR_KMS;
    return KN_ERR_SERVICE;
}

int kn_err_is_retriable(kn_err_t code) {
    switch (code) {
    case KN_ERR_TIMED_OUT:
    case KN_ERR_TRANSPORT:
    case KN_ERR_LIMIT_EXCEEDED:
    case KN_ERR_PROVISIONED_THROUGHPUT_EXCEEDED:
    case KN_ERR_THROTTLING:
    case KN_ERR_INTERNAL_FAILURE:
    case KN_ERR_SERVICE_UNAVAILABLE:
    case KN_ERR_EXPIRED_TOKEN: /* retried after the credentials refresh */
        return 1;
    default:
        return 0;
    }
}

static kn_error_t *error_alloc(kn_err_t code, char *message) {
    kn_error_t *e = calloc(1, sizeof(*e));
    if (!e || !message) {
        free(e);
        free(message);
        return NULL;
    }
    e->code = code;
    e->message = message;
    e->retriable = kn_err_is_retriable(code);
    return e;
}

kn_error_t *kn_error_new(kn_err_t code, const char *fmt, ...) {
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    return error_alloc(code, msg);
}

kn_error_t *kn_error_from_service(int http_status, const char *type, const char *message,
                                  const char *request_id) {
    kn_err_t code = kn_err_from_aws_type(type);
    if (code == KN_ERR_SERVICE) {
        if (http_status == 503)
            code = KN_ERR_SERVICE_UNAVAILABLE;
        else if (http_status >= 500)
            code = KN_ERR_INTERNAL_FAILURE;
        else if (http_status == 429)
            code = KN_ERR_THROTTLING;
    }
    const char *text = message && *message ? message : (type ? type : "no message in reply");
    kn_error_t *e = error_alloc(code, strdup(text));
    if (!e)
        return NULL;
    e->http_status = http_status;
    if (type) {
        const char *s;
        size_t n = aws_type_short(type, &s);
        e->type = strndup(s, n);
    }
    if (request_id && *request_id)
        e->request_id = strdup(request_id);
    /* An unlisted 5xx is still worth retrying. */
    if (http_status >= 500)
        e->retriable = 1;
    return e;
}

kn_err_t kn_error_code(const kn_error_t *e) { return e ? e->code : KN_OK; }
const char *kn_error_type(const kn_error_t *e) { return e ? e->type : NULL; }
const char *kn_error_message(const kn_error_t *e) { return e ? e->message : ""; }
int kn_error_http_status(const kn_error_t *e) { return e ? e->http_status : 0; }
const char *kn_error_request_id(const kn_error_t *e) { return e ? e->request_id : NULL; }
int kn_error_is_retriable(const kn_error_t *e) { return e ? e->retriable : 0; }

const char *kn_error_format(const kn_error_t *e, char *buf, size_t size) {
    if (!buf || !size)
        return buf;
    if (!e) {
        snprintf(buf, size, "KN_OK");
        return buf;
    }
    int n = snprintf(buf, size, "%s: %s", kn_err2name(e->code), e->message);
    if (n >= 0 && (size_t)n < size && (e->type || e->http_status || e->request_id)) {
        snprintf(buf + n, size - (size_t)n, " (%s%sHTTP %d%s%s)", e->type ? e->type : "",
                 e->type ? ", " : "", e->http_status, e->request_id ? ", request id " : "",
                 e->request_id ? e->request_id : "");
    }
    return buf;
}

kn_error_t *kn_error_copy(const kn_error_t *e) {
    if (!e)
        return NULL;
    kn_error_t *c = error_alloc(e->code, strdup(e->message));
    if (!c)
        return NULL;
    c->http_status = e->http_status;
    c->retriable = e->retriable;
    c->type = e->type ? strdup(e->type) : NULL;
    c->request_id = e->request_id ? strdup(e->request_id) : NULL;
    if ((e->type && !c->type) || (e->request_id && !c->request_id)) {
        kn_error_destroy(c);
        return NULL;
    }
    return c;
}

void kn_error_destroy(kn_error_t *e) {
    if (!e)
        return;
    free(e->type);
    free(e->message);
    free(e->request_id);
    free(e);
}
