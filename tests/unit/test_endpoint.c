/* Region and endpoint resolution and URL parsing (common/endpoint.c). Strings only: no host is contacted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "kn_test.h"
#include "kn_test_sandbox.h"

static char dir[64];

static void setup(void) { kn_test_sandbox_enter(dir, sizeof(dir)); }
static void teardown(void) { kn_test_sandbox_remove(dir); }

static void write_config(const char *text) {
    kn_test_write_file(dir, ".aws/config", text, strlen(text), NULL, 0);
}

/* Resolves the region expecting KN_OK and `want`. */
static void region_is(const kn_conf_t *conf, const char *want) {
    char buf[KN_REGION_MAX + 1];
    kn_error_t *err = NULL;
    kn_err_t rc = kn_region_resolve_err(conf, buf, sizeof(buf), &err);
    ck_assert_msg(rc == KN_OK, "%s: %s", kn_err2name(rc), kn_error_message(err));
    ck_assert_str_eq(buf, want);
}

/* Resolves the region expecting `code` and a message containing `part`. */
static void region_fails(const kn_conf_t *conf, kn_err_t code, const char *part) {
    char buf[KN_REGION_MAX + 1];
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_region_resolve_err(conf, buf, sizeof(buf), &err), code);
    ck_assert_str_eq(buf, "");
    ck_assert_msg(strstr(kn_error_message(err), part), "'%s' lacks '%s'", kn_error_message(err),
                  part);
    kn_error_destroy(err);
}

