/* The partitions of a node in a cluster (issue 15; design/cluster.md §2-4).
 *
 * Logs. Partition p's log IS consensus group 1 + p (src/log/raftlog.c): LSN = raft index, a
 * record is durable once committed and durable here. The worker's replica reads it the same way
 * on every voter, so followers apply every record into their own partition store (hot standbys)
 * and a new leader has the state already. Voters of partition p: min(n, 2r - 1) of the metadata
 * group's n voters (r = default-replication), taken in order starting at p mod n, so with more
 * nodes than 2r - 1 the partitions spread; with 3 nodes and r = 2 every node holds every
 * partition and a record is acknowledged once 2 of 3 have it. The layout follows from the
 * metadata voters, which every member agrees on; moving replicas is issue 16/18's.
 *
 * Leadership. The raft leader of the group is the partition leader and its raft term the
 * leader epoch: when consensus reports leadership of term t, the worker announces epoch t
 * (stet_worker_become_leader_at: an ANNOUNCE_LEADER record, and the partition acts only once it
 * is applied: invoker, timers, shuffle, and every invocation in flight invoked again); when it
 * reports the loss, the worker steps down at once (attempts aborted, timers stopped). Role
 * changes arrive inside a consensus step, where nothing may be submitted: they are carried out
 * from a timer at the next loop turn.
 *
 * Requests (the ingress's and the invocation endpoints' propose port, the shuffle's forward
 * port). A request is an encoded record for partition p:
 *   - p is led here (the worker acts): appended to the local raft log; answered when committed
 *     and applied here;
 *   - p is led elsewhere: forwarded (FORWARD OP_PROPOSE) to the leader this node knows (from
 *     raft, or the hint of a node that answered -EAGAIN), which appends it and replies once
 *     committed and applied there;
 *   - no leader known, or the known one is not alive: the request waits and is routed again
 *     every ROUTE_TICK_MS and at every role change, until REQUEST_DEADLINE_MS.
 * Outcomes that are safe to retry are retried: "not the leader" (-EAGAIN: nothing was appended),
 * and -ECANCELED (appended, then replaced by another leader's entry: it will never apply). An
 * outcome that is unknown (the leader died, went silent for RPC_TIMEOUT_MS, or the connection
 * dropped after the request left) is retried only for idempotent records (an invocation with an
 * idempotency key, a workflow run, an attach, an outbox message: the target deduplicates); any
 * other request is answered -ETIMEDOUT, Restate's "may have been correctly submitted", never
 * silently applied twice. A node that sees fewer than a majority of p's voters alive for
 * NO_QUORUM_GRACE_MS answers -EAGAIN (503): a minority acknowledges nothing.
 *
 * Answers. A call's answer is the INGRESS_RESPONSE action the leader's processor emits; its sink
 * names the node and generation holding the HTTP request: another node's is sent there as a
 * RESPONSE frame (src/partition/response.c) and handed to its ingress / invocation endpoints.
 *
 * Placement. Each partition has an order of preferred leaders: voters[p mod n] first (with 3
 * nodes and 24 partitions: 8 each), then the others rotated by p / n (so the partitions of a
 * node that is away spread evenly over the rest). A leader hands its leadership (RAFT_TRANSFER)
 * to the first node in that order that comes before it and is available: connected for
 * PLACE_SETTLE_MS, not stopping, its replica reported caught up; at most PLACE_PER_TICK per
 * REPLICAS tick. So leaders spread
 * evenly and come back to a node that restarts; only a leader moves its own leadership (no
 * two controllers can disagree), and raft keeps a transfer safe whatever happens.
 *
 * Reads. stet_node_parts_sync is the /query barrier: every partition with a replica here asks
 * its leader for a read barrier (an empty command the leader commits: src/log/raftlog.c reads
 * it as "no record") and waits until its own replica has applied that LSN.
 */
#include "node/partitions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/hmap.h"
#include "common/log.h"
#include "log/raftlog.h"
#include "node/node_internal.h"
#include "nodeport/frame.h"
#include "nodeport/rpc.h"
#include "partition/response.h"

#define MOD "partitions"
#define ROUTE_TICK_MS 20        /* waiting requests are routed again this often */
#define RPC_TIMEOUT_MS 1500     /* a forwarded request without an answer: outcome unknown */
#define REQUEST_DEADLINE_MS 10000 /* a request waits this long for a leader */
#define FORWARD_DEADLINE_MS 30000 /* an outbox message: longer (it is retried by the next leader anyway) */
#define NO_QUORUM_GRACE_MS 600  /* without a majority of the voters alive this long: 503 */
#define MAX_WAITING 16384       /* requests routed at once (beyond: -ENOBUFS, 429) */
#define RESPONSE_RETRY_MS 5000  /* an answer that could not be sent is tried again this long */
#define MAX_PENDING_RESPONSES 4096
#define PLACE_SETTLE_MS 3000    /* a preferred leader gets its partitions back after being up this long */
#define PLACE_PER_TICK 2        /* leadership transfers a node starts per REPLICAS tick */
#define PLACE_MAX_NODE 64       /* node ids tracked for placement (larger ids: never preferred) */
#define REPLICAS_EVERY_MS 500   /* each node tells its peers its replicas' progress this often */
#define COPY_ANY_MS 3000        /* a lost log is copied from the leader; from any voter after this */
#define LOST_GRACE_MS 1500      /* an append here whose partition is no longer led here: its outcome
                                   usually arrives (the next leader commits or replaces it); after
                                   this long it is unknown */

struct pgroup {
    bool member;          /* a voter whose group runs here */
    bool planned;         /* a voter whose group waits for its log copy */
    uint32_t voters[STET_PARTS_MAX_VOTERS];
    unsigned n_voters;
    bool leader;          /* raft says this node leads */
    uint64_t term;        /* raft term (0: unknown) */
    uint32_t leader_node; /* the leader this node knows (raft, or a hint) */
    uint64_t led_term;    /* the term the worker was asked to announce */
    struct rep {          /* the voters' replicas as their REPLICAS frames said (slot = voter index) */
        uint64_t applied, durable, flushed, at_ms;
    } reps[STET_PARTS_MAX_VOTERS];
};

enum { IDLE, LOCAL, REMOTE };

struct preq {
    struct preq *next;
    struct stet_node_parts *p;
    uint32_t pid;
    struct stet_buf rec; /* the encoded record (timestamp and epoch stamped by the leader) */
    bool idempotent;
    bool maybe;     /* an attempt may have been applied (its outcome is unknown) */
    bool answered;  /* cb ran (a LOCAL append still pending keeps the request until it calls back) */
    int state;      /* IDLE, LOCAL (appended here), REMOTE (forwarded) */
    uint64_t rpc;
    uint32_t rpc_node;
    uint64_t rpc_deadline, deadline, no_quorum_since;
    uint64_t lost_at; /* LOCAL: when the partition was seen not led here any more */
    stet_log_append_cb cb;
    void *arg;
};

/* An answer for another node that could not be sent (the link was down or full): sent again
 * until RESPONSE_RETRY_MS. */
struct pending_response {
    struct pending_response *next;
    uint32_t node, pid;
    uint64_t deadline;
    struct stet_buf frame;
};

struct served {
    struct stet_node_parts *p;
    uint32_t from;
    uint64_t rpc;
};

/* A read barrier: this node's (sync) or another node's (served). */
struct barrier {
    struct barrier *next;
    uint32_t pid;
    uint64_t term, index; /* index 0: not submitted yet */
    uint32_t from;        /* served: reply to from / rpc */
    uint64_t rpc;
    struct sync_op *op; /* this node's /query sync */
};

struct sync_op {
    struct stet_node_parts *p;
    unsigned waiting; /* partitions not caught up yet */
    int status;
    uint64_t deadline;
    uint64_t *target; /* per partition: the LSN to reach (0: asked, not known yet) */
    uint64_t *rpc;    /* per partition: a BARRIER forwarded (0: none) */
    uint32_t *rpc_node;
    struct stet_applied_waiter *waiters;
    bool *done_part;
    void (*done)(void *arg, int status);
    void *arg;
    struct sync_op *next;
};

/* /query's fetch of other nodes' invoker tasks. */
struct tasks_op {
    struct tasks_op *next;
    uint32_t nodes[STET_PARTS_MAX_VOTERS * 2];
    uint64_t rpcs[STET_PARTS_MAX_VOTERS * 2];
    unsigned n, waiting;
    uint64_t deadline;
    void (*done)(void *arg);
    void *arg;
};

