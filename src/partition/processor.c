/* The partition processor state machine. See partition.h for the design and invariants.
 *
 * Apply path for one record:
 *   decode -> apply_<kind>() reads the store and stages writes in p->batch and actions in
 *   p->pending -> fsm row (applied lsn) staged -> one store write (no fsync: the log record
 *   is already durable and replay rebuilds anything lost) -> actions emitted (leader only).
 */
#include "partition/partition.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "schema/schema.h"

#define MOD "partition"

/* A staged action; its data lives at offsets into p->action_data until emission. */
struct pending_action {
    struct stet_action a;
    size_t value_off, failure_off, stack_off;
};

struct stet_partition {
    struct stet_env env;
    struct stet_store *store;
    struct stet_partition_config cfg;
    stet_partition_action_cb cb;
    void *ctx;
    uint64_t applied_lsn;
    uint64_t inbox_seq;
    uint64_t outbox_seq;
    uint64_t outbox_truncated; /* outbox messages up to here were deleted */
    uint64_t epoch;            /* highest announced leader epoch */
    bool leader;
    /* per-record scratch */
    uint64_t now_ms;
    struct stet_store_batch batch;
    struct pending_action *pending;
    size_t n_pending, cap_pending;
    struct stet_buf action_data;
    struct stet_buf k1, k2, v1, v2;
    struct stet_slice cur_stacktrace; /* while applying a FAILED effect */
    uint64_t status_put_count;        /* put_status calls, to tell whether a record wrote a status */
    struct stet_partition_stats stats;
};

/* ---- helpers ------------------------------------------------------------------------- */

void stet_partition_key_range(uint32_t i, uint32_t n, uint64_t *start, uint64_t *end) {
    STET_ASSERT(n > 0);
    STET_ASSERT(i < n);
    uint64_t step = UINT64_MAX / n;
    *start = step * i;
    *end = (i == n - 1) ? UINT64_MAX : step * (i + 1) - 1;
}

uint32_t stet_partition_for_key(uint64_t partition_key, uint32_t n) {
    STET_ASSERT(n > 0);
    uint64_t step = UINT64_MAX / n;
    uint64_t i = partition_key / step;
    return i >= n ? n - 1 : (uint32_t)i;
}

static struct pending_action *stage_action(struct stet_partition *p, enum stet_action_kind kind,
                                           const struct stet_invocation_id *id) {
    if (p->n_pending == p->cap_pending) {
        p->cap_pending = p->cap_pending ? p->cap_pending * 2 : 16;
        p->pending = realloc(p->pending, p->cap_pending * sizeof(*p->pending));
        STET_ASSERT(p->pending != NULL);
    }
    struct pending_action *pa = &p->pending[p->n_pending++];
    memset(pa, 0, sizeof(*pa));
    pa->a.kind = kind;
    pa->a.id = *id;
    pa->value_off = SIZE_MAX;
    pa->failure_off = SIZE_MAX;
    pa->stack_off = SIZE_MAX;
    return pa;
}

static void stage_invoke(struct stet_partition *p, const struct stet_invocation_id *id) {
    stage_action(p, STET_ACTION_INVOKE, id);
}

static void stage_notify(struct stet_partition *p, const struct stet_invocation_id *id, uint32_t index) {
    struct pending_action *pa = stage_action(p, STET_ACTION_NOTIFY, id);
    pa->a.entry_index = index;
}

/* A result as carried to a waiter: from a status, a RESPONSE record or a fixed error. */
struct result_view {
    uint8_t kind; /* enum stet_rec_result */
    struct stet_slice value;
    uint32_t failure_code;
    struct stet_slice failure_raw;
};

static struct result_view result_of(const struct stet_inv_status *st) {
    struct result_view r = {0};
    if (st->result_kind == 2) {
        r.kind = STET_REC_RESULT_FAILURE;
        r.failure_code = st->failure_code;
        r.failure_raw = st->failure_raw;
    } else {
        r.kind = STET_REC_RESULT_VALUE;
        r.value = st->result_value;
    }
    return r;
}

static void outbox_put(struct stet_partition *p, struct stet_record *r);

/* Answers one waiter of invocation `id`: an ingress request (action), or another invocation
 * (an outbox RESPONSE record to its partition). */
static void respond_sink(struct stet_partition *p, const struct stet_invocation_id *id, const struct stet_inv_sink *sink,
                         const struct result_view *res, bool from_retained, uint64_t expires_at_ms) {
    if (sink->kind == STET_SINK_INGRESS) {
        struct pending_action *pa = stage_action(p, STET_ACTION_INGRESS_RESPONSE, id);
        pa->a.sink = *sink;
        pa->a.from_retained = from_retained;
        pa->a.expires_at_ms = from_retained ? expires_at_ms : 0;
        if (res->kind == STET_REC_RESULT_FAILURE) {
            pa->a.response = STET_RESPONSE_FAILURE;
            pa->a.failure_code = res->failure_code;
            pa->failure_off = p->action_data.len;
            pa->a.failure_raw.len = res->failure_raw.len;
            stet_buf_append(&p->action_data, res->failure_raw.ptr, res->failure_raw.len);
            if (p->cur_stacktrace.len && !from_retained) {
                pa->stack_off = p->action_data.len;
                pa->a.stacktrace.len = p->cur_stacktrace.len;
                stet_buf_append(&p->action_data, p->cur_stacktrace.ptr, p->cur_stacktrace.len);
            }
        } else {
            pa->a.response = STET_RESPONSE_VALUE;
            pa->value_off = p->action_data.len;
            pa->a.value.len = res->value.len;
            stet_buf_append(&p->action_data, res->value.ptr, res->value.len);
        }
    } else if (sink->kind == STET_SINK_INVOCATION) {
        struct stet_record r;
        memset(&r, 0, sizeof(r));
        r.kind = STET_REC_RESPONSE;
        r.id = sink->caller;
        r.completion_id = sink->completion_id;
        r.entry_type = sink->notification_type;
        r.result_kind = res->kind;
        r.payload = res->kind == STET_REC_RESULT_FAILURE ? res->failure_raw : res->value;
        outbox_put(p, &r);
    }
}

static void stage_response(struct stet_partition *p, const struct stet_invocation_id *id,
                           const struct stet_inv_sink *sink, const struct stet_inv_status *st, bool from_retained) {
    struct result_view res = result_of(st);
    uint64_t expires = st->completion_retention_ms ? st->completed_at_ms + st->completion_retention_ms : 0;
    respond_sink(p, id, sink, &res, from_retained, expires);
}

static void stage_failure(struct stet_partition *p, const struct stet_invocation_id *id,
                          const struct stet_inv_sink *sink, uint32_t code, const char *message) {
    struct stet_buf f = STET_BUF_INIT;
    stet_proto_encode_failure(&f, code, message, strlen(message));
    struct result_view res = {.kind = STET_REC_RESULT_FAILURE, .failure_code = code, .failure_raw = {f.data, f.len}};
    respond_sink(p, id, sink, &res, false, 0);
    stet_buf_free(&f);
}

static void stage_simple_response(struct stet_partition *p, const struct stet_invocation_id *id,
                                  const struct stet_inv_sink *sink, enum stet_response_kind kind) {
    if (sink->kind == STET_SINK_INVOCATION) {
        if (kind == STET_RESPONSE_NOT_READY) {
            struct result_view res = {.kind = STET_REC_RESULT_VOID};
            respond_sink(p, id, sink, &res, false, 0);
        } else {
            stage_failure(p, id, sink, 404, "invocation not found");
        }
        return;
    }
    if (sink->kind != STET_SINK_INGRESS) return;
    struct pending_action *pa = stage_action(p, STET_ACTION_INGRESS_RESPONSE, id);
    pa->a.sink = *sink;
    pa->a.response = kind;
}

/* Answers an admin request (cancel, kill, purge, pause, resume). */
static void admin_response(struct stet_partition *p, const struct stet_invocation_id *id,
                           const struct stet_inv_sink *sink, enum stet_response_kind kind, const char *message) {
    if (sink->kind != STET_SINK_ADMIN) return;
    struct pending_action *pa = stage_action(p, STET_ACTION_ADMIN_RESPONSE, id);
    pa->a.sink = *sink;
    pa->a.response = kind;
    if (message) {
        pa->value_off = p->action_data.len;
        pa->a.value.len = strlen(message);
        stet_buf_append(&p->action_data, message, strlen(message));
    }
}

static void outbox_put(struct stet_partition *p, struct stet_record *r) {
    r->timestamp_ms = p->now_ms;
    struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
    uint64_t seq = ++p->outbox_seq;
    stet_key_outbox(&k, p->cfg.partition_id, seq);
    stet_record_encode(&v, r);
    stet_store_batch_put(&p->batch, k.data, k.len, v.data, v.len);
    struct pending_action *pa = stage_action(p, STET_ACTION_OUTBOX, &r->id);
    pa->a.partition_id = p->cfg.partition_id;
    pa->a.outbox_seq = seq;
    stet_buf_free(&k);
    stet_buf_free(&v);
}

static void put_timer(struct stet_partition *p, uint64_t wake_at, const struct stet_invocation_id *id,
                      uint32_t completion_id, uint8_t kind) {
    struct stet_buf k = STET_BUF_INIT;
    stet_key_timer(&k, p->cfg.partition_id, wake_at, id, completion_id, kind);
    stet_store_batch_put(&p->batch, k.data, k.len, "", 0);
    struct pending_action *pa = stage_action(p, STET_ACTION_TIMER, id);
    pa->a.partition_id = p->cfg.partition_id;
    pa->a.wake_at_ms = wake_at;
    stet_buf_free(&k);
}

