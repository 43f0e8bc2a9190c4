/* Tests for the partition processor (src/partition): lifecycle of invocations driven by log
 * records, actions, and determinism: the same log applied to two fresh stores (in-memory and
 * RocksDB) yields byte-identical store contents. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "partition/partition.h"
#include "schema/schema.h"

/* ---- fixtures ------------------------------------------------------------------------ */

#define MAX_ACTIONS 256

struct recorder {
    struct stet_action actions[MAX_ACTIONS];
    size_t n;
};

static void record_action(void *ctx, const struct stet_action *a) {
    struct recorder *r = ctx;
    assert_true(r->n < MAX_ACTIONS);
    r->actions[r->n] = *a;
    r->actions[r->n].value = (struct stet_slice){NULL, a->value.len};
    r->actions[r->n].failure_raw = (struct stet_slice){NULL, a->failure_raw.len};
    r->n++;
}

static uint64_t fake_now(void *ctx) { (void)ctx; return 1700000000000ull; }
static uint64_t fake_rand(void *ctx) { (void)ctx; return 42; }
static const struct stet_env env = {.now_ms = fake_now, .monotonic_ms = fake_now, .random_u64 = fake_rand};

struct part {
    struct stet_store *store;
    struct stet_partition *p;
    struct recorder rec;
    uint64_t lsn;
};

static void part_open(struct part *pt, struct stet_store *store) {
    memset(pt, 0, sizeof(*pt));
    pt->store = store;
    struct stet_partition_config cfg = {.partition_id = 0, .key_start = 0, .key_end = UINT64_MAX};
    assert_int_equal(stet_partition_create(&env, store, &cfg, record_action, &pt->rec, &pt->p), 0);
    stet_partition_become_leader(pt->p);
}

static void part_close(struct part *pt) {
    stet_partition_destroy(pt->p);
    stet_store_destroy(pt->store);
}

static void apply(struct part *pt, const struct stet_record *r) {
    struct stet_buf b = STET_BUF_INIT;
    stet_record_encode(&b, r);
    pt->lsn++;
    assert_int_equal(stet_partition_apply(pt->p, pt->lsn, b.data, b.len), 0);
    stet_partition_check(pt->p);
    stet_buf_free(&b);
}

static struct stet_invocation_id make_id(uint64_t pk, uint8_t tag) {
    struct stet_invocation_id id;
    memset(&id, 0, sizeof(id));
    id.partition_key = pk;
    memset(id.uuid, tag, 16);
    return id;
}

static struct stet_slice S(const char *s) { return (struct stet_slice){(const uint8_t *)s, strlen(s)}; }

static struct stet_record invoke_rec(struct stet_invocation_id id, const char *svc, const char *handler,
                                     const char *key, uint8_t service_type, uint8_t handler_type, uint64_t request_id,
                                     struct stet_buf *input) {
    stet_buf_reset(input);
    stet_proto_encode_input(input, NULL, 0, (const uint8_t *)"\"x\"", 3);
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKE;
    r.timestamp_ms = 1000;
    r.id = id;
    r.service = S(svc);
    r.handler = S(handler);
    r.keyed = key != NULL;
    r.key = key ? S(key) : (struct stet_slice){NULL, 0};
    r.service_type = service_type;
    r.handler_type = handler_type;
    r.input_entry = (struct stet_slice){input->data, input->len};
    r.completion_retention_ms = 86400000;
    r.journal_retention_ms = 0;
    if (request_id) {
        r.sink.kind = STET_SINK_INGRESS;
        r.sink.incarnation = 7;
        r.sink.request_id = request_id;
    }
    return r;
}

static struct stet_record effect_rec(struct stet_invocation_id id, enum stet_effect_kind kind, uint16_t type,
                                     const struct stet_buf *payload) {
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKER_EFFECT;
    r.timestamp_ms = 2000;
    r.id = id;
    r.effect = kind;
    r.entry_type = type;
    if (payload) r.payload = (struct stet_slice){payload->data, payload->len};
    return r;
}

static void encode_set_state(struct stet_buf *b, const char *k, const char *v) {
    stet_buf_reset(b);
    stet_pb_put_bytes_field(b, 1, k, strlen(k));
    size_t m = stet_pb_begin_submsg(b, 3);
    stet_pb_put_bytes_field(b, 1, v, strlen(v));
    stet_pb_end_submsg(b, m);
}

static void encode_output_value(struct stet_buf *b, const char *v) {
    stet_buf_reset(b);
    struct stet_result r = {.kind = STET_RESULT_VALUE, .value = S(v)};
    stet_proto_encode_output(b, &r);
}

