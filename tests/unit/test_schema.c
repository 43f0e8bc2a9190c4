/* Tests for src/schema: the v6 trace manifest, registration semantics (http-api.md §4.5),
 * admin renderings compared byte-for-byte with restate-server 1.7.12 captures, PATCH,
 * removal, the persistence round trip, and the input/output rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"
#include "schema/schema.h"

static char *read_manifest(size_t *len) {
    const char *dir = getenv("STET_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/manifest_v6.json", dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    if (f == NULL) fail_msg("cannot open %s: run from the repository root or set STET_SOURCE_DIR", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A deployment parsed from a manifest, with the registration-time fields filled. */
static void make_dep(struct stet_deployment_schema *dep, const char *manifest, const char *uri, const char *id,
                     uint64_t created_at_ms) {
    memset(dep, 0, sizeof(*dep));
    enum stet_manifest_error_kind kind;
    char err[512];
    int rc = stet_schema_parse_manifest(manifest, strlen(manifest), dep, &kind, err, sizeof(err));
    if (rc != 0) fail_msg("manifest rejected: %s", err);
    assert_int_equal(stet_deployment_id_parse(id, strlen(id), dep->id), 0);
    dep->uri = strdup(uri);
    dep->created_at_ms = created_at_ms;
    dep->sdk_version = strdup("restate-sdk-typescript/1.17.2");
}

static struct stet_schema *register_ok(struct stet_schema *cur, struct stet_deployment_schema *dep, bool breaking,
                                       bool overwrite, enum stet_register_result expect, uint8_t id[16]) {
    struct stet_schema *next = NULL;
    enum stet_register_result res;
    struct stet_schema_error err;
    int rc = stet_schema_register(cur, dep, breaking, overwrite, &next, &res, id, &err);
    if (rc != 0) fail_msg("register failed: %d %s", err.http_status, err.message);
    assert_int_equal(res, expect);
    if (expect == STET_REGISTER_UNCHANGED) {
        assert_null(next);
        return cur;
    }
    assert_non_null(next);
    stet_schema_check(next);
    stet_schema_unref(cur);
    return next;
}

static char *render_service(const struct stet_schema *s, const char *name) {
    const struct stet_deployment_schema *dep;
    const struct stet_service_schema *svc = stet_schema_find_service_dep(s, name, strlen(name), &dep);
    if (svc == NULL) fail_msg("service %s not found", name);
    struct stet_schema_defaults d;
    stet_schema_defaults_init(&d);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_schema_render_service(&w, dep, svc, &d);
    char *out = stet_buf_strdup(&b);
    stet_buf_free(&b);
    return out;
}

#define V6_ID "dp_10kBvWtEwpJnDNWmfNdWn4d"

/* captured from restate-server 1.7.12 (traces/v6/discovery.json), handlers in manifest order */
static const char expect_greeter[] =
    "{\"name\":\"Greeter\",\"ty\":\"Service\",\"handlers\":[{\"name\":\"greet\",\"public\":true,\"input_description\":"
    "\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{\"max_attempts\":null}}],"
    "\"deployment_id\":\"dp_10kBvWtEwpJnDNWmfNdWn4d\",\"revision\":1,\"public\":true,\"idempotency_retention\":\"1d\","
    "\"journal_retention\":\"1d\",\"inactivity_timeout\":\"1m\",\"abort_timeout\":\"10m\",\"enable_lazy_state\":false,"
    "\"retry_policy\":{\"initial_interval\":\"500ms\",\"exponentiation_factor\":2.0,\"max_attempts\":70,"
    "\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}";
static const char expect_counter[] =
    "{\"name\":\"Counter\",\"ty\":\"VirtualObject\",\"handlers\":[{\"name\":\"add\",\"ty\":\"Exclusive\",\"public\":"
    "true,\"input_description\":\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{"
    "\"max_attempts\":null}},{\"name\":\"get\",\"ty\":\"Shared\",\"public\":true,\"input_description\":\"application/"
    "json\",\"output_description\":\"application/json\",\"retry_policy\":{\"max_attempts\":null}},{\"name\":\"keys\","
    "\"ty\":\"Shared\",\"public\":true,\"input_description\":\"application/json\",\"output_description\":"
    "\"application/json\",\"retry_policy\":{\"max_attempts\":null}},{\"name\":\"clear\",\"ty\":\"Exclusive\","
    "\"public\":true,\"input_description\":\"application/json\",\"output_description\":\"application/json\","
    "\"retry_policy\":{\"max_attempts\":null}},{\"name\":\"reset\",\"ty\":\"Exclusive\",\"public\":true,"
    "\"input_description\":\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{"
    "\"max_attempts\":null}}],\"deployment_id\":\"dp_10kBvWtEwpJnDNWmfNdWn4d\",\"revision\":1,\"public\":true,"
    "\"idempotency_retention\":\"1d\",\"journal_retention\":\"1d\",\"inactivity_timeout\":\"1m\",\"abort_timeout\":"
    "\"10m\",\"enable_lazy_state\":false,\"retry_policy\":{\"initial_interval\":\"500ms\",\"exponentiation_factor\":"
    "2.0,\"max_attempts\":70,\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}";
static const char expect_sleeper_suspend[] =
    "{\"name\":\"SleeperSuspend\",\"ty\":\"Service\",\"handlers\":[{\"name\":\"sleep\",\"public\":true,"
    "\"input_description\":\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{"
    "\"max_attempts\":null}}],\"deployment_id\":\"dp_10kBvWtEwpJnDNWmfNdWn4d\",\"revision\":1,\"public\":true,"
    "\"idempotency_retention\":\"1d\",\"journal_retention\":\"1d\",\"inactivity_timeout\":\"50ms\",\"abort_timeout\":"
    "\"10m\",\"enable_lazy_state\":false,\"retry_policy\":{\"initial_interval\":\"500ms\",\"exponentiation_factor\":"
    "2.0,\"max_attempts\":70,\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}";
