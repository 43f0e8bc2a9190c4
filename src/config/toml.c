/* TOML reader and writer (see toml.h for the accepted subset).
 *
 * Design
 *   A hand-written recursive-descent parser over the whole input (it is a config file, at
 *   most 1 MiB). The tree is built as it goes; the first error stops the parse, frees the
 *   partial tree and reports "line L, column C: ...".
 *
 *   Redefinition rules are enforced with an origin tag on every table and array:
 *     ORIGIN_IMPLICIT  table created as an intermediate of a [a.b.c] header; a later
 *                      [a.b] header may still define it (it then becomes ORIGIN_HEADER);
 *     ORIGIN_HEADER    table defined by a [header] (or an element of [[header]]): a second
 *                      header for it is an error, dotted keys cannot reach into it;
 *     ORIGIN_DOTTED    table created by a dotted key (a.b = 1): more dotted keys may add to
 *                      it, a header naming it is an error, headers for sub-tables are fine;
 *     ORIGIN_INLINE    inline table { ... }: frozen, nothing may add to it;
 *     ORIGIN_AOT       array created by [[header]]: more [[header]]s append to it;
 *     ORIGIN_VALUE     any other value (static arrays included): frozen.
 *
 *   Invariants: every table entry's key is unique within its table; the tree never holds a
 *   NULL value; depth never exceeds STET_TOML_MAX_DEPTH.
 */
#include "config/toml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/timefmt.h"

enum {
    ORIGIN_VALUE = 0,
    ORIGIN_IMPLICIT = 1,
    ORIGIN_HEADER = 2,
    ORIGIN_DOTTED = 3,
    ORIGIN_INLINE = 4,
    ORIGIN_AOT = 5,
    ORIGIN_ROOT = 6,
};

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    uint32_t line;
    size_t line_start;
    char *err;
    size_t errlen;
    bool failed;
};

/* A parsed key: up to STET_TOML_MAX_DEPTH parts, each an owned NUL-terminated string. */
struct key_path {
    char *part[STET_TOML_MAX_DEPTH];
    size_t part_len[STET_TOML_MAX_DEPTH];
    size_t n;
};

static void key_path_free(struct key_path *k) {
    for (size_t i = 0; i < k->n; i++) free(k->part[i]);
    k->n = 0;
}

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...) {
    if (p->failed) return -EINVAL;
    p->failed = true;
    if (p->err == NULL || p->errlen == 0) return -EINVAL;
    int n = snprintf(p->err, p->errlen, "line %" PRIu32 ", column %zu: ", p->line, p->pos - p->line_start + 1);
    if (n < 0 || (size_t)n >= p->errlen) return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ---- tree helpers ---- */

static struct stet_toml_value *new_value(enum stet_toml_type type, uint32_t line, uint8_t origin) {
    struct stet_toml_value *v = calloc(1, sizeof(*v));
    if (v == NULL) return NULL;
    v->type = type;
    v->line = line;
    v->origin = origin;
    return v;
}

void stet_toml_free(struct stet_toml_value *v) {
    if (v == NULL) return;
    switch (v->type) {
    case STET_TOML_STRING: free(v->u.str.ptr); break;
    case STET_TOML_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) stet_toml_free(v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case STET_TOML_TABLE:
        for (size_t i = 0; i < v->u.tab.n; i++) {
            free(v->u.tab.items[i].key);
            stet_toml_free(v->u.tab.items[i].value);
        }
        free(v->u.tab.items);
        break;
    default: break;
    }
    free(v);
}

static struct stet_toml_entry *table_find(const struct stet_toml_value *t, const char *key, size_t key_len) {
    STET_ASSERT(t->type == STET_TOML_TABLE);
    for (size_t i = 0; i < t->u.tab.n; i++) {
        struct stet_toml_entry *e = &t->u.tab.items[i];
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) return e;
    }
    return NULL;
}

const struct stet_toml_value *stet_toml_get(const struct stet_toml_value *t, const char *key) {
    if (t == NULL || t->type != STET_TOML_TABLE) return NULL;
    struct stet_toml_entry *e = table_find(t, key, strlen(key));
    return e ? e->value : NULL;
}

/* Adds key -> value (copies the key; takes ownership of value on success). */
static int table_add(struct stet_toml_value *t, const char *key, size_t key_len, struct stet_toml_value *value) {
    STET_ASSERT(t->type == STET_TOML_TABLE);
    STET_ASSERT(table_find(t, key, key_len) == NULL);
    char *copy = malloc(key_len + 1);
    if (copy == NULL) return -ENOMEM;
    memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    if (t->u.tab.n == t->u.tab.cap) {
        size_t cap = t->u.tab.cap ? t->u.tab.cap * 2 : 8;
        struct stet_toml_entry *items = realloc(t->u.tab.items, cap * sizeof(*items));
        if (items == NULL) {
            free(copy);
            return -ENOMEM;
        }
        t->u.tab.items = items;
        t->u.tab.cap = cap;
    }
    t->u.tab.items[t->u.tab.n++] = (struct stet_toml_entry){copy, key_len, value};
    return 0;
}

