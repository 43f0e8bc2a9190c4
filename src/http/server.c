/* HTTP server: listener, connections, the HTTP/1.1 connection state machine and request
 * objects. h2c connections are handed to h2.c once the client preface is seen.
 *
 * Connection lifecycle
 *   accept -> PROTO_UNKNOWN --first bytes are not a prefix of the h2 preface--> PROTO_H1
 *                           --all 24 preface bytes arrived---------------------> PROTO_H2
 *   Any state --EOF / read error / destroy / idle timeout--> closing (uv_close tcp + timer;
 *   pending requests get their abort callback; freed when both handles are closed).
 *   "Graceful" close (after a response with connection: close, or a server error, or an h2
 *   GOAWAY): close_after_write -> once output is written, uv_shutdown (FIN) -> lingering:
 *   input is read and dropped until EOF or STET_HTTP_LINGER_MS, so that the client reads our
 *   response instead of getting a RST for the body bytes it was still sending.
 *
 * HTTP/1 states (conn->h1_state), driven by h1_process() over conn->in:
 *   HEAD --head parsed, body--> BODY_LENGTH | BODY_CHUNKED --body complete--> PENDING
 *   HEAD --head parsed, no body------------------------------------------> PENDING
 *   PENDING --stet_http_respond--> HEAD (keep-alive; buffered pipelined bytes are parsed on
 *   the next loop iteration via the kick) or graceful close.
 *   Parse errors answer 400/413/431 (408 from the timer) and close gracefully.
 *   Invariants:
 *     1. conn->h1_req != NULL iff h1_state != HEAD (it is being received or is pending).
 *     2. Only PENDING requests were given to the handler (req->dispatched).
 *     3. Responses go out in request order because a request is only parsed after the
 *        previous one was answered.
 *
 * Timers (one uv_timer per connection, re-armed by stet_http__conn_update_timer after every
 * state change; its deadline is a pure function of the state):
 *   kick pending                   -> 0 (run deferred work next iteration)
 *   close_after_write, output left -> last_activity + idle_timeout, then close
 *   shut down (lingering)          -> linger_deadline_ms, then close
 *   no request bytes buffered      -> last_activity + idle_timeout, then close
 *   request partially received     -> request_start + request_timeout, then 408 (or close if
 *                                     the protocol is still unknown)
 *   HTTP/1 PENDING                 -> none (handlers may legitimately take long)
 *   h2                             -> stet_http__h2_deadline()
 *
 *   "Activity" is a read, a completed write, or (checked when the timer fires) progress of
 *   the kernel-side write queue, so a large response to a slow reader is not cut off.
 *
 * Backpressure: reading stops while more than STET_HTTP_WRITE_HIGH_WATER bytes of output are
 * queued, and (HTTP/1) while a request is pending and STET_HTTP_PIPELINE_MAX bytes of
 * pipelined input are buffered. HTTP/1 also does not start the next buffered pipelined
 * request while output is above the mark (resumed from the write callback).
 *
 * Deferred work: stet_http_respond() never calls the handler (for the next pipelined
 * request) or nghttp2's send from inside itself; it sets conn->kick and the timer runs the
 * work on the next loop iteration, so user code is never re-entered.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/log.h"
#include "http/http_internal.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

static void conn_on_timer(uv_timer_t *t);
static void h1_process(struct stet_http_conn *conn);
static size_t conn_avail(const struct stet_http_conn *conn);
static void conn_check(const struct stet_http_conn *conn);

/* ---------------------------------------------------------------------------------------
 * Status reasons, date, error bodies
 */

const char *stet_http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
}

const char *stet_http__date(struct stet_http_server *s)
{
    time_t now = time(NULL);
    if ((int64_t)now != s->date_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_second = (int64_t)now;
    }
    return s->date;
}

static void append_json_string(struct stet_buf *out, const char *s)
{
    stet_buf_append_byte(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            stet_buf_append_byte(out, '\\');
            stet_buf_append_byte(out, c);
        } else if (c < 0x20) {
            stet_buf_printf(out, "\\u%04x", c);
        } else {
            stet_buf_append_byte(out, c);
        }
    }
    stet_buf_append_byte(out, '"');
}

void stet_http__error_body(const struct stet_http_server *s, int status, const char *message,
                           struct stet_buf *out)
{
    if (s->ingress_errors) {
        stet_buf_printf(out, "{\"code\":%d,\"message\":", status);
        append_json_string(out, message);
        stet_buf_append_str(out, ",\"source\":\"ingress\"}");
    } else {
        stet_buf_append_str(out, "{\"message\":");
        append_json_string(out, message);
        stet_buf_append_str(out, ",\"restate_code\":null}");
    }
}

/* ---------------------------------------------------------------------------------------
 * Requests
 */

struct stet_http_req *stet_http__req_create(struct stet_http_conn *conn)
{
    struct stet_http_req *req = calloc(1, sizeof(*req));
    STET_ASSERT(req != NULL);
    req->magic = STET_HTTP_REQ_MAGIC;
    req->conn = conn;
    req->pub.http_major = 1;
    req->pub.http_minor = 1;
    stet_buf_init(&req->arena);
    stet_buf_init(&req->body);
    return req;
}

void stet_http__req_free(struct stet_http_req *req)
{
    STET_ASSERT(req->magic == STET_HTTP_REQ_MAGIC);
    req->magic = 0;
    stet_buf_free(&req->arena);
    stet_buf_free(&req->body);
    free(req->fields);
    free(req->headers);
    free(req);
}

/* Appends a NUL-terminated copy (lower-cased if asked) and returns its offset. */
static size_t arena_add(struct stet_http_req *req, const char *p, size_t n, bool lower)
{
    size_t off = req->arena.len;
    stet_buf_reserve(&req->arena, n + 1);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (lower && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        req->arena.data[req->arena.len + i] = (uint8_t)c;
    }
    req->arena.data[req->arena.len + n] = 0;
    req->arena.len += n + 1;
    return off;
}

