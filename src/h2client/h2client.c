/* HTTP/2 cleartext client pool on libuv + nghttp2 (see h2client.h for the API contract).
 *
 * Objects
 *   pool       owns authorities, the nghttp2 callback table and one uv_idle "pump" handle.
 *   authority  one per distinct authority string; holds its connections and the queue of
 *              streams waiting for a connection slot. Lives until the pool is freed.
 *   conn       one TCP connection + nghttp2 client session. Refcounted by its libuv handles
 *              and requests (timer, tcp, getaddrinfo); freed when the last one is closed.
 *   stream     one request; owned by the pool, linked either in authority->pending or in
 *              conn->streams (never both).
 *
 * Connection states (conn->state), transitions and the function that makes them:
 *   RESOLVING  --gai_cb ok-->            CONNECTING     (conn_connect_next)
 *   CONNECTING --connect_cb ok-->        OPEN           (conn_on_connected)
 *   CONNECTING --connect_cb error-->     CONNECTING on the next address, or CLOSED
 *   any        --error/timeout/destroy-> CLOSED         (conn_fail)
 *   OPEN       --idle timeout-->         OPEN+closing: GOAWAY(NO_ERROR) sent, then CLOSED
 *                                        once nghttp2 wants neither to read nor to write
 *                                        (conn_check_done)
 *   OPEN       --GOAWAY received-->      OPEN+goaway_received: no new streams; CLOSED when
 *                                        the remaining streams are done (conn_check_done)
 *
 * Stream states: pending (authority->pending) -> assigned (conn->streams, id 0) ->
 *   submitted (id > 0, nghttp2 owns the HEADERS) -> headers_sent -> finished (on_close, freed).
 *   A request that the peer provably did not process goes back to pending and is retried on
 *   another connection (at most H2_REFUSED_RETRIES_MAX times): nghttp2 closes it with
 *   REFUSED_STREAM when its HEADERS could not be sent (GOAWAY), when the peer refused it
 *   (RST_STREAM REFUSED_STREAM, e.g. above a MAX_CONCURRENT_STREAMS announced late) or when
 *   it is above a GOAWAY's last_stream_id (RFC 9113 §8.7, §6.8), provided no body byte was
 *   handed out and no response arrived yet. Otherwise it fails with on_close.
 *
 * Invariants
 *   1. User callbacks run only from libuv callbacks (read, write, connect, getaddrinfo,
 *      timer, pump) and from stet_h2_pool_destroy, never from request/write/end/reset.
 *      Those functions only change queues and schedule the pump (uv_idle, next iteration).
 *   2. nghttp2_session_send/mem_recv are never re-entered: every nghttp2 callback first
 *      checks conn->state, and a conn that became CLOSED inside a callback keeps its
 *      session alive until its handles are closed (session freed in conn_unref).
 *   3. nghttp2 never holds a pointer to a freed stream: requests are submitted with NULL
 *      stream_user_data; conn_stream_lookup finds the stream in conn->streams and caches it
 *      in nghttp2 once the nghttp2 stream exists; reset/finish clear it.
 *   4. Lists are drained by popping their head, so a callback that resets other streams or
 *      destroys the pool while we iterate cannot leave us on a freed node.
 *   5. conn->n_streams == length(conn->streams); a conn is idle-timed only when it is OPEN,
 *      not closing, not GOAWAY'd and has no streams.
 *
 * Flow control: we advertise SETTINGS_INITIAL_WINDOW_SIZE = initial_stream_window and widen
 * the connection window with nghttp2_session_set_local_window_size; nghttp2 sends
 * WINDOW_UPDATE automatically for received DATA (it is delivered to on_data synchronously,
 * so "consumed" means on_data returned); nghttp2_option_set_no_auto_window_update is unset.
 * Request bodies go through a data provider that copies from the stream's queue and returns
 * NGHTTP2_ERR_DEFERRED when it is empty; stream_write/end resume it from the pump.
 */
#include "h2client/h2client.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "common/assert.h"
#include "common/authority.h"
#include "common/buf.h"
#include "common/log.h"

#define H2_MODULE "h2client"
#define H2_ASSUMED_MAX_STREAMS 100u           /* before the peer's SETTINGS (RFC 9113 §6.5.2 advice) */
#define H2_WRITE_CHUNK_BYTES (256u * 1024u)   /* bytes gathered per uv_write */
#define H2_READ_BUFFER_BYTES (64u * 1024u)
#define H2_RESPONSE_HEAD_BYTES_MAX (64u * 1024u)
#define H2_MESSAGE_BYTES 256
#define H2_REFUSED_RETRIES_MAX 5

/* ---- intrusive circular list ------------------------------------------------------- */

struct h2_link {
    struct h2_link *prev, *next;
};

#define h2_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void link_init(struct h2_link *l) { l->prev = l->next = l; }
static bool list_empty(const struct h2_link *head) { return head->next == head; }
static bool link_linked(const struct h2_link *l) { return l->next != l; }

