/* Tests for src/invocations against fake ports (invocations.h: struct stet_invocations_ports).
 *
 * The fake `propose` copies every record it is given (slices point into the module's memory)
 * and either refuses it with a chosen errno or keeps its durability callback for the test to
 * run later; the schema is a persisted-JSON document with a service, a virtual object and a
 * workflow (only POST /services/{svc}/state reads it).
 *
 * HTTP: as in test_ingress.c, a real stet_http_server on 127.0.0.1:0 runs on a uv loop of the
 * test thread (there is no way to respond to a struct stet_http_request without it), its
 * handler is the admin router's call of stet_invocations_handle, and a tiny HTTP/1.1 client
 * talks to it; the test pumps the loop with UV_RUN_NOWAIT, so everything stays on one thread. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_test_client.h"
#include <uv.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/ids.h"
#include "invocations/invocations.h"
#include "partition/partition.h"
#include "schema/schema.h"

#define NODE_ID 7u
#define GENERATION 3u
#define INCARNATION 0x1234567890ull

#define HANDLER(name, ty)                                                                                           \
    "{\"name\":\"" name "\",\"ty\":\"" ty "\",\"public\":null,\"input_required\":false,"                             \
    "\"output_set_content_type_if_empty\":false,\"enable_lazy_state\":null,\"retry\":{},\"metadata\":{}}"
#define SERVICE(name, ty, handlers)                                                                                 \
    "{\"name\":\"" name "\",\"ty\":\"" ty "\",\"revision\":1,\"public\":true,\"enable_lazy_state\":false,"           \
    "\"retry\":{},\"metadata\":{},\"handlers\":[" handlers "]}"
static const char *SCHEMA =
    "{\"format\":1,\"version\":1,\"deployments\":[{\"id\":\"dp_11KtnKBN2zjPWodnT5O7Ibv\",\"uri\":\"http://"
    "127.0.0.1:1/\",\"use_http_11\":false,\"request_response\":false,\"min_protocol\":5,\"max_protocol\":6,"
    "\"sdk_version\":\"test\",\"created_at_ms\":1,\"headers\":{},\"metadata\":{},\"services\":["
    SERVICE("Svc", "SERVICE", HANDLER("h", "UNSET")) ","
    SERVICE("Obj", "VIRTUAL_OBJECT", HANDLER("add", "EXCLUSIVE")) ","
    SERVICE("Wf", "WORKFLOW", HANDLER("run", "WORKFLOW"))
    "]}]}";

/* ---- fixture ------------------------------------------------------------------------- */

#define MAX_PROPOSALS 64

struct proposal {
    struct stet_record r; /* slices point into copies[] */
    void *copies[8];
    int n_copies;
    stet_log_append_cb cb;
    void *arg;
    bool done;
};

struct fx {
    uv_loop_t loop;
    struct stet_http_server *server;
    bool server_closed;
    int port;
    struct stet_schema *schema;
    struct stet_invocations *inv;
    unsigned unhandled; /* requests stet_invocations_handle declined */
    int propose_rc;
    unsigned propose_calls;
    struct proposal props[MAX_PROPOSALS];
    size_t n_props;
};

static struct fx FX;

static struct stet_slice keep(struct proposal *p, struct stet_slice s) {
    if (s.len == 0) return (struct stet_slice){NULL, 0};
    STET_ASSERT(p->n_copies < (int)STET_ARRAY_LEN(p->copies));
    uint8_t *m = malloc(s.len);
    STET_ASSERT(m != NULL);
    memcpy(m, s.ptr, s.len);
    p->copies[p->n_copies++] = m;
    return (struct stet_slice){m, s.len};
}

static int fake_propose(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct fx *fx = ctx;
    fx->propose_calls++;
    if (fx->propose_rc != 0) return fx->propose_rc;
    STET_ASSERT(fx->n_props < MAX_PROPOSALS);
    struct proposal *p = &fx->props[fx->n_props++];
    memset(p, 0, sizeof(*p));
    p->r = *r;
    p->r.service = keep(p, r->service);
    p->r.key = keep(p, r->key);
    p->r.payload = keep(p, r->payload);
    p->r.state_version = keep(p, r->state_version);
    p->cb = cb;
    p->arg = arg;
    p->done = cb == NULL;
    if (lsn_out) *lsn_out = fx->n_props;
    return 0;
}

