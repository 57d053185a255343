/* PutRecords batching under the 500-entry and 5 MiB limits. */
#include "collector.h"

void kn_collector_init(kn_collector_t *c) {
    c->krecs.head = c->krecs.tail = NULL;
    c->krecs.count = 0;
    c->bytes = 0;
    c->deadline_us = INT64_MAX;
}

int kn_collector_fits(const kn_collector_t *c, const kn_krec_t *k) {
    return c->krecs.count < KN_PUT_MAX_ENTRIES && k->wire_bytes <= KN_PUT_MAX_BYTES - c->bytes;
}

void kn_collector_add(kn_collector_t *c, kn_krec_t *k) {
    kn_krec_list_push(&c->krecs, k);
    c->bytes += k->wire_bytes;
    if (k->deadline_us < c->deadline_us)
        c->deadline_us = k->deadline_us;
}

int kn_collector_due(const kn_collector_t *c, int64_t now_us, int flushing) {
    if (!c->krecs.count)
        return 0;
    return flushing || c->krecs.count >= KN_PUT_MAX_ENTRIES || c->deadline_us <= now_us;
}

void kn_collector_take(kn_collector_t *c, kn_krec_list_t *out) {
    *out = c->krecs;
    kn_collector_init(c);
}
