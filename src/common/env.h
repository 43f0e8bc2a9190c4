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
 */
#ifndef STET_ENV_H
#define STET_ENV_H

#include <stdint.h>

typedef void (*stet_env_work_fn)(void *arg);
typedef void (*stet_env_done_fn)(void *arg);

struct stet_env {
    void *ctx;
    uint64_t (*now_ms)(void *ctx);        /* wall clock, ms since the Unix epoch */
    uint64_t (*monotonic_ms)(void *ctx);  /* never goes back */
    uint64_t (*random_u64)(void *ctx);
    /* Run work() off the loop, then done() on the loop. Returns 0 or a negative errno. */
    int (*submit)(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg);
    int (*submit_short)(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg);
};

static inline uint64_t stet_env_now_ms(const struct stet_env *e) { return e->now_ms(e->ctx); }
static inline uint64_t stet_env_random(const struct stet_env *e) { return e->random_u64(e->ctx); }

#endif