struct stet_node_parts {
    struct stet_node *n;
    const struct stet_env *env;
    uint32_t n_parts;
    struct pgroup *g;
    struct stet_raftlog *log;
    struct preq *reqs;
    uint32_t n_reqs;
    struct barrier *barriers;
    struct sync_op *syncs;
    struct pending_response *resp_head, **resp_tail;
    uint32_t n_resp;
    struct tasks_op *task_ops;
    bool draining; /* SIGTERM: leaderships are handed off, none taken */
    uint64_t up_since[PLACE_MAX_NODE]; /* per peer node id: connected since (0: not connected) */
    bool peer_draining[PLACE_MAX_NODE];
    struct stet_hmap tasks; /* 24-byte id -> struct stet_invoker_task_info (malloc'd), last gather */
    struct stet_env_timer *timer;
    struct stet_env_timer *status_timer; /* REPLICAS frames */
    bool timer_armed;
    bool roles_dirty;
    bool started, stopped;
    struct stet_buf scratch;
    struct stet_node_parts_stats stats;
    /* copying the logs of groups this node lost (see stet_node_parts_start) */
    uint32_t *copy_queue, n_copy, copy_next;
    uint64_t copy_rpc, copy_deadline, copy_since;
    uint32_t copy_node, copy_turn;
    bool copy_have, copy_syncing;
    struct stet_buf copy_body;
};

static uint64_t mono(const struct stet_node_parts *p) { return stet_env_monotonic_ms(p->env); }
static uint32_t self(const struct stet_node_parts *p) { return p->n->node_id; }
static uint32_t group_of(uint32_t pid) { return STET_PARTS_FIRST_GROUP + pid; }

static void arm(struct stet_node_parts *p, uint64_t delay) {
    if (!p->timer || p->stopped) return;
    stet_env_timer_start(p->env, p->timer, delay);
    p->timer_armed = true;
}

/* ---- the raft logs (the worker's log ports) ------------------------------------------------- */

static int log_submit(void *ctx, uint32_t group, const void *data, size_t len, uint64_t *index, uint64_t *term) {
    struct stet_node_parts *p = ctx;
    struct stet_consensus *c = stet_node_cluster_cons(p->n);
    if (!c) return -ESHUTDOWN;
    int rc = stet_consensus_submit(c, group, data, len, index);
    if (rc != 0) return rc;
    struct stet_consensus_group_info gi;
    STET_ASSERT(stet_consensus_group_info(c, group, &gi));
    *term = gi.term;
    return 0;
}

static int log_get(void *ctx, uint32_t group, uint64_t index, uint8_t *type, uint64_t *term, struct stet_buf *out) {
    struct stet_node_parts *p = ctx;
    return stet_node_cluster_entry(p->n, group, index, type, term, out);
}

static void log_durable(void *arg, uint32_t log_id, uint64_t first, uint64_t last) {
    STET_UNUSED(first);
    STET_UNUSED(last);
    struct stet_node_parts *p = arg;
    struct stet_node *n = p->n;
    if (!n->worker || p->stopped) return;
    if (stet_worker_log_durable(n->worker, log_id) != 0) {
        stet_error(MOD, "partition %u cannot apply its log; stopping the node", log_id);
        n->exit_code = 1;
        n->stopping = true;
        uv_stop(&n->loop);
    }
}

int stet_node_parts_append(void *ctx, uint32_t pid, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                           uint64_t *lsn_out) {
    struct stet_node_parts *p = ((struct stet_node *)ctx)->parts;
    if (!p->log || p->stopped) return -ESHUTDOWN;
    return stet_raftlog_append(p->log, pid, rec, len, cb, arg, lsn_out);
}

int stet_node_parts_read(void *ctx, uint32_t pid, uint64_t lsn, struct stet_buf *out) {
    struct stet_node_parts *p = ((struct stet_node *)ctx)->parts;
    if (!p->log) return 1;
    return stet_raftlog_read(p->log, pid, lsn, out);
}

