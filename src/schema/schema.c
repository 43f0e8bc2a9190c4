/* Schema snapshots: memory management, the latest-revision index, lookups, effective
 * settings, input/output rules, and the registry changes (register, remove, patch, update).
 *
 * Every change follows the same pattern (restate's SchemaUpdater):
 *   1. validate against the current snapshot; on error nothing was allocated that survives;
 *   2. deep-copy the deployments array, apply the change to the copy;
 *   3. stet_schema__build() the new snapshot with version + 1, which recomputes the index
 *      (latest revision per service name) and each handler's effective publicity.
 * Snapshots are never modified after build (refs aside), so readers need no locking.
 *
 * Invariants of a snapshot (stet_schema_check):
 *   1. active[] is sorted by name, names unique, and each entry points at a service of the
 *      deployment it names, whose revision is the maximum for that name over all deployments.
 *   2. every service's deployment_id equals its deployment's id; deployment ids are unique.
 *   3. handler.is_public == (public_override >= 0 ? public_override : service.is_public).
 *   4. handler types match the service type (UNSET only in services, EXCLUSIVE only in
 *      objects, WORKFLOW only in workflows).
 */
#include "schema/schema_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/ids.h"
#include "common/log.h"

#define DAY_MS (24ull * 60 * 60 * 1000)

/* ---- small helpers ---- */

char *stet_schema__strdup(const char *s) {
    if (s == NULL) return NULL;
    char *c = strdup(s);
    STET_ASSERT(c != NULL);
    return c;
}

char *stet_schema__strndup(const char *s, size_t n) {
    char *c = malloc(n + 1);
    STET_ASSERT(c != NULL);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

void *stet_schema__calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    STET_ASSERT(p != NULL);
    return p;
}

