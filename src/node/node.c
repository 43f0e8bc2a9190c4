/* A Stet node: opens the store and the log, creates the modules, fills in their ports and
 * runs them on one libuv loop (restate: crates/node). See node.h for the data flow.
 *
 * Files: node.c (start-up, wiring, maintenance, shutdown), env_prod.c (the production
 * stet_env), routes.c (/metrics, /cluster, /query, /health). The partitions themselves are the
 * worker's (src/worker): this file only routes between the worker and the other modules.
 *
 * Start-up order (each step needs the previous one):
 *   1. open the RocksDB store under <data_dir>/db
 *   2. log: recover each partition log's durable tail
 *   3. metadata + admin: load the schema; bump the node generation
 *   4. invoker, ingress, invocations, query (ports filled in here)
 *   5. worker: partition logs are raft groups (src/node/partitions.c), a single node's with one
 *      voter (solo_start), a cluster's over the nodes: they start once the worker exists (a
 *      single node first replays what an earlier version left in the local log), replicas
 *      apply what is committed, and leadership follows raft: the leader announces its epoch
 *      (an ANNOUNCE_LEADER record; once applied the partition resumes its INVOKED invocations,
 *      undelivered outbox messages and timers).
 *   6. HTTP listeners (ingress, admin, node port)
 *
 * The loop's prepare hook flushes the raft storage once per iteration: all records appended while
 * handling one batch of events share one fsync (group commit).
 */
#include "node/node.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/assert.h"
#include "common/log.h"
#include "node/node_internal.h"
#include "consensus/consensus.h"
#include "consensus/store.h"
#include "node/partitions.h"

#define MOD "node"

/* ---- ports: the worker ----------------------------------------------------------------- */

/* A single node's logs: the local log while the worker replays what it holds (a data directory
 * of an earlier version), then the partitions' one-voter raft groups (n->parts). */
static int log_append(void *ctx, uint32_t pid, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                      uint64_t *lsn_out) {
    struct stet_node *n = ctx;
    if (n->parts) return stet_node_parts_append(n, pid, rec, len, cb, arg, lsn_out);
    return stet_log_append(n->log, pid, rec, len, cb, arg, lsn_out);
}

static int log_read(void *ctx, uint32_t pid, uint64_t lsn, struct stet_buf *out) {
    struct stet_node *n = ctx;
    if (n->parts) return stet_node_parts_read(n, pid, lsn, out);
    return stet_log_read(n->log, pid, lsn, out);
}

static uint64_t log_durable_tail(void *ctx, uint32_t pid) {
    struct stet_node *n = ctx;
    if (n->parts) return stet_node_parts_durable_tail(n, pid);
    return stet_log_durable_tail(n->log, pid);
}

/* The processors' actions for the invoker. */
static void invoker_action(void *ctx, const struct stet_action *a) {
    struct stet_node *n = ctx;
    if (!n->invoker) return; /* shutting down: the next start re-derives them */
    switch (a->kind) {
    case STET_ACTION_INVOKE: stet_invoker_invoke(n->invoker, &a->id); break;
    case STET_ACTION_NOTIFY: stet_invoker_notify(n->invoker, &a->id, a->entry_index); break;
    case STET_ACTION_ABORT: stet_invoker_abort(n->invoker, &a->id); break;
    case STET_ACTION_PAUSE: stet_invoker_pause(n->invoker, &a->id); break;
    default: STET_UNREACHABLE();
    }
}

/* The response router: an answer goes to the module holding the sink's request on the node
 * the sink names (only this node while there is no cluster: an answer for another node, or an
 * earlier generation of this one, has nobody waiting for it). */
static void respond(void *ctx, const struct stet_action *a) {
    struct stet_node *n = ctx;
    if (a->sink.node_id && a->sink.node_id != n->node_id) {
        if (n->parts) stet_node_parts_respond(n->parts, a); /* held on another node */
        return;
    }
    if (a->sink.node_id && a->sink.generation != n->generation) return;
    if (a->kind == STET_ACTION_INGRESS_RESPONSE) {
        if (n->ingress) stet_ingress_respond(n->ingress, a);
    } else if (a->kind == STET_ACTION_ADMIN_RESPONSE) {
        if (n->invocations) stet_invocations_response(n->invocations, a);
    }
}

/* A follower replica's answer: only for a request this node holds (this start's generation). */
static void respond_replica(void *ctx, const struct stet_action *a) {
    struct stet_node *n = ctx;
    if (a->sink.node_id != n->node_id || a->sink.generation != n->generation) return;
    respond(ctx, a);
}

