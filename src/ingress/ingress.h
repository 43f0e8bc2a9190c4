/* The ingress: Restate's HTTP API for calling handlers (shared/reference/http-api.md §2).
 *
 * A call becomes an INVOKE record whose sink names this request (node incarnation +
 * request id); the answer arrives as an INGRESS_RESPONSE action once the invocation
 * completed. A send is answered 202 as soon as its INVOKE record is durable. Attach/output
 * by invocation id become ATTACH records. Nothing is acknowledged before it is durable.
 */
#ifndef STET_INGRESS_H
#define STET_INGRESS_H

#include "common/env.h"
#include "http/http.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "partition/partition.h"
#include "schema/schema.h"

struct stet_ingress;

/* What the ingress needs from whoever wires it (the node, a test). */
struct stet_ingress_ports {
    void *ctx;
    const struct stet_env *env;
    /* Identity written into the sinks of calls (kind INGRESS; request_id set per request). */
    uint32_t node_id, generation;
    uint64_t incarnation;
    uint32_t concurrent_limit; /* ingress.concurrent-api-requests-limit; 0 = unlimited */
    const struct stet_schema *(*schema)(void *ctx);
    const struct stet_schema_defaults *(*schema_defaults)(void *ctx);
    /* An invocation's status: 0 found, 1 not found, < 0 error (st initialised by the caller). */
    int (*status_get)(void *ctx, const struct stet_invocation_id *id, struct stet_inv_status *st);
    /* Appends r to the log of its partition; cb (may be NULL) once durable, or with an error
     * status, exactly once when 0 is returned (never when < 0 is). -ENOBUFS: full (429),
     * -EAGAIN: the partition is not led here now, other < 0: unavailable (503). */
    int (*propose)(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out);
    /* Optional (a cluster node): brings the schema up to date with every change acknowledged
     * anywhere before the call, then done(arg) (never inside the call). A request naming an
     * unknown service waits for it once before its 404: a deployment registered through
     * another node is callable here as soon as that registration returned. */
    void (*schema_sync)(void *ctx, void (*done)(void *arg), void *arg);
};

/* ports is copied. */
int stet_ingress_create(const struct stet_ingress_ports *ports, struct stet_ingress **out);
/* Frees the ingress and its pending entries. Destroy the HTTP server first: the requests are
 * the server's and get no answer from here. */
void stet_ingress_destroy(struct stet_ingress *ing);
/* stet_http_handler_cb for the ingress HTTP server (ctx = struct stet_ingress *). */
void stet_ingress_handle(void *ctx, struct stet_http_request *req);
/* A partition's INGRESS_RESPONSE action. */
void stet_ingress_respond(struct stet_ingress *ing, const struct stet_action *a);

struct stet_ingress_stats {
    uint64_t requests, responses_2xx, responses_4xx, responses_5xx, pending;
    uint64_t overloaded; /* answered 429: bounded resources were full */
    struct stet_histogram request_duration; /* request received -> response sent */
};
void stet_ingress_stats(const struct stet_ingress *ing, struct stet_ingress_stats *out);

#endif