static void list_insert_tail(struct h2_link *head, struct h2_link *l) {
    STET_ASSERT(!link_linked(l));
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void list_insert_head(struct h2_link *head, struct h2_link *l) {
    STET_ASSERT(!link_linked(l));
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void link_remove(struct h2_link *l) {
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

/* ---- types -------------------------------------------------------------------------- */

enum h2_conn_state { H2_CONN_RESOLVING, H2_CONN_CONNECTING, H2_CONN_OPEN, H2_CONN_CLOSED };

struct h2_authority {
    struct h2_link link; /* in pool->authorities */
    char *name;          /* as given, sent as :authority */
    char *host;          /* without brackets */
    char *port;
    struct h2_link conns;   /* struct h2_conn.link, state != CLOSED */
    uint32_t n_conns;
    struct h2_link pending; /* struct stet_h2_stream.link waiting for a slot */
};

struct h2_conn {
    struct h2_link link;       /* in authority->conns while not CLOSED */
    struct h2_link dirty_link; /* in pool->dirty while it needs conn_service */
    struct stet_h2_pool *pool;
    struct h2_authority *authority;
    enum h2_conn_state state;
    bool started;          /* conn_start ran */
    bool closing;          /* local: no new streams, GOAWAY when empty */
    bool goaway_submitted; /* our GOAWAY(NO_ERROR) is queued or sent */
    bool goaway_received;
    bool writing;
    bool in_send;
    bool tcp_initialized;
    bool gai_pending;
    int32_t goaway_last_stream_id;
    int refs;              /* timer + tcp (while initialized) + getaddrinfo (while pending) */
    uv_timer_t timer;      /* connect timeout, then idle timeout */
    uv_tcp_t tcp;
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct addrinfo *addrs;
    struct addrinfo *addr_next;
    int last_connect_error;
    nghttp2_session *session;
    struct stet_buf wbuf;  /* bytes handed to uv_write (or being gathered) */
    struct h2_link streams;
    uint32_t n_streams;
};

struct stet_h2_stream {
    struct h2_link link;
    struct stet_h2_pool *pool;
    struct h2_authority *authority;
    struct h2_conn *conn; /* NULL while pending */
    int32_t id;           /* 0 until submitted */
    bool submitted;
    bool headers_sent;
    bool data_sent;       /* the data provider handed out body bytes or END_STREAM */
    uint8_t refused_retries;
    bool has_body;        /* request submitted with a data provider */
    bool end_requested;
    bool deferred;        /* data provider returned NGHTTP2_ERR_DEFERRED */
    bool remote_ended;
    bool head_delivered;
    bool peer_rst;
    bool closing;         /* inside on_close */
    struct stet_h2_stream_callbacks cb;
    void *ud;
    nghttp2_nv *nva;      /* request head; names/values point into the same allocation */
    size_t nva_len;
    struct stet_buf out;  /* request body queue: bytes [out_off, out.len) not yet sent */
    size_t out_off;
    int status;           /* response head under construction */
    struct stet_buf head_bytes;
    struct stet_buf head_index; /* uint32_t quadruples: name_off, name_len, value_off, value_len */
    char local_error[H2_MESSAGE_BYTES];
};

struct stet_h2_pool {
    uv_loop_t *loop;
    struct stet_h2_pool_config cfg;
    struct h2_link authorities;
    struct h2_link dirty;
    uv_idle_t pump;
    bool pump_closed;
    bool destroying;
    uint32_t conns_alive; /* allocated conns, including CLOSED ones waiting for handle closes */
    void (*closed_cb)(void *arg);
    void *closed_arg;
    struct stet_h2_stats stats;
    nghttp2_session_callbacks *callbacks;
    nghttp2_option *option;
    char read_buffer[H2_READ_BUFFER_BYTES];
};

static void conn_fail(struct h2_conn *c, int error, const char *message);
static void conn_flush(struct h2_conn *c);
static void conn_update_idle(struct h2_conn *c);
static void pool_schedule(struct stet_h2_pool *p);
static void pool_pump_cb(uv_idle_t *h);

/* ---- config ------------------------------------------------------------------------- */

void stet_h2_pool_config_default(struct stet_h2_pool_config *cfg) {
    STET_ASSERT(cfg != NULL);
    cfg->initial_stream_window = 2u * 1024u * 1024u;
    cfg->initial_connection_window = 5u * 1024u * 1024u;
    cfg->connect_timeout_ms = 10000;
    cfg->idle_connection_timeout_ms = 60000;
    cfg->max_connections_per_authority = 16;
}

/* ---- streams ------------------------------------------------------------------------ */

static void stream_free(struct stet_h2_stream *s) {
    STET_ASSERT(!link_linked(&s->link));
    stet_buf_free(&s->out);
    stet_buf_free(&s->head_bytes);
    stet_buf_free(&s->head_index);
    free(s->nva);
    free(s);
}

/* The only place that calls on_close. The stream must already be unlinked. */
static void stream_finish(struct stet_h2_stream *s, int error, const char *message) {
    STET_ASSERT(!link_linked(&s->link));
    STET_ASSERT(!s->closing);
    s->closing = true;
    s->conn = NULL;
    STET_ASSERT(s->pool->stats.streams_open > 0);
    s->pool->stats.streams_open--;
    s->cb.on_close(s, error, message ? message : "", s->ud);
    stream_free(s);
}

static size_t stream_queued(const struct stet_h2_stream *s) { return s->out.len - s->out_off; }

/* Detaches an assigned stream from its connection (caller re-links or finishes it). */
static void stream_detach(struct stet_h2_stream *s) {
    struct h2_conn *c = s->conn;
    STET_ASSERT(c != NULL);
    STET_ASSERT(c->n_streams > 0);
    if (s->id > 0 && c->session) nghttp2_session_set_stream_user_data(c->session, s->id, NULL);
    link_remove(&s->link);
    c->n_streams--;
    s->conn = NULL;
}

/* Back to the authority queue, to be sent again on some connection. Only for requests the
 * peer has provably not processed: HEADERS never sent, or refused (REFUSED_STREAM, RFC 9113
 * §8.7) before any body byte left and before any response arrived. */
static void stream_requeue(struct stet_h2_stream *s) {
    STET_ASSERT(!s->data_sent);
    STET_ASSERT(!s->head_delivered);
    STET_ASSERT(!s->remote_ended);
    stream_detach(s);
    s->id = 0;
    s->submitted = false;
    s->deferred = false;
    s->headers_sent = false;
    s->peer_rst = false;
    s->status = 0;
    list_insert_head(&s->authority->pending, &s->link);
    pool_schedule(s->pool);
}

static struct stet_h2_stream *conn_stream_lookup(struct h2_conn *c, int32_t id) {
    if (c->state == H2_CONN_CLOSED || id <= 0) return NULL;
    struct stet_h2_stream *s = nghttp2_session_get_stream_user_data(c->session, id);
    if (s) {
        STET_ASSERT(s->conn == c);
        STET_ASSERT(s->id == id);
        return s;
    }
    for (struct h2_link *l = c->streams.next; l != &c->streams; l = l->next) {
        s = h2_container_of(l, struct stet_h2_stream, link);
        if (s->id == id) {
            nghttp2_session_set_stream_user_data(c->session, id, s); /* fails harmlessly if not open yet */
            return s;
        }
    }
    return NULL;
}

/* ---- pool pump ---------------------------------------------------------------------- */

static void pool_schedule(struct stet_h2_pool *p) {
    if (p->destroying) return;
    if (!uv_is_active((uv_handle_t *)&p->pump)) uv_idle_start(&p->pump, pool_pump_cb);
}

static void conn_mark_dirty(struct h2_conn *c) {
    if (c->state == H2_CONN_CLOSED) return;
    if (!link_linked(&c->dirty_link)) list_insert_tail(&c->pool->dirty, &c->dirty_link);
    pool_schedule(c->pool);
}

static uint32_t conn_capacity(const struct h2_conn *c) {
    if (!c->session) return H2_ASSUMED_MAX_STREAMS;
    return nghttp2_session_get_remote_settings(c->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

static bool conn_accepts_streams(const struct h2_conn *c) {
    return c->state != H2_CONN_CLOSED && !c->closing && !c->goaway_received && c->n_streams < conn_capacity(c);
}

static struct h2_conn *authority_pick_conn(struct h2_authority *a) {
    struct h2_conn *connecting = NULL;
    for (struct h2_link *l = a->conns.next; l != &a->conns; l = l->next) {
        struct h2_conn *c = h2_container_of(l, struct h2_conn, link);
        if (!conn_accepts_streams(c)) continue;
        if (c->state == H2_CONN_OPEN) return c;
        if (!connecting) connecting = c;
    }
    return connecting;
}

static void conn_timer_close_cb(uv_handle_t *h);
static void conn_start(struct h2_conn *c);

static struct h2_conn *conn_create(struct h2_authority *a, struct stet_h2_pool *p) {
    struct h2_conn *c = calloc(1, sizeof(*c));
    STET_ASSERT(c != NULL);
    c->pool = p;
    c->authority = a;
    c->state = H2_CONN_RESOLVING;
    link_init(&c->link);
    link_init(&c->dirty_link);
    link_init(&c->streams);
    stet_buf_init(&c->wbuf);
    int rv = uv_timer_init(p->loop, &c->timer);
    STET_ASSERT(rv == 0);
    c->timer.data = c;
    c->tcp.data = c;
    c->gai.data = c;
    c->connect_req.data = c;
    c->write_req.data = c;
    c->refs = 1; /* timer */
    list_insert_tail(&a->conns, &c->link);
    a->n_conns++;
    p->conns_alive++;
    p->stats.connections_total++;
    p->stats.connections_open++;
    return c;
}

static void authority_dispatch(struct stet_h2_pool *p, struct h2_authority *a) {
    while (!list_empty(&a->pending)) {
        struct h2_conn *c = authority_pick_conn(a);
        if (!c) {
            if (a->n_conns >= p->cfg.max_connections_per_authority) break; /* wait for a slot */
            c = conn_create(a, p);
        }
        struct stet_h2_stream *s = h2_container_of(a->pending.next, struct stet_h2_stream, link);
        link_remove(&s->link);
        list_insert_tail(&c->streams, &s->link);
        s->conn = c;
        c->n_streams++;
        if (c->state == H2_CONN_OPEN) {
            uv_timer_stop(&c->timer);
            conn_mark_dirty(c);
        }
    }
    /* Start new connections last: a synchronous resolver failure calls back into the user. */
    for (;;) {
        struct h2_conn *fresh = NULL;
        for (struct h2_link *l = a->conns.next; l != &a->conns; l = l->next) {
            struct h2_conn *c = h2_container_of(l, struct h2_conn, link);
            if (!c->started) { fresh = c; break; }
        }
        if (!fresh || p->destroying) break;
        conn_start(fresh);
    }
}

static void conn_service(struct h2_conn *c);

static void pool_pump_cb(uv_idle_t *h) {
    struct stet_h2_pool *p = h->data;
    uv_idle_stop(h); /* anything scheduled from here on runs on the next iteration */
    for (struct h2_link *l = p->authorities.next; l != &p->authorities && !p->destroying; l = l->next) {
        struct h2_authority *a = h2_container_of(l, struct h2_authority, link);
        if (!list_empty(&a->pending)) authority_dispatch(p, a);
    }
    while (!p->destroying && !list_empty(&p->dirty)) {
        struct h2_conn *c = h2_container_of(p->dirty.next, struct h2_conn, dirty_link);
        link_remove(&c->dirty_link);
        conn_service(c);
    }
}

/* ---- connection lifecycle ----------------------------------------------------------- */

static void pool_maybe_free(struct stet_h2_pool *p) {
    if (!p->destroying || !p->pump_closed || p->conns_alive > 0) return;
    while (!list_empty(&p->authorities)) {
        struct h2_authority *a = h2_container_of(p->authorities.next, struct h2_authority, link);
        link_remove(&a->link);
        STET_ASSERT(list_empty(&a->conns));
        STET_ASSERT(list_empty(&a->pending));
        free(a->name);
        free(a->host);
        free(a->port);
        free(a);
    }
    nghttp2_session_callbacks_del(p->callbacks);
    nghttp2_option_del(p->option);
    void (*closed_cb)(void *) = p->closed_cb;
    void *arg = p->closed_arg;
    free(p);
    if (closed_cb) closed_cb(arg);
}

static void conn_unref(struct h2_conn *c) {
    STET_ASSERT(c->refs > 0);
    if (--c->refs > 0) return;
    STET_ASSERT(c->state == H2_CONN_CLOSED);
    STET_ASSERT(!c->writing);
    struct stet_h2_pool *p = c->pool;
    if (c->session) nghttp2_session_del(c->session);
    if (c->addrs) uv_freeaddrinfo(c->addrs);
    stet_buf_free(&c->wbuf);
    free(c);
    STET_ASSERT(p->conns_alive > 0);
    p->conns_alive--;
    pool_maybe_free(p);
}

static void conn_timer_close_cb(uv_handle_t *h) { conn_unref(h->data); }

static void conn_tcp_close_cb(uv_handle_t *h) {
    struct h2_conn *c = h->data;
    c->tcp_initialized = false;
    conn_unref(c);
}

/* Closes the connection; every stream on it gets on_close(error, message). Idempotent. */
static void conn_fail(struct h2_conn *c, int error, const char *message) {
    if (c->state == H2_CONN_CLOSED) return;
    struct stet_h2_pool *p = c->pool;
    bool was_open = c->state == H2_CONN_OPEN;
    c->state = H2_CONN_CLOSED;
    link_remove(&c->link);
    STET_ASSERT(c->authority->n_conns > 0);
    c->authority->n_conns--;
    if (link_linked(&c->dirty_link)) link_remove(&c->dirty_link);
    STET_ASSERT(p->stats.connections_open > 0);
    p->stats.connections_open--;
    uv_close((uv_handle_t *)&c->timer, conn_timer_close_cb);
    if (c->tcp_initialized && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_tcp_close_cb);
    if (c->gai_pending) uv_cancel((uv_req_t *)&c->gai); /* gai_cb still runs, with UV_EAI_CANCELED */
    stet_debug(H2_MODULE, "connection closed authority=%s streams=%u error=%d reason=\"%s\" was_open=%d",
               c->authority->name, c->n_streams, error, message, (int)was_open);
    char saved[H2_MESSAGE_BYTES];
    snprintf(saved, sizeof(saved), "%s", message); /* message may live in c or in a stream */
    while (!list_empty(&c->streams)) {
        struct stet_h2_stream *s = h2_container_of(c->streams.next, struct stet_h2_stream, link);
        stream_detach(s);
        stream_finish(s, error, saved);
    }
    /* Streams still pending for this authority need another connection. */
    if (!list_empty(&c->authority->pending)) pool_schedule(p);
}

static void conn_fail_connect(struct h2_conn *c, int error, const char *message) {
    c->pool->stats.connect_errors++;
    stet_debug(H2_MODULE, "connect failed authority=%s error=\"%s\"", c->authority->name, message);
    conn_fail(c, error, message);
}

static void conn_timer_cb(uv_timer_t *t) {
    struct h2_conn *c = t->data;
    if (c->state == H2_CONN_CLOSED) return;
    if (c->state != H2_CONN_OPEN) {
        conn_fail_connect(c, -ETIMEDOUT, "connect timeout");
        return;
    }
    /* Idle timeout: say goodbye (GOAWAY NO_ERROR); conn_check_done closes after the write. */
    if (c->n_streams > 0 || c->closing) return;
    stet_debug(H2_MODULE, "closing idle connection authority=%s", c->authority->name);
    c->closing = true;
    c->goaway_submitted = true;
    nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
    conn_flush(c);
}

/* Starts the idle timer on an empty reusable connection, stops it on a busy one, and closes
 * an empty connection that takes no new streams. Never calls user callbacks. */
static void conn_update_idle(struct h2_conn *c) {
    if (c->state != H2_CONN_OPEN) return;
    if (c->n_streams > 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    if (c->closing || c->goaway_received) {
        /* No more streams can start here: finish the session (conn_check_done closes). */
        c->closing = true;
        if (!c->goaway_submitted) {
            c->goaway_submitted = true;
            nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
            conn_mark_dirty(c);
        }
        return;
    }
    if (!uv_is_active((uv_handle_t *)&c->timer))
        uv_timer_start(&c->timer, conn_timer_cb, c->pool->cfg.idle_connection_timeout_ms, 0);
}

static void conn_connect_next(struct h2_conn *c);

static void conn_tcp_retry_close_cb(uv_handle_t *h) {
    struct h2_conn *c = h->data;
    c->tcp_initialized = false;
    if (c->state != H2_CONN_CLOSED) conn_connect_next(c);
    conn_unref(c);
}

static void conn_on_connected(struct h2_conn *c);

static void conn_connect_cb(uv_connect_t *req, int status) {
    struct h2_conn *c = req->data;
    if (c->state == H2_CONN_CLOSED) return;
    if (status < 0) {
        c->last_connect_error = status;
        uv_close((uv_handle_t *)&c->tcp, conn_tcp_retry_close_cb);
        return;
    }
    conn_on_connected(c);
}

static void conn_connect_next(struct h2_conn *c) {
    STET_ASSERT(c->state != H2_CONN_CLOSED);
    STET_ASSERT(!c->tcp_initialized);
    while (c->addr_next) {
        struct addrinfo *ai = c->addr_next;
        c->addr_next = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        int rv = uv_tcp_init(c->pool->loop, &c->tcp);
        STET_ASSERT(rv == 0);
        c->tcp_initialized = true;
        c->refs++;
        c->state = H2_CONN_CONNECTING;
        rv = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr, conn_connect_cb);
        if (rv == 0) return;
        c->last_connect_error = rv;
        uv_close((uv_handle_t *)&c->tcp, conn_tcp_retry_close_cb); /* tries the next address */
        return;
    }
    int error = c->last_connect_error ? c->last_connect_error : UV_EADDRNOTAVAIL;
    conn_fail_connect(c, error, uv_strerror(error));
}

static void conn_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct h2_conn *c = req->data;
    c->gai_pending = false;
    if (c->state == H2_CONN_CLOSED) {
        if (res) uv_freeaddrinfo(res);
    } else if (status < 0) {
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "failed to resolve %s: %s", c->authority->host, uv_strerror(status));
        conn_fail_connect(c, status, message);
    } else {
        c->addrs = res;
        c->addr_next = res;
        conn_connect_next(c);
    }
    conn_unref(c); /* the getaddrinfo reference */
}

static void conn_start(struct h2_conn *c) {
    STET_ASSERT(!c->started);
    STET_ASSERT(c->state == H2_CONN_RESOLVING);
    c->started = true;
    uv_timer_start(&c->timer, conn_timer_cb, c->pool->cfg.connect_timeout_ms, 0);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_ADDRCONFIG;
    int rv = uv_getaddrinfo(c->pool->loop, &c->gai, conn_gai_cb, c->authority->host, c->authority->port, &hints);
    if (rv < 0) {
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "failed to resolve %s: %s", c->authority->host, uv_strerror(rv));
        conn_fail_connect(c, rv, message);
        return;
    }
    c->gai_pending = true;
    c->refs++;
}

/* ---- I/O ---------------------------------------------------------------------------- */

static void conn_check_done(struct h2_conn *c) {
    if (c->state != H2_CONN_OPEN || c->writing) return;
    if (nghttp2_session_want_read(c->session) || nghttp2_session_want_write(c->session)) return;
    conn_fail(c, STET_H2_ECLOSED, "connection closed");
}

static void conn_write_cb(uv_write_t *req, int status) {
    struct h2_conn *c = req->data;
    c->writing = false;
    stet_buf_reset(&c->wbuf);
    if (c->state == H2_CONN_CLOSED) return;
    if (status < 0) {
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "connection closed: %s", uv_strerror(status));
        conn_fail(c, STET_H2_ECLOSED, message);
        return;
    }
    conn_flush(c);
}

/* Runs nghttp2_session_send and hands its output to one uv_write at a time. May call user
 * callbacks (streams closing after their last frame), so only from libuv callbacks. */
static void conn_flush(struct h2_conn *c) {
    if (c->state != H2_CONN_OPEN || c->writing || c->in_send) return;
    c->in_send = true;
    int rv = nghttp2_session_send(c->session);
    c->in_send = false;
    if (c->state != H2_CONN_OPEN) return;
    if (rv != 0) {
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "HTTP/2 session error: %s", nghttp2_strerror(rv));
        conn_fail(c, STET_H2_EPROTO, message);
        return;
    }
    if (c->wbuf.len > 0) {
        uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
        rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb);
        if (rv < 0) {
            char message[H2_MESSAGE_BYTES];
            snprintf(message, sizeof(message), "connection closed: %s", uv_strerror(rv));
            conn_fail(c, STET_H2_ECLOSED, message);
            return;
        }
        c->writing = true;
        return;
    }
    conn_check_done(c);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    struct h2_conn *c = h->data;
    buf->base = c->pool->read_buffer;
    buf->len = sizeof(c->pool->read_buffer);
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    struct h2_conn *c = stream->data;
    if (nread == 0 || c->state != H2_CONN_OPEN) return;
    if (nread < 0) {
        char message[H2_MESSAGE_BYTES];
        if (nread == UV_EOF) snprintf(message, sizeof(message), "connection closed");
        else snprintf(message, sizeof(message), "connection closed: %s", uv_strerror((int)nread));
        conn_fail(c, STET_H2_ECLOSED, message);
        return;
    }
    ssize_t rv = nghttp2_session_mem_recv(c->session, (const uint8_t *)buf->base, (size_t)nread);
    if (c->state != H2_CONN_OPEN) return; /* closed from a callback */
    if (rv < 0) {
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "HTTP/2 protocol error: %s", nghttp2_strerror((int)rv));
        conn_fail(c, STET_H2_EPROTO, message);
        return;
    }
    conn_flush(c); /* SETTINGS ACK, WINDOW_UPDATE, PING ACK, and data resumed by callbacks */
}

