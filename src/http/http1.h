/* HTTP/1.1 request head parser and chunked body decoder (pure: no I/O, no allocation
 * except appending decoded body bytes to a caller buffer), used by server.c and fuzzed
 * by fuzz/fuzz_http1.c. Internal to src/http/ apart from the fuzzer.
 *
 * Strictness (RFC 9112), every violation is STET_HTTP1_EMALFORMED (400):
 *   - request line: method = token, exactly one SP, request-target (origin-form, absolute-form
 *     "http(s)://authority/path", or "*" for OPTIONS), one SP, "HTTP/1.1" or "HTTP/1.0", CRLF.
 *     Bytes >= 0x80 are accepted in the target (raw UTF-8 paths sent by curl).
 *   - lines end with CRLF; a bare LF or CR is malformed. Leading empty lines (CRLF) before the
 *     request line are skipped (RFC 9112 §2.2).
 *   - header name = token, immediately followed by ':'; obs-fold (a line starting with SP/HTAB)
 *     is rejected; values may hold HTAB, SP, VCHAR and obs-text, nothing else.
 *   - content-length must be digits only and appear once; content-length together with
 *     transfer-encoding, more than one transfer-encoding, a coding other than "chunked",
 *     transfer-encoding on HTTP/1.0, and more than one host header are rejected.
 *   More than STET_HTTP1_MAX_HEADERS fields is STET_HTTP1_ETOOMANYHEADERS (431).
 *
 * All pointers in struct stet_http1_head point into the parsed buffer (borrowed), except
 * path which points to a static "/" for an absolute-form target without a path.
 */
#ifndef STET_HTTP1_H
#define STET_HTTP1_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

#define STET_HTTP1_MAX_HEADERS 128
#define STET_HTTP1_EMALFORMED (-EBADMSG)     /* answer 400 */
#define STET_HTTP1_ETOOMANYHEADERS (-E2BIG)  /* answer 431 */
#define STET_HTTP1_ETOOLARGE (-EMSGSIZE)     /* chunked body beyond the limit: answer 413 */

enum stet_http1_body_kind {
    STET_HTTP1_BODY_NONE = 0,
    STET_HTTP1_BODY_LENGTH,  /* content_length > 0 bytes follow */
    STET_HTTP1_BODY_CHUNKED,
};

struct stet_http1_field {
    const char *name;   /* as received (not lower-cased) */
    size_t name_len;
    const char *value;  /* leading/trailing SP and HTAB trimmed */
    size_t value_len;
};

struct stet_http1_head {
    const char *method;
    size_t method_len;
    const char *target;  /* the raw request-target */
    size_t target_len;
    const char *path;    /* target without scheme/authority and query */
    size_t path_len;
    const char *query;   /* after '?', not including it; NULL/0 if none */
    size_t query_len;
    int minor_version;   /* 0 or 1 */
    struct stet_http1_field fields[STET_HTTP1_MAX_HEADERS];
    size_t n_fields;
    enum stet_http1_body_kind body_kind;
    uint64_t content_length;  /* valid for STET_HTTP1_BODY_LENGTH */
    bool keep_alive;          /* HTTP/1.1 unless "connection: close"; HTTP/1.0 only with keep-alive */
    bool expect_continue;     /* "expect: 100-continue" on HTTP/1.1 */
};

/* Parses one request head at the start of buf. Returns the number of bytes it takes
 * (leading empty lines, request line, fields and the final empty line), 0 if more bytes
 * are needed, or STET_HTTP1_EMALFORMED / STET_HTTP1_ETOOMANYHEADERS. A complete but
 * invalid request line is reported before the rest of the head arrives. At most INT_MAX
 * bytes of buf are looked at. *out is written on success (and garbage otherwise). */
int stet_http1_parse_head(const char *buf, size_t len, struct stet_http1_head *out);

/* Incremental chunked transfer-coding decoder (RFC 9112 §7.1); chunk extensions and
 * trailer fields are skipped (each line at most STET_HTTP1_CHUNK_LINE_MAX bytes, trailers
 * at most STET_HTTP1_TRAILERS_MAX bytes in total). */
#define STET_HTTP1_CHUNK_LINE_MAX 4096
#define STET_HTTP1_TRAILERS_MAX (64 * 1024)

struct stet_http1_chunked {
    int state;
    uint64_t chunk_remaining;
    size_t line_len;
    size_t trailer_bytes;
    int size_digits;
    bool done;
};

void stet_http1_chunked_init(struct stet_http1_chunked *c);

/* Feeds in[0..len). Decoded data is appended to out, whose total length must stay
 * <= max_body (else STET_HTTP1_ETOOLARGE). Returns the number of input bytes used (it stops
 * right after the final CRLF; c->done is then true), or STET_HTTP1_EMALFORMED /
 * STET_HTTP1_ETOOLARGE; after an error the decoder must not be fed again. */
ssize_t stet_http1_chunked_decode(struct stet_http1_chunked *c, const uint8_t *in, size_t len,
                                  struct stet_buf *out, size_t max_body);

/* tchar of RFC 9110 §5.6.2 */
bool stet_http1_is_tchar(unsigned char c);

#endif
