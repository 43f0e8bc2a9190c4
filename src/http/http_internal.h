/* Private half of the http module: the structs shared by server.c (listener, connections,
 * HTTP/1) and h2.c (nghttp2 server sessions). Never included outside src/http/.
 *
 * Object graph
 *   struct stet_http_server 1--n struct stet_http_conn (doubly linked list, owned by the
 *   server, freed in the tcp close callback). A conn is HTTP/1 (at most one struct
 *   stet_http_req in flight: conn->h1_req) or h2 (conn->h2, owning its streams, each with at
 *   most one request). A request is owned by the server until stet_http_respond() or the
 *   abort callback, whichever comes first.
 */
#ifndef STET_HTTP_INTERNAL_H
#define STET_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "http/http.h"
#include "http/http1.h"

#define STET_HTTP_REQ_MAGIC 0x48545450u /* "HTTP"; cleared on free to catch double respond */

/* Output beyond this pauses reading (the peer is not reading our responses). */
#define STET_HTTP_WRITE_HIGH_WATER ((size_t)1 << 20)
/* HTTP/1: pipelined input buffered while a request is pending, beyond which reading pauses. */
#define STET_HTTP_PIPELINE_MAX ((size_t)256 * 1024)
/* After a connection-closing response was written and FIN sent: how long to drain input. */
#define STET_HTTP_LINGER_MS 2000u
#define STET_HTTP_READ_BUFFER_BYTES ((size_t)64 * 1024)

struct stet_http_h2; /* h2.c */

struct stet_http_req_field {
    size_t name_off, name_len, value_off, value_len;
};

struct stet_http_req {
    struct stet_http_request pub; /* first member: &req->pub casts back */
    uint32_t magic;
    struct stet_http_conn *conn;
    void *h2_stream;              /* struct stet_http_h2_stream * for h2, else NULL */
    stet_http_abort_cb abort_cb;
    void *abort_arg;
    bool is_head;                 /* HEAD request: no response body */
    bool keep_alive;              /* HTTP/1: keep the connection after the response */
    bool dispatched;              /* handler was called; abort cb applies from now on */
    /* strings are appended to arena and addressed by offset until stet_http__req_finalize
     * turns them into the pointers of pub (the arena may move while it grows) */
    struct stet_buf arena;
    size_t method_off, path_off, query_off;
    struct stet_http_req_field *fields;
    size_t n_fields, cap_fields;
    size_t header_bytes;          /* sum of name + value lengths, for 431 */
    struct stet_http_header *headers;
    struct stet_buf body;
};

enum stet_http_proto {
    STET_HTTP_PROTO_UNKNOWN = 0, /* no byte yet, or a prefix of the h2 preface */
    STET_HTTP_PROTO_H1,
    STET_HTTP_PROTO_H2,
};

enum stet_http_h1_state {
    STET_HTTP_H1_HEAD = 0,   /* waiting for (the rest of) a request head */
    STET_HTTP_H1_BODY_LENGTH,
    STET_HTTP_H1_BODY_CHUNKED,
    STET_HTTP_H1_PENDING,    /* handler called, response not sent yet */
};

struct stet_http_conn {
    struct stet_http_server *server;
    struct stet_http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles_open;            /* tcp + timer still to be closed */
    enum stet_http_proto proto;
    bool closing;                /* uv_close called (or about to be) */
    bool close_after_write;      /* no more requests: shut down once output drained */
    bool shutdown_started;
    bool lingering;              /* shut down, draining input until EOF or the linger timer */
    bool reading;
    bool kick;                   /* deferred work pending on the next loop iteration */
    bool processing;             /* inside conn_process (re-entrancy guard) */
    uint64_t last_activity_ms;
    uint64_t request_start_ms;   /* first byte of the current HTTP/1 request */
    uint64_t linger_deadline_ms; /* set when the shutdown starts */
    size_t write_pending;        /* bytes handed to uv_write and not completed */
    size_t write_queue_seen;     /* uv_stream_get_write_queue_size at the last timer check */
    /* unprocessed input: in.data[in_off .. in.len) */
    struct stet_buf in;
    size_t in_off;
    size_t head_scanned;         /* bytes of the pending head already searched for CRLFCRLF */
    /* HTTP/1 */
    enum stet_http_h1_state h1_state;
    struct stet_http_req *h1_req;
    uint64_t body_remaining;
    struct stet_http1_chunked chunked;
    /* h2 */
    struct stet_http_h2 *h2;
};