void stet_schema__set_error(struct stet_schema_error *err, int status, const char *code, const char *fmt, ...) {
    if (err == NULL) return;
    err->http_status = status;
    err->restate_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

void stet_schema__kv_free(struct stet_schema_kv *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

struct stet_schema_kv *stet_schema__kv_copy(const struct stet_schema_kv *kv, size_t n) {
    if (n == 0) return NULL;
    struct stet_schema_kv *c = stet_schema__calloc(n, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i].key = stet_schema__strdup(kv[i].key);
        c[i].value = stet_schema__strdup(kv[i].value);
    }
    return c;
}

void stet_schema__retry_clear(struct stet_retry_policy *r) { memset(r, 0, sizeof(*r)); }

void stet_schema__handler_init(struct stet_handler_schema *h) {
    memset(h, 0, sizeof(*h));
    h->public_override = -1;
    h->is_public = true;
    h->inactivity_timeout_ms = STET_DURATION_UNSET;
    h->abort_timeout_ms = STET_DURATION_UNSET;
    h->idempotency_retention_ms = STET_DURATION_UNSET;
    h->journal_retention_ms = STET_DURATION_UNSET;
    h->workflow_completion_retention_ms = STET_DURATION_UNSET;
    h->enable_lazy_state = -1;
}

void stet_schema__service_init(struct stet_service_schema *svc) {
    memset(svc, 0, sizeof(*svc));
    svc->is_public = true;
    svc->idempotency_retention_ms = STET_DURATION_UNSET;
    svc->workflow_completion_retention_ms = STET_DURATION_UNSET;
    svc->journal_retention_ms = STET_DURATION_UNSET;
    svc->inactivity_timeout_ms = STET_DURATION_UNSET;
    svc->abort_timeout_ms = STET_DURATION_UNSET;
}

void stet_schema__handler_free(struct stet_handler_schema *h) {
    free(h->name);
    free(h->input_content_type);
    free(h->input_json_schema);
    free(h->output_content_type);
    free(h->output_json_schema);
    free(h->documentation);
    stet_schema__kv_free(h->metadata, h->n_metadata);
    memset(h, 0, sizeof(*h));
}

static void handler_copy(const struct stet_handler_schema *src, struct stet_handler_schema *dst) {
    *dst = *src;
    dst->name = stet_schema__strdup(src->name);
    dst->input_content_type = stet_schema__strdup(src->input_content_type);
    dst->input_json_schema = stet_schema__strdup(src->input_json_schema);
    dst->output_content_type = stet_schema__strdup(src->output_content_type);
    dst->output_json_schema = stet_schema__strdup(src->output_json_schema);
    dst->documentation = stet_schema__strdup(src->documentation);
    dst->metadata = stet_schema__kv_copy(src->metadata, src->n_metadata);
}

void stet_schema__service_free(struct stet_service_schema *svc) {
    for (size_t i = 0; i < svc->n_handlers; i++) stet_schema__handler_free(&svc->handlers[i]);
    free(svc->handlers);
    free(svc->name);
    free(svc->documentation);
    stet_schema__kv_free(svc->metadata, svc->n_metadata);
    memset(svc, 0, sizeof(*svc));
}

void stet_schema__service_copy(const struct stet_service_schema *src, struct stet_service_schema *dst) {
    *dst = *src;
    dst->name = stet_schema__strdup(src->name);
    dst->documentation = stet_schema__strdup(src->documentation);
    dst->metadata = stet_schema__kv_copy(src->metadata, src->n_metadata);
    dst->handlers = src->n_handlers ? stet_schema__calloc(src->n_handlers, sizeof(*dst->handlers)) : NULL;
    for (size_t i = 0; i < src->n_handlers; i++) handler_copy(&src->handlers[i], &dst->handlers[i]);
}

void stet_schema_deployment_clear(struct stet_deployment_schema *dep) {
    free(dep->uri);
    free(dep->sdk_version);
    stet_schema__kv_free(dep->headers, dep->n_headers);
    stet_schema__kv_free(dep->metadata, dep->n_metadata);
    for (size_t i = 0; i < dep->n_services; i++) stet_schema__service_free(&dep->services[i]);
    free(dep->services);
    memset(dep, 0, sizeof(*dep));
}

int stet_schema_deployment_copy(const struct stet_deployment_schema *src, struct stet_deployment_schema *out) {
    *out = *src;
    out->uri = stet_schema__strdup(src->uri);
    out->sdk_version = stet_schema__strdup(src->sdk_version);
    out->headers = stet_schema__kv_copy(src->headers, src->n_headers);
    out->metadata = stet_schema__kv_copy(src->metadata, src->n_metadata);
    out->services = src->n_services ? stet_schema__calloc(src->n_services, sizeof(*out->services)) : NULL;
    for (size_t i = 0; i < src->n_services; i++) stet_schema__service_copy(&src->services[i], &out->services[i]);
    return 0;
}

const char *stet_service_type_name(enum stet_service_type ty) {
    switch (ty) {
    case STET_SERVICE: return "Service";
    case STET_VIRTUAL_OBJECT: return "VirtualObject";
    case STET_WORKFLOW: return "Workflow";
    }
    STET_UNREACHABLE();
    return NULL;
}

const char *stet_schema__service_type_manifest_name(enum stet_service_type ty) {
    switch (ty) {
    case STET_SERVICE: return "SERVICE";
    case STET_VIRTUAL_OBJECT: return "VIRTUAL_OBJECT";
    case STET_WORKFLOW: return "WORKFLOW";
    }
    STET_UNREACHABLE();
    return NULL;
}

const char *stet_schema__handler_type_manifest_name(enum stet_handler_type ty) {
    switch (ty) {
    case STET_HANDLER_UNSET: return "UNSET";
    case STET_HANDLER_EXCLUSIVE: return "EXCLUSIVE";
    case STET_HANDLER_SHARED: return "SHARED";
    case STET_HANDLER_WORKFLOW: return "WORKFLOW";
    }
    STET_UNREACHABLE();
    return NULL;
}

void stet_schema_defaults_init(struct stet_schema_defaults *d) {
    memset(d, 0, sizeof(*d));
    d->inactivity_timeout_ms = 60 * 1000;
    d->abort_timeout_ms = 10 * 60 * 1000;
    d->idempotency_retention_ms = DAY_MS;
    d->workflow_completion_retention_ms = DAY_MS;
    d->journal_retention_ms = DAY_MS;
    d->retry.initial_interval_ms = 500;
    d->retry.factor = 2.0;
    d->retry.max_attempts = 70;
    d->retry.max_interval_ms = 60 * 1000;
    d->retry.on_max_attempts = STET_ON_MAX_ATTEMPTS_PAUSE;
    d->retry.has_initial_interval = d->retry.has_factor = d->retry.has_max_attempts = true;
    d->retry.has_max_interval = d->retry.has_on_max_attempts = true;
}

void stet_schema_defaults_from_config(const struct stet_config *cfg, struct stet_schema_defaults *d) {
    stet_schema_defaults_init(d);
    d->inactivity_timeout_ms = cfg->inactivity_timeout_ms;
    d->abort_timeout_ms = cfg->abort_timeout_ms;
    d->idempotency_retention_ms = cfg->default_idempotency_retention_ms;
    d->workflow_completion_retention_ms = cfg->default_workflow_retention_ms;
    d->journal_retention_ms = cfg->default_journal_retention_ms;
    d->retry.initial_interval_ms = cfg->retry_initial_interval_ms;
    d->retry.factor = cfg->retry_exponentiation_factor;
    d->retry.max_attempts = cfg->retry_max_attempts; /* 0 = unlimited */
    d->retry.max_interval_ms = cfg->retry_max_interval_ms;
    d->retry.on_max_attempts = cfg->retry_on_max_attempts_kill ? STET_ON_MAX_ATTEMPTS_KILL : STET_ON_MAX_ATTEMPTS_PAUSE;
}

/* ---- snapshots ---- */

static int active_cmp(const void *a, const void *b) {
    const struct stet_schema_active *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len ? 1 : 0;
}

static void compute_publicity(struct stet_service_schema *svc) {
    for (size_t i = 0; i < svc->n_handlers; i++) {
        struct stet_handler_schema *h = &svc->handlers[i];
        h->is_public = h->public_override >= 0 ? h->public_override == 1 : svc->is_public;
    }
}

struct stet_schema *stet_schema__build(struct stet_deployment_schema *deps, size_t n, uint64_t version) {
    struct stet_schema *s = stet_schema__calloc(1, sizeof(*s));
    s->version = version;
    s->deployments = deps;
    s->n = n;
    s->refs = 1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += deps[i].n_services;
        for (size_t j = 0; j < deps[i].n_services; j++) {
            memcpy(deps[i].services[j].deployment_id, deps[i].id, 16);
            compute_publicity(&deps[i].services[j]);
        }
    }
    struct stet_schema_active *all = stet_schema__calloc(total, sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < deps[i].n_services; j++) {
            all[k].name = deps[i].services[j].name;
            all[k].name_len = strlen(deps[i].services[j].name);
            all[k].svc = &deps[i].services[j];
            all[k].dep = &deps[i];
            k++;
        }
    }
    /* keep, per name, the highest revision; on ties the earliest deployment (stable order:
     * compare by name, then revision descending, then position) */
    size_t out = 0;
    for (size_t i = 0; i < total; i++) {
        size_t found = out;
        for (size_t j = 0; j < out; j++) {
            if (all[j].name_len == all[i].name_len && memcmp(all[j].name, all[i].name, all[i].name_len) == 0) {
                found = j;
                break;
            }
        }
        if (found == out) {
            all[out++] = all[i];
        } else if (all[i].svc->revision > all[found].svc->revision) {
            all[found] = all[i];
        }
    }
    qsort(all, out, sizeof(*all), active_cmp);
    s->active = all;
    s->n_active = out;
    stet_schema_check(s);
    return s;
}

