/* The node port's wire format. See frame.h. */
#include "nodeport/frame.h"

#include <errno.h>
#include <string.h>

#include "common/assert.h"

void stet_np_frame_encode(struct stet_buf *out, uint8_t kind, uint32_t group, const void *payload, size_t len) {
    STET_ASSERT(len <= UINT32_MAX - 5);
    stet_buf_append_le(out, len + 5, 4);
    stet_buf_append_le(out, kind, 1);
    stet_buf_append_le(out, group, 4);
    stet_buf_append(out, payload, len);
}

void stet_np_hello_encode(struct stet_buf *out, const struct stet_np_hello *h) {
    struct stet_buf p = STET_BUF_INIT;
    size_t nl = strnlen(h->cluster_name, STET_NP_NAME_MAX);
    stet_buf_append_le(&p, h->min_version, 2);
    stet_buf_append_le(&p, h->max_version, 2);
    stet_buf_append_le(&p, h->node_id, 4);
    stet_buf_append_le(&p, h->generation, 8);
    stet_buf_append_le(&p, h->fingerprint, 8);
    stet_buf_append_le(&p, nl, 1);
    stet_buf_append(&p, h->cluster_name, nl);
    size_t nn = strnlen(h->node_name, STET_NP_NAME_MAX);
    stet_buf_append_le(&p, nn, 1);
    stet_buf_append(&p, h->node_name, nn);
    stet_np_frame_encode(out, STET_NP_HELLO, 0, p.data, p.len);
    stet_buf_free(&p);
}

int stet_np_hello_decode(const uint8_t *payload, size_t len, struct stet_np_hello *out) {
    memset(out, 0, sizeof(*out));
    if (len < 2 + 2 + 4 + 8 + 8 + 1) return -EPROTO;
    out->min_version = (uint16_t)stet_load_le(payload, 2);
    out->max_version = (uint16_t)stet_load_le(payload + 2, 2);
    out->node_id = (uint32_t)stet_load_le(payload + 4, 4);
    out->generation = stet_load_le(payload + 8, 8);
    out->fingerprint = stet_load_le(payload + 16, 8);
    size_t nl = payload[24];
    if (len < 25 + nl + 1) return -EPROTO;
    size_t nn = payload[25 + nl];
    if (len != 26 + nl + nn) return -EPROTO;
    if (out->min_version == 0 || out->min_version > out->max_version || out->node_id == 0) return -EPROTO;
    memcpy(out->cluster_name, payload + 25, nl);
    out->cluster_name[nl] = '\0';
    if (strlen(out->cluster_name) != nl) return -EPROTO; /* no NUL inside the name */
    memcpy(out->node_name, payload + 26 + nl, nn);
    out->node_name[nn] = '\0';
    if (strlen(out->node_name) != nn) return -EPROTO;
    return 0;
}

uint16_t stet_np_negotiate(const struct stet_np_hello *a, const struct stet_np_hello *b) {
    uint16_t hi = a->max_version < b->max_version ? a->max_version : b->max_version;
    uint16_t lo = a->min_version > b->min_version ? a->min_version : b->min_version;
    return hi >= lo ? hi : 0;
}

void stet_np_decoder_init(struct stet_np_decoder *d, size_t max_frame) {
    d->buf = (struct stet_buf)STET_BUF_INIT;
    d->pos = 0;
    d->max_frame = max_frame ? max_frame : (64u << 20);
}

void stet_np_decoder_free(struct stet_np_decoder *d) { stet_buf_free(&d->buf); }

void stet_np_decoder_feed(struct stet_np_decoder *d, const uint8_t *data, size_t len) {
    if (d->pos > 0 && d->pos == d->buf.len) {
        stet_buf_reset(&d->buf);
        d->pos = 0;
    } else if (d->pos > (1u << 16) && d->pos * 2 > d->buf.len) {
        /* compact: what was consumed goes */
        memmove(d->buf.data, d->buf.data + d->pos, d->buf.len - d->pos);
        d->buf.len -= d->pos;
        d->pos = 0;
    }
    stet_buf_append(&d->buf, data, len);
}

int stet_np_decoder_next(struct stet_np_decoder *d, struct stet_np_frame *f) {
    size_t avail = d->buf.len - d->pos;
    if (avail < 4) return 0;
    const uint8_t *p = d->buf.data + d->pos;
    uint64_t flen = stet_load_le(p, 4);
    if (flen < 5) return -EPROTO;
    if (flen > d->max_frame) return -EMSGSIZE;
    if (avail < 4 + flen) return 0;
    f->kind = p[4];
    f->group = (uint32_t)stet_load_le(p + 5, 4);
    f->payload = p + 9;
    f->len = (size_t)flen - 5;
    d->pos += 4 + (size_t)flen;
    return 1;
}
