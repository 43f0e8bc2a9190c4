/* Admin API: routing, handlers, and the schema-change pipeline.
 *
 * Routing (http-api.md §3.1): an optional /v2../v4 prefix (split off by
 * stet_http_path_api_version, http.h) selects the API version (none = "unknown", which
 * behaves like v3/v4); /v1/… answers 400; other /vN prefixes 404. Known
 * paths with another method answer 405 with an `allow` header listing methods in axum's
 * order; unknown paths go to the extra handler, then 404 with an empty body.
 *
 * Operations that change the registry are `struct admin_op`s:
 *
 *   POST /deployments        DISCOVER --ok--> (dry run) respond from a scratch snapshot
 *                                      \--ok--> QUEUED --turn--> WRITING --put ok--> respond
 *   PATCH /deployments/{id}  same as POST
 *   DELETE, PATCH /services  QUEUED --turn--> WRITING --put ok--> respond
 *
 *   WRITING --(-ESTALE)--> reload registry, recompute (<= 3 times) --> WRITING
 *
 * Invariants:
 *   1. at most one op is WRITING (admin->writing), and only it has a metadata put in flight;
 *   2. admin->schema is the registry as stored at version admin->md_version;
 *   3. an op whose client went away (abort callback) has req == NULL; if it was still
 *      discovering it is cancelled, if it was queued it is dropped, if it was writing the
 *      write completes and nobody is answered.
 * Errors are answered in restate's three formats (§3.2): JSON {message, restate_code},
 * text/plain for extractor errors, and empty bodies for 404/405/501.
 */
#include "admin/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "admin/admin_internal.h"
#include "common/assert.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "json/json.h"

#define SCHEMA_KEY "schema"
#define MAX_LISTENERS 8
/* In a cluster, admin writes through several nodes race for the one schema key: a write that
 * lost its compare-and-swap re-reads and tries again (each retry follows a write that won). */
#define MAX_STALE_RETRIES 16

enum op_kind { OP_REGISTER, OP_UPDATE, OP_DELETE, OP_PATCH };
enum op_state { OP_DISCOVERING, OP_QUEUED, OP_WRITING, OP_CANCELLING };

struct admin_op {
    struct admin_op *next, *prev; /* admin->ops (all live ops) */
    struct admin_op *qnext;       /* admin->queue */
    struct stet_admin *admin;
    struct stet_http_request *req; /* NULL once the client went away */
    int api_version;
    enum op_kind kind;
    enum op_state state;
    struct stet_admin_discovery *disc;
    int stale_retries;

    /* REGISTER / UPDATE */
    bool allow_breaking, overwrite, dry_run;
    struct stet_deployment_schema dep; /* discovered, complete; copied for each compute */
    /* UPDATE / DELETE */
    uint8_t id[16];
    /* PATCH */
    char *service;
    struct stet_service_patch patch;

    /* result of the last compute */
    enum stet_register_result result;
    uint8_t result_id[16];
    struct stet_schema *next_schema;
};

struct listener {
    stet_admin_schema_cb cb;
    void *arg;
};

struct admin_sync;

struct stet_admin {
    uv_loop_t *loop;
    struct stet_h2_pool *pool;
    struct stet_metadata *md;
    const struct stet_env *env;
    struct stet_env default_env;
    char *cluster_name;
    char *advertised_ingress;
    struct stet_schema_defaults defaults;
    struct stet_admin_discovery_options disc_opts;

    struct stet_schema *schema;
    uint64_t md_version;

    struct listener listeners[MAX_LISTENERS];
    size_t n_listeners;
    stet_admin_extra_handler_fn extra;
    void *extra_ctx;

    struct admin_op *ops;
    struct admin_op *queue_head, *queue_tail;
    struct admin_op *writing;
    bool draining;
    bool destroying;
    struct admin_sync *syncs; /* requests waiting for the metadata read barrier */
    size_t (*members)(void *ctx, uint32_t *out, size_t max);
    void *members_ctx;

    struct stet_admin_stats stats;
};

/* ---- responses ---- */

static const struct stet_http_header json_headers[] = {
    {"content-type", 12, "application/json", 16},
    {"vary", 4, "accept-encoding", 15},
};

static void respond_json(struct stet_http_request *req, int status, const struct stet_buf *body, const char *location) {
    struct stet_http_header h[3] = {json_headers[0], json_headers[1]};
    size_t n = 2;
    if (location != NULL) h[n++] = (struct stet_http_header){"location", 8, location, strlen(location)};
    stet_http_respond(req, status, h, n, body->data, body->len);
}

static void respond_error(struct stet_http_request *req, const struct stet_admin_error *e) {
    if (e->text) {
        static const struct stet_http_header th[] = {{"content-type", 12, "text/plain; charset=utf-8", 25}};
        stet_http_respond(req, e->status, th, 1, e->message, strlen(e->message));
        return;
    }
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "message");
    stet_json_write_string(&w, e->message);
    stet_json_key(&w, "restate_code");
    stet_json_write_string(&w, e->restate_code); /* NULL writes null */
    stet_json_end_object(&w);
    respond_json(req, e->status, &b, NULL);
    stet_buf_free(&b);
}

