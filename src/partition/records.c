/* Log record codec for the partition processor (see partition.h). Records are protobuf
 * messages with our own field numbers, so fields can be added without breaking logs on disk:
 *   1 kind, 2 timestamp_ms, 3 epoch, 4 invocation id (24 bytes), 5 service, 6 handler, 7 key,
 *   8 keyed, 9 service_type, 10 handler_type, 11 input_entry, 12 execute_at_ms,
 *   13 idempotency_key (presence), 14 completion_retention_ms, 15 journal_retention_ms,
 *   16 sink, 17 effect, 18 entry_type, 19 payload, 20 deployment_id, 21 protocol_version,
 *   22 failure_code, 23 failure_message, 24 attach_mode, 25 target_service_type,
 *   26 target_handler_type, 27 target_completion_retention_ms, 28 target_journal_retention_ms,
 *   29 completion_id, 30 timer_kind, 31 wake_at_ms, 32 result_kind, 33 signal_idx,
 *   34 signal_name (presence = by name), 35 outbox_seq, 36 dedup_source, 37 dedup_seq,
 *   38 state_version (presence). */
#include "partition/partition.h"

#include <errno.h>
#include <string.h>

#include "common/assert.h"

static void put_u(struct stet_buf *b, uint32_t f, uint64_t v) {
    if (v) stet_pb_put_uint_field(b, f, v);
}
static void put_s(struct stet_buf *b, uint32_t f, struct stet_slice s) {
    if (s.len) stet_pb_put_bytes_field(b, f, s.ptr, s.len);
}

void stet_record_encode(struct stet_buf *out, const struct stet_record *r) {
    STET_ASSERT(r->kind >= STET_REC_INVOKE && r->kind <= STET_REC_KIND_MAX);
    put_u(out, 1, r->kind);
    put_u(out, 2, r->timestamp_ms);
    put_u(out, 3, r->epoch);
    uint8_t idb[24];
    stet_invocation_id_to_bytes(&r->id, idb);
    stet_pb_put_bytes_field(out, 4, idb, 24);
    put_s(out, 5, r->service);
    put_s(out, 6, r->handler);
    if (r->keyed) stet_pb_put_bytes_field(out, 7, r->key.ptr, r->key.len);
    put_u(out, 8, r->keyed);
    put_u(out, 9, r->service_type);
    put_u(out, 10, r->handler_type);
    put_s(out, 11, r->input_entry);
    put_u(out, 12, r->execute_at_ms);
    if (r->has_idempotency_key) stet_pb_put_bytes_field(out, 13, r->idempotency_key.ptr, r->idempotency_key.len);
    put_u(out, 14, r->completion_retention_ms);
    put_u(out, 15, r->journal_retention_ms);
    if (r->sink.kind != STET_SINK_NONE) {
        size_t mark = stet_pb_begin_submsg(out, 16);
        stet_inv_sink_encode(&r->sink, out);
        stet_pb_end_submsg(out, mark);
    }
    put_u(out, 17, r->effect);
    put_u(out, 18, r->entry_type);
    if (r->payload.len || r->kind == STET_REC_INVOKER_EFFECT)
        stet_pb_put_bytes_field(out, 19, r->payload.ptr, r->payload.len);
    if (r->effect == STET_EFFECT_PINNED_DEPLOYMENT || r->protocol_version)
        stet_pb_put_bytes_field(out, 20, r->deployment_id, 16);
    put_u(out, 21, r->protocol_version);
    put_u(out, 22, r->failure_code);
    put_s(out, 23, r->failure_message);
    put_u(out, 24, r->attach_mode);
    put_u(out, 25, r->target_service_type);
    put_u(out, 26, r->target_handler_type);
    put_u(out, 27, r->target_completion_retention_ms);
    put_u(out, 28, r->target_journal_retention_ms);
    put_u(out, 29, r->completion_id);
    put_u(out, 30, r->timer_kind);
    put_u(out, 31, r->wake_at_ms);
    put_u(out, 32, r->result_kind);
    put_u(out, 33, r->signal_idx);
    if (r->signal_by_name) stet_pb_put_bytes_field(out, 34, r->signal_name.ptr, r->signal_name.len);
    put_u(out, 35, r->outbox_seq);
    put_u(out, 36, r->dedup_source);
    put_u(out, 37, r->dedup_seq);
    if (r->has_state_version) stet_pb_put_bytes_field(out, 38, r->state_version.ptr, r->state_version.len);
}

