/* The schema registry model: deployments, the services they expose, and their handlers.
 *
 * A struct stet_schema is an immutable snapshot. Every change (register, remove, patch)
 * builds a new snapshot from the old one; readers (ingress, invoker, admin) keep using the
 * snapshot they hold. Snapshots are reference counted: stet_schema_ref() to keep one,
 * stet_schema_unref() (= stet_schema_free()) to drop it.
 *
 * Model (mirrors restate crates/types/src/schema/metadata):
 *   - A deployment owns its own copy of every service it exposes, with a revision number.
 *     In-flight invocations pinned to a deployment use those copies.
 *   - The "latest" (active) revision of a service is the highest revision over all
 *     deployments; ties keep the deployment that comes first. stet_schema_find_service
 *     answers from an index over that.
 *   - Settings are stored as given (manifest or PATCH); "unset" durations are
 *     STET_DURATION_UNSET and fall back to handler > service > server default when resolved
 *     through the stet_schema_effective_* functions.
 *
 * Registration semantics (http-api.md §4.5, restate SchemaUpdater::add_deployment):
 *   - the same endpoint (authority + path of the URI) already registered and no overwrite
 *     => Unchanged (nothing stored, existing id);
 *   - overwrite (force) => the existing deployment keeps its id and is replaced (new
 *     created_at, services re-computed), result Overwritten;
 *   - otherwise a new deployment is created;
 *   - every service in the new deployment gets revision = latest revision + 1 (1 if new);
 *   - a service whose type changes fails with META0006 (409) unless breaking changes are
 *     allowed; reserved names ("restate*", "openapi") fail with META0005 (400).
 *
 * Ownership: a schema owns everything it points to. Functions returning pointers into a
 * schema return borrowed pointers valid while the caller holds a reference.
 */
#ifndef STET_SCHEMA_H
#define STET_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "config/config.h"
#include "json/json.h"

#define STET_DURATION_UNSET UINT64_MAX

/* service-protocol versions this server can discover (restate 1.7: [V5, V7]) */
#define STET_SCHEMA_MIN_DISCOVERABLE_PROTOCOL 5
#define STET_SCHEMA_MAX_DISCOVERABLE_PROTOCOL 7

enum stet_service_type { STET_SERVICE, STET_VIRTUAL_OBJECT, STET_WORKFLOW };
/* UNSET is the type of handlers of plain services; objects have EXCLUSIVE/SHARED, workflows
 * WORKFLOW/SHARED (resolved at registration: a missing manifest ty means EXCLUSIVE on an
 * object and SHARED on a workflow, as restate's Handler::from_schema does). */
enum stet_handler_type { STET_HANDLER_UNSET, STET_HANDLER_EXCLUSIVE, STET_HANDLER_SHARED, STET_HANDLER_WORKFLOW };

enum { STET_ON_MAX_ATTEMPTS_PAUSE = 0, STET_ON_MAX_ATTEMPTS_KILL = 1 };

/* A retry policy or a set of overrides (has_* say which fields are set). In an effective
 * policy every has_* is true except has_max_interval may be false (no cap), and
 * max_attempts 0 means unlimited. */
struct stet_retry_policy {
    uint64_t initial_interval_ms;
    double factor;
    uint32_t max_attempts; /* >= 1 when set (a manifest 0 becomes 1, like NonZeroUsize::MIN) */
    uint64_t max_interval_ms;
    int on_max_attempts; /* STET_ON_MAX_ATTEMPTS_* */
    bool has_initial_interval, has_factor, has_max_attempts, has_max_interval, has_on_max_attempts;
};

struct stet_schema_kv {
    char *key;
    char *value;
};

struct stet_handler_schema {
    char *name;
    enum stet_handler_type ty;
    int public_override; /* -1 unset (follow the service), 0 private, 1 public */
    bool is_public;      /* effective: public_override, else the service's is_public */

    /* input rules (restate InputRules). A manifest without "input" is normalized to
     * {required:false, contentType:"any"} (any = star/star). input_content_type NULL: no content-type rule. */
    bool input_required;
    char *input_content_type;
    char *input_json_schema; /* compact JSON text or NULL */
    /* output rules. A manifest without "output" is normalized to application/json.
     * output_content_type NULL: never set a content-type (OutputContentTypeRule::None). */
    char *output_content_type;
    bool output_set_content_type_if_empty;
    char *output_json_schema;

