/* The metadata client (see remote.h).
 *
 * The cache is a sorted array of (key, version, value), replaced whole by each READ answer;
 * keys whose version differs from the previous cache are reported through ports.changed.
 * Requests in flight hold a small struct that outlives the metadata store if destroy comes
 * first (the port's done still runs: it then finds `md` NULL and frees only itself).
 */
#include "metadata/remote.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

struct entry {
    char *key;
    uint64_t version;
    uint8_t *value;
    size_t len;
};

struct call;

struct rmd {
    struct stet_metadata base;
    struct stet_metadata_remote_ports ports;
    struct entry *cache;
    size_t n_cache;
    struct call *calls; /* in flight */
    bool refreshing;
};

struct call {
    struct call *next, *prev;
    struct rmd *md; /* NULL once the store is destroyed */
    bool read, refresh;
    stet_metadata_put_cb put_cb;
    stet_metadata_sync_cb sync_cb;
    void *arg;
};

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static const struct entry *cache_find(const struct rmd *md, const char *key) {
    struct entry probe = {.key = (char *)key};
    return md->n_cache ? bsearch(&probe, md->cache, md->n_cache, sizeof(*md->cache), entry_cmp) : NULL;
}

static void cache_free(struct entry *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(c[i].key);
        free(c[i].value);
    }
    free(c);
}

static int rget(struct stet_metadata *base, const char *key, uint64_t *version, struct stet_buf *value) {
    struct rmd *md = (struct rmd *)base;
    size_t n = strlen(key);
    if (n == 0 || n > STET_METADATA_KEY_MAX) return -EINVAL;
    const struct entry *e = cache_find(md, key);
    if (value) stet_buf_reset(value);
    if (!e) {
        *version = 0;
        return 1;
    }
    *version = e->version;
    if (value && e->len) stet_buf_append(value, e->value, e->len);
    return 0;
}

static struct call *call_new(struct rmd *md) {
    struct call *c = calloc(1, sizeof(*c));
    STET_ASSERT(c != NULL);
    c->md = md;
    c->next = md->calls;
    if (md->calls) md->calls->prev = c;
    md->calls = c;
    return c;
}

static void call_unlink(struct call *c) {
    struct rmd *md = c->md;
    if (!md) return;
    if (c->prev) c->prev->next = c->next;
    else md->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->md = NULL;
}

struct collect {
    struct entry *es;
    size_t n, cap;
};

static void collect_cb(void *arg, const char *key, uint64_t version, const uint8_t *value, size_t vlen) {
    struct collect *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->es = realloc(c->es, c->cap * sizeof(*c->es));
        STET_ASSERT(c->es != NULL);
    }
    struct entry *e = &c->es[c->n++];
    e->key = strdup(key);
    e->value = malloc(vlen ? vlen : 1);
    STET_ASSERT(e->key != NULL && e->value != NULL);
    if (vlen) memcpy(e->value, value, vlen);
    e->len = vlen;
    e->version = version;
}

/* Replaces the cache with a READ answer: 0 or -EPROTO (cache unchanged). */
static int take_read(struct rmd *md, const uint8_t *body, size_t len) {
    struct collect c = {0};
    if (stet_metadata_remote_read_decode(body, len, collect_cb, &c) != 0) {
        cache_free(c.es, c.n);
        return -EPROTO;
    }
    if (c.n) qsort(c.es, c.n, sizeof(*c.es), entry_cmp);
    struct entry *old = md->cache;
    size_t n_old = md->n_cache;
    md->cache = c.es;
    md->n_cache = c.n;
    if (md->ports.changed) {
        for (size_t i = 0; i < c.n; i++) {
            struct entry probe = {.key = c.es[i].key};
            const struct entry *o = n_old ? bsearch(&probe, old, n_old, sizeof(*old), entry_cmp) : NULL;
            if (!o || o->version != c.es[i].version) md->ports.changed(md->ports.ctx, c.es[i].key, c.es[i].version);
        }
    }
    cache_free(old, n_old);
    return 0;
}

static void read_done(void *arg, int status, const uint8_t *body, size_t len) {
    struct call *c = arg;
    struct rmd *md = c->md;
    call_unlink(c);
    if (md) {
        if (c->refresh) md->refreshing = false;
        if (status == 0) status = take_read(md, body, len);
    } else if (status == 0) {
        status = -ESHUTDOWN;
    }
    if (c->sync_cb) c->sync_cb(c->arg, status);
    free(c);
}

static void rsync(struct stet_metadata *base, stet_metadata_sync_cb cb, void *arg) {
    struct rmd *md = (struct rmd *)base;
    struct call *c = call_new(md);
    c->read = true;
    c->sync_cb = cb;
    c->arg = arg;
    md->ports.request(md->ports.ctx, STET_MD_REMOTE_READ, NULL, 0, read_done, c);
}

void stet_metadata_remote_refresh(struct stet_metadata *base) {
    struct rmd *md = (struct rmd *)base;
    if (md->refreshing) return;
    md->refreshing = true;
    struct call *c = call_new(md);
    c->read = true;
    c->refresh = true;
    md->ports.request(md->ports.ctx, STET_MD_REMOTE_READ, NULL, 0, read_done, c);
}