int stet_record_decode(const uint8_t *data, size_t len, struct stet_record *r) {
    memset(r, 0, sizeof(*r));
    struct stet_pb_reader rd;
    stet_pb_reader_init(&rd, data, len); /* data may be NULL when len is 0 */
    struct stet_pb_field f;
    int rc;
    bool has_id = false;
#define SL ((struct stet_slice){f.data, f.len})
    while ((rc = stet_pb_next(&rd, &f)) == 1) {
        switch (f.number) {
        case 1: r->kind = (enum stet_record_kind)f.varint; break;
        case 2: r->timestamp_ms = f.varint; break;
        case 3: r->epoch = f.varint; break;
        case 4:
            if (f.len != 24) return -EPROTO;
            stet_invocation_id_from_bytes(f.data, &r->id);
            has_id = true;
            break;
        case 5: r->service = SL; break;
        case 6: r->handler = SL; break;
        case 7: r->key = SL; break;
        case 8: r->keyed = f.varint != 0; break;
        case 9: r->service_type = (uint8_t)f.varint; break;
        case 10: r->handler_type = (uint8_t)f.varint; break;
        case 11: r->input_entry = SL; break;
        case 12: r->execute_at_ms = f.varint; break;
        case 13: r->has_idempotency_key = true; r->idempotency_key = SL; break;
        case 14: r->completion_retention_ms = f.varint; break;
        case 15: r->journal_retention_ms = f.varint; break;
        case 16:
            if (stet_inv_sink_decode(f.data, f.len, &r->sink) != 0) return -EPROTO;
            break;
        case 17: r->effect = (enum stet_effect_kind)f.varint; break;
        case 18: r->entry_type = (uint16_t)f.varint; break;
        case 19: r->payload = SL; break;
        case 20:
            if (f.len != 16) return -EPROTO;
            memcpy(r->deployment_id, f.data, 16);
            break;
        case 21: r->protocol_version = (uint32_t)f.varint; break;
        case 22: r->failure_code = (uint32_t)f.varint; break;
        case 23: r->failure_message = SL; break;
        case 24: r->attach_mode = (enum stet_attach_mode)f.varint; break;
        case 25: r->target_service_type = (uint8_t)f.varint; break;
        case 26: r->target_handler_type = (uint8_t)f.varint; break;
        case 27: r->target_completion_retention_ms = f.varint; break;
        case 28: r->target_journal_retention_ms = f.varint; break;
        case 29: r->completion_id = (uint32_t)f.varint; break;
        case 30: r->timer_kind = (uint8_t)f.varint; break;
        case 31: r->wake_at_ms = f.varint; break;
        case 32: r->result_kind = (uint8_t)f.varint; break;
        case 33: r->signal_idx = (uint32_t)f.varint; break;
        case 34: r->signal_by_name = true; r->signal_name = SL; break;
        case 35: r->outbox_seq = f.varint; break;
        case 36: r->dedup_source = (uint32_t)f.varint; break;
        case 37: r->dedup_seq = f.varint; break;
        case 38: r->has_state_version = true; r->state_version = SL; break;
        default: break;
        }
    }
#undef SL
    if (rc < 0 || !has_id) return -EPROTO;
    if (r->kind < STET_REC_INVOKE || r->kind > STET_REC_KIND_MAX) return -EPROTO;
    return 0;
}