static void delete_timer(struct stet_partition *p, uint64_t wake_at, const struct stet_invocation_id *id,
                         uint32_t completion_id, uint8_t kind) {
    struct stet_buf k = STET_BUF_INIT;
    stet_key_timer(&k, p->cfg.partition_id, wake_at, id, completion_id, kind);
    stet_store_batch_delete(&p->batch, k.data, k.len);
    stet_buf_free(&k);
}

static int put_status(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    p->status_put_count++;
    st->modified_at_ms = p->now_ms;
    stet_key_status(&p->k1, id);
    stet_buf_reset(&p->v1);
    stet_inv_status_encode(st, &p->v1);
    stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, p->v1.data, p->v1.len);
    return 0;
}

/* Deletes every key under a prefix with point deletes. Range deletions are avoided on purpose:
 * RocksDB re-fragments the range tombstones of the active memtable on every read, so a
 * steady stream of them makes every Get slower (measured: quadratic slowdown of the call
 * path before this). The prefix is copied: callers may pass p->k1. */
static void delete_prefix(struct stet_partition *p, const struct stet_buf *prefix) {
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_buf_append(&lo, prefix->data, prefix->len);
    stet_key_prefix_end(&lo, &hi);
    struct stet_store_iter *it = stet_store_iter_create(p->store, lo.data, lo.len, hi.len ? hi.data : NULL, hi.len);
    for (; it && stet_store_iter_valid(p->store, it); stet_store_iter_next(p->store, it)) {
        size_t kl;
        const uint8_t *k = stet_store_iter_key(p->store, it, &kl);
        stet_store_batch_delete(&p->batch, k, kl);
    }
    if (it) stet_store_iter_destroy(p->store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
}

static void delete_journal(struct stet_partition *p, const struct stet_invocation_id *id) {
    stet_key_journal_prefix(&p->k1, id);
    delete_prefix(p, &p->k1);
    stet_key_notification_prefix(&p->k1, id);
    delete_prefix(p, &p->k1);
}

static void append_entry(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st,
                         uint16_t type, const uint8_t *payload, size_t len) {
    stet_key_journal(&p->k1, id, st->journal_len);
    stet_buf_reset(&p->v1);
    stet_journal_entry_encode(&p->v1, type, p->now_ms, payload, len);
    stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, p->v1.data, p->v1.len);
    st->journal_len++;
    if (stet_msg_kind(type) == STET_KIND_COMMAND) st->commands++;
}

static bool uses_lock(uint8_t service_type, uint8_t handler_type) {
    if (service_type == STET_SERVICE) return false;
    if (handler_type == STET_HANDLER_SHARED) return false;
    return true; /* exclusive object handler, workflow run (unset means exclusive/workflow) */
}

static bool suspension_matches(struct stet_partition *p, const struct stet_invocation_id *id,
                               const struct stet_suspension *s);

/* Stores a notification entry and wakes the invocation. */
static void append_notification(struct stet_partition *p, const struct stet_invocation_id *id,
                                struct stet_inv_status *st, uint16_t type, const struct stet_ntf_id *nid,
                                const struct stet_result *r) {
    stet_buf_reset(&p->v2);
    stet_proto_encode_notification(&p->v2, nid, r);
    uint32_t index = st->journal_len;
    append_entry(p, id, st, type, p->v2.data, p->v2.len);
    uint8_t kind = nid->kind == STET_NTF_ID_COMPLETION   ? STET_NTF_KEY_COMPLETION
                   : nid->kind == STET_NTF_ID_SIGNAL_IDX ? STET_NTF_KEY_SIGNAL
                                                         : STET_NTF_KEY_SIGNAL_NAME;
    stet_key_notification(&p->k1, id, kind, nid->idx, nid->name.ptr, nid->name.len);
    uint8_t ib[4];
    stet_store_u32be(ib, index);
    stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, ib, 4);
    if (st->state == STET_INV_INVOKED) {
        stage_notify(p, id, index);
    } else if (st->state == STET_INV_SUSPENDED) {
        struct stet_suspension s;
        if (stet_proto_decode_suspension(st->waiting.ptr, st->waiting.len, &s) == 0) {
            bool match = false;
            for (size_t i = 0; i < s.n_completions && !match; i++)
                match = nid->kind == STET_NTF_ID_COMPLETION && s.completions[i] == nid->idx;
            for (size_t i = 0; i < s.n_signals && !match; i++)
                match = nid->kind == STET_NTF_ID_SIGNAL_IDX && s.signals[i] == nid->idx;
            for (size_t i = 0; i < s.n_signal_names && !match; i++)
                match = nid->kind == STET_NTF_ID_SIGNAL_NAME && s.signal_names[i].len == nid->name.len &&
                        memcmp(s.signal_names[i].ptr, nid->name.ptr, nid->name.len) == 0;
            stet_proto_suspension_free(&s);
            if (match) {
                st->state = STET_INV_INVOKED;
                st->waiting = (struct stet_slice){NULL, 0};
                stage_invoke(p, id);
            }
        }
    }
}

/* Takes the lock of (service, key) for the invocation `id` and marks it invoked. */
static void start_invocation(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    if (st->keyed && uses_lock(st->service_type, st->handler_type)) {
        stet_key_lock(&p->k1, id->partition_key, st->service, st->key);
        uint8_t idb[24];
        stet_invocation_id_to_bytes(id, idb);
        stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, idb, 24);
        /* every inbox entry of this key still waiting has a higher sequence than this: the
         * release scans from there instead of over the deleted entries before it */
        st->inbox_floor = st->state == STET_INV_INBOXED ? st->inbox_seq : p->inbox_seq;
    }
    st->state = STET_INV_INVOKED;
    stage_invoke(p, id);
}

/* Starts the invocation, or queues it in its key's inbox when another invocation holds the
 * key's lock. The caller writes the status. Returns 0 or a negative errno. */
static int start_or_enqueue(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    if (st->keyed && uses_lock(st->service_type, st->handler_type)) {
        stet_key_lock(&p->k1, id->partition_key, st->service, st->key);
        int rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
        if (rc < 0) return rc;
        if (rc == 0) {
            st->state = STET_INV_INBOXED;
            st->inbox_seq = ++p->inbox_seq;
            stet_key_inbox(&p->k1, id->partition_key, st->service, st->key, st->inbox_seq);
            uint8_t idb[24];
            stet_invocation_id_to_bytes(id, idb);
            stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, idb, 24);
            return 0;
        }
    }
    start_invocation(p, id, st);
    return 0;
}

/* ---- state mutations (admin POST /services/{svc}/state) ----------------------------------- */

void stet_state_version_hash(const struct stet_slice *keys, const struct stet_slice *values, size_t n, char out[44]) {
    struct stet_buf b = STET_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        stet_buf_append_u64be(&b, (uint64_t)i);
        stet_buf_append_byte(&b, 0x01);
        stet_buf_append(&b, keys[i].ptr, keys[i].len);
        stet_buf_append_byte(&b, 0x02);
        stet_buf_append(&b, values[i].ptr, values[i].len);
        stet_buf_append_byte(&b, 0x03);
    }
    uint8_t digest[32];
    stet_sha256(b.data, b.len, digest);
    size_t w = stet_base64url_encode(digest, 32, out, 44);
    out[w] = 0;
    stet_buf_free(&b);
}

struct kv_list {
    struct stet_slice *keys, *values;
    size_t n, cap;
    struct stet_buf arena;
};

static void kv_list_free(struct kv_list *l) {
    free(l->keys);
    free(l->values);
    stet_buf_free(&l->arena);
    memset(l, 0, sizeof(*l));
}

static int kv_collect_cb(void *arg, struct stet_slice k, struct stet_slice v) {
    struct kv_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->keys = realloc(l->keys, l->cap * sizeof(*l->keys));
        l->values = realloc(l->values, l->cap * sizeof(*l->values));
        STET_ASSERT(l->keys && l->values);
    }
    /* offsets now, pointers once the arena stops growing */
    l->keys[l->n] = (struct stet_slice){(const uint8_t *)(uintptr_t)l->arena.len, k.len};
    stet_buf_append(&l->arena, k.ptr, k.len);
    l->values[l->n] = (struct stet_slice){(const uint8_t *)(uintptr_t)l->arena.len, v.len};
    stet_buf_append(&l->arena, v.ptr, v.len);
    l->n++;
    return 0;
}

static void kv_list_fix(struct kv_list *l) {
    if (l->arena.data == NULL) { /* only empty keys and values: no bytes */
        for (size_t i = 0; i < l->n; i++) l->keys[i].ptr = l->values[i].ptr = NULL;
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        l->keys[i].ptr = l->arena.data + (uintptr_t)l->keys[i].ptr;
        l->values[i].ptr = l->arena.data + (uintptr_t)l->values[i].ptr;
    }
}

/* Decodes a new-state payload (repeated {1 key, 2 value}) sorted by key. */
static int kv_cmp_idx(const void *a, const void *b, void *arg) {
    const struct kv_list *l = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t n = l->keys[i].len < l->keys[j].len ? l->keys[i].len : l->keys[j].len;
    int c = n ? memcmp(l->keys[i].ptr, l->keys[j].ptr, n) : 0;
    if (c) return c;
    return l->keys[i].len < l->keys[j].len ? -1 : l->keys[i].len > l->keys[j].len;
}

