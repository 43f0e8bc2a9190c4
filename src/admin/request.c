/* Admin request handling that needs no I/O: path routing, the request-body parsers of
 * POST/PATCH /deployments and PATCH /services, and URI normalization. (HTTP/1.1 responses of
 * use_http_11 deployments are parsed by src/h1client/.)
 *
 * Error texts reproduce what restate's axum extractors answer (http-api.md §3.2):
 *   415 "Expected request with `Content-Type: application/json`"
 *   400 "Failed to parse the request body as JSON: <serde_json error>"
 *   422 "Failed to deserialize the JSON body into the target type: <path>: <error> at line L column C"
 * Request structs of restate are serde `untagged` enums (HTTP vs Lambda flavour); a body that
 * fits neither yields serde's "data did not match any variant of untagged enum …" message,
 * positioned at the end of the document. Positions are computed from the raw text by
 * json_value_end(), since the DOM parser does not keep offsets.
 */
#include "admin/admin_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/ids.h"
#include "common/timefmt.h"
#include "http/http.h"
#include "json/json.h"

void stet_admin__error(struct stet_admin_error *e, int status, bool text, const char *code, const char *fmt, ...) {
    if (e == NULL) return;
    e->status = status;
    e->text = text;
    e->restate_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* ---- routing ---- */

enum stet_admin_route_result stet_admin_route_parse(const char *path, size_t len, struct stet_admin_route *r) {
    memset(r, 0, sizeof(*r));
    if (len == 0 || path[0] != '/') return STET_ADMIN_ROUTE_NOT_FOUND;
    const char *rest;
    size_t rest_len;
    int v = stet_http_path_api_version(path, len, &rest, &rest_len);
    if (v == 1) return STET_ADMIN_ROUTE_V1;
    if (v >= 0) {
        if (v < STET_HTTP_ADMIN_API_VERSION_MIN || v > STET_HTTP_ADMIN_API_VERSION_MAX)
            return STET_ADMIN_ROUTE_NOT_FOUND;
        if (rest_len == 0) return STET_ADMIN_ROUTE_NOT_FOUND; /* "/v2" alone */
        r->api_version = v;
    }
    r->rest = rest;
    r->rest_len = rest_len;
    size_t i = (size_t)(rest - path) + 1; /* first segment, after the '/' */
    /* segments */
    size_t start = i;
    size_t n = 0;
    bool ok = true;
    for (size_t k = i; k <= len; k++) {
        if (k == len || path[k] == '/') {
            if (k == start || n == STET_ADMIN_MAX_SEGMENTS) {
                ok = false;
                break;
            }
            r->seg[n].p = path + start;
            r->seg[n].len = k - start;
            n++;
            start = k + 1;
        }
    }
    r->n_segments = ok ? n : 0;
    return STET_ADMIN_ROUTE_OK;
}

int stet_admin_query_bool(const char *query, size_t len, const char *name) {
    size_t nl = strlen(name);
    size_t i = 0;
    int result = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && query[end] != '&') end++;
        const char *kv = query + i;
        size_t kvl = end - i;
        const char *eq = memchr(kv, '=', kvl);
        size_t kl = eq ? (size_t)(eq - kv) : kvl;
        if (kl == nl && memcmp(kv, name, nl) == 0) {
            const char *v = eq ? eq + 1 : "";
            size_t vl = eq ? kvl - kl - 1 : 0;
            if (vl == 4 && memcmp(v, "true", 4) == 0) result = 1;
            else if (vl == 5 && memcmp(v, "false", 5) == 0) result = 0;
            else return -1;
        }
        i = end + 1;
    }
    return result;
}

