/* Discovery manifest parser (endpoint manifest v1..v4; service-protocol.md §2.2).
 *
 * Decoding follows the manifest JSON schema (restate service-protocol/endpoint_manifest_schema.json)
 * the way restate's generated serde types do:
 *   - additionalProperties is false everywhere: unknown fields are decode errors;
 *   - optional fields may be null (= absent); required ones must be present and non-null;
 *   - durations are non-negative integers (ms); names must match the schema patterns.
 * Error texts mimic serde's ("missing field `ty`", "unknown field `x`, expected one of ...",
 * "invalid type: string \"a\", expected u64") prefixed with where the problem is.
 *
 * After decoding, the endpoint-level checks of restate's discovery.rs run in its order:
 * protocolMode present (META0013), versions <= i32::MAX and min <= max (META0013), range
 * overlapping [5, 7] (META0012). Service/handler semantics (type combinations, retention
 * rules, content types) are registration errors and live in schema.c.
 *
 * The result keeps the manifest's raw handler "ty" (UNSET when absent); registration
 * resolves it against the service type.
 */
#include "schema/schema_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

struct mctx {
    char *err;
    size_t errlen;
    enum stet_manifest_error_kind kind;
    char where[256]; /* "services[2] (Greeter).handlers[0]" */
};

static int fail(struct mctx *c, enum stet_manifest_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct mctx *c, enum stet_manifest_error_kind kind, const char *fmt, ...) {
    c->kind = kind;
    if (c->err != NULL && c->errlen > 0) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (c->where[0] != '\0' && kind == STET_MANIFEST_DECODE) snprintf(c->err, c->errlen, "%s: %s", c->where, msg);
        else snprintf(c->err, c->errlen, "%s", msg);
    }
    return -EINVAL;
}

/* serde's "unexpected" rendering of a JSON value */
static void describe_value(const struct stet_json *j, char *out, size_t n) {
    size_t len;
    switch (stet_json_type(j)) {
    case STET_JSON_NULL: snprintf(out, n, "null"); return;
    case STET_JSON_BOOL: snprintf(out, n, "boolean `%s`", stet_json_bool(j) ? "true" : "false"); return;
    case STET_JSON_NUMBER: {
        const char *t = stet_json_number_text(j, &len);
        int64_t i;
        uint64_t u;
        if (stet_json_int64(j, &i) || stet_json_uint64(j, &u))
            snprintf(out, n, "integer `%.*s`", (int)len, t);
        else
            snprintf(out, n, "floating point `%.*s`", (int)len, t);
        return;
    }
    case STET_JSON_STRING: {
        const char *s = stet_json_string(j, &len);
        snprintf(out, n, "string \"%.*s\"", (int)(len > 80 ? 80 : len), s);
        return;
    }
    case STET_JSON_ARRAY: snprintf(out, n, "sequence"); return;
    case STET_JSON_OBJECT: snprintf(out, n, "map"); return;
    }
}

static int invalid_type(struct mctx *c, const char *field, const struct stet_json *j, const char *expected) {
    char d[128];
    describe_value(j, d, sizeof(d));
    return fail(c, STET_MANIFEST_DECODE, "%s: invalid type: %s, expected %s", field, d, expected);
}

static int check_fields(struct mctx *c, const struct stet_json *obj, const char *const *allowed, size_t n_allowed,
                        const char *expected_list) {
    size_t nk = stet_json_object_len(obj);
    for (size_t i = 0; i < nk; i++) {
        size_t kl;
        const char *k = stet_json_object_key_at(obj, i, &kl);
        bool ok = false;
        for (size_t a = 0; a < n_allowed && !ok; a++)
            if (strlen(allowed[a]) == kl && memcmp(allowed[a], k, kl) == 0) ok = true;
        if (!ok)
            return fail(c, STET_MANIFEST_DECODE, "unknown field `%.*s`, expected one of %s", (int)(kl > 80 ? 80 : kl),
                        k, expected_list);
    }
    return 0;
}

