/* Tests for src/log (local loglet with group commit).
 *
 * The fake env queues submitted work; the test runs it with run_job(), so it decides exactly
 * when a commit becomes durable. A wrapper store counts writes and can be told to fail the
 * next write. Covers LSN assignment, group commit (many appends, one store write), callbacks
 * only after durability and in order, durable_cb ranges, read/scan/trim, recovery from a
 * RocksDB directory, failure injection (write and submit), limits, re-entrant callbacks, and
 * a seeded random walk checked against a model after every step. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log/log.h"
#include "store/store.h"

/* ---- fake env ------------------------------------------------------------------------- */

struct job {
    stet_env_work_fn work;
    stet_env_done_fn done;
    void *arg;
};

struct fake_env {
    struct stet_env env;
    struct job jobs[16];
    size_t njobs;
    size_t submitted;
    bool run_inline; /* run work and done inside submit */
    int submit_error;
    uint64_t now_ms;
};

static uint64_t fake_now(void *ctx) { return ((struct fake_env *)ctx)->now_ms; }
static uint64_t fake_random(void *ctx) {
    (void)ctx;
    return 4;
}

static int fake_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct fake_env *fe = ctx;
    if (fe->submit_error) return fe->submit_error;
    fe->submitted++;
    if (fe->run_inline) {
        work(arg);
        done(arg);
        return 0;
    }
    assert_true(fe->njobs < 16);
    fe->jobs[fe->njobs++] = (struct job){work, done, arg};
    return 0;
}

static void fake_env_init(struct fake_env *fe) {
    memset(fe, 0, sizeof(*fe));
    fe->env.ctx = fe;
    fe->env.now_ms = fake_now;
    fe->env.monotonic_ms = fake_now;
    fe->env.random_u64 = fake_random;
    fe->env.submit = fake_submit;
    fe->now_ms = 1000;
}

/* Runs the oldest queued job: work "on the worker", then done "on the loop". */
static void run_job(struct fake_env *fe) {
    assert_true(fe->njobs > 0);
    struct job j = fe->jobs[0];
    memmove(&fe->jobs[0], &fe->jobs[1], (fe->njobs - 1) * sizeof(fe->jobs[0]));
    fe->njobs--;
    j.work(j.arg);
    fe->now_ms += 3;
    j.done(j.arg);
}

/* ---- counting / failing store wrapper -------------------------------------------------- */

struct wrap_store {
    struct stet_store base;
    struct stet_store_ops ops;
    struct stet_store *inner;
    int writes;
    int sync_writes;
    int fail_next_write; /* errno to return from the next write, 0 = none */
};

static int wrap_get(struct stet_store *s, const void *k, size_t kl, struct stet_buf *out) {
    struct wrap_store *w = (struct wrap_store *)s;
    return stet_store_get(w->inner, k, kl, out);
}

static int wrap_write(struct stet_store *s, const struct stet_store_batch *b, unsigned sync) {
    struct wrap_store *w = (struct wrap_store *)s;
    if (w->fail_next_write) {
        int rc = w->fail_next_write;
        w->fail_next_write = 0;
        return rc;
    }
    w->writes++;
    if (sync) w->sync_writes++;
    return stet_store_write(w->inner, b, sync);
}

static struct stet_store_iter *wrap_iter_create(struct stet_store *s, const void *lo, size_t ll, const void *up,
                                                size_t ul) {
    struct wrap_store *w = (struct wrap_store *)s;
    return stet_store_iter_create(w->inner, lo, ll, up, ul);
}

static void wrap_destroy(struct stet_store *s) {
    struct wrap_store *w = (struct wrap_store *)s;
    stet_store_destroy(w->inner);
    free(w);
}

/* Takes ownership of inner. Iterator ops are the inner store's (they only need the iterator). */
static struct wrap_store *wrap_store_create(struct stet_store *inner) {
    struct wrap_store *w = calloc(1, sizeof(*w));
    w->inner = inner;
    w->ops = *inner->ops;
    w->ops.get = wrap_get;
    w->ops.write = wrap_write;
    w->ops.iter_create = wrap_iter_create;
    w->ops.destroy = wrap_destroy;
    w->base.ops = &w->ops;
    return w;
}

/* ---- callback recorders --------------------------------------------------------------- */

struct rec {
    struct stet_log *log;
    uint32_t log_id; /* for append callbacks */
    int calls;
    int status[512];
    uint64_t lsn[512];
    int durable_calls;
    uint32_t durable_id[64];
    uint64_t durable_first[64];
    uint64_t durable_last[64];
};

