/* Arrow IPC stream writer: a small FlatBuffers builder and the Schema/RecordBatch messages.
 *
 * The `restate` CLI reads /query answers with arrow-rs' StreamReader, so any conformant
 * stream works. We nevertheless lay the bytes out exactly as arrow-rs' StreamWriter (what
 * restate-server uses) does, so that the capture in http-api.md §4.9 can be compared byte
 * for byte:
 *
 *   - stream = Schema message, one RecordBatch message, end-of-stream (FFFFFFFF 00000000);
 *   - message = FFFFFFFF, i32 metadata length, flatbuffer Message padded so that prefix +
 *     metadata is a multiple of 64, then the body;
 *   - body = every buffer padded to 64 bytes; a validity bitmap is written for every
 *     column (all 0xff bytes when the column has no nulls, as arrow-rs does); lists write
 *     parent validity, i32 offsets, then the child (validity, values).
 *
 * FlatBuffers are built back to front like the reference builders (flatbuffers-rs): the
 * buffer grows towards lower addresses, `used` counts bytes from the end, each table is
 * followed (in memory: preceded) by its vtable unless an identical vtable was already
 * written, scalars equal to their schema default are omitted. The order in which objects
 * are created below mirrors arrow-ipc's convert.rs/writer.rs; it decides the byte layout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "query/query_internal.h"

/* ---- FlatBuffers builder ------------------------------------------------------------------ */

#define FBB_MAX_FIELDS 16

struct fbb {
    uint8_t *buf;
    size_t cap;
    size_t head; /* live bytes are buf[head .. cap) */
    size_t min_align;
    uint32_t table_start;
    struct {
        uint16_t voff; /* 4 + 2 * slot */
        uint32_t off;  /* used() right after the field was pushed */
    } fields[FBB_MAX_FIELDS];
    int n_fields;
    uint32_t *vtables; /* used() positions of written vtables */
    size_t n_vtables, cap_vtables;
};

static void fbb_init(struct fbb *b) {
    memset(b, 0, sizeof(*b));
    b->cap = 256;
    b->buf = calloc(1, b->cap);
    STET_ASSERT(b->buf != NULL);
    b->head = b->cap;
    b->min_align = 1;
}

static void fbb_free(struct fbb *b) {
    free(b->buf);
    free(b->vtables);
}

static uint32_t fbb_used(const struct fbb *b) { return (uint32_t)(b->cap - b->head); }

/* Reserves n zeroed bytes in front of the live data. */
static void fbb_make_space(struct fbb *b, size_t n) {
    if (b->head < n) {
        size_t used = b->cap - b->head;
        size_t ncap = b->cap * 2;
        while (ncap - used < n) ncap *= 2;
        uint8_t *nb = calloc(1, ncap);
        STET_ASSERT(nb != NULL);
        memcpy(nb + ncap - used, b->buf + b->head, used);
        free(b->buf);
        b->buf = nb;
        b->cap = ncap;
        b->head = ncap - used;
    }
    b->head -= n;
    memset(b->buf + b->head, 0, n);
}

/* Pads so that after writing len more bytes the used size is a multiple of align. */
static void fbb_align(struct fbb *b, size_t len, size_t align) {
    if (align > b->min_align) b->min_align = align;
    size_t pad = (~((size_t)fbb_used(b) + len) + 1) & (align - 1);
    fbb_make_space(b, pad);
}

static uint32_t fbb_push_le(struct fbb *b, uint64_t v, size_t size) {
    fbb_align(b, size, size);
    fbb_make_space(b, size);
    for (size_t i = 0; i < size; i++) b->buf[b->head + i] = (uint8_t)(v >> (8 * i));
    return fbb_used(b);
}

/* A forward offset to the object at used-position target. */
static uint32_t fbb_push_offset(struct fbb *b, uint32_t target) {
    fbb_align(b, 4, 4);
    fbb_make_space(b, 4);
    uint32_t rel = fbb_used(b) - target;
    for (size_t i = 0; i < 4; i++) b->buf[b->head + i] = (uint8_t)(rel >> (8 * i));
    return fbb_used(b);
}

static uint32_t fbb_create_string(struct fbb *b, const char *s, size_t len) {
    fbb_align(b, len + 1, 4);
    fbb_push_le(b, 0, 1);
    fbb_make_space(b, len);
    if (len) memcpy(b->buf + b->head, s, len);
    return fbb_push_le(b, (uint32_t)len, 4);
}

