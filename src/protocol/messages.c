/* Encoders and decoders of service-protocol message payloads (service-protocol.md §7).
 *
 * Encoding rules (§5), applied everywhere below:
 *   - plain proto3 scalars/strings/bytes are omitted when they equal the default;
 *   - oneof members and `optional` fields are written whenever present, even if 0 or empty;
 *   - an empty sub-message is tag + 00 ("A sleep completion is therefore 08 01 22 00");
 *   - fields are written in field-number order, which is what restate-server (prost) does and
 *     what the traces show, so re-encoding a decoded Start or notification is byte-exact.
 *
 * Decoding rules:
 *   - unknown fields of every wire type are skipped; a known field with the wrong wire type
 *     is -EPROTO (prost rejects it too);
 *   - repeated scalars are accepted packed and unpacked;
 *   - for a oneof, the last member seen wins (protobuf merge semantics);
 *   - slices borrow from the input; the only allocations are the arrays named in protocol.h,
 *     grown by doubling, and released on every error path before returning.
 *
 * The v5/v6 SuspensionMessage (fields 1-3) has the same field numbers and types as the v7
 * Future message's leaves, and the v7 SuspensionMessage puts its Future in field 4, which is
 * also Future.nested_futures. So one recursive walker, future_flatten(), reads all three
 * layouts: every leaf anywhere in the tree lands in the flat any-of lists (§10.12: "A minimal
 * v7 server can therefore flatten the tree and resume on any member").
 */
#include "protocol/protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

/* A Future nested deeper than this is rejected; the SDK only sends depth 1. It bounds the
 * recursion of future_flatten on hostile input. */
#define FUTURE_DEPTH_MAX 32

/* ---- small helpers ----------------------------------------------------------------------- */

/* Grows a malloc'd array so that element n can be written: capacity is 4, 8, 16, ... and is
 * implied by n, so no capacity field is needed. Allocation failure aborts, like stet_buf. */
static void *array_grow(void *arr, size_t n, size_t elem) {
    size_t cap;
    if (n == 0) {
        cap = 4;
    } else if (n >= 4 && (n & (n - 1)) == 0) {
        cap = n * 2;
    } else {
        return arr;
    }
    STET_ASSERT(cap <= SIZE_MAX / elem);
    void *grown = realloc(arr, cap * elem);
    STET_ASSERT(grown != NULL);
    return grown;
}

static int field_u32(const struct stet_pb_field *f, uint32_t *out) {
    if (f->wire_type != STET_PB_VARINT) return -EPROTO;
    *out = (uint32_t)f->varint; /* prost truncates oversized uint32 varints the same way */
    return 0;
}

static int field_u64(const struct stet_pb_field *f, uint64_t *out) {
    if (f->wire_type != STET_PB_VARINT) return -EPROTO;
    *out = f->varint;
    return 0;
}

static int field_bool(const struct stet_pb_field *f, bool *out) {
    if (f->wire_type != STET_PB_VARINT) return -EPROTO;
    *out = f->varint != 0;
    return 0;
}

static int field_slice(const struct stet_pb_field *f, struct stet_slice *out) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    out->ptr = f->data;
    out->len = f->len;
    return 0;
}

/* Walks a nested message only to check that it is well-formed protobuf. */
static int check_message(const uint8_t *p, size_t len) {
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
    }
    return rc;
}

/* Void: an empty message (unknown fields tolerated). */
static int result_void(const struct stet_pb_field *f, struct stet_result *r) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    int rc = check_message(f->data, f->len);
    if (rc < 0) return rc;
    memset(r, 0, sizeof(*r));
    r->kind = STET_RESULT_VOID;
    return 0;
}

/* Value { 1 content bytes }. */
static int result_value(const struct stet_pb_field *f, struct stet_result *r) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    struct stet_slice content = {f->data, 0};
    struct stet_pb_reader rd;
    struct stet_pb_field vf;
    int rc;
    stet_pb_reader_init(&rd, f->data, f->len);
    while ((rc = stet_pb_next(&rd, &vf)) == 1) {
        if (vf.number == 1 && (rc = field_slice(&vf, &content)) < 0) return rc;
    }
    if (rc < 0) return rc;
    memset(r, 0, sizeof(*r));
    r->kind = STET_RESULT_VALUE;
    r->value = content;
    return 0;
}

/* Raw bytes used as a value (ProposeRunCompletion field 14). */
static int result_raw_value(const struct stet_pb_field *f, struct stet_result *r) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    memset(r, 0, sizeof(*r));
    r->kind = STET_RESULT_VALUE;
    r->value.ptr = f->data;
    r->value.len = f->len;
    return 0;
}

