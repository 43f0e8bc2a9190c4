/* Tests for src/store: batch encoding, and the same behavioural suite run against the mem
 * store and the RocksDB store (in a temp dir): get/put/delete, delete-range, iterator bounds,
 * seek/seek_for_prev/seek_last/prev, batch op order, RocksDB reopen persistence, lock errors,
 * concurrent readers never seeing half a batch, and the mem iterator's re-seek semantics. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct fixture {
    struct stet_store *store;
    bool rocks;
    char dir[64];
};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int setup_mem(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    f->store = stet_store_create_mem();
    *state = f;
    return 0;
}

static int setup_rocks(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    f->rocks = true;
    snprintf(f->dir, sizeof(f->dir), "/tmp/stet-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    char *err = NULL;
    int rc = stet_store_open_rocks(f->dir, &f->store, &err);
    if (rc != 0) {
        fprintf(stderr, "open: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    if (f->store) stet_store_destroy(f->store);
    if (f->rocks) {
        remove_tree(f->dir);
        char wal[80];
        snprintf(wal, sizeof(wal), "%s-wal", f->dir);
        remove_tree(wal);
    }
    free(f);
    return 0;
}

static void put(struct stet_store *s, const char *k, const char *v) {
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_put(&b, k, strlen(k), v, strlen(v));
    assert_int_equal(stet_store_write(s, &b, false), 0);
    stet_store_batch_free(&b);
}

static void assert_value(struct stet_store *s, const char *k, const char *expect) {
    struct stet_buf out = STET_BUF_INIT;
    stet_buf_append_str(&out, "garbage that must be replaced");
    int rc = stet_store_get(s, k, strlen(k), &out);
    if (expect == NULL) {
        assert_int_equal(rc, 1);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(out.len, strlen(expect));
        assert_memory_equal(out.data, expect, out.len);
    }
    stet_buf_free(&out);
}

/* Collects the keys of an iterator from its current position into "k1,k2,..." */
static void collect(struct stet_store *s, struct stet_store_iter *it, char *out, size_t cap) {
    out[0] = 0;
    size_t n = 0;
    for (; stet_store_iter_valid(s, it); stet_store_iter_next(s, it)) {
        size_t kl;
        const uint8_t *k = stet_store_iter_key(s, it, &kl);
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)kl, (const char *)k);
        assert_true(n < cap);
    }
    assert_int_equal(stet_store_iter_error(s, it), 0);
}

static void put_alphabet(struct stet_store *s) {
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    for (char c = 'a'; c <= 'j'; c++) {
        char k[2] = {c, 0};
        char v[3] = {'v', c, 0};
        stet_store_batch_put(&b, k, 1, v, 2);
    }
    assert_int_equal(b.count, 10);
    assert_int_equal(stet_store_write(s, &b, true), 0);
    stet_store_batch_free(&b);
}

/* ---- store-independent -------------------------------------------------------------- */

static void test_batch_encoding(void **state) {
    (void)state;
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_put(&b, "key", 3, "value", 5);
    stet_store_batch_delete(&b, "gone", 4);
    stet_store_batch_delete_range(&b, "a", 1, "b", 1);
    stet_store_batch_put(&b, "", 0, "", 0);
    assert_int_equal(b.count, 4);

    struct stet_store_batch_cursor c = {&b, 0};
    int op;
    const uint8_t *k, *v;
    size_t kl, vl;
    assert_true(stet_store_batch_next(&c, &op, &k, &kl, &v, &vl));
    assert_int_equal(op, STET_STORE_OP_PUT);
    assert_int_equal(kl, 3);
    assert_memory_equal(k, "key", 3);
    assert_int_equal(vl, 5);
    assert_memory_equal(v, "value", 5);
    assert_true(stet_store_batch_next(&c, &op, &k, &kl, &v, &vl));
    assert_int_equal(op, STET_STORE_OP_DELETE);
    assert_int_equal(kl, 4);
    assert_memory_equal(k, "gone", 4);
    assert_int_equal(vl, 0);
    assert_true(stet_store_batch_next(&c, &op, &k, &kl, &v, &vl));
    assert_int_equal(op, STET_STORE_OP_DELETE_RANGE);
    assert_memory_equal(k, "a", 1);
    assert_memory_equal(v, "b", 1);
    assert_true(stet_store_batch_next(&c, &op, &k, &kl, &v, &vl));
    assert_int_equal(op, STET_STORE_OP_PUT);
    assert_int_equal(kl, 0);
    assert_int_equal(vl, 0);
    assert_false(stet_store_batch_next(&c, &op, &k, &kl, &v, &vl));

    stet_store_batch_clear(&b);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.ops.len, 0);
    c = (struct stet_store_batch_cursor){&b, 0};
    assert_false(stet_store_batch_next(&c, &op, &k, &kl, &v, &vl));
    stet_store_batch_free(&b);
}