static const char expect_approval[] =
    "{\"name\":\"Approval\",\"ty\":\"Workflow\",\"handlers\":[{\"name\":\"run\",\"ty\":\"Workflow\",\"public\":true,"
    "\"input_description\":\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{"
    "\"max_attempts\":null}},{\"name\":\"approve\",\"ty\":\"Shared\",\"public\":true,\"input_description\":"
    "\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{\"max_attempts\":null}},{"
    "\"name\":\"peek\",\"ty\":\"Shared\",\"public\":true,\"input_description\":\"application/json\","
    "\"output_description\":\"application/json\",\"retry_policy\":{\"max_attempts\":null}}],\"deployment_id\":"
    "\"dp_10kBvWtEwpJnDNWmfNdWn4d\",\"revision\":1,\"public\":true,\"idempotency_retention\":\"1d\","
    "\"workflow_completion_retention\":\"1d\",\"journal_retention\":\"1d\",\"inactivity_timeout\":\"1m\","
    "\"abort_timeout\":\"10m\",\"enable_lazy_state\":false,\"retry_policy\":{\"initial_interval\":\"500ms\","
    "\"exponentiation_factor\":2.0,\"max_attempts\":70,\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}";
static const char expect_lazy[] =
    "{\"name\":\"LazyCounter\",\"ty\":\"VirtualObject\",\"handlers\":[{\"name\":\"add\",\"ty\":\"Exclusive\","
    "\"public\":true,\"input_description\":\"application/json\",\"output_description\":\"application/json\","
    "\"retry_policy\":{\"max_attempts\":null}}],\"deployment_id\":\"dp_10kBvWtEwpJnDNWmfNdWn4d\",\"revision\":1,"
    "\"public\":true,\"idempotency_retention\":\"1d\",\"journal_retention\":\"1d\",\"inactivity_timeout\":\"1m\","
    "\"abort_timeout\":\"10m\",\"enable_lazy_state\":true,\"retry_policy\":{\"initial_interval\":\"500ms\","
    "\"exponentiation_factor\":2.0,\"max_attempts\":70,\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}";

static const char rr_manifest[] =
    "{\"minProtocolVersion\": 5, \"maxProtocolVersion\": 7, \"services\": [{\"name\": \"RRService\", \"ty\": "
    "\"SERVICE\", \"handlers\": [{\"name\": \"runAndSleep\", \"input\": {\"required\": false, \"contentType\": "
    "\"application/json\"}, \"output\": {\"setContentTypeIfEmpty\": false, \"contentType\": \"application/json\"}}]}], "
    "\"protocolMode\": \"REQUEST_RESPONSE\"}";
static const char expect_rr[] =
    "{\"name\":\"RRService\",\"ty\":\"Service\",\"handlers\":[{\"name\":\"runAndSleep\",\"public\":true,"
    "\"input_description\":\"application/json\",\"output_description\":\"application/json\",\"retry_policy\":{"
    "\"max_attempts\":null}}],\"deployment_id\":\"dp_17Db1gokOFn1NO4x8ShVrLH\",\"revision\":1,\"public\":true,"
    "\"idempotency_retention\":\"1d\",\"journal_retention\":\"1d\",\"inactivity_timeout\":\"0s\",\"abort_timeout\":"
    "\"10m\",\"enable_lazy_state\":false,\"retry_policy\":{\"initial_interval\":\"500ms\",\"exponentiation_factor\":"
    "2.0,\"max_attempts\":70,\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}";

static void test_parse_v6_manifest(void **state) {
    (void)state;
    size_t len;
    char *m = read_manifest(&len);
    struct stet_deployment_schema dep = {0};
    enum stet_manifest_error_kind kind;
    char err[256];
    assert_int_equal(stet_schema_parse_manifest(m, len, &dep, &kind, err, sizeof(err)), 0);
    assert_int_equal(dep.min_protocol, 5);
    assert_int_equal(dep.max_protocol, 7);
    assert_false(dep.request_response);
    assert_int_equal(dep.n_services, 16);
    assert_string_equal(dep.services[0].name, "Greeter");
    const struct stet_service_schema *counter = stet_schema_deployment_service(&dep, "Counter", 7);
    assert_non_null(counter);
    assert_int_equal(counter->ty, STET_VIRTUAL_OBJECT);
    assert_int_equal(counter->n_handlers, 5);
    assert_int_equal(counter->handlers[1].ty, STET_HANDLER_SHARED);
    const struct stet_service_schema *ss = stet_schema_deployment_service(&dep, "SleeperSuspend", 14);
    assert_non_null(ss);
    assert_int_equal(ss->inactivity_timeout_ms, 50);
    assert_int_equal(ss->abort_timeout_ms, STET_DURATION_UNSET);
    const struct stet_service_schema *lazy = stet_schema_deployment_service(&dep, "LazyCounter", 11);
    assert_true(lazy->enable_lazy_state);
    stet_schema_deployment_clear(&dep);
    free(m);
}

static void test_render_matches_capture(void **state) {
    (void)state;
    size_t len;
    char *m = read_manifest(&len);
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    make_dep(&dep, m, "http://127.0.0.1:49081/", V6_ID, 1795499437543ull);
    uint8_t id[16];
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    char idbuf[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, idbuf);
    assert_string_equal(idbuf, V6_ID);
    assert_int_equal(s->version, 1);
    assert_int_equal(stet_schema_service_count(s), 16);

    struct { const char *name; const char *expect; } cases[] = {
        {"Greeter", expect_greeter}, {"Counter", expect_counter}, {"SleeperSuspend", expect_sleeper_suspend},
        {"Approval", expect_approval}, {"LazyCounter", expect_lazy},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = render_service(s, cases[i].name);
        assert_string_equal(got, cases[i].expect);
        free(got);
    }

    /* request/response deployment: inactivity_timeout renders as 0s */
    make_dep(&dep, rr_manifest, "http://127.0.0.1:49083/", "dp_17Db1gokOFn1NO4x8ShVrLH", 1795499437600ull);
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    char *got = render_service(s, "RRService");
    assert_string_equal(got, expect_rr);
    free(got);
    stet_schema_unref(s);
    free(m);
}

