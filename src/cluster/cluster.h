/* Cluster status view: the JSON answer of GET /cluster on the admin port.
 *
 * restate-server 1.7.12 has no such route (404); the 3-node compose README promises one
 * (shared/reference/restate-cluster.md §1.6), and restatectl shows the same facts over gRPC
 * (`restatectl status`, `partitions list`, `logs list`). Stet answers with:
 *
 *   {"cluster_name": "...",
 *    "this_node": "N1",
 *    "nodes": [{"id": "N1", "generation": 3, "generational_id": "N1:3", "name": "...",
 *               "roles": ["worker", ...], "location": "", "status": "alive", "uptime_ms": N,
 *               "addresses": {"advertised": "http://127.0.0.1:5122/", "fabric": "0.0.0.0:5122",
 *                             "admin": "...", "ingress": "...", "advertised_ingress": "..."}}],
 *    "partitions": [{"id": 0, "key_range": {"start": 0, "end": N}, "log_id": 0, "leader": "N1",
 *                    "replica_set": ["N1"], "mode": "leader", "epoch": 1, "applied_lsn": N,
 *                    "durable_lsn": N, "lsn_lag": N}],
 *    "logs": [{"id": 0, "provider": "local", "sequencer": "N1", "nodeset": ["N1"],
 *              "replication": 1, "tail_lsn": N, "trim_point": N}],
 *    "metadata": {"provider": "local", "status": "member", "leader": "N1", "members": ["N1"],
 *                 "quorum": true, "term": N, "commit_index": N, "applied_index": N,
 *                 "snapshot_index": N (the log before it is compacted away),
 *                 "schema_version": N}}
 *
 * In a cluster (metadata-client.addresses set) "nodes" lists the nodes configuration with each
 * node's liveness as this node sees it ("alive" / "dead"), "metadata" is the raft group
 * ("provider": "replicated"), and each partition is its raft group: "replica_set" its voters,
 * "leader" the raft leader this node knows, "term" the raft term (the leader epoch), and
 * "replica": this node's own replica ({"node", "applied_lsn", "durable_lsn"}, null without
 * one); "replicas": every voter's replica as this node last heard of it ({"node", "applied_lsn",
 * "durable_lsn", "flushed_lsn" (covered by its last store flush), "age_ms"}, or {"node"} alone
 * when nothing was heard); "durable_lsn" is what this node has durable and committed, "commit_lsn" the commit index
 * it knows. Logs have "provider": "replicated", the leader as "sequencer" and the voters as
 * "nodeset".
 *
 * Key ranges are inclusive u64 bounds written as JSON numbers (as /query writes partition
 * keys). A node that is not the leader of a partition reports "mode": "follower" and the
 * leader it knows (null if none). With one node the lists have one node and every partition
 * is led by it; the cluster issue fills them from the replicated metadata.
 *
 * Pure: renders a caller-filled view; no I/O. All pointers are borrowed for the call.
 */
#ifndef STET_CLUSTER_H
#define STET_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

struct stet_cluster_partition {
    uint32_t id;
    uint64_t key_start, key_end; /* inclusive */
    uint32_t leader_node;        /* plain node id, 0 = no leader known */
    uint64_t epoch;
    uint64_t applied_lsn;
    uint64_t durable_lsn; /* the partition log's durable tail */
    uint64_t trim_point;  /* the partition log's trim point */
    /* a cluster: the partition's raft group (n_replicas 0: this node alone) */
    uint32_t replicas[16]; /* the group's voters */
    uint32_t n_replicas;
    uint64_t term;         /* raft term = leader epoch as this node knows it */
    uint64_t commit_lsn;   /* the commit index this node knows */
    bool replica_here;     /* this node holds a replica */
    struct stet_cluster_replica { /* per voter (replicas[i]), as its last REPLICAS frame said */
        bool known;
        uint64_t applied_lsn, durable_lsn, flushed_lsn, age_ms;
    } progress[16];
};

struct stet_cluster_node {
    uint32_t id; /* plain node id (N<id>) */
    uint32_t generation;
    const char *name;
    uint32_t roles; /* STET_ROLE_* bits (config.h) */
    const char *location;
    const char *status; /* "alive", "dead", ... */
    uint64_t uptime_ms;
    const char *advertised_address, *fabric_bind, *admin_bind, *ingress_bind, *advertised_ingress;
};

struct stet_cluster_view {
    const char *cluster_name;
    const struct stet_cluster_node *nodes;
    uint32_t n_nodes;
    uint32_t this_node; /* plain id of the answering node */
    const struct stet_cluster_partition *partitions;
    uint32_t n_partitions;
    uint32_t replication;      /* log and partition replication (node copies) */
    const char *log_provider;  /* "local" */
    const char *metadata_provider; /* "local" */
    uint64_t schema_version;   /* metadata version of the schema registry */
    /* the metadata group; metadata_members NULL: this node alone ("local") */
    const uint32_t *metadata_members;
    uint32_t n_metadata_members;
    uint32_t metadata_leader;     /* 0: none known */
    bool metadata_quorum;         /* a leader is known and a majority of the members is alive */
    const char *metadata_status;  /* "member", "joining" */
    uint64_t metadata_term, metadata_commit_index, metadata_applied_index, metadata_snapshot_index;
};

/* Appends the JSON document described above to out. */
void stet_cluster_render(struct stet_buf *out, const struct stet_cluster_view *v);

#endif
