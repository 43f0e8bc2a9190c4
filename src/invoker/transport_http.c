/* The invoker's HTTP transport. See transport.h.
 *
 * HTTP/2: a thin adapter over src/h2client (the content type is picked out of the response
 * headers). HTTP/1.1: the exchange completes in one callback; the adapter replays it as
 * on_headers, on_data, on_end, on_close, and stops as soon as a callback reset the stream.
 */
#include "invoker/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "h1client/h1client.h"
#include "h2client/h2client.h"

struct stet_invoker_stream {
    struct stet_invoker_stream_cbs cbs;
    void *ud;
    struct stet_h2_stream *h2;
    struct stet_h1_request *h1;
    bool delivering; /* inside a callback that frees the stream when it returns */
    bool reset;      /* reset during that callback */
};

/* ---- HTTP/2 ---------------------------------------------------------------------------- */

static void h2_on_headers(struct stet_h2_stream *h, int status, const struct stet_h2_header *hd, size_t n, void *ud) {
    STET_UNUSED(h);
    struct stet_invoker_stream *s = ud;
    const char *ct = NULL;
    size_t ctlen = 0;
    for (size_t i = 0; i < n; i++)
        if (hd[i].name_len == 12 && strncasecmp(hd[i].name, "content-type", 12) == 0) {
            ct = hd[i].value;
            ctlen = hd[i].value_len;
        }
    s->cbs.on_headers(s->ud, status, ct, ctlen);
}

static void h2_on_data(struct stet_h2_stream *h, const uint8_t *data, size_t len, void *ud) {
    STET_UNUSED(h);
    struct stet_invoker_stream *s = ud;
    s->cbs.on_data(s->ud, data, len);
}

static void h2_on_end(struct stet_h2_stream *h, void *ud) {
    STET_UNUSED(h);
    struct stet_invoker_stream *s = ud;
    s->cbs.on_end(s->ud);
}

static void h2_on_close(struct stet_h2_stream *h, int error, const char *message, void *ud) {
    STET_UNUSED(h);
    struct stet_invoker_stream *s = ud;
    s->h2 = NULL;
    s->delivering = true; /* a reset from inside on_close is a no-op */
    s->cbs.on_close(s->ud, error, message);
    free(s);
}

static const struct stet_h2_stream_callbacks h2_cbs = {
    .on_headers = h2_on_headers, .on_data = h2_on_data, .on_response_end = h2_on_end, .on_close = h2_on_close};

/* ---- HTTP/1.1 -------------------------------------------------------------------------- */

static void h1_done(struct stet_h1_request *r, int error, const char *message, const struct stet_h1_response *resp,
                    void *ud) {
    STET_UNUSED(r);
    struct stet_invoker_stream *s = ud;
    s->h1 = NULL;
    s->delivering = true;
    int close_error = error;
    const char *close_message = message;
    if (!error) {
        const char *ct = stet_h1_response_header(resp, "content-type");
        s->cbs.on_headers(s->ud, resp->status, ct, ct ? strlen(ct) : 0);
        if (!s->reset && resp->body_len) s->cbs.on_data(s->ud, resp->body, resp->body_len);
        if (!s->reset) s->cbs.on_end(s->ud);
    }
    if (!s->reset) s->cbs.on_close(s->ud, close_error, close_message);
    free(s);
}

static bool h1_forbidden_header(const char *name, size_t len) {
    static const char *const names[] = {"host", "connection", "content-length", "transfer-encoding"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0) return true;
    return false;
}

/* ---- the interface --------------------------------------------------------------------- */

enum { MAX_HEADERS = 64 };

static int http_open(void *ctx, const struct stet_invoker_request *req, const struct stet_invoker_stream_cbs *cbs,
                     void *ud, struct stet_invoker_stream **out) {
    struct stet_invoker_http *c = ctx;
    if (req->n_headers > MAX_HEADERS) return -E2BIG;
    struct stet_invoker_stream *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->cbs = *cbs;
    s->ud = ud;
    int rc;
    if (req->http11) {
        struct stet_h1_header h[MAX_HEADERS];
        size_t n = 0;
        for (size_t i = 0; i < req->n_headers; i++) {
            if (h1_forbidden_header(req->headers[i].name, req->headers[i].name_len)) continue;
            h[n++] = (struct stet_h1_header){req->headers[i].name, req->headers[i].name_len, req->headers[i].value,
                                            req->headers[i].value_len};
        }
        struct stet_h1_options o = {.timeout_ms = 0, .max_response_bytes = req->max_response_bytes};
        rc = stet_h1_request_start(c->loop, req->authority, "POST", req->path, h, n, req->body, req->body_len, &o,
                                   h1_done, s, &s->h1);
    } else {
        struct stet_h2_header h[MAX_HEADERS];
        for (size_t i = 0; i < req->n_headers; i++)
            h[i] = (struct stet_h2_header){req->headers[i].name, req->headers[i].name_len, req->headers[i].value,
                                          req->headers[i].value_len};
        rc = stet_h2_request(c->pool, req->authority, "POST", req->path, h, req->n_headers, false, &h2_cbs, s, &s->h2);
        if (rc == 0 && req->body_len) stet_h2_stream_write(s->h2, req->body, req->body_len);
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void http_write(void *ctx, struct stet_invoker_stream *s, const uint8_t *data, size_t len) {
    STET_UNUSED(ctx);
    if (s->h2) stet_h2_stream_write(s->h2, data, len);
}

static void http_end(void *ctx, struct stet_invoker_stream *s) {
    STET_UNUSED(ctx);
    if (s->h2) stet_h2_stream_end(s->h2);
}

static void http_reset(void *ctx, struct stet_invoker_stream *s) {
    STET_UNUSED(ctx);
    if (s->delivering) {
        s->reset = true; /* the callback running now frees it when it returns */
        return;
    }
    if (s->h2) stet_h2_stream_reset(s->h2);
    if (s->h1) stet_h1_request_cancel(s->h1);
    free(s);
}

struct stet_invoker_transport stet_invoker_http_transport(struct stet_invoker_http *http) {
    return (struct stet_invoker_transport){.ctx = http, .open = http_open, .write = http_write, .end = http_end,
                                           .reset = http_reset};
}
