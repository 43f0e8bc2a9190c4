/* The node in a cluster (issue 12): identity, the node port's peer connections, the metadata
 * raft group and the replicated metadata store over it, forwarding to the metadata leader, and
 * provisioning. Part of the node's wiring (it fills in the ports of src/nodeport, src/consensus
 * and src/metadata/replicated.c); only used when metadata-client.addresses is set. A single node
 * with default settings never creates any of this and keeps its local metadata store.
 *
 * Identity ('N' "identity" in the node's store, JSON, written with a sync): node name, node id,
 * cluster name, the node generation (bumped at every start), and once known the cluster
 * fingerprint and the metadata group's voters. A data directory of another node, cluster name
 * or node id is refused at start with a message that says what to change.
 *
 * Node ids: force-node-id, or the position of advertised-address in the metadata addresses.
 * Every node of the metadata-client list is a voter of the metadata group (group 0).
 *
 * Provisioning (restate-cluster.md §2.2, design/cluster.md §4):
 *   1. A node that is not yet a member asks every metadata address (OP_INFO) whether it holds
 *      the metadata group. If one does, it adopts that group's voters (bootstrapping the same
 *      configuration locally) and catches up from the leader: a wiped node rejoins, it never
 *      forks a second cluster.
 *   2. If none does, the node with auto-provision bootstraps the group once EVERY metadata
 *      address answered that it holds none (so more than a majority), with all their ids as
 *      voters. The others adopt it through step 1.
 *   3. Once the group has a leader, the provisioning node writes the nodes configuration (with a
 *      random cluster fingerprint), the partition table and the log layout with conditional
 *      puts expecting version 0: if two nodes race, one wins, the other's put fails and it
 *      takes what is stored.
 *   4. Every node then registers itself in the nodes configuration (name, id, generation,
 *      address, roles) with a read-modify-write; a node whose id is registered under another
 *      name (or whose name is registered under another id), or whose cluster name differs from
 *      the stored one, stops with a message.
 *
 * Metadata requests (the replicated store's submit and read_index ports): on the leader they go
 * straight to the group; elsewhere they are forwarded (FORWARD frame, OP_SUBMIT / OP_READ_INDEX)
 * to the leader and its answer comes back as a REPLY frame. Without a known leader a request
 * waits (up to SUBMIT_WAIT_MS) for an election; with fewer than a majority of the voters alive
 * it fails at once with -EAGAIN (the admin API answers 503). Read barriers are batched: one
 * empty command per loop iteration answers every read waiting on the leader, once it is applied
 * in the term it was submitted in.
 *
 * Followers learn a commit index only from the leader's next AppendEntries: once an entry a
 * follower waits for (its forwarded put, its read barrier) is applied on the leader, the leader
 * appends one empty command at the next flush, which carries the new commit index at once.
 *
 * Snapshots: every SNAPSHOT_INTERVAL applied entries the metadata copy is serialized
 * (stet_metadata_replicated_snapshot) and handed to the consensus module, which trims the log
 * behind it; a member behind the trimmed log installs it (cons_install).
 *
 * The payloads of FORWARD / REPLY frames are src/nodeport/rpc.h's (fuzzed): SUBMIT, READ_INDEX,
 * INFO, LOG_COPY, and a metadata client's MD_PUT / MD_READ.
 *
 * Joining with no state: a member that lost its data (or never had any) must not answer the
 * leader with a log shorter than what it acknowledged before: libraft's leader asserts on that
 * (progressMaybeDecrement), and raft's safety assumes a vote is never forgotten. So a node that
 * adopts a group whose log is longer than the bootstrap entry first copies the leader's
 * snapshot and the entries after it (LOG_COPY; from another member when no leader is reachable
 * for NO_LEADER_COPY_MS: the next leader then starts its progress tracking from scratch), takes
 * the source's term with its vote for the source, and only then starts the group.
 *
 * Metadata clients (nodes without the metadata-server role): n->md is src/metadata/remote.c; its
 * requests go to any alive member (MD_PUT: the member puts through its own store and answers
 * with the outcome; MD_READ: the member passes its read barrier and answers with every key).
 *
 * SIGTERM (stet_node_cluster_hand_off): the metadata leader transfers its leadership to an alive
 * voter first; the node stops once another node leads (or after about a second).
 */
#include "node/cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/provision.h"
#include "common/assert.h"
#include "common/log.h"
#include "consensus/consensus.h"
#include "consensus/store.h"
#include "json/json.h"
#include "metadata/remote.h"
#include "metadata/replicated.h"
#include "nodeport/frame.h"
#include "nodeport/peers.h"
#include "nodeport/rpc.h"
#include "nodeport/transport_tcp.h"
#include "node/node_internal.h"
#include "node/partitions.h"

#define MOD "cluster"
#define MD_GROUP 0
#define MAX_VOTERS STET_NP_MAX_VOTERS
#define TICK_MS 100
#define RPC_TIMEOUT_MS 1500
#define SUBMIT_WAIT_MS 3000
#define INFO_INTERVAL_MS 100
#define WAIT_LOG_MS 5000
#define SNAPSHOT_INTERVAL 500 /* metadata entries between snapshots */
#define SNAPSHOT_TRAILING 100 /* entries kept behind a snapshot */
#define NO_LEADER_COPY_MS 1000 /* without a reachable leader, copy a member's log after this */

enum {
    OP_MD_PUT = STET_NP_OP_MD_PUT,
    OP_MD_READ = STET_NP_OP_MD_READ,
    OP_SUBMIT = STET_NP_OP_SUBMIT,
    OP_READ_INDEX = STET_NP_OP_READ_INDEX,
    OP_INFO = STET_NP_OP_INFO,
    OP_LOG_COPY = STET_NP_OP_LOG_COPY,
};

static const char IDENTITY_KEY[] = {'N', 'i', 'd', 'e', 'n', 't', 'i', 't', 'y'};

/* A metadata request of this node: waiting for a leader, forwarded, or on the local leader. */
struct mreq {
    struct mreq *next;
    bool read;             /* read_index, else submit */
    struct stet_buf cmd;   /* submit: the command */
    uint64_t deadline;     /* give up waiting for a leader */
    uint64_t rpc;          /* forwarded: the rpc id (0: not in flight) */
    uint32_t rpc_node;
    uint64_t rpc_deadline;
    stet_metadata_replicated_done done;
    void *arg;
};

/* A metadata client's request (a node without the metadata-server role): sent to one alive
 * member at a time; READs move on to the next member on -EAGAIN or silence, PUTs only on
 * -EAGAIN (a silent member may have taken the put: its outcome is unknown). */
struct creq {
    struct creq *next;
    uint8_t op;
    struct stet_buf body;
    uint64_t deadline;
    uint64_t rpc; /* 0: not in flight */
    uint32_t node;
    uint64_t rpc_deadline;
    stet_metadata_remote_done done;
    void *arg;
};

/* A read barrier on the leader: answered once the barrier at `index` is applied. */
struct barrier_waiter {
    struct barrier_waiter *next;
    uint64_t term, index; /* index 0: no barrier submitted yet */
    struct mreq *local;   /* this node's request, or */
    uint32_t node;        /* a forwarded one: reply to node / rpc */
    uint64_t rpc;
};

struct info {
    uint32_t node;
    bool answered, has_group;
    uint32_t leader;     /* the leader that node knows (0: none) */
    uint64_t last_index; /* of its copy of the group's log */
    uint64_t fingerprint;
    uint32_t voters[MAX_VOTERS];
    unsigned n_voters;
    uint64_t asked_ms;
    uint64_t rpc;
};

struct stet_node_cluster {
    struct stet_node *n;
    const struct stet_env *env;
    uint64_t incarnation; /* HELLO and consensus generation: grows across restarts, even wiped */
    struct stet_np_tcp *tcp;
    struct stet_np_transport tr;
    struct stet_np_peers *peers;
    struct stet_consensus_store *cstore;
    struct stet_consensus *cons;
    struct stet_env_timer *timer;
    struct stet_env_timer *route_timer; /* routes requests outside consensus callbacks */
    /* identity */
    uint64_t fingerprint;
    uint32_t voters[MAX_VOTERS];
    unsigned n_voters;
    bool have_group;
    /* the metadata group */
    bool leader;
    uint64_t term;
    uint32_t leader_node;
    uint64_t applied;
    /* requests */
    struct mreq *reqs;
    struct barrier_waiter *barriers;
    bool client;          /* no metadata-server role: n->md is the metadata client */
    struct creq *creqs;   /* the client's requests */
    uint32_t last_member; /* the member that answered last */
    uint64_t last_refresh_ms;
    /* Followers learn a new commit index only with the leader's next AppendEntries (libraft
     * sends none when the commit index alone moves: a heartbeat later). A follower waiting for
     * an entry it forwarded (a put, a read barrier) would wait up to a heartbeat; so once such an
     * entry is applied here, the leader appends one empty command, whose AppendEntries carries
     * the new commit index at once. */
    uint64_t notify_index; /* an entry a follower waits for (0: none) */
    bool notify_due;
    uint64_t next_rpc;
    /* provisioning */
    struct info infos[MAX_VOTERS * 2];
    unsigned n_infos;
    bool provisioning;        /* our nodes configuration put is in flight */
    bool provisioned_tables;  /* partition table and log layout written (or found) */
    bool registering, registered;
    uint64_t registered_generation;
    uint64_t last_wait_log_ms;
    uint64_t last_refusal_log_ms;
    uint64_t started_ms;
    uint64_t copy_rpc; /* OP_LOG_COPY in flight */
    uint32_t copy_node;
    uint64_t copy_asked_ms;
    uint64_t group_seen_ms; /* first saw a member without a reachable leader */
    bool installing;   /* the copied log is being synced */
    bool md_copied;    /* this start copied the metadata log: this node lost its data (partition
                          logs are copied too before their groups start) */
    uint32_t copy_voters[MAX_VOTERS];
    unsigned copy_n_voters;
    bool fatal;
    struct stet_node_cluster_stats stats;
    struct stet_buf scratch;
};

