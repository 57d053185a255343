/* kinesis-cat -L, --create, --delete: stream administration through kinesis/kinesis.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include <kinesis/kinesis.h>

#include "kcat.h"

/* Creating or deleting a stream takes seconds on AWS; a stuck one is worth an error. */
#define KCAT_ADMIN_WAIT_MS (10 * 60 * 1000)

static kn_kinesis_t *client_new(kn_conf_t *conf) {
    char errstr[512];
    kn_kinesis_t *k = kn_kinesis_new(conf, errstr, sizeof(errstr));
    if (!k)
        kcat_errorf("%s", errstr);
    return k;
}

static int need_stream(const kcat_opts_t *o, const char *mode) {
    if (o->stream && *o->stream)
        return 0;
    kcat_errorf("%s needs a stream (-s NAME) (see kinesis-cat --help)", mode);
    return -1;
}

static void add_opt_string(cJSON *obj, const char *name, const char *value) {
    if (value)
        cJSON_AddStringToObject(obj, name, value);
}

/* One line per shard, with the field names of the ListShards API. */
static int print_shard(const kn_shard_t *s) {
    cJSON *obj = cJSON_CreateObject();
    cJSON *hash = cJSON_CreateObject();
    cJSON *seq = cJSON_CreateObject();
    if (!obj || !hash || !seq) {
        cJSON_Delete(obj);
        cJSON_Delete(hash);
        cJSON_Delete(seq);
        return -1;
    }
    add_opt_string(obj, "ShardId", s->shard_id);
    add_opt_string(obj, "ParentShardId", s->parent_shard_id);
    add_opt_string(obj, "AdjacentParentShardId", s->adjacent_parent_shard_id);
    add_opt_string(hash, "StartingHashKey", s->starting_hash_key);
    add_opt_string(hash, "EndingHashKey", s->ending_hash_key);
    cJSON_AddItemToObject(obj, "HashKeyRange", hash);
    add_opt_string(seq, "StartingSequenceNumber", s->starting_sequence_number);
    add_opt_string(seq, "EndingSequenceNumber", s->ending_sequence_number);
    cJSON_AddItemToObject(obj, "SequenceNumberRange", seq);
    char *line = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!line)
        return -1;
    int rc = printf("%s\n", line) < 0 ? -1 : 0;
    cJSON_free(line);
    return rc;
}

int kcat_list(const kcat_opts_t *o, kn_conf_t *conf) {
    if (need_stream(o, "-L"))
        return KCAT_EXIT_USAGE;
    kn_kinesis_t *k = client_new(conf);
    if (!k)
        return KCAT_EXIT_RUNTIME;
    kn_shard_list_t *list = NULL;
    kn_error_t *err = NULL;
    int rc = KCAT_EXIT_OK;
    if (kn_kinesis_list_all_shards(k, o->stream, NULL, &list, &err) != KN_OK) {
        kcat_error_obj("list shards", err);
        rc = KCAT_EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < list->count && rc == KCAT_EXIT_OK; i++)
            if (print_shard(&list->shards[i]))
                rc = KCAT_EXIT_RUNTIME;
        if (fflush(stdout) != 0)
            rc = KCAT_EXIT_RUNTIME;
        if (rc != KCAT_EXIT_OK)
            kcat_errorf("list shards: could not write to stdout");
    }
    kn_error_destroy(err);
    kn_shard_list_destroy(list);
    kn_kinesis_destroy(k);
    return rc;
}

int kcat_create(const kcat_opts_t *o, kn_conf_t *conf) {
    if (need_stream(o, "--create"))
        return KCAT_EXIT_USAGE;
    if (o->shards <= 0) {
        kcat_errorf("--create needs --shards N (see kinesis-cat --help)");
        return KCAT_EXIT_USAGE;
    }
    kn_kinesis_t *k = client_new(conf);
    if (!k)
        return KCAT_EXIT_RUNTIME;
    kn_error_t *err = NULL;
    int rc = KCAT_EXIT_OK;
    if (kn_kinesis_create_stream(k, o->stream, (int)o->shards, KN_STREAM_MODE_PROVISIONED, &err) !=
        KN_OK) {
        kcat_error_obj("create stream", err);
        rc = KCAT_EXIT_RUNTIME;
    } else if (kn_kinesis_wait_stream_active(k, o->stream, KCAT_ADMIN_WAIT_MS, &err) != KN_OK) {
        kcat_error_obj("wait for stream to become ACTIVE", err);
        rc = KCAT_EXIT_RUNTIME;
    } else {
        fprintf(stderr, "kinesis-cat: stream %s is ACTIVE with %ld shards\n", o->stream, o->shards);
    }
    kn_error_destroy(err);
    kn_kinesis_destroy(k);
    return rc;
}

int kcat_delete(const kcat_opts_t *o, kn_conf_t *conf) {
    if (need_stream(o, "--delete"))
        return KCAT_EXIT_USAGE;
    kn_kinesis_t *k = client_new(conf);
    if (!k)
        return KCAT_EXIT_RUNTIME;
    kn_error_t *err = NULL;
    int rc = KCAT_EXIT_OK;
    if (kn_kinesis_delete_stream(k, o->stream, 0, &err) != KN_OK) {
        kcat_error_obj("delete stream", err);
        rc = KCAT_EXIT_RUNTIME;
    } else if (kn_kinesis_wait_stream_deleted(k, o->stream, KCAT_ADMIN_WAIT_MS, &err) != KN_OK) {
        kcat_error_obj("wait for stream deletion", err);
        rc = KCAT_EXIT_RUNTIME;
    } else {
        fprintf(stderr, "kinesis-cat: stream %s deleted\n", o->stream);
    }
    kn_error_destroy(err);
    kn_kinesis_destroy(k);
    return rc;
}
