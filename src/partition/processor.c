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
    size_t value_off, failure_off;
};

struct stet_partition {
    struct stet_env env;
    struct stet_store *store;
    struct stet_partition_config cfg;
    stet_partition_action_cb cb;
    void *ctx;
    uint64_t applied_lsn;
    uint64_t inbox_seq;
    bool leader;
    /* per-record scratch */
    uint64_t now_ms;
    struct stet_store_batch batch;
    struct pending_action *pending;
    size_t n_pending, cap_pending;
    struct stet_buf action_data;
    struct stet_buf k1, k2, v1, v2;
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
    return pa;
}

static void stage_invoke(struct stet_partition *p, const struct stet_invocation_id *id) {
    stage_action(p, STET_ACTION_INVOKE, id);
}

static void stage_notify(struct stet_partition *p, const struct stet_invocation_id *id, uint32_t index) {
    struct pending_action *pa = stage_action(p, STET_ACTION_NOTIFY, id);
    pa->a.entry_index = index;
}

/* Stages the answer to an ingress sink from a status's result. */
static void stage_response(struct stet_partition *p, const struct stet_invocation_id *id,
                           const struct stet_inv_sink *sink, const struct stet_inv_status *st, bool from_retained) {
    if (sink->kind != STET_SINK_INGRESS) return; /* invocation sinks: calls, a later issue */
    struct pending_action *pa = stage_action(p, STET_ACTION_INGRESS_RESPONSE, id);
    pa->a.sink = *sink;
    pa->a.from_retained = from_retained;
    if (from_retained && st->completion_retention_ms)
        pa->a.expires_at_ms = st->completed_at_ms + st->completion_retention_ms;
    if (st->result_kind == 2) {
        pa->a.response = STET_RESPONSE_FAILURE;
        pa->a.failure_code = st->failure_code;
        pa->failure_off = p->action_data.len;
        pa->a.failure_raw.len = st->failure_raw.len;
        stet_buf_append(&p->action_data, st->failure_raw.ptr, st->failure_raw.len);
    } else {
        pa->a.response = STET_RESPONSE_VALUE;
        pa->value_off = p->action_data.len;
        pa->a.value.len = st->result_value.len;
        stet_buf_append(&p->action_data, st->result_value.ptr, st->result_value.len);
    }
}

static void stage_simple_response(struct stet_partition *p, const struct stet_invocation_id *id,
                                  const struct stet_inv_sink *sink, enum stet_response_kind kind) {
    if (sink->kind != STET_SINK_INGRESS) return;
    struct pending_action *pa = stage_action(p, STET_ACTION_INGRESS_RESPONSE, id);
    pa->a.sink = *sink;
    pa->a.response = kind;
}

static int put_status(struct stet_partition *p, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    st->modified_at_ms = p->now_ms;
    stet_key_status(&p->k1, id);
    stet_buf_reset(&p->v1);
    stet_inv_status_encode(st, &p->v1);
    stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, p->v1.data, p->v1.len);
    return 0;
}

static void delete_journal(struct stet_partition *p, const struct stet_invocation_id *id) {
    stet_key_journal_prefix(&p->k1, id);
    stet_key_prefix_end(&p->k1, &p->k2);
    stet_store_batch_delete_range(&p->batch, p->k1.data, p->k1.len, p->k2.data, p->k2.len);
    stet_key_notification_prefix(&p->k1, id);
    stet_key_prefix_end(&p->k1, &p->k2);
    stet_store_batch_delete_range(&p->batch, p->k1.data, p->k1.len, p->k2.data, p->k2.len);
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
    }
    st->state = STET_INV_INVOKED;
    stage_invoke(p, id);
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
    struct stet_store_iter *it = stet_store_iter_create(p->store, lo.data, lo.len, hi.data, hi.len);
    rc = 0;
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
                ns.inbox_seq = 0;
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
    return put_status(p, id, st);
}

static bool add_sink(struct stet_inv_status *st, const struct stet_inv_sink *sink) {
    if (sink->kind == STET_SINK_NONE) return true;
    if (st->n_sinks >= STET_MAX_SINKS) return false;
    st->sinks[st->n_sinks++] = *sink;
    return true;
}

/* ---- INVOKE -------------------------------------------------------------------------- */

static int apply_invoke(struct stet_partition *p, const struct stet_record *r) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc < 0) goto out;
    if (rc == 0) {
        /* The invocation exists already (deterministic id: workflow run, idempotency key). */
        if (st.state == STET_INV_COMPLETED) {
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
        st.state = STET_INV_SCHEDULED; /* fired by the timer service (durable timers issue) */
    } else if (st.keyed && uses_lock(st.service_type, st.handler_type)) {
        stet_key_lock(&p->k1, r->id.partition_key, st.service, st.key);
        rc = stet_store_get(p->store, p->k1.data, p->k1.len, &p->v1);
        if (rc < 0) goto out;
        if (rc == 0) {
            st.state = STET_INV_INBOXED;
            st.inbox_seq = ++p->inbox_seq;
            stet_key_inbox(&p->k1, r->id.partition_key, st.service, st.key, st.inbox_seq);
            uint8_t idb[24];
            stet_invocation_id_to_bytes(&r->id, idb);
            stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, idb, 24);
        } else {
            start_invocation(p, &r->id, &st);
        }
        rc = 0;
    } else {
        start_invocation(p, &r->id, &st);
    }
    put_status(p, &r->id, &st);
