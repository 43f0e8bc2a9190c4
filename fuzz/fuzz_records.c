/* Fuzz target for the partition log record codec (src/partition/records.c) and the partition
 * processor that applies records (src/partition/processor.c).
 *
 * The input is one encoded log record; fuzz/corpus/records/ holds one or more of every kind.
 *
 * Oracles, besides "no crash, no leak, no sanitizer report":
 *   1. whatever decodes re-encodes, the re-encoding decodes, and the two decoded records are
 *      equal field by field (slices by content) once the first one is put in the form the
 *      encoder writes (see canonical()); encoding the second one gives the same bytes again;
 *   2. the processor over an in-memory store applies any bytes: the input as the first record
 *      of a fresh partition, then (when it decodes) after an INVOKE that creates its
 *      invocation, twice (a duplicate), then a few rounds of the timers that fell due and the
 *      outbox messages it wrote (all addressed to itself: it covers the whole key space), as
 *      the node's timer service and shuffle would append them. Every apply returns 0 and
 *      advances the applied LSN, stet_partition_check holds after each, and every byte of
 *      every action's slices is readable. Finally a second processor opens the same store
 *      and becomes leader (a restart: it decodes the stored statuses, outbox and timers).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/log.h"
#include "partition/partition.h"
#include "store/store.h"
#include "fuzz_partition_eq.h"

/* ---- codec round trip ----------------------------------------------------------------- */

/* What the encoder drops: the key of an unkeyed record, the deployment id unless the record
 * pins one (effect PINNED_DEPLOYMENT or a protocol version), a sink of kind NONE, and the
 * caller fields of a sink that is not an invocation. */
static void canonical(struct stet_record *r) {
    if (!r->keyed) r->key = (struct stet_slice){NULL, 0};
    if (r->effect != STET_EFFECT_PINNED_DEPLOYMENT && r->protocol_version == 0)
        memset(r->deployment_id, 0, sizeof(r->deployment_id));
    if (r->sink.kind == STET_SINK_NONE) memset(&r->sink, 0, sizeof(r->sink));
    if (r->sink.kind != STET_SINK_INVOCATION) {
        memset(&r->sink.caller, 0, sizeof(r->sink.caller));
        r->sink.completion_id = 0;
    }
}

static void assert_record_equal(const struct stet_record *a, const struct stet_record *b) {
    STET_ASSERT(a->kind == b->kind);
    STET_ASSERT(a->timestamp_ms == b->timestamp_ms);
    STET_ASSERT(a->epoch == b->epoch);
    STET_ASSERT(id_equal(&a->id, &b->id));
    STET_ASSERT(slice_equal(a->service, b->service));
    STET_ASSERT(slice_equal(a->handler, b->handler));
    STET_ASSERT(slice_equal(a->key, b->key));
    STET_ASSERT(a->keyed == b->keyed);
    STET_ASSERT(a->service_type == b->service_type);
    STET_ASSERT(a->handler_type == b->handler_type);
    STET_ASSERT(slice_equal(a->input_entry, b->input_entry));
    STET_ASSERT(a->execute_at_ms == b->execute_at_ms);
    STET_ASSERT(a->has_idempotency_key == b->has_idempotency_key);
    STET_ASSERT(slice_equal(a->idempotency_key, b->idempotency_key));
    STET_ASSERT(a->completion_retention_ms == b->completion_retention_ms);
    STET_ASSERT(a->journal_retention_ms == b->journal_retention_ms);
    assert_sink_equal(&a->sink, &b->sink);
    STET_ASSERT(a->effect == b->effect);
    STET_ASSERT(a->entry_type == b->entry_type);
    STET_ASSERT(slice_equal(a->payload, b->payload));
    STET_ASSERT(memcmp(a->deployment_id, b->deployment_id, 16) == 0);
    STET_ASSERT(a->protocol_version == b->protocol_version);
    STET_ASSERT(a->failure_code == b->failure_code);
    STET_ASSERT(slice_equal(a->failure_message, b->failure_message));
    STET_ASSERT(a->attach_mode == b->attach_mode);
    STET_ASSERT(a->target_service_type == b->target_service_type);
    STET_ASSERT(a->target_handler_type == b->target_handler_type);
    STET_ASSERT(a->target_completion_retention_ms == b->target_completion_retention_ms);
    STET_ASSERT(a->target_journal_retention_ms == b->target_journal_retention_ms);
    STET_ASSERT(a->completion_id == b->completion_id);
    STET_ASSERT(a->timer_kind == b->timer_kind);
    STET_ASSERT(a->wake_at_ms == b->wake_at_ms);
    STET_ASSERT(a->result_kind == b->result_kind);
    STET_ASSERT(a->signal_idx == b->signal_idx);
    STET_ASSERT(a->signal_by_name == b->signal_by_name);
    STET_ASSERT(slice_equal(a->signal_name, b->signal_name));
    STET_ASSERT(a->has_state_version == b->has_state_version);
    STET_ASSERT(slice_equal(a->state_version, b->state_version));
    STET_ASSERT(a->outbox_seq == b->outbox_seq);
    STET_ASSERT(a->dedup_source == b->dedup_source);
    STET_ASSERT(a->dedup_seq == b->dedup_seq);
}

