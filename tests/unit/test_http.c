/* Tests for src/http: the pure HTTP/1 parser and chunked decoder, then a real server on
 * 127.0.0.1:0 driven by blocking-socket clients in a second thread (HTTP/1.1 by hand, h2c
 * through an nghttp2 client session, and curl --http2-prior-knowledge when available).
 *
 * Threading: the server and its handler run on the main thread's uv loop; the client thread
 * only touches its sockets, the atomics below and fx->fail. Client checks record the first
 * failure in fx->fail (cmocka must not longjmp from another thread) and the main thread
 * fails the test after joining.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/buf.h"
#include "http/http.h"
#include "http/http1.h"

/* ------------------------------------------------------------------------------------------
 * Parser
 */

static int parse(const char *s, struct stet_http1_head *h)
{
    return stet_http1_parse_head(s, strlen(s), h);
}

static void test_parse_valid(void **state)
{
    (void)state;
    static struct stet_http1_head h;
    const char *req = "\r\nPOST /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                      "X-Empty:\r\nX-Pad:  v v \t\r\n\r\nhello";
    int rc = parse(req, &h);
    assert_int_equal(rc, (int)strlen(req) - 5);
    assert_int_equal(h.method_len, 4);
    assert_memory_equal(h.method, "POST", 4);
    assert_int_equal(h.path_len, 4);
    assert_memory_equal(h.path, "/a/b", 4);
    assert_int_equal(h.query_len, 5);
    assert_memory_equal(h.query, "x=1&y", 5);
    assert_int_equal(h.minor_version, 1);
    assert_int_equal(h.n_fields, 4);
    assert_int_equal(h.fields[2].value_len, 0);
    assert_int_equal(h.fields[3].value_len, 3);
    assert_memory_equal(h.fields[3].value, "v v", 3);
    assert_int_equal(h.body_kind, STET_HTTP1_BODY_LENGTH);
    assert_int_equal(h.content_length, 5);
    assert_true(h.keep_alive);
    assert_false(h.expect_continue);

    /* every proper prefix needs more bytes */
    size_t head_len = strlen(req) - 5;
    for (size_t i = 0; i < head_len; i++) assert_int_equal(stet_http1_parse_head(req, i, &h), 0);

    assert_true(parse("GET http://example.com HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h) > 0);
    assert_memory_equal(h.path, "/", 1);
    assert_int_equal(h.path_len, 1);
    assert_true(h.keep_alive);
    assert_true(parse("GET http://example.com/p?q HTTP/1.1\r\n\r\n", &h) > 0);
    assert_int_equal(h.path_len, 2);
    assert_int_equal(h.query_len, 1);
    assert_true(parse("OPTIONS * HTTP/1.1\r\n\r\n", &h) > 0);
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &h) > 0);
    assert_false(h.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &h) > 0);
    assert_false(h.keep_alive);
    assert_true(parse("PUT /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n", &h) > 0);
    assert_int_equal(h.body_kind, STET_HTTP1_BODY_CHUNKED);
    assert_true(h.expect_continue);
    assert_true(parse("GET /k\xc3\xa4se HTTP/1.1\r\n\r\n", &h) > 0);
    assert_true(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &h) > 0);
    assert_int_equal(h.body_kind, STET_HTTP1_BODY_NONE);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    static struct stet_http1_head h;
    static const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.2\r\n\r\n",
        "GET / http/1.1\r\n\r\n",
        "GET foo HTTP/1.1\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\n: x\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "\n\nGET / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], &h);
        if (rc != STET_HTTP1_EMALFORMED) fail_msg("case %zu (%s): rc=%d", i, bad[i], rc);
    }
    /* a bad request line is reported before the head is complete */
    assert_int_equal(parse("GARBAGE\r\n", &h), STET_HTTP1_EMALFORMED);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", &h), 0);

    struct stet_buf b;
    stet_buf_init(&b);
    stet_buf_append_str(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= STET_HTTP1_MAX_HEADERS; i++) stet_buf_printf(&b, "x-%d: v\r\n", i);
    stet_buf_append_str(&b, "\r\n");
    assert_int_equal(stet_http1_parse_head((const char *)b.data, b.len, &h), STET_HTTP1_ETOOMANYHEADERS);
    stet_buf_free(&b);
}

static ssize_t chunked_all(const char *in, size_t max, struct stet_buf *out, bool bytewise, bool *done)
{
    struct stet_http1_chunked c;
    stet_http1_chunked_init(&c);
    size_t len = strlen(in), used = 0;
    while (used < len && !c.done) {
        size_t n = bytewise ? 1 : len - used;
        ssize_t rc = stet_http1_chunked_decode(&c, (const uint8_t *)in + used, n, out, max);
        if (rc < 0) return rc;
        used += (size_t)rc;
    }
    *done = c.done;
    return (ssize_t)used;
}

