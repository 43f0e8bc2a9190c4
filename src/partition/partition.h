/* The partition processor: a deterministic state machine that applies log records to the
 * partition store and emits actions (restate: crates/worker/src/partition/state_machine).
 *
 * Every change to an invocation is first a record in the partition's log. Applying record N
 * reads the partition store, writes one atomic batch (including "applied LSN = N") and then
 * hands the resulting actions to the owner, which carries them out (start an invocation
 * attempt, answer an HTTP caller, forward a notification to a running attempt). The
 * processor never does I/O itself and takes time only from the record (its timestamp was
 * chosen by the appender), so the same records in give the same store out.
 *
 * Invariants
 *  1. applied_lsn only grows; a record is applied at most once (records at or below
 *     applied_lsn are skipped, so replay after a crash is safe).
 *  2. The store batch of a record and the applied_lsn that covers it are written together,
 *     without the store's WAL: after a crash the store is as of its last flush and the log
 *     (trimmed only up to flushed state) replays the rest.
 *  3. Actions are emitted after the batch is written: whoever reacts reads the new state.
 *  4. Journal entries are stored as raw protocol payloads and replayed byte for byte.
 *  5. An invocation's journal index space is dense: entries 0..journal_len-1 exist.
 *
 * Invocation lifecycle (status field of the invocation status table):
 *
 *     INVOKE(delay)──► SCHEDULED ──(timer, issue 4)──┐
 *     INVOKE ──lock busy──► INBOXED ──lock free──────┤
 *     INVOKE ────────────────────────────────────────┴─► INVOKED ──End──► COMPLETED (retained)
 *                                                        │  ▲  │                  └─(no retention)─► gone
 *                                                        │  │  └─Suspension─► SUSPENDED
 *                                                        │  └──notification matches waiting set──┘
 *                                                        └─Paused (retries exhausted)─► PAUSED
 *
 * Leader epochs: an ANNOUNCE_LEADER record raises the partition's epoch (stored in the fsm
 * row); any later record whose epoch is lower was appended by a deposed leader and is skipped
 * (it still advances applied_lsn). Records of epoch 0 (none) are never dropped.
 *
 * The owner drives leadership (src/worker): once its announcement is applied it calls
 * stet_partition_become_leader, which emits an INVOKE action for every invocation in state
 * INVOKED (their attempts died with the previous leader), OUTBOX for undelivered messages and
 * TIMER for the earliest timer; stet_partition_step_down stops emitting actions.
 */
#ifndef STET_PARTITION_H
#define STET_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/env.h"
#include "common/ids.h"
#include "partition/tables.h"
#include "store/store.h"

/* ---- log records --------------------------------------------------------------------- */

enum stet_record_kind {
    STET_REC_INVOKE = 1,         /* a new invocation (ingress or another invocation) */
    STET_REC_INVOKER_EFFECT = 2, /* something an attempt produced */
    STET_REC_ATTACH = 3,         /* a caller waits for (or asks for) an invocation's result */
    STET_REC_TIMER_FIRED = 4,    /* a durable timer is due: sleep completion, scheduled start, cleanup */
    STET_REC_RESPONSE = 5,       /* a result for a waiting invocation (call, attach, get-output) */
    STET_REC_SIGNAL = 6,         /* a signal (awakeable, named signal, cancel = idx 1) for an invocation */
    STET_REC_OUTBOX_TRUNCATE = 7,/* outbox messages up to outbox_seq were delivered */
    STET_REC_KILL = 8,           /* kill an invocation (and its call tree) */
    STET_REC_PURGE = 9,          /* forget a completed invocation */
    STET_REC_RESUME = 10,        /* resume a paused invocation */
    STET_REC_PAUSE = 11,         /* pause a running invocation */
    STET_REC_STATE_MUTATION = 12,/* replace all state of (service, key), queued behind the key's lock */
    STET_REC_ANNOUNCE_LEADER = 13,/* a leader starts with `epoch`: older epochs' records are dropped */
};
#define STET_REC_KIND_MAX STET_REC_ANNOUNCE_LEADER

enum stet_timer_kind { STET_TIMER_SLEEP = 1, STET_TIMER_START = 2, STET_TIMER_CLEANUP = 3 };

/* result carried by RESPONSE and SIGNAL records */
enum stet_rec_result { STET_REC_RESULT_VALUE = 1, STET_REC_RESULT_FAILURE = 2, STET_REC_RESULT_VOID = 3 };

enum stet_effect_kind {
    STET_EFFECT_PINNED_DEPLOYMENT = 1, /* deployment_id + protocol_version */
    STET_EFFECT_ENTRY = 2,             /* a command message from the SDK: entry_type + payload */
    STET_EFFECT_RUN_PROPOSAL = 3,      /* ProposeRunCompletion payload */
    STET_EFFECT_END = 4,
    STET_EFFECT_SUSPENDED = 5, /* payload = SuspensionMessage */
    STET_EFFECT_FAILED = 6,    /* invocation ends with failure (retries exhausted with kill): failure_code/message,
                                  payload = the last stacktrace (only for waiting callers, not stored) */
    STET_EFFECT_PAUSED = 7,    /* retries exhausted: wait for a manual resume */
};

