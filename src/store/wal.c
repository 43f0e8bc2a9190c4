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
 * `size[i]` is each file's length, so an append knows whether it grows the file.
 */
#include "store/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

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
    int fd[2];
    uint64_t size[2];
    int active;
    uint64_t off;
    uint64_t next_seq;
    bool other_free;
    bool has_run[2]; /* file i may begin with a valid run (what invalidate has to clear) */
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

static uint64_t random_base(void) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) r = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    return (r >> 2) | 1; /* 62 bits: never wraps within a session */
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return 1; /* end of file */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int stet_wal_open(const char *dir, struct stet_wal **out, char **errmsg) {
    STET_ASSERT(dir != NULL && out != NULL);
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    struct stet_wal *w = calloc(1, sizeof(*w));
    STET_ASSERT(w != NULL);
    w->fd[0] = w->fd[1] = -1;
    w->dir = strdup(dir);
    STET_ASSERT(w->dir != NULL);
    int rc = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    bool created = false;
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/wal-%d", dir, i);
        if (access(path, F_OK) != 0) created = true;
        w->fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (w->fd[i] < 0) {
            rc = -errno;
            goto fail;
        }
        struct stat st;
        if (fstat(w->fd[i], &st) != 0) {
            rc = -errno;
            goto fail;
        }
        w->size[i] = (uint64_t)st.st_size;
    }
    if (created) {
        /* the new names must survive a crash too */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            rc = -errno;
            goto fail;
        }
        int r = fsync(dfd);
        close(dfd);
        if (r != 0) {
            rc = -errno;
            goto fail;
        }
    }
    w->next_seq = random_base();
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
        int r = pread_full(w->fd[i], h, sizeof(h), off);
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
        r = pread_full(w->fd[i], payload.data, len, off + WAL_HEADER_BYTES);
        if (r != 0) {
            if (r < 0) rc = r;
            break;
        }
        payload.len = len;
        if (record_hash(seq, len, payload.data) != hash) break;
        if (*count == 0) {
            *first = seq;
            w->has_run[i] = true;
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
    ssize_t n;
    do n = pwrite(w->fd[i], zero, sizeof(zero), 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(zero)) return n < 0 ? -errno : -EIO;
    if (fdatasync(w->fd[i]) != 0) return -errno;
    w->has_run[i] = false;
    return 0;
}

int stet_wal_mark_clean(struct stet_wal *w) {
    for (int i = 0; i < 2; i++) {
        int rc = invalidate(w, i);
        if (rc != 0) {
            stet_error("store", "cannot reset the write-ahead log %s/wal-%d: %s", w->dir, i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

void stet_wal_reset(struct stet_wal *w) {
    /* a failure here only means the next replay redoes records that are durable anyway */
    (void)stet_wal_mark_clean(w);
    w->active = 0;
    w->off = 0;
    w->other_free = true;
    w->next_seq = random_base();
}

int stet_wal_append(struct stet_wal *w, const void *payload, size_t len, bool sync) {
    STET_ASSERT(len <= WAL_MAX_RECORD_BYTES);
    uint8_t h[WAL_HEADER_BYTES];
    uint64_t seq = w->next_seq;
    put_u32(h, WAL_MAGIC);
    put_u32(h + 4, (uint32_t)len);
    put_u64(h + 8, seq);
    put_u64(h + 16, record_hash(seq, (uint32_t)len, len ? payload : (const void *)""));
    struct iovec iov[2] = {{h, sizeof(h)}, {(void *)payload, len}};
    int fd = w->fd[w->active];
    size_t total = sizeof(h) + len, done = 0;
    int iovcnt = len ? 2 : 1;
    struct iovec *v = iov;
    while (done < total) {
        ssize_t n = pwritev(fd, v, iovcnt, (off_t)(w->off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int rc = n < 0 ? -errno : -EIO;
            stet_error("store", "write-ahead log write failed (%s/wal-%d): %s", w->dir, w->active, strerror(-rc));
            return rc;
        }
        done += (size_t)n;
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
    if (sync && fdatasync(fd) != 0) {
        int rc = -errno;
        stet_error("store", "write-ahead log fdatasync failed (%s/wal-%d): %s", w->dir, w->active, strerror(-rc));
        return rc;
    }
    if (w->off == 0) w->has_run[w->active] = true;
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
    if (!w->other_free) return false;
    w->active ^= 1;
    w->off = 0;
    w->other_free = false;
    if (w->size[w->active] > WAL_MAX_REUSE_BYTES && ftruncate(w->fd[w->active], 0) == 0) w->size[w->active] = 0;
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
        if (w->fd[i] >= 0) close(w->fd[i]);
    free(w->dir);
    free(w);
}

void stet_wal_stats(const struct stet_wal *w, struct stet_wal_stats *out) { *out = w->stats; }
