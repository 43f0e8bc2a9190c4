/* Metrics registry, Prometheus text renderer and format checker. See metrics.h.
 *
 * Design
 *   Families are kept in creation order (so the output is stable between scrapes), each
 *   with its series in creation order. A series stores its labels already rendered
 *   (`a="x",b="y"`), which is also its identity within the family. Lookups are linear:
 *   there are tens of families and series, looked up at start-up or once per scrape by
 *   collectors; hot paths keep the series pointer.
 *
 * Invariants: a family's type never changes; a histogram series' count equals the sum of
 *   its buckets; family and label names are valid Prometheus names.
 */
#include "metrics/metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"

#define MAX_LABEL_PAIRS 8
#define MAX_COLLECTORS 16

const double stet_histogram_bounds[STET_HISTOGRAM_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                              0.25,   0.5,   1,      2.5,   5,    10,    20,    30};

struct family;

struct stet_metric {
    struct family *family;
    char *labels; /* rendered, without braces; "" if none */
    double value;
    struct stet_histogram hist;
};

struct family {
    char *name;
    char *help;
    enum stet_metric_type type;
    struct stet_metric **series;
    size_t n, cap;
};

struct collector {
    stet_metrics_collect_cb cb;
    void *arg;
};

struct stet_metrics {
    struct family **families;
    size_t n, cap;
    struct collector collectors[MAX_COLLECTORS];
    size_t n_collectors;
};

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    STET_ASSERT(q != NULL);
    return q;
}

static char *xstrdup(const char *s) {
    char *c = strdup(s);
    STET_ASSERT(c != NULL);
    return c;
}

static bool valid_name(const char *s, bool allow_colon) {
    if (s == NULL || s[0] == '\0') return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = isalpha((unsigned char)c) || c == '_' || (allow_colon && c == ':') || (i > 0 && isdigit((unsigned char)c));
        if (!ok) return false;
    }
    return true;
}

void stet_histogram_observe(struct stet_histogram *h, double seconds) {
    if (!(seconds >= 0)) seconds = 0; /* NaN and negatives (clock steps) count as 0 */
    size_t i = 0;
    while (i < STET_HISTOGRAM_BUCKETS && seconds > stet_histogram_bounds[i]) i++;
    h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

int stet_metrics_create(struct stet_metrics **out) {
    struct stet_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL) return -ENOMEM;
    *out = m;
    return 0;
}

void stet_metrics_destroy(struct stet_metrics *m) {
    if (m == NULL) return;
    for (size_t i = 0; i < m->n; i++) {
        struct family *f = m->families[i];
        for (size_t j = 0; j < f->n; j++) {
            free(f->series[j]->labels);
            free(f->series[j]);
        }
        free(f->series);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->families);
    free(m);
}

struct stet_metrics *stet_metrics_global(void) {
    static struct stet_metrics *global;
    if (global == NULL) STET_ASSERT(stet_metrics_create(&global) == 0);
    return global;
}

static void escape_label_value(struct stet_buf *b, const char *v) {
    for (; *v; v++) {
        if (*v == '\\') stet_buf_append_str(b, "\\\\");
        else if (*v == '"') stet_buf_append_str(b, "\\\"");
        else if (*v == '\n') stet_buf_append_str(b, "\\n");
        else stet_buf_append_byte(b, (uint8_t)*v);
    }
}

struct stet_metric *stet_metrics_series(struct stet_metrics *m, enum stet_metric_type type, const char *name,
                                        const char *help, const char *const *labels) {
    STET_ASSERT(valid_name(name, true));
    struct stet_buf lb = STET_BUF_INIT;
    size_t pairs = 0;
    for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
        STET_ASSERT(labels[i + 1] != NULL);
        STET_ASSERT(valid_name(labels[i], false));
        STET_ASSERT(strcmp(labels[i], "le") != 0 || type != STET_METRIC_HISTOGRAM);
        STET_ASSERT(++pairs <= MAX_LABEL_PAIRS);
        if (lb.len) stet_buf_append_byte(&lb, ',');
        stet_buf_printf(&lb, "%s=\"", labels[i]);
        escape_label_value(&lb, labels[i + 1]);
        stet_buf_append_byte(&lb, '"');
    }
    stet_buf_append_byte(&lb, 0);

    struct family *f = NULL;
    for (size_t i = 0; i < m->n && f == NULL; i++)
        if (strcmp(m->families[i]->name, name) == 0) f = m->families[i];
    if (f == NULL) {
        f = calloc(1, sizeof(*f));
        STET_ASSERT(f != NULL);
        f->name = xstrdup(name);
        f->help = xstrdup(help ? help : "");
        f->type = type;
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 16;
            m->families = xrealloc(m->families, m->cap * sizeof(*m->families));
        }
        m->families[m->n++] = f;
    }
    STET_ASSERT(f->type == type);
    for (size_t j = 0; j < f->n; j++) {
        if (strcmp(f->series[j]->labels, (const char *)lb.data) == 0) {
            stet_buf_free(&lb);
            return f->series[j];
        }
    }
    struct stet_metric *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    s->family = f;
    s->labels = (char *)stet_buf_steal(&lb, &(size_t){0});
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->series = xrealloc(f->series, f->cap * sizeof(*f->series));
    }
    f->series[f->n++] = s;
    return s;
}

