/*
 * The fake remote credential sources (tests/lib/fake_creds_server.py: STS web
 * identity, container endpoint, IMDSv2, and a token-checking Kinesis front) as
 * a child process on a free 127.0.0.1 port, with its control and request log.
 */
#ifndef KN_FAKE_CREDS_H
#define KN_FAKE_CREDS_H

#include <cjson/cJSON.h>

typedef struct kn_fake_creds_s kn_fake_creds_t;

/* The key id and secret of every credential the fake issues. */
#define KN_FAKE_CREDS_AKID "AKIDFAKEREMOTE"
#define KN_FAKE_CREDS_SECRET "fake-remote-secret"

/*
 * Starts the fake with /usr/bin/python3 (KN_TEST_PYTHON overrides) from
 * $KN_SOURCE_DIR/tests/lib; waits for its port. Aborts the test on failure.
 */
kn_fake_creds_t *kn_fake_creds_start(void);
/* "http://127.0.0.1:PORT" */
const char *kn_fake_creds_url(const kn_fake_creds_t *f);
/* Merges settings (a JSON object text, e.g. "{\"lifetime_s\": 4}"); aborts on failure. */
void kn_fake_creds_control(kn_fake_creds_t *f, const char *json);
/* Every request seen so far, oldest first (a JSON array the caller deletes). */
cJSON *kn_fake_creds_log(kn_fake_creds_t *f);
/* How many logged requests have this kind ("sts", "container", "imds_token", "imds", "kinesis"). */
int kn_fake_creds_count(kn_fake_creds_t *f, const char *kind);
/* Empties the request log. */
void kn_fake_creds_clear_log(kn_fake_creds_t *f);
/* Kills the process by its pid, waits for it, frees. Accepts NULL. */
void kn_fake_creds_stop(kn_fake_creds_t *f);

#endif
