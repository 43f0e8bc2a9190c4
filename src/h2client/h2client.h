/* HTTP/2 cleartext client (h2c, prior knowledge) for talking to SDK service deployments.
 *
 * Used for discovery (GET {prefix}/discover) and invocation attempts: one long-lived POST
 * stream per attempt on which we write request body bytes over time while reading response
 * bytes (service-protocol.md §1.1: "An invocation attempt is one HTTP/2 stream (one POST)").
 * Both directions are independent: the SDK answers with response HEADERS immediately, long
 * before we end the request, and a response may end while our request side is still open.
 *
 * Model
 *   A pool owns connections, grouped by authority ("host:port"). stet_h2_request() picks a
 *   connection to that authority with a free stream slot (peer SETTINGS_MAX_CONCURRENT_STREAMS,
 *   not GOAWAY'd) or opens a new one (at most max_connections_per_authority; beyond that the
 *   request waits for a slot). Connections without streams are closed after
 *   idle_connection_timeout_ms. Everything runs on the caller's libuv loop, single-threaded.
 *
 * Callbacks
 *   on_headers (once, final response head; 1xx and trailers are not reported), then on_data
 *   any number of times, on_response_end (optional) when the response END_STREAM arrives,
 *   and on_close exactly once, last. No callback is ever called from inside
 *   stet_h2_request/stream_write/stream_end/stream_reset: work they start is picked up on the
 *   next loop iteration. From inside any callback the caller may call stet_h2_request,
 *   stet_h2_stream_write/end/reset (any stream) and stet_h2_pool_destroy.
 *
 * Errors: 0 or a negative errno (UV_E* values equal -errno on Unix), or a STET_H2_E* code.
 *
 * Ownership: the pool is created and destroyed by the caller (create/destroy). A stream is
 * owned by the pool; the struct stet_h2_stream pointer is valid from stet_h2_request until
 * on_close returns or stet_h2_stream_reset returns, whichever comes first.
 */
#ifndef STET_H2CLIENT_H
#define STET_H2CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct stet_h2_pool;
struct stet_h2_stream;

/* Error codes beyond errno (on_close `error`). Connection-level failures use negative errno:
 * -ECONNREFUSED "connection refused", -ETIMEDOUT "connect timeout", -ECANCELED "pool destroyed",
 * getaddrinfo failures use the UV_EAI_* code. */
#define STET_H2_ERESET (-20001)    /* "stream reset by peer: <HTTP/2 error name>" */
#define STET_H2_ECLOSED (-20002)   /* "connection closed" (EOF or I/O error mid-stream) */
#define STET_H2_EGOAWAY (-20003)   /* "GOAWAY received": stream above last_stream_id that had already
                                    * sent body bytes (streams that had not are re-sent on another
                                    * connection, as are streams refused with REFUSED_STREAM) */
#define STET_H2_EPROTO (-20004)    /* HTTP/2 protocol error detected by us (message says which) */

struct stet_h2_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct stet_h2_pool_config {
    uint32_t initial_stream_window;          /* default 2 MiB (restate: worker.invoker.http2-initial-stream-window-size) */
    uint32_t initial_connection_window;      /* default 5 MiB */
    uint64_t connect_timeout_ms;             /* default 10000 */
    uint64_t idle_connection_timeout_ms;     /* close pooled connections idle this long, default 60000 */
    uint32_t max_connections_per_authority;  /* default 16 */
};

/* Fills *cfg with the defaults above. A field left 0 in a config passed to
 * stet_h2_pool_create also means "default". */
void stet_h2_pool_config_default(struct stet_h2_pool_config *cfg);

