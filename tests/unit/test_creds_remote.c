/*
 * The remote credential providers: web identity (STS), container and IMDSv2,
 * their pure parts (XML and JSON replies, times, URLs, token files), and end to
 * end against tests/lib/fake_creds_server.py on 127.0.0.1: token rotation,
 * wrong and missing tokens, 5xx replies, refresh of credentials that expire
 * during the run, the region from IMDS, and the session token a signed call
 * carries.
 */
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "creds_remote.h"
#include "endpoint.h"
#include "http.h"
#include "kn_fake_creds.h"
#include "kn_test.h"
#include "kn_test_log.h"
#include "kn_test_sandbox.h"
#include "kn_test_server.h"
#include "service_call.h"
#include "sigv4.h"

#define ROLE_ARN "arn:aws:iam::000000000000:role/kinesis-writer"
#define WAIT_STEP_US 20000
#define WAIT_STEPS 1500 /* x 20 ms: the bound on waiting for a background refresh */

static char dir[64];
static kn_fake_creds_t *fake;

static void setup_pure(void) { kn_test_sandbox_enter(dir, sizeof(dir)); }
static void teardown_pure(void) { kn_test_sandbox_remove(dir); }

static void setup_fake(void) {
    setup_pure();
    fake = kn_fake_creds_start();
}

static void teardown_fake(void) {
    kn_fake_creds_stop(fake);
    fake = NULL;
    teardown_pure();
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_us(long us) {
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Writes a file under the sandbox; its path goes to path. */
static void write_home(const char *rel, const char *text, char *path, size_t size) {
    kn_test_write_file(dir, rel, text, strlen(text), path, size);
}

/* One fetch of provider p; returns its code, the message in msg ("" on success). */
static kn_err_t fetch(kn_creds_provider_t *p, kn_credentials_t *out, kn_error_t **err) {
    *err = NULL;
    memset(out, 0, sizeof(*out));
    kn_err_t rc = p->fetch(p, out, err);
    ck_assert_int_eq(rc == KN_OK, *err == NULL);
    return rc;
}

/* A successful fetch whose token starts with `prefix`, from the fake's key pair. */
static void fetch_ok(kn_creds_provider_t *p, const char *prefix, kn_credentials_t *out) {
    kn_error_t *err = NULL;
    kn_err_t rc = fetch(p, out, &err);
    ck_assert_msg(rc == KN_OK, "%s: %s", kn_err2name(rc), kn_error_message(err));
    ck_assert_str_eq(out->access_key_id, KN_FAKE_CREDS_AKID);
    ck_assert_str_eq(out->secret_access_key, KN_FAKE_CREDS_SECRET);
    ck_assert_ptr_nonnull(out->session_token);
    ck_assert_msg(!strncmp(out->session_token, prefix, strlen(prefix)), "token %s",
                  out->session_token);
    /* the fake's default lifetime is an hour */
    ck_assert_int_gt(out->expiration_ms, wall_ms() + 3500 * 1000LL);
    ck_assert_int_le(out->expiration_ms, wall_ms() + 3601 * 1000LL);
}

/* A failed fetch with this code whose message contains `part`. */
static void fetch_fails(kn_creds_provider_t *p, kn_err_t code, const char *part) {
    kn_credentials_t k;
    kn_error_t *err = NULL;
    kn_err_t rc = fetch(p, &k, &err);
    ck_assert_msg(rc == code, "%s (wanted %s): %s", kn_err2name(rc), kn_err2name(code),
                  kn_error_message(err));
    ck_assert_msg(strstr(kn_error_message(err), part), "message: %s", kn_error_message(err));
    ck_assert_ptr_null(k.access_key_id);
    kn_error_destroy(err);
}

/* The n-th (0-based) logged request of `kind`, borrowed from log. */
static const cJSON *nth(const cJSON *log, const char *kind, int n) {
    const cJSON *e;
    cJSON_ArrayForEach(e, log) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, kind) && n-- == 0)
            return e;
    }
    ck_abort_msg("no request %d of kind %s", n, kind);
    return NULL;
}

/* A string member of a logged request's "headers" or "form", or NULL. */
static const char *field(const cJSON *entry, const char *group, const char *name) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(entry, group);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int status_of(const cJSON *entry) {
    return cJSON_GetObjectItemCaseSensitive(entry, "status")->valueint;
}

/* ================================================================ pure parts */

