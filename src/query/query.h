/* SQL introspection: Restate's admin `POST /query` (http-api.md §4.9, §6).
 *
 * Restate answers /query with DataFusion over its partition store. We answer it with SQLite
 * (this module is the only place that includes sqlite3.h) over the same data:
 *
 *   - every sys_* table is an SQLite virtual table reading the partition store (struct
 *     stet_store, the layout of src/partition/tables.h), the schema registry snapshot and
 *     the invoker's in-memory attempt state. Nothing is copied: rows are decoded while SQLite
 *     scans. `WHERE id = '...'` / `id IN (...)` and `service_name = ... AND service_key = ...`
 *     become point lookups and prefix scans (xBestIndex).
 *   - the DataFusion dialect the `restate` CLI 1.7.12 sends is rewritten to SQLite before it
 *     is prepared (rewrite.c): FIRST_VALUE(x ORDER BY y), first_value(x) as an aggregate,
 *     CAST(.. AS STRING / INT UNSIGNED), arrow_cast, now(), INTERVAL, `::`, ILIKE,
 *     restate.public. prefixes, NULLS LAST ordering, unaliased FROM subqueries, and the
 *     output column names DataFusion would give (`count(Int64(1))`, `count(*)`, `inv.id` ->
 *     `id`, unquoted identifiers lower-cased).
 *   - every output column carries an Arrow type (UInt64, LargeUtf8, Timestamp(ms, "+00:00"),
 *     Duration(ms), Boolean, List(..), ...) derived from the virtual table declarations and
 *     from the select expressions; the result is rendered as arrow-json does
 *     ({"rows":[...]}, nulls omitted, binary as hex) or as an Arrow IPC stream (our own
 *     flatbuffers writer, arrow.c), chosen by the request's accept header.
 *
 * Bounds: a query returns at most max_rows rows, runs at most max_ms (SQLite progress
 * handler) and produces at most max_bytes of output; hitting a bound fails the query with a
 * message that names the bound. Only read-only SELECT statements are allowed (an SQLite
 * authorizer denies everything else).
 *
 * Threading: a struct stet_query is used from one thread (the admin loop thread): the
 * invoker and the schema callback are read synchronously during stet_query_execute.
 * Ownership: create/destroy. The sources (store, invoker, ctx) are borrowed and must outlive
 * the query object; the schema pointer returned by src->schema is borrowed for the duration
 * of one stet_query_execute call.
 */
#ifndef STET_QUERY_H
#define STET_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ids.h"

struct stet_store;
struct stet_schema;
struct stet_invoker;
struct stet_invoker_task_info;
struct stet_query;

#define STET_QUERY_DEFAULT_MAX_ROWS 100000
#define STET_QUERY_DEFAULT_MAX_MS 5000
#define STET_QUERY_DEFAULT_MAX_BYTES ((size_t)64 << 20)

struct stet_query_sources {
    struct stet_store *store;                     /* the partition store (all partitions) */
    const struct stet_schema *(*schema)(void *ctx); /* current registry snapshot; may return NULL */
    struct stet_invoker *invoker;                 /* may be NULL: no attempt information */
    void *ctx;
    uint32_t num_partitions;                      /* informational: every partition lives in store */
    uint64_t (*now_ms)(void *ctx);                /* wall clock for now(); NULL = system clock */
    /* Optional: answers instead of stet_invoker_task_info (tests, simulations). */
    bool (*task_info)(void *ctx, const struct stet_invocation_id *id, struct stet_invoker_task_info *out);
    /* Limits; 0 means the STET_QUERY_DEFAULT_* value. */
    uint64_t max_rows;
    uint64_t max_ms;
    size_t max_bytes;
};

/* Copies *src. Returns 0, -ENOMEM, or -EIO when SQLite cannot be initialised. Caller frees
 * with stet_query_destroy. */
int stet_query_create(const struct stet_query_sources *src, struct stet_query **out);
void stet_query_destroy(struct stet_query *q); /* NULL allowed */

/* Runs one SQL statement (a trailing ';' is accepted). accept_json: the request's accept
 * header was exactly "application/json". Always fills the response and returns 0:
 *   200 with content_type "application/json" ({"rows":[...]}) or
 *       "application/vnd.apache.arrow.stream" (schema message, one record batch, EOS);
 *   400 for syntax/planning errors, 500 for unknown tables, execution errors and exceeded
 *       bounds, each with content_type "application/json" and {"message":"Datafusion error: ..."}.
 * body is reset first and then holds the response body (caller owns the buffer). content_type
 * points to a static string. */
int stet_query_execute(struct stet_query *q, const char *sql, size_t len, bool accept_json, int *status,
                       const char **content_type, struct stet_buf *body);

/* True when an accept header value selects JSON: exactly "application/json" (byte for byte,
 * as restate compares HeaderValues); anything else, or no header (accept NULL), is Arrow. */
bool stet_query_accepts_json(const char *accept, size_t len);

/* Convenience for the admin handler: parses the request body {"query": "<SQL>"} as axum's
 * Json extractor would and runs it. Malformed JSON -> 400 text/plain "Failed to parse the
 * request body as JSON: ..."; a body that is not {"query": string} -> 422 text/plain "Failed to
 * deserialize the JSON body into the target type: ...". Otherwise as stet_query_execute. The
 * content-type check (415) stays with the caller, which has the headers. */
int stet_query_execute_request(struct stet_query *q, const char *json_body, size_t len, bool accept_json,
                               int *status, const char **content_type, struct stet_buf *body);

/* Counters (for /metrics). */
struct stet_query_stats {
    uint64_t queries_total;
    uint64_t queries_failed;
    uint64_t rows_returned;
};
void stet_query_stats(const struct stet_query *q, struct stet_query_stats *out);

#endif