static const struct stet_action *last_of(const struct recorder *r, enum stet_action_kind k) {
    for (size_t i = r->n; i > 0; i--)
        if (r->actions[i - 1].kind == k) return &r->actions[i - 1];
    fail_msg("no action of kind %d", (int)k);
    return NULL;
}

static size_t count_actions(const struct recorder *r, enum stet_action_kind k) {
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += r->actions[i].kind == k;
    return n;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_record_roundtrip(void **state) {
    (void)state;
    struct stet_buf in = STET_BUF_INIT, b = STET_BUF_INIT;
    struct stet_record r = invoke_rec(make_id(5, 1), "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, 9, &in);
    r.has_idempotency_key = true;
    r.idempotency_key = S("");
    stet_record_encode(&b, &r);
    struct stet_record d;
    assert_int_equal(stet_record_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.kind, STET_REC_INVOKE);
    assert_int_equal(d.id.partition_key, 5);
    assert_memory_equal(d.service.ptr, "Greeter", 7);
    assert_true(d.has_idempotency_key);
    assert_int_equal(d.idempotency_key.len, 0);
    assert_int_equal(d.sink.kind, STET_SINK_INGRESS);
    assert_int_equal(d.sink.request_id, 9);
    assert_int_equal(d.completion_retention_ms, 86400000);
    /* garbage is rejected */
    assert_int_equal(stet_record_decode((const uint8_t *)"\xff\xff\xff", 3, &d), -EPROTO);
    stet_buf_free(&in);
    stet_buf_free(&b);
}

static void test_service_call_lifecycle(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    struct stet_invocation_id id = make_id(100, 1);
    struct stet_record r = invoke_rec(id, "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, 1, &in);
    apply(&pt, &r);
    assert_int_equal(pt.rec.n, 1);
    assert_int_equal(pt.rec.actions[0].kind, STET_ACTION_INVOKE);

    /* a run: command + proposal -> notification entry and a NOTIFY action */
    stet_buf_reset(&pl);
    stet_pb_put_uint_field(&pl, 11, 1);
    stet_pb_put_bytes_field(&pl, 12, "upper", 5);
    struct stet_record e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_RUN, &pl);
    apply(&pt, &e);
    struct stet_result res = {.kind = STET_RESULT_VALUE, .value = S("\"X\"")};
    stet_buf_reset(&pl);
    stet_proto_encode_run_proposal(&pl, 1, &res);
    e = effect_rec(id, STET_EFFECT_RUN_PROPOSAL, 0, &pl);
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), 1);
    assert_int_equal(pt.rec.actions[pt.rec.n - 1].entry_index, 2);
    /* the same proposal again (replayed attempt) adds nothing */
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), 1);

    struct stet_inv_status st;
    stet_inv_status_init(&st);
    assert_int_equal(stet_table_status_get(pt.store, &id, &st), 0);
    assert_int_equal(st.state, STET_INV_INVOKED);
    assert_int_equal(st.journal_len, 3);
    assert_int_equal(st.commands, 2);

    encode_output_value(&pl, "\"Hello\"");
    e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_OUTPUT, &pl);
    apply(&pt, &e);
    e = effect_rec(id, STET_EFFECT_END, 0, NULL);
    apply(&pt, &e);
    const struct stet_action *last = last_of(&pt.rec, STET_ACTION_INGRESS_RESPONSE);
    assert_int_equal(last->kind, STET_ACTION_INGRESS_RESPONSE);
    /* retention: a cleanup timer at completion + retention */
    assert_int_equal(last_of(&pt.rec, STET_ACTION_TIMER)->wake_at_ms, 2000 + 86400000);
    assert_int_equal(last->response, STET_RESPONSE_VALUE);
    assert_int_equal(last->value.len, 7);
    assert_int_equal(last->sink.request_id, 1);
    assert_int_equal(stet_table_status_get(pt.store, &id, &st), 0);
    assert_int_equal(st.state, STET_INV_COMPLETED);
    assert_int_equal(st.result_kind, 1);
    assert_memory_equal(st.result_value.ptr, "\"Hello\"", 7);

    /* attach after completion answers from the retained result */
    struct stet_record a;
    memset(&a, 0, sizeof(a));
    a.kind = STET_REC_ATTACH;
    a.timestamp_ms = 3000;
    a.id = id;
    a.attach_mode = STET_ATTACH_WAIT;
    a.sink = (struct stet_inv_sink){.kind = STET_SINK_INGRESS, .incarnation = 7, .request_id = 2};
    apply(&pt, &a);
    last = last_of(&pt.rec, STET_ACTION_INGRESS_RESPONSE);
    assert_int_equal(last->response, STET_RESPONSE_VALUE);
    assert_true(last->from_retained);
    assert_int_equal(last->expires_at_ms, 2000 + 86400000);
    /* unknown invocation */
    a.id = make_id(100, 9);
    apply(&pt, &a);
    assert_int_equal(last_of(&pt.rec, STET_ACTION_INGRESS_RESPONSE)->response, STET_RESPONSE_NOT_FOUND);

    /* records at or below the applied LSN are ignored */
    size_t before = pt.rec.n;
    struct stet_buf b = STET_BUF_INIT;
    stet_record_encode(&b, &r);
    assert_int_equal(stet_partition_apply(pt.p, 1, b.data, b.len), 0);
    assert_int_equal(pt.rec.n, before);
    stet_buf_free(&b);

    stet_inv_status_free(&st);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}

