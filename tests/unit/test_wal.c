/* Tests for src/store/wal.c (the store's write-ahead log): records replay in order after a
 * close without a clean mark (a crash), rotation reuses the other file and old content never
 * replays again, a torn record ends the run, a clean mark replays nothing, a failed flush
 * refuses the next rotation, and reused files are overwritten without growing.
 *
 * Then the same WAL on the simulated disk (src/store/file_sim.h), with real crashes: synced
 * records survive and unsynced ones are lost, a torn last record is dropped, a failed
 * fdatasync fails the WAL, a failed write does not, a rotation syncs the file it leaves, a
 * stale run is not replayed, a clean mark invalidates the older run first, and 200 seeded
 * random crashes with torn writes and injected failures always replay a contiguous, complete
 * run of what was appended. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/file_sim.h"
#include "store/wal.h"

struct seen {
    int n;
    char rec[16][64];
};

static int collect(void *arg, const uint8_t *payload, size_t len) {
    struct seen *s = arg;
    assert_true(s->n < 16);
    assert_true(len < 64);
    memcpy(s->rec[s->n], payload, len);
    s->rec[s->n][len] = 0;
    s->n++;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

struct fixture {
    char dir[64];
    struct stet_wal *w;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/stet-test-wal-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    strcat(f->dir, "/wal"); /* stet_wal_open creates the last component */
    if (stet_wal_open(f->dir, stet_file_posix_ops(), &f->w, NULL) != 0) return -1;
    struct seen s = {0};
    if (stet_wal_replay(f->w, collect, &s) != 0 || s.n != 0) return -1;
    stet_wal_reset(f->w);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    stet_wal_close(f->w);
    char parent[64];
    snprintf(parent, sizeof(parent), "%s", f->dir);
    *strrchr(parent, '/') = 0;
    nftw(parent, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void append(struct stet_wal *w, const char *s) { assert_int_equal(stet_wal_append(w, s, strlen(s), true), 0); }

/* Closes without a clean mark (what a crash leaves), reopens, replays into *out. */
static void crash_and_replay(struct fixture *f, struct seen *out) {
    stet_wal_close(f->w);
    f->w = NULL;
    memset(out, 0, sizeof(*out));
    assert_int_equal(stet_wal_open(f->dir, stet_file_posix_ops(), &f->w, NULL), 0);
    assert_int_equal(stet_wal_replay(f->w, collect, out), 0);
}

static void test_replay_after_crash(void **state) {
    struct fixture *f = *state;
    append(f->w, "one");
    append(f->w, "two");
    assert_int_equal(stet_wal_append(f->w, "", 0, true), 0); /* empty payloads are records too */
    append(f->w, "three");
    struct seen s;
    crash_and_replay(f, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.rec[0], "one");
    assert_string_equal(s.rec[1], "two");
    assert_string_equal(s.rec[2], "");
    assert_string_equal(s.rec[3], "three");
    /* after the reset that follows a replay, nothing replays twice */
    stet_wal_reset(f->w);
    crash_and_replay(f, &s);
    assert_int_equal(s.n, 0);
}

static void test_rotation_reuses_files(void **state) {
    struct fixture *f = *state;
    append(f->w, "A1 a fairly long first record");
    append(f->w, "A2 a fairly long second record");
    append(f->w, "A3 a fairly long third record");
    bool t = stet_wal_rotate_begin(f->w);
    assert_true(t != 0);
    append(f->w, "B1");
    append(f->w, "B2");
    /* a crash during the flush: both runs are needed, oldest first */
    struct seen s;
    crash_and_replay(f, &s);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.rec[0], "A1 a fairly long first record");
    assert_string_equal(s.rec[3], "B1");
    assert_string_equal(s.rec[4], "B2");
    stet_wal_reset(f->w);

    append(f->w, "A1 a fairly long first record");
    append(f->w, "A2 a fairly long second record");
    t = stet_wal_rotate_begin(f->w);
    append(f->w, "B1");
    stet_wal_rotate_end(f->w, true);
    struct stet_wal_stats st0;
    stet_wal_stats(f->w, &st0);
    t = stet_wal_rotate_begin(f->w); /* back to wal-0, over the A records */
    assert_true(t != 0);
    append(f->w, "C1");
    struct stet_wal_stats st1;
    stet_wal_stats(f->w, &st1);
    assert_int_equal(st1.grown_appends, st0.grown_appends); /* overwrote, did not grow */
    assert_int_equal(st1.rotations, st0.rotations + 1);
    crash_and_replay(f, &s);
    /* B1 (the flushed cycle, harmless to redo) and C1; the A records are gone */
    assert_int_equal(s.n, 2);
    assert_string_equal(s.rec[0], "B1");
    assert_string_equal(s.rec[1], "C1");
}

