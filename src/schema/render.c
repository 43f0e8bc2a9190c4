/* Admin API renderings of the schema (http-api.md §4.5, §4.6).
 *
 * Field order and presence follow restate's serde structs (crates/types/src/schema/service.rs
 * ServiceMetadata/HandlerMetadata and crates/admin-rest-model deployments.rs), which is what
 * the CLI and the captures show:
 *   ServiceMetadata: name, ty, handlers, documentation?, metadata?, deployment_id, revision,
 *     public, idempotency_retention, workflow_completion_retention? (workflows only),
 *     journal_retention?, inactivity_timeout, abort_timeout, enable_lazy_state,
 *     retry_policy{initial_interval, exponentiation_factor, max_attempts|null,
 *     max_interval|null, on_max_attempts}, info?
 *   HandlerMetadata: name, ty?, documentation?, metadata?, idempotency_retention?,
 *     journal_retention?, inactivity_timeout?, abort_timeout?, enable_lazy_state?, public,
 *     input_description, output_description, input_json_schema?, output_json_schema?,
 *     retry_policy{initial_interval?, exponentiation_factor?, max_attempts|null,
 *     max_interval?, on_max_attempts?}, info?
 * Durations are jiff "friendly" strings ("1d", "1m 30s", "50ms"). Services exposed over
 * request/response report inactivity_timeout "0s" (handlers omit it), with an RT0021 info
 * entry when one was configured.
 */
#include "schema/schema_internal.h"

#include <string.h>

#include "common/assert.h"
#include "common/ids.h"
#include "common/timefmt.h"

static void key_duration(struct stet_json_writer *w, const char *key, uint64_t ms) {
    char buf[64];
    stet_duration_format_friendly(ms, buf, sizeof(buf));
    stet_json_key(w, key);
    stet_json_write_string(w, buf);
}

static void key_kv_if_any(struct stet_json_writer *w, const char *key, const struct stet_schema_kv *kv, size_t n) {
    if (n == 0) return;
    stet_json_key(w, key);
    stet_json_begin_object(w);
    for (size_t i = 0; i < n; i++) {
        stet_json_key(w, kv[i].key);
        stet_json_write_string(w, kv[i].value);
    }
    stet_json_end_object(w);
}

static void key_deployment_id(struct stet_json_writer *w, const char *key, const uint8_t id[16]) {
    char buf[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, buf);
    stet_json_key(w, key);
    stet_json_write_string(w, buf);
}

static void write_rt0021(struct stet_json_writer *w, const char *what, uint64_t ms) {
    char dur[64], msg[256];
    stet_duration_format_friendly(ms, dur, sizeof(dur));
    snprintf(msg, sizeof(msg),
             "The configured inactivity_timeout %s will not be applied because the %s is exposed in "
             "Request/Response mode.",
             dur, what);
    stet_json_key(w, "info");
    stet_json_begin_array(w);
    stet_json_begin_object(w);
    stet_json_key(w, "code");
    stet_json_write_string(w, "RT0021");
    stet_json_key(w, "message");
    stet_json_write_string(w, msg);
    stet_json_end_object(w);
    stet_json_end_array(w);
}

static const char *handler_type_name(enum stet_handler_type ty) {
    switch (ty) {
    case STET_HANDLER_EXCLUSIVE: return "Exclusive";
    case STET_HANDLER_SHARED: return "Shared";
    case STET_HANDLER_WORKFLOW: return "Workflow";
    case STET_HANDLER_UNSET: return NULL;
    }
    STET_UNREACHABLE();
    return NULL;
}