static void durable(struct fx *fx, size_t i, int status) {
    assert_true(i < fx->n_props);
    struct proposal *p = &fx->props[i];
    assert_non_null(p->cb);
    assert_false(p->done);
    p->done = true;
    p->cb(p->arg, status, i + 1);
}

static const struct stet_schema *fake_schema(void *ctx) { return ((struct fx *)ctx)->schema; }

/* What the admin router does with the module (src/node/routes.c). */
static void handle(void *ctx, struct stet_http_request *req) {
    struct fx *fx = ctx;
    if (stet_invocations_handle(fx->inv, req)) return;
    fx->unhandled++;
    stet_http_respond(req, 404, NULL, 0, "unhandled", 9);
}

static void fx_init(struct fx *fx) {
    memset(fx, 0, sizeof(*fx));
    char err[256];
    if (stet_schema_from_json(SCHEMA, strlen(SCHEMA), &fx->schema, err, sizeof(err)) != 0) fail_msg("schema: %s", err);
    struct stet_invocations_ports ports = {
        .ctx = fx,
        .sink = {.kind = STET_SINK_ADMIN, .node_id = NODE_ID, .generation = GENERATION, .incarnation = INCARNATION},
        .schema = fake_schema,
        .propose = fake_propose};
    assert_int_equal(stet_invocations_create(&ports, &fx->inv), 0);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    struct stet_http_server_config cfg = {.bind_address = "127.0.0.1:0", .error_format = "admin"};
    char *errmsg = NULL;
    int rc = stet_http_server_create(&fx->loop, &cfg, handle, fx, &fx->server, &errmsg);
    if (rc != 0) fail_msg("server: %d %s", rc, errmsg ? errmsg : "");
    fx->port = stet_http_server_port(fx->server);
    assert_true(fx->port > 0);
}

static void on_server_closed(void *arg) { ((struct fx *)arg)->server_closed = true; }

static void fx_close(struct fx *fx) {
    stet_http_server_destroy(fx->server, on_server_closed, fx);
    while (!fx->server_closed) uv_run(&fx->loop, UV_RUN_ONCE);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    for (size_t i = 0; i < fx->n_props; i++)
        if (!fx->props[i].done) durable(fx, i, -ESHUTDOWN);
    stet_invocations_destroy(fx->inv);
    for (size_t i = 0; i < fx->n_props; i++)
        for (int k = 0; k < fx->props[i].n_copies; k++) free(fx->props[i].copies[k]);
    stet_schema_free(fx->schema);
}

static void pump_once(struct fx *fx) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 1);
}

/* ---- the HTTP client (http_test_client.h) on this fixture's loop ------------------------ */

static void pump_cb(void *arg) { pump_once(arg); }

static struct client *client_send(struct fx *fx, const char *method, const char *target, const char *headers,
                                  const char *body) {
    return http_client_send(fx->port, method, target, headers, body);
}

static void wait_response(struct fx *fx, struct client *c, struct resp *r) { http_client_wait(c, r, pump_cb, fx); }

static void expect_no_response(struct fx *fx, struct client *c) { http_client_expect_nothing(c, pump_cb, fx); }

static void wait_proposals(struct fx *fx, size_t n) {
    for (int i = 0; i < 5000 && fx->n_props < n; i++) pump_once(fx);
    assert_int_equal(fx->n_props, n);
}

/* Waits until the server saw every client connection go away. */
static void wait_no_connections(struct fx *fx) {
    struct stet_http_stats st;
    for (int i = 0; i < 5000; i++) {
        stet_http_server_stats(fx->server, &st);
        if (st.connections_open == 0) return;
        pump_once(fx);
    }
    fail_msg("connections still open");
}

static void request(struct fx *fx, const char *method, const char *target, const char *headers, const char *body,
                    struct resp *r) {
    struct client *c = client_send(fx, method, target, headers, body);
    wait_response(fx, c, r);
    client_close(c);
}