static void test_failed_flush_keeps_file(void **state) {
    struct fixture *f = *state;
    append(f->w, "x1");
    bool t = stet_wal_rotate_begin(f->w);
    assert_true(t != 0);
    append(f->w, "x2");
    stet_wal_rotate_end(f->w, false);
    /* wal-0 still holds x1, which no flush made durable: no rotation onto it */
    assert_int_equal(stet_wal_rotate_begin(f->w), 0);
    append(f->w, "x3");
    struct seen s;
    crash_and_replay(f, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.rec[0], "x1");
    assert_string_equal(s.rec[2], "x3");
    stet_wal_reset(f->w);
    /* a successful flush without rotation frees the inactive file */
    append(f->w, "y1");
    t = stet_wal_rotate_begin(f->w);
    assert_true(t != 0);
    stet_wal_rotate_end(f->w, false);
    assert_int_equal(stet_wal_rotate_begin(f->w), 0);
    stet_wal_rotate_end(f->w, true);
    append(f->w, "y2"); /* no rotation without an append since the last one (wal.h) */
    assert_true(stet_wal_rotate_begin(f->w) != 0);
}

static void test_torn_record_ends_run(void **state) {
    struct fixture *f = *state;
    append(f->w, "good one");
    append(f->w, "good two");
    append(f->w, "torn three");
    stet_wal_close(f->w);
    f->w = NULL;
    /* flip the last byte of the last record (wal-0) */
    char path[128];
    snprintf(path, sizeof(path), "%s/wal-0", f->dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t end = lseek(fd, 0, SEEK_END);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, end - 1), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, end - 1), 1);
    close(fd);
    struct seen s = {0};
    assert_int_equal(stet_wal_open(f->dir, stet_file_posix_ops(), &f->w, NULL), 0);
    assert_int_equal(stet_wal_replay(f->w, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.rec[1], "good two");
}

static void test_clean_mark(void **state) {
    struct fixture *f = *state;
    append(f->w, "r1");
    stet_wal_rotate_begin(f->w);
    append(f->w, "r2");
    stet_wal_rotate_end(f->w, true);
    assert_int_equal(stet_wal_mark_clean(f->w), 0);
    struct seen s;
    crash_and_replay(f, &s);
    assert_int_equal(s.n, 0);
}

static int fail_apply(void *arg, const uint8_t *payload, size_t len) {
    (void)arg;
    (void)payload;
    (void)len;
    return -EIO;
}

static void test_apply_error_stops(void **state) {
    struct fixture *f = *state;
    append(f->w, "r1");
    stet_wal_close(f->w);
    assert_int_equal(stet_wal_open(f->dir, stet_file_posix_ops(), &f->w, NULL), 0);
    assert_int_equal(stet_wal_replay(f->w, fail_apply, NULL), -EIO);
}

/* ---- on the simulated disk (file_sim.h) ------------------------------------------------ */

struct rec {
    uint8_t *data;
    size_t len;
};

struct recs {
    struct rec *v;
    size_t n, cap;
};

static void recs_push(struct recs *r, const void *data, size_t len) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        assert_non_null(r->v);
    }
    r->v[r->n].data = malloc(len ? len : 1);
    assert_non_null(r->v[r->n].data);
    if (len) memcpy(r->v[r->n].data, data, len);
    r->v[r->n].len = len;
    r->n++;
}

static void recs_clear(struct recs *r) {
    for (size_t i = 0; i < r->n; i++) free(r->v[i].data);
    r->n = 0;
}

static void recs_free(struct recs *r) {
    recs_clear(r);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static bool rec_equal(const struct rec *a, const struct rec *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int collect_recs(void *arg, const uint8_t *payload, size_t len) {
    recs_push(arg, payload, len);
    return 0;
}

static void assert_recs(const struct recs *r, size_t n, const char *const *want) {
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->v[i].len, strlen(want[i]));
        assert_memory_equal(r->v[i].data, want[i], r->v[i].len);
    }
}