static void respond_message(struct stet_http_request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void respond_message(struct stet_http_request *req, int status, const char *code, const char *fmt, ...) {
    struct stet_admin_error e = {.status = status, .text = false, .restate_code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    respond_error(req, &e);
}

static void respond_empty(struct stet_http_request *req, int status) { stet_http_respond(req, status, NULL, 0, NULL, 0); }

static void respond_405(struct stet_http_request *req, const char *allow) {
    struct stet_http_header h = {"allow", 5, allow, strlen(allow)};
    stet_http_respond(req, 405, &h, 1, NULL, 0);
}

static void respond_schema_error(struct stet_http_request *req, const struct stet_schema_error *se) {
    struct stet_admin_error e = {.status = se->http_status, .text = false, .restate_code = se->restate_code};
    snprintf(e.message, sizeof(e.message), "%s", se->message);
    respond_error(req, &e);
}

/* ---- schema snapshot management ---- */

static void notify(struct stet_admin *a) {
    for (size_t i = 0; i < a->n_listeners; i++) a->listeners[i].cb(a->listeners[i].arg, a->schema);
}

static void swap_schema(struct stet_admin *a, struct stet_schema *next, uint64_t md_version) {
    struct stet_schema *old = a->schema;
    a->schema = next;
    a->md_version = md_version;
    notify(a);
    stet_schema_unref(old);
}

/* Re-reads the registry from the metadata store. */
static int reload_schema(struct stet_admin *a, char *err, size_t errlen) {
    struct stet_buf value = STET_BUF_INIT;
    uint64_t version = 0;
    int rc = stet_metadata_get(a->md, SCHEMA_KEY, &version, &value);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read the schema registry from the metadata store: %s", strerror(-rc));
        stet_buf_free(&value);
        return rc;
    }
    struct stet_schema *s = NULL;
    if (rc == 1) {
        s = stet_schema_create_empty();
    } else {
        rc = stet_schema_from_json((const char *)value.data, value.len, &s, err, errlen);
        if (rc != 0) {
            stet_buf_free(&value);
            return rc;
        }
    }
    stet_buf_free(&value);
    if (a->schema == NULL) {
        a->schema = s;
        a->md_version = version;
    } else {
        swap_schema(a, s, version);
    }
    return 0;
}

/* Takes the stored registry when another node changed it (or a put of ours whose outcome was
 * unknown went through). */
static void reload_schema_if_newer(struct stet_admin *a) {
    uint64_t version = 0;
    struct stet_buf value = STET_BUF_INIT;
    int rc = stet_metadata_get(a->md, SCHEMA_KEY, &version, &value);
    stet_buf_free(&value);
    if (rc < 0 || version <= a->md_version || a->destroying) return;
    char err[256];
    if (reload_schema(a, err, sizeof(err)) != 0) stet_error("admin", "%s", err);
}

/* ---- op lifecycle ---- */

static void maybe_finish_destroy(struct stet_admin *a);

static struct admin_op *op_new(struct stet_admin *a, struct stet_http_request *req, int api_version,
                               enum op_kind kind) {
    struct admin_op *op = calloc(1, sizeof(*op));
    STET_ASSERT(op != NULL);
    op->admin = a;
    op->req = req;
    op->api_version = api_version;
    op->kind = kind;
    op->next = a->ops;
    if (a->ops) a->ops->prev = op;
    a->ops = op;
    return op;
}

static void op_free(struct admin_op *op) {
    struct stet_admin *a = op->admin;
    if (op->prev) op->prev->next = op->next;
    else a->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    stet_schema_deployment_clear(&op->dep);
    stet_schema_unref(op->next_schema);
    free(op->service);
    free(op);
    maybe_finish_destroy(a);
}

static void op_on_abort(struct stet_http_request *req, void *arg);

static void op_watch(struct admin_op *op) { stet_http_request_on_abort(op->req, op_on_abort, op); }

static void op_discovery_cancelled(void *arg) { op_free(arg); }

static void queue_remove(struct stet_admin *a, struct admin_op *op) {
    struct admin_op **pp = &a->queue_head;
    struct admin_op *prev = NULL;
    while (*pp != NULL && *pp != op) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    STET_ASSERT(*pp == op);
    *pp = op->qnext;
    if (a->queue_tail == op) a->queue_tail = prev;
    op->qnext = NULL;
}

static void op_on_abort(struct stet_http_request *req, void *arg) {
    STET_UNUSED(req);
    struct admin_op *op = arg;
    op->req = NULL;
    switch (op->state) {
    case OP_DISCOVERING:
        op->state = OP_CANCELLING;
        stet_admin_discovery_cancel(op->disc, op_discovery_cancelled, op);
        op->disc = NULL;
        break;
    case OP_QUEUED:
        queue_remove(op->admin, op);
        op_free(op);
        break;
    case OP_WRITING:
    case OP_CANCELLING:
        break; /* completes without an answer */
    }
}

/* ---- computing changes ---- */

static void render_register_response(struct stet_admin *a, const struct stet_schema *s, const uint8_t id[16],
                                     struct stet_buf *out) {
    const struct stet_deployment_schema *d = stet_schema_find_deployment(s, id);
    STET_ASSERT(d != NULL);
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    stet_schema_render_register_response(&w, d, &a->defaults);
}

static void render_detailed_deployment(struct stet_admin *a, const struct stet_schema *s, const uint8_t id[16],
                                       struct stet_buf *out) {
    const struct stet_deployment_schema *d = stet_schema_find_deployment(s, id);
    STET_ASSERT(d != NULL);
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    stet_schema_render_deployment(&w, d, true, &a->defaults);
}

static void render_service(struct stet_admin *a, const struct stet_schema *s, const char *name, size_t len,
                           struct stet_buf *out) {
    const struct stet_deployment_schema *dep;
    const struct stet_service_schema *svc = stet_schema_find_service_dep(s, name, len, &dep);
    STET_ASSERT(svc != NULL);
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    stet_schema_render_service(&w, dep, svc, &a->defaults);
}

/* Computes op against the current snapshot. Returns 0 with op->next_schema (NULL when there is
 * nothing to store), or -1 after answering the error. */
static int op_compute(struct admin_op *op) {
    struct stet_admin *a = op->admin;
    struct stet_schema_error se = {0};
    int rc = 0;
    stet_schema_unref(op->next_schema);
    op->next_schema = NULL;
    switch (op->kind) {
    case OP_REGISTER: {
        struct stet_deployment_schema copy;
        stet_schema_deployment_copy(&op->dep, &copy);
        rc = stet_schema_register(a->schema, &copy, op->allow_breaking, op->overwrite, &op->next_schema, &op->result,
                                  op->result_id, &se);
        break;
    }
    case OP_UPDATE: {
        struct stet_deployment_schema copy;
        stet_schema_deployment_copy(&op->dep, &copy);
        rc = stet_schema_update_deployment(a->schema, op->id, &copy, op->overwrite, &op->next_schema, &se);
        break;
    }
    case OP_DELETE: rc = stet_schema_remove_deployment(a->schema, op->id, &op->next_schema, &se); break;
    case OP_PATCH:
        rc = stet_schema_patch_service(a->schema, op->service, strlen(op->service), &op->patch, &op->next_schema, &se);
        break;
    }
    if (rc != 0) {
        if (op->req != NULL) {
            respond_schema_error(op->req, &se);
            op->req = NULL;
        }
        return -1;
    }
    if (op->next_schema != NULL) stet_schema_check(op->next_schema);
    return 0;
}

/* Answers a successful op from snapshot s. */
static void op_respond(struct admin_op *op, const struct stet_schema *s) {
    struct stet_admin *a = op->admin;
    if (op->req == NULL) return;
    struct stet_buf body = STET_BUF_INIT;
    switch (op->kind) {
    case OP_REGISTER: {
        int status = 201;
        bool v2 = op->api_version == 2;
        if (op->result == STET_REGISTER_UNCHANGED) {
            if (v2) {
                char id[STET_DEPLOYMENT_ID_STRLEN + 1];
                stet_deployment_id_format(op->result_id, id);
                respond_message(op->req, 409, NULL, "Conflict: deployment %s already exists", id);
                op->req = NULL;
                break;
            }
            status = 200;
        } else if (op->result == STET_REGISTER_OVERWRITTEN) {
            status = v2 ? 201 : 200;
        }
        char loc[16 + STET_DEPLOYMENT_ID_STRLEN];
        char id[STET_DEPLOYMENT_ID_STRLEN + 1];
        stet_deployment_id_format(op->result_id, id);
        snprintf(loc, sizeof(loc), "deployments/%s", id);
        render_register_response(a, s, op->result_id, &body);
        respond_json(op->req, status, &body, loc);
        break;
    }
    case OP_UPDATE:
        render_detailed_deployment(a, s, op->id, &body);
        respond_json(op->req, 200, &body, NULL);
        break;
    case OP_DELETE: respond_empty(op->req, 202); break;
    case OP_PATCH:
        render_service(a, s, op->service, strlen(op->service), &body);
        respond_json(op->req, 200, &body, NULL);
        break;
    }
    op->req = NULL;
    stet_buf_free(&body);
}

static void run_queue(struct stet_admin *a);

static void op_put_done(void *arg, int status, uint64_t new_version) {
    struct admin_op *op = arg;
    struct stet_admin *a = op->admin;
    STET_ASSERT(a->writing == op);
    a->writing = NULL;
    bool done = true;
    if (status == 0) {
        a->stats.schema_writes_total++;
        if (!a->destroying) {
            swap_schema(a, op->next_schema, new_version);
        } else {
            stet_schema_unref(a->schema);
            a->schema = op->next_schema;
            a->md_version = new_version;
        }
        op->next_schema = NULL;
        op_respond(op, a->schema);
    } else if ((status == -ESTALE || status == -ECANCELED) && !a->destroying && op->stale_retries < MAX_STALE_RETRIES) {
        op->stale_retries++;
        char err[256];
        stet_warn("admin", "schema registry changed concurrently (stored version %llu), re-reading and retrying",
                  (unsigned long long)new_version);
        if (reload_schema(a, err, sizeof(err)) != 0) {
            if (op->req) respond_message(op->req, 500, NULL, "Internal server error: %s", err);
            op->req = NULL;
        } else {
            /* retry first: put it back at the head of the queue */
            done = false;
            op->state = OP_QUEUED;
            op->qnext = a->queue_head;
            a->queue_head = op;
            if (a->queue_tail == NULL) a->queue_tail = op;
        }
    } else if (status == -EAGAIN || status == -ETIMEDOUT || status == -ENOTCONN || status == -ESHUTDOWN) {
        /* a cluster without a reachable quorum of metadata servers */
        stet_warn("admin", "storing the schema registry failed: %s", strerror(-status));
        if (op->req) {
            if (status == -ETIMEDOUT)
                respond_message(op->req, 503, NULL,
                                "The metadata store did not confirm the change in time; it may or may not have been "
                                "applied: list the deployments before retrying");
            else
                respond_message(op->req, 503, NULL,
                                "The metadata store is unavailable: no quorum of metadata servers is reachable. The "
                                "change was not applied; retry once a majority of the nodes is up");
        }
        op->req = NULL;
        reload_schema_if_newer(a);
    } else {
        stet_error("admin", "storing the schema registry failed rc=%d; the change was not applied", status);
        if (op->req)
            respond_message(op->req, 500, NULL, "Internal server error: cannot store the schema registry: %s",
                            status == -ESTALE ? "concurrent modification" : strerror(-status));
        op->req = NULL;
    }
    if (!a->destroying) run_queue(a);
    if (done) op_free(op); /* last: may finish a pending destroy and free the admin */
}

static void run_queue(struct stet_admin *a) {
    if (a->draining) return;
    a->draining = true;
    while (a->writing == NULL && a->queue_head != NULL && !a->destroying) {
        struct admin_op *op = a->queue_head;
        a->queue_head = op->qnext;
        if (a->queue_head == NULL) a->queue_tail = NULL;
        op->qnext = NULL;
        if (op_compute(op) != 0) {
            op_free(op);
            continue;
        }
        if (op->next_schema == NULL) { /* nothing to store (unchanged) */
            op_respond(op, a->schema);
            op_free(op);
            continue;
        }
        struct stet_buf json = STET_BUF_INIT;
        stet_schema_to_json(op->next_schema, &json);
        op->state = OP_WRITING;
        a->writing = op;
        stet_metadata_put(a->md, SCHEMA_KEY, json.data, json.len, a->md_version, op_put_done, op);
        stet_buf_free(&json);
    }
    a->draining = false;
}

static void op_enqueue(struct admin_op *op) {
    struct stet_admin *a = op->admin;
    op->state = OP_QUEUED;
    op->qnext = NULL;
    if (a->queue_tail) a->queue_tail->qnext = op;
    else a->queue_head = op;
    a->queue_tail = op;
    run_queue(a);
}

/* Dry run: compute against the current snapshot, answer, store nothing. */
static void op_dry_run(struct admin_op *op) {
    if (op_compute(op) == 0) op_respond(op, op->next_schema ? op->next_schema : op->admin->schema);
    op_free(op);
}

/* ---- discovery-driven ops ---- */

static void fresh_deployment_id(struct stet_admin *a, uint8_t id[16]) {
    uint64_t now = stet_env_now_ms(a->env);
    uint64_t hi = stet_env_random(a->env), lo = stet_env_random(a->env);
    stet_ulid_make(now, hi, lo, id);
}

static void op_discovered(void *arg, struct stet_deployment_schema *dep, const struct stet_admin_error *error) {
    struct admin_op *op = arg;
    struct stet_admin *a = op->admin;
    op->disc = NULL;
    if (error != NULL) {
        a->stats.discovery_failures_total++;
        stet_warn("admin", "discovery failed: %s", error->message);
        if (op->req) respond_error(op->req, error);
        op->req = NULL;
        op_free(op);
        return;
    }
    /* keep what the request decided (id, uri, headers, metadata), take the manifest part */
    free(op->dep.sdk_version);
    op->dep.sdk_version = dep->sdk_version;
    dep->sdk_version = NULL;
    op->dep.services = dep->services;
    op->dep.n_services = dep->n_services;
    dep->services = NULL;
    dep->n_services = 0;
    op->dep.min_protocol = dep->min_protocol;
    op->dep.max_protocol = dep->max_protocol;
    op->dep.request_response = dep->request_response;
    op->dep.use_http_11 = dep->use_http_11;
    if (op->kind == OP_REGISTER) a->stats.registrations_total++;
    if (op->dry_run) op_dry_run(op);
    else op_enqueue(op);
}

static int op_start_discovery(struct admin_op *op, struct stet_admin_error *e) {
    struct stet_admin *a = op->admin;
    struct stet_admin_discovery_request dr = {
        .uri = op->dep.uri,
        .headers = op->dep.headers,
        .n_headers = op->dep.n_headers,
        .use_http_11 = op->dep.use_http_11,
        .cluster_name = a->cluster_name,
        .attempt_timeout_ms = a->disc_opts.attempt_timeout_ms,
        .max_retries = a->disc_opts.max_retries,
        .retry_initial_ms = a->disc_opts.retry_initial_ms,
    };
    op->state = OP_DISCOVERING;
    return stet_admin_discover(a->loop, a->pool, &dr, op_discovered, op, &op->disc, e);
}

/* ---- handlers ---- */

static int check_json_request(struct stet_http_request *req) {
    size_t ctl = 0;
    const char *ct = stet_http_request_header(req, "content-type", &ctl);
    struct stet_admin_error e;
    if (stet_admin_check_json_content_type(ct, ctl, &e) != 0) {
        respond_error(req, &e);
        return -1;
    }
    return 0;
}

static void handle_version(struct stet_admin *a, struct stet_http_request *req) {
    static const char *const features[] = {
        "vqueues", "protocol_v7", "invoker_yield", "kafka_scope", "unique_random_seeds", "scoped_virtual_objects",
        "vqueues_async_refill", "vqueue_obsolete_cleanup", "scoped_state_table_migration",
        "scoped_promise_table_migration", "vqueues_migration_skip_completed",
        "preflight_invocation_termination_retention",
    };
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "version");
    stet_json_write_string(&w, STET_CONFIG_SERVER_VERSION);
    stet_json_key(&w, "min_admin_api_version");
    stet_json_write_uint(&w, STET_HTTP_ADMIN_API_VERSION_MIN);
    stet_json_key(&w, "max_admin_api_version");
    stet_json_write_uint(&w, STET_HTTP_ADMIN_API_VERSION_MAX);
    stet_json_key(&w, "ingress_endpoint");
    stet_json_write_string(&w, a->advertised_ingress);
    stet_json_key(&w, "features");
    stet_json_begin_object(&w);
    for (size_t i = 0; i < STET_ARRAY_LEN(features); i++) {
        stet_json_key(&w, features[i]);
        stet_json_write_bool(&w, false);
    }
    stet_json_end_object(&w);
    stet_json_end_object(&w);
    respond_json(req, 200, &b, NULL);
    stet_buf_free(&b);
}