uint64_t stet_node_parts_durable_tail(void *ctx, uint32_t pid) {
    struct stet_node_parts *p = ((struct stet_node *)ctx)->parts;
    return p->log ? stet_raftlog_durable_tail(p->log, pid) : 0;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void tick(void *arg);
static void status_tick(void *arg);

int stet_node_parts_create(struct stet_node *n, struct stet_node_parts **out) {
    struct stet_node_parts *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->n = n;
    p->env = n->env;
    p->n_parts = n->n_parts;
    stet_buf_init(&p->scratch);
    stet_buf_init(&p->copy_body);
    p->resp_tail = &p->resp_head;
    stet_hmap_init(&p->tasks);
    p->g = calloc(p->n_parts, sizeof(*p->g));
    p->timer = stet_env_timer_create(n->env, tick, p);
    p->status_timer = stet_env_timer_create(n->env, status_tick, p);
    struct stet_raftlog_ports lp = {.ctx = p, .submit = log_submit, .get = log_get};
    int rc = p->g && p->timer && p->status_timer ? 0 : -ENOMEM;
    if (rc == 0) rc = stet_raftlog_create(&lp, p->n_parts, STET_PARTS_FIRST_GROUP, log_durable, p, &p->log);
    if (rc != 0) {
        stet_node_parts_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static int has_entry(void *arg, uint64_t index, const struct stet_consensus_entry *e) {
    STET_UNUSED(index);
    STET_UNUSED(e);
    *(bool *)arg = true;
    return 1;
}

/* The group has a term, a vote or an entry stored here. */
static bool has_state(struct stet_node_parts *p, uint32_t group) {
    struct stet_consensus_storage st = stet_node_cluster_storage(p->n);
    uint64_t term = 0, vote = 0;
    bool found = false;
    if (st.load(st.ctx, group, &term, &vote, has_entry, &found) != 0) return true; /* let add_group report it */
    return found || term != 0;
}

static int add_group(struct stet_node_parts *p, uint32_t pid) {
    struct pgroup *g = &p->g[pid];
    int rc = stet_consensus_add_group(stet_node_cluster_cons(p->n), group_of(pid), g->voters, g->n_voters);
    if (rc != 0) {
        stet_error(MOD, "cannot start the raft group of partition %u: %s", pid, strerror(-rc));
        return rc;
    }
    g->planned = false;
    g->member = true;
    return 0;
}

int stet_node_parts_start(struct stet_node_parts *p, const uint32_t *md_voters, unsigned n, bool copy_missing,
                          const uint64_t *base, const uint64_t *base_term) {
    if (p->started || p->stopped) return 0;
    STET_ASSERT(n > 0 && n <= STET_PARTS_MAX_VOTERS);
    const struct stet_config *cfg = p->n->cfg;
    unsigned r = cfg->default_replication ? cfg->default_replication : 1;
    unsigned k = 2 * r - 1 < n ? 2 * r - 1 : n;
    bool worker_role = (cfg->roles & STET_ROLE_WORKER) != 0;
    p->started = true;
    p->copy_queue = calloc(p->n_parts, sizeof(*p->copy_queue));
    STET_ASSERT(p->copy_queue != NULL);
    unsigned members = 0;
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        struct pgroup *g = &p->g[pid];
        /* k voters starting at pid mod n, sorted (every member passes the same list) */
        bool pick[STET_PARTS_MAX_VOTERS] = {false};
        for (unsigned j = 0; j < k; j++) pick[(pid + j) % n] = true;
        g->n_voters = 0;
        for (unsigned i = 0; i < n; i++)
            if (pick[i]) g->voters[g->n_voters++] = md_voters[i];
        bool voter = false;
        for (unsigned i = 0; i < g->n_voters; i++) voter |= g->voters[i] == self(p);
        if (!voter || !worker_role) continue;
        members++;
        if (copy_missing && g->n_voters > 1 && !has_state(p, group_of(pid))) {
            g->planned = true;
            p->copy_queue[p->n_copy++] = pid;
            continue;
        }
        int rc;
        if (base && base[pid] > 0 && !has_state(p, group_of(pid))) {
            struct pgroup *pg = &p->g[pid];
            rc = stet_consensus_add_group_from(stet_node_cluster_cons(p->n), group_of(pid), pg->voters, pg->n_voters,
                                               base[pid], base_term ? base_term[pid] : 0);
            if (rc == 0) {
                pg->member = true;
                stet_info(MOD, "partition %u: its log continues on raft after LSN %" PRIu64, pid, base[pid]);
            }
        } else {
            rc = add_group(p, pid);
        }
        if (rc != 0) return rc;
    }
    stet_info(MOD, "partitions: %u, replicas here: %u (%u to copy from peers first), voters per partition: %u "
              "(default-replication %u)", p->n_parts, members, p->n_copy, k, r);
    if (p->n_copy > 0) arm(p, 0);
    stet_env_timer_start(p->env, p->status_timer, REPLICAS_EVERY_MS);
    return 0;
}

/* ---- copying a lost log ---------------------------------------------------------------------- */

static void copy_synced(void *arg, int status) {
    struct stet_node_parts *p = arg;
    p->copy_syncing = false;
    if (p->stopped) return;
    uint32_t pid = p->copy_queue[p->copy_next];
    if (status != 0) {
        stet_warn(MOD, "partition %u: writing the copied log failed: %s (asking again)", pid, strerror(-status));
        arm(p, ROUTE_TICK_MS);
        return;
    }
    if (add_group(p, pid) != 0) {
        p->n->exit_code = 1;
        p->n->stopping = true;
        uv_stop(&p->n->loop);
        return;
    }
    p->copy_next++;
    p->copy_since = 0;
    p->copy_deadline = 0;
    arm(p, 0);
}

/* The copy received: written through the consensus storage once no sync is in flight. */
static void copy_install(struct stet_node_parts *p) {
    if (!p->copy_have || p->copy_syncing || stet_node_cluster_storage_syncing(p->n)) return;
    p->copy_have = false;
    uint32_t pid = p->copy_queue[p->copy_next];
    struct stet_np_log_copy lc;
    if (stet_np_log_copy_decode(p->copy_body.data, p->copy_body.len, &lc) != 0) {
        stet_warn(MOD, "partition %u: N%u sent a malformed log copy", pid, p->copy_node);
        p->copy_deadline = mono(p) + 500;
        return;
    }
    if (lc.snap_index != 0 || lc.n == 0) { /* partition snapshots come with issue 17 */
        if (lc.n) free(lc.entries);
        stet_warn(MOD, "partition %u: N%u sent a log copy this node cannot take (snapshot at %" PRIu64 ")", pid,
                  p->copy_node, lc.snap_index);
        p->copy_deadline = mono(p) + 500;
        return;
    }
    struct stet_consensus_entry *es = calloc(lc.n, sizeof(*es));
    STET_ASSERT(es != NULL);
    for (uint32_t i = 0; i < lc.n; i++)
        es[i] = (struct stet_consensus_entry){
            .term = lc.entries[i].term, .type = lc.entries[i].type, .data = lc.entries[i].data, .len = lc.entries[i].len};
    free(lc.entries);
    struct stet_consensus_storage st = stet_node_cluster_storage(p->n);
    int rc = st.set_term_vote(st.ctx, group_of(pid), lc.term, p->copy_node);
    if (rc == 0) rc = st.truncate_append(st.ctx, group_of(pid), 1, es, lc.n);
    free(es);
    if (rc == 0) {
        stet_info(MOD, "partition %u: copied its log from N%u (%u entries, term %" PRIu64 ")", pid, p->copy_node, lc.n,
                  lc.term);
        p->copy_syncing = true;
        rc = st.sync(st.ctx, copy_synced, p);
        if (rc != 0) p->copy_syncing = false;
    }
    if (rc != 0) stet_warn(MOD, "partition %u: cannot store the copied log: %s", pid, strerror(-rc));
}

static void copy_step(struct stet_node_parts *p) {
    if (p->copy_next >= p->n_copy || p->copy_syncing) return;
    if (p->copy_have) {
        copy_install(p);
        return;
    }
    uint64_t now = mono(p);
    if (now < p->copy_deadline) return; /* an answer is awaited, or the last one failed: back off */
    p->copy_rpc = 0;
    uint32_t pid = p->copy_queue[p->copy_next];
    struct pgroup *g = &p->g[pid];
    if (p->copy_since == 0) p->copy_since = now;
    /* the leader's log first (a follower's may lack entries this node had acknowledged); any
     * voter's once no leader answered for COPY_ANY_MS (no leader without this node, say) */
    bool leader_only = now - p->copy_since < COPY_ANY_MS;
    for (unsigned i = 0; i < g->n_voters; i++) {
        uint32_t v = g->voters[(p->copy_turn + i) % g->n_voters];
        if (v == self(p) || !stet_node_cluster_peer_alive(p->n, v)) continue;
        p->copy_turn += i + 1; /* the next attempt asks another voter */
        uint8_t body[5];
        stet_store_u32be(body, group_of(pid));
        body[4] = leader_only ? 1 : 0;
        uint64_t rpc = stet_node_cluster_new_rpc(p->n);
        if (stet_node_cluster_forward(p->n, v, rpc, STET_NP_OP_LOG_COPY, body, sizeof(body)) != 0) continue;
        p->copy_node = v;
        p->copy_rpc = rpc;
        p->copy_deadline = now + 3000;
        return;
    }
    p->copy_deadline = now + 200;
}

static bool copy_reply(struct stet_node_parts *p, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                       size_t len) {
    if (p->copy_rpc == 0 || rpc != p->copy_rpc || from != p->copy_node) return false;
    p->copy_rpc = 0;
    p->copy_deadline = mono(p) + (status == 0 ? 0 : 100); /* not the leader, or no copy: ask another */
    if (status == 0) {
        stet_buf_reset(&p->copy_body);
        stet_buf_append(&p->copy_body, body, len);
        p->copy_have = true;
        copy_install(p);
    }
    arm(p, ROUTE_TICK_MS);
    return true;
}

static void fail_reqs(struct stet_node_parts *p, int status);
static void sync_finish(struct stet_node_parts *p, struct sync_op *op, int status);

static void tasks_clear(struct stet_node_parts *p) {
    for (size_t i = 0; i < p->tasks.cap; i++)
        if (p->tasks.slots[i].state == 1) free(p->tasks.slots[i].value);
    stet_hmap_free(&p->tasks);
    stet_hmap_init(&p->tasks);
}

static void task_ops_finish(struct stet_node_parts *p, struct tasks_op *op) {
    for (struct tasks_op **pp = &p->task_ops; *pp; pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            break;
        }
    }
    void (*done)(void *) = op->done;
    void *arg = op->arg;
    free(op);
    done(arg);
}

static void responses_free(struct stet_node_parts *p) {
    while (p->resp_head) {
        struct pending_response *r = p->resp_head;
        p->resp_head = r->next;
        stet_buf_free(&r->frame);
        free(r);
    }
    p->resp_tail = &p->resp_head;
    p->n_resp = 0;
}

void stet_node_parts_stop(struct stet_node_parts *p) {
    if (!p || p->stopped) return;
    responses_free(p);
    while (p->task_ops) task_ops_finish(p, p->task_ops);
    fail_reqs(p, -ESHUTDOWN);
    while (p->syncs) sync_finish(p, p->syncs, -ESHUTDOWN);
    while (p->barriers) {
        struct barrier *b = p->barriers;
        p->barriers = b->next;
        free(b);
    }
    p->stopped = true;
    /* pending appends are answered -ESHUTDOWN (the worker's callbacks: before it goes) */
    stet_raftlog_destroy(p->log);
    p->log = NULL;
    /* LOCAL requests kept for their append's callback are gone with it */
    while (p->reqs) {
        struct preq *q = p->reqs;
        p->reqs = q->next;
        stet_buf_free(&q->rec);
        free(q);
    }
    if (p->timer) stet_env_timer_destroy(p->env, p->timer);
    p->timer = NULL;
    if (p->status_timer) stet_env_timer_destroy(p->env, p->status_timer);
    p->status_timer = NULL;
}

void stet_node_parts_free(struct stet_node_parts *p) {
    if (!p) return;
    stet_node_parts_stop(p);
    stet_raftlog_destroy(p->log);
    tasks_clear(p);
    stet_hmap_free(&p->tasks);
    free(p->g);
    free(p->copy_queue);
    stet_buf_free(&p->copy_body);
    stet_buf_free(&p->scratch);
    free(p);
}

/* ---- routing requests --------------------------------------------------------------------------- */

static bool record_idempotent(const struct stet_record *r) {
    switch (r->kind) {
    case STET_REC_INVOKE:
        return r->has_idempotency_key ||
               (r->service_type == STET_WORKFLOW && r->handler_type == STET_HANDLER_WORKFLOW);
    case STET_REC_ATTACH: return true;
    default: return false;
    }
}

static bool quorum_alive(const struct stet_node_parts *p, const struct pgroup *g) {
    unsigned alive = 0;
    for (unsigned i = 0; i < g->n_voters; i++)
        if (stet_node_cluster_peer_alive(p->n, g->voters[i])) alive++;
    return alive * 2 > g->n_voters;
}

static void req_unlink(struct stet_node_parts *p, struct preq *q) {
    for (struct preq **pp = &p->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            STET_ASSERT(p->n_reqs > 0);
            p->n_reqs--;
            return;
        }
    }
    STET_UNREACHABLE();
}

/* Answers the caller. A request with a local append in flight stays (answered) until the
 * append's callback, which frees it. */