static void test_key_helpers(void **state) {
    (void)state;
    assert_true(stet_store_key_compare("a", 1, "b", 1) < 0);
    assert_true(stet_store_key_compare("ab", 2, "a", 1) > 0);
    assert_true(stet_store_key_compare("a", 1, "ab", 2) < 0);
    assert_int_equal(stet_store_key_compare("ab", 2, "ab", 2), 0);
    assert_int_equal(stet_store_key_compare("", 0, "", 0), 0);
    assert_true(stet_store_key_compare("\xff", 1, "\x01\x00", 2) > 0);

    uint8_t out[4];
    assert_int_equal(stet_store_prefix_successor("ab", 2, out), 2);
    assert_memory_equal(out, "ac", 2);
    assert_int_equal(stet_store_prefix_successor("a\xff\xff", 3, out), 1);
    assert_memory_equal(out, "b", 1);
    assert_int_equal(stet_store_prefix_successor("\xff\xff", 2, out), 0);
}

/* ---- both stores -------------------------------------------------------------------- */

static void test_put_get_delete(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    assert_value(s, "missing", NULL);
    put(s, "k1", "one");
    put(s, "k2", "two");
    assert_value(s, "k1", "one");
    assert_value(s, "k2", "two");
    put(s, "k1", "uno");
    assert_value(s, "k1", "uno");
    put(s, "empty", "");
    assert_value(s, "empty", "");
    /* Binary keys with NUL bytes and a prefix relation. */
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_put(&b, "k\0x", 3, "nul", 3);
    stet_store_batch_delete(&b, "k2", 2);
    stet_store_batch_delete(&b, "never-existed", 13);
    assert_int_equal(stet_store_write(s, &b, true), 0);
    stet_store_batch_free(&b);
    assert_value(s, "k2", NULL);
    struct stet_buf out = STET_BUF_INIT;
    assert_int_equal(stet_store_get(s, "k\0x", 3, &out), 0);
    assert_int_equal(out.len, 3);
    assert_int_equal(stet_store_get(s, "k", 1, &out), 1);
    stet_buf_free(&out);
}

static void test_batch_order(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_put(&b, "x", 1, "1", 1);
    stet_store_batch_delete(&b, "x", 1); /* later op wins */
    stet_store_batch_delete(&b, "y", 1);
    stet_store_batch_put(&b, "y", 1, "2", 1);
    stet_store_batch_put(&b, "z", 1, "old", 3);
    stet_store_batch_put(&b, "z", 1, "new", 3);
    stet_store_batch_put(&b, "r1", 2, "a", 1);
    stet_store_batch_put(&b, "r2", 2, "a", 1);
    stet_store_batch_delete_range(&b, "r", 1, "s", 1);
    stet_store_batch_put(&b, "r3", 2, "b", 1); /* after the range delete: survives */
    assert_int_equal(stet_store_write(s, &b, true), 0);
    stet_store_batch_free(&b);
    assert_value(s, "x", NULL);
    assert_value(s, "y", "2");
    assert_value(s, "z", "new");
    assert_value(s, "r1", NULL);
    assert_value(s, "r2", NULL);
    assert_value(s, "r3", "b");

    /* An empty batch is fine. */
    stet_store_batch_init(&b);
    assert_int_equal(stet_store_write(s, &b, true), 0);
    stet_store_batch_free(&b);
}

static void test_delete_range(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    put_alphabet(s);
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_delete_range(&b, "c", 1, "f", 1); /* c, d, e */
    stet_store_batch_delete_range(&b, "h", 1, "h", 1); /* empty */
    stet_store_batch_delete_range(&b, "j", 1, "i", 1); /* inverted: nothing */
    assert_int_equal(stet_store_write(s, &b, false), 0);
    stet_store_batch_free(&b);
    char got[128];
    struct stet_store_iter *it = stet_store_iter_create(s, "", 0, NULL, 0);
    collect(s, it, got, sizeof(got));
    stet_store_iter_destroy(s, it);
    assert_string_equal(got, "a,b,f,g,h,i,j");
    assert_value(s, "b", "vb");
    assert_value(s, "c", NULL);
    assert_value(s, "f", "vf");
}