static void test_object_lock_and_inbox(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    uint64_t pk = 4242;
    struct stet_invocation_id a = make_id(pk, 1), b = make_id(pk, 2), c = make_id(pk, 3);
    struct stet_record r = invoke_rec(a, "Counter", "add", "k", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, 1, &in);
    apply(&pt, &r);
    r = invoke_rec(b, "Counter", "add", "k", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, 2, &in);
    apply(&pt, &r);
    /* a shared handler does not wait for the lock */
    r = invoke_rec(c, "Counter", "get", "k", STET_VIRTUAL_OBJECT, STET_HANDLER_SHARED, 3, &in);
    apply(&pt, &r);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), 2);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    assert_int_equal(stet_table_status_get(pt.store, &b, &st), 0);
    assert_int_equal(st.state, STET_INV_INBOXED);

    /* a sets state and ends; b gets the lock */
    encode_set_state(&pl, "count", "1");
    struct stet_record e = effect_rec(a, STET_EFFECT_ENTRY, STET_CMD_SET_STATE, &pl);
    apply(&pt, &e);
    e = effect_rec(a, STET_EFFECT_END, 0, NULL);
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), 3);
    assert_int_equal(stet_table_status_get(pt.store, &b, &st), 0);
    assert_int_equal(st.state, STET_INV_INVOKED);

    /* lazy state read sees the committed value */
    stet_buf_reset(&pl);
    stet_pb_put_bytes_field(&pl, 1, "count", 5);
    stet_pb_put_uint_field(&pl, 11, 1);
    e = effect_rec(b, STET_EFFECT_ENTRY, STET_CMD_GET_LAZY_STATE, &pl);
    apply(&pt, &e);
    assert_int_equal(pt.rec.actions[pt.rec.n - 1].kind, STET_ACTION_NOTIFY);
    stet_inv_status_free(&st);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}

static void test_suspension(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    struct stet_invocation_id id = make_id(7, 1);
    struct stet_record r = invoke_rec(id, "Svc", "h", NULL, STET_SERVICE, STET_HANDLER_UNSET, 1, &in);
    apply(&pt, &r);
    /* run command then suspend on its completion (1) and cancel (signal 1) */
    stet_buf_reset(&pl);
    stet_pb_put_uint_field(&pl, 11, 1);
    struct stet_record e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_RUN, &pl);
    apply(&pt, &e);
    uint32_t comps[] = {1}, sigs[] = {1};
    stet_buf_reset(&pl);
    stet_proto_encode_suspension(&pl, 6, comps, 1, sigs, 1, NULL, 0);
    e = effect_rec(id, STET_EFFECT_SUSPENDED, 0, &pl);
    apply(&pt, &e);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    assert_int_equal(stet_table_status_get(pt.store, &id, &st), 0);
    assert_int_equal(st.state, STET_INV_SUSPENDED);
    size_t invokes = count_actions(&pt.rec, STET_ACTION_INVOKE);
    /* effects that arrive while suspended are ignored; a proposal is one of them */
    struct stet_result res = {.kind = STET_RESULT_VALUE, .value = S("1")};
    stet_buf_reset(&pl);
    stet_proto_encode_run_proposal(&pl, 1, &res);
    e = effect_rec(id, STET_EFFECT_RUN_PROPOSAL, 0, &pl);
    apply(&pt, &e);
    assert_int_equal(stet_table_status_get(pt.store, &id, &st), 0);
    assert_int_equal(st.state, STET_INV_SUSPENDED);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), invokes);
    stet_inv_status_free(&st);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}

