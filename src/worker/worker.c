/* The worker. See worker.h for the replica/leader split and the leadership states.
 *
 * Invariants (stet_worker_check):
 *  1. A partition is LEADER only after the ANNOUNCE_LEADER record of its current epoch was
 *     applied (announce_lsn <= applied), and the processor emits actions exactly when LEADER.
 *  2. Waiters of a partition form a list sorted by LSN, all above the applied LSN (a waiter at
 *     or below it has fired).
 *  3. A partition that is not led here has no queued self-proposals and a stopped timer
 *     service.
 */
#include "worker/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "worker/proposals.h"
#include "worker/shuffle.h"
#include "worker/timers.h"

#define MOD "worker"

enum role { ROLE_FOLLOWER, ROLE_ANNOUNCING, ROLE_LEADER };

struct replica {
    struct stet_worker *w;
    uint32_t partition_id;
    struct stet_partition *proc;
    struct stet_timer_service *timers;
    enum role role;
    uint64_t epoch;        /* the epoch this node leads (or last led) the partition with */
    uint64_t announce_lsn; /* ANNOUNCING: the LSN of our announcement (0: still queued) */
    struct stet_applied_waiter announce_waiter;
    struct stet_applied_waiter *waiters_head, *waiters_tail; /* sorted by lsn */
    bool applying;
    /* The last LSN read: the processor's applied LSN, or beyond it when the entries after it
     * hold no record (a raft log's own entries and read barriers). Not persisted: a restart
     * reads those entries again, which costs nothing. */
    uint64_t read_lsn;
};

/* Everything up to here has been applied (or held no record). */
static uint64_t replica_done(const struct replica *rp) {
    uint64_t a = stet_partition_applied_lsn(rp->proc);
    return rp->read_lsn > a ? rp->read_lsn : a;
}

struct stet_worker {
    struct stet_worker_ports ports;
    struct replica *parts;
    uint32_t n_parts;
    struct stet_proposals *proposals;
    struct stet_shuffle *shuffle;
    struct stet_buf rec;  /* the record being applied */
    struct stet_buf enc;  /* encoding scratch */
    bool stopping;
};

static struct replica *replica_for_key(struct stet_worker *w, uint64_t partition_key) {
    return &w->parts[stet_partition_for_key(partition_key, w->n_parts)];
}

/* ---- actions ------------------------------------------------------------------------- */

static void action_cb(void *ctx, const struct stet_action *a) {
    struct replica *rp = ctx;
    struct stet_worker *w = rp->w;
    if (rp->role != ROLE_LEADER) {
        /* a follower's processor emits only answers: for requests this node holds */
        if ((a->kind == STET_ACTION_INGRESS_RESPONSE || a->kind == STET_ACTION_ADMIN_RESPONSE) && w->ports.respond_replica)
            w->ports.respond_replica(w->ports.ctx, a);
        return;
    }
    switch (a->kind) {
    case STET_ACTION_INVOKE:
    case STET_ACTION_NOTIFY:
    case STET_ACTION_ABORT:
    case STET_ACTION_PAUSE: w->ports.invoker_action(w->ports.ctx, a); break;
    case STET_ACTION_INGRESS_RESPONSE:
    case STET_ACTION_ADMIN_RESPONSE: w->ports.respond(w->ports.ctx, a); break;
    case STET_ACTION_OUTBOX: stet_shuffle_deliver(w->shuffle, a->partition_id, a->outbox_seq); break;
    case STET_ACTION_TIMER: stet_timer_service_arm(w->parts[a->partition_id].timers, a->wake_at_ms); break;
    }
}

/* ---- waiters ------------------------------------------------------------------------- */

static void waiter_unlink(struct replica *rp, struct stet_applied_waiter *wt) {
    if (wt->prev) wt->prev->next = wt->next;
    else rp->waiters_head = wt->next;
    if (wt->next) wt->next->prev = wt->prev;
    else rp->waiters_tail = wt->prev;
    wt->prev = wt->next = NULL;
    wt->armed = false;
}

static void fire_waiters(struct replica *rp) {
    uint64_t applied = replica_done(rp);
    while (rp->waiters_head && rp->waiters_head->lsn <= applied) {
        struct stet_applied_waiter *wt = rp->waiters_head;
        waiter_unlink(rp, wt);
        wt->cb(wt->arg); /* may arm or cancel waiters */
    }
}

