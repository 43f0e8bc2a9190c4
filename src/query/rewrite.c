/* DataFusion dialect -> SQLite: tokenizer, rewrites, output names and output types.
 *
 * The /query endpoint receives DataFusion SQL (the `restate` CLI's templates, http-api.md
 * §6, and whatever users type into `restate sql`). SQLite understands most of it as is.
 * What it does not, we rewrite on the token stream before SQLite prepares the statement:
 *
 *   DataFusion                               SQLite we emit
 *   ------------------------------------------------------------------------------------------
 *   FIRST_VALUE(x ORDER BY y [ASC|DESC])     stet_first_by(x, y, desc, nulls_first)  (aggregate)
 *   LAST_VALUE(x ORDER BY y)                 stet_first_by(x, y, !desc, ...)
 *   first_value(x) / last_value(x)           stet_first(x) / stet_last(x)  (aggregates; with OVER
 *                                            they stay SQLite's window functions)
 *   CAST(x AS STRING | INT UNSIGNED | ...)   stet_cast(x, <type code>)   TRY_CAST: 3rd arg 1
 *   x::type                                  stet_cast(x, <type code>)
 *   arrow_cast(x, 'UInt64')                  stet_cast(x, <type code>)
 *   current_timestamp                        now()   (now() is a registered function)
 *   INTERVAL '1 hour'                        3600000  (milliseconds, like our Duration values)
 *   a ILIKE b                                a MATCH b   (match() = case-insensitive LIKE;
 *                                            like() itself is replaced by a case-sensitive one)
 *   restate.public.t, public.t               t
 *   index (a keyword in SQLite)              "index"
 *   ORDER BY x [ASC|DESC]                    ORDER BY x [ASC|DESC] NULLS LAST|FIRST  (DataFusion
 *                                            puts NULLs last ascending, first descending)
 *   FROM (SELECT .. FROM t inv ..)           FROM (SELECT .. FROM t inv ..) AS inv  (DataFusion
 *                                            resolves inv.x through an unaliased derived table)
 *   SHOW TABLES, DESCRIBE t                  selects over information_schema
 *   trailing ';'                             dropped; a second statement is an error
 *   `==`, LIMIT in subqueries, IN (SELECT)   unchanged: SQLite has them
 *   information_schema.columns               unchanged: an attached database (vtab.c)
 *
 * Output names follow DataFusion: an alias as written (unquoted aliases lower-cased), a
 * column reference's column name (`inv.id` -> `id`), otherwise the expression's display
 * with column references qualified and literals typed: COUNT(1) -> `count(Int64(1))`,
 * COUNT(*) -> `count(*)`, MIN(created_at) -> `min(sys_invocation.created_at)`. Every
 * top-level select item gets an explicit `AS "<name>"` so SQLite reports that name.
 *
 * Output types: see expr_type(). Column references resolve through the FROM clause (tables
 * of the catalog, derived tables, CTEs); COUNT is Int64, comparisons are Boolean, CAST
 * gives its target, MIN/MAX/FIRST_VALUE keep their argument's type, ... Anything we cannot
 * type is QT_UNKNOWN and query.c decides from SQLite's decltype or from the values.
 *
 * The rewriter is a token-level pass, not a full parser: it recognises the SELECT
 * structure (items, FROM refs, ORDER BY lists) and leaves everything else to SQLite, whose
 * syntax errors become DataFusion-style ParserErrors in query.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/timefmt.h"
#include "query/query_internal.h"

#define NONE SIZE_MAX
#define MAX_TOKENS 100000
#define MAX_DEPTH 8      /* derived tables / CTEs followed when typing a column */
#define MAX_NESTING 200  /* parentheses; the analysis recurses on them */
#define ANALYSIS_BUDGET 2000000 /* tokens the type/name analysis may visit */

enum tk { TK_IDENT, TK_QIDENT, TK_STRING, TK_HEX, TK_NUMBER, TK_OP, TK_LP, TK_RP, TK_COMMA, TK_DOT, TK_SEMI };

struct tok {
    uint8_t kind;
    uint32_t off, len;
};

#define MAX_CASTS_AT 4

/* A `x::type` cast whose left operand starts at some token. */
struct pcast {
    size_t op;  /* index of `::` */
    size_t end; /* last token of the type */
    enum stet_qtype type;
};

struct fromref {
    size_t name_tok;    /* table name token (last part of a qualified name), NONE for subqueries */
    bool info_schema;   /* qualified with information_schema */
    size_t sub_lp;      /* '(' of a derived table, NONE otherwise */
    char *alias;        /* normalized alias (malloc'd) or NULL */
    size_t end;         /* last token of the ref (name or alias) */
};

#define MAX_ITEMS 512
#define MAX_REFS 32

struct item {
    size_t a, b; /* expression tokens, inclusive */
    size_t alias_start, alias_tok; /* NONE when there is no alias */
    bool star;
};

struct selcore {
    size_t start; /* the SELECT token */
    struct item *items;
    size_t n_items;
    struct fromref refs[MAX_REFS];
    size_t n_refs;
};

struct cte {
    size_t name_tok;
    size_t lp; /* '(' of the CTE body */
};

struct rw {
    const char *src;
    struct tok *t;
    size_t n;
    size_t *match;   /* LP <-> RP, CASE <-> END */
    size_t *parent;  /* innermost enclosing LP, NONE at top level */
    /* edits */
    struct stet_buf *ins;   /* text to insert after token i */
    size_t *repl_end;       /* replace tokens [i, repl_end[i]] by repl[i] */
    char **repl;
    struct pcast (*casts)[MAX_CASTS_AT];
    uint8_t *n_casts;
    struct cte ctes[16];
    size_t n_ctes;
    bool failed;
    int depth;
    long budget; /* analysis work left; typing gives up (QT_UNKNOWN) when it runs out */
    char *message;
    size_t message_len;
};

static void fail(struct rw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct rw *w, const char *fmt, ...) {
    if (w->failed) return;
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->message, w->message_len, fmt, ap);
    va_end(ap);
}

/* ---- tokens ---------------------------------------------------------------------------- */

static bool ident_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static bool ident_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

