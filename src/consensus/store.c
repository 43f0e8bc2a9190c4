/* The consensus storage over the store. See store.h for the key layout.
 *
 * Invariants:
 *  1. For every group, entries first..last exist either durable in the store or in `pending`
 *     (a contiguous range pending_first..last, pending_first >= first), never with a gap; no
 *     entry below first exists (a trim deleted them). first == last + 1 is an empty log.
 *  2. At most one synced write is in flight; `staged` collects what comes meanwhile.
 *  3. `pending` entries are dropped only once a sync that wrote them completed (they are then
 *     readable from the store), or when a trim or truncation removed them.
 *  4. first <= snap_index + 1 (1 without a snapshot): every entry a trim removed is covered by
 *     the snapshot record, which the caller staged (and the storage writes) before the trim.
 *  5. `snap_pending` holds the record staged last until the sync that wrote it completes; a
 *     record is read from the store only when none is pending.
 */
#include "consensus/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "consensus"

struct pentry {
    uint64_t term;
    uint8_t type;
    struct stet_buf data;
    uint64_t written_gen; /* the sync generation that made it durable (0: not yet synced) */
};

struct cgroup {
    uint32_t id;
    uint64_t first;         /* first index (staged or durable) */
    uint64_t last;          /* last index (staged or durable) */
    uint64_t snap_index;    /* the snapshot record's index (staged or durable; 0: none) */
    bool has_snap_pending;
    struct stet_buf snap_pending; /* the staged record's value (as stored) */
    uint64_t snap_written_gen;    /* the sync that writes it (0: not yet started) */
    uint64_t pending_first; /* index of pending[0] */
    struct pentry *pending;
    size_t n_pending, cap_pending;
};

struct stet_consensus_store {
    const struct stet_env *env;
    struct stet_store *store;
    struct cgroup *groups;
    size_t n_groups, cap_groups;
    struct stet_store_batch staged;
    struct stet_store_batch inflight;
    bool syncing;
    uint64_t gen; /* generation of the running or last sync */
    int status;   /* of the sync job (set on the worker) */
    void (*done)(void *arg, int status);
    void *done_arg;
    struct stet_buf k, v; /* scratch */
};

static void key_vote(struct stet_buf *k, uint32_t group) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'C');
    stet_buf_append_u32be(k, group);
    stet_buf_append_byte(k, 'v');
}

static void key_entry(struct stet_buf *k, uint32_t group, uint64_t index) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'C');
    stet_buf_append_u32be(k, group);
    stet_buf_append_byte(k, 'e');
    stet_buf_append_u64be(k, index);
}

static void key_snapshot(struct stet_buf *k, uint32_t group) {
    stet_buf_reset(k);
    stet_buf_append_byte(k, 'C');
    stet_buf_append_u32be(k, group);
    stet_buf_append_byte(k, 's');
}

/* Decodes a stored record (borrowing v). 0, or -EPROTO. */
static int snapshot_decode(const uint8_t *v, size_t len, struct stet_consensus_snapshot *out) {
    if (len < 8 + 8 + 8 + 4) return -EPROTO;
    size_t conf_len = stet_load_u32be(v + 24);
    if (conf_len > len - 28) return -EPROTO;
    *out = (struct stet_consensus_snapshot){.index = stet_load_u64be(v), .term = stet_load_u64be(v + 8),
                                            .conf_index = stet_load_u64be(v + 16), .conf = v + 28,
                                            .conf_len = conf_len, .data = v + 28 + conf_len,
                                            .len = len - 28 - conf_len};
    return 0;
}

static struct cgroup *group_get(struct stet_consensus_store *s, uint32_t id) {
    for (size_t i = 0; i < s->n_groups; i++)
        if (s->groups[i].id == id) return &s->groups[i];
    if (s->n_groups == s->cap_groups) {
        s->cap_groups = s->cap_groups ? s->cap_groups * 2 : 8;
        s->groups = realloc(s->groups, s->cap_groups * sizeof(*s->groups));
        STET_ASSERT(s->groups != NULL);
    }
    struct cgroup *g = &s->groups[s->n_groups++];
    memset(g, 0, sizeof(*g));
    g->id = id;
    g->first = 1;
    g->pending_first = 1;
    return g;
}

static void pending_drop_from(struct cgroup *g, uint64_t index) {
    /* entries index.. of pending (if any) go */
    while (g->n_pending > 0 && g->pending_first + g->n_pending - 1 >= index) {
        struct pentry *e = &g->pending[--g->n_pending];
        stet_buf_free(&e->data);
    }
    if (g->n_pending == 0) g->pending_first = index;
}