static void test_iter_bounds(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    put_alphabet(s);
    put(s, "c1", "x");
    char got[128];

    struct stet_store_iter *it = stet_store_iter_create(s, "c", 1, "f", 1);
    collect(s, it, got, sizeof(got));
    assert_string_equal(got, "c,c1,d,e");
    /* Seeking below the lower bound lands on the lower bound; above the upper: invalid. */
    stet_store_iter_seek(s, it, "a", 1);
    collect(s, it, got, sizeof(got));
    assert_string_equal(got, "c,c1,d,e");
    stet_store_iter_seek(s, it, "c0", 2);
    collect(s, it, got, sizeof(got));
    assert_string_equal(got, "c1,d,e");
    stet_store_iter_seek(s, it, "f", 1);
    assert_false(stet_store_iter_valid(s, it));
    stet_store_iter_seek(s, it, "z", 1);
    assert_false(stet_store_iter_valid(s, it));
    stet_store_iter_destroy(s, it);

    /* Unbounded upper; lower between keys. */
    it = stet_store_iter_create(s, "h0", 2, NULL, 0);
    collect(s, it, got, sizeof(got));
    assert_string_equal(got, "i,j");
    stet_store_iter_destroy(s, it);

    /* Empty range. */
    it = stet_store_iter_create(s, "c2", 2, "c9", 2);
    assert_false(stet_store_iter_valid(s, it));
    stet_store_iter_seek_last(s, it);
    assert_false(stet_store_iter_valid(s, it));
    stet_store_iter_destroy(s, it);

    /* Values. */
    it = stet_store_iter_create(s, "b", 1, "c", 1);
    assert_true(stet_store_iter_valid(s, it));
    size_t vl;
    const uint8_t *v = stet_store_iter_value(s, it, &vl);
    assert_int_equal(vl, 2);
    assert_memory_equal(v, "vb", 2);
    stet_store_iter_next(s, it);
    assert_false(stet_store_iter_valid(s, it));
    stet_store_iter_destroy(s, it);
}

static void assert_at(struct stet_store *s, struct stet_store_iter *it, const char *key) {
    if (key == NULL) {
        assert_false(stet_store_iter_valid(s, it));
        return;
    }
    assert_true(stet_store_iter_valid(s, it));
    size_t kl;
    const uint8_t *k = stet_store_iter_key(s, it, &kl);
    assert_int_equal(kl, strlen(key));
    assert_memory_equal(k, key, kl);
}

static void test_iter_backwards(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    put_alphabet(s);
    struct stet_store_iter *it = stet_store_iter_create(s, "c", 1, "g", 1);
    stet_store_iter_seek_last(s, it);
    assert_at(s, it, "f");
    stet_store_iter_prev(s, it);
    assert_at(s, it, "e");
    stet_store_iter_seek_for_prev(s, it, "d5", 2);
    assert_at(s, it, "d");
    stet_store_iter_seek_for_prev(s, it, "d", 1);
    assert_at(s, it, "d");
    stet_store_iter_seek_for_prev(s, it, "zz", 2); /* beyond upper: last in range */
    assert_at(s, it, "f");
    stet_store_iter_seek_for_prev(s, it, "b", 1); /* below lower */
    assert_at(s, it, NULL);
    stet_store_iter_seek(s, it, "c", 1);
    assert_at(s, it, "c");
    stet_store_iter_prev(s, it); /* "b" exists but is below the lower bound */
    assert_at(s, it, NULL);
    stet_store_iter_destroy(s, it);

    it = stet_store_iter_create(s, "", 0, NULL, 0);
    stet_store_iter_seek_last(s, it);
    assert_at(s, it, "j");
    stet_store_iter_destroy(s, it);
}

/* Whatever the store, an iterator stays usable across writes and never repeats or skips a
 * key that existed throughout. */