static uint64_t mono(const struct stet_node_cluster *cl) { return stet_env_monotonic_ms(cl->env); }

static void fatal(struct stet_node_cluster *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(struct stet_node_cluster *cl, const char *fmt, ...) {
    if (cl->fatal) return;
    cl->fatal = true;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    stet_error(MOD, "%s", msg);
    fprintf(stderr, "stet: %s\n", msg);
    cl->n->exit_code = 1;
    cl->n->stopping = true;
    uv_stop(&cl->n->loop);
}

/* ---- identity ---------------------------------------------------------------------------- */

static int identity_write(struct stet_node_cluster *cl) {
    struct stet_node *n = cl->n;
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "node_name");
    stet_json_write_string(&w, n->cfg->node_name);
    stet_json_key(&w, "node_id");
    stet_json_write_uint(&w, n->node_id);
    stet_json_key(&w, "cluster_name");
    stet_json_write_string(&w, n->cfg->cluster_name);
    stet_json_key(&w, "generation");
    stet_json_write_uint(&w, n->generation);
    stet_json_key(&w, "incarnation");
    stet_json_write_uint(&w, cl->incarnation);
    stet_json_key(&w, "fingerprint");
    stet_json_write_uint(&w, cl->fingerprint);
    stet_json_key(&w, "voters");
    stet_json_begin_array(&w);
    for (unsigned i = 0; i < cl->n_voters; i++) stet_json_write_uint(&w, cl->voters[i]);
    stet_json_end_array(&w);
    stet_json_end_object(&w);
    struct stet_store_batch batch;
    stet_store_batch_init(&batch);
    stet_store_batch_put(&batch, IDENTITY_KEY, sizeof(IDENTITY_KEY), b.data, b.len);
    int rc = stet_store_write(n->store, &batch, STET_STORE_WRITE_SYNC);
    stet_store_batch_free(&batch);
    stet_buf_free(&b);
    return rc;
}

/* Reads and checks the stored identity, bumps the generation. */
static int identity_load(struct stet_node_cluster *cl, char *err, size_t errlen) {
    struct stet_node *n = cl->n;
    const struct stet_config *c = n->cfg;
    struct stet_buf v = STET_BUF_INIT;
    int rc = stet_store_get(n->store, IDENTITY_KEY, sizeof(IDENTITY_KEY), &v);
    uint64_t generation = 0, incarnation = 0;
    if (rc < 0) {
        snprintf(err, errlen, "cannot read the node identity from %s: %s", c->data_dir, strerror(-rc));
        goto out;
    }
    if (rc == 1) {
        /* a data directory a single node wrote (local metadata) cannot join a cluster as is */
        struct stet_buf probe = STET_BUF_INIT;
        static const char schema_key[] = {'M', 's', 'c', 'h', 'e', 'm', 'a'};
        int prc = stet_store_get(n->store, schema_key, sizeof(schema_key), &probe);
        stet_buf_free(&probe);
        if (prc == 0) {
            snprintf(err, errlen,
                     "the data directory %s holds a single-node Stet (its own metadata); a cluster node needs a "
                     "fresh data directory (or remove metadata-client.addresses to run it alone)",
                     c->data_dir);
            rc = -EEXIST;
            goto out;
        }
        rc = 0;
    } else {
        struct stet_json *j = NULL;
        char perr[128];
        rc = stet_json_parse((const char *)v.data, v.len, &j, perr, sizeof(perr));
        if (rc != 0) {
            snprintf(err, errlen, "the node identity in %s is damaged (%s)", c->data_dir, perr);
            rc = -EIO;
            goto out;
        }
        const char *name = stet_json_string(stet_json_object_get(j, "node_name"), NULL);
        const char *cname = stet_json_string(stet_json_object_get(j, "cluster_name"), NULL);
        uint64_t id = 0, fp = 0;
        stet_json_uint64(stet_json_object_get(j, "node_id"), &id);
        stet_json_uint64(stet_json_object_get(j, "generation"), &generation);
        stet_json_uint64(stet_json_object_get(j, "incarnation"), &incarnation);
        stet_json_uint64(stet_json_object_get(j, "fingerprint"), &fp);
        rc = 0;
        if (name && strcmp(name, c->node_name) != 0) {
            snprintf(err, errlen,
                     "the data directory %s belongs to node '%s' (N%" PRIu64 "), not to '%s': use that node's "
                     "node-name, or another base-dir",
                     c->data_dir, name, id, c->node_name);
            rc = -EINVAL;
        } else if (id != 0 && id != n->node_id) {
            snprintf(err, errlen,
                     "the data directory %s belongs to node N%" PRIu64 ", but this node is configured as N%u: set "
                     "force-node-id to %" PRIu64 " (or use a fresh data directory)",
                     c->data_dir, id, n->node_id, id);
            rc = -EINVAL;
        } else if (cname && strcmp(cname, c->cluster_name) != 0) {
            snprintf(err, errlen,
                     "the data directory %s belongs to cluster '%s', but cluster-name is '%s': set cluster-name "
                     "(RESTATE_CLUSTER_NAME) to '%s' (or use a fresh data directory)",
                     c->data_dir, cname, c->cluster_name, cname);
            rc = -EINVAL;
        }
        cl->fingerprint = fp;
        const struct stet_json *vs = stet_json_object_get(j, "voters");
        for (size_t i = 0; i < stet_json_array_len(vs) && cl->n_voters < MAX_VOTERS; i++) {
            uint64_t x = 0;
            if (stet_json_uint64(stet_json_array_at(vs, i), &x) && x > 0 && x <= UINT32_MAX)
                cl->voters[cl->n_voters++] = (uint32_t)x;
        }
        stet_json_free(j);
        if (rc != 0) goto out;
    }
    n->generation = (uint32_t)(generation + 1);
    /* milliseconds of the wall clock, never below the last one: a restarted (even wiped) node's
     * messages are newer than those of its earlier lives */
    uint64_t now = stet_env_now_ms(cl->env) * 1000 + stet_env_random(cl->env) % 1000;
    cl->incarnation = now > incarnation ? now : incarnation + 1;
    rc = identity_write(cl);
    if (rc != 0) snprintf(err, errlen, "cannot write the node identity in %s: %s", c->data_dir, strerror(-rc));
out:
    stet_buf_free(&v);
    return rc;
}

/* ---- requests to the metadata group ---------------------------------------------------------- */

static bool quorum_alive(const struct stet_node_cluster *cl) {
    if (cl->peers == NULL) return false; /* stopping */
    unsigned alive = 0;
    for (unsigned i = 0; i < cl->n_voters; i++)
        if (cl->voters[i] == cl->n->node_id || stet_np_peers_alive(cl->peers, cl->voters[i])) alive++;
    return cl->n_voters > 0 && alive * 2 > cl->n_voters;
}

