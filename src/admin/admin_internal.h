/* Admin internals: the pure parts (routing, request-body parsers, discovery error texts)
 * split out so that tests and fuzz/fuzz_admin_json.c can drive them without a loop or
 * sockets. Not part of the API. */
#ifndef STET_ADMIN_INTERNAL_H
#define STET_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "schema/schema.h"

struct stet_h2_pool;

/* An error answer. text = true: "text/plain; charset=utf-8" body (axum extractor errors);
 * otherwise JSON {"message": message, "restate_code": restate_code|null}. */
struct stet_admin_error {
    int status;
    bool text;
    const char *restate_code; /* static or NULL */
    char message[1536];
};

void stet_admin__error(struct stet_admin_error *e, int status, bool text, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- routing ---- */

#define STET_ADMIN_MAX_SEGMENTS 8

/* Admin API version prefixes (http-api.md §3.1): 0 = none ("unknown"), 2..4. */
struct stet_admin_route {
    int api_version;
    const char *rest; /* path after the prefix (starts with '/'), borrowed */
    size_t rest_len;
    size_t n_segments;
    struct { const char *p; size_t len; } seg[STET_ADMIN_MAX_SEGMENTS]; /* raw, not decoded */
};

enum stet_admin_route_result {
    STET_ADMIN_ROUTE_OK = 0,
    STET_ADMIN_ROUTE_V1,        /* answer 400 "Unsupported Admin API version V1. ..." */
    STET_ADMIN_ROUTE_NOT_FOUND, /* unknown prefix (/v5/...) or malformed path */
};

/* Splits a raw request path into the version prefix and segments. More than
 * STET_ADMIN_MAX_SEGMENTS segments, or empty segments ("//", trailing '/') leave
 * n_segments = 0 with rest still set (such paths only reach the extra handler). */
enum stet_admin_route_result stet_admin_route_parse(const char *path, size_t len, struct stet_admin_route *r);

/* Parses "force=true" style query parameters: returns 1 true, 0 false or absent, -1 for a
 * value that is neither (answer 400). */
int stet_admin_query_bool(const char *query, size_t len, const char *name);

/* Parses a "dp_…" path parameter; on error fills e with 400 text "Invalid URL: Cannot parse
 * `deployment` with value `…`: <reason>". */
int stet_admin_parse_deployment_id(const char *s, size_t len, uint8_t id[16], struct stet_admin_error *e);

/* ---- request bodies ---- */

/* Checks content-type is JSON (application/json or application/...+json). Fills 415. */
int stet_admin_check_json_content_type(const char *ct, size_t len, struct stet_admin_error *e);

/* POST /deployments body (RegisterDeploymentRequest, HTTP flavour). */
struct stet_admin_register_request {
    char *uri; /* normalized (empty path -> "/") */
    struct stet_schema_kv *headers;
    size_t n_headers;
    bool has_headers; /* additional_headers present and not null */
    struct stet_schema_kv *metadata;
    size_t n_metadata;
    bool use_http_11;
    bool breaking;
    int force; /* -1 absent/null, 0, 1 */
    bool dry_run;
};

/* Returns 0, or -EINVAL with e set exactly as restate answers: 400 text for bad JSON syntax,
 * 422 text "Failed to deserialize the JSON body into the target type: data did not match any
 * variant of untagged enum RegisterDeploymentRequest at line L column C" for a body that
 * fits neither flavour, 400 JSON for a relative uri ("The request field 'uri' is invalid.
 * Reason: The provided uri /foo is not absolute, only absolute URIs can be used."), for
 * Lambda ("arn") and for "auth", which this server does not support. out is owned by the
 * caller (stet_admin_register_request_free) on success and zeroed on failure. */
int stet_admin_parse_register_request(const uint8_t *body, size_t len, struct stet_admin_register_request *out,
                                      struct stet_admin_error *e);
void stet_admin_register_request_free(struct stet_admin_register_request *r);

/* PATCH /services/{name} body (ModifyServiceRequest). 422 for a bad duration or type. */
int stet_admin_parse_service_patch(const uint8_t *body, size_t len, struct stet_service_patch *out,
                                   struct stet_admin_error *e);

/* PATCH /deployments/{id} body (UpdateDeploymentRequest, HTTP flavour). */
struct stet_admin_update_request {
    char *uri;               /* NULL = unchanged */
    struct stet_schema_kv *headers;
    size_t n_headers;
    bool has_headers;
    int use_http_11;         /* -1 unchanged */
    bool overwrite;
    bool dry_run;
};
int stet_admin_parse_update_request(const uint8_t *body, size_t len, struct stet_admin_update_request *out,
                                    struct stet_admin_error *e);
void stet_admin_update_request_free(struct stet_admin_update_request *r);

/* Validates and normalizes a deployment URI the way http::Uri parses and displays it.
 * Returns 0 with *out (caller frees), 1 if the URI is valid but not absolute, -EINVAL if it
 * does not parse. */
int stet_admin_normalize_uri(const char *s, size_t len, char **out);

/* ---- discovery ---- */

struct stet_admin_discovery;

/* On success error == NULL and dep holds the discovered deployment (services, protocol range
 * and mode, sdk_version, use_http_11, uri): the callback may move the contents out (copy
 * the struct, then zero *dep); whatever is left is freed after it returns. On failure error is set (500 with META0003/12/13/14 or no
 * code) and dep is empty. Called exactly once, never from inside stet_admin_discover. */
typedef void (*stet_admin_discovery_cb)(void *arg, struct stet_deployment_schema *dep,
                                        const struct stet_admin_error *error);

struct stet_admin_discovery_request {
    const char *uri;                       /* normalized */
    const struct stet_schema_kv *headers;  /* additional_headers */
    size_t n_headers;
    bool use_http_11;
    const char *cluster_name;              /* sent as x-restate-cluster-name */
    uint64_t attempt_timeout_ms;           /* 0 = 30 s */
    uint32_t max_retries;                  /* retries after the first attempt, restate: 4 */
    uint64_t retry_initial_ms;             /* restate: 100 ms, doubling */
};

/* Starts GET <uri>/discover with the accept header listing manifest v1..v4. Returns 0 and
 * *out (valid until the callback returns or stet_admin_discovery_cancel), or -EINVAL for a
 * URI it cannot call (then cb is not called and e is filled). */
int stet_admin_discover(uv_loop_t *loop, struct stet_h2_pool *pool, const struct stet_admin_discovery_request *req,
                        stet_admin_discovery_cb cb, void *arg, struct stet_admin_discovery **out,
                        struct stet_admin_error *e);
/* Stops a discovery; its callback is not called. Sockets close asynchronously: done_cb(arg2)
 * runs once nothing refers to the discovery anymore (may run before this returns). */
void stet_admin_discovery_cancel(struct stet_admin_discovery *d, void (*done_cb)(void *arg), void *arg2);

/* Builds the result of one discovery exchange (pure; used by the transports and tests):
 * validates status and content-type, parses the manifest, applies restate's checks.
 * headers: the response headers. Returns 0 with *dep filled (sdk_version from
 * x-restate-server), or a negative value with e set; *retryable tells whether restate would
 * retry (408/429/500/502/503/504). */
int stet_admin_discovery_result(const char *uri, int status, const struct stet_schema_kv *headers, size_t n_headers,
                                const uint8_t *body, size_t body_len, bool use_http_11,
                                struct stet_deployment_schema *dep, struct stet_admin_error *e, bool *retryable);

#define STET_ADMIN_DISCOVERY_ACCEPT                                                                            \
    "application/vnd.restate.endpointmanifest.v1+json, application/vnd.restate.endpointmanifest.v2+json, " \
    "application/vnd.restate.endpointmanifest.v3+json, application/vnd.restate.endpointmanifest.v4+json"

#endif