struct stet_schema *stet_schema_create_empty(void) {
    return stet_schema__build(NULL, 0, 0);
}

struct stet_schema *stet_schema_ref(struct stet_schema *s) {
    STET_ASSERT(s != NULL);
    int prev = __atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
    STET_ASSERT(prev >= 1);
    return s;
}

void stet_schema_unref(struct stet_schema *s) {
    if (s == NULL) return;
    int prev = __atomic_fetch_sub(&s->refs, 1, __ATOMIC_ACQ_REL);
    STET_ASSERT(prev >= 1);
    if (prev != 1) return;
    for (size_t i = 0; i < s->n; i++) stet_schema_deployment_clear(&s->deployments[i]);
    free(s->deployments);
    free(s->active);
    free(s);
}

void stet_schema_free(struct stet_schema *s) { stet_schema_unref(s); }

void stet_schema_check(const struct stet_schema *s) {
    STET_ASSERT(s != NULL);
    STET_ASSERT(s->refs >= 1);
    for (size_t i = 0; i < s->n; i++) {
        const struct stet_deployment_schema *d = &s->deployments[i];
        STET_ASSERT(d->uri != NULL);
        STET_ASSERT(d->min_protocol <= d->max_protocol);
        for (size_t j = 0; j < i; j++) STET_ASSERT(memcmp(s->deployments[j].id, d->id, 16) != 0);
        for (size_t k = 0; k < d->n_services; k++) {
            const struct stet_service_schema *svc = &d->services[k];
            STET_ASSERT(svc->name != NULL);
            STET_ASSERT(memcmp(svc->deployment_id, d->id, 16) == 0);
            STET_ASSERT(svc->revision >= 1);
            for (size_t m = 0; m < svc->n_handlers; m++) {
                const struct stet_handler_schema *h = &svc->handlers[m];
                STET_ASSERT(h->name != NULL);
                bool expect = h->public_override >= 0 ? h->public_override == 1 : svc->is_public;
                STET_ASSERT(h->is_public == expect);
                switch (svc->ty) {
                case STET_SERVICE: STET_ASSERT(h->ty == STET_HANDLER_UNSET); break;
                case STET_VIRTUAL_OBJECT:
                    STET_ASSERT(h->ty == STET_HANDLER_EXCLUSIVE || h->ty == STET_HANDLER_SHARED);
                    break;
                case STET_WORKFLOW:
                    STET_ASSERT(h->ty == STET_HANDLER_WORKFLOW || h->ty == STET_HANDLER_SHARED);
                    break;
                }
            }
        }
    }
    for (size_t i = 0; i < s->n_active; i++) {
        const struct stet_schema_active *a = &s->active[i];
        if (i > 0) STET_ASSERT(active_cmp(&s->active[i - 1], a) < 0);
        STET_ASSERT(a->dep >= s->deployments && a->dep < s->deployments + s->n);
        STET_ASSERT(a->svc >= a->dep->services && a->svc < a->dep->services + a->dep->n_services);
        STET_ASSERT(strlen(a->svc->name) == a->name_len);
        for (size_t d = 0; d < s->n; d++) {
            const struct stet_service_schema *other =
                stet_schema_deployment_service(&s->deployments[d], a->name, a->name_len);
            if (other != NULL) STET_ASSERT(other->revision <= a->svc->revision);
        }
    }
}

/* ---- lookups ---- */

static const struct stet_schema_active *find_active(const struct stet_schema *s, const char *name, size_t len) {
    size_t lo = 0, hi = s->n_active;
    struct stet_schema_active key = {.name = name, .name_len = len};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = active_cmp(&s->active[mid], &key);
        if (c == 0) return &s->active[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const struct stet_service_schema *stet_schema_find_service_dep(const struct stet_schema *s, const char *name,
                                                               size_t len, const struct stet_deployment_schema **dep) {
    const struct stet_schema_active *a = find_active(s, name, len);
    if (dep != NULL) *dep = a ? a->dep : NULL;
    return a ? a->svc : NULL;
}

const struct stet_service_schema *stet_schema_find_service(const struct stet_schema *s, const char *name, size_t len) {
    return stet_schema_find_service_dep(s, name, len, NULL);
}

const struct stet_handler_schema *stet_schema_find_handler(const struct stet_service_schema *svc, const char *name,
                                                           size_t len) {
    for (size_t i = 0; i < svc->n_handlers; i++) {
        const struct stet_handler_schema *h = &svc->handlers[i];
        if (strlen(h->name) == len && memcmp(h->name, name, len) == 0) return h;
    }
    return NULL;
}

const struct stet_deployment_schema *stet_schema_find_deployment(const struct stet_schema *s, const uint8_t id[16]) {
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->deployments[i].id, id, 16) == 0) return &s->deployments[i];
    return NULL;
}

