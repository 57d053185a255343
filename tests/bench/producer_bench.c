/*
 * Producer benchmark: N records of S bytes over K partition keys through the
 * real pipeline (validation, aggregation, PutRecords over HTTP, reports) into a
 * Kinesis endpoint; by default a local sink (bench_kinesis_sink) started as a
 * separate process, so the CPU figures are the producer's alone.
 *
 *   bench_producer_bench [-n N] [-s SIZE] [-k KEYS] [-t THREADS] [--shards N]
 *                        [--endpoint URL --stream NAME] [-X name=value ...]
 *                        [--overhead]
 *
 * Prints user records/s, MB/s, user records per CPU-second of this process
 * (getrusage), put() latency p50/p99 (measured around one put in 8), peak RSS.
 * --overhead buffers N records against an endpoint that refuses connections
 * (so records wait for the shard map: no aggregate copies, no request bodies)
 * and prints the memory held per record beyond its data.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kinesis/producer.h"

/* put() latency is measured on one put in LAT_SAMPLE. */
#define LAT_SAMPLE 8

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static long current_rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* CPU seconds per thread, by name, from /proc: which thread does the work. */
static void thread_cpu(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    long tck = sysconf(_SC_CLK_TCK);
    printf("CPU by thread:");
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "", buf[1024];
        unsigned long ut = 0, st = 0;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(comm, sizeof(comm), f))
                comm[0] = 0;
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = 0;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
        if ((f = fopen(path, "r"))) {
            char *q = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
            if (q)
                sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
            fclose(f);
        }
        printf(" %s=%.2fs", comm, (double)(ut + st) / (double)tck);
    }
    closedir(d);
    printf("\n");
}

static atomic_long delivered, failed;

static void on_report(const kn_delivery_report_t *r, void *opaque) {
    (void)opaque;
    if (r->error)
        atomic_fetch_add(&failed, 1);
    else
        atomic_fetch_add(&delivered, 1);
}

/* Starts bench_kinesis_sink next to this program; returns its pid and URL. */
static pid_t start_sink(const char *argv0, int shards, int delay_ms, char *url, size_t size) {
    char path[4096];
    snprintf(path, sizeof(path), "%s", argv0);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0),
             "bench_kinesis_sink");
    int fds[2];
    if (pipe(fds))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        char sh[16], dl[16];
        snprintf(sh, sizeof(sh), "%d", shards);
        snprintf(dl, sizeof(dl), "%d", delay_ms);
        execl(path, path, "--shards", sh, "--delay-ms", dl, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!f || !fgets(url, (int)size, f)) {
        kill(pid, SIGKILL);
        return -1;
    }
    url[strcspn(url, "\n")] = 0;
    return pid;
}

typedef struct {
    kn_producer_t *p;
    const char *stream;
    long first, count;
    int keys;
    char **key;      /* prepared, so the loop measures the producer, not snprintf */
    size_t size;
    int32_t *lat_ns; /* sampled put latencies */
    long nlat;
    double cpu_s;    /* the thread's CPU time, measured as it ends */
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    char *data = malloc(w->size + 1);
    memset(data, 'x', w->size);
    for (long i = w->first; i < w->first + w->count; i++) {
        const char *key = w->key[i % w->keys];
        kn_err_t rc;
        if ((i - w->first) % LAT_SAMPLE == 0) { /* timing every put costs more than a put */
            int64_t t0 = now_ns();
            rc = kn_producer_put(w->p, w->stream, key, NULL, data, w->size, NULL);
            int64_t dt = now_ns() - t0;
            w->lat_ns[w->nlat++] = dt > INT32_MAX ? INT32_MAX : (int32_t)dt;
        } else {
            rc = kn_producer_put(w->p, w->stream, key, NULL, data, w->size, NULL);
        }
        if (rc != KN_OK) {
            fprintf(stderr, "put: %s\n", kn_err2name(rc));
            exit(1);
        }
    }
    free(data);
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    w->cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    return NULL;
}

