/*
 * GetRecords replies from text, in two passes: the first checks the grammar of
 * the whole reply and notes where each record's members are (views into the
 * text); the second allocates the result in one block and decodes into it.
 */
#include "records_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "kinesis_json.h"

#define OP "GetRecords"
#define NAME_MAX_LEN 32        /* longer member names match nothing we read */
#define SPANS_MIN 64           /* first size of the per-record array */
#define TIMESTAMP_MAX_S 9e9    /* seconds; later is not a plausible arrival time */
#define BEHIND_MAX (INT64_C(1) << 50)
#define EXACT_DIGITS 15        /* significant decimal digits a double always holds exactly */
#define EXACT_POW10 22         /* 10^22 is the largest power of ten a double holds exactly */
#define EXPONENT_MAX 9999      /* larger decimal exponents are not converted anyway */

/* ---- the reader ---- */

typedef struct {
    const char *p, *text, *end;
    kn_error_t **err;
    kn_err_t code; /* of the first failure */
} rd_t;

/* A string's characters between its quotes, escapes not yet applied. */
typedef struct {
    const char *p;
    size_t n;
    int escaped;
} str_t;

/* Characters a string may hold as they are: not '"', not '\\', not a control character. */
#define PLAIN(c) ((c) >= 0x20 && (c) != '"' && (c) != '\\')
#define PLAIN4(c) PLAIN(c), PLAIN((c) + 1), PLAIN((c) + 2), PLAIN((c) + 3)
#define PLAIN16(c) PLAIN4(c), PLAIN4((c) + 4), PLAIN4((c) + 8), PLAIN4((c) + 12)
#define PLAIN64(c) PLAIN16(c), PLAIN16((c) + 16), PLAIN16((c) + 32), PLAIN16((c) + 48)
static const uint8_t plain_char[256] = {PLAIN64(0), PLAIN64(64), PLAIN64(128), PLAIN64(192)};

static int fail(rd_t *r, kn_err_t code, const char *what, const char *name) {
    if (!r->code)
        r->code = code;
    if (r->err && !*r->err) {
        if (name)
            *r->err = kn_error_new(code, OP " reply field '%s' %s", name, what);
        else
            *r->err = kn_error_new(code, OP " reply is not valid JSON: %s at byte %zu", what,
                                   (size_t)(r->p - r->text));
    }
    return -1;
}

static int syntax(rd_t *r, const char *what) {
    return fail(r, KN_ERR_BAD_RESPONSE, what, NULL);
}

static int field(rd_t *r, const char *name, const char *what) {
    return fail(r, KN_ERR_BAD_RESPONSE, what, name);
}

static int nomem(rd_t *r) {
    if (!r->code)
        r->code = KN_ERR_NOMEM;
    if (r->err && !*r->err)
        *r->err = kn_error_new(KN_ERR_NOMEM, "out of memory reading " OP " reply");
    return -1;
}

