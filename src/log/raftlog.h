/* Partition logs on raft groups (issue 15, first piece; not wired into the node yet): the same
 * per-log append / read / durable tail / durable callback that src/log/local.c gives the worker,
 * where each log IS a raft group's log (design/cluster.md §2: "the partition's log is its raft
 * log"). Log id L is consensus group first_group + L.
 *
 * LSN = raft index. Not every index holds a record: the bootstrap configuration (index 1), a new
 * leader's barrier and later configuration changes are raft's own entries; `read` answers 2 for
 * them and the reader skips them (the worker's replica does). So LSNs of records grow strictly but
 * are not dense.
 *
 * Durability = commitment: an index is readable (durable_tail) once it is committed and durable
 * on this node (the consensus module hands it to `committed` then, on every member: followers
 * read the same records in the same order). An append is possible only on the group's leader; its
 * callback runs when its index is committed: status 0 when the entry committed there is the one
 * appended (same term), -ECANCELED when another leader's entry took that index (the append
 * was lost with a leadership change: nothing was acknowledged for it). An append whose index is
 * never committed waits (a minority leader); destroy answers the rest with -ESHUTDOWN.
 *
 * Order: for each committed index, the durable tail moves first, then durable_cb, then the
 * append callback of that index, as the local log does.
 *
 * Ports: submit and get are the consensus module's (stet_consensus_submit and its storage's get);
 * the node fills them in, a test wires its own.
 */
#ifndef STET_LOG_RAFTLOG_H
#define STET_LOG_RAFTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "log/log.h"

struct stet_raftlog;

struct stet_raftlog_ports {
    void *ctx;
    /* Appends a command to the group's raft log on its leader: 0 with its index and the leader's
     * term, -EAGAIN when this node does not lead the group, another negative errno. */
    int (*submit)(void *ctx, uint32_t group, const void *data, size_t len, uint64_t *index, uint64_t *term);
    /* Entry `index` of the group: 0 with *type (STET_CONSENSUS_*) and its bytes appended to out
     * (reset first), 1 when the group holds no such entry (compacted, or beyond its log). */
    int (*get)(void *ctx, uint32_t group, uint64_t index, uint8_t *type, uint64_t *term, struct stet_buf *out);
};

/* n_logs logs on groups first_group .. first_group + n_logs - 1. durable_cb may be NULL. */
int stet_raftlog_create(const struct stet_raftlog_ports *ports, uint32_t n_logs, uint32_t first_group,
                        stet_log_durable_cb durable_cb, void *durable_arg, struct stet_raftlog **out);
/* Pending appends get -ESHUTDOWN. */
void stet_raftlog_destroy(struct stet_raftlog *l);

/* On the group's leader: 0 with *lsn_out (may be NULL), cb later (see above); -EAGAIN (not the
 * leader: nothing appended, cb never runs), -ENOENT (no such log), other negative errno. */
int stet_raftlog_append(struct stet_raftlog *l, uint32_t log_id, const void *rec, size_t len, stet_log_append_cb cb,
                        void *arg, uint64_t *lsn_out) __attribute__((warn_unused_result));
/* A committed index: 0 a record (bytes replace out's), 1 not found (beyond the durable tail or
 * compacted), 2 not a record (raft's own entry: skip it), < 0 error. */
int stet_raftlog_read(struct stet_raftlog *l, uint32_t log_id, uint64_t lsn, struct stet_buf *out);
uint64_t stet_raftlog_durable_tail(const struct stet_raftlog *l, uint32_t log_id);

/* The consensus app's apply for the groups of these logs: index committed and durable here, of
 * the given term and type, its bytes (borrowed for the call: a read of this index from the
 * durable callback takes them instead of asking the storage again). Other groups are ignored. */
void stet_raftlog_committed(struct stet_raftlog *l, uint32_t group, uint64_t index, uint64_t term, uint8_t type,
                            const uint8_t *data, size_t len);

/* The consensus app's install for these groups: the log's entries up to index are covered by a
 * snapshot (a log that continues one kept elsewhere, or a trimmed log at start): the durable
 * tail becomes index, nothing is read below it. Pending appends at or below it are answered
 * -ECANCELED. */
void stet_raftlog_install(struct stet_raftlog *l, uint32_t group, uint64_t index);

struct stet_raftlog_stats {
    uint64_t appends, appends_committed, appends_cancelled, not_leader;
    uint64_t records, record_bytes; /* records committed (and durable) here, any node's */
};
void stet_raftlog_stats(const struct stet_raftlog *l, struct stet_raftlog_stats *out);

#endif
