/* Tests for src/nodeport/peers.c over an in-memory network (the "sim network" below) on the
 * simulated clock of tests/unit/sim_env.h.
 *
 * The sim network implements the stream transport port (src/nodeport/transport.h): a stream is
 * a pair of ends; `connect(address)` finds the node registered under that address and makes a
 * pair whose accepting end is handed to that node's stet_np_peers_accept. Every event
 * (accept, connected, data, closed) is delivered from a network timer, never inside
 * connect/write/close, after a latency (1 ms unless a test asks for jitter); data arrives in
 * seeded random chunks. A closed end is kept (marked gone) until the test ends, so a use after
 * close fails the test instead of reading freed memory.
 *
 * Faults: cutting the streams between two nodes (both ends get closed), an address that refuses
 * connections (the stream is closed with -ECONNREFUSED later), pausing a node (SIGSTOP: nothing
 * is delivered to it and its timers do not run; bytes to it queue up and queued() grows), and
 * crashing a node (its streams vanish without the other ends hearing anything).
 *
 * Raw ends (owned by the test, not by a peers instance) speak the wire format by hand: stale or
 * malformed HELLOs and garbage.
 *
 * Everything is deterministic: one seed for the clock's randomness, one for the chunking. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/log.h"
#include "nodeport/frame.h"
#include "nodeport/peers.h"
#include "nodeport/transport.h"
#include "sim_env.h"

#define MAXN 12      /* node slots */
#define RAW_OWNER -1 /* an end owned by the test */

/* ---- recorded handler calls -------------------------------------------------------------------- */

struct pev {
    uint32_t node;
    bool up;
    uint64_t gen, fp;
    uint64_t t;
};

struct rev {
    char address[64]; /* "" when NULL */
    uint32_t node;
    uint8_t code;
    char reason[512];
    bool by_peer;
    uint64_t peer_fp;
};

struct rframe {
    uint32_t from;
    uint8_t kind;
    uint32_t group;
    uint8_t *data;
    size_t len;
};

struct ntimer; /* a node's timer: does not fire while the node is paused */

struct node {
    int slot;
    uint32_t id;
    uint64_t gen;
    char addr[32];
    bool registered; /* listens on addr */
    bool accepting;  /* false: connections to addr are refused */
    bool paused;     /* SIGSTOP */
    bool crashing;   /* closes by this node do not reach the other ends */
    uint64_t incarnation;
    struct stet_np_peers *p;
    struct stet_env env;
    struct stet_np_transport tr;
    bool echo; /* answers FORWARD with REPLY (same group, same payload) from the handler */
    struct pev pev[256];
    size_t n_pev;
    struct rev rev[64];
    size_t n_rev;
    struct rframe *frames;
    size_t n_frames, cap_frames;
};

/* ---- the sim network ------------------------------------------------------------------------------ */

struct mark {
    size_t end; /* cumulative offset in `in` (before consumption) */
    uint64_t due;
};

struct stet_np_stream {
    uint64_t id;
    int owner;                         /* node slot or RAW_OWNER */
    uint64_t owner_incarnation;
    struct stet_np_stream *other;      /* NULL: refused */
    const struct stet_np_stream_events *ev;
    void *user;
    bool outgoing, established, gone, reset, blackhole;
    uint64_t ready_due; /* outgoing: when accept + connected happen */
    int target;         /* outgoing: the listening slot */
    uint64_t target_incarnation;
    bool eof_pending;
    int eof_status;
    uint64_t eof_due;
    unsigned lat; /* latency of bytes to this end */
    struct stet_buf in; /* bytes to deliver to this end */
    size_t consumed;    /* delivered bytes, counted from the start */
    struct mark *marks;
    size_t n_marks, cap_marks;
    char address[64];
};

struct conn_call {
    int from;
    char address[64];
    uint64_t t;
};

struct ntimer {
    struct node *n;
    stet_env_timer_cb cb;
    void *arg;
    struct stet_env_timer *inner;
};

struct raw {
    struct stet_np_stream *s;
    bool connected, closed;
    int status;
    struct stet_buf rx;
};

struct world {
    struct sim_env sim;
    uint64_t rng;
    unsigned lat, jitter;
    struct node nodes[MAXN];
    struct stet_np_stream **ends;
    size_t n_ends, cap_ends;
    uint64_t next_id;
    struct conn_call *calls;
    size_t n_calls, cap_calls;
    struct ntimer **ntimers;
    size_t n_ntimers, cap_ntimers;
    struct stet_env_timer *pump;
    bool misuse; /* a port call on a gone stream */
};

static struct world *W;

