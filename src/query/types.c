/* Column types and the table catalog of the query module.
 *
 * The catalog lists every table with Restate's column names, order and Arrow types
 * (restate crates/storage-query-datafusion/src/<table>/schema.rs at v1.7.6; the
 * sys_invocation view as its CREATE VIEW in context.rs). Virtual tables are declared from
 * it (vtab.c), information_schema.columns is generated from it, and the rewriter resolves
 * column types with it.
 */
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "query/query_internal.h"

/* ---- types -------------------------------------------------------------------------------- */

static const struct {
    const char *decl;
    const char *arrow;
} type_names[QT__COUNT] = {
    [QT_UNKNOWN] = {"ANY", "Null"},
    [QT_NULL] = {"NULLTYPE", "Null"},
    [QT_BOOL] = {"BOOLEAN", "Boolean"},
    [QT_INT32] = {"INT32", "Int32"},
    [QT_INT64] = {"INT64", "Int64"},
    [QT_UINT32] = {"UINT32", "UInt32"},
    [QT_UINT64] = {"UINT64", "UInt64"},
    [QT_FLOAT64] = {"DOUBLE", "Float64"},
    [QT_UTF8] = {"TEXT", "Utf8"},
    [QT_LARGE_UTF8] = {"LARGETEXT", "LargeUtf8"},
    [QT_BINARY] = {"BLOB", "Binary"},
    [QT_LARGE_BINARY] = {"LARGEBLOB", "LargeBinary"},
    [QT_TS_MS_UTC] = {"TIMESTAMPTZ", "Timestamp(Millisecond, Some(\"+00:00\"))"},
    [QT_TS_MS] = {"TIMESTAMPMS", "Timestamp(Millisecond, None)"},
    [QT_TS_NS] = {"TIMESTAMPNS", "Timestamp(Nanosecond, None)"},
    [QT_DURATION_MS] = {"DURATION", "Duration(Millisecond)"},
    [QT_LIST_UINT32] = {"U32LISTTEXT",
                        "List(Field { name: \"item\", data_type: UInt32, nullable: true, dict_id: 0, "
                        "dict_is_ordered: false, metadata: {} })"},
    [QT_LIST_LARGE_UTF8] = {"LARGETEXTLIST",
                            "List(Field { name: \"item\", data_type: LargeUtf8, nullable: true, dict_id: 0, "
                            "dict_is_ordered: false, metadata: {} })"},
    [QT_LIST_UTF8] = {"TEXTLIST",
                      "List(Field { name: \"item\", data_type: Utf8, nullable: true, dict_id: 0, "
                      "dict_is_ordered: false, metadata: {} })"},
};

const char *stet_qtype_decl(enum stet_qtype t) {
    STET_ASSERT(t < QT__COUNT);
    return type_names[t].decl;
}

const char *stet_qtype_arrow_name(enum stet_qtype t) {
    STET_ASSERT(t < QT__COUNT);
    return type_names[t].arrow;
}

enum stet_qtype stet_qtype_from_decl(const char *decl) {
    if (decl == NULL) return QT_UNKNOWN;
    for (int t = QT_NULL; t < QT__COUNT; t++)
        if (strcasecmp(decl, type_names[t].decl) == 0) return (enum stet_qtype)t;
    return QT_UNKNOWN;
}

/* Case-insensitive match of s[0..len) with ws ignored against a pattern. */
static bool arrow_eq(const char *s, size_t len, const char *pattern) {
    size_t i = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p == ' ') continue;
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= len) return false;
        char a = s[i], b = *p;
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) return false;
        i++;
    }
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    return i == len;
}

