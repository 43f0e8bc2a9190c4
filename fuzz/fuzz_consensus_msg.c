/* Fuzz target: consensus messages from other nodes (src/consensus: the raft wire format).
 * A message must either decode or be rejected with -EPROTO, never crash or leak. The corpus
 * (fuzz/corpus/consensus_msg) holds messages a seeded 3-node run sent (tests/unit/test_consensus.c
 * with STET_DUMP_MESSAGES). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "consensus/consensus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int rc = stet_consensus_message_check(data, size);
    STET_ASSERT(rc == 0 || rc == -EPROTO);
    return 0;
}