/* present and not null */
static const struct stet_json *field(const struct stet_json *obj, const char *name) {
    const struct stet_json *v = stet_json_object_get(obj, name);
    if (v == NULL || stet_json_type(v) == STET_JSON_NULL) return NULL;
    return v;
}

static int get_u64(struct mctx *c, const struct stet_json *obj, const char *name, uint64_t *out, bool *present) {
    const struct stet_json *v = field(obj, name);
    *present = v != NULL;
    if (v == NULL) return 0;
    if (stet_json_type(v) != STET_JSON_NUMBER || !stet_json_uint64(v, out)) {
        int64_t neg;
        if (stet_json_type(v) == STET_JSON_NUMBER && stet_json_int64(v, &neg)) {
            char d[64];
            describe_value(v, d, sizeof(d));
            return fail(c, STET_MANIFEST_DECODE, "%s: invalid value: %s, expected u64", name, d);
        }
        return invalid_type(c, name, v, "u64");
    }
    return 0;
}

static int get_duration(struct mctx *c, const struct stet_json *obj, const char *name, uint64_t *out) {
    bool present;
    uint64_t v;
    int rc = get_u64(c, obj, name, &v, &present);
    if (rc != 0) return rc;
    if (present) {
        if (v == STET_DURATION_UNSET) v = STET_DURATION_UNSET - 1; /* keep the sentinel free */
        *out = v;
    }
    return 0;
}

static int get_bool(struct mctx *c, const struct stet_json *obj, const char *name, int *out /* -1 absent */) {
    const struct stet_json *v = field(obj, name);
    if (v == NULL) return 0;
    if (stet_json_type(v) != STET_JSON_BOOL) return invalid_type(c, name, v, "a boolean");
    *out = stet_json_bool(v) ? 1 : 0;
    return 0;
}

static int get_string(struct mctx *c, const struct stet_json *obj, const char *name, char **out) {
    const struct stet_json *v = field(obj, name);
    if (v == NULL) return 0;
    size_t len;
    const char *s = stet_json_string(v, &len);
    if (s == NULL) return invalid_type(c, name, v, "a string");
    if (memchr(s, '\0', len) != NULL) return fail(c, STET_MANIFEST_DECODE, "%s: string contains a NUL character", name);
    free(*out);
    *out = stet_schema__strndup(s, len);
    return 0;
}

static int get_metadata(struct mctx *c, const struct stet_json *obj, struct stet_schema_kv **out, size_t *n_out) {
    const struct stet_json *v = field(obj, "metadata");
    if (v == NULL) return 0;
    if (stet_json_type(v) != STET_JSON_OBJECT) return invalid_type(c, "metadata", v, "a map");
    size_t n = stet_json_object_len(v);
    struct stet_schema_kv *kv = n ? stet_schema__calloc(n, sizeof(*kv)) : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t kl, vl;
        const char *k = stet_json_object_key_at(v, i, &kl);
        const struct stet_json *val = stet_json_object_value_at(v, i);
        const char *s = stet_json_string(val, &vl);
        if (s == NULL || memchr(s, '\0', vl) != NULL || memchr(k, '\0', kl) != NULL) {
            stet_schema__kv_free(kv, i);
            return invalid_type(c, "metadata", val, "a string");
        }
        kv[i].key = stet_schema__strndup(k, kl);
        kv[i].value = stet_schema__strndup(s, vl);
    }
    *out = kv;
    *n_out = n;
    return 0;
}