    /* overrides; STET_DURATION_UNSET = inherit */
    uint64_t inactivity_timeout_ms, abort_timeout_ms, idempotency_retention_ms, journal_retention_ms,
        workflow_completion_retention_ms;
    int enable_lazy_state; /* -1 inherit, 0, 1 */
    struct stet_retry_policy retry;
    char *documentation;
    struct stet_schema_kv *metadata;
    size_t n_metadata;
};

struct stet_service_schema {
    char *name;
    enum stet_service_type ty;
    uint32_t revision;
    uint8_t deployment_id[16];
    struct stet_handler_schema *handlers;
    size_t n_handlers;
    bool is_public;
    /* STET_DURATION_UNSET = use the server default */
    uint64_t idempotency_retention_ms, workflow_completion_retention_ms, journal_retention_ms,
        inactivity_timeout_ms, abort_timeout_ms;
    bool enable_lazy_state;
    struct stet_retry_policy retry; /* overrides */
    char *documentation;
    struct stet_schema_kv *metadata;
    size_t n_metadata;
};

struct stet_deployment_schema {
    uint8_t id[16];
    char *uri;             /* normalized: an authority-only URI gets the path "/" */
    bool use_http_11;      /* http_version "HTTP/1.1" instead of "HTTP/2.0" */
    bool request_response; /* protocol_type RequestResponse instead of BidiStream */
    uint32_t min_protocol, max_protocol;
    char *sdk_version; /* x-restate-server of the discovery response, or NULL */
    uint64_t created_at_ms;
    struct stet_schema_kv *headers; /* additional_headers (names lower-cased) */
    size_t n_headers;
    struct stet_schema_kv *metadata;
    size_t n_metadata;
    struct stet_service_schema *services;
    size_t n_services;
};

struct stet_schema_active; /* latest-revision index entry (schema.c) */

struct stet_schema {
    uint64_t version; /* bumped by every change; 0 = empty registry */
    struct stet_deployment_schema *deployments;
    size_t n;
    struct stet_schema_active *active; /* sorted by service name */
    size_t n_active;
    int refs;
};

/* Server-wide defaults the schema falls back to (from struct stet_config). */
struct stet_schema_defaults {
    uint64_t inactivity_timeout_ms;
    uint64_t abort_timeout_ms;
    uint64_t idempotency_retention_ms;
    uint64_t workflow_completion_retention_ms;
    uint64_t journal_retention_ms;
    struct stet_retry_policy retry; /* all fields set */
};

/* restate 1.7.12 defaults: 1m / 10m / 1d / 1d / 1d, retry 500ms x2.0, 70 attempts, max 1m, pause */
void stet_schema_defaults_init(struct stet_schema_defaults *d);
void stet_schema_defaults_from_config(const struct stet_config *cfg, struct stet_schema_defaults *d);

/* Errors: a status for the admin API, Restate's error code (static string or NULL) and a
 * message as the admin API renders it (already "[CODE] "-decorated where Restate does). */
struct stet_schema_error {
    int http_status;
    const char *restate_code;
    char message[1024];
};

/* ---- snapshots ---- */

struct stet_schema *stet_schema_create_empty(void); /* refs = 1, version 0 */
struct stet_schema *stet_schema_ref(struct stet_schema *s);
void stet_schema_unref(struct stet_schema *s); /* NULL allowed */
void stet_schema_free(struct stet_schema *s);  /* = stet_schema_unref */
/* Verifies every invariant (index sorted and pointing at the highest revision, ids and
 * names consistent, effective publicity). Asserts; for tests and fuzzers. */
void stet_schema_check(const struct stet_schema *s);

/* ---- lookups ---- */

/* Latest revision of a service, or NULL. *dep (if dep != NULL) gets its deployment. */
const struct stet_service_schema *stet_schema_find_service(const struct stet_schema *s, const char *name, size_t len);
const struct stet_service_schema *stet_schema_find_service_dep(const struct stet_schema *s, const char *name,
                                                               size_t len, const struct stet_deployment_schema **dep);
const struct stet_handler_schema *stet_schema_find_handler(const struct stet_service_schema *svc, const char *name,
                                                           size_t len);
const struct stet_deployment_schema *stet_schema_find_deployment(const struct stet_schema *s, const uint8_t id[16]);
/* The service as the given deployment defines it (for invocations pinned to it), or NULL. */
const struct stet_service_schema *stet_schema_deployment_service(const struct stet_deployment_schema *dep,
                                                                 const char *name, size_t len);
