/* The partitions of a node in a cluster (issue 15): partition logs on raft groups, leadership
 * from raft, requests routed to partition leaders on any node, answers routed back. Private to
 * src/node: cluster.c hands it the consensus callbacks and node-port frames of partition
 * groups, node.c fills the worker's log ports and the modules' propose ports with it. A single
 * node never creates it. See partitions.c for the design.
 */
#ifndef STET_NODE_PARTITIONS_H
#define STET_NODE_PARTITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "consensus/consensus.h"
#include "log/log.h"
#include "partition/partition.h"

struct stet_node;
struct stet_node_parts;

#define STET_PARTS_FIRST_GROUP 1 /* partition p is consensus group 1 + p (group 0: metadata) */
#define STET_PARTS_MAX_VOTERS 16

int stet_node_parts_create(struct stet_node *n, struct stet_node_parts **out);
/* Requests still waiting are answered -ESHUTDOWN; the raft logs' pending appends too (call
 * before the worker is destroyed). Idempotent. */
void stet_node_parts_stop(struct stet_node_parts *p);
void stet_node_parts_free(struct stet_node_parts *p);

/* The worker's log ports (stet_worker_ports append / read / durable_tail). */
int stet_node_parts_append(void *ctx, uint32_t pid, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                           uint64_t *lsn_out);
int stet_node_parts_read(void *ctx, uint32_t pid, uint64_t lsn, struct stet_buf *out);
uint64_t stet_node_parts_durable_tail(void *ctx, uint32_t pid);

/* The metadata group's voters are known (sorted): the partition groups this node is a voter of
 * are added (voters of partition p: min(n, 2r - 1) of them, rotated by p). Once. With
 * copy_missing (this node lost its data, or restarts), a group with no state here is first
 * copied from another voter: a member must never come back with a shorter log than it
 * acknowledged (libraft's leader asserts on it, and raft's safety assumes it). */
/* base / base_term (NULL: none): per partition, a log kept until now by the node's local log up
 * to base[pid] (its records applied): a group with no state starts after it (a single node
 * moving onto raft groups, stet_consensus_add_group_from). */
int stet_node_parts_start(struct stet_node_parts *p, const uint32_t *md_voters, unsigned n, bool copy_missing,
                          const uint64_t *base, const uint64_t *base_term);
/* Once per loop iteration (the node's prepare hook): read barriers, copied logs. */
void stet_node_parts_flush(struct stet_node_parts *p);

/* Consensus callbacks and node-port traffic of partition groups (from cluster.c). */
void stet_node_parts_apply(struct stet_node_parts *p, uint32_t group, uint64_t index, const struct stet_consensus_entry *e);
void stet_node_parts_role(struct stet_node_parts *p, uint32_t group, bool leader, uint64_t term, uint32_t leader_node);
/* A partition group's snapshot at index (its start after base, or a trimmed log at start): the
 * replica's own store must cover it (partition snapshots from peers are issue 17's). */
void stet_node_parts_install(struct stet_node_parts *p, uint32_t group, uint64_t index);
/* OP_PROPOSE / OP_BARRIER from another node. */
void stet_node_parts_serve(struct stet_node_parts *p, uint32_t from, uint64_t rpc, uint8_t op, const uint8_t *body,
                           size_t len);
/* A REPLY frame: true when it answered one of ours. */
bool stet_node_parts_reply(struct stet_node_parts *p, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                           size_t len);
/* A RESPONSE frame: an answer for a request this node holds. */
void stet_node_parts_response_frame(struct stet_node_parts *p, uint32_t from, const uint8_t *payload, size_t len);
void stet_node_parts_peer(struct stet_node_parts *p, uint32_t node, bool up);
/* A REPLICAS frame: another node's replicas' progress (nodeport/rpc.h); flags (the frame's group
 * field): STET_PARTS_DRAINING, the node is stopping (no leadership is moved to it). */
