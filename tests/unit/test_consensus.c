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
 * Snapshots: each node's app state per group is a running hash and a count of the entries it
 * applied; every K applied entries (K seeded) a node snapshots that state with a few trailing
 * entries, so the log is trimmed and nodes that were down or cut off install a leader's
 * snapshot. More oracles:
 *  - state agreement: after applying or installing index i, a node's state is the state every
 *    node had at i (the first one recorded);
 *  - installs are of committed, durable state and apply continues right after them;
 *  - bounded logs: once a node's snapshot is done, its disk holds at most `trailing` entries
 *    at or below the snapshot; after the final settle, at most K + trailing entries;
 *  - a restart loads the snapshot (app.install at start) and the entries that remain.
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
    struct sim_entry *e; /* e[i] is index base + i + 1 */
    uint64_t base;       /* entries up to base were trimmed */
    uint64_t n;
    bool has_snap; /* the snapshot record */
    uint64_t s_index, s_term, s_conf_index;
    uint8_t *s_conf, *s_data;
    size_t s_conf_len, s_len;
};

struct sim_disk {
    struct sim_log vol[GROUPS], dur[GROUPS];
    bool syncing;
    struct stet_env_timer *sync_timer;
    void (*done)(void *arg, int status);
    void *done_arg;
    struct sim_log snap[GROUPS]; /* what the running sync makes durable */
};

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    if (n) memcpy(d, p, n);
    return d;
}

static void log_free(struct sim_log *l) {
    for (uint64_t i = 0; i < l->n; i++) free(l->e[i].data);
    free(l->e);
    free(l->s_conf);
    free(l->s_data);
    memset(l, 0, sizeof(*l));
}

static void log_copy(struct sim_log *dst, const struct sim_log *src) {
    log_free(dst);
    dst->term = src->term;
    dst->vote = src->vote;
    dst->base = src->base;
    dst->n = src->n;
    dst->has_snap = src->has_snap;
    dst->s_index = src->s_index;
    dst->s_term = src->s_term;
    dst->s_conf_index = src->s_conf_index;
    dst->s_conf_len = src->s_conf_len;
    dst->s_len = src->s_len;
    if (src->has_snap) {
        dst->s_conf = dup_bytes(src->s_conf, src->s_conf_len);
        dst->s_data = dup_bytes(src->s_data, src->s_len);
    }
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
    uint64_t applied[GROUPS]; /* last index applied (or installed) since this start */
    uint64_t hash[GROUPS];    /* the app state: a running hash of the applied entries */
    uint64_t count[GROUPS];   /* and their number */
    uint64_t snapped[GROUPS]; /* the index of the last snapshot this node took in this life */
    uint64_t installs_at_start[GROUPS];
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
    uint64_t state_at[GROUPS][MAX_LOG]; /* the app state hash after index i (first recorded) */
    unsigned snap_every, trailing;      /* K, and the entries kept behind a snapshot */
    uint64_t snapshots, installs, installs_at_start;
    bool starting; /* node_start is adding groups */
};

static struct world *W;
static uint64_t TOTAL_INSTALLS, TOTAL_INSTALLS_AT_START;

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
        if (cb(arg, l->base + i + 1, &e)) break;
    }
    return 0;
}

static int st_set_snapshot(void *ctx, uint32_t group, const struct stet_consensus_snapshot *snap) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    assert_true(snap->index > 0);
    free(l->s_conf);
    free(l->s_data);
    l->has_snap = true;
    l->s_index = snap->index;
    l->s_term = snap->term;
    l->s_conf_index = snap->conf_index;
    l->s_conf = dup_bytes(snap->conf, snap->conf_len);
    l->s_conf_len = snap->conf_len;
    l->s_data = dup_bytes(snap->data, snap->len);
    l->s_len = snap->len;
    return 0;
}

static int st_get_snapshot(void *ctx, uint32_t group, struct stet_consensus_snapshot *out) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    if (!l->has_snap) return 1;
    *out = (struct stet_consensus_snapshot){l->s_index, l->s_term, l->s_conf_index, l->s_conf, l->s_conf_len,
                                            l->s_data, l->s_len};
    return 0;
}