static void on_append(void *arg, int status, uint64_t lsn) {
    struct rec *r = arg;
    assert_true(r->calls < 512);
    r->status[r->calls] = status;
    r->lsn[r->calls] = lsn;
    r->calls++;
    if (status == 0 && r->log != NULL) {
        /* Never before durability: the record is readable from inside the callback. */
        assert_true(stet_log_durable_tail(r->log, r->log_id) >= lsn);
        struct stet_buf b = STET_BUF_INIT;
        assert_int_equal(stet_log_read(r->log, r->log_id, lsn, &b), 0);
        stet_buf_free(&b);
    }
}

static void on_durable(void *arg, uint32_t log_id, uint64_t first, uint64_t last) {
    struct rec *r = arg;
    assert_true(r->durable_calls < 64);
    r->durable_id[r->durable_calls] = log_id;
    r->durable_first[r->durable_calls] = first;
    r->durable_last[r->durable_calls] = last;
    r->durable_calls++;
    if (r->log != NULL) assert_int_equal(stet_log_durable_tail(r->log, log_id), last);
}

static void make_record(char *buf, size_t cap, uint32_t log_id, uint64_t lsn) {
    snprintf(buf, cap, "log%u-rec%llu", log_id, (unsigned long long)lsn);
}

static void assert_record(struct stet_log *log, uint32_t log_id, uint64_t lsn) {
    char expect[64];
    make_record(expect, sizeof(expect), log_id, lsn);
    struct stet_buf b = STET_BUF_INIT;
    assert_int_equal(stet_log_read(log, log_id, lsn, &b), 0);
    assert_int_equal(b.len, strlen(expect));
    assert_memory_equal(b.data, expect, b.len);
    stet_buf_free(&b);
}

static uint64_t append_rec(struct stet_log *log, uint32_t log_id, struct rec *r) {
    char buf[64];
    uint64_t expect = stet_log_assigned_tail(log, log_id) + 1;
    make_record(buf, sizeof(buf), log_id, expect);
    uint64_t lsn = 0;
    assert_int_equal(stet_log_append(log, log_id, buf, strlen(buf), r ? on_append : NULL, r, &lsn), 0);
    assert_int_equal(lsn, expect);
    stet_log_check(log);
    return lsn;
}

