/* Tests for src/query: Restate's POST /query over the partition store.
 *
 * The fixture builds a partition store by applying log records through the real partition
 * processor (like test_partition.c), registers a deployment in a schema snapshot, and fakes
 * the invoker's in-memory attempt state. Then it runs every SQL template the `restate` CLI
 * 1.7.12 sends (http-api.md §6) and checks the rows, the DataFusion dialect rewrites one by
 * one, the JSON encoding, the Arrow IPC bytes (byte-for-byte against the capture in
 * http-api.md §4.9), errors, bounds, and that id / service-key constraints become point
 * lookups (a counting store wrapper). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/ids.h"
#include "invoker/invoker.h"
#include "json/json.h"
#include "partition/partition.h"
#include "query/query.h"
#include "query/query_internal.h"
#include "schema/schema.h"

#define T0 1795499488254ull /* 2026-11-24T05:51:28.254Z */
#define NOW (T0 + 600000)

/* ---- counting store wrapper --------------------------------------------------------------- */

struct counting_store {
    struct stet_store base;
    struct stet_store *inner;
    unsigned gets, iters, steps;
};

static struct counting_store *cs_of(struct stet_store *s) { return (struct counting_store *)s; }

struct cs_iter {
    struct counting_store *cs;
    struct stet_store_iter *inner;
};

static int cs_get(struct stet_store *s, const void *k, size_t kl, struct stet_buf *out) {
    cs_of(s)->gets++;
    return stet_store_get(cs_of(s)->inner, k, kl, out);
}
static int cs_write(struct stet_store *s, const struct stet_store_batch *b, unsigned sync) {
    return stet_store_write(cs_of(s)->inner, b, sync);
}
static struct stet_store_iter *cs_iter_create(struct stet_store *s, const void *lo, size_t ll, const void *up,
                                              size_t ul) {
    struct cs_iter *it = calloc(1, sizeof(*it));
    it->cs = cs_of(s);
    it->cs->iters++;
    it->inner = stet_store_iter_create(it->cs->inner, lo, ll, up, ul);
    return (struct stet_store_iter *)it;
}
static void cs_iter_destroy(struct stet_store_iter *i) {
    struct cs_iter *it = (struct cs_iter *)i;
    stet_store_iter_destroy(it->cs->inner, it->inner);
    free(it);
}
static bool cs_iter_valid(struct stet_store_iter *i) {
    struct cs_iter *it = (struct cs_iter *)i;
    return stet_store_iter_valid(it->cs->inner, it->inner);
}
static void cs_iter_next(struct stet_store_iter *i) {
    struct cs_iter *it = (struct cs_iter *)i;
    it->cs->steps++;
    stet_store_iter_next(it->cs->inner, it->inner);
}
static void cs_iter_seek(struct stet_store_iter *i, const void *k, size_t kl) {
    struct cs_iter *it = (struct cs_iter *)i;
    stet_store_iter_seek(it->cs->inner, it->inner, k, kl);
}
static const uint8_t *cs_iter_key(struct stet_store_iter *i, size_t *kl) {
    struct cs_iter *it = (struct cs_iter *)i;
    return stet_store_iter_key(it->cs->inner, it->inner, kl);
}
static const uint8_t *cs_iter_value(struct stet_store_iter *i, size_t *vl) {
    struct cs_iter *it = (struct cs_iter *)i;
    return stet_store_iter_value(it->cs->inner, it->inner, vl);
}
static void cs_destroy(struct stet_store *s) {
    stet_store_destroy(cs_of(s)->inner);
    free(s);
}
static void cs_iter_prev(struct stet_store_iter *i) {
    struct cs_iter *it = (struct cs_iter *)i;
    stet_store_iter_prev(it->cs->inner, it->inner);
}
static void cs_iter_seek_for_prev(struct stet_store_iter *i, const void *k, size_t kl) {
    struct cs_iter *it = (struct cs_iter *)i;
    stet_store_iter_seek_for_prev(it->cs->inner, it->inner, k, kl);
}
static void cs_iter_seek_last(struct stet_store_iter *i) {
    struct cs_iter *it = (struct cs_iter *)i;
    stet_store_iter_seek_last(it->cs->inner, it->inner);
}
static int cs_iter_error(struct stet_store_iter *i) {
    struct cs_iter *it = (struct cs_iter *)i;
    return stet_store_iter_error(it->cs->inner, it->inner);
}

static const struct stet_store_ops cs_ops = {
    .get = cs_get,
    .write = cs_write,
    .iter_create = cs_iter_create,
    .iter_destroy = cs_iter_destroy,
    .iter_valid = cs_iter_valid,
    .iter_next = cs_iter_next,
    .iter_seek = cs_iter_seek,
    .iter_key = cs_iter_key,
    .iter_value = cs_iter_value,
    .destroy = cs_destroy,
    .iter_prev = cs_iter_prev,
    .iter_seek_for_prev = cs_iter_seek_for_prev,
    .iter_seek_last = cs_iter_seek_last,
    .iter_error = cs_iter_error,
};

/* ---- the scenario ----------------------------------------------------------------------- */

static void ignore_action(void *ctx, const struct stet_action *a) {
    (void)ctx;
    (void)a;
}
static uint64_t fake_now(void *ctx) {
    (void)ctx;
    return NOW;
}
static uint64_t fake_rand(void *ctx) {
    (void)ctx;
    return 42;
}
static const struct stet_env env = {.now_ms = fake_now, .monotonic_ms = fake_now, .random_u64 = fake_rand};

#define DP_STR "dp_11KtnKBN2zjPWodnT5O7Ibv"
#define ZOMBIE_DP_STR "dp_13aafQP5HOu7CGyM20qwgHT"

enum { INV_A, INV_B, INV_C, INV_D, INV_E, INV_F, INV_G, INV_W, INV_S, INV_P, INV_K9, N_INV };

struct fx {
    struct counting_store *cs;
    struct stet_partition *p;
    uint64_t lsn;
    struct stet_schema *schema;
    struct stet_query *q;
    struct stet_invocation_id id[N_INV];
    char ids[N_INV][STET_INVOCATION_ID_STRLEN + 1];
    struct stet_buf body;
    int status;
    const char *ct;
};

static struct stet_slice S(const char *s) { return (struct stet_slice){(const uint8_t *)s, strlen(s)}; }

static struct stet_invocation_id make_id(uint64_t pk, uint8_t tag) {
    struct stet_invocation_id id;
    memset(&id, 0, sizeof(id));
    id.partition_key = pk;
    memset(id.uuid, tag, 16);
    return id;
}

static void apply(struct fx *f, const struct stet_record *r) {
    struct stet_buf b = STET_BUF_INIT;
    stet_record_encode(&b, r);
    f->lsn++;
    assert_int_equal(stet_partition_apply(f->p, f->lsn, b.data, b.len), 0);
    stet_buf_free(&b);
}

static void invoke(struct fx *f, int which, const char *svc, const char *handler, const char *key, uint8_t sty,
                   uint8_t hty, uint64_t ts) {
    struct stet_buf in = STET_BUF_INIT;
    stet_proto_encode_input(&in, NULL, 0, (const uint8_t *)"\"x\"", 3);
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKE;
    r.timestamp_ms = ts;
    r.id = f->id[which];
    r.service = S(svc);
    r.handler = S(handler);
    r.keyed = key != NULL;
    r.key = key ? S(key) : (struct stet_slice){NULL, 0};
    r.service_type = sty;
    r.handler_type = hty;
    r.input_entry = (struct stet_slice){in.data, in.len};
    r.completion_retention_ms = 86400000;
    r.journal_retention_ms = 86400000;
    r.sink.kind = STET_SINK_INGRESS;
    r.sink.incarnation = 1;
    r.sink.request_id = (uint64_t)which + 1;
    if (which == INV_A) {
        r.has_idempotency_key = true;
        r.idempotency_key = S("idem-1");
    }
    if (which == INV_S) r.execute_at_ms = T0 + 100000;
    apply(f, &r);
    stet_buf_free(&in);
}

static void effect(struct fx *f, int which, enum stet_effect_kind kind, uint16_t type, const struct stet_buf *pl,
                   uint64_t ts) {
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKER_EFFECT;
    r.timestamp_ms = ts;
    r.id = f->id[which];
    r.effect = kind;
    r.entry_type = type;
    if (pl) r.payload = (struct stet_slice){pl->data, pl->len};
    if (type == STET_CMD_CALL) {
        r.target_service_type = STET_VIRTUAL_OBJECT;
        r.target_handler_type = STET_HANDLER_SHARED;
        r.target_completion_retention_ms = 1000;
    }
    apply(f, &r);
}

