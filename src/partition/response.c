/* Response actions as bytes (see response.h). */
#include "partition/response.h"

#include <errno.h>
#include <string.h>

#include "common/assert.h"
#include "partition/tables.h"

#define RESPONSE_VERSION 1

static void put_slice(struct stet_buf *out, struct stet_slice s) {
    STET_ASSERT(s.len <= UINT32_MAX);
    stet_buf_append_u32be(out, (uint32_t)s.len);
    if (s.len) stet_buf_append(out, s.ptr, s.len);
}

void stet_response_encode(const struct stet_action *a, struct stet_buf *out) {
    STET_ASSERT(a->kind == STET_ACTION_INGRESS_RESPONSE || a->kind == STET_ACTION_ADMIN_RESPONSE);
    stet_buf_append_byte(out, RESPONSE_VERSION);
    stet_buf_append_byte(out, (uint8_t)a->kind);
    stet_buf_append_byte(out, (uint8_t)a->response);
    uint8_t id[STET_INVOCATION_ID_BYTES];
    stet_invocation_id_to_bytes(&a->id, id);
    stet_buf_append(out, id, sizeof(id));
    size_t at = out->len;
    stet_buf_append_u32be(out, 0);
    stet_inv_sink_encode(&a->sink, out);
    uint8_t n[4];
    stet_store_u32be(n, (uint32_t)(out->len - at - 4));
    memcpy(out->data + at, n, 4);
    stet_buf_append_u32be(out, a->failure_code);
    stet_buf_append_byte(out, a->from_retained ? 1 : 0);
    stet_buf_append_u64be(out, a->expires_at_ms);
    put_slice(out, a->value);
    put_slice(out, a->failure_raw);
    put_slice(out, a->stacktrace);
}

struct rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static const uint8_t *take(struct rd *r, size_t n) {
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += n;
    return q;
}

static uint32_t take_u32(struct rd *r) {
    const uint8_t *q = take(r, 4);
    return q ? stet_load_u32be(q) : 0;
}

static struct stet_slice take_slice(struct rd *r) {
    uint32_t n = take_u32(r);
    const uint8_t *q = take(r, n);
    return (struct stet_slice){q, q ? n : 0};
}

int stet_response_decode(const uint8_t *p, size_t len, struct stet_action *a) {
    memset(a, 0, sizeof(*a));
    struct rd r = {p, len, 0, false};
    const uint8_t *h = take(&r, 3 + STET_INVOCATION_ID_BYTES);
    if (!h || h[0] != RESPONSE_VERSION) return -EPROTO;
    if (h[1] != STET_ACTION_INGRESS_RESPONSE && h[1] != STET_ACTION_ADMIN_RESPONSE) return -EPROTO;
    if (h[2] < STET_RESPONSE_VALUE || h[2] > STET_RESPONSE_CONFLICT) return -EPROTO;
    a->kind = (enum stet_action_kind)h[1];
    a->response = (enum stet_response_kind)h[2];
    stet_invocation_id_from_bytes(h + 3, &a->id);
    struct stet_slice sink = take_slice(&r);
    if (r.bad || stet_inv_sink_decode(sink.ptr, sink.len, &a->sink) != 0) return -EPROTO;
    a->failure_code = take_u32(&r);
    const uint8_t *f = take(&r, 1 + 8);
    if (!f || f[0] > 1) return -EPROTO;
    a->from_retained = f[0] == 1;
    a->expires_at_ms = stet_load_u64be(f + 1);
    a->value = take_slice(&r);
    a->failure_raw = take_slice(&r);
    a->stacktrace = take_slice(&r);
    if (r.bad || r.off != len) return -EPROTO;
    return 0;
}
