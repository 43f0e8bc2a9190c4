/* Fuzz driver for src/protocol.
 *
 * The input is one direction of a service-protocol stream (the corpus in
 * fuzz/corpus/protocol/ holds real streams cut from the golden traces). It is fed to the
 * frame decoder in pseudo-random chunk sizes derived from the input itself, and every frame
 * payload is run through every decoder, whatever its type code. The whole input is also
 * decoded as a bare payload, so mutations that break framing still reach the decoders.
 *
 * Oracles, besides "no crash, no leak, no sanitizer report":
 *   - the frame decoder returns frames that exactly tile the input prefix it consumed;
 *   - whatever decodes also re-encodes, and the re-encoding decodes to the same values
 *     (notifications, Start, suspensions, run proposals, errors).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "protocol/protocol.h"

static bool slice_equal(struct stet_slice a, struct stet_slice b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void check_notification(const uint8_t *p, size_t len) {
    struct stet_ntf_id id;
    struct stet_result r;
    if (stet_proto_decode_notification(p, len, &id, &r) != 0) return;
    struct stet_buf b = STET_BUF_INIT;
    stet_proto_encode_notification(&b, &id, &r);
    struct stet_ntf_id id2;
    struct stet_result r2;
    STET_ASSERT(stet_proto_decode_notification(b.data, b.len, &id2, &r2) == 0);
    STET_ASSERT(id2.kind == id.kind);
    STET_ASSERT(id2.idx == id.idx);
    STET_ASSERT(slice_equal(id2.name, id.name));
    STET_ASSERT(r2.kind == r.kind);
    if (r.kind == STET_RESULT_FAILURE) {
        STET_ASSERT(r2.failure.code == r.failure.code);
        STET_ASSERT(slice_equal(r2.failure.message, r.failure.message));
    } else {
        STET_ASSERT(slice_equal(r2.value, r.value));
    }
    stet_buf_free(&b);
}

static void check_start(const uint8_t *p, size_t len) {
    struct stet_start_msg m;
    if (stet_proto_decode_start(p, len, &m) != 0) return;
    struct stet_buf b = STET_BUF_INIT;
    stet_proto_encode_start(&b, &m);
    struct stet_start_msg m2;
    STET_ASSERT(stet_proto_decode_start(b.data, b.len, &m2) == 0);
    STET_ASSERT(memcmp(m.id, m2.id, sizeof(m.id)) == 0);
    STET_ASSERT(strcmp(m.debug_id ? m.debug_id : "", m2.debug_id ? m2.debug_id : "") == 0);
    STET_ASSERT(m.known_entries == m2.known_entries);
    STET_ASSERT(m.state_len == m2.state_len);
    for (size_t i = 0; i < m.state_len; i++) {
        STET_ASSERT(slice_equal(m.state[i].key, m2.state[i].key));
        STET_ASSERT(slice_equal(m.state[i].value, m2.state[i].value));
    }
    STET_ASSERT(m.partial_state == m2.partial_state);
    STET_ASSERT(slice_equal(m.key, m2.key));
    STET_ASSERT(m.random_seed == m2.random_seed);
    STET_ASSERT(m.has_scope == m2.has_scope);
    stet_proto_start_free(&m2);
    stet_proto_start_free(&m);
    stet_buf_free(&b);
}

static void check_suspension(const uint8_t *p, size_t len) {
    struct stet_suspension s;
    if (stet_proto_decode_suspension(p, len, &s) != 0) return;
    STET_ASSERT(s.n_completions + s.n_signals + s.n_signal_names > 0);
    for (int version = 6; version <= 7; version++) {
        struct stet_buf b = STET_BUF_INIT;
        stet_proto_encode_suspension(&b, version, s.completions, s.n_completions, s.signals, s.n_signals,
                                     s.signal_names, s.n_signal_names);
        struct stet_suspension s2;
        STET_ASSERT(stet_proto_decode_suspension(b.data, b.len, &s2) == 0);
        STET_ASSERT(s2.n_completions == s.n_completions);
        STET_ASSERT(s2.n_signals == s.n_signals);
        STET_ASSERT(s2.n_signal_names == s.n_signal_names);
        STET_ASSERT(s.n_completions == 0 || memcmp(s.completions, s2.completions, s.n_completions * 4) == 0);
        STET_ASSERT(s.n_signals == 0 || memcmp(s.signals, s2.signals, s.n_signals * 4) == 0);
        stet_proto_suspension_free(&s2);
        stet_buf_free(&b);
    }
    stet_proto_suspension_free(&s);
}

static void check_run_proposal(const uint8_t *p, size_t len) {
    struct stet_run_proposal rp;
    if (stet_proto_decode_run_proposal(p, len, &rp) != 0) return;
    STET_ASSERT(rp.result.kind == STET_RESULT_VALUE || rp.result.kind == STET_RESULT_FAILURE);
    struct stet_buf b = STET_BUF_INIT;
    stet_proto_encode_run_proposal(&b, rp.completion_id, &rp.result);
    struct stet_run_proposal rp2;
    STET_ASSERT(stet_proto_decode_run_proposal(b.data, b.len, &rp2) == 0);
    STET_ASSERT(rp2.completion_id == rp.completion_id);
    STET_ASSERT(rp2.result.kind == rp.result.kind);
    /* the server turns a proposal into a RunCompletion notification */
    struct stet_ntf_id id = {STET_NTF_ID_COMPLETION, rp.completion_id, {NULL, 0}};
    stet_buf_reset(&b);
    stet_proto_encode_notification(&b, &id, &rp.result);
    check_notification(b.data, b.len);
    stet_buf_free(&b);
}

