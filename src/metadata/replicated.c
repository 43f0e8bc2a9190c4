/* The replicated metadata store: the stet_metadata contract (metadata.h) over one raft group
 * (src/consensus), for the cluster (design/cluster.md §2: every metadata-server node holds a
 * copy; a put commits on a majority).
 *
 * A put becomes a command in the metadata group's log:
 *   u8 version (1) | u64 origin | u64 request | u64 expected version | u16 key length | key | value
 * Every member applies the committed commands in log order to its local copy (keys 'M' + name
 * as the local store has them, plus 'M' 0x00 "applied" -> u64 BE last applied index, written in
 * the same batch): the version check happens at apply time, so two puts expecting the same
 * version cannot both win, on any node. The node that proposed a put answers it when the
 * command is applied: 0 or -ESTALE (with the version then stored). If another entry is applied
 * at the index the put was given (leadership changed and the put's entry was truncated), the put
 * did not happen: -ECANCELED, the caller re-reads and retries. The submit port appends the
 * command on this node when it leads the group or through the leader (the node forwards it over
 * the node port); -EAGAIN when no leader is reachable. A put that gets no outcome within
 * timeout_ms fails with -ETIMEDOUT: its outcome is unknown (it may still commit), the caller
 * re-reads before retrying. Because the proposer answers when its OWN copy applied the command,
 * a caller reads its writes on the node it wrote through.
 *
 * sync (a read barrier): the read_index port returns an index committed after the call (the
 * leader appends an empty command, one per request); sync completes once this copy applied it,
 * so a read after it sees every put answered anywhere before the sync began.
 *
 * The local copy is written without a sync: the log is the durable copy; at start the group
 * replays from index 1 (or from its snapshot) and commands at or below the stored applied index
 * are skipped.
 *
 * Snapshots (the group's log is compacted behind them; a member that is behind or lost its
 * data installs one): the whole local copy as of the applied index,
 *   u8 version (1) | u32 count | count x (u16 key length | key | u32 value length | value)
 * with keys without the 'M' prefix, in store order (strictly increasing), values as stored
 * (u64 version, data). Installing one replaces the copy in one store batch. A put of ours whose
 * entry the snapshot covers cannot be told apart from another's: it fails with -ETIMEDOUT
 * (unknown outcome), like a put whose answer never came.
 */
#include "metadata/replicated.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "metadata"
#define CMD_VERSION 1
#define SNAPSHOT_VERSION 1
static const char APPLIED_KEY[] = {'M', 0, 'a', 'p', 'p', 'l', 'i', 'e', 'd'};

struct rput {
    struct rput *next;
    struct rmd *md;
    uint64_t request;
    uint64_t index;    /* given by the log; 0 until the submission is answered */
    uint64_t deadline; /* monotonic ms */
    bool submitting;   /* the submit port has not answered yet (keeps the struct alive) */
    bool finished;     /* cb ran */
    stet_metadata_put_cb cb;
    void *arg;
};

struct rsync {
    struct rsync *next;
    struct rmd *md;
    uint64_t index, deadline;
    bool have_index, submitting, finished;
    stet_metadata_sync_cb cb;
    void *arg;
};

struct rmd {
    struct stet_metadata base;
    struct stet_store *store;
    uint64_t origin; /* tags this process's puts (random per start: a request number of an earlier
                        life never matches a put of this one) */
    struct stet_metadata_replicated_ports ports;
    struct stet_env_timer *timer;
    bool timer_armed;
    uint64_t next_request;
    uint64_t applied;
    uint64_t installed; /* the last snapshot installed: puts at or below it have unknown outcomes */
    struct rput *puts;   /* waiting for their command to be applied (or for the submit answer) */
    struct rsync *syncs; /* read barriers */
    struct stet_buf k, v, cmd;
    struct stet_metadata_replicated_stats stats;
};

static size_t make_key(const char *name, struct stet_buf *out) {
    stet_buf_reset(out);
    stet_buf_append_byte(out, 'M');
    stet_buf_append(out, name, strlen(name));
    return out->len;
}