static void conn_on_connected(struct h2_conn *c) {
    struct stet_h2_pool *p = c->pool;
    uv_timer_stop(&c->timer);
    c->state = H2_CONN_OPEN;
    uv_tcp_nodelay(&c->tcp, 1);
    int rv = nghttp2_session_client_new2(&c->session, p->callbacks, c, p->option);
    if (rv != 0) {
        c->session = NULL;
        conn_fail(c, -ENOMEM, "out of memory creating HTTP/2 session");
        return;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, p->cfg.initial_stream_window},
    };
    rv = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, STET_ARRAY_LEN(settings));
    STET_ASSERT(rv == 0); /* values validated in stet_h2_pool_create */
    if (p->cfg.initial_connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
        rv = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)p->cfg.initial_connection_window);
        STET_ASSERT(rv == 0);
    }
    rv = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
    if (rv < 0) {
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "connection closed: %s", uv_strerror(rv));
        conn_fail(c, STET_H2_ECLOSED, message);
        return;
    }
    stet_debug(H2_MODULE, "connected authority=%s streams=%u", c->authority->name, c->n_streams);
    conn_service(c);
}

/* ---- submitting streams ------------------------------------------------------------- */

static ssize_t stream_data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                                   uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
    (void)session;
    (void)source;
    struct h2_conn *c = user_data;
    struct stet_h2_stream *s = conn_stream_lookup(c, stream_id);
    if (!s) return NGHTTP2_ERR_DEFERRED; /* reset by the user: its RST_STREAM closes the stream */
    size_t avail = stream_queued(s);
    size_t n = avail < length ? avail : length;
    if (n > 0) {
        memcpy(buf, s->out.data + s->out_off, n);
        s->out_off += n;
        if (s->out_off == s->out.len) {
            if (s->out.cap > 4 * H2_WRITE_CHUNK_BYTES) stet_buf_free(&s->out); /* give big bursts back */
            else stet_buf_reset(&s->out);
            s->out_off = 0;
        } else if (s->out_off >= 64u * 1024u && s->out_off * 2 >= s->out.len) {
            stet_buf_consume(&s->out, s->out_off);
            s->out_off = 0;
        }
    }
    if (n == avail && s->end_requested) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        s->data_sent = true;
        return (ssize_t)n;
    }
    if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    s->data_sent = true;
    return (ssize_t)n;
}