/* http-api.md §4.5 GET /deployments example */
static void test_render_deployment_list(void **state) {
    (void)state;
    const char manifest[] =
        "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":["
        "{\"name\":\"Greeter\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"greet\"}]},"
        "{\"name\":\"Signup\",\"ty\":\"WORKFLOW\",\"handlers\":[{\"name\":\"run\",\"ty\":\"WORKFLOW\"}]},"
        "{\"name\":\"AwkObj\",\"ty\":\"VIRTUAL_OBJECT\",\"handlers\":[]},"
        "{\"name\":\"Hidden\",\"ty\":\"SERVICE\",\"ingressPrivate\":true,\"handlers\":[]},"
        "{\"name\":\"Counter\",\"ty\":\"VIRTUAL_OBJECT\",\"handlers\":[]}]}";
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    make_dep(&dep, manifest, "http://127.0.0.1:59080/", "dp_11KtnKBN2zjPWodnT5O7Ibv", 1795499437543ull);
    uint8_t id[16];
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    struct stet_schema_defaults d;
    stet_schema_defaults_init(&d);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_schema_render_deployments(&w, s, &d);
    stet_buf_append_byte(&b, 0);
    assert_string_equal((const char *)b.data,
                        "{\"deployments\":[{\"id\":\"dp_11KtnKBN2zjPWodnT5O7Ibv\",\"uri\":\"http://127.0.0.1:59080/\","
                        "\"protocol_type\":\"BidiStream\",\"http_version\":\"HTTP/2.0\",\"created_at\":"
                        "\"2026-11-24T05:50:37.543000000Z\",\"min_protocol_version\":5,\"max_protocol_version\":7,"
                        "\"sdk_version\":\"restate-sdk-typescript/1.17.2\",\"services\":[{\"name\":\"Greeter\","
                        "\"revision\":1},{\"name\":\"Signup\",\"revision\":1},{\"name\":\"AwkObj\",\"revision\":1},{"
                        "\"name\":\"Hidden\",\"revision\":1},{\"name\":\"Counter\",\"revision\":1}]}]}");
    /* the private service: public false; its handlers inherit it */
    const struct stet_service_schema *hidden = stet_schema_find_service(s, "Hidden", 6);
    assert_false(hidden->is_public);
    /* a workflow's unset handler type resolves to Shared, the WORKFLOW one stays */
    const struct stet_service_schema *signup = stet_schema_find_service(s, "Signup", 6);
    assert_int_equal(signup->handlers[0].ty, STET_HANDLER_WORKFLOW);
    stet_buf_free(&b);
    stet_schema_unref(s);
}

static const char m_counter_vo[] =
    "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":["
    "{\"name\":\"Counter\",\"ty\":\"VIRTUAL_OBJECT\",\"handlers\":[{\"name\":\"add\"},{\"name\":\"get\",\"ty\":"
    "\"SHARED\"}]},{\"name\":\"Greeter\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"greet\"}]}]}";
static const char m_counter_svc[] =
    "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":["
    "{\"name\":\"Counter\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"add\"}]}]}";

static void test_registration_semantics(void **state) {
    (void)state;
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    uint8_t id1[16], id2[16], id[16];

    make_dep(&dep, m_counter_vo, "http://127.0.0.1:9080/", "dp_10kBvWtEwpJnDNWmfNdWn4d", 1000);
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id1);
    assert_int_equal(stet_schema_find_service(s, "Counter", 7)->revision, 1);

    /* same endpoint (authority case and trailing path compare like restate), no force: unchanged */
    make_dep(&dep, m_counter_vo, "http://127.0.0.1:9080/", "dp_17Db1gokOFn1NO4x8ShVrLH", 2000);
    s = register_ok(s, &dep, false, false, STET_REGISTER_UNCHANGED, id);
    assert_memory_equal(id, id1, 16);
    assert_int_equal(s->version, 1);
    assert_non_null(stet_schema_find_deployment_by_uri(s, "https://127.0.0.1:9080/"));
    assert_null(stet_schema_find_deployment_by_uri(s, "http://127.0.0.1:9080/other"));

    /* force: overwritten in place, same id, revisions bumped, created_at replaced */
    make_dep(&dep, m_counter_vo, "http://127.0.0.1:9080/", "dp_17Db1gokOFn1NO4x8ShVrLH", 3000);
    s = register_ok(s, &dep, true, true, STET_REGISTER_OVERWRITTEN, id);
    assert_memory_equal(id, id1, 16);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->deployments[0].created_at_ms, 3000);
    assert_int_equal(stet_schema_find_service(s, "Counter", 7)->revision, 2);
    assert_int_equal(stet_schema_find_service(s, "Greeter", 7)->revision, 2);

    /* another endpoint with the same services: a new deployment, revision 3, latest moves */
    make_dep(&dep, m_counter_vo, "http://127.0.0.1:9081/", "dp_17Db1gokOFn1NO4x8ShVrLH", 4000);
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id2);
    assert_int_equal(s->n, 2);
    const struct stet_deployment_schema *latest;
    const struct stet_service_schema *c = stet_schema_find_service_dep(s, "Counter", 7, &latest);
    assert_int_equal(c->revision, 3);
    assert_memory_equal(latest->id, id2, 16);
    assert_memory_equal(c->deployment_id, id2, 16);
    /* the old deployment keeps its own revision for pinned invocations */
    const struct stet_deployment_schema *old = stet_schema_find_deployment(s, id1);
    assert_int_equal(stet_schema_deployment_service(old, "Counter", 7)->revision, 2);

    /* changing the service type is refused (409 META0006) and changes nothing */
    make_dep(&dep, m_counter_svc, "http://127.0.0.1:9082/", "dp_11KtnKBN2zjPWodnT5O7Ibv", 5000);
    struct stet_schema *next = NULL;
    enum stet_register_result res;
    struct stet_schema_error err;
    assert_int_equal(stet_schema_register(s, &dep, false, false, &next, &res, id, &err), -EINVAL);
    assert_null(next);
    assert_int_equal(err.http_status, 409);
    assert_string_equal(err.restate_code, "META0006");
    assert_string_equal(err.message,
                        "[META0006] detected a new service revision for 'Counter' changing the service type from "
                        "previous revision. Service type cannot be changed across revisions.");
    assert_null(dep.uri); /* ownership taken on failure too */
    /* ...unless breaking changes are allowed */
    make_dep(&dep, m_counter_svc, "http://127.0.0.1:9082/", "dp_11KtnKBN2zjPWodnT5O7Ibv", 5000);
    s = register_ok(s, &dep, true, false, STET_REGISTER_CREATED, id);
    c = stet_schema_find_service(s, "Counter", 7);
    assert_int_equal(c->ty, STET_SERVICE);
    assert_int_equal(c->revision, 4);
    assert_int_equal(c->handlers[0].ty, STET_HANDLER_UNSET);

    /* remove the newest deployment: Counter falls back to revision 3 (the object) */
    uint8_t id3[16];
    memcpy(id3, id, 16);
    assert_int_equal(stet_schema_remove_deployment(s, id3, &next, &err), 0);
    stet_schema_unref(s);
    s = next;
    c = stet_schema_find_service(s, "Counter", 7);
    assert_int_equal(c->revision, 3);
    assert_int_equal(c->ty, STET_VIRTUAL_OBJECT);
    assert_int_equal(stet_schema_remove_deployment(s, id3, &next, &err), -ENOENT);
    assert_int_equal(err.http_status, 404);
    assert_non_null(strstr(err.message, "not found in the schema registry: deployment with id 'dp_"));
    /* remove everything: services disappear */
    assert_int_equal(stet_schema_remove_deployment(s, id2, &next, &err), 0);
    stet_schema_unref(s);
    s = next;
    assert_int_equal(stet_schema_remove_deployment(s, id1, &next, &err), 0);
    stet_schema_unref(s);
    s = next;
    assert_null(stet_schema_find_service(s, "Counter", 7));
    assert_int_equal(stet_schema_service_count(s), 0);
    stet_schema_unref(s);
}