static void mreq_finish(struct stet_node_cluster *cl, struct mreq *r, int status, uint64_t index) {
    for (struct mreq **pp = &cl->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (status != 0) cl->stats.requests_failed++;
    stet_metadata_replicated_done done = r->done;
    void *arg = r->arg;
    stet_buf_free(&r->cmd);
    free(r);
    done(arg, status, index);
}

static void send_forward(struct stet_node_cluster *cl, uint32_t node, uint64_t rpc, uint8_t op, const void *body,
                         size_t len) {
    if (!cl->peers) return;
    stet_buf_reset(&cl->scratch);
    stet_np_forward_encode(&cl->scratch, rpc, op, body, len);
    (void)stet_np_peers_send(cl->peers, node, STET_NP_FORWARD, MD_GROUP, cl->scratch.data, cl->scratch.len);
}

static void send_reply(struct stet_node_cluster *cl, uint32_t node, uint64_t rpc, int32_t status, const void *body,
                       size_t len) {
    if (!cl->peers) return;
    struct stet_buf b = STET_BUF_INIT;
    stet_np_reply_encode(&b, rpc, status, body, len);
    (void)stet_np_peers_send(cl->peers, node, STET_NP_REPLY, MD_GROUP, b.data, b.len);
    stet_buf_free(&b);
}

static void barrier_add(struct stet_node_cluster *cl, struct mreq *local, uint32_t node, uint64_t rpc) {
    struct barrier_waiter *w = calloc(1, sizeof(*w));
    STET_ASSERT(w != NULL);
    w->term = cl->term;
    w->local = local;
    w->node = node;
    w->rpc = rpc;
    w->next = cl->barriers;
    cl->barriers = w;
}

static void barrier_answer(struct stet_node_cluster *cl, struct barrier_waiter *w, int status) {
    if (w->local) {
        mreq_finish(cl, w->local, status, status == 0 ? w->index : 0);
    } else {
        if (status == 0) cl->notify_due = cl->leader; /* the follower applies the barrier next */
        uint8_t idx[8];
        stet_store_u64be(idx, w->index);
        send_reply(cl, w->node, w->rpc, status, status == 0 ? idx : NULL, status == 0 ? 8 : 0);
    }
    free(w);
}

static void barriers_fail_all(struct stet_node_cluster *cl) {
    while (cl->barriers) {
        struct barrier_waiter *w = cl->barriers;
        cl->barriers = w->next;
        barrier_answer(cl, w, -EAGAIN);
    }
}

/* Tries to move one request forward. */
static void mreq_route(struct stet_node_cluster *cl, struct mreq *r) {
    if (r->rpc != 0) return; /* forwarded, waiting for the reply */
    if (!cl->have_group || !quorum_alive(cl)) {
        mreq_finish(cl, r, -EAGAIN, 0);
        return;
    }
    if (cl->leader) {
        if (r->read) {
            barrier_add(cl, r, 0, 0);
            r->rpc = UINT64_MAX; /* owned by the barrier waiter now */
            return;
        }
        uint64_t index = 0;
        int rc = stet_consensus_submit(cl->cons, MD_GROUP, r->cmd.data, r->cmd.len, &index);
        if (rc == -EAGAIN) return; /* lost leadership just now: wait for the next leader */
        mreq_finish(cl, r, rc, index);
        return;
    }
    if (cl->leader_node != 0 && cl->leader_node != cl->n->node_id &&
        stet_np_peers_alive(cl->peers, cl->leader_node)) {
        r->rpc = ++cl->next_rpc;
        r->rpc_node = cl->leader_node;
        r->rpc_deadline = mono(cl) + RPC_TIMEOUT_MS;
        cl->stats.forwarded++;
        send_forward(cl, r->rpc_node, r->rpc, r->read ? OP_READ_INDEX : OP_SUBMIT, r->cmd.data, r->cmd.len);
        return;
    }
    if (mono(cl) >= r->deadline) mreq_finish(cl, r, -EAGAIN, 0);
}

static void mreqs_route_all(struct stet_node_cluster *cl) {
    struct mreq *r = cl->reqs;
    while (r) {
        struct mreq *next = r->next;
        mreq_route(cl, r);
        r = next;
    }
}

static void mreq_new(struct stet_node_cluster *cl, bool read, const void *data, size_t len,
                     stet_metadata_replicated_done done, void *arg) {
    if (cl->route_timer == NULL) { /* stopping */
        done(arg, -ESHUTDOWN, 0);
        return;
    }
    struct mreq *r = calloc(1, sizeof(*r));
    STET_ASSERT(r != NULL);
    r->read = read;
    stet_buf_init(&r->cmd);
    if (len) stet_buf_append(&r->cmd, data, len);
    r->deadline = mono(cl) + SUBMIT_WAIT_MS;
    r->done = done;
    r->arg = arg;
    r->next = cl->reqs;
    cl->reqs = r;
    /* never inline: a put may come from inside a consensus callback (an apply answering a put
     * whose caller puts again), and libraft cannot take a submission during a step */
    stet_env_timer_start(cl->env, cl->route_timer, 0);
}

static void creqs_route_all(struct stet_node_cluster *cl);
static void route_cb(void *arg) {
    mreqs_route_all(arg);
    creqs_route_all(arg);
}

static void md_submit(void *ctx, const void *data, size_t len, stet_metadata_replicated_done done, void *arg) {
    mreq_new(ctx, false, data, len, done, arg);
}

static void md_read_index(void *ctx, stet_metadata_replicated_done done, void *arg) {
    mreq_new(ctx, true, NULL, 0, done, arg);
}

/* ---- the metadata client (no metadata-server role) ----------------------------------------------- */

static void creq_finish(struct stet_node_cluster *cl, struct creq *r, int status, const uint8_t *body, size_t len) {
    for (struct creq **pp = &cl->creqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (status != 0) cl->stats.requests_failed++;
    r->done(r->arg, status, body, len);
    stet_buf_free(&r->body);
    free(r);
}

/* An alive member to ask: the last one that answered, else the first alive metadata address. */
static uint32_t pick_member(struct stet_node_cluster *cl, uint32_t avoid) {
    if (cl->last_member && cl->last_member != avoid && stet_np_peers_alive(cl->peers, cl->last_member))
        return cl->last_member;
    struct stet_np_link_info links[MAX_VOTERS * 2];
    size_t nl = stet_np_peers_links(cl->peers, links, sizeof(links) / sizeof(links[0]));
    for (size_t i = 0; i < nl; i++)
        if (links[i].node && links[i].node != avoid && !links[i].self && stet_np_peers_alive(cl->peers, links[i].node))
            return links[i].node;
    return 0;
}

static void creq_route(struct stet_node_cluster *cl, struct creq *r) {
    uint64_t now = mono(cl);
    if (r->rpc != 0) {
        if (now < r->rpc_deadline) return;
        if (r->op == OP_MD_PUT) { /* silence after a put: it may have happened */
            creq_finish(cl, r, -ETIMEDOUT, NULL, 0);
            return;
        }
        r->rpc = 0; /* a read: ask another member */
    }
    if (now >= r->deadline) {
        creq_finish(cl, r, -EAGAIN, NULL, 0);
        return;
    }
    uint32_t m = pick_member(cl, r->node);
    if (m == 0) m = pick_member(cl, 0);
    if (m == 0) {
        creq_finish(cl, r, -EAGAIN, NULL, 0); /* no metadata server reachable */
        return;
    }
    r->node = m;
    r->rpc = ++cl->next_rpc;
    r->rpc_deadline = now + (r->op == OP_MD_PUT ? 2 * SUBMIT_WAIT_MS : RPC_TIMEOUT_MS);
    cl->stats.forwarded++;
    send_forward(cl, m, r->rpc, r->op, r->body.data, r->body.len);
}

static void creqs_route_all(struct stet_node_cluster *cl) {
    for (struct creq *r = cl->creqs, *next; r; r = next) {
        next = r->next;
        creq_route(cl, r);
    }
}

static void client_request(void *ctx, uint8_t op, const void *body, size_t len, stet_metadata_remote_done done,
                           void *arg) {
    struct stet_node_cluster *cl = ctx;
    struct creq *r = calloc(1, sizeof(*r));
    STET_ASSERT(r != NULL);
    r->op = op == STET_MD_REMOTE_PUT ? OP_MD_PUT : OP_MD_READ;
    stet_buf_init(&r->body);
    if (len) stet_buf_append(&r->body, body, len);
    r->deadline = mono(cl) + SUBMIT_WAIT_MS;
    r->done = done;
    r->arg = arg;
    r->next = cl->creqs;
    cl->creqs = r;
    if (cl->route_timer) stet_env_timer_start(cl->env, cl->route_timer, 0); /* never inline */
}

/* The answer to a client's request, by rpc id: true when it was one. */
static bool creq_reply(struct stet_node_cluster *cl, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                       size_t len) {
    for (struct creq *r = cl->creqs; r; r = r->next) {
        if (r->rpc != rpc || r->node != from) continue;
        r->rpc = 0;
        if (status == -EAGAIN) return true; /* that member has no leader: the next tick tries another */
        cl->last_member = from;
        creq_finish(cl, r, status, body, len);
        return true;
    }
    return false;
}

/* Serving a client: a put through this member's metadata store, answered with its outcome. */
struct served {
    struct stet_node_cluster *cl;
    uint32_t node;
    uint64_t rpc;
};

static void served_put_cb(void *arg, int status, uint64_t version) {
    struct served *sv = arg;
    uint8_t v[8];
    stet_store_u64be(v, version);
    send_reply(sv->cl, sv->node, sv->rpc, status, v, sizeof(v));
    free(sv);
}

struct read_answer {
    struct stet_buf *b;
    uint32_t count;
};

static void read_answer_key(void *arg, const char *key, uint64_t version, const uint8_t *value, size_t len) {
    struct read_answer *ra = arg;
    stet_metadata_remote_read_append(ra->b, key, version, value, len);
    ra->count++;
}

/* A metadata client's read: every key of this member's copy, after its read barrier. */
static void served_read_cb(void *arg, int status) {
    struct served *sv = arg;
    struct stet_node_cluster *cl = sv->cl;
    struct stet_buf b = STET_BUF_INIT;
    if (status == 0) {
        stet_buf_append_u32be(&b, 0);
        struct read_answer ra = {&b, 0};
        status = stet_metadata_replicated_each(cl->n->md, read_answer_key, &ra);
        stet_store_u32be(b.data, ra.count);
    }
    if (status == 0) send_reply(cl, sv->node, sv->rpc, 0, b.data, b.len);
    else send_reply(cl, sv->node, sv->rpc, status, NULL, 0);
    stet_buf_free(&b);
    free(sv);
}

static void serve_client(struct stet_node_cluster *cl, uint32_t from, uint64_t rpc, uint8_t op, const uint8_t *body,
                         size_t blen) {
    if (!cl->have_group) {
        send_reply(cl, from, rpc, -EAGAIN, NULL, 0);
        return;
    }
    struct served *sv = calloc(1, sizeof(*sv));
    STET_ASSERT(sv != NULL);
    *sv = (struct served){cl, from, rpc};
    if (op == OP_MD_READ) {
        stet_metadata_sync(cl->n->md, served_read_cb, sv);
        return;
    }
    char key[STET_METADATA_KEY_MAX + 1];
    uint64_t expected = 0;
    const uint8_t *value = NULL;
    size_t vlen = 0;
    if (stet_metadata_remote_put_decode(body, blen, key, &expected, &value, &vlen) != 0) {
        send_reply(cl, from, rpc, -EPROTO, NULL, 0);
        free(sv);
        return;
    }
    stet_metadata_put(cl->n->md, key, value, vlen, expected, served_put_cb, sv);
}

/* ---- consensus ports ----------------------------------------------------------------------- */

static void cons_send(void *ctx, uint32_t to, const uint8_t *msg, size_t len) {
    struct stet_node_cluster *cl = ctx;
    if (!cl->peers) return; /* stopping */
    (void)stet_np_peers_send(cl->peers, to, STET_NP_CONSENSUS, 0, msg, len);
}

static void cons_apply(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    struct stet_node_cluster *cl = ctx;
    if (group != MD_GROUP) {
        if (cl->n->parts) stet_node_parts_apply(cl->n->parts, group, index, e);
        return;
    }
    cl->applied = index;
    stet_metadata_replicated_apply(cl->n->md, index, e->type, e->data, e->len);
    if (cl->notify_index != 0 && index >= cl->notify_index) {
        cl->notify_index = 0;
        cl->notify_due = cl->leader;
    }
    /* barriers at this index: answered if it is the one submitted in their term */
    for (struct barrier_waiter **pp = &cl->barriers; *pp;) {
        struct barrier_waiter *w = *pp;
        if (w->index != 0 && w->index <= index) {
            *pp = w->next;
            barrier_answer(cl, w, w->index == index && e->term == w->term ? 0 : -EAGAIN);
        } else {
            pp = &w->next;
        }
    }
}

/* A snapshot replaces the metadata copy (this node was behind the leader's compacted log, or
 * restarts from its own snapshot). */
static void cons_install(void *ctx, uint32_t group, uint64_t index, const uint8_t *data, size_t len) {
    struct stet_node_cluster *cl = ctx;
    if (group != MD_GROUP) {
        if (cl->n->parts) stet_node_parts_install(cl->n->parts, group, index);
        return;
    }
    int rc = stet_metadata_replicated_install(cl->n->md, index, data, len);
    STET_ASSERT(rc == 0); /* a committed snapshot that does not decode: this node cannot go on */
    cl->applied = index;
    cl->stats.snapshots_installed++;
    /* barriers covered by the snapshot: their entry's term can no longer be checked */
    for (struct barrier_waiter **pp = &cl->barriers; *pp;) {
        struct barrier_waiter *w = *pp;
        if (w->index != 0 && w->index <= index) {
            *pp = w->next;
            barrier_answer(cl, w, -EAGAIN);
        } else {
            pp = &w->next;
        }
    }
    if (cl->notify_index <= index) cl->notify_index = 0;
}

static void cons_role(void *ctx, uint32_t group, bool leader, uint64_t term, uint32_t leader_node) {
    struct stet_node_cluster *cl = ctx;
    if (group != MD_GROUP) {
        if (cl->n->parts) stet_node_parts_role(cl->n->parts, group, leader, term, leader_node);
        return;
    }
    bool was = cl->leader;
    if (leader != was || leader_node != cl->leader_node)
        stet_info(MOD, "metadata group: %s (term %" PRIu64 ", leader %s%u)", leader ? "this node leads" : "follower",
                  term, leader_node ? "N" : "", leader_node);
    cl->leader = leader;
    cl->term = term;
    cl->leader_node = leader ? cl->n->node_id : leader_node;
    if (was && !leader) barriers_fail_all(cl);
    if (leader != was) cl->stats.leader_changes++;
    /* requests forwarded to an earlier leader go to the new one now, not after their timeout (a
     * command sent twice is harmless: the second copy fails its version check) */
    for (struct mreq *r = cl->reqs; r; r = r->next)
        if (r->rpc != 0 && r->rpc != UINT64_MAX && r->rpc_node != cl->leader_node) r->rpc = 0;
    stet_env_timer_start(cl->env, cl->route_timer, 0); /* not inside the step */
}

/* ---- the node port: frames, peers ------------------------------------------------------------ */

static int join_group(struct stet_node_cluster *cl, const uint32_t *voters, unsigned n);

static void copy_synced(void *arg, int status) {
    struct stet_node_cluster *cl = arg;
    cl->installing = false;
    if (status != 0) {
        stet_warn(MOD, "writing the copied metadata log failed: %s (retrying)", strerror(-status));
        return;
    }
    int rc = join_group(cl, cl->copy_voters, cl->copy_n_voters);
    if (rc != 0) fatal(cl, "cannot join the metadata group: %s", strerror(-rc));
}

/* The leader's log (OP_LOG_COPY): written through the consensus storage, then the group starts
 * from it. */
static void install_copy(struct stet_node_cluster *cl, const uint8_t *p, size_t len) {
    if (cl->have_group || cl->installing) return;
    struct stet_np_log_copy lc;
    if (stet_np_log_copy_decode(p, len, &lc) != 0) {
        stet_warn(MOD, "N%u sent a malformed metadata log copy", cl->copy_node);
        return;
    }
    struct stet_consensus_entry *es = calloc(lc.n ? lc.n : 1, sizeof(*es));
    STET_ASSERT(es != NULL);
    for (uint32_t i = 0; i < lc.n; i++)
        es[i] = (struct stet_consensus_entry){
            .term = lc.entries[i].term, .type = lc.entries[i].type, .data = lc.entries[i].data, .len = lc.entries[i].len};
    free(lc.entries);
    struct stet_consensus_storage st = stet_consensus_store_port(cl->cstore);
    int rc = st.set_term_vote(st.ctx, MD_GROUP, lc.term, cl->copy_node);
    if (rc == 0 && lc.snap_index) {
        struct stet_consensus_snapshot snap = {.index = lc.snap_index,
                                               .term = lc.snap_term,
                                               .conf_index = lc.conf_index,
                                               .conf = lc.conf,
                                               .conf_len = lc.conf_len,
                                               .data = lc.data,
                                               .len = lc.data_len};
        rc = st.set_snapshot(st.ctx, MD_GROUP, &snap);
        if (rc == 0) rc = st.trim(st.ctx, MD_GROUP, lc.snap_index);
    }
    if (rc == 0 && lc.n) rc = st.truncate_append(st.ctx, MD_GROUP, lc.snap_index + 1, es, lc.n);
    free(es);
    if (rc == 0) {
        cl->installing = true;
        cl->md_copied = true;
        stet_info(MOD, "copied the metadata log from N%u (snapshot at %" PRIu64 ", %u entries after it, term %" PRIu64 ")",
                  cl->copy_node, lc.snap_index, lc.n, lc.term);
        rc = st.sync(st.ctx, copy_synced, cl);
        if (rc != 0) cl->installing = false;
    }
    if (rc != 0) stet_warn(MOD, "cannot store the copied metadata log: %s", strerror(-rc));
}

static void on_reply(struct stet_node_cluster *cl, uint32_t from, const uint8_t *p, size_t len) {
    struct stet_np_reply rep;
    if (stet_np_reply_decode(p, len, &rep) != 0) return;
    uint64_t rpc = rep.rpc;
    int32_t status = rep.status;
    const uint8_t *body = rep.body;
    size_t blen = rep.len;
    if (creq_reply(cl, from, rpc, status, body, blen)) return;
    for (unsigned i = 0; i < cl->n_infos; i++) {
        struct info *in = &cl->infos[i];
        if (in->rpc != rpc || in->node != from) continue;
        in->rpc = 0;
        struct stet_np_group_info gi;
        if (status != 0 || stet_np_group_info_decode(body, blen, &gi) != 0) return;
        in->answered = true;
        in->has_group = gi.has_group;
        in->fingerprint = gi.fingerprint;
        in->n_voters = gi.n_voters;
        memcpy(in->voters, gi.voters, gi.n_voters * sizeof(*gi.voters));
        in->leader = gi.leader;
        in->last_index = gi.last_index;
        return;
    }
    if (cl->copy_rpc == rpc && cl->copy_node == from) {
        cl->copy_rpc = 0;
        if (status == 0) install_copy(cl, body, blen);
        return;
    }
    for (struct mreq *r = cl->reqs; r; r = r->next) {
        if (r->rpc != rpc || r->rpc_node != from) continue;
        r->rpc = 0;
        if (status == 0 && blen >= 8) {
            mreq_finish(cl, r, 0, stet_load_u64be(body));
        } else if (status == -EAGAIN) {
            if (blen >= 4) {
                uint32_t hint = stet_load_u32be(body);
                if (hint != 0 && hint != cl->n->node_id && !cl->leader) cl->leader_node = hint;
            }
            /* retried by the tick (not at once: the hint may be stale) */
        } else {
            mreq_finish(cl, r, status ? status : -EPROTO, 0);
        }
        return;
    }
    if (cl->n->parts) (void)stet_node_parts_reply(cl->n->parts, from, rpc, status, body, blen);
}

/* OP_LOG_COPY: the group's snapshot and every entry after it, to a member that lost its copy
 * (the metadata group, or a partition group: src/node/partitions.c). */
static void serve_log_copy(struct stet_node_cluster *cl, uint32_t from, uint64_t rpc, uint32_t group) {
    struct stet_consensus_group_info gi;
    stet_consensus_group_info(cl->cons, group, &gi);
    struct stet_consensus_storage st = stet_consensus_store_port(cl->cstore);
    struct stet_buf b = STET_BUF_INIT;
    /* the snapshot first (its pointers live until the next storage call), then what follows */
    struct stet_consensus_snapshot snap;
    struct stet_np_log_copy head = {.term = group == MD_GROUP ? cl->term : gi.term};
    if (st.get_snapshot(st.ctx, group, &snap) == 0) {
        head.snap_index = snap.index;
        head.snap_term = snap.term;
        head.conf_index = snap.conf_index;
        head.conf = snap.conf;
        head.conf_len = (uint32_t)snap.conf_len;
        head.data = snap.data;
        head.data_len = (uint32_t)snap.len;
    }
    STET_ASSERT(gi.last_index >= head.snap_index && gi.last_index - head.snap_index <= UINT32_MAX);
    head.n = (uint32_t)(gi.last_index - head.snap_index);
    stet_np_log_copy_begin(&b, &head);
    int rc = 0;
    for (uint64_t i = head.snap_index + 1; i <= gi.last_index && rc == 0; i++) {
        struct stet_consensus_entry e;
        if (st.get(st.ctx, group, i, &e) != 0) {
            rc = -EIO;
            break;
        }
        stet_np_log_copy_append(&b, e.term, e.type, e.data, (uint32_t)e.len);
    }
    cl->stats.log_copies_served++;
    send_reply(cl, from, rpc, rc, rc == 0 ? b.data : NULL, rc == 0 ? b.len : 0);
    stet_buf_free(&b);
}

static void on_forward(struct stet_node_cluster *cl, uint32_t from, const uint8_t *p, size_t len) {
    struct stet_np_forward fw;
    if (stet_np_forward_decode(p, len, &fw) != 0) return;
    uint64_t rpc = fw.rpc;
    uint8_t op = fw.op;
    const uint8_t *body = fw.body;
    size_t blen = fw.len;
    cl->stats.forwards_served++;
    if (op == OP_MD_PUT || op == OP_MD_READ) {
        serve_client(cl, from, rpc, op, body, blen);
        return;
    }
    if (op == OP_LOG_COPY && blen == 5) { /* a partition group's log (src/node/partitions.c) */
        struct stet_consensus_group_info gi;
        uint32_t group = stet_load_u32be(body);
        bool leader_only = body[4] != 0;
        if (group == MD_GROUP || !cl->cons || !stet_consensus_group_info(cl->cons, group, &gi))
            send_reply(cl, from, rpc, -ENOENT, NULL, 0);
        else if (leader_only && !gi.leader)
            send_reply(cl, from, rpc, -EAGAIN, NULL, 0);
        else
            serve_log_copy(cl, from, rpc, group);
        return;
    }
    if (op == STET_NP_OP_TASKS) {
        if (cl->n->parts) stet_node_parts_serve_tasks(cl->n->parts, from, rpc);
        else send_reply(cl, from, rpc, -EAGAIN, NULL, 0);
        return;
    }
    if (op == STET_NP_OP_PROPOSE || op == STET_NP_OP_BARRIER) {
        if (cl->n->parts) stet_node_parts_serve(cl->n->parts, from, rpc, op, body, blen);
        else send_reply(cl, from, rpc, -EAGAIN, NULL, 0); /* no partitions here (starting) */
        return;
    }
    if (op == OP_INFO) {
        struct stet_consensus_group_info ci = {0};
        if (cl->have_group) stet_consensus_group_info(cl->cons, MD_GROUP, &ci);
        struct stet_np_group_info gi = {.has_group = cl->have_group,
                                        .fingerprint = cl->fingerprint,
                                        .n_voters = cl->have_group ? cl->n_voters : 0,
                                        .leader = cl->have_group ? cl->leader_node : 0,
                                        .last_index = ci.last_index};
        memcpy(gi.voters, cl->voters, gi.n_voters * sizeof(*cl->voters));
        struct stet_buf b = STET_BUF_INIT;
        stet_np_group_info_encode(&b, &gi);
        send_reply(cl, from, rpc, 0, b.data, b.len);
        stet_buf_free(&b);
        return;
    }
    if (op == OP_LOG_COPY && cl->have_group && !cl->leader) {
        /* only asked of a non-leader when no leader is reachable: serve it the same way */
    } else if (!cl->have_group || !cl->leader) {
        uint8_t hint[4];
        stet_store_u32be(hint, cl->leader_node);
        send_reply(cl, from, rpc, -EAGAIN, hint, sizeof(hint));
        return;
    }
    if (op == OP_LOG_COPY) {
        serve_log_copy(cl, from, rpc, MD_GROUP);
        return;
    }
    if (op == OP_SUBMIT) {
        uint64_t index = 0;
        int rc = stet_consensus_submit(cl->cons, MD_GROUP, body, blen, &index);
        uint8_t idx[8];
        stet_store_u64be(idx, index);
        send_reply(cl, from, rpc, rc, rc == 0 ? idx : NULL, rc == 0 ? 8 : 0);
        if (rc == 0 && index > cl->notify_index) cl->notify_index = index;
    } else if (op == OP_READ_INDEX) {
        barrier_add(cl, NULL, from, rpc);
    } else {
        send_reply(cl, from, rpc, -EOPNOTSUPP, NULL, 0);
    }
}

static void peers_frame(void *ctx, uint32_t from, uint8_t kind, uint32_t group, const uint8_t *payload, size_t len) {
    struct stet_node_cluster *cl = ctx;
    STET_UNUSED(group);
    switch (kind) {
    case STET_NP_CONSENSUS:
        if (cl->cons && cl->have_group) stet_consensus_receive(cl->cons, from, payload, len);
        break;
    case STET_NP_FORWARD: on_forward(cl, from, payload, len); break;
    case STET_NP_REPLY: on_reply(cl, from, payload, len); break;
    case STET_NP_RESPONSE:
        if (cl->n->parts) stet_node_parts_response_frame(cl->n->parts, from, payload, len);
        break;
    case STET_NP_REPLICAS:
        if (cl->n->parts) stet_node_parts_replicas_frame(cl->n->parts, from, group, payload, len);
        break;
    default: break; /* a newer peer's kind */
    }
}

static void discover(struct stet_node_cluster *cl);

static void peers_peer(void *ctx, uint32_t node, bool up, uint64_t generation, uint64_t fingerprint) {
    struct stet_node_cluster *cl = ctx;
    STET_UNUSED(fingerprint);
    stet_info(MOD, "node N%u (incarnation %" PRIu64 ") %s", node, generation, up ? "connected" : "disconnected");
    if (!up) {
        /* what waits for an answer from it is sent elsewhere at once */
        for (struct mreq *r = cl->reqs; r; r = r->next)
            if (r->rpc != 0 && r->rpc != UINT64_MAX && r->rpc_node == node) r->rpc = 0;
        for (struct creq *r = cl->creqs; r; r = r->next)
            if (r->rpc != 0 && r->node == node) r->rpc = 0;
    }
    if (cl->n->parts) stet_node_parts_peer(cl->n->parts, node, up);
    if (cl->route_timer) stet_env_timer_start(cl->env, cl->route_timer, 0);
    /* a node that has not joined asks a peer that just came up at once, not at the next tick */
    if (up && !cl->have_group && !cl->client && cl->timer) discover(cl);
}

static void peers_refused(void *ctx, const char *address, uint32_t node, uint8_t code, const char *reason,
                          bool by_peer, uint64_t peer_fingerprint) {
    struct stet_node_cluster *cl = ctx;
    cl->stats.refusals++;
    if (!cl->have_group && (by_peer || peer_fingerprint != 0) &&
        (code == STET_NP_REJECT_CLUSTER_NAME || code == STET_NP_REJECT_FINGERPRINT || code == STET_NP_REJECT_NODE_ID)) {
        /* a node that has not joined yet, refused by (or refusing) a node of a provisioned
         * cluster, is the misconfigured one */
        fatal(cl, "cannot join the cluster: %s", reason);
        return;
    }
    uint64_t now = mono(cl);
    if (now - cl->last_refusal_log_ms > WAIT_LOG_MS || cl->last_refusal_log_ms == 0) {
        cl->last_refusal_log_ms = now;
        stet_warn(MOD, "refused a connection %s %s%s (N%u): %s", by_peer ? "by" : "from", address ? address : "",
                  address ? "" : "a peer", node, reason);
    }
}

/* ---- provisioning and the nodes configuration ------------------------------------------------- */

/* A put won at apply time (any node's): the admin takes another node's schema change. */
static void md_changed(void *ctx, const char *key, uint64_t version) {
    struct stet_node_cluster *cl = ctx;
    STET_UNUSED(version);
    if (strcmp(key, "schema") == 0 && cl->n->admin) stet_admin_schema_changed(cl->n->admin);
}

/* voters: sorted (stet_provision_decide sorts them; every member bootstraps the same list). */
static int join_group(struct stet_node_cluster *cl, const uint32_t *voters, unsigned n) {
    STET_ASSERT(n > 0 && n <= MAX_VOTERS);
    for (unsigned i = 1; i < n; i++) STET_ASSERT(voters[i - 1] < voters[i]);
    memcpy(cl->voters, voters, n * sizeof(*voters));
    cl->n_voters = n;
    int rc = identity_write(cl);
    if (rc != 0) return rc;
    rc = stet_consensus_add_group(cl->cons, MD_GROUP, cl->voters, cl->n_voters);
    if (rc != 0) return rc;
    cl->have_group = true;
    /* the partition groups follow from the metadata voters (src/node/partitions.c) */
    if (cl->n->parts) rc = stet_node_parts_start(cl->n->parts, cl->voters, cl->n_voters, cl->md_copied, NULL, NULL);
    return rc;
}

static struct info *info_for(struct stet_node_cluster *cl, uint32_t node) {
    for (unsigned i = 0; i < cl->n_infos; i++)
        if (cl->infos[i].node == node) return &cl->infos[i];
    if (cl->n_infos == sizeof(cl->infos) / sizeof(cl->infos[0])) return NULL;
    cl->infos[cl->n_infos] = (struct info){.node = node};
    return &cl->infos[cl->n_infos++];
}

static void discover(struct stet_node_cluster *cl) {
    struct stet_np_link_info links[MAX_VOTERS * 2];
    size_t nl = stet_np_peers_links(cl->peers, links, sizeof(links) / sizeof(links[0]));
    uint64_t now = mono(cl);
    struct stet_provision_peer peers[MAX_VOTERS * 2];
    for (size_t i = 0; i < nl; i++) {
        struct stet_provision_peer *p = &peers[i];
        *p = (struct stet_provision_peer){.address = links[i].address, .node = links[i].node, .self = links[i].self};
        if (p->self || p->node == 0) continue;
        p->reachable = links[i].connected && stet_np_peers_alive(cl->peers, p->node);
        struct info *in = info_for(cl, p->node);
        if (in == NULL) continue;
        /* ask (again) what it holds */
        if (p->reachable && in->rpc == 0 && (!in->answered || now - in->asked_ms >= INFO_INTERVAL_MS)) {
            in->rpc = ++cl->next_rpc;
            in->asked_ms = now;
            send_forward(cl, in->node, in->rpc, OP_INFO, NULL, 0);
        } else if (in->rpc != 0 && now - in->asked_ms > RPC_TIMEOUT_MS) {
            in->rpc = 0;
        }
        p->answered = in->answered;
        p->has_group = in->has_group;
        p->leader = in->leader;
        p->leader_reachable = in->leader && stet_np_peers_alive(cl->peers, in->leader);
        p->last_index = in->last_index;
        p->fingerprint = in->fingerprint;
        p->voters = in->voters;
        p->n_voters = in->n_voters;
    }
    struct stet_provision_input pin = {.self_id = cl->n->node_id,
                                       .auto_provision = cl->n->cfg->auto_provision,
                                       .peers = peers,
                                       .n_peers = nl,
                                       .leaderless_wait_over =
                                           cl->group_seen_ms && now - cl->group_seen_ms >= NO_LEADER_COPY_MS};
    struct stet_provision_decision d;
    stet_provision_decide(&pin, &d);
    if (d.group_seen && !cl->group_seen_ms) cl->group_seen_ms = now;
    if (d.fingerprint && d.action != STET_PROVISION_NOT_MEMBER) {
        cl->fingerprint = d.fingerprint;
        stet_np_peers_set_fingerprint(cl->peers, cl->fingerprint);
    }
    int rc = 0;
    switch (d.action) {
    case STET_PROVISION_NOT_MEMBER:
        fatal(cl,
              "node N%u is not one of the metadata servers of the cluster (voters of N%u's metadata group: %u "
              "nodes); adding nodes to a running cluster is not supported yet",
              cl->n->node_id, d.source, d.n_voters);
        return;
    case STET_PROVISION_JOIN_BOOTSTRAP:
        stet_info(MOD, "joining the cluster's metadata group (%u voters, learned from N%u)", d.n_voters, d.source);
        rc = join_group(cl, d.voters, d.n_voters);
        if (rc != 0) fatal(cl, "cannot join the metadata group: %s", strerror(-rc));
        return;
    case STET_PROVISION_COPY:
        /* a group with history: copy a log first (see the top of this file) */
        if (cl->installing || (cl->copy_rpc != 0 && now - cl->copy_asked_ms < 3 * RPC_TIMEOUT_MS)) return;
        memcpy(cl->copy_voters, d.voters, d.n_voters * sizeof(*d.voters));
        cl->copy_n_voters = d.n_voters;
        cl->copy_rpc = ++cl->next_rpc;
        cl->copy_node = d.source;
        cl->copy_asked_ms = now;
        stet_info(MOD, "joining the cluster's metadata group (%u voters): copying the log of N%u%s", d.n_voters,
                  d.source, d.group_seen ? " (no leader reachable)" : ", its leader");
        send_forward(cl, d.source, cl->copy_rpc, OP_LOG_COPY, NULL, 0);
        return;
    case STET_PROVISION_BOOTSTRAP:
        stet_info(MOD,
                  "provisioning the cluster '%s': every metadata address answered that it holds no cluster (%u "
                  "voters)",
                  cl->n->cfg->cluster_name, d.n_voters);
        rc = join_group(cl, d.voters, d.n_voters);
        if (rc != 0) fatal(cl, "cannot bootstrap the metadata group: %s", strerror(-rc));
        return;
    case STET_PROVISION_WAIT: break;
    }
    if (now - cl->last_wait_log_ms >= WAIT_LOG_MS) {
        cl->last_wait_log_ms = now;
        if (!d.self_seen)
            stet_info(MOD, "waiting to reach this node's own address among metadata-client.addresses (advertised-address %s)",
                      cl->n->cfg->advertised_address);
        else if (d.group_seen)
            stet_info(MOD, "waiting for the cluster's metadata leader to be reachable before joining");
        else if (d.waiting_for)
            stet_info(MOD, "waiting for %s to answer before %s", d.waiting_for,
                      cl->n->cfg->auto_provision ? "provisioning the cluster" : "joining the cluster");
        else
            stet_info(MOD, "waiting for the cluster to be provisioned (auto-provision is off on this node)");
    }
}

#define NODES_CONFIG_KEY "nodes_config"

struct nc_entry {
    uint64_t id, generation, roles;
    const char *name, *address;
};

static void write_nodes_config(struct stet_buf *out, const char *cluster_name, uint64_t fingerprint,
                               const struct nc_entry *e, size_t n) {
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    stet_json_begin_object(&w);
    stet_json_key(&w, "cluster_name");
    stet_json_write_string(&w, cluster_name);
    stet_json_key(&w, "fingerprint");
    stet_json_write_uint(&w, fingerprint);
    stet_json_key(&w, "nodes");
    stet_json_begin_array(&w);
    for (size_t i = 0; i < n; i++) {
        stet_json_begin_object(&w);
        stet_json_key(&w, "id");
        stet_json_write_uint(&w, e[i].id);
        stet_json_key(&w, "name");
        stet_json_write_string(&w, e[i].name);
        stet_json_key(&w, "generation");
        stet_json_write_uint(&w, e[i].generation);
        stet_json_key(&w, "address");
        stet_json_write_string(&w, e[i].address);
        stet_json_key(&w, "roles");
        stet_json_write_uint(&w, e[i].roles);
        stet_json_end_object(&w);
    }
    stet_json_end_array(&w);
    stet_json_end_object(&w);
}

static void provision_put_cb(void *arg, int status, uint64_t version) {
    struct stet_node_cluster *cl = arg;
    STET_UNUSED(version);
    cl->provisioning = false;
    if (status == 0) stet_info(MOD, "cluster '%s' provisioned", cl->n->cfg->cluster_name);
    else if (status != -ESTALE) stet_debug(MOD, "provisioning put: %s (retrying)", strerror(-status));
}

static void table_put_cb(void *arg, int status, uint64_t version) {
    STET_UNUSED(arg);
    STET_UNUSED(version);
    if (status != 0 && status != -ESTALE) stet_debug(MOD, "provisioning put: %s", strerror(-status));
}

static void register_put_cb(void *arg, int status, uint64_t version) {
    struct stet_node_cluster *cl = arg;
    STET_UNUSED(version);
    cl->registering = false;
    if (status == 0) {
        cl->registered = true;
        stet_info(MOD, "registered as N%u:%" PRIu64 " in the nodes configuration", cl->n->node_id,
                  cl->registered_generation);
    }
}

static void provision_tables(struct stet_node_cluster *cl) {
    const struct stet_config *c = cl->n->cfg;
    char text[256];
    int len = snprintf(text, sizeof(text), "{\"num_partitions\":%u,\"replication\":{\"node\":%u}}",
                       c->default_num_partitions, c->default_replication);
    stet_metadata_put(cl->n->md, "partition_table", text, (size_t)len, 0, table_put_cb, cl);
    len = snprintf(text, sizeof(text), "{\"default_provider\":\"replicated\",\"replication\":{\"node\":%u}}",
                   c->default_replication);
    stet_metadata_put(cl->n->md, "bifrost_config", text, (size_t)len, 0, table_put_cb, cl);
}

/* Provisions (auto-provision) or registers this node in the nodes configuration. */
static void nodes_config_step(struct stet_node_cluster *cl) {
    struct stet_node *n = cl->n;
    const struct stet_config *c = n->cfg;
    if (cl->provisioning || cl->registering || (!cl->client && cl->leader_node == 0)) return;
    struct stet_buf v = STET_BUF_INIT;
    uint64_t version = 0;
    int rc = stet_metadata_get(n->md, NODES_CONFIG_KEY, &version, &v);
    if (rc < 0) goto out;
    if (rc == 1) {
        if (!c->auto_provision) goto out; /* the provisioning node writes it */
        uint64_t fp = stet_env_random(cl->env) | 1;
        struct nc_entry me = {n->node_id, n->generation, c->roles, c->node_name, c->advertised_address};
        stet_buf_reset(&v);
        write_nodes_config(&v, c->cluster_name, fp, &me, 1);
        cl->provisioning = true;
        cl->registered_generation = n->generation;
        stet_metadata_put(n->md, NODES_CONFIG_KEY, v.data, v.len, 0, provision_put_cb, cl);
        goto out;
    }
    struct stet_json *j = NULL;
    char perr[128];
    if (stet_json_parse((const char *)v.data, v.len, &j, perr, sizeof(perr)) != 0) {
        stet_error(MOD, "the stored nodes configuration does not parse: %s", perr);
        goto out;
    }
    const char *cname = stet_json_string(stet_json_object_get(j, "cluster_name"), NULL);
    uint64_t fp = 0;
    stet_json_uint64(stet_json_object_get(j, "fingerprint"), &fp);
    if (cname && strcmp(cname, c->cluster_name) != 0) {
        fatal(cl, "this node's cluster-name '%s' differs from the cluster's '%s': set RESTATE_CLUSTER_NAME to '%s'",
              c->cluster_name, cname, cname);
        stet_json_free(j);
        goto out;
    }
    if (fp != 0 && fp != cl->fingerprint) {
        cl->fingerprint = fp;
        stet_np_peers_set_fingerprint(cl->peers, fp);
        (void)identity_write(cl);
    }
    if (c->auto_provision && !cl->provisioned_tables) {
        cl->provisioned_tables = true;
        provision_tables(cl);
    }
    const struct stet_json *nodes = stet_json_object_get(j, "nodes");
    size_t nn = stet_json_array_len(nodes);
    struct nc_entry *es = calloc(nn + 1, sizeof(*es));
    STET_ASSERT(es != NULL);
    size_t ne = 0;
    bool found = false, dirty = false;
    for (size_t i = 0; i < nn; i++) {
        const struct stet_json *o = stet_json_array_at(nodes, i);
        struct nc_entry e = {0};
        stet_json_uint64(stet_json_object_get(o, "id"), &e.id);
        stet_json_uint64(stet_json_object_get(o, "generation"), &e.generation);
        stet_json_uint64(stet_json_object_get(o, "roles"), &e.roles);
        e.name = stet_json_string(stet_json_object_get(o, "name"), NULL);
        e.address = stet_json_string(stet_json_object_get(o, "address"), NULL);
        if (!e.name) e.name = "";
        if (!e.address) e.address = "";
        bool id_match = e.id == n->node_id, name_match = strcmp(e.name, c->node_name) == 0;
        if (id_match && !name_match) {
            fatal(cl,
                  "node id N%u is registered to the node named '%s', but this node is named '%s': fix force-node-id "
                  "or node-name",
                  n->node_id, e.name, c->node_name);
            free(es);
            stet_json_free(j);
            goto out;
        }
        if (name_match && !id_match) {
            fatal(cl,
                  "the node name '%s' is registered as N%" PRIu64 ", but this node is configured as N%u: set "
                  "force-node-id to %" PRIu64,
                  c->node_name, e.id, n->node_id, e.id);
            free(es);
            stet_json_free(j);
            goto out;
        }
        if (id_match) {
            found = true;
            if (!cl->registered && !cl->registering) {
                if (cl->registered_generation == 0)
                    cl->registered_generation = e.generation >= n->generation ? e.generation + 1 : n->generation;
                if (e.generation != cl->registered_generation || strcmp(e.address, c->advertised_address) != 0 ||
                    e.roles != c->roles) {
                    e.generation = cl->registered_generation;
                    e.address = c->advertised_address;
                    e.roles = c->roles;
                    dirty = true;
                } else {
                    cl->registered = true;
                }
            }
        }
        es[ne++] = e;
    }
    if (!found && !cl->registered) {
        if (cl->registered_generation == 0) cl->registered_generation = n->generation;
        es[ne++] = (struct nc_entry){n->node_id, cl->registered_generation, c->roles, c->node_name,
                                     c->advertised_address};
        dirty = true;
    }
    if (dirty) {
        struct stet_buf out = STET_BUF_INIT;
        write_nodes_config(&out, cname ? cname : c->cluster_name, fp, es, ne);
        cl->registering = true;
        stet_metadata_put(n->md, NODES_CONFIG_KEY, out.data, out.len, version, register_put_cb, cl);
        stet_buf_free(&out);
    }
    free(es);
    stet_json_free(j);
out:
    stet_buf_free(&v);
}

static void tick(void *arg) {
    struct stet_node_cluster *cl = arg;
    uint64_t now = mono(cl);
    if (cl->client) {
        if (now - cl->last_refresh_ms >= 1000) { /* follow changes without being asked */
            cl->last_refresh_ms = now;
            stet_metadata_remote_refresh(cl->n->md);
        }
        nodes_config_step(cl);
        creqs_route_all(cl);
    } else if (!cl->have_group) {
        discover(cl);
    } else {
        nodes_config_step(cl);
    }
    /* forwarded requests without an answer are sent again (the leader may have changed) */
    for (struct mreq *r = cl->reqs, *next; r; r = next) {
        next = r->next;
        if (r->rpc != 0 && r->rpc != UINT64_MAX && now >= r->rpc_deadline) r->rpc = 0;
    }
    mreqs_route_all(cl);
    stet_env_timer_start(cl->env, cl->timer, TICK_MS);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static uint32_t own_slot_id(const struct stet_config *c) {
    for (size_t i = 0; i < c->n_metadata_addresses; i++) {
        const char *a = c->metadata_addresses[i], *b = c->advertised_address;
        size_t la = strlen(a), lb = strlen(b);
        while (la > 0 && a[la - 1] == '/') la--;
        while (lb > 0 && b[lb - 1] == '/') lb--;
        if (la == lb && strncmp(a, b, la) == 0) return (uint32_t)i + 1;
    }
    return 0;
}

int stet_node_cluster_create(struct stet_node *n, char *err, size_t errlen) {
    const struct stet_config *c = n->cfg;
    struct stet_node_cluster *cl = calloc(1, sizeof(*cl));
    if (!cl) return -ENOMEM;
    n->cl = cl;
    cl->n = n;
    cl->env = n->env;
    cl->started_ms = mono(cl);
    cl->last_wait_log_ms = cl->started_ms;
    stet_buf_init(&cl->scratch);
    cl->timer = stet_env_timer_create(n->env, tick, cl);
    cl->route_timer = stet_env_timer_create(n->env, route_cb, cl);
    if (!cl->timer || !cl->route_timer) return -ENOMEM;
    int rc;
    if (c->force_node_id) {
        n->node_id = c->force_node_id;
    } else if (!(c->roles & STET_ROLE_METADATA_SERVER)) {
        snprintf(err, errlen,
                 "a node without the metadata-server role needs force-node-id (RESTATE_FORCE_NODE_ID) in a cluster");
        return -EINVAL;
    } else {
        n->node_id = own_slot_id(c);
        if (n->node_id == 0) {
            snprintf(err, errlen,
                     "cannot tell this node's id: set force-node-id (RESTATE_FORCE_NODE_ID), or an advertised-address "
                     "(%s) that is one of metadata-client.addresses",
                     c->advertised_address);
            return -EINVAL;
        }
    }
    rc = identity_load(cl, err, errlen);
    if (rc != 0) return rc;
    rc = stet_np_tcp_create(&n->loop, &cl->tcp);
    if (rc != 0) goto nomem;
    cl->tr = stet_np_tcp_port(cl->tcp);
    struct stet_np_peers_config pc = {.node_id = n->node_id,
                                      .generation = cl->incarnation,
                                      .cluster_name = c->cluster_name,
                                      .node_name = c->node_name,
                                      .fingerprint = cl->fingerprint};
    struct stet_np_peers_handler ph = {
        .ctx = cl, .frame = peers_frame, .peer = peers_peer, .refused = peers_refused};
    rc = stet_np_peers_create(n->env, &cl->tr, &pc, &ph, &cl->peers);
    if (rc != 0) goto nomem;
    for (size_t i = 0; i < c->n_metadata_addresses; i++) {
        rc = stet_np_peers_add_address(cl->peers, c->metadata_addresses[i]);
        if (rc != 0) {
            snprintf(err, errlen, "invalid metadata-client address '%s'", c->metadata_addresses[i]);
            return rc;
        }
    }
    rc = stet_consensus_store_create(n->env, n->store, &cl->cstore);
    if (rc != 0) goto nomem;
    struct stet_consensus_storage st = stet_consensus_store_port(cl->cstore);
    struct stet_consensus_network net = {cl, cons_send};
    struct stet_consensus_app app = {.ctx = cl, .apply = cons_apply, .role = cons_role, .install = cons_install};
    struct stet_consensus_config cc = {.node_id = n->node_id,
                                       .seed = stet_env_random(n->env),
                                       .generation = cl->incarnation};
    rc = stet_consensus_create(n->env, &cc, &st, &net, &app, &cl->cons);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the consensus module: %s", strerror(-rc));
        return rc;
    }
    if (!(c->roles & STET_ROLE_METADATA_SERVER)) {
        /* a metadata client: no copy, no raft group; requests go to the members */
        cl->client = true;
        struct stet_metadata_remote_ports rp = {.ctx = cl, .request = client_request, .changed = md_changed};
        rc = stet_metadata_create_remote(&rp, &n->md);
        if (rc != 0) goto nomem;
        stet_env_timer_start(n->env, cl->timer, 0);
        return 0;
    }
    uint64_t origin = stet_env_random(n->env) | 1;
    struct stet_metadata_replicated_ports mp = {
        .ctx = cl, .env = n->env, .submit = md_submit, .read_index = md_read_index, .changed = md_changed};
    rc = stet_metadata_create_replicated(n->store, origin, &mp, &n->md);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the metadata store: %s", strerror(-rc));
        return rc;
    }
    if (cl->n_voters > 0) {
        rc = stet_consensus_add_group(cl->cons, MD_GROUP, cl->voters, cl->n_voters);
        if (rc != 0) {
            snprintf(err, errlen, "cannot load the metadata group from %s: %s", c->data_dir, strerror(-rc));
            return rc;
        }
        cl->have_group = true;
    }
    stet_env_timer_start(n->env, cl->timer, 0);
    if (c->default_replication > 1 && c->n_metadata_addresses < 2 * c->default_replication - 1)
        stet_warn(MOD,
                  "default-replication %u tolerates %u failed nodes only with %u nodes; metadata-client.addresses "
                  "lists %zu",
                  c->default_replication, c->default_replication - 1, 2 * c->default_replication - 1,
                  c->n_metadata_addresses);
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

/* The metadata group's log stays bounded: every SNAPSHOT_INTERVAL applied entries the copy is
 * serialized into a snapshot and the log behind it trimmed (SNAPSHOT_TRAILING entries stay for
 * followers slightly behind; one further behind installs the snapshot). */
static void take_snapshot(struct stet_node_cluster *cl) {
    if (!cl->have_group) return;
    struct stet_consensus_group_info gi;
    if (!stet_consensus_group_info(cl->cons, MD_GROUP, &gi) || gi.snapshot_busy) return;
    if (gi.applied_index < gi.snapshot_index + SNAPSHOT_INTERVAL) return;
    /* at start the copy is ahead of the replay until the replay catches up */
    if (stet_metadata_replicated_applied(cl->n->md) != gi.applied_index) return;
    struct stet_buf b = STET_BUF_INIT;
    uint64_t index = 0;
    int rc = stet_metadata_replicated_snapshot(cl->n->md, &b, &index);
    if (rc == 0) rc = stet_consensus_snapshot(cl->cons, MD_GROUP, index, b.data, b.len, SNAPSHOT_TRAILING);
    if (rc == 0) cl->stats.snapshots_taken++;
    else if (rc != -EBUSY && rc != -EINVAL) stet_warn(MOD, "cannot snapshot the metadata group: %s", strerror(-rc));
    stet_buf_free(&b);
}

void stet_node_cluster_flush(struct stet_node *n) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl || !cl->cons) return;
    /* one barrier for every read that arrived this iteration */
    bool need = false;
    for (struct barrier_waiter *w = cl->barriers; w; w = w->next) need |= w->index == 0;
    if (need && cl->leader) {
        uint64_t index = 0;
        int rc = stet_consensus_submit(cl->cons, MD_GROUP, "", 0, &index);
        for (struct barrier_waiter **pp = &cl->barriers; *pp;) {
            struct barrier_waiter *w = *pp;
            if (w->index != 0) {
                pp = &w->next;
                continue;
            }
            if (rc == 0 && w->term == cl->term) {
                w->index = index;
                pp = &w->next;
            } else {
                *pp = w->next;
                barrier_answer(cl, w, -EAGAIN);
            }
        }
        if (rc == 0) cl->stats.barriers++;
    } else if (need) {
        barriers_fail_all(cl);
    }
    take_snapshot(cl);
    if (n->parts) stet_node_parts_flush(n->parts);
    if (cl->notify_due) {
        cl->notify_due = false;
        uint64_t index = 0;
        if (cl->leader && stet_consensus_submit(cl->cons, MD_GROUP, "", 0, &index) == 0) cl->stats.commit_notices++;
    }
    /* a copied partition log is being synced (src/node/partitions.c): one sync at a time */
    if (!stet_consensus_store_syncing(cl->cstore)) stet_consensus_flush(cl->cons);
}

