/* The store's write-ahead log (design and guarantees: wal.h).
 *
 * Record layout (little-endian), 24-byte header then the payload:
 *
 *     u32 magic 'SWAL' | u32 payload length | u64 sequence | u64 xxHash64(payload, seed)
 *
 * with seed = sequence ^ length ^ magic, so the hash also covers the header fields.
 *
 * Sequence numbers start at a random 62-bit base every time the WAL is reset (at open, after
 * replay), and both runs are invalidated then: the runs found at the next replay always come
 * from one session, so their sequence numbers are comparable, and content left over from
 * earlier sessions cannot continue a run by accident (it would need the exact next number).
 *
 * State (under the caller's lock): `active` file and write offset `off`; `other_free` says the
 * inactive file holds nothing that is not durable elsewhere, so a rotation may reuse it;
 * `size[i]` is each file's length, so an append knows whether it grows the file; `has_run[i]`
 * and `first_seq[i]` say whether file i may begin with a valid run and with which sequence
 * number (the older run is invalidated first); `dirty[i]` that file i was written since its
 * last fdatasync (a rotation syncs it first); `failed` is the error that failed the WAL
 * (wal.h, "Failures"), 0 while it is healthy.
 *
 * All file I/O goes through `io` (file_io.h), so tests and the simulator run it on a disk
 * that loses, tears and refuses writes (file_sim.h).
 */
#include "store/wal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/ids.h"
#include "common/log.h"

#define WAL_MAGIC 0x4C415753u /* "SWAL" */
enum {
    WAL_HEADER_BYTES = 24,
    WAL_MAX_RECORD_BYTES = 1 << 30,
    WAL_MAX_REUSE_BYTES = 64 << 20, /* a file that grew beyond this starts empty when reused */
};

struct stet_wal {
    char *dir;
    struct stet_file_ops io;
    int fd[2]; /* handles of io; -1: not open */
    uint64_t size[2];
    int active;
    uint64_t off;
    uint64_t next_seq;
    bool other_free;
    bool has_run[2];       /* file i may begin with a valid run (what invalidate has to clear) */
    bool dirty[2];         /* file i was written since its last fdatasync */
    uint64_t first_seq[2]; /* if has_run[i]: the sequence number it begins with */
    int failed;            /* < 0: an fdatasync (or an invalidation) failed, see wal.h */
    struct stet_wal_stats stats;
};

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t record_hash(uint64_t seq, uint32_t len, const void *payload) {
    return stet_xxhash64(payload, len, seq ^ len ^ WAL_MAGIC);
}

static uint64_t random_base(struct stet_wal *w) {
    return (w->io.random(w->io.ctx) >> 2) | 1; /* 62 bits: never wraps within a session */
}

/* 0, 1 at the end of the file, or a negative errno. */
static int pread_full(struct stet_wal *w, int i, void *buf, size_t len, uint64_t off) {
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = w->io.pread(w->io.ctx, w->fd[i], p, len, off);
        if (n < 0) return (int)n;
        if (n == 0) return 1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Writes all of iov (modified) at off into file i: 0 or a negative errno (then some prefix
 * may have been written). */
static int pwritev_full(struct stet_wal *w, int i, struct iovec *v, int iovcnt, uint64_t off) {
    while (iovcnt > 0) {
        ssize_t n = w->io.pwritev(w->io.ctx, w->fd[i], v, iovcnt, off);
        if (n < 0) return (int)n;
        if (n == 0) return -EIO;
        off += (uint64_t)n;
        /* advance the iovecs past what was written */
        size_t skip = (size_t)n;
        while (iovcnt > 0 && skip >= v->iov_len) {
            skip -= v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            v->iov_base = (uint8_t *)v->iov_base + skip;
            v->iov_len -= skip;
        }
    }
    return 0;
}

int stet_wal_open(const char *dir, const struct stet_file_ops *io, struct stet_wal **out, char **errmsg) {
    STET_ASSERT(dir != NULL && io != NULL && out != NULL);
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    struct stet_wal *w = calloc(1, sizeof(*w));
    STET_ASSERT(w != NULL);
    w->io = *io;
    w->fd[0] = w->fd[1] = -1;
    w->dir = strdup(dir);
    STET_ASSERT(w->dir != NULL);
    int rc = w->io.mkdir(w->io.ctx, dir);
    if (rc != 0) goto fail;
    bool created = false;
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/wal-%d", dir, i);
        bool new_file = false;
        rc = w->io.open(w->io.ctx, path, &w->fd[i], &new_file);
        if (rc != 0) {
            w->fd[i] = -1;
            goto fail;
        }
        created = created || new_file;
        rc = w->io.size(w->io.ctx, w->fd[i], &w->size[i]);
        if (rc != 0) goto fail;
    }
    if (created) {
        /* the new names must survive a crash too */
        rc = w->io.sync_dir(w->io.ctx, dir);
        if (rc != 0) goto fail;
    }
    w->next_seq = random_base(w);
    w->other_free = false; /* until replay + reset */
    *out = w;
    return 0;
fail:
    if (errmsg) {
        struct stet_buf m = STET_BUF_INIT;
        stet_buf_printf(&m, "cannot open the write-ahead log in %s: %s", dir, strerror(-rc));
        *errmsg = stet_buf_strdup(&m);
        stet_buf_free(&m);
    }
    stet_wal_close(w);
    return rc;
}