static void ws(rd_t *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* The next character after whitespace, or 0 at the end. */
static char peek(rd_t *r) {
    ws(r);
    return r->p < r->end ? *r->p : 0;
}

static int expect(rd_t *r, char c) {
    if (peek(r) != c)
        return syntax(r, c == ':' ? "':' expected" : c == '{' ? "'{' expected" : "'[' expected");
    r->p++;
    return 0;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (unsigned)((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/*
 * One escape at p (after its backslash) of a string ending before end: its
 * length in the text and, through *cp, the code point (a surrogate pair is one
 * escape of 12 characters). -1 when malformed, \u0000 included.
 */
static int escape_at(const char *p, const char *end, size_t *len, unsigned *cp) {
    if (p >= end)
        return -1;
    static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
    const char *s = *p ? strchr(simple, *p) : NULL;
    if (s) {
        *len = 1;
        *cp = (unsigned char)value[s - simple];
        return 0;
    }
    unsigned hi, lo;
    if (*p != 'u' || end - p < 5 || hex4(p + 1, &hi) || hi == 0 || (hi >= 0xdc00 && hi < 0xe000))
        return -1;
    if (hi < 0xd800 || hi >= 0xdc00) {
        *len = 5;
        *cp = hi;
        return 0;
    }
    /* a high surrogate: its low half must follow */
    if (end - p < 11 || p[5] != '\\' || p[6] != 'u' || hex4(p + 7, &lo) || lo < 0xdc00 ||
        lo >= 0xe000)
        return -1;
    *len = 11;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    return 0;
}

/* At '"': the string's span, its escapes checked. */
static int scan_string(rd_t *r, str_t *s) {
    const char *p = r->p + 1;
    s->p = p;
    s->escaped = 0;
    for (;;) {
        while (p < r->end && plain_char[(uint8_t)*p])
            p++;
        if (p >= r->end) {
            r->p = p;
            return syntax(r, "unterminated string");
        }
        if (*p == '"')
            break;
        size_t len;
        unsigned cp;
        if (*p != '\\' || escape_at(p + 1, r->end, &len, &cp)) {
            r->p = p;
            return syntax(r, *p == '\\' ? "bad escape" : "control character in a string");
        }
        s->escaped = 1;
        p += 1 + len;
    }
    s->n = (size_t)(p - s->p);
    r->p = p + 1;
    return 0;
}

/*
 * At '"' of a Data string: base64 has no escapes and no quotes, so memchr finds
 * its end; characters outside the alphabet are left to the base64 decoder.
 * A string with a backslash takes the general path.
 */
static int scan_data(rd_t *r, str_t *s) {
    const char *start = r->p + 1;
    const char *q = memchr(start, '"', (size_t)(r->end - start));
    if (!q || memchr(start, '\\', (size_t)(q - start)))
        return scan_string(r, s);
    *s = (str_t){start, (size_t)(q - start), 0};
    r->p = q + 1;
    return 0;
}

/*
 * Writes the characters of a checked string with escapes applied (UTF-8) to out
 * (which needs s->n bytes; none when out is NULL) and returns their number.
 */
static size_t unescape(const str_t *s, char *out) {
    if (!s->escaped) {
        if (out && s->n)
            memcpy(out, s->p, s->n);
        return s->n;
    }
    size_t n = 0;
    for (const char *p = s->p, *end = s->p + s->n; p < end;) {
        if (*p != '\\') {
            if (out)
                out[n] = *p;
            n++;
            p++;
            continue;
        }
        size_t len;
        unsigned cp;
        escape_at(p + 1, end, &len, &cp); /* checked by scan_string */
        p += 1 + len;
        uint8_t u[4];
        size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (k == 1)
            u[0] = (uint8_t)cp;
        else {
            for (size_t i = k - 1; i > 0; i--, cp >>= 6)
                u[i] = (uint8_t)(0x80 | (cp & 0x3f));
            u[0] = (uint8_t)((k == 2 ? 0xc0 : k == 3 ? 0xe0 : 0xf0) | cp);
        }
        if (out)
            memcpy(out + n, u, k);
        n += k;
    }
    return n;
}

/* A number's span, its grammar checked. */
static int scan_number(rd_t *r, str_t *s) {
    const char *p = r->p, *e = r->end;
    s->p = p;
    s->escaped = 0;
    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else if (p < e && *p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return syntax(r, "bad number");
    if (p < e && *p == '.') {
        const char *f = ++p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return syntax(r, "bad number");
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        const char *x = p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == x)
            return syntax(r, "bad number");
    }
    s->n = (size_t)(p - s->p);
    if (s->n > KN_RJ_MAX_NUMBER)
        return syntax(r, "number too long");
    r->p = p;
    return 0;
}

/*
 * The value of a checked number when the conversion is exact: at most
 * EXACT_DIGITS significant digits and a power of ten up to EXACT_POW10, so one
 * correctly rounded multiplication or division gives what strtod would.
 */
static int number_value(const str_t *s, double *out) {
    static const double pow10[EXACT_POW10 + 1] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s->p, *e = s->p + s->n;
    int neg = *p == '-';
    p += neg;
    uint64_t m = 0;
    int digits = 0;
    long exp10 = 0;
    for (int frac = 0; p < e && (*p == '.' || (*p >= '0' && *p <= '9')); p++) {
        if (*p == '.') {
            frac = 1;
            continue;
        }
        if (m || *p != '0')
            digits++;
        if (digits > EXACT_DIGITS)
            return -1;
        m = m * 10 + (uint64_t)(*p - '0');
        exp10 -= frac;
    }
    if (p < e) { /* the exponent */
        p++;
        int eneg = *p == '-';
        p += *p == '-' || *p == '+';
        long x = 0;
        for (; p < e; p++)
            if ((x = x * 10 + (*p - '0')) > EXPONENT_MAX)
                return -1;
        exp10 += eneg ? -x : x;
    }
    double v = (double)m;
    if (m && (exp10 > EXACT_POW10 || exp10 < -EXACT_POW10))
        return -1;
    if (m)
        v = exp10 >= 0 ? v * pow10[exp10] : v / pow10[-exp10];
    *out = neg ? -v : v;
    return 0;
}

static int literal(rd_t *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n))
        return syntax(r, "bad literal");
    r->p += n;
    return 0;
}

/* After an item of an object or array: 1 at its end (consumed), 0 after a ',', -1 otherwise. */
static int next_item(rd_t *r, char close) {
    char next = peek(r);
    r->p += next != 0;
    if (next == close)
        return 1;
    return next == ',' ? 0 : syntax(r, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

/* Checks any value at r->p (after whitespace) and moves past it. */
static int skip_value(rd_t *r, int depth) {
    str_t s;
    char c = peek(r);
    switch (c) {
    case '"':
        return scan_string(r, &s);
    case 't':
        return literal(r, "true");
    case 'f':
        return literal(r, "false");
    case 'n':
        return literal(r, "null");
    case '{':
    case '[':
        break;
    default:
        if (c != '-' && (c < '0' || c > '9'))
            return syntax(r, "value expected");
        return scan_number(r, &s);
    }
    if (depth >= KN_RJ_MAX_DEPTH)
        return syntax(r, "nested too deeply");
    char close = c == '{' ? '}' : ']';
    r->p++;
    if (peek(r) == close) {
        r->p++;
        return 0;
    }
    for (;;) {
        if (c == '{' && (peek(r) != '"' || scan_string(r, &s) || expect(r, ':')))
            return syntax(r, "member expected");
        int end = skip_value(r, depth + 1) ? -1 : next_item(r, close);
        if (end)
            return end < 0 ? -1 : 0;
    }
}

/* Whether a member name (a checked string) is `name`. */
static int name_is(const str_t *key, const char *name) {
    size_t n = strlen(name);
    if (!key->escaped)
        return key->n == n && !memcmp(key->p, name, n);
    char buf[NAME_MAX_LEN];
    return key->n <= sizeof(buf) && unescape(key, buf) == n && !memcmp(buf, name, n);
}

/*
 * Calls fn for each member of the object at r->p (after its name and ':'), the
 * member's value not yet read; fn must read or skip it. 0, or -1 on error.
 */
typedef int (*member_fn)(rd_t *r, const str_t *name, void *ctx, int depth);

static int each_member(rd_t *r, member_fn fn, void *ctx, int depth) {
    if (expect(r, '{'))
        return -1;
    if (peek(r) == '}') {
        r->p++;
        return 0;
    }
    for (;;) {
        str_t key;
        if (peek(r) != '"')
            return syntax(r, "member name expected");
        if (scan_string(r, &key) || expect(r, ':') || fn(r, &key, ctx, depth))
            return -1;
        int end = next_item(r, '}');
        if (end)
            return end < 0 ? -1 : 0;
    }
}

/*
 * Reads a member that must be a string or null: *present says which. Other
 * values are refused as "is not a string" (after checking them). `base64`:
 * the string is a Data member (scan_data).
 */
static int string_member(rd_t *r, const char *name, str_t *s, int *present, int depth,
                         int base64) {
    char c = peek(r);
    *present = 0;
    if (c == 'n')
        return literal(r, "null");
    if (c != '"')
        return skip_value(r, depth) ? -1 : field(r, name, "is not a string");
    *present = 1;
    return base64 ? scan_data(r, s) : scan_string(r, s);
}

/* Reads a member that must be a number or null into *v (exactly converted). */
static int number_member(rd_t *r, const char *name, double *v, int *present, int depth) {
    char c = peek(r);
    str_t s;
    *present = 0;
    if (c == 'n')
        return literal(r, "null");
    if (c != '-' && (c < '0' || c > '9'))
        return skip_value(r, depth) ? -1 : field(r, name, "is not a number");
    if (scan_number(r, &s))
        return -1;
    if (number_value(&s, v))
        return field(r, name, "is not a number this reader converts exactly");
    *present = 1;
    return 0;
}

/* ---- records ---- */

/* What pass 1 found of one record. */
typedef struct {
    str_t data, pk, seq, enc;
    size_t pk_len, seq_len; /* with escapes applied */
    uint8_t seen[5];        /* member already read (the first of duplicates wins) */
    uint8_t has_data, has_pk, has_seq, has_ts, has_enc;
    double ts;
} span_t;

enum { M_DATA, M_PK, M_SEQ, M_TS, M_ENC, M_COUNT };
static const char *const record_members[M_COUNT] = {
    "Data", "PartitionKey", "SequenceNumber", "ApproximateArrivalTimestamp", "EncryptionType"};

static int record_member(rd_t *r, const str_t *name, void *ctx, int depth) {
    span_t *sp = ctx;
    int m = 0;
    while (m < M_COUNT && !name_is(name, record_members[m]))
        m++;
    if (m == M_COUNT || sp->seen[m])
        return skip_value(r, depth);
    sp->seen[m] = 1;
    const char *n = record_members[m];
    int present, rc;
    switch (m) {
    case M_DATA:
        rc = string_member(r, n, &sp->data, &present, depth, 1);
        sp->has_data = (uint8_t)present;
        return rc;
    case M_PK:
        rc = string_member(r, n, &sp->pk, &present, depth, 0);
        sp->has_pk = (uint8_t)present;
        return rc;
    case M_SEQ:
        rc = string_member(r, n, &sp->seq, &present, depth, 0);
        sp->has_seq = (uint8_t)present;
        return rc;
    case M_TS:
        rc = number_member(r, n, &sp->ts, &present, depth);
        sp->has_ts = (uint8_t)present;
        return rc;
    default:
        rc = string_member(r, n, &sp->enc, &present, depth, 0);
        sp->has_enc = (uint8_t)present;
        return rc;
    }
}

/* A required string member (as kn_json_str checks one): there, at most max bytes, not empty. */
static int required(rd_t *r, const char *name, int present, const str_t *s, size_t max,
                    size_t *len) {
    if (!present)
        return field(r, name, "is missing");
    *len = unescape(s, NULL);
    if (*len > max)
        return field(r, name, "is too long");
    return *len ? 0 : field(r, name, "is empty");
}

/* The checks the cJSON path makes (kn_json_str and measure_record), on one record. */
static int check_record(rd_t *r, span_t *sp) {
    if (sp->has_data && sp->data.n > KN_KJ_MAX_RECORD_TEXT)
        return field(r, "Data", "is too long");
    if (required(r, "PartitionKey", sp->has_pk, &sp->pk, KN_KJ_MAX_PARTITION_KEY_BYTES,
                 &sp->pk_len) ||
        required(r, "SequenceNumber", sp->has_seq, &sp->seq, KN_KINESIS_MAX_SEQUENCE_NUMBER,
                 &sp->seq_len))
        return -1;
    if (sp->has_ts && (sp->ts < 0 || sp->ts > TIMESTAMP_MAX_S))
        return field(r, "ApproximateArrivalTimestamp", "is not a plausible timestamp");
    if (sp->has_enc && unescape(&sp->enc, NULL) > KN_KJ_MAX_ENCRYPTION_TYPE)
        return field(r, "EncryptionType", "is too long");
    if (!sp->has_data)
        return field(r, "Data", "is missing");
    char seq[KN_KINESIS_MAX_SEQUENCE_NUMBER];
    unescape(&sp->seq, seq);
    int decimal = !(seq[0] == '0' && sp->seq_len > 1);
    for (size_t i = 0; i < sp->seq_len; i++)
        decimal &= seq[i] >= '0' && seq[i] <= '9';
    if (!decimal)
        return field(r, "SequenceNumber", "is not a decimal number");
    return 0;
}

/* ---- the reply ---- */

typedef struct {
    span_t *spans;
    size_t n, cap;
    uint8_t seen[4];
    int has_records;
    str_t iterator;
    int has_iterator;
    double behind;
    int has_behind;
    const char *children; /* the ChildShards value's text, when not null */
    size_t children_len;
} reply_t;

enum { T_RECORDS, T_BEHIND, T_ITERATOR, T_CHILDREN, T_COUNT };
static const char *const reply_members[T_COUNT] = {"Records", "MillisBehindLatest",
                                                   "NextShardIterator", "ChildShards"};

static int records_array(rd_t *r, reply_t *rp, int depth) {
    char c = peek(r);
    if (c == 'n')
        return literal(r, "null");
    if (c != '[')
        return skip_value(r, depth) ? -1 : field(r, "Records", "is not an array");
    rp->has_records = 1;
    r->p++;
    if (peek(r) == ']') {
        r->p++;
        return 0;
    }
    for (;;) {
        if (rp->n == KN_KINESIS_MAX_GET_RECORDS)
            return field(r, "Records", "has too many items");
        if (peek(r) != '{')
            return skip_value(r, depth + 1) ? -1 : field(r, "Records", "holds a non-object");
        if (rp->n == rp->cap) {
            size_t cap = rp->cap ? rp->cap * 2 : SPANS_MIN;
            span_t *sp = realloc(rp->spans, cap * sizeof(*sp));
            if (!sp)
                return nomem(r);
            rp->spans = sp;
            rp->cap = cap;
        }
        span_t *sp = &rp->spans[rp->n++];
        memset(sp, 0, sizeof(*sp));
        if (each_member(r, record_member, sp, depth + 2) || check_record(r, sp))
            return -1;
        int end = next_item(r, ']');
        if (end)
            return end < 0 ? -1 : 0;
    }
}

static int reply_member(rd_t *r, const str_t *name, void *ctx, int depth) {
    reply_t *rp = ctx;
    int m = 0, present;
    while (m < T_COUNT && !name_is(name, reply_members[m]))
        m++;
    if (m == T_COUNT || rp->seen[m])
        return skip_value(r, depth);
    rp->seen[m] = 1;
    switch (m) {
    case T_RECORDS:
        return records_array(r, rp, depth);
    case T_BEHIND:
        if (number_member(r, reply_members[m], &rp->behind, &rp->has_behind, depth))
            return -1;
        if (rp->has_behind && rp->behind != floor(rp->behind))
            return field(r, reply_members[m], "is not an integer");
        if (rp->has_behind && (rp->behind < 0 || rp->behind > (double)BEHIND_MAX))
            return field(r, reply_members[m], "is out of range");
        return 0;
    case T_ITERATOR:
        if (string_member(r, reply_members[m], &rp->iterator, &present, depth, 0))
            return -1;
        rp->has_iterator = present;
        if (present && unescape(&rp->iterator, NULL) > KN_KJ_MAX_ITERATOR)
            return field(r, reply_members[m], "is too long");
        return 0;
    default: {
        const char *start = (ws(r), r->p);
        if (skip_value(r, depth))
            return -1;
        if (*start != 'n') { /* not null */
            rp->children = start;
            rp->children_len = (size_t)(r->p - start);
        }
        return 0;
    }
    }
}

/* ChildShards through cJSON and the shared parser, its errors named like the others. */
static kn_err_t child_shards(const reply_t *rp, kn_get_records_result_t *res, kn_error_t **err) {
    if (!rp->children)
        return KN_OK;
    cJSON *obj = cJSON_CreateObject();
    cJSON *arr = cJSON_ParseWithLength(rp->children, rp->children_len);
    if (!obj || !arr || !cJSON_AddItemToObject(obj, "ChildShards", arr)) {
        cJSON_Delete(obj);
        cJSON_Delete(arr);
        if (err && !*err)
            *err = kn_error_new(KN_ERR_NOMEM, "out of memory reading " OP " reply");
        return KN_ERR_NOMEM;
    }
    kn_error_t *inner = NULL;
    kn_err_t rc = kn_kj_parse_child_shards(obj, &res->child_shards, &res->child_shard_count, &inner);
    cJSON_Delete(obj);
    if (rc && err && !*err)
        *err = kn_error_new(rc, OP " %s", inner ? kn_error_message(inner) : "out of memory");
    kn_error_destroy(inner);
    return rc;
}

/* Pass 2: the result in one block, each record decoded into its arena. */
static kn_err_t build(rd_t *r, const reply_t *rp, kn_get_records_result_t **out) {
    size_t need = 0;
    for (size_t i = 0; i < rp->n; i++) {
        const span_t *sp = &rp->spans[i];
        /* the exact decoded size without escapes; with them, a bound */
        need += (sp->data.escaped ? sp->data.n / 4 * 3 : kn_base64_decoded_len(sp->data.p, sp->data.n)) +
                sp->pk_len + 1 + sp->seq_len + 1;
    }
    uint8_t *arena;
    kn_get_records_result_t *res = kn_kj_records_alloc(rp->n, need, &arena);
    if (!res)
        return nomem(r), KN_ERR_NOMEM;
    for (size_t i = 0; i < rp->n; i++) {
        const span_t *sp = &rp->spans[i];
        kn_record_t *rec = &res->records[i];
        size_t cap = sp->data.escaped ? sp->data.n / 4 * 3
                                      : kn_base64_decoded_len(sp->data.p, sp->data.n);
        const char *text = sp->data.p;
        size_t tlen = sp->data.n, dlen = 0;
        char *tmp = NULL;
        if (sp->data.escaped) { /* rare: "\/" and the like */
            if (!(tmp = malloc(sp->data.n + 1))) {
                kn_get_records_result_destroy(res);
                return nomem(r), KN_ERR_NOMEM;
            }
            tlen = unescape(&sp->data, tmp);
            text = tmp;
        }
        kn_err_t rc = kn_base64_decode(text, tlen, arena, cap, &dlen);
        free(tmp);
        if (rc) {
            kn_get_records_result_destroy(res);
            field(r, "Data", "is not valid base64");
            return KN_ERR_BAD_RESPONSE;
        }
        rec->data = dlen ? arena : NULL;
        rec->data_len = dlen;
        arena += cap;
        unescape(&sp->pk, (char *)arena);
        arena[sp->pk_len] = 0;
        rec->partition_key = (const char *)arena;
        arena += sp->pk_len + 1;
        unescape(&sp->seq, (char *)arena);
        arena[sp->seq_len] = 0;
        rec->sequence_number = (const char *)arena;
        arena += sp->seq_len + 1;
        /* as kn_json_time_ms rounds */
        rec->approximate_arrival_ms = sp->has_ts ? (int64_t)llround(sp->ts * 1000.0) : 0;
        char enc[KN_KJ_MAX_ENCRYPTION_TYPE + 1];
        if (sp->has_enc)
            enc[unescape(&sp->enc, enc)] = 0;
        rec->encryption = kn_kj_encryption(sp->has_enc ? enc : NULL);
        res->record_count++;
    }
    res->millis_behind_latest = rp->has_behind ? (int64_t)rp->behind : -1;
    if (rp->has_iterator) {
        size_t n = unescape(&rp->iterator, NULL);
        if (!(res->next_shard_iterator = malloc(n + 1))) {
            kn_get_records_result_destroy(res);
            return nomem(r), KN_ERR_NOMEM;
        }
        unescape(&rp->iterator, res->next_shard_iterator);
        res->next_shard_iterator[n] = 0;
    }
    kn_err_t rc = child_shards(rp, res, r->err);
    if (rc) {
        r->code = rc;
        kn_get_records_result_destroy(res);
        return rc;
    }
    *out = res;
    return KN_OK;
}

kn_err_t kn_rj_parse_get_records(const char *text, size_t len, kn_get_records_result_t **out,
                                 kn_error_t **err) {
    if (out)
        *out = NULL;
    if ((!text && len) || !out) {
        if (err && !*err)
            *err = kn_error_new(KN_ERR_INVALID_ARG, OP " reply: no text");
        return KN_ERR_INVALID_ARG;
    }
    rd_t r = {text, text, text + len, err, KN_OK};
    reply_t rp = {0};
    if (each_member(&r, reply_member, &rp, 1) == 0) {
        if (peek(&r))
            syntax(&r, "trailing characters");
        else if (!rp.has_records)
            field(&r, "Records", "is missing");
        else
            build(&r, &rp, out);
    }
    free(rp.spans);
    return r.code;
}