static void req_finish(struct stet_node_parts *p, struct preq *q, int status, uint64_t lsn) {
    STET_ASSERT(!q->answered);
    q->answered = true;
    if (status == -ETIMEDOUT) p->stats.unknown_outcome++;
    if (status == -EAGAIN) p->stats.no_leader++;
    stet_log_append_cb cb = q->cb;
    void *arg = q->arg;
    if (q->state != LOCAL) {
        req_unlink(p, q);
        stet_buf_free(&q->rec);
        free(q);
    }
    if (cb) cb(arg, status, lsn);
}

static void local_cb(void *arg, int status, uint64_t lsn) {
    struct preq *q = arg;
    struct stet_node_parts *p = q->p;
    STET_ASSERT(q->state == LOCAL);
    q->state = IDLE;
    if (q->answered) { /* the caller had its answer (deadline, shutdown): only the memory remains */
        req_unlink(p, q);
        stet_buf_free(&q->rec);
        free(q);
        return;
    }
    if (status == -ECANCELED) { /* replaced by another leader's entry: never applied, send again */
        p->stats.retries++;
        arm(p, 0);
        return;
    }
    req_finish(p, q, status, lsn);
}

static void route(struct stet_node_parts *p, struct preq *q) {
    if (q->state != IDLE || q->answered) return;
    struct stet_node *n = p->n;
    struct pgroup *g = &p->g[q->pid];
    uint64_t now = mono(p);
    if (now >= q->deadline) {
        req_finish(p, q, q->maybe ? -ETIMEDOUT : -EAGAIN, 0);
        return;
    }
    /* a majority of the voters out of reach for a while: nothing can be acknowledged */
    if (g->n_voters > 0 && !quorum_alive(p, g)) {
        if (q->no_quorum_since == 0) q->no_quorum_since = now;
        if (now - q->no_quorum_since >= NO_QUORUM_GRACE_MS) {
            req_finish(p, q, q->maybe ? -ETIMEDOUT : -EAGAIN, 0);
            return;
        }
    } else {
        q->no_quorum_since = 0;
    }
    if (g->member && n->worker && stet_worker_is_leader(n->worker, q->pid)) {
        struct stet_record r;
        int rc = stet_record_decode(q->rec.data, q->rec.len, &r);
        STET_ASSERT(rc == 0); /* encoded by this node */
        uint64_t lsn = 0;
        rc = stet_worker_propose(n->worker, &r, local_cb, q, &lsn);
        if (rc == 0) {
            q->state = LOCAL;
            p->stats.proposed_local++;
            return;
        }
        if (rc != -EAGAIN) {
            req_finish(p, q, rc, 0);
            return;
        }
    }
    uint32_t to = g->leader_node;
    if (to == self(p) || (to != 0 && !stet_node_cluster_peer_alive(n, to))) to = 0;
    if (to == 0 && !g->member) {
        /* not a voter: ask an alive voter (any alive peer on a node that holds no replica and
         * has no layout: a metadata client), which answers with the leader it knows */
        uint32_t cand[STET_PARTS_MAX_VOTERS * 2];
        size_t nc = 0;
        if (g->n_voters > 0) {
            for (unsigned i = 0; i < g->n_voters; i++)
                if (g->voters[i] != self(p) && stet_node_cluster_peer_alive(n, g->voters[i])) cand[nc++] = g->voters[i];
        } else {
            nc = stet_node_cluster_alive_peers(n, cand, sizeof(cand) / sizeof(cand[0]));
        }
        q->rpc++; /* the next attempt asks the next candidate */
        if (nc > 0) to = cand[q->rpc % nc];
    }
    if (to != 0) {
        stet_buf_reset(&p->scratch);
        uint8_t hdr[4];
        stet_store_u32be(hdr, q->pid);
        stet_buf_append(&p->scratch, hdr, 4);
        stet_buf_append(&p->scratch, q->rec.data, q->rec.len);
        uint64_t rpc = stet_node_cluster_new_rpc(n);
        if (stet_node_cluster_forward(n, to, rpc, STET_NP_OP_PROPOSE, p->scratch.data, p->scratch.len) != 0)
            return; /* not sent (the link is down or full): still IDLE, routed again */
        q->rpc = rpc;
        q->rpc_node = to;
        q->rpc_deadline = now + RPC_TIMEOUT_MS;
        q->state = REMOTE;
        p->stats.forwarded++;
    }
    /* else no leader to send it to: it waits (the deadline and quorum checks above) */
}

/* An attempt whose outcome is unknown (the leader went away with it). */
static void req_unknown(struct stet_node_parts *p, struct preq *q) {
    q->state = IDLE;
    q->maybe = true;
    if (!q->idempotent) {
        req_finish(p, q, -ETIMEDOUT, 0);
        return;
    }
    p->stats.retries++;
}

static struct preq *req_new(struct stet_node_parts *p, uint32_t pid, const uint8_t *rec, size_t len, bool idempotent,
                            uint64_t deadline, stet_log_append_cb cb, void *arg) {
    struct preq *q = calloc(1, sizeof(*q));
    STET_ASSERT(q != NULL);
    q->p = p;
    q->pid = pid;
    stet_buf_init(&q->rec);
    stet_buf_append(&q->rec, rec, len);
    q->idempotent = idempotent;
    q->deadline = deadline;
    q->cb = cb;
    q->arg = arg;
    q->rpc = (uint64_t)stet_env_random(p->env); /* spreads non-members' first choice */
    q->next = p->reqs;
    p->reqs = q;
    p->n_reqs++;
    return q;
}

/* A LOCAL append whose partition is no longer led here, and no outcome after LOST_GRACE_MS (a
 * leader cut off from the majority): an idempotent request goes on as a new one (the append
 * left behind answers nobody), any other is answered "unknown". */
static void local_lost(struct stet_node_parts *p, struct preq *q, uint64_t now) {
    if (q->state != LOCAL || q->answered) return;
    if (p->n->worker && stet_worker_is_leader(p->n->worker, q->pid)) {
        q->lost_at = 0;
        return;
    }
    if (q->lost_at == 0) q->lost_at = now;
    if (now - q->lost_at < LOST_GRACE_MS) return;
    if (q->idempotent && now < q->deadline) {
        struct preq *c = req_new(p, q->pid, q->rec.data, q->rec.len, true, q->deadline, q->cb, q->arg);
        c->maybe = true;
        q->cb = NULL;
        q->answered = true; /* its append's callback frees it */
        p->stats.retries++;
        return;
    }
    req_finish(p, q, -ETIMEDOUT, 0);
}

static void route_all(struct stet_node_parts *p) {
    for (struct preq *q = p->reqs, *next; q; q = next) {
        next = q->next;
        route(p, q);
    }
}

static int submit(struct stet_node_parts *p, struct stet_record *r, bool idempotent, uint64_t deadline_ms,
                  stet_log_append_cb cb, void *arg) {
    if (p->stopped || p->n->stopping) return -ESHUTDOWN;
    if (p->n_reqs >= MAX_WAITING) return -ENOBUFS;
    stet_buf_reset(&p->scratch);
    stet_record_encode(&p->scratch, r);
    struct preq *q = req_new(p, stet_partition_for_key(r->id.partition_key, p->n_parts), p->scratch.data,
                             p->scratch.len, idempotent, mono(p) + deadline_ms, cb, arg);
    route(p, q); /* may answer at once (no quorum for long): the caller has 0 and its callback */
    if (p->reqs && !p->timer_armed) arm(p, ROUTE_TICK_MS);
    return 0;
}

int stet_node_parts_propose(struct stet_node_parts *p, struct stet_record *r, stet_log_append_cb cb, void *arg,
                            uint64_t *lsn_out) {
    if (lsn_out) *lsn_out = 0;
    uint32_t pid = stet_partition_for_key(r->id.partition_key, p->n_parts);
    const struct pgroup *g = &p->g[pid];
    if (g->n_voters == 1 && g->member && !p->stopped && p->n->worker && stet_worker_is_leader(p->n->worker, pid)) {
        /* the one voter (a single node): its leadership never moves and an append is never
         * replaced, so nothing is retried: straight to the worker */
        p->stats.proposed_local++;
        return stet_worker_propose(p->n->worker, r, cb, arg, lsn_out);
    }
    return submit(p, r, record_idempotent(r), REQUEST_DEADLINE_MS, cb, arg);
}

int stet_node_parts_forward(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg) {
    struct stet_node_parts *p = ((struct stet_node *)ctx)->parts;
    return submit(p, r, true, FORWARD_DEADLINE_MS, cb, arg);
}

