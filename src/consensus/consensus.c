/* Consensus: the step driver over libraft 0.22.1. See consensus.h for the ports and the
 * durability rules. The only file that includes raft.h.
 *
 * Per group: a struct raft (step mode: raft_init with no io), what was staged in the storage
 * (staged_last, trunc_gen: bumped when a write truncated the log), what the last completed
 * sync made durable and was reported (durable_index), and what the app got (applied).
 *
 * The shared sync (stet_consensus_flush): when anything is staged and no sync runs, snapshot
 * every group's (staged_last, trunc_gen) and start storage.sync. When it completes, each group
 * whose trunc_gen did not change gets RAFT_PERSISTED_ENTRIES(staged_last at start); messages
 * held for that sync (rule 1) leave; committed entries up to the durable index are applied.
 *
 * Snapshots (consensus.h): per group, at most one of
 *   - taking: our record is staged (snap_gen: the sync that covers it); at that sync's end we
 *     step RAFT_SNAPSHOT and stage the trim;
 *   - installing: a received record is staged with every entry dropped (install_gen); at that
 *     sync's end app.install runs, then RAFT_PERSISTED_SNAPSHOT. Meanwhile nothing is applied,
 *     no RAFT_PERSISTED_ENTRIES is reported (libraft's last_stored restarts from the snapshot),
 *     and further InstallSnapshot messages are dropped before libraft sees them (0.22.1 leaks
 *     their data when it ignores one during an install).
 * A received install cancels a snapshot being taken (its record is superseded in the storage,
 * and libraft's log no longer holds the entry it would name).
 * The configuration a snapshot carries is the last configuration entry applied at or before its
 * index: `confs` keeps the configurations applied since the last snapshot (and the one it holds).
 *
 * Memory (libraft 0.22.1 step API, tests/unit/test_raft_lib.c): RAFT_UPDATE_ENTRIES hands us the
 * data batch (freed with raft_free once staged); update.messages.batch is raft's until the next
 * step; a received AppendEntries gets a raft_malloc'd entries array (ours to free after the step)
 * and data batch (raft's); RAFT_START entries are borrowed for the call unless the step fails.
 * A received InstallSnapshot gets a decoded configuration and a raft_malloc'd data buffer, both
 * raft's once stepped: it frees them, or hands them back in RAFT_UPDATE_SNAPSHOT (the data ours
 * to raft_free, the configuration ours to pass back in RAFT_PERSISTED_SNAPSHOT, which keeps it).
 * RAFT_SNAPSHOT and RAFT_START take the configuration of their metadata.
 */
#include "consensus/consensus.h"

#define MAX_APPEND_BYTES ((size_t)4 << 20) /* entry bytes per AppendEntries message */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "consensus"
#define WIRE_VERSION 1
#define MAX_ENTRIES_PER_MESSAGE 4096
#define MAX_ENTRY_BYTES (64u << 20)
#define MAX_NODES 64 /* node ids 1..MAX_NODES-1 */

struct conf_rec {
    uint64_t index;
    struct stet_buf enc; /* raft_configuration_encode */
};

struct group {
    struct stet_consensus *c;
    uint32_t id;
    struct raft raft;
    char address[16];
    uint64_t staged_last;   /* last index staged in the storage */
    uint64_t trunc_gen;     /* bumped when a write truncated staged entries */
    uint64_t sync_staged;   /* staged_last when the running sync started */
    uint64_t sync_trunc_gen;
    uint64_t durable_index; /* reported to raft as persisted */
    uint64_t applied;       /* handed to the app */
    bool leader;
    uint64_t term;
    uint32_t leader_node;
    uint64_t next_timeout; /* raft_timeout() after the last step */
    /* snapshots */
    uint64_t snapshot_index; /* libraft's last snapshot (taken, loaded, or being installed) */
    uint64_t snapshot_term;
    bool taking;             /* our snapshot record is staged */
    uint64_t take_gen;       /* the sync that makes it durable */
    uint64_t take_index, take_term;
    unsigned take_trailing;
    struct raft_configuration take_conf;
    uint64_t take_conf_index;
    bool installing; /* a received snapshot is staged */
    uint64_t install_gen;
    struct raft_snapshot_metadata install_meta; /* its configuration is ours until stepped */
    struct conf_rec *confs; /* configurations applied since the last snapshot, oldest first */
    size_t n_confs, cap_confs;
};

struct held {
    uint32_t to;
    uint64_t need_gen; /* the sync generation that makes the term/vote durable */
    size_t off, len;   /* in held_data */
};

struct stet_consensus {
    const struct stet_env *env;
    struct stet_consensus_config cfg;
    struct stet_consensus_storage storage;
    struct stet_consensus_network net;
    struct stet_consensus_app app;
    struct group **groups;
    uint32_t n_groups, cap_groups;
    struct stet_env_timer *timer;
    uint64_t timer_at; /* 0: not armed */
    bool staged;       /* something was staged since the last sync started */
    bool syncing;
    uint64_t sync_gen; /* generation of the running (or last) sync */
    uint64_t synced_gen;   /* generation of the last completed sync */
    uint64_t term_need_gen; /* the sync that makes the last term/vote change durable */
    struct held *held;
    size_t n_held, cap_held;
    struct stet_buf held_data;
    struct stet_buf enc;
    bool stepping; /* raft_step must not recurse */
    /* per peer: the sequence number of the next message to it, and the newest (generation,
     * sequence) received from it: older or repeated messages are dropped (raft's progress
     * tracking assumes per-peer order) */
    uint64_t next_seq[MAX_NODES];
    /* per peer: messages of the current event, sent as one batch when it ends (heartbeats of
     * every group to a peer leave together) */
    struct stet_buf out[MAX_NODES];
    uint64_t seen_gen[MAX_NODES], seen_seq[MAX_NODES];
    struct stet_consensus_stats stats;
};

static void step(struct group *g, struct raft_event *ev);
static void arm_timer(struct stet_consensus *c);
static void install_begin(struct group *g, struct raft_update *u);

static uint64_t now_ms(const struct stet_consensus *c) { return stet_env_monotonic_ms(c->env); }

static struct group *group_find(const struct stet_consensus *c, uint32_t id) {
    for (uint32_t i = 0; i < c->n_groups; i++)
        if (c->groups[i]->id == id) return c->groups[i];
    return NULL;
}

/* ---- wire format ------------------------------------------------------------------------ */

static void put_u8(struct stet_buf *b, uint8_t v) { stet_buf_append_le(b, v, 1); }
static void put_u16(struct stet_buf *b, uint16_t v) { stet_buf_append_le(b, v, 2); }
static void put_u32(struct stet_buf *b, uint32_t v) { stet_buf_append_le(b, v, 4); }
static void put_u64(struct stet_buf *b, uint64_t v) { stet_buf_append_le(b, v, 8); }

