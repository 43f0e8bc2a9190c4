/* Fuzz driver for the HTTP/1 head parser and chunked decoder (src/http/http1.c).
 *
 * Oracles, beyond "no crash / no sanitizer report":
 *   - a parsed head never claims more bytes than given, and every pointer it returns lies
 *     inside the consumed bytes (path may also be the static "/" of an absolute-form target);
 *   - values never contain CR, LF or NUL, names are non-empty tokens;
 *   - every strict prefix of a successfully parsed head "needs more" (returns 0);
 *   - the chunked decoder gives the same result (bytes used, output, done/error) whether the
 *     input is fed at once or one byte at a time, and never exceeds its body limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "http/http1.h"

#define FUZZ_MAX_BODY 4096

static void check_range(const uint8_t *base, size_t len, const char *p, size_t n)
{
    STET_ASSERT((const uint8_t *)p >= base);
    STET_ASSERT((const uint8_t *)p + n <= base + len);
}

struct chunked_result {
    ssize_t rc;  /* bytes used, or the error */
    bool done;
    struct stet_buf out;
};

static void chunked_run(const uint8_t *data, size_t size, bool bytewise, struct chunked_result *r)
{
    struct stet_http1_chunked c;
    stet_http1_chunked_init(&c);
    stet_buf_init(&r->out);
    size_t used = 0;
    r->rc = 0;
    while (used < size && !c.done) {
        size_t n = bytewise ? 1 : size - used;
        ssize_t rc = stet_http1_chunked_decode(&c, data + used, n, &r->out, FUZZ_MAX_BODY);
        if (rc < 0) {
            r->rc = rc;
            break;
        }
        STET_ASSERT((size_t)rc <= n);
        if (!bytewise) STET_ASSERT(c.done || (size_t)rc == n);
        used += (size_t)rc;
        r->rc = (ssize_t)used;
    }
    r->done = c.done;
    STET_ASSERT(r->out.len <= FUZZ_MAX_BODY);
}

static void fuzz_chunked(const uint8_t *data, size_t size)
{
    struct chunked_result a, b;
    chunked_run(data, size, false, &a);
    chunked_run(data, size, true, &b);
    STET_ASSERT(a.rc == b.rc);
    STET_ASSERT(a.done == b.done);
    /* on errors the partial output may differ in how much was appended before the error */
    if (a.rc >= 0) {
        STET_ASSERT(a.out.len == b.out.len);
        STET_ASSERT(a.out.len == 0 || memcmp(a.out.data, b.out.data, a.out.len) == 0);
    }
    stet_buf_free(&a.out);
    stet_buf_free(&b.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct stet_http1_head head, probe;
    int rc = stet_http1_parse_head((const char *)data, size, &head);
    STET_ASSERT(rc == 0 || rc == STET_HTTP1_EMALFORMED || rc == STET_HTTP1_ETOOMANYHEADERS || rc > 0);
    if (rc > 0) {
        size_t n = (size_t)rc;
        STET_ASSERT(n <= size);
        STET_ASSERT(n >= 4);
        STET_ASSERT(memcmp(data + n - 4, "\r\n\r\n", 4) == 0);
        STET_ASSERT(head.method_len > 0);
        check_range(data, n, head.method, head.method_len);
        check_range(data, n, head.target, head.target_len);
        if (!(head.path_len == 1 && head.path[0] == '/')) check_range(data, n, head.path, head.path_len);
        if (head.query) check_range(data, n, head.query, head.query_len);
        STET_ASSERT(head.minor_version == 0 || head.minor_version == 1);
        STET_ASSERT(head.n_fields <= STET_HTTP1_MAX_HEADERS);
        for (size_t i = 0; i < head.n_fields; i++) {
            const struct stet_http1_field *f = &head.fields[i];
            STET_ASSERT(f->name_len > 0);
            check_range(data, n, f->name, f->name_len);
            check_range(data, n, f->value, f->value_len);
            for (size_t k = 0; k < f->name_len; k++) STET_ASSERT(stet_http1_is_tchar((unsigned char)f->name[k]));
            for (size_t k = 0; k < f->value_len; k++)
                STET_ASSERT(f->value[k] != '\r' && f->value[k] != '\n' && f->value[k] != 0);
        }
        if (head.body_kind == STET_HTTP1_BODY_LENGTH) STET_ASSERT(head.content_length > 0);
        if (head.body_kind == STET_HTTP1_BODY_CHUNKED) STET_ASSERT(head.minor_version == 1);
        /* prefixes need more bytes */
        STET_ASSERT(stet_http1_parse_head((const char *)data, n - 1, &probe) == 0);
        STET_ASSERT(stet_http1_parse_head((const char *)data, n / 2, &probe) == 0);
        if (head.body_kind == STET_HTTP1_BODY_CHUNKED) fuzz_chunked(data + n, size - n);
    }
    fuzz_chunked(data, size);
    return 0;
}
