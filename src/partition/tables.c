/* Partition store tables: key layout and value codecs. See tables.h for the layout. */
#include "partition/tables.h"

#include "partition/partition.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

const char *stet_inv_state_name(enum stet_inv_state s) {
    switch (s) {
    case STET_INV_SCHEDULED: return "scheduled";
    case STET_INV_INBOXED: return "inboxed";
    case STET_INV_INVOKED: return "invoked";
    case STET_INV_SUSPENDED: return "suspended";
    case STET_INV_PAUSED: return "paused";
    case STET_INV_COMPLETED: return "completed";
    }
    return "unknown";
}

/* ---- keys ---------------------------------------------------------------------------- */

void stet_key_fsm(struct stet_buf *k, uint32_t partition_id) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'F');
    stet_buf_append_u32be(k, partition_id);
}

static void key_inv(struct stet_buf *k, uint8_t tag, const struct stet_invocation_id *id) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, tag);
    stet_buf_append_u64be(k, id->partition_key);
    stet_buf_append(k, id->uuid, 16);
}

void stet_key_status(struct stet_buf *k, const struct stet_invocation_id *id) { key_inv(k, 'S', id); }
void stet_key_journal_prefix(struct stet_buf *k, const struct stet_invocation_id *id) { key_inv(k, 'J', id); }
void stet_key_journal(struct stet_buf *k, const struct stet_invocation_id *id, uint32_t index) {
    key_inv(k, 'J', id);
    stet_buf_append_u32be(k, index);
}
void stet_key_notification_prefix(struct stet_buf *k, const struct stet_invocation_id *id) { key_inv(k, 'N', id); }
void stet_key_notification(struct stet_buf *k, const struct stet_invocation_id *id, uint8_t kind, uint32_t idx,
                           const uint8_t *name, size_t name_len) {
    key_inv(k, 'N', id);
    stet_buf_append_byte(k, kind);
    if (kind == STET_NTF_KEY_SIGNAL_NAME) stet_buf_append(k, name, name_len);
    else stet_buf_append_u32be(k, idx);
}

static void key_service_key(struct stet_buf *k, uint8_t tag, uint64_t pk, struct stet_slice service,
                            struct stet_slice key) {
    STET_ASSERT(service.len <= UINT16_MAX);
    STET_ASSERT(key.len <= UINT32_MAX);
    stet_buf_reset(k);
    stet_buf_append_byte(k, tag);
    stet_buf_append_u64be(k, pk);
    stet_buf_append_u16be(k, (uint16_t)service.len);
    stet_buf_append(k, service.ptr, service.len);
    stet_buf_append_u32be(k, (uint32_t)key.len);
    stet_buf_append(k, key.ptr, key.len);
}

void stet_key_state_prefix(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key) {
    key_service_key(k, 'T', pk, service, key);
}
void stet_key_state(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key,
                    struct stet_slice state_key) {
    key_service_key(k, 'T', pk, service, key);
    stet_buf_append(k, state_key.ptr, state_key.len);
}
void stet_key_lock(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key) {
    key_service_key(k, 'V', pk, service, key);
}
void stet_key_inbox_prefix(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key) {
    key_service_key(k, 'I', pk, service, key);
}
void stet_key_inbox(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key, uint64_t seq) {
    key_service_key(k, 'I', pk, service, key);
    stet_buf_append_u64be(k, seq);
}

void stet_key_promise(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key,
                      struct stet_slice name) {
    key_service_key(k, 'P', pk, service, key);
    stet_buf_append(k, name.ptr, name.len);
}

void stet_key_timer_prefix(struct stet_buf *k, uint32_t partition_id) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'Q');
    stet_buf_append_u32be(k, partition_id);
}

void stet_key_timer(struct stet_buf *k, uint32_t partition_id, uint64_t wake_at, const struct stet_invocation_id *id,
                    uint32_t completion_id, uint8_t kind) {
    stet_key_timer_prefix(k, partition_id);
    stet_buf_append_u64be(k, wake_at);
    stet_buf_append_u64be(k, id->partition_key);
    stet_buf_append(k, id->uuid, 16);
    stet_buf_append_u32be(k, completion_id);
    stet_buf_append_byte(k, kind);
}

