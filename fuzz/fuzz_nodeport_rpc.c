/* Fuzz target: FORWARD / REPLY payloads another node sends (src/nodeport/rpc.c): the envelope,
 * the group info and the log copy. Must not crash or leak; what decodes re-encodes to the same
 * bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "nodeport/rpc.h"

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
    uint64_t term = 0;
    uint32_t n = 0;
    struct stet_np_log_entry *es = NULL;
    int rc = stet_np_log_copy_decode(data, size, &term, &es, &n);
    STET_ASSERT(rc == 0 || rc == -EPROTO);
    if (rc == 0) {
        struct stet_buf b = STET_BUF_INIT;
        stet_np_log_copy_begin(&b, term, n);
        for (uint32_t i = 0; i < n; i++) {
            STET_ASSERT(es[i].term <= term);
            stet_np_log_copy_append(&b, es[i].term, es[i].type, es[i].data, es[i].len);
        }
        STET_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
        stet_buf_free(&b);
        free(es);
    }
    return 0;
}
