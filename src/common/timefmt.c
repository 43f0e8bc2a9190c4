/* Durations, timestamps, percent-encoding and UTF-8 (see timefmt.h).
 *
 * Duration parsing follows the two syntaxes jiff's `Span::from_str` accepts, which is what
 * restate-server uses for every duration it reads (restate_time_util::FriendlyDuration):
 *
 *   friendly   sign? unit+ ("ago")?          e.g. "1h 30m", "3 days, 4 hours", "1.5s",
 *              where unit = [0-9]+ fraction? ws* label, labels in decreasing order, each
 *              at most once, a fraction only on the last unit and only for hours or smaller,
 *              units separated by ws* or ", "; after a days/weeks unit "HH:MM:SS[.f]" may
 *              follow, and "HH:MM:SS[.f]" alone is valid too.
 *   ISO 8601   sign? P (nY)? (nM)? (nW)? (nD)? (T (nH)? (nM)? (nS)?)?  designators in any case,
 *              a fraction only on the smallest time unit given.
 *
 * Everything is accumulated in nanoseconds as unsigned __int128, so no intermediate value can
 * overflow; the result is truncated to milliseconds and must fit a u64.
 * Restate then rejects years/months ("please use units of days or smaller") and treats days as
 * 24 hours and weeks as 7 days. The exact input "0" is accepted as zero.
 *
 * Formatting mirrors restate: the friendly printer is jiff's compact designators with units
 * up to days ("1d 2h 3m 4s 5ms"); the ISO printer mirrors chrono's TimeDelta Display used by
 * arrow for Duration columns.
 */
#include "common/timefmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/assert.h"

typedef unsigned __int128 u128;

#define NS_PER_MS ((u128)1000000)
#define NS_PER_S ((u128)1000000000)

/* Units in decreasing order; the index is the "rank" used for ordering checks. */
enum unit {
    UNIT_YEAR,
    UNIT_MONTH,
    UNIT_WEEK,
    UNIT_DAY,
    UNIT_HOUR,
    UNIT_MINUTE,
    UNIT_SECOND,
    UNIT_MILLI,
    UNIT_MICRO,
    UNIT_NANO,
};

static const char *const unit_names[] = {"years",   "months",  "weeks",        "days",         "hours",
                                         "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds"};

/* Nanoseconds per unit; years and months have no fixed length (rejected if non-zero). */
static const u128 unit_ns[] = {
    0, 0, (u128)7 * 86400 * 1000000000ULL, (u128)86400 * 1000000000ULL, (u128)3600 * 1000000000ULL,
    (u128)60 * 1000000000ULL, 1000000000ULL, 1000000ULL, 1000ULL, 1ULL,
};

struct label {
    const char *text;
    enum unit unit;
};