void stet_key_outbox_prefix(struct stet_buf *k, uint32_t partition_id) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'O');
    stet_buf_append_u32be(k, partition_id);
}

void stet_key_outbox(struct stet_buf *k, uint32_t partition_id, uint64_t seq) {
    stet_key_outbox_prefix(k, partition_id);
    stet_buf_append_u64be(k, seq);
}

void stet_key_dedup(struct stet_buf *k, uint32_t partition_id, uint32_t source) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'X');
    stet_buf_append_u32be(k, partition_id);
    stet_buf_append_u32be(k, source);
}

void stet_key_prefix_end(const struct stet_buf *prefix, struct stet_buf *end) {
    stet_buf_reset(end);
    stet_buf_append(end, prefix->data, prefix->len);
    while (end->len > 0) {
        if (end->data[end->len - 1] != 0xff) {
            end->data[end->len - 1]++;
            return;
        }
        end->len--;
    }
    /* all 0xff: no upper bound; callers treat an empty end as unbounded */
}

/* ---- invocation status ---------------------------------------------------------------- */

void stet_inv_status_init(struct stet_inv_status *s) {
    memset(s, 0, sizeof(*s));
    stet_buf_init(&s->storage);
}

void stet_inv_status_free(struct stet_inv_status *s) { stet_buf_free(&s->storage); }

static void put_u(struct stet_buf *b, uint32_t f, uint64_t v) {
    if (v) stet_pb_put_uint_field(b, f, v);
}
static void put_s(struct stet_buf *b, uint32_t f, struct stet_slice s) { stet_pb_put_bytes_field(b, f, s.ptr, s.len); }

void stet_inv_status_encode(const struct stet_inv_status *s, struct stet_buf *out) {
    put_u(out, 1, s->state);
    put_u(out, 2, s->service_type);
    put_u(out, 3, s->handler_type);
    put_u(out, 4, s->keyed);
    put_s(out, 5, s->service);
    put_s(out, 6, s->handler);
    if (s->keyed) put_s(out, 7, s->key);
    put_u(out, 8, s->created_at_ms);
    put_u(out, 9, s->modified_at_ms);
    put_u(out, 10, s->execute_at_ms);
    put_u(out, 11, s->completed_at_ms);
    put_u(out, 12, s->journal_len);
    put_u(out, 13, s->commands);
    if (s->has_pinned) {
        stet_pb_put_bytes_field(out, 14, s->deployment_id, 16);
        put_u(out, 15, s->protocol_version);
    }
    for (uint32_t i = 0; i < s->n_sinks; i++) {
        size_t mark = stet_pb_begin_submsg(out, 16);
        stet_inv_sink_encode(&s->sinks[i], out);
        stet_pb_end_submsg(out, mark);
    }
    if (s->has_idempotency_key) put_s(out, 17, s->idempotency_key);
    put_u(out, 18, s->completion_retention_ms);
    put_u(out, 19, s->journal_retention_ms);
    put_u(out, 20, s->result_kind);
    if (s->result_kind == 1) put_s(out, 21, s->result_value);
    put_u(out, 22, s->failure_code);
    if (s->result_kind == 2) put_s(out, 23, s->failure_raw);
    if (s->waiting.len) put_s(out, 24, s->waiting);
    put_u(out, 25, s->inbox_seq);
    put_u(out, 26, s->pausing);
    put_u(out, 27, s->inbox_floor);
}