static void check_error(const uint8_t *p, size_t len) {
    struct stet_error_msg e;
    if (stet_proto_decode_error(p, len, &e) != 0) return;
    struct stet_buf b = STET_BUF_INIT;
    stet_proto_encode_error(&b, &e);
    struct stet_error_msg e2;
    STET_ASSERT(stet_proto_decode_error(b.data, b.len, &e2) == 0);
    STET_ASSERT(e2.code == e.code);
    STET_ASSERT(slice_equal(e2.message, e.message));
    STET_ASSERT(e2.has_related_command_index == e.has_related_command_index);
    STET_ASSERT(e2.has_next_retry_delay == e.has_next_retry_delay);
    STET_ASSERT(e2.next_retry_delay_ms == e.next_retry_delay_ms);
    stet_buf_free(&b);
}

/* Every decoder on one payload. */
static void decode_all(uint16_t type, const uint8_t *p, size_t len) {
    struct stet_pb_reader r;
    struct stet_pb_field f;
    stet_pb_reader_init(&r, p, len);
    while (stet_pb_next(&r, &f) == 1) STET_ASSERT(r.p <= r.end);

    check_start(p, len);
    check_notification(p, len);
    check_suspension(p, len);
    check_run_proposal(p, len);
    check_error(p, len);

    struct stet_suspension s;
    bool exec;
    if (stet_proto_decode_awaiting_on(p, len, &s, &exec) == 0) stet_proto_suspension_free(&s);
    uint32_t id;
    (void)stet_proto_decode_run_ack(p, len, &id);

    /* the frame's own type, then every command type */
    struct stet_command c;
    if (stet_msg_kind(type) == STET_KIND_COMMAND && stet_proto_decode_command(type, p, len, &c) == 0) {
        stet_command_free(&c);
    }
    for (uint16_t t = STET_CMD_INPUT; t <= STET_CMD_COMPLETE_AWAKEABLE; t++) {
        if (stet_proto_decode_command(t, p, len, &c) == 0) {
            STET_ASSERT(c.type == t);
            stet_command_free(&c);
        } else {
            STET_ASSERT(c.headers == NULL);
        }
    }
    struct stet_slice body;
    struct stet_header_kv *headers;
    size_t n_headers;
    if (stet_proto_decode_input(p, len, &body, &headers, &n_headers) == 0) free(headers);

    struct stet_buf json = STET_BUF_INIT;
    stet_proto_entry_json(&json, type, p, len);
    STET_ASSERT(json.len > 0);
    stet_buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct stet_frame_decoder d;
    stet_frame_decoder_init(&d, 1 << 16);
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size && i < 16; i++) seed = (seed ^ data[i]) * 16777619u;

    size_t off = 0, consumed = 0;
    int rc = 0;
    while (off < size && rc >= 0) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 97;
        if (chunk > size - off) chunk = size - off;
        stet_frame_decoder_feed(&d, data + off, chunk);
        off += chunk;
        struct stet_frame fr;
        while ((rc = stet_frame_decoder_next(&d, &fr)) == 1) {
            /* frames tile the input: header then payload at the consumed offset */
            STET_ASSERT(consumed + 8 + fr.len <= off);
            STET_ASSERT(stet_load_u16be(data + consumed) == fr.type);
            STET_ASSERT(fr.len == 0 || memcmp(data + consumed + 8, fr.payload, fr.len) == 0);
            consumed += 8 + (size_t)fr.len;
            decode_all(fr.type, fr.payload, fr.len);
        }
        STET_ASSERT(rc == 0 || rc == -EPROTO || rc == -EMSGSIZE);
    }
    if (rc == 0) STET_ASSERT(stet_frame_decoder_pending(&d) == size - consumed);
    stet_frame_decoder_free(&d);

    /* the raw input as a payload, with a type taken from its first bytes */
    uint16_t type = size >= 2 ? stet_load_u16be(data) : STET_CMD_OUTPUT;
    decode_all(type, data, size);
    return 0;
}
