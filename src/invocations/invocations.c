/* Admin invocation management endpoints. See invocations.h. */
#include "invocations/invocations.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/hmap.h"
#include "http/pending.h"
#include "json/json.h"
#include "schema/schema.h"

struct pending {
    struct stet_pending base; /* first: the table owns the entry */
    struct stet_invocations *inv;
    struct stet_http_request *req;
    uint64_t request_id;
    char id[STET_INVOCATION_ID_STRLEN + 1];
};

struct stet_invocations {
    struct stet_invocations_ports ports;
    struct stet_pending_table pending;
};

static void respond_json_error(struct stet_http_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void respond_json_error(struct stet_http_request *req, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "message");
    stet_json_write_string(&w, msg);
    stet_json_key(&w, "restate_code");
    stet_json_write_null(&w);
    stet_json_end_object(&w);
    struct stet_http_header h[] = {{"content-type", 12, "application/json", 16}};
    stet_http_respond(req, status, h, 1, b.data, b.len);
    stet_buf_free(&b);
}

static void pending_free(struct pending *p) { stet_pending_done(&p->base); }

void stet_invocations_response(struct stet_invocations *inv, const struct stet_action *a) {
    if (a->sink.incarnation != inv->ports.sink.incarnation) return;
    struct pending *p = (struct pending *)stet_pending_find(&inv->pending, a->sink.request_id);
    if (!p) return;
    struct stet_http_request *req = p->req;
    char id[STET_INVOCATION_ID_STRLEN + 1];
    memcpy(id, p->id, sizeof(id));
    pending_free(p);
    switch (a->response) {
    case STET_RESPONSE_OK: stet_http_respond(req, 200, NULL, 0, NULL, 0); break;
    case STET_RESPONSE_ACCEPTED: stet_http_respond(req, 202, NULL, 0, NULL, 0); break;
    case STET_RESPONSE_NOT_FOUND:
        respond_json_error(req, 404, "The requested invocation '%s' does not exist", id);
        break;
    case STET_RESPONSE_CONFLICT: {
        int code = 409;
        const char *m = (const char *)a->value.ptr;
        if (a->value.len >= 9 && memcmp(m, "is either", 9) == 0) code = 425;
        respond_json_error(req, code, "The invocation '%s' %.*s", id, (int)a->value.len, m);
        break;
    }
    default: respond_json_error(req, 500, "unexpected answer from the partition processor"); break;
    }
}

static bool seg_eq(const char *s, size_t n, const char *lit) { return strlen(lit) == n && memcmp(s, lit, n) == 0; }

static bool query_mode(struct stet_http_request *req, char *out, size_t outlen) {
    const char *q = req->query;
    size_t len = req->query_len, i = 0;
    while (q && i < len) {
        size_t j = i;
        while (j < len && q[j] != '&') j++;
        if (j - i > 5 && memcmp(q + i, "mode=", 5) == 0) {
            snprintf(out, outlen, "%.*s", (int)(j - i - 5), q + i + 5);
            return true;
        }
        i = j + 1;
    }
    return false;
}

static void respond_text(struct stet_http_request *req, int status, const char *text) {
    struct stet_http_header h[] = {{"content-type", 12, "text/plain; charset=utf-8", 25}};
    stet_http_respond(req, status, h, 1, text, strlen(text));
}

/* POST /services/{svc}/state (http-api.md §4.6): replace all state of one object/workflow
 * key; answered 202 once the mutation is durable in the key's partition log. */
/* The durability callback names the request by id: its client may have gone meanwhile. */
struct state_wait {
    struct stet_invocations *inv;
    uint64_t request_id;
};

static void state_durable_cb(void *arg, int status, uint64_t lsn) {
    STET_UNUSED(lsn);
    struct state_wait *w = arg;
    struct pending *p = (struct pending *)stet_pending_find(&w->inv->pending, w->request_id);
    free(w);
    if (!p) return; /* the client went away */
    struct stet_http_request *req = p->req;
    pending_free(p);
    if (status != 0) respond_json_error(req, 503, "Error when routing the request internally. Reason: log unavailable");
    else stet_http_respond(req, 202, NULL, 0, NULL, 0);
}

/* A cancel/kill/purge/pause/resume record: the answer is the processor's ADMIN_RESPONSE; this
 * callback only reports a record that never became durable (in a cluster: no leader reachable,
 * or a leader that went away with it). */
static void op_durable_cb(void *arg, int status, uint64_t lsn) {
    STET_UNUSED(lsn);
    struct state_wait *w = arg;
    struct pending *p = (struct pending *)stet_pending_find(&w->inv->pending, w->request_id);
    free(w);
    if (status == 0 || !p) return;
    struct stet_http_request *req = p->req;
    pending_free(p);
    respond_json_error(req, 503,
                       status == -ETIMEDOUT
                           ? "Error when routing the request internally. Reason: the partition leader changed before "
                             "it was acknowledged; it may have been applied"
                           : "Error when routing the request internally. Reason: log unavailable");
}