static void pin(struct fx *f, int which, const char *dp, uint64_t ts) {
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKER_EFFECT;
    r.timestamp_ms = ts;
    r.id = f->id[which];
    r.effect = STET_EFFECT_PINNED_DEPLOYMENT;
    assert_int_equal(stet_deployment_id_parse(dp, strlen(dp), r.deployment_id), 0);
    r.protocol_version = 5;
    apply(f, &r);
}

static void admin(struct fx *f, int which, enum stet_record_kind kind, uint64_t ts) {
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.timestamp_ms = ts;
    r.id = f->id[which];
    apply(f, &r);
}

static void set_state(struct fx *f, int which, const char *k, const void *v, size_t vlen, uint64_t ts) {
    struct stet_buf pl = STET_BUF_INIT;
    stet_pb_put_bytes_field(&pl, 1, k, strlen(k));
    size_t m = stet_pb_begin_submsg(&pl, 3);
    stet_pb_put_bytes_field(&pl, 1, v, vlen);
    stet_pb_end_submsg(&pl, m);
    effect(f, which, STET_EFFECT_ENTRY, STET_CMD_SET_STATE, &pl, ts);
    stet_buf_free(&pl);
}

static bool fake_task_info(void *ctx, const struct stet_invocation_id *id, struct stet_invoker_task_info *out) {
    struct fx *f = ctx;
    if (stet_invocation_id_cmp(id, &f->id[INV_D]) == 0) {
        out->running = false;
        out->retry_count = 5;
        out->next_retry_at_ms = T0 + 9000;
        out->last_start_at_ms = T0 + 3500;
        snprintf(out->last_failure, sizeof(out->last_failure), "[500 Internal] transient failure, will retry");
        return true;
    }
    if (stet_invocation_id_cmp(id, &f->id[INV_E]) == 0) {
        out->running = true;
        out->retry_count = 0;
        out->last_start_at_ms = T0 + 4100;
        return true;
    }
    return false;
}

static const struct stet_schema *fake_schema(void *ctx) { return ((struct fx *)ctx)->schema; }

static const char manifest[] =
    "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":5,\"maxProtocolVersion\":6,\"services\":["
    "{\"name\":\"Greeter\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"greet\"},{\"name\":\"flaky\"}]},"
    "{\"name\":\"Counter\",\"ty\":\"VIRTUAL_OBJECT\",\"handlers\":[{\"name\":\"add\",\"ty\":\"EXCLUSIVE\"},"
    "{\"name\":\"get\",\"ty\":\"SHARED\"}]},"
    "{\"name\":\"Wf\",\"ty\":\"WORKFLOW\",\"handlers\":[{\"name\":\"run\",\"ty\":\"WORKFLOW\"},"
    "{\"name\":\"approve\",\"ty\":\"SHARED\"}]}]}";

static struct stet_schema *build_schema(void) {
    struct stet_deployment_schema dep;
    memset(&dep, 0, sizeof(dep));
    enum stet_manifest_error_kind kind;
    char err[512];
    if (stet_schema_parse_manifest(manifest, strlen(manifest), &dep, &kind, err, sizeof(err)) != 0)
        fail_msg("manifest rejected: %s", err);
    assert_int_equal(stet_deployment_id_parse(DP_STR, strlen(DP_STR), dep.id), 0);
    dep.uri = strdup("http://localhost:9080/");
    dep.created_at_ms = T0 - 1000;
    dep.sdk_version = strdup("restate-sdk-typescript/1.17.2");
    struct stet_schema *empty = stet_schema_create_empty(), *next = NULL;
    enum stet_register_result res;
    uint8_t id[16];
    struct stet_schema_error serr;
    if (stet_schema_register(empty, &dep, false, false, &next, &res, id, &serr) != 0)
        fail_msg("register failed: %s", serr.message);
    stet_schema_unref(empty);
    return next;
}

