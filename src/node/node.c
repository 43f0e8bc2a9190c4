/* A Stet node: wiring of store, log, partitions, invoker, ingress and admin on one loop.
 * See node.h for the data flow.
 *
 * Start-up order (each step needs the previous one):
 *   1. open the RocksDB store under <data_dir>/db
 *   2. log: recover each partition log's durable tail
 *   3. metadata + admin: load the schema
 *   4. partitions: replay the log from applied_lsn+1 to the durable tail, then become leader
 *      (this emits INVOKE for every invocation that was running when the last process died)
 *   5. HTTP listeners (ingress, admin, node port)
 *
 * The loop's prepare hook flushes the log once per iteration: all records appended while
 * handling one batch of events share one fsync (group commit).
 */
#include "node/node.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <malloc.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "admin/admin.h"
#include "cluster/cluster.h"
#include "common/assert.h"
#include "common/log.h"
#include "h2client/h2client.h"
#include "http/http.h"
#include "ingress/ingress.h"
#include "invocations/invocations.h"
#include "invoker/invoker.h"
#include "metadata/metadata.h"
#include "query/query.h"
#include "metrics/metrics.h"
#include "worker/proposals.h"
#include "worker/shuffle.h"
#include "worker/timers.h"

#define MOD "node"

struct stet_node {
    const struct stet_config *cfg;
    struct stet_timer_service **timers; /* [n_parts] */
    struct stet_proposals *proposals;   /* retried self-proposals (timers, shuffle, invoker) */
    struct stet_shuffle *shuffle;
    uv_loop_t loop;
    struct stet_env env;
    uint64_t rng;
    struct stet_store *store;
    struct stet_log *log;
    struct stet_partition **parts;
    uint32_t n_parts;
    struct stet_metadata *md;
    struct stet_admin *admin;
    struct stet_h2_pool *pool;
    struct stet_invoker *invoker;
    struct stet_ingress *ingress;
    struct stet_invocations *invocations;
    struct stet_query *query;
    struct stet_http_server *ingress_http, *admin_http, *node_http;
    uv_prepare_t flush;
    uv_timer_t trim_timer;
    bool trim_running;
    uint32_t idle_ticks;
    uint64_t last_applied_total;
    uv_signal_t sigint, sigterm;
    uint64_t incarnation;
    uint64_t epoch;
    int exit_code;
    bool stopping;
    struct stet_buf rec;
    uint64_t start_ms;
    struct stet_schema_defaults defaults;
    uint32_t node_id;            /* plain node id: force-node-id or 1 */
    uint32_t generation;         /* bumped at every start (metadata key "node_generation") */
    struct stet_metric *commit_duration; /* stet_log_commit_duration_seconds */
    bool short_inline;                   /* env_submit_short runs work inline (see there) */
    uint64_t short_ewma_ns;              /* average duration of short work */
    uv_idle_t done_idle;                 /* runs done_head while it is not empty */
    uv_idle_t nudge_idle;                /* one non-blocking poll: the invoker has deferred starts */
    struct work_req *done_head, *done_tail;
};

/* ---- environment --------------------------------------------------------------------- */

