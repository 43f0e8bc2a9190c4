/* Node-port streams over TCP with an HTTP/1.1 Upgrade (see transport_tcp.h).
 *
 * A stream's life: RESOLVE (getaddrinfo on the pool) -> CONNECT -> UPGRADE (request written,
 * waiting for the 101 head) -> OPEN; adopted streams start OPEN. One timer per stream bounds
 * each of the first three stages and delivers an adopted stream's early bytes after attach.
 * Memory is freed once the tcp handle and the timer are closed and no getaddrinfo is in flight
 * (a lookup cannot be interrupted once it runs: its callback frees what the stream left).
 */
#include "nodeport/transport_tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/authority.h"
#include "common/buf.h"
#include "common/log.h"
#include "http/http.h"

#define MOD "nodeport"
#define RESOLVE_TIMEOUT_MS 2000
#define CONNECT_TIMEOUT_MS 1000
#define UPGRADE_TIMEOUT_MS 2000
#define UPGRADE_HEAD_MAX 4096
#define READ_BUFFER_BYTES (64 * 1024)

enum sstate { S_RESOLVE, S_CONNECT, S_UPGRADE, S_OPEN, S_DEAD };

struct stet_np_stream {
    struct stet_np_tcp *t;
    struct stet_np_stream *prev, *next;
    enum sstate state;
    bool owner_closed; /* close() was called: no more events */
    bool gai_pending;
    bool tcp_init;
    int handles_open;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;
    const struct stet_np_stream_events *ev;
    void *user;
    char *host, *port;
    struct stet_buf in; /* the upgrade response head, or an adopted stream's early bytes */
    size_t queued;
};

struct stet_np_tcp {
    uv_loop_t *loop;
    struct stet_np_stream *streams;
    bool destroying;
    bool read_busy;
    struct stet_np_tcp_stats stats;
    char read_buffer[READ_BUFFER_BYTES];
};

static void stream_maybe_free(struct stet_np_stream *s) {
    if (s->handles_open > 0 || s->gai_pending) return;
    struct stet_np_tcp *t = s->t;
    if (s->prev) s->prev->next = s->next;
    else t->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    stet_buf_free(&s->in);
    free(s->host);
    free(s->port);
    free(s);
    if (t->destroying && t->streams == NULL) free(t);
}

static void on_handle_closed(uv_handle_t *h) {
    struct stet_np_stream *s = h->data;
    STET_ASSERT(s->handles_open > 0);
    s->handles_open--;
    stream_maybe_free(s);
}

/* Ends the stream: releases its handles and, unless the owner closed it, reports status. */
static void stream_end(struct stet_np_stream *s, int status) {
    if (s->state == S_DEAD) return;
    bool was_open = s->state == S_OPEN;
    s->state = S_DEAD;
    if (was_open) {
        STET_ASSERT(s->t->stats.open > 0);
        s->t->stats.open--;
    }
    if (s->gai_pending) uv_cancel((uv_req_t *)&s->gai);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    if (s->tcp_init) uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
    if (!s->owner_closed && s->ev && s->ev->closed) {
        s->owner_closed = true;
        s->ev->closed(s->user, status);
    }
}

static struct stet_np_stream *stream_new(struct stet_np_tcp *t) {
    struct stet_np_stream *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    s->t = t;
    s->next = t->streams;
    if (t->streams) t->streams->prev = s;
    t->streams = s;
    stet_buf_init(&s->in);
    uv_timer_init(t->loop, &s->timer);
    s->timer.data = s;
    s->handles_open = 1;
    return s;
}

