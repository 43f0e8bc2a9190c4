/* Fuzz target for src/json.
 *
 * Oracle, for every input:
 *   1. parsing never crashes; on failure the error message is a terminated string;
 *   2. on success, writing the tree back and parsing that again succeeds, the two trees are
 *      stet_json_equal, and writing the second tree gives byte-identical output;
 *   3. the input bytes escaped as a JSON string (stet_json_escape_string) always parse, the
 *      output is valid UTF-8, and when the input was valid UTF-8 the decoded string equals it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/timefmt.h"
#include "json/json.h"

static void check_escape(const uint8_t *data, size_t size) {
    struct stet_buf b = STET_BUF_INIT;
    stet_json_escape_string(&b, (const char *)data, size);
    STET_ASSERT(stet_utf8_valid(b.data, b.len));
    struct stet_json *j = NULL;
    char err[128];
    int rc = stet_json_parse((const char *)b.data, b.len, &j, err, sizeof(err));
    STET_ASSERT(rc == 0);
    STET_ASSERT(stet_json_type(j) == STET_JSON_STRING);
    size_t len;
    const char *s = stet_json_string(j, &len);
    if (stet_utf8_valid(data, size)) {
        STET_ASSERT(len == size);
        STET_ASSERT(size == 0 || memcmp(s, data, size) == 0);
    }
    stet_json_free(j);
    stet_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct stet_json *first = NULL;
    char err[160];
    int rc = stet_json_parse((const char *)data, size, &first, err, sizeof(err));
    if (rc != 0) {
        STET_ASSERT(first == NULL);
        STET_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
    } else {
        struct stet_buf out1 = STET_BUF_INIT, out2 = STET_BUF_INIT;
        stet_json_write_value(&out1, first);
        STET_ASSERT(stet_utf8_valid(out1.data, out1.len));
        struct stet_json *second = NULL;
        rc = stet_json_parse((const char *)out1.data, out1.len, &second, err, sizeof(err));
        STET_ASSERT(rc == 0);
        STET_ASSERT(stet_json_equal(first, second));
        STET_ASSERT(stet_json_equal(second, first));
        stet_json_write_value(&out2, second);
        STET_ASSERT(out1.len == out2.len);
        STET_ASSERT(memcmp(out1.data, out2.data, out1.len) == 0);
        stet_json_free(second);
        stet_json_free(first);
        stet_buf_free(&out1);
        stet_buf_free(&out2);
    }
    check_escape(data, size);
    return 0;
}
