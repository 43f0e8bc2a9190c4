/* Tests for the node port's wire format (src/nodeport/frame.c): frames and HELLO round trip
 * through the streaming decoder fed in any chunks, version negotiation, and the errors that
 * close a connection. STET_DUMP_NODEPORT=dir writes the fuzz corpus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corpus_dump.h"
#include "nodeport/frame.h"
#include "nodeport/rpc.h"

static void dump(const char *name, const struct stet_buf *b) { corpus_dump("STET_DUMP_NODEPORT", name, b); }

static void test_round_trip_any_chunks(void **state) {
    (void)state;
    struct stet_buf wire = STET_BUF_INIT;
    struct stet_np_hello h = {.min_version = 1, .max_version = 1, .node_id = 2, .generation = 7,
                              .fingerprint = 0x1234567890abcdefull};
    snprintf(h.cluster_name, sizeof(h.cluster_name), "%s", "restate-cluster");
    snprintf(h.node_name, sizeof(h.node_name), "%s", "restate-2");
    stet_np_hello_encode(&wire, &h);
    stet_np_frame_encode(&wire, STET_NP_CONSENSUS, 0, "raft-batch", 10);
    uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    stet_np_frame_encode(&wire, STET_NP_PING, 0, nonce, 8);
    stet_np_frame_encode(&wire, STET_NP_FORWARD, 17, "", 0);
    stet_np_frame_encode(&wire, 99 /* a kind from a newer peer */, 3, "x", 1);
    dump("session", &wire);
    for (size_t chunk = 1; chunk <= wire.len; chunk = chunk * 2 + 1) {
        struct stet_np_decoder d;
        stet_np_decoder_init(&d, 1024);
        int seen = 0;
        for (size_t off = 0; off < wire.len; off += chunk) {
            size_t n = wire.len - off < chunk ? wire.len - off : chunk;
            stet_np_decoder_feed(&d, wire.data + off, n);
            struct stet_np_frame f;
            int rc;
            while ((rc = stet_np_decoder_next(&d, &f)) == 1) {
                switch (seen++) {
                case 0: {
                    assert_int_equal(f.kind, STET_NP_HELLO);
                    struct stet_np_hello g;
                    assert_int_equal(stet_np_hello_decode(f.payload, f.len, &g), 0);
                    assert_int_equal(g.node_id, 2);
                    assert_int_equal(g.generation, 7);
                    assert_true(g.fingerprint == 0x1234567890abcdefull);
                    assert_string_equal(g.cluster_name, "restate-cluster");
                    assert_string_equal(g.node_name, "restate-2");
                    break;
                }
                case 1:
                    assert_int_equal(f.kind, STET_NP_CONSENSUS);
                    assert_int_equal(f.len, 10);
                    assert_memory_equal(f.payload, "raft-batch", 10);
                    break;
                case 2:
                    assert_int_equal(f.kind, STET_NP_PING);
                    assert_memory_equal(f.payload, nonce, 8);
                    break;
                case 3:
                    assert_int_equal(f.kind, STET_NP_FORWARD);
                    assert_int_equal(f.group, 17);
                    assert_int_equal(f.len, 0);
                    break;
                case 4:
                    assert_int_equal(f.kind, 99);
                    assert_int_equal(f.group, 3);
                    break;
                default: fail_msg("too many frames");
                }
            }
            assert_int_equal(rc, 0);
        }
        assert_int_equal(seen, 5);
        stet_np_decoder_free(&d);
    }
    stet_buf_free(&wire);
}

static void test_negotiation_and_bad_hello(void **state) {
    (void)state;
    struct stet_np_hello a = {.min_version = 1, .max_version = 3, .node_id = 1};
    struct stet_np_hello b = {.min_version = 2, .max_version = 5, .node_id = 2};
    assert_int_equal(stet_np_negotiate(&a, &b), 3);
    b.min_version = 4;
    assert_int_equal(stet_np_negotiate(&a, &b), 0); /* nothing in common: close */
    struct stet_np_hello h;
    uint8_t short_payload[10] = {0};
    assert_int_equal(stet_np_hello_decode(short_payload, sizeof(short_payload), &h), -EPROTO);
    /* a name length that does not match the payload */
    struct stet_buf w = STET_BUF_INIT;
    struct stet_np_hello ok = {.min_version = 1, .max_version = 1, .node_id = 3};
    snprintf(ok.cluster_name, sizeof(ok.cluster_name), "c");
    stet_np_hello_encode(&w, &ok);
    dump("hello", &w);
    const uint8_t *payload = w.data + 9;
    size_t plen = w.len - 9;
    assert_int_equal(stet_np_hello_decode(payload, plen, &h), 0);
    assert_int_equal(stet_np_hello_decode(payload, plen - 1, &h), -EPROTO);
    /* node id 0 and inverted versions are refused */
    w.data[9 + 4] = 0;
    assert_int_equal(stet_np_hello_decode(payload, plen, &h), -EPROTO);
    w.data[9 + 4] = 3;
    w.data[9] = 2; /* min 2 > max 1 */
    assert_int_equal(stet_np_hello_decode(payload, plen, &h), -EPROTO);
    stet_buf_free(&w);
}

