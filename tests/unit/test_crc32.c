/* CRC-32/IEEE: the constant slicing tables and the fast loop against a bitwise reference. */
#include <stdint.h>
#include <string.h>

#include "crc32.h"
#include "kn_test.h"

#define POLY 0xEDB88320u

/* The definition: one bit at a time. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ ((crc & 1) ? POLY : 0);
    }
    return ~crc;
}

START_TEST(tables_match_definition) {
    for (unsigned b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        /* table 0 is the CRC register update for one byte from a zero register */
        ck_assert_uint_eq(kn_crc32_tables[0][b], ~crc_bitwise(0xffffffffu, &byte, 1));
        for (int k = 1; k < 8; k++) {
            uint32_t prev = kn_crc32_tables[k - 1][b];
            ck_assert_uint_eq(kn_crc32_tables[k][b], (prev >> 8) ^ kn_crc32_tables[0][prev & 0xff]);
        }
    }
}
END_TEST

START_TEST(known_values) {
    ck_assert_uint_eq(kn_crc32(0, "123456789", 9), 0xCBF43926u); /* the standard check value */
    ck_assert_uint_eq(kn_crc32(0, NULL, 0), 0);
    ck_assert_uint_eq(kn_crc32(0, "a", 1), 0xE8B7BE43u);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    ck_assert_uint_eq(kn_crc32(0, fox, strlen(fox)), 0x414FA339u);
}
END_TEST

START_TEST(random_lengths_alignments_and_chaining) {
    uint8_t buf[1100];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += (n < 40 ? 1 : 37)) {
            uint32_t want = crc_bitwise(0, buf + off, n);
            ck_assert_uint_eq(kn_crc32(0, buf + off, n), want);
            size_t cut = n / 3;
            ck_assert_uint_eq(kn_crc32(kn_crc32(0, buf + off, cut), buf + off + cut, n - cut), want);
        }
}
END_TEST

static Suite *crc32_suite(void) {
    Suite *s = suite_create("crc32");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, tables_match_definition);
    tcase_add_test(tc, known_values);
    tcase_add_test(tc, random_lengths_alignments_and_chaining);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(crc32_suite)
