/* Tests for src/h1client: the pure HTTP/1.1 response parser and the libuv client.
 *
 * Part 1 drives stet_h1_parser directly: framings (content-length, chunked with extensions
 * and trailers, EOF-delimited, none for HEAD/204/304), interim 1xx responses, strictness
 * (every rejected form listed in h1client.h), limits, and the same result whether a
 * response arrives at once or one byte at a time.
 *
 * Part 2 runs the client against a test server in this file: a uv TCP listener on
 * 127.0.0.1:0 on the same loop, which reads one request (head + content-length body), keeps
 * a copy, and answers with fixed byte sequences chosen by the request path:
 *   /cl          content-length body, connection left open (completion must not wait for EOF)
 *   /chunked     chunked body in three writes 10 ms apart, with extension and trailer
 *   /eof         no framing: body until the server closes
 *   /continue    "100 Continue", 20 ms later the real answer
 *   /malformed   a bad status line, connection left open
 *   /toolarge    content-length above the client's limit
 *   /toolarge-eof  EOF-delimited body growing past the limit
 *   /slow        never answers
 *   /echo, /invoke/...  200 with the request body as body and x-got = request header x-test
 *   /big         2 MiB chunked body in 64 KiB chunks
 *   /close       closes the connection without answering
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
#include <strings.h>

#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "h1client/h1client.h"

/* ==== part 1: the parser ================================================================ */

/* Parses s at once; returns the result and leaves p initialized (caller frees). */
static int parse(struct stet_h1_parser *p, const char *s, bool eof, size_t max) {
    int rc = stet_h1_parse_response(p, (const uint8_t *)s, strlen(s), eof, max);
    stet_h1_parser_check(p);
    return rc;
}

/* Parses s one byte at a time, then eof if asked; checks that the result matches the
 * one-shot parse (status, headers, body, error). */
static int parse_bytewise_same(const char *s, bool eof, size_t max) {
    struct stet_h1_parser a, b;
    int ra = parse(&a, s, eof, max);
    stet_h1_parser_init(&b, max, false);
    int rb = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len && rb == 0; i++) {
        size_t used = 0;
        rb = stet_h1_parser_feed(&b, (const uint8_t *)s + i, 1, &used);
        stet_h1_parser_check(&b);
        assert_true(used <= 1);
    }
    if (rb == 0 && eof) rb = stet_h1_parser_eof(&b);
    assert_int_equal(ra, rb);
    if (ra == 1) {
        struct stet_h1_response x, y;
        stet_h1_parser_response(&a, &x);
        stet_h1_parser_response(&b, &y);
        assert_int_equal(x.status, y.status);
        assert_int_equal(x.n_headers, y.n_headers);
        for (size_t i = 0; i < x.n_headers; i++) {
            assert_string_equal(x.headers[i].name, y.headers[i].name);
            assert_string_equal(x.headers[i].value, y.headers[i].value);
        }
        assert_int_equal(x.body_len, y.body_len);
        assert_memory_equal(x.body, y.body, x.body_len);
    } else if (ra < 0) {
        assert_string_equal(stet_h1_parser_message(&a), stet_h1_parser_message(&b));
    }
    stet_h1_parser_free(&a);
    stet_h1_parser_free(&b);
    return ra;
}

static void test_parse_content_length(void **state) {
    (void)state;
    struct stet_h1_parser p;
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Type: application/x\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(parse(&p, cl, false, 1 << 20), 1);
    struct stet_h1_response r;
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.n_headers, 2);
    assert_string_equal(r.headers[0].name, "content-type");
    assert_int_equal(r.headers[0].name_len, 12);
    assert_string_equal(r.headers[0].value, "application/x");
    assert_int_equal(r.headers[0].value_len, 13);
    assert_string_equal(stet_h1_response_header(&r, "content-length"), "5");
    assert_null(stet_h1_response_header(&r, "content"));
    assert_int_equal(r.body_len, 5);
    assert_string_equal((const char *)r.body, "hello"); /* NUL-terminated */
    size_t len = 0;
    uint8_t *body = stet_h1_parser_take_body(&p, &len);
    assert_int_equal(len, 5);
    assert_string_equal((const char *)body, "hello");
    free(body);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.body_len, 0);
    stet_h1_parser_free(&p);
    /* bytes after the response are not consumed */
    stet_h1_parser_init(&p, 0, false);
    const char *two = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n";
    size_t used = 0;
    assert_int_equal(stet_h1_parser_feed(&p, (const uint8_t *)two, strlen(two), &used), 1);
    assert_int_equal(used, 27);
    assert_int_equal(stet_h1_parser_feed(&p, (const uint8_t *)two, strlen(two), &used), 1);
    assert_int_equal(used, 0);
    stet_h1_parser_free(&p);
    /* incomplete, then truncated by EOF */
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false, 100), 0);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true, 100), -EBADMSG);
    assert_int_equal(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true, 100), -EBADMSG);
    assert_string_equal(stet_h1_parser_message(&p),
                        "malformed response: connection closed before the body was complete (2 bytes missing)");
    stet_h1_parser_free(&p);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nCont", false, 100), 0);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nCont", true, 100), -EBADMSG);
    assert_int_equal(parse(&p, "", true, 100), -EBADMSG);
    assert_string_equal(stet_h1_parser_message(&p), "malformed response: connection closed before any response bytes");
    stet_h1_parser_free(&p);
    /* the same content-length twice is fine, different ones are not */
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", false,
                                         100),
                     1);
    assert_int_equal(
        parse_bytewise_same("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\nok", false, 100),
        -EBADMSG);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 100), 1);
}