#define STET_PARTS_DRAINING 1u
void stet_node_parts_replicas_frame(struct stet_node_parts *p, uint32_t from, uint32_t flags, const uint8_t *payload,
                                    size_t len);

/* The modules' propose port (ingress, invocations): r goes to its partition's leader, here or
 * elsewhere; cb once (0 durable and applied there; -ENOBUFS, -EAGAIN no leader reachable,
 * -ETIMEDOUT outcome unknown, -ESHUTDOWN) when 0 is returned. */
int stet_node_parts_propose(struct stet_node_parts *p, struct stet_record *r, stet_log_append_cb cb, void *arg,
                            uint64_t *lsn_out);
/* The worker's forward port: an outbox message to a partition led elsewhere (retried: the
 * target drops duplicates). */
int stet_node_parts_forward(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg);
/* An INGRESS_RESPONSE / ADMIN_RESPONSE action whose sink is on another node. */
void stet_node_parts_respond(struct stet_node_parts *p, const struct stet_action *a);

/* Read barrier for /query: done(arg, 0) once every partition this node holds a replica of has
 * applied what its leader had committed when the call was made (or an error). */
void stet_node_parts_sync(struct stet_node_parts *p, void (*done)(void *arg, int status), void *arg);

/* Another node asks for this node's invoker tasks (OP_TASKS). */
void stet_node_parts_serve_tasks(struct stet_node_parts *p, uint32_t from, uint64_t rpc);
/* /query: the invoker tasks of the nodes leading partitions not led here are fetched (one
 * OP_TASKS per node, at most a second), then done(arg); stet_node_parts_task_info answers from
 * them until the next gather. */
void stet_node_parts_gather_tasks(struct stet_node_parts *p, void (*done)(void *arg), void *arg);
struct stet_invoker_task_info;
bool stet_node_parts_task_info(const struct stet_node_parts *p, const struct stet_invocation_id *id,
                               struct stet_invoker_task_info *out);

/* SIGTERM: transfers every partition leadership held here to another alive voter; true when
 * any transfer started. */
bool stet_node_parts_hand_off(struct stet_node_parts *p);
bool stet_node_parts_leads_any(const struct stet_node_parts *p);

struct stet_node_parts_replica {
    uint32_t node;
    bool known;    /* this node, or a REPLICAS frame from it arrived */
    uint64_t applied_lsn, durable_lsn, flushed_lsn;
    uint64_t age_ms; /* since that frame (0 for this node) */
};

struct stet_node_parts_info {
    bool member;          /* this node is a voter of the partition's group */
    bool leader;          /* raft leader here */
    bool worker_leader;   /* the partition acts here (announcement applied) */
    uint32_t leader_node; /* 0 unknown */
    uint64_t term;
    uint32_t voters[STET_PARTS_MAX_VOTERS];
    unsigned n_voters;
    uint64_t commit_index, durable_index, last_index, applied_lsn;
    uint64_t snapshot_index; /* the log is trimmed up to here */
    struct stet_node_parts_replica replicas[STET_PARTS_MAX_VOTERS]; /* one per voter, in voters' order */
};
void stet_node_parts_info(const struct stet_node_parts *p, uint32_t pid, struct stet_node_parts_info *out);

struct stet_node_parts_stats {
    uint64_t proposed_local, forwarded, forwards_served, retries, unknown_outcome, no_leader;
    uint64_t responses_sent, responses_received, leader_changes, transfers;
    uint64_t responses_lost; /* answers whose node stayed unreachable (or too many waiting) */
    uint64_t placements;     /* leaderships handed to their preferred node */
    uint64_t waiting; /* requests waiting now */
};
void stet_node_parts_stats(const struct stet_node_parts *p, struct stet_node_parts_stats *out);
/* Records committed into the partitions' raft logs here, and their bytes. */
void stet_node_parts_log_stats(const struct stet_node_parts *p, uint64_t *records, uint64_t *bytes);

#endif