void stet_schema_render_handler(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                const struct stet_service_schema *svc, const struct stet_handler_schema *h,
                                const struct stet_schema_defaults *d) {
    STET_UNUSED(d);
    bool rr = dep != NULL && dep->request_response;
    stet_json_begin_object(w);
    stet_json_key(w, "name");
    stet_json_write_string(w, h->name);
    const char *ty = handler_type_name(h->ty);
    if (ty != NULL) {
        stet_json_key(w, "ty");
        stet_json_write_string(w, ty);
    }
    if (h->documentation != NULL) {
        stet_json_key(w, "documentation");
        stet_json_write_string(w, h->documentation);
    }
    key_kv_if_any(w, "metadata", h->metadata, h->n_metadata);
    if (h->idempotency_retention_ms != STET_DURATION_UNSET)
        key_duration(w, "idempotency_retention", h->idempotency_retention_ms);
    if (h->journal_retention_ms != STET_DURATION_UNSET) key_duration(w, "journal_retention", h->journal_retention_ms);
    if (h->inactivity_timeout_ms != STET_DURATION_UNSET && !rr)
        key_duration(w, "inactivity_timeout", h->inactivity_timeout_ms);
    if (h->abort_timeout_ms != STET_DURATION_UNSET) key_duration(w, "abort_timeout", h->abort_timeout_ms);
    if (h->enable_lazy_state >= 0) {
        stet_json_key(w, "enable_lazy_state");
        stet_json_write_bool(w, h->enable_lazy_state == 1);
    }
    stet_json_key(w, "public");
    stet_json_write_bool(w, h->public_override >= 0 ? h->public_override == 1 : svc->is_public);

    struct stet_buf desc = STET_BUF_INIT;
    stet_schema_input_description(h, &desc);
    stet_json_key(w, "input_description");
    stet_json_write_string_n(w, (const char *)desc.data, desc.len);
    stet_buf_reset(&desc);
    stet_schema_output_description(h, &desc);
    stet_json_key(w, "output_description");
    stet_json_write_string_n(w, (const char *)desc.data, desc.len);
    stet_buf_free(&desc);
    if (h->input_json_schema != NULL) {
        stet_json_key(w, "input_json_schema");
        stet_json_write_raw(w, h->input_json_schema, strlen(h->input_json_schema));
    }
    if (h->output_json_schema != NULL) {
        stet_json_key(w, "output_json_schema");
        stet_json_write_raw(w, h->output_json_schema, strlen(h->output_json_schema));
    }

    const struct stet_retry_policy *r = &h->retry;
    stet_json_key(w, "retry_policy");
    stet_json_begin_object(w);
    if (r->has_initial_interval) key_duration(w, "initial_interval", r->initial_interval_ms);
    if (r->has_factor) {
        stet_json_key(w, "exponentiation_factor");
        stet_json_write_double(w, r->factor);
    }
    stet_json_key(w, "max_attempts");
    if (r->has_max_attempts) stet_json_write_uint(w, r->max_attempts);
    else stet_json_write_null(w);
    if (r->has_max_interval) key_duration(w, "max_interval", r->max_interval_ms);
    if (r->has_on_max_attempts) {
        stet_json_key(w, "on_max_attempts");
        stet_json_write_string(w, r->on_max_attempts == STET_ON_MAX_ATTEMPTS_KILL ? "Kill" : "Pause");
    }
    stet_json_end_object(w);
    if (rr && h->inactivity_timeout_ms != STET_DURATION_UNSET) write_rt0021(w, "handler", h->inactivity_timeout_ms);
    stet_json_end_object(w);
}

static uint64_t or_default(uint64_t v, uint64_t dflt) { return v != STET_DURATION_UNSET ? v : dflt; }

void stet_schema_render_service(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                const struct stet_service_schema *svc, const struct stet_schema_defaults *d) {
    bool rr = dep != NULL && dep->request_response;
    stet_json_begin_object(w);
    stet_json_key(w, "name");
    stet_json_write_string(w, svc->name);
    stet_json_key(w, "ty");
    stet_json_write_string(w, stet_service_type_name(svc->ty));
    stet_json_key(w, "handlers");
    stet_json_begin_array(w);
    for (size_t i = 0; i < svc->n_handlers; i++) stet_schema_render_handler(w, dep, svc, &svc->handlers[i], d);
    stet_json_end_array(w);
    if (svc->documentation != NULL) {
        stet_json_key(w, "documentation");
        stet_json_write_string(w, svc->documentation);
    }
    key_kv_if_any(w, "metadata", svc->metadata, svc->n_metadata);
    key_deployment_id(w, "deployment_id", svc->deployment_id);
    stet_json_key(w, "revision");
    stet_json_write_uint(w, svc->revision);
    stet_json_key(w, "public");
    stet_json_write_bool(w, svc->is_public);
    /* a zero server default means "not set" (restate's to_non_zero_std) */
    key_duration(w, "idempotency_retention", or_default(svc->idempotency_retention_ms, d->idempotency_retention_ms));
    if (svc->ty == STET_WORKFLOW) {
        uint64_t wcr = STET_DURATION_UNSET;
        for (size_t i = 0; i < svc->n_handlers && wcr == STET_DURATION_UNSET; i++)
            wcr = svc->handlers[i].workflow_completion_retention_ms;
        if (wcr == STET_DURATION_UNSET) wcr = or_default(svc->workflow_completion_retention_ms,
                                                         d->workflow_completion_retention_ms);
        key_duration(w, "workflow_completion_retention", wcr);
    }
    uint64_t jr = svc->journal_retention_ms;
    if (jr == STET_DURATION_UNSET && d->journal_retention_ms != 0) jr = d->journal_retention_ms;
    if (jr != STET_DURATION_UNSET) key_duration(w, "journal_retention", jr);
    key_duration(w, "inactivity_timeout", rr ? 0 : or_default(svc->inactivity_timeout_ms, d->inactivity_timeout_ms));
    key_duration(w, "abort_timeout", or_default(svc->abort_timeout_ms, d->abort_timeout_ms));
    stet_json_key(w, "enable_lazy_state");
    stet_json_write_bool(w, svc->enable_lazy_state);

    struct stet_retry_policy r;
    stet_schema_retry_policy(svc, NULL, d, &r);
    stet_json_key(w, "retry_policy");
    stet_json_begin_object(w);
    key_duration(w, "initial_interval", r.initial_interval_ms);
    stet_json_key(w, "exponentiation_factor");
    stet_json_write_double(w, r.factor);
    stet_json_key(w, "max_attempts");
    if (r.max_attempts == 0) stet_json_write_null(w);
    else stet_json_write_uint(w, r.max_attempts);
    if (r.has_max_interval) key_duration(w, "max_interval", r.max_interval_ms);
    else {
        stet_json_key(w, "max_interval");
        stet_json_write_null(w);
    }
    stet_json_key(w, "on_max_attempts");
    stet_json_write_string(w, r.on_max_attempts == STET_ON_MAX_ATTEMPTS_KILL ? "Kill" : "Pause");
    stet_json_end_object(w);
    if (rr && svc->inactivity_timeout_ms != STET_DURATION_UNSET) write_rt0021(w, "service", svc->inactivity_timeout_ms);
    stet_json_end_object(w);
}

