/* JSON DOM parser and streaming writer (see json.h for the contract).
 *
 * Parser design
 *   - Recursive descent over the input bytes, one function per grammar rule; recursion depth
 *     is bounded by STET_JSON_DEPTH_MAX, so the C stack use is bounded too.
 *   - Every node, string and child array lives in an arena (a list of chunks) hanging off the
 *     root document: freeing the root frees everything in one walk over the chunks.
 *   - Children of the array/object being parsed are collected on one shared scratch stack
 *     (malloc'd, reused across nesting levels). When the container closes, its children are
 *     copied into an exactly-sized arena array and popped. So the arena never holds garbage
 *     from growing vectors.
 *   - Strings are decoded into a scratch buffer only when they contain escapes; otherwise the
 *     bytes are validated in place and copied once.
 *   - Numbers keep their source text (NUL-terminated, in the arena) besides the double value,
 *     so 64-bit integers survive exactly and writing a tree back reproduces them verbatim.
 *   - Duplicate keys are removed when an object closes: the last value wins and keeps the
 *     position of the first occurrence. Large objects use a temporary hash table so hostile
 *     inputs stay O(n).
 *   - Errors: the first error wins; the message is serde_json's wording plus
 *     "at line L column C" where C counts bytes from the start of the line up to and
 *     including the offending byte (or the end of input for EOF errors), as serde does.
 *
 * Writer design
 *   Comma state is one bit per nesting level in need_comma; bit 0 marks "key just written" so
 *   the value after a key gets no comma. Escaping replaces invalid UTF-8 by U+FFFD using the
 *   maximal-subpart rule, so the output is always valid UTF-8.
 */
#include "json/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/timefmt.h"

struct json_member {
    const char *key; /* NULL for array items on the scratch stack */
    size_t key_len;
    struct stet_json *value;
};

