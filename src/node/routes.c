/* The node's extra routes: on the node port /health and /metrics; on the admin port
 * /invocations/... (src/invocations), /query (src/query), /metrics and /cluster. The metrics
 * collector copies every module's stats into the registry before each scrape. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/cluster.h"
#include "common/assert.h"
#include "node/node_internal.h"

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
void stet_node_collect_metrics(void *arg, struct stet_metrics *m) {
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
    for (uint32_t i = 0; i < n->n_parts && n->worker; i++) {
        struct stet_partition_stats ps;
        stet_partition_stats(stet_worker_partition(n->worker, i), &ps);
        total.records_applied += ps.records_applied;
        total.invocations_succeeded += ps.invocations_succeeded;
        total.invocations_failed += ps.invocations_failed;
        char pid[16];
        snprintf(pid, sizeof(pid), "%u", i);
        uint64_t applied = stet_worker_applied_lsn(n->worker, i);
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
    if (n->worker) {
        struct stet_worker_stats ws;
        stet_worker_stats(n->worker, &ws);
        set_gauge(m, "stet_proposals_queued", "Self-proposals waiting to be appended again (the log refused them).",
                  NULL, (double)ws.proposals_queued);
        set_counter(m, "stet_proposals_retried_total", "Self-proposals the log refused and that were queued for a retry.",
                    NULL, ws.proposals_retried);
        set_counter(m, "stet_partition_records_stale_total",
                    "Records of a deposed leader (older epoch) skipped by the partition processors.", NULL,
                    ws.records_dropped_stale);
        set_counter(m, "stet_shuffle_delivered_total", "Outbox messages delivered to their target partition.", NULL,
                    ws.shuffle_delivered);
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
              (double)(stet_env_prod_monotonic_ms() - n->start_ms) / 1000.0);
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
        .uptime_ms = stet_env_prod_monotonic_ms() - n->start_ms,
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
        parts[i].leader_node = stet_worker_is_leader(n->worker, i) ? n->node_id : 0;
        parts[i].epoch = stet_worker_epoch(n->worker, i);
        parts[i].applied_lsn = stet_worker_applied_lsn(n->worker, i);
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

static void respond_405_get(struct stet_http_request *req) {
    struct stet_http_header h = {"allow", 5, "GET,HEAD", 8};
    stet_http_respond(req, 405, &h, 1, NULL, 0);
}

/* ---- node port (health, metrics) ----------------------------------------------------- */

void stet_node_port_handle(void *ctx, struct stet_http_request *req) {
    struct stet_node *n = ctx;
    if (stet_node_cluster_port_handle(n, req)) return; /* node-to-node connection */
    if (stet_http_path_is(req, "/health")) {
        stet_http_respond(req, 200, NULL, 0, NULL, 0);
        return;
    }
    if (stet_http_path_is(req, "/metrics")) {
        if (!stet_http_method_is_get_or_head(req)) respond_405_get(req);
        else respond_metrics(n, req);
        return;
    }
    stet_http_respond(req, 404, NULL, 0, NULL, 0);
}

/* ---- admin port: /query, /invocations, /metrics, /cluster ------------------------------ */

/* POST /query (and /v2../v4): SQL introspection over the partition store (src/query). */
static bool handle_query(struct stet_node *n, struct stet_http_request *req) {
    const char *path;
    size_t len;
    if (!stet_http_admin_path(req, &path, &len)) return false;
    if (!(len == 6 && memcmp(path, "/query", 6) == 0)) return false;
    if (!stet_http_method_is(req, "POST")) {
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

bool stet_node_admin_extra_handle(void *ctx, struct stet_http_request *req) {
    struct stet_node *n = ctx;
    if (stet_invocations_handle(n->invocations, req)) return true;
    if (handle_query(n, req)) return true;
    /* /metrics (as the 3-node compose README promises) and /cluster, unversioned only */
    if (stet_http_path_is(req, "/metrics") || stet_http_path_is(req, "/cluster")) {
        if (!stet_http_method_is_get_or_head(req)) respond_405_get(req);
        else if (stet_http_path_is(req, "/metrics")) respond_metrics(n, req);
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
