/* Fuzz driver for the pure HTTP/1.1 response parser (src/h1client/parse.c).
 *
 * The input is the byte stream a server sends. Oracles, beyond "no crash / no sanitizer
 * report / no leak":
 *   - stet_h1_parser_check() holds after every feed and after eof;
 *   - feeding never claims more bytes than given; "need more" consumes everything;
 *   - the outcome (result code, bytes consumed in total, status, headers, body, error
 *     message) is the same whether the input arrives at once, one byte at a time, or in
 *     pieces whose sizes come from the input itself;
 *   - a complete response has a final status (200..999), at most STET_H1_MAX_HEADERS
 *     lower-case names, a NUL-terminated body within the limit, and take_body hands out
 *     exactly that body;
 *   - errors are -EBADMSG or -EMSGSIZE with a message that says which ("malformed
 *     response: " / "response too large: ").
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "h1client/h1client.h"

#define FUZZ_MAX_BODY 4096

struct outcome {
    int rc;
    size_t consumed;
    struct stet_h1_parser p;
};

/* piece sizes: 0 = all at once, 1 = bytewise, else from a little PRNG seeded by the input */
static void run(const uint8_t *data, size_t size, int mode, bool eof, bool head_request, struct outcome *o) {
    stet_h1_parser_init(&o->p, FUZZ_MAX_BODY, head_request);
    o->rc = 0;
    o->consumed = 0;
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size && i < 16; i++) seed = (seed ^ data[i]) * 16777619u;
    while (o->consumed < size) {
        size_t n = size - o->consumed;
        if (mode == 1) {
            n = 1;
        } else if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            size_t k = 1 + (seed >> 16) % 97;
            if (k < n) n = k;
        }
        size_t used = 0;
        int rc = stet_h1_parser_feed(&o->p, data + o->consumed, n, &used);
        stet_h1_parser_check(&o->p);
        STET_ASSERT(used <= n);
        if (rc == 0) STET_ASSERT(used == n);
        o->consumed += used;
        if (rc != 0) {
            o->rc = rc;
            break;
        }
    }
    if (o->rc == 0 && eof) {
        o->rc = stet_h1_parser_eof(&o->p);
        stet_h1_parser_check(&o->p);
    }
    STET_ASSERT(o->rc == 0 || o->rc == 1 || o->rc == -EBADMSG || o->rc == -EMSGSIZE);
}

static void check_response(struct stet_h1_parser *p) {
    struct stet_h1_response r;
    stet_h1_parser_response(p, &r);
    STET_ASSERT(r.status >= 200 && r.status <= 999);
    STET_ASSERT(r.n_headers <= STET_H1_MAX_HEADERS);
    STET_ASSERT(r.body != NULL);
    STET_ASSERT(r.body_len <= FUZZ_MAX_BODY);
    STET_ASSERT(r.body[r.body_len] == '\0');
    for (size_t i = 0; i < r.n_headers; i++) {
        STET_ASSERT(strlen(r.headers[i].name) == r.headers[i].name_len);
        STET_ASSERT(memchr(r.headers[i].value, '\r', r.headers[i].value_len) == NULL);
        STET_ASSERT(memchr(r.headers[i].value, '\n', r.headers[i].value_len) == NULL);
        STET_ASSERT(stet_h1_response_header(&r, r.headers[i].name) != NULL);
    }
    struct stet_buf copy = STET_BUF_INIT;
    stet_buf_append(&copy, r.body, r.body_len);
    size_t len = 0;
    uint8_t *b = stet_h1_parser_take_body(p, &len);
    STET_ASSERT(len == copy.len);
    STET_ASSERT(len == 0 || memcmp(b, copy.data, len) == 0);
    STET_ASSERT(b[len] == '\0');
    free(b);
    stet_buf_free(&copy);
}

static void same(struct outcome *a, struct outcome *b) {
    STET_ASSERT(a->rc == b->rc);
    if (a->rc == 1) {
        STET_ASSERT(a->consumed == b->consumed);
        struct stet_h1_response x, y;
        stet_h1_parser_response(&a->p, &x);
        stet_h1_parser_response(&b->p, &y);
        STET_ASSERT(x.status == y.status);
        STET_ASSERT(x.n_headers == y.n_headers);
        for (size_t i = 0; i < x.n_headers; i++) {
            STET_ASSERT(strcmp(x.headers[i].name, y.headers[i].name) == 0);
            STET_ASSERT(strcmp(x.headers[i].value, y.headers[i].value) == 0);
        }
        STET_ASSERT(x.body_len == y.body_len);
        STET_ASSERT(memcmp(x.body, y.body, x.body_len) == 0);
    } else if (a->rc < 0) {
        STET_ASSERT(strcmp(stet_h1_parser_message(&a->p), stet_h1_parser_message(&b->p)) == 0);
        const char *m = stet_h1_parser_message(&a->p);
        if (a->rc == -EBADMSG) STET_ASSERT(strncmp(m, "malformed response: ", 20) == 0);
        else STET_ASSERT(strncmp(m, "response too large: ", 20) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int variant = 0; variant < 3; variant++) {
        bool eof = variant != 0;
        bool head_request = variant == 2;
        struct outcome whole, bytewise, pieces;
        run(data, size, 0, eof, head_request, &whole);
        run(data, size, 1, eof, head_request, &bytewise);
        run(data, size, 2, eof, head_request, &pieces);
        same(&whole, &bytewise);
        same(&whole, &pieces);
        if (whole.rc == 1) check_response(&whole.p);
        stet_h1_parser_free(&whole.p);
        stet_h1_parser_free(&bytewise.p);
        stet_h1_parser_free(&pieces.p);
    }
    return 0;
}