static void test_chunked_decoder(void **state)
{
    (void)state;
    const char *body = "5\r\nhello\r\n6;name=val\r\n world\r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct stet_buf out;
        stet_buf_init(&out);
        bool done = false;
        ssize_t n = chunked_all(body, 100, &out, bytewise, &done);
        assert_true(done);
        assert_int_equal(n, (ssize_t)strlen(body) - 4);
        assert_int_equal(out.len, 21);
        assert_memory_equal(out.data, "hello world0123456789", 21);
        stet_buf_free(&out);
    }
    static const char *bad[] = {"x\r\n", "5\r\nhelloX\r\n", "5\nhello\r\n", "\r\n",
                                "11111111111111111\r\n", "0\r\n bad\r\n\r\n", "0\r\n\rX"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stet_buf out;
        stet_buf_init(&out);
        bool done = false;
        ssize_t rc = chunked_all(bad[i], 100, &out, false, &done);
        if (rc != STET_HTTP1_EMALFORMED) fail_msg("case %zu: rc=%zd", i, rc);
        stet_buf_free(&out);
    }
    struct stet_buf out;
    stet_buf_init(&out);
    bool done = false;
    assert_int_equal(chunked_all("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 9, &out, false, &done),
                     STET_HTTP1_ETOOLARGE);
    stet_buf_free(&out);
}

static void test_status_reason(void **state)
{
    (void)state;
    assert_string_equal(stet_http_status_reason(200), "OK");
    assert_string_equal(stet_http_status_reason(404), "Not Found");
    assert_string_equal(stet_http_status_reason(470), "Unknown");
}

