/* The local loglet: per-partition durable logs in the shared store, with group commit.
 *
 * Storage layout (the log touches no other keys; the partition store uses other prefixes):
 *
 *     'L' | u32 BE log_id | u64 BE lsn   ->  record bytes
 *     'l' | u32 BE log_id                ->  u64 BE trim point (highest trimmed LSN)
 *
 * Big-endian ids and LSNs make bytewise key order equal (log_id, lsn) order, so one log is
 * one contiguous key range and its tail is the last key of that range. The trim point is
 * written in the same atomic batch as the delete-range that removes the trimmed records.
 *
 * Recovery (stet_log_create): iterate the 'l' keys for every trimmed log's trim point; then
 * walk the 'L' prefix one log at a time: seek to the first key of the next log id, read its
 * id, seek_for_prev to 'L'|id|UINT64_MAX for its last LSN, then seek to 'L'|id+1. The
 * durable tail is max(last LSN, trim point), so a fully trimmed log keeps its tail.
 *
 * Groups. Appends go into the `pending` group: the record is put into the group's store
 * batch (one copy) and an entry {log_id, lsn, cb} is queued; per log id the group keeps the
 * contiguous LSN range it covers. stet_log_flush moves `pending` to `inflight` and submits
 * ONE store write with sync=true through env->submit_short (env->submit if NULL; the env may
 * run it inline, its done still comes later from the loop); appends meanwhile fill a new
 * pending group. At most one group is in flight, so groups become durable in order.
 *
 * States of a group and the transitions (the function that makes each one):
 *
 *     spare --group_take--> pending --stet_log_flush--> inflight --commit_done(ok)--> spare
 *                                          |                 |
 *                              submit fails|                 |commit_done(write failed)
 *                                          v                 v
 *                               log_fail: this group fails with the error, then the
 *                               pending group behind it with -EIO; failed is set
 *
 * Invariants (checked by stet_log_check):
 *  1. For every log: trim <= durable <= assigned, and (unless the log failed) LSNs in
 *     (durable, assigned] belong to the inflight group (oldest) or the pending group, each a
 *     contiguous range.
 *  2. commit_done advances a log's durable tail only from durable+1 to the group's last LSN
 *     (asserted), before any callback of that group runs: callbacks never precede
 *     durability.
 *  3. Once `failed` is set it never clears; nothing is pending or in flight after the
 *     failing commit_done returns, and every append made before it got a callback with
 *     status < 0 unless it was acknowledged durable earlier.
 *  4. unflushed_bytes == pending.bytes + inflight.bytes.
 *
 * Threading: commit_work runs on the env's worker and touches only its group's batch and the
 * store; everything else runs on the loop thread.
 */
#include "log/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

#define LOG_RECORD_PREFIX 'L'
#define LOG_META_PREFIX 'l'

enum {
    LOG_DEFAULT_MAX_BATCH_BYTES = 4 << 20,
    LOG_DEFAULT_MAX_LOG_IDS = 1024,
    LOG_DEFAULT_MAX_PENDING_BYTES = 64 << 20,
};

struct log_entry {
    uint32_t log_id;
    uint64_t lsn;
    stet_log_append_cb cb;
    void *arg;
};

struct log_range {
    uint32_t log_id;
    uint64_t first_lsn;
    uint64_t last_lsn;
};

struct log_group {
    struct stet_log *log;
    uint64_t seq;                  /* identifies the group in log_state.range_seq */
    struct stet_store_batch batch; /* records, delete-ranges and trim points */
    struct log_entry *entries;     /* in append order */
    size_t entry_count;
    size_t entry_cap;
    struct log_range *ranges;      /* one per log id, in order of first append */
    size_t range_count;
    size_t range_cap;
    size_t bytes;                  /* record payload bytes */
    int status;                    /* result of the store write (set on the worker) */
    uint64_t submit_ms;
};

struct log_state {
    uint32_t log_id;
    uint64_t assigned; /* last LSN handed out */
    uint64_t durable;  /* last durable LSN */
    uint64_t trim;     /* last trimmed LSN */
    uint64_t range_seq;   /* seq of the pending group that has a range for this log, or 0 */
    size_t range_index;   /* that range's index in the pending group */
};