/* Vector of offsets to objects (targets in element order). */
static uint32_t fbb_create_offset_vector(struct fbb *b, const uint32_t *targets, size_t n) {
    size_t size = n * 4;
    fbb_align(b, size, 4);
    fbb_make_space(b, size);
    uint32_t used = fbb_used(b);
    for (size_t i = 0; i < n; i++) {
        uint32_t written = used - (uint32_t)(4 * (i + 1));
        uint32_t rel = 4 + written - targets[i];
        for (size_t k = 0; k < 4; k++) b->buf[b->head + 4 * i + k] = (uint8_t)(rel >> (8 * k));
    }
    return fbb_push_le(b, (uint32_t)n, 4);
}

/* Vector of 16-byte structs of two little-endian i64 (FieldNode, Buffer). */
static uint32_t fbb_create_pair_vector(struct fbb *b, const int64_t (*pairs)[2], size_t n) {
    size_t size = n * 16;
    fbb_align(b, size, 8);
    fbb_make_space(b, size);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 2; j++)
            for (size_t k = 0; k < 8; k++)
                b->buf[b->head + 16 * i + 8 * j + k] = (uint8_t)((uint64_t)pairs[i][j] >> (8 * k));
    return fbb_push_le(b, (uint32_t)n, 4);
}

static void fbb_start_table(struct fbb *b) {
    b->n_fields = 0;
    b->table_start = fbb_used(b);
}

static void fbb_track(struct fbb *b, int slot, uint32_t off) {
    STET_ASSERT(b->n_fields < FBB_MAX_FIELDS);
    b->fields[b->n_fields].voff = (uint16_t)(4 + 2 * slot);
    b->fields[b->n_fields].off = off;
    b->n_fields++;
}

static void fbb_add_scalar(struct fbb *b, int slot, uint64_t v, size_t size, uint64_t dflt) {
    if (v == dflt) return;
    fbb_track(b, slot, fbb_push_le(b, v, size));
}

static void fbb_add_offset(struct fbb *b, int slot, uint32_t target) { fbb_track(b, slot, fbb_push_offset(b, target)); }

static uint32_t fbb_end_table(struct fbb *b) {
    uint32_t obj = fbb_push_le(b, 0xF0F0F0F0u, 4);
    size_t vt_len = 4;
    for (int i = 0; i < b->n_fields; i++)
        if ((size_t)b->fields[i].voff + 2 > vt_len) vt_len = (size_t)b->fields[i].voff + 2;
    fbb_make_space(b, vt_len);
    uint8_t *vt = b->buf + b->head;
    uint32_t obj_size = obj - b->table_start;
    STET_ASSERT(obj_size < 0x10000);
    vt[0] = (uint8_t)vt_len;
    vt[1] = (uint8_t)(vt_len >> 8);
    vt[2] = (uint8_t)obj_size;
    vt[3] = (uint8_t)(obj_size >> 8);
    for (int i = 0; i < b->n_fields; i++) {
        uint32_t pos = obj - b->fields[i].off;
        vt[b->fields[i].voff] = (uint8_t)pos;
        vt[b->fields[i].voff + 1] = (uint8_t)(pos >> 8);
    }
    uint32_t vt_pos = 0;
    for (size_t i = 0; i < b->n_vtables && vt_pos == 0; i++) {
        const uint8_t *old = b->buf + b->cap - b->vtables[i];
        size_t old_len = (size_t)old[0] | ((size_t)old[1] << 8);
        if (old_len == vt_len && memcmp(old, vt, vt_len) == 0) vt_pos = b->vtables[i];
    }
    if (vt_pos != 0) {
        memset(vt, 0, vt_len); /* duplicate: drop the one just written */
        b->head += vt_len;
    } else {
        vt_pos = fbb_used(b);
        if (b->n_vtables == b->cap_vtables) {
            b->cap_vtables = b->cap_vtables ? 2 * b->cap_vtables : 16;
            b->vtables = realloc(b->vtables, b->cap_vtables * sizeof(*b->vtables));
            STET_ASSERT(b->vtables != NULL);
        }
        b->vtables[b->n_vtables++] = vt_pos;
    }
    int32_t soff = (int32_t)vt_pos - (int32_t)obj;
    uint8_t *tp = b->buf + b->cap - obj;
    for (size_t k = 0; k < 4; k++) tp[k] = (uint8_t)((uint32_t)soff >> (8 * k));
    b->n_fields = 0;
    return obj;
}