static void handle_cluster_health(struct stet_admin *a, struct stet_http_request *req) {
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "cluster_name");
    stet_json_write_string(&w, a->cluster_name);
    stet_json_key(&w, "metadata_cluster_health");
    stet_json_begin_object(&w);
    stet_json_key(&w, "members");
    stet_json_begin_array(&w);
    uint32_t ids[64];
    size_t nm = a->members ? a->members(a->members_ctx, ids, 64) : 0;
    if (a->members == NULL) ids[nm++] = 1;
    for (size_t i = 0; i < nm; i++) stet_json_write_uint(&w, ids[i]);
    stet_json_end_array(&w);
    stet_json_end_object(&w);
    stet_json_end_object(&w);
    respond_json(req, 200, &b, NULL);
    stet_buf_free(&b);
}

static void handle_register(struct stet_admin *a, struct stet_http_request *req, int api_version) {
    if (check_json_request(req) != 0) return;
    struct stet_admin_register_request rr;
    struct stet_admin_error e;
    if (stet_admin_parse_register_request(req->body, req->body_len, &rr, &e) != 0) {
        respond_error(req, &e);
        return;
    }
    /* force defaults to true only under /v2 (and v1) */
    bool force = rr.force >= 0 ? rr.force == 1 : api_version == 2;
    bool allow_breaking = force || rr.breaking;
    bool overwrite = force;
    if (!overwrite) {
        const struct stet_deployment_schema *existing = stet_schema_find_deployment_by_uri(a->schema, rr.uri);
        if (existing != NULL) {
            struct admin_op tmp = {.admin = a, .req = req, .api_version = api_version, .kind = OP_REGISTER,
                                   .result = STET_REGISTER_UNCHANGED};
            memcpy(tmp.result_id, existing->id, 16);
            op_respond(&tmp, a->schema);
            stet_admin_register_request_free(&rr);
            return;
        }
    }
    struct admin_op *op = op_new(a, req, api_version, OP_REGISTER);
    op->allow_breaking = allow_breaking;
    op->overwrite = overwrite;
    op->dry_run = rr.dry_run;
    op->dep.uri = rr.uri;
    rr.uri = NULL;
    op->dep.headers = rr.headers;
    op->dep.n_headers = rr.n_headers;
    rr.headers = NULL;
    rr.n_headers = 0;
    op->dep.metadata = rr.metadata;
    op->dep.n_metadata = rr.n_metadata;
    rr.metadata = NULL;
    rr.n_metadata = 0;
    op->dep.use_http_11 = rr.use_http_11;
    op->dep.created_at_ms = stet_env_now_ms(a->env);
    fresh_deployment_id(a, op->dep.id);
    stet_admin_register_request_free(&rr);
    if (op_start_discovery(op, &e) != 0) {
        respond_error(req, &e);
        op->req = NULL;
        op_free(op);
        return;
    }
    op_watch(op);
}

