/* The simulated disk (model and guarantees: file_sim.h).
 *
 * A file is a `sim_bytes` volatile copy, a `sim_bytes` durable copy and `changes`, the writes
 * and truncates since its last fdatasync, each a copy of its data. Persisting a prefix of the
 * changes (a crash, a failed sync) replays them onto the durable copy, the first one not kept
 * whole cut at a sector boundary. Handles index `handles`; a handle's slot is never reused
 * while it is open or stale, so a stale handle cannot reach a newer file.
 */
#include "store/file_sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

struct sim_bytes {
    uint8_t *data;
    size_t len, cap;
};

struct sim_change {
    bool truncate; /* else a write of data[0..len) at off */
    uint64_t off;  /* truncate: the new size */
    uint8_t *data;
    size_t len;
};

struct sim_file {
    char *path;
    struct sim_bytes now, durable;
    struct sim_change *changes;
    size_t n_changes, cap_changes;
    bool name_durable; /* its directory was synced since it was created */
};

enum { HANDLE_FREE, HANDLE_OPEN, HANDLE_STALE };

struct sim_handle {
    int state;
    struct sim_file *file; /* HANDLE_OPEN only */
};

struct stet_file_sim {
    struct stet_file_ops ops;
    uint64_t rng;
    struct sim_file **files;
    size_t n_files, cap_files;
    char **dirs;
    size_t n_dirs, cap_dirs;
    struct sim_handle *handles;
    size_t n_handles, cap_handles;
    unsigned syncs_before_failing, fail_syncs;
    unsigned writes_before_failing, fail_writes;
    int write_error;
    bool short_written; /* the failing write was preceded by a short one */
    struct stet_file_sim_stats stats;
};

#define GROW(arr, n, cap)                                                  \
    do {                                                                   \
        if ((n) == (cap)) {                                                \
            (cap) = (cap) ? (cap) * 2 : 8;                                 \
            (arr) = realloc((arr), (cap) * sizeof(*(arr)));                \
            STET_ASSERT((arr) != NULL);                                    \
        }                                                                  \
    } while (0)

/* splitmix64: good output from any seed, 0 included */
uint64_t stet_file_sim_random(struct stet_file_sim *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t below(struct stet_file_sim *s, uint64_t n) {
    STET_ASSERT(n > 0);
    return stet_file_sim_random(s) % n;
}

/* ---- byte arrays ---------------------------------------------------------------------- */

static void bytes_resize(struct sim_bytes *b, size_t len) {
    if (len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < len) cap *= 2;
        b->data = realloc(b->data, cap);
        STET_ASSERT(b->data != NULL);
        b->cap = cap;
    }
    if (len > b->len) memset(b->data + b->len, 0, len - b->len); /* a hole reads as zeros */
    b->len = len;
}

static void bytes_write(struct sim_bytes *b, uint64_t off, const uint8_t *data, size_t len) {
    if (len == 0) return;
    if (off + len > b->len) bytes_resize(b, (size_t)(off + len));
    memcpy(b->data + off, data, len);
}

static void bytes_copy(struct sim_bytes *to, const struct sim_bytes *from) {
    to->len = 0;
    bytes_resize(to, from->len);
    if (from->len) memcpy(to->data, from->data, from->len);
}

/* ---- changes -------------------------------------------------------------------------- */

static void changes_clear(struct sim_file *f) {
    for (size_t i = 0; i < f->n_changes; i++) free(f->changes[i].data);
    f->n_changes = 0;
}

static void change_apply(struct sim_bytes *b, const struct sim_change *c) {
    if (c->truncate) {
        if (c->off < b->len) b->len = (size_t)c->off;
        else bytes_resize(b, (size_t)c->off);
    } else {
        bytes_write(b, c->off, c->data, c->len);
    }
}

/* Persists a seeded prefix of write c: up to a sector boundary strictly inside it, or
 * nothing (a write within one sector is atomic). */