static int st_trim(void *ctx, uint32_t group, uint64_t index) {
    struct sim_log *l = &node_of(ctx)->disk.vol[group];
    assert_true(l->has_snap && index <= l->s_index); /* what goes is in the snapshot */
    if (index <= l->base) return 0;
    uint64_t drop = index - l->base < l->n ? index - l->base : l->n;
    for (uint64_t i = 0; i < drop; i++) free(l->e[i].data);
    memmove(l->e, l->e + drop, (l->n - drop) * sizeof(*l->e));
    l->n -= drop;
    l->base = l->n ? l->base + drop : index; /* everything gone: the log continues at index + 1 */
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
    assert_true(first >= l->base + 1 && first <= l->base + l->n + 1);
    for (uint64_t i = first - 1 - l->base; i < l->n; i++) free(l->e[i].data);
    l->n = first - 1 - l->base;
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
    if (index <= l->base || index > l->base + l->n) return 1;
    const struct sim_entry *e = &l->e[index - 1 - l->base];
    *out = (struct stet_consensus_entry){e->term, e->type, e->data, e->len};
    return 0;
}

/* network port */
static void net_send(void *ctx, uint32_t to, const uint8_t *msg, size_t len) {
    struct node *from = node_of(ctx);
    assert_true(to >= 1 && to <= NODES);
    static unsigned dumped, dumped_install;
    const char *dump = getenv("STET_DUMP_MESSAGES"); /* seeds the fuzz corpus */
    /* the first 24 batches, and the first 4 that start with an InstallSnapshot (type 5) */
    bool install = len > 5 && msg[5] == 5;
    if (dump && (dumped < 24 || (install && dumped_install < 4))) {
        char path[512];
        if (install) dumped_install++;
        snprintf(path, sizeof(path), "%s/msg_%02u_type%u", dump, dumped++, len > 5 ? msg[5] : 0);
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
static uint64_t hash_step(uint64_t h, const struct stet_consensus_entry *e) {
    h = (h ^ e->term) * 0x100000001B3ull;
    h = (h ^ e->type) * 0x100000001B3ull;
    for (size_t i = 0; i < e->len; i++) h = (h ^ e->data[i]) * 0x100000001B3ull;
    return h;
}

static void app_apply(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    struct node *n = node_of(ctx);
    assert_int_equal(index, n->applied[group] + 1); /* in order, no gaps */
    n->applied[group] = index;
    n->hash[group] = hash_step(n->hash[group], e);
    n->count[group]++;
    assert_int_equal(n->count[group], index);
    assert_true(index < MAX_LOG);
    if (W->state_at[group][index] == 0) W->state_at[group][index] = n->hash[group];
    else if (W->state_at[group][index] != n->hash[group])
        fail_msg("state agreement violated: group %u index %llu on node %u", group, (unsigned long long)index, n->id);
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

/* Snapshot data: u64 index, u64 hash, u64 count (native order: one process). */
static void app_install(void *ctx, uint32_t group, uint64_t index, const uint8_t *data, size_t len) {
    struct node *n = node_of(ctx);
    uint64_t v[3];
    assert_int_equal(len, sizeof(v));
    memcpy(v, data, sizeof(v));
    assert_int_equal(v[0], index);
    assert_int_equal(v[2], index);
    /* only committed state is ever snapshotted, and it is the state everyone had there */
    assert_true(index <= W->n_committed[group]);
    if (W->state_at[group][index] != v[1])
        fail_msg("node %u installed group %u at %llu with a state nobody had there", n->id, group, (unsigned long long)index);
    if (W->starting) {
        assert_int_equal(n->applied[group], 0); /* at add_group: before anything is applied */
        n->installs_at_start[group]++;
        W->installs_at_start++;
    } else {
        assert_true(index > n->applied[group]); /* a received snapshot moves the state forward */
        W->installs++;
    }
    n->applied[group] = index;
    n->hash[group] = v[1];
    n->count[group] = v[2];
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
    struct stet_consensus_storage st = {n,      st_load,         st_set_term_vote, st_truncate_append, st_sync,
                                        st_get, st_set_snapshot, st_get_snapshot,  st_trim};
    struct stet_consensus_network net = {n, net_send};
    struct stet_consensus_app app = {n, app_apply, app_role, app_install};
    assert_int_equal(stet_consensus_create(&W->sim.env, &cfg, &st, &net, &app, &n->c), 0);
    memset(n->applied, 0, sizeof(n->applied));
    memset(n->hash, 0, sizeof(n->hash));
    memset(n->count, 0, sizeof(n->count));
    memset(n->snapped, 0, sizeof(n->snapped));
    memset(n->installs_at_start, 0, sizeof(n->installs_at_start));
    W->starting = true;
    for (uint32_t g = 0; g < GROUPS; g++) {
        assert_int_equal(stet_consensus_add_group(n->c, g, VOTERS, NODES), 0);
        /* a stored snapshot is installed at start, then the entries after it are applied */
        const struct sim_log *l = &n->disk.vol[g];
        if (l->has_snap) {
            assert_int_equal(n->installs_at_start[g], 1);
            assert_true(n->applied[g] >= l->s_index);
            assert_true(l->base <= l->s_index); /* the remaining entries follow the snapshot */
        }
    }
    W->starting = false;
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

/* Every K applied entries a node snapshots its state; the oracle on its disk: once a snapshot
 * of this life is done, at most `trailing` entries at or below it remain. */
static void snapshot_policy(struct node *n) {
    for (uint32_t g = 0; g < GROUPS; g++) {
        struct stet_consensus_group_info gi;
        assert_true(stet_consensus_group_info(n->c, g, &gi));
        assert_int_equal(gi.applied_index, n->applied[g]);
        const struct sim_log *l = &n->disk.vol[g];
        if (!gi.snapshot_busy && n->snapped[g] && gi.snapshot_index == n->snapped[g]) {
            assert_true(l->has_snap && l->s_index == n->snapped[g]);
            if (l->base + W->trailing < gi.snapshot_index)
                fail_msg("node %u group %u: the log was not trimmed behind its snapshot at %llu (first entry %llu)",
                         n->id, g, (unsigned long long)gi.snapshot_index, (unsigned long long)(l->base + 1));
        }
        if (gi.snapshot_busy || gi.applied_index < gi.snapshot_index + W->snap_every) continue;
        uint64_t v[3] = {n->applied[g], n->hash[g], n->count[g]};
        int rc = stet_consensus_snapshot(n->c, g, n->applied[g], v, sizeof(v), W->trailing);
        assert_int_equal(rc, 0);
        assert_int_equal(stet_consensus_snapshot(n->c, g, n->applied[g], v, sizeof(v), W->trailing), -EBUSY);
        n->snapped[g] = n->applied[g];
        W->snapshots++;
    }
}

static void tick(void) {
    sim_env_run_for(&W->sim, 1);
    deliver_due();
    for (int i = 0; i < NODES; i++) {
        if (!W->nodes[i].up) continue;
        if (W->snap_every) snapshot_policy(&W->nodes[i]);
        stet_consensus_flush(W->nodes[i].c);
    }
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

static void world_run(uint64_t seed, unsigned steps, unsigned snap_every) {
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
    w->snap_every = snap_every;
    w->trailing = rnd_below(4);
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
            if (w->nodes[i].applied[g] != w->n_committed[g]) {
                for (int j = 0; j < NODES; j++) {
                    struct stet_consensus_group_info gi;
                    struct stet_consensus_stats cs;
                    stet_consensus_group_info(w->nodes[j].c, g, &gi);
                    stet_consensus_stats(w->nodes[j].c, &cs);
                    fprintf(stderr, "node %d: leader=%d term=%llu leader_node=%u commit=%llu last=%llu durable=%llu "
                            "applied=%llu snapshot=%llu busy=%d first stored=%llu installed=%llu sent=%llu unsent=%llu\n",
                            j + 1, gi.leader, (unsigned long long)gi.term, gi.leader_node,
                            (unsigned long long)gi.commit_index, (unsigned long long)gi.last_index,
                            (unsigned long long)gi.durable_index, (unsigned long long)gi.applied_index,
                            (unsigned long long)gi.snapshot_index, gi.snapshot_busy,
                            (unsigned long long)(w->nodes[j].disk.vol[g].base + 1),
                            (unsigned long long)cs.snapshots_installed, (unsigned long long)cs.snapshots_sent,
                            (unsigned long long)cs.snapshots_unsent);
                }
                fail_msg("seed %llu: node %d applied %llu of group %u, committed %llu", (unsigned long long)seed, i + 1,
                         (unsigned long long)w->nodes[i].applied[g], g, (unsigned long long)w->n_committed[g]);
            }
        }
        const struct sim_entry *last = &w->committed[g][w->n_committed[g]];
        assert_true(last->len == 5 && memcmp(last->data, "final", 5) == 0);
        /* bounded logs: everything is applied and snapshotted every K entries, so fewer than K
         * entries follow the last snapshot; at most `trailing` precede it once that snapshot's
         * trim is done (a trim lost in a crash is redone by the node's next snapshot: its range
         * deletion starts at 0) */
        for (int i = 0; i < NODES && w->snap_every; i++) {
            const struct node *n = &w->nodes[i];
            const struct sim_log *l = &n->disk.vol[g];
            uint64_t stored_last = l->base + l->n;
            uint64_t snap = l->has_snap ? l->s_index : 0;
            assert_int_equal(stored_last, n->applied[g]);
            bool trimmed = n->snapped[g] && n->snapped[g] == snap;
            if (stored_last - snap >= w->snap_every || (trimmed && l->n > w->snap_every + w->trailing))
                fail_msg("seed %llu: node %d keeps %llu entries of group %u up to %llu, snapshot at %llu (K %u, "
                         "trailing %u)", (unsigned long long)seed, i + 1, (unsigned long long)l->n, g,
                         (unsigned long long)stored_last, (unsigned long long)snap, w->snap_every, w->trailing);
        }
    }
    if (getenv("STET_TEST_VERBOSE"))
        fprintf(stderr,
                "seed %llu: submitted %llu, committed %llu/%llu/%llu, now %llu ms, K %u trailing %u: %llu snapshots, "
                "%llu installs, %llu at start\n",
                (unsigned long long)seed, (unsigned long long)w->submitted, (unsigned long long)w->n_committed[0],
                (unsigned long long)w->n_committed[1], (unsigned long long)w->n_committed[2],
                (unsigned long long)(w->sim.now_ms - 1700000000000ull), w->snap_every, w->trailing,
                (unsigned long long)w->snapshots, (unsigned long long)w->installs,
                (unsigned long long)w->installs_at_start);
    TOTAL_INSTALLS += w->installs;
    TOTAL_INSTALLS_AT_START += w->installs_at_start;
    for (int i = 0; i < NODES; i++) {
        struct stet_consensus_stats cs;
        stet_consensus_stats(w->nodes[i].c, &cs);
        assert_int_equal(cs.snapshots_unsent, 0); /* a leader always has the snapshot it names, or a newer one */
    }
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
    world_run(1, 0, 0); /* no faults: heal, elect, one entry per group everywhere */
}

static void test_seeded_faults(void **state) {
    (void)state;
    const char *one = getenv("STET_TEST_SEED");
    const char *many = getenv("STET_TEST_SEEDS");
    /* K: one seed in four runs without snapshots (the whole log kept), the others with K from
     * 5 to 24 */
    if (one) {
        uint64_t s = strtoull(one, NULL, 10);
        world_run(s, 2000, s % 4 ? 5 + (unsigned)(s * 7 % 20) : 0); /* the same run as in the loop */
        return;
    }
    unsigned n = many ? (unsigned)strtoul(many, NULL, 10) : 400;
    for (unsigned s = 1; s <= n; s++) world_run(s, 2000, s % 4 ? 5 + (s * 7 % 20) : 0);
    /* the seeds must exercise installs, received and at start */
    assert_true(TOTAL_INSTALLS > 0);
    assert_true(TOTAL_INSTALLS_AT_START > 0);
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

/* One framed InstallSnapshot: servers (id, role) pairs, data, optional trailing bytes. */
static size_t install_msg(uint8_t *out, uint64_t last_index, uint64_t conf_index, const uint64_t *ids,
                          const uint8_t *roles, unsigned n, uint32_t data_len_claimed, size_t data_len, size_t junk) {
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_le(&b, 0, 4); /* the frame length, set below */
    stet_buf_append_le(&b, 1, 1); /* version */
    stet_buf_append_le(&b, 5, 1); /* RAFT_INSTALL_SNAPSHOT */
    stet_buf_append_le(&b, 0, 4); /* group */
    stet_buf_append_le(&b, 1, 8); /* generation */
    stet_buf_append_le(&b, 1, 8); /* sequence */
    stet_buf_append_le(&b, 3, 8); /* term */
    stet_buf_append_le(&b, 0, 1);
    stet_buf_append_le(&b, last_index, 8);
    stet_buf_append_le(&b, 2, 8); /* last term */
    stet_buf_append_le(&b, conf_index, 8);
    stet_buf_append_le(&b, n, 4);
    for (unsigned i = 0; i < n; i++) {
        stet_buf_append_le(&b, ids[i], 8);
        stet_buf_append_le(&b, roles[i], 1);
    }
    stet_buf_append_le(&b, data_len_claimed, 4);
    for (size_t i = 0; i < data_len + junk; i++) stet_buf_append_byte(&b, (uint8_t)i);
    uint32_t flen = (uint32_t)(b.len - 4);
    memcpy(b.data, &flen, 4); /* little-endian host */
    size_t len = b.len;
    memcpy(out, b.data, len);
    stet_buf_free(&b);
    return len;
}

static void test_message_check_install_snapshot(void **state) {
    (void)state;
    uint8_t m[256];
    const uint64_t ids[] = {1, 2, 3};
    const uint8_t roles[] = {1, 1, 0};
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, ids, roles, 3, 5, 5, 0)), 0);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 40, ids, roles, 1, 0, 0, 0)), 0);
    /* data shorter than claimed, trailing bytes, no servers, a zero index */
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, ids, roles, 3, 9, 5, 0)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, ids, roles, 3, 5, 5, 1)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, ids, roles, 0, 5, 5, 0)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 0, 0, ids, roles, 3, 5, 5, 0)), -EPROTO);
    /* a configuration after the snapshot, a server id 0 or out of range, a bad role, a duplicate */
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 41, ids, roles, 3, 5, 5, 0)), -EPROTO);
    const uint64_t zero[] = {1, 0}, big[] = {1, 1000}, dup[] = {2, 2};
    const uint8_t bad_role[] = {1, 9};
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, zero, roles, 2, 0, 0, 0)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, big, roles, 2, 0, 0, 0)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, ids, bad_role, 2, 0, 0, 0)), -EPROTO);
    assert_int_equal(stet_consensus_message_check(m, install_msg(m, 40, 7, dup, roles, 2, 0, 0, 0)), -EPROTO);
    /* data over the limit is refused before it is read */
    size_t n = install_msg(m, 40, 7, ids, roles, 1, 0, 0, 0);
    uint32_t huge = (uint32_t)STET_CONSENSUS_SNAPSHOT_MAX + 1;
    memcpy(m + n - 4, &huge, 4);
    assert_int_equal(stet_consensus_message_check(m, n), -EPROTO);
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
    uint64_t installs, changed; /* app.install calls that moved the state; ports.changed calls */
};
static unsigned SNAP_K; /* > 0: every node snapshots group 0 every SNAP_K applied entries */
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
static void s_install(void *ctx, uint32_t group, uint64_t index, const uint8_t *data, size_t len) {
    struct store_node *n = ctx;
    (void)group;
    assert_non_null(n->md); /* only the metadata runs take snapshots */
    uint64_t before = stet_metadata_replicated_applied(n->md);
    assert_int_equal(stet_metadata_replicated_install(n->md, index, data, len), 0);
    assert_true(stet_metadata_replicated_applied(n->md) >= index);
    if (index > before) n->installs++;
    n->applied = index;
    n->last[0] = '\0';
}
static void s_changed(void *ctx, const char *key, uint64_t version) {
    struct store_node *n = ctx;
    (void)key;
    (void)version;
    n->changed++;
}
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
            .ctx = n, .env = &SSIM->env, .submit = md_submit, .read_index = md_read_index, .changed = s_changed};
        assert_int_equal(stet_metadata_create_replicated(n->store, ((uint64_t)(i + 1) << 32) | gen, &mp, &n->md), 0);
    }
    assert_int_equal(stet_consensus_store_create(&SSIM->env, n->store, &n->cs), 0);
    struct stet_consensus_storage st = stet_consensus_store_port(n->cs);
    struct stet_consensus_network net = {n, s_send};
    struct stet_consensus_app app = {n, s_apply, NULL, s_install};
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
        for (int i = 0; i < NODES; i++) {
            if (!SN[i].c) continue;
            struct stet_consensus_group_info gi;
            if (SNAP_K && SN[i].md && stet_consensus_group_info(SN[i].c, 0, &gi) && !gi.snapshot_busy &&
                gi.applied_index >= gi.snapshot_index + SNAP_K) {
                /* the metadata copy as of its applied index: the consensus applied index */
                struct stet_buf b = STET_BUF_INIT;
                uint64_t index;
                assert_int_equal(stet_metadata_replicated_snapshot(SN[i].md, &b, &index), 0);
                assert_int_equal(index, gi.applied_index);
                assert_int_equal(stet_consensus_snapshot(SN[i].c, 0, index, b.data, b.len, 2), 0);
                stet_buf_free(&b);
            }
            stet_consensus_flush(SN[i].c);
        }
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

