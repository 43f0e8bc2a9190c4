/* Logging and the always-on assertion handler. See log.h.
 *
 * The filter is kept as a small array of (target, level) directives; stet_log_level_current
 * is the highest level any module can log at, so the macros in log.h skip disabled calls
 * without formatting. stet_log_write then asks the filter for the module's own level.
 */
#include "common/log.h"
#include "common/assert.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#define LEVEL_OFF (-1)
#define MAX_DIRECTIVES 32
#define MAX_TARGET 64

enum stet_log_level stet_log_level_current = STET_LOG_INFO;

struct directive {
    char target[MAX_TARGET]; /* "" = default level */
    int level;
};

static struct directive directives[MAX_DIRECTIVES];
static size_t n_directives;
static bool have_filter; /* false: every module logs at stet_log_level_current */
static int log_json;

static const char *level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

static int parse_level(const char *s, size_t n, int *out) {
    static const char *names[] = {"error", "warn", "info", "debug", "trace"};
    for (size_t i = 0; i < STET_ARRAY_LEN(names); i++) {
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    if (n == 3 && strncasecmp(s, "off", 3) == 0) {
        *out = LEVEL_OFF;
        return 0;
    }
    return -EINVAL;
}

/* Parses filter into out[]; returns the count or -EINVAL with a reason. */
static int parse_filter(const char *filter, struct directive *out, size_t max, char *why, size_t whylen) {
    size_t n = 0;
    const char *p = filter;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        /* trim spaces */
        const char *d = p;
        size_t dl = len;
        while (dl > 0 && isspace((unsigned char)*d)) { d++; dl--; }
        while (dl > 0 && isspace((unsigned char)d[dl - 1])) dl--;
        if (dl > 0) {
            if (n == max) {
                if (why) snprintf(why, whylen, "more than %zu directives", max);
                return -EINVAL;
            }
            const char *eq = memchr(d, '=', dl);
            const char *lvl = eq ? eq + 1 : d;
            size_t ll = eq ? dl - (size_t)(eq - d) - 1 : dl;
            size_t tl = eq ? (size_t)(eq - d) : 0;
            int level;
            if (eq != NULL && tl == 0) {
                if (why) snprintf(why, whylen, "directive '%.*s' has no target before '='", (int)dl, d);
                return -EINVAL;
            }
            if (parse_level(lvl, ll, &level) != 0) {
                if (eq == NULL) {
                    if (why)
                        snprintf(why, whylen, "unknown level '%.*s'; levels are off, error, warn, info, debug, trace "
                                              "(or use target=level)", (int)dl, d);
                } else if (why) {
                    snprintf(why, whylen, "unknown level '%.*s' in directive '%.*s'; levels are off, error, warn, "
                                          "info, debug, trace", (int)ll, lvl, (int)dl, d);
                }
                return -EINVAL;
            }
            if (tl >= MAX_TARGET) {
                if (why) snprintf(why, whylen, "target '%.*s' is too long", (int)tl, d);
                return -EINVAL;
            }
            memcpy(out[n].target, d, tl);
            out[n].target[tl] = '\0';
            out[n].level = level;
            n++;
        }
        p += len;
        if (*p == ',') p++;
    }
    return (int)n;
}

/* How specifically target t names module m: 0 = not at all, 1 = all of stet, 2 = the module. */
static int target_match(const char *t, const char *m) {
    if (strcmp(t, "restate") == 0 || strcmp(t, "stet") == 0) return 1;
    static const char *const prefixes[] = {"restate_", "stet::", "stet_", "restate::"};
    for (size_t i = 0; i < STET_ARRAY_LEN(prefixes); i++) {
        size_t pl = strlen(prefixes[i]);
        if (strncmp(t, prefixes[i], pl) == 0 && strcmp(t + pl, m) == 0) return 2;
    }
    return 0;
}

static int module_level(const char *module) {
    if (!have_filter) return (int)stet_log_level_current;
    int best = 0, level = STET_LOG_ERROR;
    bool have_default = false;
    int def = STET_LOG_ERROR;
    for (size_t i = 0; i < n_directives; i++) {
        if (directives[i].target[0] == '\0') {
            have_default = true;
            def = directives[i].level; /* the last default wins */
            continue;
        }
        int m = target_match(directives[i].target, module);
        if (m > 0 && m >= best) {
            best = m;
            level = directives[i].level;
        }
    }
    if (best > 0) return level;
    return have_default ? def : STET_LOG_ERROR;
}

