/*
 * Random requests signed by kinesis-c, for test_sigv4_botocore.sh to re-sign
 * with botocore and compare. Usage: sigv4_gen SEED COUNT. Prints one JSON object
 * per line: the request as botocore takes it (URL path, decoded query pairs,
 * headers other than X-Amz-Date / X-Amz-Security-Token, hex body, credentials,
 * scope) and what we produced (canonical request, string to sign, signature,
 * Authorization). Our signer gets the same request in wire form: a query with
 * randomly chosen percent-encoding, X-Amz-Date and the token header sometimes
 * among the headers and sometimes left to the signer.
 *
 * The one input class left out: a path whose last segment is "." or ".." with no
 * trailing slash. RFC 3986 (and this signer) keep a trailing slash there
 * ("/a/b/.." -> "/a/"), botocore drops it ("/a"); the spec does not say.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sigv4.h"

#define MAX_STR 256
#define MAX_SEGMENTS 6
#define MAX_PAIRS 7
#define MAX_EXTRA_HEADERS 8
#define MAX_BODY 4096
#define MAX_WHEN 4102444799LL /* 2099-12-31T23:59:59Z */

typedef struct {
    uint64_t s;
} rng_t;

/* splitmix64: small, seedable, good enough to spread test inputs. */
static uint64_t next(rng_t *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rnd(rng_t *r, unsigned n) { return (unsigned)(next(r) % n); }

static int chance(rng_t *r, unsigned percent) { return rnd(r, 100) < percent; }

#define PICK(r, arr) ((arr)[rnd((r), sizeof(arr) / sizeof((arr)[0]))])

/* A bounded string builder; generated pieces are far below MAX_STR. */
typedef struct {
    char s[MAX_STR * 4];
    size_t n;
} str_t;

static void put(str_t *b, const char *s) {
    size_t n = strlen(s);
    if (b->n + n >= sizeof(b->s))
        return;
    memcpy(b->s + b->n, s, n + 1);
    b->n += n;
}

static void putc_(str_t *b, char c) {
    char t[2] = {c, 0};
    put(b, t);
}

static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char UNRESERVED[] = "ABCXYZabcxyz0189-._~";
static const char RESERVED[] = "!$&'()*+,;=:@";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char TCHAR[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";
static const char *const UTF8[] = {"\xc3\xa9", "\xe1\x88\xb4", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                   "\xc2\xa0", "\xd0\x96"};

static void put_random(rng_t *r, str_t *b, const char *set, unsigned minlen, unsigned maxlen) {
    unsigned n = minlen + rnd(r, maxlen - minlen + 1);
    size_t setlen = strlen(set);
    for (unsigned i = 0; i < n; i++)
        putc_(b, set[rnd(r, (unsigned)setlen)]);
}

/* Text of mixed classes: unreserved, reserved, spaces, UTF-8, '%' sequences, extras. */
static void put_text(rng_t *r, str_t *b, unsigned pieces, const char *extras) {
    static const char *const PCT[] = {"%20", "%2F", "%E1%88%B4", "%", "%zz", "%4", "%41"};
    for (unsigned i = 0; i < pieces; i++) {
        switch (rnd(r, 7)) {
        case 0: put_random(r, b, UNRESERVED, 1, 6); break;
        case 1: put_random(r, b, RESERVED, 1, 3); break;
        case 2: put_random(r, b, " a", 1, 3); break;
        case 3: put(b, PICK(r, UTF8)); break;
        case 4: put(b, PICK(r, PCT)); break;
        case 5: put_random(r, b, extras, 1, 2); break;
        default: put_random(r, b, ALNUM, 1, 4); break;
        }
    }
}

static void gen_path(rng_t *r, str_t *p) {
    static const char *const DOTS[] = {".", "..", "...", ".a", "a.", ""};
    unsigned nseg = rnd(r, MAX_SEGMENTS + 1);
    int last_dot = 0;
    for (unsigned i = 0; i < nseg; i++) {
        putc_(p, '/');
        size_t start = p->n;
        if (chance(r, 25))
            put(p, PICK(r, DOTS));
        else
            put_text(r, p, 1 + rnd(r, 3), "\"<>[]{}^`|\\");
        last_dot = !strcmp(p->s + start, ".") || !strcmp(p->s + start, "..");
    }
    if (p->n == 0 || last_dot || chance(r, 30))
        putc_(p, '/');
}

typedef struct {
    str_t key, value, wire;
} pair_t;

/* Wire form of decoded bytes: each byte raw or %XX (random hex case) where both are valid. */
static void put_wire(rng_t *r, str_t *w, const char *s, int is_key) {
    static const char HEXU[] = "0123456789ABCDEF", HEXL[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int must = c == '&' || c == '%' || c == '#' || (is_key && c == '=');
        if (!must && chance(r, 50)) {
            putc_(w, (char)c);
            continue;
        }
        const char *hex = chance(r, 50) ? HEXU : HEXL;
        putc_(w, '%');
        putc_(w, hex[c >> 4]);
        putc_(w, hex[c & 15]);
    }
}

static unsigned gen_query(rng_t *r, pair_t *pairs, str_t *wire) {
    unsigned n = rnd(r, MAX_PAIRS + 1);
    for (unsigned i = 0; i < n; i++) {
        pair_t *p = &pairs[i];
        memset(p, 0, sizeof(*p));
        if (i && chance(r, 25))
            p->key = pairs[rnd(r, i)].key; /* repeated key */
        else if (!chance(r, 5))
            put_text(r, &p->key, 1 + rnd(r, 2), "=&+%#/?");
        if (!chance(r, 20))
            put_text(r, &p->value, 1 + rnd(r, 3), "=&+%#/?");
        if (i || chance(r, 10))
            put(wire, chance(r, 10) ? "&&" : "&");
        put_wire(r, wire, p->key.s, 1);
        /* "k" and "k=" both mean an empty value; a bare "" piece would be dropped */
        if (p->value.n || !p->key.n || chance(r, 50))
            putc_(wire, '=');
        put_wire(r, wire, p->value.s, 0);
    }
    if (n && chance(r, 10))
        putc_(wire, '&');
    return n;
}

/* `name` with each letter's case flipped at random. */
static void put_mixed_case(rng_t *r, str_t *b, const char *name) {
    for (; *name; name++) {
        char c = *name;
        if (chance(r, 50))
            c = (char)(c >= 'a' && c <= 'z' ? c - 32 : (c >= 'A' && c <= 'Z' ? c + 32 : c));
        putc_(b, c);
    }
}

static void gen_value(rng_t *r, str_t *v) {
    static const char *const WS[] = {" ", "  ", "\t", " \t ", "   "};
    unsigned words = rnd(r, 5);
    if (chance(r, 50))
        put(v, PICK(r, WS));
    for (unsigned i = 0; i < words; i++) {
        if (i)
            put(v, PICK(r, WS));
        put_random(r, v, "abcXYZ019\"'(),/:;<=>?@[]{}!#$%&*+-.^_`|~", 1, 8);
    }
    if (chance(r, 50))
        put(v, PICK(r, WS));
}

static int reserved_name(const char *n) {
    /* set apart by the generator, or never signed by botocore (which drops hop-by-hop
     * headers; this signer signs whatever the caller passes) */
    static const char *const NAMES[] = {
        "host", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
        "expect", "user-agent", "x-amzn-trace-id", "connection", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++)
        if (!strcasecmp(n, NAMES[i]))
            return 1;
    return 0;
}

typedef struct {
    str_t name, value;
} hdr_t;

static void add_pair(cJSON *arr, const char *a, const char *b) {
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(a));
    cJSON_AddItemToArray(p, cJSON_CreateString(b));
    cJSON_AddItemToArray(arr, p);
}

typedef struct {
    str_t akid, secret, token, service, region;
    long long when;
    int has_token;
} identity_t;

static void gen_identity(rng_t *r, identity_t *id) {
    static const char *const SERVICES[] = {"kinesis", "dynamodb", "sts", "monitoring", "execute-api", "s3"};
    static const char *const REGIONS[] = {"us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1",
                                          "us-gov-west-1"};
    memset(id, 0, sizeof(*id));
    put(&id->akid, chance(r, 50) ? "AKIA" : "ASIA");
    put_random(r, &id->akid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16);
    put_random(r, &id->secret, B64, 40, 40);
    id->has_token = chance(r, 40);
    put_random(r, &id->token, B64, 16, 300);
    put_random(r, &id->token, "=", 0, 2);
    if (chance(r, 70))
        put(&id->service, PICK(r, SERVICES));
    else
        put_random(r, &id->service, "abcdefghijklmnopqrstuvwxyz0123456789-", 1, 20);
    if (chance(r, 70))
        put(&id->region, PICK(r, REGIONS));
    else
        put_random(r, &id->region, "abcdefghijklmnopqrstuvwxyz0123456789-", 1, 20);
    id->when = (long long)(next(r) % (uint64_t)(MAX_WHEN + 1));
}

static int emit_one(rng_t *r, unsigned idx, identity_t *id, kn_sigv4_key_cache_t *cache) {
    static const char *const METHODS[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
    static const char *const HOSTS[] = {"kinesis.us-east-1.amazonaws.com", "example.amazonaws.com",
                                        "127.0.0.1:4567", "localhost:8000", "sts.amazonaws.com"};
    static const char *const NAMES[] = {"Content-Type", "X-Amz-Target", "Content-Length", "Accept",
                                        "X-Amz-Meta-Thing", "My-Header1", "Content-Encoding"};
    pair_t pairs[MAX_PAIRS];
    hdr_t hs[MAX_EXTRA_HEADERS + 3];
    str_t path = {0}, wire_query = {0};
    uint8_t body[MAX_BODY];
    char body_hex[2 * MAX_BODY + 1];

    const char *method = PICK(r, METHODS), *host = PICK(r, HOSTS);
    gen_path(r, &path);
    unsigned npairs = gen_query(r, pairs, &wire_query);

    /* headers as our signer sees them; hs[i].value.s also for botocore unless date/token */
    unsigned nh = 0, nextra = rnd(r, MAX_EXTRA_HEADERS + 1);
    int date_in_headers = chance(r, 50), token_in_headers = id->has_token && chance(r, 50);
    unsigned host_at = rnd(r, nextra + 1), date_at = rnd(r, nextra + 1), token_at = rnd(r, nextra + 1);
    for (unsigned i = 0; i <= nextra; i++) {
        if (i == host_at) {
            memset(&hs[nh], 0, sizeof(hs[nh]));
            put_mixed_case(r, &hs[nh].name, "host");
            put(&hs[nh++].value, host);
        }
        if (i == date_at && date_in_headers) {
            memset(&hs[nh], 0, sizeof(hs[nh]));
            put_mixed_case(r, &hs[nh].name, "x-amz-date");
            nh++; /* value filled once the date is known */
        }
        if (i == token_at && token_in_headers) {
            memset(&hs[nh], 0, sizeof(hs[nh]));
            put_mixed_case(r, &hs[nh].name, "x-amz-security-token");
            put(&hs[nh++].value, id->token.s);
        }
        if (i == nextra)
            break;
        memset(&hs[nh], 0, sizeof(hs[nh]));
        if (nh && chance(r, 25))
            put_mixed_case(r, &hs[nh].name, hs[rnd(r, nh)].name.s); /* maybe a duplicate */
        else if (chance(r, 50))
            put_mixed_case(r, &hs[nh].name, PICK(r, NAMES));
        else
            put_random(r, &hs[nh].name, TCHAR, 1, 12);
        if (reserved_name(hs[nh].name.s))
            continue;
        gen_value(r, &hs[nh++].value);
    }

    char amz_date[17];
    {
        time_t t = (time_t)id->when;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    }
    kn_header_t kh[MAX_EXTRA_HEADERS + 3];
    for (unsigned i = 0; i < nh; i++) {
        if (!strcasecmp(hs[i].name.s, "x-amz-date")) {
            put(&hs[i].value, chance(r, 30) ? " " : "");
            put(&hs[i].value, amz_date);
            put(&hs[i].value, chance(r, 30) ? "\t" : "");
        }
        kh[i] = (kn_header_t){hs[i].name.s, hs[i].value.s};
    }

    size_t body_len = chance(r, 30) ? 0 : 1 + rnd(r, MAX_BODY);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (uint8_t)next(r);
    for (size_t i = 0; i < body_len; i++)
        snprintf(body_hex + 2 * i, 3, "%02x", body[i]);
    body_hex[2 * body_len] = '\0';

    kn_credentials_t creds = {id->akid.s, id->secret.s, id->has_token ? id->token.s : NULL, 0};
    kn_sigv4_request_t req = {
        .method = method, .path = path.s, .query = wire_query.s, .headers = kh, .nheaders = nh,
        .body = body, .body_len = body_len, .service = id->service.s, .region = id->region.s,
        .when = date_in_headers ? 0 : (time_t)id->when,
    };
    kn_sigv4_result_t res;
    kn_err_t rc = kn_sigv4_sign_cached(&req, &creds, cache, &res, 1);
    if (rc != KN_OK) {
        fprintf(stderr, "request %u: sign failed: %s (path %s, query %s)\n", idx, kn_err2name(rc), path.s,
                wire_query.s);
        return 0;
    }

    cJSON *o = cJSON_CreateObject(), *params = cJSON_CreateArray(), *headers = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "i", idx);
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddStringToObject(o, "path", path.s);
    cJSON_AddStringToObject(o, "wire_query", wire_query.s);
    for (unsigned i = 0; i < npairs; i++)
        add_pair(params, pairs[i].key.s, pairs[i].value.s);
    cJSON_AddItemToObject(o, "params", params);
    for (unsigned i = 0; i < nh; i++)
        if (strcasecmp(kh[i].name, "x-amz-date") && strcasecmp(kh[i].name, "x-amz-security-token"))
            add_pair(headers, kh[i].name, kh[i].value);
    cJSON_AddItemToObject(o, "headers", headers);
    cJSON_AddStringToObject(o, "body", body_hex);
    cJSON_AddStringToObject(o, "akid", id->akid.s);
    cJSON_AddStringToObject(o, "secret", id->secret.s);
    if (id->has_token)
        cJSON_AddStringToObject(o, "token", id->token.s);
    else
        cJSON_AddNullToObject(o, "token");
    cJSON_AddStringToObject(o, "service", id->service.s);
    cJSON_AddStringToObject(o, "region", id->region.s);
    cJSON_AddStringToObject(o, "amz_date", amz_date);
    cJSON_AddStringToObject(o, "creq", res.canonical_request);
    cJSON_AddStringToObject(o, "sts", res.string_to_sign);
    cJSON_AddStringToObject(o, "sig", res.signature);
    cJSON_AddStringToObject(o, "auth", res.authorization);
    char *line = cJSON_PrintUnformatted(o);
    int ok = line && puts(line) >= 0;
    cJSON_free(line);
    cJSON_Delete(o);
    kn_sigv4_result_clear(&res);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SEED COUNT\n", argv[0]);
        return 2;
    }
    rng_t r = {strtoull(argv[1], NULL, 10)};
    unsigned count = (unsigned)strtoul(argv[2], NULL, 10);
    identity_t id;
    kn_sigv4_key_cache_t cache = {0};
    for (unsigned i = 0; i < count; i++) {
        /* keep the identity for some requests, so the key cache also hits */
        if (i == 0 || chance(&r, 70))
            gen_identity(&r, &id);
        else
            id.when += rnd(&r, 3600);
        if (!emit_one(&r, i, &id, &cache))
            return 1;
    }
    kn_sigv4_key_cache_clear(&cache);
    return 0;
}
