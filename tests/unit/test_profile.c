/* The shared config/credentials file parser (common/profile.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn_test.h"
#include "kn_test_sandbox.h"
#include "profile.h"

static char dir[64];

static void setup(void) { kn_test_sandbox_enter(dir, sizeof(dir)); }
static void teardown(void) { kn_test_sandbox_remove(dir); }

static kn_profile_file_t *parse_ok(const char *text, kn_profile_kind_t kind) {
    kn_profile_file_t *f = NULL;
    kn_error_t *err = NULL;
    kn_err_t rc = kn_profile_parse(text, strlen(text), kind, "t", &f, &err);
    ck_assert_msg(rc == KN_OK, "parse: %s", kn_error_message(err));
    ck_assert_ptr_null(err);
    ck_assert_ptr_nonnull(f);
    return f;
}

/* Parses `text`, expecting `code` and a message starting with "t:<line>: ". */
static void parse_fails(const char *text, size_t len, kn_err_t code, int line) {
    kn_profile_file_t *f = (kn_profile_file_t *)1;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_profile_parse(text, len, KN_PROFILE_CONFIG, "t", &f, &err), code);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(kn_error_code(err), code);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "t:%d: ", line);
    ck_assert_msg(!strncmp(kn_error_message(err), prefix, strlen(prefix)), "message '%s'",
                  kn_error_message(err));
    kn_error_destroy(err);
}
#define PARSE_FAILS(literal, code, line) parse_fails(literal, sizeof(literal) - 1, code, line)

START_TEST(config_sections_and_keys) {
    kn_profile_file_t *f = parse_ok("# leading comment\n"
                                    "; another\n"
                                    "\n"
                                    "[default]\n"
                                    "region=us-east-1\n"
                                    "output =  json  \n"
                                    "[profile dev]   # trailing comment\n"
                                    "  region   =   eu-west-1\n"
                                    "Aws_Access_Key_Id = AKIDDEV\n"
                                    "url = http://h/?a=b#c\n"
                                    "empty =\n"
                                    "[dev]\n"
                                    "region = ignored-1\n"
                                    "[sso-session corp]\n"
                                    "region = ignored-2\n"
                                    "[profile  spaced  ]\n"
                                    "region = ap-south-1\n",
                                    KN_PROFILE_CONFIG);
    ck_assert_str_eq(kn_profile_get(f, "default", "region"), "us-east-1");
    ck_assert_str_eq(kn_profile_get(f, "default", "output"), "json");
    ck_assert_str_eq(kn_profile_get(f, "dev", "region"), "eu-west-1");
    /* keys match case-insensitively */
    ck_assert_str_eq(kn_profile_get(f, "dev", "aws_access_key_id"), "AKIDDEV");
    /* values are literal: '=' and '#' inside them stay */
    ck_assert_str_eq(kn_profile_get(f, "dev", "url"), "http://h/?a=b#c");
    ck_assert_str_eq(kn_profile_get(f, "dev", "empty"), "");
    ck_assert_str_eq(kn_profile_get(f, "spaced", "region"), "ap-south-1");
    ck_assert_ptr_null(kn_profile_get(f, "dev", "output"));
    ck_assert_ptr_null(kn_profile_get(f, "sso-session corp", "region"));
    ck_assert_ptr_null(kn_profile_get(f, "corp", "region"));
    ck_assert(kn_profile_has(f, "default"));
    ck_assert(kn_profile_has(f, "dev"));
    ck_assert(!kn_profile_has(f, "sso-session corp"));
    ck_assert(!kn_profile_has(f, "nope"));
    ck_assert_ptr_null(kn_profile_get(f, NULL, "region"));
    ck_assert_ptr_null(kn_profile_get(f, "dev", NULL));
    ck_assert_ptr_null(kn_profile_get(NULL, "dev", "region"));
    ck_assert(!kn_profile_has(NULL, "dev"));
    kn_profile_file_destroy(f);
    kn_profile_file_destroy(NULL);
}
END_TEST