static void handle_update_deployment(struct stet_admin *a, struct stet_http_request *req, int api_version,
                                     const uint8_t id[16], bool is_put) {
    if (check_json_request(req) != 0) return;
    struct stet_admin_update_request ur;
    struct stet_admin_error e;
    if (stet_admin_parse_update_request(req->body, req->body_len, &ur, &e) != 0) {
        respond_error(req, &e);
        return;
    }
    char idbuf[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, idbuf);
    if (is_put && api_version != 2) {
        respond_message(req, 405, NULL, "PUT deployment is deprecated, use PATCH instead");
        stet_admin_update_request_free(&ur);
        return;
    }
    const struct stet_deployment_schema *existing = stet_schema_find_deployment(a->schema, id);
    if (existing == NULL) {
        respond_message(req, 404, NULL, "The requested deployment '%s' does not exist", idbuf);
        stet_admin_update_request_free(&ur);
        return;
    }
    if (ur.uri == NULL && !ur.has_headers && ur.use_http_11 < 0) {
        struct stet_buf b = STET_BUF_INIT;
        render_detailed_deployment(a, a->schema, id, &b);
        respond_json(req, 200, &b, NULL);
        stet_buf_free(&b);
        stet_admin_update_request_free(&ur);
        return;
    }
    struct admin_op *op = op_new(a, req, api_version, OP_UPDATE);
    memcpy(op->id, id, 16);
    memcpy(op->dep.id, id, 16);
    op->overwrite = ur.overwrite;
    op->dry_run = ur.dry_run;
    if (ur.uri != NULL) {
        op->dep.uri = ur.uri;
        ur.uri = NULL;
        op->dep.use_http_11 = ur.use_http_11 == 1;
    } else {
        op->dep.uri = strdup(existing->uri);
        STET_ASSERT(op->dep.uri != NULL);
        op->dep.use_http_11 = ur.use_http_11 >= 0 ? ur.use_http_11 == 1 : existing->use_http_11;
    }
    if (ur.has_headers) {
        op->dep.headers = ur.headers;
        op->dep.n_headers = ur.n_headers;
        ur.headers = NULL;
        ur.n_headers = 0;
    } else {
        /* keep the existing headers */
        if (existing->n_headers) {
            op->dep.headers = calloc(existing->n_headers, sizeof(*op->dep.headers));
            STET_ASSERT(op->dep.headers != NULL);
            for (size_t i = 0; i < existing->n_headers; i++) {
                op->dep.headers[i].key = strdup(existing->headers[i].key);
                op->dep.headers[i].value = strdup(existing->headers[i].value);
                STET_ASSERT(op->dep.headers[i].key && op->dep.headers[i].value);
            }
            op->dep.n_headers = existing->n_headers;
        }
    }
    op->dep.created_at_ms = existing->created_at_ms;
    stet_admin_update_request_free(&ur);
    if (op_start_discovery(op, &e) != 0) {
        respond_error(req, &e);
        op->req = NULL;
        op_free(op);
        return;
    }
    op_watch(op);
}

