/* Tests for src/ingress against fake ports (ingress.h: struct stet_ingress_ports).
 *
 * The fakes: `propose` copies every record it is given (the slices point into the ingress's
 * memory) and either refuses it with a chosen errno or keeps its durability callback, which the
 * test runs later (never from inside propose, as the log never does); `status_get` answers
 * "found" for one chosen invocation id; the schema is a persisted-JSON document with a service,
 * a virtual object and a workflow; the env is the simulated one (tests/unit/sim_env.h).
 *
 * HTTP: there is no way to hand a struct stet_http_request to a handler without the server
 * (stet_http_respond lives in src/http/server.c), so a real stet_http_server on 127.0.0.1:0
 * runs on a uv loop of the test thread and a tiny HTTP/1.1 client talks to it over loopback
 * sockets. Everything stays on one thread: the test writes a request (the kernel buffers it),
 * then pumps the loop with UV_RUN_NOWAIT until the fake saw the proposal or the client read a
 * whole response, so cmocka assertions and the fakes need no locking. */
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

#include "common/buf.h"
#include "common/ids.h"
#include "ingress/ingress.h"
#include "json/json.h"
#include "partition/partition.h"
#include "protocol/protocol.h"
#include "schema/schema.h"
#include "sim_env.h"

#define NODE_ID 7u
#define GENERATION 3u
#define INCARNATION 0x1234567890ull

/* Svc: a service (h takes optional JSON and answers JSON; priv is private); Obj: a virtual
 * object; Wf: a workflow. */
#define HANDLER(name, ty, pub)                                                                                      \
    "{\"name\":\"" name "\",\"ty\":\"" ty "\",\"public\":" pub ",\"input_required\":false,"                          \
    "\"input_content_type\":\"application/json\",\"output_content_type\":\"application/json\","                     \
    "\"output_set_content_type_if_empty\":false,\"enable_lazy_state\":null,\"retry\":{},\"metadata\":{}}"
#define SERVICE(name, ty, handlers)                                                                                 \
    "{\"name\":\"" name "\",\"ty\":\"" ty "\",\"revision\":1,\"public\":true,\"enable_lazy_state\":false,"           \
    "\"retry\":{},\"metadata\":{},\"handlers\":[" handlers "]}"
static const char *SCHEMA =
    "{\"format\":1,\"version\":1,\"deployments\":[{\"id\":\"dp_11KtnKBN2zjPWodnT5O7Ibv\",\"uri\":\"http://"
    "127.0.0.1:1/\",\"use_http_11\":false,\"request_response\":false,\"min_protocol\":5,\"max_protocol\":6,"
    "\"sdk_version\":\"test\",\"created_at_ms\":1,\"headers\":{},\"metadata\":{},\"services\":["
    SERVICE("Svc", "SERVICE", HANDLER("h", "UNSET", "null") "," HANDLER("priv", "UNSET", "false")) ","
    SERVICE("Obj", "VIRTUAL_OBJECT", HANDLER("add", "EXCLUSIVE", "null") "," HANDLER("get", "SHARED", "null")) ","
    SERVICE("Wf", "WORKFLOW", HANDLER("run", "WORKFLOW", "null") "," HANDLER("peek", "SHARED", "null"))
    "]}]}";

/* ---- fixture ------------------------------------------------------------------------- */

#define MAX_PROPOSALS 64

struct proposal {
    struct stet_record r; /* slices point into copies[] */
    void *copies[8];
    int n_copies;
    stet_log_append_cb cb;
    void *arg;
    bool done; /* cb ran (or there was none) */
};

struct fx {
    struct sim_env sim;
    uv_loop_t loop;
    struct stet_http_server *server;
    bool server_closed;
    int port;
    struct stet_schema *schema;
    struct stet_schema_defaults defaults;
    struct stet_ingress *ing;
    /* propose */
    int propose_rc; /* what the fake answers (0: accepted) */
    unsigned propose_calls;
    struct proposal props[MAX_PROPOSALS];
    size_t n_props;
    /* status_get: "found" for status_id when status_found */
    bool status_found;
    int status_error; /* non-zero: status_get fails with it */
    struct stet_invocation_id status_id;
    unsigned status_calls;
    struct stet_invocation_id status_last;
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
    p->r.handler = keep(p, r->handler);
    p->r.key = keep(p, r->key);
    p->r.input_entry = keep(p, r->input_entry);
    p->r.idempotency_key = keep(p, r->idempotency_key);
    p->r.payload = keep(p, r->payload);
    p->cb = cb;
    p->arg = arg;
    p->done = cb == NULL;
    if (lsn_out) *lsn_out = fx->n_props;
    return 0;
}

