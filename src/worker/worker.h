/* The worker: the partitions this node hosts (restate: crates/worker).
 *
 * For each partition the worker runs
 *   - a replica: an ordered reader of the partition's log (lsn, bytes) feeding the partition
 *     processor. The same path replays the log at start and applies new durable records later
 *     (and will apply what a follower receives); `when_applied` waiters fire as the applied
 *     LSN passes them;
 *   - the leader role, when this node leads the partition: self-proposals retried through
 *     src/worker/proposals, the timer service, the shuffle, and the processor's actions routed
 *     to the invoker (INVOKE, NOTIFY, ABORT, PAUSE) and to the response router (ingress and
 *     admin sinks).
 *
 * Leadership (per partition, at run time):
 *
 *   FOLLOWER --become_leader--> ANNOUNCING --announce applied--> LEADER --step_down--> FOLLOWER
 *
 *   become_leader picks epoch = max(epoch seen in the log, last epoch used here) + 1 and
 *   appends an ANNOUNCE_LEADER record carrying it; every record this leader appends carries the
 *   epoch, and the processor drops records of an older epoch than the last announced one (a
 *   deposed leader's late appends do nothing). Only when the announcement is applied does the
 *   partition act: the processor emits INVOKE for every INVOKED invocation, undelivered outbox
 *   messages and the earliest timer. step_down stops that at once: actions are no longer
 *   emitted, the timer service stops, queued self-proposals are dropped, and the `leadership`
 *   port tells the invoker to abort the partition's attempts. Proposals to a partition that is
 *   not led here fail with -EAGAIN.
 *
 * Everything runs on the loop thread; the worker does no I/O itself (the log and the store
 * come through its ports, time through the env).
 */
#ifndef STET_WORKER_WORKER_H
#define STET_WORKER_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/env.h"
#include "log/log.h"
#include "partition/partition.h"
#include "store/store.h"
#include "worker/waiter.h"

struct stet_worker;

struct stet_worker_ports {
    void *ctx;
    const struct stet_env *env;
    struct stet_store *store; /* the partition store */
    uint32_t num_partitions;
    /* The log: stet_log_append's contract (-ENOBUFS: try later). */
    int (*append)(void *ctx, uint32_t partition_id, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                  uint64_t *lsn_out);
    /* One durable record: 0 found (bytes replace out's), 1 not found/trimmed, 2 no record at this
     * LSN (a raft log's own entry, src/log/raftlog.h: skipped), < 0 error. */
    int (*read)(void *ctx, uint32_t partition_id, uint64_t lsn, struct stet_buf *out);
    uint64_t (*durable_tail)(void *ctx, uint32_t partition_id);
    /* Where the processors' actions go: INVOKE/NOTIFY/ABORT/PAUSE to the invoker, and
     * INGRESS_RESPONSE/ADMIN_RESPONSE to whoever holds the sink's request. */
    void (*invoker_action)(void *ctx, const struct stet_action *a);
    void (*respond)(void *ctx, const struct stet_action *a);
    /* The partition's leadership here ended (false) or its announcement was applied (true). */
    void (*leadership)(void *ctx, uint32_t partition_id, bool leader);
    /* Optional (a cluster node): an outbox message for a partition not led here goes to its
     * leader on another node (r is borrowed for the call: copy it). cb runs once: 0 durable
     * there, < 0 not delivered (it stays in the outbox for the next leader); never when < 0 is
     * returned. Without it, such a delivery is refused (-EAGAIN). */
    int (*forward)(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg);
    /* Optional (a cluster node): an INGRESS_RESPONSE / ADMIN_RESPONSE a follower's replica
     * emitted (every replica applies the same committed records): deliver it only if this node
     * holds the request. Covers a completion that a new leader committed before its
     * announcement, which no leader answers. */
    void (*respond_replica)(void *ctx, const struct stet_action *a);
};

/* Creates the partitions and replays each log from its applied LSN to its durable tail (as
 * followers). Returns 0 or a negative errno with a message in err. */