static void handle_deployment(struct stet_admin *a, struct stet_http_request *req, int api_version,
                              const char *idp, size_t idl) {
    bool get = stet_http_method_is_get_or_head(req), del = stet_http_method_is(req, "DELETE"),
         patch = stet_http_method_is(req, "PATCH"), put = stet_http_method_is(req, "PUT");
    if (!get && !del && !patch && !put) {
        respond_405(req, "GET,HEAD,DELETE,PATCH,PUT");
        return;
    }
    uint8_t id[16];
    struct stet_admin_error e;
    if (stet_admin_parse_deployment_id(idp, idl, id, &e) != 0) {
        respond_error(req, &e);
        return;
    }
    char idbuf[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, idbuf);
    if (get) {
        if (stet_schema_find_deployment(a->schema, id) == NULL) {
            respond_message(req, 404, NULL, "The requested deployment '%s' does not exist", idbuf);
            return;
        }
        struct stet_buf b = STET_BUF_INIT;
        render_detailed_deployment(a, a->schema, id, &b);
        respond_json(req, 200, &b, NULL);
        stet_buf_free(&b);
        return;
    }
    if (del) {
        int force = stet_admin_query_bool(req->query, req->query_len, "force");
        if (force < 0) {
            stet_admin__error(&e, 400, true, NULL,
                              "Failed to deserialize query string: force: provided string was not `true` or `false`");
            respond_error(req, &e);
            return;
        }
        if (force != 1) {
            respond_empty(req, 501);
            return;
        }
        struct admin_op *op = op_new(a, req, api_version, OP_DELETE);
        memcpy(op->id, id, 16);
        op_watch(op);
        op_enqueue(op);
        return;
    }
    handle_update_deployment(a, req, api_version, id, put);
}

