/* stet logging (STYLE.md §10).
 *
 * One line per event: `<rfc3339> <LEVEL> restate_<module>: <message>` where the message uses
 * key=value ids (inv=, partition=, lsn=). Never log per request or per message at info:
 * per-request lines are debug or trace.
 *
 * Filter (RESTATE_LOG_FILTER / log-filter, Restate's tracing EnvFilter syntax): directives
 * separated by ',', each `level` (the default for everything) or `target=level`. Levels:
 * off, error, warn, info, debug, trace. Targets that select stet modules: `restate` and
 * `stet` (every module), `restate_<module>` / `stet::<module>` / `stet_<module>` (one
 * module, e.g. restate_invoker=debug). Other targets (hyper, tower, ...) are accepted and
 * ignored. The most specific directive wins; without one a module logs at the default
 * level, and without a default at error. Restate's default is "warn,restate=info".
 *
 * Format (RESTATE_LOG_FORMAT / log-format): "pretty" and "compact" print the line above
 * (always one line, no ANSI codes); "json" prints one object per line in tracing's JSON
 * layout: {"timestamp","level","fields":{"message",<key=value pairs of the message>},
 * "target"}. Output goes to stderr.
 */
#ifndef STET_LOG_H
#define STET_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum stet_log_level {
    STET_LOG_ERROR = 0,
    STET_LOG_WARN = 1,
    STET_LOG_INFO = 2,
    STET_LOG_DEBUG = 3,
    STET_LOG_TRACE = 4,
};

extern enum stet_log_level stet_log_level_current;

/* Highest level any module logs at; the macros below skip formatting above it. */

/* Reads RESTATE_LOG_FILTER (or RUST_LOG) and RESTATE_LOG_FORMAT. Returns 0, or -EINVAL for
 * a bad filter (the previous filter stays). */
int stet_log_init_from_env(void);
/* Sets one level for every module (clears the filter). */
void stet_log_set_level(enum stet_log_level level);
/* Checks a filter; returns 0 or -EINVAL with the reason in why ("unknown level 'loud' in
 * directive 'restate=loud'; levels are off, error, warn, info, debug, trace"). */
int stet_log_filter_check(const char *filter, char *why, size_t whylen);
/* Applies a filter and a format ("pretty", "compact", "json"; NULL keeps the current one).
 * Returns 0 or -EINVAL (nothing changed). */
int stet_log_configure(const char *filter, const char *format);
/* Whether module logs at level (the filter's answer; the macros check the maximum first). */
bool stet_log_enabled(enum stet_log_level level, const char *module);

void stet_log_write(enum stet_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define stet_log(level, module, ...)                                   \
    do {                                                               \
        if ((level) <= stet_log_level_current)                         \
            stet_log_write((level), (module), __VA_ARGS__);            \
    } while (0)

#define stet_error(module, ...) stet_log(STET_LOG_ERROR, module, __VA_ARGS__)
#define stet_warn(module, ...) stet_log(STET_LOG_WARN, module, __VA_ARGS__)
#define stet_info(module, ...) stet_log(STET_LOG_INFO, module, __VA_ARGS__)
#define stet_debug(module, ...) stet_log(STET_LOG_DEBUG, module, __VA_ARGS__)
#define stet_trace(module, ...) stet_log(STET_LOG_TRACE, module, __VA_ARGS__)

#endif