/* Failure { 1 code u32, 2 message str, 3 metadata repeated FailureMetadata }. */
static int result_failure(const struct stet_pb_field *f, struct stet_result *r) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    struct stet_failure fl = {0, {f->data, 0}, {f->data, f->len}};
    struct stet_pb_reader rd;
    struct stet_pb_field ff;
    int rc;
    stet_pb_reader_init(&rd, f->data, f->len);
    while ((rc = stet_pb_next(&rd, &ff)) == 1) {
        switch (ff.number) {
        case 1: rc = field_u32(&ff, &fl.code); break;
        case 2: rc = field_slice(&ff, &fl.message); break;
        case 3:
            if (ff.wire_type != STET_PB_LEN) return -EPROTO;
            rc = check_message(ff.data, ff.len);
            break;
        default: rc = 0; break;
        }
        if (rc < 0) return rc;
    }
    if (rc < 0) return rc;
    memset(r, 0, sizeof(*r));
    r->kind = STET_RESULT_FAILURE;
    r->failure = fl;
    return 0;
}

/* StateKeys { 1 keys repeated bytes }, kept raw. */
static int result_state_keys(const struct stet_pb_field *f, struct stet_result *r) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    struct stet_slice keys = {f->data, f->len};
    size_t pos = 0;
    struct stet_slice key;
    int rc;
    while ((rc = stet_proto_state_keys_next(keys, &pos, &key)) == 1) {
    }
    if (rc < 0) return rc;
    memset(r, 0, sizeof(*r));
    r->kind = STET_RESULT_STATE_KEYS;
    r->value = keys;
    return 0;
}

static int result_invocation_id(const struct stet_pb_field *f, struct stet_result *r) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    memset(r, 0, sizeof(*r));
    r->kind = STET_RESULT_INVOCATION_ID;
    r->value.ptr = f->data;
    r->value.len = f->len;
    return 0;
}

int stet_proto_state_keys_next(struct stet_slice state_keys, size_t *pos, struct stet_slice *key) {
    STET_ASSERT(*pos <= state_keys.len);
    struct stet_pb_reader r;
    struct stet_pb_field f;
    stet_pb_reader_init(&r, state_keys.ptr, state_keys.len);
    const uint8_t *base = r.p;
    r.p += *pos;
    for (;;) {
        int rc = stet_pb_next(&r, &f);
        if (rc <= 0) return rc;
        *pos = (size_t)(r.p - base);
        if (f.number != 1) continue; /* unknown field */
        if (f.wire_type != STET_PB_LEN) return -EPROTO;
        key->ptr = f.data;
        key->len = f.len;
        return 1;
    }
}

/* Header { 1 key str, 2 value str } appended to a growing array. */
static int header_push(const struct stet_pb_field *f, struct stet_header_kv **arr, size_t *n) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    struct stet_header_kv kv = {{f->data, 0}, {f->data, 0}};
    struct stet_pb_reader rd;
    struct stet_pb_field hf;
    int rc;
    stet_pb_reader_init(&rd, f->data, f->len);
    while ((rc = stet_pb_next(&rd, &hf)) == 1) {
        if (hf.number == 1) rc = field_slice(&hf, &kv.key);
        else if (hf.number == 2) rc = field_slice(&hf, &kv.value);
        else rc = 0;
        if (rc < 0) return rc;
    }
    if (rc < 0) return rc;
    *arr = array_grow(*arr, *n, sizeof(**arr));
    (*arr)[(*n)++] = kv;
    return 0;
}

/* A repeated u32, packed (wire type 2) or not (wire type 0). */
static int u32_push(const struct stet_pb_field *f, uint32_t **arr, size_t *n) {
    if (f->wire_type == STET_PB_VARINT) {
        *arr = array_grow(*arr, *n, sizeof(**arr));
        (*arr)[(*n)++] = (uint32_t)f->varint;
        return 0;
    }
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    const uint8_t *p = f->data;
    const uint8_t *end = f->data + f->len;
    while (p < end) {
        uint64_t v;
        int used = stet_pb_read_varint(p, end, &v);
        if (used < 0) return used;
        p += used;
        *arr = array_grow(*arr, *n, sizeof(**arr));
        (*arr)[(*n)++] = (uint32_t)v;
    }
    return 0;
}

/* ---- encoders ---------------------------------------------------------------------------- */

static void put_str_nonempty(struct stet_buf *out, uint32_t field, struct stet_slice s) {
    if (s.len != 0) stet_pb_put_bytes_field(out, field, s.ptr, s.len);
}

