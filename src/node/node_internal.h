/* The node's private state, shared by the files of src/node: node.c (start-up, wiring,
 * maintenance, shutdown) and routes.c (the extra admin and node-port routes: /metrics,
 * /cluster, /query, /health). Nothing outside src/node includes this. */
#ifndef STET_NODE_INTERNAL_H
#define STET_NODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "admin/admin.h"
#include "config/config.h"
#include "h2client/h2client.h"
#include "http/http.h"
#include "http/pending.h"
#include "ingress/ingress.h"
#include "invocations/invocations.h"
#include "invoker/invoker.h"
#include "log/log.h"
#include "metadata/metadata.h"
#include "metrics/metrics.h"
#include "node/cluster.h"
#include "node/env_prod.h"
#include "query/query.h"
#include "schema/schema.h"
#include "store/store.h"
#include "worker/worker.h"

struct stet_node {
    const struct stet_config *cfg;
    uv_loop_t loop;
    struct stet_env_prod prod;
    const struct stet_env *env; /* &prod.env */
    struct stet_store *store;
    struct stet_log *log;
    struct stet_worker *worker; /* the partitions */
    uint32_t n_parts;
    struct stet_metadata *md;
    struct stet_admin *admin;
    struct stet_h2_pool *pool;
    struct stet_invoker *invoker;
    struct stet_invoker_http http; /* the invoker's transport */
    struct stet_ingress *ingress;
    struct stet_invocations *invocations;
    struct stet_query *query;
    struct stet_http_server *ingress_http, *admin_http, *node_http;
    uv_prepare_t flush;
    uv_idle_t nudge_idle; /* one non-blocking poll: the invoker has deferred starts */
    uv_timer_t trim_timer;
    bool trim_running;
    uint32_t idle_ticks;
    uint64_t last_applied_total;
    uv_signal_t sigint, sigterm;
    uv_timer_t handoff_timer; /* SIGTERM: waits for the metadata leadership to move */
    bool handing_off;
    uint64_t handoff_started_ms, handoff_retry_ms, drain_started_ms;
    uint64_t incarnation;
    int exit_code;
    bool stopping;
    uint64_t start_ms;
    uint64_t start_ns; /* uv_hrtime at creation (node-port /health age) */
    struct stet_schema_defaults defaults;
    uint32_t node_id;    /* plain node id: force-node-id or 1 */
    uint32_t generation; /* bumped at every start (metadata key "node_generation") */
    struct stet_metric *commit_duration; /* stet_log_commit_duration_seconds */
    struct stet_node_cluster *cl;        /* cluster.c; NULL on a single node */
    struct stet_node_parts *parts;       /* partitions.c: partition logs on raft groups */
    /* a single node: its partitions' one-voter raft groups (a cluster's are in cluster.c) */
    struct stet_consensus_store *solo_cstore;
    struct stet_consensus *solo_cons;
    uint64_t solo_rpc;
    uint64_t *flushed; /* a cluster: per partition, the applied LSN the last store flush covered */
    struct stet_pending_table query_pending; /* /query requests waiting for partition read barriers */
};

/* routes.c */
void stet_node_collect_metrics(void *arg, struct stet_metrics *m); /* a metrics collector */
void stet_node_port_handle(void *ctx, struct stet_http_request *req);
bool stet_node_admin_extra_handle(void *ctx, struct stet_http_request *req);

#endif
