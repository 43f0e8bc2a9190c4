/* Metrics: a registry of counters, gauges and fixed-bucket histograms rendered in the
 * Prometheus text exposition format (version 0.0.4), served as /metrics on the node port
 * (where restate-server serves it) and on the admin port.
 *
 * Model
 *   A family is a metric name with a type and a help text; a series is a family plus a set
 *   of label values. Series are created on first use and live as long as the registry, so
 *   the pointer returned by stet_metrics_series can be kept and updated on hot paths with
 *   no lookup. Modules that keep their own counters in a *_stats struct are read by a
 *   collector: a callback the registry runs before every render, which copies their values
 *   into series (stet_metric_set / stet_metric_set_histogram).
 *
 *   Histograms use one fixed set of latency buckets in seconds (stet_histogram_bounds,
 *   0.5 ms .. 30 s, plus +Inf). struct stet_histogram is a plain value that modules may
 *   embed in their stats and copy freely.
 *
 * Names follow STYLE.md §10: stet_<module>_<what>_<unit>, counters end in _total; the
 * process_* names are Prometheus' standard process metrics. Names and label names must
 * match [a-zA-Z_:][a-zA-Z0-9_:]* (checked with STET_ASSERT: they are compile-time strings);
 * label values are escaped when rendered.
 *
 * Threading: loop thread only. Ownership: create/destroy; stet_metrics_global() is a
 * process-wide registry created on first use and never freed. Allocation failure aborts
 * (as stet_buf does): metrics are created at start-up and scrapes are small.
 */
#ifndef STET_METRICS_H
#define STET_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum stet_metric_type {
    STET_METRIC_COUNTER,
    STET_METRIC_GAUGE,
    STET_METRIC_HISTOGRAM,
};

#define STET_HISTOGRAM_BUCKETS 16
/* Upper bounds in seconds: 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5
 * 10 20 30 (and +Inf after them). */
extern const double stet_histogram_bounds[STET_HISTOGRAM_BUCKETS];

struct stet_histogram {
    uint64_t buckets[STET_HISTOGRAM_BUCKETS + 1]; /* not cumulative; the last is +Inf */
    uint64_t count;
    double sum; /* seconds */
};

void stet_histogram_observe(struct stet_histogram *h, double seconds);

struct stet_metrics;
struct stet_metric; /* one series */

int stet_metrics_create(struct stet_metrics **out);
void stet_metrics_destroy(struct stet_metrics *m);
/* The process-wide registry (created on first call). */
struct stet_metrics *stet_metrics_global(void);

/* Finds or creates a series. labels: NULL or a NULL-terminated list of name, value, name,
 * value, ... (at most 8 pairs; values are copied). The first call for a name fixes its type
 * and help; a later call with another type is a programming error (assertion). The pointer
 * is valid until stet_metrics_destroy. */
struct stet_metric *stet_metrics_series(struct stet_metrics *m, enum stet_metric_type type, const char *name,
                                        const char *help, const char *const *labels);

void stet_metric_add(struct stet_metric *s, double delta);  /* counter (delta >= 0) or gauge */
void stet_metric_set(struct stet_metric *s, double value);  /* gauge, or a counter mirrored from a stats struct */
double stet_metric_value(const struct stet_metric *s);
void stet_metric_observe(struct stet_metric *s, double seconds);                     /* histogram */
void stet_metric_set_histogram(struct stet_metric *s, const struct stet_histogram *h); /* histogram */

/* Runs before every render; at most 16 collectors. Returns 0 or -ENOSPC. */
typedef void (*stet_metrics_collect_cb)(void *arg, struct stet_metrics *m);
int stet_metrics_add_collector(struct stet_metrics *m, stet_metrics_collect_cb cb, void *arg);
void stet_metrics_remove_collector(struct stet_metrics *m, stet_metrics_collect_cb cb, void *arg);

/* Standard process metrics from /proc and getrusage: process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_cpu_seconds_total, process_open_fds,
 * process_max_fds, process_start_time_seconds. A collector; arg is unused. */
void stet_metrics_collect_process(void *arg, struct stet_metrics *m);

/* Runs the collectors, then appends the exposition text to out: families in creation
 * order, each with # HELP and # TYPE, histograms as _bucket{le=...} (cumulative), _sum
 * and _count. */
void stet_metrics_render(struct stet_metrics *m, struct stet_buf *out);

/* The content type of the rendered text. */
#define STET_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Checks text against the exposition format (what `promtool check metrics` checks for
 * syntax): line grammar, names, label syntax and escapes, float values, one TYPE/HELP per
 * family before its samples, families not interleaved, histogram buckets cumulative with
 * a +Inf bucket equal to _count. Returns 0, or -EINVAL with "line N: what" in err. */
int stet_metrics_validate(const char *text, size_t len, char *err, size_t errlen);

#endif
