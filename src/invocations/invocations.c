/* Admin invocation management endpoints. See invocations.h. */
#include "invocations/invocations.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/hmap.h"
#include "json/json.h"
#include "node/node.h"

struct pending {
    struct stet_invocations *inv;
    struct stet_http_request *req;
    uint64_t request_id;
    char id[STET_INVOCATION_ID_STRLEN + 1];
};

struct stet_invocations {
    struct stet_node *node;
    uint64_t next_request_id;
    struct stet_hmap pending;
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

static void pending_free(struct pending *p) {
    stet_hmap_remove(&p->inv->pending, &p->request_id, sizeof(p->request_id));
    free(p);
}

static void on_abort(struct stet_http_request *req, void *arg) {
    STET_UNUSED(req);
    pending_free(arg);
}

void stet_invocations_response(struct stet_invocations *inv, const struct stet_action *a) {
    if (a->sink.incarnation != stet_node_incarnation(inv->node)) return;
    struct pending *p = stet_hmap_get(&inv->pending, &a->sink.request_id, sizeof(a->sink.request_id));
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

bool stet_invocations_handle(struct stet_invocations *inv, struct stet_http_request *req) {
    const char *path = req->path;
    size_t len = req->path_len;
    if (len >= 3 && path[0] == '/' && path[1] == 'v' && path[2] >= '2' && path[2] <= '4' && (len == 3 || path[3] == '/')) {
        path += 3;
        len -= 3;
    }
    if (len < 13 || memcmp(path, "/invocations/", 13) != 0) return false;
    const char *rest = path + 13;
    size_t rlen = len - 13;
    const char *slash = memchr(rest, '/', rlen);
    const char *idp = rest;
    size_t idlen = slash ? (size_t)(slash - rest) : rlen;
    const char *op = slash ? slash + 1 : NULL;
    size_t oplen = slash ? rlen - idlen - 1 : 0;
    bool is_patch = req->method_len == 5 && memcmp(req->method, "PATCH", 5) == 0;
    bool is_delete = req->method_len == 6 && memcmp(req->method, "DELETE", 6) == 0;
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
    p->request_id = ++inv->next_request_id;
    stet_invocation_id_format(&r.id, p->id);
    stet_hmap_put(&inv->pending, &p->request_id, sizeof(p->request_id), p);
    stet_http_request_on_abort(req, on_abort, p);
    r.sink.kind = STET_SINK_ADMIN;
    r.sink.incarnation = stet_node_incarnation(inv->node);
    r.sink.request_id = p->request_id;
    if (is_delete) {
        /* deprecated form: fire and forget, no existence check */
        r.sink.kind = STET_SINK_NONE;
        pending_free(p);
        int rc = stet_node_propose(inv->node, &r, NULL, NULL, NULL);
        if (rc != 0) respond_json_error(req, 503, "Error when routing the request internally. Reason: log unavailable");
        else stet_http_respond(req, 202, NULL, 0, NULL, 0);
        return true;
    }
    int rc = stet_node_propose(inv->node, &r, NULL, NULL, NULL);
    if (rc != 0) {
        pending_free(p);
        respond_json_error(req, 503, "Error when routing the request internally. Reason: log unavailable");
    }
    return true;
}

int stet_invocations_create(struct stet_node *node, struct stet_invocations **out) {
    struct stet_invocations *inv = calloc(1, sizeof(*inv));
    if (!inv) return -ENOMEM;
    inv->node = node;
    stet_hmap_init(&inv->pending);
    *out = inv;
    return 0;
}

void stet_invocations_destroy(struct stet_invocations *inv) {
    if (!inv) return;
    for (size_t i = 0; i < inv->pending.cap; i++)
        if (inv->pending.slots[i].state == 1) free(inv->pending.slots[i].value);
    stet_hmap_free(&inv->pending);
    free(inv);
}
