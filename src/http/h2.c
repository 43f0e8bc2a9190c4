/* h2c server side (prior knowledge) on top of nghttp2; the only file of the server that
 * includes nghttp2.h.
 *
 * Design
 *   One nghttp2 server session per connection. Input is fed with nghttp2_session_mem_recv
 *   and output pulled with nghttp2_session_mem_send into uv_write buffers of up to 64 KiB,
 *   stopping while more than STET_HTTP_WRITE_HIGH_WATER bytes are queued (resumed from the
 *   write callback). Request bodies are appended to the request as DATA arrives; nghttp2's
 *   automatic WINDOW_UPDATE gives the window back (we always consume what we buffer, and
 *   max_body_bytes bounds what one stream may buffer).
 *
 * Stream lifecycle (struct stet_http_h2_stream, user data of the nghttp2 stream)
 *   begin_headers: stream + request created (receiving)
 *   END_STREAM received: request finalized and queued; after mem_recv returns the queue is
 *     dispatched to the handler (never from inside an nghttp2 callback, so handlers may call
 *     anything, including stet_http_server_destroy)
 *   stet_http_respond: response submitted, request freed (stream->req = NULL), send kicked
 *   on_stream_close: a request still held is aborted (abort callback if dispatched); the
 *     stream is freed.
 *   A stream can be "rejected" instead (431 headers too large, 413 body too large, 408 body
 *   not received in time): its request is dropped and an error response is submitted.
 *   RFC 9113 §8.1 lets us then stop the upload with RST_STREAM(NO_ERROR). We do that at once
 *   for 408 (the client stalled anyway), but for 413/431 we first drain up to another
 *   max_body_bytes of DATA without buffering it: curl 7.88 (Debian 12) reports an early
 *   RST_STREAM as an error (exit 92) instead of showing the 413 it already received.
 *
 * Re-entrancy: nghttp2 forbids deleting the session from inside its callbacks. Abort
 *   callbacks run inside on_stream_close, and may close the connection (e.g. by destroying
 *   the server). So stet_http__h2_close only aborts the requests while h2->in_nghttp2 is set
 *   and the callbacks then fail fast; the session is deleted when mem_recv/mem_send returns.
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/log.h"
#include "http/http_internal.h"

#define H2_MAX_CONCURRENT_STREAMS 256
#define H2_INITIAL_STREAM_WINDOW (1 << 20)
#define H2_CONNECTION_WINDOW (16 << 20)
#define H2_SEND_CHUNK_BYTES ((size_t)64 * 1024)

struct stet_http_h2_stream {
    int32_t id;
    struct stet_http_h2 *h2;
    struct stet_http_h2_stream *prev, *next;  /* all streams of the connection */
    struct stet_http_h2_stream *ready_next;   /* dispatch queue */
    struct stet_http_req *req;                /* while receiving or pending, else NULL */
    bool receiving;                           /* request not complete yet */
    bool queued;
    bool rejected;
    bool remote_closed;
    bool headers_too_large;
    bool rst_after_response;                  /* rejected: reset once our response is out */
    bool rst_sent;
    uint64_t discarded_bytes;                 /* DATA received after the stream was rejected */
    uint64_t start_ms;
    uint8_t *resp_body;
    size_t resp_len, resp_off;
};

struct stet_http_h2 {
    struct stet_http_conn *conn;
    nghttp2_session *session;
    struct stet_http_h2_stream *streams;
    struct stet_http_h2_stream *ready_head, *ready_tail;
    size_t n_streams;
    size_t n_pending;   /* dispatched requests not answered yet */
    int in_nghttp2;     /* inside mem_recv / mem_send */
};

static struct stet_http_h2_stream *stream_get(struct stet_http_h2 *h2, int32_t id)
{
    if (id <= 0) return NULL;
    return nghttp2_session_get_stream_user_data(h2->session, id);
}