START_TEST(credentials_sections_are_names) {
    kn_profile_file_t *f = parse_ok("[default]\naws_access_key_id = A\n"
                                    "[dev]\naws_access_key_id = B\n"
                                    "[profile prod]\naws_access_key_id = C\n",
                                    KN_PROFILE_CREDENTIALS);
    ck_assert_str_eq(kn_profile_get(f, "default", "aws_access_key_id"), "A");
    ck_assert_str_eq(kn_profile_get(f, "dev", "aws_access_key_id"), "B");
    /* in the credentials file the section name is taken literally */
    ck_assert_ptr_null(kn_profile_get(f, "prod", "aws_access_key_id"));
    ck_assert_str_eq(kn_profile_get(f, "profile prod", "aws_access_key_id"), "C");
    kn_profile_file_destroy(f);
}
END_TEST

START_TEST(crlf_and_bom) {
    kn_profile_file_t *f = parse_ok("\xEF\xBB\xBF[default]\r\nregion = us-west-2\r\n"
                                    "aws_secret_access_key = s\r\n\r\n# c\r\n"
                                    "[profile x]\r\nregion = eu-north-1",
                                    KN_PROFILE_CONFIG);
    ck_assert_str_eq(kn_profile_get(f, "default", "region"), "us-west-2");
    ck_assert_str_eq(kn_profile_get(f, "default", "aws_secret_access_key"), "s");
    ck_assert_str_eq(kn_profile_get(f, "x", "region"), "eu-north-1");
    kn_profile_file_destroy(f);
}
END_TEST

START_TEST(nested_subsections_skipped) {
    kn_profile_file_t *f = parse_ok("[default]\n"
                                    "s3 =\n"
                                    "  max_concurrent_requests = 20\n"
                                    "  region = not-this-one\n"
                                    "\tsignature_version = s3v4\n"
                                    "region = us-east-2\n"
                                    "ca_bundle = first\n"
                                    "   continued line\n"
                                    "[profile p]\n"
                                    "  region = indented-after-header\n",
                                    KN_PROFILE_CONFIG);
    ck_assert_str_eq(kn_profile_get(f, "default", "region"), "us-east-2");
    ck_assert_ptr_null(kn_profile_get(f, "default", "max_concurrent_requests"));
    ck_assert_str_eq(kn_profile_get(f, "default", "s3"), "");
    ck_assert_str_eq(kn_profile_get(f, "default", "ca_bundle"), "first");
    ck_assert_str_eq(kn_profile_get(f, "p", "region"), "indented-after-header");
    kn_profile_file_destroy(f);
}
END_TEST

START_TEST(repeats_merge_later_wins) {
    kn_profile_file_t *f = parse_ok("[default]\nregion = a\noutput = text\n"
                                    "[profile default]\nregion = b\n"
                                    "[profile x]\nregion = c\nregion = d\n"
                                    "[default]\nextra = e\n",
                                    KN_PROFILE_CONFIG);
    ck_assert_str_eq(kn_profile_get(f, "default", "region"), "b");
    ck_assert_str_eq(kn_profile_get(f, "default", "output"), "text");
    ck_assert_str_eq(kn_profile_get(f, "default", "extra"), "e");
    ck_assert_str_eq(kn_profile_get(f, "x", "region"), "d");
    kn_profile_file_destroy(f);
}
END_TEST

START_TEST(empty_and_comment_only) {
    kn_profile_file_t *f = parse_ok("", KN_PROFILE_CONFIG);
    ck_assert(!kn_profile_has(f, "default"));
    kn_profile_file_destroy(f);
    f = parse_ok("# nothing\n\n   \n; here\n", KN_PROFILE_CREDENTIALS);
    ck_assert(!kn_profile_has(f, "default"));
    kn_profile_file_destroy(f);
}
END_TEST

