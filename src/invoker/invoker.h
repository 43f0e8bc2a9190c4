/* The invoker: drives invocation attempts against service deployments through a transport
 * (src/invoker/transport.h: HTTP/2 cleartext or HTTP/1.1 in production, an in-process SDK in a
 * simulation), speaking the service protocol v5/v6 (shared/reference/service-protocol.md).
 * Its timers are env timers, its time the env's.
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
 *
 * Bounded memory: at most `concurrent_invocations_limit` attempts run at once (more wait in a
 * FIFO), and the invoker holds at most `max_tasks` invocations in memory (running, waiting for
 * a slot, backing off). An INVOKE beyond that is not queued: the invocation stays INVOKED in
 * the partition store and the partition is marked overflowed; as tasks finish, the invoker
 * scans the overflowed partitions' invocation statuses (a bounded number of rows per loop
 * iteration, resuming where it stopped) and takes INVOKED invocations it has no task for. A
 * /send flood therefore costs store space, not memory. The scan skips invocations whose last
 * attempt ended but whose final records (End, Suspension, ...) are not applied yet.
 *
 * Proposals go through a port that retries refused appends (src/worker/proposals.h): an
 * attempt's End, Suspension, Paused or Failed effect is never lost once the attempt is gone.
 */
#ifndef STET_INVOKER_H
#define STET_INVOKER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/env.h"
#include "common/ids.h"
#include "invoker/transport.h"
#include "log/log.h"
#include "partition/partition.h"
#include "schema/schema.h"
#include "store/store.h"
#include "worker/waiter.h"

struct stet_invoker;

/* What the invoker needs from whoever wires it (the node, a test, the simulator). */
struct stet_invoker_ports {
    void *ctx;
    struct stet_invoker_transport transport; /* how attempts reach deployments */
    const struct stet_env *env;   /* clock and timers (inactivity, abort, retry backoff) */
    struct stet_store *store;     /* the partition store, read only: statuses, journals, state */
    uint32_t num_partitions;
    const char *cluster_name;     /* x-restate-cluster-name */
    uint64_t inactivity_timeout_ms, abort_timeout_ms; /* defaults when the schema names none */
    size_t eager_state_size_limit;
    uint32_t concurrent_invocations_limit; /* attempts running at once; 0 = 1024 */
    uint32_t max_tasks;                    /* invocations held in memory; 0 = 4096 */
    const struct stet_schema *(*schema)(void *ctx);
    const struct stet_schema_defaults *(*schema_defaults)(void *ctx);
    uint64_t (*applied_lsn)(void *ctx, uint32_t partition_id);
    struct stet_applied_port applied; /* when_applied: a retry waits for its proposals */
    /* Proposes r to the log of the partition owning r->id.partition_key. Refused appends are
     * retried: returns 0 with *lsn_out = the LSN, or 0 with *lsn_out = 0 when the record was
     * queued for a retry; < 0 when refused for good. cb may be NULL. */
    int (*propose)(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out);
    /* false while proposals to partition_id wait for a retry; else *last_lsn = the highest LSN
     * appended for it (see stet_proposals_settled). */
    bool (*settled)(void *ctx, uint32_t partition_id, uint64_t *last_lsn);
};

struct stet_invoker_stats {
    uint64_t attempts_started, attempts_failed, retries, invocations_completed, suspensions, open_tasks;
    uint64_t waiting;        /* tasks waiting for a slot */
    uint64_t deferred;       /* INVOKEs left in the store because max_tasks was reached */
    uint64_t picked_up;      /* invocations taken from the store by the overflow scan */
    uint64_t overflowed_partitions;
};

/* ports is copied; what it points to is borrowed and must outlive the invoker. */
int stet_invoker_create(const struct stet_invoker_ports *ports, struct stet_invoker **out);
/* Resets every stream and frees the tasks. */
void stet_invoker_destroy(struct stet_invoker *inv);

/* Partition actions. */
void stet_invoker_invoke(struct stet_invoker *inv, const struct stet_invocation_id *id);
void stet_invoker_notify(struct stet_invoker *inv, const struct stet_invocation_id *id, uint32_t entry_index);
void stet_invoker_abort(struct stet_invoker *inv, const struct stet_invocation_id *id);
/* The partition stopped being led here: every attempt of its invocations is stopped and
 * forgotten (the next leader invokes them again). */
void stet_invoker_partition_lost(struct stet_invoker *inv, uint32_t partition_id);
/* A pause was requested: the running attempt is asked to suspend (request stream closed);
 * an attempt waiting for a retry is not started again and the invocation becomes paused. */
void stet_invoker_pause(struct stet_invoker *inv, const struct stet_invocation_id *id);

void stet_invoker_stats(const struct stet_invoker *inv, struct stet_invoker_stats *out);
/* Once per loop iteration (before polling): starts waiting attempts within this iteration's
 * budget. Returns true when attempts still wait although slots are free (the budget ran out):
 * the caller then polls without blocking so the next iteration comes at once. */
bool stet_invoker_tick(struct stet_invoker *inv);

/* Asserts the invoker's invariants (slot and task counts, waitlist entries, overflow cursors);
 * for tests and the simulator. */
void stet_invoker_check(const struct stet_invoker *inv);

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
/* Every task the invoker holds now (another node's /query asks for them: src/node/partitions.c). */
void stet_invoker_each_task(const struct stet_invoker *inv,
                            void (*cb)(void *arg, const struct stet_invocation_id *id,
                                       const struct stet_invoker_task_info *ti),
                            void *arg);

#endif