static uint64_t env_now_ms(void *ctx) {
    STET_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t env_monotonic_ms(void *ctx) {
    STET_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t env_random(void *ctx) {
    struct stet_node *n = ctx;
    /* xorshift64*, seeded from getrandom at start */
    n->rng ^= n->rng >> 12;
    n->rng ^= n->rng << 25;
    n->rng ^= n->rng >> 27;
    return n->rng * 0x2545F4914F6CDD1Dull;
}

struct work_req {
    uv_work_t req;
    struct stet_node *node;
    stet_env_work_fn work;
    stet_env_done_fn done;
    void *arg;
    uint64_t duration_ns; /* of work(), measured where it ran */
    bool short_work;       /* submitted through env_submit_short */
    struct work_req *next; /* in node.done_head: ran inline, done() not yet called */
};

static void work_cb(uv_work_t *r) {
    struct work_req *w = (struct work_req *)r;
    uint64_t t0 = uv_hrtime();
    w->work(w->arg);
    w->duration_ns = uv_hrtime() - t0;
}

/* Short work (the log's group commit) either runs on the thread pool or inline on the loop.
 * A handoff costs two thread wake-ups per commit (the worker, then the loop through its async
 * handle), and on a small VM those cost more than a fast fdatasync itself: measured on the
 * 2-core bench machine, inline commits cut server CPU per request by 25-35% and raised
 * throughput (bench/OPTIMISATIONS.md). An inline commit blocks the loop for its duration,
 * which is acceptable up to a few ms (everything waits for the log anyway; reads, health
 * checks and admin calls wait at most that long). A slow disk must not stall it, so the choice
 * follows an exponentially weighted average of the commit durations: inline while it stays
 * under SHORT_INLINE_MAX_NS, back to the pool above it, inline again once it falls under
 * SHORT_INLINE_RESUME_NS (hysteresis). Inline or not, done() runs from the loop later, never
 * inside the submit call: inline work queues its request on done_head and an idle handle
 * (which makes the loop poll without blocking) runs the queue. */
enum {
    SHORT_INLINE_MAX_NS = 8000000,
    SHORT_INLINE_RESUME_NS = 4000000,
};

static void short_observe(struct stet_node *n, uint64_t duration_ns) {
    if (n->commit_duration) stet_metric_observe(n->commit_duration, (double)duration_ns / 1e9);
    /* ewma with weight 1/8 */
    n->short_ewma_ns = n->short_ewma_ns - n->short_ewma_ns / 8 + duration_ns / 8;
    if (n->short_inline && n->short_ewma_ns > SHORT_INLINE_MAX_NS) {
        n->short_inline = false;
        stet_warn(MOD, "log commits (fdatasync) average %.1f ms: the disk is slow; running them on the thread pool",
                  (double)n->short_ewma_ns / 1e6);
    } else if (!n->short_inline && n->short_ewma_ns < SHORT_INLINE_RESUME_NS) {
        n->short_inline = true;
        stet_warn(MOD, "log commits (fdatasync) average %.2f ms again: running them inline", (double)n->short_ewma_ns / 1e6);
    }
}

static void after_work_cb(uv_work_t *r, int status) {
    STET_UNUSED(status);
    struct work_req *w = (struct work_req *)r;
    if (w->short_work) short_observe(w->node, w->duration_ns);
    w->done(w->arg);
    free(w);
}

static void done_idle_cb(uv_idle_t *h) {
    struct stet_node *n = h->data;
    /* take the queue first: done() may submit (and queue) more */
    struct work_req *w = n->done_head;
    n->done_head = n->done_tail = NULL;
    uv_idle_stop(&n->done_idle);
    while (w != NULL) {
        struct work_req *next = w->next;
        w->done(w->arg);
        free(w);
        w = next;
    }
}

/* Runs w on the thread pool; frees it if that cannot start. */
static int queue_on_pool(struct stet_node *n, struct work_req *w) {
    int rc = uv_queue_work(&n->loop, &w->req, work_cb, after_work_cb);
    if (rc != 0) free(w);
    return rc;
}

static struct work_req *work_req_new(struct stet_node *n, stet_env_work_fn work, stet_env_done_fn done, void *arg,
                                     bool short_work) {
    struct work_req *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    *w = (struct work_req){.node = n, .work = work, .done = done, .arg = arg, .short_work = short_work};
    return w;
}

static int env_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct stet_node *n = ctx;
    struct work_req *w = work_req_new(n, work, done, arg, false);
    return w ? queue_on_pool(n, w) : -ENOMEM;
}

static int env_submit_short(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct stet_node *n = ctx;
    struct work_req *w = work_req_new(n, work, done, arg, true);
    if (!w) return -ENOMEM;
    if (!n->short_inline) return queue_on_pool(n, w);
    uint64_t t0 = uv_hrtime();
    work(arg);
    short_observe(n, uv_hrtime() - t0);
    if (n->done_tail) n->done_tail->next = w;
    else n->done_head = w;
    n->done_tail = w;
    uv_idle_start(&n->done_idle, done_idle_cb);
    return 0;
}

/* Env timers: a libuv timer each; destroy closes the handle and frees it in the close callback. */
struct stet_env_timer {
    uv_timer_t h;
    stet_env_timer_cb cb;
    void *arg;
};

static void env_timer_fire(uv_timer_t *h) {
    struct stet_env_timer *t = h->data;
    t->cb(t->arg);
}

static struct stet_env_timer *env_timer_create(void *ctx, stet_env_timer_cb cb, void *arg) {
    struct stet_node *n = ctx;
    struct stet_env_timer *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->cb = cb;
    t->arg = arg;
    uv_timer_init(&n->loop, &t->h);
    t->h.data = t;
    return t;
}

static void env_timer_start(void *ctx, struct stet_env_timer *t, uint64_t delay_ms) {
    STET_UNUSED(ctx);
    uv_timer_start(&t->h, env_timer_fire, delay_ms, 0);
}

static void env_timer_stop(void *ctx, struct stet_env_timer *t) {
    STET_UNUSED(ctx);
    uv_timer_stop(&t->h);
}

static void env_timer_closed(uv_handle_t *h) { free(h->data); }

static void env_timer_destroy(void *ctx, struct stet_env_timer *t) {
    STET_UNUSED(ctx);
    uv_timer_stop(&t->h);
    if (!uv_is_closing((uv_handle_t *)&t->h)) uv_close((uv_handle_t *)&t->h, env_timer_closed);
}

/* ---- proposals ------------------------------------------------------------------------- */

static void stamp_and_encode(struct stet_node *n, struct stet_record *r, struct stet_buf *out) {
    if (r->timestamp_ms == 0) r->timestamp_ms = env_now_ms(n);
    r->epoch = n->epoch;
    stet_record_encode(out, r);
}

static int proposals_append(void *ctx, uint32_t partition_id, const uint8_t *rec, size_t len, stet_log_append_cb cb,
                            void *arg, uint64_t *lsn_out) {
    struct stet_node *n = ctx;
    if (n->stopping) return -ESHUTDOWN;
    return stet_log_append(n->log, partition_id, rec, len, cb, arg, lsn_out);
}

/* Self-proposals whose loss would lose work (fired timers, outbox delivery and truncation,
 * the invoker's effects): refused appends are retried by n->proposals. */
static int propose_retried(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct stet_node *n = ctx;
    if (lsn_out) *lsn_out = 0;
    if (n->stopping) return -ESHUTDOWN;
    struct stet_buf b = STET_BUF_INIT;
    stamp_and_encode(n, r, &b);
    int rc = stet_proposals_submit(n->proposals, stet_partition_for_key(r->id.partition_key, n->n_parts), b.data, b.len,
                                   cb, arg, lsn_out);
    stet_buf_free(&b);
    return rc;
}

static bool proposals_settled(void *ctx, uint32_t partition_id, uint64_t *last_lsn) {
    return stet_proposals_settled(((struct stet_node *)ctx)->proposals, partition_id, last_lsn);
}

static uint64_t applied_lsn_of(void *ctx, uint32_t partition_id) {
    struct stet_node *n = ctx;
    STET_ASSERT(partition_id < n->n_parts);
    return stet_partition_applied_lsn(n->parts[partition_id]);
}

static const struct stet_schema *node_schema(void *ctx) { return stet_admin_schema(((struct stet_node *)ctx)->admin); }
static const struct stet_schema_defaults *node_schema_defaults(void *ctx) { return &((struct stet_node *)ctx)->defaults; }

static void action_cb(void *ctx, const struct stet_action *a) {
    struct stet_node *n = ctx;
    bool invoker_action = a->kind == STET_ACTION_INVOKE || a->kind == STET_ACTION_NOTIFY ||
                          a->kind == STET_ACTION_ABORT || a->kind == STET_ACTION_PAUSE;
    if (invoker_action && !n->invoker) return; /* shutting down: the next start re-derives them */
    switch (a->kind) {
    case STET_ACTION_INVOKE: stet_invoker_invoke(n->invoker, &a->id); break;
    case STET_ACTION_NOTIFY: stet_invoker_notify(n->invoker, &a->id, a->entry_index); break;
    case STET_ACTION_INGRESS_RESPONSE: stet_ingress_respond(n->ingress, a); break;
    case STET_ACTION_ABORT: stet_invoker_abort(n->invoker, &a->id); break;
    case STET_ACTION_OUTBOX: stet_shuffle_deliver(n->shuffle, a->partition_id, a->outbox_seq); break;
    case STET_ACTION_TIMER: stet_timer_service_arm(n->timers[a->partition_id], a->wake_at_ms); break;
    case STET_ACTION_PAUSE: stet_invoker_pause(n->invoker, &a->id); break;
    case STET_ACTION_ADMIN_RESPONSE: stet_invocations_response(n->invocations, a); break;
    }
}

static int apply_range(struct stet_node *n, uint32_t log_id, uint64_t first, uint64_t last) {
    STET_ASSERT(log_id < n->n_parts);
    struct stet_partition *p = n->parts[log_id];
    for (uint64_t lsn = first; lsn <= last; lsn++) {
        if (lsn <= stet_partition_applied_lsn(p)) continue;
        int rc = stet_log_read(n->log, log_id, lsn, &n->rec);
        if (rc != 0) {
            stet_error(MOD, "cannot read log record partition=%u lsn=%llu rc=%d", log_id, (unsigned long long)lsn, rc);
            return rc < 0 ? rc : -EIO;
        }
        rc = stet_partition_apply(p, lsn, n->rec.data, n->rec.len);
        if (rc < 0) return rc;
    }
    return 0;
}

static void durable_cb(void *arg, uint32_t log_id, uint64_t first, uint64_t last) {
    struct stet_node *n = arg;
    if (apply_range(n, log_id, first, last) != 0) {
        stet_error(MOD, "partition %u cannot apply its log; stopping the node", log_id);
        n->exit_code = 1;
        uv_stop(&n->loop);
    }
}

int stet_node_propose(struct stet_node *n, struct stet_record *r, stet_log_append_cb cb, void *arg,
                      uint64_t *lsn_out) {
    if (n->stopping) return -ESHUTDOWN;
    uint32_t pid = stet_partition_for_key(r->id.partition_key, n->n_parts);
    struct stet_buf b = STET_BUF_INIT;
    stamp_and_encode(n, r, &b);
    int rc = stet_log_append(n->log, pid, b.data, b.len, cb, arg, lsn_out);
    stet_buf_free(&b);
    return rc;
}

uint64_t stet_node_applied_lsn(struct stet_node *n, uint64_t partition_key) {
    return stet_partition_applied_lsn(n->parts[stet_partition_for_key(partition_key, n->n_parts)]);
}
const struct stet_schema *stet_node_schema(struct stet_node *n) { return stet_admin_schema(n->admin); }
const struct stet_schema_defaults *stet_node_schema_defaults(struct stet_node *n) { return &n->defaults; }
struct stet_store *stet_node_store(struct stet_node *n) { return n->store; }
const struct stet_env *stet_node_env(struct stet_node *n) { return &n->env; }
const struct stet_config *stet_node_config(struct stet_node *n) { return n->cfg; }
uv_loop_t *stet_node_loop(struct stet_node *n) { return &n->loop; }
uint64_t stet_node_incarnation(struct stet_node *n) { return n->incarnation; }
uint32_t stet_node_num_partitions(struct stet_node *n) { return n->n_parts; }

/* ---- metrics and cluster status ---------------------------------------------------- */

static void set_counter(struct stet_metrics *m, const char *name, const char *help, const char *const *labels,
                        uint64_t v) {
    stet_metric_set(stet_metrics_series(m, STET_METRIC_COUNTER, name, help, labels), (double)v);
}

static void set_gauge(struct stet_metrics *m, const char *name, const char *help, const char *const *labels,
                      double v) {
    stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, name, help, labels), v);
}

