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
#include "consensus/consensus.h"
#include "node/node_internal.h"
#include "node/partitions.h"
#include "nodeport/peers.h"
#include "json/json.h"

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
/* Raft groups and the node port (a cluster node only). */
static void collect_cluster(struct stet_node *n, struct stet_metrics *m) {
    struct stet_node_cluster_info ci;
    stet_node_cluster_info(n, &ci);
    if (!ci.clustered) return;
    const char *g0[] = {"group", "metadata", NULL};
    set_gauge(m, "stet_raft_term", "Raft term of the group on this node.", g0, (double)ci.term);
    set_gauge(m, "stet_raft_commit_index", "Raft commit index of the group.", g0, (double)ci.commit_index);
    set_gauge(m, "stet_raft_applied_index", "Raft index applied by this node.", g0, (double)ci.applied_index);
    set_gauge(m, "stet_raft_last_index", "Last index of the group's log on this node.", g0, (double)ci.last_index);
    set_gauge(m, "stet_raft_snapshot_index", "Index of the group's latest snapshot (the log before it is trimmed).", g0,
              (double)ci.snapshot_index);
    set_counter(m, "stet_metadata_snapshots_taken_total", "Snapshots of the metadata group this node took.", NULL,
                ci.stats.snapshots_taken);
    set_counter(m, "stet_metadata_snapshots_installed_total", "Metadata snapshots this node installed.", NULL,
                ci.stats.snapshots_installed);
    set_gauge(m, "stet_raft_leader_node", "Node id of the group's leader as this node knows it (0: none).", g0,
              (double)ci.leader_node);
    set_gauge(m, "stet_raft_is_leader", "1 when this node leads the group.", g0, ci.leader ? 1 : 0);
    set_gauge(m, "stet_raft_quorum", "1 when a leader is known and a majority of the group's members is alive.", g0,
              ci.quorum ? 1 : 0);
    set_counter(m, "stet_metadata_forwarded_total", "Metadata requests forwarded to the metadata leader.", NULL,
                ci.stats.forwarded);
    set_counter(m, "stet_metadata_forwards_served_total", "Metadata requests this node served for other nodes.", NULL,
                ci.stats.forwards_served);
    set_counter(m, "stet_metadata_requests_failed_total", "Metadata requests that failed (no quorum, timeout).", NULL,
                ci.stats.requests_failed);
    set_counter(m, "stet_metadata_read_barriers_total", "Read barriers submitted by the metadata leader.", NULL,
                ci.stats.barriers);
    if (n->parts) { /* the partition groups: one series per partition */
        for (uint32_t i = 0; i < n->n_parts; i++) {
            struct stet_node_parts_info pi;
            stet_node_parts_info(n->parts, i, &pi);
            char id[16];
            snprintf(id, sizeof(id), "%u", i);
            const char *gp[] = {"partition", id, NULL};
            set_gauge(m, "stet_partition_leader_node", "Node id of the partition's leader as this node knows it (0: none).",
                      gp, (double)pi.leader_node);
            set_gauge(m, "stet_partition_term", "Raft term (leader epoch) of the partition's group on this node.", gp,
                      (double)pi.term);
            set_gauge(m, "stet_partition_is_leader", "1 when the partition acts on this node (its leader announcement applied).",
                      gp, pi.worker_leader ? 1 : 0);
            if (!pi.member) continue;
            set_gauge(m, "stet_partition_commit_lsn", "Commit index of the partition's log as this node knows it.", gp,
                      (double)pi.commit_index);
            set_gauge(m, "stet_partition_durable_lsn", "Index of the partition's log durable on this node.", gp,
                      (double)pi.durable_index);
            set_gauge(m, "stet_partition_applied_lsn", "LSN of the partition's log applied by this node's replica.", gp,
                      (double)pi.applied_lsn);
            for (unsigned r = 0; r < pi.n_voters; r++) {
                if (!pi.replicas[r].known) continue;
                char node[16];
                snprintf(node, sizeof(node), "N%u", pi.replicas[r].node);
                const char *gr[] = {"partition", id, "replica", node, NULL};
                set_gauge(m, "stet_partition_replica_applied_lsn",
                          "LSN applied by each replica of the partition, as its last report said.", gr,
                          (double)pi.replicas[r].applied_lsn);
                set_gauge(m, "stet_partition_replica_durable_lsn",
                          "LSN durable (and committed) on each replica of the partition, as its last report said.", gr,
                          (double)pi.replicas[r].durable_lsn);
            }
        }
        struct stet_node_parts_stats ps;
        stet_node_parts_stats(n->parts, &ps);
        set_counter(m, "stet_partition_requests_local_total", "Records appended by this node as the partition's leader "
                    "on behalf of its ingress and admin API.", NULL, ps.proposed_local);
        set_counter(m, "stet_partition_requests_forwarded_total", "Records forwarded to a partition leader on another node.",
                    NULL, ps.forwarded);
        set_counter(m, "stet_partition_requests_served_total", "Records and read barriers other nodes forwarded here.",
                    NULL, ps.forwards_served);
        set_counter(m, "stet_partition_requests_retried_total", "Requests sent again (no leader yet, lost to a leader "
                    "change).", NULL, ps.retries);
        set_counter(m, "stet_partition_requests_unknown_total", "Requests answered 'may have been submitted' (their "
                    "leader went away with them).", NULL, ps.unknown_outcome);
        set_counter(m, "stet_partition_requests_no_leader_total", "Requests answered 503: no reachable leader.", NULL,
                    ps.no_leader);
        set_counter(m, "stet_partition_responses_sent_total", "Answers sent to the node holding the request.", NULL,
                    ps.responses_sent);
        set_counter(m, "stet_partition_responses_received_total", "Answers received for requests held here.", NULL,
                    ps.responses_received);
        set_counter(m, "stet_partition_responses_lost_total",
                    "Answers for another node dropped: it stayed unreachable for 5 s (or too many waited).", NULL,
                    ps.responses_lost);
        set_counter(m, "stet_partition_leader_changes_total", "Partition leaderships this node gained or lost.", NULL,
                    ps.leader_changes);
        set_counter(m, "stet_partition_placements_total",
                    "Leaderships this node handed to the partition's preferred node (placement).", NULL, ps.placements);
        set_gauge(m, "stet_partition_requests_waiting", "Requests waiting for a partition leader now.", NULL,
                  (double)ps.waiting);
    }
    const struct stet_consensus *cons = stet_node_cluster_consensus(n);
    if (cons) {
        struct stet_consensus_stats cs;
        stet_consensus_stats(cons, &cs);
        set_counter(m, "stet_raft_steps_total", "Raft steps (events fed to libraft), all groups.", NULL, cs.steps);
        set_counter(m, "stet_raft_messages_sent_total", "Raft messages sent, all groups.", NULL, cs.messages_sent);
        set_counter(m, "stet_raft_messages_received_total", "Raft messages received, all groups.", NULL,
                    cs.messages_received);
        set_counter(m, "stet_raft_messages_dropped_total", "Raft messages dropped (malformed, stale, duplicate).", NULL,
                    cs.messages_dropped);
        set_counter(m, "stet_raft_message_batches_sent_total", "Network sends of raft messages (coalesced per peer).",
                    NULL, cs.batches_sent);
        set_counter(m, "stet_raft_syncs_total", "Shared syncs of the raft state of every group (one fsync each).", NULL,
                    cs.syncs);
        set_counter(m, "stet_raft_entries_persisted_total",
                    "Raft entries made durable; divided by stet_raft_syncs_total: the fsync batch size.", NULL,
                    cs.entries_persisted);
    }
    const struct stet_np_peers *peers = stet_node_cluster_peers(n);
    if (peers) {
        struct stet_np_peers_stats ps;
        stet_np_peers_stats(peers, &ps);
        set_counter(m, "stet_nodeport_frames_sent_total", "Node-port frames sent.", NULL, ps.frames_sent);
        set_counter(m, "stet_nodeport_frames_received_total", "Node-port frames received.", NULL, ps.frames_received);
        set_counter(m, "stet_nodeport_bytes_sent_total", "Node-port bytes sent.", NULL, ps.bytes_sent);
        set_counter(m, "stet_nodeport_bytes_received_total", "Node-port bytes received.", NULL, ps.bytes_received);
        set_counter(m, "stet_nodeport_frames_dropped_total", "Node-port frames dropped because a peer's queue was full.",
                    NULL, ps.frames_dropped);
        set_counter(m, "stet_nodeport_connects_total", "Peer connections established (after HELLO).", NULL,
                    ps.connects);
        set_counter(m, "stet_nodeport_disconnects_total", "Peer connections lost.", NULL, ps.disconnects);
        set_counter(m, "stet_nodeport_rejects_total", "HELLOs refused (cluster name, fingerprint, node id, version).",
                    NULL, ps.rejects);
        set_counter(m, "stet_nodeport_protocol_errors_total", "Connections closed for malformed frames.", NULL,
                    ps.protocol_errors);
        struct stet_np_peer_info pi[64];
        size_t np = stet_np_peers_list(peers, pi, 64);
        for (size_t i = 0; i < np; i++) {
            char id[16];
            snprintf(id, sizeof(id), "N%u", pi[i].node);
            set_gauge(m, "stet_nodeport_peer_alive", "1 while a peer is connected and heard from within a second.",
                      (const char *[]){"peer", id, NULL}, pi[i].alive ? 1 : 0);
        }
    }
}