static void fail_reqs(struct stet_node_parts *p, int status) {
    for (struct preq *q = p->reqs, *next; q; q = next) {
        next = q->next;
        if (!q->answered) req_finish(p, q, status, 0);
    }
}

/* ---- leadership ------------------------------------------------------------------------------------ */

void stet_node_parts_role(struct stet_node_parts *p, uint32_t group, bool leader, uint64_t term, uint32_t leader_node) {
    if (group < STET_PARTS_FIRST_GROUP || group - STET_PARTS_FIRST_GROUP >= p->n_parts) return;
    struct pgroup *g = &p->g[group - STET_PARTS_FIRST_GROUP];
    if (leader != g->leader) p->stats.leader_changes++;
    g->leader = leader;
    g->term = term;
    g->leader_node = leader ? self(p) : leader_node;
    p->roles_dirty = true;
    arm(p, 0); /* not inside the consensus step */
}

static void sync_roles(struct stet_node_parts *p) {
    struct stet_node *n = p->n;
    if (!n->worker || n->stopping) return;
    p->roles_dirty = false;
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        struct pgroup *g = &p->g[pid];
        if (!g->member) continue;
        if (!g->leader) {
            stet_worker_step_down(n->worker, pid);
            continue;
        }
        if (g->led_term == g->term) continue;
        stet_worker_step_down(n->worker, pid); /* a leadership of an earlier term, if any */
        /* epoch = raft term; a group with one voter elects itself without a new term (libraft),
         * so its epochs are simply the next one: there is no other leader to fence off */
        int rc = stet_worker_become_leader_at(n->worker, pid, g->n_voters == 1 ? 0 : g->term);
        if (rc != 0) {
            stet_warn(MOD, "partition %u: cannot announce leadership in term %" PRIu64 ": %s", pid, g->term,
                      strerror(-rc));
            if (rc != -ESTALE) p->roles_dirty = true; /* tried again at the next tick */
            continue;
        }
        g->led_term = g->term;
        stet_info(MOD, "partition %u: leading in term %" PRIu64, pid, g->term);
    }
}

static void status_send(struct stet_node_parts *p);

bool stet_node_parts_hand_off(struct stet_node_parts *p) {
    if (!p || p->stopped) return false;
    if (!p->draining) {
        p->draining = true;
        status_send(p); /* the others stop moving leaderships here at once */
    }
    struct stet_consensus *c = stet_node_cluster_cons(p->n);
    bool any = false;
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        struct pgroup *g = &p->g[pid];
        if (!g->member || !g->leader) continue;
        for (unsigned i = 0; i < g->n_voters; i++) {
            uint32_t v = g->voters[(pid + i) % g->n_voters]; /* spread over the others */
            if (v == self(p) || !stet_node_cluster_peer_alive(p->n, v)) continue;
            if (stet_consensus_transfer(c, group_of(pid), v) == 0) {
                p->stats.transfers++;
                any = true;
                break;
            }
        }
    }
    return any;
}

bool stet_node_parts_leads_any(const struct stet_node_parts *p) {
    if (!p || p->stopped) return false;
    for (uint32_t pid = 0; pid < p->n_parts; pid++)
        if (p->g[pid].member && p->g[pid].leader) return true;
    return false;
}

/* ---- applying -------------------------------------------------------------------------------------- */

static void barriers_applied(struct stet_node_parts *p, uint32_t pid, uint64_t index, uint64_t term);

void stet_node_parts_apply(struct stet_node_parts *p, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    if (!p->log || group < STET_PARTS_FIRST_GROUP || group - STET_PARTS_FIRST_GROUP >= p->n_parts) return;
    stet_raftlog_committed(p->log, group, index, e->term, e->type, e->data, e->len);
    if (p->barriers) barriers_applied(p, group - STET_PARTS_FIRST_GROUP, index, e->term);
}

void stet_node_parts_install(struct stet_node_parts *p, uint32_t group, uint64_t index) {
    if (!p->log || group < STET_PARTS_FIRST_GROUP || group - STET_PARTS_FIRST_GROUP >= p->n_parts) return;
    uint32_t pid = group - STET_PARTS_FIRST_GROUP;
    uint64_t applied = p->n->worker ? stet_worker_applied_lsn(p->n->worker, pid) : 0;
    /* this node's store must hold the state up to index: a snapshot is taken only of what was
     * flushed here, or marks where the local log ended; installing another node's state comes
     * with issue 17 */
    STET_ASSERT(applied >= index);
    stet_raftlog_install(p->log, group, index);
}

/* ---- serving other nodes ------------------------------------------------------------------------- */

static void reply(struct stet_node_parts *p, uint32_t to, uint64_t rpc, int32_t status, uint64_t value, bool hint) {
    uint8_t b[8];
    size_t len = 0;
    if (status == 0) {
        stet_store_u64be(b, value);
        len = 8;
    } else if (hint) {
        stet_store_u32be(b, (uint32_t)value);
        len = 4;
    }
    stet_node_cluster_reply(p->n, to, rpc, status, len ? b : NULL, len);
}

static void served_cb(void *arg, int status, uint64_t lsn) {
    struct served *s = arg;
    struct stet_node_parts *p = s->p;
    if (status != -ESHUTDOWN) reply(p, s->from, s->rpc, status, lsn, false);
    free(s);
}

static void barrier_reply(struct stet_node_parts *p, struct barrier *b, int status);

void stet_node_parts_serve(struct stet_node_parts *p, uint32_t from, uint64_t rpc, uint8_t op, const uint8_t *body,
                           size_t len) {
    struct stet_node *n = p->n;
    if (p->stopped || len < 4) {
        reply(p, from, rpc, p->stopped ? -ESHUTDOWN : -EPROTO, 0, false);
        return;
    }
    uint32_t pid = stet_load_u32be(body);
    if (pid >= p->n_parts) {
        reply(p, from, rpc, -EINVAL, 0, false);
        return;
    }
    struct pgroup *g = &p->g[pid];
    p->stats.forwards_served++;
    if (!g->member || !n->worker || !stet_worker_is_leader(n->worker, pid)) {
        reply(p, from, rpc, -EAGAIN, g->leader_node, true); /* possibly this node: not acting yet */
        return;
    }
    if (op == STET_NP_OP_BARRIER) {
        struct barrier *b = calloc(1, sizeof(*b));
        STET_ASSERT(b != NULL);
        *b = (struct barrier){.next = p->barriers, .pid = pid, .term = g->term, .from = from, .rpc = rpc};
        p->barriers = b;
        arm(p, 0);
        return;
    }
    if (op != STET_NP_OP_PROPOSE) {
        reply(p, from, rpc, -EOPNOTSUPP, 0, false);
        return;
    }
    struct stet_record r;
    if (stet_record_decode(body + 4, len - 4, &r) != 0 ||
        stet_partition_for_key(r.id.partition_key, p->n_parts) != pid) {
        reply(p, from, rpc, -EPROTO, 0, false);
        return;
    }
    struct served *s = malloc(sizeof(*s));
    STET_ASSERT(s != NULL);
    *s = (struct served){p, from, rpc};
    int rc = stet_worker_propose(n->worker, &r, served_cb, s, NULL);
    if (rc != 0) {
        free(s);
        reply(p, from, rpc, rc, g->leader_node, rc == -EAGAIN);
    }
}

/* ---- replies to our requests ---------------------------------------------------------------------- */

static bool sync_reply(struct stet_node_parts *p, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                       size_t len);

static void task_seen(void *arg, const struct stet_np_task *t) {
    struct stet_node_parts *p = arg;
    struct stet_invoker_task_info *ti = calloc(1, sizeof(*ti));
    STET_ASSERT(ti != NULL);
    ti->running = t->running;
    ti->retry_count = t->retry_count;
    ti->next_retry_at_ms = t->next_retry_at_ms;
    ti->last_start_at_ms = t->last_start_at_ms;
    size_t n = t->failure_len < sizeof(ti->last_failure) - 1 ? t->failure_len : sizeof(ti->last_failure) - 1;
    memcpy(ti->last_failure, t->failure, n);
    ti->last_failure[n] = '\0';
    free(stet_hmap_put(&p->tasks, t->id, 24, ti));
}

static bool tasks_reply(struct stet_node_parts *p, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                        size_t len) {
    for (struct tasks_op *op = p->task_ops; op; op = op->next) {
        for (unsigned i = 0; i < op->n; i++) {
            if (op->rpcs[i] != rpc || op->nodes[i] != from) continue;
            op->rpcs[i] = 0;
            if (status == 0) (void)stet_np_tasks_decode(body, len, task_seen, p); /* malformed: ignored */
            if (--op->waiting == 0) task_ops_finish(p, op);
            return true;
        }
    }
    return false;
}