struct reader {
    const uint8_t *p, *end;
    bool bad;
};
static uint64_t get_n(struct reader *r, int n) {
    if (r->bad || r->end - r->p < n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = stet_load_le(r->p, n);
    r->p += n;
    return v;
}
static const uint8_t *get_bytes(struct reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

/* Encodes m (for group) into c->enc; AppendEntries entries come from the storage. Returns 0, or
 * < 0 when an entry is missing (the message is not sent; raft resends). */
static int encode_message(struct stet_consensus *c, uint32_t group, const struct raft_message *m) {
    struct stet_buf *b = &c->enc;
    stet_buf_reset(b);
    put_u8(b, WIRE_VERSION);
    put_u8(b, (uint8_t)m->type);
    put_u32(b, group);
    put_u64(b, c->cfg.generation);
    put_u64(b, 0); /* the sequence number, set per destination when sent */
    switch (m->type) {
    case RAFT_REQUEST_VOTE: {
        const struct raft_request_vote *v = &m->request_vote;
        put_u64(b, v->term);
        put_u8(b, v->version);
        put_u64(b, v->candidate_id);
        put_u64(b, v->last_log_index);
        put_u64(b, v->last_log_term);
        put_u8(b, (uint8_t)(v->disrupt_leader | (v->pre_vote << 1)));
        break;
    }
    case RAFT_REQUEST_VOTE_RESULT: {
        const struct raft_request_vote_result *v = &m->request_vote_result;
        put_u64(b, v->term);
        put_u8(b, v->version);
        put_u8(b, (uint8_t)(v->vote_granted | (v->pre_vote << 1)));
        put_u16(b, v->features);
        put_u16(b, v->capacity);
        break;
    }
    case RAFT_APPEND_ENTRIES: {
        const struct raft_append_entries *a = &m->append_entries;
        put_u64(b, a->term);
        put_u8(b, a->version);
        put_u64(b, a->prev_log_index);
        put_u64(b, a->prev_log_term);
        put_u64(b, a->leader_commit);
        /* at most MAX_APPEND_BYTES of entries (at least one) per message: a follower far behind
         * would otherwise get one message of the whole backlog. libraft asked for n_entries;
         * the follower acknowledges what it got, and the leader sends the rest from there (in
         * pipeline mode after one rejection: see progressMaybeDecrement) */
        unsigned n = 0;
        size_t bytes = 0;
        while (n < a->n_entries) {
            struct stet_consensus_entry e;
            if (c->storage.get(c->storage.ctx, group, a->prev_log_index + 1 + n, &e) != 0) return -ENOENT;
            if (n > 0 && bytes + e.len > MAX_APPEND_BYTES) break;
            bytes += e.len;
            n++;
        }
        if (n < a->n_entries) c->stats.appends_split++;
        put_u32(b, n);
        for (unsigned i = 0; i < n; i++) {
            struct stet_consensus_entry e;
            if (c->storage.get(c->storage.ctx, group, a->prev_log_index + 1 + i, &e) != 0) return -ENOENT;
            put_u64(b, e.term);
            put_u8(b, e.type);
            put_u32(b, (uint32_t)e.len);
            stet_buf_append(b, e.data, e.len);
        }
        break;
    }
    case RAFT_APPEND_ENTRIES_RESULT: {
        const struct raft_append_entries_result *a = &m->append_entries_result;
        put_u64(b, a->term);
        put_u8(b, a->version);
        put_u64(b, a->rejected);
        put_u64(b, a->last_log_index);
        put_u16(b, a->features);
        put_u16(b, a->capacity);
        break;
    }
    case RAFT_TIMEOUT_NOW: {
        const struct raft_timeout_now *t = &m->timeout_now;
        put_u64(b, t->term);
        put_u8(b, t->version);
        put_u64(b, t->last_log_index);
        put_u64(b, t->last_log_term);
        break;
    }
    case RAFT_INSTALL_SNAPSHOT: {
        /* libraft names the snapshot (index, term, configuration index); the configuration and
         * the data come from the stored record. That may be a newer snapshot than the one
         * libraft knows (taken, its sync not completed yet): it is committed state too, so it
         * is sent instead (the follower acknowledges its index, at or above the one libraft
         * expects, which completes the leader's snapshot progress). Sending the older one is
         * impossible (the record is gone) and dropping the message would stall that follower:
         * libraft anchors its heartbeats at its newest snapshot but only gives up on a sent one
         * when a rejection names the index it sent, else after install_snapshot_timeout_ms. */
        const struct raft_install_snapshot *is = &m->install_snapshot;
        struct stet_consensus_snapshot snap;
        int rc = c->storage.get_snapshot(c->storage.ctx, group, &snap);
        if (rc != 0 || snap.index < is->last_index || (snap.index == is->last_index && snap.term != is->last_term) ||
            snap.len > STET_CONSENSUS_SNAPSHOT_MAX) {
            c->stats.snapshots_unsent++;
            return -ESTALE;
        }
        struct raft_configuration conf;
        struct raft_buffer cb = {(void *)snap.conf, snap.conf_len};
        if (snap.conf_len == 0 || raft_configuration_decode(&cb, &conf) != 0) {
            stet_error(MOD, "group %u: the stored snapshot at %llu has no valid configuration", group,
                       (unsigned long long)snap.index);
            c->stats.snapshots_unsent++;
            return -EPROTO;
        }
        put_u64(b, is->term);
        put_u8(b, is->version);
        put_u64(b, snap.index);
        put_u64(b, snap.term);
        put_u64(b, snap.conf_index);
        put_u32(b, conf.n);
        for (unsigned i = 0; i < conf.n; i++) {
            put_u64(b, conf.servers[i].id);
            put_u8(b, (uint8_t)conf.servers[i].role);
        }
        raft_configuration_close(&conf);
        put_u32(b, (uint32_t)snap.len);
        stet_buf_append(b, snap.data, snap.len);
        c->stats.snapshots_sent++;
        break;
    }
    default:
        return -ENOTSUP;
    }
    return 0;
}

/* Decodes into m; AppendEntries entries are raft_malloc'd (array + one data batch). */
static int decode_message(const uint8_t *msg, size_t len, uint32_t *group, uint64_t *gen, uint64_t *seq,
                          struct raft_message *m) {
    struct reader r = {msg, msg + len, false};
    memset(m, 0, sizeof(*m));
    if (get_n(&r, 1) != WIRE_VERSION) return -EPROTO;
    unsigned type = (unsigned)get_n(&r, 1);
    *group = (uint32_t)get_n(&r, 4);
    *gen = get_n(&r, 8);
    *seq = get_n(&r, 8);
    switch (type) {
    case RAFT_REQUEST_VOTE: {
        struct raft_request_vote *v = &m->request_vote;
        v->term = get_n(&r, 8);
        v->version = (unsigned char)get_n(&r, 1);
        v->candidate_id = get_n(&r, 8);
        v->last_log_index = get_n(&r, 8);
        v->last_log_term = get_n(&r, 8);
        unsigned f = (unsigned)get_n(&r, 1);
        v->disrupt_leader = f & 1;
        v->pre_vote = (f >> 1) & 1;
        break;
    }
    case RAFT_REQUEST_VOTE_RESULT: {
        struct raft_request_vote_result *v = &m->request_vote_result;
        v->term = get_n(&r, 8);
        v->version = (unsigned char)get_n(&r, 1);
        unsigned f = (unsigned)get_n(&r, 1);
        v->vote_granted = f & 1;
        v->pre_vote = (f >> 1) & 1;
        v->features = (unsigned short)get_n(&r, 2);
        v->capacity = (unsigned short)get_n(&r, 2);
        break;
    }
    case RAFT_APPEND_ENTRIES: {
        struct raft_append_entries *a = &m->append_entries;
        a->term = get_n(&r, 8);
        a->version = (unsigned char)get_n(&r, 1);
        a->prev_log_index = get_n(&r, 8);
        a->prev_log_term = get_n(&r, 8);
        a->leader_commit = get_n(&r, 8);
        uint64_t n = get_n(&r, 4);
        if (r.bad || n > MAX_ENTRIES_PER_MESSAGE) return -EPROTO;
        /* first pass: sizes */
        struct reader scan = r;
        size_t total = 0;
        for (uint64_t i = 0; i < n; i++) {
            get_n(&scan, 8);
            uint64_t t = get_n(&scan, 1);
            uint64_t l = get_n(&scan, 4);
            if (scan.bad || t < RAFT_COMMAND || t > RAFT_CHANGE || l > MAX_ENTRY_BYTES) return -EPROTO;
            if (!get_bytes(&scan, l)) return -EPROTO;
            total += l;
        }
        if (scan.p != scan.end) return -EPROTO;
        if (n == 0) break;
        a->entries = raft_malloc(n * sizeof(*a->entries));
        uint8_t *batch = raft_malloc(total ? total : 1);
        STET_ASSERT(a->entries != NULL && batch != NULL);
        size_t off = 0;
        for (uint64_t i = 0; i < n; i++) {
            struct raft_entry *e = &a->entries[i];
            e->term = get_n(&r, 8);
            e->type = (enum raft_entry_type)get_n(&r, 1);
            size_t l = (size_t)get_n(&r, 4);
            const uint8_t *d = get_bytes(&r, l);
            if (l) memcpy(batch + off, d, l);
            e->buf.base = batch + off;
            e->buf.len = l;
            e->batch = batch;
            off += l;
        }
        a->n_entries = (unsigned)n;
        break;
    }
    case RAFT_APPEND_ENTRIES_RESULT: {
        struct raft_append_entries_result *a = &m->append_entries_result;
        a->term = get_n(&r, 8);
        a->version = (unsigned char)get_n(&r, 1);
        a->rejected = get_n(&r, 8);
        a->last_log_index = get_n(&r, 8);
        a->features = (unsigned short)get_n(&r, 2);
        a->capacity = (unsigned short)get_n(&r, 2);
        break;
    }
    case RAFT_TIMEOUT_NOW: {
        struct raft_timeout_now *t = &m->timeout_now;
        t->term = get_n(&r, 8);
        t->version = (unsigned char)get_n(&r, 1);
        t->last_log_index = get_n(&r, 8);
        t->last_log_term = get_n(&r, 8);
        break;
    }
    case RAFT_INSTALL_SNAPSHOT: {
        struct raft_install_snapshot *is = &m->install_snapshot;
        is->term = get_n(&r, 8);
        is->version = (unsigned char)get_n(&r, 1);
        is->last_index = get_n(&r, 8);
        is->last_term = get_n(&r, 8);
        is->conf_index = get_n(&r, 8);
        uint64_t n = get_n(&r, 4);
        /* libraft asserts a non-zero last index and term, and server ids above 0 */
        if (r.bad || is->last_index == 0 || is->last_term == 0 || is->conf_index == 0 ||
            is->conf_index > is->last_index || n == 0 || n >= MAX_NODES)
            return -EPROTO;
        raft_configuration_init(&is->conf);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t id = get_n(&r, 8);
            uint64_t role = get_n(&r, 1);
            char addr[16];
            if (r.bad || id == 0 || id >= MAX_NODES || (role != RAFT_STANDBY && role != RAFT_VOTER && role != RAFT_SPARE))
                goto bad_install;
            snprintf(addr, sizeof(addr), "n%u", (unsigned)id);
            if (raft_configuration_add(&is->conf, id, addr, (int)role) != 0) goto bad_install; /* a duplicate */
        }
        size_t l = (size_t)get_n(&r, 4);
        if (r.bad || l > STET_CONSENSUS_SNAPSHOT_MAX) goto bad_install;
        const uint8_t *d = get_bytes(&r, l);
        if (r.bad || r.p != r.end) goto bad_install;
        is->data.base = raft_malloc(l ? l : 1);
        STET_ASSERT(is->data.base != NULL);
        if (l) memcpy(is->data.base, d, l);
        is->data.len = l;
        break;
    bad_install:
        raft_configuration_close(&is->conf);
        return -EPROTO;
    }
    default: return -EPROTO;
    }
    if (r.bad || (type != RAFT_APPEND_ENTRIES && r.p != r.end)) {
        if (type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries) {
            raft_free(m->append_entries.entries[0].batch);
            raft_free(m->append_entries.entries);
        }
        return -EPROTO;
    }
    m->type = (enum raft_message_type)type;
    return 0;
}

/* batch_too: also what a step hands to raft (AppendEntries data, InstallSnapshot configuration
 * and data): true for a message that was not stepped. */
static void free_decoded(struct raft_message *m, bool batch_too) {
    if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries) {
        if (batch_too) raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT && batch_too) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

int stet_consensus_message_check(const uint8_t *batch, size_t len) {
    struct reader r = {batch, batch + len, false};
    if (len == 0) return -EPROTO;
    while (r.p < r.end) {
        size_t l = (size_t)get_n(&r, 4);
        const uint8_t *msg = get_bytes(&r, l);
        if (r.bad) return -EPROTO;
        uint32_t group;
        uint64_t gen, seq;
        struct raft_message m;
        int rc = decode_message(msg, l, &group, &gen, &seq, &m);
        if (rc != 0) return rc;
        free_decoded(&m, true);
    }
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

/* Frames a message into the peer's batch: u32 LE length, bytes. */
static void queue_out(struct stet_consensus *c, uint32_t to, const uint8_t *msg, size_t len) {
    STET_ASSERT(to > 0 && to < MAX_NODES);
    put_u32(&c->out[to], (uint32_t)len);
    stet_buf_append(&c->out[to], msg, len);
    c->stats.messages_sent++;
}

/* The end of an event: one network send per peer with everything queued for it. */
static void send_batches(struct stet_consensus *c) {
    for (uint32_t to = 1; to < MAX_NODES; to++) {
        if (c->out[to].len == 0) continue;
        c->stats.batches_sent++;
        c->net.send(c->net.ctx, to, c->out[to].data, c->out[to].len);
        if (c->out[to].cap > 1 << 20) stet_buf_free(&c->out[to]);
        else stet_buf_reset(&c->out[to]);
    }
}

/* Stamps the per-destination sequence number into c->enc (offset 14: after version, type,
 * group, generation). */
static void stamp_seq(struct stet_consensus *c, uint8_t *msg, uint32_t to) {
    STET_ASSERT(to > 0 && to < MAX_NODES);
    uint64_t seq = ++c->next_seq[to];
    for (int i = 0; i < 8; i++) msg[14 + i] = (uint8_t)(seq >> (8 * i));
}

/* hold: a term/vote change is not durable yet, or earlier messages wait (this one waits with
 * them, to keep the order). */
static void send_or_hold(struct stet_consensus *c, uint32_t to, bool hold) {
    stamp_seq(c, c->enc.data, to); /* held messages keep their order: numbered now */
    if (!hold) {
        queue_out(c, to, c->enc.data, c->enc.len);
        return;
    }
    if (c->n_held == c->cap_held) {
        c->cap_held = c->cap_held ? c->cap_held * 2 : 64;
        c->held = realloc(c->held, c->cap_held * sizeof(*c->held));
        STET_ASSERT(c->held != NULL);
    }
    /* a term/vote staged now is covered by the next sync to start; a message held only for the
     * order leaves with the ones before it */
    uint64_t need = c->term_need_gen;
    if (c->n_held > 0 && c->held[c->n_held - 1].need_gen > need) need = c->held[c->n_held - 1].need_gen;
    c->held[c->n_held++] = (struct held){to, need, c->held_data.len, c->enc.len};
    stet_buf_append(&c->held_data, c->enc.data, c->enc.len);
    c->stats.messages_held++;
}

static void release_held(struct stet_consensus *c, uint64_t done_gen) {
    size_t keep = 0;
    for (size_t i = 0; i < c->n_held; i++) {
        struct held *h = &c->held[i];
        if (h->need_gen <= done_gen) {
            queue_out(c, h->to, c->held_data.data + h->off, h->len);
        } else {
            c->held[keep++] = *h;
        }
    }
    c->n_held = keep;
    if (keep == 0) stet_buf_reset(&c->held_data);
}

/* ---- configurations for snapshots ------------------------------------------------------------ */

static void confs_push(struct group *g, uint64_t index, const uint8_t *enc, size_t len) {
    STET_ASSERT(g->n_confs == 0 || g->confs[g->n_confs - 1].index < index);
    if (g->n_confs == g->cap_confs) {
        g->cap_confs = g->cap_confs ? g->cap_confs * 2 : 4;
        g->confs = realloc(g->confs, g->cap_confs * sizeof(*g->confs));
        STET_ASSERT(g->confs != NULL);
    }
    struct conf_rec *r = &g->confs[g->n_confs++];
    r->index = index;
    r->enc = (struct stet_buf)STET_BUF_INIT;
    stet_buf_append(&r->enc, enc, len);
}

/* Drops the configurations older than the last one at or before index (which a snapshot at
 * index or later carries). */
static void confs_prune(struct group *g, uint64_t index) {
    size_t keep = 0; /* the position of the last one at or before index */
    while (keep + 1 < g->n_confs && g->confs[keep + 1].index <= index) keep++;
    for (size_t i = 0; i < keep; i++) stet_buf_free(&g->confs[i].enc);
    memmove(g->confs, g->confs + keep, (g->n_confs - keep) * sizeof(*g->confs));
    g->n_confs -= keep;
}

static void confs_clear(struct group *g) {
    for (size_t i = 0; i < g->n_confs; i++) stet_buf_free(&g->confs[i].enc);
    g->n_confs = 0;
}

/* The configuration committed as of index, or NULL (none applied yet). */
static const struct conf_rec *confs_at(const struct group *g, uint64_t index) {
    const struct conf_rec *found = NULL;
    for (size_t i = 0; i < g->n_confs && g->confs[i].index <= index; i++) found = &g->confs[i];
    return found;
}

/* ---- applying ----------------------------------------------------------------------------- */

static void apply_committed(struct group *g) {
    struct stet_consensus *c = g->c;
    if (g->installing) return; /* nothing past an install that is not durable */
    uint64_t upto = raft_commit_index(&g->raft);
    if (upto > g->durable_index) upto = g->durable_index; /* rule 4 */
    while (g->applied < upto) {
        struct stet_consensus_entry e;
        int rc = c->storage.get(c->storage.ctx, g->id, g->applied + 1, &e);
        STET_ASSERT(rc == 0); /* committed and durable here: it must be readable */
        g->applied++;
        if (e.type == STET_CONSENSUS_CHANGE) confs_push(g, g->applied, e.data, e.len);
        if (e.type == STET_CONSENSUS_CHANGE && g->applied > 1) {
            /* a committed configuration goes back to raft (it ignores all but a pending one) */
            struct raft_event ev = {.type = RAFT_CONFIGURATION};
            struct raft_buffer buf = {(void *)e.data, e.len};
            raft_configuration_init(&ev.configuration.conf);
            if (raft_configuration_decode(&buf, &ev.configuration.conf) == 0) {
                ev.configuration.index = g->applied;
                step(g, &ev);
            }
        }
        if (c->app.apply) c->app.apply(c->app.ctx, g->id, g->applied, &e);
    }
}

/* ---- snapshots ------------------------------------------------------------------------------- */

/* RAFT_UPDATE_SNAPSHOT: a leader's snapshot to install. Its record is staged and every entry
 * dropped (one sync makes both durable); libraft has already dropped its own log (last_stored
 * 0): entries whose sync is in flight are not reported (trunc_gen). */
static void install_begin(struct group *g, struct raft_update *u) {
    struct stet_consensus *c = g->c;
    STET_ASSERT(!g->installing); /* libraft starts one install at a time (and we drop the others) */
    STET_ASSERT(u->snapshot.offset == 0 && u->snapshot.last);
    struct raft_snapshot_metadata *meta = &u->snapshot.metadata;
    STET_ASSERT(meta->index > g->applied);
    struct raft_buffer conf;
    int rc = raft_configuration_encode(&meta->configuration, &conf);
    STET_ASSERT(rc == 0);
    struct stet_consensus_snapshot snap = {.index = meta->index, .term = meta->term,
                                           .conf_index = meta->configuration_index, .conf = conf.base,
                                           .conf_len = conf.len, .data = u->snapshot.chunk.base,
                                           .len = u->snapshot.chunk.len};
    rc = c->storage.set_snapshot(c->storage.ctx, g->id, &snap);
    STET_ASSERT(rc == 0);
    if (g->staged_last > meta->index) {
        rc = c->storage.truncate_append(c->storage.ctx, g->id, meta->index + 1, NULL, 0);
        STET_ASSERT(rc == 0);
    }
    rc = c->storage.trim(c->storage.ctx, g->id, meta->index); /* the log continues at index + 1 */
    STET_ASSERT(rc == 0);
    raft_free(conf.base);
    raft_free(u->snapshot.chunk.base);
    u->snapshot.chunk.base = NULL;
    if (g->taking) {
        /* superseded: our record is overwritten, and libraft's log no longer holds its entry */
        g->taking = false;
        raft_configuration_close(&g->take_conf);
    }
    g->installing = true;
    g->install_gen = c->sync_gen + 1; /* the next sync to start covers it */
    g->install_meta = *meta;          /* the configuration is ours until stepped back */
    g->trunc_gen++;
    g->staged_last = meta->index;
    g->durable_index = 0; /* libraft's last_stored: nothing until the install is durable */
    g->snapshot_index = meta->index; /* libraft's log now starts after it (anchor_append) */
    g->snapshot_term = meta->term;
    c->staged = true;
}

/* The sync that covers the install completed: the app takes the snapshot's state, then libraft
 * (RAFT_PERSISTED_SNAPSHOT restores the configuration and answers the leader). */
static void install_finish(struct group *g) {
    struct stet_consensus *c = g->c;
    STET_ASSERT(g->installing);
    struct raft_snapshot_metadata meta = g->install_meta;
    struct stet_consensus_snapshot snap;
    int rc = c->storage.get_snapshot(c->storage.ctx, g->id, &snap);
    STET_ASSERT(rc == 0);
    STET_ASSERT(snap.index == meta.index && snap.term == meta.term);
    g->installing = false;
    g->applied = meta.index;
    g->durable_index = meta.index;
    confs_clear(g);
    confs_push(g, snap.conf_index, snap.conf, snap.conf_len);
    rc = c->storage.get_snapshot(c->storage.ctx, g->id, &snap); /* confs_push allocated: read again */
    STET_ASSERT(rc == 0);
    STET_ASSERT(c->app.install != NULL);
    c->app.install(c->app.ctx, g->id, meta.index, snap.data, snap.len);
    c->stats.snapshots_installed++;
    struct raft_event ev = {.type = RAFT_PERSISTED_SNAPSHOT};
    ev.persisted_snapshot.metadata = meta; /* raft keeps the configuration */
    ev.persisted_snapshot.offset = 0;
    ev.persisted_snapshot.last = true;
    step(g, &ev);
}

/* The sync that covers our snapshot record completed: libraft learns of it and drops its
 * entries up to index - trailing; the storage does the same (staged: durable with the next
 * sync, after the record). */
static void take_finish(struct group *g) {
    struct stet_consensus *c = g->c;
    STET_ASSERT(g->taking);
    STET_ASSERT(g->take_index > g->snapshot_index);
    g->taking = false;
    struct raft_event ev = {.type = RAFT_SNAPSHOT};
    ev.snapshot.metadata.index = g->take_index;
    ev.snapshot.metadata.term = g->take_term;
    ev.snapshot.metadata.configuration = g->take_conf; /* raft keeps or frees it */
    ev.snapshot.metadata.configuration_index = g->take_conf_index;
    ev.snapshot.trailing = g->take_trailing;
    g->snapshot_index = g->take_index;
    g->snapshot_term = g->take_term;
    step(g, &ev);
    if (g->take_index > g->take_trailing) {
        int rc = c->storage.trim(c->storage.ctx, g->id, g->take_index - g->take_trailing);
        STET_ASSERT(rc == 0);
        c->staged = true;
    }
    confs_prune(g, g->take_index);
    c->stats.snapshots_taken++;
}

/* ---- the step driver ------------------------------------------------------------------------ */

static void handle_update(struct group *g, struct raft_update *u) {
    struct stet_consensus *c = g->c;
    if (u->flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR)) {
        int rc = c->storage.set_term_vote(c->storage.ctx, g->id, raft_current_term(&g->raft), raft_voted_for(&g->raft));
        STET_ASSERT(rc == 0);
        c->staged = true;
        c->term_need_gen = c->sync_gen + 1; /* rule 1: the next sync to start covers it */
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        STET_ASSERT(u->entries.n > 0);
        STET_ASSERT(!g->installing); /* libraft ignores entries while it installs */
        struct stet_consensus_entry es[64];
        struct stet_consensus_entry *e = u->entries.n <= 64 ? es : malloc(u->entries.n * sizeof(*e));
        STET_ASSERT(e != NULL);
        for (unsigned i = 0; i < u->entries.n; i++)
            e[i] = (struct stet_consensus_entry){.term = u->entries.batch[i].term,
                                                 .type = (uint8_t)u->entries.batch[i].type,
                                                 .data = u->entries.batch[i].buf.base,
                                                 .len = u->entries.batch[i].buf.len};
        if (u->entries.index <= g->staged_last) g->trunc_gen++;
        /* raft forgets what it knew stored from the truncation point on (its last_stored): so do we */
        if (g->durable_index >= u->entries.index) g->durable_index = u->entries.index - 1;
        int rc = c->storage.truncate_append(c->storage.ctx, g->id, u->entries.index, e, u->entries.n);
        STET_ASSERT(rc == 0);
        g->staged_last = u->entries.index + u->entries.n - 1;
        c->staged = true;
        if (e != es) free(e);
        /* the data batches are ours now that they are staged (copied by the storage) */
        void *last = NULL;
        for (unsigned i = 0; i < u->entries.n; i++) {
            void *b = u->entries.batch[i].batch;
            if (b && b != last) {
                raft_free(b);
                last = b;
            }
        }
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) install_begin(g, u);
    /* rule 1: nothing leaves before the last term/vote change is durable (whichever step made
     * it), and a message after held ones waits with them (order per peer) */
    bool hold = c->n_held > 0 || c->term_need_gen > c->synced_gen;
    if (u->flags & RAFT_UPDATE_MESSAGES) {
        for (unsigned i = 0; i < u->messages.n; i++) {
            const struct raft_message *m = &u->messages.batch[i];
            if (encode_message(c, g->id, m) != 0) continue;
            send_or_hold(c, (uint32_t)m->server_id, hold);
        }
    }
    /* role and term */
    bool leader = raft_state(&g->raft) == RAFT_LEADER;
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&g->raft, &lid, &laddr);
    uint64_t term = raft_current_term(&g->raft);
    if (leader != g->leader || term != g->term || (uint32_t)lid != g->leader_node) {
        g->leader = leader;
        g->term = term;
        g->leader_node = (uint32_t)lid;
        if (c->app.role) c->app.role(c->app.ctx, g->id, leader, term, (uint32_t)lid);
    }
    g->next_timeout = raft_timeout(&g->raft);
}