#define SIM_DIR "/disk/store-wal"

/* Opens the WAL on the simulated disk and replays it into *out (cleared first). */
static struct stet_wal *sim_open(struct stet_file_sim *disk, struct recs *out) {
    struct stet_wal *w = NULL;
    assert_int_equal(stet_wal_open(SIM_DIR, stet_file_sim_ops(disk), &w, NULL), 0);
    recs_clear(out);
    assert_int_equal(stet_wal_replay(w, collect_recs, out), 0);
    return w;
}

/* The machine crashes: the WAL's handles die with the process, the disk keeps what the mode
 * says; then the WAL is opened and replayed again. */
static struct stet_wal *sim_crash(struct stet_file_sim *disk, struct stet_wal *w, enum stet_file_sim_crash mode,
                                  struct recs *out) {
    stet_file_sim_crash(disk, mode);
    stet_wal_close(w);
    return sim_open(disk, out);
}

static void sim_append(struct stet_wal *w, const char *s, bool sync) {
    assert_int_equal(stet_wal_append(w, s, strlen(s), sync), 0);
}

/* A payload of len bytes (len >= 8) that is unique to `id`. */
static void make_payload(uint8_t *p, size_t len, uint64_t id) {
    assert_true(len >= 8);
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(id >> (8 * i));
}

/* The disk model itself: unsynced writes are lost at a crash, synced ones stay, a file whose
 * directory was never synced vanishes, and a failed fdatasync drops the dirty state for good
 * (a later successful one does not bring the data back: fsyncgate). */
static void test_sim_disk_model(void **state) {
    (void)state;
    bool lost_after_failed_sync = false;
    for (uint64_t seed = 1; seed <= 32; seed++) {
        struct stet_file_sim *disk = stet_file_sim_create(seed);
        const struct stet_file_ops *io = stet_file_sim_ops(disk);
        assert_int_equal(io->mkdir(io->ctx, "/d"), 0);
        int fa, fb;
        bool created;
        assert_int_equal(io->open(io->ctx, "/d/a", &fa, &created), 0);
        assert_true(created);
        assert_int_equal(io->open(io->ctx, "/nodir/x", &fb, &created), -ENOENT);
        assert_int_equal(io->sync_dir(io->ctx, "/d"), 0);
        assert_int_equal(io->open(io->ctx, "/d/b", &fb, &created), 0); /* name never synced */
        struct iovec v = {"synced", 6};
        assert_int_equal(io->pwritev(io->ctx, fa, &v, 1, 0), 6);
        assert_int_equal(io->fdatasync(io->ctx, fa), 0);
        v = (struct iovec){"lost", 4};
        assert_int_equal(io->pwritev(io->ctx, fa, &v, 1, 6), 4);
        assert_int_equal(io->pwritev(io->ctx, fb, &v, 1, 0), 4);
        assert_int_equal(io->fdatasync(io->ctx, fb), 0);
        stet_file_sim_crash(disk, STET_FILE_SIM_CRASH_LOSE_UNSYNCED);
        uint64_t size = 0;
        assert_int_equal(io->size(io->ctx, fa, &size), -EBADF); /* handles die with the crash */
        assert_int_equal(io->close(io->ctx, fa), 0);
        assert_int_equal(io->close(io->ctx, fb), 0);
        assert_int_equal(io->open(io->ctx, "/d/b", &fb, &created), 0);
        assert_true(created); /* gone */
        assert_int_equal(io->close(io->ctx, fb), 0);
        assert_int_equal(io->open(io->ctx, "/d/a", &fa, &created), 0);
        assert_false(created);
        assert_int_equal(io->size(io->ctx, fa, &size), 0);
        assert_int_equal(size, 6);

        /* fsyncgate: write, failed sync, successful sync, crash */
        uint8_t big[2048];
        memset(big, 'x', sizeof(big));
        v = (struct iovec){big, sizeof(big)};
        assert_int_equal(io->pwritev(io->ctx, fa, &v, 1, 0), (ssize_t)sizeof(big));
        stet_file_sim_fail_syncs(disk, 0, 1);
        assert_int_equal(io->fdatasync(io->ctx, fa), -EIO);
        assert_int_equal(io->fdatasync(io->ctx, fa), 0);
        uint8_t got[2048];
        assert_int_equal(io->pread(io->ctx, fa, got, sizeof(got), 0), (ssize_t)sizeof(got)); /* still readable */
        stet_file_sim_crash(disk, STET_FILE_SIM_CRASH_LOSE_UNSYNCED);
        assert_int_equal(io->close(io->ctx, fa), 0);
        assert_int_equal(io->open(io->ctx, "/d/a", &fa, &created), 0);
        assert_int_equal(io->size(io->ctx, fa, &size), 0);
        ssize_t n = io->pread(io->ctx, fa, got, sizeof(got), 0);
        assert_true(n >= 6);
        /* what survived is a sector prefix of the big write over the old content */
        size_t kept = 0;
        while (kept < (size_t)n && got[kept] == 'x') kept++;
        assert_true(kept % STET_FILE_SIM_SECTOR_BYTES == 0);
        if (kept < sizeof(big)) lost_after_failed_sync = true;
        assert_int_equal(io->close(io->ctx, fa), 0);
        stet_file_sim_destroy(disk);
    }
    assert_true(lost_after_failed_sync);
}