static void leadership(void *ctx, uint32_t pid, bool leader) {
    struct stet_node *n = ctx;
    if (!leader && n->invoker) stet_invoker_partition_lost(n->invoker, pid);
}

static void log_durable_cb(void *arg, uint32_t log_id, uint64_t first, uint64_t last) {
    STET_UNUSED(first);
    STET_UNUSED(last);
    struct stet_node *n = arg;
    if (!n->worker || log_id >= n->n_parts) return; /* replayed by stet_worker_create */
    if (stet_worker_log_durable(n->worker, log_id) != 0) {
        stet_error(MOD, "partition %u cannot apply its log; stopping the node", log_id);
        n->exit_code = 1;
        uv_stop(&n->loop);
    }
}

/* ---- ports: invoker, ingress, invocations ------------------------------------------------ */

static const struct stet_schema *node_schema(void *ctx) { return stet_admin_schema(((struct stet_node *)ctx)->admin); }
static const struct stet_schema_defaults *node_schema_defaults(void *ctx) { return &((struct stet_node *)ctx)->defaults; }

static void schema_sync(void *ctx, void (*done)(void *arg), void *arg) {
    stet_admin_sync_schema(((struct stet_node *)ctx)->admin, done, arg);
}

static int propose(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct stet_node *n = ctx;
    if (n->stopping || !n->worker) return -ESHUTDOWN;
    if (n->parts) return stet_node_parts_propose(n->parts, r, cb, arg, lsn_out); /* to the leader, anywhere */
    return stet_worker_propose(n->worker, r, cb, arg, lsn_out);
}

static int propose_retried(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct stet_node *n = ctx;
    if (lsn_out) *lsn_out = 0;
    if (n->stopping || !n->worker) return -ESHUTDOWN;
    return stet_worker_propose_retried(n->worker, r, cb, arg, lsn_out);
}

static bool settled(void *ctx, uint32_t pid, uint64_t *last_lsn) {
    return stet_worker_settled(((struct stet_node *)ctx)->worker, pid, last_lsn);
}

static uint64_t applied_lsn(void *ctx, uint32_t pid) { return stet_worker_applied_lsn(((struct stet_node *)ctx)->worker, pid); }

/* The invoker exists before the worker: its when_applied port forwards once the worker is up. */
static void when_applied(void *ctx, uint32_t pid, uint64_t lsn, struct stet_applied_waiter *w, stet_applied_cb cb,
                         void *arg) {
    stet_worker_when_applied(((struct stet_node *)ctx)->worker, pid, lsn, w, cb, arg);
}

static void when_applied_cancel(void *ctx, struct stet_applied_waiter *w) {
    struct stet_node *n = ctx;
    if (n->worker) stet_worker_waiter_cancel(n->worker, w);
}

/* /query's attempt columns: what the invoker knows of an invocation right now. */
static bool task_info(void *ctx, const struct stet_invocation_id *id, struct stet_invoker_task_info *out) {
    struct stet_node *n = ctx;
    if (n->invoker && stet_invoker_task_info(n->invoker, id, out)) return true;
    /* a partition led elsewhere: what its leader's invoker said before this query (cluster) */
    return n->cl && n->parts && stet_node_parts_task_info(n->parts, id, out);
}

static int status_get(void *ctx, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    return stet_table_status_get(((struct stet_node *)ctx)->store, id, st);
}

/* ---- maintenance ------------------------------------------------------------------------- */

/* Log trimming. The partition store is written without a WAL (the log is the durable copy),
 * so a record may be trimmed only once the store state that covers it is durable: every
 * TRIM_INTERVAL_MS the applied LSNs are noted, the store is flushed on the thread pool, and
 * then each log is trimmed up to what was noted. Trimming is rare and in big steps: each trim
 * is a range deletion, which RocksDB makes every read pay for until its memtable is flushed. */
#define TRIM_INTERVAL_MS 1000  /* how often the maintenance timer looks */
#define TRIM_MIN_RECORDS 5000   /* trim when this many records were applied ... */
#define TRIM_IDLE_TICKS 2       /* ... or, with fewer, once the node was idle this many ticks */
/* Memory. Every tick gives freed heap back to the system (malloc_trim: bursts leave free
 * chunks behind). After a burst, the first idle tick also empties the store's block cache and
 * the idle flush (TRIM_IDLE_TICKS) frees the memtables, so an idle node returns to about its
 * start-up footprint within ~2 s; the caches refill on the next reads. */