static void step(struct group *g, struct raft_event *ev) {
    struct stet_consensus *c = g->c;
    STET_ASSERT(!c->stepping);
    c->stepping = true;
    ev->time = now_ms(c);
    struct raft_update u;
    memset(&u, 0, sizeof(u));
    int rc = raft_step(&g->raft, ev, &u);
    c->stats.steps++;
    if (rc != 0 && ev->type != RAFT_SUBMIT)
        stet_warn(MOD, "group %u: raft_step(%d) failed: %s", g->id, (int)ev->type, raft_errmsg(&g->raft));
    if (rc == 0) handle_update(g, &u);
    c->stepping = false;
    if (rc == 0 && (u.flags & RAFT_UPDATE_COMMIT_INDEX)) apply_committed(g);
    arm_timer(c);
}

/* ---- timers ------------------------------------------------------------------------------- */

static void timer_cb(void *arg) {
    struct stet_consensus *c = arg;
    c->timer_at = 0;
    uint64_t now = now_ms(c);
    for (uint32_t i = 0; i < c->n_groups; i++) {
        struct group *g = c->groups[i];
        if (g->next_timeout && g->next_timeout <= now) {
            struct raft_event ev = {.type = RAFT_TIMEOUT};
            step(g, &ev);
        }
    }
    arm_timer(c);
    send_batches(c);
}

