/* Peers: connections to the other nodes (see peers.h for the model).
 *
 * Invariants (tests/unit/test_peers.c checks them from outside):
 *  1. A peer's `conn` is UP and its peer id is that peer's; at most one UP connection per peer
 *     is the peer's `conn` (a second one is closed when its HELLO arrives).
 *  2. A link's `conn` is an outgoing connection of that link that is not dead.
 *  3. Dead connections are only on the graveyard list (freed at the next tick: a handler
 *     callback up the stack may still hold one).
 */
#include "nodeport/peers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "nodeport"
#define MAX_FRAME ((size_t)64 << 20)

enum cstate { C_CONNECTING, C_HELLO, C_UP, C_DEAD };

struct link;

struct conn {
    struct stet_np_peers *p;
    struct conn *next; /* all connections, or the graveyard */
    struct stet_np_stream *stream;
    struct link *link; /* NULL: incoming */
    enum cstate state;
    struct stet_np_decoder dec;
    uint32_t peer;
    uint64_t peer_gen, peer_fp;
    uint64_t opened_ms, last_rx_ms, last_ping_ms;
};

struct link {
    char *address;
    uint32_t node;
    bool self;
    uint64_t fingerprint;
    struct conn *conn;
    uint64_t next_attempt_ms;
    unsigned backoff_ms;
};

struct peer {
    uint32_t id;
    char name[STET_NP_NAME_MAX + 1];
    uint64_t gen, fp;
    struct conn *conn;
    uint64_t last_rx_ms;
};

struct stet_np_peers {
    const struct stet_env *env;
    struct stet_np_transport tr;
    struct stet_np_peers_config cfg;
    char *cluster_name;
    char *node_name;
    struct stet_np_peers_handler h;
    struct stet_env_timer *timer;
    struct conn *conns, *graveyard;
    struct link **links; /* each allocated once: connections point at them */
    size_t n_links;
    struct peer *peers; /* sorted by id */
    size_t n_peers;
    struct stet_buf out; /* scratch */
    struct stet_np_peers_stats stats;
};

static const struct stet_np_stream_events conn_events;

static uint64_t now_ms(const struct stet_np_peers *p) { return stet_env_monotonic_ms(p->env); }

static struct peer *peer_find(const struct stet_np_peers *p, uint32_t id) {
    for (size_t i = 0; i < p->n_peers; i++)
        if (p->peers[i].id == id) return &p->peers[i];
    return NULL;
}

static struct peer *peer_get(struct stet_np_peers *p, uint32_t id) {
    struct peer *e = peer_find(p, id);
    if (e) return e;
    struct peer *np = realloc(p->peers, (p->n_peers + 1) * sizeof(*np));
    STET_ASSERT(np != NULL);
    p->peers = np;
    size_t i = p->n_peers;
    while (i > 0 && p->peers[i - 1].id > id) {
        p->peers[i] = p->peers[i - 1];
        i--;
    }
    p->peers[i] = (struct peer){.id = id};
    p->n_peers++;
    return &p->peers[i];
}

static struct conn *conn_new(struct stet_np_peers *p, struct link *l) {
    struct conn *c = calloc(1, sizeof(*c));
    STET_ASSERT(c != NULL);
    c->p = p;
    c->link = l;
    c->opened_ms = now_ms(p);
    stet_np_decoder_init(&c->dec, MAX_FRAME);
    c->next = p->conns;
    p->conns = c;
    return c;
}