static void change_apply_torn(struct stet_file_sim *s, struct sim_bytes *b, const struct sim_change *c) {
    if (c->truncate || c->len == 0) return;
    uint64_t end = c->off + c->len;
    uint64_t first = (c->off / STET_FILE_SIM_SECTOR_BYTES + 1) * STET_FILE_SIM_SECTOR_BYTES;
    uint64_t boundaries = first < end ? (end - 1 - first) / STET_FILE_SIM_SECTOR_BYTES + 1 : 0;
    uint64_t pick = below(s, boundaries + 1); /* 0: nothing; k: up to the k-th boundary */
    if (pick == 0) return;
    uint64_t cut = first + (pick - 1) * STET_FILE_SIM_SECTOR_BYTES;
    STET_ASSERT(cut > c->off && cut < end);
    bytes_write(b, c->off, c->data, (size_t)(cut - c->off));
    s->stats.torn_writes++;
}

/* The first `keep` changes reach the durable copy whole; with tear, the next one in part. */
static void changes_persist(struct stet_file_sim *s, struct sim_file *f, size_t keep, bool tear) {
    STET_ASSERT(keep <= f->n_changes);
    for (size_t i = 0; i < keep; i++) change_apply(&f->durable, &f->changes[i]);
    if (tear && keep < f->n_changes) change_apply_torn(s, &f->durable, &f->changes[keep]);
}

/* ---- files, directories, handles ------------------------------------------------------ */

static struct sim_file *file_find(struct stet_file_sim *s, const char *path) {
    for (size_t i = 0; i < s->n_files; i++)
        if (strcmp(s->files[i]->path, path) == 0) return s->files[i];
    return NULL;
}

static bool dir_exists(const struct stet_file_sim *s, const char *path, size_t len) {
    for (size_t i = 0; i < s->n_dirs; i++)
        if (strlen(s->dirs[i]) == len && memcmp(s->dirs[i], path, len) == 0) return true;
    return false;
}

/* Length of path's directory part (up to the last '/'); -1 if it has none. */
static ssize_t dir_len(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash - path : -1;
}

static void file_free(struct sim_file *f) {
    changes_clear(f);
    free(f->changes);
    free(f->now.data);
    free(f->durable.data);
    free(f->path);
    free(f);
}

static struct sim_file *handle_file(struct stet_file_sim *s, int handle) {
    if (handle < 0 || (size_t)handle >= s->n_handles || s->handles[handle].state != HANDLE_OPEN) return NULL;
    return s->handles[handle].file;
}

/* Whether this sync is one of the armed failures (then counted). */
static bool sync_fails(struct stet_file_sim *s) {
    if (s->fail_syncs == 0) return false;
    if (s->syncs_before_failing > 0) {
        s->syncs_before_failing--;
        return false;
    }
    s->fail_syncs--;
    s->stats.failed_syncs++;
    return true;
}

/* ---- stet_file_ops -------------------------------------------------------------------- */

static int sim_mkdir(void *ctx, const char *path) {
    struct stet_file_sim *s = ctx;
    if (dir_exists(s, path, strlen(path))) return 0;
    GROW(s->dirs, s->n_dirs, s->cap_dirs);
    s->dirs[s->n_dirs] = strdup(path);
    STET_ASSERT(s->dirs[s->n_dirs] != NULL);
    s->n_dirs++;
    return 0;
}

