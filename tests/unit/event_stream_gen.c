/*
 * Event-stream messages encoded by kinesis-c, for test_event_stream_botocore.sh
 * to decode with botocore. Usage: event_stream_gen SEED COUNT MESSAGES_FILE.
 * Writes COUNT messages back to back to MESSAGES_FILE and prints, one JSON
 * object per line, what each holds: headers as [name, type, value] (bytes and
 * UUIDs in hex) and the payload in hex.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_stream.h"

#define MAX_HEADERS 12
#define MAX_PAYLOAD 70000

static uint64_t rng_state;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void print_hex(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: event_stream_gen SEED COUNT MESSAGES_FILE\n");
        return 2;
    }
    rng_state = strtoull(argv[1], NULL, 10) | 1;
    long count = strtol(argv[2], NULL, 10);
    FILE *out = fopen(argv[3], "wb");
    if (!out)
        return 1;
    static uint8_t payload[MAX_PAYLOAD], values[MAX_HEADERS][64], msg[MAX_PAYLOAD + 4096];
    static char names[MAX_HEADERS][32];
    for (long m = 0; m < count; m++) {
        kn_es_header_t h[MAX_HEADERS];
        size_t nh = rnd() % (MAX_HEADERS + 1);
        for (size_t i = 0; i < nh; i++) {
            /* distinct names: botocore returns headers as a dict */
            snprintf(names[i], sizeof(names[i]), ":h%zu-%u", i, rnd() % 1000);
            h[i] = (kn_es_header_t){.name = names[i], .name_len = strlen(names[i]),
                                    .type = (kn_es_type_t)(rnd() % 10)};
            int64_t big = (int64_t)((uint64_t)rnd() << 32 | rnd());
            switch (h[i].type) {
            case KN_ES_BYTE: h[i].int_value = (int8_t)rnd(); break;
            case KN_ES_INT16: h[i].int_value = (int16_t)rnd(); break;
            case KN_ES_INT32: h[i].int_value = (int32_t)rnd(); break;
            case KN_ES_INT64: case KN_ES_TIMESTAMP: h[i].int_value = big; break;
            case KN_ES_BYTES: case KN_ES_STRING: case KN_ES_UUID:
                h[i].value_len = h[i].type == KN_ES_UUID ? KN_ES_UUID_LEN : rnd() % 64;
                for (size_t k = 0; k < h[i].value_len; k++)
                    values[i][k] = h[i].type == KN_ES_STRING ? (uint8_t)(' ' + rnd() % 95) : (uint8_t)rnd();
                h[i].value = values[i];
                break;
            default: break;
            }
        }
        size_t plen = rnd() % 4 ? rnd() % 200 : rnd() % MAX_PAYLOAD;
        for (size_t i = 0; i < plen; i++)
            payload[i] = (uint8_t)rnd();
        size_t len;
        if (kn_es_encode(h, nh, payload, plen, msg, sizeof(msg), &len) != KN_OK ||
            fwrite(msg, 1, len, out) != len)
            return 1;
        printf("{\"headers\": [");
        for (size_t i = 0; i < nh; i++) {
            printf("%s[\"%s\", %d, ", i ? ", " : "", names[i], (int)h[i].type);
            if (h[i].value) {
                putchar('"');
                print_hex(h[i].value, h[i].value_len);
                putchar('"');
            } else {
                printf("%" PRId64, h[i].int_value);
            }
            putchar(']');
        }
        printf("], \"payload\": \"");
        print_hex(payload, plen);
        printf("\"}\n");
    }
    return fclose(out) ? 1 : 0;
}