/* jiff's labels (fmt/friendly/parser_label.rs); matched longest first. */
static const struct label labels[] = {
    {"years", UNIT_YEAR},
    {"year", UNIT_YEAR},
    {"yrs", UNIT_YEAR},
    {"yr", UNIT_YEAR},
    {"y", UNIT_YEAR},
    {"months", UNIT_MONTH},
    {"month", UNIT_MONTH},
    {"mos", UNIT_MONTH},
    {"mo", UNIT_MONTH},
    {"weeks", UNIT_WEEK},
    {"week", UNIT_WEEK},
    {"wks", UNIT_WEEK},
    {"wk", UNIT_WEEK},
    {"w", UNIT_WEEK},
    {"days", UNIT_DAY},
    {"day", UNIT_DAY},
    {"d", UNIT_DAY},
    {"hours", UNIT_HOUR},
    {"hour", UNIT_HOUR},
    {"hrs", UNIT_HOUR},
    {"hr", UNIT_HOUR},
    {"h", UNIT_HOUR},
    {"minutes", UNIT_MINUTE},
    {"minute", UNIT_MINUTE},
    {"mins", UNIT_MINUTE},
    {"min", UNIT_MINUTE},
    {"m", UNIT_MINUTE},
    {"seconds", UNIT_SECOND},
    {"second", UNIT_SECOND},
    {"secs", UNIT_SECOND},
    {"sec", UNIT_SECOND},
    {"s", UNIT_SECOND},
    {"milliseconds", UNIT_MILLI},
    {"millisecond", UNIT_MILLI},
    {"millis", UNIT_MILLI},
    {"milli", UNIT_MILLI},
    {"msecs", UNIT_MILLI},
    {"msec", UNIT_MILLI},
    {"ms", UNIT_MILLI},
    {"microseconds", UNIT_MICRO},
    {"microsecond", UNIT_MICRO},
    {"micros", UNIT_MICRO},
    {"micro", UNIT_MICRO},
    {"usecs", UNIT_MICRO},
    {"usec", UNIT_MICRO},
    {"\xc2\xb5secs", UNIT_MICRO},
    {"\xc2\xb5sec", UNIT_MICRO},
    {"us", UNIT_MICRO},
    {"\xc2\xb5s", UNIT_MICRO},
    {"nanoseconds", UNIT_NANO},
    {"nanosecond", UNIT_NANO},
    {"nanos", UNIT_NANO},
    {"nano", UNIT_NANO},
    {"nsecs", UNIT_NANO},
    {"nsec", UNIT_NANO},
    {"ns", UNIT_NANO},
};

/* The largest accepted total: u64 milliseconds. */
#define TOTAL_NS_MAX ((u128)UINT64_MAX * NS_PER_MS + (NS_PER_MS - 1))

struct dparse {
    const char *s;
    size_t len;
    size_t pos;
    const char *format; /* "friendly" or "ISO 8601" for messages */
    char *err;
    size_t errlen;
    u128 total_ns;
    bool has_years_or_months;
};