/* Collector: copies the modules' stats into the registry before every scrape. */
static void node_collect(void *arg, struct stet_metrics *m) {
    struct stet_node *n = arg;
    if (n->ingress) {
        struct stet_ingress_stats st;
        stet_ingress_stats(n->ingress, &st);
        const char *help = "Ingress HTTP requests answered, by status class.";
        set_counter(m, "stet_ingress_requests_total", help, (const char *[]){"status", "2xx", NULL}, st.responses_2xx);
        set_counter(m, "stet_ingress_requests_total", help, (const char *[]){"status", "4xx", NULL}, st.responses_4xx);
        set_counter(m, "stet_ingress_requests_total", help, (const char *[]){"status", "5xx", NULL}, st.responses_5xx);
        set_counter(m, "stet_ingress_requests_received_total", "Ingress HTTP requests received.", NULL, st.requests);
        set_counter(m, "stet_ingress_overloaded_total", "Ingress requests refused with 429 (bounded resources full).",
                    NULL, st.overloaded);
        set_gauge(m, "stet_ingress_requests_pending", "Ingress requests waiting for a result or for durability.", NULL,
                  (double)st.pending);
        stet_metric_set_histogram(stet_metrics_series(m, STET_METRIC_HISTOGRAM, "stet_ingress_request_duration_seconds",
                                                      "Time from receiving an ingress request to answering it.", NULL),
                                  &st.request_duration);
    }
    if (n->store) {
        struct stet_store_memory sm;
        stet_store_memory(n->store, &sm);
        const char *help = "Memory the partition store (RocksDB) holds, by kind.";
        set_gauge(m, "stet_store_memory_bytes", help, (const char *[]){"kind", "memtables", NULL}, (double)sm.memtables);
        set_gauge(m, "stet_store_memory_bytes", help, (const char *[]){"kind", "block_cache", NULL}, (double)sm.block_cache);
        set_gauge(m, "stet_store_memory_bytes", help, (const char *[]){"kind", "table_readers", NULL},
                  (double)sm.table_readers);
    }
    {
        struct mallinfo2 mi = mallinfo2();
        const char *help = "Heap of the process (glibc malloc), in use and free but not returned to the system.";
        set_gauge(m, "stet_heap_bytes", help, (const char *[]){"state", "in_use", NULL}, (double)(mi.uordblks + mi.hblkhd));
        set_gauge(m, "stet_heap_bytes", help, (const char *[]){"state", "free", NULL}, (double)mi.fordblks);
    }
    struct stet_partition_stats total = {0};
    const char *lag_help = "Log records durable but not yet applied by the partition processor.";
    for (uint32_t i = 0; i < n->n_parts && n->parts; i++) {
        if (!n->parts[i]) continue;
        struct stet_partition_stats ps;
        stet_partition_stats(n->parts[i], &ps);
        total.records_applied += ps.records_applied;
        total.invocations_succeeded += ps.invocations_succeeded;
        total.invocations_failed += ps.invocations_failed;
        char pid[16];
        snprintf(pid, sizeof(pid), "%u", i);
        uint64_t applied = stet_partition_applied_lsn(n->parts[i]);
        uint64_t durable = n->log ? stet_log_durable_tail(n->log, i) : 0;
        const char *labels[] = {"partition", pid, NULL};
        set_gauge(m, "stet_partition_apply_lag_records", lag_help, labels, durable > applied ? (double)(durable - applied) : 0);
        set_gauge(m, "stet_partition_applied_lsn", "Last log position applied by the partition processor.", labels,
                  (double)applied);
    }
    set_counter(m, "stet_partition_records_applied_total", "Log records applied by partition processors.", NULL,
                total.records_applied);
    const char *inv_help = "Invocations completed by the partition processors, by outcome.";
    set_counter(m, "stet_invocations_completed_total", inv_help, (const char *[]){"outcome", "success", NULL},
                total.invocations_succeeded);
    set_counter(m, "stet_invocations_completed_total", inv_help, (const char *[]){"outcome", "failure", NULL},
                total.invocations_failed);
    if (n->invoker) {
        struct stet_invoker_stats is;
        stet_invoker_stats(n->invoker, &is);
        set_counter(m, "stet_invoker_attempts_total", "Invocation attempts started against deployments.", NULL,
                    is.attempts_started);
        set_counter(m, "stet_invoker_attempts_failed_total", "Invocation attempts that ended with an error.", NULL,
                    is.attempts_failed);
        set_counter(m, "stet_invoker_retries_total", "Attempts scheduled for a retry after a failure.", NULL, is.retries);
        set_counter(m, "stet_invoker_suspensions_total", "Attempts that ended with a suspension.", NULL, is.suspensions);
        set_gauge(m, "stet_invoker_open_tasks", "Invocations the invoker is working on.", NULL, (double)is.open_tasks);
        set_gauge(m, "stet_invoker_waiting_tasks", "Invocations waiting for a free attempt slot.", NULL,
                  (double)is.waiting);
        set_counter(m, "stet_invoker_deferred_total",
                    "Invocations left in the partition store because the in-memory queue was full.", NULL, is.deferred);
        set_counter(m, "stet_invoker_picked_up_total", "Invocations taken from the partition store by the overflow scan.",
                    NULL, is.picked_up);
        set_gauge(m, "stet_invoker_overflowed_partitions", "Partitions whose invocations wait in the store.", NULL,
                  (double)is.overflowed_partitions);
    }
    if (n->log) {
        struct stet_log_stats ls;
        stet_log_stats(n->log, &ls);
        set_counter(m, "stet_log_appends_total", "Log records made durable.", NULL, ls.appends);
        set_counter(m, "stet_log_append_bytes_total", "Payload bytes of the log records made durable.", NULL, ls.bytes);
        set_counter(m, "stet_log_commits_total", "Group commits (one fsync each).", NULL, ls.commits);
    }
    if (n->proposals) {
        struct stet_proposals_stats ps;
        stet_proposals_stats(n->proposals, &ps);
        set_gauge(m, "stet_proposals_queued", "Self-proposals waiting to be appended again (the log refused them).",
                  NULL, (double)ps.queued);
        set_counter(m, "stet_proposals_retried_total", "Self-proposals the log refused and that were queued for a retry.",
                    NULL, ps.retried);
    }
    if (n->admin) {
        struct stet_admin_stats as;
        stet_admin_stats(n->admin, &as);
        set_counter(m, "stet_admin_requests_total", "Admin API requests.", NULL, as.requests_total);
        set_counter(m, "stet_admin_registrations_total", "Deployment registrations.", NULL, as.registrations_total);
    }
    struct {
        const char *name;
        struct stet_http_server *s;
    } servers[] = {{"ingress", n->ingress_http}, {"admin", n->admin_http}, {"node", n->node_http}};
    for (size_t i = 0; i < STET_ARRAY_LEN(servers); i++) {
        if (!servers[i].s) continue;
        struct stet_http_stats hs;
        stet_http_server_stats(servers[i].s, &hs);
        const char *labels[] = {"server", servers[i].name, NULL};
        set_gauge(m, "stet_http_connections_open", "Open HTTP connections, by listener.", labels,
                  (double)hs.connections_open);
        set_counter(m, "stet_http_connections_total", "Accepted HTTP connections, by listener.", labels,
                    hs.connections_total);
        set_counter(m, "stet_http_requests_total", "HTTP requests received, by listener.", labels, hs.requests_total);
    }
    set_gauge(m, "stet_node_uptime_seconds", "Seconds since the node started.", NULL,
              (double)(env_monotonic_ms(NULL) - n->start_ms) / 1000.0);
}