struct fixture {
    struct fake_env fe;
    struct wrap_store *store;
    struct stet_log *log;
    struct rec rec;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    fake_env_init(&f->fe);
    f->store = wrap_store_create(stet_store_create_mem());
    if (stet_log_create(&f->fe.env, &f->store->base, NULL, on_durable, &f->rec, &f->log) != 0) return -1;
    f->rec.log = f->log;
    f->rec.log_id = 1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    while (f->fe.njobs > 0) run_job(&f->fe);
    while (!stet_log_drain(f->log)) run_job(&f->fe);
    stet_log_destroy(f->log);
    stet_store_destroy(&f->store->base);
    free(f);
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_lsn_assignment(void **state) {
    struct fixture *f = *state;
    assert_int_equal(stet_log_durable_tail(f->log, 1), 0);
    assert_int_equal(stet_log_trim_point(f->log, 1), 0);
    assert_false(stet_log_busy(f->log));
    assert_false(stet_log_flush(f->log)); /* nothing to commit */
    for (uint64_t i = 1; i <= 3; i++) assert_int_equal(append_rec(f->log, 1, NULL), i);
    assert_int_equal(append_rec(f->log, 2, NULL), 1);
    assert_int_equal(append_rec(f->log, 1, NULL), 4);
    assert_int_equal(stet_log_assigned_tail(f->log, 1), 4);
    assert_int_equal(stet_log_assigned_tail(f->log, 2), 1);
    /* Not durable, not readable. */
    assert_true(stet_log_busy(f->log));
    assert_int_equal(stet_log_durable_tail(f->log, 1), 0);
    struct stet_buf b = STET_BUF_INIT;
    assert_int_equal(stet_log_read(f->log, 1, 1, &b), 1);
    assert_int_equal(stet_log_read(f->log, 1, 0, &b), 1);
    assert_int_equal(stet_log_read(f->log, 99, 1, &b), 1);
    stet_buf_free(&b);
    /* lsn_out may be NULL and records may be empty. */
    assert_int_equal(stet_log_append(f->log, 3, NULL, 0, NULL, NULL, NULL), 0);
    assert_int_equal(stet_log_assigned_tail(f->log, 3), 1);
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    assert_int_equal(stet_log_durable_tail(f->log, 1), 4);
    assert_int_equal(stet_log_durable_tail(f->log, 2), 1);
    assert_int_equal(stet_log_durable_tail(f->log, 3), 1);
    struct stet_buf e = STET_BUF_INIT;
    assert_int_equal(stet_log_read(f->log, 3, 1, &e), 0);
    assert_int_equal(e.len, 0);
    stet_buf_free(&e);
}

static void test_group_commit(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 200; i++) append_rec(f->log, 1, &f->rec);
    for (int i = 0; i < 50; i++) append_rec(f->log, 5, NULL);
    assert_int_equal(f->store->writes, 0);
    assert_int_equal(f->rec.calls, 0);
    assert_true(stet_log_flush(f->log));
    assert_false(stet_log_flush(f->log)); /* one in flight at a time */
    assert_int_equal(f->fe.njobs, 1);
    assert_int_equal(f->rec.calls, 0); /* not before the write */
    assert_int_equal(f->rec.durable_calls, 0);
    assert_int_equal(stet_log_durable_tail(f->log, 1), 0);
    run_job(&f->fe);
    stet_log_check(f->log);
    assert_int_equal(f->store->writes, 1); /* 250 appends, one store write */
    assert_int_equal(f->store->sync_writes, 1);
    assert_int_equal(f->rec.calls, 200);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(f->rec.status[i], 0);
        assert_int_equal(f->rec.lsn[i], (uint64_t)i + 1);
    }
    assert_int_equal(f->rec.durable_calls, 2);
    assert_int_equal(f->rec.durable_id[0], 1);
    assert_int_equal(f->rec.durable_first[0], 1);
    assert_int_equal(f->rec.durable_last[0], 200);
    assert_int_equal(f->rec.durable_id[1], 5);
    assert_int_equal(f->rec.durable_first[1], 1);
    assert_int_equal(f->rec.durable_last[1], 50);
    assert_false(stet_log_busy(f->log));
    struct stet_log_stats st;
    stet_log_stats(f->log, &st);
    assert_int_equal(st.appends, 250);
    assert_int_equal(st.commits, 1);
    assert_true(st.bytes > 250 * 10);
    assert_int_equal(st.commit_latency_us_sum, 3000);
    assert_int_equal(st.commit_latency_us_max, 3000);
    assert_record(f->log, 1, 1);
    assert_record(f->log, 1, 200);
    assert_record(f->log, 5, 50);
}

/* Commits go through env->submit_short when the env has one (the node may run them inline). */
static size_t short_calls;
static int fake_submit_short(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    short_calls++;
    return fake_submit(ctx, work, done, arg);
}

static void test_commit_uses_submit_short(void **state) {
    struct fixture *f = *state;
    stet_log_destroy(f->log);
    f->fe.env.submit_short = fake_submit_short;
    assert_int_equal(stet_log_create(&f->fe.env, &f->store->base, NULL, on_durable, &f->rec, &f->log), 0);
    f->rec.log = f->log;
    short_calls = 0;
    append_rec(f->log, 1, &f->rec);
    assert_true(stet_log_flush(f->log));
    assert_int_equal(short_calls, 1);
    assert_int_equal(f->fe.submitted, 1);
    assert_int_equal(f->rec.calls, 0); /* done has not run: durability is not assumed */
    run_job(&f->fe);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->store->sync_writes, 1);
    append_rec(f->log, 1, &f->rec);
    assert_true(stet_log_flush(f->log));
    assert_int_equal(short_calls, 2);
}

/* Releasing the kept buffers between commits (idle node) changes nothing observable. */
static void test_release_memory(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 100; i++) append_rec(f->log, 1, &f->rec);
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    stet_log_release_memory(f->log);
    stet_log_check(f->log);
    append_rec(f->log, 1, &f->rec);
    stet_log_release_memory(f->log); /* pending is not empty: kept */
    assert_true(stet_log_flush(f->log));
    stet_log_release_memory(f->log); /* a commit in flight: untouched */
    run_job(&f->fe);
    stet_log_check(f->log);
    assert_int_equal(f->rec.calls, 101);
    assert_int_equal(stet_log_durable_tail(f->log, 1), 101);
    assert_record(f->log, 1, 101);
}

