/* How the invoker reaches SDK deployments: one request per invocation attempt.
 *
 * The invoker speaks the service protocol over a stream of bytes each way; this interface is
 * the only thing it knows of HTTP. src/invoker/transport_http.c implements it with HTTP/2
 * cleartext (src/h2client: a bidirectional stream; the request body is written while the
 * response is read) and HTTP/1.1 (src/h1client: request/response; the whole body is sent at
 * open and the whole response is delivered when it has arrived). A simulation implements it
 * with an in-process SDK.
 *
 * Callbacks, for one stream, in this order: on_headers once (status and content type), then
 * on_data any number of times, then on_end when the response ended normally, then on_close
 * exactly once (error 0 after on_end, or an error with a message at any point, possibly with
 * no callback before it). After reset() returns, no callback of that stream runs, and reset is
 * allowed from inside any callback of the stream. Callbacks never run inside open().
 */
#ifndef STET_INVOKER_TRANSPORT_H
#define STET_INVOKER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct stet_invoker_stream;
struct stet_h2_pool;

struct stet_invoker_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct stet_invoker_request {
    const char *authority; /* "host:port" */
    const char *path;      /* "/invoke/Svc/handler" with the deployment's prefix */
    const struct stet_invoker_header *headers;
    size_t n_headers;
    bool http11;           /* the deployment asked for HTTP/1.1: request/response only */
    const uint8_t *body;   /* sent at open: the Start message and the replayed journal */
    size_t body_len;
    size_t max_response_bytes;
};

struct stet_invoker_stream_cbs {
    void (*on_headers)(void *ud, int status, const char *content_type, size_t content_type_len);
    void (*on_data)(void *ud, const uint8_t *data, size_t len);
    void (*on_end)(void *ud);
    void (*on_close)(void *ud, int error, const char *message);
};

struct stet_invoker_transport {
    void *ctx;
    /* Opens the request and sends req->body. 0 and *out, or a negative errno (no callback).
     * cbs is copied; ud is borrowed until on_close or reset. */
    int (*open)(void *ctx, const struct stet_invoker_request *req, const struct stet_invoker_stream_cbs *cbs, void *ud,
                struct stet_invoker_stream **out);
    /* More request bytes (HTTP/2 only; ignored after end). */
    void (*write)(void *ctx, struct stet_invoker_stream *s, const uint8_t *data, size_t len);
    /* Half-closes the request side. */
    void (*end)(void *ctx, struct stet_invoker_stream *s);
    /* Cancels the stream; frees it. */
    void (*reset)(void *ctx, struct stet_invoker_stream *s);
};

/* The HTTP implementation: h2c through pool, HTTP/1.1 on loop (both borrowed). The caller
 * owns `http` and keeps it alive as long as the transport is used. */
struct stet_invoker_http {
    struct stet_h2_pool *pool;
    uv_loop_t *loop;
};
struct stet_invoker_transport stet_invoker_http_transport(struct stet_invoker_http *http);

#endif