static void kv_from_payload(struct stet_slice payload, struct kv_list *out) {
    struct kv_list raw = {0};
    struct stet_pb_reader r;
    stet_pb_reader_init(&r, payload.ptr, payload.len);
    struct stet_pb_field f;
    while (stet_pb_next(&r, &f) == 1) {
        if (f.number != 1 || f.wire_type != 2) continue;
        struct stet_pb_reader er;
        stet_pb_reader_init(&er, f.data, f.len);
        struct stet_pb_field ef;
        struct stet_slice k = {NULL, 0}, v = {NULL, 0};
        while (stet_pb_next(&er, &ef) == 1) {
            if (ef.number == 1) k = (struct stet_slice){ef.data, ef.len};
            if (ef.number == 2) v = (struct stet_slice){ef.data, ef.len};
        }
        kv_collect_cb(&raw, k, v);
    }
    kv_list_fix(&raw);
    size_t *idx = malloc((raw.n + 1) * sizeof(*idx));
    STET_ASSERT(idx != NULL);
    for (size_t i = 0; i < raw.n; i++) idx[i] = i;
    qsort_r(idx, raw.n, sizeof(*idx), kv_cmp_idx, &raw);
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < raw.n; i++) kv_collect_cb(out, raw.keys[idx[i]], raw.values[idx[i]]);
    kv_list_fix(out);
    free(idx);
    kv_list_free(&raw);
}

/* Applies a mutation if its version matches. `current` is the key's state as of now (the
 * store, or what an earlier mutation of the same record just wrote); it becomes the new one. */
static void apply_mutation_now(struct stet_partition *p, const struct stet_record *r, struct kv_list *current) {
    if (r->has_state_version) {
        char h[44];
        stet_state_version_hash(current->keys, current->values, current->n, h);
        if (strlen(h) != r->state_version.len || memcmp(h, r->state_version.ptr, r->state_version.len) != 0) {
            stet_info(MOD, "state mutation dropped: the state changed since it was read partition=%u",
                      p->cfg.partition_id);
            return;
        }
    }
    uint64_t pk = r->id.partition_key;
    /* delete what is there now (current), then write the new state */
    for (size_t i = 0; i < current->n; i++) {
        stet_key_state(&p->k1, pk, r->service, r->key, current->keys[i]);
        stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
    }
    kv_list_free(current);
    kv_from_payload(r->payload, current);
    for (size_t i = 0; i < current->n; i++) {
        stet_key_state(&p->k1, pk, r->service, r->key, current->keys[i]);
        stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, current->values[i].ptr, current->values[i].len);
    }
}

static int apply_state_mutation(struct stet_partition *p, const struct stet_record *r) {
    stet_key_lock(&p->k1, r->id.partition_key, r->service, r->key);
    int rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
    if (rc < 0) return rc;
    if (rc == 0) {
        /* the key is locked: queue behind the invocations already waiting */
        struct stet_buf v = STET_BUF_INIT;
        stet_record_encode(&v, r);
        stet_key_inbox(&p->k1, r->id.partition_key, r->service, r->key, ++p->inbox_seq);
        stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, v.data, v.len);
        stet_buf_free(&v);
        return 0;
    }
    struct kv_list cur = {0};
    rc = stet_table_state_scan(p->store, r->id.partition_key, r->service, r->key, kv_collect_cb, &cur);
    kv_list_fix(&cur);
    if (rc == 0) apply_mutation_now(p, r, &cur);
    kv_list_free(&cur);
    return rc;
}

/* Releases the lock held by a finished invocation and starts the next inboxed one. */
static int release_lock(struct stet_partition *p, const struct stet_invocation_id *id, const struct stet_inv_status *st) {
    if (!st->keyed || !uses_lock(st->service_type, st->handler_type)) return 0;
    uint64_t pk = id->partition_key;
    stet_key_lock(&p->k1, pk, st->service, st->key);
    int rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
    if (rc < 0) return rc;
    if (rc == 1 || p->v1.len != 24) return 0;
    struct stet_invocation_id holder;
    stet_invocation_id_from_bytes(p->v1.data, &holder);
    if (stet_invocation_id_cmp(&holder, id) != 0) return 0;
    stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
    /* next in the inbox */
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_key_inbox_prefix(&lo, pk, st->service, st->key);
    stet_key_prefix_end(&lo, &hi);
    stet_key_inbox(&lo, pk, st->service, st->key, st->inbox_floor + 1);
    struct stet_store_iter *it = stet_store_iter_create(p->store, lo.data, lo.len, hi.data, hi.len);
    rc = 0;
    struct kv_list cur = {0};
    bool have_cur = false;
    /* queued state mutations run in order until the next queued invocation takes the lock */
    while (it && stet_store_iter_valid(p->store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(p->store, it, &kl);
        const uint8_t *v = stet_store_iter_value(p->store, it, &vl);
        if (vl == 24) break;
        struct stet_record m;
        if (stet_record_decode(v, vl, &m) == 0 && m.kind == STET_REC_STATE_MUTATION) {
            if (!have_cur) {
                stet_table_state_scan(p->store, pk, st->service, st->key, kv_collect_cb, &cur);
                kv_list_fix(&cur);
                have_cur = true;
            }
            apply_mutation_now(p, &m, &cur);
        }
        stet_store_batch_delete(&p->batch, k, kl);
        stet_store_iter_next(p->store, it);
    }
    kv_list_free(&cur);
    if (it && stet_store_iter_valid(p->store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(p->store, it, &kl);
        const uint8_t *v = stet_store_iter_value(p->store, it, &vl);
        if (vl == 24) {
            struct stet_invocation_id next;
            stet_invocation_id_from_bytes(v, &next);
            stet_store_batch_delete(&p->batch, k, kl);
            struct stet_inv_status ns;
            stet_inv_status_init(&ns);
            rc = stet_table_status_get(p->store, &next, &ns);
            if (rc == 0 && ns.state == STET_INV_INBOXED) {
                start_invocation(p, &next, &ns);
                put_status(p, &next, &ns);
            }
            if (rc == 1) rc = 0;
            stet_inv_status_free(&ns);
        }
    }
    if (it) stet_store_iter_destroy(p->store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    return rc;
}

/* Completes an invocation with the result already in st (result_kind). */
static int complete_invocation(struct stet_partition *p, const struct stet_invocation_id *id,
                               struct stet_inv_status *st) {
    if (st->result_kind == 0) {
        st->result_kind = 1; /* End without Output: empty value */
        st->result_value = (struct stet_slice){NULL, 0};
    }
    st->state = STET_INV_COMPLETED;
    st->completed_at_ms = p->now_ms;
    if (p->leader) {
        if (st->result_kind == 1) p->stats.invocations_succeeded++;
        else p->stats.invocations_failed++;
    }
    st->waiting = (struct stet_slice){NULL, 0};
    for (uint32_t i = 0; i < st->n_sinks; i++) stage_response(p, id, &st->sinks[i], st, false);
    st->n_sinks = 0;
    int rc = release_lock(p, id, st);
    if (rc < 0) return rc;
    if (st->journal_retention_ms == 0) delete_journal(p, id);
    if (st->completion_retention_ms == 0) {
        stet_key_status(&p->k1, id);
        stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
        if (st->journal_retention_ms) delete_journal(p, id);
        return 0;
    }
    put_timer(p, st->completed_at_ms + st->completion_retention_ms, id, 0, STET_TIMER_CLEANUP);
    return put_status(p, id, st);
}

/* Completes a not-yet-finished invocation with a failure (kill, cancel before start). */
static int fail_invocation(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st,
                           uint32_t code, const char *message, struct stet_buf *scratch) {
    stet_buf_reset(scratch);
    stet_proto_encode_failure(scratch, code, message, strlen(message));
    st->result_kind = 2;
    st->failure_code = code;
    st->failure_raw = (struct stet_slice){scratch->data, scratch->len};
    if (st->state == STET_INV_INBOXED) {
        stet_key_inbox(&p->k1, id->partition_key, st->service, st->key, st->inbox_seq);
        stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
        st->state = STET_INV_SCHEDULED; /* not the lock holder: release_lock leaves the lock alone */
    }
    if (st->state == STET_INV_SCHEDULED) {
        if (st->execute_at_ms) delete_timer(p, st->execute_at_ms, id, 0, STET_TIMER_START);
        /* never started: like Restate, nothing is retained (waiting callers still get the failure) */
        st->completion_retention_ms = 0;
        st->journal_retention_ms = 0;
    }
    return complete_invocation(p, id, st);
}

static bool add_sink(struct stet_inv_status *st, const struct stet_inv_sink *sink) {
    if (sink->kind == STET_SINK_NONE) return true;
    if (st->n_sinks >= STET_MAX_SINKS) return false;
    st->sinks[st->n_sinks++] = *sink;
    return true;
}

/* The same request's sink (an ingress or admin request: node, generation, incarnation and
 * request id identify it): in a cluster a request whose first append had an unknown outcome is
 * sent again, and its second INVOKE must not be taken for another caller's. */
static bool has_request_sink(const struct stet_inv_status *st, const struct stet_inv_sink *sink) {
    if (sink->kind != STET_SINK_INGRESS && sink->kind != STET_SINK_ADMIN) return false;
    for (size_t i = 0; i < st->n_sinks; i++) {
        const struct stet_inv_sink *k = &st->sinks[i];
        if (k->kind == sink->kind && k->incarnation == sink->incarnation && k->node_id == sink->node_id &&
            k->generation == sink->generation && k->request_id == sink->request_id)
            return true;
    }
    return false;
}

/* ---- INVOKE -------------------------------------------------------------------------- */

static int apply_invoke(struct stet_partition *p, const struct stet_record *r) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc < 0) goto out;
    if (rc == 0) {
        /* The invocation exists already (deterministic id: workflow run, idempotency key). */
        if (has_request_sink(&st, &r->sink)) {
            rc = 0; /* this very request, sent again: it waits already */
            goto out;
        }
        if (r->service_type == STET_WORKFLOW && r->handler_type == STET_HANDLER_WORKFLOW &&
            r->sink.kind != STET_SINK_NONE) {
            stage_failure(p, &r->id, &r->sink, 409, "the workflow method was already invoked");
        } else if (st.state == STET_INV_COMPLETED) {
            stage_response(p, &r->id, &r->sink, &st, true);
        } else if (!add_sink(&st, &r->sink)) {
            stet_warn(MOD, "too many waiters on one invocation, dropping one partition=%u", p->cfg.partition_id);
        } else {
            rc = put_status(p, &r->id, &st);
        }
        rc = 0;
        goto out;
    }
    rc = 0;
    st.service_type = r->service_type;
    st.handler_type = r->handler_type;
    st.keyed = r->keyed;
    st.service = r->service;
    st.handler = r->handler;
    st.key = r->key;
    st.created_at_ms = p->now_ms;
    st.execute_at_ms = r->execute_at_ms;
    st.has_idempotency_key = r->has_idempotency_key;
    st.idempotency_key = r->idempotency_key;
    st.completion_retention_ms = r->completion_retention_ms;
    st.journal_retention_ms = r->journal_retention_ms;
    add_sink(&st, &r->sink);
    append_entry(p, &r->id, &st, STET_CMD_INPUT, r->input_entry.ptr, r->input_entry.len);

    if (r->execute_at_ms > p->now_ms) {
        st.state = STET_INV_SCHEDULED;
        put_timer(p, r->execute_at_ms, &r->id, 0, STET_TIMER_START);
    } else {
        rc = start_or_enqueue(p, &r->id, &st);
        if (rc < 0) goto out;
    }
    put_status(p, &r->id, &st);
out:
    stet_inv_status_free(&st);
    return rc;
}

/* ---- commands with effects beyond the journal ----------------------------------------- */

/* The id of an invocation created by a Call/OneWayCall: deterministic in the caller's id and
 * the command, so a replay creates the same callee. */
static void callee_id(const struct stet_record *r, const struct stet_command *c, struct stet_invocation_id *out) {
    bool keyed = r->target_service_type != STET_SERVICE;
    uint8_t caller[24];
    stet_invocation_id_to_bytes(&r->id, caller);
    if (keyed) out->partition_key = stet_partition_key_for_key(c->key.ptr, c->key.len);
    if (r->target_service_type == STET_WORKFLOW && r->target_handler_type == STET_HANDLER_WORKFLOW) {
        stet_uuid_for_workflow((const char *)c->service_name.ptr, c->service_name.len, (const char *)c->key.ptr,
                               c->key.len, out->uuid);
        return;
    }
    if (c->has_idempotency_key) {
        if (!keyed) out->partition_key = stet_partition_key_for_key(c->idempotency_key.ptr, c->idempotency_key.len);
        stet_uuid_for_idempotency((const char *)c->service_name.ptr, c->service_name.len,
                                  keyed ? (const char *)c->key.ptr : NULL, c->key.len,
                                  (const char *)c->handler_name.ptr, c->handler_name.len,
                                  (const char *)c->idempotency_key.ptr, c->idempotency_key.len, out->uuid);
        return;
    }
    uint8_t buf[28], digest[32];
    memcpy(buf, caller, 24);
    stet_store_u32be(buf + 24, c->invocation_id_notification_idx);
    stet_sha256(buf, sizeof(buf), digest);
    memcpy(out->uuid, digest, 16);
    if (!keyed) out->partition_key = stet_load_u64be(digest + 16);
}

static int apply_call(struct stet_partition *p, const struct stet_record *r, struct stet_inv_status *st,
                      const struct stet_command *c) {
    struct stet_invocation_id callee;
    memset(&callee, 0, sizeof(callee));
    callee_id(r, c, &callee);
    char idstr[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&callee, idstr);
    struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = c->invocation_id_notification_idx};
    struct stet_result res = {.kind = STET_RESULT_INVOCATION_ID,
                              .value = {(const uint8_t *)idstr, STET_INVOCATION_ID_STRLEN}};
    append_notification(p, &r->id, st, STET_NTF_CALL_INVOCATION_ID, &nid, &res);

    struct stet_buf input = STET_BUF_INIT;
    stet_proto_encode_input(&input, c->headers, c->n_headers, c->parameter.ptr, c->parameter.len);
    struct stet_record inv;
    memset(&inv, 0, sizeof(inv));
    inv.kind = STET_REC_INVOKE;
    inv.id = callee;
    inv.service = c->service_name;
    inv.handler = c->handler_name;
    inv.keyed = r->target_service_type != STET_SERVICE;
    inv.key = inv.keyed ? c->key : (struct stet_slice){NULL, 0};
    inv.service_type = r->target_service_type;
    inv.handler_type = r->target_handler_type;
    inv.input_entry = (struct stet_slice){input.data, input.len};
    inv.has_idempotency_key = c->has_idempotency_key;
    inv.idempotency_key = c->idempotency_key;
    inv.completion_retention_ms = r->target_completion_retention_ms;
    inv.journal_retention_ms = r->target_journal_retention_ms;
    if (r->entry_type == STET_CMD_CALL) {
        inv.sink.kind = STET_SINK_INVOCATION;
        inv.sink.caller = r->id;
        inv.sink.completion_id = c->result_completion_id;
        inv.sink.notification_type = STET_NTF_CALL;
    } else if (c->invoke_time_ms > p->now_ms) {
        inv.execute_at_ms = c->invoke_time_ms;
    }
    outbox_put(p, &inv);
    stet_buf_free(&input);
    return 0;
}