void stet_metric_add(struct stet_metric *s, double delta) {
    STET_ASSERT(s->family->type != STET_METRIC_HISTOGRAM);
    STET_ASSERT(s->family->type != STET_METRIC_COUNTER || delta >= 0);
    s->value += delta;
}

void stet_metric_set(struct stet_metric *s, double value) {
    STET_ASSERT(s->family->type != STET_METRIC_HISTOGRAM);
    s->value = value;
}

double stet_metric_value(const struct stet_metric *s) { return s->value; }

void stet_metric_observe(struct stet_metric *s, double seconds) {
    STET_ASSERT(s->family->type == STET_METRIC_HISTOGRAM);
    stet_histogram_observe(&s->hist, seconds);
}

void stet_metric_set_histogram(struct stet_metric *s, const struct stet_histogram *h) {
    STET_ASSERT(s->family->type == STET_METRIC_HISTOGRAM);
    uint64_t total = 0;
    for (size_t i = 0; i <= STET_HISTOGRAM_BUCKETS; i++) total += h->buckets[i];
    STET_ASSERT(total == h->count);
    s->hist = *h;
}

int stet_metrics_add_collector(struct stet_metrics *m, stet_metrics_collect_cb cb, void *arg) {
    if (m->n_collectors == MAX_COLLECTORS) return -ENOSPC;
    m->collectors[m->n_collectors++] = (struct collector){cb, arg};
    return 0;
}

void stet_metrics_remove_collector(struct stet_metrics *m, stet_metrics_collect_cb cb, void *arg) {
    for (size_t i = 0; i < m->n_collectors; i++) {
        if (m->collectors[i].cb == cb && m->collectors[i].arg == arg) {
            memmove(&m->collectors[i], &m->collectors[i + 1], (m->n_collectors - i - 1) * sizeof(m->collectors[0]));
            m->n_collectors--;
            return;
        }
    }
}

/* ---- process metrics ---- */

static double read_start_time_seconds(void) {
    /* field 22 of /proc/self/stat: start time in clock ticks since boot */
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    if (p == NULL) return 0;
    unsigned long long ticks = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok != NULL; tok = strtok(NULL, " ")) {
        if (++field == 22) {
            ticks = strtoull(tok, NULL, 10);
            break;
        }
    }
    f = fopen("/proc/stat", "r");
    if (f == NULL) return 0;
    unsigned long long btime = 0;
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1) break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)btime + (double)ticks / (double)hz : 0;
}

void stet_metrics_collect_process(void *arg, struct stet_metrics *m) {
    (void)arg;
    static double start_time;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        unsigned long long size = 0, resident = 0;
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, "process_resident_memory_bytes",
                                                "Resident memory size in bytes.", NULL),
                            (double)resident * (double)page);
            stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, "process_virtual_memory_bytes",
                                                "Virtual memory size in bytes.", NULL),
                            (double)size * (double)page);
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                     (double)ru.ru_stime.tv_usec / 1e6;
        stet_metric_set(stet_metrics_series(m, STET_METRIC_COUNTER, "process_cpu_seconds_total",
                                            "Total user and system CPU time spent in seconds.", NULL),
                        cpu);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        double fds = 0;
        for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, "process_open_fds", "Number of open file descriptors.",
                                            NULL),
                        fds - 1 /* the directory handle itself */);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, "process_max_fds",
                                            "Maximum number of open file descriptors.", NULL),
                        (double)rl.rlim_cur);
    if (start_time == 0) start_time = read_start_time_seconds();
    if (start_time > 0)
        stet_metric_set(stet_metrics_series(m, STET_METRIC_GAUGE, "process_start_time_seconds",
                                            "Start time of the process since unix epoch in seconds.", NULL),
                        start_time);
}