START_TEST(iso8601_times) {
    int64_t ms = -1;
    ck_assert_int_eq(kn_iso8601_ms("1970-01-01T00:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(kn_iso8601_ms("2026-11-22T05:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 1795323600000LL);
    ck_assert_int_eq(kn_iso8601_ms("2026-11-22T05:00:00.25Z", &ms), 0);
    ck_assert_int_eq(ms, 1795323600250LL);
    ck_assert_int_eq(kn_iso8601_ms("2026-11-22T05:00:00.123456789Z", &ms), 0);
    ck_assert_int_eq(ms, 1795323600123LL);
    ck_assert_int_eq(kn_iso8601_ms("2000-03-01T00:00:00+01:00", &ms), 0);
    ck_assert_int_eq(ms, (951868800LL - 3600) * 1000);
    ck_assert_int_eq(kn_iso8601_ms("2000-02-29T19:30:00-04:30", &ms), 0);
    ck_assert_int_eq(ms, 951868800LL * 1000);
    ck_assert_int_eq(kn_iso8601_ms("2024-02-29T23:59:59Z", &ms), 0);
    ck_assert_int_eq(ms, 1709251199000LL);
    const char *bad[] = {"",
                         "2026-11-22T05:00:00",
                         "2026-11-22 05:00:00Z",
                         "2026-11-22T05:00:00Zx",
                         "2026-11-22T05:00:00.Z",
                         "2026-02-30T00:00:00Z",
                         "2026-13-01T00:00:00Z",
                         "2026-11-22T24:00:00Z",
                         "1969-12-31T23:59:59Z",
                         "2026-11-22T05:00:00+5:00",
                         "+2026-11-22T05:00:00Z",
                         "2026-11-2T05:00:00Z",
                         "20261122T050000Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(kn_iso8601_ms(bad[i], &ms) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(kn_iso8601_ms(NULL, &ms), -1);
}
END_TEST

static kn_err_t sts_parse(int status, const char *body, kn_credentials_t *k, kn_error_t **err) {
    return kn_sts_parse_web_identity(status, (const uint8_t *)body, strlen(body), NULL, k, err);
}

START_TEST(sts_reply_parsed) {
    const char *body =
        "<?xml version=\"1.0\"?>\n"
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        " <AssumeRoleWithWebIdentityResult>\n"
        "  <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>\n"
        "  <CredentialsX>decoy</CredentialsX>\n"
        "  <Credentials>\n"
        "   <SessionToken>\n   FwoG&amp;ZXIv&#x2B;YX&#100;z&lt;E&gt;&quot;&apos;\n   </SessionToken>\n"
        "   <SecretAccessKey>wJalr/XUtnFEMI+K7MDENG</SecretAccessKey>\n"
        "   <Expiration>2026-11-22T05:00:00Z</Expiration>\n"
        "   <AccessKeyId>ASIAFAKE</AccessKeyId>\n"
        "  </Credentials>\n"
        " </AssumeRoleWithWebIdentityResult>\n"
        " <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>";
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(sts_parse(200, body, &k, &err), KN_OK);
    ck_assert_ptr_null(err);
    ck_assert_str_eq(k.access_key_id, "ASIAFAKE");
    ck_assert_str_eq(k.secret_access_key, "wJalr/XUtnFEMI+K7MDENG");
    ck_assert_str_eq(k.session_token, "FwoG&ZXIv+YXdz<E>\"'");
    ck_assert_int_eq(k.expiration_ms, 1795323600000LL);
    kn_credentials_clear(&k);
}
END_TEST

START_TEST(sts_errors_mapped) {
    struct {
        int status;
        const char *body;
        kn_err_t code;
        const char *type, *message, *request_id;
        int retriable;
    } cases[] = {
        {400,
         "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
         "<Type>Sender</Type><Code>InvalidIdentityToken</Code>"
         "<Message>Couldn't verify &amp; trust the token</Message></Error>"
         "<RequestId>req-9</RequestId></ErrorResponse>",
         KN_ERR_SERVICE, "InvalidIdentityToken",
         "web-identity: STS AssumeRoleWithWebIdentity: Couldn't verify & trust the token", "req-9",
         0},
        {403,
         "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized to perform "
         "sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>",
         KN_ERR_ACCESS_DENIED, "AccessDenied",
         "web-identity: STS AssumeRoleWithWebIdentity: Not authorized to perform "
         "sts:AssumeRoleWithWebIdentity",
         NULL, 0},
        {400,
         "<ErrorResponse><Error><Code>ExpiredTokenException</Code><Message>Token expired: "
         "current date/time 1 must be before the expiration date/time 0</Message></Error>"
         "</ErrorResponse>",
         KN_ERR_EXPIRED_TOKEN, "ExpiredTokenException",
         "web-identity: STS AssumeRoleWithWebIdentity: Token expired: current date/time 1 must "
         "be before the expiration date/time 0",
         NULL, 1 /* retriable once the credentials are refreshed */},
        {503, "<html><body>Service Unavailable</body></html>", KN_ERR_SERVICE_UNAVAILABLE, NULL,
         "web-identity: STS AssumeRoleWithWebIdentity: HTTP 503: <html><body>Service "
         "Unavailable</body></html>",
         NULL, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kn_credentials_t k;
        kn_error_t *err = NULL;
        ck_assert_int_eq(sts_parse(cases[i].status, cases[i].body, &k, &err), cases[i].code);
        ck_assert_ptr_null(k.access_key_id);
        ck_assert_int_eq(kn_error_code(err), cases[i].code);
        ck_assert_int_eq(kn_error_http_status(err), cases[i].status);
        ck_assert_str_eq(kn_error_message(err), cases[i].message);
        if (cases[i].type)
            ck_assert_str_eq(kn_error_type(err), cases[i].type);
        if (cases[i].request_id)
            ck_assert_str_eq(kn_error_request_id(err), cases[i].request_id);
        ck_assert_int_eq(kn_error_is_retriable(err), cases[i].retriable);
        kn_error_destroy(err);
    }
    /* the request id of the reply's headers wins over the body's */
    kn_credentials_t k;
    kn_error_t *err = NULL;
    const char *body = "<ErrorResponse><Error><Code>X</Code></Error><RequestId>b</RequestId>"
                       "</ErrorResponse>";
    kn_sts_parse_web_identity(400, (const uint8_t *)body, strlen(body), "h", &k, &err);
    ck_assert_str_eq(kn_error_request_id(err), "h");
    ck_assert_str_eq(kn_error_message(err), "web-identity: STS AssumeRoleWithWebIdentity: X");
    kn_error_destroy(err);
}
END_TEST

#define CREDS_XML(inner)                                                                           \
    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>" inner      \
    "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
#define GOOD_FIELDS                                                                                \
    "<AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"                             \
    "<SessionToken>T</SessionToken>"

START_TEST(sts_malformed_rejected) {
    const char *bad[] = {
        "",
        "not xml at all",
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
        CREDS_XML(GOOD_FIELDS), /* no Expiration */
        CREDS_XML(GOOD_FIELDS "<Expiration>tomorrow</Expiration>"),
        CREDS_XML("<AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                  "<Expiration>2026-11-22T05:00:00Z</Expiration>"), /* no token */
        CREDS_XML("<AccessKeyId></AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                  "<SessionToken>T</SessionToken><Expiration>2026-11-22T05:00:00Z</Expiration>"),
        CREDS_XML("<AccessKeyId>A<b/></AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                  "<SessionToken>T</SessionToken><Expiration>2026-11-22T05:00:00Z</Expiration>"),
        CREDS_XML("<AccessKeyId>A&nbsp;</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                  "<SessionToken>T</SessionToken><Expiration>2026-11-22T05:00:00Z</Expiration>"),
        CREDS_XML("<AccessKeyId>A&#0;</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                  "<SessionToken>T</SessionToken><Expiration>2026-11-22T05:00:00Z</Expiration>"),
        CREDS_XML("<AccessKeyId>A&amp</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                  "<SessionToken>T</SessionToken><Expiration>2026-11-22T05:00:00Z</Expiration>"),
        /* truncated: the credentials are never closed */
        "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId>"
        "<SecretAccessKey>S</SecretAccessKey><SessionToken>T",
        "<AssumeRoleWithWebIdentityResult><Credentials",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kn_credentials_t k;
        kn_error_t *err = NULL;
        ck_assert_msg(sts_parse(200, bad[i], &k, &err) == KN_ERR_BAD_RESPONSE, "case %zu", i);
        ck_assert_ptr_null(k.access_key_id);
        ck_assert_ptr_nonnull(strstr(kn_error_message(err), "web-identity: STS reply"));
        kn_error_destroy(err);
    }
    /* a NUL byte, and a reply over the limit */
    kn_credentials_t k;
    kn_error_t *err = NULL;
    const char with_nul[] = "<AssumeRoleWithWebIdentityResult>\0</AssumeRoleWithWebIdentityResult>";
    ck_assert_int_eq(kn_sts_parse_web_identity(200, (const uint8_t *)with_nul, sizeof(with_nul) - 1,
                                               NULL, &k, &err),
                     KN_ERR_BAD_RESPONSE);
    kn_error_destroy(err);
    size_t n = KN_CREDS_REPLY_MAX + 1;
    uint8_t *big = malloc(n);
    memset(big, ' ', n);
    ck_assert_int_eq(kn_sts_parse_web_identity(200, big, n, NULL, &k, &err), KN_ERR_BAD_RESPONSE);
    kn_error_destroy(err);
    /* a field longer than the limit */
    size_t fl = KN_CREDS_FIELD_MAX + 1;
    char *huge = malloc(fl + 512);
    int off = sprintf(huge, "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A"
                            "</AccessKeyId><SecretAccessKey>S</SecretAccessKey><SessionToken>");
    memset(huge + off, 'x', fl);
    strcpy(huge + off + fl, "</SessionToken><Expiration>2026-11-22T05:00:00Z</Expiration>"
                            "</Credentials></AssumeRoleWithWebIdentityResult>");
    ck_assert_int_eq(sts_parse(200, huge, &k, &err), KN_ERR_BAD_RESPONSE);
    kn_error_destroy(err);
    free(huge);
    free(big);
}
END_TEST

static kn_err_t json_parse(const char *text, kn_credentials_t *k, kn_error_t **err) {
    *err = NULL;
    return kn_creds_parse_json("t", (const uint8_t *)text, strlen(text), k, err);
}

START_TEST(json_credentials) {
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(json_parse("{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
                                "\"S\",\"Token\":\"T\",\"Expiration\":\"2026-11-22T05:00:00Z\"} \n",
                                &k, &err),
                     KN_OK);
    ck_assert_str_eq(k.access_key_id, "A");
    ck_assert_str_eq(k.session_token, "T");
    ck_assert_int_eq(k.expiration_ms, 1795323600000LL);
    kn_credentials_clear(&k);
    /* no Token, no Expiration: long-lived keys */
    ck_assert_int_eq(json_parse("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", &k, &err),
                     KN_OK);
    ck_assert_ptr_null(k.session_token);
    ck_assert_int_eq(k.expiration_ms, 0);
    kn_credentials_clear(&k);
    struct {
        const char *text, *message;
    } bad[] = {
        {"[]", "t: reply is not a JSON object"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"} x", "t: reply is not a JSON object"},
        {"{\"AccessKeyId\":\"A\"", "t: reply is not a JSON object"},
        {"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
         "t: reply Code is \"Failure\", not \"Success\""},
        {"{\"SecretAccessKey\":\"S\"}", "t: "},
        {"{\"AccessKeyId\":7,\"SecretAccessKey\":\"S\"}", "t: "},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
         "t: Expiration \"soon\" is not an ISO 8601 time"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(json_parse(bad[i].text, &k, &err), KN_ERR_BAD_RESPONSE);
        ck_assert_msg(!strncmp(kn_error_message(err), bad[i].message, strlen(bad[i].message)),
                      "case %zu: %s", i, kn_error_message(err));
        ck_assert_ptr_null(k.access_key_id);
        kn_error_destroy(err);
    }
}
END_TEST

/* kn_container_url with the environment as set; returns the code, URL or message in out. */
static kn_err_t container_url(char *out, size_t size) {
    kn_error_t *err = NULL;
    kn_err_t rc = kn_container_url(out, size, &err);
    if (rc != KN_OK)
        snprintf(out, size, "%s", kn_error_message(err));
    kn_error_destroy(err);
    return rc;
}

START_TEST(container_url_rules) {
    char url[KN_URL_MAX + 1];
    ck_assert_int_eq(container_url(url, sizeof(url)), KN_ERR_NO_CREDENTIALS);
    /* relative: the ECS agent's address (string building only: never contacted) */
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/4f2e-a1", 1);
    ck_assert_int_eq(container_url(url, sizeof(url)), KN_OK);
    ck_assert_str_eq(url, "http://169.254.170.2/v2/credentials/4f2e-a1");
    /* relative wins over full */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", 1);
    ck_assert_int_eq(container_url(url, sizeof(url)), KN_OK);
    ck_assert_str_eq(url, "http://169.254.170.2/v2/credentials/4f2e-a1");
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/credentials", 1);
    ck_assert_int_eq(container_url(url, sizeof(url)), KN_ERR_INVALID_ARG);
    ck_assert_str_eq(url, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *allowed[] = {"http://127.0.0.1:9/creds",       "http://127.1.2.3/x",
                             "http://localhost:8080/creds",    "http://[::1]:80/creds",
                             "http://169.254.170.2/v1",        "http://169.254.170.23/v1/credentials",
                             "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/x",
                             "HTTPS://10.0.0.1/x"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", allowed[i], 1);
        ck_assert_msg(container_url(url, sizeof(url)) == KN_OK, "%s: %s", allowed[i], url);
        ck_assert_str_eq(url, allowed[i]);
    }
    const char *refused[] = {"http://10.0.0.1/creds",    "http://169.254.170.3/v1",
                             "http://128.0.0.1/x",       "http://127.0.0.1.evil.com/x",
                             "http://127.0.0/x",         "http://[::2]/x",
                             "http://localhost.evil/x",  "http://169.254.169.254/latest"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i], 1);
        ck_assert_msg(container_url(url, sizeof(url)) == KN_ERR_INVALID_ARG, "%s accepted",
                      refused[i]);
        ck_assert_ptr_nonnull(strstr(url, "plain http is only allowed to a loopback address"));
    }
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/x", 1);
    ck_assert_int_eq(container_url(url, sizeof(url)), KN_ERR_INVALID_ARG);
    ck_assert_str_eq(url, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI: scheme must be http:// "
                          "or https://");
    char tiny[8];
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x", 1);
    ck_assert_int_eq(container_url(tiny, sizeof(tiny)), KN_ERR_TOO_LARGE);
}
END_TEST

static void sts_url_is(const kn_conf_t *conf, const char *want) {
    char url[KN_URL_MAX + 2];
    kn_error_t *err = NULL;
    kn_err_t rc = kn_sts_url(conf, url, sizeof(url), &err);
    ck_assert_msg(rc == KN_OK, "%s", kn_error_message(err));
    ck_assert_str_eq(url, want);
}

START_TEST(imds_and_sts_urls) {
    char url[KN_URL_MAX + 2];
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_imds_base_url(url, sizeof(url), &err), KN_OK);
    ck_assert_str_eq(url, "http://169.254.169.254");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]/", 1);
    ck_assert_int_eq(kn_imds_base_url(url, sizeof(url), &err), KN_OK);
    ck_assert_str_eq(url, "http://[fd00:ec2::254]");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254", 1);
    ck_assert_int_eq(kn_imds_base_url(url, sizeof(url), &err), KN_ERR_INVALID_ARG);
    ck_assert_str_eq(kn_error_message(err),
                     "imds: AWS_EC2_METADATA_SERVICE_ENDPOINT: scheme must be http:// or https://");
    kn_error_destroy(err);
    ck_assert(kn_imds_disabled()); /* the sandbox sets it */
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    ck_assert(kn_imds_disabled());
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    ck_assert(!kn_imds_disabled());
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);

    /* STS: the global endpoint without a region, else the regional one, else the configured one */
    sts_url_is(NULL, "https://sts.amazonaws.com/");
    setenv("AWS_REGION", "eu-west-1", 1);
    sts_url_is(NULL, "https://sts.eu-west-1.amazonaws.com/");
    setenv("AWS_REGION", "cn-north-1", 1);
    sts_url_is(NULL, "https://sts.cn-north-1.amazonaws.com.cn/");
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
    sts_url_is(NULL, "http://127.0.0.1:9/");
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:10/", 1);
    sts_url_is(NULL, "http://127.0.0.1:10/");
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "sts.endpoint.url", "http://127.0.0.1:11/sts", NULL, 0),
                     KN_OK);
    sts_url_is(conf, "http://127.0.0.1:11/sts");
    setenv("AWS_ENDPOINT_URL_STS", "sts.local", 1);
    unsetenv("AWS_ENDPOINT_URL");
    ck_assert_int_eq(kn_sts_url(NULL, url, sizeof(url), &err), KN_ERR_INVALID_ARG);
    ck_assert_str_eq(kn_error_message(err), "web-identity: STS endpoint: AWS_ENDPOINT_URL_STS: "
                                            "scheme must be http:// or https://");
    kn_error_destroy(err);
    kn_conf_destroy(conf);
}
END_TEST

/* Reads a token file through kn_creds_read_token_file; returns the code, text or message in out. */
static kn_err_t read_token(const char *path, char *out, size_t size) {
    char *token = NULL;
    kn_error_t *err = NULL;
    kn_err_t rc = kn_creds_read_token_file("t", path, &token, &err);
    snprintf(out, size, "%s", rc == KN_OK ? token : kn_error_message(err));
    kn_secret_free(token);
    kn_error_destroy(err);
    return rc;
}

START_TEST(token_files) {
    char path[4096], out[256], want[4200];
    write_home("tok", "eyJhbGciOi.J9\r\n\n", path, sizeof(path));
    ck_assert_int_eq(read_token(path, out, sizeof(out)), KN_OK);
    ck_assert_str_eq(out, "eyJhbGciOi.J9");
    write_home("tok", "\n \n", path, sizeof(path));
    ck_assert_int_eq(read_token(path, out, sizeof(out)), KN_ERR_INVALID_ARG);
    snprintf(want, sizeof(want), "t %s: is empty", path);
    ck_assert_str_eq(out, want);
    write_home("tok", "a\nb", path, sizeof(path));
    ck_assert_int_eq(read_token(path, out, sizeof(out)), KN_ERR_INVALID_ARG);
    snprintf(want, sizeof(want), "t %s: contains control characters", path);
    ck_assert_str_eq(out, want);
    char *big = malloc(KN_CREDS_TOKEN_FILE_MAX + 2);
    memset(big, 'x', KN_CREDS_TOKEN_FILE_MAX);
    big[KN_CREDS_TOKEN_FILE_MAX] = '\0';
    write_home("tok", big, path, sizeof(path));
    char *token = NULL;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_read_token_file("t", path, &token, &err), KN_OK);
    ck_assert_uint_eq(strlen(token), KN_CREDS_TOKEN_FILE_MAX);
    kn_secret_free(token);
    strcat(big, "y");
    write_home("tok", big, path, sizeof(path));
    ck_assert_int_eq(read_token(path, out, sizeof(out)), KN_ERR_TOO_LARGE);
    free(big);
    snprintf(path, sizeof(path), "%s/none", dir);
    ck_assert_int_eq(read_token(path, out, sizeof(out)), KN_ERR_FILE);
    snprintf(want, sizeof(want), "t %s: No such file or directory", path);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(read_token(dir, out, sizeof(out)), KN_ERR_FILE);
    snprintf(want, sizeof(want), "t %s: not a regular file", dir);
    ck_assert_str_eq(out, want);
}
END_TEST

/* ============================================================= web identity */

/* Points web identity at the fake: token file `token`, role, session name. */
static void web_identity_env(const char *token, char *path, size_t size) {
    write_home("eks/token", token, path, size);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_ROLE_SESSION_NAME", "my-session", 1);
    setenv("AWS_ENDPOINT_URL_STS", kn_fake_creds_url(fake), 1);
}

START_TEST(web_identity_end_to_end) {
    char path[4096];
    web_identity_env("jwt-1\n", path, sizeof(path));
    kn_creds_provider_t *p = kn_creds_provider_web_identity_new(NULL);
    kn_credentials_t k;
    fetch_ok(p, "sts-token-", &k);
    kn_credentials_clear(&k);
    /* the token file rotates: the next fetch reads it again */
    write_home("eks/token", "jwt-2", path, sizeof(path));
    fetch_ok(p, "sts-token-", &k);
    kn_credentials_clear(&k);
    cJSON *log = kn_fake_creds_log(fake);
    ck_assert_int_eq(cJSON_GetArraySize(log), 2);
    const cJSON *first = nth(log, "sts", 0), *second = nth(log, "sts", 1);
    ck_assert_str_eq(cJSON_GetObjectItem(first, "method")->valuestring, "POST");
    ck_assert_str_eq(cJSON_GetObjectItem(first, "path")->valuestring, "/");
    ck_assert_str_eq(field(first, "form", "Action"), "AssumeRoleWithWebIdentity");
    ck_assert_str_eq(field(first, "form", "Version"), "2011-06-15");
    ck_assert_str_eq(field(first, "form", "RoleArn"), ROLE_ARN);
    ck_assert_str_eq(field(first, "form", "RoleSessionName"), "my-session");
    ck_assert_str_eq(field(first, "form", "WebIdentityToken"), "jwt-1");
    ck_assert_str_eq(field(second, "form", "WebIdentityToken"), "jwt-2");
    ck_assert_str_eq(field(first, "headers", "content-type"),
                     "application/x-www-form-urlencoded; charset=utf-8");
    ck_assert_ptr_null(field(first, "headers", "authorization")); /* unsigned */
    ck_assert_ptr_null(field(first, "headers", "x-amz-security-token"));
    cJSON_Delete(log);

    /* STS refuses the token: its error, mapped */
    kn_fake_creds_control(fake, "{\"sts_reject\": [\"jwt-2\"]}");
    kn_error_t *err = NULL;
    ck_assert_int_eq(fetch(p, &k, &err), KN_ERR_SERVICE);
    ck_assert_str_eq(kn_error_type(err), "InvalidIdentityToken");
    ck_assert_int_eq(kn_error_http_status(err), 400);
    ck_assert_str_eq(kn_error_message(err),
                     "web-identity: STS AssumeRoleWithWebIdentity: Couldn't retrieve verification "
                     "key from your identity provider & friends");
    kn_error_destroy(err);
    /* a generated session name when none is given */
    unsetenv("AWS_ROLE_SESSION_NAME");
    write_home("eks/token", "jwt-3", path, sizeof(path));
    fetch_ok(p, "sts-token-", &k);
    kn_credentials_clear(&k);
    log = kn_fake_creds_log(fake);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^kinesis-c-[0-9]{13}$", REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_int_eq(regexec(&re, field(nth(log, "sts", 3), "form", "RoleSessionName"), 0, NULL, 0),
                     0);
    regfree(&re);
    cJSON_Delete(log);
    kn_creds_provider_destroy(p);
}
END_TEST

START_TEST(web_identity_from_profile_in_chain) {
    char path[4096], cfg[8192];
    write_home("eks/token", "jwt-profile", path, sizeof(path));
    snprintf(cfg, sizeof(cfg),
             "[default]\nregion = us-east-1\n"
             "[profile irsa]\nweb_identity_token_file = %s\nrole_arn = %s\n"
             "role_session_name = prof-session\n",
             path, ROLE_ARN);
    write_home(".aws/config", cfg, NULL, 0);
    setenv("AWS_PROFILE", "irsa", 1);
    setenv("AWS_ENDPOINT_URL_STS", kn_fake_creds_url(fake), 1);
    /* the standard chain: nothing earlier is configured, web identity answers */
    kn_creds_t *c = kn_creds_new(NULL);
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_OK);
    ck_assert(!strncmp(k.session_token, "sts-token-", 10));
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    cJSON *log = kn_fake_creds_log(fake);
    ck_assert_str_eq(field(nth(log, "sts", 0), "form", "RoleSessionName"), "prof-session");
    ck_assert_str_eq(field(nth(log, "sts", 0), "form", "WebIdentityToken"), "jwt-profile");
    cJSON_Delete(log);
    /* the environment wins over the profile */
    char envpath[4096];
    web_identity_env("jwt-env", envpath, sizeof(envpath));
    kn_creds_provider_t *p = kn_creds_provider_web_identity_new(NULL);
    fetch_ok(p, "sts-token-", &k);
    kn_credentials_clear(&k);
    log = kn_fake_creds_log(fake);
    ck_assert_str_eq(field(nth(log, "sts", 1), "form", "WebIdentityToken"), "jwt-env");
    cJSON_Delete(log);
    kn_creds_provider_destroy(p);
}
END_TEST