enum stet_qtype stet_qtype_parse_arrow(const char *s, size_t len) {
    static const struct {
        const char *name;
        enum stet_qtype t;
    } names[] = {
        {"Null", QT_NULL},
        {"Boolean", QT_BOOL},
        {"Int32", QT_INT32},
        {"Int64", QT_INT64},
        {"UInt32", QT_UINT32},
        {"UInt64", QT_UINT64},
        {"Float64", QT_FLOAT64},
        {"Utf8", QT_UTF8},
        {"LargeUtf8", QT_LARGE_UTF8},
        {"Binary", QT_BINARY},
        {"LargeBinary", QT_LARGE_BINARY},
        {"Timestamp(Millisecond, Some(\"+00:00\"))", QT_TS_MS_UTC},
        {"Timestamp(Millisecond, Some(\"UTC\"))", QT_TS_MS_UTC},
        {"Timestamp(ms, \"+00:00\")", QT_TS_MS_UTC},
        {"Timestamp(Millisecond, None)", QT_TS_MS},
        {"Timestamp(ms)", QT_TS_MS},
        {"Timestamp(Nanosecond, None)", QT_TS_NS},
        {"Timestamp(ns)", QT_TS_NS},
        {"Duration(Millisecond)", QT_DURATION_MS},
        {"Duration(ms)", QT_DURATION_MS},
    };
    for (size_t i = 0; i < STET_ARRAY_LEN(names); i++)
        if (arrow_eq(s, len, names[i].name)) return names[i].t;
    return QT_UNKNOWN;
}

bool stet_qtype_is_int(enum stet_qtype t) {
    return t == QT_INT32 || t == QT_INT64 || t == QT_UINT32 || t == QT_UINT64;
}
bool stet_qtype_is_unsigned(enum stet_qtype t) { return t == QT_UINT32 || t == QT_UINT64; }
bool stet_qtype_is_temporal(enum stet_qtype t) { return t == QT_TS_MS_UTC || t == QT_TS_MS || t == QT_TS_NS; }
bool stet_qtype_is_string(enum stet_qtype t) { return t == QT_UTF8 || t == QT_LARGE_UTF8; }
bool stet_qtype_is_binary(enum stet_qtype t) { return t == QT_BINARY || t == QT_LARGE_BINARY; }
bool stet_qtype_is_list(enum stet_qtype t) {
    return t == QT_LIST_UINT32 || t == QT_LIST_LARGE_UTF8 || t == QT_LIST_UTF8;
}

/* ---- catalog ------------------------------------------------------------------------------ */

#define S QT_LARGE_UTF8
#define TS QT_TS_MS_UTC

static const struct stet_qcol cols_invocation_status[] = {
    {"partition_key", QT_UINT64},
    {"id", S},
    {"vqueue_id", S},
    {"status", S},
    {"completion_result", S},
    {"completion_failure", S},
    {"target", S},
    {"target_service_name", S},
    {"target_service_key", S},
    {"target_handler_name", S},
    {"target_service_ty", S},
    {"scope", S},
    {"limit_key", S},
    {"idempotency_key", S},
    {"invoked_by", S},
    {"invoked_by_id", S},
    {"invoked_by_subscription_id", S},
    {"invoked_by_service_name", S},
    {"invoked_by_target", S},
    {"restarted_from", S},
    {"pinned_deployment_id", S},
    {"pinned_service_protocol_version", QT_UINT32},
    {"trace_id", S},
    {"journal_size", QT_UINT32},
    {"journal_commands_size", QT_UINT32},
    {"created_at", TS},
    {"created_using_restate_version", S},
    {"modified_at", TS},
    {"inboxed_at", TS},
    {"scheduled_at", TS},
    {"scheduled_start_at", TS},
    {"running_at", TS},
    {"completed_at", TS},
    {"completion_retention", QT_DURATION_MS},
    {"journal_retention", QT_DURATION_MS},
    {"suspended_waiting_for_completions", QT_LIST_UINT32},
    {"suspended_waiting_for_signals", QT_LIST_UINT32},
    {"suspended_waiting_future_json", S},
};

static const struct stet_qcol cols_invocation_state[] = {
    {"partition_key", QT_UINT64},
    {"id", S},
    {"in_flight", QT_BOOL},
    {"retry_count", QT_UINT64},
    {"last_start_at", TS},
    {"last_attempt_deployment_id", S},
    {"last_attempt_server", S},
    {"next_retry_at", TS},
    {"last_failure", S},
    {"last_failure_error_code", S},
    {"last_failure_related_command_index", QT_UINT64},
    {"last_failure_related_command_name", S},
    {"last_failure_related_command_type", S},
    {"last_failure_related_entry_index", QT_UINT64},
    {"last_failure_related_entry_name", S},
    {"last_failure_related_entry_type", S},
    {"last_awaiting_on_future_json", S},
};

