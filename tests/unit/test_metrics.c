/* Tests for src/metrics: series identity, rendering (names, labels, escapes, histograms),
 * collectors, process metrics, and the exposition-format checker (which must reject the
 * mistakes promtool rejects). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/metrics.h"

static char *render(struct stet_metrics *m) {
    struct stet_buf b = STET_BUF_INIT;
    stet_metrics_render(m, &b);
    stet_buf_append_byte(&b, 0);
    return (char *)stet_buf_steal(&b, &(size_t){0});
}

static void assert_valid(const char *text) {
    char err[256];
    if (stet_metrics_validate(text, strlen(text), err, sizeof(err)) != 0) fail_msg("%s\n---\n%s", err, text);
}

static void assert_invalid(const char *text, const char *needle) {
    char err[256];
    int rc = stet_metrics_validate(text, strlen(text), err, sizeof(err));
    if (rc == 0) fail_msg("accepted:\n%s", text);
    assert_int_equal(rc, -EINVAL);
    if (strstr(err, needle) == NULL) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_counters_gauges(void **state) {
    (void)state;
    struct stet_metrics *m;
    assert_int_equal(stet_metrics_create(&m), 0);
    const char *ok[] = {"status", "2xx", NULL};
    const char *bad[] = {"status", "5xx", NULL};
    struct stet_metric *a = stet_metrics_series(m, STET_METRIC_COUNTER, "stet_ingress_requests_total",
                                                "Ingress requests\nby status \\ class", ok);
    struct stet_metric *b = stet_metrics_series(m, STET_METRIC_COUNTER, "stet_ingress_requests_total", "ignored", bad);
    assert_ptr_equal(a, stet_metrics_series(m, STET_METRIC_COUNTER, "stet_ingress_requests_total", NULL, ok));
    assert_ptr_not_equal(a, b);
    stet_metric_add(a, 3);
    stet_metric_add(b, 1);
    const char *weird[] = {"path", "a\"b\\c\nd", NULL};
    struct stet_metric *g = stet_metrics_series(m, STET_METRIC_GAUGE, "stet_test_gauge", "A gauge.", weird);
    stet_metric_set(g, -2.5);
    stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, "stet_big", "Big.", NULL), 1e20);
    char *out = render(m);
    assert_string_equal(out, "# HELP stet_ingress_requests_total Ingress requests\\nby status \\\\ class\n"
                             "# TYPE stet_ingress_requests_total counter\n"
                             "stet_ingress_requests_total{status=\"2xx\"} 3\n"
                             "stet_ingress_requests_total{status=\"5xx\"} 1\n"
                             "# HELP stet_test_gauge A gauge.\n"
                             "# TYPE stet_test_gauge gauge\n"
                             "stet_test_gauge{path=\"a\\\"b\\\\c\\nd\"} -2.5\n"
                             "# HELP stet_big Big.\n"
                             "# TYPE stet_big gauge\n"
                             "stet_big 1e+20\n");
    assert_valid(out);
    assert_true(stet_metric_value(a) == 3);
    free(out);
    stet_metrics_destroy(m);
}

static void test_histogram(void **state) {
    (void)state;
    struct stet_histogram h;
    memset(&h, 0, sizeof(h));
    stet_histogram_observe(&h, 0.0001); /* first bucket */
    stet_histogram_observe(&h, 0.0005); /* le is inclusive */
    stet_histogram_observe(&h, 0.003);
    stet_histogram_observe(&h, 100);    /* +Inf */
    stet_histogram_observe(&h, -1);     /* clamps to 0 */
    stet_histogram_observe(&h, NAN);
    assert_int_equal(h.count, 6);
    assert_int_equal(h.buckets[0], 4);
    assert_int_equal(h.buckets[3], 1);
    assert_int_equal(h.buckets[STET_HISTOGRAM_BUCKETS], 1);

    struct stet_metrics *m;
    assert_int_equal(stet_metrics_create(&m), 0);
    const char *l[] = {"op", "commit", NULL};
    struct stet_metric *s = stet_metrics_series(m, STET_METRIC_HISTOGRAM, "stet_log_commit_duration_seconds",
                                                "Commit latency.", l);
    stet_metric_set_histogram(s, &h);
    stet_metric_observe(s, 0.02);
    char *out = render(m);
    assert_valid(out);
    assert_non_null(strstr(out, "# TYPE stet_log_commit_duration_seconds histogram\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_bucket{op=\"commit\",le=\"0.0005\"} 4\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_bucket{op=\"commit\",le=\"0.005\"} 5\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_bucket{op=\"commit\",le=\"0.025\"} 6\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_bucket{op=\"commit\",le=\"30\"} 6\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_bucket{op=\"commit\",le=\"+Inf\"} 7\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_count{op=\"commit\"} 7\n"));
    assert_non_null(strstr(out, "stet_log_commit_duration_seconds_sum{op=\"commit\"} 100.0236"));
    free(out);
    stet_metrics_destroy(m);
}

