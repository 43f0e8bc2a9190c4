/* Restate service-protocol codec (service-protocol.md §4-§7, §11): framing, protobuf
 * primitives, and encoders/decoders for the messages the server sends and receives in
 * protocol versions v5, v6 and v7.
 *
 * The module is pure: no I/O, no event loop, no clock. Memory:
 *   - encoders append to a caller-owned struct stet_buf;
 *   - decoders fill caller-owned structs whose stet_slice members BORROW from the payload
 *     passed in (valid while that payload is);
 *   - the only heap allocations made by decoders are the arrays documented on each function
 *     (suspension id lists, header arrays, start-message copies), released with the paired
 *     *_free function. The free functions accept zeroed structs and are idempotent.
 *
 * All decoders return 0 or -EPROTO (malformed protobuf, a field of the wrong wire type, or
 * a required oneof missing). Unknown fields of every wire type are skipped. Repeated scalars
 * are accepted packed and unpacked.
 *
 * Encoders follow proto3 rules as the traces show them (§5): plain scalars are omitted when
 * they equal the default; oneof members and `optional` fields are written whenever present,
 * even if 0/empty; an empty sub-message (Void, or a Value with empty content) is tag + 00.
 * Journal entries are meant to be stored as raw payload bytes and replayed verbatim; the
 * encoders here are for messages the server itself originates (Start, Input, notifications,
 * run acks) and for tests that play the SDK side.
 */
#ifndef STET_PROTOCOL_H
#define STET_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* ---- message type codes (§6) ------------------------------------------------------------ */

enum {
    STET_MSG_START = 0x0000,
    STET_MSG_SUSPENSION = 0x0001,
    STET_MSG_ERROR = 0x0002,
    STET_MSG_END = 0x0003,
    STET_MSG_COMMAND_ACK = 0x0004,
    STET_MSG_PROPOSE_RUN_COMPLETION = 0x0005,
    STET_MSG_AWAITING_ON = 0x0006,                /* v7 */
    STET_MSG_PROPOSE_RUN_COMPLETION_ACK = 0x0007, /* v7 */

    STET_CMD_INPUT = 0x0400,
    STET_CMD_OUTPUT = 0x0401,
    STET_CMD_GET_LAZY_STATE = 0x0402,
    STET_CMD_SET_STATE = 0x0403,
    STET_CMD_CLEAR_STATE = 0x0404,
    STET_CMD_CLEAR_ALL_STATE = 0x0405,
    STET_CMD_GET_LAZY_STATE_KEYS = 0x0406,
    STET_CMD_GET_EAGER_STATE = 0x0407,
    STET_CMD_GET_EAGER_STATE_KEYS = 0x0408,
    STET_CMD_GET_PROMISE = 0x0409,
    STET_CMD_PEEK_PROMISE = 0x040A,
    STET_CMD_COMPLETE_PROMISE = 0x040B,
    STET_CMD_SLEEP = 0x040C,
    STET_CMD_CALL = 0x040D,
    STET_CMD_ONE_WAY_CALL = 0x040E,
    STET_CMD_SEND_SIGNAL = 0x0410,
    STET_CMD_RUN = 0x0411,
    STET_CMD_ATTACH_INVOCATION = 0x0412,
    STET_CMD_GET_INVOCATION_OUTPUT = 0x0413,
    STET_CMD_COMPLETE_AWAKEABLE = 0x0414,

    STET_NTF_GET_LAZY_STATE = 0x8002,
    STET_NTF_GET_LAZY_STATE_KEYS = 0x8006,
    STET_NTF_GET_PROMISE = 0x8009,
    STET_NTF_PEEK_PROMISE = 0x800A,
    STET_NTF_COMPLETE_PROMISE = 0x800B,
    STET_NTF_SLEEP = 0x800C,
    STET_NTF_CALL = 0x800D,
    STET_NTF_CALL_INVOCATION_ID = 0x800E,
    STET_NTF_RUN = 0x8011,
    STET_NTF_ATTACH_INVOCATION = 0x8012,
    STET_NTF_GET_INVOCATION_OUTPUT = 0x8013,
    STET_NTF_SIGNAL = 0xFBFF,
};

