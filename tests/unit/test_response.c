/* Response actions as bytes (src/partition/response.c): round trips of every response kind
 * with both sink kinds, and refusals of what does not decode; writes the fuzz seed corpus when
 * STET_DUMP_CORPUS names a directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corpus_dump.h"
#include "partition/response.h"
#include "partition/tables.h"

static void dump(const char *name, const struct stet_buf *b) { corpus_dump("STET_DUMP_CORPUS", name, b); }

static void test_round_trip(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        for (int resp = STET_RESPONSE_VALUE; resp <= STET_RESPONSE_CONFLICT; resp++) {
            struct stet_action a;
            memset(&a, 0, sizeof(a));
            a.kind = kind ? STET_ACTION_ADMIN_RESPONSE : STET_ACTION_INGRESS_RESPONSE;
            a.response = (enum stet_response_kind)resp;
            a.id.partition_key = 0x1234567890abcdefull;
            for (int i = 0; i < 16; i++) a.id.uuid[i] = (uint8_t)(i * 7 + resp);
            a.sink = (struct stet_inv_sink){.kind = kind ? STET_SINK_ADMIN : STET_SINK_INGRESS,
                                            .incarnation = 99,
                                            .node_id = 2,
                                            .generation = 5,
                                            .request_id = 4242};
            a.value = (struct stet_slice){(const uint8_t *)"\"Hello\"", 7};
            a.failure_code = resp == STET_RESPONSE_FAILURE ? 500 : 0;
            a.failure_raw = (struct stet_slice){(const uint8_t *)"\x08\xf4\x03", resp == STET_RESPONSE_FAILURE ? 3 : 0};
            a.stacktrace = (struct stet_slice){(const uint8_t *)"at x", resp == STET_RESPONSE_FAILURE ? 4 : 0};
            a.from_retained = resp == STET_RESPONSE_VALUE;
            a.expires_at_ms = 1800000000000ull;
            struct stet_buf b = STET_BUF_INIT;
            stet_response_encode(&a, &b);
            char name[32];
            snprintf(name, sizeof(name), "k%d_r%d", kind, resp);
            dump(name, &b);
            struct stet_action c;
            assert_int_equal(stet_response_decode(b.data, b.len, &c), 0);
            assert_int_equal(c.kind, a.kind);
            assert_int_equal(c.response, a.response);
            assert_int_equal(stet_invocation_id_cmp(&c.id, &a.id), 0);
            assert_int_equal(c.sink.kind, a.sink.kind);
            assert_int_equal(c.sink.node_id, 2);
            assert_int_equal(c.sink.generation, 5);
            assert_int_equal(c.sink.request_id, 4242);
            assert_int_equal(c.sink.incarnation, 99);
            assert_int_equal(c.value.len, 7);
            assert_memory_equal(c.value.ptr, "\"Hello\"", 7);
            assert_int_equal(c.failure_code, a.failure_code);
            assert_int_equal(c.failure_raw.len, a.failure_raw.len);
            assert_int_equal(c.stacktrace.len, a.stacktrace.len);
            assert_int_equal(c.from_retained, a.from_retained);
            assert_int_equal(c.expires_at_ms, a.expires_at_ms);
            /* every truncation and one trailing byte are refused */
            for (size_t n = 0; n < b.len; n++) assert_int_equal(stet_response_decode(b.data, n, &c), -EPROTO);
            stet_buf_append_byte(&b, 0);
            assert_int_equal(stet_response_decode(b.data, b.len, &c), -EPROTO);
            /* not a response action, or another version */
            b.len--;
            b.data[1] = STET_ACTION_INVOKE;
            assert_int_equal(stet_response_decode(b.data, b.len, &c), -EPROTO);
            b.data[1] = (uint8_t)a.kind;
            b.data[0] = 2;
            assert_int_equal(stet_response_decode(b.data, b.len, &c), -EPROTO);
            stet_buf_free(&b);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