static void build(struct fx *f, uint64_t max_rows, uint64_t max_ms, size_t max_bytes) {
    memset(f, 0, sizeof(*f));
    f->cs = calloc(1, sizeof(*f->cs));
    f->cs->base.ops = &cs_ops;
    f->cs->inner = stet_store_create_mem();
    struct stet_partition_config cfg = {.partition_id = 0, .key_start = 0, .key_end = UINT64_MAX};
    assert_int_equal(stet_partition_create(&env, &f->cs->base, &cfg, ignore_action, NULL, &f->p), 0);
    stet_partition_become_leader(f->p);

    uint64_t k1 = stet_partition_key_for_key("k1", 2), w1 = stet_partition_key_for_key("w1", 2);
    f->id[INV_A] = make_id(100, 1);
    f->id[INV_B] = make_id(k1, 2);
    f->id[INV_C] = make_id(k1, 3);
    f->id[INV_D] = make_id(200, 4);
    f->id[INV_E] = make_id(300, 5);
    f->id[INV_F] = make_id(400, 6);
    f->id[INV_G] = make_id(500, 7);
    f->id[INV_W] = make_id(w1, 8);
    f->id[INV_S] = make_id(600, 9);
    f->id[INV_P] = make_id(700, 10);
    f->id[INV_K9] = make_id(stet_partition_key_for_key("k9", 2), 11);
    for (int i = 0; i < N_INV; i++) stet_invocation_id_format(&f->id[i], f->ids[i]);

    struct stet_buf pl = STET_BUF_INIT;
    /* A: Greeter/greet, pinned, run + output, completed */
    invoke(f, INV_A, "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0);
    pin(f, INV_A, DP_STR, T0 + 10);
    stet_pb_put_uint_field(&pl, 11, 1);
    stet_pb_put_bytes_field(&pl, 12, "upper", 5);
    effect(f, INV_A, STET_EFFECT_ENTRY, STET_CMD_RUN, &pl, T0 + 20);
    struct stet_result res = {.kind = STET_RESULT_VALUE, .value = S("\"X\"")};
    stet_buf_reset(&pl);
    stet_proto_encode_run_proposal(&pl, 1, &res);
    effect(f, INV_A, STET_EFFECT_RUN_PROPOSAL, 0, &pl, T0 + 30);
    stet_buf_reset(&pl);
    res.value = S("\"Hello\"");
    stet_proto_encode_output(&pl, &res);
    effect(f, INV_A, STET_EFFECT_ENTRY, STET_CMD_OUTPUT, &pl, T0 + 40);
    effect(f, INV_A, STET_EFFECT_END, 0, NULL, T0 + 50);
    /* B: Counter/add k1: state, sleep, suspended (holds the lock) */
    invoke(f, INV_B, "Counter", "add", "k1", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, T0 + 1000);
    set_state(f, INV_B, "count", "10", 2, T0 + 1010);
    stet_buf_reset(&pl);
    stet_pb_put_uint_field(&pl, 1, T0 + 90000);
    stet_pb_put_uint_field(&pl, 11, 1);
    effect(f, INV_B, STET_EFFECT_ENTRY, STET_CMD_SLEEP, &pl, T0 + 1020);
    uint32_t comps[] = {1};
    stet_buf_reset(&pl);
    stet_proto_encode_suspension(&pl, 6, comps, 1, NULL, 0, NULL, 0);
    effect(f, INV_B, STET_EFFECT_SUSPENDED, 0, &pl, T0 + 1030);
    /* C: Counter/add k1: inboxed behind B */
    invoke(f, INV_C, "Counter", "add", "k1", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, T0 + 2000);
    /* D: Greeter/flaky retrying, pinned to a deployment that does not exist (zombie) */
    invoke(f, INV_D, "Greeter", "flaky", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0 + 3000);
    pin(f, INV_D, ZOMBIE_DP_STR, T0 + 3010);
    /* E: Greeter/greet running, pinned */
    invoke(f, INV_E, "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0 + 4000);
    pin(f, INV_E, DP_STR, T0 + 4010);
    /* F: killed */
    invoke(f, INV_F, "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0 + 5000);
    admin(f, INV_F, STET_REC_KILL, T0 + 5100);
    /* G: calls Counter/k2/get */
    invoke(f, INV_G, "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0 + 6000);
    stet_buf_reset(&pl);
    stet_pb_put_bytes_field(&pl, 1, "Counter", 7);
    stet_pb_put_bytes_field(&pl, 2, "get", 3);
    stet_pb_put_bytes_field(&pl, 5, "k2", 2);
    stet_pb_put_uint_field(&pl, 10, 1);
    stet_pb_put_uint_field(&pl, 11, 2);
    effect(f, INV_G, STET_EFFECT_ENTRY, STET_CMD_CALL, &pl, T0 + 6010);
    /* W: workflow run completing a promise */
    invoke(f, INV_W, "Wf", "run", "w1", STET_WORKFLOW, STET_HANDLER_WORKFLOW, T0 + 7000);
    stet_buf_reset(&pl);
    stet_pb_put_bytes_field(&pl, 1, "p1", 2);
    size_t m = stet_pb_begin_submsg(&pl, 2);
    stet_pb_put_bytes_field(&pl, 1, "\"yes\"", 5);
    stet_pb_end_submsg(&pl, m);
    stet_pb_put_uint_field(&pl, 11, 1);
    effect(f, INV_W, STET_EFFECT_ENTRY, STET_CMD_COMPLETE_PROMISE, &pl, T0 + 7010);
    /* S: scheduled; P: paused */
    invoke(f, INV_S, "Greeter", "greet", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0 + 8000);
    invoke(f, INV_P, "Greeter", "flaky", NULL, STET_SERVICE, STET_HANDLER_UNSET, T0 + 8500);
    effect(f, INV_P, STET_EFFECT_PAUSED, 0, NULL, T0 + 8600); /* retries exhausted */
    /* K9: Counter/add k9 stores a binary value and completes */
    invoke(f, INV_K9, "Counter", "add", "k9", STET_VIRTUAL_OBJECT, STET_HANDLER_EXCLUSIVE, T0 + 9000);
    set_state(f, INV_K9, "blob", "\xff\x00", 2, T0 + 9010);
    effect(f, INV_K9, STET_EFFECT_END, 0, NULL, T0 + 9020);
    stet_buf_free(&pl);

    f->schema = build_schema();
    struct stet_query_sources src = {
        .store = &f->cs->base,
        .schema = fake_schema,
        .ctx = f,
        .num_partitions = 1,
        .now_ms = fake_now,
        .task_info = fake_task_info,
        .max_rows = max_rows,
        .max_ms = max_ms,
        .max_bytes = max_bytes,
    };
    assert_int_equal(stet_query_create(&src, &f->q), 0);
    stet_buf_init(&f->body);
}

static void destroy(struct fx *f) {
    stet_query_destroy(f->q);
    stet_partition_destroy(f->p);
    stet_store_destroy(&f->cs->base);
    stet_schema_unref(f->schema);
    stet_buf_free(&f->body);
}

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    build(f, 0, 0, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    destroy(f);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void exec(struct fx *f, const char *sql, bool json) {
    assert_int_equal(stet_query_execute(f->q, sql, strlen(sql), json, &f->status, &f->ct, &f->body), 0);
}

/* Runs sql expecting 200 JSON; returns the parsed document (caller frees) and the rows. */
static struct stet_json *query_rows(struct fx *f, const char *sql, const struct stet_json **rows) {
    exec(f, sql, true);
    if (f->status != 200) fail_msg("query failed (%d): %.*s\nsql: %s", f->status, (int)f->body.len, f->body.data, sql);
    assert_string_equal(f->ct, "application/json");
    struct stet_json *doc = NULL;
    char err[128];
    if (stet_json_parse((const char *)f->body.data, f->body.len, &doc, err, sizeof(err)) != 0)
        fail_msg("bad JSON (%s): %.*s", err, (int)f->body.len, f->body.data);
    assert_int_equal(stet_json_object_len(doc), 1);
    *rows = stet_json_object_get(doc, "rows");
    assert_int_equal(stet_json_type(*rows), STET_JSON_ARRAY);
    return doc;
}

static const char *str_of(const struct stet_json *row, const char *key) {
    const struct stet_json *v = stet_json_object_get(row, key);
    if (v == NULL) return NULL;
    if (stet_json_type(v) != STET_JSON_STRING) fail_msg("%s is not a string", key);
    return stet_json_string(v, NULL);
}

static int64_t int_of(const struct stet_json *row, const char *key) {
    const struct stet_json *v = stet_json_object_get(row, key);
    int64_t i;
    if (v == NULL || !stet_json_int64(v, &i)) fail_msg("%s is not an integer", key);
    return i;
}

static bool bool_of(const struct stet_json *row, const char *key) {
    const struct stet_json *v = stet_json_object_get(row, key);
    if (v == NULL || stet_json_type(v) != STET_JSON_BOOL) fail_msg("%s is not a boolean", key);
    return stet_json_bool(v);
}

static bool has(const struct stet_json *row, const char *key) { return stet_json_object_get(row, key) != NULL; }

/* Expects an error answer with the given status and a message containing `part`. */
static void expect_error(struct fx *f, const char *sql, int status, const char *part) {
    exec(f, sql, true);
    if (f->status != status)
        fail_msg("expected %d, got %d: %.*s\nsql: %s", status, f->status, (int)f->body.len, f->body.data, sql);
    assert_string_equal(f->ct, "application/json");
    struct stet_json *doc = NULL;
    assert_int_equal(stet_json_parse((const char *)f->body.data, f->body.len, &doc, NULL, 0), 0);
    assert_int_equal(stet_json_object_len(doc), 1);
    const char *msg = str_of(doc, "message");
    assert_non_null(msg);
    if (strncmp(msg, "Datafusion error: ", 18) != 0) fail_msg("message shape: %s", msg);
    if (strstr(msg, part) == NULL) fail_msg("message %s does not contain %s", msg, part);
    stet_json_free(doc);
}

/* ---- the CLI templates (http-api.md §6) --------------------------------------------------- */

static void test_status_pending(void **state) {
    struct fx *f = *state;
    const struct stet_json *rows;
    struct stet_json *doc = query_rows(
        f,
        "SELECT target_service_name, target_handler_name, 'pending' as status, COUNT(1) as num_invocations, "
        "MIN(created_at) as oldest_at, FIRST_VALUE(id ORDER BY created_at ASC) as oldest_invocation FROM "
        "sys_invocation_status WHERE status == 'inboxed' AND target_service_name IN ('Greeter','Counter','Wf') "
        "GROUP BY target_service_name, target_handler_name",
        &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    const struct stet_json *r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "target_service_name"), "Counter");
    assert_string_equal(str_of(r, "target_handler_name"), "add");
    assert_string_equal(str_of(r, "status"), "pending");
    assert_int_equal(int_of(r, "num_invocations"), 1);
    assert_string_equal(str_of(r, "oldest_at"), "2026-11-24T05:51:30.254Z");
    assert_string_equal(str_of(r, "oldest_invocation"), f->ids[INV_C]);
    stet_json_free(doc);
}

static const struct stet_json *find_row(const struct stet_json *rows, const char *k1, const char *v1, const char *k2,
                                        const char *v2) {
    for (size_t i = 0; i < stet_json_array_len(rows); i++) {
        const struct stet_json *r = stet_json_array_at(rows, i);
        const char *a = str_of(r, k1), *b = k2 ? str_of(r, k2) : NULL;
        if (a && strcmp(a, v1) == 0 && (k2 == NULL || (b && strcmp(b, v2) == 0))) return r;
    }
    fail_msg("no row with %s=%s %s=%s", k1, v1, k2 ? k2 : "", v2 ? v2 : "");
    return NULL;
}

static void test_status_active(void **state) {
    struct fx *f = *state;
    const struct stet_json *rows;
    struct stet_json *doc = query_rows(
        f,
        "SELECT target_service_name, target_handler_name, status, COUNT(1) as num_invocations, MIN(created_at) as "
        "oldest_at, FIRST_VALUE(id ORDER BY created_at ASC) as oldest_invocation FROM sys_invocation WHERE "
        "target_service_name IN ('Greeter','Counter') GROUP BY target_service_name, target_handler_name, status "
        "ORDER BY target_handler_name",
        &rows);
    /* Greeter/greet: completed A+F, running E, ready G, scheduled S; Greeter/flaky: backing-off D, paused P;
     * Counter/add: suspended B, pending C, completed K9 */
    assert_int_equal(stet_json_array_len(rows), 9);
    const struct stet_json *r = find_row(rows, "target_handler_name", "greet", "status", "completed");
    assert_int_equal(int_of(r, "num_invocations"), 2);
    assert_string_equal(str_of(r, "oldest_invocation"), f->ids[INV_A]);
    assert_string_equal(str_of(r, "oldest_at"), "2026-11-24T05:51:28.254Z");
    r = find_row(rows, "target_handler_name", "greet", "status", "running");
    assert_string_equal(str_of(r, "oldest_invocation"), f->ids[INV_E]);
    r = find_row(rows, "target_handler_name", "greet", "status", "ready");
    assert_string_equal(str_of(r, "oldest_invocation"), f->ids[INV_G]);
    find_row(rows, "target_handler_name", "greet", "status", "scheduled");
    r = find_row(rows, "target_handler_name", "flaky", "status", "backing-off");
    assert_string_equal(str_of(r, "oldest_invocation"), f->ids[INV_D]);
    find_row(rows, "target_handler_name", "flaky", "status", "paused");
    find_row(rows, "target_handler_name", "add", "status", "suspended");
    find_row(rows, "target_handler_name", "add", "status", "pending");
    /* ORDER BY target_handler_name: add < flaky < greet */
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "target_handler_name"), "add");
    assert_string_equal(str_of(stet_json_array_at(rows, 8), "target_handler_name"), "greet");
    stet_json_free(doc);
}

static void test_locks(void **state) {
    struct fx *f = *state;
    const struct stet_json *rows;
    struct stet_json *doc = query_rows(f,
                                       "SELECT service_name, service_key, COUNT(1) as num_pending FROM sys_inbox WHERE "
                                       "service_name IN ('Counter','Wf') GROUP BY service_name, service_key ORDER BY "
                                       "num_pending DESC",
                                       &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    const struct stet_json *r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "service_name"), "Counter");
    assert_string_equal(str_of(r, "service_key"), "k1");
    assert_int_equal(int_of(r, "num_pending"), 1);
    stet_json_free(doc);

    doc = query_rows(
        f,
        "SELECT target_service_name as service_name, target_service_key as service_key, status as invocation_status, "
        "first_value(id) as invocation_holding_lock, first_value(target_handler_name) as "
        "invocation_method_holding_lock, first_value(created_at) as invocation_created_at, first_value(modified_at) "
        "as modified_at, first_value(pinned_deployment_id) as pinned_deployment_id, "
        "first_value(last_attempt_deployment_id) as last_attempt_deployment_id, first_value(last_failure) as "
        "last_failure_message, first_value(next_retry_at) as next_retry_at, first_value(last_start_at) as "
        "last_start_at, 0 as num_pending, sum(retry_count) as num_retries FROM sys_invocation WHERE status != "
        "'pending' AND target_service_name IN ('Counter','Wf') GROUP BY target_service_name, target_service_key, "
        "status",
        &rows);
    /* Counter/k1 suspended (B), Counter/k9 completed, Wf/w1 ready (W) */
    assert_int_equal(stet_json_array_len(rows), 3);
    r = find_row(rows, "service_key", "k1", NULL, NULL);
    assert_string_equal(str_of(r, "invocation_status"), "suspended");
    assert_string_equal(str_of(r, "invocation_holding_lock"), f->ids[INV_B]);
    assert_string_equal(str_of(r, "invocation_method_holding_lock"), "add");
    assert_string_equal(str_of(r, "invocation_created_at"), "2026-11-24T05:51:29.254Z");
    assert_int_equal(int_of(r, "num_pending"), 0);
    assert_false(has(r, "num_retries")); /* no attempt information: NULL sum */
    assert_false(has(r, "pinned_deployment_id"));
    r = find_row(rows, "service_key", "w1", NULL, NULL);
    assert_string_equal(str_of(r, "invocation_status"), "ready");
    stet_json_free(doc);

    /* sys_keyed_service_status: the lock holders */
    doc = query_rows(f, "SELECT * FROM sys_keyed_service_status ORDER BY service_name", &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    r = find_row(rows, "service_name", "Counter", NULL, NULL);
    assert_string_equal(str_of(r, "service_key"), "k1");
    assert_string_equal(str_of(r, "invocation_id"), f->ids[INV_B]);
    r = find_row(rows, "service_name", "Wf", NULL, NULL);
    assert_string_equal(str_of(r, "invocation_id"), f->ids[INV_W]);
    stet_json_free(doc);
}

static void test_invocations_list(void **state) {
    struct fx *f = *state;
    /* Q-COUNT (arrow in the CLI; JSON here to read the value) */
    const struct stet_json *rows;
    struct stet_json *doc = query_rows(f,
                                       "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000 ) WHERE "
                                       "inv.target_service_name IN ('Greeter') AND status != 'completed'",
                                       &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_int_equal(int_of(stet_json_array_at(rows, 0), "count(Int64(1))"), 5);
    stet_json_free(doc);

    /* Q-INV-IDS, default filter, newest first */
    doc = query_rows(f,
                     "SELECT id FROM sys_invocation inv WHERE status != 'completed' ORDER BY inv.created_at DESC, "
                     "inv.id LIMIT 100",
                     &rows);
    static const int order[] = {INV_P, INV_S, INV_W, INV_G, INV_E, INV_D, INV_C, INV_B};
    assert_int_equal(stet_json_array_len(rows), STET_ARRAY_LEN(order));
    for (size_t i = 0; i < STET_ARRAY_LEN(order); i++)
        assert_string_equal(str_of(stet_json_array_at(rows, i), "id"), f->ids[order[i]]);
    stet_json_free(doc);

    /* filters: --virtual-objects-only, --zombie, --deployment, --completion-result, --status */
    doc = query_rows(f,
                     "SELECT id FROM sys_invocation inv WHERE inv.target_service_name IN (select name from sys_service "
                     "where ty = 'virtual_object') AND status != 'completed' ORDER BY inv.created_at ASC, inv.id LIMIT "
                     "100",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_B]);
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id FROM sys_invocation inv WHERE (inv.pinned_deployment_id IS NOT NULL AND "
                     "inv.pinned_deployment_id NOT IN (select id from sys_deployment)) AND status != 'completed' ORDER "
                     "BY inv.created_at DESC, inv.id LIMIT 100",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_D]);
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id FROM sys_invocation inv WHERE (inv.pinned_deployment_id IN ('" DP_STR
                     "') OR inv.last_attempt_deployment_id IN ('" DP_STR
                     "')) AND status != 'completed' ORDER BY inv.created_at DESC, inv.id LIMIT 100",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_E]);
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id FROM sys_invocation inv WHERE status = 'completed' AND inv.completion_result = "
                     "'failure' ORDER BY inv.created_at DESC, inv.id LIMIT 100",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_F]);
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id FROM sys_invocation inv WHERE status IN ('running','backing-off') ORDER BY "
                     "inv.created_at DESC, inv.id LIMIT 100",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_E]);
    assert_string_equal(str_of(stet_json_array_at(rows, 1), "id"), f->ids[INV_D]);
    stet_json_free(doc);
}