static void recompute_max(void) {
    int max = LEVEL_OFF;
    for (size_t i = 0; i < n_directives; i++) {
        const char *t = directives[i].target;
        bool ours = t[0] == '\0' || target_match(t, "") > 0 || strncmp(t, "restate", 7) == 0 || strncmp(t, "stet", 4) == 0;
        if (ours && directives[i].level > max) max = directives[i].level;
    }
    if (max < STET_LOG_ERROR) max = STET_LOG_ERROR; /* errors are checked again per module */
    stet_log_level_current = (enum stet_log_level)max;
}

void stet_log_set_level(enum stet_log_level level) {
    have_filter = false;
    n_directives = 0;
    stet_log_level_current = level;
}

int stet_log_filter_check(const char *filter, char *why, size_t whylen) {
    struct directive tmp[MAX_DIRECTIVES];
    if (why && whylen) why[0] = '\0';
    return parse_filter(filter, tmp, MAX_DIRECTIVES, why, whylen) < 0 ? -EINVAL : 0;
}

int stet_log_configure(const char *filter, const char *format) {
    if (format != NULL && strcasecmp(format, "json") != 0 && strcasecmp(format, "pretty") != 0 &&
        strcasecmp(format, "compact") != 0)
        return -EINVAL;
    if (filter != NULL) {
        struct directive tmp[MAX_DIRECTIVES];
        int n = parse_filter(filter, tmp, MAX_DIRECTIVES, NULL, 0);
        if (n < 0) return -EINVAL;
        memcpy(directives, tmp, sizeof(tmp[0]) * (size_t)n);
        n_directives = (size_t)n;
        have_filter = true;
        recompute_max();
    }
    if (format != NULL) log_json = strcasecmp(format, "json") == 0;
    return 0;
}

bool stet_log_enabled(enum stet_log_level level, const char *module) {
    return (int)level <= module_level(module);
}

int stet_log_init_from_env(void) {
    const char *fmt = getenv("RESTATE_LOG_FORMAT");
    if (fmt && *fmt && stet_log_configure(NULL, fmt) != 0) return -EINVAL;
    const char *filter = getenv("RESTATE_LOG_FILTER");
    if (!filter || !*filter) filter = getenv("RUST_LOG");
    if (!filter || !*filter) return 0;
    return stet_log_configure(filter, NULL);
}

static void json_escape(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
}

/* key=value tokens of the message become JSON fields (numbers stay numbers). */
static void json_fields(FILE *f, const char *msg) {
    const char *p = msg;
    while (*p) {
        while (*p == ' ') p++;
        const char *tok = p;
        while (*p && *p != ' ') p++;
        size_t tl = (size_t)(p - tok);
        const char *eq = memchr(tok, '=', tl);
        if (eq == NULL || eq == tok) continue;
        bool key_ok = true;
        for (const char *k = tok; k < eq; k++)
            key_ok = key_ok && (islower((unsigned char)*k) || isdigit((unsigned char)*k) || *k == '_');
        if (!key_ok || ((size_t)(eq - tok) == 7 && memcmp(tok, "message", 7) == 0)) continue;
        const char *v = eq + 1;
        size_t vl = tl - (size_t)(v - tok);
        bool num = vl > 0 && vl < 16 && !(vl > 1 && v[0] == '0');
        for (size_t i = 0; i < vl && num; i++) num = isdigit((unsigned char)v[i]);
        fputs(",\"", f);
        json_escape(f, tok, (size_t)(eq - tok));
        fputs("\":", f);
        if (num) {
            fwrite(v, 1, vl, f);
        } else {
            fputc('"', f);
            json_escape(f, v, vl);
            fputc('"', f);
        }
    }
}

void stet_log_write(enum stet_log_level level, const char *module, const char *fmt, ...) {
    if (have_filter && (int)level > module_level(module)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* one event, one line: fold any newline in the message */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    flockfile(stderr);
    if (log_json) {
        fprintf(stderr, "{\"timestamp\":\"%s\",\"level\":\"%s\",\"fields\":{\"message\":\"", ts, level_names[level]);
        json_escape(stderr, msg, strlen(msg));
        fputc('"', stderr);
        json_fields(stderr, msg);
        fputs("},\"target\":\"restate_", stderr);
        json_escape(stderr, module, strlen(module));
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %-5s restate_%s: %s\n", ts, level_names[level], module, msg);
    }
    funlockfile(stderr);
}

void stet_assert_fail(const char *expr, const char *file, int line, const char *func) {
    fprintf(stderr, "stet: assertion failed: %s at %s:%d (%s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