static int cmp32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = 1000000;
    size_t size = 100;
    int keys = 1000, threads = 1, shards = 8, overhead = 0;
    const char *endpoint = NULL, *stream = "bench";
    const char *xs[64];
    int nx = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = atol(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            keys = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shards") && i + 1 < argc)
            shards = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--endpoint") && i + 1 < argc)
            endpoint = argv[++i];
        else if (!strcmp(argv[i], "--stream") && i + 1 < argc)
            stream = argv[++i];
        else if (!strcmp(argv[i], "-X") && i + 1 < argc && nx < 64)
            xs[nx++] = argv[++i];
        else if (!strcmp(argv[i], "--overhead"))
            overhead = 1;
        else {
            fprintf(stderr,
                    "usage: %s [-n N] [-s SIZE] [-k KEYS] [-t THREADS] [--shards N] "
                    "[--endpoint URL --stream NAME] [-X name=value] [--overhead]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n < 1 || keys < 1 || threads < 1)
        return 2;
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDBENCHBENCHBENCH", 0);
    setenv("AWS_SECRET_ACCESS_KEY", "benchsecretbenchsecretbenchsecret0000000", 0);
    char url[256] = "";
    pid_t sink = 0;
    int refuse_fd = -1;
    if (overhead && !endpoint) {
        /* bound but not listening: every connection is refused */
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t alen = sizeof(a);
        refuse_fd = socket(AF_INET, SOCK_STREAM, 0);
        if (refuse_fd < 0 || bind(refuse_fd, (struct sockaddr *)&a, sizeof(a)) ||
            getsockname(refuse_fd, (struct sockaddr *)&a, &alen))
            return 1;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
        endpoint = url;
    }
    if (!endpoint) {
        sink = start_sink(argv[0], shards, 0, url, sizeof(url));
        if (sink < 0) {
            fprintf(stderr, "could not start bench_kinesis_sink\n");
            return 1;
        }
        endpoint = url;
    }
    kn_conf_t *c = kn_conf_new();
    char err[512];
    const char *defaults[][2] = {{"kinesis.endpoint.url", endpoint},
                                 {"region", "us-east-1"},
                                 /* the sink does not throttle: keep the shard limiter out */
                                 {"rate.limit.percent", "10000"},
                                 {"queue.full.behavior", "block"},
                                 {"buffer.max.bytes", overhead ? "17179869184" : "67108864"},
                                 {"buffer.max.records", overhead ? "100000000" : "1000000"},
                                 {"shutdown.timeout.ms", overhead ? "0" : "30000"},
                                 {"record.ttl.ms", overhead ? "3600000" : "30000"},
                                 {"log.level", "warn"}};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (kn_conf_set(c, defaults[i][0], defaults[i][1], err, sizeof(err)) != KN_OK) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    for (int i = 0; i < nx; i++) {
        char name[128];
        const char *eq = strchr(xs[i], '=');
        if (!eq || (size_t)(eq - xs[i]) >= sizeof(name))
            return 2;
        snprintf(name, sizeof(name), "%.*s", (int)(eq - xs[i]), xs[i]);
        if (kn_conf_set(c, name, eq + 1, err, sizeof(err)) != KN_OK) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    }
    kn_conf_set_delivery_report_fn(c, on_report, NULL);
    long rss0 = current_rss_kb();
    kn_producer_t *p = kn_producer_new(c, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "kn_producer_new: %s\n", err);
        return 1;
    }
    int32_t *lat = calloc((size_t)n / LAT_SAMPLE + (size_t)threads + 1, sizeof(*lat));
    long nlat = 0;
    char **key = malloc((size_t)keys * sizeof(*key));
    for (int i = 0; i < keys; i++) {
        key[i] = malloc(32);
        snprintf(key[i], 32, "key-%d", i);
    }
    worker_t *w = calloc((size_t)threads, sizeof(*w));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    long rss_before = current_rss_kb();
    double cpu0 = cpu_seconds();
    int64_t t0 = now_ns();
    for (int i = 0; i < threads; i++) {
        long per = n / threads, first = per * i;
        long cnt = i == threads - 1 ? n - first : per;
        w[i] = (worker_t){p, stream, first, cnt, keys, key, size, lat + nlat, 0};
        nlat += cnt / LAT_SAMPLE + 1; /* room for this worker's samples */
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    int64_t t_put = now_ns();
    /* pack the samples */
    nlat = 0;
    for (int i = 0; i < threads; i++) {
        memmove(lat + nlat, w[i].lat_ns, (size_t)w[i].nlat * sizeof(*lat));
        nlat += w[i].nlat;
    }
    if (overhead) {
        while (kn_producer_outstanding(p) < (size_t)n)
            usleep(1000);
        usleep(200000); /* the pipeline has taken them all */
        long rss = current_rss_kb();
        char *js = kn_producer_stats_json(p);
        printf("buffered %ld records of %zu bytes (key-N keys): RSS grew %.1f MB = %.1f bytes "
               "per record beyond the data; stats: %s\n",
               n, size, (rss - rss_before) / 1024.0,
               (double)(rss - rss_before) * 1024.0 / (double)n - (double)size, js);
        free(js);
    } else {
        /* wait as a steadily producing application would (linger applies), then
         * flush only the tail */
        while (kn_producer_outstanding(p) > 20000)
            usleep(1000);
        size_t left = 0;
        kn_producer_flush(p, -1, &left);
    }
    int64_t t_end = now_ns();
    double cpu = cpu_seconds() - cpu0;
    double secs = (double)(t_end - t0) / 1e9;
    qsort(lat, (size_t)nlat, sizeof(*lat), cmp32);
    if (!overhead) {
        printf("records=%ld size=%zu keys=%d threads=%d endpoint=%s\n", n, size, keys, threads,
               sink ? "local sink" : endpoint);
        printf("delivered=%ld failed=%ld wall=%.3f s (puts done after %.3f s)\n",
               atomic_load(&delivered), atomic_load(&failed), secs, (double)(t_put - t0) / 1e9);
        printf("user records/s: %.0f\n", (double)n / secs);
        printf("MB/s (payload): %.1f\n", (double)n * (double)size / secs / 1e6);
        printf("user records per CPU-second: %.0f (cpu %.3f s)\n", (double)n / cpu, cpu);
        printf("put() latency: p50 %.2f us, p99 %.2f us, p99.9 %.2f us\n",
               lat[(size_t)(nlat * 0.50)] / 1000.0, lat[(size_t)(nlat * 0.99)] / 1000.0,
               lat[(size_t)(nlat * 0.999)] / 1000.0);
        printf("peak RSS: %.1f MB (%.1f MB at start)\n", peak_rss_kb() / 1024.0, rss0 / 1024.0);
        double put_cpu = 0;
        for (int i = 0; i < threads; i++)
            put_cpu += w[i].cpu_s;
        printf("CPU of the putting thread%s: %.2fs\n", threads > 1 ? "s" : "", put_cpu);
        thread_cpu();
        char *js = kn_producer_stats_json(p);
        printf("stats: %s\n", js);
        free(js);
    }
    kn_producer_destroy(p);
    if (refuse_fd >= 0)
        close(refuse_fd);
    if (sink > 0) {
        kill(sink, SIGKILL);
        waitpid(sink, NULL, 0);
    }
    free(lat);
    for (int i = 0; i < keys; i++)
        free(key[i]);
    free(key);
    free(w);
    free(th);
    return atomic_load(&failed) && !overhead ? 1 : 0;
}