static void test_invocation_describe(void **state) {
    struct fx *f = *state;
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "SELECT inv.id, inv.target, inv.target_service_ty, inv.idempotency_key, inv.status, inv.created_at, "
             "inv.modified_at as state_modified_at, inv.pinned_deployment_id, inv.retry_count as num_retries, "
             "inv.last_failure as last_failure_message, inv.last_failure_related_entry_index as "
             "last_failure_entry_index, inv.last_failure_related_entry_name as last_failure_entry_name, "
             "inv.last_failure_related_entry_type as last_failure_entry_ty, inv.last_attempt_deployment_id, "
             "inv.last_attempt_server, inv.next_retry_at, inv.last_start_at, inv.invoked_by_id, inv.invoked_by_target, "
             "inv.trace_id, inv.completion_result, inv.completion_failure, dp.id IS NOT NULL as "
             "pinned_deployment_exists FROM sys_invocation inv LEFT JOIN sys_deployment dp ON dp.id = "
             "inv.pinned_deployment_id WHERE inv.id in ('%s','%s','%s','%s') ORDER BY inv.created_at DESC, inv.id",
             f->ids[INV_A], f->ids[INV_D], f->ids[INV_E], f->ids[INV_F]);
    const struct stet_json *rows;
    struct stet_json *doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 4);
    const struct stet_json *f_row = stet_json_array_at(rows, 0), *e = stet_json_array_at(rows, 1),
                           *d = stet_json_array_at(rows, 2), *a = stet_json_array_at(rows, 3);
    assert_string_equal(str_of(a, "id"), f->ids[INV_A]);
    assert_string_equal(str_of(a, "target"), "Greeter/greet");
    assert_string_equal(str_of(a, "target_service_ty"), "service");
    assert_string_equal(str_of(a, "idempotency_key"), "idem-1");
    assert_string_equal(str_of(a, "status"), "completed");
    assert_string_equal(str_of(a, "created_at"), "2026-11-24T05:51:28.254Z");
    assert_string_equal(str_of(a, "state_modified_at"), "2026-11-24T05:51:28.304Z");
    assert_string_equal(str_of(a, "pinned_deployment_id"), DP_STR);
    assert_true(bool_of(a, "pinned_deployment_exists"));
    assert_string_equal(str_of(a, "completion_result"), "success");
    assert_false(has(a, "completion_failure"));
    assert_false(has(a, "num_retries"));
    assert_false(has(a, "trace_id"));
    /* D: backing off, pinned to an unknown deployment */
    assert_string_equal(str_of(d, "status"), "backing-off");
    assert_int_equal(int_of(d, "num_retries"), 5);
    assert_string_equal(str_of(d, "last_failure_message"), "[500 Internal] transient failure, will retry");
    assert_string_equal(str_of(d, "next_retry_at"), "2026-11-24T05:51:37.254Z");
    assert_string_equal(str_of(d, "last_start_at"), "2026-11-24T05:51:31.754Z");
    assert_string_equal(str_of(d, "pinned_deployment_id"), ZOMBIE_DP_STR);
    assert_false(bool_of(d, "pinned_deployment_exists"));
    assert_false(has(d, "completion_result"));
    /* E: running, last attempt on the registered deployment */
    assert_string_equal(str_of(e, "status"), "running");
    assert_int_equal(int_of(e, "num_retries"), 0);
    assert_string_equal(str_of(e, "last_attempt_deployment_id"), DP_STR);
    assert_string_equal(str_of(e, "last_attempt_server"), "restate-sdk-typescript/1.17.2");
    assert_false(has(e, "next_retry_at"));
    /* F: killed */
    assert_string_equal(str_of(f_row, "completion_result"), "failure");
    assert_string_equal(str_of(f_row, "completion_failure"), "[409] killed");
    assert_false(bool_of(f_row, "pinned_deployment_exists"));
    stet_json_free(doc);

    /* Q-INV-IDS for describe: WHERE inv.id = '<id>' LIMIT 1 */
    snprintf(sql, sizeof(sql), "SELECT id FROM sys_invocation inv WHERE inv.id = '%s' LIMIT 1", f->ids[INV_B]);
    doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    stet_json_free(doc);
}