static int array_push(struct stet_toml_value *a, struct stet_toml_value *value) {
    STET_ASSERT(a->type == STET_TOML_ARRAY);
    if (a->u.arr.n == a->u.arr.cap) {
        size_t cap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
        struct stet_toml_value **items = realloc(a->u.arr.items, cap * sizeof(*items));
        if (items == NULL) return -ENOMEM;
        a->u.arr.items = items;
        a->u.arr.cap = cap;
    }
    a->u.arr.items[a->u.arr.n++] = value;
    return 0;
}

const char *stet_toml_type_name(enum stet_toml_type type) {
    switch (type) {
    case STET_TOML_STRING: return "string";
    case STET_TOML_INTEGER: return "integer";
    case STET_TOML_FLOAT: return "float";
    case STET_TOML_BOOL: return "boolean";
    case STET_TOML_ARRAY: return "array";
    case STET_TOML_TABLE: return "table";
    }
    return "?";
}

/* ---- lexical helpers ---- */

static bool at_end(const struct parser *p) { return p->pos >= p->len; }
static int peek(const struct parser *p) { return at_end(p) ? -1 : (unsigned char)p->s[p->pos]; }
static int peek_at(const struct parser *p, size_t off) {
    return p->pos + off >= p->len ? -1 : (unsigned char)p->s[p->pos + off];
}