const struct stet_service_schema *stet_schema_deployment_service(const struct stet_deployment_schema *dep,
                                                                 const char *name, size_t len) {
    for (size_t i = 0; i < dep->n_services; i++) {
        const struct stet_service_schema *svc = &dep->services[i];
        if (strlen(svc->name) == len && memcmp(svc->name, name, len) == 0) return svc;
    }
    return NULL;
}

int stet_schema__split_uri(const char *uri, const char **authority, size_t *alen, const char **path, size_t *plen) {
    const char *sep = strstr(uri, "://");
    if (sep == NULL || sep == uri) return -EINVAL;
    for (const char *p = uri; p < sep; p++)
        if (!(isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')) return -EINVAL;
    const char *a = sep + 3;
    size_t an = strcspn(a, "/?#");
    if (an == 0) return -EINVAL;
    const char *p = a + an;
    size_t pn = strcspn(p, "?#");
    *authority = a;
    *alen = an;
    *path = p;
    *plen = pn;
    return 0;
}

static bool same_endpoint(const char *u1, const char *u2) {
    const char *a1, *a2, *p1, *p2;
    size_t al1, al2, pl1, pl2;
    if (stet_schema__split_uri(u1, &a1, &al1, &p1, &pl1) != 0) return false;
    if (stet_schema__split_uri(u2, &a2, &al2, &p2, &pl2) != 0) return false;
    /* http::Uri renders an empty path as "/" */
    if (pl1 == 0) { p1 = "/"; pl1 = 1; }
    if (pl2 == 0) { p2 = "/"; pl2 = 1; }
    return al1 == al2 && strncasecmp(a1, a2, al1) == 0 && pl1 == pl2 && memcmp(p1, p2, pl1) == 0;
}

const struct stet_deployment_schema *stet_schema_find_deployment_by_uri(const struct stet_schema *s, const char *uri) {
    const struct stet_deployment_schema *best = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const struct stet_deployment_schema *d = &s->deployments[i];
        if (!same_endpoint(d->uri, uri)) continue;
        if (best == NULL || d->created_at_ms > best->created_at_ms) best = d;
    }
    return best;
}

size_t stet_schema_service_count(const struct stet_schema *s) { return s->n_active; }

const struct stet_service_schema *stet_schema_service_at(const struct stet_schema *s, size_t i,
                                                         const struct stet_deployment_schema **dep) {
    STET_ASSERT(i < s->n_active);
    if (dep != NULL) *dep = s->active[i].dep;
    return s->active[i].svc;
}

/* ---- effective settings ---- */

static uint64_t pick(uint64_t handler, uint64_t service, uint64_t dflt) {
    if (handler != STET_DURATION_UNSET) return handler;
    if (service != STET_DURATION_UNSET) return service;
    return dflt;
}

uint64_t stet_schema_inactivity_timeout(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                        uint64_t dflt) {
    return pick(h ? h->inactivity_timeout_ms : STET_DURATION_UNSET, svc->inactivity_timeout_ms, dflt);
}

uint64_t stet_schema_abort_timeout(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                   uint64_t dflt) {
    return pick(h ? h->abort_timeout_ms : STET_DURATION_UNSET, svc->abort_timeout_ms, dflt);
}

bool stet_schema_lazy_state(const struct stet_service_schema *svc, const struct stet_handler_schema *h) {
    if (h != NULL && h->enable_lazy_state >= 0) return h->enable_lazy_state == 1;
    return svc->enable_lazy_state;
}

uint64_t stet_schema_completion_retention(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                          const struct stet_schema_defaults *d) {
    if (h != NULL && h->ty == STET_HANDLER_WORKFLOW)
        return pick(h->workflow_completion_retention_ms, svc->workflow_completion_retention_ms,
                    d->workflow_completion_retention_ms);
    return pick(h ? h->idempotency_retention_ms : STET_DURATION_UNSET, svc->idempotency_retention_ms,
                d->idempotency_retention_ms);
}

uint64_t stet_schema_journal_retention(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                       const struct stet_schema_defaults *d) {
    return pick(h ? h->journal_retention_ms : STET_DURATION_UNSET, svc->journal_retention_ms, d->journal_retention_ms);
}

static void merge_retry(struct stet_retry_policy *out, const struct stet_retry_policy *o) {
    if (o->has_initial_interval) out->initial_interval_ms = o->initial_interval_ms;
    if (o->has_max_attempts) out->max_attempts = o->max_attempts;
    if (o->has_max_interval) {
        out->max_interval_ms = o->max_interval_ms;
        out->has_max_interval = true;
    }
    if (o->has_factor) out->factor = o->factor;
    if (o->has_on_max_attempts) out->on_max_attempts = o->on_max_attempts;
}

void stet_schema_retry_policy(const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                              const struct stet_schema_defaults *d, struct stet_retry_policy *out) {
    *out = d->retry;
    out->has_initial_interval = out->has_factor = out->has_max_attempts = out->has_on_max_attempts = true;
    if (svc != NULL) merge_retry(out, &svc->retry);
    if (h != NULL) merge_retry(out, &h->retry);
}

/* ---- input/output rules ---- */

enum rule_kind { RULE_NONE, RULE_CONTENT_TYPE, RULE_JSON };

static size_t input_rules(const struct stet_handler_schema *h, enum rule_kind rules[2]) {
    size_t n = 0;
    if (!h->input_required) rules[n++] = RULE_NONE;
    if (h->input_content_type != NULL) rules[n++] = h->input_json_schema ? RULE_JSON : RULE_CONTENT_TYPE;
    return n;
}

/* "JSON 'title'" / "JSON type" from a JSON schema, or false. */
static bool describe_json_schema(const char *schema, struct stet_buf *out) {
    if (schema == NULL) return false;
    struct stet_json *j = NULL;
    if (stet_json_parse(schema, strlen(schema), &j, NULL, 0) != 0) return false;
    bool done = false;
    size_t n;
    const char *title = stet_json_string(stet_json_object_get(j, "title"), &n);
    if (title != NULL) {
        stet_buf_append_str(out, "JSON '");
        stet_buf_append(out, title, n);
        stet_buf_append_str(out, "'");
        done = true;
    } else {
        const char *ty = stet_json_string(stet_json_object_get(j, "type"), &n);
        if (ty != NULL) {
            stet_buf_append_str(out, "JSON ");
            stet_buf_append(out, ty, n);
            done = true;
        }
    }
    stet_json_free(j);
    return done;
}

static void describe_rule(const struct stet_handler_schema *h, enum rule_kind r, struct stet_buf *out) {
    switch (r) {
    case RULE_NONE: stet_buf_append_str(out, "none"); return;
    case RULE_JSON:
        if (describe_json_schema(h->input_json_schema, out)) return;
        /* fallthrough */
    case RULE_CONTENT_TYPE: stet_buf_append_str(out, h->input_content_type); return;
    }
}

void stet_schema_input_description(const struct stet_handler_schema *h, struct stet_buf *out) {
    enum rule_kind rules[2];
    size_t n = input_rules(h, rules);
    if (n == 0) {
        stet_buf_append_str(out, "<invalid rules>");
    } else if (n == 1) {
        describe_rule(h, rules[0], out);
    } else if (rules[0] == RULE_NONE) {
        /* two rules, one of them "none": show the other (restate issue #2101) */
        describe_rule(h, rules[1], out);
    } else {
        stet_buf_append_str(out, "one of [");
        for (size_t i = 0; i < n; i++) {
            if (i) stet_buf_append_str(out, ", ");
            stet_buf_append_str(out, "\"");
            describe_rule(h, rules[i], out);
            stet_buf_append_str(out, "\"");
        }
        stet_buf_append_str(out, "]");
    }
}

void stet_schema_output_description(const struct stet_handler_schema *h, struct stet_buf *out) {
    if (describe_json_schema(h->output_json_schema, out)) return;
    if (h->output_content_type == NULL) {
        stet_buf_append_str(out, "none");
        return;
    }
    if (h->output_set_content_type_if_empty) stet_buf_append_str(out, "optional ");
    stet_buf_append_str(out, h->output_content_type);
}

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int check_content_type(const char *rule_ct, const char *ct, size_t ct_len, char *err, size_t errlen) {
    /* rule_ct was validated at registration: "*" "/" "*", "t/" "*" or "t/st" (trimmed) */
    const char *slash = strchr(rule_ct, '/');
    STET_ASSERT(slash != NULL);
    size_t tlen = (size_t)(slash - rule_ct);
    const char *sub = slash + 1;
    if (tlen == 1 && rule_ct[0] == '*') return 0; /* Any */
    /* extract "first/second" of the request content type: drop ";params", trim */
    size_t n = ct_len;
    const char *semi = memchr(ct, ';', ct_len);
    if (semi) n = (size_t)(semi - ct);
    const char *b = ct, *e = ct + n;
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    const char *s2 = memchr(b, '/', (size_t)(e - b));
    if (s2 == NULL) goto mismatch;
    size_t f1 = (size_t)(s2 - b);
    size_t f2 = (size_t)(e - s2 - 1);
    if (f1 != tlen || memcmp(b, rule_ct, tlen) != 0) goto mismatch;
    if (strcmp(sub, "*") == 0) return 0;
    if (f2 != strlen(sub) || memcmp(s2 + 1, sub, f2) != 0) goto mismatch;
    return 0;
mismatch:
    errf(err, errlen, "Content-type '%.*s' does not match '%s'", (int)ct_len, ct, rule_ct);
    return -EINVAL;
}

int stet_schema_check_input(const struct stet_handler_schema *h, const char *content_type, size_t ct_len,
                            size_t body_len, char *err, size_t errlen) {
    enum rule_kind rules[2];
    size_t n = input_rules(h, rules);
    errf(err, errlen, "Bad configuration of the input validation rules");
    for (size_t i = 0; i < n; i++) {
        switch (rules[i]) {
        case RULE_NONE:
            if (body_len == 0 && content_type == NULL) return 0;
            if (content_type == NULL)
                errf(err, errlen, "Expected body and content-type to be empty, but wasn't with content-type 'None'");
            else
                errf(err, errlen,
                     "Expected body and content-type to be empty, but wasn't with content-type 'Some(\"%.*s\")'",
                     (int)ct_len, content_type);
            break;
        case RULE_CONTENT_TYPE:
        case RULE_JSON:
            if (content_type == NULL) {
                errf(err, errlen, "Empty content-type");
                break;
            }
            if (check_content_type(h->input_content_type, content_type, ct_len, err, errlen) != 0) break;
            if (rules[i] == RULE_JSON && body_len == 0) {
                errf(err, errlen, "Empty body not allowed");
                break;
            }
            return 0;
        }
    }
    return -EINVAL;
}

const char *stet_schema_output_content_type(const struct stet_handler_schema *h, bool body_empty) {
    if (h->output_content_type == NULL) return NULL;
    if (body_empty && !h->output_set_content_type_if_empty) return NULL;
    return h->output_content_type;
}

/* ---- changes ---- */

static struct stet_deployment_schema *copy_deployments(const struct stet_schema *cur, size_t extra) {
    struct stet_deployment_schema *deps = stet_schema__calloc(cur->n + extra, sizeof(*deps));
    for (size_t i = 0; i < cur->n; i++) stet_schema_deployment_copy(&cur->deployments[i], &deps[i]);
    return deps;
}


static bool is_reserved_name(const char *name) {
    if (strncasecmp(name, "restate", 7) == 0) return true;
    return strcasecmp(name, "openapi") == 0;
}

static const char *handler_type_debug(enum stet_handler_type ty) {
    switch (ty) {
    case STET_HANDLER_UNSET: return "None";
    case STET_HANDLER_EXCLUSIVE: return "Some(Exclusive)";
    case STET_HANDLER_SHARED: return "Some(Shared)";
    case STET_HANDLER_WORKFLOW: return "Some(Workflow)";
    }
    STET_UNREACHABLE();
    return NULL;
}

/* Validates an input content type the way restate's InputContentType::from_str does. */
static bool parse_input_content_type(const char *ct, char **normalized, const char **reason) {
    const char *b = ct, *e = ct + strlen(ct);
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    const char *slash = memchr(b, '/', (size_t)(e - b));
    if (slash == NULL) {
        *reason = "must contain one /";
        return false;
    }
    if (slash - b == 1 && b[0] == '*' && !(e - slash - 1 == 1 && slash[1] == '*')) {
        *reason = "the wildcard format */subType is not supported";
        return false;
    }
    *normalized = stet_schema__strndup(b, (size_t)(e - b));
    return true;
}

static bool valid_header_value(const char *v) {
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) return false;
    return true;
}

