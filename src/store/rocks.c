/* RocksDB store: the only file in the project that includes rocksdb/c.h.
 *
 * One database, default column family only, tuned for a small server:
 *  - create_if_missing (and the parent directories are created, like `mkdir -p`);
 *  - an 8 MiB LRU block cache shared by all tables, a 10-bit bloom filter for point reads
 *    (the working set of a node is small: live invocations and their state; memory is a
 *    target, see bench/RESULTS.md);
 *  - max_open_files 256 so file descriptors stay bounded;
 *  - LZ4 compression (Debian's librocksdb links liblz4); if this build of RocksDB rejects
 *    it, the open is retried without compression;
 *  - 4 MiB memtables (at most 2), at most 2 background jobs, info LOG capped at 2 files of 4 MiB;
 *  - RocksDB's own WAL is not used: writes that want a WAL (all but STET_STORE_WRITE_NO_WAL)
 *    first go to the store's write-ahead log (wal.c: two recycled files in `<dir>-wal`, one
 *    device write per fdatasync instead of RocksDB's two), then into the memtable without
 *    RocksDB's WAL. A lock (wal_lock) covers append + memtable write, so a flush's rotation
 *    never separates a WAL record from its memtable insert. Open replays the WAL and
 *    flushes; flush rotates the WAL; a clean destroy flushes and marks the WAL clean.
 *    Data directories written before this (RocksDB WAL on) open as before: RocksDB replays
 *    its own WAL files.
 *
 * Reads use rocksdb_get_pinned (no extra copy inside RocksDB) and iterators with
 * iterate_lower_bound/iterate_upper_bound set; the bound bytes are owned by the iterator
 * because RocksDB keeps only a pointer to them. Iterators read the implicit snapshot taken at
 * creation.
 *
 * Errors: every errmsg RocksDB hands back is logged (module "store") and freed here; the
 * caller sees -EIO (or -EBUSY when another process holds the database lock, -EINVAL for
 * options RocksDB rejects). Only stet_store_open_rocks passes a message out, as a malloc'd
 * copy.
 *
 * Threading: the rocksdb_t handle is thread-safe; the loop thread reads and writes while one
 * worker performs a synchronous write. Each write builds its own rocksdb_writebatch_t.
 */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthread.h>

#include <rocksdb/c.h>

#include "common/assert.h"
#include "common/log.h"
#include "store/wal.h"

enum {
    ROCKS_BLOCK_CACHE_BYTES = 8 << 20,
    ROCKS_WRITE_BUFFER_BYTES = 4 << 20,
    ROCKS_MAX_OPEN_FILES = 256,
    ROCKS_BACKGROUND_JOBS = 2,
    ROCKS_INFO_LOG_FILES = 2,
    ROCKS_INFO_LOG_BYTES = 4 << 20,
    ROCKS_BLOOM_BITS_PER_KEY = 10,
};

struct rocks_store {
    struct stet_store base;
    size_t cache_bytes; /* block cache capacity */
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table_options;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *read_options;
    rocksdb_writeoptions_t *write_nowal;
    rocksdb_flushoptions_t *flush_opts;
    struct stet_wal *wal;       /* NULL until open succeeded */
    pthread_mutex_t wal_lock;   /* append + memtable write; rotation */
    uint32_t iters_open; /* atomic: iterators are created on the loop thread only, but be safe */
};

struct stet_store_iter {
    struct rocks_store *store;
    rocksdb_readoptions_t *read_options;
    rocksdb_iterator_t *it;
    uint8_t *lower; /* owned copies: RocksDB keeps pointers to the bounds */
    size_t lower_len;
    uint8_t *upper; /* NULL: unbounded */
    size_t upper_len;
};

/* Maps a RocksDB status message to an errno, logs it with context, and frees it. */
static int rocks_error(char *err, const char *what) {
    STET_ASSERT(err != NULL);
    int rc = -EIO;
    if (strstr(err, "LOCK") != NULL || strstr(err, "lock hold") != NULL) rc = -EBUSY;
    else if (strncmp(err, "Invalid argument", 16) == 0) rc = -EINVAL;
    stet_error("store", "rocksdb %s failed: %s", what, err);
    rocksdb_free(err);
    return rc;
}