/* ---- rendering ---- */

static void render_value(struct stet_buf *b, double v) {
    if (isnan(v)) stet_buf_append_str(b, "NaN");
    else if (isinf(v)) stet_buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15) stet_buf_printf(b, "%.0f", v);
    else stet_buf_printf(b, "%.17g", v);
}

static void render_help(struct stet_buf *b, const char *help) {
    for (; *help; help++) {
        if (*help == '\\') stet_buf_append_str(b, "\\\\");
        else if (*help == '\n') stet_buf_append_str(b, "\\n");
        else stet_buf_append_byte(b, (uint8_t)*help);
    }
}

static void render_sample(struct stet_buf *b, const char *name, const char *suffix, const char *labels,
                          const char *extra_label, double v) {
    stet_buf_append_str(b, name);
    stet_buf_append_str(b, suffix);
    bool any = labels[0] != '\0' || extra_label != NULL;
    if (any) {
        stet_buf_append_byte(b, '{');
        stet_buf_append_str(b, labels);
        if (extra_label != NULL) {
            if (labels[0] != '\0') stet_buf_append_byte(b, ',');
            stet_buf_append_str(b, extra_label);
        }
        stet_buf_append_byte(b, '}');
    }
    stet_buf_append_byte(b, ' ');
    render_value(b, v);
    stet_buf_append_byte(b, '\n');
}

void stet_metrics_render(struct stet_metrics *m, struct stet_buf *out) {
    for (size_t i = 0; i < m->n_collectors; i++) m->collectors[i].cb(m->collectors[i].arg, m);
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < m->n; i++) {
        const struct family *f = m->families[i];
        if (f->n == 0) continue;
        stet_buf_printf(out, "# HELP %s ", f->name);
        render_help(out, f->help);
        stet_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (size_t j = 0; j < f->n; j++) {
            const struct stet_metric *s = f->series[j];
            if (f->type != STET_METRIC_HISTOGRAM) {
                render_sample(out, f->name, "", s->labels, NULL, s->value);
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t k = 0; k <= STET_HISTOGRAM_BUCKETS; k++) {
                cumulative += s->hist.buckets[k];
                char le[48];
                if (k < STET_HISTOGRAM_BUCKETS) snprintf(le, sizeof(le), "le=\"%g\"", stet_histogram_bounds[k]);
                else snprintf(le, sizeof(le), "le=\"+Inf\"");
                render_sample(out, f->name, "_bucket", s->labels, le, (double)cumulative);
            }
            render_sample(out, f->name, "_sum", s->labels, NULL, s->hist.sum);
            render_sample(out, f->name, "_count", s->labels, NULL, (double)s->hist.count);
        }
    }
}

/* ---- format checker ---- */

struct vfamily {
    char name[128];
    char type[16];
    bool has_help, has_type, has_samples, closed;
};

struct vseries {
    char key[700]; /* family name + labels (as written) without le */
    double last_le;
    double last_count;
    bool has_inf;
    double inf_count;
    double count; /* from _count, -1 if not seen */
    bool is_hist;
};

struct validator {
    struct vfamily *fams;
    size_t n_fams, cap_fams;
    struct vseries *series;
    size_t n_series, cap_series;
    char **seen; /* full sample identities, for duplicates */
    size_t n_seen, cap_seen;
    struct vfamily *current;
    char *err;
    size_t errlen;
    size_t line;
};