void stet_node_collect_metrics(void *arg, struct stet_metrics *m) {
    struct stet_node *n = arg;
    collect_cluster(n, m);
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
        uint64_t durable = n->parts ? stet_node_parts_durable_tail(n, i) : n->log ? stet_log_durable_tail(n->log, i) : 0;
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
        uint64_t records = 0, bytes = 0, commits = ls.commits;
        stet_node_parts_log_stats(n->parts, &records, &bytes); /* the partitions' raft logs */
        const struct stet_consensus *cons = stet_node_cluster_consensus(n);
        if (cons) {
            struct stet_consensus_stats cs;
            stet_consensus_stats(cons, &cs);
            commits += cs.syncs;
        }
        set_counter(m, "stet_log_appends_total", "Log records made durable.", NULL, ls.appends + records);
        set_counter(m, "stet_log_append_bytes_total", "Payload bytes of the log records made durable.", NULL,
                    ls.bytes + bytes);
        set_counter(m, "stet_log_commits_total", "Group commits (one fsync each).", NULL, commits);
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

static uint64_t md_version(struct stet_node *n, const char *key, struct stet_buf *value) {
    uint64_t version = 0;
    struct stet_buf tmp = STET_BUF_INIT;
    int rc = stet_metadata_get(n->md, key, &version, value ? value : &tmp);
    stet_buf_free(&tmp);
    return rc == 0 ? version : 0;
}

static void respond_cluster(struct stet_node *n, struct stet_http_request *req) {
    const struct stet_config *c = n->cfg;
    struct stet_node_cluster_info ci;
    stet_node_cluster_info(n, &ci);
    uint64_t uptime = stet_env_prod_monotonic_ms() - n->start_ms;
    struct stet_cluster_node me = {
        .id = n->node_id,
        .generation = ci.clustered ? (uint32_t)ci.registered_generation : n->generation,
        .name = c->node_name,
        .roles = c->roles,
        .location = c->location,
        .status = n->stopping ? "shutting-down" : "alive",
        .uptime_ms = uptime,
        .advertised_address = c->advertised_address,
        .fabric_bind = c->node_bind,
        .admin_bind = c->admin_bind,
        .ingress_bind = c->ingress_bind,
        .advertised_ingress = c->advertised_ingress,
    };
    /* in a cluster: every node of the nodes configuration, with liveness as seen from here */
    struct stet_cluster_node *nodes = &me;
    uint32_t n_nodes = 1;
    struct stet_json *nc = NULL;
    struct stet_buf ncv = STET_BUF_INIT;
    if (ci.clustered) {
        if (md_version(n, "nodes_config", &ncv) == 0 ||
            stet_json_parse((const char *)ncv.data, ncv.len, &nc, NULL, 0) != 0)
            nc = NULL;
        const struct stet_json *arr = stet_json_object_get(nc, "nodes");
        size_t len = stet_json_array_len(arr);
        nodes = calloc(len + 1 + ci.n_voters, sizeof(*nodes));
        STET_ASSERT(nodes != NULL);
        n_nodes = 0;
        bool self_listed = false;
        for (size_t i = 0; i < len; i++) {
            const struct stet_json *o = stet_json_array_at(arr, i);
            uint64_t id = 0, gen = 0, roles = 0;
            stet_json_uint64(stet_json_object_get(o, "id"), &id);
            stet_json_uint64(stet_json_object_get(o, "generation"), &gen);
            stet_json_uint64(stet_json_object_get(o, "roles"), &roles);
            if (id == 0 || id > UINT32_MAX) continue;
            if (id == n->node_id) {
                nodes[n_nodes++] = me;
                self_listed = true;
                continue;
            }
            const char *name = stet_json_string(stet_json_object_get(o, "name"), NULL);
            const char *addr = stet_json_string(stet_json_object_get(o, "address"), NULL);
            nodes[n_nodes++] = (struct stet_cluster_node){
                .id = (uint32_t)id,
                .generation = (uint32_t)gen,
                .name = name ? name : "",
                .roles = (uint32_t)roles,
                .location = "",
                .status = stet_node_cluster_peer_alive(n, (uint32_t)id) ? "alive" : "dead",
                .advertised_address = addr,
            };
        }
        if (!self_listed) nodes[n_nodes++] = me;
    }
    /* metadata members that have not registered yet (just started): known by id and liveness */
    if (ci.clustered && nodes != &me) {
        for (unsigned i = 0; i < ci.n_voters; i++) {
            bool listed = false;
            for (uint32_t k = 0; k < n_nodes; k++) listed |= nodes[k].id == ci.voters[i];
            if (listed) continue;
            nodes[n_nodes++] = (struct stet_cluster_node){
                .id = ci.voters[i],
                .name = "",
                .location = "",
                .status = stet_node_cluster_peer_alive(n, ci.voters[i]) ? "alive" : "dead",
            };
        }
    }
    struct stet_cluster_partition *parts = calloc(n->n_parts ? n->n_parts : 1, sizeof(*parts));
    STET_ASSERT(parts != NULL);
    for (uint32_t i = 0; i < n->n_parts; i++) {
        parts[i].id = i;
        stet_partition_key_range(i, n->n_parts, &parts[i].key_start, &parts[i].key_end);
        parts[i].epoch = stet_worker_epoch(n->worker, i);
        parts[i].applied_lsn = stet_worker_applied_lsn(n->worker, i);
        if (n->parts) { /* a cluster: the partition's raft group */
            struct stet_node_parts_info pi;
            stet_node_parts_info(n->parts, i, &pi);
            parts[i].leader_node = pi.leader_node;
            parts[i].term = pi.term;
            parts[i].durable_lsn = stet_node_parts_durable_tail(n, i);
            parts[i].commit_lsn = pi.commit_index;
            parts[i].trim_point = pi.snapshot_index;
            parts[i].replica_here = pi.member;
            parts[i].n_replicas = pi.n_voters;
            memcpy(parts[i].replicas, pi.voters, pi.n_voters * sizeof(*pi.voters));
            for (unsigned r = 0; r < pi.n_voters; r++)
                parts[i].progress[r] = (struct stet_cluster_replica){.known = pi.replicas[r].known,
                                                                     .applied_lsn = pi.replicas[r].applied_lsn,
                                                                     .durable_lsn = pi.replicas[r].durable_lsn,
                                                                     .flushed_lsn = pi.replicas[r].flushed_lsn,
                                                                     .age_ms = pi.replicas[r].age_ms};
            continue;
        }
        parts[i].leader_node = stet_worker_is_leader(n->worker, i) ? n->node_id : 0;
        parts[i].durable_lsn = stet_log_durable_tail(n->log, i);
        parts[i].trim_point = stet_log_trim_point(n->log, i);
    }
    struct stet_schema *schema = stet_admin_schema(n->admin);
    struct stet_cluster_view v = {
        .cluster_name = c->cluster_name,
        .nodes = nodes,
        .n_nodes = n_nodes,
        .this_node = n->node_id,
        .partitions = parts,
        .n_partitions = n->n_parts,
        .replication = c->default_replication,
        .log_provider = n->parts ? "replicated" : "local",
        .metadata_provider = ci.clustered ? "replicated" : "local",
        .schema_version = schema ? schema->version : 0,
    };
    if (ci.clustered) {
        v.metadata_members = ci.voters;
        v.n_metadata_members = ci.n_voters;
        v.metadata_leader = ci.leader_node;
        v.metadata_quorum = ci.quorum;
        v.metadata_status = ci.client ? "client" : ci.have_group ? "member" : "joining";
        v.metadata_term = ci.term;
        v.metadata_commit_index = ci.commit_index;
        v.metadata_applied_index = ci.applied_index;
        v.metadata_snapshot_index = ci.snapshot_index;
    }
    struct stet_buf b = STET_BUF_INIT;
    stet_cluster_render(&b, &v);
    struct stet_http_header h = {"content-type", 12, "application/json", 16};
    stet_http_respond(req, 200, &h, 1, b.data, b.len);
    stet_buf_free(&b);
    free(parts);
    if (nodes != &me) free(nodes);
    stet_json_free(nc);
    stet_buf_free(&ncv);
}

/* "8s 915ms 242µs 193ns", as Restate's node-port /health writes a duration */
static void format_age(uint64_t ns, char *out, size_t len) {
    static const struct {
        uint64_t ns;
        const char *unit;
    } units[] = {{86400000000000ull, "d"}, {3600000000000ull, "h"}, {60000000000ull, "m"}, {1000000000ull, "s"},
                 {1000000ull, "ms"},       {1000ull, "\u00b5s"},   {1ull, "ns"}};
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t q = ns / units[i].ns;
        ns %= units[i].ns;
        if (q == 0) continue;
        int k = snprintf(out + off, len - off, "%s%llu%s", off ? " " : "", (unsigned long long)q, units[i].unit);
        if (k < 0 || (size_t)k >= len - off) break;
        off += (size_t)k;
    }
    if (off == 0) snprintf(out, len, "0s");
}