bool stet_node_parts_reply(struct stet_node_parts *p, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                           size_t len) {
    if (p->stopped) return false;
    if (tasks_reply(p, from, rpc, status, body, len)) return true;
    if (copy_reply(p, from, rpc, status, body, len)) return true;
    if (sync_reply(p, from, rpc, status, body, len)) return true;
    struct preq *q = NULL;
    for (struct preq *it = p->reqs; it; it = it->next)
        if (it->state == REMOTE && it->rpc == rpc && it->rpc_node == from) q = it;
    if (!q) return false;
    q->state = IDLE;
    struct pgroup *g = &p->g[q->pid];
    if (status == 0 && len >= 8) {
        req_finish(p, q, 0, stet_load_u64be(body));
    } else if (status == -EAGAIN) {
        /* not appended there: a non-member follows its hint (a member has raft's own leader
         * information); routed again at the next tick */
        uint32_t hint = len >= 4 ? stet_load_u32be(body) : 0;
        if (!g->member) g->leader_node = hint != self(p) ? hint : 0;
        p->stats.retries++;
    } else if (status == -ECANCELED) {
        p->stats.retries++;
    } else if (status == -ENOBUFS || status == -EPROTO || status == -EINVAL || status == -EOPNOTSUPP) {
        req_finish(p, q, status == -ENOBUFS ? -ENOBUFS : -EIO, 0);
    } else {
        req_unknown(p, q);
    }
    return true;
}

void stet_node_parts_peer(struct stet_node_parts *p, uint32_t node, bool up) {
    if (p->stopped) return;
    if (node < PLACE_MAX_NODE) {
        p->up_since[node] = up ? mono(p) : 0;
        p->peer_draining[node] = false; /* a new connection: a new process, or the same one still serving */
    }
    if (!up) {
        for (struct preq *q = p->reqs, *next; q; q = next) {
            next = q->next;
            if (q->state == REMOTE && q->rpc_node == node) req_unknown(p, q);
        }
        for (uint32_t pid = 0; pid < p->n_parts; pid++)
            if (!p->g[pid].member && p->g[pid].leader_node == node) p->g[pid].leader_node = 0;
        for (struct sync_op *op = p->syncs; op; op = op->next)
            for (uint32_t pid = 0; pid < p->n_parts; pid++)
                if (op->rpc[pid] != 0 && op->rpc_node[pid] == node) op->rpc[pid] = 0; /* ask the next leader */
    }
    arm(p, 0);
}

/* ---- answers for requests held here ------------------------------------------------------------- */

void stet_node_parts_respond(struct stet_node_parts *p, const struct stet_action *a) {
    if (p->stopped) return;
    stet_buf_reset(&p->scratch);
    stet_response_encode(a, &p->scratch);
    uint32_t pid = stet_partition_for_key(a->id.partition_key, p->n_parts);
    /* after earlier ones to the same node (order), else at once */
    bool queued = false;
    for (struct pending_response *r = p->resp_head; r && !queued; r = r->next) queued = r->node == a->sink.node_id;
    if (!queued &&
        stet_node_cluster_send(p->n, a->sink.node_id, STET_NP_RESPONSE, pid, p->scratch.data, p->scratch.len) == 0) {
        p->stats.responses_sent++;
        return;
    }
    if (p->n_resp >= MAX_PENDING_RESPONSES) {
        p->stats.responses_lost++;
        return;
    }
    struct pending_response *r = calloc(1, sizeof(*r));
    STET_ASSERT(r != NULL);
    r->node = a->sink.node_id;
    r->pid = pid;
    r->deadline = mono(p) + RESPONSE_RETRY_MS;
    stet_buf_init(&r->frame);
    stet_buf_append(&r->frame, p->scratch.data, p->scratch.len);
    *p->resp_tail = r;
    p->resp_tail = &r->next;
    p->n_resp++;
    arm(p, ROUTE_TICK_MS);
}

/* Answers waiting for their link: sent in order per node, dropped after their deadline (the
 * node holding the request is gone: nobody waits for them). */
static void responses_retry(struct stet_node_parts *p, uint64_t now) {
    uint32_t blocked[STET_PARTS_MAX_VOTERS * 4];
    unsigned nb = 0;
    for (struct pending_response **pp = &p->resp_head; *pp;) {
        struct pending_response *r = *pp;
        bool is_blocked = false;
        for (unsigned i = 0; i < nb; i++) is_blocked |= blocked[i] == r->node;
        bool sent = !is_blocked &&
                    stet_node_cluster_send(p->n, r->node, STET_NP_RESPONSE, r->pid, r->frame.data, r->frame.len) == 0;
        if (sent || now >= r->deadline) {
            if (sent) p->stats.responses_sent++;
            else p->stats.responses_lost++;
            *pp = r->next;
            if (p->resp_tail == &r->next) p->resp_tail = pp;
            p->n_resp--;
            stet_buf_free(&r->frame);
            free(r);
            continue;
        }
        if (!is_blocked && nb < sizeof(blocked) / sizeof(blocked[0])) blocked[nb++] = r->node; /* keep order */
        pp = &r->next;
    }
}

void stet_node_parts_response_frame(struct stet_node_parts *p, uint32_t from, const uint8_t *payload, size_t len) {
    STET_UNUSED(from);
    struct stet_node *n = p->n;
    struct stet_action a;
    if (p->stopped || stet_response_decode(payload, len, &a) != 0) return;
    if (a.sink.node_id != n->node_id || a.sink.generation != n->generation) return;
    p->stats.responses_received++;
    if (a.kind == STET_ACTION_INGRESS_RESPONSE) {
        if (n->ingress) stet_ingress_respond(n->ingress, &a);
    } else if (a.kind == STET_ACTION_ADMIN_RESPONSE) {
        if (n->invocations) stet_invocations_response(n->invocations, &a);
    }
}

/* ---- read barriers ---------------------------------------------------------------------------------- */

static void barrier_reply(struct stet_node_parts *p, struct barrier *b, int status);
static void sync_part_target(struct stet_node_parts *p, struct sync_op *op, uint32_t pid, uint64_t lsn);

/* Barriers waiting to be submitted: one empty command per partition per loop turn. */
static void barriers_submit(struct stet_node_parts *p) {
    struct stet_consensus *c = stet_node_cluster_cons(p->n);
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        bool need = false;
        for (struct barrier *b = p->barriers; b; b = b->next) need |= b->pid == pid && b->index == 0;
        if (!need) continue;
        uint64_t index = 0;
        struct pgroup *g = &p->g[pid];
        int rc = g->leader && c ? stet_consensus_submit(c, group_of(pid), "", 0, &index) : -EAGAIN;
        for (struct barrier **pp = &p->barriers; *pp;) {
            struct barrier *b = *pp;
            if (b->pid != pid || b->index != 0) {
                pp = &b->next;
                continue;
            }
            if (rc == 0 && b->term == g->term) {
                b->index = index;
                pp = &b->next;
            } else {
                *pp = b->next;
                barrier_reply(p, b, -EAGAIN);
            }
        }
    }
}

static void barriers_applied(struct stet_node_parts *p, uint32_t pid, uint64_t index, uint64_t term) {
    for (struct barrier **pp = &p->barriers; *pp;) {
        struct barrier *b = *pp;
        if (b->pid == pid && b->index != 0 && b->index <= index) {
            *pp = b->next;
            barrier_reply(p, b, b->index == index && b->term == term ? 0 : -EAGAIN);
        } else {
            pp = &b->next;
        }
    }
}

static void barrier_reply(struct stet_node_parts *p, struct barrier *b, int status) {
    if (b->op) {
        if (status == 0) sync_part_target(p, b->op, b->pid, b->index);
        else b->op->rpc[b->pid] = 0; /* asked again at the next tick */
    } else {
        reply(p, b->from, b->rpc, status, b->index, false);
    }
    free(b);
}

static void sync_finish(struct stet_node_parts *p, struct sync_op *op, int status) {
    for (struct sync_op **pp = &p->syncs; *pp; pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            break;
        }
    }
    for (struct barrier **pp = &p->barriers; *pp;) {
        struct barrier *b = *pp;
        if (b->op == op) {
            *pp = b->next;
            free(b);
        } else {
            pp = &b->next;
        }
    }
    for (uint32_t pid = 0; pid < p->n_parts; pid++)
        if (p->n->worker) stet_worker_waiter_cancel(p->n->worker, &op->waiters[pid]);
    void (*done)(void *, int) = op->done;
    void *arg = op->arg;
    free(op->target);
    free(op->rpc);
    free(op->rpc_node);
    free(op->waiters);
    free(op->done_part);
    free(op);
    done(arg, status);
}

