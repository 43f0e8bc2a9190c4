/* Consensus: the raft groups of one node, driven through libraft 0.22.1's step API
 * (shared/design/cluster.md §1, §3). src/consensus/consensus.c is the only file that includes
 * raft.h.
 *
 * One struct stet_consensus holds every group this node is a member of (the metadata group and
 * one per partition log). libraft does no I/O: this module feeds it events (start, messages,
 * timeouts, persisted entries, submissions) and carries out what each step asks for, through
 * ports:
 *   - storage: terms, votes and entries of every group are staged in one place and made
 *     durable by ONE sync for all groups (stet_consensus_flush, once per loop iteration);
 *   - network: encoded messages to a peer node (the wire format is below; fuzzed);
 *   - app: committed entries in index order per group, and role changes.
 * Time and timers come from the env: one env timer armed for the earliest group deadline.
 *
 * Durability rules (the Raft thesis §10.2.1 and design/cluster.md §3):
 *  1. A term or vote change is durable before any message of that step or a later one leaves:
 *     such messages wait for the sync that covers the change.
 *  2. A leader's AppendEntries may leave before its own entries are durable; the leader counts
 *     itself only through RAFT_PERSISTED_ENTRIES, reported after the sync completes.
 *  3. Entries truncated while the sync that wrote them was in flight are not reported; the
 *     next sync reports the new tail.
 *  4. Committed entries are handed to the app only up to the locally durable index.
 *
 * A network send carries a batch: the messages one event produced for that peer (heartbeats of
 * all groups travel together), each framed as u32 LE length + message.
 * Wire format of one message (little-endian):
 *   u8 version (1) | u8 type | u32 group | u64 sender generation | u64 sequence | u64 term |
 *   type-specific fields | for AppendEntries n entries of (u64 term, u8 type, u32 len, bytes)
 * InstallSnapshot (type 5) carries after the term: u8 version | u64 last index | u64 last term |
 *   u64 configuration index | u32 n servers, n x (u64 id, u8 role) | u32 len | the app's data
 *   (at most STET_CONSENSUS_SNAPSHOT_MAX bytes: one message, no chunks).
 * A message that does not decode is dropped (counted), never trusted. The sequence numbers a
 * sender's messages to one peer (all groups); the receiver drops a message that is not newer
 * than the newest it took from that sender's generation, and any message of an older
 * generation: libraft's progress tracking assumes per-peer order, and a network (or a
 * reconnect) may duplicate or reorder.
 */
#ifndef STET_CONSENSUS_H
#define STET_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/env.h"

struct stet_consensus;

enum stet_consensus_entry_type {
    STET_CONSENSUS_COMMAND = 1, /* application data */
    STET_CONSENSUS_BARRIER = 2, /* submitted by a new leader: no data */
    STET_CONSENSUS_CHANGE = 3,  /* a configuration (entry 1 is the bootstrap configuration) */
};

struct stet_consensus_entry {
    uint64_t term;
    uint8_t type; /* enum stet_consensus_entry_type */
    const uint8_t *data;
    size_t len;
};

/* Snapshots and log compaction.
 *
 * A group's snapshot is a record in the storage: the app's state as of `index` (its data, at
 * most STET_CONSENSUS_SNAPSHOT_MAX bytes: keep it small, e.g. a reference to where the real
 * state lives, as it travels in one InstallSnapshot message and a leader resends it), the term of
 * that entry, and the committed configuration as of `index`. Entries up to the snapshot may be
 * trimmed; a member that needs trimmed entries gets the snapshot instead.
 *
 *  - Taking one (stet_consensus_snapshot): the record is staged; once the sync that covers it
 *    completed, libraft learns of it (RAFT_SNAPSHOT) and entries up to index - trailing are
 *    trimmed (staged, durable with the next sync). A trim never becomes durable before the
 *    record it relies on.
 *  - Receiving one (a follower behind the leader's trimmed log, or one that lost its data): the
 *    record is staged and every entry of the group dropped in the same sync; once durable,
 *    app.install replaces the app's state, libraft learns of it (RAFT_PERSISTED_SNAPSHOT), and
 *    apply continues at index + 1. Nothing is applied and no entry reported persisted while an
 *    install is not durable.
 *  - At start (stet_consensus_add_group): a stored snapshot is given to app.install (the app may
 *    skip it when its own state is at or past index), and apply continues at index + 1.
 */
#define STET_CONSENSUS_SNAPSHOT_MAX ((size_t)8 << 20)