static int rocks_get(struct stet_store *base, const void *key, size_t klen, struct stet_buf *out) {
    struct rocks_store *s = (struct rocks_store *)base;
    char *err = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(s->db, s->read_options, key, klen, &err);
    if (err != NULL) {
        STET_ASSERT(v == NULL);
        return rocks_error(err, "get");
    }
    if (v == NULL) return 1;
    size_t vlen = 0;
    const char *data = rocksdb_pinnableslice_value(v, &vlen);
    stet_buf_reset(out);
    stet_buf_append(out, data, vlen);
    rocksdb_pinnableslice_destroy(v);
    return 0;
}

static int rocks_write_batch(struct rocks_store *s, const struct stet_store_batch *b, rocksdb_writeoptions_t *wo,
                             const char *what) {
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    struct stet_store_batch_cursor c = {b, 0};
    int op;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint32_t n = 0;
    while (stet_store_batch_next(&c, &op, &k, &kl, &v, &vl)) {
        switch (op) {
        case STET_STORE_OP_PUT: rocksdb_writebatch_put(wb, (const char *)k, kl, (const char *)v, vl); break;
        case STET_STORE_OP_DELETE: rocksdb_writebatch_delete(wb, (const char *)k, kl); break;
        case STET_STORE_OP_DELETE_RANGE:
            /* An empty or inverted range deletes nothing (as in the mem store); RocksDB
             * may reject an inverted one, so it is not passed on. */
            if (stet_store_key_compare(k, kl, v, vl) < 0)
                rocksdb_writebatch_delete_range(wb, (const char *)k, kl, (const char *)v, vl);
            break;
        default: STET_UNREACHABLE();
        }
        n++;
    }
    STET_ASSERT(n == b->count);
    char *err = NULL;
    rocksdb_write(s->db, wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err != NULL) return rocks_error(err, what);
    return 0;
}

static int rocks_write(struct stet_store *base, const struct stet_store_batch *b, unsigned flags) {
    struct rocks_store *s = (struct rocks_store *)base;
    if ((flags & STET_STORE_WRITE_NO_WAL) != 0) return rocks_write_batch(s, b, s->write_nowal, "write(no WAL)");
    bool sync = (flags & STET_STORE_WRITE_SYNC) != 0;
    pthread_mutex_lock(&s->wal_lock);
    /* the WAL record is the batch's encoded ops (store.h), written as they are */
    int rc = stet_wal_append(s->wal, b->ops.data, b->ops.len, sync);
    if (rc == 0) rc = rocks_write_batch(s, b, s->write_nowal, sync ? "write(sync)" : "write");
    pthread_mutex_unlock(&s->wal_lock);
    return rc;
}

struct replay {
    struct rocks_store *store;
    uint64_t records;
};

/* Replay of one WAL record at open. */
static int replay_apply(void *arg, const uint8_t *payload, size_t len) {
    struct replay *r = arg;
    r->records++;
    struct stet_store_batch b;
    memset(&b, 0, sizeof(b));
    /* a read-only view of the payload (the batch is not freed); the record's hash checked
     * out, so the ops are as the writer encoded them */
    b.ops.data = (uint8_t *)payload;
    b.ops.len = len;
    b.ops.cap = len;
    struct stet_store_batch_cursor c = {&b, 0};
    int op;
    const uint8_t *k, *v;
    size_t kl, vl;
    while (stet_store_batch_next(&c, &op, &k, &kl, &v, &vl)) b.count++;
    return rocks_write_batch(r->store, &b, r->store->write_nowal, "write(replay)");
}

static int rocks_flush_db(struct rocks_store *s) {
    char *err = NULL;
    rocksdb_flush(s->db, s->flush_opts, &err);
    if (err != NULL) return rocks_error(err, "flush");
    return 0;
}

static int rocks_flush(struct stet_store *base) {
    struct rocks_store *s = (struct rocks_store *)base;
    pthread_mutex_lock(&s->wal_lock);
    stet_wal_rotate_begin(s->wal);
    pthread_mutex_unlock(&s->wal_lock);
    int rc = rocks_flush_db(s);
    pthread_mutex_lock(&s->wal_lock);
    stet_wal_rotate_end(s->wal, rc == 0);
    pthread_mutex_unlock(&s->wal_lock);
    return rc;
}