/* Resolves handler types and validates a manifest service as restate's create_service_revision
 * and Handler::from_schema do. Modifies svc in place (normalized content types, types). */
static int resolve_service(struct stet_service_schema *svc, struct stet_schema_error *err) {
    for (size_t i = 0; i < svc->n_handlers; i++) {
        struct stet_handler_schema *h = &svc->handlers[i];
        enum stet_handler_type raw = h->ty, ty;
        switch (svc->ty) {
        case STET_SERVICE:
            if (raw != STET_HANDLER_UNSET && raw != STET_HANDLER_SHARED) goto bad_combination;
            ty = STET_HANDLER_UNSET;
            break;
        case STET_VIRTUAL_OBJECT:
            if (raw == STET_HANDLER_WORKFLOW) goto bad_combination;
            ty = raw == STET_HANDLER_SHARED ? STET_HANDLER_SHARED : STET_HANDLER_EXCLUSIVE;
            break;
        case STET_WORKFLOW:
            if (raw == STET_HANDLER_EXCLUSIVE) goto bad_combination;
            ty = raw == STET_HANDLER_WORKFLOW ? STET_HANDLER_WORKFLOW : STET_HANDLER_SHARED;
            break;
        default: STET_UNREACHABLE();
        }
        h->ty = ty;
        if (h->workflow_completion_retention_ms != STET_DURATION_UNSET && ty != STET_HANDLER_WORKFLOW) {
            stet_schema__set_error(err, 400, NULL,
                                   "%s sets the workflow_completion_retention, but it's not a WORKFLOW handler",
                                   h->name);
            return -EINVAL;
        }
        if (h->idempotency_retention_ms != STET_DURATION_UNSET && ty == STET_HANDLER_WORKFLOW) {
            stet_schema__set_error(err, 400, NULL, "%s sets the idempotency_retention, but it's a WORKFLOW handler",
                                   h->name);
            return -EINVAL;
        }
        if (!svc->is_public && h->public_override == 1) {
            stet_schema__set_error(err, 400, NULL,
                                   "The service %s is private, but the %s is explicitly set as public. This is not "
                                   "supported. Please make the service public, and hide the individual handlers",
                                   svc->name, h->name);
            return -EINVAL;
        }
        if (h->input_content_type != NULL) {
            char *norm = NULL;
            const char *reason = NULL;
            if (!parse_input_content_type(h->input_content_type, &norm, &reason)) {
                stet_schema__set_error(err, 400, NULL,
                                       "the handler '%s' input content-type is not valid: can't parse the "
                                       "content-type '%s': %s",
                                       h->name, h->input_content_type, reason);
                return -EINVAL;
            }
            free(h->input_content_type);
            h->input_content_type = norm;
        }
        if (h->output_content_type != NULL && !valid_header_value(h->output_content_type)) {
            stet_schema__set_error(err, 400, NULL,
                                   "the handler '%s' output content-type is not valid: failed to parse header value",
                                   h->output_content_type);
            return -EINVAL;
        }
        if (h->output_content_type == NULL && h->output_json_schema != NULL) {
            /* restate drops the schema when the output has no content type */
            free(h->output_json_schema);
            h->output_json_schema = NULL;
        }
        continue;
    bad_combination:
        stet_schema__set_error(err, 400, NULL, "invalid combination of service type and handler type '(%s, %s)'",
                               stet_service_type_name(svc->ty), handler_type_debug(raw));
        return -EINVAL;
    }
    return 0;
}