static void stream_unqueue(struct stet_http_h2 *h2, struct stet_http_h2_stream *st)
{
    if (!st->queued) return;
    struct stet_http_h2_stream **pp = &h2->ready_head;
    struct stet_http_h2_stream *prev = NULL;
    while (*pp && *pp != st) {
        prev = *pp;
        pp = &(*pp)->ready_next;
    }
    STET_ASSERT(*pp == st);
    *pp = st->ready_next;
    if (h2->ready_tail == st) h2->ready_tail = prev;
    st->ready_next = NULL;
    st->queued = false;
}

/* Drops the request of a stream: abort callback if the handler has it. */
static void stream_drop_request(struct stet_http_h2 *h2, struct stet_http_h2_stream *st)
{
    struct stet_http_req *req = st->req;
    if (!req) return;
    st->req = NULL;
    stream_unqueue(h2, st);
    if (req->dispatched) {
        STET_ASSERT(h2->n_pending > 0);
        h2->n_pending--;
    }
    stet_http__req_abort(req);
}

static void stream_free(struct stet_http_h2 *h2, struct stet_http_h2_stream *st)
{
    STET_ASSERT(st->req == NULL);
    STET_ASSERT(!st->queued);
    if (st->prev) st->prev->next = st->next;
    else h2->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    STET_ASSERT(h2->n_streams > 0);
    h2->n_streams--;
    free(st->resp_body);
    free(st);
}