START_TEST(malformed_lines) {
    /* the secret-looking text of a bad line never appears in the message */
    const char *secret_line = "[default]\nregion = x\nwJalrXUtnFEMIK7MDENGbPxRfiCYSECRET\n";
    kn_error_t *err = NULL;
    kn_profile_file_t *f = NULL;
    ck_assert_int_eq(kn_profile_parse(secret_line, strlen(secret_line), KN_PROFILE_CREDENTIALS,
                                      "/x/credentials", &f, &err),
                     KN_ERR_INVALID_ARG);
    ck_assert_str_eq(kn_error_message(err), "/x/credentials:3: expected 'key = value'");
    kn_error_destroy(err);

    PARSE_FAILS("region = x\n[default]\n", KN_ERR_INVALID_ARG, 1);
    PARSE_FAILS("[default\nregion = x\n", KN_ERR_INVALID_ARG, 1);
    PARSE_FAILS("\n[default] junk\n", KN_ERR_INVALID_ARG, 2);
    PARSE_FAILS("[ ]\n", KN_ERR_INVALID_ARG, 1);
    /* "[profile ]" names no profile: a section like any other non-profile one */
    kn_profile_file_t *ign = parse_ok("[profile   ]\nregion = x\n", KN_PROFILE_CONFIG);
    ck_assert(!kn_profile_has(ign, "") && !kn_profile_has(ign, "profile"));
    kn_profile_file_destroy(ign);
    PARSE_FAILS("[default]\n = value\n", KN_ERR_INVALID_ARG, 2);
    /* a NUL byte, invalid UTF-8 (with the line it is on) */
    PARSE_FAILS("[default]\nre\0gion = x\n", KN_ERR_INVALID_ARG, 2);
    PARSE_FAILS("[default]\r\nregion = x\r\nname = \xC3\x28\r\n", KN_ERR_BAD_UTF8, 3);
    PARSE_FAILS("[default]\nname = \xED\xA0\x80\n", KN_ERR_BAD_UTF8, 2);
    /* valid UTF-8 passes */
    kn_profile_file_t *ok = parse_ok("[default]\nname = caf\xC3\xA9 \xF0\x9F\x98\x80\n",
                                     KN_PROFILE_CONFIG);
    ck_assert_str_eq(kn_profile_get(ok, "default", "name"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
    kn_profile_file_destroy(ok);

    /* bad arguments */
    ck_assert_int_eq(kn_profile_parse(NULL, 3, KN_PROFILE_CONFIG, "t", &f, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_profile_parse("", 0, KN_PROFILE_CONFIG, "t", NULL, NULL), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(line_and_file_limits) {
    size_t n = KN_PROFILE_MAX_LINE_BYTES;
    char *text = malloc(n + 64);
    /* exactly at the limit (CR not counted) */
    int h = snprintf(text, 64, "[default]\nk = ");
    memset(text + h, 'v', n - 4);
    memcpy(text + h + n - 4, "\r\n", 3);
    kn_profile_file_t *f = parse_ok(text, KN_PROFILE_CONFIG);
    ck_assert_uint_eq(strlen(kn_profile_get(f, "default", "k")), n - 4);
    kn_profile_file_destroy(f);
    /* one byte over */
    memset(text + h, 'v', n - 3);
    memcpy(text + h + n - 3, "\n", 2);
    parse_fails(text, strlen(text), KN_ERR_TOO_LARGE, 2);
    free(text);

    /* a file over 1 MiB is refused, through parse and through load */
    size_t big = KN_PROFILE_MAX_FILE_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    for (size_t i = 79; i < big; i += 80)
        huge[i] = '\n';
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_profile_parse(huge, big, KN_PROFILE_CONFIG, "t", &f, &err),
                     KN_ERR_TOO_LARGE);
    kn_error_destroy(err);
    char path[4096];
    kn_test_write_file(dir, "huge", huge, big, path, sizeof(path));
    err = NULL;
    ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CONFIG, &f, &err), KN_ERR_TOO_LARGE);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), path));
    kn_error_destroy(err);
    /* at the limit it loads */
    kn_test_write_file(dir, "max", huge, big - 1, path, sizeof(path));
    ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CONFIG, &f, NULL), KN_OK);
    ck_assert_ptr_nonnull(f);
    kn_profile_file_destroy(f);
    free(huge);
}
END_TEST