int stet_admin_parse_deployment_id(const char *s, size_t len, uint8_t id[16], struct stet_admin_error *e) {
    struct stet_buf dec = STET_BUF_INIT;
    const char *reason = NULL;
    if (stet_percent_decode(s, len, &dec) != 0) {
        stet_buf_free(&dec);
        stet_admin__error(e, 400, true, NULL, "Invalid URL: Cannot parse `deployment` with value `%.*s`: bad format",
                          (int)len, s);
        return -EINVAL;
    }
    const char *d = (const char *)dec.data;
    size_t n = dec.len;
    const char *us = n ? memchr(d, '_', n) : NULL;
    if (n == 0) reason = "bad length";
    else if (us == NULL) reason = "bad format";
    else {
        size_t pl = (size_t)(us - d);
        static const char *const known[] = {"inv", "sign", "prom", "sub", "dp", "snap", "pid", "lid", "nd"};
        bool is_known = false;
        for (size_t i = 0; i < STET_ARRAY_LEN(known); i++)
            if (strlen(known[i]) == pl && memcmp(known[i], d, pl) == 0) is_known = true;
        if (!is_known) reason = "unrecognized resource type";
        else if (!(pl == 2 && memcmp(d, "dp", 2) == 0)) reason = "id doesn't match the expected type";
        else if (n < 4 || us[1] != '1') reason = n < 4 ? "bad length" : "unrecognized codec version";
        else if (n != STET_DEPLOYMENT_ID_STRLEN) reason = "bad length";
        else if (stet_deployment_id_parse(d, n, id) != 0) reason = "base62 decode error";
    }
    if (reason != NULL) {
        if (strcmp(reason, "unrecognized resource type") == 0)
            stet_admin__error(e, 400, true, NULL,
                              "Invalid URL: Cannot parse `deployment` with value `%.*s`: unrecognized resource type: "
                              "%.*s",
                              (int)n, d, (int)(us - d), d);
        else
            stet_admin__error(e, 400, true, NULL, "Invalid URL: Cannot parse `deployment` with value `%.*s`: %s", (int)n,
                              d, reason);
        stet_buf_free(&dec);
        return -EINVAL;
    }
    stet_buf_free(&dec);
    return 0;
}

/* ---- JSON positions ---- */