static void test_appends_while_in_flight(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 3; i++) append_rec(f->log, 1, &f->rec);
    assert_true(stet_log_flush(f->log));
    for (int i = 0; i < 2; i++) append_rec(f->log, 1, &f->rec);
    assert_false(stet_log_flush(f->log));
    run_job(&f->fe);
    /* Only the first group is durable. */
    assert_int_equal(f->rec.calls, 3);
    assert_int_equal(stet_log_durable_tail(f->log, 1), 3);
    assert_int_equal(stet_log_assigned_tail(f->log, 1), 5);
    assert_true(stet_log_busy(f->log));
    struct stet_buf b = STET_BUF_INIT;
    assert_int_equal(stet_log_read(f->log, 1, 4, &b), 1);
    stet_buf_free(&b);
    assert_int_equal(f->rec.durable_calls, 1);
    assert_int_equal(f->rec.durable_last[0], 3);
    /* Next group. */
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    assert_int_equal(f->rec.calls, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(f->rec.lsn[i], (uint64_t)i + 1);
    assert_int_equal(f->rec.durable_calls, 2);
    assert_int_equal(f->rec.durable_first[1], 4);
    assert_int_equal(f->rec.durable_last[1], 5);
    assert_int_equal(f->store->writes, 2);
    assert_false(stet_log_busy(f->log));
}

struct scan_acc {
    uint64_t lsns[64];
    int n;
    int stop_at;
};

static int scan_cb(void *arg, uint64_t lsn, const uint8_t *rec, size_t len) {
    struct scan_acc *a = arg;
    char expect[64];
    make_record(expect, sizeof(expect), 1, lsn);
    assert_int_equal(len, strlen(expect));
    assert_memory_equal(rec, expect, len);
    a->lsns[a->n++] = lsn;
    if (a->stop_at != 0 && a->n == a->stop_at) return 42;
    return 0;
}

static void test_read_scan_trim(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 10; i++) append_rec(f->log, 1, NULL);
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    for (int i = 0; i < 2; i++) append_rec(f->log, 1, NULL); /* 11, 12 pending */
    for (uint64_t l = 1; l <= 10; l++) assert_record(f->log, 1, l);

    struct scan_acc a = {0};
    assert_int_equal(stet_log_scan(f->log, 1, 3, 7, scan_cb, &a), 0);
    assert_int_equal(a.n, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(a.lsns[i], (uint64_t)i + 3);
    /* Clamped to the durable tail, not the assigned one. */
    a = (struct scan_acc){0};
    assert_int_equal(stet_log_scan(f->log, 1, 0, UINT64_MAX, scan_cb, &a), 0);
    assert_int_equal(a.n, 10);
    a = (struct scan_acc){.stop_at = 2};
    assert_int_equal(stet_log_scan(f->log, 1, 5, 100, scan_cb, &a), 42);
    assert_int_equal(a.n, 2);
    a = (struct scan_acc){0};
    assert_int_equal(stet_log_scan(f->log, 1, 8, 7, scan_cb, &a), 0);
    assert_int_equal(stet_log_scan(f->log, 77, 1, 7, scan_cb, &a), 0);
    assert_int_equal(a.n, 0);

    /* Trim: logical at once, physical with the next commit. */
    int writes = f->store->writes;
    assert_int_equal(stet_log_trim(f->log, 1, 4), 0);
    assert_int_equal(stet_log_trim_point(f->log, 1), 4);
    struct stet_buf b = STET_BUF_INIT;
    assert_int_equal(stet_log_read(f->log, 1, 4, &b), 1);
    assert_record(f->log, 1, 5);
    a = (struct scan_acc){0};
    assert_int_equal(stet_log_scan(f->log, 1, 1, 6, scan_cb, &a), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.lsns[0], 5);
    uint8_t key[STET_LOG_RECORD_KEY_LEN];
    stet_log_record_key(key, 1, 2);
    assert_int_equal(stet_store_get(&f->store->base, key, sizeof(key), &b), 0); /* still stored */
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    assert_int_equal(f->store->writes, writes + 1);
    for (uint64_t l = 1; l <= 4; l++) {
        stet_log_record_key(key, 1, l);
        assert_int_equal(stet_store_get(&f->store->base, key, sizeof(key), &b), 1);
    }
    stet_log_record_key(key, 1, 5);
    assert_int_equal(stet_store_get(&f->store->base, key, sizeof(key), &b), 0);
    uint8_t meta[STET_LOG_META_KEY_LEN];
    stet_log_meta_key(meta, 1);
    assert_int_equal(stet_store_get(&f->store->base, meta, sizeof(meta), &b), 0);
    assert_int_equal(b.len, 8);
    assert_int_equal(stet_load_u64be(b.data), 4);

    /* Below the trim point: no-op, nothing pending. Beyond the durable tail: clamped. */
    assert_int_equal(stet_log_trim(f->log, 1, 3), 0);
    assert_false(stet_log_busy(f->log));
    assert_int_equal(stet_log_trim(f->log, 1, 1000), 0);
    assert_int_equal(stet_log_trim_point(f->log, 1), 12);
    assert_int_equal(stet_log_durable_tail(f->log, 1), 12);
    assert_true(stet_log_busy(f->log));
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    assert_int_equal(stet_log_read(f->log, 1, 12, &b), 1);
    /* A trimmed-empty log keeps its tail; the next LSN follows it. */
    assert_int_equal(append_rec(f->log, 1, NULL), 13);
    stet_buf_free(&b);
}