/* Percent-decodes a path segment into a NUL-terminated string (caller frees), or answers 400. */
static char *decode_segment(struct stet_http_request *req, const char *p, size_t len, const char *what) {
    struct stet_buf b = STET_BUF_INIT;
    if (stet_percent_decode(p, len, &b) != 0 || memchr(b.data, '\0', b.len) != NULL) {
        struct stet_admin_error e;
        stet_admin__error(&e, 400, true, NULL, "Invalid URL: Cannot parse `%s` with value `%.*s`: invalid UTF-8", what,
                          (int)len, p);
        respond_error(req, &e);
        stet_buf_free(&b);
        return NULL;
    }
    char *s = stet_buf_strdup(&b);
    stet_buf_free(&b);
    return s;
}

static void handle_service(struct stet_admin *a, struct stet_http_request *req, int api_version, const char *np,
                           size_t nl) {
    bool get = stet_http_method_is_get_or_head(req), patch = stet_http_method_is(req, "PATCH");
    if (!get && !patch) {
        respond_405(req, "GET,HEAD,PATCH");
        return;
    }
    char *name = decode_segment(req, np, nl, "service");
    if (name == NULL) return;
    if (patch) {
        if (check_json_request(req) != 0) {
            free(name);
            return;
        }
        struct stet_service_patch p;
        struct stet_admin_error e;
        if (stet_admin_parse_service_patch(req->body, req->body_len, &p, &e) != 0) {
            respond_error(req, &e);
            free(name);
            return;
        }
        if (!stet_service_patch_is_empty(&p)) {
            struct admin_op *op = op_new(a, req, api_version, OP_PATCH);
            op->service = name;
            op->patch = p;
            op_watch(op);
            op_enqueue(op);
            return;
        }
        /* all fields null: answer like GET */
    }
    if (stet_schema_find_service(a->schema, name, strlen(name)) == NULL) {
        respond_message(req, 404, NULL, "The requested service '%s' does not exist", name);
    } else {
        struct stet_buf b = STET_BUF_INIT;
        render_service(a, a->schema, name, strlen(name), &b);
        respond_json(req, 200, &b, NULL);
        stet_buf_free(&b);
    }
    free(name);
}

static void handle_handlers(struct stet_admin *a, struct stet_http_request *req, const char *np, size_t nl,
                            const char *hp, size_t hl) {
    if (!stet_http_method_is_get_or_head(req)) {
        respond_405(req, "GET,HEAD");
        return;
    }
    char *name = decode_segment(req, np, nl, "service");
    if (name == NULL) return;
    char *handler = NULL;
    if (hp != NULL && (handler = decode_segment(req, hp, hl, "handler")) == NULL) {
        free(name);
        return;
    }
    const struct stet_deployment_schema *dep;
    const struct stet_service_schema *svc = stet_schema_find_service_dep(a->schema, name, strlen(name), &dep);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    if (handler == NULL) {
        if (svc == NULL) {
            respond_message(req, 404, NULL, "The requested service '%s' does not exist", name);
        } else {
            stet_json_begin_object(&w);
            stet_json_key(&w, "handlers");
            stet_json_begin_array(&w);
            for (size_t i = 0; i < svc->n_handlers; i++)
                stet_schema_render_handler(&w, dep, svc, &svc->handlers[i], &a->defaults);
            stet_json_end_array(&w);
            stet_json_end_object(&w);
            respond_json(req, 200, &b, NULL);
        }
    } else {
        const struct stet_handler_schema *h = svc ? stet_schema_find_handler(svc, handler, strlen(handler)) : NULL;
        if (h == NULL) {
            respond_message(req, 404, NULL, "The requested handler '%s' on service '%s' does not exist", handler, name);
        } else {
            stet_schema_render_handler(&w, dep, svc, h, &a->defaults);
            respond_json(req, 200, &b, NULL);
        }
    }
    stet_buf_free(&b);
    free(name);
    free(handler);
}

static bool seg_is(const struct stet_admin_route *r, size_t i, const char *s) {
    size_t n = strlen(s);
    return i < r->n_segments && r->seg[i].len == n && memcmp(r->seg[i].p, s, n) == 0;
}

/* With a replicated metadata store, every request but health/version first waits for the read
 * barrier, so what it reads (and computes a change from) includes every change any node
 * acknowledged before it arrived. A barrier that fails (no quorum) leaves the local copy: reads
 * answer from it, writes then fail on their own. */
struct admin_sync {
    struct admin_sync *prev, *next;
    struct stet_admin *admin; /* NULL once the admin is destroyed */
    struct stet_http_request *req; /* NULL once aborted */
    void (*done)(void *arg);       /* stet_admin_sync_schema's caller, instead of a request */
    void *done_arg;
};

static void admin_dispatch(struct stet_admin *a, struct stet_http_request *req);