static void respond_metrics(struct stet_node *n, struct stet_http_request *req) {
    if (n->cfg->disable_prometheus) {
        stet_http_respond(req, 404, NULL, 0, NULL, 0);
        return;
    }
    struct stet_buf b = STET_BUF_INIT;
    stet_metrics_render(stet_metrics_global(), &b);
    struct stet_http_header h = {"content-type", 12, STET_METRICS_CONTENT_TYPE, strlen(STET_METRICS_CONTENT_TYPE)};
    stet_http_respond(req, 200, &h, 1, b.data, b.len);
    stet_buf_free(&b);
}

static void respond_cluster(struct stet_node *n, struct stet_http_request *req) {
    const struct stet_config *c = n->cfg;
    struct stet_cluster_node me = {
        .id = n->node_id,
        .generation = n->generation,
        .name = c->node_name,
        .roles = c->roles,
        .location = c->location,
        .status = n->stopping ? "shutting-down" : "alive",
        .uptime_ms = env_monotonic_ms(NULL) - n->start_ms,
        .advertised_address = c->advertised_address,
        .fabric_bind = c->node_bind,
        .admin_bind = c->admin_bind,
        .ingress_bind = c->ingress_bind,
        .advertised_ingress = c->advertised_ingress,
    };
    struct stet_cluster_partition *parts = calloc(n->n_parts ? n->n_parts : 1, sizeof(*parts));
    STET_ASSERT(parts != NULL);
    for (uint32_t i = 0; i < n->n_parts; i++) {
        parts[i].id = i;
        stet_partition_key_range(i, n->n_parts, &parts[i].key_start, &parts[i].key_end);
        parts[i].leader_node = stet_partition_is_leader(n->parts[i]) ? n->node_id : 0;
        parts[i].epoch = n->epoch;
        parts[i].applied_lsn = stet_partition_applied_lsn(n->parts[i]);
        parts[i].durable_lsn = stet_log_durable_tail(n->log, i);
        parts[i].trim_point = stet_log_trim_point(n->log, i);
    }
    struct stet_schema *schema = stet_admin_schema(n->admin);
    struct stet_cluster_view v = {
        .cluster_name = c->cluster_name,
        .nodes = &me,
        .n_nodes = 1,
        .this_node = n->node_id,
        .partitions = parts,
        .n_partitions = n->n_parts,
        .replication = c->default_replication,
        .log_provider = "local",
        .metadata_provider = "local",
        .schema_version = schema ? schema->version : 0,
    };
    struct stet_buf b = STET_BUF_INIT;
    stet_cluster_render(&b, &v);
    struct stet_http_header h = {"content-type", 12, "application/json", 16};
    stet_http_respond(req, 200, &h, 1, b.data, b.len);
    stet_buf_free(&b);
    free(parts);
}

