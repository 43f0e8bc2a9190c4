/* The partition store's tables: key layout and value codecs.
 *
 * Every key that belongs to a partition starts with a one-byte table tag, and (except for
 * the per-partition FSM row and timers) continues with the 8-byte big-endian partition key,
 * so a key range of the partition-key space is a contiguous set of rows per table (what a
 * partition snapshot copies later).
 *
 *   'F' u32 partition_id                               -> fsm row (applied lsn, inbox seq)
 *   'S' pk(8) uuid(16)                                 -> invocation status
 *   'J' pk(8) uuid(16) u32 index                       -> journal entry
 *   'N' pk(8) uuid(16) u8 id_kind id                   -> journal index of a notification
 *   'T' pk(8) u16 len service u32 len key state_key    -> state value
 *   'V' pk(8) u16 len service u32 len key              -> invocation id holding the lock
 *   'I' pk(8) u16 len service u32 len key u64 seq      -> inboxed invocation id
 *   'P' pk(8) u16 len service u32 len key name          -> durable promise (workflows)
 *   'Q' u32 partition_id u64 wake_at pk(8) uuid(16) u32 completion_id u8 kind -> timer
 *   'O' u32 partition_id u64 seq                        -> outbox message (an encoded record)
 *   'X' u32 partition_id u32 source_partition          -> last delivered outbox seq (dedup)
 *
 * The log module owns keys starting with 'L' and 'l', the metadata store 'M'.
 * Values are protobuf-encoded (src/protocol pb primitives) so fields can be added later.
 */
#ifndef STET_PARTITION_TABLES_H
#define STET_PARTITION_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ids.h"
#include "protocol/protocol.h"
#include "store/store.h"

enum stet_inv_state {
    STET_INV_SCHEDULED = 1,
    STET_INV_INBOXED = 2,
    STET_INV_INVOKED = 3,
    STET_INV_SUSPENDED = 4,
    STET_INV_PAUSED = 5,
    STET_INV_COMPLETED = 6,
};
const char *stet_inv_state_name(enum stet_inv_state s); /* Restate's status strings */

enum stet_sink_kind { STET_SINK_NONE = 0, STET_SINK_INGRESS = 1, STET_SINK_INVOCATION = 2, STET_SINK_ADMIN = 3 };

/* Who waits for an invocation's result. Ingress and admin sinks name the node that holds the
 * request (node id + generation, for routing the answer there) and the process incarnation, so
 * a restarted process never answers a request id of its previous life. */
struct stet_inv_sink {
    uint8_t kind;
    uint16_t notification_type;       /* INVOCATION: notification to append (CallCompletion, ...) */
    uint64_t incarnation;
    uint32_t node_id, generation;     /* INGRESS/ADMIN: the node holding the request (0: unknown) */
    uint64_t request_id;
    struct stet_invocation_id caller; /* INVOCATION */
    uint32_t completion_id;           /* INVOCATION */
};

void stet_inv_sink_encode(const struct stet_inv_sink *k, struct stet_buf *out);
int stet_inv_sink_decode(const uint8_t *p, size_t len, struct stet_inv_sink *k);

#define STET_MAX_SINKS 64

struct stet_inv_status {
    enum stet_inv_state state;
    uint8_t service_type, handler_type;
    bool keyed;
    struct stet_slice service, handler, key;
    uint64_t created_at_ms, modified_at_ms, execute_at_ms, completed_at_ms;
    uint32_t journal_len;   /* entries, commands and notifications */
    uint32_t commands;      /* commands only */
    bool has_pinned;
    uint8_t deployment_id[16];
    uint32_t protocol_version;
    struct stet_inv_sink sinks[STET_MAX_SINKS];
    uint32_t n_sinks;
    bool has_idempotency_key;
    struct stet_slice idempotency_key;
    uint64_t completion_retention_ms, journal_retention_ms;
    /* result (set by Output, final once COMPLETED) */
    uint8_t result_kind; /* 0 none, 1 value, 2 failure */
    struct stet_slice result_value;
    uint32_t failure_code;
    struct stet_slice failure_raw; /* encoded protocol Failure */
    struct stet_slice waiting;      /* SUSPENDED: encoded SuspensionMessage */
    uint64_t inbox_seq;             /* INBOXED */
    bool pausing;                   /* INVOKED: a pause was requested; the attempt is being stopped */
    uint64_t inbox_floor;           /* lock holder: inbox entries of its key all have a higher sequence */
    /* the slices above point into this buffer (or into caller memory while encoding) */
    struct stet_buf storage;
};

