/* The timer service. See timers.h.
 *
 * State: armed_at (wake time the env timer is armed for, 0 = not armed), scan_from (no timer
 * of this partition is due before it: fired timers are deleted when applied, and scanning from
 * the last fired wake time skips their tombstones), the records of the last scan still in
 * flight (outstanding: proposed, not yet durable) and the highest LSN among them (wait_lsn).
 *
 *   idle --env timer--> scan --proposed n > 0--> waiting (outstanding > 0)
 *     ^                   |                          | last record durable
 *     |                   | none due: arm next       v
 *     +-------------------+<----- applied >= wait_lsn (when_applied) -- scan again
 *
 * A scan never runs while the previous one's records are unapplied (`waiting`); an env timer
 * that fires then is remembered and the scan after the waiter covers it.
 */
#include "worker/timers.h"

#include <errno.h>
#include <stdlib.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "timers"
#define SCAN_LIMIT 1000

struct stet_timer_service {
    const struct stet_env *env;
    struct stet_timer_service_port port;
    uint32_t partition_id;
    struct stet_env_timer *timer;
    struct stet_applied_waiter waiter;
    uint64_t armed_at;
    uint64_t scan_from;
    uint64_t wait_lsn;
    uint32_t outstanding;
    bool waiting; /* the last scan's records are not all applied */
    bool stopped;
};

static void fire_cb(void *arg);

int stet_timer_service_create(const struct stet_env *env, const struct stet_timer_service_port *port,
                              uint32_t partition_id, struct stet_timer_service **out) {
    struct stet_timer_service *ts = calloc(1, sizeof(*ts));
    if (!ts) return -ENOMEM;
    ts->env = env;
    ts->port = *port;
    ts->partition_id = partition_id;
    ts->timer = stet_env_timer_create(env, fire_cb, ts);
    if (!ts->timer) {
        free(ts);
        return -ENOMEM;
    }
    *out = ts;
    return 0;
}

void stet_timer_service_destroy(struct stet_timer_service *ts) {
    if (!ts) return;
    STET_ASSERT(ts->outstanding == 0 || ts->stopped); /* proposals are dropped before services */
    ts->port.applied.cancel(ts->port.applied.ctx, &ts->waiter);
    stet_env_timer_destroy(ts->env, ts->timer);
    free(ts);
}

static void arm_at(struct stet_timer_service *ts, uint64_t wake_at) {
    if (ts->stopped) return;
    if (ts->armed_at && ts->armed_at <= wake_at) return;
    uint64_t now = stet_env_now_ms(ts->env);
    ts->armed_at = wake_at;
    stet_env_timer_start(ts->env, ts->timer, wake_at > now ? wake_at - now : 0);
}

void stet_timer_service_arm(struct stet_timer_service *ts, uint64_t wake_at_ms) {
    if (ts->stopped) return;
    if (wake_at_ms < ts->scan_from) ts->scan_from = wake_at_ms;
    arm_at(ts, wake_at_ms);
}

void stet_timer_service_stop(struct stet_timer_service *ts) {
    ts->stopped = true;
    ts->armed_at = 0;
    ts->waiting = false;
    ts->scan_from = 0;
    stet_env_timer_stop(ts->env, ts->timer);
    ts->port.applied.cancel(ts->port.applied.ctx, &ts->waiter);
}

void stet_timer_service_start(struct stet_timer_service *ts) { ts->stopped = false; }

static void scan(struct stet_timer_service *ts);

static void applied_cb(void *arg) {
    struct stet_timer_service *ts = arg;
    ts->waiting = false;
    if (!ts->stopped) scan(ts); /* more may be due */
}

static void fired_durable_cb(void *arg, int status, uint64_t lsn) {
    struct stet_timer_service *ts = arg;
    STET_ASSERT(ts->outstanding > 0);
    ts->outstanding--;
    if (status == 0 && lsn > ts->wait_lsn) ts->wait_lsn = lsn;
    if (ts->outstanding == 0 && ts->waiting && !ts->stopped)
        ts->port.applied.when_applied(ts->port.applied.ctx, ts->partition_id, ts->wait_lsn, &ts->waiter, applied_cb, ts);
}

struct scan_ctx {
    struct stet_timer_service *ts;
    uint64_t last_wake;
    uint32_t proposed;
};

static int due_cb(void *arg, const struct stet_record *fired) {
    struct scan_ctx *c = arg;
    struct stet_timer_service *ts = c->ts;
    struct stet_record r = *fired;
    uint64_t lsn = 0;
    ts->outstanding++;
    int rc = ts->port.propose(ts->port.ctx, &r, fired_durable_cb, ts, &lsn);
    if (rc != 0) {
        /* refused for good (the log failed, the node stops, leadership moved): the next
         * leader fires it */
        ts->outstanding--;
        stet_warn(MOD, "partition %u: cannot propose a fired timer (%d); the next leader fires it", ts->partition_id,
                  rc);
        return 1;
    }
    c->last_wake = fired->wake_at_ms;
    c->proposed++;
    return 0;
}

static void scan(struct stet_timer_service *ts) {
    uint64_t now = stet_env_now_ms(ts->env);
    struct scan_ctx c = {ts, 0, 0};
    uint64_t next = 0;
    ts->waiting = true; /* set before proposing: durable callbacks may run inside propose */
    int rc = stet_partition_timers_due(ts->port.store, ts->partition_id, ts->scan_from, now, SCAN_LIMIT, due_cb, &c,
                                       &next);
    if (c.last_wake) ts->scan_from = c.last_wake;
    if (c.proposed == 0) ts->waiting = false;
    if (rc < 0) {
        stet_warn(MOD, "partition %u: cannot read due timers (%d); trying again in 1 s", ts->partition_id, rc);
        arm_at(ts, now + 1000);
        return;
    }
    if (c.proposed == 0 && next) arm_at(ts, next);
    /* proposed > 0: the scan after they are applied (applied_cb) looks for more */
}

static void fire_cb(void *arg) {
    struct stet_timer_service *ts = arg;
    ts->armed_at = 0;
    if (ts->stopped || ts->waiting) return; /* waiting: applied_cb scans anyway */
    scan(ts);
}
