/* Fuzz target for the invocation status codec of the partition store (src/partition/tables.c):
 * stet_inv_status_decode/encode and stet_inv_sink_decode/encode.
 *
 * The input is one encoded status row value; fuzz/corpus/inv_status/ holds statuses in every
 * shape the processor writes (invoked, suspended with its waiting set, completed with a value
 * and with a failure, several sinks, an idempotency key) and an encoded sink.
 *
 * Oracles, besides "no crash, no leak, no sanitizer report", for the input as a status and
 * as a sink:
 *   1. on success, every slice points into the status's own storage, and the state has a name;
 *   2. whatever decodes re-encodes, the re-encoding decodes, and the two decoded values are
 *      equal field by field (slices by content) once the first one is put in the form the
 *      encoder writes (see status_canonical()); encoding the second gives the same bytes;
 *   3. decoding into a status that already holds one (the scan reuses its struct) gives the
 *      same status as decoding into a fresh one.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "partition/tables.h"
#include "fuzz_partition_eq.h"

static bool bytes_equal(const struct stet_buf *a, const struct stet_buf *b) {
    return slice_equal((struct stet_slice){a->data, a->len}, (struct stet_slice){b->data, b->len});
}

static void assert_in_storage(const struct stet_inv_status *s, struct stet_slice x) {
    if (x.len == 0) return;
    STET_ASSERT(x.ptr >= s->storage.data);
    STET_ASSERT(x.ptr + x.len <= s->storage.data + s->storage.len);
}

/* ---- sinks --------------------------------------------------------------------------- */

/* The encoder writes the caller fields only for an invocation sink. */
static void sink_canonical(struct stet_inv_sink *k) {
    if (k->kind == STET_SINK_INVOCATION) return;
    memset(&k->caller, 0, sizeof(k->caller));
    k->completion_id = 0;
}

static void check_sink(const uint8_t *data, size_t size) {
    struct stet_inv_sink first, second;
    if (stet_inv_sink_decode(data, size, &first) != 0) return;
    struct stet_buf once = STET_BUF_INIT, twice = STET_BUF_INIT;
    stet_inv_sink_encode(&first, &once);
    STET_ASSERT(stet_inv_sink_decode(once.data, once.len, &second) == 0);
    sink_canonical(&first);
    assert_sink_equal(&first, &second);
    stet_inv_sink_encode(&second, &twice);
    STET_ASSERT(bytes_equal(&once, &twice));
    stet_buf_free(&once);
    stet_buf_free(&twice);
}

/* ---- statuses ------------------------------------------------------------------------ */

/* What the encoder drops: the key of an unkeyed invocation, the protocol version without a
 * pinned deployment, the value unless the result is a value and the failure unless it is a
 * failure, the caller fields of sinks that are not invocations. */
static void status_canonical(struct stet_inv_status *s) {
    if (!s->keyed) s->key = (struct stet_slice){NULL, 0};
    if (!s->has_pinned) s->protocol_version = 0;
    if (s->result_kind != 1) s->result_value = (struct stet_slice){NULL, 0};
    if (s->result_kind != 2) s->failure_raw = (struct stet_slice){NULL, 0};
    for (uint32_t i = 0; i < s->n_sinks; i++) sink_canonical(&s->sinks[i]);
}

static void assert_status_equal(const struct stet_inv_status *a, const struct stet_inv_status *b) {
    STET_ASSERT(a->state == b->state);
    STET_ASSERT(a->service_type == b->service_type);
    STET_ASSERT(a->handler_type == b->handler_type);
    STET_ASSERT(a->keyed == b->keyed);
    STET_ASSERT(slice_equal(a->service, b->service));
    STET_ASSERT(slice_equal(a->handler, b->handler));
    STET_ASSERT(slice_equal(a->key, b->key));
    STET_ASSERT(a->created_at_ms == b->created_at_ms);
    STET_ASSERT(a->modified_at_ms == b->modified_at_ms);
    STET_ASSERT(a->execute_at_ms == b->execute_at_ms);
    STET_ASSERT(a->completed_at_ms == b->completed_at_ms);
    STET_ASSERT(a->journal_len == b->journal_len);
    STET_ASSERT(a->commands == b->commands);
    STET_ASSERT(a->has_pinned == b->has_pinned);
    STET_ASSERT(memcmp(a->deployment_id, b->deployment_id, 16) == 0);
    STET_ASSERT(a->protocol_version == b->protocol_version);
    STET_ASSERT(a->n_sinks == b->n_sinks);
    for (uint32_t i = 0; i < a->n_sinks; i++) assert_sink_equal(&a->sinks[i], &b->sinks[i]);
    STET_ASSERT(a->has_idempotency_key == b->has_idempotency_key);
    STET_ASSERT(slice_equal(a->idempotency_key, b->idempotency_key));
    STET_ASSERT(a->completion_retention_ms == b->completion_retention_ms);
    STET_ASSERT(a->journal_retention_ms == b->journal_retention_ms);
    STET_ASSERT(a->result_kind == b->result_kind);
    STET_ASSERT(slice_equal(a->result_value, b->result_value));
    STET_ASSERT(a->failure_code == b->failure_code);
    STET_ASSERT(slice_equal(a->failure_raw, b->failure_raw));
    STET_ASSERT(slice_equal(a->waiting, b->waiting));
    STET_ASSERT(a->inbox_seq == b->inbox_seq);
    STET_ASSERT(a->pausing == b->pausing);
    STET_ASSERT(a->inbox_floor == b->inbox_floor);
}

static void check_decoded(const struct stet_inv_status *s) {
    STET_ASSERT(s->state >= STET_INV_SCHEDULED && s->state <= STET_INV_COMPLETED);
    STET_ASSERT(strcmp(stet_inv_state_name(s->state), "unknown") != 0);
    STET_ASSERT(s->n_sinks <= STET_MAX_SINKS);
    assert_in_storage(s, s->service);
    assert_in_storage(s, s->handler);
    assert_in_storage(s, s->key);
    assert_in_storage(s, s->idempotency_key);
    assert_in_storage(s, s->result_value);
    assert_in_storage(s, s->failure_raw);
    assert_in_storage(s, s->waiting);
}

static void check_status(const uint8_t *data, size_t size) {
    struct stet_inv_status first, second, reused;
    stet_inv_status_init(&first);
    stet_inv_status_init(&second);
    stet_inv_status_init(&reused);
    struct stet_buf once = STET_BUF_INIT, twice = STET_BUF_INIT;
    if (stet_inv_status_decode(&first, data, size) != 0) goto out;
    check_decoded(&first);

    stet_inv_status_encode(&first, &once);
    STET_ASSERT(stet_inv_status_decode(&second, once.data, once.len) == 0);
    check_decoded(&second);
    stet_inv_status_encode(&second, &twice);
    STET_ASSERT(bytes_equal(&once, &twice));

    /* `reused` holds the re-encoded status, then the input replaces it */
    STET_ASSERT(stet_inv_status_decode(&reused, once.data, once.len) == 0);
    STET_ASSERT(stet_inv_status_decode(&reused, data, size) == 0);
    check_decoded(&reused);
    assert_status_equal(&first, &reused);

    status_canonical(&first);
    assert_status_equal(&first, &second);
out:
    stet_buf_free(&once);
    stet_buf_free(&twice);
    stet_inv_status_free(&first);
    stet_inv_status_free(&second);
    stet_inv_status_free(&reused);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_status(data, size);
    check_sink(data, size);
    return 0;
}