static void handle_state(struct stet_invocations *inv, struct stet_http_request *req, const char *svc, size_t svc_len) {
    if (!stet_http_method_is(req, "POST")) {
        struct stet_http_header h[] = {{"allow", 5, "POST", 4}};
        stet_http_respond(req, 405, h, 1, NULL, 0);
        return;
    }
    size_t ctlen = 0;
    const char *ct = stet_http_request_header(req, "content-type", &ctlen);
    if (!ct || ctlen < 16 || strncasecmp(ct, "application/json", 16) != 0) {
        respond_text(req, 415, "Expected request with `Content-Type: application/json`");
        return;
    }
    struct stet_json *j = NULL;
    char err[256];
    if (stet_json_parse((const char *)req->body, req->body_len, &j, err, sizeof(err)) != 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "Failed to parse the request body as JSON: %s", err);
        respond_text(req, 400, msg);
        return;
    }
    const struct stet_json *key = stet_json_object_get(j, "object_key");
    const struct stet_json *version = stet_json_object_get(j, "version");
    const struct stet_json *ns = stet_json_object_get(j, "new_state");
    if (!key || stet_json_type(key) != STET_JSON_STRING || !ns || stet_json_type(ns) != STET_JSON_OBJECT ||
        (version && stet_json_type(version) != STET_JSON_STRING && stet_json_type(version) != STET_JSON_NULL)) {
        respond_text(req, 422, "Failed to deserialize the JSON body into the target type: expected object_key "
                               "(string), version (string or null) and new_state (object of byte arrays)");
        stet_json_free(j);
        return;
    }
    /* new state as repeated {1 key, 2 value} */
    struct stet_buf payload = STET_BUF_INIT;
    bool bad = false;
    for (size_t i = 0; i < stet_json_object_len(ns) && !bad; i++) {
        size_t kl;
        const char *k = stet_json_object_key_at(ns, i, &kl);
        const struct stet_json *arr = stet_json_object_value_at(ns, i);
        if (stet_json_type(arr) != STET_JSON_ARRAY) { bad = true; break; }
        struct stet_buf v = STET_BUF_INIT;
        for (size_t b = 0; b < stet_json_array_len(arr); b++) {
            uint64_t byte;
            if (!stet_json_uint64(stet_json_array_at(arr, b), &byte) || byte > 255) { bad = true; break; }
            stet_buf_append_byte(&v, (uint8_t)byte);
        }
        size_t m = stet_pb_begin_submsg(&payload, 1);
        stet_pb_put_bytes_field(&payload, 1, k, kl);
        stet_pb_put_bytes_field(&payload, 2, v.data, v.len);
        stet_pb_end_submsg(&payload, m);
        stet_buf_free(&v);
    }
    if (bad) {
        respond_text(req, 422, "Failed to deserialize the JSON body into the target type: new_state values must be "
                               "arrays of bytes (0..255)");
        stet_buf_free(&payload);
        stet_json_free(j);
        return;
    }
    const struct stet_service_schema *service = stet_schema_find_service(inv->ports.schema(inv->ports.ctx), svc, svc_len);
    if (!service && stet_json_object_len(ns) > 0) {
        respond_json_error(req, 404, "The requested service '%.*s' does not exist", (int)svc_len, svc);
        stet_buf_free(&payload);
        stet_json_free(j);
        return;
    }
    if (service && service->ty == STET_SERVICE) {
        respond_json_error(req, 400, "Cannot modify state for service type Service");
        stet_buf_free(&payload);
        stet_json_free(j);
        return;
    }
    size_t klen;
    const char *kstr = stet_json_string(key, &klen);
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_STATE_MUTATION;
    r.service = (struct stet_slice){(const uint8_t *)svc, svc_len};
    r.keyed = true;
    r.key = (struct stet_slice){(const uint8_t *)kstr, klen};
    r.id.partition_key = stet_partition_key_for_key(kstr, klen);
    r.payload = (struct stet_slice){payload.data, payload.len};
    if (version && stet_json_type(version) == STET_JSON_STRING) {
        size_t vl;
        const char *vs = stet_json_string(version, &vl);
        r.has_state_version = true;
        r.state_version = (struct stet_slice){(const uint8_t *)vs, vl};
    }
    struct pending *p = calloc(1, sizeof(*p));
    STET_ASSERT(p != NULL);
    p->inv = inv;
    p->req = req;
    stet_pending_add(&inv->pending, &p->base, req);
    p->request_id = p->base.id;
    struct state_wait *w = malloc(sizeof(*w));
    STET_ASSERT(w != NULL);
    *w = (struct state_wait){inv, p->request_id};
    int rc = inv->ports.propose(inv->ports.ctx, &r, state_durable_cb, w, NULL);
    stet_buf_free(&payload);
    stet_json_free(j);
    if (rc != 0) {
        free(w);
        pending_free(p);
        respond_json_error(req, 503, "Error when routing the request internally. Reason: log unavailable");
    }
}

