/* Tests for src/store/wal.c (the store's write-ahead log): records replay in order after a
 * close without a clean mark (a crash), rotation reuses the other file and old content never
 * replays again, a torn record ends the run, a clean mark replays nothing, a failed flush
 * refuses the next rotation, and reused files are overwritten without growing. */
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
    if (stet_wal_open(f->dir, &f->w, NULL) != 0) return -1;
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
    assert_int_equal(stet_wal_open(f->dir, &f->w, NULL), 0);
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
    assert_int_equal(stet_wal_open(f->dir, &f->w, NULL), 0);
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
    assert_int_equal(stet_wal_open(f->dir, &f->w, NULL), 0);
    assert_int_equal(stet_wal_replay(f->w, fail_apply, NULL), -EIO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_reuses_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_keeps_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_record_ends_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_error_stops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