static ssize_t on_data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    STET_UNUSED(session);
    STET_UNUSED(stream_id);
    STET_UNUSED(user_data);
    struct stet_http_h2_stream *st = source->ptr;
    size_t left = st->resp_len - st->resp_off;
    size_t n = left < length ? left : length;
    if (n > 0) memcpy(buf, st->resp_body + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->resp_len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static bool name_is(const char *name, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(name, lit, n) == 0;
}

/* Connection-specific fields are forbidden in HTTP/2 (RFC 9113 §8.2.2); content-length is
 * ours to set. */
static bool h2_header_dropped(const struct stet_http_header *h)
{
    return name_is(h->name, h->name_len, "content-length") ||
           name_is(h->name, h->name_len, "transfer-encoding") ||
           name_is(h->name, h->name_len, "connection") ||
           name_is(h->name, h->name_len, "keep-alive") ||
           name_is(h->name, h->name_len, "proxy-connection") ||
           name_is(h->name, h->name_len, "upgrade") || name_is(h->name, h->name_len, "te") ||
           h->name_len == 0 || h->name[0] == ':';
}

/* Submits a response on st (headers lower-cased, copied by nghttp2; body copied here). */
static int stream_submit_response(struct stet_http_h2 *h2, struct stet_http_h2_stream *st,
                                  int status, const struct stet_http_header *headers,
                                  size_t n_headers, const void *body, size_t body_len,
                                  bool is_head)
{
    struct stet_http_server *s = h2->conn->server;
    bool no_body = status == 204 || status == 304;
    size_t total_names = 0;
    for (size_t i = 0; i < n_headers; i++) total_names += headers[i].name_len;
    nghttp2_nv *nva = calloc(n_headers + 3, sizeof(*nva));
    char *names = malloc(total_names + 1);
    STET_ASSERT(nva != NULL);
    STET_ASSERT(names != NULL);
    char status_str[8], length_str[24];
    snprintf(status_str, sizeof(status_str), "%d", status);
    snprintf(length_str, sizeof(length_str), "%zu", body_len);
    size_t n = 0, name_pos = 0;
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_str, 7, strlen(status_str),
                            NGHTTP2_NV_FLAG_NONE};
    bool have_date = false;
    for (size_t i = 0; i < n_headers; i++) {
        const struct stet_http_header *h = &headers[i];
        if (h2_header_dropped(h)) continue;
        char *lname = names + name_pos;
        for (size_t k = 0; k < h->name_len; k++) {
            char c = h->name[k];
            lname[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        name_pos += h->name_len;
        if (name_is(lname, h->name_len, "date")) have_date = true;
        nva[n++] = (nghttp2_nv){(uint8_t *)lname, (uint8_t *)h->value, h->name_len, h->value_len,
                                NGHTTP2_NV_FLAG_NONE};
    }
    if (!no_body)
        nva[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length_str, 14,
                                strlen(length_str), NGHTTP2_NV_FLAG_NONE};
    const char *date = stet_http__date(s);
    if (!have_date)
        nva[n++] = (nghttp2_nv){(uint8_t *)"date", (uint8_t *)date, 4, strlen(date),
                                NGHTTP2_NV_FLAG_NONE};
    STET_ASSERT(n <= n_headers + 3);

    nghttp2_data_provider provider, *prd = NULL;
    if (!no_body && !is_head && body_len > 0) {
        STET_ASSERT(st->resp_body == NULL);
        st->resp_body = malloc(body_len);
        STET_ASSERT(st->resp_body != NULL);
        memcpy(st->resp_body, body, body_len);
        st->resp_len = body_len;
        st->resp_off = 0;
        provider.source.ptr = st;
        provider.read_callback = on_data_read;
        prd = &provider;
    }
    int rv = nghttp2_submit_response(h2->session, st->id, nva, n, prd);
    free(nva);
    free(names);
    if (rv != 0) {
        stet_debug("http", "h2 stream=%d: cannot submit response: %s", st->id,
                   nghttp2_strerror(rv));
        return -EIO;
    }
    return 0;
}

/* Answers a server-generated error instead of calling the handler. */
static void stream_reject(struct stet_http_h2 *h2, struct stet_http_h2_stream *st, int status,
                          const char *message)
{
    struct stet_http_server *s = h2->conn->server;
    if (st->rejected) return;
    st->rst_after_response = status == 408;
    if (st->req) {
        STET_ASSERT(!st->req->dispatched);
        stream_unqueue(h2, st);
        stet_http__req_free(st->req);
        st->req = NULL;
    }
    st->rejected = true;
    st->receiving = false;
    s->stats.requests_total++;
    /* our answer is activity: the idle clock restarts for the client to read it */
    h2->conn->last_activity_ms = uv_now(s->loop);
    struct stet_buf body;
    stet_buf_init(&body);
    stet_http__error_body(s, status, message, &body);
    struct stet_http_header hs[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-restate-error-source", 22, "ingress", 7},
    };
    stet_debug("http", "h2 stream=%d: answering %d: %s", st->id, status, message);
    stream_submit_response(h2, st, status, hs, s->ingress_errors ? 2 : 1, body.data, body.len,
                           false);
    stet_buf_free(&body);
}

static void reject_too_large(struct stet_http_h2 *h2, struct stet_http_h2_stream *st)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "request body too large: the limit is %zu bytes",
             h2->conn->server->cfg.max_body_bytes);
    stream_reject(h2, st, 413, msg);
}