enum stet_attach_mode { STET_ATTACH_WAIT = 1, STET_ATTACH_OUTPUT = 2 };

struct stet_record {
    enum stet_record_kind kind;
    uint64_t timestamp_ms; /* chosen by the appender; the processor's only clock */
    uint64_t epoch;        /* leader epoch of the appender; records older than the last
                              ANNOUNCE_LEADER's epoch are dropped */
    struct stet_invocation_id id;

    /* INVOKE */
    struct stet_slice service, handler, key;
    bool keyed;
    uint8_t service_type; /* enum stet_service_type (schema/schema.h) */
    uint8_t handler_type; /* enum stet_handler_type */
    struct stet_slice input_entry; /* encoded InputCommand payload: journal entry 0 */
    uint64_t execute_at_ms;        /* 0: now */
    bool has_idempotency_key;
    struct stet_slice idempotency_key;
    uint64_t completion_retention_ms;
    uint64_t journal_retention_ms;
    struct stet_inv_sink sink; /* who waits for the result (kind NONE for a send) */

    /* INVOKER_EFFECT */
    enum stet_effect_kind effect;
    uint16_t entry_type;
    struct stet_slice payload;
    uint8_t deployment_id[16];
    uint32_t protocol_version;
    uint32_t failure_code;
    struct stet_slice failure_message;

    /* ATTACH: id + sink + mode */
    enum stet_attach_mode attach_mode;

    /* INVOKER_EFFECT of a Call/OneWayCall: the target as the invoker resolved it */
    uint8_t target_service_type, target_handler_type;
    uint64_t target_completion_retention_ms, target_journal_retention_ms;

    /* TIMER_FIRED: id + completion_id + timer_kind + wake_at_ms; RESPONSE: completion_id +
     * entry_type (notification type) + result; SIGNAL: signal + result */
    uint32_t completion_id;
    uint8_t timer_kind;
    uint64_t wake_at_ms;
    uint8_t result_kind;     /* enum stet_rec_result; value/failure bytes in payload */
    uint32_t signal_idx;     /* SIGNAL by index (when signal_name is empty and !by_name) */
    bool signal_by_name;
    struct stet_slice signal_name;

    /* STATE_MUTATION: service + key, payload = new state (repeated {1 key, 2 value}),
     * optional expected state version (the CLI's hash of the state it read) */
    bool has_state_version;
    struct stet_slice state_version;

    /* OUTBOX_TRUNCATE */
    uint64_t outbox_seq;
    /* exactly-once delivery between partitions: source partition + 1 (0 = none), sequence */
    uint32_t dedup_source;
    uint64_t dedup_seq;
};

/* Encodes a record (appends to out). */
void stet_record_encode(struct stet_buf *out, const struct stet_record *r);
/* Decodes; slices borrow from data. 0 or -EPROTO. */
int stet_record_decode(const uint8_t *data, size_t len, struct stet_record *r);

/* ---- actions ------------------------------------------------------------------------- */

enum stet_action_kind {
    STET_ACTION_INVOKE = 1,           /* start (or restart) an attempt of `id` */
    STET_ACTION_NOTIFY = 2,           /* journal entry `entry_index` (a notification) was stored for `id` */
    STET_ACTION_INGRESS_RESPONSE = 3, /* answer the waiting ingress request `sink` */
    STET_ACTION_ABORT = 4,            /* stop any running attempt of `id` */
    STET_ACTION_OUTBOX = 5,           /* outbox message `outbox_seq` of this partition awaits delivery */
    STET_ACTION_TIMER = 6,            /* a timer at `wake_at_ms` was registered in this partition */
    STET_ACTION_ADMIN_RESPONSE = 7,   /* answer the waiting admin request `sink` */
    STET_ACTION_PAUSE = 8,            /* stop the attempt of `id` at the next opportunity (it suspends) */
};

enum stet_response_kind {
    STET_RESPONSE_VALUE = 1,
    STET_RESPONSE_FAILURE = 2,
    STET_RESPONSE_NOT_FOUND = 3,   /* attach/output of an unknown invocation */
    STET_RESPONSE_NOT_READY = 4,   /* output of a running invocation */
    STET_RESPONSE_OK = 5,          /* admin: done (200) */
    STET_RESPONSE_ACCEPTED = 6,    /* admin: accepted, happens asynchronously (202) */
    STET_RESPONSE_CONFLICT = 7,    /* admin: 409 with a message in value */
};

