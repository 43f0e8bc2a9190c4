#include "common/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/ids.h"

void stet_hmap_init(struct stet_hmap *m) { memset(m, 0, sizeof(*m)); }
void stet_hmap_free(struct stet_hmap *m) { free(m->slots); stet_hmap_init(m); }

static uint64_t hash_key(const void *key, size_t klen) { return stet_xxhash64(key, klen, 0x5bd1e995); }

static struct stet_hmap_slot *find(const struct stet_hmap *m, const void *key, size_t klen, uint64_t h) {
    if (m->cap == 0) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        struct stet_hmap_slot *s = &m->slots[i];
        if (s->state == 0) return NULL;
        if (s->state == 1 && s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) return s;
    }
    return NULL;
}

static void rehash(struct stet_hmap *m, size_t ncap) {
    struct stet_hmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = calloc(ncap, sizeof(*m->slots));
    STET_ASSERT(m->slots != NULL);
    m->cap = ncap;
    m->count = 0;
    m->dead = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].state != 1) continue;
        size_t j = old[i].hash & (ncap - 1);
        while (m->slots[j].state == 1) j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
        m->count++;
    }
    free(old);
}

static void grow(struct stet_hmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->count * 10 < m->cap * 5) ncap = m->cap ? m->cap : 16; /* mostly tombstones: rehash in place size */
    rehash(m, ncap);
}

/* A map that held a burst (thousands of waiting invocations) gives the memory back once it is
 * at most 1/8 full: rebuilt at 4x its count, so it shrinks again only after halving. */
static void maybe_shrink(struct stet_hmap *m) {
    if (m->cap <= 64 || m->count * 8 > m->cap) return;
    size_t ncap = 16;
    while (ncap < m->count * 4) ncap *= 2;
    rehash(m, ncap);
}

void *stet_hmap_get(const struct stet_hmap *m, const void *key, size_t klen) {
    STET_ASSERT(klen <= STET_HMAP_KEY_MAX);
    struct stet_hmap_slot *s = find(m, key, klen, hash_key(key, klen));
    return s ? s->value : NULL;
}

void *stet_hmap_put(struct stet_hmap *m, const void *key, size_t klen, void *value) {
    STET_ASSERT(klen <= STET_HMAP_KEY_MAX);
    uint64_t h = hash_key(key, klen);
    struct stet_hmap_slot *s = find(m, key, klen, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if ((m->count + m->dead + 1) * 10 > m->cap * 7) grow(m);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].state == 1) i = (i + 1) & mask;
    s = &m->slots[i];
    if (s->state == 2) m->dead--;
    s->state = 1;
    s->hash = h;
    s->value = value;
    s->klen = (uint8_t)klen;
    memcpy(s->key, key, klen);
    m->count++;
    return NULL;
}

void *stet_hmap_remove(struct stet_hmap *m, const void *key, size_t klen) {
    STET_ASSERT(klen <= STET_HMAP_KEY_MAX);
    struct stet_hmap_slot *s = find(m, key, klen, hash_key(key, klen));
    if (!s) return NULL;
    void *v = s->value;
    s->state = 2;
    s->value = NULL;
    m->count--;
    m->dead++;
    maybe_shrink(m);
    return v;
}
