/* Tests for src/h2client: the HTTP/2 cleartext client pool.
 *
 * The peer is a small h2c server built here on nghttp2's server session API over a libuv
 * TCP listener on 127.0.0.1:0, running on the same loop as the client. It uses nghttp2's
 * default settings (65535-byte windows, like Node's http2 server), so request bodies larger
 * than 64 KiB only get through if the client honours WINDOW_UPDATE. Handlers:
 *   GET  /discover  200 application/json manifest; echoes request header x-test as x-echo
 *   POST /echo      200 headers at once, every DATA chunk echoed immediately, response ends
 *                   when the request ends (bidirectional streaming)
 *   POST /count     on request end: "<bytes> <fnv1a hash>" of the request body
 *   POST /big       200 with 1 MiB of pattern bytes
 *   POST /reset     RST_STREAM(INTERNAL_ERROR)
 *   POST /drop      200 headers, then the server closes the TCP connection
 *   POST /goaway    200 "bye", then GOAWAY(last_stream_id = this stream)
 *   POST /goaway-low  first time: GOAWAY(last_stream_id = 0); afterwards 200 "second try"
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "h2client/h2client.h"

#define MIB (1024u * 1024u)

static uint8_t pattern_byte(size_t i) { return (uint8_t)(i * 7u + (i >> 10)); }

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}
#define FNV_INIT 2166136261u

/* ==== test server ===================================================================== */

struct ts_stream {
    struct ts_stream *next; /* all streams of a connection, freed with it */
    int32_t id;
    char path[64];
    char method[16];
    char x_test[64];
    struct stet_buf out;
    size_t out_off;
    bool req_ended;
    bool deferred;
    bool responding;
    bool closed;
    bool counted; /* in current_streams */
    uint32_t close_error;
    size_t big_off; /* /big: bytes produced so far */
    size_t received;
    uint32_t hash;
};

struct ts_server;

struct ts_conn {
    struct ts_server *srv;
    uv_tcp_t tcp;
    nghttp2_session *session;
    struct stet_buf wbuf;
    uv_write_t write_req;
    bool writing;
    bool closing;
    bool drop_after_write;
    int current_streams;
    struct ts_stream *streams;
};

struct ts_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    uint32_t max_concurrent_streams; /* 0 = nghttp2 default (unlimited) */
    uint32_t window;                 /* stream and connection window; 0 = 65535 */
    nghttp2_session_callbacks *cbs;
    int conns_accepted;
    int conns_closed;
    int conns_open;
    int streams_seen;
    int streams_cancelled; /* closed with CANCEL by the client */
    int max_parallel_streams;      /* over all connections */
    int max_parallel_per_conn;
    int current_streams;
    bool listener_closed;
    bool goaway_low_sent;
};

static void ts_conn_flush(struct ts_conn *c);

static void ts_conn_close_cb(uv_handle_t *h) {
    struct ts_conn *c = h->data;
    c->srv->conns_closed++;
    c->srv->conns_open--;
    nghttp2_session_del(c->session);
    while (c->streams) {
        struct ts_stream *st = c->streams;
        c->streams = st->next;
        stet_buf_free(&st->out);
        free(st);
    }
    stet_buf_free(&c->wbuf);
    free(c);
}

static void ts_conn_close(struct ts_conn *c) {
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, ts_conn_close_cb);
}

static ssize_t ts_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
    (void)s;
    (void)flags;
    struct ts_conn *c = ud;
    stet_buf_append(&c->wbuf, data, len);
    return (ssize_t)len;
}

static ssize_t ts_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                          nghttp2_data_source *src, void *ud) {
    (void)s;
    (void)id;
    (void)ud;
    struct ts_stream *st = src->ptr;
    if (strcmp(st->path, "/big") == 0) {
        size_t n = MIB - st->big_off < length ? MIB - st->big_off : length;
        for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(st->big_off + i);
        st->big_off += n;
        if (st->big_off == MIB) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    size_t avail = st->out.len - st->out_off;
    size_t n = avail < length ? avail : length;
    if (n > 0) memcpy(buf, st->out.data + st->out_off, n);
    st->out_off += n;
    if (n == avail && st->req_ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void ts_respond(struct ts_conn *c, struct ts_stream *st, const char *content_type, bool with_body) {
    char x_echo[64];
    snprintf(x_echo, sizeof(x_echo), "%s", st->x_test);
    nghttp2_nv nva[3] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)content_type, 12, strlen(content_type), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"x-echo", (uint8_t *)x_echo, 6, strlen(x_echo), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = ts_read_cb};
    int rv = nghttp2_submit_response(c->session, st->id, nva, st->x_test[0] ? 3 : 2, with_body ? &prd : NULL);
    assert_int_equal(rv, 0);
    st->responding = true;
}

static void ts_resume(struct ts_conn *c, struct ts_stream *st) {
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(c->session, st->id);
    }
}

static void ts_on_request_end(struct ts_conn *c, struct ts_stream *st) {
    st->req_ended = true;
    if (strcmp(st->path, "/count") == 0) {
        char text[64];
        snprintf(text, sizeof(text), "%zu %08x", st->received, st->hash);
        stet_buf_append_str(&st->out, text);
        ts_respond(c, st, "text/plain", true);
    } else if (strcmp(st->path, "/echo") == 0) {
        ts_resume(c, st);
    }
}