static uint64_t rnd(void) {
    W->rng ^= W->rng >> 12;
    W->rng ^= W->rng << 25;
    W->rng ^= W->rng >> 27;
    return W->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t now(void) { return W->sim.now_ms; }

static bool slot_paused(int slot) { return slot >= 0 && W->nodes[slot].paused; }

/* "http://host:port/" and "host:port" name the same listener */
static void norm_addr(const char *a, char *out, size_t cap) {
    if (strncmp(a, "http://", 7) == 0) a += 7;
    snprintf(out, cap, "%s", a);
    size_t n = strlen(out);
    if (n && out[n - 1] == '/') out[n - 1] = '\0';
}

static int find_listener(const char *address) {
    char want[64], have[64];
    norm_addr(address, want, sizeof(want));
    for (int i = 0; i < MAXN; i++) {
        if (!W->nodes[i].registered) continue;
        norm_addr(W->nodes[i].addr, have, sizeof(have));
        if (strcmp(want, have) == 0) return i;
    }
    return -1;
}

static struct stet_np_stream *end_new(int owner) {
    struct stet_np_stream *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->id = ++W->next_id;
    s->owner = owner;
    s->owner_incarnation = owner >= 0 ? W->nodes[owner].incarnation : 0;
    s->lat = W->lat + (W->jitter ? (unsigned)(rnd() % (W->jitter + 1)) : 0);
    stet_buf_init(&s->in);
    if (W->n_ends == W->cap_ends) {
        W->cap_ends = W->cap_ends ? W->cap_ends * 2 : 64;
        W->ends = realloc(W->ends, W->cap_ends * sizeof(*W->ends));
        assert_non_null(W->ends);
    }
    W->ends[W->n_ends++] = s;
    return s;
}

static void end_drop_data(struct stet_np_stream *s) {
    s->consumed += s->in.len;
    stet_buf_reset(&s->in);
    s->n_marks = 0;
}

static void schedule_eof(struct stet_np_stream *s, int status, bool discard) {
    if (s->gone || s->eof_pending) return;
    if (discard) end_drop_data(s);
    s->eof_pending = true;
    s->eof_status = status;
    s->eof_due = now() + s->lat;
}

static int sim_connect(void *ctx, const char *address, const struct stet_np_stream_events *ev, void *user,
                       struct stet_np_stream **out) {
    int from = ctx ? ((struct node *)ctx)->slot : RAW_OWNER;
    if (W->n_calls == W->cap_calls) {
        W->cap_calls = W->cap_calls ? W->cap_calls * 2 : 64;
        W->calls = realloc(W->calls, W->cap_calls * sizeof(*W->calls));
        assert_non_null(W->calls);
    }
    struct conn_call *cc = &W->calls[W->n_calls++];
    cc->from = from;
    snprintf(cc->address, sizeof(cc->address), "%s", address);
    cc->t = now();

    struct stet_np_stream *c = end_new(from);
    c->ev = ev;
    c->user = user;
    c->outgoing = true;
    c->ready_due = now() + c->lat;
    snprintf(c->address, sizeof(c->address), "%s", address);
    int l = find_listener(address);
    c->target = l;
    if (l >= 0 && W->nodes[l].accepting && W->nodes[l].p) {
        struct stet_np_stream *srv = end_new(l);
        srv->other = c;
        c->other = srv;
        c->target_incarnation = W->nodes[l].incarnation;
    }
    *out = c;
    return 0;
}

static void sim_attach(void *ctx, struct stet_np_stream *s, const struct stet_np_stream_events *ev, void *user) {
    (void)ctx;
    if (s->gone) W->misuse = true;
    s->ev = ev;
    s->user = user;
}

static int sim_write(void *ctx, struct stet_np_stream *s, const uint8_t *data, size_t len) {
    (void)ctx;
    if (s->gone) {
        W->misuse = true;
        return -EPIPE;
    }
    if (s->reset || s->eof_pending) return -EPIPE;
    if (s->outgoing && !s->established) return -ENOTCONN;
    struct stet_np_stream *o = s->other;
    if (!o || o->gone || o->blackhole || s->blackhole) return 0; /* into the void, as TCP would */
    uint64_t due = now() + o->lat;
    if (o->n_marks && o->marks[o->n_marks - 1].due > due) due = o->marks[o->n_marks - 1].due;
    stet_buf_append(&o->in, data, len);
    if (o->n_marks == o->cap_marks) {
        o->cap_marks = o->cap_marks ? o->cap_marks * 2 : 16;
        o->marks = realloc(o->marks, o->cap_marks * sizeof(*o->marks));
        assert_non_null(o->marks);
    }
    o->marks[o->n_marks++] = (struct mark){.end = o->consumed + o->in.len, .due = due};
    return 0;
}

static size_t sim_queued(void *ctx, const struct stet_np_stream *s) {
    (void)ctx;
    if (s->gone) {
        W->misuse = true;
        return 0;
    }
    const struct stet_np_stream *o = s->other;
    if (!o || o->gone) return 0;
    return o->in.len;
}

static void sim_close(void *ctx, struct stet_np_stream *s) {
    (void)ctx;
    if (s->gone) {
        W->misuse = true;
        return;
    }
    s->gone = true;
    end_drop_data(s);
    struct stet_np_stream *o = s->other;
    if (!o || o->gone) return;
    if (s->outgoing && !s->established) {
        o->gone = true; /* never accepted: the listener never hears of it */
        return;
    }
    if (s->owner >= 0 && W->nodes[s->owner].crashing) {
        o->blackhole = true; /* the host vanished: no FIN, no RST */
        return;
    }
    schedule_eof(o, 0, false);
}

static void deliver_closed(struct stet_np_stream *s, int status) {
    s->gone = true;
    end_drop_data(s);
    if (s->ev && s->ev->closed) s->ev->closed(s->user, status);
}

/* Bytes of s that are due now. */
static size_t due_bytes(const struct stet_np_stream *s) {
    size_t upto = s->consumed;
    for (size_t i = 0; i < s->n_marks; i++) {
        if (s->marks[i].due > now()) break;
        upto = s->marks[i].end;
    }
    return upto - s->consumed;
}

static void consume(struct stet_np_stream *s, size_t n) {
    stet_buf_consume(&s->in, n);
    s->consumed += n;
    size_t k = 0;
    while (k < s->n_marks && s->marks[k].end <= s->consumed) k++;
    memmove(s->marks, s->marks + k, (s->n_marks - k) * sizeof(*s->marks));
    s->n_marks -= k;
}

static void pump(void *arg) {
    (void)arg;
    for (size_t i = 0; i < W->n_ends; i++) {
        struct stet_np_stream *s = W->ends[i];
        if (s->gone || slot_paused(s->owner)) continue;
        if (s->outgoing && !s->established && !s->eof_pending) {
            if (now() < s->ready_due) continue;
            struct stet_np_stream *o = s->other;
            if (o && slot_paused(o->owner)) continue; /* the upgrade waits for the stopped process */
            struct node *t = s->target >= 0 ? &W->nodes[s->target] : NULL;
            if (!o || !t || !t->p || !t->accepting || t->incarnation != s->target_incarnation) {
                if (o) o->gone = true;
                deliver_closed(s, -ECONNREFUSED);
                continue;
            }
            s->established = true;
            stet_np_peers_accept(t->p, o);
            if (!s->gone && s->ev && s->ev->connected) s->ev->connected(s->user, s);
            continue; /* data from the next round */
        }
        if (!s->ev) continue;
        if (s->outgoing && !s->established) {
            /* reset before it was established */
            if (s->eof_pending && now() >= s->eof_due) deliver_closed(s, s->eof_status);
            continue;
        }
        size_t n;
        while (!s->gone && (n = due_bytes(s)) > 0) {
            size_t chunk = n;
            if (rnd() % 2) chunk = 1 + (size_t)(rnd() % n);
            uint8_t *tmp = malloc(chunk);
            assert_non_null(tmp);
            memcpy(tmp, s->in.data, chunk);
            consume(s, chunk);
            if (s->ev->data) s->ev->data(s->user, tmp, chunk);
            free(tmp);
        }
        if (!s->gone && s->eof_pending && now() >= s->eof_due && s->in.len == 0) deliver_closed(s, s->eof_status);
    }
    stet_env_timer_start(&W->sim.env, W->pump, 1);
}

/* Cuts every stream between nodes a and b: both ends get closed (-ECONNRESET). */
static void net_cut(int a, int b) {
    for (size_t i = 0; i < W->n_ends; i++) {
        struct stet_np_stream *s = W->ends[i];
        struct stet_np_stream *o = s->other;
        if (!o || s->gone) continue;
        if (!((s->owner == a && o->owner == b) || (s->owner == b && o->owner == a))) continue;
        s->reset = true;
        schedule_eof(s, -ECONNRESET, true);
        if (!o->gone) {
            o->reset = true;
            schedule_eof(o, -ECONNRESET, true);
        }
    }
}

/* Live (established, not closing) pairs between a and b; *dialler gets the owner of the last
 * one's outgoing end. */
static int live_pairs(int a, int b, int *dialler) {
    int n = 0;
    for (size_t i = 0; i < W->n_ends; i++) {
        struct stet_np_stream *s = W->ends[i];
        struct stet_np_stream *o = s->other;
        if (!s->outgoing || !o || !s->established) continue;
        if (s->gone || o->gone || s->eof_pending || o->eof_pending || s->reset || s->blackhole || o->blackhole)
            continue;
        if (!((s->owner == a && o->owner == b) || (s->owner == b && o->owner == a))) continue;
        n++;
        if (dialler) *dialler = s->owner;
    }
    return n;
}

/* Bytes waiting to be delivered to node slot a. */
static size_t pending_to(int a) {
    size_t n = 0;
    for (size_t i = 0; i < W->n_ends; i++)
        if (W->ends[i]->owner == a && !W->ends[i]->gone) n += W->ends[i]->in.len;
    return n;
}

static size_t connect_calls(int from, const char *address, uint64_t since, uint64_t *times, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < W->n_calls; i++) {
        const struct conn_call *c = &W->calls[i];
        if (c->t < since || (from != -2 && c->from != from)) continue;
        if (address && strcmp(c->address, address) != 0) continue;
        if (times && n < max) times[n] = c->t;
        n++;
    }
    return n;
}

/* ---- raw ends -------------------------------------------------------------------------------------- */

static void raw_connected(void *user, struct stet_np_stream *s) {
    struct raw *r = user;
    assert_ptr_equal(r->s, s);
    r->connected = true;
}
static void raw_data(void *user, const uint8_t *data, size_t len) {
    struct raw *r = user;
    stet_buf_append(&r->rx, data, len);
}
static void raw_closed(void *user, int status) {
    struct raw *r = user;
    r->closed = true;
    r->status = status;
    r->s = NULL;
}
static const struct stet_np_stream_events raw_events = {raw_connected, raw_data, raw_closed};

static void raw_open(struct raw *r, const char *address) {
    memset(r, 0, sizeof(*r));
    stet_buf_init(&r->rx);
    assert_int_equal(sim_connect(NULL, address, &raw_events, r, &r->s), 0);
}

static void raw_send(struct raw *r, const void *data, size_t len) {
    assert_non_null(r->s);
    assert_int_equal(sim_write(NULL, r->s, data, len), 0);
}