static void put_done(void *arg, int status, const uint8_t *body, size_t len) {
    struct call *c = arg;
    struct rmd *md = c->md;
    call_unlink(c);
    uint64_t version = 0;
    if (md == NULL) status = -ESHUTDOWN;
    else if ((status == 0 || status == -ESTALE) && len == 8) version = stet_load_u64be(body);
    else if (status == 0) status = -EPROTO;
    if (md && status == 0) stet_metadata_remote_refresh(&md->base); /* read your writes (soon) */
    c->put_cb(c->arg, status, version);
    free(c);
}

static void rput(struct stet_metadata *base, const char *key, const void *value, size_t len, uint64_t expected,
                 stet_metadata_put_cb cb, void *arg) {
    struct rmd *md = (struct rmd *)base;
    size_t n = strlen(key);
    if (n == 0 || n > STET_METADATA_KEY_MAX) {
        cb(arg, -EINVAL, 0);
        return;
    }
    struct stet_buf b = STET_BUF_INIT;
    stet_metadata_remote_put_encode(&b, key, value, len, expected);
    struct call *c = call_new(md);
    c->put_cb = cb;
    c->arg = arg;
    md->ports.request(md->ports.ctx, STET_MD_REMOTE_PUT, b.data, b.len, put_done, c);
    stet_buf_free(&b);
}

static void rdestroy(struct stet_metadata *base) {
    struct rmd *md = (struct rmd *)base;
    while (md->calls) call_unlink(md->calls); /* their done callbacks free them */
    cache_free(md->cache, md->n_cache);
    free(md);
}

static const struct stet_metadata_ops remote_ops = {.get = rget, .put = rput, .sync = rsync, .destroy = rdestroy};

int stet_metadata_create_remote(const struct stet_metadata_remote_ports *ports, struct stet_metadata **out) {
    STET_ASSERT(ports->request != NULL);
    struct rmd *md = calloc(1, sizeof(*md));
    if (!md) return -ENOMEM;
    md->base.ops = &remote_ops;
    md->ports = *ports;
    *out = &md->base;
    return 0;
}

/* ---- codec ---- */

void stet_metadata_remote_put_encode(struct stet_buf *out, const char *key, const void *value, size_t len,
                                     uint64_t expected) {
    size_t n = strlen(key);
    STET_ASSERT(n > 0 && n <= STET_METADATA_KEY_MAX);
    stet_buf_append_u64be(out, expected);
    stet_buf_append_u16be(out, (uint16_t)n);
    stet_buf_append(out, key, n);
    if (len) stet_buf_append(out, value, len);
}

int stet_metadata_remote_put_decode(const uint8_t *p, size_t len, char *key, uint64_t *expected,
                                    const uint8_t **value, size_t *vlen) {
    if (len < 10) return -EPROTO;
    *expected = stet_load_u64be(p);
    size_t n = stet_load_u16be(p + 8);
    if (n == 0 || n > STET_METADATA_KEY_MAX || len - 10 < n) return -EPROTO;
    memcpy(key, p + 10, n);
    key[n] = '\0';
    if (strlen(key) != n) return -EPROTO;
    *value = p + 10 + n;
    *vlen = len - 10 - n;
    return 0;
}

void stet_metadata_remote_read_append(struct stet_buf *out, const char *key, uint64_t version, const void *value,
                                      size_t len) {
    size_t n = strlen(key);
    STET_ASSERT(n > 0 && n <= STET_METADATA_KEY_MAX && len <= UINT32_MAX);
    stet_buf_append_u16be(out, (uint16_t)n);
    stet_buf_append(out, key, n);
    stet_buf_append_u64be(out, version);
    stet_buf_append_u32be(out, (uint32_t)len);
    if (len) stet_buf_append(out, value, len);
}

int stet_metadata_remote_read_decode(const uint8_t *p, size_t len,
                                     void (*cb)(void *arg, const char *key, uint64_t version, const uint8_t *value,
                                                size_t vlen),
                                     void *arg) {
    if (len < 4) return -EPROTO;
    uint32_t count = stet_load_u32be(p);
    size_t off = 4;
    char key[STET_METADATA_KEY_MAX + 1];
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 2) return -EPROTO;
        size_t n = stet_load_u16be(p + off);
        off += 2;
        if (n == 0 || n > STET_METADATA_KEY_MAX || len - off < n + 12) return -EPROTO;
        memcpy(key, p + off, n);
        key[n] = '\0';
        if (strlen(key) != n) return -EPROTO;
        off += n;
        uint64_t version = stet_load_u64be(p + off);
        uint32_t vlen = stet_load_u32be(p + off + 8);
        off += 12;
        if (version == 0 || len - off < vlen) return -EPROTO;
        cb(arg, key, version, p + off, vlen);
        off += vlen;
    }
    return off == len ? 0 : -EPROTO;
}
