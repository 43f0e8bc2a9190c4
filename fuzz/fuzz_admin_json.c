/* Fuzz target for the admin's JSON inputs: discovery manifests, admin request bodies, the
 * persisted schema registry, and HTTP/1.1 discovery responses.
 *
 * Every input goes through all parsers. Oracle:
 *   1. no parser crashes, leaks or trips an assertion; errors always carry a message;
 *   2. a manifest that parses registers into an empty registry (or fails with a 4xx and a
 *      message); the resulting snapshot passes stet_schema_check, every service renders, and
 *      its persisted form round-trips byte for byte;
 *   3. a persisted registry that loads re-serializes to a document that loads again and
 *      serializes identically;
 *   4. request-body parsers either succeed or fail with 400/422 (415 is never produced by
 *      them), and successful register requests hold an absolute, normalized URI.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "common/assert.h"
#include "common/buf.h"
#include "h1client/h1client.h"
#include "schema/schema.h"

static void check_render(const struct stet_schema *s) {
    struct stet_schema_defaults d;
    stet_schema_defaults_init(&d);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_schema_render_services(&w, s, &d);
    stet_json_writer_init(&w, &b);
    stet_schema_render_deployments(&w, s, &d);
    for (size_t i = 0; i < s->n; i++) {
        stet_json_writer_init(&w, &b);
        stet_schema_render_deployment(&w, &s->deployments[i], true, &d);
        stet_json_writer_init(&w, &b);
        stet_schema_render_register_response(&w, &s->deployments[i], &d);
    }
    stet_buf_free(&b);
}

static void check_round_trip(const struct stet_schema *s) {
    struct stet_buf a = STET_BUF_INIT, b = STET_BUF_INIT;
    stet_schema_to_json(s, &a);
    struct stet_schema *loaded = NULL;
    char err[256];
    int rc = stet_schema_from_json((const char *)a.data, a.len, &loaded, err, sizeof(err));
    STET_ASSERT(rc == 0);
    stet_schema_to_json(loaded, &b);
    STET_ASSERT(a.len == b.len);
    STET_ASSERT(memcmp(a.data, b.data, a.len) == 0);
    stet_schema_unref(loaded);
    stet_buf_free(&a);
    stet_buf_free(&b);
}

static void fuzz_manifest(const uint8_t *data, size_t size) {
    struct stet_deployment_schema dep;
    memset(&dep, 0, sizeof(dep));
    enum stet_manifest_error_kind kind = 0;
    char err[512];
    err[0] = '\0';
    if (stet_schema_parse_manifest((const char *)data, size, &dep, &kind, err, sizeof(err)) != 0) {
        STET_ASSERT(kind >= STET_MANIFEST_DECODE && kind <= STET_MANIFEST_UNSUPPORTED);
        STET_ASSERT(err[0] != '\0');
        STET_ASSERT(dep.services == NULL);
        return;
    }
    STET_ASSERT(dep.min_protocol <= dep.max_protocol);
    /* discovery fills these */
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    memcpy(dep.id, id, 16);
    dep.uri = strdup("http://127.0.0.1:9080/");
    dep.created_at_ms = 1795499437543ull;
    struct stet_schema *empty = stet_schema_create_empty();
    struct stet_schema *next = NULL;
    enum stet_register_result res;
    struct stet_schema_error serr;
    uint8_t out_id[16];
    bool breaking = size > 0 && (data[0] & 1);
    int rc = stet_schema_register(empty, &dep, breaking, false, &next, &res, out_id, &serr);
    if (rc != 0) {
        STET_ASSERT(next == NULL);
        STET_ASSERT(serr.http_status >= 400 && serr.http_status < 500);
        STET_ASSERT(serr.message[0] != '\0');
    } else {
        STET_ASSERT(res == STET_REGISTER_CREATED);
        stet_schema_check(next);
        check_render(next);
        check_round_trip(next);
        /* registering the same endpoint again is a no-op; forcing it bumps revisions */
        struct stet_deployment_schema again;
        stet_schema_deployment_copy(&next->deployments[0], &again);
        struct stet_schema *third = NULL;
        rc = stet_schema_register(next, &again, true, true, &third, &res, out_id, &serr);
        STET_ASSERT(rc == 0);
        STET_ASSERT(res == STET_REGISTER_OVERWRITTEN);
        STET_ASSERT(memcmp(out_id, id, 16) == 0);
        for (size_t i = 0; i < third->deployments[0].n_services; i++)
            STET_ASSERT(third->deployments[0].services[i].revision == 2);
        struct stet_schema *removed = NULL;
        STET_ASSERT(stet_schema_remove_deployment(third, id, &removed, &serr) == 0);
        STET_ASSERT(stet_schema_service_count(removed) == 0);
        stet_schema_unref(removed);
        stet_schema_unref(third);
        stet_schema_unref(next);
    }
    stet_schema_unref(empty);
    STET_ASSERT(dep.uri == NULL); /* taken on every path */
}