struct trim_job {
    struct stet_node *node;
    uint64_t *applied;
    int rc;
};

static void trim_work(void *arg) {
    struct trim_job *j = arg;
    j->rc = stet_store_flush(j->node->store);
}

static void trim_done(void *arg) {
    struct trim_job *j = arg;
    struct stet_node *n = j->node;
    if (j->rc == 0 && n->parts && n->flushed) {
        memcpy(n->flushed, j->applied, n->n_parts * sizeof(*n->flushed));
        /* a single node trims its raft logs behind what the flush covered (a snapshot with no
         * data: the state is in this store); a cluster's wait for issue 17's snapshots */
        for (uint32_t i = 0; n->solo_cons && !n->stopping && i < n->n_parts; i++) {
            int rc = stet_consensus_snapshot(n->solo_cons, STET_PARTS_FIRST_GROUP + i, j->applied[i], NULL, 0, 0);
            if (rc != 0 && rc != -EBUSY && rc != -EINVAL)
                stet_warn(MOD, "partition %u: cannot trim its log: %s", i, strerror(-rc));
        }
    } else if (j->rc == 0 && !n->stopping && !n->parts) {
        for (uint32_t i = 0; i < n->n_parts; i++)
            if (j->applied[i] > stet_log_trim_point(n->log, i)) stet_log_trim(n->log, i, j->applied[i]);
    } else if (j->rc != 0) {
        stet_warn(MOD, "store flush failed (rc=%d); the log is not trimmed this time", j->rc);
    }
    n->trim_running = false;
    free(j->applied);
    free(j);
    if (n->idle_ticks > 0) malloc_trim(0); /* the flushed memtables' memory */
}

static void trim_cb(uv_timer_t *h) {
    struct stet_node *n = h->data;
    /* give freed heap back to the system (bursts of invocations leave free chunks behind) */
    malloc_trim(0);
    if (n->stopping || n->trim_running) return;
    /* after a burst, an idle node flushes too: the memtables' memory goes back and the next
     * start replays nothing */
    uint64_t applied_total = 0;
    bool due = false, pending = false;
    for (uint32_t i = 0; i < n->n_parts; i++) {
        /* what the last flush covered: the log's trim point, or in a cluster what was noted */
        uint64_t a = stet_worker_applied_lsn(n->worker, i),
                 t = n->parts ? (n->flushed ? n->flushed[i] : 0) : stet_log_trim_point(n->log, i);
        applied_total += a;
        if (a >= t + TRIM_MIN_RECORDS) due = true;
        if (a > t) pending = true;
    }
    n->idle_ticks = applied_total == n->last_applied_total ? n->idle_ticks + 1 : 0;
    n->last_applied_total = applied_total;
    if (n->idle_ticks == 1) {
        stet_store_release_caches(n->store);
        stet_log_release_memory(n->log);
        malloc_trim(0);
    }
    if (!due && !(pending && n->idle_ticks == TRIM_IDLE_TICKS)) return;
    struct trim_job *j = calloc(1, sizeof(*j));
    STET_ASSERT(j != NULL);
    j->node = n;
    j->applied = calloc(n->n_parts, sizeof(*j->applied));
    STET_ASSERT(j->applied != NULL);
    for (uint32_t i = 0; i < n->n_parts; i++) j->applied[i] = stet_worker_applied_lsn(n->worker, i);
    n->trim_running = true;
    if (n->env->submit(n->env->ctx, trim_work, trim_done, j) != 0) {
        n->trim_running = false;
        free(j->applied);
        free(j);
    }
}

static void nudge_cb(uv_idle_t *h) { uv_idle_stop(h); }

/* Before each poll: start what the invoker deferred, then commit what this iteration appended. */
static void flush_cb(uv_prepare_t *h) {
    struct stet_node *n = h->data;
    if (n->invoker && stet_invoker_tick(n->invoker)) uv_idle_start(&n->nudge_idle, nudge_cb); /* poll without blocking */
    stet_log_flush(n->log);
    stet_node_cluster_flush(n);
    if (n->solo_cons) { /* a single node's raft groups: one shared sync */
        stet_node_parts_flush(n->parts);
        if (!stet_consensus_store_syncing(n->solo_cstore)) stet_consensus_flush(n->solo_cons);
    }
}

