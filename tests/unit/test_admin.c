/* Tests for src/admin.
 *
 * Part 1 drives the pure functions (routing, request-body parsers, URI normalization,
 * discovery result building) with the texts restate-server 1.7.12 answers (http-api.md §3-4).
 * (The HTTP/1.1 response parser moved to src/h1client/ and is tested in test_h1client.c.)
 *
 * Part 2 runs the admin for real: a libuv loop in a background thread serves the admin API
 * (struct stet_http_server on 127.0.0.1:0) and a fake SDK endpoint (another stet HTTP server
 * answering GET /discover over h2c and HTTP/1.1 with the v6 trace manifest). The test thread
 * talks to the admin with blocking HTTP/1.1 requests, so cmocka assertions stay on the test
 * thread; nothing touches admin state while the loop runs. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "common/ids.h"
#include "h1client/h1client.h"
#include "h2client/h2client.h"
#include "json/json.h"
#include "metadata/metadata.h"
#include "store/store.h"

/* ==== part 1: pure functions ============================================================ */

static void test_route_parse(void **state) {
    (void)state;
    struct stet_admin_route r;
    assert_int_equal(stet_admin_route_parse("/health", 7, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 0);
    assert_int_equal(r.n_segments, 1);
    assert_int_equal(stet_admin_route_parse("/version", 8, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 0);
    assert_memory_equal(r.seg[0].p, "version", 7);
    assert_int_equal(stet_admin_route_parse("/v4/services/Greeter/handlers/greet", 35, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 4);
    assert_int_equal(r.n_segments, 4);
    assert_int_equal(r.rest_len, 32);
    assert_memory_equal(r.rest, "/services/Greeter/handlers/greet", 32);
    assert_memory_equal(r.seg[1].p, "Greeter", 7);
    assert_int_equal(stet_admin_route_parse("/v2/deployments", 15, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 2);
    assert_int_equal(stet_admin_route_parse("/v1/deployments", 15, &r), STET_ADMIN_ROUTE_V1);
    assert_int_equal(stet_admin_route_parse("/v1", 3, &r), STET_ADMIN_ROUTE_V1);
    assert_int_equal(stet_admin_route_parse("/v5/health", 10, &r), STET_ADMIN_ROUTE_NOT_FOUND);
    assert_int_equal(stet_admin_route_parse("/v0/health", 10, &r), STET_ADMIN_ROUTE_NOT_FOUND);
    assert_int_equal(stet_admin_route_parse("/v4", 3, &r), STET_ADMIN_ROUTE_NOT_FOUND);
    assert_int_equal(stet_admin_route_parse("", 0, &r), STET_ADMIN_ROUTE_NOT_FOUND);
    assert_int_equal(stet_admin_route_parse("/services/", 10, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.n_segments, 0); /* trailing slash: no route */
    assert_int_equal(stet_admin_route_parse("/a//b", 5, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.n_segments, 0);
    assert_int_equal(stet_admin_route_parse("/1/2/3/4/5/6/7/8/9", 18, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.n_segments, 0);
    /* the prefix is stet_http_path_api_version's: digits up to '/' or the end */
    assert_int_equal(stet_admin_route_parse("/v03/health", 11, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 3);
    assert_int_equal(r.n_segments, 1);
    assert_int_equal(stet_admin_route_parse("/v10/health", 11, &r), STET_ADMIN_ROUTE_NOT_FOUND);
    assert_int_equal(stet_admin_route_parse("/v99999999999/health", 20, &r), STET_ADMIN_ROUTE_NOT_FOUND);
    assert_int_equal(stet_admin_route_parse("/v2x/health", 11, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 0);
    assert_int_equal(r.n_segments, 2);
    assert_memory_equal(r.seg[0].p, "v2x", 3);
    assert_int_equal(stet_admin_route_parse("/v/health", 9, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 0);
    assert_int_equal(stet_admin_route_parse("/v3/", 4, &r), STET_ADMIN_ROUTE_OK);
    assert_int_equal(r.api_version, 3);
    assert_int_equal(r.n_segments, 0);

    assert_int_equal(stet_admin_query_bool("force=true", 10, "force"), 1);
    assert_int_equal(stet_admin_query_bool("a=b&force=false", 15, "force"), 0);
    assert_int_equal(stet_admin_query_bool("", 0, "force"), 0);
    assert_int_equal(stet_admin_query_bool("force=yes", 9, "force"), -1);
    assert_int_equal(stet_admin_query_bool("forced=true", 11, "force"), 0);
}

static void test_deployment_id_param(void **state) {
    (void)state;
    uint8_t id[16];
    struct stet_admin_error e;
    assert_int_equal(stet_admin_parse_deployment_id("dp_11KtnKBN2zjPWodnT5O7Ibv", 26, id, &e), 0);
    assert_int_equal(stet_admin_parse_deployment_id("xyz", 3, id, &e), -EINVAL);
    assert_int_equal(e.status, 400);
    assert_true(e.text);
    assert_string_equal(e.message, "Invalid URL: Cannot parse `deployment` with value `xyz`: bad format");
    assert_int_equal(stet_admin_parse_deployment_id("dp_2abc", 7, id, &e), -EINVAL);
    assert_string_equal(e.message, "Invalid URL: Cannot parse `deployment` with value `dp_2abc`: unrecognized codec version");
    assert_int_equal(stet_admin_parse_deployment_id("inv_1abc", 8, id, &e), -EINVAL);
    assert_string_equal(e.message,
                        "Invalid URL: Cannot parse `deployment` with value `inv_1abc`: id doesn't match the expected type");
    assert_int_equal(stet_admin_parse_deployment_id("foo_1abc", 8, id, &e), -EINVAL);
    assert_string_equal(e.message,
                        "Invalid URL: Cannot parse `deployment` with value `foo_1abc`: unrecognized resource type: foo");
    assert_int_equal(stet_admin_parse_deployment_id("dp_1abc", 7, id, &e), -EINVAL);
    assert_string_equal(e.message, "Invalid URL: Cannot parse `deployment` with value `dp_1abc`: bad length");
    assert_int_equal(stet_admin_parse_deployment_id("dp_1!1KtnKBN2zjPWodnT5O7Ib", 26, id, &e), -EINVAL);
    assert_string_equal(e.message,
                        "Invalid URL: Cannot parse `deployment` with value `dp_1!1KtnKBN2zjPWodnT5O7Ib`: base62 decode "
                        "error");
}

static void test_content_type(void **state) {
    (void)state;
    struct stet_admin_error e;
    assert_int_equal(stet_admin_check_json_content_type("application/json", 16, &e), 0);
    assert_int_equal(stet_admin_check_json_content_type("Application/JSON; charset=utf-8", 31, &e), 0);
    assert_int_equal(stet_admin_check_json_content_type("application/merge-patch+json", 28, &e), 0);
    assert_int_equal(stet_admin_check_json_content_type(NULL, 0, &e), -EINVAL);
    assert_int_equal(e.status, 415);
    assert_true(e.text);
    assert_string_equal(e.message, "Expected request with `Content-Type: application/json`");
    assert_int_equal(stet_admin_check_json_content_type("text/plain", 10, &e), -EINVAL);
}

static int parse_reg(const char *body, struct stet_admin_register_request *rr, struct stet_admin_error *e) {
    return stet_admin_parse_register_request((const uint8_t *)body, strlen(body), rr, e);
}

static void test_register_request(void **state) {
    (void)state;
    struct stet_admin_register_request rr;
    struct stet_admin_error e;
    /* what the CLI sends */
    assert_int_equal(parse_reg("{\"uri\":\"http://127.0.0.1:59080/\",\"additional_headers\":null,\"use_http_11\":false,"
                               "\"breaking\":false,\"force\":false,\"dry_run\":true}",
                               &rr, &e),
                     0);
    assert_string_equal(rr.uri, "http://127.0.0.1:59080/");
    assert_false(rr.has_headers);
    assert_int_equal(rr.force, 0);
    assert_true(rr.dry_run);
    stet_admin_register_request_free(&rr);
    /* minimal, uri normalized, headers lower-cased, metadata kept */
    assert_int_equal(parse_reg("{\"uri\":\"http://127.0.0.1:49081\",\"additional_headers\":{\"X-Api-Key\":\"k\"},"
                               "\"metadata\":{\"team\":\"a\"},\"use_http_11\":true,\"breaking\":true,\"unknown\":1}",
                               &rr, &e),
                     0);
    assert_string_equal(rr.uri, "http://127.0.0.1:49081/");
    assert_true(rr.has_headers);
    assert_int_equal(rr.n_headers, 1);
    assert_string_equal(rr.headers[0].key, "x-api-key");
    assert_string_equal(rr.headers[0].value, "k");
    assert_int_equal(rr.n_metadata, 1);
    assert_true(rr.use_http_11);
    assert_true(rr.breaking);
    assert_int_equal(rr.force, -1);
    stet_admin_register_request_free(&rr);

    /* relative uri: 400 JSON as restate */
    assert_int_equal(parse_reg("{\"uri\":\"/foo\"}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 400);
    assert_false(e.text);
    assert_null(e.restate_code);
    assert_string_equal(e.message,
                        "The request field 'uri' is invalid. Reason: The provided uri /foo is not absolute, only "
                        "absolute URIs can be used.");
    /* syntax error: 400 text */
    assert_int_equal(parse_reg("{\"uri\":", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 400);
    assert_true(e.text);
    assert_non_null(strstr(e.message, "Failed to parse the request body as JSON: "));
    assert_int_equal(parse_reg("", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 400);
    /* fits no variant: 422 untagged message positioned at the end */
    assert_int_equal(parse_reg("{}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_true(e.text);
    assert_string_equal(e.message,
                        "Failed to deserialize the JSON body into the target type: data did not match any variant of "
                        "untagged enum RegisterDeploymentRequest at line 1 column 2");
    assert_int_equal(parse_reg("{\"uri\":\"http://a/\",\"force\":\"yes\"}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_int_equal(parse_reg("{\"uri\":\"http://a/\",\n\"metadata\":null}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_non_null(strstr(e.message, "at line 2 column 16"));
    assert_int_equal(parse_reg("{\"uri\":\"http://a b/\"}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_int_equal(parse_reg("{\"uri\":\"http://a/\",\"additional_headers\":{\"bad header\":\"x\"}}", &rr, &e),
                     -EINVAL);
    assert_int_equal(e.status, 422);
    assert_int_equal(parse_reg("[1]", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    /* lambda and auth are not supported: 400 JSON naming the field */
    assert_int_equal(parse_reg("{\"arn\":\"arn:aws:lambda:eu-central-1:1:function:f:1\"}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 400);
    assert_false(e.text);
    assert_non_null(strstr(e.message, "The request field 'arn' is invalid."));
    assert_int_equal(parse_reg("{\"uri\":\"https://a/\",\"auth\":{\"GoogleIdToken\":{}}}", &rr, &e), -EINVAL);
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.message, "The request field 'auth' is invalid."));
}

static void test_uri_normalize(void **state) {
    (void)state;
    char *out;
    assert_int_equal(stet_admin_normalize_uri("http://h:1", 10, &out), 0);
    assert_string_equal(out, "http://h:1/");
    free(out);
    assert_int_equal(stet_admin_normalize_uri("http://h:1?q=1", 14, &out), 0);
    assert_string_equal(out, "http://h:1/?q=1");
    free(out);
    assert_int_equal(stet_admin_normalize_uri("http://[::1]:9080/svc", 21, &out), 0);
    assert_string_equal(out, "http://[::1]:9080/svc");
    free(out);
    assert_int_equal(stet_admin_normalize_uri("/foo", 4, &out), 1);
    assert_int_equal(stet_admin_normalize_uri("foo", 3, &out), 1);
    assert_int_equal(stet_admin_normalize_uri("", 0, &out), -EINVAL);
    assert_int_equal(stet_admin_normalize_uri("http://", 7, &out), -EINVAL);
    assert_int_equal(stet_admin_normalize_uri("http://h:99999/", 15, &out), -EINVAL);
    assert_int_equal(stet_admin_normalize_uri("http://h:x/", 11, &out), -EINVAL);
    assert_int_equal(stet_admin_normalize_uri("http://h/#frag", 14, &out), -EINVAL);
    assert_int_equal(stet_admin_normalize_uri("1ttp://h/", 9, &out), -EINVAL);
}

static int parse_patch(const char *body, struct stet_service_patch *p, struct stet_admin_error *e) {
    return stet_admin_parse_service_patch((const uint8_t *)body, strlen(body), p, e);
}

static void test_service_patch_request(void **state) {
    (void)state;
    struct stet_service_patch p;
    struct stet_admin_error e;
    assert_int_equal(parse_patch("{\"public\":false,\"idempotency_retention\":\"2h\",\"journal_retention\":\"30m\","
                                 "\"inactivity_timeout\":\"90s\",\"abort_timeout\":\"PT5M\","
                                 "\"workflow_completion_retention\":null}",
                                 &p, &e),
                     0);
    assert_int_equal(p.is_public, 0);
    assert_int_equal(p.idempotency_retention_ms, 7200000);
    assert_int_equal(p.journal_retention_ms, 1800000);
    assert_int_equal(p.inactivity_timeout_ms, 90000);
    assert_int_equal(p.abort_timeout_ms, 300000);
    assert_int_equal(p.workflow_completion_retention_ms, STET_DURATION_UNSET);
    /* the CLI's all-null body */
    assert_int_equal(parse_patch("{\"public\":null,\"idempotency_retention\":null,\"workflow_completion_retention\":"
                                 "null,\"journal_retention\":null,\"inactivity_timeout\":null,\"abort_timeout\":null}",
                                 &p, &e),
                     0);
    assert_true(stet_service_patch_is_empty(&p));
    assert_int_equal(parse_patch("{\"public\":\"no\"}", &p, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.message,
                        "Failed to deserialize the JSON body into the target type: public: invalid type: string "
                        "\"no\", expected a boolean at line 1 column 14");
    assert_int_equal(parse_patch("{\"abort_timeout\":\"soon\"}", &p, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_non_null(strstr(e.message, "abort_timeout: "));
    assert_non_null(strstr(e.message, " at line 1 column 23"));
    assert_int_equal(parse_patch("{\"abort_timeout\":5}", &p, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_int_equal(parse_patch("nope", &p, &e), -EINVAL);
    assert_int_equal(e.status, 400);
}

static void test_update_request(void **state) {
    (void)state;
    struct stet_admin_update_request ur;
    struct stet_admin_error e;
    assert_int_equal(stet_admin_parse_update_request((const uint8_t *)"{}", 2, &ur, &e), 0);
    assert_null(ur.uri);
    assert_int_equal(ur.use_http_11, -1);
    assert_false(ur.overwrite);
    stet_admin_update_request_free(&ur);
    const char *b = "{\"uri\":\"http://h:2\",\"overwrite\":true,\"use_http_11\":false,\"additional_headers\":{}}";
    assert_int_equal(stet_admin_parse_update_request((const uint8_t *)b, strlen(b), &ur, &e), 0);
    assert_string_equal(ur.uri, "http://h:2/");
    assert_true(ur.overwrite);
    assert_int_equal(ur.use_http_11, 0);
    assert_true(ur.has_headers);
    stet_admin_update_request_free(&ur);
    b = "{\"overwrite\":1}";
    assert_int_equal(stet_admin_parse_update_request((const uint8_t *)b, strlen(b), &ur, &e), -EINVAL);
    assert_int_equal(e.status, 422);
    assert_non_null(strstr(e.message, "UpdateDeploymentRequest"));
}

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
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int disc_result(int status, const char *ct, const char *server, const char *body,
                       struct stet_deployment_schema *dep, struct stet_admin_error *e, bool *retryable) {
    struct stet_schema_kv h[2];
    size_t n = 0;
    if (ct) h[n++] = (struct stet_schema_kv){"content-type", (char *)ct};
    if (server) h[n++] = (struct stet_schema_kv){"x-restate-server", (char *)server};
    return stet_admin_discovery_result("http://h:1/", status, h, n, (const uint8_t *)body, strlen(body), false, dep, e,
                                       retryable);
}

static void test_discovery_result(void **state) {
    (void)state;
    size_t len;
    char *m = read_manifest(&len);
    struct stet_deployment_schema dep;
    struct stet_admin_error e;
    bool retry;
    const char *v4 = "application/vnd.restate.endpointmanifest.v4+json";
    assert_int_equal(disc_result(200, v4, "restate-sdk-typescript/1.17.2", m, &dep, &e, &retry), 0);
    assert_int_equal(dep.n_services, 16);
    assert_string_equal(dep.sdk_version, "restate-sdk-typescript/1.17.2");
    stet_schema_deployment_clear(&dep);

    assert_int_equal(disc_result(200, "application/json", NULL, m, &dep, &e, &retry), -EINVAL);
    assert_int_equal(e.status, 500);
    assert_string_equal(e.restate_code, "META0013");
    assert_non_null(strstr(e.message, "[META0013] [META0013] received a bad response from the SDK: Bad content type "
                                      "header: \"application/json\". Expected one of '\"application/vnd.restate."
                                      "endpointmanifest.v1+json, "));
    assert_int_equal(disc_result(200, NULL, NULL, m, &dep, &e, &retry), -EINVAL);
    assert_non_null(strstr(e.message, "No content type header was specified."));

    assert_int_equal(disc_result(404, "text/plain", NULL, "not here", &dep, &e, &retry), -EINVAL);
    assert_false(retry);
    assert_string_equal(e.restate_code, "META0003");
    assert_string_equal(e.message,
                        "[META0003] [META0003] got status code '404'. Make sure the provided URI has the correct path "
                        "where the Restate SDK endpoint is mounted. Response headers: {\"content-type\": "
                        "\"text/plain\"}. Body: not here");
    assert_int_equal(disc_result(503, NULL, NULL, "", &dep, &e, &retry), -EINVAL);
    assert_true(retry);
    assert_non_null(strstr(e.message, "got status code '503 Service Unavailable'"));
    assert_int_equal(disc_result(418, NULL, NULL, "", &dep, &e, &retry), -EINVAL);
    assert_false(retry);

    assert_int_equal(disc_result(200, v4, NULL, "{\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":[]}",
                                 &dep, &e, &retry),
                     -EINVAL);
    assert_string_equal(e.message,
                        "[META0013] [META0013] received a bad response from the SDK: missing protocol mode");
    assert_int_equal(disc_result(200, v4, NULL,
                                 "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":1,\"maxProtocolVersion\":2,"
                                 "\"services\":[]}",
                                 &dep, &e, &retry),
                     -EINVAL);
    assert_string_equal(e.restate_code, "META0012");
    assert_int_equal(disc_result(200, v4, NULL, "{oops", &dep, &e, &retry), -EINVAL);
    assert_null(e.restate_code);
    assert_non_null(strstr(e.message, "received a bad response from the SDK that cannot be decoded: "));
    assert_non_null(strstr(e.message, ". Discovery response: {oops"));
    /* restate's workaround for old TS SDKs turns max into 1: unsupported */
    assert_int_equal(disc_result(200, v4, "restate-sdk-typescript/1.1.3",
                                 "{\"protocolMode\":\"BIDI_STREAM\",\"minProtocolVersion\":1,\"maxProtocolVersion\":5,"
                                 "\"services\":[]}",
                                 &dep, &e, &retry),
                     -EINVAL);
    assert_string_equal(e.restate_code, "META0012");
    assert_null(dep.services);
    free(m);
}

/* ==== part 2: the admin over loopback ================================================== */

struct fake_sdk {
    char *manifest;
    size_t manifest_len;
    atomic_int discover_calls;
    char last_accept[512];
    char last_cluster[64];
    char last_api_key[64];
    int last_http_major;
};

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct stet_store *store;
    struct stet_metadata *md;
    struct stet_h2_pool *pool;
    struct stet_admin *admin;
    struct stet_http_server *admin_srv, *sdk_srv;
    struct stet_config cfg;
    int admin_port, sdk_port, dead_port;
    struct fake_sdk sdk;
    atomic_int schema_changes;
};

static void copy_header(struct stet_http_request *req, const char *name, char *out, size_t n) {
    size_t len = 0;
    const char *v = stet_http_request_header(req, name, &len);
    if (v == NULL) len = 0;
    if (len >= n) len = n - 1;
    if (v) memcpy(out, v, len);
    out[len] = '\0';
}

static void sdk_handle(void *ctx, struct stet_http_request *req) {
    struct fake_sdk *sdk = ctx;
    bool discover = req->path_len >= 9 && memcmp(req->path + req->path_len - 9, "/discover", 9) == 0;
    if (!discover) {
        stet_http_respond(req, 404, NULL, 0, "{\"message\":\"not found\"}", 23);
        return;
    }
    atomic_fetch_add(&sdk->discover_calls, 1);
    copy_header(req, "accept", sdk->last_accept, sizeof(sdk->last_accept));
    copy_header(req, "x-restate-cluster-name", sdk->last_cluster, sizeof(sdk->last_cluster));
    copy_header(req, "x-api-key", sdk->last_api_key, sizeof(sdk->last_api_key));
    sdk->last_http_major = req->http_major;
    if (req->path_len == 15 && memcmp(req->path, "/fail5/discover", 15) == 0) {
        stet_http_respond(req, 500, NULL, 0, "boom", 4);
        return;
    }
    struct stet_http_header h[] = {
        {"content-type", 12, "application/vnd.restate.endpointmanifest.v4+json", 48},
        {"x-restate-server", 16, "restate-sdk-typescript/1.17.2", 29},
    };
    stet_http_respond(req, 200, h, 2, sdk->manifest, sdk->manifest_len);
}

static bool extra_handler(void *ctx, struct stet_http_request *req) {
    (void)ctx;
    if (req->path_len == 9 && memcmp(req->path, "/v4/query", 9) == 0) {
        stet_http_respond(req, 200, NULL, 0, "extra", 5);
        return true;
    }
    return false;
}

static void on_schema_change(void *arg, struct stet_schema *s) {
    struct fixture *fx = arg;
    stet_schema_check(s);
    atomic_fetch_add(&fx->schema_changes, 1);
}

static void on_stop(uv_async_t *a) {
    struct fixture *fx = a->data;
    stet_http_server_destroy(fx->admin_srv, NULL, NULL);
    stet_http_server_destroy(fx->sdk_srv, NULL, NULL);
    stet_admin_destroy(fx->admin);
    stet_h2_pool_destroy(fx->pool, NULL, NULL);
    uv_close((uv_handle_t *)&fx->stop, NULL);
}

static void *loop_thread(void *arg) {
    struct fixture *fx = arg;
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof(a));
    socklen_t l = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static int setup(void **state) {
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->sdk.manifest = read_manifest(&fx->sdk.manifest_len);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    char *env[] = {"RESTATE_INGRESS__BIND_ADDRESS=127.0.0.1:18080", "RESTATE_CLUSTER_NAME=testcluster", NULL};
    char *argv[] = {"restate-server", NULL};
    char err[256];
    assert_int_equal(stet_config_load(&fx->cfg, 1, argv, env, err, sizeof(err)), 0);
    fx->store = stet_store_create_mem();
    assert_int_equal(stet_metadata_create_local(fx->store, &fx->md), 0);
    assert_int_equal(stet_h2_pool_create(&fx->loop, NULL, &fx->pool), 0);
    assert_int_equal(stet_admin_create(&fx->loop, fx->pool, fx->md, &fx->cfg, &fx->admin, err, sizeof(err)), 0);
    struct stet_admin_discovery_options o = {.attempt_timeout_ms = 5000, .max_retries = 1, .retry_initial_ms = 10};
    stet_admin_set_discovery_options(fx->admin, &o);
    stet_admin_set_extra_handler(fx->admin, extra_handler, fx);
    assert_int_equal(stet_admin_on_schema_change(fx->admin, on_schema_change, fx), 0);
    char *msg = NULL;
    struct stet_http_server_config sc = {.bind_address = "127.0.0.1:0", .error_format = "admin"};
    assert_int_equal(stet_http_server_create(&fx->loop, &sc, stet_admin_handle, fx->admin, &fx->admin_srv, &msg), 0);
    assert_int_equal(stet_http_server_create(&fx->loop, &sc, sdk_handle, &fx->sdk, &fx->sdk_srv, &msg), 0);
    fx->admin_port = stet_http_server_port(fx->admin_srv);
    fx->sdk_port = stet_http_server_port(fx->sdk_srv);
    fx->dead_port = free_port();
    uv_async_init(&fx->loop, &fx->stop, on_stop);
    fx->stop.data = fx;
    assert_int_equal(pthread_create(&fx->thread, NULL, loop_thread, fx), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    struct fixture *fx = *state;
    uv_async_send(&fx->stop);
    pthread_join(fx->thread, NULL);
    uv_loop_close(&fx->loop);
    stet_metadata_destroy(fx->md);
    stet_store_destroy(fx->store);
    stet_config_free(&fx->cfg);
    free(fx->sdk.manifest);
    free(fx);
    return 0;
}

/* A parsed admin answer; the parser owns headers and body. Free with answer_free. */
struct http_answer {
    int status;
    struct stet_h1_parser parser;
    struct stet_h1_response resp;
};

static void answer_free(struct http_answer *r) { stet_h1_parser_free(&r->parser); }

/* One blocking HTTP/1.1 exchange ("connection: close"). Returns the parsed response. */
static void request(struct fixture *fx, const char *method, const char *path, const char *content_type,
                    const char *body, struct http_answer *r) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->admin_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
    struct stet_buf out = STET_BUF_INIT;
    stet_buf_printf(&out, "%s %s HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n", method, path);
    if (content_type) stet_buf_printf(&out, "content-type: %s\r\n", content_type);
    if (body) stet_buf_printf(&out, "content-length: %zu\r\n\r\n%s", strlen(body), body);
    else stet_buf_append_str(&out, "\r\n");
    assert_int_equal(write(s, out.data, out.len), (ssize_t)out.len);
    stet_buf_free(&out);
    struct stet_buf in = STET_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(s, buf, sizeof(buf))) > 0) stet_buf_append(&in, buf, (size_t)n);
    close(s);
    stet_h1_parser_init(&r->parser, 1 << 24, strcmp(method, "HEAD") == 0);
    int rc = stet_h1_parser_feed(&r->parser, in.data, in.len, NULL);
    if (rc == 0) rc = stet_h1_parser_eof(&r->parser);
    if (rc != 1)
        fail_msg("bad response to %s %s (%s): %.*s", method, path, stet_h1_parser_message(&r->parser), (int)in.len,
                 (const char *)in.data);
    stet_h1_parser_response(&r->parser, &r->resp);
    r->status = r->resp.status;
    stet_buf_free(&in);
}

static const char *header(const struct http_answer *r, const char *name) {
    return stet_h1_response_header(&r->resp, name);
}

static const char *body(const struct http_answer *r) { return (const char *)r->resp.body; }

static void expect(struct fixture *fx, const char *method, const char *path, const char *ct, const char *req_body,
                   int status, const char *body_exact, const char *body_contains) {
    struct http_answer r;
    request(fx, method, path, ct, req_body, &r);
    if (r.status != status) fail_msg("%s %s: status %d, expected %d: %s", method, path, r.status, status, body(&r));
    if (body_exact && strcmp(body(&r), body_exact) != 0)
        fail_msg("%s %s: body\n%s\nexpected\n%s", method, path, body(&r), body_exact);
    if (body_contains && strstr(body(&r), body_contains) == NULL)
        fail_msg("%s %s: body\n%s\nlacks\n%s", method, path, body(&r), body_contains);
    answer_free(&r);
}

static void test_basic_routes(void **state) {
    struct fixture *fx = *state;
    struct http_answer r;
    request(fx, "GET", "/version", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "content-type"), "application/json");
    assert_non_null(strstr(body(&r), "{\"version\":\"1.7.12\",\"min_admin_api_version\":2,\"max_admin_api_version\":4,"
                                     "\"ingress_endpoint\":\"http://127.0.0.1:18080/\",\"features\":{"));
    answer_free(&r);
    expect(fx, "GET", "/health", NULL, NULL, 200, "", NULL);
    expect(fx, "GET", "/v4/health", NULL, NULL, 200, "", NULL);
    expect(fx, "HEAD", "/v3/health", NULL, NULL, 200, "", NULL);
    expect(fx, "GET", "/v1/health", NULL, NULL, 400,
           "Unsupported Admin API version V1. This server supports versions between V2 and V4.", NULL);
    expect(fx, "GET", "/v5/health", NULL, NULL, 404, "", NULL);
    expect(fx, "GET", "/cluster-health", NULL, NULL, 200,
           "{\"cluster_name\":\"testcluster\",\"metadata_cluster_health\":{\"members\":[1]}}", NULL);
    request(fx, "OPTIONS", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(header(&r, "allow"), "GET,HEAD");
    answer_free(&r);
    request(fx, "PUT", "/v4/deployments", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(header(&r, "allow"), "GET,HEAD,POST");
    answer_free(&r);
    expect(fx, "GET", "/deployments", NULL, NULL, 200, "{\"deployments\":[]}", NULL);
    expect(fx, "GET", "/v4/services", NULL, NULL, 200, "{\"services\":[]}", NULL);
    expect(fx, "GET", "/nope", NULL, NULL, 404, "", NULL);
    expect(fx, "GET", "/services/", NULL, NULL, 404, "", NULL);
    expect(fx, "POST", "/v4/query", "application/json", "{}", 200, "extra", NULL);
    expect(fx, "GET", "/v4/services/Nope", NULL, NULL, 404,
           "{\"message\":\"The requested service 'Nope' does not exist\",\"restate_code\":null}", NULL);
    expect(fx, "GET", "/v4/deployments/xyz", NULL, NULL, 400,
           "Invalid URL: Cannot parse `deployment` with value `xyz`: bad format", NULL);
    expect(fx, "GET", "/v4/deployments/dp_11KtnKBN2zjPWodnT5O7Ibv", NULL, NULL, 404,
           "{\"message\":\"The requested deployment 'dp_11KtnKBN2zjPWodnT5O7Ibv' does not exist\",\"restate_code\":null}",
           NULL);
    expect(fx, "POST", "/v4/deployments", NULL, "{}", 415, "Expected request with `Content-Type: application/json`",
           NULL);
    expect(fx, "POST", "/v4/deployments", "application/json", "{\"uri\":\"/foo\"}", 400,
           "{\"message\":\"The request field 'uri' is invalid. Reason: The provided uri /foo is not absolute, only "
           "absolute URIs can be used.\",\"restate_code\":null}",
           NULL);
}

static void register_body(char *out, size_t n, int port, const char *extra) {
    snprintf(out, n, "{\"uri\":\"http://127.0.0.1:%d/\",\"additional_headers\":{\"X-Api-Key\":\"secret\"}%s}", port,
             extra);
}

static void test_register_flow(void **state) {
    struct fixture *fx = *state;
    char b[512];
    struct http_answer r;

    /* dry run: 201 with a fresh id, nothing stored */
    register_body(b, sizeof(b), fx->sdk_port, ",\"dry_run\":true");
    request(fx, "POST", "/v4/deployments", "application/json", b, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(body(&r), "\"name\":\"Greeter\""));
    assert_non_null(strstr(body(&r), "\"min_protocol_version\":5,\"max_protocol_version\":7,\"sdk_version\":"
                                     "\"restate-sdk-typescript/1.17.2\"}"));
    answer_free(&r);
    expect(fx, "GET", "/v4/deployments", NULL, NULL, 200, "{\"deployments\":[]}", NULL);
    assert_int_equal(atomic_load(&fx->sdk.discover_calls), 1);
    assert_string_equal(fx->sdk.last_accept, STET_ADMIN_DISCOVERY_ACCEPT);
    assert_string_equal(fx->sdk.last_cluster, "testcluster");
    assert_string_equal(fx->sdk.last_api_key, "secret");
    assert_int_equal(fx->sdk.last_http_major, 2); /* h2c prior knowledge */

    /* register for real */
    register_body(b, sizeof(b), fx->sdk_port, "");
    request(fx, "POST", "/v4/deployments", "application/json", b, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(header(&r, "location"));
    char loc[64];
    snprintf(loc, sizeof(loc), "%s", header(&r, "location"));
    assert_int_equal(strlen(loc), 12 + STET_DEPLOYMENT_ID_STRLEN);
    assert_memory_equal(loc, "deployments/dp_1", 16);
    char id[STET_DEPLOYMENT_ID_STRLEN + 1];
    memcpy(id, loc + 12, sizeof(id));
    char idfield[64];
    snprintf(idfield, sizeof(idfield), "{\"id\":\"%s\",\"services\":[", id);
    assert_non_null(strstr(body(&r), idfield));
    answer_free(&r);
    assert_true(atomic_load(&fx->schema_changes) >= 1);

    /* again, unchanged: 200, same id, no discovery */
    int calls = atomic_load(&fx->sdk.discover_calls);
    request(fx, "POST", "/v4/deployments", "application/json", b, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "location"), loc);
    assert_non_null(strstr(body(&r), idfield));
    answer_free(&r);
    assert_int_equal(atomic_load(&fx->sdk.discover_calls), calls);

    /* /v2 with explicit force:false: 409 */
    register_body(b, sizeof(b), fx->sdk_port, ",\"force\":false");
    char conflict[160];
    snprintf(conflict, sizeof(conflict),
             "{\"message\":\"Conflict: deployment %s already exists\",\"restate_code\":null}", id);
    expect(fx, "POST", "/v2/deployments", "application/json", b, 409, conflict, NULL);
    /* /v2 default force: overwritten answers 201 there, revision 2 */
    register_body(b, sizeof(b), fx->sdk_port, "");
    expect(fx, "POST", "/v2/deployments", "application/json", b, 201, NULL, "\"revision\":2");
    /* /v4 with force: 200 */
    register_body(b, sizeof(b), fx->sdk_port, ",\"force\":true");
    expect(fx, "POST", "/v4/deployments", "application/json", b, 200, NULL, "\"revision\":3");

    /* reads */
    expect(fx, "GET", "/v4/services/Greeter", NULL, NULL, 200, NULL, "\"name\":\"Greeter\",\"ty\":\"Service\"");
    expect(fx, "GET", "/v4/services/Greeter", NULL, NULL, 200, NULL, "\"revision\":3,\"public\":true");
    expect(fx, "GET", "/v4/services", NULL, NULL, 200, NULL, "\"name\":\"SleeperSuspend\"");
    expect(fx, "GET", "/v4/services/Counter/handlers", NULL, NULL, 200, NULL,
           "{\"handlers\":[{\"name\":\"add\",\"ty\":\"Exclusive\"");
    expect(fx, "GET", "/v4/services/Counter/handlers/get", NULL, NULL, 200,
           "{\"name\":\"get\",\"ty\":\"Shared\",\"public\":true,\"input_description\":\"application/json\","
           "\"output_description\":\"application/json\",\"retry_policy\":{\"max_attempts\":null}}",
           NULL);
    expect(fx, "GET", "/v4/services/Counter/handlers/nope", NULL, NULL, 404,
           "{\"message\":\"The requested handler 'nope' on service 'Counter' does not exist\",\"restate_code\":null}",
           NULL);
    char path[128];
    snprintf(path, sizeof(path), "/v4/deployments/%s", id);
    char uri_field[256];
    snprintf(uri_field, sizeof(uri_field),
             "\"uri\":\"http://127.0.0.1:%d/\",\"protocol_type\":\"BidiStream\",\"http_version\":\"HTTP/2.0\","
             "\"additional_headers\":{\"x-api-key\":\"secret\"}",
             fx->sdk_port);
    expect(fx, "GET", path, NULL, NULL, 200, NULL, uri_field);
    expect(fx, "GET", path, NULL, NULL, 200, NULL, "\"services\":[{\"name\":\"Greeter\",\"ty\":\"Service\",\"handlers\"");
    expect(fx, "GET", "/deployments", NULL, NULL, 200, NULL, "{\"name\":\"Greeter\",\"revision\":3}");

    /* PATCH /services */
    expect(fx, "PATCH", "/v4/services/Greeter", "application/json",
           "{\"public\":false,\"idempotency_retention\":\"2h\",\"inactivity_timeout\":\"90s\"}", 200, NULL,
           "\"public\":false,\"idempotency_retention\":\"2h\",\"journal_retention\":\"1d\",\"inactivity_timeout\":"
           "\"1m 30s\"");
    expect(fx, "PATCH", "/v4/services/Greeter", "application/json", "{\"public\":null}", 200, NULL,
           "\"public\":false");
    expect(fx, "PATCH", "/v4/services/Greeter", "application/json", "{\"workflow_completion_retention\":\"1h\"}", 400,
           "{\"message\":\"modifying retention time for service type Service is unsupported\",\"restate_code\":null}",
           NULL);
    expect(fx, "PATCH", "/v4/services/Nope", "application/json", "{\"public\":true}", 404,
           "{\"message\":\"not found in the schema registry: service with name 'Nope'\",\"restate_code\":null}", NULL);
    expect(fx, "PATCH", "/v4/services/Greeter", "application/json", "{\"abort_timeout\":\"x\"}", 422, NULL,
           "Failed to deserialize the JSON body into the target type: abort_timeout: ");
    request(fx, "DELETE", "/v4/services/Greeter", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(header(&r, "allow"), "GET,HEAD,PATCH");
    answer_free(&r);

    /* PATCH /deployments: {} answers the deployment, PUT is deprecated outside /v2 */
    expect(fx, "PATCH", path, "application/json", "{}", 200, NULL, uri_field);
    expect(fx, "PUT", path, "application/json", "{}", 405,
           "{\"message\":\"PUT deployment is deprecated, use PATCH instead\",\"restate_code\":null}", NULL);
    /* re-discover with new headers (overwrite keeps revisions) */
    expect(fx, "PATCH", path, "application/json", "{\"additional_headers\":{\"x-api-key\":\"rotated\"}}", 200, NULL,
           "\"additional_headers\":{\"x-api-key\":\"rotated\"}");
    assert_string_equal(fx->sdk.last_api_key, "rotated");

    /* discovery failures */
    char dead[128];
    snprintf(dead, sizeof(dead), "{\"uri\":\"http://127.0.0.1:%d/\"}", fx->dead_port);
    char refused[256];
    snprintf(refused, sizeof(refused),
             "{\"message\":\"[META0003] [META0003] error when calling 'http://127.0.0.1:%d/': h2 pool connection "
             "error: Connection refused (os error 111)\",\"restate_code\":\"META0003\"}",
             fx->dead_port);
    expect(fx, "POST", "/v4/deployments", "application/json", dead, 500, refused, NULL);
    snprintf(dead, sizeof(dead), "{\"uri\":\"http://127.0.0.1:%d/\",\"use_http_11\":true}", fx->dead_port);
    snprintf(refused, sizeof(refused),
             "{\"message\":\"[META0003] [META0003] error when calling 'http://127.0.0.1:%d/': unable to reach the "
             "remote endpoint.\\nReason: tcp connect error: Connection refused (os error 111)\",\"restate_code\":"
             "\"META0003\"}",
             fx->dead_port);
    expect(fx, "POST", "/v4/deployments", "application/json", dead, 500, refused, NULL);
    snprintf(dead, sizeof(dead), "{\"uri\":\"http://127.0.0.1:%d/fail5/\"}", fx->sdk_port);
    calls = atomic_load(&fx->sdk.discover_calls);
    expect(fx, "POST", "/v4/deployments", "application/json", dead, 500, NULL,
           "got status code '500 Internal Server Error'");
    assert_int_equal(atomic_load(&fx->sdk.discover_calls), calls + 2); /* one retry (test options) */

    /* HTTP/1.1 discovery on another path of the same endpoint */
    snprintf(b, sizeof(b), "{\"uri\":\"http://127.0.0.1:%d/h1\",\"use_http_11\":true,\"breaking\":true}",
             fx->sdk_port);
    request(fx, "POST", "/v4/deployments", "application/json", b, &r);
    if (r.status != 201) fail_msg("HTTP/1.1 registration: %d %s", r.status, body(&r));
    assert_int_equal(fx->sdk.last_http_major, 1);
    char id2[STET_DEPLOYMENT_ID_STRLEN + 1];
    memcpy(id2, header(&r, "location") + 12, sizeof(id2));
    answer_free(&r);
    snprintf(path, sizeof(path), "/v4/deployments/%s", id2);
    expect(fx, "GET", path, NULL, NULL, 200, NULL, "\"http_version\":\"HTTP/1.1\"");
    expect(fx, "GET", "/v4/services/Greeter", NULL, NULL, 200, NULL, "\"revision\":4");

    /* DELETE: 501 without force, 202 with, then 404 */
    expect(fx, "DELETE", path, NULL, NULL, 501, "", NULL);
    char delpath[160];
    snprintf(delpath, sizeof(delpath), "%s?force=true", path);
    expect(fx, "DELETE", delpath, NULL, NULL, 202, "", NULL);
    expect(fx, "GET", "/v4/services/Greeter", NULL, NULL, 200, NULL, "\"revision\":3");
    char notfound[200];
    snprintf(notfound, sizeof(notfound),
             "{\"message\":\"not found in the schema registry: deployment with id '%s'\",\"restate_code\":null}", id2);
    expect(fx, "DELETE", delpath, NULL, NULL, 404, notfound, NULL);
    snprintf(delpath, sizeof(delpath), "%s?force=maybe", path);
    expect(fx, "DELETE", delpath, NULL, NULL, 400, NULL, "Failed to deserialize query string");
}

/* After the loop stopped: the registry survived in the metadata store. */
static void test_persisted(void **state) {
    struct fixture *fx = *state;
    char b[256];
    register_body(b, sizeof(b), fx->sdk_port, "");
    expect(fx, "POST", "/deployments", "application/json", b, 201, NULL, "\"name\":\"Counter\"");
    uv_async_send(&fx->stop);
    pthread_join(fx->thread, NULL);
    /* restart the admin on the same store */
    char err[256];
    struct stet_admin *again;
    assert_int_equal(stet_admin_create(&fx->loop, NULL, fx->md, &fx->cfg, &again, err, sizeof(err)), 0);
    struct stet_schema *s = stet_admin_schema(again);
    assert_int_equal(stet_schema_service_count(s), 16);
    assert_non_null(stet_schema_find_service(s, "Counter", 7));
    assert_int_equal(s->n, 1);
    stet_admin_destroy(again);
    /* teardown must not stop the loop again */
    uv_async_init(&fx->loop, &fx->stop, NULL);
    uv_close((uv_handle_t *)&fx->stop, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx->loop);
    stet_metadata_destroy(fx->md);
    stet_store_destroy(fx->store);
    stet_config_free(&fx->cfg);
    free(fx->sdk.manifest);
    free(fx);
    *state = NULL;
}

static int teardown_persisted(void **state) {
    (void)state;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_parse),
        cmocka_unit_test(test_deployment_id_param),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_register_request),
        cmocka_unit_test(test_uri_normalize),
        cmocka_unit_test(test_service_patch_request),
        cmocka_unit_test(test_update_request),
        cmocka_unit_test(test_discovery_result),
        cmocka_unit_test_setup_teardown(test_basic_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted, setup, teardown_persisted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