static void test_journal(void **state) {
    struct fx *f = *state;
    char sql[1024];
    const struct stet_json *rows;
    snprintf(sql, sizeof(sql),
             "SELECT sj.index, sj.entry_type, sj.completed, sj.invoked_id, sj.invoked_target, sj.sleep_wakeup_at, "
             "sj.name, sj.promise_name, sj.version, sj.entry_json, sj.appended_at FROM sys_journal sj WHERE sj.id = "
             "'%s' ORDER BY index DESC LIMIT 100",
             f->ids[INV_B]);
    struct stet_json *doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 3);
    const struct stet_json *r = stet_json_array_at(rows, 0);
    assert_int_equal(int_of(r, "index"), 2);
    assert_string_equal(str_of(r, "entry_type"), "Command: Sleep");
    assert_string_equal(str_of(r, "sleep_wakeup_at"), "2026-11-24T05:52:58.254Z");
    assert_false(bool_of(r, "completed"));
    assert_int_equal(int_of(r, "version"), 2);
    r = stet_json_array_at(rows, 1);
    assert_int_equal(int_of(r, "index"), 1);
    assert_string_equal(str_of(r, "entry_type"), "Command: SetState");
    assert_string_equal(str_of(r, "name"), "");
    assert_string_equal(str_of(r, "appended_at"), "2026-11-24T05:51:29.264Z");
    assert_non_null(strstr(str_of(r, "entry_json"), "SetState"));
    assert_false(has(r, "promise_name"));
    assert_false(has(r, "invoked_id"));
    r = stet_json_array_at(rows, 2);
    assert_string_equal(str_of(r, "entry_type"), "Command: Input");
    stet_json_free(doc);

    /* a call: target and callee id (from the CallInvocationId notification) */
    snprintf(sql, sizeof(sql),
             "SELECT sj.index, sj.entry_type, sj.completed, sj.invoked_id, sj.invoked_target, sj.name FROM "
             "sys_journal sj WHERE sj.id = '%s' ORDER BY index",
             f->ids[INV_G]);
    doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 3);
    r = stet_json_array_at(rows, 1);
    assert_string_equal(str_of(r, "entry_type"), "Command: Call");
    assert_string_equal(str_of(r, "invoked_target"), "Counter/k2/get");
    assert_int_equal(strlen(str_of(r, "invoked_id")), STET_INVOCATION_ID_STRLEN);
    assert_false(bool_of(r, "completed")); /* no CallCompletion yet */
    r = stet_json_array_at(rows, 2);
    assert_string_equal(str_of(r, "entry_type"), "Notification: CallInvocationId");
    assert_true(bool_of(r, "completed"));
    assert_false(has(r, "name"));
    stet_json_free(doc);

    /* promise_name and the run's completion in A's journal */
    snprintf(sql, sizeof(sql), "SELECT promise_name, completed FROM sys_journal WHERE id = '%s' AND index = 1",
             f->ids[INV_W]);
    doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "promise_name"), "p1");
    assert_true(bool_of(stet_json_array_at(rows, 0), "completed"));
    stet_json_free(doc);
    snprintf(sql, sizeof(sql), "SELECT name, completed, raw_length > 0 AS has_raw FROM sys_journal WHERE id = '%s' AND index = 1",
             f->ids[INV_A]);
    doc = query_rows(f, sql, &rows);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "name"), "upper");
    assert_true(bool_of(stet_json_array_at(rows, 0), "completed"));
    assert_true(bool_of(stet_json_array_at(rows, 0), "has_raw"));
    stet_json_free(doc);
}

static void test_find(void **state) {
    struct fx *f = *state;
    char sql[1024];
    const struct stet_json *rows;
    snprintf(sql, sizeof(sql),
             "SELECT id, target FROM sys_invocation_status WHERE id = '%s' AND status = 'completed' LIMIT 500",
             f->ids[INV_A]);
    struct stet_json *doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "target"), "Greeter/greet");
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id, target FROM sys_invocation_status WHERE target LIKE 'Greeter/%' AND status != "
                     "'completed' LIMIT 500",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 5);
    stet_json_free(doc);
    /* DataFusion's LIKE is case-sensitive */
    doc = query_rows(f, "SELECT id FROM sys_invocation_status WHERE target LIKE 'greeter/%'", &rows);
    assert_int_equal(stet_json_array_len(rows), 0);
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id, target FROM sys_invocation_status WHERE ((target = 'Greeter/greet' AND "
                     "target_service_ty = 'service') OR (target LIKE 'Greeter/greet/%' AND target_service_ty != "
                     "'service')) AND status IN ('invoked', 'suspended') LIMIT 500",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 2); /* E and G */
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT id, target FROM sys_invocation_status WHERE ((target = 'Counter/k1' AND "
                     "target_service_ty = 'service') OR (target LIKE 'Counter/k1/%' AND target_service_ty != "
                     "'service')) AND status IN ('paused', 'invoked', 'suspended') LIMIT 500",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_B]);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "target"), "Counter/k1/add");
    stet_json_free(doc);
}