static void write_address(struct stet_json_writer *w, const char *name, const char *address, const char *kind) {
    stet_json_begin_object(w);
    stet_json_key(w, "name");
    stet_json_write_string(w, name);
    stet_json_key(w, "address");
    stet_json_write_string(w, address);
    stet_json_key(w, "kind");
    stet_json_write_string(w, kind);
    stet_json_end_object(w);
}

/* The node port's GET /health: Restate 1.7.12's node identification JSON (same fields, same
 * order), so tooling written for Restate keeps working. */
static void respond_node_health(struct stet_node *n, struct stet_http_request *req) {
    const struct stet_config *c = n->cfg;
    struct stet_node_cluster_info ci;
    stet_node_cluster_info(n, &ci);
    bool ready = !ci.clustered || ((ci.have_group || ci.client) && ci.registered);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "status");
    stet_json_write_string(&w, n->stopping ? "ShuttingDown" : ready ? "Alive" : "StartingUp");
    stet_json_key(&w, "node_id");
    if (ready) {
        char id[48];
        snprintf(id, sizeof(id), "N%u:%llu", n->node_id,
                 (unsigned long long)(ci.clustered ? ci.registered_generation : n->generation));
        stet_json_write_string(&w, id);
    } else {
        stet_json_write_null(&w);
    }
    stet_json_key(&w, "cluster_name");
    stet_json_write_string(&w, c->cluster_name);
    stet_json_key(&w, "roles");
    stet_json_begin_array(&w);
    static const uint32_t order[] = {STET_ROLE_HTTP_INGRESS, STET_ROLE_ADMIN, STET_ROLE_WORKER, STET_ROLE_LOG_SERVER,
                                     STET_ROLE_METADATA_SERVER};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(c->roles & order[i])) continue;
        for (unsigned bit = 0; bit < 5; bit++)
            if (order[i] == (1u << bit)) stet_json_write_string(&w, stet_config_role_names[bit]);
    }
    stet_json_end_array(&w);
    char age[96];
    format_age((uv_hrtime() - n->start_ns), age, sizeof(age));
    stet_json_key(&w, "age");
    stet_json_write_string(&w, age);
    const char *role_status = ready ? "Ready" : "StartingUp";
    stet_json_key(&w, "admin_status");
    stet_json_write_string(&w, (c->roles & STET_ROLE_ADMIN) ? role_status : "Unknown");
    stet_json_key(&w, "worker_status");
    stet_json_write_string(&w, (c->roles & STET_ROLE_WORKER) ? role_status : "Unknown");
    stet_json_key(&w, "log_server_status");
    stet_json_write_string(&w, (c->roles & STET_ROLE_LOG_SERVER) ? role_status : "Unknown");
    stet_json_key(&w, "metadata_server_status");
    stet_json_write_string(&w, !(c->roles & STET_ROLE_METADATA_SERVER) ? "Unknown"
                               : !ci.clustered || ci.have_group ? "Member"
                                                                : "AwaitingProvisioning");
    stet_json_key(&w, "nodes_config_version");
    stet_json_write_uint(&w, ci.clustered ? md_version(n, "nodes_config", NULL) : 1);
    stet_json_key(&w, "logs_version");
    stet_json_write_uint(&w, ci.clustered ? md_version(n, "bifrost_config", NULL) : 1);
    stet_json_key(&w, "schema_version");
    stet_json_write_uint(&w, md_version(n, "schema", NULL));
    stet_json_key(&w, "partition_table_version");
    stet_json_write_uint(&w, ci.clustered ? md_version(n, "partition_table", NULL) : 1);
    char adv_admin[300], adv_fabric[300];
    snprintf(adv_admin, sizeof(adv_admin), "http://%s/", c->admin_bind);
    snprintf(adv_fabric, sizeof(adv_fabric), "%s", c->advertised_address);
    stet_json_key(&w, "bound_addresses");
    stet_json_begin_array(&w);
    if (c->roles & STET_ROLE_HTTP_INGRESS) write_address(&w, "http-ingress-server", c->ingress_bind, "tcp");
    if (c->roles & STET_ROLE_ADMIN) write_address(&w, "admin-api-server", c->admin_bind, "tcp");
    write_address(&w, "message-fabric-server", c->node_bind, "tcp");
    stet_json_end_array(&w);
    stet_json_key(&w, "advertised_addresses");
    stet_json_begin_array(&w);
    if (c->roles & STET_ROLE_HTTP_INGRESS) write_address(&w, "http-ingress-server", c->advertised_ingress, "http");
    if (c->roles & STET_ROLE_ADMIN) write_address(&w, "admin-api-server", adv_admin, "http");
    write_address(&w, "message-fabric-server", adv_fabric, "http");
    stet_json_end_array(&w);
    stet_json_end_object(&w);
    struct stet_http_header h = {"content-type", 12, "application/json", 16};
    stet_http_respond(req, 200, &h, 1, b.data, b.len);
    stet_buf_free(&b);
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
        if (!stet_http_method_is_get_or_head(req)) respond_405_get(req);
        else respond_node_health(n, req);
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

