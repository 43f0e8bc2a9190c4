/* The production environment (struct stet_env on a libuv loop): wall and monotonic clocks,
 * xorshift randomness seeded from getrandom, background work on libuv's thread pool, short work
 * (the log's group commit) inline or on the pool depending on its measured duration, and env
 * timers as libuv timers. The only place besides the HTTP servers and clients where modules'
 * time and threads meet libuv; a simulation supplies its own stet_env instead.
 */
#ifndef STET_NODE_ENV_PROD_H
#define STET_NODE_ENV_PROD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/env.h"

struct stet_env_prod_work;

struct stet_env_prod {
    struct stet_env env; /* env.ctx = this struct */
    uv_loop_t *loop;     /* borrowed */
    uint64_t rng;
    bool short_inline;                 /* submit_short runs work inline (see env_prod.c) */
    uint64_t short_ewma_ns;            /* average duration of short work */
    uv_idle_t done_idle;               /* runs done_head while it is not empty */
    struct stet_env_prod_work *done_head, *done_tail;
    /* observes the duration of every short work item (seconds); may be NULL */
    void (*observe_short)(void *arg, double seconds);
    void *observe_arg;
};

/* Initialises e on loop. Caller calls stet_env_prod_close before closing the loop. */
void stet_env_prod_init(struct stet_env_prod *e, uv_loop_t *loop);
/* Runs done() of inline work that has not run yet (shutdown) and closes e's handles. */
void stet_env_prod_close(struct stet_env_prod *e);
/* The clocks without an env (process start, uptime). */
uint64_t stet_env_prod_monotonic_ms(void);

#endif