static int dparse_fail(struct dparse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int dparse_fail(struct dparse *p, const char *fmt, ...) {
    if (p->err != NULL && p->errlen > 0) {
        char detail[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        int shown = p->len > 64 ? 64 : (int)p->len;
        snprintf(p->err, p->errlen, "failed to parse \"%.*s%s\" in the \"%s\" format: %s", shown, p->s,
                 p->len > 64 ? "..." : "", p->format, detail);
    }
    return -EINVAL;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

static char peek(const struct dparse *p) { return p->pos < p->len ? p->s[p->pos] : '\0'; }

static bool at_end(const struct dparse *p) { return p->pos >= p->len; }

static void skip_ws(struct dparse *p) {
    while (!at_end(p) && is_ws(p->s[p->pos])) p->pos++;
}

/* [0-9]+ into *v; rejects values that do not fit in u64. */
static int parse_integer(struct dparse *p, uint64_t *v) {
    if (!is_digit(peek(p))) return dparse_fail(p, "expected a number at offset %zu", p->pos);
    uint64_t acc = 0;
    while (is_digit(peek(p))) {
        unsigned d = (unsigned)(p->s[p->pos] - '0');
        if (acc > (UINT64_MAX - d) / 10) return dparse_fail(p, "number too big at offset %zu", p->pos);
        acc = acc * 10 + d;
        p->pos++;
    }
    *v = acc;
    return 0;
}

/* fraction = ('.' | ',') [0-9]{1,9}. On success *nanos is the fraction scaled to 9 digits. */
static int parse_fraction(struct dparse *p, bool *present, uint32_t *nanos) {
    *present = false;
    *nanos = 0;
    char c = peek(p);
    if (c != '.' && c != ',') return 0;
    /* In the friendly format ", " separates units; a comma is a decimal separator only when a
     * digit follows directly. */
    if (p->pos + 1 >= p->len || !is_digit(p->s[p->pos + 1])) {
        if (c == ',') return 0;
        return dparse_fail(p, "expected fractional digits after '.' at offset %zu", p->pos);
    }
    p->pos++;
    uint32_t value = 0;
    int digits = 0;
    while (is_digit(peek(p))) {
        if (digits == 9) return dparse_fail(p, "too many fractional digits (at most 9) at offset %zu", p->pos);
        value = value * 10 + (uint32_t)(p->s[p->pos] - '0');
        digits++;
        p->pos++;
    }
    for (int i = digits; i < 9; i++) value *= 10;
    *present = true;
    *nanos = value;
    return 0;
}

static int add_ns(struct dparse *p, u128 ns) {
    p->total_ns += ns;
    if (p->total_ns > TOTAL_NS_MAX) return dparse_fail(p, "duration is too large");
    return 0;
}

static int add_unit(struct dparse *p, enum unit unit, uint64_t value, bool has_fraction, uint32_t fraction_ns) {
    if (unit == UNIT_YEAR || unit == UNIT_MONTH) {
        if (value != 0 || (has_fraction && fraction_ns != 0)) p->has_years_or_months = true;
        return 0;
    }
    /* value < 2^64 and unit_ns < 2^63: the product fits in 128 bits. */
    u128 ns = (u128)value * unit_ns[unit];
    if (ns > TOTAL_NS_MAX) return dparse_fail(p, "duration is too large");
    if (has_fraction) ns += (u128)fraction_ns * unit_ns[unit] / NS_PER_S;
    return add_ns(p, ns);
}

/* HH:MM:SS[.fffffffff], the caller has seen [0-9]+ ':' ahead. */
static int parse_hms(struct dparse *p) {
    uint64_t hours = 0, minutes = 0, seconds = 0;
    int rc = parse_integer(p, &hours);
    if (rc != 0) return rc;
    if (peek(p) != ':') return dparse_fail(p, "expected ':' at offset %zu", p->pos);
    p->pos++;
    if ((rc = parse_integer(p, &minutes)) != 0) return rc;
    if (peek(p) != ':') return dparse_fail(p, "expected ':' at offset %zu", p->pos);
    p->pos++;
    if ((rc = parse_integer(p, &seconds)) != 0) return rc;
    if (minutes > 59) return dparse_fail(p, "minute value %llu is out of range 0..=59", (unsigned long long)minutes);
    if (seconds > 59) return dparse_fail(p, "second value %llu is out of range 0..=59", (unsigned long long)seconds);
    bool has_fraction;
    uint32_t fraction_ns;
    if ((rc = parse_fraction(p, &has_fraction, &fraction_ns)) != 0) return rc;
    if ((rc = add_unit(p, UNIT_HOUR, hours, false, 0)) != 0) return rc;
    if ((rc = add_unit(p, UNIT_MINUTE, minutes, false, 0)) != 0) return rc;
    return add_unit(p, UNIT_SECOND, seconds, has_fraction, fraction_ns);
}

/* True when s[pos..] starts with [0-9]+ ':' */
static bool looks_like_hms(const struct dparse *p) {
    size_t i = p->pos;
    if (i >= p->len || !is_digit(p->s[i])) return false;
    while (i < p->len && is_digit(p->s[i])) i++;
    return i < p->len && p->s[i] == ':';
}

static int parse_label(struct dparse *p, enum unit *unit) {
    const struct label *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < STET_ARRAY_LEN(labels); i++) {
        size_t n = strlen(labels[i].text);
        if (n > best_len && p->len - p->pos >= n && memcmp(p->s + p->pos, labels[i].text, n) == 0) {
            best = &labels[i];
            best_len = n;
        }
    }
    if (best == NULL) {
        if (at_end(p))
            return dparse_fail(p, "expected to find unit designator suffix (e.g., 'years' or 'secs') after "
                                  "parsing integer");
        return dparse_fail(p, "expected to find unit designator suffix (e.g., 'years' or 'secs'), but found input "
                              "beginning with \"%.*s\" instead",
                           (int)(p->len - p->pos > 8 ? 8 : p->len - p->pos), p->s + p->pos);
    }
    p->pos += best_len;
    *unit = best->unit;
    return 0;
}

static int parse_friendly(struct dparse *p, bool *negative) {
    int rc;
    bool has_sign = false;
    if (peek(p) == '+' || peek(p) == '-') {
        *negative = peek(p) == '-';
        has_sign = true;
        p->pos++;
        skip_ws(p);
    }
    if (at_end(p)) return dparse_fail(p, "an empty string is not a valid duration");
    if (looks_like_hms(p)) {
        if ((rc = parse_hms(p)) != 0) return rc;
    } else {
        int previous = -1;
        for (;;) {
            uint64_t value;
            bool has_fraction;
            uint32_t fraction_ns;
            enum unit unit = UNIT_NANO;
            size_t unit_start = p->pos;
            if ((rc = parse_integer(p, &value)) != 0) return rc;
            if ((rc = parse_fraction(p, &has_fraction, &fraction_ns)) != 0) return rc;
            skip_ws(p);
            if ((rc = parse_label(p, &unit)) != 0) return rc;
            if ((int)unit <= previous)
                return dparse_fail(p, "found value with unit %s after unit %s at offset %zu", unit_names[unit],
                                   unit_names[previous], unit_start);
            if (has_fraction && unit < UNIT_HOUR)
                return dparse_fail(p, "fractional %s are not supported", unit_names[unit]);
            if ((rc = add_unit(p, unit, value, has_fraction, fraction_ns)) != 0) return rc;
            previous = (int)unit;
            /* comma? ws* */
            size_t before_separator = p->pos;
            if (peek(p) == ',' && p->pos + 1 < p->len && is_ws(p->s[p->pos + 1])) p->pos++;
            skip_ws(p);
            if (!is_digit(peek(p))) {
                p->pos = before_separator;
                break;
            }
            if (has_fraction)
                return dparse_fail(p, "found a unit after the fractional %s at offset %zu", unit_names[unit],
                                   p->pos);
            if (looks_like_hms(p)) {
                if (unit > UNIT_DAY) return dparse_fail(p, "HH:MM:SS is only allowed after days or bigger units");
                if ((rc = parse_hms(p)) != 0) return rc;
                break;
            }
        }
    }
    /* direction = ws 'ago' (only without a sign) */
    size_t before_direction = p->pos;
    skip_ws(p);
    if (p->pos > before_direction && p->len - p->pos >= 3 && memcmp(p->s + p->pos, "ago", 3) == 0) {
        if (has_sign) return dparse_fail(p, "a sign and 'ago' cannot be combined");
        p->pos += 3;
        *negative = true;
        skip_ws(p);
    }
    if (!at_end(p))
        return dparse_fail(p, "parsed the duration, but unparsed input \"%.*s\" remains",
                           (int)(p->len - p->pos > 16 ? 16 : p->len - p->pos), p->s + p->pos);
    return 0;
}

static char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; }

static int parse_iso(struct dparse *p, bool *negative) {
    int rc;
    if (peek(p) == '+' || peek(p) == '-') {
        *negative = peek(p) == '-';
        p->pos++;
    }
    if (upper(peek(p)) != 'P') return dparse_fail(p, "expected 'P' at offset %zu", p->pos);
    p->pos++;
    static const char date_designators[] = {'Y', 'M', 'W', 'D'};
    static const enum unit date_units[] = {UNIT_YEAR, UNIT_MONTH, UNIT_WEEK, UNIT_DAY};
    static const char time_designators[] = {'H', 'M', 'S'};
    static const enum unit time_units[] = {UNIT_HOUR, UNIT_MINUTE, UNIT_SECOND};
    int units = 0;
    int next = 0;
    while (is_digit(peek(p))) {
        uint64_t value;
        if ((rc = parse_integer(p, &value)) != 0) return rc;
        char d = upper(peek(p));
        if (d == '.' || d == ',') return dparse_fail(p, "fractional date units are not supported");
        int i = next;
        while (i < 4 && date_designators[i] != d) i++;
        if (i == 4) return dparse_fail(p, "expected a date designator (Y, M, W or D) at offset %zu", p->pos);
        p->pos++;
        if ((rc = add_unit(p, date_units[i], value, false, 0)) != 0) return rc;
        next = i + 1;
        units++;
    }
    if (upper(peek(p)) == 'T') {
        p->pos++;
        int time_units_seen = 0;
        next = 0;
        while (is_digit(peek(p))) {
            uint64_t value;
            bool has_fraction;
            uint32_t fraction_ns;
            if ((rc = parse_integer(p, &value)) != 0) return rc;
            if ((rc = parse_fraction(p, &has_fraction, &fraction_ns)) != 0) return rc;
            char d = upper(peek(p));
            int i = next;
            while (i < 3 && time_designators[i] != d) i++;
            if (i == 3) return dparse_fail(p, "expected a time designator (H, M or S) at offset %zu", p->pos);
            p->pos++;
            if ((rc = add_unit(p, time_units[i], value, has_fraction, fraction_ns)) != 0) return rc;
            next = i + 1;
            units++;
            time_units_seen++;
            if (has_fraction) break; /* a fractional unit must be the last one */
        }
        if (time_units_seen == 0) return dparse_fail(p, "expected at least one time unit after 'T'");
    }
    if (units == 0) return dparse_fail(p, "expected at least one unit after 'P'");
    if (!at_end(p))
        return dparse_fail(p, "parsed the duration, but unparsed input \"%.*s\" remains",
                           (int)(p->len - p->pos > 16 ? 16 : p->len - p->pos), p->s + p->pos);
    return 0;
}

int stet_duration_parse(const char *s, size_t len, uint64_t *ms, char *err, size_t errlen) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(ms != NULL);
    if (err != NULL && errlen > 0) err[0] = '\0';
    struct dparse p = {.s = s, .len = len, .format = "friendly", .err = err, .errlen = errlen};
    /* restate_time_util: "jiff cannot parse "0" without "0s""; restate accepts a bare "0". */
    if (len == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    size_t start = (len > 0 && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    bool iso = start < len && upper(s[start]) == 'P';
    bool negative = false;
    int rc;
    if (iso) {
        p.format = "ISO 8601";
        rc = parse_iso(&p, &negative);
    } else {
        rc = parse_friendly(&p, &negative);
    }
    if (rc != 0) return rc;
    if (p.has_years_or_months) return dparse_fail(&p, "please use units of days or smaller");
    if (negative && p.total_ns != 0) return dparse_fail(&p, "negative durations are not supported");
    u128 total_ms = p.total_ns / NS_PER_MS;
    STET_ASSERT(total_ms <= UINT64_MAX);
    *ms = (uint64_t)total_ms;
    return 0;
}

/* ---- duration formatting ---- */

struct outbuf {
    char *out;
    size_t n;
    size_t pos;
};

static void out_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct outbuf *o, const char *fmt, ...) {
    if (o->n == 0) return;
    size_t room = o->pos < o->n ? o->n - o->pos : 0;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->out + (o->pos < o->n ? o->pos : o->n - 1), room == 0 ? 1 : room, fmt, ap);
    va_end(ap);
    if (w > 0) o->pos += (size_t)w;
}