/* Suspension on something that is already stored resumes at once. */
static void test_suspension_already_satisfied(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    struct stet_invocation_id id = make_id(8, 1);
    struct stet_record r = invoke_rec(id, "Svc", "h", NULL, STET_SERVICE, STET_HANDLER_UNSET, 0, &in);
    apply(&pt, &r);
    stet_buf_reset(&pl);
    stet_pb_put_uint_field(&pl, 11, 1);
    struct stet_record e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_RUN, &pl);
    apply(&pt, &e);
    struct stet_result res = {.kind = STET_RESULT_VALUE, .value = S("1")};
    stet_buf_reset(&pl);
    stet_proto_encode_run_proposal(&pl, 1, &res);
    e = effect_rec(id, STET_EFFECT_RUN_PROPOSAL, 0, &pl);
    apply(&pt, &e);
    uint32_t comps[] = {1}, sigs[] = {1};
    stet_buf_reset(&pl);
    stet_proto_encode_suspension(&pl, 6, comps, 1, sigs, 1, NULL, 0);
    size_t invokes = count_actions(&pt.rec, STET_ACTION_INVOKE);
    e = effect_rec(id, STET_EFFECT_SUSPENDED, 0, &pl);
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), invokes + 1);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    assert_int_equal(stet_table_status_get(pt.store, &id, &st), 0);
    assert_int_equal(st.state, STET_INV_INVOKED);
    stet_inv_status_free(&st);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}


/* Delivers every outbox message of pt (as the node's shuffle would) into dst, with dedup. */
static size_t deliver_outbox(struct part *src, struct part *dst, uint64_t *from_seq) {
    size_t n = 0;
    struct stet_buf v = STET_BUF_INIT;
    for (;;) {
        stet_buf_reset(&v);
        if (stet_partition_outbox_get(src->store, 0, *from_seq, &v) != 0) break;
        struct stet_record r;
        assert_int_equal(stet_record_decode(v.data, v.len, &r), 0);
        r.dedup_source = 1;
        r.dedup_seq = *from_seq;
        apply(dst, &r);
        (*from_seq)++;
        n++;
    }
    stet_buf_free(&v);
    return n;
}

static void test_call_and_response_through_outbox(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    struct stet_invocation_id caller = make_id(11, 1);
    struct stet_record r = invoke_rec(caller, "Caller", "go", NULL, STET_SERVICE, STET_HANDLER_UNSET, 1, &in);
    apply(&pt, &r);
    /* CallCommand{service Greeter, handler greet, parameter, id-notification 1, result 2} */
    stet_buf_reset(&pl);
    stet_pb_put_bytes_field(&pl, 1, "Greeter", 7);
    stet_pb_put_bytes_field(&pl, 2, "greet", 5);
    stet_pb_put_bytes_field(&pl, 3, "\"bob\"", 5);
    stet_pb_put_uint_field(&pl, 10, 1);
    stet_pb_put_uint_field(&pl, 11, 2);
    struct stet_record e = effect_rec(caller, STET_EFFECT_ENTRY, STET_CMD_CALL, &pl);
    e.target_service_type = STET_SERVICE;
    e.target_handler_type = STET_HANDLER_UNSET;
    e.target_completion_retention_ms = 1000;
    apply(&pt, &e);
    /* the id notification is stored and forwarded at once */
    assert_int_equal(last_of(&pt.rec, STET_ACTION_NOTIFY)->entry_index, 2);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_OUTBOX), 1);
    /* replaying the same command gives the same callee (deterministic id) */
    uint64_t seq = 1;
    struct stet_buf v = STET_BUF_INIT;
    assert_int_equal(stet_partition_outbox_get(pt.store, 0, 1, &v), 0);
    struct stet_record inv;
    assert_int_equal(stet_record_decode(v.data, v.len, &inv), 0);
    assert_int_equal(inv.kind, STET_REC_INVOKE);
    assert_int_equal(inv.sink.kind, STET_SINK_INVOCATION);
    assert_int_equal(inv.sink.completion_id, 2);
    struct stet_invocation_id callee = inv.id;
    /* deliver twice: the second copy is dropped by dedup */
    assert_int_equal(deliver_outbox(&pt, &pt, &seq), 1);
    uint64_t again = 1;
    size_t invokes = count_actions(&pt.rec, STET_ACTION_INVOKE);
    deliver_outbox(&pt, &pt, &again);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), invokes);
    /* the callee ends: a RESPONSE goes to the caller, which stores CallCompletion */
    encode_output_value(&pl, "\"Hello bob\"");
    e = effect_rec(callee, STET_EFFECT_ENTRY, STET_CMD_OUTPUT, &pl);
    apply(&pt, &e);
    e = effect_rec(callee, STET_EFFECT_END, 0, NULL);
    apply(&pt, &e);
    seq = 2;
    assert_true(deliver_outbox(&pt, &pt, &seq) >= 1);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    assert_int_equal(stet_table_status_get(pt.store, &caller, &st), 0);
    assert_int_equal(st.journal_len, 4); /* input, call, id notification, call completion */
    /* truncation removes delivered outbox messages */
    struct stet_record t;
    memset(&t, 0, sizeof(t));
    t.kind = STET_REC_OUTBOX_TRUNCATE;
    t.id = make_id(0, 0);
    t.outbox_seq = seq - 1;
    apply(&pt, &t);
    stet_buf_reset(&v);
    assert_int_equal(stet_partition_outbox_get(pt.store, 0, 1, &v), 1);
    stet_inv_status_free(&st);
    stet_buf_free(&v);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}