START_TEST(web_identity_failures) {
    kn_creds_provider_t *p = kn_creds_provider_web_identity_new(NULL);
    fetch_fails(p, KN_ERR_NO_CREDENTIALS,
                "web-identity: AWS_WEB_IDENTITY_TOKEN_FILE not set and no web_identity_token_file "
                "in profile 'default'");
    char path[4096];
    web_identity_env("jwt", path, sizeof(path));
    unsetenv("AWS_ROLE_ARN");
    fetch_fails(p, KN_ERR_INVALID_ARG,
                "web-identity: a web identity token file is set (environment) but AWS_ROLE_ARN "
                "is not");
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_ROLE_SESSION_NAME", "bad name!", 1);
    fetch_fails(p, KN_ERR_INVALID_ARG, "AWS_ROLE_SESSION_NAME must be 2 to 64");
    unsetenv("AWS_ROLE_SESSION_NAME");
    unlink(path);
    fetch_fails(p, KN_ERR_FILE, "web-identity: token file ");
    ck_assert_int_eq(kn_fake_creds_count(fake, "sts"), 0);
    /* STS keeps failing with 5xx: a bounded number of attempts, then its error */
    write_home("eks/token", "jwt", path, sizeof(path));
    kn_fake_creds_control(fake, "{\"fail\": {\"sts\": [500, 502, 503]}}");
    fetch_fails(p, KN_ERR_SERVICE_UNAVAILABLE,
                "web-identity: STS AssumeRoleWithWebIdentity: HTTP 503: <html>fake outage</html>");
    ck_assert_int_eq(kn_fake_creds_count(fake, "sts"), KN_CREDS_HTTP_ATTEMPTS);
    /* one 5xx, then an answer */
    kn_fake_creds_control(fake, "{\"fail\": {\"sts\": [500]}}");
    kn_credentials_t k;
    fetch_ok(p, "sts-token-", &k);
    kn_credentials_clear(&k);
    ck_assert_int_eq(kn_fake_creds_count(fake, "sts"), KN_CREDS_HTTP_ATTEMPTS + 2);
    /* nothing listening: a transport error, not a hang */
    int fd;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_refusing_port(&fd));
    setenv("AWS_ENDPOINT_URL_STS", url, 1);
    fetch_fails(p, KN_ERR_TRANSPORT, "web-identity: ");
    close(fd);
    kn_creds_provider_destroy(p);
}
END_TEST