static void test_trim_with_inflight(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 5; i++) append_rec(f->log, 1, NULL);
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    for (int i = 0; i < 5; i++) append_rec(f->log, 1, NULL); /* 6..10 */
    assert_true(stet_log_flush(f->log));                     /* in flight */
    assert_int_equal(stet_log_trim(f->log, 1, 8), 0);        /* clamped to 5 */
    assert_int_equal(stet_log_trim_point(f->log, 1), 5);
    run_job(&f->fe);
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe);
    for (uint64_t l = 6; l <= 10; l++) assert_record(f->log, 1, l);
    struct scan_acc a = {0};
    assert_int_equal(stet_log_scan(f->log, 1, 1, 10, scan_cb, &a), 0);
    assert_int_equal(a.n, 5);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_recovery_rocks(void **state) {
    (void)state;
    char dir[] = "/tmp/stet-test-log-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct fake_env fe;
    fake_env_init(&fe);
    struct stet_store *s = NULL;
    assert_int_equal(stet_store_open_rocks(dir, &s, NULL), 0);
    /* Other modules' keys around ours must not confuse recovery. */
    struct stet_store_batch b;
    stet_store_batch_init(&b);
    stet_store_batch_put(&b, "A", 1, "x", 1);
    stet_store_batch_put(&b, "Kzzzzzzzzzzzzzzzz", 17, "x", 1);
    stet_store_batch_put(&b, "M", 1, "x", 1);
    stet_store_batch_put(&b, "k", 1, "x", 1);
    stet_store_batch_put(&b, "m-partition-state", 17, "x", 1);
    assert_int_equal(stet_store_write(s, &b, true), 0);
    stet_store_batch_free(&b);

    struct stet_log *log = NULL;
    assert_int_equal(stet_log_create(&fe.env, s, NULL, NULL, NULL, &log), 0);
    const uint32_t ids[] = {0, 1, 7, 300, UINT32_MAX};
    for (size_t i = 0; i < 5; i++)
        for (uint32_t n = 0; n < 3 + i * 4; n++) append_rec(log, ids[i], NULL);
    assert_true(stet_log_flush(log));
    run_job(&fe);
    assert_int_equal(stet_log_trim(log, 7, 100), 0); /* fully trimmed: 11 */
    assert_int_equal(stet_log_trim(log, 300, 5), 0);
    append_rec(log, 1, NULL); /* 8, in the same commit as the trims */
    assert_true(stet_log_drain(log) == false);
    run_job(&fe);
    assert_true(stet_log_drain(log));
    /* A pending, never flushed record is lost with the process (never acknowledged). */
    append_rec(log, 0, NULL);
    stet_log_destroy(log);
    stet_store_destroy(s);

    assert_int_equal(stet_store_open_rocks(dir, &s, NULL), 0);
    assert_int_equal(stet_log_create(&fe.env, s, NULL, NULL, NULL, &log), 0);
    stet_log_check(log);
    assert_int_equal(stet_log_durable_tail(log, 0), 3);
    assert_int_equal(stet_log_durable_tail(log, 1), 8);
    assert_int_equal(stet_log_durable_tail(log, 7), 11);
    assert_int_equal(stet_log_trim_point(log, 7), 11);
    assert_int_equal(stet_log_durable_tail(log, 300), 15);
    assert_int_equal(stet_log_trim_point(log, 300), 5);
    assert_int_equal(stet_log_durable_tail(log, UINT32_MAX), 19);
    assert_int_equal(stet_log_durable_tail(log, 2), 0);
    assert_record(log, 0, 3);
    assert_record(log, 1, 8);
    assert_record(log, 300, 6);
    assert_record(log, UINT32_MAX, 19);
    struct stet_buf rb = STET_BUF_INIT;
    assert_int_equal(stet_log_read(log, 300, 5, &rb), 1);
    assert_int_equal(stet_log_read(log, 0, 4, &rb), 1);
    stet_buf_free(&rb);
    /* Appends continue after the recovered tails. */
    assert_int_equal(append_rec(log, 7, NULL), 12);
    assert_int_equal(append_rec(log, 0, NULL), 4);
    assert_true(stet_log_flush(log));
    run_job(&fe);
    assert_record(log, 7, 12);
    stet_log_destroy(log);

    /* Too many logs for the configured limit. */
    struct stet_log_config cfg = {.max_log_ids = 3};
    assert_int_equal(stet_log_create(&fe.env, s, &cfg, NULL, NULL, &log), -ENOSPC);
    stet_store_destroy(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_write_failure(void **state) {
    struct fixture *f = *state;
    struct rec r2 = {0};
    append_rec(f->log, 1, &f->rec);
    assert_true(stet_log_flush(f->log));
    run_job(&f->fe); /* lsn 1 durable */
    for (int i = 0; i < 3; i++) append_rec(f->log, 1, &f->rec); /* 2..4: the failing group */
    append_rec(f->log, 2, &r2);
    assert_true(stet_log_flush(f->log));
    for (int i = 0; i < 2; i++) append_rec(f->log, 1, &f->rec); /* 5, 6: behind it */
    f->store->fail_next_write = -EIO;
    int durable_before = f->rec.durable_calls;
    run_job(&f->fe);
    stet_log_check(f->log);
    assert_true(stet_log_failed(f->log));
    assert_int_equal(f->rec.calls, 6);
    assert_int_equal(f->rec.status[0], 0);
    for (int i = 1; i < 6; i++) {
        assert_true(f->rec.status[i] < 0);
        assert_int_equal(f->rec.lsn[i], (uint64_t)i + 1);
    }
    assert_int_equal(r2.calls, 1);
    assert_true(r2.status[0] < 0);
    assert_int_equal(f->rec.durable_calls, durable_before);
    assert_int_equal(stet_log_durable_tail(f->log, 1), 1);
    assert_int_equal(stet_log_durable_tail(f->log, 2), 0);
    /* Failed for good. */
    assert_int_equal(stet_log_append(f->log, 1, "x", 1, on_append, &f->rec, NULL), -EIO);
    assert_int_equal(stet_log_trim(f->log, 1, 1), -EIO);
    assert_int_equal(f->rec.calls, 6);
    assert_false(stet_log_flush(f->log));
    assert_false(stet_log_busy(f->log));
    assert_true(stet_log_drain(f->log));
    assert_record(f->log, 1, 1); /* durable records stay readable */
}

static void test_submit_failure(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 4; i++) append_rec(f->log, 1, &f->rec);
    f->fe.submit_error = -ENOMEM;
    assert_false(stet_log_flush(f->log));
    assert_int_equal(f->rec.calls, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(f->rec.status[i], -ENOMEM);
    assert_true(stet_log_failed(f->log));
    assert_int_equal(stet_log_append(f->log, 1, "x", 1, NULL, NULL, NULL), -EIO);
    stet_log_check(f->log);
}

static void test_limits(void **state) {
    (void)state;
    struct fake_env fe;
    fake_env_init(&fe);
    struct stet_store *s = stet_store_create_mem();
    struct stet_log *log = NULL;
    struct stet_log_config cfg = {.max_batch_bytes = 1000, .max_log_ids = 2, .max_pending_bytes = 1500};
    assert_int_equal(stet_log_create(&fe.env, s, &cfg, NULL, NULL, &log), 0);
    char rec[100];
    memset(rec, 'r', sizeof(rec));
    /* Each op is ~122 encoded bytes: the 9th append crosses 1000 and starts a commit. */
    int i = 0;
    while (fe.submitted == 0) {
        assert_int_equal(stet_log_append(log, 1, rec, sizeof(rec), NULL, NULL, NULL), 0);
        i++;
        assert_true(i <= 9);
    }
    assert_int_equal(i, 9);
    assert_true(stet_log_busy(log));
    /* 900 bytes in flight; 6 more fit in max_pending_bytes (1500), the 7th does not. */
    for (int k = 0; k < 6; k++) assert_int_equal(stet_log_append(log, 1, rec, sizeof(rec), NULL, NULL, NULL), 0);
    assert_int_equal(stet_log_append(log, 1, rec, sizeof(rec), NULL, NULL, NULL), -ENOBUFS);
    assert_int_equal(stet_log_assigned_tail(log, 1), 15);
    /* A third log id does not fit. */
    assert_int_equal(stet_log_append(log, 2, rec, 0, NULL, NULL, NULL), 0); /* 0 bytes still fit */
    assert_int_equal(stet_log_append(log, 3, rec, 0, NULL, NULL, NULL), -ENOSPC);
    assert_int_equal(stet_log_trim(log, 4, 1), -ENOSPC);
    run_job(&fe);
    stet_log_check(log);
    assert_int_equal(stet_log_durable_tail(log, 1), 9);
    /* The pending group is below max_batch_bytes: it waits for the owner's flush. */
    assert_int_equal(fe.njobs, 0);
    assert_int_equal(stet_log_append(log, 1, rec, sizeof(rec), NULL, NULL, NULL), 0);
    while (!stet_log_drain(log)) run_job(&fe);
    assert_int_equal(stet_log_durable_tail(log, 1), 16);
    stet_log_destroy(log);
    stet_store_destroy(s);
}

/* A full batch that waited behind a commit is started by commit_done itself. */
static void test_full_batch_starts_after_commit(void **state) {
    (void)state;
    struct fake_env fe;
    fake_env_init(&fe);
    struct stet_store *s = stet_store_create_mem();
    struct stet_log *log = NULL;
    struct stet_log_config cfg = {.max_batch_bytes = 500};
    assert_int_equal(stet_log_create(&fe.env, s, &cfg, NULL, NULL, &log), 0);
    char rec[100] = {0};
    assert_int_equal(stet_log_append(log, 1, rec, sizeof(rec), NULL, NULL, NULL), 0);
    assert_true(stet_log_flush(log));
    for (int i = 0; i < 5; i++) assert_int_equal(stet_log_append(log, 1, rec, sizeof(rec), NULL, NULL, NULL), 0);
    assert_int_equal(fe.njobs, 1);
    run_job(&fe);
    assert_int_equal(fe.njobs, 1);
    run_job(&fe);
    assert_int_equal(stet_log_durable_tail(log, 1), 6);
    stet_log_destroy(log);
    stet_store_destroy(s);
}

/* Callbacks that append and flush, with an env that completes work inside submit. */
struct chain {
    struct stet_log *log;
    int remaining;
    uint64_t last_lsn;
    int calls;
};

static void chain_cb(void *arg, int status, uint64_t lsn) {
    struct chain *c = arg;
    assert_int_equal(status, 0);
    assert_true(lsn > c->last_lsn);
    c->last_lsn = lsn;
    c->calls++;
    assert_int_equal(stet_log_durable_tail(c->log, 9), lsn);
    if (c->remaining-- > 0) {
        assert_int_equal(stet_log_append(c->log, 9, "again", 5, chain_cb, c, NULL), 0);
        assert_true(stet_log_flush(c->log));
    }
}

static void test_reentrant_inline(void **state) {
    (void)state;
    struct fake_env fe;
    fake_env_init(&fe);
    fe.run_inline = true;
    struct stet_store *s = stet_store_create_mem();
    struct stet_log *log = NULL;
    assert_int_equal(stet_log_create(&fe.env, s, NULL, NULL, NULL, &log), 0);
    struct chain c = {log, 50, 0, 0};
    assert_int_equal(stet_log_append(log, 9, "first", 5, chain_cb, &c, NULL), 0);
    assert_true(stet_log_flush(log));
    assert_int_equal(c.calls, 51);
    assert_int_equal(stet_log_durable_tail(log, 9), 51);
    assert_false(stet_log_busy(log));
    stet_log_check(log);
    stet_log_destroy(log);
    stet_store_destroy(s);
}

/* Seeded random walk against a model: appends, flushes, commits, trims, reads, scans. */
static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

struct model_cb {
    uint64_t expect_next[4]; /* next LSN whose callback is due, per log */
    struct stet_log *log;
    int calls;
};

struct model_arg {
    struct model_cb *m;
    uint32_t log_id;
};

static void model_append_cb(void *arg, int status, uint64_t lsn) {
    struct model_arg *a = arg;
    assert_int_equal(status, 0);
    assert_int_equal(lsn, a->m->expect_next[a->log_id]);
    a->m->expect_next[a->log_id]++;
    a->m->calls++;
    assert_true(stet_log_durable_tail(a->m->log, a->log_id) >= lsn);
}

struct scan_count {
    uint64_t next;
    int n;
};

static int count_cb(void *arg, uint64_t lsn, const uint8_t *rec, size_t len) {
    struct scan_count *c = arg;
    (void)rec;
    (void)len;
    assert_int_equal(lsn, c->next);
    c->next++;
    c->n++;
    return 0;
}

static void test_random_walk(void **state) {
    (void)state;
    uint64_t seed = 0x5eed1234abcdULL;
    struct fake_env fe;
    fake_env_init(&fe);
    struct stet_store *s = stet_store_create_mem();
    struct stet_log *log = NULL;
    struct stet_log_config cfg = {.max_batch_bytes = 2000};
    assert_int_equal(stet_log_create(&fe.env, s, &cfg, NULL, NULL, &log), 0);
    struct model_cb m = {.expect_next = {1, 1, 1, 1}, .log = log};
    struct model_arg args[4] = {{&m, 0}, {&m, 1}, {&m, 2}, {&m, 3}};
    uint64_t assigned[4] = {0}, trim[4] = {0};
    int appends = 0;
    for (int step = 0; step < 5000; step++) {
        uint32_t id = (uint32_t)(rng_next(&seed) % 4);
        switch (rng_next(&seed) % 8) {
        case 0: case 1: case 2: {
            char rec[64];
            make_record(rec, sizeof(rec), id, assigned[id] + 1);
            uint64_t lsn;
            assert_int_equal(stet_log_append(log, id, rec, strlen(rec), model_append_cb, &args[id], &lsn), 0);
            assert_int_equal(lsn, ++assigned[id]);
            appends++;
            break;
        }
        case 3: stet_log_flush(log); break;
        case 4: if (fe.njobs > 0) run_job(&fe); break;
        case 5: {
            uint64_t dt = stet_log_durable_tail(log, id);
            uint64_t to = dt ? rng_next(&seed) % (dt + 1) : 0;
            assert_int_equal(stet_log_trim(log, id, to), 0);
            if (to > trim[id]) trim[id] = to;
            assert_int_equal(stet_log_trim_point(log, id), trim[id]);
            break;
        }
        case 6: {
            uint64_t dt = stet_log_durable_tail(log, id);
            uint64_t lsn = rng_next(&seed) % (assigned[id] + 2);
            struct stet_buf b = STET_BUF_INIT;
            int rc = stet_log_read(log, id, lsn, &b);
            if (lsn == 0 || lsn <= trim[id] || lsn > dt) {
                assert_int_equal(rc, 1);
            } else {
                assert_int_equal(rc, 0);
                char expect[64];
                make_record(expect, sizeof(expect), id, lsn);
                assert_int_equal(b.len, strlen(expect));
                assert_memory_equal(b.data, expect, b.len);
            }
            stet_buf_free(&b);
            break;
        }
        case 7: {
            struct scan_count sc = {trim[id] + 1, 0};
            assert_int_equal(stet_log_scan(log, id, 0, UINT64_MAX, count_cb, &sc), 0);
            assert_int_equal(sc.next, stet_log_durable_tail(log, id) + 1);
            break;
        }
        }
        stet_log_check(log);
        /* Callbacks fire exactly up to the durable tail. */
        for (uint32_t k = 0; k < 4; k++) assert_int_equal(m.expect_next[k], stet_log_durable_tail(log, k) + 1);
    }
    while (!stet_log_drain(log)) run_job(&fe);
    assert_int_equal(m.calls, appends);
    stet_log_destroy(log);
    stet_store_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lsn_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_while_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_scan_trim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_with_inflight, setup, teardown),
        cmocka_unit_test(test_recovery_rocks),
        cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_failure, setup, teardown),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_full_batch_starts_after_commit),
        cmocka_unit_test_setup_teardown(test_commit_uses_submit_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_memory, setup, teardown),
        cmocka_unit_test(test_reentrant_inline),
        cmocka_unit_test(test_random_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