void stet_http__req_set_method(struct stet_http_req *req, const char *m, size_t n)
{
    req->method_off = arena_add(req, m, n, false);
    req->pub.method_len = n;
    req->is_head = (n == 4 && memcmp(m, "HEAD", 4) == 0);
}

static void req_set_path_query(struct stet_http_req *req, const char *path, size_t path_len,
                               const char *query, size_t query_len)
{
    req->path_off = arena_add(req, path, path_len, false);
    req->pub.path_len = path_len;
    req->query_off = arena_add(req, query ? query : "", query_len, false);
    req->pub.query_len = query_len;
}

void stet_http__req_set_target(struct stet_http_req *req, const char *p, size_t n)
{
    const char *q = memchr(p, '?', n);
    if (q) req_set_path_query(req, p, (size_t)(q - p), q + 1, n - (size_t)(q - p) - 1);
    else req_set_path_query(req, p, n, NULL, 0);
}

void stet_http__req_add_header(struct stet_http_req *req, const char *name, size_t name_len,
                               const char *value, size_t value_len)
{
    if (req->n_fields == req->cap_fields) {
        size_t cap = req->cap_fields ? req->cap_fields * 2 : 16;
        struct stet_http_req_field *f = realloc(req->fields, cap * sizeof(*f));
        STET_ASSERT(f != NULL);
        req->fields = f;
        req->cap_fields = cap;
    }
    struct stet_http_req_field *f = &req->fields[req->n_fields++];
    f->name_off = arena_add(req, name, name_len, true);
    f->name_len = name_len;
    f->value_off = arena_add(req, value, value_len, false);
    f->value_len = value_len;
    req->header_bytes += name_len + value_len;
}

void stet_http__req_finalize(struct stet_http_req *req)
{
    STET_ASSERT(req->headers == NULL);
    /* method, path and query always exist in the arena (possibly empty strings) */
    if (req->arena.len == 0) {
        req_set_path_query(req, "", 0, NULL, 0);
        req->method_off = arena_add(req, "", 0, false);
    }
    const char *base = (const char *)req->arena.data;
    req->pub.method = base + req->method_off;
    req->pub.path = base + req->path_off;
    req->pub.query = base + req->query_off;
    if (req->n_fields > 0) {
        req->headers = calloc(req->n_fields, sizeof(*req->headers));
        STET_ASSERT(req->headers != NULL);
        for (size_t i = 0; i < req->n_fields; i++) {
            req->headers[i].name = base + req->fields[i].name_off;
            req->headers[i].name_len = req->fields[i].name_len;
            req->headers[i].value = base + req->fields[i].value_off;
            req->headers[i].value_len = req->fields[i].value_len;
        }
    }
    req->pub.headers = req->headers;
    req->pub.n_headers = req->n_fields;
    req->pub.body = req->body.data;
    req->pub.body_len = req->body.len;
}

void stet_http__req_abort(struct stet_http_req *req)
{
    STET_ASSERT(req->magic == STET_HTTP_REQ_MAGIC);
    if (req->dispatched && req->abort_cb) {
        stet_http_abort_cb cb = req->abort_cb;
        req->abort_cb = NULL;
        cb(&req->pub, req->abort_arg);
    }
    stet_http__req_free(req);
}

void stet_http__dispatch(struct stet_http_req *req)
{
    struct stet_http_server *s = req->conn->server;
    STET_ASSERT(!req->dispatched);
    STET_ASSERT(req->pub.method != NULL);
    req->dispatched = true;
    s->stats.requests_total++;
    s->handler(s->ctx, &req->pub);
}

const char *stet_http_request_header(const struct stet_http_request *req, const char *name,
                                     size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct stet_http_header *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(h->name, name, n) == 0) {
            if (len) *len = h->value_len;
            return h->value;
        }
    }
    if (len) *len = 0;
    return NULL;
}

void stet_http_request_on_abort(struct stet_http_request *pub, stet_http_abort_cb cb, void *arg)
{
    struct stet_http_req *req = (struct stet_http_req *)pub;
    STET_ASSERT(req->magic == STET_HTTP_REQ_MAGIC);
    req->abort_cb = cb;
    req->abort_arg = arg;
}

/* ---------------------------------------------------------------------------------------
 * Output
 */

struct write_req {
    uv_write_t w;
    struct stet_http_conn *conn;
    uint8_t *data;
    size_t len;
};

static void conn_start_shutdown(struct stet_http_conn *conn);

static void conn_on_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct stet_http_conn *conn = wr->conn;
    STET_ASSERT(conn->write_pending >= wr->len);
    conn->write_pending -= wr->len;
    if (status == 0) conn->server->stats.bytes_out += wr->len;
    free(wr->data);
    free(wr);
    if (conn->closing) return;
    if (status < 0) {
        stet_debug("http", "write failed, closing connection: %s", uv_strerror(status));
        stet_http__conn_close(conn);
        return;
    }
    conn->last_activity_ms = uv_now(conn->server->loop);
    if (conn->close_after_write) {
        if (conn->write_pending == 0 && !conn->shutdown_started) conn_start_shutdown(conn);
        return;
    }
    if (conn->proto == STET_HTTP_PROTO_H2) stet_http__h2_send(conn);
    else if (conn->proto == STET_HTTP_PROTO_H1 && conn->h1_state == STET_HTTP_H1_HEAD &&
             conn_avail(conn) > 0 && conn->write_pending < STET_HTTP_WRITE_HIGH_WATER &&
             !conn->kick) {
        conn->request_start_ms = conn->last_activity_ms;
        stet_http__conn_kick(conn); /* pipelined requests held back by backpressure */
    }
    if (conn->closing) return;
    stet_http__conn_update_reading(conn);
    stet_http__conn_update_timer(conn);
}