void stet_worker_when_applied(struct stet_worker *w, uint32_t partition_id, uint64_t lsn,
                              struct stet_applied_waiter *wt, stet_applied_cb cb, void *arg) {
    STET_ASSERT(partition_id < w->n_parts);
    struct replica *rp = &w->parts[partition_id];
    if (wt->armed) waiter_unlink(&w->parts[wt->partition_id], wt);
    if (replica_done(rp) >= lsn) {
        cb(arg);
        return;
    }
    *wt = (struct stet_applied_waiter){.partition_id = partition_id, .lsn = lsn, .cb = cb, .arg = arg, .armed = true};
    /* LSNs mostly arrive in order: look for the place from the tail */
    struct stet_applied_waiter *after = rp->waiters_tail;
    while (after && after->lsn > lsn) after = after->prev;
    wt->prev = after;
    wt->next = after ? after->next : rp->waiters_head;
    if (wt->next) wt->next->prev = wt;
    else rp->waiters_tail = wt;
    if (after) after->next = wt;
    else rp->waiters_head = wt;
}

void stet_worker_waiter_cancel(struct stet_worker *w, struct stet_applied_waiter *wt) {
    if (!wt->armed) return;
    waiter_unlink(&w->parts[wt->partition_id], wt);
}

static void port_when_applied(void *ctx, uint32_t pid, uint64_t lsn, struct stet_applied_waiter *wt, stet_applied_cb cb,
                              void *arg) {
    stet_worker_when_applied(ctx, pid, lsn, wt, cb, arg);
}

static void port_cancel(void *ctx, struct stet_applied_waiter *wt) { stet_worker_waiter_cancel(ctx, wt); }

struct stet_applied_port stet_worker_applied_port(struct stet_worker *w) {
    return (struct stet_applied_port){.ctx = w, .when_applied = port_when_applied, .cancel = port_cancel};
}

/* ---- replica: the ordered reader of the log -------------------------------------------- */

static int replica_catch_up(struct stet_worker *w, struct replica *rp) {
    if (rp->applying) return 0; /* an apply callback appended to the same log: the loop below sees it */
    rp->applying = true;
    int rc = 0;
    uint64_t tail = w->ports.durable_tail(w->ports.ctx, rp->partition_id);
    for (uint64_t lsn = replica_done(rp) + 1; lsn <= tail; lsn++) {
        rc = w->ports.read(w->ports.ctx, rp->partition_id, lsn, &w->rec);
        if (rc == 2) { /* not a record (a raft log's own entry: src/log/raftlog.h) */
            rc = 0;
            rp->read_lsn = lsn;
            fire_waiters(rp);
            tail = w->ports.durable_tail(w->ports.ctx, rp->partition_id);
            continue;
        }
        if (rc != 0) {
            stet_error(MOD, "cannot read log record partition=%u lsn=%llu rc=%d", rp->partition_id,
                       (unsigned long long)lsn, rc);
            rc = rc < 0 ? rc : -EIO;
            break;
        }
        rc = stet_partition_apply(rp->proc, lsn, w->rec.data, w->rec.len);
        if (rc < 0) break;
        fire_waiters(rp);
        tail = w->ports.durable_tail(w->ports.ctx, rp->partition_id);
    }
    rp->applying = false;
    return rc;
}

int stet_worker_log_durable(struct stet_worker *w, uint32_t partition_id) {
    STET_ASSERT(partition_id < w->n_parts);
    return replica_catch_up(w, &w->parts[partition_id]);
}

/* ---- proposals ----------------------------------------------------------------------- */

static int worker_append(void *ctx, uint32_t pid, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                         uint64_t *lsn_out) {
    struct stet_worker *w = ctx;
    if (w->stopping) return -ESHUTDOWN;
    return w->ports.append(w->ports.ctx, pid, rec, len, cb, arg, lsn_out);
}

static void encode(struct stet_worker *w, struct replica *rp, struct stet_record *r) {
    if (r->timestamp_ms == 0) r->timestamp_ms = stet_env_now_ms(w->ports.env);
    r->epoch = rp->epoch;
    stet_buf_reset(&w->enc);
    stet_record_encode(&w->enc, r);
}

