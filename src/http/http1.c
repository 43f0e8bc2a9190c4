/* HTTP/1.1 request head parser and chunked decoder (see http1.h for the accepted grammar).
 *
 * Design
 *   The head parser is a single pass over a complete head: it first checks the request line
 *   (so "GARBAGE\r\n" is rejected without waiting for the blank line), then looks for the
 *   CRLFCRLF that ends the head, then parses the fields line by line and finally applies the
 *   framing rules (content-length / transfer-encoding / connection / expect). It never
 *   allocates and only returns pointers into the input, which makes it trivially fuzzable:
 *   fuzz/fuzz_http1.c checks that every returned pointer lies inside the input.
 *
 *   The chunked decoder is a byte-level state machine so that it can be fed whatever the
 *   socket delivered (one byte at a time in the worst case):
 *
 *     SIZE --hex--> SIZE --';'--> EXT --CR--> SIZE_LF --LF--> DATA (size > 0)
 *                                                        \--> TRAILER_START (size == 0)
 *     DATA --n bytes--> DATA_CR --CR--> DATA_LF --LF--> SIZE
 *     TRAILER_START --CR--> FINAL_LF --LF--> done
 *     TRAILER_START --other--> TRAILER_LINE --CR--> TRAILER_LF --LF--> TRAILER_START
 */
#include "http/http1.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"

bool stet_http1_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

static bool is_target_char(unsigned char c)
{
    return (c >= 0x21 && c <= 0x7E) || c >= 0x80;
}

static bool is_field_value_char(unsigned char c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7E) || c >= 0x80;
}

static bool ieq(const char *a, size_t a_len, const char *lit)
{
    size_t n = strlen(lit);
    return a_len == n && strncasecmp(a, lit, n) == 0;
}

static const char root_path[] = "/";

/* Splits an origin-form path?query starting at p (length n) into out->path/query. */
static void split_query(const char *p, size_t n, struct stet_http1_head *out)
{
    const char *q = memchr(p, '?', n);
    if (q) {
        out->path = p;
        out->path_len = (size_t)(q - p);
        out->query = q + 1;
        out->query_len = n - out->path_len - 1;
    } else {
        out->path = p;
        out->path_len = n;
        out->query = NULL;
        out->query_len = 0;
    }
}

/* Parses the request-target into path and query. Returns 0 or STET_HTTP1_EMALFORMED. */
static int parse_target(struct stet_http1_head *out)
{
    const char *t = out->target;
    size_t n = out->target_len;
    STET_ASSERT(n > 0);
    if (t[0] == '/') {
        split_query(t, n, out);
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (!ieq(out->method, out->method_len, "OPTIONS")) return STET_HTTP1_EMALFORMED;
        out->path = t;
        out->path_len = 1;
        out->query = NULL;
        out->query_len = 0;
        return 0;
    }
    size_t scheme_len;
    if (n >= 7 && strncasecmp(t, "http://", 7) == 0) scheme_len = 7;
    else if (n >= 8 && strncasecmp(t, "https://", 8) == 0) scheme_len = 8;
    else return STET_HTTP1_EMALFORMED;
    size_t i = scheme_len;
    while (i < n && t[i] != '/' && t[i] != '?') i++;
    if (i == scheme_len) return STET_HTTP1_EMALFORMED; /* empty authority */
    if (i == n) {
        out->path = root_path;
        out->path_len = 1;
        out->query = NULL;
        out->query_len = 0;
        return 0;
    }
    if (t[i] == '?') {
        out->path = root_path;
        out->path_len = 1;
        out->query = t + i + 1;
        out->query_len = n - i - 1;
        return 0;
    }
    split_query(t + i, n - i, out);
    return 0;
}

/* Parses the request line that starts at buf[0]. Returns the bytes it takes including CRLF,
 * 0 if its end has not arrived yet, or STET_HTTP1_EMALFORMED. A prefix that already cannot
 * become a valid line is rejected early. */
static int parse_request_line(const char *buf, size_t len, struct stet_http1_head *out)
{
    size_t i = 0;
    while (i < len && stet_http1_is_tchar((unsigned char)buf[i])) i++;
    if (i == len) return 0;
    if (i == 0 || buf[i] != ' ') return STET_HTTP1_EMALFORMED;
    out->method = buf;
    out->method_len = i;
    i++;
    size_t target_start = i;
    while (i < len && is_target_char((unsigned char)buf[i])) i++;
    if (i == len) return 0;
    if (i == target_start || buf[i] != ' ') return STET_HTTP1_EMALFORMED;
    out->target = buf + target_start;
    out->target_len = i - target_start;
    i++;
    static const char version[] = "HTTP/1.";
    for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
        if (i == len) return 0;
        if (buf[i] != version[k]) return STET_HTTP1_EMALFORMED;
    }
    if (i == len) return 0;
    if (buf[i] != '0' && buf[i] != '1') return STET_HTTP1_EMALFORMED;
    out->minor_version = buf[i] - '0';
    i++;
    if (i == len) return 0;
    if (buf[i] != '\r') return STET_HTTP1_EMALFORMED;
    i++;
    if (i == len) return 0;
    if (buf[i] != '\n') return STET_HTTP1_EMALFORMED;
    i++;
    if (parse_target(out) != 0) return STET_HTTP1_EMALFORMED;
    return (int)i;
}

