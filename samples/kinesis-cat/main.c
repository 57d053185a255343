/* kinesis-cat: option parsing and dispatch to the mode files. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcat.h"

static const char usage_text[] =
    "Usage:\n"
    "  kinesis-cat -L -s STREAM                  list shards, one JSON object per line\n"
    "  kinesis-cat --create STREAM --shards N    create a stream and wait until ACTIVE\n"
    "  kinesis-cat --delete STREAM               delete a stream and wait until gone\n"
    "  kinesis-cat -P -s STREAM [-K DELIM | -k KEY] [--explicit-hash-key N]\n"
    "              [--no-aggregate] [--ordering strict]\n"
    "                                            each stdin line is one record: -K splits\n"
    "                                            key and data at the first DELIM, -k gives\n"
    "                                            every record KEY, else keys are random;\n"
    "                                            failures and a JSON summary on stderr\n"
    "  kinesis-cat -C -s STREAM -G APP [--fanout [--consumer-name NAME]] [--worker-id ID]\n"
    "              [-f FORMAT] [--exit-idle SECONDS]\n"
    "              [--from trim_horizon|latest|at_timestamp:RFC3339]\n"
    "                                            consume as a worker of group APP (lease\n"
    "                                            table APP); --fanout: enhanced fan-out as\n"
    "                                            stream consumer NAME (default APP,\n"
    "                                            registered if missing), else polling;\n"
    "                                            FORMAT (default %s\\n): %s data,\n"
    "                                            %k partition key, %S sequence number,\n"
    "                                            %u subsequence number, %p shard id,\n"
    "                                            %T arrival ms, %% a percent; \\n, \\t\n"
    "Common options:\n"
    "  -s, --stream NAME|ARN           the stream\n"
    "  --endpoint-url URL              Kinesis endpoint (else AWS_ENDPOINT_URL_KINESIS,\n"
    "                                  AWS_ENDPOINT_URL, the regional default)\n"
    "  --dynamodb-endpoint-url URL     lease-table endpoint\n"
    "  --region REGION                 else AWS_REGION, AWS_DEFAULT_REGION, the profile\n"
    "  --profile NAME                  else AWS_PROFILE\n"
    "  -X name=value                   any library property (see docs/CONFIGURATION.md)\n"
    "  -v / -q                         more / less logging on stderr\n"
    "  -h, --help                      this text\n";

void kcat_errorf(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "kinesis-cat: %s\n", buf);
}

void kcat_error_obj(const char *what, const kn_error_t *err) {
    char buf[1024];
    kcat_errorf("%s: %s", what, kn_error_format(err, buf, sizeof(buf)));
}

static int usage_error(const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    kcat_errorf("%s (see kinesis-cat --help)", msg);
    return KCAT_EXIT_USAGE;
}

static int set_conf(kn_conf_t *conf, const char *name, const char *value) {
    char err[256];
    if (kn_conf_set(conf, name, value, err, sizeof(err)) != KN_OK) {
        kcat_errorf("%s", err);
        return -1;
    }
    return 0;
}

/* "-X name=value" */
static int set_property(kn_conf_t *conf, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        usage_error("-X expects name=value, got \"%s\"", arg);
        return -1;
    }
    char name[128];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof(name)) {
        usage_error("-X: property name too long: \"%s\"", arg);
        return -1;
    }
    memcpy(name, arg, n);
    name[n] = '\0';
    return set_conf(conf, name, eq + 1);
}