int stet_http__conn_write(struct stet_http_conn *conn, uint8_t *data, size_t len)
{
    if (conn->closing || conn->shutdown_started) {
        free(data);
        return -ECANCELED;
    }
    STET_ASSERT(len > 0);
    struct write_req *wr = malloc(sizeof(*wr));
    STET_ASSERT(wr != NULL);
    wr->conn = conn;
    wr->data = data;
    wr->len = len;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&conn->tcp, &b, 1, conn_on_write);
    if (rc < 0) {
        free(data);
        free(wr);
        stet_http__conn_close(conn);
        return rc;
    }
    conn->write_pending += len;
    return 0;
}

static bool header_is_safe(const struct stet_http_header *h)
{
    if (h->name_len == 0) return false;
    for (size_t i = 0; i < h->name_len; i++)
        if (!stet_http1_is_tchar((unsigned char)h->name[i])) return false;
    for (size_t i = 0; i < h->value_len; i++) {
        unsigned char c = (unsigned char)h->value[i];
        if (c == '\r' || c == '\n' || c == 0) return false;
    }
    return true;
}

static bool header_is(const struct stet_http_header *h, const char *lit)
{
    size_t n = strlen(lit);
    return h->name_len == n && strncasecmp(h->name, lit, n) == 0;
}

static bool status_has_no_body(int status)
{
    return status == 204 || status == 304 || (status >= 100 && status < 200);
}

/* Serializes a complete HTTP/1.1 response; the caller frees the result. */
static uint8_t *h1_build_response(struct stet_http_server *s, int status, int minor,
                                  bool keep_alive, bool is_head,
                                  const struct stet_http_header *headers, size_t n_headers,
                                  const void *body, size_t body_len, size_t *out_len)
{
    struct stet_buf b;
    stet_buf_init(&b);
    stet_buf_reserve(&b, 256 + body_len);
    stet_buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, stet_http_status_reason(status));
    bool have_date = false;
    for (size_t i = 0; i < n_headers; i++) {
        const struct stet_http_header *h = &headers[i];
        if (header_is(h, "content-length") || header_is(h, "transfer-encoding") ||
            header_is(h, "connection"))
            continue;
        if (!header_is_safe(h)) {
            stet_warn("http", "dropping response header with invalid characters");
            continue;
        }
        if (header_is(h, "date")) have_date = true;
        stet_buf_append(&b, h->name, h->name_len);
        stet_buf_append(&b, ": ", 2);
        stet_buf_append(&b, h->value, h->value_len);
        stet_buf_append(&b, "\r\n", 2);
    }
    if (!status_has_no_body(status)) stet_buf_printf(&b, "content-length: %zu\r\n", body_len);
    if (!keep_alive) stet_buf_append_str(&b, "connection: close\r\n");
    else if (minor == 0) stet_buf_append_str(&b, "connection: keep-alive\r\n");
    if (!have_date) stet_buf_printf(&b, "date: %s\r\n", stet_http__date(s));
    stet_buf_append(&b, "\r\n", 2);
    if (!is_head && !status_has_no_body(status) && body_len > 0) stet_buf_append(&b, body, body_len);
    return stet_buf_steal(&b, out_len);
}

/* Answers a server-generated error on an HTTP/1 connection and closes it gracefully. */
static void h1_send_error(struct stet_http_conn *conn, int status, const char *message)
{
    struct stet_http_server *s = conn->server;
    if (conn->h1_req) {
        STET_ASSERT(!conn->h1_req->dispatched);
        stet_http__req_free(conn->h1_req);
        conn->h1_req = NULL;
    }
    conn->h1_state = STET_HTTP_H1_HEAD;
    struct stet_buf body;
    stet_buf_init(&body);
    /* 414 comes with an empty body, as hyper sends it */
    if (status != 414) stet_http__error_body(s, status, message, &body);
    struct stet_http_header hs[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-restate-error-source", 22, "ingress", 7},
    };
    size_t len;
    uint8_t *out = h1_build_response(s, status, 1, false /* keep-alive */, false, hs,
                                     status == 414 ? 0 : (s->ingress_errors ? 2 : 1), body.data, body.len, &len);
    stet_buf_free(&body);
    stet_debug("http", "answering %d and closing the connection: %s", status, message);
    if (stet_http__conn_write(conn, out, len) == 0) stet_http__conn_close_graceful(conn);
}

/* ---------------------------------------------------------------------------------------
 * Connection lifecycle
 */

static void server_maybe_finish(struct stet_http_server *s)
{
    if (!s->destroying || s->handles_open > 0) return;
    void (*cb)(void *) = s->closed_cb;
    void *arg = s->closed_arg;
    free(s->bind_address);
    free(s);
    if (cb) cb(arg);
}

static void conn_on_handle_closed(uv_handle_t *h)
{
    struct stet_http_conn *conn = h->data;
    STET_ASSERT(conn->handles_open > 0);
    if (--conn->handles_open > 0) return;
    struct stet_http_server *s = conn->server;
    if (conn->prev) conn->prev->next = conn->next;
    else s->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    stet_buf_free(&conn->in);
    free(conn);
    STET_ASSERT(s->handles_open > 0);
    s->handles_open--;
    server_maybe_finish(s);
}