bool stet_node_cluster_port_handle(struct stet_node *n, struct stet_http_request *req) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl || !stet_np_tcp_is_upgrade(req)) return false;
    int fd = -1;
    struct stet_buf rest = STET_BUF_INIT;
    int rc = stet_http_request_detach(req, &fd, &rest);
    if (rc != 0) {
        stet_http_respond(req, 503, NULL, 0, NULL, 0);
        stet_buf_free(&rest);
        return true;
    }
    struct stet_np_stream *s = NULL;
    rc = stet_np_tcp_adopt(cl->tcp, fd, rest.data, rest.len, &s);
    stet_buf_free(&rest);
    if (rc == 0) stet_np_peers_accept(cl->peers, s);
    return true;
}

/* Ends every request of this node (before the metadata store goes). */
static void fail_requests(struct stet_node_cluster *cl) {
    while (cl->barriers) {
        struct barrier_waiter *w = cl->barriers;
        cl->barriers = w->next;
        if (w->local) mreq_finish(cl, w->local, -ESHUTDOWN, 0);
        free(w);
    }
    while (cl->reqs) mreq_finish(cl, cl->reqs, -ESHUTDOWN, 0);
    while (cl->creqs) creq_finish(cl, cl->creqs, -ESHUTDOWN, NULL, 0);
}