/* (a) Synced records survive a crash, unsynced ones after the last sync are gone, and an
 * unsynced record followed by a synced one is durable with it. */
static void test_sim_synced_survive_crash(void **state) {
    (void)state;
    struct stet_file_sim *disk = stet_file_sim_create(11);
    struct recs r = {0};
    struct stet_wal *w = sim_open(disk, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(stet_wal_reset(w), 0);
    sim_append(w, "s1", true);
    sim_append(w, "u1", false);
    sim_append(w, "s2", true); /* makes u1 durable too */
    sim_append(w, "u2", false);
    sim_append(w, "u3", false);
    w = sim_crash(disk, w, STET_FILE_SIM_CRASH_LOSE_UNSYNCED, &r);
    assert_recs(&r, 3, (const char *const[]){"s1", "u1", "s2"});

    /* the replayed records are durable elsewhere now (the store flushed): a new session */
    assert_int_equal(stet_wal_reset(w), 0);
    sim_append(w, "n1", true);
    sim_append(w, "n2", false);
    w = sim_crash(disk, w, STET_FILE_SIM_CRASH_LOSE_UNSYNCED, &r);
    assert_recs(&r, 1, (const char *const[]){"n1"});

    /* the same with a rotation: the synced tail of each file */
    assert_int_equal(stet_wal_reset(w), 0);
    sim_append(w, "a1", true);
    assert_true(stet_wal_rotate_begin(w));
    sim_append(w, "b1", true);
    sim_append(w, "b2", false);
    w = sim_crash(disk, w, STET_FILE_SIM_CRASH_LOSE_UNSYNCED, &r);
    assert_recs(&r, 2, (const char *const[]){"a1", "b1"});
    stet_wal_close(w);
    recs_free(&r);
    stet_file_sim_destroy(disk);
}

/* An unsynced record in the file a rotation leaves must not be lost while later records in
 * the new file survive (a hole in the middle of the replay): the rotation syncs it. */
static void test_sim_rotation_syncs_previous_file(void **state) {
    (void)state;
    struct stet_file_sim *disk = stet_file_sim_create(12);
    struct recs r = {0};
    struct stet_wal *w = sim_open(disk, &r);
    assert_int_equal(stet_wal_reset(w), 0);
    sim_append(w, "a1", true);
    sim_append(w, "a2", false);
    assert_true(stet_wal_rotate_begin(w)); /* the flush that would make a2 durable never ends */
    sim_append(w, "b1", true);
    w = sim_crash(disk, w, STET_FILE_SIM_CRASH_LOSE_UNSYNCED, &r);
    assert_recs(&r, 3, (const char *const[]){"a1", "a2", "b1"});
    stet_wal_close(w);
    recs_free(&r);
    stet_file_sim_destroy(disk);
}

/* Stale runs are never replayed. (1) A rotation with nothing appended since the last one is
 * skipped: rotating back onto the newest run would overwrite it while the file left behind
 * holds only older records. (2) When a crash keeps a later write of the new cycle (x=2, over
 * the third old record) but loses its first (x=1), what is left of the old run (k=1, j=1)
 * does not end where the newer run (k=2, k=3) begins; replaying it without j=2 would set j
 * back to 1, so replay skips it. */
static void test_sim_stale_run_skipped(void **state) {
    (void)state;
    char x1[160];
    memset(x1, '.', sizeof(x1) - 1);
    memcpy(x1, "x=1", 3);
    x1[sizeof(x1) - 1] = 0;
    int stale_skipped = 0;
    for (uint64_t seed = 1; seed <= 64; seed++) {
        struct stet_file_sim *disk = stet_file_sim_create(seed);
        struct recs r = {0};
        struct stet_wal *w = sim_open(disk, &r);
        assert_int_equal(stet_wal_reset(w), 0);
        assert_false(stet_wal_rotate_begin(w)); /* nothing appended yet */
        stet_wal_rotate_end(w, true);
        const char *const old[] = {"k=1 ..................................................",
                                   "j=1 ..................................................",
                                   "j=2 ..................................................",
                                   "m=1 .................................................."};
        for (int i = 0; i < 4; i++) sim_append(w, old[i], true); /* wal-0: 80 bytes each */
        assert_true(stet_wal_rotate_begin(w));                    /* wal-1 */
        stet_wal_rotate_end(w, true);
        assert_false(stet_wal_rotate_begin(w)); /* (1) */
        stet_wal_rotate_end(w, true);
        sim_append(w, "k=2", true);
        sim_append(w, "k=3", true);
        assert_true(stet_wal_rotate_begin(w)); /* wal-0, over the old run */
        stet_wal_rotate_end(w, true);
        sim_append(w, x1, false); /* bytes 0..183 */
        sim_append(w, "x=2", false); /* bytes 183..210, inside j=2 (160..240) */
        w = sim_crash(disk, w, STET_FILE_SIM_CRASH_ANY, &r);
        if (r.n == 6) {
            /* neither x reached the disk: the whole old run, then the newer one */
            assert_recs(&r, 6, (const char *const[]){old[0], old[1], old[2], old[3], "k=2", "k=3"});
        } else {
            assert_true(r.n >= 2 && r.n <= 4);
            assert_recs(&r, r.n, (const char *const[]){"k=2", "k=3", x1, "x=2"});
            if (r.n == 2) stale_skipped++;
        }
        stet_wal_close(w);
        recs_free(&r);
        stet_file_sim_destroy(disk);
    }
    assert_true(stale_skipped > 0);
}

/* (b) A torn last record fails its checksum and is dropped; everything before it, synced or
 * not, is kept. Also in a recycled file, where the torn record lies over older records. */
static void test_sim_torn_record_dropped(void **state) {
    (void)state;
    uint8_t big[3000];
    uint64_t torn = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        struct stet_file_sim *disk = stet_file_sim_create(seed);
        struct recs r = {0};
        struct stet_wal *w = sim_open(disk, &r);
        assert_int_equal(stet_wal_reset(w), 0);
        bool recycled = seed % 2 == 0;
        if (recycled) {
            /* fill wal-0, move to wal-1, flush, then back to wal-0 over the old records */
            for (uint64_t i = 0; i < 8; i++) {
                make_payload(big, sizeof(big), 1000 + i);
                assert_int_equal(stet_wal_append(w, big, sizeof(big), true), 0);
            }
            assert_true(stet_wal_rotate_begin(w));
            sim_append(w, "x", true);
            stet_wal_rotate_end(w, true);
            assert_true(stet_wal_rotate_begin(w));
        }
        sim_append(w, "a", true);
        uint8_t mid[1500];
        make_payload(mid, sizeof(mid), 1);
        assert_int_equal(stet_wal_append(w, mid, sizeof(mid), false), 0);
        make_payload(big, sizeof(big), 2);
        assert_int_equal(stet_wal_append(w, big, sizeof(big), false), 0);
        w = sim_crash(disk, w, STET_FILE_SIM_CRASH_TEAR_LAST, &r);
        size_t k = 0;
        if (recycled) {
            assert_int_equal(r.n, 3);
            assert_int_equal(r.v[k].len, 1);
            assert_memory_equal(r.v[k].data, "x", 1);
            k++;
        } else {
            assert_int_equal(r.n, 2);
        }
        assert_int_equal(r.v[k].len, 1);
        assert_memory_equal(r.v[k].data, "a", 1);
        assert_int_equal(r.v[k + 1].len, sizeof(mid));
        assert_memory_equal(r.v[k + 1].data, mid, sizeof(mid));
        struct stet_file_sim_stats st;
        stet_file_sim_stats(disk, &st);
        torn += st.torn_writes;
        stet_wal_close(w);
        recs_free(&r);
        stet_file_sim_destroy(disk);
    }
    assert_true(torn > 10); /* most crashes really kept part of the last record */
}