void stet_inv_status_init(struct stet_inv_status *s);
void stet_inv_status_free(struct stet_inv_status *s);
void stet_inv_status_encode(const struct stet_inv_status *s, struct stet_buf *out);
/* Decodes into s (whose previous content is freed); slices point into s->storage. */
int stet_inv_status_decode(struct stet_inv_status *s, const uint8_t *data, size_t len);
/* Reads the status of id. 0 found, 1 not found, <0 error. */
int stet_table_status_get(struct stet_store *store, const struct stet_invocation_id *id, struct stet_inv_status *out);

/* Calls cb for each invocation status with a partition key in [key_start, key_end], in key
 * order, starting after `after` (NULL: at key_start), looking at most `limit` rows (0: no
 * limit). st is borrowed for the call. cb returns non-zero to stop. Returns 0 when the end of
 * the range was reached, 1 when it stopped early (limit or cb), < 0 on a store error. Rows
 * that do not decode are skipped (and count against the limit). */
int stet_table_status_scan(struct stet_store *store, uint64_t key_start, uint64_t key_end,
                           const struct stet_invocation_id *after, size_t limit,
                           int (*cb)(void *arg, const struct stet_invocation_id *id, const struct stet_inv_status *st),
                           void *arg);

/* The wake time of the partition's earliest durable timer: 0 (found), 1 (none), < 0 error. */
int stet_table_timer_earliest(struct stet_store *store, uint32_t partition_id, uint64_t *wake_at_ms);

/* Asserts the tables' invariants for the partition keys [key_start, key_end]: every
 * invocation's journal is dense (entries 0..journal_len-1, nothing more), and every key with
 * inboxed invocations is locked by an invocation that has not completed. Reads everything in
 * the range: for tests, fuzzers and the sanitized build. */
void stet_tables_check(struct stet_store *store, uint64_t key_start, uint64_t key_end);

/* keys */
void stet_key_fsm(struct stet_buf *k, uint32_t partition_id);
void stet_key_status(struct stet_buf *k, const struct stet_invocation_id *id);
void stet_key_journal(struct stet_buf *k, const struct stet_invocation_id *id, uint32_t index);
void stet_key_journal_prefix(struct stet_buf *k, const struct stet_invocation_id *id);
enum { STET_NTF_KEY_COMPLETION = 1, STET_NTF_KEY_SIGNAL = 2, STET_NTF_KEY_SIGNAL_NAME = 3 };
void stet_key_notification(struct stet_buf *k, const struct stet_invocation_id *id, uint8_t kind, uint32_t idx,
                           const uint8_t *name, size_t name_len);
void stet_key_notification_prefix(struct stet_buf *k, const struct stet_invocation_id *id);
void stet_key_state_prefix(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key);
void stet_key_state(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key,
                    struct stet_slice state_key);
void stet_key_lock(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key);
void stet_key_inbox_prefix(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key);
void stet_key_inbox(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key, uint64_t seq);
void stet_key_promise(struct stet_buf *k, uint64_t pk, struct stet_slice service, struct stet_slice key,
                      struct stet_slice name);
void stet_key_timer(struct stet_buf *k, uint32_t partition_id, uint64_t wake_at, const struct stet_invocation_id *id,
                    uint32_t completion_id, uint8_t kind);
void stet_key_timer_prefix(struct stet_buf *k, uint32_t partition_id);
void stet_key_outbox(struct stet_buf *k, uint32_t partition_id, uint64_t seq);
void stet_key_outbox_prefix(struct stet_buf *k, uint32_t partition_id);
void stet_key_dedup(struct stet_buf *k, uint32_t partition_id, uint32_t source);
/* the exclusive upper bound of a prefix (prefix with the last non-0xff byte incremented) */
void stet_key_prefix_end(const struct stet_buf *prefix, struct stet_buf *end);

/* journal entries: u16 type, u16 flags, u64 appended_at_ms, payload */
struct stet_journal_entry {
    uint16_t type;
    uint16_t flags;
    uint64_t appended_at_ms;
    struct stet_slice payload;
};
void stet_journal_entry_encode(struct stet_buf *out, uint16_t type, uint64_t appended_at_ms, const uint8_t *payload,
                               size_t len);
int stet_journal_entry_decode(const uint8_t *data, size_t len, struct stet_journal_entry *e);

/* Calls cb for every journal entry index in [from, to) in order; cb returns non-zero to stop. */
int stet_table_journal_scan(struct stet_store *store, const struct stet_invocation_id *id, uint32_t from, uint32_t to,
                            int (*cb)(void *arg, uint32_t index, const struct stet_journal_entry *e), void *arg);

/* Calls cb for every state entry of (service, key) in key order. */
int stet_table_state_scan(struct stet_store *store, uint64_t pk, struct stet_slice service, struct stet_slice key,
                          int (*cb)(void *arg, struct stet_slice state_key, struct stet_slice value), void *arg);

#endif