int stet_schema_register(const struct stet_schema *cur, struct stet_deployment_schema *dep, bool allow_breaking,
                         bool overwrite, struct stet_schema **out, enum stet_register_result *result,
                         uint8_t out_id[16], struct stet_schema_error *err) {
    STET_ASSERT(cur != NULL);
    STET_ASSERT(dep->uri != NULL);
    *out = NULL;
    int rc = 0;
    struct stet_deployment_schema *deps = NULL;
    size_t n = 0;

    for (size_t i = 0; i < dep->n_services; i++) {
        if (is_reserved_name(dep->services[i].name)) {
            stet_schema__set_error(err, 400, "META0005",
                                   "[META0005] cannot insert/modify service '%s' as it contains a reserved name",
                                   dep->services[i].name);
            rc = -EINVAL;
            goto done;
        }
    }

    const struct stet_deployment_schema *existing = stet_schema_find_deployment_by_uri(cur, dep->uri);
    size_t replace_at = cur->n;
    if (existing != NULL) {
        if (!overwrite) {
            memcpy(out_id, existing->id, 16);
            *result = STET_REGISTER_UNCHANGED;
            goto done;
        }
        for (size_t i = 0; i < existing->n_services; i++) {
            const char *name = existing->services[i].name;
            if (stet_schema_deployment_service(dep, name, strlen(name)) == NULL) {
                char idbuf[STET_DEPLOYMENT_ID_STRLEN + 1];
                stet_deployment_id_format(existing->id, idbuf);
                stet_warn("schema", "removing service %s due to a forced deployment update deployment=%s", name, idbuf);
            }
        }
        memcpy(dep->id, existing->id, 16);
        replace_at = (size_t)(existing - cur->deployments);
        *result = STET_REGISTER_OVERWRITTEN;
    } else {
        STET_ASSERT(stet_schema_find_deployment(cur, dep->id) == NULL);
        *result = STET_REGISTER_CREATED;
    }

    for (size_t i = 0; i < dep->n_services; i++) {
        struct stet_service_schema *svc = &dep->services[i];
        const struct stet_service_schema *prev = stet_schema_find_service(cur, svc->name, strlen(svc->name));
        if (prev != NULL && prev->ty != svc->ty) {
            if (!allow_breaking) {
                stet_schema__set_error(err, 409, "META0006",
                                       "[META0006] detected a new service revision for '%s' changing the service type "
                                       "from previous revision. Service type cannot be changed across revisions.",
                                       svc->name);
                rc = -EINVAL;
                goto done;
            }
            stet_warn("schema",
                      "changing service type of %s from %s to %s: a potentially dangerous operation that might "
                      "lose data",
                      svc->name, stet_service_type_name(prev->ty), stet_service_type_name(svc->ty));
        }
        rc = resolve_service(svc, err);
        if (rc != 0) goto done;
        svc->revision = prev ? prev->revision + 1 : 1;
        memcpy(svc->deployment_id, dep->id, 16);
    }

    deps = copy_deployments(cur, 1);
    n = cur->n;
    if (replace_at < cur->n) {
        stet_schema_deployment_clear(&deps[replace_at]);
    } else {
        replace_at = n++;
    }
    deps[replace_at] = *dep;
    memset(dep, 0, sizeof(*dep));
    memcpy(out_id, deps[replace_at].id, 16);
    *out = stet_schema__build(deps, n, cur->version + 1);
    return 0;

done:
    stet_schema_deployment_clear(dep);
    return rc;
}