/* The view's column order (restate context.rs SYS_INVOCATION_VIEW). */
static const struct stet_qcol cols_invocation[] = {
    {"id", S},
    {"vqueue_id", S},
    {"target", S},
    {"target_service_name", S},
    {"target_service_key", S},
    {"target_handler_name", S},
    {"target_service_ty", S},
    {"scope", S},
    {"limit_key", S},
    {"idempotency_key", S},
    {"invoked_by", S},
    {"invoked_by_service_name", S},
    {"invoked_by_id", S},
    {"invoked_by_subscription_id", S},
    {"invoked_by_target", S},
    {"restarted_from", S},
    {"pinned_deployment_id", S},
    {"pinned_service_protocol_version", QT_UINT32},
    {"trace_id", S},
    {"journal_size", QT_UINT32},
    {"journal_commands_size", QT_UINT32},
    {"created_at", TS},
    {"created_using_restate_version", S},
    {"modified_at", TS},
    {"inboxed_at", TS},
    {"scheduled_at", TS},
    {"scheduled_start_at", TS},
    {"running_at", TS},
    {"completed_at", TS},
    {"completion_retention", QT_DURATION_MS},
    {"journal_retention", QT_DURATION_MS},
    {"suspended_waiting_for_completions", QT_LIST_UINT32},
    {"suspended_waiting_for_signals", QT_LIST_UINT32},
    {"suspended_waiting_future_json", S},
    {"retry_count", QT_UINT64},
    {"last_start_at", TS},
    {"next_retry_at", TS},
    {"last_attempt_deployment_id", S},
    {"last_attempt_server", S},
    {"last_failure", S},
    {"last_failure_error_code", S},
    {"last_failure_related_entry_index", QT_UINT64},
    {"last_failure_related_entry_name", S},
    {"last_failure_related_entry_type", S},
    {"last_failure_related_command_index", QT_UINT64},
    {"last_failure_related_command_name", S},
    {"last_failure_related_command_type", S},
    {"last_awaiting_on_future_json", S},
    {"status", S},
    {"completion_result", S},
    {"completion_failure", S},
};

static const struct stet_qcol cols_journal[] = {
    {"partition_key", QT_UINT64},
    {"id", S},
    {"index", QT_UINT32},
    {"entry_type", S},
    {"name", S},
    {"completed", QT_BOOL},
    {"invoked_id", S},
    {"invoked_target", S},
    {"sleep_wakeup_at", TS},
    {"promise_name", S},
    {"raw", QT_LARGE_BINARY},
    {"raw_length", QT_UINT64},
    {"version", QT_UINT32},
    {"entry_json", S},
    {"entry_lite_json", S},
    {"appended_at", TS},
};

static const struct stet_qcol cols_state[] = {
    {"partition_key", QT_UINT64},
    {"scope", S},
    {"service_name", S},
    {"service_key", S},
    {"key", S},
    {"key_length", QT_UINT64},
    {"value_utf8", S},
    {"value", QT_LARGE_BINARY},
    {"value_length", QT_UINT64},
};

static const struct stet_qcol cols_inbox[] = {
    {"partition_key", QT_UINT64},
    {"service_name", S},
    {"service_key", S},
    {"id", S},
    {"sequence_number", QT_UINT64},
    {"created_at", TS},
};

static const struct stet_qcol cols_keyed_service_status[] = {
    {"partition_key", QT_UINT64},
    {"service_name", S},
    {"service_key", S},
    {"invocation_id", S},
};

static const struct stet_qcol cols_promise[] = {
    {"partition_key", QT_UINT64},
    {"scope", S},
    {"service_name", S},
    {"service_key", S},
    {"key", S},
    {"completed", QT_BOOL},
    {"completion_success_value", QT_LARGE_BINARY},
    {"completion_success_value_utf8", S},
    {"completion_failure", S},
};

