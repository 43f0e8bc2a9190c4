/* Growable byte buffer. The caller owns the struct; stet_buf_free releases the bytes.
 * Allocation failure aborts (we size memory with explicit limits elsewhere; a failing
 * malloc on this path means the process cannot make progress). */
#ifndef STET_BUF_H
#define STET_BUF_H

#include <stddef.h>
#include <stdint.h>

struct stet_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

#define STET_BUF_INIT {NULL, 0, 0}

void stet_buf_init(struct stet_buf *b);
void stet_buf_free(struct stet_buf *b);
void stet_buf_reset(struct stet_buf *b);             /* len = 0, keeps capacity */
void stet_buf_reserve(struct stet_buf *b, size_t extra);
void stet_buf_append(struct stet_buf *b, const void *data, size_t len);
void stet_buf_append_str(struct stet_buf *b, const char *s);
void stet_buf_append_byte(struct stet_buf *b, uint8_t c);
void stet_buf_printf(struct stet_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void stet_buf_append_u16be(struct stet_buf *b, uint16_t v);
void stet_buf_append_u32be(struct stet_buf *b, uint32_t v);
void stet_buf_append_u64be(struct stet_buf *b, uint64_t v);
/* Little-endian, n bytes of v (1..8): the node-to-node wire formats (src/consensus, src/nodeport). */
void stet_buf_append_le(struct stet_buf *b, uint64_t v, int n);
/* Removes the first n bytes. */
void stet_buf_consume(struct stet_buf *b, size_t n);
/* Returns a NUL-terminated copy the caller frees. */
char *stet_buf_strdup(const struct stet_buf *b);
/* Takes the bytes out of the buffer; the caller frees them; the buffer is left empty. */
uint8_t *stet_buf_steal(struct stet_buf *b, size_t *len);

static inline uint16_t stet_load_u16be(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t stet_load_u32be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t stet_load_u64be(const uint8_t *p) {
    return ((uint64_t)stet_load_u32be(p) << 32) | stet_load_u32be(p + 4);
}
static inline uint64_t stet_load_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static inline void stet_store_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void stet_store_u64be(uint8_t *p, uint64_t v) {
    stet_store_u32be(p, (uint32_t)(v >> 32));
    stet_store_u32be(p + 4, (uint32_t)v);
}

#endif
