/* The environment that deterministic core modules take instead of doing I/O themselves
 * (STYLE.md §7). The codec, partition processor, log and metadata logic read time and
 * randomness only through this struct, so a seeded simulation can drive them.
 *
 * `submit` runs `work` somewhere that may block (a thread pool in production, inline or
 * delayed in a simulation) and later calls `done` on the owning loop thread.
 *
 * `submit_short` is for short blocking work on the critical path (the log's group commit: a
 * write and an fdatasync). The env may run it inline on the loop thread when a handoff to a
 * thread costs more than the work (src/node/node.c decides from measured durations). Either
 * way `done` runs later from the loop, never inside the submit call. NULL: use `submit`.
 *
 * Timers: `timer_create` makes a one-shot timer owned by the env; `timer_start` (re)arms it
 * `delay_ms` from now, `timer_stop` disarms it, `timer_destroy` disarms and frees it (its
 * callback never runs afterwards, even if it was due). Callbacks run on the loop thread, never
 * inside timer_start. Modules take time from these instead of uv_timer_t, so a simulation
 * decides when timers fire.
 */
#ifndef STET_ENV_H
#define STET_ENV_H

#include <stdint.h>

typedef void (*stet_env_work_fn)(void *arg);
typedef void (*stet_env_done_fn)(void *arg);
typedef void (*stet_env_timer_cb)(void *arg);
struct stet_env_timer; /* opaque, owned by the env */

struct stet_env {
    void *ctx;
    uint64_t (*now_ms)(void *ctx);        /* wall clock, ms since the Unix epoch */
    uint64_t (*monotonic_ms)(void *ctx);  /* never goes back */
    uint64_t (*random_u64)(void *ctx);
    /* Run work() off the loop, then done() on the loop. Returns 0 or a negative errno. */
    int (*submit)(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg);
    int (*submit_short)(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg);
    /* NULL when out of memory */
    struct stet_env_timer *(*timer_create)(void *ctx, stet_env_timer_cb cb, void *arg);
    void (*timer_start)(void *ctx, struct stet_env_timer *t, uint64_t delay_ms);
    void (*timer_stop)(void *ctx, struct stet_env_timer *t);
    void (*timer_destroy)(void *ctx, struct stet_env_timer *t); /* NULL t: no-op */
};

static inline uint64_t stet_env_now_ms(const struct stet_env *e) { return e->now_ms(e->ctx); }
static inline uint64_t stet_env_random(const struct stet_env *e) { return e->random_u64(e->ctx); }
static inline uint64_t stet_env_monotonic_ms(const struct stet_env *e) { return e->monotonic_ms(e->ctx); }
static inline struct stet_env_timer *stet_env_timer_create(const struct stet_env *e, stet_env_timer_cb cb, void *arg) {
    return e->timer_create(e->ctx, cb, arg);
}
static inline void stet_env_timer_start(const struct stet_env *e, struct stet_env_timer *t, uint64_t delay_ms) {
    e->timer_start(e->ctx, t, delay_ms);
}
static inline void stet_env_timer_stop(const struct stet_env *e, struct stet_env_timer *t) { e->timer_stop(e->ctx, t); }
static inline void stet_env_timer_destroy(const struct stet_env *e, struct stet_env_timer *t) {
    if (t) e->timer_destroy(e->ctx, t);
}

#endif