/* Routing helpers (route.c): the one copy that admin, invocations, ingress and node use. */
static void test_route_helpers(void **state)
{
    (void)state;
    struct stet_http_request req = {.method = "GET", .method_len = 3, .path = "/health", .path_len = 7};
    assert_true(stet_http_method_is(&req, "GET"));
    assert_false(stet_http_method_is(&req, "GE"));
    assert_false(stet_http_method_is(&req, "GETS"));
    assert_false(stet_http_method_is(&req, "get")); /* methods are case-sensitive */
    assert_true(stet_http_method_is_get_or_head(&req));
    assert_true(stet_http_path_is(&req, "/health"));
    assert_false(stet_http_path_is(&req, "/health/"));
    assert_false(stet_http_path_is(&req, "/healt"));
    req.method = "HEAD";
    req.method_len = 4;
    assert_true(stet_http_method_is_get_or_head(&req));
    req.method = "POST";
    assert_false(stet_http_method_is_get_or_head(&req));
    assert_true(stet_http_method_is(&req, "POST"));

    static const struct {
        const char *path;
        int version;
        const char *rest;
    } cases[] = {
        {"/v2/query", 2, "/query"},
        {"/v4/invocations/inv_1/kill", 4, "/invocations/inv_1/kill"},
        {"/v3", 3, ""},
        {"/v1/health", 1, "/health"},
        {"/v0/x", 0, "/x"},
        {"/v02/x", 2, "/x"},
        {"/v12/x", 12, "/x"},
        {"/v99999999999/x", 100000, "/x"},
        {"/query", -1, "/query"},
        {"/v2x/query", -1, "/v2x/query"},
        {"/v/query", -1, "/v/query"},
        {"/vx", -1, "/vx"},
        {"/v", -1, "/v"},
        {"v2/x", -1, "v2/x"},
        {"", -1, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *rest = NULL;
        size_t rest_len = 0;
        int v = stet_http_path_api_version(cases[i].path, strlen(cases[i].path), &rest, &rest_len);
        if (v != cases[i].version) fail_msg("%s: version %d, want %d", cases[i].path, v, cases[i].version);
        assert_int_equal(rest_len, strlen(cases[i].rest));
        assert_memory_equal(rest, cases[i].rest, rest_len);
    }

    /* behind the admin router: served versions are stripped, others refused */
    const char *p = NULL;
    size_t n = 0;
    req.path = "/v4/query";
    req.path_len = 9;
    assert_true(stet_http_admin_path(&req, &p, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(p, "/query", 6);
    req.path = "/query";
    req.path_len = 6;
    assert_true(stet_http_admin_path(&req, &p, &n));
    assert_ptr_equal(p, req.path);
    assert_int_equal(n, 6);
    static const char *const refused[] = {"/v1/query", "/v5/query", "/v0/query"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        req.path = refused[i];
        req.path_len = strlen(refused[i]);
        p = NULL;
        assert_false(stet_http_admin_path(&req, &p, &n));
        assert_null(p);
    }
}

/* ------------------------------------------------------------------------------------------
 * Server fixture
 */

struct fx;
typedef void (*client_fn)(struct fx *fx);

struct fx {
    uv_loop_t loop;
    struct stet_http_server *server;
    uv_async_t done;
    int port;
    client_fn client;
    char fail[512];
    bool destroying;
    bool closed;
    atomic_int handled;
    atomic_int aborted;
    atomic_int aborted_before_destroy;
    atomic_int async_responded;
    int keep_fd;
    struct stet_http_stats stats; /* snapshot taken right before destroy */
};

#define CCHECK(fx, cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            if (!(fx)->fail[0])                                                                \
                snprintf((fx)->fail, sizeof((fx)->fail), "%s:%d: %s", __FILE__, __LINE__, #cond); \
            return;                                                                            \
        }                                                                                      \
    } while (0)

static void respond_echo(struct stet_http_request *req)
{
    struct stet_buf b;
    stet_buf_init(&b);
    stet_buf_append(&b, req->method, req->method_len);
    stet_buf_append_byte(&b, ' ');
    stet_buf_append(&b, req->path, req->path_len);
    if (req->query_len) {
        stet_buf_append_byte(&b, '?');
        stet_buf_append(&b, req->query, req->query_len);
    }
    stet_buf_append_byte(&b, '|');
    if (req->body_len) stet_buf_append(&b, req->body, req->body_len);
    size_t ua_len = 0;
    const char *ua = stet_http_request_header(req, "X-ECHO", &ua_len);
    if (ua) {
        stet_buf_append_byte(&b, '|');
        stet_buf_append(&b, ua, ua_len);
        const char *host = stet_http_request_header(req, "host", &ua_len);
        if (host) {
            stet_buf_append_byte(&b, '|');
            stet_buf_append(&b, host, ua_len);
        }
    }
    char proto[8];
    snprintf(proto, sizeof(proto), "%d", req->http_major);
    struct stet_http_header hs[] = {
        {"x-test", 6, "yes", 3},
        {"x-proto", 7, proto, strlen(proto)},
        {"content-type", 12, "text/plain", 10},
    };
    int rc = stet_http_respond(req, 200, hs, 3, b.data, b.len);
    STET_UNUSED(rc);
    stet_buf_free(&b);
}

struct pending {
    uv_timer_t timer;
    struct stet_http_request *req;
    struct fx *fx;
};

static void pending_on_close(uv_handle_t *h)
{
    free(h->data);
}

static void pending_on_timer(uv_timer_t *t)
{
    struct pending *p = t->data;
    if (p->req) {
        atomic_fetch_add(&p->fx->async_responded, 1);
        respond_echo(p->req);
    }
    uv_close((uv_handle_t *)t, pending_on_close);
}

static void on_abort(struct stet_http_request *req, void *arg)
{
    struct fx *fx = req->user;
    STET_UNUSED(arg);
    atomic_fetch_add(&fx->aborted, 1);
    if (!fx->destroying) atomic_fetch_add(&fx->aborted_before_destroy, 1);
}

static void pending_on_abort(struct stet_http_request *req, void *arg)
{
    struct pending *p = arg;
    p->req = NULL;
    on_abort(req, NULL);
}

static bool path_is(const struct stet_http_request *req, const char *p)
{
    return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

static void handler(void *ctx, struct stet_http_request *req)
{
    struct fx *fx = ctx;
    req->user = fx;
    atomic_fetch_add(&fx->handled, 1);
    if (path_is(req, "/async")) {
        struct pending *p = calloc(1, sizeof(*p));
        p->req = req;
        p->fx = fx;
        uv_timer_init(&fx->loop, &p->timer);
        p->timer.data = p;
        uint64_t ms = 100;
        if (req->query_len > 3 && memcmp(req->query, "ms=", 3) == 0) ms = strtoull(req->query + 3, NULL, 10);
        uv_timer_start(&p->timer, pending_on_timer, ms, 0);
        stet_http_request_on_abort(req, pending_on_abort, p);
    } else if (path_is(req, "/hang")) {
        stet_http_request_on_abort(req, on_abort, NULL);
    } else if (path_is(req, "/status470")) {
        stet_http_respond(req, 470, NULL, 0, "x", 1);
    } else if (path_is(req, "/nocontent")) {
        stet_http_respond(req, 204, NULL, 0, NULL, 0);
    } else {
        respond_echo(req);
    }
}

static void on_server_closed(void *arg)
{
    struct fx *fx = arg;
    fx->closed = true;
}

static void on_done(uv_async_t *a)
{
    struct fx *fx = a->data;
    stet_http_server_stats(fx->server, &fx->stats);
    fx->destroying = true;
    stet_http_server_destroy(fx->server, on_server_closed, fx);
    fx->server = NULL;
    uv_close((uv_handle_t *)a, NULL);
}

static void *client_thread(void *arg)
{
    struct fx *fx = arg;
    fx->client(fx);
    uv_async_send(&fx->done);
    return NULL;
}

static void default_config(struct stet_http_server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind_address = "127.0.0.1:0";
    cfg->error_format = "ingress";
}

static void run(struct fx *fx, const struct stet_http_server_config *cfg, client_fn client)
{
    memset(fx, 0, sizeof(*fx));
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    char *err = NULL;
    int rc = stet_http_server_create(&fx->loop, cfg, handler, fx, &fx->server, &err);
    if (rc != 0) fail_msg("server create: %d %s", rc, err ? err : "");
    fx->port = stet_http_server_port(fx->server);
    assert_true(fx->port > 0);
    fx->client = client;
    assert_int_equal(uv_async_init(&fx->loop, &fx->done, on_done), 0);
    fx->done.data = fx;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_thread, fx), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    assert_true(fx->closed);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    if (fx->fail[0]) fail_msg("%s", fx->fail);
}

/* ------------------------------------------------------------------------------------------
 * Blocking HTTP/1 client
 */

struct cc {
    int fd;
    char buf[1 << 17];
    size_t len;
};

struct resp {
    int status;
    char head[8192];
    char body[1 << 16];
    size_t body_len;
};

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static struct cc *cc_open(int port)
{
    struct cc *c = calloc(1, sizeof(*c));
    c->fd = tcp_connect(port);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void cc_close(struct cc *c)
{
    if (!c) return;
    close(c->fd);
    free(c);
}

static bool send_str(struct cc *c, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
        if (n <= 0) return false;
        s += n;
        len -= (size_t)n;
    }
    return true;
}
#define SEND(c, s) send_str((c), (s), strlen(s))

/* Reads one complete response (content-length framed; 1xx/204/304 and answers to HEAD
 * have no body). */
static bool read_response_ex(struct cc *c, struct resp *r, bool head_request)
{
    memset(r, 0, sizeof(*r));
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t head_len = (size_t)(end - c->buf) + 4;
            if (head_len >= sizeof(r->head)) return false;
            memcpy(r->head, c->buf, head_len);
            r->head[head_len] = 0;
            if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1) return false;
            size_t cl = 0;
            char *p = strcasestr(r->head, "\r\ncontent-length:");
            if (p) cl = strtoull(p + 17, NULL, 10);
            if (r->status < 200 || r->status == 204 || r->status == 304) cl = 0;
            if (head_request) cl = 0;
            if (c->len >= head_len + cl) {
                if (cl > sizeof(r->body)) return false;
                memcpy(r->body, c->buf + head_len, cl);
                r->body_len = cl;
                memmove(c->buf, c->buf + head_len + cl, c->len - head_len - cl);
                c->len -= head_len + cl;
                return true;
            }
        }
        if (c->len == sizeof(c->buf)) return false;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n <= 0) return false;
        c->len += (size_t)n;
    }
}

