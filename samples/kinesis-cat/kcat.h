/*
 * kinesis-cat: the command-line contract is /work/shared/reference/kinesis-cat.md
 * (docs/KINESIS-CAT.md in this repo). One file per mode: main.c parses options and
 * dispatches, admin.c does -L/--create/--delete; produce.c (-P) and consume.c (-C)
 * add their modes the same way. Built on the public API only.
 */
#ifndef KCAT_H
#define KCAT_H

#include <kinesis/common.h>

/* Exit codes promised by the contract. */
enum { KCAT_EXIT_OK = 0, KCAT_EXIT_RUNTIME = 1, KCAT_EXIT_USAGE = 2 };

typedef enum { KCAT_MODE_NONE, KCAT_MODE_LIST, KCAT_MODE_CREATE, KCAT_MODE_DELETE,
               KCAT_MODE_PRODUCE, KCAT_MODE_CONSUME } kcat_mode_t;

typedef struct kcat_opts_s {
    kcat_mode_t mode;
    const char *stream;     /* -s, or the argument of --create/--delete */
    long shards;            /* --shards */
    int verbosity;          /* -v: +1, -q: -1 */
    /* -P */
    const char *key_delim;  /* -K */
    const char *key;        /* -k */
    const char *explicit_hash_key;
    int no_aggregate;
    const char *ordering;
    /* -C */
    const char *group;      /* -G */
    int fanout;
    const char *consumer_name;
    const char *worker_id;
    const char *from;
    const char *format;     /* -f */
    long exit_idle_s;       /* --exit-idle, -1 = never */
} kcat_opts_t;

/* Prints "kinesis-cat: <message>" on stderr, one line. */
void kcat_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints an error object as one line: what failed and why (AWS type, message). */
void kcat_error_obj(const char *what, const kn_error_t *err);

/* Each mode takes the parsed options and the configuration (owned by main); returns an exit code. */
int kcat_list(const kcat_opts_t *o, kn_conf_t *conf);
int kcat_create(const kcat_opts_t *o, kn_conf_t *conf);
int kcat_delete(const kcat_opts_t *o, kn_conf_t *conf);
int kcat_consume(const kcat_opts_t *o, kn_conf_t *conf);
int kcat_produce(const kcat_opts_t *o, kn_conf_t *conf);

#endif
