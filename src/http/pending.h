/* Requests that wait for an answer arriving later: a record's durability, or an action naming
 * the request in its sink (ingress calls and sends, admin invocation management). One table per
 * waiting module; the entry is the module's own struct, with struct stet_pending as its first
 * member, allocated by the module with malloc/calloc.
 *
 * Ownership: after stet_pending_add the table owns the entry. It frees it (free()) when the
 * client goes away (the request's abort callback), when the module calls stet_pending_done,
 * and at stet_pending_table_free. Lookups by id (stet_pending_find) return NULL once it is gone,
 * so a late answer for a request whose client left does nothing.
 */
#ifndef STET_HTTP_PENDING_H
#define STET_HTTP_PENDING_H

#include <stdint.h>

#include "common/hmap.h"
#include "http/http.h"

struct stet_pending_table;

struct stet_pending {
    struct stet_pending_table *table;
    struct stet_http_request *req;
    uint64_t id; /* unique within the table, never 0 */
};

struct stet_pending_table {
    struct stet_hmap map; /* u64 id -> struct stet_pending */
    uint64_t next_id;
    uint64_t count;
};

void stet_pending_table_init(struct stet_pending_table *t);
/* Frees every entry left (their requests get no answer from the table). */
void stet_pending_table_free(struct stet_pending_table *t);
/* Registers p (first member of a malloc'd entry) for req; assigns p->id. */
void stet_pending_add(struct stet_pending_table *t, struct stet_pending *p, struct stet_http_request *req);
/* The entry with this id, or NULL (never added, done, or its client went away). */
struct stet_pending *stet_pending_find(const struct stet_pending_table *t, uint64_t id);
/* Removes and frees the entry before the module answers the request (or gives up on it): the
 * request's abort callback is unregistered, the request stays the module's to answer. */
void stet_pending_done(struct stet_pending *p);
/* Removes and frees the entry after the module answered the request (stet_http_respond freed
 * it): for answers whose headers point into the entry. */
void stet_pending_answered(struct stet_pending *p);

#endif
