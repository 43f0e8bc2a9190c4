/* Ordered key-value store: the storage interface every core module uses.
 *
 * Two implementations: `stet_store_open_rocks` (src/store/rocks.c, the only file that
 * includes rocksdb/c.h) and `stet_store_create_mem` (src/store/mem.c, an in-memory sorted
 * map for unit tests and the simulator). Keys compare bytewise (memcmp, shorter first).
 *
 * Threading: reads and writes may happen from the loop thread while one other thread runs
 * a synchronous (fsync) write; the rocks store is thread-safe, the mem store is used only
 * single-threaded.
 *
 * Ownership: the caller owns batches and iterators (create/destroy). Values returned by get
 * are copied into the caller's buffer. Iterator key/value pointers are borrowed until the
 * next iterator call (on the same iterator) or the next write to the store.
 *
 * Iterators and concurrent writes: a RocksDB iterator reads the implicit snapshot taken at
 * creation. A mem iterator has no snapshot: it remembers the key it stands on and, after any
 * write, finds its place again by key, so it sees later writes; the entry it stands on keeps
 * its key/value until it moves. Code must work with either (do not rely on seeing, or on not
 * seeing, writes made after an iterator was created).
 *
 * Errors: implementations log the underlying message (RocksDB's errmsg) at error level and
 * return -EIO; no message strings cross this interface except from stet_store_open_rocks.
 */
#ifndef STET_STORE_H
#define STET_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct stet_store;
struct stet_store_iter;

/* A write batch: an ordered list of puts and deletes, applied atomically. */
struct stet_store_batch {
    struct stet_buf ops; /* encoded: u8 op (1 put, 2 del, 3 del-range), u32 klen, key, u32 vlen, value */
    uint32_t count;
};

void stet_store_batch_init(struct stet_store_batch *b);
void stet_store_batch_free(struct stet_store_batch *b);
void stet_store_batch_clear(struct stet_store_batch *b);
void stet_store_batch_put(struct stet_store_batch *b, const void *key, size_t klen, const void *val, size_t vlen);
void stet_store_batch_delete(struct stet_store_batch *b, const void *key, size_t klen);
/* Deletes every key k with begin <= k < end. */
void stet_store_batch_delete_range(struct stet_store_batch *b, const void *begin, size_t blen, const void *end,
                                   size_t elen);

/* Iterates the ops of a batch in order (used by store implementations). Returns false at the end. */
struct stet_store_batch_cursor { const struct stet_store_batch *batch; size_t off; };
bool stet_store_batch_next(struct stet_store_batch_cursor *c, int *op, const uint8_t **key, size_t *klen,
                           const uint8_t **val, size_t *vlen);
enum { STET_STORE_OP_PUT = 1, STET_STORE_OP_DELETE = 2, STET_STORE_OP_DELETE_RANGE = 3 };

struct stet_store_memory {
    uint64_t memtables;     /* active and immutable memtables */
    uint64_t block_cache;   /* block cache usage (data, index and filter blocks) */
    uint64_t table_readers; /* table readers outside the block cache */
};

struct stet_store_ops {
    int (*get)(struct stet_store *s, const void *key, size_t klen, struct stet_buf *out);
    /* flags: STET_STORE_WRITE_* (0 = durable eventually through the WAL, not synced) */
    int (*write)(struct stet_store *s, const struct stet_store_batch *b, unsigned flags);
    struct stet_store_iter *(*iter_create)(struct stet_store *s, const void *lower, size_t llen, const void *upper,
                                           size_t ulen);
    void (*iter_destroy)(struct stet_store_iter *it);
    bool (*iter_valid)(struct stet_store_iter *it);
    void (*iter_next)(struct stet_store_iter *it);
    void (*iter_seek)(struct stet_store_iter *it, const void *key, size_t klen);
    const uint8_t *(*iter_key)(struct stet_store_iter *it, size_t *klen);
    const uint8_t *(*iter_value)(struct stet_store_iter *it, size_t *vlen);
    void (*destroy)(struct stet_store *s);
    int (*flush)(struct stet_store *s); /* may be NULL */
    /* Added after the first version; stores that wrap another store must forward them. */
    void (*iter_prev)(struct stet_store_iter *it);
    /* Positions at the last key <= key (within bounds). */
    void (*iter_seek_for_prev)(struct stet_store_iter *it, const void *key, size_t klen);
    /* Positions at the last key within bounds. */
    void (*iter_seek_last)(struct stet_store_iter *it);
    /* 0, or -EIO when the iterator stopped because of a read error (valid() is then false).
     * May be NULL for stores whose iterators cannot fail. */
    int (*iter_error)(struct stet_store_iter *it);
    /* What the store holds in memory (for /metrics and memory tuning). May be NULL. */
    void (*memory)(struct stet_store *s, struct stet_store_memory *out);
    /* Empties caches (the block cache keeps its capacity and refills on reads). May be NULL. */
    void (*release_caches)(struct stet_store *s);
};