static int read_key(struct rmd *md, const uint8_t *key, size_t klen, uint64_t *version, struct stet_buf *value) {
    int rc = stet_store_get(md->store, key, klen, &md->v);
    if (rc == 1) {
        *version = 0;
        if (value) stet_buf_reset(value);
        return 1;
    }
    if (rc < 0) return rc;
    if (md->v.len < 8) return -EIO;
    *version = stet_load_u64be(md->v.data);
    if (value) {
        stet_buf_reset(value);
        stet_buf_append(value, md->v.data + 8, md->v.len - 8);
    }
    return 0;
}

static int rmd_get(struct stet_metadata *base, const char *name, uint64_t *version, struct stet_buf *value) {
    struct rmd *md = (struct rmd *)base;
    size_t n = strlen(name);
    if (n == 0 || n > STET_METADATA_KEY_MAX) return -EINVAL;
    make_key(name, &md->k);
    return read_key(md, md->k.data, md->k.len, version, value);
}

static uint64_t now_ms(const struct rmd *md) { return stet_env_monotonic_ms(md->ports.env); }

static void arm(struct rmd *md) {
    if (md->timer_armed || md->timer == NULL) return;
    md->timer_armed = true;
    stet_env_timer_start(md->ports.env, md->timer, 100);
}

/* Unlinks finished entries whose submission is answered too. */
static void sweep(struct rmd *md) {
    for (struct rput **pp = &md->puts; *pp;) {
        struct rput *p = *pp;
        if (p->finished && !p->submitting) {
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
    for (struct rsync **pp = &md->syncs; *pp;) {
        struct rsync *y = *pp;
        if (y->finished && !y->submitting) {
            *pp = y->next;
            free(y);
        } else {
            pp = &y->next;
        }
    }
}

static void put_finish(struct rput *p, int status, uint64_t version) {
    if (p->finished) return;
    p->finished = true;
    if (status == -ETIMEDOUT) p->md->stats.puts_timed_out++;
    else if (status == -ECANCELED) p->md->stats.puts_cancelled++;
    else if (status != 0 && status != -ESTALE) p->md->stats.puts_failed++;
    p->cb(p->arg, status, version);
}

static void sync_finish(struct rsync *y, int status) {
    if (y->finished) return;
    y->finished = true;
    y->cb(y->arg, status);
}

static void tick(void *arg) {
    struct rmd *md = arg;
    md->timer_armed = false;
    uint64_t now = now_ms(md);
    for (struct rput *p = md->puts; p; p = p->next)
        if (!p->finished && now >= p->deadline) put_finish(p, -ETIMEDOUT, 0);
    for (struct rsync *y = md->syncs; y; y = y->next)
        if (!y->finished && now >= y->deadline) sync_finish(y, -ETIMEDOUT);
    sweep(md);
    if (md->puts || md->syncs) arm(md);
}

static void put_submitted(void *arg, int status, uint64_t index) {
    struct rput *p = arg;
    struct rmd *md = p->md;
    p->submitting = false;
    if (status != 0) {
        put_finish(p, status, 0);
    } else if (!p->finished) {
        p->index = index;
        /* the entry at that index was applied already, and it was not this put's (or it came
         * in a snapshot: then nobody knows) */
        if (md->applied >= index) put_finish(p, index <= md->installed ? -ETIMEDOUT : -ECANCELED, 0);
    }
    sweep(md);
}

static void rmd_put(struct stet_metadata *base, const char *name, const void *value, size_t len,
                    uint64_t expected_version, stet_metadata_put_cb cb, void *arg) {
    struct rmd *md = (struct rmd *)base;
    size_t n = strlen(name);
    if (n == 0 || n > STET_METADATA_KEY_MAX) {
        cb(arg, -EINVAL, 0);
        return;
    }
    md->stats.puts++;
    uint64_t request = ++md->next_request;
    stet_buf_reset(&md->cmd);
    stet_buf_append_byte(&md->cmd, CMD_VERSION);
    stet_buf_append_u64be(&md->cmd, md->origin);
    stet_buf_append_u64be(&md->cmd, request);
    stet_buf_append_u64be(&md->cmd, expected_version);
    stet_buf_append_u16be(&md->cmd, (uint16_t)n);
    stet_buf_append(&md->cmd, name, n);
    stet_buf_append(&md->cmd, value, len);
    struct rput *p = calloc(1, sizeof(*p));
    STET_ASSERT(p != NULL);
    *p = (struct rput){.next = md->puts, .md = md, .request = request, .deadline = now_ms(md) + md->ports.timeout_ms,
                       .submitting = true, .cb = cb, .arg = arg};
    md->puts = p;
    arm(md);
    md->ports.submit(md->ports.ctx, md->cmd.data, md->cmd.len, put_submitted, p);
}

static void sync_indexed(void *arg, int status, uint64_t index) {
    struct rsync *y = arg;
    struct rmd *md = y->md;
    y->submitting = false;
    if (status != 0) {
        sync_finish(y, status);
    } else if (!y->finished) {
        y->have_index = true;
        y->index = index;
        if (md->applied >= index) sync_finish(y, 0);
    }
    sweep(md);
}

static void rmd_sync(struct stet_metadata *base, stet_metadata_sync_cb cb, void *arg) {
    struct rmd *md = (struct rmd *)base;
    md->stats.syncs++;
    struct rsync *y = calloc(1, sizeof(*y));
    STET_ASSERT(y != NULL);
    *y = (struct rsync){.next = md->syncs, .md = md, .deadline = now_ms(md) + md->ports.timeout_ms,
                        .submitting = true, .cb = cb, .arg = arg};
    md->syncs = y;
    arm(md);
    md->ports.read_index(md->ports.ctx, sync_indexed, y);
}

static void rmd_destroy(struct stet_metadata *base) {
    struct rmd *md = (struct rmd *)base;
    /* the node answers every submission before destroying the store (its RPCs end first) */
    for (struct rput *p = md->puts; p; p = p->next) {
        STET_ASSERT(!p->submitting);
        put_finish(p, -ESHUTDOWN, 0);
    }
    for (struct rsync *y = md->syncs; y; y = y->next) {
        STET_ASSERT(!y->submitting);
        sync_finish(y, -ESHUTDOWN);
    }
    sweep(md);
    STET_ASSERT(md->puts == NULL && md->syncs == NULL);
    if (md->timer) stet_env_timer_destroy(md->ports.env, md->timer);
    stet_buf_free(&md->k);
    stet_buf_free(&md->v);
    stet_buf_free(&md->cmd);
    free(md);
}

static const struct stet_metadata_ops rmd_ops = {.get = rmd_get, .put = rmd_put, .sync = rmd_sync, .destroy = rmd_destroy};

/* The put with this request id (ours, just applied) gets its outcome. */
static void answer_request(struct rmd *md, uint64_t request, int status, uint64_t version) {
    for (struct rput *p = md->puts; p; p = p->next) {
        if (p->request != request) continue;
        put_finish(p, status, version);
        return;
    }
}

/* Puts that were given this index but whose entry is not the one applied there: they were
 * truncated with a leadership change and did not happen. Barriers at or below it are done. */
static void after_apply(struct rmd *md, uint64_t index) {
    for (struct rput *p = md->puts; p; p = p->next)
        if (!p->finished && p->index == index) put_finish(p, -ECANCELED, 0);
    for (struct rsync *y = md->syncs; y; y = y->next)
        if (!y->finished && y->have_index && y->index <= index) sync_finish(y, 0);
    sweep(md);
}

void stet_metadata_replicated_apply(struct stet_metadata *base, uint64_t index, uint8_t type, const uint8_t *data,
                                    size_t len) {
    struct rmd *md = (struct rmd *)base;
    if (index <= md->applied) return; /* replayed at start: already in the local copy */
    uint64_t origin = 0;
    uint64_t request = 0;
    int status = 0;
    uint64_t version = 0;
    bool ours = false;
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    bool changed = false;
    if (type == STET_CONSENSUS_COMMAND && len == 0) {
        /* a read barrier: nothing to apply */
    } else if (type == STET_CONSENSUS_COMMAND && len >= 1 + 8 + 8 + 8 + 2 && data[0] == CMD_VERSION) {
        origin = stet_load_u64be(data + 1);
        request = stet_load_u64be(data + 9);
        uint64_t expected = stet_load_u64be(data + 17);
        size_t klen = stet_load_u16be(data + 25);
        if (klen >= 1 && klen <= STET_METADATA_KEY_MAX && 27 + klen <= len) {
            ours = origin == md->origin;
            stet_buf_reset(&md->k);
            stet_buf_append_byte(&md->k, 'M');
            stet_buf_append(&md->k, data + 27, klen);
            int rc = read_key(md, md->k.data, md->k.len, &version, NULL);
            if (rc < 0) {
                stet_error(MOD, "cannot read the metadata copy (%d) at index %llu", rc, (unsigned long long)index);
                status = rc;
            } else if (version != expected) {
                status = -ESTALE;
            } else {
                version = expected + 1;
                stet_buf_reset(&md->v);
                stet_buf_append_u64be(&md->v, version);
                stet_buf_append(&md->v, data + 27 + klen, len - 27 - klen);
                stet_store_batch_put(&b, md->k.data, md->k.len, md->v.data, md->v.len);
                changed = true;
            }
        } else {
            stet_warn(MOD, "skipping a malformed metadata command at index %llu", (unsigned long long)index);
        }
    }
    uint8_t a[8];
    stet_store_u64be(a, index);
    stet_store_batch_put(&b, APPLIED_KEY, sizeof(APPLIED_KEY), a, sizeof(a));
    int rc = stet_store_write(md->store, &b, 0 /* the log is the durable copy */);
    stet_store_batch_free(&b);
    STET_ASSERT(rc == 0); /* a store that cannot be written must stop the node (as the partitions do) */
    md->applied = index;
    if (ours) answer_request(md, request, status, version);
    after_apply(md, index);
    if (changed && md->ports.changed) {
        char name[STET_METADATA_KEY_MAX + 1];
        size_t klen = md->k.len - 1;
        memcpy(name, md->k.data + 1, klen);
        name[klen] = '\0';
        md->ports.changed(md->ports.ctx, name, version);
    }
}

int stet_metadata_create_replicated(struct stet_store *store, uint64_t origin,
                                    const struct stet_metadata_replicated_ports *ports, struct stet_metadata **out) {
    struct rmd *md = calloc(1, sizeof(*md));
    if (!md) return -ENOMEM;
    md->base.ops = &rmd_ops;
    md->store = store;
    STET_ASSERT(origin != 0);
    STET_ASSERT(ports->env != NULL && ports->submit != NULL && ports->read_index != NULL);
    md->origin = origin;
    md->ports = *ports;
    if (!md->ports.timeout_ms) md->ports.timeout_ms = 5000;
    md->timer = stet_env_timer_create(ports->env, tick, md);
    if (!md->timer) {
        free(md);
        return -ENOMEM;
    }
    int rc = stet_store_get(store, APPLIED_KEY, sizeof(APPLIED_KEY), &md->v);
    if (rc == 0 && md->v.len == 8) md->applied = stet_load_u64be(md->v.data);
    else if (rc < 0) {
        rmd_destroy(&md->base);
        return rc;
    }
    *out = &md->base;
    return 0;
}

uint64_t stet_metadata_replicated_applied(const struct stet_metadata *base) {
    return ((const struct rmd *)base)->applied;
}

void stet_metadata_replicated_stats(const struct stet_metadata *base, struct stet_metadata_replicated_stats *out) {
    *out = ((const struct rmd *)base)->stats;
}

/* ---- snapshots ------------------------------------------------------------------------------ */

static const uint8_t RANGE_LO[] = {'M'};
static const uint8_t RANGE_HI[] = {'N'};

static bool is_applied_key(const uint8_t *k, size_t kl) {
    return kl == sizeof(APPLIED_KEY) && memcmp(k, APPLIED_KEY, kl) == 0;
}

int stet_metadata_replicated_snapshot(struct stet_metadata *base, struct stet_buf *out, uint64_t *index) {
    struct rmd *md = (struct rmd *)base;
    stet_buf_reset(out);
    stet_buf_append_byte(out, SNAPSHOT_VERSION);
    size_t count_at = out->len;
    stet_buf_append_u32be(out, 0);
    struct stet_store_iter *it = stet_store_iter_create(md->store, RANGE_LO, sizeof(RANGE_LO), RANGE_HI, sizeof(RANGE_HI));
    if (!it) return -ENOMEM;
    uint32_t count = 0;
    int rc = 0;
    for (; stet_store_iter_valid(md->store, it); stet_store_iter_next(md->store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(md->store, it, &kl);
        const uint8_t *v = stet_store_iter_value(md->store, it, &vl);
        if (is_applied_key(k, kl)) continue;
        if (kl < 2 || kl - 1 > STET_METADATA_KEY_MAX || vl < 8 || vl > UINT32_MAX) {
            stet_error(MOD, "the metadata copy holds a malformed key (%zu bytes) or value (%zu bytes)", kl, vl);
            rc = -EIO;
            break;
        }
        stet_buf_append_u16be(out, (uint16_t)(kl - 1));
        stet_buf_append(out, k + 1, kl - 1);
        stet_buf_append_u32be(out, (uint32_t)vl);
        stet_buf_append(out, v, vl);
        count++;
    }
    if (rc == 0) rc = stet_store_iter_error(md->store, it);
    stet_store_iter_destroy(md->store, it);
    if (rc != 0) return rc;
    uint8_t c[4];
    stet_store_u32be(c, count);
    memcpy(out->data + count_at, c, 4);
    *index = md->applied;
    return 0;
}

int stet_metadata_replicated_each(struct stet_metadata *base,
                                  void (*cb)(void *arg, const char *key, uint64_t version, const uint8_t *value,
                                             size_t len),
                                  void *arg) {
    struct rmd *md = (struct rmd *)base;
    struct stet_store_iter *it = stet_store_iter_create(md->store, RANGE_LO, sizeof(RANGE_LO), RANGE_HI, sizeof(RANGE_HI));
    if (!it) return -ENOMEM;
    char key[STET_METADATA_KEY_MAX + 1];
    for (; stet_store_iter_valid(md->store, it); stet_store_iter_next(md->store, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(md->store, it, &kl);
        const uint8_t *v = stet_store_iter_value(md->store, it, &vl);
        if (is_applied_key(k, kl) || kl < 2 || kl - 1 > STET_METADATA_KEY_MAX || vl < 8) continue;
        memcpy(key, k + 1, kl - 1);
        key[kl - 1] = '\0';
        if (strlen(key) != kl - 1) continue;
        cb(arg, key, stet_load_u64be(v), v + 8, vl - 8);
    }
    int rc = stet_store_iter_error(md->store, it);
    stet_store_iter_destroy(md->store, it);
    return rc;
}

struct snap_key {
    const uint8_t *key; /* without the 'M' prefix */
    size_t klen;
    const uint8_t *val; /* u64 version, data */
    size_t vlen;
};

/* Parses and checks a snapshot: keys strictly increasing, values with a version. */
static int snapshot_parse(const uint8_t *data, size_t len, struct snap_key **out, uint32_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (len < 5 || data[0] != SNAPSHOT_VERSION) return -EPROTO;
    uint32_t n = stet_load_u32be(data + 1);
    size_t off = 5;
    if (n > (len - off) / (2 + 1 + 4 + 8)) return -EPROTO; /* each key takes at least that */
    struct snap_key *keys = calloc(n ? n : 1, sizeof(*keys));
    if (!keys) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        if (len - off < 2) goto bad;
        size_t kl = stet_load_u16be(data + off);
        off += 2;
        if (kl == 0 || kl > STET_METADATA_KEY_MAX || len - off < kl + 4) goto bad;
        keys[i].key = data + off;
        keys[i].klen = kl;
        off += kl;
        size_t vl = stet_load_u32be(data + off);
        off += 4;
        if (vl < 8 || len - off < vl) goto bad;
        keys[i].val = data + off;
        keys[i].vlen = vl;
        off += vl;
        if (i > 0 && stet_store_key_compare(keys[i - 1].key, keys[i - 1].klen, keys[i].key, keys[i].klen) >= 0) goto bad;
        /* 'M' 0x00 "applied" is the marker, never a key */
        if (keys[i].key[0] == 0) goto bad;
    }
    if (off != len) goto bad;
    *out = keys;
    *n_out = n;
    return 0;
bad:
    free(keys);
    return -EPROTO;
}

struct changed_key {
    char name[STET_METADATA_KEY_MAX + 1];
    uint64_t version;
};

int stet_metadata_replicated_install(struct stet_metadata *base, uint64_t index, const uint8_t *data, size_t len) {
    struct rmd *md = (struct rmd *)base;
    if (index <= md->applied) return 0; /* the copy has it already (a restart) */
    struct snap_key *keys;
    uint32_t n;
    int rc = snapshot_parse(data, len, &keys, &n);
    if (rc != 0) {
        stet_error(MOD, "the metadata snapshot at index %llu is malformed; the copy stays at %llu",
                   (unsigned long long)index, (unsigned long long)md->applied);
        return rc;
    }
    /* which keys change: a merge of the old copy and the snapshot, both in key order */
    struct changed_key *changed = NULL;
    size_t n_changed = 0, cap_changed = 0;
    struct stet_store_iter *it = stet_store_iter_create(md->store, RANGE_LO, sizeof(RANGE_LO), RANGE_HI, sizeof(RANGE_HI));
    if (!it) {
        free(keys);
        return -ENOMEM;
    }
    uint32_t i = 0;
    for (;;) {
        const uint8_t *ok = NULL, *ov = NULL;
        size_t okl = 0, ovl = 0;
        while (stet_store_iter_valid(md->store, it)) {
            ok = stet_store_iter_key(md->store, it, &okl);
            ov = stet_store_iter_value(md->store, it, &ovl);
            if (!is_applied_key(ok, okl)) break;
            stet_store_iter_next(md->store, it);
            ok = NULL;
        }
        if (!ok && i == n) break;
        /* cmp < 0: an old key the snapshot lacks; > 0: a new key; 0: both */
        int cmp = !ok ? 1 : i == n ? -1 : stet_store_key_compare(ok + 1, okl - 1, keys[i].key, keys[i].klen);
        uint64_t oldv = ok && ovl >= 8 ? stet_load_u64be(ov) : 0;
        uint64_t newv = cmp >= 0 ? stet_load_u64be(keys[i].val) : 0;
        if (cmp == 0 ? oldv != newv : true) {
            if (n_changed == cap_changed) {
                cap_changed = cap_changed ? cap_changed * 2 : 16;
                changed = realloc(changed, cap_changed * sizeof(*changed));
                STET_ASSERT(changed != NULL);
            }
            struct changed_key *ck = &changed[n_changed++];
            const uint8_t *name = cmp < 0 ? ok + 1 : keys[i].key;
            size_t nl = cmp < 0 ? okl - 1 : keys[i].klen;
            if (nl > STET_METADATA_KEY_MAX) nl = STET_METADATA_KEY_MAX;
            memcpy(ck->name, name, nl);
            ck->name[nl] = '\0';
            ck->version = newv;
        }
        if (cmp <= 0) stet_store_iter_next(md->store, it);
        if (cmp >= 0) i++;
    }
    rc = stet_store_iter_error(md->store, it);
    stet_store_iter_destroy(md->store, it);
    if (rc == 0) {
        struct stet_store_batch b;
        stet_store_batch_init(&b);
        stet_store_batch_delete_range(&b, RANGE_LO, sizeof(RANGE_LO), RANGE_HI, sizeof(RANGE_HI));
        for (uint32_t k = 0; k < n; k++) {
            stet_buf_reset(&md->k);
            stet_buf_append_byte(&md->k, 'M');
            stet_buf_append(&md->k, keys[k].key, keys[k].klen);
            stet_store_batch_put(&b, md->k.data, md->k.len, keys[k].val, keys[k].vlen);
        }
        uint8_t a[8];
        stet_store_u64be(a, index);
        stet_store_batch_put(&b, APPLIED_KEY, sizeof(APPLIED_KEY), a, sizeof(a));
        rc = stet_store_write(md->store, &b, 0 /* the snapshot record is the durable copy */);
        stet_store_batch_free(&b);
    }
    free(keys);
    if (rc != 0) {
        free(changed);
        stet_error(MOD, "cannot write the metadata snapshot at index %llu (%d)", (unsigned long long)index, rc);
        return rc;
    }
    stet_info(MOD, "installed a metadata snapshot at index %llu (was at %llu, %zu keys changed)",
              (unsigned long long)index, (unsigned long long)md->applied, n_changed);
    md->applied = index;
    md->installed = index;
    /* puts whose entry the snapshot covers: ours or not, nobody can tell */
    for (struct rput *p = md->puts; p; p = p->next)
        if (!p->finished && p->index != 0 && p->index <= index) put_finish(p, -ETIMEDOUT, 0);
    after_apply(md, index);
    for (size_t k = 0; k < n_changed && md->ports.changed; k++) md->ports.changed(md->ports.ctx, changed[k].name, changed[k].version);
    free(changed);
    return 0;
}