static void fuzz_persisted(const uint8_t *data, size_t size) {
    struct stet_schema *s = NULL;
    char err[256];
    err[0] = '\0';
    if (stet_schema_from_json((const char *)data, size, &s, err, sizeof(err)) != 0) {
        STET_ASSERT(s == NULL);
        STET_ASSERT(err[0] != '\0');
        return;
    }
    stet_schema_check(s);
    check_render(s);
    check_round_trip(s);
    stet_schema_unref(s);
}

static void fuzz_requests(const uint8_t *data, size_t size) {
    struct stet_admin_error e;
    struct stet_admin_register_request rr;
    if (stet_admin_parse_register_request(data, size, &rr, &e) == 0) {
        STET_ASSERT(rr.uri != NULL);
        STET_ASSERT(strstr(rr.uri, "://") != NULL);
        stet_admin_register_request_free(&rr);
    } else {
        STET_ASSERT(e.status == 400 || e.status == 422);
        STET_ASSERT(rr.uri == NULL);
    }
    struct stet_service_patch p;
    if (stet_admin_parse_service_patch(data, size, &p, &e) != 0) {
        STET_ASSERT(e.status == 400 || e.status == 422);
        STET_ASSERT(stet_service_patch_is_empty(&p));
    }
    struct stet_admin_update_request ur;
    if (stet_admin_parse_update_request(data, size, &ur, &e) == 0) stet_admin_update_request_free(&ur);
    else STET_ASSERT(e.status == 400 || e.status == 422);
}

/* A complete HTTP/1.1 response (parsed by src/h1client/, fuzzed on its own in
 * fuzz/fuzz_h1_response.c) feeds discovery result building, as in discovery.c. */
static void fuzz_http1(const uint8_t *data, size_t size) {
    for (int eof = 0; eof < 2; eof++) {
        struct stet_h1_parser p;
        int rc = stet_h1_parse_response(&p, data, size, eof == 1, 4096);
        if (rc == 1) {
            struct stet_h1_response r;
            stet_h1_parser_response(&p, &r);
            STET_ASSERT(r.status >= 200 && r.status <= 999);
            STET_ASSERT(r.body_len <= 4096);
            struct stet_schema_kv kv[STET_H1_MAX_HEADERS];
            for (size_t i = 0; i < r.n_headers; i++) {
                kv[i].key = (char *)r.headers[i].name;
                kv[i].value = (char *)r.headers[i].value;
            }
            struct stet_deployment_schema dep;
            struct stet_admin_error e;
            bool retry;
            if (stet_admin_discovery_result("http://h:1/", r.status, kv, r.n_headers, r.body, r.body_len, true, &dep,
                                            &e, &retry) == 0)
                stet_schema_deployment_clear(&dep);
        } else {
            STET_ASSERT(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
        }
        stet_h1_parser_free(&p);
    }
}

static void fuzz_route(const uint8_t *data, size_t size) {
    struct stet_admin_route r;
    if (stet_admin_route_parse((const char *)data, size, &r) == STET_ADMIN_ROUTE_OK) {
        STET_ASSERT(r.rest != NULL && r.rest >= (const char *)data);
        STET_ASSERT(r.rest + r.rest_len == (const char *)data + size);
        STET_ASSERT(r.n_segments <= STET_ADMIN_MAX_SEGMENTS);
    }
    uint8_t id[16];
    struct stet_admin_error e;
    if (stet_admin_parse_deployment_id((const char *)data, size, id, &e) != 0) STET_ASSERT(e.status == 400);
    (void)stet_admin_query_bool((const char *)data, size, "force");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_manifest(data, size);
    fuzz_persisted(data, size);
    fuzz_requests(data, size);
    fuzz_http1(data, size);
    fuzz_route(data, size);
    return 0;
}