static int vfail(struct validator *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(struct validator *v, const char *fmt, ...) {
    if (v->err == NULL || v->errlen == 0) return -EINVAL;
    int n = snprintf(v->err, v->errlen, "line %zu: ", v->line);
    if (n < 0 || (size_t)n >= v->errlen) return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err + n, v->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static struct vfamily *vfamily_get(struct validator *v, const char *name, size_t n) {
    for (size_t i = 0; i < v->n_fams; i++)
        if (strlen(v->fams[i].name) == n && memcmp(v->fams[i].name, name, n) == 0) return &v->fams[i];
    if (n >= sizeof(v->fams[0].name)) return NULL;
    if (v->n_fams == v->cap_fams) {
        v->cap_fams = v->cap_fams ? v->cap_fams * 2 : 32;
        v->fams = xrealloc(v->fams, v->cap_fams * sizeof(*v->fams));
    }
    struct vfamily *f = &v->fams[v->n_fams++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, n);
    f->name[n] = '\0';
    return f;
}

static struct vfamily *vfamily_find(struct validator *v, const char *name, size_t n) {
    for (size_t i = 0; i < v->n_fams; i++)
        if (strlen(v->fams[i].name) == n && memcmp(v->fams[i].name, name, n) == 0) return &v->fams[i];
    return NULL;
}

/* Switching to family f closes the previous one: a family's lines must be contiguous. */
static int venter(struct validator *v, struct vfamily *f) {
    if (v->current == f) return 0;
    if (f->closed) return vfail(v, "metric family %s appears again after other families", f->name);
    if (v->current != NULL) v->current->closed = true;
    v->current = f;
    return 0;
}

static bool name_char(char c, bool first, bool colon) {
    return isalpha((unsigned char)c) || c == '_' || (colon && c == ':') || (!first && isdigit((unsigned char)c));
}

static size_t scan_name(const char *s, size_t len, bool colon) {
    size_t i = 0;
    while (i < len && name_char(s[i], i == 0, colon)) i++;
    return i;
}

static bool parse_float(const char *s, size_t n, double *out) {
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp)) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (strcmp(tmp, "NaN") == 0) { *out = NAN; return true; }
    if (strcmp(tmp, "+Inf") == 0 || strcmp(tmp, "Inf") == 0) { *out = INFINITY; return true; }
    if (strcmp(tmp, "-Inf") == 0) { *out = -INFINITY; return true; }
    for (size_t i = 0; i < n; i++)
        if (!(isdigit((unsigned char)tmp[i]) || strchr("+-.eE", tmp[i]) != NULL)) return false;
    char *end = NULL;
    *out = strtod(tmp, &end);
    return end == tmp + n;
}

static int vseries_hist(struct validator *v, const char *key, struct vseries **out) {
    for (size_t i = 0; i < v->n_series; i++)
        if (strcmp(v->series[i].key, key) == 0) {
            *out = &v->series[i];
            return 0;
        }
    if (v->n_series == v->cap_series) {
        v->cap_series = v->cap_series ? v->cap_series * 2 : 32;
        v->series = xrealloc(v->series, v->cap_series * sizeof(*v->series));
    }
    struct vseries *s = &v->series[v->n_series++];
    memset(s, 0, sizeof(*s));
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->last_le = -INFINITY;
    s->count = -1;
    *out = s;
    return 0;
}