#define HANDOFF_MAX_MS 2000 /* SIGTERM waits at most this long for the leaderships to move */
#define DRAIN_MAX_MS 1500   /* ... and then this long for requests in flight here to be answered */

static void handoff_cb(uv_timer_t *h) {
    struct stet_node *n = h->data;
    uint64_t now = stet_env_prod_monotonic_ms(), t = now - n->handoff_started_ms;
    if (stet_node_cluster_leads(n) && t < HANDOFF_MAX_MS) {
        /* a transfer that aborted (its target was slow) is tried again */
        if (now - n->handoff_retry_ms >= 300) {
            n->handoff_retry_ms = now;
            (void)stet_node_cluster_hand_off(n);
        }
        return;
    }
    if (n->drain_started_ms == 0) n->drain_started_ms = now;
    struct stet_ingress_stats st;
    stet_ingress_stats(n->ingress, &st);
    if (st.pending > 0 && now - n->drain_started_ms < DRAIN_MAX_MS) return; /* answers on their way */
    uv_timer_stop(h);
    n->stopping = true;
    uv_stop(&n->loop);
}

/* SIGTERM / SIGINT: a node leading the metadata group or partitions hands them over first (a
 * client sees no leaderless gap) and lets the requests it holds be answered, then the loop
 * stops and stet_node_destroy shuts down; a second signal stops at once. */
static void signal_cb(uv_signal_t *h, int signum) {
    struct stet_node *n = h->data;
    stet_info(MOD, "received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    if (!n->handing_off && !n->stopping && n->cl) {
        n->handing_off = true;
        n->handoff_started_ms = n->handoff_retry_ms = stet_env_prod_monotonic_ms();
        (void)stet_node_cluster_hand_off(n);
        uv_timer_start(&n->handoff_timer, handoff_cb, 10, 10);
        return;
    }
    n->stopping = true;
    uv_stop(&n->loop);
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -errno;
    return 0;
}

static int start_http(struct stet_node *n, const char *bind, const char *format, size_t max_body,
                      stet_http_handler_cb handler, void *ctx, struct stet_http_server **out, char *err,
                      size_t errlen, const char *what) {
    struct stet_http_server_config hc;
    memset(&hc, 0, sizeof(hc));
    hc.bind_address = bind;
    hc.error_format = format;
    hc.max_body_bytes = max_body;
    hc.max_connections = n->cfg->ingress_max_connections;
    char *msg = NULL;
    int rc = stet_http_server_create(&n->loop, &hc, handler, ctx, out, &msg);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the %s server on %s: %s", what, bind, msg ? msg : strerror(-rc));
        free(msg);
    }
    return rc;
}

struct generation_put {
    int status;
    bool done;
};

static void generation_put_cb(void *arg, int status, uint64_t new_version) {
    STET_UNUSED(new_version);
    struct generation_put *g = arg;
    g->status = status;
    g->done = true;
}

/* Restate bumps a node's generation at every start (N1:1, N1:2, ...); ours lives in the
 * metadata key "node_generation" as decimal text. The local metadata store writes inline. */
static int bump_generation(struct stet_node *n) {
    struct stet_buf v = STET_BUF_INIT;
    uint64_t version = 0;
    int rc = stet_metadata_get(n->md, "node_generation", &version, &v);
    if (rc < 0) {
        stet_buf_free(&v);
        return rc;
    }
    unsigned long g = 0;
    if (rc == 0 && v.len > 0 && v.len < 12) {
        char tmp[16];
        memcpy(tmp, v.data, v.len);
        tmp[v.len] = '\0';
        g = strtoul(tmp, NULL, 10);
    }
    stet_buf_free(&v);
    n->generation = (uint32_t)(g + 1);
    char text[16];
    int len = snprintf(text, sizeof(text), "%u", n->generation);
    struct generation_put put = {0, false};
    stet_metadata_put(n->md, "node_generation", text, (size_t)len, version, generation_put_cb, &put);
    while (!put.done) uv_run(&n->loop, UV_RUN_ONCE);
    return put.status;
}

/* The cgroup memory limit of this process (v2 memory.max, else v1 memory.limit_in_bytes), 0 when
 * there is none: a container's limit (the compose file sets 2G per node). */