void stet_node_cluster_stop(struct stet_node *n) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl) return;
    stet_env_timer_destroy(cl->env, cl->timer);
    cl->timer = NULL;
    stet_env_timer_destroy(cl->env, cl->route_timer);
    cl->route_timer = NULL;
    fail_requests(cl);
    stet_node_parts_stop(n->parts); /* requests answered, raft logs' pending appends too */
    if (cl->peers) stet_np_peers_destroy(cl->peers);
    cl->peers = NULL;
}

void stet_node_cluster_destroy(struct stet_node *n) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl) return;
    stet_node_cluster_stop(n);
    /* the sync in flight calls back into the consensus module: let it finish */
    while (cl->cstore && stet_consensus_store_syncing(cl->cstore)) uv_run(&n->loop, UV_RUN_ONCE);
    if (cl->cons) stet_consensus_destroy(cl->cons);
    cl->cons = NULL;
    if (cl->tcp) stet_np_tcp_destroy(cl->tcp);
    cl->tcp = NULL;
}

/* After the loop stopped running (no sync in flight). */
void stet_node_cluster_free(struct stet_node *n) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl) return;
    stet_node_parts_free(n->parts);
    n->parts = NULL;
    if (cl->cstore) stet_consensus_store_destroy(cl->cstore);
    stet_buf_free(&cl->scratch);
    free(cl);
    n->cl = NULL;
}

