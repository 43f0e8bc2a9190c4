/* Persistence format of the schema registry (metadata key "schema").
 *
 * One JSON document, written by stet_schema_to_json and read back by stet_schema_from_json:
 *
 *   {"format":1,"version":N,"deployments":[
 *     {"id":"dp_…","uri":"…","use_http_11":false,"request_response":false,
 *      "min_protocol":5,"max_protocol":7,"sdk_version":"…"?,"created_at_ms":N,
 *      "headers":{…},"metadata":{…},
 *      "services":[{"name":"…","ty":"SERVICE","revision":1,"public":true,
 *                   "<duration>_ms":N?,"enable_lazy_state":false,"retry":{…},
 *                   "documentation":"…"?,"metadata":{…},
 *                   "handlers":[{"name":"…","ty":"UNSET","public":null|bool,
 *                                "input_required":false,"input_content_type":"…"|null,
 *                                "input_json_schema":<json>?,"output_content_type":"…"|null,
 *                                "output_set_content_type_if_empty":false,
 *                                "output_json_schema":<json>?,"<duration>_ms":N?,
 *                                "enable_lazy_state":null|bool,"retry":{…},
 *                                "documentation":"…"?,"metadata":{…}}]}]}]}
 *
 * Unset durations and retry fields are omitted. Keys are written in a fixed order, so
 * to_json(from_json(to_json(s))) == to_json(s) byte for byte. Services carry no deployment
 * id: they take their deployment's. Reading is strict about types (a corrupt registry must
 * not load half-way) but ignores unknown keys, so newer writers stay readable.
 */
#include "schema/schema_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/ids.h"

#define PERSIST_FORMAT 1

/* ---- writing ---- */

static void write_kv(struct stet_json_writer *w, const char *key, const struct stet_schema_kv *kv, size_t n) {
    stet_json_key(w, key);
    stet_json_begin_object(w);
    for (size_t i = 0; i < n; i++) {
        stet_json_key(w, kv[i].key);
        stet_json_write_string(w, kv[i].value);
    }
    stet_json_end_object(w);
}

static void write_duration(struct stet_json_writer *w, const char *key, uint64_t ms) {
    if (ms == STET_DURATION_UNSET) return;
    stet_json_key(w, key);
    stet_json_write_uint(w, ms);
}

static void write_retry(struct stet_json_writer *w, const struct stet_retry_policy *r) {
    stet_json_key(w, "retry");
    stet_json_begin_object(w);
    if (r->has_initial_interval) { stet_json_key(w, "initial_interval_ms"); stet_json_write_uint(w, r->initial_interval_ms); }
    if (r->has_factor) { stet_json_key(w, "factor"); stet_json_write_double(w, r->factor); }
    if (r->has_max_attempts) { stet_json_key(w, "max_attempts"); stet_json_write_uint(w, r->max_attempts); }
    if (r->has_max_interval) { stet_json_key(w, "max_interval_ms"); stet_json_write_uint(w, r->max_interval_ms); }
    if (r->has_on_max_attempts) {
        stet_json_key(w, "on_max_attempts");
        stet_json_write_string(w, r->on_max_attempts == STET_ON_MAX_ATTEMPTS_KILL ? "KILL" : "PAUSE");
    }
    stet_json_end_object(w);
}

static void write_opt_string(struct stet_json_writer *w, const char *key, const char *v) {
    if (v == NULL) return;
    stet_json_key(w, key);
    stet_json_write_string(w, v);
}