/* The run of file i: records from offset 0 with consecutive sequence numbers. If apply is not
 * NULL, each payload is passed to it. Fills first/count. Returns 0, an apply error, or a
 * negative errno for a read error. */
static int scan_run(struct stet_wal *w, int i, uint64_t *first, uint64_t *count,
                    int (*apply)(void *arg, const uint8_t *payload, size_t len), void *arg) {
    *first = 0;
    *count = 0;
    uint64_t off = 0, expect = 0;
    struct stet_buf payload = STET_BUF_INIT;
    int rc = 0;
    for (;;) {
        uint8_t h[WAL_HEADER_BYTES];
        if (off + WAL_HEADER_BYTES > w->size[i]) break;
        int r = pread_full(w, i, h, sizeof(h), off);
        if (r != 0) {
            if (r < 0) rc = r;
            break;
        }
        uint32_t magic = get_u32(h), len = get_u32(h + 4);
        uint64_t seq = get_u64(h + 8), hash = get_u64(h + 16);
        if (magic != WAL_MAGIC || len > WAL_MAX_RECORD_BYTES || off + WAL_HEADER_BYTES + len > w->size[i]) break;
        if (*count > 0 && seq != expect) break;
        stet_buf_reset(&payload);
        stet_buf_reserve(&payload, len ? len : 1);
        r = pread_full(w, i, payload.data, len, off + WAL_HEADER_BYTES);
        if (r != 0) {
            if (r < 0) rc = r;
            break;
        }
        payload.len = len;
        if (record_hash(seq, len, payload.data) != hash) break;
        if (*count == 0) {
            *first = seq;
            w->has_run[i] = true;
            w->first_seq[i] = seq;
        }
        (*count)++;
        expect = seq + 1;
        off += WAL_HEADER_BYTES + len;
        if (apply) {
            rc = apply(arg, payload.data, len);
            if (rc != 0) break;
        }
    }
    stet_buf_free(&payload);
    return rc;
}

int stet_wal_replay(struct stet_wal *w, int (*apply)(void *arg, const uint8_t *payload, size_t len), void *arg) {
    uint64_t first[2], count[2];
    for (int i = 0; i < 2; i++) {
        int rc = scan_run(w, i, &first[i], &count[i], NULL, NULL);
        if (rc != 0) return rc;
    }
    int order[2] = {0, 1};
    if (count[0] > 0 && count[1] > 0 && first[1] < first[0]) {
        order[0] = 1;
        order[1] = 0;
    }
    if (count[order[0]] > 0 && count[order[1]] > 0 && first[order[0]] + count[order[0]] != first[order[1]]) {
        /* The older run does not end where the newer one begins: the records in between were
         * overwritten by a later cycle, so they, and the older run, were flushed. Replaying the
         * older run without them would set their keys back to older values. (Rotating twice
         * without an append in between leaves such a run; so can a crash that kept a later
         * write over it but not the first record of the new run.) */
        stet_info("store", "skipping %llu flushed write-ahead log records in %s/wal-%d (not followed by the newer run)",
                  (unsigned long long)count[order[0]], w->dir, order[0]);
        count[order[0]] = 0;
    }
    for (int k = 0; k < 2; k++) {
        int i = order[k];
        if (count[i] == 0) continue;
        uint64_t f, c;
        int rc = scan_run(w, i, &f, &c, apply, arg);
        if (rc != 0) return rc;
        stet_info("store", "replayed %llu write-ahead log records from %s/wal-%d", (unsigned long long)c, w->dir, i);
    }
    return 0;
}

/* Overwrites the first header of file i with zeros (no run), if the file may have one. */
static int invalidate(struct stet_wal *w, int i) {
    if (!w->has_run[i] || w->size[i] < WAL_HEADER_BYTES) return 0;
    uint8_t zero[WAL_HEADER_BYTES] = {0};
    struct iovec v = {zero, sizeof(zero)};
    w->dirty[i] = true;
    int rc = pwritev_full(w, i, &v, 1, 0);
    if (rc == 0) rc = w->io.fdatasync(w->io.ctx, w->fd[i]);
    if (rc != 0) return rc;
    w->dirty[i] = false;
    w->has_run[i] = false;
    return 0;
}

