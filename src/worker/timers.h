/* The timer service of one led partition: turns due durable timers into TIMER_FIRED records.
 *
 * Durable timers live in the partition store (tables.h 'Q'); the processor emits a TIMER
 * action when it registers one. The service keeps one env timer armed for the earliest wake
 * time it knows of. When it fires, the due timers (at most 1000 per scan, in time order) are
 * proposed as TIMER_FIRED records through the `propose` port, which retries refused appends
 * (src/worker/proposals.h), so a fired timer is never lost once the scan moved past it. The
 * next scan runs when every record of the previous one is durable and applied (a when_applied
 * waiter, no polling), so a timer is proposed once (the processor ignores a second firing
 * anyway).
 *
 * On step-down (stet_timer_service_stop) nothing fires any more; the next leader rebuilds the
 * same state from the store (become_leader emits a TIMER action for the earliest timer), and
 * stet_timer_service_start arms it again when this node leads again.
 */
#ifndef STET_WORKER_TIMERS_H
#define STET_WORKER_TIMERS_H

#include <stdint.h>

#include "common/env.h"
#include "log/log.h"
#include "partition/partition.h"
#include "store/store.h"
#include "worker/waiter.h"

struct stet_timer_service_port {
    void *ctx;
    struct stet_store *store; /* the partition store (read only) */
    struct stet_applied_port applied;
    /* Proposes r to its partition's log; refused appends are retried (cb runs once: 0
     * durable, < 0 dropped). Returns < 0 when refused for good (cb does not run). */
    int (*propose)(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out);
};

struct stet_timer_service;

int stet_timer_service_create(const struct stet_env *env, const struct stet_timer_service_port *port,
                              uint32_t partition_id, struct stet_timer_service **out);
void stet_timer_service_destroy(struct stet_timer_service *ts);
/* A timer at wake_at_ms was registered (the partition's TIMER action). */
void stet_timer_service_arm(struct stet_timer_service *ts, uint64_t wake_at_ms);
/* The partition stopped being led here: disarm and forget. */
void stet_timer_service_stop(struct stet_timer_service *ts);
/* The partition is led here (again): TIMER actions arm it. Services are created started. */
void stet_timer_service_start(struct stet_timer_service *ts);

#endif