static void on_timeout(uv_timer_t *h) {
    struct stet_np_stream *s = h->data;
    if (s->state == S_OPEN) { /* an adopted stream's early bytes, once attached */
        if (s->in.len > 0 && s->ev && !s->owner_closed) {
            struct stet_buf early = s->in;
            stet_buf_init(&s->in);
            s->ev->data(s->user, early.data, early.len);
            stet_buf_free(&early);
        }
        return;
    }
    stet_debug(MOD, "connection to %s:%s timed out (%s)", s->host ? s->host : "?", s->port ? s->port : "?",
               s->state == S_RESOLVE ? "resolving" : s->state == S_CONNECT ? "connecting" : "upgrading");
    s->t->stats.connect_failures++;
    stream_end(s, -ETIMEDOUT);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    STET_UNUSED(suggested);
    struct stet_np_stream *s = h->data;
    if (s->t->read_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    s->t->read_busy = true;
    buf->base = s->t->read_buffer;
    buf->len = sizeof(s->t->read_buffer);
}

static void deliver(struct stet_np_stream *s, const uint8_t *data, size_t len) {
    if (len > 0 && !s->owner_closed && s->ev) s->ev->data(s->user, data, len);
}

/* The 101 head of the upgrade response, then the stream is open. */
static void upgrade_read(struct stet_np_stream *s, const uint8_t *data, size_t len) {
    stet_buf_append(&s->in, data, len);
    const char *p = (const char *)s->in.data;
    const char *end = memmem(p, s->in.len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (s->in.len > UPGRADE_HEAD_MAX) {
            s->t->stats.connect_failures++;
            stream_end(s, -EPROTO);
        }
        return;
    }
    if (s->in.len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
        const char *eol = memchr(p, '\r', s->in.len);
        stet_warn(MOD, "%s:%s refused the node-port upgrade: %.*s (is it a Stet node port?)", s->host, s->port,
                  (int)(eol ? eol - p : 0), p);
        s->t->stats.connect_failures++;
        stream_end(s, -EPROTO);
        return;
    }
    size_t head = (size_t)(end - p) + 4;
    struct stet_buf rest = STET_BUF_INIT;
    stet_buf_append(&rest, s->in.data + head, s->in.len - head);
    stet_buf_free(&s->in);
    uv_timer_stop(&s->timer);
    s->state = S_OPEN;
    s->t->stats.open++;
    if (!s->owner_closed && s->ev && s->ev->connected) s->ev->connected(s->user, s);
    if (s->state == S_OPEN) deliver(s, rest.data, rest.len);
    stet_buf_free(&rest);
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
    struct stet_np_stream *s = h->data;
    struct stet_np_tcp *t = s->t;
    if (buf->base == t->read_buffer) t->read_busy = false;
    if (nread == 0 || s->state == S_DEAD) return;
    if (nread < 0) {
        stream_end(s, nread == UV_EOF ? -ECONNRESET : (int)nread);
        return;
    }
    t->stats.bytes_in += (uint64_t)nread;
    if (s->state == S_UPGRADE) upgrade_read(s, (const uint8_t *)buf->base, (size_t)nread);
    else if (s->state == S_OPEN) {
        if (s->ev == NULL || s->in.len > 0) { /* adopted: keep order behind the early bytes */
            stet_buf_append(&s->in, buf->base, (size_t)nread);
            if (s->ev) uv_timer_start(&s->timer, on_timeout, 0, 0);
        } else {
            deliver(s, (const uint8_t *)buf->base, (size_t)nread);
        }
    }
}

struct wreq {
    uv_write_t w;
    struct stet_np_stream *s;
    size_t len;
    uint8_t data[];
};

static void on_write(uv_write_t *w, int status) {
    struct wreq *r = (struct wreq *)w;
    struct stet_np_stream *s = r->s;
    STET_ASSERT(s->queued >= r->len);
    s->queued -= r->len;
    if (status == 0) s->t->stats.bytes_out += r->len;
    free(r);
    if (status < 0 && status != UV_ECANCELED) stream_end(s, status);
}

static int raw_write(struct stet_np_stream *s, const void *data, size_t len) {
    struct wreq *r = malloc(sizeof(*r) + len);
    STET_ASSERT(r != NULL);
    r->s = s;
    r->len = len;
    memcpy(r->data, data, len);
    uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)len);
    int rc = uv_write(&r->w, (uv_stream_t *)&s->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(r);
        return rc;
    }
    s->queued += len;
    return 0;
}

