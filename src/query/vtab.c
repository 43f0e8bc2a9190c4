/* SQLite virtual tables over the partition store, the schema registry and the invoker.
 *
 * One module per table of the catalog (types.c). The public tables are eponymous-only
 * (`SELECT * FROM sys_invocation` needs no CREATE); information_schema.columns/tables live
 * in an attached in-memory database named information_schema so that the qualified names
 * DataFusion uses work unchanged.
 *
 * Rows come from the store layout of src/partition/tables.h; every partition's keys are in
 * the one store, so a table scan is one prefix scan of its tag:
 *
 *   sys_invocation_status / sys_invocation / sys_invocation_state   'S' pk uuid -> status
 *   sys_journal                                                      'J' pk uuid index -> entry
 *   state                                                            'T' pk svc key state_key
 *   sys_inbox                                                        'I' pk svc key seq -> id
 *   sys_keyed_service_status                                         'V' pk svc key -> id
 *   sys_promise                                                      'P' pk svc key name
 *
 * xBestIndex turns `id = ..` / `id IN (..)` (invocation tables, journal) into point reads or
 * per-invocation prefix scans, and `service_name = .. AND service_key = ..` into one prefix
 * scan (the partition key of a keyed service is xxHash64 of its key, ids.h). A lone
 * `service_name = ..` still scans the tag but skips other services before decoding. SQLite
 * re-checks every constraint (we never set omit), so a lookup only has to return a superset.
 *
 * sys_invocation is Restate's view (status LEFT JOIN in-flight state) computed per row:
 * the status row plus stet_invoker_task_info(), with the derived status
 *   inboxed->pending, scheduled, completed, suspended, paused, else running when the
 *   invoker has the attempt in flight, backing-off when retry_count > 0, else ready.
 * sys_invocation_state has a row for each invocation the invoker holds a task for.
 *
 * Columns are computed lazily in xColumn from the decoded row, so COUNT(*) never renders
 * entry_json. Iterator pointers are copied into the cursor (the store may move them).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "invoker/invoker.h"
#include "json/json.h"
#include "partition/tables.h"
#include "protocol/protocol.h"
#include "query/query_internal.h"
#include "schema/schema.h"
#include "store/store.h"

#ifndef STET_VERSION
#define STET_VERSION "1.7.12"
#endif

#define MOD "query"

/* ---- fields: every column name of the catalog ------------------------------------------- */

enum field {
    F_NULL = 0, /* always NULL (columns Restate has and we do not track) */
    F_PARTITION_KEY, F_ID, F_STATUS, F_COMPLETION_RESULT, F_COMPLETION_FAILURE, F_TARGET,
    F_TARGET_SERVICE_NAME, F_TARGET_SERVICE_KEY, F_TARGET_HANDLER_NAME, F_TARGET_SERVICE_TY,
    F_IDEMPOTENCY_KEY, F_INVOKED_BY, F_INVOKED_BY_ID, F_INVOKED_BY_SERVICE_NAME, F_INVOKED_BY_TARGET,
    F_PINNED_DEPLOYMENT_ID, F_PINNED_SERVICE_PROTOCOL_VERSION, F_JOURNAL_SIZE, F_JOURNAL_COMMANDS_SIZE,
    F_CREATED_AT, F_CREATED_USING_RESTATE_VERSION, F_MODIFIED_AT, F_INBOXED_AT, F_SCHEDULED_AT,
    F_SCHEDULED_START_AT, F_COMPLETED_AT, F_COMPLETION_RETENTION, F_JOURNAL_RETENTION,
    F_SUSPENDED_WAITING_FOR_COMPLETIONS, F_SUSPENDED_WAITING_FOR_SIGNALS,
    F_IN_FLIGHT, F_RETRY_COUNT, F_LAST_START_AT, F_LAST_ATTEMPT_DEPLOYMENT_ID, F_LAST_ATTEMPT_SERVER,
    F_NEXT_RETRY_AT, F_LAST_FAILURE,
    F_INDEX, F_ENTRY_TYPE, F_NAME, F_COMPLETED, F_INVOKED_ID, F_INVOKED_TARGET, F_SLEEP_WAKEUP_AT,
    F_PROMISE_NAME, F_RAW, F_RAW_LENGTH, F_VERSION, F_ENTRY_JSON, F_APPENDED_AT,
    F_SERVICE_NAME, F_SERVICE_KEY, F_KEY, F_KEY_LENGTH, F_VALUE_UTF8, F_VALUE, F_VALUE_LENGTH,
    F_SEQUENCE_NUMBER, F_INVOCATION_ID, F_COMPLETION_SUCCESS_VALUE, F_COMPLETION_SUCCESS_VALUE_UTF8,
    F_REVISION, F_PUBLIC, F_TY, F_DEPLOYMENT_ID, F_ENDPOINT, F_MIN_SPV, F_MAX_SPV, F_SERVICES,
    F_TABLE_CATALOG, F_TABLE_SCHEMA, F_TABLE_NAME, F_COLUMN_NAME, F_ORDINAL_POSITION, F_IS_NULLABLE,
    F_DATA_TYPE, F_TABLE_TYPE,
};

