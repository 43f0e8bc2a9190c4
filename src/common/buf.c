#include "common/buf.h"
#include "common/assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stet_buf_init(struct stet_buf *b) { b->data = NULL; b->len = 0; b->cap = 0; }
void stet_buf_free(struct stet_buf *b) { free(b->data); stet_buf_init(b); }
void stet_buf_reset(struct stet_buf *b) { b->len = 0; }

void stet_buf_reserve(struct stet_buf *b, size_t extra) {
    STET_ASSERT(b->len + extra >= b->len);
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    STET_ASSERT(d != NULL);
    b->data = d;
    b->cap = cap;
}

void stet_buf_append(struct stet_buf *b, const void *data, size_t len) {
    if (len == 0) return;
    stet_buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void stet_buf_append_str(struct stet_buf *b, const char *s) { stet_buf_append(b, s, strlen(s)); }
void stet_buf_append_byte(struct stet_buf *b, uint8_t c) { stet_buf_append(b, &c, 1); }

void stet_buf_printf(struct stet_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    STET_ASSERT(n >= 0);
    if ((size_t)n < sizeof(tmp)) { stet_buf_append(b, tmp, (size_t)n); return; }
    stet_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void stet_buf_append_u16be(struct stet_buf *b, uint16_t v) {
    uint8_t p[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    stet_buf_append(b, p, 2);
}
void stet_buf_append_u32be(struct stet_buf *b, uint32_t v) { uint8_t p[4]; stet_store_u32be(p, v); stet_buf_append(b, p, 4); }
void stet_buf_append_u64be(struct stet_buf *b, uint64_t v) { uint8_t p[8]; stet_store_u64be(p, v); stet_buf_append(b, p, 8); }
void stet_buf_append_le(struct stet_buf *b, uint64_t v, int n) {
    STET_ASSERT(n >= 1 && n <= 8);
    uint8_t p[8];
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
    stet_buf_append(b, p, (size_t)n);
}

void stet_buf_consume(struct stet_buf *b, size_t n) {
    STET_ASSERT(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

char *stet_buf_strdup(const struct stet_buf *b) {
    char *s = malloc(b->len + 1);
    STET_ASSERT(s != NULL);
    if (b->len) memcpy(s, b->data, b->len);
    s[b->len] = 0;
    return s;
}

uint8_t *stet_buf_steal(struct stet_buf *b, size_t *len) {
    uint8_t *d = b->data;
    *len = b->len;
    stet_buf_init(b);
    return d;
}