static bool read_response(struct cc *c, struct resp *r)
{
    return read_response_ex(c, r, false);
}

/* True if the server closes the connection (EOF or reset) within the receive timeout. */
static bool wait_closed(struct cc *c)
{
    char tmp[4096];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

static bool body_is(const struct resp *r, const char *s)
{
    return r->body_len == strlen(s) && memcmp(r->body, s, r->body_len) == 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool wait_atomic(atomic_int *v, int target)
{
    for (int i = 0; i < 500; i++) {
        if (atomic_load(v) >= target) return true;
        usleep(10000);
    }
    return false;
}

/* ------------------------------------------------------------------------------------------
 * HTTP/1 tests
 */

static struct resp R; /* client thread only */

static void client_get_post(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET /echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Echo: hi\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 200);
    CCHECK(fx, strncmp(R.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CCHECK(fx, body_is(&R, "GET /echo?x=1||hi|t"));
    CCHECK(fx, strstr(R.head, "x-test: yes\r\n") != NULL);
    CCHECK(fx, strstr(R.head, "x-proto: 1\r\n") != NULL);
    CCHECK(fx, strstr(R.head, "date: ") != NULL);
    CCHECK(fx, SEND(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 200);
    CCHECK(fx, body_is(&R, "POST /echo|hello"));
    CCHECK(fx, SEND(c, "GET /status470 HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, strncmp(R.head, "HTTP/1.1 470 Unknown\r\n", 22) == 0);
    CCHECK(fx, SEND(c, "GET /nocontent HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 204);
    CCHECK(fx, strcasestr(R.head, "content-length") == NULL);
    /* HEAD: content-length of the would-be body, no body bytes */
    CCHECK(fx, SEND(c, "HEAD /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response_ex(c, &R, true));
    CCHECK(fx, R.status == 200);
    CCHECK(fx, strstr(R.head, "content-length: 11\r\n") != NULL); /* "HEAD /echo|" */
    CCHECK(fx, SEND(c, "GET /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, body_is(&R, "GET /echo|")); /* no stray HEAD body before it */
    /* HTTP/1.0 without keep-alive: answered, then closed */
    CCHECK(fx, SEND(c, "GET /echo HTTP/1.0\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, strstr(R.head, "connection: close\r\n") != NULL);
    CCHECK(fx, wait_closed(c));
    cc_close(c);
}

static void test_http1_get_post(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_get_post);
}

static void client_keep_alive(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    for (int i = 0; i < 2; i++) {
        CCHECK(fx, SEND(c, "GET /echo?n HTTP/1.1\r\nHost: t\r\n\r\n"));
        CCHECK(fx, read_response(c, &R));
        CCHECK(fx, R.status == 200);
        CCHECK(fx, body_is(&R, "GET /echo?n|"));
        CCHECK(fx, strstr(R.head, "connection: close") == NULL);
    }
    /* connection: close is honoured */
    CCHECK(fx, SEND(c, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, strstr(R.head, "connection: close\r\n") != NULL);
    CCHECK(fx, wait_closed(c));
    cc_close(c);
}

static void test_http1_keep_alive(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_keep_alive);
    assert_int_equal(fx.stats.connections_total, 1);
    assert_int_equal(fx.stats.requests_total, 3);
    assert_true(fx.stats.bytes_in > 0);
    assert_true(fx.stats.bytes_out > 0);
}

static void client_pipelined(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    /* the first answer is delayed: answers must still come in request order */
    CCHECK(fx, SEND(c, "GET /async?ms=150 HTTP/1.1\r\n\r\n"
                       "POST /echo?2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /echo?3 HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, body_is(&R, "GET /async?ms=150|"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, body_is(&R, "POST /echo?2|abc"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, body_is(&R, "GET /echo?3|"));
    cc_close(c);
}

static void test_http1_pipelined(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_pipelined);
    assert_int_equal(fx.async_responded, 1);
}

static void client_chunked(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    const char *req = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
    /* in small pieces, to exercise the incremental decoder */
    for (size_t i = 0; i < strlen(req); i += 7) {
        size_t n = strlen(req) - i < 7 ? strlen(req) - i : 7;
        CCHECK(fx, send_str(c, req + i, n));
        usleep(1000);
    }
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 200);
    CCHECK(fx, body_is(&R, "POST /echo|hello world"));
    /* the connection is still usable */
    CCHECK(fx, SEND(c, "GET /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, body_is(&R, "GET /echo|"));
    cc_close(c);
}

static void test_http1_chunked(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_chunked);
}

static void client_continue(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 100);
    CCHECK(fx, strcmp(R.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
    CCHECK(fx, SEND(c, "hello"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 200);
    CCHECK(fx, body_is(&R, "POST /echo|hello"));
    cc_close(c);
}

static void test_http1_expect_continue(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_continue);
}

static void client_413(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    /* announced too large: refused before the body, and no 100 Continue */
    CCHECK(fx, SEND(c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 413);
    CCHECK(fx, strstr(R.head, "x-restate-error-source: ingress\r\n") != NULL);
    CCHECK(fx, strstr(R.head, "content-type: application/json\r\n") != NULL);
    CCHECK(fx, strstr(R.head, "connection: close\r\n") != NULL);
    CCHECK(fx, strstr(R.body, "{\"code\":413,\"message\":") == R.body);
    CCHECK(fx, strstr(R.body, "\"source\":\"ingress\"}") != NULL);
    CCHECK(fx, wait_closed(c));
    cc_close(c);

    /* at the limit is fine */
    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "POST /echo HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 200);
    cc_close(c);

    /* chunked: detected while reading */
    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 413);
    CCHECK(fx, wait_closed(c));
    cc_close(c);
}

static void test_http1_413(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.max_body_bytes = 16;
    static struct fx fx;
    run(&fx, &cfg, client_413);
    assert_int_equal(fx.handled, 1);
}

static const char *malformed[] = {
    "GARBAGE\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
};

static void client_400(struct fx *fx)
{
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        struct cc *c = cc_open(fx->port);
        CCHECK(fx, c != NULL);
        CCHECK(fx, SEND(c, malformed[i]));
        CCHECK(fx, read_response(c, &R));
        CCHECK(fx, R.status == 400);
        CCHECK(fx, strstr(R.body, "\"restate_code\":null}") != NULL); /* admin format */
        CCHECK(fx, strstr(R.head, "x-restate-error-source") == NULL);
        CCHECK(fx, wait_closed(c));
        cc_close(c);
    }
    /* a bad request line is answered without waiting for the end of the head */
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET /x HTTP/9.9\r\nHost: x\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 400);
    cc_close(c);
}

static void test_http1_400(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.error_format = "admin";
    static struct fx fx;
    run(&fx, &cfg, client_400);
    assert_int_equal(fx.handled, 0);
}

static void client_431(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    char big[3000];
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = 0;
    CCHECK(fx, SEND(c, "GET / HTTP/1.1\r\nX-Big: "));
    CCHECK(fx, SEND(c, big)); /* no end of head yet: refused once beyond the limit */
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 431);
    CCHECK(fx, wait_closed(c));
    cc_close(c);

    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET / HTTP/1.1\r\nX-Big: "));
    CCHECK(fx, send_str(c, big, 1500));
    CCHECK(fx, SEND(c, "\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 431);
    cc_close(c);
}

static void test_http1_431(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.max_header_bytes = 1024;
    static struct fx fx;
    run(&fx, &cfg, client_431);
    assert_int_equal(fx.handled, 0);
}

static void client_timeouts(struct fx *fx)
{
    /* a connection that never sends anything */
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    uint64_t t0 = now_ms();
    CCHECK(fx, wait_closed(c));
    CCHECK(fx, now_ms() - t0 >= 150);
    cc_close(c);

    /* keep-alive idle after a request */
    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 200);
    CCHECK(fx, wait_closed(c));
    cc_close(c);

    /* half-sent request: 408 */
    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    t0 = now_ms();
    CCHECK(fx, SEND(c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, R.status == 408);
    CCHECK(fx, now_ms() - t0 >= 250);
    CCHECK(fx, wait_closed(c));
    cc_close(c);
}

static void test_http1_timeouts(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.idle_timeout_ms = 200;
    cfg.request_timeout_ms = 300;
    static struct fx fx;
    run(&fx, &cfg, client_timeouts);
    assert_int_equal(fx.handled, 1);
}

static void client_max_connections(struct fx *fx)
{
    struct cc *a = cc_open(fx->port), *b = cc_open(fx->port);
    CCHECK(fx, a != NULL);
    CCHECK(fx, b != NULL);
    CCHECK(fx, SEND(a, "GET /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(a, &R));
    CCHECK(fx, SEND(b, "GET /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(b, &R));
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, wait_closed(c));
    cc_close(c);
    /* the first two still work; after one closes, a new one is accepted */
    CCHECK(fx, SEND(a, "GET /echo HTTP/1.1\r\n\r\n"));
    CCHECK(fx, read_response(a, &R));
    CCHECK(fx, R.status == 200);
    cc_close(a);
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; attempt++) {
        usleep(20000); /* until the server has seen a's EOF */
        c = cc_open(fx->port);
        CCHECK(fx, c != NULL);
        served = SEND(c, "GET /echo HTTP/1.1\r\n\r\n") && read_response(c, &R) && R.status == 200;
        cc_close(c);
    }
    CCHECK(fx, served);
    cc_close(b);
}

static void test_http1_max_connections(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.max_connections = 2;
    static struct fx fx;
    run(&fx, &cfg, client_max_connections);
    assert_true(fx.stats.connections_rejected >= 1);
    assert_int_equal(fx.stats.connections_total, 3);
}

static void client_async(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    uint64_t t0 = now_ms();
    CCHECK(fx, SEND(c, "POST /async?ms=200 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"));
    CCHECK(fx, read_response(c, &R));
    CCHECK(fx, now_ms() - t0 >= 190);
    CCHECK(fx, body_is(&R, "POST /async?ms=200|hi"));
    cc_close(c);
}

static void test_http1_async(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_async);
    assert_int_equal(fx.async_responded, 1);
    assert_int_equal(fx.aborted, 0);
}

static void client_abort(struct fx *fx)
{
    struct cc *c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET /hang HTTP/1.1\r\n\r\n"));
    CCHECK(fx, wait_atomic(&fx->handled, 1));
    cc_close(c);
    CCHECK(fx, wait_atomic(&fx->aborted, 1));
    /* an async request whose client goes away: abort, and the late timer does not respond */
    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET /async?ms=100 HTTP/1.1\r\n\r\n"));
    CCHECK(fx, wait_atomic(&fx->handled, 2));
    cc_close(c);
    CCHECK(fx, wait_atomic(&fx->aborted, 2));
    usleep(200000);
    /* pending at destroy: aborted by the destroy */
    c = cc_open(fx->port);
    CCHECK(fx, c != NULL);
    CCHECK(fx, SEND(c, "GET /hang HTTP/1.1\r\n\r\n"));
    CCHECK(fx, wait_atomic(&fx->handled, 3));
    /* kept open on purpose: closed by the test after the server is gone */
    fx->keep_fd = c->fd;
    free(c);
}

static void test_http1_abort(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_abort);
    close(fx.keep_fd);
    assert_int_equal(fx.aborted_before_destroy, 2);
    assert_int_equal(fx.aborted, 3);
    assert_int_equal(fx.async_responded, 0);
}

/* ------------------------------------------------------------------------------------------
 * h2c: a blocking nghttp2 client
 */

struct h2c_stream {
    int32_t id;
    int status;
    char body[1 << 16];
    size_t body_len;
    const char *req_body;
    size_t req_len, req_off;
    bool closed;
    uint32_t error_code;
};

struct h2c {
    int fd;
    nghttp2_session *session;
    struct h2c_stream streams[4];
    int n_streams;
    int n_closed;
    int close_order[4];
};

static ssize_t h2c_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)s;
    (void)flags;
    struct h2c *c = ud;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static struct h2c_stream *h2c_find(struct h2c *c, int32_t id)
{
    for (int i = 0; i < c->n_streams; i++)
        if (c->streams[i].id == id) return &c->streams[i];
    return NULL;
}

static int h2c_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                         const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)s;
    (void)flags;
    struct h2c_stream *st = h2c_find(ud, f->hd.stream_id);
    if (st && nl == 7 && memcmp(name, ":status", 7) == 0) st->status = atoi((const char *)value);
    (void)vl;
    return 0;
}

static int h2c_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                       void *ud)
{
    (void)s;
    (void)flags;
    struct h2c_stream *st = h2c_find(ud, id);
    if (st && st->body_len + len <= sizeof(st->body)) {
        memcpy(st->body + st->body_len, data, len);
        st->body_len += len;
    }
    return 0;
}

static int h2c_on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
    (void)s;
    struct h2c *c = ud;
    struct h2c_stream *st = h2c_find(c, id);
    if (st && !st->closed) {
        st->closed = true;
        st->error_code = error_code;
        c->close_order[c->n_closed++] = (int)(st - c->streams);
    }
    return 0;
}

static ssize_t h2c_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                             nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    struct h2c_stream *st = src->ptr;
    size_t n = st->req_len - st->req_off;
    if (n > len) n = len;
    memcpy(buf, st->req_body + st->req_off, n);
    st->req_off += n;
    if (st->req_off == st->req_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static bool h2c_open(struct h2c *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = tcp_connect(port);
    if (c->fd < 0) return false;
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, h2c_send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2c_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2c_on_close);
    nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0);
    return true;
}

static void h2c_close(struct h2c *c)
{
    nghttp2_session_del(c->session);
    close(c->fd);
}

static ssize_t h2c_read_deferred(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                                 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)buf;
    (void)len;
    (void)flags;
    (void)src;
    (void)ud;
    return NGHTTP2_ERR_DEFERRED; /* a body that never comes */
}

static struct h2c_stream *h2c_request_ex(struct h2c *c, const char *method, const char *path,
                                         const char *body, const char *extra_value, bool stall_body)
{
    struct h2c_stream *st = &c->streams[c->n_streams++];
    memset(st, 0, sizeof(*st));
    nghttp2_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"127.0.0.1", 10, 9, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"x-echo", (uint8_t *)"h2", 6, 2, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"x-big", (uint8_t *)extra_value, 5, extra_value ? strlen(extra_value) : 0,
         NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd, *p = NULL;
    if (body) {
        st->req_body = body;
        st->req_len = strlen(body);
        prd.source.ptr = st;
        prd.read_callback = h2c_read_body;
        p = &prd;
    } else if (stall_body) {
        prd.source.ptr = st;
        prd.read_callback = h2c_read_deferred;
        p = &prd;
    }
    st->id = nghttp2_submit_request(c->session, NULL, nva, extra_value ? 6 : 5, p, st);
    return st;
}

static struct h2c_stream *h2c_request(struct h2c *c, const char *method, const char *path, const char *body)
{
    return h2c_request_ex(c, method, path, body, NULL, false);
}

/* Runs the session until every submitted stream closed. */
static bool h2c_run(struct h2c *c)
{
    while (c->n_closed < c->n_streams) {
        int rv = nghttp2_session_send(c->session);
        if (rv != 0) {
            fprintf(stderr, "h2 client: send: %s\n", nghttp2_strerror(rv));
            return false;
        }
        uint8_t buf[16384];
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            fprintf(stderr, "h2 client: recv: %zd %s\n", n, strerror(errno));
            return false;
        }
        ssize_t used = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
        if (used != n) {
            fprintf(stderr, "h2 client: mem_recv: %s\n", nghttp2_strerror((int)used));
            return false;
        }
    }
    return nghttp2_session_send(c->session) == 0;
}

static bool h2_body_is(const struct h2c_stream *st, const char *s)
{
    return st->body_len == strlen(s) && memcmp(st->body, s, st->body_len) == 0;
}

static struct h2c H2C;

static void client_h2(struct fx *fx)
{
    struct h2c *c = &H2C;
    CCHECK(fx, h2c_open(c, fx->port));
    struct h2c_stream *get = h2c_request(c, "GET", "/echo?x=1", NULL);
    struct h2c_stream *post = h2c_request(c, "POST", "/echo", "hello h2");
    CCHECK(fx, get->id > 0);
    CCHECK(fx, h2c_run(c));
    CCHECK(fx, get->status == 200);
    CCHECK(fx, h2_body_is(get, "GET /echo?x=1||h2|127.0.0.1"));
    CCHECK(fx, post->status == 200);
    CCHECK(fx, h2_body_is(post, "POST /echo|hello h2|h2|127.0.0.1"));

    /* two concurrent streams on the same connection: the slow one does not block the fast */
    c->n_streams = 0;
    c->n_closed = 0;
    struct h2c_stream *slow = h2c_request(c, "GET", "/async?ms=300", NULL);
    struct h2c_stream *fast = h2c_request(c, "GET", "/echo", NULL);
    CCHECK(fx, h2c_run(c));
    CCHECK(fx, slow->status == 200);
    CCHECK(fx, fast->status == 200);
    CCHECK(fx, h2_body_is(slow, "GET /async?ms=300||h2|127.0.0.1"));
    CCHECK(fx, c->close_order[0] == 1); /* fast finished first */

    /* too large body: 413 */
    c->n_streams = 0;
    c->n_closed = 0;
    static char big[200];
    memset(big, 'b', sizeof(big) - 1);
    struct h2c_stream *large = h2c_request(c, "POST", "/echo", big);
    CCHECK(fx, h2c_run(c));
    CCHECK(fx, large->status == 413);
    CCHECK(fx, strstr(large->body, "\"code\":413") != NULL);
    h2c_close(c);
}

static void test_h2c(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.max_body_bytes = 100;
    static struct fx fx;
    run(&fx, &cfg, client_h2);
    assert_int_equal(fx.stats.connections_total, 1);
    assert_int_equal(fx.handled, 4);
}

static void client_h2_abort(struct fx *fx)
{
    struct h2c *c = &H2C;
    CCHECK(fx, h2c_open(c, fx->port));
    h2c_request(c, "GET", "/hang", NULL);
    CCHECK(fx, nghttp2_session_send(c->session) == 0);
    CCHECK(fx, wait_atomic(&fx->handled, 1));
    /* reset the stream: the handler is told */
    nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, c->streams[0].id, NGHTTP2_CANCEL);
    CCHECK(fx, nghttp2_session_send(c->session) == 0);
    CCHECK(fx, wait_atomic(&fx->aborted, 1));
    /* the connection still works */
    c->n_streams = 0;
    c->n_closed = 0;
    struct h2c_stream *st = h2c_request(c, "GET", "/echo", NULL);
    CCHECK(fx, h2c_run(c));
    CCHECK(fx, st->status == 200);
    /* then drop the whole connection with a request pending */
    c->n_streams = 0;
    h2c_request(c, "GET", "/hang", NULL);
    CCHECK(fx, nghttp2_session_send(c->session) == 0);
    CCHECK(fx, wait_atomic(&fx->handled, 3));
    h2c_close(c);
    CCHECK(fx, wait_atomic(&fx->aborted, 2));
}

static void test_h2c_abort(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_h2_abort);
    assert_int_equal(fx.aborted_before_destroy, 2);
}

static void client_h2_limits(struct fx *fx)
{
    struct h2c *c = &H2C;
    CCHECK(fx, h2c_open(c, fx->port));
    static char big[2000];
    memset(big, 'v', sizeof(big) - 1);
    struct h2c_stream *large = h2c_request_ex(c, "GET", "/echo", NULL, big, false);
    struct h2c_stream *stalled = h2c_request_ex(c, "POST", "/echo", NULL, NULL, true);
    uint64_t t0 = now_ms();
    CCHECK(fx, h2c_run(c));
    CCHECK(fx, large->status == 431);
    CCHECK(fx, stalled->status == 408);
    CCHECK(fx, now_ms() - t0 >= 250);
    CCHECK(fx, strstr(stalled->body, "\"code\":408") != NULL);
    /* idle: GOAWAY, then the server closes */
    t0 = now_ms();
    for (;;) {
        uint8_t buf[4096];
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0) break;
        CCHECK(fx, n > 0);
        CCHECK(fx, nghttp2_session_mem_recv(c->session, buf, (size_t)n) == n);
    }
    CCHECK(fx, now_ms() - t0 < 3000);
    CCHECK(fx, !nghttp2_session_want_read(c->session)); /* GOAWAY seen */
    h2c_close(c);

    /* a request pending when the server is destroyed is aborted by the destroy */
    CCHECK(fx, h2c_open(c, fx->port));
    h2c_request(c, "GET", "/hang", NULL);
    CCHECK(fx, nghttp2_session_send(c->session) == 0);
    CCHECK(fx, wait_atomic(&fx->handled, 1));
    fx->keep_fd = c->fd;
    nghttp2_session_del(c->session);
}

static void test_h2c_limits(void **state)
{
    (void)state;
    struct stet_http_server_config cfg;
    default_config(&cfg);
    cfg.max_header_bytes = 1024;
    cfg.request_timeout_ms = 300;
    cfg.idle_timeout_ms = 300;
    static struct fx fx;
    run(&fx, &cfg, client_h2_limits);
    close(fx.keep_fd);
    assert_int_equal(fx.handled, 1);
    assert_int_equal(fx.aborted, 1);
    assert_int_equal(fx.aborted_before_destroy, 0);
}

static bool curl_has_http2(void)
{
    FILE *p = popen("curl --version 2>/dev/null", "r");
    if (!p) return false;
    char line[2048];
    bool ok = false;
    while (fgets(line, sizeof(line), p))
        if (strncmp(line, "Features:", 9) == 0 && strstr(line, " HTTP2")) ok = true;
    pclose(p);
    return ok;
}

/* One URL per curl run: curl 7.88.1 (Debian 12) fails to send a second request on a reused
 * prior-knowledge connection (curl/curl#10634, fixed in 8.0). */
static void curl_once(struct fx *fx, const char *args, const char *want)
{
    char cmd[512], out[1024] = {0};
    snprintf(cmd, sizeof(cmd),
             "curl -s -m 10 --http2-prior-knowledge -w ' %%{http_code} %%{http_version}' %s", args);
    FILE *p = popen(cmd, "r");
    CCHECK(fx, p != NULL);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    pclose(p);
    out[n] = 0;
    if (strcmp(out, want) != 0) fprintf(stderr, "curl output: [%s] want [%s]\n", out, want);
    CCHECK(fx, strcmp(out, want) == 0);
}

static void client_curl(struct fx *fx)
{
    char args[256];
    snprintf(args, sizeof(args), "-H 'x-echo: curl' -d hello 'http://127.0.0.1:%d/echo?q=1'", fx->port);
    char want[128];
    snprintf(want, sizeof(want), "POST /echo?q=1|hello|curl|127.0.0.1:%d 200 2", fx->port);
    curl_once(fx, args, want);
    snprintf(args, sizeof(args), "'http://127.0.0.1:%d/async?ms=50'", fx->port);
    curl_once(fx, args, "GET /async?ms=50| 200 2");
}

static void test_h2c_curl(void **state)
{
    (void)state;
    if (!curl_has_http2()) skip();
    struct stet_http_server_config cfg;
    default_config(&cfg);
    static struct fx fx;
    run(&fx, &cfg, client_curl);
    assert_int_equal(fx.handled, 2);
}

static void test_bind_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct stet_http_server_config cfg;
    default_config(&cfg);
    struct stet_http_server *s = NULL, *s2 = NULL;
    char *err = NULL;
    cfg.bind_address = "nonsense";
    assert_int_equal(stet_http_server_create(&loop, &cfg, handler, NULL, &s, &err), -EINVAL);
    assert_non_null(err);
    free(err);
    cfg.bind_address = "127.0.0.1:0";
    assert_int_equal(stet_http_server_create(&loop, &cfg, handler, NULL, &s, &err), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", stet_http_server_port(s));
    cfg.bind_address = addr;
    int rc = stet_http_server_create(&loop, &cfg, handler, NULL, &s2, &err);
    assert_int_equal(rc, UV_EADDRINUSE);
    assert_non_null(strstr(err, "cannot listen on"));
    free(err);
    cfg.bind_address = "[::1]:0";
    if (stet_http_server_create(&loop, &cfg, handler, NULL, &s2, &err) == 0) {
        assert_true(stet_http_server_port(s2) > 0);
        stet_http_server_destroy(s2, NULL, NULL);
    } else {
        free(err); /* no IPv6 on this machine */
    }
    stet_http_server_destroy(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_chunked_decoder),
        cmocka_unit_test(test_status_reason),
        cmocka_unit_test(test_route_helpers),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_http1_get_post),
        cmocka_unit_test(test_http1_keep_alive),
        cmocka_unit_test(test_http1_pipelined),
        cmocka_unit_test(test_http1_chunked),
        cmocka_unit_test(test_http1_expect_continue),
        cmocka_unit_test(test_http1_413),
        cmocka_unit_test(test_http1_400),
        cmocka_unit_test(test_http1_431),
        cmocka_unit_test(test_http1_timeouts),
        cmocka_unit_test(test_http1_max_connections),
        cmocka_unit_test(test_http1_async),
        cmocka_unit_test(test_http1_abort),
        cmocka_unit_test(test_h2c),
        cmocka_unit_test(test_h2c_abort),
        cmocka_unit_test(test_h2c_limits),
        cmocka_unit_test(test_h2c_curl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