static void fbb_finish(struct fbb *b, uint32_t root) {
    fbb_align(b, 4, b->min_align);
    fbb_push_offset(b, root);
}

/* ---- Arrow schema flatbuffers --------------------------------------------------------------- */

/* Message.fbs / Schema.fbs constants */
enum { MD_V5 = 4 };
enum { HDR_SCHEMA = 1, HDR_RECORD_BATCH = 3 };
enum {
    TY_NULL = 1, TY_INT = 2, TY_FLOAT = 3, TY_BINARY = 4, TY_UTF8 = 5, TY_BOOL = 6, TY_TIMESTAMP = 10, TY_LIST = 12,
    TY_DURATION = 18, TY_LARGE_BINARY = 19, TY_LARGE_UTF8 = 20,
};
enum { UNIT_MILLI = 1, UNIT_NANO = 3 };

static uint32_t empty_children(struct fbb *b) { return fbb_create_offset_vector(b, NULL, 0); }

static uint32_t empty_table(struct fbb *b) {
    fbb_start_table(b);
    return fbb_end_table(b);
}

static uint32_t build_field(struct fbb *b, const char *name, enum stet_qtype t, bool nullable);

/* get_fb_field_type: the type table and the children vector, in arrow-rs' creation order. */
static void build_type(struct fbb *b, enum stet_qtype t, uint8_t *type_type, uint32_t *type_off, uint32_t *children) {
    switch (t) {
    case QT_NULL:
    case QT_UNKNOWN:
        *type_type = TY_NULL;
        *type_off = empty_table(b);
        *children = empty_children(b);
        return;
    case QT_BOOL:
        *type_type = TY_BOOL;
        *type_off = empty_table(b);
        *children = empty_children(b);
        return;
    case QT_INT32:
    case QT_INT64:
    case QT_UINT32:
    case QT_UINT64: {
        *children = empty_children(b);
        fbb_start_table(b);
        fbb_add_scalar(b, 1 /* is_signed */, !stet_qtype_is_unsigned(t), 1, 0);
        fbb_add_scalar(b, 0 /* bitWidth */, (t == QT_INT32 || t == QT_UINT32) ? 32 : 64, 4, 0);
        *type_type = TY_INT;
        *type_off = fbb_end_table(b);
        return;
    }
    case QT_FLOAT64:
        *children = empty_children(b);
        fbb_start_table(b);
        fbb_add_scalar(b, 0 /* precision */, 2 /* DOUBLE */, 2, 0);
        *type_type = TY_FLOAT;
        *type_off = fbb_end_table(b);
        return;
    case QT_UTF8:
    case QT_LARGE_UTF8:
    case QT_BINARY:
    case QT_LARGE_BINARY:
        *type_type = t == QT_UTF8 ? TY_UTF8 : t == QT_LARGE_UTF8 ? TY_LARGE_UTF8 : t == QT_BINARY ? TY_BINARY
                                                                                                  : TY_LARGE_BINARY;
        *type_off = empty_table(b);
        *children = empty_children(b);
        return;
    case QT_TS_MS_UTC:
    case QT_TS_MS:
    case QT_TS_NS: {
        const char *tz = t == QT_TS_MS_UTC ? "+00:00" : "";
        uint32_t tz_off = fbb_create_string(b, tz, strlen(tz)); /* created even when empty */
        fbb_start_table(b);
        fbb_add_scalar(b, 0 /* unit */, t == QT_TS_NS ? UNIT_NANO : UNIT_MILLI, 2, 0);
        if (tz[0]) fbb_add_offset(b, 1 /* timezone */, tz_off);
        *type_type = TY_TIMESTAMP;
        *type_off = fbb_end_table(b);
        *children = empty_children(b);
        return;
    }
    case QT_DURATION_MS:
        fbb_start_table(b);
        fbb_add_scalar(b, 0 /* unit */, UNIT_MILLI, 2, UNIT_MILLI /* schema default */);
        *type_type = TY_DURATION;
        *type_off = fbb_end_table(b);
        *children = empty_children(b);
        return;
    case QT_LIST_UINT32:
    case QT_LIST_LARGE_UTF8:
    case QT_LIST_UTF8: {
        enum stet_qtype child = t == QT_LIST_UINT32 ? QT_UINT32 : t == QT_LIST_UTF8 ? QT_UTF8 : QT_LARGE_UTF8;
        uint32_t child_off = build_field(b, "item", child, true);
        *type_type = TY_LIST;
        *type_off = empty_table(b);
        *children = fbb_create_offset_vector(b, &child_off, 1);
        return;
    }
    case QT__COUNT: break;
    }
    STET_UNREACHABLE();
}