struct stet_json {
    uint8_t type; /* enum stet_json_type */
    bool is_root;
    union {
        bool boolean;
        struct {
            const char *text;
            size_t len;
            double value;
        } number;
        struct {
            const char *bytes;
            size_t len;
        } string;
        struct {
            struct stet_json **items;
            size_t len;
        } array;
        struct {
            struct json_member *members;
            size_t len;
        } object;
    } u;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

/* The root node is the first member, so a root pointer is a document pointer. */
struct json_document {
    struct stet_json root;
    struct arena_chunk *chunks;
};

#define ARENA_CHUNK_BYTES 4096

static void *arena_alloc(struct json_document *doc, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    struct arena_chunk *c = doc->chunks;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
        c = malloc(sizeof(*c) + cap);
        STET_ASSERT(c != NULL);
        c->used = 0;
        c->cap = cap;
        if (size > ARENA_CHUNK_BYTES && doc->chunks != NULL) {
            /* Keep the partially used current chunk at the head for small allocations. */
            c->next = doc->chunks->next;
            doc->chunks->next = c;
        } else {
            c->next = doc->chunks;
            doc->chunks = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

static void arena_free(struct json_document *doc) {
    struct arena_chunk *c = doc->chunks;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    doc->chunks = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Parser                                                                                    */

struct parser {
    const uint8_t *s;
    size_t len;
    size_t pos;
    int depth;
    struct json_document *doc;
    struct json_member *stack; /* scratch stack of children of open containers */
    size_t stack_len;
    size_t stack_cap;
    struct stet_buf scratch; /* decoded strings with escapes */
    char *err;
    size_t errlen;
    bool failed;
};

/* Fails with "<msg> at line L column C" where the column ends at byte index `end` (exclusive). */
static int parse_fail_at(struct parser *p, size_t end, const char *msg) {
    if (!p->failed && p->err != NULL && p->errlen > 0) {
        size_t line = 1, line_start = 0;
        if (end > p->len) end = p->len;
        for (size_t i = 0; i < end; i++) {
            if (p->s[i] == '\n') {
                line++;
                line_start = i + 1;
            }
        }
        snprintf(p->err, p->errlen, "%s at line %zu column %zu", msg, line, end - line_start);
    }
    p->failed = true;
    return -EINVAL;
}

/* Error at the byte under the cursor (serde's peek position). */
static int parse_fail(struct parser *p, const char *msg) { return parse_fail_at(p, p->pos + 1, msg); }

static int parse_fail_eof(struct parser *p, const char *what) {
    char msg[64];
    snprintf(msg, sizeof(msg), "EOF while parsing %s", what);
    return parse_fail_at(p, p->len, msg);
}

static void skip_whitespace(struct parser *p) {
    while (p->pos < p->len) {
        uint8_t c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static void stack_push(struct parser *p, const char *key, size_t key_len, struct stet_json *value) {
    if (p->stack_len == p->stack_cap) {
        size_t cap = p->stack_cap == 0 ? 16 : p->stack_cap * 2;
        struct json_member *n = realloc(p->stack, cap * sizeof(*n));
        STET_ASSERT(n != NULL);
        p->stack = n;
        p->stack_cap = cap;
    }
    p->stack[p->stack_len++] = (struct json_member){key, key_len, value};
}

static struct stet_json *new_node(struct parser *p, enum stet_json_type type) {
    struct stet_json *j = arena_alloc(p->doc, sizeof(*j));
    memset(j, 0, sizeof(*j));
    j->type = (uint8_t)type;
    return j;
}

static int parse_value(struct parser *p, struct stet_json *out);

static int hex4(const uint8_t *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = s[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10u;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10u;
        else return -1;
        v = (v << 4) | d;
    }
    *out = v;
    return 0;
}

/* Parses a string starting at the opening quote; the result is NUL-terminated in the arena. */
static int parse_string(struct parser *p, const char **out, size_t *out_len) {
    STET_ASSERT(p->s[p->pos] == '"');
    p->pos++;
    size_t start = p->pos;
    bool escaped = false;
    stet_buf_reset(&p->scratch);
    for (;;) {
        if (p->pos >= p->len) return parse_fail_eof(p, "a string");
        uint8_t c = p->s[p->pos];
        if (c == '"') break;
        if (c < 0x20) return parse_fail(p, "control character (\\u0000-\\u001F) found while parsing a string");
        if (c >= 0x80) {
            uint32_t cp;
            int n = stet_utf8_decode(p->s + p->pos, p->len - p->pos, &cp);
            if (n < 0) {
                p->pos += (size_t)(-n) - 1;
                return parse_fail(p, "invalid unicode code point");
            }
            if (escaped) stet_buf_append(&p->scratch, p->s + p->pos, (size_t)n);
            p->pos += (size_t)n;
            continue;
        }
        if (c != '\\') {
            if (escaped) stet_buf_append_byte(&p->scratch, c);
            p->pos++;
            continue;
        }
        if (!escaped) {
            escaped = true;
            stet_buf_append(&p->scratch, p->s + start, p->pos - start);
        }
        p->pos++;
        if (p->pos >= p->len) return parse_fail_eof(p, "a string");
        uint8_t e = p->s[p->pos];
        uint8_t simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return parse_fail(p, "invalid escape");
        }
        if (e != 'u') {
            stet_buf_append_byte(&p->scratch, simple);
            p->pos++;
            continue;
        }
        /* \uXXXX, possibly a surrogate pair \uD8xx\uDCxx */
        uint32_t cp;
        if (p->len - p->pos < 5) return parse_fail_eof(p, "a string");
        if (hex4(p->s + p->pos + 1, &cp) != 0) {
            p->pos += 4;
            return parse_fail(p, "invalid escape");
        }
        p->pos += 5;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            p->pos--;
            return parse_fail(p, "lone trailing surrogate in hex escape");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->pos >= p->len) return parse_fail_eof(p, "a string");
            if (p->s[p->pos] != '\\') return parse_fail(p, "unexpected end of hex escape");
            if (p->pos + 1 >= p->len) return parse_fail_eof(p, "a string");
            if (p->s[p->pos + 1] != 'u') {
                p->pos++;
                return parse_fail(p, "unexpected end of hex escape");
            }
            uint32_t low;
            if (p->len - p->pos < 6) return parse_fail_eof(p, "a string");
            if (hex4(p->s + p->pos + 2, &low) != 0) {
                p->pos += 5;
                return parse_fail(p, "invalid escape");
            }
            if (low < 0xDC00 || low > 0xDFFF) {
                p->pos += 5;
                return parse_fail(p, "lone leading surrogate in hex escape");
            }
            p->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        stet_utf8_append(&p->scratch, cp);
    }
    const uint8_t *bytes;
    size_t len;
    if (escaped) {
        bytes = p->scratch.data;
        len = p->scratch.len;
    } else {
        bytes = p->s + start;
        len = p->pos - start;
    }
    p->pos++; /* closing quote */
    char *copy = arena_alloc(p->doc, len + 1);
    if (len > 0) memcpy(copy, bytes, len);
    copy[len] = '\0';
    *out = copy;
    *out_len = len;
    return 0;
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int parse_number(struct parser *p, struct stet_json *out) {
    size_t start = p->pos;
    if (p->s[p->pos] == '-') {
        p->pos++;
        if (p->pos >= p->len) return parse_fail_eof(p, "a value");
        if (!is_digit(p->s[p->pos])) return parse_fail(p, "invalid number");
    }
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos])) return parse_fail(p, "invalid number");
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len) return parse_fail_eof(p, "a value");
        if (!is_digit(p->s[p->pos])) return parse_fail(p, "invalid number");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len) return parse_fail_eof(p, "a value");
        if (!is_digit(p->s[p->pos])) return parse_fail(p, "invalid number");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    size_t len = p->pos - start;
    char *text = arena_alloc(p->doc, len + 1);
    memcpy(text, p->s + start, len);
    text[len] = '\0';
    /* The grammar above is a subset of what strtod accepts, and it is locale-independent
     * except for the decimal point, which the server never changes from "C". */
    double v = strtod(text, NULL);
    if (isinf(v)) {
        p->pos = start;
        return parse_fail_at(p, start + len, "number out of range");
    }
    out->type = STET_JSON_NUMBER;
    out->u.number.text = text;
    out->u.number.len = len;
    out->u.number.value = v;
    return 0;
}

