/* Write batches and the store-independent iterator wrappers.
 *
 * A batch is one flat buffer of ops, each encoded as
 *
 *     u8 op | u32 BE klen | key | u32 BE vlen | value
 *
 * op 1 (put): value is the value; op 2 (delete): vlen is 0; op 3 (delete-range): key is the
 * inclusive begin and value the exclusive end. Store implementations replay the ops in order
 * with stet_store_batch_next, so a later op in the same batch wins over an earlier one.
 */
#include "store/store.h"

#include <string.h>

#include "common/assert.h"

void stet_store_batch_init(struct stet_store_batch *b) {
    stet_buf_init(&b->ops);
    b->count = 0;
}

void stet_store_batch_free(struct stet_store_batch *b) {
    stet_buf_free(&b->ops);
    b->count = 0;
}

void stet_store_batch_clear(struct stet_store_batch *b) {
    stet_buf_reset(&b->ops);
    b->count = 0;
}

static void batch_append_op(struct stet_store_batch *b, int op, const void *key, size_t klen, const void *val,
                            size_t vlen) {
    STET_ASSERT(klen <= UINT32_MAX);
    STET_ASSERT(vlen <= UINT32_MAX);
    STET_ASSERT(b->count < UINT32_MAX);
    stet_buf_reserve(&b->ops, 1 + 4 + klen + 4 + vlen);
    stet_buf_append_byte(&b->ops, (uint8_t)op);
    stet_buf_append_u32be(&b->ops, (uint32_t)klen);
    stet_buf_append(&b->ops, key, klen);
    stet_buf_append_u32be(&b->ops, (uint32_t)vlen);
    stet_buf_append(&b->ops, val, vlen);
    b->count++;
}

void stet_store_batch_put(struct stet_store_batch *b, const void *key, size_t klen, const void *val, size_t vlen) {
    batch_append_op(b, STET_STORE_OP_PUT, key, klen, val, vlen);
}

void stet_store_batch_delete(struct stet_store_batch *b, const void *key, size_t klen) {
    batch_append_op(b, STET_STORE_OP_DELETE, key, klen, NULL, 0);
}

void stet_store_batch_delete_range(struct stet_store_batch *b, const void *begin, size_t blen, const void *end,
                                   size_t elen) {
    batch_append_op(b, STET_STORE_OP_DELETE_RANGE, begin, blen, end, elen);
}

bool stet_store_batch_next(struct stet_store_batch_cursor *c, int *op, const uint8_t **key, size_t *klen,
                           const uint8_t **val, size_t *vlen) {
    const struct stet_buf *ops = &c->batch->ops;
    STET_ASSERT(c->off <= ops->len);
    if (c->off == ops->len) return false;
    /* The buffer was written by batch_append_op, so a short or malformed op is a bug. */
    STET_ASSERT(ops->len - c->off >= 1 + 4);
    const uint8_t *p = ops->data + c->off;
    int o = p[0];
    STET_ASSERT(o == STET_STORE_OP_PUT || o == STET_STORE_OP_DELETE || o == STET_STORE_OP_DELETE_RANGE);
    size_t kl = stet_load_u32be(p + 1);
    size_t off = c->off + 5;
    STET_ASSERT(ops->len - off >= kl + 4);
    const uint8_t *k = ops->data + off;
    off += kl;
    size_t vl = stet_load_u32be(ops->data + off);
    off += 4;
    STET_ASSERT(ops->len - off >= vl);
    const uint8_t *v = ops->data + off;
    off += vl;
    c->off = off;
    *op = o;
    *key = k;
    *klen = kl;
    *val = v;
    *vlen = vl;
    return true;
}

void stet_store_iter_destroy(struct stet_store *s, struct stet_store_iter *it) {
    if (it == NULL) return;
    s->ops->iter_destroy(it);
}

bool stet_store_iter_valid(struct stet_store *s, struct stet_store_iter *it) { return s->ops->iter_valid(it); }

void stet_store_iter_next(struct stet_store *s, struct stet_store_iter *it) {
    STET_ASSERT(s->ops->iter_valid(it));
    s->ops->iter_next(it);
}

void stet_store_iter_seek(struct stet_store *s, struct stet_store_iter *it, const void *key, size_t klen) {
    s->ops->iter_seek(it, key, klen);
}

const uint8_t *stet_store_iter_key(struct stet_store *s, struct stet_store_iter *it, size_t *klen) {
    STET_ASSERT(s->ops->iter_valid(it));
    return s->ops->iter_key(it, klen);
}

const uint8_t *stet_store_iter_value(struct stet_store *s, struct stet_store_iter *it, size_t *vlen) {
    STET_ASSERT(s->ops->iter_valid(it));
    return s->ops->iter_value(it, vlen);
}

void stet_store_iter_prev(struct stet_store *s, struct stet_store_iter *it) {
    STET_ASSERT(s->ops->iter_prev != NULL);
    STET_ASSERT(s->ops->iter_valid(it));
    s->ops->iter_prev(it);
}

void stet_store_iter_seek_for_prev(struct stet_store *s, struct stet_store_iter *it, const void *key, size_t klen) {
    STET_ASSERT(s->ops->iter_seek_for_prev != NULL);
    s->ops->iter_seek_for_prev(it, key, klen);
}

void stet_store_iter_seek_last(struct stet_store *s, struct stet_store_iter *it) {
    STET_ASSERT(s->ops->iter_seek_last != NULL);
    s->ops->iter_seek_last(it);
}

int stet_store_iter_error(struct stet_store *s, struct stet_store_iter *it) {
    if (s->ops->iter_error == NULL) return 0;
    return s->ops->iter_error(it);
}

int stet_store_key_compare(const void *a, size_t alen, const void *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    if (alen < blen) return -1;
    if (alen > blen) return 1;
    return 0;
}

size_t stet_store_prefix_successor(const void *prefix, size_t plen, uint8_t *out) {
    const uint8_t *p = prefix;
    size_t n = plen;
    while (n > 0 && p[n - 1] == 0xff) n--;
    if (n == 0) return 0;
    memcpy(out, p, n);
    out[n - 1]++;
    return n;
}
