/* Journal entries rendered as JSON, for introspection (sys_journal entry_json).
 *
 * restate-server fills sys_journal.entry_json with serde_json of its journal_v2::Entry enum
 * (restatedev/restate crates/storage-query-datafusion/src/journal/row.rs), so the shape is
 * serde's externally tagged enums: {"Command":{"SetState":{"key":"count","value":[49,48],
 * "name":""}}}, {"Notification":{"Completion":{"Sleep":{"completion_id":1}}}},
 * {"Notification":{"Signal":{"id":{"Index":1},"result":"Void"}}}. Bytes render as arrays of
 * numbers (serde's default for `Bytes`), strings as JSON strings, unit variants as "Void".
 * Where Restate's entry holds data that the wire message does not (a Call's resolved target
 * and invocation id), we render what the wire message has; this is best effort.
 *
 * Anything that does not decode renders as {"Unknown":{"type":N,"payload":[...]}} so the
 * function never fails. No JSON library: strings are escaped here, invalid UTF-8 becomes
 * U+FFFD.
 */
#include "protocol/protocol.h"

#include <string.h>

#include "common/assert.h"

/* ---- JSON writers ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t utf8_sequence_len(const uint8_t *p, size_t avail) {
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0; /* overlong, surrogate */
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

static void json_str(struct stet_buf *out, struct stet_slice s) {
    static const char hex[] = "0123456789abcdef";
    stet_buf_append_byte(out, '"');
    size_t i = 0;
    while (i < s.len) {
        uint8_t c = s.ptr[i];
        if (c == '"' || c == '\\') {
            stet_buf_append_byte(out, '\\');
            stet_buf_append_byte(out, c);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': stet_buf_append_str(out, "\\n"); break;
            case '\r': stet_buf_append_str(out, "\\r"); break;
            case '\t': stet_buf_append_str(out, "\\t"); break;
            case '\b': stet_buf_append_str(out, "\\b"); break;
            case '\f': stet_buf_append_str(out, "\\f"); break;
            default: {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                stet_buf_append(out, esc, sizeof(esc));
            }
            }
            i++;
        } else {
            size_t n = utf8_sequence_len(s.ptr + i, s.len - i);
            if (n == 0) {
                stet_buf_append_str(out, "\\ufffd");
                i++;
            } else {
                stet_buf_append(out, s.ptr + i, n);
                i += n;
            }
        }
    }
    stet_buf_append_byte(out, '"');
}

static void json_cstr(struct stet_buf *out, const char *s) { json_str(out, stet_slice_make(s, strlen(s))); }

static void json_bytes(struct stet_buf *out, struct stet_slice s) {
    stet_buf_append_byte(out, '[');
    for (size_t i = 0; i < s.len; i++) {
        if (i) stet_buf_append_byte(out, ',');
        stet_buf_printf(out, "%u", s.ptr[i]);
    }
    stet_buf_append_byte(out, ']');
}

/* Writes `"key":` with a leading comma unless first. */
static void json_key(struct stet_buf *out, const char *key, bool first) {
    if (!first) stet_buf_append_byte(out, ',');
    json_cstr(out, key);
    stet_buf_append_byte(out, ':');
}

static void json_failure(struct stet_buf *out, const struct stet_failure *f) {
    stet_buf_printf(out, "{\"code\":%u,\"message\":", f->code);
    json_str(out, f->message);
    stet_buf_append_str(out, ",\"metadata\":[");
    /* metadata entries (Failure field 3) are re-read from the raw bytes; the decoder has
     * already checked that they are well-formed */
    struct stet_pb_reader r;
    struct stet_pb_field fld;
    bool first = true;
    stet_pb_reader_init(&r, f->raw.ptr, f->raw.len);
    while (stet_pb_next(&r, &fld) == 1) {
        if (fld.number != 3 || fld.wire_type != STET_PB_LEN) continue;
        struct stet_slice key = {fld.data, 0}, value = {fld.data, 0};
        struct stet_pb_reader mr;
        struct stet_pb_field mf;
        stet_pb_reader_init(&mr, fld.data, fld.len);
        while (stet_pb_next(&mr, &mf) == 1) {
            if (mf.wire_type != STET_PB_LEN) continue;
            if (mf.number == 1) key = stet_slice_make(mf.data, mf.len);
            if (mf.number == 2) value = stet_slice_make(mf.data, mf.len);
        }
        if (!first) stet_buf_append_byte(out, ',');
        first = false;
        stet_buf_append_str(out, "{\"key\":");
        json_str(out, key);
        stet_buf_append_str(out, ",\"value\":");
        json_str(out, value);
        stet_buf_append_byte(out, '}');
    }
    stet_buf_append_str(out, "]}");
}