static int parse_long(const char *s, long min, long max, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int set_mode(kcat_opts_t *o, kcat_mode_t mode) {
    if (o->mode != KCAT_MODE_NONE && o->mode != mode)
        return -1;
    o->mode = mode;
    return 0;
}

enum {
    OPT_ENDPOINT = 256, OPT_DDB_ENDPOINT, OPT_REGION, OPT_PROFILE, OPT_CREATE, OPT_DELETE,
    OPT_SHARDS, OPT_WORKER_ID, OPT_FROM, OPT_EXIT_IDLE, OPT_FANOUT, OPT_CONSUMER_NAME,
    OPT_EHK, OPT_NO_AGGREGATE, OPT_ORDERING
};

static const struct option long_opts[] = {
    {"stream", required_argument, NULL, 's'},
    {"endpoint-url", required_argument, NULL, OPT_ENDPOINT},
    {"dynamodb-endpoint-url", required_argument, NULL, OPT_DDB_ENDPOINT},
    {"region", required_argument, NULL, OPT_REGION},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"create", required_argument, NULL, OPT_CREATE},
    {"delete", required_argument, NULL, OPT_DELETE},
    {"shards", required_argument, NULL, OPT_SHARDS},
    {"worker-id", required_argument, NULL, OPT_WORKER_ID},
    {"from", required_argument, NULL, OPT_FROM},
    {"exit-idle", required_argument, NULL, OPT_EXIT_IDLE},
    {"fanout", no_argument, NULL, OPT_FANOUT},
    {"consumer-name", required_argument, NULL, OPT_CONSUMER_NAME},
    {"explicit-hash-key", required_argument, NULL, OPT_EHK},
    {"no-aggregate", no_argument, NULL, OPT_NO_AGGREGATE},
    {"ordering", required_argument, NULL, OPT_ORDERING},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses argv into *o and conf; returns -1 after printing a usage error. */
static int parse_args(int argc, char **argv, kcat_opts_t *o, kn_conf_t *conf) {
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":LCPG:K:k:f:hvqX:s:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'P':
            if (set_mode(o, KCAT_MODE_PRODUCE))
                return usage_error("choose one of -L, -P, -C, --create, --delete%s", NULL), -1;
            break;
        case 'K':
            o->key_delim = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case OPT_EHK:
            o->explicit_hash_key = optarg;
            break;
        case OPT_NO_AGGREGATE:
            o->no_aggregate = 1;
            break;
        case OPT_ORDERING:
            o->ordering = optarg;
            break;
        case 'C':
            if (set_mode(o, KCAT_MODE_CONSUME))
                return usage_error("choose one of -L, -P, -C, --create, --delete%s", NULL), -1;
            break;
        case 'G':
            o->group = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case OPT_WORKER_ID:
            o->worker_id = optarg;
            break;
        case OPT_FROM:
            o->from = optarg;
            break;
        case OPT_EXIT_IDLE:
            if (parse_long(optarg, 0, 86400 * 365, &o->exit_idle_s))
                return usage_error("--exit-idle expects seconds, got \"%s\"", optarg), -1;
            break;
        case OPT_FANOUT:
            o->fanout = 1;
            break;
        case OPT_CONSUMER_NAME:
            o->consumer_name = optarg;
            break;
        case 'L':
            if (set_mode(o, KCAT_MODE_LIST))
                return usage_error("choose one of -L, -P, -C, --create, --delete%s", NULL), -1;
            break;
        case OPT_CREATE:
        case OPT_DELETE:
            if (set_mode(o, c == OPT_CREATE ? KCAT_MODE_CREATE : KCAT_MODE_DELETE))
                return usage_error("choose one of -L, -P, -C, --create, --delete%s", NULL), -1;
            o->stream = optarg;
            break;
        case OPT_SHARDS:
            if (parse_long(optarg, 1, 100000, &o->shards))
                return usage_error("--shards expects a positive integer, got \"%s\"", optarg), -1;
            break;
        case 's':
            o->stream = optarg;
            break;
        case 'X':
            if (set_property(conf, optarg))
                return -1;
            break;
        case OPT_ENDPOINT:
            if (set_conf(conf, "kinesis.endpoint.url", optarg))
                return -1;
            break;
        case OPT_DDB_ENDPOINT:
            if (set_conf(conf, "dynamodb.endpoint.url", optarg))
                return -1;
            break;
        case OPT_REGION:
            if (set_conf(conf, "region", optarg))
                return -1;
            break;
        case OPT_PROFILE:
            if (set_conf(conf, "profile", optarg))
                return -1;
            break;
        case 'v':
            o->verbosity++;
            break;
        case 'q':
            o->verbosity--;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(KCAT_EXIT_OK);
        case ':':
            return usage_error("option %s needs an argument", argv[optind - 1]), -1;
        default:
            return usage_error("unknown option %s", argv[optind - 1]), -1;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]), -1;
    return 0;
}

static int apply_verbosity(const kcat_opts_t *o, kn_conf_t *conf) {
    static const char *levels[] = {"error", "warn", "info", "debug", "trace"};
    int idx = 1 + o->verbosity; /* default: warn, so output stays clean */
    if (idx < 0)
        idx = 0;
    if (idx > 4)
        idx = 4;
    return set_conf(conf, "log.level", levels[idx]);
}

int main(int argc, char **argv) {
    kcat_opts_t o = {.exit_idle_s = -1};
    kn_conf_t *conf = kn_conf_new();
    if (!conf) {
        kcat_errorf("out of memory");
        return KCAT_EXIT_RUNTIME;
    }
    /* Quiet by default (warnings only); -v/-q move from there, -X log.level=... also works. */
    if (apply_verbosity(&o, conf) || parse_args(argc, argv, &o, conf) ||
        (o.verbosity && apply_verbosity(&o, conf))) {
        kn_conf_destroy(conf);
        return KCAT_EXIT_USAGE;
    }
    int rc;
    switch (o.mode) {
    case KCAT_MODE_LIST:
        rc = kcat_list(&o, conf);
        break;
    case KCAT_MODE_CREATE:
        rc = kcat_create(&o, conf);
        break;
    case KCAT_MODE_DELETE:
        rc = kcat_delete(&o, conf);
        break;
    case KCAT_MODE_CONSUME:
        rc = kcat_consume(&o, conf);
        break;
    case KCAT_MODE_PRODUCE:
        rc = kcat_produce(&o, conf);
        break;
    default:
        rc = usage_error("choose a mode: -L, -P, -C, --create or --delete%s", NULL);
        break;
    }
    kn_conf_destroy(conf);
    return rc;
}
