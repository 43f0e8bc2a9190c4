/* Ingress request handling. See ingress.h; routing and messages follow
 * shared/reference/http-api.md §2 (restate-server 1.7.12 behaviour).
 *
 * Pending requests live in a map keyed by request id until their INGRESS_RESPONSE action
 * arrives or the client goes away (abort callback). Request ids are unique within this
 * process; sinks also carry the process incarnation, so answers meant for requests of an
 * earlier process (stored in invocation statuses before a restart) are dropped.
 */
#include "ingress/ingress.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/hmap.h"
#include "http/pending.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "json/json.h"
#include "protocol/protocol.h"
#include "schema/schema.h"

#define MOD "ingress"

struct pending {
    struct stet_pending base; /* first: the table owns the entry */
    struct stet_ingress *ing;
    struct stet_http_request *req;
    uint64_t request_id;
    struct stet_invocation_id id;
    bool is_send;       /* waiting for durability of a send */
    bool is_output;     /* /output: 404 comes from the ingress */
    bool previously_accepted;
    uint64_t execute_at_ms;
    char content_type[128];       /* output content type for a non-empty body; empty: none */
    char content_type_empty[128]; /* ... for an empty body */
    char origin[256];
};

/* Requests waiting for their record to become durable (sends, awakeable completions) are
 * bounded: beyond this many the ingress answers 429 with Retry-After instead of queueing more
 * appends. Big enough that a client of a few hundred concurrent sends never sees it. */
#define MAX_AWAITING_DURABLE 16384

struct stet_ingress {
    struct stet_http_request *resynced; /* being routed again after a schema sync */
    struct stet_ingress_ports ports;
    uint64_t awaiting_durable;
    uint64_t max_pending; /* ingress.concurrent-api-requests-limit; 0 = unlimited */
    struct stet_pending_table pending; /* requests waiting for durability or an answer */
    struct stet_ingress_stats stats;
};

/* ---- responses ----------------------------------------------------------------------- */

static void count_status(struct stet_ingress *ing, int status) {
    if (status < 300) ing->stats.responses_2xx++;
    else if (status < 500) ing->stats.responses_4xx++;
    else ing->stats.responses_5xx++;
}

struct hdrs {
    struct stet_http_header h[12];
    size_t n;
};

static void hdr_add(struct hdrs *h, const char *name, const char *value) {
    STET_ASSERT(h->n < STET_ARRAY_LEN(h->h));
    h->h[h->n++] = (struct stet_http_header){name, strlen(name), value, strlen(value)};
}

static void cors(struct hdrs *h, const char *origin) {
    hdr_add(h, "vary", "origin, access-control-request-method, access-control-request-headers");
    hdr_add(h, "access-control-allow-credentials", "true");
    if (origin && *origin) hdr_add(h, "access-control-allow-origin", origin);
}

static void send_response(struct stet_ingress *ing, struct stet_http_request *req, int status, struct hdrs *h,
                          const void *body, size_t len) {
    count_status(ing, status);
    /* req->user holds the monotonic receive time (stet_ingress_handle) */
    const struct stet_env *env = ing->ports.env;
    uint64_t started = (uint64_t)(uintptr_t)req->user, now = env->monotonic_ms(env->ctx);
    stet_histogram_observe(&ing->stats.request_duration, now >= started ? (double)(now - started) / 1000.0 : 0);
    stet_http_respond(req, status, h->h, h->n, body, len);
}

static const char *req_origin(struct stet_http_request *req, char *buf, size_t n) {
    size_t len;
    const char *o = stet_http_request_header(req, "origin", &len);
    if (!o) return NULL;
    snprintf(buf, n, "%.*s", (int)len, o);
    return buf;
}

/* Restate's ingress error: {"code":N,"message":"...","source":"ingress"}; retry_after (seconds,
 * 0 = none) adds a Retry-After header. */
static void send_error_v(struct stet_ingress *ing, struct stet_http_request *req, int status, const char *inv_id,
                         unsigned retry_after, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "code");
    stet_json_write_int(&w, status);
    stet_json_key(&w, "message");
    stet_json_write_string(&w, msg);
    stet_json_key(&w, "source");
    stet_json_write_string(&w, "ingress");
    stet_json_end_object(&w);
    struct hdrs h = {0};
    char origin[256];
    hdr_add(&h, "content-type", "application/json");
    hdr_add(&h, "x-restate-error-source", "ingress");
    if (inv_id) hdr_add(&h, "x-restate-id", inv_id);
    char ra[16];
    if (retry_after) {
        snprintf(ra, sizeof(ra), "%u", retry_after);
        hdr_add(&h, "retry-after", ra);
    }
    cors(&h, req_origin(req, origin, sizeof(origin)));
    send_response(ing, req, status, &h, b.data, b.len);
    stet_buf_free(&b);
}