/* (c) A failed fdatasync is returned and fails the WAL: no later append, clean mark or rotation
 * is accepted (a later successful fdatasync would not prove the earlier records durable).
 * After the restart, replay has everything synced before, and maybe the records of the failed
 * sync, in order. */
static void test_sim_failed_fsync(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        struct stet_file_sim *disk = stet_file_sim_create(seed);
        struct recs r = {0};
        struct stet_wal *w = sim_open(disk, &r);
        assert_int_equal(stet_wal_reset(w), 0);
        sim_append(w, "s1", true);
        sim_append(w, "u1", false);
        stet_file_sim_fail_syncs(disk, 0, 1);
        assert_int_equal(stet_wal_append(w, "s2", 2, true), -EIO);
        assert_int_equal(stet_wal_error(w), -EIO);
        struct stet_file_sim_stats before, after;
        stet_file_sim_stats(disk, &before);
        assert_int_equal(stet_wal_append(w, "s3", 2, true), -EIO);
        assert_int_equal(stet_wal_append(w, "u3", 2, false), -EIO);
        assert_int_equal(stet_wal_mark_clean(w), -EIO);
        assert_false(stet_wal_rotate_begin(w));
        stet_file_sim_stats(disk, &after);
        assert_int_equal(after.writes, before.writes); /* a failed WAL does not touch the disk */
        assert_int_equal(after.syncs, before.syncs);
        w = sim_crash(disk, w, seed % 2 ? STET_FILE_SIM_CRASH_LOSE_UNSYNCED : STET_FILE_SIM_CRASH_RANDOM, &r);
        assert_int_equal(stet_wal_error(w), 0); /* reopened: healthy again */
        const char *const want[] = {"s1", "u1", "s2"};
        assert_true(r.n >= 1 && r.n <= 3);
        assert_recs(&r, r.n, want);
        /* the reset after replay cannot invalidate the old runs: the WAL is failed too (the
         * old runs must never meet this session's) */
        stet_file_sim_fail_syncs(disk, 0, 1);
        assert_int_equal(stet_wal_reset(w), -EIO);
        assert_int_equal(stet_wal_append(w, "n1", 2, true), -EIO);
        stet_wal_close(w);
        recs_free(&r);
        stet_file_sim_destroy(disk);
    }
}

