/* The invoker: drives invocation attempts against service deployments over HTTP/2 (h2c),
 * speaking the service protocol v5/v6 (shared/reference/service-protocol.md).
 *
 * It holds no durable state. For each INVOKE action it reads the invocation status, journal
 * and (eager) state from the partition store, opens one stream per attempt, replays the
 * journal and then turns every message the SDK writes into an INVOKER_EFFECT record that it
 * proposes to the partition's log. Notifications reach the SDK only after the partition
 * processor stored them (NOTIFY actions), in journal order: "persist, then send".
 *
 * Attempt state machine (one struct task per invocation in memory):
 *
 *   IDLE ──start──► RUNNING ──End/Suspension──► CLOSING ──stream closed──► (task freed)
 *                     │  ▲                                   └─restart requested─► RUNNING
 *                     │  └──────────── retry timer + all proposals applied ───┐
 *                     └──Error / bad status / stream reset / abort timeout──► BACKOFF
 *
 * Timers per attempt: inactivity (default 1 min, manifest inactivityTimeout): half-close the
 * request stream so the SDK suspends; then abort (default 10 min): reset the stream and
 * treat the attempt as failed. Retries follow the handler's retry policy (initial interval,
 * factor, max interval, max attempts, then pause or kill); ErrorMessage.next_retry_delay
 * overrides one delay.
 */
#ifndef STET_INVOKER_H
#define STET_INVOKER_H

#include <stdint.h>
#include <uv.h>

#include "common/ids.h"

struct stet_node;
struct stet_h2_pool;
struct stet_invoker;

struct stet_invoker_stats {
    uint64_t attempts_started, attempts_failed, retries, invocations_completed, suspensions, open_tasks;
};

int stet_invoker_create(struct stet_node *node, struct stet_h2_pool *pool, struct stet_invoker **out);
/* Resets every stream and frees the tasks. */
void stet_invoker_destroy(struct stet_invoker *inv);

/* Partition actions. */
void stet_invoker_invoke(struct stet_invoker *inv, const struct stet_invocation_id *id);
void stet_invoker_notify(struct stet_invoker *inv, const struct stet_invocation_id *id, uint32_t entry_index);
void stet_invoker_abort(struct stet_invoker *inv, const struct stet_invocation_id *id);
/* A pause was requested: the running attempt is asked to suspend (request stream closed);
 * an attempt waiting for a retry is not started again and the invocation becomes paused. */
void stet_invoker_pause(struct stet_invoker *inv, const struct stet_invocation_id *id);

void stet_invoker_stats(const struct stet_invoker *inv, struct stet_invoker_stats *out);
/* Once per loop iteration (before polling): starts waiting attempts within this iteration's
 * budget. Returns true when attempts still wait although slots are free (the budget ran out):
 * the caller then polls without blocking so the next iteration comes at once. */
bool stet_invoker_tick(struct stet_invoker *inv);

/* In-memory status of an invocation the invoker works on, for introspection. Returns false
 * when the invoker has no task for it. last_failure is copied into buf (NUL-terminated). */
struct stet_invoker_task_info {
    bool running;
    uint32_t retry_count;
    uint64_t next_retry_at_ms;
    uint64_t last_start_at_ms;
    char last_failure[512];
};
bool stet_invoker_task_info(const struct stet_invoker *inv, const struct stet_invocation_id *id,
                            struct stet_invoker_task_info *out);

#endif
