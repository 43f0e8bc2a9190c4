/* HTTP/1.1 client for deployments registered with `use_http_11: true`.
 *
 * Such deployments speak the request/response protocol mode (service-protocol.md §1.5
 * "REQUEST_RESPONSE: the server sends StartMessage and all replayed entries, then half-closes
 * immediately"), so one exchange is: the whole request body known up front, the whole
 * response body read before anything is done with it. Used for discovery
 * (GET {uri}discover) and invocation attempts (POST {uri}invoke/{svc}/{handler}).
 *
 * Two layers:
 *   - stet_h1_parser: a pure, incremental HTTP/1.1 response parser (no I/O, no libuv),
 *     fuzzed by fuzz/fuzz_h1_response.c;
 *   - stet_h1_request: one exchange on its own TCP connection ("connection: close"; no
 *     pooling), driven by the caller's libuv loop.
 *
 * Request lifecycle (h1client.c)
 *   start ──(next loop turn)──► RESOLVING ──► CONNECTING (each address in turn)
 *         ──► EXCHANGING (write the request, read and parse) ──► DONE
 *   Any error, the timeout, or a complete response moves to DONE: the callback runs exactly
 *   once (unless cancelled), then handles close and the memory is released.
 *
 * Errors are 0 or a negative errno (UV_E* equal -errno on Unix; getaddrinfo failures keep
 * their UV_EAI_* code), each with a message:
 *   -EBADMSG    "malformed response: <what>" (includes a connection closed mid-response)
 *   -EMSGSIZE   "response too large: <what>" (body above max_response_bytes, head above
 *               STET_H1_MAX_HEAD_BYTES)
 *   -ETIMEDOUT  "timeout: no complete response within <n> ms"
 *   UV_EAI_*    "dns error: <reason>"
 *   other       "tcp connect error: Connection refused (os error 111)",
 *               "read error: ...", "write error: ..." (Rust io::Error style, as restate prints)
 */
#ifndef STET_H1CLIENT_H
#define STET_H1CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct uv_loop_s uv_loop_t; /* same typedef as uv.h; avoids including it here */

struct stet_h1_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* A complete response. In responses produced by this module names are lower-cased and both
 * names and values are NUL-terminated (name[name_len] == '\0'); body is never NULL and is
 * followed by a NUL byte that body_len does not count. */
struct stet_h1_response {
    int status;
    const struct stet_h1_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
};

/* Returns the value of the first header named name (lower-case), or NULL. */
const char *stet_h1_response_header(const struct stet_h1_response *r, const char *name);

/* ---- pure response parser ---- */

#define STET_H1_MAX_HEAD_BYTES (64 * 1024)  /* one response head, status line to empty line */
#define STET_H1_MAX_HEADERS 128
#define STET_H1_MAX_INTERIM 16              /* 1xx responses skipped before the final one */
#define STET_H1_CHUNK_LINE_MAX 4096         /* chunk-size line with extensions */
#define STET_H1_TRAILERS_MAX (64 * 1024)
#define STET_H1_DEFAULT_MAX_RESPONSE_BYTES ((size_t)33 * 1024 * 1024) /* 32 MiB journal + 1 MiB */

/* Strictness (RFC 9112), violations are -EBADMSG:
 *   - status line "HTTP/1.0" or "HTTP/1.1", SP, three digits (100..999), then nothing or SP
 *     and a reason phrase of HTAB/SP/VCHAR/obs-text; every line ends with CRLF (bare CR or LF
 *     is rejected);
 *   - header name = token immediately followed by ':'; obs-fold rejected; values trimmed of
 *     SP/HTAB and made of HTAB/SP/VCHAR/obs-text; at most STET_H1_MAX_HEADERS fields;
 *   - content-length: digits only, repeated only with the same value; transfer-encoding:
 *     exactly the single coding "chunked"; both together are rejected;
 *   - 1xx responses are skipped (101 is rejected: we never ask to upgrade);
 *   - body: none for HEAD, 204, 304; else chunked (extensions and trailers skipped, each
 *     bounded), else content-length, else everything up to EOF.
 * Storage: head bytes and the decoded body live in the parser; headers point into it. */
struct stet_h1_parser {
    /* configuration, set by init */
    size_t max_body_bytes;
    bool head_request; /* response to HEAD: no body whatever the headers say */
    /* state (private) */
    int state;
    int error;
    struct stet_buf head;
    size_t n_interim;
    int status;
    struct stet_h1_header headers[STET_H1_MAX_HEADERS];
    size_t n_headers;
    uint64_t remaining;    /* content-length bytes still expected */
    int chunk_state;
    uint64_t chunk_size;
    size_t chunk_digits;
    size_t line_len;
    size_t trailer_bytes;
    bool trailer_colon;
    size_t trailer_name_len;
    struct stet_buf body;
    char message[192];
};