static bool is_bare_key_char(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static void skip_ws(struct parser *p) {
    while (!at_end(p) && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

/* Consumes a newline (LF or CRLF) if one is next; returns whether it did. */
static bool eat_newline(struct parser *p) {
    if (peek(p) == '\n') {
        p->pos++;
    } else if (peek(p) == '\r' && peek_at(p, 1) == '\n') {
        p->pos += 2;
    } else {
        return false;
    }
    p->line++;
    p->line_start = p->pos;
    return true;
}

static bool is_control(int c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f; }

/* Skips a comment if one starts here (up to, not including, the newline). */
static int skip_comment(struct parser *p) {
    if (peek(p) != '#') return 0;
    p->pos++;
    while (!at_end(p)) {
        int c = peek(p);
        if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) break;
        if (is_control(c)) return fail(p, "control character 0x%02x in a comment", c);
        p->pos++;
    }
    return 0;
}

/* Whitespace, newlines and comments (inside arrays). */
static int skip_ws_nl_comments(struct parser *p) {
    for (;;) {
        skip_ws(p);
        if (peek(p) == '#') {
            int rc = skip_comment(p);
            if (rc != 0) return rc;
            continue;
        }
        if (!eat_newline(p)) return 0;
    }
}

/* After a key/value pair or a header: optional whitespace and comment, then a newline or
 * the end of input. */
static int expect_line_end(struct parser *p) {
    skip_ws(p);
    int rc = skip_comment(p);
    if (rc != 0) return rc;
    if (at_end(p) || eat_newline(p)) return 0;
    if (peek(p) == '\r') return fail(p, "a carriage return must be followed by a line feed");
    return fail(p, "expected the end of the line, found '%c'", peek(p));
}

/* ---- strings ---- */

static int hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_escape(struct parser *p, struct stet_buf *out) {
    /* at the character after the backslash */
    int c = peek(p);
    switch (c) {
    case 'b': stet_buf_append_byte(out, '\b'); p->pos++; return 0;
    case 't': stet_buf_append_byte(out, '\t'); p->pos++; return 0;
    case 'n': stet_buf_append_byte(out, '\n'); p->pos++; return 0;
    case 'f': stet_buf_append_byte(out, '\f'); p->pos++; return 0;
    case 'r': stet_buf_append_byte(out, '\r'); p->pos++; return 0;
    case 'e': stet_buf_append_byte(out, 0x1b); p->pos++; return 0;
    case '"': stet_buf_append_byte(out, '"'); p->pos++; return 0;
    case '\\': stet_buf_append_byte(out, '\\'); p->pos++; return 0;
    case 'u':
    case 'U': {
        size_t digits = c == 'u' ? 4 : 8;
        p->pos++;
        uint32_t cp = 0;
        for (size_t i = 0; i < digits; i++) {
            int h = hex_digit(peek(p));
            if (h < 0) return fail(p, "expected %zu hex digits in a \\%c escape", digits, c);
            cp = (cp << 4) | (uint32_t)h;
            p->pos++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail(p, "\\%c escape U+%04" PRIX32 " is not a Unicode scalar value", c, cp);
        stet_utf8_append(out, cp);
        return 0;
    }
    default:
        if (c < 0) return fail(p, "unterminated escape sequence");
        return fail(p, "invalid escape sequence '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
    }
}

static char *buf_to_string(struct stet_buf *b, size_t *len) {
    stet_buf_append_byte(b, 0);
    size_t n;
    char *s = (char *)stet_buf_steal(b, &n);
    *len = n - 1;
    return s;
}

/* Parses a string starting at the opening quote. multiline strings only when allowed
 * (values, not keys). On success *out is owned by the caller. */
static int parse_string(struct parser *p, bool allow_multiline, char **out, size_t *out_len) {
    int q = peek(p);
    STET_ASSERT(q == '"' || q == '\'');
    bool literal = q == '\'';
    bool multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
    struct stet_buf b = STET_BUF_INIT;
    int rc = 0;
    if (multi) {
        if (!allow_multiline) {
            rc = fail(p, "multi-line strings cannot be keys");
            goto done;
        }
        p->pos += 3;
        eat_newline(p); /* a newline right after the delimiter is trimmed */
        for (;;) {
            if (at_end(p)) {
                rc = fail(p, "unterminated multi-line string");
                goto done;
            }
            int c = peek(p);
            if (c == q && peek_at(p, 1) == q && peek_at(p, 2) == q) {
                size_t run = 3;
                while (peek_at(p, run) == q) run++;
                if (run > 5) {
                    p->pos += 5;
                    rc = fail(p, "too many quotes at the end of a multi-line string");
                    goto done;
                }
                for (size_t i = 3; i < run; i++) stet_buf_append_byte(&b, (uint8_t)q);
                p->pos += run;
                break;
            }
            if (c == '\n' || c == '\r') {
                if (c == '\r' && peek_at(p, 1) != '\n') {
                    rc = fail(p, "a carriage return must be followed by a line feed");
                    goto done;
                }
                eat_newline(p);
                stet_buf_append_byte(&b, '\n');
                continue;
            }
            if (!literal && c == '\\') {
                /* line-ending backslash: skip whitespace up to and across newlines */
                size_t save = p->pos;
                p->pos++;
                skip_ws(p);
                if (peek(p) == '\n' || (peek(p) == '\r' && peek_at(p, 1) == '\n')) {
                    while (eat_newline(p)) skip_ws(p);
                    continue;
                }
                p->pos = save + 1;
                rc = parse_escape(p, &b);
                if (rc != 0) goto done;
                continue;
            }
            if (is_control(c)) {
                rc = fail(p, "control character 0x%02x in a string (escape it)", c);
                goto done;
            }
            stet_buf_append_byte(&b, (uint8_t)c);
            p->pos++;
        }
    } else {
        p->pos++;
        for (;;) {
            if (at_end(p) || peek(p) == '\n' || peek(p) == '\r') {
                rc = fail(p, "unterminated string");
                goto done;
            }
            int c = peek(p);
            if (c == q) {
                p->pos++;
                break;
            }
            if (!literal && c == '\\') {
                p->pos++;
                rc = parse_escape(p, &b);
                if (rc != 0) goto done;
                continue;
            }
            if (is_control(c)) {
                rc = fail(p, "control character 0x%02x in a string (escape it)", c);
                goto done;
            }
            stet_buf_append_byte(&b, (uint8_t)c);
            p->pos++;
        }
    }
    *out = buf_to_string(&b, out_len);
    return 0;
done:
    stet_buf_free(&b);
    return rc;
}

/* ---- keys ---- */

static int parse_simple_key(struct parser *p, char **out, size_t *out_len) {
    int c = peek(p);
    if (c == '"' || c == '\'') return parse_string(p, false, out, out_len);
    size_t start = p->pos;
    while (!at_end(p) && is_bare_key_char(peek(p))) p->pos++;
    if (p->pos == start) {
        if (c < 0) return fail(p, "expected a key, found the end of the input");
        if (c == '\n' || c == '\r') return fail(p, "expected a key, found the end of the line");
        return fail(p, "expected a key, found '%c'", c >= 0x20 && c < 0x7f ? c : '?');
    }
    size_t n = p->pos - start;
    char *s = malloc(n + 1);
    if (s == NULL) return -ENOMEM;
    memcpy(s, p->s + start, n);
    s[n] = '\0';
    *out = s;
    *out_len = n;
    return 0;
}

static int parse_key(struct parser *p, struct key_path *k) {
    k->n = 0;
    for (;;) {
        if (k->n == STET_TOML_MAX_DEPTH) return fail(p, "key has more than %d parts", STET_TOML_MAX_DEPTH);
        int rc = parse_simple_key(p, &k->part[k->n], &k->part_len[k->n]);
        if (rc != 0) return rc;
        k->n++;
        skip_ws(p);
        if (peek(p) != '.') return 0;
        p->pos++;
        skip_ws(p);
    }
}

/* A key for messages: the dotted path, truncated. */
static const char *key_display(const struct key_path *k, size_t upto, char *buf, size_t buflen) {
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < upto && i < k->n; i++) {
        int n = snprintf(buf + o, buflen - o, "%s%s", i ? "." : "", k->part[i]);
        if (n < 0 || (size_t)n >= buflen - o) break;
        o += (size_t)n;
    }
    return buf;
}

/* ---- values ---- */

static int parse_value(struct parser *p, int depth, struct stet_toml_value **out);

static bool is_value_end(int c) {
    return c < 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#' || c == ',' || c == ']' || c == '}';
}

/* digits with single underscores between digits; `digit_ok` picks the radix. */
static bool valid_digits(const char *s, size_t n, int (*digit_ok)(int)) {
    if (n == 0) return false;
    if (!digit_ok((unsigned char)s[0]) || !digit_ok((unsigned char)s[n - 1])) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (!digit_ok((unsigned char)s[i + 1])) return false; /* "__" */
        } else if (!digit_ok((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}
static int is_dec(int c) { return c >= '0' && c <= '9'; }
static int is_hex(int c) { return hex_digit(c) >= 0; }
static int is_oct(int c) { return c >= '0' && c <= '7'; }
static int is_bin(int c) { return c == '0' || c == '1'; }

static int parse_number(struct parser *p, struct stet_toml_value **out) {
    uint32_t line = p->line;
    size_t start = p->pos;
    while (!at_end(p)) {
        int c = peek(p);
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '+' ||
            c == '-' || c == '.' || c == ':')
            p->pos++;
        else
            break;
    }
    const char *t = p->s + start;
    size_t n = p->pos - start;
    if (n > 128) {
        p->pos = start;
        return fail(p, "number too long");
    }
    /* dates and times: 1979-05-27, 07:32:00 */
    if ((n >= 5 && is_dec((unsigned char)t[0]) && t[4] == '-' && is_dec((unsigned char)t[1])) ||
        (n >= 3 && is_dec((unsigned char)t[0]) && t[2] == ':')) {
        p->pos = start;
        return fail(p, "dates and times are not supported in stet's configuration");
    }
    char clean[130];
    size_t cn = 0;
    const char *body = t;
    size_t bn = n;
    bool neg = false;
    if (bn > 0 && (body[0] == '+' || body[0] == '-')) {
        neg = body[0] == '-';
        body++;
        bn--;
    }
    struct stet_toml_value *v = NULL;
    if (bn == 3 && (memcmp(body, "inf", 3) == 0 || memcmp(body, "nan", 3) == 0)) {
        v = new_value(STET_TOML_FLOAT, line, ORIGIN_VALUE);
        if (v == NULL) return -ENOMEM;
        v->u.flt = body[0] == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
        *out = v;
        return 0;
    }
    if (bn > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b')) {
        if (body != t) {
            p->pos = start;
            return fail(p, "a sign is not allowed on hexadecimal, octal or binary integers");
        }
        int radix = body[1] == 'x' ? 16 : body[1] == 'o' ? 8 : 2;
        int (*ok)(int) = radix == 16 ? is_hex : radix == 8 ? is_oct : is_bin;
        if (!valid_digits(body + 2, bn - 2, ok)) {
            p->pos = start;
            return fail(p, "invalid number '%.*s'", (int)n, t);
        }
        uint64_t x = 0;
        for (size_t i = 2; i < bn; i++) {
            if (body[i] == '_') continue;
            uint64_t d = (uint64_t)hex_digit((unsigned char)body[i]);
            if (x > (UINT64_MAX - d) / (uint64_t)radix || x * (uint64_t)radix + d > (uint64_t)INT64_MAX) {
                p->pos = start;
                return fail(p, "integer '%.*s' does not fit in 64 bits", (int)n, t);
            }
            x = x * (uint64_t)radix + d;
        }
        v = new_value(STET_TOML_INTEGER, line, ORIGIN_VALUE);
        if (v == NULL) return -ENOMEM;
        v->u.integer = (int64_t)x;
        *out = v;
        return 0;
    }
    /* decimal integer or float: int-part [frac] [exp] */
    size_t i = 0;
    size_t int_end = 0;
    while (int_end < bn && (is_dec((unsigned char)body[int_end]) || body[int_end] == '_')) int_end++;
    bool ok = valid_digits(body, int_end, is_dec);
    if (ok && int_end > 1 && body[0] == '0') ok = false; /* leading zero */
    i = int_end;
    bool is_float = false;
    if (ok && i < bn && body[i] == '.') {
        is_float = true;
        size_t f = ++i;
        while (i < bn && (is_dec((unsigned char)body[i]) || body[i] == '_')) i++;
        ok = valid_digits(body + f, i - f, is_dec);
    }
    if (ok && i < bn && (body[i] == 'e' || body[i] == 'E')) {
        is_float = true;
        i++;
        if (i < bn && (body[i] == '+' || body[i] == '-')) i++;
        size_t e = i;
        while (i < bn && (is_dec((unsigned char)body[i]) || body[i] == '_')) i++;
        ok = valid_digits(body + e, i - e, is_dec);
    }
    if (!ok || i != bn) {
        p->pos = start;
        return fail(p, "invalid value '%.*s' (strings must be quoted)", (int)(n > 60 ? 60 : n), t);
    }
    for (size_t k = 0; k < n; k++)
        if (t[k] != '_') clean[cn++] = t[k];
    clean[cn] = '\0';
    if (is_float) {
        char *end = NULL;
        double d = strtod(clean, &end);
        STET_ASSERT(end == clean + cn);
        v = new_value(STET_TOML_FLOAT, line, ORIGIN_VALUE);
        if (v == NULL) return -ENOMEM;
        v->u.flt = d;
    } else {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(clean, &end, 10);
        if (errno == ERANGE) {
            p->pos = start;
            return fail(p, "integer '%.*s' does not fit in 64 bits", (int)n, t);
        }
        STET_ASSERT(end == clean + cn);
        v = new_value(STET_TOML_INTEGER, line, ORIGIN_VALUE);
        if (v == NULL) return -ENOMEM;
        v->u.integer = (int64_t)x;
    }
    *out = v;
    return 0;
}

static int parse_array(struct parser *p, int depth, struct stet_toml_value **out) {
    struct stet_toml_value *a = new_value(STET_TOML_ARRAY, p->line, ORIGIN_VALUE);
    if (a == NULL) return -ENOMEM;
    p->pos++; /* '[' */
    int rc;
    for (;;) {
        rc = skip_ws_nl_comments(p);
        if (rc != 0) goto fail;
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        struct stet_toml_value *item = NULL;
        rc = parse_value(p, depth + 1, &item);
        if (rc != 0) goto fail;
        rc = array_push(a, item);
        if (rc != 0) {
            stet_toml_free(item);
            goto fail;
        }
        rc = skip_ws_nl_comments(p);
        if (rc != 0) goto fail;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        rc = at_end(p) ? fail(p, "unterminated array") : fail(p, "expected ',' or ']' in an array");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    stet_toml_free(a);
    return rc;
}

/* Walks/creates the tables of a dotted key inside `t` (all parts but the last) and stores
 * `value` under the last part. Takes ownership of value on success. */
static int assign_dotted(struct parser *p, struct stet_toml_value *t, struct key_path *k,
                         struct stet_toml_value *value) {
    char shown[256];
    for (size_t i = 0; i + 1 < k->n; i++) {
        struct stet_toml_entry *e = table_find(t, k->part[i], k->part_len[i]);
        if (e == NULL) {
            struct stet_toml_value *nt = new_value(STET_TOML_TABLE, p->line, ORIGIN_DOTTED);
            if (nt == NULL) return -ENOMEM;
            int rc = table_add(t, k->part[i], k->part_len[i], nt);
            if (rc != 0) {
                stet_toml_free(nt);
                return rc;
            }
            t = nt;
            continue;
        }
        if (e->value->type != STET_TOML_TABLE || e->value->origin != ORIGIN_DOTTED)
            return fail(p, "cannot add to '%s': it is already defined (line %" PRIu32 ")",
                        key_display(k, i + 1, shown, sizeof(shown)), e->value->line);
        t = e->value;
    }
    size_t last = k->n - 1;
    struct stet_toml_entry *e = table_find(t, k->part[last], k->part_len[last]);
    if (e != NULL)
        return fail(p, "duplicate key '%s' (first defined on line %" PRIu32 ")",
                    key_display(k, k->n, shown, sizeof(shown)), e->value->line);
    int rc = table_add(t, k->part[last], k->part_len[last], value);
    if (rc != 0) return rc;
    return 0;
}

static int parse_inline_table(struct parser *p, int depth, struct stet_toml_value **out) {
    struct stet_toml_value *t = new_value(STET_TOML_TABLE, p->line, ORIGIN_DOTTED);
    if (t == NULL) return -ENOMEM;
    p->pos++; /* '{' */
    struct key_path k = {0};
    int rc;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        goto done;
    }
    for (;;) {
        skip_ws(p);
        rc = parse_key(p, &k);
        if (rc != 0) goto fail;
        if (k.n + (size_t)depth > STET_TOML_MAX_DEPTH) {
            rc = fail(p, "nesting deeper than %d levels", STET_TOML_MAX_DEPTH);
            goto fail;
        }
        skip_ws(p);
        if (peek(p) != '=') {
            rc = fail(p, "expected '=' after a key in an inline table");
            goto fail;
        }
        p->pos++;
        skip_ws(p);
        struct stet_toml_value *v = NULL;
        rc = parse_value(p, depth + 1, &v);
        if (rc != 0) goto fail;
        rc = assign_dotted(p, t, &k, v);
        if (rc != 0) {
            stet_toml_free(v);
            goto fail;
        }
        key_path_free(&k);
        skip_ws(p);
        if (peek(p) == ',') {
            p->pos++;
            skip_ws(p);
            if (peek(p) == '}') {
                rc = fail(p, "trailing comma in an inline table");
                goto fail;
            }
            continue;
        }
        if (peek(p) == '}') {
            p->pos++;
            break;
        }
        rc = fail(p, "expected ',' or '}' in an inline table (inline tables must fit on one line)");
        goto fail;
    }
done:
    t->origin = ORIGIN_INLINE;
    *out = t;
    return 0;
fail:
    key_path_free(&k);
    stet_toml_free(t);
    return rc;
}

static int parse_value(struct parser *p, int depth, struct stet_toml_value **out) {
    if (depth > STET_TOML_MAX_DEPTH) return fail(p, "nesting deeper than %d levels", STET_TOML_MAX_DEPTH);
    int c = peek(p);
    uint32_t line = p->line;
    if (c == '"' || c == '\'') {
        char *s;
        size_t n;
        int rc = parse_string(p, true, &s, &n);
        if (rc != 0) return rc;
        struct stet_toml_value *v = new_value(STET_TOML_STRING, line, ORIGIN_VALUE);
        if (v == NULL) {
            free(s);
            return -ENOMEM;
        }
        v->u.str.ptr = s;
        v->u.str.len = n;
        *out = v;
        return 0;
    }
    if (c == '[') return parse_array(p, depth, out);
    if (c == '{') return parse_inline_table(p, depth, out);
    if (c == 't' || c == 'f') {
        bool b = c == 't';
        size_t n = b ? 4 : 5;
        if (p->pos + n <= p->len && memcmp(p->s + p->pos, b ? "true" : "false", n) == 0 &&
            is_value_end(peek_at(p, n))) {
            struct stet_toml_value *v = new_value(STET_TOML_BOOL, line, ORIGIN_VALUE);
            if (v == NULL) return -ENOMEM;
            v->u.boolean = b;
            p->pos += n;
            *out = v;
            return 0;
        }
    }
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'i' || c == 'n') {
        int rc = parse_number(p, out);
        if (rc != 0) return rc;
        if (!is_value_end(peek(p))) {
            stet_toml_free(*out);
            *out = NULL;
            return fail(p, "unexpected character after a number");
        }
        return 0;
    }
    if (c < 0 || c == '\n' || c == '\r') return fail(p, "expected a value");
    return fail(p, "invalid value starting with '%c' (strings must be quoted)", c >= 0x20 && c < 0x7f ? c : '?');
}

/* ---- document ---- */

/* [a.b.c] or [[a.b.c]]: makes *current the table to fill. */
static int parse_header(struct parser *p, struct stet_toml_value *root, struct stet_toml_value **current) {
    bool aot = peek_at(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    struct key_path k = {0};
    char shown[256];
    int rc = parse_key(p, &k);
    if (rc != 0) goto done;
    skip_ws(p);
    if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
        rc = fail(p, aot ? "expected ']]' to close the array-of-tables header" : "expected ']' to close the table header");
        goto done;
    }
    p->pos += aot ? 2 : 1;
    struct stet_toml_value *t = root;
    for (size_t i = 0; i < k.n; i++) {
        bool last = i + 1 == k.n;
        struct stet_toml_entry *e = table_find(t, k.part[i], k.part_len[i]);
        if (e == NULL) {
            struct stet_toml_value *nv;
            if (last && aot) {
                nv = new_value(STET_TOML_ARRAY, p->line, ORIGIN_AOT);
            } else {
                nv = new_value(STET_TOML_TABLE, p->line, last ? ORIGIN_HEADER : ORIGIN_IMPLICIT);
            }
            if (nv == NULL) {
                rc = -ENOMEM;
                goto done;
            }
            rc = table_add(t, k.part[i], k.part_len[i], nv);
            if (rc != 0) {
                stet_toml_free(nv);
                goto done;
            }
            if (nv->type == STET_TOML_ARRAY) {
                struct stet_toml_value *elem = new_value(STET_TOML_TABLE, p->line, ORIGIN_HEADER);
                if (elem == NULL) {
                    rc = -ENOMEM;
                    goto done;
                }
                rc = array_push(nv, elem);
                if (rc != 0) {
                    stet_toml_free(elem);
                    goto done;
                }
                t = elem;
            } else {
                t = nv;
            }
            continue;
        }
        struct stet_toml_value *v = e->value;
        if (v->type == STET_TOML_ARRAY && v->origin == ORIGIN_AOT) {
            if (last && !aot) {
                rc = fail(p, "table [%s] was already defined as an array of tables", key_display(&k, k.n, shown, sizeof(shown)));
                goto done;
            }
            if (last) {
                struct stet_toml_value *elem = new_value(STET_TOML_TABLE, p->line, ORIGIN_HEADER);
                if (elem == NULL) {
                    rc = -ENOMEM;
                    goto done;
                }
                rc = array_push(v, elem);
                if (rc != 0) {
                    stet_toml_free(elem);
                    goto done;
                }
                t = elem;
            } else {
                STET_ASSERT(v->u.arr.n > 0);
                t = v->u.arr.items[v->u.arr.n - 1];
            }
            continue;
        }
        if (v->type != STET_TOML_TABLE || v->origin == ORIGIN_INLINE) {
            const char *what = v->type == STET_TOML_TABLE     ? "an inline table"
                               : v->type == STET_TOML_ARRAY   ? "an array"
                               : v->type == STET_TOML_INTEGER ? "an integer"
                                                              : stet_toml_type_name(v->type);
            rc = fail(p, "cannot define table [%s]: '%s' is already %s%s (line %" PRIu32 ")",
                      key_display(&k, k.n, shown, sizeof(shown)), k.part[i],
                      v->type == STET_TOML_TABLE || v->type == STET_TOML_ARRAY || v->type == STET_TOML_INTEGER ? "" : "a ",
                      what, v->line);
            goto done;
        }
        if (last) {
            if (aot || v->origin != ORIGIN_IMPLICIT) {
                rc = fail(p, "table [%s] is defined twice (first on line %" PRIu32 ")",
                          key_display(&k, k.n, shown, sizeof(shown)), v->line);
                goto done;
            }
            v->origin = ORIGIN_HEADER;
            v->line = p->line;
        }
        t = v;
    }
    *current = t;
    rc = 0;
done:
    key_path_free(&k);
    return rc;
}

static int parse_keyval(struct parser *p, struct stet_toml_value *table) {
    struct key_path k = {0};
    int rc = parse_key(p, &k);
    if (rc != 0) goto done;
    skip_ws(p);
    if (peek(p) != '=') {
        char shown[256];
        rc = fail(p, "expected '=' after the key '%s'", key_display(&k, k.n, shown, sizeof(shown)));
        goto done;
    }
    p->pos++;
    skip_ws(p);
    struct stet_toml_value *v = NULL;
    rc = parse_value(p, (int)k.n, &v);
    if (rc != 0) goto done;
    rc = assign_dotted(p, table, &k, v);
    if (rc != 0) stet_toml_free(v);
done:
    key_path_free(&k);
    return rc;
}

static int check_input(struct parser *p) {
    if (p->len > STET_TOML_MAX_INPUT) return -E2BIG;
    if (!stet_utf8_valid((const uint8_t *)p->s, p->len)) {
        /* find the offending byte for the message */
        size_t i = 0;
        while (i < p->len) {
            uint32_t cp;
            int n = stet_utf8_decode((const uint8_t *)p->s + i, p->len - i, &cp);
            if (n <= 0 || cp == 0xFFFD) break;
            if (p->s[i] == '\n') {
                p->line++;
                p->line_start = i + 1;
            }
            i += (size_t)n;
        }
        p->pos = i;
        return fail(p, "the input is not valid UTF-8");
    }
    return 0;
}

static void init_parser(struct parser *p, const char *text, size_t len, char *err, size_t errlen) {
    memset(p, 0, sizeof(*p));
    p->s = text;
    p->len = len;
    p->line = 1;
    p->err = err;
    p->errlen = errlen;
    if (err != NULL && errlen > 0) err[0] = '\0';
}

static int finish(struct parser *p, int rc, size_t len) {
    if (rc == -ENOMEM) {
        if (p->err && p->errlen) snprintf(p->err, p->errlen, "out of memory");
    } else if (rc == -E2BIG) {
        if (p->err && p->errlen)
            snprintf(p->err, p->errlen, "the input is %zu bytes, more than the limit of %zu", len, STET_TOML_MAX_INPUT);
    }
    return rc;
}

int stet_toml_parse(const char *text, size_t len, struct stet_toml_value **root_out, char *err, size_t errlen) {
    struct parser p;
    init_parser(&p, text, len, err, errlen);
    *root_out = NULL;
    int rc = check_input(&p);
    if (rc != 0) return finish(&p, rc, len);
    struct stet_toml_value *root = new_value(STET_TOML_TABLE, 1, ORIGIN_ROOT);
    if (root == NULL) return finish(&p, -ENOMEM, len);
    struct stet_toml_value *current = root;
    /* a byte-order mark is allowed at the start */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos = 3;
    while (!at_end(&p)) {
        skip_ws(&p);
        int c = peek(&p);
        if (c < 0) break;
        if (c == '#') {
            rc = skip_comment(&p);
            if (rc != 0) goto fail;
            continue;
        }
        if (eat_newline(&p)) continue;
        if (c == '[') rc = parse_header(&p, root, &current);
        else rc = parse_keyval(&p, current);
        if (rc != 0) goto fail;
        rc = expect_line_end(&p);
        if (rc != 0) goto fail;
    }
    *root_out = root;
    return 0;
fail:
    stet_toml_free(root);
    return finish(&p, rc, len);
}

int stet_toml_parse_value(const char *text, size_t len, struct stet_toml_value **out, char *err, size_t errlen) {
    struct parser p;
    init_parser(&p, text, len, err, errlen);
    *out = NULL;
    int rc = check_input(&p);
    if (rc != 0) return finish(&p, rc, len);
    rc = skip_ws_nl_comments(&p);
    if (rc != 0) return finish(&p, rc, len);
    struct stet_toml_value *v = NULL;
    rc = parse_value(&p, 0, &v);
    if (rc != 0) return finish(&p, rc, len);
    rc = skip_ws_nl_comments(&p);
    if (rc == 0 && !at_end(&p)) rc = fail(&p, "unexpected characters after the value");
    if (rc != 0) {
        stet_toml_free(v);
        return finish(&p, rc, len);
    }
    *out = v;
    return 0;
}

/* ---- writer ---- */

void stet_toml_write_string(struct stet_buf *out, const char *s, size_t len) {
    stet_buf_append_byte(out, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': stet_buf_append_str(out, "\\\""); break;
        case '\\': stet_buf_append_str(out, "\\\\"); break;
        case '\n': stet_buf_append_str(out, "\\n"); break;
        case '\t': stet_buf_append_str(out, "\\t"); break;
        case '\r': stet_buf_append_str(out, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) stet_buf_printf(out, "\\u%04x", c);
            else stet_buf_append_byte(out, c);
        }
    }
    stet_buf_append_byte(out, '"');
}

static void write_key(struct stet_buf *out, const char *k, size_t n) {
    bool bare = n > 0;
    for (size_t i = 0; i < n && bare; i++) bare = is_bare_key_char((unsigned char)k[i]);
    if (bare) stet_buf_append(out, k, n);
    else stet_toml_write_string(out, k, n);
}

static void write_inline(struct stet_buf *out, const struct stet_toml_value *v) {
    switch (v->type) {
    case STET_TOML_STRING: stet_toml_write_string(out, v->u.str.ptr, v->u.str.len); break;
    case STET_TOML_INTEGER: stet_buf_printf(out, "%" PRId64, v->u.integer); break;
    case STET_TOML_FLOAT: {
        double d = v->u.flt;
        if (isnan(d)) {
            stet_buf_append_str(out, "nan");
        } else if (isinf(d)) {
            stet_buf_append_str(out, d < 0 ? "-inf" : "inf");
        } else {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "%.17g", d);
            stet_buf_append_str(out, tmp);
            if (strpbrk(tmp, ".eE") == NULL) stet_buf_append_str(out, ".0");
        }
        break;
    }
    case STET_TOML_BOOL: stet_buf_append_str(out, v->u.boolean ? "true" : "false"); break;
    case STET_TOML_ARRAY:
        stet_buf_append_byte(out, '[');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i) stet_buf_append_str(out, ", ");
            write_inline(out, v->u.arr.items[i]);
        }
        stet_buf_append_byte(out, ']');
        break;
    case STET_TOML_TABLE:
        stet_buf_append_byte(out, '{');
        for (size_t i = 0; i < v->u.tab.n; i++) {
            stet_buf_append_str(out, i ? ", " : " ");
            write_key(out, v->u.tab.items[i].key, v->u.tab.items[i].key_len);
            stet_buf_append_str(out, " = ");
            write_inline(out, v->u.tab.items[i].value);
            if (i + 1 == v->u.tab.n) stet_buf_append_byte(out, ' ');
        }
        stet_buf_append_byte(out, '}');
        break;
    }
}