/* ---- the port ------------------------------------------------------------------------------ */

static int st_load(void *ctx, uint32_t group, uint64_t *term, uint64_t *vote,
                   int (*cb)(void *arg, uint64_t index, const struct stet_consensus_entry *e), void *arg) {
    struct stet_consensus_store *s = ctx;
    struct cgroup *g = group_get(s, group);
    *term = *vote = 0;
    key_vote(&s->k, group);
    int rc = stet_store_get(s->store, s->k.data, s->k.len, &s->v);
    if (rc < 0) return rc;
    if (rc == 0) {
        if (s->v.len != 16) return -EPROTO;
        *term = stet_load_u64be(s->v.data);
        *vote = stet_load_u64be(s->v.data + 8);
    }
    g->snap_index = 0;
    key_snapshot(&s->k, group);
    rc = stet_store_get(s->store, s->k.data, s->k.len, &s->v);
    if (rc < 0) return rc;
    if (rc == 0) {
        struct stet_consensus_snapshot snap;
        if (snapshot_decode(s->v.data, s->v.len, &snap) != 0 || snap.index == 0) return -EPROTO;
        g->snap_index = snap.index;
    }
    struct stet_buf lo = STET_BUF_INIT, hi = STET_BUF_INIT;
    key_entry(&lo, group, 1);
    key_entry(&hi, group, UINT64_MAX);
    struct stet_store_iter *it = stet_store_iter_create(s->store, lo.data, lo.len, hi.data, hi.len);
    rc = it ? 0 : -ENOMEM;
    uint64_t expect = 0; /* the first entry stored: 1, or after the trim point */
    uint64_t first = g->snap_index + 1;
    bool stop = false;
    for (; rc == 0 && !stop && stet_store_iter_valid(s->store, it); stet_store_iter_next(s->store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(s->store, it, &kl);
        const uint8_t *v = stet_store_iter_value(s->store, it, &vl);
        if (kl != 1 + 4 + 1 + 8 || vl < 9) {
            rc = -EPROTO;
            break;
        }
        uint64_t index = stet_load_u64be(k + 6);
        if (expect == 0) {
            /* invariant 4: what was trimmed is in the snapshot */
            if (index == 0 || index > g->snap_index + 1) {
                stet_error(MOD, "group %u: the stored log starts at %llu, after its snapshot (%llu)", group,
                           (unsigned long long)index, (unsigned long long)g->snap_index);
                rc = -EPROTO;
                break;
            }
            expect = first = index;
        }
        if (index != expect) {
            stet_error(MOD, "group %u: the stored log has a gap at %llu", group, (unsigned long long)expect);
            rc = -EPROTO;
            break;
        }
        expect++;
        struct stet_consensus_entry e = {stet_load_u64be(v), v[8], v + 9, vl - 9};
        if (cb(arg, index, &e)) stop = true;
    }
    if (it) stet_store_iter_destroy(s->store, it);
    stet_buf_free(&lo);
    stet_buf_free(&hi);
    g->first = first;
    g->last = expect ? expect - 1 : first - 1;
    g->pending_first = g->last + 1;
    return rc;
}

static int st_set_term_vote(void *ctx, uint32_t group, uint64_t term, uint64_t vote) {
    struct stet_consensus_store *s = ctx;
    key_vote(&s->k, group);
    uint8_t v[16];
    stet_store_u64be(v, term);
    stet_store_u64be(v + 8, vote);
    stet_store_batch_put(&s->staged, s->k.data, s->k.len, v, sizeof(v));
    return 0;
}

static int st_truncate_append(void *ctx, uint32_t group, uint64_t first, const struct stet_consensus_entry *e,
                              unsigned n) {
    struct stet_consensus_store *s = ctx;
    struct cgroup *g = group_get(s, group);
    if (first == 0 || first < g->first || first > g->last + 1) return -EINVAL;
    /* drop what is replaced: stored keys by point deletes, pending copies from memory */
    for (uint64_t i = first; i <= g->last; i++) {
        key_entry(&s->k, group, i);
        stet_store_batch_delete(&s->staged, s->k.data, s->k.len);
    }
    if (first < g->pending_first) {
        pending_drop_from(g, g->pending_first); /* all pending */
        g->pending_first = first;
    } else {
        pending_drop_from(g, first);
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t index = first + i;
        key_entry(&s->k, group, index);
        stet_buf_reset(&s->v);
        stet_buf_append_u64be(&s->v, e[i].term);
        stet_buf_append_byte(&s->v, e[i].type);
        stet_buf_append(&s->v, e[i].data, e[i].len);
        stet_store_batch_put(&s->staged, s->k.data, s->k.len, s->v.data, s->v.len);
        if (g->n_pending == g->cap_pending) {
            g->cap_pending = g->cap_pending ? g->cap_pending * 2 : 16;
            g->pending = realloc(g->pending, g->cap_pending * sizeof(*g->pending));
            STET_ASSERT(g->pending != NULL);
        }
        struct pentry *p = &g->pending[g->n_pending++];
        p->term = e[i].term;
        p->type = e[i].type;
        p->data = (struct stet_buf)STET_BUF_INIT;
        stet_buf_append(&p->data, e[i].data, e[i].len);
        p->written_gen = 0;
    }
    g->last = first + n - 1;
    STET_ASSERT(g->pending_first + g->n_pending - 1 == g->last || (n == 0 && g->n_pending == 0));
    return 0;
}

static int st_set_snapshot(void *ctx, uint32_t group, const struct stet_consensus_snapshot *snap) {
    struct stet_consensus_store *s = ctx;
    struct cgroup *g = group_get(s, group);
    if (snap->index == 0 || snap->conf_len > UINT32_MAX) return -EINVAL;
    stet_buf_reset(&g->snap_pending);
    stet_buf_append_u64be(&g->snap_pending, snap->index);
    stet_buf_append_u64be(&g->snap_pending, snap->term);
    stet_buf_append_u64be(&g->snap_pending, snap->conf_index);
    stet_buf_append_u32be(&g->snap_pending, (uint32_t)snap->conf_len);
    stet_buf_append(&g->snap_pending, snap->conf, snap->conf_len);
    stet_buf_append(&g->snap_pending, snap->data, snap->len);
    g->has_snap_pending = true;
    g->snap_written_gen = 0;
    g->snap_index = snap->index;
    key_snapshot(&s->k, group);
    stet_store_batch_put(&s->staged, s->k.data, s->k.len, g->snap_pending.data, g->snap_pending.len);
    return 0;
}

static int st_get_snapshot(void *ctx, uint32_t group, struct stet_consensus_snapshot *out) {
    struct stet_consensus_store *s = ctx;
    struct cgroup *g = group_get(s, group);
    if (g->has_snap_pending) return snapshot_decode(g->snap_pending.data, g->snap_pending.len, out);
    key_snapshot(&s->k, group);
    int rc = stet_store_get(s->store, s->k.data, s->k.len, &s->v);
    if (rc != 0) return rc < 0 ? rc : 1;
    return snapshot_decode(s->v.data, s->v.len, out);
}

static int st_trim(void *ctx, uint32_t group, uint64_t index) {
    struct stet_consensus_store *s = ctx;
    struct cgroup *g = group_get(s, group);
    if (index < g->first) return 0;
    if (index > g->snap_index) return -EINVAL; /* invariant 4 */
    struct stet_buf hi = STET_BUF_INIT;
    key_entry(&s->k, group, 0);
    key_entry(&hi, group, index + 1);
    stet_store_batch_delete_range(&s->staged, s->k.data, s->k.len, hi.data, hi.len);
    stet_buf_free(&hi);
    if (index >= g->last) {
        /* every entry goes: the log continues at index + 1 */
        pending_drop_from(g, g->pending_first);
        g->last = index;
        g->pending_first = index + 1;
    } else if (index >= g->pending_first) {
        size_t drop = (size_t)(index + 1 - g->pending_first);
        for (size_t j = 0; j < drop; j++) stet_buf_free(&g->pending[j].data);
        memmove(g->pending, g->pending + drop, (g->n_pending - drop) * sizeof(*g->pending));
        g->n_pending -= drop;
        g->pending_first = index + 1;
    }
    g->first = index + 1;
    STET_ASSERT(g->pending_first >= g->first);
    STET_ASSERT(g->n_pending == 0 || g->pending_first + g->n_pending - 1 == g->last);
    return 0;
}

static void sync_work(void *arg) {
    struct stet_consensus_store *s = arg;
    s->status = stet_store_write(s->store, &s->inflight, STET_STORE_WRITE_SYNC);
}

static void sync_finished(void *arg) {
    struct stet_consensus_store *s = arg;
    STET_ASSERT(s->syncing);
    s->syncing = false;
    stet_store_batch_clear(&s->inflight);
    int status = s->status;
    uint64_t gen = s->gen;
    /* done first: what it applies (a one-voter group commits right there) is read from the
     * copies in memory, not from the store */
    s->done(s->done_arg, status);
    if (status != 0) return;
    /* pending entries written by that sync are readable from the store now (a sync started
     * inside done has a later generation) */
    for (size_t i = 0; i < s->n_groups; i++) {
        struct cgroup *g = &s->groups[i];
        size_t keep_from = 0;
        while (keep_from < g->n_pending && g->pending[keep_from].written_gen == gen) keep_from++;
        for (size_t j = 0; j < keep_from; j++) stet_buf_free(&g->pending[j].data);
        if (keep_from > 0 && g->n_pending > keep_from)
            memmove(g->pending, g->pending + keep_from, (g->n_pending - keep_from) * sizeof(*g->pending));
        g->n_pending -= keep_from;
        g->pending_first += keep_from;
        if (g->has_snap_pending && g->snap_written_gen == gen) g->has_snap_pending = false;
    }
}

static int st_sync(void *ctx, void (*done)(void *arg, int status), void *arg) {
    struct stet_consensus_store *s = ctx;
    STET_ASSERT(!s->syncing);
    s->syncing = true;
    s->gen++;
    s->done = done;
    s->done_arg = arg;
    /* the staged batch becomes the one in flight */
    struct stet_store_batch t = s->inflight;
    s->inflight = s->staged;
    s->staged = t;
    stet_store_batch_clear(&s->staged);
    for (size_t i = 0; i < s->n_groups; i++) {
        struct cgroup *g = &s->groups[i];
        for (size_t j = 0; j < g->n_pending; j++)
            if (g->pending[j].written_gen == 0) g->pending[j].written_gen = s->gen;
        if (g->has_snap_pending && g->snap_written_gen == 0) g->snap_written_gen = s->gen;
    }
    int (*submit)(void *, stet_env_work_fn, stet_env_done_fn, void *) =
        s->env->submit_short ? s->env->submit_short : s->env->submit;
    int rc = submit(s->env->ctx, sync_work, sync_finished, s);
    if (rc != 0) {
        s->syncing = false;
        return rc;
    }
    return 0;
}

static int st_get(void *ctx, uint32_t group, uint64_t index, struct stet_consensus_entry *out) {
    struct stet_consensus_store *s = ctx;
    struct cgroup *g = group_get(s, group);
    if (index == 0 || index < g->first || index > g->last) return 1;
    if (index >= g->pending_first) {
        struct pentry *p = &g->pending[index - g->pending_first];
        *out = (struct stet_consensus_entry){p->term, p->type, p->data.data, p->data.len};
        return 0;
    }
    key_entry(&s->k, group, index);
    int rc = stet_store_get(s->store, s->k.data, s->k.len, &s->v);
    if (rc != 0) return rc < 0 ? rc : 1;
    if (s->v.len < 9) return -EPROTO;
    *out = (struct stet_consensus_entry){stet_load_u64be(s->v.data), s->v.data[8], s->v.data + 9, s->v.len - 9};
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int stet_consensus_store_create(const struct stet_env *env, struct stet_store *store,
                                struct stet_consensus_store **out) {
    struct stet_consensus_store *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->env = env;
    s->store = store;
    stet_store_batch_init(&s->staged);
    stet_store_batch_init(&s->inflight);
    *out = s;
    return 0;
}

bool stet_consensus_store_syncing(const struct stet_consensus_store *s) { return s->syncing; }

void stet_consensus_store_destroy(struct stet_consensus_store *s) {
    if (!s) return;
    STET_ASSERT(!s->syncing);
    for (size_t i = 0; i < s->n_groups; i++) {
        for (size_t j = 0; j < s->groups[i].n_pending; j++) stet_buf_free(&s->groups[i].pending[j].data);
        free(s->groups[i].pending);
        stet_buf_free(&s->groups[i].snap_pending);
    }
    free(s->groups);
    stet_store_batch_free(&s->staged);
    stet_store_batch_free(&s->inflight);
    stet_buf_free(&s->k);
    stet_buf_free(&s->v);
    free(s);
}

struct stet_consensus_storage stet_consensus_store_port(struct stet_consensus_store *s) {
    return (struct stet_consensus_storage){.ctx = s, .load = st_load, .set_term_vote = st_set_term_vote,
                                           .truncate_append = st_truncate_append, .sync = st_sync, .get = st_get,
                                           .set_snapshot = st_set_snapshot, .get_snapshot = st_get_snapshot,
                                           .trim = st_trim};
}