/* Moves c to the graveyard; reports the peer down if c was its connection. */
static void conn_close(struct conn *c, bool close_stream) {
    struct stet_np_peers *p = c->p;
    if (c->state == C_DEAD) return;
    bool was_up = c->state == C_UP;
    c->state = C_DEAD;
    if (close_stream && c->stream) p->tr.close(p->tr.ctx, c->stream);
    c->stream = NULL;
    for (struct conn **pp = &p->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    c->next = p->graveyard;
    p->graveyard = c;
    if (c->link && c->link->conn == c) {
        struct link *l = c->link;
        l->conn = NULL;
        l->next_attempt_ms = now_ms(p) + l->backoff_ms;
        l->backoff_ms = l->backoff_ms * 2 > p->cfg.backoff_max_ms ? p->cfg.backoff_max_ms : l->backoff_ms * 2;
    }
    if (was_up) {
        p->stats.disconnects++;
        struct peer *e = peer_find(p, c->peer);
        if (e && e->conn == c) {
            e->conn = NULL;
            if (p->h.peer) p->h.peer(p->h.ctx, e->id, false, e->gen, e->fp);
        }
    }
}

static int conn_send(struct conn *c, uint8_t kind, uint32_t group, const void *payload, size_t len) {
    struct stet_np_peers *p = c->p;
    if (c->state == C_DEAD || c->stream == NULL || c->state == C_CONNECTING) return -ENOTCONN;
    if (p->tr.queued(p->tr.ctx, c->stream) > p->cfg.max_queue_bytes) {
        p->stats.frames_dropped++;
        return -ENOBUFS;
    }
    stet_buf_reset(&p->out);
    stet_np_frame_encode(&p->out, kind, group, payload, len);
    int rc = p->tr.write(p->tr.ctx, c->stream, p->out.data, p->out.len);
    if (rc != 0) return rc;
    p->stats.frames_sent++;
    p->stats.bytes_sent += p->out.len;
    return 0;
}

static void send_hello(struct conn *c) {
    struct stet_np_peers *p = c->p;
    struct stet_np_hello h;
    memset(&h, 0, sizeof(h));
    h.min_version = STET_NP_VERSION_MIN;
    h.max_version = STET_NP_VERSION_MAX;
    h.node_id = p->cfg.node_id;
    h.generation = p->cfg.generation;
    h.fingerprint = p->cfg.fingerprint;
    snprintf(h.cluster_name, sizeof(h.cluster_name), "%s", p->cluster_name);
    snprintf(h.node_name, sizeof(h.node_name), "%s", p->node_name);
    stet_buf_reset(&p->out);
    stet_np_hello_encode(&p->out, &h);
    if (p->tr.write(p->tr.ctx, c->stream, p->out.data, p->out.len) == 0) {
        p->stats.frames_sent++;
        p->stats.bytes_sent += p->out.len;
    }
}

static void refuse(struct conn *c, uint8_t code, const char *reason) {
    struct stet_np_peers *p = c->p;
    p->stats.rejects++;
    stet_buf_reset(&p->out);
    struct stet_buf pl = STET_BUF_INIT;
    stet_buf_append_byte(&pl, code);
    stet_buf_append_str(&pl, reason);
    stet_np_frame_encode(&p->out, STET_NP_REJECT, 0, pl.data, pl.len);
    stet_buf_free(&pl);
    if (c->stream) (void)p->tr.write(p->tr.ctx, c->stream, p->out.data, p->out.len);
    const char *addr = c->link ? c->link->address : NULL;
    uint32_t node = c->peer;
    uint64_t fp = c->peer_fp;
    if (c->link && c->link->backoff_ms < p->cfg.backoff_max_ms) c->link->backoff_ms = p->cfg.backoff_max_ms;
    conn_close(c, true);
    if (p->h.refused) p->h.refused(p->h.ctx, addr, node, code, reason, false, fp);
}

/* A HELLO naming a node id that a running node of another name holds. */
static void refuse_id_taken(struct conn *c, uint32_t id, const char *holder, const char *newcomer) {
    char reason[1024];
    snprintf(reason, sizeof(reason),
             "node id N%u belongs to the running node '%s'; node '%s' cannot use it too: every node needs its own "
             "force-node-id",
             id, holder, newcomer);
    refuse(c, STET_NP_REJECT_NODE_ID, reason);
}

/* Which of two UP connections to the same peer stays: the one dialled by the lower node id;
 * between two dialled by the same side, the newer. */
static bool prefer_new(const struct stet_np_peers *p, const struct conn *old, const struct conn *neu) {
    uint32_t lower = p->cfg.node_id < neu->peer ? p->cfg.node_id : neu->peer;
    uint32_t old_by = old->link ? p->cfg.node_id : old->peer;
    uint32_t new_by = neu->link ? p->cfg.node_id : neu->peer;
    if (old_by == new_by) return true;
    return new_by == lower;
}

static void on_hello(struct conn *c, const uint8_t *payload, size_t len) {
    struct stet_np_peers *p = c->p;
    struct stet_np_hello h;
    char reason[1024];
    if (stet_np_hello_decode(payload, len, &h) != 0) {
        p->stats.protocol_errors++;
        conn_close(c, true);
        return;
    }
    c->peer = h.node_id;
    c->peer_fp = h.fingerprint;
    if (c->link) {
        c->link->fingerprint = h.fingerprint;
        if (h.node_id != p->cfg.node_id) c->link->node = h.node_id;
    }
    struct stet_np_hello mine = {.min_version = STET_NP_VERSION_MIN, .max_version = STET_NP_VERSION_MAX};
    if (stet_np_negotiate(&mine, &h) == 0) {
        snprintf(reason, sizeof(reason),
                 "node N%u speaks node-port versions %u..%u, this node %u..%u: run the same Stet version", h.node_id,
                 h.min_version, h.max_version, STET_NP_VERSION_MIN, STET_NP_VERSION_MAX);
        refuse(c, STET_NP_REJECT_VERSION, reason);
        return;
    }
    if (strcmp(h.cluster_name, p->cluster_name) != 0) {
        snprintf(reason, sizeof(reason),
                 "cluster name mismatch: node N%u belongs to cluster '%s', node N%u is configured for '%s' "
                 "(cluster-name / RESTATE_CLUSTER_NAME must be the same on every node)",
                 h.node_id, h.cluster_name, p->cfg.node_id, p->cluster_name);
        refuse(c, STET_NP_REJECT_CLUSTER_NAME, reason);
        return;
    }
    if (h.fingerprint != 0 && p->cfg.fingerprint != 0 && h.fingerprint != p->cfg.fingerprint) {
        snprintf(reason, sizeof(reason),
                 "cluster fingerprint mismatch: node N%u belongs to cluster %016llx, node N%u to %016llx (same name, "
                 "different clusters: a node's data directory is from another cluster)",
                 h.node_id, (unsigned long long)h.fingerprint, p->cfg.node_id, (unsigned long long)p->cfg.fingerprint);
        refuse(c, STET_NP_REJECT_FINGERPRINT, reason);
        return;
    }
    if (h.node_id == p->cfg.node_id) {
        if (h.generation == p->cfg.generation) { /* our own address */
            if (c->link) c->link->self = true;
            conn_close(c, true);
            return;
        }
        refuse_id_taken(c, h.node_id, p->node_name, h.node_name);
        return;
    }
    if (h.node_id == 0) {
        p->stats.protocol_errors++;
        conn_close(c, true);
        return;
    }
    c->peer_gen = h.generation;
    c->peer_fp = h.fingerprint;
    struct peer *e = peer_get(p, h.node_id);
    if (e->conn && e->conn != c && e->name[0] && h.node_name[0] && strcmp(e->name, h.node_name) != 0) {
        refuse_id_taken(c, h.node_id, e->name, h.node_name);
        return;
    }
    if (e->conn && e->conn != c) {
        struct conn *old = e->conn;
        bool take_new;
        if (h.generation != old->peer_gen) take_new = h.generation > old->peer_gen;
        else take_new = prefer_new(p, old, c);
        if (!take_new) {
            conn_close(c, true);
            return;
        }
        bool restarted = h.generation != old->peer_gen;
        e->conn = NULL; /* replaced: no down/up flap for the same generation */
        if (!restarted) old->state = C_HELLO; /* not a lost connection: no disconnect counted */
        conn_close(old, true);
        if (!restarted) {
            c->state = C_UP;
            e->conn = c;
            e->last_rx_ms = c->last_rx_ms;
            if (c->link) c->link->backoff_ms = p->cfg.backoff_min_ms;
            return;
        }
        if (p->h.peer) p->h.peer(p->h.ctx, e->id, false, e->gen, e->fp);
    }
    bool announce = true;
    c->state = C_UP;
    e->conn = c;
    snprintf(e->name, sizeof(e->name), "%s", h.node_name);
    e->gen = h.generation;
    e->fp = h.fingerprint;
    e->last_rx_ms = c->last_rx_ms;
    if (c->link) c->link->backoff_ms = p->cfg.backoff_min_ms;
    p->stats.connects++;
    if (announce && p->h.peer) p->h.peer(p->h.ctx, e->id, true, e->gen, e->fp);
}

static void conn_on_data(void *user, const uint8_t *data, size_t len) {
    struct conn *c = user;
    struct stet_np_peers *p = c->p;
    if (c->state == C_DEAD) return;
    p->stats.bytes_received += len;
    stet_np_decoder_feed(&c->dec, data, len);
    for (;;) {
        if (c->state == C_DEAD) return;
        struct stet_np_frame f;
        int rc = stet_np_decoder_next(&c->dec, &f);
        if (rc == 0) return;
        if (rc < 0) {
            p->stats.protocol_errors++;
            stet_warn(MOD, "closing the connection to N%u: malformed frame (%d)", c->peer, rc);
            conn_close(c, true);
            return;
        }
        p->stats.frames_received++;
        c->last_rx_ms = now_ms(p);
        if (f.kind == STET_NP_REJECT) {
            char reason[1024];
            size_t n = f.len > 1 ? f.len - 1 : 0;
            if (n >= sizeof(reason)) n = sizeof(reason) - 1;
            if (n) memcpy(reason, f.payload + 1, n);
            reason[n] = '\0';
            uint8_t code = f.len > 0 ? f.payload[0] : 0;
            const char *addr = c->link ? c->link->address : NULL;
            uint32_t node = c->peer;
            if (c->link) c->link->backoff_ms = p->cfg.backoff_max_ms;
            conn_close(c, true);
            if (p->h.refused) p->h.refused(p->h.ctx, addr, node, code, reason, true, 0);
            return;
        }
        if (c->state == C_HELLO) {
            if (f.kind != STET_NP_HELLO) {
                p->stats.protocol_errors++;
                conn_close(c, true);
                return;
            }
            on_hello(c, f.payload, f.len);
            continue;
        }
        STET_ASSERT(c->state == C_UP);
        struct peer *e = peer_find(p, c->peer);
        STET_ASSERT(e != NULL);
        e->last_rx_ms = c->last_rx_ms;
        switch (f.kind) {
        case STET_NP_HELLO: p->stats.protocol_errors++; conn_close(c, true); return;
        case STET_NP_PING: (void)conn_send(c, STET_NP_PONG, 0, f.payload, f.len); break;
        case STET_NP_PONG: break;
        default:
            if (e->conn == c && p->h.frame) p->h.frame(p->h.ctx, c->peer, f.kind, f.group, f.payload, f.len);
            break;
        }
    }
}

static void conn_on_connected(void *user, struct stet_np_stream *s) {
    struct conn *c = user;
    STET_UNUSED(s);
    if (c->state != C_CONNECTING) return;
    c->state = C_HELLO;
    c->last_rx_ms = now_ms(c->p);
    send_hello(c);
}

static void conn_on_closed(void *user, int status) {
    struct conn *c = user;
    STET_UNUSED(status);
    c->stream = NULL; /* the transport frees it */
    conn_close(c, false);
}

static const struct stet_np_stream_events conn_events = {
    .connected = conn_on_connected, .data = conn_on_data, .closed = conn_on_closed};

static void dial(struct stet_np_peers *p, struct link *l) {
    struct conn *c = conn_new(p, l);
    c->state = C_CONNECTING;
    l->conn = c;
    int rc = p->tr.connect(p->tr.ctx, l->address, &conn_events, c, &c->stream);
    if (rc != 0) {
        c->stream = NULL;
        conn_close(c, false);
    }
}

static void tick(void *arg) {
    struct stet_np_peers *p = arg;
    while (p->graveyard) {
        struct conn *c = p->graveyard;
        p->graveyard = c->next;
        stet_np_decoder_free(&c->dec);
        free(c);
    }
    uint64_t now = now_ms(p);
    for (struct conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_HELLO && now - c->opened_ms > p->cfg.hello_timeout_ms) {
            conn_close(c, true);
        } else if (c->state == C_UP) {
            if (now - c->last_rx_ms > p->cfg.close_after_ms) {
                stet_info(MOD, "N%u sent nothing for %llu ms: closing its connection", c->peer,
                          (unsigned long long)(now - c->last_rx_ms));
                conn_close(c, true);
            } else if (now - c->last_ping_ms >= p->cfg.ping_interval_ms) {
                uint8_t nonce[8];
                for (int i = 0; i < 8; i++) nonce[i] = (uint8_t)(now >> (8 * i));
                c->last_ping_ms = now;
                (void)conn_send(c, STET_NP_PING, 0, nonce, sizeof(nonce));
            }
        }
    }
    for (size_t i = 0; i < p->n_links; i++) {
        struct link *l = p->links[i];
        if (l->self || l->conn) continue;
        if (l->node) {
            const struct peer *e = peer_find(p, l->node);
            if (e && e->conn) continue; /* reachable through its own connection */
        }
        if (now >= l->next_attempt_ms) dial(p, l);
    }
    stet_env_timer_start(p->env, p->timer, p->cfg.ping_interval_ms / 2 ? p->cfg.ping_interval_ms / 2 : 1);
}

