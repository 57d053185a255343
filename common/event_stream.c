/*
 * Event-stream push decoder and encoder. The decoder keeps no per-byte state
 * machine: a message that arrives whole inside one fed chunk is decoded in
 * place, and only a message split across feeds is gathered into the buffer.
 */
#include "event_stream.h"

#include <stdlib.h>
#include <string.h>

#include "crc32.h"

#define BUF_MIN 4096                /* first allocation for a split message */
#define BUF_KEEP (1024 * 1024)      /* larger buffers are freed after use: idle shards hold little */
#define HDRS_MIN 8

struct kn_es_decoder_s {
    kn_es_message_fn *fn;
    void *opaque;
    kn_err_t err; /* sticky */
    uint8_t *buf; /* the split message received so far */
    size_t len, cap;
    size_t total; /* its total length once its prelude is in buf, else 0 */
    kn_es_header_t *hdrs;
    size_t hdr_cap;
};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t be64(const uint8_t *p) {
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint8_t *put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put_be64(uint8_t *p, uint64_t v) {
    return put_be32(put_be32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

/* Checks a prelude's CRC, then its lengths; stores the message length. */
static kn_err_t check_prelude(const uint8_t *p, size_t *total) {
    if (kn_crc32(0, p, 8) != be32(p + 8))
        return KN_ERR_CRC;
    uint32_t t = be32(p), h = be32(p + 4);
    if (t < KN_ES_OVERHEAD || t > KN_ES_MAX_MESSAGE_LEN || h > t - KN_ES_OVERHEAD)
        return KN_ERR_BAD_RESPONSE;
    *total = t;
    return KN_OK;
}

/* Fixed value sizes by type; -1 for the length-prefixed ones, -2 for unknown types. */
static int fixed_value_len(unsigned type) {
    static const int8_t len[] = {0, 0, 1, 2, 4, 8, -1, -1, 8, KN_ES_UUID_LEN};
    return type < sizeof(len) ? len[type] : -2;
}

static kn_err_t parse_headers(kn_es_decoder_t *d, const uint8_t *p, size_t hlen, size_t *count) {
    size_t pos = 0, n = 0;
    while (pos < hlen) {
        if (n == KN_ES_MAX_HEADERS)
            return KN_ERR_BAD_RESPONSE;
        if (n == d->hdr_cap) {
            size_t ncap = d->hdr_cap ? d->hdr_cap * 2 : HDRS_MIN;
            if (ncap > KN_ES_MAX_HEADERS)
                ncap = KN_ES_MAX_HEADERS;
            kn_es_header_t *nh = realloc(d->hdrs, ncap * sizeof(*nh));
            if (!nh)
                return KN_ERR_NOMEM;
            d->hdrs = nh;
            d->hdr_cap = ncap;
        }
        kn_es_header_t *h = &d->hdrs[n];
        size_t name_len = p[pos++];
        /* name plus the type byte must fit */
        if (name_len >= hlen - pos)
            return KN_ERR_BAD_RESPONSE;
        h->name = (const char *)p + pos;
        h->name_len = name_len;
        pos += name_len;
        unsigned type = p[pos++];
        int vlen = fixed_value_len(type);
        if (vlen == -2)
            return KN_ERR_BAD_RESPONSE;
        h->type = (kn_es_type_t)type;
        h->int_value = 0;
        h->value = NULL;
        h->value_len = 0;
        size_t need = vlen == -1 ? 2 : (size_t)vlen;
        if (need > hlen - pos)
            return KN_ERR_BAD_RESPONSE;
        const uint8_t *v = p + pos;
        pos += need;
        switch (h->type) {
        case KN_ES_BOOL_TRUE:
        case KN_ES_BOOL_FALSE:
            h->int_value = h->type == KN_ES_BOOL_TRUE;
            break;
        case KN_ES_BYTE:
            h->int_value = (int8_t)v[0];
            break;
        case KN_ES_INT16:
            h->int_value = (int16_t)be16(v);
            break;
        case KN_ES_INT32:
            h->int_value = (int32_t)be32(v);
            break;
        case KN_ES_INT64:
        case KN_ES_TIMESTAMP:
            h->int_value = (int64_t)be64(v);
            break;
        case KN_ES_UUID:
            h->value = v;
            h->value_len = KN_ES_UUID_LEN;
            break;
        case KN_ES_BYTES:
        case KN_ES_STRING:
            h->value_len = be16(v);
            if (h->value_len > hlen - pos)
                return KN_ERR_BAD_RESPONSE;
            h->value = p + pos;
            pos += h->value_len;
            break;
        }
        n++;
    }
    *count = n;
    return KN_OK;
}

/* Verifies and delivers one complete message of `total` bytes at p. */
static kn_err_t deliver(kn_es_decoder_t *d, const uint8_t *p, size_t total) {
    if (kn_crc32(0, p, total - 4) != be32(p + total - 4))
        return KN_ERR_CRC;
    size_t hlen = be32(p + 4), count;
    kn_err_t err = parse_headers(d, p + KN_ES_PRELUDE_LEN, hlen, &count);
    if (err)
        return err;
    kn_es_message_t m = {
        .headers = d->hdrs,
        .header_count = count,
        .payload = p + KN_ES_PRELUDE_LEN + hlen,
        .payload_len = total - KN_ES_OVERHEAD - hlen,
    };
    return d->fn(d->opaque, &m);
}

kn_es_decoder_t *kn_es_decoder_new(kn_es_message_fn *fn, void *opaque) {
    if (!fn)
        return NULL;
    kn_es_decoder_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->fn = fn;
    d->opaque = opaque;
    return d;
}

void kn_es_decoder_destroy(kn_es_decoder_t *d) {
    if (!d)
        return;
    free(d->buf);
    free(d->hdrs);
    free(d);
}

int kn_es_decoder_has_partial(const kn_es_decoder_t *d) {
    return d && d->len > 0;
}

void kn_es_decoder_reset(kn_es_decoder_t *d) {
    if (!d)
        return;
    d->err = KN_OK;
    d->len = 0;
    d->total = 0;
}

/* Grows buf to hold `need` bytes, doubling but never past `limit` (the message length). */
static kn_err_t buf_reserve(kn_es_decoder_t *d, size_t need, size_t limit) {
    if (need <= d->cap)
        return KN_OK;
    size_t ncap = d->cap ? d->cap * 2 : BUF_MIN;
    if (ncap > limit)
        ncap = limit;
    if (ncap < need)
        ncap = need;
    uint8_t *nb = realloc(d->buf, ncap);
    if (!nb)
        return KN_ERR_NOMEM;
    d->buf = nb;
    d->cap = ncap;
    return KN_OK;
}

/* Appends up to what the current message still needs; returns the bytes taken. */
static kn_err_t buffer_bytes(kn_es_decoder_t *d, const uint8_t *p, size_t len, size_t *taken) {
    size_t limit = d->total ? d->total : KN_ES_PRELUDE_LEN;
    size_t take = limit - d->len < len ? limit - d->len : len;
    kn_err_t err = buf_reserve(d, d->len + take, d->total ? d->total : BUF_MIN);
    if (err)
        return err;
    memcpy(d->buf + d->len, p, take);
    d->len += take;
    *taken = take;
    if (!d->total && d->len == KN_ES_PRELUDE_LEN)
        return check_prelude(d->buf, &d->total);
    return KN_OK;
}

static kn_err_t feed(kn_es_decoder_t *d, const uint8_t *p, size_t len) {
    kn_err_t err;
    while (len) {
        if (!d->len && len >= KN_ES_PRELUDE_LEN) {
            size_t total;
            if ((err = check_prelude(p, &total)))
                return err;
            if (len >= total) { /* whole message in this chunk: no copy */
                if ((err = deliver(d, p, total)))
                    return err;
                p += total;
                len -= total;
                continue;
            }
        }
        size_t taken;
        if ((err = buffer_bytes(d, p, len, &taken)))
            return err;
        p += taken;
        len -= taken;
        if (d->total && d->len == d->total) {
            err = deliver(d, d->buf, d->total);
            d->len = d->total = 0;
            if (d->cap > BUF_KEEP) {
                free(d->buf);
                d->buf = NULL;
                d->cap = 0;
            }
            if (err)
                return err;
        }
    }
    return KN_OK;
}

kn_err_t kn_es_decoder_feed(kn_es_decoder_t *d, const void *data, size_t len) {
    if (!d || (!data && len))
        return KN_ERR_INVALID_ARG;
    if (d->err)
        return d->err;
    d->err = feed(d, data, len);
    return d->err;
}

static int name_is(const kn_es_header_t *h, const char *name, size_t len) {
    return h->name_len == len && (!len || !memcmp(h->name, name, len));
}

const kn_es_header_t *kn_es_message_header(const kn_es_message_t *m, const char *name) {
    if (!m || !name)
        return NULL;
    size_t len = strlen(name);
    for (size_t i = 0; i < m->header_count; i++)
        if (name_is(&m->headers[i], name, len))
            return &m->headers[i];
    return NULL;
}

int kn_es_message_header_string(const kn_es_message_t *m, const char *name, const char **value,
                                size_t *len) {
    const kn_es_header_t *h = kn_es_message_header(m, name);
    if (!h || h->type != KN_ES_STRING)
        return 0;
    if (value)
        *value = (const char *)h->value;
    if (len)
        *len = h->value_len;
    return 1;
}

int kn_es_header_string_is(const kn_es_header_t *h, const char *s) {
    if (!h || !s || h->type != KN_ES_STRING)
        return 0;
    size_t len = strlen(s);
    return h->value_len == len && (!len || !memcmp(h->value, s, len));
}

kn_es_header_t kn_es_header_string(const char *name, const char *value) {
    kn_es_header_t h = {.name = name, .name_len = name ? strlen(name) : 0, .type = KN_ES_STRING};
    h.value = (const uint8_t *)value;
    h.value_len = value ? strlen(value) : 0;
    return h;
}

/* Encoded size of one header (name, type, value) in *size; -1 when the header is invalid. */
static int header_size(const kn_es_header_t *h, size_t *size) {
    if (!h->name || !h->name_len || h->name_len > KN_ES_MAX_HEADER_NAME_LEN)
        return -1;
    int fixed = fixed_value_len((unsigned)h->type);
    size_t vsize;
    if (fixed == -2)
        return -1;
    if (fixed == -1) {
        if (h->value_len > KN_ES_MAX_HEADER_VALUE_LEN || (!h->value && h->value_len))
            return -1;
        vsize = 2 + h->value_len;
    } else {
        if (h->type == KN_ES_UUID && (!h->value || h->value_len != KN_ES_UUID_LEN))
            return -1;
        vsize = (size_t)fixed;
    }
    *size = 2 + h->name_len + vsize;
    return 0;
}

kn_err_t kn_es_encoded_size(const kn_es_header_t *headers, size_t header_count,
                            size_t payload_len, size_t *size) {
    if ((!headers && header_count) || !size || header_count > KN_ES_MAX_HEADERS)
        return KN_ERR_INVALID_ARG;
    size_t total = KN_ES_OVERHEAD;
    for (size_t i = 0; i < header_count; i++) {
        size_t hsize;
        if (header_size(&headers[i], &hsize))
            return KN_ERR_INVALID_ARG;
        total += hsize;
    }
    if (payload_len > KN_ES_MAX_MESSAGE_LEN || total + payload_len > KN_ES_MAX_MESSAGE_LEN)
        return KN_ERR_TOO_LARGE;
    *size = total + payload_len;
    return KN_OK;
}

kn_err_t kn_es_encode(const kn_es_header_t *headers, size_t header_count, const void *payload,
                      size_t payload_len, uint8_t *out, size_t out_size, size_t *out_len) {
    size_t total;
    if ((!payload && payload_len) || !out || !out_len)
        return KN_ERR_INVALID_ARG;
    kn_err_t err = kn_es_encoded_size(headers, header_count, payload_len, &total);
    if (err)
        return err;
    if (out_size < total)
        return KN_ERR_TOO_LARGE;
    uint8_t *p = put_be32(out, (uint32_t)total);
    uint8_t *hlen_at = p;
    p = put_be32(p + 4, 0); /* prelude CRC, filled in below */
    uint8_t *hstart = p;
    for (size_t i = 0; i < header_count; i++) {
        const kn_es_header_t *h = &headers[i];
        *p++ = (uint8_t)h->name_len;
        memcpy(p, h->name, h->name_len);
        p += h->name_len;
        *p++ = (uint8_t)h->type;
        switch (h->type) {
        case KN_ES_BOOL_TRUE:
        case KN_ES_BOOL_FALSE:
            break;
        case KN_ES_BYTE:
            *p++ = (uint8_t)h->int_value;
            break;
        case KN_ES_INT16:
            *p++ = (uint8_t)((uint64_t)h->int_value >> 8);
            *p++ = (uint8_t)h->int_value;
            break;
        case KN_ES_INT32:
            p = put_be32(p, (uint32_t)h->int_value);
            break;
        case KN_ES_INT64:
        case KN_ES_TIMESTAMP:
            p = put_be64(p, (uint64_t)h->int_value);
            break;
        case KN_ES_UUID:
            memcpy(p, h->value, KN_ES_UUID_LEN);
            p += KN_ES_UUID_LEN;
            break;
        case KN_ES_BYTES:
        case KN_ES_STRING:
            *p++ = (uint8_t)(h->value_len >> 8);
            *p++ = (uint8_t)h->value_len;
            if (h->value_len)
                memcpy(p, h->value, h->value_len);
            p += h->value_len;
            break;
        }
    }
    put_be32(hlen_at, (uint32_t)(p - hstart));
    put_be32(hlen_at + 4, kn_crc32(0, out, 8));
    if (payload_len)
        memcpy(p, payload, payload_len);
    p += payload_len;
    put_be32(p, kn_crc32(0, out, (size_t)(p - out)));
    *out_len = total;
    return KN_OK;
}