static int parse_literal(struct parser *p, const char *word, struct stet_json *out, enum stet_json_type type,
                         bool value) {
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (p->pos >= p->len) return parse_fail_eof(p, "a value");
        if (p->s[p->pos] != (uint8_t)word[i]) return parse_fail(p, i == 0 ? "expected value" : "expected ident");
        p->pos++;
    }
    out->type = (uint8_t)type;
    out->u.boolean = value;
    return 0;
}

static uint64_t hash_key(const char *key, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool key_equal(const struct json_member *a, const struct json_member *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Collapses duplicate keys in members[0..n) in place; returns the new count. */
static size_t dedupe_members(struct json_member *members, size_t n) {
    if (n < 2) return n;
    size_t kept = 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < kept && !key_equal(&members[j], &members[i])) j++;
            if (j < kept) members[j].value = members[i].value;
            else members[kept++] = members[i];
        }
        return kept;
    }
    size_t cap = 32;
    while (cap < n * 2) cap *= 2;
    uint32_t *table = calloc(cap, sizeof(*table)); /* slot = kept index + 1; 0 = empty */
    STET_ASSERT(table != NULL);
    STET_ASSERT(n < UINT32_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t slot = (size_t)hash_key(members[i].key, members[i].key_len) & (cap - 1);
        for (;;) {
            uint32_t t = table[slot];
            if (t == 0) {
                members[kept] = members[i];
                table[slot] = (uint32_t)(++kept);
                break;
            }
            if (key_equal(&members[t - 1], &members[i])) {
                members[t - 1].value = members[i].value;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
    }
    free(table);
    return kept;
}

static int parse_array(struct parser *p, struct stet_json *out) {
    p->pos++; /* '[' */
    size_t base = p->stack_len;
    int rc;
    skip_whitespace(p);
    if (p->pos >= p->len) return parse_fail_eof(p, "a list");
    if (p->s[p->pos] != ']') {
        for (;;) {
            struct stet_json *item = new_node(p, STET_JSON_NULL);
            if ((rc = parse_value(p, item)) != 0) return rc;
            stack_push(p, NULL, 0, item);
            skip_whitespace(p);
            if (p->pos >= p->len) return parse_fail_eof(p, "a list");
            uint8_t c = p->s[p->pos];
            if (c == ']') break;
            if (c != ',') return parse_fail(p, "expected `,` or `]`");
            p->pos++;
            skip_whitespace(p);
            if (p->pos >= p->len) return parse_fail_eof(p, "a list");
            if (p->s[p->pos] == ']') return parse_fail(p, "trailing comma");
        }
    }
    p->pos++; /* ']' */
    size_t n = p->stack_len - base;
    out->type = STET_JSON_ARRAY;
    out->u.array.len = n;
    out->u.array.items = NULL;
    if (n > 0) {
        out->u.array.items = arena_alloc(p->doc, n * sizeof(struct stet_json *));
        for (size_t i = 0; i < n; i++) out->u.array.items[i] = p->stack[base + i].value;
    }
    p->stack_len = base;
    return 0;
}

static int parse_object(struct parser *p, struct stet_json *out) {
    p->pos++; /* '{' */
    size_t base = p->stack_len;
    int rc;
    skip_whitespace(p);
    if (p->pos >= p->len) return parse_fail_eof(p, "an object");
    if (p->s[p->pos] != '}') {
        for (;;) {
            if (p->s[p->pos] != '"') return parse_fail(p, "key must be a string");
            const char *key;
            size_t key_len;
            if ((rc = parse_string(p, &key, &key_len)) != 0) return rc;
            skip_whitespace(p);
            if (p->pos >= p->len) return parse_fail_eof(p, "an object");
            if (p->s[p->pos] != ':') return parse_fail(p, "expected `:`");
            p->pos++;
            struct stet_json *value = new_node(p, STET_JSON_NULL);
            if ((rc = parse_value(p, value)) != 0) return rc;
            stack_push(p, key, key_len, value);
            skip_whitespace(p);
            if (p->pos >= p->len) return parse_fail_eof(p, "an object");
            uint8_t c = p->s[p->pos];
            if (c == '}') break;
            if (c != ',') return parse_fail(p, "expected `,` or `}`");
            p->pos++;
            skip_whitespace(p);
            if (p->pos >= p->len) return parse_fail_eof(p, "an object");
            if (p->s[p->pos] == '}') return parse_fail(p, "trailing comma");
        }
    }
    p->pos++; /* '}' */
    size_t n = dedupe_members(p->stack + base, p->stack_len - base);
    out->type = STET_JSON_OBJECT;
    out->u.object.len = n;
    out->u.object.members = NULL;
    if (n > 0) {
        out->u.object.members = arena_alloc(p->doc, n * sizeof(struct json_member));
        memcpy(out->u.object.members, p->stack + base, n * sizeof(struct json_member));
    }
    p->stack_len = base;
    return 0;
}

static int parse_value(struct parser *p, struct stet_json *out) {
    skip_whitespace(p);
    if (p->pos >= p->len) return parse_fail_eof(p, "a value");
    uint8_t c = p->s[p->pos];
    int rc;
    switch (c) {
    case 'n': return parse_literal(p, "null", out, STET_JSON_NULL, false);
    case 't': return parse_literal(p, "true", out, STET_JSON_BOOL, true);
    case 'f': return parse_literal(p, "false", out, STET_JSON_BOOL, false);
    case '"':
        out->type = STET_JSON_STRING;
        return parse_string(p, &out->u.string.bytes, &out->u.string.len);
    case '[':
    case '{':
        if (p->depth >= STET_JSON_DEPTH_MAX) return parse_fail(p, "recursion limit exceeded");
        p->depth++;
        rc = c == '[' ? parse_array(p, out) : parse_object(p, out);
        p->depth--;
        return rc;
    default:
        if (c == '-' || is_digit(c)) return parse_number(p, out);
        return parse_fail(p, "expected value");
    }
}

int stet_json_parse(const char *text, size_t len, struct stet_json **out, char *err, size_t errlen) {
    STET_ASSERT(out != NULL);
    STET_ASSERT(text != NULL || len == 0);
    *out = NULL;
    if (err != NULL && errlen > 0) err[0] = '\0';
    struct json_document *doc = calloc(1, sizeof(*doc));
    STET_ASSERT(doc != NULL);
    struct parser p = {.s = (const uint8_t *)text, .len = len, .doc = doc, .err = err, .errlen = errlen};
    stet_buf_init(&p.scratch);
    int rc = parse_value(&p, &doc->root);
    if (rc == 0) {
        skip_whitespace(&p);
        if (p.pos < p.len) rc = parse_fail(&p, "trailing characters");
    }
    free(p.stack);
    stet_buf_free(&p.scratch);
    if (rc != 0) {
        arena_free(doc);
        free(doc);
        return rc;
    }
    STET_ASSERT(p.stack_len == 0);
    STET_ASSERT(p.depth == 0);
    doc->root.is_root = true;
    *out = &doc->root;
    return 0;
}

void stet_json_free(struct stet_json *root) {
    if (root == NULL) return;
    STET_ASSERT(root->is_root); /* only the root returned by stet_json_parse may be freed */
    struct json_document *doc = (struct json_document *)root;
    arena_free(doc);
    free(doc);
}

/* ---------------------------------------------------------------------------------------- */
/* Getters                                                                                   */

enum stet_json_type stet_json_type(const struct stet_json *j) {
    return j == NULL ? STET_JSON_NULL : (enum stet_json_type)j->type;
}

bool stet_json_bool(const struct stet_json *j) { return j != NULL && j->type == STET_JSON_BOOL && j->u.boolean; }

double stet_json_number(const struct stet_json *j) {
    return (j != NULL && j->type == STET_JSON_NUMBER) ? j->u.number.value : 0.0;
}

const char *stet_json_number_text(const struct stet_json *j, size_t *len) {
    if (j == NULL || j->type != STET_JSON_NUMBER) {
        if (len != NULL) *len = 0;
        return NULL;
    }
    if (len != NULL) *len = j->u.number.len;
    return j->u.number.text;
}

/* Parses an integer literal (no fraction/exponent) as sign + magnitude. */
static bool integer_parts(const struct stet_json *j, bool *negative, uint64_t *magnitude) {
    if (j == NULL || j->type != STET_JSON_NUMBER) return false;
    const char *t = j->u.number.text;
    size_t i = 0;
    *negative = false;
    if (t[0] == '-') {
        *negative = true;
        i = 1;
    }
    uint64_t acc = 0;
    for (; i < j->u.number.len; i++) {
        char c = t[i];
        if (c < '0' || c > '9') return false;
        unsigned d = (unsigned)(c - '0');
        if (acc > (UINT64_MAX - d) / 10) return false;
        acc = acc * 10 + d;
    }
    *magnitude = acc;
    return true;
}

bool stet_json_int64(const struct stet_json *j, int64_t *out) {
    bool negative;
    uint64_t m;
    if (!integer_parts(j, &negative, &m)) return false;
    if (negative) {
        if (m > (uint64_t)INT64_MAX + 1) return false;
        *out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    } else {
        if (m > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)m;
    }
    return true;
}

bool stet_json_uint64(const struct stet_json *j, uint64_t *out) {
    bool negative;
    uint64_t m;
    if (!integer_parts(j, &negative, &m)) return false;
    if (negative && m != 0) return false;
    *out = m;
    return true;
}

const char *stet_json_string(const struct stet_json *j, size_t *len) {
    if (j == NULL || j->type != STET_JSON_STRING) {
        if (len != NULL) *len = 0;
        return NULL;
    }
    if (len != NULL) *len = j->u.string.len;
    return j->u.string.bytes;
}

size_t stet_json_array_len(const struct stet_json *j) {
    return (j != NULL && j->type == STET_JSON_ARRAY) ? j->u.array.len : 0;
}

const struct stet_json *stet_json_array_at(const struct stet_json *j, size_t i) {
    if (j == NULL || j->type != STET_JSON_ARRAY || i >= j->u.array.len) return NULL;
    return j->u.array.items[i];
}

size_t stet_json_object_len(const struct stet_json *j) {
    return (j != NULL && j->type == STET_JSON_OBJECT) ? j->u.object.len : 0;
}

const char *stet_json_object_key_at(const struct stet_json *j, size_t i, size_t *len) {
    if (j == NULL || j->type != STET_JSON_OBJECT || i >= j->u.object.len) {
        if (len != NULL) *len = 0;
        return NULL;
    }
    if (len != NULL) *len = j->u.object.members[i].key_len;
    return j->u.object.members[i].key;
}

const struct stet_json *stet_json_object_value_at(const struct stet_json *j, size_t i) {
    if (j == NULL || j->type != STET_JSON_OBJECT || i >= j->u.object.len) return NULL;
    return j->u.object.members[i].value;
}

const struct stet_json *stet_json_object_get_n(const struct stet_json *j, const char *key, size_t len) {
    if (j == NULL || j->type != STET_JSON_OBJECT || key == NULL) return NULL;
    for (size_t i = 0; i < j->u.object.len; i++) {
        const struct json_member *m = &j->u.object.members[i];
        if (m->key_len == len && memcmp(m->key, key, len) == 0) return m->value;
    }
    return NULL;
}

const struct stet_json *stet_json_object_get(const struct stet_json *j, const char *key) {
    if (key == NULL) return NULL;
    return stet_json_object_get_n(j, key, strlen(key));
}

static bool numbers_equal(const struct stet_json *a, const struct stet_json *b) {
    if (a->u.number.len == b->u.number.len && memcmp(a->u.number.text, b->u.number.text, a->u.number.len) == 0)
        return true;
    int64_t ia, ib;
    uint64_t ua, ub;
    bool a_int = stet_json_int64(a, &ia), b_int = stet_json_int64(b, &ib);
    if (a_int && b_int) return ia == ib;
    bool a_uint = stet_json_uint64(a, &ua), b_uint = stet_json_uint64(b, &ub);
    if (a_uint && b_uint) return ua == ub;
    return a->u.number.value == b->u.number.value;
}

bool stet_json_equal(const struct stet_json *a, const struct stet_json *b) {
    if (a == NULL || b == NULL) return a == b;
    if (a->type != b->type) return false;
    switch ((enum stet_json_type)a->type) {
    case STET_JSON_NULL: return true;
    case STET_JSON_BOOL: return a->u.boolean == b->u.boolean;
    case STET_JSON_NUMBER: return numbers_equal(a, b);
    case STET_JSON_STRING:
        return a->u.string.len == b->u.string.len &&
               memcmp(a->u.string.bytes, b->u.string.bytes, a->u.string.len) == 0;
    case STET_JSON_ARRAY:
        if (a->u.array.len != b->u.array.len) return false;
        for (size_t i = 0; i < a->u.array.len; i++)
            if (!stet_json_equal(a->u.array.items[i], b->u.array.items[i])) return false;
        return true;
    case STET_JSON_OBJECT:
        if (a->u.object.len != b->u.object.len) return false;
        for (size_t i = 0; i < a->u.object.len; i++) {
            const struct json_member *m = &a->u.object.members[i];
            /* Same position first (the common case), then a search. */
            const struct json_member *o = &b->u.object.members[i];
            const struct stet_json *other = key_equal(m, o) ? o->value : stet_json_object_get_n(b, m->key, m->key_len);
            if (!stet_json_equal(m->value, other)) return false;
        }
        return true;
    }
    STET_UNREACHABLE();
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */

void stet_json_escape_string(struct stet_buf *out, const char *s, size_t len) {
    STET_ASSERT(out != NULL);
    STET_ASSERT(s != NULL || len == 0);
    static const char hex[] = "0123456789abcdef";
    const uint8_t *b = (const uint8_t *)s;
    stet_buf_reserve(out, len + 2);
    stet_buf_append_byte(out, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;
    while (i < len) {
        uint8_t c = b[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            uint32_t cp;
            int n = stet_utf8_decode(b + i, len - i, &cp);
            if (n > 0) {
                i += (size_t)n;
                continue;
            }
            stet_buf_append(out, b + run, i - run);
            stet_buf_append(out, "\xef\xbf\xbd", 3); /* U+FFFD */
            i += (size_t)(-n);
            run = i;
            continue;
        }
        stet_buf_append(out, b + run, i - run);
        switch (c) {
        case '"': stet_buf_append(out, "\\\"", 2); break;
        case '\\': stet_buf_append(out, "\\\\", 2); break;
        case '\n': stet_buf_append(out, "\\n", 2); break;
        case '\t': stet_buf_append(out, "\\t", 2); break;
        case '\r': stet_buf_append(out, "\\r", 2); break;
        case '\b': stet_buf_append(out, "\\b", 2); break;
        case '\f': stet_buf_append(out, "\\f", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            stet_buf_append(out, e, 6);
        }
        }
        i++;
        run = i;
    }
    stet_buf_append(out, b + run, len - run);
    stet_buf_append_byte(out, '"');
}

#define WRITER_DEPTH_MAX 63
#define WRITER_AFTER_KEY ((uint64_t)1)

void stet_json_writer_init(struct stet_json_writer *w, struct stet_buf *out) {
    STET_ASSERT(w != NULL && out != NULL);
    w->out = out;
    w->need_comma = 0;
    w->depth = 0;
}

static void writer_before_value(struct stet_json_writer *w) {
    if (w->need_comma & WRITER_AFTER_KEY) {
        w->need_comma &= ~WRITER_AFTER_KEY;
        return;
    }
    if (w->depth == 0) return;
    uint64_t bit = (uint64_t)1 << w->depth;
    if (w->need_comma & bit) stet_buf_append_byte(w->out, ',');
    w->need_comma |= bit;
}

static void writer_open(struct stet_json_writer *w, uint8_t c) {
    writer_before_value(w);
    STET_ASSERT(w->depth < WRITER_DEPTH_MAX);
    w->depth++;
    w->need_comma &= ~((uint64_t)1 << w->depth);
    stet_buf_append_byte(w->out, c);
}

static void writer_close(struct stet_json_writer *w, uint8_t c) {
    STET_ASSERT(w->depth > 0);
    STET_ASSERT(!(w->need_comma & WRITER_AFTER_KEY)); /* a key without a value */
    w->need_comma &= ~((uint64_t)1 << w->depth);
    w->depth--;
    stet_buf_append_byte(w->out, c);
}

void stet_json_begin_object(struct stet_json_writer *w) { writer_open(w, '{'); }
void stet_json_end_object(struct stet_json_writer *w) { writer_close(w, '}'); }
void stet_json_begin_array(struct stet_json_writer *w) { writer_open(w, '['); }
void stet_json_end_array(struct stet_json_writer *w) { writer_close(w, ']'); }

void stet_json_key_n(struct stet_json_writer *w, const char *key, size_t len) {
    STET_ASSERT(w->depth > 0);
    STET_ASSERT(!(w->need_comma & WRITER_AFTER_KEY));
    writer_before_value(w);
    stet_json_escape_string(w->out, key, len);
    stet_buf_append_byte(w->out, ':');
    w->need_comma |= WRITER_AFTER_KEY;
}

void stet_json_key(struct stet_json_writer *w, const char *key) {
    STET_ASSERT(key != NULL);
    stet_json_key_n(w, key, strlen(key));
}

void stet_json_write_string_n(struct stet_json_writer *w, const char *s, size_t len) {
    writer_before_value(w);
    stet_json_escape_string(w->out, s, len);
}

void stet_json_write_string(struct stet_json_writer *w, const char *s) {
    if (s == NULL) {
        stet_json_write_null(w);
        return;
    }
    stet_json_write_string_n(w, s, strlen(s));
}

void stet_json_write_int(struct stet_json_writer *w, int64_t v) {
    writer_before_value(w);
    stet_buf_printf(w->out, "%lld", (long long)v);
}

void stet_json_write_uint(struct stet_json_writer *w, uint64_t v) {
    writer_before_value(w);
    stet_buf_printf(w->out, "%llu", (unsigned long long)v);
}

/* Formats a finite double the way serde_json (ryu) does: shortest digits that round-trip,
 * decimal notation for decimal exponents in (-5, 16], ".0" for integral values. */
static void format_double(struct stet_buf *out, double v) {
    if (v == 0) {
        stet_buf_append_str(out, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(tmp, sizeof(tmp), "%.*e", precision - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp = "-d.ddde[+-]XX" */
    const char *t = tmp;
    if (*t == '-') {
        stet_buf_append_byte(out, '-');
        t++;
    }
    char digits[20];
    int length = 0;
    while (*t != 'e') {
        if (*t != '.') digits[length++] = *t;
        t++;
    }
    while (length > 1 && digits[length - 1] == '0') length--;
    int exponent = atoi(t + 1);
    int kk = exponent + 1; /* position of the decimal point relative to the digits */
    if (length <= kk && kk <= 16) {
        stet_buf_append(out, digits, (size_t)length);
        for (int i = length; i < kk; i++) stet_buf_append_byte(out, '0');
        stet_buf_append(out, ".0", 2);
    } else if (0 < kk && kk <= 16) {
        stet_buf_append(out, digits, (size_t)kk);
        stet_buf_append_byte(out, '.');
        stet_buf_append(out, digits + kk, (size_t)(length - kk));
    } else if (-5 < kk && kk <= 0) {
        stet_buf_append(out, "0.", 2);
        for (int i = kk; i < 0; i++) stet_buf_append_byte(out, '0');
        stet_buf_append(out, digits, (size_t)length);
    } else {
        stet_buf_append_byte(out, (uint8_t)digits[0]);
        if (length > 1) {
            stet_buf_append_byte(out, '.');
            stet_buf_append(out, digits + 1, (size_t)(length - 1));
        }
        stet_buf_printf(out, "e%d", kk - 1);
    }
}

void stet_json_write_double(struct stet_json_writer *w, double v) {
    writer_before_value(w);
    if (!isfinite(v)) {
        stet_buf_append(w->out, "null", 4);
        return;
    }
    format_double(w->out, v);
}

void stet_json_write_bool(struct stet_json_writer *w, bool v) {
    writer_before_value(w);
    stet_buf_append_str(w->out, v ? "true" : "false");
}

void stet_json_write_null(struct stet_json_writer *w) {
    writer_before_value(w);
    stet_buf_append(w->out, "null", 4);
}

void stet_json_write_raw(struct stet_json_writer *w, const char *json, size_t len) {
    STET_ASSERT(json != NULL || len == 0);
    writer_before_value(w);
    stet_buf_append(w->out, json, len);
}

void stet_json_write_value(struct stet_buf *out, const struct stet_json *j) {
    STET_ASSERT(out != NULL);
    if (j == NULL) {
        stet_buf_append(out, "null", 4);
        return;
    }
    switch ((enum stet_json_type)j->type) {
    case STET_JSON_NULL: stet_buf_append(out, "null", 4); return;
    case STET_JSON_BOOL: stet_buf_append_str(out, j->u.boolean ? "true" : "false"); return;
    case STET_JSON_NUMBER: stet_buf_append(out, j->u.number.text, j->u.number.len); return;
    case STET_JSON_STRING: stet_json_escape_string(out, j->u.string.bytes, j->u.string.len); return;
    case STET_JSON_ARRAY:
        stet_buf_append_byte(out, '[');
        for (size_t i = 0; i < j->u.array.len; i++) {
            if (i > 0) stet_buf_append_byte(out, ',');
            stet_json_write_value(out, j->u.array.items[i]);
        }
        stet_buf_append_byte(out, ']');
        return;
    case STET_JSON_OBJECT:
        stet_buf_append_byte(out, '{');
        for (size_t i = 0; i < j->u.object.len; i++) {
            const struct json_member *m = &j->u.object.members[i];
            if (i > 0) stet_buf_append_byte(out, ',');
            stet_json_escape_string(out, m->key, m->key_len);
            stet_buf_append_byte(out, ':');
            stet_json_write_value(out, m->value);
        }
        stet_buf_append_byte(out, '}');
        return;
    }
    STET_UNREACHABLE();
}

void stet_json_write_json(struct stet_json_writer *w, const struct stet_json *j) {
    writer_before_value(w);
    stet_json_write_value(w->out, j);
}