static void put_uint_nonzero(struct stet_buf *out, uint32_t field, uint64_t v) {
    if (v != 0) stet_pb_put_uint_field(out, field, v);
}

/* A Value sub-message: tag + len + (content omitted when empty). */
static void put_value(struct stet_buf *out, uint32_t field, struct stet_slice content) {
    size_t mark = stet_pb_begin_submsg(out, field);
    put_str_nonempty(out, 1, content);
    stet_pb_end_submsg(out, mark);
}

static void put_failure(struct stet_buf *out, uint32_t field, const struct stet_failure *f) {
    if (f->raw.len != 0) {
        stet_pb_put_bytes_field(out, field, f->raw.ptr, f->raw.len);
        return;
    }
    size_t mark = stet_pb_begin_submsg(out, field);
    stet_proto_encode_failure(out, f->code, (const char *)f->message.ptr, f->message.len);
    stet_pb_end_submsg(out, mark);
}

void stet_proto_encode_failure(struct stet_buf *out, uint32_t code, const char *message, size_t mlen) {
    put_uint_nonzero(out, 1, code);
    if (mlen != 0) stet_pb_put_bytes_field(out, 2, message, mlen);
}

void stet_proto_encode_start(struct stet_buf *out, const struct stet_start_msg *m) {
    stet_pb_put_bytes_field(out, 1, m->id, sizeof(m->id));
    if (m->debug_id != NULL && m->debug_id[0] != 0) {
        stet_pb_put_bytes_field(out, 2, m->debug_id, strlen(m->debug_id));
    }
    put_uint_nonzero(out, 3, m->known_entries);
    for (size_t i = 0; i < m->state_len; i++) {
        size_t mark = stet_pb_begin_submsg(out, 4);
        put_str_nonempty(out, 1, m->state[i].key);
        put_str_nonempty(out, 2, m->state[i].value);
        stet_pb_end_submsg(out, mark);
    }
    if (m->partial_state) stet_pb_put_uint_field(out, 5, 1);
    put_str_nonempty(out, 6, m->key);
    put_uint_nonzero(out, 7, m->retry_count_since_last_stored_entry);
    put_uint_nonzero(out, 8, m->duration_since_last_stored_entry_ms);
    put_uint_nonzero(out, 9, m->random_seed);
    if (m->has_scope) stet_pb_put_bytes_field(out, 10, m->scope.ptr, m->scope.len);
    if (m->has_limit_key) stet_pb_put_bytes_field(out, 11, m->limit_key.ptr, m->limit_key.len);
    if (m->has_idempotency_key) {
        stet_pb_put_bytes_field(out, 12, m->idempotency_key.ptr, m->idempotency_key.len);
    }
}

void stet_proto_encode_input(struct stet_buf *out, const struct stet_header_kv *headers, size_t n,
                             const uint8_t *body, size_t len) {
    for (size_t i = 0; i < n; i++) {
        size_t mark = stet_pb_begin_submsg(out, 1);
        put_str_nonempty(out, 1, headers[i].key);
        put_str_nonempty(out, 2, headers[i].value);
        stet_pb_end_submsg(out, mark);
    }
    /* §10.1: "An empty body is sent as a present Value with empty content (72 00)." */
    put_value(out, 14, stet_slice_make(body, len));
}

void stet_proto_encode_notification(struct stet_buf *out, const struct stet_ntf_id *id,
                                    const struct stet_result *r) {
    switch (id->kind) {
    case STET_NTF_ID_COMPLETION: stet_pb_put_uint_field(out, 1, id->idx); break;
    case STET_NTF_ID_SIGNAL_IDX: stet_pb_put_uint_field(out, 2, id->idx); break;
    case STET_NTF_ID_SIGNAL_NAME: stet_pb_put_bytes_field(out, 3, id->name.ptr, id->name.len); break;
    default: STET_UNREACHABLE();
    }
    /* §5: the SDK "rejects a notification whose result is absent". */
    switch (r->kind) {
    case STET_RESULT_VOID: stet_pb_put_bytes_field(out, 4, NULL, 0); break;
    case STET_RESULT_VALUE: put_value(out, 5, r->value); break;
    case STET_RESULT_FAILURE: put_failure(out, 6, &r->failure); break;
    case STET_RESULT_INVOCATION_ID: stet_pb_put_bytes_field(out, 16, r->value.ptr, r->value.len); break;
    case STET_RESULT_STATE_KEYS: stet_pb_put_bytes_field(out, 17, r->value.ptr, r->value.len); break;
    default: STET_UNREACHABLE();
    }
}

