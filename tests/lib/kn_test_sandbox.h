/* A throw-away home directory and a clean AWS environment for tests of config lookups. */
#ifndef KN_TEST_SANDBOX_H
#define KN_TEST_SANDBOX_H

#include <stddef.h>

/**
 * Creates a fresh directory under /tmp (mkdtemp), points HOME at it, unsets every
 * AWS_* variable the SDK reads for credentials, region, profiles and endpoints,
 * and sets AWS_EC2_METADATA_DISABLED=true. Writes the directory into dir.
 * Aborts the test on failure.
 */
void kn_test_sandbox_enter(char *dir, size_t size);

/** Removes the directory and everything below it (used as teardown). */
void kn_test_sandbox_remove(const char *dir);

/**
 * Writes `text` to dir/rel, creating the parent directories of rel; the full
 * path goes to path (may be NULL). Aborts the test on failure.
 */
void kn_test_write_file(const char *dir, const char *rel, const char *text, size_t len,
                        char *path, size_t size);

#endif