/* ================================================================ container */

START_TEST(container_end_to_end) {
    char url[256], path[4096];
    snprintf(url, sizeof(url), "%s/container/v1/credentials", kn_fake_creds_url(fake));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    kn_creds_provider_t *p = kn_creds_provider_container_new(NULL);
    kn_credentials_t k;
    /* no token configured on either side */
    fetch_ok(p, "container-token-", &k);
    kn_credentials_clear(&k);
    /* the token from the variable is the Authorization header */
    kn_fake_creds_control(fake, "{\"container_auth\": \"Bearer abc\"}");
    fetch_fails(p, KN_ERR_ACCESS_DENIED, "container: HTTP 401: Unable to authorize the request");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer abc", 1);
    fetch_ok(p, "container-token-", &k);
    kn_credentials_clear(&k);
    /* the token file wins and is read at every fetch */
    write_home("pod/token", "file-token-1\n", path, sizeof(path));
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
    fetch_fails(p, KN_ERR_ACCESS_DENIED, "container: HTTP 401");
    kn_fake_creds_control(fake, "{\"container_auth\": \"file-token-1\"}");
    fetch_ok(p, "container-token-", &k);
    kn_credentials_clear(&k);
    write_home("pod/token", "file-token-2", path, sizeof(path));
    kn_fake_creds_control(fake, "{\"container_auth\": \"file-token-2\"}");
    fetch_ok(p, "container-token-", &k);
    kn_credentials_clear(&k);
    cJSON *log = kn_fake_creds_log(fake);
    ck_assert_int_eq(cJSON_GetArraySize(log), 6);
    ck_assert_ptr_null(field(nth(log, "container", 0), "headers", "authorization"));
    ck_assert_ptr_null(field(nth(log, "container", 1), "headers", "authorization"));
    ck_assert_str_eq(field(nth(log, "container", 2), "headers", "authorization"), "Bearer abc");
    ck_assert_str_eq(field(nth(log, "container", 3), "headers", "authorization"), "file-token-1");
    ck_assert_int_eq(status_of(nth(log, "container", 3)), 401);
    ck_assert_str_eq(field(nth(log, "container", 4), "headers", "authorization"), "file-token-1");
    ck_assert_int_eq(status_of(nth(log, "container", 4)), 200);
    ck_assert_str_eq(field(nth(log, "container", 5), "headers", "authorization"), "file-token-2");
    ck_assert_str_eq(cJSON_GetObjectItem(nth(log, "container", 5), "path")->valuestring,
                     "/container/v1/credentials");
    cJSON_Delete(log);
    /* 5xx: retried a bounded number of times */
    kn_fake_creds_clear_log(fake);
    kn_fake_creds_control(fake, "{\"fail\": {\"container\": [500, 503]}}");
    fetch_ok(p, "container-token-", &k);
    kn_credentials_clear(&k);
    ck_assert_int_eq(kn_fake_creds_count(fake, "container"), 3);
    kn_fake_creds_control(fake, "{\"fail\": {\"container\": [500, 500, 500]}}");
    fetch_fails(p, KN_ERR_INTERNAL_FAILURE, "container: HTTP 500: fake agent outage");
    /* a header-splitting token from the variable is refused before any request */
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\r\nX-Evil: 1", 1);
    fetch_fails(p, KN_ERR_INVALID_ARG, "AWS_CONTAINER_AUTHORIZATION_TOKEN contains control");
    ck_assert_int_eq(kn_fake_creds_count(fake, "container"), 6);
    /* plain http to another host: a configuration error, nothing sent */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds", 1);
    fetch_fails(p, KN_ERR_INVALID_ARG, "plain http is only allowed");
    kn_creds_provider_destroy(p);
}
END_TEST