static const struct {
    const char *name;
    enum field f;
} field_names[] = {
    {"partition_key", F_PARTITION_KEY}, {"id", F_ID}, {"status", F_STATUS},
    {"completion_result", F_COMPLETION_RESULT}, {"completion_failure", F_COMPLETION_FAILURE},
    {"target", F_TARGET}, {"target_service_name", F_TARGET_SERVICE_NAME},
    {"target_service_key", F_TARGET_SERVICE_KEY}, {"target_handler_name", F_TARGET_HANDLER_NAME},
    {"target_service_ty", F_TARGET_SERVICE_TY}, {"idempotency_key", F_IDEMPOTENCY_KEY},
    {"invoked_by", F_INVOKED_BY}, {"invoked_by_id", F_INVOKED_BY_ID},
    {"invoked_by_service_name", F_INVOKED_BY_SERVICE_NAME}, {"invoked_by_target", F_INVOKED_BY_TARGET},
    {"pinned_deployment_id", F_PINNED_DEPLOYMENT_ID},
    {"pinned_service_protocol_version", F_PINNED_SERVICE_PROTOCOL_VERSION}, {"journal_size", F_JOURNAL_SIZE},
    {"journal_commands_size", F_JOURNAL_COMMANDS_SIZE}, {"created_at", F_CREATED_AT},
    {"created_using_restate_version", F_CREATED_USING_RESTATE_VERSION}, {"modified_at", F_MODIFIED_AT},
    {"inboxed_at", F_INBOXED_AT}, {"scheduled_at", F_SCHEDULED_AT}, {"scheduled_start_at", F_SCHEDULED_START_AT},
    {"completed_at", F_COMPLETED_AT}, {"completion_retention", F_COMPLETION_RETENTION},
    {"journal_retention", F_JOURNAL_RETENTION},
    {"suspended_waiting_for_completions", F_SUSPENDED_WAITING_FOR_COMPLETIONS},
    {"suspended_waiting_for_signals", F_SUSPENDED_WAITING_FOR_SIGNALS}, {"in_flight", F_IN_FLIGHT},
    {"retry_count", F_RETRY_COUNT}, {"last_start_at", F_LAST_START_AT},
    {"last_attempt_deployment_id", F_LAST_ATTEMPT_DEPLOYMENT_ID}, {"last_attempt_server", F_LAST_ATTEMPT_SERVER},
    {"next_retry_at", F_NEXT_RETRY_AT}, {"last_failure", F_LAST_FAILURE}, {"index", F_INDEX},
    {"entry_type", F_ENTRY_TYPE}, {"name", F_NAME}, {"completed", F_COMPLETED}, {"invoked_id", F_INVOKED_ID},
    {"invoked_target", F_INVOKED_TARGET}, {"sleep_wakeup_at", F_SLEEP_WAKEUP_AT},
    {"promise_name", F_PROMISE_NAME}, {"raw", F_RAW}, {"raw_length", F_RAW_LENGTH}, {"version", F_VERSION},
    {"entry_json", F_ENTRY_JSON}, {"appended_at", F_APPENDED_AT}, {"service_name", F_SERVICE_NAME},
    {"service_key", F_SERVICE_KEY}, {"key", F_KEY}, {"key_length", F_KEY_LENGTH}, {"value_utf8", F_VALUE_UTF8},
    {"value", F_VALUE}, {"value_length", F_VALUE_LENGTH}, {"sequence_number", F_SEQUENCE_NUMBER},
    {"invocation_id", F_INVOCATION_ID}, {"completion_success_value", F_COMPLETION_SUCCESS_VALUE},
    {"completion_success_value_utf8", F_COMPLETION_SUCCESS_VALUE_UTF8}, {"revision", F_REVISION},
    {"public", F_PUBLIC}, {"ty", F_TY}, {"deployment_id", F_DEPLOYMENT_ID}, {"endpoint", F_ENDPOINT},
    {"min_service_protocol_version", F_MIN_SPV}, {"max_service_protocol_version", F_MAX_SPV},
    {"services", F_SERVICES}, {"table_catalog", F_TABLE_CATALOG}, {"table_schema", F_TABLE_SCHEMA},
    {"table_name", F_TABLE_NAME}, {"column_name", F_COLUMN_NAME}, {"ordinal_position", F_ORDINAL_POSITION},
    {"is_nullable", F_IS_NULLABLE}, {"data_type", F_DATA_TYPE}, {"table_type", F_TABLE_TYPE},
};

static enum field field_of(const char *name) {
    for (size_t i = 0; i < STET_ARRAY_LEN(field_names); i++)
        if (strcmp(field_names[i].name, name) == 0) return field_names[i].f;
    return F_NULL;
}

/* ---- module objects ------------------------------------------------------------------------ */

struct qaux {
    struct stet_query *q;
    const struct stet_qtable_def *def;
};

struct qvtab {
    sqlite3_vtab base;
    struct stet_query *q;
    const struct stet_qtable_def *def;
    enum field fields[64];
    int id_col, svc_col, key_col; /* -1 when the table has no such column */
};

/* idxNum bits */
enum { IDX_ID = 1, IDX_ID_IN = 2, IDX_SVC = 4, IDX_KEY = 8 };

struct range {
    struct stet_buf lo, hi; /* hi empty: unbounded */
    bool point;             /* lo is one key to get */
};

struct qcur {
    sqlite3_vtab_cursor base;
    struct qvtab *vt;
    struct stet_store *store;
    bool eof;
    sqlite3_int64 rowid;
    /* store source */
    struct range *ranges;
    size_t n_ranges, cap_ranges, range_idx;
    struct stet_store_iter *it;
    bool it_started;
    struct stet_buf key, val;
    /* filters */
    struct stet_buf svc_filter;
    bool has_svc_filter;
    /* decoded row */
    struct stet_invocation_id id;
    struct stet_inv_status st;
    bool has_task;
    struct stet_invoker_task_info ti;
    uint32_t jindex;
    struct stet_journal_entry je;
    struct stet_slice svc, skey, rest; /* service-keyed tables */
    uint64_t pk;
    /* schema tables */
    size_t idx, sub;
    struct stet_buf scratch;
};

bool stet_query_task_info(struct stet_query *q, const struct stet_invocation_id *id,
                          struct stet_invoker_task_info *out) {
    memset(out, 0, sizeof(*out));
    if (q->src.task_info) return q->src.task_info(q->src.ctx, id, out);
    if (q->src.invoker) return stet_invoker_task_info(q->src.invoker, id, out);
    return false;
}