/* Runs the held durability callback of proposal i. */
static void durable(struct fx *fx, size_t i, int status) {
    assert_true(i < fx->n_props);
    struct proposal *p = &fx->props[i];
    assert_non_null(p->cb);
    assert_false(p->done);
    p->done = true;
    p->cb(p->arg, status, i + 1);
}

static int fake_status_get(void *ctx, const struct stet_invocation_id *id, struct stet_inv_status *st) {
    struct fx *fx = ctx;
    fx->status_calls++;
    fx->status_last = *id;
    if (fx->status_error) return fx->status_error;
    if (!fx->status_found || stet_invocation_id_cmp(id, &fx->status_id) != 0) return 1;
    st->service = (struct stet_slice){(const uint8_t *)"Svc", 3};
    st->handler = (struct stet_slice){(const uint8_t *)"h", 1};
    return 0;
}

static const struct stet_schema *fake_schema(void *ctx) { return ((struct fx *)ctx)->schema; }
static const struct stet_schema_defaults *fake_defaults(void *ctx) { return &((struct fx *)ctx)->defaults; }

static void fx_init(struct fx *fx, uint32_t concurrent_limit) {
    memset(fx, 0, sizeof(*fx));
    sim_env_init(&fx->sim, 42);
    char err[256];
    if (stet_schema_from_json(SCHEMA, strlen(SCHEMA), &fx->schema, err, sizeof(err)) != 0) fail_msg("schema: %s", err);
    stet_schema_defaults_init(&fx->defaults);
    struct stet_ingress_ports ports = {
        .ctx = fx, .env = &fx->sim.env, .node_id = NODE_ID, .generation = GENERATION, .incarnation = INCARNATION,
        .concurrent_limit = concurrent_limit, .schema = fake_schema, .schema_defaults = fake_defaults,
        .status_get = fake_status_get, .propose = fake_propose};
    assert_int_equal(stet_ingress_create(&ports, &fx->ing), 0);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    struct stet_http_server_config cfg = {.bind_address = "127.0.0.1:0", .error_format = "ingress"};
    char *errmsg = NULL;
    int rc = stet_http_server_create(&fx->loop, &cfg, stet_ingress_handle, fx->ing, &fx->server, &errmsg);
    if (rc != 0) fail_msg("server: %d %s", rc, errmsg ? errmsg : "");
    fx->port = stet_http_server_port(fx->server);
    assert_true(fx->port > 0);
}

static void on_server_closed(void *arg) { ((struct fx *)arg)->server_closed = true; }

static void fx_close(struct fx *fx) {
    /* the server first: pending requests get their abort while the ingress still exists */
    stet_http_server_destroy(fx->server, on_server_closed, fx);
    while (!fx->server_closed) uv_run(&fx->loop, UV_RUN_ONCE);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    /* the log fails whatever it still holds */
    for (size_t i = 0; i < fx->n_props; i++)
        if (!fx->props[i].done) durable(fx, i, -ESHUTDOWN);
    struct stet_ingress_stats st;
    stet_ingress_stats(fx->ing, &st);
    assert_int_equal(st.pending, 0);
    stet_ingress_destroy(fx->ing);
    for (size_t i = 0; i < fx->n_props; i++)
        for (int k = 0; k < fx->props[i].n_copies; k++) free(fx->props[i].copies[k]);
    stet_schema_free(fx->schema);
    sim_env_free(&fx->sim);
}

static void pump_once(struct fx *fx) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 1);
}