static void send_error(struct stet_ingress *ing, struct stet_http_request *req, int status, const char *inv_id,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_error(struct stet_ingress *ing, struct stet_http_request *req, int status, const char *inv_id,
                       const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    send_error_v(ing, req, status, inv_id, 0, fmt, ap);
    va_end(ap);
}

/* 429 with Retry-After: the bounded resources (log buffer, requests awaiting durability) are
 * full. Nothing was accepted; the client may retry. */
static void send_overloaded(struct stet_ingress *ing, struct stet_http_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_overloaded(struct stet_ingress *ing, struct stet_http_request *req, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ing->stats.overloaded++;
    send_error_v(ing, req, 429, NULL, 1, fmt, ap);
    va_end(ap);
}

/* true when a new request must be refused with 429 (the caller then answered it). */
static bool refuse_overloaded(struct stet_ingress *ing, struct stet_http_request *req, bool awaits_durable) {
    if (ing->max_pending && ing->pending.count >= ing->max_pending) {
        send_overloaded(ing, req, "too many requests: %llu requests are in flight "
                                  "(ingress.concurrent-api-requests-limit). Retry later.",
                        (unsigned long long)ing->pending.count);
        return true;
    }
    if (awaits_durable && ing->awaiting_durable >= MAX_AWAITING_DURABLE) {
        send_overloaded(ing, req, "too many requests, the ingress is overloaded: %d requests wait for the log. "
                                  "Retry later.", MAX_AWAITING_DURABLE);
        return true;
    }
    return false;
}

/* Renders a protocol Failure as the ingress's invocation error body. */
static int render_failure(const uint8_t *raw, size_t len, uint32_t fallback_code, struct stet_slice stacktrace,
                          struct stet_buf *out) {
    uint32_t code = fallback_code;
    struct stet_slice message = {NULL, 0};
    struct stet_pb_reader r = {raw, raw + len};
    struct stet_pb_field f;
    struct stet_json_writer w;
    stet_json_writer_init(&w, out);
    /* first pass: code + message */
    while (stet_pb_next(&r, &f) == 1) {
        if (f.number == 1 && f.wire_type == 0) code = (uint32_t)f.varint;
        if (f.number == 2 && f.wire_type == 2) message = (struct stet_slice){f.data, f.len};
    }
    if (code == 0) code = fallback_code ? fallback_code : 500;
    stet_json_begin_object(&w);
    stet_json_key(&w, "code");
    stet_json_write_uint(&w, code);
    stet_json_key(&w, "message");
    stet_json_write_string_n(&w, (const char *)message.ptr, message.len);
    /* metadata (field 3: repeated {1 key, 2 value}) */
    bool any = false;
    r = (struct stet_pb_reader){raw, raw + len};
    while (stet_pb_next(&r, &f) == 1) {
        if (f.number != 3 || f.wire_type != 2) continue;
        struct stet_pb_reader m = {f.data, f.data + f.len};
        struct stet_pb_field mf;
        struct stet_slice k = {NULL, 0}, v = {NULL, 0};
        while (stet_pb_next(&m, &mf) == 1) {
            if (mf.number == 1 && mf.wire_type == 2) k = (struct stet_slice){mf.data, mf.len};
            if (mf.number == 2 && mf.wire_type == 2) v = (struct stet_slice){mf.data, mf.len};
        }
        if (!any) {
            stet_json_key(&w, "metadata");
            stet_json_begin_object(&w);
            any = true;
        }
        stet_json_key_n(&w, (const char *)k.ptr, k.len);
        stet_json_write_string_n(&w, (const char *)v.ptr, v.len);
    }
    if (any) stet_json_end_object(&w);
    if (stacktrace.len) {
        stet_json_key(&w, "stacktrace");
        stet_json_write_string_n(&w, (const char *)stacktrace.ptr, stacktrace.len);
    }
    stet_json_key(&w, "source");
    stet_json_write_string(&w, "invocation");
    stet_json_end_object(&w);
    return (int)code;
}

static void pending_free(struct pending *p) { stet_pending_done(&p->base); }

static struct pending *pending_find(struct stet_ingress *ing, uint64_t request_id) {
    return (struct pending *)stet_pending_find(&ing->pending, request_id);
}

void stet_ingress_respond(struct stet_ingress *ing, const struct stet_action *a) {
    if (a->sink.incarnation != ing->ports.incarnation) return;
    struct pending *p = pending_find(ing, a->sink.request_id);
    if (!p) return; /* the caller went away */
    struct stet_http_request *req = p->req;
    char id[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&a->id, id);
    struct hdrs h = {0};
    char expires[64];
    struct stet_buf body = STET_BUF_INIT;
    int status = 200;
    switch (a->response) {
    case STET_RESPONSE_VALUE:
        hdr_add(&h, "x-restate-id", id);
        if (a->from_retained && a->expires_at_ms) {
            stet_time_format_rfc3339_offset(a->expires_at_ms, expires, sizeof(expires));
            hdr_add(&h, "idempotency-expires", expires);
        }
        if (a->value.len > 0 && p->content_type[0]) hdr_add(&h, "content-type", p->content_type);
        if (a->value.len == 0 && p->content_type_empty[0]) hdr_add(&h, "content-type", p->content_type_empty);
        stet_buf_append(&body, a->value.ptr, a->value.len);
        break;
    case STET_RESPONSE_FAILURE:
        hdr_add(&h, "x-restate-id", id);
        if (a->from_retained && a->expires_at_ms) {
            stet_time_format_rfc3339_offset(a->expires_at_ms, expires, sizeof(expires));
            hdr_add(&h, "idempotency-expires", expires);
        }
        hdr_add(&h, "x-restate-error-source", "invocation");
        hdr_add(&h, "content-type", "application/json");
        status = render_failure(a->failure_raw.ptr, a->failure_raw.len, a->failure_code, a->stacktrace, &body);
        if (status < 100 || status > 999) status = 500;
        break;
    case STET_RESPONSE_NOT_FOUND: {
        bool is_output = p->is_output;
        pending_free(p);
        if (is_output) send_error(ing, req, 404, NULL, "invocation not found");
        else {
            /* quirk kept from Restate: attach of an unknown invocation is an invocation failure */
            struct stet_buf b = STET_BUF_INIT;
            stet_buf_append_str(&b, "{\"code\":404,\"message\":\"not found\",\"source\":\"invocation\"}");
            struct hdrs eh = {0};
            hdr_add(&eh, "content-type", "application/json");
            hdr_add(&eh, "x-restate-error-source", "invocation");
            hdr_add(&eh, "x-restate-id", id);
            cors(&eh, NULL);
            send_response(ing, req, 404, &eh, b.data, b.len);
            stet_buf_free(&b);
        }
        return;
    }
    case STET_RESPONSE_NOT_READY:
        pending_free(p);
        send_error(ing, req, 470, NULL, "the invocation exists but has not completed yet");
        return;
    case STET_RESPONSE_OK:
    case STET_RESPONSE_ACCEPTED:
    case STET_RESPONSE_CONFLICT:
        STET_UNREACHABLE(); /* admin responses never target ingress requests */
    }
    cors(&h, p->origin[0] ? p->origin : NULL);
    /* the headers point into p (content type, origin): free it only after they were sent */
    send_response(ing, req, status, &h, body.data, body.len);
    stet_pending_answered(&p->base);
    stet_buf_free(&body);
}

/* ---- helpers ------------------------------------------------------------------------- */

static struct pending *pending_new(struct stet_ingress *ing, struct stet_http_request *req) {
    struct pending *p = calloc(1, sizeof(*p));
    STET_ASSERT(p != NULL);
    p->ing = ing;
    p->req = req;
    stet_pending_add(&ing->pending, &p->base, req);
    p->request_id = p->base.id;
    req_origin(req, p->origin, sizeof(p->origin));
    return p;
}

static void set_output_types(struct pending *p, const struct stet_handler_schema *h) {
    const char *ct = stet_schema_output_content_type(h, false);
    const char *cte = stet_schema_output_content_type(h, true);
    snprintf(p->content_type, sizeof(p->content_type), "%s", ct ? ct : "");
    snprintf(p->content_type_empty, sizeof(p->content_type_empty), "%s", cte ? cte : "");
}

static struct stet_inv_sink sink_for(struct stet_ingress *ing, struct pending *p) {
    struct stet_inv_sink s;
    memset(&s, 0, sizeof(s));
    s.kind = STET_SINK_INGRESS;
    s.incarnation = ing->ports.incarnation;
    s.node_id = ing->ports.node_id;
    s.generation = ing->ports.generation;
    s.request_id = p->request_id;
    return s;
}

/* Splits the path into segments (no decoding). Returns the count or -1 when more than max. */
static int split_path(const char *path, size_t len, struct stet_slice *seg, int max) {
    int n = 0;
    size_t i = 0;
    if (len > 0 && path[0] == '/') i = 1;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/') j++;
        if (n == max) return -1;
        seg[n++] = (struct stet_slice){(const uint8_t *)path + i, j - i};
        i = j + 1;
    }
    return n;
}

static bool seg_eq(struct stet_slice s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static void build_input(struct stet_http_request *req, struct stet_buf *out) {
    struct stet_header_kv hv[128];
    size_t n = 0;
    char ingress_path[4096];
    int pl = snprintf(ingress_path, sizeof(ingress_path), "%.*s%s%.*s", (int)req->path_len, req->path,
                      req->query_len ? "?" : "", (int)req->query_len, req->query ? req->query : "");
    if (pl < 0) pl = 0;
    if ((size_t)pl >= sizeof(ingress_path)) pl = sizeof(ingress_path) - 1;
    hv[n++] = (struct stet_header_kv){{(const uint8_t *)"x-restate-ingress-path", 22},
                                      {(const uint8_t *)ingress_path, (size_t)pl}};
    for (size_t i = 0; i < req->n_headers && n < STET_ARRAY_LEN(hv); i++) {
        const struct stet_http_header *h = &req->headers[i];
#define IS(x) (h->name_len == strlen(x) && memcmp(h->name, x, h->name_len) == 0)
        if (IS("connection") || IS("host") || IS("idempotency-key") || IS("idempotency-expires") || IS(":authority"))
            continue;
#undef IS
        if (h->name_len > 0 && h->name[0] == ':') continue;
        hv[n++] = (struct stet_header_kv){{(const uint8_t *)h->name, h->name_len},
                                          {(const uint8_t *)h->value, h->value_len}};
    }
    stet_proto_encode_input(out, hv, n, req->body, req->body_len);
}

static bool query_param(struct stet_http_request *req, const char *name, struct stet_slice *value) {
    const char *q = req->query;
    size_t len = req->query_len, nl = strlen(name);
    size_t i = 0;
    while (q && i < len) {
        size_t j = i;
        while (j < len && q[j] != '&') j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
        if (kl == nl && strncasecmp(q + i, name, nl) == 0) {
            *value = eq ? (struct stet_slice){(const uint8_t *)eq + 1, (size_t)(q + j - eq - 1)}
                        : (struct stet_slice){(const uint8_t *)"", 0};
            return true;
        }
        i = j + 1;
    }
    return false;
}

/* Decodes a key path segment as Restate does: %XX (two hex digits) is decoded, anything else
 * (a lone '%', '+', broken escapes) is kept literally; the result must be UTF-8. On invalid
 * UTF-8 the message is Rust's Debug rendering of FromUtf8Error, as Restate reports it. */
static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool utf8_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

/* Rust's run_utf8_validation: returns true if valid, else valid_up_to and error_len (0 = None). */
static bool rust_utf8_check(const uint8_t *b, size_t len, size_t *valid_up_to, int *error_len) {
    size_t i = 0;
    while (i < len) {
        uint8_t first = b[i];
        if (first < 0x80) { i++; continue; }
        int w = (first >= 0xC2 && first <= 0xDF) ? 2 : (first >= 0xE0 && first <= 0xEF) ? 3
                : (first >= 0xF0 && first <= 0xF4) ? 4 : 0;
        *valid_up_to = i;
        if (w == 0) { *error_len = 1; return false; }
        if (i + 1 >= len) { *error_len = 0; return false; }
        uint8_t next = b[i + 1];
        bool ok2;
        if (w == 2) ok2 = utf8_cont(next);
        else if (w == 3) ok2 = (first == 0xE0 && next >= 0xA0 && next <= 0xBF) ||
                               (first >= 0xE1 && first <= 0xEC && utf8_cont(next)) ||
                               (first == 0xED && next >= 0x80 && next <= 0x9F) ||
                               (first >= 0xEE && utf8_cont(next));
        else ok2 = (first == 0xF0 && next >= 0x90 && next <= 0xBF) || (first >= 0xF1 && first <= 0xF3 && utf8_cont(next)) ||
                   (first == 0xF4 && next >= 0x80 && next <= 0x8F);
        if (!ok2) { *error_len = 1; return false; }
        for (int k = 2; k < w; k++) {
            if (i + (size_t)k >= len) { *error_len = 0; return false; }
            if (!utf8_cont(b[i + (size_t)k])) { *error_len = k; return false; }
        }
        i += (size_t)w;
    }
    return true;
}

static int decode_key(const char *s, size_t len, struct stet_buf *out, struct stet_buf *err) {
    stet_buf_reset(out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len) {
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                stet_buf_append_byte(out, (uint8_t)(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        stet_buf_append_byte(out, (uint8_t)s[i]);
    }
    size_t up_to = 0;
    int elen = 0;
    if (rust_utf8_check(out->data, out->len, &up_to, &elen)) return 0;
    stet_buf_append_str(err, "bad path, cannot decode key: FromUtf8Error { bytes: [");
    for (size_t i = 0; i < out->len; i++) stet_buf_printf(err, "%s%u", i ? ", " : "", out->data[i]);
    stet_buf_printf(err, "], error: Utf8Error { valid_up_to: %zu, error_len: ", up_to);
    if (elen) stet_buf_printf(err, "Some(%d) } }", elen);
    else stet_buf_append_str(err, "None } }");
    return -EINVAL;
}

#define BAD_INVOCATION_PATH                                                                                        \
    "bad path, expected either /restate/invocation/:invocation_id/output or "                                    \
    "/restate/invocation/:invocation_id/attach or /restate/invocation/:invocation_target/:idempotency_key/output " \
    "or /restate/invocation/:invocation_target/:idempotency_key/attach"

/* ---- proposals that failed ------------------------------------------------------------- */

/* The answer to a request whose record did not become durable (a propose port's return code or
 * callback status): -ENOBUFS overload (429); -ETIMEDOUT the record reached a partition leader
 * that lost its leadership before acknowledging it, so it may or may not have been applied
 * (Restate: "may have been correctly submitted"); -EAGAIN no leader reachable (no quorum);
 * anything else the log is unavailable. */
static void send_propose_failed(struct stet_ingress *ing, struct stet_http_request *req, int status) {
    if (status == -ENOBUFS) {
        send_overloaded(ing, req, "too many requests, the ingress is overloaded. Retry later.");
    } else if (status == -ETIMEDOUT) {
        send_error(ing, req, 503, NULL,
                   "the request may have been correctly submitted, but the partition leader changed before it was "
                   "acknowledged. If the request has an 'idempotency-key', it can be safely retried");
    } else if (status == -EAGAIN) {
        send_error(ing, req, 503, NULL,
                   "the partition has no leader: fewer than a majority of its replicas are reachable from this node. "
                   "Retry later. If the request has an 'idempotency-key', it can be safely retried");
    } else {
        send_error(ing, req, 503, NULL,
                   "internal routing error: the log is unavailable. If the request has an 'idempotency-key', it can "
                   "be safely retried");
    }
}

/* A call or attach: its answer comes with the invocation's response; this callback only reports
 * a record that never became durable. */
struct call_ctx {
    struct stet_ingress *ing;
    uint64_t request_id;
};

static void call_durable_cb(void *arg, int status, uint64_t lsn) {
    STET_UNUSED(lsn);
    struct call_ctx *c = arg;
    struct stet_ingress *ing = c->ing;
    uint64_t request_id = c->request_id;
    free(c);
    if (status == 0) return;
    struct pending *p = pending_find(ing, request_id);
    if (!p) return;
    struct stet_http_request *req = p->req;
    pending_free(p);
    send_propose_failed(ing, req, status);
}

static int propose_call(struct stet_ingress *ing, struct pending *p, struct stet_record *r) {
    struct call_ctx *c = malloc(sizeof(*c));
    STET_ASSERT(c != NULL);
    c->ing = ing;
    c->request_id = p->request_id;
    int rc = ing->ports.propose(ing->ports.ctx, r, call_durable_cb, c, NULL);
    if (rc != 0) free(c);
    return rc;
}

/* ---- send durability ----------------------------------------------------------------- */

struct send_ctx {
    struct stet_ingress *ing;
    uint64_t request_id;
};

static void send_durable_cb(void *arg, int status, uint64_t lsn) {
    STET_UNUSED(lsn);
    struct send_ctx *sc = arg;
    struct stet_ingress *ing = sc->ing;
    uint64_t request_id = sc->request_id;
    free(sc);
    STET_ASSERT(ing->awaiting_durable > 0);
    ing->awaiting_durable--;
    /* the request may have gone away: look it up */
    struct pending *p = pending_find(ing, request_id);
    if (!p) return;
    struct stet_http_request *req = p->req;
    char id[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&p->id, id);
    if (status != 0) {
        pending_free(p);
        send_propose_failed(ing, req, status);
        return;
    }
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "invocationId");
    stet_json_write_string(&w, id);
    if (p->execute_at_ms) {
        char ts[64];
        stet_time_format_rfc3339_nanos(p->execute_at_ms, ts, sizeof(ts));
        stet_json_key(&w, "executionTime");
        stet_json_write_string(&w, ts);
    }
    stet_json_key(&w, "status");
    stet_json_write_string(&w, p->previously_accepted ? "PreviouslyAccepted" : "Accepted");
    stet_json_end_object(&w);
    struct hdrs h = {0};
    hdr_add(&h, "content-type", "application/json");
    hdr_add(&h, "x-restate-id", id);
    cors(&h, p->origin[0] ? p->origin : NULL);
    send_response(ing, req, 202, &h, b.data, b.len);
    stet_pending_answered(&p->base);
    stet_buf_free(&b);
}

/* ---- routes -------------------------------------------------------------------------- */

/* An unknown service on a cluster node: sync the schema once, then route the request again. */
struct resync {
    struct stet_ingress *ing;
    struct stet_http_request *req; /* NULL once the client went away */
};

static void route(struct stet_ingress *ing, struct stet_http_request *req);

static void resync_abort(struct stet_http_request *req, void *arg) {
    STET_UNUSED(req);
    ((struct resync *)arg)->req = NULL;
}

static void resync_done(void *arg) {
    struct resync *y = arg;
    struct stet_ingress *ing = y->ing;
    struct stet_http_request *req = y->req;
    free(y);
    if (!req) return;
    stet_http_request_on_abort(req, NULL, NULL);
    ing->resynced = req;
    route(ing, req);
    ing->resynced = NULL;
}

/* true: the request waits for a schema sync (answered later). */
static bool resync_first(struct stet_ingress *ing, struct stet_http_request *req) {
    if (!ing->ports.schema_sync || ing->resynced == req) return false;
    struct resync *y = calloc(1, sizeof(*y));
    STET_ASSERT(y != NULL);
    y->ing = ing;
    y->req = req;
    stet_http_request_on_abort(req, resync_abort, y);
    ing->ports.schema_sync(ing->ports.ctx, resync_done, y);
    return true;
}

static void handle_invoke(struct stet_ingress *ing, struct stet_http_request *req, struct stet_slice *seg, int nseg) {
    const struct stet_schema *schema = ing->ports.schema(ing->ports.ctx);
    const struct stet_service_schema *svc = stet_schema_find_service(schema, (const char *)seg[0].ptr, seg[0].len);
    if (!svc) {
        if (resync_first(ing, req)) return;
        send_error(ing, req, 404, NULL, "service '%.*s' not found, make sure to register the service before calling it.",
                   (int)seg[0].len, (const char *)seg[0].ptr);
        return;
    }
    bool keyed = svc->ty != STET_SERVICE;
    int base = keyed ? 3 : 2;
    bool is_send = false;
    if (nseg == base + 1 && seg_eq(seg[base], "send")) is_send = true;
    else if (nseg != base) {
        send_error(ing, req, 400, NULL,
                   "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler");
        return;
    }
    struct stet_slice handler_name = seg[base - 1];
    struct stet_buf key = STET_BUF_INIT;
    if (keyed) {
        struct stet_buf kerr = STET_BUF_INIT;
        if (decode_key((const char *)seg[1].ptr, seg[1].len, &key, &kerr) != 0) {
            send_error(ing, req, 400, NULL, "%.*s", (int)kerr.len, (const char *)kerr.data);
            stet_buf_free(&kerr);
            stet_buf_free(&key);
            return;
        }
    }
    const struct stet_handler_schema *h = stet_schema_find_handler(svc, (const char *)handler_name.ptr, handler_name.len);
    if (!h) {
        send_error(ing, req, 404, NULL,
                   "the service '%s' exists, but the handler '%.*s' was not found, check that the handler exists in "
                   "the latest registered service version.",
                   svc->name, (int)handler_name.len, (const char *)handler_name.ptr);
        stet_buf_free(&key);
        return;
    }
    bool is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    bool is_post = req->method_len == 4 && memcmp(req->method, "POST", 4) == 0;
    if (!is_get && !is_post) {
        send_error(ing, req, 405, NULL, "method not allowed");
        stet_buf_free(&key);
        return;
    }
    if (!svc->is_public || !h->is_public) {
        send_error(ing, req, 400, NULL, "the invoked service is not public");
        stet_buf_free(&key);
        return;
    }
    char verr[512];
    size_t ctlen = 0;
    const char *ct = stet_http_request_header(req, "content-type", &ctlen);
    if (stet_schema_check_input(h, ct, ctlen, req->body_len, verr, sizeof(verr)) != 0) {
        send_error(ing, req, 400, NULL, "input validation error: %s", verr);
        stet_buf_free(&key);
        return;
    }
    struct stet_slice delay;
    uint64_t delay_ms = 0;
    if (query_param(req, "delay", &delay)) {
        if (!is_send) {
            send_error(ing, req, 400, NULL,
                       "cannot use the delay query parameter with calls. The delay is supported only with sends");
            stet_buf_free(&key);
            return;
        }
        struct stet_buf dd = STET_BUF_INIT;
        char derr[256] = "";
        int drc = stet_percent_decode((const char *)delay.ptr, delay.len, &dd);
        if (drc == 0) drc = stet_duration_parse((const char *)dd.data, dd.len, &delay_ms, derr, sizeof(derr));
        stet_buf_free(&dd);
        if (drc != 0) {
            /* jiff's wording for the common mistakes, as Restate 1.7.12 reports them */
            const char *why = derr[0] ? derr : "invalid duration";
            if (delay.len == 0)
                why = "an empty string is not a valid duration in either the ISO 8601 format or Jiff's \"friendly\" "
                      "format";
            else if (delay.ptr[0] == '-')
                why = "negative signed durations cannot be converted to an unsigned duration";
            else if (!(delay.ptr[0] >= '0' && delay.ptr[0] <= '9') && delay.ptr[0] != 'P' && delay.ptr[0] != 'p' &&
                     delay.ptr[0] != '+')
                why = "failed to parse input in the \"friendly\" duration format: expected duration to start with a "
                      "unit value (a decimal integer) after an optional sign, but no integer was found";
            send_error(ing, req, 400, NULL, "bad delay query parameter, must be a ISO8601 duration: %s", why);
            stet_buf_free(&key);
            return;
        }
    }
    size_t idem_len = 0;
    const char *idem = stet_http_request_header(req, "idempotency-key", &idem_len);
    bool workflow_run = svc->ty == STET_WORKFLOW && h->ty == STET_HANDLER_WORKFLOW;
    if (idem && workflow_run) {
        send_error(ing, req, 400, NULL,
                   "cannot use the idempotency key with workflow handlers. The handler invocation will already be "
                   "idempotent by the workflow key itself.");
        stet_buf_free(&key);
        return;
    }

    const struct stet_env *env = ing->ports.env;
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKE;
    r.service = (struct stet_slice){(const uint8_t *)svc->name, strlen(svc->name)};
    r.handler = (struct stet_slice){(const uint8_t *)h->name, strlen(h->name)};
    r.keyed = keyed;
    r.key = (struct stet_slice){key.data, key.len};
    r.service_type = (uint8_t)svc->ty;
    r.handler_type = (uint8_t)h->ty;
    if (keyed) r.id.partition_key = stet_partition_key_for_key(key.data, key.len);
    else if (idem) r.id.partition_key = stet_partition_key_for_key(idem, idem_len);
    else r.id.partition_key = stet_env_random(env);
    if (workflow_run) {
        stet_uuid_for_workflow(svc->name, strlen(svc->name), (const char *)key.data, key.len, r.id.uuid);
    } else if (idem) {
        stet_uuid_for_idempotency(svc->name, strlen(svc->name), keyed ? (const char *)key.data : NULL, key.len,
                                  h->name, strlen(h->name), idem, idem_len, r.id.uuid);
        r.has_idempotency_key = true;
        r.idempotency_key = (struct stet_slice){(const uint8_t *)idem, idem_len};
    } else {
        /* two statements: the order of the draws is fixed (a seeded run gives the same ids) */
        uint64_t hi = stet_env_random(env);
        uint64_t lo = stet_env_random(env);
        stet_ulid_make(stet_env_now_ms(env), hi, lo, r.id.uuid);
    }
    const struct stet_schema_defaults *defaults = ing->ports.schema_defaults(ing->ports.ctx);
    r.completion_retention_ms = stet_schema_completion_retention(svc, h, defaults);
    r.journal_retention_ms = stet_schema_journal_retention(svc, h, defaults);
    if (delay_ms) r.execute_at_ms = stet_env_now_ms(env) + delay_ms;

    struct stet_buf input = STET_BUF_INIT;
    build_input(req, &input);
    r.input_entry = (struct stet_slice){input.data, input.len};

    if (refuse_overloaded(ing, req, is_send)) {
        stet_buf_free(&input);
        stet_buf_free(&key);
        return;
    }
    struct pending *p = pending_new(ing, req);
    p->id = r.id;
    p->is_send = is_send;
    p->execute_at_ms = r.execute_at_ms;
    set_output_types(p, h);
    if (is_send && (idem || workflow_run)) {
        /* a send that names an existing invocation is answered PreviouslyAccepted */
        struct stet_inv_status st;
        stet_inv_status_init(&st);
        int src = ing->ports.status_get(ing->ports.ctx, &r.id, &st);
        if (src == 0) p->previously_accepted = true;
        else if (src < 0) {
            /* cannot tell whether it exists: do not guess "Accepted" */
            stet_inv_status_free(&st);
            pending_free(p);
            stet_buf_free(&input);
            stet_buf_free(&key);
            send_error(ing, req, 503, NULL, "internal error: cannot read the invocation status. Retry later.");
            return;
        }
        stet_inv_status_free(&st);
    }
    if (!is_send) r.sink = sink_for(ing, p);
    struct send_ctx *sc = NULL;
    if (is_send) {
        sc = malloc(sizeof(*sc));
        STET_ASSERT(sc != NULL);
        sc->ing = ing;
        sc->request_id = p->request_id;
    }
    if (sc) ing->awaiting_durable++; /* before proposing: a port may call back early */
    int rc = is_send ? ing->ports.propose(ing->ports.ctx, &r, send_durable_cb, sc, NULL) : propose_call(ing, p, &r);
    if (rc != 0 && sc) {
        free(sc);
        ing->awaiting_durable--;
    }
    stet_buf_free(&input);
    stet_buf_free(&key);
    if (rc != 0) {
        pending_free(p);
        send_propose_failed(ing, req, rc);
    }
}

/* Sends an ATTACH for `id`; shared by the invocation-id, idempotency and workflow forms. */
static void attach_to(struct stet_ingress *ing, struct stet_http_request *req, const struct stet_invocation_id *id,
                      bool output, const struct stet_handler_schema *h) {
    if (refuse_overloaded(ing, req, false)) return;
    struct pending *p = pending_new(ing, req);
    p->id = *id;
    p->is_output = output;
    if (h) {
        set_output_types(p, h);
    } else {
        struct stet_inv_status st;
        stet_inv_status_init(&st);
        if (ing->ports.status_get(ing->ports.ctx, id, &st) == 0) {
            const struct stet_service_schema *svc =
                stet_schema_find_service(ing->ports.schema(ing->ports.ctx), (const char *)st.service.ptr, st.service.len);
            const struct stet_handler_schema *th =
                svc ? stet_schema_find_handler(svc, (const char *)st.handler.ptr, st.handler.len) : NULL;
            if (th) set_output_types(p, th);
        }
        stet_inv_status_free(&st);
    }
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_ATTACH;
    r.id = *id;
    r.sink = sink_for(ing, p);
    r.attach_mode = output ? STET_ATTACH_OUTPUT : STET_ATTACH_WAIT;
    int rc = propose_call(ing, p, &r);
    if (rc != 0) {
        pending_free(p);
        send_propose_failed(ing, req, rc);
    }
}

static bool is_get(struct stet_http_request *req) { return req->method_len == 3 && memcmp(req->method, "GET", 3) == 0; }
static bool is_post(struct stet_http_request *req) { return req->method_len == 4 && memcmp(req->method, "POST", 4) == 0; }

/* /restate/workflow/{name}/{key}/attach|output */
static void handle_workflow_target(struct stet_ingress *ing, struct stet_http_request *req, struct stet_slice *seg,
                                   int nseg) {
    if (nseg != 5 || !(seg_eq(seg[4], "attach") || seg_eq(seg[4], "output"))) {
        send_error(ing, req, 400, NULL, "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output "
                                        "or /restate/workflow/:workflow_name/:workflow_key/attach");
        return;
    }
    if (!is_get(req)) {
        send_error(ing, req, 405, NULL, "method not allowed");
        return;
    }
    /* like Restate 1.7.12, the workflow name is not checked: an unknown one is simply not found */
    const struct stet_service_schema *svc =
        stet_schema_find_service(ing->ports.schema(ing->ports.ctx), (const char *)seg[2].ptr, seg[2].len);
    struct stet_buf key = STET_BUF_INIT, kerr = STET_BUF_INIT;
    if (decode_key((const char *)seg[3].ptr, seg[3].len, &key, &kerr) != 0) {
        send_error(ing, req, 400, NULL, "%.*s", (int)kerr.len, (const char *)kerr.data);
        stet_buf_free(&kerr);
        stet_buf_free(&key);
        return;
    }
    struct stet_invocation_id id;
    id.partition_key = stet_partition_key_for_key(key.data, key.len);
    stet_uuid_for_workflow((const char *)seg[2].ptr, seg[2].len, (const char *)key.data, key.len, id.uuid);
    const struct stet_handler_schema *h = NULL;
    for (size_t i = 0; svc && i < svc->n_handlers; i++)
        if (svc->handlers[i].ty == STET_HANDLER_WORKFLOW) h = &svc->handlers[i];
    attach_to(ing, req, &id, seg_eq(seg[4], "output"), h);
    stet_buf_free(&key);
}

/* /restate/awakeables/{id}/resolve|reject and /restate/a/... */
struct awk_ctx {
    struct stet_ingress *ing;
    uint64_t request_id;
};

static void awakeable_durable_cb(void *arg, int status, uint64_t lsn) {
    STET_UNUSED(lsn);
    struct awk_ctx *c = arg;
    struct pending *p = pending_find(c->ing, c->request_id);
    struct stet_ingress *ing = c->ing;
    free(c);
    STET_ASSERT(ing->awaiting_durable > 0);
    ing->awaiting_durable--;
    if (!p) return;
    struct stet_http_request *req = p->req;
    char origin[256];
    snprintf(origin, sizeof(origin), "%s", p->origin);
    pending_free(p);
    if (status != 0) {
        send_propose_failed(ing, req, status);
        return;
    }
    struct hdrs h = {0};
    cors(&h, origin[0] ? origin : NULL);
    send_response(ing, req, 202, &h, NULL, 0);
}

static void handle_awakeable(struct stet_ingress *ing, struct stet_http_request *req, struct stet_slice *seg, int nseg) {
    if (nseg != 4) {
        send_error(ing, req, 400, NULL, "bad path, expected either /restate/awakeables/:id/resolve or "
                                        "/restate/awakeables/:id/reject");
        return;
    }
    bool resolve = seg_eq(seg[3], "resolve"), reject = seg_eq(seg[3], "reject");
    if (!resolve && !reject) {
        send_error(ing, req, 404, NULL, "not found");
        return;
    }
    if (!is_post(req)) {
        send_error(ing, req, 405, NULL, "method not allowed");
        return;
    }
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_SIGNAL;
    bool legacy = false;
    const char *reason = NULL;
    if (stet_awakeable_id_parse((const char *)seg[2].ptr, seg[2].len, &r.id, &r.signal_idx, &legacy, &reason) != 0) {
        /* Restate falls back to parsing a legacy prom_ id: a sign_ id that failed is reported
         * as the wrong type of id */
        if (seg[2].len >= 5 && memcmp(seg[2].ptr, "sign_", 5) == 0) reason = "id doesn't match the expected type";
        send_error(ing, req, 400, NULL, "bad awakeable id '%.*s': %s", (int)seg[2].len, (const char *)seg[2].ptr,
                   reason ? reason : "bad format");
        return;
    }
    struct stet_buf failure = STET_BUF_INIT;
    if (resolve) {
        r.result_kind = STET_REC_RESULT_VALUE;
        r.payload = (struct stet_slice){req->body, req->body_len};
    } else {
        /* the body, read as UTF-8, becomes the failure message with code 500 */
        struct stet_buf msg = STET_BUF_INIT;
        for (size_t i = 0; i < req->body_len;) {
            uint32_t cp;
            int n = stet_utf8_decode(req->body + i, req->body_len - i, &cp);
            if (n <= 0) {
                stet_utf8_append(&msg, 0xFFFD);
                i += n < 0 ? (size_t)-n : 1;
            } else {
                stet_utf8_append(&msg, cp);
                i += (size_t)n;
            }
        }
        stet_proto_encode_failure(&failure, 500, (const char *)msg.data, msg.len);
        stet_buf_free(&msg);
        r.result_kind = STET_REC_RESULT_FAILURE;
        r.payload = (struct stet_slice){failure.data, failure.len};
    }
    if (refuse_overloaded(ing, req, true)) {
        stet_buf_free(&failure);
        return;
    }
    struct pending *p = pending_new(ing, req);
    struct awk_ctx *c = malloc(sizeof(*c));
    STET_ASSERT(c != NULL);
    c->ing = ing;
    c->request_id = p->request_id;
    ing->awaiting_durable++; /* before proposing: a port may call back early */
    int rc = ing->ports.propose(ing->ports.ctx, &r, awakeable_durable_cb, c, NULL);
    stet_buf_free(&failure);
    if (rc != 0) {
        ing->awaiting_durable--;
        free(c);
        pending_free(p);
        send_propose_failed(ing, req, rc);
    }
}

static void handle_invocation_target(struct stet_ingress *ing, struct stet_http_request *req, struct stet_slice *seg,
                                     int nseg) {
    /* /restate/invocation/{id}/attach|output,
     * /restate/invocation/{svc}/{handler}/{idem}/attach|output,
     * /restate/invocation/{obj}/{key}/{handler}/{idem}/attach|output */
    struct stet_slice verb = seg[nseg - 1];
    if (nseg < 4 || nseg == 5 || nseg > 7) {
        send_error(ing, req, 400, NULL, BAD_INVOCATION_PATH);
        return;
    }
    if (!(seg_eq(verb, "attach") || seg_eq(verb, "output"))) {
        send_error(ing, req, 404, NULL, "not found");
        return;
    }
    if (!is_get(req)) {
        send_error(ing, req, 405, NULL, "method not allowed");
        return;
    }
    bool output = seg_eq(verb, "output");
    if (nseg == 4) {
        struct stet_invocation_id id;
        const char *reason = NULL;
        if (stet_invocation_id_parse((const char *)seg[2].ptr, seg[2].len, &id, &reason) != 0) {
            send_error(ing, req, 400, NULL, "bad invocation id '%.*s': %s", (int)seg[2].len, (const char *)seg[2].ptr,
                       reason ? reason : "bad format");
            return;
        }
        attach_to(ing, req, &id, output, NULL);
        return;
    }
    const struct stet_service_schema *svc =
        stet_schema_find_service(ing->ports.schema(ing->ports.ctx), (const char *)seg[2].ptr, seg[2].len);
    if (!svc) {
        if (resync_first(ing, req)) return;
        send_error(ing, req, 404, NULL, "service '%.*s' not found, make sure to register the service before calling it.",
                   (int)seg[2].len, (const char *)seg[2].ptr);
        return;
    }
    bool keyed = svc->ty != STET_SERVICE;
    if (keyed && nseg != 7) {
        send_error(ing, req, 400, NULL, BAD_INVOCATION_PATH);
        return;
    }
    if (!keyed && nseg != 6) {
        send_error(ing, req, 404, NULL, "not found");
        return;
    }
    struct stet_buf key = STET_BUF_INIT, idem = STET_BUF_INIT, kerr = STET_BUF_INIT;
    struct stet_slice handler = seg[keyed ? 4 : 3];
    struct stet_slice idem_seg = seg[keyed ? 5 : 4];
    if ((keyed && decode_key((const char *)seg[3].ptr, seg[3].len, &key, &kerr) != 0) ||
        decode_key((const char *)idem_seg.ptr, idem_seg.len, &idem, &kerr) != 0) {
        send_error(ing, req, 400, NULL, "%.*s", (int)kerr.len, (const char *)kerr.data);
        stet_buf_free(&kerr);
        stet_buf_free(&key);
        stet_buf_free(&idem);
        return;
    }
    struct stet_invocation_id id;
    id.partition_key = keyed ? stet_partition_key_for_key(key.data, key.len) : stet_partition_key_for_key(idem.data, idem.len);
    stet_uuid_for_idempotency(svc->name, strlen(svc->name), keyed ? (const char *)key.data : NULL, key.len,
                              (const char *)handler.ptr, handler.len, (const char *)idem.data, idem.len, id.uuid);
    attach_to(ing, req, &id, output, stet_schema_find_handler(svc, (const char *)handler.ptr, handler.len));
    stet_buf_free(&key);
    stet_buf_free(&idem);
}

static void handle_health(struct stet_ingress *ing, struct stet_http_request *req) {
    if (!(req->method_len == 3 && memcmp(req->method, "GET", 3) == 0)) {
        send_error(ing, req, 405, NULL, "method not allowed");
        return;
    }
    const struct stet_schema *schema = ing->ports.schema(ing->ports.ctx);
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "services");
    stet_json_begin_array(&w);
    for (size_t i = 0; i < stet_schema_service_count(schema); i++)
        stet_json_write_string(&w, stet_schema_service_at(schema, i, NULL)->name);
    stet_json_end_array(&w);
    stet_json_end_object(&w);
    struct hdrs h = {0};
    char origin[256];
    hdr_add(&h, "content-type", "application/json");
    cors(&h, req_origin(req, origin, sizeof(origin)));
    send_response(ing, req, 200, &h, b.data, b.len);
    stet_buf_free(&b);
}

static void handle_options(struct stet_ingress *ing, struct stet_http_request *req) {
    struct hdrs h = {0};
    char origin[256], method[128], headers[1024];
    size_t len;
    hdr_add(&h, "access-control-allow-credentials", "true");
    hdr_add(&h, "vary", "origin, access-control-request-method, access-control-request-headers");
    const char *m = stet_http_request_header(req, "access-control-request-method", &len);
    if (m) {
        snprintf(method, sizeof(method), "%.*s", (int)len, m);
        hdr_add(&h, "access-control-allow-methods", method);
    }
    const char *hh = stet_http_request_header(req, "access-control-request-headers", &len);
    if (hh) {
        snprintf(headers, sizeof(headers), "%.*s", (int)len, hh);
        hdr_add(&h, "access-control-allow-headers", headers);
    }
    if (req_origin(req, origin, sizeof(origin))) hdr_add(&h, "access-control-allow-origin", origin);
    send_response(ing, req, 200, &h, NULL, 0);
}

void stet_ingress_handle(void *ctx, struct stet_http_request *req) {
    struct stet_ingress *ing = ctx;
    ing->stats.requests++;
    const struct stet_env *env = ing->ports.env;
    req->user = (void *)(uintptr_t)env->monotonic_ms(env->ctx);
    route(ing, req);
}

static void route(struct stet_ingress *ing, struct stet_http_request *req) {
    if (req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0) {
        handle_options(ing, req);
        return;
    }
    size_t plen = req->path_len;
    if (plen > 1 && req->path[plen - 1] == '/') plen--; /* one trailing slash is ignored */
    size_t slashes = 0;
    for (size_t i = 0; i < plen; i++) slashes += req->path[i] == '/';
    if (slashes < 2 || slashes > 7) {
        send_error(ing, req, 400, NULL, "bad path: %.*s", (int)req->path_len, req->path);
        return;
    }
    struct stet_slice seg[8];
    int nseg = split_path(req->path, plen, seg, 8);
    if (nseg < 2) {
        send_error(ing, req, 400, NULL, "bad path: %.*s", (int)req->path_len, req->path);
        return;
    }
    if (seg_eq(seg[0], "restate")) {
        if (seg_eq(seg[1], "health") && nseg == 2) {
            handle_health(ing, req);
        } else if (seg_eq(seg[1], "invocation")) {
            handle_invocation_target(ing, req, seg, nseg);
        } else if (seg_eq(seg[1], "workflow")) {
            handle_workflow_target(ing, req, seg, nseg);
        } else if (seg_eq(seg[1], "awakeables") || seg_eq(seg[1], "a")) {
            handle_awakeable(ing, req, seg, nseg);
        } else {
            send_error(ing, req, 404, NULL, "not found");
        }
        return;
    }
    handle_invoke(ing, req, seg, nseg);
}

int stet_ingress_create(const struct stet_ingress_ports *ports, struct stet_ingress **out) {
    struct stet_ingress *ing = calloc(1, sizeof(*ing));
    if (!ing) return -ENOMEM;
    ing->ports = *ports;
    ing->max_pending = ports->concurrent_limit;
    stet_pending_table_init(&ing->pending);
    *out = ing;
    return 0;
}

void stet_ingress_destroy(struct stet_ingress *ing) {
    if (!ing) return;
    stet_pending_table_free(&ing->pending);
    free(ing);
}

void stet_ingress_stats(const struct stet_ingress *ing, struct stet_ingress_stats *out) {
    *out = ing->stats;
    out->pending = ing->pending.count;
}