static void ts_on_request_head(struct ts_conn *c, struct ts_stream *st, bool ended) {
    struct ts_server *srv = c->srv;
    srv->streams_seen++;
    st->counted = true;
    if (++srv->current_streams > srv->max_parallel_streams) srv->max_parallel_streams = srv->current_streams;
    if (++c->current_streams > srv->max_parallel_per_conn) srv->max_parallel_per_conn = c->current_streams;
    if (strcmp(st->path, "/discover") == 0) {
        stet_buf_append_str(&st->out, "{\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":[]}");
        st->req_ended = true; /* response body is complete */
        ts_respond(c, st, "application/json", true);
    } else if (strcmp(st->path, "/echo") == 0) {
        ts_respond(c, st, "application/octet-stream", true); /* headers first, body streams */
    } else if (strcmp(st->path, "/big") == 0) {
        ts_respond(c, st, "application/octet-stream", true);
    } else if (strcmp(st->path, "/reset") == 0) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    } else if (strcmp(st->path, "/drop") == 0) {
        ts_respond(c, st, "application/octet-stream", true);
        c->drop_after_write = true;
    } else if (strcmp(st->path, "/goaway-low") == 0) {
        if (!srv->goaway_low_sent) {
            /* Refuse everything on this connection: streams above last_stream_id 0 were not processed. */
            srv->goaway_low_sent = true;
            nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
        } else {
            stet_buf_append_str(&st->out, "second try");
            st->req_ended = true;
            ts_respond(c, st, "text/plain", true);
        }
    } else if (strcmp(st->path, "/goaway") == 0) {
        stet_buf_append_str(&st->out, "bye");
        st->req_ended = true;
        ts_respond(c, st, "text/plain", true);
        nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR, NULL, 0);
    }
    if (ended) ts_on_request_end(c, st);
}

static int ts_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    struct ts_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct ts_stream *st = calloc(1, sizeof(*st));
    assert_non_null(st);
    st->id = f->hd.stream_id;
    st->hash = FNV_INIT;
    stet_buf_init(&st->out);
    st->next = c->streams;
    c->streams = st;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int ts_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags, void *ud) {
    (void)flags;
    (void)ud;
    struct ts_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st) return 0;
    char *dst = NULL;
    size_t cap = 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) dst = st->path, cap = sizeof(st->path);
    else if (namelen == 7 && memcmp(name, ":method", 7) == 0) dst = st->method, cap = sizeof(st->method);
    else if (namelen == 6 && memcmp(name, "x-test", 6) == 0) dst = st->x_test, cap = sizeof(st->x_test);
    if (dst) snprintf(dst, cap, "%.*s", (int)valuelen, (const char *)value);
    return 0;
}

static int ts_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    struct ts_conn *c = ud;
    struct ts_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st) return 0;
    bool ended = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) ts_on_request_head(c, st, ended);
    else if (f->hd.type == NGHTTP2_DATA && ended) ts_on_request_end(c, st);
    return 0;
}

static int ts_on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                            void *ud) {
    (void)flags;
    struct ts_conn *c = ud;
    struct ts_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    st->received += len;
    st->hash = fnv1a(st->hash, data, len);
    if (strcmp(st->path, "/echo") == 0) {
        stet_buf_append(&st->out, data, len);
        ts_resume(c, st);
    }
    return 0;
}

static int ts_on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
    struct ts_conn *c = ud;
    struct ts_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    st->closed = true;
    st->close_error = error_code;
    if (st->counted) {
        c->srv->current_streams--;
        c->current_streams--;
    }
    if (error_code == NGHTTP2_CANCEL) c->srv->streams_cancelled++;
    return 0;
}

static void ts_write_cb(uv_write_t *req, int status) {
    struct ts_conn *c = req->data;
    c->writing = false;
    stet_buf_reset(&c->wbuf);
    if (status < 0 || c->closing) {
        ts_conn_close(c);
        return;
    }
    ts_conn_flush(c);
}

static void ts_conn_flush(struct ts_conn *c) {
    if (c->writing || c->closing) return;
    int rv = nghttp2_session_send(c->session);
    if (rv != 0) {
        ts_conn_close(c);
        return;
    }
    if (c->wbuf.len > 0) {
        uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
        c->write_req.data = c;
        if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, ts_write_cb) == 0) {
            c->writing = true;
            return;
        }
        ts_conn_close(c);
        return;
    }
    if (c->drop_after_write || (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)))
        ts_conn_close(c);
}

static void ts_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = malloc(suggested);
    buf->len = suggested;
}

static void ts_conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    struct ts_conn *c = stream->data;
    if (nread < 0) {
        ts_conn_close(c);
    } else if (nread > 0 && !c->closing) {
        ssize_t rv = nghttp2_session_mem_recv(c->session, (const uint8_t *)buf->base, (size_t)nread);
        if (rv < 0) ts_conn_close(c);
        else ts_conn_flush(c);
    }
    free(buf->base);
}