static void test_parse_chunked(void **state) {
    (void)state;
    struct stet_h1_parser p;
    struct stet_h1_response r;
    /* chunked with extension and trailer, after a 100 Continue */
    const char *ch = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4;x=y\r\nWiki\r\n5 ; a\r\npedia\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\nX-U:\r\n\r\n";
    assert_int_equal(parse(&p, ch, false, 100), 1);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.n_headers, 1);
    assert_int_equal(r.body_len, 19);
    assert_memory_equal(r.body, "Wikipedia0123456789", 19);
    stet_h1_parser_free(&p);
    assert_int_equal(parse_bytewise_same(ch, false, 100), 1);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n", false, 100),
                     1);
    /* incomplete, truncated, malformed */
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWi", false, 100), 0);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWi", true, 100),
                     -EBADMSG);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", true, 100),
                     -EBADMSG);
    const char *bad[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",              /* not hex */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",                /* no digits */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\nWiki\r\n",         /* bare LF */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWikiX\r\n",      /* no CRLF after data */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;\x01\r\nWiki\r\n",  /* CTL in extension */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\r",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", /* overflows */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_bytewise_same(bad[i], false, 100) != -EBADMSG) fail_msg("accepted: %s", bad[i]);
    }
    /* chunk size line bound */
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_str(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    for (int i = 0; i < STET_H1_CHUNK_LINE_MAX; i++) stet_buf_append_byte(&b, 'x');
    assert_int_equal(stet_h1_parse_response(&p, b.data, b.len, false, 100), -EBADMSG);
    assert_string_equal(stet_h1_parser_message(&p), "malformed response: chunk size line too long");
    stet_h1_parser_free(&p);
    stet_buf_free(&b);
    /* body limit */
    assert_int_equal(parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n", false, 5),
                     -EMSGSIZE);
    assert_string_equal(stet_h1_parser_message(&p), "response too large: chunked body above the limit of 5 bytes");
    stet_h1_parser_free(&p);
    assert_int_equal(
        parse_bytewise_same("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                            false, 5),
        1);
}

static void test_parse_eof_and_no_body(void **state) {
    (void)state;
    struct stet_h1_parser p;
    struct stet_h1_response r;
    assert_int_equal(parse_bytewise_same("HTTP/1.0 404 Not Found\r\n\r\nnope", false, 100), 0);
    assert_int_equal(parse(&p, "HTTP/1.0 404 Not Found\r\n\r\nnope", true, 100), 1);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.body_len, 4);
    stet_h1_parser_free(&p);
    assert_int_equal(parse_bytewise_same("HTTP/1.0 404 Not Found\r\n\r\nnope", true, 100), 1);
    assert_int_equal(parse(&p, "HTTP/1.1 200 OK\r\n\r\n0123456789", false, 5), -EMSGSIZE);
    stet_h1_parser_free(&p);
    /* 204 and 304 have no body, whatever the headers say */
    assert_int_equal(parse(&p, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false, 100), 1);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.body_len, 0);
    assert_non_null(r.body);
    stet_h1_parser_free(&p);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 304 Not Modified\r\n\r\n", false, 100), 1);
    /* HEAD: content-length describes the GET answer */
    stet_h1_parser_init(&p, 100, true /* head_request */);
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(stet_h1_parser_feed(&p, (const uint8_t *)h, strlen(h), NULL), 1);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.body_len, 0);
    stet_h1_parser_free(&p);
}