static int validate_sample(struct validator *v, const char *s, size_t len) {
    size_t nl = scan_name(s, len, true);
    if (nl == 0) return vfail(v, "expected a metric name");
    char name[128];
    if (nl >= sizeof(name)) return vfail(v, "metric name too long");
    memcpy(name, s, nl);
    name[nl] = '\0';
    size_t i = nl;
    char labels[512] = "";
    size_t lo = 0;
    double le = NAN;
    bool has_le = false;
    char label_names[MAX_LABEL_PAIRS * 4][64];
    size_t n_labels = 0;
    if (i < len && s[i] == '{') {
        i++;
        for (;;) {
            if (i < len && s[i] == '}') { i++; break; }
            size_t ln = scan_name(s + i, len - i, false);
            if (ln == 0) return vfail(v, "expected a label name in %s", name);
            if (ln >= 64 || n_labels == STET_ARRAY_LEN(label_names)) return vfail(v, "too many or too long labels");
            for (size_t k = 0; k < n_labels; k++)
                if (strlen(label_names[k]) == ln && memcmp(label_names[k], s + i, ln) == 0)
                    return vfail(v, "duplicate label %.*s in %s", (int)ln, s + i, name);
            memcpy(label_names[n_labels], s + i, ln);
            label_names[n_labels++][ln] = '\0';
            bool is_le = ln == 2 && memcmp(s + i, "le", 2) == 0;
            const char *lname = s + i;
            i += ln;
            if (i + 1 >= len || s[i] != '=' || s[i + 1] != '"') return vfail(v, "expected =\" after a label name");
            i += 2;
            size_t vs = i;
            while (i < len && s[i] != '"') {
                if (s[i] == '\\') {
                    if (i + 1 >= len || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n'))
                        return vfail(v, "invalid escape in a label value");
                    i++;
                }
                i++;
            }
            if (i >= len) return vfail(v, "unterminated label value");
            if (is_le) {
                if (!parse_float(s + vs, i - vs, &le)) return vfail(v, "le=\"%.*s\" is not a number", (int)(i - vs), s + vs);
                has_le = true;
            } else {
                int w = snprintf(labels + lo, sizeof(labels) - lo, "%s%.*s=%.*s", lo ? "," : "", (int)ln, lname,
                                 (int)(i - vs), s + vs);
                if (w > 0 && (size_t)w < sizeof(labels) - lo) lo += (size_t)w;
            }
            i++; /* closing quote */
            if (i < len && s[i] == ',') { i++; continue; }
            if (i < len && s[i] == '}') { i++; break; }
            return vfail(v, "expected ',' or '}' in the labels of %s", name);
        }
    }
    if (i >= len || s[i] != ' ') return vfail(v, "expected a space before the value of %s", name);
    while (i < len && s[i] == ' ') i++;
    size_t vs = i;
    while (i < len && s[i] != ' ') i++;
    double value;
    if (!parse_float(s + vs, i - vs, &value)) return vfail(v, "invalid value '%.*s' for %s", (int)(i - vs), s + vs, name);
    while (i < len && s[i] == ' ') i++;
    if (i < len) { /* optional timestamp: an integer */
        for (size_t k = i; k < len; k++)
            if (!isdigit((unsigned char)s[k]) && !(k == i && s[k] == '-')) return vfail(v, "invalid timestamp");
    }

    /* which family? */
    struct vfamily *f = vfamily_find(v, name, nl);
    const char *suffix = "";
    if (f == NULL || !f->has_type) {
        static const char *const sfx[] = {"_bucket", "_sum", "_count"};
        for (size_t k = 0; k < STET_ARRAY_LEN(sfx); k++) {
            size_t sl = strlen(sfx[k]);
            if (nl > sl && strcmp(name + nl - sl, sfx[k]) == 0) {
                struct vfamily *g = vfamily_find(v, name, nl - sl);
                if (g != NULL && g->has_type && (strcmp(g->type, "histogram") == 0 || strcmp(g->type, "summary") == 0)) {
                    f = g;
                    suffix = sfx[k];
                }
            }
        }
    }
    if (f == NULL) f = vfamily_get(v, name, nl);
    if (f == NULL) return vfail(v, "metric name too long");
    int rc = venter(v, f);
    if (rc != 0) return rc;
    f->has_samples = true;
    bool hist = strcmp(f->type, "histogram") == 0;
    if (hist && suffix[0] == '\0') return vfail(v, "histogram %s needs _bucket, _sum or _count samples", f->name);
    if (strcmp(f->type, "counter") == 0 && value < 0) return vfail(v, "counter %s is negative", name);
    if (has_le && !(hist && strcmp(suffix, "_bucket") == 0)) return vfail(v, "label le on %s, which is not a histogram bucket", name);

    char ident[800];
    snprintf(ident, sizeof(ident), "%s{%s}%s", name, labels, has_le ? "" : "");
    if (has_le) {
        size_t il = strlen(ident);
        snprintf(ident + il, sizeof(ident) - il, "le=%.17g", le);
    }
    for (size_t k = 0; k < v->n_seen; k++)
        if (strcmp(v->seen[k], ident) == 0) return vfail(v, "duplicate sample %s", ident);
    if (v->n_seen == v->cap_seen) {
        v->cap_seen = v->cap_seen ? v->cap_seen * 2 : 64;
        v->seen = xrealloc(v->seen, v->cap_seen * sizeof(*v->seen));
    }
    v->seen[v->n_seen++] = xstrdup(ident);

    if (hist) {
        char key[700];
        snprintf(key, sizeof(key), "%s{%s}", f->name, labels);
        struct vseries *hs;
        vseries_hist(v, key, &hs);
        if (strcmp(suffix, "_bucket") == 0) {
            if (!has_le) return vfail(v, "histogram bucket %s without le", name);
            if (!(le > hs->last_le)) return vfail(v, "buckets of %s are not in increasing le order", key);
            if (value < hs->last_count) return vfail(v, "buckets of %s are not cumulative", key);
            hs->last_le = le;
            hs->last_count = value;
            if (isinf(le)) {
                hs->has_inf = true;
                hs->inf_count = value;
            }
        } else if (strcmp(suffix, "_count") == 0) {
            hs->count = value;
        }
        hs->is_hist = true;
    }
    return 0;
}

int stet_metrics_validate(const char *text, size_t len, char *err, size_t errlen) {
    struct validator v;
    memset(&v, 0, sizeof(v));
    v.err = err;
    v.errlen = errlen;
    if (err && errlen) err[0] = '\0';
    int rc = 0;
    size_t pos = 0;
    if (len > 0 && text[len - 1] != '\n') {
        v.line = 1;
        for (size_t k = 0; k < len; k++) v.line += text[k] == '\n';
        rc = vfail(&v, "the text must end with a newline");
    }
    while (rc == 0 && pos < len) {
        v.line++;
        const char *nlp = memchr(text + pos, '\n', len - pos);
        size_t ll = nlp ? (size_t)(nlp - (text + pos)) : len - pos;
        const char *s = text + pos;
        pos += ll + 1;
        if (ll == 0) continue;
        for (size_t k = 0; k < ll; k++)
            if (s[k] == '\0' || s[k] == '\r') {
                rc = vfail(&v, "control character in line");
                break;
            }
        if (rc != 0) break;
        if (s[0] == '#') {
            bool help = ll > 7 && memcmp(s, "# HELP ", 7) == 0;
            bool type = ll > 7 && memcmp(s, "# TYPE ", 7) == 0;
            if (!help && !type) continue; /* a comment */
            const char *n = s + 7;
            size_t rest = ll - 7;
            size_t nl = scan_name(n, rest, true);
            if (nl == 0 || (nl < rest && n[nl] != ' ') || (type && nl == rest)) {
                rc = vfail(&v, "malformed # %s line", help ? "HELP" : "TYPE");
                break;
            }
            struct vfamily *f = vfamily_get(&v, n, nl);
            if (f == NULL) {
                rc = vfail(&v, "metric name too long");
                break;
            }
            rc = venter(&v, f);
            if (rc != 0) break;
            if (help) {
                if (f->has_help) { rc = vfail(&v, "second HELP for %s", f->name); break; }
                f->has_help = true;
                for (size_t k = nl + 1; k < rest; k++) {
                    if (n[k] != '\\') continue;
                    if (k + 1 >= rest || (n[k + 1] != '\\' && n[k + 1] != 'n')) {
                        rc = vfail(&v, "invalid escape in HELP of %s", f->name);
                        break;
                    }
                    k++; /* the escaped character */
                }
                if (rc != 0) break;
            } else {
                if (f->has_type) { rc = vfail(&v, "second TYPE for %s", f->name); break; }
                if (f->has_samples) { rc = vfail(&v, "TYPE for %s after its samples", f->name); break; }
                const char *t = n + nl + 1;
                size_t tl = rest - nl - 1;
                static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
                bool ok = false;
                for (size_t k = 0; k < STET_ARRAY_LEN(types) && !ok; k++)
                    ok = strlen(types[k]) == tl && memcmp(types[k], t, tl) == 0;
                if (!ok) { rc = vfail(&v, "unknown type '%.*s' for %s", (int)tl, t, f->name); break; }
                memcpy(f->type, t, tl);
                f->type[tl] = '\0';
                f->has_type = true;
            }
            continue;
        }
        rc = validate_sample(&v, s, ll);
    }
    for (size_t i = 0; rc == 0 && i < v.n_series; i++) {
        const struct vseries *hs = &v.series[i];
        if (!hs->is_hist) continue;
        if (!hs->has_inf) rc = vfail(&v, "histogram %s has no le=\"+Inf\" bucket", hs->key);
        else if (hs->count < 0) rc = vfail(&v, "histogram %s has no _count", hs->key);
        else if (hs->count != hs->inf_count) rc = vfail(&v, "histogram %s: _count differs from the +Inf bucket", hs->key);
    }
    for (size_t i = 0; i < v.n_seen; i++) free(v.seen[i]);
    free(v.seen);
    free(v.fams);
    free(v.series);
    return rc;
}