static int collect_timer(void *arg, const struct stet_record *fired) {
    struct stet_record *out = arg;
    *out = *fired;
    return 0;
}

static void test_sleep_timer_and_delayed_start(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    struct stet_invocation_id id = make_id(21, 1);
    struct stet_record r = invoke_rec(id, "Svc", "h", NULL, STET_SERVICE, STET_HANDLER_UNSET, 1, &in);
    apply(&pt, &r);
    stet_buf_reset(&pl);
    stet_pb_put_uint_field(&pl, 1, 5000);
    stet_pb_put_uint_field(&pl, 11, 1);
    struct stet_record e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_SLEEP, &pl);
    apply(&pt, &e);
    assert_int_equal(last_of(&pt.rec, STET_ACTION_TIMER)->wake_at_ms, 5000);
    struct stet_record fired;
    uint64_t next = 0;
    memset(&fired, 0, sizeof(fired));
    assert_int_equal(stet_partition_timers_due(pt.store, 0, 0, 4999, 10, collect_timer, &fired, &next), 0);
    assert_int_equal(fired.kind, 0);
    assert_int_equal(next, 5000);
    assert_int_equal(stet_partition_timers_due(pt.store, 0, 0, 5000, 10, collect_timer, &fired, &next), 0);
    assert_int_equal(fired.kind, STET_REC_TIMER_FIRED);
    fired.timestamp_ms = 5001;
    size_t notifies = count_actions(&pt.rec, STET_ACTION_NOTIFY);
    apply(&pt, &fired);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), notifies + 1);
    apply(&pt, &fired); /* a second firing is ignored */
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), notifies + 1);

    /* a delayed invocation is scheduled, then started by its timer */
    struct stet_invocation_id d = make_id(22, 1);
    r = invoke_rec(d, "Svc", "h", NULL, STET_SERVICE, STET_HANDLER_UNSET, 0, &in);
    r.execute_at_ms = 9000;
    size_t invokes = count_actions(&pt.rec, STET_ACTION_INVOKE);
    apply(&pt, &r);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), invokes);
    memset(&fired, 0, sizeof(fired));
    assert_int_equal(stet_partition_timers_due(pt.store, 0, 6000, 9000, 10, collect_timer, &fired, &next), 0);
    assert_int_equal(fired.timer_kind, STET_TIMER_START);
    fired.timestamp_ms = 9000;
    apply(&pt, &fired);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INVOKE), invokes + 1);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}