void stet_http__conn_close(struct stet_http_conn *conn)
{
    if (conn->closing) return;
    conn->closing = true;
    conn->kick = false;
    struct stet_http_server *s = conn->server;
    STET_ASSERT(s->stats.connections_open > 0);
    s->stats.connections_open--;
    if (conn->h1_req) {
        struct stet_http_req *req = conn->h1_req;
        conn->h1_req = NULL;
        stet_http__req_abort(req);
    }
    if (conn->h2) stet_http__h2_close(conn);
    uv_close((uv_handle_t *)&conn->tcp, conn_on_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, conn_on_handle_closed);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
    struct stet_http_conn *conn = req->data;
    if (conn->closing) return;
    if (status < 0) {
        stet_http__conn_close(conn);
        return;
    }
    conn->lingering = true;
    stet_http__conn_update_reading(conn);
    stet_http__conn_update_timer(conn);
}

static void conn_start_shutdown(struct stet_http_conn *conn)
{
    STET_ASSERT(!conn->shutdown_started);
    STET_ASSERT(conn->write_pending == 0);
    conn->shutdown_started = true;
    conn->linger_deadline_ms = uv_now(conn->server->loop) + STET_HTTP_LINGER_MS;
    conn->shutdown_req.data = conn;
    int rc = uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, conn_on_shutdown);
    if (rc < 0) stet_http__conn_close(conn);
}

void stet_http__conn_close_graceful(struct stet_http_conn *conn)
{
    if (conn->closing || conn->close_after_write) return;
    conn->close_after_write = true;
    conn->kick = false;
    conn->last_activity_ms = uv_now(conn->server->loop);
    if (conn->write_pending == 0) conn_start_shutdown(conn);
    if (conn->closing) return;
    stet_http__conn_update_reading(conn);
    stet_http__conn_update_timer(conn);
}

static size_t conn_avail(const struct stet_http_conn *conn)
{
    return conn->in.len - conn->in_off;
}

static uint64_t conn_deadline(struct stet_http_conn *conn)
{
    const struct stet_http_server_config *cfg = &conn->server->cfg;
    if (conn->shutdown_started) return conn->linger_deadline_ms;
    if (conn->close_after_write) return conn->last_activity_ms + cfg->idle_timeout_ms;
    switch (conn->proto) {
    case STET_HTTP_PROTO_UNKNOWN:
        if (conn_avail(conn) == 0) return conn->last_activity_ms + cfg->idle_timeout_ms;
        return conn->request_start_ms + cfg->request_timeout_ms;
    case STET_HTTP_PROTO_H1:
        if (conn->h1_state == STET_HTTP_H1_PENDING) return UINT64_MAX;
        if (conn->h1_state == STET_HTTP_H1_HEAD &&
            (conn_avail(conn) == 0 || conn->write_pending >= STET_HTTP_WRITE_HIGH_WATER))
            return conn->last_activity_ms + cfg->idle_timeout_ms;
        return conn->request_start_ms + cfg->request_timeout_ms;
    case STET_HTTP_PROTO_H2:
        return stet_http__h2_deadline(conn);
    }
    STET_UNREACHABLE();
}

void stet_http__conn_update_timer(struct stet_http_conn *conn)
{
    if (conn->closing) return;
    uint64_t now = uv_now(conn->server->loop);
    uint64_t deadline = conn->kick ? now : conn_deadline(conn);
    if (deadline == UINT64_MAX) {
        uv_timer_stop(&conn->timer);
        return;
    }
    uv_timer_start(&conn->timer, conn_on_timer, deadline > now ? deadline - now : 0, 0);
}

void stet_http__conn_kick(struct stet_http_conn *conn)
{
    if (conn->closing || conn->kick) return;
    conn->kick = true;
    uv_timer_start(&conn->timer, conn_on_timer, 0, 0);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    STET_UNUSED(suggested);
    struct stet_http_conn *conn = h->data;
    struct stet_http_server *s = conn->server;
    /* libuv calls alloc and then read for one stream at a time, so one buffer serves all */
    STET_ASSERT(!s->read_buffer_busy);
    s->read_buffer_busy = true;
    *buf = uv_buf_init(s->read_buffer, sizeof(s->read_buffer));
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

void stet_http__conn_update_reading(struct stet_http_conn *conn)
{
    if (conn->closing) return;
    bool want;
    if (conn->close_after_write || conn->lingering) want = true;
    else if (conn->write_pending >= STET_HTTP_WRITE_HIGH_WATER) want = false;
    else if (conn->proto == STET_HTTP_PROTO_H1 && conn->h1_state == STET_HTTP_H1_PENDING &&
             conn_avail(conn) >= STET_HTTP_PIPELINE_MAX)
        want = false;
    else want = true;
    if (want == conn->reading) return;
    if (want) {
        int rc = uv_read_start((uv_stream_t *)&conn->tcp, conn_on_alloc, conn_on_read);
        if (rc < 0) {
            stet_http__conn_close(conn);
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&conn->tcp);
    }
    conn->reading = want;
}

static void conn_on_timer(uv_timer_t *t)
{
    struct stet_http_conn *conn = t->data;
    if (conn->closing) return;
    struct stet_http_server *s = conn->server;
    uint64_t now = uv_now(s->loop);
    if (conn->kick) {
        conn->kick = false;
        if (conn->proto == STET_HTTP_PROTO_H1) h1_process(conn);
        else if (conn->proto == STET_HTTP_PROTO_H2) stet_http__h2_send(conn);
        if (conn->closing) return;
        stet_http__conn_update_reading(conn);
        stet_http__conn_update_timer(conn);
        return;
    }
    if (conn->write_pending > 0) {
        size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp);
        if (queued != conn->write_queue_seen) {
            conn->write_queue_seen = queued;
            conn->last_activity_ms = now; /* the peer is reading, slowly */
        }
    }
    uint64_t deadline = conn_deadline(conn);
    if (conn->close_after_write || conn->lingering) {
        if (now >= deadline) stet_http__conn_close(conn);
    } else if (conn->proto == STET_HTTP_PROTO_H2) {
        stet_http__h2_on_timer(conn, now);
    } else if (now >= deadline) {
        bool idle = (conn->proto == STET_HTTP_PROTO_UNKNOWN ||
                     conn->h1_state == STET_HTTP_H1_HEAD) &&
                    (conn_avail(conn) == 0 || conn->write_pending >= STET_HTTP_WRITE_HIGH_WATER);
        if (idle || conn->proto == STET_HTTP_PROTO_UNKNOWN) {
            stet_debug("http", "closing idle connection");
            stet_http__conn_close(conn);
        } else {
            s->stats.requests_total++;
            h1_send_error(conn, 408, "request timeout: the request was not received in time");
        }
    }
    if (conn->closing) return;
    conn_check(conn);
    stet_http__conn_update_timer(conn);
}