static void test_parse_head_strictness(void **state) {
    (void)state;
    struct stet_h1_parser p;
    struct stet_h1_response r;
    /* accepted forms */
    assert_int_equal(parse(&p, "HTTP/1.1 200\r\nX-A:  v  w \t\r\nx-b:\r\n\r\n", true, 100), 1);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.n_headers, 2);
    assert_string_equal(r.headers[0].name, "x-a");
    assert_string_equal(r.headers[0].value, "v  w");
    assert_string_equal(r.headers[1].value, "");
    stet_h1_parser_free(&p);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 599 Whatever \xc3\xa9\t!\r\n\r\n", true, 100), 1);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 200 \r\n\r\n", true, 100), 1);
    assert_int_equal(parse_bytewise_same("HTTP/1.1 999 x\r\n\r\n", true, 100), 1);
    const char *bad[] = {
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\nX: 1\r\n\r\n",             /* bare LF in the status line */
        "HTTP/1.1 200 OK\r\nX: 1\rY: 2\r\n\r\n",      /* bare CR */
        "HTTP/1.1 200 OK\r\nX: 1\nY: 2\r\n\r\n",      /* bare LF */
        "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : 1\r\n\r\n",           /* space before the colon */
        "HTTP/1.1 200 OK\r\n: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n", /* obs-fold */
        "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_bytewise_same(bad[i], true, 100) != -EBADMSG) fail_msg("accepted: %s", bad[i]);
    }
    /* garbage fails before a whole head arrives */
    assert_int_equal(parse(&p, "SSH-2.0-OpenSSH", false, 100), -EBADMSG);
    assert_string_equal(stet_h1_parser_message(&p), "malformed response: bad status line");
    stet_h1_parser_free(&p);
    /* limits: header count, head size, interim responses */
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_str(&b, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < STET_H1_MAX_HEADERS; i++) stet_buf_printf(&b, "x-%d: %d\r\n", i, i);
    stet_buf_append_str(&b, "content-length: 0\r\n\r\n");
    assert_int_equal(stet_h1_parse_response(&p, b.data, b.len, false, 100), -EBADMSG);
    stet_h1_parser_check(&p);
    assert_string_equal(stet_h1_parser_message(&p), "malformed response: more than 128 header fields");
    stet_h1_parser_free(&p);
    stet_buf_reset(&b);
    stet_buf_append_str(&b, "HTTP/1.1 200 OK\r\nx: ");
    while (b.len < STET_H1_MAX_HEAD_BYTES + 10) stet_buf_append_byte(&b, 'a');
    assert_int_equal(stet_h1_parse_response(&p, b.data, b.len, false, 100), -EMSGSIZE);
    stet_h1_parser_check(&p);
    assert_string_equal(stet_h1_parser_message(&p), "response too large: response head above 65536 bytes");
    stet_h1_parser_free(&p);
    stet_buf_reset(&b);
    for (int i = 0; i < STET_H1_MAX_INTERIM; i++) stet_buf_append_str(&b, "HTTP/1.1 100 Continue\r\n\r\n");
    stet_buf_append_str(&b, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    assert_int_equal(stet_h1_parse_response(&p, b.data, b.len, false, 100), -EBADMSG);
    stet_h1_parser_check(&p);
    assert_string_equal(stet_h1_parser_message(&p), "malformed response: more than 16 interim (1xx) responses");
    stet_h1_parser_free(&p);
    b.len -= strlen("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    stet_buf_append_str(&b, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    assert_int_equal(stet_h1_parse_response(&p, b.data, b.len, false, 100), 1);
    stet_h1_parser_response(&p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.n_headers, 1);
    stet_h1_parser_free(&p);
    stet_buf_free(&b);
    /* errors are sticky */
    assert_int_equal(parse(&p, "HTTP/1.1 2x0 OK\r\n\r\n", false, 100), -EBADMSG);
    assert_int_equal(stet_h1_parser_feed(&p, (const uint8_t *)"more", 4, NULL), -EBADMSG);
    assert_int_equal(stet_h1_parser_eof(&p), -EBADMSG);
    stet_h1_parser_free(&p);
}

/* ==== part 2: the client against a test server ========================================== */

struct ts_server;

struct ts_conn {
    struct ts_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int open_handles;
    bool closing;
    bool answered;
    struct stet_buf in;
    char path[64];
    int step; /* next part of a multi-part answer */
};

struct ts_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int accepted;
    int closed;
    int requests;
    struct stet_buf last_request; /* head + body of the last complete request */
};

struct fixture {
    uv_loop_t loop;
    struct ts_server srv;
};

static struct fixture *F;

static void ts_conn_handle_closed(uv_handle_t *h) {
    struct ts_conn *c = h->data;
    if (--c->open_handles > 0) return;
    c->srv->closed++;
    stet_buf_free(&c->in);
    free(c);
}