/* Returns 0, or a negative nghttp2 error for a request that cannot be submitted. */
static int stream_submit(struct h2_conn *c, struct stet_h2_stream *s) {
    STET_ASSERT(!s->submitted);
    nghttp2_data_provider provider = {.source = {.ptr = NULL}, .read_callback = stream_data_read_cb};
    int32_t id = nghttp2_submit_request(c->session, NULL, s->nva, s->nva_len, s->has_body ? &provider : NULL,
                                        NULL /* see invariant 3 */);
    if (id < 0) return id;
    s->id = id;
    s->submitted = true;
    s->deferred = false;
    return 0;
}

/* Invariant 5 (costly: walks the list). */
static __attribute__((unused)) void conn_check(const struct h2_conn *c) {
    uint32_t n = 0;
    for (const struct h2_link *l = c->streams.next; l != &c->streams; l = l->next) {
        const struct stet_h2_stream *s = h2_container_of(l, const struct stet_h2_stream, link);
        STET_ASSERT(s->conn == c);
        STET_ASSERT(!s->closing);
        n++;
    }
    STET_ASSERT(n == c->n_streams);
}

static void conn_service(struct h2_conn *c) {
    if (c->state != H2_CONN_OPEN) return;
    STET_DASSERT((conn_check(c), true));
    struct h2_link failed;
    link_init(&failed);
    int failed_error = 0;
    for (struct h2_link *l = c->streams.next, *next; l != &c->streams; l = next) {
        next = l->next;
        struct stet_h2_stream *s = h2_container_of(l, struct stet_h2_stream, link);
        if (!s->submitted) {
            int rv = stream_submit(c, s);
            if (rv == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
                c->closing = true; /* stream ids exhausted: retire this connection */
                stream_requeue(s);
            } else if (rv < 0) {
                link_remove(&s->link);
                c->n_streams--;
                s->conn = NULL;
                list_insert_tail(&failed, &s->link);
                failed_error = rv;
            }
        } else if (s->deferred && (stream_queued(s) > 0 || s->end_requested)) {
            s->deferred = false;
            nghttp2_session_resume_data(c->session, s->id);
        }
    }
    while (!list_empty(&failed)) {
        struct stet_h2_stream *s = h2_container_of(failed.next, struct stet_h2_stream, link);
        link_remove(&s->link);
        char message[H2_MESSAGE_BYTES];
        snprintf(message, sizeof(message), "cannot start HTTP/2 request: %s", nghttp2_strerror(failed_error));
        stream_finish(s, STET_H2_EPROTO, message);
    }
    if (c->state != H2_CONN_OPEN) return;
    conn_update_idle(c);
    conn_flush(c);
}