/* Flag bit 15: REQUESTED_ACK (§4). Bits 0-14 are reserved and must be 0. */
#define STET_MSG_FLAG_REQUESTED_ACK 0x8000
#define STET_MSG_FLAGS_RESERVED 0x7FFF
#define STET_FRAME_HEADER_LEN 8

/* Built-in signal ids (§8): 1 = CANCEL; awakeables start at 17. */
#define STET_SIGNAL_CANCEL 1
#define STET_SIGNAL_FIRST_AWAKEABLE 17

enum stet_msg_kind { STET_KIND_CONTROL, STET_KIND_COMMAND, STET_KIND_NOTIFICATION, STET_KIND_CUSTOM };

/* By range: 0x0000-0x03FF control, 0x0400-0x7FFF command, 0x8000-0xFBFF notification,
 * 0xFC00-0xFFFF custom. */
enum stet_msg_kind stet_msg_kind(uint16_t type);
/* Restate's entry type names: "Start", "Suspension", ..., "Input", "SetState", "Run", ...,
 * "GetLazyStateCompletion", "SleepCompletion", "CallInvocationIdCompletion", "Signal".
 * Unknown codes give "Custom" (custom range) or "Unknown". Static string, never NULL. */
const char *stet_msg_name(uint16_t type);
/* Restate's sys_journal entry_type text: "Command: SetState", "Notification: Sleep",
 * "Notification: Signal"; control messages give their stet_msg_name. Static string. */
const char *stet_msg_entry_type(uint16_t type);
/* true for every code in the §6 catalogue. */
bool stet_msg_type_known(uint16_t type);
/* The completion notification type for a completable command (Call -> CallCompletion,
 * OneWayCall -> CallInvocationIdCompletion, ...), 0 for non-completable commands. */
uint16_t stet_msg_completion_type(uint16_t command_type);

/* ---- framing (§4) ------------------------------------------------------------------------ */

struct stet_frame {
    uint16_t type;
    uint16_t flags;
    uint32_t len;
    const uint8_t *payload; /* borrowed, see stet_frame_decoder_next */
};

/* Incremental decoder for one direction of a stream. The caller owns the struct. */
struct stet_frame_decoder {
    struct stet_buf buf; /* unconsumed bytes live in buf.data[off .. buf.len) */
    size_t off;
    uint32_t max_len;
};

/* max_message_len 0 means no limit (UINT32_MAX). */
void stet_frame_decoder_init(struct stet_frame_decoder *d, uint32_t max_message_len);
void stet_frame_decoder_free(struct stet_frame_decoder *d);
/* Copies data into the decoder. Invalidates payloads returned earlier. */
void stet_frame_decoder_feed(struct stet_frame_decoder *d, const uint8_t *data, size_t len);
/* 1 = a frame is in *out (payload borrowed until the next feed/next/free call),
 * 0 = need more bytes, -EMSGSIZE = message longer than max_len, -EPROTO = reserved flag bits
 * set. Errors are not recoverable: the stream must be failed (the decoder stays put and
 * keeps returning the same error). */
int stet_frame_decoder_next(struct stet_frame_decoder *d, struct stet_frame *out);
/* Bytes fed but not yet returned as frames. */
size_t stet_frame_decoder_pending(const struct stet_frame_decoder *d);
/* Appends header + payload. */
void stet_frame_encode(struct stet_buf *out, uint16_t type, uint16_t flags, const uint8_t *payload,
                       size_t len);

/* ---- protobuf primitives (§5) ------------------------------------------------------------- */

enum { STET_PB_VARINT = 0, STET_PB_FIXED64 = 1, STET_PB_LEN = 2, STET_PB_FIXED32 = 5 };

struct stet_pb_reader {
    const uint8_t *p;
    const uint8_t *end;
};

struct stet_pb_field {
    uint32_t number;
    uint8_t wire_type;
    uint64_t varint;     /* wire type 0 */
    const uint8_t *data; /* wire types 1, 2, 5: borrowed from the reader's buffer */
    size_t len;
};