static void raw_send_frame(struct raw *r, uint8_t kind, uint32_t group, const void *payload, size_t len) {
    struct stet_buf b = STET_BUF_INIT;
    stet_np_frame_encode(&b, kind, group, payload, len);
    raw_send(r, b.data, b.len);
    stet_buf_free(&b);
}

static void raw_send_hello(struct raw *r, uint32_t id, uint64_t gen, const char *cluster, uint64_t fp,
                           const char *name) {
    struct stet_np_hello h;
    memset(&h, 0, sizeof(h));
    h.min_version = STET_NP_VERSION_MIN;
    h.max_version = STET_NP_VERSION_MAX;
    h.node_id = id;
    h.generation = gen;
    h.fingerprint = fp;
    snprintf(h.cluster_name, sizeof(h.cluster_name), "%s", cluster);
    snprintf(h.node_name, sizeof(h.node_name), "%s", name);
    struct stet_buf b = STET_BUF_INIT;
    stet_np_hello_encode(&b, &h);
    raw_send(r, b.data, b.len);
    stet_buf_free(&b);
}

/* The first frame the raw end received, which must be the node's HELLO. */
static void raw_expect_hello(struct raw *r, uint32_t id) {
    struct stet_np_decoder d;
    stet_np_decoder_init(&d, 0);
    stet_np_decoder_feed(&d, r->rx.data, r->rx.len);
    struct stet_np_frame f;
    assert_int_equal(stet_np_decoder_next(&d, &f), 1);
    assert_int_equal(f.kind, STET_NP_HELLO);
    struct stet_np_hello h;
    assert_int_equal(stet_np_hello_decode(f.payload, f.len, &h), 0);
    assert_int_equal(h.node_id, id);
    stet_np_decoder_free(&d);
}

static void raw_free(struct raw *r) {
    if (r->s && !r->s->gone) sim_close(NULL, r->s);
    stet_buf_free(&r->rx);
}

/* ---- nodes ------------------------------------------------------------------------------------------ */

static uint64_t nenv_now(void *ctx) {
    (void)ctx;
    return sim_now(&W->sim);
}
static uint64_t nenv_random(void *ctx) {
    (void)ctx;
    return sim_random(&W->sim);
}
static int nenv_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    (void)ctx;
    return sim_submit(&W->sim, work, done, arg);
}
static void ntimer_fire(void *arg) {
    struct ntimer *t = arg;
    if (t->n->paused) {
        sim_timer_start(&W->sim, t->inner, 1); /* a stopped process runs nothing */
        return;
    }
    t->cb(t->arg);
}
static struct stet_env_timer *nenv_timer_create(void *ctx, stet_env_timer_cb cb, void *arg) {
    struct ntimer *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->n = ctx;
    t->cb = cb;
    t->arg = arg;
    t->inner = sim_timer_create(&W->sim, ntimer_fire, t);
    if (W->n_ntimers == W->cap_ntimers) {
        W->cap_ntimers = W->cap_ntimers ? W->cap_ntimers * 2 : 16;
        W->ntimers = realloc(W->ntimers, W->cap_ntimers * sizeof(*W->ntimers));
        assert_non_null(W->ntimers);
    }
    W->ntimers[W->n_ntimers++] = t;
    return t->inner;
}
static void nenv_timer_start(void *ctx, struct stet_env_timer *t, uint64_t delay_ms) {
    (void)ctx;
    sim_timer_start(&W->sim, t, delay_ms);
}
static void nenv_timer_stop(void *ctx, struct stet_env_timer *t) {
    (void)ctx;
    sim_timer_stop(&W->sim, t);
}
static void nenv_timer_destroy(void *ctx, struct stet_env_timer *t) {
    (void)ctx;
    sim_timer_destroy(&W->sim, t);
}

static void h_frame(void *ctx, uint32_t from, uint8_t kind, uint32_t group, const uint8_t *payload, size_t len) {
    struct node *n = ctx;
    if (n->n_frames == n->cap_frames) {
        n->cap_frames = n->cap_frames ? n->cap_frames * 2 : 64;
        n->frames = realloc(n->frames, n->cap_frames * sizeof(*n->frames));
        assert_non_null(n->frames);
    }
    struct rframe *f = &n->frames[n->n_frames++];
    *f = (struct rframe){.from = from, .kind = kind, .group = group, .len = len};
    f->data = malloc(len ? len : 1);
    assert_non_null(f->data);
    if (len) memcpy(f->data, payload, len);
    if (n->echo && kind == STET_NP_FORWARD)
        assert_int_equal(stet_np_peers_send(n->p, from, STET_NP_REPLY, group, payload, len), 0);
}

static void h_peer(void *ctx, uint32_t node, bool up, uint64_t generation, uint64_t fingerprint) {
    struct node *n = ctx;
    assert_true(n->n_pev < sizeof(n->pev) / sizeof(n->pev[0]));
    n->pev[n->n_pev++] = (struct pev){.node = node, .up = up, .gen = generation, .fp = fingerprint, .t = now()};
}

static void h_refused(void *ctx, const char *address, uint32_t node, uint8_t code, const char *reason, bool by_peer,
                      uint64_t peer_fingerprint) {
    struct node *n = ctx;
    if (n->n_rev == sizeof(n->rev) / sizeof(n->rev[0])) return;
    struct rev *r = &n->rev[n->n_rev++];
    memset(r, 0, sizeof(*r));
    snprintf(r->address, sizeof(r->address), "%s", address ? address : "");
    r->node = node;
    r->code = code;
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
    r->by_peer = by_peer;
    r->peer_fp = peer_fingerprint;
}

struct opts {
    const char *cluster;
    const char *name; /* NULL: "node-<slot>" */
    uint64_t fp;
    size_t max_queue_bytes;
    unsigned hello_timeout_ms;
};

static const char *addr_of(int slot) {
    static char a[MAXN][32];
    snprintf(a[slot], sizeof(a[slot]), "http://n%d:1", slot);
    return a[slot];
}

static const char *default_name(int slot) {
    static char a[MAXN][32];
    snprintf(a[slot], sizeof(a[slot]), "node-%d", slot);
    return a[slot];
}

static void node_clear_records(struct node *n) {
    for (size_t i = 0; i < n->n_frames; i++) free(n->frames[i].data);
    free(n->frames);
    n->frames = NULL;
    n->n_frames = n->cap_frames = 0;
    n->n_pev = n->n_rev = 0;
}

/* Starts a peers instance in slot, listening on addr_of(slot), with the given links. */
static struct node *node_start(int slot, uint32_t id, uint64_t gen, const struct opts *o, const int *links,
                               size_t n_links) {
    struct node *n = &W->nodes[slot];
    assert_null(n->p);
    node_clear_records(n);
    n->slot = slot;
    n->id = id;
    n->gen = gen;
    snprintf(n->addr, sizeof(n->addr), "%s", addr_of(slot));
    n->registered = true;
    n->accepting = true;
    n->paused = n->crashing = false;
    n->echo = false;
    n->incarnation++;
    n->env = (struct stet_env){.ctx = n, .now_ms = nenv_now, .monotonic_ms = nenv_now, .random_u64 = nenv_random,
                               .submit = nenv_submit, .timer_create = nenv_timer_create,
                               .timer_start = nenv_timer_start, .timer_stop = nenv_timer_stop,
                               .timer_destroy = nenv_timer_destroy};
    n->tr = (struct stet_np_transport){.ctx = n, .connect = sim_connect, .attach = sim_attach, .write = sim_write,
                                       .queued = sim_queued, .close = sim_close};
    struct stet_np_peers_config cfg = {.node_id = id,
                                       .generation = gen,
                                       .cluster_name = o && o->cluster ? o->cluster : "c1",
                                       .node_name = o && o->name ? o->name : default_name(slot),
                                       .fingerprint = o ? o->fp : 0,
                                       .max_queue_bytes = o ? o->max_queue_bytes : 0,
                                       .ping_interval_ms = 100,
                                       .dead_after_ms = 1000,
                                       .close_after_ms = 5000,
                                       .hello_timeout_ms = o && o->hello_timeout_ms ? o->hello_timeout_ms : 3000,
                                       .backoff_min_ms = 50,
                                       .backoff_max_ms = 2000};
    struct stet_np_peers_handler h = {.ctx = n, .frame = h_frame, .peer = h_peer, .refused = h_refused};
    assert_int_equal(stet_np_peers_create(&n->env, &n->tr, &cfg, &h, &n->p), 0);
    for (size_t i = 0; i < n_links; i++) assert_int_equal(stet_np_peers_add_address(n->p, addr_of(links[i])), 0);
    return n;
}

