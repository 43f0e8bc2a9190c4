/* The ingress: Restate's HTTP API for calling handlers (shared/reference/http-api.md §2).
 *
 * A call becomes an INVOKE record whose sink names this request (node incarnation +
 * request id); the answer arrives as an INGRESS_RESPONSE action once the invocation
 * completed. A send is answered 202 as soon as its INVOKE record is durable. Attach/output
 * by invocation id become ATTACH records. Nothing is acknowledged before it is durable.
 */
#ifndef STET_INGRESS_H
#define STET_INGRESS_H

#include "http/http.h"
#include "metrics/metrics.h"
#include "partition/partition.h"

struct stet_node;
struct stet_ingress;

int stet_ingress_create(struct stet_node *node, struct stet_ingress **out);
/* Fails every pending request (they get their abort) and frees the ingress. */
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