static const char *header(const struct resp *r, const char *name, char *out, size_t n) {
    char pat[128];
    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    const char *p = strcasestr(r->head, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    const char *e = strstr(p, "\r\n");
    snprintf(out, n, "%.*s", (int)(e - p), p);
    return out;
}

static void assert_header(const struct resp *r, const char *name, const char *want) {
    char v[512];
    if (!header(r, name, v, sizeof(v))) fail_msg("missing header %s in:\n%s", name, r->head);
    assert_string_equal(v, want);
}

static void assert_response(const struct resp *r, int status, const char *body) {
    if (r->status != status || r->body_len != strlen(body) || memcmp(r->body, body, r->body_len) != 0)
        fail_msg("got %d %.*s, want %d %s", r->status, (int)r->body_len, r->body, status, body);
}

/* The admin error body: {"message":"...","restate_code":null}. */
static void assert_admin_error(const struct resp *r, int status, const char *message) {
    char want[1024];
    snprintf(want, sizeof(want), "{\"message\":\"%s\",\"restate_code\":null}", message);
    assert_response(r, status, want);
    assert_header(r, "content-type", "application/json");
}

static bool slice_is(struct stet_slice s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

static void some_id(uint64_t n, struct stet_invocation_id *id, char out[STET_INVOCATION_ID_STRLEN + 1]) {
    memset(id, 0, sizeof(*id));
    id->partition_key = 0x1000 + n;
    for (int i = 0; i < 16; i++) id->uuid[i] = (uint8_t)(n * 31 + (uint64_t)i);
    stet_invocation_id_format(id, out);
}

static struct stet_action admin_response(const struct stet_record *r, enum stet_response_kind kind,
                                         const char *value) {
    struct stet_action a;
    memset(&a, 0, sizeof(a));
    a.kind = STET_ACTION_ADMIN_RESPONSE;
    a.id = r->id;
    a.sink = r->sink;
    a.response = kind;
    if (value) a.value = (struct stet_slice){(const uint8_t *)value, strlen(value)};
    return a;
}

/* ---- PATCH /invocations/{id}/{op} ---------------------------------------------------- */

/* Each operation becomes its record with an ADMIN sink carrying the ports' identity; the
 * answer comes only from the ADMIN_RESPONSE action. */
static void test_patch_ops(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx);
    static const struct {
        const char *op;
        enum stet_record_kind kind;
        enum stet_response_kind answer;
        int status;
    } cases[] = {
        {"cancel", STET_REC_SIGNAL, STET_RESPONSE_ACCEPTED, 202},
        {"kill", STET_REC_KILL, STET_RESPONSE_ACCEPTED, 202},
        {"purge", STET_REC_PURGE, STET_RESPONSE_OK, 200},
        {"pause", STET_REC_PAUSE, STET_RESPONSE_ACCEPTED, 202},
        {"resume", STET_REC_RESUME, STET_RESPONSE_OK, 200},
    };
    uint64_t last_request_id = 0;
    for (size_t i = 0; i < STET_ARRAY_LEN(cases); i++) {
        struct stet_invocation_id id;
        char ids[STET_INVOCATION_ID_STRLEN + 1], target[128];
        some_id(i, &id, ids);
        /* with and without an API version prefix */
        snprintf(target, sizeof(target), "%s/invocations/%s/%s", i % 2 ? "/v2" : "", ids, cases[i].op);
        struct client *c = client_send(fx, "PATCH", target, NULL, NULL);
        wait_proposals(fx, i + 1);
        const struct stet_record *r = &fx->props[i].r;
        assert_int_equal(r->kind, cases[i].kind);
        assert_int_equal(stet_invocation_id_cmp(&r->id, &id), 0);
        if (r->kind == STET_REC_SIGNAL) {
            assert_int_equal(r->signal_idx, 1); /* cancel is signal 1 */
            assert_int_equal(r->result_kind, STET_REC_RESULT_VOID);
        }
        assert_int_equal(r->sink.kind, STET_SINK_ADMIN);
        assert_int_equal(r->sink.node_id, NODE_ID);
        assert_int_equal(r->sink.generation, GENERATION);
        assert_true(r->sink.incarnation == INCARNATION);
        assert_true(r->sink.request_id > last_request_id);
        last_request_id = r->sink.request_id;
        assert_non_null(fx->props[i].cb); /* reports only a record that never became durable */
        expect_no_response(fx, c);

        struct stet_action a = admin_response(r, cases[i].answer, NULL);
        stet_invocations_response(fx->inv, &a);
        struct resp resp;
        wait_response(fx, c, &resp);
        assert_response(&resp, cases[i].status, "");
        client_close(c);
        /* a second answer for the same request finds nothing */
        stet_invocations_response(fx->inv, &a);
    }
    /* a record whose leader went away with it (a cluster): 503, not a request that hangs */
    struct stet_invocation_id id;
    char ids[STET_INVOCATION_ID_STRLEN + 1], target[128];
    some_id(99, &id, ids);
    snprintf(target, sizeof(target), "/invocations/%s/kill", ids);
    struct client *c = client_send(fx, "PATCH", target, NULL, NULL);
    size_t n = STET_ARRAY_LEN(cases);
    wait_proposals(fx, n + 1);
    expect_no_response(fx, c);
    durable(fx, n, -ETIMEDOUT);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 503);
    assert_non_null(strstr(resp.body, "may have been applied"));
    client_close(c);
    assert_int_equal(fx->unhandled, 0);
    fx_close(fx);
}