static void sync_part_done(struct stet_node_parts *p, struct sync_op *op, uint32_t pid) {
    if (op->done_part[pid]) return;
    op->done_part[pid] = true;
    STET_ASSERT(op->waiting > 0);
    if (--op->waiting == 0) sync_finish(p, op, 0);
}

/* The waiter callback gets the op; which partitions are done is rechecked against applied LSNs. */
static void sync_recheck(void *arg) {
    struct sync_op *op = arg;
    struct stet_node_parts *p = op->p;
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        if (op->done_part[pid] || op->target[pid] == 0) continue;
        if (stet_worker_applied_lsn(p->n->worker, pid) >= op->target[pid]) {
            bool last = op->waiting == 1;
            sync_part_done(p, op, pid);
            if (last) return; /* op freed */
        }
    }
}

static void sync_part_target(struct stet_node_parts *p, struct sync_op *op, uint32_t pid, uint64_t lsn) {
    op->rpc[pid] = 0;
    if (op->done_part[pid]) return;
    op->target[pid] = lsn ? lsn : 1;
    if (stet_worker_applied_lsn(p->n->worker, pid) >= lsn) {
        sync_part_done(p, op, pid);
        return;
    }
    stet_worker_when_applied(p->n->worker, pid, lsn, &op->waiters[pid], sync_recheck, op);
}

static bool sync_reply(struct stet_node_parts *p, uint32_t from, uint64_t rpc, int32_t status, const uint8_t *body,
                       size_t len) {
    for (struct sync_op *op = p->syncs; op; op = op->next) {
        for (uint32_t pid = 0; pid < p->n_parts; pid++) {
            if (op->rpc[pid] != rpc || op->rpc_node[pid] != from) continue;
            op->rpc[pid] = 0;
            if (status == 0 && len >= 8) sync_part_target(p, op, pid, stet_load_u64be(body));
            return true;
        }
    }
    return false;
}

/* Asks the leader of every partition not settled yet (again after a failure). */
static void sync_route(struct stet_node_parts *p, struct sync_op *op) {
    struct stet_node *n = p->n;
    uint64_t now = mono(p);
    if (now >= op->deadline) {
        sync_finish(p, op, -ETIMEDOUT);
        return;
    }
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        struct pgroup *g = &p->g[pid];
        if (op->done_part[pid] || op->target[pid] != 0 || op->rpc[pid] != 0) continue;
        bool local_pending = false;
        for (struct barrier *b = p->barriers; b; b = b->next) local_pending |= b->op == op && b->pid == pid;
        if (local_pending) continue;
        if (g->leader && n->worker && stet_worker_is_leader(n->worker, pid)) {
            struct barrier *b = calloc(1, sizeof(*b));
            STET_ASSERT(b != NULL);
            *b = (struct barrier){.next = p->barriers, .pid = pid, .term = g->term, .op = op};
            p->barriers = b;
            continue;
        }
        uint32_t to = g->leader_node;
        if (to == 0 || to == self(p) || !stet_node_cluster_peer_alive(n, to)) continue;
        uint8_t body[4];
        stet_store_u32be(body, pid);
        uint64_t rpc = stet_node_cluster_new_rpc(n);
        if (stet_node_cluster_forward(n, to, rpc, STET_NP_OP_BARRIER, body, sizeof(body)) != 0) continue;
        op->rpc[pid] = rpc;
        op->rpc_node[pid] = to;
    }
}

void stet_node_parts_sync(struct stet_node_parts *p, void (*done)(void *arg, int status), void *arg) {
    if (p->stopped) {
        done(arg, -ESHUTDOWN);
        return;
    }
    struct sync_op *op = calloc(1, sizeof(*op));
    STET_ASSERT(op != NULL);
    op->p = p;
    op->done = done;
    op->arg = arg;
    op->deadline = mono(p) + 5000;
    op->target = calloc(p->n_parts, sizeof(*op->target));
    op->rpc = calloc(p->n_parts, sizeof(*op->rpc));
    op->rpc_node = calloc(p->n_parts, sizeof(*op->rpc_node));
    op->waiters = calloc(p->n_parts, sizeof(*op->waiters));
    op->done_part = calloc(p->n_parts, sizeof(*op->done_part));
    STET_ASSERT(op->target && op->rpc && op->rpc_node && op->waiters && op->done_part);
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        if (p->g[pid].member) op->waiting++;
        else op->done_part[pid] = true; /* no replica here: /query shows what this node holds */
    }
    op->next = p->syncs;
    p->syncs = op;
    if (op->waiting == 0) {
        sync_finish(p, op, 0);
        return;
    }
    arm(p, 0);
}

/* ---- the tick --------------------------------------------------------------------------------------- */

static void tick(void *arg) {
    struct stet_node_parts *p = arg;
    p->timer_armed = false;
    if (p->stopped) return;
    uint64_t now = mono(p);
    if (p->roles_dirty) sync_roles(p);
    for (struct preq *q = p->reqs, *next; q; q = next) {
        next = q->next;
        if (q->state == REMOTE && now >= q->rpc_deadline) {
            /* a slow but alive leader (a stalled disk, a backlog) keeps the request until the
             * deadline; a silent one (dead within about a second) or a deposed one does not */
            const struct pgroup *g = &p->g[q->pid];
            bool still = stet_node_cluster_peer_alive(p->n, q->rpc_node) &&
                         (!g->member || g->leader_node == q->rpc_node) && now < q->deadline;
            if (still) q->rpc_deadline = now + ROUTE_TICK_MS * 5;
            else req_unknown(p, q);
        } else if (q->state == LOCAL) {
            local_lost(p, q, now);
        }
    }
    route_all(p);
    for (struct sync_op *op = p->syncs, *next; op; op = next) {
        next = op->next;
        sync_route(p, op);
    }
    if (p->barriers) barriers_submit(p);
    copy_step(p);
    if (p->resp_head) responses_retry(p, now);
    for (struct tasks_op *op = p->task_ops, *next; op; op = next) { /* a node that never answered */
        next = op->next;
        if (now >= op->deadline) task_ops_finish(p, op);
    }
    bool waiting = p->syncs != NULL || p->roles_dirty || p->copy_next < p->n_copy || p->resp_head != NULL ||
                   p->task_ops != NULL;
    for (struct preq *q = p->reqs; q && !waiting; q = q->next) waiting = !q->answered;
    if (waiting) arm(p, ROUTE_TICK_MS);
}

void stet_node_parts_flush(struct stet_node_parts *p) {
    if (p->stopped) return;
    if (p->barriers) barriers_submit(p);
    if (p->copy_have) copy_install(p);
}

/* ---- replicas' progress (REPLICAS frames) ----------------------------------------------------------- */

static void local_status(const struct stet_node_parts *p, uint32_t pid, struct stet_np_replica_status *r) {
    const struct stet_node *n = p->n;
    r->partition = pid;
    r->applied = n->worker ? stet_worker_applied_lsn(n->worker, pid) : 0;
    r->durable = p->log ? stet_raftlog_durable_tail(p->log, pid) : 0;
    r->flushed = n->flushed ? n->flushed[pid] : 0;
}

static void status_send(struct stet_node_parts *p) {
    uint32_t members = 0;
    for (uint32_t pid = 0; pid < p->n_parts; pid++) members += p->g[pid].member;
    if (members == 0) return;
    stet_buf_reset(&p->scratch);
    stet_np_replicas_begin(&p->scratch, members);
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        if (!p->g[pid].member) continue;
        struct stet_np_replica_status r;
        local_status(p, pid, &r);
        stet_np_replicas_append(&p->scratch, &r);
    }
    uint32_t peers[STET_PARTS_MAX_VOTERS * 2];
    size_t np = stet_node_cluster_alive_peers(p->n, peers, sizeof(peers) / sizeof(peers[0]));
    uint32_t flags = p->draining ? STET_PARTS_DRAINING : 0;
    for (size_t i = 0; i < np; i++)
        (void)stet_node_cluster_send(p->n, peers[i], STET_NP_REPLICAS, flags, p->scratch.data, p->scratch.len);
}

/* Placement (see the top of the file): leaderships held here that belong to another node go
 * back to it once it is settled and caught up. */
