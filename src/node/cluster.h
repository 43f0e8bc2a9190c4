/* The node in a cluster: identity, peers on the node port, the metadata raft group, provisioning
 * (see cluster.c). Private to src/node: node.c creates it when metadata-client.addresses is set,
 * routes.c reads its views. */
#ifndef STET_NODE_CLUSTER_H
#define STET_NODE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "consensus/consensus.h"
#include "http/http.h"

struct stet_node;
struct stet_np_peers;
struct stet_np_tcp;
struct stet_consensus;

struct stet_node_cluster_stats {
    uint64_t forwarded, forwards_served, requests_failed, barriers, leader_changes, refusals, log_copies_served;
    uint64_t commit_notices; /* empty commands appended so followers learn a commit at once */
    uint64_t snapshots_taken, snapshots_installed;
};

struct stet_node_cluster_info {
    bool clustered, have_group, leader, quorum;
    bool registered; /* in the nodes configuration with this start's generation */
    bool client;     /* no metadata-server role: a metadata client */
    uint32_t leader_node;
    uint64_t term, commit_index, applied_index, last_index, snapshot_index;
    uint32_t voters[16];
    unsigned n_voters;
    uint64_t fingerprint, registered_generation, incarnation;
    struct stet_node_cluster_stats stats;
};

/* Sets n->node_id, n->generation, n->md (the replicated store) and starts the peers and the
 * consensus module. 0 or a negative errno with a message in err. */
int stet_node_cluster_create(struct stet_node *n, char *err, size_t errlen);
/* Once per loop iteration (the prepare hook): batched read barriers, then the consensus sync. */
void stet_node_cluster_flush(struct stet_node *n);
/* A node-port request: takes node-to-node upgrades (true), anything else is left (false). */
bool stet_node_cluster_port_handle(struct stet_node *n, struct stet_http_request *req);
/* SIGTERM: when this node leads the metadata group, hands the leadership to an alive voter (true:
 * a transfer started; stop once stet_node_cluster_leads is false or after about a second). */
bool stet_node_cluster_hand_off(struct stet_node *n);
bool stet_node_cluster_leads(struct stet_node *n);
/* Shutdown in three steps: stop (requests fail, peers closed), destroy (consensus, transport;
 * run the loop afterwards), free (after the loop closed its handles). */
void stet_node_cluster_stop(struct stet_node *n);
void stet_node_cluster_destroy(struct stet_node *n);
void stet_node_cluster_free(struct stet_node *n);

/* For src/node/partitions.c: the consensus module, rpc ids shared with cluster.c's requests,
 * FORWARD / REPLY / any frame to a peer, and an entry of a group's log (0, 1 none, < 0). */
struct stet_consensus *stet_node_cluster_cons(struct stet_node *n);
uint64_t stet_node_cluster_new_rpc(struct stet_node *n);
int stet_node_cluster_forward(struct stet_node *n, uint32_t node, uint64_t rpc, uint8_t op, const void *body,
                              size_t len); /* 0, or the peer cannot take it now (not sent) */
void stet_node_cluster_reply(struct stet_node *n, uint32_t node, uint64_t rpc, int32_t status, const void *body,
                             size_t len);
int stet_node_cluster_send(struct stet_node *n, uint32_t node, uint8_t kind, uint32_t group, const void *payload,
                           size_t len);
/* The consensus storage (a partition log copied from a peer), and whether a sync is in flight. */
struct stet_consensus_storage stet_node_cluster_storage(struct stet_node *n);
bool stet_node_cluster_storage_syncing(struct stet_node *n);
/* The peers connected and alive now (node ids), for a node that holds no partition replica. */
size_t stet_node_cluster_alive_peers(struct stet_node *n, uint32_t *out, size_t max);
int stet_node_cluster_entry(struct stet_node *n, uint32_t group, uint64_t index, uint8_t *type, uint64_t *term,
                            struct stet_buf *out);

/* Views (all safe on a single node: n->cl NULL). */
size_t stet_node_cluster_members(void *ctx /* struct stet_node */, uint32_t *out, size_t max);
void stet_node_cluster_info(struct stet_node *n, struct stet_node_cluster_info *out);
bool stet_node_cluster_peer_alive(struct stet_node *n, uint32_t node);
const struct stet_np_peers *stet_node_cluster_peers(struct stet_node *n);
const struct stet_consensus *stet_node_cluster_consensus(struct stet_node *n);
const struct stet_np_tcp *stet_node_cluster_tcp(struct stet_node *n);

#endif
