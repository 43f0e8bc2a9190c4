/* Tests for src/common/log.c: RESTATE_LOG_FILTER directives per module, one line per event,
 * the JSON format. stderr is redirected to a temp file and read back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

static char out_path[64];
static int saved_stderr = -1;

static void capture_start(void) {
    snprintf(out_path, sizeof(out_path), "/tmp/stet-test-logging-XXXXXX");
    int fd = mkstemp(out_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Returns what was logged since capture_start (caller frees). */
static char *capture_end(void) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(out_path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    unlink(out_path);
    return buf;
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_filter_per_module(void **state) {
    (void)state;
    assert_int_equal(stet_log_configure("warn,restate=info,restate_invoker=debug,hyper=trace", "pretty"), 0);
    assert_int_equal(stet_log_level_current, STET_LOG_DEBUG);
    assert_true(stet_log_enabled(STET_LOG_INFO, "node"));
    assert_false(stet_log_enabled(STET_LOG_DEBUG, "node"));
    assert_true(stet_log_enabled(STET_LOG_DEBUG, "invoker"));
    assert_false(stet_log_enabled(STET_LOG_TRACE, "invoker"));
    capture_start();
    stet_debug("node", "hidden");
    stet_debug("invoker", "shown inv=inv_1 attempt=2");
    stet_info("node", "ready");
    stet_trace("invoker", "hidden too");
    char *out = capture_end();
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, " DEBUG restate_invoker: shown inv=inv_1 attempt=2\n"));
    assert_non_null(strstr(out, " INFO  restate_node: ready\n"));
    assert_null(strstr(out, "hidden"));
    free(out);

    /* the default level applies when no directive names stet; off silences a module */
    assert_int_equal(stet_log_configure("error,stet::ingress=off", NULL), 0);
    assert_false(stet_log_enabled(STET_LOG_WARN, "node"));
    assert_true(stet_log_enabled(STET_LOG_ERROR, "node"));
    assert_false(stet_log_enabled(STET_LOG_ERROR, "ingress"));
    /* a filter naming other targets only: errors still show */
    assert_int_equal(stet_log_configure("hyper=debug", NULL), 0);
    assert_true(stet_log_enabled(STET_LOG_ERROR, "node"));
    assert_false(stet_log_enabled(STET_LOG_WARN, "node"));
    /* bad filters are rejected and change nothing */
    assert_int_equal(stet_log_configure("restate=loud", NULL), -EINVAL);
    assert_int_equal(stet_log_configure("=info", NULL), -EINVAL);
    assert_int_equal(stet_log_configure(NULL, "xml"), -EINVAL);
    assert_false(stet_log_enabled(STET_LOG_WARN, "node"));
    char why[200];
    assert_int_equal(stet_log_filter_check("warn,restate=loud", why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "unknown level 'loud' in directive 'restate=loud'"));
    assert_int_equal(stet_log_filter_check("warn, restate=info ,", why, sizeof(why)), 0);
    stet_log_set_level(STET_LOG_INFO);
}

static void test_json_and_one_line(void **state) {
    (void)state;
    assert_int_equal(stet_log_configure("info", "json"), 0);
    capture_start();
    stet_info("partition", "leader partition=3 applied_lsn=42 note=\"x\" path=/a/b");
    stet_warn("node", "two\nlines");
    char *out = capture_end();
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, "\"level\":\"INFO\",\"fields\":{\"message\":\"leader partition=3 applied_lsn=42 "
                                "note=\\\"x\\\" path=/a/b\",\"partition\":3,\"applied_lsn\":42,\"note\":\"\\\"x\\\"\","
                                "\"path\":\"/a/b\"},\"target\":\"restate_partition\"}\n"));
    assert_non_null(strstr(out, "\"message\":\"two lines\""));
    assert_non_null(strstr(out, "{\"timestamp\":\""));
    free(out);
    assert_int_equal(stet_log_configure(NULL, "pretty"), 0);
    stet_log_set_level(STET_LOG_INFO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_per_module),
        cmocka_unit_test(test_json_and_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