out:
    stet_inv_status_free(&st);
    return rc;
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
            stet_key_prefix_end(&p->k1, &p->k2);
            stet_store_batch_delete_range(&p->batch, p->k1.data, p->k1.len, p->k2.data, p->k2.len);
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
    default:
        /* journal-only commands (Run, GetEagerState, ...) and commands whose effects belong
         * to later issues are stored as they are */
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
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(p->store, &r->id, &st);
    if (rc != 0) {
        if (rc == 1) rc = 0; /* gone (killed/purged): late effect of a dead attempt */
        goto out;
    }
    if (st.state != STET_INV_INVOKED) goto out; /* late effect of an attempt that ended */
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
        rc = complete_invocation(p, &r->id, &st);
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
        if (ready) {
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
        rc = put_status(p, &r->id, &st);
        break;
    }
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
uint32_t stet_partition_id(const struct stet_partition *p) { return p->cfg.partition_id; }
bool stet_partition_is_leader(const struct stet_partition *p) { return p->leader; }

static void emit_pending(struct stet_partition *p) {
    for (size_t i = 0; i < p->n_pending; i++) {
        struct pending_action *pa = &p->pending[i];
        if (pa->value_off != SIZE_MAX) pa->a.value.ptr = p->action_data.data + pa->value_off;
        if (pa->failure_off != SIZE_MAX) pa->a.failure_raw.ptr = p->action_data.data + pa->failure_off;
        if (p->leader) p->cb(p->ctx, &pa->a);
    }
    p->n_pending = 0;
    stet_buf_reset(&p->action_data);
}

int stet_partition_apply(struct stet_partition *p, uint64_t lsn, const uint8_t *rec, size_t len) {
    if (lsn <= p->applied_lsn) return 0;
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
        switch (r.kind) {
        case STET_REC_INVOKE: rc = apply_invoke(p, &r); break;
        case STET_REC_INVOKER_EFFECT: rc = apply_effect(p, &r); break;
        case STET_REC_ATTACH: rc = apply_attach(p, &r); break;
        default: rc = 0; break;
        }
        if (rc < 0) return rc;
    }
    p->applied_lsn = lsn;
    stet_key_fsm(&p->k1, p->cfg.partition_id);
    stet_buf_reset(&p->v1);
    stet_pb_put_uint_field(&p->v1, 1, p->applied_lsn);
    if (p->inbox_seq) stet_pb_put_uint_field(&p->v1, 2, p->inbox_seq);
    stet_store_batch_put(&p->batch, p->k1.data, p->k1.len, p->v1.data, p->v1.len);
    rc = stet_store_write(p->store, &p->batch, false);
    if (rc < 0) {
        stet_error(MOD, "partition store write failed partition=%u lsn=%llu rc=%d", p->cfg.partition_id,
                   (unsigned long long)lsn, rc);
        return rc;
    }
    emit_pending(p);
    return 0;
}

int stet_partition_become_leader(struct stet_partition *p) {
    p->leader = true;
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    stet_buf_append_byte(&lo, 'S');
    stet_buf_append_u64be(&lo, p->cfg.key_start);
    stet_buf_append_byte(&hi, 'S');
    if (p->cfg.key_end == UINT64_MAX) {
        hi.data[0] = 'S' + 1;
    } else {
        stet_buf_append_u64be(&hi, p->cfg.key_end + 1);
    }
    struct stet_store_iter *it = stet_store_iter_create(p->store, lo.data, lo.len, hi.data, hi.len);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = 0;
    size_t resumed = 0;
    for (; it && stet_store_iter_valid(p->store, it); stet_store_iter_next(p->store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(p->store, it, &kl);
        const uint8_t *v = stet_store_iter_value(p->store, it, &vl);
        if (kl != 25) continue;
        if (stet_inv_status_decode(&st, v, vl) != 0) continue;
        if (st.state != STET_INV_INVOKED) continue;
        struct stet_action a = {.kind = STET_ACTION_INVOKE};
        stet_invocation_id_from_bytes(k + 1, &a.id);
        p->cb(p->ctx, &a);
        resumed++;
    }
    if (it) stet_store_iter_destroy(p->store, it);
    stet_inv_status_free(&st);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    if (resumed)
        stet_info(MOD, "leader partition=%u applied_lsn=%llu resumed_invocations=%zu", p->cfg.partition_id,
                  (unsigned long long)p->applied_lsn, resumed);
    return rc;
}

void stet_partition_check(const struct stet_partition *p) {
    STET_ASSERT(p->cfg.key_start <= p->cfg.key_end);
    STET_ASSERT(p->n_pending == 0);
    STET_ASSERT(p->batch.count == 0 || true);
}
