/* Runs tests/lib/fake_creds_server.py and talks to its control endpoints over plain sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kn_fake_creds.h"

#define START_WAIT_STEPS 300 /* x 50 ms: how long the fake may take to start */
#define REPLY_MAX (4 * 1024 * 1024)

extern char **environ;

struct kn_fake_creds_s {
    pid_t pid;
    int port;
    char url[64];
    char dir[64];
};

static int read_port(const char *path) {
    FILE *fp = fopen(path, "r");
    int port = 0;
    if (fp) {
        if (fscanf(fp, "%d", &port) != 1)
            port = 0;
        fclose(fp);
    }
    return port;
}

kn_fake_creds_t *kn_fake_creds_start(void) {
    kn_fake_creds_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/kn-fake-creds-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    const char *src = getenv("KN_SOURCE_DIR");
    const char *py = getenv("KN_TEST_PYTHON");
    char script[4096], portfile[128];
    snprintf(script, sizeof(script), "%s/tests/lib/fake_creds_server.py", src ? src : ".");
    snprintf(portfile, sizeof(portfile), "%s/port", f->dir);
    char *argv[] = {(char *)(py && *py ? py : "/usr/bin/python3"), script, portfile, NULL};
    ck_assert_msg(posix_spawn(&f->pid, argv[0], NULL, NULL, argv, environ) == 0,
                  "cannot start %s %s", argv[0], script);
    for (int i = 0; i < START_WAIT_STEPS && !(f->port = read_port(portfile)); i++) {
        int status;
        ck_assert_msg(waitpid(f->pid, &status, WNOHANG) == 0, "fake_creds_server.py exited");
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(f->port > 0, "fake_creds_server.py did not report its port");
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
    return f;
}

const char *kn_fake_creds_url(const kn_fake_creds_t *f) { return f->url; }

/* One request on its own connection; returns the status, the body in *body (caller frees). */
static int exchange(kn_fake_creds_t *f, const char *method, const char *path, const char *payload,
                    char **body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char head[512];
    size_t plen = payload ? strlen(payload) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, plen);
    ck_assert_int_eq(write(fd, head, (size_t)n), n);
    if (plen)
        ck_assert_int_eq(write(fd, payload, plen), (ssize_t)plen);
    char *buf = malloc(REPLY_MAX + 1);
    ck_assert_ptr_nonnull(buf);
    size_t len = 0;
    ssize_t r;
    while (len < REPLY_MAX && (r = read(fd, buf + len, REPLY_MAX - len)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(r, 0);
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    ck_assert_int_eq(sscanf(buf, "HTTP/1.%*d %d", &status), 1);
    char *start = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(start);
    *body = strdup(start + 4);
    free(buf);
    return status;
}

void kn_fake_creds_control(kn_fake_creds_t *f, const char *json) {
    char *body = NULL;
    ck_assert_int_eq(exchange(f, "POST", "/_control", json, &body), 200);
    free(body);
}

cJSON *kn_fake_creds_log(kn_fake_creds_t *f) {
    char *body = NULL;
    ck_assert_int_eq(exchange(f, "GET", "/_log", NULL, &body), 200);
    cJSON *j = cJSON_Parse(body);
    free(body);
    ck_assert_msg(cJSON_IsArray(j), "the fake's log is not a JSON array");
    return j;
}

int kn_fake_creds_count(kn_fake_creds_t *f, const char *kind) {
    cJSON *log = kn_fake_creds_log(f);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind");
        n += cJSON_IsString(k) && !strcmp(k->valuestring, kind);
    }
    cJSON_Delete(log);
    return n;
}

void kn_fake_creds_clear_log(kn_fake_creds_t *f) {
    char *body = NULL;
    ck_assert_int_eq(exchange(f, "POST", "/_clear_log", "{}", &body), 200);
    free(body);
}

void kn_fake_creds_stop(kn_fake_creds_t *f) {
    if (!f)
        return;
    kill(f->pid, SIGTERM);
    int status;
    waitpid(f->pid, &status, 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/port", f->dir);
    unlink(path);
    rmdir(f->dir);
    free(f);
}