/* NOT_FOUND, CONFLICT (409, or 425 for "is either ..."), anything else 500. */
static void test_patch_answers(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx);
    struct stet_invocation_id id;
    char ids[STET_INVOCATION_ID_STRLEN + 1], target[128], msg[256];
    some_id(42, &id, ids);
    snprintf(target, sizeof(target), "/invocations/%s/kill", ids);
    static const struct {
        enum stet_response_kind kind;
        const char *value;
        int status;
        const char *message; /* %s: the id */
    } cases[] = {
        {STET_RESPONSE_NOT_FOUND, NULL, 404, "The requested invocation '%s' does not exist"},
        {STET_RESPONSE_CONFLICT, "is not running", 409, "The invocation '%s' is not running"},
        {STET_RESPONSE_CONFLICT, "is either not yet completed or completed without retention", 425,
         "The invocation '%s' is either not yet completed or completed without retention"},
        {STET_RESPONSE_VALUE, "x", 500, "unexpected answer from the partition processor"},
    };
    for (size_t i = 0; i < STET_ARRAY_LEN(cases); i++) {
        struct client *c = client_send(fx, "PATCH", target, NULL, NULL);
        wait_proposals(fx, i + 1);
        struct stet_action a = admin_response(&fx->props[i].r, cases[i].kind, cases[i].value);
        stet_invocations_response(fx->inv, &a);
        struct resp resp;
        wait_response(fx, c, &resp);
        snprintf(msg, sizeof(msg), cases[i].message, ids);
        assert_admin_error(&resp, cases[i].status, msg);
        client_close(c);
    }
    fx_close(fx);
}

/* Answers for another incarnation are dropped; a client that went away frees its entry and
 * a later answer does nothing. */
static void test_stale_and_aborted(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx);
    struct stet_invocation_id id;
    char ids[STET_INVOCATION_ID_STRLEN + 1], target[128];
    some_id(7, &id, ids);
    snprintf(target, sizeof(target), "/invocations/%s/cancel", ids);
    struct client *c = client_send(fx, "PATCH", target, NULL, NULL);
    wait_proposals(fx, 1);
    struct stet_action a = admin_response(&fx->props[0].r, STET_RESPONSE_OK, NULL);
    a.sink.incarnation = INCARNATION + 1;
    stet_invocations_response(fx->inv, &a);
    expect_no_response(fx, c);
    a.sink.incarnation = INCARNATION;
    stet_invocations_response(fx->inv, &a);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_response(&resp, 200, "");
    client_close(c);

    c = client_send(fx, "PATCH", target, NULL, NULL);
    wait_proposals(fx, 2);
    client_close(c);
    wait_no_connections(fx);
    a = admin_response(&fx->props[1].r, STET_RESPONSE_OK, NULL);
    stet_invocations_response(fx->inv, &a); /* ASan: the entry is gone, nothing is touched */
    for (int i = 0; i < 10; i++) pump_once(fx);

    /* still serving */
    c = client_send(fx, "PATCH", target, NULL, NULL);
    wait_proposals(fx, 3);
    a = admin_response(&fx->props[2].r, STET_RESPONSE_ACCEPTED, NULL);
    stet_invocations_response(fx->inv, &a);
    wait_response(fx, c, &resp);
    assert_response(&resp, 202, "");
    client_close(c);
    fx_close(fx);
}