int stet_np_peers_create(const struct stet_env *env, const struct stet_np_transport *transport,
                         const struct stet_np_peers_config *cfg, const struct stet_np_peers_handler *handler,
                         struct stet_np_peers **out) {
    STET_ASSERT(cfg->node_id != 0);
    struct stet_np_peers *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->env = env;
    p->tr = *transport;
    p->cfg = *cfg;
    if (!p->cfg.max_queue_bytes) p->cfg.max_queue_bytes = (size_t)16 << 20;
    if (!p->cfg.ping_interval_ms) p->cfg.ping_interval_ms = 100;
    if (!p->cfg.dead_after_ms) p->cfg.dead_after_ms = 1000;
    if (!p->cfg.close_after_ms) p->cfg.close_after_ms = 5000;
    if (!p->cfg.hello_timeout_ms) p->cfg.hello_timeout_ms = 3000;
    if (!p->cfg.backoff_min_ms) p->cfg.backoff_min_ms = 50;
    if (!p->cfg.backoff_max_ms) p->cfg.backoff_max_ms = 2000;
    p->cluster_name = strdup(cfg->cluster_name ? cfg->cluster_name : "");
    p->node_name = strdup(cfg->node_name ? cfg->node_name : "");
    p->cfg.cluster_name = NULL;
    p->cfg.node_name = NULL;
    p->h = *handler;
    stet_buf_init(&p->out);
    p->timer = stet_env_timer_create(env, tick, p);
    if (!p->cluster_name || !p->node_name || !p->timer) {
        stet_np_peers_destroy(p);
        return -ENOMEM;
    }
    stet_env_timer_start(env, p->timer, 0);
    *out = p;
    return 0;
}