/* ---- iterators ------------------------------------------------------------------------ */

static uint8_t *copy_bytes(const void *p, size_t len) {
    uint8_t *c = malloc(len ? len : 1);
    STET_ASSERT(c != NULL);
    if (len) memcpy(c, p, len);
    return c;
}

static void rocks_iter_seek(struct stet_store_iter *it, const void *key, size_t klen) {
    if (stet_store_key_compare(key, klen, it->lower, it->lower_len) < 0) {
        key = it->lower;
        klen = it->lower_len;
    }
    rocksdb_iter_seek(it->it, key, klen);
}

static struct stet_store_iter *rocks_iter_create(struct stet_store *base, const void *lower, size_t llen,
                                                 const void *upper, size_t ulen) {
    struct rocks_store *s = (struct rocks_store *)base;
    struct stet_store_iter *it = calloc(1, sizeof(*it));
    STET_ASSERT(it != NULL);
    it->store = s;
    it->read_options = rocksdb_readoptions_create();
    it->lower = copy_bytes(lower, llen);
    it->lower_len = llen;
    if (llen > 0) rocksdb_readoptions_set_iterate_lower_bound(it->read_options, (const char *)it->lower, llen);
    if (upper != NULL) {
        it->upper = copy_bytes(upper, ulen);
        it->upper_len = ulen;
        rocksdb_readoptions_set_iterate_upper_bound(it->read_options, (const char *)it->upper, ulen);
    }
    it->it = rocksdb_create_iterator(s->db, it->read_options);
    STET_ASSERT(it->it != NULL);
    __atomic_add_fetch(&s->iters_open, 1, __ATOMIC_RELAXED);
    if (llen > 0) rocks_iter_seek(it, it->lower, llen);
    else rocksdb_iter_seek_to_first(it->it);
    return it;
}

static void rocks_iter_destroy(struct stet_store_iter *it) {
    STET_ASSERT(__atomic_load_n(&it->store->iters_open, __ATOMIC_RELAXED) > 0);
    __atomic_sub_fetch(&it->store->iters_open, 1, __ATOMIC_RELAXED);
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->read_options);
    free(it->lower);
    free(it->upper);
    free(it);
}

static bool rocks_iter_valid(struct stet_store_iter *it) { return rocksdb_iter_valid(it->it) != 0; }
static void rocks_iter_next(struct stet_store_iter *it) { rocksdb_iter_next(it->it); }
static void rocks_iter_prev(struct stet_store_iter *it) { rocksdb_iter_prev(it->it); }

static void rocks_iter_seek_last(struct stet_store_iter *it) {
    /* RocksDB honours iterate_upper_bound in SeekToLast. */
    rocksdb_iter_seek_to_last(it->it);
}

static void rocks_iter_seek_for_prev(struct stet_store_iter *it, const void *key, size_t klen) {
    if (it->upper != NULL && stet_store_key_compare(key, klen, it->upper, it->upper_len) >= 0) {
        rocks_iter_seek_last(it);
        return;
    }
    rocksdb_iter_seek_for_prev(it->it, key, klen);
}

static const uint8_t *rocks_iter_key(struct stet_store_iter *it, size_t *klen) {
    return (const uint8_t *)rocksdb_iter_key(it->it, klen);
}

static const uint8_t *rocks_iter_value(struct stet_store_iter *it, size_t *vlen) {
    return (const uint8_t *)rocksdb_iter_value(it->it, vlen);
}

static int rocks_iter_error(struct stet_store_iter *it) {
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    if (err == NULL) return 0;
    return rocks_error(err, "iterator");
}

static void rocks_free_handles(struct rocks_store *s) {
    if (s->db) rocksdb_close(s->db);
    stet_wal_close(s->wal);
    pthread_mutex_destroy(&s->wal_lock);
    if (s->write_nowal) rocksdb_writeoptions_destroy(s->write_nowal);
    if (s->flush_opts) rocksdb_flushoptions_destroy(s->flush_opts);
    if (s->read_options) rocksdb_readoptions_destroy(s->read_options);
    if (s->options) rocksdb_options_destroy(s->options);
    if (s->table_options) rocksdb_block_based_options_destroy(s->table_options);
    if (s->cache) rocksdb_cache_destroy(s->cache);
    free(s);
}