START_TEST(load_files) {
    char path[4096];
    kn_profile_file_t *f = (kn_profile_file_t *)1;
    kn_error_t *err = NULL;
    /* missing: not an error */
    snprintf(path, sizeof(path), "%s/none", dir);
    ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CONFIG, &f, &err), KN_OK);
    ck_assert_ptr_null(f);
    ck_assert_ptr_null(err);
    snprintf(path, sizeof(path), "%s/none/deeper", dir);
    ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CONFIG, &f, &err), KN_OK);
    ck_assert_ptr_null(f);
    /* a directory */
    ck_assert_int_eq(kn_profile_load(dir, KN_PROFILE_CONFIG, &f, &err), KN_ERR_FILE);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "not a regular file"));
    kn_error_destroy(err);
    /* a real one */
    const char *text = "[profile a]\nregion = sa-east-1\n";
    kn_test_write_file(dir, "cfg", text, strlen(text), path, sizeof(path));
    ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CONFIG, &f, NULL), KN_OK);
    ck_assert_str_eq(kn_profile_get(f, "a", "region"), "sa-east-1");
    kn_profile_file_destroy(f);
    /* malformed: the path and line are named */
    kn_test_write_file(dir, "bad", "[a]\noops\n", 9, path, sizeof(path));
    err = NULL;
    ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CREDENTIALS, &f, &err), KN_ERR_INVALID_ARG);
    char want[4200];
    snprintf(want, sizeof(want), "%s:2: expected 'key = value'", path);
    ck_assert_str_eq(kn_error_message(err), want);
    kn_error_destroy(err);
    /* unreadable (root reads anything, so only checked for other users) */
    if (geteuid() != 0) {
        chmod(path, 0);
        err = NULL;
        ck_assert_int_eq(kn_profile_load(path, KN_PROFILE_CREDENTIALS, &f, &err), KN_ERR_FILE);
        ck_assert_ptr_nonnull(strstr(kn_error_message(err), "cannot open"));
        kn_error_destroy(err);
    }
    ck_assert_int_eq(kn_profile_load(NULL, KN_PROFILE_CONFIG, &f, NULL), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_profile_load("", KN_PROFILE_CONFIG, &f, NULL), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(profile_name_choice) {
    char name[KN_PROFILE_MAX_NAME + 1];
    ck_assert_int_eq(kn_profile_name(NULL, name, sizeof(name), NULL), KN_OK);
    ck_assert_str_eq(name, "default");
    setenv("AWS_PROFILE", "fromenv", 1);
    ck_assert_int_eq(kn_profile_name("", name, sizeof(name), NULL), KN_OK);
    ck_assert_str_eq(name, "fromenv");
    ck_assert_int_eq(kn_profile_name("fromconf", name, sizeof(name), NULL), KN_OK);
    ck_assert_str_eq(name, "fromconf");
    setenv("AWS_PROFILE", "", 1);
    ck_assert_int_eq(kn_profile_name(NULL, name, sizeof(name), NULL), KN_OK);
    ck_assert_str_eq(name, "default");
    char lng[KN_PROFILE_MAX_NAME + 2];
    memset(lng, 'p', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    setenv("AWS_PROFILE", lng, 1);
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_profile_name(NULL, name, sizeof(name), &err), KN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "AWS_PROFILE"));
    kn_error_destroy(err);
    lng[KN_PROFILE_MAX_NAME] = '\0';
    ck_assert_int_eq(kn_profile_name(lng, name, sizeof(name), NULL), KN_OK);
    ck_assert_str_eq(name, lng);
}
END_TEST