static size_t skip_ws(const char *s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* index after the JSON value starting at i (the text is known to be valid JSON) */
static size_t json_value_end(const char *s, size_t len, size_t i) {
    i = skip_ws(s, len, i);
    if (i >= len) return len;
    if (s[i] == '"') {
        i++;
        while (i < len && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
        return i < len ? i + 1 : len;
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < len) {
            char c = s[i];
            if (c == '"') {
                i = json_value_end(s, len, i);
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') {
                depth--;
                if (depth == 0) return i + 1;
            }
            i++;
        }
        return len;
    }
    while (i < len && !strchr(",}] \t\r\n", s[i])) i++;
    return i;
}

/* end offset of the value of top-level member `key`, or of the whole document */
static size_t member_end(const char *s, size_t len, const char *key) {
    size_t i = skip_ws(s, len, 0);
    if (key == NULL || i >= len || s[i] != '{') return json_value_end(s, len, i);
    i++;
    size_t kl = strlen(key);
    size_t found = 0;
    for (;;) {
        i = skip_ws(s, len, i);
        if (i >= len || s[i] != '"') break;
        size_t kend = json_value_end(s, len, i);
        bool match = kend - i == kl + 2 && memcmp(s + i + 1, key, kl) == 0;
        i = skip_ws(s, len, kend);
        if (i >= len || s[i] != ':') break;
        size_t vend = json_value_end(s, len, i + 1);
        if (match) found = vend; /* last occurrence wins, like the DOM */
        i = skip_ws(s, len, vend);
        if (i >= len || s[i] != ',') break;
        i++;
    }
    return found ? found : json_value_end(s, len, 0);
}

static void line_col(const char *s, size_t off, size_t *line, size_t *col) {
    size_t l = 1, ls = 0;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n') { l++; ls = i + 1; }
    *line = l;
    *col = off - ls;
}

static void describe(const struct stet_json *j, char *out, size_t n) {
    size_t len;
    switch (stet_json_type(j)) {
    case STET_JSON_NULL: snprintf(out, n, "null"); return;
    case STET_JSON_BOOL: snprintf(out, n, "boolean `%s`", stet_json_bool(j) ? "true" : "false"); return;
    case STET_JSON_NUMBER: {
        const char *t = stet_json_number_text(j, &len);
        int64_t i;
        uint64_t u;
        bool integer = stet_json_int64(j, &i) || stet_json_uint64(j, &u);
        snprintf(out, n, "%s `%.*s`", integer ? "integer" : "floating point", (int)(len > 40 ? 40 : len), t);
        return;
    }
    case STET_JSON_STRING: {
        const char *s = stet_json_string(j, &len);
        snprintf(out, n, "string \"%.*s\"", (int)(len > 80 ? 80 : len), s);
        return;
    }
    case STET_JSON_ARRAY: snprintf(out, n, "sequence"); return;
    case STET_JSON_OBJECT: snprintf(out, n, "map"); return;
    }
}

/* 422 positioned at the end of member `key` (NULL = end of document) */
static int data_error(struct stet_admin_error *e, const uint8_t *body, size_t len, const char *key, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static int data_error(struct stet_admin_error *e, const uint8_t *body, size_t len, const char *key, const char *fmt,
                      ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t line, col;
    line_col((const char *)body, member_end((const char *)body, len, key), &line, &col);
    stet_admin__error(e, 422, true, NULL,
                      "Failed to deserialize the JSON body into the target type: %s%s%s at line %zu column %zu",
                      key ? key : "", key ? ": " : "", msg, line, col);
    return -EINVAL;
}

static int parse_body(const uint8_t *body, size_t len, struct stet_json **root, struct stet_admin_error *e) {
    char perr[256];
    if (stet_json_parse((const char *)body, len, root, perr, sizeof(perr)) != 0) {
        stet_admin__error(e, 400, true, NULL, "Failed to parse the request body as JSON: %s", perr);
        return -EINVAL;
    }
    return 0;
}

int stet_admin_check_json_content_type(const char *ct, size_t len, struct stet_admin_error *e) {
    bool ok = false;
    if (ct != NULL) {
        size_t n = len;
        const char *semi = memchr(ct, ';', len);
        if (semi) n = (size_t)(semi - ct);
        while (n > 0 && isspace((unsigned char)ct[n - 1])) n--;
        size_t b = 0;
        while (b < n && isspace((unsigned char)ct[b])) b++;
        const char *m = ct + b;
        size_t ml = n - b;
        if (ml >= 12 && strncasecmp(m, "application/", 12) == 0) {
            const char *sub = m + 12;
            size_t sl = ml - 12;
            if (sl == 4 && strncasecmp(sub, "json", 4) == 0) ok = true;
            else if (sl > 5 && strncasecmp(sub + sl - 5, "+json", 5) == 0) ok = true;
        }
    }
    if (!ok) {
        stet_admin__error(e, 415, true, NULL, "Expected request with `Content-Type: application/json`");
        return -EINVAL;
    }
    return 0;
}

/* ---- URIs ---- */

int stet_admin_normalize_uri(const char *s, size_t len, char **out) {
    *out = NULL;
    if (len == 0) return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL) return -EINVAL;
    }
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
        if (s[i] == '/' || s[i] == '?' || s[i] == '#') break;
    }
    if (sep == NULL) {
        /* relative reference or bare authority: valid but not absolute, unless it has
         * characters an authority cannot hold */
        if (s[0] != '/' && memchr(s, '#', len) != NULL) return -EINVAL;
        return 1;
    }
    /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    if (sep == s || !isalpha((unsigned char)s[0])) return -EINVAL;
    for (const char *p = s; p < sep; p++)
        if (!(isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')) return -EINVAL;
    const char *a = sep + 3;
    const char *end = s + len;
    const char *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#') ae++;
    if (ae == a) return -EINVAL;
    if (memchr(s, '#', len) != NULL) return -EINVAL; /* http::Uri rejects fragments */
    /* authority: [userinfo@]host[:port]; IPv6 in brackets; port digits */
    const char *h = a;
    const char *at = NULL;
    for (const char *p = a; p < ae; p++)
        if (*p == '@') at = p;
    if (at) h = at + 1;
    if (h == ae) return -EINVAL;
    const char *port = NULL;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(ae - h));
        if (close == NULL) return -EINVAL;
        if (close + 1 < ae) {
            if (close[1] != ':') return -EINVAL;
            port = close + 2;
        }
    } else {
        for (const char *p = h; p < ae; p++) {
            if (*p == ':') {
                if (port != NULL) return -EINVAL;
                port = p + 1;
            } else if (*p == '[' || *p == ']') {
                return -EINVAL;
            }
        }
        if ((port ? port - 1 : ae) == h) return -EINVAL; /* empty host */
    }
    if (port != NULL) {
        if (port == ae || ae - port > 5) return -EINVAL;
        unsigned long v = 0;
        for (const char *p = port; p < ae; p++) {
            if (!isdigit((unsigned char)*p)) return -EINVAL;
            v = v * 10 + (unsigned long)(*p - '0');
        }
        if (v > 65535) return -EINVAL;
    }
    /* http::Uri displays an absent path as "/" */
    bool empty_path = ae == end || *ae == '?';
    size_t outlen = len + (empty_path ? 1 : 0);
    char *o = malloc(outlen + 1);
    STET_ASSERT(o != NULL);
    size_t prefix = (size_t)(ae - s);
    memcpy(o, s, prefix);
    size_t k = prefix;
    if (empty_path) o[k++] = '/';
    memcpy(o + k, ae, (size_t)(end - ae));
    o[outlen] = '\0';
    *out = o;
    return 0;
}

