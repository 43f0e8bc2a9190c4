/* A small TOML reader for configuration files (the subset restate-server's config uses).
 *
 * No TOML library for C ships with Debian, so this is ours. It reads TOML 1.0 documents
 * without dates and times:
 *   - comments (#), blank lines, LF or CRLF line ends; the input must be valid UTF-8;
 *   - bare keys (A-Z a-z 0-9 _ -), "basic" and 'literal' quoted keys, dotted keys (a.b.c);
 *   - [table] and [[array.of.tables]] headers;
 *   - values: basic, literal and multi-line ("""/''') strings with all TOML escapes,
 *     integers (decimal with '_' separators, 0x/0o/0b), floats (fraction, exponent, inf,
 *     nan), booleans, arrays (multi-line, trailing comma, mixed types) and inline tables.
 * Offset date-times, local dates and local times are rejected with an error saying so.
 * The TOML rules about redefinition hold: a key or table defined twice, a dotted key that
 * extends a table defined elsewhere, a header naming an inline table or a value are errors.
 *
 * Limits (STYLE.md §5): input at most STET_TOML_MAX_INPUT bytes, nesting (arrays, inline
 * tables, key depth) at most STET_TOML_MAX_DEPTH.
 *
 * Errors name the place: "line 3, column 9: expected '=' after the key 'roles'".
 *
 * Ownership: stet_toml_parse* allocate the tree; the caller frees it with stet_toml_free.
 * Accessors return pointers into the tree, borrowed until it is freed. Strings in the tree
 * are NUL-terminated and may contain NUL bytes (from \u0000): use the length when it matters.
 */
#ifndef STET_TOML_H
#define STET_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define STET_TOML_MAX_INPUT ((size_t)1 << 20)
#define STET_TOML_MAX_DEPTH 32

enum stet_toml_type {
    STET_TOML_STRING,
    STET_TOML_INTEGER,
    STET_TOML_FLOAT,
    STET_TOML_BOOL,
    STET_TOML_ARRAY,
    STET_TOML_TABLE,
};

struct stet_toml_value;

struct stet_toml_entry {
    char *key; /* NUL-terminated */
    size_t key_len;
    struct stet_toml_value *value;
};

struct stet_toml_value {
    enum stet_toml_type type;
    uint32_t line; /* 1-based line where the value (or table) was defined */
    union {
        struct {
            char *ptr; /* NUL-terminated */
            size_t len;
        } str;
        int64_t integer;
        double flt;
        bool boolean;
        struct {
            struct stet_toml_value **items;
            size_t n, cap;
        } arr;
        struct {
            struct stet_toml_entry *items; /* in definition order */
            size_t n, cap;
        } tab;
    } u;
    uint8_t origin; /* internal: how a table/array came to exist (redefinition rules) */
};

/* Parses a whole document. On success *root is a table (caller frees). Returns 0, -EINVAL
 * (err gets "line L, column C: what"), -E2BIG (input too large) or -ENOMEM. */
int stet_toml_parse(const char *text, size_t len, struct stet_toml_value **root, char *err, size_t errlen);

/* Parses one value that must make up the whole input (surrounding whitespace allowed), e.g.
 * `["a", "b"]`, `true`, `2`, `"quoted"`. Used for RESTATE_* environment values. Same
 * returns as stet_toml_parse. */
int stet_toml_parse_value(const char *text, size_t len, struct stet_toml_value **out, char *err, size_t errlen);

void stet_toml_free(struct stet_toml_value *v);

/* Looks up key in a table (exact, case-sensitive); NULL if absent or t is not a table. */
const struct stet_toml_value *stet_toml_get(const struct stet_toml_value *t, const char *key);

/* "string", "integer", "float", "boolean", "array", "table". */
const char *stet_toml_type_name(enum stet_toml_type type);

/* Writes v as TOML: a table as a document (scalars first, then [sub.tables]; arrays of
 * tables as inline arrays), any other value in its inline form. The output parses back
 * to an equal tree. */
void stet_toml_write(struct stet_buf *out, const struct stet_toml_value *v);
/* Writes s as a TOML basic string with quotes and escapes. */
void stet_toml_write_string(struct stet_buf *out, const char *s, size_t len);

/* Deep equality (floats: NaN equals NaN, otherwise ==; tables compare as unordered maps). */
bool stet_toml_equal(const struct stet_toml_value *a, const struct stet_toml_value *b);

#endif
