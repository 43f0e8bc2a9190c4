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
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "admin/admin.h"
#include "common/assert.h"
#include "common/log.h"
#include "h2client/h2client.h"
#include "http/http.h"
#include "ingress/ingress.h"
#include "invocations/invocations.h"
#include "invoker/invoker.h"
#include "metadata/metadata.h"

#define MOD "node"

/* Per-partition timer service: one libuv timer armed for the earliest durable timer. When
 * it fires, due timers become TIMER_FIRED records; the next scan waits until those were
 * applied, so a timer is proposed once (the processor ignores a second firing anyway). */
struct part_timer {
    struct stet_node *node;
    uint32_t partition_id;
    uv_timer_t timer;
    uint64_t armed_at; /* wall-clock ms the timer is armed for, 0 = not armed */
    uint64_t pending_lsn;
};

struct stet_node {
    const struct stet_config *cfg;
    struct part_timer *timers;
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
    struct stet_http_server *ingress_http, *admin_http, *node_http;
    uv_prepare_t flush;
    uv_signal_t sigint, sigterm;
    uint64_t incarnation;
    uint64_t epoch;
    int exit_code;
    bool stopping;
    struct stet_buf rec;
    uint64_t start_ms;
    struct stet_schema_defaults defaults;
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
    stet_env_work_fn work;
    stet_env_done_fn done;
    void *arg;
};

static void work_cb(uv_work_t *r) {
    struct work_req *w = (struct work_req *)r;
    w->work(w->arg);
}

static void after_work_cb(uv_work_t *r, int status) {
    STET_UNUSED(status);
    struct work_req *w = (struct work_req *)r;
    w->done(w->arg);
    free(w);
}

static int env_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct stet_node *n = ctx;
    struct work_req *w = calloc(1, sizeof(*w));
    if (!w) return -ENOMEM;
    w->work = work;
    w->done = done;
    w->arg = arg;
    int rc = uv_queue_work(&n->loop, &w->req, work_cb, after_work_cb);
    if (rc != 0) free(w);
    return rc;
}

/* ---- partitions ---------------------------------------------------------------------- */

/* ---- shuffle: delivers outbox messages to their partitions' logs ----------------------- */

struct shuffle_ack {
    struct stet_node *node;
    uint32_t partition_id;
    uint64_t seq;
};

static void shuffle_delivered_cb(void *arg, int status, uint64_t lsn) {
    STET_UNUSED(lsn);
    struct shuffle_ack *ack = arg;
    struct stet_node *n = ack->node;
    if (status == 0 && !n->stopping) {
        /* the message is durable in the target log: the source may forget it */
        struct stet_record t;
        memset(&t, 0, sizeof(t));
        t.kind = STET_REC_OUTBOX_TRUNCATE;
        uint64_t end;
        stet_partition_key_range(ack->partition_id, n->n_parts, &t.id.partition_key, &end);
        t.outbox_seq = ack->seq;
        stet_node_propose(n, &t, NULL, NULL, NULL);
    }
    free(ack);
}

static void shuffle_deliver(struct stet_node *n, uint32_t partition_id, uint64_t seq) {
    struct stet_buf v = STET_BUF_INIT;
    if (stet_partition_outbox_get(n->store, partition_id, seq, &v) == 0) {
        struct stet_record r;
        if (stet_record_decode(v.data, v.len, &r) == 0) {
            r.dedup_source = partition_id + 1;
            r.dedup_seq = seq;
            struct shuffle_ack *ack = malloc(sizeof(*ack));
            STET_ASSERT(ack != NULL);
            *ack = (struct shuffle_ack){n, partition_id, seq};
            if (stet_node_propose(n, &r, shuffle_delivered_cb, ack, NULL) != 0) {
                free(ack);
                stet_warn(MOD, "cannot deliver outbox message partition=%u seq=%llu; it is retried at the next start",
                          partition_id, (unsigned long long)seq);
            }
        }
    }
    stet_buf_free(&v);
}

/* ---- timers ---------------------------------------------------------------------------- */

static void timer_arm(struct part_timer *t, uint64_t wake_at);

struct timer_fire_ctx {
    struct stet_node *node;
    uint64_t last_lsn;
};

static int timer_fire_cb(void *arg, const struct stet_record *fired) {
    struct timer_fire_ctx *c = arg;
    struct stet_record r = *fired;
    stet_node_propose(c->node, &r, NULL, NULL, &c->last_lsn);
    return 0;
}

static void timer_cb(uv_timer_t *h) {
    struct part_timer *t = h->data;
    struct stet_node *n = t->node;
    t->armed_at = 0;
    if (n->stopping) return;
    if (stet_partition_applied_lsn(n->parts[t->partition_id]) < t->pending_lsn) {
        timer_arm(t, env_now_ms(n) + 1); /* the last batch is not applied yet */
        return;
    }
    struct timer_fire_ctx c = {n, 0};
    uint64_t next = 0;
    stet_partition_timers_due(n->store, t->partition_id, env_now_ms(n), 1000, timer_fire_cb, &c, &next);
    if (c.last_lsn) {
        t->pending_lsn = c.last_lsn;
        timer_arm(t, env_now_ms(n) + 1); /* look again once applied: more may be due */
    } else if (next) {
        timer_arm(t, next);
    }
}