void stet_np_peers_destroy(struct stet_np_peers *p) {
    if (!p) return;
    stet_env_timer_destroy(p->env, p->timer);
    p->h = (struct stet_np_peers_handler){0};
    while (p->conns) conn_close(p->conns, true);
    while (p->graveyard) {
        struct conn *c = p->graveyard;
        p->graveyard = c->next;
        stet_np_decoder_free(&c->dec);
        free(c);
    }
    for (size_t i = 0; i < p->n_links; i++) {
        free(p->links[i]->address);
        free(p->links[i]);
    }
    free(p->links);
    free(p->peers);
    free(p->cluster_name);
    free(p->node_name);
    stet_buf_free(&p->out);
    free(p);
}

int stet_np_peers_add_address(struct stet_np_peers *p, const char *address) {
    if (!address || !*address) return -EINVAL;
    for (size_t i = 0; i < p->n_links; i++)
        if (strcmp(p->links[i]->address, address) == 0) return 0;
    struct link **nl = realloc(p->links, (p->n_links + 1) * sizeof(*nl));
    if (!nl) return -ENOMEM;
    p->links = nl;
    struct link *l = calloc(1, sizeof(*l));
    if (!l) return -ENOMEM;
    *l = (struct link){.address = strdup(address), .backoff_ms = p->cfg.backoff_min_ms};
    if (!l->address) {
        free(l);
        return -ENOMEM;
    }
    p->links[p->n_links++] = l;
    return 0;
}