/* ---- connect / best index ----------------------------------------------------------------- */

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err) {
    (void)argc;
    (void)argv;
    const struct qaux *a = aux;
    struct stet_buf decl = STET_BUF_INIT;
    stet_buf_append_str(&decl, "CREATE TABLE x(");
    for (int i = 0; i < a->def->ncols; i++)
        stet_buf_printf(&decl, "%s\"%s\" %s", i ? ", " : "", a->def->cols[i].name,
                        stet_qtype_decl(a->def->cols[i].type));
    stet_buf_append_str(&decl, ")");
    stet_buf_append_byte(&decl, 0);
    int rc = sqlite3_declare_vtab(db, (const char *)decl.data);
    stet_buf_free(&decl);
    if (rc != SQLITE_OK) {
        *err = sqlite3_mprintf("cannot declare %s: %s", a->def->name, sqlite3_errmsg(db));
        return rc;
    }
    struct qvtab *vt = sqlite3_malloc(sizeof(*vt));
    if (vt == NULL) return SQLITE_NOMEM;
    memset(vt, 0, sizeof(*vt));
    vt->q = a->q;
    vt->def = a->def;
    STET_ASSERT(a->def->ncols <= (int)STET_ARRAY_LEN(vt->fields));
    vt->id_col = vt->svc_col = vt->key_col = -1;
    for (int i = 0; i < a->def->ncols; i++) {
        vt->fields[i] = field_of(a->def->cols[i].name);
        if (a->def->kind <= QTAB_JOURNAL && vt->fields[i] == F_ID) vt->id_col = i;
        if (a->def->kind >= QTAB_STATE && a->def->kind <= QTAB_PROMISE) {
            if (vt->fields[i] == F_SERVICE_NAME) vt->svc_col = i;
            if (vt->fields[i] == F_SERVICE_KEY) vt->key_col = i;
        }
    }
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &vt->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *base) {
    sqlite3_free(base);
    return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    struct qvtab *vt = (struct qvtab *)base;
    int id_c = -1, svc_c = -1, key_c = -1;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        if (c->iColumn == vt->id_col && id_c < 0) id_c = i;
        if (c->iColumn == vt->svc_col && svc_c < 0) svc_c = i;
        if (c->iColumn == vt->key_col && key_c < 0) key_c = i;
    }
    int idx = 0, argn = 0;
    double cost = 1e6;
    if (id_c >= 0) {
        idx |= IDX_ID;
        info->aConstraintUsage[id_c].argvIndex = ++argn;
        if (sqlite3_vtab_in(info, id_c, -1)) {
            sqlite3_vtab_in(info, id_c, 1);
            idx |= IDX_ID_IN;
        }
        cost = 10;
    }
    if (svc_c >= 0) {
        idx |= IDX_SVC;
        info->aConstraintUsage[svc_c].argvIndex = ++argn;
        cost = key_c >= 0 ? 20 : 1e5;
        if (key_c >= 0) {
            idx |= IDX_KEY;
            info->aConstraintUsage[key_c].argvIndex = ++argn;
        }
    }
    info->idxNum = idx;
    info->estimatedCost = cost;
    info->estimatedRows = cost < 100 ? 10 : 100000;
    return SQLITE_OK;
}

/* ---- cursor plumbing ---------------------------------------------------------------------- */

static int vt_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    struct qvtab *vt = (struct qvtab *)base;
    struct qcur *c = sqlite3_malloc(sizeof(*c));
    if (c == NULL) return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    c->vt = vt;
    c->store = vt->q->src.store;
    stet_inv_status_init(&c->st);
    *out = &c->base;
    return SQLITE_OK;
}

static void ranges_clear(struct qcur *c) {
    for (size_t i = 0; i < c->n_ranges; i++) {
        stet_buf_free(&c->ranges[i].lo);
        stet_buf_free(&c->ranges[i].hi);
    }
    c->n_ranges = c->range_idx = 0;
    if (c->it) stet_store_iter_destroy(c->store, c->it);
    c->it = NULL;
}

static int vt_close(sqlite3_vtab_cursor *base) {
    struct qcur *c = (struct qcur *)base;
    ranges_clear(c);
    free(c->ranges);
    stet_buf_free(&c->key);
    stet_buf_free(&c->val);
    stet_buf_free(&c->svc_filter);
    stet_buf_free(&c->scratch);
    stet_inv_status_free(&c->st);
    sqlite3_free(c);
    return SQLITE_OK;
}

static struct range *range_add(struct qcur *c) {
    if (c->n_ranges == c->cap_ranges) {
        c->cap_ranges = c->cap_ranges ? c->cap_ranges * 2 : 4;
        c->ranges = realloc(c->ranges, c->cap_ranges * sizeof(*c->ranges));
        STET_ASSERT(c->ranges != NULL);
    }
    struct range *r = &c->ranges[c->n_ranges++];
    stet_buf_init(&r->lo);
    stet_buf_init(&r->hi);
    r->point = false;
    return r;
}

static void range_prefix(struct qcur *c, const struct stet_buf *prefix) {
    struct range *r = range_add(c);
    stet_buf_append(&r->lo, prefix->data, prefix->len);
    stet_key_prefix_end(prefix, &r->hi);
}

static void range_tag(struct qcur *c, uint8_t tag) {
    struct stet_buf p = STET_BUF_INIT;
    stet_buf_append_byte(&p, tag);
    range_prefix(c, &p);
    stet_buf_free(&p);
}

/* Next store row of the planned ranges into c->key / c->val: 1 row, 0 end, <0 error. */
static int src_next(struct qcur *c) {
    for (;;) {
        if (c->it) {
            if (c->it_started) stet_store_iter_next(c->store, c->it);
            c->it_started = true;
            if (stet_store_iter_valid(c->store, c->it)) {
                size_t kl, vl;
                const uint8_t *k = stet_store_iter_key(c->store, c->it, &kl);
                const uint8_t *v = stet_store_iter_value(c->store, c->it, &vl);
                stet_buf_reset(&c->key);
                stet_buf_append(&c->key, k, kl);
                stet_buf_reset(&c->val);
                stet_buf_append(&c->val, v, vl);
                return 1;
            }
            int err = stet_store_iter_error(c->store, c->it);
            stet_store_iter_destroy(c->store, c->it);
            c->it = NULL;
            c->range_idx++;
            if (err) return err;
            continue;
        }
        if (c->range_idx >= c->n_ranges) return 0;
        struct range *r = &c->ranges[c->range_idx];
        if (r->point) {
            c->range_idx++;
            int rc = stet_store_get(c->store, r->lo.data, r->lo.len, &c->val);
            if (rc < 0) return rc;
            if (rc == 1) continue;
            stet_buf_reset(&c->key);
            stet_buf_append(&c->key, r->lo.data, r->lo.len);
            return 1;
        }
        c->it = stet_store_iter_create(c->store, r->lo.data, r->lo.len, r->hi.len ? r->hi.data : NULL, r->hi.len);
        if (c->it == NULL) return -EIO;
        c->it_started = false;
    }
}

/* ---- row decoding --------------------------------------------------------------------- */

/* Parses a service-keyed key: tag pk(8) u16 len svc u32 len key rest. */
static bool parse_service_key(struct qcur *c) {
    const uint8_t *k = c->key.data;
    size_t n = c->key.len;
    if (n < 1 + 8 + 2) return false;
    c->pk = stet_load_u64be(k + 1);
    size_t sl = stet_load_u16be(k + 9);
    if (n < 11 + sl + 4) return false;
    c->svc = stet_slice_make(k + 11, sl);
    size_t kl = stet_load_u32be(k + 11 + sl);
    size_t off = 15 + sl;
    if (n < off + kl) return false;
    c->skey = stet_slice_make(k + off, kl);
    c->rest = stet_slice_make(k + off + kl, n - off - kl);
    return true;
}