static void on_connect(uv_connect_t *req, int status) {
    struct stet_np_stream *s = req->data;
    if (s->state == S_DEAD) return;
    if (status < 0) {
        stet_debug(MOD, "cannot connect to %s:%s: %s", s->host, s->port, uv_strerror(status));
        s->t->stats.connect_failures++;
        stream_end(s, status);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    char head[1200];
    bool v6 = strchr(s->host, ':') != NULL;
    int n = snprintf(head, sizeof(head),
                     "GET " STET_NP_UPGRADE_PATH " HTTP/1.1\r\nHost: %s%s%s:%s\r\nConnection: Upgrade\r\n"
                     "Upgrade: " STET_NP_UPGRADE_TOKEN "\r\n\r\n",
                     v6 ? "[" : "", s->host, v6 ? "]" : "", s->port);
    STET_ASSERT(n > 0 && (size_t)n < sizeof(head));
    s->state = S_UPGRADE;
    uv_timer_start(&s->timer, on_timeout, UPGRADE_TIMEOUT_MS, 0);
    int rc = raw_write(s, head, (size_t)n);
    if (rc == 0) rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (rc < 0) {
        s->t->stats.connect_failures++;
        stream_end(s, rc);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct stet_np_stream *s = req->data;
    s->gai_pending = false;
    if (s->state == S_DEAD) {
        if (res) uv_freeaddrinfo(res);
        stream_maybe_free(s);
        return;
    }
    if (status < 0 || res == NULL) {
        stet_debug(MOD, "cannot resolve %s: %s", s->host, uv_strerror(status));
        if (res) uv_freeaddrinfo(res);
        s->t->stats.connect_failures++;
        stream_end(s, status < 0 ? status : -EHOSTUNREACH);
        return;
    }
    int rc = uv_tcp_init(s->t->loop, &s->tcp);
    STET_ASSERT(rc == 0);
    s->tcp.data = s;
    s->tcp_init = true;
    s->handles_open++;
    s->creq.data = s;
    s->state = S_CONNECT;
    uv_timer_start(&s->timer, on_timeout, CONNECT_TIMEOUT_MS, 0);
    rc = uv_tcp_connect(&s->creq, &s->tcp, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (rc < 0) {
        s->t->stats.connect_failures++;
        stream_end(s, rc);
    }
}

/* "http://host:port/" or "host:port" -> host, port. */
static int split_address(const char *address, char **host, char **port) {
    const char *a = address;
    if (strncmp(a, "http://", 7) == 0) a += 7;
    else if (strncmp(a, "https://", 8) == 0) return -EPROTONOSUPPORT;
    char tmp[STET_AUTHORITY_MAX + 1];
    size_t n = strcspn(a, "/");
    if (n == 0 || n > STET_AUTHORITY_MAX) return -EINVAL;
    memcpy(tmp, a, n);
    tmp[n] = '\0';
    return stet_authority_parse(tmp, host, port, NULL, 0);
}

static int tcp_connect(void *ctx, const char *address, const struct stet_np_stream_events *ev, void *user,
                       struct stet_np_stream **out) {
    struct stet_np_tcp *t = ctx;
    char *host = NULL, *port = NULL;
    int rc = split_address(address, &host, &port);
    if (rc != 0) return rc;
    struct stet_np_stream *s = stream_new(t);
    s->host = host;
    s->port = port;
    s->ev = ev;
    s->user = user;
    s->state = S_RESOLVE;
    s->gai.data = s;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    t->stats.connects++;
    rc = uv_getaddrinfo(t->loop, &s->gai, on_resolved, host, port, &hints);
    if (rc < 0) {
        s->owner_closed = true;
        stream_end(s, rc);
        return rc;
    }
    s->gai_pending = true;
    uv_timer_start(&s->timer, on_timeout, RESOLVE_TIMEOUT_MS, 0);
    *out = s;
    return 0;
}

static void tcp_attach(void *ctx, struct stet_np_stream *s, const struct stet_np_stream_events *ev, void *user) {
    STET_UNUSED(ctx);
    s->ev = ev;
    s->user = user;
    if (s->in.len > 0 && s->state == S_OPEN) uv_timer_start(&s->timer, on_timeout, 0, 0);
}

static int tcp_write(void *ctx, struct stet_np_stream *s, const uint8_t *data, size_t len) {
    STET_UNUSED(ctx);
    if (s->state != S_OPEN) return -ENOTCONN;
    int rc = raw_write(s, data, len);
    return rc < 0 ? rc : 0;
}

static size_t tcp_queued(void *ctx, const struct stet_np_stream *s) {
    STET_UNUSED(ctx);
    return s->queued;
}

static void tcp_close(void *ctx, struct stet_np_stream *s) {
    STET_UNUSED(ctx);
    s->owner_closed = true;
    stream_end(s, 0);
}

int stet_np_tcp_create(uv_loop_t *loop, struct stet_np_tcp **out) {
    struct stet_np_tcp *t = calloc(1, sizeof(*t));
    if (!t) return -ENOMEM;
    t->loop = loop;
    *out = t;
    return 0;
}

void stet_np_tcp_destroy(struct stet_np_tcp *t) {
    if (!t) return;
    t->destroying = true;
    if (t->streams == NULL) {
        free(t);
        return;
    }
    for (struct stet_np_stream *s = t->streams, *next; s; s = next) {
        next = s->next;
        s->owner_closed = true;
        stream_end(s, 0);
    }
}

struct stet_np_transport stet_np_tcp_port(struct stet_np_tcp *t) {
    return (struct stet_np_transport){.ctx = t,
                                      .connect = tcp_connect,
                                      .attach = tcp_attach,
                                      .write = tcp_write,
                                      .queued = tcp_queued,
                                      .close = tcp_close};
}

int stet_np_tcp_adopt(struct stet_np_tcp *t, int fd, const uint8_t *rest, size_t rest_len, struct stet_np_stream **out) {
    struct stet_np_stream *s = stream_new(t);
    int rc = uv_tcp_init(t->loop, &s->tcp);
    STET_ASSERT(rc == 0);
    s->tcp.data = s;
    s->tcp_init = true;
    s->handles_open++;
    rc = uv_tcp_open(&s->tcp, fd);
    if (rc < 0) {
        close(fd);
        s->owner_closed = true;
        s->state = S_UPGRADE;
        stream_end(s, rc);
        return rc;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    s->state = S_OPEN;
    t->stats.open++;
    t->stats.accepted++;
    static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " STET_NP_UPGRADE_TOKEN
                             "\r\n\r\n";
    rc = raw_write(s, ok, sizeof(ok) - 1);
    if (rc == 0) rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (rc < 0) {
        s->owner_closed = true;
        stream_end(s, rc);
        return rc;
    }
    if (rest_len > 0) stet_buf_append(&s->in, rest, rest_len);
    *out = s;
    return 0;
}

bool stet_np_tcp_is_upgrade(const struct stet_http_request *req) {
    if (!stet_http_path_is(req, STET_NP_UPGRADE_PATH) || req->http_major != 1) return false;
    size_t n = 0;
    const char *u = stet_http_request_header(req, "upgrade", &n);
    return u != NULL && n == strlen(STET_NP_UPGRADE_TOKEN) && strncasecmp(u, STET_NP_UPGRADE_TOKEN, n) == 0;
}

void stet_np_tcp_stats(const struct stet_np_tcp *t, struct stet_np_tcp_stats *out) { *out = t->stats; }
