/* Logging and the always-on assertion handler. See log.h. */
#include "common/log.h"
#include "common/assert.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <time.h>
#include <sys/time.h>

enum stet_log_level stet_log_level_current = STET_LOG_INFO;
static int log_json;

static const char *level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void stet_log_set_level(enum stet_log_level level) { stet_log_level_current = level; }

static int parse_level(const char *s, size_t n, enum stet_log_level *out) {
    static const char *names[] = {"error", "warn", "info", "debug", "trace"};
    for (size_t i = 0; i < STET_ARRAY_LEN(names); i++) {
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0) {
            *out = (enum stet_log_level)i;
            return 0;
        }
    }
    if (n == 3 && strncasecmp(s, "off", 3) == 0) { *out = STET_LOG_ERROR; return 0; }
    return -EINVAL;
}

int stet_log_init_from_env(void) {
    const char *fmt = getenv("RESTATE_LOG_FORMAT");
    if (fmt && strcasecmp(fmt, "json") == 0) log_json = 1;
    const char *filter = getenv("RESTATE_LOG_FILTER");
    if (!filter || !*filter) return 0;
    /* Directives separated by ',': either `level` or `target=level`. The last directive
     * naming `restate`, `stet` or no target wins. */
    const char *p = filter;
    int rc = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        enum stet_log_level lvl;
        if (eq) {
            size_t tn = (size_t)(eq - p);
            int ours = (tn == 7 && strncmp(p, "restate", 7) == 0) || (tn == 4 && strncmp(p, "stet", 4) == 0);
            if (parse_level(eq + 1, n - tn - 1, &lvl) != 0) rc = -EINVAL;
            else if (ours) stet_log_level_current = lvl;
        } else if (n > 0) {
            if (parse_level(p, n, &lvl) != 0) rc = -EINVAL;
            else stet_log_level_current = lvl;
        }
        p += n;
        if (*p == ',') p++;
    }
    return rc;
}

static void json_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
}

void stet_log_write(enum stet_log_level level, const char *module, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    if (log_json) {
        fprintf(stderr, "{\"timestamp\":\"%s\",\"level\":\"%s\",\"target\":\"stet::%s\",\"message\":\"", ts,
                level_names[level], module);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %-5s %s: %s\n", ts, level_names[level], module, msg);
    }
}

void stet_assert_fail(const char *expr, const char *file, int line, const char *func) {
    fprintf(stderr, "stet: assertion failed: %s at %s:%d (%s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