struct stet_action {
    enum stet_action_kind kind;
    struct stet_invocation_id id;
    uint32_t entry_index;
    struct stet_inv_sink sink;
    enum stet_response_kind response;
    struct stet_slice value;          /* VALUE */
    uint32_t failure_code;            /* FAILURE */
    struct stet_slice failure_raw;    /* FAILURE: encoded protocol Failure (code, message, metadata) */
    struct stet_slice stacktrace;     /* FAILURE of a killed-after-retries invocation: the SDK's last stacktrace */
    bool from_retained;               /* answered from a stored completion */
    uint64_t expires_at_ms;           /* when from_retained: retention end (0 unknown) */
    uint32_t partition_id;            /* OUTBOX / TIMER */
    uint64_t outbox_seq;              /* OUTBOX */
    uint64_t wake_at_ms;              /* TIMER */
};

/* Borrowed for the duration of the call. */
typedef void (*stet_partition_action_cb)(void *ctx, const struct stet_action *a);

struct stet_partition_config {
    uint32_t partition_id;
    uint64_t key_start; /* inclusive */
    uint64_t key_end;   /* inclusive */
};

struct stet_partition;

/* Caller frees with stet_partition_destroy. Reads the applied LSN from the store. */
int stet_partition_create(const struct stet_env *env, struct stet_store *store, const struct stet_partition_config *cfg,
                          stet_partition_action_cb cb, void *ctx, struct stet_partition **out);
void stet_partition_destroy(struct stet_partition *p);

uint64_t stet_partition_applied_lsn(const struct stet_partition *p);
uint32_t stet_partition_id(const struct stet_partition *p);
bool stet_partition_is_leader(const struct stet_partition *p);

/* Counters for /metrics (in memory, since the process started). Invocation outcomes are
 * counted only while leader, so replaying the log at start-up does not count them twice. */
struct stet_partition_stats {
    uint64_t records_applied;       /* records applied, replay included */
    uint64_t records_stale;         /* records of an older epoch, skipped */
    uint64_t invocations_succeeded; /* completed with a value */
    uint64_t invocations_failed;    /* completed with a failure (terminal error, kill, cancel) */
};
void stet_partition_stats(const struct stet_partition *p, struct stet_partition_stats *out);

/* Applies one record. Records with lsn <= applied_lsn are ignored (returns 0). A malformed
 * record is skipped with a warning (it advances applied_lsn). Returns 0 or a negative errno
 * when the store write failed (the partition must then stop). */
int stet_partition_apply(struct stet_partition *p, uint64_t lsn, const uint8_t *rec, size_t len);

/* Emits INVOKE for every INVOKED invocation, OUTBOX for every undelivered outbox message and
 * TIMER for the earliest timer, and starts emitting actions; before this call (replaying, or
 * following) no action is emitted. */
int stet_partition_become_leader(struct stet_partition *p);
/* Stops emitting actions (the partition is followed, not led). */
void stet_partition_step_down(struct stet_partition *p);
/* The highest epoch announced in the applied log (0: none). */
uint64_t stet_partition_epoch(const struct stet_partition *p);

/* Restate's state version: entries sorted by key, SHA-256 over (u64be index, 0x01, key, 0x02,
 * value, 0x03) per entry, base64url without padding (43 chars + NUL). */
void stet_state_version_hash(const struct stet_slice *keys, const struct stet_slice *values, size_t n, char out[44]);

/* Outbox access for the shuffle (the node delivers outbox messages to their partitions). */
int stet_partition_outbox_get(struct stet_store *store, uint32_t partition_id, uint64_t seq, struct stet_buf *out);
/* Calls cb for every outbox message from_seq.. in order; cb returns non-zero to stop. */
int stet_partition_outbox_scan(struct stet_store *store, uint32_t partition_id, uint64_t from_seq,
                               int (*cb)(void *arg, uint64_t seq, const uint8_t *rec, size_t len), void *arg);
/* Calls cb for the due timers (from_wake_ms <= wake_at <= now_ms; timers before from_wake_ms are
 * not looked at: the caller knows none is left there) in time order, at most limit of them;
 * *next_wake_ms gets the wake time of the first timer not returned (0 when none). */
int stet_partition_timers_due(struct stet_store *store, uint32_t partition_id, uint64_t from_wake_ms, uint64_t now_ms,
                              size_t limit, int (*cb)(void *arg, const struct stet_record *fired), void *arg,
                              uint64_t *next_wake_ms);

/* Asserts the partition's invariants: the fsm row in the store equals the in-memory applied
 * LSN, inbox/outbox sequences and epoch; every journal is dense; every key with inboxed
 * invocations is locked by an invocation that has not completed (stet_tables_check). Reads the
 * whole partition: the sanitized build (STET_EXPENSIVE_CHECKS) runs it after every applied
 * record; tests, fuzzers and the simulator call it too. */
void stet_partition_check(const struct stet_partition *p);

/* Partition key ranges: partition i of n covers [i * step, (i+1) * step - 1], the last one
 * up to UINT64_MAX. */
void stet_partition_key_range(uint32_t i, uint32_t n, uint64_t *start, uint64_t *end);
uint32_t stet_partition_for_key(uint64_t partition_key, uint32_t n);

#endif
