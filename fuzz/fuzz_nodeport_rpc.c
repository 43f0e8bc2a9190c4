/* Fuzz target: FORWARD / REPLY payloads another node sends (src/nodeport/rpc.c): the envelope,
 * the group info, the log copy, a node's replica status, its invoker tasks, and a metadata client's put and read answer. Must not crash or leak; what decodes re-encodes to the same
 * bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "metadata/remote.h"
#include "nodeport/rpc.h"

static void count_key(void *arg, const char *key, uint64_t version, const uint8_t *value, size_t vlen) {
    size_t *n = arg;
    STET_ASSERT(key[0] != 0 && version > 0 && (vlen == 0 || value != NULL));
    (*n)++;
}

static void append_replica(void *arg, const struct stet_np_replica_status *r) { stet_np_replicas_append(arg, r); }
static void append_task(void *arg, const struct stet_np_task *t) { stet_np_tasks_append(arg, t); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct stet_np_forward f;
    if (stet_np_forward_decode(data, size, &f) == 0) STET_ASSERT(f.len + 9 == size);
    struct stet_np_reply r;
    if (stet_np_reply_decode(data, size, &r) == 0) STET_ASSERT(r.len + 12 == size && r.status <= 0);
    struct stet_np_group_info g;
    if (stet_np_group_info_decode(data, size, &g) == 0) {
        struct stet_buf b = STET_BUF_INIT;
        stet_np_group_info_encode(&b, &g);
        STET_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
        stet_buf_free(&b);
    }
    struct stet_np_log_copy lc;
    int rc = stet_np_log_copy_decode(data, size, &lc);
    STET_ASSERT(rc == 0 || rc == -EPROTO);
    if (rc == 0) {
        struct stet_buf b = STET_BUF_INIT;
        stet_np_log_copy_begin(&b, &lc);
        for (uint32_t i = 0; i < lc.n; i++) {
            STET_ASSERT(lc.entries[i].term <= lc.term);
            stet_np_log_copy_append(&b, lc.entries[i].term, lc.entries[i].type, lc.entries[i].data, lc.entries[i].len);
        }
        STET_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
        stet_buf_free(&b);
        free(lc.entries);
    }
    /* a node's replica status (REPLICAS frames) */
    if (size >= 4) {
        struct stet_buf b = STET_BUF_INIT;
        stet_np_replicas_begin(&b, stet_load_u32be(data));
        if (stet_np_replicas_decode(data, size, append_replica, &b) == 0)
            STET_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
        stet_buf_free(&b);
    }
    /* a node's invoker tasks (TASKS replies) */
    if (size >= 4) {
        struct stet_buf b = STET_BUF_INIT;
        stet_np_tasks_begin(&b, stet_load_u32be(data));
        if (stet_np_tasks_decode(data, size, append_task, &b) == 0)
            STET_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
        stet_buf_free(&b);
    }
    /* a metadata client's put and a member's read answer (src/metadata/remote.c) */
    char key[STET_METADATA_KEY_MAX + 1];
    uint64_t expected = 0;
    const uint8_t *value = NULL;
    size_t vlen = 0;
    if (stet_metadata_remote_put_decode(data, size, key, &expected, &value, &vlen) == 0) {
        struct stet_buf b = STET_BUF_INIT;
        stet_metadata_remote_put_encode(&b, key, value, vlen, expected);
        STET_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
        stet_buf_free(&b);
    }
    size_t keys = 0;
    rc = stet_metadata_remote_read_decode(data, size, count_key, &keys);
    STET_ASSERT(rc == 0 || rc == -EPROTO);
    return 0;
}