/* ---------------------------------------------------------------------------------------
 * HTTP/1 request processing
 */

static void in_consume(struct stet_http_conn *conn, size_t n)
{
    STET_ASSERT(n <= conn_avail(conn));
    conn->in_off += n;
    if (conn->in_off == conn->in.len) {
        conn->in_off = 0;
        conn->in.len = 0;
    }
}

static void h1_dispatch(struct stet_http_conn *conn)
{
    struct stet_http_req *req = conn->h1_req;
    STET_ASSERT(req != NULL);
    conn->h1_state = STET_HTTP_H1_PENDING;
    stet_http__req_finalize(req);
    stet_http__dispatch(req);
}

/* Creates conn->h1_req from a parsed head. */
static void h1_start_request(struct stet_http_conn *conn, const struct stet_http1_head *head)
{
    struct stet_http_req *req = stet_http__req_create(conn);
    req->pub.http_major = 1;
    req->pub.http_minor = head->minor_version;
    req->keep_alive = head->keep_alive;
    stet_http__req_set_method(req, head->method, head->method_len);
    req_set_path_query(req, head->path, head->path_len, head->query, head->query_len);
    for (size_t i = 0; i < head->n_fields; i++) {
        const struct stet_http1_field *f = &head->fields[i];
        stet_http__req_add_header(req, f->name, f->name_len, f->value, f->value_len);
    }
    conn->h1_req = req;
}

static void h1_send_continue(struct stet_http_conn *conn)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uint8_t *out = malloc(sizeof(msg) - 1);
    STET_ASSERT(out != NULL);
    memcpy(out, msg, sizeof(msg) - 1);
    stet_http__conn_write(conn, out, sizeof(msg) - 1);
}

/* One step in state HEAD. Returns true to continue the processing loop. */
static bool h1_step_head(struct stet_http_conn *conn)
{
    const struct stet_http_server_config *cfg = &conn->server->cfg;
    size_t avail = conn_avail(conn);
    if (avail == 0) return false;
    const char *p = (const char *)conn->in.data + conn->in_off;
    size_t from = conn->head_scanned > 3 ? conn->head_scanned - 3 : 0;
    bool complete = from < avail && memmem(p + from, avail - from, "\r\n\r\n", 4) != NULL;
    /* parse an incomplete head only when its first line may just have completed, so that a
     * malformed request line is answered at once without rescanning on every byte */
    bool first_line = !complete && conn->head_scanned < avail &&
                      memchr(p, '\n', conn->head_scanned) == NULL &&
                      memchr(p + conn->head_scanned, '\n', avail - conn->head_scanned) != NULL;
    int rc = 0;
    struct stet_http1_head head;
    if (complete || first_line) {
        size_t limit = avail < (size_t)INT32_MAX ? avail : (size_t)INT32_MAX;
        rc = stet_http1_parse_head(p, limit, &head);
    }
    if (rc == STET_HTTP1_ETOOMANYHEADERS) {
        h1_send_error(conn, 431, "request header fields too large: too many header fields");
        return false;
    }
    if (rc < 0) {
        h1_send_error(conn, 400, "malformed HTTP/1 request");
        return false;
    }
    if (rc == 0) {
        /* hyper (Restate) answers 414 for request targets over 65534 bytes */
        if (avail > STET_HTTP_MAX_TARGET_BYTES + 32 && memchr(p, '\n', STET_HTTP_MAX_TARGET_BYTES + 32) == NULL) {
            h1_send_error(conn, 414, "request target too long");
            return false;
        }
        if (avail > cfg->max_header_bytes) {
            h1_send_error(conn, 431, "request header fields too large");
            return false;
        }
        conn->head_scanned = avail;
        return false;
    }
    if (head.target_len > STET_HTTP_MAX_TARGET_BYTES) {
        h1_send_error(conn, 414, "request target too long");
        return false;
    }
    if ((size_t)rc > cfg->max_header_bytes) {
        h1_send_error(conn, 431, "request header fields too large");
        return false;
    }
    conn->head_scanned = 0;
    h1_start_request(conn, &head);
    in_consume(conn, (size_t)rc);
    switch (head.body_kind) {
    case STET_HTTP1_BODY_NONE:
        h1_dispatch(conn);
        return true;
    case STET_HTTP1_BODY_LENGTH:
        if (head.content_length > cfg->max_body_bytes) {
            char msg[128];
            snprintf(msg, sizeof(msg), "request body too large: the limit is %zu bytes",
                     cfg->max_body_bytes);
            h1_send_error(conn, 413, msg);
            return false;
        }
        conn->body_remaining = head.content_length;
        stet_buf_reserve(&conn->h1_req->body, (size_t)head.content_length < ((size_t)1 << 20)
                                                  ? (size_t)head.content_length
                                                  : ((size_t)1 << 20));
        conn->h1_state = STET_HTTP_H1_BODY_LENGTH;
        break;
    case STET_HTTP1_BODY_CHUNKED:
        stet_http1_chunked_init(&conn->chunked);
        conn->h1_state = STET_HTTP_H1_BODY_CHUNKED;
        break;
    }
    if (head.expect_continue && conn_avail(conn) == 0) h1_send_continue(conn);
    return !conn->closing;
}