struct stet_store {
    const struct stet_store_ops *ops;
};

/* Opens (creating if missing) a RocksDB store in `dir`. Returns 0 or negative errno; on
 * error `errmsg` (if not NULL) gets a malloc'd message the caller frees. */
int stet_store_open_rocks(const char *dir, struct stet_store **out, char **errmsg);
/* The same with a block cache of cache_bytes (0: the default 8 MiB). */
int stet_store_open_rocks_sized(const char *dir, size_t cache_bytes, struct stet_store **out, char **errmsg);
struct stet_store *stet_store_create_mem(void);

/* get: 0 found (value in out, replacing its contents), 1 not found, negative errno on error. */
static inline int stet_store_get(struct stet_store *s, const void *k, size_t kl, struct stet_buf *out) {
    return s->ops->get(s, k, kl, out);
}
/* STET_STORE_WRITE_SYNC: durable (fsynced) when write returns. STET_STORE_WRITE_NO_WAL: not
 * written to the WAL at all: the data survives a crash only once flushed (stet_store_flush),
 * which is right for data that can be rebuilt (the partition store, rebuilt from the log). */
enum { STET_STORE_WRITE_SYNC = 1, STET_STORE_WRITE_NO_WAL = 2 };
static inline int stet_store_write(struct stet_store *s, const struct stet_store_batch *b, unsigned flags) {
    return s->ops->write(s, b, flags);
}
/* Makes every write so far durable, NO_WAL ones included (a memtable flush). Blocking; call it
 * off the loop thread. A store without the op has nothing to flush. */
static inline int stet_store_flush(struct stet_store *s) { return s->ops->flush ? s->ops->flush(s) : 0; }
/* Fills *out (zeros for a store that does not report memory). */
static inline void stet_store_memory(struct stet_store *s, struct stet_store_memory *out) {
    *out = (struct stet_store_memory){0};
    if (s->ops->memory) s->ops->memory(s, out);
}
/* Gives back what the store caches (an idle node calls it; reads refill the caches). */
static inline void stet_store_release_caches(struct stet_store *s) {
    if (s->ops->release_caches) s->ops->release_caches(s);
}
/* Iterates keys in [lower, upper); upper NULL means unbounded. Starts at lower. */
static inline struct stet_store_iter *stet_store_iter_create(struct stet_store *s, const void *lo, size_t ll,
                                                             const void *up, size_t ul) {
    return s->ops->iter_create(s, lo, ll, up, ul);
}
void stet_store_iter_destroy(struct stet_store *s, struct stet_store_iter *it);
bool stet_store_iter_valid(struct stet_store *s, struct stet_store_iter *it);
void stet_store_iter_next(struct stet_store *s, struct stet_store_iter *it);
void stet_store_iter_seek(struct stet_store *s, struct stet_store_iter *it, const void *key, size_t klen);
const uint8_t *stet_store_iter_key(struct stet_store *s, struct stet_store_iter *it, size_t *klen);
const uint8_t *stet_store_iter_value(struct stet_store *s, struct stet_store_iter *it, size_t *vlen);
void stet_store_iter_prev(struct stet_store *s, struct stet_store_iter *it);
void stet_store_iter_seek_for_prev(struct stet_store *s, struct stet_store_iter *it, const void *key, size_t klen);
void stet_store_iter_seek_last(struct stet_store *s, struct stet_store_iter *it);
int stet_store_iter_error(struct stet_store *s, struct stet_store_iter *it);

/* Bytewise key order: memcmp over the common length, then the shorter key first. */
int stet_store_key_compare(const void *a, size_t alen, const void *b, size_t blen);
/* Smallest key greater than every key starting with prefix: the prefix with its last
 * byte below 0xff incremented and what follows dropped. Returns its length, or 0 when the
 * prefix is all 0xff bytes (no such key: use an unbounded iterator). out holds plen bytes. */
size_t stet_store_prefix_successor(const void *prefix, size_t plen, uint8_t *out);
static inline void stet_store_destroy(struct stet_store *s) { s->ops->destroy(s); }

#endif
