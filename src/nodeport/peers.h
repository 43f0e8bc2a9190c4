/* Peers: this node's connections to the other nodes of the cluster, one per peer, over the
 * node port (design/cluster.md §3). Everything node-to-node travels here as frames (frame.h):
 * raft batches, forwarded requests and their replies, liveness pings.
 *
 * Model
 *   - Links: addresses to keep a connection to (the metadata-client addresses, later the
 *     advertised addresses of the nodes configuration). A link learns its node id from the
 *     peer's HELLO; a link that turns out to be this node itself (same id and generation) is
 *     marked `self` and never dialled again. A failed or lost connection is redialled after a
 *     backoff (backoff_min_ms doubling to backoff_max_ms, reset by a successful HELLO); names
 *     are resolved again on every dial (the transport does that).
 *   - Connections: outgoing ones from links, incoming ones handed over by the node
 *     (stet_np_peers_accept). Both sides send HELLO first; a HELLO with another cluster name, a
 *     different non-zero fingerprint, no common version, this node's id with another
 *     generation, or the id of a connected peer under another node name is answered with REJECT
 *     and closed (the `refused` handler hears it on both
 *     sides: a fresh node that is refused by the cluster it tries to join stops with that
 *     message).
 *   - One connection per peer: when two connections to the same peer are up (both sides dialled
 *     at once), the one dialled by the lower node id stays, on both sides without talking about
 *     it; a HELLO of a newer generation replaces the older connection (the peer restarted). A
 *     link whose peer is reachable through an incoming connection is not dialled.
 *   - Liveness: every ping_interval_ms each connection sends a PING (answered by PONG); a peer
 *     is alive while some frame arrived within dead_after_ms (a stopped process is dead within
 *     about a second though its socket stays open); a connection silent for close_after_ms is
 *     closed and redialled.
 *   - Bounded queues: a send to a connection with more than max_queue_bytes unwritten fails with
 *     -ENOBUFS (the frame is dropped: raft resends, forwarded requests time out and retry).
 *
 * Time and timers come from the env, streams from the transport port: the simulation supplies
 * both. Threading: loop thread only. Handler callbacks may call stet_np_peers_send.
 */
#ifndef STET_NODEPORT_PEERS_H
#define STET_NODEPORT_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/env.h"
#include "nodeport/frame.h"
#include "nodeport/transport.h"

struct stet_np_peers;

struct stet_np_peers_config {
    uint32_t node_id; /* this node, 1.. */
    uint64_t generation;
    const char *cluster_name; /* copied */
    const char *node_name;    /* copied: a running node's id is bound to its name */
    uint64_t fingerprint;     /* 0: not known yet (stet_np_peers_set_fingerprint) */
    size_t max_queue_bytes;   /* per connection; 0 = 16 MiB */
    unsigned ping_interval_ms; /* 0 = 100 */
    unsigned dead_after_ms;    /* 0 = 1000 */
    unsigned close_after_ms;   /* 0 = 5000 */
    unsigned hello_timeout_ms; /* 0 = 3000 */
    unsigned backoff_min_ms;   /* 0 = 50 */
    unsigned backoff_max_ms;   /* 0 = 2000 */
};

struct stet_np_peers_handler {
    void *ctx;
    /* A frame from an identified peer (not HELLO, PING, PONG or REJECT); payload borrowed. */
    void (*frame)(void *ctx, uint32_t from, uint8_t kind, uint32_t group, const uint8_t *payload, size_t len);
    /* A peer's connection came up (after HELLO) or went away. */
    void (*peer)(void *ctx, uint32_t node, bool up, uint64_t generation, uint64_t fingerprint);
    /* A HELLO was refused, by the peer (`by_peer`) or by this node; node is 0 when unknown;
     * peer_fingerprint is the fingerprint the peer's HELLO carried (0: not provisioned, or
     * unknown when by_peer). */
    void (*refused)(void *ctx, const char *address, uint32_t node, uint8_t code, const char *reason, bool by_peer,
                    uint64_t peer_fingerprint);
};

int stet_np_peers_create(const struct stet_env *env, const struct stet_np_transport *transport,
                         const struct stet_np_peers_config *cfg, const struct stet_np_peers_handler *handler,
                         struct stet_np_peers **out);
/* Closes every connection (no handler calls). */
void stet_np_peers_destroy(struct stet_np_peers *p);

/* Keeps a connection to address (duplicates ignored): 0, -EINVAL, -ENOMEM. */
int stet_np_peers_add_address(struct stet_np_peers *p, const char *address);
/* An incoming stream (from the node port's upgrade); the peers module owns it from now on. */
void stet_np_peers_accept(struct stet_np_peers *p, struct stet_np_stream *s);
/* The fingerprint this node sends and checks from now on (0: none). */
void stet_np_peers_set_fingerprint(struct stet_np_peers *p, uint64_t fingerprint);

/* Sends one frame: 0, -ENOTCONN (no connection to that node), -ENOBUFS (its queue is full). */
int stet_np_peers_send(struct stet_np_peers *p, uint32_t node, uint8_t kind, uint32_t group, const void *payload,
                       size_t len);
/* Connected, and a frame arrived within dead_after_ms. */
bool stet_np_peers_alive(const struct stet_np_peers *p, uint32_t node);

struct stet_np_peer_info {
    uint32_t node;
    bool connected, alive;
    uint64_t generation, fingerprint;
    uint64_t last_seen_ms; /* monotonic ms of the last frame, 0 = never */
    const char *address;   /* the link's address, or NULL (borrowed) */
};
/* Peers ever identified, in id order: how many were written (at most max). */
size_t stet_np_peers_list(const struct stet_np_peers *p, struct stet_np_peer_info *out, size_t max);

struct stet_np_link_info {
    const char *address; /* borrowed */
    uint32_t node;       /* 0 until a HELLO named it */
    bool self;           /* this node's own address */
    bool connected;
    uint64_t fingerprint; /* the last HELLO's */
};
size_t stet_np_peers_links(const struct stet_np_peers *p, struct stet_np_link_info *out, size_t max);

struct stet_np_peers_stats {
    uint64_t frames_sent, frames_received, bytes_sent, bytes_received;
    uint64_t frames_dropped; /* queue full */
    uint64_t connects, disconnects, rejects, protocol_errors;
};
void stet_np_peers_stats(const struct stet_np_peers *p, struct stet_np_peers_stats *out);

#endif
