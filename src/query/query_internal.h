/* Query internals shared by query.c (execution, output), rewrite.c (DataFusion dialect ->
 * SQLite), vtab.c (virtual tables) and arrow.c (Arrow IPC writer). Not part of the API.
 * sqlite3.h stays in the .c files: this header only forward-declares struct sqlite3. */
#ifndef STET_QUERY_INTERNAL_H
#define STET_QUERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "query/query.h"

struct sqlite3;

/* ---- Arrow-ish column types ------------------------------------------------------------ */

/* Every SQL value is stored in SQLite as INTEGER (ints, booleans 0/1, timestamps and
 * durations in milliseconds), REAL, TEXT (strings; lists as a JSON array text) or BLOB; the
 * type says how to render it. QT_TS_NS is a timezone-less nanosecond timestamp (now(),
 * CAST(.. AS TIMESTAMP)) whose SQLite value is still milliseconds. */
enum stet_qtype {
    QT_UNKNOWN = 0, /* decided from the values at run time */
    QT_NULL,
    QT_BOOL,
    QT_INT32,
    QT_INT64,
    QT_UINT32,
    QT_UINT64,
    QT_FLOAT64,
    QT_UTF8,
    QT_LARGE_UTF8,
    QT_BINARY,
    QT_LARGE_BINARY,
    QT_TS_MS_UTC, /* Timestamp(Millisecond, Some("+00:00")): every sys_* timestamp */
    QT_TS_MS,     /* Timestamp(Millisecond, None) */
    QT_TS_NS,     /* Timestamp(Nanosecond, None) */
    QT_DURATION_MS,
    QT_LIST_UINT32,
    QT_LIST_LARGE_UTF8,
    QT_LIST_UTF8,
    QT__COUNT
};

/* The type name used in virtual table declarations (chosen so that SQLite derives the right
 * affinity: INTEGER for ints, TEXT for strings and lists, BLOB for binary). */
const char *stet_qtype_decl(enum stet_qtype t);
/* Inverse of stet_qtype_decl (case-insensitive); QT_UNKNOWN for NULL/unknown names. */
enum stet_qtype stet_qtype_from_decl(const char *decl);
/* Arrow's DataType display ("LargeUtf8", "Timestamp(Millisecond, Some(\"+00:00\"))", ...). */
const char *stet_qtype_arrow_name(enum stet_qtype t);
/* Parses an arrow_cast type string ("Utf8", "UInt64", "Timestamp(Millisecond, None)", ...).
 * QT_UNKNOWN when not supported. */
enum stet_qtype stet_qtype_parse_arrow(const char *s, size_t len);
bool stet_qtype_is_int(enum stet_qtype t);      /* INT32/INT64/UINT32/UINT64 */
bool stet_qtype_is_unsigned(enum stet_qtype t);
bool stet_qtype_is_temporal(enum stet_qtype t); /* timestamps */
bool stet_qtype_is_string(enum stet_qtype t);
bool stet_qtype_is_binary(enum stet_qtype t);
bool stet_qtype_is_list(enum stet_qtype t);

/* ---- catalog ----------------------------------------------------------------------------- */

struct stet_qcol {
    const char *name;
    enum stet_qtype type;
};

enum stet_qtable_kind {
    QTAB_INVOCATION_STATUS,
    QTAB_INVOCATION_STATE,
    QTAB_INVOCATION,
    QTAB_JOURNAL,
    QTAB_STATE,
    QTAB_INBOX,
    QTAB_KEYED_SERVICE_STATUS,
    QTAB_PROMISE,
    QTAB_SERVICE,
    QTAB_DEPLOYMENT,
    QTAB_IS_COLUMNS, /* information_schema.columns */
    QTAB_IS_TABLES,  /* information_schema.tables */
    QTAB__COUNT
};

struct stet_qtable_def {
    const char *name;
    const char *schema; /* "public" or "information_schema" */
    enum stet_qtable_kind kind;
    bool is_view;
    const struct stet_qcol *cols;
    int ncols;
};

/* All tables, indexed by kind. */
const struct stet_qtable_def *stet_query_catalog(size_t *n);
/* A table of the public schema (of information_schema when information_schema is true), by
 * case-insensitive name; NULL if unknown. */