START_TEST(region_precedence) {
    kn_conf_t *conf = kn_conf_new();
    write_config("[default]\nregion = ap-southeast-2\n[profile dev]\nregion = eu-central-1\n");
    region_is(conf, "ap-southeast-2");
    setenv("AWS_PROFILE", "dev", 1);
    region_is(conf, "eu-central-1");
    ck_assert_int_eq(kn_conf_set(conf, "profile", "default", NULL, 0), KN_OK);
    region_is(conf, "ap-southeast-2");
    setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
    region_is(conf, "us-west-1");
    setenv("AWS_REGION", "us-west-2", 1);
    region_is(conf, "us-west-2");
    ck_assert_int_eq(kn_conf_set(conf, "region", "eu-west-3", NULL, 0), KN_OK);
    region_is(conf, "eu-west-3");
    /* empty values count as unset */
    ck_assert_int_eq(kn_conf_set(conf, "region", "", NULL, 0), KN_OK);
    setenv("AWS_REGION", "", 1);
    region_is(conf, "us-west-1");
    /* NULL conf: environment and files only */
    region_is(NULL, "us-west-1");
    /* the config file named by AWS_CONFIG_FILE */
    unsetenv("AWS_DEFAULT_REGION");
    char path[4096];
    kn_test_write_file(dir, "other/cfg", "[default]\nregion = me-south-1\n", 30, path, sizeof(path));
    setenv("AWS_CONFIG_FILE", path, 1);
    region_is(conf, "me-south-1");
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(region_missing) {
    char want[256];
    /* no file at all */
    snprintf(want, sizeof(want), "profile 'default' in %s/.aws/config (no such file)", dir);
    region_fails(NULL, KN_ERR_NO_REGION, want);
    /* the profile has no region; the credentials file is not consulted */
    write_config("[profile x]\nregion = us-east-1\n[default]\noutput = json\n");
    kn_test_write_file(dir, ".aws/credentials", "[default]\nregion = us-east-1\n", 29, NULL, 0);
    region_fails(NULL, KN_ERR_NO_REGION, "no region: conf region, AWS_REGION and AWS_DEFAULT_REGION");
    setenv("AWS_PROFILE", "nope", 1);
    region_fails(NULL, KN_ERR_NO_REGION, "profile 'nope'");
    /* a malformed config file is reported as such */
    write_config("[default]\nregion us-east-1\n");
    snprintf(want, sizeof(want), "%s/.aws/config:2: expected 'key = value'", dir);
    region_fails(NULL, KN_ERR_INVALID_ARG, want);
    char buf[8];
    ck_assert_int_eq(kn_region_resolve(NULL, buf, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_region_resolve(NULL, NULL, 8), KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(region_validation) {
    kn_conf_t *conf = kn_conf_new();
    ck_assert(kn_region_valid("us-east-1"));
    ck_assert(kn_region_valid("cn-northwest-1"));
    ck_assert(!kn_region_valid("US-EAST-1"));
    ck_assert(!kn_region_valid("us east 1"));
    ck_assert(!kn_region_valid("us_east_1"));
    ck_assert(!kn_region_valid("us-east-1.evil.com"));
    ck_assert(!kn_region_valid(""));
    ck_assert(!kn_region_valid(NULL));
    char lng[KN_REGION_MAX + 2];
    memset(lng, 'a', sizeof(lng) - 1);
    lng[KN_REGION_MAX] = '\0';
    ck_assert(kn_region_valid(lng));
    lng[KN_REGION_MAX] = 'a';
    lng[KN_REGION_MAX + 1] = '\0';
    ck_assert(!kn_region_valid(lng));

    setenv("AWS_REGION", "Us-East-1", 1);
    region_fails(conf, KN_ERR_INVALID_ARG, "AWS_REGION: not a region name");
    ck_assert_int_eq(kn_conf_set(conf, "region", "eu west", NULL, 0), KN_OK);
    region_fails(conf, KN_ERR_INVALID_ARG, "conf region: not a region name");
    unsetenv("AWS_REGION");
    ck_assert_int_eq(kn_conf_set(conf, "region", "", NULL, 0), KN_OK);
    write_config("[default]\nregion = eu/west\n");
    region_fails(conf, KN_ERR_INVALID_ARG, "region of profile 'default'");
    /* a buffer too small for a valid name */
    ck_assert_int_eq(kn_conf_set(conf, "region", "ap-northeast-1", NULL, 0), KN_OK);
    char small[8];
    ck_assert_int_eq(kn_region_resolve(conf, small, sizeof(small)), KN_ERR_TOO_LARGE);
    kn_conf_destroy(conf);
}
END_TEST

/* Resolves expecting KN_OK and `want`. */
static void endpoint_is(const kn_conf_t *conf, const char *service, const char *region,
                        const char *want) {
    char buf[KN_URL_MAX + 1];
    kn_error_t *err = NULL;
    kn_err_t rc = kn_endpoint_resolve_err(conf, service, region, buf, sizeof(buf), &err);
    ck_assert_msg(rc == KN_OK, "%s: %s", kn_err2name(rc), kn_error_message(err));
    ck_assert_str_eq(buf, want);
}

static void endpoint_fails(const kn_conf_t *conf, const char *service, const char *region,
                           kn_err_t code, const char *message) {
    char buf[KN_URL_MAX + 1];
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_endpoint_resolve_err(conf, service, region, buf, sizeof(buf), &err), code);
    ck_assert_str_eq(buf, "");
    ck_assert_str_eq(kn_error_message(err), message);
    kn_error_destroy(err);
}

START_TEST(endpoint_defaults) {
    endpoint_is(NULL, "kinesis", "us-east-1", "https://kinesis.us-east-1.amazonaws.com");
    endpoint_is(NULL, "dynamodb", "eu-west-1", "https://dynamodb.eu-west-1.amazonaws.com");
    endpoint_is(NULL, "sts", "ap-south-1", "https://sts.ap-south-1.amazonaws.com");
    endpoint_is(NULL, "kinesis", "cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn");
    endpoint_is(NULL, "dynamodb", "cn-northwest-1",
                "https://dynamodb.cn-northwest-1.amazonaws.com.cn");
    endpoint_fails(NULL, "kinesis", NULL, KN_ERR_NO_REGION,
                   "kinesis: no region to build the default endpoint");
    endpoint_fails(NULL, "kinesis", "", KN_ERR_NO_REGION,
                   "kinesis: no region to build the default endpoint");
    endpoint_fails(NULL, "kinesis", "evil.com/x", KN_ERR_INVALID_ARG, "kinesis: not a region name");
    endpoint_fails(NULL, "s3", "us-east-1", KN_ERR_INVALID_ARG, "no endpoint rules for service 's3'");
    endpoint_fails(NULL, NULL, "us-east-1", KN_ERR_INVALID_ARG,
                   "no endpoint rules for service '(null)'");
    char small[16];
    ck_assert_int_eq(kn_endpoint_resolve(NULL, "kinesis", "us-east-1", small, sizeof(small)),
                     KN_ERR_TOO_LARGE);
    ck_assert_int_eq(kn_endpoint_resolve(NULL, "kinesis", "us-east-1", NULL, 10),
                     KN_ERR_INVALID_ARG);
}
END_TEST

START_TEST(endpoint_precedence) {
    kn_conf_t *conf = kn_conf_new();
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4000", 1);
    endpoint_is(conf, "kinesis", "us-east-1", "http://127.0.0.1:4000");
    endpoint_is(conf, "sts", NULL, "http://127.0.0.1:4000");
    setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567/", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000", 1);
    setenv("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9443/sts/", 1);
    endpoint_is(conf, "kinesis", "us-east-1", "http://127.0.0.1:4567");
    endpoint_is(conf, "dynamodb", "us-east-1", "http://localhost:8000");
    endpoint_is(conf, "sts", "us-east-1", "https://127.0.0.1:9443/sts");
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", "http://[::1]:4568//", NULL, 0),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "dynamodb.endpoint.url", "HTTP://LOCALHOST:8001", NULL, 0),
                     KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "sts.endpoint.url", "https://127.0.0.1:9444", NULL, 0),
                     KN_OK);
    /* only one trailing '/' is removed; the text is otherwise kept */
    endpoint_is(conf, "kinesis", "us-east-1", "http://[::1]:4568/");
    endpoint_is(conf, "dynamodb", "us-east-1", "HTTP://LOCALHOST:8001");
    endpoint_is(conf, "sts", "us-east-1", "https://127.0.0.1:9444");
    /* empty values count as unset */
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", "", NULL, 0), KN_OK);
    setenv("AWS_ENDPOINT_URL_KINESIS", "", 1);
    endpoint_is(conf, "kinesis", "us-east-1", "http://127.0.0.1:4000");
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(endpoint_rejected) {
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", "ftp://127.0.0.1", NULL, 0), KN_OK);
    endpoint_fails(conf, "kinesis", "us-east-1", KN_ERR_INVALID_ARG,
                   "kinesis.endpoint.url: scheme must be http:// or https://");
    /* the message never repeats the URL: it may hold a password */
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", "http://user:hunter2@127.0.0.1",
                                 NULL, 0),
                     KN_OK);
    endpoint_fails(conf, "kinesis", "us-east-1", KN_ERR_INVALID_ARG,
                   "kinesis.endpoint.url: user info (user@host) is not allowed");
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "127.0.0.1:8000", 1);
    endpoint_fails(conf, "dynamodb", "us-east-1", KN_ERR_INVALID_ARG,
                   "AWS_ENDPOINT_URL_DYNAMODB: scheme must be http:// or https://");
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:99999", 1);
    endpoint_fails(conf, "sts", "us-east-1", KN_ERR_INVALID_ARG,
                   "AWS_ENDPOINT_URL: port must be a number in 1..65535");
    char lng[KN_URL_MAX + 20];
    snprintf(lng, sizeof(lng), "http://127.0.0.1/");
    memset(lng + 17, 'p', sizeof(lng) - 18);
    lng[sizeof(lng) - 1] = '\0';
    setenv("AWS_ENDPOINT_URL", lng, 1);
    endpoint_fails(conf, "sts", "us-east-1", KN_ERR_TOO_LARGE,
                   "AWS_ENDPOINT_URL: URL longer than 1024 characters");
    kn_conf_destroy(conf);
}
END_TEST

