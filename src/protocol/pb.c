/* Protobuf wire-format primitives for the hand-written service-protocol codec.
 *
 * service-protocol.md §5: "Wire types used: 0 (varint ...) and 2 (length-delimited ...). A tag
 * is (field_number << 3) | wire_type, written as a varint." Decoders "must skip unknown fields
 * of any wire type (0, 1, 2, 5)". Groups (3, 4) are deprecated and never produced by a proto3
 * peer, so we reject them instead of implementing group skipping.
 *
 * Invariants checked here, so the message decoders never have to:
 *   1. every returned data/len lies inside [reader.p, reader.end);
 *   2. a varint is at most 10 bytes and the 10th byte carries at most 1 bit (no u64 overflow);
 *   3. the field number is in [1, 2^29 - 1].
 */
#include "protocol/protocol.h"

#include <errno.h>
#include <string.h>

#include "common/assert.h"

int stet_pb_read_varint(const uint8_t *p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p + i >= end) return -EPROTO; /* truncated */
        uint8_t byte = p[i];
        if (i == 9 && byte > 1) return -EPROTO; /* more than 64 bits */
        v |= (uint64_t)(byte & 0x7F) << (7 * i);
        if ((byte & 0x80) == 0) {
            *out = v;
            return i + 1;
        }
    }
    return -EPROTO;
}

int stet_pb_next(struct stet_pb_reader *r, struct stet_pb_field *f) {
    STET_ASSERT(r->p <= r->end);
    if (r->p == r->end) return 0;

    uint64_t tag;
    int n = stet_pb_read_varint(r->p, r->end, &tag);
    if (n < 0) return n;
    const uint8_t *p = r->p + n;
    if (tag > UINT32_MAX) return -EPROTO;
    uint32_t number = (uint32_t)(tag >> 3);
    uint8_t wire_type = (uint8_t)(tag & 7);
    if (number == 0) return -EPROTO;

    f->number = number;
    f->wire_type = wire_type;
    f->varint = 0;
    f->data = NULL;
    f->len = 0;
    size_t remaining = (size_t)(r->end - p);
    switch (wire_type) {
    case STET_PB_VARINT:
        n = stet_pb_read_varint(p, r->end, &f->varint);
        if (n < 0) return n;
        p += n;
        break;
    case STET_PB_FIXED64:
        if (remaining < 8) return -EPROTO;
        f->data = p;
        f->len = 8;
        p += 8;
        break;
    case STET_PB_LEN: {
        uint64_t len;
        n = stet_pb_read_varint(p, r->end, &len);
        if (n < 0) return n;
        p += n;
        if (len > (uint64_t)(r->end - p)) return -EPROTO; /* length past the end */
        f->data = p;
        f->len = (size_t)len;
        p += len;
        break;
    }
    case STET_PB_FIXED32:
        if (remaining < 4) return -EPROTO;
        f->data = p;
        f->len = 4;
        p += 4;
        break;
    default: /* 3/4 groups, 6/7 undefined */
        return -EPROTO;
    }
    STET_ASSERT(p <= r->end);
    r->p = p;
    return 1;
}

void stet_pb_put_varint(struct stet_buf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    stet_buf_append(b, tmp, n);
}

void stet_pb_put_tag(struct stet_buf *b, uint32_t field, uint8_t wire_type) {
    STET_ASSERT(field >= 1);
    STET_ASSERT(field < (1u << 29));
    STET_ASSERT(wire_type <= 5);
    stet_pb_put_varint(b, ((uint64_t)field << 3) | wire_type);
}

void stet_pb_put_uint_field(struct stet_buf *b, uint32_t field, uint64_t v) {
    stet_pb_put_tag(b, field, STET_PB_VARINT);
    stet_pb_put_varint(b, v);
}

void stet_pb_put_bytes_field(struct stet_buf *b, uint32_t field, const void *data, size_t len) {
    stet_pb_put_tag(b, field, STET_PB_LEN);
    stet_pb_put_varint(b, len);
    stet_buf_append(b, data, len);
}

/* A sub-message is written with a one-byte length placeholder, which covers every message
 * shorter than 128 bytes (nearly all of ours); longer bodies are shifted right once. */
size_t stet_pb_begin_submsg(struct stet_buf *b, uint32_t field) {
    stet_pb_put_tag(b, field, STET_PB_LEN);
    size_t mark = b->len;
    stet_buf_append_byte(b, 0);
    return mark;
}

void stet_pb_end_submsg(struct stet_buf *b, size_t mark) {
    STET_ASSERT(mark < b->len);
    size_t body = b->len - mark - 1;
    if (body < 0x80) {
        b->data[mark] = (uint8_t)body;
        return;
    }
    uint8_t tmp[10];
    size_t n = 0;
    uint64_t v = body;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    stet_buf_reserve(b, n - 1);
    memmove(b->data + mark + n, b->data + mark + 1, body);
    memcpy(b->data + mark, tmp, n);
    b->len += n - 1;
}