struct stet_log {
    const struct stet_env *env;
    struct stet_store *store;
    struct stet_log_config cfg;
    stet_log_durable_cb durable_cb;
    void *durable_arg;
    struct log_state *states; /* sorted by log_id, capacity cfg.max_log_ids */
    size_t state_count;
    struct log_group *pending; /* never NULL */
    struct log_group *inflight;
    struct log_group *spare;
    uint64_t group_seq;
    size_t unflushed_bytes;
    int failed; /* 0, or the negative errno of the commit that failed */
    uint32_t callbacks_running;
    struct stet_log_stats stats;
    /* While commit_done runs the callbacks, the group's batch is still in memory:
     * stet_log_read answers from it instead of reading back from the store. */
    const struct log_group *reading;
    struct stet_store_batch_cursor read_cursor; /* where the last read from `reading` ended */
};

/* ---- keys ----------------------------------------------------------------------------- */

void stet_log_record_key(uint8_t out[STET_LOG_RECORD_KEY_LEN], uint32_t log_id, uint64_t lsn) {
    out[0] = LOG_RECORD_PREFIX;
    stet_store_u32be(out + 1, log_id);
    stet_store_u64be(out + 5, lsn);
}

void stet_log_meta_key(uint8_t out[STET_LOG_META_KEY_LEN], uint32_t log_id) {
    out[0] = LOG_META_PREFIX;
    stet_store_u32be(out + 1, log_id);
}

/* ---- per-log state -------------------------------------------------------------------- */