int stet_worker_create(const struct stet_worker_ports *ports, struct stet_worker **out, char *err, size_t errlen);
/* Drops queued proposals (their callbacks get -ESHUTDOWN), then frees. The log must have no
 * append of the worker in flight (drain it first). */
void stet_worker_destroy(struct stet_worker *w);
/* Drops what waits in the retry queue (shutdown: nothing new is proposed afterwards). */
void stet_worker_stop(struct stet_worker *w);

/* New durable records in partition_id's log (the log's durable callback): apply them. */
int stet_worker_log_durable(struct stet_worker *w, uint32_t partition_id);

int stet_worker_become_leader(struct stet_worker *w, uint32_t partition_id);
/* The same with a given epoch (a raft-led partition: its raft term, which every node agrees on
 * without having applied the previous leader's announcement yet); 0 picks one as above.
 * -ESTALE when epoch is not above every epoch this partition has seen or used. */
int stet_worker_become_leader_at(struct stet_worker *w, uint32_t partition_id, uint64_t epoch);
void stet_worker_step_down(struct stet_worker *w, uint32_t partition_id);
/* LEADER (announcement applied). */
bool stet_worker_is_leader(const struct stet_worker *w, uint32_t partition_id);
/* The epoch this node leads (or last led) the partition with; 0 if never. */
uint64_t stet_worker_epoch(const struct stet_worker *w, uint32_t partition_id);

/* Appends r to the log of the partition owning r->id.partition_key, stamped with the
 * timestamp (if 0) and the partition's leader epoch. cb (may be NULL) runs once durable.
 * Returns 0, -EAGAIN (the partition is not led here), -ENOBUFS (the log is full: try later),
 * -ESHUTDOWN, or another negative errno. */
int stet_worker_propose(struct stet_worker *w, struct stet_record *r, stet_log_append_cb cb, void *arg,
                        uint64_t *lsn_out) __attribute__((warn_unused_result));
/* The same, for records whose loss would lose work (self-proposals): a full log is retried
 * (see proposals.h); *lsn_out is 0 when the record was queued. */
int stet_worker_propose_retried(struct stet_worker *w, struct stet_record *r, stet_log_append_cb cb, void *arg,
                                uint64_t *lsn_out) __attribute__((warn_unused_result));
/* stet_proposals_settled for the partition. */
bool stet_worker_settled(const struct stet_worker *w, uint32_t partition_id, uint64_t *last_lsn);

uint64_t stet_worker_applied_lsn(const struct stet_worker *w, uint32_t partition_id);

/* when_applied: waiter->cb runs (from the apply path, once) when partition_id's applied LSN
 * reaches lsn; at once (before returning) if it already has. The waiter is embedded in the
 * caller's memory and must stay valid until it fired or was cancelled (src/worker/waiter.h). */
void stet_worker_when_applied(struct stet_worker *w, uint32_t partition_id, uint64_t lsn,
                              struct stet_applied_waiter *waiter, stet_applied_cb cb, void *arg);
/* No-op when the waiter is not armed. */
void stet_worker_waiter_cancel(struct stet_worker *w, struct stet_applied_waiter *waiter);
/* The same two as a port for other modules (ctx = the worker). */
struct stet_applied_port stet_worker_applied_port(struct stet_worker *w);

/* For metrics, /cluster and /query (borrowed). */
struct stet_partition *stet_worker_partition(const struct stet_worker *w, uint32_t partition_id);

struct stet_worker_stats {
    uint64_t records_dropped_stale; /* records of an older epoch, skipped by the processors */
    uint64_t proposals_queued, proposals_retried;
    uint64_t shuffle_delivered, shuffle_lost;
};
void stet_worker_stats(const struct stet_worker *w, struct stet_worker_stats *out);

/* Asserts the worker's invariants (leadership states, waiter lists sorted and above the
 * applied LSN, the proposer's queue); for tests and the simulator. */
void stet_worker_check(const struct stet_worker *w);

#endif
