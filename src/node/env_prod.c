/* The production environment. See env_prod.h.
 *
 * Short work (the log's group commit) either runs on the thread pool or inline on the loop;
 * the comment at SHORT_INLINE_MAX_NS says how the choice is made.
 */
#include "node/env_prod.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "node"


static uint64_t env_now_ms(void *ctx) {
    STET_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t env_monotonic_ms(void *ctx) {
    STET_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t env_random(void *ctx) {
    struct stet_env_prod *n = ctx;
    /* xorshift64*, seeded from getrandom at start */
    n->rng ^= n->rng >> 12;
    n->rng ^= n->rng << 25;
    n->rng ^= n->rng >> 27;
    return n->rng * 0x2545F4914F6CDD1Dull;
}

struct stet_env_prod_work {
    uv_work_t req;
    struct stet_env_prod *owner;
    stet_env_work_fn work;
    stet_env_done_fn done;
    void *arg;
    uint64_t duration_ns; /* of work(), measured where it ran */
    bool short_work;       /* submitted through env_submit_short */
    struct stet_env_prod_work *next; /* in done_head: ran inline, done() not yet called */
};

static void work_cb(uv_work_t *r) {
    struct stet_env_prod_work *w = (struct stet_env_prod_work *)r;
    uint64_t t0 = uv_hrtime();
    w->work(w->arg);
    w->duration_ns = uv_hrtime() - t0;
}

/* Short work (the log's group commit) either runs on the thread pool or inline on the loop.
 * A handoff costs two thread wake-ups per commit (the worker, then the loop through its async
 * handle), and on a small VM those cost more than a fast fdatasync itself: measured on the
 * 2-core bench machine, inline commits cut server CPU per request by 25-35% and raised
 * throughput (bench/OPTIMISATIONS.md). An inline commit blocks the loop for its duration,
 * which is acceptable up to a few ms (everything waits for the log anyway; reads, health
 * checks and admin calls wait at most that long). A slow disk must not stall it, so the choice
 * follows an exponentially weighted average of the commit durations: inline while it stays
 * under SHORT_INLINE_MAX_NS, back to the pool above it, inline again once it falls under
 * SHORT_INLINE_RESUME_NS (hysteresis). Inline or not, done() runs from the loop later, never
 * inside the submit call: inline work queues its request on done_head and an idle handle
 * (which makes the loop poll without blocking) runs the queue. */
enum {
    SHORT_INLINE_MAX_NS = 8000000,
    SHORT_INLINE_RESUME_NS = 4000000,
};

static void short_observe(struct stet_env_prod *n, uint64_t duration_ns) {
    if (n->observe_short) n->observe_short(n->observe_arg, (double)duration_ns / 1e9);
    /* ewma with weight 1/8 */
    n->short_ewma_ns = n->short_ewma_ns - n->short_ewma_ns / 8 + duration_ns / 8;
    if (n->short_inline && n->short_ewma_ns > SHORT_INLINE_MAX_NS) {
        n->short_inline = false;
        stet_warn(MOD, "log commits (fdatasync) average %.1f ms: the disk is slow; running them on the thread pool",
                  (double)n->short_ewma_ns / 1e6);
    } else if (!n->short_inline && n->short_ewma_ns < SHORT_INLINE_RESUME_NS) {
        n->short_inline = true;
        stet_warn(MOD, "log commits (fdatasync) average %.2f ms again: running them inline", (double)n->short_ewma_ns / 1e6);
    }
}

static void after_work_cb(uv_work_t *r, int status) {
    STET_UNUSED(status);
    struct stet_env_prod_work *w = (struct stet_env_prod_work *)r;
    if (w->short_work) short_observe(w->owner, w->duration_ns);
    w->done(w->arg);
    free(w);
}

static void done_idle_cb(uv_idle_t *h) {
    struct stet_env_prod *n = h->data;
    /* take the queue first: done() may submit (and queue) more */
    struct stet_env_prod_work *w = n->done_head;
    n->done_head = n->done_tail = NULL;
    uv_idle_stop(&n->done_idle);
    while (w != NULL) {
        struct stet_env_prod_work *next = w->next;
        w->done(w->arg);
        free(w);
        w = next;
    }
}

/* Runs w on the thread pool; frees it if that cannot start. */
static int queue_on_pool(struct stet_env_prod *n, struct stet_env_prod_work *w) {
    int rc = uv_queue_work(n->loop, &w->req, work_cb, after_work_cb);
    if (rc != 0) free(w);
    return rc;
}

static struct stet_env_prod_work *work_req_new(struct stet_env_prod *n, stet_env_work_fn work, stet_env_done_fn done, void *arg,
                                     bool short_work) {
    struct stet_env_prod_work *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    *w = (struct stet_env_prod_work){.owner = n, .work = work, .done = done, .arg = arg, .short_work = short_work};
    return w;
}

static int env_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct stet_env_prod *n = ctx;
    struct stet_env_prod_work *w = work_req_new(n, work, done, arg, false);
    return w ? queue_on_pool(n, w) : -ENOMEM;
}

static int env_submit_short(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct stet_env_prod *n = ctx;
    struct stet_env_prod_work *w = work_req_new(n, work, done, arg, true);
    if (!w) return -ENOMEM;
    if (!n->short_inline) return queue_on_pool(n, w);
    uint64_t t0 = uv_hrtime();
    work(arg);
    short_observe(n, uv_hrtime() - t0);
    if (n->done_tail) n->done_tail->next = w;
    else n->done_head = w;
    n->done_tail = w;
    uv_idle_start(&n->done_idle, done_idle_cb);
    return 0;
}

/* Env timers: a libuv timer each; destroy closes the handle and frees it in the close callback. */

/* Env timers: a libuv timer each; destroy closes the handle and frees it in the close callback. */
struct stet_env_timer {
    uv_timer_t h;
    stet_env_timer_cb cb;
    void *arg;
};

static void env_timer_fire(uv_timer_t *h) {
    struct stet_env_timer *t = h->data;
    t->cb(t->arg);
}

static struct stet_env_timer *env_timer_create(void *ctx, stet_env_timer_cb cb, void *arg) {
    struct stet_env_prod *e = ctx;
    struct stet_env_timer *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->cb = cb;
    t->arg = arg;
    uv_timer_init(e->loop, &t->h);
    t->h.data = t;
    return t;
}

static void env_timer_start(void *ctx, struct stet_env_timer *t, uint64_t delay_ms) {
    STET_UNUSED(ctx);
    uv_timer_start(&t->h, env_timer_fire, delay_ms, 0);
}

static void env_timer_stop(void *ctx, struct stet_env_timer *t) {
    STET_UNUSED(ctx);
    uv_timer_stop(&t->h);
}

static void env_timer_closed(uv_handle_t *h) { free(h->data); }

static void env_timer_destroy(void *ctx, struct stet_env_timer *t) {
    STET_UNUSED(ctx);
    uv_timer_stop(&t->h);
    if (!uv_is_closing((uv_handle_t *)&t->h)) uv_close((uv_handle_t *)&t->h, env_timer_closed);
}

uint64_t stet_env_prod_monotonic_ms(void) { return env_monotonic_ms(NULL); }

void stet_env_prod_init(struct stet_env_prod *e, uv_loop_t *loop) {
    memset(e, 0, sizeof(*e));
    e->loop = loop;
    if (getrandom(&e->rng, sizeof(e->rng), 0) != sizeof(e->rng) || e->rng == 0)
        e->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL);
    e->env = (struct stet_env){.ctx = e, .now_ms = env_now_ms, .monotonic_ms = env_monotonic_ms,
                               .random_u64 = env_random, .submit = env_submit, .submit_short = env_submit_short,
                               .timer_create = env_timer_create, .timer_start = env_timer_start,
                               .timer_stop = env_timer_stop, .timer_destroy = env_timer_destroy};
    e->short_inline = true;
    uv_idle_init(loop, &e->done_idle);
    e->done_idle.data = e;
}

void stet_env_prod_close(struct stet_env_prod *e) {
    if (e->done_head) done_idle_cb(&e->done_idle); /* inline work whose done() has not run yet */
    if (!uv_is_closing((uv_handle_t *)&e->done_idle)) uv_close((uv_handle_t *)&e->done_idle, NULL);
}