static uint64_t cgroup_memory_limit(void) {
    static const char *const paths[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f) continue;
        char buf[64] = {0};
        bool ok = fgets(buf, sizeof(buf), f) != NULL;
        fclose(f);
        if (!ok || strncmp(buf, "max", 3) == 0) return 0;
        unsigned long long v = strtoull(buf, NULL, 10);
        /* cgroup v1 reports "no limit" as a huge page-aligned number */
        return v == 0 || v >= (1ull << 60) ? 0 : v;
    }
    return 0;
}

/* The store's block cache: rocksdb-total-memory-size when set, else 1/64 of the container's
 * memory limit (8..64 MiB), else 8 MiB. Everything else Stet holds is bounded on its own
 * (invoker queues, ingress limits), so a small cache keeps a node far below any sane limit. */
static size_t cache_budget(const struct stet_config *cfg) {
    if (cfg->rocksdb_total_memory_size) return cfg->rocksdb_total_memory_size;
    uint64_t limit = cgroup_memory_limit();
    if (limit == 0) return 0;
    uint64_t c = limit / 64;
    if (c < (8u << 20)) c = 8u << 20;
    if (c > (64u << 20)) c = 64u << 20;
    stet_info(MOD, "memory limit %llu MiB (cgroup): store block cache %llu MiB", (unsigned long long)(limit >> 20),
              (unsigned long long)(c >> 20));
    return (size_t)c;
}

static void observe_commit(void *arg, double seconds) {
    struct stet_node *n = arg;
    if (n->commit_duration) stet_metric_observe(n->commit_duration, seconds);
}

/* ---- a single node's partitions on one-voter raft groups ----------------------------------- */

static void solo_send(void *ctx, uint32_t to, const uint8_t *msg, size_t len) {
    STET_UNUSED(ctx);
    STET_UNUSED(to);
    STET_UNUSED(msg);
    STET_UNUSED(len); /* one voter: nobody to talk to */
}

static void solo_apply(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    struct stet_node *n = ctx;
    if (n->parts) stet_node_parts_apply(n->parts, group, index, e);
}

static void solo_role(void *ctx, uint32_t group, bool leader, uint64_t term, uint32_t leader_node) {
    struct stet_node *n = ctx;
    if (n->parts) stet_node_parts_role(n->parts, group, leader, term, leader_node);
}

static void solo_install(void *ctx, uint32_t group, uint64_t index, const uint8_t *data, size_t len) {
    STET_UNUSED(data);
    STET_UNUSED(len);
    struct stet_node *n = ctx;
    if (n->parts) stet_node_parts_install(n->parts, group, index);
}

/* A single node runs its partitions the way a cluster does (src/node/partitions.c), each log a
 * raft group with this node as its one voter: it elects itself at once, a record is durable
 * once the shared sync wrote it, and the log is trimmed behind each store flush. The worker
 * has replayed the local log first: a data directory of an earlier version keeps its records
 * there; each partition's raft log then continues after them, and the local log is emptied
 * once the store holds their effects. */
static int solo_start(struct stet_node *n, char *err, size_t errlen) {
    int rc = stet_consensus_store_create(n->env, n->store, &n->solo_cstore);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the raft storage: %s", strerror(-rc));
        return rc;
    }
    struct stet_consensus_storage st = stet_consensus_store_port(n->solo_cstore);
    struct stet_consensus_network net = {n, solo_send};
    struct stet_consensus_app app = {.ctx = n, .apply = solo_apply, .role = solo_role, .install = solo_install};
    struct stet_consensus_config cc = {.node_id = n->node_id, .seed = stet_env_random(n->env), .generation = n->incarnation};
    rc = stet_consensus_create(n->env, &cc, &st, &net, &app, &n->solo_cons);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the consensus module: %s", strerror(-rc));
        return rc;
    }
    uint64_t *base = calloc(n->n_parts, sizeof(*base)), *base_term = calloc(n->n_parts, sizeof(*base_term));
    n->flushed = calloc(n->n_parts, sizeof(*n->flushed));
    STET_ASSERT(base && base_term && n->flushed);
    bool moved = false;
    for (uint32_t i = 0; i < n->n_parts; i++) {
        base[i] = stet_log_durable_tail(n->log, i);
        STET_ASSERT(stet_worker_applied_lsn(n->worker, i) >= base[i]); /* replayed */
        base_term[i] = stet_worker_epoch(n->worker, i) + 1;
        uint64_t seen = stet_partition_epoch(stet_worker_partition(n->worker, i));
        if (seen + 1 > base_term[i]) base_term[i] = seen + 1;
        moved |= base[i] > stet_log_trim_point(n->log, i);
    }
    /* the local log's records leave only once the store holds their effects durably */
    if (moved && (rc = stet_store_flush(n->store)) != 0) {
        snprintf(err, errlen, "cannot flush the partition store: %s", strerror(-rc));
        goto out;
    }
    rc = stet_node_parts_create(n, &n->parts);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the partitions: %s", strerror(-rc));
        goto out;
    }
    uint32_t self = n->node_id;
    rc = stet_node_parts_start(n->parts, &self, 1, false, base, base_term);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the partition groups: %s", strerror(-rc));
        goto out;
    }
    for (uint32_t i = 0; moved && i < n->n_parts; i++)
        if (base[i] > stet_log_trim_point(n->log, i)) stet_log_trim(n->log, i, base[i]);
