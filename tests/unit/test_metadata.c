/* Tests for src/metadata: versioned conditional writes on the local store, inline and
 * through a deferred executor (to check that queued puts are serialized and version-checked
 * in order). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metadata/metadata.h"

struct put_result {
    int calls;
    int status;
    uint64_t version;
};

static void on_put(void *arg, int status, uint64_t v) {
    struct put_result *r = arg;
    r->calls++;
    r->status = status;
    r->version = v;
}

static void put_sync(struct stet_metadata *md, const char *key, const char *val, uint64_t expected,
                     struct put_result *r) {
    memset(r, 0, sizeof(*r));
    stet_metadata_put(md, key, val, strlen(val), expected, on_put, r);
    assert_int_equal(r->calls, 1); /* inline store: completes before returning */
}

static void test_inline_versions(void **state) {
    (void)state;
    struct stet_store *store = stet_store_create_mem();
    struct stet_metadata *md;
    assert_int_equal(stet_metadata_create_local(store, &md), 0);

    struct stet_buf v = STET_BUF_INIT;
    uint64_t ver = 99;
    assert_int_equal(stet_metadata_get(md, "schema", &ver, &v), 1);
    assert_int_equal(ver, 0);

    struct put_result r;
    put_sync(md, "schema", "one", 0, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(stet_metadata_get(md, "schema", &ver, &v), 0);
    assert_int_equal(ver, 1);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "one", 3);

    /* "must not exist" fails now, reporting the stored version */
    put_sync(md, "schema", "two", 0, &r);
    assert_int_equal(r.status, -ESTALE);
    assert_int_equal(r.version, 1);
    /* a wrong expected version fails too */
    put_sync(md, "schema", "two", 5, &r);
    assert_int_equal(r.status, -ESTALE);
    /* the right one succeeds */
    put_sync(md, "schema", "two!", 1, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.version, 2);
    assert_int_equal(stet_metadata_get(md, "schema", &ver, &v), 0);
    assert_int_equal(ver, 2);
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.data, "two!", 4);

    /* empty values are fine, other keys are independent */
    put_sync(md, "other", "", 0, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(stet_metadata_get(md, "other", &ver, &v), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(stet_metadata_get(md, "schema", &ver, &v), 0);
    assert_int_equal(ver, 2);

    /* bad keys */
    put_sync(md, "", "x", 0, &r);
    assert_int_equal(r.status, -EINVAL);
    char longkey[STET_METADATA_KEY_MAX + 2];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    put_sync(md, longkey, "x", 0, &r);
    assert_int_equal(r.status, -EINVAL);
    assert_int_equal(stet_metadata_get(md, longkey, &ver, &v), -EINVAL);

    /* the data lives under the 'M' prefix of the store */
    struct stet_buf raw = STET_BUF_INIT;
    assert_int_equal(stet_store_get(store, "Mschema", 7, &raw), 0);
    assert_int_equal(raw.len, 8 + 4);
    assert_int_equal(stet_load_u64be(raw.data), 2);
    stet_buf_free(&raw);

    stet_buf_free(&v);
    stet_metadata_destroy(md);
    stet_store_destroy(store);
}

/* An executor that queues work and runs it when the test says so. */
struct job {
    stet_env_work_fn work;
    stet_env_done_fn done;
    void *arg;
};
struct deferred {
    struct job jobs[16];
    int n;
};

static int deferred_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct deferred *d = ctx;
    assert_true(d->n < 16);
    d->jobs[d->n++] = (struct job){work, done, arg};
    return 0;
}

static void run_one(struct deferred *d) {
    assert_true(d->n > 0);
    struct job j = d->jobs[0];
    memmove(d->jobs, d->jobs + 1, sizeof(struct job) * (size_t)(d->n - 1));
    d->n--;
    j.work(j.arg);
    j.done(j.arg);
}

static void test_deferred_serialization(void **state) {
    (void)state;
    struct stet_store *store = stet_store_create_mem();
    struct deferred q = {0};
    struct stet_env env = {.ctx = &q, .submit = deferred_submit};
    struct stet_metadata *md;
    assert_int_equal(stet_metadata_create_local_env(store, &env, &md), 0);

    struct put_result a = {0}, b = {0}, c = {0};
    stet_metadata_put(md, "k", "a", 1, 0, on_put, &a);
    stet_metadata_put(md, "k", "b", 1, 0, on_put, &b); /* same precondition: must lose */
    stet_metadata_put(md, "k", "c", 1, 1, on_put, &c); /* builds on a: must win */
    assert_int_equal(a.calls + b.calls + c.calls, 0);
    assert_int_equal(q.n, 1); /* only one write in flight */

    run_one(&q);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.version, 1);
    /* b failed its check without a write, c is now in flight */
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, -ESTALE);
    assert_int_equal(b.version, 1);
    assert_int_equal(c.calls, 0);
    assert_int_equal(q.n, 1);
    run_one(&q);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, 0);
    assert_int_equal(c.version, 2);
    assert_int_equal(q.n, 0);

    struct stet_buf v = STET_BUF_INIT;
    uint64_t ver;
    assert_int_equal(stet_metadata_get(md, "k", &ver, &v), 0);
    assert_int_equal(ver, 2);
    assert_memory_equal(v.data, "c", 1);
    stet_buf_free(&v);
    stet_metadata_destroy(md);
    stet_store_destroy(store);
}

/* A put issued from inside a put callback is queued behind, not run re-entrantly. */
struct chain {
    struct stet_metadata *md;
    struct put_result second;
    int order[4];
    int n;
};

static void on_second(void *arg, int status, uint64_t v) {
    struct chain *ch = arg;
    ch->order[ch->n++] = 2;
    on_put(&ch->second, status, v);
}

static void on_first(void *arg, int status, uint64_t v) {
    struct chain *ch = arg;
    assert_int_equal(status, 0);
    ch->order[ch->n++] = 1;
    stet_metadata_put(ch->md, "k", "next", 4, v, on_second, ch);
}

static void test_put_from_callback(void **state) {
    (void)state;
    struct stet_store *store = stet_store_create_mem();
    struct chain ch = {0};
    assert_int_equal(stet_metadata_create_local(store, &ch.md), 0);
    stet_metadata_put(ch.md, "k", "first", 5, 0, on_first, &ch);
    assert_int_equal(ch.n, 2);
    assert_int_equal(ch.order[0], 1);
    assert_int_equal(ch.order[1], 2);
    assert_int_equal(ch.second.status, 0);
    assert_int_equal(ch.second.version, 2);
    stet_metadata_destroy(ch.md);
    stet_store_destroy(store);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_versions),
        cmocka_unit_test(test_deferred_serialization),
        cmocka_unit_test(test_put_from_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