void stet_proto_encode_state_keys(struct stet_buf *out, const struct stet_slice *keys, size_t n) {
    for (size_t i = 0; i < n; i++) stet_pb_put_bytes_field(out, 1, keys[i].ptr, keys[i].len);
}

void stet_proto_encode_run_ack(struct stet_buf *out, uint32_t completion_id) {
    put_uint_nonzero(out, 1, completion_id);
}

void stet_proto_encode_output(struct stet_buf *out, const struct stet_result *r) {
    if (r->kind == STET_RESULT_VALUE) {
        put_value(out, 14, r->value);
    } else {
        STET_ASSERT(r->kind == STET_RESULT_FAILURE);
        put_failure(out, 15, &r->failure);
    }
}

static void put_packed_u32(struct stet_buf *out, uint32_t field, const uint32_t *v, size_t n) {
    if (n == 0) return;
    size_t mark = stet_pb_begin_submsg(out, field);
    for (size_t i = 0; i < n; i++) stet_pb_put_varint(out, v[i]);
    stet_pb_end_submsg(out, mark);
}

void stet_proto_encode_suspension(struct stet_buf *out, int version, const uint32_t *completions,
                                  size_t n_completions, const uint32_t *signals, size_t n_signals,
                                  const struct stet_slice *signal_names, size_t n_signal_names) {
    size_t mark = 0;
    if (version >= 7) mark = stet_pb_begin_submsg(out, 4);
    put_packed_u32(out, 1, completions, n_completions);
    put_packed_u32(out, 2, signals, n_signals);
    for (size_t i = 0; i < n_signal_names; i++) {
        stet_pb_put_bytes_field(out, 3, signal_names[i].ptr, signal_names[i].len);
    }
    if (version >= 7) {
        stet_pb_put_uint_field(out, 5, 1 /* FIRST_COMPLETED */);
        stet_pb_end_submsg(out, mark);
    }
}

void stet_proto_encode_run_proposal(struct stet_buf *out, uint32_t completion_id, const struct stet_result *r) {
    put_uint_nonzero(out, 1, completion_id);
    if (r->kind == STET_RESULT_VALUE) {
        stet_pb_put_bytes_field(out, 14, r->value.ptr, r->value.len);
    } else {
        STET_ASSERT(r->kind == STET_RESULT_FAILURE);
        put_failure(out, 15, &r->failure);
    }
}

void stet_proto_encode_error(struct stet_buf *out, const struct stet_error_msg *m) {
    put_uint_nonzero(out, 1, m->code);
    put_str_nonempty(out, 2, m->message);
    put_str_nonempty(out, 3, m->stacktrace);
    if (m->has_related_command_index) stet_pb_put_uint_field(out, 4, m->related_command_index);
    put_str_nonempty(out, 5, m->related_command_name);
    if (m->has_related_command_type) stet_pb_put_uint_field(out, 6, m->related_command_type);
    if (m->has_next_retry_delay) stet_pb_put_uint_field(out, 8, m->next_retry_delay_ms);
    put_uint_nonzero(out, 9, m->behavior);
}

/* ---- control message decoders ------------------------------------------------------------ */

/* Reads one StartMessage.StateEntry { 1 key bytes, 2 value bytes }. */
static int start_state_entry(const struct stet_pb_field *f, struct stet_state_entry *e) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    e->key = stet_slice_make(f->data, 0);
    e->value = stet_slice_make(f->data, 0);
    struct stet_pb_reader r;
    struct stet_pb_field ef;
    int rc;
    stet_pb_reader_init(&r, f->data, f->len);
    while ((rc = stet_pb_next(&r, &ef)) == 1) {
        if (ef.number == 1) rc = field_slice(&ef, &e->key);
        else if (ef.number == 2) rc = field_slice(&ef, &e->value);
        else rc = 0;
        if (rc < 0) return rc;
    }
    return rc;
}