static bool h1_step_body_length(struct stet_http_conn *conn)
{
    size_t avail = conn_avail(conn);
    if (avail == 0) return false;
    size_t take = avail;
    if ((uint64_t)take > conn->body_remaining) take = (size_t)conn->body_remaining;
    stet_buf_append(&conn->h1_req->body, conn->in.data + conn->in_off, take);
    in_consume(conn, take);
    conn->body_remaining -= take;
    if (conn->body_remaining == 0) h1_dispatch(conn);
    return true;
}

static bool h1_step_body_chunked(struct stet_http_conn *conn)
{
    const struct stet_http_server_config *cfg = &conn->server->cfg;
    size_t avail = conn_avail(conn);
    if (avail == 0) return false;
    ssize_t n = stet_http1_chunked_decode(&conn->chunked, conn->in.data + conn->in_off, avail,
                                          &conn->h1_req->body, cfg->max_body_bytes);
    if (n == STET_HTTP1_ETOOLARGE) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body too large: the limit is %zu bytes",
                 cfg->max_body_bytes);
        h1_send_error(conn, 413, msg);
        return false;
    }
    if (n < 0) {
        h1_send_error(conn, 400, "malformed chunked request body");
        return false;
    }
    in_consume(conn, (size_t)n);
    if (conn->chunked.done) h1_dispatch(conn);
    return true;
}

/* Invariants of a connection that is not closing (see the design notes at the top). */
static void conn_check(const struct stet_http_conn *conn)
{
    if (conn->closing) return;
    STET_ASSERT(conn->in_off <= conn->in.len);
    STET_ASSERT(conn->handles_open == 2);
    STET_ASSERT(!conn->lingering || conn->shutdown_started);
    STET_ASSERT(!conn->shutdown_started || conn->close_after_write);
    STET_ASSERT(!conn->shutdown_started || conn->write_pending == 0);
    if (conn->proto != STET_HTTP_PROTO_H1) STET_ASSERT(conn->h1_req == NULL);
    if (conn->proto == STET_HTTP_PROTO_H2) STET_ASSERT(conn->h2 != NULL);
    else STET_ASSERT(conn->h2 == NULL);
    if (conn->proto == STET_HTTP_PROTO_H1) {
        STET_ASSERT((conn->h1_req != NULL) == (conn->h1_state != STET_HTTP_H1_HEAD));
        if (conn->h1_req) {
            STET_ASSERT(conn->h1_req->magic == STET_HTTP_REQ_MAGIC);
            STET_ASSERT(conn->h1_req->dispatched == (conn->h1_state == STET_HTTP_H1_PENDING));
            STET_ASSERT(conn->h1_req->body.len <= conn->server->cfg.max_body_bytes);
        }
        if (conn->close_after_write) STET_ASSERT(conn->h1_req == NULL);
    }
}

static void h1_process(struct stet_http_conn *conn)
{
    if (conn->processing) return;
    conn->processing = true;
    struct stet_http_server *s = conn->server;
    bool more = true;
    while (more && !conn->closing && !conn->close_after_write && !s->destroying) {
        switch (conn->h1_state) {
        case STET_HTTP_H1_HEAD:
            /* backpressure: the next request waits until our output drains */
            more = conn->write_pending < STET_HTTP_WRITE_HIGH_WATER && h1_step_head(conn);
            break;
        case STET_HTTP_H1_BODY_LENGTH: more = h1_step_body_length(conn); break;
        case STET_HTTP_H1_BODY_CHUNKED: more = h1_step_body_chunked(conn); break;
        case STET_HTTP_H1_PENDING: more = false; break;
        }
    }
    conn->processing = false;
    if (conn->closing) return;
    conn_check(conn);
    if (conn->in.len == 0 && conn->in.cap > STET_HTTP_READ_BUFFER_BYTES) stet_buf_free(&conn->in);
    stet_http__conn_update_reading(conn);
    stet_http__conn_update_timer(conn);
}

static int h1_respond(struct stet_http_req *req, int status, const struct stet_http_header *headers,
                      size_t n_headers, const void *body, size_t body_len)
{
    struct stet_http_conn *conn = req->conn;
    STET_ASSERT(conn->proto == STET_HTTP_PROTO_H1);
    STET_ASSERT(conn->h1_req == req);
    STET_ASSERT(conn->h1_state == STET_HTTP_H1_PENDING);
    bool keep_alive = req->keep_alive && !conn->server->destroying;
    size_t len;
    uint8_t *out = h1_build_response(conn->server, status, req->pub.http_minor, keep_alive,
                                     req->is_head, headers, n_headers, body, body_len, &len);
    conn->h1_req = NULL;
    conn->h1_state = STET_HTTP_H1_HEAD;
    stet_http__req_free(req);
    int rc = stet_http__conn_write(conn, out, len);
    if (rc < 0) return rc;
    uint64_t now = uv_now(conn->server->loop);
    conn->last_activity_ms = now;
    if (!keep_alive) {
        stet_http__conn_close_graceful(conn);
        return 0;
    }
    conn->request_start_ms = now;
    if (!conn->processing) stet_http__conn_kick(conn);
    return 0;
}