static int get_retry(struct mctx *c, const struct stet_json *obj, struct stet_retry_policy *r) {
    bool present;
    uint64_t v;
    int rc = get_u64(c, obj, "retryPolicyInitialInterval", &v, &present);
    if (rc) return rc;
    if (present) { r->initial_interval_ms = v; r->has_initial_interval = true; }
    rc = get_u64(c, obj, "retryPolicyMaxInterval", &v, &present);
    if (rc) return rc;
    if (present) { r->max_interval_ms = v; r->has_max_interval = true; }
    rc = get_u64(c, obj, "retryPolicyMaxAttempts", &v, &present);
    if (rc) return rc;
    if (present) {
        /* NonZeroUsize::new(n).unwrap_or(MIN) */
        r->max_attempts = v == 0 ? 1 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        r->has_max_attempts = true;
    }
    const struct stet_json *f = field(obj, "retryPolicyExponentiationFactor");
    if (f != NULL) {
        if (stet_json_type(f) != STET_JSON_NUMBER) return invalid_type(c, "retryPolicyExponentiationFactor", f, "f64");
        r->factor = stet_json_number(f);
        r->has_factor = true;
    }
    const struct stet_json *m = field(obj, "retryPolicyOnMaxAttempts");
    if (m != NULL) {
        size_t len;
        const char *s = stet_json_string(m, &len);
        if (s == NULL) return invalid_type(c, "retryPolicyOnMaxAttempts", m, "a string");
        if (len == 5 && memcmp(s, "PAUSE", 5) == 0) r->on_max_attempts = STET_ON_MAX_ATTEMPTS_PAUSE;
        else if (len == 4 && memcmp(s, "KILL", 4) == 0) r->on_max_attempts = STET_ON_MAX_ATTEMPTS_KILL;
        else
            return fail(c, STET_MANIFEST_DECODE,
                        "retryPolicyOnMaxAttempts: unknown variant `%.*s`, expected `PAUSE` or `KILL`",
                        (int)(len > 80 ? 80 : len), s);
        r->has_on_max_attempts = true;
    }
    return 0;
}

static bool is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static bool is_alnum(char ch) { return is_alpha(ch) || (ch >= '0' && ch <= '9'); }

/* ^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9<extra>]*$ */
static bool name_matches(const char *s, size_t len, const char *extra) {
    size_t i;
    if (len == 0) return false;
    if (is_alpha(s[0])) i = 1;
    else if (s[0] == '_' && len >= 2 && is_alnum(s[1])) i = 2;
    else return false;
    for (; i < len; i++)
        if (!is_alnum(s[i]) && strchr(extra, s[i]) == NULL) return false;
    return true;
}

static int get_name(struct mctx *c, const struct stet_json *obj, const char *extra, const char *pattern, char **out) {
    const struct stet_json *v = field(obj, "name");
    if (v == NULL) return fail(c, STET_MANIFEST_DECODE, "missing field `name`");
    size_t len;
    const char *s = stet_json_string(v, &len);
    if (s == NULL) return invalid_type(c, "name", v, "a string");
    if (!name_matches(s, len, extra))
        return fail(c, STET_MANIFEST_DECODE, "name: \"%.*s\" doesn't match pattern \"%s\"", (int)(len > 80 ? 80 : len),
                    s, pattern);
    *out = stet_schema__strndup(s, len);
    return 0;
}

static int json_text(const struct stet_json *v, char **out) {
    struct stet_buf b = STET_BUF_INIT;
    stet_json_write_value(&b, v);
    *out = stet_buf_strdup(&b);
    stet_buf_free(&b);
    return 0;
}

static const char *const handler_fields[] = {
    "name", "documentation", "ty", "input", "output", "inactivityTimeout", "abortTimeout", "journalRetention",
    "idempotencyRetention", "workflowCompletionRetention", "enableLazyState", "ingressPrivate",
    "retryPolicyInitialInterval", "retryPolicyMaxInterval", "retryPolicyMaxAttempts",
    "retryPolicyExponentiationFactor", "retryPolicyOnMaxAttempts", "metadata",
};
static const char handler_fields_list[] =
    "`name`, `documentation`, `ty`, `input`, `output`, `inactivityTimeout`, `abortTimeout`, `journalRetention`, "
    "`idempotencyRetention`, `workflowCompletionRetention`, `enableLazyState`, `ingressPrivate`, "
    "`retryPolicyInitialInterval`, `retryPolicyMaxInterval`, `retryPolicyMaxAttempts`, "
    "`retryPolicyExponentiationFactor`, `retryPolicyOnMaxAttempts`, `metadata`";

