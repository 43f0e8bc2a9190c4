/* Local metadata store on a struct stet_store.
 *
 * Layout: key 'M' + <name> -> u64be version || value bytes. Version 0 is never stored.
 *
 * Puts are serialized through a FIFO queue: at most one store write is in flight. The version
 * check for a put happens on the loop thread when it reaches the head of the queue, after
 * every earlier put completed, so two puts with the same expected version cannot both
 * succeed (the second sees the first one's version and fails with -ESTALE).
 *
 * Invariants (checked by local_check):
 *   1. inflight != NULL  <=>  a store write was submitted and its done callback has not run.
 *   2. queue entries are never in flight.
 * The write itself (store write, sync=true) runs through env->submit; its worker touches
 * only the op it was given and the thread-safe store.
 */
#include "metadata/metadata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

struct put_op {
    struct put_op *next;
    struct local_md *md;
    char key[STET_METADATA_KEY_MAX + 2]; /* 'M' + name + NUL */
    size_t klen;
    uint8_t *value;
    size_t vlen;
    uint64_t expected_version;
    uint64_t new_version;
    stet_metadata_put_cb cb;
    void *arg;
    struct stet_store_batch batch;
    int status; /* written by the worker */
};

struct local_md {
    struct stet_metadata base;
    struct stet_store *store;
    const struct stet_env *env;
    struct put_op *head, *tail;
    struct put_op *inflight;
    bool draining;
};

static void local_check(const struct local_md *md) {
    for (const struct put_op *op = md->head; op != NULL; op = op->next) {
        STET_ASSERT(op != md->inflight);
        STET_ASSERT(op->klen >= 2);
    }
    if (md->head == NULL) STET_ASSERT(md->tail == NULL);
}

static size_t make_key(const char *name, char *out) {
    size_t n = strlen(name);
    out[0] = 'M';
    memcpy(out + 1, name, n);
    out[n + 1] = '\0';
    return n + 1;
}

static int read_version(struct stet_store *store, const char *key, size_t klen, uint64_t *version,
                        struct stet_buf *value) {
    struct stet_buf raw = STET_BUF_INIT;
    int rc = stet_store_get(store, key, klen, &raw);
    if (rc == 1) {
        *version = 0;
        if (value != NULL) stet_buf_reset(value);
        stet_buf_free(&raw);
        return 1;
    }
    if (rc < 0) {
        stet_buf_free(&raw);
        return rc;
    }
    if (raw.len < 8) {
        stet_error("metadata", "corrupt metadata record key=%s len=%zu (expected >= 8 bytes)", key + 1, raw.len);
        stet_buf_free(&raw);
        return -EIO;
    }
    *version = stet_load_u64be(raw.data);
    STET_ASSERT(*version >= 1);
    if (value != NULL) {
        stet_buf_reset(value);
        stet_buf_append(value, raw.data + 8, raw.len - 8);
    }
    stet_buf_free(&raw);
    return 0;
}

static int local_get(struct stet_metadata *base, const char *name, uint64_t *version, struct stet_buf *value) {
    struct local_md *md = (struct local_md *)base;
    size_t n = strlen(name);
    if (n == 0 || n > STET_METADATA_KEY_MAX) return -EINVAL;
    char key[STET_METADATA_KEY_MAX + 2];
    size_t klen = make_key(name, key);
    return read_version(md->store, key, klen, version, value);
}

static void op_free(struct put_op *op) {
    stet_store_batch_free(&op->batch);
    free(op->value);
    free(op);
}

static void drain(struct local_md *md);

static void write_work(void *arg) {
    struct put_op *op = arg;
    op->status = stet_store_write(op->md->store, &op->batch, true /* sync */);
}

static void write_done(void *arg) {
    struct put_op *op = arg;
    struct local_md *md = op->md;
    STET_ASSERT(md->inflight == op);
    md->inflight = NULL;
    int status = op->status;
    if (status != 0) {
        stet_error("metadata", "metadata write failed key=%s rc=%d; the value was not changed", op->key + 1, status);
        if (status > 0) status = -EIO;
    }
    stet_metadata_put_cb cb = op->cb;
    void *cbarg = op->arg;
    uint64_t v = status == 0 ? op->new_version : op->expected_version;
    op_free(op);
    cb(cbarg, status, v);
    drain(md);
}