/* SendSignal and CompleteAwakeable: a SIGNAL record for the target invocation. */
static void apply_send_signal(struct stet_partition *p, const struct stet_command *c) {
    struct stet_record sig;
    memset(&sig, 0, sizeof(sig));
    sig.kind = STET_REC_SIGNAL;
    if (c->type == STET_CMD_COMPLETE_AWAKEABLE) {
        bool legacy = false;
        if (stet_awakeable_id_parse((const char *)c->awakeable_id.ptr, c->awakeable_id.len, &sig.id, &sig.signal_idx,
                                    &legacy, NULL) != 0)
            return;
    } else {
        if (stet_invocation_id_parse((const char *)c->target_invocation_id.ptr, c->target_invocation_id.len, &sig.id,
                                     NULL) != 0)
            return;
        sig.signal_by_name = c->signal_by_name;
        sig.signal_name = c->signal_name;
        sig.signal_idx = c->signal_idx;
    }
    switch (c->result.kind) {
    case STET_RESULT_VALUE: sig.result_kind = STET_REC_RESULT_VALUE; sig.payload = c->result.value; break;
    case STET_RESULT_FAILURE: sig.result_kind = STET_REC_RESULT_FAILURE; sig.payload = c->result.failure.raw; break;
    default: sig.result_kind = STET_REC_RESULT_VOID; break;
    }
    outbox_put(p, &sig);
}

/* Durable promises: value = {1 state (1 value, 2 failure), 2 value, 3 failure raw,
 * 4 repeated listener {1 id (24 bytes), 2 completion id}}. */
struct promise {
    int state;
    struct stet_slice value, failure;
    uint32_t failure_code;
    struct stet_invocation_id listeners[STET_MAX_SINKS];
    uint32_t listener_ids[STET_MAX_SINKS];
    size_t n_listeners;
};

static void promise_decode(const struct stet_buf *v, struct promise *pr) {
    memset(pr, 0, sizeof(*pr));
    struct stet_pb_reader rd = {v->data, v->data + v->len};
    struct stet_pb_field f;
    while (stet_pb_next(&rd, &f) == 1) {
        if (f.number == 1) pr->state = (int)f.varint;
        if (f.number == 2) pr->value = (struct stet_slice){f.data, f.len};
        if (f.number == 3) pr->failure = (struct stet_slice){f.data, f.len};
        if (f.number == 4 && pr->n_listeners < STET_MAX_SINKS) {
            struct stet_pb_reader lr = {f.data, f.data + f.len};
            struct stet_pb_field lf;
            while (stet_pb_next(&lr, &lf) == 1) {
                if (lf.number == 1 && lf.len == 24) stet_invocation_id_from_bytes(lf.data, &pr->listeners[pr->n_listeners]);
                if (lf.number == 2) pr->listener_ids[pr->n_listeners] = (uint32_t)lf.varint;
            }
            pr->n_listeners++;
        }
    }
}

static void promise_encode(const struct promise *pr, struct stet_buf *out) {
    if (pr->state) stet_pb_put_uint_field(out, 1, (uint64_t)pr->state);
    if (pr->state == 1) stet_pb_put_bytes_field(out, 2, pr->value.ptr, pr->value.len);
    if (pr->state == 2) stet_pb_put_bytes_field(out, 3, pr->failure.ptr, pr->failure.len);
    for (size_t i = 0; i < pr->n_listeners; i++) {
        size_t m = stet_pb_begin_submsg(out, 4);
        uint8_t idb[24];
        stet_invocation_id_to_bytes(&pr->listeners[i], idb);
        stet_pb_put_bytes_field(out, 1, idb, 24);
        stet_pb_put_uint_field(out, 2, pr->listener_ids[i]);
        stet_pb_end_submsg(out, m);
    }
}

static struct stet_result promise_result(const struct promise *pr) {
    struct stet_result res = {.kind = STET_RESULT_VOID};
    if (pr->state == 1) res = (struct stet_result){.kind = STET_RESULT_VALUE, .value = pr->value};
    if (pr->state == 2) {
        res.kind = STET_RESULT_FAILURE;
        res.failure.raw = pr->failure;
    }
    return res;
}