/* ===================================================================== IMDS */

/* Points IMDS at the fake and turns it on. */
static void imds_env(void) {
    char url[128];
    snprintf(url, sizeof(url), "%s/", kn_fake_creds_url(fake));
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");
}

/* A GET to the fake's IMDS with `token` (NULL: none); returns the status. */
static int raw_imds_get(const char *token) {
    kn_conf_t *conf = kn_conf_new();
    kn_http_t *h = kn_http_new(conf, NULL);
    char url[256];
    snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/",
             kn_fake_creds_url(fake));
    kn_header_t hd[] = {{"X-aws-ec2-metadata-token", token}};
    kn_http_request_t req = {.method = "GET", .url = url, .headers = hd, .nheaders = token ? 1 : 0};
    kn_http_response_t *resp = NULL;
    ck_assert_int_eq(kn_http_perform(h, &req, &resp, NULL), KN_OK);
    int status = resp->status;
    kn_http_response_destroy(resp);
    kn_http_destroy(h);
    kn_conf_destroy(conf);
    return status;
}

START_TEST(imds_end_to_end) {
    imds_env();
    kn_creds_provider_t *p = kn_creds_provider_imds_new(NULL);
    kn_credentials_t k;
    fetch_ok(p, "imds-token-", &k);
    kn_credentials_clear(&k);
    cJSON *log = kn_fake_creds_log(fake);
    ck_assert_int_eq(cJSON_GetArraySize(log), 3);
    const cJSON *put = nth(log, "imds_token", 0);
    ck_assert_str_eq(cJSON_GetObjectItem(put, "method")->valuestring, "PUT");
    ck_assert_str_eq(field(put, "headers", "x-aws-ec2-metadata-token-ttl-seconds"), "21600");
    const char *session = cJSON_GetObjectItem(put, "token")->valuestring;
    const cJSON *role = nth(log, "imds", 0), *creds = nth(log, "imds", 1);
    ck_assert_str_eq(cJSON_GetObjectItem(role, "path")->valuestring,
                     "/latest/meta-data/iam/security-credentials/");
    ck_assert_str_eq(cJSON_GetObjectItem(creds, "path")->valuestring,
                     "/latest/meta-data/iam/security-credentials/fake-role");
    ck_assert_str_eq(field(role, "headers", "x-aws-ec2-metadata-token"), session);
    ck_assert_str_eq(field(creds, "headers", "x-aws-ec2-metadata-token"), session);
    /* the session token is what lets the GETs through: without it, or a wrong one, 401 */
    ck_assert_int_eq(raw_imds_get(NULL), 401);
    ck_assert_int_eq(raw_imds_get("imds-session-999"), 401);
    ck_assert_int_eq(raw_imds_get(session), 200);
    cJSON_Delete(log);
    /* the session token is reused by the next fetch */
    fetch_ok(p, "imds-token-", &k);
    kn_credentials_clear(&k);
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds_token"), 1);
    /* IMDS forgot it (expired, restarted): one 401, one new token, then success */
    kn_fake_creds_control(fake, "{\"imds_revoke\": true}");
    kn_fake_creds_clear_log(fake);
    fetch_ok(p, "imds-token-", &k);
    kn_credentials_clear(&k);
    log = kn_fake_creds_log(fake);
    ck_assert_int_eq(cJSON_GetArraySize(log), 4);
    ck_assert_int_eq(status_of(cJSON_GetArrayItem(log, 0)), 401);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(log, 1), "kind")->valuestring,
                     "imds_token");
    ck_assert_int_eq(status_of(cJSON_GetArrayItem(log, 2)), 200);
    ck_assert_int_eq(status_of(cJSON_GetArrayItem(log, 3)), 200);
    cJSON_Delete(log);
    /* a token that is always refused: one renewal only, then a clear error */
    kn_fake_creds_control(fake, "{\"imds_always_401\": true}");
    kn_fake_creds_clear_log(fake);
    fetch_fails(p, KN_ERR_BAD_RESPONSE,
                "imds: GET /latest/meta-data/iam/security-credentials/ refused a fresh session "
                "token (HTTP 401)");
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds_token"), 1);
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds"), 2);
    kn_fake_creds_control(fake, "{\"imds_always_401\": false}");
    /* no role attached: not configured */
    kn_fake_creds_control(fake, "{\"imds_no_role\": true}");
    fetch_fails(p, KN_ERR_NO_CREDENTIALS, "imds: no IAM role attached to this instance: HTTP 404");
    kn_fake_creds_control(fake, "{\"imds_no_role\": false}");
    /* 5xx on the credentials: retried once, then the error */
    kn_fake_creds_control(fake, "{\"fail\": {\"imds\": [500, 500]}}");
    fetch_fails(p, KN_ERR_BAD_RESPONSE, "imds: credentials of the instance role: HTTP 500");
    kn_creds_provider_destroy(p);
}
END_TEST

