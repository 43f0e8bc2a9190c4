/* One HTTP/1.1 exchange on the caller's libuv loop (API and lifecycle in h1client.h).
 *
 * States of struct stet_h1_request and the function making each transition:
 *   KICK        start armed a 0 ms timer, so nothing (and no callback) happens inside
 *               stet_h1_request_start                                   (stet_h1_request_start)
 *   RESOLVING   IP literals skip the lookup; names go through uv_getaddrinfo and every
 *               IPv4/IPv6 address (at most H1_MAX_ADDRESSES) is kept     (kick_cb, gai_cb)
 *   CONNECTING  one address at a time; a failed connect closes the socket and, once it is
 *               closed, tries the next                         (connect_next, retry_close_cb)
 *   EXCHANGING  the whole request is written at once and the response read and fed to the
 *               parser until it is complete                      (connect_cb, read_cb)
 *   DONE        finish(): the callback (unless cancelled), then close everything
 *
 * Invariants
 *   1. The callback runs at most once, from a libuv callback, never after cancel returns.
 *   2. refs counts what can still call back into the struct: the timer and the socket until
 *      their close callbacks, the getaddrinfo request until its callback. The struct is freed
 *      when refs drops to 0 in DONE (release()).
 *   3. uv_close on the socket runs pending connect/write callbacks (UV_ECANCELED) before the
 *      close callback, so those callbacks only need to check the state.
 */
#include "h1client/h1client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "common/assert.h"
#include "common/authority.h"
#include "common/log.h"

#define H1_MAX_ADDRESSES 16
#define H1_READ_BUFFER_BYTES (16 * 1024) /* per request in flight, so kept small */
#define H1_MESSAGE_BYTES 256

enum h1_state { H1_KICK = 0, H1_RESOLVING, H1_CONNECTING, H1_EXCHANGING, H1_DONE };

struct stet_h1_request {
    uv_loop_t *loop;
    enum h1_state state;
    bool cancelled;
    bool in_cb;
    char *host;
    char *port;
    uint64_t timeout_ms;

    struct sockaddr_storage addrs[H1_MAX_ADDRESSES];
    size_t n_addrs;
    size_t next_addr;
    int last_connect_error;

    int refs;
    uv_timer_t timer; /* the kick, then the timeout */
    uv_getaddrinfo_t gai;
    bool gai_pending;
    uv_tcp_t tcp;
    bool tcp_initialized; /* until its close callback */
    bool tcp_closing;
    uv_connect_t connect_req;
    uv_write_t write_req;
    bool write_failed;
    uint64_t bytes_read;

    struct stet_buf out; /* the serialized request */
    struct stet_h1_parser parser;
    stet_h1_done_cb cb;
    void *ud;
    char rbuf[H1_READ_BUFFER_BYTES];
};

/* ---- argument checks and serialization ---- */

static bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool valid_token(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i])) return false;
    return true;
}

static bool valid_value(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f))) return false;
    }
    return true;
}

static bool valid_path(const char *s) {
    if (s[0] != '/') return false;
    for (const char *q = s; *q; q++) {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c == 0x7f) return false;
    }
    return true;
}

static bool forbidden_header(const char *name, size_t n) {
    static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection"};
    for (size_t i = 0; i < STET_ARRAY_LEN(names); i++)
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0) return true;
    return false;
}

/* ---- teardown ---- */

static void request_free(struct stet_h1_request *r) {
    STET_ASSERT(r->refs == 0);
    STET_ASSERT(r->state == H1_DONE);
    STET_ASSERT(!r->gai_pending);
    STET_ASSERT(!r->tcp_initialized);
    stet_h1_parser_free(&r->parser);
    stet_buf_free(&r->out);
    free(r->host);
    free(r->port);
    free(r);
}

static void release(struct stet_h1_request *r) {
    STET_ASSERT(r->refs > 0);
    r->refs--;
    if (r->refs == 0 && r->state == H1_DONE) request_free(r);
}