static int apply_promise(struct stet_partition *p, const struct stet_record *r, struct stet_inv_status *st,
                         const struct stet_command *c) {
    struct stet_buf pk = STET_BUF_INIT, pv = STET_BUF_INIT;
    stet_key_promise(&pk, r->id.partition_key, st->service, st->key, c->key);
    int rc = stet_store_get(p->store, pk.data, pk.len, &pv);
    if (rc < 0) goto out;
    struct promise pr;
    if (rc == 0) promise_decode(&pv, &pr);
    else memset(&pr, 0, sizeof(pr));
    rc = 0;
    struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = c->result_completion_id};
    if (c->type == STET_CMD_PEEK_PROMISE) {
        struct stet_result res = promise_result(&pr);
        append_notification(p, &r->id, st, STET_NTF_PEEK_PROMISE, &nid, &res);
    } else if (c->type == STET_CMD_GET_PROMISE) {
        if (pr.state) {
            struct stet_result res = promise_result(&pr);
            append_notification(p, &r->id, st, STET_NTF_GET_PROMISE, &nid, &res);
        } else if (pr.n_listeners < STET_MAX_SINKS) {
            pr.listeners[pr.n_listeners] = r->id;
            pr.listener_ids[pr.n_listeners++] = c->result_completion_id;
            struct stet_buf nv = STET_BUF_INIT;
            promise_encode(&pr, &nv);
            stet_store_batch_put(&p->batch, pk.data, pk.len, nv.data, nv.len);
            stet_buf_free(&nv);
        }
    } else { /* CompletePromise */
        if (pr.state) {
            struct stet_buf f = STET_BUF_INIT;
            const char *msg = "promise was already completed";
            stet_proto_encode_failure(&f, 409, msg, strlen(msg));
            struct stet_result res = {.kind = STET_RESULT_FAILURE};
            res.failure.raw = (struct stet_slice){f.data, f.len};
            append_notification(p, &r->id, st, STET_NTF_COMPLETE_PROMISE, &nid, &res);
            stet_buf_free(&f);
        } else {
            struct promise done;
            memset(&done, 0, sizeof(done));
            if (c->result.kind == STET_RESULT_FAILURE) {
                done.state = 2;
                done.failure = c->result.failure.raw;
            } else {
                done.state = 1;
                done.value = c->result.value;
            }
            struct stet_buf nv = STET_BUF_INIT;
            promise_encode(&done, &nv);
            stet_store_batch_put(&p->batch, pk.data, pk.len, nv.data, nv.len);
            stet_buf_free(&nv);
            struct stet_result res = promise_result(&done);
            for (size_t i = 0; i < pr.n_listeners; i++) {
                struct stet_ntf_id lid = {.kind = STET_NTF_ID_COMPLETION, .idx = pr.listener_ids[i]};
                if (stet_invocation_id_cmp(&pr.listeners[i], &r->id) == 0) {
                    append_notification(p, &r->id, st, STET_NTF_GET_PROMISE, &lid, &res);
                    continue;
                }
                struct stet_inv_status ls;
                stet_inv_status_init(&ls);
                if (stet_table_status_get(p->store, &pr.listeners[i], &ls) == 0 && ls.state != STET_INV_COMPLETED) {
                    append_notification(p, &pr.listeners[i], &ls, STET_NTF_GET_PROMISE, &lid, &res);
                    put_status(p, &pr.listeners[i], &ls);
                }
                stet_inv_status_free(&ls);
            }
            struct stet_result ok = {.kind = STET_RESULT_VOID};
            append_notification(p, &r->id, st, STET_NTF_COMPLETE_PROMISE, &nid, &ok);
        }
    }
out:
    stet_buf_free(&pk);
    stet_buf_free(&pv);
    return rc;
}

/* AttachInvocation / GetInvocationOutput from a handler: an ATTACH record to the target. */
static void apply_attach_command(struct stet_partition *p, const struct stet_record *r, const struct stet_command *c) {
    struct stet_record a;
    memset(&a, 0, sizeof(a));
    a.kind = STET_REC_ATTACH;
    bool output = c->type == STET_CMD_GET_INVOCATION_OUTPUT;
    a.attach_mode = output ? STET_ATTACH_OUTPUT : STET_ATTACH_WAIT;
    a.sink.kind = STET_SINK_INVOCATION;
    a.sink.caller = r->id;
    a.sink.completion_id = c->result_completion_id;
    a.sink.notification_type = output ? STET_NTF_GET_INVOCATION_OUTPUT : STET_NTF_ATTACH_INVOCATION;
    switch (c->attach_target_kind) {
    case STET_ATTACH_TARGET_INVOCATION_ID:
        if (stet_invocation_id_parse((const char *)c->target_invocation_id.ptr, c->target_invocation_id.len, &a.id,
                                     NULL) != 0)
            return;
        break;
    case STET_ATTACH_TARGET_WORKFLOW:
        a.id.partition_key = stet_partition_key_for_key(c->target_key.ptr, c->target_key.len);
        stet_uuid_for_workflow((const char *)c->target_service.ptr, c->target_service.len,
                               (const char *)c->target_key.ptr, c->target_key.len, a.id.uuid);
        break;
    case STET_ATTACH_TARGET_IDEMPOTENT_REQUEST:
        a.id.partition_key = c->target_has_key
                                 ? stet_partition_key_for_key(c->target_key.ptr, c->target_key.len)
                                 : stet_partition_key_for_key(c->target_idempotency_key.ptr, c->target_idempotency_key.len);
        stet_uuid_for_idempotency((const char *)c->target_service.ptr, c->target_service.len,
                                  c->target_has_key ? (const char *)c->target_key.ptr : NULL, c->target_key.len,
                                  (const char *)c->target_handler.ptr, c->target_handler.len,
                                  (const char *)c->target_idempotency_key.ptr, c->target_idempotency_key.len, a.id.uuid);
        break;
    default:
        return;
    }
    outbox_put(p, &a);
}

/* ---- INVOKER_EFFECT ------------------------------------------------------------------ */

static int apply_command(struct stet_partition *p, const struct stet_record *r, struct stet_inv_status *st) {
    struct stet_command c;
    int rc = stet_proto_decode_command(r->entry_type, r->payload.ptr, r->payload.len, &c);
    if (rc != 0) {
        /* the invoker validated it; a bad one here means a corrupt record */
        stet_warn(MOD, "undecodable command type=0x%04x partition=%u", r->entry_type, p->cfg.partition_id);
        return 0;
    }
    append_entry(p, &r->id, st, r->entry_type, r->payload.ptr, r->payload.len);
    uint64_t pk = r->id.partition_key;
    switch (r->entry_type) {
    case STET_CMD_OUTPUT:
        if (c.result.kind == STET_RESULT_FAILURE) {
            st->result_kind = 2;
            st->failure_code = c.result.failure.code;
            st->failure_raw = c.result.failure.raw;
        } else {
            st->result_kind = 1;
            st->result_value = c.result.value;
        }
        break;
    case STET_CMD_SET_STATE:
        if (st->keyed) {
            stet_key_state(&p->k1, pk, st->service, st->key, c.key);
            stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, c.result.value.ptr, c.result.value.len);
        }
        break;
    case STET_CMD_CLEAR_STATE:
        if (st->keyed) {
            stet_key_state(&p->k1, pk, st->service, st->key, c.key);
            stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
        }
        break;
    case STET_CMD_CLEAR_ALL_STATE:
        if (st->keyed) {
            stet_key_state_prefix(&p->k1, pk, st->service, st->key);
            delete_prefix(p, &p->k1);
        }
        break;
    case STET_CMD_GET_LAZY_STATE: {
        struct stet_result res = {.kind = STET_RESULT_VOID};
        struct stet_buf val = STET_BUF_INIT;
        if (st->keyed) {
            stet_key_state(&p->k1, pk, st->service, st->key, c.key);
            int g = stet_store_get(p->store, p->k1.data, p->k1.len, &val);
            if (g < 0) { stet_buf_free(&val); rc = g; break; }
            if (g == 0) res = (struct stet_result){.kind = STET_RESULT_VALUE, .value = {val.data, val.len}};
        }
        struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = c.result_completion_id};
        append_notification(p, &r->id, st, STET_NTF_GET_LAZY_STATE, &nid, &res);
        stet_buf_free(&val);
        break;
    }
    case STET_CMD_GET_LAZY_STATE_KEYS: {
        struct stet_buf keys = STET_BUF_INIT;
        if (st->keyed) {
            struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
            stet_key_state_prefix(&lo, pk, st->service, st->key);
            stet_key_prefix_end(&lo, &hi);
            struct stet_store_iter *it = stet_store_iter_create(p->store, lo.data, lo.len, hi.data, hi.len);
            for (; it && stet_store_iter_valid(p->store, it); stet_store_iter_next(p->store, it)) {
                size_t kl;
                const uint8_t *k = stet_store_iter_key(p->store, it, &kl);
                stet_pb_put_bytes_field(&keys, 1, k + lo.len, kl - lo.len);
            }
            if (it) stet_store_iter_destroy(p->store, it);
            stet_buf_free(&lo);
            stet_buf_free(&hi);
        }
        struct stet_result res = {.kind = STET_RESULT_STATE_KEYS, .value = {keys.data, keys.len}};
        struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = c.result_completion_id};
        append_notification(p, &r->id, st, STET_NTF_GET_LAZY_STATE_KEYS, &nid, &res);
        stet_buf_free(&keys);
        break;
    }
    case STET_CMD_SLEEP:
        put_timer(p, c.wake_up_time_ms, &r->id, c.result_completion_id, STET_TIMER_SLEEP);
        break;
    case STET_CMD_CALL:
    case STET_CMD_ONE_WAY_CALL:
        rc = apply_call(p, r, st, &c);
        break;
    case STET_CMD_SEND_SIGNAL:
    case STET_CMD_COMPLETE_AWAKEABLE:
        apply_send_signal(p, &c);
        break;
    case STET_CMD_GET_PROMISE:
    case STET_CMD_PEEK_PROMISE:
    case STET_CMD_COMPLETE_PROMISE:
        rc = apply_promise(p, r, st, &c);
        break;
    case STET_CMD_ATTACH_INVOCATION:
    case STET_CMD_GET_INVOCATION_OUTPUT:
        apply_attach_command(p, r, &c);
        break;
    default:
        /* journal-only commands (Run, GetEagerState, Output...) are stored as they are */
        break;
    }
    stet_command_free(&c);
    return rc;
}