void stet_inv_sink_encode(const struct stet_inv_sink *k, struct stet_buf *out) {
    put_u(out, 1, k->kind);
    put_u(out, 6, k->notification_type);
    put_u(out, 2, k->incarnation);
    put_u(out, 3, k->request_id);
    put_u(out, 7, k->node_id);
    put_u(out, 8, k->generation);
    if (k->kind == STET_SINK_INVOCATION) {
        uint8_t idb[24];
        stet_invocation_id_to_bytes(&k->caller, idb);
        stet_pb_put_bytes_field(out, 4, idb, 24);
        put_u(out, 5, k->completion_id);
    }
}

int stet_inv_sink_decode(const uint8_t *p, size_t len, struct stet_inv_sink *k) {
    memset(k, 0, sizeof(*k));
    struct stet_pb_reader r;
    stet_pb_reader_init(&r, p, len); /* p may be NULL when len is 0 */
    struct stet_pb_field f;
    int rc;
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1: k->kind = (uint8_t)f.varint; break;
        case 2: k->incarnation = f.varint; break;
        case 3: k->request_id = f.varint; break;
        case 4:
            if (f.len != 24) return -EPROTO;
            stet_invocation_id_from_bytes(f.data, &k->caller);
            break;
        case 5: k->completion_id = (uint32_t)f.varint; break;
        case 6: k->notification_type = (uint16_t)f.varint; break;
        case 7: k->node_id = (uint32_t)f.varint; break;
        case 8: k->generation = (uint32_t)f.varint; break;
        default: break;
        }
    }
    return rc < 0 ? -EPROTO : 0;
}

int stet_inv_status_decode(struct stet_inv_status *s, const uint8_t *data, size_t len) {
    stet_inv_status_free(s);
    stet_inv_status_init(s);
    stet_buf_append(&s->storage, data, len);
    const uint8_t *base = s->storage.data;
    struct stet_pb_reader r;
    stet_pb_reader_init(&r, base, len); /* base is NULL when len is 0 */
    struct stet_pb_field f;
    int rc;
#define SL(field) ((struct stet_slice){f.data, f.len})
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1: s->state = (enum stet_inv_state)f.varint; break;
        case 2: s->service_type = (uint8_t)f.varint; break;
        case 3: s->handler_type = (uint8_t)f.varint; break;
        case 4: s->keyed = f.varint != 0; break;
        case 5: s->service = SL(f); break;
        case 6: s->handler = SL(f); break;
        case 7: s->key = SL(f); break;
        case 8: s->created_at_ms = f.varint; break;
        case 9: s->modified_at_ms = f.varint; break;
        case 10: s->execute_at_ms = f.varint; break;
        case 11: s->completed_at_ms = f.varint; break;
        case 12: s->journal_len = (uint32_t)f.varint; break;
        case 13: s->commands = (uint32_t)f.varint; break;
        case 14:
            if (f.len != 16) return -EPROTO;
            memcpy(s->deployment_id, f.data, 16);
            s->has_pinned = true;
            break;
        case 15: s->protocol_version = (uint32_t)f.varint; break;
        case 16:
            if (s->n_sinks >= STET_MAX_SINKS) return -EPROTO;
            if (stet_inv_sink_decode(f.data, f.len, &s->sinks[s->n_sinks]) != 0) return -EPROTO;
            s->n_sinks++;
            break;
        case 17: s->has_idempotency_key = true; s->idempotency_key = SL(f); break;
        case 18: s->completion_retention_ms = f.varint; break;
        case 19: s->journal_retention_ms = f.varint; break;
        case 20: s->result_kind = (uint8_t)f.varint; break;
        case 21: s->result_value = SL(f); break;
        case 22: s->failure_code = (uint32_t)f.varint; break;
        case 23: s->failure_raw = SL(f); break;
        case 24: s->waiting = SL(f); break;
        case 25: s->inbox_seq = f.varint; break;
        case 26: s->pausing = f.varint != 0; break;
        case 27: s->inbox_floor = f.varint; break;
        default: break;
        }
    }
#undef SL
    if (rc < 0 || s->state < STET_INV_SCHEDULED || s->state > STET_INV_COMPLETED) return -EPROTO;
    return 0;
}