static void ts_conn_close(struct ts_conn *c) {
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, ts_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, ts_conn_handle_closed);
}

struct ts_write {
    uv_write_t req;
    struct ts_conn *conn;
    bool close_after;
    char data[];
};

static void ts_write_cb(uv_write_t *w, int status) {
    struct ts_write *tw = (struct ts_write *)w;
    (void)status;
    if (tw->close_after) ts_conn_close(tw->conn);
    free(tw);
}

static void ts_send(struct ts_conn *c, const void *data, size_t len, bool close_after) {
    if (c->closing) return;
    struct ts_write *tw = malloc(sizeof(*tw) + len);
    assert_non_null(tw);
    memcpy(tw->data, data, len);
    tw->conn = c;
    tw->close_after = close_after;
    uv_buf_t b = uv_buf_init(tw->data, (unsigned)len);
    if (uv_write(&tw->req, (uv_stream_t *)&c->tcp, &b, 1, ts_write_cb) != 0) {
        free(tw);
        ts_conn_close(c);
    }
}

static void ts_send_str(struct ts_conn *c, const char *s, bool close_after) { ts_send(c, s, strlen(s), close_after); }

/* multi-part answers: part `step` of the route, the next one 10-20 ms later */
static void ts_timer_cb(uv_timer_t *t) {
    struct ts_conn *c = t->data;
    if (c->closing) return;
    int step = c->step++;
    if (strcmp(c->path, "/chunked") == 0) {
        static const char *const parts[] = {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n4;ext=1\r\nWiki\r",
            "\n5\r\npedia\r\n",
            "0\r\nX-Trailer: yes\r\n\r\n",
        };
        ts_send_str(c, parts[step], false);
        if (step < 2) uv_timer_start(&c->timer, ts_timer_cb, 10, 0);
    } else if (strcmp(c->path, "/continue") == 0) {
        if (step == 0) {
            ts_send_str(c, "HTTP/1.1 100 Continue\r\n\r\n", false);
            uv_timer_start(&c->timer, ts_timer_cb, 20, 0);
        } else {
            ts_send_str(c, "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone", false);
        }
    } else if (strcmp(c->path, "/toolarge-eof") == 0) {
        char chunk[1024];
        memset(chunk, 'z', sizeof(chunk));
        if (step == 0) ts_send_str(c, "HTTP/1.1 200 OK\r\n\r\n", false);
        ts_send(c, chunk, sizeof(chunk), false);
        if (step < 64) uv_timer_start(&c->timer, ts_timer_cb, 1, 0);
    }
}

static const char *find_header(const char *head, const char *name) {
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') return p + 3 + n;
    }
    return NULL;
}

static void ts_dispatch(struct ts_conn *c, const char *head, const uint8_t *body, size_t body_len) {
    const char *p = c->path;
    if (strcmp(p, "/cl") == 0) {
        ts_send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", false);
    } else if (strcmp(p, "/eof") == 0) {
        ts_send_str(c, "HTTP/1.0 200 OK\r\nX-Mode: eof\r\n\r\nuntil the end", true);
    } else if (strcmp(p, "/malformed") == 0) {
        ts_send_str(c, "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", false);
    } else if (strcmp(p, "/toolarge") == 0) {
        ts_send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", false);
    } else if (strcmp(p, "/close") == 0) {
        ts_conn_close(c);
    } else if (strcmp(p, "/slow") == 0) {
        /* never answers */
    } else if (strcmp(p, "/echo") == 0 || strncmp(p, "/invoke/", 8) == 0) {
        struct stet_buf out = STET_BUF_INIT;
        const char *xt = find_header(head, "x-test");
        size_t xl = xt ? strcspn(xt, "\r") : 0;
        while (xl > 0 && *xt == ' ') { xt++; xl--; }
        stet_buf_printf(&out, "HTTP/1.1 200 OK\r\nx-got: %.*s\r\nContent-Length: %zu\r\n\r\n", (int)xl, xt ? xt : "",
                        body_len);
        stet_buf_append(&out, body, body_len);
        ts_send(c, out.data, out.len, false);
        stet_buf_free(&out);
    } else if (strcmp(p, "/big") == 0) {
        struct stet_buf out = STET_BUF_INIT;
        stet_buf_append_str(&out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0; off < 2u * 1024 * 1024; off += 65536) {
            stet_buf_printf(&out, "%x\r\n", 65536);
            for (size_t i = 0; i < 65536; i++) stet_buf_append_byte(&out, (uint8_t)((off + i) * 7 + ((off + i) >> 10)));
            stet_buf_append_str(&out, "\r\n");
        }
        stet_buf_append_str(&out, "0\r\n\r\n");
        ts_send(c, out.data, out.len, true);
        stet_buf_free(&out);
    } else if (strcmp(p, "/chunked") == 0 || strcmp(p, "/continue") == 0 || strcmp(p, "/toolarge-eof") == 0) {
        ts_timer_cb(&c->timer);
    } else {
        ts_send_str(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false);
    }
}