int stet_worker_propose(struct stet_worker *w, struct stet_record *r, stet_log_append_cb cb, void *arg,
                        uint64_t *lsn_out) {
    if (w->stopping) return -ESHUTDOWN;
    struct replica *rp = replica_for_key(w, r->id.partition_key);
    /* a record may follow the announcement only once the announcement has its place in the log */
    if (rp->role == ROLE_FOLLOWER || (rp->role == ROLE_ANNOUNCING && rp->announce_lsn == 0)) return -EAGAIN;
    encode(w, rp, r);
    return w->ports.append(w->ports.ctx, rp->partition_id, w->enc.data, w->enc.len, cb, arg, lsn_out);
}

int stet_worker_propose_retried(struct stet_worker *w, struct stet_record *r, stet_log_append_cb cb, void *arg,
                                uint64_t *lsn_out) {
    if (lsn_out) *lsn_out = 0;
    if (w->stopping) return -ESHUTDOWN;
    struct replica *rp = replica_for_key(w, r->id.partition_key);
    if (rp->role == ROLE_FOLLOWER) return -EAGAIN;
    encode(w, rp, r);
    return stet_proposals_submit(w->proposals, rp->partition_id, w->enc.data, w->enc.len, cb, arg, lsn_out);
}

bool stet_worker_settled(const struct stet_worker *w, uint32_t partition_id, uint64_t *last_lsn) {
    return stet_proposals_settled(w->proposals, partition_id, last_lsn);
}

/* ports of the leader services */
static int svc_propose(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    return stet_worker_propose_retried(ctx, r, cb, arg, lsn_out);
}

/* The shuffle's deliveries: a target partition led elsewhere gets the message through the
 * forward port (a cluster), one led here (or being announced here) through the retried
 * proposals. */
static int shuffle_propose(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct stet_worker *w = ctx;
    struct replica *rp = replica_for_key(w, r->id.partition_key);
    if (rp->role != ROLE_FOLLOWER || !w->ports.forward) return stet_worker_propose_retried(w, r, cb, arg, lsn_out);
    if (lsn_out) *lsn_out = 0;
    if (w->stopping) return -ESHUTDOWN;
    if (r->timestamp_ms == 0) r->timestamp_ms = stet_env_now_ms(w->ports.env);
    return w->ports.forward(w->ports.ctx, r, cb, arg);
}

/* ---- leadership ---------------------------------------------------------------------- */

static void announce_applied(void *arg) {
    struct replica *rp = arg;
    struct stet_worker *w = rp->w;
    if (rp->role != ROLE_ANNOUNCING || rp->announce_lsn == 0) return;
    if (stet_partition_epoch(rp->proc) < rp->epoch) return; /* an older announcement of ours */
    if (stet_partition_epoch(rp->proc) != rp->epoch) {
        /* someone announced a later epoch in between: not ours to lead */
        stet_warn(MOD, "partition %u: epoch %llu was superseded by %llu; not leading", rp->partition_id,
                  (unsigned long long)rp->epoch, (unsigned long long)stet_partition_epoch(rp->proc));
        rp->role = ROLE_FOLLOWER;
        return;
    }
    rp->role = ROLE_LEADER;
    stet_timer_service_start(rp->timers);
    w->ports.leadership(w->ports.ctx, rp->partition_id, true);
    stet_partition_become_leader(rp->proc);
}

/* The announcement's append callback names the epoch it announced: a callback of an earlier
 * announcement (stepped down and up again meanwhile) does not count. */
struct announce_ctx {
    struct replica *rp;
    uint64_t epoch;
};

static void announce_durable_cb(void *arg, int status, uint64_t lsn) {
    struct announce_ctx *a = arg;
    struct replica *rp = a->rp;
    uint64_t epoch = a->epoch;
    free(a);
    if (rp->role != ROLE_ANNOUNCING || rp->epoch != epoch || rp->announce_lsn != 0) return;
    if (status != 0) {
        stet_error(MOD, "partition %u: the leader announcement was dropped (%d); not leading", rp->partition_id,
                   status);
        rp->role = ROLE_FOLLOWER;
        return;
    }
    /* the announcement waited in the retry queue: its LSN is known only now */
    rp->announce_lsn = lsn;
    stet_worker_when_applied(rp->w, rp->partition_id, lsn, &rp->announce_waiter, announce_applied, rp);
}

int stet_worker_become_leader(struct stet_worker *w, uint32_t partition_id) {
    return stet_worker_become_leader_at(w, partition_id, 0);
}