static void ts_on_connection(uv_stream_t *listener, int status) {
    struct ts_server *srv = listener->data;
    assert_int_equal(status, 0);
    struct ts_conn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->srv = srv;
    stet_buf_init(&c->wbuf);
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    assert_int_equal(nghttp2_session_server_new(&c->session, srv->cbs, c), 0);
    nghttp2_settings_entry iv[2];
    size_t niv = 0;
    if (srv->max_concurrent_streams)
        iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->max_concurrent_streams};
    if (srv->window) iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, srv->window};
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, niv);
    if (srv->window) nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, (int32_t)srv->window);
    srv->conns_accepted++;
    srv->conns_open++;
    uv_read_start((uv_stream_t *)&c->tcp, ts_alloc_cb, ts_conn_read_cb);
    ts_conn_flush(c);
}

static void ts_server_start(struct ts_server *srv, uv_loop_t *loop) {
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    assert_int_equal(nghttp2_session_callbacks_new(&srv->cbs), 0);
    nghttp2_session_callbacks_set_send_callback(srv->cbs, ts_send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(srv->cbs, ts_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(srv->cbs, ts_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(srv->cbs, ts_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(srv->cbs, ts_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(srv->cbs, ts_on_stream_close);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv->listener, 128, ts_on_connection), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    assert_int_equal(uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len), 0);
    srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void ts_listener_close_cb(uv_handle_t *h) {
    struct ts_server *srv = h->data;
    srv->listener_closed = true;
}

/* ==== fixture ========================================================================= */

struct fixture {
    uv_loop_t loop;
    struct ts_server srv;
    struct stet_h2_pool *pool;
    char authority[64];
    bool pool_closed;
};

static struct fixture *F;

static void pool_closed_cb(void *arg) { *(bool *)arg = true; }

static void close_done_cb(uv_handle_t *h) { *(bool *)h->data = true; }

/* Closes a handle that lives on the test's stack and waits for its close callback. */
static void close_and_wait(uv_handle_t *h) {
    bool done = false;
    h->data = &done;
    uv_close(h, close_done_cb);
    while (!done) uv_run(&F->loop, UV_RUN_ONCE);
}

static void timeout_cb(uv_timer_t *t) { *(bool *)t->data = true; }

/* Runs the loop until *flag is true; fails the test after timeout_ms. */
static void run_until(bool *flag, uint64_t timeout_ms) {
    bool timed_out = false;
    uv_timer_t timer;
    uv_timer_init(&F->loop, &timer);
    timer.data = &timed_out;
    uv_timer_start(&timer, timeout_cb, timeout_ms, 0);
    while (!*flag && !timed_out) uv_run(&F->loop, UV_RUN_ONCE);
    close_and_wait((uv_handle_t *)&timer);
    assert_false(timed_out);
}

/* Runs the loop for ms milliseconds. */
static void run_for(uint64_t ms) {
    bool done = false;
    uv_timer_t timer;
    uv_timer_init(&F->loop, &timer);
    timer.data = &done;
    uv_timer_start(&timer, timeout_cb, ms, 0);
    while (!done) uv_run(&F->loop, UV_RUN_ONCE);
    close_and_wait((uv_handle_t *)&timer);
}

static void fixture_pool(const struct stet_h2_pool_config *cfg) {
    assert_int_equal(stet_h2_pool_create(&F->loop, cfg, &F->pool), 0);
}

static int setup(void **state) {
    (void)state;
    F = calloc(1, sizeof(*F));
    assert_non_null(F);
    assert_int_equal(uv_loop_init(&F->loop), 0);
    ts_server_start(&F->srv, &F->loop);
    snprintf(F->authority, sizeof(F->authority), "127.0.0.1:%d", F->srv.port);
    return 0;
}

static void close_server_conns(uv_handle_t *h, void *arg) {
    (void)arg;
    if (h->type == UV_TCP && !uv_is_closing(h) && h != (uv_handle_t *)&F->srv.listener) {
        struct ts_conn *c = h->data;
        ts_conn_close(c);
    }
}

static int teardown(void **state) {
    (void)state;
    if (F->pool) {
        stet_h2_pool_destroy(F->pool, pool_closed_cb, &F->pool_closed);
        F->pool = NULL;
        run_until(&F->pool_closed, 2000);
    }
    uv_walk(&F->loop, close_server_conns, NULL); /* pool handles are all closed by now */
    uv_close((uv_handle_t *)&F->srv.listener, ts_listener_close_cb);
    run_until(&F->srv.listener_closed, 2000);
    uv_run(&F->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&F->loop), 0); /* no handle leaked */
    nghttp2_session_callbacks_del(F->srv.cbs);
    free(F);
    F = NULL;
    return 0;
}

/* ==== client-side recorder ============================================================ */

struct rec {
    struct stet_h2_stream *s;
    int status;
    int headers_calls;
    bool got_headers;
    char content_type[64];
    char x_echo[64];
    struct stet_buf body;
    int response_end_calls;
    int close_calls;
    bool closed;
    int error;
    char message[256];
    /* behaviour knobs */
    bool reset_on_data;
    bool request_on_close; /* starts another request from inside on_close */
    struct rec *chained;
    /* interleaving test */
    int echo_round;
    int writes;
    bool headers_before_first_write;
    uv_timer_t delay;
    bool delay_initialized;
};

static void rec_on_headers(struct stet_h2_stream *s, int status, const struct stet_h2_header *h, size_t n, void *ud) {
    struct rec *r = ud;
    assert_ptr_equal(s, r->s);
    assert_false(r->closed);
    r->status = status;
    r->headers_calls++;
    r->got_headers = true;
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == 12 && memcmp(h[i].name, "content-type", 12) == 0)
            snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)h[i].value_len, h[i].value);
        if (h[i].name_len == 6 && memcmp(h[i].name, "x-echo", 6) == 0)
            snprintf(r->x_echo, sizeof(r->x_echo), "%.*s", (int)h[i].value_len, h[i].value);
    }
}