static void write_handler(struct stet_json_writer *w, const struct stet_handler_schema *h) {
    stet_json_begin_object(w);
    stet_json_key(w, "name");
    stet_json_write_string(w, h->name);
    stet_json_key(w, "ty");
    stet_json_write_string(w, stet_schema__handler_type_manifest_name(h->ty));
    stet_json_key(w, "public");
    if (h->public_override < 0) stet_json_write_null(w);
    else stet_json_write_bool(w, h->public_override == 1);
    stet_json_key(w, "input_required");
    stet_json_write_bool(w, h->input_required);
    stet_json_key(w, "input_content_type");
    stet_json_write_string(w, h->input_content_type); /* NULL writes null */
    if (h->input_json_schema != NULL) {
        stet_json_key(w, "input_json_schema");
        stet_json_write_raw(w, h->input_json_schema, strlen(h->input_json_schema));
    }
    stet_json_key(w, "output_content_type");
    stet_json_write_string(w, h->output_content_type);
    stet_json_key(w, "output_set_content_type_if_empty");
    stet_json_write_bool(w, h->output_set_content_type_if_empty);
    if (h->output_json_schema != NULL) {
        stet_json_key(w, "output_json_schema");
        stet_json_write_raw(w, h->output_json_schema, strlen(h->output_json_schema));
    }
    write_duration(w, "inactivity_timeout_ms", h->inactivity_timeout_ms);
    write_duration(w, "abort_timeout_ms", h->abort_timeout_ms);
    write_duration(w, "idempotency_retention_ms", h->idempotency_retention_ms);
    write_duration(w, "journal_retention_ms", h->journal_retention_ms);
    write_duration(w, "workflow_completion_retention_ms", h->workflow_completion_retention_ms);
    stet_json_key(w, "enable_lazy_state");
    if (h->enable_lazy_state < 0) stet_json_write_null(w);
    else stet_json_write_bool(w, h->enable_lazy_state == 1);
    write_retry(w, &h->retry);
    write_opt_string(w, "documentation", h->documentation);
    write_kv(w, "metadata", h->metadata, h->n_metadata);
    stet_json_end_object(w);
}

static void write_service(struct stet_json_writer *w, const struct stet_service_schema *svc) {
    stet_json_begin_object(w);
    stet_json_key(w, "name");
    stet_json_write_string(w, svc->name);
    stet_json_key(w, "ty");
    stet_json_write_string(w, stet_schema__service_type_manifest_name(svc->ty));
    stet_json_key(w, "revision");
    stet_json_write_uint(w, svc->revision);
    stet_json_key(w, "public");
    stet_json_write_bool(w, svc->is_public);
    write_duration(w, "idempotency_retention_ms", svc->idempotency_retention_ms);
    write_duration(w, "workflow_completion_retention_ms", svc->workflow_completion_retention_ms);
    write_duration(w, "journal_retention_ms", svc->journal_retention_ms);
    write_duration(w, "inactivity_timeout_ms", svc->inactivity_timeout_ms);
    write_duration(w, "abort_timeout_ms", svc->abort_timeout_ms);
    stet_json_key(w, "enable_lazy_state");
    stet_json_write_bool(w, svc->enable_lazy_state);
    write_retry(w, &svc->retry);
    write_opt_string(w, "documentation", svc->documentation);
    write_kv(w, "metadata", svc->metadata, svc->n_metadata);
    stet_json_key(w, "handlers");
    stet_json_begin_array(w);
    for (size_t i = 0; i < svc->n_handlers; i++) write_handler(w, &svc->handlers[i]);
    stet_json_end_array(w);
    stet_json_end_object(w);
}

void stet_schema_to_json(const struct stet_schema *s, struct stet_buf *out) {
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    stet_json_begin_object(&w);
    stet_json_key(&w, "format");
    stet_json_write_uint(&w, PERSIST_FORMAT);
    stet_json_key(&w, "version");
    stet_json_write_uint(&w, s->version);
    stet_json_key(&w, "deployments");
    stet_json_begin_array(&w);
    for (size_t i = 0; i < s->n; i++) {
        const struct stet_deployment_schema *d = &s->deployments[i];
        char id[STET_DEPLOYMENT_ID_STRLEN + 1];
        stet_deployment_id_format(d->id, id);
        stet_json_begin_object(&w);
        stet_json_key(&w, "id");
        stet_json_write_string(&w, id);
        stet_json_key(&w, "uri");
        stet_json_write_string(&w, d->uri);
        stet_json_key(&w, "use_http_11");
        stet_json_write_bool(&w, d->use_http_11);
        stet_json_key(&w, "request_response");
        stet_json_write_bool(&w, d->request_response);
        stet_json_key(&w, "min_protocol");
        stet_json_write_uint(&w, d->min_protocol);
        stet_json_key(&w, "max_protocol");
        stet_json_write_uint(&w, d->max_protocol);
        write_opt_string(&w, "sdk_version", d->sdk_version);
        stet_json_key(&w, "created_at_ms");
        stet_json_write_uint(&w, d->created_at_ms);
        write_kv(&w, "headers", d->headers, d->n_headers);
        write_kv(&w, "metadata", d->metadata, d->n_metadata);
        stet_json_key(&w, "services");
        stet_json_begin_array(&w);
        for (size_t k = 0; k < d->n_services; k++) write_service(&w, &d->services[k]);
        stet_json_end_array(&w);
        stet_json_end_object(&w);
    }
    stet_json_end_array(&w);
    stet_json_end_object(&w);
}

