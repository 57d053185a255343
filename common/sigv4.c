/*
 * AWS Signature Version 4: canonical request, string to sign, signing key and
 * signature, as specified in the SigV4 documentation and its public test suite.
 * This file must never log: everything it touches is either secret or signed.
 */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SCOPE_TERMINATOR "aws4_request"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define HEX_SHA256_LEN (2 * SHA256_DIGEST_LENGTH)
#define AMZ_DATE_LEN 16
#define SCOPE_DATE_LEN 8
/* Percent-encoding turns one byte into at most three ("%XX"). */
#define PCT_MAX_EXPANSION 3
/* Room for the synthetic x-amz-date and x-amz-security-token entries. */
#define EXTRA_HEADERS 2
/* Initial canonical-request capacity beyond the sizes known up front. */
#define CREQ_SLACK 256

static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char HEX_LOWER[] = "0123456789abcdef";

/* ---------- a growable string whose first failure sticks ---------- */

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} sbuf_t;

static int sb_reserve(sbuf_t *b, size_t more) {
    if (b->failed)
        return 0;
    if (b->len + more + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void sb_add(sbuf_t *b, const char *s, size_t n) {
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_adds(sbuf_t *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_addc(sbuf_t *b, char c) { sb_add(b, &c, 1); }

/* ---------- character classes ---------- */

static int is_alnum(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 3986 unreserved: the only bytes SigV4 leaves unencoded. */
static int is_unreserved(unsigned char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token characters (header names, methods). */
static int is_tchar(unsigned char c) {
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

static unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int hex_val(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void to_hex(const uint8_t *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX_LOWER[in[i] >> 4];
        out[2 * i + 1] = HEX_LOWER[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* Writes the encoding of byte c into out; returns the bytes written (1 or 3). */
static size_t pct_encode_byte(unsigned char c, int keep_slash, char *out) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = '%';
    out[1] = HEX_UPPER[c >> 4];
    out[2] = HEX_UPPER[c & 0xf];
    return 3;
}

static void sb_add_encoded(sbuf_t *b, const char *s, size_t n, int keep_slash) {
    if (!sb_reserve(b, n * PCT_MAX_EXPANSION))
        return;
    for (size_t i = 0; i < n; i++)
        b->len += pct_encode_byte((unsigned char)s[i], keep_slash, b->p + b->len);
    b->p[b->len] = '\0';
}

/* ---------- input validation ---------- */

static int valid_len(const char *s, size_t max) {
    return s && *s && strnlen(s, max + 1) <= max;
}

/* Region and service go into the credential scope, between slashes. */
static int valid_scope_part(const char *s) {
    if (!valid_len(s, KN_SIGV4_MAX_SCOPE_PART))
        return 0;
    for (; *s; s++)
        if (!is_alnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static int valid_token(const char *s, size_t max) {
    if (!valid_len(s, max))
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* Field values: no control characters but HTAB (a CR or LF would split the header). */
static int valid_field_value(const char *s) {
    if (!s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* The access key id appears in "Credential=AKID/scope, ": no separators in it. */
static int valid_access_key(const char *s) {
    if (!valid_len(s, KN_SIGV4_MAX_ACCESS_KEY))
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == '/' || c == ',')
            return 0;
    }
    return 1;
}

static int valid_payload_hash(const char *s) {
    if (!strcmp(s, UNSIGNED_PAYLOAD))
        return 1;
    if (strlen(s) != HEX_SHA256_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int name_is(const char *name, const char *lname) {
    for (; *name && *lname; name++, lname++)
        if (lower((unsigned char)*name) != (unsigned char)*lname)
            return 0;
    return *name == *lname;
}

/* ---------- time ---------- */

/* "YYYYMMDDTHHMMSSZ" after trimming optional whitespace; 0 on a malformed value. */
static int parse_amz_date(const char *v, char out[AMZ_DATE_LEN + 1]) {
    while (is_ows((unsigned char)*v))
        v++;
    size_t n = strlen(v);
    while (n && is_ows((unsigned char)v[n - 1]))
        n--;
    if (n != AMZ_DATE_LEN || v[8] != 'T' || v[15] != 'Z')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (i != 8 && i != 15 && !(v[i] >= '0' && v[i] <= '9'))
            return 0;
    memcpy(out, v, AMZ_DATE_LEN);
    out[AMZ_DATE_LEN] = '\0';
    return 1;
}

static int format_amz_date(time_t when, char out[AMZ_DATE_LEN + 1]) {
    struct tm tm;
    if (!gmtime_r(&when, &tm) || tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
        return 0;
    return strftime(out, AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) == AMZ_DATE_LEN;
}

/* ---------- canonical URI ---------- */

/*
 * Non-S3 services: RFC 3986 dot-segment removal plus dropping empty segments,
 * then each segment encoded. A trailing slash, or a final "." or "..", leaves
 * a trailing slash (RFC 3986 5.2.4).
 */
static void add_canonical_path(sbuf_t *b, const char *path, int keep_path) {
    if (!path || !*path)
        path = "/";
    size_t plen = strlen(path);
    if (keep_path) {
        sb_add_encoded(b, path, plen, 1);
        return;
    }
    size_t base = b->len;
    int trailing = path[plen - 1] == '/';
    const char *s = path;
    for (;;) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 1 && s[0] == '.') {
            trailing = 1;
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            /* encoded segments hold no '/', so the last one starts at the last '/' */
            while (!b->failed && b->len > base && b->p[--b->len] != '/')
                ;
            trailing = 1;
        } else {
            sb_addc(b, '/');
            sb_add_encoded(b, s, n, 0);
            trailing = e != NULL;
        }
        s += n;
    }
    if (b->len == base || trailing)
        sb_addc(b, '/');
}

/* ---------- canonical query ---------- */

typedef struct {
    const char *key;
    const char *value;
} qpair_t;

static int qpair_cmp(const void *a, const void *b) {
    const qpair_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* Decodes s[0..n) (lenient about stray '%') and re-encodes it into *out; returns the start. */
static const char *recode(const char *s, size_t n, char **out) {
    char *start = *out, *o = *out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = hex_val((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_val((unsigned char)s[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        o += pct_encode_byte(c, 0, o);
    }
    *o++ = '\0';
    *out = o;
    return start;
}

static kn_err_t add_canonical_query(sbuf_t *b, const char *query) {
    if (!query || !*query)
        return KN_OK;
    size_t qlen = strlen(query), npairs = 1;
    for (const char *p = query; *p; p++)
        npairs += *p == '&';
    qpair_t *pairs = malloc(npairs * sizeof(*pairs));
    /* every input byte expands to at most 3, plus two terminators per pair */
    char *arena = malloc(qlen * PCT_MAX_EXPANSION + 2 * npairs);
    if (!pairs || !arena) {
        free(pairs);
        free(arena);
        return KN_ERR_NOMEM;
    }
    size_t n = 0;
    char *o = arena;
    const char *s = query;
    while (*s) {
        size_t len = strcspn(s, "&");
        if (len) {
            const char *eq = memchr(s, '=', len);
            size_t klen = eq ? (size_t)(eq - s) : len;
            pairs[n].key = recode(s, klen, &o);
            pairs[n].value = eq ? recode(eq + 1, len - klen - 1, &o) : recode("", 0, &o);
            n++;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    qsort(pairs, n, sizeof(*pairs), qpair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_addc(b, '&');
        sb_adds(b, pairs[i].key);
        sb_addc(b, '=');
        sb_adds(b, pairs[i].value);
    }
    free(pairs);
    free(arena);
    return KN_OK;
}

/* ---------- canonical headers ---------- */

typedef struct {
    const char *name;
    const char *value;
    size_t order; /* wire position, so repeated names keep their order */
} hdr_t;

static int hdr_name_cmp(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned char x = lower((unsigned char)*a), y = lower((unsigned char)*b);
        if (x != y || !x)
            return (int)x - (int)y;
    }
}

static int hdr_cmp(const void *a, const void *b) {
    const hdr_t *x = a, *y = b;
    int c = hdr_name_cmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Trimall: strip leading/trailing whitespace, collapse inner runs to one space. */
static void sb_add_trimmed(sbuf_t *b, const char *v) {
    int pending_space = 0;
    while (is_ows((unsigned char)*v))
        v++;
    for (; *v; v++) {
        if (is_ows((unsigned char)*v)) {
            pending_space = 1;
            continue;
        }
        if (pending_space)
            sb_addc(b, ' ');
        pending_space = 0;
        sb_addc(b, *v);
    }
}

static void sb_add_lower(sbuf_t *b, const char *s) {
    for (; *s; s++)
        sb_addc(b, (char)lower((unsigned char)*s));
}

/*
 * Appends "name:v1,v2\n" lines then "\n" and the signed-header list; returns the
 * offset of that list in b (its end is b->len).
 */
static size_t add_canonical_headers(sbuf_t *b, const hdr_t *h, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int same = i && !hdr_name_cmp(h[i - 1].name, h[i].name);
        if (same) {
            sb_addc(b, ',');
        } else {
            if (i)
                sb_addc(b, '\n');
            sb_add_lower(b, h[i].name);
            sb_addc(b, ':');
        }
        sb_add_trimmed(b, h[i].value);
    }
    sb_adds(b, "\n\n");
    size_t off = b->len;
    for (size_t i = 0; i < n; i++) {
        if (i && !hdr_name_cmp(h[i - 1].name, h[i].name))
            continue;
        if (i)
            sb_addc(b, ';');
        sb_add_lower(b, h[i].name);
    }
    return off;
}

/*
 * Copies the signable headers into hv (Authorization dropped), checks them,
 * finds X-Amz-Date and whether a security token header is present.
 * Returns the count, or (size_t)-1 on invalid input.
 */
static size_t collect_headers(const kn_sigv4_request_t *req, hdr_t *hv, const char **amz_date,
                              int *has_token) {
    size_t n = 0, hosts = 0, dates = 0;
    *amz_date = NULL;
    *has_token = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const kn_header_t *h = &req->headers[i];
        if (!valid_token(h->name, KN_SIGV4_MAX_HEADER_NAME) || !valid_field_value(h->value))
            return (size_t)-1;
        if (name_is(h->name, "authorization"))
            continue;
        if (name_is(h->name, "host"))
            hosts++;
        if (name_is(h->name, "x-amz-date")) {
            dates++;
            *amz_date = h->value;
        }
        if (name_is(h->name, "x-amz-security-token"))
            *has_token = 1;
        hv[n].name = h->name;
        hv[n].value = h->value;
        hv[n].order = n;
        n++;
    }
    /* one Host to sign; two X-Amz-Date values would make the time ambiguous */
    if (hosts == 0 || dates > 1)
        return (size_t)-1;
    return n;
}

/* ---------- keys and signature ---------- */

static int hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                       uint8_t out[SHA256_DIGEST_LENGTH]) {
    unsigned int olen = 0;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) && olen == SHA256_DIGEST_LENGTH;
}

static int derive_signing_key(const char *secret, const char *date, const char *region,
                              const char *service, uint8_t key[SHA256_DIGEST_LENGTH]) {
    char kbuf[4 + KN_SIGV4_MAX_SECRET];
    uint8_t k1[SHA256_DIGEST_LENGTH], k2[SHA256_DIGEST_LENGTH];
    size_t slen = strlen(secret);
    memcpy(kbuf, "AWS4", 4);
    memcpy(kbuf + 4, secret, slen);
    int ok = hmac_sha256(kbuf, 4 + slen, date, SCOPE_DATE_LEN, k1) &&
             hmac_sha256(k1, sizeof(k1), region, strlen(region), k2) &&
             hmac_sha256(k2, sizeof(k2), service, strlen(service), k1) &&
             hmac_sha256(k1, sizeof(k1), SCOPE_TERMINATOR, strlen(SCOPE_TERMINATOR), key);
    OPENSSL_cleanse(kbuf, sizeof(kbuf));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    return ok;
}

static int signing_key(const char *secret, const char *date, const char *region,
                       const char *service, kn_sigv4_key_cache_t *cache,
                       uint8_t key[SHA256_DIGEST_LENGTH]) {
    if (!cache)
        return derive_signing_key(secret, date, region, service, key);
    uint8_t digest[SHA256_DIGEST_LENGTH];
    if (!SHA256((const unsigned char *)secret, strlen(secret), digest))
        return 0;
    if (cache->valid && !CRYPTO_memcmp(digest, cache->secret_digest, sizeof(digest)) &&
        !memcmp(cache->date, date, SCOPE_DATE_LEN) && !strcmp(cache->region, region) &&
        !strcmp(cache->service, service)) {
        memcpy(key, cache->key, SHA256_DIGEST_LENGTH);
        return 1;
    }
    kn_sigv4_key_cache_clear(cache);
    if (!derive_signing_key(secret, date, region, service, key))
        return 0;
    memcpy(cache->key, key, SHA256_DIGEST_LENGTH);
    memcpy(cache->secret_digest, digest, sizeof(digest));
    memcpy(cache->date, date, SCOPE_DATE_LEN);
    cache->date[SCOPE_DATE_LEN] = '\0';
    strcpy(cache->region, region);   /* lengths checked by valid_scope_part */
    strcpy(cache->service, service);
    cache->valid = 1;
    return 1;
}

static int valid_request(const kn_sigv4_request_t *req, const kn_credentials_t *creds) {
    return valid_token(req->method, KN_SIGV4_MAX_METHOD) && valid_scope_part(req->service) &&
           valid_scope_part(req->region) && (!req->path || !*req->path || req->path[0] == '/') &&
           (req->nheaders == 0 || req->headers) && req->nheaders <= KN_SIGV4_MAX_HEADERS &&
           (req->body_len == 0 || req->body || req->payload_hash) &&
           (!req->payload_hash || valid_payload_hash(req->payload_hash)) &&
           valid_access_key(creds->access_key_id) &&
           valid_len(creds->secret_access_key, KN_SIGV4_MAX_SECRET) &&
           (!creds->session_token || valid_field_value(creds->session_token));
}

/* Appends "\n" and the hex SHA-256 of the payload (or the caller's precomputed hash). */
static int add_payload_hash(sbuf_t *b, const kn_sigv4_request_t *req) {
    sb_addc(b, '\n');
    if (req->payload_hash) {
        sb_adds(b, req->payload_hash);
        return 1;
    }
    uint8_t md[SHA256_DIGEST_LENGTH];
    char hex[HEX_SHA256_LEN + 1];
    static const uint8_t empty = 0;
    if (!SHA256(req->body_len ? req->body : &empty, req->body_len, md))
        return 0;
    to_hex(md, sizeof(md), hex);
    sb_add(b, hex, HEX_SHA256_LEN);
    return 1;
}

/*
 * Builds the canonical request into *creq and sets out->amz_date; *sh_off and *sh_end
 * delimit the signed-header list inside it.
 */
static kn_err_t build_canonical_request(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                                        hdr_t *hv, kn_sigv4_result_t *out, sbuf_t *creq,
                                        size_t *sh_off, size_t *sh_end) {
    const char *date_hdr;
    int has_token;
    size_t n = collect_headers(req, hv, &date_hdr, &has_token);
    if (n == (size_t)-1)
        return KN_ERR_INVALID_ARG;
    if (date_hdr ? !parse_amz_date(date_hdr, out->amz_date) : !format_amz_date(req->when, out->amz_date))
        return KN_ERR_INVALID_ARG;
    if (!date_hdr) {
        hv[n] = (hdr_t){"x-amz-date", out->amz_date, n};
        n++;
    }
    if (creds->session_token && *creds->session_token && !has_token) {
        hv[n] = (hdr_t){"x-amz-security-token", creds->session_token, n};
        n++;
    }
    qsort(hv, n, sizeof(*hv), hdr_cmp);

    sb_reserve(creq, (req->path ? strlen(req->path) * PCT_MAX_EXPANSION : 1) + CREQ_SLACK);
    sb_adds(creq, req->method);
    sb_addc(creq, '\n');
    add_canonical_path(creq, req->path, req->keep_path);
    sb_addc(creq, '\n');
    if (add_canonical_query(creq, req->query) != KN_OK)
        return KN_ERR_NOMEM;
    sb_addc(creq, '\n');
    *sh_off = add_canonical_headers(creq, hv, n);
    *sh_end = creq->len;
    if (!add_payload_hash(creq, req) || creq->failed)
        return KN_ERR_NOMEM;
    return KN_OK;
}

/* String to sign and signature from the canonical request; fills the rest of *out. */
static kn_err_t sign_canonical_request(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                                       kn_sigv4_key_cache_t *cache, const sbuf_t *creq,
                                       const char *signed_headers, int sh_len,
                                       kn_sigv4_result_t *out, int want_intermediates) {
    char creq_hex[HEX_SHA256_LEN + 1], scope[SCOPE_DATE_LEN + 2 * KN_SIGV4_MAX_SCOPE_PART + 16];
    char sts[sizeof(ALGORITHM) + AMZ_DATE_LEN + sizeof(scope) + HEX_SHA256_LEN + 4];
    uint8_t key[SHA256_DIGEST_LENGTH], md[SHA256_DIGEST_LENGTH];
    if (!SHA256((const unsigned char *)creq->p, creq->len, md))
        return KN_ERR_NOMEM;
    to_hex(md, sizeof(md), creq_hex);
    snprintf(scope, sizeof(scope), "%.8s/%s/%s/" SCOPE_TERMINATOR, out->amz_date, req->region,
             req->service);
    int sts_len = snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s\n%s", out->amz_date, scope, creq_hex);
    int ok = signing_key(creds->secret_access_key, out->amz_date, req->region, req->service, cache, key) &&
             hmac_sha256(key, sizeof(key), sts, (size_t)sts_len, md);
    OPENSSL_cleanse(key, sizeof(key));
    if (!ok)
        return KN_ERR_NOMEM;
    to_hex(md, sizeof(md), out->signature);

    size_t auth_len = sizeof(ALGORITHM " Credential=/, SignedHeaders=, Signature=") +
                      strlen(creds->access_key_id) + strlen(scope) + (size_t)sh_len + HEX_SHA256_LEN;
    out->authorization = malloc(auth_len);
    if (!out->authorization)
        return KN_ERR_NOMEM;
    snprintf(out->authorization, auth_len, ALGORITHM " Credential=%s/%s, SignedHeaders=%.*s, Signature=%s",
             creds->access_key_id, scope, sh_len, signed_headers, out->signature);
    if (want_intermediates && !(out->string_to_sign = strdup(sts)))
        return KN_ERR_NOMEM;
    return KN_OK;
}

kn_err_t kn_sigv4_sign_cached(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                              kn_sigv4_key_cache_t *cache, kn_sigv4_result_t *out,
                              int want_intermediates) {
    if (!out)
        return KN_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (!req || !creds || !valid_request(req, creds))
        return KN_ERR_INVALID_ARG;
    hdr_t *hv = malloc((req->nheaders + EXTRA_HEADERS) * sizeof(*hv));
    if (!hv)
        return KN_ERR_NOMEM;
    sbuf_t creq = {0};
    size_t sh_off = 0, sh_end = 0;
    kn_err_t rc = build_canonical_request(req, creds, hv, out, &creq, &sh_off, &sh_end);
    if (rc == KN_OK)
        rc = sign_canonical_request(req, creds, cache, &creq, creq.p + sh_off, (int)(sh_end - sh_off),
                                    out, want_intermediates);
    free(hv);
    if (rc == KN_OK && want_intermediates) {
        out->canonical_request = creq.p;
        creq.p = NULL;
    }
    free(creq.p);
    if (rc != KN_OK)
        kn_sigv4_result_clear(out);
    return rc;
}

kn_err_t kn_sigv4_sign(const kn_sigv4_request_t *req, const kn_credentials_t *creds,
                       kn_sigv4_result_t *out, int want_intermediates) {
    return kn_sigv4_sign_cached(req, creds, NULL, out, want_intermediates);
}

void kn_sigv4_result_clear(kn_sigv4_result_t *r) {
    if (!r)
        return;
    free(r->authorization);
    free(r->canonical_request);
    free(r->string_to_sign);
    memset(r, 0, sizeof(*r));
}

void kn_sigv4_key_cache_clear(kn_sigv4_key_cache_t *c) {
    if (c)
        OPENSSL_cleanse(c, sizeof(*c));
}