/* ---- header maps ---- */

static bool is_token_char(unsigned char c) {
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Parses an additional_headers object (SerdeableHeaderHashMap). false on a bad entry. */
static bool parse_headers(const struct stet_json *v, struct stet_schema_kv **out, size_t *n_out) {
    size_t n = stet_json_object_len(v);
    struct stet_schema_kv *kv = n ? calloc(n, sizeof(*kv)) : NULL;
    STET_ASSERT(n == 0 || kv != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t kl, vl;
        const char *k = stet_json_object_key_at(v, i, &kl);
        const char *s = stet_json_string(stet_json_object_value_at(v, i), &vl);
        bool ok = s != NULL && kl > 0;
        for (size_t c = 0; ok && c < kl; c++) ok = is_token_char((unsigned char)k[c]);
        for (size_t c = 0; ok && c < vl; c++) {
            unsigned char ch = (unsigned char)s[c];
            ok = !((ch < 0x20 && ch != '\t') || ch == 0x7f);
        }
        if (!ok) {
            for (size_t j = 0; j < i; j++) {
                free(kv[j].key);
                free(kv[j].value);
            }
            free(kv);
            return false;
        }
        kv[i].key = malloc(kl + 1);
        STET_ASSERT(kv[i].key != NULL);
        for (size_t c = 0; c < kl; c++) kv[i].key[c] = (char)tolower((unsigned char)k[c]);
        kv[i].key[kl] = '\0';
        kv[i].value = malloc(vl + 1);
        STET_ASSERT(kv[i].value != NULL);
        memcpy(kv[i].value, s, vl);
        kv[i].value[vl] = '\0';
    }
    *out = kv;
    *n_out = n;
    return true;
}

static bool parse_string_map(const struct stet_json *v, struct stet_schema_kv **out, size_t *n_out) {
    size_t n = stet_json_object_len(v);
    struct stet_schema_kv *kv = n ? calloc(n, sizeof(*kv)) : NULL;
    STET_ASSERT(n == 0 || kv != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t kl, vl;
        const char *k = stet_json_object_key_at(v, i, &kl);
        const char *s = stet_json_string(stet_json_object_value_at(v, i), &vl);
        if (s == NULL || memchr(s, '\0', vl) != NULL || memchr(k, '\0', kl) != NULL) {
            for (size_t j = 0; j < i; j++) {
                free(kv[j].key);
                free(kv[j].value);
            }
            free(kv);
            return false;
        }
        kv[i].key = malloc(kl + 1);
        kv[i].value = malloc(vl + 1);
        STET_ASSERT(kv[i].key != NULL && kv[i].value != NULL);
        memcpy(kv[i].key, k, kl);
        kv[i].key[kl] = '\0';
        memcpy(kv[i].value, s, vl);
        kv[i].value[vl] = '\0';
    }
    *out = kv;
    *n_out = n;
    return true;
}

static void kv_free(struct stet_schema_kv *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

/* type checks shared by both flavours: true if the member is absent or matches */
static bool opt_bool(const struct stet_json *root, const char *key, bool nullable, int *out) {
    const struct stet_json *v = stet_json_object_get(root, key);
    if (v == NULL) return true;
    if (stet_json_type(v) == STET_JSON_NULL) return nullable;
    if (stet_json_type(v) != STET_JSON_BOOL) return false;
    *out = stet_json_bool(v) ? 1 : 0;
    return true;
}

static bool opt_string(const struct stet_json *root, const char *key, bool nullable) {
    const struct stet_json *v = stet_json_object_get(root, key);
    if (v == NULL) return true;
    if (stet_json_type(v) == STET_JSON_NULL) return nullable;
    return stet_json_type(v) == STET_JSON_STRING;
}

static bool opt_headers(const struct stet_json *root) {
    const struct stet_json *v = stet_json_object_get(root, "additional_headers");
    if (v == NULL || stet_json_type(v) == STET_JSON_NULL) return true;
    if (stet_json_type(v) != STET_JSON_OBJECT) return false;
    struct stet_schema_kv *kv = NULL;
    size_t n = 0;
    if (!parse_headers(v, &kv, &n)) return false;
    kv_free(kv, n);
    return true;
}

static bool opt_map(const struct stet_json *root, const char *key) {
    const struct stet_json *v = stet_json_object_get(root, key);
    if (v == NULL) return true;
    if (stet_json_type(v) != STET_JSON_OBJECT) return false; /* HashMap with #[serde(default)]: null is an error */
    struct stet_schema_kv *kv = NULL;
    size_t n = 0;
    if (!parse_string_map(v, &kv, &n)) return false;
    kv_free(kv, n);
    return true;
}

void stet_admin_register_request_free(struct stet_admin_register_request *r) {
    free(r->uri);
    kv_free(r->headers, r->n_headers);
    kv_free(r->metadata, r->n_metadata);
    memset(r, 0, sizeof(*r));
}

int stet_admin_parse_register_request(const uint8_t *body, size_t len, struct stet_admin_register_request *out,
                                      struct stet_admin_error *e) {
    memset(out, 0, sizeof(*out));
    out->force = -1;
    struct stet_json *root = NULL;
    if (parse_body(body, len, &root, e) != 0) return -EINVAL;
    int rc = -EINVAL;
    char *uri = NULL;
    int uri_rc = -EINVAL;

    bool common_ok = stet_json_type(root) == STET_JSON_OBJECT;
    int use11 = 0, breaking = 0, force = -1, dry = 0;
    if (common_ok) {
        common_ok = opt_headers(root) && opt_map(root, "metadata") && opt_bool(root, "breaking", false, &breaking) &&
                    opt_bool(root, "force", true, &force) && opt_bool(root, "dry_run", false, &dry);
    }
    /* HTTP flavour */
    bool http_ok = common_ok && opt_bool(root, "use_http_11", false, &use11);
    const struct stet_json *juri = http_ok ? stet_json_object_get(root, "uri") : NULL;
    if (http_ok) {
        size_t ul;
        const char *us = stet_json_string(juri, &ul);
        if (us == NULL) {
            http_ok = false;
        } else {
            uri_rc = stet_admin_normalize_uri(us, ul, &uri);
            if (uri_rc < 0) http_ok = false;
        }
    }
    const struct stet_json *auth = http_ok ? stet_json_object_get(root, "auth") : NULL;
    if (http_ok && auth != NULL && stet_json_type(auth) != STET_JSON_NULL) {
        /* HttpAuth is an externally tagged enum {"GoogleIdToken": {...}} */
        if (stet_json_type(auth) != STET_JSON_OBJECT || stet_json_object_len(auth) != 1 ||
            stet_json_object_get(auth, "GoogleIdToken") == NULL)
            http_ok = false;
    }
    if (!http_ok) {
        /* Lambda flavour? */
        const struct stet_json *arn = common_ok ? stet_json_object_get(root, "arn") : NULL;
        if (common_ok && stet_json_type(arn) == STET_JSON_STRING && opt_string(root, "assume_role_arn", true)) {
            stet_admin__error(e, 400, false, NULL,
                              "The request field 'arn' is invalid. Reason: Lambda deployments are not supported by "
                              "this server; register an HTTP endpoint with 'uri' instead.");
        } else {
            data_error(e, body, len, NULL, "data did not match any variant of untagged enum RegisterDeploymentRequest");
        }
        goto done;
    }
    if (auth != NULL && stet_json_type(auth) != STET_JSON_NULL) {
        stet_admin__error(e, 400, false, NULL,
                          "The request field 'auth' is invalid. Reason: GoogleIdToken authentication is not supported "
                          "by this server.");
        goto done;
    }
    if (uri_rc == 1) {
        size_t ul;
        const char *us = stet_json_string(juri, &ul);
        stet_admin__error(e, 400, false, NULL,
                          "The request field 'uri' is invalid. Reason: The provided uri %.*s is not absolute, only "
                          "absolute URIs can be used.",
                          (int)(ul > 500 ? 500 : ul), us);
        goto done;
    }
    out->uri = uri;
    uri = NULL;
    const struct stet_json *h = stet_json_object_get(root, "additional_headers");
    if (h != NULL && stet_json_type(h) == STET_JSON_OBJECT) {
        out->has_headers = true;
        STET_ASSERT(parse_headers(h, &out->headers, &out->n_headers));
    }
    const struct stet_json *m = stet_json_object_get(root, "metadata");
    if (m != NULL) STET_ASSERT(parse_string_map(m, &out->metadata, &out->n_metadata));
    out->use_http_11 = use11 == 1;
    out->breaking = breaking == 1;
    out->force = force;
    out->dry_run = dry == 1;
    rc = 0;

done:
    free(uri);
    stet_json_free(root);
    if (rc != 0) stet_admin_register_request_free(out);
    return rc;
}

static int patch_duration(const uint8_t *body, size_t len, const struct stet_json *root, const char *key,
                          uint64_t *out, struct stet_admin_error *e) {
    const struct stet_json *v = stet_json_object_get(root, key);
    if (v == NULL || stet_json_type(v) == STET_JSON_NULL) return 0;
    size_t sl;
    const char *s = stet_json_string(v, &sl);
    if (s == NULL) {
        char d[128];
        describe(v, d, sizeof(d));
        return data_error(e, body, len, key, "invalid type: %s, expected a duration string", d);
    }
    char perr[200];
    uint64_t ms;
    if (stet_duration_parse(s, sl, &ms, perr, sizeof(perr)) != 0)
        return data_error(e, body, len, key, "%s", perr);
    if (ms == STET_DURATION_UNSET) ms--;
    *out = ms;
    return 0;
}

int stet_admin_parse_service_patch(const uint8_t *body, size_t len, struct stet_service_patch *out,
                                   struct stet_admin_error *e) {
    stet_service_patch_init(out);
    struct stet_json *root = NULL;
    if (parse_body(body, len, &root, e) != 0) return -EINVAL;
    int rc = 0;
    if (stet_json_type(root) != STET_JSON_OBJECT) {
        char d[128];
        describe(root, d, sizeof(d));
        rc = data_error(e, body, len, NULL, "invalid type: %s, expected struct ModifyServiceRequest", d);
        goto done;
    }
    const struct stet_json *pub = stet_json_object_get(root, "public");
    if (pub != NULL && stet_json_type(pub) != STET_JSON_NULL) {
        if (stet_json_type(pub) != STET_JSON_BOOL) {
            char d[128];
            describe(pub, d, sizeof(d));
            rc = data_error(e, body, len, "public", "invalid type: %s, expected a boolean", d);
            goto done;
        }
        out->is_public = stet_json_bool(pub) ? 1 : 0;
    }
    if ((rc = patch_duration(body, len, root, "idempotency_retention", &out->idempotency_retention_ms, e)) ||
        (rc = patch_duration(body, len, root, "workflow_completion_retention", &out->workflow_completion_retention_ms,
                             e)) ||
        (rc = patch_duration(body, len, root, "journal_retention", &out->journal_retention_ms, e)) ||
        (rc = patch_duration(body, len, root, "inactivity_timeout", &out->inactivity_timeout_ms, e)) ||
        (rc = patch_duration(body, len, root, "abort_timeout", &out->abort_timeout_ms, e)))
        goto done;
done:
    stet_json_free(root);
    if (rc != 0) stet_service_patch_init(out);
    return rc;
}

void stet_admin_update_request_free(struct stet_admin_update_request *r) {
    free(r->uri);
    kv_free(r->headers, r->n_headers);
    memset(r, 0, sizeof(*r));
    r->use_http_11 = -1;
}

int stet_admin_parse_update_request(const uint8_t *body, size_t len, struct stet_admin_update_request *out,
                                    struct stet_admin_error *e) {
    memset(out, 0, sizeof(*out));
    out->use_http_11 = -1;
    struct stet_json *root = NULL;
    if (parse_body(body, len, &root, e) != 0) return -EINVAL;
    int rc = -EINVAL;
    char *uri = NULL;
    int uri_rc = 0;
    int use11 = -1, overwrite = 0, dry = 0;
    bool ok = stet_json_type(root) == STET_JSON_OBJECT && opt_headers(root) &&
              opt_bool(root, "use_http_11", true, &use11) && opt_bool(root, "overwrite", false, &overwrite) &&
              opt_bool(root, "dry_run", false, &dry);
    const struct stet_json *juri = ok ? stet_json_object_get(root, "uri") : NULL;
    if (ok && juri != NULL && stet_json_type(juri) != STET_JSON_NULL) {
        size_t ul;
        const char *us = stet_json_string(juri, &ul);
        if (us == NULL) ok = false;
        else {
            uri_rc = stet_admin_normalize_uri(us, ul, &uri);
            if (uri_rc < 0) ok = false;
        }
    }
    if (!ok) {
        data_error(e, body, len, NULL, "data did not match any variant of untagged enum UpdateDeploymentRequest");
        goto done;
    }
    if (uri_rc == 1) {
        size_t ul;
        const char *us = stet_json_string(juri, &ul);
        stet_admin__error(e, 400, false, NULL,
                          "The request field 'uri' is invalid. Reason: The provided uri %.*s is not absolute, only "
                          "absolute URIs can be used.",
                          (int)(ul > 500 ? 500 : ul), us);
        goto done;
    }
    out->uri = uri;
    uri = NULL;
    const struct stet_json *h = stet_json_object_get(root, "additional_headers");
    if (h != NULL && stet_json_type(h) == STET_JSON_OBJECT) {
        out->has_headers = true;
        STET_ASSERT(parse_headers(h, &out->headers, &out->n_headers));
    }
    out->use_http_11 = use11;
    out->overwrite = overwrite == 1;
    out->dry_run = dry == 1;
    rc = 0;
done:
    free(uri);
    stet_json_free(root);
    if (rc != 0) stet_admin_update_request_free(out);
    return rc;
}