int stet_table_status_get(struct stet_store *store, const struct stet_invocation_id *id, struct stet_inv_status *out) {
    struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
    stet_key_status(&k, id);
    int rc = stet_store_get(store, k.data, k.len, &v);
    if (rc == 0) rc = stet_inv_status_decode(out, v.data, v.len);
    stet_buf_free(&k);
    stet_buf_free(&v);
    return rc;
}

/* The keys of table `tag` whose partition key is in [key_start, key_end]: lo inclusive, hi
 * exclusive (the next tag when the range ends at the top of the key space). */
static void key_pk_range(uint8_t tag, uint64_t key_start, uint64_t key_end, struct stet_buf *lo, struct stet_buf *hi) {
    stet_buf_reset(lo);
    stet_buf_append_byte(lo, tag);
    stet_buf_append_u64be(lo, key_start);
    stet_buf_reset(hi);
    stet_buf_append_byte(hi, key_end == UINT64_MAX ? (uint8_t)(tag + 1) : tag);
    if (key_end != UINT64_MAX) stet_buf_append_u64be(hi, key_end + 1);
}

int stet_table_status_scan(struct stet_store *store, uint64_t key_start, uint64_t key_end,
                           const struct stet_invocation_id *after, size_t limit,
                           int (*cb)(void *arg, const struct stet_invocation_id *id, const struct stet_inv_status *st),
                           void *arg) {
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    key_pk_range('S', key_start, key_end, &lo, &hi);
    if (after) {
        stet_key_status(&lo, after);
        stet_buf_append_byte(&lo, 0); /* the first key after it */
    }
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, hi.data, hi.len);
    int rc = it ? 0 : -ENOMEM;
    size_t n = 0;
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    for (; rc == 0 && stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        if (limit && n == limit) {
            rc = 1;
            break;
        }
        n++;
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        const uint8_t *v = stet_store_iter_value(store, it, &vl);
        if (kl != 25) continue;
        if (stet_inv_status_decode(&st, v, vl) != 0) continue;
        struct stet_invocation_id id;
        stet_invocation_id_from_bytes(k + 1, &id);
        if (cb(arg, &id, &st) != 0) rc = 1;
    }
    if (rc == 0 && it && stet_store_iter_error(store, it) != 0) rc = -EIO;
    if (it) stet_store_iter_destroy(store, it);
    stet_inv_status_free(&st);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    return rc;
}

/* ---- journal ------------------------------------------------------------------------- */

void stet_journal_entry_encode(struct stet_buf *out, uint16_t type, uint64_t appended_at_ms, const uint8_t *payload,
                               size_t len) {
    stet_buf_append_u16be(out, type);
    stet_buf_append_u16be(out, 0);
    stet_buf_append_u64be(out, appended_at_ms);
    stet_buf_append(out, payload, len);
}

int stet_journal_entry_decode(const uint8_t *data, size_t len, struct stet_journal_entry *e) {
    if (len < 12) return -EPROTO;
    e->type = stet_load_u16be(data);
    e->flags = stet_load_u16be(data + 2);
    e->appended_at_ms = stet_load_u64be(data + 4);
    e->payload.ptr = data + 12;
    e->payload.len = len - 12;
    return 0;
}

int stet_table_journal_scan(struct stet_store *store, const struct stet_invocation_id *id, uint32_t from, uint32_t to,
                            int (*cb)(void *arg, uint32_t index, const struct stet_journal_entry *e), void *arg) {
    if (from >= to) return 0;
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_key_journal(&lo, id, from);
    stet_key_journal(&hi, id, to);
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, hi.data, hi.len);
    int rc = 0;
    uint32_t expect = from;
    for (; it && stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl, vl;
        const uint8_t *key = stet_store_iter_key(store, it, &kl);
        const uint8_t *val = stet_store_iter_value(store, it, &vl);
        if (kl != 29) { rc = -EPROTO; break; }
        uint32_t index = stet_load_u32be(key + 25);
        if (index != expect) { rc = -EPROTO; break; } /* invariant 5: dense journal */
        struct stet_journal_entry e;
        if (stet_journal_entry_decode(val, vl, &e) != 0) { rc = -EPROTO; break; }
        expect++;
        rc = cb(arg, index, &e);
        if (rc) break;
    }
    if (rc == 0 && expect != to) rc = -EPROTO;
    if (it) stet_store_iter_destroy(store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    return rc;
}