static bool suspension_matches(struct stet_partition *p, const struct stet_invocation_id *id,
                               const struct stet_suspension *s) {
    struct stet_buf v = STET_BUF_INIT;
    bool found = false;
    for (size_t i = 0; i < s->n_completions && !found; i++) {
        stet_key_notification(&p->k1, id, STET_NTF_KEY_COMPLETION, s->completions[i], NULL, 0);
        found = stet_store_get(p->store, p->k1.data, p->k1.len, &v) == 0;
    }
    for (size_t i = 0; i < s->n_signals && !found; i++) {
        stet_key_notification(&p->k1, id, STET_NTF_KEY_SIGNAL, s->signals[i], NULL, 0);
        found = stet_store_get(p->store, p->k1.data, p->k1.len, &v) == 0;
    }
    for (size_t i = 0; i < s->n_signal_names && !found; i++) {
        stet_key_notification(&p->k1, id, STET_NTF_KEY_SIGNAL_NAME, 0, s->signal_names[i].ptr, s->signal_names[i].len);
        found = stet_store_get(p->store, p->k1.data, p->k1.len, &v) == 0;
    }
    stet_buf_free(&v);
    return found;
}

static int apply_effect(struct stet_partition *p, const struct stet_record *r) {
    uint64_t puts_before = p->status_put_count;
#define st_written(p, id) ((p)->status_put_count != puts_before)
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc != 0) {
        if (rc == 1) rc = 0; /* gone (killed/purged): late effect of a dead attempt */
        goto out;
    }
    if (st.state != STET_INV_INVOKED) goto out; /* late effect of an attempt that ended */
    /* every effect names the attempt's deployment: the first one pins the invocation to it */
    /* like Restate, only a stored journal entry pins (a suspension without commands does not) */
    bool pin = (r->effect == STET_EFFECT_ENTRY || r->effect == STET_EFFECT_RUN_PROPOSAL) && r->protocol_version &&
               !st.has_pinned;
    if (pin) {
        st.has_pinned = true;
        memcpy(st.deployment_id, r->deployment_id, 16);
        st.protocol_version = r->protocol_version;
    }
    switch (r->effect) {
    case STET_EFFECT_PINNED_DEPLOYMENT:
        st.has_pinned = true;
        memcpy(st.deployment_id, r->deployment_id, 16);
        st.protocol_version = r->protocol_version;
        rc = put_status(p, &r->id, &st);
        break;
    case STET_EFFECT_ENTRY:
        if (stet_msg_kind(r->entry_type) != STET_KIND_COMMAND) break;
        rc = apply_command(p, r, &st);
        if (rc == 0) rc = put_status(p, &r->id, &st);
        break;
    case STET_EFFECT_RUN_PROPOSAL: {
        struct stet_run_proposal prop;
        if (stet_proto_decode_run_proposal(r->payload.ptr, r->payload.len, &prop) != 0) break;
        /* a proposal for a completion id that is already stored (replayed proposal) is ignored */
        stet_key_notification(&p->k1, &r->id, STET_NTF_KEY_COMPLETION, prop.completion_id, NULL, 0);
        int g = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
        if (g < 0) { rc = g; break; }
        if (g == 0) break;
        struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = prop.completion_id};
        append_notification(p, &r->id, &st, STET_NTF_RUN, &nid, &prop.result);
        rc = put_status(p, &r->id, &st);
        break;
    }
    case STET_EFFECT_END:
        rc = complete_invocation(p, &r->id, &st);
        break;
    case STET_EFFECT_FAILED: {
        struct stet_buf f = STET_BUF_INIT;
        stet_proto_encode_failure(&f, r->failure_code, (const char *)r->failure_message.ptr, r->failure_message.len);
        st.result_kind = 2;
        st.failure_code = r->failure_code;
        st.failure_raw = (struct stet_slice){f.data, f.len};
        p->cur_stacktrace = r->payload;
        rc = complete_invocation(p, &r->id, &st);
        p->cur_stacktrace = (struct stet_slice){NULL, 0};
        stet_buf_free(&f);
        break;
    }
    case STET_EFFECT_SUSPENDED: {
        struct stet_suspension s;
        if (stet_proto_decode_suspension(r->payload.ptr, r->payload.len, &s) != 0) {
            stage_invoke(p, &r->id); /* cannot tell what it waits for: resuming early is safe */
            break;
        }
        bool ready = suspension_matches(p, &r->id, &s);
        stet_proto_suspension_free(&s);
        if (st.pausing) {
            /* the attempt stopped because of a pause request */
            st.state = STET_INV_PAUSED;
            st.pausing = false;
            st.waiting = r->payload;
            rc = put_status(p, &r->id, &st);
        } else if (ready) {
            stage_invoke(p, &r->id);
        } else {
            st.state = STET_INV_SUSPENDED;
            st.waiting = r->payload;
            rc = put_status(p, &r->id, &st);
        }
        break;
    }
    case STET_EFFECT_PAUSED:
        st.state = STET_INV_PAUSED;
        st.pausing = false;
        rc = put_status(p, &r->id, &st);
        break;
    }
    if (pin && rc == 0 && !st_written(p, &r->id) && st.state != STET_INV_COMPLETED) rc = put_status(p, &r->id, &st);
#undef st_written
out:
    stet_inv_status_free(&st);
    return rc;
}

/* ---- ATTACH -------------------------------------------------------------------------- */

static int apply_attach(struct stet_partition *p, const struct stet_record *r) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc < 0) goto out;
    if (rc == 1) {
        stage_simple_response(p, &r->id, &r->sink, STET_RESPONSE_NOT_FOUND);
        rc = 0;
        goto out;
    }
    if (st.state == STET_INV_COMPLETED) {
        stage_response(p, &r->id, &r->sink, &st, true);
    } else if (r->attach_mode == STET_ATTACH_OUTPUT) {
        stage_simple_response(p, &r->id, &r->sink, STET_RESPONSE_NOT_READY);
    } else if (add_sink(&st, &r->sink)) {
        rc = put_status(p, &r->id, &st);
    }
out:
    stet_inv_status_free(&st);
    return rc;
}

/* ---- TIMER_FIRED, RESPONSE, SIGNAL ------------------------------------------------------ */

static int apply_timer(struct stet_partition *p, const struct stet_record *r) {
    struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
    stet_key_timer(&k, p->cfg.partition_id, r->wake_at_ms, &r->id, r->completion_id, r->timer_kind);
    int rc = stet_store_get(p->store, k.data, k.len, &v);
    if (rc != 0) { /* fired already (or never existed) */
        stet_buf_free(&k);
        stet_buf_free(&v);
        return rc < 0 ? rc : 0;
    }
    stet_store_batch_delete(&p->batch, k.data, k.len);
    stet_buf_free(&k);
    stet_buf_free(&v);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc != 0) {
        stet_inv_status_free(&st);
        return rc < 0 ? rc : 0;
    }
    switch (r->timer_kind) {
    case STET_TIMER_SLEEP:
        if (st.state != STET_INV_COMPLETED) {
            struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = r->completion_id};
            struct stet_result res = {.kind = STET_RESULT_VOID};
            append_notification(p, &r->id, &st, STET_NTF_SLEEP, &nid, &res);
            rc = put_status(p, &r->id, &st);
        }
        break;
    case STET_TIMER_START:
        if (st.state == STET_INV_SCHEDULED) {
            rc = start_or_enqueue(p, &r->id, &st);
            if (rc < 0) break;
            rc = put_status(p, &r->id, &st);
        }
        break;
    case STET_TIMER_CLEANUP:
        if (st.state == STET_INV_COMPLETED) {
            stet_key_status(&p->k1, &r->id);
            stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
            delete_journal(p, &r->id);
            if (st.service_type == STET_WORKFLOW && st.handler_type == STET_HANDLER_WORKFLOW) {
                /* the workflow's retention ended: its state and promises go with it */
                stet_key_state_prefix(&p->k1, r->id.partition_key, st.service, st.key);
                delete_prefix(p, &p->k1);
                stet_key_promise(&p->k1, r->id.partition_key, st.service, st.key, (struct stet_slice){NULL, 0});
                delete_prefix(p, &p->k1);
            }
        }
        break;
    default:
        break;
    }
    stet_inv_status_free(&st);
    return rc;
}

static struct stet_result record_result(const struct stet_record *r) {
    struct stet_result res = {.kind = STET_RESULT_VOID};
    if (r->result_kind == STET_REC_RESULT_VALUE) res = (struct stet_result){.kind = STET_RESULT_VALUE, .value = r->payload};
    if (r->result_kind == STET_REC_RESULT_FAILURE) {
        res.kind = STET_RESULT_FAILURE;
        res.failure.raw = r->payload;
    }
    return res;
}

