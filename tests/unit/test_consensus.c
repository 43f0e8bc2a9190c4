/* Seeded harness for src/consensus: several nodes' consensus in one process on a simulated
 * clock (tests/unit/sim_env.h), with a simulated network (delay, loss, duplication, reordering,
 * partitions) and simulated disks (staged writes are lost at a crash unless a sync completed;
 * syncs take a random time). Nodes are killed and restarted from their disks.
 *
 * After every event the oracles run:
 *  - agreement: for each group, every node that applies index i applies the same entry (the
 *    first application of each index is recorded; later ones must match), and a node applies
 *    indexes in order without gaps;
 *  - election safety: at most one leader per group and term;
 *  - durability: an entry acknowledged as committed (applied somewhere) is never lost: it stays
 *    in the log of a majority (checked at the end, after healing, by every node applying it).
 * At the end the network heals and every node comes back: every group elects a leader and every
 * entry committed before is applied everywhere, plus a final entry submitted then.
 *
 * This is the first piece of the whole-cluster simulator: the same seed replays the same run
 * (STET_TEST_SEED=n runs one seed; STET_TEST_SEEDS=n runs that many).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "consensus/consensus.h"
#include "consensus/store.h"
#include "metadata/replicated.h"
#include "store/store.h"
#include "sim_env.h"

#define NODES 3
#define GROUPS 3
#define MAX_LOG 4096

/* ---- simulated disk ------------------------------------------------------------------------- */

struct sim_entry {
    uint64_t term;
    uint8_t type;
    uint8_t *data;
    size_t len;
};

struct sim_log {
    uint64_t term, vote;
    struct sim_entry *e; /* e[i] is index i + 1 */
    uint64_t n;
};

struct sim_disk {
    struct sim_log vol[GROUPS], dur[GROUPS];
    bool syncing;
    struct stet_env_timer *sync_timer;
    void (*done)(void *arg, int status);
    void *done_arg;
    struct sim_log snap[GROUPS]; /* what the running sync makes durable */
};

static void log_free(struct sim_log *l) {
    for (uint64_t i = 0; i < l->n; i++) free(l->e[i].data);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

static void log_copy(struct sim_log *dst, const struct sim_log *src) {
    log_free(dst);
    dst->term = src->term;
    dst->vote = src->vote;
    dst->n = src->n;
    dst->e = calloc(src->n ? src->n : 1, sizeof(*dst->e));
    for (uint64_t i = 0; i < src->n; i++) {
        dst->e[i] = src->e[i];
        dst->e[i].data = malloc(src->e[i].len ? src->e[i].len : 1);
        memcpy(dst->e[i].data, src->e[i].data, src->e[i].len);
    }
}

/* ---- the world ------------------------------------------------------------------------------- */

struct packet {
    uint32_t from, to;
    uint64_t deliver_at;
    uint8_t *data;
    size_t len;
};

struct node {
    uint32_t id;
    bool up;
    struct stet_consensus *c;
    struct sim_disk disk;
    uint64_t applied[GROUPS]; /* last index applied since this start */
    uint64_t starts;
};

struct world {
    struct sim_env sim;
    uint64_t rng;
    struct node nodes[NODES];
    struct packet *net;
    size_t n_net, cap_net;
    bool cut[NODES + 1][NODES + 1]; /* cut[a][b]: a cannot send to b */
    unsigned loss_pct, dup_pct;
    /* oracles */
    struct sim_entry committed[GROUPS][MAX_LOG]; /* first application of each index */
    uint64_t n_committed[GROUPS];
    uint32_t leader_of_term[GROUPS][4096];
    uint64_t submitted, next_payload;
};

static struct world *W;

static uint64_t rnd(void) {
    W->rng ^= W->rng >> 12;
    W->rng ^= W->rng << 25;
    W->rng ^= W->rng >> 27;
    return W->rng * 0x2545F4914F6CDD1Dull;
}
static unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

static struct node *node_of(void *ctx) { return ctx; }

/* storage port */
static int st_load(void *ctx, uint32_t group, uint64_t *term, uint64_t *vote,
                   int (*cb)(void *arg, uint64_t index, const struct stet_consensus_entry *e), void *arg) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    *term = l->term;
    *vote = l->vote;
    for (uint64_t i = 0; i < l->n; i++) {
        struct stet_consensus_entry e = {l->e[i].term, l->e[i].type, l->e[i].data, l->e[i].len};
        if (cb(arg, i + 1, &e)) break;
    }
    return 0;
}