static void md_expect_equal_copies(void) {
    struct stet_buf first = STET_BUF_INIT, b = STET_BUF_INIT;
    uint64_t first_index = 0, index;
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(stet_metadata_replicated_snapshot(SN[i].md, i ? &b : &first, i ? &index : &first_index), 0);
        if (i == 0) continue;
        assert_int_equal(index, first_index);
        assert_int_equal(b.len, first.len);
        assert_memory_equal(b.data, first.data, b.len);
    }
    stet_buf_free(&first);
    stet_buf_free(&b);
}

static void md_put_committed(int l, const char *key) {
    uint64_t v;
    int rc = stet_metadata_get(SN[l].md, key, &v, NULL);
    assert_true(rc == 0 || rc == 1);
    char val[32];
    int len = snprintf(val, sizeof(val), "%s@%llu", key, (unsigned long long)v + 1);
    struct put_result r = {0};
    stet_metadata_put(SN[l].md, key, val, (size_t)len, v, put_cb, &r);
    for (int t = 0; t < 100 && !r.done; t++) s_run(10);
    if (!r.done) fail_msg("a put of %s through node %d got no answer", key, l + 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.version, v + 1);
}

/* The metadata group compacts its log; a member loses its data (a fresh store) and comes back
 * by installing the leader's snapshot (the leader restarted meanwhile, so its progress for that
 * member starts afresh: a leader that remembers a longer log for a member asserts in libraft;
 * the node copies term, vote and snapshot first). Its copy ends equal to the others'; a restart
 * loads its snapshot and the entries after it. */