int stet_worker_become_leader_at(struct stet_worker *w, uint32_t partition_id, uint64_t epoch) {
    STET_ASSERT(partition_id < w->n_parts);
    struct replica *rp = &w->parts[partition_id];
    if (rp->role != ROLE_FOLLOWER) return 0;
    if (w->stopping) return -ESHUTDOWN;
    uint64_t seen = stet_partition_epoch(rp->proc);
    uint64_t last = seen > rp->epoch ? seen : rp->epoch;
    if (epoch != 0 && epoch <= last) return -ESTALE;
    rp->epoch = epoch != 0 ? epoch : last + 1;
    rp->role = ROLE_ANNOUNCING;
    rp->announce_lsn = 0;
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_ANNOUNCE_LEADER;
    uint64_t end;
    stet_partition_key_range(partition_id, w->n_parts, &r.id.partition_key, &end);
    uint64_t lsn = 0;
    struct announce_ctx *a = malloc(sizeof(*a));
    STET_ASSERT(a != NULL);
    *a = (struct announce_ctx){rp, rp->epoch};
    int rc = stet_worker_propose_retried(w, &r, announce_durable_cb, a, &lsn);
    if (rc != 0) {
        free(a);
        rp->role = ROLE_FOLLOWER;
        return rc;
    }
    if (lsn != 0) {
        /* armed before the commit: the partition leads from the record right after the
         * announcement on, even if more records follow it in the same commit */
        rp->announce_lsn = lsn;
        stet_worker_when_applied(w, partition_id, lsn, &rp->announce_waiter, announce_applied, rp);
    }
    return 0;
}

void stet_worker_step_down(struct stet_worker *w, uint32_t partition_id) {
    STET_ASSERT(partition_id < w->n_parts);
    struct replica *rp = &w->parts[partition_id];
    if (rp->role == ROLE_FOLLOWER) return;
    bool was_leader = rp->role == ROLE_LEADER;
    rp->role = ROLE_FOLLOWER;
    stet_worker_waiter_cancel(w, &rp->announce_waiter);
    stet_partition_step_down(rp->proc);
    stet_timer_service_stop(rp->timers);
    stet_proposals_cancel_partition(w->proposals, partition_id);
    if (was_leader) w->ports.leadership(w->ports.ctx, partition_id, false);
    stet_info(MOD, "partition %u: stepped down (epoch %llu)", partition_id, (unsigned long long)rp->epoch);
}

bool stet_worker_is_leader(const struct stet_worker *w, uint32_t partition_id) {
    return w->parts[partition_id].role == ROLE_LEADER;
}

uint64_t stet_worker_epoch(const struct stet_worker *w, uint32_t partition_id) { return w->parts[partition_id].epoch; }

uint64_t stet_worker_applied_lsn(const struct stet_worker *w, uint32_t partition_id) {
    STET_ASSERT(partition_id < w->n_parts);
    return replica_done(&w->parts[partition_id]);
}

struct stet_partition *stet_worker_partition(const struct stet_worker *w, uint32_t partition_id) {
    return partition_id < w->n_parts ? w->parts[partition_id].proc : NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

int stet_worker_create(const struct stet_worker_ports *ports, struct stet_worker **out, char *err, size_t errlen) {
    STET_ASSERT(ports->num_partitions > 0);
    struct stet_worker *w = calloc(1, sizeof(*w));
    if (!w) return -ENOMEM;
    w->ports = *ports;
    w->n_parts = ports->num_partitions;
    int rc;
    struct stet_proposals_port pp = {.ctx = w, .append = worker_append};
    rc = stet_proposals_create(ports->env, &pp, &w->proposals);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the proposal queue: %s", strerror(-rc));
        goto fail;
    }
    struct stet_shuffle_port sp = {
        .ctx = w, .store = ports->store, .num_partitions = w->n_parts, .propose = shuffle_propose};
    rc = stet_shuffle_create(&sp, &w->shuffle);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the shuffle: %s", strerror(-rc));
        goto fail;
    }
    w->parts = calloc(w->n_parts, sizeof(*w->parts));
    if (!w->parts) {
        rc = -ENOMEM;
        goto fail;
    }
    struct stet_timer_service_port tp = {.ctx = w, .store = ports->store, .applied = stet_worker_applied_port(w),
                                         .propose = svc_propose};
    for (uint32_t i = 0; i < w->n_parts; i++) {
        struct replica *rp = &w->parts[i];
        rp->w = w;
        rp->partition_id = i;
        rc = stet_timer_service_create(ports->env, &tp, i, &rp->timers);
        if (rc != 0) {
            snprintf(err, errlen, "cannot create the timer service: %s", strerror(-rc));
            goto fail;
        }
        stet_timer_service_stop(rp->timers); /* started when leading */
        struct stet_partition_config pc = {.partition_id = i};
        stet_partition_key_range(i, w->n_parts, &pc.key_start, &pc.key_end);
        rc = stet_partition_create(ports->env, ports->store, &pc, action_cb, rp, &rp->proc);
        if (rc != 0) {
            snprintf(err, errlen, "cannot load partition %u: %s", i, strerror(-rc));
            goto fail;
        }
        uint64_t from = stet_partition_applied_lsn(rp->proc) + 1, tail = ports->durable_tail(ports->ctx, i);
        rc = replica_catch_up(w, rp);
        if (rc != 0) {
            snprintf(err, errlen, "cannot replay the log of partition %u: %s", i, strerror(-rc));
            goto fail;
        }
        if (from <= tail)
            stet_info(MOD, "replayed partition=%u records=%llu", i, (unsigned long long)(tail - from + 1));
    }
    *out = w;
    return 0;