/* ---- nghttp2 callbacks -------------------------------------------------------------- */

static ssize_t h2_send_cb(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
                          void *user_data) {
    (void)session;
    (void)flags;
    struct h2_conn *c = user_data;
    if (c->state != H2_CONN_OPEN) return NGHTTP2_ERR_CALLBACK_FAILURE;
    STET_ASSERT(!c->writing);
    if (c->wbuf.len >= H2_WRITE_CHUNK_BYTES) return NGHTTP2_ERR_WOULDBLOCK;
    stet_buf_append(&c->wbuf, data, length);
    return (ssize_t)length;
}

static int h2_on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)session;
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct stet_h2_stream *s = conn_stream_lookup(c, frame->hd.stream_id);
    if (s) s->headers_sent = true;
    return 0;
}

static int h2_on_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)session;
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct stet_h2_stream *s = conn_stream_lookup(c, frame->hd.stream_id);
    if (!s || s->head_delivered) return 0;
    s->status = 0;
    stet_buf_reset(&s->head_bytes);
    stet_buf_reset(&s->head_index);
    return 0;
}

static int h2_on_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                           size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                           void *user_data) {
    (void)session;
    (void)flags;
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct stet_h2_stream *s = conn_stream_lookup(c, frame->hd.stream_id);
    if (!s || s->head_delivered) return 0; /* trailers are not reported */
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        int status = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++) {
            if (value[i] < '0' || value[i] > '9') return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            status = status * 10 + (value[i] - '0');
        }
        s->status = status;
        return 0;
    }
    if (namelen > 0 && name[0] == ':') return 0;
    if (s->head_bytes.len + namelen + valuelen > H2_RESPONSE_HEAD_BYTES_MAX) {
        snprintf(s->local_error, sizeof(s->local_error), "response headers exceed %u bytes",
                 H2_RESPONSE_HEAD_BYTES_MAX);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    }
    uint32_t entry[4] = {(uint32_t)s->head_bytes.len, (uint32_t)namelen, 0, (uint32_t)valuelen};
    stet_buf_append(&s->head_bytes, name, namelen);
    entry[2] = (uint32_t)s->head_bytes.len;
    stet_buf_append(&s->head_bytes, value, valuelen);
    stet_buf_append(&s->head_index, entry, sizeof(entry));
    return 0;
}