static void test_state_and_deployments(void **state) {
    struct fx *f = *state;
    const struct stet_json *rows;
    struct stet_json *doc =
        query_rows(f, "select key, value from state where service_name = 'Counter' and service_key = 'k1' ;", &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "key"), "count");
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "value"), "3130");
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT service_name, service_key, key, value, value_utf8, value_length FROM state WHERE "
                     "service_name = 'Counter' ORDER BY service_key",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    const struct stet_json *r = stet_json_array_at(rows, 1);
    assert_string_equal(str_of(r, "service_key"), "k9");
    assert_string_equal(str_of(r, "key"), "blob");
    assert_string_equal(str_of(r, "value"), "ff00");
    assert_false(has(r, "value_utf8")); /* not UTF-8 */
    assert_int_equal(int_of(r, "value_length"), 2);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "value_utf8"), "10");
    stet_json_free(doc);
    /* Q-DEP-ACTIVE */
    doc = query_rows(f,
                     "SELECT target_service_name as service, target_handler_name as handler, COUNT(1) AS inv_count "
                     "FROM sys_invocation_status WHERE pinned_deployment_id = '" DP_STR
                     "' AND status != 'completed' GROUP BY pinned_deployment_id, target_service_name, "
                     "target_handler_name",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "service"), "Greeter");
    assert_string_equal(str_of(r, "handler"), "greet");
    assert_int_equal(int_of(r, "inv_count"), 1);
    stet_json_free(doc);
    /* sys_service / sys_deployment */
    doc = query_rows(f, "SELECT * FROM sys_service ORDER BY name", &rows);
    assert_int_equal(stet_json_array_len(rows), 3);
    r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "name"), "Counter");
    assert_string_equal(str_of(r, "ty"), "virtual_object");
    assert_int_equal(int_of(r, "revision"), 1);
    assert_true(bool_of(r, "public"));
    assert_string_equal(str_of(r, "deployment_id"), DP_STR);
    stet_json_free(doc);
    doc = query_rows(f, "SELECT * FROM sys_deployment", &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "id"), DP_STR);
    assert_string_equal(str_of(r, "ty"), "http");
    assert_string_equal(str_of(r, "endpoint"), "http://localhost:9080/");
    assert_int_equal(int_of(r, "min_service_protocol_version"), 5);
    const struct stet_json *svcs = stet_json_object_get(r, "services");
    assert_int_equal(stet_json_type(svcs), STET_JSON_ARRAY);
    assert_int_equal(stet_json_array_len(svcs), 3);
    assert_string_equal(stet_json_string(stet_json_array_at(svcs, 0), NULL), "Greeter");
    stet_json_free(doc);
    /* sys_promise */
    doc = query_rows(f, "SELECT * FROM sys_promise", &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "service_name"), "Wf");
    assert_string_equal(str_of(r, "service_key"), "w1");
    assert_string_equal(str_of(r, "key"), "p1");
    assert_true(bool_of(r, "completed"));
    assert_string_equal(str_of(r, "completion_success_value_utf8"), "\"yes\"");
    assert_string_equal(str_of(r, "completion_success_value"), "2279657322");
    stet_json_free(doc);
    /* sys_invocation_state: one row per invoker task */
    doc = query_rows(f, "SELECT id, in_flight, retry_count FROM sys_invocation_state ORDER BY retry_count", &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "id"), f->ids[INV_E]);
    assert_true(bool_of(stet_json_array_at(rows, 0), "in_flight"));
    assert_false(bool_of(stet_json_array_at(rows, 1), "in_flight"));
    stet_json_free(doc);
}

static void test_status_table_columns(void **state) {
    struct fx *f = *state;
    char sql[512];
    const struct stet_json *rows;
    snprintf(sql, sizeof(sql), "SELECT * FROM sys_invocation_status WHERE id = '%s'", f->ids[INV_B]);
    struct stet_json *doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    const struct stet_json *r = stet_json_array_at(rows, 0);
    uint64_t pk;
    assert_true(stet_json_uint64(stet_json_object_get(r, "partition_key"), &pk)); /* u64 above 2^63 stays a number */
    assert_true(pk == f->id[INV_B].partition_key);
    assert_string_equal(str_of(r, "status"), "suspended");
    assert_string_equal(str_of(r, "target_service_key"), "k1");
    assert_string_equal(str_of(r, "target_service_ty"), "virtual_object");
    assert_string_equal(str_of(r, "invoked_by"), "ingress");
    assert_string_equal(str_of(r, "completion_retention"), "PT86400S");
    assert_int_equal(int_of(r, "journal_size"), 3);
    const struct stet_json *w = stet_json_object_get(r, "suspended_waiting_for_completions");
    assert_int_equal(stet_json_type(w), STET_JSON_ARRAY);
    assert_int_equal(stet_json_array_len(w), 1);
    assert_false(has(r, "completed_at"));
    stet_json_free(doc);
    snprintf(sql, sizeof(sql), "SELECT status, scheduled_start_at FROM sys_invocation_status WHERE id = '%s'",
             f->ids[INV_S]);
    doc = query_rows(f, sql, &rows);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "status"), "scheduled");
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "scheduled_start_at"), "2026-11-24T05:53:08.254Z");
    stet_json_free(doc);
}

/* ---- dialect rewrites, one by one -------------------------------------------------------------- */

static void expect_items(const char *sql, const char *const *names, const enum stet_qtype *types, size_t n) {
    struct stet_qrewrite rw;
    if (stet_query_rewrite(sql, strlen(sql), &rw) != 0) fail_msg("rewrite failed: %s", rw.message);
    if (rw.n_items != n) fail_msg("%zu items for %s (sql: %s)", rw.n_items, sql, (const char *)rw.sql.data);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rw.items[i].name, names[i]) != 0) fail_msg("item %zu named %s, want %s", i, rw.items[i].name, names[i]);
        if (rw.items[i].type != types[i]) fail_msg("item %zu (%s) type %d, want %d", i, names[i], rw.items[i].type, types[i]);
    }
    stet_query_rewrite_free(&rw);
}

static void test_rewrite_names_and_types(void **state) {
    (void)state;
    {
        const char *n[] = {"count(Int64(1))", "count(*)", "num", "id", "Quoted", "oldest", "min(inv.created_at)"};
        const enum stet_qtype t[] = {QT_INT64, QT_INT64, QT_INT64, QT_LARGE_UTF8, QT_LARGE_UTF8, QT_LARGE_UTF8,
                                     QT_TS_MS_UTC};
        expect_items("SELECT COUNT(1), COUNT(*), count(1) AS Num, inv.ID, inv.id AS \"Quoted\", FIRST_VALUE(id ORDER BY "
                     "created_at) oldest, MIN(created_at) FROM sys_invocation inv;",
                     n, t, 7);
    }
    {
        const char *n[] = {"promise_name", "version", "pinned_deployment_exists", "now", "x", "sleep_wakeup_at", "num"};
        const enum stet_qtype t[] = {QT_UTF8, QT_UINT32, QT_BOOL, QT_TS_NS, QT_UINT64, QT_TS_MS_UTC, QT_UINT64};
        expect_items("SELECT CAST(NULL as STRING) AS promise_name, CAST(1 as INT UNSIGNED) AS version, dp.id IS NOT "
                     "NULL as pinned_deployment_exists, now() AS now, arrow_cast(index, 'UInt64') AS x, "
                     "sj.sleep_wakeup_at, sum(retry_count) AS num FROM sys_journal sj, sys_deployment dp, sys_invocation",
                     n, t, 7);
    }
    {
        /* derived tables and CTEs resolve column types through the inner select */
        const char *n[] = {"id", "d", "c"};
        const enum stet_qtype t[] = {QT_LARGE_UTF8, QT_DURATION_MS, QT_INT64};
        expect_items("WITH x AS (SELECT id, journal_retention AS d FROM sys_invocation_status) SELECT id, d, c FROM x "
                     "JOIN (SELECT count(*) AS c FROM sys_journal) j",
                     n, t, 3);
    }
    struct stet_qrewrite rw;
    /* LIMIT inside the subquery; the unaliased derived table gets the alias of its table */
    const char *sub = "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000 ) WHERE inv.status = 'x'";
    assert_int_equal(stet_query_rewrite(sub, strlen(sub), &rw), 0);
    assert_non_null(strstr((const char *)rw.sql.data, "LIMIT 50000 ) AS \"inv\""));
    stet_query_rewrite_free(&rw);
    /* ORDER BY gets DataFusion's NULL placement */
    const char *o = "SELECT id FROM sys_invocation ORDER BY created_at DESC, id";
    assert_int_equal(stet_query_rewrite(o, strlen(o), &rw), 0);
    assert_non_null(strstr((const char *)rw.sql.data, "DESC NULLS FIRST , id NULLS LAST"));
    stet_query_rewrite_free(&rw);
    /* two statements */
    o = "SELECT 1; SELECT 2";
    assert_int_equal(stet_query_rewrite(o, strlen(o), &rw), -EINVAL);
    assert_non_null(strstr(rw.message, "single SQL statement"));
    stet_query_rewrite_free(&rw);
    o = "SELECT 'unterminated";
    assert_int_equal(stet_query_rewrite(o, strlen(o), &rw), -EINVAL);
    assert_non_null(strstr(rw.message, "Unterminated string literal"));
    stet_query_rewrite_free(&rw);
}

