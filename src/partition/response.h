/* An INGRESS_RESPONSE or ADMIN_RESPONSE action as bytes (issue 15's building block): in a cluster
 * the partition's leader answers a request that another node holds, so the action travels over
 * the node port to the node its sink names. Pure codec, fuzzed (fuzz_response).
 *
 * Layout (big-endian):
 *   u8 version (1) | u8 action kind | u8 response kind | 24 bytes invocation id |
 *   u32 sink length | sink (stet_inv_sink_encode) | u32 failure code | u8 flags (1: from retained) |
 *   u64 expires at ms | u32 len | value | u32 len | failure_raw | u32 len | stacktrace
 * A decoded action's slices point into the input.
 */
#ifndef STET_PARTITION_RESPONSE_H
#define STET_PARTITION_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "partition/partition.h"

/* Appends the action (kind INGRESS_RESPONSE or ADMIN_RESPONSE) to out. */
void stet_response_encode(const struct stet_action *a, struct stet_buf *out);
/* 0 with *a filled (slices borrowed from p), or -EPROTO: not a response action, truncated,
 * trailing bytes, or a sink that does not decode. */
int stet_response_decode(const uint8_t *p, size_t len, struct stet_action *a);

#endif