/* ---- reading ---- */

struct rctx {
    char *err;
    size_t errlen;
};

static int bad(struct rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct rctx *c, const char *fmt, ...) {
    if (c->err != NULL && c->errlen > 0) {
        int n = snprintf(c->err, c->errlen, "invalid schema registry document: ");
        if (n > 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static int rd_string(struct rctx *c, const struct stet_json *o, const char *key, bool required, bool nullable,
                     char **out) {
    const struct stet_json *v = stet_json_object_get(o, key);
    if (v == NULL) {
        if (required) return bad(c, "missing \"%s\"", key);
        return 0;
    }
    if (stet_json_type(v) == STET_JSON_NULL && nullable) return 0;
    size_t len;
    const char *s = stet_json_string(v, &len);
    if (s == NULL || memchr(s, '\0', len) != NULL) return bad(c, "\"%s\" must be a string", key);
    *out = stet_schema__strndup(s, len);
    return 0;
}

static int rd_u64(struct rctx *c, const struct stet_json *o, const char *key, bool required, uint64_t *out) {
    const struct stet_json *v = stet_json_object_get(o, key);
    if (v == NULL) {
        if (required) return bad(c, "missing \"%s\"", key);
        return 0;
    }
    if (!stet_json_uint64(v, out)) return bad(c, "\"%s\" must be a non-negative integer", key);
    return 0;
}

static int rd_u32(struct rctx *c, const struct stet_json *o, const char *key, uint32_t *out) {
    uint64_t v;
    int rc = rd_u64(c, o, key, true, &v);
    if (rc) return rc;
    if (v > UINT32_MAX) return bad(c, "\"%s\" out of range", key);
    *out = (uint32_t)v;
    return 0;
}

static int rd_duration(struct rctx *c, const struct stet_json *o, const char *key, uint64_t *out) {
    *out = STET_DURATION_UNSET;
    int rc = rd_u64(c, o, key, false, out);
    if (rc) return rc;
    return 0;
}

static int rd_bool(struct rctx *c, const struct stet_json *o, const char *key, bool *out) {
    const struct stet_json *v = stet_json_object_get(o, key);
    if (v == NULL || stet_json_type(v) != STET_JSON_BOOL) return bad(c, "\"%s\" must be a boolean", key);
    *out = stet_json_bool(v);
    return 0;
}

static int rd_tristate(struct rctx *c, const struct stet_json *o, const char *key, int *out) {
    const struct stet_json *v = stet_json_object_get(o, key);
    if (v == NULL || stet_json_type(v) == STET_JSON_NULL) {
        *out = -1;
        return 0;
    }
    if (stet_json_type(v) != STET_JSON_BOOL) return bad(c, "\"%s\" must be a boolean or null", key);
    *out = stet_json_bool(v) ? 1 : 0;
    return 0;
}

static int rd_kv(struct rctx *c, const struct stet_json *o, const char *key, struct stet_schema_kv **out,
                 size_t *n_out) {
    const struct stet_json *v = stet_json_object_get(o, key);
    if (v == NULL) return 0;
    if (stet_json_type(v) != STET_JSON_OBJECT) return bad(c, "\"%s\" must be an object", key);
    size_t n = stet_json_object_len(v);
    struct stet_schema_kv *kv = n ? stet_schema__calloc(n, sizeof(*kv)) : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t kl, vl;
        const char *k = stet_json_object_key_at(v, i, &kl);
        const char *s = stet_json_string(stet_json_object_value_at(v, i), &vl);
        if (s == NULL || memchr(s, '\0', vl) || memchr(k, '\0', kl)) {
            stet_schema__kv_free(kv, i);
            return bad(c, "\"%s\" values must be strings", key);
        }
        kv[i].key = stet_schema__strndup(k, kl);
        kv[i].value = stet_schema__strndup(s, vl);
    }
    *out = kv;
    *n_out = n;
    return 0;
}

static int rd_raw(const struct stet_json *o, const char *key, char **out) {
    const struct stet_json *v = stet_json_object_get(o, key);
    if (v == NULL) return 0;
    struct stet_buf b = STET_BUF_INIT;
    stet_json_write_value(&b, v);
    *out = stet_buf_strdup(&b);
    stet_buf_free(&b);
    return 0;
}

static int rd_retry(struct rctx *c, const struct stet_json *o, struct stet_retry_policy *r) {
    stet_schema__retry_clear(r);
    const struct stet_json *v = stet_json_object_get(o, "retry");
    if (v == NULL) return 0;
    if (stet_json_type(v) != STET_JSON_OBJECT) return bad(c, "\"retry\" must be an object");
    const struct stet_json *x;
    if ((x = stet_json_object_get(v, "initial_interval_ms")) != NULL) {
        if (!stet_json_uint64(x, &r->initial_interval_ms)) return bad(c, "bad retry.initial_interval_ms");
        r->has_initial_interval = true;
    }
    if ((x = stet_json_object_get(v, "factor")) != NULL) {
        if (stet_json_type(x) != STET_JSON_NUMBER) return bad(c, "bad retry.factor");
        r->factor = stet_json_number(x);
        r->has_factor = true;
    }
    if ((x = stet_json_object_get(v, "max_attempts")) != NULL) {
        uint64_t m;
        if (!stet_json_uint64(x, &m) || m == 0 || m > UINT32_MAX) return bad(c, "bad retry.max_attempts");
        r->max_attempts = (uint32_t)m;
        r->has_max_attempts = true;
    }
    if ((x = stet_json_object_get(v, "max_interval_ms")) != NULL) {
        if (!stet_json_uint64(x, &r->max_interval_ms)) return bad(c, "bad retry.max_interval_ms");
        r->has_max_interval = true;
    }
    if ((x = stet_json_object_get(v, "on_max_attempts")) != NULL) {
        const char *s = stet_json_string(x, NULL);
        if (s == NULL) return bad(c, "bad retry.on_max_attempts");
        if (strcmp(s, "PAUSE") == 0) r->on_max_attempts = STET_ON_MAX_ATTEMPTS_PAUSE;
        else if (strcmp(s, "KILL") == 0) r->on_max_attempts = STET_ON_MAX_ATTEMPTS_KILL;
        else return bad(c, "bad retry.on_max_attempts");
        r->has_on_max_attempts = true;
    }
    return 0;
}

static int rd_handler(struct rctx *c, const struct stet_json *o, struct stet_handler_schema *h) {
    stet_schema__handler_init(h);
    if (stet_json_type(o) != STET_JSON_OBJECT) return bad(c, "handler must be an object");
    int rc;
    if ((rc = rd_string(c, o, "name", true, false, &h->name))) return rc;
    char *ty = NULL;
    if ((rc = rd_string(c, o, "ty", true, false, &ty))) return rc;
    if (strcmp(ty, "UNSET") == 0) h->ty = STET_HANDLER_UNSET;
    else if (strcmp(ty, "EXCLUSIVE") == 0) h->ty = STET_HANDLER_EXCLUSIVE;
    else if (strcmp(ty, "SHARED") == 0) h->ty = STET_HANDLER_SHARED;
    else if (strcmp(ty, "WORKFLOW") == 0) h->ty = STET_HANDLER_WORKFLOW;
    else rc = bad(c, "bad handler ty '%s'", ty);
    free(ty);
    if (rc) return rc;
    if ((rc = rd_tristate(c, o, "public", &h->public_override))) return rc;
    if ((rc = rd_bool(c, o, "input_required", &h->input_required))) return rc;
    if ((rc = rd_string(c, o, "input_content_type", false, true, &h->input_content_type))) return rc;
    if ((rc = rd_raw(o, "input_json_schema", &h->input_json_schema))) return rc;
    if ((rc = rd_string(c, o, "output_content_type", false, true, &h->output_content_type))) return rc;
    if ((rc = rd_bool(c, o, "output_set_content_type_if_empty", &h->output_set_content_type_if_empty))) return rc;
    if ((rc = rd_raw(o, "output_json_schema", &h->output_json_schema))) return rc;
    if (h->input_content_type != NULL && strchr(h->input_content_type, '/') == NULL)
        return bad(c, "bad input content type");
    if ((rc = rd_duration(c, o, "inactivity_timeout_ms", &h->inactivity_timeout_ms)) ||
        (rc = rd_duration(c, o, "abort_timeout_ms", &h->abort_timeout_ms)) ||
        (rc = rd_duration(c, o, "idempotency_retention_ms", &h->idempotency_retention_ms)) ||
        (rc = rd_duration(c, o, "journal_retention_ms", &h->journal_retention_ms)) ||
        (rc = rd_duration(c, o, "workflow_completion_retention_ms", &h->workflow_completion_retention_ms)))
        return rc;
    if ((rc = rd_tristate(c, o, "enable_lazy_state", &h->enable_lazy_state))) return rc;
    if ((rc = rd_retry(c, o, &h->retry))) return rc;
    if ((rc = rd_string(c, o, "documentation", false, false, &h->documentation))) return rc;
    return rd_kv(c, o, "metadata", &h->metadata, &h->n_metadata);
}

static int rd_service(struct rctx *c, const struct stet_json *o, struct stet_service_schema *svc) {
    stet_schema__service_init(svc);
    if (stet_json_type(o) != STET_JSON_OBJECT) return bad(c, "service must be an object");
    int rc;
    if ((rc = rd_string(c, o, "name", true, false, &svc->name))) return rc;
    char *ty = NULL;
    if ((rc = rd_string(c, o, "ty", true, false, &ty))) return rc;
    if (strcmp(ty, "SERVICE") == 0) svc->ty = STET_SERVICE;
    else if (strcmp(ty, "VIRTUAL_OBJECT") == 0) svc->ty = STET_VIRTUAL_OBJECT;
    else if (strcmp(ty, "WORKFLOW") == 0) svc->ty = STET_WORKFLOW;
    else rc = bad(c, "bad service ty '%s'", ty);
    free(ty);
    if (rc) return rc;
    if ((rc = rd_u32(c, o, "revision", &svc->revision))) return rc;
    if (svc->revision == 0) return bad(c, "service revision must be >= 1");
    if ((rc = rd_bool(c, o, "public", &svc->is_public))) return rc;
    if ((rc = rd_duration(c, o, "idempotency_retention_ms", &svc->idempotency_retention_ms)) ||
        (rc = rd_duration(c, o, "workflow_completion_retention_ms", &svc->workflow_completion_retention_ms)) ||
        (rc = rd_duration(c, o, "journal_retention_ms", &svc->journal_retention_ms)) ||
        (rc = rd_duration(c, o, "inactivity_timeout_ms", &svc->inactivity_timeout_ms)) ||
        (rc = rd_duration(c, o, "abort_timeout_ms", &svc->abort_timeout_ms)))
        return rc;
    if ((rc = rd_bool(c, o, "enable_lazy_state", &svc->enable_lazy_state))) return rc;
    if ((rc = rd_retry(c, o, &svc->retry))) return rc;
    if ((rc = rd_string(c, o, "documentation", false, false, &svc->documentation))) return rc;
    if ((rc = rd_kv(c, o, "metadata", &svc->metadata, &svc->n_metadata))) return rc;
    const struct stet_json *hs = stet_json_object_get(o, "handlers");
    if (stet_json_type(hs) != STET_JSON_ARRAY) return bad(c, "\"handlers\" must be an array");
    size_t n = stet_json_array_len(hs);
    svc->handlers = n ? stet_schema__calloc(n, sizeof(*svc->handlers)) : NULL;
    for (size_t i = 0; i < n; i++) {
        svc->n_handlers = i + 1;
        if ((rc = rd_handler(c, stet_json_array_at(hs, i), &svc->handlers[i]))) return rc;
        enum stet_handler_type t = svc->handlers[i].ty;
        bool ok = (svc->ty == STET_SERVICE && t == STET_HANDLER_UNSET) ||
                  (svc->ty == STET_VIRTUAL_OBJECT && (t == STET_HANDLER_EXCLUSIVE || t == STET_HANDLER_SHARED)) ||
                  (svc->ty == STET_WORKFLOW && (t == STET_HANDLER_WORKFLOW || t == STET_HANDLER_SHARED));
        if (!ok) return bad(c, "handler type does not match service type in '%s'", svc->name);
    }
    return 0;
}

static int rd_deployment(struct rctx *c, const struct stet_json *o, struct stet_deployment_schema *d) {
    memset(d, 0, sizeof(*d));
    if (stet_json_type(o) != STET_JSON_OBJECT) return bad(c, "deployment must be an object");
    int rc;
    char *id = NULL;
    if ((rc = rd_string(c, o, "id", true, false, &id))) return rc;
    rc = stet_deployment_id_parse(id, strlen(id), d->id);
    if (rc != 0) rc = bad(c, "bad deployment id '%s'", id);
    free(id);
    if (rc) return rc;
    if ((rc = rd_string(c, o, "uri", true, false, &d->uri))) return rc;
    if ((rc = rd_bool(c, o, "use_http_11", &d->use_http_11))) return rc;
    if ((rc = rd_bool(c, o, "request_response", &d->request_response))) return rc;
    if ((rc = rd_u32(c, o, "min_protocol", &d->min_protocol))) return rc;
    if ((rc = rd_u32(c, o, "max_protocol", &d->max_protocol))) return rc;
    if (d->min_protocol > d->max_protocol) return bad(c, "min_protocol > max_protocol");
    if ((rc = rd_string(c, o, "sdk_version", false, false, &d->sdk_version))) return rc;
    if ((rc = rd_u64(c, o, "created_at_ms", true, &d->created_at_ms))) return rc;
    if ((rc = rd_kv(c, o, "headers", &d->headers, &d->n_headers))) return rc;
    if ((rc = rd_kv(c, o, "metadata", &d->metadata, &d->n_metadata))) return rc;
    const struct stet_json *ss = stet_json_object_get(o, "services");
    if (stet_json_type(ss) != STET_JSON_ARRAY) return bad(c, "\"services\" must be an array");
    size_t n = stet_json_array_len(ss);
    d->services = n ? stet_schema__calloc(n, sizeof(*d->services)) : NULL;
    for (size_t i = 0; i < n; i++) {
        d->n_services = i + 1;
        if ((rc = rd_service(c, stet_json_array_at(ss, i), &d->services[i]))) return rc;
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->services[k].name, d->services[i].name) == 0)
                return bad(c, "duplicate service '%s' in a deployment", d->services[i].name);
    }
    return 0;
}

