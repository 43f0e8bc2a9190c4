/* Admin API for managing invocations (shared/reference/http-api.md §4.7):
 * PATCH /invocations/{id}/cancel|kill|purge|pause|resume and the deprecated
 * DELETE /invocations/{id}?mode=cancel|kill|purge.
 *
 * Each request becomes a record (SIGNAL idx 1 for cancel, KILL, PURGE, PAUSE, RESUME) with an
 * admin sink; the partition processor decides the outcome (it alone knows the invocation's
 * state at that point of the log) and answers through an ADMIN_RESPONSE action.
 */
#ifndef STET_INVOCATIONS_H
#define STET_INVOCATIONS_H

#include <stdbool.h>

#include "http/http.h"
#include "log/log.h"
#include "partition/partition.h"
#include "schema/schema.h"

struct stet_invocations;

/* What the module needs from whoever wires it. */
struct stet_invocations_ports {
    void *ctx;
    struct stet_inv_sink sink; /* kind ADMIN with this node's identity; request_id set per request */
    const struct stet_schema *(*schema)(void *ctx);
    /* Appends r to its partition's log (-EAGAIN: not led here, -ENOBUFS: full). */
    int (*propose)(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out);
};

/* ports is copied. */
int stet_invocations_create(const struct stet_invocations_ports *ports, struct stet_invocations **out);
void stet_invocations_destroy(struct stet_invocations *inv);
/* Handles the request if its path (after an optional /v2../v4 prefix) is /invocations/...;
 * returns false (and does nothing) otherwise. */
bool stet_invocations_handle(struct stet_invocations *inv, struct stet_http_request *req);
/* A partition's ADMIN_RESPONSE action. */
void stet_invocations_response(struct stet_invocations *inv, const struct stet_action *a);

#endif