static void handle_closed_cb(uv_handle_t *h) {
    struct stet_h1_request *r = h->data;
    if (h == (uv_handle_t *)&r->tcp) {
        r->tcp_initialized = false;
        r->tcp_closing = false;
    }
    release(r);
}

static void tcp_close(struct stet_h1_request *r, uv_close_cb cb) {
    if (!r->tcp_initialized || r->tcp_closing) return;
    r->tcp_closing = true;
    uv_close((uv_handle_t *)&r->tcp, cb);
}

static void close_all(struct stet_h1_request *r) {
    STET_ASSERT(r->state == H1_DONE);
    if (r->gai_pending) uv_cancel((uv_req_t *)&r->gai); /* gai_cb still runs (UV_EAI_CANCELED) */
    tcp_close(r, handle_closed_cb);
    if (!uv_is_closing((uv_handle_t *)&r->timer)) uv_close((uv_handle_t *)&r->timer, handle_closed_cb);
}

/* Ends the exchange: error 0 with a complete parser, or an error with a message. */
static void finish(struct stet_h1_request *r, int error, const char *message) {
    STET_ASSERT(r->state != H1_DONE);
    STET_ASSERT(!r->cancelled);
    r->state = H1_DONE;
    uv_timer_stop(&r->timer);
    if (r->tcp_initialized && !r->tcp_closing) uv_read_stop((uv_stream_t *)&r->tcp);
    r->in_cb = true;
    if (error == 0) {
        struct stet_h1_response resp;
        stet_h1_parser_response(&r->parser, &resp);
        r->cb(r, 0, "", &resp, r->ud);
    } else {
        STET_ASSERT(error < 0);
        r->cb(r, error, message, NULL, r->ud);
    }
    r->in_cb = false;
    close_all(r);
}

/* "<what>: Connection refused (os error 111)" for errno codes, uv_strerror for the rest */
static void io_message(char *buf, size_t n, const char *what, int error) {
    if (error < 0 && error > -4096 && error != UV_EOF && !(error <= -3000 && error > -3100) /* UV_EAI_* */)
        snprintf(buf, n, "%s: %s (os error %d)", what, strerror(-error), -error);
    else snprintf(buf, n, "%s: %s", what, uv_strerror(error));
}

static void fail_io(struct stet_h1_request *r, const char *what, int error) {
    char message[H1_MESSAGE_BYTES];
    io_message(message, sizeof(message), what, error);
    finish(r, error, message);
}

/* ---- exchange ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    STET_UNUSED(suggested);
    struct stet_h1_request *r = h->data;
    buf->base = r->rbuf;
    buf->len = sizeof(r->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    STET_UNUSED(buf);
    struct stet_h1_request *r = s->data;
    if (r->state != H1_EXCHANGING || nread == 0) return;
    int rc;
    if (nread > 0) {
        r->bytes_read += (uint64_t)nread;
        rc = stet_h1_parser_feed(&r->parser, (const uint8_t *)r->rbuf, (size_t)nread, NULL);
        if (rc == 0) return;
    } else if (nread == UV_EOF) {
        rc = stet_h1_parser_eof(&r->parser);
    } else {
        fail_io(r, "read error", (int)nread);
        return;
    }
    if (rc == 1) finish(r, 0, "");
    else finish(r, rc, stet_h1_parser_message(&r->parser));
}

static void write_cb(uv_write_t *w, int status) {
    struct stet_h1_request *r = w->data;
    if (r->state != H1_EXCHANGING || status == 0) return;
    /* A server may answer early (e.g. 413) and close before reading the whole request: keep
     * reading if it already sent something; otherwise the write error is the outcome. */
    r->write_failed = true;
    if (r->bytes_read == 0) fail_io(r, "write error", status);
}

static void connect_next(struct stet_h1_request *r);

static void retry_close_cb(uv_handle_t *h) {
    struct stet_h1_request *r = h->data;
    r->tcp_initialized = false;
    r->tcp_closing = false;
    if (r->state == H1_CONNECTING) connect_next(r);
    release(r);
}