struct stet_h2_stream_callbacks {
    /* response head; status and headers borrowed for the call */
    void (*on_headers)(struct stet_h2_stream *s, int status, const struct stet_h2_header *h, size_t n, void *ud);
    /* response body bytes, borrowed for the call; flow-control window is given back
     * automatically after the call returns */
    void (*on_data)(struct stet_h2_stream *s, const uint8_t *data, size_t len, void *ud);
    /* optional (may be NULL): the response END_STREAM arrived; our request side may still be
     * open (call stet_h2_stream_end or _reset to finish). on_close follows once both sides are
     * closed. */
    void (*on_response_end)(struct stet_h2_stream *s, void *ud);
    /* exactly once, last callback for this stream: error 0 = response ended normally
     * (END_STREAM) after both sides closed (a peer RST_STREAM NO_ERROR after a complete
     * response also counts as normal); otherwise a negative errno / STET_H2_E* code with a
     * human message ("connection refused", "stream reset by peer: INTERNAL_ERROR",
     * "connection closed", "connect timeout", "GOAWAY received"); message borrowed for the
     * call, "" when error is 0; the stream is freed after this returns. */
    void (*on_close)(struct stet_h2_stream *s, int error, const char *message, void *ud);
};

/* cfg may be NULL (defaults). Caller frees with stet_h2_pool_destroy. */
int stet_h2_pool_create(uv_loop_t *loop, const struct stet_h2_pool_config *cfg, struct stet_h2_pool **out);

/* Closes all connections (streams get on_close with an error, -ECANCELED "pool destroyed"),
 * frees once handles are closed, then calls closed_cb(arg) (closed_cb may be NULL). No new
 * requests may be started after this call. The on_close callbacks run from inside this call. */
void stet_h2_pool_destroy(struct stet_h2_pool *p, void (*closed_cb)(void *arg), void *arg);

/* Starts a request on a pooled connection to authority ("127.0.0.1:9080", "localhost:9080",
 * "[::1]:9080"; resolved with uv_getaddrinfo, IPv4 and IPv6), opening a new connection when
 * none has a free stream slot (peer SETTINGS_MAX_CONCURRENT_STREAMS). Headers are copied.
 * :method/:path/:scheme(http)/:authority are set from the arguments; extra headers must not
 * include pseudo-headers. If end_request is true the request has no body (END_STREAM with
 * HEADERS). Connection errors are reported through on_close, never synchronously, except
 * argument errors (-EINVAL) returned directly: empty method/path, NULL cb or cb->on_close,
 * an authority that stet_authority_parse rejects (logged as a warning with the reason),
 * pseudo-header or connection-specific header names (connection, keep-alive,
 * proxy-connection, transfer-encoding, upgrade, host). Header names are sent lowercased.
 * -ECANCELED if called (from a callback) during stet_h2_pool_destroy. cb is copied; ud is
 * borrowed until on_close. *out is set before any callback can run. */
int stet_h2_request(struct stet_h2_pool *p, const char *authority, const char *method, const char *path,
                    const struct stet_h2_header *headers, size_t n_headers, bool end_request,
                    const struct stet_h2_stream_callbacks *cb, void *ud, struct stet_h2_stream **out);

/* Queues request body bytes (copied) and sends them respecting the peer's flow-control
 * windows; may be called before the connection is even established. -EPIPE after end or
 * close. Returns 0 when queued. */
int stet_h2_stream_write(struct stet_h2_stream *s, const void *data, size_t len);

/* Half-closes the request side (END_STREAM after queued data). -EPIPE if already ended or
 * closed. */
int stet_h2_stream_end(struct stet_h2_stream *s);

/* Resets the stream (RST_STREAM CANCEL). No callbacks are called for it after this returns;
 * the stream is freed. Calling it from inside the stream's own on_close is a no-op. */
void stet_h2_stream_reset(struct stet_h2_stream *s);

/* bytes queued but not yet sent (for backpressure) */
size_t stet_h2_stream_pending(const struct stet_h2_stream *s);

struct stet_h2_stats {
    uint64_t connections_open, connections_total, streams_open, streams_total, connect_errors;
};
void stet_h2_pool_stats(const struct stet_h2_pool *p, struct stet_h2_stats *out);

#endif