int stet_schema_remove_deployment(const struct stet_schema *cur, const uint8_t id[16], struct stet_schema **out,
                                  struct stet_schema_error *err) {
    *out = NULL;
    const struct stet_deployment_schema *d = stet_schema_find_deployment(cur, id);
    if (d == NULL) {
        char idbuf[STET_DEPLOYMENT_ID_STRLEN + 1];
        stet_deployment_id_format(id, idbuf);
        stet_schema__set_error(err, 404, NULL, "not found in the schema registry: deployment with id '%s'", idbuf);
        return -ENOENT;
    }
    size_t at = (size_t)(d - cur->deployments);
    struct stet_deployment_schema *deps = stet_schema__calloc(cur->n, sizeof(*deps));
    size_t n = 0;
    for (size_t i = 0; i < cur->n; i++) {
        if (i == at) continue;
        stet_schema_deployment_copy(&cur->deployments[i], &deps[n++]);
    }
    *out = stet_schema__build(deps, n, cur->version + 1);
    return 0;
}

void stet_service_patch_init(struct stet_service_patch *p) {
    p->is_public = -1;
    p->idempotency_retention_ms = STET_DURATION_UNSET;
    p->workflow_completion_retention_ms = STET_DURATION_UNSET;
    p->journal_retention_ms = STET_DURATION_UNSET;
    p->inactivity_timeout_ms = STET_DURATION_UNSET;
    p->abort_timeout_ms = STET_DURATION_UNSET;
}

