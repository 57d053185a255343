/*
 * MD5 (RFC 1321) in two forms. Long single messages go through OpenSSL's EVP
 * interface (assembly, with the fetched algorithm and context kept). Short
 * messages and batches use the portable compression below: EVP costs about a
 * thousand instructions per call before the first byte, more than hashing a
 * partition key, and a batch hashes KN_MD5_LANES messages side by side, which
 * compilers turn into SIMD (the build compiles this file with -O3 for that).
 */
#include "md5.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 64      /* bytes per compression */
#define LEN_FIELD 8   /* the bit count that ends the padding */
#define SHORT_MAX 512 /* portable code below this length, EVP's assembly from it on */

struct kn_md5_s {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

kn_md5_t *kn_md5_new(void) {
    kn_md5_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->md = EVP_MD_fetch(NULL, "MD5", NULL);
    m->ctx = EVP_MD_CTX_new();
    if (!m->md || !m->ctx) {
        kn_md5_destroy(m);
        return NULL;
    }
    return m;
}

void kn_md5_destroy(kn_md5_t *m) {
    if (!m)
        return;
    EVP_MD_CTX_free(m->ctx);
    EVP_MD_free(m->md);
    free(m);
}

/* ---- the compression function, for KN_MD5_LANES independent messages ---- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint32_t md5_iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

#define ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
#define FF(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define GG(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define HH(b, c, d) ((b) ^ (c) ^ (d))
#define II(b, c, d) ((c) ^ ((b) | ~(d)))

/* One step on every lane: the lanes are independent, so this loop vectorizes. */
#define STEP(nl, f, a, b, c, d, g, i, s)                                              \
    for (int l = 0; l < (nl); l++)                                                   \
        a[l] = b[l] + ROTL(a[l] + f(b[l], c[l], d[l]) + m[g][l] + md5_k[i], s)

/* Four steps with the rotating roles of a, b, c, d. */
#define QUAD(nl, f, i, g0, g1, g2, g3, s0, s1, s2, s3) \
    do {                                               \
        STEP(nl, f, a, b, c, d, g0, i, s0);            \
        STEP(nl, f, d, a, b, c, g1, i + 1, s1);        \
        STEP(nl, f, c, d, a, b, g2, i + 2, s2);        \
        STEP(nl, f, b, c, d, a, g3, i + 3, s3);        \
    } while (0)

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* GCC vectorizes the lanes only when the compression stays a function of its own. */
#if defined(__GNUC__) && !defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/*
 * A compression function for nl lanes: st[word][lane] += the compression of
 * blk[lane] (64 bytes each). Defined twice, for one lane and for KN_MD5_LANES,
 * so that each is specialised (scalar, and vectorizable).
 */
#define DEFINE_COMPRESS(name, nl)                                                  \
    static NOINLINE TARGET void name(uint32_t st[4][nl], const uint8_t *const blk[nl]) {  \
        uint32_t m[16][nl];                                                        \
        for (int l = 0; l < (nl); l++)                                             \
            for (int w = 0; w < 16; w++)                                           \
                m[w][l] = le32(blk[l] + 4 * w);                                    \
        uint32_t a[nl], b[nl], c[nl], d[nl];                                       \
        for (int l = 0; l < (nl); l++) {                                           \
            a[l] = st[0][l];                                                       \
            b[l] = st[1][l];                                                       \
            c[l] = st[2][l];                                                       \
            d[l] = st[3][l];                                                       \
        }                                                                          \
        QUAD(nl, FF, 0, 0, 1, 2, 3, 7, 12, 17, 22);                                \
        QUAD(nl, FF, 4, 4, 5, 6, 7, 7, 12, 17, 22);                                \
        QUAD(nl, FF, 8, 8, 9, 10, 11, 7, 12, 17, 22);                              \
        QUAD(nl, FF, 12, 12, 13, 14, 15, 7, 12, 17, 22);                           \
        QUAD(nl, GG, 16, 1, 6, 11, 0, 5, 9, 14, 20);                               \
        QUAD(nl, GG, 20, 5, 10, 15, 4, 5, 9, 14, 20);                              \
        QUAD(nl, GG, 24, 9, 14, 3, 8, 5, 9, 14, 20);                               \
        QUAD(nl, GG, 28, 13, 2, 7, 12, 5, 9, 14, 20);                              \
        QUAD(nl, HH, 32, 5, 8, 11, 14, 4, 11, 16, 23);                             \
        QUAD(nl, HH, 36, 1, 4, 7, 10, 4, 11, 16, 23);                              \
        QUAD(nl, HH, 40, 13, 0, 3, 6, 4, 11, 16, 23);                              \
        QUAD(nl, HH, 44, 9, 12, 15, 2, 4, 11, 16, 23);                             \
        QUAD(nl, II, 48, 0, 7, 14, 5, 6, 10, 15, 21);                              \
        QUAD(nl, II, 52, 12, 3, 10, 1, 6, 10, 15, 21);                             \
        QUAD(nl, II, 56, 8, 15, 6, 13, 6, 10, 15, 21);                             \
        QUAD(nl, II, 60, 4, 11, 2, 9, 6, 10, 15, 21);                              \
        for (int l = 0; l < (nl); l++) {                                           \
            st[0][l] += a[l];                                                      \
            st[1][l] += b[l];                                                      \
            st[2][l] += c[l];                                                      \
            st[3][l] += d[l];                                                      \
        }                                                                          \
    }

#define TARGET
DEFINE_COMPRESS(compress_one, 1)
DEFINE_COMPRESS(compress_lanes, KN_MD5_LANES)
#undef TARGET

/* The lanes also compiled for AVX-512 (its rotate instruction) and AVX2, picked
 * per batch by the CPU: 16 lanes of 50 KB aggregates ran at 2.2 GB/s with SSE2
 * and 3.0 GB/s with AVX-512 on the development machine (bench_codec_bench).
 * Dispatched by hand rather than with target_clones: an ifunc resolver runs
 * before ThreadSanitizer's runtime is up and crashed KN_SANITIZE=thread builds. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LANE_VARIANTS 1
#define TARGET __attribute__((target("arch=x86-64-v4")))
DEFINE_COMPRESS(compress_lanes_v4, KN_MD5_LANES)
#undef TARGET
#define TARGET __attribute__((target("avx2")))
DEFINE_COMPRESS(compress_lanes_avx2, KN_MD5_LANES)
#undef TARGET
#endif

typedef void compress_fn(uint32_t st[4][KN_MD5_LANES], const uint8_t *const blk[KN_MD5_LANES]);

static compress_fn *pick_compress_lanes(void) {
#ifdef LANE_VARIANTS
    if (__builtin_cpu_supports("x86-64-v4"))
        return compress_lanes_v4;
    if (__builtin_cpu_supports("avx2"))
        return compress_lanes_avx2;
#endif
    return compress_lanes;
}

/* ---- feeding messages to lanes ---- */

/* Where one lane is in its message: full blocks from the message, then 1 or 2 padded ones. */
typedef struct {
    const uint8_t *p;
    size_t full;                  /* full blocks left in the message */
    size_t ntail, tail_at;        /* padded blocks, and the next one to use */
    uint8_t tail[2 * BLOCK];      /* the message's last bytes, 0x80, zeros, bit length */
    size_t index;                 /* which message; SIZE_MAX: idle */
} lane_t;

static void lane_start(lane_t *ln, const uint8_t *p, size_t n, size_t index) {
    size_t rest = n % BLOCK;
    ln->p = p;
    ln->full = n / BLOCK;
    ln->ntail = rest + 1 + LEN_FIELD <= BLOCK ? 1 : 2;
    ln->tail_at = 0;
    ln->index = index;
    memset(ln->tail, 0, ln->ntail * BLOCK);
    if (rest)
        memcpy(ln->tail, p + n - rest, rest);
    ln->tail[rest] = 0x80;
    uint64_t bits = (uint64_t)n * 8;
    uint8_t *len = ln->tail + ln->ntail * BLOCK - LEN_FIELD;
    for (int i = 0; i < LEN_FIELD; i++)
        len[i] = (uint8_t)(bits >> (8 * i));
}

/* The lane's next block, advancing it. */
static const uint8_t *lane_block(lane_t *ln) {
    if (ln->full) {
        ln->full--;
        const uint8_t *b = ln->p;
        ln->p += BLOCK;
        return b;
    }
    return ln->tail + BLOCK * ln->tail_at++;
}

static int lane_done(const lane_t *ln) {
    return !ln->full && ln->tail_at == ln->ntail;
}

/* The digest is the four state words, little-endian. */
static void put_word(uint32_t v, uint8_t out[4]) {
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static void put_digest(uint32_t st[4][KN_MD5_LANES], int l, uint8_t out[KN_MD5_LEN]) {
    for (int w = 0; w < 4; w++)
        put_word(st[w][l], out + 4 * w);
}

static void set_iv(uint32_t st[4][KN_MD5_LANES], int l) {
    for (int w = 0; w < 4; w++)
        st[w][l] = md5_iv[w];
}

/*
 * Hashes every message: each lane takes the next message as soon as its own is
 * done, so lanes stay busy with messages of different lengths; idle lanes
 * (at the end) hash a zero block whose result nobody reads.
 */
static void hash_lanes(const uint8_t *const *p, const size_t *n, size_t count,
                       uint8_t (*out)[KN_MD5_LEN]) {
    static const uint8_t idle_block[BLOCK];
    compress_fn *compress = pick_compress_lanes();
    lane_t lanes[KN_MD5_LANES];
    uint32_t st[4][KN_MD5_LANES];
    size_t next = 0, active = 0;
    for (int l = 0; l < KN_MD5_LANES; l++) {
        set_iv(st, l);
        lanes[l].index = SIZE_MAX;
        if (next < count) {
            lane_start(&lanes[l], p[next], n[next], next);
            next++;
            active++;
        }
    }
    while (active) {
        const uint8_t *blk[KN_MD5_LANES];
        for (int l = 0; l < KN_MD5_LANES; l++)
            blk[l] = lanes[l].index == SIZE_MAX ? idle_block : lane_block(&lanes[l]);
        compress(st, blk);
        for (int l = 0; l < KN_MD5_LANES; l++) {
            if (lanes[l].index == SIZE_MAX || !lane_done(&lanes[l]))
                continue;
            put_digest(st, l, out[lanes[l].index]);
            set_iv(st, l);
            lanes[l].index = SIZE_MAX;
            active--;
            if (next < count) {
                lane_start(&lanes[l], p[next], n[next], next);
                next++;
                active++;
            }
        }
    }
}

/* One message with the scalar compression. */
static void hash_one(const uint8_t *p, size_t n, uint8_t out[KN_MD5_LEN]) {
    lane_t ln;
    uint32_t st[4][1] = {{md5_iv[0]}, {md5_iv[1]}, {md5_iv[2]}, {md5_iv[3]}};
    lane_start(&ln, p, n, 0);
    while (!lane_done(&ln)) {
        const uint8_t *blk[1] = {lane_block(&ln)};
        compress_one(st, blk);
    }
    for (int w = 0; w < 4; w++)
        put_word(st[w][0], out + 4 * w);
}

kn_err_t kn_md5_many(const uint8_t *const *p, const size_t *n, size_t count,
                     uint8_t (*out)[KN_MD5_LEN]) {
    if (count && (!p || !n || !out))
        return KN_ERR_INVALID_ARG;
    for (size_t i = 0; i < count; i++)
        if (!p[i] && n[i])
            return KN_ERR_INVALID_ARG;
    hash_lanes(p, n, count, out);
    return KN_OK;
}

kn_err_t kn_md5(kn_md5_t *m, const void *p, size_t n, uint8_t out[KN_MD5_LEN]) {
    static const uint8_t empty[1] = {0};
    if ((!p && n) || !out)
        return KN_ERR_INVALID_ARG;
    if (!p)
        p = empty; /* libcrypto wants a pointer even for zero bytes */
    if (n < SHORT_MAX) {
        hash_one(p, n, out);
        return KN_OK;
    }
    unsigned int len = 0;
    int ok;
    if (!m)
        ok = EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
    else
        ok = EVP_DigestInit_ex(m->ctx, m->md, NULL) && EVP_DigestUpdate(m->ctx, p, n) &&
             EVP_DigestFinal_ex(m->ctx, out, &len);
    return ok && len == KN_MD5_LEN ? KN_OK : KN_ERR_NOMEM;
}
