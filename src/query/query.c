/* POST /query execution: SQLite connection, SQL functions, bounds, output, errors.
 *
 * Flow of stet_query_execute():
 *   1. rewrite.c turns the DataFusion text into SQLite text plus, per output column, a name
 *      and (when it can tell) an Arrow type;
 *   2. SQLite prepares it on our connection, where the authorizer only lets SELECTs read
 *      (no ATTACH, PRAGMA, DDL or writes) and the virtual tables of vtab.c serve the data;
 *   3. rows are stepped under the bounds (max_rows, max_ms through the progress handler,
 *      max_bytes of output) and rendered:
 *        JSON  streamed row by row into the body, as arrow-json writes record batches:
 *              {"rows":[{...}]}, NULL keys omitted, Binary as lowercase hex, UInt64 as a
 *              plain number, Timestamp(ms, "+00:00") as 2026-11-24T05:51:28.254Z (no
 *              fraction for whole seconds, chrono's AutoSi), Duration(ms) as PT86400S;
 *        Arrow rows are buffered (values are typed only after the last row when the type
 *              could not be derived statically), then written as one record batch;
 *   4. errors become {"message":"Datafusion error: ..."}: 400 for what DataFusion reports as
 *      SQL/planning/schema errors, 500 for unknown tables (as the live capture shows), for
 *      execution errors and for exceeded bounds.
 *
 * SQL functions registered here: now(), stet_cast(x, type[, try]) (CAST, ::, arrow_cast),
 * to_timestamp(x), to_timestamp_millis(x), the aggregates stet_first(x), stet_last(x),
 * stet_first_by(x, key, desc, nulls_first), and like()/match() replacing SQLite's LIKE with
 * DataFusion's case-sensitive LIKE (escape '\' by default) and ILIKE (rewritten to MATCH).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "json/json.h"
#include "query/query_internal.h"

#define MOD "query"

static const char CT_JSON[] = "application/json";
static const char CT_ARROW[] = "application/vnd.apache.arrow.stream";
static const char CT_TEXT[] = "text/plain; charset=utf-8";

static uint64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- value conversions ---------------------------------------------------------------------- */

/* Shortest "%g" text that reads back as the same double. */
static void fmt_double(double d, char *out, size_t n) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d) return;
    }
}

static bool parse_int(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 30) return false;
    char buf[32];
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != 0 || end == buf) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, size_t len, double *out) {
    if (len == 0 || len > 60) return false;
    char buf[64];
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end != 0 || end == buf) return false;
    *out = v;
    return true;
}

/* A timestamp text: RFC 3339, or "YYYY-MM-DD HH:MM:SS[.fff]" / "YYYY-MM-DD" read as UTC. */
static bool parse_timestamp(const char *s, size_t len, int64_t *ms) {
    uint64_t v;
    if (stet_time_parse_rfc3339(s, len, &v) == 0) {
        *ms = (int64_t)v;
        return true;
    }
    char buf[48];
    if (len >= 10 && len < 40) {
        memcpy(buf, s, len);
        buf[len] = 0;
        if (len == 10) strcat(buf, "T00:00:00Z");
        else {
            if (buf[10] == ' ') buf[10] = 'T';
            if (buf[len - 1] != 'Z') strcat(buf, "Z");
        }
        if (stet_time_parse_rfc3339(buf, strlen(buf), &v) == 0) {
            *ms = (int64_t)v;
            return true;
        }
    }
    return false;
}

static const char *type_label(enum stet_qtype t) { return stet_qtype_arrow_name(t); }

/* ---- SQL functions ------------------------------------------------------------------------- */

static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    (void)argv;
    struct stet_query *q = sqlite3_user_data(ctx);
    sqlite3_result_int64(ctx, (sqlite3_int64)q->now_ms);
}