/* A failed write (a full disk) is returned but does not fail the WAL: the record is not
 * appended, the next append takes its place, also after a rotation. */
static void test_sim_failed_write(void **state) {
    (void)state;
    uint8_t big[2000];
    for (uint64_t seed = 1; seed <= 16; seed++) {
        struct stet_file_sim *disk = stet_file_sim_create(seed);
        struct recs r = {0};
        struct stet_wal *w = sim_open(disk, &r);
        assert_int_equal(stet_wal_reset(w), 0);
        sim_append(w, "a1", true);
        make_payload(big, sizeof(big), seed);
        stet_file_sim_fail_writes(disk, 0, 1, -ENOSPC);
        assert_int_equal(stet_wal_append(w, big, sizeof(big), true), -ENOSPC);
        assert_int_equal(stet_wal_error(w), 0);
        if (seed % 2 == 0) {
            assert_true(stet_wal_rotate_begin(w));
            stet_file_sim_fail_writes(disk, 0, 1, -ENOSPC);
            assert_int_equal(stet_wal_append(w, big, sizeof(big), true), -ENOSPC);
        }
        sim_append(w, "a2", true);
        w = sim_crash(disk, w, STET_FILE_SIM_CRASH_RANDOM, &r);
        assert_recs(&r, 2, (const char *const[]){"a1", "a2"});
        struct stet_file_sim_stats st;
        stet_file_sim_stats(disk, &st);
        assert_true(st.failed_writes >= 1);
        stet_wal_close(w);
        recs_free(&r);
        stet_file_sim_destroy(disk);
    }
}

