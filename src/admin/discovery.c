/* Service discovery: GET <uri>/discover on a service deployment (service-protocol.md §2.1).
 *
 * Transports
 *   - h2c (default): one stream on the shared struct stet_h2_pool.
 *   - HTTP/1.1 (use_http_11): one stet_h1_request (src/h1client/): "GET … HTTP/1.1" with
 *     "connection: close", the response read until complete (content-length, chunked or
 *     EOF). https is not supported (no TLS).
 *
 * Retries (restate crates/node/src/roles/admin.rs): exponential from 100 ms, factor 2, at most
 * 4 retries, for transport errors and statuses 408/429/500/502/503/504. Each attempt has a
 * timeout (default 30 s) after which it counts as a retryable transport error.
 *
 * States of one discovery:
 *   ATTEMPT  --response/error-->  (retryable and retries left) WAIT --timer--> ATTEMPT
 *                                 (otherwise) DONE: cb runs once, then resources close
 *   any      --cancel-->          DONE without cb
 * The struct is freed only after every libuv handle it owns has closed (pending == 0) and
 * nothing is in flight (no h2 stream); then done_cb of a cancel runs. An HTTP/1.1 request
 * owns its own memory: once cancelled it never calls back, so it is not counted.
 *
 * Result building (status, content-type, manifest) is the pure stet_admin_discovery_result(),
 * whose error texts follow restate's DiscoveryError, decorated like the admin API shows them:
 * "[META0003] [META0003] error when calling '<uri>': <reason>".
 */
#include "admin/admin_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/log.h"
#include "h1client/h1client.h"
#include "h2client/h2client.h"
#include "http/http.h"
#include "json/json.h"

#define DISCOVERY_MAX_BODY ((size_t)16 * 1024 * 1024)

static const char *const manifest_content_types[] = {
    "application/vnd.restate.endpointmanifest.v1+json",
    "application/vnd.restate.endpointmanifest.v2+json",
    "application/vnd.restate.endpointmanifest.v3+json",
    "application/vnd.restate.endpointmanifest.v4+json",
};

/* ---- result building (pure) ---- */

static const char *kv_get(const struct stet_schema_kv *kv, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(kv[i].key, name) == 0) return kv[i].value;
    return NULL;
}

/* HeaderMap's Debug: {"name": "value", ...} */
static void headers_debug(const struct stet_schema_kv *kv, size_t n, struct stet_buf *out) {
    stet_buf_append_str(out, "{");
    for (size_t i = 0; i < n; i++) {
        if (i) stet_buf_append_str(out, ", ");
        stet_buf_printf(out, "\"%s\": \"", kv[i].key);
        for (const char *p = kv[i].value; *p; p++) {
            if (*p == '"' || *p == '\\') stet_buf_append_byte(out, '\\');
            stet_buf_append_byte(out, (uint8_t)*p);
        }
        stet_buf_append_str(out, "\"");
    }
    stet_buf_append_str(out, "}");
}

static void set_coded(struct stet_admin_error *e, const char *code, const char *msg) {
    stet_admin__error(e, 500, false, code, "[%s] [%s] %s", code, code, msg);
}