int stet_table_state_scan(struct stet_store *store, uint64_t pk, struct stet_slice service, struct stet_slice key,
                          int (*cb)(void *arg, struct stet_slice state_key, struct stet_slice value), void *arg) {
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_key_state_prefix(&lo, pk, service, key);
    stet_key_prefix_end(&lo, &hi);
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, hi.len ? hi.data : NULL, hi.len);
    int rc = 0;
    for (; it && stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        const uint8_t *v = stet_store_iter_value(store, it, &vl);
        STET_ASSERT(kl >= lo.len);
        rc = cb(arg, (struct stet_slice){k + lo.len, kl - lo.len}, (struct stet_slice){v, vl});
        if (rc) break;
    }
    if (it) stet_store_iter_destroy(store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    return rc;
}

/* ---- outbox and timers (the partition.h API of the shuffle and the timer service) ------ */

int stet_partition_outbox_get(struct stet_store *store, uint32_t partition_id, uint64_t seq, struct stet_buf *out) {
    struct stet_buf k = STET_BUF_INIT;
    stet_key_outbox(&k, partition_id, seq);
    int rc = stet_store_get(store, k.data, k.len, out);
    stet_buf_free(&k);
    return rc;
}

int stet_partition_outbox_scan(struct stet_store *store, uint32_t partition_id, uint64_t from_seq,
                               int (*cb)(void *arg, uint64_t seq, const uint8_t *rec, size_t len), void *arg) {
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_key_outbox(&lo, partition_id, from_seq);
    stet_key_outbox_prefix(&hi, partition_id);
    struct stet_buf end = STET_BUF_INIT;
    stet_key_prefix_end(&hi, &end);
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, end.data, end.len);
    int rc = 0;
    for (; it && stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        const uint8_t *v = stet_store_iter_value(store, it, &vl);
        if (kl != 13) continue;
        rc = cb(arg, stet_load_u64be(k + 5), v, vl);
        if (rc) break;
    }
    if (it) stet_store_iter_destroy(store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    stet_buf_free(&end);
    return rc;
}

int stet_partition_timers_due(struct stet_store *store, uint32_t partition_id, uint64_t from_wake_ms, uint64_t now_ms,
                              size_t limit, int (*cb)(void *arg, const struct stet_record *fired), void *arg,
                              uint64_t *next_wake_ms) {
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_key_timer_prefix(&lo, partition_id);
    stet_key_prefix_end(&lo, &hi);
    stet_buf_append_u64be(&lo, from_wake_ms);
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, hi.data, hi.len);
    int rc = 0;
    size_t n = 0;
    *next_wake_ms = 0;
    for (; it && stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        if (kl != 1 + 4 + 8 + 24 + 4 + 1) continue;
        uint64_t wake = stet_load_u64be(k + 5);
        if (wake > now_ms || n >= limit) {
            *next_wake_ms = wake;
            break;
        }
        struct stet_record r;
        memset(&r, 0, sizeof(r));
        r.kind = STET_REC_TIMER_FIRED;
        r.wake_at_ms = wake;
        stet_invocation_id_from_bytes(k + 13, &r.id);
        r.completion_id = stet_load_u32be(k + 37);
        r.timer_kind = k[41];
        n++;
        rc = cb(arg, &r);
        if (rc) break;
    }
    if (it) stet_store_iter_destroy(store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    return rc;
}