int stet_schema_from_json(const char *json, size_t len, struct stet_schema **out, char *err, size_t errlen) {
    struct rctx c = {.err = err, .errlen = errlen};
    struct stet_json *root = NULL;
    char perr[200];
    *out = NULL;
    if (stet_json_parse(json, len, &root, perr, sizeof(perr)) != 0) return bad(&c, "%s", perr);
    int rc = 0;
    struct stet_deployment_schema *deps = NULL;
    size_t n = 0;
    uint64_t format = 0, version = 0;
    if (stet_json_type(root) != STET_JSON_OBJECT) {
        rc = bad(&c, "the document must be an object");
        goto done;
    }
    if ((rc = rd_u64(&c, root, "format", true, &format))) goto done;
    if (format != PERSIST_FORMAT) {
        rc = bad(&c, "unsupported format %llu (this build reads format %d)", (unsigned long long)format,
                 PERSIST_FORMAT);
        goto done;
    }
    if ((rc = rd_u64(&c, root, "version", true, &version))) goto done;
    const struct stet_json *ds = stet_json_object_get(root, "deployments");
    if (stet_json_type(ds) != STET_JSON_ARRAY) {
        rc = bad(&c, "\"deployments\" must be an array");
        goto done;
    }
    size_t total = stet_json_array_len(ds);
    deps = stet_schema__calloc(total, sizeof(*deps));
    for (size_t i = 0; i < total; i++) {
        n = i + 1;
        if ((rc = rd_deployment(&c, stet_json_array_at(ds, i), &deps[i]))) goto done;
        for (size_t k = 0; k < i; k++) {
            if (memcmp(deps[k].id, deps[i].id, 16) == 0) {
                rc = bad(&c, "duplicate deployment id");
                goto done;
            }
        }
    }
    *out = stet_schema__build(deps, n, version);
    deps = NULL;
done:
    if (deps != NULL) {
        for (size_t i = 0; i < n; i++) stet_schema_deployment_clear(&deps[i]);
        free(deps);
    }
    stet_json_free(root);
    return rc;
}