/* Processes queued puts until one is in flight or the queue is empty. Re-entrant calls
 * (from a callback, or from an inline submit) return immediately: the outer loop continues. */
static void drain(struct local_md *md) {
    if (md->draining) return;
    md->draining = true;
    while (md->inflight == NULL && md->head != NULL) {
        struct put_op *op = md->head;
        md->head = op->next;
        if (md->head == NULL) md->tail = NULL;
        op->next = NULL;
        local_check(md);

        uint64_t current = 0;
        int rc = read_version(md->store, op->key, op->klen, &current, NULL);
        if (rc < 0) {
            stet_metadata_put_cb cb = op->cb;
            void *cbarg = op->arg;
            op_free(op);
            cb(cbarg, rc, 0);
            continue;
        }
        if (current != op->expected_version) {
            stet_metadata_put_cb cb = op->cb;
            void *cbarg = op->arg;
            op_free(op);
            cb(cbarg, -ESTALE, current);
            continue;
        }
        op->new_version = current + 1;
        STET_ASSERT(op->new_version > current);
        struct stet_buf val = STET_BUF_INIT;
        stet_buf_append_u64be(&val, op->new_version);
        stet_buf_append(&val, op->value, op->vlen);
        stet_store_batch_put(&op->batch, op->key, op->klen, val.data, val.len);
        stet_buf_free(&val);

        md->inflight = op;
        if (md->env == NULL || md->env->submit == NULL) {
            write_work(op);
            write_done(op); /* re-enters drain: returns at once, this loop continues */
            continue;
        }
        rc = md->env->submit(md->env->ctx, write_work, write_done, op);
        if (rc != 0) {
            md->inflight = NULL;
            stet_metadata_put_cb cb = op->cb;
            void *cbarg = op->arg;
            op_free(op);
            cb(cbarg, rc, 0);
        }
    }
    md->draining = false;
}

static void local_put(struct stet_metadata *base, const char *name, const void *value, size_t len,
                      uint64_t expected_version, stet_metadata_put_cb cb, void *arg) {
    struct local_md *md = (struct local_md *)base;
    STET_ASSERT(cb != NULL);
    size_t n = strlen(name);
    if (n == 0 || n > STET_METADATA_KEY_MAX) {
        cb(arg, -EINVAL, 0);
        return;
    }
    struct put_op *op = calloc(1, sizeof(*op));
    STET_ASSERT(op != NULL);
    op->md = md;
    op->klen = make_key(name, op->key);
    op->value = malloc(len ? len : 1);
    STET_ASSERT(op->value != NULL);
    if (len) memcpy(op->value, value, len);
    op->vlen = len;
    op->expected_version = expected_version;
    op->cb = cb;
    op->arg = arg;
    stet_store_batch_init(&op->batch);
    if (md->tail) md->tail->next = op;
    else md->head = op;
    md->tail = op;
    drain(md);
}

static void local_destroy(struct stet_metadata *base) {
    struct local_md *md = (struct local_md *)base;
    STET_ASSERT(md->inflight == NULL); /* destroy with a write in flight is a caller bug */
    STET_ASSERT(md->head == NULL);
    free(md);
}

static const struct stet_metadata_ops local_ops = {
    .get = local_get,
    .put = local_put,
    .destroy = local_destroy,
};

int stet_metadata_create_local_env(struct stet_store *store, const struct stet_env *env, struct stet_metadata **out) {
    STET_ASSERT(store != NULL);
    struct local_md *md = calloc(1, sizeof(*md));
    if (md == NULL) return -ENOMEM;
    md->base.ops = &local_ops;
    md->store = store;
    md->env = env;
    *out = &md->base;
    return 0;
}

int stet_metadata_create_local(struct stet_store *store, struct stet_metadata **out) {
    return stet_metadata_create_local_env(store, NULL, out);
}