static const char *const input_fields[] = {"required", "contentType", "jsonSchema"};
static const char *const output_fields[] = {"contentType", "setContentTypeIfEmpty", "jsonSchema"};

static int parse_handler(struct mctx *c, const struct stet_json *jh, struct stet_handler_schema *h) {
    stet_schema__handler_init(h);
    if (stet_json_type(jh) != STET_JSON_OBJECT) return invalid_type(c, "handler", jh, "struct Handler");
    int rc = check_fields(c, jh, handler_fields, STET_ARRAY_LEN(handler_fields), handler_fields_list);
    if (rc) return rc;
    rc = get_name(c, jh, "_", "^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$", &h->name);
    if (rc) return rc;
    const struct stet_json *ty = field(jh, "ty");
    if (ty != NULL) {
        size_t len;
        const char *s = stet_json_string(ty, &len);
        if (s == NULL) return invalid_type(c, "ty", ty, "a string");
        if (len == 8 && memcmp(s, "WORKFLOW", 8) == 0) h->ty = STET_HANDLER_WORKFLOW;
        else if (len == 9 && memcmp(s, "EXCLUSIVE", 9) == 0) h->ty = STET_HANDLER_EXCLUSIVE;
        else if (len == 6 && memcmp(s, "SHARED", 6) == 0) h->ty = STET_HANDLER_SHARED;
        else
            return fail(c, STET_MANIFEST_DECODE,
                        "ty: unknown variant `%.*s`, expected one of `WORKFLOW`, `EXCLUSIVE`, `SHARED`",
                        (int)(len > 80 ? 80 : len), s);
    }
    rc = get_string(c, jh, "documentation", &h->documentation);
    if (rc) return rc;
    rc = get_metadata(c, jh, &h->metadata, &h->n_metadata);
    if (rc) return rc;
    if ((rc = get_duration(c, jh, "inactivityTimeout", &h->inactivity_timeout_ms)) ||
        (rc = get_duration(c, jh, "abortTimeout", &h->abort_timeout_ms)) ||
        (rc = get_duration(c, jh, "journalRetention", &h->journal_retention_ms)) ||
        (rc = get_duration(c, jh, "idempotencyRetention", &h->idempotency_retention_ms)) ||
        (rc = get_duration(c, jh, "workflowCompletionRetention", &h->workflow_completion_retention_ms)))
        return rc;
    rc = get_bool(c, jh, "enableLazyState", &h->enable_lazy_state);
    if (rc) return rc;
    int priv = -1;
    rc = get_bool(c, jh, "ingressPrivate", &priv);
    if (rc) return rc;
    h->public_override = priv < 0 ? -1 : !priv;
    rc = get_retry(c, jh, &h->retry);
    if (rc) return rc;

    /* input: absent = {required:false, contentType: any (star/star)} */
    const struct stet_json *in = field(jh, "input");
    if (in == NULL) {
        h->input_required = false;
        h->input_content_type = stet_schema__strdup("*/*");
    } else {
        if (stet_json_type(in) != STET_JSON_OBJECT) return invalid_type(c, "input", in, "struct InputPayload");
        rc = check_fields(c, in, input_fields, STET_ARRAY_LEN(input_fields), "`required`, `contentType`, `jsonSchema`");
        if (rc) return rc;
        int req = -1;
        rc = get_bool(c, in, "required", &req);
        if (rc) return rc;
        h->input_required = req == 1;
        rc = get_string(c, in, "contentType", &h->input_content_type);
        if (rc) return rc;
        const struct stet_json *js = field(in, "jsonSchema");
        if (js != NULL && h->input_content_type != NULL) json_text(js, &h->input_json_schema);
    }
    /* output: absent = application/json, setContentTypeIfEmpty false */
    const struct stet_json *o = field(jh, "output");
    if (o == NULL) {
        h->output_content_type = stet_schema__strdup("application/json");
    } else {
        if (stet_json_type(o) != STET_JSON_OBJECT) return invalid_type(c, "output", o, "struct OutputPayload");
        rc = check_fields(c, o, output_fields, STET_ARRAY_LEN(output_fields),
                          "`contentType`, `setContentTypeIfEmpty`, `jsonSchema`");
        if (rc) return rc;
        rc = get_string(c, o, "contentType", &h->output_content_type);
        if (rc) return rc;
        int sct = -1;
        rc = get_bool(c, o, "setContentTypeIfEmpty", &sct);
        if (rc) return rc;
        h->output_set_content_type_if_empty = sct == 1;
        const struct stet_json *js = field(o, "jsonSchema");
        if (js != NULL && h->output_content_type != NULL) json_text(js, &h->output_json_schema);
    }
    return 0;
}