static void expect_register_error(const char *manifest, int status, const char *code, const char *message) {
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    make_dep(&dep, manifest, "http://h:1/", V6_ID, 1);
    struct stet_schema *next = NULL;
    enum stet_register_result res;
    struct stet_schema_error err;
    uint8_t id[16];
    assert_int_equal(stet_schema_register(s, &dep, true, true, &next, &res, id, &err), -EINVAL);
    assert_null(next);
    assert_int_equal(err.http_status, status);
    if (code == NULL) assert_null(err.restate_code);
    else assert_string_equal(err.restate_code, code);
    assert_string_equal(err.message, message);
    stet_schema_unref(s);
}

#define M_HEAD "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":["

static void test_registration_errors(void **state) {
    (void)state;
    expect_register_error(M_HEAD "{\"name\":\"restate.Admin\",\"ty\":\"SERVICE\",\"handlers\":[]}]}", 400, "META0005",
                          "[META0005] cannot insert/modify service 'restate.Admin' as it contains a reserved name");
    expect_register_error(M_HEAD "{\"name\":\"OpenAPI\",\"ty\":\"SERVICE\",\"handlers\":[]}]}", 400, "META0005",
                          "[META0005] cannot insert/modify service 'OpenAPI' as it contains a reserved name");
    expect_register_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\",\"ty\":"
                                 "\"EXCLUSIVE\"}]}]}",
                          400, NULL, "invalid combination of service type and handler type '(Service, Some(Exclusive))'");
    expect_register_error(M_HEAD "{\"name\":\"O\",\"ty\":\"VIRTUAL_OBJECT\",\"handlers\":[{\"name\":\"h\",\"ty\":"
                                 "\"WORKFLOW\"}]}]}",
                          400, NULL,
                          "invalid combination of service type and handler type '(VirtualObject, Some(Workflow))'");
    expect_register_error(M_HEAD "{\"name\":\"W\",\"ty\":\"WORKFLOW\",\"handlers\":[{\"name\":\"h\",\"ty\":"
                                 "\"SHARED\",\"workflowCompletionRetention\":10}]}]}",
                          400, NULL, "h sets the workflow_completion_retention, but it's not a WORKFLOW handler");
    expect_register_error(M_HEAD "{\"name\":\"W\",\"ty\":\"WORKFLOW\",\"handlers\":[{\"name\":\"run\",\"ty\":"
                                 "\"WORKFLOW\",\"idempotencyRetention\":10}]}]}",
                          400, NULL, "run sets the idempotency_retention, but it's a WORKFLOW handler");
    expect_register_error(M_HEAD "{\"name\":\"P\",\"ty\":\"SERVICE\",\"ingressPrivate\":true,\"handlers\":[{\"name\":"
                                 "\"h\",\"ingressPrivate\":false}]}]}",
                          400, NULL,
                          "The service P is private, but the h is explicitly set as public. This is not supported. "
                          "Please make the service public, and hide the individual handlers");
    expect_register_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\",\"input\":{"
                                 "\"contentType\":\"json\"}}]}]}",
                          400, NULL,
                          "the handler 'h' input content-type is not valid: can't parse the content-type 'json': must "
                          "contain one /");
    expect_register_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\",\"input\":{"
                                 "\"contentType\":\"*/json\"}}]}]}",
                          400, NULL,
                          "the handler 'h' input content-type is not valid: can't parse the content-type '*/json': the "
                          "wildcard format */subType is not supported");
}