int stet_admin_discovery_result(const char *uri, int status, const struct stet_schema_kv *headers, size_t n_headers,
                                const uint8_t *body, size_t body_len, bool use_http_11,
                                struct stet_deployment_schema *dep, struct stet_admin_error *e, bool *retryable) {
    STET_UNUSED(uri);
    *retryable = false;
    struct stet_buf msg = STET_BUF_INIT;
    int rc = -EINVAL;
    memset(dep, 0, sizeof(*dep));
    if (status < 200 || status >= 300) {
        struct stet_buf hd = STET_BUF_INIT;
        headers_debug(headers, n_headers, &hd);
        size_t shown = body_len > 512 ? 512 : body_len;
        if (status == 404) {
            stet_buf_printf(&msg,
                            "got status code '404'. Make sure the provided URI has the correct path where the Restate "
                            "SDK endpoint is mounted. Response headers: %.*s. Body: %.*s",
                            (int)hd.len, (const char *)hd.data, (int)shown, (const char *)body);
        } else {
            stet_buf_printf(&msg, "got status code '%d %s'. Response headers: %.*s. Body: %.*s", status,
                            stet_http_status_reason(status), (int)hd.len, (const char *)hd.data, (int)shown,
                            (const char *)body);
            *retryable = status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
                         status == 504;
        }
        stet_buf_free(&hd);
        stet_buf_append_byte(&msg, 0);
        set_coded(e, "META0003", (const char *)msg.data);
        goto done;
    }
    const char *ct = kv_get(headers, n_headers, "content-type");
    bool ct_ok = false;
    for (size_t i = 0; ct != NULL && i < STET_ARRAY_LEN(manifest_content_types); i++)
        if (strcmp(ct, manifest_content_types[i]) == 0) ct_ok = true;
    if (!ct_ok) {
        if (ct == NULL)
            stet_buf_printf(&msg,
                            "received a bad response from the SDK: No content type header was specified. Expected "
                            "one of '\"%s\"' content type.",
                            STET_ADMIN_DISCOVERY_ACCEPT);
        else
            stet_buf_printf(&msg,
                            "received a bad response from the SDK: Bad content type header: \"%.200s\". Expected one "
                            "of '\"%s\"'",
                            ct, STET_ADMIN_DISCOVERY_ACCEPT);
        stet_buf_append_byte(&msg, 0);
        set_coded(e, "META0013", (const char *)msg.data);
        goto done;
    }
    enum stet_manifest_error_kind kind = STET_MANIFEST_DECODE;
    char perr[1024];
    if (stet_schema_parse_manifest((const char *)body, body_len, dep, &kind, perr, sizeof(perr)) != 0) {
        switch (kind) {
        case STET_MANIFEST_DECODE: {
            size_t shown = body_len > 600 ? 600 : body_len;
            stet_admin__error(e, 500, false, NULL,
                              "received a bad response from the SDK that cannot be decoded: %s. Discovery response: "
                              "%.*s",
                              perr, (int)shown, (const char *)body);
            break;
        }
        case STET_MANIFEST_BAD_RESPONSE:
            stet_buf_printf(&msg, "received a bad response from the SDK: %s", perr);
            stet_buf_append_byte(&msg, 0);
            set_coded(e, "META0013", (const char *)msg.data);
            break;
        case STET_MANIFEST_UNSUPPORTED: set_coded(e, "META0012", perr); break;
        }
        goto done;
    }
    const char *server = kv_get(headers, n_headers, "x-restate-server");
    if (server != NULL) {
        /* restate's workaround for SDK-Typescript <= 1.2 advertising a wrong max version */
        if (strncmp(server, "restate-sdk-typescript/1.0.", 27) == 0 ||
            strncmp(server, "restate-sdk-typescript/1.1.", 27) == 0 ||
            strncmp(server, "restate-sdk-typescript/1.2.", 27) == 0) {
            dep->max_protocol = 1;
            if (dep->min_protocol > dep->max_protocol || dep->max_protocol < STET_SCHEMA_MIN_DISCOVERABLE_PROTOCOL) {
                stet_buf_printf(&msg,
                                "unsupported service protocol versions: [%u, %u]. Supported versions by this runtime "
                                "are [%d, %d]. Please upgrade the SDK and try registering again.",
                                dep->min_protocol, dep->max_protocol, STET_SCHEMA_MIN_DISCOVERABLE_PROTOCOL,
                                STET_SCHEMA_MAX_DISCOVERABLE_PROTOCOL);
                stet_buf_append_byte(&msg, 0);
                set_coded(e, "META0012", (const char *)msg.data);
                stet_schema_deployment_clear(dep);
                goto done;
            }
        }
        dep->sdk_version = strdup(server);
        STET_ASSERT(dep->sdk_version != NULL);
    }
    dep->use_http_11 = use_http_11;
    rc = 0;
done:
    stet_buf_free(&msg);
    return rc;
}

/* ---- the asynchronous exchange ---- */

enum disc_state { DISC_ATTEMPT, DISC_WAIT, DISC_DONE };

struct stet_admin_discovery {
    uv_loop_t *loop;
    struct stet_h2_pool *pool;
    char *uri;
    char *authority; /* host:port */
    char *path;
    bool use_http_11;
    struct stet_schema_kv *headers;
    size_t n_headers;
    char *cluster_name;
    uint64_t attempt_timeout_ms;
    uint32_t max_retries;
    uint32_t retries;
    uint64_t retry_delay_ms;
    stet_admin_discovery_cb cb;
    void *arg;
    void (*done_cb)(void *);
    void *done_arg;

    enum disc_state state;
    bool cancelled;
    int pending; /* open libuv handles + the h2 stream in flight */
    uv_timer_t timer;

    /* per attempt */
    int status;
    struct stet_schema_kv *rheaders;
    size_t n_rheaders;
    struct stet_buf body;
    struct stet_h2_stream *stream;
    struct stet_h1_request *h1;
};