START_TEST(imds_off_or_absent) {
    imds_env();
    kn_creds_provider_t *p = kn_creds_provider_imds_new(NULL);
    /* disabled: not configured, and no request at all */
    setenv("AWS_EC2_METADATA_DISABLED", "True", 1);
    fetch_fails(p, KN_ERR_NO_CREDENTIALS, "imds: disabled (AWS_EC2_METADATA_DISABLED)");
    char region[KN_REGION_MAX + 1];
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_region_resolve_err(NULL, region, sizeof(region), &err), KN_ERR_NO_REGION);
    ck_assert_ptr_null(strstr(kn_error_message(err), "imds"));
    kn_error_destroy(err);
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds_token") + kn_fake_creds_count(fake, "imds"),
                     0);
    /* nothing listening (not on EC2): not configured, reported as such */
    unsetenv("AWS_EC2_METADATA_DISABLED");
    int fd;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_test_refusing_port(&fd));
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    fetch_fails(p, KN_ERR_NO_CREDENTIALS, "(not on EC2?)");
    ck_assert_int_eq(kn_region_resolve_err(NULL, region, sizeof(region), &err), KN_ERR_NO_REGION);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "; instance metadata region: imds: "));
    kn_error_destroy(err);
    close(fd);
    /* the token request refused (IMDSv2 off): no fallback to IMDSv1 */
    imds_env();
    kn_fake_creds_control(fake, "{\"fail\": {\"imds_token\": [403]}}");
    fetch_fails(p, KN_ERR_NO_CREDENTIALS, "imds: session token request answered HTTP 403");
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds"), 0);
    kn_creds_provider_destroy(p);
}
END_TEST

START_TEST(imds_region_last_resort) {
    imds_env();
    kn_fake_creds_control(fake, "{\"imds_region\": \"ap-south-2\"}");
    char region[KN_REGION_MAX + 1];
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_region_resolve_offline(NULL, region, sizeof(region), &err),
                     KN_ERR_NO_REGION);
    kn_error_destroy(err);
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds"), 0);
    ck_assert_int_eq(kn_region_resolve_err(NULL, region, sizeof(region), &err), KN_OK);
    ck_assert_ptr_null(err);
    ck_assert_str_eq(region, "ap-south-2");
    cJSON *log = kn_fake_creds_log(fake);
    const cJSON *get = nth(log, "imds", 0);
    ck_assert_str_eq(cJSON_GetObjectItem(get, "path")->valuestring,
                     "/latest/meta-data/placement/region");
    ck_assert_str_eq(field(get, "headers", "x-aws-ec2-metadata-token"),
                     cJSON_GetObjectItem(nth(log, "imds_token", 0), "token")->valuestring);
    cJSON_Delete(log);
    /* anything configured wins, without asking IMDS */
    setenv("AWS_REGION", "eu-north-1", 1);
    kn_fake_creds_clear_log(fake);
    ck_assert_int_eq(kn_region_resolve(NULL, region, sizeof(region)), KN_OK);
    ck_assert_str_eq(region, "eu-north-1");
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds_token"), 0);
    unsetenv("AWS_REGION");
    /* a malformed answer is no region */
    kn_fake_creds_control(fake, "{\"imds_region\": \"Not A Region\"}");
    ck_assert_int_eq(kn_region_resolve_err(NULL, region, sizeof(region), &err), KN_ERR_NO_REGION);
    ck_assert_ptr_nonnull(strstr(kn_error_message(err), "instance metadata region: imds: "
                                                        "malformed region"));
    kn_error_destroy(err);
}
END_TEST

/* ========================================== the chain: order and refreshing */

START_TEST(chain_order_remote) {
    char url[256], path[4096];
    imds_env();
    kn_creds_t *c = kn_creds_new(NULL);
    kn_credentials_t k;
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    ck_assert(!strncmp(k.session_token, "imds-token-", 11));
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    /* container before IMDS */
    snprintf(url, sizeof(url), "%s/container/creds", kn_fake_creds_url(fake));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    c = kn_creds_new(NULL);
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    ck_assert(!strncmp(k.session_token, "container-token-", 16));
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    /* web identity before the container */
    web_identity_env("jwt", path, sizeof(path));
    c = kn_creds_new(NULL);
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    ck_assert(!strncmp(k.session_token, "sts-token-", 10));
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    /* static keys before all of them */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
    c = kn_creds_new(NULL);
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    ck_assert_str_eq(k.access_key_id, "AKIDENV");
    kn_credentials_clear(&k);
    kn_creds_destroy(c);
    /* a configured remote source that fails stops the chain (IMDS is not asked) */
    unsetenv("AWS_ACCESS_KEY_ID");
    kn_fake_creds_control(fake, "{\"sts_reject\": [\"jwt\"]}");
    kn_fake_creds_clear_log(fake);
    c = kn_creds_new(NULL);
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_ERR_SERVICE);
    ck_assert_str_eq(kn_error_type(err), "InvalidIdentityToken");
    kn_error_destroy(err);
    kn_creds_destroy(c);
    ck_assert_int_eq(kn_fake_creds_count(fake, "container"), 0);
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds_token"), 0);
}
END_TEST

/*
 * Done-when evidence: credentials that live 4 seconds, from the standard chain,
 * are refreshed during the run by the chain's refresher, and no caller ever
 * gets expired ones.
 */