static void test_signals_cancel_and_kill(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT;
    struct stet_invocation_id a = make_id(31, 1), b = make_id(31, 2);
    struct stet_record r = invoke_rec(a, "Obj", "run", "k", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, 1, &in);
    apply(&pt, &r);
    r = invoke_rec(b, "Obj", "run", "k", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, 2, &in);
    apply(&pt, &r);
    /* awakeable resolution (signal 17) is stored once */
    struct stet_record sig;
    memset(&sig, 0, sizeof(sig));
    sig.kind = STET_REC_SIGNAL;
    sig.timestamp_ms = 3000;
    sig.id = a;
    sig.signal_idx = 17;
    sig.result_kind = STET_REC_RESULT_VALUE;
    sig.payload = S("\"hi\"");
    size_t notifies = count_actions(&pt.rec, STET_ACTION_NOTIFY);
    apply(&pt, &sig);
    apply(&pt, &sig);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), notifies + 1);
    /* cancel of the inboxed one completes it at once with 409 and answers the admin */
    memset(&sig, 0, sizeof(sig));
    sig.kind = STET_REC_SIGNAL;
    sig.id = b;
    sig.signal_idx = 1;
    sig.result_kind = STET_REC_RESULT_VOID;
    sig.sink = (struct stet_inv_sink){.kind = STET_SINK_ADMIN, .incarnation = 7, .request_id = 99};
    apply(&pt, &sig);
    const struct stet_action *resp = last_of(&pt.rec, STET_ACTION_INGRESS_RESPONSE);
    assert_int_equal(resp->response, STET_RESPONSE_FAILURE);
    assert_int_equal(resp->failure_code, 409);
    assert_int_equal(last_of(&pt.rec, STET_ACTION_ADMIN_RESPONSE)->response, STET_RESPONSE_OK);
    /* kill the running one: failure "killed", lock released, abort */
    struct stet_record k;
    memset(&k, 0, sizeof(k));
    k.kind = STET_REC_KILL;
    k.id = a;
    k.sink = (struct stet_inv_sink){.kind = STET_SINK_ADMIN, .incarnation = 7, .request_id = 100};
    apply(&pt, &k);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_ABORT), 1);
    resp = last_of(&pt.rec, STET_ACTION_INGRESS_RESPONSE);
    assert_int_equal(resp->sink.request_id, 1);
    assert_int_equal(resp->failure_code, 409);
    /* killing again: conflict; purge works on completed ones */
    apply(&pt, &k);
    assert_int_equal(last_of(&pt.rec, STET_ACTION_ADMIN_RESPONSE)->response, STET_RESPONSE_CONFLICT);
    k.kind = STET_REC_PURGE;
    apply(&pt, &k);
    assert_int_equal(last_of(&pt.rec, STET_ACTION_ADMIN_RESPONSE)->response, STET_RESPONSE_OK);
    apply(&pt, &k);
    assert_int_equal(last_of(&pt.rec, STET_ACTION_ADMIN_RESPONSE)->response, STET_RESPONSE_NOT_FOUND);
    stet_buf_free(&in);
    part_close(&pt);
}

static void test_workflow_promises(void **state) {
    (void)state;
    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    struct stet_invocation_id run = make_id(41, 1), approve = make_id(41, 2);
    struct stet_record r = invoke_rec(run, "Wf", "run", "alice", STET_WORKFLOW, STET_HANDLER_WORKFLOW, 1, &in);
    apply(&pt, &r);
    r = invoke_rec(approve, "Wf", "approve", "alice", STET_WORKFLOW, STET_HANDLER_SHARED, 2, &in);
    apply(&pt, &r);
    /* run waits on promise "p" (completion 1) */
    stet_buf_reset(&pl);
    stet_pb_put_bytes_field(&pl, 1, "p", 1);
    stet_pb_put_uint_field(&pl, 11, 1);
    struct stet_record e = effect_rec(run, STET_EFFECT_ENTRY, STET_CMD_GET_PROMISE, &pl);
    size_t notifies = count_actions(&pt.rec, STET_ACTION_NOTIFY);
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), notifies);
    /* approve completes it: run gets GetPromiseCompletion, approve gets void */
    stet_buf_reset(&pl);
    stet_pb_put_bytes_field(&pl, 1, "p", 1);
    size_t m = stet_pb_begin_submsg(&pl, 2);
    stet_pb_put_bytes_field(&pl, 1, "true", 4);
    stet_pb_end_submsg(&pl, m);
    stet_pb_put_uint_field(&pl, 11, 1);
    e = effect_rec(approve, STET_EFFECT_ENTRY, STET_CMD_COMPLETE_PROMISE, &pl);
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), notifies + 2);
    /* a second completion fails with 409 */
    apply(&pt, &e);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_NOTIFY), notifies + 3);
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    assert_int_equal(stet_table_status_get(pt.store, &approve, &st), 0);
    assert_int_equal(st.journal_len, 5);
    /* a second call of run for the same key gets 409 */
    r = invoke_rec(run, "Wf", "run", "alice", STET_WORKFLOW, STET_HANDLER_WORKFLOW, 3, &in);
    apply(&pt, &r);
    const struct stet_action *resp = last_of(&pt.rec, STET_ACTION_INGRESS_RESPONSE);
    assert_int_equal(resp->sink.request_id, 3);
    assert_int_equal(resp->failure_code, 409);
    /* the first run request's INVOKE again (a cluster node sent it again after an unknown
     * outcome): the same request, still waiting; no 409 for it */
    size_t responses = count_actions(&pt.rec, STET_ACTION_INGRESS_RESPONSE);
    r = invoke_rec(run, "Wf", "run", "alice", STET_WORKFLOW, STET_HANDLER_WORKFLOW, 1, &in);
    apply(&pt, &r);
    assert_int_equal(count_actions(&pt.rec, STET_ACTION_INGRESS_RESPONSE), responses);
    stet_inv_status_free(&st);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    part_close(&pt);
}


