/* JSON: a DOM parser and a streaming writer.
 *
 * Parser
 *   stet_json_parse() reads exactly one RFC 8259 value (whitespace around it allowed) into a
 *   tree of nodes. The whole tree is owned by the root: stet_json_free(root) releases every
 *   node and string; pointers returned by the getters are borrowed from the tree and stay
 *   valid until then. Limits: nesting depth 64. Strings are validated as UTF-8, \u escapes
 *   are decoded (surrogate pairs joined, lone surrogates rejected), numbers follow the RFC
 *   grammar (no leading zeros, no NaN/Infinity, no '+'), trailing commas are rejected.
 *   Duplicate object keys: the last one wins (serde_json semantics); the object keeps one
 *   entry per key, at the position of the first occurrence.
 *   Error messages follow serde_json's wording, e.g. "expected value at line 1 column 5",
 *   "EOF while parsing an object at line 1 column 7", "trailing characters at line 1 column 3".
 *
 * Writer
 *   struct stet_json_writer appends JSON text to a caller-owned stet_buf and inserts commas
 *   itself. Strings are escaped so that the output is always valid JSON and valid UTF-8: '"'
 *   and '\\' are escaped, control characters use \n \t \r \b \f or \u00XX, and bytes that are
 *   not valid UTF-8 become U+FFFD. Writer nesting is limited to 63 levels (asserted).
 */
#ifndef STET_JSON_H
#define STET_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define STET_JSON_DEPTH_MAX 64

enum stet_json_type {
    STET_JSON_NULL,
    STET_JSON_BOOL,
    STET_JSON_NUMBER,
    STET_JSON_STRING,
    STET_JSON_ARRAY,
    STET_JSON_OBJECT,
};

struct stet_json; /* opaque node; one allocation tree owned by the root */

/* Parses text[0..len). On success returns 0 and *out is a tree the caller frees with
 * stet_json_free. On error returns -EINVAL, *out = NULL and a message is written to err
 * (if err != NULL and errlen > 0; always NUL-terminated). */
int stet_json_parse(const char *text, size_t len, struct stet_json **out, char *err, size_t errlen);
void stet_json_free(struct stet_json *root); /* NULL allowed */

/* Getters. A NULL node or a node of another type yields the zero value (false, 0, NULL). */
enum stet_json_type stet_json_type(const struct stet_json *j);
bool stet_json_bool(const struct stet_json *j);
double stet_json_number(const struct stet_json *j);
/* true when the number is an integer that fits (no fraction/exponent, in range) */
bool stet_json_int64(const struct stet_json *j, int64_t *out);
bool stet_json_uint64(const struct stet_json *j, uint64_t *out);
/* The number exactly as it appeared in the input (borrowed; *len set if len != NULL). */
const char *stet_json_number_text(const struct stet_json *j, size_t *len);
/* NUL-terminated, may contain \u0000 so len is authoritative (len may be NULL). */
const char *stet_json_string(const struct stet_json *j, size_t *len);
size_t stet_json_array_len(const struct stet_json *j);
const struct stet_json *stet_json_array_at(const struct stet_json *j, size_t i); /* NULL if out of range */
size_t stet_json_object_len(const struct stet_json *j);
const char *stet_json_object_key_at(const struct stet_json *j, size_t i, size_t *len);
const struct stet_json *stet_json_object_value_at(const struct stet_json *j, size_t i);
/* NULL if absent or j not an object. key is NUL-terminated. */
const struct stet_json *stet_json_object_get(const struct stet_json *j, const char *key);
const struct stet_json *stet_json_object_get_n(const struct stet_json *j, const char *key, size_t len);

/* Deep structural equality (object members compared regardless of order; numbers compared
 * by value when both are finite doubles, otherwise by text). */
bool stet_json_equal(const struct stet_json *a, const struct stet_json *b);

/* Writes the tree back as compact JSON. */
void stet_json_write_value(struct stet_buf *out, const struct stet_json *j);

/* Writer: appends to a stet_buf (borrowed for the writer's lifetime), inserts commas
 * automatically. need_comma: bit d (1..63) is set once level d holds a value; bit 0 means
 * "a key was just written". Misuse (end without begin, value without key inside an object
 * is not detected; unbalanced end is) trips STET_ASSERT. */
struct stet_json_writer {
    struct stet_buf *out;
    uint64_t need_comma;
    int depth;
};

void stet_json_writer_init(struct stet_json_writer *w, struct stet_buf *out);
void stet_json_begin_object(struct stet_json_writer *w);
void stet_json_end_object(struct stet_json_writer *w);
void stet_json_begin_array(struct stet_json_writer *w);
void stet_json_end_array(struct stet_json_writer *w);
/* Object keys; the next write call supplies the value (no comma before it). */
void stet_json_key(struct stet_json_writer *w, const char *key);
void stet_json_key_n(struct stet_json_writer *w, const char *key, size_t len);
void stet_json_write_string(struct stet_json_writer *w, const char *s); /* NULL writes null */
void stet_json_write_string_n(struct stet_json_writer *w, const char *s, size_t len);
void stet_json_write_int(struct stet_json_writer *w, int64_t v);
void stet_json_write_uint(struct stet_json_writer *w, uint64_t v);
/* Shortest round-trip representation ("1.5", "100.0" style like serde: integral values get
 * ".0"); NaN and infinities are written as null, as serde_json does. */
void stet_json_write_double(struct stet_json_writer *w, double v);
void stet_json_write_bool(struct stet_json_writer *w, bool v);
void stet_json_write_null(struct stet_json_writer *w);
/* Already-encoded JSON value, copied verbatim. */
void stet_json_write_raw(struct stet_json_writer *w, const char *json, size_t len);
/* Writes a parsed tree as one value. */
void stet_json_write_json(struct stet_json_writer *w, const struct stet_json *j);

/* Appends s[0..len) as a quoted, escaped JSON string (no writer, no comma handling). */
void stet_json_escape_string(struct stet_buf *out, const char *s, size_t len);

#endif
