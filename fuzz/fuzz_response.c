/* Fuzz target: a response action another node sends (src/partition/response.c). Must not crash
 * or leak; what decodes re-encodes to a form that decodes to the same action. */
#include <errno.h>
#include <string.h>

#include "common/assert.h"
#include "partition/response.h"

static void same_slice(struct stet_slice a, struct stet_slice b) {
    STET_ASSERT(a.len == b.len);
    STET_ASSERT(a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct stet_action a;
    int rc = stet_response_decode(data, size, &a);
    STET_ASSERT(rc == 0 || rc == -EPROTO);
    if (rc != 0) return 0;
    struct stet_buf b = STET_BUF_INIT;
    stet_response_encode(&a, &b);
    struct stet_action c;
    STET_ASSERT(stet_response_decode(b.data, b.len, &c) == 0);
    STET_ASSERT(c.kind == a.kind && c.response == a.response && c.failure_code == a.failure_code);
    STET_ASSERT(c.from_retained == a.from_retained && c.expires_at_ms == a.expires_at_ms);
    STET_ASSERT(stet_invocation_id_cmp(&c.id, &a.id) == 0);
    STET_ASSERT(c.sink.kind == a.sink.kind && c.sink.request_id == a.sink.request_id);
    STET_ASSERT(c.sink.node_id == a.sink.node_id && c.sink.generation == a.sink.generation);
    same_slice(c.value, a.value);
    same_slice(c.failure_raw, a.failure_raw);
    same_slice(c.stacktrace, a.stacktrace);
    stet_buf_free(&b);
    return 0;
}