static const char *const service_fields[] = {
    "name", "documentation", "ty", "handlers", "inactivityTimeout", "abortTimeout", "journalRetention",
    "idempotencyRetention", "enableLazyState", "ingressPrivate", "retryPolicyInitialInterval",
    "retryPolicyMaxInterval", "retryPolicyMaxAttempts", "retryPolicyExponentiationFactor",
    "retryPolicyOnMaxAttempts", "metadata",
};
static const char service_fields_list[] =
    "`name`, `documentation`, `ty`, `handlers`, `inactivityTimeout`, `abortTimeout`, `journalRetention`, "
    "`idempotencyRetention`, `enableLazyState`, `ingressPrivate`, `retryPolicyInitialInterval`, "
    "`retryPolicyMaxInterval`, `retryPolicyMaxAttempts`, `retryPolicyExponentiationFactor`, "
    "`retryPolicyOnMaxAttempts`, `metadata`";

static int parse_service(struct mctx *c, const struct stet_json *js, size_t index, struct stet_service_schema *svc) {
    stet_schema__service_init(svc);
    snprintf(c->where, sizeof(c->where), "services[%zu]", index);
    if (stet_json_type(js) != STET_JSON_OBJECT) return invalid_type(c, "service", js, "struct Service");
    int rc = check_fields(c, js, service_fields, STET_ARRAY_LEN(service_fields), service_fields_list);
    if (rc) return rc;
    rc = get_name(c, js, "._-", "^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$", &svc->name);
    if (rc) return rc;
    snprintf(c->where, sizeof(c->where), "services[%zu] (%.100s)", index, svc->name);
    const struct stet_json *ty = field(js, "ty");
    if (ty == NULL) return fail(c, STET_MANIFEST_DECODE, "missing field `ty`");
    size_t len;
    const char *s = stet_json_string(ty, &len);
    if (s == NULL) return invalid_type(c, "ty", ty, "a string");
    if (len == 14 && memcmp(s, "VIRTUAL_OBJECT", 14) == 0) svc->ty = STET_VIRTUAL_OBJECT;
    else if (len == 7 && memcmp(s, "SERVICE", 7) == 0) svc->ty = STET_SERVICE;
    else if (len == 8 && memcmp(s, "WORKFLOW", 8) == 0) svc->ty = STET_WORKFLOW;
    else
        return fail(c, STET_MANIFEST_DECODE,
                    "ty: unknown variant `%.*s`, expected one of `VIRTUAL_OBJECT`, `SERVICE`, `WORKFLOW`",
                    (int)(len > 80 ? 80 : len), s);
    rc = get_string(c, js, "documentation", &svc->documentation);
    if (rc) return rc;
    rc = get_metadata(c, js, &svc->metadata, &svc->n_metadata);
    if (rc) return rc;
    if ((rc = get_duration(c, js, "inactivityTimeout", &svc->inactivity_timeout_ms)) ||
        (rc = get_duration(c, js, "abortTimeout", &svc->abort_timeout_ms)) ||
        (rc = get_duration(c, js, "journalRetention", &svc->journal_retention_ms)) ||
        (rc = get_duration(c, js, "idempotencyRetention", &svc->idempotency_retention_ms)))
        return rc;
    int lazy = -1, priv = -1;
    if ((rc = get_bool(c, js, "enableLazyState", &lazy)) || (rc = get_bool(c, js, "ingressPrivate", &priv))) return rc;
    svc->enable_lazy_state = lazy == 1;
    svc->is_public = priv != 1;
    rc = get_retry(c, js, &svc->retry);
    if (rc) return rc;

    const struct stet_json *hs = field(js, "handlers");
    if (hs == NULL) return fail(c, STET_MANIFEST_DECODE, "missing field `handlers`");
    if (stet_json_type(hs) != STET_JSON_ARRAY) return invalid_type(c, "handlers", hs, "a sequence");
    size_t nh = stet_json_array_len(hs);
    svc->handlers = nh ? stet_schema__calloc(nh, sizeof(*svc->handlers)) : NULL;
    for (size_t i = 0; i < nh; i++) {
        snprintf(c->where, sizeof(c->where), "services[%zu] (%.100s).handlers[%zu]", index, svc->name, i);
        svc->n_handlers = i + 1;
        rc = parse_handler(c, stet_json_array_at(hs, i), &svc->handlers[i]);
        if (rc) return rc;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(svc->handlers[k].name, svc->handlers[i].name) == 0) {
                c->where[0] = '\0';
                return fail(c, STET_MANIFEST_BAD_RESPONSE, "duplicate handler name '%s' in service '%s'",
                            svc->handlers[i].name, svc->name);
            }
        }
    }
    return 0;
}