static void stream_complete(struct stet_http_h2 *h2, struct stet_http_h2_stream *st)
{
    st->remote_closed = true;
    if (st->rejected || st->req == NULL || !st->receiving) return;
    st->receiving = false;
    stet_http__req_finalize(st->req);
    st->queued = true;
    st->ready_next = NULL;
    if (h2->ready_tail) h2->ready_tail->ready_next = st;
    else h2->ready_head = st;
    h2->ready_tail = st;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct stet_http_h2 *h2 = user_data;
    struct stet_http_conn *conn = h2->conn;
    if (conn->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct stet_http_h2_stream *st = calloc(1, sizeof(*st));
    STET_ASSERT(st != NULL);
    st->id = frame->hd.stream_id;
    st->h2 = h2;
    st->receiving = true;
    st->start_ms = uv_now(conn->server->loop);
    st->req = stet_http__req_create(conn);
    st->req->pub.http_major = 2;
    st->req->pub.http_minor = 0;
    st->req->keep_alive = true;
    st->req->h2_stream = st;
    st->next = h2->streams;
    if (h2->streams) h2->streams->prev = st;
    h2->streams = st;
    h2->n_streams++;
    nghttp2_session_set_stream_user_data(session, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    STET_UNUSED(session);
    STET_UNUSED(flags);
    struct stet_http_h2 *h2 = user_data;
    if (h2->conn->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct stet_http_h2_stream *st = stream_get(h2, frame->hd.stream_id);
    if (!st || !st->req || st->rejected || st->headers_too_large) return 0;
    struct stet_http_req *req = st->req;
    if (req->header_bytes + namelen + valuelen > h2->conn->server->cfg.max_header_bytes) {
        st->headers_too_large = true;
        return 0;
    }
    const char *n = (const char *)name, *v = (const char *)value;
    if (namelen > 0 && n[0] == ':') {
        req->header_bytes += namelen + valuelen;
        if (name_is(n, namelen, ":method")) stet_http__req_set_method(req, v, valuelen);
        else if (name_is(n, namelen, ":path")) stet_http__req_set_target(req, v, valuelen);
        else if (name_is(n, namelen, ":authority")) stet_http__req_add_header(req, "host", 4, v, valuelen);
        return 0;
    }
    stet_http__req_add_header(req, n, namelen, v, valuelen);
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    STET_UNUSED(flags);
    struct stet_http_h2 *h2 = user_data;
    if (h2->conn->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    struct stet_http_h2_stream *st = stream_get(h2, stream_id);
    size_t max = h2->conn->server->cfg.max_body_bytes;
    if (st && st->rejected) {
        st->discarded_bytes += len;
        if (st->discarded_bytes > max && !st->rst_sent) {
            st->rst_sent = true;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
        }
        return 0;
    }
    if (!st || !st->req || !st->receiving) return 0;
    if (len > max || st->req->body.len > max - len) {
        reject_too_large(h2, st);
        return 0;
    }
    stet_buf_append(&st->req->body, data, len);
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    STET_UNUSED(session);
    struct stet_http_h2 *h2 = user_data;
    if (h2->conn->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    struct stet_http_h2_stream *st = stream_get(h2, frame->hd.stream_id);
    if (!st) return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && st->req && !st->rejected) {
            if (st->headers_too_large) {
                stream_reject(h2, st, 431, "request header fields too large");
            } else {
                size_t cl_len;
                struct stet_http_req *req = st->req;
                /* headers are not finalized yet: look the field up by offset */
                for (size_t i = 0; i < req->n_fields; i++) {
                    const struct stet_http_req_field *f = &req->fields[i];
                    const char *fname = (const char *)req->arena.data + f->name_off;
                    if (!name_is(fname, f->name_len, "content-length")) continue;
                    cl_len = f->value_len;
                    const char *fv = (const char *)req->arena.data + f->value_off;
                    unsigned long long cl = strtoull(fv, NULL, 10);
                    if (cl_len > 0 && cl > h2->conn->server->cfg.max_body_bytes)
                        reject_too_large(h2, st);
                    break;
                }
            }
        }
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) stream_complete(h2, st);
        break;
    case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) stream_complete(h2, st);
        break;
    default:
        break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct stet_http_h2 *h2 = user_data;
    if (h2->conn->closing) return 0;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct stet_http_h2_stream *st = stream_get(h2, frame->hd.stream_id);
    if (st && st->rejected && st->rst_after_response && !st->remote_closed && !st->rst_sent) {
        st->rst_sent = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    STET_UNUSED(error_code);
    struct stet_http_h2 *h2 = user_data;
    struct stet_http_h2_stream *st = stream_get(h2, stream_id);
    if (!st) return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    stream_drop_request(h2, st); /* may run an abort callback, which may close conn */
    stream_free(h2, st);
    return 0;
}

/* Frees the session and all streams; requests must already be gone. */
static void h2_free(struct stet_http_conn *conn)
{
    struct stet_http_h2 *h2 = conn->h2;
    STET_ASSERT(h2 != NULL);
    STET_ASSERT(h2->in_nghttp2 == 0);
    nghttp2_session_del(h2->session); /* calls no callbacks */
    while (h2->streams) {
        h2->streams->queued = false;
        STET_ASSERT(h2->streams->req == NULL);
        stream_free(h2, h2->streams);
    }
    free(h2);
    conn->h2 = NULL;
}

void stet_http__h2_close(struct stet_http_conn *conn)
{
    struct stet_http_h2 *h2 = conn->h2;
    STET_ASSERT(conn->closing);
    /* abort callbacks may answer other pending streams of this connection; those requests
     * are released by stet_http__h2_respond, so re-read the list after every callback */
    for (;;) {
        struct stet_http_h2_stream *st = h2->streams;
        while (st && st->req == NULL) st = st->next;
        if (!st) break;
        stream_drop_request(h2, st);
    }
    if (h2->in_nghttp2 == 0) h2_free(conn);
}

static void h2_dispatch_ready(struct stet_http_h2 *h2)
{
    struct stet_http_conn *conn = h2->conn;
    /* conn->closing first: closing frees h2 */
    while (!conn->closing && !conn->server->destroying && h2->ready_head) {
        struct stet_http_h2_stream *st = h2->ready_head;
        h2->ready_head = st->ready_next;
        if (!h2->ready_head) h2->ready_tail = NULL;
        st->ready_next = NULL;
        st->queued = false;
        STET_ASSERT(st->req != NULL);
        h2->n_pending++;
        stet_http__dispatch(st->req); /* may respond, close or destroy */
    }
}

void stet_http__h2_send(struct stet_http_conn *conn)
{
    struct stet_http_h2 *h2 = conn->h2;
    if (conn->closing || h2 == NULL || h2->in_nghttp2) return;
    while (!conn->close_after_write && conn->write_pending < STET_HTTP_WRITE_HIGH_WATER) {
        struct stet_buf out;
        stet_buf_init(&out);
        ssize_t rv = 0;
        h2->in_nghttp2++;
        while (out.len < H2_SEND_CHUNK_BYTES) {
            const uint8_t *data;
            rv = nghttp2_session_mem_send(h2->session, &data);
            if (rv <= 0) break;
            stet_buf_append(&out, data, (size_t)rv);
        }
        h2->in_nghttp2--;
        if (conn->closing) {
            stet_buf_free(&out);
            h2_free(conn);
            return;
        }
        if (rv < 0) {
            stet_debug("http", "h2 send failed, closing: %s", nghttp2_strerror((int)rv));
            stet_buf_free(&out);
            stet_http__conn_close(conn);
            return;
        }
        if (out.len == 0) {
            stet_buf_free(&out);
            break;
        }
        size_t len;
        uint8_t *data = stet_buf_steal(&out, &len);
        if (stet_http__conn_write(conn, data, len) < 0) return;
    }
    if (!conn->close_after_write && !nghttp2_session_want_read(h2->session) &&
        !nghttp2_session_want_write(h2->session))
        stet_http__conn_close_graceful(conn);
}

void stet_http__h2_feed(struct stet_http_conn *conn, const uint8_t *data, size_t len)
{
    struct stet_http_h2 *h2 = conn->h2;
    STET_ASSERT(h2 != NULL);
    h2->in_nghttp2++;
    ssize_t rv = nghttp2_session_mem_recv(h2->session, data, len);
    h2->in_nghttp2--;
    if (conn->closing) {
        h2_free(conn);
        return;
    }
    if (rv < 0) {
        stet_debug("http", "h2 protocol error, closing: %s", nghttp2_strerror((int)rv));
        stet_http__h2_send(conn); /* GOAWAY, if nghttp2 queued one */
        if (!conn->closing) stet_http__conn_close_graceful(conn);
        return;
    }
    h2_dispatch_ready(h2);
    if (conn->closing) return;
    stet_http__h2_send(conn);
}

int stet_http__h2_start(struct stet_http_conn *conn, const uint8_t *data, size_t len)
{
    STET_ASSERT(conn->h2 == NULL);
    struct stet_http_h2 *h2 = calloc(1, sizeof(*h2));
    STET_ASSERT(h2 != NULL);
    h2->conn = conn;
    nghttp2_session_callbacks *cbs;
    int rv = nghttp2_session_callbacks_new(&cbs);
    if (rv != 0) {
        free(h2);
        return -ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    rv = nghttp2_session_server_new(&h2->session, cbs, h2);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        free(h2);
        return -ENOMEM;
    }
    conn->h2 = h2;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_CONCURRENT_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_INITIAL_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)(conn->server->cfg.max_header_bytes > UINT32_MAX
                                                               ? UINT32_MAX
                                                               : conn->server->cfg.max_header_bytes)},
    };
    rv = nghttp2_submit_settings(h2->session, NGHTTP2_FLAG_NONE, settings, STET_ARRAY_LEN(settings));
    if (rv == 0)
        rv = nghttp2_session_set_local_window_size(h2->session, NGHTTP2_FLAG_NONE, 0,
                                                   H2_CONNECTION_WINDOW);
    if (rv != 0) {
        nghttp2_session_del(h2->session);
        free(h2);
        conn->h2 = NULL;
        return -EIO;
    }
    stet_http__h2_feed(conn, data, len);
    return 0;
}

