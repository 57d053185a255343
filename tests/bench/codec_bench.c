/*
 * Codec throughput on realistic sizes, in CPU time: aggregated-record build and
 * decode with 100-byte user records in 50 KB aggregates (the KPL default
 * maximum), partition-key hash keys, event-stream decode of 1 MiB events (whole
 * and in 16 KiB HTTP/2-frame-sized chunks), CRC32, base64 of 100-byte
 * records and 1 MiB blobs, and MD5 one message at a time against batches
 * (kn_md5_many) for 50 KB aggregates and partition keys. Prints figures; never
 * fails on speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg.h"
#include "base64.h"
#include "crc32.h"
#include "event_stream.h"
#include "hashkey.h"
#include "md5.h"

#define RECORD_LEN 100
#define AGG_MAX 51200
#define DISTINCT_KEYS 64
#define EVENT_LEN (1024 * 1024)
#define FRAME_LEN (16 * 1024)
#define MIN_SECONDS 0.5

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Defeats dead-code elimination of benchmarked results. */
static volatile size_t sink;

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static int bench_agg(void) {
    kn_agg_builder_t *b = kn_agg_builder_new();
    kn_agg_decoder_t *d = kn_agg_decoder_new();
    kn_md5_t *md5 = kn_md5_new();
    uint8_t data[RECORD_LEN], *agg = malloc(AGG_MAX);
    char keys[DISTINCT_KEYS][24];
    size_t klen[DISTINCT_KEYS];
    if (!b || !d || !md5 || !agg)
        return 1;
    fill(data, sizeof(data), 1);
    for (int k = 0; k < DISTINCT_KEYS; k++)
        klen[k] = (size_t)snprintf(keys[k], sizeof(keys[k]), "device-%08d", k * 7919);

    /* build: add until the next record would not fit, then finish */
    size_t records = 0, aggs = 0, len = 0;
    double t0 = cpu_s(), t;
    do {
        for (int r = 0; r < 10000; r++) {
            int k = (int)(records % DISTINCT_KEYS);
            if (kn_agg_builder_add(b, keys[k], klen[k], NULL, 0, data, RECORD_LEN, AGG_MAX) ==
                KN_ERR_TOO_LARGE) {
                if (kn_agg_builder_finish(b, agg, AGG_MAX, &len))
                    return 1;
                kn_agg_builder_reset(b);
                aggs++;
                continue;
            }
            records++;
        }
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    printf("agg build:        %10.0f user records/s  (%zu-byte records, %zu per %zu-byte aggregate)\n",
           (double)records / t, (size_t)RECORD_LEN, aggs ? records / aggs : 0, len);

    /* decode one full aggregate repeatedly (MD5 check included) */
    kn_agg_builder_reset(b);
    for (int r = 0;; r++) {
        int k = r % DISTINCT_KEYS;
        if (kn_agg_builder_add(b, keys[k], klen[k], NULL, 0, data, RECORD_LEN, AGG_MAX) != KN_OK)
            break;
    }
    if (kn_agg_builder_finish(b, agg, AGG_MAX, &len))
        return 1;
    records = 0;
    t0 = cpu_s();
    do {
        for (int i = 0; i < 200; i++) {
            const kn_agg_record_t *recs;
            size_t count;
            if (kn_agg_decode(d, agg, len, &recs, &count))
                return 1;
            records += count;
            sink += recs[count - 1].data_len;
        }
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    printf("agg decode:       %10.0f user records/s  (%.0f MB/s)\n", (double)records / t,
           (double)records * (double)len / (double)kn_agg_builder_count(b) / t / 1e6);

    /* hash keys: one per distinct key of an aggregate, and one per record */
    size_t hashes = 0;
    t0 = cpu_s();
    do {
        for (int i = 0; i < 10000; i++) {
            kn_u128_t h;
            int k = i % DISTINCT_KEYS;
            if (kn_hashkey_from_partition_key_md5(md5, keys[k], klen[k], &h))
                return 1;
            sink += (size_t)h.lo;
        }
        hashes += 10000;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    printf("hash key (reused hasher): %7.0f keys/s\n", (double)hashes / t);
    hashes = 0;
    t0 = cpu_s();
    do {
        for (int i = 0; i < 10000; i++) {
            kn_u128_t h;
            int k = i % DISTINCT_KEYS;
            if (kn_hashkey_from_partition_key(keys[k], klen[k], &h))
                return 1;
            sink += (size_t)h.lo;
        }
        hashes += 10000;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    printf("hash key (one-shot):      %7.0f keys/s\n", (double)hashes / t);
    free(agg);
    kn_md5_destroy(md5);
    kn_agg_decoder_destroy(d);
    kn_agg_builder_destroy(b);
    return 0;
}

static kn_err_t count_event(void *opaque, const kn_es_message_t *m) {
    *(size_t *)opaque += m->payload_len;
    return KN_OK;
}

static int bench_event_stream(void) {
    static const char json[] = "application/json";
    kn_es_header_t h[3] = {kn_es_header_string(KN_ES_HDR_MESSAGE_TYPE, "event"),
                           kn_es_header_string(KN_ES_HDR_EVENT_TYPE, "SubscribeToShardEvent"),
                           kn_es_header_string(KN_ES_HDR_CONTENT_TYPE, json)};
    size_t size, len, bytes = 0;
    uint8_t *payload = malloc(EVENT_LEN);
    if (!payload || kn_es_encoded_size(h, 3, EVENT_LEN, &size))
        return 1;
    uint8_t *msg = malloc(size);
    fill(payload, EVENT_LEN, 2);
    if (!msg || kn_es_encode(h, 3, payload, EVENT_LEN, msg, size, &len))
        return 1;
    kn_es_decoder_t *d = kn_es_decoder_new(count_event, &bytes);
    for (int chunked = 0; chunked < 2; chunked++) {
        bytes = 0;
        double t0 = cpu_s(), t;
        do {
            for (int i = 0; i < 20; i++)
                for (size_t pos = 0; pos < len; pos += chunked ? FRAME_LEN : len) {
                    size_t n = chunked && len - pos > FRAME_LEN ? FRAME_LEN : len - pos;
                    if (kn_es_decoder_feed(d, msg + pos, n))
                        return 1;
                }
        } while ((t = cpu_s() - t0) < MIN_SECONDS);
        printf("event-stream decode, 1 MiB events %s: %6.0f MB/s\n",
               chunked ? "in 16 KiB chunks" : "whole           ", (double)bytes / t / 1e6);
    }
    size_t crc_bytes = 0;
    double t0 = cpu_s(), t;
    do {
        for (int i = 0; i < 20; i++)
            sink += kn_crc32(0, payload, EVENT_LEN);
        crc_bytes += 20 * (size_t)EVENT_LEN;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    printf("crc32:            %10.0f MB/s\n", (double)crc_bytes / t / 1e6);
    kn_es_decoder_destroy(d);
    free(msg);
    free(payload);
    return 0;
}

static int bench_base64_size(size_t n) {
    uint8_t *raw = malloc(n), *back = malloc(n);
    size_t elen = kn_base64_encoded_len(n);
    char *enc = malloc(elen + 1);
    if (!raw || !back || !enc)
        return 1;
    fill(raw, n, 3);
    size_t reps = (4u << 20) / n + 1, total = 0, out;
    double t0 = cpu_s(), t;
    do {
        for (size_t i = 0; i < reps; i++)
            if (kn_base64_encode(raw, n, enc, elen + 1, &out))
                return 1;
        total += reps * n;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    double enc_mbs = (double)total / t / 1e6;
    total = 0;
    t0 = cpu_s();
    do {
        for (size_t i = 0; i < reps; i++)
            if (kn_base64_decode(enc, elen, back, n, &out))
                return 1;
        total += reps * n;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    printf("base64 %7zu-byte blobs: encode %6.0f MB/s, decode %6.0f MB/s (decoded bytes)\n", n, enc_mbs,
           (double)total / t / 1e6);
    free(raw);
    free(back);
    free(enc);
    return 0;
}

/* MD5 of `count` messages of `len` bytes: one kn_md5() call each, then kn_md5_many() batches. */
static int bench_md5_size(size_t len, size_t count, const char *what) {
    uint8_t *buf = malloc(len * count);
    const uint8_t **p = malloc(count * sizeof(*p));
    size_t *n = malloc(count * sizeof(*n));
    uint8_t(*out)[KN_MD5_LEN] = malloc(count * KN_MD5_LEN);
    kn_md5_t *md5 = kn_md5_new();
    if (!buf || !p || !n || !out || !md5)
        return 1;
    fill(buf, len * count, 5);
    for (size_t i = 0; i < count; i++) {
        p[i] = buf + i * len;
        n[i] = len;
    }
    size_t total = 0;
    double t0 = cpu_s(), t;
    do {
        for (size_t i = 0; i < count; i++)
            if (kn_md5(md5, p[i], n[i], out[i]))
                return 1;
        total += count;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    double one = (double)total / t;
    sink += out[0][0];
    total = 0;
    t0 = cpu_s();
    do {
        if (kn_md5_many(p, n, count, out))
            return 1;
        total += count;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    double many = (double)total / t;
    sink += out[0][0];
    printf("md5 %-22s one at a time %9.0f/s (%5.0f MB/s), batched %9.0f/s (%5.0f MB/s)\n", what,
           one, one * (double)len / 1e6, many, many * (double)len / 1e6);
    kn_md5_destroy(md5);
    free(out);
    free(n);
    free(p);
    free(buf);
    return 0;
}

int main(void) {
    if (bench_agg() || bench_event_stream() || bench_base64_size(RECORD_LEN) ||
        bench_base64_size(EVENT_LEN) || bench_md5_size(AGG_MAX, 100, "50 KB aggregates:") ||
        bench_md5_size(20, 400, "20-byte keys:")) {
        fprintf(stderr, "codec_bench: a codec call failed\n");
        return 1;
    }
    return 0;
}