struct stet_consensus_snapshot {
    uint64_t index;      /* the last entry it covers */
    uint64_t term;       /* that entry's term */
    uint64_t conf_index; /* the index of the configuration it carries */
    const uint8_t *conf; /* that configuration, as raft_configuration_encode writes it */
    size_t conf_len;
    const uint8_t *data; /* the app's state */
    size_t len;
};

struct stet_consensus_storage {
    void *ctx;
    /* A group's durable state at start: term, vote, and the entries that remain in index order
     * (from the first one after the trim point: 1 when nothing was trimmed; entry_cb returns
     * non-zero to stop). The snapshot, if any, is read with get_snapshot after load. 0, or a
     * negative errno. */
    int (*load)(void *ctx, uint32_t group, uint64_t *term, uint64_t *vote,
                int (*entry_cb)(void *arg, uint64_t index, const struct stet_consensus_entry *e), void *arg);
    /* Staged writes, durable only once a sync that started after them completes. */
    int (*set_term_vote)(void *ctx, uint32_t group, uint64_t term, uint64_t vote);
    /* Drops the group's entries from first_index on, then appends e[0..n) at first_index. */
    int (*truncate_append)(void *ctx, uint32_t group, uint64_t first_index, const struct stet_consensus_entry *e,
                           unsigned n);
    /* Makes everything staged so far durable; done(arg, status) later from the loop, never
     * inside sync. At most one sync is in flight. */
    int (*sync)(void *ctx, void (*done)(void *arg, int status), void *arg);
    /* One entry, staged or durable: 0 found (out->data valid until the next storage call), 1 not
     * found. */
    int (*get)(void *ctx, uint32_t group, uint64_t index, struct stet_consensus_entry *out);
    /* Staged: the group's snapshot record becomes *snap (copied; replaces the stored one). */
    int (*set_snapshot)(void *ctx, uint32_t group, const struct stet_consensus_snapshot *snap);
    /* The group's snapshot record, staged or durable: 0 found (pointers valid until the next
     * storage call), 1 none, or a negative errno. */
    int (*get_snapshot)(void *ctx, uint32_t group, struct stet_consensus_snapshot *out);
    /* Staged: drops the group's entries up to index (included; at most the snapshot record's
     * index, staged before). When index >= the last index, every entry goes and the log
     * continues at index + 1 (the next truncate_append starts there). */
    int (*trim)(void *ctx, uint32_t group, uint64_t index);
};

struct stet_consensus_network {
    void *ctx;
    /* Best effort: may drop. msg is borrowed for the call. */
    void (*send)(void *ctx, uint32_t to_node, const uint8_t *msg, size_t len);
};

struct stet_consensus_app {
    void *ctx;
    /* Committed entries of a group, in index order, once each per process start (an app that
     * keeps state across restarts skips indexes it has applied). Barriers and configuration
     * entries are passed too (e->type says which). */
    void (*apply)(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e);
    /* The group's role or term changed; leader_node 0 when unknown. */
    void (*role)(void *ctx, uint32_t group, bool leader, uint64_t term, uint32_t leader_node);
    /* The group's state becomes the snapshot's, as of index (data borrowed for the call): a
     * received snapshot once it is durable, or the stored one at add_group (an app that keeps
     * its state across restarts skips it when it has applied index already). apply continues
     * at index + 1. Required once any member takes snapshots. */
    void (*install)(void *ctx, uint32_t group, uint64_t index, const uint8_t *data, size_t len);
};

struct stet_consensus_config {
    uint32_t node_id; /* 1.. */
    unsigned election_timeout_ms;  /* 0 = 300 */
    unsigned heartbeat_timeout_ms; /* 0 = election / 4 (75 ms: 25 groups idle under 1% of a core) */
    unsigned max_inflight_entries; /* 0 = 1024 */
    uint64_t seed;                 /* randomised election timeouts */
    uint64_t generation;           /* grows with every start of the node (stale messages of an
                                      earlier life are dropped by peers) */
    unsigned install_snapshot_timeout_ms; /* 0 = 4 x election timeout: a leader that sent a
                                             snapshot and heard no success sends it again after
                                             this (libraft's default, 30 s, would stall a follower
                                             whose snapshot message was lost that long) */
};

int stet_consensus_create(const struct stet_env *env, const struct stet_consensus_config *cfg,
                          const struct stet_consensus_storage *storage, const struct stet_consensus_network *net,
                          const struct stet_consensus_app *app, struct stet_consensus **out);