struct stet_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct stet_http_server_config cfg; /* defaults filled in */
    char *bind_address;
    bool ingress_errors;
    stet_http_handler_cb handler;
    void *ctx;
    int port;
    struct stet_http_conn *conns;
    uint64_t handles_open;       /* listener + connections + rejected sockets not yet closed */
    bool destroying;
    void (*closed_cb)(void *arg);
    void *closed_arg;
    struct stet_http_stats stats;
    bool read_buffer_busy;
    char read_buffer[STET_HTTP_READ_BUFFER_BYTES];
    /* cached "date" header value, refreshed once per second */
    int64_t date_second;
    char date[40];
};

/* server.c */
struct stet_http_req *stet_http__req_create(struct stet_http_conn *conn);
/* Frees the request (not calling any callback) and poisons its magic. */
void stet_http__req_free(struct stet_http_req *req);
void stet_http__req_set_method(struct stet_http_req *req, const char *m, size_t n);
/* Splits path?query. */
void stet_http__req_set_target(struct stet_http_req *req, const char *p, size_t n);
void stet_http__req_add_header(struct stet_http_req *req, const char *name, size_t name_len,
                               const char *value, size_t value_len);
/* Fixes up pub's pointers; call once everything is received, before the handler. */
void stet_http__req_finalize(struct stet_http_req *req);
/* Runs the abort callback if the handler has the request, then frees it. */
void stet_http__req_abort(struct stet_http_req *req);
/* Hands the request to the handler (counts it in requests_total). */
void stet_http__dispatch(struct stet_http_req *req);
/* Takes ownership of data (malloc'ed). Returns 0 or a negative errno (conn then closing). */
int stet_http__conn_write(struct stet_http_conn *conn, uint8_t *data, size_t len);
/* Closes now: pending requests are aborted, queued output is dropped. */
void stet_http__conn_close(struct stet_http_conn *conn);
/* Closes once queued output is written (then lingers to drain input). */
void stet_http__conn_close_graceful(struct stet_http_conn *conn);
/* Schedules conn work (h1 processing or h2 send) for the next loop iteration. */
void stet_http__conn_kick(struct stet_http_conn *conn);
void stet_http__conn_update_timer(struct stet_http_conn *conn);
void stet_http__conn_update_reading(struct stet_http_conn *conn);
/* JSON body of a server-generated error in the configured format (caller frees buf). */
void stet_http__error_body(const struct stet_http_server *s, int status, const char *message,
                           struct stet_buf *out);
/* Current "date" header value. */
const char *stet_http__date(struct stet_http_server *s);

/* h2.c: the only file that includes nghttp2.h. */
/* Creates the session, sends SETTINGS and feeds the bytes read so far (starting with the
 * client preface). Returns 0 or a negative errno (the caller closes the connection). */
int stet_http__h2_start(struct stet_http_conn *conn, const uint8_t *data, size_t len);
/* Feeds input, dispatches completed requests, sends what nghttp2 wants to send. */
void stet_http__h2_feed(struct stet_http_conn *conn, const uint8_t *data, size_t len);
/* Sends pending frames while output is below the high-water mark. */
void stet_http__h2_send(struct stet_http_conn *conn);
int stet_http__h2_respond(struct stet_http_req *req, int status,
                          const struct stet_http_header *headers, size_t n_headers,
                          const void *body, size_t body_len);
/* Aborts pending requests, frees every stream and the session. */
void stet_http__h2_close(struct stet_http_conn *conn);
/* Deadline for the timer (UINT64_MAX if none); see server.c "Timers". */
uint64_t stet_http__h2_deadline(struct stet_http_conn *conn);
void stet_http__h2_on_timer(struct stet_http_conn *conn, uint64_t now_ms);

#endif