static void stream_deliver_head(struct stet_h2_stream *s) {
    STET_ASSERT(!s->head_delivered);
    s->head_delivered = true;
    if (!s->cb.on_headers) return;
    size_t n = s->head_index.len / (4 * sizeof(uint32_t));
    struct stet_h2_header *h = n ? calloc(n, sizeof(*h)) : NULL;
    STET_ASSERT(n == 0 || h != NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t entry[4];
        memcpy(entry, s->head_index.data + i * sizeof(entry), sizeof(entry));
        h[i].name = (const char *)s->head_bytes.data + entry[0];
        h[i].name_len = entry[1];
        h[i].value = (const char *)s->head_bytes.data + entry[2];
        h[i].value_len = entry[3];
    }
    /* The callback may reset s: h and the bytes stay valid because we own copies below. */
    struct stet_buf bytes = s->head_bytes, index = s->head_index;
    stet_buf_init(&s->head_bytes);
    stet_buf_init(&s->head_index);
    s->cb.on_headers(s, s->status, h, n, s->ud);
    free(h);
    stet_buf_free(&bytes);
    stet_buf_free(&index);
}

static void stream_remote_end(struct h2_conn *c, int32_t id) {
    struct stet_h2_stream *s = conn_stream_lookup(c, id);
    if (!s || s->remote_ended) return;
    s->remote_ended = true;
    if (s->cb.on_response_end) s->cb.on_response_end(s, s->ud);
}

static int h2_on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)session;
    struct h2_conn *c = user_data;
    if (c->state != H2_CONN_OPEN) return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
        int32_t id = frame->hd.stream_id;
        struct stet_h2_stream *s = conn_stream_lookup(c, id);
        if (!s) return 0;
        if (!s->head_delivered && s->status >= 200) stream_deliver_head(s);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) stream_remote_end(c, id); /* looks s up again */
        return 0;
    }
    case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) stream_remote_end(c, frame->hd.stream_id);
        return 0;
    case NGHTTP2_RST_STREAM: {
        struct stet_h2_stream *s = conn_stream_lookup(c, frame->hd.stream_id);
        if (s) s->peer_rst = true;
        return 0;
    }
    case NGHTTP2_GOAWAY: {
        c->goaway_received = true;
        c->goaway_last_stream_id = frame->goaway.last_stream_id;
        stet_debug(H2_MODULE, "GOAWAY received authority=%s last_stream_id=%d error=%s", c->authority->name,
                   frame->goaway.last_stream_id, nghttp2_http2_strerror(frame->goaway.error_code));
        /* Requests not yet handed to nghttp2 go to another connection. */
        for (struct h2_link *l = c->streams.next, *next; l != &c->streams; l = next) {
            next = l->next;
            struct stet_h2_stream *s = h2_container_of(l, struct stet_h2_stream, link);
            if (!s->submitted) stream_requeue(s);
        }
        conn_update_idle(c);
        return 0;
    }
    case NGHTTP2_SETTINGS:
        /* MAX_CONCURRENT_STREAMS may have grown: let waiting requests in. */
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !list_empty(&c->authority->pending)) pool_schedule(c->pool);
        return 0;
    default:
        return 0;
    }
}