/* p may be NULL when len is 0. */
static inline void stet_pb_reader_init(struct stet_pb_reader *r, const uint8_t *p, size_t len) {
    r->p = len != 0 ? p : (const uint8_t *)"";
    r->end = r->p + len;
}
/* 1 = field read, 0 = end, -EPROTO malformed (bad varint, truncated, wire types 3/4 or
 * 6/7, field 0). Fixed32/64 are returned with data/len. */
int stet_pb_next(struct stet_pb_reader *r, struct stet_pb_field *f);
/* Reads one varint at *p (< end). Returns bytes consumed (1..10) or -EPROTO. */
int stet_pb_read_varint(const uint8_t *p, const uint8_t *end, uint64_t *out);
void stet_pb_put_varint(struct stet_buf *b, uint64_t v);
void stet_pb_put_tag(struct stet_buf *b, uint32_t field, uint8_t wire_type);
void stet_pb_put_uint_field(struct stet_buf *b, uint32_t field, uint64_t v);                    /* always written */
void stet_pb_put_bytes_field(struct stet_buf *b, uint32_t field, const void *data, size_t len); /* always written, even if empty */
/* Starts a length-delimited field whose length is unknown yet; returns a mark for
 * stet_pb_end_submsg, which back-patches the varint length. */
size_t stet_pb_begin_submsg(struct stet_buf *b, uint32_t field);
void stet_pb_end_submsg(struct stet_buf *b, size_t mark);

/* ---- shared value types (§7.1) ------------------------------------------------------------ */

struct stet_slice {
    const uint8_t *ptr;
    size_t len;
};

static inline struct stet_slice stet_slice_make(const void *p, size_t len) {
    struct stet_slice s = {(const uint8_t *)p, len};
    return s;
}

struct stet_failure {
    uint32_t code;
    struct stet_slice message;
    /* raw = the whole encoded Failure message bytes (the body of the length-delimited
     * field, without tag and length) incl. metadata, for byte-exact passthrough. */
    struct stet_slice raw;
};

enum stet_result_kind {
    STET_RESULT_NONE = 0,
    STET_RESULT_VOID,
    STET_RESULT_VALUE,
    STET_RESULT_FAILURE,
    STET_RESULT_INVOCATION_ID,
    STET_RESULT_STATE_KEYS,
};

struct stet_result {
    enum stet_result_kind kind;
    /* VALUE: content bytes; INVOCATION_ID: the string; STATE_KEYS: the raw encoded
     * StateKeys message (body, without tag and length) */
    struct stet_slice value;
    struct stet_failure failure; /* FAILURE */
};

/* ---- encoders (append payload only, no frame header) ------------------------------------- */

struct stet_header_kv {
    struct stet_slice key;
    struct stet_slice value;
};

struct stet_state_entry {
    struct stet_slice key;
    struct stet_slice value;
};

struct stet_start_msg {
    uint8_t id[24];
    const char *debug_id; /* NUL-terminated; NULL or "" = omitted */
    uint32_t known_entries;
    const struct stet_state_entry *state;
    size_t state_len;
    bool partial_state;
    struct stet_slice key;
    uint32_t retry_count_since_last_stored_entry;
    uint64_t duration_since_last_stored_entry_ms;
    uint64_t random_seed;
    /* v7 optional fields 10-12, written only when has_* is set */
    bool has_scope, has_limit_key, has_idempotency_key;
    struct stet_slice scope, limit_key, idempotency_key;
};

/* Field order 1..12; defaults omitted (id always written). */
void stet_proto_encode_start(struct stet_buf *out, const struct stet_start_msg *m);
/* Decodes a StartMessage. Allocates: out->debug_id (NUL-terminated copy) and out->state
 * (array; its slices borrow from p). Caller frees with stet_proto_start_free. An id that is
 * not 24 bytes is -EPROTO. */
int stet_proto_decode_start(const uint8_t *p, size_t len, struct stet_start_msg *out);
void stet_proto_start_free(struct stet_start_msg *m);

/* InputCommand; value always present (72 00 when empty). */
void stet_proto_encode_input(struct stet_buf *out, const struct stet_header_kv *headers, size_t n,
                             const uint8_t *body, size_t len);

