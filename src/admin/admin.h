/* The admin API (default port 9070): deployments, services, handlers, health and version
 * (http-api.md §3, §4.1-4.6), served as a handler of a struct stet_http_server.
 *
 * The admin owns the schema registry: it loads it from the metadata store (key "schema")
 * at creation, applies changes (register / update / remove deployments, patch services)
 * through versioned conditional puts, and keeps the current snapshot in memory. Ingress and
 * invoker read that snapshot (stet_admin_schema) and subscribe to changes
 * (stet_admin_on_schema_change), so a registration is visible to them as soon as it is
 * answered.
 *
 * Changes are applied one at a time (a FIFO), each computed from the snapshot current when
 * its turn comes; if the metadata store reports a concurrent write (-ESTALE) the admin
 * re-reads the registry and recomputes (at most 16 times).
 *
 * Routes this module does not know (invocations, /query, state, subscriptions, ...) are
 * offered to an extra handler (stet_admin_set_extra_handler) before a 404.
 *
 * Threading: everything runs on the loop thread.
 * Ownership: create/destroy. pool, md, env and the loop are borrowed and must outlive the
 * admin; the config is copied at creation.
 */
#ifndef STET_ADMIN_H
#define STET_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/env.h"
#include "config/config.h"
#include "http/http.h"
#include "metadata/metadata.h"
#include "schema/schema.h"

struct stet_admin;
struct stet_h2_pool;

/* Called after every schema change with the new snapshot (borrowed for the call; use
 * stet_schema_ref to keep it). */
typedef void (*stet_admin_schema_cb)(void *arg, struct stet_schema *schema);

/* Tried for requests whose path the admin does not serve (the raw path, including any
 * /v2../v4 prefix). Return true if the request was taken (the handler responds, now or
 * later), false to let the admin answer 404. */
typedef bool (*stet_admin_extra_handler_fn)(void *ctx, struct stet_http_request *req);

/* Discovery tuning (defaults: 30 s per attempt, 4 retries from 100 ms, as restate). */
struct stet_admin_discovery_options {
    uint64_t attempt_timeout_ms;
    uint32_t max_retries;
    uint64_t retry_initial_ms;
};

/* Loads the registry from md (an absent key is an empty registry). pool may be NULL (then
 * only use_http_11 deployments can be discovered). Time (created_at) and randomness
 * (deployment ids) come from the wall clock and getrandom. Returns 0, or a negative errno
 * with a message in err (e.g. a stored registry that does not parse). */
int stet_admin_create(uv_loop_t *loop, struct stet_h2_pool *pool, struct stet_metadata *md,
                      const struct stet_config *cfg, struct stet_admin **out, char *err, size_t errlen);

/* Cancels discoveries and answers still-pending requests with 503. The memory is released
 * at once, or (if a metadata write or a socket close is still in flight) from the loop once
 * they complete: keep running the loop after this call until its handles are closed.
 * Destroy the HTTP server first so no new requests arrive. */
void stet_admin_destroy(struct stet_admin *a);

/* The stet_http_handler_cb to pass to stet_http_server_create (ctx = the admin). */
void stet_admin_handle(void *ctx, struct stet_http_request *req);

/* The current snapshot, borrowed until the next change callback returns. */
struct stet_schema *stet_admin_schema(struct stet_admin *a);
/* Server defaults the schema falls back to (from the config). */
const struct stet_schema_defaults *stet_admin_schema_defaults(const struct stet_admin *a);

/* Registers a change listener (at most 8). Returns 0 or -ENOSPC. */
int stet_admin_on_schema_change(struct stet_admin *a, stet_admin_schema_cb cb, void *arg);

/* The metadata store changed "schema" (another node's registration): re-read it. */
void stet_admin_schema_changed(struct stet_admin *a);
/* With a replicated metadata store: the schema brought up to date with every change acknowledged
 * anywhere before the call (a read barrier), then done(arg), never inside the call (also when
 * the barrier fails: the schema stays as it was). */
void stet_admin_sync_schema(struct stet_admin *a, void (*done)(void *arg), void *arg);
/* Where /cluster-health gets the metadata cluster's members (node ids); without it: [1]. */
void stet_admin_set_members(struct stet_admin *a, size_t (*fn)(void *ctx, uint32_t *out, size_t max), void *ctx);

void stet_admin_set_extra_handler(struct stet_admin *a, stet_admin_extra_handler_fn fn, void *ctx);
void stet_admin_set_discovery_options(struct stet_admin *a, const struct stet_admin_discovery_options *opts);

/* Counters (for /metrics). */
struct stet_admin_stats {
    uint64_t requests_total;
    uint64_t registrations_total;
    uint64_t discovery_failures_total;
    uint64_t schema_writes_total;
};
void stet_admin_stats(const struct stet_admin *a, struct stet_admin_stats *out);

#endif
