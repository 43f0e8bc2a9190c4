/* Fuzz target for src/config/toml.c.
 *
 * Oracle, for every input:
 *   1. parsing (as a document and as a single value) never crashes; on failure the tree is
 *      NULL and the error message is a terminated string starting with "line " (or naming
 *      the size limit / UTF-8);
 *   2. on success, writing the tree back and parsing that again succeeds, the two trees are
 *      stet_toml_equal, and writing the second tree gives byte-identical output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "config/toml.h"

typedef int (*parse_fn)(const char *, size_t, struct stet_toml_value **, char *, size_t);

static void roundtrip(parse_fn parse, const uint8_t *data, size_t size) {
    struct stet_toml_value *first = NULL;
    char err[200];
    memset(err, 'x', sizeof(err));
    int rc = parse((const char *)data, size, &first, err, sizeof(err));
    if (rc != 0) {
        STET_ASSERT(first == NULL);
        STET_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
        STET_ASSERT(err[0] != '\0');
        return;
    }
    STET_ASSERT(first != NULL);
    struct stet_buf out1 = STET_BUF_INIT, out2 = STET_BUF_INIT;
    stet_toml_write(&out1, first);
    struct stet_toml_value *second = NULL;
    rc = parse((const char *)out1.data, out1.len, &second, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "re-parse failed: %s\n---\n%.*s\n---\n", err, (int)out1.len, (const char *)out1.data);
        STET_ASSERT(rc == 0);
    }
    STET_ASSERT(stet_toml_equal(first, second));
    STET_ASSERT(stet_toml_equal(second, first));
    stet_toml_write(&out2, second);
    STET_ASSERT(out1.len == out2.len);
    STET_ASSERT(out1.len == 0 || memcmp(out1.data, out2.data, out1.len) == 0);
    stet_toml_free(first);
    stet_toml_free(second);
    stet_buf_free(&out1);
    stet_buf_free(&out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    roundtrip(stet_toml_parse, data, size);
    roundtrip(stet_toml_parse_value, data, size);
    return 0;
}