static void test_iter_during_writes(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    put_alphabet(s);
    struct stet_store_iter *it = stet_store_iter_create(s, "", 0, NULL, 0);
    assert_at(s, it, "a");
    stet_store_iter_next(s, it);
    assert_at(s, it, "b");
    put(s, "b", "changed");
    put(s, "bb", "new");
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_delete(&b, "c", 1);
    assert_int_equal(stet_store_write(s, &b, false), 0);
    stet_store_batch_free(&b);
    /* Still on b with its value from before the write. */
    size_t vl;
    const uint8_t *v = stet_store_iter_value(s, it, &vl);
    assert_int_equal(vl, 2);
    assert_memory_equal(v, "vb", 2);
    stet_store_iter_next(s, it);
    size_t kl;
    const uint8_t *k = stet_store_iter_key(s, it, &kl);
    if (f->rocks) {
        /* Snapshot at creation: sees c, not bb. */
        assert_int_equal(kl, 1);
        assert_memory_equal(k, "c", 1);
    } else {
        /* No snapshot: sees bb, not c. */
        assert_int_equal(kl, 2);
        assert_memory_equal(k, "bb", 2);
        stet_store_iter_next(s, it);
        assert_at(s, it, "d");
        /* Delete the current key, then step back and forth from its position. */
        stet_store_batch_init(&b);
        stet_store_batch_delete(&b, "d", 1);
        assert_int_equal(stet_store_write(s, &b, false), 0);
        stet_store_batch_free(&b);
        assert_at(s, it, "d");
        stet_store_iter_next(s, it);
        assert_at(s, it, "e");
        stet_store_batch_init(&b);
        stet_store_batch_delete(&b, "e", 1);
        assert_int_equal(stet_store_write(s, &b, false), 0);
        stet_store_batch_free(&b);
        stet_store_iter_prev(s, it);
        assert_at(s, it, "bb");
    }
    stet_store_iter_destroy(s, it);
}

static void test_many_keys(void **state) {
    struct fixture *f = *state;
    struct stet_store *s = f->store;
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    /* Insert in a scrambled order; read back sorted. */
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t n = (i * 7919u) % 2000u;
        uint8_t key[5] = {'n'};
        stet_store_u32be(key + 1, n);
        stet_store_batch_put(&b, key, sizeof(key), &n, sizeof(n));
    }
    assert_int_equal(stet_store_write(s, &b, false), 0);
    stet_store_batch_free(&b);
    struct stet_store_iter *it = stet_store_iter_create(s, "n", 1, "o", 1);
    uint32_t expect = 0;
    for (; stet_store_iter_valid(s, it); stet_store_iter_next(s, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(s, it, &kl);
        const uint8_t *v = stet_store_iter_value(s, it, &vl);
        assert_int_equal(kl, 5);
        assert_int_equal(stet_load_u32be(k + 1), expect);
        uint32_t n;
        assert_int_equal(vl, sizeof(n));
        memcpy(&n, v, sizeof(n));
        assert_int_equal(n, expect);
        expect++;
    }
    assert_int_equal(expect, 2000);
    stet_store_iter_destroy(s, it);
}

/* ---- rocks only ---------------------------------------------------------------------- */

static void test_rocks_reopen(void **state) {
    struct fixture *f = *state;
    put_alphabet(f->store);
    put(f->store, "nosync", "still there after a clean close");
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_delete_range(&b, "a", 1, "c", 1);
    assert_int_equal(stet_store_write(f->store, &b, true), 0);
    stet_store_batch_free(&b);
    stet_store_destroy(f->store);
    f->store = NULL;

    char *err = NULL;
    assert_int_equal(stet_store_open_rocks(f->dir, &f->store, &err), 0);
    assert_null(err);
    assert_value(f->store, "a", NULL);
    assert_value(f->store, "c", "vc");
    assert_value(f->store, "j", "vj");
    assert_value(f->store, "nosync", "still there after a clean close");
}

static void put_flags(struct stet_store *s, const char *k, const char *v, unsigned flags) {
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    if (v) stet_store_batch_put(&b, k, strlen(k), v, strlen(v));
    else stet_store_batch_delete(&b, k, strlen(k));
    assert_int_equal(stet_store_write(s, &b, flags), 0);
    stet_store_batch_free(&b);
}

/* The child of test_rocks_crash_recovery: writes, then dies without closing the store. */
static int crash_child(const char *dir) {
    struct stet_store *s = NULL;
    if (stet_store_open_rocks(dir, &s, NULL) != 0) return 3;
    put_flags(s, "x", "1", STET_STORE_WRITE_SYNC);
    put_flags(s, "flushed-nowal", "kept", STET_STORE_WRITE_NO_WAL);
    if (stet_store_flush(s) != 0) _exit(4);
    put_flags(s, "x", "2", STET_STORE_WRITE_SYNC);
    put_flags(s, "y", "1", STET_STORE_WRITE_SYNC);
    if (stet_store_flush(s) != 0) _exit(4);
    put_flags(s, "y", NULL, STET_STORE_WRITE_SYNC);
    put_flags(s, "x", "3", STET_STORE_WRITE_SYNC);
    put_flags(s, "z", "page cache", 0); /* WAL without fdatasync: survives a process crash */
    put_flags(s, "lost", "memtable only", STET_STORE_WRITE_NO_WAL);
    _exit(0); /* no destroy, no flush */
}

