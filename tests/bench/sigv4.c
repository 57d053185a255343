/*
 * SigV4 signing cost for a Kinesis PutRecords-sized request: with and without
 * the signing-key cache, with a hashed body and with a caller-supplied payload
 * hash. Prints figures; never fails on speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

#define BODY_LEN (100 * 1024)
#define ITERATIONS 2000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *label, const kn_sigv4_request_t *req, const kn_credentials_t *creds,
               kn_sigv4_key_cache_t *cache) {
    double t0 = now_s();
    for (int i = 0; i < ITERATIONS; i++) {
        kn_sigv4_result_t r;
        if (kn_sigv4_sign_cached(req, creds, cache, &r, 0) != KN_OK) {
            fprintf(stderr, "%s: signing failed\n", label);
            return 0;
        }
        kn_sigv4_result_clear(&r);
    }
    double us = (now_s() - t0) / ITERATIONS * 1e6;
    printf("%-40s %8.1f us/request\n", label, us);
    return 1;
}

int main(void) {
    uint8_t *body = malloc(BODY_LEN);
    if (!body)
        return 1;
    for (size_t i = 0; i < BODY_LEN; i++)
        body[i] = (uint8_t)(i * 31 + 1);
    char akid[] = "AKIDEXAMPLE", secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    kn_credentials_t creds = {akid, secret, NULL, 0};
    const kn_header_t h[] = {{"Host", "kinesis.us-east-1.amazonaws.com"},
                             {"Content-Type", "application/x-amz-json-1.1"},
                             {"X-Amz-Target", "Kinesis_20131202.PutRecords"}};
    kn_sigv4_request_t req = {.method = "POST", .path = "/", .headers = h, .nheaders = 3,
                              .body = body, .body_len = BODY_LEN, .service = "kinesis",
                              .region = "us-east-1", .when = time(NULL)};
    kn_sigv4_key_cache_t cache = {0};
    int ok = run("100 KiB body, no key cache", &req, &creds, NULL) &&
             run("100 KiB body, key cache", &req, &creds, &cache);
    req.body_len = 0;
    ok = ok && run("empty body, no key cache", &req, &creds, NULL) &&
         run("empty body, key cache", &req, &creds, &cache);
    req.payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    ok = ok && run("given payload hash, key cache", &req, &creds, &cache);
    kn_sigv4_key_cache_clear(&cache);
    free(body);
    return ok ? 0 : 1;
}