static uint32_t build_field(struct fbb *b, const char *name, enum stet_qtype t, bool nullable) {
    uint32_t name_off = fbb_create_string(b, name, strlen(name));
    uint8_t type_type = 0;
    uint32_t type_off = 0, children = 0;
    build_type(b, t, &type_type, &type_off, &children);
    fbb_start_table(b);
    fbb_add_offset(b, 0 /* name */, name_off);
    fbb_add_scalar(b, 2 /* type_type */, type_type, 1, 0);
    fbb_add_scalar(b, 1 /* nullable */, nullable, 1, 0);
    fbb_add_offset(b, 5 /* children */, children);
    fbb_add_offset(b, 3 /* type */, type_off);
    return fbb_end_table(b);
}

static uint32_t build_message(struct fbb *b, uint8_t header_type, uint32_t header, int64_t body_len) {
    fbb_start_table(b);
    fbb_add_scalar(b, 0 /* version */, MD_V5, 2, 0);
    fbb_add_scalar(b, 1 /* header_type */, header_type, 1, 0);
    fbb_add_scalar(b, 3 /* bodyLength */, (uint64_t)body_len, 8, 0);
    fbb_add_offset(b, 2 /* header */, header);
    return fbb_end_table(b);
}

/* ---- framing ---------------------------------------------------------------------------- */

#define ARROW_ALIGN 64

static void put_le32(struct stet_buf *out, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    stet_buf_append(out, b, 4);
}

static void pad_zeros(struct stet_buf *out, size_t n) {
    static const uint8_t zeros[ARROW_ALIGN];
    STET_ASSERT(n <= ARROW_ALIGN);
    stet_buf_append(out, zeros, n);
}

static size_t pad_len(size_t len) { return (ARROW_ALIGN - (len % ARROW_ALIGN)) % ARROW_ALIGN; }

static void write_message(struct stet_buf *out, const struct fbb *b) {
    size_t len = b->cap - b->head;
    size_t padded = len + pad_len(len + 8);
    put_le32(out, 0xFFFFFFFFu);
    put_le32(out, (uint32_t)padded);
    stet_buf_append(out, b->buf + b->head, len);
    pad_zeros(out, padded - len);
}

/* ---- columns ------------------------------------------------------------------------------ */

static size_t fixed_width(enum stet_qtype t) {
    switch (t) {
    case QT_INT32:
    case QT_UINT32: return 4;
    case QT_INT64:
    case QT_UINT64:
    case QT_FLOAT64:
    case QT_TS_MS_UTC:
    case QT_TS_MS:
    case QT_TS_NS:
    case QT_DURATION_MS: return 8;
    default: return 0;
    }
}

static bool large_offsets(enum stet_qtype t) { return t == QT_LARGE_UTF8 || t == QT_LARGE_BINARY; }
static bool byte_array(enum stet_qtype t) { return stet_qtype_is_string(t) || stet_qtype_is_binary(t); }

