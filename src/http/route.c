/* Routing helpers shared by every handler of the http server: method and path comparisons and
 * the admin API version prefix (http.h). Pure functions of the request; no I/O. */
#include "http/http.h"

#include <string.h>

#include "common/assert.h"

#define API_VERSION_SATURATE 100000

bool stet_http_method_is(const struct stet_http_request *req, const char *m) {
    STET_ASSERT(req != NULL);
    STET_ASSERT(m != NULL);
    size_t n = strlen(m);
    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

bool stet_http_method_is_get_or_head(const struct stet_http_request *req) {
    return stet_http_method_is(req, "GET") || stet_http_method_is(req, "HEAD");
}

bool stet_http_path_is(const struct stet_http_request *req, const char *p) {
    STET_ASSERT(req != NULL);
    STET_ASSERT(p != NULL);
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

int stet_http_path_api_version(const char *path, size_t len, const char **rest, size_t *rest_len) {
    STET_ASSERT(path != NULL || len == 0);
    STET_ASSERT(rest != NULL);
    STET_ASSERT(rest_len != NULL);
    *rest = path;
    *rest_len = len;
    if (len < 3 || path[0] != '/' || path[1] != 'v' || path[2] < '0' || path[2] > '9') return -1;
    size_t end = 2;
    int version = 0;
    while (end < len && path[end] >= '0' && path[end] <= '9') {
        version = version * 10 + (path[end] - '0');
        if (version > API_VERSION_SATURATE) version = API_VERSION_SATURATE;
        end++;
    }
    if (end < len && path[end] != '/') return -1;
    *rest = path + end;
    *rest_len = len - end;
    return version;
}

bool stet_http_admin_path(const struct stet_http_request *req, const char **path, size_t *len) {
    STET_ASSERT(req != NULL);
    const char *rest;
    size_t rest_len;
    int version = stet_http_path_api_version(req->path, req->path_len, &rest, &rest_len);
    if (version >= 0 && (version < STET_HTTP_ADMIN_API_VERSION_MIN || version > STET_HTTP_ADMIN_API_VERSION_MAX))
        return false;
    *path = rest;
    *len = rest_len;
    return true;
}