struct collect_state {
    int calls;
};

static void collect(void *arg, struct stet_metrics *m) {
    struct collect_state *c = arg;
    c->calls++;
    stet_metric_set(stet_metrics_series(m, STET_METRIC_COUNTER, "stet_collected_total", "Collected.", NULL), c->calls);
}

static void test_collectors_and_process(void **state) {
    (void)state;
    struct stet_metrics *m;
    assert_int_equal(stet_metrics_create(&m), 0);
    struct collect_state c = {0};
    assert_int_equal(stet_metrics_add_collector(m, collect, &c), 0);
    assert_int_equal(stet_metrics_add_collector(m, stet_metrics_collect_process, NULL), 0);
    char *out1 = render(m);
    char *out2 = render(m);
    assert_int_equal(c.calls, 2);
    assert_non_null(strstr(out1, "stet_collected_total 1\n"));
    assert_non_null(strstr(out2, "stet_collected_total 2\n"));
    assert_valid(out2);
    const char *rss = strstr(out2, "\nprocess_resident_memory_bytes ");
    assert_non_null(rss);
    assert_true(strtod(rss + 31, NULL) > 1e5);
    assert_non_null(strstr(out2, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(out2, "\nprocess_open_fds "));
    assert_non_null(strstr(out2, "\nprocess_start_time_seconds "));
    stet_metrics_remove_collector(m, collect, &c);
    free(render(m));
    assert_int_equal(c.calls, 2);
    free(out1);
    free(out2);
    for (int i = 0; i < 15; i++) (void)stet_metrics_add_collector(m, collect, &c);
    assert_int_equal(stet_metrics_add_collector(m, collect, &c), -ENOSPC);
    stet_metrics_destroy(m);
    assert_ptr_equal(stet_metrics_global(), stet_metrics_global());
}

static void test_validator(void **state) {
    (void)state;
    assert_valid("");
    assert_valid("# a comment\nup 1\n\nx_total{a=\"b\"} 2 1700000000000\n");
    assert_valid("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n");
    assert_invalid("up 1", "end with a newline");
    assert_invalid("1up 1\n", "line 1: expected a metric name");
    assert_invalid("up{a=b} 1\n", "expected =\"");
    assert_invalid("up{a=\"b\",a=\"c\"} 1\n", "duplicate label a");
    assert_invalid("up{a=\"\\x\"} 1\n", "invalid escape");
    assert_invalid("up{a=\"b\" 1\n", "expected ',' or '}'");
    assert_invalid("up one\n", "invalid value 'one'");
    assert_invalid("up 1\nup 2\n", "line 2: duplicate sample");
    assert_invalid("# TYPE up gauge\n# TYPE up gauge\n", "second TYPE");
    assert_invalid("# TYPE up gaugee\n", "unknown type 'gaugee'");
    assert_invalid("up 1\n# TYPE up gauge\n", "after its samples");
    assert_invalid("a 1\nb 1\na{x=\"1\"} 1\n", "appears again");
    assert_invalid("# TYPE c counter\nc -1\n", "is negative");
    assert_invalid("# TYPE h histogram\nh 1\n", "needs _bucket");
    assert_invalid("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "not cumulative");
    assert_invalid("# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n", "increasing le");
    assert_invalid("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n", "no le=\"+Inf\"");
    assert_invalid("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 2\n", "_count differs");
    assert_invalid("# TYPE g gauge\ng{le=\"1\"} 1\n", "label le on g");
    assert_invalid("# HELP g bad \\q escape\n", "invalid escape in HELP");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_gauges),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_collectors_and_process),
        cmocka_unit_test(test_validator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
