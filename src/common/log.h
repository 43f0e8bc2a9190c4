/* stet logging (STYLE.md §10).
 *
 * One line per event: `<rfc3339> <LEVEL> <module>: <message>` where the message uses
 * key=value ids (inv=, partition=, lsn=). Never log per message on a hot path at info.
 * The level comes from RESTATE_LOG_FILTER (error|warn|info|debug|trace, or
 * `restate=info`-style directives whose last level wins); RESTATE_LOG_FORMAT=json
 * switches to one JSON object per line. Output goes to stderr.
 */
#ifndef STET_LOG_H
#define STET_LOG_H

enum stet_log_level {
    STET_LOG_ERROR = 0,
    STET_LOG_WARN = 1,
    STET_LOG_INFO = 2,
    STET_LOG_DEBUG = 3,
    STET_LOG_TRACE = 4,
};

extern enum stet_log_level stet_log_level_current;

/* Reads RESTATE_LOG_FILTER / RESTATE_LOG_FORMAT. Returns 0, or -EINVAL for a bad filter. */
int stet_log_init_from_env(void);
void stet_log_set_level(enum stet_log_level level);

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
