/* Tests for src/common: stet_buf, the hash map (against a model), log filter parsing, HTTP
 * authority parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/authority.h"
#include "common/buf.h"
#include "common/hmap.h"
#include "common/log.h"

static void test_buf(void **state) {
    (void)state;
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_str(&b, "hello");
    stet_buf_printf(&b, " %d %s", 42, "world");
    assert_int_equal(b.len, strlen("hello 42 world"));
    assert_memory_equal(b.data, "hello 42 world", b.len);
    /* printf longer than the internal stack buffer */
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    stet_buf_printf(&b, "%s", big);
    assert_int_equal(b.len, strlen("hello 42 world") + 599);
    stet_buf_consume(&b, 6);
    assert_memory_equal(b.data, "42 world", 8);
    stet_buf_reset(&b);
    stet_buf_append_u16be(&b, 0x0102);
    stet_buf_append_u32be(&b, 0x03040506);
    stet_buf_append_u64be(&b, 0x0708090a0b0c0d0eull);
    assert_int_equal(stet_load_u16be(b.data), 0x0102);
    assert_int_equal(stet_load_u32be(b.data + 2), 0x03040506);
    assert_true(stet_load_u64be(b.data + 6) == 0x0708090a0b0c0d0eull);
    char *s = stet_buf_strdup(&b);
    free(s);
    size_t len;
    uint8_t *d = stet_buf_steal(&b, &len);
    assert_int_equal(len, 14);
    assert_null(b.data);
    free(d);
    stet_buf_free(&b);
}

static void test_hmap_model(void **state) {
    (void)state;
    enum { N = 5000 };
    static int present[N];
    static int values[N];
    memset(present, 0, sizeof(present));
    struct stet_hmap m;
    stet_hmap_init(&m);
    uint64_t rng = 12345;
    for (int step = 0; step < 200000; step++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((rng >> 33) % N);
        uint64_t key = (uint64_t)k * 7919;
        switch ((rng >> 20) % 3) {
        case 0: {
            values[k] = step;
            void *old = stet_hmap_put(&m, &key, sizeof(key), &values[k]);
            assert_true(present[k] ? old == &values[k] : old == NULL);
            present[k] = 1;
            break;
        }
        case 1: {
            void *v = stet_hmap_remove(&m, &key, sizeof(key));
            assert_true(present[k] ? v == &values[k] : v == NULL);
            present[k] = 0;
            break;
        }
        default: {
            void *v = stet_hmap_get(&m, &key, sizeof(key));
            assert_true(present[k] ? v == &values[k] : v == NULL);
        }
        }
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) count += (size_t)present[k];
    assert_int_equal(m.count, count);
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++) seen += m.slots[i].state == 1;
    assert_int_equal(seen, count);
    stet_hmap_free(&m);
}

/* After a burst the map gives its slots back, and every remaining key is still found. */
static void test_hmap_shrinks(void **state) {
    (void)state;
    enum { N = 20000 };
    static int values[N];
    struct stet_hmap m;
    stet_hmap_init(&m);
    for (uint64_t k = 0; k < N; k++) stet_hmap_put(&m, &k, sizeof(k), &values[k]);
    size_t peak = m.cap;
    assert_true(peak >= N);
    for (uint64_t k = 0; k < N - 10; k++) assert_ptr_equal(stet_hmap_remove(&m, &k, sizeof(k)), &values[k]);
    assert_int_equal(m.count, 10);
    assert_true(m.cap <= 64);
    for (uint64_t k = N - 10; k < N; k++) assert_ptr_equal(stet_hmap_get(&m, &k, sizeof(k)), &values[k]);
    uint64_t gone = 5;
    assert_null(stet_hmap_get(&m, &gone, sizeof(gone)));
    stet_hmap_free(&m);
}

static void test_log_filter(void **state) {
    (void)state;
    setenv("RESTATE_LOG_FILTER", "warn,restate=debug", 1);
    assert_int_equal(stet_log_init_from_env(), 0);
    assert_int_equal(stet_log_level_current, STET_LOG_DEBUG);
    setenv("RESTATE_LOG_FILTER", "error", 1);
    assert_int_equal(stet_log_init_from_env(), 0);
    assert_int_equal(stet_log_level_current, STET_LOG_ERROR);
    setenv("RESTATE_LOG_FILTER", "loud", 1);
    assert_int_not_equal(stet_log_init_from_env(), 0);
    unsetenv("RESTATE_LOG_FILTER");
    stet_log_set_level(STET_LOG_INFO);
}

/* stet_authority_parse serves both clients: h1client (use_http_11 deployments) and h2client
 * (the pool's authorities). The rows are the forms each of them must accept and the union of
 * what each used to reject on its own. */