static int next_row(struct qcur *c) {
    const struct qvtab *vt = c->vt;
    struct stet_query *q = vt->q;
    switch (vt->def->kind) {
    case QTAB_INVOCATION_STATUS:
    case QTAB_INVOCATION_STATE:
    case QTAB_INVOCATION:
        for (;;) {
            int rc = src_next(c);
            if (rc <= 0) return rc;
            if (c->key.len != 25 || c->key.data[0] != 'S') continue;
            stet_invocation_id_from_bytes(c->key.data + 1, &c->id);
            if (stet_inv_status_decode(&c->st, c->val.data, c->val.len) != 0) {
                stet_warn(MOD, "skipping an undecodable invocation status row");
                continue;
            }
            /* a completed invocation has no attempt, even while the invoker still closes the
             * stream of the one that ended it (as Restate reports it: null attempt columns) */
            c->has_task = c->st.state != STET_INV_COMPLETED && stet_query_task_info(q, &c->id, &c->ti);
            if (vt->def->kind == QTAB_INVOCATION_STATE && !c->has_task) continue;
            return 1;
        }
    case QTAB_JOURNAL:
        for (;;) {
            int rc = src_next(c);
            if (rc <= 0) return rc;
            if (c->key.len != 29 || c->key.data[0] != 'J') continue;
            stet_invocation_id_from_bytes(c->key.data + 1, &c->id);
            c->jindex = stet_load_u32be(c->key.data + 25);
            if (stet_journal_entry_decode(c->val.data, c->val.len, &c->je) != 0) continue;
            return 1;
        }
    case QTAB_STATE:
    case QTAB_INBOX:
    case QTAB_KEYED_SERVICE_STATUS:
    case QTAB_PROMISE:
        for (;;) {
            int rc = src_next(c);
            if (rc <= 0) return rc;
            if (!parse_service_key(c)) continue;
            if (c->has_svc_filter &&
                (c->svc.len != c->svc_filter.len || memcmp(c->svc.ptr, c->svc_filter.data, c->svc.len) != 0))
                continue;
            if (vt->def->kind == QTAB_INBOX && (c->rest.len != 8 || c->val.len != 24)) continue;
            if (vt->def->kind == QTAB_KEYED_SERVICE_STATUS && (c->rest.len != 0 || c->val.len != 24)) continue;
            return 1;
        }
    case QTAB_SERVICE:
        c->idx = c->rowid == 0 ? 0 : c->idx + 1;
        return q->schema && c->idx < stet_schema_service_count(q->schema) ? 1 : 0;
    case QTAB_DEPLOYMENT:
        c->idx = c->rowid == 0 ? 0 : c->idx + 1;
        return q->schema && c->idx < q->schema->n ? 1 : 0;
    case QTAB_IS_TABLES:
        c->idx = c->rowid == 0 ? 0 : c->idx + 1;
        return c->idx < QTAB__COUNT ? 1 : 0;
    case QTAB_IS_COLUMNS: {
        size_t n;
        const struct stet_qtable_def *defs = stet_query_catalog(&n);
        if (c->rowid == 0) {
            c->idx = 0;
            c->sub = 0;
        } else {
            c->sub++;
        }
        while (c->idx < n && c->sub >= (size_t)defs[c->idx].ncols) {
            c->idx++;
            c->sub = 0;
        }
        return c->idx < n ? 1 : 0;
    }
    case QTAB__COUNT: break;
    }
    STET_UNREACHABLE();
    return 0;
}

static int advance(struct qcur *c) {
    int rc = next_row(c);
    if (rc < 0) {
        sqlite3_free(c->vt->base.zErrMsg);
        c->vt->base.zErrMsg = sqlite3_mprintf("reading the partition store failed (%s)", strerror(-rc));
        return SQLITE_IOERR;
    }
    c->eof = rc == 0;
    c->rowid++;
    return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *base) { return advance((struct qcur *)base); }

static int vt_eof(sqlite3_vtab_cursor *base) { return ((struct qcur *)base)->eof; }

static int vt_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((struct qcur *)base)->rowid;
    return SQLITE_OK;
}

/* The text a TEXT-affinity column would compare a constraint value as (numbers become their
 * decimal text); false for NULL and BLOB values, which match no row of a text column. */
static bool constraint_text(sqlite3_value *v, struct stet_slice *out) {
    int t = sqlite3_value_type(v);
    if (t == SQLITE_NULL || t == SQLITE_BLOB) return false;
    const unsigned char *p = sqlite3_value_text(v);
    if (p == NULL) return false;
    *out = stet_slice_make(p, (size_t)sqlite3_value_bytes(v));
    return true;
}

static void plan_id(struct qcur *c, sqlite3_value *v) {
    struct stet_slice s;
    struct stet_invocation_id id;
    if (!constraint_text(v, &s)) return;
    if (stet_invocation_id_parse((const char *)s.ptr, s.len, &id, NULL) != 0) return;
    struct stet_buf k = STET_BUF_INIT;
    if (c->vt->def->kind == QTAB_JOURNAL) {
        stet_key_journal_prefix(&k, &id);
        range_prefix(c, &k);
    } else {
        stet_key_status(&k, &id);
        struct range *r = range_add(c);
        stet_buf_append(&r->lo, k.data, k.len);
        r->point = true;
    }
    stet_buf_free(&k);
}

static uint8_t table_tag(enum stet_qtable_kind kind) {
    switch (kind) {
    case QTAB_INVOCATION_STATUS:
    case QTAB_INVOCATION_STATE:
    case QTAB_INVOCATION: return 'S';
    case QTAB_JOURNAL: return 'J';
    case QTAB_STATE: return 'T';
    case QTAB_INBOX: return 'I';
    case QTAB_KEYED_SERVICE_STATUS: return 'V';
    case QTAB_PROMISE: return 'P';
    default: return 0;
    }
}