int stet_proto_decode_start(const uint8_t *p, size_t len, struct stet_start_msg *out) {
    memset(out, 0, sizeof(*out));
    struct stet_state_entry *state = NULL;
    size_t n_state = 0;
    char *debug_id = NULL;
    bool has_id = false;
    struct stet_pb_reader r;
    struct stet_pb_field f;
    struct stet_slice s;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1:
            rc = field_slice(&f, &s);
            if (rc == 0 && s.len != sizeof(out->id)) rc = -EPROTO;
            if (rc == 0) {
                memcpy(out->id, s.ptr, sizeof(out->id));
                has_id = true;
            }
            break;
        case 2:
            rc = field_slice(&f, &s);
            if (rc == 0) {
                free(debug_id);
                debug_id = strndup((const char *)s.ptr, s.len);
                STET_ASSERT(debug_id != NULL);
            }
            break;
        case 3: rc = field_u32(&f, &out->known_entries); break;
        case 4: {
            struct stet_state_entry e;
            rc = start_state_entry(&f, &e);
            if (rc == 0) {
                state = array_grow(state, n_state, sizeof(*state));
                state[n_state++] = e;
            }
            break;
        }
        case 5: rc = field_bool(&f, &out->partial_state); break;
        case 6: rc = field_slice(&f, &out->key); break;
        case 7: rc = field_u32(&f, &out->retry_count_since_last_stored_entry); break;
        case 8: rc = field_u64(&f, &out->duration_since_last_stored_entry_ms); break;
        case 9: rc = field_u64(&f, &out->random_seed); break;
        case 10: rc = field_slice(&f, &out->scope); out->has_scope = true; break;
        case 11: rc = field_slice(&f, &out->limit_key); out->has_limit_key = true; break;
        case 12: rc = field_slice(&f, &out->idempotency_key); out->has_idempotency_key = true; break;
        default: rc = 0; break;
        }
        if (rc < 0) goto fail;
    }
    if (rc < 0) goto fail;
    if (!has_id) {
        rc = -EPROTO;
        goto fail;
    }
    out->debug_id = debug_id;
    out->state = state;
    out->state_len = n_state;
    return 0;
fail:
    free(debug_id);
    free(state);
    memset(out, 0, sizeof(*out));
    return rc;
}

void stet_proto_start_free(struct stet_start_msg *m) {
    free((void *)m->debug_id);
    free((void *)m->state);
    m->debug_id = NULL;
    m->state = NULL;
    m->state_len = 0;
}

int stet_proto_decode_error(const uint8_t *p, size_t len, struct stet_error_msg *out) {
    memset(out, 0, sizeof(*out));
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1: rc = field_u32(&f, &out->code); break;
        case 2: rc = field_slice(&f, &out->message); break;
        case 3: rc = field_slice(&f, &out->stacktrace); break;
        case 4:
            rc = field_u32(&f, &out->related_command_index);
            out->has_related_command_index = true;
            break;
        case 5: rc = field_slice(&f, &out->related_command_name); break;
        case 6:
            rc = field_u32(&f, &out->related_command_type);
            out->has_related_command_type = true;
            break;
        case 8:
            rc = field_u64(&f, &out->next_retry_delay_ms);
            out->has_next_retry_delay = true;
            break;
        case 9: rc = field_u32(&f, &out->behavior); break;
        default: rc = 0; break;
        }
        if (rc < 0) break;
    }
    if (rc < 0) memset(out, 0, sizeof(*out));
    return rc < 0 ? rc : 0;
}

/* Future { 1 waiting_completions, 2 waiting_signals, 3 waiting_named_signals,
 * 4 nested_futures, 5 combinator_type }; see the file comment for why this also reads both
 * SuspensionMessage layouts. */
static int future_flatten(const uint8_t *p, size_t len, struct stet_suspension *s, int depth) {
    if (depth > FUTURE_DEPTH_MAX) return -EPROTO;
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1: rc = u32_push(&f, &s->completions, &s->n_completions); break;
        case 2: rc = u32_push(&f, &s->signals, &s->n_signals); break;
        case 3: {
            struct stet_slice name;
            rc = field_slice(&f, &name);
            if (rc == 0) {
                s->signal_names = array_grow(s->signal_names, s->n_signal_names, sizeof(*s->signal_names));
                s->signal_names[s->n_signal_names++] = name;
            }
            break;
        }
        case 4:
            if (f.wire_type != STET_PB_LEN) return -EPROTO;
            rc = future_flatten(f.data, f.len, s, depth + 1);
            break;
        case 5: {
            uint32_t combinator;
            rc = field_u32(&f, &combinator);
            break;
        }
        default: rc = 0; break;
        }
        if (rc < 0) return rc;
    }
    return rc;
}

int stet_proto_decode_suspension(const uint8_t *p, size_t len, struct stet_suspension *out) {
    memset(out, 0, sizeof(*out));
    int rc = future_flatten(p, len, out, 0);
    /* §7.2: "The server must reject a suspension with nothing to wait on." */
    if (rc == 0 && out->n_completions == 0 && out->n_signals == 0 && out->n_signal_names == 0) rc = -EPROTO;
    if (rc < 0) stet_proto_suspension_free(out);
    return rc;
}