enum stet_ntf_id_kind { STET_NTF_ID_COMPLETION, STET_NTF_ID_SIGNAL_IDX, STET_NTF_ID_SIGNAL_NAME };

struct stet_ntf_id {
    enum stet_ntf_id_kind kind;
    uint32_t idx;            /* COMPLETION / SIGNAL_IDX */
    struct stet_slice name;  /* SIGNAL_NAME */
};

/* NotificationTemplate payload: id oneof + result oneof; VOID written as tag+00; FAILURE
 * written from failure.raw when raw.len>0 else from code+message. r->kind must not be NONE. */
void stet_proto_encode_notification(struct stet_buf *out, const struct stet_ntf_id *id,
                                    const struct stet_result *r);
/* A bare Failure message (code omitted when 0, message omitted when empty). */
void stet_proto_encode_failure(struct stet_buf *out, uint32_t code, const char *message, size_t mlen);
/* A bare StateKeys message. */
void stet_proto_encode_state_keys(struct stet_buf *out, const struct stet_slice *keys, size_t n);
/* v7 ProposeRunCompletionAck. */
void stet_proto_encode_run_ack(struct stet_buf *out, uint32_t completion_id);

/* SDK-side encoders, for tests and fake deployments. */
/* OutputCommand{value | failure}; r->kind VALUE or FAILURE. */
void stet_proto_encode_output(struct stet_buf *out, const struct stet_result *r);
/* v5/v6 SuspensionMessage (packed lists) when version < 7, else v7 Future{..., FIRST_COMPLETED}
 * in field 4. */
void stet_proto_encode_suspension(struct stet_buf *out, int version, const uint32_t *completions,
                                  size_t n_completions, const uint32_t *signals, size_t n_signals,
                                  const struct stet_slice *signal_names, size_t n_signal_names);
/* ProposeRunCompletion{id, 14 raw value | 15 failure}; r->kind VALUE or FAILURE. */
void stet_proto_encode_run_proposal(struct stet_buf *out, uint32_t completion_id, const struct stet_result *r);

/* ---- decoders ----------------------------------------------------------------------------- */

struct stet_error_msg {
    uint32_t code;
    struct stet_slice message, stacktrace, related_command_name;
    bool has_related_command_index, has_related_command_type, has_next_retry_delay;
    uint32_t related_command_index, related_command_type;
    uint64_t next_retry_delay_ms;
    uint32_t behavior; /* v7 ErrorBehavior: 0 RETRY, 1 PAUSE, 2 FAIL */
};
enum { STET_ERROR_BEHAVIOR_RETRY = 0, STET_ERROR_BEHAVIOR_PAUSE = 1, STET_ERROR_BEHAVIOR_FAIL = 2 };

int stet_proto_decode_error(const uint8_t *p, size_t len, struct stet_error_msg *out);
/* Encodes an ErrorMessage (SDK side, for tests); optional fields by their has_* flags. */
void stet_proto_encode_error(struct stet_buf *out, const struct stet_error_msg *m);

/* Suspension: v5/v6 lists in fields 1-3, v7 Future tree in field 4, flattened (any-of) into
 * the same arrays; arrays are malloc'd, free with stet_proto_suspension_free. Empty set ->
 * -EPROTO. Resuming on any member is safe for v7 too (§10.12: too early is safe). */
struct stet_suspension {
    uint32_t *completions;
    size_t n_completions;
    uint32_t *signals;
    size_t n_signals;
    struct stet_slice *signal_names; /* slices borrow from the payload */
    size_t n_signal_names;
};
int stet_proto_decode_suspension(const uint8_t *p, size_t len, struct stet_suspension *out);
/* v7 AwaitingOnMessage: Future in field 1 flattened the same way (may be empty), field 2
 * executing_side_effects. Free with stet_proto_suspension_free. */
int stet_proto_decode_awaiting_on(const uint8_t *p, size_t len, struct stet_suspension *out,
                                  bool *executing_side_effects);
void stet_proto_suspension_free(struct stet_suspension *s);