static int apply_response(struct stet_partition *p, const struct stet_record *r) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc == 0 && st.state != STET_INV_COMPLETED) {
        struct stet_ntf_id nid = {.kind = STET_NTF_ID_COMPLETION, .idx = r->completion_id};
        stet_key_notification(&p->k1, &r->id, STET_NTF_KEY_COMPLETION, r->completion_id, NULL, 0);
        rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
        if (rc == 1) { /* not delivered yet */
            struct stet_result res = record_result(r);
            append_notification(p, &r->id, &st, r->entry_type, &nid, &res);
            rc = put_status(p, &r->id, &st);
        }
    }
    stet_inv_status_free(&st);
    return rc < 0 ? rc : 0;
}

/* Collects the ids of the invocations this one called (not one-way sends): kill follows them. */
struct children_ctx {
    uint32_t call_idx[STET_MAX_SINKS];
    size_t n_calls;
    struct stet_invocation_id ids[STET_MAX_SINKS];
    size_t n_ids;
};

static int children_cb(void *arg, uint32_t index, const struct stet_journal_entry *e) {
    STET_UNUSED(index);
    struct children_ctx *c = arg;
    if (e->type == STET_CMD_CALL && c->n_calls < STET_MAX_SINKS) {
        struct stet_command cmd;
        if (stet_proto_decode_command(e->type, e->payload.ptr, e->payload.len, &cmd) == 0) {
            c->call_idx[c->n_calls++] = cmd.invocation_id_notification_idx;
            stet_command_free(&cmd);
        }
    } else if (e->type == STET_NTF_CALL_INVOCATION_ID && c->n_ids < STET_MAX_SINKS) {
        struct stet_ntf_id nid;
        struct stet_result res;
        if (stet_proto_decode_notification(e->payload.ptr, e->payload.len, &nid, &res) != 0) return 0;
        for (size_t i = 0; i < c->n_calls; i++) {
            if (c->call_idx[i] != nid.idx) continue;
            if (stet_invocation_id_parse((const char *)res.value.ptr, res.value.len, &c->ids[c->n_ids], NULL) == 0)
                c->n_ids++;
            break;
        }
    }
    return 0;
}

static int kill_invocation(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    struct children_ctx cc;
    memset(&cc, 0, sizeof(cc));
    stet_table_journal_scan(p->store, id, 0, st->journal_len, children_cb, &cc);
    for (size_t i = 0; i < cc.n_ids; i++) {
        struct stet_record k;
        memset(&k, 0, sizeof(k));
        k.kind = STET_REC_KILL;
        k.id = cc.ids[i];
        outbox_put(p, &k);
    }
    stage_action(p, STET_ACTION_ABORT, id);
    struct stet_buf scratch = STET_BUF_INIT;
    int rc = fail_invocation(p, id, st, 409, "killed", &scratch);
    stet_buf_free(&scratch);
    return rc;
}

static int apply_signal(struct stet_partition *p, const struct stet_record *r) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc != 0) {
        admin_response(p, &r->id, &r->sink, STET_RESPONSE_NOT_FOUND, NULL);
        goto out;
    }
    bool cancel = !r->signal_by_name && r->signal_idx == STET_SIGNAL_CANCEL;
    if (st.state == STET_INV_COMPLETED) {
        admin_response(p, &r->id, &r->sink, STET_RESPONSE_CONFLICT, "was already completed.");
        goto out;
    }
    if (cancel && (st.state == STET_INV_INBOXED || st.state == STET_INV_SCHEDULED)) {
        struct stet_buf scratch = STET_BUF_INIT;
        rc = fail_invocation(p, &r->id, &st, 409, "Cancelled", &scratch);
        stet_buf_free(&scratch);
        admin_response(p, &r->id, &r->sink, STET_RESPONSE_OK, NULL);
        goto out;
    }
    struct stet_ntf_id nid;
    if (r->signal_by_name) nid = (struct stet_ntf_id){.kind = STET_NTF_ID_SIGNAL_NAME, .name = r->signal_name};
    else nid = (struct stet_ntf_id){.kind = STET_NTF_ID_SIGNAL_IDX, .idx = r->signal_idx};
    /* a signal is delivered once: a second resolution of the same awakeable is ignored */
    stet_key_notification(&p->k1, &r->id, r->signal_by_name ? STET_NTF_KEY_SIGNAL_NAME : STET_NTF_KEY_SIGNAL,
                          r->signal_idx, r->signal_name.ptr, r->signal_name.len);
    rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
    if (rc < 0) goto out;
    if (rc == 0) {
        rc = 0;
        admin_response(p, &r->id, &r->sink, STET_RESPONSE_ACCEPTED, NULL);
        goto out;
    }
    struct stet_result res = record_result(r);
    append_notification(p, &r->id, &st, STET_NTF_SIGNAL, &nid, &res);
    if (cancel && st.state == STET_INV_PAUSED) {
        st.state = STET_INV_INVOKED;
        stage_invoke(p, &r->id);
    }
    rc = put_status(p, &r->id, &st);
    admin_response(p, &r->id, &r->sink, STET_RESPONSE_ACCEPTED, NULL);
out:
    stet_inv_status_free(&st);
    return rc < 0 ? rc : 0;
}

static int apply_admin(struct stet_partition *p, const struct stet_record *r) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc != 0) {
        admin_response(p, &r->id, &r->sink, STET_RESPONSE_NOT_FOUND, NULL);
        stet_inv_status_free(&st);
        return rc < 0 ? rc : 0;
    }
    switch (r->kind) {
    case STET_REC_KILL:
        if (st.state == STET_INV_COMPLETED) {
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_CONFLICT, "was already completed.");
        } else {
            rc = kill_invocation(p, &r->id, &st);
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_OK, NULL);
        }
        break;
    case STET_REC_PURGE:
        if (st.state != STET_INV_COMPLETED) {
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_CONFLICT, "is not yet completed.");
        } else {
            stet_key_status(&p->k1, &r->id);
            stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
            delete_journal(p, &r->id);
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_OK, NULL);
        }
        break;
    case STET_REC_PAUSE:
        if (st.state == STET_INV_PAUSED) {
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_OK, NULL);
        } else if (st.state == STET_INV_SUSPENDED) {
            st.state = STET_INV_PAUSED;
            rc = put_status(p, &r->id, &st);
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_ACCEPTED, NULL);
        } else if (st.state == STET_INV_INVOKED) {
            /* the running attempt is asked to stop (it suspends); what it stored is kept */
            if (!st.pausing) {
                st.pausing = true;
                stage_action(p, STET_ACTION_PAUSE, &r->id);
                rc = put_status(p, &r->id, &st);
            }
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_ACCEPTED, NULL);
        } else {
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_CONFLICT, "is not running, cannot be paused.");
        }
        break;
    case STET_REC_RESUME:
        if (st.state == STET_INV_COMPLETED) {
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_CONFLICT, "is completed, cannot be resumed.");
        } else if (st.state == STET_INV_PAUSED || st.state == STET_INV_SUSPENDED) {
            st.state = STET_INV_INVOKED;
            st.waiting = (struct stet_slice){NULL, 0};
            stage_invoke(p, &r->id);
            rc = put_status(p, &r->id, &st);
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_OK, NULL);
        } else if (st.state == STET_INV_INVOKED) {
            if (st.pausing) {
                st.pausing = false;
                rc = put_status(p, &r->id, &st);
            }
            stage_invoke(p, &r->id);
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_OK, NULL);
        } else {
            admin_response(p, &r->id, &r->sink, STET_RESPONSE_CONFLICT,
                           "is either inboxed or scheduled, cannot be resumed.");
        }
        break;
    default:
        break;
    }
    stet_inv_status_free(&st);
    return rc;
}

static void apply_outbox_truncate(struct stet_partition *p, const struct stet_record *r) {
    /* point deletes of what was not truncated yet (see delete_prefix on range deletions) */
    uint64_t upto = r->outbox_seq < p->outbox_seq ? r->outbox_seq : p->outbox_seq;
    for (uint64_t seq = p->outbox_truncated + 1; seq <= upto; seq++) {
        stet_key_outbox(&p->k1, p->cfg.partition_id, seq);
        stet_store_batch_delete(&p->batch, p->k1.data, p->k1.len);
    }
    if (upto > p->outbox_truncated) p->outbox_truncated = upto;
}

/* Exactly-once delivery between partitions: returns true when the record was seen before. */
static bool dedup_seen(struct stet_partition *p, const struct stet_record *r) {
    if (r->dedup_source == 0) return false;
    struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
    stet_key_dedup(&k, p->cfg.partition_id, r->dedup_source);
    bool seen = false;
    if (stet_store_get(p->store, k.data, k.len, &v) == 0 && v.len == 8) seen = r->dedup_seq <= stet_load_u64be(v.data);
    if (!seen) {
        uint8_t b[8];
        stet_store_u64be(b, r->dedup_seq);
        stet_store_batch_put(&p->batch, k.data, k.len, b, 8);
    }
    stet_buf_free(&k);
    stet_buf_free(&v);
    return seen;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static int load_fsm(struct stet_partition *p) {
    stet_key_fsm(&p->k1, p->cfg.partition_id);
    int rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
    if (rc == 1) return 0;
    if (rc < 0) return rc;
    struct stet_pb_reader r = {p->v1.data, p->v1.data + p->v1.len};
    struct stet_pb_field f;
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        if (f.number == 1) p->applied_lsn = f.varint;
        if (f.number == 2) p->inbox_seq = f.varint;
        if (f.number == 3) p->outbox_seq = f.varint;
        if (f.number == 4) p->outbox_truncated = f.varint;
        if (f.number == 5) p->epoch = f.varint;
    }
    return rc < 0 ? -EPROTO : 0;
}