/* A clean mark invalidates the older run first: a crash (here: the second fdatasync fails)
 * between the two invalidations must not leave the older run to be replayed alone, which
 * would set keys back to older values. */
static void test_sim_mark_clean_older_first(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        struct stet_file_sim *disk = stet_file_sim_create(seed);
        struct recs r = {0};
        struct stet_wal *w = sim_open(disk, &r);
        assert_int_equal(stet_wal_reset(w), 0);
        sim_append(w, "k=1", true);
        assert_true(stet_wal_rotate_begin(w)); /* wal-1 */
        sim_append(w, "k=2", true);
        stet_wal_rotate_end(w, true);
        assert_true(stet_wal_rotate_begin(w)); /* wal-0, the newer run */
        sim_append(w, "k=3", true);
        stet_wal_rotate_end(w, true); /* the store is flushed: k=3 */
        stet_file_sim_fail_syncs(disk, 1, 1);
        assert_int_equal(stet_wal_mark_clean(w), -EIO);
        assert_int_equal(stet_wal_error(w), -EIO); /* failed: no append may start a run now */
        assert_int_equal(stet_wal_append(w, "k=4", 3, true), -EIO);
        w = sim_crash(disk, w, STET_FILE_SIM_CRASH_RANDOM, &r);
        /* nothing, or the newer run alone: k ends at 3 either way */
        if (r.n > 0) assert_recs(&r, r.n, (const char *const[]){"k=3"});
        stet_wal_close(w);
        recs_free(&r);
        stet_file_sim_destroy(disk);
    }
}

