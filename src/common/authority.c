/* HTTP authority parsing (see authority.h for the accepted forms). */
#include "common/authority.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

/* "invalid authority '<authority>': <why>", the authority cut at 80 bytes and with
 * non-printable bytes shown as '?', so a message never carries a raw control character. */
static int authority_error(const char *authority, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int authority_error(const char *authority, char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return -EINVAL;
    char shown[84];
    size_t n = 0;
    for (const char *q = authority; *q && n < 80; q++) {
        unsigned char c = (unsigned char)*q;
        shown[n++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (authority[n] != '\0') {
        memcpy(shown + n, "...", 3);
        n += 3;
    }
    shown[n] = '\0';
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "invalid authority '%s': %s", shown, why);
    return -EINVAL;
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool is_zone_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* The text between '[' and ']': an IPv6 literal with an optional "%zone". */
static bool ipv6_literal_valid(const char *start, const char *end) {
    const char *zone = memchr(start, '%', (size_t)(end - start));
    const char *addr_end = zone ? zone : end;
    bool colon = false;
    for (const char *q = start; q < addr_end; q++) {
        if (*q == ':') colon = true;
        else if (!is_hex(*q) && *q != '.') return false;
    }
    if (!colon) return false;
    if (zone) {
        if (zone + 1 == end) return false;
        for (const char *q = zone + 1; q < end; q++)
            if (!is_zone_char(*q)) return false;
    }
    return true;
}

int stet_authority_parse(const char *authority, char **host, char **port, char *err, size_t errlen) {
    STET_ASSERT(authority != NULL);
    STET_ASSERT(host != NULL);
    STET_ASSERT(port != NULL);
    if (err != NULL && errlen > 0) err[0] = '\0';
    size_t len = strlen(authority);
    if (len == 0) return authority_error(authority, err, errlen, "empty (expected host:port)");
    if (len > STET_AUTHORITY_MAX)
        return authority_error(authority, err, errlen, "longer than %d bytes", STET_AUTHORITY_MAX);

    const char *host_start = authority, *host_end, *port_start = NULL;
    if (authority[0] == '[') {
        const char *close = strchr(authority, ']');
        if (close == NULL) return authority_error(authority, err, errlen, "'[' without a closing ']'");
        host_start = authority + 1;
        host_end = close;
        if (host_end == host_start) return authority_error(authority, err, errlen, "empty host");
        if (close[1] == ':') port_start = close + 2;
        else if (close[1] != '\0') return authority_error(authority, err, errlen, "only ':port' may follow ']'");
        if (!ipv6_literal_valid(host_start, host_end))
            return authority_error(authority, err, errlen, "'[...]' must hold an IPv6 address such as [::1]");
    } else {
        const char *colon = strrchr(authority, ':');
        if (colon && memchr(authority, ':', (size_t)(colon - authority)))
            return authority_error(authority, err, errlen, "an IPv6 address must be in brackets, as in [::1]:9080");
        host_end = colon ? colon : authority + len;
        if (colon) port_start = colon + 1;
        if (host_end == host_start) return authority_error(authority, err, errlen, "empty host");
        for (const char *q = host_start; q < host_end; q++) {
            unsigned char c = (unsigned char)*q;
            if (c <= 0x20 || c == 0x7f)
                return authority_error(authority, err, errlen, "control character or space in the host");
            if (strchr("/@[]?#", c))
                return authority_error(authority, err, errlen, "'%c' in the host (expected only host:port)", c);
        }
    }
    if (port_start) {
        if (*port_start == '\0') return authority_error(authority, err, errlen, "empty port after ':'");
        unsigned long v = 0;
        size_t digits = 0;
        for (const char *q = port_start; *q; q++, digits++) {
            if (*q < '0' || *q > '9' || digits >= 5)
                return authority_error(authority, err, errlen, "port must be a number from 1 to 65535");
            v = v * 10 + (unsigned long)(*q - '0');
        }
        if (v == 0 || v > 65535)
            return authority_error(authority, err, errlen, "port must be a number from 1 to 65535");
    }
    *host = strndup(host_start, (size_t)(host_end - host_start));
    *port = strdup(port_start ? port_start : "80");
    STET_ASSERT(*host != NULL);
    STET_ASSERT(*port != NULL);
    return 0;
}