int stet_proto_decode_awaiting_on(const uint8_t *p, size_t len, struct stet_suspension *out,
                                  bool *executing_side_effects) {
    memset(out, 0, sizeof(*out));
    *executing_side_effects = false;
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        if (f.number == 1) {
            rc = f.wire_type == STET_PB_LEN ? future_flatten(f.data, f.len, out, 1) : -EPROTO;
        } else if (f.number == 2) {
            rc = field_bool(&f, executing_side_effects);
        } else {
            rc = 0;
        }
        if (rc < 0) break;
    }
    if (rc < 0) stet_proto_suspension_free(out);
    return rc < 0 ? rc : 0;
}

void stet_proto_suspension_free(struct stet_suspension *s) {
    free(s->completions);
    free(s->signals);
    free(s->signal_names);
    memset(s, 0, sizeof(*s));
}

int stet_proto_decode_run_proposal(const uint8_t *p, size_t len, struct stet_run_proposal *out) {
    memset(out, 0, sizeof(*out));
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1: rc = field_u32(&f, &out->completion_id); break;
        case 14: rc = result_raw_value(&f, &out->result); break;
        case 15: rc = result_failure(&f, &out->result); break;
        default: rc = 0; break;
        }
        if (rc < 0) break;
    }
    if (rc == 0 && out->result.kind == STET_RESULT_NONE) rc = -EPROTO;
    if (rc < 0) memset(out, 0, sizeof(*out));
    return rc < 0 ? rc : 0;
}

int stet_proto_decode_run_ack(const uint8_t *p, size_t len, uint32_t *completion_id) {
    *completion_id = 0;
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        if (f.number == 1 && (rc = field_u32(&f, completion_id)) < 0) break;
    }
    return rc < 0 ? rc : 0;
}

/* ---- commands ---------------------------------------------------------------------------- */

/* Commands whose field 11 is result_completion_id (§7.3). */
static bool command_has_completion_field(uint16_t type) {
    switch (type) {
    case STET_CMD_GET_LAZY_STATE:
    case STET_CMD_GET_LAZY_STATE_KEYS:
    case STET_CMD_GET_PROMISE:
    case STET_CMD_PEEK_PROMISE:
    case STET_CMD_COMPLETE_PROMISE:
    case STET_CMD_SLEEP:
    case STET_CMD_CALL:
    case STET_CMD_RUN:
    case STET_CMD_ATTACH_INVOCATION:
    case STET_CMD_GET_INVOCATION_OUTPUT:
        return true;
    default:
        return false;
    }
}

/* IdempotentRequestTarget (kind 3) or WorkflowTarget (kind 4) of Attach/GetInvocationOutput. */
static int command_attach_target(struct stet_command *c, const struct stet_pb_field *f, int kind) {
    if (f->wire_type != STET_PB_LEN) return -EPROTO;
    c->attach_target_kind = kind;
    c->target_service = c->target_key = c->target_handler = c->target_idempotency_key = stet_slice_make(f->data, 0);
    c->target_has_key = kind == STET_ATTACH_TARGET_WORKFLOW; /* workflow_key is a plain string */
    c->has_scope = false;
    struct stet_pb_reader r;
    struct stet_pb_field tf;
    int rc;
    stet_pb_reader_init(&r, f->data, f->len);
    while ((rc = stet_pb_next(&r, &tf)) == 1) {
        if (kind == STET_ATTACH_TARGET_IDEMPOTENT_REQUEST) {
            switch (tf.number) {
            case 1: rc = field_slice(&tf, &c->target_service); break;
            case 2: rc = field_slice(&tf, &c->target_key); c->target_has_key = true; break;
            case 3: rc = field_slice(&tf, &c->target_handler); break;
            case 4: rc = field_slice(&tf, &c->target_idempotency_key); break;
            case 5: rc = field_slice(&tf, &c->scope); c->has_scope = true; break;
            default: rc = 0; break;
            }
        } else {
            switch (tf.number) {
            case 1: rc = field_slice(&tf, &c->target_service); break;
            case 2: rc = field_slice(&tf, &c->target_key); break;
            case 3: rc = field_slice(&tf, &c->scope); c->has_scope = true; break;
            default: rc = 0; break;
            }
        }
        if (rc < 0) return rc;
    }
    return rc;
}

