/* HTTP authority ("host:port") parsing, shared by the HTTP/1.1 and HTTP/2 clients.
 *
 * Accepted forms (RFC 3986 §3.2.2 reg-name / IPv4 / bracketed IPv6, as restate's deployment
 * URIs spell them):
 *   host:port      "localhost:9080", "127.0.0.1:9080"
 *   [ipv6]:port    "[::1]:9080", "[fe80::1%eth0]:9080"
 *   host, [ipv6]   port 80
 * Rejected, each with a message that names the rule:
 *   - empty input, or longer than STET_AUTHORITY_MAX bytes;
 *   - an empty host (":80", "[]:80");
 *   - a bare IPv6 address ("::1:80": it must be in brackets);
 *   - '[' without ']', or anything but ":port" after ']';
 *   - a bracketed host other than hex digits, ':' and '.' with at least one ':', plus an
 *     optional "%zone" of letters, digits and "-._~";
 *   - a host with a control character, space, DEL, or one of "/@[]?#" (a path, userinfo,
 *     query or fragment glued onto the authority);
 *   - a port that is empty ("host:"), not all digits, or outside 1..65535.
 */
#ifndef STET_AUTHORITY_H
#define STET_AUTHORITY_H

#include <stddef.h>

#define STET_AUTHORITY_MAX 1024

/* Splits authority into host (without brackets) and port ("80" when absent). Returns 0 with
 * *host and *port set (caller frees both), or -EINVAL with a message in err (NUL-terminated
 * when errlen > 0; err may be NULL) and *host and *port untouched. */
int stet_authority_parse(const char *authority, char **host, char **port, char *err, size_t errlen);

#endif