static void rec_on_data(struct stet_h2_stream *s, const uint8_t *data, size_t len, void *ud) {
    struct rec *r = ud;
    assert_ptr_equal(s, r->s);
    assert_false(r->closed);
    assert_int_equal(r->headers_calls, 1);
    stet_buf_append(&r->body, data, len);
    if (r->reset_on_data) {
        stet_h2_stream_reset(s);
        r->s = NULL;
    }
}

static void rec_on_response_end(struct stet_h2_stream *s, void *ud) {
    struct rec *r = ud;
    assert_ptr_equal(s, r->s);
    r->response_end_calls++;
}

static const struct stet_h2_stream_callbacks rec_cbs;

static void rec_on_close(struct stet_h2_stream *s, int error, const char *message, void *ud) {
    struct rec *r = ud;
    assert_ptr_equal(s, r->s);
    assert_non_null(message);
    r->close_calls++;
    r->closed = true;
    r->error = error;
    snprintf(r->message, sizeof(r->message), "%s", message);
    /* writes after close are refused, reset is a no-op */
    assert_int_equal(stet_h2_stream_write(s, "x", 1), -EPIPE);
    stet_h2_stream_reset(s);
    if (r->request_on_close && r->chained) {
        int rv = stet_h2_request(F->pool, F->authority, "GET", "/discover", NULL, 0, true, &rec_cbs, r->chained,
                                 &r->chained->s);
        assert_int_equal(rv, 0);
    }
}

static const struct stet_h2_stream_callbacks rec_cbs = {
    .on_headers = rec_on_headers,
    .on_data = rec_on_data,
    .on_response_end = rec_on_response_end,
    .on_close = rec_on_close,
};

static void rec_init(struct rec *r) {
    memset(r, 0, sizeof(*r));
    stet_buf_init(&r->body);
}

static void rec_free(struct rec *r) { stet_buf_free(&r->body); }

static int start(struct rec *r, const char *method, const char *path, bool end_request) {
    return stet_h2_request(F->pool, F->authority, method, path, NULL, 0, end_request, &rec_cbs, r, &r->s);
}

static bool body_is(const struct rec *r, const char *text) {
    return r->body.len == strlen(text) && memcmp(r->body.data, text, r->body.len) == 0;
}

/* ==== tests =========================================================================== */

static void test_discover_get(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    struct stet_h2_header hdr[] = {{"X-Test", 6, "hello", 5}, {"accept", 6, "application/json", 16}};
    int rv = stet_h2_request(F->pool, F->authority, "GET", "/discover", hdr, 2, true, &rec_cbs, &r, &r.s);
    assert_int_equal(rv, 0);
    assert_false(r.closed); /* nothing happens synchronously */
    assert_int_equal(r.headers_calls, 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.message, "");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.headers_calls, 1);
    assert_int_equal(r.response_end_calls, 1);
    assert_int_equal(r.close_calls, 1);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.x_echo, "hello"); /* header name was lowercased and copied */
    assert_true(body_is(&r, "{\"minProtocolVersion\":5,\"maxProtocolVersion\":7,\"services\":[]}"));
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 1);
    assert_int_equal(st.connections_open, 1);
    assert_int_equal(st.streams_total, 1);
    assert_int_equal(st.streams_open, 0);
    assert_int_equal(st.connect_errors, 0);
    rec_free(&r);
}

/* Interleaving: the server answers with headers before any request body exists; the client
 * writes 3 chunks with 20 ms pauses, each only after the previous echo came back. */
static void interleave_delay_cb(uv_timer_t *t) {
    struct rec *r = t->data;
    char chunk[32];
    snprintf(chunk, sizeof(chunk), "chunk-%d;", r->writes + 1);
    assert_int_equal(stet_h2_stream_write(r->s, chunk, strlen(chunk)), 0);
    r->writes++;
}

static void interleave_on_headers(struct stet_h2_stream *s, int status, const struct stet_h2_header *h, size_t n,
                                  void *ud) {
    struct rec *r = ud;
    rec_on_headers(s, status, h, n, ud);
    r->headers_before_first_write = r->writes == 0 && r->body.len == 0;
    uv_timer_start(&r->delay, interleave_delay_cb, 20, 0);
}