struct stet_run_proposal {
    uint32_t completion_id;
    struct stet_result result; /* VALUE (raw bytes from field 14) or FAILURE (field 15) */
};
/* Missing result -> -EPROTO. */
int stet_proto_decode_run_proposal(const uint8_t *p, size_t len, struct stet_run_proposal *out);
/* v7 ProposeRunCompletionAck / CommandAck: field 1. */
int stet_proto_decode_run_ack(const uint8_t *p, size_t len, uint32_t *completion_id);

/* Commands: one struct covering every command's fields (zero/absent when not present). */
struct stet_command {
    uint16_t type;
    struct stet_slice name; /* field 12 (entry_name for SendSignal) */
    uint32_t result_completion_id;
    bool has_result_completion_id;
    struct stet_slice key;         /* state key (bytes), promise key, call target key */
    bool has_key;                  /* Call/OneWayCall: key field present */
    struct stet_result result;     /* Output value/failure; SetState value; GetEagerState void/value;
                                      GetEagerStateKeys state_keys; CompletePromise value/failure;
                                      SendSignal void/value/failure; CompleteAwakeable value/failure */
    uint64_t wake_up_time_ms;      /* Sleep */
    struct stet_slice service_name, handler_name, parameter; /* Call/OneWayCall */
    struct stet_header_kv *headers; /* Input/Call/OneWayCall; malloc'd; free with stet_command_free */
    size_t n_headers;
    bool has_idempotency_key;
    struct stet_slice idempotency_key;
    bool has_scope, has_limit_key; /* v7 Call/OneWayCall */
    struct stet_slice scope, limit_key;
    uint64_t invoke_time_ms;       /* OneWayCall */
    uint32_t invocation_id_notification_idx; /* Call/OneWayCall */
    struct stet_slice target_invocation_id;  /* SendSignal; Attach/GetOutput by id */
    bool signal_by_name;           /* SendSignal */
    uint32_t signal_idx;
    struct stet_slice signal_name;
    struct stet_slice awakeable_id; /* CompleteAwakeable */
    int attach_target_kind;         /* Attach/GetOutput: 1 invocation id, 3 idempotent request target, 4 workflow target */
    struct stet_slice target_service, target_key, target_handler, target_idempotency_key;
    bool target_has_key;            /* Attach/GetOutput targets */
};
enum { STET_ATTACH_TARGET_INVOCATION_ID = 1, STET_ATTACH_TARGET_IDEMPOTENT_REQUEST = 3, STET_ATTACH_TARGET_WORKFLOW = 4 };

/* type must be a command code (0x0400-0x7FFF, else -EPROTO); unknown command codes only get
 * name filled. Required (-EPROTO when missing): the result of Output, SetState,
 * GetEagerState, GetEagerStateKeys, CompletePromise, CompleteAwakeable; SendSignal's signal
 * id and result; the Attach/GetInvocationOutput target. On error, *out is freed and zeroed. */
int stet_proto_decode_command(uint16_t type, const uint8_t *p, size_t len, struct stet_command *out);
void stet_command_free(struct stet_command *c);
/* Decodes an Input command (for re-reading stored journal entry 0 / tests). *headers is
 * malloc'd (caller frees with free()), slices borrow from p; body is empty when absent. */
int stet_proto_decode_input(const uint8_t *p, size_t len, struct stet_slice *body,
                            struct stet_header_kv **headers, size_t *n_headers);
/* Notification decode (used to index stored notifications by id). Both oneofs required. */
int stet_proto_decode_notification(const uint8_t *p, size_t len, struct stet_ntf_id *id,
                                   struct stet_result *r);
/* Iterates the keys of an encoded StateKeys body: *pos starts at 0; returns 1 with *key set,
 * 0 at the end, -EPROTO. */
int stet_proto_state_keys_next(struct stet_slice state_keys, size_t *pos, struct stet_slice *key);

/* Renders a journal entry as Restate's sys_journal entry_json-ish JSON text into out (best
 * effort, for introspection): e.g. {"Command":{"SetState":{"key":"count","value":[49,48],"name":""}}}
 * An undecodable payload renders as {"Unknown":{"type":N,"payload":[...]}}. */
void stet_proto_entry_json(struct stet_buf *out, uint16_t type, const uint8_t *p, size_t len);

#endif