static void connect_cb(uv_connect_t *c, int status) {
    struct stet_h1_request *r = c->data;
    if (r->state != H1_CONNECTING) return; /* finished or cancelled: the socket is closing */
    if (status < 0) {
        r->last_connect_error = status;
        tcp_close(r, retry_close_cb);
        return;
    }
    r->state = H1_EXCHANGING;
    uv_tcp_nodelay(&r->tcp, 1);
    uv_buf_t b = uv_buf_init((char *)r->out.data, (unsigned int)r->out.len);
    r->write_req.data = r;
    int rc = uv_write(&r->write_req, (uv_stream_t *)&r->tcp, &b, 1, write_cb);
    if (rc != 0) {
        fail_io(r, "write error", rc);
        return;
    }
    rc = uv_read_start((uv_stream_t *)&r->tcp, alloc_cb, read_cb);
    if (rc != 0) fail_io(r, "read error", rc);
}

static void connect_next(struct stet_h1_request *r) {
    STET_ASSERT(r->state == H1_CONNECTING);
    STET_ASSERT(!r->tcp_initialized);
    while (r->next_addr < r->n_addrs) {
        const struct sockaddr *sa = (const struct sockaddr *)&r->addrs[r->next_addr++];
        int rc = uv_tcp_init(r->loop, &r->tcp);
        STET_ASSERT(rc == 0);
        r->tcp.data = r;
        r->tcp_initialized = true;
        r->refs++;
        r->connect_req.data = r;
        rc = uv_tcp_connect(&r->connect_req, &r->tcp, sa, connect_cb);
        if (rc == 0) return;
        r->last_connect_error = rc;
        tcp_close(r, retry_close_cb); /* tries the next address once closed */
        return;
    }
    fail_io(r, "tcp connect error", r->last_connect_error ? r->last_connect_error : UV_EADDRNOTAVAIL);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct stet_h1_request *r = req->data;
    r->gai_pending = false;
    if (r->state != H1_RESOLVING) {
        if (res) uv_freeaddrinfo(res);
        release(r);
        return;
    }
    if (status < 0) {
        char message[H1_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "dns error: failed to resolve %.100s: %s", r->host, uv_strerror(status));
        finish(r, status, message);
        release(r);
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL && r->n_addrs < H1_MAX_ADDRESSES; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        STET_ASSERT(ai->ai_addrlen <= sizeof(r->addrs[0]));
        memcpy(&r->addrs[r->n_addrs++], ai->ai_addr, ai->ai_addrlen);
    }
    uv_freeaddrinfo(res);
    r->state = H1_CONNECTING;
    connect_next(r);
    release(r);
}

static void timeout_cb(uv_timer_t *t) {
    struct stet_h1_request *r = t->data;
    STET_ASSERT(r->state != H1_DONE);
    char message[H1_MESSAGE_BYTES];
    snprintf(message, sizeof(message), "timeout: no complete response within %llu ms",
             (unsigned long long)r->timeout_ms);
    finish(r, -ETIMEDOUT, message);
}