static size_t state_lower_bound(const struct stet_log *log, uint32_t log_id) {
    size_t lo = 0, hi = log->state_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->states[mid].log_id < log_id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static struct log_state *state_find(const struct stet_log *log, uint32_t log_id) {
    size_t i = state_lower_bound(log, log_id);
    if (i < log->state_count && log->states[i].log_id == log_id) return &log->states[i];
    return NULL;
}

/* Returns the state of log_id, adding an empty one; NULL when max_log_ids is reached.
 * Pointers into states are invalidated by the next call. */
static struct log_state *state_get_or_add(struct stet_log *log, uint32_t log_id) {
    size_t i = state_lower_bound(log, log_id);
    if (i < log->state_count && log->states[i].log_id == log_id) return &log->states[i];
    if (log->state_count == log->cfg.max_log_ids) return NULL;
    memmove(&log->states[i + 1], &log->states[i], (log->state_count - i) * sizeof(log->states[0]));
    memset(&log->states[i], 0, sizeof(log->states[i]));
    log->states[i].log_id = log_id;
    log->state_count++;
    return &log->states[i];
}

/* ---- groups --------------------------------------------------------------------------- */

static struct log_group *group_take(struct stet_log *log) {
    struct log_group *g = log->spare;
    if (g != NULL) {
        log->spare = NULL;
    } else {
        g = calloc(1, sizeof(*g));
        STET_ASSERT(g != NULL);
        g->log = log;
        stet_store_batch_init(&g->batch);
    }
    STET_ASSERT(g->entry_count == 0);
    STET_ASSERT(g->batch.count == 0);
    g->seq = ++log->group_seq;
    return g;
}

static void group_free(struct log_group *g) {
    if (g == NULL) return;
    stet_store_batch_free(&g->batch);
    free(g->entries);
    free(g->ranges);
    free(g);
}

/* Empties a finished group and keeps it as the spare (or frees it if there is one). */
static void group_recycle(struct stet_log *log, struct log_group *g) {
    stet_store_batch_clear(&g->batch);
    g->entry_count = 0;
    g->range_count = 0;
    g->bytes = 0;
    g->status = 0;
    g->seq = 0;
    /* keep one spare group (with its buffers) for the next commit; stet_log_release_memory
     * drops it when the node is idle */
    if (log->spare == NULL) log->spare = g;
    else group_free(g);
}

static void group_add_entry(struct log_group *g, uint32_t log_id, uint64_t lsn, stet_log_append_cb cb, void *arg) {
    if (g->entry_count == g->entry_cap) {
        size_t cap = g->entry_cap ? g->entry_cap * 2 : 64;
        struct log_entry *n = realloc(g->entries, cap * sizeof(*n));
        STET_ASSERT(n != NULL);
        g->entries = n;
        g->entry_cap = cap;
    }
    g->entries[g->entry_count++] = (struct log_entry){log_id, lsn, cb, arg};
}

static void group_add_lsn(struct log_group *g, struct log_state *st, uint64_t lsn) {
    if (st->range_seq == g->seq) {
        STET_ASSERT(st->range_index < g->range_count);
        struct log_range *r = &g->ranges[st->range_index];
        STET_ASSERT(r->log_id == st->log_id);
        STET_ASSERT(r->last_lsn + 1 == lsn);
        r->last_lsn = lsn;
        return;
    }
    if (g->range_count == g->range_cap) {
        size_t cap = g->range_cap ? g->range_cap * 2 : 8;
        struct log_range *n = realloc(g->ranges, cap * sizeof(*n));
        STET_ASSERT(n != NULL);
        g->ranges = n;
        g->range_cap = cap;
    }
    st->range_seq = g->seq;
    st->range_index = g->range_count;
    g->ranges[g->range_count++] = (struct log_range){st->log_id, lsn, lsn};
}

/* Calls every append callback of g with status (< 0) and recycles g. g is detached. */
static void group_fail(struct stet_log *log, struct log_group *g, int status) {
    STET_ASSERT(status < 0);
    STET_ASSERT(log->unflushed_bytes >= g->bytes);
    log->unflushed_bytes -= g->bytes;
    log->callbacks_running++;
    for (size_t i = 0; i < g->entry_count; i++) {
        const struct log_entry *e = &g->entries[i];
        if (e->cb != NULL) e->cb(e->arg, status, e->lsn);
    }
    log->callbacks_running--;
    log->reading = NULL;
    group_recycle(log, g);
}

/* Puts the log into the failed state: fails the group that was committing (already detached
 * from log->inflight), then the pending group behind it. */
static void log_fail(struct stet_log *log, struct log_group *g, int status) {
    if (status >= 0) status = -EIO;
    if (log->failed == 0) {
        stet_error("log", "commit of %zu records failed (%s); the log is now read-only, restart the server to "
                   "recover from the last durable state", g->entry_count, strerror(-status));
        log->failed = status;
    }
    group_fail(log, g, status);
    /* Appends behind the failed group got later LSNs; acknowledging them would leave a gap. */
    struct log_group *p = log->pending;
    log->pending = group_take(log);
    group_fail(log, p, -EIO);
}

/* ---- commit --------------------------------------------------------------------------- */

static uint64_t log_monotonic_ms(const struct stet_log *log) {
    if (log->env->monotonic_ms == NULL) return 0;
    return log->env->monotonic_ms(log->env->ctx);
}

/* On the worker: the one synchronous store write of a group. */
static void commit_work(void *arg) {
    struct log_group *g = arg;
    g->status = stet_store_write(g->log->store, &g->batch, true /* sync */);
}

/* On the loop thread once commit_work returned. */
static void commit_done(void *arg) {
    struct log_group *g = arg;
    struct stet_log *log = g->log;
    STET_ASSERT(log->inflight == g);
    log->inflight = NULL;
    uint64_t latency_us = (log_monotonic_ms(log) - g->submit_ms) * 1000;

    if (g->status != 0) {
        log_fail(log, g, g->status);
        return;
    }
    STET_ASSERT(log->failed == 0); /* a failure would have emptied the pipeline */

    /* Durability first (invariant 2), then callbacks. */
    for (size_t i = 0; i < g->range_count; i++) {
        const struct log_range *r = &g->ranges[i];
        struct log_state *st = state_find(log, r->log_id);
        STET_ASSERT(st != NULL);
        STET_ASSERT(st->durable + 1 == r->first_lsn);
        STET_ASSERT(r->first_lsn <= r->last_lsn);
        STET_ASSERT(r->last_lsn <= st->assigned);
        st->durable = r->last_lsn;
    }
    log->stats.appends += g->entry_count;
    log->stats.bytes += g->bytes;
    log->stats.commits++;
    log->stats.commit_latency_us_sum += latency_us;
    if (latency_us > log->stats.commit_latency_us_max) log->stats.commit_latency_us_max = latency_us;
    STET_ASSERT(log->unflushed_bytes >= g->bytes);
    log->unflushed_bytes -= g->bytes;

    log->callbacks_running++;
    log->reading = g;
    log->read_cursor = (struct stet_store_batch_cursor){&g->batch, 0};
    if (log->durable_cb != NULL) {
        for (size_t i = 0; i < g->range_count; i++) {
            const struct log_range *r = &g->ranges[i];
            log->durable_cb(log->durable_arg, r->log_id, r->first_lsn, r->last_lsn);
        }
    }
    for (size_t i = 0; i < g->entry_count; i++) {
        const struct log_entry *e = &g->entries[i];
        if (e->cb != NULL) e->cb(e->arg, 0, e->lsn);
    }
    log->callbacks_running--;
    log->reading = NULL;
    group_recycle(log, g);

    /* A full batch waited behind this commit: do not wait for the owner's next flush. */
    if (log->failed == 0 && log->inflight == NULL && log->pending->batch.ops.len >= log->cfg.max_batch_bytes)
        stet_log_flush(log);
}

bool stet_log_flush(struct stet_log *log) {
    if (log->failed != 0 || log->inflight != NULL || log->pending->batch.count == 0) return false;
    struct log_group *g = log->pending;
    log->pending = group_take(log);
    log->inflight = g;
    g->status = 0;
    g->submit_ms = log_monotonic_ms(log);
    int (*submit)(void *, stet_env_work_fn, stet_env_done_fn, void *) =
        log->env->submit_short != NULL ? log->env->submit_short : log->env->submit;
    int rc = submit(log->env->ctx, commit_work, commit_done, g);
    if (rc < 0) {
        stet_error("log", "cannot submit a commit of %zu records: %s", g->entry_count, strerror(-rc));
        log->inflight = NULL;
        log_fail(log, g, rc);
        return false;
    }
    return true;
}

/* ---- API ------------------------------------------------------------------------------ */

void stet_log_release_memory(struct stet_log *log) {
    group_free(log->spare);
    log->spare = NULL;
    /* an empty pending group may still hold a burst's buffers: start a fresh one */
    struct log_group *p = log->pending;
    if (p->entry_count == 0 && p->batch.count == 0 && p->range_count == 0) {
        log->pending = group_take(log);
        group_free(p);
    }
}

static int log_recover_meta(struct stet_log *log) {
    uint8_t lower[1] = {LOG_META_PREFIX}, upper[1] = {LOG_META_PREFIX + 1};
    struct stet_store_iter *it = stet_store_iter_create(log->store, lower, 1, upper, 1);
    int rc = 0;
    for (; stet_store_iter_valid(log->store, it); stet_store_iter_next(log->store, it)) {
        size_t klen, vlen;
        const uint8_t *k = stet_store_iter_key(log->store, it, &klen);
        const uint8_t *v = stet_store_iter_value(log->store, it, &vlen);
        if (klen != STET_LOG_META_KEY_LEN || vlen != 8) {
            stet_error("log", "malformed log metadata (key %zu bytes, value %zu bytes); the store is corrupt",
                       klen, vlen);
            rc = -EIO;
            goto out;
        }
        struct log_state *st = state_get_or_add(log, stet_load_u32be(k + 1));
        if (st == NULL) {
            stet_error("log", "the store holds more than max_log_ids=%u logs; raise the limit",
                       log->cfg.max_log_ids);
            rc = -ENOSPC;
            goto out;
        }
        st->trim = stet_load_u64be(v);
        st->durable = st->trim;
        st->assigned = st->trim;
    }
    rc = stet_store_iter_error(log->store, it);
out:
    stet_store_iter_destroy(log->store, it);
    return rc;
}

static int log_recover_tails(struct stet_log *log) {
    uint8_t lower[1] = {LOG_RECORD_PREFIX}, upper[1] = {LOG_RECORD_PREFIX + 1};
    struct stet_store_iter *it = stet_store_iter_create(log->store, lower, 1, upper, 1);
    int rc = 0;
    size_t klen = 0;
    while (stet_store_iter_valid(log->store, it)) {
        const uint8_t *k = stet_store_iter_key(log->store, it, &klen);
        if (klen != STET_LOG_RECORD_KEY_LEN) goto malformed;
        uint32_t log_id = stet_load_u32be(k + 1);
        uint8_t key[STET_LOG_RECORD_KEY_LEN];
        stet_log_record_key(key, log_id, UINT64_MAX);
        stet_store_iter_seek_for_prev(log->store, it, key, sizeof(key));
        /* The key we came from is <= key, so the iterator is valid and in the same log. */
        STET_ASSERT(stet_store_iter_valid(log->store, it));
        k = stet_store_iter_key(log->store, it, &klen);
        if (klen != STET_LOG_RECORD_KEY_LEN) goto malformed;
        STET_ASSERT(stet_load_u32be(k + 1) == log_id);
        uint64_t last = stet_load_u64be(k + 5);
        struct log_state *st = state_get_or_add(log, log_id);
        if (st == NULL) {
            stet_error("log", "the store holds more than max_log_ids=%u logs; raise the limit",
                       log->cfg.max_log_ids);
            rc = -ENOSPC;
            goto out;
        }
        if (last < st->trim) {
            stet_error("log", "log=%u has record lsn=%llu below its trim point %llu; the store is corrupt", log_id,
                       (unsigned long long)last, (unsigned long long)st->trim);
            rc = -EIO;
            goto out;
        }
        st->durable = last;
        st->assigned = last;
        if (log_id == UINT32_MAX) break;
        stet_log_record_key(key, log_id + 1, 0);
        stet_store_iter_seek(log->store, it, key, sizeof(key));
    }
    rc = stet_store_iter_error(log->store, it);
    goto out;
malformed:
    stet_error("log", "malformed log record key (%zu bytes, expected %d); the store is corrupt", klen,
               STET_LOG_RECORD_KEY_LEN);
    rc = -EIO;
out:
    stet_store_iter_destroy(log->store, it);
    return rc;
}

int stet_log_create(const struct stet_env *env, struct stet_store *store, const struct stet_log_config *cfg,
                    stet_log_durable_cb durable_cb, void *durable_arg, struct stet_log **out) {
    STET_ASSERT(env != NULL);
    STET_ASSERT(env->submit != NULL);
    STET_ASSERT(store != NULL);
    STET_ASSERT(out != NULL);
    *out = NULL;
    struct stet_log *log = calloc(1, sizeof(*log));
    STET_ASSERT(log != NULL);
    log->env = env;
    log->store = store;
    if (cfg != NULL) log->cfg = *cfg;
    if (log->cfg.max_batch_bytes == 0) log->cfg.max_batch_bytes = LOG_DEFAULT_MAX_BATCH_BYTES;
    if (log->cfg.max_log_ids == 0) log->cfg.max_log_ids = LOG_DEFAULT_MAX_LOG_IDS;
    if (log->cfg.max_pending_bytes == 0) log->cfg.max_pending_bytes = LOG_DEFAULT_MAX_PENDING_BYTES;
    log->durable_cb = durable_cb;
    log->durable_arg = durable_arg;
    log->states = calloc(log->cfg.max_log_ids, sizeof(log->states[0]));
    STET_ASSERT(log->states != NULL);
    log->pending = group_take(log);

    int rc = log_recover_meta(log);
    if (rc < 0) goto fail;
    rc = log_recover_tails(log);
    if (rc < 0) goto fail;
    stet_log_check(log);
    stet_debug("log", "recovered logs=%zu", log->state_count);
    *out = log;
    return 0;

fail:
    stet_log_destroy(log);
    return rc;
}

void stet_log_destroy(struct stet_log *log) {
    if (log == NULL) return;
    STET_ASSERT(log->inflight == NULL);
    STET_ASSERT(log->callbacks_running == 0);
    group_free(log->pending);
    group_free(log->spare);
    free(log->states);
    free(log);
}

int stet_log_append(struct stet_log *log, uint32_t log_id, const void *rec, size_t len, stet_log_append_cb cb,
                    void *arg, uint64_t *lsn_out) {
    STET_ASSERT(rec != NULL || len == 0);
    STET_ASSERT(len <= UINT32_MAX);
    if (log->failed != 0) return -EIO;
    if (log->unflushed_bytes > 0 && log->unflushed_bytes + len > log->cfg.max_pending_bytes) return -ENOBUFS;
    struct log_state *st = state_get_or_add(log, log_id);
    if (st == NULL) return -ENOSPC;
    STET_ASSERT(st->assigned < UINT64_MAX - 1);
    uint64_t lsn = ++st->assigned;
    STET_ASSERT(lsn > st->durable);

    struct log_group *g = log->pending;
    uint8_t key[STET_LOG_RECORD_KEY_LEN];
    stet_log_record_key(key, log_id, lsn);
    stet_store_batch_put(&g->batch, key, sizeof(key), rec, len);
    group_add_entry(g, log_id, lsn, cb, arg);
    group_add_lsn(g, st, lsn);
    g->bytes += len;
    log->unflushed_bytes += len;
    if (lsn_out != NULL) *lsn_out = lsn;

    if (g->batch.ops.len >= log->cfg.max_batch_bytes) stet_log_flush(log);
    return 0;
}

bool stet_log_busy(const struct stet_log *log) { return log->inflight != NULL || log->pending->batch.count > 0; }

bool stet_log_drain(struct stet_log *log) {
    if (log->inflight == NULL) stet_log_flush(log);
    return !stet_log_busy(log);
}

/* Looks for the record in the group whose callbacks are running. Readers go through a
 * group's records in order, so the search continues where the previous one stopped and
 * wraps around once. */
static bool read_recent(struct stet_log *log, const uint8_t key[STET_LOG_RECORD_KEY_LEN], struct stet_buf *out) {
    if (log->reading == NULL) return false;
    for (int pass = 0; pass < 2; pass++) {
        struct stet_store_batch_cursor c = pass == 0 ? log->read_cursor
                                                     : (struct stet_store_batch_cursor){&log->reading->batch, 0};
        int op;
        const uint8_t *k, *v;
        size_t kl, vl;
        while (stet_store_batch_next(&c, &op, &k, &kl, &v, &vl)) {
            if (op != STET_STORE_OP_PUT || kl != STET_LOG_RECORD_KEY_LEN ||
                memcmp(k, key, STET_LOG_RECORD_KEY_LEN) != 0)
                continue;
            stet_buf_reset(out);
            stet_buf_append(out, v, vl);
            log->read_cursor = c;
            return true;
        }
    }
    return false;
}

int stet_log_read(struct stet_log *log, uint32_t log_id, uint64_t lsn, struct stet_buf *out) {
    const struct log_state *st = state_find(log, log_id);
    if (st == NULL || lsn == 0 || lsn <= st->trim || lsn > st->durable) return 1;
    uint8_t key[STET_LOG_RECORD_KEY_LEN];
    stet_log_record_key(key, log_id, lsn);
    if (read_recent(log, key, out)) return 0;
    int rc = stet_store_get(log->store, key, sizeof(key), out);
    if (rc == 1) {
        stet_error("log", "durable record log=%u lsn=%llu is missing from the store (trim point %llu, tail %llu)",
                   log_id, (unsigned long long)lsn, (unsigned long long)st->trim,
                   (unsigned long long)st->durable);
        return -EIO;
    }
    return rc;
}

int stet_log_scan(struct stet_log *log, uint32_t log_id, uint64_t from_lsn, uint64_t to_lsn,
                  int (*cb)(void *arg, uint64_t lsn, const uint8_t *rec, size_t len), void *arg) {
    const struct log_state *st = state_find(log, log_id);
    if (st == NULL) return 0;
    if (from_lsn <= st->trim) from_lsn = st->trim + 1;
    if (to_lsn > st->durable) to_lsn = st->durable;
    if (from_lsn > to_lsn) return 0;
    STET_ASSERT(to_lsn < UINT64_MAX);
    uint8_t lower[STET_LOG_RECORD_KEY_LEN], upper[STET_LOG_RECORD_KEY_LEN];
    stet_log_record_key(lower, log_id, from_lsn);
    stet_log_record_key(upper, log_id, to_lsn + 1);
    struct stet_store_iter *it = stet_store_iter_create(log->store, lower, sizeof(lower), upper, sizeof(upper));
    uint64_t expect = from_lsn;
    int rc = 0;
    for (; stet_store_iter_valid(log->store, it); stet_store_iter_next(log->store, it)) {
        size_t klen, vlen;
        const uint8_t *k = stet_store_iter_key(log->store, it, &klen);
        STET_ASSERT(klen == STET_LOG_RECORD_KEY_LEN);
        uint64_t lsn = stet_load_u64be(k + 5);
        if (lsn != expect) {
            /* cb may have trimmed ahead of us (the mem store's iterators see that write). */
            st = state_find(log, log_id);
            if (lsn < expect || st == NULL || st->trim < lsn - 1) goto missing;
        }
        const uint8_t *v = stet_store_iter_value(log->store, it, &vlen);
        rc = cb(arg, lsn, v, vlen);
        if (rc != 0) goto out;
        expect = lsn + 1;
    }
    rc = stet_store_iter_error(log->store, it);
    if (rc < 0) goto out;
    if (expect <= to_lsn) {
        st = state_find(log, log_id);
        if (st == NULL || st->trim < to_lsn) goto missing;
    }
    goto out;
missing:
    stet_error("log", "durable record log=%u lsn=%llu is missing from the store", log_id, (unsigned long long)expect);
    rc = -EIO;
out:
    stet_store_iter_destroy(log->store, it);
    return rc;
}

uint64_t stet_log_durable_tail(const struct stet_log *log, uint32_t log_id) {
    const struct log_state *st = state_find(log, log_id);
    return st ? st->durable : 0;
}

uint64_t stet_log_assigned_tail(const struct stet_log *log, uint32_t log_id) {
    const struct log_state *st = state_find(log, log_id);
    return st ? st->assigned : 0;
}

uint64_t stet_log_trim_point(const struct stet_log *log, uint32_t log_id) {
    const struct log_state *st = state_find(log, log_id);
    return st ? st->trim : 0;
}

int stet_log_trim(struct stet_log *log, uint32_t log_id, uint64_t up_to_lsn) {
    if (log->failed != 0) return -EIO;
    struct log_state *st = state_get_or_add(log, log_id);
    if (st == NULL) return -ENOSPC;
    if (up_to_lsn > st->durable) up_to_lsn = st->durable;
    if (up_to_lsn <= st->trim) return 0;
    st->trim = up_to_lsn;
    uint8_t begin[STET_LOG_RECORD_KEY_LEN], end[STET_LOG_RECORD_KEY_LEN], meta[STET_LOG_META_KEY_LEN], val[8];
    stet_log_record_key(begin, log_id, 0);
    stet_log_record_key(end, log_id, up_to_lsn + 1);
    stet_log_meta_key(meta, log_id);
    stet_store_u64be(val, up_to_lsn);
    /* Records above the durable tail (in flight or pending) are not in the range. */
    stet_store_batch_delete_range(&log->pending->batch, begin, sizeof(begin), end, sizeof(end));
    stet_store_batch_put(&log->pending->batch, meta, sizeof(meta), val, sizeof(val));
    return 0;
}

bool stet_log_failed(const struct stet_log *log) { return log->failed != 0; }

void stet_log_stats(const struct stet_log *log, struct stet_log_stats *out) { *out = log->stats; }

static void check_group(const struct stet_log *log, const struct log_group *g) {
    STET_ASSERT(g->log == log);
    STET_ASSERT(g->range_count <= g->entry_count);
    size_t entries = 0;
    for (size_t i = 0; i < g->range_count; i++) {
        const struct log_range *r = &g->ranges[i];
        STET_ASSERT(r->first_lsn >= 1);
        STET_ASSERT(r->first_lsn <= r->last_lsn);
        const struct log_state *st = state_find(log, r->log_id);
        STET_ASSERT(st != NULL);
        STET_ASSERT(r->first_lsn > st->durable);
        STET_ASSERT(r->last_lsn <= st->assigned);
        entries += r->last_lsn - r->first_lsn + 1;
    }
    STET_ASSERT(entries == g->entry_count);
}

void stet_log_check(const struct stet_log *log) {
    STET_ASSERT(log->pending != NULL);
    STET_ASSERT(log->state_count <= log->cfg.max_log_ids);
    for (size_t i = 0; i < log->state_count; i++) {
        const struct log_state *st = &log->states[i];
        if (i > 0) STET_ASSERT(log->states[i - 1].log_id < st->log_id);
        STET_ASSERT(st->trim <= st->durable);
        STET_ASSERT(st->durable <= st->assigned);
    }
    size_t bytes = log->pending->bytes;
    check_group(log, log->pending);
    if (log->inflight != NULL) {
        check_group(log, log->inflight);
        bytes += log->inflight->bytes;
    }
    STET_ASSERT(bytes == log->unflushed_bytes);
    if (log->failed != 0) {
        STET_ASSERT(log->inflight == NULL);
        STET_ASSERT(log->pending->batch.count == 0);
    }
    /* Per log, everything assigned but not durable is in the inflight or pending group
     * (after a failure the assigned-but-failed LSNs are in no group). */
    for (size_t i = 0; i < log->state_count && log->failed == 0; i++) {
        const struct log_state *st = &log->states[i];
        uint64_t covered = 0;
        const struct log_group *groups[2] = {log->inflight, log->pending};
        for (size_t gi = 0; gi < 2; gi++) {
            const struct log_group *g = groups[gi];
            if (g == NULL) continue;
            for (size_t r = 0; r < g->range_count; r++)
                if (g->ranges[r].log_id == st->log_id) covered += g->ranges[r].last_lsn - g->ranges[r].first_lsn + 1;
        }
        STET_ASSERT(covered == st->assigned - st->durable);
    }
}