int stet_http_respond(struct stet_http_request *pub, int status,
                      const struct stet_http_header *headers, size_t n_headers,
                      const void *body, size_t body_len)
{
    struct stet_http_req *req = (struct stet_http_req *)pub;
    STET_ASSERT(req != NULL);
    STET_ASSERT(req->magic == STET_HTTP_REQ_MAGIC); /* responded twice, or after abort? */
    STET_ASSERT(req->dispatched);
    STET_ASSERT(body != NULL || body_len == 0);
    int rc = 0;
    if (status < 200 || status > 999) {
        stet_error("http", "handler answered invalid status %d; sending 500 instead", status);
        status = 500;
        n_headers = 0;
        body_len = 0;
        rc = -EINVAL;
    }
    int wrc;
    if (req->conn->proto == STET_HTTP_PROTO_H2)
        wrc = stet_http__h2_respond(req, status, headers, n_headers, body, body_len);
    else
        wrc = h1_respond(req, status, headers, n_headers, body, body_len);
    return rc < 0 ? rc : wrc;
}

int stet_http_request_detach(struct stet_http_request *pub, int *fd, struct stet_buf *rest)
{
    struct stet_http_req *req = (struct stet_http_req *)pub;
    STET_ASSERT(req != NULL && req->magic == STET_HTTP_REQ_MAGIC && req->dispatched);
    struct stet_http_conn *conn = req->conn;
    if (conn->proto != STET_HTTP_PROTO_H1) return -EPROTONOSUPPORT;
    STET_ASSERT(conn->h1_req == req && conn->h1_state == STET_HTTP_H1_PENDING);
    if (conn->write_pending > 0 || conn->closing) return -EBUSY;
    uv_os_fd_t ofd;
    int rc = uv_fileno((uv_handle_t *)&conn->tcp, &ofd);
    if (rc < 0) return rc;
    int nfd = dup(ofd);
    if (nfd < 0) return -errno;
    size_t avail = conn_avail(conn);
    if (avail > 0) stet_buf_append(rest, conn->in.data + conn->in_off, avail);
    in_consume(conn, avail);
    conn->h1_req = NULL;
    conn->h1_state = STET_HTTP_H1_HEAD;
    stet_http__req_free(req);
    /* uv_close drops the epoll registration and closes only the server's descriptor: the
     * socket lives on in nfd (no shutdown(2), which would end it for both) */
    stet_http__conn_close(conn);
    *fd = nfd;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Reading
 */

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct stet_http_conn *conn = stream->data;
    struct stet_http_server *s = conn->server;
    STET_UNUSED(buf);
    s->read_buffer_busy = false;
    if (nread == 0 || conn->closing) return;
    if (nread < 0) {
        if (nread != UV_EOF) stet_debug("http", "read error, closing: %s", uv_strerror((int)nread));
        stet_http__conn_close(conn);
        return;
    }
    s->stats.bytes_in += (uint64_t)nread;
    uint64_t now = uv_now(s->loop);
    conn->last_activity_ms = now;
    if (conn->close_after_write || conn->lingering) return; /* draining */

    if (conn->proto == STET_HTTP_PROTO_H2) {
        stet_http__h2_feed(conn, (const uint8_t *)s->read_buffer, (size_t)nread);
        if (conn->closing) return;
        stet_http__conn_update_reading(conn);
        stet_http__conn_update_timer(conn);
        return;
    }

    if (conn_avail(conn) == 0 &&
        (conn->proto == STET_HTTP_PROTO_UNKNOWN || conn->h1_state == STET_HTTP_H1_HEAD))
        conn->request_start_ms = now;
    if (conn->in_off > 0) {
        stet_buf_consume(&conn->in, conn->in_off);
        conn->in_off = 0;
    }
    stet_buf_append(&conn->in, s->read_buffer, (size_t)nread);

    if (conn->proto == STET_HTTP_PROTO_UNKNOWN) {
        size_t avail = conn_avail(conn);
        size_t n = avail < H2_PREFACE_LEN ? avail : H2_PREFACE_LEN;
        if (memcmp(conn->in.data, h2_preface, n) != 0) {
            conn->proto = STET_HTTP_PROTO_H1;
        } else if (avail >= H2_PREFACE_LEN) {
            conn->proto = STET_HTTP_PROTO_H2;
            struct stet_buf initial = conn->in;
            stet_buf_init(&conn->in);
            conn->in_off = 0;
            int rc = stet_http__h2_start(conn, initial.data, initial.len);
            stet_buf_free(&initial);
            if (conn->closing) return;
            if (rc < 0) {
                stet_http__conn_close(conn);
                return;
            }
            stet_http__conn_update_reading(conn);
            stet_http__conn_update_timer(conn);
            return;
        } else {
            stet_http__conn_update_timer(conn);
            return;
        }
    }
    h1_process(conn);
}

/* ---------------------------------------------------------------------------------------
 * Listener
 */

static void rejected_on_close(uv_handle_t *h)
{
    struct stet_http_server *s = h->data;
    free(h);
    STET_ASSERT(s->handles_open > 0);
    s->handles_open--;
    server_maybe_finish(s);
}