bool stet_invocations_handle(struct stet_invocations *inv, struct stet_http_request *req) {
    const char *path;
    size_t len;
    if (!stet_http_admin_path(req, &path, &len)) return false;
    if (len > 16 && memcmp(path, "/services/", 10) == 0 && memcmp(path + len - 6, "/state", 6) == 0) {
        const char *svc = path + 10;
        size_t svc_len = len - 16;
        if (svc_len > 0 && memchr(svc, '/', svc_len) == NULL) {
            handle_state(inv, req, svc, svc_len);
            return true;
        }
    }
    if (len < 13 || memcmp(path, "/invocations/", 13) != 0) return false;
    const char *rest = path + 13;
    size_t rlen = len - 13;
    const char *slash = memchr(rest, '/', rlen);
    const char *idp = rest;
    size_t idlen = slash ? (size_t)(slash - rest) : rlen;
    const char *op = slash ? slash + 1 : NULL;
    size_t oplen = slash ? rlen - idlen - 1 : 0;
    bool is_patch = stet_http_method_is(req, "PATCH");
    bool is_delete = stet_http_method_is(req, "DELETE");
    char mode[32] = "cancel";
    if (!op) {
        if (!is_delete) {
            struct stet_http_header h[] = {{"allow", 5, "DELETE", 6}};
            stet_http_respond(req, 405, h, 1, NULL, 0);
            return true;
        }
        query_mode(req, mode, sizeof(mode));
        for (char *c = mode; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        op = mode;
        oplen = strlen(mode);
    } else if (!is_patch) {
        struct stet_http_header h[] = {{"allow", 5, "PATCH", 5}};
        stet_http_respond(req, 405, h, 1, NULL, 0);
        return true;
    }
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    if (seg_eq(op, oplen, "cancel")) {
        r.kind = STET_REC_SIGNAL;
        r.signal_idx = 1;
        r.result_kind = STET_REC_RESULT_VOID;
    } else if (seg_eq(op, oplen, "kill")) {
        r.kind = STET_REC_KILL;
    } else if (seg_eq(op, oplen, "purge")) {
        r.kind = STET_REC_PURGE;
    } else if (seg_eq(op, oplen, "pause")) {
        r.kind = STET_REC_PAUSE;
    } else if (seg_eq(op, oplen, "resume")) {
        r.kind = STET_REC_RESUME;
    } else {
        stet_http_respond(req, 404, NULL, 0, NULL, 0);
        return true;
    }
    const char *reason = NULL;
    if (stet_invocation_id_parse(idp, idlen, &r.id, &reason) != 0) {
        respond_json_error(req, 400, "The request field 'invocation_id' is invalid. Reason: %s",
                           reason ? reason : "bad format");
        return true;
    }
    struct pending *p = calloc(1, sizeof(*p));
    STET_ASSERT(p != NULL);
    p->inv = inv;
    p->req = req;
    stet_pending_add(&inv->pending, &p->base, req);
    p->request_id = p->base.id;
    stet_invocation_id_format(&r.id, p->id);
    r.sink.kind = STET_SINK_ADMIN;
    r.sink.incarnation = inv->ports.sink.incarnation;
    r.sink.node_id = inv->ports.sink.node_id;
    r.sink.generation = inv->ports.sink.generation;
    r.sink.request_id = p->request_id;
    if (is_delete) {
        /* deprecated form: fire and forget, no existence check */
        r.sink.kind = STET_SINK_NONE;
        pending_free(p);
        int rc = inv->ports.propose(inv->ports.ctx, &r, NULL, NULL, NULL);
        if (rc != 0) respond_json_error(req, 503, "Error when routing the request internally. Reason: log unavailable");
        else stet_http_respond(req, 202, NULL, 0, NULL, 0);
        return true;
    }
    struct state_wait *w = malloc(sizeof(*w));
    STET_ASSERT(w != NULL);
    *w = (struct state_wait){inv, p->request_id};
    int rc = inv->ports.propose(inv->ports.ctx, &r, op_durable_cb, w, NULL);
    if (rc != 0) {
        free(w);
        pending_free(p);
        respond_json_error(req, 503, "Error when routing the request internally. Reason: log unavailable");
    }
    return true;
}

int stet_invocations_create(const struct stet_invocations_ports *ports, struct stet_invocations **out) {
    struct stet_invocations *inv = calloc(1, sizeof(*inv));
    if (!inv) return -ENOMEM;
    inv->ports = *ports;
    stet_pending_table_init(&inv->pending);
    *out = inv;
    return 0;
}

void stet_invocations_destroy(struct stet_invocations *inv) {
    if (!inv) return;
    stet_pending_table_free(&inv->pending);
    free(inv);
}