static bool path_is(const struct stet_http_request *req, const char *p) {
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static bool is_get(const struct stet_http_request *req) {
    return (req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) ||
           (req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0);
}

static void respond_405_get(struct stet_http_request *req) {
    struct stet_http_header h = {"allow", 5, "GET,HEAD", 8};
    stet_http_respond(req, 405, &h, 1, NULL, 0);
}

/* ---- node port (health, metrics) ----------------------------------------------------- */

static void node_port_handle(void *ctx, struct stet_http_request *req) {
    struct stet_node *n = ctx;
    if (path_is(req, "/health")) {
        stet_http_respond(req, 200, NULL, 0, NULL, 0);
        return;
    }
    if (path_is(req, "/metrics")) {
        if (!is_get(req)) respond_405_get(req);
        else respond_metrics(n, req);
        return;
    }
    stet_http_respond(req, 404, NULL, 0, NULL, 0);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

/* POST /query (and /v2../v4): SQL introspection over the partition store (src/query). */
static bool handle_query(struct stet_node *n, struct stet_http_request *req) {
    const char *path = req->path;
    size_t len = req->path_len;
    if (len >= 3 && path[0] == '/' && path[1] == 'v' && path[2] >= '2' && path[2] <= '4' && (len == 3 || path[3] == '/')) {
        path += 3;
        len -= 3;
    }
    if (!(len == 6 && memcmp(path, "/query", 6) == 0)) return false;
    if (!(req->method_len == 4 && memcmp(req->method, "POST", 4) == 0)) {
        struct stet_http_header h[] = {{"allow", 5, "POST", 4}};
        stet_http_respond(req, 405, h, 1, NULL, 0);
        return true;
    }
    size_t ctl = 0, al = 0;
    const char *ct = stet_http_request_header(req, "content-type", &ctl);
    if (!ct || ctl < 16 || strncasecmp(ct, "application/json", 16) != 0) {
        const char *msg = "Expected request with `Content-Type: application/json`";
        struct stet_http_header h[] = {{"content-type", 12, "text/plain; charset=utf-8", 25}};
        stet_http_respond(req, 415, h, 1, msg, strlen(msg));
        return true;
    }
    const char *acc = stet_http_request_header(req, "accept", &al);
    struct stet_buf b = STET_BUF_INIT;
    int status = 500;
    const char *rct = "application/json";
    stet_query_execute_request(n->query, (const char *)req->body, req->body_len, stet_query_accepts_json(acc, al),
                               &status, &rct, &b);
    struct stet_http_header h[] = {{"content-type", 12, rct, strlen(rct)}, {"vary", 4, "accept-encoding", 15}};
    stet_http_respond(req, status, h, 2, b.data, b.len);
    stet_buf_free(&b);
    return true;
}

static const struct stet_schema *query_schema(void *ctx) { return stet_admin_schema(((struct stet_node *)ctx)->admin); }

static bool admin_extra_handler(void *ctx, struct stet_http_request *req) {
    struct stet_node *n = ctx;
    if (stet_invocations_handle(n->invocations, req)) return true;
    if (handle_query(n, req)) return true;
    /* /metrics (as the 3-node compose README promises) and /cluster, unversioned only */
    if (path_is(req, "/metrics") || path_is(req, "/cluster")) {
        if (!is_get(req)) respond_405_get(req);
        else if (path_is(req, "/metrics")) respond_metrics(n, req);
        else respond_cluster(n, req);
        return true;
    }
    return false;
}

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
    if (j->rc == 0 && !n->stopping) {
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
        uint64_t a = stet_partition_applied_lsn(n->parts[i]), t = stet_log_trim_point(n->log, i);
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
    for (uint32_t i = 0; i < n->n_parts; i++) j->applied[i] = stet_partition_applied_lsn(n->parts[i]);
    n->trim_running = true;
    if (env_submit(n, trim_work, trim_done, j) != 0) {
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
}

static void signal_cb(uv_signal_t *h, int signum) {
    struct stet_node *n = h->data;
    stet_info(MOD, "received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
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

int stet_node_create(const struct stet_config *cfg, struct stet_node **out, char *err, size_t errlen) {
    struct stet_node *n = calloc(1, sizeof(*n));
    if (!n) return -ENOMEM;
    int rc;
    n->cfg = cfg;
    n->epoch = 1;
    n->start_ms = env_monotonic_ms(NULL);
    uv_loop_init(&n->loop);
    if (getrandom(&n->rng, sizeof(n->rng), 0) != sizeof(n->rng) || n->rng == 0) n->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL);
    n->env = (struct stet_env){.ctx = n, .now_ms = env_now_ms, .monotonic_ms = env_monotonic_ms,
                               .random_u64 = env_random, .submit = env_submit,
                               .submit_short = env_submit_short, .timer_create = env_timer_create,
                               .timer_start = env_timer_start, .timer_stop = env_timer_stop,
                               .timer_destroy = env_timer_destroy};
    n->short_inline = true;
    uv_idle_init(&n->loop, &n->done_idle);
    n->done_idle.data = n;
    uv_idle_init(&n->loop, &n->nudge_idle);
    n->incarnation = env_random(n);
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
    rc = stet_store_open_rocks(dbdir, &n->store, &msg);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the partition store in %s: %s", dbdir, msg ? msg : strerror(-rc));
        free(msg);
        goto fail;
    }
    struct stet_log_config lc = {0};
    lc.max_log_ids = n->n_parts > 1024 ? n->n_parts : 1024;
    rc = stet_log_create(&n->env, n->store, &lc, durable_cb, n, &n->log);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the log: %s", strerror(-rc));
        goto fail;
    }
    struct stet_proposals_port pp = {.ctx = n, .append = proposals_append};
    rc = stet_proposals_create(&n->env, &pp, &n->proposals);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the proposal queue: %s", strerror(-rc));
        goto fail;
    }
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
    n->commit_duration = stet_metrics_series(stet_metrics_global(), STET_METRIC_HISTOGRAM,
                                             "stet_log_commit_duration_seconds",
                                             "Duration of a log group commit: the store write with its fsync.", NULL);
    stet_metrics_add_collector(stet_metrics_global(), node_collect, n);
    stet_metrics_add_collector(stet_metrics_global(), stet_metrics_collect_process, NULL);
    rc = stet_h2_pool_create(&n->loop, NULL, &n->pool);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the HTTP/2 client: %s", strerror(-rc));
        goto fail;
    }
    rc = stet_admin_create(&n->loop, n->pool, n->md, cfg, &n->admin, err, errlen);
    if (rc != 0) goto fail;
    struct stet_invoker_ports ip = {
        .ctx = n,
        .loop = &n->loop,
        .env = &n->env,
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
        .applied_lsn = applied_lsn_of,
        .propose = propose_retried,
        .settled = proposals_settled,
    };
    rc = stet_invoker_create(&ip, n->pool, &n->invoker);
    if (rc != 0) goto fail;
    struct stet_shuffle_port sp = {.ctx = n, .store = n->store, .num_partitions = n->n_parts, .propose = propose_retried};
    rc = stet_shuffle_create(&sp, &n->shuffle);
    if (rc != 0) goto fail;
    rc = stet_ingress_create(n, &n->ingress);
    if (rc != 0) goto fail;
    rc = stet_invocations_create(n, &n->invocations);
    if (rc != 0) goto fail;
    struct stet_query_sources qs = {.store = n->store, .schema = query_schema, .invoker = n->invoker, .ctx = n,
                                    .num_partitions = n->n_parts};
    rc = stet_query_create(&qs, &n->query);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the SQL query engine: %s", strerror(-rc));
        goto fail;
    }
    stet_admin_set_extra_handler(n->admin, admin_extra_handler, n);

    n->parts = calloc(n->n_parts, sizeof(*n->parts));
    STET_ASSERT(n->parts != NULL);
    n->timers = calloc(n->n_parts, sizeof(*n->timers));
    STET_ASSERT(n->timers != NULL);
    struct stet_timer_service_port tp = {.ctx = n, .store = n->store, .applied_lsn = applied_lsn_of,
                                         .propose = propose_retried};
    for (uint32_t i = 0; i < n->n_parts; i++) {
        rc = stet_timer_service_create(&n->env, &tp, i, &n->timers[i]);
        if (rc != 0) {
            snprintf(err, errlen, "cannot create the timer service: %s", strerror(-rc));
            goto fail;
        }
    }
    for (uint32_t i = 0; i < n->n_parts; i++) {
        struct stet_partition_config pc = {.partition_id = i};
        stet_partition_key_range(i, n->n_parts, &pc.key_start, &pc.key_end);
        rc = stet_partition_create(&n->env, n->store, &pc, action_cb, n, &n->parts[i]);
        if (rc != 0) {
            snprintf(err, errlen, "cannot load partition %u: %s", i, strerror(-rc));
            goto fail;
        }
        uint64_t tail = stet_log_durable_tail(n->log, i);
        uint64_t from = stet_partition_applied_lsn(n->parts[i]) + 1;
        if (from <= tail) {
            rc = apply_range(n, i, from, tail);
            if (rc != 0) {
                snprintf(err, errlen, "cannot replay the log of partition %u: %s", i, strerror(-rc));
                goto fail;
            }
            stet_info(MOD, "replayed partition=%u records=%llu", i, (unsigned long long)(tail - from + 1));
        }
    }
    for (uint32_t i = 0; i < n->n_parts; i++) stet_partition_become_leader(n->parts[i]);

    rc = start_http(n, cfg->ingress_bind, "ingress", cfg->ingress_request_size_limit, stet_ingress_handle, n->ingress,
                    &n->ingress_http, err, errlen, "ingress");
    if (rc != 0) goto fail;
    rc = start_http(n, cfg->admin_bind, "admin", 0, stet_admin_handle, n->admin, &n->admin_http, err, errlen, "admin");
    if (rc != 0) goto fail;
    rc = start_http(n, cfg->node_bind, "admin", 0, node_port_handle, n, &n->node_http, err, errlen, "node");
    if (rc != 0) goto fail;

    uv_timer_init(&n->loop, &n->trim_timer);
    n->trim_timer.data = n;
    uv_timer_start(&n->trim_timer, trim_cb, TRIM_INTERVAL_MS, TRIM_INTERVAL_MS);
    uv_prepare_init(&n->loop, &n->flush);
    n->flush.data = n;
    uv_prepare_start(&n->flush, flush_cb);
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
    stet_metrics_remove_collector(stet_metrics_global(), node_collect, n);
    stet_metrics_remove_collector(stet_metrics_global(), stet_metrics_collect_process, NULL);
    n->commit_duration = NULL;
    if (n->ingress_http) stet_http_server_destroy(n->ingress_http, NULL, NULL);
    if (n->admin_http) stet_http_server_destroy(n->admin_http, NULL, NULL);
    if (n->node_http) stet_http_server_destroy(n->node_http, NULL, NULL);
    if (n->invoker) stet_invoker_destroy(n->invoker);
    n->invoker = NULL;
    /* let in-flight log commits finish so every acknowledged record stays durable */
    if (n->log) {
        while (stet_log_busy(n->log)) {
            stet_log_flush(n->log);
            uv_run(&n->loop, UV_RUN_ONCE);
        }
    }
    /* a clean stop leaves the partition store durable: the next start replays nothing */
    if (n->store && n->log && !stet_log_failed(n->log)) {
        while (n->trim_running) uv_run(&n->loop, UV_RUN_ONCE);
        stet_store_flush(n->store);
    }
    if (n->pool) stet_h2_pool_destroy(n->pool, NULL, NULL);
    /* retried proposals still queued are dropped (their work is re-derived at the next start) */
    for (uint32_t i = 0; n->timers && i < n->n_parts; i++)
        if (n->timers[i]) stet_timer_service_stop(n->timers[i]);
    stet_proposals_destroy(n->proposals);
    n->proposals = NULL;
    uv_run(&n->loop, UV_RUN_NOWAIT);
    if (n->ingress) stet_ingress_destroy(n->ingress);
    if (n->invocations) stet_invocations_destroy(n->invocations);
    if (n->query) stet_query_destroy(n->query);
    if (n->admin) stet_admin_destroy(n->admin);
    if (n->done_head) done_idle_cb(&n->done_idle); /* inline work whose done() has not run yet */
    for (uint32_t i = 0; n->timers && i < n->n_parts; i++) stet_timer_service_destroy(n->timers[i]);
    stet_shuffle_destroy(n->shuffle);
    uv_walk(&n->loop, close_walk_cb, NULL);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    for (uint32_t i = 0; n->parts && i < n->n_parts; i++) stet_partition_destroy(n->parts[i]);
    free(n->parts);
    free(n->timers);
    if (n->log) stet_log_destroy(n->log);
    if (n->md) stet_metadata_destroy(n->md);
    if (n->store) stet_store_destroy(n->store);
    stet_buf_free(&n->rec);
    free(n);
}