static void interleave_on_data(struct stet_h2_stream *s, const uint8_t *data, size_t len, void *ud) {
    struct rec *r = ud;
    rec_on_data(s, data, len, ud);
    char expect[128] = "";
    for (int i = 1; i <= r->writes; i++) snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), "chunk-%d;", i);
    if (r->body.len < strlen(expect)) return; /* partial echo */
    assert_memory_equal(r->body.data, expect, strlen(expect));
    assert_int_equal(r->response_end_calls, 0); /* response still open while we stream */
    if (r->writes < 3) {
        uv_timer_start(&r->delay, interleave_delay_cb, 20, 0);
    } else {
        assert_int_equal(stet_h2_stream_end(s), 0);
        assert_int_equal(stet_h2_stream_end(s), -EPIPE);
        assert_int_equal(stet_h2_stream_write(s, "late", 4), -EPIPE);
    }
}

static void test_echo_bidi_interleaved(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    uv_timer_init(&F->loop, &r.delay);
    r.delay.data = &r;
    struct stet_h2_stream_callbacks cbs = rec_cbs;
    cbs.on_headers = interleave_on_headers;
    cbs.on_data = interleave_on_data;
    assert_int_equal(stet_h2_request(F->pool, F->authority, "POST", "/echo", NULL, 0, false, &cbs, &r, &r.s), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0);
    assert_true(r.headers_before_first_write);
    assert_int_equal(r.writes, 3);
    assert_true(body_is(&r, "chunk-1;chunk-2;chunk-3;"));
    assert_int_equal(r.response_end_calls, 1);
    close_and_wait((uv_handle_t *)&r.delay);
    rec_free(&r);
}

static void test_request_body_1mib_flow_control(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "POST", "/count", false), 0);
    /* Queued before the connection even exists; the server's windows are 65535 bytes. */
    uint8_t *body = malloc(MIB);
    assert_non_null(body);
    for (size_t i = 0; i < MIB; i++) body[i] = pattern_byte(i);
    assert_int_equal(stet_h2_stream_write(r.s, body, MIB / 2 + 3), 0);
    assert_int_equal(stet_h2_stream_write(r.s, body + MIB / 2 + 3, MIB / 2 - 3), 0);
    assert_int_equal(stet_h2_stream_pending(r.s), MIB);
    assert_int_equal(stet_h2_stream_end(r.s), 0);
    run_until(&r.closed, 10000);
    assert_int_equal(r.error, 0);
    char expect[64];
    snprintf(expect, sizeof(expect), "%u %08x", MIB, fnv1a(FNV_INIT, body, MIB));
    assert_true(body_is(&r, expect));
    free(body);
    rec_free(&r);
}

/* With 16 MiB peer windows a 6 MiB body is limited only by our write batching. */
static void test_request_body_large_windows(void **state) {
    (void)state;
    F->srv.window = 16u * MIB;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "POST", "/count", false), 0);
    size_t n = 6u * MIB;
    uint8_t *body = malloc(n);
    assert_non_null(body);
    for (size_t i = 0; i < n; i++) body[i] = pattern_byte(i * 3);
    for (size_t off = 0; off < n; off += 100000) assert_int_equal(stet_h2_stream_write(r.s, body + off, n - off < 100000 ? n - off : 100000), 0);
    assert_int_equal(stet_h2_stream_end(r.s), 0);
    run_until(&r.closed, 20000);
    assert_int_equal(r.error, 0);
    char expect[64];
    snprintf(expect, sizeof(expect), "%zu %08x", n, fnv1a(FNV_INIT, body, n));
    assert_true(body_is(&r, expect));
    free(body);
    rec_free(&r);
}

static void test_response_body_1mib_small_windows(void **state) {
    (void)state;
    struct stet_h2_pool_config cfg;
    stet_h2_pool_config_default(&cfg);
    cfg.initial_stream_window = 65535;
    cfg.initial_connection_window = 65535; /* we must hand the window back as we consume */
    fixture_pool(&cfg);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "POST", "/big", true), 0);
    run_until(&r.closed, 10000);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body.len, MIB);
    for (size_t i = 0; i < MIB; i++)
        if (r.body.data[i] != pattern_byte(i)) fail_msg("byte %zu differs", i);
    rec_free(&r);
}