static void expect_manifest_error(const char *manifest, enum stet_manifest_error_kind kind, const char *needle) {
    struct stet_deployment_schema dep = {0};
    enum stet_manifest_error_kind got = 0;
    char err[1024];
    int rc = stet_schema_parse_manifest(manifest, strlen(manifest), &dep, &got, err, sizeof(err));
    if (rc != -EINVAL) fail_msg("accepted: %s", manifest);
    assert_int_equal(got, kind);
    if (strstr(err, needle) == NULL) fail_msg("error '%s' lacks '%s'", err, needle);
    assert_int_equal(dep.n_services, 0);
    assert_null(dep.services);
}

static void test_manifest_errors(void **state) {
    (void)state;
    expect_manifest_error("{\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":[]}",
                          STET_MANIFEST_BAD_RESPONSE, "missing protocol mode");
    expect_manifest_error(M_HEAD "]", STET_MANIFEST_DECODE, "EOF while parsing");
    expect_manifest_error("{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":7,\"maxProtocolVersion\":5,"
                          "\"services\":[]}",
                          STET_MANIFEST_BAD_RESPONSE,
                          "Expected min protocol version to be <= max protocol version. Received min protocol "
                          "version '7', max protocol version '5'");
    expect_manifest_error("{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":1,\"maxProtocolVersion\":4,"
                          "\"services\":[]}",
                          STET_MANIFEST_UNSUPPORTED,
                          "unsupported service protocol versions: [1, 4]. Supported versions by this runtime are [5, "
                          "7]. Please upgrade the SDK and try registering again.");
    expect_manifest_error("{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":8,\"maxProtocolVersion\":9,"
                          "\"services\":[]}",
                          STET_MANIFEST_UNSUPPORTED, "[8, 9]");
    expect_manifest_error("{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":5,\"maxProtocolVersion\":"
                          "3000000000,\"services\":[]}",
                          STET_MANIFEST_BAD_RESPONSE, "max protocol version must be in [1, 2147483647]");
    expect_manifest_error("{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":0,\"maxProtocolVersion\":7,"
                          "\"services\":[]}",
                          STET_MANIFEST_DECODE, "expected a nonzero u64");
    expect_manifest_error("{\"protocolMode\":\"BIDI_STREAM\",\"maxProtocolVersion\":7,\"services\":[]}",
                          STET_MANIFEST_DECODE, "missing field `minProtocolVersion`");
    expect_manifest_error("{\"protocolMode\":\"BIDI\",\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":[]}",
                          STET_MANIFEST_DECODE, "unknown variant `BIDI`");
    expect_manifest_error(M_HEAD "],\"extra\":1}", STET_MANIFEST_DECODE, "unknown field `extra`");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\"}]}", STET_MANIFEST_DECODE,
                          "services[0] (S): missing field `handlers`");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"ACTOR\",\"handlers\":[]}]}", STET_MANIFEST_DECODE,
                          "unknown variant `ACTOR`");
    expect_manifest_error(M_HEAD "{\"name\":\"1S\",\"ty\":\"SERVICE\",\"handlers\":[]}]}", STET_MANIFEST_DECODE,
                          "doesn't match pattern");
    expect_manifest_error(M_HEAD "{\"name\":\"\",\"ty\":\"SERVICE\",\"handlers\":[]}]}", STET_MANIFEST_DECODE,
                          "doesn't match pattern");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"a.b\"}]}]}",
                          STET_MANIFEST_DECODE, "services[0] (S).handlers[0]: name: \"a.b\" doesn't match pattern");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\",\"bogus\":1}]}]}",
                          STET_MANIFEST_DECODE, "unknown field `bogus`");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\","
                                 "\"inactivityTimeout\":-1}]}]}",
                          STET_MANIFEST_DECODE, "inactivityTimeout: invalid value: integer `-1`, expected u64");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\","
                                 "\"abortTimeout\":\"1s\"}]}]}",
                          STET_MANIFEST_DECODE, "abortTimeout: invalid type: string \"1s\", expected u64");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[]},{\"name\":\"S\",\"ty\":"
                                 "\"SERVICE\",\"handlers\":[]}]}",
                          STET_MANIFEST_BAD_RESPONSE, "duplicate service name 'S'");
    expect_manifest_error(M_HEAD "{\"name\":\"S\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"h\"},{\"name\":"
                                 "\"h\"}]}]}",
                          STET_MANIFEST_BAD_RESPONSE, "duplicate handler name 'h' in service 'S'");
    expect_manifest_error("[1]", STET_MANIFEST_DECODE, "invalid type: sequence");
}