/* The deployment registered for the same endpoint: same URI authority (case-insensitive)
 * and path, the newest one if several. NULL if none. */
const struct stet_deployment_schema *stet_schema_find_deployment_by_uri(const struct stet_schema *s, const char *uri);
/* Number of latest services and access by index (sorted by name). */
size_t stet_schema_service_count(const struct stet_schema *s);
const struct stet_service_schema *stet_schema_service_at(const struct stet_schema *s, size_t i,
                                                         const struct stet_deployment_schema **dep);

/* ---- effective settings: handler override > service > defaults ---- */

uint64_t stet_schema_inactivity_timeout(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                        uint64_t dflt);
uint64_t stet_schema_abort_timeout(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                   uint64_t dflt);
/* Lazy state: handler override, else the service setting. */
bool stet_schema_lazy_state(const struct stet_service_schema *svc, const struct stet_handler_schema *h);
/* Completion retention: workflow retention for the WORKFLOW handler, idempotency retention
 * otherwise. Journal retention likewise. */
uint64_t stet_schema_completion_retention(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                          const struct stet_schema_defaults *d);
uint64_t stet_schema_journal_retention(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                       const struct stet_schema_defaults *d);
/* Defaults merged with service then handler overrides. */
void stet_schema_retry_policy(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                              const struct stet_schema_defaults *d, struct stet_retry_policy *out);

/* ---- handler input/output rules (ingress) ---- */

/* Checks a request against the handler's input rules (restate InputRules::validate).
 * content_type may be NULL (header absent). Returns 0 or -EINVAL with Restate's reason in
 * err ("Empty content-type", "Content-type 'text/plain' does not match 'application/json'",
 * "Expected body and content-type to be empty, but wasn't with content-type '...'", "Empty
 * body not allowed"). */
int stet_schema_check_input(const struct stet_handler_schema *h, const char *content_type, size_t ct_len,
                            size_t body_len, char *err, size_t errlen);
/* Content-type the ingress sets on a successful response, or NULL for none. */
const char *stet_schema_output_content_type(const struct stet_handler_schema *h, bool body_empty);
/* "application/json", "none", "one of [\"none\", \"star/star\"]", "JSON 'Title'", ... as Restate's
 * InputRules/OutputRules Display render them. Appends to out. */
void stet_schema_input_description(const struct stet_handler_schema *h, struct stet_buf *out);
void stet_schema_output_description(const struct stet_handler_schema *h, struct stet_buf *out);

/* ---- discovery manifest ---- */

/* Kinds of manifest failures, as restate's DiscoveryError classifies them. */
enum stet_manifest_error_kind {
    STET_MANIFEST_DECODE = 1,      /* not valid JSON / not a valid manifest: no code */
    STET_MANIFEST_BAD_RESPONSE,    /* META0013 */
    STET_MANIFEST_UNSUPPORTED,     /* META0012: protocol range outside [5, 7] */
};

/* Parses a discovery manifest (endpoint manifest v1..v4, service-protocol.md §2.2) into
 * out->services, min/max_protocol and request_response. Unknown fields are rejected (the
 * manifest schema forbids additional properties). Checks: protocolMode present, min <= max,
 * the range overlaps [5, 7], names match the manifest patterns and are unique, ty values
 * valid. Does not touch out's id/uri/headers/metadata/created_at/sdk_version. On failure
 * returns -EINVAL, *kind and a message (without "[CODE]" prefix); out->services is left
 * empty. Service ownership: out owns what was parsed (stet_schema_deployment_clear). */
int stet_schema_parse_manifest(const char *json, size_t len, struct stet_deployment_schema *out,
                               enum stet_manifest_error_kind *kind, char *err, size_t errlen);

/* Frees everything a deployment owns and zeroes it (the struct itself is caller memory). */
void stet_schema_deployment_clear(struct stet_deployment_schema *dep);
/* Deep copy into *out (caller memory). Returns 0 or -ENOMEM. */
int stet_schema_deployment_copy(const struct stet_deployment_schema *src, struct stet_deployment_schema *out);

/* ---- changes: each returns a new snapshot (refs = 1) the caller owns ---- */

enum stet_register_result { STET_REGISTER_CREATED, STET_REGISTER_UNCHANGED, STET_REGISTER_OVERWRITTEN };