static int h2_on_data_chunk_recv_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                                    const uint8_t *data, size_t len, void *user_data) {
    (void)session;
    (void)flags;
    struct h2_conn *c = user_data;
    struct stet_h2_stream *s = conn_stream_lookup(c, stream_id);
    if (s && s->cb.on_data && len > 0) s->cb.on_data(s, data, len, s->ud);
    return 0;
}

static int h2_on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                                 void *user_data) {
    (void)session;
    struct h2_conn *c = user_data;
    struct stet_h2_stream *s = conn_stream_lookup(c, stream_id);
    if (!s) return 0;
    if (error_code == NGHTTP2_REFUSED_STREAM && !s->data_sent && !s->head_delivered && !s->remote_ended &&
        s->refused_retries < H2_REFUSED_RETRIES_MAX) {
        /* Either our HEADERS never left (GOAWAY raced them) or the peer refused the stream,
         * e.g. above a SETTINGS_MAX_CONCURRENT_STREAMS it announced after we had started:
         * nothing was processed, so send it again on whichever connection has room. */
        s->refused_retries++;
        stream_requeue(s);
        conn_update_idle(c);
        return 0;
    }
    int error = 0;
    char message[H2_MESSAGE_BYTES] = "";
    if (error_code == NGHTTP2_NO_ERROR && s->remote_ended) {
        error = 0; /* includes a peer RST_STREAM(NO_ERROR) after a complete response */
    } else if (c->goaway_received && stream_id > c->goaway_last_stream_id) {
        error = STET_H2_EGOAWAY;
        snprintf(message, sizeof(message), "GOAWAY received");
    } else if (s->peer_rst) {
        error = STET_H2_ERESET;
        snprintf(message, sizeof(message), "stream reset by peer: %s", nghttp2_http2_strerror(error_code));
    } else if (s->local_error[0]) {
        error = STET_H2_EPROTO;
        snprintf(message, sizeof(message), "%s", s->local_error);
    } else if (error_code == NGHTTP2_NO_ERROR) {
        error = STET_H2_EPROTO;
        snprintf(message, sizeof(message), "stream closed before the response ended");
    } else {
        error = STET_H2_EPROTO;
        snprintf(message, sizeof(message), "stream error: %s", nghttp2_http2_strerror(error_code));
    }
    stream_detach(s);
    stream_finish(s, error, message);
    if (c->state != H2_CONN_OPEN) return 0;
    conn_update_idle(c);
    if (!list_empty(&c->authority->pending)) pool_schedule(c->pool);
    return 0;
}

/* ---- public API --------------------------------------------------------------------- */

