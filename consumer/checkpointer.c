/* Checkpoint validation, prepare-then-commit, and the public kn_checkpoint_* calls. */
#include <string.h>

#include "checkpointer.h"

void kn_ckpt_init(kn_checkpointer_t *cp, const kn_lease_t *lease, kn_ckpt_write_fn *write,
                  void *opaque) {
    memset(cp, 0, sizeof(*cp));
    cp->last = lease->checkpoint;
    cp->largest = lease->checkpoint;
    cp->has_pending = lease->has_pending;
    cp->pending = lease->pending;
    cp->write = write;
    cp->opaque = opaque;
}

void kn_ckpt_delivered(kn_checkpointer_t *cp, const kn_esn_t *pos) {
    if (kn_esn_cmp(pos, &cp->largest) > 0)
        cp->largest = *pos;
}

kn_err_t kn_ckpt_check(const kn_checkpointer_t *cp, const kn_esn_t *value) {
    if (value->kind != KN_ESN_NUMBER && value->kind != KN_ESN_SHARD_END)
        return KN_ERR_INVALID_ARG; /* start positions are not checkpoints */
    if (kn_esn_cmp(value, &cp->last) < 0 || kn_esn_cmp(value, &cp->largest) > 0)
        return KN_ERR_INVALID_ARG;
    return KN_OK;
}

/* Validates `value`, writes it as the checkpoint or the pending one, then records it. */
static kn_err_t write_value(kn_checkpointer_t *cp, const kn_esn_t *value, int pending) {
    kn_err_t rc = kn_ckpt_check(cp, value);
    if (rc)
        return rc;
    rc = pending ? cp->write(cp->opaque, NULL, value) : cp->write(cp->opaque, value, NULL);
    if (rc)
        return rc;
    if (pending) {
        cp->pending = *value;
    } else {
        cp->last = *value;
    }
    cp->has_pending = pending;
    return KN_OK;
}

kn_err_t kn_ckpt_commit(kn_checkpointer_t *cp, const kn_esn_t *value) {
    return write_value(cp, value, 0);
}

kn_err_t kn_ckpt_prepare(kn_checkpointer_t *cp, const kn_esn_t *value) {
    return write_value(cp, value, 1);
}

/* ---- public API ---- */

static kn_err_t parse_value(const kn_checkpointer_t *cp, const char *seq, int64_t subseq,
                            kn_esn_t *out) {
    if (!seq) {
        *out = cp->largest;
        return KN_OK;
    }
    if (kn_esn_parse(seq, subseq, out) != KN_OK || out->kind != KN_ESN_NUMBER)
        return KN_ERR_INVALID_ARG;
    return KN_OK;
}

kn_err_t kn_checkpoint(kn_checkpointer_t *cp) {
    if (!cp)
        return KN_ERR_INVALID_ARG;
    kn_esn_t v = cp->largest;
    /* Nothing delivered yet: a start position such as TRIM_HORIZON is no checkpoint. */
    if (v.kind != KN_ESN_NUMBER && v.kind != KN_ESN_SHARD_END)
        return KN_OK;
    return kn_ckpt_commit(cp, &v);
}

kn_err_t kn_checkpoint_at(kn_checkpointer_t *cp, const char *sequence_number,
                          int64_t subsequence_number) {
    kn_esn_t v;
    if (!cp || !sequence_number || parse_value(cp, sequence_number, subsequence_number, &v))
        return KN_ERR_INVALID_ARG;
    return kn_ckpt_commit(cp, &v);
}

kn_err_t kn_checkpoint_prepare(kn_checkpointer_t *cp, const char *sequence_number,
                               int64_t subsequence_number) {
    kn_esn_t v;
    if (!cp || parse_value(cp, sequence_number, subsequence_number, &v))
        return KN_ERR_INVALID_ARG;
    return kn_ckpt_prepare(cp, &v);
}

kn_err_t kn_checkpoint_commit(kn_checkpointer_t *cp) {
    if (!cp)
        return KN_ERR_INVALID_ARG;
    if (!cp->has_pending)
        return KN_ERR_STATE;
    kn_esn_t v = cp->pending;
    return kn_ckpt_commit(cp, &v);
}