static void sync_unlink(struct admin_sync *y) {
    struct stet_admin *a = y->admin;
    if (!a) return;
    if (y->prev) y->prev->next = y->next;
    else a->syncs = y->next;
    if (y->next) y->next->prev = y->prev;
    y->admin = NULL;
}

static void sync_abort(struct stet_http_request *req, void *arg) {
    STET_UNUSED(req);
    struct admin_sync *y = arg;
    y->req = NULL;
}

static void sync_done(void *arg, int status) {
    struct admin_sync *y = arg;
    struct stet_admin *a = y->admin;
    struct stet_http_request *req = y->req;
    void (*done)(void *) = y->done;
    void *done_arg = y->done_arg;
    sync_unlink(y);
    free(y);
    if (done) {
        if (a) reload_schema_if_newer(a);
        done(done_arg);
        return;
    }
    if (a == NULL || req == NULL) return;
    stet_http_request_on_abort(req, NULL, NULL);
    if (status != 0) stet_debug("admin", "metadata read barrier failed (%s): answering from the local copy", strerror(-status));
    reload_schema_if_newer(a);
    admin_dispatch(a, req);
}

static bool needs_barrier(const struct stet_http_request *req) {
    const char *p = NULL;
    size_t n = 0;
    if (!stet_http_admin_path(req, &p, &n)) return false;
    static const char *const local_only[] = {"/health", "/version", "/cluster-health", "/metrics", "/cluster"};
    for (size_t i = 0; i < sizeof(local_only) / sizeof(local_only[0]); i++)
        if (n == strlen(local_only[i]) && memcmp(p, local_only[i], n) == 0) return false;
    return true;
}

void stet_admin_handle(void *ctx, struct stet_http_request *req) {
    struct stet_admin *a = ctx;
    if (!a->destroying && stet_metadata_needs_sync(a->md) && needs_barrier(req)) {
        struct admin_sync *y = calloc(1, sizeof(*y));
        STET_ASSERT(y != NULL);
        y->admin = a;
        y->req = req;
        y->next = a->syncs;
        if (a->syncs) a->syncs->prev = y;
        a->syncs = y;
        stet_http_request_on_abort(req, sync_abort, y);
        stet_metadata_sync(a->md, sync_done, y);
        return;
    }
    admin_dispatch(a, req);
}

void stet_admin_schema_changed(struct stet_admin *a) { reload_schema_if_newer(a); }

void stet_admin_sync_schema(struct stet_admin *a, void (*done)(void *arg), void *arg) {
    STET_ASSERT(stet_metadata_needs_sync(a->md));
    struct admin_sync *y = calloc(1, sizeof(*y));
    STET_ASSERT(y != NULL);
    y->admin = a;
    y->done = done;
    y->done_arg = arg;
    y->next = a->syncs;
    if (a->syncs) a->syncs->prev = y;
    a->syncs = y;
    stet_metadata_sync(a->md, sync_done, y);
}

void stet_admin_set_members(struct stet_admin *a, size_t (*fn)(void *ctx, uint32_t *out, size_t max), void *ctx) {
    a->members = fn;
    a->members_ctx = ctx;
}

static void admin_dispatch(struct stet_admin *a, struct stet_http_request *req) {
    a->stats.requests_total++;
    if (a->destroying) {
        respond_message(req, 503, NULL, "The admin service is shutting down");
        return;
    }
    struct stet_admin_route r;
    enum stet_admin_route_result rr = stet_admin_route_parse(req->path, req->path_len, &r);
    if (rr == STET_ADMIN_ROUTE_V1) {
        struct stet_admin_error e;
        stet_admin__error(&e, 400, true, NULL,
                          "Unsupported Admin API version V1. This server supports versions between V2 and V4.");
        respond_error(req, &e);
        return;
    }
    if (rr == STET_ADMIN_ROUTE_NOT_FOUND) {
        respond_empty(req, 404);
        return;
    }
    size_t n = r.n_segments;
    if (n == 1 && (seg_is(&r, 0, "health") || seg_is(&r, 0, "version") || seg_is(&r, 0, "cluster-health"))) {
        if (!stet_http_method_is_get_or_head(req)) {
            respond_405(req, "GET,HEAD");
            return;
        }
        if (seg_is(&r, 0, "health")) respond_empty(req, 200);
        else if (seg_is(&r, 0, "version")) handle_version(a, req);
        else handle_cluster_health(a, req);
        return;
    }
    if (n == 1 && seg_is(&r, 0, "deployments")) {
        if (stet_http_method_is_get_or_head(req)) {
            struct stet_buf b = STET_BUF_INIT;
            struct stet_json_writer w;
            stet_json_writer_init(&w, &b);
            stet_schema_render_deployments(&w, a->schema, &a->defaults);
            respond_json(req, 200, &b, NULL);
            stet_buf_free(&b);
        } else if (stet_http_method_is(req, "POST")) {
            handle_register(a, req, r.api_version);
        } else {
            respond_405(req, "GET,HEAD,POST");
        }
        return;
    }
    if (n == 2 && seg_is(&r, 0, "deployments")) {
        handle_deployment(a, req, r.api_version, r.seg[1].p, r.seg[1].len);
        return;
    }
    if (n == 1 && seg_is(&r, 0, "services")) {
        if (!stet_http_method_is_get_or_head(req)) {
            respond_405(req, "GET,HEAD");
            return;
        }
        struct stet_buf b = STET_BUF_INIT;
        struct stet_json_writer w;
        stet_json_writer_init(&w, &b);
        stet_schema_render_services(&w, a->schema, &a->defaults);
        respond_json(req, 200, &b, NULL);
        stet_buf_free(&b);
        return;
    }
    if (n == 2 && seg_is(&r, 0, "services")) {
        handle_service(a, req, r.api_version, r.seg[1].p, r.seg[1].len);
        return;
    }
    if (n == 3 && seg_is(&r, 0, "services") && seg_is(&r, 2, "handlers")) {
        handle_handlers(a, req, r.seg[1].p, r.seg[1].len, NULL, 0);
        return;
    }
    if (n == 4 && seg_is(&r, 0, "services") && seg_is(&r, 2, "handlers")) {
        handle_handlers(a, req, r.seg[1].p, r.seg[1].len, r.seg[3].p, r.seg[3].len);
        return;
    }
    if (a->extra != NULL && a->extra(a->extra_ctx, req)) return;
    respond_empty(req, 404);
}