out:
    free(base);
    free(base_term);
    return rc;
}

int stet_node_create(const struct stet_config *cfg, struct stet_node **out, char *err, size_t errlen) {
    struct stet_node *n = calloc(1, sizeof(*n));
    if (!n) return -ENOMEM;
    int rc;
    n->cfg = cfg;
    n->start_ms = stet_env_prod_monotonic_ms();
    n->start_ns = uv_hrtime();
    uv_loop_init(&n->loop);
    stet_env_prod_init(&n->prod, &n->loop);
    n->env = &n->prod.env;
    n->prod.observe_short = observe_commit;
    n->prod.observe_arg = n;
    uv_idle_init(&n->loop, &n->nudge_idle);
    stet_pending_table_init(&n->query_pending);
    n->incarnation = stet_env_random(n->env);
    n->n_parts = cfg->default_num_partitions;
    stet_schema_defaults_from_config(cfg, &n->defaults);

    char dbdir[4096];
    snprintf(dbdir, sizeof(dbdir), "%s/db", cfg->data_dir);
    rc = mkdir_p(cfg->data_dir);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", cfg->data_dir, strerror(-rc));
        goto fail;
    }
    char *msg = NULL;
    size_t cache = cache_budget(cfg);
    rc = stet_store_open_rocks_sized(dbdir, cache, &n->store, &msg);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the partition store in %s: %s", dbdir, msg ? msg : strerror(-rc));
        free(msg);
        goto fail;
    }
    struct stet_log_config lc = {0};
    lc.max_log_ids = n->n_parts > 1024 ? n->n_parts : 1024;
    rc = stet_log_create(n->env, n->store, &lc, log_durable_cb, n, &n->log);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the log: %s", strerror(-rc));
        goto fail;
    }
    if (cfg->n_metadata_addresses > 0) {
        /* a cluster member: identity, peers, the metadata raft group (src/node/cluster.c) */
        rc = stet_node_cluster_create(n, err, errlen);
        if (rc != 0) goto fail;
    } else {
        rc = stet_metadata_create_local(n->store, &n->md);
        if (rc != 0) {
            snprintf(err, errlen, "cannot open the metadata store: %s", strerror(-rc));
            goto fail;
        }
        n->node_id = cfg->force_node_id ? cfg->force_node_id : 1;
        rc = bump_generation(n);
        if (rc != 0) {
            snprintf(err, errlen, "cannot record the node generation in the metadata store: %s", strerror(-rc));
            goto fail;
        }
    }
    n->commit_duration = stet_metrics_series(stet_metrics_global(), STET_METRIC_HISTOGRAM,
                                             "stet_log_commit_duration_seconds",
                                             "Duration of a log group commit: the store write with its fsync.", NULL);
    stet_metrics_add_collector(stet_metrics_global(), stet_node_collect_metrics, n);
    stet_metrics_add_collector(stet_metrics_global(), stet_metrics_collect_process, NULL);
    rc = stet_h2_pool_create(&n->loop, NULL, &n->pool);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the HTTP/2 client: %s", strerror(-rc));
        goto fail;
    }
    rc = stet_admin_create(&n->loop, n->pool, n->md, cfg, &n->admin, err, errlen);
    if (rc != 0) goto fail;
    stet_admin_set_members(n->admin, stet_node_cluster_members, n);
    n->http = (struct stet_invoker_http){.pool = n->pool, .loop = &n->loop};
    struct stet_invoker_ports ip = {
        .ctx = n,
        .transport = stet_invoker_http_transport(&n->http),
        .env = n->env,
        .store = n->store,
        .num_partitions = n->n_parts,
        .cluster_name = cfg->cluster_name,
        .inactivity_timeout_ms = cfg->inactivity_timeout_ms,
        .abort_timeout_ms = cfg->abort_timeout_ms,
        .eager_state_size_limit = cfg->eager_state_size_limit,
        .concurrent_invocations_limit = cfg->invoker_concurrent_limit,
        .max_tasks = cfg->invoker_queue_limit,
        .schema = node_schema,
        .schema_defaults = node_schema_defaults,
        .applied_lsn = applied_lsn,
        .applied = {.ctx = n, .when_applied = when_applied, .cancel = when_applied_cancel},
        .propose = propose_retried,
        .settled = settled,
    };
    rc = stet_invoker_create(&ip, &n->invoker);
    if (rc != 0) goto fail;
    struct stet_ingress_ports gp = {
        .ctx = n,
        .env = n->env,
        .node_id = n->node_id,
        .generation = n->generation,
        .incarnation = n->incarnation,
        .concurrent_limit = cfg->ingress_concurrent_limit,
        .schema = node_schema,
        .schema_defaults = node_schema_defaults,
        .status_get = status_get,
        .propose = propose,
        .schema_sync = n->cl ? schema_sync : NULL, /* a cluster: other nodes register too */
    };
    rc = stet_ingress_create(&gp, &n->ingress);
    if (rc != 0) goto fail;
    struct stet_invocations_ports vp = {
        .ctx = n,
        .sink = {.kind = STET_SINK_ADMIN, .incarnation = n->incarnation, .node_id = n->node_id,
                 .generation = n->generation},
        .schema = node_schema,
        .propose = propose,
    };
    rc = stet_invocations_create(&vp, &n->invocations);
    if (rc != 0) goto fail;
    struct stet_query_sources qs = {.store = n->store, .schema = node_schema, .task_info = task_info, .ctx = n,
                                    .num_partitions = n->n_parts};
    rc = stet_query_create(&qs, &n->query);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the SQL query engine: %s", strerror(-rc));
        goto fail;
    }
    stet_admin_set_extra_handler(n->admin, stet_node_admin_extra_handle, n);

    struct stet_worker_ports wp = {
        .ctx = n,
        .env = n->env,
        .store = n->store,
        .num_partitions = n->n_parts,
        .append = log_append,
        .read = log_read,
        .durable_tail = log_durable_tail,
        .invoker_action = invoker_action,
        .respond = respond,
        .leadership = leadership,
    };
    if (n->cl) {
        /* a cluster: partition logs are raft groups, leaders are raft's (src/node/partitions.c) */
        rc = stet_node_parts_create(n, &n->parts);
        n->flushed = calloc(n->n_parts, sizeof(*n->flushed));
        if (rc == 0 && !n->flushed) rc = -ENOMEM;
        if (rc != 0) {
            snprintf(err, errlen, "cannot create the partitions: %s", strerror(-rc));
            goto fail;
        }
        wp.append = stet_node_parts_append;
        wp.read = stet_node_parts_read;
        wp.durable_tail = stet_node_parts_durable_tail;
        wp.forward = stet_node_parts_forward;
        wp.respond_replica = respond_replica;
    }
    rc = stet_worker_create(&wp, &n->worker, err, errlen);
    if (rc != 0) goto fail;
    if (n->parts) {
        struct stet_node_cluster_info ci;
        stet_node_cluster_info(n, &ci);
        /* a member restarting: a partition group without state here is copied from a peer (a
         * start that was cut short while copying); a new member starts them once it joins */
        if (ci.have_group) rc = stet_node_parts_start(n->parts, ci.voters, ci.n_voters, true, NULL, NULL);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the partition groups: %s", strerror(-rc));
            goto fail;
        }
    } else {
        rc = solo_start(n, err, errlen);
        if (rc != 0) goto fail;
    }

    rc = start_http(n, cfg->ingress_bind, "ingress", cfg->ingress_request_size_limit, stet_ingress_handle, n->ingress,
                    &n->ingress_http, err, errlen, "ingress");
    if (rc != 0) goto fail;
    rc = start_http(n, cfg->admin_bind, "admin", 0, stet_admin_handle, n->admin, &n->admin_http, err, errlen, "admin");
    if (rc != 0) goto fail;
    rc = start_http(n, cfg->node_bind, "admin", 0, stet_node_port_handle, n, &n->node_http, err, errlen, "node");
    if (rc != 0) goto fail;

    uv_timer_init(&n->loop, &n->trim_timer);
    n->trim_timer.data = n;
    uv_timer_start(&n->trim_timer, trim_cb, TRIM_INTERVAL_MS, TRIM_INTERVAL_MS);
    uv_prepare_init(&n->loop, &n->flush);
    n->flush.data = n;
    uv_prepare_start(&n->flush, flush_cb);
    uv_timer_init(&n->loop, &n->handoff_timer);
    n->handoff_timer.data = n;
    uv_signal_init(&n->loop, &n->sigint);
    uv_signal_init(&n->loop, &n->sigterm);
    n->sigint.data = n->sigterm.data = n;
    uv_signal_start(&n->sigint, signal_cb, SIGINT);
    uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    *out = n;
    return 0;