const struct stet_qtable_def *stet_query_catalog_find(const char *name, size_t len, bool information_schema);
/* The column index in def, or -1. Case-insensitive. */
int stet_query_catalog_column(const struct stet_qtable_def *def, const char *name, size_t len);

/* ---- rewrite: DataFusion dialect -> SQLite ------------------------------------------------ */

struct stet_qitem {
    char *name;           /* output column name (malloc'd); NULL for a star item */
    enum stet_qtype type; /* QT_UNKNOWN: decide from SQLite's decltype / the values */
    bool non_null;        /* COUNT(..): Arrow field not nullable */
};

struct stet_qrewrite {
    struct stet_buf sql; /* NUL-terminated SQLite text */
    struct stet_qitem *items;
    size_t n_items;
    bool has_star;
    /* on error: 400 with message (without the "Datafusion error: " prefix) */
    char message[512];
};

/* Returns 0, or -EINVAL with out->message set (a 400 "SQL error: ParserError(...)" or
 * "Error during planning: ..." text). out is initialised in both cases; free it with
 * stet_query_rewrite_free. */
int stet_query_rewrite(const char *sql, size_t len, struct stet_qrewrite *out);
void stet_query_rewrite_free(struct stet_qrewrite *r);

/* Cast targets of the registered stet_cast(x, code) SQL function: code = enum stet_qtype. */
#define STET_QUERY_CAST_FN "stet_cast"

/* ---- virtual tables ------------------------------------------------------------------------ */

/* Registers every virtual table module on db (eponymous tables in main, information_schema
 * attached as an in-memory database). 0 or an SQLite error code. */
int stet_query_vtab_register(struct sqlite3 *db, struct stet_query *q);

/* The per-execution context the virtual tables read (set by stet_query_execute). */
struct stet_query {
    struct stet_query_sources src;
    struct sqlite3 *db;
    const struct stet_schema *schema; /* during execute */
    uint64_t now_ms;                  /* during execute: the value of now() */
    uint64_t deadline_ms;             /* monotonic */
    bool timed_out;
    struct stet_query_stats stats;
};

/* Calls the task_info source (or the invoker). False when unknown. */
bool stet_query_task_info(struct stet_query *q, const struct stet_invocation_id *id,
                          struct stet_invoker_task_info *out);

/* ---- Arrow IPC stream writer (arrow.c, no SQLite) ----------------------------------------- */

/* One column being built. Values are appended row by row; list columns append their items
 * with stet_arrow_list_* between stet_arrow_list_begin/end. */
struct stet_arrow_col {
    enum stet_qtype type;
    uint64_t n, nulls;
    struct stet_buf validity; /* bit i set = row i valid */
    struct stet_buf offsets;  /* Utf8/Binary: i32; Large*: i64; lists: i32 */
    struct stet_buf values;   /* fixed-width values, bool bits, or string bytes */
    /* list children */
    uint64_t child_n;
    struct stet_buf child_offsets, child_values;
};

void stet_arrow_col_init(struct stet_arrow_col *c, enum stet_qtype t);
void stet_arrow_col_free(struct stet_arrow_col *c);
void stet_arrow_append_null(struct stet_arrow_col *c);
void stet_arrow_append_int(struct stet_arrow_col *c, int64_t v); /* ints, bool, timestamps (ms), durations */
void stet_arrow_append_double(struct stet_arrow_col *c, double v);
void stet_arrow_append_bytes(struct stet_arrow_col *c, const void *p, size_t len); /* strings, binary */
void stet_arrow_list_begin(struct stet_arrow_col *c);
void stet_arrow_list_uint(struct stet_arrow_col *c, uint32_t v);
void stet_arrow_list_bytes(struct stet_arrow_col *c, const void *p, size_t len);
void stet_arrow_list_end(struct stet_arrow_col *c);
/* Bytes held by the column buffers (for the output bound). */
size_t stet_arrow_col_bytes(const struct stet_arrow_col *c);

struct stet_arrow_field {
    const char *name;
    enum stet_qtype type; /* not QT_UNKNOWN */
    bool nullable;
};

/* Appends an Arrow IPC stream (schema message, one record batch with n_rows rows, EOS),
 * laid out the way arrow-rs' StreamWriter writes it (64-byte alignment, metadata V5). */
void stet_arrow_write_stream(struct stet_buf *out, const struct stet_arrow_field *fields,
                             const struct stet_arrow_col *cols, size_t ncols, uint64_t n_rows);

#endif