static void test_concurrent_streams_share_connection(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r[10];
    for (int i = 0; i < 10; i++) {
        rec_init(&r[i]);
        assert_int_equal(start(&r[i], "POST", "/echo", false), 0);
        char msg[32];
        snprintf(msg, sizeof(msg), "message-%d", i);
        assert_int_equal(stet_h2_stream_write(r[i].s, msg, strlen(msg)), 0);
    }
    /* All ten are open at the server at once before any request ends. */
    for (int spins = 0; spins < 200 && F->srv.current_streams < 10; spins++) uv_run(&F->loop, UV_RUN_ONCE);
    assert_int_equal(F->srv.current_streams, 10);
    for (int i = 0; i < 10; i++) assert_int_equal(stet_h2_stream_end(r[i].s), 0);
    for (int i = 0; i < 10; i++) run_until(&r[i].closed, 5000);
    for (int i = 0; i < 10; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "message-%d", i);
        assert_int_equal(r[i].error, 0);
        assert_true(body_is(&r[i], msg));
        rec_free(&r[i]);
    }
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 1);
    assert_int_equal(st.streams_total, 10);
    assert_int_equal(st.streams_open, 0);
    assert_int_equal(F->srv.conns_accepted, 1);
    assert_int_equal(F->srv.max_parallel_streams, 10);

    /* A later request, started from inside on_close, reuses the same connection. */
    struct rec a, b;
    rec_init(&a);
    rec_init(&b);
    a.request_on_close = true;
    a.chained = &b;
    assert_int_equal(start(&a, "GET", "/discover", true), 0);
    run_until(&b.closed, 5000);
    assert_int_equal(a.error, 0);
    assert_int_equal(b.error, 0);
    assert_int_equal(b.status, 200);
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 1);
    assert_int_equal(F->srv.conns_accepted, 1);
    rec_free(&a);
    rec_free(&b);
}

static void test_peer_max_concurrent_streams(void **state) {
    (void)state;
    F->srv.max_concurrent_streams = 2;
    fixture_pool(NULL);
    struct rec r[6];
    for (int i = 0; i < 6; i++) {
        rec_init(&r[i]);
        assert_int_equal(start(&r[i], "GET", "/discover", true), 0);
    }
    for (int i = 0; i < 6; i++) run_until(&r[i].closed, 5000);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].error, 0);
        assert_int_equal(r[i].status, 200);
        rec_free(&r[i]);
    }
    assert_true(F->srv.max_parallel_per_conn <= 2);
}

static void test_connection_refused(void **state) {
    (void)state;
    /* A port that was just free: bind, read the port, close. */
    uv_tcp_t probe;
    uv_tcp_init(&F->loop, &probe);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    close_and_wait((uv_handle_t *)&probe);

    fixture_pool(NULL);
    snprintf(F->authority, sizeof(F->authority), "127.0.0.1:%d", port);
    struct rec r[2];
    for (int i = 0; i < 2; i++) {
        rec_init(&r[i]);
        assert_int_equal(start(&r[i], "POST", "/echo", false), 0);
        assert_int_equal(stet_h2_stream_write(r[i].s, "abc", 3), 0); /* fine before connecting */
    }
    assert_false(r[0].closed); /* never synchronous */
    for (int i = 0; i < 2; i++) run_until(&r[i].closed, 5000);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].error, UV_ECONNREFUSED);
        assert_string_equal(r[i].message, "connection refused");
        assert_int_equal(r[i].headers_calls, 0);
        assert_int_equal(r[i].close_calls, 1);
        rec_free(&r[i]);
    }
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connect_errors, 1);
    assert_int_equal(st.connections_open, 0);
    assert_int_equal(st.streams_open, 0);
}

static void test_stream_reset_by_peer(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "POST", "/reset", false), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, STET_H2_ERESET);
    assert_string_equal(r.message, "stream reset by peer: INTERNAL_ERROR");
    /* The connection survives a stream reset. */
    struct rec again;
    rec_init(&again);
    assert_int_equal(start(&again, "GET", "/discover", true), 0);
    run_until(&again.closed, 5000);
    assert_int_equal(again.error, 0);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 1);
    rec_free(&r);
    rec_free(&again);
}

static void test_server_closes_connection_mid_stream(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r, other;
    rec_init(&r);
    rec_init(&other);
    assert_int_equal(start(&other, "POST", "/echo", false), 0); /* a bystander on the same connection */
    assert_int_equal(start(&r, "POST", "/drop", false), 0);
    run_until(&r.closed, 5000);
    run_until(&other.closed, 5000);
    assert_int_equal(r.error, STET_H2_ECLOSED);
    assert_string_equal(r.message, "connection closed");
    assert_int_equal(other.error, STET_H2_ECLOSED);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_open, 0);
    assert_int_equal(st.streams_open, 0);
    /* The next request gets a fresh connection. */
    struct rec next;
    rec_init(&next);
    assert_int_equal(start(&next, "GET", "/discover", true), 0);
    run_until(&next.closed, 5000);
    assert_int_equal(next.error, 0);
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 2);
    rec_free(&r);
    rec_free(&other);
    rec_free(&next);
}

static void test_idle_connection_closed(void **state) {
    (void)state;
    struct stet_h2_pool_config cfg;
    stet_h2_pool_config_default(&cfg);
    cfg.idle_connection_timeout_ms = 100;
    fixture_pool(&cfg);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "GET", "/discover", true), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_open, 1);
    run_for(30);
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_open, 1); /* not yet */
    run_for(400);
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_open, 0);
    assert_int_equal(F->srv.conns_closed, 1); /* the server saw the close */
    struct rec again;
    rec_init(&again);
    assert_int_equal(start(&again, "GET", "/discover", true), 0);
    run_until(&again.closed, 5000);
    assert_int_equal(again.error, 0);
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 2);
    rec_free(&r);
    rec_free(&again);
}