static int st_set_term_vote(void *ctx, uint32_t group, uint64_t term, uint64_t vote) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    l->term = term;
    l->vote = vote;
    return 0;
}

static int st_truncate_append(void *ctx, uint32_t group, uint64_t first, const struct stet_consensus_entry *e,
                              unsigned n) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    assert_true(first >= 1 && first <= l->n + 1);
    for (uint64_t i = first - 1; i < l->n; i++) free(l->e[i].data);
    l->n = first - 1;
    l->e = realloc(l->e, (l->n + n + 1) * sizeof(*l->e));
    for (unsigned i = 0; i < n; i++) {
        struct sim_entry *d = &l->e[l->n++];
        d->term = e[i].term;
        d->type = e[i].type;
        d->len = e[i].len;
        d->data = malloc(e[i].len ? e[i].len : 1);
        memcpy(d->data, e[i].data, e[i].len);
    }
    return 0;
}

static void sync_fire(void *arg) {
    struct node *n = arg;
    struct sim_disk *d = &n->disk;
    assert_true(d->syncing);
    d->syncing = false;
    for (int g = 0; g < GROUPS; g++) log_copy(&d->dur[g], &d->snap[g]);
    d->done(d->done_arg, 0);
}

static int st_sync(void *ctx, void (*done)(void *arg, int status), void *arg) {
    struct node *n = node_of(ctx);
    struct sim_disk *d = &n->disk;
    assert_false(d->syncing);
    d->syncing = true;
    d->done = done;
    d->done_arg = arg;
    for (int g = 0; g < GROUPS; g++) log_copy(&d->snap[g], &d->vol[g]);
    stet_env_timer_start(&W->sim.env, d->sync_timer, 1 + rnd_below(4));
    return 0;
}

static int st_get(void *ctx, uint32_t group, uint64_t index, struct stet_consensus_entry *out) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    if (index == 0 || index > l->n) return 1;
    const struct sim_entry *e = &l->e[index - 1];
    *out = (struct stet_consensus_entry){e->term, e->type, e->data, e->len};
    return 0;
}

/* network port */
static void net_send(void *ctx, uint32_t to, const uint8_t *msg, size_t len) {
    struct node *from = node_of(ctx);
    assert_true(to >= 1 && to <= NODES);
    static unsigned dumped;
    const char *dump = getenv("STET_DUMP_MESSAGES"); /* seeds the fuzz corpus */
    if (dump && dumped < 24) {
        char path[512];
        snprintf(path, sizeof(path), "%s/msg_%02u_type%u", dump, dumped++, msg[1]);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(msg, 1, len, f);
            fclose(f);
        }
    }
    if (W->cut[from->id][to]) return;
    if (rnd_below(100) < W->loss_pct) return;
    unsigned copies = rnd_below(100) < W->dup_pct ? 2 : 1;
    for (unsigned k = 0; k < copies; k++) {
        if (W->n_net == W->cap_net) {
            W->cap_net = W->cap_net ? W->cap_net * 2 : 256;
            W->net = realloc(W->net, W->cap_net * sizeof(*W->net));
        }
        struct packet *p = &W->net[W->n_net++];
        p->from = from->id;
        p->to = to;
        p->deliver_at = W->sim.now_ms + 1 + rnd_below(8); /* reordering: random latency */
        p->data = malloc(len);
        memcpy(p->data, msg, len);
        p->len = len;
    }
}