static void put_le(struct stet_buf *b, uint64_t v, size_t size) {
    uint8_t tmp[8];
    for (size_t i = 0; i < size; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    stet_buf_append(b, tmp, size);
}

static void set_bit(struct stet_buf *bits, uint64_t i, bool v) {
    size_t byte = (size_t)(i / 8);
    while (bits->len <= byte) stet_buf_append_byte(bits, 0);
    if (v) bits->data[byte] |= (uint8_t)(1u << (i % 8));
}

void stet_arrow_col_init(struct stet_arrow_col *c, enum stet_qtype t) {
    memset(c, 0, sizeof(*c));
    c->type = t;
    stet_buf_init(&c->validity);
    stet_buf_init(&c->offsets);
    stet_buf_init(&c->values);
    stet_buf_init(&c->child_offsets);
    stet_buf_init(&c->child_values);
    if (byte_array(t)) put_le(&c->offsets, 0, large_offsets(t) ? 8 : 4);
    if (stet_qtype_is_list(t)) {
        put_le(&c->offsets, 0, 4);
        if (t != QT_LIST_UINT32) put_le(&c->child_offsets, 0, t == QT_LIST_LARGE_UTF8 ? 8 : 4);
    }
}

void stet_arrow_col_free(struct stet_arrow_col *c) {
    stet_buf_free(&c->validity);
    stet_buf_free(&c->offsets);
    stet_buf_free(&c->values);
    stet_buf_free(&c->child_offsets);
    stet_buf_free(&c->child_values);
}

size_t stet_arrow_col_bytes(const struct stet_arrow_col *c) {
    return c->validity.len + c->offsets.len + c->values.len + c->child_offsets.len + c->child_values.len;
}

static void end_byte_value(struct stet_arrow_col *c) {
    put_le(&c->offsets, c->values.len, large_offsets(c->type) ? 8 : 4);
}

void stet_arrow_append_null(struct stet_arrow_col *c) {
    set_bit(&c->validity, c->n, false);
    if (c->type == QT_BOOL) set_bit(&c->values, c->n, false);
    else if (fixed_width(c->type)) put_le(&c->values, 0, fixed_width(c->type));
    else if (byte_array(c->type)) end_byte_value(c);
    else if (stet_qtype_is_list(c->type)) put_le(&c->offsets, c->child_n, 4);
    c->n++;
    c->nulls++;
}

void stet_arrow_append_int(struct stet_arrow_col *c, int64_t v) {
    set_bit(&c->validity, c->n, true);
    if (c->type == QT_BOOL) {
        set_bit(&c->values, c->n, v != 0);
    } else if (c->type == QT_FLOAT64) {
        double d = (double)v;
        uint64_t bits;
        memcpy(&bits, &d, 8);
        put_le(&c->values, bits, 8);
    } else {
        STET_ASSERT(fixed_width(c->type) != 0);
        uint64_t u = (uint64_t)v;
        if (c->type == QT_TS_NS) u = (uint64_t)(v * 1000000); /* SQLite keeps milliseconds */
        put_le(&c->values, u, fixed_width(c->type));
    }
    c->n++;
}

void stet_arrow_append_double(struct stet_arrow_col *c, double v) {
    if (c->type != QT_FLOAT64) {
        stet_arrow_append_int(c, (int64_t)v);
        return;
    }
    set_bit(&c->validity, c->n, true);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_le(&c->values, bits, 8);
    c->n++;
}

void stet_arrow_append_bytes(struct stet_arrow_col *c, const void *p, size_t len) {
    STET_ASSERT(byte_array(c->type));
    set_bit(&c->validity, c->n, true);
    stet_buf_append(&c->values, p, len);
    end_byte_value(c);
    c->n++;
}

void stet_arrow_list_begin(struct stet_arrow_col *c) { STET_ASSERT(stet_qtype_is_list(c->type)); }

void stet_arrow_list_uint(struct stet_arrow_col *c, uint32_t v) {
    STET_ASSERT(c->type == QT_LIST_UINT32);
    put_le(&c->child_values, v, 4);
    c->child_n++;
}

void stet_arrow_list_bytes(struct stet_arrow_col *c, const void *p, size_t len) {
    STET_ASSERT(c->type == QT_LIST_LARGE_UTF8 || c->type == QT_LIST_UTF8);
    stet_buf_append(&c->child_values, p, len);
    put_le(&c->child_offsets, c->child_values.len, c->type == QT_LIST_LARGE_UTF8 ? 8 : 4);
    c->child_n++;
}

void stet_arrow_list_end(struct stet_arrow_col *c) {
    set_bit(&c->validity, c->n, true);
    put_le(&c->offsets, c->child_n, 4);
    c->n++;
}

/* ---- record batch ------------------------------------------------------------------------- */

struct body {
    struct stet_buf data;
    int64_t (*buffers)[2];
    size_t n_buffers, cap_buffers;
    int64_t (*nodes)[2];
    size_t n_nodes, cap_nodes;
};

static void body_pair(int64_t (**arr)[2], size_t *n, size_t *cap, int64_t a, int64_t b) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = realloc(*arr, *cap * sizeof(**arr));
        STET_ASSERT(*arr != NULL);
    }
    (*arr)[*n][0] = a;
    (*arr)[*n][1] = b;
    (*n)++;
}

static void body_buffer(struct body *bd, const uint8_t *p, size_t len) {
    body_pair(&bd->buffers, &bd->n_buffers, &bd->cap_buffers, (int64_t)bd->data.len, (int64_t)len);
    if (len) stet_buf_append(&bd->data, p, len);
    pad_zeros(&bd->data, pad_len(len));
}