bool stet_service_patch_is_empty(const struct stet_service_patch *p) {
    return p->is_public < 0 && p->idempotency_retention_ms == STET_DURATION_UNSET &&
           p->workflow_completion_retention_ms == STET_DURATION_UNSET && p->journal_retention_ms == STET_DURATION_UNSET &&
           p->inactivity_timeout_ms == STET_DURATION_UNSET && p->abort_timeout_ms == STET_DURATION_UNSET;
}

int stet_schema_patch_service(const struct stet_schema *cur, const char *name, size_t len,
                              const struct stet_service_patch *patch, struct stet_schema **out,
                              struct stet_schema_error *err) {
    *out = NULL;
    const struct stet_deployment_schema *dep = NULL;
    const struct stet_service_schema *svc = stet_schema_find_service_dep(cur, name, len, &dep);
    if (svc == NULL) {
        stet_schema__set_error(err, 404, NULL, "not found in the schema registry: service with name '%.*s'", (int)len,
                               name);
        return -ENOENT;
    }
    if (patch->workflow_completion_retention_ms != STET_DURATION_UNSET && svc->ty != STET_WORKFLOW) {
        stet_schema__set_error(err, 400, NULL, "modifying retention time for service type %s is unsupported",
                               stet_service_type_name(svc->ty));
        return -EINVAL;
    }
    size_t di = (size_t)(dep - cur->deployments);
    size_t si = (size_t)(svc - dep->services);
    struct stet_deployment_schema *deps = copy_deployments(cur, 0);
    struct stet_service_schema *m = &deps[di].services[si];
    if (patch->is_public >= 0) m->is_public = patch->is_public == 1;
    if (patch->idempotency_retention_ms != STET_DURATION_UNSET) m->idempotency_retention_ms = patch->idempotency_retention_ms;
    if (patch->workflow_completion_retention_ms != STET_DURATION_UNSET)
        m->workflow_completion_retention_ms = patch->workflow_completion_retention_ms;
    if (patch->journal_retention_ms != STET_DURATION_UNSET) m->journal_retention_ms = patch->journal_retention_ms;
    if (patch->inactivity_timeout_ms != STET_DURATION_UNSET) m->inactivity_timeout_ms = patch->inactivity_timeout_ms;
    if (patch->abort_timeout_ms != STET_DURATION_UNSET) m->abort_timeout_ms = patch->abort_timeout_ms;
    *out = stet_schema__build(deps, cur->n, cur->version + 1);
    return 0;
}

int stet_schema_update_deployment(const struct stet_schema *cur, const uint8_t id[16],
                                  struct stet_deployment_schema *discovered, bool overwrite, struct stet_schema **out,
                                  struct stet_schema_error *err) {
    *out = NULL;
    int rc = 0;
    const struct stet_deployment_schema *d = stet_schema_find_deployment(cur, id);
    char idbuf[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, idbuf);
    if (d == NULL) {
        stet_schema__set_error(err, 404, NULL, "not found in the schema registry: deployment with id '%s'", idbuf);
        rc = -ENOENT;
        goto done;
    }
    if (d->min_protocol != discovered->min_protocol || d->max_protocol != discovered->max_protocol) {
        stet_schema__set_error(err, 400, "META0016",
                               "[META0016] an update deployment operation must provide an endpoint with the same "
                               "services and handlers. The update tried to change the supported protocol versions "
                               "from %u..=%u to %u..=%u",
                               d->min_protocol, d->max_protocol, discovered->min_protocol, discovered->max_protocol);
        rc = -EINVAL;
        goto done;
    }
    if (overwrite) {
        for (size_t i = 0; i < discovered->n_services; i++) {
            struct stet_service_schema *svc = &discovered->services[i];
            if (is_reserved_name(svc->name)) {
                stet_schema__set_error(err, 400, "META0005",
                                       "[META0005] cannot insert/modify service '%s' as it contains a reserved name",
                                       svc->name);
                rc = -EINVAL;
                goto done;
            }
            rc = resolve_service(svc, err);
            if (rc != 0) goto done;
            const struct stet_service_schema *prev = stet_schema_deployment_service(d, svc->name, strlen(svc->name));
            svc->revision = prev ? prev->revision : 1;
        }
    }
    size_t at = (size_t)(d - cur->deployments);
    struct stet_deployment_schema *deps = copy_deployments(cur, 0);
    struct stet_deployment_schema *m = &deps[at];
    free(m->uri);
    m->uri = discovered->uri;
    discovered->uri = NULL;
    stet_schema__kv_free(m->headers, m->n_headers);
    m->headers = discovered->headers;
    m->n_headers = discovered->n_headers;
    discovered->headers = NULL;
    discovered->n_headers = 0;
    m->use_http_11 = discovered->use_http_11;
    m->request_response = discovered->request_response;
    free(m->sdk_version);
    m->sdk_version = discovered->sdk_version;
    discovered->sdk_version = NULL;
    if (overwrite) {
        for (size_t i = 0; i < m->n_services; i++) stet_schema__service_free(&m->services[i]);
        free(m->services);
        m->services = discovered->services;
        m->n_services = discovered->n_services;
        discovered->services = NULL;
        discovered->n_services = 0;
    }
    *out = stet_schema__build(deps, cur->n, cur->version + 1);

done:
    stet_schema_deployment_clear(discovered);
    return rc;
}