void stet_duration_format_friendly(uint64_t ms, char *out, size_t n) {
    STET_ASSERT(out != NULL && n > 0);
    struct outbuf o = {out, n, 0};
    out[0] = '\0';
    if (ms == 0) {
        out_printf(&o, "0s");
        return;
    }
    uint64_t parts[5] = {ms / 86400000ULL, (ms / 3600000ULL) % 24, (ms / 60000ULL) % 60, (ms / 1000ULL) % 60,
                         ms % 1000ULL};
    static const char *const designators[5] = {"d", "h", "m", "s", "ms"};
    bool first = true;
    for (int i = 0; i < 5; i++) {
        if (parts[i] == 0) continue;
        out_printf(&o, "%s%llu%s", first ? "" : " ", (unsigned long long)parts[i], designators[i]);
        first = false;
    }
}

void stet_duration_format_iso(uint64_t ms, char *out, size_t n) {
    STET_ASSERT(out != NULL && n > 0);
    struct outbuf o = {out, n, 0};
    out[0] = '\0';
    if (ms == 0) {
        out_printf(&o, "P0D");
        return;
    }
    uint64_t secs = ms / 1000, frac = ms % 1000;
    if (frac == 0) {
        out_printf(&o, "PT%lluS", (unsigned long long)secs);
        return;
    }
    int digits = 3;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    out_printf(&o, "PT%llu.%0*lluS", (unsigned long long)secs, digits, (unsigned long long)frac);
}