static void test_goaway_moves_new_requests_to_new_connection(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "POST", "/goaway", true), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0); /* its own stream is <= last_stream_id: completes */
    assert_true(body_is(&r, "bye"));
    struct rec next;
    rec_init(&next);
    assert_int_equal(start(&next, "GET", "/discover", true), 0);
    run_until(&next.closed, 5000);
    assert_int_equal(next.error, 0);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 2);
    assert_int_equal(F->srv.conns_accepted, 2);
    run_for(50);
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_open, 1); /* the GOAWAY'd one is gone */
    rec_free(&r);
    rec_free(&next);
}

static void test_goaway_refuses_streams_above_last_id(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec busy, retry;
    rec_init(&busy);
    rec_init(&retry);
    /* busy has sent body bytes, so it cannot be replayed; retry has no body and is re-sent. */
    assert_int_equal(start(&busy, "POST", "/echo", false), 0);
    assert_int_equal(stet_h2_stream_write(busy.s, "data", 4), 0);
    run_until(&busy.got_headers, 5000);
    assert_int_equal(start(&retry, "POST", "/goaway-low", true), 0);
    run_until(&busy.closed, 5000);
    run_until(&retry.closed, 5000);
    assert_int_equal(busy.error, STET_H2_EGOAWAY);
    assert_string_equal(busy.message, "GOAWAY received");
    assert_int_equal(retry.error, 0);
    assert_true(body_is(&retry, "second try"));
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 2);
    assert_int_equal(st.streams_total, 2);
    assert_int_equal(st.streams_open, 0);
    rec_free(&busy);
    rec_free(&retry);
}

static void destroy_on_data(struct stet_h2_stream *s, const uint8_t *data, size_t len, void *ud) {
    rec_on_data(s, data, len, ud);
    stet_h2_pool_destroy(F->pool, pool_closed_cb, &F->pool_closed);
    F->pool = NULL;
}

/* Destroying the pool from inside a callback that nghttp2 is running. */
static void test_pool_destroy_inside_callback(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r, other;
    rec_init(&r);
    rec_init(&other);
    struct stet_h2_stream_callbacks cbs = rec_cbs;
    cbs.on_data = destroy_on_data;
    assert_int_equal(stet_h2_request(F->pool, F->authority, "POST", "/big", NULL, 0, true, &cbs, &r, &r.s), 0);
    assert_int_equal(start(&other, "POST", "/echo", false), 0);
    run_until(&F->pool_closed, 5000);
    assert_true(r.closed);
    assert_true(other.closed);
    assert_int_equal(r.error, -ECANCELED);
    assert_int_equal(other.error, -ECANCELED);
    assert_int_equal(r.close_calls, 1);
    assert_true(r.body.len > 0 && r.body.len < MIB);
    rec_free(&r);
    rec_free(&other);
}

/* A listener whose accept queue is full drops our SYNs, so the connect never completes. */
static void test_connect_timeout(void **state) {
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    socklen_t alen = sizeof(addr);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
    int fillers[3];
    for (int i = 0; i < 3; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM, 0);
        fcntl(fillers[i], F_SETFL, O_NONBLOCK);
        (void)connect(fillers[i], (struct sockaddr *)&addr, sizeof(addr));
    }
    usleep(50 * 1000);

    struct stet_h2_pool_config cfg;
    stet_h2_pool_config_default(&cfg);
    cfg.connect_timeout_ms = 200;
    fixture_pool(&cfg);
    snprintf(F->authority, sizeof(F->authority), "127.0.0.1:%d", ntohs(addr.sin_port));
    struct rec r;
    rec_init(&r);
    uint64_t t0 = uv_now(&F->loop);
    assert_int_equal(start(&r, "POST", "/echo", false), 0);
    run_until(&r.closed, 5000);
    uint64_t elapsed = uv_now(&F->loop) - t0;
    assert_int_equal(r.error, -ETIMEDOUT);
    assert_string_equal(r.message, "connect timeout");
    assert_true(elapsed >= 190 && elapsed < 2000);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connect_errors, 1);
    assert_int_equal(st.connections_open, 0);
    for (int i = 0; i < 3; i++) close(fillers[i]);
    close(lfd);
    rec_free(&r);
}

static void test_reset_from_callback(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    r.reset_on_data = true;
    assert_int_equal(start(&r, "POST", "/echo", false), 0);
    assert_int_equal(stet_h2_stream_write(r.s, "ping", 4), 0);
    for (int spins = 0; spins < 500 && r.s != NULL; spins++) uv_run(&F->loop, UV_RUN_ONCE);
    assert_null(r.s); /* reset inside on_data */
    run_for(50);
    assert_int_equal(r.close_calls, 0); /* no callbacks after reset */
    assert_int_equal(F->srv.streams_cancelled, 1);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.streams_open, 0);

    /* Reset before the request is even sent: nothing reaches the server. */
    struct rec early;
    rec_init(&early);
    assert_int_equal(start(&early, "POST", "/echo", false), 0);
    int seen = F->srv.streams_seen;
    stet_h2_stream_reset(early.s);
    run_for(30);
    assert_int_equal(F->srv.streams_seen, seen);
    assert_int_equal(early.close_calls, 0);

    /* The connection is still usable. */
    struct rec again;
    rec_init(&again);
    assert_int_equal(start(&again, "GET", "/discover", true), 0);
    run_until(&again.closed, 5000);
    assert_int_equal(again.error, 0);
    rec_free(&r);
    rec_free(&early);
    rec_free(&again);
}