static struct stet_ingress_stats stats(struct fx *fx) {
    struct stet_ingress_stats st;
    stet_ingress_stats(fx->ing, &st);
    return st;
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

static void wait_pending(struct fx *fx, uint64_t n) {
    for (int i = 0; i < 5000 && stats(fx).pending != n; i++) pump_once(fx);
    assert_int_equal(stats(fx).pending, n);
}

/* One request on its own connection, answered without waiting for anything. */
static void request(struct fx *fx, const char *method, const char *target, const char *headers, const char *body,
                    struct resp *r) {
    struct client *c = client_send(fx, method, target, headers, body);
    wait_response(fx, c, r);
    client_close(c);
}

/* The value of a response header (copied, NUL-terminated), or NULL. */
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

static void assert_body(const struct resp *r, const char *want) {
    if (r->body_len != strlen(want) || memcmp(r->body, want, r->body_len) != 0)
        fail_msg("body %.*s, want %s", (int)r->body_len, r->body, want);
}

/* An ingress error: {"code":N,"message":"<message_prefix>...","source":"ingress"}. */
static void assert_ingress_error(const struct resp *r, int status, const char *message_prefix) {
    if (r->status != status) fail_msg("status %d, want %d: %.*s", r->status, status, (int)r->body_len, r->body);
    assert_header(r, "content-type", "application/json");
    assert_header(r, "x-restate-error-source", "ingress");
    struct stet_json *j = NULL;
    char err[128];
    if (stet_json_parse(r->body, r->body_len, &j, err, sizeof(err)) != 0) fail_msg("json: %s", err);
    int64_t code = 0;
    assert_true(stet_json_int64(stet_json_object_get(j, "code"), &code));
    assert_int_equal(code, status);
    size_t n = 0;
    const char *src = stet_json_string(stet_json_object_get(j, "source"), &n);
    assert_non_null(src);
    assert_int_equal(n, 7);
    assert_memory_equal(src, "ingress", 7);
    const char *msg = stet_json_string(stet_json_object_get(j, "message"), &n);
    assert_non_null(msg);
    if (n < strlen(message_prefix) || memcmp(msg, message_prefix, strlen(message_prefix)) != 0)
        fail_msg("message '%.*s', want it to start with '%s'", (int)n, msg, message_prefix);
    stet_json_free(j);
}

static bool slice_is(struct stet_slice s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

static void assert_ingress_sink(const struct stet_inv_sink *s) {
    assert_int_equal(s->kind, STET_SINK_INGRESS);
    assert_int_equal(s->node_id, NODE_ID);
    assert_int_equal(s->generation, GENERATION);
    assert_true(s->incarnation == INCARNATION);
    assert_true(s->request_id != 0);
}

static struct stet_action response_for(const struct stet_record *r, enum stet_response_kind kind, const char *value) {
    struct stet_action a;
    memset(&a, 0, sizeof(a));
    a.kind = STET_ACTION_INGRESS_RESPONSE;
    a.id = r->id;
    a.sink = r->sink;
    a.response = kind;
    if (value) a.value = (struct stet_slice){(const uint8_t *)value, strlen(value)};
    return a;
}

/* ---- calls --------------------------------------------------------------------------- */

/* POST /Svc/h: an INVOKE naming this request as its sink; the answer comes only from the
 * INGRESS_RESPONSE action, with the output and the handler's content type. */
static void test_call_service(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    /* the ingress draws the partition key and the ULID's random bits from the env */
    struct sim_env copy = fx->sim;
    uint64_t want_pk = sim_random(&copy);
    uint64_t r1 = sim_random(&copy), r2 = sim_random(&copy);

    struct client *c = client_send(fx, "POST", "/Svc/h?x=1", "content-type: application/json\r\n"
                                                            "idempotency-expires: 1\r\nx-custom: yes\r\n", "{\"a\":1}");
    wait_proposals(fx, 1);
    const struct stet_record *r = &fx->props[0].r;
    assert_int_equal(r->kind, STET_REC_INVOKE);
    assert_true(slice_is(r->service, "Svc"));
    assert_true(slice_is(r->handler, "h"));
    assert_false(r->keyed);
    assert_int_equal(r->key.len, 0);
    assert_int_equal(r->service_type, STET_SERVICE);
    assert_int_equal(r->handler_type, STET_HANDLER_UNSET);
    assert_false(r->has_idempotency_key);
    assert_int_equal(r->execute_at_ms, 0);
    assert_true(r->id.partition_key == want_pk);
    uint8_t u1[16], u2[16];
    stet_ulid_make(fx->sim.now_ms, r1, r2, u1);
    stet_ulid_make(fx->sim.now_ms, r2, r1, u2); /* the two draws are two arguments of one call */
    assert_true(memcmp(r->id.uuid, u1, 16) == 0 || memcmp(r->id.uuid, u2, 16) == 0);
    assert_ingress_sink(&r->sink);
    /* a call is answered by the action; its callback only reports a record that never became
     * durable */
    assert_non_null(fx->props[0].cb);
    const struct stet_service_schema *svc = stet_schema_find_service(fx->schema, "Svc", 3);
    const struct stet_handler_schema *h = stet_schema_find_handler(svc, "h", 1);
    assert_true(r->completion_retention_ms == stet_schema_completion_retention(svc, h, &fx->defaults));
    assert_true(r->journal_retention_ms == stet_schema_journal_retention(svc, h, &fx->defaults));

    /* journal entry 0: the body and the headers, minus host and idempotency ones, plus the path */
    struct stet_slice body;
    struct stet_header_kv *hv = NULL;
    size_t nh = 0;
    assert_int_equal(stet_proto_decode_input(r->input_entry.ptr, r->input_entry.len, &body, &hv, &nh), 0);
    assert_true(slice_is(body, "{\"a\":1}"));
    bool path = false, custom = false, ct = false;
    for (size_t i = 0; i < nh; i++) {
        assert_false(slice_is(hv[i].key, "host"));
        assert_false(slice_is(hv[i].key, "idempotency-expires"));
        if (slice_is(hv[i].key, "x-restate-ingress-path")) path = slice_is(hv[i].value, "/Svc/h?x=1");
        if (slice_is(hv[i].key, "x-custom")) custom = slice_is(hv[i].value, "yes");
        if (slice_is(hv[i].key, "content-type")) ct = slice_is(hv[i].value, "application/json");
    }
    free(hv);
    assert_true(path);
    assert_true(custom);
    assert_true(ct);

    expect_no_response(fx, c);
    assert_int_equal(stats(fx).pending, 1);

    sim_env_run_for(&fx->sim, 250); /* the request took 250 ms */
    struct stet_action a = response_for(r, STET_RESPONSE_VALUE, "\"hello\"");
    stet_ingress_respond(fx->ing, &a);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 200);
    assert_body(&resp, "\"hello\"");
    assert_header(&resp, "content-type", "application/json");
    char id[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&r->id, id);
    assert_header(&resp, "x-restate-id", id);
    client_close(c);

    struct stet_ingress_stats st = stats(fx);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.responses_2xx, 1);
    assert_int_equal(st.request_duration.count, 1);
    assert_true(st.request_duration.sum > 0.249 && st.request_duration.sum < 0.251);

