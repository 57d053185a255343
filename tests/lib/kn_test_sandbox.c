#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn_test_sandbox.h"

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS",
    "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_STS", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
};

void kn_test_sandbox_enter(char *dir, size_t size) {
    ck_assert_uint_gt(size, sizeof("/tmp/kn-test-XXXXXX"));
    snprintf(dir, size, "/tmp/kn-test-XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
        unsetenv(aws_vars[i]);
    setenv("HOME", dir, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    chmod(path, 0700); /* tests make some files unreadable */
    return remove(path);
}

void kn_test_sandbox_remove(const char *dir) {
    if (dir && !strncmp(dir, "/tmp/kn-test-", 13))
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void kn_test_write_file(const char *dir, const char *rel, const char *text, size_t len,
                        char *path, size_t size) {
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", dir, rel);
    for (char *s = full + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        ck_assert_msg(!mkdir(full, 0700) || errno == EEXIST, "mkdir %s: %s", full, strerror(errno));
        *s = '/';
    }
    FILE *f = fopen(full, "wb");
    ck_assert_msg(f != NULL, "fopen %s: %s", full, strerror(errno));
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    if (path)
        snprintf(path, size, "%s", full);
}