static void write_table(struct stet_buf *out, const struct stet_toml_value *t, struct stet_buf *path) {
    for (size_t i = 0; i < t->u.tab.n; i++) {
        const struct stet_toml_entry *e = &t->u.tab.items[i];
        if (e->value->type == STET_TOML_TABLE) continue;
        write_key(out, e->key, e->key_len);
        stet_buf_append_str(out, " = ");
        write_inline(out, e->value);
        stet_buf_append_byte(out, '\n');
    }
    for (size_t i = 0; i < t->u.tab.n; i++) {
        const struct stet_toml_entry *e = &t->u.tab.items[i];
        if (e->value->type != STET_TOML_TABLE) continue;
        size_t save = path->len;
        if (path->len) stet_buf_append_byte(path, '.');
        write_key(path, e->key, e->key_len);
        stet_buf_append_str(out, out->len ? "\n[" : "[");
        stet_buf_append(out, path->data, path->len);
        stet_buf_append_str(out, "]\n");
        write_table(out, e->value, path);
        path->len = save;
    }
}

void stet_toml_write(struct stet_buf *out, const struct stet_toml_value *v) {
    if (v->type != STET_TOML_TABLE) {
        write_inline(out, v);
        return;
    }
    struct stet_buf path = STET_BUF_INIT;
    write_table(out, v, &path);
    stet_buf_free(&path);
}

bool stet_toml_equal(const struct stet_toml_value *a, const struct stet_toml_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case STET_TOML_STRING:
        return a->u.str.len == b->u.str.len && memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0;
    case STET_TOML_INTEGER: return a->u.integer == b->u.integer;
    case STET_TOML_FLOAT:
        if (isnan(a->u.flt) || isnan(b->u.flt)) return isnan(a->u.flt) && isnan(b->u.flt);
        return a->u.flt == b->u.flt;
    case STET_TOML_BOOL: return a->u.boolean == b->u.boolean;
    case STET_TOML_ARRAY:
        if (a->u.arr.n != b->u.arr.n) return false;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!stet_toml_equal(a->u.arr.items[i], b->u.arr.items[i])) return false;
        return true;
    case STET_TOML_TABLE:
        if (a->u.tab.n != b->u.tab.n) return false;
        for (size_t i = 0; i < a->u.tab.n; i++) {
            const struct stet_toml_entry *e = &a->u.tab.items[i];
            const struct stet_toml_entry *f = table_find(b, e->key, e->key_len);
            if (f == NULL || !stet_toml_equal(e->value, f->value)) return false;
        }
        return true;
    }
    return false;
}