fail:
    stet_worker_destroy(w);
    return rc ? rc : -EINVAL;
}

void stet_worker_stop(struct stet_worker *w) {
    if (!w || w->stopping) return;
    w->stopping = true;
    for (uint32_t i = 0; w->parts && i < w->n_parts; i++) {
        if (w->parts[i].timers) stet_timer_service_stop(w->parts[i].timers);
        if (w->parts[i].proc) stet_partition_step_down(w->parts[i].proc);
        w->parts[i].role = ROLE_FOLLOWER;
    }
    /* queued self-proposals are dropped: the next start re-derives their work */
    stet_proposals_destroy(w->proposals);
    w->proposals = NULL;
}

void stet_worker_destroy(struct stet_worker *w) {
    if (!w) return;
    stet_worker_stop(w);
    for (uint32_t i = 0; w->parts && i < w->n_parts; i++) {
        stet_timer_service_destroy(w->parts[i].timers);
        stet_partition_destroy(w->parts[i].proc);
    }
    stet_shuffle_destroy(w->shuffle);
    free(w->parts);
    stet_buf_free(&w->rec);
    stet_buf_free(&w->enc);
    free(w);
}

void stet_worker_stats(const struct stet_worker *w, struct stet_worker_stats *out) {
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < w->n_parts; i++) {
        struct stet_partition_stats ps;
        stet_partition_stats(w->parts[i].proc, &ps);
        out->records_dropped_stale += ps.records_stale;
    }
    if (w->proposals) {
        struct stet_proposals_stats ps;
        stet_proposals_stats(w->proposals, &ps);
        out->proposals_queued = ps.queued;
        out->proposals_retried = ps.retried;
    }
    struct stet_shuffle_stats ss;
    stet_shuffle_stats(w->shuffle, &ss);
    out->shuffle_delivered = ss.delivered;
    out->shuffle_lost = ss.lost;
}

void stet_worker_check(const struct stet_worker *w) {
    for (uint32_t i = 0; i < w->n_parts; i++) {
        const struct replica *rp = &w->parts[i];
        uint64_t applied = replica_done(rp);
        STET_ASSERT((rp->role == ROLE_LEADER) == stet_partition_is_leader(rp->proc));
        if (rp->role == ROLE_LEADER) {
            STET_ASSERT(rp->announce_lsn != 0 && rp->announce_lsn <= applied);
            STET_ASSERT(stet_partition_epoch(rp->proc) == rp->epoch);
        }
        if (rp->role == ROLE_FOLLOWER && w->proposals) {
            uint64_t last;
            STET_ASSERT(stet_proposals_settled(w->proposals, i, &last));
        }
        uint64_t prev = 0;
        for (const struct stet_applied_waiter *wt = rp->waiters_head; wt; wt = wt->next) {
            STET_ASSERT(wt->armed && wt->partition_id == i);
            STET_ASSERT(wt->lsn > applied);
            STET_ASSERT(wt->lsn >= prev);
            STET_ASSERT(wt->next || wt == rp->waiters_tail);
            prev = wt->lsn;
        }
    }
    if (w->proposals) stet_proposals_check(w->proposals);
}