int stet_table_timer_earliest(struct stet_store *store, uint32_t partition_id, uint64_t *wake_at_ms) {
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_key_timer_prefix(&lo, partition_id);
    stet_key_prefix_end(&lo, &hi);
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, hi.data, hi.len);
    int rc = 1;
    if (!it) rc = -ENOMEM;
    for (; it && stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        if (kl < 13) continue;
        *wake_at_ms = stet_load_u64be(k + 5);
        rc = 0;
        break;
    }
    if (it) stet_store_iter_destroy(store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    return rc;
}

/* ---- invariants ---------------------------------------------------------------------- */

static uint64_t count_prefix(struct stet_store *store, const struct stet_buf *prefix, uint32_t *max_index) {
    struct stet_buf end = STET_BUF_INIT;
    stet_key_prefix_end(prefix, &end);
    struct stet_store_iter *it = stet_store_iter_create(store, prefix->data, prefix->len, end.data, end.len);
    STET_ASSERT(it != NULL);
    uint64_t n = 0;
    for (; stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        if (max_index && kl == prefix->len + 4) {
            uint32_t idx = stet_load_u32be(k + prefix->len);
            if (idx > *max_index || n == 0) *max_index = idx;
        }
        n++;
    }
    stet_store_iter_destroy(store, it);
    stet_buf_free(&end);
    return n;
}

struct check_ctx {
    struct stet_store *store;
    struct stet_buf k;
};

static int check_status_cb(void *arg, const struct stet_invocation_id *id, const struct stet_inv_status *st) {
    struct check_ctx *c = arg;
    /* dense journal: entries 0..journal_len-1 and nothing else (a completed invocation whose
     * journal was not retained has none) */
    stet_key_journal_prefix(&c->k, id);
    uint32_t max_index = 0;
    uint64_t n = count_prefix(c->store, &c->k, &max_index);
    if (n > 0) {
        STET_ASSERT(n == st->journal_len);
        STET_ASSERT(max_index + 1 == st->journal_len);
    } else {
        STET_ASSERT(st->state == STET_INV_COMPLETED || st->state == STET_INV_SCHEDULED ||
                    st->state == STET_INV_INBOXED || st->journal_len == 0);
    }
    STET_ASSERT(st->commands <= st->journal_len);
    STET_ASSERT(st->n_sinks <= STET_MAX_SINKS);
    return 0;
}

void stet_tables_check(struct stet_store *store, uint64_t key_start, uint64_t key_end) {
    struct check_ctx c = {store, STET_BUF_INIT};
    STET_ASSERT(stet_table_status_scan(store, key_start, key_end, NULL, 0, check_status_cb, &c) >= 0);
    /* every key with inboxed invocations is locked by an invocation that has not completed */
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT, lock = STET_BUF_INIT, v = STET_BUF_INIT;
    key_pk_range('I', key_start, key_end, &lo, &hi);
    struct stet_store_iter *it = stet_store_iter_create(store, lo.data, lo.len, hi.data, hi.len);
    STET_ASSERT(it != NULL);
    for (; stet_store_iter_valid(store, it); stet_store_iter_next(store, it)) {
        size_t kl;
        const uint8_t *k = stet_store_iter_key(store, it, &kl);
        STET_ASSERT(kl > 1 + 8 + 8);
        stet_buf_reset(&lock);
        stet_buf_append_byte(&lock, 'V');
        stet_buf_append(&lock, k + 1, kl - 1 - 8); /* pk, service, key without the sequence */
        int rc = stet_store_get(store, lock.data, lock.len, &v);
        STET_ASSERT(rc == 0); /* an inboxed invocation waits for a lock that is held */
        if (v.len == 24) {
            struct stet_invocation_id holder;
            stet_invocation_id_from_bytes(v.data, &holder);
            struct stet_inv_status st;
            stet_inv_status_init(&st);
            rc = stet_table_status_get(store, &holder, &st);
            STET_ASSERT(rc == 0 && st.state != STET_INV_COMPLETED);
            stet_inv_status_free(&st);
        }
    }
    stet_store_iter_destroy(store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    stet_buf_free(&lock);
    stet_buf_free(&v);
    stet_buf_free(&c.k);
}