int stet_h2_pool_create(uv_loop_t *loop, const struct stet_h2_pool_config *cfg, struct stet_h2_pool **out) {
    if (!loop || !out) return -EINVAL;
    struct stet_h2_pool_config c;
    stet_h2_pool_config_default(&c);
    if (cfg) {
        if (cfg->initial_stream_window) c.initial_stream_window = cfg->initial_stream_window;
        if (cfg->initial_connection_window) c.initial_connection_window = cfg->initial_connection_window;
        if (cfg->connect_timeout_ms) c.connect_timeout_ms = cfg->connect_timeout_ms;
        if (cfg->idle_connection_timeout_ms) c.idle_connection_timeout_ms = cfg->idle_connection_timeout_ms;
        if (cfg->max_connections_per_authority) c.max_connections_per_authority = cfg->max_connections_per_authority;
    }
    if (c.initial_stream_window > NGHTTP2_MAX_WINDOW_SIZE || c.initial_connection_window > NGHTTP2_MAX_WINDOW_SIZE)
        return -EINVAL; /* HTTP/2 windows are at most 2^31-1 */
    struct stet_h2_pool *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->loop = loop;
    p->cfg = c;
    link_init(&p->authorities);
    link_init(&p->dirty);
    if (nghttp2_session_callbacks_new(&p->callbacks) != 0) goto nomem;
    if (nghttp2_option_new(&p->option) != 0) goto nomem;
    nghttp2_option_set_peer_max_concurrent_streams(p->option, H2_ASSUMED_MAX_STREAMS);
    /* object keys travel in x-restate-service-key: a 64 KiB key must fit in one header block
     * (nghttp2's default limit for sent header blocks is 64 KiB, which such a key exceeds) */
    nghttp2_option_set_max_send_header_block_length(p->option, 1u << 20);
    nghttp2_session_callbacks_set_send_callback(p->callbacks, h2_send_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(p->callbacks, h2_on_frame_send_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(p->callbacks, h2_on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(p->callbacks, h2_on_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(p->callbacks, h2_on_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(p->callbacks, h2_on_data_chunk_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(p->callbacks, h2_on_stream_close_cb);
    int rv = uv_idle_init(loop, &p->pump);
    STET_ASSERT(rv == 0);
    p->pump.data = p;
    *out = p;
    return 0;
nomem:
    if (p->callbacks) nghttp2_session_callbacks_del(p->callbacks);
    if (p->option) nghttp2_option_del(p->option);
    free(p);
    return -ENOMEM;
}

static void pool_pump_close_cb(uv_handle_t *h) {
    struct stet_h2_pool *p = h->data;
    p->pump_closed = true;
    pool_maybe_free(p);
}

void stet_h2_pool_destroy(struct stet_h2_pool *p, void (*closed_cb)(void *arg), void *arg) {
    STET_ASSERT(p != NULL);
    STET_ASSERT(!p->destroying);
    p->destroying = true;
    p->closed_cb = closed_cb;
    p->closed_arg = arg;
    uv_close((uv_handle_t *)&p->pump, pool_pump_close_cb);
    for (struct h2_link *l = p->authorities.next; l != &p->authorities; l = l->next) {
        struct h2_authority *a = h2_container_of(l, struct h2_authority, link);
        while (!list_empty(&a->pending)) {
            struct stet_h2_stream *s = h2_container_of(a->pending.next, struct stet_h2_stream, link);
            link_remove(&s->link);
            stream_finish(s, -ECANCELED, "pool destroyed");
        }
        while (!list_empty(&a->conns))
            conn_fail(h2_container_of(a->conns.next, struct h2_conn, link), -ECANCELED, "pool destroyed");
    }
}

static struct h2_authority *pool_authority(struct stet_h2_pool *p, const char *name) {
    for (struct h2_link *l = p->authorities.next; l != &p->authorities; l = l->next) {
        struct h2_authority *a = h2_container_of(l, struct h2_authority, link);
        if (strcmp(a->name, name) == 0) return a;
    }
    char *host = NULL, *port = NULL;
    char why[256];
    if (stet_authority_parse(name, &host, &port, why, sizeof(why)) != 0) {
        stet_warn(H2_MODULE, "%s", why);
        return NULL;
    }
    struct h2_authority *a = calloc(1, sizeof(*a));
    STET_ASSERT(a != NULL);
    a->name = strdup(name);
    STET_ASSERT(a->name != NULL);
    a->host = host;
    a->port = port;
    link_init(&a->link);
    link_init(&a->conns);
    link_init(&a->pending);
    list_insert_tail(&p->authorities, &a->link);
    return a;
}

static bool header_name_valid(const char *name, size_t len) {
    static const char *const forbidden[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                            "upgrade", "host"};
    if (!name || len == 0 || name[0] == ':') return false;
    for (size_t i = 0; i < STET_ARRAY_LEN(forbidden); i++)
        if (strlen(forbidden[i]) == len && strncasecmp(forbidden[i], name, len) == 0) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 0x20 || ch >= 0x7f) return false;
    }
    return true;
}

int stet_h2_request(struct stet_h2_pool *p, const char *authority, const char *method, const char *path,
                    const struct stet_h2_header *headers, size_t n_headers, bool end_request,
                    const struct stet_h2_stream_callbacks *cb, void *ud, struct stet_h2_stream **out) {
    if (!p || !authority || !method || !*method || !path || !*path || !cb || !cb->on_close || !out) return -EINVAL;
    if (n_headers > 0 && !headers) return -EINVAL;
    if (p->destroying) return -ECANCELED;
    size_t bytes = 0;
    for (size_t i = 0; i < n_headers; i++) {
        if (!header_name_valid(headers[i].name, headers[i].name_len)) return -EINVAL;
        if (!headers[i].value && headers[i].value_len > 0) return -EINVAL;
        bytes += headers[i].name_len + headers[i].value_len;
    }
    struct h2_authority *a = pool_authority(p, authority);
    if (!a) return -EINVAL;

    struct stet_h2_stream *s = calloc(1, sizeof(*s));
    STET_ASSERT(s != NULL);
    const char *pseudo[4][2] = {{":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path}};
    for (size_t i = 0; i < 4; i++) bytes += strlen(pseudo[i][0]) + strlen(pseudo[i][1]);
    s->nva_len = 4 + n_headers;
    s->nva = malloc(s->nva_len * sizeof(nghttp2_nv) + bytes);
    STET_ASSERT(s->nva != NULL);
    uint8_t *store = (uint8_t *)(s->nva + s->nva_len);
    for (size_t i = 0; i < s->nva_len; i++) {
        const char *name, *value;
        size_t name_len, value_len;
        if (i < 4) {
            name = pseudo[i][0], name_len = strlen(name), value = pseudo[i][1], value_len = strlen(value);
        } else {
            name = headers[i - 4].name, name_len = headers[i - 4].name_len;
            value = headers[i - 4].value, value_len = headers[i - 4].value_len;
        }
        nghttp2_nv *nv = &s->nva[i];
        nv->name = store;
        for (size_t k = 0; k < name_len; k++) store[k] = (uint8_t)tolower((unsigned char)name[k]); /* RFC 9113 §8.2 */
        store += name_len;
        nv->value = store;
        if (value_len) memcpy(store, value, value_len);
        store += value_len;
        nv->namelen = name_len;
        nv->valuelen = value_len;
        nv->flags = NGHTTP2_NV_FLAG_NONE;
    }
    s->pool = p;
    s->authority = a;
    s->cb = *cb;
    s->ud = ud;
    s->has_body = !end_request;
    s->end_requested = end_request;
    link_init(&s->link);
    stet_buf_init(&s->out);
    stet_buf_init(&s->head_bytes);
    stet_buf_init(&s->head_index);
    list_insert_tail(&a->pending, &s->link);
    p->stats.streams_total++;
    p->stats.streams_open++;
    pool_schedule(p);
    *out = s;
    return 0;
}

int stet_h2_stream_write(struct stet_h2_stream *s, const void *data, size_t len) {
    STET_ASSERT(s != NULL);
    if (s->closing || s->end_requested) return -EPIPE;
    if (len == 0) return 0;
    STET_ASSERT(data != NULL);
    stet_buf_append(&s->out, data, len);
    if (s->conn) conn_mark_dirty(s->conn);
    return 0;
}

int stet_h2_stream_end(struct stet_h2_stream *s) {
    STET_ASSERT(s != NULL);
    if (s->closing || s->end_requested) return -EPIPE;
    s->end_requested = true;
    if (s->conn) conn_mark_dirty(s->conn);
    return 0;
}

void stet_h2_stream_reset(struct stet_h2_stream *s) {
    STET_ASSERT(s != NULL);
    if (s->closing) return;
    struct stet_h2_pool *p = s->pool;
    struct h2_conn *c = s->conn;
    if (c) {
        if (s->submitted && c->state == H2_CONN_OPEN) {
            nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
            conn_mark_dirty(c);
        }
        stream_detach(s);
        conn_update_idle(c);
    } else {
        link_remove(&s->link);
    }
    STET_ASSERT(p->stats.streams_open > 0);
    p->stats.streams_open--;
    stream_free(s);
}

size_t stet_h2_stream_pending(const struct stet_h2_stream *s) {
    STET_ASSERT(s != NULL);
    return stream_queued(s);
}

void stet_h2_pool_stats(const struct stet_h2_pool *p, struct stet_h2_stats *out) {
    STET_ASSERT(p != NULL);
    STET_ASSERT(out != NULL);
    *out = p->stats;
}