/* Parses header fields in buf[0..len) which ends right after the final CRLF of the last
 * field (the empty line is not included). */
static int parse_fields(const char *buf, size_t len, struct stet_http1_head *out)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)buf[i];
        if (c == ' ' || c == '\t') return STET_HTTP1_EMALFORMED; /* obs-fold */
        size_t name_start = i;
        while (i < len && stet_http1_is_tchar((unsigned char)buf[i])) i++;
        if (i == name_start || i == len || buf[i] != ':') return STET_HTTP1_EMALFORMED;
        size_t name_len = i - name_start;
        i++;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t')) i++;
        size_t value_start = i;
        while (i < len && is_field_value_char((unsigned char)buf[i])) i++;
        if (i + 1 >= len || buf[i] != '\r' || buf[i + 1] != '\n') return STET_HTTP1_EMALFORMED;
        size_t value_end = i;
        while (value_end > value_start && (buf[value_end - 1] == ' ' || buf[value_end - 1] == '\t'))
            value_end--;
        i += 2;
        if (out->n_fields == STET_HTTP1_MAX_HEADERS) return STET_HTTP1_ETOOMANYHEADERS;
        struct stet_http1_field *f = &out->fields[out->n_fields++];
        f->name = buf + name_start;
        f->name_len = name_len;
        f->value = buf + value_start;
        f->value_len = value_end - value_start;
    }
    return 0;
}

static int parse_content_length(const char *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19) return STET_HTTP1_EMALFORMED; /* 19 digits always fit in uint64 */
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return STET_HTTP1_EMALFORMED;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

/* Walks a comma-separated token list (connection header) and records close/keep-alive. */
static void scan_connection(const char *v, size_t n, bool *close, bool *keep_alive)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t start = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
        if (ieq(v + start, i - start, "close")) *close = true;
        else if (ieq(v + start, i - start, "keep-alive")) *keep_alive = true;
    }
}

static int apply_framing(struct stet_http1_head *out)
{
    bool have_cl = false, have_te = false, have_host = false;
    bool conn_close = false, conn_keep_alive = false;
    for (size_t k = 0; k < out->n_fields; k++) {
        const struct stet_http1_field *f = &out->fields[k];
        if (ieq(f->name, f->name_len, "content-length")) {
            if (have_cl) return STET_HTTP1_EMALFORMED;
            have_cl = true;
            if (parse_content_length(f->value, f->value_len, &out->content_length) != 0)
                return STET_HTTP1_EMALFORMED;
        } else if (ieq(f->name, f->name_len, "transfer-encoding")) {
            if (have_te) return STET_HTTP1_EMALFORMED;
            have_te = true;
            if (!ieq(f->value, f->value_len, "chunked")) return STET_HTTP1_EMALFORMED;
        } else if (ieq(f->name, f->name_len, "host")) {
            if (have_host) return STET_HTTP1_EMALFORMED;
            have_host = true;
        } else if (ieq(f->name, f->name_len, "connection")) {
            scan_connection(f->value, f->value_len, &conn_close, &conn_keep_alive);
        } else if (ieq(f->name, f->name_len, "expect")) {
            if (ieq(f->value, f->value_len, "100-continue") && out->minor_version == 1)
                out->expect_continue = true;
        }
    }
    if (have_cl && have_te) return STET_HTTP1_EMALFORMED;
    if (have_te && out->minor_version == 0) return STET_HTTP1_EMALFORMED;
    if (have_te) out->body_kind = STET_HTTP1_BODY_CHUNKED;
    else if (have_cl && out->content_length > 0) out->body_kind = STET_HTTP1_BODY_LENGTH;
    else out->body_kind = STET_HTTP1_BODY_NONE;
    if (out->minor_version == 1) out->keep_alive = !conn_close;
    else out->keep_alive = conn_keep_alive && !conn_close;
    return 0;
}

int stet_http1_parse_head(const char *buf, size_t len, struct stet_http1_head *out)
{
    STET_ASSERT(buf != NULL || len == 0);
    STET_ASSERT(out != NULL);
    if (len > INT_MAX) len = INT_MAX;
    out->n_fields = 0;
    out->content_length = 0;
    out->body_kind = STET_HTTP1_BODY_NONE;
    out->keep_alive = false;
    out->expect_continue = false;

    size_t i = 0;
    for (;;) {
        if (i == len) return 0;
        if (buf[i] != '\r') break;
        if (i + 1 == len) return 0;
        if (buf[i + 1] != '\n') return STET_HTTP1_EMALFORMED;
        i += 2;
    }
    int line = parse_request_line(buf + i, len - i, out);
    if (line <= 0) return line;
    size_t fields_start = i + (size_t)line;

    size_t fields_end; /* index just after the CRLF of the last field */
    if (len - fields_start >= 2 && buf[fields_start] == '\r' && buf[fields_start + 1] == '\n') {
        fields_end = fields_start;
    } else {
        /* the request line's CRLF precedes fields_start, so search from two bytes before */
        const char *end = memmem(buf + fields_start - 2, len - fields_start + 2, "\r\n\r\n", 4);
        if (end == NULL) return 0;
        fields_end = (size_t)(end - buf) + 2;
    }
    STET_ASSERT(fields_end >= fields_start);
    int rc = parse_fields(buf + fields_start, fields_end - fields_start, out);
    if (rc != 0) return rc;
    rc = apply_framing(out);
    if (rc != 0) return rc;
    size_t total = fields_end + 2;
    STET_ASSERT(total <= len);
    return (int)total;
}