/* One field of a command message, by command type (§7.3). Unknown fields return 0. */
static int command_field(struct stet_command *c, const struct stet_pb_field *f, bool *has_signal_id) {
    switch (c->type) {
    case STET_CMD_INPUT:
        if (f->number == 1) return header_push(f, &c->headers, &c->n_headers);
        if (f->number == 14) return result_value(f, &c->result);
        return 0;
    case STET_CMD_OUTPUT:
        if (f->number == 14) return result_value(f, &c->result);
        if (f->number == 15) return result_failure(f, &c->result);
        return 0;
    case STET_CMD_GET_LAZY_STATE:
    case STET_CMD_CLEAR_STATE:
    case STET_CMD_GET_PROMISE:
    case STET_CMD_PEEK_PROMISE:
        if (f->number == 1) return field_slice(f, &c->key);
        return 0;
    case STET_CMD_SET_STATE:
        if (f->number == 1) return field_slice(f, &c->key);
        if (f->number == 3) return result_value(f, &c->result);
        return 0;
    case STET_CMD_GET_EAGER_STATE:
        if (f->number == 1) return field_slice(f, &c->key);
        if (f->number == 13) return result_void(f, &c->result);
        if (f->number == 14) return result_value(f, &c->result);
        return 0;
    case STET_CMD_GET_EAGER_STATE_KEYS:
        if (f->number == 14) return result_state_keys(f, &c->result);
        return 0;
    case STET_CMD_COMPLETE_PROMISE:
        if (f->number == 1) return field_slice(f, &c->key);
        if (f->number == 2) return result_value(f, &c->result);
        if (f->number == 3) return result_failure(f, &c->result);
        return 0;
    case STET_CMD_SLEEP:
        if (f->number == 1) return field_u64(f, &c->wake_up_time_ms);
        return 0;
    case STET_CMD_CALL:
        switch (f->number) {
        case 1: return field_slice(f, &c->service_name);
        case 2: return field_slice(f, &c->handler_name);
        case 3: return field_slice(f, &c->parameter);
        case 4: return header_push(f, &c->headers, &c->n_headers);
        case 5: c->has_key = true; return field_slice(f, &c->key);
        case 6: c->has_idempotency_key = true; return field_slice(f, &c->idempotency_key);
        case 7: c->has_scope = true; return field_slice(f, &c->scope);
        case 8: c->has_limit_key = true; return field_slice(f, &c->limit_key);
        case 10: return field_u32(f, &c->invocation_id_notification_idx);
        default: return 0;
        }
    case STET_CMD_ONE_WAY_CALL:
        switch (f->number) {
        case 1: return field_slice(f, &c->service_name);
        case 2: return field_slice(f, &c->handler_name);
        case 3: return field_slice(f, &c->parameter);
        case 4: return field_u64(f, &c->invoke_time_ms);
        case 5: return header_push(f, &c->headers, &c->n_headers);
        case 6: c->has_key = true; return field_slice(f, &c->key);
        case 7: c->has_idempotency_key = true; return field_slice(f, &c->idempotency_key);
        case 8: c->has_scope = true; return field_slice(f, &c->scope);
        case 9: c->has_limit_key = true; return field_slice(f, &c->limit_key);
        case 10: return field_u32(f, &c->invocation_id_notification_idx);
        default: return 0;
        }
    case STET_CMD_SEND_SIGNAL:
        switch (f->number) {
        case 1: return field_slice(f, &c->target_invocation_id);
        case 2:
            *has_signal_id = true;
            c->signal_by_name = false;
            c->signal_name = stet_slice_make(NULL, 0);
            return field_u32(f, &c->signal_idx);
        case 3:
            *has_signal_id = true;
            c->signal_by_name = true;
            c->signal_idx = 0;
            return field_slice(f, &c->signal_name);
        case 4: return result_void(f, &c->result);
        case 5: return result_value(f, &c->result);
        case 6: return result_failure(f, &c->result);
        default: return 0;
        }
    case STET_CMD_ATTACH_INVOCATION:
    case STET_CMD_GET_INVOCATION_OUTPUT:
        switch (f->number) {
        case 1:
            c->attach_target_kind = STET_ATTACH_TARGET_INVOCATION_ID;
            return field_slice(f, &c->target_invocation_id);
        case 3: return command_attach_target(c, f, STET_ATTACH_TARGET_IDEMPOTENT_REQUEST);
        case 4: return command_attach_target(c, f, STET_ATTACH_TARGET_WORKFLOW);
        default: return 0;
        }
    case STET_CMD_COMPLETE_AWAKEABLE:
        if (f->number == 1) return field_slice(f, &c->awakeable_id);
        if (f->number == 2) return result_value(f, &c->result);
        if (f->number == 3) return result_failure(f, &c->result);
        return 0;
    default: /* ClearAllState, GetLazyStateKeys, Run, and unknown command codes */
        return 0;
    }
}