static void rocks_destroy(struct stet_store *base) {
    struct rocks_store *s = (struct rocks_store *)base;
    /* RocksDB asserts (or crashes) when iterators outlive the database. */
    STET_ASSERT(__atomic_load_n(&s->iters_open, __ATOMIC_RELAXED) == 0);
    /* a clean close: everything into SST files, then the next open replays nothing */
    if (rocks_flush_db(s) == 0) (void)stet_wal_mark_clean(s->wal);
    rocks_free_handles(s);
}

static uint64_t rocks_property(struct rocks_store *s, const char *name) {
    uint64_t v = 0;
    return rocksdb_property_int(s->db, name, &v) == 0 ? v : 0;
}

static void rocks_memory(struct stet_store *base, struct stet_store_memory *out) {
    struct rocks_store *s = (struct rocks_store *)base;
    out->memtables = rocks_property(s, "rocksdb.cur-size-all-mem-tables");
    out->table_readers = rocks_property(s, "rocksdb.estimate-table-readers-mem");
    out->block_cache = rocksdb_cache_get_usage(s->cache);
}

/* Setting the capacity to 0 evicts every unpinned entry; the old capacity comes back at once. */
static void rocks_release_caches(struct stet_store *base) {
    struct rocks_store *s = (struct rocks_store *)base;
    rocksdb_cache_set_capacity(s->cache, 0);
    rocksdb_cache_set_capacity(s->cache, s->cache_bytes);
}

static const struct stet_store_ops rocks_ops = {
    .get = rocks_get,
    .write = rocks_write,
    .iter_create = rocks_iter_create,
    .iter_destroy = rocks_iter_destroy,
    .iter_valid = rocks_iter_valid,
    .iter_next = rocks_iter_next,
    .iter_seek = rocks_iter_seek,
    .iter_key = rocks_iter_key,
    .iter_value = rocks_iter_value,
    .destroy = rocks_destroy,
    .iter_prev = rocks_iter_prev,
    .iter_seek_for_prev = rocks_iter_seek_for_prev,
    .iter_seek_last = rocks_iter_seek_last,
    .iter_error = rocks_iter_error,
    .flush = rocks_flush,
    .memory = rocks_memory,
    .release_caches = rocks_release_caches,
};

/* mkdir -p of the parents of dir (RocksDB creates the last component itself). */
static int make_parent_dirs(const char *dir, char **errmsg) {
    size_t n = strlen(dir);
    char *path = malloc(n + 1);
    STET_ASSERT(path != NULL);
    memcpy(path, dir, n + 1);
    int rc = 0;
    for (size_t i = 1; i < n; i++) {
        if (path[i] != '/') continue;
        path[i] = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            rc = -errno;
            if (errmsg) {
                struct stet_buf m = STET_BUF_INIT;
                stet_buf_printf(&m, "cannot create directory %s: %s (check permissions of the data directory)",
                                path, strerror(errno));
                *errmsg = stet_buf_strdup(&m);
                stet_buf_free(&m);
            }
            break;
        }
        path[i] = '/';
    }
    free(path);
    return rc;
}

int stet_store_open_rocks(const char *dir, struct stet_store **out, char **errmsg) {
    return stet_store_open_rocks_sized(dir, 0, out, errmsg);
}