/* Bad ids, unknown operations, wrong methods and proposal failures. */
static void test_patch_errors(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx);
    struct resp resp;
    char target[160];
    static const struct {
        const char *id;
        const char *reason;
    } bad[] = {
        {"inv_bogus", "unrecognized codec version"},
        {"nope", "bad format"},
        {"foo_1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "unrecognized resource type: foo"},
        {"dp_11KtnKBN2zjPWodnT5O7Ibv", "id doesn't match the expected type"},
    };
    for (size_t i = 0; i < STET_ARRAY_LEN(bad); i++) {
        char msg[256];
        snprintf(target, sizeof(target), "/invocations/%s/kill", bad[i].id);
        request(fx, "PATCH", target, NULL, NULL, &resp);
        snprintf(msg, sizeof(msg), "The request field 'invocation_id' is invalid. Reason: %s", bad[i].reason);
        assert_admin_error(&resp, 400, msg);
    }

    struct stet_invocation_id id;
    char ids[STET_INVOCATION_ID_STRLEN + 1];
    some_id(1, &id, ids);
    snprintf(target, sizeof(target), "/invocations/%s/frobnicate", ids);
    request(fx, "PATCH", target, NULL, NULL, &resp);
    assert_response(&resp, 404, "");
    snprintf(target, sizeof(target), "/invocations/%s/kill", ids);
    request(fx, "POST", target, NULL, NULL, &resp);
    assert_response(&resp, 405, "");
    assert_header(&resp, "allow", "PATCH");
    snprintf(target, sizeof(target), "/invocations/%s", ids);
    request(fx, "PATCH", target, NULL, NULL, &resp);
    assert_response(&resp, 405, "");
    assert_header(&resp, "allow", "DELETE");
    assert_int_equal(fx->propose_calls, 0);

    /* not this module's: other paths and unserved API versions */
    snprintf(target, sizeof(target), "/v1/invocations/%s/kill", ids);
    request(fx, "PATCH", target, NULL, NULL, &resp);
    assert_response(&resp, 404, "unhandled");
    request(fx, "GET", "/deployments", NULL, NULL, &resp);
    assert_response(&resp, 404, "unhandled");
    assert_int_equal(fx->unhandled, 2);

    /* the partition is led elsewhere, the log is full, the log failed: 503, nothing pending */
    static const int rcs[] = {-EAGAIN, -ENOBUFS, -EIO};
    snprintf(target, sizeof(target), "/invocations/%s/kill", ids);
    for (size_t i = 0; i < STET_ARRAY_LEN(rcs); i++) {
        fx->propose_rc = rcs[i];
        request(fx, "PATCH", target, NULL, NULL, &resp);
        assert_admin_error(&resp, 503, "Error when routing the request internally. Reason: log unavailable");
    }
    assert_int_equal(fx->propose_calls, 3);
    assert_int_equal(fx->n_props, 0);
    fx_close(fx);
}

/* The deprecated DELETE /invocations/{id}?mode=...: fire and forget, no sink, 202 at once. */
static void test_delete_deprecated(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx);
    struct stet_invocation_id id;
    char ids[STET_INVOCATION_ID_STRLEN + 1], target[160];
    some_id(3, &id, ids);
    static const struct {
        const char *query;
        enum stet_record_kind kind;
    } cases[] = {{"", STET_REC_SIGNAL}, {"?mode=Kill", STET_REC_KILL}, {"?x=1&mode=purge", STET_REC_PURGE}};
    struct resp resp;
    for (size_t i = 0; i < STET_ARRAY_LEN(cases); i++) {
        snprintf(target, sizeof(target), "/invocations/%s%s", ids, cases[i].query);
        request(fx, "DELETE", target, NULL, NULL, &resp);
        assert_response(&resp, 202, "");
        assert_int_equal(fx->n_props, i + 1);
        assert_int_equal(fx->props[i].r.kind, cases[i].kind);
        assert_int_equal(fx->props[i].r.sink.kind, STET_SINK_NONE);
        assert_int_equal(stet_invocation_id_cmp(&fx->props[i].r.id, &id), 0);
    }
    snprintf(target, sizeof(target), "/invocations/%s?mode=bogus", ids);
    request(fx, "DELETE", target, NULL, NULL, &resp);
    assert_response(&resp, 404, "");
    assert_int_equal(fx->n_props, 3);
    fx->propose_rc = -EIO;
    snprintf(target, sizeof(target), "/invocations/%s?mode=kill", ids);
    request(fx, "DELETE", target, NULL, NULL, &resp);
    assert_admin_error(&resp, 503, "Error when routing the request internally. Reason: log unavailable");
    fx_close(fx);
}