static void test_dialect_execution(void **state) {
    struct fx *f = *state;
    const struct stet_json *rows;
    const struct stet_json *r;
    /* `==` */
    struct stet_json *doc = query_rows(f, "SELECT count(*) FROM sys_invocation_status WHERE status == 'completed'", &rows);
    assert_int_equal(int_of(stet_json_array_at(rows, 0), "count(*)"), 3);
    stet_json_free(doc);
    /* FIRST_VALUE(x ORDER BY y DESC) and LAST_VALUE */
    doc = query_rows(f,
                     "SELECT FIRST_VALUE(id ORDER BY created_at DESC) AS newest, LAST_VALUE(id ORDER BY created_at) AS "
                     "last, first_value(id) AS any FROM sys_invocation_status WHERE target_service_name = 'Greeter'",
                     &rows);
    r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "newest"), f->ids[INV_P]);
    assert_string_equal(str_of(r, "last"), f->ids[INV_P]);
    assert_true(has(r, "any"));
    stet_json_free(doc);
    /* first_value as a window function stays SQLite's */
    doc = query_rows(f,
                     "SELECT id, first_value(id) OVER (ORDER BY created_at) AS first FROM sys_invocation_status LIMIT 2",
                     &rows);
    assert_string_equal(str_of(stet_json_array_at(rows, 1), "first"), f->ids[INV_A]);
    stet_json_free(doc);
    /* CAST(NULL as STRING) is omitted, CAST(1 as INT UNSIGNED) is 1, casts of text */
    doc = query_rows(f,
                     "SELECT CAST(NULL as STRING) AS promise_name, CAST(1 as INT UNSIGNED) AS version, CAST('42' AS "
                     "BIGINT) AS n, CAST(7 AS STRING) AS s, '5'::INT AS p, TRY_CAST('x' AS INT) AS t",
                     &rows);
    r = stet_json_array_at(rows, 0);
    assert_false(has(r, "promise_name"));
    assert_int_equal(int_of(r, "version"), 1);
    assert_int_equal(int_of(r, "n"), 42);
    assert_string_equal(str_of(r, "s"), "7");
    assert_int_equal(int_of(r, "p"), 5);
    assert_false(has(r, "t"));
    stet_json_free(doc);
    /* arrow_cast, now(), INTERVAL, current_timestamp */
    doc = query_rows(f,
                     "SELECT arrow_cast(1, 'Utf8') AS a, now() AS n, arrow_cast(created_at, 'Int64') AS c, "
                     "now() - INTERVAL '1 hour' AS h, current_timestamp AS ct FROM sys_invocation_status WHERE id = '" 
                     "nope' OR target_handler_name = 'flaky' LIMIT 1",
                     &rows);
    r = stet_json_array_at(rows, 0);
    assert_string_equal(str_of(r, "a"), "1");
    assert_string_equal(str_of(r, "n"), "2026-11-24T06:01:28.254");
    assert_int_equal(int_of(r, "c"), (int64_t)(T0 + 3000));
    assert_string_equal(str_of(r, "h"), "2026-11-24T05:01:28.254");
    assert_string_equal(str_of(r, "ct"), "2026-11-24T06:01:28.254");
    stet_json_free(doc);
    /* information_schema.columns, restate.public prefixes, IN (select ...) */
    doc = query_rows(f,
                     "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' AND column_name "
                     "IN ('version', 'entry_json', 'appended_at')",
                     &rows);
    assert_int_equal(int_of(stet_json_array_at(rows, 0), "count(*)"), 3);
    stet_json_free(doc);
    doc = query_rows(f,
                     "SELECT name FROM restate.public.sys_service WHERE name IN (SELECT target_service_name FROM "
                     "public.sys_invocation_status WHERE status = 'suspended')",
                     &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "name"), "Counter");
    stet_json_free(doc);
    doc = query_rows(f, "SELECT data_type FROM information_schema.columns WHERE table_name = 'sys_invocation' AND "
                        "column_name = 'created_at'", &rows);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "data_type"), "Timestamp(Millisecond, Some(\"+00:00\"))");
    stet_json_free(doc);
    /* SHOW TABLES, ILIKE, NULL ordering (NULLS LAST ascending) */
    doc = query_rows(f, "SHOW TABLES", &rows);
    assert_int_equal(stet_json_array_len(rows), 12);
    stet_json_free(doc);
    doc = query_rows(f, "SELECT id FROM sys_invocation_status WHERE target ILIKE 'greeter/FLAKY'", &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    stet_json_free(doc);
    doc = query_rows(f, "SELECT completed_at FROM sys_invocation_status ORDER BY completed_at", &rows);
    assert_true(has(stet_json_array_at(rows, 0), "completed_at"));
    assert_false(has(stet_json_array_at(rows, stet_json_array_len(rows) - 1), "completed_at"));
    stet_json_free(doc);
}

static void test_json_formats(void **state) {
    struct fx *f = *state;
    const struct stet_json *rows;
    exec(f, "SELECT 1 AS one, NULL AS gone, 1.5 AS half, x'00ff10' AS bin, 'a\"b' AS s, true AS t", true);
    assert_int_equal(f->status, 200);
    assert_memory_equal(f->body.data, "{\"rows\":[{\"one\":1,\"half\":1.5,\"bin\":\"00ff10\",\"s\":\"a\\\"b\",\"t\":true}]}",
                        f->body.len);
    /* whole seconds have no fraction (chrono AutoSi) */
    struct stet_json *doc = query_rows(f, "SELECT arrow_cast(1795499488000, 'Timestamp(Millisecond, Some(\"+00:00\"))') AS ts", &rows);
    assert_string_equal(str_of(stet_json_array_at(rows, 0), "ts"), "2026-11-24T05:51:28Z");
    stet_json_free(doc);
    exec(f, "SELECT id FROM sys_invocation_status WHERE id = 'inv_nope'", true);
    assert_int_equal(f->status, 200);
    assert_memory_equal(f->body.data, "{\"rows\":[]}", f->body.len);
}

/* ---- Arrow ----------------------------------------------------------------------------- */

/* The capture of http-api.md §4.9, byte for byte (520 bytes). */
static const uint8_t count_capture[520] = {
    0xff, 0xff, 0xff, 0xff, 0xb8, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, /* 0x00 */
    0x0c, 0x00, 0x0a, 0x00, 0x09, 0x00, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, /* 0x10 */
    0x00, 0x01, 0x04, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04, 0x00, 0x08, 0x00, 0x00, 0x00, /* 0x20 */
    0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x10, 0x00, 0x14, 0x00, /* 0x30 */
    0x10, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x04, 0x00, 0x00, 0x00, 0x08, 0x00, 0x10, 0x00, 0x00, 0x00, /* 0x40 */
    0x18, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x1c, 0x00, 0x00, 0x00, /* 0x50 */
    0x08, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x0b, 0x00, 0x08, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, /* 0x60 */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x63, 0x6f, 0x75, 0x6e, /* 0x70 */
    0x74, 0x28, 0x2a, 0x29, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x80 */
    [0xc0] = 0xff, 0xff, 0xff, 0xff, 0xb8, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x1a, 0x00,
    0x18, 0x00, 0x17, 0x00, 0x04, 0x00, 0x08, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, /* 0xd0 */
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* 0xe0 */
    0x04, 0x00, 0x0a, 0x00, 0x18, 0x00, 0x0c, 0x00, 0x08, 0x00, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, /* 0xf0 */
    0x2c, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x100 */
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x110 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* 0x120 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x130 */
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x140 */
    [0x180] = 0xff,
    [0x1c0] = 0x01,
    [0x200] = 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
};

static void test_arrow_count_capture(void **state) {
    struct fx *f = *state;
    exec(f,
         "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' AND column_name IN "
         "('promise_name')",
         false);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->ct, "application/vnd.apache.arrow.stream");
    assert_int_equal(f->body.len, sizeof(count_capture));
    for (size_t i = 0; i < sizeof(count_capture); i++)
        if (f->body.data[i] != count_capture[i]) fail_msg("byte 0x%zx: 0x%02x, want 0x%02x", i, f->body.data[i], count_capture[i]);
}

/* A minimal reader for our streams: walks the messages and returns the body of the batch. */
static void arrow_walk(const uint8_t *p, size_t len, size_t *batch_body, size_t *batch_body_len) {
    size_t off = 0;
    int messages = 0;
    for (;;) {
        assert_true(off + 8 <= len);
        assert_int_equal(stet_load_u32be(p + off), 0xffffffffu);
        uint32_t mlen = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 | (uint32_t)p[off + 6] << 16 |
                        (uint32_t)p[off + 7] << 24;
        if (mlen == 0) {
            assert_int_equal(off + 8, len);
            break;
        }
        assert_int_equal((8 + mlen) % 64, 0);
        const uint8_t *fb = p + off + 8;
        uint32_t root = (uint32_t)fb[0] | (uint32_t)fb[1] << 8;
        int32_t vt = (int32_t)((uint32_t)fb[root] | (uint32_t)fb[root + 1] << 8 | (uint32_t)fb[root + 2] << 16 |
                               (uint32_t)fb[root + 3] << 24);
        const uint8_t *vtab = fb + root - vt;
        uint16_t vlen = (uint16_t)(vtab[0] | vtab[1] << 8);
        int64_t body = 0;
        if (vlen > 10) { /* bodyLength present */
            uint16_t bo = (uint16_t)(vtab[10] | vtab[11] << 8);
            if (bo) memcpy(&body, fb + root + bo, 8);
        }
        off += 8 + mlen;
        if (messages == 1) {
            *batch_body = off;
            *batch_body_len = (size_t)body;
        }
        off += (size_t)body;
        messages++;
    }
    assert_int_equal(messages, 2);
}