    /* a second answer for the same sink finds nothing */
    stet_ingress_respond(fx->ing, &a);
    assert_int_equal(stats(fx).responses_2xx, 1);
    fx_close(fx);
}

/* An empty output gets no content type (output_set_content_type_if_empty is false); a
 * failure is rendered with the invocation as its source and its code as the status. */
static void test_call_empty_output_and_failure(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct client *c1 = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 1);
    struct client *c2 = client_send(fx, "GET", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 2);
    assert_true(fx->props[0].r.sink.request_id != fx->props[1].r.sink.request_id);

    struct stet_action a = response_for(&fx->props[0].r, STET_RESPONSE_VALUE, NULL);
    stet_ingress_respond(fx->ing, &a);
    struct resp resp;
    wait_response(fx, c1, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 0);
    char v[64];
    assert_null(header(&resp, "content-type", v, sizeof(v)));

    struct stet_buf failure = STET_BUF_INIT;
    stet_proto_encode_failure(&failure, 418, "teapot", 6);
    a = response_for(&fx->props[1].r, STET_RESPONSE_FAILURE, NULL);
    a.failure_code = 418;
    a.failure_raw = (struct stet_slice){failure.data, failure.len};
    stet_ingress_respond(fx->ing, &a);
    wait_response(fx, c2, &resp);
    assert_int_equal(resp.status, 418);
    assert_body(&resp, "{\"code\":418,\"message\":\"teapot\",\"source\":\"invocation\"}");
    assert_header(&resp, "x-restate-error-source", "invocation");
    stet_buf_free(&failure);
    client_close(c1);
    client_close(c2);
    fx_close(fx);
}

/* POST /Obj/{key}/add: keyed, the partition key is the key's hash; an idempotency key on a
 * service call makes the id deterministic. */
static void test_call_object_and_idempotent(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct client *c = client_send(fx, "POST", "/Obj/my%20key/add", NULL, NULL);
    wait_proposals(fx, 1);
    const struct stet_record *r = &fx->props[0].r;
    assert_int_equal(r->kind, STET_REC_INVOKE);
    assert_true(slice_is(r->service, "Obj"));
    assert_true(slice_is(r->handler, "add"));
    assert_true(r->keyed);
    assert_true(slice_is(r->key, "my key"));
    assert_int_equal(r->service_type, STET_VIRTUAL_OBJECT);
    assert_int_equal(r->handler_type, STET_HANDLER_EXCLUSIVE);
    assert_true(r->id.partition_key == stet_partition_key_for_key("my key", 6));
    assert_ingress_sink(&r->sink);
    client_close(c);
    wait_pending(fx, 0);

    c = client_send(fx, "POST", "/Svc/h", "idempotency-key: idem-1\r\n", NULL);
    wait_proposals(fx, 2);
    r = &fx->props[1].r;
    assert_true(r->has_idempotency_key);
    assert_true(slice_is(r->idempotency_key, "idem-1"));
    assert_true(r->id.partition_key == stet_partition_key_for_key("idem-1", 6));
    uint8_t uuid[16];
    stet_uuid_for_idempotency("Svc", 3, NULL, 0, "h", 1, "idem-1", 6, uuid);
    assert_memory_equal(r->id.uuid, uuid, 16);
    assert_ingress_sink(&r->sink);
    assert_true(fx->props[0].r.sink.request_id != r->sink.request_id);
    client_close(c);
    wait_pending(fx, 0);
    fx_close(fx);
}