/* Applies a registration. dep: a parsed manifest plus id (used if the deployment is new),
 * uri, headers, metadata, created_at_ms, sdk_version, use_http_11. Takes ownership of *dep
 * (its contents; the struct is zeroed) on every path. On success returns 0 with *result,
 * the deployment id in out_id, and *out = the new snapshot, or *out = NULL when Unchanged.
 * On failure returns -EINVAL (or -ENOMEM) with err filled (409 META0006, 400 META0005, 400
 * for bad handler combinations / content types / retention settings). Nothing is changed
 * on failure. */
int stet_schema_register(const struct stet_schema *cur, struct stet_deployment_schema *dep, bool allow_breaking,
                         bool overwrite, struct stet_schema **out, enum stet_register_result *result,
                         uint8_t out_id[16], struct stet_schema_error *err);

/* Removes a deployment (DELETE /deployments/{id}?force=true). Services whose latest revision
 * lived there fall back to older revisions in other deployments, or disappear. -ENOENT with
 * err 404 "not found in the schema registry: deployment with id 'dp_…'" if absent. */
int stet_schema_remove_deployment(const struct stet_schema *cur, const uint8_t id[16], struct stet_schema **out,
                                  struct stet_schema_error *err);

/* PATCH /services/{name}: fields left at their "unset" value are not changed. */
struct stet_service_patch {
    int is_public; /* -1 unchanged */
    uint64_t idempotency_retention_ms, workflow_completion_retention_ms, journal_retention_ms,
        inactivity_timeout_ms, abort_timeout_ms; /* STET_DURATION_UNSET = unchanged */
};
void stet_service_patch_init(struct stet_service_patch *p);
bool stet_service_patch_is_empty(const struct stet_service_patch *p);
/* Changes the latest revision in place (no revision bump, schema version bump). Errors: 404
 * "not found in the schema registry: service with name 'X'", 400 "modifying retention time
 * for service type Service is unsupported". */
int stet_schema_patch_service(const struct stet_schema *cur, const char *name, size_t len,
                              const struct stet_service_patch *patch, struct stet_schema **out,
                              struct stet_schema_error *err);

/* PATCH /deployments/{id}: replaces an existing deployment's address, headers, protocol
 * type/HTTP version and sdk version with those of `discovered` (a fresh discovery of the
 * effective address; takes ownership of its contents). With overwrite, the deployment's
 * services are replaced by the discovered ones, each keeping its previous revision in this
 * deployment (1 if new), and the protocol range too; without overwrite the services stay.
 * The id, created_at and metadata are kept. Errors: -ENOENT (404 "not found in the schema
 * registry: deployment with id 'dp_…'"), -EINVAL 400 META0016 when the protocol range
 * differs. */
int stet_schema_update_deployment(const struct stet_schema *cur, const uint8_t id[16],
                                  struct stet_deployment_schema *discovered, bool overwrite, struct stet_schema **out,
                                  struct stet_schema_error *err);

/* ---- persistence (metadata key "schema") ---- */

/* Exact round trip: from_json(to_json(s)) renders to the same bytes. */
void stet_schema_to_json(const struct stet_schema *s, struct stet_buf *out);
/* Returns 0 and a new snapshot (refs = 1), or -EINVAL with a message. */
int stet_schema_from_json(const char *json, size_t len, struct stet_schema **out, char *err, size_t errlen);

/* ---- admin API renderings (http-api.md §4.5, §4.6) ---- */

/* ServiceMetadata of a service as deployment dep defines it. */
void stet_schema_render_service(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                const struct stet_service_schema *svc, const struct stet_schema_defaults *d);
/* HandlerMetadata. */
void stet_schema_render_handler(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                const struct stet_schema_defaults *d);
/* Deployment: list form (services as {name, revision}) or detailed form (full ServiceMetadata). */
void stet_schema_render_deployment(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                   bool detailed, const struct stet_schema_defaults *d);
/* POST /deployments response body: {id, services, min/max_protocol_version, sdk_version?}. */
void stet_schema_render_register_response(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                          const struct stet_schema_defaults *d);
/* {"services":[...latest revisions...]} and {"deployments":[...list form...]} */
void stet_schema_render_services(struct stet_json_writer *w, const struct stet_schema *s,
                                 const struct stet_schema_defaults *d);
void stet_schema_render_deployments(struct stet_json_writer *w, const struct stet_schema *s,
                                    const struct stet_schema_defaults *d);

/* "Service" / "VirtualObject" / "Workflow" */
const char *stet_service_type_name(enum stet_service_type ty);

#endif