/* Timeouts fire on a TIMER_GRID_MS grid: the deadlines of every group that fall in one slot are
 * stepped together, so their heartbeats to a peer leave in one batch (and, once aligned, stay
 * aligned: each next heartbeat is a heartbeat interval after a grid point). With 25 groups
 * this keeps an idle node's wake-ups and sends those of a few groups (design/cluster.md §3). A
 * timeout fires at most TIMER_GRID_MS late: nothing next to a 300 ms election timeout. */
#define TIMER_GRID_MS 20

static void arm_timer(struct stet_consensus *c) {
    if (c->stepping) return;
    uint64_t next = 0;
    for (uint32_t i = 0; i < c->n_groups; i++) {
        uint64_t t = c->groups[i]->next_timeout;
        if (t && (next == 0 || t < next)) next = t;
    }
    if (next != 0 && c->n_groups > 1) next = (next + TIMER_GRID_MS - 1) / TIMER_GRID_MS * TIMER_GRID_MS;
    if (next == 0 || next == c->timer_at) return;
    uint64_t now = now_ms(c);
    c->timer_at = next;
    stet_env_timer_start(c->env, c->timer, next > now ? next - now : 0);
}

/* ---- the shared sync -------------------------------------------------------------------------- */

static void sync_done(void *arg, int status) {
    struct stet_consensus *c = arg;
    STET_ASSERT(c->syncing);
    c->syncing = false;
    if (status != 0) {
        /* the storage failed (a failed fsync): nothing may be claimed durable any more */
        stet_error(MOD, "the consensus storage could not sync (%d); entries are no longer reported persisted",
                   status);
        return;
    }
    c->stats.syncs++;
    uint64_t gen = c->sync_gen;
    c->synced_gen = gen;
    release_held(c, gen);
    for (uint32_t i = 0; i < c->n_groups; i++) {
        struct group *g = c->groups[i];
        if (g->installing) {
            if (g->install_gen <= gen) install_finish(g);
            continue; /* nothing else was staged for it meanwhile */
        }
        if (g->taking && g->take_gen <= gen) take_finish(g);
        if (g->sync_trunc_gen != g->trunc_gen) continue; /* rule 3: the next sync reports */
        if (g->sync_staged <= g->durable_index) continue;
        g->durable_index = g->sync_staged;
        c->stats.entries_persisted++;
        struct raft_event ev = {.type = RAFT_PERSISTED_ENTRIES};
        ev.persisted_entries.index = g->durable_index;
        step(g, &ev);
        apply_committed(g);
    }
    send_batches(c);
    stet_consensus_flush(c); /* what was staged meanwhile */
}

