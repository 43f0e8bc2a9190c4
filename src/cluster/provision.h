/* Provisioning: what a metadata server that holds no metadata group yet does next, decided from
 * what it knows of the metadata addresses (restate-cluster.md §2.2, design/cluster.md §4). Pure:
 * src/node/cluster.c gathers the facts (peers, their INFO answers) and carries the decision out.
 *
 * The rule that keeps a cluster from forking: a node bootstraps a new metadata group only when
 * it has auto-provision, saw its own address among the metadata addresses, and EVERY other
 * address is identified, reachable and answered that it holds no group. A single answer of a
 * group anywhere means joining that group, never making another:
 *   - a group that holds only its bootstrap configuration (last index <= 1): bootstrap the same
 *     configuration locally (identical on every member) and join;
 *   - a group with history: copy its log first (from its reachable leader; when no leader is
 *     reachable for a while, from the member with the longest log);
 *   - a group whose voters do not include this node: this node cannot be a member.
 */
#ifndef STET_CLUSTER_PROVISION_H
#define STET_CLUSTER_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STET_PROVISION_MAX_VOTERS 16

struct stet_provision_peer {
    const char *address; /* for messages (borrowed) */
    uint32_t node;       /* 0: not identified yet */
    bool self;           /* this node's own address */
    bool reachable;      /* connected and alive */
    bool answered;       /* its INFO answer below is known */
    bool has_group;
    uint32_t leader;     /* the group leader that peer knows (0: none) */
    bool leader_reachable; /* that leader is reachable from this node */
    uint64_t last_index;
    uint64_t fingerprint;
    const uint32_t *voters; /* borrowed */
    unsigned n_voters;
};

struct stet_provision_input {
    uint32_t self_id;
    bool auto_provision;
    const struct stet_provision_peer *peers;
    size_t n_peers;
    bool leaderless_wait_over; /* a group without a reachable leader was seen long enough ago */
};

enum stet_provision_action {
    STET_PROVISION_WAIT = 0,
    STET_PROVISION_JOIN_BOOTSTRAP, /* bootstrap `voters` locally and join */
    STET_PROVISION_COPY,           /* copy `source`'s log, then join with `voters` */
    STET_PROVISION_BOOTSTRAP,      /* provision: a new group with `voters` */
    STET_PROVISION_NOT_MEMBER,     /* the cluster's group (at `source`) does not include this node */
};

struct stet_provision_decision {
    enum stet_provision_action action;
    uint32_t source;      /* the peer whose answer decided (JOIN_BOOTSTRAP, COPY, NOT_MEMBER) */
    uint32_t voters[STET_PROVISION_MAX_VOTERS]; /* sorted */
    unsigned n_voters;
    uint64_t fingerprint; /* of the group joined (0: unknown) */
    bool group_seen;      /* a group exists but no reachable leader: the caller's wait starts */
    bool self_seen;
    const char *waiting_for; /* WAIT: an address still to answer (NULL: waiting for a provisioning node) */
};

void stet_provision_decide(const struct stet_provision_input *in, struct stet_provision_decision *out);

#endif
