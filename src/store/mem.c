/* In-memory store for unit tests and the simulator.
 *
 * Data: a sorted array of pointers to entries (key and value in one allocation), ordered by
 * stet_store_key_compare. Lookups binary-search; inserts and deletes memmove the pointer
 * array, which is fine at test and simulation sizes. Single-threaded only.
 *
 * Iterators have no snapshot. Each keeps a copy of the key and value it stands on, the
 * array index, and the store's write version at the time it moved there:
 *  - while the version is unchanged, next/prev step the index;
 *  - after a write (version changed) they find their place again by key: next goes to the
 *    first key > the remembered key, prev to the last key < it. So an iterator sees writes
 *    made after it was created, never skips or repeats a key that existed throughout, and
 *    key()/value() keep returning the entry it stood on until it moves (even if that entry
 *    was overwritten or deleted meanwhile).
 * Bounds: keys in [lower, upper); upper may be absent (unbounded).
 *
 * A write applies the batch's ops in order; since nothing can fail half-way (allocation
 * failure aborts), a write is atomic for any reader. `sync` has no meaning here.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

struct mem_entry {
    size_t klen;
    size_t vlen;
    uint8_t data[]; /* key, then value */
};

struct mem_store {
    struct stet_store base;
    struct mem_entry **entries; /* sorted, strictly increasing keys */
    size_t count;
    size_t cap;
    uint64_t version; /* incremented by every write */
    uint32_t iters_open;
};

struct stet_store_iter {
    struct mem_store *store;
    struct stet_buf lower;
    struct stet_buf upper;
    bool has_upper;
    bool valid;
    size_t index;     /* position in entries when version == store->version */
    uint64_t version;
    struct stet_buf key; /* copy of the current entry */
    struct stet_buf value;
};

static const uint8_t *entry_key(const struct mem_entry *e) { return e->data; }
static const uint8_t *entry_value(const struct mem_entry *e) { return e->data + e->klen; }

static int entry_compare(const struct mem_entry *e, const void *key, size_t klen) {
    return stet_store_key_compare(entry_key(e), e->klen, key, klen);
}