static void line_col(const char *s, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int tokenize(struct rw *w, const char *s, size_t len) {
    size_t cap = 64;
    w->t = malloc(cap * sizeof(*w->t));
    STET_ASSERT(w->t != NULL);
    w->n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            i++;
            continue;
        }
        if (c == '-' && i + 1 < len && s[i + 1] == '-') {
            while (i < len && s[i] != '\n') i++;
            continue;
        }
        if (c == '/' && i + 1 < len && s[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < len && !(s[j] == '*' && s[j + 1] == '/')) j++;
            if (j + 1 >= len) {
                fail(w, "SQL error: ParserError(\"Unexpected EOF while in a multi-line comment\")");
                return -EINVAL;
            }
            i = j + 2;
            continue;
        }
        if (w->n == cap) {
            cap *= 2;
            w->t = realloc(w->t, cap * sizeof(*w->t));
            STET_ASSERT(w->t != NULL);
        }
        if (w->n >= MAX_TOKENS) {
            fail(w, "SQL error: ParserError(\"statement too long: more than %d tokens\")", MAX_TOKENS);
            return -EINVAL;
        }
        struct tok *t = &w->t[w->n];
        t->off = (uint32_t)i;
        if ((c == 'x' || c == 'X') && i + 1 < len && s[i + 1] == '\'') {
            /* X'00ff': a binary literal */
            size_t j = i + 2;
            while (j < len && s[j] != '\'') j++;
            if (j >= len) {
                fail(w, "SQL error: TokenizerError(\"Unterminated hex string literal\")");
                return -EINVAL;
            }
            t->kind = TK_HEX;
            t->len = (uint32_t)(j + 1 - i);
            i = j + 1;
        } else if (ident_start(c)) {
            size_t j = i + 1;
            while (j < len && ident_char((unsigned char)s[j])) j++;
            t->kind = TK_IDENT;
            t->len = (uint32_t)(j - i);
            i = j;
        } else if (c == '"' || c == '`' || c == '\'') {
            size_t j = i + 1;
            for (;;) {
                if (j >= len) {
                    int line, col;
                    line_col(s, i, &line, &col);
                    if (c == '\'')
                        fail(w, "SQL error: TokenizerError(\"Unterminated string literal at Line: %d, Column: %d\")",
                             line, col);
                    else
                        fail(w, "SQL error: TokenizerError(\"Expected close delimiter '%c' before EOF.\")", c);
                    return -EINVAL;
                }
                if ((unsigned char)s[j] == c) {
                    if (j + 1 < len && (unsigned char)s[j + 1] == c) {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j++;
            }
            t->kind = c == '\'' ? TK_STRING : TK_QIDENT;
            t->len = (uint32_t)(j + 1 - i);
            i = j + 1;
        } else if (isdigit(c) || (c == '.' && i + 1 < len && isdigit((unsigned char)s[i + 1]))) {
            size_t j = i;
            while (j < len && isdigit((unsigned char)s[j])) j++;
            if (j < len && s[j] == '.') {
                j++;
                while (j < len && isdigit((unsigned char)s[j])) j++;
            }
            if (j < len && (s[j] == 'e' || s[j] == 'E')) {
                size_t k = j + 1;
                if (k < len && (s[k] == '+' || s[k] == '-')) k++;
                if (k < len && isdigit((unsigned char)s[k])) {
                    while (k < len && isdigit((unsigned char)s[k])) k++;
                    j = k;
                }
            }
            t->kind = TK_NUMBER;
            t->len = (uint32_t)(j - i);
            i = j;
        } else {
            static const char *two[] = {"==", "!=", "<>", "<=", ">=", "||", "::", "<<", ">>", "->"};
            t->kind = TK_OP;
            t->len = 1;
            if (c == '(') t->kind = TK_LP;
            else if (c == ')') t->kind = TK_RP;
            else if (c == ',') t->kind = TK_COMMA;
            else if (c == '.') t->kind = TK_DOT;
            else if (c == ';') t->kind = TK_SEMI;
            else if (c == '?' || c == '$') {
                fail(w, "SQL error: ParserError(\"query parameters are not supported\")");
                return -EINVAL;
            } else if (i + 1 < len) {
                for (size_t k = 0; k < STET_ARRAY_LEN(two); k++)
                    if (s[i] == two[k][0] && s[i + 1] == two[k][1]) t->len = 2;
            }
            i += t->len;
        }
        w->n++;
    }
    return 0;
}

static bool tok_is(const struct rw *w, size_t i, const char *word) {
    if (i >= w->n || w->t[i].kind != TK_IDENT) return false;
    size_t l = strlen(word);
    return w->t[i].len == l && strncasecmp(w->src + w->t[i].off, word, l) == 0;
}

static bool tok_op(const struct rw *w, size_t i, const char *op) {
    if (i >= w->n || w->t[i].kind != TK_OP) return false;
    size_t l = strlen(op);
    return w->t[i].len == l && memcmp(w->src + w->t[i].off, op, l) == 0;
}

static bool tok_kind(const struct rw *w, size_t i, enum tk k) { return i < w->n && w->t[i].kind == k; }

static const char *const reserved_words[] = {
    "AND", "OR", "NOT", "IS", "IN", "LIKE", "ILIKE", "GLOB", "REGEXP", "SIMILAR", "BETWEEN", "CASE", "WHEN", "THEN",
    "ELSE", "END", "NULL", "TRUE", "FALSE", "AS", "FROM", "WHERE", "SELECT", "DISTINCT", "ALL", "ON", "USING",
    "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL", "GROUP", "BY", "HAVING", "ORDER",
    "LIMIT", "OFFSET", "UNION", "INTERSECT", "EXCEPT", "ASC", "DESC", "NULLS", "EXISTS", "INTERVAL", "CAST",
    "WITH", "OVER", "PARTITION", "FILTER", "WINDOW", "ESCAPE", "COLLATE", "QUALIFY", "VALUES", "MATCH",
};

static bool tok_reserved(const struct rw *w, size_t i) {
    if (i >= w->n || w->t[i].kind != TK_IDENT) return false;
    for (size_t k = 0; k < STET_ARRAY_LEN(reserved_words); k++)
        if (tok_is(w, i, reserved_words[k])) return true;
    return false;
}

static bool tok_name(const struct rw *w, size_t i) {
    return i < w->n && (w->t[i].kind == TK_QIDENT || (w->t[i].kind == TK_IDENT && !tok_reserved(w, i)));
}

/* Normalized identifier text: unquoted lower-cased, quoted unescaped. Caller frees. */
static char *ident_norm(const struct rw *w, size_t i) {
    const struct tok *t = &w->t[i];
    const char *p = w->src + t->off;
    char *out = malloc(t->len + 1);
    STET_ASSERT(out != NULL);
    size_t o = 0;
    if (t->kind == TK_QIDENT) {
        char q = p[0];
        for (size_t k = 1; k + 1 < t->len; k++) {
            out[o++] = p[k];
            if (p[k] == q) k++; /* doubled quote */
        }
    } else {
        for (size_t k = 0; k < t->len; k++) out[o++] = (char)tolower((unsigned char)p[k]);
    }
    out[o] = 0;
    return out;
}

static bool ident_eq(const struct rw *w, size_t i, const char *name) {
    char *s = ident_norm(w, i);
    bool eq = strcmp(s, name) == 0;
    free(s);
    return eq;
}

/* String literal content (unescaped). Caller frees. */
static char *string_value(const struct rw *w, size_t i, size_t *len) {
    const struct tok *t = &w->t[i];
    const char *p = w->src + t->off;
    char *out = malloc(t->len);
    STET_ASSERT(out != NULL);
    size_t o = 0;
    for (size_t k = 1; k + 1 < t->len; k++) {
        out[o++] = p[k];
        if (p[k] == '\'') k++;
    }
    out[o] = 0;
    if (len) *len = o;
    return out;
}

static int link_tokens(struct rw *w) {
    w->match = malloc(w->n * sizeof(size_t) + 1);
    w->parent = malloc(w->n * sizeof(size_t) + 1);
    STET_ASSERT(w->match != NULL && w->parent != NULL);
    size_t *stack = malloc((w->n + 1) * sizeof(size_t));
    size_t *cases = malloc((w->n + 1) * sizeof(size_t));
    STET_ASSERT(stack != NULL && cases != NULL);
    size_t sp = 0, cp = 0;
    int rc = 0;
    for (size_t i = 0; i < w->n; i++) {
        w->match[i] = NONE;
        w->parent[i] = sp ? stack[sp - 1] : NONE;
        if (w->t[i].kind == TK_LP) {
            if (sp >= MAX_NESTING) {
                fail(w, "SQL error: ParserError(\"Expressions nested more than %d levels deep\")", MAX_NESTING);
                rc = -EINVAL;
                break;
            }
            stack[sp++] = i;
        } else if (w->t[i].kind == TK_RP) {
            if (sp == 0) {
                fail(w, "SQL error: ParserError(\"Expected: end of statement, found: )\")");
                rc = -EINVAL;
                break;
            }
            size_t o = stack[--sp];
            w->match[o] = i;
            w->match[i] = o;
            w->parent[i] = sp ? stack[sp - 1] : NONE;
        } else if (tok_is(w, i, "CASE")) {
            cases[cp++] = i;
        } else if (tok_is(w, i, "END") && cp > 0) {
            size_t o = cases[--cp];
            w->match[o] = i;
            w->match[i] = o;
        }
    }
    if (rc == 0 && sp != 0) {
        fail(w, "SQL error: ParserError(\"Expected: ), found: EOF\")");
        rc = -EINVAL;
    }
    free(stack);
    free(cases);
    return rc;
}

/* Skips a balanced group starting at i (parens or CASE..END); returns the index after it. */
static size_t skip_group(const struct rw *w, size_t i) {
    if ((w->t[i].kind == TK_LP || tok_is(w, i, "CASE")) && w->match[i] != NONE) return w->match[i] + 1;
    return i + 1;
}

/* ---- SQL types ---------------------------------------------------------------------------- */

/* Maps the words of a DataFusion SQL type (CAST, ::) to a column type; QT_UNKNOWN if not
 * supported. Parenthesized modifiers (VARCHAR(10), DECIMAL(10,2)) are ignored. */
static enum stet_qtype sql_type(const struct rw *w, size_t a, size_t b) {
    char words[128];
    size_t o = 0;
    for (size_t i = a; i <= b && i < w->n; i++) {
        if (w->t[i].kind == TK_LP) {
            i = w->match[i];
            continue;
        }
        if (w->t[i].kind != TK_IDENT) return QT_UNKNOWN;
        if (o + w->t[i].len + 2 >= sizeof(words)) return QT_UNKNOWN;
        if (o) words[o++] = ' ';
        for (size_t k = 0; k < w->t[i].len; k++) words[o++] = (char)toupper((unsigned char)w->src[w->t[i].off + k]);
    }
    words[o] = 0;
    static const struct {
        const char *words;
        enum stet_qtype t;
    } map[] = {
        {"STRING", QT_UTF8}, {"TEXT", QT_UTF8}, {"VARCHAR", QT_UTF8}, {"CHAR", QT_UTF8}, {"CHARACTER", QT_UTF8},
        {"CHARACTER VARYING", QT_UTF8}, {"CHAR VARYING", QT_UTF8}, {"NVARCHAR", QT_UTF8},
        {"INT", QT_INT32}, {"INTEGER", QT_INT32}, {"INT4", QT_INT32}, {"SMALLINT", QT_INT32}, {"TINYINT", QT_INT32},
        {"INT2", QT_INT32}, {"MEDIUMINT", QT_INT32},
        {"INT UNSIGNED", QT_UINT32}, {"INTEGER UNSIGNED", QT_UINT32}, {"INT4 UNSIGNED", QT_UINT32},
        {"SMALLINT UNSIGNED", QT_UINT32}, {"TINYINT UNSIGNED", QT_UINT32}, {"MEDIUMINT UNSIGNED", QT_UINT32},
        {"BIGINT", QT_INT64}, {"INT8", QT_INT64}, {"BIGINT UNSIGNED", QT_UINT64}, {"INT8 UNSIGNED", QT_UINT64},
        {"BOOLEAN", QT_BOOL}, {"BOOL", QT_BOOL},
        {"FLOAT", QT_FLOAT64}, {"REAL", QT_FLOAT64}, {"DOUBLE", QT_FLOAT64}, {"DOUBLE PRECISION", QT_FLOAT64},
        {"FLOAT4", QT_FLOAT64}, {"FLOAT8", QT_FLOAT64}, {"FLOAT64", QT_FLOAT64}, {"DECIMAL", QT_FLOAT64},
        {"NUMERIC", QT_FLOAT64},
        {"BYTEA", QT_BINARY}, {"BLOB", QT_BINARY}, {"BINARY", QT_BINARY}, {"VARBINARY", QT_BINARY},
        {"TIMESTAMP", QT_TS_NS}, {"DATETIME", QT_TS_NS}, {"TIMESTAMP WITHOUT TIME ZONE", QT_TS_NS},
        {"TIMESTAMPTZ", QT_TS_MS_UTC}, {"TIMESTAMP WITH TIME ZONE", QT_TS_MS_UTC},
    };
    for (size_t i = 0; i < STET_ARRAY_LEN(map); i++)
        if (strcmp(words, map[i].words) == 0) return map[i].t;
    return QT_UNKNOWN;
}

static void type_words_text(const struct rw *w, size_t a, size_t b, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (size_t i = a; i <= b && i < w->n && o + 2 < cap; i++) {
        if (o) out[o++] = ' ';
        size_t l = w->t[i].len;
        if (o + l + 1 >= cap) l = cap - o - 1;
        memcpy(out + o, w->src + w->t[i].off, l);
        o += l;
        out[o] = 0;
    }
}

/* ---- SELECT structure --------------------------------------------------------------------- */

static bool is_from_terminator(const struct rw *w, size_t i) {
    static const char *const words[] = {"WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION",
                                        "INTERSECT", "EXCEPT", "WINDOW", "QUALIFY"};
    for (size_t k = 0; k < STET_ARRAY_LEN(words); k++)
        if (tok_is(w, i, words[k])) return true;
    return false;
}

static bool is_join_word(const struct rw *w, size_t i) {
    static const char *const words[] = {"JOIN", "LEFT", "RIGHT", "FULL", "INNER", "CROSS", "NATURAL", "OUTER"};
    for (size_t k = 0; k < STET_ARRAY_LEN(words); k++)
        if (tok_is(w, i, words[k])) return true;
    return false;
}

static void selcore_free(struct selcore *sc) {
    for (size_t i = 0; i < sc->n_refs; i++) free(sc->refs[i].alias);
    free(sc->items);
    memset(sc, 0, sizeof(*sc));
}

static size_t parse_selcore_body(struct rw *w, size_t s, struct selcore *sc);

/* Parses the SELECT core starting at token s (which is SELECT): its items and FROM refs. */
static void parse_selcore(struct rw *w, size_t s, struct selcore *sc) {
    size_t end = parse_selcore_body(w, s, sc);
    w->budget -= (long)(end - s);
}

static size_t parse_selcore_body(struct rw *w, size_t s, struct selcore *sc) {
    memset(sc, 0, sizeof(*sc));
    sc->start = s;
    sc->items = calloc(MAX_ITEMS, sizeof(*sc->items));
    STET_ASSERT(sc->items != NULL);
    size_t i = s + 1;
    w->budget -= 64; /* plus the tokens it visits (parse_selcore) */
    if (tok_is(w, i, "DISTINCT") || tok_is(w, i, "ALL")) {
        i++;
        if (tok_is(w, i, "ON") && tok_kind(w, i + 1, TK_LP)) i = skip_group(w, i + 1);
    }
    /* items */
    while (i < w->n && sc->n_items < MAX_ITEMS) {
        size_t a = i;
        while (i < w->n && w->t[i].kind != TK_COMMA && w->t[i].kind != TK_RP && w->t[i].kind != TK_SEMI &&
               !tok_is(w, i, "FROM") && !is_from_terminator(w, i))
            i = skip_group(w, i);
        if (i == a) break;
        struct item *it = &sc->items[sc->n_items++];
        size_t e = i; /* exclusive */
        it->a = a;
        it->b = e - 1;
        it->alias_start = it->alias_tok = NONE;
        /* `x::double precision`, `x::int unsigned`: type words, not an alias */
        bool type_words = tok_op(w, e - 2, "::") || (e - a >= 3 && tok_op(w, e - 3, "::"));
        if (e - a >= 2 && tok_name(w, e - 1) && !tok_kind(w, e - 2, TK_DOT) && !type_words) {
            if (tok_is(w, e - 2, "AS")) {
                it->alias_tok = e - 1;
                it->alias_start = e - 2;
                it->b = e - 3;
            } else if (tok_name(w, e - 2) || tok_kind(w, e - 2, TK_STRING) || tok_kind(w, e - 2, TK_NUMBER) ||
                       tok_kind(w, e - 2, TK_HEX) ||
                       tok_kind(w, e - 2, TK_RP) || tok_is(w, e - 2, "END") || tok_is(w, e - 2, "NULL") ||
                       tok_is(w, e - 2, "TRUE") || tok_is(w, e - 2, "FALSE")) {
                it->alias_tok = it->alias_start = e - 1;
                it->b = e - 2;
            }
        }
        if (it->a == it->b && tok_op(w, it->a, "*")) it->star = true;
        if (it->b >= it->a + 2 && tok_op(w, it->b, "*") && tok_kind(w, it->b - 1, TK_DOT)) it->star = true;
        if (i < w->n && w->t[i].kind == TK_COMMA) {
            i++;
            continue;
        }
        break;
    }
    if (!tok_is(w, i, "FROM")) return i;
    i++;
    /* FROM refs */
    while (i < w->n && sc->n_refs < MAX_REFS) {
        struct fromref *r = &sc->refs[sc->n_refs];
        memset(r, 0, sizeof(*r));
        r->name_tok = r->sub_lp = NONE;
        if (w->t[i].kind == TK_LP) {
            r->sub_lp = i;
            i = skip_group(w, i);
        } else if (tok_kind(w, i, TK_IDENT) || tok_kind(w, i, TK_QIDENT)) {
            size_t first = i;
            r->name_tok = i;
            while (tok_kind(w, i + 1, TK_DOT) && (tok_kind(w, i + 2, TK_IDENT) || tok_kind(w, i + 2, TK_QIDENT))) {
                i += 2;
                r->name_tok = i;
            }
            r->info_schema = r->name_tok != first && ident_eq(w, r->name_tok - 2, "information_schema");
            i++;
            if (tok_kind(w, i, TK_LP)) i = skip_group(w, i); /* table function */
        } else {
            break;
        }
        r->end = i - 1;
        if (tok_is(w, i, "AS") && (tok_kind(w, i + 1, TK_IDENT) || tok_kind(w, i + 1, TK_QIDENT))) {
            r->alias = ident_norm(w, i + 1);
            r->end = i + 1;
            i += 2;
        } else if (tok_name(w, i) && !is_join_word(w, i)) {
            r->alias = ident_norm(w, i);
            r->end = i;
            i++;
        }
        if (tok_kind(w, i, TK_LP)) i = skip_group(w, i); /* alias column list */
        sc->n_refs++;
        if (tok_kind(w, i, TK_COMMA)) {
            i++;
            continue;
        }
        if (tok_is(w, i, "ON")) {
            i++;
            while (i < w->n && w->t[i].kind != TK_COMMA && w->t[i].kind != TK_RP && w->t[i].kind != TK_SEMI &&
                   !is_join_word(w, i) && !is_from_terminator(w, i))
                i = skip_group(w, i);
        } else if (tok_is(w, i, "USING") && tok_kind(w, i + 1, TK_LP)) {
            i = skip_group(w, i + 1);
        }
        if (tok_kind(w, i, TK_COMMA)) {
            i++;
            continue;
        }
        if (!is_join_word(w, i)) break;
        while (is_join_word(w, i) && !tok_is(w, i, "JOIN")) i++;
        if (!tok_is(w, i, "JOIN")) break;
        i++;
    }
    return i;
}

/* The first SELECT token of the query whose text starts at i (skipping a WITH clause and
 * parentheses), or NONE. */
static size_t query_select(const struct rw *w, size_t i) {
    while (tok_kind(w, i, TK_LP)) i++;
    if (tok_is(w, i, "WITH")) {
        i++;
        if (tok_is(w, i, "RECURSIVE")) i++;
        while (i < w->n) {
            i++; /* name */
            if (tok_kind(w, i, TK_LP)) i = skip_group(w, i);
            if (!tok_is(w, i, "AS")) return NONE;
            i++;
            if (tok_is(w, i, "MATERIALIZED")) i++;
            if (!tok_kind(w, i, TK_LP)) return NONE;
            i = skip_group(w, i);
            if (!tok_kind(w, i, TK_COMMA)) break;
            i++;
        }
    }
    return tok_is(w, i, "SELECT") ? i : NONE;
}

static void collect_ctes(struct rw *w) {
    size_t i = 0;
    if (!tok_is(w, i, "WITH")) return;
    i++;
    if (tok_is(w, i, "RECURSIVE")) i++;
    while (i < w->n && w->n_ctes < STET_ARRAY_LEN(w->ctes)) {
        size_t name = i++;
        if (tok_kind(w, i, TK_LP)) i = skip_group(w, i);
        if (!tok_is(w, i, "AS")) return;
        i++;
        if (tok_is(w, i, "MATERIALIZED")) i++;
        if (!tok_kind(w, i, TK_LP)) return;
        w->ctes[w->n_ctes].name_tok = name;
        w->ctes[w->n_ctes].lp = i;
        w->n_ctes++;
        i = skip_group(w, i);
        if (!tok_kind(w, i, TK_COMMA)) return;
        i++;
    }
}

/* ---- types of expressions ----------------------------------------------------------------- */

static enum stet_qtype expr_type(struct rw *w, const struct selcore *sc, size_t a, size_t b);

static char *item_name(struct rw *w, const struct selcore *sc, const struct item *it);

static bool derived_column(struct rw *w, size_t lp, const char *name, enum stet_qtype *type);

/* The qualifier DataFusion shows for a FROM ref: its alias, else its table name. Caller frees. */
static char *ref_display(const struct rw *w, const struct fromref *ref) {
    if (ref->alias) {
        char *s = strdup(ref->alias);
        STET_ASSERT(s != NULL);
        return s;
    }
    return ref->name_tok != NONE ? ident_norm(w, ref->name_tok) : NULL;
}

/* Looks column `name` up in one FROM ref: a catalog table, a CTE or a derived table. */
static bool ref_column(struct rw *w, const struct fromref *ref, const char *name, enum stet_qtype *type) {
    if (ref->sub_lp != NONE) return derived_column(w, ref->sub_lp, name, type);
    if (ref->name_tok == NONE) return false;
    char *tn = ident_norm(w, ref->name_tok);
    bool found = false;
    const struct stet_qtable_def *def = stet_query_catalog_find(tn, strlen(tn), ref->info_schema);
    if (def) {
        int c = stet_query_catalog_column(def, name, strlen(name));
        if (c >= 0) {
            *type = def->cols[c].type;
            found = true;
        }
    } else {
        for (size_t k = 0; k < w->n_ctes && !found; k++)
            if (ident_eq(w, w->ctes[k].name_tok, tn)) found = derived_column(w, w->ctes[k].lp, name, type);
    }
    free(tn);
    return found;
}

/* Type of output column `name` of the derived table / CTE body whose '(' is lp. */
static bool derived_column(struct rw *w, size_t lp, const char *name, enum stet_qtype *type) {
    size_t s = query_select(w, lp + 1);
    if (s == NONE || w->depth >= MAX_DEPTH || w->budget <= 0) return false;
    w->depth++;
    struct selcore sc;
    parse_selcore(w, s, &sc);
    bool found = false;
    for (size_t i = 0; i < sc.n_items && !found; i++) {
        const struct item *it = &sc.items[i];
        if (it->star) {
            /* `*` or `t.*`: the column comes from the inner FROM */
            char *q = it->b > it->a ? ident_norm(w, it->a) : NULL;
            for (size_t r = 0; r < sc.n_refs && !found; r++) {
                char *d = ref_display(w, &sc.refs[r]);
                bool match = q == NULL || (d != NULL && strcmp(q, d) == 0);
                free(d);
                if (match) found = ref_column(w, &sc.refs[r], name, type);
            }
            free(q);
            continue;
        }
        char *n = item_name(w, &sc, it);
        if (strcmp(n, name) == 0) {
            *type = expr_type(w, &sc, it->a, it->b);
            found = true;
        }
        free(n);
    }
    selcore_free(&sc);
    w->depth--;
    return found;
}

/* Resolves a column reference. qual may be NULL. On success *type and (if ref_name) the
 * qualifier DataFusion would display (alias or table name, malloc'd) are set. */
static bool resolve_column(struct rw *w, const struct selcore *sc, const char *qual, const char *name,
                           enum stet_qtype *type, char **ref_name) {
    if (sc == NULL) return false;
    for (size_t r = 0; r < sc->n_refs; r++) {
        const struct fromref *ref = &sc->refs[r];
        char *display = ref_display(w, ref);
        bool found = false;
        if (qual == NULL || (display != NULL && strcmp(qual, display) == 0)) found = ref_column(w, ref, name, type);
        if (found && ref_name) {
            *ref_name = display ? display : strdup("");
            STET_ASSERT(*ref_name != NULL);
            display = NULL;
        }
        free(display);
        if (found) return true;
    }
    return false;
}

/* If [a, b] is exactly a column reference ([[x.]y.]z), sets the qualifier (or NONE) and the
 * name token. */
static bool column_ref(const struct rw *w, size_t a, size_t b, size_t *qual, size_t *name) {
    if (a > b || b >= w->n) return false;
    if (!(tok_kind(w, b, TK_QIDENT) || (tok_kind(w, b, TK_IDENT) && !tok_reserved(w, b)))) return false;
    if (a == b) {
        if (tok_kind(w, b + 1, TK_LP)) return false; /* function call */
        *qual = NONE;
        *name = b;
        return true;
    }
    for (size_t i = a; i < b; i += 2) {
        if (!(tok_kind(w, i, TK_IDENT) || tok_kind(w, i, TK_QIDENT))) return false;
        if (!tok_kind(w, i + 1, TK_DOT)) return false;
    }
    if ((b - a) % 2 != 0) return false;
    *qual = b - 2;
    *name = b;
    return true;
}

static bool is_bool_operator(const struct rw *w, size_t i) {
    static const char *const ops[] = {"=", "==", "!=", "<>", "<", ">", "<=", ">="};
    static const char *const words[] = {"AND", "OR", "NOT", "IS", "IN", "LIKE", "ILIKE", "GLOB", "REGEXP",
                                        "BETWEEN", "EXISTS", "MATCH", "SIMILAR"};
    for (size_t k = 0; k < STET_ARRAY_LEN(ops); k++)
        if (tok_op(w, i, ops[k])) return true;
    for (size_t k = 0; k < STET_ARRAY_LEN(words); k++)
        if (tok_is(w, i, words[k])) return true;
    return false;
}

static bool is_arith(const struct rw *w, size_t i) {
    return tok_op(w, i, "+") || tok_op(w, i, "-") || tok_op(w, i, "*") || tok_op(w, i, "/") || tok_op(w, i, "%");
}

static enum stet_qtype combine_arith(enum stet_qtype x, enum stet_qtype y, bool minus) {
    if (x == QT_UNKNOWN || y == QT_UNKNOWN) return QT_UNKNOWN;
    if (stet_qtype_is_temporal(x) && stet_qtype_is_temporal(y)) return minus ? QT_DURATION_MS : QT_UNKNOWN;
    if (stet_qtype_is_temporal(x)) return x;
    if (stet_qtype_is_temporal(y)) return y;
    if (x == QT_DURATION_MS || y == QT_DURATION_MS) return QT_DURATION_MS;
    if (x == QT_FLOAT64 || y == QT_FLOAT64) return QT_FLOAT64;
    if (stet_qtype_is_int(x) && stet_qtype_is_int(y)) {
        if (stet_qtype_is_unsigned(x) && stet_qtype_is_unsigned(y)) return QT_UINT64;
        return QT_INT64;
    }
    return QT_UNKNOWN;
}

/* Type of the first argument of the call whose '(' is lp (up to a top-level ',' or ORDER). */
static enum stet_qtype first_arg_type(struct rw *w, const struct selcore *sc, size_t lp) {
    size_t rp = w->match[lp];
    size_t i = lp + 1;
    if (tok_is(w, i, "DISTINCT") || tok_is(w, i, "ALL")) i++;
    size_t a = i;
    while (i < rp && w->t[i].kind != TK_COMMA && !tok_is(w, i, "ORDER")) i = skip_group(w, i);
    if (i == a) return QT_UNKNOWN;
    return expr_type(w, sc, a, i - 1);
}

static enum stet_qtype function_type(struct rw *w, const struct selcore *sc, size_t f, size_t lp) {
    static const char *const same_as_arg[] = {"min", "max", "first_value", "last_value", "any_value", "abs",
                                              "floor", "ceil", "date_trunc", "nth_value", "lag", "lead", "nullif"};
    static const char *const first_known_arg[] = {"coalesce", "ifnull", "nvl"};
    static const char *const strings[] = {
        "lower", "upper", "concat", "concat_ws", "substr", "substring", "trim", "ltrim", "rtrim", "btrim",
        "replace", "string_agg", "group_concat", "split_part", "left", "right", "lpad", "rpad", "reverse",
        "to_hex", "md5", "sha256", "printf", "format", "initcap", "repeat", "translate", "chr", "hex",
        "json_extract", "typeof", "quote", "char"};
    static const char *const int64s[] = {"count", "length", "char_length", "character_length", "octet_length",
                                         "strpos", "instr", "ascii", "row_number", "rank", "dense_rank",
                                         "ntile", "unicode", "changes"};
    static const char *const floats[] = {"avg", "mean", "stddev", "stddev_pop", "stddev_samp", "variance",
                                         "var_pop", "var_samp", "sqrt", "ln", "log", "log10", "log2", "exp",
                                         "power", "pow", "round", "random", "date_part", "extract",
                                         "percent_rank", "cume_dist", "median"};
    char *name = ident_norm(w, f);
    enum stet_qtype t = QT_UNKNOWN;
    bool done = false;
    for (size_t k = 0; k < STET_ARRAY_LEN(same_as_arg) && !done; k++)
        if (strcmp(name, same_as_arg[k]) == 0) {
            t = first_arg_type(w, sc, lp);
            done = true;
        }
    for (size_t k = 0; k < STET_ARRAY_LEN(first_known_arg) && !done; k++) {
        if (strcmp(name, first_known_arg[k]) != 0) continue;
        done = true;
        size_t rp = w->match[lp], i = lp + 1;
        while (i < rp && (t == QT_UNKNOWN || t == QT_NULL)) {
            size_t arg = i;
            while (i < rp && w->t[i].kind != TK_COMMA) i = skip_group(w, i);
            if (i > arg) t = expr_type(w, sc, arg, i - 1);
            i++;
        }
    }
    for (size_t k = 0; k < STET_ARRAY_LEN(strings) && !done; k++)
        if (strcmp(name, strings[k]) == 0) {
            t = QT_UTF8;
            done = true;
        }
    for (size_t k = 0; k < STET_ARRAY_LEN(int64s) && !done; k++)
        if (strcmp(name, int64s[k]) == 0) {
            t = QT_INT64;
            done = true;
        }
    for (size_t k = 0; k < STET_ARRAY_LEN(floats) && !done; k++)
        if (strcmp(name, floats[k]) == 0) {
            t = QT_FLOAT64;
            done = true;
        }
    if (!done) {
        if (strcmp(name, "sum") == 0) {
            enum stet_qtype at = first_arg_type(w, sc, lp);
            t = stet_qtype_is_unsigned(at) ? QT_UINT64
                : stet_qtype_is_int(at)    ? QT_INT64
                : at == QT_FLOAT64         ? QT_FLOAT64
                : at == QT_DURATION_MS     ? QT_DURATION_MS
                                           : QT_UNKNOWN;
        } else if (strcmp(name, "now") == 0 || strcmp(name, "to_timestamp") == 0) {
            t = QT_TS_NS;
        } else if (strcmp(name, "to_timestamp_millis") == 0) {
            t = QT_TS_MS;
        } else if (strcmp(name, "arrow_cast") == 0) {
            size_t rp = w->match[lp];
            if (rp >= 2 && tok_kind(w, rp - 1, TK_STRING) && tok_kind(w, rp - 2, TK_COMMA)) {
                size_t len;
                char *s = string_value(w, rp - 1, &len);
                t = stet_qtype_parse_arrow(s, len);
                free(s);
            }
        }
    }
    free(name);
    return t;
}

/* Type of the CASE expression at c: the first THEN/ELSE branch with a known type. */
static enum stet_qtype case_type(struct rw *w, const struct selcore *sc, size_t c) {
    size_t end = w->match[c];
    if (end == NONE) return QT_UNKNOWN;
    size_t i = c + 1;
    while (i < end) {
        if (tok_is(w, i, "THEN") || tok_is(w, i, "ELSE")) {
            size_t a = ++i;
            while (i < end && !tok_is(w, i, "WHEN") && !tok_is(w, i, "ELSE")) i = skip_group(w, i);
            if (i > a) {
                enum stet_qtype t = expr_type(w, sc, a, i - 1);
                if (t != QT_UNKNOWN && t != QT_NULL) return t;
            }
            continue;
        }
        i = skip_group(w, i);
    }
    return QT_UNKNOWN;
}

static enum stet_qtype expr_type(struct rw *w, const struct selcore *sc, size_t a, size_t b) {
    if (a > b || b >= w->n) return QT_UNKNOWN;
    if (w->depth >= MAX_DEPTH || w->budget <= 0) return QT_UNKNOWN;
    w->budget--;
    /* (expr) and scalar subqueries */
    if (w->t[a].kind == TK_LP && w->match[a] == b) {
        size_t s = query_select(w, a + 1);
        if (s != NONE && s == a + 1) {
            w->depth++;
            struct selcore inner;
            parse_selcore(w, s, &inner);
            enum stet_qtype t = inner.n_items ? expr_type(w, &inner, inner.items[0].a, inner.items[0].b) : QT_UNKNOWN;
            selcore_free(&inner);
            w->depth--;
            return t;
        }
        return expr_type(w, sc, a + 1, b - 1);
    }
    /* top-level operators */
    bool arith = false, concat = false;
    for (size_t i = a; i <= b; i = skip_group(w, i)) {
        if (is_bool_operator(w, i)) return QT_BOOL;
        if (tok_op(w, i, "||")) concat = true;
        if (i > a && is_arith(w, i)) arith = true;
    }
    if (concat) return QT_UTF8;
    if (arith) {
        enum stet_qtype acc = QT_UNKNOWN;
        size_t start = a, i = a;
        bool first = true, minus = false;
        for (;;) {
            bool at_end = i > b;
            if (at_end || (i > start && is_arith(w, i))) {
                enum stet_qtype ty = expr_type(w, sc, start, i - 1);
                acc = first ? ty : combine_arith(acc, ty, minus);
                first = false;
                if (at_end) break;
                minus = tok_op(w, i, "-");
                start = ++i;
                continue;
            }
            i = skip_group(w, i);
        }
        return acc;
    }
    /* unary minus / plus */
    if ((tok_op(w, a, "-") || tok_op(w, a, "+")) && a < b) return expr_type(w, sc, a + 1, b);
    /* single primary */
    const struct tok *t = &w->t[a];
    if (a == b && t->kind == TK_NUMBER) {
        for (size_t k = 0; k < t->len; k++) {
            char c = w->src[t->off + k];
            if (c == '.' || c == 'e' || c == 'E') return QT_FLOAT64;
        }
        return QT_INT64;
    }
    if (a == b && t->kind == TK_STRING) return QT_UTF8;
    if (a == b && t->kind == TK_HEX) return QT_BINARY;
    if (a == b && (tok_is(w, a, "TRUE") || tok_is(w, a, "FALSE"))) return QT_BOOL;
    if (a == b && tok_is(w, a, "NULL")) return QT_NULL;
    if (a == b && tok_is(w, a, "current_timestamp")) return QT_TS_NS;
    if (tok_is(w, a, "INTERVAL")) return QT_DURATION_MS;
    if (tok_is(w, a, "CASE") && w->match[a] == b) return case_type(w, sc, a);
    if ((tok_is(w, a, "CAST") || tok_is(w, a, "TRY_CAST")) && tok_kind(w, a + 1, TK_LP) && w->match[a + 1] == b) {
        size_t as = NONE;
        for (size_t i = a + 2; i < b; i = skip_group(w, i))
            if (tok_is(w, i, "AS")) as = i;
        return as == NONE ? QT_UNKNOWN : sql_type(w, as + 1, b - 1);
    }
    /* x::type */
    for (size_t i = b; i > a; i--) {
        if (tok_op(w, i, "::") && w->parent[i] == w->parent[a]) return sql_type(w, i + 1, b);
    }
    if (tok_kind(w, a, TK_IDENT) && tok_kind(w, a + 1, TK_LP) && w->match[a + 1] != NONE) {
        size_t rp = w->match[a + 1];
        if (rp == b) return function_type(w, sc, a, a + 1);
        if (tok_is(w, rp + 1, "OVER")) return function_type(w, sc, a, a + 1); /* window call */
        if (tok_is(w, rp + 1, "FILTER")) return function_type(w, sc, a, a + 1);
        return QT_UNKNOWN;
    }
    size_t qual, name;
    if (column_ref(w, a, b, &qual, &name)) {
        char *q = qual != NONE ? ident_norm(w, qual) : NULL;
        char *n = ident_norm(w, name);
        enum stet_qtype ty = QT_UNKNOWN;
        resolve_column(w, sc, q, n, &ty, NULL);
        free(q);
        free(n);
        return ty;
    }
    return QT_UNKNOWN;
}

/* ---- output names ------------------------------------------------------------------------- */

static void name_range(struct rw *w, const struct selcore *sc, size_t a, size_t b, struct stet_buf *out);

static void name_token(struct rw *w, const struct selcore *sc, size_t i, struct stet_buf *out) {
    const struct tok *t = &w->t[i];
    if (t->kind == TK_NUMBER) {
        bool flt = false;
        for (size_t k = 0; k < t->len; k++) flt |= strchr(".eE", w->src[t->off + k]) != NULL;
        stet_buf_printf(out, "%s(%.*s)", flt ? "Float64" : "Int64", (int)t->len, w->src + t->off);
    } else if (t->kind == TK_STRING) {
        size_t len;
        char *s = string_value(w, i, &len);
        stet_buf_append_str(out, "Utf8(\"");
        stet_buf_append(out, s, len);
        stet_buf_append_str(out, "\")");
        free(s);
    } else if (tok_is(w, i, "TRUE") || tok_is(w, i, "FALSE")) {
        stet_buf_printf(out, "Boolean(%s)", tok_is(w, i, "TRUE") ? "true" : "false");
    } else if (t->kind == TK_IDENT && tok_reserved(w, i)) {
        for (size_t k = 0; k < t->len; k++)
            stet_buf_append_byte(out, (uint8_t)toupper((unsigned char)w->src[t->off + k]));
    } else if (t->kind == TK_IDENT || t->kind == TK_QIDENT) {
        char *n = ident_norm(w, i);
        /* an unqualified column: DataFusion shows it qualified by its relation */
        char *ref = NULL;
        enum stet_qtype ty;
        bool qualified = i > 0 && tok_kind(w, i - 1, TK_DOT);
        bool call = tok_kind(w, i + 1, TK_LP);
        if (!qualified && !call && !tok_kind(w, i + 1, TK_DOT) && resolve_column(w, sc, NULL, n, &ty, &ref) &&
            ref[0]) {
            stet_buf_append_str(out, ref);
            stet_buf_append_byte(out, '.');
        }
        free(ref);
        stet_buf_append_str(out, n);
        free(n);
    } else {
        stet_buf_append(out, w->src + t->off, t->len);
    }
}

static void name_range(struct rw *w, const struct selcore *sc, size_t a, size_t b, struct stet_buf *out) {
    for (size_t i = a; i <= b && i < w->n; i++) {
        const struct tok *t = &w->t[i];
        /* DataFusion names a cast after the expression it casts */
        if ((tok_is(w, i, "CAST") || tok_is(w, i, "TRY_CAST")) && tok_kind(w, i + 1, TK_LP) && w->match[i + 1] <= b) {
            size_t rp = w->match[i + 1], as = NONE;
            for (size_t k = i + 2; k < rp; k = skip_group(w, k))
                if (tok_is(w, k, "AS")) as = k;
            if (as != NONE && as > i + 2) {
                if (i > a && !(w->t[i - 1].kind == TK_LP || w->t[i - 1].kind == TK_DOT)) stet_buf_append_byte(out, ' ');
                name_range(w, sc, i + 2, as - 1, out);
                i = rp;
                continue;
            }
        }
        if (tok_op(w, i, "::")) {
            while (tok_kind(w, i + 1, TK_IDENT) && i + 1 <= b) i++;
            if (tok_kind(w, i + 1, TK_LP) && i + 1 <= b) i = w->match[i + 1];
            continue;
        }
        bool tight_before = t->kind == TK_RP || t->kind == TK_COMMA || t->kind == TK_DOT || t->kind == TK_LP;
        bool prev_tight = i > a && (w->t[i - 1].kind == TK_LP || w->t[i - 1].kind == TK_DOT);
        if (i > a && !tight_before && !prev_tight) stet_buf_append_byte(out, ' ');
        if (t->kind == TK_IDENT && tok_kind(w, i + 1, TK_LP) && !tok_reserved(w, i)) {
            /* function name: lower-case */
            for (size_t k = 0; k < t->len; k++)
                stet_buf_append_byte(out, (uint8_t)tolower((unsigned char)w->src[t->off + k]));
            continue;
        }
        if (t->kind == TK_COMMA || t->kind == TK_LP || t->kind == TK_RP || t->kind == TK_DOT) {
            stet_buf_append(out, w->src + t->off, t->len);
            continue;
        }
        name_token(w, sc, i, out);
    }
}

static char *item_name(struct rw *w, const struct selcore *sc, const struct item *it) {
    if (it->alias_tok != NONE) return ident_norm(w, it->alias_tok);
    size_t qual, name;
    if (column_ref(w, it->a, it->b, &qual, &name)) return ident_norm(w, name);
    struct stet_buf b = STET_BUF_INIT;
    name_range(w, sc, it->a, it->b, &b);
    stet_buf_append_byte(&b, 0);
    return (char *)b.data;
}

/* ---- emission ----------------------------------------------------------------------------- */

static void emit_range(struct rw *w, size_t a, size_t b, struct stet_buf *out);

static void emit_text(struct stet_buf *out, const char *s, size_t len) {
    if (out->len && out->data[out->len - 1] != ' ' && !(len && s[0] == ' ')) stet_buf_append_byte(out, ' ');
    stet_buf_append(out, s, len);
}

static void emit_str(struct stet_buf *out, const char *s) { emit_text(out, s, strlen(s)); }

static void emit_quoted_ident(struct stet_buf *out, const char *name) {
    emit_str(out, "\"");
    for (const char *p = name; *p; p++) {
        if (*p == '"') stet_buf_append_byte(out, '"');
        stet_buf_append_byte(out, (uint8_t)*p);
    }
    stet_buf_append_byte(out, '"');
}

/* A top-level ORDER BY inside FIRST_VALUE(...)'s parens; NONE if absent. */
static size_t call_order_by(const struct rw *w, size_t lp) {
    size_t rp = w->match[lp];
    for (size_t i = lp + 1; i < rp; i = skip_group(w, i))
        if (tok_is(w, i, "ORDER") && tok_is(w, i + 1, "BY")) return i;
    return NONE;
}

/* FIRST_VALUE/LAST_VALUE/first_value/last_value used as aggregates (no OVER). Returns the
 * last consumed token or NONE if the pattern does not apply. */
static size_t emit_first_value(struct rw *w, size_t i, struct stet_buf *out) {
    bool first = tok_is(w, i, "first_value");
    if (!first && !tok_is(w, i, "last_value")) return NONE;
    if (!tok_kind(w, i + 1, TK_LP)) return NONE;
    size_t lp = i + 1, rp = w->match[lp];
    if (tok_is(w, rp + 1, "OVER")) return NONE; /* a window function: SQLite has it */
    size_t ob = call_order_by(w, lp);
    if (ob == NONE) {
        emit_str(out, first ? "stet_first(" : "stet_last(");
        if (rp > lp + 1) emit_range(w, lp + 1, rp - 1, out);
        emit_str(out, ")");
        return rp;
    }
    /* first key only */
    size_t ka = ob + 2, kb = ka;
    while (kb < rp && w->t[kb].kind != TK_COMMA) kb = skip_group(w, kb);
    size_t ke = kb; /* exclusive end of the key expression */
    bool desc = false, nulls_first_set = false, nulls_first = false;
    while (ke > ka) {
        size_t l = ke - 1;
        if (tok_is(w, l, "ASC")) {
            ke = l;
        } else if (tok_is(w, l, "DESC")) {
            desc = true;
            ke = l;
        } else if ((tok_is(w, l, "FIRST") || tok_is(w, l, "LAST")) && l > ka && tok_is(w, l - 1, "NULLS")) {
            nulls_first_set = true;
            nulls_first = tok_is(w, l, "FIRST");
            ke = l - 1;
        } else {
            break;
        }
    }
    if (!nulls_first_set) nulls_first = desc; /* DataFusion: NULLS LAST ascending, FIRST descending */
    if (ke <= ka || ob <= lp + 1) {
        fail(w, "SQL error: ParserError(\"Expected: an expression, found: ORDER\")");
        return rp;
    }
    if (!first) {
        desc = !desc;
        nulls_first = !nulls_first;
    }
    emit_str(out, "stet_first_by(");
    emit_range(w, lp + 1, ob - 1, out);
    emit_str(out, ",");
    emit_range(w, ka, ke - 1, out);
    char tail[32];
    snprintf(tail, sizeof(tail), ", %d, %d)", desc ? 1 : 0, nulls_first ? 1 : 0);
    emit_str(out, tail);
    return rp;
}

static size_t emit_cast(struct rw *w, size_t i, struct stet_buf *out) {
    bool try_cast = tok_is(w, i, "TRY_CAST");
    if (!(try_cast || tok_is(w, i, "CAST")) || !tok_kind(w, i + 1, TK_LP)) return NONE;
    size_t lp = i + 1, rp = w->match[lp];
    size_t as = NONE;
    for (size_t k = lp + 1; k < rp; k = skip_group(w, k))
        if (tok_is(w, k, "AS")) as = k;
    if (as == NONE || as == lp + 1 || as + 1 >= rp) {
        fail(w, "SQL error: ParserError(\"Expected: AS, found: )\")");
        return rp;
    }
    enum stet_qtype t = sql_type(w, as + 1, rp - 1);
    if (t == QT_UNKNOWN) {
        char words[64];
        type_words_text(w, as + 1, rp - 1, words, sizeof(words));
        fail(w, "This feature is not implemented: Unsupported SQL type %s", words);
        return rp;
    }
    emit_str(out, STET_QUERY_CAST_FN "(");
    emit_range(w, lp + 1, as - 1, out);
    char tail[32];
    snprintf(tail, sizeof(tail), ", %d%s)", (int)t, try_cast ? ", 1" : "");
    emit_str(out, tail);
    return rp;
}

static size_t emit_arrow_cast(struct rw *w, size_t i, struct stet_buf *out) {
    if (!tok_is(w, i, "arrow_cast") || !tok_kind(w, i + 1, TK_LP)) return NONE;
    size_t lp = i + 1, rp = w->match[lp];
    if (!(rp >= lp + 4 && tok_kind(w, rp - 1, TK_STRING) && tok_kind(w, rp - 2, TK_COMMA))) {
        fail(w, "Error during planning: arrow_cast needs 2 arguments, an expression and a data type string");
        return rp;
    }
    size_t len;
    char *s = string_value(w, rp - 1, &len);
    enum stet_qtype t = stet_qtype_parse_arrow(s, len);
    if (t == QT_UNKNOWN) fail(w, "Error during planning: Unsupported type '%s'", s);
    free(s);
    if (t == QT_UNKNOWN) return rp;
    emit_str(out, STET_QUERY_CAST_FN "(");
    emit_range(w, lp + 1, rp - 3, out);
    char tail[32];
    snprintf(tail, sizeof(tail), ", %d)", (int)t);
    emit_str(out, tail);
    return rp;
}

static void emit_range(struct rw *w, size_t a, size_t b, struct stet_buf *out) {
    for (size_t i = a; i <= b && i < w->n && !w->failed;) {
        size_t last = NONE;
        if (w->repl_end[i] != NONE) {
            emit_str(out, w->repl[i]);
            last = w->repl_end[i];
        }
        if (last == NONE && w->n_casts[i]) {
            /* the outermost x::type whose text ends within [a, b] */
            const struct pcast *best = NULL;
            for (uint8_t k = 0; k < w->n_casts[i]; k++) {
                const struct pcast *c = &w->casts[i][k];
                if (c->end <= b && (best == NULL || c->op > best->op)) best = c;
            }
            if (best) {
                emit_str(out, STET_QUERY_CAST_FN "(");
                emit_range(w, i, best->op - 1, out);
                char tail[32];
                snprintf(tail, sizeof(tail), ", %d)", (int)best->type);
                emit_str(out, tail);
                last = best->end;
            }
        }
        if (last == NONE) last = emit_first_value(w, i, out);
        if (last == NONE) last = emit_cast(w, i, out);
        if (last == NONE) last = emit_arrow_cast(w, i, out);
        if (last == NONE) {
            const struct tok *t = &w->t[i];
            if (tok_is(w, i, "ILIKE")) emit_str(out, "MATCH");
            else emit_text(out, w->src + t->off, t->len);
            last = i;
        }
        if (w->ins[last].len) emit_text(out, (const char *)w->ins[last].data, w->ins[last].len);
        i = last + 1;
    }
}

/* ---- planning the edits ----------------------------------------------------------------- */

static void set_repl(struct rw *w, size_t a, size_t b, const char *text) {
    if (w->repl_end[a] != NONE) return;
    w->repl_end[a] = b;
    w->repl[a] = strdup(text);
    STET_ASSERT(w->repl[a] != NULL);
}

/* Start of the primary expression that ends at token k (for `x::type`). */
static size_t prim_start(const struct rw *w, size_t k) {
    if (w->t[k].kind == TK_RP && w->match[k] != NONE) {
        size_t lp = w->match[k];
        if (lp > 0 && tok_kind(w, lp - 1, TK_IDENT) && !tok_reserved(w, lp - 1)) return lp - 1;
        if (lp > 0 && (tok_is(w, lp - 1, "CAST") || tok_is(w, lp - 1, "EXISTS"))) return lp - 1;
        return lp;
    }
    if (tok_is(w, k, "END") && w->match[k] != NONE) return w->match[k];
    if (w->t[k].kind == TK_IDENT || w->t[k].kind == TK_QIDENT) {
        if (k >= 2 && tok_op(w, k - 1, "::")) return prim_start(w, k - 2); /* a::x::y */
        while (k >= 2 && tok_kind(w, k - 1, TK_DOT) && (tok_kind(w, k - 2, TK_IDENT) || tok_kind(w, k - 2, TK_QIDENT)))
            k -= 2;
    }
    return k;
}

static void plan_edits(struct rw *w) {
    for (size_t i = 0; i < w->n && !w->failed; i++) {
        const struct tok *t = &w->t[i];
        /* restate.public.x / public.x / restate.information_schema.x */
        if (tok_is(w, i, "restate") && tok_kind(w, i + 1, TK_DOT) && tok_kind(w, i + 3, TK_DOT) &&
            (tok_is(w, i + 2, "public") || tok_is(w, i + 2, "information_schema")) && !tok_kind(w, i - 1, TK_DOT)) {
            if (tok_is(w, i + 2, "public")) set_repl(w, i, i + 3, "");
            else set_repl(w, i, i + 1, "");
            continue;
        }
        if (tok_is(w, i, "public") && tok_kind(w, i + 1, TK_DOT) && (i == 0 || !tok_kind(w, i - 1, TK_DOT)) &&
            (tok_kind(w, i + 2, TK_IDENT) || tok_kind(w, i + 2, TK_QIDENT)) && !tok_kind(w, i + 3, TK_DOT)) {
            /* only in table position: public.<table> followed by something that is not '.' */
            set_repl(w, i, i + 1, "");
            continue;
        }
        if (t->kind == TK_IDENT && tok_is(w, i, "index")) {
            set_repl(w, i, i, "\"index\"");
            continue;
        }
        if (tok_is(w, i, "current_timestamp") && !tok_kind(w, i + 1, TK_LP)) {
            set_repl(w, i, i, "now()");
            continue;
        }
        if (tok_is(w, i, "INTERVAL") && tok_kind(w, i + 1, TK_STRING)) {
            size_t len;
            char *s = string_value(w, i + 1, &len);
            size_t end = i + 1;
            static const char *const units[] = {"MILLISECOND", "MILLISECONDS", "SECOND", "SECONDS", "MINUTE",
                                                "MINUTES", "HOUR", "HOURS", "DAY", "DAYS", "WEEK", "WEEKS"};
            for (size_t k = 0; k < STET_ARRAY_LEN(units); k++) {
                if (tok_is(w, i + 2, units[k])) {
                    char *both = malloc(len + 16);
                    STET_ASSERT(both != NULL);
                    snprintf(both, len + 16, "%s %s", s, units[k]);
                    for (char *p = both; *p; p++) *p = (char)tolower((unsigned char)*p);
                    free(s);
                    s = both;
                    len = strlen(s);
                    end = i + 2;
                    break;
                }
            }
            uint64_t ms;
            char err[128];
            if (stet_duration_parse(s, len, &ms, err, sizeof(err)) != 0) {
                fail(w, "SQL error: ParserError(\"Invalid interval '%s': %s\")", s, err);
            } else {
                char num[32];
                snprintf(num, sizeof(num), "%llu", (unsigned long long)ms);
                set_repl(w, i, end, num);
            }
            free(s);
            continue;
        }
        if (tok_op(w, i, "::") && i > 0 && i + 1 < w->n) {
            size_t tb = i + 1;
            while (tok_kind(w, tb + 1, TK_IDENT) &&
                   (tok_is(w, tb + 1, "UNSIGNED") || tok_is(w, tb + 1, "PRECISION") || tok_is(w, tb + 1, "VARYING")))
                tb++;
            if (tok_kind(w, tb + 1, TK_LP)) tb = w->match[tb + 1];
            enum stet_qtype ty = sql_type(w, i + 1, tb);
            if (ty == QT_UNKNOWN) {
                char words[64];
                type_words_text(w, i + 1, tb, words, sizeof(words));
                fail(w, "This feature is not implemented: Unsupported SQL type %s", words);
                continue;
            }
            size_t s = prim_start(w, i - 1);
            if (w->n_casts[s] < MAX_CASTS_AT) {
                struct pcast *c = &w->casts[s][w->n_casts[s]++];
                c->op = i;
                c->end = tb;
                c->type = ty;
            }
        }
    }
}

/* ORDER BY lists of queries and windows: make DataFusion's NULL placement explicit. */
static void plan_order_by(struct rw *w) {
    for (size_t i = 0; i + 1 < w->n; i++) {
        if (!tok_is(w, i, "ORDER") || !tok_is(w, i + 1, "BY")) continue;
        size_t p = w->parent[i];
        bool query_level = p == NONE || query_select(w, p + 1) != NONE ||
                           (p > 0 && (tok_is(w, p - 1, "OVER") || tok_is(w, p - 1, "AS")));
        if (!query_level) continue; /* FIRST_VALUE(x ORDER BY y) and friends */
        size_t k = i + 2;
        while (k < w->n) {
            size_t a = k;
            while (k < w->n && w->t[k].kind != TK_COMMA && w->t[k].kind != TK_RP && w->t[k].kind != TK_SEMI &&
                   !tok_is(w, k, "LIMIT") && !tok_is(w, k, "OFFSET") && !tok_is(w, k, "ROWS") &&
                   !tok_is(w, k, "RANGE") && !tok_is(w, k, "GROUPS") && !tok_is(w, k, "FETCH"))
                k = skip_group(w, k);
            if (k == a) break;
            bool has_nulls = false, desc = false;
            for (size_t x = a; x < k; x = skip_group(w, x)) {
                if (tok_is(w, x, "NULLS")) has_nulls = true;
                if (tok_is(w, x, "DESC")) desc = true;
            }
            if (!has_nulls) stet_buf_append_str(&w->ins[k - 1], desc ? " NULLS FIRST" : " NULLS LAST");
            if (!tok_kind(w, k, TK_COMMA)) break;
            k++;
        }
    }
}

/* Derived tables without an alias get the alias of their only inner table. */
static void plan_subquery_aliases(struct rw *w) {
    for (size_t i = 0; i < w->n; i++) {
        if (!tok_is(w, i, "SELECT")) continue;
        struct selcore sc;
        parse_selcore(w, i, &sc);
        for (size_t r = 0; r < sc.n_refs; r++) {
            const struct fromref *ref = &sc.refs[r];
            if (ref->sub_lp == NONE || ref->alias != NULL) continue;
            size_t s = query_select(w, ref->sub_lp + 1);
            if (s == NONE) continue;
            struct selcore inner;
            parse_selcore(w, s, &inner);
            if (inner.n_refs == 1) {
                const struct fromref *ir = &inner.refs[0];
                char *alias = ir->alias ? strdup(ir->alias) : ir->name_tok != NONE ? ident_norm(w, ir->name_tok) : NULL;
                if (alias) {
                    struct stet_buf txt = STET_BUF_INIT;
                    stet_buf_append_str(&txt, " AS");
                    emit_quoted_ident(&txt, alias);
                    stet_buf_append(&w->ins[ref->end], txt.data, txt.len);
                    stet_buf_free(&txt);
                    free(alias);
                }
            }
            selcore_free(&inner);
        }
        selcore_free(&sc);
    }
}

/* The statement's select items: names, types, aliases. */
static void plan_items(struct rw *w, struct stet_qrewrite *out) {
    size_t s = query_select(w, 0);
    if (s == NONE || w->parent[s] != NONE) return;
    struct selcore sc;
    parse_selcore(w, s, &sc);
    out->items = calloc(sc.n_items ? sc.n_items : 1, sizeof(*out->items));
    STET_ASSERT(out->items != NULL);
    out->n_items = sc.n_items;
    for (size_t k = 0; k < sc.n_items; k++) {
        const struct item *it = &sc.items[k];
        struct stet_qitem *qi = &out->items[k];
        if (it->star) {
            out->has_star = true;
            continue;
        }
        qi->name = item_name(w, &sc, it);
        qi->type = expr_type(w, &sc, it->a, it->b);
        qi->non_null = tok_is(w, it->a, "count") && tok_kind(w, it->a + 1, TK_LP) && w->match[it->a + 1] == it->b;
        struct stet_buf txt = STET_BUF_INIT;
        stet_buf_append_str(&txt, "AS");
        emit_quoted_ident(&txt, qi->name);
        stet_buf_append_byte(&txt, 0);
        if (it->alias_start != NONE) {
            set_repl(w, it->alias_start, it->alias_tok, (const char *)txt.data);
        } else {
            stet_buf_append_byte(&w->ins[it->b], ' ');
            stet_buf_append_str(&w->ins[it->b], (const char *)txt.data);
        }
        stet_buf_free(&txt);
    }
    selcore_free(&sc);
}

/* SHOW TABLES / DESCRIBE t: statements DataFusion answers from information_schema. */
static char *special_statement(const struct rw *w) {
    if (w->n == 2 && tok_is(w, 0, "SHOW") && tok_is(w, 1, "TABLES"))
        return strdup("SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables");
    if (w->n == 2 && (tok_is(w, 0, "DESCRIBE") || tok_is(w, 0, "DESC")) &&
        (tok_kind(w, 1, TK_IDENT) || tok_kind(w, 1, TK_QIDENT))) {
        char *name = ident_norm(w, 1);
        struct stet_buf b = STET_BUF_INIT;
        stet_buf_append_str(&b, "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                                "WHERE table_name = '");
        for (char *p = name; *p; p++) {
            if (*p == '\'') stet_buf_append_byte(&b, '\'');
            stet_buf_append_byte(&b, (uint8_t)*p);
        }
        stet_buf_append_str(&b, "'");
        stet_buf_append_byte(&b, 0);
        free(name);
        return (char *)b.data;
    }
    return NULL;
}

static void rw_free(struct rw *w) {
    if (w->repl) {
        for (size_t i = 0; i < w->n; i++) free(w->repl[i]);
    }
    if (w->ins) {
        for (size_t i = 0; i < w->n; i++) stet_buf_free(&w->ins[i]);
    }
    free(w->repl);
    free(w->ins);
    free(w->repl_end);
    free(w->casts);
    free(w->n_casts);
    free(w->match);
    free(w->parent);
    free(w->t);
}

static int rewrite_text(const char *sql, size_t len, struct stet_qrewrite *out, int level) {
    struct rw w;
    memset(&w, 0, sizeof(w));
    w.src = sql;
    w.message = out->message;
    w.message_len = sizeof(out->message);
    w.budget = ANALYSIS_BUDGET;
    int rc = tokenize(&w, sql, len);
    if (rc == 0) {
        /* trailing ';' are accepted, anything after a ';' is a second statement */
        while (w.n > 0 && w.t[w.n - 1].kind == TK_SEMI) w.n--;
        for (size_t i = 0; i < w.n; i++) {
            if (w.t[i].kind == TK_SEMI) {
                fail(&w, "This feature is not implemented: The context currently only supports a single SQL "
                         "statement");
                rc = -EINVAL;
                break;
            }
        }
        if (rc == 0 && w.n == 0) {
            fail(&w, "SQL error: ParserError(\"Expected: an SQL statement, found: EOF\")");
            rc = -EINVAL;
        }
    }
    if (rc == 0) rc = link_tokens(&w);
    if (rc == 0 && level == 0) {
        char *special = special_statement(&w);
        if (special) {
            rw_free(&w);
            rc = rewrite_text(special, strlen(special), out, level + 1);
            free(special);
            return rc;
        }
    }
    if (rc == 0) {
        w.ins = calloc(w.n, sizeof(*w.ins));
        w.repl_end = malloc(w.n * sizeof(size_t));
        w.repl = calloc(w.n, sizeof(char *));
        w.casts = calloc(w.n, sizeof(*w.casts));
        w.n_casts = calloc(w.n, 1);
        STET_ASSERT(w.ins && w.repl_end && w.repl && w.casts && w.n_casts);
        for (size_t i = 0; i < w.n; i++) w.repl_end[i] = NONE;
        collect_ctes(&w);
        plan_edits(&w);
        if (!w.failed) plan_items(&w, out);
        if (!w.failed) plan_order_by(&w);
        if (!w.failed) plan_subquery_aliases(&w);
        if (!w.failed) emit_range(&w, 0, w.n - 1, &out->sql);
        stet_buf_append_byte(&out->sql, 0);
        out->sql.len--;
        if (w.failed) rc = -EINVAL;
    }
    rw_free(&w);
    return rc;
}

int stet_query_rewrite(const char *sql, size_t len, struct stet_qrewrite *out) {
    memset(out, 0, sizeof(*out));
    stet_buf_init(&out->sql);
    int rc = rewrite_text(sql, len, out, 0);
    if (rc != 0) {
        for (size_t i = 0; i < out->n_items; i++) free(out->items[i].name);
        free(out->items);
        out->items = NULL;
        out->n_items = 0;
        stet_buf_reset(&out->sql);
    }
    return rc;
}

void stet_query_rewrite_free(struct stet_qrewrite *r) {
    for (size_t i = 0; i < r->n_items; i++) free(r->items[i].name);
    free(r->items);
    stet_buf_free(&r->sql);
    memset(r, 0, sizeof(*r));
}