/* app port: the oracles */
static void app_apply(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    struct node *n = node_of(ctx);
    assert_int_equal(index, n->applied[group] + 1); /* in order, no gaps */
    n->applied[group] = index;
    assert_true(index < MAX_LOG);
    if (index > W->n_committed[group]) {
        assert_int_equal(index, W->n_committed[group] + 1);
        struct sim_entry *c = &W->committed[group][index];
        c->term = e->term;
        c->type = e->type;
        c->len = e->len;
        c->data = malloc(e->len ? e->len : 1);
        memcpy(c->data, e->data, e->len);
        W->n_committed[group] = index;
        return;
    }
    const struct sim_entry *c = &W->committed[group][index];
    if (c->term != e->term || c->type != e->type || c->len != e->len || memcmp(c->data, e->data, e->len) != 0)
        fail_msg("agreement violated: group %u index %llu differs on node %u", group, (unsigned long long)index, n->id);
}

static void app_role(void *ctx, uint32_t group, bool leader, uint64_t term, uint32_t leader_node) {
    struct node *n = node_of(ctx);
    (void)leader_node;
    if (!leader) return;
    assert_true(term < 4096);
    uint32_t *l = &W->leader_of_term[group][term];
    if (*l && *l != n->id) fail_msg("two leaders in group %u term %llu: %u and %u", group, (unsigned long long)term, *l, n->id);
    *l = n->id;
}

/* ---- node lifecycle ---------------------------------------------------------------------------- */

static const uint32_t VOTERS[NODES] = {1, 2, 3};

static void node_start(struct node *n) {
    struct stet_consensus_config cfg = {.node_id = n->id, .seed = rnd(), .generation = ++n->starts};
    struct stet_consensus_storage st = {n, st_load, st_set_term_vote, st_truncate_append, st_sync, st_get};
    struct stet_consensus_network net = {n, net_send};
    struct stet_consensus_app app = {n, app_apply, app_role};
    assert_int_equal(stet_consensus_create(&W->sim.env, &cfg, &st, &net, &app, &n->c), 0);
    memset(n->applied, 0, sizeof(n->applied));
    for (uint32_t g = 0; g < GROUPS; g++) assert_int_equal(stet_consensus_add_group(n->c, g, VOTERS, NODES), 0);
    n->up = true;
}

/* A crash: what was not synced is gone; a sync in flight never completes. */
static void node_crash(struct node *n) {
    stet_consensus_destroy(n->c);
    n->c = NULL;
    n->up = false;
    stet_env_timer_stop(&W->sim.env, n->disk.sync_timer);
    n->disk.syncing = false;
    for (int g = 0; g < GROUPS; g++) log_copy(&n->disk.vol[g], &n->disk.dur[g]);
}

/* ---- driving --------------------------------------------------------------------------------- */

static void deliver_due(void) {
    for (size_t i = 0; i < W->n_net;) {
        struct packet p = W->net[i];
        if (p.deliver_at > W->sim.now_ms) {
            i++;
            continue;
        }
        W->net[i] = W->net[--W->n_net];
        struct node *to = &W->nodes[p.to - 1];
        if (to->up && !W->cut[p.from][p.to]) stet_consensus_receive(to->c, p.from, p.data, p.len);
        free(p.data);
    }
}

static void tick(void) {
    sim_env_run_for(&W->sim, 1);
    deliver_due();
    for (int i = 0; i < NODES; i++)
        if (W->nodes[i].up) stet_consensus_flush(W->nodes[i].c);
}

static void submit_somewhere(void) {
    uint32_t g = rnd_below(GROUPS);
    for (int i = 0; i < NODES; i++) {
        struct node *n = &W->nodes[i];
        if (!n->up) continue;
        char payload[32];
        int len = snprintf(payload, sizeof(payload), "p%llu", (unsigned long long)W->next_payload);
        uint64_t index;
        if (stet_consensus_submit(n->c, g, payload, (size_t)len, &index) == 0) {
            W->next_payload++;
            W->submitted++;
            return;
        }
    }
}

static void heal(void) {
    memset(W->cut, 0, sizeof(W->cut));
    W->loss_pct = W->dup_pct = 0;
    for (int i = 0; i < NODES; i++)
        if (!W->nodes[i].up) node_start(&W->nodes[i]);
}