bool stet_node_cluster_hand_off(struct stet_node *n) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl || !cl->peers) return false;
    bool parts = stet_node_parts_hand_off(n->parts);
    if (parts) stet_info(MOD, "handing this node's partition leaderships to other nodes before stopping");
    if (!cl->have_group || !cl->leader) return parts;
    for (unsigned i = 0; i < cl->n_voters; i++) {
        uint32_t v = cl->voters[i];
        if (v == n->node_id || !stet_np_peers_alive(cl->peers, v)) continue;
        int rc = stet_consensus_transfer(cl->cons, MD_GROUP, v);
        if (rc == 0) {
            stet_info(MOD, "handing the metadata group's leadership to N%u before stopping", v);
            return true;
        }
        stet_warn(MOD, "cannot hand the metadata group's leadership to N%u: %s", v, strerror(-rc));
        return parts;
    }
    return parts;
}

bool stet_node_cluster_leads(struct stet_node *n) {
    return n->cl && (n->cl->leader || stet_node_parts_leads_any(n->parts));
}

/* ---- for src/node/partitions.c ---------------------------------------------------------------- */

/* These also serve a single node whose partitions run on one-voter raft groups (n->solo_*,
 * src/node/node.c): no peers, its own consensus module and storage. */
struct stet_consensus *stet_node_cluster_cons(struct stet_node *n) { return n->cl ? n->cl->cons : n->solo_cons; }