static void ts_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = malloc(suggested);
    buf->len = suggested;
}

static void ts_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    struct ts_conn *c = s->data;
    if (nread > 0) stet_buf_append(&c->in, buf->base, (size_t)nread);
    free(buf->base);
    if (nread < 0) {
        ts_conn_close(c);
        return;
    }
    if (c->answered || c->in.len < 4) return;
    const uint8_t *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
    if (end == NULL) return;
    size_t head_len = (size_t)(end - c->in.data) + 4;
    stet_buf_append_byte(&c->in, 0); /* NUL for the string functions, then dropped */
    c->in.len--;
    const char *head = (const char *)c->in.data;
    const char *cl = find_header(head, "content-length");
    size_t body_len = cl && cl < head + head_len ? strtoul(cl, NULL, 10) : 0;
    if (c->in.len < head_len + body_len) return;
    c->answered = true;
    c->srv->requests++;
    stet_buf_reset(&c->srv->last_request);
    stet_buf_append(&c->srv->last_request, c->in.data, head_len + body_len);
    stet_buf_append_byte(&c->srv->last_request, 0);
    c->srv->last_request.len--;
    const char *sp = strchr(head, ' ');
    size_t pl = sp ? strcspn(sp + 1, " ") : 0;
    snprintf(c->path, sizeof(c->path), "%.*s", (int)pl, sp ? sp + 1 : "");
    ts_dispatch(c, head, c->in.data + head_len, body_len);
}

static void ts_on_connection(uv_stream_t *l, int status) {
    struct ts_server *srv = l->data;
    assert_int_equal(status, 0);
    struct ts_conn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    srv->accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, ts_alloc, ts_read_cb);
}

static int setup(void **state) {
    (void)state;
    F = calloc(1, sizeof(*F));
    assert_non_null(F);
    uv_loop_init(&F->loop);
    F->srv.loop = &F->loop;
    uv_tcp_init(&F->loop, &F->srv.listener);
    F->srv.listener.data = &F->srv;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&F->srv.listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&F->srv.listener, 64, ts_on_connection), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&F->srv.listener, (struct sockaddr *)&ss, &len);
    F->srv.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static void set_flag_cb(uv_handle_t *h) { *(bool *)h->data = true; }

/* Closes a handle that lives on the test's stack and waits for its close callback. */
static void close_and_wait(uv_handle_t *h) {
    bool closed = false;
    h->data = &closed;
    uv_close(h, set_flag_cb);
    while (!closed) uv_run(&F->loop, UV_RUN_ONCE);
}

static void walk_count(uv_handle_t *h, void *arg) {
    (void)h;
    (*(int *)arg)++;
}

/* Closes the listener and runs the loop until every handle (client and server) is closed:
 * uv_loop_close succeeds only if the client released everything it opened. */
static int teardown(void **state) {
    (void)state;
    uv_close((uv_handle_t *)&F->srv.listener, NULL);
    uv_run(&F->loop, UV_RUN_DEFAULT);
    int handles = 0;
    uv_walk(&F->loop, walk_count, &handles);
    assert_int_equal(handles, 0);
    assert_int_equal(uv_loop_close(&F->loop), 0);
    assert_int_equal(F->srv.accepted, F->srv.closed);
    stet_buf_free(&F->srv.last_request);
    free(F);
    F = NULL;
    return 0;
}

struct rec {
    int calls;
    bool started; /* set after stet_h1_request_start returned */
    bool called_during_start;
    int error;
    char message[256];
    int status;
    struct stet_buf headers; /* "name: value\n" lines */
    struct stet_buf body;
    bool take_body;
};

static void rec_free(struct rec *r) {
    stet_buf_free(&r->headers);
    stet_buf_free(&r->body);
}