START_TEST(locate_shared_files) {
    kn_profile_src_t src;
    char want[4096], desc[4200];
    /* default locations under HOME, absent */
    ck_assert_int_eq(kn_profile_src_load(&src, KN_PROFILE_CREDENTIALS, NULL), KN_OK);
    snprintf(want, sizeof(want), "%s/.aws/credentials", dir);
    ck_assert_str_eq(src.path, want);
    ck_assert_ptr_null(src.file);
    ck_assert_str_eq(src.absent, "no such file");
    snprintf(want, sizeof(want), "%s/.aws/credentials (no such file)", dir);
    ck_assert_str_eq(kn_profile_src_describe(&src, desc, sizeof(desc)), want);
    kn_profile_src_clear(&src);
    /* present */
    kn_test_write_file(dir, ".aws/config", "[default]\nregion = r\n", 21, NULL, 0);
    ck_assert_int_eq(kn_profile_src_load(&src, KN_PROFILE_CONFIG, NULL), KN_OK);
    ck_assert_ptr_null(src.absent);
    ck_assert_str_eq(kn_profile_get(src.file, "default", "region"), "r");
    snprintf(want, sizeof(want), "%s/.aws/config", dir);
    ck_assert_str_eq(kn_profile_src_describe(&src, desc, sizeof(desc)), want);
    kn_profile_src_clear(&src);
    /* the variables win; "~/" is expanded */
    kn_test_write_file(dir, "elsewhere/conf", "[profile q]\nregion = q1\n", 24, want, sizeof(want));
    setenv("AWS_CONFIG_FILE", want, 1);
    ck_assert_int_eq(kn_profile_src_load(&src, KN_PROFILE_CONFIG, NULL), KN_OK);
    ck_assert_str_eq(kn_profile_get(src.file, "q", "region"), "q1");
    kn_profile_src_clear(&src);
    setenv("AWS_CONFIG_FILE", "~/elsewhere/conf", 1);
    ck_assert_int_eq(kn_profile_src_load(&src, KN_PROFILE_CONFIG, NULL), KN_OK);
    ck_assert_str_eq(src.path, want);
    ck_assert_str_eq(kn_profile_get(src.file, "q", "region"), "q1");
    kn_profile_src_clear(&src);
    /* no HOME: absent, not an error */
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("HOME");
    ck_assert_int_eq(kn_profile_src_load(&src, KN_PROFILE_CONFIG, NULL), KN_OK);
    ck_assert_str_eq(src.path, "~/.aws/config");
    ck_assert_str_eq(src.absent, "HOME not set");
    kn_profile_src_clear(&src);
    /* a path too long for the buffer */
    char lng[KN_PROFILE_PATH_MAX + 10];
    memset(lng, 'a', sizeof(lng) - 1);
    lng[0] = '/';
    lng[sizeof(lng) - 1] = '\0';
    setenv("AWS_SHARED_CREDENTIALS_FILE", lng, 1);
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_profile_src_load(&src, KN_PROFILE_CREDENTIALS, &err), KN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "AWS_SHARED_CREDENTIALS_FILE"));
    kn_error_destroy(err);
    kn_profile_src_clear(&src);
    kn_profile_src_clear(NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_sections_and_keys);
    tcase_add_test(tc, credentials_sections_are_names);
    tcase_add_test(tc, crlf_and_bom);
    tcase_add_test(tc, nested_subsections_skipped);
    tcase_add_test(tc, repeats_merge_later_wins);
    tcase_add_test(tc, empty_and_comment_only);
    tcase_add_test(tc, malformed_lines);
    tcase_add_test(tc, line_and_file_limits);
    tcase_add_test(tc, load_files);
    tcase_add_test(tc, profile_name_choice);
    tcase_add_test(tc, locate_shared_files);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