static void disc_start_attempt(struct stet_admin_discovery *d);

static void kv_clear(struct stet_schema_kv **kv, size_t *n) {
    for (size_t i = 0; i < *n; i++) {
        free((*kv)[i].key);
        free((*kv)[i].value);
    }
    free(*kv);
    *kv = NULL;
    *n = 0;
}

static void disc_free(struct stet_admin_discovery *d) {
    STET_ASSERT(d->pending == 0);
    STET_ASSERT(d->stream == NULL);
    STET_ASSERT(d->h1 == NULL);
    void (*done_cb)(void *) = d->done_cb;
    void *done_arg = d->done_arg;
    free(d->uri);
    free(d->authority);
    free(d->path);
    free(d->cluster_name);
    kv_clear(&d->headers, &d->n_headers);
    kv_clear(&d->rheaders, &d->n_rheaders);
    stet_buf_free(&d->body);
    free(d);
    if (done_cb) done_cb(done_arg);
}

static void disc_release(struct stet_admin_discovery *d) {
    STET_ASSERT(d->pending > 0);
    d->pending--;
    if (d->pending == 0 && d->state == DISC_DONE) disc_free(d);
}

static void on_handle_closed(uv_handle_t *h) { disc_release(h->data); }

static void h1_cancel(struct stet_admin_discovery *d) {
    if (d->h1 == NULL) return;
    stet_h1_request_cancel(d->h1);
    d->h1 = NULL;
}

/* Ends the discovery: cb (unless cancelled), then releases resources. */
static void disc_finish(struct stet_admin_discovery *d, struct stet_deployment_schema *dep,
                        const struct stet_admin_error *e) {
    STET_ASSERT(d->state != DISC_DONE);
    d->state = DISC_DONE;
    uv_timer_stop(&d->timer);
    if (d->stream != NULL) {
        stet_h2_stream_reset(d->stream);
        d->stream = NULL;
        d->pending--;
    }
    h1_cancel(d);
    if (!d->cancelled) d->cb(d->arg, dep, e);
    if (!uv_is_closing((uv_handle_t *)&d->timer)) uv_close((uv_handle_t *)&d->timer, on_handle_closed);
    /* the timer close completes asynchronously and frees d when nothing is pending */
}

static void attempt_reset(struct stet_admin_discovery *d) {
    d->status = 0;
    kv_clear(&d->rheaders, &d->n_rheaders);
    stet_buf_reset(&d->body);
}

static void on_retry_timer(uv_timer_t *t) {
    struct stet_admin_discovery *d = t->data;
    STET_ASSERT(d->state == DISC_WAIT);
    STET_ASSERT(d->pending == 1); /* only the timer: a failed attempt holds no stream */
    STET_ASSERT(d->h1 == NULL);
    disc_start_attempt(d);
}

/* An attempt failed: retry or finish. */
static void attempt_failed(struct stet_admin_discovery *d, const struct stet_admin_error *e, bool retryable) {
    uv_timer_stop(&d->timer);
    h1_cancel(d);
    if (retryable && d->retries < d->max_retries) {
        d->retries++;
        stet_warn("admin", "discovery of %s failed, retrying in %llu ms (attempt %u of %u): %s", d->uri,
                  (unsigned long long)d->retry_delay_ms, d->retries + 1, d->max_retries + 1, e->message);
        d->state = DISC_WAIT;
        uv_timer_start(&d->timer, on_retry_timer, d->retry_delay_ms, 0);
        d->retry_delay_ms *= 2;
        return;
    }
    disc_finish(d, NULL, e);
}

static void attempt_complete(struct stet_admin_discovery *d) {
    uv_timer_stop(&d->timer);
    h1_cancel(d);
    struct stet_deployment_schema dep;
    struct stet_admin_error e;
    bool retryable = false;
    if (stet_admin_discovery_result(d->uri, d->status, d->rheaders, d->n_rheaders, d->body.data, d->body.len,
                                    d->use_http_11, &dep, &e, &retryable) != 0) {
        attempt_failed(d, &e, retryable);
        return;
    }
    dep.uri = strdup(d->uri);
    STET_ASSERT(dep.uri != NULL);
    disc_finish(d, &dep, NULL);
    stet_schema_deployment_clear(&dep); /* no-op if the callback took the contents */
}

