/*
 * A loopback TCP server for tests: listens on 127.0.0.1 on a free port and
 * serves each accepted connection on its own thread with a handler the test
 * supplies (a scripted fake HTTP peer, a counting relay...). Stopping it shuts
 * every connection down and joins every thread.
 */
#ifndef KN_TEST_SERVER_H
#define KN_TEST_SERVER_H

#include <stddef.h>

typedef struct kn_test_server_s kn_test_server_t;

/* Serves one connection; the server closes fd after it returns. */
typedef void(kn_test_conn_fn)(kn_test_server_t *srv, int fd, void *opaque);

/* Starts listening; aborts the test (ck_abort) when it cannot. */
kn_test_server_t *kn_test_server_start(kn_test_conn_fn *fn, void *opaque);
int kn_test_server_port(const kn_test_server_t *srv);
/* Connections accepted so far. */
int kn_test_server_accepted(kn_test_server_t *srv);
/* Nonzero once kn_test_server_stop has begun; handlers should return. */
int kn_test_server_stopping(kn_test_server_t *srv);
/* Sleeps up to ms, in short slices; returns 0 when the server is stopping. */
int kn_test_server_sleep(kn_test_server_t *srv, int ms);
/* Stops accepting, shuts down open connections, joins all threads, frees. NULL ok. */
void kn_test_server_stop(kn_test_server_t *srv);

/* Writes all of buf; returns 0 on success, -1 when the peer went away. */
int kn_test_write_all(int fd, const void *buf, size_t len);

/*
 * A port on 127.0.0.1 where connections are refused: the socket stays bound
 * (so nobody else takes the port) but never listens. Close *fd when done.
 */
int kn_test_refusing_port(int *fd);

#endif
