/* The timer service of one led partition: turns due durable timers into TIMER_FIRED records.
 *
 * Durable timers live in the partition store (tables.h 'Q'); the processor emits a TIMER
 * action when it registers one. The service keeps one env timer armed for the earliest wake
 * time it knows of. When it fires, the due timers (at most 1000 per scan, in time order) are
 * proposed as TIMER_FIRED records through the `propose` port, which retries refused appends
 * (src/worker/proposals.h), so a fired timer is never lost once the scan moved past it. The
 * next scan waits until every record of the previous one was appended and applied, so a timer
 * is proposed once (the processor ignores a second firing anyway).
 *
 * On step-down (stet_timer_service_stop) nothing fires any more; the next leader rebuilds the
 * same state from the store (become_leader emits a TIMER action for the earliest timer).
 */
#ifndef STET_WORKER_TIMERS_H
#define STET_WORKER_TIMERS_H

#include <stdint.h>

#include "common/env.h"
#include "log/log.h"
#include "partition/partition.h"
#include "store/store.h"

struct stet_timer_service_port {
    void *ctx;
    struct stet_store *store; /* the partition store (read only) */
    uint64_t (*applied_lsn)(void *ctx, uint32_t partition_id);
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

#endif