static void test_authority_parse(void **state) {
    (void)state;
    static const struct {
        const char *authority, *host, *port;
    } good[] = {
        {"127.0.0.1:9080", "127.0.0.1", "9080"},
        {"localhost:9080", "localhost", "9080"},
        {"localhost", "localhost", "80"},
        {"service.default.svc:65535", "service.default.svc", "65535"},
        {"h:1", "h", "1"},
        {"[::1]:9080", "::1", "9080"},
        {"[::1]", "::1", "80"},
        {"[2001:db8::ff00:42:8329]:443", "2001:db8::ff00:42:8329", "443"},
        {"[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1", "80"},
        {"[fe80::1%eth0]:9080", "fe80::1%eth0", "9080"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *host = NULL, *port = NULL, err[256] = "unset";
        if (stet_authority_parse(good[i].authority, &host, &port, err, sizeof(err)) != 0)
            fail_msg("rejected '%s': %s", good[i].authority, err);
        assert_string_equal(host, good[i].host);
        assert_string_equal(port, good[i].port);
        assert_string_equal(err, "");
        free(host);
        free(port);
    }

    static const struct {
        const char *authority, *why;
    } bad[] = {
        {"", "empty (expected host:port)"},
        {":80", "empty host"},
        {"[]:80", "empty host"},
        {"host:", "empty port after ':'"},
        {"host:0", "port must be a number from 1 to 65535"},
        {"host:65536", "port must be a number from 1 to 65535"},
        {"host:8a", "port must be a number from 1 to 65535"},
        {"host:12x", "port must be a number from 1 to 65535"},
        {"host:-1", "port must be a number from 1 to 65535"},
        {"host:000080", "port must be a number from 1 to 65535"},
        {"::1:80", "an IPv6 address must be in brackets, as in [::1]:9080"},
        {"::1", "an IPv6 address must be in brackets, as in [::1]:9080"},
        {"[::1", "'[' without a closing ']'"},
        {"[::1]x", "only ':port' may follow ']'"},
        {"[::1]:", "empty port after ':'"},
        {"[::1]]:80", "only ':port' may follow ']'"},
        {"[localhost]:80", "'[...]' must hold an IPv6 address such as [::1]"},
        {"[1.2.3.4]:80", "'[...]' must hold an IPv6 address such as [::1]"},
        {"[::1 ]:80", "'[...]' must hold an IPv6 address such as [::1]"},
        {"[fe80::1%]:80", "'[...]' must hold an IPv6 address such as [::1]"},
        {"[fe80::1%a/b]:80", "'[...]' must hold an IPv6 address such as [::1]"},
        {"a/b:80", "'/' in the host (expected only host:port)"},
        {"user@host:80", "'@' in the host (expected only host:port)"},
        {"a?b:80", "'?' in the host (expected only host:port)"},
        {"a#b", "'#' in the host (expected only host:port)"},
        {"a]b:80", "']' in the host (expected only host:port)"},
        {"a b:80", "control character or space in the host"},
        {"a\tb:80", "control character or space in the host"},
        {"a\x7f:80", "control character or space in the host"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *host = (char *)"untouched", *port = (char *)"untouched", err[256] = "";
        assert_int_equal(stet_authority_parse(bad[i].authority, &host, &port, err, sizeof(err)), -EINVAL);
        assert_string_equal(host, "untouched");
        assert_string_equal(port, "untouched");
        char want[512];
        snprintf(want, sizeof(want), "invalid authority '%s': %s", bad[i].authority, bad[i].why);
        for (char *q = want; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q == 0x7f) *q = '?';
        assert_string_equal(err, want);
    }

    /* length limit; the message shows only the first 80 bytes */
    char long_host[STET_AUTHORITY_MAX + 2];
    memset(long_host, 'a', sizeof(long_host) - 1);
    long_host[sizeof(long_host) - 1] = '\0';
    char *host = NULL, *port = NULL, err[256];
    assert_int_equal(stet_authority_parse(long_host, &host, &port, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "longer than 1024 bytes"));
    assert_non_null(strstr(err, "aaa...'"));
    long_host[STET_AUTHORITY_MAX] = '\0';
    assert_int_equal(stet_authority_parse(long_host, &host, &port, NULL, 0), 0);
    assert_int_equal(strlen(host), STET_AUTHORITY_MAX);
    assert_string_equal(port, "80");
    free(host);
    free(port);
    /* err may be NULL or too small */
    assert_int_equal(stet_authority_parse("host:0", &host, &port, NULL, 0), -EINVAL);
    char small[8];
    assert_int_equal(stet_authority_parse("host:0", &host, &port, small, sizeof(small)), -EINVAL);
    assert_string_equal(small, "invalid");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_hmap_model),
        cmocka_unit_test(test_hmap_shrinks),
        cmocka_unit_test(test_log_filter),
        cmocka_unit_test(test_authority_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
