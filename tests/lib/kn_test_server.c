#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "kn_test_server.h"

#define ACCEPT_POLL_MS 20
#define SLEEP_SLICE_MS 10
#define MAX_CONNS 1024

typedef struct {
    kn_test_server_t *srv;
    int fd;
    int open;
    pthread_t thread;
} conn_t;

struct kn_test_server_s {
    int listen_fd;
    int port;
    kn_test_conn_fn *fn;
    void *opaque;
    atomic_int stopping;
    pthread_t accept_thread;
    pthread_mutex_t lock;
    conn_t *conns[MAX_CONNS];
    int nconns;
};

static void *conn_main(void *arg) {
    conn_t *c = arg;
    c->srv->fn(c->srv, c->fd, c->srv->opaque);
    pthread_mutex_lock(&c->srv->lock);
    close(c->fd);
    c->open = 0;
    pthread_mutex_unlock(&c->srv->lock);
    return NULL;
}

static void *accept_main(void *arg) {
    kn_test_server_t *s = arg;
    while (!atomic_load(&s->stopping)) {
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        if (poll(&p, 1, ACCEPT_POLL_MS) <= 0)
            continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        /* Replies are written in pieces; Nagle plus delayed ACKs would add 40 ms each. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_t *c = calloc(1, sizeof(*c));
        pthread_mutex_lock(&s->lock);
        if (!c || s->nconns == MAX_CONNS) {
            pthread_mutex_unlock(&s->lock);
            free(c);
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        c->open = 1;
        s->conns[s->nconns++] = c;
        pthread_create(&c->thread, NULL, conn_main, c);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

kn_test_server_t *kn_test_server_start(kn_test_conn_fn *fn, void *opaque) {
    kn_test_server_t *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->fn = fn;
    s->opaque = opaque;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->listen_fd, 0);
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->listen_fd, 128), 0);
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(s->listen_fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->lock, NULL);
    ck_assert_int_eq(pthread_create(&s->accept_thread, NULL, accept_main, s), 0);
    return s;
}

int kn_test_server_port(const kn_test_server_t *srv) { return srv->port; }

int kn_test_server_accepted(kn_test_server_t *srv) {
    pthread_mutex_lock(&srv->lock);
    int n = srv->nconns;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

int kn_test_server_stopping(kn_test_server_t *srv) { return atomic_load(&srv->stopping); }

int kn_test_server_sleep(kn_test_server_t *srv, int ms) {
    while (ms > 0 && !atomic_load(&srv->stopping)) {
        int slice = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
        struct timespec ts = {0, (long)slice * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return !atomic_load(&srv->stopping);
}

void kn_test_server_stop(kn_test_server_t *srv) {
    if (!srv)
        return;
    atomic_store(&srv->stopping, 1);
    pthread_join(srv->accept_thread, NULL);
    close(srv->listen_fd);
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->nconns; i++)
        if (srv->conns[i]->open)
            shutdown(srv->conns[i]->fd, SHUT_RDWR);
    pthread_mutex_unlock(&srv->lock);
    for (int i = 0; i < srv->nconns; i++) {
        pthread_join(srv->conns[i]->thread, NULL);
        free(srv->conns[i]);
    }
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

int kn_test_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int kn_test_refusing_port(int *fd) {
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(*fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}