static void world_run(uint64_t seed, unsigned steps) {
    if (getenv("STET_TEST_VERBOSE")) fprintf(stderr, "seed %llu\n", (unsigned long long)seed);
    struct world *w = calloc(1, sizeof(*w));
    W = w;
    sim_env_init(&w->sim, seed);
    w->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < NODES; i++) {
        struct node *n = &w->nodes[i];
        n->id = (uint32_t)i + 1;
        n->disk.sync_timer = stet_env_timer_create(&w->sim.env, sync_fire, n);
    }
    for (int i = 0; i < NODES; i++) node_start(&w->nodes[i]);
    w->loss_pct = rnd_below(10);
    w->dup_pct = rnd_below(10);
    for (unsigned s = 0; s < steps; s++) {
        tick();
        unsigned r = rnd_below(1000);
        if (r < 60) {
            submit_somewhere();
        } else if (r < 63) {
            /* crash a random node (at most one down at a time keeps a majority often enough) */
            struct node *n = &w->nodes[rnd_below(NODES)];
            if (n->up) node_crash(n);
        } else if (r < 75) {
            for (int i = 0; i < NODES; i++)
                if (!w->nodes[i].up) node_start(&w->nodes[i]);
        } else if (r < 78) {
            /* partition one node away (both directions, or one) */
            uint32_t a = 1 + rnd_below(NODES);
            bool both = rnd_below(2);
            for (uint32_t b = 1; b <= NODES; b++) {
                if (b == a) continue;
                w->cut[a][b] = true;
                if (both) w->cut[b][a] = true;
            }
        } else if (r < 85) {
            memset(w->cut, 0, sizeof(w->cut));
        }
    }
    /* liveness and durability: heal, let it settle, submit once more per group */
    heal();
    for (unsigned s = 0; s < 3000; s++) tick();
    for (uint32_t g = 0; g < GROUPS; g++) {
        bool done = false;
        for (unsigned attempt = 0; attempt < 100 && !done; attempt++) {
            for (int i = 0; i < NODES && !done; i++) {
                uint64_t index;
                if (stet_consensus_submit(w->nodes[i].c, g, "final", 5, &index) == 0) done = true;
            }
            for (unsigned s = 0; s < 50; s++) tick();
        }
        if (!done) {
            for (int i = 0; i < NODES; i++) {
                struct stet_consensus_group_info gi;
                struct stet_consensus_stats cs;
                stet_consensus_group_info(w->nodes[i].c, g, &gi);
                stet_consensus_stats(w->nodes[i].c, &cs);
                fprintf(stderr, "node %d: leader=%d term=%llu leader_node=%u commit=%llu last=%llu durable=%llu "
                        "applied=%llu held=%llu sent=%llu recv=%llu syncs=%llu\n", i + 1, gi.leader,
                        (unsigned long long)gi.term, gi.leader_node, (unsigned long long)gi.commit_index,
                        (unsigned long long)gi.last_index, (unsigned long long)gi.durable_index,
                        (unsigned long long)gi.applied_index, (unsigned long long)cs.messages_held,
                        (unsigned long long)cs.messages_sent, (unsigned long long)cs.messages_received,
                        (unsigned long long)cs.syncs);
            }
            fail_msg("seed %llu: group %u has no leader after healing", (unsigned long long)seed, g);
        }
    }
    for (unsigned s = 0; s < 3000; s++) tick();
    for (uint32_t g = 0; g < GROUPS; g++) {
        for (int i = 0; i < NODES; i++) {
            if (w->nodes[i].applied[g] != w->n_committed[g])
                fail_msg("seed %llu: node %d applied %llu of group %u, committed %llu", (unsigned long long)seed, i + 1,
                         (unsigned long long)w->nodes[i].applied[g], g, (unsigned long long)w->n_committed[g]);
        }
        const struct sim_entry *last = &w->committed[g][w->n_committed[g]];
        assert_true(last->len == 5 && memcmp(last->data, "final", 5) == 0);
    }
    if (getenv("STET_TEST_VERBOSE"))
        fprintf(stderr, "seed %llu: submitted %llu, committed %llu/%llu/%llu, now %llu ms\n", (unsigned long long)seed,
                (unsigned long long)w->submitted, (unsigned long long)w->n_committed[0],
                (unsigned long long)w->n_committed[1], (unsigned long long)w->n_committed[2],
                (unsigned long long)(w->sim.now_ms - 1700000000000ull));
    /* cleanup */
    for (int i = 0; i < NODES; i++) {
        struct node *n = &w->nodes[i];
        if (n->up) stet_consensus_destroy(n->c);
        stet_env_timer_destroy(&w->sim.env, n->disk.sync_timer);
        for (int g = 0; g < GROUPS; g++) {
            log_free(&n->disk.vol[g]);
            log_free(&n->disk.dur[g]);
            log_free(&n->disk.snap[g]);
        }
    }
    for (size_t i = 0; i < w->n_net; i++) free(w->net[i].data);
    free(w->net);
    for (int g = 0; g < GROUPS; g++)
        for (uint64_t i = 1; i <= w->n_committed[g]; i++) free(w->committed[g][i].data);
    sim_env_free(&w->sim);
    free(w);
    W = NULL;
}