/* ---- timestamps ---- */

struct civil {
    int64_t year;
    unsigned month, day, hour, minute, second, millis, weekday; /* weekday 0 = Sunday */
};

/* Howard Hinnant's civil_from_days. */
static void civil_from_epoch_ms(uint64_t epoch_ms, struct civil *c) {
    int64_t days = (int64_t)(epoch_ms / 86400000ULL);
    uint64_t rem = epoch_ms % 86400000ULL;
    c->hour = (unsigned)(rem / 3600000ULL);
    c->minute = (unsigned)((rem / 60000ULL) % 60);
    c->second = (unsigned)((rem / 1000ULL) % 60);
    c->millis = (unsigned)(rem % 1000ULL);
    c->weekday = (unsigned)((days + 4) % 7); /* 1970-01-01 was a Thursday */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->year = y + (c->month <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void stet_time_format_rfc3339_nanos(uint64_t epoch_ms, char *out, size_t n) {
    STET_ASSERT(out != NULL && n > 0);
    struct civil c;
    civil_from_epoch_ms(epoch_ms, &c);
    snprintf(out, n, "%04lld-%02u-%02uT%02u:%02u:%02u.%03u000000Z", (long long)c.year, c.month, c.day, c.hour,
             c.minute, c.second, c.millis);
}

void stet_time_format_rfc3339_millis(uint64_t epoch_ms, char *out, size_t n) {
    STET_ASSERT(out != NULL && n > 0);
    struct civil c;
    civil_from_epoch_ms(epoch_ms, &c);
    snprintf(out, n, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)c.year, c.month, c.day, c.hour, c.minute,
             c.second, c.millis);
}

void stet_time_format_rfc3339_offset(uint64_t epoch_ms, char *out, size_t n) {
    STET_ASSERT(out != NULL && n > 0);
    struct civil c;
    civil_from_epoch_ms(epoch_ms, &c);
    snprintf(out, n, "%04lld-%02u-%02uT%02u:%02u:%02u.%03u+00:00", (long long)c.year, c.month, c.day, c.hour,
             c.minute, c.second, c.millis);
}

void stet_time_format_http_date(uint64_t epoch_ms, char *out, size_t n) {
    STET_ASSERT(out != NULL && n > 0);
    static const char *const weekdays[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct civil c;
    civil_from_epoch_ms(epoch_ms, &c);
    snprintf(out, n, "%s, %02u %s %04lld %02u:%02u:%02u GMT", weekdays[c.weekday], c.day, months[c.month - 1],
             (long long)c.year, c.hour, c.minute, c.second);
}

static bool parse_fixed_digits(const char *s, size_t len, size_t *pos, int count, unsigned *v) {
    unsigned acc = 0;
    for (int i = 0; i < count; i++) {
        if (*pos >= len || !is_digit(s[*pos])) return false;
        acc = acc * 10 + (unsigned)(s[*pos] - '0');
        (*pos)++;
    }
    *v = acc;
    return true;
}

static bool expect_char(const char *s, size_t len, size_t *pos, char c) {
    if (*pos >= len || s[*pos] != c) return false;
    (*pos)++;
    return true;
}

int stet_time_parse_rfc3339(const char *s, size_t len, uint64_t *epoch_ms) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(epoch_ms != NULL);
    size_t pos = 0;
    unsigned year, month, day, hour, minute, second, millis = 0;
    if (!parse_fixed_digits(s, len, &pos, 4, &year) || !expect_char(s, len, &pos, '-') ||
        !parse_fixed_digits(s, len, &pos, 2, &month) || !expect_char(s, len, &pos, '-') ||
        !parse_fixed_digits(s, len, &pos, 2, &day))
        return -EINVAL;
    if (pos >= len || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return -EINVAL;
    pos++;
    if (!parse_fixed_digits(s, len, &pos, 2, &hour) || !expect_char(s, len, &pos, ':') ||
        !parse_fixed_digits(s, len, &pos, 2, &minute) || !expect_char(s, len, &pos, ':') ||
        !parse_fixed_digits(s, len, &pos, 2, &second))
        return -EINVAL;
    if (pos < len && s[pos] == '.') {
        pos++;
        int digits = 0;
        while (pos < len && is_digit(s[pos])) {
            if (digits < 3) millis = millis * 10 + (unsigned)(s[pos] - '0');
            digits++;
            pos++;
        }
        if (digits == 0) return -EINVAL;
        for (int i = digits; i < 3; i++) millis *= 10;
    }
    int64_t offset_s = 0;
    if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
        pos++;
    } else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
        int sign = s[pos] == '-' ? -1 : 1;
        pos++;
        unsigned oh, om;
        if (!parse_fixed_digits(s, len, &pos, 2, &oh) || !expect_char(s, len, &pos, ':') ||
            !parse_fixed_digits(s, len, &pos, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset_s = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (pos != len) return -EINVAL;
    static const unsigned month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1]) return -EINVAL;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap) return -EINVAL;
    if (hour > 23 || minute > 59 || second > 60) return -EINVAL;
    if (second == 60) second = 59; /* leap second: clamp as chrono does for display purposes */
    int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    if (secs < 0) return -EINVAL;
    *epoch_ms = (uint64_t)secs * 1000 + millis;
    return 0;
}