uint64_t stet_node_cluster_new_rpc(struct stet_node *n) { return n->cl ? ++n->cl->next_rpc : ++n->solo_rpc; }

int stet_node_cluster_forward(struct stet_node *n, uint32_t node, uint64_t rpc, uint8_t op, const void *body,
                              size_t len) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl || !cl->peers) return -ENOTCONN;
    stet_buf_reset(&cl->scratch);
    stet_np_forward_encode(&cl->scratch, rpc, op, body, len);
    return stet_np_peers_send(cl->peers, node, STET_NP_FORWARD, MD_GROUP, cl->scratch.data, cl->scratch.len);
}

void stet_node_cluster_reply(struct stet_node *n, uint32_t node, uint64_t rpc, int32_t status, const void *body,
                             size_t len) {
    if (n->cl) send_reply(n->cl, node, rpc, status, body, len);
}

int stet_node_cluster_send(struct stet_node *n, uint32_t node, uint8_t kind, uint32_t group, const void *payload,
                           size_t len) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl || !cl->peers) return -ESHUTDOWN;
    return stet_np_peers_send(cl->peers, node, kind, group, payload, len);
}

static struct stet_consensus_store *cstore_of(struct stet_node *n) { return n->cl ? n->cl->cstore : n->solo_cstore; }

