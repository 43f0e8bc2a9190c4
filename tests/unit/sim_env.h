/* A simulated environment for unit tests: a manual clock, seeded randomness, background work
 * run inline (its done() queued), and timers that fire only when the test advances time.
 * The first piece of the deterministic simulator: nothing here reads the real clock.
 *
 *   struct sim_env s; sim_env_init(&s, seed);
 *   module_create(&s.env, ...);
 *   sim_env_run_for(&s, 100);   // advance 100 ms, firing due timers and queued done()s in order
 *   sim_env_free(&s);
 */
#ifndef STET_TEST_SIM_ENV_H
#define STET_TEST_SIM_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/env.h"

struct stet_env_timer {
    struct sim_env *sim;
    stet_env_timer_cb cb;
    void *arg;
    bool armed;
    bool destroyed;
    uint64_t due_ms;
    uint64_t seq; /* arming order: timers due at the same ms fire in this order */
};

struct sim_done {
    stet_env_done_fn done;
    void *arg;
};

struct sim_env {
    struct stet_env env;
    uint64_t now_ms;
    uint64_t rng;
    uint64_t seq;
    struct stet_env_timer **timers;
    size_t n_timers, cap_timers;
    struct sim_done *dones;
    size_t n_dones, cap_dones;
};

static inline uint64_t sim_now(void *ctx) { return ((struct sim_env *)ctx)->now_ms; }
static inline uint64_t sim_random(void *ctx) {
    struct sim_env *s = ctx;
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1Dull;
}
static inline int sim_submit(void *ctx, stet_env_work_fn work, stet_env_done_fn done, void *arg) {
    struct sim_env *s = ctx;
    work(arg);
    if (s->n_dones == s->cap_dones) {
        s->cap_dones = s->cap_dones ? s->cap_dones * 2 : 16;
        s->dones = realloc(s->dones, s->cap_dones * sizeof(*s->dones));
        STET_ASSERT(s->dones != NULL);
    }
    s->dones[s->n_dones++] = (struct sim_done){done, arg};
    return 0;
}
static inline struct stet_env_timer *sim_timer_create(void *ctx, stet_env_timer_cb cb, void *arg) {
    struct sim_env *s = ctx;
    struct stet_env_timer *t = calloc(1, sizeof(*t));
    STET_ASSERT(t != NULL);
    *t = (struct stet_env_timer){.sim = s, .cb = cb, .arg = arg};
    if (s->n_timers == s->cap_timers) {
        s->cap_timers = s->cap_timers ? s->cap_timers * 2 : 16;
        s->timers = realloc(s->timers, s->cap_timers * sizeof(*s->timers));
        STET_ASSERT(s->timers != NULL);
    }
    s->timers[s->n_timers++] = t;
    return t;
}
static inline void sim_timer_start(void *ctx, struct stet_env_timer *t, uint64_t delay_ms) {
    struct sim_env *s = ctx;
    STET_ASSERT(!t->destroyed);
    t->armed = true;
    t->due_ms = s->now_ms + delay_ms;
    t->seq = ++s->seq;
}
static inline void sim_timer_stop(void *ctx, struct stet_env_timer *t) {
    (void)ctx;
    t->armed = false;
}
static inline void sim_timer_destroy(void *ctx, struct stet_env_timer *t) {
    (void)ctx;
    t->armed = false;
    t->destroyed = true; /* freed by sim_env_free: a destroyed timer must never fire */
}

static inline void sim_env_init(struct sim_env *s, uint64_t seed) {
    memset(s, 0, sizeof(*s));
    s->now_ms = 1700000000000ull;
    s->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    s->env = (struct stet_env){.ctx = s, .now_ms = sim_now, .monotonic_ms = sim_now, .random_u64 = sim_random,
                               .submit = sim_submit, .timer_create = sim_timer_create,
                               .timer_start = sim_timer_start, .timer_stop = sim_timer_stop,
                               .timer_destroy = sim_timer_destroy};
}

/* Runs queued done()s and the timers due now. Returns true if anything ran. */
static inline bool sim_env_step(struct sim_env *s) {
    if (s->n_dones) {
        struct sim_done d = s->dones[0];
        memmove(s->dones, s->dones + 1, (s->n_dones - 1) * sizeof(*s->dones));
        s->n_dones--;
        d.done(d.arg);
        return true;
    }
    struct stet_env_timer *first = NULL;
    for (size_t i = 0; i < s->n_timers; i++) {
        struct stet_env_timer *t = s->timers[i];
        if (!t->armed || t->due_ms > s->now_ms) continue;
        if (!first || t->due_ms < first->due_ms || (t->due_ms == first->due_ms && t->seq < first->seq)) first = t;
    }
    if (!first) return false;
    first->armed = false;
    first->cb(first->arg);
    return true;
}

/* Advances the clock to now + ms one millisecond at a time, running everything due. */
static inline void sim_env_run_for(struct sim_env *s, uint64_t ms) {
    uint64_t end = s->now_ms + ms;
    for (;;) {
        while (sim_env_step(s)) {
        }
        if (s->now_ms >= end) break;
        s->now_ms++;
    }
}

static inline void sim_env_free(struct sim_env *s) {
    for (size_t i = 0; i < s->n_timers; i++) free(s->timers[i]);
    free(s->timers);
    free(s->dones);
}

#endif