/* The validity buffer: the bitmap when there are nulls, else ceil(n/8) bytes of 0xff. */
static void body_validity(struct body *bd, const struct stet_buf *bits, uint64_t n, uint64_t nulls) {
    size_t len = (size_t)((n + 7) / 8);
    if (nulls == 0) {
        uint8_t *ones = malloc(len ? len : 1);
        STET_ASSERT(ones != NULL);
        memset(ones, 0xff, len);
        body_buffer(bd, ones, len);
        free(ones);
        return;
    }
    STET_ASSERT(bits->len >= len);
    body_buffer(bd, bits->data, len);
}

static void write_column(struct body *bd, const struct stet_arrow_col *c) {
    bool is_null_type = c->type == QT_NULL || c->type == QT_UNKNOWN;
    body_pair(&bd->nodes, &bd->n_nodes, &bd->cap_nodes, (int64_t)c->n, (int64_t)(is_null_type ? c->n : c->nulls));
    if (is_null_type) return; /* the Null layout has no buffers */
    body_validity(bd, &c->validity, c->n, c->nulls);
    if (byte_array(c->type)) {
        body_buffer(bd, c->offsets.data, c->offsets.len);
        body_buffer(bd, c->values.data, c->values.len);
    } else if (c->type == QT_BOOL) {
        size_t len = (size_t)((c->n + 7) / 8);
        struct stet_buf bits = STET_BUF_INIT;
        stet_buf_append(&bits, c->values.data, c->values.len < len ? c->values.len : len);
        while (bits.len < len) stet_buf_append_byte(&bits, 0);
        body_buffer(bd, bits.data, len);
        stet_buf_free(&bits);
    } else if (stet_qtype_is_list(c->type)) {
        body_buffer(bd, c->offsets.data, c->offsets.len);
        body_pair(&bd->nodes, &bd->n_nodes, &bd->cap_nodes, (int64_t)c->child_n, 0);
        body_validity(bd, NULL, c->child_n, 0);
        if (c->type != QT_LIST_UINT32) body_buffer(bd, c->child_offsets.data, c->child_offsets.len);
        body_buffer(bd, c->child_values.data, c->child_values.len);
    } else {
        body_buffer(bd, c->values.data, c->values.len);
    }
}

void stet_arrow_write_stream(struct stet_buf *out, const struct stet_arrow_field *fields,
                             const struct stet_arrow_col *cols, size_t ncols, uint64_t n_rows) {
    /* schema message */
    struct fbb b;
    fbb_init(&b);
    uint32_t *field_offs = calloc(ncols ? ncols : 1, sizeof(*field_offs));
    STET_ASSERT(field_offs != NULL);
    for (size_t i = 0; i < ncols; i++) {
        STET_ASSERT(fields[i].type != QT_UNKNOWN || cols[i].type == QT_UNKNOWN);
        field_offs[i] = build_field(&b, fields[i].name, fields[i].type, fields[i].nullable);
    }
    uint32_t fields_vec = fbb_create_offset_vector(&b, field_offs, ncols);
    fbb_start_table(&b);
    fbb_add_offset(&b, 1 /* fields */, fields_vec);
    uint32_t schema = fbb_end_table(&b);
    fbb_finish(&b, build_message(&b, HDR_SCHEMA, schema, 0));
    write_message(out, &b);
    fbb_free(&b);
    free(field_offs);

    /* record batch */
    struct body bd;
    memset(&bd, 0, sizeof(bd));
    stet_buf_init(&bd.data);
    for (size_t i = 0; i < ncols; i++) {
        STET_ASSERT(cols[i].n == n_rows);
        write_column(&bd, &cols[i]);
    }
    fbb_init(&b);
    uint32_t buffers = fbb_create_pair_vector(&b, (const int64_t(*)[2])bd.buffers, bd.n_buffers);
    uint32_t nodes = fbb_create_pair_vector(&b, (const int64_t(*)[2])bd.nodes, bd.n_nodes);
    fbb_start_table(&b);
    fbb_add_scalar(&b, 0 /* length */, n_rows, 8, 0);
    fbb_add_offset(&b, 1 /* nodes */, nodes);
    fbb_add_offset(&b, 2 /* buffers */, buffers);
    uint32_t batch = fbb_end_table(&b);
    fbb_finish(&b, build_message(&b, HDR_RECORD_BATCH, batch, (int64_t)bd.data.len));
    write_message(out, &b);
    stet_buf_append(out, bd.data.data, bd.data.len);
    fbb_free(&b);
    stet_buf_free(&bd.data);
    free(bd.buffers);
    free(bd.nodes);

    /* end of stream */
    put_le32(out, 0xFFFFFFFFu);
    put_le32(out, 0);
}