struct stet_consensus_storage stet_node_cluster_storage(struct stet_node *n) {
    return stet_consensus_store_port(cstore_of(n));
}

bool stet_node_cluster_storage_syncing(struct stet_node *n) {
    return cstore_of(n) && stet_consensus_store_syncing(cstore_of(n));
}

size_t stet_node_cluster_alive_peers(struct stet_node *n, uint32_t *out, size_t max) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl || !cl->peers) return 0;
    struct stet_np_link_info links[MAX_VOTERS * 2];
    size_t nl = stet_np_peers_links(cl->peers, links, sizeof(links) / sizeof(links[0])), k = 0;
    for (size_t i = 0; i < nl && k < max; i++)
        if (!links[i].self && links[i].node != 0 && links[i].node != n->node_id &&
            stet_np_peers_alive(cl->peers, links[i].node))
            out[k++] = links[i].node;
    return k;
}

int stet_node_cluster_entry(struct stet_node *n, uint32_t group, uint64_t index, uint8_t *type, uint64_t *term,
                            struct stet_buf *out) {
    struct stet_consensus_store *cs = cstore_of(n);
    if (!cs) return 1;
    struct stet_consensus_storage st = stet_consensus_store_port(cs);
    struct stet_consensus_entry e;
    int rc = st.get(st.ctx, group, index, &e);
    if (rc != 0) return rc;
    *type = e.type;
    *term = e.term;
    stet_buf_reset(out);
    stet_buf_append(out, e.data, e.len);
    return 0;
}

/* ---- views ----------------------------------------------------------------------------------- */

size_t stet_node_cluster_members(void *ctx, uint32_t *out, size_t max) {
    struct stet_node *n = ctx;
    struct stet_node_cluster *cl = n->cl;
    size_t k = 0;
    if (!cl) {
        if (max > 0) out[k++] = n->node_id;
        return k;
    }
    for (unsigned i = 0; i < cl->n_voters && k < max; i++) out[k++] = cl->voters[i];
    return k;
}

void stet_node_cluster_info(struct stet_node *n, struct stet_node_cluster_info *out) {
    struct stet_node_cluster *cl = n->cl;
    memset(out, 0, sizeof(*out));
    if (!cl) return;
    out->clustered = true;
    out->have_group = cl->have_group;
    out->registered = cl->registered;
    out->leader = cl->leader;
    out->leader_node = cl->leader_node;
    out->term = cl->term;
    out->quorum = cl->client ? cl->peers && pick_member(cl, 0) != 0 : cl->have_group && quorum_alive(cl) && cl->leader_node != 0;
    out->client = cl->client;
    out->n_voters = cl->n_voters;
    memcpy(out->voters, cl->voters, cl->n_voters * sizeof(*cl->voters));
    out->fingerprint = cl->fingerprint;
    out->registered_generation = cl->registered_generation ? cl->registered_generation : n->generation;
    out->incarnation = cl->incarnation;
    struct stet_consensus_group_info gi;
    if (cl->cons && stet_consensus_group_info(cl->cons, MD_GROUP, &gi)) {
        out->commit_index = gi.commit_index;
        out->applied_index = gi.applied_index;
        out->last_index = gi.last_index;
        out->snapshot_index = gi.snapshot_index;
    }
    out->stats = cl->stats;
}

bool stet_node_cluster_peer_alive(struct stet_node *n, uint32_t node) {
    struct stet_node_cluster *cl = n->cl;
    if (!cl) return node == n->node_id;
    if (node == n->node_id) return true;
    return cl->peers && stet_np_peers_alive(cl->peers, node);
}

const struct stet_np_peers *stet_node_cluster_peers(struct stet_node *n) { return n->cl ? n->cl->peers : NULL; }
const struct stet_consensus *stet_node_cluster_consensus(struct stet_node *n) { return n->cl ? n->cl->cons : n->solo_cons; }
const struct stet_np_tcp *stet_node_cluster_tcp(struct stet_node *n) { return n->cl ? n->cl->tcp : NULL; }