/* The oneofs a command cannot be without. */
static bool command_complete(const struct stet_command *c, bool has_signal_id) {
    switch (c->type) {
    case STET_CMD_OUTPUT:
    case STET_CMD_SET_STATE:
    case STET_CMD_GET_EAGER_STATE:
    case STET_CMD_GET_EAGER_STATE_KEYS:
    case STET_CMD_COMPLETE_PROMISE:
    case STET_CMD_COMPLETE_AWAKEABLE:
        return c->result.kind != STET_RESULT_NONE;
    case STET_CMD_SEND_SIGNAL:
        return has_signal_id && c->result.kind != STET_RESULT_NONE;
    case STET_CMD_ATTACH_INVOCATION:
    case STET_CMD_GET_INVOCATION_OUTPUT:
        return c->attach_target_kind != 0;
    default:
        return true;
    }
}

int stet_proto_decode_command(uint16_t type, const uint8_t *p, size_t len, struct stet_command *out) {
    memset(out, 0, sizeof(*out));
    out->type = type;
    if (stet_msg_kind(type) != STET_KIND_COMMAND) return -EPROTO;
    bool has_signal_id = false;
    bool completion_field = command_has_completion_field(type);
    struct stet_pb_reader r;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&r, p, len);
    while ((rc = stet_pb_next(&r, &f)) == 1) {
        if (f.number == 12) {
            rc = field_slice(&f, &out->name);
        } else if (f.number == 11 && completion_field) {
            rc = field_u32(&f, &out->result_completion_id);
            out->has_result_completion_id = true;
        } else {
            rc = command_field(out, &f, &has_signal_id);
        }
        if (rc < 0) goto fail;
    }
    if (rc < 0) goto fail;
    if (!command_complete(out, has_signal_id)) {
        rc = -EPROTO;
        goto fail;
    }
    return 0;
fail:
    stet_command_free(out);
    memset(out, 0, sizeof(*out));
    return rc;
}

void stet_command_free(struct stet_command *c) {
    free(c->headers);
    c->headers = NULL;
    c->n_headers = 0;
}

int stet_proto_decode_input(const uint8_t *p, size_t len, struct stet_slice *body,
                            struct stet_header_kv **headers, size_t *n_headers) {
    struct stet_command c;
    int rc = stet_proto_decode_command(STET_CMD_INPUT, p, len, &c);
    if (rc < 0) {
        *body = stet_slice_make(NULL, 0);
        *headers = NULL;
        *n_headers = 0;
        return rc;
    }
    *body = c.result.value; /* empty when the value field is absent */
    *headers = c.headers;
    *n_headers = c.n_headers;
    return 0;
}

/* ---- notifications ----------------------------------------------------------------------- */

int stet_proto_decode_notification(const uint8_t *p, size_t len, struct stet_ntf_id *id,
                                   struct stet_result *r) {
    memset(id, 0, sizeof(*id));
    memset(r, 0, sizeof(*r));
    bool has_id = false;
    struct stet_pb_reader rd;
    struct stet_pb_field f;
    int rc;
    stet_pb_reader_init(&rd, p, len);
    while ((rc = stet_pb_next(&rd, &f)) == 1) {
        switch (f.number) {
        case 1:
        case 2:
            id->kind = f.number == 1 ? STET_NTF_ID_COMPLETION : STET_NTF_ID_SIGNAL_IDX;
            id->name = stet_slice_make(NULL, 0);
            rc = field_u32(&f, &id->idx);
            has_id = true;
            break;
        case 3:
            id->kind = STET_NTF_ID_SIGNAL_NAME;
            id->idx = 0;
            rc = field_slice(&f, &id->name);
            has_id = true;
            break;
        case 4: rc = result_void(&f, r); break;
        case 5: rc = result_value(&f, r); break;
        case 6: rc = result_failure(&f, r); break;
        case 16: rc = result_invocation_id(&f, r); break;
        case 17: rc = result_state_keys(&f, r); break;
        default: rc = 0; break;
        }
        if (rc < 0) break;
    }
    /* §5: a notification "whose result is absent" is a decoding error in the SDK. */
    if (rc == 0 && (!has_id || r->kind == STET_RESULT_NONE)) rc = -EPROTO;
    if (rc < 0) {
        memset(id, 0, sizeof(*id));
        memset(r, 0, sizeof(*r));
    }
    return rc < 0 ? rc : 0;
}