/* Stops a node: with crash, its streams vanish without the other ends hearing it. */
static void node_stop(int slot, bool crash) {
    struct node *n = &W->nodes[slot];
    n->crashing = crash;
    n->paused = false;
    stet_np_peers_destroy(n->p);
    n->p = NULL;
    n->crashing = false;
    n->registered = false;
}

static void world_setup(uint64_t seed) {
    W = calloc(1, sizeof(*W));
    assert_non_null(W);
    sim_env_init(&W->sim, seed);
    W->rng = seed * 2654435761u + 1;
    W->lat = 1;
    for (int i = 0; i < MAXN; i++) W->nodes[i].slot = i;
    W->pump = sim_timer_create(&W->sim, pump, NULL);
    sim_timer_start(&W->sim, W->pump, 1);
}

static void world_teardown(void) {
    assert_false(W->misuse); /* no port call on a closed stream */
    for (int i = 0; i < MAXN; i++) {
        if (W->nodes[i].p) node_stop(i, false);
        node_clear_records(&W->nodes[i]);
    }
    for (size_t i = 0; i < W->n_ends; i++) {
        stet_buf_free(&W->ends[i]->in);
        free(W->ends[i]->marks);
        free(W->ends[i]);
    }
    free(W->ends);
    free(W->calls);
    for (size_t i = 0; i < W->n_ntimers; i++) free(W->ntimers[i]);
    free(W->ntimers);
    sim_env_free(&W->sim);
    free(W);
    W = NULL;
}

static void run(uint64_t ms) { sim_env_run_for(&W->sim, ms); }

static struct stet_np_peers_stats stats_of(int slot) {
    struct stet_np_peers_stats st;
    stet_np_peers_stats(W->nodes[slot].p, &st);
    return st;
}

static bool peer_info(int slot, uint32_t node, struct stet_np_peer_info *out) {
    struct stet_np_peer_info pi[MAXN];
    size_t n = stet_np_peers_list(W->nodes[slot].p, pi, MAXN);
    for (size_t i = 0; i < n; i++)
        if (pi[i].node == node) {
            *out = pi[i];
            return true;
        }
    return false;
}

static bool connected(int slot, uint32_t node) {
    struct stet_np_peer_info pi;
    return peer_info(slot, node, &pi) && pi.connected;
}

static size_t count_pev(const struct node *n, uint32_t node, int up /* -1: any */) {
    size_t c = 0;
    for (size_t i = 0; i < n->n_pev; i++)
        if (n->pev[i].node == node && (up < 0 || n->pev[i].up == (up != 0))) c++;
    return c;
}

/* Runs until cond holds (checked every ms), at most max_ms; returns the ms it took. */
#define RUN_UNTIL(cond, max_ms)                                                                                      \
    ({                                                                                                               \
        uint64_t _t0 = now();                                                                                        \
        while (!(cond) && now() - _t0 < (max_ms)) run(1);                                                           \
        assert_true(cond);                                                                                           \
        now() - _t0;                                                                                                 \
    })

/* ---- 1. three nodes: one connection per peer, self link, frames intact ---------------------------------- */

static void fill_payload(uint8_t *b, size_t len, int from, int to, uint32_t seq) {
    for (size_t i = 0; i < len; i++) b[i] = (uint8_t)(from * 31 + to * 7 + seq * 13 + i * 3);
    if (len >= 4) memcpy(b, &seq, 4);
}

static void test_three_nodes(void **state) {
    (void)state;
    world_setup(11);
    const int all[] = {1, 2, 3};
    for (int i = 1; i <= 3; i++) node_start(i, (uint32_t)i, 100 + (uint64_t)i, NULL, all, 3);
    /* nothing is known before the first HELLO */
    assert_int_equal(stet_np_peers_send(W->nodes[1].p, 2, STET_NP_CONSENSUS, 0, "x", 1), -ENOTCONN);
    run(1000);

    for (int i = 1; i <= 3; i++) {
        struct node *n = &W->nodes[i];
        struct stet_np_peer_info pi[MAXN];
        size_t np = stet_np_peers_list(n->p, pi, MAXN);
        assert_int_equal(np, 2);
        size_t k = 0;
        for (int j = 1; j <= 3; j++) {
            if (j == i) continue;
            assert_int_equal(pi[k].node, j); /* id order */
            assert_true(pi[k].connected);
            assert_true(pi[k].alive);
            assert_true(stet_np_peers_alive(n->p, (uint32_t)j));
            assert_int_equal(pi[k].generation, 100 + j);
            assert_non_null(pi[k].address);
            assert_string_equal(pi[k].address, addr_of(j));
            assert_true(pi[k].last_seen_ms + 1000 >= now());
            /* exactly one stream between i and j, and one "up" and no "down" */
            assert_int_equal(live_pairs(i, j, NULL), 1);
            assert_int_equal(count_pev(n, (uint32_t)j, 1), 1);
            assert_int_equal(count_pev(n, (uint32_t)j, 0), 0);
            k++;
        }
        assert_false(stet_np_peers_alive(n->p, (uint32_t)i));
        assert_int_equal(live_pairs(i, i, NULL), 0); /* the self connection went away */
        struct stet_np_peers_stats st = stats_of(i);
        assert_int_equal(st.connects, 2);
        assert_int_equal(st.protocol_errors, 0);
        assert_int_equal(st.rejects, 0);
        struct stet_np_link_info li[MAXN];
        size_t nl = stet_np_peers_links(n->p, li, MAXN);
        assert_int_equal(nl, 3);
        for (size_t l = 0; l < nl; l++) {
            bool own = strcmp(li[l].address, addr_of(i)) == 0;
            assert_int_equal(li[l].self, own);
            if (!own) {
                assert_true(li[l].connected);
                assert_int_equal(li[l].node, strcmp(li[l].address, addr_of(1)) == 0   ? 1
                                             : strcmp(li[l].address, addr_of(2)) == 0 ? 2
                                                                                      : 3);
            }
        }
    }
    /* the self link is never dialled again */
    uint64_t t0 = now();
    run(3000);
    for (int i = 1; i <= 3; i++) assert_int_equal(connect_calls(i, NULL, t0, NULL, 0), 0);

    /* frames: every ordered pair, mixed kinds (42: a kind from a newer peer), sizes 0..70000 */
    enum { PER = 60 };
    static const uint8_t kinds[] = {STET_NP_CONSENSUS, STET_NP_REPLY, 42, STET_NP_FORWARD};
    size_t lens[4][4][PER];
    for (int i = 1; i <= 3; i++)
        for (int j = 1; j <= 3; j++) {
            if (i == j) continue;
            for (uint32_t s = 0; s < PER; s++) {
                size_t len = s % 17 == 5 ? 70000 : (size_t)(rnd() % 1500);
                if (s % 11 == 3) len = 0;
                lens[i][j][s] = len;
                uint8_t *b = malloc(len ? len : 1);
                fill_payload(b, len, i, j, s);
                assert_int_equal(
                    stet_np_peers_send(W->nodes[i].p, (uint32_t)j, kinds[s % 4], 1000 * (uint32_t)i + s, b, len), 0);
                free(b);
            }
        }
    run(200);
    for (int j = 1; j <= 3; j++) {
        struct node *n = &W->nodes[j];
        assert_int_equal(n->n_frames, 2 * PER);
        for (int i = 1; i <= 3; i++) {
            if (i == j) continue;
            uint32_t s = 0;
            for (size_t f = 0; f < n->n_frames; f++) {
                const struct rframe *r = &n->frames[f];
                if (r->from != (uint32_t)i) continue;
                assert_true(s < PER);
                assert_int_equal(r->kind, kinds[s % 4]);
                assert_int_equal(r->group, 1000 * (uint32_t)i + s);
                assert_int_equal(r->len, lens[i][j][s]);
                uint8_t *b = malloc(r->len ? r->len : 1);
                fill_payload(b, r->len, i, j, s);
                assert_memory_equal(r->data, b, r->len);
                free(b);
                s++;
            }
            assert_int_equal(s, PER);
        }
    }
    /* a handler that answers from inside the frame callback */
    for (int i = 1; i <= 3; i++) node_clear_records(&W->nodes[i]);
    W->nodes[2].echo = W->nodes[3].echo = true;
    assert_int_equal(stet_np_peers_send(W->nodes[1].p, 2, STET_NP_FORWARD, 7, "ping-2", 6), 0);
    assert_int_equal(stet_np_peers_send(W->nodes[1].p, 3, STET_NP_FORWARD, 8, "ping-3", 6), 0);
    run(10);
    assert_int_equal(W->nodes[1].n_frames, 2);
    for (size_t f = 0; f < 2; f++) {
        const struct rframe *r = &W->nodes[1].frames[f];
        assert_int_equal(r->kind, STET_NP_REPLY);
        assert_int_equal(r->group, r->from == 2 ? 7 : 8);
        assert_memory_equal(r->data, r->from == 2 ? "ping-2" : "ping-3", 6);
    }

    /* a cut link: both sides hear it, redial, one connection again (whoever dials first: the
     * lower-id rule is only for two connections up at once) */
    size_t e3 = W->nodes[3].n_pev;
    net_cut(1, 2);
    run(5);
    assert_false(connected(1, 2));
    assert_false(connected(2, 1));
    assert_int_equal(count_pev(&W->nodes[1], 2, 0), 1);
    assert_int_equal(count_pev(&W->nodes[2], 1, 0), 1);
    assert_int_equal(stet_np_peers_send(W->nodes[1].p, 2, STET_NP_CONSENSUS, 0, "x", 1), -ENOTCONN);
    uint64_t took = RUN_UNTIL(connected(1, 2) && connected(2, 1), 1000);
    assert_true(took <= 50 + 50 + 10);
    run(500);
    assert_int_equal(live_pairs(1, 2, NULL), 1);
    /* (the records were cleared before the echo round) one down, one up, no flap */
    assert_int_equal(W->nodes[1].n_pev, 2);
    assert_int_equal(W->nodes[2].n_pev, 2);
    assert_true(W->nodes[1].pev[1].up);
    assert_true(W->nodes[2].pev[1].up);
    assert_int_equal(W->nodes[3].n_pev, e3);
    assert_true(stet_np_peers_alive(W->nodes[1].p, 2));
    world_teardown();
}