static int sim_open(void *ctx, const char *path, int *handle, bool *created) {
    struct stet_file_sim *s = ctx;
    struct sim_file *f = file_find(s, path);
    *created = f == NULL;
    if (f == NULL) {
        ssize_t dl = dir_len(path);
        if (dl < 0 || !dir_exists(s, path, (size_t)dl)) return -ENOENT;
        f = calloc(1, sizeof(*f));
        STET_ASSERT(f != NULL);
        f->path = strdup(path);
        STET_ASSERT(f->path != NULL);
        GROW(s->files, s->n_files, s->cap_files);
        s->files[s->n_files++] = f;
    }
    size_t h = 0;
    while (h < s->n_handles && s->handles[h].state != HANDLE_FREE) h++;
    if (h == s->n_handles) {
        GROW(s->handles, s->n_handles, s->cap_handles);
        s->n_handles++;
    }
    s->handles[h] = (struct sim_handle){HANDLE_OPEN, f};
    *handle = (int)h;
    return 0;
}

static int sim_sync_dir(void *ctx, const char *path) {
    struct stet_file_sim *s = ctx;
    size_t len = strlen(path);
    if (!dir_exists(s, path, len)) return -ENOENT;
    if (sync_fails(s)) return -EIO;
    for (size_t i = 0; i < s->n_files; i++) {
        struct sim_file *f = s->files[i];
        if (dir_len(f->path) == (ssize_t)len && memcmp(f->path, path, len) == 0) f->name_durable = true;
    }
    s->stats.syncs++;
    return 0;
}

static int sim_size(void *ctx, int handle, uint64_t *size) {
    struct sim_file *f = handle_file(ctx, handle);
    if (f == NULL) return -EBADF;
    *size = f->now.len;
    return 0;
}

static ssize_t sim_pread(void *ctx, int handle, void *buf, size_t len, uint64_t off) {
    struct sim_file *f = handle_file(ctx, handle);
    if (f == NULL) return -EBADF;
    if (off >= f->now.len) return 0;
    size_t n = f->now.len - (size_t)off < len ? f->now.len - (size_t)off : len;
    memcpy(buf, f->now.data + off, n);
    return (ssize_t)n;
}

static ssize_t sim_pwritev(void *ctx, int handle, const struct iovec *iov, int iovcnt, uint64_t off) {
    struct stet_file_sim *s = ctx;
    struct sim_file *f = handle_file(s, handle);
    if (f == NULL) return -EBADF;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
    if (s->fail_writes > 0 && s->writes_before_failing > 0) {
        s->writes_before_failing--;
    } else if (s->fail_writes > 0) {
        if (!s->short_written && total > 1 && below(s, 2) == 0) {
            total = 1 + (size_t)below(s, total - 1); /* a short write first */
            s->short_written = true;
        } else {
            s->short_written = false;
            s->fail_writes--;
            s->stats.failed_writes++;
            return s->write_error;
        }
    }
    uint8_t *data = malloc(total ? total : 1);
    STET_ASSERT(data != NULL);
    size_t at = 0;
    for (int i = 0; i < iovcnt && at < total; i++) {
        size_t n = iov[i].iov_len < total - at ? iov[i].iov_len : total - at;
        memcpy(data + at, iov[i].iov_base, n);
        at += n;
    }
    struct sim_change c = {false, off, data, total};
    change_apply(&f->now, &c);
    GROW(f->changes, f->n_changes, f->cap_changes);
    f->changes[f->n_changes++] = c;
    s->stats.writes++;
    return (ssize_t)total;
}

static int sim_fdatasync(void *ctx, int handle) {
    struct stet_file_sim *s = ctx;
    struct sim_file *f = handle_file(s, handle);
    if (f == NULL) return -EBADF;
    if (sync_fails(s)) {
        /* some of it may have reached the disk; the rest never will */
        changes_persist(s, f, (size_t)below(s, f->n_changes + 1), true);
        changes_clear(f);
        return -EIO;
    }
    /* the changes, not the volatile copy: what a failed sync dropped stays volatile */
    changes_persist(s, f, f->n_changes, false);
    changes_clear(f);
    s->stats.syncs++;
    return 0;
}