static void json_state_keys(struct stet_buf *out, struct stet_slice keys) {
    stet_buf_append_byte(out, '[');
    size_t pos = 0;
    struct stet_slice key;
    bool first = true;
    while (stet_proto_state_keys_next(keys, &pos, &key) == 1) {
        if (!first) stet_buf_append_byte(out, ',');
        first = false;
        json_str(out, key);
    }
    stet_buf_append_byte(out, ']');
}

/* A result enum: "Void" | {"Success":[..]} | {"Failure":{..}} | invocation id | state keys. */
static void json_result(struct stet_buf *out, const struct stet_result *r) {
    switch (r->kind) {
    case STET_RESULT_VOID: stet_buf_append_str(out, "\"Void\""); break;
    case STET_RESULT_VALUE:
        stet_buf_append_str(out, "{\"Success\":");
        json_bytes(out, r->value);
        stet_buf_append_byte(out, '}');
        break;
    case STET_RESULT_FAILURE:
        stet_buf_append_str(out, "{\"Failure\":");
        json_failure(out, &r->failure);
        stet_buf_append_byte(out, '}');
        break;
    case STET_RESULT_INVOCATION_ID: json_str(out, r->value); break;
    case STET_RESULT_STATE_KEYS: json_state_keys(out, r->value); break;
    default: stet_buf_append_str(out, "null"); break;
    }
}

static void json_headers(struct stet_buf *out, const struct stet_header_kv *h, size_t n) {
    stet_buf_append_byte(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) stet_buf_append_byte(out, ',');
        stet_buf_append_str(out, "{\"name\":");
        json_str(out, h[i].key);
        stet_buf_append_str(out, ",\"value\":");
        json_str(out, h[i].value);
        stet_buf_append_byte(out, '}');
    }
    stet_buf_append_byte(out, ']');
}

static void json_opt_str(struct stet_buf *out, bool present, struct stet_slice s) {
    if (present) json_str(out, s);
    else stet_buf_append_str(out, "null");
}

static void json_unknown(struct stet_buf *out, uint16_t type, const uint8_t *p, size_t len) {
    stet_buf_printf(out, "{\"Unknown\":{\"type\":%u,\"payload\":", type);
    json_bytes(out, stet_slice_make(p, len));
    stet_buf_append_str(out, "}}");
}

/* ---- entries ----------------------------------------------------------------------------- */

static void json_call_request(struct stet_buf *out, const struct stet_command *c) {
    stet_buf_append_str(out, "\"request\":{\"invocation_target\":{\"service_name\":");
    json_str(out, c->service_name);
    stet_buf_append_str(out, ",\"handler_name\":");
    json_str(out, c->handler_name);
    stet_buf_append_str(out, ",\"key\":");
    json_opt_str(out, c->has_key, c->key);
    stet_buf_append_str(out, "},\"parameter\":");
    json_bytes(out, c->parameter);
    stet_buf_append_str(out, ",\"headers\":");
    json_headers(out, c->headers, c->n_headers);
    stet_buf_append_str(out, ",\"idempotency_key\":");
    json_opt_str(out, c->has_idempotency_key, c->idempotency_key);
    stet_buf_append_byte(out, '}');
}