static void test_oversize_and_short_frames(void **state) {
    (void)state;
    struct stet_np_decoder d;
    stet_np_decoder_init(&d, 100);
    uint8_t big[4] = {101 + 5, 0, 0, 0}; /* longer than the maximum */
    stet_np_decoder_feed(&d, big, 4);
    struct stet_np_frame f;
    assert_int_equal(stet_np_decoder_next(&d, &f), -EMSGSIZE);
    stet_np_decoder_free(&d);
    stet_np_decoder_init(&d, 100);
    uint8_t tiny[4] = {4, 0, 0, 0}; /* shorter than kind + group */
    stet_np_decoder_feed(&d, tiny, 4);
    assert_int_equal(stet_np_decoder_next(&d, &f), -EPROTO);
    stet_np_decoder_free(&d);
}

/* REPLICAS payloads (rpc.h): round trip, and partitions out of order or a wrong length refused
 * with nothing delivered. */
struct seen {
    struct stet_np_replica_status r[4];
    unsigned n;
};

static void seen_cb(void *arg, const struct stet_np_replica_status *r) {
    struct seen *s = arg;
    assert_true(s->n < 4);
    s->r[s->n++] = *r;
}

static void test_replicas_payload(void **state) {
    (void)state;
    struct stet_np_replica_status in[3] = {{0, 10, 12, 5}, {3, 1, 1, 0}, {23, UINT64_MAX, 7, 7}};
    struct stet_buf b = STET_BUF_INIT;
    stet_np_replicas_begin(&b, 3);
    for (int i = 0; i < 3; i++) stet_np_replicas_append(&b, &in[i]);
    struct seen s = {0};
    assert_int_equal(stet_np_replicas_decode(b.data, b.len, seen_cb, &s), 0);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.r[i].partition, in[i].partition);
        assert_true(s.r[i].applied == in[i].applied && s.r[i].durable == in[i].durable &&
                    s.r[i].flushed == in[i].flushed);
    }
    s.n = 0;
    assert_int_equal(stet_np_replicas_decode(b.data, b.len - 1, seen_cb, &s), -EPROTO);
    assert_int_equal(s.n, 0);
    struct stet_buf bad = STET_BUF_INIT;
    stet_np_replicas_begin(&bad, 2);
    stet_np_replicas_append(&bad, &in[1]);
    stet_np_replicas_append(&bad, &in[0]); /* partitions must increase */
    assert_int_equal(stet_np_replicas_decode(bad.data, bad.len, seen_cb, &s), -EPROTO);
    assert_int_equal(s.n, 0);
    stet_buf_free(&bad);
    stet_buf_free(&b);
}

/* TASKS payloads (rpc.h): round trip with a failure text, and a failure longer than announced
 * refused with nothing delivered. */
static unsigned TASKS_SEEN;
static struct stet_np_task TASK_LAST;
static char TASK_FAILURE[64];

static void task_cb(void *arg, const struct stet_np_task *t) {
    (void)arg;
    TASKS_SEEN++;
    TASK_LAST = *t;
    memcpy(TASK_FAILURE, t->failure, t->failure_len);
    TASK_FAILURE[t->failure_len] = 0;
}

static void test_tasks_payload(void **state) {
    (void)state;
    struct stet_np_task a = {.running = true, .retry_count = 0, .last_start_at_ms = 1234};
    struct stet_np_task b = {.running = false, .retry_count = 3, .next_retry_at_ms = 99, .failure = "boom", .failure_len = 4};
    memset(a.id, 1, 24);
    memset(b.id, 2, 24);
    struct stet_buf buf = STET_BUF_INIT;
    stet_np_tasks_begin(&buf, 2);
    stet_np_tasks_append(&buf, &a);
    stet_np_tasks_append(&buf, &b);
    TASKS_SEEN = 0;
    assert_int_equal(stet_np_tasks_decode(buf.data, buf.len, task_cb, NULL), 0);
    assert_int_equal(TASKS_SEEN, 2);
    assert_false(TASK_LAST.running);
    assert_int_equal(TASK_LAST.retry_count, 3);
    assert_true(TASK_LAST.next_retry_at_ms == 99 && TASK_LAST.id[0] == 2);
    assert_string_equal(TASK_FAILURE, "boom");
    TASKS_SEEN = 0;
    assert_int_equal(stet_np_tasks_decode(buf.data, buf.len - 1, task_cb, NULL), -EPROTO);
    buf.data[buf.len - 4 - 2] = 0xFF; /* b's failure length far beyond the payload */
    assert_int_equal(stet_np_tasks_decode(buf.data, buf.len, task_cb, NULL), -EPROTO);
    assert_int_equal(TASKS_SEEN, 0);
    stet_buf_free(&buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_any_chunks),
        cmocka_unit_test(test_negotiation_and_bad_hello),
        cmocka_unit_test(test_oversize_and_short_frames),
        cmocka_unit_test(test_replicas_payload),
        cmocka_unit_test(test_tasks_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
