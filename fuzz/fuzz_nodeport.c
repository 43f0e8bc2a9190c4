/* Fuzz target: bytes from another node on the node port (src/nodeport/frame.c): the streaming
 * frame decoder fed in random chunks, and every HELLO payload decoded. Must not crash, loop or
 * leak; a frame is never longer than the input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "nodeport/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct stet_np_decoder d;
    stet_np_decoder_init(&d, 1 << 16);
    size_t off = 0, total = 0;
    int rc = 0;
    while (off < size && rc >= 0) {
        size_t chunk = 1 + (data[off] % 7);
        if (chunk > size - off) chunk = size - off;
        stet_np_decoder_feed(&d, data + off, chunk);
        off += chunk;
        struct stet_np_frame f;
        while ((rc = stet_np_decoder_next(&d, &f)) == 1) {
            total += 9 + f.len;
            STET_ASSERT(total <= size);
            if (f.kind == STET_NP_HELLO) {
                struct stet_np_hello h;
                int hr = stet_np_hello_decode(f.payload, f.len, &h);
                STET_ASSERT(hr == 0 || hr == -EPROTO);
            }
        }
        STET_ASSERT(rc == 0 || rc == -EPROTO || rc == -EMSGSIZE);
    }
    stet_np_decoder_free(&d);
    return 0;
}