static void json_attach_target(struct stet_buf *out, const struct stet_command *c) {
    stet_buf_append_str(out, "\"target\":");
    switch (c->attach_target_kind) {
    case STET_ATTACH_TARGET_INVOCATION_ID:
        stet_buf_append_str(out, "{\"InvocationId\":");
        json_str(out, c->target_invocation_id);
        stet_buf_append_byte(out, '}');
        break;
    case STET_ATTACH_TARGET_IDEMPOTENT_REQUEST:
        stet_buf_append_str(out, "{\"IdempotentRequest\":{\"service_name\":");
        json_str(out, c->target_service);
        stet_buf_append_str(out, ",\"service_key\":");
        json_opt_str(out, c->target_has_key, c->target_key);
        stet_buf_append_str(out, ",\"service_handler\":");
        json_str(out, c->target_handler);
        stet_buf_append_str(out, ",\"idempotency_key\":");
        json_str(out, c->target_idempotency_key);
        stet_buf_append_str(out, "}}");
        break;
    default:
        stet_buf_append_str(out, "{\"Workflow\":{\"service_name\":");
        json_str(out, c->target_service);
        stet_buf_append_str(out, ",\"key\":");
        json_str(out, c->target_key);
        stet_buf_append_str(out, "}}");
        break;
    }
}

/* The body of one command object, without braces. Returns false if the type has no
 * rendering (the caller then falls back to Unknown). */
static bool json_command_body(struct stet_buf *out, const struct stet_command *c) {
    switch (c->type) {
    case STET_CMD_INPUT:
        json_key(out, "headers", true);
        json_headers(out, c->headers, c->n_headers);
        json_key(out, "payload", false);
        json_bytes(out, c->result.value);
        break;
    case STET_CMD_OUTPUT:
        json_key(out, "result", true);
        json_result(out, &c->result);
        break;
    case STET_CMD_GET_LAZY_STATE:
    case STET_CMD_GET_PROMISE:
    case STET_CMD_PEEK_PROMISE:
        json_key(out, "key", true);
        json_str(out, c->key);
        json_key(out, "completion_id", false);
        stet_buf_printf(out, "%u", c->result_completion_id);
        break;
    case STET_CMD_SET_STATE:
        json_key(out, "key", true);
        json_str(out, c->key);
        json_key(out, "value", false);
        json_bytes(out, c->result.value);
        break;
    case STET_CMD_CLEAR_STATE:
        json_key(out, "key", true);
        json_str(out, c->key);
        break;
    case STET_CMD_CLEAR_ALL_STATE:
        return true; /* only the name */
    case STET_CMD_GET_LAZY_STATE_KEYS:
    case STET_CMD_RUN:
        json_key(out, "completion_id", true);
        stet_buf_printf(out, "%u", c->result_completion_id);
        break;
    case STET_CMD_GET_EAGER_STATE:
        json_key(out, "key", true);
        json_str(out, c->key);
        json_key(out, "result", false);
        json_result(out, &c->result);
        break;
    case STET_CMD_GET_EAGER_STATE_KEYS:
        json_key(out, "state_keys", true);
        json_state_keys(out, c->result.value);
        break;
    case STET_CMD_COMPLETE_PROMISE:
        json_key(out, "key", true);
        json_str(out, c->key);
        json_key(out, "value", false);
        json_result(out, &c->result);
        json_key(out, "completion_id", false);
        stet_buf_printf(out, "%u", c->result_completion_id);
        break;
    case STET_CMD_SLEEP:
        json_key(out, "wake_up_time", true);
        stet_buf_printf(out, "%llu", (unsigned long long)c->wake_up_time_ms);
        json_key(out, "completion_id", false);
        stet_buf_printf(out, "%u", c->result_completion_id);
        break;
    case STET_CMD_CALL:
        json_call_request(out, c);
        json_key(out, "invocation_id_completion_id", false);
        stet_buf_printf(out, "%u", c->invocation_id_notification_idx);
        json_key(out, "result_completion_id", false);
        stet_buf_printf(out, "%u", c->result_completion_id);
        break;
    case STET_CMD_ONE_WAY_CALL:
        json_call_request(out, c);
        json_key(out, "invoke_time", false);
        stet_buf_printf(out, "%llu", (unsigned long long)c->invoke_time_ms);
        json_key(out, "invocation_id_completion_id", false);
        stet_buf_printf(out, "%u", c->invocation_id_notification_idx);
        break;
    case STET_CMD_SEND_SIGNAL:
        json_key(out, "target_invocation_id", true);
        json_str(out, c->target_invocation_id);
        json_key(out, "signal_id", false);
        if (c->signal_by_name) {
            stet_buf_append_str(out, "{\"Name\":");
            json_str(out, c->signal_name);
            stet_buf_append_byte(out, '}');
        } else {
            stet_buf_printf(out, "{\"Index\":%u}", c->signal_idx);
        }
        json_key(out, "result", false);
        json_result(out, &c->result);
        break;
    case STET_CMD_ATTACH_INVOCATION:
    case STET_CMD_GET_INVOCATION_OUTPUT:
        json_attach_target(out, c);
        json_key(out, "completion_id", false);
        stet_buf_printf(out, "%u", c->result_completion_id);
        break;
    case STET_CMD_COMPLETE_AWAKEABLE:
        json_key(out, "id", true);
        json_str(out, c->awakeable_id);
        json_key(out, "result", false);
        json_result(out, &c->result);
        break;
    default:
        return false;
    }
    return true;
}