static void check_roundtrip(const struct stet_record *first) {
    STET_ASSERT(first->kind >= STET_REC_INVOKE && first->kind <= STET_REC_KIND_MAX);
    struct stet_buf once = STET_BUF_INIT, twice = STET_BUF_INIT;
    stet_record_encode(&once, first);
    struct stet_record second;
    STET_ASSERT(stet_record_decode(once.data, once.len, &second) == 0);
    struct stet_record expected = *first;
    canonical(&expected);
    assert_record_equal(&expected, &second);
    stet_record_encode(&twice, &second);
    STET_ASSERT(slice_equal((struct stet_slice){once.data, once.len}, (struct stet_slice){twice.data, twice.len}));
    stet_buf_free(&once);
    stet_buf_free(&twice);
}

/* ---- the processor ------------------------------------------------------------------- */

#define ROUNDS 4       /* rounds of timers and outbox messages fed back */
#define ROUND_LIMIT 16 /* timers or outbox messages per round */

struct harness {
    struct stet_store *store;
    struct stet_partition *p;
    uint64_t lsn;
    uint64_t outbox_next; /* next outbox sequence to deliver */
    uint64_t touched;     /* sum of the action bytes read (keeps the reads) */
};

static uint64_t fake_now(void *ctx) {
    (void)ctx;
    return 1700000000000ull;
}
static uint64_t fake_rand(void *ctx) {
    (void)ctx;
    return 42;
}
static const struct stet_env env = {.now_ms = fake_now, .monotonic_ms = fake_now, .random_u64 = fake_rand};

static uint64_t touch(struct stet_slice s) {
    uint64_t sum = 0;
    for (size_t i = 0; i < s.len; i++) sum += s.ptr[i];
    return sum;
}

static void on_action(void *ctx, const struct stet_action *a) {
    struct harness *h = ctx;
    STET_ASSERT(a->kind >= STET_ACTION_INVOKE && a->kind <= STET_ACTION_PAUSE);
    h->touched += touch(a->value) + touch(a->failure_raw) + touch(a->stacktrace);
}

static void apply_bytes(struct harness *h, const uint8_t *data, size_t len) {
    h->lsn++;
    STET_ASSERT(stet_partition_apply(h->p, h->lsn, data, len) == 0); /* the in-memory store never fails */
    STET_ASSERT(stet_partition_applied_lsn(h->p) == h->lsn);
    stet_partition_check(h->p);
}

static void apply_record(struct harness *h, const struct stet_record *r) {
    struct stet_buf b = STET_BUF_INIT;
    stet_record_encode(&b, r);
    apply_bytes(h, b.data, b.len);
    stet_buf_free(&b);
}

struct collected {
    struct stet_record timers[ROUND_LIMIT];
    size_t n_timers;
    struct stet_buf outbox[ROUND_LIMIT];
    uint64_t outbox_seq[ROUND_LIMIT];
    size_t n_outbox;
};

static int collect_timer(void *arg, const struct stet_record *fired) {
    struct collected *c = arg;
    STET_ASSERT(fired->kind == STET_REC_TIMER_FIRED);
    STET_ASSERT(c->n_timers < ROUND_LIMIT);
    c->timers[c->n_timers++] = *fired; /* no slices: nothing borrowed */
    return 0;
}