void stet_consensus_destroy(struct stet_consensus *c);

/* Adds group `group` with the given voters (node ids; every member passes the same list) and
 * starts it from the storage. A group with no stored state is bootstrapped: term 1 and entry 1
 * (the configuration) are written and synced first (identical on every member). */
int stet_consensus_add_group(struct stet_consensus *c, uint32_t group, const uint32_t *voters, unsigned n_voters);
/* The same, except that a group with no stored state starts after base_index in term base_term
 * (0: 1): its log continues at base_index + 1, as if a snapshot covered everything up to it (a
 * log kept elsewhere until now: a single node's partitions moving onto raft). The app's install
 * is called with base_index and no data. base_index 0 is stet_consensus_add_group. */
int stet_consensus_add_group_from(struct stet_consensus *c, uint32_t group, const uint32_t *voters, unsigned n_voters,
                                  uint64_t base_index, uint64_t base_term);

/* Appends a command to the group's log if this node leads it: 0 and *index, -EAGAIN (not the
 * leader: see stet_consensus_leader), or another negative errno. Committed later through
 * app.apply. */
int stet_consensus_submit(struct stet_consensus *c, uint32_t group, const void *data, size_t len, uint64_t *index);

/* The app's state of the group as of index (applied: index <= group_info's applied_index),
 * data copied. Staged with the next flush; once durable, libraft learns of it and the log is
 * trimmed up to index - trailing (trailing entries are kept so that a follower slightly behind
 * gets entries rather than the snapshot). 0; -EBUSY while a snapshot is being taken or installed
 * (try again later); -EINVAL for an index not applied or not above the last snapshot; -EMSGSIZE
 * for data over STET_CONSENSUS_SNAPSHOT_MAX; -ENOENT for no such group. May be called from
 * app.apply (it steps nothing), not from app.install. */
int stet_consensus_snapshot(struct stet_consensus *c, uint32_t group, uint64_t index, const void *data, size_t len,
                            unsigned trailing);

/* Hands the group's leadership to voter `to` (0: the most up-to-date other voter), libraft's
 * RAFT_TRANSFER: once `to` has every entry it gets TimeoutNow and wins the next election at
 * once; the transfer aborts after an election timeout. 0, -EAGAIN (not the leader, or a transfer
 * runs), -ENOENT (no such voter/group), -EBUSY (inside a step). */
int stet_consensus_transfer(struct stet_consensus *c, uint32_t group, uint32_t to);

/* A batch of messages from another node. Malformed ones are dropped (and the rest of a batch
 * whose framing is broken). */
void stet_consensus_receive(struct stet_consensus *c, uint32_t from_node, const uint8_t *batch, size_t len);

/* Once per loop iteration: starts the shared sync if anything is staged. */
void stet_consensus_flush(struct stet_consensus *c);

struct stet_consensus_group_info {
    bool leader;
    uint64_t term;
    uint32_t leader_node; /* 0: unknown */
    uint64_t commit_index, last_index, durable_index, applied_index;
    uint64_t snapshot_index; /* the last snapshot libraft knows of (taken, installed or loaded) */
    bool snapshot_busy;      /* one is being taken or installed (stet_consensus_snapshot: -EBUSY) */
};
/* false when the node has no such group. */
bool stet_consensus_group_info(const struct stet_consensus *c, uint32_t group, struct stet_consensus_group_info *out);

struct stet_consensus_stats {
    uint64_t steps, messages_sent, messages_received, messages_dropped, messages_held, syncs, entries_persisted;
    uint64_t batches_sent; /* network sends: the messages of one event to one peer travel together */
    uint64_t appends_split; /* AppendEntries cut short at MAX_APPEND_BYTES (a follower far behind) */
    uint64_t snapshots_taken;     /* stet_consensus_snapshot made durable and given to libraft */
    uint64_t snapshots_installed; /* received from a leader, durable and installed */
    uint64_t snapshots_sent;      /* InstallSnapshot messages sent */
    uint64_t snapshots_unsent;    /* InstallSnapshot not sent: no stored snapshot at or above the
                                     one libraft asked for (never expected) */
};
void stet_consensus_stats(const struct stet_consensus *c, struct stet_consensus_stats *out);

/* Checks a batch's encoding (what stet_consensus_receive does first); 0 or -EPROTO. For the
 * fuzzer. */
int stet_consensus_message_check(const uint8_t *batch, size_t len);

#endif