static bool json_command(struct stet_buf *out, uint16_t type, const uint8_t *p, size_t len) {
    struct stet_command c;
    if (!stet_msg_type_known(type) || stet_proto_decode_command(type, p, len, &c) < 0) return false;
    size_t mark = out->len;
    stet_buf_printf(out, "{\"Command\":{\"%s\":{", stet_msg_name(type));
    bool first_is_name = type == STET_CMD_CLEAR_ALL_STATE;
    bool ok = json_command_body(out, &c);
    if (ok) {
        json_key(out, "name", first_is_name);
        json_str(out, c.name);
        stet_buf_append_str(out, "}}}");
    } else {
        out->len = mark;
    }
    stet_command_free(&c);
    return ok;
}

static bool json_notification(struct stet_buf *out, uint16_t type, const uint8_t *p, size_t len) {
    struct stet_ntf_id id;
    struct stet_result r;
    if (!stet_msg_type_known(type) || stet_proto_decode_notification(p, len, &id, &r) < 0) return false;
    if (type == STET_NTF_SIGNAL) {
        stet_buf_append_str(out, "{\"Notification\":{\"Signal\":{\"id\":");
        if (id.kind == STET_NTF_ID_SIGNAL_NAME) {
            stet_buf_append_str(out, "{\"Name\":");
            json_str(out, id.name);
            stet_buf_append_byte(out, '}');
        } else {
            stet_buf_printf(out, "{\"Index\":%u}", id.idx);
        }
        stet_buf_append_str(out, ",\"result\":");
        json_result(out, &r);
        stet_buf_append_str(out, "}}}");
        return true;
    }
    /* "Notification: Sleep" -> "Sleep" */
    const char *name = stet_msg_entry_type(type) + strlen("Notification: ");
    stet_buf_printf(out, "{\"Notification\":{\"Completion\":{\"%s\":{\"completion_id\":%u", name, id.idx);
    switch (type) {
    case STET_NTF_SLEEP: break;
    case STET_NTF_CALL_INVOCATION_ID:
        json_key(out, "invocation_id", false);
        json_result(out, &r);
        break;
    case STET_NTF_GET_LAZY_STATE_KEYS:
        json_key(out, "state_keys", false);
        json_result(out, &r);
        break;
    default:
        json_key(out, "result", false);
        json_result(out, &r);
        break;
    }
    stet_buf_append_str(out, "}}}}");
    return true;
}

void stet_proto_entry_json(struct stet_buf *out, uint16_t type, const uint8_t *p, size_t len) {
    bool ok = false;
    switch (stet_msg_kind(type)) {
    case STET_KIND_COMMAND: ok = json_command(out, type, p, len); break;
    case STET_KIND_NOTIFICATION: ok = json_notification(out, type, p, len); break;
    default: break;
    }
    if (!ok) json_unknown(out, type, p, len);
}