static const char *const endpoint_fields[] = {"protocolMode", "minProtocolVersion", "maxProtocolVersion",
                                              "lambdaCompression", "services"};

static int get_version(struct mctx *c, const struct stet_json *root, const char *name, uint64_t *out) {
    bool present;
    int rc = get_u64(c, root, name, out, &present);
    if (rc) return rc;
    if (!present) return fail(c, STET_MANIFEST_DECODE, "missing field `%s`", name);
    if (*out == 0) return fail(c, STET_MANIFEST_DECODE, "%s: invalid value: integer `0`, expected a nonzero u64", name);
    return 0;
}

int stet_schema_parse_manifest(const char *json, size_t len, struct stet_deployment_schema *out,
                               enum stet_manifest_error_kind *kind, char *err, size_t errlen) {
    struct mctx c = {.err = err, .errlen = errlen};
    struct stet_json *root = NULL;
    char perr[256];
    int rc;
    STET_ASSERT(out->services == NULL && out->n_services == 0);
    if (stet_json_parse(json, len, &root, perr, sizeof(perr)) != 0) {
        rc = fail(&c, STET_MANIFEST_DECODE, "%s", perr);
        goto done;
    }
    if (stet_json_type(root) != STET_JSON_OBJECT) {
        rc = invalid_type(&c, "manifest", root, "struct Endpoint");
        goto done;
    }
    rc = check_fields(&c, root, endpoint_fields, STET_ARRAY_LEN(endpoint_fields),
                      "`protocolMode`, `minProtocolVersion`, `maxProtocolVersion`, `lambdaCompression`, `services`");
    if (rc) goto done;
    uint64_t min_v, max_v;
    if ((rc = get_version(&c, root, "minProtocolVersion", &min_v)) != 0) goto done;
    if ((rc = get_version(&c, root, "maxProtocolVersion", &max_v)) != 0) goto done;
    int mode = -1; /* 0 bidi, 1 request/response */
    const struct stet_json *pm = field(root, "protocolMode");
    if (pm != NULL) {
        size_t pl;
        const char *ps = stet_json_string(pm, &pl);
        if (ps == NULL) {
            rc = invalid_type(&c, "protocolMode", pm, "a string");
            goto done;
        }
        if (pl == 11 && memcmp(ps, "BIDI_STREAM", 11) == 0) mode = 0;
        else if (pl == 16 && memcmp(ps, "REQUEST_RESPONSE", 16) == 0) mode = 1;
        else {
            rc = fail(&c, STET_MANIFEST_DECODE,
                      "protocolMode: unknown variant `%.*s`, expected `BIDI_STREAM` or `REQUEST_RESPONSE`",
                      (int)(pl > 80 ? 80 : pl), ps);
            goto done;
        }
    }
    const struct stet_json *lc = field(root, "lambdaCompression");
    if (lc != NULL) {
        size_t ll;
        const char *ls = stet_json_string(lc, &ll);
        if (ls == NULL || ll != 4 || memcmp(ls, "zstd", 4) != 0) {
            rc = ls == NULL ? invalid_type(&c, "lambdaCompression", lc, "a string")
                            : fail(&c, STET_MANIFEST_DECODE, "lambdaCompression: unknown variant, expected `zstd`");
            goto done;
        }
    }
    const struct stet_json *svcs = field(root, "services");
    if (svcs == NULL) {
        rc = fail(&c, STET_MANIFEST_DECODE, "missing field `services`");
        goto done;
    }
    if (stet_json_type(svcs) != STET_JSON_ARRAY) {
        rc = invalid_type(&c, "services", svcs, "a sequence");
        goto done;
    }
    size_t ns = stet_json_array_len(svcs);
    out->services = ns ? stet_schema__calloc(ns, sizeof(*out->services)) : NULL;
    for (size_t i = 0; i < ns; i++) {
        out->n_services = i + 1;
        rc = parse_service(&c, stet_json_array_at(svcs, i), i, &out->services[i]);
        if (rc) goto done;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(out->services[k].name, out->services[i].name) == 0) {
                c.where[0] = '\0';
                rc = fail(&c, STET_MANIFEST_BAD_RESPONSE, "duplicate service name '%s' in the manifest",
                          out->services[i].name);
                goto done;
            }
        }
    }
    c.where[0] = '\0';

    /* endpoint checks, in restate's order */
    if (mode < 0) {
        rc = fail(&c, STET_MANIFEST_BAD_RESPONSE, "missing protocol mode");
        goto done;
    }
    if (min_v > INT32_MAX) {
        rc = fail(&c, STET_MANIFEST_BAD_RESPONSE, "min protocol version must be in [1, %d]", INT32_MAX);
        goto done;
    }
    if (max_v > INT32_MAX) {
        rc = fail(&c, STET_MANIFEST_BAD_RESPONSE, "max protocol version must be in [1, %d]", INT32_MAX);
        goto done;
    }
    if (min_v > max_v) {
        rc = fail(&c, STET_MANIFEST_BAD_RESPONSE,
                  "Expected min protocol version to be <= max protocol version. Received min protocol version "
                  "'%" PRIu64 "', max protocol version '%" PRIu64 "'",
                  min_v, max_v);
        goto done;
    }
    if (!(min_v <= STET_SCHEMA_MAX_DISCOVERABLE_PROTOCOL && max_v >= STET_SCHEMA_MIN_DISCOVERABLE_PROTOCOL)) {
        rc = fail(&c, STET_MANIFEST_UNSUPPORTED,
                  "unsupported service protocol versions: [%" PRIu64 ", %" PRIu64
                  "]. Supported versions by this runtime are [%d, %d]. Please upgrade the SDK and try registering "
                  "again.",
                  min_v, max_v, STET_SCHEMA_MIN_DISCOVERABLE_PROTOCOL, STET_SCHEMA_MAX_DISCOVERABLE_PROTOCOL);
        goto done;
    }
    out->min_protocol = (uint32_t)min_v;
    out->max_protocol = (uint32_t)max_v;
    out->request_response = mode == 1;
    rc = 0;

done:
    stet_json_free(root);
    if (rc != 0) {
        if (kind != NULL) *kind = c.kind;
        for (size_t i = 0; i < out->n_services; i++) stet_schema__service_free(&out->services[i]);
        free(out->services);
        out->services = NULL;
        out->n_services = 0;
    }
    return rc;
}