static void kick_cb(uv_timer_t *t) {
    struct stet_h1_request *r = t->data;
    STET_ASSERT(r->state == H1_KICK);
    if (r->timeout_ms > 0) uv_timer_start(&r->timer, timeout_cb, r->timeout_ms, 0);
    r->state = H1_RESOLVING;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    int port = atoi(r->port);
    if (uv_ip4_addr(r->host, port, &a4) == 0) {
        memcpy(&r->addrs[0], &a4, sizeof(a4));
        r->n_addrs = 1;
    } else if (uv_ip6_addr(r->host, port, &a6) == 0) {
        memcpy(&r->addrs[0], &a6, sizeof(a6));
        r->n_addrs = 1;
    }
    if (r->n_addrs > 0) {
        r->state = H1_CONNECTING;
        connect_next(r);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_ADDRCONFIG;
    r->gai.data = r;
    int rc = uv_getaddrinfo(r->loop, &r->gai, gai_cb, r->host, r->port, &hints);
    if (rc < 0) {
        char message[H1_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "dns error: failed to resolve %.100s: %s", r->host, uv_strerror(rc));
        finish(r, rc, message);
        return;
    }
    r->gai_pending = true;
    r->refs++;
}

/* ---- API ---- */

int stet_h1_request_start(uv_loop_t *loop, const char *authority, const char *method, const char *path,
                          const struct stet_h1_header *headers, size_t n_headers, const void *body, size_t body_len,
                          const struct stet_h1_options *opts, stet_h1_done_cb cb, void *ud,
                          struct stet_h1_request **out) {
    STET_ASSERT(loop != NULL);
    STET_ASSERT(out != NULL);
    if (cb == NULL || authority == NULL || method == NULL || path == NULL) return -EINVAL;
    if (!valid_token(method, strlen(method)) || !valid_path(path)) return -EINVAL;
    if (body == NULL && body_len > 0) return -EINVAL;
    if (n_headers > 0 && headers == NULL) return -EINVAL;
    for (size_t i = 0; i < n_headers; i++) {
        if (!valid_token(headers[i].name, headers[i].name_len)) return -EINVAL;
        if (forbidden_header(headers[i].name, headers[i].name_len)) return -EINVAL;
        if (headers[i].value_len > 0 && headers[i].value == NULL) return -EINVAL;
        if (!valid_value(headers[i].value, headers[i].value_len)) return -EINVAL;
    }
    char *host = NULL, *port = NULL;
    char why[256];
    if (stet_authority_parse(authority, &host, &port, why, sizeof(why)) != 0) {
        stet_warn("h1client", "%s", why);
        return -EINVAL;
    }

    struct stet_h1_request *r = calloc(1, sizeof(*r));
    STET_ASSERT(r != NULL);
    r->loop = loop;
    r->state = H1_KICK;
    r->host = host;
    r->port = port;
    r->cb = cb;
    r->ud = ud;
    r->timeout_ms = opts ? opts->timeout_ms : 0;
    bool head_request = strcmp(method, "HEAD") == 0;
    stet_h1_parser_init(&r->parser, opts ? opts->max_response_bytes : 0, head_request);

    stet_buf_init(&r->out);
    stet_buf_reserve(&r->out, 256 + body_len);
    stet_buf_printf(&r->out, "%s %s HTTP/1.1\r\nhost: %s\r\n", method, path, authority);
    for (size_t i = 0; i < n_headers; i++) {
        stet_buf_append(&r->out, headers[i].name, headers[i].name_len);
        stet_buf_append(&r->out, ": ", 2);
        stet_buf_append(&r->out, headers[i].value, headers[i].value_len);
        stet_buf_append(&r->out, "\r\n", 2);
    }
    if (body_len > 0 || !(strcmp(method, "GET") == 0 || head_request))
        stet_buf_printf(&r->out, "content-length: %zu\r\n", body_len);
    stet_buf_append_str(&r->out, "connection: close\r\n\r\n");
    stet_buf_append(&r->out, body, body_len);

    int rc = uv_timer_init(loop, &r->timer);
    STET_ASSERT(rc == 0);
    r->timer.data = r;
    r->refs = 1; /* the timer */
    uv_timer_start(&r->timer, kick_cb, 0, 0);
    *out = r;
    return 0;
}

void stet_h1_request_cancel(struct stet_h1_request *r) {
    if (r->in_cb) return;
    STET_ASSERT(r->state != H1_DONE); /* after the callback returned, r is gone */
    STET_ASSERT(!r->cancelled);
    r->cancelled = true;
    r->state = H1_DONE;
    uv_timer_stop(&r->timer);
    close_all(r);
}

uint8_t *stet_h1_request_take_body(struct stet_h1_request *r, size_t *len) {
    STET_ASSERT(r->in_cb);
    return stet_h1_parser_take_body(&r->parser, len);
}