static void test_wiped_member_installs_snapshot(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 11);
    SSIM = &sim;
    with_md = true;
    SNAP_K = 5;
    for (int i = 0; i < NODES; i++) {
        SN[i].store = stet_store_create_mem();
        s_start(i, 1);
    }
    s_run(2000);
    int l = s_leader();
    assert_true(l >= 0);
    char key[16];
    for (int k = 0; k < 30; k++) {
        snprintf(key, sizeof(key), "k%d", k % 7);
        md_put_committed(l, key);
    }
    s_run(300);
    md_expect_equal_copies();
    /* every member compacted: a snapshot, and entry 1 is gone */
    for (int i = 0; i < NODES; i++) {
        struct stet_consensus_group_info gi;
        assert_true(stet_consensus_group_info(SN[i].c, 0, &gi));
        assert_true(gi.snapshot_index >= 25);
        struct stet_consensus_storage st = stet_consensus_store_port(SN[i].cs);
        struct stet_consensus_entry e;
        assert_int_equal(st.get(st.ctx, 0, 1, &e), 1);
        assert_int_equal(st.get(st.ctx, 0, gi.applied_index, &e), 0);
    }
    /* wipe a follower; restart the leader */
    int f = (l + 1) % NODES;
    s_stop(f);
    stet_store_destroy(SN[f].store);
    SN[f].store = stet_store_create_mem();
    SN[f].installs = SN[f].changed = 0;
    s_stop(l);
    s_run(50);
    s_start(l, 2);
    s_start(f, 2);
    s_run(3000);
    assert_int_equal(SN[f].installs, 1);
    assert_true(SN[f].changed >= 7); /* every key is new to it */
    struct stet_consensus_stats cs;
    stet_consensus_stats(SN[f].c, &cs);
    assert_int_equal(cs.snapshots_installed, 1);
    md_expect_equal_copies();
    /* it takes part: more puts, all copies equal */
    l = s_leader();
    assert_true(l >= 0);
    for (int k = 0; k < 8; k++) {
        snprintf(key, sizeof(key), "k%d", k % 3);
        md_put_committed(l, key);
    }
    s_run(300);
    md_expect_equal_copies();
    /* the wiped member restarts from its store: its snapshot and the entries after it */
    struct stet_consensus_group_info gi;
    assert_true(stet_consensus_group_info(SN[f].c, 0, &gi));
    uint64_t applied = gi.applied_index;
    assert_true(gi.snapshot_index > 0);
    s_stop(f);
    s_start(f, 3);
    assert_true(stet_consensus_group_info(SN[f].c, 0, &gi));
    assert_true(gi.snapshot_index > 0);
    assert_int_equal(gi.applied_index, applied); /* loaded and applied again, nothing lost */
    assert_int_equal(stet_metadata_replicated_applied(SN[f].md), applied);
    s_run(500);
    l = s_leader();
    assert_true(l >= 0);
    md_put_committed(l, "after");
    s_run(300);
    md_expect_equal_copies();
    s_close_all();
    with_md = false;
    SNAP_K = 0;
    sim_env_free(&sim);
}