static void refreshed_during_run(const char *prefix) {
    kn_fake_creds_control(fake, "{\"lifetime_s\": 4}");
    kn_creds_t *c = kn_creds_new(NULL);
    kn_credentials_t k;
    kn_error_t *err = NULL;
    ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_OK);
    ck_assert(!strncmp(k.session_token, prefix, strlen(prefix)));
    char first[64];
    snprintf(first, sizeof(first), "%s", k.session_token);
    kn_credentials_clear(&k);
    int changed = 0;
    for (int i = 0; i < WAIT_STEPS && changed < 2; i++) {
        ck_assert_int_eq(kn_creds_get(c, &k, &err), KN_OK);
        ck_assert_int_gt(k.expiration_ms, wall_ms()); /* never expired ones */
        changed += strcmp(k.session_token, first) != 0;
        if (strcmp(k.session_token, first))
            snprintf(first, sizeof(first), "%s", k.session_token);
        kn_credentials_clear(&k);
        pause_us(WAIT_STEP_US);
    }
    ck_assert_int_eq(changed, 2);
    kn_creds_destroy(c);
}

START_TEST(refresh_during_run_container) {
    char url[256];
    snprintf(url, sizeof(url), "%s/container/creds", kn_fake_creds_url(fake));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    refreshed_during_run("container-token-");
    ck_assert_int_ge(kn_fake_creds_count(fake, "container"), 3);
}
END_TEST

START_TEST(refresh_during_run_web_identity) {
    char path[4096];
    web_identity_env("jwt-a", path, sizeof(path));
    refreshed_during_run("sts-token-");
    ck_assert_int_ge(kn_fake_creds_count(fake, "sts"), 3);
}
END_TEST

START_TEST(refresh_during_run_imds) {
    imds_env();
    refreshed_during_run("imds-token-");
    ck_assert_int_ge(kn_fake_creds_count(fake, "imds"), 6);
    ck_assert_int_eq(kn_fake_creds_count(fake, "imds_token"), 1); /* the session token is reused */
}
END_TEST

typedef struct {
    pthread_mutex_t mu;
    int64_t now;
} clock_t_;

static int64_t test_now(void *opaque) {
    clock_t_ *t = opaque;
    pthread_mutex_lock(&t->mu);
    int64_t v = t->now;
    pthread_mutex_unlock(&t->mu);
    return v;
}

static void clock_set(clock_t_ *t, int64_t v) {
    pthread_mutex_lock(&t->mu);
    t->now = v;
    pthread_mutex_unlock(&t->mu);
}

static int warnings(kn_test_log_t *cap) {
    pthread_mutex_lock(&cap->lock);
    int n = cap->lines[KN_LOG_WARN];
    pthread_mutex_unlock(&cap->lock);
    return n;
}

/* The session token kn_creds_get returns now (copied into buf). */
static const char *token_now(kn_creds_t *c, char *buf, size_t size) {
    kn_credentials_t k;
    kn_error_t *err = NULL;
    kn_err_t rc = kn_creds_get(c, &k, &err);
    ck_assert_msg(rc == KN_OK, "%s", kn_error_message(err));
    snprintf(buf, size, "%s", k.session_token);
    kn_credentials_clear(&k);
    return buf;
}

START_TEST(refresh_500_keeps_old_credentials) {
    char url[256], tok[64], first[64];
    snprintf(url, sizeof(url), "%s/container/creds", kn_fake_creds_url(fake));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    kn_conf_t *conf = kn_conf_new();
    kn_conf_set_log_fn(conf, kn_test_log_fn, &cap);
    kn_creds_t *c = kn_creds_new(conf);
    clock_t_ clk = {PTHREAD_MUTEX_INITIALIZER, wall_ms()};
    kn_creds_set_clock(c, test_now, &clk);
    kn_credentials_t k;
    ck_assert_int_eq(kn_creds_get(c, &k, NULL), KN_OK);
    int64_t exp = k.expiration_ms;
    snprintf(first, sizeof(first), "%s", k.session_token);
    kn_credentials_clear(&k);
    /* the agent fails every attempt of the next refresh */
    kn_fake_creds_control(fake, "{\"fail\": {\"container\": [500, 500, 500]}}");
    clock_set(&clk, exp - KN_CREDS_REFRESH_MARGIN_MS);
    ck_assert_str_eq(token_now(c, tok, sizeof(tok)), first);
    for (int i = 0; i < WAIT_STEPS && warnings(&cap) < 1; i++)
        pause_us(WAIT_STEP_US);
    ck_assert_int_eq(warnings(&cap), 1);
    ck_assert_ptr_nonnull(strstr(cap.text, "container: HTTP 500: fake agent outage"));
    ck_assert_int_eq(kn_fake_creds_count(fake, "container"), 1 + KN_CREDS_HTTP_ATTEMPTS);
    /* the old ones are still served */
    ck_assert_str_eq(token_now(c, tok, sizeof(tok)), first);
    /* after the retry delay the agent is back: new ones */
    clock_set(&clk, exp - KN_CREDS_REFRESH_MARGIN_MS + KN_CREDS_RETRY_BASE_MS);
    int changed = 0;
    for (int i = 0; i < WAIT_STEPS && !changed; i++) {
        changed = strcmp(token_now(c, tok, sizeof(tok)), first) != 0;
        pause_us(WAIT_STEP_US);
    }
    ck_assert(changed);
    ck_assert_int_eq(kn_fake_creds_count(fake, "container"), 2 + KN_CREDS_HTTP_ATTEMPTS);
    kn_creds_destroy(c);
    kn_conf_destroy(conf);
}
END_TEST

/* ============================================ signed calls carry the token */

/*
 * A Kinesis client whose endpoint is the fake's token-checking front and whose
 * only credential source is the fake's container endpoint. Returns its conf.
 */
static kn_conf_t *kinesis_client_on_fake(kn_service_client_t *cl) {
    char url[256];
    snprintf(url, sizeof(url), "%s/container/creds", kn_fake_creds_url(fake));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "region", "us-east-1", NULL, 0), KN_OK);
    ck_assert_int_eq(kn_conf_set(conf, "kinesis.endpoint.url", kn_fake_creds_url(fake), NULL, 0),
                     KN_OK);
    kn_error_t *err = NULL;
    kn_err_t rc = kn_service_client_init(cl, conf, "kinesis", "Kinesis_20131202.",
                                         "application/x-amz-json-1.1", NULL, NULL, &err);
    ck_assert_msg(rc == KN_OK, "%s", kn_error_message(err));
    return conf;
}

START_TEST(signed_call_carries_security_token) {
    kn_service_client_t cl;
    kn_error_t *err = NULL;
    kn_conf_t *conf = kinesis_client_on_fake(&cl);
    cJSON *result = NULL;
    kn_err_t rc = kn_service_call(cl.svc, "ListStreams", NULL, NULL, &result, &err);
    ck_assert_msg(rc == KN_OK, "%s", kn_error_message(err));
    cJSON_Delete(result);
    cJSON *log = kn_fake_creds_log(fake);
    const cJSON *call = nth(log, "kinesis", 0);
    const char *token = field(call, "headers", "x-amz-security-token");
    ck_assert_str_eq(token, cJSON_GetObjectItem(nth(log, "container", 0), "token")->valuestring);
    ck_assert_int_eq(status_of(call), 200); /* the front found it issued, unexpired and signed */
    /* and the signature covers it: re-signing what was received gives the same Authorization */
    kn_header_t h[] = {
        {"Host", field(call, "headers", "host")},
        {"Content-Type", field(call, "headers", "content-type")},
        {"X-Amz-Target", field(call, "headers", "x-amz-target")},
        {"X-Amz-Date", field(call, "headers", "x-amz-date")},
        {"X-Amz-Security-Token", token},
    };
    kn_sigv4_request_t sreq = {.method = "POST", .path = "/", .headers = h, .nheaders = 5,
                               .body = (const uint8_t *)"{}", .body_len = 2,
                               .service = "kinesis", .region = "us-east-1"};
    kn_credentials_t k;
    ck_assert_int_eq(kn_credentials_set(&k, KN_FAKE_CREDS_AKID, KN_FAKE_CREDS_SECRET, token, 0),
                     KN_OK);
    kn_sigv4_result_t sig = {0};
    ck_assert_int_eq(kn_sigv4_sign(&sreq, &k, &sig, 0), KN_OK);
    ck_assert_str_eq(sig.authorization, field(call, "headers", "authorization"));
    ck_assert_ptr_nonnull(strstr(sig.authorization, "x-amz-security-token"));
    kn_sigv4_result_clear(&sig);
    kn_credentials_clear(&k);
    cJSON_Delete(log);
    kn_service_client_clear(&cl);
    kn_conf_destroy(conf);
}
END_TEST