static void done_cb(struct stet_h1_request *req, int error, const char *message, const struct stet_h1_response *resp,
                    void *ud) {
    struct rec *r = ud;
    r->calls++;
    if (!r->started) r->called_during_start = true;
    r->error = error;
    snprintf(r->message, sizeof(r->message), "%s", message);
    stet_h1_request_cancel(req); /* a no-op from inside the callback */
    if (error != 0) {
        r->status = resp == NULL ? -1 : -2;
        return;
    }
    r->status = resp->status;
    for (size_t i = 0; i < resp->n_headers; i++)
        stet_buf_printf(&r->headers, "%s: %s\n", resp->headers[i].name, resp->headers[i].value);
    stet_buf_append_byte(&r->headers, 0);
    r->headers.len--;
    if (r->take_body) {
        size_t len = 0;
        uint8_t *b = stet_h1_request_take_body(req, &len);
        r->body = (struct stet_buf){b, len, len + 1};
    } else {
        stet_buf_append(&r->body, resp->body, resp->body_len);
    }
    stet_buf_append_byte(&r->body, 0);
    r->body.len--;
}

static int start(struct rec *r, const char *authority, const char *method, const char *path,
                 const struct stet_h1_header *h, size_t n, const void *body, size_t body_len,
                 const struct stet_h1_options *opts, struct stet_h1_request **out) {
    memset(r, 0, sizeof(*r));
    struct stet_h1_request *req = NULL;
    int rc = stet_h1_request_start(&F->loop, authority, method, path, h, n, body, body_len, opts, done_cb, r, &req);
    r->started = true;
    if (out) *out = req;
    return rc;
}

static void run_until_called(struct rec *r) {
    uint64_t t0 = uv_now(&F->loop);
    while (r->calls == 0) {
        uv_run(&F->loop, UV_RUN_ONCE);
        uv_update_time(&F->loop);
        if (uv_now(&F->loop) - t0 > 10000) fail_msg("no callback within 10 s");
    }
    assert_int_equal(r->calls, 1);
    assert_false(r->called_during_start);
}

static char *local(const char *host) {
    static char a[64];
    snprintf(a, sizeof(a), "%s:%d", host, F->srv.port);
    return a;
}

static void test_content_length(void **state) {
    (void)state;
    struct rec r;
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/cl", NULL, 0, NULL, 0, NULL, NULL), 0);
    assert_int_equal(r.calls, 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.message, "");
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.headers.data, "content-type: text/plain\ncontent-length: 5\n");
    assert_string_equal((const char *)r.body.data, "hello");
    /* the request as sent */
    char expect[256];
    snprintf(expect, sizeof(expect), "GET /cl HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nconnection: close\r\n\r\n",
             F->srv.port);
    assert_string_equal((const char *)F->srv.last_request.data, expect);
    rec_free(&r);
}

static void test_post_echo(void **state) {
    (void)state;
    struct rec r;
    struct stet_h1_header h[] = {
        {"content-type", 12, "application/vnd.restate.invocation.v5", 37},
        {"x-test", 6, "hello world", 11},
    };
    static const char body[] = "\x00\x00\x00\x00\x00\x00\x00\x05start";
    assert_int_equal(start(&r, local("127.0.0.1"), "POST", "/invoke/Greeter/greet", h, 2, body, sizeof(body) - 1,
                           NULL, NULL),
                     0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr((const char *)r.headers.data, "x-got: hello world\n"));
    assert_int_equal(r.body.len, sizeof(body) - 1);
    assert_memory_equal(r.body.data, body, sizeof(body) - 1);
    char head[512];
    snprintf(head, sizeof(head),
             "POST /invoke/Greeter/greet HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: "
             "application/vnd.restate.invocation.v5\r\nx-test: hello world\r\ncontent-length: 13\r\nconnection: "
             "close\r\n\r\n",
             F->srv.port);
    assert_int_equal(F->srv.last_request.len, strlen(head) + 13);
    assert_memory_equal(F->srv.last_request.data, head, strlen(head));
    rec_free(&r);
    /* an empty POST still says content-length: 0 */
    assert_int_equal(start(&r, local("127.0.0.1"), "POST", "/echo", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body.len, 0);
    assert_non_null(strstr((const char *)F->srv.last_request.data, "\r\ncontent-length: 0\r\n"));
    rec_free(&r);
}

static void test_large_bodies(void **state) {
    (void)state;
    struct rec r;
    /* 3 MiB request body echoed back; the body is taken out of the callback */
    size_t n = 3u * 1024 * 1024;
    uint8_t *body = malloc(n);
    assert_non_null(body);
    for (size_t i = 0; i < n; i++) body[i] = (uint8_t)(i * 31 + (i >> 12));
    assert_int_equal(start(&r, local("127.0.0.1"), "POST", "/echo", NULL, 0, body, n, NULL, NULL), 0);
    r.take_body = true;
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body.len, n);
    assert_memory_equal(r.body.data, body, n);
    rec_free(&r);
    free(body);
    /* 2 MiB chunked response in 64 KiB chunks */
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/big", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body.len, 2u * 1024 * 1024);
    for (size_t i = 0; i < r.body.len; i++)
        if (r.body.data[i] != (uint8_t)(i * 7 + (i >> 10))) fail_msg("byte %zu differs", i);
    rec_free(&r);
}

