/* Pure incremental HTTP/1.1 response parser (see h1client.h for the accepted grammar).
 *
 * States
 *   HEAD     collecting one response head in p->head until CRLFCRLF (bounded by
 *            STET_H1_MAX_HEAD_BYTES); then parse_head() validates it in place and either
 *            skips it (1xx: back to HEAD with an empty buffer) or picks the body framing:
 *   LENGTH   p->remaining bytes of content-length body
 *   CHUNKED  chunk_state machine below
 *   EOF      everything until the peer closes
 *   DONE     complete (sticky)         ERROR   failed (sticky, p->error + p->message)
 *
 * Chunked (RFC 9112 §7.1), one byte at a time except chunk data:
 *   SIZE     ─hex─► SIZE    ─';' SP HTAB─► EXT    ─CR─► SIZE_LF
 *   EXT      ─CR─► SIZE_LF (other bytes: extension text, skipped)
 *   SIZE_LF  ─LF─► DATA (size > 0) or TRAILER_START (size 0)
 *   DATA     ─size bytes─► DATA_CR ─CR─► DATA_LF ─LF─► SIZE
 *   TRAILER_START ─CR─► FINAL_LF ─LF─► DONE
 *   TRAILER_START ─other─► TRAILER ─CR─► TRAILER_LF ─LF─► TRAILER_START
 *
 * Invariants (stet_h1_parser_check): body.len <= max_body_bytes; head.len <=
 * STET_H1_MAX_HEAD_BYTES; n_headers <= STET_H1_MAX_HEADERS; n_interim <= STET_H1_MAX_INTERIM;
 * in DONE the status is 100..999 but not 1xx, names are lower-case tokens and the body is
 * NUL-terminated.
 */
#include "h1client/h1client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"

enum { P_HEAD = 0, P_LENGTH, P_CHUNKED, P_EOF, P_DONE, P_ERROR };

enum {
    C_SIZE = 0,
    C_EXT,
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TRAILER_START,
    C_TRAILER,
    C_TRAILER_LF,
    C_FINAL_LF,
};