/* ---- 2. simultaneous dial ---------------------------------------------------------------------------- */

static void simultaneous(uint64_t seed, uint32_t id_a, uint32_t id_b, bool b_first, unsigned jitter) {
    world_setup(seed);
    W->jitter = jitter;
    const int to_b[] = {2}, to_a[] = {1};
    if (b_first) node_start(2, id_b, 1, NULL, to_a, 1);
    node_start(1, id_a, 1, NULL, to_b, 1);
    if (!b_first) node_start(2, id_b, 1, NULL, to_a, 1);
    run(1000);
    /* both dialled at the same instant */
    uint64_t t_a[4], t_b[4];
    assert_int_equal(connect_calls(1, addr_of(2), 0, t_a, 4) >= 1, 1);
    assert_int_equal(connect_calls(2, addr_of(1), 0, t_b, 4) >= 1, 1);
    assert_int_equal(t_a[0], t_b[0]);
    int dialler = -1;
    assert_int_equal(live_pairs(1, 2, &dialler), 1);
    assert_int_equal(dialler, id_a < id_b ? 1 : 2); /* the one dialled by the lower id */
    assert_true(connected(1, id_b));
    assert_true(connected(2, id_a));
    assert_true(stet_np_peers_alive(W->nodes[1].p, id_b));
    assert_true(stet_np_peers_alive(W->nodes[2].p, id_a));
    if (!jitter) {
        /* the model: the loser goes without a word, no down/up flap */
        assert_int_equal(W->nodes[1].n_pev, 1);
        assert_int_equal(W->nodes[2].n_pev, 1);
        assert_true(W->nodes[1].pev[0].up);
        assert_true(W->nodes[2].pev[0].up);
        assert_int_equal(stats_of(1).connects, 1);
        assert_int_equal(stats_of(2).connects, 1);
    } else {
        /* with unequal delays a side may hear the loser close first, but it ends up */
        assert_true(W->nodes[1].pev[W->nodes[1].n_pev - 1].up);
        assert_true(W->nodes[2].pev[W->nodes[2].n_pev - 1].up);
        assert_true(W->nodes[1].n_pev <= 3);
        assert_true(W->nodes[2].n_pev <= 3);
    }
    /* and it stays that way: no more dials, no more events */
    uint64_t t0 = now();
    size_t e1 = W->nodes[1].n_pev, e2 = W->nodes[2].n_pev;
    run(3000);
    assert_int_equal(connect_calls(-2, NULL, t0, NULL, 0), 0);
    assert_int_equal(W->nodes[1].n_pev, e1);
    assert_int_equal(W->nodes[2].n_pev, e2);
    assert_int_equal(live_pairs(1, 2, &dialler), 1);
    assert_int_equal(dialler, id_a < id_b ? 1 : 2);
    world_teardown();
}

static void test_simultaneous_dial(void **state) {
    (void)state;
    simultaneous(21, 1, 2, false, 0);
    simultaneous(22, 1, 2, true, 0);
    simultaneous(23, 5, 3, false, 0); /* the lower id is the second slot */
    simultaneous(24, 5, 3, true, 0);
    for (uint64_t seed = 100; seed < 120; seed++) simultaneous(seed, seed % 2 ? 4 : 9, 6, seed % 3 == 0, 4);
}

/* ---- 3. liveness: a stopped process ------------------------------------------------------------------ */

static void test_liveness(void **state) {
    (void)state;
    world_setup(31);
    const int all[] = {1, 2, 3};
    for (int i = 1; i <= 3; i++) node_start(i, (uint32_t)i, 1, NULL, all, 3);
    run(1000);
    for (int i = 1; i <= 2; i++) assert_true(stet_np_peers_alive(W->nodes[i].p, 3));

    W->nodes[3].paused = true;
    uint64_t t_pause = now();
    run(500);
    for (int i = 1; i <= 2; i++) assert_true(stet_np_peers_alive(W->nodes[i].p, 3)); /* not yet */
    /* dead within about a second */
    RUN_UNTIL(!stet_np_peers_alive(W->nodes[1].p, 3) && !stet_np_peers_alive(W->nodes[2].p, 3), 1000);
    assert_true(now() - t_pause <= 1200);
    for (int i = 1; i <= 2; i++) {
        assert_true(connected(i, 3)); /* its socket is still open */
        assert_true(stet_np_peers_alive(W->nodes[i].p, i == 1 ? 2 : 1)); /* the others are fine */
    }
    assert_int_equal(count_pev(&W->nodes[1], 3, 0), 0);
    /* still connected well before close_after_ms; frames to it queue up */
    run(t_pause + 4500 - now());
    assert_true(connected(1, 3));
    assert_true(connected(2, 3));
    assert_true(pending_to(3) > 0);
    assert_true(stet_np_peers_send(W->nodes[1].p, 3, STET_NP_CONSENSUS, 0, "late", 4) == 0);
    /* closed after close_after_ms of silence (counted from the last frame it sent) */
    struct stet_np_peer_info pi1, pi2;
    assert_true(peer_info(1, 3, &pi1));
    assert_true(peer_info(2, 3, &pi2));
    assert_true(pi1.last_seen_ms <= t_pause && pi1.last_seen_ms + 150 >= t_pause);
    RUN_UNTIL(!connected(1, 3), 1000);
    assert_true(now() - pi1.last_seen_ms > 5000);
    assert_true(now() - pi1.last_seen_ms <= 5000 + 50 + 1);
    RUN_UNTIL(!connected(2, 3), 1000);
    assert_true(now() - pi2.last_seen_ms > 5000);
    assert_true(now() - pi2.last_seen_ms <= 5000 + 50 + 1);
    assert_int_equal(count_pev(&W->nodes[1], 3, 0), 1);
    assert_int_equal(count_pev(&W->nodes[2], 3, 0), 1);
    assert_true(stet_np_peers_alive(W->nodes[1].p, 2));

    run(300);
    W->nodes[3].paused = false;
    uint64_t t_resume = now();
    RUN_UNTIL(stet_np_peers_alive(W->nodes[1].p, 3) && stet_np_peers_alive(W->nodes[2].p, 3) &&
                  stet_np_peers_alive(W->nodes[3].p, 1) && stet_np_peers_alive(W->nodes[3].p, 2),
              3000);
    assert_true(now() - t_resume <= 2100);
    run(1000);
    for (int i = 1; i <= 3; i++)
        for (int j = i + 1; j <= 3; j++) assert_int_equal(live_pairs(i, j, NULL), 1);
    assert_int_equal(count_pev(&W->nodes[1], 3, 1), 2);
    assert_int_equal(count_pev(&W->nodes[1], 3, 0), 1);
    /* the frame sent before the close is not delivered on the new connection */
    assert_int_equal(W->nodes[3].n_frames, 0);
    assert_int_equal(stet_np_peers_send(W->nodes[1].p, 3, STET_NP_CONSENSUS, 0, "again", 5), 0);
    run(5);
    assert_int_equal(W->nodes[3].n_frames, 1);
    assert_memory_equal(W->nodes[3].frames[0].data, "again", 5);
    world_teardown();
}