static int collect_outbox(void *arg, uint64_t seq, const uint8_t *rec, size_t len) {
    struct collected *c = arg;
    if (c->n_outbox == ROUND_LIMIT) return 1;
    stet_buf_init(&c->outbox[c->n_outbox]);
    stet_buf_append(&c->outbox[c->n_outbox], rec, len);
    c->outbox_seq[c->n_outbox++] = seq;
    return 0;
}

/* Timers and outbox messages are collected first and applied after the scans: applying
 * writes to the store the scans iterate. */
static void feed_back(struct harness *h) {
    for (int round = 0; round < ROUNDS; round++) {
        struct collected c;
        c.n_timers = 0;
        c.n_outbox = 0;
        uint64_t next_wake_ms = 0;
        STET_ASSERT(stet_partition_timers_due(h->store, 0, 0 /* from */, UINT64_MAX, ROUND_LIMIT, collect_timer, &c,
                                              &next_wake_ms) == 0);
        STET_ASSERT(stet_partition_outbox_scan(h->store, 0, h->outbox_next, collect_outbox, &c) >= 0);
        for (size_t i = 0; i < c.n_timers; i++) {
            c.timers[i].timestamp_ms = c.timers[i].wake_at_ms;
            apply_record(h, &c.timers[i]);
        }
        for (size_t i = 0; i < c.n_outbox; i++) {
            STET_ASSERT(c.outbox_seq[i] >= h->outbox_next);
            h->outbox_next = c.outbox_seq[i] + 1;
            /* the processor wrote it: it decodes, and is delivered with dedup as the shuffle does */
            struct stet_record r;
            STET_ASSERT(stet_record_decode(c.outbox[i].data, c.outbox[i].len, &r) == 0);
            check_roundtrip(&r);
            r.dedup_source = 1; /* source partition 0 */
            r.dedup_seq = c.outbox_seq[i];
            apply_record(h, &r);
            stet_buf_free(&c.outbox[i]);
        }
        if (c.n_timers == 0 && c.n_outbox == 0) break;
    }
}

static void run_processor(const uint8_t *data, size_t size, const struct stet_record *decoded) {
    struct harness h;
    memset(&h, 0, sizeof(h));
    h.store = stet_store_create_mem();
    STET_ASSERT(h.store != NULL);
    h.outbox_next = 1;
    struct stet_partition_config cfg = {.partition_id = 0, .key_start = 0, .key_end = UINT64_MAX};
    STET_ASSERT(stet_partition_create(&env, h.store, &cfg, on_action, &h, &h.p) == 0);
    STET_ASSERT(stet_partition_become_leader(h.p) == 0);

    apply_bytes(&h, data, size);
    if (decoded) {
        if (decoded->kind != STET_REC_INVOKE) {
            /* an invocation for the record to act on, with the record's own target fields */
            struct stet_buf input = STET_BUF_INIT;
            stet_proto_encode_input(&input, NULL, 0, (const uint8_t *)"{}", 2);
            struct stet_record inv = *decoded;
            inv.kind = STET_REC_INVOKE;
            inv.input_entry = (struct stet_slice){input.data, input.len};
            inv.execute_at_ms = 0;
            inv.dedup_source = 0;
            apply_record(&h, &inv);
            stet_buf_free(&input);
        }
        apply_bytes(&h, data, size);
        apply_bytes(&h, data, size);
    }
    feed_back(&h);
    stet_partition_destroy(h.p);

    /* a restart: the applied LSN is read back, leadership re-reads statuses, outbox, timers */
    struct stet_partition *again = NULL;
    STET_ASSERT(stet_partition_create(&env, h.store, &cfg, on_action, &h, &again) == 0);
    STET_ASSERT(stet_partition_applied_lsn(again) == h.lsn);
    STET_ASSERT(stet_partition_become_leader(again) == 0);
    stet_partition_check(again);
    stet_partition_destroy(again);
    stet_store_destroy(h.store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stet_log_set_level(STET_LOG_ERROR); /* hostile input makes the processor warn on every run */
    struct stet_record r;
    bool decoded = stet_record_decode(data, size, &r) == 0;
    if (decoded) check_roundtrip(&r);
    run_processor(data, size, decoded ? &r : NULL);
    return 0;
}