static bool is_tchar(uint8_t c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB (reason phrase and field values) */
static bool is_text(uint8_t c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int fail(struct stet_h1_parser *p, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct stet_h1_parser *p, int error, const char *fmt, ...) {
    STET_ASSERT(error == -EBADMSG || error == -EMSGSIZE);
    const char *prefix = error == -EBADMSG ? "malformed response: " : "response too large: ";
    size_t pl = strlen(prefix);
    memcpy(p->message, prefix, pl + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message + pl, sizeof(p->message) - pl, fmt, ap);
    va_end(ap);
    p->state = P_ERROR;
    p->error = error;
    return error;
}

void stet_h1_parser_init(struct stet_h1_parser *p, size_t max_body_bytes, bool head_request) {
    memset(p, 0, sizeof(*p));
    p->max_body_bytes = max_body_bytes ? max_body_bytes : STET_H1_DEFAULT_MAX_RESPONSE_BYTES;
    p->head_request = head_request;
    p->state = P_HEAD;
    stet_buf_init(&p->head);
    stet_buf_init(&p->body);
}

void stet_h1_parser_free(struct stet_h1_parser *p) {
    stet_buf_free(&p->head);
    stet_buf_free(&p->body);
    p->n_headers = 0;
    p->state = P_ERROR;
    p->error = -EBADMSG;
    snprintf(p->message, sizeof(p->message), "malformed response: parser freed");
}

const char *stet_h1_parser_message(const struct stet_h1_parser *p) { return p->state == P_ERROR ? p->message : ""; }

static void complete(struct stet_h1_parser *p) {
    stet_buf_reserve(&p->body, 1); /* also gives an empty body a non-NULL pointer */
    p->body.data[p->body.len] = '\0';
    p->state = P_DONE;
}

/* ---- head ---- */

/* Parses a comma list of transfer codings; returns true if it is exactly "chunked". */
static bool te_is_chunked(const char *v, size_t n, size_t *tokens) {
    bool chunked = false;
    size_t i = 0;
    while (i <= n) {
        size_t start = i;
        while (i < n && v[i] != ',') i++;
        size_t s = start, e = i;
        while (s < e && (v[s] == ' ' || v[s] == '\t')) s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e > s) {
            (*tokens)++;
            chunked = e - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
        }
        i++;
    }
    return chunked && *tokens == 1;
}

/* Validates the head in p->head (ends with CRLFCRLF) in place: lower-cases names and
 * NUL-terminates names and values. Returns 0, or the error. */
static int parse_head(struct stet_h1_parser *p) {
    uint8_t *h = p->head.data;
    size_t len = p->head.len;
    STET_ASSERT(len >= 4);
    /* status line */
    uint8_t *le = memchr(h, '\r', len);
    STET_ASSERT(le != NULL);
    size_t ll = (size_t)(le - h);
    if (le[1] != '\n') return fail(p, -EBADMSG, "bare CR in the status line");
    if (ll < 12 || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ')
        return fail(p, -EBADMSG, "bad status line");
    for (int i = 9; i < 12; i++)
        if (h[i] < '0' || h[i] > '9') return fail(p, -EBADMSG, "bad status code");
    if (h[9] == '0') return fail(p, -EBADMSG, "bad status code");
    if (ll > 12 && h[12] != ' ') return fail(p, -EBADMSG, "bad status line");
    for (size_t i = 13; i < ll; i++)
        if (!is_text(h[i])) return fail(p, -EBADMSG, "bad character in the reason phrase");
    p->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    p->n_headers = 0;

    /* fields */
    uint8_t *end = h + len - 2; /* the final CRLF */
    uint8_t *line = le + 2;
    while (line < end) {
        uint8_t *cr = memchr(line, '\r', (size_t)(end - line));
        STET_ASSERT(cr != NULL); /* the head ends with CRLFCRLF */
        if (cr[1] != '\n') return fail(p, -EBADMSG, "bare CR in a header line");
        if (line[0] == ' ' || line[0] == '\t') return fail(p, -EBADMSG, "obsolete line folding");
        uint8_t *colon = line;
        while (colon < cr && is_tchar(*colon)) colon++;
        if (colon == line || colon == cr || *colon != ':') return fail(p, -EBADMSG, "bad header line");
        uint8_t *v = colon + 1, *ve = cr;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        for (uint8_t *c = v; c < ve; c++)
            if (!is_text(*c)) return fail(p, -EBADMSG, "bad character in a header value");
        if (p->n_headers == STET_H1_MAX_HEADERS)
            return fail(p, -EBADMSG, "more than %d header fields", STET_H1_MAX_HEADERS);
        for (uint8_t *c = line; c < colon; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (uint8_t)(*c - 'A' + 'a');
        struct stet_h1_header *f = &p->headers[p->n_headers++];
        f->name = (const char *)line;
        f->name_len = (size_t)(colon - line);
        f->value = (const char *)v;
        f->value_len = (size_t)(ve - v);
        *colon = '\0';
        *ve = '\0'; /* ve <= cr, which is not needed anymore */
        line = cr + 2;
    }
    return 0;
}

/* Chooses the body framing of a final response. Returns 0 or the error. */
static int start_body(struct stet_h1_parser *p) {
    bool has_te = false, has_cl = false, chunked = false;
    size_t te_tokens = 0;
    uint64_t cl = 0;
    const char *te_value = NULL;
    for (size_t i = 0; i < p->n_headers; i++) {
        const struct stet_h1_header *f = &p->headers[i];
        if (strcmp(f->name, "transfer-encoding") == 0) {
            has_te = true;
            te_value = f->value;
            chunked = te_is_chunked(f->value, f->value_len, &te_tokens);
        } else if (strcmp(f->name, "content-length") == 0) {
            if (f->value_len == 0 || f->value_len > 19) return fail(p, -EBADMSG, "bad content-length");
            uint64_t v = 0;
            for (size_t j = 0; j < f->value_len; j++) {
                if (f->value[j] < '0' || f->value[j] > '9') return fail(p, -EBADMSG, "bad content-length");
                v = v * 10 + (uint64_t)(f->value[j] - '0');
            }
            if (has_cl && v != cl) return fail(p, -EBADMSG, "conflicting content-length headers");
            has_cl = true;
            cl = v;
        }
    }
    if (has_te && !(chunked && te_tokens == 1))
        return fail(p, -EBADMSG, "unsupported transfer-encoding '%.40s'", te_value);
    if (has_te && has_cl) return fail(p, -EBADMSG, "both content-length and transfer-encoding");
    if (p->head_request || p->status == 204 || p->status == 304) {
        complete(p);
    } else if (has_te) {
        p->state = P_CHUNKED;
        p->chunk_state = C_SIZE;
        p->chunk_size = 0;
        p->chunk_digits = 0;
        p->line_len = 0;
    } else if (has_cl) {
        if (cl > p->max_body_bytes)
            return fail(p, -EMSGSIZE, "content-length %llu above the limit of %zu bytes", (unsigned long long)cl,
                        p->max_body_bytes);
        if (cl == 0) {
            complete(p);
        } else {
            stet_buf_reserve(&p->body, (size_t)cl + 1);
            p->remaining = cl;
            p->state = P_LENGTH;
        }
    } else {
        p->state = P_EOF;
    }
    return 0;
}

/* Consumes head bytes; returns bytes used (>= 0) or the error. */
static long feed_head(struct stet_h1_parser *p, const uint8_t *data, size_t len) {
    size_t old = p->head.len;
    size_t room = STET_H1_MAX_HEAD_BYTES - old;
    size_t take = len < room ? len : room;
    stet_buf_append(&p->head, data, take);
    /* early check of the version prefix, so garbage fails before a whole head arrives */
    size_t pre = p->head.len < 7 ? p->head.len : 7;
    if (memcmp(p->head.data, "HTTP/1.", pre) != 0) return fail(p, -EBADMSG, "bad status line");
    size_t from = old >= 3 ? old - 3 : 0;
    for (size_t i = from; i + 3 < p->head.len; i++) {
        const uint8_t *b = p->head.data + i;
        if (b[0] == '\r' && b[1] == '\n' && b[2] == '\r' && b[3] == '\n') {
            size_t head_len = i + 4;
            size_t used = head_len - old;
            p->head.len = head_len;
            int rc = parse_head(p);
            if (rc != 0) return rc;
            if (p->status >= 100 && p->status < 200) {
                if (p->status == 101) return fail(p, -EBADMSG, "unexpected 101 Switching Protocols");
                if (p->n_interim == STET_H1_MAX_INTERIM)
                    return fail(p, -EBADMSG, "more than %d interim (1xx) responses", STET_H1_MAX_INTERIM);
                p->n_interim++;
                p->n_headers = 0;
                p->status = 0;
                stet_buf_reset(&p->head);
                return (long)used;
            }
            rc = start_body(p);
            if (rc != 0) return rc;
            return (long)used;
        }
    }
    if (p->head.len >= STET_H1_MAX_HEAD_BYTES)
        return fail(p, -EMSGSIZE, "response head above %d bytes", STET_H1_MAX_HEAD_BYTES);
    return (long)take;
}

/* ---- chunked ---- */

static long feed_chunked(struct stet_h1_parser *p, const uint8_t *data, size_t len) {
    size_t i = 0;
    while (i < len && p->state == P_CHUNKED) {
        uint8_t c = data[i];
        switch (p->chunk_state) {
        case C_SIZE: {
            int v = hex_value(c);
            if (v >= 0) {
                if (p->chunk_size > (UINT64_MAX >> 4)) return fail(p, -EBADMSG, "chunk size overflows");
                p->chunk_size = p->chunk_size * 16 + (uint64_t)v;
                p->chunk_digits++;
            } else if (p->chunk_digits == 0) {
                return fail(p, -EBADMSG, "bad chunk size");
            } else if (c == ';' || c == ' ' || c == '\t') {
                p->chunk_state = C_EXT;
            } else if (c == '\r') {
                p->chunk_state = C_SIZE_LF;
            } else {
                return fail(p, -EBADMSG, "bad chunk size");
            }
            if (++p->line_len > STET_H1_CHUNK_LINE_MAX) return fail(p, -EBADMSG, "chunk size line too long");
            i++;
            break;
        }
        case C_EXT:
            if (c == '\r') p->chunk_state = C_SIZE_LF;
            else if (!is_text(c)) return fail(p, -EBADMSG, "bad character in a chunk extension");
            if (++p->line_len > STET_H1_CHUNK_LINE_MAX) return fail(p, -EBADMSG, "chunk size line too long");
            i++;
            break;
        case C_SIZE_LF:
            if (c != '\n') return fail(p, -EBADMSG, "bare CR after a chunk size");
            i++;
            if (p->chunk_size == 0) {
                p->chunk_state = C_TRAILER_START;
                p->trailer_bytes = 0;
            } else {
                if (p->chunk_size > p->max_body_bytes - p->body.len)
                    return fail(p, -EMSGSIZE, "chunked body above the limit of %zu bytes", p->max_body_bytes);
                p->chunk_state = C_DATA;
            }
            break;
        case C_DATA: {
            size_t n = len - i;
            if (n > p->chunk_size) n = (size_t)p->chunk_size;
            stet_buf_append(&p->body, data + i, n);
            p->chunk_size -= n;
            i += n;
            if (p->chunk_size == 0) p->chunk_state = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            if (c != '\r') return fail(p, -EBADMSG, "chunk data not followed by CRLF");
            p->chunk_state = C_DATA_LF;
            i++;
            break;
        case C_DATA_LF:
            if (c != '\n') return fail(p, -EBADMSG, "chunk data not followed by CRLF");
            p->chunk_state = C_SIZE;
            p->chunk_digits = 0;
            p->line_len = 0;
            i++;
            break;
        case C_TRAILER_START:
            if (c == '\r') {
                p->chunk_state = C_FINAL_LF;
                i++;
                break;
            }
            p->chunk_state = C_TRAILER;
            p->trailer_colon = false;
            p->trailer_name_len = 0;
            /* FALLTHROUGH: the byte is the first of a trailer field */
            __attribute__((fallthrough));
        case C_TRAILER:
            if (++p->trailer_bytes > STET_H1_TRAILERS_MAX) return fail(p, -EBADMSG, "trailers too long");
            if (c == '\r') {
                if (!p->trailer_colon) return fail(p, -EBADMSG, "bad trailer line");
                p->chunk_state = C_TRAILER_LF;
            } else if (!p->trailer_colon) {
                if (c == ':' && p->trailer_name_len > 0) p->trailer_colon = true;
                else if (is_tchar(c)) p->trailer_name_len++;
                else return fail(p, -EBADMSG, "bad trailer line");
            } else if (!is_text(c)) {
                return fail(p, -EBADMSG, "bad character in a trailer value");
            }
            i++;
            break;
        case C_TRAILER_LF:
            if (c != '\n') return fail(p, -EBADMSG, "bare CR in a trailer line");
            p->chunk_state = C_TRAILER_START;
            i++;
            break;
        case C_FINAL_LF:
            if (c != '\n') return fail(p, -EBADMSG, "bare CR after the last chunk");
            i++;
            complete(p);
            break;
        default:
            STET_UNREACHABLE();
        }
    }
    return (long)i;
}

/* ---- driver ---- */

int stet_h1_parser_feed(struct stet_h1_parser *p, const uint8_t *data, size_t len, size_t *consumed) {
    size_t used = 0;
    int rc = 0;
    while (rc == 0) {
        switch (p->state) {
        case P_DONE:
            rc = 1;
            continue;
        case P_ERROR:
            rc = p->error;
            continue;
        default:
            break;
        }
        if (used == len) break;
        const uint8_t *in = data + used;
        size_t n = len - used;
        long r;
        switch (p->state) {
        case P_HEAD:
            r = feed_head(p, in, n);
            break;
        case P_LENGTH: {
            size_t take = n < p->remaining ? n : (size_t)p->remaining;
            stet_buf_append(&p->body, in, take);
            p->remaining -= take;
            if (p->remaining == 0) complete(p);
            r = (long)take;
            break;
        }
        case P_CHUNKED:
            r = feed_chunked(p, in, n);
            break;
        case P_EOF:
            if (n > p->max_body_bytes - p->body.len) {
                r = fail(p, -EMSGSIZE, "body above the limit of %zu bytes", p->max_body_bytes);
                break;
            }
            stet_buf_append(&p->body, in, n);
            r = (long)n;
            break;
        default:
            STET_UNREACHABLE();
        }
        if (r < 0) {
            rc = (int)r;
            break;
        }
        STET_ASSERT((size_t)r <= n);
        used += (size_t)r;
    }
    if (consumed) *consumed = used;
    return rc;
}

int stet_h1_parser_eof(struct stet_h1_parser *p) {
    switch (p->state) {
    case P_DONE:
        return 1;
    case P_ERROR:
        return p->error;
    case P_HEAD:
        if (p->head.len == 0 && p->n_interim == 0)
            return fail(p, -EBADMSG, "connection closed before any response bytes");
        return fail(p, -EBADMSG, "connection closed before the response head was complete");
    case P_LENGTH:
        return fail(p, -EBADMSG, "connection closed before the body was complete (%llu bytes missing)",
                    (unsigned long long)p->remaining);
    case P_CHUNKED:
        return fail(p, -EBADMSG, "connection closed in the middle of a chunked body");
    case P_EOF:
        complete(p);
        return 1;
    default:
        STET_UNREACHABLE();
    }
    return -EBADMSG;
}

void stet_h1_parser_response(const struct stet_h1_parser *p, struct stet_h1_response *out) {
    STET_ASSERT(p->state == P_DONE);
    out->status = p->status;
    out->headers = p->headers;
    out->n_headers = p->n_headers;
    out->body = p->body.data != NULL ? p->body.data : (const uint8_t *)"";
    out->body_len = p->body.len;
}

uint8_t *stet_h1_parser_take_body(struct stet_h1_parser *p, size_t *len) {
    STET_ASSERT(p->state == P_DONE);
    uint8_t *b = stet_buf_steal(&p->body, len);
    if (b == NULL) { /* taken before */
        b = malloc(1);
        STET_ASSERT(b != NULL);
        b[0] = '\0';
    }
    return b;
}

int stet_h1_parse_response(struct stet_h1_parser *p, const uint8_t *data, size_t len, bool eof,
                           size_t max_body_bytes) {
    stet_h1_parser_init(p, max_body_bytes, false /* head_request */);
    int rc = stet_h1_parser_feed(p, data, len, NULL);
    if (rc == 0 && eof) rc = stet_h1_parser_eof(p);
    return rc;
}

const char *stet_h1_response_header(const struct stet_h1_response *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (r->headers[i].name_len == strlen(name) && memcmp(r->headers[i].name, name, r->headers[i].name_len) == 0)
            return r->headers[i].value;
    return NULL;
}

void stet_h1_parser_check(const struct stet_h1_parser *p) {
    STET_ASSERT(p->state >= P_HEAD && p->state <= P_ERROR);
    STET_ASSERT(p->max_body_bytes > 0);
    STET_ASSERT(p->head.len <= STET_H1_MAX_HEAD_BYTES);
    STET_ASSERT(p->n_headers <= STET_H1_MAX_HEADERS);
    STET_ASSERT(p->n_interim <= STET_H1_MAX_INTERIM);
    STET_ASSERT(p->body.len <= p->max_body_bytes);
    if (p->state == P_ERROR) {
        STET_ASSERT(p->error == -EBADMSG || p->error == -EMSGSIZE);
        STET_ASSERT(p->message[0] != '\0');
        return;
    }
    if (p->state == P_CHUNKED) STET_ASSERT(p->chunk_state >= C_SIZE && p->chunk_state <= C_FINAL_LF);
    if (p->state == P_LENGTH) STET_ASSERT(p->remaining > 0);
    if (p->state == P_HEAD) STET_ASSERT(p->n_headers == 0);
    if (p->state == P_HEAD) return;
    STET_ASSERT(p->status >= 200 && p->status <= 999);
    for (size_t i = 0; i < p->n_headers; i++) {
        const struct stet_h1_header *f = &p->headers[i];
        STET_ASSERT(f->name_len > 0);
        STET_ASSERT(f->name[f->name_len] == '\0');
        STET_ASSERT(f->value[f->value_len] == '\0');
        STET_ASSERT((const uint8_t *)f->name >= p->head.data);
        STET_ASSERT((const uint8_t *)f->value + f->value_len < p->head.data + p->head.len);
        for (size_t j = 0; j < f->name_len; j++) {
            STET_ASSERT(is_tchar((uint8_t)f->name[j]));
            STET_ASSERT(!(f->name[j] >= 'A' && f->name[j] <= 'Z'));
        }
        for (size_t j = 0; j < f->value_len; j++) STET_ASSERT(is_text((uint8_t)f->value[j]));
    }
    if (p->state == P_DONE && p->body.data != NULL) STET_ASSERT(p->body.data[p->body.len] == '\0');
}