static void timer_arm(struct part_timer *t, uint64_t wake_at) {
    if (t->armed_at && t->armed_at <= wake_at) return;
    uint64_t now = env_now_ms(t->node);
    t->armed_at = wake_at;
    uv_timer_start(&t->timer, timer_cb, wake_at > now ? wake_at - now : 0, 0);
}

static void action_cb(void *ctx, const struct stet_action *a) {
    struct stet_node *n = ctx;
    switch (a->kind) {
    case STET_ACTION_INVOKE: stet_invoker_invoke(n->invoker, &a->id); break;
    case STET_ACTION_NOTIFY: stet_invoker_notify(n->invoker, &a->id, a->entry_index); break;
    case STET_ACTION_INGRESS_RESPONSE: stet_ingress_respond(n->ingress, a); break;
    case STET_ACTION_ABORT: stet_invoker_abort(n->invoker, &a->id); break;
    case STET_ACTION_OUTBOX: shuffle_deliver(n, a->partition_id, a->outbox_seq); break;
    case STET_ACTION_TIMER: timer_arm(&n->timers[a->partition_id], a->wake_at_ms); break;
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
    if (r->timestamp_ms == 0) r->timestamp_ms = env_now_ms(n);
    r->epoch = n->epoch;
    uint32_t pid = stet_partition_for_key(r->id.partition_key, n->n_parts);
    stet_buf_reset(&n->rec);
    struct stet_buf b = STET_BUF_INIT;
    stet_record_encode(&b, r);
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

/* ---- node port (health, metrics) ----------------------------------------------------- */

static void node_port_handle(void *ctx, struct stet_http_request *req) {
    struct stet_node *n = ctx;
    if (req->path_len == 7 && memcmp(req->path, "/health", 7) == 0) {
        stet_http_respond(req, 200, NULL, 0, NULL, 0);
        return;
    }
    if (req->path_len == 8 && memcmp(req->path, "/metrics", 8) == 0) {
        struct stet_buf b = STET_BUF_INIT;
        struct stet_log_stats ls;
        stet_log_stats(n->log, &ls);
        struct stet_invoker_stats is;
        stet_invoker_stats(n->invoker, &is);
        stet_buf_printf(&b, "# TYPE stet_log_appends_total counter\nstet_log_appends_total %llu\n",
                        (unsigned long long)ls.appends);
        stet_buf_printf(&b, "# TYPE stet_log_commits_total counter\nstet_log_commits_total %llu\n",
                        (unsigned long long)ls.commits);
        stet_buf_printf(&b, "# TYPE stet_invoker_attempts_total counter\nstet_invoker_attempts_total %llu\n",
                        (unsigned long long)is.attempts_started);
        stet_buf_printf(&b, "# TYPE stet_invoker_retries_total counter\nstet_invoker_retries_total %llu\n",
                        (unsigned long long)is.retries);
        struct stet_http_header h = {"content-type", 12, "text/plain; version=0.0.4; charset=utf-8", 40};
        stet_http_respond(req, 200, &h, 1, b.data, b.len);
        stet_buf_free(&b);
        return;
    }
    stet_http_respond(req, 404, NULL, 0, NULL, 0);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static bool admin_extra_handler(void *ctx, struct stet_http_request *req) {
    struct stet_node *n = ctx;
    return stet_invocations_handle(n->invocations, req);
}

static void flush_cb(uv_prepare_t *h) {
    struct stet_node *n = h->data;
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
                               .random_u64 = env_random, .submit = env_submit};
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
    rc = stet_metadata_create_local(n->store, &n->md);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the metadata store: %s", strerror(-rc));
        goto fail;
    }
    rc = stet_h2_pool_create(&n->loop, NULL, &n->pool);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the HTTP/2 client: %s", strerror(-rc));
        goto fail;
    }
    rc = stet_admin_create(&n->loop, n->pool, n->md, cfg, &n->admin, err, errlen);
    if (rc != 0) goto fail;
    rc = stet_invoker_create(n, n->pool, &n->invoker);
    if (rc != 0) goto fail;
    rc = stet_ingress_create(n, &n->ingress);
    if (rc != 0) goto fail;
    rc = stet_invocations_create(n, &n->invocations);
    if (rc != 0) goto fail;
    stet_admin_set_extra_handler(n->admin, admin_extra_handler, n);

    n->parts = calloc(n->n_parts, sizeof(*n->parts));
    STET_ASSERT(n->parts != NULL);
    n->timers = calloc(n->n_parts, sizeof(*n->timers));
    STET_ASSERT(n->timers != NULL);
    for (uint32_t i = 0; i < n->n_parts; i++) {
        n->timers[i].node = n;
        n->timers[i].partition_id = i;
        uv_timer_init(&n->loop, &n->timers[i].timer);
        n->timers[i].timer.data = &n->timers[i];
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
    if (n->pool) stet_h2_pool_destroy(n->pool, NULL, NULL);
    uv_run(&n->loop, UV_RUN_NOWAIT);
    if (n->ingress) stet_ingress_destroy(n->ingress);
    if (n->invocations) stet_invocations_destroy(n->invocations);
    if (n->admin) stet_admin_destroy(n->admin);
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