typedef struct {
    const char *url;
    int https, port;
    const char *host, *authority, *path;
} url_case_t;

START_TEST(url_parse_valid) {
    static const url_case_t cases[] = {
        {"http://localhost:4567", 0, 4567, "localhost", "localhost:4567", "/"},
        {"http://127.0.0.1", 0, 80, "127.0.0.1", "127.0.0.1", "/"},
        {"https://kinesis.us-east-1.amazonaws.com", 1, 443, "kinesis.us-east-1.amazonaws.com",
         "kinesis.us-east-1.amazonaws.com", "/"},
        {"https://h:443/", 1, 443, "h", "h", "/"},
        {"http://h:443", 0, 443, "h", "h:443", "/"},
        {"https://h:80", 1, 80, "h", "h:80", "/"},
        {"http://h:80", 0, 80, "h", "h", "/"},
        {"HTTPS://Example.COM:8443/Base/Path", 1, 8443, "example.com", "example.com:8443",
         "/Base/Path"},
        {"http://[::1]:8080/x", 0, 8080, "::1", "[::1]:8080", "/x"},
        {"https://[2001:DB8::1]", 1, 443, "2001:db8::1", "[2001:db8::1]", "/"},
        {"http://my_host-1.local:00080", 0, 80, "my_host-1.local", "my_host-1.local", "/"},
        {"http://h:65535", 0, 65535, "h", "h:65535", "/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const url_case_t *c = &cases[i];
        kn_url_t u;
        ck_assert_msg(kn_url_parse(c->url, &u) == KN_OK, "%s: %s", c->url, u.error);
        ck_assert_int_eq(u.https, c->https);
        ck_assert_int_eq(u.port, c->port);
        ck_assert_str_eq(u.host, c->host);
        ck_assert_str_eq(u.authority, c->authority);
        ck_assert_str_eq(u.path, c->path);
        ck_assert_ptr_null(u.error);
    }
}
END_TEST

START_TEST(url_parse_invalid) {
    static const struct {
        const char *url;
        kn_err_t code;
        const char *why;
    } cases[] = {
        {"ftp://h", KN_ERR_INVALID_ARG, "scheme must be http:// or https://"},
        {"http:/h", KN_ERR_INVALID_ARG, "scheme must be http:// or https://"},
        {"", KN_ERR_INVALID_ARG, "scheme must be http:// or https://"},
        {"http://", KN_ERR_INVALID_ARG, "empty host"},
        {"http:///path", KN_ERR_INVALID_ARG, "empty host"},
        {"http://:80", KN_ERR_INVALID_ARG, "empty host"},
        {"http://h:", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://h:0", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://h:65536", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://h:123456", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://h:8a", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://h:-1", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://h:80:81", KN_ERR_INVALID_ARG, "port must be a number in 1..65535"},
        {"http://u:p@h", KN_ERR_INVALID_ARG, "user info (user@host) is not allowed"},
        {"http://u@h/p", KN_ERR_INVALID_ARG, "user info (user@host) is not allowed"},
        {"http://h/p?q=1", KN_ERR_INVALID_ARG, "an endpoint URL takes no query or fragment"},
        {"http://h#f", KN_ERR_INVALID_ARG, "an endpoint URL takes no query or fragment"},
        {"http://[::1", KN_ERR_INVALID_ARG, "IPv6 address without ']'"},
        {"http://[]:80", KN_ERR_INVALID_ARG, "malformed IPv6 address"},
        {"http://[12345]", KN_ERR_INVALID_ARG, "malformed IPv6 address"},
        {"http://[::g]", KN_ERR_INVALID_ARG, "invalid character in host"},
        {"http://[::1]x", KN_ERR_INVALID_ARG, "unexpected text after the host"},
        {"http://h x", KN_ERR_INVALID_ARG, "URL contains a space, control or non-ASCII character"},
        {"http://h\x01", KN_ERR_INVALID_ARG, "URL contains a space, control or non-ASCII character"},
        {"http://h\xC3\xA9", KN_ERR_INVALID_ARG,
         "URL contains a space, control or non-ASCII character"},
        {"http://h%41", KN_ERR_INVALID_ARG, "invalid character in host"},
        {"http://h!", KN_ERR_INVALID_ARG, "invalid character in host"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kn_url_t u;
        ck_assert_msg(kn_url_parse(cases[i].url, &u) == cases[i].code, "%s", cases[i].url);
        ck_assert_msg(u.error && !strcmp(u.error, cases[i].why), "%s: %s", cases[i].url, u.error);
        ck_assert_str_eq(u.host, "");
    }
    kn_url_t u;
    ck_assert_int_eq(kn_url_parse(NULL, &u), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_url_parse("http://h", NULL), KN_ERR_INVALID_ARG);
}
END_TEST

/* prefix + `fit` times `fill` parses; one more `fill` is KN_ERR_TOO_LARGE with `why`. */
static void limit_case(const char *prefix, char fill, size_t fit, const char *why) {
    char url[KN_URL_MAX];
    size_t n = strlen(prefix);
    ck_assert_uint_lt(n + fit + 1, sizeof(url));
    memcpy(url, prefix, n);
    memset(url + n, fill, fit + 1);
    url[n + fit] = '\0';
    kn_url_t u;
    ck_assert_int_eq(kn_url_parse(url, &u), KN_OK);
    url[n + fit] = fill;
    url[n + fit + 1] = '\0';
    ck_assert_int_eq(kn_url_parse(url, &u), KN_ERR_TOO_LARGE);
    ck_assert_str_eq(u.error, why);
}

START_TEST(url_parse_limits) {
    /* host and path fields hold 255 characters */
    limit_case("http://", 'h', 255, "host name too long");
    limit_case("http://h/", 'p', 254, "path too long");
    kn_url_t u;
    char url[KN_URL_MAX + 16];
    /* the whole URL */
    memset(url, 'a', sizeof(url) - 1);
    memcpy(url, "http://", 7);
    url[KN_URL_MAX + 1] = '\0';
    ck_assert_int_eq(kn_url_parse(url, &u), KN_ERR_TOO_LARGE);
    ck_assert_str_eq(u.error, "URL too long");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("endpoint");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, region_precedence);
    tcase_add_test(tc, region_missing);
    tcase_add_test(tc, region_validation);
    tcase_add_test(tc, endpoint_defaults);
    tcase_add_test(tc, endpoint_precedence);
    tcase_add_test(tc, endpoint_rejected);
    tcase_add_test(tc, url_parse_valid);
    tcase_add_test(tc, url_parse_invalid);
    tcase_add_test(tc, url_parse_limits);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