static const struct stet_qcol cols_service[] = {
    {"name", S},
    {"revision", QT_UINT64},
    {"public", QT_BOOL},
    {"ty", S},
    {"deployment_id", S},
};

static const struct stet_qcol cols_deployment[] = {
    {"id", S},
    {"ty", S},
    {"endpoint", S},
    {"created_at", TS},
    {"min_service_protocol_version", QT_UINT32},
    {"max_service_protocol_version", QT_UINT32},
    {"services", QT_LIST_LARGE_UTF8},
};

/* DataFusion's information_schema tables use Utf8 and UInt64. */
static const struct stet_qcol cols_is_columns[] = {
    {"table_catalog", QT_UTF8},
    {"table_schema", QT_UTF8},
    {"table_name", QT_UTF8},
    {"column_name", QT_UTF8},
    {"ordinal_position", QT_UINT64},
    {"column_default", QT_UTF8},
    {"is_nullable", QT_UTF8},
    {"data_type", QT_UTF8},
    {"character_maximum_length", QT_UINT64},
    {"character_octet_length", QT_UINT64},
    {"numeric_precision", QT_UINT64},
    {"numeric_precision_radix", QT_UINT64},
    {"numeric_scale", QT_UINT64},
    {"datetime_precision", QT_UINT64},
    {"interval_type", QT_UTF8},
};

static const struct stet_qcol cols_is_tables[] = {
    {"table_catalog", QT_UTF8},
    {"table_schema", QT_UTF8},
    {"table_name", QT_UTF8},
    {"table_type", QT_UTF8},
};

#undef S
#undef TS

#define TABLE(n, sch, k, view, c) [k] = {n, sch, k, view, c, (int)STET_ARRAY_LEN(c)}

static const struct stet_qtable_def catalog[QTAB__COUNT] = {
    TABLE("sys_invocation_status", "public", QTAB_INVOCATION_STATUS, false, cols_invocation_status),
    TABLE("sys_invocation_state", "public", QTAB_INVOCATION_STATE, false, cols_invocation_state),
    TABLE("sys_invocation", "public", QTAB_INVOCATION, true, cols_invocation),
    TABLE("sys_journal", "public", QTAB_JOURNAL, false, cols_journal),
    TABLE("state", "public", QTAB_STATE, false, cols_state),
    TABLE("sys_inbox", "public", QTAB_INBOX, false, cols_inbox),
    TABLE("sys_keyed_service_status", "public", QTAB_KEYED_SERVICE_STATUS, false, cols_keyed_service_status),
    TABLE("sys_promise", "public", QTAB_PROMISE, false, cols_promise),
    TABLE("sys_service", "public", QTAB_SERVICE, false, cols_service),
    TABLE("sys_deployment", "public", QTAB_DEPLOYMENT, false, cols_deployment),
    TABLE("columns", "information_schema", QTAB_IS_COLUMNS, false, cols_is_columns),
    TABLE("tables", "information_schema", QTAB_IS_TABLES, false, cols_is_tables),
};

const struct stet_qtable_def *stet_query_catalog(size_t *n) {
    *n = QTAB__COUNT;
    return catalog;
}

static bool name_eq(const char *a, const char *b, size_t blen) {
    return strlen(a) == blen && strncasecmp(a, b, blen) == 0;
}

const struct stet_qtable_def *stet_query_catalog_find(const char *name, size_t len, bool information_schema) {
    for (size_t i = 0; i < QTAB__COUNT; i++) {
        bool is = strcmp(catalog[i].schema, "information_schema") == 0;
        if (is == information_schema && name_eq(catalog[i].name, name, len)) return &catalog[i];
    }
    return NULL;
}

int stet_query_catalog_column(const struct stet_qtable_def *def, const char *name, size_t len) {
    for (int i = 0; i < def->ncols; i++)
        if (name_eq(def->cols[i].name, name, len)) return i;
    return -1;
}