void stet_np_peers_accept(struct stet_np_peers *p, struct stet_np_stream *s) {
    struct conn *c = conn_new(p, NULL);
    c->stream = s;
    c->state = C_HELLO;
    c->last_rx_ms = now_ms(p);
    send_hello(c);
    p->tr.attach(p->tr.ctx, s, &conn_events, c);
}

void stet_np_peers_set_fingerprint(struct stet_np_peers *p, uint64_t fingerprint) { p->cfg.fingerprint = fingerprint; }

int stet_np_peers_send(struct stet_np_peers *p, uint32_t node, uint8_t kind, uint32_t group, const void *payload,
                       size_t len) {
    struct peer *e = peer_find(p, node);
    if (!e || !e->conn) return -ENOTCONN;
    return conn_send(e->conn, kind, group, payload, len);
}

bool stet_np_peers_alive(const struct stet_np_peers *p, uint32_t node) {
    const struct peer *e = peer_find(p, node);
    return e && e->conn && now_ms(p) - e->last_rx_ms <= p->cfg.dead_after_ms;
}

size_t stet_np_peers_list(const struct stet_np_peers *p, struct stet_np_peer_info *out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < p->n_peers && n < max; i++) {
        const struct peer *e = &p->peers[i];
        const char *addr = NULL;
        for (size_t j = 0; j < p->n_links; j++)
            if (p->links[j]->node == e->id) addr = p->links[j]->address;
        out[n++] = (struct stet_np_peer_info){.node = e->id,
                                              .connected = e->conn != NULL,
                                              .alive = stet_np_peers_alive(p, e->id),
                                              .generation = e->gen,
                                              .fingerprint = e->fp,
                                              .last_seen_ms = e->last_rx_ms,
                                              .address = addr};
    }
    return n;
}

size_t stet_np_peers_links(const struct stet_np_peers *p, struct stet_np_link_info *out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < p->n_links && n < max; i++) {
        const struct link *l = p->links[i];
        const struct peer *e = l->node ? peer_find(p, l->node) : NULL;
        out[n++] = (struct stet_np_link_info){.address = l->address,
                                              .node = l->node,
                                              .self = l->self,
                                              .connected = e && e->conn,
                                              .fingerprint = e ? e->fp : l->fingerprint};
    }
    return n;
}

void stet_np_peers_stats(const struct stet_np_peers *p, struct stet_np_peers_stats *out) { *out = p->stats; }