/* ---- lifecycle ---- */

static uint64_t default_now_ms(void *ctx) {
    STET_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t default_monotonic_ms(void *ctx) {
    STET_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t default_random(void *ctx) {
    STET_UNUSED(ctx);
    uint64_t v;
    if (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v)) return v;
    static uint64_t fallback = 0x9E3779B97F4A7C15ull;
    fallback ^= default_monotonic_ms(NULL) + (fallback << 6) + (fallback >> 2);
    return fallback;
}

int stet_admin_create(uv_loop_t *loop, struct stet_h2_pool *pool, struct stet_metadata *md,
                      const struct stet_config *cfg, struct stet_admin **out, char *err, size_t errlen) {
    STET_ASSERT(loop != NULL && md != NULL && cfg != NULL);
    struct stet_admin *a = calloc(1, sizeof(*a));
    if (a == NULL) return -ENOMEM;
    a->loop = loop;
    a->pool = pool;
    a->md = md;
    a->default_env = (struct stet_env){.ctx = a, .now_ms = default_now_ms, .monotonic_ms = default_monotonic_ms,
                                       .random_u64 = default_random, .submit = NULL};
    a->env = &a->default_env;
    a->cluster_name = strdup(cfg->cluster_name ? cfg->cluster_name : "localcluster");
    a->advertised_ingress = strdup(cfg->advertised_ingress ? cfg->advertised_ingress : "http://127.0.0.1:8080/");
    if (a->cluster_name == NULL || a->advertised_ingress == NULL) {
        free(a->cluster_name);
        free(a->advertised_ingress);
        free(a);
        return -ENOMEM;
    }
    stet_schema_defaults_from_config(cfg, &a->defaults);
    a->disc_opts.attempt_timeout_ms = 30000;
    a->disc_opts.max_retries = 4;
    a->disc_opts.retry_initial_ms = 100;
    int rc = reload_schema(a, err, errlen);
    if (rc != 0) {
        free(a->cluster_name);
        free(a->advertised_ingress);
        free(a);
        return rc;
    }
    stet_info("admin", "schema registry loaded deployments=%zu services=%zu version=%llu", a->schema->n,
              stet_schema_service_count(a->schema), (unsigned long long)a->schema->version);
    *out = a;
    return 0;
}

static void maybe_finish_destroy(struct stet_admin *a) {
    if (!a->destroying || a->ops != NULL) return;
    stet_schema_unref(a->schema);
    free(a->cluster_name);
    free(a->advertised_ingress);
    free(a);
}

void stet_admin_destroy(struct stet_admin *a) {
    STET_ASSERT(!a->destroying);
    a->destroying = true;
    a->n_listeners = 0;
    while (a->syncs) {
        struct admin_sync *y = a->syncs;
        if (y->req) {
            stet_http_request_on_abort(y->req, NULL, NULL);
            respond_message(y->req, 503, NULL, "The admin service is shutting down");
            y->req = NULL;
        }
        sync_unlink(y); /* freed when its barrier answers */
    }
    /* a sentinel at the list head keeps op_free during the walk from finishing early */
    struct admin_op sentinel = {.admin = a};
    sentinel.next = a->ops;
    if (a->ops) a->ops->prev = &sentinel;
    a->ops = &sentinel;
    struct admin_op *op = sentinel.next;
    while (op != NULL) {
        struct admin_op *next = op->next;
        if (op->req != NULL) {
            respond_message(op->req, 503, NULL, "The admin service is shutting down");
            op->req = NULL;
        }
        switch (op->state) {
        case OP_DISCOVERING:
            op->state = OP_CANCELLING;
            stet_admin_discovery_cancel(op->disc, op_discovery_cancelled, op);
            op->disc = NULL;
            break;
        case OP_QUEUED:
            queue_remove(a, op);
            op_free(op);
            break;
        case OP_WRITING:
        case OP_CANCELLING: break;
        }
        op = next;
    }
    /* unlink the sentinel */
    a->ops = sentinel.next;
    if (a->ops) a->ops->prev = NULL;
    maybe_finish_destroy(a);
}

struct stet_schema *stet_admin_schema(struct stet_admin *a) { return a->schema; }

const struct stet_schema_defaults *stet_admin_schema_defaults(const struct stet_admin *a) { return &a->defaults; }

int stet_admin_on_schema_change(struct stet_admin *a, stet_admin_schema_cb cb, void *arg) {
    if (a->n_listeners == MAX_LISTENERS) return -ENOSPC;
    a->listeners[a->n_listeners++] = (struct listener){cb, arg};
    return 0;
}

void stet_admin_set_extra_handler(struct stet_admin *a, stet_admin_extra_handler_fn fn, void *ctx) {
    a->extra = fn;
    a->extra_ctx = ctx;
}

void stet_admin_set_discovery_options(struct stet_admin *a, const struct stet_admin_discovery_options *opts) {
    a->disc_opts = *opts;
    if (a->disc_opts.attempt_timeout_ms == 0) a->disc_opts.attempt_timeout_ms = 30000;
    if (a->disc_opts.retry_initial_ms == 0) a->disc_opts.retry_initial_ms = 100;
}

void stet_admin_stats(const struct stet_admin *a, struct stet_admin_stats *out) { *out = a->stats; }