/* First index whose key >= key. */
static size_t mem_lower_bound(const struct mem_store *s, const void *key, size_t klen) {
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_compare(s->entries[mid], key, klen) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* First index whose key > key. */
static size_t mem_upper_bound(const struct mem_store *s, const void *key, size_t klen) {
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_compare(s->entries[mid], key, klen) <= 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static struct mem_entry *entry_new(const void *key, size_t klen, const void *val, size_t vlen) {
    struct mem_entry *e = malloc(sizeof(*e) + klen + vlen);
    STET_ASSERT(e != NULL);
    e->klen = klen;
    e->vlen = vlen;
    if (klen) memcpy(e->data, key, klen);
    if (vlen) memcpy(e->data + klen, val, vlen);
    return e;
}

static void mem_put(struct mem_store *s, const void *key, size_t klen, const void *val, size_t vlen) {
    size_t i = mem_lower_bound(s, key, klen);
    struct mem_entry *e = entry_new(key, klen, val, vlen);
    if (i < s->count && entry_compare(s->entries[i], key, klen) == 0) {
        free(s->entries[i]);
        s->entries[i] = e;
        return;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct mem_entry **n = realloc(s->entries, cap * sizeof(*n));
        STET_ASSERT(n != NULL);
        s->entries = n;
        s->cap = cap;
    }
    memmove(&s->entries[i + 1], &s->entries[i], (s->count - i) * sizeof(s->entries[0]));
    s->entries[i] = e;
    s->count++;
}

/* Removes entries [lo, hi). */
static void mem_remove(struct mem_store *s, size_t lo, size_t hi) {
    STET_ASSERT(lo <= hi);
    STET_ASSERT(hi <= s->count);
    if (lo == hi) return;
    for (size_t i = lo; i < hi; i++) free(s->entries[i]);
    memmove(&s->entries[lo], &s->entries[hi], (s->count - hi) * sizeof(s->entries[0]));
    s->count -= hi - lo;
}

static void mem_delete(struct mem_store *s, const void *key, size_t klen) {
    size_t i = mem_lower_bound(s, key, klen);
    if (i < s->count && entry_compare(s->entries[i], key, klen) == 0) mem_remove(s, i, i + 1);
}

static void mem_delete_range(struct mem_store *s, const void *begin, size_t blen, const void *end, size_t elen) {
    if (stet_store_key_compare(begin, blen, end, elen) >= 0) return;
    size_t lo = mem_lower_bound(s, begin, blen);
    size_t hi = mem_lower_bound(s, end, elen);
    mem_remove(s, lo, hi);
}

static int mem_get(struct stet_store *base, const void *key, size_t klen, struct stet_buf *out) {
    struct mem_store *s = (struct mem_store *)base;
    size_t i = mem_lower_bound(s, key, klen);
    if (i == s->count || entry_compare(s->entries[i], key, klen) != 0) return 1;
    stet_buf_reset(out);
    stet_buf_append(out, entry_value(s->entries[i]), s->entries[i]->vlen);
    return 0;
}

static int mem_write(struct stet_store *base, const struct stet_store_batch *b, unsigned flags) {
    struct mem_store *s = (struct mem_store *)base;
    STET_UNUSED(flags);
    struct stet_store_batch_cursor c = {b, 0};
    int op;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint32_t n = 0;
    while (stet_store_batch_next(&c, &op, &k, &kl, &v, &vl)) {
        switch (op) {
        case STET_STORE_OP_PUT: mem_put(s, k, kl, v, vl); break;
        case STET_STORE_OP_DELETE: mem_delete(s, k, kl); break;
        case STET_STORE_OP_DELETE_RANGE: mem_delete_range(s, k, kl, v, vl); break;
        default: STET_UNREACHABLE();
        }
        n++;
    }
    STET_ASSERT(n == b->count);
    s->version++;
    return 0;
}

/* ---- iterators ------------------------------------------------------------------------ */

static bool iter_below_upper(const struct stet_store_iter *it, const struct mem_entry *e) {
    if (!it->has_upper) return true;
    return entry_compare(e, it->upper.data, it->upper.len) < 0;
}

static bool iter_at_or_above_lower(const struct stet_store_iter *it, const struct mem_entry *e) {
    return entry_compare(e, it->lower.data, it->lower.len) >= 0;
}

/* Moves to entries[index] if it exists and is within bounds; otherwise becomes invalid.
 * index == SIZE_MAX means "before the first entry". */
static void iter_land(struct stet_store_iter *it, size_t index) {
    struct mem_store *s = it->store;
    it->valid = false;
    if (index >= s->count) return;
    const struct mem_entry *e = s->entries[index];
    if (!iter_below_upper(it, e) || !iter_at_or_above_lower(it, e)) return;
    it->valid = true;
    it->index = index;
    it->version = s->version;
    stet_buf_reset(&it->key);
    stet_buf_append(&it->key, entry_key(e), e->klen);
    stet_buf_reset(&it->value);
    stet_buf_append(&it->value, entry_value(e), e->vlen);
}

static struct stet_store_iter *mem_iter_create(struct stet_store *base, const void *lower, size_t llen,
                                               const void *upper, size_t ulen) {
    struct mem_store *s = (struct mem_store *)base;
    struct stet_store_iter *it = calloc(1, sizeof(*it));
    STET_ASSERT(it != NULL);
    it->store = s;
    stet_buf_append(&it->lower, lower, llen);
    if (upper != NULL) {
        it->has_upper = true;
        stet_buf_append(&it->upper, upper, ulen);
    }
    s->iters_open++;
    iter_land(it, mem_lower_bound(s, lower, llen));
    return it;
}

static void mem_iter_destroy(struct stet_store_iter *it) {
    STET_ASSERT(it->store->iters_open > 0);
    it->store->iters_open--;
    stet_buf_free(&it->lower);
    stet_buf_free(&it->upper);
    stet_buf_free(&it->key);
    stet_buf_free(&it->value);
    free(it);
}

static bool mem_iter_valid(struct stet_store_iter *it) { return it->valid; }

static void mem_iter_next(struct stet_store_iter *it) {
    STET_ASSERT(it->valid);
    struct mem_store *s = it->store;
    if (it->version == s->version) iter_land(it, it->index + 1);
    else iter_land(it, mem_upper_bound(s, it->key.data, it->key.len));
}

static void mem_iter_prev(struct stet_store_iter *it) {
    STET_ASSERT(it->valid);
    struct mem_store *s = it->store;
    size_t i = it->version == s->version ? it->index : mem_lower_bound(s, it->key.data, it->key.len);
    iter_land(it, i == 0 ? SIZE_MAX : i - 1);
}

static void mem_iter_seek(struct stet_store_iter *it, const void *key, size_t klen) {
    struct mem_store *s = it->store;
    if (stet_store_key_compare(key, klen, it->lower.data, it->lower.len) < 0) {
        key = it->lower.data;
        klen = it->lower.len;
    }
    iter_land(it, mem_lower_bound(s, key, klen));
}

static void mem_iter_seek_for_prev(struct stet_store_iter *it, const void *key, size_t klen) {
    struct mem_store *s = it->store;
    size_t i;
    if (it->has_upper && stet_store_key_compare(key, klen, it->upper.data, it->upper.len) >= 0)
        i = mem_lower_bound(s, it->upper.data, it->upper.len); /* first key >= upper */
    else
        i = mem_upper_bound(s, key, klen); /* first key > key */
    iter_land(it, i == 0 ? SIZE_MAX : i - 1);
}

static void mem_iter_seek_last(struct stet_store_iter *it) {
    struct mem_store *s = it->store;
    size_t i = it->has_upper ? mem_lower_bound(s, it->upper.data, it->upper.len) : s->count;
    iter_land(it, i == 0 ? SIZE_MAX : i - 1);
}

static const uint8_t *mem_iter_key(struct stet_store_iter *it, size_t *klen) {
    STET_ASSERT(it->valid);
    *klen = it->key.len;
    /* A zero-length key still needs a non-NULL pointer for callers that memcmp. */
    return it->key.data ? it->key.data : (const uint8_t *)"";
}

static const uint8_t *mem_iter_value(struct stet_store_iter *it, size_t *vlen) {
    STET_ASSERT(it->valid);
    *vlen = it->value.len;
    return it->value.data ? it->value.data : (const uint8_t *)"";
}

static void mem_destroy(struct stet_store *base) {
    struct mem_store *s = (struct mem_store *)base;
    /* An iterator that outlives its store would read freed memory. */
    STET_ASSERT(s->iters_open == 0);
    mem_remove(s, 0, s->count);
    free(s->entries);
    free(s);
}

static const struct stet_store_ops mem_ops = {
    .get = mem_get,
    .write = mem_write,
    .iter_create = mem_iter_create,
    .iter_destroy = mem_iter_destroy,
    .iter_valid = mem_iter_valid,
    .iter_next = mem_iter_next,
    .iter_seek = mem_iter_seek,
    .iter_key = mem_iter_key,
    .iter_value = mem_iter_value,
    .destroy = mem_destroy,
    .iter_prev = mem_iter_prev,
    .iter_seek_for_prev = mem_iter_seek_for_prev,
    .iter_seek_last = mem_iter_seek_last,
    .iter_error = NULL,
};

struct stet_store *stet_store_create_mem(void) {
    struct mem_store *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    s->base.ops = &mem_ops;
    return &s->base;
}