int stet_store_open_rocks_sized(const char *dir, size_t cache_bytes, struct stet_store **out, char **errmsg) {
    STET_ASSERT(dir != NULL);
    STET_ASSERT(out != NULL);
    if (errmsg) *errmsg = NULL;
    *out = NULL;
    int rc = make_parent_dirs(dir, errmsg);
    if (rc < 0) return rc;

    struct rocks_store *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    s->base.ops = &rocks_ops;
    pthread_mutex_init(&s->wal_lock, NULL);
    s->cache_bytes = cache_bytes ? cache_bytes : ROCKS_BLOCK_CACHE_BYTES;
    s->cache = rocksdb_cache_create_lru(s->cache_bytes);
    s->table_options = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(s->table_options, s->cache);
    rocksdb_block_based_options_set_filter_policy(s->table_options,
                                                  rocksdb_filterpolicy_create_bloom(ROCKS_BLOOM_BITS_PER_KEY));
    s->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->options, 1);
    rocksdb_options_set_block_based_table_factory(s->options, s->table_options);
    rocksdb_options_set_max_open_files(s->options, ROCKS_MAX_OPEN_FILES);
    rocksdb_options_set_write_buffer_size(s->options, ROCKS_WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_write_buffer_number(s->options, 2);
    rocksdb_options_set_max_background_jobs(s->options, ROCKS_BACKGROUND_JOBS);
    rocksdb_options_set_keep_log_file_num(s->options, ROCKS_INFO_LOG_FILES);
    rocksdb_options_set_max_log_file_size(s->options, ROCKS_INFO_LOG_BYTES);
    rocksdb_options_set_compression(s->options, rocksdb_lz4_compression);
    /* start-up time (a target: bench/RESULTS.md): open table files on this thread instead of
     * spawning 16 threads for a handful of files, and do not read every table's properties
     * for statistics at open */
    rocksdb_options_set_max_file_opening_threads(s->options, 1);
    rocksdb_options_set_skip_stats_update_on_db_open(s->options, 1);
    rocksdb_options_set_skip_checking_sst_file_sizes_on_db_open(s->options, 1);
    s->read_options = rocksdb_readoptions_create();
    s->write_nowal = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(s->write_nowal, 1);
    s->flush_opts = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(s->flush_opts, 1);

    char *err = NULL;
    s->db = rocksdb_open(s->options, dir, &err);
    if (err != NULL && (strstr(err, "ompression") != NULL || strstr(err, "not linked") != NULL)) {
        stet_warn("store", "rocksdb rejected LZ4 (%s); opening dir=%s without compression", err, dir);
        rocksdb_free(err);
        err = NULL;
        rocksdb_options_set_compression(s->options, rocksdb_no_compression);
        s->db = rocksdb_open(s->options, dir, &err);
    }
    if (err != NULL) {
        STET_ASSERT(s->db == NULL);
        struct stet_buf m = STET_BUF_INIT;
        bool locked = strstr(err, "LOCK") != NULL || strstr(err, "lock hold") != NULL;
        stet_buf_printf(&m, "cannot open RocksDB in %s: %s", dir, err);
        if (locked) stet_buf_append_str(&m, " (another process is using this data directory; stop it first)");
        rc = rocks_error(err, "open");
        if (errmsg) *errmsg = stet_buf_strdup(&m);
        stet_buf_free(&m);
        goto fail;
    }
    STET_ASSERT(s->db != NULL);

    /* the store's WAL: replay what the last run did not flush, make it durable, start anew */
    {
        char wdir[4096];
        snprintf(wdir, sizeof(wdir), "%s-wal", dir);
        char *werr = NULL;
        struct stet_wal *wal = NULL;
        rc = stet_wal_open(wdir, stet_file_posix_ops(), &wal, &werr);
        if (rc != 0) {
            if (errmsg) *errmsg = werr;
            else free(werr);
            goto fail;
        }
        struct replay r = {s, 0};
        rc = stet_wal_replay(wal, replay_apply, &r);
        if (rc == 0 && r.records > 0) rc = rocks_flush_db(s); /* nothing replayed: nothing to flush */
        if (rc != 0) {
            stet_wal_close(wal);
            if (errmsg) *errmsg = strdup("cannot replay the store's write-ahead log (see the log above)");
            rc = rc < 0 ? rc : -EIO;
            goto fail;
        }
        rc = stet_wal_reset(wal);
        if (rc != 0) {
            /* a WAL that cannot start a clean run would fail every later write: refuse now */
            stet_wal_close(wal);
            if (errmsg) *errmsg = strdup("cannot reset the store's write-ahead log (is the disk full or read-only?)");
            rc = rc < 0 ? rc : -EIO;
            goto fail;
        }
        s->wal = wal;
    }
    *out = &s->base;
    return 0;

fail:
    rocks_free_handles(s);
    return rc;
}