static void transport_error(struct stet_admin_discovery *d, const char *code, const char *reason, bool retryable) {
    struct stet_admin_error e;
    char msg[1024];
    snprintf(msg, sizeof(msg), "error when calling '%s': %s", d->uri, reason);
    set_coded(&e, code, msg);
    attempt_failed(d, &e, retryable);
}

static void on_attempt_timeout(uv_timer_t *t) {
    struct stet_admin_discovery *d = t->data;
    STET_ASSERT(d->state == DISC_ATTEMPT);
    if (d->stream != NULL) {
        stet_h2_stream_reset(d->stream);
        d->stream = NULL;
        disc_release(d);
    }
    h1_cancel(d);
    transport_error(d, "META0003", "request timed out", true);
}

/* ---- h2c ---- */

static void h2_on_headers(struct stet_h2_stream *s, int status, const struct stet_h2_header *h, size_t n, void *ud) {
    STET_UNUSED(s);
    struct stet_admin_discovery *d = ud;
    d->status = status;
    kv_clear(&d->rheaders, &d->n_rheaders);
    d->rheaders = n ? calloc(n, sizeof(*d->rheaders)) : NULL;
    STET_ASSERT(n == 0 || d->rheaders != NULL);
    for (size_t i = 0; i < n; i++) {
        d->rheaders[i].key = strndup(h[i].name, h[i].name_len);
        d->rheaders[i].value = strndup(h[i].value, h[i].value_len);
        STET_ASSERT(d->rheaders[i].key && d->rheaders[i].value);
    }
    d->n_rheaders = n;
}

static void h2_on_data(struct stet_h2_stream *s, const uint8_t *data, size_t len, void *ud) {
    STET_UNUSED(s);
    struct stet_admin_discovery *d = ud;
    if (d->stream == NULL) return; /* already failed */
    if (d->body.len + len > DISCOVERY_MAX_BODY) {
        stet_h2_stream_reset(d->stream);
        d->stream = NULL;
        disc_release(d);
        transport_error(d, "META0003", "the discovery response is larger than 16 MiB", false);
        return;
    }
    stet_buf_append(&d->body, data, len);
}

static void h2_on_close(struct stet_h2_stream *s, int error, const char *message, void *ud) {
    STET_UNUSED(s);
    struct stet_admin_discovery *d = ud;
    STET_ASSERT(d->stream != NULL);
    d->stream = NULL;
    d->pending--;
    STET_ASSERT(d->pending > 0); /* the timer is still open */
    if (error == 0 && d->status != 0) {
        attempt_complete(d);
        return;
    }
    char reason[512];
    const char *code = "META0003";
    bool retryable = true;
    if (error == 0) {
        snprintf(reason, sizeof(reason), "the response ended without headers");
    } else if (error == STET_H2_EPROTO) {
        code = "META0014";
        retryable = false;
        snprintf(reason, sizeof(reason), "server possibly supports only HTTP1.1, consider discovery with --use-http1.1.");
    } else if (error <= -3000 && error > -3100) {
        snprintf(reason, sizeof(reason), "h2 pool connection error: dns error: %s", uv_strerror(error));
    } else if (error == -ECANCELED) {
        retryable = false; /* the pool is going away */
        snprintf(reason, sizeof(reason), "h2 pool connection error: %s", message ? message : "pool destroyed");
    } else if (error < 0 && error > -4096) {
        snprintf(reason, sizeof(reason), "h2 pool connection error: %s (os error %d)", strerror(-error), -error);
    } else {
        snprintf(reason, sizeof(reason), "h2 pool connection error: %s", message ? message : "unknown error");
    }
    transport_error(d, code, reason, retryable);
}

static const struct stet_h2_stream_callbacks h2_callbacks = {
    .on_headers = h2_on_headers,
    .on_data = h2_on_data,
    .on_response_end = NULL,
    .on_close = h2_on_close,
};

static void h2_start(struct stet_admin_discovery *d) {
    struct stet_h2_header hs[32 + 2];
    size_t n = 0;
    hs[n++] = (struct stet_h2_header){"accept", 6, STET_ADMIN_DISCOVERY_ACCEPT, strlen(STET_ADMIN_DISCOVERY_ACCEPT)};
    if (d->cluster_name != NULL)
        hs[n++] = (struct stet_h2_header){"x-restate-cluster-name", 22, d->cluster_name, strlen(d->cluster_name)};
    for (size_t i = 0; i < d->n_headers && n < STET_ARRAY_LEN(hs); i++)
        hs[n++] = (struct stet_h2_header){d->headers[i].key, strlen(d->headers[i].key), d->headers[i].value,
                                          strlen(d->headers[i].value)};
    int rc = stet_h2_request(d->pool, d->authority, "GET", d->path, hs, n, true /* end_request */, &h2_callbacks, d,
                             &d->stream);
    if (rc != 0) {
        d->stream = NULL;
        char reason[256];
        snprintf(reason, sizeof(reason), "cannot start the HTTP/2 request: %s", strerror(rc < 0 ? -rc : rc));
        transport_error(d, "META0003", reason, false);
        return;
    }
    d->pending++;
}