/* Requests refused before anything is proposed. */
static void test_call_errors(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct resp resp;
    request(fx, "POST", "/Nope/h", NULL, NULL, &resp);
    assert_ingress_error(&resp, 404, "service 'Nope' not found, make sure to register the service before calling it.");
    request(fx, "POST", "/Svc/nope", NULL, NULL, &resp);
    assert_ingress_error(&resp, 404, "the service 'Svc' exists, but the handler 'nope' was not found");
    /* an object call without key */
    request(fx, "POST", "/Obj/add", NULL, NULL, &resp);
    assert_ingress_error(&resp, 400,
                         "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler");
    request(fx, "POST", "/Svc/priv", NULL, NULL, &resp);
    assert_ingress_error(&resp, 400, "the invoked service is not public");
    request(fx, "PUT", "/Svc/h", NULL, NULL, &resp);
    assert_ingress_error(&resp, 405, "method not allowed");
    request(fx, "POST", "/Svc/h", "content-type: text/plain\r\n", "x", &resp);
    assert_ingress_error(&resp, 400, "input validation error: ");
    request(fx, "POST", "/Svc/h?delay=1s", NULL, NULL, &resp);
    assert_ingress_error(&resp, 400, "cannot use the delay query parameter with calls");
    request(fx, "POST", "/Wf/k/run", "idempotency-key: x\r\n", NULL, &resp);
    assert_ingress_error(&resp, 400, "cannot use the idempotency key with workflow handlers");
    request(fx, "GET", "/restate/nothing", NULL, NULL, &resp);
    assert_ingress_error(&resp, 404, "not found");
    assert_int_equal(fx->propose_calls, 0);
    struct stet_ingress_stats st = stats(fx);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.responses_4xx, 9);
    fx_close(fx);
}

/* ---- sends --------------------------------------------------------------------------- */

/* POST /Svc/h/send: 202 {"invocationId","status":"Accepted"} from the durability callback,
 * nothing before it. */
static void test_send_after_durable(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct client *c = client_send(fx, "POST", "/Svc/h/send", NULL, NULL);
    wait_proposals(fx, 1);
    const struct stet_record *r = &fx->props[0].r;
    assert_int_equal(r->kind, STET_REC_INVOKE);
    assert_true(slice_is(r->service, "Svc"));
    assert_true(slice_is(r->handler, "h"));
    assert_int_equal(r->sink.kind, STET_SINK_NONE); /* nobody waits for a send's result */
    assert_non_null(fx->props[0].cb);
    assert_int_equal(fx->status_calls, 0); /* no idempotency key: nothing to look up */
    expect_no_response(fx, c);
    assert_int_equal(stats(fx).pending, 1);

    durable(fx, 0, 0);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 202);
    char id[STET_INVOCATION_ID_STRLEN + 1], want[128];
    stet_invocation_id_format(&r->id, id);
    snprintf(want, sizeof(want), "{\"invocationId\":\"%s\",\"status\":\"Accepted\"}", id);
    assert_body(&resp, want);
    assert_header(&resp, "content-type", "application/json");
    assert_header(&resp, "x-restate-id", id);
    client_close(c);
    assert_int_equal(stats(fx).pending, 0);

    /* a send with a delay carries its execution time */
    c = client_send(fx, "POST", "/Obj/k/add/send?delay=10s", NULL, NULL);
    wait_proposals(fx, 2);
    r = &fx->props[1].r;
    assert_true(r->keyed);
    assert_true(r->execute_at_ms == fx->sim.now_ms + 10000);
    durable(fx, 1, 0);
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 202);
    assert_non_null(strstr(resp.body, "\"executionTime\":\""));
    client_close(c);

    /* the log failed the append: 503, nothing accepted */
    c = client_send(fx, "POST", "/Svc/h/send", NULL, NULL);
    wait_proposals(fx, 3);
    expect_no_response(fx, c);
    durable(fx, 2, -EIO);
    wait_response(fx, c, &resp);
    assert_ingress_error(&resp, 503, "internal routing error: the log is unavailable");
    client_close(c);

    /* a call whose record reached a leader that lost its leadership before acknowledging it:
     * Restate's "may have been correctly submitted", not a silent retry */
    c = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 4);
    expect_no_response(fx, c);
    durable(fx, 3, -ETIMEDOUT);
    wait_response(fx, c, &resp);
    assert_ingress_error(&resp, 503, "the request may have been correctly submitted");
    client_close(c);
    assert_int_equal(stats(fx).pending, 0);
    fx_close(fx);
}

