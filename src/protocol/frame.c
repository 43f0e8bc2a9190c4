/* Service-protocol framing and the message-type catalogue.
 *
 * service-protocol.md §4: "The HTTP body in each direction is a plain concatenation of
 * messages. Message boundaries have nothing to do with HTTP/2 DATA frame boundaries, so both
 * sides buffer." Each message is an 8-byte header, type u16 BE | flags u16 BE | length u32 BE,
 * followed by `length` bytes of protobuf payload.
 *
 * Decoder design: fed bytes are appended to one growable buffer; buf.data[off .. buf.len) is
 * unconsumed. A returned frame's payload points into that buffer, so compaction (dropping
 * the consumed prefix) happens only at the start of the next feed, the first point at which
 * the API allows the previous payload to become invalid. A large message that arrives in many chunks
 * is therefore never moved while it is incomplete (off is 0 until it is returned).
 *
 * Errors (-EMSGSIZE, -EPROTO) leave the offending header unconsumed, so they are sticky: the
 * stream must be failed.
 */
#include "protocol/protocol.h"

#include <errno.h>

#include "common/assert.h"

/* ---- catalogue (§6) ------------------------------------------------------------------------ */

struct msg_info {
    uint16_t type;
    const char *name;       /* stet_msg_name */
    const char *entry_type; /* Restate's journal EntryType display; NULL for control messages */
    uint16_t completion;    /* completion notification of a completable command */
};

static const struct msg_info msg_catalogue[] = {
    {STET_MSG_START, "Start", NULL, 0},
    {STET_MSG_SUSPENSION, "Suspension", NULL, 0},
    {STET_MSG_ERROR, "Error", NULL, 0},
    {STET_MSG_END, "End", NULL, 0},
    {STET_MSG_COMMAND_ACK, "CommandAck", NULL, 0},
    {STET_MSG_PROPOSE_RUN_COMPLETION, "ProposeRunCompletion", NULL, 0},
    {STET_MSG_AWAITING_ON, "AwaitingOn", NULL, 0},
    {STET_MSG_PROPOSE_RUN_COMPLETION_ACK, "ProposeRunCompletionAck", NULL, 0},
    {STET_CMD_INPUT, "Input", "Command: Input", 0},
    {STET_CMD_OUTPUT, "Output", "Command: Output", 0},
    {STET_CMD_GET_LAZY_STATE, "GetLazyState", "Command: GetLazyState", STET_NTF_GET_LAZY_STATE},
    {STET_CMD_SET_STATE, "SetState", "Command: SetState", 0},
    {STET_CMD_CLEAR_STATE, "ClearState", "Command: ClearState", 0},
    {STET_CMD_CLEAR_ALL_STATE, "ClearAllState", "Command: ClearAllState", 0},
    {STET_CMD_GET_LAZY_STATE_KEYS, "GetLazyStateKeys", "Command: GetLazyStateKeys", STET_NTF_GET_LAZY_STATE_KEYS},
    {STET_CMD_GET_EAGER_STATE, "GetEagerState", "Command: GetEagerState", 0},
    {STET_CMD_GET_EAGER_STATE_KEYS, "GetEagerStateKeys", "Command: GetEagerStateKeys", 0},
    {STET_CMD_GET_PROMISE, "GetPromise", "Command: GetPromise", STET_NTF_GET_PROMISE},
    {STET_CMD_PEEK_PROMISE, "PeekPromise", "Command: PeekPromise", STET_NTF_PEEK_PROMISE},
    {STET_CMD_COMPLETE_PROMISE, "CompletePromise", "Command: CompletePromise", STET_NTF_COMPLETE_PROMISE},
    {STET_CMD_SLEEP, "Sleep", "Command: Sleep", STET_NTF_SLEEP},
    {STET_CMD_CALL, "Call", "Command: Call", STET_NTF_CALL},
    {STET_CMD_ONE_WAY_CALL, "OneWayCall", "Command: OneWayCall", STET_NTF_CALL_INVOCATION_ID},
    {STET_CMD_SEND_SIGNAL, "SendSignal", "Command: SendSignal", 0},
    {STET_CMD_RUN, "Run", "Command: Run", STET_NTF_RUN},
    {STET_CMD_ATTACH_INVOCATION, "AttachInvocation", "Command: AttachInvocation", STET_NTF_ATTACH_INVOCATION},
    {STET_CMD_GET_INVOCATION_OUTPUT, "GetInvocationOutput", "Command: GetInvocationOutput", STET_NTF_GET_INVOCATION_OUTPUT},
    {STET_CMD_COMPLETE_AWAKEABLE, "CompleteAwakeable", "Command: CompleteAwakeable", 0},
    {STET_NTF_GET_LAZY_STATE, "GetLazyStateCompletion", "Notification: GetLazyState", 0},
    {STET_NTF_GET_LAZY_STATE_KEYS, "GetLazyStateKeysCompletion", "Notification: GetLazyStateKeys", 0},
    {STET_NTF_GET_PROMISE, "GetPromiseCompletion", "Notification: GetPromise", 0},
    {STET_NTF_PEEK_PROMISE, "PeekPromiseCompletion", "Notification: PeekPromise", 0},
    {STET_NTF_COMPLETE_PROMISE, "CompletePromiseCompletion", "Notification: CompletePromise", 0},
    {STET_NTF_SLEEP, "SleepCompletion", "Notification: Sleep", 0},
    {STET_NTF_CALL, "CallCompletion", "Notification: Call", 0},
    {STET_NTF_CALL_INVOCATION_ID, "CallInvocationIdCompletion", "Notification: CallInvocationId", 0},
    {STET_NTF_RUN, "RunCompletion", "Notification: Run", 0},
    {STET_NTF_ATTACH_INVOCATION, "AttachInvocationCompletion", "Notification: AttachInvocation", 0},
    {STET_NTF_GET_INVOCATION_OUTPUT, "GetInvocationOutputCompletion", "Notification: GetInvocationOutput", 0},
    {STET_NTF_SIGNAL, "Signal", "Notification: Signal", 0},
};