fail:
    stet_node_destroy(n);
    return rc ? rc : -EINVAL;
}

int stet_node_run(struct stet_node *n) {
    stet_info(MOD, "Stet %s ready node=%s ingress=%s admin=%s partitions=%u data=%s", STET_VERSION, n->cfg->node_name,
              n->cfg->ingress_bind, n->cfg->admin_bind, n->n_parts, n->cfg->data_dir);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    return n->exit_code;
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
    STET_UNUSED(arg);
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void stet_node_destroy(struct stet_node *n) {
    if (!n) return;
    n->stopping = true;
    stet_metrics_remove_collector(stet_metrics_global(), stet_node_collect_metrics, n);
    stet_metrics_remove_collector(stet_metrics_global(), stet_metrics_collect_process, NULL);
    n->commit_duration = NULL;
    if (n->ingress_http) stet_http_server_destroy(n->ingress_http, NULL, NULL);
    if (n->admin_http) stet_http_server_destroy(n->admin_http, NULL, NULL);
    if (n->node_http) stet_http_server_destroy(n->node_http, NULL, NULL);
    stet_node_cluster_stop(n); /* metadata requests end (-ESHUTDOWN), peers close */
    if (!n->cl) stet_node_parts_stop(n->parts); /* a single node's: requests and pending appends answered */
    if (n->invoker) stet_invoker_destroy(n->invoker);
    n->invoker = NULL;
    /* no new self-proposals; what waits in the retry queue is dropped (the next start
     * re-derives its work from the store) */
    stet_worker_stop(n->worker);
    /* let in-flight log commits finish so every acknowledged record stays durable */
    if (n->log) {
        while (stet_log_busy(n->log)) {
            stet_log_flush(n->log);
            uv_run(&n->loop, UV_RUN_ONCE);
        }
    }
    while (n->solo_cstore && stet_consensus_store_syncing(n->solo_cstore)) uv_run(&n->loop, UV_RUN_ONCE);
    /* a clean stop leaves the partition store durable: the next start replays nothing */
    if (n->store && n->log && !stet_log_failed(n->log)) {
        while (n->trim_running) uv_run(&n->loop, UV_RUN_ONCE);
        stet_store_flush(n->store);
    }
    if (n->pool) stet_h2_pool_destroy(n->pool, NULL, NULL);
    uv_run(&n->loop, UV_RUN_NOWAIT);
    if (n->ingress) stet_ingress_destroy(n->ingress);
    n->ingress = NULL;
    if (n->invocations) stet_invocations_destroy(n->invocations);
    n->invocations = NULL;
    if (n->query) stet_query_destroy(n->query);
    if (n->admin) stet_admin_destroy(n->admin);
    stet_node_cluster_destroy(n);
    if (n->solo_cons) stet_consensus_destroy(n->solo_cons);
    n->solo_cons = NULL;
    /* after the admin (it borrows the store) and the consensus module (it applies into it),
     * before the env closes (the replicated store's timer is an env timer) */
    if (n->md) stet_metadata_destroy(n->md);
    n->md = NULL;
    stet_env_prod_close(&n->prod);
    stet_worker_destroy(n->worker); /* its env timers close with the loop below */
    n->worker = NULL;
    uv_walk(&n->loop, close_walk_cb, NULL);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    if (n->log) stet_log_destroy(n->log);
    stet_node_cluster_free(n);
    if (!n->cl && n->parts) stet_node_parts_free(n->parts);
    n->parts = NULL;
    if (n->solo_cstore) stet_consensus_store_destroy(n->solo_cstore);
    stet_pending_table_free(&n->query_pending);
    free(n->flushed);
    if (n->store) stet_store_destroy(n->store);
    free(n);
}