static void test_settings_and_rules(void **state) {
    (void)state;
    const char manifest[] = M_HEAD
        "{\"name\":\"S\",\"ty\":\"VIRTUAL_OBJECT\",\"inactivityTimeout\":1000,\"abortTimeout\":2000,"
        "\"journalRetention\":0,\"idempotencyRetention\":3000,\"enableLazyState\":true,"
        "\"retryPolicyInitialInterval\":10,\"retryPolicyMaxAttempts\":0,\"retryPolicyOnMaxAttempts\":\"KILL\","
        "\"documentation\":\"doc\",\"metadata\":{\"team\":\"a\"},"
        "\"handlers\":[{\"name\":\"h\",\"inactivityTimeout\":5,\"enableLazyState\":false,"
        "\"retryPolicyExponentiationFactor\":1.5,\"retryPolicyMaxInterval\":60000,\"ingressPrivate\":true,"
        "\"input\":{\"required\":true,\"contentType\":\"application/json\",\"jsonSchema\":{\"title\":\"Person\"}},"
        "\"output\":{\"contentType\":\"text/plain\",\"setContentTypeIfEmpty\":true}},"
        "{\"name\":\"n\",\"input\":{},\"output\":{}},"
        "{\"name\":\"t\",\"input\":{\"contentType\":\"text/*\"},\"output\":{\"contentType\":\"application/json\","
        "\"jsonSchema\":{\"type\":\"string\"}}},{\"name\":\"d\"}]}]}";
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    make_dep(&dep, manifest, "http://h:1/", V6_ID, 1);
    uint8_t id[16];
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    struct stet_schema_defaults d;
    stet_schema_defaults_init(&d);
    const struct stet_service_schema *svc = stet_schema_find_service(s, "S", 1);
    const struct stet_handler_schema *h = stet_schema_find_handler(svc, "h", 1);
    const struct stet_handler_schema *n = stet_schema_find_handler(svc, "n", 1);
    const struct stet_handler_schema *t = stet_schema_find_handler(svc, "t", 1);
    const struct stet_handler_schema *dd = stet_schema_find_handler(svc, "d", 1);
    assert_null(stet_schema_find_handler(svc, "x", 1));

    assert_int_equal(stet_schema_inactivity_timeout(svc, h, 60000), 5);
    assert_int_equal(stet_schema_inactivity_timeout(svc, n, 60000), 1000);
    assert_int_equal(stet_schema_abort_timeout(svc, h, 600000), 2000);
    assert_false(stet_schema_lazy_state(svc, h));
    assert_true(stet_schema_lazy_state(svc, n));
    assert_int_equal(stet_schema_completion_retention(svc, h, &d), 3000);
    assert_int_equal(stet_schema_journal_retention(svc, h, &d), 0);
    struct stet_retry_policy r;
    stet_schema_retry_policy(svc, h, &d, &r);
    assert_int_equal(r.initial_interval_ms, 10);
    assert_true(r.factor == 1.5);
    assert_int_equal(r.max_attempts, 1); /* a manifest 0 means NonZeroUsize::MIN */
    assert_int_equal(r.max_interval_ms, 60000);
    assert_int_equal(r.on_max_attempts, STET_ON_MAX_ATTEMPTS_KILL);
    stet_schema_retry_policy(svc, n, &d, &r);
    assert_true(r.factor == 2.0);
    assert_false(h->is_public);
    assert_true(n->is_public);

    char err[256];
    /* h: required JSON with a schema */
    assert_int_equal(stet_schema_check_input(h, "application/json", 16, 2, err, sizeof(err)), 0);
    assert_int_equal(stet_schema_check_input(h, "application/json; charset=utf-8", 31, 2, err, sizeof(err)), 0);
    assert_int_equal(stet_schema_check_input(h, "application/json", 16, 0, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Empty body not allowed");
    assert_int_equal(stet_schema_check_input(h, NULL, 0, 0, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Empty content-type");
    assert_int_equal(stet_schema_check_input(h, "text/plain", 10, 2, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Content-type 'text/plain' does not match 'application/json'");
    /* n: input {} means "no body" */
    assert_int_equal(stet_schema_check_input(n, NULL, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(stet_schema_check_input(n, "text/plain", 10, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Expected body and content-type to be empty, but wasn't with content-type 'Some(\"text/plain\")'");
    assert_int_equal(stet_schema_check_input(n, NULL, 0, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Expected body and content-type to be empty, but wasn't with content-type 'None'");
    /* t: optional text (any subtype) */
    assert_int_equal(stet_schema_check_input(t, NULL, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(stet_schema_check_input(t, "text/csv", 8, 3, err, sizeof(err)), 0);
    assert_int_equal(stet_schema_check_input(t, "image/png", 9, 3, err, sizeof(err)), -EINVAL);
    /* d: defaults accept anything */
    assert_int_equal(stet_schema_check_input(dd, NULL, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(stet_schema_check_input(dd, "x/y", 3, 5, err, sizeof(err)), 0);

    assert_string_equal(stet_schema_output_content_type(h, true), "text/plain");
    assert_null(stet_schema_output_content_type(n, false));
    assert_null(stet_schema_output_content_type(dd, true));
    assert_string_equal(stet_schema_output_content_type(dd, false), "application/json");

    struct stet_buf b = STET_BUF_INIT;
    stet_schema_input_description(h, &b);
    stet_schema_output_description(h, &b);
    stet_schema_input_description(n, &b);
    stet_schema_output_description(n, &b);
    stet_schema_input_description(t, &b);
    stet_schema_output_description(t, &b);
    stet_schema_input_description(dd, &b);
    stet_buf_append_byte(&b, 0);
    assert_string_equal((const char *)b.data,
                        "JSON 'Person'optional text/plainnonenonetext/*JSON string*/*");
    stet_buf_free(&b);

    /* handler rendering with overrides */
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    const struct stet_deployment_schema *dp;
    stet_schema_find_service_dep(s, "S", 1, &dp);
    stet_schema_render_handler(&w, dp, svc, h, &d);
    stet_buf_append_byte(&b, 0);
    assert_string_equal((const char *)b.data,
                        "{\"name\":\"h\",\"ty\":\"Exclusive\",\"inactivity_timeout\":\"5ms\",\"enable_lazy_state\":"
                        "false,\"public\":false,\"input_description\":\"JSON 'Person'\",\"output_description\":"
                        "\"optional text/plain\",\"input_json_schema\":{\"title\":\"Person\"},\"retry_policy\":{"
                        "\"exponentiation_factor\":1.5,\"max_attempts\":null,\"max_interval\":\"1m\"}}");
    stet_buf_reset(&b);
    stet_json_writer_init(&w, &b);
    stet_schema_render_service(&w, dp, svc, &d);
    stet_buf_append_byte(&b, 0);
    const char *svc_json = (const char *)b.data;
    assert_non_null(strstr(svc_json, "\"documentation\":\"doc\",\"metadata\":{\"team\":\"a\"},\"deployment_id\""));
    assert_non_null(strstr(svc_json, "\"idempotency_retention\":\"3s\",\"journal_retention\":\"0s\","
                                     "\"inactivity_timeout\":\"1s\",\"abort_timeout\":\"2s\",\"enable_lazy_state\":true"));
    assert_non_null(strstr(svc_json, "\"retry_policy\":{\"initial_interval\":\"10ms\",\"exponentiation_factor\":2.0,"
                                     "\"max_attempts\":1,\"max_interval\":\"1m\",\"on_max_attempts\":\"Kill\"}}"));
    stet_buf_free(&b);
    stet_schema_unref(s);
}

static void test_patch_service(void **state) {
    (void)state;
    const char manifest[] = M_HEAD "{\"name\":\"Extra\",\"ty\":\"SERVICE\",\"handlers\":[{\"name\":\"hi\"}]},"
                                   "{\"name\":\"Wf\",\"ty\":\"WORKFLOW\",\"handlers\":[{\"name\":\"run\",\"ty\":"
                                   "\"WORKFLOW\"}]}]}";
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    make_dep(&dep, manifest, "http://h:1/", "dp_14CfMcvupe9mFbJdmS2rwoF", 1);
    uint8_t id[16];
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);

    struct stet_service_patch p;
    stet_service_patch_init(&p);
    assert_true(stet_service_patch_is_empty(&p));
    p.is_public = 0;
    p.idempotency_retention_ms = 2 * 3600 * 1000;
    p.journal_retention_ms = 30 * 60 * 1000;
    p.inactivity_timeout_ms = 90 * 1000;
    p.abort_timeout_ms = 5 * 60 * 1000;
    assert_false(stet_service_patch_is_empty(&p));
    struct stet_schema *next = NULL;
    struct stet_schema_error err;
    assert_int_equal(stet_schema_patch_service(s, "Extra", 5, &p, &next, &err), 0);
    assert_int_equal(next->version, s->version + 1);
    stet_schema_unref(s);
    s = next;
    const struct stet_service_schema *svc = stet_schema_find_service(s, "Extra", 5);
    assert_int_equal(svc->revision, 1);
    assert_false(svc->handlers[0].is_public);
    char *got = render_service(s, "Extra");
    assert_string_equal(got,
                        "{\"name\":\"Extra\",\"ty\":\"Service\",\"handlers\":[{\"name\":\"hi\",\"public\":false,"
                        "\"input_description\":\"*/*\",\"output_description\":\"application/json\",\"retry_policy\":{"
                        "\"max_attempts\":null}}],\"deployment_id\":\"dp_14CfMcvupe9mFbJdmS2rwoF\",\"revision\":1,"
                        "\"public\":false,\"idempotency_retention\":\"2h\",\"journal_retention\":\"30m\","
                        "\"inactivity_timeout\":\"1m 30s\",\"abort_timeout\":\"5m\",\"enable_lazy_state\":false,"
                        "\"retry_policy\":{\"initial_interval\":\"500ms\",\"exponentiation_factor\":2.0,"
                        "\"max_attempts\":70,\"max_interval\":\"1m\",\"on_max_attempts\":\"Pause\"}}");
    free(got);

    stet_service_patch_init(&p);
    p.workflow_completion_retention_ms = 1000;
    assert_int_equal(stet_schema_patch_service(s, "Extra", 5, &p, &next, &err), -EINVAL);
    assert_int_equal(err.http_status, 400);
    assert_string_equal(err.message, "modifying retention time for service type Service is unsupported");
    assert_int_equal(stet_schema_patch_service(s, "Wf", 2, &p, &next, &err), 0);
    stet_schema_unref(s);
    s = next;
    got = render_service(s, "Wf");
    assert_non_null(strstr(got, "\"workflow_completion_retention\":\"1s\""));
    free(got);
    assert_int_equal(stet_schema_patch_service(s, "Nope", 4, &p, &next, &err), -ENOENT);
    assert_int_equal(err.http_status, 404);
    assert_string_equal(err.message, "not found in the schema registry: service with name 'Nope'");

    /* re-registration resets PATCHed settings (restate: ServiceLevelSettingsBehavior::UseDefaults) */
    make_dep(&dep, manifest, "http://h:1/", "dp_14CfMcvupe9mFbJdmS2rwoF", 2);
    s = register_ok(s, &dep, true, true, STET_REGISTER_OVERWRITTEN, id);
    svc = stet_schema_find_service(s, "Extra", 5);
    assert_true(svc->is_public);
    assert_int_equal(svc->revision, 2);
    stet_schema_unref(s);
}

static void test_update_deployment(void **state) {
    (void)state;
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    uint8_t id[16];
    make_dep(&dep, m_counter_vo, "http://h:1/", V6_ID, 1);
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    /* new address, keep services */
    make_dep(&dep, m_counter_svc, "http://h:2/", V6_ID, 99);
    struct stet_schema *next = NULL;
    struct stet_schema_error err;
    assert_int_equal(stet_schema_update_deployment(s, id, &dep, false, &next, &err), 0);
    stet_schema_unref(s);
    s = next;
    assert_string_equal(s->deployments[0].uri, "http://h:2/");
    assert_int_equal(s->deployments[0].created_at_ms, 1);
    assert_int_equal(stet_schema_find_service(s, "Counter", 7)->ty, STET_VIRTUAL_OBJECT);
    /* overwrite: services replaced, revisions kept */
    make_dep(&dep, m_counter_svc, "http://h:2/", V6_ID, 99);
    assert_int_equal(stet_schema_update_deployment(s, id, &dep, true, &next, &err), 0);
    stet_schema_unref(s);
    s = next;
    assert_int_equal(stet_schema_find_service(s, "Counter", 7)->ty, STET_SERVICE);
    assert_int_equal(stet_schema_find_service(s, "Counter", 7)->revision, 1);
    assert_null(stet_schema_find_service(s, "Greeter", 7));
    /* a different protocol range is refused */
    make_dep(&dep, m_counter_svc, "http://h:2/", V6_ID, 99);
    dep.max_protocol = 6;
    assert_int_equal(stet_schema_update_deployment(s, id, &dep, true, &next, &err), -EINVAL);
    assert_string_equal(err.restate_code, "META0016");
    stet_schema_unref(s);
}

static void test_persistence_round_trip(void **state) {
    (void)state;
    size_t len;
    char *m = read_manifest(&len);
    struct stet_schema *s = stet_schema_create_empty();
    struct stet_deployment_schema dep;
    uint8_t id[16];
    make_dep(&dep, m, "http://127.0.0.1:49081/", V6_ID, 1795499437543ull);
    dep.headers = calloc(1, sizeof(*dep.headers));
    dep.headers[0].key = strdup("x-api-key");
    dep.headers[0].value = strdup("se\"cret");
    dep.n_headers = 1;
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    const char manifest[] = M_HEAD
        "{\"name\":\"S\",\"ty\":\"WORKFLOW\",\"inactivityTimeout\":1000,\"retryPolicyExponentiationFactor\":1.25,"
        "\"metadata\":{\"k\":\"v\"},\"handlers\":[{\"name\":\"run\",\"ty\":\"WORKFLOW\","
        "\"workflowCompletionRetention\":7,\"documentation\":\"d\",\"input\":{\"contentType\":\"application/json\","
        "\"jsonSchema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"}}}},\"output\":{}}]}]}";
    make_dep(&dep, manifest, "http://127.0.0.1:49083/", "dp_17Db1gokOFn1NO4x8ShVrLH", 5);
    free(dep.sdk_version);
    dep.sdk_version = NULL;
    dep.use_http_11 = true;
    s = register_ok(s, &dep, false, false, STET_REGISTER_CREATED, id);
    struct stet_service_patch p;
    stet_service_patch_init(&p);
    p.is_public = 0;
    struct stet_schema *next;
    struct stet_schema_error err;
    assert_int_equal(stet_schema_patch_service(s, "Greeter", 7, &p, &next, &err), 0);
    stet_schema_unref(s);
    s = next;

    struct stet_buf a = STET_BUF_INIT, b = STET_BUF_INIT;
    stet_schema_to_json(s, &a);
    struct stet_schema *loaded = NULL;
    char perr[256];
    if (stet_schema_from_json((const char *)a.data, a.len, &loaded, perr, sizeof(perr)) != 0) fail_msg("%s", perr);
    stet_schema_to_json(loaded, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(loaded->version, s->version);
    /* the loaded snapshot answers like the original */
    char *r1 = render_service(s, "S"), *r2 = render_service(loaded, "S");
    assert_string_equal(r1, r2);
    free(r1);
    free(r2);
    r1 = render_service(s, "Greeter");
    r2 = render_service(loaded, "Greeter");
    assert_string_equal(r1, r2);
    assert_non_null(strstr(r2, "\"public\":false"));
    free(r1);
    free(r2);
    const struct stet_deployment_schema *ld = stet_schema_find_deployment(loaded, id);
    assert_true(ld->use_http_11);
    assert_null(ld->sdk_version);

    /* corrupt documents are refused with a reason */
    const char *bad[] = {
        "", "[]", "{\"format\":2,\"version\":1,\"deployments\":[]}", "{\"format\":1,\"deployments\":[]}",
        "{\"format\":1,\"version\":1,\"deployments\":[{\"id\":\"dp_x\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stet_schema *x = NULL;
        assert_int_equal(stet_schema_from_json(bad[i], strlen(bad[i]), &x, perr, sizeof(perr)), -EINVAL);
        assert_null(x);
        assert_non_null(strstr(perr, "invalid schema registry document"));
    }
    /* an empty registry round-trips too */
    struct stet_schema *empty = stet_schema_create_empty();
    stet_buf_reset(&a);
    stet_schema_to_json(empty, &a);
    stet_buf_append_byte(&a, 0);
    assert_string_equal((const char *)a.data, "{\"format\":1,\"version\":0,\"deployments\":[]}");
    stet_schema_unref(empty);

    stet_buf_free(&a);
    stet_buf_free(&b);
    stet_schema_unref(loaded);
    stet_schema_unref(s);
    free(m);
}

static void test_refcount(void **state) {
    (void)state;
    struct stet_schema *s = stet_schema_create_empty();
    assert_ptr_equal(stet_schema_ref(s), s);
    assert_int_equal(s->refs, 2);
    stet_schema_unref(s);
    assert_int_equal(s->refs, 1);
    stet_schema_free(s);
    stet_schema_unref(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v6_manifest),    cmocka_unit_test(test_render_matches_capture),
        cmocka_unit_test(test_render_deployment_list), cmocka_unit_test(test_registration_semantics),
        cmocka_unit_test(test_registration_errors),  cmocka_unit_test(test_manifest_errors),
        cmocka_unit_test(test_settings_and_rules),   cmocka_unit_test(test_patch_service),
        cmocka_unit_test(test_update_deployment),    cmocka_unit_test(test_persistence_round_trip),
        cmocka_unit_test(test_refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