static int vt_filter(sqlite3_vtab_cursor *base, int idx, const char *idx_str, int argc, sqlite3_value **argv) {
    (void)idx_str;
    struct qcur *c = (struct qcur *)base;
    const struct qvtab *vt = c->vt;
    ranges_clear(c);
    c->has_svc_filter = false;
    c->rowid = 0;
    c->eof = false;
    int argi = 0;
    uint8_t tag = table_tag(vt->def->kind);
    if (tag != 0) {
        if (idx & IDX_ID) {
            STET_ASSERT(argi < argc);
            sqlite3_value *v = argv[argi++];
            if (idx & IDX_ID_IN) {
                sqlite3_value *e = NULL;
                int rc;
                for (rc = sqlite3_vtab_in_first(v, &e); rc == SQLITE_OK && e; rc = sqlite3_vtab_in_next(v, &e))
                    plan_id(c, e);
                if (rc != SQLITE_OK && rc != SQLITE_DONE) return rc;
            } else {
                plan_id(c, v);
            }
        } else if ((idx & IDX_SVC) && (idx & IDX_KEY)) {
            STET_ASSERT(argi + 1 < argc);
            sqlite3_value *sv = argv[argi++], *kv = argv[argi++];
            struct stet_slice svc, key;
            if (constraint_text(sv, &svc) && constraint_text(kv, &key)) {
                if (svc.len <= UINT16_MAX) {
                    struct stet_buf p = STET_BUF_INIT;
                    uint64_t pk = stet_partition_key_for_key(key.ptr, key.len);
                    stet_key_state_prefix(&p, pk, svc, key); /* 'T' layout; the tag is patched below */
                    p.data[0] = tag;
                    range_prefix(c, &p);
                    stet_buf_free(&p);
                }
            }
        } else {
            if (idx & IDX_SVC) {
                STET_ASSERT(argi < argc);
                sqlite3_value *sv = argv[argi++];
                struct stet_slice svc;
                if (!constraint_text(sv, &svc)) {
                    c->eof = true;
                    return SQLITE_OK;
                }
                stet_buf_reset(&c->svc_filter);
                stet_buf_append(&c->svc_filter, svc.ptr, svc.len);
                c->has_svc_filter = true;
            }
            range_tag(c, tag);
        }
    }
    return advance(c);
}

/* ---- column helpers ------------------------------------------------------------------------ */

static void result_slice(sqlite3_context *ctx, struct stet_slice s) {
    sqlite3_result_text(ctx, s.len ? (const char *)s.ptr : "", (int)s.len, SQLITE_TRANSIENT);
}

static void result_str(sqlite3_context *ctx, const char *s) { sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT); }

static void result_blob(sqlite3_context *ctx, struct stet_slice s) {
    sqlite3_result_blob(ctx, s.len ? (const void *)s.ptr : "", (int)s.len, SQLITE_TRANSIENT);
}

/* Strings are UTF-8 columns: like Restate (str::from_utf8) invalid bytes give NULL. */
static void result_utf8_or_null(sqlite3_context *ctx, struct stet_slice s) {
    if (s.len == 0 || stet_utf8_valid(s.ptr, s.len)) result_slice(ctx, s);
    else sqlite3_result_null(ctx);
}

static void result_ts(sqlite3_context *ctx, uint64_t ms) {
    if (ms == 0) sqlite3_result_null(ctx);
    else sqlite3_result_int64(ctx, (sqlite3_int64)ms);
}