static void query_execute(struct stet_node *n, struct stet_http_request *req, bool json) {
    struct stet_buf b = STET_BUF_INIT;
    int status = 500;
    const char *rct = "application/json";
    stet_query_execute_request(n->query, (const char *)req->body, req->body_len, json, &status, &rct, &b);
    struct stet_http_header h[] = {{"content-type", 12, rct, strlen(rct)}, {"vary", 4, "accept-encoding", 15}};
    stet_http_respond(req, status, h, 2, b.data, b.len);
    stet_buf_free(&b);
}

struct query_wait {
    struct stet_pending base;
    bool json;
};

struct query_sync {
    struct stet_node *n;
    uint64_t id;
};

static void query_run(void *arg) {
    struct query_sync *qs = arg;
    struct stet_node *n = qs->n;
    struct query_wait *q = (struct query_wait *)stet_pending_find(&n->query_pending, qs->id);
    free(qs);
    if (!q) return; /* the client went away */
    struct stet_http_request *req = q->base.req;
    bool json = q->json;
    stet_pending_done(&q->base);
    query_execute(n, req, json);
}

static void query_synced(void *arg, int status) {
    struct query_sync *qs = arg;
    struct stet_node *n = qs->n;
    struct query_wait *q = (struct query_wait *)stet_pending_find(&n->query_pending, qs->id);
    if (!q) { /* the client went away */
        free(qs);
        return;
    }
    if (status != 0) {
        struct stet_http_request *req = q->base.req;
        free(qs);
        stet_pending_done(&q->base);
        const char *msg = "{\"message\":\"cannot bring this node's partition replicas up to date: a partition has no "
                          "reachable leader (fewer than a majority of its replicas are up). Retry later, or query "
                          "another node\"}";
        struct stet_http_header h[] = {{"content-type", 12, "application/json", 16}};
        stet_http_respond(req, 503, h, 1, msg, strlen(msg));
        return;
    }
    /* the attempts of invocations whose partition another node leads are in that node's invoker */
    if (n->cl) stet_node_parts_gather_tasks(n->parts, query_run, qs);
    else query_run(qs);
}

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
    bool json = stet_query_accepts_json(acc, al);
    if (!n->cl) { /* a single node: its replicas are the leaders */
        query_execute(n, req, json);
        return true;
    }
    /* a cluster: every partition with a replica here first catches up with what its leader had
     * committed (a read barrier per partition), then the query reads the local replicas */
    struct query_wait *q = calloc(1, sizeof(*q));
    STET_ASSERT(q != NULL);
    q->json = json;
    stet_pending_add(&n->query_pending, &q->base, req);
    struct query_sync *qs = malloc(sizeof(*qs));
    STET_ASSERT(qs != NULL);
    *qs = (struct query_sync){n, q->base.id};
    stet_node_parts_sync(n->parts, query_synced, qs);
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