static void cast_fail(sqlite3_context *ctx, bool try_cast, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cast_fail(sqlite3_context *ctx, bool try_cast, const char *fmt, ...) {
    if (try_cast) {
        sqlite3_result_null(ctx);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_result_error(ctx, msg ? msg : "Cast error", -1);
    sqlite3_free(msg);
}

static void do_cast(sqlite3_context *ctx, sqlite3_value *v, enum stet_qtype t, bool try_cast) {
    int cls = sqlite3_value_type(v);
    if (cls == SQLITE_NULL || t == QT_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *txt = cls == SQLITE_TEXT ? (const char *)sqlite3_value_text(v) : NULL;
    size_t tlen = txt ? (size_t)sqlite3_value_bytes(v) : 0;
    switch (t) {
    case QT_UTF8:
    case QT_LARGE_UTF8:
    case QT_LIST_UINT32:
    case QT_LIST_LARGE_UTF8:
    case QT_LIST_UTF8:
        if (cls == SQLITE_FLOAT) {
            char b[40];
            fmt_double(sqlite3_value_double(v), b, sizeof(b));
            sqlite3_result_text(ctx, b, -1, SQLITE_TRANSIENT);
        } else if (cls == SQLITE_BLOB) {
            sqlite3_result_text(ctx, sqlite3_value_bytes(v) ? (const char *)sqlite3_value_blob(v) : "",
                                sqlite3_value_bytes(v), SQLITE_TRANSIENT);
        } else {
            sqlite3_result_text(ctx, (const char *)sqlite3_value_text(v), sqlite3_value_bytes(v), SQLITE_TRANSIENT);
        }
        return;
    case QT_BINARY:
    case QT_LARGE_BINARY:
        if (cls == SQLITE_BLOB || cls == SQLITE_TEXT) {
            int n = sqlite3_value_bytes(v);
            const void *p = cls == SQLITE_BLOB ? sqlite3_value_blob(v) : (const void *)sqlite3_value_text(v);
            sqlite3_result_blob(ctx, n ? p : "", n, SQLITE_TRANSIENT);
        } else {
            cast_fail(ctx, try_cast, "Cast error: Casting from numbers to %s not supported", type_label(t));
        }
        return;
    case QT_FLOAT64: {
        double d;
        if (cls == SQLITE_INTEGER || cls == SQLITE_FLOAT) sqlite3_result_double(ctx, sqlite3_value_double(v));
        else if (txt && parse_double(txt, tlen, &d)) sqlite3_result_double(ctx, d);
        else cast_fail(ctx, try_cast, "Cast error: Cannot cast string '%s' to value of Float64 type", txt ? txt : "");
        return;
    }
    case QT_BOOL:
        if (cls == SQLITE_INTEGER || cls == SQLITE_FLOAT) {
            sqlite3_result_int(ctx, sqlite3_value_double(v) != 0);
        } else if (txt) {
            static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
            static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
            for (size_t i = 0; i < STET_ARRAY_LEN(yes); i++) {
                if (strcasecmp(txt, yes[i]) == 0) {
                    sqlite3_result_int(ctx, 1);
                    return;
                }
                if (strcasecmp(txt, no[i]) == 0) {
                    sqlite3_result_int(ctx, 0);
                    return;
                }
            }
            cast_fail(ctx, try_cast, "Cast error: Cannot cast value '%s' to value of Boolean type", txt);
        } else {
            cast_fail(ctx, try_cast, "Cast error: Casting from Binary to Boolean not supported");
        }
        return;
    case QT_INT32:
    case QT_INT64:
    case QT_UINT32:
    case QT_UINT64:
    case QT_TS_MS_UTC:
    case QT_TS_MS:
    case QT_TS_NS:
    case QT_DURATION_MS: {
        int64_t i;
        if (cls == SQLITE_INTEGER) {
            i = sqlite3_value_int64(v);
        } else if (cls == SQLITE_FLOAT) {
            double d = sqlite3_value_double(v);
            if (!(d >= -9.2e18 && d <= 9.2e18)) {
                cast_fail(ctx, try_cast, "Cast error: Can't cast value %g to type %s", d, type_label(t));
                return;
            }
            i = (int64_t)d;
        } else if (txt && (parse_int(txt, tlen, &i) || (stet_qtype_is_temporal(t) && parse_timestamp(txt, tlen, &i)))) {
            /* parsed */
        } else {
            cast_fail(ctx, try_cast, "Cast error: Cannot cast string '%s' to value of %s type", txt ? txt : "",
                      type_label(t));
            return;
        }
        if (stet_qtype_is_unsigned(t) && i < 0) {
            cast_fail(ctx, try_cast, "Cast error: Can't cast value %lld to type %s", (long long)i, type_label(t));
            return;
        }
        if ((t == QT_INT32 && (i < INT32_MIN || i > INT32_MAX)) || (t == QT_UINT32 && i > (int64_t)UINT32_MAX)) {
            cast_fail(ctx, try_cast, "Cast error: Can't cast value %lld to type %s", (long long)i, type_label(t));
            return;
        }
        sqlite3_result_int64(ctx, i);
        return;
    }
    case QT_UNKNOWN:
    case QT_NULL:
    case QT__COUNT: break;
    }
    sqlite3_result_value(ctx, v);
}

static void fn_cast(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    int code = sqlite3_value_int(argv[1]);
    bool try_cast = argc > 2 && sqlite3_value_int(argv[2]) != 0;
    if (code <= QT_UNKNOWN || code >= QT__COUNT) {
        sqlite3_result_error(ctx, "stet_cast: bad type code", -1);
        return;
    }
    do_cast(ctx, argv[0], (enum stet_qtype)code, try_cast);
}

/* to_timestamp: integers are seconds; to_timestamp_millis: integers are milliseconds. */
static void fn_to_timestamp(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    bool millis = sqlite3_user_data(ctx) != NULL;
    sqlite3_value *v = argv[0];
    if (sqlite3_value_type(v) == SQLITE_INTEGER) {
        int64_t i = sqlite3_value_int64(v);
        sqlite3_result_int64(ctx, millis ? i : i * 1000);
        return;
    }
    if (sqlite3_value_type(v) == SQLITE_FLOAT) {
        double d = sqlite3_value_double(v);
        sqlite3_result_int64(ctx, (sqlite3_int64)(millis ? d : d * 1000.0));
        return;
    }
    do_cast(ctx, v, QT_TS_MS, false);
}

/* ---- aggregates ------------------------------------------------------------------------ */

struct first_state {
    sqlite3_value *value;
    sqlite3_value *key;
    bool set;
};

static void first_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    bool last = sqlite3_user_data(ctx) != NULL;
    struct first_state *s = sqlite3_aggregate_context(ctx, sizeof(*s));
    if (s == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (s->set && !last) return;
    sqlite3_value_free(s->value);
    s->value = sqlite3_value_dup(argv[0]);
    s->set = true;
}

static void first_final(sqlite3_context *ctx) {
    struct first_state *s = sqlite3_aggregate_context(ctx, 0);
    if (s == NULL || !s->set || s->value == NULL) {
        sqlite3_result_null(ctx);
    } else {
        sqlite3_result_value(ctx, s->value);
    }
    if (s) {
        sqlite3_value_free(s->value);
        sqlite3_value_free(s->key);
        s->value = s->key = NULL;
    }
}

static int class_rank(int cls) {
    switch (cls) {
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: return 1;
    case SQLITE_TEXT: return 2;
    case SQLITE_BLOB: return 3;
    default: return 0;
    }
}

/* SQLite's ordering of two non-NULL values (numbers < text < blobs, BINARY collation). */
static int value_compare(sqlite3_value *a, sqlite3_value *b) {
    int ca = sqlite3_value_type(a), cb = sqlite3_value_type(b);
    if (class_rank(ca) != class_rank(cb)) return class_rank(ca) < class_rank(cb) ? -1 : 1;
    if (ca == SQLITE_INTEGER && cb == SQLITE_INTEGER) {
        int64_t x = sqlite3_value_int64(a), y = sqlite3_value_int64(b);
        return x < y ? -1 : x > y;
    }
    if (class_rank(ca) == 1) {
        double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
        return x < y ? -1 : x > y;
    }
    const void *pa = ca == SQLITE_TEXT ? (const void *)sqlite3_value_text(a) : sqlite3_value_blob(a);
    const void *pb = cb == SQLITE_TEXT ? (const void *)sqlite3_value_text(b) : sqlite3_value_blob(b);
    int la = sqlite3_value_bytes(a), lb = sqlite3_value_bytes(b);
    int m = la < lb ? la : lb;
    int r = m ? memcmp(pa, pb, (size_t)m) : 0;
    if (r != 0) return r;
    return la < lb ? -1 : la > lb;
}

/* FIRST_VALUE(x ORDER BY key): keeps x of the best row; ties keep the first row seen. */
static void first_by_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    struct first_state *s = sqlite3_aggregate_context(ctx, sizeof(*s));
    if (s == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    bool desc = sqlite3_value_int(argv[2]) != 0;
    bool nulls_first = sqlite3_value_int(argv[3]) != 0;
    sqlite3_value *key = argv[1];
    bool better;
    if (!s->set) {
        better = true;
    } else {
        bool kn = sqlite3_value_type(key) == SQLITE_NULL;
        bool bn = s->key == NULL || sqlite3_value_type(s->key) == SQLITE_NULL;
        if (kn && bn) better = false;
        else if (kn) better = nulls_first;
        else if (bn) better = !nulls_first;
        else {
            int cmp = value_compare(key, s->key);
            better = desc ? cmp > 0 : cmp < 0;
        }
    }
    if (!better) return;
    sqlite3_value_free(s->value);
    sqlite3_value_free(s->key);
    s->value = sqlite3_value_dup(argv[0]);
    s->key = sqlite3_value_dup(key);
    s->set = true;
}

/* ---- LIKE / ILIKE ---------------------------------------------------------------------- */

static uint32_t next_char(const uint8_t *s, size_t len, size_t *i) {
    uint32_t cp;
    int n = stet_utf8_decode(s + *i, len - *i, &cp);
    if (n < 0) {
        cp = s[*i];
        n = 1;
    }
    *i += (size_t)n;
    return cp;
}

static uint32_t fold(uint32_t c, bool ci) { return ci && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* DataFusion LIKE: % any sequence, _ one character, esc escapes the next character.
 * Linear-time wildcard matching with one backtrack point. */
static bool like_match(const uint8_t *p, size_t pl, const uint8_t *s, size_t sl, uint32_t esc, bool ci) {
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sl) {
        if (pi < pl) {
            size_t pj = pi;
            uint32_t c = next_char(p, pl, &pj);
            if (c == '%') {
                star_p = pj;
                star_s = si;
                pi = pj;
                continue;
            }
            bool literal = false;
            if (esc != 0 && c == esc && pj < pl) {
                c = next_char(p, pl, &pj);
                literal = true;
            }
            size_t sj = si;
            uint32_t sc = next_char(s, sl, &sj);
            if ((!literal && c == '_') || fold(c, ci) == fold(sc, ci)) {
                pi = pj;
                si = sj;
                continue;
            }
        }
        if (star_p == SIZE_MAX) return false;
        next_char(s, sl, &star_s);
        si = star_s;
        pi = star_p;
    }
    while (pi < pl && p[pi] == '%') pi++;
    return pi == pl;
}

static void fn_like(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    bool ci = sqlite3_user_data(ctx) != NULL;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    uint32_t esc = '\\';
    if (argc == 3) {
        const uint8_t *e = sqlite3_value_text(argv[2]);
        size_t el = (size_t)sqlite3_value_bytes(argv[2]), i = 0;
        esc = el ? next_char(e, el, &i) : 0;
        if (i != el) {
            sqlite3_result_error(ctx, "ESCAPE expression must be a single character", -1);
            return;
        }
    }
    const uint8_t *pat = sqlite3_value_text(argv[0]);
    size_t pl = (size_t)sqlite3_value_bytes(argv[0]);
    const uint8_t *str = sqlite3_value_text(argv[1]);
    size_t sl = (size_t)sqlite3_value_bytes(argv[1]);
    sqlite3_result_int(ctx, like_match(pat, pl, str, sl, esc, ci));
}

/* ---- connection ---------------------------------------------------------------------------- */

/* Only reads. SQLite reports its own schema loading as SQLITE_UPDATE of sqlite_master; a
 * user's write to it is still refused by SQLite and by the sqlite3_stmt_readonly check. */
static int authorizer(void *ud, int action, const char *a, const char *b, const char *db, const char *trigger) {
    (void)ud;
    (void)b;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE: return SQLITE_OK;
    case SQLITE_UPDATE:
        return a != NULL && (strcmp(a, "sqlite_master") == 0 || strcmp(a, "sqlite_temp_master") == 0) ? SQLITE_OK
                                                                                                         : SQLITE_DENY;
    default: return SQLITE_DENY;
    }
}

static int progress(void *ud) {
    struct stet_query *q = ud;
    if (monotonic_ms() > q->deadline_ms) {
        q->timed_out = true;
        return 1;
    }
    return 0;
}

static int register_functions(struct stet_query *q) {
    sqlite3 *db = q->db;
    static int marker;
    int rc = SQLITE_OK;
    const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
#define CHECK(call)                      \
    do {                                 \
        if (rc == SQLITE_OK) rc = (call); \
    } while (0)
    CHECK(sqlite3_create_function_v2(db, "now", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, q, fn_now, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, STET_QUERY_CAST_FN, 2, det, NULL, fn_cast, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, STET_QUERY_CAST_FN, 3, det, NULL, fn_cast, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, "to_timestamp", 1, det, NULL, fn_to_timestamp, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, "to_timestamp_millis", 1, det, &marker, fn_to_timestamp, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, "stet_first", 1, SQLITE_UTF8, NULL, NULL, first_step, first_final, NULL));
    CHECK(sqlite3_create_function_v2(db, "stet_last", 1, SQLITE_UTF8, &marker, NULL, first_step, first_final, NULL));
    CHECK(sqlite3_create_function_v2(db, "stet_first_by", 4, SQLITE_UTF8, NULL, NULL, first_by_step, first_final,
                                     NULL));
    CHECK(sqlite3_create_function_v2(db, "like", 2, det, NULL, fn_like, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, "like", 3, det, NULL, fn_like, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, "match", 2, det, &marker, fn_like, NULL, NULL, NULL));
    CHECK(sqlite3_create_function_v2(db, "match", 3, det, &marker, fn_like, NULL, NULL, NULL));
#undef CHECK
    return rc;
}

int stet_query_create(const struct stet_query_sources *src, struct stet_query **out) {
    STET_ASSERT(src != NULL);
    STET_ASSERT(src->store != NULL);
    *out = NULL;
    struct stet_query *q = calloc(1, sizeof(*q));
    if (q == NULL) return -ENOMEM;
    q->src = *src;
    if (q->src.max_rows == 0) q->src.max_rows = STET_QUERY_DEFAULT_MAX_ROWS;
    if (q->src.max_ms == 0) q->src.max_ms = STET_QUERY_DEFAULT_MAX_MS;
    if (q->src.max_bytes == 0) q->src.max_bytes = STET_QUERY_DEFAULT_MAX_BYTES;
    int rc = sqlite3_open_v2(":memory:", &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY, NULL);
    if (rc == SQLITE_OK) rc = register_functions(q);
    if (rc == SQLITE_OK) rc = stet_query_vtab_register(q->db, q);
    if (rc == SQLITE_OK) rc = sqlite3_db_config(q->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    if (rc == SQLITE_OK) rc = sqlite3_db_config(q->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    if (rc != SQLITE_OK) {
        stet_error(MOD, "cannot set up the SQL engine: %s", q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        goto err;
    }
    sqlite3_limit(q->db, SQLITE_LIMIT_LENGTH, 16 << 20);
    sqlite3_limit(q->db, SQLITE_LIMIT_SQL_LENGTH, 1 << 20);
    sqlite3_limit(q->db, SQLITE_LIMIT_ATTACHED, 2);
    sqlite3_set_authorizer(q->db, authorizer, q);
    sqlite3_progress_handler(q->db, 1000, progress, q);
    *out = q;
    return 0;
err:
    sqlite3_close(q->db);
    free(q);
    return -EIO;
}

void stet_query_destroy(struct stet_query *q) {
    if (q == NULL) return;
    sqlite3_close(q->db);
    free(q);
}

void stet_query_stats(const struct stet_query *q, struct stet_query_stats *out) { *out = q->stats; }

/* ---- errors -------------------------------------------------------------------------------- */

struct qerror {
    int status;
    char message[1024];
};

static void qerr(struct qerror *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void qerr(struct qerror *e, int status, const char *fmt, ...) {
    e->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* Rust's Debug escaping of a string's content (quotes and backslashes). */
static void debug_escape(const char *s, char *out, size_t n) {
    size_t o = 0;
    for (; *s && o + 3 < n; s++) {
        if (*s == '"' || *s == '\\') out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = 0;
}

/* Maps an SQLite prepare error to DataFusion's wording and status. */
static void prepare_error(const char *msg, struct qerror *e) {
    const char *p;
    char esc[700];
    if ((p = strstr(msg, "no such table: ")) != NULL) {
        p += strlen("no such table: ");
        if (strncmp(p, "information_schema.", 19) == 0)
            qerr(e, 500, "Error during planning: table 'restate.%s' not found", p);
        else if (strncmp(p, "main.", 5) == 0)
            qerr(e, 500, "Error during planning: table 'restate.public.%s' not found", p + 5);
        else
            qerr(e, 500, "Error during planning: table 'restate.public.%s' not found", p);
    } else if ((p = strstr(msg, "no such column: ")) != NULL) {
        qerr(e, 400, "Schema error: No field named %s.", p + strlen("no such column: "));
    } else if ((p = strstr(msg, "no such function: ")) != NULL) {
        qerr(e, 400, "Error during planning: Invalid function '%s'.", p + strlen("no such function: "));
    } else if (strstr(msg, "not authorized") != NULL || strstr(msg, "may not be modified") != NULL) {
        qerr(e, 400, "Error during planning: only SELECT queries are supported (the query endpoint is read-only)");
    } else if (strstr(msg, "syntax error") != NULL || strstr(msg, "incomplete input") != NULL ||
               strstr(msg, "unrecognized token") != NULL) {
        debug_escape(msg, esc, sizeof(esc));
        qerr(e, 400, "SQL error: ParserError(\"%s\")", esc);
    } else {
        qerr(e, 400, "Error during planning: %s", msg);
    }
}

static void write_error(struct stet_buf *body, const char *message) {
    stet_buf_reset(body);
    struct stet_json_writer w;
    stet_json_writer_init(&w, body);
    stet_json_begin_object(&w);
    stet_json_key(&w, "message");
    struct stet_buf m = STET_BUF_INIT;
    stet_buf_printf(&m, "Datafusion error: %s", message);
    stet_json_write_string_n(&w, (const char *)m.data, m.len);
    stet_buf_free(&m);
    stet_json_end_object(&w);
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* chrono's to_rfc3339_opts(AutoSi, use_z) for ms values; naive (no zone) for tz-less types. */
static void fmt_timestamp(int64_t ms, bool utc, char *out, size_t n) {
    if (ms < 0) ms = 0;
    stet_time_format_rfc3339_millis((uint64_t)ms, out, n); /* 2026-11-24T05:51:28.254Z */
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == 'Z') out[--len] = 0;
    if (ms % 1000 == 0 && len > 4 && out[len - 4] == '.') {
        len -= 4;
        out[len] = 0;
    }
    if (utc && len + 1 < n) {
        out[len++] = 'Z';
        out[len] = 0;
    }
}

static void fmt_duration(int64_t ms, char *out, size_t n) {
    if (ms < 0) {
        out[0] = '-';
        stet_duration_format_iso((uint64_t)(-ms), out + 1, n - 1);
    } else {
        stet_duration_format_iso((uint64_t)ms, out, n);
    }
}

static void write_hex(struct stet_json_writer *w, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    STET_ASSERT(s != NULL);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = hex[p[i] >> 4];
        s[2 * i + 1] = hex[p[i] & 15];
    }
    stet_json_write_string_n(w, s, 2 * n);
    free(s);
}

/* A value as SQLite gave it: class + payload (borrowed). */
struct qval {
    int cls;
    int64_t i;
    double d;
    const uint8_t *p;
    size_t n;
};

static void json_by_class(struct stet_json_writer *w, const struct qval *v) {
    switch (v->cls) {
    case SQLITE_INTEGER: stet_json_write_int(w, v->i); return;
    case SQLITE_FLOAT: stet_json_write_double(w, v->d); return;
    case SQLITE_TEXT: stet_json_write_string_n(w, (const char *)v->p, v->n); return;
    case SQLITE_BLOB: write_hex(w, v->p, v->n); return;
    default: stet_json_write_null(w); return;
    }
}

static bool int_of(const struct qval *v, enum stet_qtype t, int64_t *out) {
    if (v->cls == SQLITE_INTEGER) {
        *out = v->i;
        return true;
    }
    if (v->cls == SQLITE_FLOAT && v->d >= -9.2e18 && v->d <= 9.2e18) {
        *out = (int64_t)v->d;
        return true;
    }
    if (v->cls == SQLITE_TEXT) {
        if (parse_int((const char *)v->p, v->n, out)) return true;
        if (stet_qtype_is_temporal(t) && parse_timestamp((const char *)v->p, v->n, out)) return true;
    }
    return false;
}

static void json_value(struct stet_json_writer *w, enum stet_qtype t, const struct qval *v) {
    int64_t i;
    char buf[64];
    switch (t) {
    case QT_BOOL:
        if (int_of(v, t, &i)) stet_json_write_bool(w, i != 0);
        else json_by_class(w, v);
        return;
    case QT_INT32:
    case QT_INT64:
        if (int_of(v, t, &i)) stet_json_write_int(w, i);
        else json_by_class(w, v);
        return;
    case QT_UINT32:
    case QT_UINT64:
        if (int_of(v, t, &i)) stet_json_write_uint(w, (uint64_t)i);
        else json_by_class(w, v);
        return;
    case QT_FLOAT64:
        if (v->cls == SQLITE_INTEGER || v->cls == SQLITE_FLOAT)
            stet_json_write_double(w, v->cls == SQLITE_FLOAT ? v->d : (double)v->i);
        else
            json_by_class(w, v);
        return;
    case QT_UTF8:
    case QT_LARGE_UTF8:
        if (v->cls == SQLITE_FLOAT) {
            fmt_double(v->d, buf, sizeof(buf));
            stet_json_write_string(w, buf);
        } else if (v->cls == SQLITE_INTEGER) {
            snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
            stet_json_write_string(w, buf);
        } else {
            stet_json_write_string_n(w, (const char *)v->p, v->n);
        }
        return;
    case QT_BINARY:
    case QT_LARGE_BINARY:
        if (v->cls == SQLITE_BLOB || v->cls == SQLITE_TEXT) write_hex(w, v->p, v->n);
        else json_by_class(w, v);
        return;
    case QT_TS_MS_UTC:
    case QT_TS_MS:
    case QT_TS_NS:
        if (int_of(v, t, &i)) {
            fmt_timestamp(i, t == QT_TS_MS_UTC, buf, sizeof(buf));
            stet_json_write_string(w, buf);
        } else {
            json_by_class(w, v);
        }
        return;
    case QT_DURATION_MS:
        if (int_of(v, t, &i)) {
            fmt_duration(i, buf, sizeof(buf));
            stet_json_write_string(w, buf);
        } else {
            json_by_class(w, v);
        }
        return;
    case QT_LIST_UINT32:
    case QT_LIST_LARGE_UTF8:
    case QT_LIST_UTF8:
        if (v->cls == SQLITE_TEXT) {
            struct stet_json *j = NULL;
            if (stet_json_parse((const char *)v->p, v->n, &j, NULL, 0) == 0 && stet_json_type(j) == STET_JSON_ARRAY)
                stet_json_write_json(w, j);
            else
                stet_json_write_string_n(w, (const char *)v->p, v->n);
            stet_json_free(j);
        } else {
            json_by_class(w, v);
        }
        return;
    case QT_UNKNOWN:
    case QT_NULL:
    case QT__COUNT: break;
    }
    json_by_class(w, v);
}

static void qval_of_column(sqlite3_stmt *st, int i, struct qval *v) {
    memset(v, 0, sizeof(*v));
    v->cls = sqlite3_column_type(st, i);
    switch (v->cls) {
    case SQLITE_INTEGER: v->i = sqlite3_column_int64(st, i); break;
    case SQLITE_FLOAT: v->d = sqlite3_column_double(st, i); break;
    case SQLITE_TEXT:
        v->p = sqlite3_column_text(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
        break;
    case SQLITE_BLOB:
        v->p = sqlite3_column_blob(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
        break;
    default: break;
    }
    if (v->p == NULL) v->p = (const uint8_t *)"";
}

/* Row buffer for Arrow: per value u8 class, then i64 / f64 / (u32 len, bytes). */
static void rowbuf_put(struct stet_buf *b, const struct qval *v) {
    stet_buf_append_byte(b, (uint8_t)v->cls);
    if (v->cls == SQLITE_INTEGER) stet_buf_append_u64be(b, (uint64_t)v->i);
    else if (v->cls == SQLITE_FLOAT) {
        uint64_t bits;
        memcpy(&bits, &v->d, 8);
        stet_buf_append_u64be(b, bits);
    } else if (v->cls == SQLITE_TEXT || v->cls == SQLITE_BLOB) {
        stet_buf_append_u32be(b, (uint32_t)v->n);
        stet_buf_append(b, v->p, v->n);
    }
}

static size_t rowbuf_get(const uint8_t *p, struct qval *v) {
    memset(v, 0, sizeof(*v));
    v->cls = p[0];
    v->p = (const uint8_t *)"";
    if (v->cls == SQLITE_INTEGER) {
        v->i = (int64_t)stet_load_u64be(p + 1);
        return 9;
    }
    if (v->cls == SQLITE_FLOAT) {
        uint64_t bits = stet_load_u64be(p + 1);
        memcpy(&v->d, &bits, 8);
        return 9;
    }
    if (v->cls == SQLITE_TEXT || v->cls == SQLITE_BLOB) {
        v->n = stet_load_u32be(p + 1);
        v->p = p + 5;
        return 5 + v->n;
    }
    return 1;
}

/* Replaces invalid UTF-8 by U+FFFD (Arrow strings must be valid UTF-8). */
static void utf8_lossy(const uint8_t *p, size_t n, struct stet_buf *out) {
    stet_buf_reset(out);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = stet_utf8_decode(p + i, n - i, &cp);
        if (k < 0) {
            stet_utf8_append(out, 0xFFFD);
            i += (size_t)(-k);
        } else {
            stet_buf_append(out, p + i, (size_t)k);
            i += (size_t)k;
        }
    }
}

static void arrow_value(struct stet_arrow_col *c, const struct qval *v, struct stet_buf *scratch) {
    enum stet_qtype t = c->type;
    int64_t i;
    char buf[64];
    if (v->cls == SQLITE_NULL || t == QT_NULL) {
        stet_arrow_append_null(c);
        return;
    }
    if (t == QT_BOOL || stet_qtype_is_int(t) || stet_qtype_is_temporal(t) || t == QT_DURATION_MS) {
        if (int_of(v, t, &i)) stet_arrow_append_int(c, i);
        else stet_arrow_append_null(c);
        return;
    }
    if (t == QT_FLOAT64) {
        double d;
        if (v->cls == SQLITE_FLOAT) stet_arrow_append_double(c, v->d);
        else if (v->cls == SQLITE_INTEGER) stet_arrow_append_double(c, (double)v->i);
        else if (v->cls == SQLITE_TEXT && parse_double((const char *)v->p, v->n, &d)) stet_arrow_append_double(c, d);
        else stet_arrow_append_null(c);
        return;
    }
    if (stet_qtype_is_string(t) || stet_qtype_is_binary(t)) {
        const uint8_t *p = v->p;
        size_t n = v->n;
        if (v->cls == SQLITE_INTEGER) {
            snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
            p = (const uint8_t *)buf;
            n = strlen(buf);
        } else if (v->cls == SQLITE_FLOAT) {
            fmt_double(v->d, buf, sizeof(buf));
            p = (const uint8_t *)buf;
            n = strlen(buf);
        }
        if (stet_qtype_is_string(t) && !stet_utf8_valid(p, n)) {
            utf8_lossy(p, n, scratch);
            p = scratch->data;
            n = scratch->len;
        }
        stet_arrow_append_bytes(c, p, n);
        return;
    }
    if (stet_qtype_is_list(t)) {
        struct stet_json *j = NULL;
        if (v->cls != SQLITE_TEXT || stet_json_parse((const char *)v->p, v->n, &j, NULL, 0) != 0 ||
            stet_json_type(j) != STET_JSON_ARRAY) {
            stet_json_free(j);
            stet_arrow_append_null(c);
            return;
        }
        stet_arrow_list_begin(c);
        for (size_t k = 0; k < stet_json_array_len(j); k++) {
            const struct stet_json *e = stet_json_array_at(j, k);
            if (t == QT_LIST_UINT32) {
                uint64_t u;
                if (stet_json_uint64(e, &u) && u <= UINT32_MAX) stet_arrow_list_uint(c, (uint32_t)u);
            } else if (stet_json_type(e) == STET_JSON_STRING) {
                size_t l;
                const char *s = stet_json_string(e, &l);
                stet_arrow_list_bytes(c, s, l);
            }
        }
        stet_arrow_list_end(c);
        stet_json_free(j);
        return;
    }
    stet_arrow_append_null(c);
}

/* ---- execution -------------------------------------------------------------------------- */

struct column {
    const char *name;
    enum stet_qtype type;
    bool nullable;
};

static enum stet_qtype static_type(const struct stet_qrewrite *rw, sqlite3_stmt *st, int ncols, int i,
                                   const char *name, bool *non_null) {
    enum stet_qtype t = QT_UNKNOWN;
    *non_null = false;
    if (!rw->has_star && rw->n_items == (size_t)ncols) {
        t = rw->items[i].type;
        *non_null = rw->items[i].non_null;
    } else {
        for (size_t k = 0; k < rw->n_items; k++) {
            if (rw->items[k].name && name && strcmp(rw->items[k].name, name) == 0) {
                t = rw->items[k].type;
                *non_null = rw->items[k].non_null;
                break;
            }
        }
    }
    enum stet_qtype decl = stet_qtype_from_decl(sqlite3_column_decltype(st, i));
    if (t == QT_UNKNOWN && decl != QT_UNKNOWN) t = decl;
    return t;
}

/* Type of a column whose type was unknown until now, from its values. */
static enum stet_qtype type_from_values(const struct stet_buf *rows, int ncols, uint64_t n_rows, int col) {
    bool any_int = false, any_float = false, any_text = false, any_blob = false;
    const uint8_t *p = rows->data;
    for (uint64_t r = 0; r < n_rows; r++) {
        for (int i = 0; i < ncols; i++) {
            struct qval v;
            p += rowbuf_get(p, &v);
            if (i != col) continue;
            any_int |= v.cls == SQLITE_INTEGER;
            any_float |= v.cls == SQLITE_FLOAT;
            any_text |= v.cls == SQLITE_TEXT;
            any_blob |= v.cls == SQLITE_BLOB;
        }
    }
    if (any_text) return QT_UTF8;
    if (any_blob) return QT_BINARY;
    if (any_float) return QT_FLOAT64;
    if (any_int) return QT_INT64;
    return QT_NULL;
}

static void write_arrow(struct stet_buf *body, struct column *cols, int ncols, const struct stet_buf *rows,
                        uint64_t n_rows, size_t max_bytes, struct qerror *e) {
    for (int i = 0; i < ncols; i++)
        if (cols[i].type == QT_UNKNOWN) cols[i].type = type_from_values(rows, ncols, n_rows, i);
    struct stet_arrow_col *ac = calloc((size_t)(ncols ? ncols : 1), sizeof(*ac));
    struct stet_arrow_field *fields = calloc((size_t)(ncols ? ncols : 1), sizeof(*fields));
    STET_ASSERT(ac != NULL && fields != NULL);
    for (int i = 0; i < ncols; i++) {
        stet_arrow_col_init(&ac[i], cols[i].type);
        fields[i].name = cols[i].name;
        fields[i].type = cols[i].type;
        fields[i].nullable = cols[i].nullable;
    }
    struct stet_buf scratch = STET_BUF_INIT;
    const uint8_t *p = rows->data;
    size_t total = rows->len;
    for (uint64_t r = 0; r < n_rows && e->status == 0; r++) {
        for (int i = 0; i < ncols; i++) {
            struct qval v;
            p += rowbuf_get(p, &v);
            size_t before = stet_arrow_col_bytes(&ac[i]);
            arrow_value(&ac[i], &v, &scratch);
            total += stet_arrow_col_bytes(&ac[i]) - before;
        }
        if (total > max_bytes)
            qerr(e, 500, "Resources exhausted: the query result exceeds %zu bytes; select fewer columns or add a LIMIT",
                 max_bytes);
    }
    if (e->status == 0) stet_arrow_write_stream(body, fields, ac, (size_t)ncols, n_rows);
    for (int i = 0; i < ncols; i++) stet_arrow_col_free(&ac[i]);
    free(ac);
    free(fields);
    stet_buf_free(&scratch);
}

static void run(struct stet_query *q, const char *sql, size_t len, bool accept_json, struct stet_buf *body,
                struct qerror *e, uint64_t *rows_out) {
    struct stet_qrewrite rw;
    if (stet_query_rewrite(sql, len, &rw) != 0) {
        bool not_impl = strncmp(rw.message, "This feature is not implemented", 31) == 0;
        qerr(e, not_impl ? 500 : 400, "%s", rw.message);
        stet_query_rewrite_free(&rw);
        return;
    }
    stet_debug(MOD, "sql rewritten to: %s", (const char *)rw.sql.data);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(q->db, (const char *)rw.sql.data, (int)rw.sql.len, 0, &st, &tail);
    if (rc != SQLITE_OK || st == NULL) {
        prepare_error(rc != SQLITE_OK ? sqlite3_errmsg(q->db) : "Expected: an SQL statement, found: EOF", e);
        sqlite3_finalize(st);
        stet_query_rewrite_free(&rw);
        return;
    }
    int ncols = sqlite3_column_count(st);
    if (ncols == 0 || !sqlite3_stmt_readonly(st)) {
        qerr(e, 400, "Error during planning: only SELECT queries are supported (the query endpoint is read-only)");
        sqlite3_finalize(st);
        stet_query_rewrite_free(&rw);
        return;
    }
    struct column *cols = calloc((size_t)ncols, sizeof(*cols));
    char **names = calloc((size_t)ncols, sizeof(char *));
    STET_ASSERT(cols != NULL && names != NULL);
    for (int i = 0; i < ncols; i++) {
        const char *n = sqlite3_column_name(st, i);
        names[i] = strdup(n ? n : "");
        STET_ASSERT(names[i] != NULL);
        bool non_null;
        cols[i].name = names[i];
        cols[i].type = static_type(&rw, st, ncols, i, names[i], &non_null);
        cols[i].nullable = !non_null;
    }

    struct stet_json_writer w;
    struct stet_buf rows = STET_BUF_INIT;
    uint64_t n_rows = 0;
    if (accept_json) {
        stet_json_writer_init(&w, body);
        stet_json_begin_object(&w);
        stet_json_key(&w, "rows");
        stet_json_begin_array(&w);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n_rows >= q->src.max_rows) {
            qerr(e, 500, "Resources exhausted: the query returned more than %llu rows; add a LIMIT or a WHERE clause",
                 (unsigned long long)q->src.max_rows);
            break;
        }
        n_rows++;
        if (accept_json) {
            stet_json_begin_object(&w);
            for (int i = 0; i < ncols; i++) {
                struct qval v;
                qval_of_column(st, i, &v);
                if (v.cls == SQLITE_NULL) continue; /* arrow-json omits nulls */
                stet_json_key(&w, cols[i].name);
                json_value(&w, cols[i].type, &v);
            }
            stet_json_end_object(&w);
        } else {
            for (int i = 0; i < ncols; i++) {
                struct qval v;
                qval_of_column(st, i, &v);
                rowbuf_put(&rows, &v);
            }
        }
        if ((accept_json ? body->len : rows.len) > q->src.max_bytes) {
            qerr(e, 500, "Resources exhausted: the query result exceeds %zu bytes; select fewer columns or add a LIMIT",
                 q->src.max_bytes);
            break;
        }
    }
    if (e->status == 0 && rc != SQLITE_DONE) {
        if (q->timed_out)
            qerr(e, 500, "Resources exhausted: the query ran longer than %llu ms; narrow it with a WHERE clause or "
                         "a LIMIT", (unsigned long long)q->src.max_ms);
        else if (strncmp(sqlite3_errmsg(q->db), "Cast error", 10) == 0)
            qerr(e, 500, "Arrow error: %s", sqlite3_errmsg(q->db));
        else
            qerr(e, 500, "Execution error: %s", sqlite3_errmsg(q->db));
    }
    if (e->status == 0) {
        if (accept_json) {
            stet_json_end_array(&w);
            stet_json_end_object(&w);
        } else {
            write_arrow(body, cols, ncols, &rows, n_rows, q->src.max_bytes, e);
        }
    }
    *rows_out = n_rows;
    sqlite3_finalize(st);
    stet_buf_free(&rows);
    for (int i = 0; i < ncols; i++) free(names[i]);
    free(names);
    free(cols);
    stet_query_rewrite_free(&rw);
}

int stet_query_execute(struct stet_query *q, const char *sql, size_t len, bool accept_json, int *status,
                       const char **content_type, struct stet_buf *body) {
    STET_ASSERT(q != NULL && status != NULL && content_type != NULL && body != NULL);
    STET_ASSERT(sql != NULL || len == 0);
    stet_buf_reset(body);
    q->stats.queries_total++;
    q->schema = q->src.schema ? q->src.schema(q->src.ctx) : NULL;
    q->now_ms = q->src.now_ms ? q->src.now_ms(q->src.ctx) : wall_ms();
    q->deadline_ms = monotonic_ms() + q->src.max_ms;
    q->timed_out = false;
    struct qerror e = {0, {0}};
    uint64_t rows = 0;
    run(q, sql ? sql : "", len, accept_json, body, &e, &rows);
    q->schema = NULL;
    if (e.status != 0) {
        q->stats.queries_failed++;
        stet_debug(MOD, "query failed status=%d: %s", e.status, e.message);
        write_error(body, e.message);
        *status = e.status;
        *content_type = CT_JSON;
        return 0;
    }
    q->stats.rows_returned += rows;
    *status = 200;
    *content_type = accept_json ? CT_JSON : CT_ARROW;
    return 0;
}

bool stet_query_accepts_json(const char *accept, size_t len) {
    static const char json[] = "application/json";
    return accept != NULL && len == sizeof(json) - 1 && memcmp(accept, json, len) == 0;
}

int stet_query_execute_request(struct stet_query *q, const char *json_body, size_t len, bool accept_json,
                               int *status, const char **content_type, struct stet_buf *body) {
    struct stet_json *j = NULL;
    char err[256];
    stet_buf_reset(body);
    if (stet_json_parse(json_body ? json_body : "", len, &j, err, sizeof(err)) != 0) {
        stet_buf_printf(body, "Failed to parse the request body as JSON: %s", err);
        *status = 400;
        *content_type = CT_TEXT;
        return 0;
    }
    const struct stet_json *query = stet_json_object_get(j, "query");
    int rc = 0;
    if (stet_json_type(j) != STET_JSON_OBJECT) {
        stet_buf_printf(body, "Failed to deserialize the JSON body into the target type: invalid type: expected "
                              "struct QueryRequest at line 1 column %zu", len);
        *status = 422;
        *content_type = CT_TEXT;
    } else if (query == NULL) {
        stet_buf_printf(body, "Failed to deserialize the JSON body into the target type: missing field `query` at "
                              "line 1 column %zu", len);
        *status = 422;
        *content_type = CT_TEXT;
    } else if (stet_json_type(query) != STET_JSON_STRING) {
        stet_buf_printf(body, "Failed to deserialize the JSON body into the target type: query: invalid type: "
                              "expected a string at line 1 column %zu", len);
        *status = 422;
        *content_type = CT_TEXT;
    } else {
        size_t ql;
        const char *qs = stet_json_string(query, &ql);
        rc = stet_query_execute(q, qs, ql, accept_json, status, content_type, body);
    }
    stet_json_free(j);
    return rc;
}