/* ---- 4. restart with a new generation ------------------------------------------------------------------- */

static void expect_restart_events(const struct node *n, uint32_t node, uint64_t g1, uint64_t g2) {
    size_t k = 0;
    const struct pev *ev[8];
    for (size_t i = 0; i < n->n_pev && k < 8; i++)
        if (n->pev[i].node == node) ev[k++] = &n->pev[i];
    assert_int_equal(k, 3);
    assert_true(ev[0]->up);
    assert_int_equal(ev[0]->gen, g1);
    assert_false(ev[1]->up);
    assert_int_equal(ev[1]->gen, g1);
    assert_true(ev[2]->up);
    assert_int_equal(ev[2]->gen, g2);
}

static void restart(uint64_t seed, bool crash) {
    world_setup(seed);
    const int all[] = {1, 2, 3};
    for (int i = 1; i <= 3; i++) node_start(i, (uint32_t)i, 10, NULL, all, 3);
    run(1000);
    node_stop(2, crash);
    run(crash ? 20 : 300);
    if (!crash) {
        assert_false(connected(1, 2));
        assert_false(connected(3, 2));
    } else {
        assert_true(connected(1, 2)); /* nobody heard it go */
    }
    node_start(2, 2, 11, NULL, all, 3);
    run(1000);
    for (int i = 1; i <= 3; i += 2) {
        struct stet_np_peer_info pi;
        assert_true(peer_info(i, 2, &pi));
        assert_true(pi.connected);
        assert_true(pi.alive);
        assert_int_equal(pi.generation, 11);
        expect_restart_events(&W->nodes[i], 2, 10, 11);
        assert_int_equal(live_pairs(i, 2, NULL), 1);
    }
    assert_true(connected(2, 1));
    assert_true(connected(2, 3));

    /* a stale HELLO (generation 10) for node 2 does not replace the live connection */
    struct raw r;
    raw_open(&r, addr_of(1));
    run(5);
    assert_true(r.connected);
    raw_expect_hello(&r, 1);
    size_t before = W->nodes[1].n_pev;
    raw_send_hello(&r, 2, 10, "c1", 0, "node-2"); /* the same name: only the generation tells */
    raw_send_frame(&r, STET_NP_CONSENSUS, 0, "stale", 5);
    run(5);
    assert_true(r.closed);
    assert_int_equal(W->nodes[1].n_pev, before);
    assert_int_equal(W->nodes[1].n_frames, 0);
    struct stet_np_peer_info pi;
    assert_true(peer_info(1, 2, &pi));
    assert_true(pi.connected);
    assert_int_equal(pi.generation, 11);
    run(1000);
    assert_true(stet_np_peers_alive(W->nodes[1].p, 2));
    assert_int_equal(live_pairs(1, 2, NULL), 1);
    assert_int_equal(W->nodes[1].n_pev, before);
    raw_free(&r);
    world_teardown();
}

static void test_restart(void **state) {
    (void)state;
    restart(41, false);
    restart(42, true);
}

/* ---- 5. refusals ------------------------------------------------------------------------------------------ */

static const struct rev *find_rev(const struct node *n, uint8_t code) {
    for (size_t i = 0; i < n->n_rev; i++)
        if (n->rev[i].code == code) return &n->rev[i];
    return NULL;
}

/* A running pair (slots 1, 2) and a newcomer in slot 4 that knows slot 1's address. */
static void refusal_setup(uint64_t seed, const struct opts *cluster, uint32_t new_id, uint64_t new_gen,
                          const struct opts *newcomer) {
    world_setup(seed);
    const int two[] = {1, 2}, one[] = {1};
    node_start(1, 1, 1, cluster, two, 2);
    node_start(2, 2, 1, cluster, two, 2);
    run(500);
    assert_true(connected(1, 2));
    node_start(4, new_id, new_gen, newcomer, one, 1);
    run(100);
}

static void check_refused_both_sides(uint8_t code, uint32_t new_id) {
    struct node *old = &W->nodes[1], *neu = &W->nodes[4];
    const struct rev *ro = find_rev(old, code), *rn = find_rev(neu, code);
    assert_non_null(ro);
    assert_non_null(rn);
    assert_int_equal(ro->node, new_id);
    assert_string_equal(ro->address, ""); /* an incoming connection */
    assert_false(ro->by_peer);
    assert_int_equal(rn->node, 1);
    assert_string_equal(rn->address, addr_of(1));
    assert_true(strlen(rn->reason) > 0);
    for (size_t i = 0; i < old->n_rev; i++) assert_int_equal(old->rev[i].code, code);
    for (size_t i = 0; i < neu->n_rev; i++) assert_int_equal(neu->rev[i].code, code);
    /* nobody came up, the old pair is untouched */
    assert_int_equal(count_pev(neu, 1, -1), 0);
    assert_int_equal(old->n_pev, 1);
    assert_true(connected(1, 2));
    assert_true(stet_np_peers_alive(old->p, 2));
    assert_true(stats_of(1).rejects >= 1);
    assert_true(stats_of(4).rejects + (rn->by_peer ? 1 : 0) >= 1);
    assert_int_equal(live_pairs(1, 4, NULL), 0);
    /* a refused newcomer retries at backoff_max_ms, not at backoff_min_ms */
    uint64_t t0 = now();
    run(3000);
    size_t calls = connect_calls(4, addr_of(1), t0, NULL, 0);
    assert_true(calls >= 1 && calls <= 2);
}