static void result_id(sqlite3_context *ctx, const struct stet_invocation_id *id) {
    char s[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(id, s);
    result_str(ctx, s);
}

static void result_dp(sqlite3_context *ctx, const uint8_t id[16]) {
    char s[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, s);
    result_str(ctx, s);
}

/* "[code] message" of an encoded protocol Failure (Restate's InvocationError display). */
static void result_failure(sqlite3_context *ctx, struct stet_slice raw, uint32_t code_hint) {
    struct stet_pb_reader r;
    stet_pb_reader_init(&r, raw.ptr, raw.len);
    struct stet_pb_field f;
    uint32_t code = code_hint;
    struct stet_slice msg = {NULL, 0};
    while (stet_pb_next(&r, &f) == 1) {
        if (f.number == 1 && f.wire_type == STET_PB_VARINT) code = (uint32_t)f.varint;
        if (f.number == 2 && f.wire_type == STET_PB_LEN) msg = stet_slice_make(f.data, f.len);
    }
    char *s = sqlite3_mprintf("[%u] %.*s", code, (int)msg.len, msg.len ? (const char *)msg.ptr : "");
    if (s == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text(ctx, s, -1, sqlite3_free);
}

static void result_uint_list(sqlite3_context *ctx, const uint32_t *v, size_t n) {
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_byte(&b, '[');
    for (size_t i = 0; i < n; i++) stet_buf_printf(&b, "%s%u", i ? "," : "", v[i]);
    stet_buf_append_byte(&b, ']');
    sqlite3_result_text(ctx, (const char *)b.data, (int)b.len, SQLITE_TRANSIENT);
    stet_buf_free(&b);
}

static const char *service_ty_name(uint8_t t) {
    switch (t) {
    case STET_SERVICE: return "service";
    case STET_VIRTUAL_OBJECT: return "virtual_object";
    case STET_WORKFLOW: return "workflow";
    }
    return "service";
}

static void result_target(sqlite3_context *ctx, const struct stet_inv_status *st) {
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append(&b, st->service.ptr, st->service.len);
    stet_buf_append_byte(&b, '/');
    if (st->keyed) {
        stet_buf_append(&b, st->key.ptr, st->key.len);
        stet_buf_append_byte(&b, '/');
    }
    stet_buf_append(&b, st->handler.ptr, st->handler.len);
    sqlite3_result_text(ctx, b.len ? (const char *)b.data : "", (int)b.len, SQLITE_TRANSIENT);
    stet_buf_free(&b);
}

/* The first waiting caller that is an invocation (Restate's Source::Service). */
static const struct stet_inv_sink *caller_sink(const struct stet_inv_status *st) {
    for (uint32_t i = 0; i < st->n_sinks; i++)
        if (st->sinks[i].kind == STET_SINK_INVOCATION) return &st->sinks[i];
    return NULL;
}

static const char *derived_status(const struct qcur *c) {
    switch (c->st.state) {
    case STET_INV_INBOXED: return "pending";
    case STET_INV_SCHEDULED: return "scheduled";
    case STET_INV_COMPLETED: return "completed";
    case STET_INV_SUSPENDED: return "suspended";
    case STET_INV_PAUSED: return "paused";
    case STET_INV_INVOKED: break;
    }
    if (c->has_task && c->ti.running) return "running";
    if (c->has_task && c->ti.retry_count > 0) return "backing-off";
    return "ready";
}

static const struct stet_deployment_schema *pinned_deployment(const struct qcur *c) {
    const struct stet_schema *s = c->vt->q->schema;
    if (s == NULL || !c->st.has_pinned) return NULL;
    return stet_schema_find_deployment(s, c->st.deployment_id);
}

static void col_invocation(struct qcur *c, sqlite3_context *ctx, enum field f) {
    const struct stet_inv_status *st = &c->st;
    bool view = c->vt->def->kind == QTAB_INVOCATION;
    switch (f) {
    case F_PARTITION_KEY: sqlite3_result_int64(ctx, (sqlite3_int64)c->id.partition_key); return;
    case F_ID: result_id(ctx, &c->id); return;
    case F_STATUS: result_str(ctx, view ? derived_status(c) : stet_inv_state_name(st->state)); return;
    case F_COMPLETION_RESULT:
        if (st->state == STET_INV_COMPLETED) result_str(ctx, st->result_kind == 2 ? "failure" : "success");
        return;
    case F_COMPLETION_FAILURE:
        if (st->state == STET_INV_COMPLETED && st->result_kind == 2)
            result_failure(ctx, st->failure_raw, st->failure_code);
        return;
    case F_TARGET: result_target(ctx, st); return;
    case F_TARGET_SERVICE_NAME: result_slice(ctx, st->service); return;
    case F_TARGET_SERVICE_KEY:
        if (st->keyed) result_slice(ctx, st->key);
        return;
    case F_TARGET_HANDLER_NAME: result_slice(ctx, st->handler); return;
    case F_TARGET_SERVICE_TY: result_str(ctx, service_ty_name(st->service_type)); return;
    case F_IDEMPOTENCY_KEY:
        if (st->has_idempotency_key) result_slice(ctx, st->idempotency_key);
        return;
    case F_INVOKED_BY: result_str(ctx, caller_sink(st) ? "service" : "ingress"); return;
    case F_INVOKED_BY_ID: {
        const struct stet_inv_sink *k = caller_sink(st);
        if (k) result_id(ctx, &k->caller);
        return;
    }
    case F_INVOKED_BY_SERVICE_NAME:
    case F_INVOKED_BY_TARGET: {
        const struct stet_inv_sink *k = caller_sink(st);
        if (k == NULL) return;
        struct stet_inv_status cs;
        stet_inv_status_init(&cs);
        if (stet_table_status_get(c->store, &k->caller, &cs) == 0) {
            if (f == F_INVOKED_BY_SERVICE_NAME) result_slice(ctx, cs.service);
            else result_target(ctx, &cs);
        }
        stet_inv_status_free(&cs);
        return;
    }
    case F_PINNED_DEPLOYMENT_ID:
        if (st->has_pinned) result_dp(ctx, st->deployment_id);
        return;
    case F_PINNED_SERVICE_PROTOCOL_VERSION:
        if (st->has_pinned && st->protocol_version) sqlite3_result_int64(ctx, st->protocol_version);
        return;
    case F_JOURNAL_SIZE: sqlite3_result_int64(ctx, st->journal_len); return;
    case F_JOURNAL_COMMANDS_SIZE: sqlite3_result_int64(ctx, st->commands); return;
    case F_CREATED_AT: result_ts(ctx, st->created_at_ms); return;
    case F_CREATED_USING_RESTATE_VERSION: result_str(ctx, STET_VERSION); return;
    case F_MODIFIED_AT: result_ts(ctx, st->modified_at_ms ? st->modified_at_ms : st->created_at_ms); return;
    case F_INBOXED_AT:
        if (st->state == STET_INV_INBOXED) result_ts(ctx, st->created_at_ms);
        return;
    case F_SCHEDULED_AT:
        if (st->execute_at_ms) result_ts(ctx, st->created_at_ms);
        return;
    case F_SCHEDULED_START_AT: result_ts(ctx, st->execute_at_ms); return;
    case F_COMPLETED_AT:
        if (st->state == STET_INV_COMPLETED) result_ts(ctx, st->completed_at_ms);
        return;
    case F_COMPLETION_RETENTION: sqlite3_result_int64(ctx, (sqlite3_int64)st->completion_retention_ms); return;
    case F_JOURNAL_RETENTION: sqlite3_result_int64(ctx, (sqlite3_int64)st->journal_retention_ms); return;
    case F_SUSPENDED_WAITING_FOR_COMPLETIONS:
    case F_SUSPENDED_WAITING_FOR_SIGNALS: {
        if (st->state != STET_INV_SUSPENDED || st->waiting.len == 0) return;
        struct stet_suspension s;
        memset(&s, 0, sizeof(s));
        if (stet_proto_decode_suspension(st->waiting.ptr, st->waiting.len, &s) != 0) return;
        if (f == F_SUSPENDED_WAITING_FOR_COMPLETIONS) result_uint_list(ctx, s.completions, s.n_completions);
        else result_uint_list(ctx, s.signals, s.n_signals);
        stet_proto_suspension_free(&s);
        return;
    }
    /* attempt columns (sys_invocation_state, and the view through its join) */
    case F_IN_FLIGHT:
        if (c->has_task) sqlite3_result_int(ctx, c->ti.running);
        return;
    case F_RETRY_COUNT:
        if (c->has_task) sqlite3_result_int64(ctx, c->ti.retry_count);
        return;
    case F_LAST_START_AT:
        if (c->has_task) result_ts(ctx, c->ti.last_start_at_ms);
        return;
    case F_NEXT_RETRY_AT:
        if (c->has_task) result_ts(ctx, c->ti.next_retry_at_ms);
        return;
    case F_LAST_FAILURE:
        if (c->has_task && c->ti.last_failure[0]) result_str(ctx, c->ti.last_failure);
        return;
    case F_LAST_ATTEMPT_DEPLOYMENT_ID:
        if (c->has_task && st->has_pinned) result_dp(ctx, st->deployment_id);
        return;
    case F_LAST_ATTEMPT_SERVER: {
        const struct stet_deployment_schema *d = c->has_task ? pinned_deployment(c) : NULL;
        if (d && d->sdk_version) result_str(ctx, d->sdk_version);
        return;
    }
    default: return; /* NULL */
    }
}

/* Looks up the journal index of the notification with completion id `idx`. */
static bool notification_index(struct qcur *c, uint32_t idx, uint32_t *jindex) {
    struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
    stet_key_notification(&k, &c->id, STET_NTF_KEY_COMPLETION, idx, NULL, 0);
    int rc = stet_store_get(c->store, k.data, k.len, &v);
    bool ok = rc == 0 && v.len == 4;
    if (ok) *jindex = stet_load_u32be(v.data);
    stet_buf_free(&k);
    stet_buf_free(&v);
    return ok;
}

static void col_journal(struct qcur *c, sqlite3_context *ctx, enum field f) {
    const struct stet_journal_entry *e = &c->je;
    bool command = stet_msg_kind(e->type) == STET_KIND_COMMAND;
    switch (f) {
    case F_PARTITION_KEY: sqlite3_result_int64(ctx, (sqlite3_int64)c->id.partition_key); return;
    case F_ID: result_id(ctx, &c->id); return;
    case F_INDEX: sqlite3_result_int64(ctx, c->jindex); return;
    case F_ENTRY_TYPE: result_str(ctx, stet_msg_entry_type(e->type)); return;
    case F_RAW: result_blob(ctx, e->payload); return;
    case F_RAW_LENGTH: sqlite3_result_int64(ctx, (sqlite3_int64)e->payload.len); return;
    case F_VERSION: sqlite3_result_int(ctx, 2); return;
    case F_APPENDED_AT: result_ts(ctx, e->appended_at_ms); return;
    case F_ENTRY_JSON: {
        stet_buf_reset(&c->scratch);
        stet_proto_entry_json(&c->scratch, e->type, e->payload.ptr, e->payload.len);
        result_slice(ctx, stet_slice_make(c->scratch.data, c->scratch.len));
        return;
    }
    default: break;
    }
    if (!command) {
        if (f == F_COMPLETED && stet_msg_kind(e->type) == STET_KIND_NOTIFICATION) sqlite3_result_int(ctx, 1);
        return;
    }
    struct stet_command cmd;
    if (stet_proto_decode_command(e->type, e->payload.ptr, e->payload.len, &cmd) != 0) return;
    switch (f) {
    case F_NAME: result_slice(ctx, cmd.name); break;
    case F_COMPLETED:
        if (cmd.has_result_completion_id) {
            uint32_t ji;
            sqlite3_result_int(ctx, notification_index(c, cmd.result_completion_id, &ji));
        }
        break;
    case F_SLEEP_WAKEUP_AT:
        if (e->type == STET_CMD_SLEEP) result_ts(ctx, cmd.wake_up_time_ms);
        break;
    case F_PROMISE_NAME:
        if (e->type == STET_CMD_GET_PROMISE || e->type == STET_CMD_PEEK_PROMISE || e->type == STET_CMD_COMPLETE_PROMISE)
            result_utf8_or_null(ctx, cmd.key);
        break;
    case F_INVOKED_TARGET:
        if (e->type == STET_CMD_CALL || e->type == STET_CMD_ONE_WAY_CALL) {
            struct stet_buf b = STET_BUF_INIT;
            stet_buf_append(&b, cmd.service_name.ptr, cmd.service_name.len);
            stet_buf_append_byte(&b, '/');
            if (cmd.has_key) {
                stet_buf_append(&b, cmd.key.ptr, cmd.key.len);
                stet_buf_append_byte(&b, '/');
            }
            stet_buf_append(&b, cmd.handler_name.ptr, cmd.handler_name.len);
            result_slice(ctx, stet_slice_make(b.data, b.len));
            stet_buf_free(&b);
        }
        break;
    case F_INVOKED_ID:
        if (e->type == STET_CMD_CALL || e->type == STET_CMD_ONE_WAY_CALL) {
            /* the CallInvocationId notification carries the callee's id */
            uint32_t ji;
            struct stet_buf k = STET_BUF_INIT, v = STET_BUF_INIT;
            if (notification_index(c, cmd.invocation_id_notification_idx, &ji)) {
                stet_key_journal(&k, &c->id, ji);
                struct stet_journal_entry ne;
                struct stet_ntf_id nid;
                struct stet_result res;
                if (stet_store_get(c->store, k.data, k.len, &v) == 0 &&
                    stet_journal_entry_decode(v.data, v.len, &ne) == 0 &&
                    stet_proto_decode_notification(ne.payload.ptr, ne.payload.len, &nid, &res) == 0 &&
                    res.kind == STET_RESULT_INVOCATION_ID)
                    result_slice(ctx, res.value);
            }
            stet_buf_free(&k);
            stet_buf_free(&v);
        }
        break;
    default: break;
    }
    stet_command_free(&cmd);
}

/* Durable promise value: {1 state (1 value, 2 failure), 2 value, 3 failure raw, 4 listeners}
 * (processor.c promise_encode). */
static void col_promise(struct qcur *c, sqlite3_context *ctx, enum field f) {
    struct stet_pb_reader r;
    stet_pb_reader_init(&r, c->val.data, c->val.len);
    struct stet_pb_field pf;
    uint64_t state = 0;
    struct stet_slice value = {NULL, 0}, failure = {NULL, 0};
    while (stet_pb_next(&r, &pf) == 1) {
        if (pf.number == 1 && pf.wire_type == STET_PB_VARINT) state = pf.varint;
        if (pf.number == 2 && pf.wire_type == STET_PB_LEN) value = stet_slice_make(pf.data, pf.len);
        if (pf.number == 3 && pf.wire_type == STET_PB_LEN) failure = stet_slice_make(pf.data, pf.len);
    }
    switch (f) {
    case F_KEY: result_utf8_or_null(ctx, c->rest); return;
    case F_COMPLETED: sqlite3_result_int(ctx, state != 0); return;
    case F_COMPLETION_SUCCESS_VALUE:
        if (state == 1) result_blob(ctx, value);
        return;
    case F_COMPLETION_SUCCESS_VALUE_UTF8:
        if (state == 1) result_utf8_or_null(ctx, value);
        return;
    case F_COMPLETION_FAILURE:
        if (state == 2) result_failure(ctx, failure, 0);
        return;
    default: return;
    }
}

static void col_service_keyed(struct qcur *c, sqlite3_context *ctx, enum field f) {
    switch (f) {
    case F_PARTITION_KEY: sqlite3_result_int64(ctx, (sqlite3_int64)c->pk); return;
    case F_SERVICE_NAME: result_slice(ctx, c->svc); return;
    case F_SERVICE_KEY: result_slice(ctx, c->skey); return;
    default: break;
    }
    switch (c->vt->def->kind) {
    case QTAB_STATE:
        switch (f) {
        case F_KEY: result_utf8_or_null(ctx, c->rest); return;
        case F_KEY_LENGTH: sqlite3_result_int64(ctx, (sqlite3_int64)c->rest.len); return;
        case F_VALUE: result_blob(ctx, stet_slice_make(c->val.data, c->val.len)); return;
        case F_VALUE_UTF8: result_utf8_or_null(ctx, stet_slice_make(c->val.data, c->val.len)); return;
        case F_VALUE_LENGTH: sqlite3_result_int64(ctx, (sqlite3_int64)c->val.len); return;
        default: return;
        }
    case QTAB_INBOX: {
        struct stet_invocation_id id;
        stet_invocation_id_from_bytes(c->val.data, &id);
        if (f == F_ID) result_id(ctx, &id);
        if (f == F_SEQUENCE_NUMBER) sqlite3_result_int64(ctx, (sqlite3_int64)stet_load_u64be(c->rest.ptr));
        if (f == F_CREATED_AT) {
            struct stet_inv_status st;
            stet_inv_status_init(&st);
            if (stet_table_status_get(c->store, &id, &st) == 0) result_ts(ctx, st.created_at_ms);
            stet_inv_status_free(&st);
        }
        return;
    }
    case QTAB_KEYED_SERVICE_STATUS:
        if (f == F_INVOCATION_ID) {
            struct stet_invocation_id id;
            stet_invocation_id_from_bytes(c->val.data, &id);
            result_id(ctx, &id);
        }
        return;
    case QTAB_PROMISE: col_promise(c, ctx, f); return;
    default: return;
    }
}

static void col_service(struct qcur *c, sqlite3_context *ctx, enum field f) {
    const struct stet_deployment_schema *dep = NULL;
    const struct stet_service_schema *svc = stet_schema_service_at(c->vt->q->schema, c->idx, &dep);
    switch (f) {
    case F_NAME: result_str(ctx, svc->name); return;
    case F_REVISION: sqlite3_result_int64(ctx, svc->revision); return;
    case F_PUBLIC: sqlite3_result_int(ctx, svc->is_public); return;
    case F_TY: result_str(ctx, service_ty_name((uint8_t)svc->ty)); return;
    case F_DEPLOYMENT_ID: result_dp(ctx, svc->deployment_id); return;
    default: return;
    }
}

static void col_deployment(struct qcur *c, sqlite3_context *ctx, enum field f) {
    const struct stet_deployment_schema *d = &c->vt->q->schema->deployments[c->idx];
    switch (f) {
    case F_ID: result_dp(ctx, d->id); return;
    case F_TY: result_str(ctx, "http"); return;
    case F_ENDPOINT: result_str(ctx, d->uri); return;
    case F_CREATED_AT: result_ts(ctx, d->created_at_ms); return;
    case F_MIN_SPV: sqlite3_result_int64(ctx, d->min_protocol); return;
    case F_MAX_SPV: sqlite3_result_int64(ctx, d->max_protocol); return;
    case F_SERVICES: {
        struct stet_buf b = STET_BUF_INIT;
        struct stet_json_writer w;
        stet_json_writer_init(&w, &b);
        stet_json_begin_array(&w);
        for (size_t i = 0; i < d->n_services; i++) stet_json_write_string(&w, d->services[i].name);
        stet_json_end_array(&w);
        sqlite3_result_text(ctx, (const char *)b.data, (int)b.len, SQLITE_TRANSIENT);
        stet_buf_free(&b);
        return;
    }
    default: return;
    }
}

static void col_information_schema(struct qcur *c, sqlite3_context *ctx, enum field f) {
    size_t n;
    const struct stet_qtable_def *defs = stet_query_catalog(&n);
    const struct stet_qtable_def *d = &defs[c->idx];
    switch (f) {
    case F_TABLE_CATALOG: result_str(ctx, "restate"); return;
    case F_TABLE_SCHEMA: result_str(ctx, d->schema); return;
    case F_TABLE_NAME: result_str(ctx, d->name); return;
    case F_TABLE_TYPE: result_str(ctx, d->is_view ? "VIEW" : "BASE TABLE"); return;
    case F_COLUMN_NAME: result_str(ctx, d->cols[c->sub].name); return;
    case F_ORDINAL_POSITION: sqlite3_result_int64(ctx, (sqlite3_int64)c->sub); return;
    case F_IS_NULLABLE: result_str(ctx, "YES"); return;
    case F_DATA_TYPE: result_str(ctx, stet_qtype_arrow_name(d->cols[c->sub].type)); return;
    default: return;
    }
}

static int vt_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int i) {
    struct qcur *c = (struct qcur *)base;
    const struct qvtab *vt = c->vt;
    STET_ASSERT(i >= 0 && i < vt->def->ncols);
    enum field f = vt->fields[i];
    switch (vt->def->kind) {
    case QTAB_INVOCATION_STATUS:
    case QTAB_INVOCATION_STATE:
    case QTAB_INVOCATION: col_invocation(c, ctx, f); break;
    case QTAB_JOURNAL: col_journal(c, ctx, f); break;
    case QTAB_STATE:
    case QTAB_INBOX:
    case QTAB_KEYED_SERVICE_STATUS:
    case QTAB_PROMISE: col_service_keyed(c, ctx, f); break;
    case QTAB_SERVICE: col_service(c, ctx, f); break;
    case QTAB_DEPLOYMENT: col_deployment(c, ctx, f); break;
    case QTAB_IS_COLUMNS:
    case QTAB_IS_TABLES: col_information_schema(c, ctx, f); break;
    case QTAB__COUNT: STET_UNREACHABLE();
    }
    return SQLITE_OK;
}

/* ---- registration ------------------------------------------------------------------------- */

static sqlite3_module eponymous_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous-only */
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

static sqlite3_module creatable_module = {
    .iVersion = 0,
    .xCreate = vt_connect,
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int stet_query_vtab_register(struct sqlite3 *db, struct stet_query *q) {
    size_t n;
    const struct stet_qtable_def *defs = stet_query_catalog(&n);
    int rc = sqlite3_exec(db, "ATTACH DATABASE ':memory:' AS information_schema", NULL, NULL, NULL);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        struct qaux *a = malloc(sizeof(*a));
        if (a == NULL) return SQLITE_NOMEM;
        a->q = q;
        a->def = &defs[i];
        bool info = strcmp(defs[i].schema, "information_schema") == 0;
        char modname[64];
        snprintf(modname, sizeof(modname), info ? "stet_is_%s" : "%s", defs[i].name);
        rc = sqlite3_create_module_v2(db, modname, info ? &creatable_module : &eponymous_module, a, free);
        if (rc == SQLITE_OK && info) {
            char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE information_schema.\"%w\" USING \"%w\"", defs[i].name,
                                        modname);
            rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
            sqlite3_free(sql);
        }
    }
    return rc;
}