/* ---- HTTP/1.1 ---- */

static void h1_on_done(struct stet_h1_request *r, int error, const char *message, const struct stet_h1_response *resp,
                       void *ud) {
    struct stet_admin_discovery *d = ud;
    STET_ASSERT(d->h1 == r);
    d->h1 = NULL; /* released by h1client after this returns */
    if (error != 0) {
        char reason[512];
        if (error == -EBADMSG || error == -EMSGSIZE) {
            /* "malformed response: …" / "response too large: …": the endpoint answered, but
             * not with a usable HTTP/1.1 response; retrying would not help */
            transport_error(d, "META0003", message, false);
        } else {
            snprintf(reason, sizeof(reason), "unable to reach the remote endpoint.\nReason: %s", message);
            transport_error(d, "META0003", reason, true);
        }
        return;
    }
    d->status = resp->status;
    kv_clear(&d->rheaders, &d->n_rheaders);
    d->rheaders = resp->n_headers ? calloc(resp->n_headers, sizeof(*d->rheaders)) : NULL;
    STET_ASSERT(resp->n_headers == 0 || d->rheaders != NULL);
    for (size_t i = 0; i < resp->n_headers; i++) {
        d->rheaders[i].key = strndup(resp->headers[i].name, resp->headers[i].name_len);
        d->rheaders[i].value = strndup(resp->headers[i].value, resp->headers[i].value_len);
        STET_ASSERT(d->rheaders[i].key && d->rheaders[i].value);
    }
    d->n_rheaders = resp->n_headers;
    stet_buf_free(&d->body);
    size_t len = 0;
    uint8_t *body = stet_h1_request_take_body(r, &len);
    d->body = (struct stet_buf){body, len, len + 1}; /* take_body leaves a NUL beyond len */
    attempt_complete(d);
}

/* Connection-specific fields are set by the HTTP/1.1 client itself (which refuses them as
 * arguments); additional_headers naming them are left out, as the previous built-in client
 * effectively did by sending its own first. */
static bool h1_connection_header(const char *name) {
    return strcasecmp(name, "host") == 0 || strcasecmp(name, "connection") == 0 ||
           strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0;
}

static void h1_start(struct stet_admin_discovery *d) {
    struct stet_h1_header hs[2 + 64];
    size_t n = 0;
    hs[n++] = (struct stet_h1_header){"accept", 6, STET_ADMIN_DISCOVERY_ACCEPT, strlen(STET_ADMIN_DISCOVERY_ACCEPT)};
    if (d->cluster_name != NULL)
        hs[n++] = (struct stet_h1_header){"x-restate-cluster-name", 22, d->cluster_name, strlen(d->cluster_name)};
    for (size_t i = 0; i < d->n_headers && n < STET_ARRAY_LEN(hs); i++) {
        if (h1_connection_header(d->headers[i].key)) continue;
        hs[n++] = (struct stet_h1_header){d->headers[i].key, strlen(d->headers[i].key), d->headers[i].value,
                                          strlen(d->headers[i].value)};
    }
    /* the attempt timer of the discovery bounds the exchange, so no h1client timeout */
    struct stet_h1_options opts = {.timeout_ms = 0, .max_response_bytes = DISCOVERY_MAX_BODY};
    int rc = stet_h1_request_start(d->loop, d->authority, "GET", d->path, hs, n, NULL, 0, &opts, h1_on_done, d,
                                   &d->h1);
    if (rc != 0) {
        d->h1 = NULL;
        char reason[256];
        snprintf(reason, sizeof(reason),
                 "cannot start the HTTP/1.1 request: %s (an additional header name or value is not valid HTTP/1.1)",
                 strerror(-rc));
        transport_error(d, "META0003", reason, false);
    }
}

static void disc_start_attempt(struct stet_admin_discovery *d) {
    attempt_reset(d);
    d->state = DISC_ATTEMPT;
    uv_timer_start(&d->timer, on_attempt_timeout, d->attempt_timeout_ms, 0);
    if (d->use_http_11) h1_start(d);
    else h2_start(d);
}