static void test_state_version_hash_and_mutation(void **state) {
    (void)state;
    /* http-api.md §4.6 test vectors */
    char h[44];
    stet_state_version_hash(NULL, NULL, 0, h);
    assert_string_equal(h, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    struct stet_slice k1[] = {S("name")}, v1[] = {S("bob")};
    stet_state_version_hash(k1, v1, 1, h);
    assert_string_equal(h, "tDqA04Lj3_qJ-PgNPTecXDGZgpwy6jm2Ni2BYqJIthM");
    struct stet_slice k2[] = {S("count"), S("last_key")}, v2[] = {S("20"), S("\"idem\"")};
    stet_state_version_hash(k2, v2, 2, h);
    assert_string_equal(h, "tL4icr1FjNTtddtn6osKLrpGTSHVPVrBFmrtjY3_Z-Q");

    struct part pt;
    part_open(&pt, stet_store_create_mem());
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT, ns = STET_BUF_INIT;
    uint64_t pk = stet_partition_key_for_key("k", 1);
    struct stet_invocation_id a = make_id(pk, 1);
    /* a holds the lock; a mutation waits behind it */
    struct stet_record r = invoke_rec(a, "Obj", "run", "k", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, 1, &in);
    apply(&pt, &r);
    encode_set_state(&pl, "name", "bob");
    struct stet_record e = effect_rec(a, STET_EFFECT_ENTRY, STET_CMD_SET_STATE, &pl);
    apply(&pt, &e);
    size_t m = stet_pb_begin_submsg(&ns, 1);
    stet_pb_put_bytes_field(&ns, 1, "x", 1);
    stet_pb_put_bytes_field(&ns, 2, "1", 1);
    stet_pb_end_submsg(&ns, m);
    struct stet_record mut;
    memset(&mut, 0, sizeof(mut));
    mut.kind = STET_REC_STATE_MUTATION;
    mut.id.partition_key = pk;
    mut.service = S("Obj");
    mut.keyed = true;
    mut.key = S("k");
    mut.payload = (struct stet_slice){ns.data, ns.len};
    mut.has_state_version = true;
    mut.state_version = S("tDqA04Lj3_qJ-PgNPTecXDGZgpwy6jm2Ni2BYqJIthM"); /* {"name":"bob"} */
    apply(&pt, &mut);
    struct stet_buf v = STET_BUF_INIT, key = STET_BUF_INIT;
    stet_key_state(&key, pk, S("Obj"), S("k"), S("name"));
    assert_int_equal(stet_store_get(pt.store, key.data, key.len, &v), 0); /* not applied yet: queued */
    /* a ends: the mutation runs with the version it read */
    e = effect_rec(a, STET_EFFECT_END, 0, NULL);
    apply(&pt, &e);
    assert_int_equal(stet_store_get(pt.store, key.data, key.len, &v), 1);
    stet_key_state(&key, pk, S("Obj"), S("k"), S("x"));
    assert_int_equal(stet_store_get(pt.store, key.data, key.len, &v), 0);
    /* a stale version is dropped */
    stet_buf_reset(&ns);
    mut.payload = (struct stet_slice){NULL, 0};
    apply(&pt, &mut);
    assert_int_equal(stet_store_get(pt.store, key.data, key.len, &v), 0);
    /* without a version it always applies: empty state clears */
    mut.has_state_version = false;
    apply(&pt, &mut);
    assert_int_equal(stet_store_get(pt.store, key.data, key.len, &v), 1);
    stet_buf_free(&v);
    stet_buf_free(&key);
    stet_buf_free(&in);
    stet_buf_free(&pl);
    stet_buf_free(&ns);
    part_close(&pt);
}

/* Builds a log of mixed records. */
static void build_log(struct stet_buf *records, size_t *offsets, size_t *n) {
    struct stet_buf in = STET_BUF_INIT, pl = STET_BUF_INIT;
    *n = 0;
    for (int i = 0; i < 40; i++) {
        struct stet_invocation_id id = make_id(1000 + (uint64_t)(i % 5), (uint8_t)i);
        struct stet_record r = invoke_rec(id, i % 2 ? "Counter" : "Greeter", "add", i % 2 ? "key" : NULL,
                                          i % 2 ? STET_VIRTUAL_OBJECT : STET_SERVICE,
                                          i % 2 ? STET_HANDLER_EXCLUSIVE : STET_HANDLER_UNSET, (uint64_t)i + 1, &in);
        r.timestamp_ms = 1000 + (uint64_t)i;
        offsets[(*n)++] = records->len;
        stet_record_encode(records, &r);
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        encode_set_state(&pl, "count", v);
        struct stet_record e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_SET_STATE, &pl);
        offsets[(*n)++] = records->len;
        stet_record_encode(records, &e);
        encode_output_value(&pl, v);
        e = effect_rec(id, STET_EFFECT_ENTRY, STET_CMD_OUTPUT, &pl);
        offsets[(*n)++] = records->len;
        stet_record_encode(records, &e);
        if (i % 3 != 0) {
            e = effect_rec(id, STET_EFFECT_END, 0, NULL);
            offsets[(*n)++] = records->len;
            stet_record_encode(records, &e);
        }
    }
    offsets[*n] = records->len;
    stet_buf_free(&in);
    stet_buf_free(&pl);
}