static void test_refusal(void **state) {
    (void)state;
    /* another cluster name */
    struct opts other = {.cluster = "other"};
    refusal_setup(51, NULL, 4, 1, &other);
    check_refused_both_sides(STET_NP_REJECT_CLUSTER_NAME, 4);
    assert_non_null(strstr(find_rev(&W->nodes[1], STET_NP_REJECT_CLUSTER_NAME)->reason, "other"));
    world_teardown();

    /* node 1's id with another generation while node 1 is connected */
    refusal_setup(52, NULL, 1, 7, NULL);
    check_refused_both_sides(STET_NP_REJECT_NODE_ID, 1);
    struct stet_np_peer_info pi;
    assert_true(peer_info(2, 1, &pi));
    assert_int_equal(pi.generation, 1);
    world_teardown();

    /* another non-zero fingerprint */
    struct opts fa = {.fp = 0xAAAA}, fb = {.fp = 0xBBBB};
    refusal_setup(53, &fa, 4, 1, &fb);
    check_refused_both_sides(STET_NP_REJECT_FINGERPRINT, 4);
    world_teardown();

    /* a REJECT from the other side reaches the handler as by_peer (a raw end plays the peer) */
    refusal_setup(56, NULL, 4, 1, NULL);
    size_t before = W->nodes[1].n_rev;
    struct raw r;
    raw_open(&r, addr_of(1));
    run(5);
    raw_expect_hello(&r, 1);
    uint8_t rej[] = {STET_NP_REJECT_CLUSTER_NAME, 'g', 'o', ' ', 'a', 'w', 'a', 'y'};
    raw_send_frame(&r, STET_NP_REJECT, 0, rej, sizeof(rej));
    run(5);
    assert_true(r.closed);
    assert_int_equal(W->nodes[1].n_rev, before + 1);
    const struct rev *rr = &W->nodes[1].rev[before];
    assert_true(rr->by_peer);
    assert_int_equal(rr->code, STET_NP_REJECT_CLUSTER_NAME);
    assert_string_equal(rr->reason, "go away");
    assert_int_equal(rr->node, 0);
    assert_string_equal(rr->address, "");
    assert_true(connected(1, 2));
    raw_free(&r);
    world_teardown();

    /* fingerprint 0 (not known yet) is accepted; the link remembers the peer's */
    struct opts f0 = {.fp = 0};
    refusal_setup(54, &fa, 4, 1, &f0);
    assert_int_equal(W->nodes[4].n_rev, 0);
    assert_int_equal(W->nodes[1].n_rev, 0);
    assert_true(connected(4, 1));
    assert_true(connected(1, 4));
    struct stet_np_link_info li[2];
    assert_int_equal(stet_np_peers_links(W->nodes[4].p, li, 2), 1);
    assert_int_equal(li[0].fingerprint, 0xAAAA);
    assert_true(peer_info(1, 4, &pi));
    assert_int_equal(pi.fingerprint, 0);
    world_teardown();
}

/* The newcomer is the misconfigured one: src/node/cluster.c stops a node that has not joined
 * yet when it is refused by the peer (`by_peer`) or refuses a node of a provisioned cluster
 * (peer_fingerprint != 0). peers.h: "a fresh node that is refused by the cluster it tries to
 * join stops with that message". The checks are symmetric and the accepting side's HELLO comes
 * first, so the newcomer always refuses on its own before the peer's REJECT can arrive:
 * by_peer is never set here (see the report); the fingerprint is what tells it. */
static void test_refusal_newcomer_can_tell(void **state) {
    (void)state;
    struct opts fa = {.fp = 0xAAAA}, other = {.cluster = "other"}, fb = {.fp = 0xBBBB};
    const struct {
        const char *what;
        const struct opts *newcomer;
        uint32_t id;
        uint64_t gen;
        uint8_t code;
    } cases[] = {
        {"cluster name", &other, 4, 1, STET_NP_REJECT_CLUSTER_NAME},
        {"node id", NULL, 1, 7, STET_NP_REJECT_NODE_ID},
        {"fingerprint", &fb, 4, 1, STET_NP_REJECT_FINGERPRINT},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        refusal_setup(55 + c, &fa, cases[c].id, cases[c].gen, cases[c].newcomer);
        const struct node *neu = &W->nodes[4], *old = &W->nodes[1];
        assert_true(neu->n_rev >= 1);
        for (size_t i = 0; i < neu->n_rev; i++) {
            const struct rev *r = &neu->rev[i];
            assert_int_equal(r->code, cases[c].code);
            /* what cluster.c needs to stop the newcomer */
            assert_true(r->by_peer || r->peer_fp == 0xAAAA);
            if (!r->by_peer) assert_int_equal(r->peer_fp, 0xAAAA);
        }
        /* the cluster's side learns the newcomer's fingerprint (0: a fresh node) */
        const struct rev *ro = find_rev(old, cases[c].code);
        assert_non_null(ro);
        assert_false(ro->by_peer);
        assert_int_equal(ro->peer_fp, cases[c].newcomer ? cases[c].newcomer->fp : 0);
        world_teardown();
    }
}

/* A connected peer's id under another node name: refused by the node that knows the name
 * (the newcomer hears it from the peer), not taken for a restart. */
static void test_refusal_id_taken_by_another_name(void **state) {
    (void)state;
    struct opts impostor = {.name = "impostor"};
    refusal_setup(57, NULL, 2, 99, &impostor); /* N2 with a newer generation, another name */
    const struct node *old = &W->nodes[1], *neu = &W->nodes[4];
    const struct rev *ro = find_rev(old, STET_NP_REJECT_NODE_ID);
    assert_non_null(ro);
    assert_false(ro->by_peer);
    assert_int_equal(ro->node, 2);
    assert_non_null(strstr(ro->reason, "impostor"));
    assert_non_null(strstr(ro->reason, "node-2"));
    const struct rev *rn = find_rev(neu, STET_NP_REJECT_NODE_ID);
    assert_non_null(rn);
    assert_true(rn->by_peer);
    assert_string_equal(rn->address, addr_of(1));
    /* the real N2 is still N1's peer: no down, no generation change */
    assert_int_equal(old->n_pev, 1);
    struct stet_np_peer_info pi;
    assert_true(peer_info(1, 2, &pi));
    assert_true(pi.connected);
    assert_int_equal(pi.generation, 1);
    int dialler = -1;
    assert_int_equal(live_pairs(1, 2, &dialler), 1);
    assert_int_equal(live_pairs(1, 4, NULL), 0);
    /* the newcomer heard N1 come up and go away: the model's price for N1 deciding alone */
    assert_int_equal(count_pev(neu, 1, 1), 1);
    assert_int_equal(count_pev(neu, 1, 0), 1);
    assert_false(connected(4, 1));
    world_teardown();
}

/* Two addresses of the same node (a name and an alias): one connection survives. */
static void two_addresses(uint64_t seed, unsigned jitter) {
    world_setup(seed);
    W->jitter = jitter;
    struct node *n1 = node_start(1, 1, 1, NULL, NULL, 0);
    assert_int_equal(stet_np_peers_add_address(n1->p, "http://n2:1"), 0);
    assert_int_equal(stet_np_peers_add_address(n1->p, "n2:1"), 0);
    assert_int_equal(stet_np_peers_add_address(n1->p, "n2:1"), 0); /* a duplicate */
    node_start(2, 2, 1, NULL, NULL, 0);
    run(3000);
    struct stet_np_link_info li[4];
    assert_int_equal(stet_np_peers_links(n1->p, li, 4), 2);
    assert_int_equal(live_pairs(1, 2, NULL), 1);
    assert_true(connected(1, 2));
    assert_true(connected(2, 1));
    assert_int_equal(count_pev(&W->nodes[1], 2, 0), count_pev(&W->nodes[1], 2, 1) - 1);
    uint64_t t0 = now();
    run(2000);
    assert_int_equal(connect_calls(-2, NULL, t0, NULL, 0), 0);
    world_teardown();
}

static void test_two_addresses_one_node(void **state) {
    (void)state;
    two_addresses(91, 0);
    for (uint64_t seed = 200; seed < 240; seed++) two_addresses(seed, 4);
}

/* ---- 6. bounded queues --------------------------------------------------------------------------------- */

