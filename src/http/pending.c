/* Pending requests. See pending.h. */
#include "http/pending.h"

#include <stdlib.h>

#include "common/assert.h"

void stet_pending_table_init(struct stet_pending_table *t) {
    stet_hmap_init(&t->map);
    t->next_id = 0;
    t->count = 0;
}

void stet_pending_table_free(struct stet_pending_table *t) {
    for (size_t i = 0; i < t->map.cap; i++)
        if (t->map.slots[i].state == 1) free(t->map.slots[i].value);
    stet_hmap_free(&t->map);
    t->count = 0;
}

static void entry_remove(struct stet_pending *p);

static void on_abort(struct stet_http_request *req, void *arg) {
    STET_UNUSED(req);
    entry_remove(arg); /* the request is being freed by the server */
}

void stet_pending_add(struct stet_pending_table *t, struct stet_pending *p, struct stet_http_request *req) {
    p->table = t;
    p->req = req;
    p->id = ++t->next_id;
    STET_ASSERT(stet_hmap_put(&t->map, &p->id, sizeof(p->id), p) == NULL);
    t->count++;
    stet_http_request_on_abort(req, on_abort, p);
}

struct stet_pending *stet_pending_find(const struct stet_pending_table *t, uint64_t id) {
    return stet_hmap_get(&t->map, &id, sizeof(id));
}

static void entry_remove(struct stet_pending *p) {
    struct stet_pending_table *t = p->table;
    STET_ASSERT(stet_hmap_remove(&t->map, &p->id, sizeof(p->id)) == p);
    STET_ASSERT(t->count > 0);
    t->count--;
    free(p);
}

void stet_pending_done(struct stet_pending *p) {
    if (p->req) stet_http_request_on_abort(p->req, NULL, NULL); /* the entry is gone */
    entry_remove(p);
}

void stet_pending_answered(struct stet_pending *p) { entry_remove(p); }