int stet_partition_create(const struct stet_env *env, struct stet_store *store, const struct stet_partition_config *cfg,
                          stet_partition_action_cb cb, void *ctx, struct stet_partition **out) {
    struct stet_partition *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->env = *env;
    p->store = store;
    p->cfg = *cfg;
    p->cb = cb;
    p->ctx = ctx;
    stet_store_batch_init(&p->batch);
    int rc = load_fsm(p);
    if (rc != 0) {
        stet_partition_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

void stet_partition_destroy(struct stet_partition *p) {
    if (!p) return;
    stet_store_batch_free(&p->batch);
    free(p->pending);
    stet_buf_free(&p->action_data);
    stet_buf_free(&p->k1);
    stet_buf_free(&p->k2);
    stet_buf_free(&p->v1);
    stet_buf_free(&p->v2);
    free(p);
}

uint64_t stet_partition_applied_lsn(const struct stet_partition *p) { return p->applied_lsn; }
uint64_t stet_partition_epoch(const struct stet_partition *p) { return p->epoch; }
void stet_partition_step_down(struct stet_partition *p) { p->leader = false; }
uint32_t stet_partition_id(const struct stet_partition *p) { return p->cfg.partition_id; }
bool stet_partition_is_leader(const struct stet_partition *p) { return p->leader; }

static void emit_pending(struct stet_partition *p) {
    for (size_t i = 0; i < p->n_pending; i++) {
        struct pending_action *pa = &p->pending[i];
        if (pa->value_off != SIZE_MAX) pa->a.value.ptr = p->action_data.data + pa->value_off;
        if (pa->failure_off != SIZE_MAX) pa->a.failure_raw.ptr = p->action_data.data + pa->failure_off;
        if (pa->stack_off != SIZE_MAX) pa->a.stacktrace.ptr = p->action_data.data + pa->stack_off;
        /* answers to requests go out from every replica (the node delivers a follower's only to
         * requests it holds itself: a completion a new leader committed before its announcement
         * still reaches its caller); everything else only from the leader */
        if (p->leader || pa->a.kind == STET_ACTION_INGRESS_RESPONSE || pa->a.kind == STET_ACTION_ADMIN_RESPONSE)
            p->cb(p->ctx, &pa->a);
    }
    p->n_pending = 0;
    stet_buf_reset(&p->action_data);
}

void stet_partition_stats(const struct stet_partition *p, struct stet_partition_stats *out) { *out = p->stats; }

int stet_partition_apply(struct stet_partition *p, uint64_t lsn, const uint8_t *rec, size_t len) {
    if (lsn <= p->applied_lsn) return 0;
    p->stats.records_applied++;
    stet_store_batch_clear(&p->batch);
    p->n_pending = 0;
    stet_buf_reset(&p->action_data);
    struct stet_record r;
    int rc = stet_record_decode(rec, len, &r);
    if (rc != 0) {
        stet_warn(MOD, "skipping undecodable record partition=%u lsn=%llu", p->cfg.partition_id,
                  (unsigned long long)lsn);
    } else {
        STET_ASSERT(r.id.partition_key >= p->cfg.key_start);
        STET_ASSERT(r.id.partition_key <= p->cfg.key_end);
        p->now_ms = r.timestamp_ms;
        if (r.kind == STET_REC_ANNOUNCE_LEADER) {
            if (r.epoch > p->epoch) p->epoch = r.epoch;
        } else if (r.epoch != 0 && r.epoch < p->epoch) {
            /* appended by a deposed leader: it must not change anything */
            p->stats.records_stale++;
            stet_debug(MOD, "skipping a record of epoch %llu < %llu partition=%u lsn=%llu", (unsigned long long)r.epoch,
                       (unsigned long long)p->epoch, p->cfg.partition_id, (unsigned long long)lsn);
        } else if (!dedup_seen(p, &r)) {
            switch (r.kind) {
            case STET_REC_INVOKE: rc = apply_invoke(p, &r); break;
            case STET_REC_INVOKER_EFFECT: rc = apply_effect(p, &r); break;
            case STET_REC_ATTACH: rc = apply_attach(p, &r); break;
            case STET_REC_TIMER_FIRED: rc = apply_timer(p, &r); break;
            case STET_REC_RESPONSE: rc = apply_response(p, &r); break;
            case STET_REC_SIGNAL: rc = apply_signal(p, &r); break;
            case STET_REC_OUTBOX_TRUNCATE: apply_outbox_truncate(p, &r); rc = 0; break;
            case STET_REC_KILL:
            case STET_REC_PURGE:
            case STET_REC_PAUSE:
            case STET_REC_RESUME: rc = apply_admin(p, &r); break;
            case STET_REC_STATE_MUTATION: rc = apply_state_mutation(p, &r); break;
            case STET_REC_ANNOUNCE_LEADER: STET_UNREACHABLE();
            }
        }
        if (rc < 0) return rc;
    }
    p->applied_lsn = lsn;
    stet_key_fsm(&p->k1, p->cfg.partition_id);
    stet_buf_reset(&p->v1);
    stet_pb_put_uint_field(&p->v1, 1, p->applied_lsn);
    if (p->inbox_seq) stet_pb_put_uint_field(&p->v1, 2, p->inbox_seq);
    if (p->outbox_seq) stet_pb_put_uint_field(&p->v1, 3, p->outbox_seq);
    if (p->outbox_truncated) stet_pb_put_uint_field(&p->v1, 4, p->outbox_truncated);
    if (p->epoch) stet_pb_put_uint_field(&p->v1, 5, p->epoch);
    stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, p->v1.data, p->v1.len);
    /* no WAL: the log is the durable copy; a crash loses at most what replay rebuilds (the node
     * trims the log only up to what a store flush made durable) */
    rc = stet_store_write(p->store, &p->batch, STET_STORE_WRITE_NO_WAL);
    if (rc < 0) {
        stet_error(MOD, "partition store write failed partition=%u lsn=%llu rc=%d", p->cfg.partition_id,
                   (unsigned long long)lsn, rc);
        return rc;
    }
    emit_pending(p);
#ifdef STET_EXPENSIVE_CHECKS
    stet_partition_check(p); /* the sanitized build checks the whole partition after every record */
#endif
    return 0;
}

struct resume_ctx {
    struct stet_partition *p;
    size_t resumed;
};

static int resume_invoked_cb(void *arg, const struct stet_invocation_id *id, const struct stet_inv_status *st) {
    struct resume_ctx *c = arg;
    if (st->state != STET_INV_INVOKED) return 0;
    struct stet_action a = {.kind = STET_ACTION_INVOKE, .id = *id};
    c->p->cb(c->p->ctx, &a);
    c->resumed++;
    return 0;
}

static int resume_outbox_cb(void *arg, uint64_t seq, const uint8_t *rec, size_t len) {
    STET_UNUSED(rec);
    STET_UNUSED(len);
    struct stet_partition *p = arg;
    struct stet_action a = {.kind = STET_ACTION_OUTBOX, .partition_id = p->cfg.partition_id, .outbox_seq = seq};
    p->cb(p->ctx, &a);
    return 0;
}

int stet_partition_become_leader(struct stet_partition *p) {
    p->leader = true;
    struct resume_ctx rctx = {p, 0};
    int rc = stet_table_status_scan(p->store, p->cfg.key_start, p->cfg.key_end, NULL, 0, resume_invoked_cb, &rctx);
    size_t resumed = rctx.resumed;
    /* undelivered outbox messages go out again (the receiver deduplicates) */
    if (rc >= 0) rc = stet_partition_outbox_scan(p->store, p->cfg.partition_id, 0, resume_outbox_cb, p);
    /* the earliest timer arms the timer service */
    uint64_t wake = 0;
    if (rc >= 0 && stet_table_timer_earliest(p->store, p->cfg.partition_id, &wake) == 0) {
        struct stet_action a = {.kind = STET_ACTION_TIMER, .partition_id = p->cfg.partition_id, .wake_at_ms = wake};
        p->cb(p->ctx, &a);
    }
    if (resumed)
        stet_info(MOD, "leader partition=%u applied_lsn=%llu resumed_invocations=%zu", p->cfg.partition_id,
                  (unsigned long long)p->applied_lsn, resumed);
    return rc;
}

void stet_partition_check(const struct stet_partition *p) {
    STET_ASSERT(p->cfg.key_start <= p->cfg.key_end);
    STET_ASSERT(p->n_pending == 0);
    STET_ASSERT(p->outbox_truncated <= p->outbox_seq);
    /* the fsm row says what memory says (it is written with every applied record) */
    struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
    stet_key_fsm(&k, p->cfg.partition_id);
    int rc = stet_store_get(p->store, k.data, k.len, &v);
    STET_ASSERT(rc == 0 || (rc == 1 && p->applied_lsn == 0));
    if (rc == 0) {
        uint64_t f[6] = {0};
        struct stet_pb_reader r;
        stet_pb_reader_init(&r, v.data, v.len);
        struct stet_pb_field fl;
        while (stet_pb_next(&r, &fl) == 1)
            if (fl.number < 6) f[fl.number] = fl.varint;
        STET_ASSERT(f[1] == p->applied_lsn);
        STET_ASSERT(f[2] == p->inbox_seq);
        STET_ASSERT(f[3] == p->outbox_seq);
        STET_ASSERT(f[4] == p->outbox_truncated);
        STET_ASSERT(f[5] == p->epoch);
    }
    stet_buf_free(&k);
    stet_buf_free(&v);
    stet_tables_check(p->store, p->cfg.key_start, p->cfg.key_end);
}