static void dump_store(struct stet_store *s, struct stet_buf *out) {
    struct stet_store_iter *it = stet_store_iter_create(s, "", 0, NULL, 0);
    for (; stet_store_iter_valid(s, it); stet_store_iter_next(s, it)) {
        size_t kl, vl;
        const uint8_t *k = stet_store_iter_key(s, it, &kl);
        const uint8_t *v = stet_store_iter_value(s, it, &vl);
        stet_buf_append_u32be(out, (uint32_t)kl);
        stet_buf_append(out, k, kl);
        stet_buf_append_u32be(out, (uint32_t)vl);
        stet_buf_append(out, v, vl);
    }
    stet_store_iter_destroy(s, it);
}

static void test_replay_is_deterministic(void **state) {
    (void)state;
    struct stet_buf log = STET_BUF_INIT;
    size_t offsets[512], n;
    build_log(&log, offsets, &n);

    char dir[] = "/tmp/stet-test-partition-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct stet_store *rocks = NULL;
    char *err = NULL;
    assert_int_equal(stet_store_open_rocks(dir, &rocks, &err), 0);

    struct part a, b;
    part_open(&a, stet_store_create_mem());
    part_open(&b, rocks);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(stet_partition_apply(a.p, i + 1, log.data + offsets[i], offsets[i + 1] - offsets[i]), 0);
        assert_int_equal(stet_partition_apply(b.p, i + 1, log.data + offsets[i], offsets[i + 1] - offsets[i]), 0);
    }
    assert_int_equal(a.rec.n, b.rec.n);
    struct stet_buf da = STET_BUF_INIT, db = STET_BUF_INIT;
    dump_store(a.store, &da);
    dump_store(b.store, &db);
    assert_true(da.len > 1000);
    assert_int_equal(da.len, db.len);
    assert_memory_equal(da.data, db.data, da.len);

    /* replaying the whole log again on top changes nothing (idempotent re-application) */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(stet_partition_apply(a.p, i + 1, log.data + offsets[i], offsets[i + 1] - offsets[i]), 0);
    struct stet_buf da2 = STET_BUF_INIT;
    dump_store(a.store, &da2);
    assert_int_equal(da.len, da2.len);
    assert_memory_equal(da.data, da2.data, da.len);

    /* a different log gives a different store (the comparison can fail) */
    struct part c;
    part_open(&c, stet_store_create_mem());
    for (size_t i = 0; i + 1 < n; i++)
        assert_int_equal(stet_partition_apply(c.p, i + 1, log.data + offsets[i], offsets[i + 1] - offsets[i]), 0);
    struct stet_buf dc = STET_BUF_INIT;
    dump_store(c.store, &dc);
    assert_true(dc.len != da.len || memcmp(dc.data, da.data, da.len) != 0);

    part_close(&a);
    part_close(&b);
    part_close(&c);
    stet_buf_free(&da);
    stet_buf_free(&db);
    stet_buf_free(&da2);
    stet_buf_free(&dc);
    stet_buf_free(&log);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_service_call_lifecycle),
        cmocka_unit_test(test_object_lock_and_inbox),
        cmocka_unit_test(test_suspension),
        cmocka_unit_test(test_suspension_already_satisfied),
        cmocka_unit_test(test_replay_is_deterministic),
        cmocka_unit_test(test_call_and_response_through_outbox),
        cmocka_unit_test(test_sleep_timer_and_delayed_start),
        cmocka_unit_test(test_signals_cancel_and_kill),
        cmocka_unit_test(test_workflow_promises),
        cmocka_unit_test(test_state_version_hash_and_mutation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
