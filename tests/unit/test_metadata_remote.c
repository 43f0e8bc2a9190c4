/* The metadata client (src/metadata/remote.c) against a fake metadata server: the request port
 * answers from a local metadata store on a simulated clock (never inside the request), and can
 * be made unreachable. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "metadata/remote.h"
#include "sim_env.h"
#include "store/store.h"

struct server {
    struct sim_env sim;
    struct stet_store *store;
    struct stet_metadata *local; /* what the "member" holds */
    bool down;                   /* answer -EAGAIN */
    unsigned requests;
    char changed[16][64];
    unsigned n_changed;
};

struct pending {
    struct server *s;
    uint8_t op;
    struct stet_buf body;
    stet_metadata_remote_done done;
    void *arg;
    struct stet_env_timer *t;
};

static void put_answer(void *arg, int status, uint64_t version) {
    struct pending *p = arg;
    uint8_t v[8];
    stet_store_u64be(v, version);
    p->done(p->arg, status, v, sizeof(v));
}

static void serve(void *arg) {
    struct pending *p = arg;
    struct server *s = p->s;
    if (s->down) {
        p->done(p->arg, -EAGAIN, NULL, 0);
    } else if (p->op == STET_MD_REMOTE_PUT) {
        char key[STET_METADATA_KEY_MAX + 1];
        uint64_t expected;
        const uint8_t *value;
        size_t vlen;
        assert_int_equal(stet_metadata_remote_put_decode(p->body.data, p->body.len, key, &expected, &value, &vlen), 0);
        stet_metadata_put(s->local, key, value, vlen, expected, put_answer, p); /* inline store: answers now */
    } else {
        static const char *const keys[] = {"schema", "nodes_config", "other"};
        struct stet_buf b = STET_BUF_INIT;
        stet_buf_append_u32be(&b, 0);
        uint32_t n = 0;
        for (size_t i = 0; i < 3; i++) {
            uint64_t v;
            struct stet_buf val = STET_BUF_INIT;
            if (stet_metadata_get(s->local, keys[i], &v, &val) == 0) {
                stet_metadata_remote_read_append(&b, keys[i], v, val.data, val.len);
                n++;
            }
            stet_buf_free(&val);
        }
        stet_store_u32be(b.data, n);
        p->done(p->arg, 0, b.data, b.len);
        stet_buf_free(&b);
    }
    sim_timer_destroy(&s->sim, p->t);
    stet_buf_free(&p->body);
    free(p);
}

static void request(void *ctx, uint8_t op, const void *body, size_t len, stet_metadata_remote_done done, void *arg) {
    struct server *s = ctx;
    s->requests++;
    struct pending *p = calloc(1, sizeof(*p));
    p->s = s;
    p->op = op;
    stet_buf_init(&p->body);
    if (len) stet_buf_append(&p->body, body, len);
    p->done = done;
    p->arg = arg;
    p->t = sim_timer_create(&s->sim, serve, p);
    sim_timer_start(&s->sim, p->t, 5); /* a network round trip later, never inline */
}

static void changed(void *ctx, const char *key, uint64_t version) {
    struct server *s = ctx;
    (void)version;
    snprintf(s->changed[s->n_changed++ % 16], 64, "%s", key);
}

struct put_result {
    bool done;
    int status;
    uint64_t version;
};
static void put_cb(void *arg, int status, uint64_t version) {
    struct put_result *r = arg;
    r->done = true;
    r->status = status;
    r->version = version;
}
struct sync_result {
    bool done;
    int status;
};
static void sync_cb(void *arg, int status) {
    struct sync_result *r = arg;
    r->done = true;
    r->status = status;
}

static void setup(struct server *s, struct stet_metadata **md) {
    memset(s, 0, sizeof(*s));
    sim_env_init(&s->sim, 5);
    s->store = stet_store_create_mem();
    assert_int_equal(stet_metadata_create_local(s->store, &s->local), 0);
    struct stet_metadata_remote_ports p = {.ctx = s, .request = request, .changed = changed};
    assert_int_equal(stet_metadata_create_remote(&p, md), 0);
}