static void test_bounded_queue(void **state) {
    (void)state;
    world_setup(61);
    const int two[] = {1, 2};
    struct opts small = {.max_queue_bytes = 4096};
    node_start(1, 1, 1, &small, two, 2);
    node_start(2, 2, 1, &small, two, 2);
    run(500);
    assert_true(connected(1, 2));
    W->nodes[2].paused = true;
    uint8_t payload[1000];
    bool accepted[200];
    int ok = 0, nobufs = 0;
    for (uint32_t s = 0; s < 200; s++) {
        memset(payload, (int)s, sizeof(payload));
        memcpy(payload, &s, 4);
        int rc = stet_np_peers_send(W->nodes[1].p, 2, STET_NP_CONSENSUS, s, payload, sizeof(payload));
        assert_true(rc == 0 || rc == -ENOBUFS);
        accepted[s] = rc == 0;
        if (rc == 0) ok++;
        else nobufs++;
        if (s % 20 == 19) run(10);
    }
    assert_true(ok >= 4 && ok <= 6); /* max_queue_bytes plus at most one frame */
    assert_int_equal(nobufs, 200 - ok);
    struct stet_np_peers_stats st = stats_of(1);
    assert_true(st.frames_dropped >= (uint64_t)nobufs);
    assert_true(pending_to(2) <= 4096 + 1009 + 200);
    uint64_t dropped = st.frames_dropped;
    run(100); /* pings are dropped too, and nothing breaks */
    assert_true(stats_of(1).frames_dropped > dropped);
    assert_true(connected(1, 2));

    /* resumed: exactly the accepted frames arrive, in order */
    W->nodes[2].paused = false;
    run(50);
    assert_int_equal(W->nodes[2].n_frames, (size_t)ok);
    size_t k = 0;
    for (uint32_t s = 0; s < 200; s++) {
        if (!accepted[s]) continue;
        assert_int_equal(W->nodes[2].frames[k].group, s);
        k++;
    }
    assert_true(stet_np_peers_alive(W->nodes[1].p, 2));
    assert_int_equal(stet_np_peers_send(W->nodes[1].p, 2, STET_NP_CONSENSUS, 999, "ok", 2), 0);
    world_teardown();
}

/* ---- 7. reconnect backoff ----------------------------------------------------------------------------- */

static void test_backoff(void **state) {
    (void)state;
    world_setup(71);
    const int links[] = {1, 9};
    node_start(1, 1, 1, NULL, links, 2); /* nothing listens on n9 yet */
    run(5000);
    uint64_t t[64];
    size_t n = connect_calls(1, addr_of(9), 0, t, 64);
    assert_true(n >= 5);
    assert_true(n <= 12);
    for (size_t i = 2; i < n; i++) {
        uint64_t g0 = t[i - 1] - t[i - 2], g1 = t[i] - t[i - 1];
        assert_true(g1 >= 50);
        assert_true(g1 + 50 >= g0);        /* growing, give or take a tick */
        assert_true(g1 <= 2000 + 50 + 5); /* capped */
    }
    assert_true(t[n - 1] - t[n - 2] >= 1500); /* it got to the cap */

    /* an address that refuses (node down) behaves the same */
    W->nodes[9].registered = true;
    snprintf(W->nodes[9].addr, sizeof(W->nodes[9].addr), "%s", addr_of(9));
    W->nodes[9].accepting = false;
    run(3000);
    assert_false(connected(1, 9));

    /* it starts accepting: connected within backoff_max_ms (plus a tick) */
    node_start(9, 9, 1, NULL, NULL, 0);
    uint64_t took = RUN_UNTIL(connected(1, 9) && connected(9, 1), 3000);
    assert_true(took <= 2000 + 50 + 5);
    assert_true(stet_np_peers_alive(W->nodes[1].p, 9));
    uint64_t t0 = now();
    run(2000);
    assert_int_equal(connect_calls(1, addr_of(9), t0, NULL, 0), 0);

    /* the HELLO reset the backoff: a lost connection is redialled after backoff_min_ms */
    net_cut(1, 9);
    run(5);
    assert_false(connected(1, 9));
    took = RUN_UNTIL(connected(1, 9), 1000);
    assert_true(took <= 50 + 50 + 5);
    world_teardown();
}

/* ---- 8. garbage ----------------------------------------------------------------------------------------- */

static void garbage_case(int which) {
    struct raw r;
    struct stet_np_peers_stats st0 = stats_of(1);
    size_t frames0 = W->nodes[1].n_frames;
    raw_open(&r, addr_of(1));
    run(5);
    assert_true(r.connected);
    raw_expect_hello(&r, 1);
    uint8_t junk[16] = {2, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef};
    switch (which) {
    case 0: raw_send(&r, junk, 8); break;                                      /* shorter than a header */
    case 1: raw_send_frame(&r, STET_NP_CONSENSUS, 0, "early", 5); break;     /* a frame before HELLO */
    case 2: raw_send_frame(&r, STET_NP_HELLO, 0, "xx", 2); break;            /* a malformed HELLO */
    case 3: raw_send_hello(&r, 0, 1, "c1", 0, "raw-0"); break;              /* node id 0 */
    case 4: /* after a good HELLO and one good frame: a frame longer than any */
        raw_send_hello(&r, 7, 1, "c1", 0, "raw-7");
        raw_send_frame(&r, STET_NP_CONSENSUS, 3, "good", 4);
        junk[0] = 0xf0, junk[1] = 0xff, junk[2] = 0xff, junk[3] = 0xff;
        raw_send(&r, junk, 16);
        break;
    case 5: /* a PING is answered with a PONG carrying the same payload; then a second HELLO */
        raw_send_hello(&r, 7, 1, "c1", 0, "raw-7");
        raw_send_frame(&r, STET_NP_PING, 0, "nonce-42", 8);
        run(5);
        {
            struct stet_np_decoder d;
            stet_np_decoder_init(&d, 0);
            stet_np_decoder_feed(&d, r.rx.data, r.rx.len);
            struct stet_np_frame f;
            bool pong = false;
            while (stet_np_decoder_next(&d, &f) == 1)
                if (f.kind == STET_NP_PONG && f.len == 8 && memcmp(f.payload, "nonce-42", 8) == 0) pong = true;
            stet_np_decoder_free(&d);
            assert_true(pong);
        }
        raw_send_hello(&r, 7, 1, "c1", 0, "raw-7");
        raw_send_hello(&r, 7, 1, "c1", 0, "raw-7");
        break;
    default: fail();
    }
    run(5);
    assert_true(r.closed);
    struct stet_np_peers_stats st = stats_of(1);
    assert_int_equal(st.protocol_errors, st0.protocol_errors + 1);
    size_t good = which == 4 ? 1 : 0;
    assert_int_equal(W->nodes[1].n_frames, frames0 + good);
    if (good) {
        assert_int_equal(W->nodes[1].frames[frames0].from, 7);
        assert_memory_equal(W->nodes[1].frames[frames0].data, "good", 4);
    }
    if (which >= 4) {
        /* it was up, then went down */
        assert_int_equal(count_pev(&W->nodes[1], 7, 1), count_pev(&W->nodes[1], 7, 0));
        assert_false(connected(1, 7));
    }
    raw_free(&r);
}

static void test_garbage(void **state) {
    (void)state;
    world_setup(81);
    const int two[] = {1, 2};
    struct opts o = {.hello_timeout_ms = 500};
    node_start(1, 1, 1, &o, two, 2);
    node_start(2, 2, 1, &o, two, 2);
    run(300);
    for (int which = 0; which <= 5; which++) garbage_case(which);
    /* the real peer never noticed */
    assert_true(connected(1, 2));
    assert_int_equal(count_pev(&W->nodes[1], 2, 0), 0);
    assert_int_equal(count_pev(&W->nodes[1], 7, 1), 2);

    /* a connection that never says HELLO is closed after hello_timeout_ms */
    struct raw r;
    raw_open(&r, addr_of(1));
    run(400);
    assert_true(r.connected);
    assert_false(r.closed);
    run(200);
    assert_true(r.closed);
    raw_free(&r);
    assert_true(stet_np_peers_alive(W->nodes[1].p, 2));
    world_teardown();
}

int main(void) {
    stet_log_set_level(STET_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_nodes),
        cmocka_unit_test(test_simultaneous_dial),
        cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_refusal_newcomer_can_tell),
        cmocka_unit_test(test_refusal_id_taken_by_another_name),
        cmocka_unit_test(test_two_addresses_one_node),
        cmocka_unit_test(test_bounded_queue),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