int stet_http__h2_respond(struct stet_http_req *req, int status,
                          const struct stet_http_header *headers, size_t n_headers,
                          const void *body, size_t body_len)
{
    struct stet_http_conn *conn = req->conn;
    struct stet_http_h2 *h2 = conn->h2;
    struct stet_http_h2_stream *st = req->h2_stream;
    STET_ASSERT(h2 != NULL);
    STET_ASSERT(st != NULL);
    STET_ASSERT(st->req == req);
    STET_ASSERT(req->dispatched);
    bool is_head = req->is_head;
    st->req = NULL;
    STET_ASSERT(h2->n_pending > 0);
    h2->n_pending--;
    stet_http__req_free(req);
    if (conn->closing) return -ECANCELED;
    int rc = stream_submit_response(h2, st, status, headers, n_headers, body, body_len, is_head);
    stet_http__conn_kick(conn);
    return rc;
}

uint64_t stet_http__h2_deadline(struct stet_http_conn *conn)
{
    struct stet_http_h2 *h2 = conn->h2;
    const struct stet_http_server_config *cfg = &conn->server->cfg;
    uint64_t deadline = UINT64_MAX;
    bool receiving = false;
    for (struct stet_http_h2_stream *st = h2->streams; st; st = st->next) {
        if (!st->receiving || st->rejected || !st->req) continue;
        receiving = true;
        uint64_t d = st->start_ms + cfg->request_timeout_ms;
        if (d < deadline) deadline = d;
    }
    /* idle: nothing open, or only responses the client does not read */
    if (!receiving && h2->n_pending == 0) {
        uint64_t d = conn->last_activity_ms + cfg->idle_timeout_ms;
        if (d < deadline) deadline = d;
    }
    return deadline;
}

void stet_http__h2_on_timer(struct stet_http_conn *conn, uint64_t now_ms)
{
    struct stet_http_h2 *h2 = conn->h2;
    const struct stet_http_server_config *cfg = &conn->server->cfg;
    bool receiving = false;
    for (struct stet_http_h2_stream *st = h2->streams; st; st = st->next) {
        if (!st->receiving || st->rejected || !st->req) continue;
        if (st->start_ms + cfg->request_timeout_ms <= now_ms)
            stream_reject(h2, st, 408, "request timeout: the request was not received in time");
        else receiving = true;
    }
    if (!receiving && h2->n_pending == 0 &&
        conn->last_activity_ms + cfg->idle_timeout_ms <= now_ms) {
        if (h2->n_streams == 0) {
            stet_debug("http", "closing idle h2 connection");
            nghttp2_session_terminate_session(h2->session, NGHTTP2_NO_ERROR);
        } else {
            stet_debug("http", "closing h2 connection: the client stopped reading responses");
            stet_http__conn_close(conn);
            return;
        }
    }
    stet_http__h2_send(conn);
}