enum {
    CH_SIZE = 0,
    CH_SIZE_WS,     /* BWS after the size, before ';' or CR */
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,
    CH_TRAILER_LINE,
    CH_TRAILER_LF,
    CH_FINAL_LF,
    CH_DONE,
};

void stet_http1_chunked_init(struct stet_http1_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ssize_t stet_http1_chunked_decode(struct stet_http1_chunked *c, const uint8_t *in, size_t len,
                                  struct stet_buf *out, size_t max_body)
{
    STET_ASSERT(c->state != CH_DONE || len == 0 || c->done);
    size_t i = 0;
    while (i < len && c->state != CH_DONE) {
        unsigned char b = in[i];
        switch (c->state) {
        case CH_SIZE: {
            int h = hex_value(b);
            if (h >= 0) {
                if (c->size_digits == 16) return STET_HTTP1_EMALFORMED; /* > 64 bits */
                c->chunk_remaining = (c->chunk_remaining << 4) | (uint64_t)h;
                c->size_digits++;
                i++;
                break;
            }
            if (c->size_digits == 0) return STET_HTTP1_EMALFORMED;
            c->state = CH_SIZE_WS;
            break; /* re-examine b */
        }
        case CH_SIZE_WS:
            if (b == ' ' || b == '\t') {
                if (++c->line_len > STET_HTTP1_CHUNK_LINE_MAX) return STET_HTTP1_EMALFORMED;
                i++;
            } else if (b == ';') {
                c->state = CH_EXT;
                i++;
            } else if (b == '\r') {
                c->state = CH_SIZE_LF;
                i++;
            } else {
                return STET_HTTP1_EMALFORMED;
            }
            break;
        case CH_EXT:
            if (b == '\r') {
                c->state = CH_SIZE_LF;
            } else if (b == '\n' || (b < 0x20 && b != '\t') || b == 0x7F) {
                return STET_HTTP1_EMALFORMED;
            } else if (++c->line_len > STET_HTTP1_CHUNK_LINE_MAX) {
                return STET_HTTP1_EMALFORMED;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (b != '\n') return STET_HTTP1_EMALFORMED;
            i++;
            c->line_len = 0;
            c->size_digits = 0;
            if (c->chunk_remaining == 0) {
                c->state = CH_TRAILER_START;
            } else {
                if (c->chunk_remaining > max_body || out->len > max_body - c->chunk_remaining)
                    return STET_HTTP1_ETOOLARGE;
                c->state = CH_DATA;
            }
            break;
        case CH_DATA: {
            size_t take = len - i;
            if ((uint64_t)take > c->chunk_remaining) take = (size_t)c->chunk_remaining;
            stet_buf_append(out, in + i, take);
            i += take;
            c->chunk_remaining -= take;
            if (c->chunk_remaining == 0) c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (b != '\r') return STET_HTTP1_EMALFORMED;
            c->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (b != '\n') return STET_HTTP1_EMALFORMED;
            c->state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER_START:
            if (b == '\r') {
                c->state = CH_FINAL_LF;
                i++;
            } else if (b == ' ' || b == '\t' || !stet_http1_is_tchar(b)) {
                return STET_HTTP1_EMALFORMED;
            } else {
                c->state = CH_TRAILER_LINE;
            }
            break;
        case CH_TRAILER_LINE:
            if (b == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (b == '\n' || b == 0 || b == 0x7F) {
                return STET_HTTP1_EMALFORMED;
            } else if (++c->line_len > STET_HTTP1_CHUNK_LINE_MAX) {
                return STET_HTTP1_EMALFORMED;
            }
            if (++c->trailer_bytes > STET_HTTP1_TRAILERS_MAX) return STET_HTTP1_EMALFORMED;
            i++;
            break;
        case CH_TRAILER_LF:
            if (b != '\n') return STET_HTTP1_EMALFORMED;
            c->line_len = 0;
            c->state = CH_TRAILER_START;
            i++;
            break;
        case CH_FINAL_LF:
            if (b != '\n') return STET_HTTP1_EMALFORMED;
            c->state = CH_DONE;
            c->done = true;
            i++;
            break;
        default:
            STET_UNREACHABLE();
        }
    }
    STET_ASSERT(out->len <= max_body);
    return (ssize_t)i;
}