/* A send naming an existing invocation (idempotency key, workflow run) is PreviouslyAccepted. */
static void test_send_previously_accepted(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct stet_invocation_id idem_id;
    idem_id.partition_key = stet_partition_key_for_key("k1", 2);
    stet_uuid_for_idempotency("Svc", 3, NULL, 0, "h", 1, "k1", 2, idem_id.uuid);
    fx->status_found = true;
    fx->status_id = idem_id;

    struct client *c = client_send(fx, "POST", "/Svc/h/send", "idempotency-key: k1\r\n", NULL);
    wait_proposals(fx, 1);
    assert_int_equal(fx->status_calls, 1);
    assert_int_equal(stet_invocation_id_cmp(&fx->status_last, &idem_id), 0);
    assert_int_equal(stet_invocation_id_cmp(&fx->props[0].r.id, &idem_id), 0);
    expect_no_response(fx, c);
    durable(fx, 0, 0);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 202);
    char id[STET_INVOCATION_ID_STRLEN + 1], want[128];
    stet_invocation_id_format(&idem_id, id);
    snprintf(want, sizeof(want), "{\"invocationId\":\"%s\",\"status\":\"PreviouslyAccepted\"}", id);
    assert_body(&resp, want);
    client_close(c);

    /* another key: not found, Accepted */
    c = client_send(fx, "POST", "/Svc/h/send", "idempotency-key: k2\r\n", NULL);
    wait_proposals(fx, 2);
    assert_int_equal(fx->status_calls, 2);
    durable(fx, 1, 0);
    wait_response(fx, c, &resp);
    assert_non_null(strstr(resp.body, "\"status\":\"Accepted\""));
    client_close(c);

    /* a workflow run is idempotent by its key */
    struct stet_invocation_id wf_id;
    wf_id.partition_key = stet_partition_key_for_key("w1", 2);
    stet_uuid_for_workflow("Wf", 2, "w1", 2, wf_id.uuid);
    fx->status_id = wf_id;
    c = client_send(fx, "POST", "/Wf/w1/run/send", NULL, NULL);
    wait_proposals(fx, 3);
    const struct stet_record *r = &fx->props[2].r;
    assert_int_equal(stet_invocation_id_cmp(&r->id, &wf_id), 0);
    assert_int_equal(r->service_type, STET_WORKFLOW);
    assert_int_equal(r->handler_type, STET_HANDLER_WORKFLOW);
    assert_false(r->has_idempotency_key);
    durable(fx, 2, 0);
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 202);
    assert_non_null(strstr(resp.body, "\"status\":\"PreviouslyAccepted\""));
    client_close(c);

    /* the status cannot be read: no guess, 503, nothing proposed (Stet's own answer: Restate has
     * no separate status read at this point) */
    fx->status_error = -EIO;
    c = client_send(fx, "POST", "/Svc/h/send", "idempotency-key: k3\r\n", NULL);
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 503);
    assert_int_equal(fx->n_props, 3);
    client_close(c);
    fx->status_error = 0;
    fx_close(fx);
}

/* ---- refused proposals --------------------------------------------------------------- */

/* Differs from Restate 1.7.12 on purpose (issue 10): Restate keeps a request waiting while its
 * log is busy (backpressure, memory grows with the backlog); Stet bounds what waits for the log
 * and answers a full log with 429 + Retry-After in Restate's error JSON, so a client can retry
 * and nothing it was not told 202 about is kept. */
static void test_propose_refused(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    static const char *const targets[] = {"/Svc/h", "/Svc/h/send"};
    struct resp resp;
    char v[64];
    for (size_t t = 0; t < 2; t++) {
        fx->propose_rc = -ENOBUFS;
        request(fx, "POST", targets[t], NULL, NULL, &resp);
        assert_ingress_error(&resp, 429, "too many requests, the ingress is overloaded. Retry later.");
        assert_body(&resp, "{\"code\":429,\"message\":\"too many requests, the ingress is overloaded. Retry later.\","
                           "\"source\":\"ingress\"}");
        assert_header(&resp, "retry-after", "1");

        fx->propose_rc = -EAGAIN; /* no leader reachable */
        request(fx, "POST", targets[t], NULL, NULL, &resp);
        assert_ingress_error(&resp, 503, "the partition has no leader");
        assert_null(header(&resp, "retry-after", v, sizeof(v)));

        fx->propose_rc = -EIO;
        request(fx, "POST", targets[t], NULL, NULL, &resp);
        assert_ingress_error(&resp, 503, "internal routing error: the log is unavailable.");
    }
    assert_int_equal(fx->propose_calls, 6);
    assert_int_equal(fx->n_props, 0);
    struct stet_ingress_stats st = stats(fx);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.overloaded, 2);
    assert_int_equal(st.responses_4xx, 2);
    assert_int_equal(st.responses_5xx, 4);

    /* the ingress works again once the log takes records */
    fx->propose_rc = 0;
    struct client *c = client_send(fx, "POST", "/Svc/h/send", NULL, NULL);
    wait_proposals(fx, 1);
    durable(fx, 0, 0);
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 202);
    client_close(c);
    fx_close(fx);
}

/* ---- attach / output by id ----------------------------------------------------------- */