int stet_wal_mark_clean(struct stet_wal *w) {
    if (w->failed != 0) return w->failed;
    /* The older run first: a crash (or a failure) between the two leaves the newer run alone,
     * and replaying it alone is harmless (it holds the last value of every key it has). The
     * older run alone would set its keys back to older values. */
    int order[2] = {0, 1};
    if (w->has_run[0] && w->has_run[1] && w->first_seq[1] < w->first_seq[0]) {
        order[0] = 1;
        order[1] = 0;
    }
    for (int k = 0; k < 2; k++) {
        int i = order[k];
        int rc = invalidate(w, i);
        if (rc != 0) {
            /* A run left behind must never meet the runs of a later session (their sequence
             * numbers are not comparable): no append until the WAL is reopened. */
            w->failed = rc;
            stet_error("store", "cannot reset the write-ahead log %s/wal-%d: %s; the write-ahead log refuses "
                       "writes until the server restarts", w->dir, i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int stet_wal_reset(struct stet_wal *w) {
    int rc = stet_wal_mark_clean(w);
    w->active = 0;
    w->off = 0;
    w->other_free = true;
    w->next_seq = random_base(w);
    return rc;
}

int stet_wal_error(const struct stet_wal *w) { return w->failed; }

int stet_wal_append(struct stet_wal *w, const void *payload, size_t len, bool sync) {
    STET_ASSERT(len <= WAL_MAX_RECORD_BYTES);
    if (w->failed != 0) return w->failed;
    uint8_t h[WAL_HEADER_BYTES];
    uint64_t seq = w->next_seq;
    put_u32(h, WAL_MAGIC);
    put_u32(h + 4, (uint32_t)len);
    put_u64(h + 8, seq);
    put_u64(h + 16, record_hash(seq, (uint32_t)len, len ? payload : (const void *)""));
    struct iovec iov[2] = {{h, sizeof(h)}, {(void *)payload, len}};
    size_t total = sizeof(h) + len;
    /* From its first byte on, this record may begin a run of the file (invalidate must know);
     * until it is complete, the file's run is whatever it was. */
    if (w->off == 0) w->has_run[w->active] = true;
    w->dirty[w->active] = true;
    int rc = pwritev_full(w, w->active, iov, len ? 2 : 1, w->off);
    if (rc == 0 && w->off == 0) w->first_seq[w->active] = seq;
    if (rc != 0) {
        /* Not a failed WAL: the record is incomplete on disk (its hash does not check out)
         * and the next append writes over it, with the same sequence number. */
        stet_error("store", "write-ahead log write failed (%s/wal-%d): %s", w->dir, w->active, strerror(-rc));
        return rc;
    }
    if (sync) {
        rc = w->io.fdatasync(w->io.ctx, w->fd[w->active]);
        if (rc != 0) {
            w->failed = rc;
            stet_error("store", "write-ahead log fdatasync failed (%s/wal-%d): %s; the write-ahead log refuses "
                       "writes until the server restarts and replays what reached the disk",
                       w->dir, w->active, strerror(-rc));
            return rc;
        }
        w->dirty[w->active] = false;
    }
    w->next_seq++;
    w->off += total;
    if (w->off > w->size[w->active]) {
        w->size[w->active] = w->off;
        w->stats.grown_appends++;
    }
    w->stats.appends++;
    w->stats.bytes += total;
    if (sync) w->stats.syncs++;
    return 0;
}

bool stet_wal_rotate_begin(struct stet_wal *w) {
    /* off == 0: nothing appended since the last rotation; the other file holds the newest
     * run and the flush covers it without a switch (wal.h) */
    if (!w->other_free || w->failed != 0 || w->off == 0) return false;
    /* Unsynced records must not stay behind in the file we leave: the kernel could write the
     * new file's records back first, and a crash would then leave a hole in the middle of the
     * replay (records after it replayed, those in it not: keys could end at older values).
     * Only appends without sync leave a file dirty; the log and the metadata always sync. */
    if (w->dirty[w->active]) {
        int rc = w->io.fdatasync(w->io.ctx, w->fd[w->active]);
        if (rc != 0) {
            w->failed = rc;
            stet_error("store", "write-ahead log fdatasync failed (%s/wal-%d): %s; the write-ahead log refuses "
                       "writes until the server restarts and replays what reached the disk",
                       w->dir, w->active, strerror(-rc));
            return false;
        }
        w->dirty[w->active] = false;
        w->stats.syncs++;
    }
    w->active ^= 1;
    w->off = 0;
    w->other_free = false;
    /* not synced: the next synced append makes the new length durable with its data */
    if (w->size[w->active] > WAL_MAX_REUSE_BYTES && w->io.ftruncate(w->io.ctx, w->fd[w->active], 0) == 0)
        w->size[w->active] = 0;
    w->stats.rotations++;
    return true;
}

void stet_wal_rotate_end(struct stet_wal *w, bool ok) {
    /* The inactive file only holds appends made before the flush began, which the flush made
     * durable: with or without a rotation, it may be reused once the flush succeeded. */
    if (ok) w->other_free = true;
}

void stet_wal_close(struct stet_wal *w) {
    if (!w) return;
    for (int i = 0; i < 2; i++)
        if (w->fd[i] >= 0) (void)w->io.close(w->io.ctx, w->fd[i]);
    free(w->dir);
    free(w);
}

void stet_wal_stats(const struct stet_wal *w, struct stet_wal_stats *out) { *out = w->stats; }
