/* A tiny blocking-free HTTP/1.1 client for unit tests that run a real stet_http_server on
 * loopback in the test's own thread (test_ingress.c, test_invocations.c): send a request on a
 * fresh connection, then poll for the content-length framed response while the test pumps its
 * loop. Header-only; every function is static inline. */
#ifndef STET_TEST_HTTP_CLIENT_H
#define STET_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"

struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
};

struct resp {
    int status;
    char head[8192];
    char body[1 << 15];
    size_t body_len;
};

/* Connects to 127.0.0.1:port and sends one request (content-length framed). */
static inline struct client *http_client_send(int port, const char *method, const char *target, const char *headers,
                                              const char *body) {
    struct client *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* the kernel completes the handshake on the listening socket; the loop accepts later */
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct stet_buf b = STET_BUF_INIT;
    size_t blen = body ? strlen(body) : 0;
    stet_buf_printf(&b, "%s %s HTTP/1.1\r\nhost: test\r\n%scontent-length: %zu\r\n\r\n", method, target,
                    headers ? headers : "", blen);
    if (blen) stet_buf_append(&b, body, blen);
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = send(c->fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        assert_true(n > 0);
        off += (size_t)n;
    }
    stet_buf_free(&b);
    return c;
}

static inline void client_close(struct client *c) {
    close(c->fd);
    free(c);
}

/* Reads what arrived; true once a whole response is in (content-length framed). */
static inline bool client_poll(struct client *c, struct resp *r) {
    for (;;) {
        if (c->len == sizeof(c->buf)) break;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
        if (n <= 0) break;
        c->len += (size_t)n;
    }
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return false;
    size_t head_len = (size_t)(end - c->buf) + 4;
    assert_true(head_len < sizeof(r->head));
    memset(r, 0, sizeof(*r));
    memcpy(r->head, c->buf, head_len);
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
    size_t cl = 0;
    char *p = strcasestr(r->head, "\r\ncontent-length:");
    if (p) cl = strtoull(p + 17, NULL, 10);
    if (c->len < head_len + cl) return false;
    assert_true(cl < sizeof(r->body));
    memcpy(r->body, c->buf + head_len, cl);
    r->body_len = cl;
    memmove(c->buf, c->buf + head_len + cl, c->len - head_len - cl);
    c->len -= head_len + cl;
    return true;
}

/* Polls while pump(arg) runs the server's loop: up to ~5 s for an answer. */
static inline void http_client_wait(struct client *c, struct resp *r, void (*pump)(void *), void *arg) {
    for (int i = 0; i < 5000; i++) {
        if (client_poll(c, r)) return;
        pump(arg);
    }
    fail_msg("no response within 5 s");
}

/* Pumps a while and checks that nothing was answered. */
static inline void http_client_expect_nothing(struct client *c, void (*pump)(void *), void *arg) {
    struct resp r;
    for (int i = 0; i < 30; i++) pump(arg);
    if (client_poll(c, &r) || c->len > 0) fail_msg("unexpected answer: %.*s", (int)c->len, c->buf);
}

#endif