static int sim_ftruncate(void *ctx, int handle, uint64_t size) {
    struct stet_file_sim *s = ctx;
    struct sim_file *f = handle_file(s, handle);
    if (f == NULL) return -EBADF;
    struct sim_change c = {true, size, NULL, 0};
    change_apply(&f->now, &c);
    GROW(f->changes, f->n_changes, f->cap_changes);
    f->changes[f->n_changes++] = c;
    return 0;
}

static int sim_close(void *ctx, int handle) {
    struct stet_file_sim *s = ctx;
    if (handle < 0 || (size_t)handle >= s->n_handles || s->handles[handle].state == HANDLE_FREE) return -EBADF;
    s->handles[handle] = (struct sim_handle){HANDLE_FREE, NULL};
    return 0;
}

static uint64_t sim_random(void *ctx) { return stet_file_sim_random(ctx); }

/* ---- API ------------------------------------------------------------------------------ */

struct stet_file_sim *stet_file_sim_create(uint64_t seed) {
    struct stet_file_sim *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    s->rng = seed;
    s->ops = (struct stet_file_ops){
        .ctx = s,
        .mkdir = sim_mkdir,
        .open = sim_open,
        .sync_dir = sim_sync_dir,
        .size = sim_size,
        .pread = sim_pread,
        .pwritev = sim_pwritev,
        .fdatasync = sim_fdatasync,
        .ftruncate = sim_ftruncate,
        .close = sim_close,
        .random = sim_random,
    };
    return s;
}

void stet_file_sim_destroy(struct stet_file_sim *s) {
    if (s == NULL) return;
    for (size_t i = 0; i < s->n_files; i++) file_free(s->files[i]);
    for (size_t i = 0; i < s->n_dirs; i++) free(s->dirs[i]);
    free(s->files);
    free(s->dirs);
    free(s->handles);
    free(s);
}

const struct stet_file_ops *stet_file_sim_ops(struct stet_file_sim *s) { return &s->ops; }

void stet_file_sim_fail_syncs(struct stet_file_sim *s, unsigned after, unsigned count) {
    s->syncs_before_failing = after;
    s->fail_syncs = count;
}

void stet_file_sim_fail_writes(struct stet_file_sim *s, unsigned after, unsigned count, int error) {
    STET_ASSERT(error < 0);
    s->writes_before_failing = after;
    s->fail_writes = count;
    s->write_error = error;
    s->short_written = false;
}

void stet_file_sim_crash(struct stet_file_sim *s, enum stet_file_sim_crash mode) {
    for (size_t i = 0; i < s->n_handles; i++)
        if (s->handles[i].state == HANDLE_OPEN) s->handles[i] = (struct sim_handle){HANDLE_STALE, NULL};
    size_t kept = 0;
    for (size_t i = 0; i < s->n_files; i++) {
        struct sim_file *f = s->files[i];
        if (!f->name_durable) {
            file_free(f);
            continue;
        }
        switch (mode) {
        case STET_FILE_SIM_CRASH_LOSE_UNSYNCED: break;
        case STET_FILE_SIM_CRASH_TEAR_LAST:
            if (f->n_changes > 0) changes_persist(s, f, f->n_changes - 1, true);
            break;
        case STET_FILE_SIM_CRASH_RANDOM: changes_persist(s, f, (size_t)below(s, f->n_changes + 1), true); break;
        case STET_FILE_SIM_CRASH_ANY:
            for (size_t c = 0; c < f->n_changes; c++) {
                uint64_t fate = below(s, 3);
                if (fate == 0) change_apply(&f->durable, &f->changes[c]);
                else if (fate == 1) change_apply_torn(s, &f->durable, &f->changes[c]);
            }
            break;
        default: STET_UNREACHABLE();
        }
        changes_clear(f);
        bytes_copy(&f->now, &f->durable);
        s->files[kept++] = f;
    }
    s->n_files = kept;
    s->short_written = false;
    s->stats.crashes++;
}

void stet_file_sim_stats(const struct stet_file_sim *s, struct stet_file_sim_stats *out) { *out = s->stats; }