static const struct msg_info *msg_lookup(uint16_t type) {
    for (size_t i = 0; i < STET_ARRAY_LEN(msg_catalogue); i++) {
        if (msg_catalogue[i].type == type) return &msg_catalogue[i];
    }
    return NULL;
}

enum stet_msg_kind stet_msg_kind(uint16_t type) {
    if (type < 0x0400) return STET_KIND_CONTROL;
    if (type < 0x8000) return STET_KIND_COMMAND;
    if (type < 0xFC00) return STET_KIND_NOTIFICATION;
    return STET_KIND_CUSTOM;
}

const char *stet_msg_name(uint16_t type) {
    const struct msg_info *m = msg_lookup(type);
    if (m != NULL) return m->name;
    return stet_msg_kind(type) == STET_KIND_CUSTOM ? "Custom" : "Unknown";
}

const char *stet_msg_entry_type(uint16_t type) {
    const struct msg_info *m = msg_lookup(type);
    if (m != NULL) return m->entry_type != NULL ? m->entry_type : m->name;
    switch (stet_msg_kind(type)) {
    case STET_KIND_CUSTOM: return "Custom";
    case STET_KIND_COMMAND: return "Command: Unknown";
    case STET_KIND_NOTIFICATION: return "Notification: Unknown";
    default: return "Unknown";
    }
}

bool stet_msg_type_known(uint16_t type) { return msg_lookup(type) != NULL; }

uint16_t stet_msg_completion_type(uint16_t command_type) {
    const struct msg_info *m = msg_lookup(command_type);
    return m != NULL ? m->completion : 0;
}

/* ---- frame decoder --------------------------------------------------------------------- */

void stet_frame_decoder_init(struct stet_frame_decoder *d, uint32_t max_message_len) {
    stet_buf_init(&d->buf);
    d->off = 0;
    d->max_len = max_message_len == 0 ? UINT32_MAX : max_message_len;
}

void stet_frame_decoder_free(struct stet_frame_decoder *d) {
    stet_buf_free(&d->buf);
    d->off = 0;
}

static void frame_decoder_compact(struct stet_frame_decoder *d) {
    STET_ASSERT(d->off <= d->buf.len);
    if (d->off == 0) return;
    if (d->off == d->buf.len) {
        stet_buf_reset(&d->buf);
    } else {
        stet_buf_consume(&d->buf, d->off);
    }
    d->off = 0;
}

void stet_frame_decoder_feed(struct stet_frame_decoder *d, const uint8_t *data, size_t len) {
    frame_decoder_compact(d);
    stet_buf_append(&d->buf, data, len);
}

size_t stet_frame_decoder_pending(const struct stet_frame_decoder *d) {
    STET_ASSERT(d->off <= d->buf.len);
    return d->buf.len - d->off;
}

int stet_frame_decoder_next(struct stet_frame_decoder *d, struct stet_frame *out) {
    STET_ASSERT(d->off <= d->buf.len);
    size_t avail = d->buf.len - d->off;
    if (avail < STET_FRAME_HEADER_LEN) return 0;
    const uint8_t *h = d->buf.data + d->off;
    uint16_t type = stet_load_u16be(h);
    uint16_t flags = stet_load_u16be(h + 2);
    uint32_t len = stet_load_u32be(h + 4);
    /* §4: "0-14 reserved, must be 0" */
    if ((flags & STET_MSG_FLAGS_RESERVED) != 0) return -EPROTO;
    if (len > d->max_len) return -EMSGSIZE;
    if (avail - STET_FRAME_HEADER_LEN < len) return 0;

    out->type = type;
    out->flags = flags;
    out->len = len;
    out->payload = h + STET_FRAME_HEADER_LEN;
    d->off += STET_FRAME_HEADER_LEN + (size_t)len;
    STET_ASSERT(d->off <= d->buf.len);
    return 1;
}

void stet_frame_encode(struct stet_buf *out, uint16_t type, uint16_t flags, const uint8_t *payload,
                       size_t len) {
    STET_ASSERT(len <= UINT32_MAX);
    STET_ASSERT((flags & STET_MSG_FLAGS_RESERVED) == 0);
    stet_buf_reserve(out, STET_FRAME_HEADER_LEN + len);
    stet_buf_append_u16be(out, type);
    stet_buf_append_u16be(out, flags);
    stet_buf_append_u32be(out, (uint32_t)len);
    stet_buf_append(out, payload, len);
}
