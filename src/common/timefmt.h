/* Durations, timestamps, percent-encoding and UTF-8 validation.
 *
 * Durations are milliseconds (uint64_t). The parser accepts the "friendly" format of the
 * jiff crate that Restate uses ("2h", "90s", "500ms", "1h 30m", "10 sec",
 * "1 hour 2 minutes", "1d", "1h30m", "1.5s") and ISO-8601 durations ("PT1M", "P1DT2H",
 * "PT0.5S"); fractions below 1 ms are truncated; a bare number without unit is rejected,
 * except the exact string "0" (Restate special-cases it). Years and months are rejected
 * ("please use units of days or smaller"), weeks are 7 days, days are 24 hours. Negative
 * spans ("-1s", "1s ago") are rejected unless zero.
 * Formatting matches what restate-server prints: friendly "1d 2h 3m 4s 5ms" and the ISO form
 * DataFusion uses for Duration(ms) in JSON ("PT86400S", "PT1.5S").
 * Timestamps are epoch milliseconds, UTC.
 */
#ifndef STET_TIMEFMT_H
#define STET_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Returns 0 or -EINVAL with a message in err (NUL-terminated when errlen > 0). Overflow of
 * u64 milliseconds is -EINVAL too. */
int stet_duration_parse(const char *s, size_t len, uint64_t *ms, char *err, size_t errlen);
/* Restate's friendly output: "1d", "1h", "30m", "1m 30s", "500ms", "0s", "1d 2h 3m 4s 5ms"
 * (units d,h,m,s,ms; zero components omitted). n >= 64 always suffices. */
void stet_duration_format_friendly(uint64_t ms, char *out, size_t n);
/* ISO form as DataFusion renders Duration(ms) as JSON (chrono's TimeDelta Display):
 * "PT86400S", fraction without trailing zeros as "PT1.5S" / "PT0.005S", zero as "P0D". */
void stet_duration_format_iso(uint64_t ms, char *out, size_t n);

/* Output buffers: n >= 40 always suffices. */
void stet_time_format_rfc3339_nanos(uint64_t epoch_ms, char *out, size_t n);  /* 2026-11-24T05:51:34.473000000Z */
void stet_time_format_rfc3339_millis(uint64_t epoch_ms, char *out, size_t n); /* 2026-11-24T05:51:28.254Z */
void stet_time_format_rfc3339_offset(uint64_t epoch_ms, char *out, size_t n); /* 2026-11-25T05:51:28.262+00:00 */
void stet_time_format_http_date(uint64_t epoch_ms, char *out, size_t n);      /* Tue, 24 Nov 2026 06:08:51 GMT */
/* Parses an RFC 3339 timestamp ("2026-11-24T05:51:28.254Z", offsets allowed, fraction
 * truncated to ms). Returns 0 or -EINVAL (also for times before 1970). */
int stet_time_parse_rfc3339(const char *s, size_t len, uint64_t *epoch_ms);

/* percent-decodes (no '+' to space) appending to out; -EINVAL on a bad escape or if the
 * result is not valid UTF-8 (out may then hold partial output). */
int stet_percent_decode(const char *s, size_t len, struct stet_buf *out);
void stet_percent_encode(const char *s, size_t len, struct stet_buf *out); /* encodeURIComponent rules */
bool stet_utf8_valid(const uint8_t *s, size_t len);
/* Decodes one UTF-8 sequence at s[0..len), len > 0. Returns its length (1..4) and sets *cp, or
 * returns -n where n >= 1 is the length of the maximal invalid subpart to replace with one
 * U+FFFD (the same replacement rule as Rust's String::from_utf8_lossy). Rejects overlongs,
 * surrogates and code points above U+10FFFF. */
int stet_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);
/* Appends the UTF-8 encoding of cp (<= 0x10FFFF, not a surrogate: asserted). */
void stet_utf8_append(struct stet_buf *out, uint32_t cp);

#endif
