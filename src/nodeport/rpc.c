/* Node-port request/answer payloads (see rpc.h). Every decoder checks every length against the
 * input before reading. */
#include "nodeport/rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

void stet_np_forward_encode(struct stet_buf *out, uint64_t rpc, uint8_t op, const void *body, size_t len) {
    stet_buf_append_u64be(out, rpc);
    stet_buf_append_byte(out, op);
    if (len) stet_buf_append(out, body, len);
}

int stet_np_forward_decode(const uint8_t *p, size_t len, struct stet_np_forward *out) {
    if (len < 9) return -EPROTO;
    out->rpc = stet_load_u64be(p);
    out->op = p[8];
    out->body = p + 9;
    out->len = len - 9;
    return 0;
}

void stet_np_reply_encode(struct stet_buf *out, uint64_t rpc, int32_t status, const void *body, size_t len) {
    stet_buf_append_u64be(out, rpc);
    stet_buf_append_u32be(out, (uint32_t)status);
    if (len) stet_buf_append(out, body, len);
}

int stet_np_reply_decode(const uint8_t *p, size_t len, struct stet_np_reply *out) {
    if (len < 12) return -EPROTO;
    out->rpc = stet_load_u64be(p);
    out->status = (int32_t)stet_load_u32be(p + 8);
    if (out->status > 0) return -EPROTO;
    out->body = p + 12;
    out->len = len - 12;
    return 0;
}

void stet_np_group_info_encode(struct stet_buf *out, const struct stet_np_group_info *g) {
    STET_ASSERT(g->n_voters <= STET_NP_MAX_VOTERS);
    stet_buf_append_byte(out, g->has_group ? 1 : 0);
    stet_buf_append_u64be(out, g->fingerprint);
    stet_buf_append_byte(out, (uint8_t)g->n_voters);
    for (unsigned i = 0; i < g->n_voters; i++) stet_buf_append_u32be(out, g->voters[i]);
    stet_buf_append_u32be(out, g->leader);
    stet_buf_append_u64be(out, g->last_index);
}

int stet_np_group_info_decode(const uint8_t *p, size_t len, struct stet_np_group_info *out) {
    if (len < 10 || p[0] > 1) return -EPROTO;
    out->has_group = p[0] == 1;
    out->fingerprint = stet_load_u64be(p + 1);
    unsigned n = p[9];
    if (n > STET_NP_MAX_VOTERS || len != 10 + 4 * (size_t)n + 12) return -EPROTO;
    out->n_voters = n;
    for (unsigned i = 0; i < n; i++) {
        out->voters[i] = stet_load_u32be(p + 10 + 4 * i);
        if (out->voters[i] == 0) return -EPROTO;
    }
    size_t off = 10 + 4 * (size_t)n;
    out->leader = stet_load_u32be(p + off);
    out->last_index = stet_load_u64be(p + off + 4);
    if (out->has_group != (n > 0)) return -EPROTO;
    return 0;
}

void stet_np_log_copy_begin(struct stet_buf *out, const struct stet_np_log_copy *h) {
    stet_buf_append_u64be(out, h->term);
    stet_buf_append_u64be(out, h->snap_index);
    stet_buf_append_u64be(out, h->snap_term);
    stet_buf_append_u64be(out, h->conf_index);
    stet_buf_append_u32be(out, h->conf_len);
    if (h->conf_len) stet_buf_append(out, h->conf, h->conf_len);
    stet_buf_append_u32be(out, h->data_len);
    if (h->data_len) stet_buf_append(out, h->data, h->data_len);
    stet_buf_append_u32be(out, h->n);
}

void stet_np_log_copy_append(struct stet_buf *out, uint64_t term, uint8_t type, const void *data, uint32_t len) {
    stet_buf_append_u64be(out, term);
    stet_buf_append_byte(out, type);
    stet_buf_append_u32be(out, len);
    if (len) stet_buf_append(out, data, len);
}

int stet_np_log_copy_decode(const uint8_t *p, size_t len, struct stet_np_log_copy *out) {
    memset(out, 0, sizeof(*out));
    size_t off = 0;
    if (len < 36) return -EPROTO;
    out->term = stet_load_u64be(p);
    out->snap_index = stet_load_u64be(p + 8);
    out->snap_term = stet_load_u64be(p + 16);
    out->conf_index = stet_load_u64be(p + 24);
    out->conf_len = stet_load_u32be(p + 32);
    off = 36;
    if (len - off < out->conf_len) return -EPROTO;
    out->conf = p + off;
    off += out->conf_len;
    if (len - off < 4) return -EPROTO;
    out->data_len = stet_load_u32be(p + off);
    off += 4;
    if (len - off < out->data_len) return -EPROTO;
    out->data = p + off;
    off += out->data_len;
    if (len - off < 4) return -EPROTO;
    uint32_t count = stet_load_u32be(p + off);
    off += 4;
    if (out->term == 0) return -EPROTO;
    if (out->snap_index == 0 && (out->snap_term || out->conf_index || out->conf_len || out->data_len)) return -EPROTO;
    if (out->snap_index != 0 && (out->snap_term == 0 || out->snap_term > out->term || out->conf_index == 0 ||
                                 out->conf_index > out->snap_index || out->conf_len == 0))
        return -EPROTO;
    if (out->snap_index == 0 && count == 0) return -EPROTO;
    /* every entry takes at least 13 bytes: bound the allocation by the input */
    if (count > (len - off) / 13) return -EPROTO;
    if (count == 0) return off == len ? 0 : -EPROTO;
    struct stet_np_log_entry *es = calloc(count, sizeof(*es));
    if (!es) return -ENOMEM;
    uint64_t prev = out->snap_term;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 13) goto bad;
        es[i].term = stet_load_u64be(p + off);
        es[i].type = p[off + 8];
        es[i].len = stet_load_u32be(p + off + 9);
        off += 13;
        if (len - off < es[i].len || es[i].term > out->term || es[i].term == 0 || es[i].term < prev) goto bad;
        prev = es[i].term;
        es[i].data = p + off;
        off += es[i].len;
    }
    if (off != len) goto bad;
    out->entries = es;
    out->n = count;
    return 0;