static void test_output_and_attach_by_id(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct stet_invocation_id id = {.partition_key = 0x0123456789abcdefull};
    for (int i = 0; i < 16; i++) id.uuid[i] = (uint8_t)(i * 7 + 1);
    char ids[STET_INVOCATION_ID_STRLEN + 1], target[128];
    stet_invocation_id_format(&id, ids);
    fx->status_found = true;
    fx->status_id = id;

    snprintf(target, sizeof(target), "/restate/invocation/%s/output", ids);
    struct client *c = client_send(fx, "GET", target, NULL, NULL);
    wait_proposals(fx, 1);
    const struct stet_record *r = &fx->props[0].r;
    assert_int_equal(r->kind, STET_REC_ATTACH);
    assert_int_equal(r->attach_mode, STET_ATTACH_OUTPUT);
    assert_int_equal(stet_invocation_id_cmp(&r->id, &id), 0);
    assert_ingress_sink(&r->sink);
    assert_non_null(fx->props[0].cb); /* reports only a record that never became durable */
    expect_no_response(fx, c);
    /* the output's content type comes from the invocation's handler (status_get + schema) */
    struct stet_action a = response_for(r, STET_RESPONSE_VALUE, "42");
    stet_ingress_respond(fx->ing, &a);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 200);
    assert_body(&resp, "42");
    assert_header(&resp, "content-type", "application/json");
    assert_header(&resp, "x-restate-id", ids);
    client_close(c);

    /* not ready: 470; not found: 404 from the ingress */
    c = client_send(fx, "GET", target, NULL, NULL);
    wait_proposals(fx, 2);
    a = response_for(&fx->props[1].r, STET_RESPONSE_NOT_READY, NULL);
    stet_ingress_respond(fx->ing, &a);
    wait_response(fx, c, &resp);
    assert_ingress_error(&resp, 470, "the invocation exists but has not completed yet");
    client_close(c);
    c = client_send(fx, "GET", target, NULL, NULL);
    wait_proposals(fx, 3);
    a = response_for(&fx->props[2].r, STET_RESPONSE_NOT_FOUND, NULL);
    stet_ingress_respond(fx->ing, &a);
    wait_response(fx, c, &resp);
    assert_ingress_error(&resp, 404, "invocation not found");
    client_close(c);

    /* attach waits (mode WAIT); its not-found is reported as an invocation failure */
    snprintf(target, sizeof(target), "/restate/invocation/%s/attach", ids);
    c = client_send(fx, "GET", target, NULL, NULL);
    wait_proposals(fx, 4);
    assert_int_equal(fx->props[3].r.kind, STET_REC_ATTACH);
    assert_int_equal(fx->props[3].r.attach_mode, STET_ATTACH_WAIT);
    a = response_for(&fx->props[3].r, STET_RESPONSE_NOT_FOUND, NULL);
    stet_ingress_respond(fx->ing, &a);
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 404);
    assert_body(&resp, "{\"code\":404,\"message\":\"not found\",\"source\":\"invocation\"}");
    assert_header(&resp, "x-restate-error-source", "invocation");
    client_close(c);

    /* bad ids, wrong method, refused proposal */
    request(fx, "GET", "/restate/invocation/inv_bogus/output", NULL, NULL, &resp);
    assert_ingress_error(&resp, 400, "bad invocation id 'inv_bogus': ");
    snprintf(target, sizeof(target), "/restate/invocation/%s/output", ids);
    request(fx, "POST", target, NULL, NULL, &resp);
    assert_ingress_error(&resp, 405, "method not allowed");
    fx->propose_rc = -EAGAIN;
    request(fx, "GET", target, NULL, NULL, &resp);
    assert_ingress_error(&resp, 503, "the partition has no leader");
    assert_int_equal(stats(fx).pending, 0);
    fx_close(fx);
}

/* ---- stale answers and clients that went away ---------------------------------------- */

/* A response whose sink names another incarnation of the process is dropped. */
static void test_response_other_incarnation_ignored(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct client *c = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 1);
    struct stet_action a = response_for(&fx->props[0].r, STET_RESPONSE_VALUE, "\"stale\"");
    a.sink.incarnation = INCARNATION + 1;
    stet_ingress_respond(fx->ing, &a);
    expect_no_response(fx, c);
    assert_int_equal(stats(fx).pending, 1);
    assert_int_equal(stats(fx).responses_2xx, 0);

    a.sink.incarnation = INCARNATION;
    a.value = (struct stet_slice){(const uint8_t *)"\"fresh\"", 7};
    stet_ingress_respond(fx->ing, &a);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 200);
    assert_body(&resp, "\"fresh\"");
    client_close(c);
    assert_int_equal(stats(fx).pending, 0);
    fx_close(fx);
}