static void teardown(struct server *s, struct stet_metadata *md) {
    stet_metadata_destroy(md);
    sim_env_run_for(&s->sim, 100); /* answers still in flight find the client gone */
    stet_metadata_destroy(s->local);
    stet_store_destroy(s->store);
    sim_env_free(&s->sim);
}

/* A put goes to the member, is decided there, and the client reads it after the refresh it
 * triggers; a conflicting put gets -ESTALE with the stored version. */
static void test_put_then_read(void **state) {
    (void)state;
    struct server s;
    struct stet_metadata *md;
    setup(&s, &md);
    struct put_result r = {0};
    stet_metadata_put(md, "schema", "v1", 2, 0, put_cb, &r);
    assert_false(r.done); /* never inline */
    sim_env_run_for(&s.sim, 50);
    assert_true(r.done);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.version, 1);
    uint64_t v = 0;
    struct stet_buf val = STET_BUF_INIT;
    assert_int_equal(stet_metadata_get(md, "schema", &v, &val), 0); /* refreshed after the put */
    assert_int_equal(v, 1);
    assert_memory_equal(val.data, "v1", 2);
    r = (struct put_result){0};
    stet_metadata_put(md, "schema", "v2", 2, 0, put_cb, &r);
    sim_env_run_for(&s.sim, 50);
    assert_int_equal(r.status, -ESTALE);
    assert_int_equal(r.version, 1);
    stet_buf_free(&val);
    teardown(&s, md);
}

/* sync reads every key the member has, changes are reported once per new version. */
static void test_sync_and_changes(void **state) {
    (void)state;
    struct server s;
    struct stet_metadata *md;
    setup(&s, &md);
    struct put_result r = {0};
    stet_metadata_put(s.local, "nodes_config", "{}", 2, 0, put_cb, &r); /* written "by another node" */
    assert_true(r.done);
    uint64_t v = 9;
    assert_int_equal(stet_metadata_get(md, "nodes_config", &v, NULL), 1);
    assert_int_equal(v, 0);
    struct sync_result y = {0};
    stet_metadata_sync(md, sync_cb, &y);
    assert_false(y.done);
    sim_env_run_for(&s.sim, 20);
    assert_true(y.done);
    assert_int_equal(y.status, 0);
    assert_int_equal(stet_metadata_get(md, "nodes_config", &v, NULL), 0);
    assert_int_equal(v, 1);
    assert_int_equal(s.n_changed, 1);
    assert_string_equal(s.changed[0], "nodes_config");
    /* nothing new: no change reported */
    stet_metadata_remote_refresh(md);
    stet_metadata_remote_refresh(md); /* one refresh in flight at a time */
    sim_env_run_for(&s.sim, 20);
    assert_int_equal(s.n_changed, 1);
    teardown(&s, md);
}

/* An unreachable member: puts and syncs fail with its error, the cache stays. */
static void test_member_down(void **state) {
    (void)state;
    struct server s;
    struct stet_metadata *md;
    setup(&s, &md);
    struct put_result r = {0};
    stet_metadata_put(md, "schema", "v1", 2, 0, put_cb, &r);
    sim_env_run_for(&s.sim, 50);
    assert_int_equal(r.status, 0);
    s.down = true;
    r = (struct put_result){0};
    stet_metadata_put(md, "schema", "v2", 2, 1, put_cb, &r);
    struct sync_result y = {0};
    stet_metadata_sync(md, sync_cb, &y);
    sim_env_run_for(&s.sim, 50);
    assert_int_equal(r.status, -EAGAIN);
    assert_int_equal(y.status, -EAGAIN);
    uint64_t v = 0;
    assert_int_equal(stet_metadata_get(md, "schema", &v, NULL), 0);
    assert_int_equal(v, 1);
    /* destroyed with requests in flight: their answers arrive later and free only themselves */
    s.down = false;
    r = (struct put_result){0};
    stet_metadata_put(md, "schema", "v3", 2, 1, put_cb, &r);
    teardown(&s, md);
    assert_true(r.done);
    assert_int_equal(r.status, -ESHUTDOWN);
}

int main(void) {
    stet_log_set_level(STET_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_then_read),
        cmocka_unit_test(test_sync_and_changes),
        cmocka_unit_test(test_member_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
