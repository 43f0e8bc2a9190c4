/* Equality helpers the partition fuzz targets share (fuzz_records.c, fuzz_inv_status.c):
 * decoded values compared field by field after an encode/decode round trip. */
#ifndef STET_FUZZ_PARTITION_EQ_H
#define STET_FUZZ_PARTITION_EQ_H

#include <stdbool.h>
#include <string.h>

#include "common/assert.h"
#include "common/ids.h"
#include "partition/tables.h"

static inline bool slice_equal(struct stet_slice a, struct stet_slice b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool id_equal(const struct stet_invocation_id *a, const struct stet_invocation_id *b) {
    return stet_invocation_id_cmp(a, b) == 0;
}

static inline void assert_sink_equal(const struct stet_inv_sink *a, const struct stet_inv_sink *b) {
    STET_ASSERT(a->kind == b->kind);
    STET_ASSERT(a->notification_type == b->notification_type);
    STET_ASSERT(a->incarnation == b->incarnation);
    STET_ASSERT(a->node_id == b->node_id);
    STET_ASSERT(a->generation == b->generation);
    STET_ASSERT(a->request_id == b->request_id);
    STET_ASSERT(id_equal(&a->caller, &b->caller));
    STET_ASSERT(a->completion_id == b->completion_id);
}

#endif