/* A process that dies without closing the store: writes that went through the store's WAL
 * survive (replayed at the next open, across WAL rotations, in order), NO_WAL ones written
 * after the last flush do not. */
static void test_rocks_crash_recovery(void **state) {
    struct fixture *f = *state;
    stet_store_destroy(f->store);
    f->store = NULL;
    /* a fresh process (exec: RocksDB's thread pools do not survive a bare fork) */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_store", "--crash-child", f->dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *err = NULL;
    assert_int_equal(stet_store_open_rocks(f->dir, &f->store, &err), 0);
    assert_value(f->store, "x", "3");
    assert_value(f->store, "y", NULL);
    assert_value(f->store, "z", "page cache");
    assert_value(f->store, "flushed-nowal", "kept");
    assert_value(f->store, "lost", NULL);
    /* the replay was made durable and the WAL reset: a second crash-free reopen agrees */
    stet_store_destroy(f->store);
    f->store = NULL;
    assert_int_equal(stet_store_open_rocks(f->dir, &f->store, &err), 0);
    assert_value(f->store, "x", "3");
    assert_value(f->store, "z", "page cache");
}

static void test_rocks_open_errors(void **state) {
    struct fixture *f = *state;
    /* Second open of a locked database. */
    struct stet_store *other = NULL;
    char *err = NULL;
    int rc = stet_store_open_rocks(f->dir, &other, &err);
    assert_int_equal(rc, -EBUSY);
    assert_null(other);
    assert_non_null(err);
    assert_non_null(strstr(err, f->dir));
    free(err);

    /* A parent that is a regular file. */
    char path[128];
    snprintf(path, sizeof(path), "%s/file", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/file/sub/db", f->dir);
    err = NULL;
    rc = stet_store_open_rocks(path, &other, &err);
    assert_true(rc < 0);
    assert_non_null(err);
    free(err);

    /* Nested directories are created. */
    snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
    assert_int_equal(stet_store_open_rocks(path, &other, NULL), 0);
    put(other, "k", "v");
    assert_value(other, "k", "v");
    stet_store_destroy(other);
}

struct reader_arg {
    struct stet_store *store;
    int stop;
    int bad;
    int reads;
};

static void *reader_main(void *p) {
    struct reader_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        struct stet_store_iter *it = stet_store_iter_create(a->store, "q", 1, "r", 1);
        int n = 0;
        for (; stet_store_iter_valid(a->store, it); stet_store_iter_next(a->store, it)) n++;
        stet_store_iter_destroy(a->store, it);
        if (n % 100 != 0) a->bad++;
        a->reads++;
    }
    return NULL;
}

/* A reader thread never sees part of a batch. */
static void test_rocks_batch_atomic(void **state) {
    struct fixture *f = *state;
    struct reader_arg a = {f->store, 0, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &a), 0);
    for (uint32_t round = 0; round < 30; round++) {
        struct stet_store_batch b;
        stet_store_batch_init(&b);
        for (uint32_t i = 0; i < 100; i++) {
            uint8_t key[9] = {'q'};
            stet_store_u32be(key + 1, round);
            stet_store_u32be(key + 5, i);
            stet_store_batch_put(&b, key, sizeof(key), "v", 1);
        }
        assert_int_equal(stet_store_write(f->store, &b, round % 2 == 0), 0);
        stet_store_batch_free(&b);
    }
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    assert_int_equal(a.bad, 0);
    assert_true(a.reads > 0);
}

#define BOTH(fn) {"mem/" #fn, fn, setup_mem, teardown, NULL}, {"rocks/" #fn, fn, setup_rocks, teardown, NULL}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--crash-child") == 0) return crash_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_encoding),
        cmocka_unit_test(test_key_helpers),
        BOTH(test_put_get_delete),
        BOTH(test_batch_order),
        BOTH(test_delete_range),
        BOTH(test_iter_bounds),
        BOTH(test_iter_backwards),
        BOTH(test_iter_during_writes),
        BOTH(test_many_keys),
        cmocka_unit_test_setup_teardown(test_rocks_reopen, setup_rocks, teardown),
        cmocka_unit_test_setup_teardown(test_rocks_open_errors, setup_rocks, teardown),
        cmocka_unit_test_setup_teardown(test_rocks_crash_recovery, setup_rocks, teardown),
        cmocka_unit_test_setup_teardown(test_rocks_batch_atomic, setup_rocks, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