/* ---- UTF-8 ---- */

int stet_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp) {
    STET_ASSERT(len > 0);
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int need;
    uint32_t value;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        value = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        value = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (b0 == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        value = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;      /* no overlongs */
        else if (b0 == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= len) return -i;
        uint8_t b = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) return -i;
        value = (value << 6) | (b & 0x3F);
    }
    *cp = value;
    return need + 1;
}

bool stet_utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int n = stet_utf8_decode(s + i, len - i, &cp);
        if (n < 0) return false;
        i += (size_t)n;
    }
    return true;
}

void stet_utf8_append(struct stet_buf *out, uint32_t cp) {
    STET_ASSERT(cp <= 0x10FFFF);
    STET_ASSERT(cp < 0xD800 || cp > 0xDFFF);
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    stet_buf_append(out, b, n);
}

/* ---- percent encoding ---- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int stet_percent_decode(const char *s, size_t len, struct stet_buf *out) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(out != NULL);
    size_t start = out->len;
    stet_buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != '%') {
            stet_buf_append_byte(out, (uint8_t)c);
            continue;
        }
        if (i + 2 >= len) return -EINVAL; /* need two hex digits after '%' */
        int h = hex_value(s[i + 1]), l = hex_value(s[i + 2]);
        if (h < 0 || l < 0) return -EINVAL;
        stet_buf_append_byte(out, (uint8_t)(h * 16 + l));
        i += 2;
    }
    if (out->len > start && !stet_utf8_valid(out->data + start, out->len - start)) return -EINVAL;
    return 0;
}

void stet_percent_encode(const char *s, size_t len, struct stet_buf *out) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(out != NULL);
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '_' || c == '.' || c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' ||
                          c == ')';
        if (unreserved) {
            stet_buf_append_byte(out, c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            stet_buf_append(out, e, 3);
        }
    }
}