static uint64_t test_rng(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* (d) 200 crashes at random points, with random torn writes, failed fdatasyncs, full disks,
 * and flushes that rotate (or fail). After each crash, the replay is a contiguous run of what
 * was appended since the last reset, in order (a prefix of it but for records a successful
 * flush already put in the store): it begins at or before the first record no successful
 * flush covered, and ends at or after the last synced one (the record whose fdatasync failed
 * may be there or not). Then the store "flushes" and resets, as rocks.c does.
 * Returns a digest of what every replay returned: the same seed gives the same run. */
static uint64_t random_crashes_run(uint64_t seed) {
    uint64_t rng = seed, digest = 0;
    struct stet_file_sim *disk = stet_file_sim_create(seed);
    struct recs history = {0}, replayed = {0};
    struct stet_wal *w = sim_open(disk, &replayed);
    assert_int_equal(stet_wal_reset(w), 0);
    uint64_t next_id = 1;
    uint8_t *payload = malloc(4096);
    assert_non_null(payload);
    size_t flushed = 0, synced = 0; /* history[0..flushed) is in the store, [0..synced) synced */
    size_t late_starts = 0, failed_syncs = 0, failed_writes = 0, long_replays = 0;
    for (int crash = 0; crash < 200; crash++) {
        bool flushing = false, failed = false;
        size_t flush_mark = 0;
        int steps = 1 + (int)(test_rng(&rng) % 40);
        for (int step = 0; step < steps && !failed; step++) {
            uint64_t what = test_rng(&rng) % 100;
            if (what < 75) {
                size_t len = 8 + (size_t)(test_rng(&rng) % (test_rng(&rng) % 4 == 0 ? 4000 : 200));
                make_payload(payload, len, next_id++);
                bool sync = test_rng(&rng) % 3 == 0;
                uint64_t fault = test_rng(&rng) % 40;
                if (fault == 0) stet_file_sim_fail_syncs(disk, 0, 1);
                if (fault == 1) stet_file_sim_fail_writes(disk, 0, 1, -ENOSPC);
                int rc = stet_wal_append(w, payload, len, sync);
                stet_file_sim_fail_syncs(disk, 0, 0);
                stet_file_sim_fail_writes(disk, 0, 0, -ENOSPC);
                if (rc == 0) {
                    recs_push(&history, payload, len);
                    if (sync) synced = history.n;
                } else if (stet_wal_error(w) != 0) {
                    assert_int_equal(rc, -EIO);
                    recs_push(&history, payload, len); /* may or may not be on disk */
                    failed = true;                     /* the server stops */
                    failed_syncs++;
                } else {
                    assert_int_equal(rc, -ENOSPC); /* not appended */
                    failed_writes++;
                }
            } else if (what < 88) {
                if (!flushing) {
                    (void)stet_wal_rotate_begin(w);
                    flushing = true;
                    flush_mark = history.n;
                }
            } else if (flushing) {
                bool ok = test_rng(&rng) % 4 != 0;
                stet_wal_rotate_end(w, ok);
                if (ok) flushed = flush_mark;
                flushing = false;
            }
        }
        static const enum stet_file_sim_crash modes[] = {
            STET_FILE_SIM_CRASH_LOSE_UNSYNCED, STET_FILE_SIM_CRASH_TEAR_LAST, STET_FILE_SIM_CRASH_RANDOM,
            STET_FILE_SIM_CRASH_RANDOM,        STET_FILE_SIM_CRASH_ANY,       STET_FILE_SIM_CRASH_ANY,
        };
        enum stet_file_sim_crash mode = modes[test_rng(&rng) % (sizeof(modes) / sizeof(modes[0]))];
        w = sim_crash(disk, w, mode, &replayed);

        size_t first = 0;
        if (replayed.n > 0) {
            while (first < history.n && !rec_equal(&history.v[first], &replayed.v[0])) first++;
            if (first == history.n) fail_msg("crash %d (seed %llu): replayed a record never appended", crash,
                                             (unsigned long long)seed);
        }
        size_t end = first + replayed.n;
        if (end > history.n) fail_msg("crash %d (seed %llu): replayed too much", crash, (unsigned long long)seed);
        for (size_t i = 0; i < replayed.n; i++)
            if (!rec_equal(&history.v[first + i], &replayed.v[i]))
                fail_msg("crash %d (seed %llu, crash mode %d): replayed [%zu, ...) of %zu records differs at %zu",
                         crash, (unsigned long long)seed, (int)mode, first, history.n, first + i);
        /* Nothing the store lacks is missing, and nothing replayed is older than what the
         * store has without newer writes following it (a key would go back in time). */
        if (replayed.n > 0 ? first > flushed || end < synced : synced > flushed)
            fail_msg("crash %d (seed %llu, crash mode %d): replayed [%zu, %zu) of %zu, flushed %zu, synced %zu",
                     crash, (unsigned long long)seed, (int)mode, first, end, history.n, flushed, synced);
        if (first > 0) late_starts++;
        if (end > synced) long_replays++;
        digest = digest * 31 + first * 1000003 + end;

        assert_int_equal(stet_wal_reset(w), 0);
        recs_clear(&history);
        flushed = synced = 0;
    }
    struct stet_file_sim_stats st;
    stet_file_sim_stats(disk, &st);
    /* the faults happened (any seed) */
    assert_true(st.torn_writes > 2);
    assert_true(failed_syncs > 2);
    assert_true(failed_writes > 2);
    assert_true(late_starts > 2);  /* flushed records left behind by a rotation */
    assert_true(long_replays > 2); /* unsynced records that made it anyway */
    free(payload);
    stet_wal_close(w);
    recs_free(&history);
    recs_free(&replayed);
    digest = digest * 31 + st.torn_writes;
    stet_file_sim_destroy(disk);
    return digest;
}

/* STET_TEST_SEED=<n> runs another seed. */
static void test_sim_random_crashes(void **state) {
    (void)state;
    uint64_t seed = 0x57e7;
    const char *env = getenv("STET_TEST_SEED");
    if (env != NULL) seed = strtoull(env, NULL, 0);
    uint64_t digest = random_crashes_run(seed);
    assert_int_equal(random_crashes_run(seed), digest); /* replayable */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_reuses_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_keeps_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_record_ends_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_error_stops, setup, teardown),
        cmocka_unit_test(test_sim_disk_model),
        cmocka_unit_test(test_sim_synced_survive_crash),
        cmocka_unit_test(test_sim_rotation_syncs_previous_file),
        cmocka_unit_test(test_sim_stale_run_skipped),
        cmocka_unit_test(test_sim_torn_record_dropped),
        cmocka_unit_test(test_sim_failed_fsync),
        cmocka_unit_test(test_sim_failed_write),
        cmocka_unit_test(test_sim_mark_clean_older_first),
        cmocka_unit_test(test_sim_random_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