static void test_pool_destroy_fails_open_streams(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "POST", "/echo", false), 0);
    run_until(&r.got_headers, 5000);
    stet_h2_pool_destroy(F->pool, pool_closed_cb, &F->pool_closed);
    F->pool = NULL;
    /* on_close runs from inside destroy */
    assert_true(r.closed);
    assert_int_equal(r.error, -ECANCELED);
    assert_string_equal(r.message, "pool destroyed");
    assert_false(F->pool_closed); /* handles close asynchronously */
    run_until(&F->pool_closed, 2000);
    rec_free(&r);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    struct stet_h2_stream *s = NULL;
    struct stet_h2_header pseudo[] = {{":path", 5, "/x", 2}};
    struct stet_h2_header conn_specific[] = {{"Connection", 10, "close", 5}};
    struct stet_h2_stream_callbacks no_close = rec_cbs;
    no_close.on_close = NULL;
    assert_int_equal(stet_h2_request(F->pool, F->authority, "GET", "/", pseudo, 1, true, &rec_cbs, &r, &s), -EINVAL);
    assert_int_equal(stet_h2_request(F->pool, F->authority, "GET", "/", conn_specific, 1, true, &rec_cbs, &r, &s),
                     -EINVAL);
    assert_int_equal(stet_h2_request(F->pool, F->authority, "GET", "/", NULL, 0, true, &no_close, &r, &s), -EINVAL);
    assert_int_equal(stet_h2_request(F->pool, F->authority, "GET", "", NULL, 0, true, &rec_cbs, &r, &s), -EINVAL);
    /* the rules are stet_authority_parse's (test_common.c), shared with h1client */
    const char *bad[] = {"",       "host:",  "host:0",         "host:65536", "host:12x", "host:8a", "[::1",
                         "[]:80",  "[::1]x", "[localhost]:80", "::1:80",     ":80",      "a/b:80",  "a b:80",
                         "a?b:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(stet_h2_request(F->pool, bad[i], "GET", "/", NULL, 0, true, &rec_cbs, &r, &s), -EINVAL);
    assert_null(s);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.streams_total, 0);
    /* A request without a body refuses writes. */
    assert_int_equal(start(&r, "GET", "/discover", true), 0);
    assert_int_equal(stet_h2_stream_write(r.s, "x", 1), -EPIPE);
    assert_int_equal(stet_h2_stream_end(r.s), -EPIPE);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0);
    rec_free(&r);
}

/* "localhost" goes through getaddrinfo; if it yields ::1 first, the refused IPv6 attempt
 * falls through to 127.0.0.1 within the same connection. */
static void test_localhost_name_resolution(void **state) {
    (void)state;
    fixture_pool(NULL);
    snprintf(F->authority, sizeof(F->authority), "localhost:%d", F->srv.port);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "GET", "/discover", true), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connections_total, 1);
    assert_int_equal(st.connect_errors, 0);
    rec_free(&r);
}

static void test_unresolvable_host(void **state) {
    (void)state;
    fixture_pool(NULL);
    snprintf(F->authority, sizeof(F->authority), "no-such-host.invalid:%d", F->srv.port);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "GET", "/discover", true), 0);
    run_until(&r.closed, 10000);
    assert_true(r.error < 0);
    assert_non_null(strstr(r.message, "failed to resolve no-such-host.invalid"));
    struct stet_h2_stats st;
    stet_h2_pool_stats(F->pool, &st);
    assert_int_equal(st.connect_errors, 1);
    rec_free(&r);
}

/* IPv6 literal authority against a second listener on [::1] (skipped without IPv6). */
static void test_ipv6_literal(void **state) {
    (void)state;
    uv_tcp_t l6;
    uv_tcp_init(&F->loop, &l6);
    l6.data = &F->srv;
    struct sockaddr_in6 addr6;
    uv_ip6_addr("::1", 0, &addr6);
    if (uv_tcp_bind(&l6, (const struct sockaddr *)&addr6, 0) != 0 ||
        uv_listen((uv_stream_t *)&l6, 16, ts_on_connection) != 0) {
        close_and_wait((uv_handle_t *)&l6);
        skip();
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&l6, (struct sockaddr *)&ss, &len);
    snprintf(F->authority, sizeof(F->authority), "[::1]:%d", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    fixture_pool(NULL);
    struct rec r;
    rec_init(&r);
    assert_int_equal(start(&r, "GET", "/discover", true), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    rec_free(&r);
    close_and_wait((uv_handle_t *)&l6);
}

int main(void) {
    stet_log_init_from_env(); /* RESTATE_LOG_FILTER=debug shows connection events */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_bidi_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_body_1mib_flow_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_body_large_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_body_1mib_small_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_streams_share_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_max_concurrent_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_reset_by_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_connection_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_goaway_moves_new_requests_to_new_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_goaway_refuses_streams_above_last_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_destroy_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_destroy_fails_open_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localhost_name_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unresolvable_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_literal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