/* max_body_bytes 0 means STET_H1_DEFAULT_MAX_RESPONSE_BYTES. Caller frees with
 * stet_h1_parser_free (init/free may be repeated to reuse the struct). */
void stet_h1_parser_init(struct stet_h1_parser *p, size_t max_body_bytes, bool head_request);
void stet_h1_parser_free(struct stet_h1_parser *p);

/* Feeds the next bytes of the connection. Returns
 *   0   more bytes needed (all of data consumed),
 *   1   the final response is complete; *consumed says how many of these bytes belonged to
 *       it (the rest follows the response; with "connection: close" it is ignored),
 *   <0  -EBADMSG or -EMSGSIZE, message in stet_h1_parser_message(). Errors are sticky;
 *       feeding after 1 returns 1 with *consumed = 0.
 * consumed may be NULL. */
int stet_h1_parser_feed(struct stet_h1_parser *p, const uint8_t *data, size_t len, size_t *consumed);

/* The peer closed the connection. Returns 1 if the response is complete (already, or now
 * because its body runs to EOF), else -EBADMSG ("connection closed before ..."). */
int stet_h1_parser_eof(struct stet_h1_parser *p);

/* "" unless the parser failed. Borrowed from p. */
const char *stet_h1_parser_message(const struct stet_h1_parser *p);

/* After feed/eof returned 1: fills out with pointers into p (valid until free/init or
 * take_body). */
void stet_h1_parser_response(const struct stet_h1_parser *p, struct stet_h1_response *out);

/* After feed/eof returned 1: takes the body out of the parser (caller frees; NUL-terminated
 * beyond *len); the response's body is then empty. */
uint8_t *stet_h1_parser_take_body(struct stet_h1_parser *p, size_t *len);

/* Asserts the parser's invariants (fuzz oracle). */
void stet_h1_parser_check(const struct stet_h1_parser *p);

/* Convenience for complete buffers (tests, fuzzers, blocking clients): feed + (if eof) eof.
 * Returns 1 complete, 0 more needed, or the negative error; p is initialized by the call
 * and must be freed by the caller in every case. */
int stet_h1_parse_response(struct stet_h1_parser *p, const uint8_t *data, size_t len, bool eof,
                           size_t max_body_bytes);

/* ---- one request on the loop ---- */

struct stet_h1_request;

/* error 0: response complete, resp valid for the call; otherwise a negative error (above)
 * with message, and resp NULL. message is borrowed for the call. Called exactly once per
 * request that was not cancelled, never from inside stet_h1_request_start. r is valid
 * during the call (stet_h1_request_take_body may be used); it is released after the
 * callback returns. */
typedef void (*stet_h1_done_cb)(struct stet_h1_request *r, int error, const char *message,
                                const struct stet_h1_response *resp, void *ud);

struct stet_h1_options {
    uint64_t timeout_ms;        /* whole exchange from start; 0 = no timeout */
    size_t max_response_bytes;  /* body limit; 0 = STET_H1_DEFAULT_MAX_RESPONSE_BYTES */
};

/* Starts one exchange. authority: "host:port", "[v6]:port" or "host" (port 80), by the rules
 * of common/authority.h; host is an IPv4/IPv6 literal (connected directly) or a name
 * resolved with uv_getaddrinfo, each address tried in turn. method: token; path:
 * origin-form ("/..."), no SP or CTL. headers are copied and sent as given after
 * "host: <authority>"; they must not be host, content-length, transfer-encoding or
 * connection, names must be tokens and values free of CR/LF/NUL. body (copied; may be NULL
 * when body_len is 0) is sent with content-length, which is also sent (as 0) for methods
 * other than GET and HEAD. "connection: close" is sent and the connection is never reused.
 * opts may be NULL (defaults).
 * Returns 0 with *out set (valid until cb returns or stet_h1_request_cancel), or -EINVAL
 * for a bad argument (cb is then never called; an authority that stet_authority_parse
 * rejects is also logged as a warning with the reason). */
int stet_h1_request_start(uv_loop_t *loop, const char *authority, const char *method, const char *path,
                          const struct stet_h1_header *headers, size_t n_headers, const void *body, size_t body_len,
                          const struct stet_h1_options *opts, stet_h1_done_cb cb, void *ud,
                          struct stet_h1_request **out);

/* Cancels: the callback is not called after this returns; memory is released once the
 * libuv handles have closed (the loop must keep running for that). A no-op when called from
 * inside the request's own callback. */
void stet_h1_request_cancel(struct stet_h1_request *r);

/* From inside the callback (error 0): takes the response body (caller frees; NUL-terminated
 * beyond *len), avoiding a copy of large journals. resp->body must not be used afterwards. */
uint8_t *stet_h1_request_take_body(struct stet_h1_request *r, size_t *len);

#endif