static void test_three_nodes_elect_and_replicate(void **state) {
    (void)state;
    world_run(1, 0); /* no faults: heal, elect, one entry per group everywhere */
}

static void test_seeded_faults(void **state) {
    (void)state;
    const char *one = getenv("STET_TEST_SEED");
    const char *many = getenv("STET_TEST_SEEDS");
    if (one) {
        world_run(strtoull(one, NULL, 10), 2000); /* the same run as in the loop */
        return;
    }
    unsigned n = many ? (unsigned)strtoul(many, NULL, 10) : 200;
    for (unsigned s = 1; s <= n; s++) world_run(s, 2000);
}

static void test_message_check_rejects_garbage(void **state) {
    (void)state;
    uint8_t junk[64];
    for (unsigned i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)(i * 37 + 11);
    assert_int_equal(stet_consensus_message_check(junk, sizeof(junk)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(junk, 0), -EPROTO);
    /* an AppendEntries claiming more entries than present */
    /* one framed AppendEntries announcing 255 entries that are not there */
    uint8_t ae[4 + 64] = {64, 0, 0, 0, 1, 1 /* RAFT_APPEND_ENTRIES */};
    ae[4 + 55] = 0xff;
    assert_int_equal(stet_consensus_message_check(ae, sizeof(ae)), -EPROTO);
    ae[4 + 55] = 0; /* no entries: a heartbeat, but 5 bytes too long */
    assert_int_equal(stet_consensus_message_check(ae, sizeof(ae)), -EPROTO);
    ae[0] = 59;
    assert_int_equal(stet_consensus_message_check(ae, 4 + 59), 0);
}

/* ---- the storage over the store -------------------------------------------------------------- */

/* Three nodes whose consensus state lives in an in-memory store through src/consensus/store.c:
 * they elect, replicate, and a node restarted from its store loads its log and catches up. */
struct store_node {
    struct stet_store *store;
    struct stet_consensus_store *cs;
    struct stet_consensus *c;
    struct stet_metadata *md; /* with_md: the replicated metadata on group 0 */
    uint64_t applied;
    char last[32];
};
static struct store_node SN[NODES];
static struct sim_env *SSIM;
struct spacket {
    uint32_t from, to;
    uint8_t *data;
    size_t len;
};
static struct spacket *SQ;
static size_t SQN;

static void s_send(void *ctx, uint32_t to, const uint8_t *msg, size_t len) {
    struct store_node *n = ctx;
    SQ = realloc(SQ, (SQN + 1) * sizeof(*SQ));
    SQ[SQN].from = (uint32_t)(n - SN) + 1;
    SQ[SQN].to = to;
    SQ[SQN].data = malloc(len);
    memcpy(SQ[SQN].data, msg, len);
    SQ[SQN].len = len;
    SQN++;
}
static void s_apply(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    struct store_node *n = ctx;
    (void)group;
    if (n->md) stet_metadata_replicated_apply(n->md, index, e->type, e->data, e->len);
    assert_int_equal(index, n->applied + 1);
    n->applied = index;
    if (e->type == STET_CONSENSUS_COMMAND) snprintf(n->last, sizeof(n->last), "%.*s", (int)e->len, e->data);
}
static bool with_md;
/* No forwarding here: a follower's submission fails with -EAGAIN. */
static void md_submit(void *ctx, const void *data, size_t len, stet_metadata_replicated_done done, void *arg) {
    struct store_node *n = ctx;
    uint64_t index = 0;
    int rc = stet_consensus_submit(n->c, 0, data, len, &index);
    done(arg, rc, index);
}
static void md_read_index(void *ctx, stet_metadata_replicated_done done, void *arg) { md_submit(ctx, "", 0, done, arg); }

static void s_start(int i, uint64_t gen) {
    struct store_node *n = &SN[i];
    if (with_md) {
        struct stet_metadata_replicated_ports mp = {
            .ctx = n, .env = &SSIM->env, .submit = md_submit, .read_index = md_read_index};
        assert_int_equal(stet_metadata_create_replicated(n->store, ((uint64_t)(i + 1) << 32) | gen, &mp, &n->md), 0);
    }
    assert_int_equal(stet_consensus_store_create(&SSIM->env, n->store, &n->cs), 0);
    struct stet_consensus_storage st = stet_consensus_store_port(n->cs);
    struct stet_consensus_network net = {n, s_send};
    struct stet_consensus_app app = {n, s_apply, NULL};
    struct stet_consensus_config cfg = {.node_id = (uint32_t)i + 1, .seed = 77 + (uint64_t)i, .generation = gen};
    assert_int_equal(stet_consensus_create(&SSIM->env, &cfg, &st, &net, &app, &n->c), 0);
    n->applied = 0;
    assert_int_equal(stet_consensus_add_group(n->c, 0, VOTERS, NODES), 0);
}
static void s_stop(int i) {
    if (SN[i].md) stet_metadata_destroy(SN[i].md);
    SN[i].md = NULL;
    stet_consensus_destroy(SN[i].c);
    stet_consensus_store_destroy(SN[i].cs);
    SN[i].c = NULL;
}
static void s_run(unsigned ms) {
    for (unsigned t = 0; t < ms; t++) {
        sim_env_run_for(SSIM, 1);
        size_t n = SQN;
        struct spacket *q = SQ;
        SQ = NULL;
        SQN = 0;
        for (size_t k = 0; k < n; k++) {
            if (SN[q[k].to - 1].c) stet_consensus_receive(SN[q[k].to - 1].c, q[k].from, q[k].data, q[k].len);
            free(q[k].data);
        }
        free(q);
        for (int i = 0; i < NODES; i++)
            if (SN[i].c) stet_consensus_flush(SN[i].c);
        sim_env_run_for(SSIM, 0); /* the syncs' done() */
    }
}
static int s_leader(void) {
    for (int i = 0; i < NODES; i++) {
        struct stet_consensus_group_info gi;
        if (SN[i].c && stet_consensus_group_info(SN[i].c, 0, &gi) && gi.leader) return i;
    }
    return -1;
}

/* Stops every node, frees the stores and what is still on the wire. */
static void s_close_all(void) {
    for (int i = 0; i < NODES; i++) {
        s_stop(i);
        stet_store_destroy(SN[i].store);
    }
    for (size_t k = 0; k < SQN; k++) free(SQ[k].data);
    free(SQ);
    SQ = NULL;
    SQN = 0;
}

static void test_store_backed_nodes(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 5);
    SSIM = &sim;
    for (int i = 0; i < NODES; i++) {
        SN[i].store = stet_store_create_mem();
        s_start(i, 1);
    }
    s_run(2000);
    int l = s_leader();
    assert_true(l >= 0);
    for (int k = 0; k < 20; k++) {
        char p[16];
        int len = snprintf(p, sizeof(p), "cmd%d", k);
        uint64_t index;
        assert_int_equal(stet_consensus_submit(SN[l].c, 0, p, (size_t)len, &index), 0);
        s_run(5);
    }
    s_run(500);
    for (int i = 0; i < NODES; i++) assert_string_equal(SN[i].last, "cmd19");
    uint64_t applied = SN[0].applied;
    /* a follower restarts from its store: the same log comes back and is applied again */
    int f = (l + 1) % NODES;
    s_stop(f);
    s_run(100);
    s_start(f, 2);
    s_run(1000);
    assert_int_equal(SN[f].applied, applied);
    assert_string_equal(SN[f].last, "cmd19");
    /* and takes part: one more entry everywhere */
    l = s_leader();
    assert_true(l >= 0);
    uint64_t index;
    assert_int_equal(stet_consensus_submit(SN[l].c, 0, "after", 5, &index), 0);
    s_run(500);
    for (int i = 0; i < NODES; i++) assert_string_equal(SN[i].last, "after");
    s_close_all();
    sim_env_free(&sim);
}