void stet_schema_render_deployment(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                   bool detailed, const struct stet_schema_defaults *d) {
    stet_json_begin_object(w);
    key_deployment_id(w, "id", dep->id);
    stet_json_key(w, "uri");
    stet_json_write_string(w, dep->uri);
    stet_json_key(w, "protocol_type");
    stet_json_write_string(w, dep->request_response ? "RequestResponse" : "BidiStream");
    stet_json_key(w, "http_version");
    stet_json_write_string(w, dep->use_http_11 ? "HTTP/1.1" : "HTTP/2.0");
    key_kv_if_any(w, "additional_headers", dep->headers, dep->n_headers);
    key_kv_if_any(w, "metadata", dep->metadata, dep->n_metadata);
    char ts[48];
    stet_time_format_rfc3339_nanos(dep->created_at_ms, ts, sizeof(ts));
    stet_json_key(w, "created_at");
    stet_json_write_string(w, ts);
    stet_json_key(w, "min_protocol_version");
    stet_json_write_uint(w, dep->min_protocol);
    stet_json_key(w, "max_protocol_version");
    stet_json_write_uint(w, dep->max_protocol);
    if (dep->sdk_version != NULL) {
        stet_json_key(w, "sdk_version");
        stet_json_write_string(w, dep->sdk_version);
    }
    stet_json_key(w, "services");
    stet_json_begin_array(w);
    for (size_t i = 0; i < dep->n_services; i++) {
        const struct stet_service_schema *svc = &dep->services[i];
        if (detailed) {
            stet_schema_render_service(w, dep, svc, d);
        } else {
            stet_json_begin_object(w);
            stet_json_key(w, "name");
            stet_json_write_string(w, svc->name);
            stet_json_key(w, "revision");
            stet_json_write_uint(w, svc->revision);
            stet_json_end_object(w);
        }
    }
    stet_json_end_array(w);
    stet_json_end_object(w);
}

void stet_schema_render_register_response(struct stet_json_writer *w, const struct stet_deployment_schema *dep,
                                          const struct stet_schema_defaults *d) {
    stet_json_begin_object(w);
    key_deployment_id(w, "id", dep->id);
    stet_json_key(w, "services");
    stet_json_begin_array(w);
    for (size_t i = 0; i < dep->n_services; i++) stet_schema_render_service(w, dep, &dep->services[i], d);
    stet_json_end_array(w);
    stet_json_key(w, "min_protocol_version");
    stet_json_write_uint(w, dep->min_protocol);
    stet_json_key(w, "max_protocol_version");
    stet_json_write_uint(w, dep->max_protocol);
    if (dep->sdk_version != NULL) {
        stet_json_key(w, "sdk_version");
        stet_json_write_string(w, dep->sdk_version);
    }
    stet_json_end_object(w);
}

void stet_schema_render_services(struct stet_json_writer *w, const struct stet_schema *s,
                                 const struct stet_schema_defaults *d) {
    stet_json_begin_object(w);
    stet_json_key(w, "services");
    stet_json_begin_array(w);
    for (size_t i = 0; i < s->n_active; i++) {
        const struct stet_deployment_schema *dep;
        const struct stet_service_schema *svc = stet_schema_service_at(s, i, &dep);
        stet_schema_render_service(w, dep, svc, d);
    }
    stet_json_end_array(w);
    stet_json_end_object(w);
}

void stet_schema_render_deployments(struct stet_json_writer *w, const struct stet_schema *s,
                                    const struct stet_schema_defaults *d) {
    stet_json_begin_object(w);
    stet_json_key(w, "deployments");
    stet_json_begin_array(w);
    for (size_t i = 0; i < s->n; i++) stet_schema_render_deployment(w, &s->deployments[i], false, d);
    stet_json_end_array(w);
    stet_json_end_object(w);
}