static void test_chunked_in_pieces(void **state) {
    (void)state;
    struct rec r;
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/chunked", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.data, "Wikipedia");
    assert_string_equal((const char *)r.headers.data, "transfer-encoding: chunked\ncontent-type: text/plain\n");
    rec_free(&r);
}

static void test_eof_delimited(void **state) {
    (void)state;
    struct rec r;
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/eof", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.data, "until the end");
    assert_string_equal((const char *)r.headers.data, "x-mode: eof\n");
    rec_free(&r);
}

static void test_continue_then_answer(void **state) {
    (void)state;
    struct rec r;
    assert_int_equal(start(&r, local("127.0.0.1"), "POST", "/continue", NULL, 0, "x", 1, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 201);
    assert_string_equal((const char *)r.body.data, "done");
    rec_free(&r);
}

static void test_malformed_status_line(void **state) {
    (void)state;
    struct rec r;
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/malformed", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, -EBADMSG);
    assert_int_equal(r.status, -1); /* resp NULL */
    assert_string_equal(r.message, "malformed response: bad status code");
    rec_free(&r);
    /* closed without any answer */
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/close", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, -EBADMSG);
    assert_string_equal(r.message, "malformed response: connection closed before any response bytes");
    rec_free(&r);
}

static void test_too_large(void **state) {
    (void)state;
    struct rec r;
    struct stet_h1_options o = {.timeout_ms = 5000, .max_response_bytes = 1000};
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/toolarge", NULL, 0, NULL, 0, &o, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, -EMSGSIZE);
    assert_string_equal(r.message, "response too large: content-length 2000 above the limit of 1000 bytes");
    rec_free(&r);
    o.max_response_bytes = 10000;
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/toolarge-eof", NULL, 0, NULL, 0, &o, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, -EMSGSIZE);
    assert_string_equal(r.message, "response too large: body above the limit of 10000 bytes");
    rec_free(&r);
}

static void test_timeout(void **state) {
    (void)state;
    struct rec r;
    struct stet_h1_options o = {.timeout_ms = 100};
    uv_update_time(&F->loop);
    uint64_t t0 = uv_now(&F->loop);
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/slow", NULL, 0, NULL, 0, &o, NULL), 0);
    run_until_called(&r);
    uint64_t elapsed = uv_now(&F->loop) - t0;
    assert_int_equal(r.error, -ETIMEDOUT);
    assert_string_equal(r.message, "timeout: no complete response within 100 ms");
    assert_true(elapsed >= 100);
    assert_true(elapsed < 2000);
    assert_int_equal(F->srv.requests, 1); /* the request got there */
    rec_free(&r);
}

static void test_connection_refused(void **state) {
    (void)state;
    /* a port that was just free */
    uv_tcp_t t;
    uv_tcp_init(&F->loop, &t);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    close_and_wait((uv_handle_t *)&t);
    char auth[64];
    snprintf(auth, sizeof(auth), "127.0.0.1:%d", port);
    struct rec r;
    assert_int_equal(start(&r, auth, "GET", "/discover", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, -ECONNREFUSED);
    assert_string_equal(r.message, "tcp connect error: Connection refused (os error 111)");
    rec_free(&r);
}

static void noop_timer_cb(uv_timer_t *t) { (void)t; }

static void test_cancel(void **state) {
    (void)state;
    struct rec r;
    struct stet_h1_request *req = NULL;
    /* before anything happened */
    assert_int_equal(start(&r, local("127.0.0.1"), "GET", "/cl", NULL, 0, NULL, 0, NULL, &req), 0);
    stet_h1_request_cancel(req);
    /* while the server holds the request */
    struct rec r2;
    assert_int_equal(start(&r2, local("127.0.0.1"), "GET", "/slow", NULL, 0, NULL, 0, NULL, &req), 0);
    while (F->srv.requests == 0) uv_run(&F->loop, UV_RUN_ONCE);
    stet_h1_request_cancel(req);
    /* during name resolution */
    struct rec r3;
    assert_int_equal(start(&r3, local("localhost"), "GET", "/cl", NULL, 0, NULL, 0, NULL, &req), 0);
    uv_run(&F->loop, UV_RUN_NOWAIT); /* the kick: getaddrinfo starts */
    stet_h1_request_cancel(req);
    /* run a while: the server sees the cancelled connection close, no callback runs */
    uv_timer_t t;
    uv_timer_init(&F->loop, &t);
    uv_timer_start(&t, noop_timer_cb, 100, 0);
    while (uv_is_active((uv_handle_t *)&t)) uv_run(&F->loop, UV_RUN_ONCE);
    close_and_wait((uv_handle_t *)&t);
    assert_int_equal(r.calls + r2.calls + r3.calls, 0);
    assert_int_equal(F->srv.requests, 1);
    assert_int_equal(F->srv.closed, F->srv.accepted);
}

static void test_names_and_literals(void **state) {
    (void)state;
    struct rec r;
    /* a name, resolved (localhost may also map to ::1, where nothing listens: the next
     * address is tried) */
    assert_int_equal(start(&r, local("localhost"), "GET", "/cl", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_string_equal((const char *)r.body.data, "hello");
    assert_non_null(strstr((const char *)F->srv.last_request.data, "\r\nhost: localhost:"));
    rec_free(&r);
    /* an unresolvable name */
    assert_int_equal(start(&r, "no-such-host.invalid:80", "GET", "/", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_true(r.error <= -3000 && r.error > -3100);
    assert_non_null(strstr(r.message, "dns error: failed to resolve no-such-host.invalid: "));
    rec_free(&r);
    /* IPv6 literal (skipped without IPv6) */
    uv_tcp_t l6;
    uv_tcp_init(&F->loop, &l6);
    l6.data = &F->srv;
    struct sockaddr_in6 a6;
    uv_ip6_addr("::1", 0, &a6);
    if (uv_tcp_bind(&l6, (const struct sockaddr *)&a6, 0) != 0 ||
        uv_listen((uv_stream_t *)&l6, 16, ts_on_connection) != 0) {
        close_and_wait((uv_handle_t *)&l6);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&l6, (struct sockaddr *)&ss, &len);
    char auth[64];
    snprintf(auth, sizeof(auth), "[::1]:%d", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    assert_int_equal(start(&r, auth, "GET", "/cl", NULL, 0, NULL, 0, NULL, NULL), 0);
    run_until_called(&r);
    assert_int_equal(r.error, 0);
    assert_string_equal((const char *)r.body.data, "hello");
    rec_free(&r);
    close_and_wait((uv_handle_t *)&l6);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    struct rec r;
    struct stet_h1_request *req = NULL;
    const char *a = local("127.0.0.1");
    struct stet_h1_header crlf = {"x-a", 3, "v\r\nx-evil: 1", 13};
    struct stet_h1_header host = {"Host", 4, "other", 5};
    struct stet_h1_header te = {"transfer-encoding", 17, "chunked", 7};
    struct stet_h1_header space = {"x a", 3, "v", 1};
    struct stet_h1_header empty = {"", 0, "v", 1};
    assert_int_equal(start(&r, a, "GET", "/", &crlf, 1, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "/", &host, 1, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "/", &te, 1, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "/", &space, 1, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "/", &empty, 1, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "G T", "/", NULL, 0, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "", "/", NULL, 0, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "no-slash", NULL, 0, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "/a b", NULL, 0, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "GET", "/a\r\n", NULL, 0, NULL, 0, NULL, &req), -EINVAL);
    assert_int_equal(start(&r, a, "POST", "/", NULL, 0, NULL, 5, NULL, &req), -EINVAL);
    /* the rules are stet_authority_parse's (test_common.c), shared with h2client */
    static const char *const bad_authorities[] = {"", "host:", "host:0", "host:65536", "host:8a", "host:12x",
                                                  "::1:80", "[::1", "[]:80", "[::1]x", "[localhost]:80",
                                                  "a/b:80", "a b:80", "a?b:80", ":80"};
    for (size_t i = 0; i < sizeof(bad_authorities) / sizeof(bad_authorities[0]); i++)
        if (start(&r, bad_authorities[i], "GET", "/", NULL, 0, NULL, 0, NULL, &req) != -EINVAL)
            fail_msg("accepted authority '%s'", bad_authorities[i]);
    assert_int_equal(r.calls, 0);
}

int main(void) {
    stet_log_init_from_env();
    alarm(120); /* a hung exchange fails the test instead of blocking ctest */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_content_length),
        cmocka_unit_test(test_parse_chunked),
        cmocka_unit_test(test_parse_eof_and_no_body),
        cmocka_unit_test(test_parse_head_strictness),
        cmocka_unit_test_setup_teardown(test_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_delimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_then_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_status_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_and_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
