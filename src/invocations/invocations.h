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
#include "partition/partition.h"

struct stet_node;
struct stet_invocations;

int stet_invocations_create(struct stet_node *node, struct stet_invocations **out);
void stet_invocations_destroy(struct stet_invocations *inv);
/* Handles the request if its path (after an optional /v2../v4 prefix) is /invocations/...;
 * returns false (and does nothing) otherwise. */
bool stet_invocations_handle(struct stet_invocations *inv, struct stet_http_request *req);
/* A partition's ADMIN_RESPONSE action. */
void stet_invocations_response(struct stet_invocations *inv, const struct stet_action *a);

#endif