static void test_arrow_types(void **state) {
    struct fx *f = *state;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT id, partition_key, created_at, completion_retention, journal_size, "
             "suspended_waiting_for_completions, 'x' AS lit, NULL AS nothing, 2.5 AS half, true AS yes "
             "FROM sys_invocation_status WHERE id IN ('%s', '%s')",
             f->ids[INV_B], f->ids[INV_A]);
    exec(f, sql, false);
    assert_int_equal(f->status, 200);
    size_t body = 0, body_len = 0;
    arrow_walk(f->body.data, f->body.len, &body, &body_len);
    assert_true(body_len > 0);
    assert_int_equal(body_len % 64, 0);
    /* the first column's validity (2 rows, no nulls) is 0xff, then LargeUtf8 offsets (i64) 0, 38, 76 */
    assert_int_equal(f->body.data[body], 0xff);
    int64_t off1, off2;
    memcpy(&off1, f->body.data + body + 64 + 8, 8);
    memcpy(&off2, f->body.data + body + 64 + 16, 8);
    assert_int_equal(off1, 38);
    assert_int_equal(off2, 76);
    /* the names are in the schema message */
    assert_non_null(memmem(f->body.data, body, "suspended_waiting_for_completions", 33));
    assert_non_null(memmem(f->body.data, body, "+00:00", 6));
    /* zero rows still give schema + empty batch + EOS */
    exec(f, "SELECT id FROM sys_invocation_status WHERE id = 'inv_1nope'", false);
    assert_int_equal(f->status, 200);
    arrow_walk(f->body.data, f->body.len, &body, &body_len);
}

/* ---- errors, bounds, lookups -------------------------------------------------------------- */

static void test_errors(void **state) {
    struct fx *f = *state;
    expect_error(f, "SELEC 1", 400, "SQL error: ParserError(");
    expect_error(f, "SELECT * FROM nope", 500, "Error during planning: table 'restate.public.nope' not found");
    expect_error(f, "SELECT * FROM information_schema.nope", 500, "table 'restate.information_schema.nope' not found");
    expect_error(f, "SELECT nope FROM sys_invocation", 400, "Schema error: No field named nope");
    expect_error(f, "SELECT status FROM sys_invocation WHERE status = \"completed\"", 400, "No field named");
    expect_error(f, "DELETE FROM sys_invocation", 400, "only SELECT");
    expect_error(f, "ATTACH DATABASE '/tmp/x.db' AS x", 400, "only SELECT");
    expect_error(f, "PRAGMA table_info(sys_invocation)", 400, "only SELECT");
    expect_error(f, "SELECT 1; SELECT 2", 500, "single SQL statement");
    expect_error(f, "SELECT CAST(1 AS GEOMETRY)", 500, "Unsupported SQL type GEOMETRY");
    expect_error(f, "SELECT arrow_cast(1, 'Decimal128(3, 2)')", 400, "Unsupported type");
    expect_error(f, "SELECT CAST('abc' AS INT)", 500, "Cast error: Cannot cast string 'abc'");
    expect_error(f, "", 400, "ParserError");
    /* the request body wrapper */
    const char *body = "{\"query\": \"SELECT 1 AS x\"}";
    assert_int_equal(stet_query_execute_request(f->q, body, strlen(body), true, &f->status, &f->ct, &f->body), 0);
    assert_int_equal(f->status, 200);
    assert_memory_equal(f->body.data, "{\"rows\":[{\"x\":1}]}", f->body.len);
    body = "{\"q\": 1}";
    assert_int_equal(stet_query_execute_request(f->q, body, strlen(body), true, &f->status, &f->ct, &f->body), 0);
    assert_int_equal(f->status, 422);
    assert_string_equal(f->ct, "text/plain; charset=utf-8");
    body = "{nope";
    assert_int_equal(stet_query_execute_request(f->q, body, strlen(body), true, &f->status, &f->ct, &f->body), 0);
    assert_int_equal(f->status, 400);
    assert_true(stet_query_accepts_json("application/json", 16));
    assert_false(stet_query_accepts_json("application/json; charset=utf-8", 31));
    assert_false(stet_query_accepts_json("*/*", 3));
    assert_false(stet_query_accepts_json(NULL, 0));
    struct stet_query_stats st;
    stet_query_stats(f->q, &st);
    assert_true(st.queries_failed >= 12);
}

static void test_bounds(void **state) {
    (void)state;
    struct fx f;
    build(&f, 3, 200, 2000);
    expect_error(&f, "SELECT id FROM sys_invocation_status", 500, "more than 3 rows");
    exec(&f, "SELECT id FROM sys_invocation_status LIMIT 3", true);
    assert_int_equal(f.status, 200);
    exec(&f, "SELECT id FROM sys_invocation_status", false); /* Arrow too */
    assert_int_equal(f.status, 500);
    destroy(&f);
}

static void test_bounds_bytes_and_time(void **state) {
    (void)state;
    struct fx f;
    build(&f, 0, 100, 300);
    /* output larger than max_bytes */
    exec(&f, "SELECT entry_json FROM sys_journal", true);
    assert_int_equal(f.status, 500);
    assert_non_null(memmem(f.body.data, f.body.len, "exceeds 300 bytes", 17));
    exec(&f, "SELECT entry_json FROM sys_journal", false);
    assert_int_equal(f.status, 500);
    /* a query that never ends is stopped */
    expect_error(&f,
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", 500,
                 "ran longer than 100 ms");
    destroy(&f);
}

static void test_point_lookups(void **state) {
    struct fx *f = *state;
    char sql[512];
    const struct stet_json *rows;
    /* id = '...' on the status tables: point reads, no scan */
    f->cs->gets = f->cs->iters = f->cs->steps = 0;
    snprintf(sql, sizeof(sql), "SELECT id FROM sys_invocation WHERE id = '%s'", f->ids[INV_E]);
    struct stet_json *doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_int_equal(f->cs->iters, 0);
    assert_int_equal(f->cs->gets, 1);
    stet_json_free(doc);
    /* id IN (...) all at once */
    f->cs->gets = f->cs->iters = 0;
    snprintf(sql, sizeof(sql), "SELECT id FROM sys_invocation_status WHERE id IN ('%s', '%s', 'inv_bad')",
             f->ids[INV_A], f->ids[INV_B]);
    doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 2);
    assert_int_equal(f->cs->iters, 0);
    assert_int_equal(f->cs->gets, 2);
    stet_json_free(doc);
    /* the journal of one invocation: one prefix scan over its 3 entries */
    f->cs->gets = f->cs->iters = f->cs->steps = 0;
    snprintf(sql, sizeof(sql), "SELECT index FROM sys_journal WHERE id = '%s'", f->ids[INV_B]);
    doc = query_rows(f, sql, &rows);
    assert_int_equal(stet_json_array_len(rows), 3);
    assert_int_equal(f->cs->iters, 1);
    assert_true(f->cs->steps <= 3);
    stet_json_free(doc);
    /* state of one object: one prefix */
    f->cs->iters = f->cs->steps = 0;
    doc = query_rows(f, "SELECT key FROM state WHERE service_name = 'Counter' AND service_key = 'k9'", &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    assert_int_equal(f->cs->iters, 1);
    assert_true(f->cs->steps <= 1);
    stet_json_free(doc);
    /* the other way round in the WHERE clause */
    doc = query_rows(f, "SELECT key FROM state WHERE service_key = 'k1' AND service_name = 'Counter'", &rows);
    assert_int_equal(stet_json_array_len(rows), 1);
    stet_json_free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invocations_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invocation_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_and_deployments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_table_columns, setup, teardown),
        cmocka_unit_test(test_rewrite_names_and_types),
        cmocka_unit_test_setup_teardown(test_dialect_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arrow_count_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arrow_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_bounds_bytes_and_time),
        cmocka_unit_test_setup_teardown(test_point_lookups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