/* ---- replicated metadata snapshots, without consensus ----------------------------------------- */

struct fake_md {
    uint64_t next_index; /* what the submit port answers */
    unsigned changed;
    char changed_keys[256];
};
static void fake_submit(void *ctx, const void *data, size_t len, stet_metadata_replicated_done done, void *arg) {
    struct fake_md *f = ctx;
    (void)data;
    (void)len;
    done(arg, 0, f->next_index);
}
static void fake_read_index(void *ctx, stet_metadata_replicated_done done, void *arg) {
    struct fake_md *f = ctx;
    done(arg, 0, f->next_index);
}
static void fake_changed(void *ctx, const char *key, uint64_t version) {
    struct fake_md *f = ctx;
    f->changed++;
    size_t l = strlen(f->changed_keys);
    snprintf(f->changed_keys + l, sizeof(f->changed_keys) - l, "%s=%llu ", key, (unsigned long long)version);
}
static void md_cmd(struct stet_buf *b, uint64_t origin, uint64_t request, uint64_t expected, const char *key,
                   const char *value) {
    stet_buf_reset(b);
    stet_buf_append_byte(b, 1);
    stet_buf_append_u64be(b, origin);
    stet_buf_append_u64be(b, request);
    stet_buf_append_u64be(b, expected);
    stet_buf_append_u16be(b, (uint16_t)strlen(key));
    stet_buf_append(b, key, strlen(key));
    stet_buf_append(b, value, strlen(value));
}
struct sync_result {
    bool done;
    int status;
};
static void sync_cb(void *arg, int status) {
    struct sync_result *r = arg;
    r->done = true;
    r->status = status;
}