static void place(struct stet_node_parts *p) {
    struct stet_node *n = p->n;
    struct stet_consensus *c = stet_node_cluster_cons(n);
    if (p->draining || n->stopping || !c || !n->worker) return;
    uint64_t now = mono(p);
    unsigned moved = 0;
    for (uint32_t pid = 0; pid < p->n_parts && moved < PLACE_PER_TICK; pid++) {
        struct pgroup *g = &p->g[pid];
        if (!g->member || !g->leader || g->n_voters < 2 || !stet_worker_is_leader(n->worker, pid)) continue;
        struct stet_consensus_group_info gi;
        if (!stet_consensus_group_info(c, group_of(pid), &gi)) continue;
        /* preference order: voters[p mod n], then the others rotated by p / n, so that the
         * partitions of a node that is away spread over the rest */
        unsigned nv = g->n_voters, first = pid % nv;
        uint32_t to = 0;
        for (unsigned j = 0; j < nv && to == 0; j++) {
            unsigned slot = j == 0 ? first : (first + 1 + (pid / nv + j - 1) % (nv - 1)) % nv;
            uint32_t v = g->voters[slot];
            if (v == self(p)) break; /* this node comes first among those available: stay */
            if (v >= PLACE_MAX_NODE || p->peer_draining[v]) continue;
            if (p->up_since[v] == 0 || now - p->up_since[v] < PLACE_SETTLE_MS) continue;
            if (!stet_node_cluster_peer_alive(n, v)) continue;
            const struct rep *r = &g->reps[slot];
            if (r->at_ms == 0 || now - r->at_ms > 3 * REPLICAS_EVERY_MS || r->durable + 64 < gi.commit_index) continue;
            to = v;
        }
        if (to != 0 && stet_consensus_transfer(c, group_of(pid), to) == 0) {
            p->stats.transfers++;
            p->stats.placements++;
            moved++;
        }
    }
}

static void status_tick(void *arg) {
    struct stet_node_parts *p = arg;
    if (p->stopped) return;
    status_send(p);
    place(p);
    stet_env_timer_start(p->env, p->status_timer, REPLICAS_EVERY_MS);
}

struct replicas_from {
    struct stet_node_parts *p;
    uint32_t node;
    uint64_t now;
};

static void replica_seen(void *arg, const struct stet_np_replica_status *r) {
    struct replicas_from *f = arg;
    if (r->partition >= f->p->n_parts) return;
    struct pgroup *g = &f->p->g[r->partition];
    for (unsigned i = 0; i < g->n_voters; i++)
        if (g->voters[i] == f->node)
            g->reps[i] = (struct rep){.applied = r->applied, .durable = r->durable, .flushed = r->flushed, .at_ms = f->now};
}

void stet_node_parts_replicas_frame(struct stet_node_parts *p, uint32_t from, uint32_t flags, const uint8_t *payload,
                                    size_t len) {
    if (p->stopped) return;
    if (from < PLACE_MAX_NODE) p->peer_draining[from] = (flags & STET_PARTS_DRAINING) != 0;
    struct replicas_from f = {p, from, mono(p)};
    (void)stet_np_replicas_decode(payload, len, replica_seen, &f); /* malformed: ignored */
}

/* ---- invoker tasks of other nodes (/query) ----------------------------------------------------------- */

static void task_out(void *arg, const struct stet_invocation_id *id, const struct stet_invoker_task_info *ti) {
    struct stet_buf *b = arg;
    struct stet_np_task t = {.running = ti->running,
                             .retry_count = ti->retry_count,
                             .next_retry_at_ms = ti->next_retry_at_ms,
                             .last_start_at_ms = ti->last_start_at_ms,
                             .failure = ti->last_failure};
    stet_invocation_id_to_bytes(id, t.id);
    size_t fl = strlen(ti->last_failure);
    t.failure_len = (uint16_t)(fl > STET_NP_TASK_FAILURE_MAX ? STET_NP_TASK_FAILURE_MAX : fl);
    stet_np_tasks_append(b, &t);
}

static void task_count(void *arg, const struct stet_invocation_id *id, const struct stet_invoker_task_info *ti) {
    STET_UNUSED(id);
    STET_UNUSED(ti);
    (*(uint32_t *)arg)++;
}

void stet_node_parts_serve_tasks(struct stet_node_parts *p, uint32_t from, uint64_t rpc) {
    struct stet_node *n = p->n;
    if (p->stopped || !n->invoker) {
        stet_node_cluster_reply(n, from, rpc, -ESHUTDOWN, NULL, 0);
        return;
    }
    uint32_t count = 0;
    stet_invoker_each_task(n->invoker, task_count, &count);
    struct stet_buf b = STET_BUF_INIT;
    stet_np_tasks_begin(&b, count);
    stet_invoker_each_task(n->invoker, task_out, &b);
    stet_node_cluster_reply(n, from, rpc, 0, b.data, b.len);
    stet_buf_free(&b);
}

void stet_node_parts_gather_tasks(struct stet_node_parts *p, void (*done)(void *arg), void *arg) {
    if (p->stopped) {
        done(arg);
        return;
    }
    tasks_clear(p);
    struct tasks_op *op = calloc(1, sizeof(*op));
    STET_ASSERT(op != NULL);
    op->done = done;
    op->arg = arg;
    op->deadline = mono(p) + 1000;
    for (uint32_t pid = 0; pid < p->n_parts; pid++) {
        uint32_t l = p->g[pid].leader_node;
        if (l == 0 || l == self(p) || !stet_node_cluster_peer_alive(p->n, l)) continue;
        bool have = false;
        for (unsigned i = 0; i < op->n; i++) have |= op->nodes[i] == l;
        if (have || op->n == sizeof(op->nodes) / sizeof(op->nodes[0])) continue;
        uint64_t rpc = stet_node_cluster_new_rpc(p->n);
        if (stet_node_cluster_forward(p->n, l, rpc, STET_NP_OP_TASKS, NULL, 0) != 0) continue;
        op->nodes[op->n] = l;
        op->rpcs[op->n++] = rpc;
        op->waiting++;
    }
    op->next = p->task_ops;
    p->task_ops = op;
    if (op->waiting == 0) {
        task_ops_finish(p, op);
        return;
    }
    arm(p, ROUTE_TICK_MS);
}

bool stet_node_parts_task_info(const struct stet_node_parts *p, const struct stet_invocation_id *id,
                               struct stet_invoker_task_info *out) {
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    const struct stet_invoker_task_info *ti = stet_hmap_get(&p->tasks, b, 24);
    if (!ti) return false;
    *out = *ti;
    return true;
}

/* ---- views ---------------------------------------------------------------------------------------- */

void stet_node_parts_info(const struct stet_node_parts *p, uint32_t pid, struct stet_node_parts_info *out) {
    memset(out, 0, sizeof(*out));
    if (!p || pid >= p->n_parts) return;
    const struct pgroup *g = &p->g[pid];
    out->member = g->member;
    out->leader = g->leader;
    out->leader_node = g->leader_node;
    out->term = g->term;
    out->n_voters = g->n_voters;
    memcpy(out->voters, g->voters, g->n_voters * sizeof(*g->voters));
    struct stet_node *n = p->n;
    out->worker_leader = n->worker && stet_worker_is_leader(n->worker, pid);
    if (n->worker) out->applied_lsn = stet_worker_applied_lsn(n->worker, pid);
    uint64_t now = mono(p);
    for (unsigned i = 0; i < g->n_voters; i++) {
        struct stet_node_parts_replica *r = &out->replicas[i];
        r->node = g->voters[i];
        if (g->voters[i] == n->node_id && g->member) {
            struct stet_np_replica_status st;
            local_status(p, pid, &st);
            *r = (struct stet_node_parts_replica){.node = g->voters[i], .known = true, .applied_lsn = st.applied,
                                                 .durable_lsn = st.durable, .flushed_lsn = st.flushed};
        } else if (g->reps[i].at_ms != 0) {
            r->known = true;
            r->applied_lsn = g->reps[i].applied;
            r->durable_lsn = g->reps[i].durable;
            r->flushed_lsn = g->reps[i].flushed;
            r->age_ms = now - g->reps[i].at_ms;
        }
    }
    const struct stet_consensus *c = stet_node_cluster_consensus(n);
    struct stet_consensus_group_info gi;
    if (g->member && c && stet_consensus_group_info(c, group_of(pid), &gi)) {
        out->commit_index = gi.commit_index;
        out->durable_index = gi.durable_index;
        out->last_index = gi.last_index;
        out->snapshot_index = gi.snapshot_index;
    }
}

void stet_node_parts_stats(const struct stet_node_parts *p, struct stet_node_parts_stats *out) {
    memset(out, 0, sizeof(*out));
    if (!p) return;
    *out = p->stats;
    out->waiting = p->n_reqs;
}

void stet_node_parts_log_stats(const struct stet_node_parts *p, uint64_t *records, uint64_t *bytes) {
    *records = *bytes = 0;
    if (!p || !p->log) return;
    struct stet_raftlog_stats st;
    stet_raftlog_stats(p->log, &st);
    *records = st.records;
    *bytes = st.record_bytes;
}