/* Splits uri into the authority "host:port" (port 80 by default) and the discover path. */
static int split_target(struct stet_admin_discovery *d, struct stet_admin_error *e) {
    const char *sep = strstr(d->uri, "://");
    STET_ASSERT(sep != NULL);
    size_t sl = (size_t)(sep - d->uri);
    if (!(sl == 4 && strncasecmp(d->uri, "http", 4) == 0)) {
        char msg[700];
        snprintf(msg, sizeof(msg),
                 "error when calling '%s': only http:// deployment URIs are supported by this server (no TLS)", d->uri);
        set_coded(e, "META0003", msg);
        return -EINVAL;
    }
    const char *a = sep + 3;
    size_t al = strcspn(a, "/?#");
    const char *at = memchr(a, '@', al);
    if (at) { al -= (size_t)(at + 1 - a); a = at + 1; }
    const char *h = a, *he, *port = NULL;
    size_t pl = 0;
    if (*h == '[') {
        const char *close = memchr(h, ']', al);
        STET_ASSERT(close != NULL);
        he = close + 1;
        if (he < a + al && *he == ':') { port = he + 1; pl = (size_t)(a + al - port); }
    } else {
        const char *colon = memchr(h, ':', al);
        he = colon ? colon : a + al;
        if (colon) { port = colon + 1; pl = (size_t)(a + al - port); }
    }
    if (port == NULL || pl == 0) { port = "80"; pl = 2; }
    size_t hl = (size_t)(he - a);
    size_t need = hl + pl + 2;
    d->authority = malloc(need);
    STET_ASSERT(d->authority != NULL);
    snprintf(d->authority, need, "%.*s:%.*s", (int)hl, a, (int)pl, port);
    /* path: <uri path without trailing '/'> + "/discover" */
    const char *p = a + al;
    size_t plen = strcspn(p, "?#");
    while (plen > 0 && p[plen - 1] == '/') plen--;
    d->path = malloc(plen + 10);
    STET_ASSERT(d->path != NULL);
    memcpy(d->path, p, plen);
    memcpy(d->path + plen, "/discover", 10);
    return 0;
}

int stet_admin_discover(uv_loop_t *loop, struct stet_h2_pool *pool, const struct stet_admin_discovery_request *req,
                        stet_admin_discovery_cb cb, void *arg, struct stet_admin_discovery **out,
                        struct stet_admin_error *e) {
    struct stet_admin_discovery *d = calloc(1, sizeof(*d));
    STET_ASSERT(d != NULL);
    d->loop = loop;
    d->pool = pool;
    d->uri = strdup(req->uri);
    STET_ASSERT(d->uri != NULL);
    d->use_http_11 = req->use_http_11;
    d->cluster_name = req->cluster_name ? strdup(req->cluster_name) : NULL;
    d->attempt_timeout_ms = req->attempt_timeout_ms ? req->attempt_timeout_ms : 30000;
    d->max_retries = req->max_retries;
    d->retry_delay_ms = req->retry_initial_ms ? req->retry_initial_ms : 100;
    d->cb = cb;
    d->arg = arg;
    if (req->n_headers) {
        d->headers = calloc(req->n_headers, sizeof(*d->headers));
        STET_ASSERT(d->headers != NULL);
        for (size_t i = 0; i < req->n_headers; i++) {
            d->headers[i].key = strdup(req->headers[i].key);
            d->headers[i].value = strdup(req->headers[i].value);
            STET_ASSERT(d->headers[i].key && d->headers[i].value);
        }
        d->n_headers = req->n_headers;
    }
    if (split_target(d, e) != 0 || (!d->use_http_11 && pool == NULL)) {
        if (!d->use_http_11 && pool == NULL && d->path != NULL)
            set_coded(e, "META0003", "error when calling the deployment: no HTTP/2 client available");
        d->state = DISC_DONE;
        disc_free(d);
        return -EINVAL;
    }
    int rc = uv_timer_init(loop, &d->timer);
    STET_ASSERT(rc == 0);
    d->timer.data = d;
    d->pending = 1; /* the timer */
    *out = d;
    disc_start_attempt(d);
    return 0;
}

void stet_admin_discovery_cancel(struct stet_admin_discovery *d, void (*done_cb)(void *arg), void *arg2) {
    STET_ASSERT(d->state != DISC_DONE);
    d->cancelled = true;
    d->done_cb = done_cb;
    d->done_arg = arg2;
    disc_finish(d, NULL, NULL);
}
