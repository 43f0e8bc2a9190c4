/* A small open-addressing hash map from byte-string keys to pointers.
 *
 * Keys are copied (up to STET_HMAP_KEY_MAX bytes); values are borrowed pointers owned by the
 * caller. Linear probing with tombstones; grows at 70% load. Not thread-safe.
 */
#ifndef STET_HMAP_H
#define STET_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STET_HMAP_KEY_MAX 32

struct stet_hmap_slot {
    uint64_t hash;
    void *value;
    uint8_t state; /* 0 empty, 1 used, 2 tombstone */
    uint8_t klen;
    uint8_t key[STET_HMAP_KEY_MAX];
};

struct stet_hmap {
    struct stet_hmap_slot *slots;
    size_t cap;   /* power of two */
    size_t count; /* used */
    size_t dead;  /* tombstones */
};

void stet_hmap_init(struct stet_hmap *m);
void stet_hmap_free(struct stet_hmap *m);
void *stet_hmap_get(const struct stet_hmap *m, const void *key, size_t klen);
/* Inserts or replaces; returns the previous value or NULL. */
void *stet_hmap_put(struct stet_hmap *m, const void *key, size_t klen, void *value);
/* Removes; returns the removed value or NULL. */
void *stet_hmap_remove(struct stet_hmap *m, const void *key, size_t klen);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].state == 1) ... */

#endif