static void test_replicated_metadata_snapshot_install(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 3);
    struct fake_md fa = {0}, fb = {0};
    struct stet_store *sa = stet_store_create_mem(), *sb = stet_store_create_mem();
    struct stet_metadata_replicated_ports pa = {.ctx = &fa, .env = &sim.env, .submit = fake_submit,
                                                .read_index = fake_read_index, .changed = fake_changed};
    struct stet_metadata_replicated_ports pb = pa;
    pb.ctx = &fb;
    struct stet_metadata *a, *b;
    assert_int_equal(stet_metadata_create_replicated(sa, 100, &pa, &a), 0);
    assert_int_equal(stet_metadata_create_replicated(sb, 200, &pb, &b), 0);
    struct stet_buf cmd = STET_BUF_INIT;
    /* the log: k1 v1, k2 v1, k1 v2, k3 v1, a barrier, k2 v2 (and a losing put) */
    struct {
        const char *key, *value;
        uint64_t expected;
    } log[] = {{"k1", "a", 0}, {"k2", "b", 0}, {"k1", "c", 1}, {"k3", "d", 0}, {NULL, NULL, 0}, {"k2", "e", 1}, {"k3", "x", 0}};
    for (uint64_t i = 0; i < 7; i++) {
        if (log[i].key) md_cmd(&cmd, 999, i + 1, log[i].expected, log[i].key, log[i].value);
        stet_metadata_replicated_apply(a, i + 1, STET_CONSENSUS_COMMAND, cmd.data, log[i].key ? cmd.len : 0);
        if (i < 2) stet_metadata_replicated_apply(b, i + 1, STET_CONSENSUS_COMMAND, cmd.data, log[i].key ? cmd.len : 0);
    }
    assert_int_equal(fb.changed, 2);
    fb.changed = 0;
    fb.changed_keys[0] = '\0';
    struct stet_buf snap = STET_BUF_INIT;
    uint64_t index;
    assert_int_equal(stet_metadata_replicated_snapshot(a, &snap, &index), 0);
    assert_int_equal(index, 7);
    /* b's puts: one given index 4 (covered by the snapshot: unknown outcome), one given 9 */
    struct put_result p4 = {0}, p9 = {0}, p5 = {0};
    fb.next_index = 4;
    stet_metadata_put(b, "k9", "z", 1, 0, put_cb, &p4);
    fb.next_index = 9;
    stet_metadata_put(b, "k9", "z", 1, 0, put_cb, &p9);
    struct sync_result y5 = {0}, y8 = {0};
    fb.next_index = 5;
    stet_metadata_sync(b, sync_cb, &y5);
    fb.next_index = 8;
    stet_metadata_sync(b, sync_cb, &y8);
    assert_false(p4.done || p9.done || y5.done || y8.done);
    /* malformed data changes nothing */
    uint8_t junk[] = {1, 0, 0, 0, 1, 0, 2, 'k'};
    assert_int_equal(stet_metadata_replicated_install(b, 7, junk, sizeof(junk)), -EPROTO);
    assert_int_equal(stet_metadata_replicated_install(b, 7, snap.data, snap.len - 1), -EPROTO);
    assert_int_equal(stet_metadata_replicated_applied(b), 2);
    assert_int_equal(stet_metadata_replicated_install(b, 7, snap.data, snap.len), 0);
    assert_int_equal(stet_metadata_replicated_applied(b), 7);
    /* the keys whose version changed: k1 1 -> 2, k2 1 -> 2, k3 new */
    assert_int_equal(fb.changed, 3);
    assert_string_equal(fb.changed_keys, "k1=2 k2=2 k3=1 ");
    assert_true(p4.done);
    assert_int_equal(p4.status, -ETIMEDOUT);
    assert_false(p9.done);
    assert_true(y5.done);
    assert_int_equal(y5.status, 0);
    assert_false(y8.done);
    /* the copies are equal */
    struct stet_buf snap_b = STET_BUF_INIT;
    assert_int_equal(stet_metadata_replicated_snapshot(b, &snap_b, &index), 0);
    assert_int_equal(index, 7);
    assert_int_equal(snap_b.len, snap.len);
    assert_memory_equal(snap_b.data, snap.data, snap.len);
    uint64_t v;
    struct stet_buf val = STET_BUF_INIT;
    assert_int_equal(stet_metadata_get(b, "k2", &v, &val), 0);
    assert_int_equal(v, 2);
    assert_int_equal(val.len, 1);
    assert_memory_equal(val.data, "e", 1);
    /* an old or equal snapshot is skipped */
    fb.changed = 0;
    assert_int_equal(stet_metadata_replicated_install(b, 7, snap.data, snap.len), 0);
    assert_int_equal(stet_metadata_replicated_install(b, 3, junk, sizeof(junk)), 0);
    assert_int_equal(fb.changed, 0);
    /* a put answered with an index the snapshot covered: unknown outcome too */
    fb.next_index = 5;
    stet_metadata_put(b, "k9", "z", 1, 0, put_cb, &p5);
    assert_true(p5.done);
    assert_int_equal(p5.status, -ETIMEDOUT);
    /* apply continues after the snapshot */
    md_cmd(&cmd, 999, 50, 2, "k1", "f");
    stet_metadata_replicated_apply(b, 8, STET_CONSENSUS_COMMAND, cmd.data, cmd.len);
    assert_int_equal(stet_metadata_get(b, "k1", &v, NULL), 0);
    assert_int_equal(v, 3);
    assert_true(y8.done);
    /* an empty copy snapshots and installs too (a wiped store holds nothing) */
    struct stet_store *sc = stet_store_create_mem();
    struct fake_md fc = {0};
    struct stet_metadata_replicated_ports pc = pa;
    pc.ctx = &fc;
    struct stet_metadata *c;
    assert_int_equal(stet_metadata_create_replicated(sc, 300, &pc, &c), 0);
    struct stet_buf empty = STET_BUF_INIT;
    assert_int_equal(stet_metadata_replicated_snapshot(c, &empty, &index), 0);
    assert_int_equal(index, 0);
    assert_int_equal(stet_metadata_replicated_install(c, 7, snap.data, snap.len), 0);
    assert_int_equal(fc.changed, 3);
    assert_int_equal(stet_metadata_get(c, "k3", &v, NULL), 0);
    assert_int_equal(v, 1);
    stet_metadata_destroy(c);
    stet_store_destroy(sc);
    stet_buf_free(&empty);
    stet_buf_free(&val);
    stet_buf_free(&snap_b);
    stet_buf_free(&snap);
    stet_buf_free(&cmd);
    stet_metadata_destroy(a);
    stet_metadata_destroy(b); /* p9 gets -ESHUTDOWN */
    assert_true(p9.done);
    assert_int_equal(p9.status, -ESHUTDOWN);
    stet_store_destroy(sa);
    stet_store_destroy(sb);
    sim_env_free(&sim);
}

int main(void) {
    stet_log_set_level(STET_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_check_rejects_garbage),
        cmocka_unit_test(test_message_check_install_snapshot),
        cmocka_unit_test(test_three_nodes_elect_and_replicate),
        cmocka_unit_test(test_seeded_faults),
        cmocka_unit_test(test_store_backed_nodes),
        cmocka_unit_test(test_replicated_metadata),
        cmocka_unit_test(test_replicated_metadata_snapshot_install),
        cmocka_unit_test(test_wiped_member_installs_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