/* ---- POST /services/{svc}/state ------------------------------------------------------ */

static void test_state_mutation(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx);
    const char *json = "content-type: application/json\r\n";
    struct client *c = client_send(fx, "POST", "/services/Obj/state", json,
                                   "{\"object_key\":\"k1\",\"version\":\"v9\",\"new_state\":{\"a\":[1,2]}}");
    wait_proposals(fx, 1);
    const struct stet_record *r = &fx->props[0].r;
    assert_int_equal(r->kind, STET_REC_STATE_MUTATION);
    assert_true(slice_is(r->service, "Obj"));
    assert_true(r->keyed);
    assert_true(slice_is(r->key, "k1"));
    assert_true(r->id.partition_key == stet_partition_key_for_key("k1", 2));
    assert_true(r->has_state_version);
    assert_true(slice_is(r->state_version, "v9"));
    /* repeated {1 key, 2 value}: one entry a = [1, 2] */
    static const uint8_t want[] = {0x0a, 0x07, 0x0a, 0x01, 'a', 0x12, 0x02, 1, 2};
    assert_int_equal(r->payload.len, sizeof(want));
    assert_memory_equal(r->payload.ptr, want, sizeof(want));
    assert_non_null(fx->props[0].cb);
    expect_no_response(fx, c);
    durable(fx, 0, 0);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_response(&resp, 202, "");
    client_close(c);

    /* the log failed the append */
    c = client_send(fx, "POST", "/services/Wf/state", json, "{\"object_key\":\"w\",\"new_state\":{}}");
    wait_proposals(fx, 2);
    assert_false(fx->props[1].r.has_state_version);
    durable(fx, 1, -EIO);
    wait_response(fx, c, &resp);
    assert_admin_error(&resp, 503, "Error when routing the request internally. Reason: log unavailable");
    client_close(c);

    /* the client goes away before durability: the callback still frees the entry */
    c = client_send(fx, "POST", "/services/Obj/state", json, "{\"object_key\":\"k\",\"new_state\":{}}");
    wait_proposals(fx, 3);
    client_close(c);
    wait_no_connections(fx);
    durable(fx, 2, 0);

    request(fx, "POST", "/services/Svc/state", json, "{\"object_key\":\"k\",\"new_state\":{}}", &resp);
    assert_admin_error(&resp, 400, "Cannot modify state for service type Service");
    request(fx, "POST", "/services/Nope/state", json, "{\"object_key\":\"k\",\"new_state\":{\"a\":[1]}}", &resp);
    assert_admin_error(&resp, 404, "The requested service 'Nope' does not exist");
    request(fx, "POST", "/services/Obj/state", NULL, "{}", &resp);
    assert_int_equal(resp.status, 415);
    request(fx, "POST", "/services/Obj/state", json, "{\"object_key\":1,\"new_state\":{}}", &resp);
    assert_int_equal(resp.status, 422);
    request(fx, "POST", "/services/Obj/state", json, "{\"object_key\":\"k\",\"new_state\":{\"a\":[256]}}", &resp);
    assert_int_equal(resp.status, 422);
    request(fx, "GET", "/services/Obj/state", NULL, NULL, &resp);
    assert_response(&resp, 405, "");
    assert_header(&resp, "allow", "POST");
    assert_int_equal(fx->n_props, 3);
    fx->propose_rc = -ENOBUFS;
    request(fx, "POST", "/services/Obj/state", json, "{\"object_key\":\"k\",\"new_state\":{}}", &resp);
    assert_admin_error(&resp, 503, "Error when routing the request internally. Reason: log unavailable");
    fx_close(fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_ops),
        cmocka_unit_test(test_patch_answers),
        cmocka_unit_test(test_stale_and_aborted),
        cmocka_unit_test(test_patch_errors),
        cmocka_unit_test(test_delete_deprecated),
        cmocka_unit_test(test_state_mutation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