static void server_on_connection(uv_stream_t *listener, int status)
{
    struct stet_http_server *s = listener->data;
    if (status < 0) {
        stet_warn("http", "accept failed on %s: %s; will keep listening", s->bind_address,
                  uv_strerror(status));
        return;
    }
    if (s->destroying) return;
    if (s->stats.connections_open >= s->cfg.max_connections) {
        uv_tcp_t *t = malloc(sizeof(*t));
        STET_ASSERT(t != NULL);
        uv_tcp_init(s->loop, t);
        t->data = s;
        s->handles_open++;
        uv_accept(listener, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, rejected_on_close);
        if (s->stats.connections_rejected++ % 1000 == 0)
            stet_warn("http", "connection limit reached on %s (max_connections=%u); closing new "
                      "connections, raise the limit if this is expected load",
                      s->bind_address, s->cfg.max_connections);
        return;
    }
    struct stet_http_conn *conn = calloc(1, sizeof(*conn));
    STET_ASSERT(conn != NULL);
    conn->server = s;
    stet_buf_init(&conn->in);
    uv_tcp_init(s->loop, &conn->tcp);
    uv_timer_init(s->loop, &conn->timer);
    conn->tcp.data = conn;
    conn->timer.data = conn;
    conn->handles_open = 2;
    conn->next = s->conns;
    if (s->conns) s->conns->prev = conn;
    s->conns = conn;
    s->handles_open++;
    s->stats.connections_open++;
    s->stats.connections_total++;
    conn->last_activity_ms = uv_now(s->loop);
    int rc = uv_accept(listener, (uv_stream_t *)&conn->tcp);
    if (rc < 0) {
        stet_http__conn_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    stet_http__conn_update_reading(conn);
    stet_http__conn_update_timer(conn);
}

static void listener_on_close(uv_handle_t *h)
{
    struct stet_http_server *s = h->data;
    STET_ASSERT(s->handles_open > 0);
    s->handles_open--;
    server_maybe_finish(s);
}

/* Parses "host:port" / "[v6]:port" into addr. Returns 0 or a negative errno. */
static int parse_bind_address(const char *text, struct sockaddr_storage *addr)
{
    char host[256];
    const char *port_str;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host)) return -EINVAL;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = 0;
        port_str = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host)) return -EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = 0;
        port_str = colon + 1;
    }
    char *endp;
    if (*port_str == 0) return -EINVAL;
    unsigned long port = strtoul(port_str, &endp, 10);
    if (*endp != 0 || port > 65535) return -EINVAL;
    if (host[0] == 0) strcpy(host, "0.0.0.0");
    memset(addr, 0, sizeof(*addr));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0) return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0) return 0;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) return -EADDRNOTAVAIL;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    if (res->ai_family == AF_INET) ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
    else ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static char *format_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    STET_ASSERT(n >= 0);
    return out;
}

int stet_http_server_create(uv_loop_t *loop, const struct stet_http_server_config *cfg,
                            stet_http_handler_cb handler, void *ctx,
                            struct stet_http_server **out, char **errmsg)
{
    STET_ASSERT(loop != NULL);
    STET_ASSERT(cfg != NULL);
    STET_ASSERT(handler != NULL);
    STET_ASSERT(out != NULL);
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    if (cfg->bind_address == NULL) {
        if (errmsg) *errmsg = format_error("http server: no bind address configured");
        return -EINVAL;
    }
    struct sockaddr_storage addr;
    int rc = parse_bind_address(cfg->bind_address, &addr);
    if (rc < 0) {
        if (errmsg)
            *errmsg = format_error("invalid bind address '%s': %s (expected host:port, e.g. "
                                   "0.0.0.0:8080 or [::1]:9070)",
                                   cfg->bind_address, strerror(-rc));
        return rc;
    }
    struct stet_http_server *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    s->loop = loop;
    s->cfg = *cfg;
    s->bind_address = strdup(cfg->bind_address);
    STET_ASSERT(s->bind_address != NULL);
    s->cfg.bind_address = s->bind_address;
    s->ingress_errors = cfg->error_format && strcmp(cfg->error_format, "ingress") == 0;
    s->cfg.error_format = s->ingress_errors ? "ingress" : "admin";
    if (s->cfg.max_body_bytes == 0) s->cfg.max_body_bytes = STET_HTTP_DEFAULT_MAX_BODY_BYTES;
    if (s->cfg.max_header_bytes == 0) s->cfg.max_header_bytes = STET_HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (s->cfg.max_connections == 0) s->cfg.max_connections = STET_HTTP_DEFAULT_MAX_CONNECTIONS;
    if (s->cfg.idle_timeout_ms == 0) s->cfg.idle_timeout_ms = STET_HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    if (s->cfg.request_timeout_ms == 0)
        s->cfg.request_timeout_ms = STET_HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    s->handler = handler;
    s->ctx = ctx;
    s->date_second = -1;

    rc = uv_tcp_init(loop, &s->listener);
    if (rc < 0) {
        if (errmsg) *errmsg = format_error("cannot create socket for %s: %s", s->bind_address,
                                           uv_strerror(rc));
        free(s->bind_address);
        free(s);
        return rc;
    }
    s->listener.data = s;
    s->handles_open = 1;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 1024, server_on_connection);
    if (rc < 0) {
        if (errmsg)
            *errmsg = format_error("cannot listen on %s: %s (is another process using this "
                                   "address? choose another bind address)",
                                   s->bind_address, uv_strerror(rc));
        s->destroying = true; /* freed in listener_on_close, on the next loop run */
        uv_close((uv_handle_t *)&s->listener, listener_on_close);
        return rc;
    }
    struct sockaddr_storage bound;
    int bound_len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bound_len);
    if (bound.ss_family == AF_INET6) s->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    else s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    stet_info("http", "listening on %s port=%d", s->bind_address, s->port);
    *out = s;
    return 0;
}

int stet_http_server_port(const struct stet_http_server *s)
{
    return s->port;
}

void stet_http_server_stats(const struct stet_http_server *s, struct stet_http_stats *out)
{
    *out = s->stats;
}

void stet_http_server_destroy(struct stet_http_server *s, void (*closed_cb)(void *arg), void *arg)
{
    STET_ASSERT(s != NULL);
    STET_ASSERT(!s->destroying); /* destroyed twice */
    s->destroying = true;
    s->closed_cb = closed_cb;
    s->closed_arg = arg;
    uv_close((uv_handle_t *)&s->listener, listener_on_close);
    /* conn_close only unlinks in the close callback, so the list is stable here */
    for (struct stet_http_conn *c = s->conns; c; c = c->next) stet_http__conn_close(c);
}
