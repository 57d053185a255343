/*
 * A fast local Kinesis sink for benchmarks: answers ListShards and PutRecords
 * like the service (tests/lib/kn_fake_kinesis, fast mode: entries are counted,
 * not kept) on a free 127.0.0.1 port, printing its URL on the first line of
 * stdout, until killed.
 *
 *   bench_kinesis_sink [--shards N] [--delay-ms MS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_fake_kinesis.h"

int main(int argc, char **argv) {
    int shards = 8;
    kn_fake_faults_t faults = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shards") && i + 1 < argc)
            shards = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc)
            faults.delay_ms = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--shards N] [--delay-ms MS]\n", argv[0]);
            return 2;
        }
    }
    kn_fake_kinesis_t *f = kn_fake_kinesis_start(shards, 0);
    kn_fake_kinesis_set_faults(f, &faults);
    kn_fake_kinesis_serve_forever(f);
    return 0;
}