bad:
    free(es);
    return -EPROTO;
}

void stet_np_replicas_begin(struct stet_buf *out, uint32_t n) { stet_buf_append_u32be(out, n); }

void stet_np_replicas_append(struct stet_buf *out, const struct stet_np_replica_status *r) {
    stet_buf_append_u32be(out, r->partition);
    stet_buf_append_u64be(out, r->applied);
    stet_buf_append_u64be(out, r->durable);
    stet_buf_append_u64be(out, r->flushed);
}

#define REPLICA_LEN (4 + 3 * 8)

int stet_np_replicas_decode(const uint8_t *p, size_t len,
                            void (*cb)(void *arg, const struct stet_np_replica_status *r), void *arg) {
    if (len < 4) return -EPROTO;
    uint32_t n = stet_load_u32be(p);
    if (n > STET_NP_REPLICAS_MAX || len != 4 + (size_t)n * REPLICA_LEN) return -EPROTO;
    for (uint32_t i = 1; i < n; i++)
        if (stet_load_u32be(p + 4 + (size_t)i * REPLICA_LEN) <= stet_load_u32be(p + 4 + (size_t)(i - 1) * REPLICA_LEN))
            return -EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = p + 4 + (size_t)i * REPLICA_LEN;
        struct stet_np_replica_status r = {.partition = stet_load_u32be(e),
                                           .applied = stet_load_u64be(e + 4),
                                           .durable = stet_load_u64be(e + 12),
                                           .flushed = stet_load_u64be(e + 20)};
        cb(arg, &r);
    }
    return 0;
}

void stet_np_tasks_begin(struct stet_buf *out, uint32_t n) { stet_buf_append_u32be(out, n); }

void stet_np_tasks_append(struct stet_buf *out, const struct stet_np_task *t) {
    STET_ASSERT(t->failure_len <= STET_NP_TASK_FAILURE_MAX);
    stet_buf_append(out, t->id, 24);
    stet_buf_append_byte(out, t->running ? 1 : 0);
    stet_buf_append_u32be(out, t->retry_count);
    stet_buf_append_u64be(out, t->next_retry_at_ms);
    stet_buf_append_u64be(out, t->last_start_at_ms);
    uint8_t l[2] = {(uint8_t)(t->failure_len >> 8), (uint8_t)t->failure_len};
    stet_buf_append(out, l, 2);
    if (t->failure_len) stet_buf_append(out, t->failure, t->failure_len);
}

#define TASK_FIXED (24 + 1 + 4 + 8 + 8 + 2)

static int task_at(const uint8_t *p, size_t len, size_t *off, struct stet_np_task *t) {
    if (len - *off < TASK_FIXED) return -EPROTO;
    const uint8_t *e = p + *off;
    memcpy(t->id, e, 24);
    if (e[24] > 1) return -EPROTO;
    t->running = e[24] == 1;
    t->retry_count = stet_load_u32be(e + 25);
    t->next_retry_at_ms = stet_load_u64be(e + 29);
    t->last_start_at_ms = stet_load_u64be(e + 37);
    t->failure_len = (uint16_t)((e[45] << 8) | e[46]);
    if (t->failure_len > STET_NP_TASK_FAILURE_MAX || len - *off - TASK_FIXED < t->failure_len) return -EPROTO;
    t->failure = (const char *)e + TASK_FIXED;
    *off += TASK_FIXED + t->failure_len;
    return 0;
}

int stet_np_tasks_decode(const uint8_t *p, size_t len, void (*cb)(void *arg, const struct stet_np_task *t), void *arg) {
    if (len < 4) return -EPROTO;
    uint32_t n = stet_load_u32be(p);
    if (n > STET_NP_TASKS_MAX || (len - 4) / TASK_FIXED < n) return -EPROTO;
    size_t off = 4;
    struct stet_np_task t;
    for (uint32_t i = 0; i < n; i++)
        if (task_at(p, len, &off, &t) != 0) return -EPROTO;
    if (off != len) return -EPROTO;
    off = 4;
    for (uint32_t i = 0; i < n; i++) {
        (void)task_at(p, len, &off, &t);
        cb(arg, &t);
    }
    return 0;
}