/* A client that goes away frees its pending entry; a later response or durability
 * callback finds nothing. */
static void test_client_abort(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 0);
    struct client *call = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 1);
    struct client *send = client_send(fx, "POST", "/Svc/h/send", NULL, NULL);
    wait_proposals(fx, 2);
    assert_int_equal(stats(fx).pending, 2);

    client_close(call);
    wait_pending(fx, 1);
    client_close(send);
    wait_pending(fx, 0);

    struct stet_ingress_stats before = stats(fx);
    struct stet_action a = response_for(&fx->props[0].r, STET_RESPONSE_VALUE, "\"late\"");
    stet_ingress_respond(fx->ing, &a);
    durable(fx, 1, 0);
    for (int i = 0; i < 10; i++) pump_once(fx);
    struct stet_ingress_stats after = stats(fx);
    assert_int_equal(after.pending, 0);
    assert_int_equal(after.responses_2xx, before.responses_2xx);
    assert_int_equal(after.responses_4xx, before.responses_4xx);
    assert_int_equal(after.responses_5xx, before.responses_5xx);

    /* the ingress still serves */
    struct client *c = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 3);
    a = response_for(&fx->props[2].r, STET_RESPONSE_VALUE, "1");
    stet_ingress_respond(fx->ing, &a);
    struct resp resp;
    wait_response(fx, c, &resp);
    assert_int_equal(resp.status, 200);
    client_close(c);
    fx_close(fx);
}

/* ---- ingress.concurrent-api-requests-limit ------------------------------------------- */

static void test_concurrent_limit(void **state) {
    (void)state;
    struct fx *fx = &FX;
    fx_init(fx, 2);
    struct client *c1 = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 1);
    struct client *c2 = client_send(fx, "POST", "/Svc/h/send", NULL, NULL);
    wait_proposals(fx, 2);
    assert_int_equal(stats(fx).pending, 2);

    struct resp resp;
    request(fx, "POST", "/Svc/h", NULL, NULL, &resp);
    assert_ingress_error(&resp, 429, "too many requests: 2 requests are in flight "
                                     "(ingress.concurrent-api-requests-limit). Retry later.");
    assert_header(&resp, "retry-after", "1");
    request(fx, "POST", "/Svc/h/send", NULL, NULL, &resp);
    assert_int_equal(resp.status, 429);
    /* an attach or output request holds a pending entry as long as a call: limited too */
    struct stet_invocation_id id = {.partition_key = 99};
    char ids[STET_INVOCATION_ID_STRLEN + 1], target[128];
    stet_invocation_id_format(&id, ids);
    snprintf(target, sizeof(target), "/restate/invocation/%s/output", ids);
    request(fx, "GET", target, NULL, NULL, &resp);
    assert_ingress_error(&resp, 429, "too many requests: 2 requests are in flight");
    assert_int_equal(fx->propose_calls, 2); /* refused before proposing */
    assert_int_equal(stats(fx).overloaded, 3);

    /* answers that need no pending entry are not limited */
    request(fx, "GET", "/restate/health", NULL, NULL, &resp);
    assert_int_equal(resp.status, 200);

    /* one finishes: room for one more */
    durable(fx, 1, 0);
    wait_response(fx, c2, &resp);
    assert_int_equal(resp.status, 202);
    client_close(c2);
    struct client *c3 = client_send(fx, "POST", "/Svc/h", NULL, NULL);
    wait_proposals(fx, 3);
    assert_int_equal(stats(fx).pending, 2);
    request(fx, "POST", "/Svc/h", NULL, NULL, &resp);
    assert_int_equal(resp.status, 429);

    struct stet_action a = response_for(&fx->props[0].r, STET_RESPONSE_VALUE, "1");
    stet_ingress_respond(fx->ing, &a);
    wait_response(fx, c1, &resp);
    assert_int_equal(resp.status, 200);
    a = response_for(&fx->props[2].r, STET_RESPONSE_VALUE, "2");
    stet_ingress_respond(fx->ing, &a);
    wait_response(fx, c3, &resp);
    assert_int_equal(resp.status, 200);
    client_close(c1);
    client_close(c3);
    assert_int_equal(stats(fx).pending, 0);
    fx_close(fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_service),
        cmocka_unit_test(test_call_empty_output_and_failure),
        cmocka_unit_test(test_call_object_and_idempotent),
        cmocka_unit_test(test_call_errors),
        cmocka_unit_test(test_send_after_durable),
        cmocka_unit_test(test_send_previously_accepted),
        cmocka_unit_test(test_propose_refused),
        cmocka_unit_test(test_output_and_attach_by_id),
        cmocka_unit_test(test_response_other_incarnation_ignored),
        cmocka_unit_test(test_client_abort),
        cmocka_unit_test(test_concurrent_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