struct put_result {
    bool done;
    int status;
    uint64_t version;
};
static void put_cb(void *arg, int status, uint64_t version) {
    struct put_result *r = arg;
    r->done = true;
    r->status = status;
    r->version = version;
}

/* The metadata contract over the group: conditional puts decided at apply time on every copy,
 * followers refuse puts (-EAGAIN), every copy converges, and a restarted member replays its log
 * without applying anything twice. */
static void test_replicated_metadata(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 9);
    SSIM = &sim;
    with_md = true;
    for (int i = 0; i < NODES; i++) {
        SN[i].store = stet_store_create_mem();
        s_start(i, 1);
    }
    s_run(2000);
    int l = s_leader();
    assert_true(l >= 0);
    int f = (l + 1) % NODES;
    struct put_result r = {0};
    /* a follower cannot put (forwarding is the node port's job) */
    stet_metadata_put(SN[f].md, "schema", "x", 1, 0, put_cb, &r);
    assert_true(r.done);
    assert_int_equal(r.status, -EAGAIN);
    /* create, then two racing updates expecting the same version: exactly one wins */
    r = (struct put_result){0};
    stet_metadata_put(SN[l].md, "schema", "v1", 2, 0, put_cb, &r);
    assert_false(r.done); /* only once committed and applied */
    s_run(200);
    assert_true(r.done);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.version, 1);
    struct put_result a = {0}, b = {0};
    stet_metadata_put(SN[l].md, "schema", "v2a", 3, 1, put_cb, &a);
    stet_metadata_put(SN[l].md, "schema", "v2b", 3, 1, put_cb, &b);
    s_run(200);
    assert_true(a.done && b.done);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, -ESTALE);
    assert_int_equal(b.version, 2);
    /* every copy says the same */
    for (int i = 0; i < NODES; i++) {
        uint64_t v;
        struct stet_buf val = STET_BUF_INIT;
        assert_int_equal(stet_metadata_get(SN[i].md, "schema", &v, &val), 0);
        assert_int_equal(v, 2);
        assert_int_equal(val.len, 3);
        assert_memory_equal(val.data, "v2a", 3);
        stet_buf_free(&val);
    }
    /* a member restarts: the replay skips what its copy has; it keeps converging */
    uint64_t applied = stet_metadata_replicated_applied(SN[f].md);
    s_stop(f);
    s_start(f, 2);
    assert_int_equal(stet_metadata_replicated_applied(SN[f].md), applied);
    s_run(1000);
    l = s_leader();
    r = (struct put_result){0};
    stet_metadata_put(SN[l].md, "schema", "v3", 2, 2, put_cb, &r);
    s_run(300);
    assert_int_equal(r.status, 0);
    for (int i = 0; i < NODES; i++) {
        uint64_t v;
        assert_int_equal(stet_metadata_get(SN[i].md, "schema", &v, NULL), 0);
        assert_int_equal(v, 3);
    }
    s_close_all();
    with_md = false;
    sim_env_free(&sim);
}

int main(void) {
    stet_log_set_level(STET_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_check_rejects_garbage),
        cmocka_unit_test(test_three_nodes_elect_and_replicate),
        cmocka_unit_test(test_seeded_faults),
        cmocka_unit_test(test_store_backed_nodes),
        cmocka_unit_test(test_replicated_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
