/*
 * AWS event-stream messages (application/vnd.amazon.eventstream), the framing
 * of SubscribeToShard responses:
 *
 *   total_len u32 | headers_len u32 | prelude CRC32 (of the first 8 bytes)
 *   headers (headers_len bytes) | payload | message CRC32 (of all preceding bytes)
 *
 * All integers big-endian; CRC32 is the IEEE/zlib CRC. A header is
 * name_len u8 | name | type u8 | value, the value's layout given by the type.
 */
#ifndef KN_EVENT_STREAM_H
#define KN_EVENT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/common.h"

#define KN_ES_PRELUDE_LEN 12
#define KN_ES_OVERHEAD 16                         /* prelude + message CRC */
#define KN_ES_MAX_MESSAGE_LEN (24u * 1024 * 1024) /* aws-c-event-stream: the service-side maximum */
#define KN_ES_MAX_HEADERS 1024                    /* per message, aws-c-event-stream's limit */
#define KN_ES_MAX_HEADER_NAME_LEN 255             /* the u8 length prefix */
#define KN_ES_MAX_HEADER_VALUE_LEN 32767          /* bytes/string values: INT16_MAX, as the Java SDK */
#define KN_ES_UUID_LEN 16

/* Header names of the AWS event-stream RPC convention. */
#define KN_ES_HDR_MESSAGE_TYPE ":message-type"     /* "event", "exception" or "error" */
#define KN_ES_HDR_EVENT_TYPE ":event-type"         /* e.g. "SubscribeToShardEvent" */
#define KN_ES_HDR_EXCEPTION_TYPE ":exception-type" /* e.g. "ResourceNotFoundException" */
#define KN_ES_HDR_CONTENT_TYPE ":content-type"
#define KN_ES_HDR_ERROR_CODE ":error-code"
#define KN_ES_HDR_ERROR_MESSAGE ":error-message"

/** Header value types (the type byte on the wire). */
typedef enum {
    KN_ES_BOOL_TRUE = 0,  /* no value bytes */
    KN_ES_BOOL_FALSE = 1, /* no value bytes */
    KN_ES_BYTE = 2,       /* int8 */
    KN_ES_INT16 = 3,
    KN_ES_INT32 = 4,
    KN_ES_INT64 = 5,
    KN_ES_BYTES = 6,     /* u16 length + bytes */
    KN_ES_STRING = 7,    /* u16 length + UTF-8 */
    KN_ES_TIMESTAMP = 8, /* int64 milliseconds since the epoch */
    KN_ES_UUID = 9       /* 16 bytes */
} kn_es_type_t;

/**
 * One header. Decoded headers are views into the message bytes, valid only
 * during the message callback. Integer-like types (booleans as 1/0, byte,
 * int16/32/64, timestamp) use int_value; bytes, string and UUID use value and
 * value_len. The encoder reads the same fields.
 */
typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    kn_es_type_t type;
    int64_t int_value;
    const uint8_t *value;
    size_t value_len;
} kn_es_header_t;

/** A complete, CRC-checked message. Views valid only during the callback. */
typedef struct {
    const kn_es_header_t *headers;
    size_t header_count;
    const uint8_t *payload;
    size_t payload_len;
} kn_es_message_t;

/**
 * Receives each decoded message. Returning anything but KN_OK stops decoding:
 * kn_es_decoder_feed() returns that code, and keeps returning it (sticky).
 * The callback must not feed, reset or destroy its own decoder.
 */
typedef kn_err_t (kn_es_message_fn)(void *opaque, const kn_es_message_t *msg);

/** Push decoder: bytes go in with any chunking, messages come out through the callback. */
typedef struct kn_es_decoder_s kn_es_decoder_t;

/** A decoder calling fn(opaque, msg) per message, or NULL (fn NULL, out of memory). */
kn_es_decoder_t *kn_es_decoder_new(kn_es_message_fn *fn, void *opaque);

/** Accepts NULL. */
void kn_es_decoder_destroy(kn_es_decoder_t *d);

/**
 * Feeds len bytes. Every message completed by them is delivered before the call
 * returns; a message lying entirely inside data is delivered without copying,
 * only a message split across calls is buffered. The prelude CRC is checked
 * before its lengths are used, lengths are checked against the limits above
 * before any memory is set aside, and buffering grows only with bytes actually
 * received. Returns KN_OK; KN_ERR_CRC (prelude or message CRC mismatch);
 * KN_ERR_BAD_RESPONSE (length out of range, malformed or too many headers,
 * unknown header type); KN_ERR_NOMEM; the callback's error; or KN_ERR_INVALID_ARG.
 * Errors are sticky: once one occurred, every later feed returns it.
 */
kn_err_t kn_es_decoder_feed(kn_es_decoder_t *d, const void *data, size_t len);

/**
 * Nonzero when the decoder holds the start of a message that has not completed:
 * when the stream ends in that state it was truncated.
 */
int kn_es_decoder_has_partial(const kn_es_decoder_t *d);

/** Drops any partial message and the sticky error (for a new stream); keeps buffers. */
void kn_es_decoder_reset(kn_es_decoder_t *d);

/** The first header called name (NUL-terminated), or NULL. */
const kn_es_header_t *kn_es_message_header(const kn_es_message_t *m, const char *name);

/**
 * Finds the string header `name`: nonzero with *value and *len set (not
 * NUL-terminated) when it exists and has type KN_ES_STRING, else 0.
 */
int kn_es_message_header_string(const kn_es_message_t *m, const char *name, const char **value,
                                size_t *len);

/** Nonzero when header h is a string equal to the NUL-terminated s. */
int kn_es_header_string_is(const kn_es_header_t *h, const char *s);

/** A string header for the encoder; name and value are NUL-terminated and must outlive its use. */
kn_es_header_t kn_es_header_string(const char *name, const char *value);

/**
 * Size of the encoded message in *size. Returns KN_OK, KN_ERR_INVALID_ARG
 * (a header with an empty or too long name, an unknown type, a value longer
 * than KN_ES_MAX_HEADER_VALUE_LEN, a UUID not of 16 bytes, more than
 * KN_ES_MAX_HEADERS headers) or KN_ERR_TOO_LARGE (above KN_ES_MAX_MESSAGE_LEN).
 */
kn_err_t kn_es_encoded_size(const kn_es_header_t *headers, size_t header_count,
                            size_t payload_len, size_t *size);

/**
 * Encodes one message into out (kn_es_encoded_size() bytes needed) and stores
 * its length in *out_len. payload may be NULL when payload_len is 0. Returns
 * the errors of kn_es_encoded_size(), or KN_ERR_TOO_LARGE when out_size is too
 * small (nothing written).
 */
kn_err_t kn_es_encode(const kn_es_header_t *headers, size_t header_count, const void *payload,
                      size_t payload_len, uint8_t *out, size_t out_size, size_t *out_len);

#endif