typedef struct {
    kn_service_t *svc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    kn_err_t first_rc;  /* the slow call's outcome */
    kn_err_t nested_rc; /* the call started from its callback, on the I/O thread */
    char nested_msg[512];
} nested_t;

static void ignore_done(void *opaque, cJSON *result, const kn_error_t *err) {
    (void)opaque, (void)err;
    cJSON_Delete(result);
}

static void slow_done(void *opaque, cJSON *result, const kn_error_t *err) {
    nested_t *n = opaque;
    cJSON_Delete(result);
    kn_error_t *e = NULL;
    kn_err_t rc = kn_service_call_async(n->svc, "ListStreams", "{}", NULL, ignore_done, NULL, &e);
    pthread_mutex_lock(&n->mu);
    n->first_rc = err ? kn_error_code(err) : KN_OK;
    n->nested_rc = rc;
    snprintf(n->nested_msg, sizeof(n->nested_msg), "%s", kn_error_message(e));
    n->done = 1;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    kn_error_destroy(e);
}

START_TEST(io_thread_never_fetches) {
    kn_fake_creds_control(fake, "{\"lifetime_s\": 2}");
    kn_service_client_t cl;
    kn_error_t *err = NULL;
    kn_conf_t *conf = kinesis_client_on_fake(&cl);
    /* the first call fetches on this thread; then the agent goes down for a while */
    ck_assert_int_eq(kn_service_call(cl.svc, "ListStreams", NULL, NULL, NULL, &err), KN_OK);
    kn_fake_creds_control(fake, "{\"fail\": {\"container\": [500, 500, 500, 500, 500, 500, 500, "
                                "500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500]}, "
                                "\"kinesis_delay_s\": 3}");
    /* a call signed now is answered after the credentials expired; its callback starts another */
    nested_t n = {.svc = cl.svc, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    ck_assert_int_eq(kn_service_call_async(cl.svc, "ListStreams", "{}", NULL, slow_done, &n, &err),
                     KN_OK);
    pthread_mutex_lock(&n.mu);
    while (!n.done)
        pthread_cond_wait(&n.cv, &n.mu);
    pthread_mutex_unlock(&n.mu);
    ck_assert_int_eq(n.first_rc, KN_OK);
    /* the cache only: the expiry error at once, not the agent's 500 from an inline fetch */
    ck_assert_int_eq(n.nested_rc, KN_ERR_EXPIRED_TOKEN);
    ck_assert_msg(!strncmp(n.nested_msg, "credentials from container expired ", 35), "%s",
                  n.nested_msg);
    /* the refresher keeps trying in the background; once the agent is back, calls succeed */
    kn_fake_creds_control(fake, "{\"fail\": {}, \"kinesis_delay_s\": 0, \"lifetime_s\": 3600}");
    kn_credentials_t k;
    kn_err_t rc = KN_ERR_STATE;
    for (int i = 0; i < WAIT_STEPS && (rc = kn_creds_get_nowait(cl.creds, &k, NULL)) != KN_OK; i++)
        pause_us(WAIT_STEP_US);
    ck_assert_int_eq(rc, KN_OK);
    kn_credentials_clear(&k);
    ck_assert_int_eq(kn_service_call(cl.svc, "ListStreams", NULL, NULL, NULL, &err), KN_OK);
    kn_service_client_clear(&cl);
    kn_conf_destroy(conf);
}
END_TEST

START_TEST(no_secret_in_logs) {
    char url[256], path[4096];
    kn_test_log_t cap;
    kn_test_log_init(&cap);
    kn_conf_t *conf = kn_conf_new();
    ck_assert_int_eq(kn_conf_set(conf, "log.level", "trace", NULL, 0), KN_OK);
    kn_conf_set_log_fn(conf, kn_test_log_fn, &cap);
    snprintf(url, sizeof(url), "%s/container/creds", kn_fake_creds_url(fake));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth-SECRET-xyz", 1);
    kn_fake_creds_control(fake, "{\"container_auth\": \"auth-SECRET-xyz\"}");
    web_identity_env("jwt-SECRET-abc", path, sizeof(path));
    const char *sources[] = {"web identity", "container", "imds"};
    for (int i = 0; i < 3; i++) {
        if (i == 1)
            unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
        if (i == 2) {
            unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
            imds_env();
        }
        kn_creds_t *c = kn_creds_new(conf);
        kn_credentials_t k;
        kn_error_t *err = NULL;
        ck_assert_msg(kn_creds_get(c, &k, &err) == KN_OK, "%s: %s", sources[i],
                      kn_error_message(err));
        kn_credentials_clear(&k);
        kn_creds_destroy(c);
    }
    ck_assert_ptr_nonnull(strstr(cap.text, "credentials from web-identity"));
    ck_assert_ptr_nonnull(strstr(cap.text, "credentials from container"));
    ck_assert_ptr_nonnull(strstr(cap.text, "credentials from imds"));
    const char *secrets[] = {KN_FAKE_CREDS_SECRET, "sts-token-", "container-token-",
                             "imds-token-", "imds-session-", "auth-SECRET-xyz", "jwt-SECRET-abc"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        ck_assert_msg(!strstr(cap.text, secrets[i]), "%s logged", secrets[i]);
    kn_conf_destroy(conf);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("creds_remote");
    TCase *tc = tcase_create("pure");
    tcase_add_checked_fixture(tc, setup_pure, teardown_pure);
    tcase_add_test(tc, iso8601_times);
    tcase_add_test(tc, sts_reply_parsed);
    tcase_add_test(tc, sts_errors_mapped);
    tcase_add_test(tc, sts_malformed_rejected);
    tcase_add_test(tc, json_credentials);
    tcase_add_test(tc, container_url_rules);
    tcase_add_test(tc, imds_and_sts_urls);
    tcase_add_test(tc, token_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("fake");
    tcase_add_checked_fixture(tc, setup_fake, teardown_fake);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, web_identity_end_to_end);
    tcase_add_test(tc, web_identity_from_profile_in_chain);
    tcase_add_test(tc, web_identity_failures);
    tcase_add_test(tc, container_end_to_end);
    tcase_add_test(tc, imds_end_to_end);
    tcase_add_test(tc, imds_off_or_absent);
    tcase_add_test(tc, imds_region_last_resort);
    tcase_add_test(tc, chain_order_remote);
    tcase_add_test(tc, refresh_during_run_container);
    tcase_add_test(tc, refresh_during_run_web_identity);
    tcase_add_test(tc, refresh_during_run_imds);
    tcase_add_test(tc, refresh_500_keeps_old_credentials);
    tcase_add_test(tc, signed_call_carries_security_token);
    tcase_add_test(tc, io_thread_never_fetches);
    tcase_add_test(tc, no_secret_in_logs);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