void stet_consensus_flush(struct stet_consensus *c) {
    if (c->syncing || !c->staged) return;
    c->staged = false;
    c->syncing = true;
    c->sync_gen++;
    for (uint32_t i = 0; i < c->n_groups; i++) {
        struct group *g = c->groups[i];
        g->sync_staged = g->staged_last;
        g->sync_trunc_gen = g->trunc_gen;
    }
    int rc = c->storage.sync(c->storage.ctx, sync_done, c);
    if (rc != 0) {
        c->syncing = false;
        c->sync_gen--;
        c->staged = true; /* nothing was written: the next flush tries again */
        stet_error(MOD, "cannot start a consensus storage sync (%d)", rc);
    }
}

/* ---- API --------------------------------------------------------------------------------- */

int stet_consensus_create(const struct stet_env *env, const struct stet_consensus_config *cfg,
                          const struct stet_consensus_storage *storage, const struct stet_consensus_network *net,
                          const struct stet_consensus_app *app, struct stet_consensus **out) {
    STET_ASSERT(cfg->node_id > 0);
    struct stet_consensus *c = calloc(1, sizeof(*c));
    if (!c) return -ENOMEM;
    c->env = env;
    c->cfg = *cfg;
    if (!c->cfg.election_timeout_ms) c->cfg.election_timeout_ms = 300;
    if (!c->cfg.heartbeat_timeout_ms) c->cfg.heartbeat_timeout_ms = c->cfg.election_timeout_ms / 4;
    if (!c->cfg.max_inflight_entries) c->cfg.max_inflight_entries = 1024;
    if (!c->cfg.install_snapshot_timeout_ms) c->cfg.install_snapshot_timeout_ms = 4 * c->cfg.election_timeout_ms;
    c->storage = *storage;
    c->net = *net;
    c->app = *app;
    c->timer = stet_env_timer_create(env, timer_cb, c);
    if (!c->timer) {
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

static void group_free(struct group *g) {
    if (g->taking) raft_configuration_close(&g->take_conf);
    if (g->installing) raft_configuration_close(&g->install_meta.configuration);
    confs_clear(g);
    free(g->confs);
    raft_close(&g->raft, NULL);
    free(g);
}

void stet_consensus_destroy(struct stet_consensus *c) {
    if (!c) return;
    for (uint32_t i = 0; i < c->n_groups; i++) group_free(c->groups[i]);
    free(c->groups);
    stet_env_timer_destroy(c->env, c->timer);
    free(c->held);
    stet_buf_free(&c->held_data);
    for (uint32_t i = 0; i < MAX_NODES; i++) stet_buf_free(&c->out[i]);
    stet_buf_free(&c->enc);
    free(c);
}

struct load_ctx {
    struct raft_entry *entries;
    unsigned n, cap;
    uint64_t next;
};

static int load_entry_cb(void *arg, uint64_t index, const struct stet_consensus_entry *e) {
    struct load_ctx *l = arg;
    if (l->n == 0 && l->next == 0) l->next = index; /* the first entry after the trim point */
    STET_ASSERT(index == l->next);
    l->next++;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->entries = realloc(l->entries, l->cap * sizeof(*l->entries));
        STET_ASSERT(l->entries != NULL);
    }
    void *buf = raft_malloc(e->len ? e->len : 1);
    STET_ASSERT(buf != NULL);
    if (e->len) memcpy(buf, e->data, e->len);
    l->entries[l->n++] = (struct raft_entry){.term = e->term, .type = (enum raft_entry_type)e->type,
                                             .buf = {buf, e->len}, .batch = buf};
    return 0;
}

/* The configuration of these voters, as raft_configuration_encode writes it (buf->base: raft_free). */
static int encode_voters(const uint32_t *voters, unsigned n, struct raft_buffer *buf) {
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (unsigned i = 0; i < n; i++) {
        char addr[16];
        snprintf(addr, sizeof(addr), "n%u", voters[i]);
        if (raft_configuration_add(&conf, voters[i], addr, RAFT_VOTER) != 0) {
            raft_configuration_close(&conf);
            return -EINVAL;
        }
    }
    int rc = raft_configuration_encode(&conf, buf);
    raft_configuration_close(&conf);
    return rc == 0 ? 0 : -ENOMEM;
}

int stet_consensus_add_group(struct stet_consensus *c, uint32_t id, const uint32_t *voters, unsigned n_voters) {
    return stet_consensus_add_group_from(c, id, voters, n_voters, 0, 0);
}

int stet_consensus_add_group_from(struct stet_consensus *c, uint32_t id, const uint32_t *voters, unsigned n_voters,
                                  uint64_t base_index, uint64_t base_term) {
    STET_ASSERT(group_find(c, id) == NULL);
    STET_ASSERT(n_voters > 0);
    struct group *g = calloc(1, sizeof(*g));
    if (!g) return -ENOMEM;
    g->c = c;
    g->id = id;
    snprintf(g->address, sizeof(g->address), "n%u", c->cfg.node_id);
    int rc = raft_init(&g->raft, NULL, NULL, c->cfg.node_id, g->address);
    if (rc != 0) {
        free(g);
        return -ENOMEM;
    }
    g->raft.tracer = NULL;
    /* seed before anything draws a random election timeout (design/cluster.md §1) */
    raft_seed(&g->raft, (unsigned)(c->cfg.seed ^ ((uint64_t)c->cfg.node_id << 32) ^ ((uint64_t)id * 0x9E3779B97F4A7C15ull)));
    raft_set_election_timeout(&g->raft, c->cfg.election_timeout_ms);
    raft_set_heartbeat_timeout(&g->raft, c->cfg.heartbeat_timeout_ms);
    raft_set_pre_vote(&g->raft, true);
    raft_set_max_inflight_entries(&g->raft, c->cfg.max_inflight_entries);
    raft_set_install_snapshot_timeout(&g->raft, c->cfg.install_snapshot_timeout_ms);

    uint64_t term = 0, vote = 0;
    struct load_ctx l = {NULL, 0, 0, 0};
    rc = c->storage.load(c->storage.ctx, id, &term, &vote, load_entry_cb, &l);
    if (rc != 0) goto fail;
    struct stet_consensus_snapshot snap;
    if (term == 0 && l.n == 0 && (rc = c->storage.get_snapshot(c->storage.ctx, id, &snap)) == 1) {
        /* no state: bootstrap, identically on every member: term 1 and entry 1, the
         * configuration; or, continuing a log kept elsewhere until now, a snapshot record at
         * base_index carrying the configuration (no data: the app's state is its own), which
         * the stored-snapshot path below then loads like any other */
        struct raft_buffer buf;
        rc = encode_voters(voters, n_voters, &buf);
        if (rc != 0) goto fail;
        if (base_index > 0) {
            term = base_term ? base_term : 1;
            struct stet_consensus_snapshot bs = {.index = base_index, .term = term, .conf_index = base_index,
                                                 .conf = buf.base, .conf_len = buf.len, .data = NULL, .len = 0};
            rc = c->storage.set_term_vote(c->storage.ctx, id, term, 0);
            if (rc == 0) rc = c->storage.set_snapshot(c->storage.ctx, id, &bs);
            if (rc == 0) rc = c->storage.trim(c->storage.ctx, id, base_index); /* the log continues after it */
        } else {
            struct stet_consensus_entry first = {.term = 1, .type = STET_CONSENSUS_CHANGE, .data = buf.base,
                                                 .len = buf.len};
            term = 1;
            rc = c->storage.set_term_vote(c->storage.ctx, id, 1, 0);
            if (rc == 0) rc = c->storage.truncate_append(c->storage.ctx, id, 1, &first, 1);
            l.next = 1;
            if (rc == 0) rc = load_entry_cb(&l, 1, &first);
        }
        raft_free(buf.base);
        if (rc != 0) goto fail;
        c->staged = true;
    }
    if (rc < 0) goto fail;
    /* a stored snapshot: libraft starts from it (the entries that remain follow it, some of
     * them maybe covered by it: the trailing ones) */
    struct raft_snapshot_metadata meta;
    bool have_snap = false;
    rc = c->storage.get_snapshot(c->storage.ctx, id, &snap);
    if (rc < 0) goto fail;
    if (rc == 0) {
        struct raft_buffer cb = {(void *)snap.conf, snap.conf_len};
        uint64_t first = l.n ? l.next - l.n : snap.index + 1;
        if (snap.index == 0 || snap.term == 0 || term == 0 || first > snap.index + 1 || snap.conf_len == 0 ||
            raft_configuration_decode(&cb, &meta.configuration) != 0) {
            stet_error(MOD, "group %u: the stored snapshot (index %llu) does not fit the stored log", id,
                       (unsigned long long)snap.index);
            rc = -EPROTO;
            goto fail;
        }
        meta.index = snap.index;
        meta.term = snap.term;
        meta.configuration_index = snap.conf_index;
        have_snap = true;
        confs_push(g, snap.conf_index, snap.conf, snap.conf_len);
    } else if (l.n > 0 && l.next - l.n != 1) {
        stet_error(MOD, "group %u: the stored log starts at %llu without a snapshot", id,
                   (unsigned long long)(l.next - l.n));
        rc = -EPROTO;
        goto fail;
    }
    rc = 0;
    uint64_t start_index = l.n ? l.next - l.n : (have_snap ? meta.index + 1 : 1);
    g->staged_last = start_index + l.n - 1;
    g->durable_index = g->staged_last; /* loaded (or the bootstrap entry, identical everywhere) */
    g->applied = 0;
    g->snapshot_index = have_snap ? meta.index : 0;
    g->snapshot_term = have_snap ? meta.term : 0;
    if (c->n_groups == c->cap_groups) {
        c->cap_groups = c->cap_groups ? c->cap_groups * 2 : 8;
        c->groups = realloc(c->groups, c->cap_groups * sizeof(*c->groups));
        STET_ASSERT(c->groups != NULL);
    }
    c->groups[c->n_groups++] = g;
    struct raft_event ev = {.type = RAFT_START};
    ev.start.term = term;
    ev.start.voted_for = vote;
    ev.start.metadata = have_snap ? &meta : NULL; /* raft takes the configuration */
    ev.start.start_index = start_index;
    ev.start.entries = l.entries;
    ev.start.n_entries = l.n;
    c->stepping = true;
    ev.time = now_ms(c);
    struct raft_update u;
    memset(&u, 0, sizeof(u));
    rc = raft_step(&g->raft, &ev, &u);
    c->stats.steps++;
    if (rc == 0) {
        for (unsigned i = 0; i < l.n; i++) raft_free(l.entries[i].batch); /* borrowed for the call */
        handle_update(g, &u);
    }
    c->stepping = false;
    free(l.entries);
    if (rc != 0) {
        stet_error(MOD, "group %u: cannot start raft: %s", id, raft_errmsg(&g->raft));
        c->n_groups--;
        group_free(g);
        return -EIO;
    }
    if (have_snap) {
        /* the app starts from the snapshot (it skips it if its own state is newer) */
        rc = c->storage.get_snapshot(c->storage.ctx, id, &snap);
        STET_ASSERT(rc == 0 && snap.index == meta.index);
        g->applied = meta.index;
        STET_ASSERT(c->app.install != NULL);
        c->app.install(c->app.ctx, id, meta.index, snap.data, snap.len);
    }
    apply_committed(g);
    arm_timer(c);
    send_batches(c);
    return 0;
fail:
    for (unsigned i = 0; i < l.n; i++) raft_free(l.entries[i].batch);
    free(l.entries);
    group_free(g);
    return rc < 0 ? rc : -EIO;
}

int stet_consensus_snapshot(struct stet_consensus *c, uint32_t id, uint64_t index, const void *data, size_t len,
                            unsigned trailing) {
    struct group *g = group_find(c, id);
    if (!g) return -ENOENT;
    STET_ASSERT(!c->stepping);
    if (g->taking || g->installing) return -EBUSY;
    if (index == 0 || index > g->applied || index <= g->snapshot_index) return -EINVAL;
    if (len > STET_CONSENSUS_SNAPSHOT_MAX) return -EMSGSIZE;
    const struct conf_rec *conf = confs_at(g, index);
    STET_ASSERT(conf != NULL); /* entry 1 or the last snapshot's */
    struct raft_buffer cb = {(void *)conf->enc.data, conf->enc.len};
    struct raft_configuration rconf;
    int rc = raft_configuration_decode(&cb, &rconf);
    STET_ASSERT(rc == 0); /* applied, or from a snapshot: it decoded before */
    struct stet_consensus_entry e;
    rc = c->storage.get(c->storage.ctx, id, index, &e); /* applied, above the last snapshot: stored */
    if (rc != 0) {
        raft_configuration_close(&rconf);
        stet_error(MOD, "group %u: cannot read applied entry %llu for a snapshot (%d)", id, (unsigned long long)index, rc);
        return rc < 0 ? rc : -EIO;
    }
    uint64_t term = e.term;
    struct stet_consensus_snapshot snap = {.index = index, .term = term, .conf_index = conf->index,
                                           .conf = conf->enc.data, .conf_len = conf->enc.len,
                                           .data = data, .len = len};
    rc = c->storage.set_snapshot(c->storage.ctx, id, &snap);
    if (rc != 0) {
        raft_configuration_close(&rconf);
        return rc;
    }
    g->taking = true;
    g->take_gen = c->sync_gen + 1; /* the next sync to start covers it */
    g->take_index = index;
    g->take_term = term;
    g->take_trailing = trailing;
    g->take_conf = rconf;
    g->take_conf_index = conf->index;
    c->staged = true;
    return 0;
}

/* A step the app asked for (submit, transfer): its libraft result goes back to the caller, and
 * what the step produced leaves at once (no event loop turn ends it). */
static int step_called(struct group *g, struct raft_event *ev) {
    struct stet_consensus *c = g->c;
    STET_ASSERT(!c->stepping);
    c->stepping = true;
    ev->time = now_ms(c);
    struct raft_update u;
    memset(&u, 0, sizeof(u));
    int rc = raft_step(&g->raft, ev, &u);
    c->stats.steps++;
    if (rc == 0) handle_update(g, &u);
    c->stepping = false;
    arm_timer(c);
    send_batches(c);
    return rc;
}

int stet_consensus_submit(struct stet_consensus *c, uint32_t id, const void *data, size_t len, uint64_t *index) {
    struct group *g = group_find(c, id);
    if (!g) return -ENOENT;
    if (raft_state(&g->raft) != RAFT_LEADER) return -EAGAIN;
    void *buf = raft_malloc(len ? len : 1);
    if (!buf) return -ENOMEM;
    if (len) memcpy(buf, data, len);
    struct raft_entry e = {.term = raft_current_term(&g->raft), .type = RAFT_COMMAND, .buf = {buf, len}, .batch = buf};
    struct raft_event ev = {.type = RAFT_SUBMIT};
    ev.submit.entries = &e;
    ev.submit.n = 1;
    int rc = step_called(g, &ev);
    if (rc != 0) {
        raft_free(buf);
        return rc == RAFT_NOTLEADER ? -EAGAIN : -EIO;
    }
    if (index) *index = raft_last_index(&g->raft);
    return 0;
}

int stet_consensus_transfer(struct stet_consensus *c, uint32_t id, uint32_t to) {
    struct group *g = group_find(c, id);
    if (!g) return -ENOENT;
    if (c->stepping) return -EBUSY;
    if (raft_state(&g->raft) != RAFT_LEADER) return -EAGAIN;
    struct raft_event ev = {.type = RAFT_TRANSFER};
    ev.transfer.server_id = to;
    int rc = step_called(g, &ev);
    if (rc == 0) return 0;
    return rc == RAFT_NOTLEADER ? -EAGAIN : rc == RAFT_NOTFOUND || rc == RAFT_BADID ? -ENOENT : -EIO;
}

static void receive_one(struct stet_consensus *c, uint32_t from_node, const uint8_t *msg, size_t len);

void stet_consensus_receive(struct stet_consensus *c, uint32_t from_node, const uint8_t *batch, size_t len) {
    struct reader r = {batch, batch + len, false};
    while (r.p < r.end) {
        size_t l = (size_t)get_n(&r, 4);
        const uint8_t *m = get_bytes(&r, l);
        if (r.bad) {
            c->stats.messages_dropped++;
            break;
        }
        receive_one(c, from_node, m, l);
    }
    send_batches(c);
}

/* An AppendEntries anchored below our snapshot (prev_log_index < snapshot index): libraft no
 * longer knows the term of prev (the log was trimmed, or replaced by an install) and would
 * reject it with a last index below what we acknowledged before, which its leader asserts
 * against (progressMaybeDecrement: a leader whose progress fell back to probing sends prev =
 * match index). Everything up to our snapshot is committed, hence identical in the leader's
 * log: the message is anchored at the snapshot instead, dropping the entries it covers. */
static void anchor_append(struct group *g, struct raft_append_entries *a) {
    if (g->snapshot_index == 0 || a->prev_log_index >= g->snapshot_index) return;
    uint64_t skip = g->snapshot_index - a->prev_log_index; /* entries covered by the snapshot */
    if (skip >= a->n_entries) {
        if (a->n_entries) {
            raft_free(a->entries[0].batch);
            raft_free(a->entries);
        }
        a->entries = NULL;
        a->n_entries = 0;
    } else {
        memmove(a->entries, a->entries + skip, (a->n_entries - skip) * sizeof(*a->entries));
        a->n_entries -= (unsigned)skip;
    }
    a->prev_log_index = g->snapshot_index;
    a->prev_log_term = g->snapshot_term;
}

static void receive_one(struct stet_consensus *c, uint32_t from_node, const uint8_t *msg, size_t len) {
    uint32_t id;
    uint64_t gen, seq;
    struct raft_message m;
    if (decode_message(msg, len, &id, &gen, &seq, &m) != 0) {
        c->stats.messages_dropped++;
        return;
    }
    struct group *g = group_find(c, id);
    bool stale = false;
    if (from_node > 0 && from_node < MAX_NODES) {
        /* an older generation of the sender, or a message not newer than one already taken */
        if (gen < c->seen_gen[from_node] || (gen == c->seen_gen[from_node] && seq <= c->seen_seq[from_node]))
            stale = true;
    }
    /* an install in progress: libraft would ignore (and leak) another; the leader resends */
    bool busy = g && m.type == RAFT_INSTALL_SNAPSHOT && g->installing;
    if (!g || from_node == 0 || from_node >= MAX_NODES || from_node == c->cfg.node_id || stale || busy) {
        free_decoded(&m, true);
        c->stats.messages_dropped++;
        return;
    }
    c->seen_gen[from_node] = gen;
    c->seen_seq[from_node] = seq;
    c->stats.messages_received++;
    char addr[16];
    snprintf(addr, sizeof(addr), "n%u", from_node);
    m.server_id = from_node;
    m.server_address = addr;
    if (m.type == RAFT_APPEND_ENTRIES) anchor_append(g, &m.append_entries);
    struct raft_event ev = {.type = RAFT_RECEIVE};
    ev.receive.message = &m;
    step(g, &ev);
    free_decoded(&m, false); /* the data batch went to raft (freed there or handed back) */
}

bool stet_consensus_group_info(const struct stet_consensus *c, uint32_t id, struct stet_consensus_group_info *out) {
    struct group *g = group_find(c, id);
    if (!g) return false;
    out->leader = g->leader;
    out->term = g->term;
    out->leader_node = g->leader_node;
    out->commit_index = raft_commit_index(&g->raft);
    out->last_index = raft_last_index(&g->raft);
    out->durable_index = g->durable_index;
    out->applied_index = g->applied;
    out->snapshot_index = g->snapshot_index;
    out->snapshot_busy = g->taking || g->installing;
    return true;
}

void stet_consensus_stats(const struct stet_consensus *c, struct stet_consensus_stats *out) { *out = c->stats; }
