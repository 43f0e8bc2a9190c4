/* The invoker. See invoker.h for the attempt state machine.
 *
 * Ordering rules from the service protocol that this file implements (section numbers of
 * shared/reference/service-protocol.md):
 *  - §9.1 Start carries known_entries = journal length, then every stored entry in order.
 *  - §1.5 we half-close the request stream as soon as End, Suspension or Error arrives, or
 *    when the inactivity timer fires; the SDK ends its response only after that.
 *  - §8 notifications are sent only after they were stored, in journal order; sent_upto
 *    tracks the next journal index to look at, so nothing is sent twice or out of order.
 *  - §9.4 a retry starts only after every proposal of the failed attempt was applied.
 *  - §10.11 retry_count_since_last_stored_entry resets when the SDK sends a new command.
 */
#include "invoker/invoker.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "invoker/transport.h"
#include "protocol/protocol.h"

#define MOD "invoker"
#define MAX_MESSAGE_BYTES (32u * 1024 * 1024)
#define SERVER_MAX_PROTOCOL 6
#define SERVER_MIN_PROTOCOL 5
/* Attempts in flight at once (restate: worker.invoker.concurrent-invocations-limit). More
 * INVOKE actions wait in a FIFO: thousands of concurrent streams to one deployment only slow
 * everything down (a /send burst can start far more invocations than the SDK can run). */
#define DEFAULT_RUNNING_ATTEMPTS 1024
/* Invocations held in memory (a task each: ~2 KiB). Beyond this an INVOKE stays in the store
 * and the overflow scan takes it later (see invoker.h). */
#define DEFAULT_MAX_TASKS 4096
/* Status rows the overflow scan looks at per loop iteration, and the room (free tasks) it
 * waits for before scanning, so one finished task does not cost one scan. */
#define SCAN_ROWS_PER_TICK 512
#define SCAN_MIN_ROOM 32
/* New attempts started per loop iteration. A group commit can make thousands of INVOKEs
 * durable at once (a /send burst); starting them all in one iteration (status read, journal
 * scan, new stream each) kept the loop away from the ingress for 10+ ms. Beyond the budget
 * they wait in the same FIFO and start over the next iterations (stet_invoker_tick), which
 * the node runs without blocking in between. */
#define STARTS_PER_TICK 32

enum task_phase { PHASE_IDLE, PHASE_RUNNING, PHASE_CLOSING, PHASE_BACKOFF };

struct task {
    struct stet_invoker *inv;
    struct stet_invocation_id id;
    uint8_t id_bytes[24];
    char id_str[STET_INVOCATION_ID_STRLEN + 1];
    enum task_phase phase;
    struct stet_invoker_stream *stream; /* the attempt's request (HTTP/2 or HTTP/1.1) */
    struct stet_frame_decoder dec;
    struct stet_env_timer *timer; /* inactivity / abort / retry */
    struct task *grave_next;      /* freed, waiting for the end of the loop iteration */
    bool request_closed;     /* we half-closed */
    bool terminal_received;  /* End/Suspension/Error seen on this attempt */
    bool attempt_failed;     /* this attempt failed; retry after close */
    bool restart_requested;  /* an INVOKE arrived while the previous stream was closing */
    bool abort_phase;        /* timer is the abort timer */
    bool request_response;   /* deployment protocol mode */
    bool pausing;            /* a pause was requested: no retries, suspend now */
    bool has_slot;           /* counts against MAX_RUNNING_ATTEMPTS */
    bool waiting_slot;       /* queued in inv->waitlist */
    uint32_t sent_upto;      /* next journal index to consider forwarding */
    uint32_t protocol_version;
    uint8_t deployment_id[16];
    uint64_t last_proposed_lsn;
    bool proposal_queued;    /* a proposal waits in the retry queue: its LSN is not known yet */
    struct stet_applied_waiter waiter; /* a retry waits until last_proposed_lsn is applied */
    uint64_t inactivity_ms, abort_ms;
    /* retry bookkeeping */
    uint32_t failed_attempts;
    uint32_t retry_count_since_last_stored_entry;
    bool override_delay;
    uint64_t next_delay_ms;
    uint64_t next_retry_at_ms;
    uint64_t last_start_at_ms;
    uint64_t last_entry_at_ms;
    char last_failure[512];
    /* the SDK's last ErrorMessage, for the failure of a killed invocation */
    uint32_t last_error_code;
    char last_error_message[512];
    struct stet_buf last_stacktrace;
    /* context of the attempt */
    bool keyed;
    uint8_t service_type, handler_type;
    bool state_writes_allowed;
    struct stet_retry_policy retry;
};

/* Per partition: invocations were left in the store (max_tasks reached) and the overflow scan
 * must look for them. A pass scans the partition's statuses from its start; an INVOKE left in
 * the store while a pass runs asks for another pass (rescan), so nothing behind the cursor is
 * missed. */
struct overflow {
    bool active;
    bool rescan;
    bool has_cursor;
    struct stet_invocation_id cursor; /* last status row looked at */
};

/* A task that ended while its last records (End, Suspension, ...) may not be applied yet: the
 * status still says INVOKED, so the overflow scan must not take it for a left-over one, and a
 * new task for it must wait until those records are applied (finishing_set: id -> that LSN,
 * UINT64_MAX while the proposal waits in the retry queue). */
struct stet_invoker {
    struct stet_invoker_ports ports;
    struct task *graveyard; /* tasks freed during this iteration: their memory goes at the next tick */
    struct stet_hmap tasks; /* 24-byte id -> struct task */
    struct stet_invoker_stats stats;
    bool destroying;
    uint32_t max_running, max_tasks;
    uint32_t scan_min_room; /* SCAN_MIN_ROOM, less for a small max_tasks */
    uint32_t n_tasks;
    struct overflow *overflow; /* [num_partitions] */
    uint32_t overflowed;       /* partitions with overflow.active */
    uint32_t scan_next;        /* round robin over overflowed partitions */
    struct stet_hmap finishing_set; /* 24-byte id -> (void *)(uintptr_t) LSN */
    uint32_t slots_used;
    uint32_t started_this_tick; /* slots taken since the last stet_invoker_tick */
    bool draining;              /* drain_waitlist runs: waiting tasks may take slots */
    struct stet_buf waitlist; /* FIFO of 24-byte invocation ids waiting for a slot */
    size_t waitlist_head;
};

static void attempt_start(struct task *t);
static void task_applied_cb(void *arg);
static void timer_cb(void *arg);
static void attempt_finished(struct task *t);
static bool check_response_head(struct task *t, int status, const char *ct, size_t ctlen);
static void feed_body(struct task *t, const uint8_t *data, size_t len);
static void attempt_fail(struct task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stream_end_request(struct task *t);

/* ---- task lifecycle ------------------------------------------------------------------ */

static uint64_t now_ms(struct stet_invoker *inv) { return stet_env_now_ms(inv->ports.env); }

static uint32_t partition_of(const struct stet_invoker *inv, const struct stet_invocation_id *id) {
    return stet_partition_for_key(id->partition_key, inv->ports.num_partitions);
}

/* true once every record the task proposed was applied (§9.4: a retry must see them). */
static bool task_settled(struct task *t) {
    struct stet_invoker *inv = t->inv;
    uint32_t pid = partition_of(inv, &t->id);
    if (t->proposal_queued) {
        uint64_t last = 0;
        if (!inv->ports.settled(inv->ports.ctx, pid, &last)) return false;
        if (last > t->last_proposed_lsn) t->last_proposed_lsn = last;
        t->proposal_queued = false;
    }
    return inv->ports.applied_lsn(inv->ports.ctx, pid) >= t->last_proposed_lsn;
}

/* A freed task's memory stays valid until the next tick: callers up the stack (feed_body after
 * handle_message failed the attempt, stream callbacks) may still look at it. */
static void graveyard_empty(struct stet_invoker *inv) {
    while (inv->graveyard) {
        struct task *t = inv->graveyard;
        inv->graveyard = t->grave_next;
        stet_frame_decoder_free(&t->dec);
        stet_buf_free(&t->last_stacktrace);
        free(t);
    }
}

static bool may_take_slot(const struct stet_invoker *inv) {
    return inv->slots_used < inv->max_running && inv->started_this_tick < STARTS_PER_TICK && !inv->destroying;
}

/* Starts waiting tasks, oldest first, while slots and this iteration's budget last. */
static void drain_waitlist(struct stet_invoker *inv) {
    if (inv->draining) return; /* attempt_start below may release a slot and come back here */
    inv->draining = true;
    while (inv->waitlist_head < inv->waitlist.len && may_take_slot(inv)) {
        struct task *w = stet_hmap_get(&inv->tasks, inv->waitlist.data + inv->waitlist_head, 24);
        inv->waitlist_head += 24;
        if (w && w->waiting_slot) {
            w->waiting_slot = false;
            attempt_start(w);
        }
    }
    inv->draining = false;
    if (inv->waitlist_head == inv->waitlist.len) {
        if (inv->waitlist.cap > 64 * 1024) stet_buf_free(&inv->waitlist); /* a burst's buffer */
        else stet_buf_reset(&inv->waitlist);
        inv->waitlist_head = 0;
    }
}

/* ---- finishing tasks and the overflow scan ------------------------------------------ */

static void finishing_add(struct stet_invoker *inv, struct task *t) {
    uint64_t lsn = t->proposal_queued ? UINT64_MAX : t->last_proposed_lsn;
    uint64_t old = (uint64_t)(uintptr_t)stet_hmap_get(&inv->finishing_set, t->id_bytes, 24);
    if (old > lsn) lsn = old;
    stet_hmap_put(&inv->finishing_set, t->id_bytes, 24, (void *)(uintptr_t)lsn);
}

/* Forgets finishing tasks whose records were applied: every entry on its own, so one slow
 * partition holds back nobody else. */
static void finishing_purge(struct stet_invoker *inv) {
    struct stet_hmap *m = &inv->finishing_set;
    uint8_t(*done)[24] = NULL;
    size_t n_done = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].state != 1) continue;
        struct stet_invocation_id id;
        stet_invocation_id_from_bytes(m->slots[i].key, &id);
        uint32_t pid = partition_of(inv, &id);
        uint64_t lsn = (uint64_t)(uintptr_t)m->slots[i].value;
        if (lsn == UINT64_MAX) {
            uint64_t last = 0;
            if (!inv->ports.settled(inv->ports.ctx, pid, &last)) continue;
            lsn = last;
            m->slots[i].value = (void *)(uintptr_t)lsn;
        }
        if (inv->ports.applied_lsn(inv->ports.ctx, pid) < lsn) continue;
        done = realloc(done, (n_done + 1) * sizeof(*done));
        STET_ASSERT(done != NULL);
        memcpy(done[n_done++], m->slots[i].key, 24);
    }
    for (size_t i = 0; i < n_done; i++) stet_hmap_remove(m, done[i], 24); /* may shrink: after the walk */
    free(done);
}

/* An INVOKE could not get a task: the invocation stays in the store for the scan. */
static void overflow_mark(struct stet_invoker *inv, const struct stet_invocation_id *id) {
    struct overflow *o = &inv->overflow[partition_of(inv, id)];
    inv->stats.deferred++;
    if (o->active) {
        o->rescan = true;
        return;
    }
    *o = (struct overflow){.active = true};
    inv->overflowed++;
}

struct scan_ctx {
    struct stet_invoker *inv;
    struct overflow *o;
    uint32_t room;
};

static struct task *task_get_or_create(struct stet_invoker *inv, const struct stet_invocation_id *id);

static int scan_cb(void *arg, const struct stet_invocation_id *id, const struct stet_inv_status *st) {
    struct scan_ctx *c = arg;
    struct stet_invoker *inv = c->inv;
    c->o->cursor = *id;
    c->o->has_cursor = true;
    if (st->state != STET_INV_INVOKED) return 0;
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    if (stet_hmap_get(&inv->tasks, b, 24)) return 0;
    if (stet_hmap_get(&inv->finishing_set, b, 24)) {
        /* its last attempt's records are not applied yet: look again in another pass */
        c->o->rescan = true;
        return 0;
    }
    struct task *t = task_get_or_create(inv, id);
    inv->stats.picked_up++;
    attempt_start(t); /* takes a slot or joins the waitlist */
    return --c->room == 0 ? 1 : 0;
}

/* Takes left-over INVOKED invocations from the store while tasks are free. */
static void overflow_scan(struct stet_invoker *inv) {
    uint32_t n = inv->ports.num_partitions;
    size_t budget = SCAN_ROWS_PER_TICK;
    for (uint32_t k = 0; k < n && inv->overflowed > 0 && budget > 0; k++) {
        uint32_t room = inv->max_tasks > inv->n_tasks ? inv->max_tasks - inv->n_tasks : 0;
        if (room == 0) break;
        uint32_t pid = (inv->scan_next + k) % n;
        struct overflow *o = &inv->overflow[pid];
        if (!o->active) continue;
        uint64_t start, end;
        stet_partition_key_range(pid, n, &start, &end);
        struct scan_ctx c = {inv, o, room};
        /* rows looked at: the scan stops at the limit, or early when the room is used up */
        size_t limit = budget;
        int rc = stet_table_status_scan(inv->ports.store, start, end, o->has_cursor ? &o->cursor : NULL, limit,
                                        scan_cb, &c);
        budget = budget > limit / 2 ? budget - limit / 2 : 0; /* conservative: rows are not counted exactly */
        if (rc < 0) {
            stet_warn(MOD, "partition %u: cannot scan invocation statuses (%d); trying again later", pid, rc);
            continue;
        }
        if (rc == 0) {
            /* the end of the partition: done, unless INVOKEs were left behind meanwhile */
            o->has_cursor = false;
            if (o->rescan) {
                o->rescan = false;
            } else {
                o->active = false;
                inv->overflowed--;
            }
        } else {
            inv->scan_next = pid; /* continue here next time */
        }
    }
    inv->stats.overflowed_partitions = inv->overflowed;
}

bool stet_invoker_tick(struct stet_invoker *inv) {
    graveyard_empty(inv);
#ifdef STET_EXPENSIVE_CHECKS
    stet_invoker_check(inv); /* the sanitized build checks the invoker every loop iteration */
#endif
    inv->started_this_tick = 0;
    drain_waitlist(inv);
    if (inv->finishing_set.count > 0) finishing_purge(inv);
    if (inv->overflowed > 0 && inv->n_tasks + inv->scan_min_room <= inv->max_tasks) overflow_scan(inv);
    return (inv->waitlist_head < inv->waitlist.len && inv->slots_used < inv->max_running) ||
           (inv->overflowed > 0 && inv->n_tasks + inv->scan_min_room <= inv->max_tasks);
}

static void release_slot(struct task *t) {
    struct stet_invoker *inv = t->inv;
    if (!t->has_slot) return;
    t->has_slot = false;
    STET_ASSERT(inv->slots_used > 0);
    inv->slots_used--;
    /* hand the slot to the oldest waiting invocation that still wants it */
    drain_waitlist(inv);
}

/* Drops the attempt's request; no callback of it runs afterwards. */
static void close_transport(struct task *t) {
    if (t->stream) {
        const struct stet_invoker_transport *tr = &t->inv->ports.transport;
        tr->reset(tr->ctx, t->stream);
        t->stream = NULL;
    }
}

static void timer_start(struct task *t, uint64_t ms) { stet_env_timer_start(t->inv->ports.env, t->timer, ms); }
static void timer_stop(struct task *t) { stet_env_timer_stop(t->inv->ports.env, t->timer); }

static void task_free(struct task *t) {
    struct stet_invoker *inv = t->inv;
    inv->ports.applied.cancel(inv->ports.applied.ctx, &t->waiter);
    t->waiting_slot = false;
    release_slot(t);
    if (!task_settled(t)) finishing_add(inv, t);
    stet_hmap_remove(&inv->tasks, t->id_bytes, 24);
    inv->stats.open_tasks--;
    STET_ASSERT(inv->n_tasks > 0);
    inv->n_tasks--;
    close_transport(t);
    stet_env_timer_destroy(inv->ports.env, t->timer);
    t->timer = NULL;
    t->phase = PHASE_CLOSING; /* nothing may start it again */
    t->grave_next = inv->graveyard;
    inv->graveyard = t;
}

static struct task *task_get_or_create(struct stet_invoker *inv, const struct stet_invocation_id *id) {
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    struct task *t = stet_hmap_get(&inv->tasks, b, 24);
    if (t) return t;
    t = calloc(1, sizeof(*t));
    STET_ASSERT(t != NULL);
    t->inv = inv;
    t->id = *id;
    memcpy(t->id_bytes, b, 24);
    stet_invocation_id_format(id, t->id_str);
    t->phase = PHASE_IDLE;
    stet_frame_decoder_init(&t->dec, MAX_MESSAGE_BYTES);
    t->timer = stet_env_timer_create(inv->ports.env, timer_cb, t);
    STET_ASSERT(t->timer != NULL);
    stet_hmap_put(&inv->tasks, b, 24, t);
    inv->stats.open_tasks++;
    inv->n_tasks++;
    return t;
}

/* ---- proposals ----------------------------------------------------------------------- */

/* Proposes r for the task (retried by the port when the log refuses it for now). */
static __attribute__((warn_unused_result)) int task_propose(struct task *t, struct stet_record *r) {
    struct stet_invoker *inv = t->inv;
    uint64_t lsn = 0;
    int rc = inv->ports.propose(inv->ports.ctx, r, NULL, NULL, &lsn);
    if (rc != 0) {
        stet_warn(MOD, "cannot propose a record for inv=%s (%d): the log is unavailable", t->id_str, rc);
        return rc;
    }
    if (lsn) {
        if (lsn > t->last_proposed_lsn) t->last_proposed_lsn = lsn;
    } else {
        t->proposal_queued = true;
    }
    return 0;
}

static __attribute__((warn_unused_result)) int propose_effect(struct task *t, enum stet_effect_kind kind, uint16_t entry_type, const uint8_t *payload,
                          size_t len) {
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKER_EFFECT;
    r.id = t->id;
    r.effect = kind;
    r.entry_type = entry_type;
    r.payload = (struct stet_slice){payload, len};
    memcpy(r.deployment_id, t->deployment_id, 16);
    r.protocol_version = t->protocol_version;
    return task_propose(t, &r);
}

/* The last effect of an attempt (End, Suspension, Paused, Failed). The port retries refused
 * appends; it refuses for good only when the log failed or the node stops, and then the
 * invocation stays INVOKED and the next leader invokes it again (task_propose logged it). */
static void propose_final(struct task *t, enum stet_effect_kind kind, const uint8_t *payload, size_t len) {
    int rc = propose_effect(t, kind, 0, payload, len);
    STET_UNUSED(rc);
}

/* ---- timers -------------------------------------------------------------------------- */

static void timer_cb(void *arg) {
    struct task *t = arg;
    if (t->phase == PHASE_RUNNING) {
        if (!t->abort_phase) {
            /* inactivity: ask the SDK to suspend by closing our side */
            stet_debug(MOD, "inactivity timeout, closing request stream inv=%s", t->id_str);
            stream_end_request(t);
            t->abort_phase = true;
            timer_start(t, t->abort_ms);
        } else {
            attempt_fail(t, "the invocation attempt timed out: no progress within the abort timeout of %llums",
                         (unsigned long long)t->abort_ms);
        }
    } else if (t->phase == PHASE_BACKOFF || t->phase == PHASE_IDLE) {
        attempt_start(t);
    }
}

/* The previous attempt's proposals are applied: the retry may start. */
static void task_applied_cb(void *arg) {
    struct task *t = arg;
    if (t->phase == PHASE_BACKOFF || t->phase == PHASE_IDLE) attempt_start(t);
}

static void touch(struct task *t) {
    if (t->phase != PHASE_RUNNING || t->request_response) return;
    if (t->abort_phase) return; /* after the half-close only the abort timer runs */
    timer_start(t, t->inactivity_ms);
}

/* ---- sending ------------------------------------------------------------------------- */

static void send_frame(struct task *t, uint16_t type, const uint8_t *payload, size_t len) {
    if (!t->stream || t->request_closed) return;
    struct stet_buf b = STET_BUF_INIT;
    stet_frame_encode(&b, type, 0, payload, len);
    const struct stet_invoker_transport *tr = &t->inv->ports.transport;
    tr->write(tr->ctx, t->stream, b.data, b.len);
    stet_buf_free(&b);
}

static void stream_end_request(struct task *t) {
    if (!t->stream || t->request_closed) return;
    t->request_closed = true;
    const struct stet_invoker_transport *tr = &t->inv->ports.transport;
    tr->end(tr->ctx, t->stream);
}

struct fwd_ctx {
    struct task *t;
};

static int forward_entry_cb(void *arg, uint32_t index, const struct stet_journal_entry *e) {
    struct fwd_ctx *c = arg;
    if (stet_msg_kind(e->type) == STET_KIND_NOTIFICATION) send_frame(c->t, e->type, e->payload.ptr, e->payload.len);
    c->t->sent_upto = index + 1;
    return 0;
}

void stet_invoker_notify(struct stet_invoker *inv, const struct stet_invocation_id *id, uint32_t entry_index) {
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    struct task *t = stet_hmap_get(&inv->tasks, b, 24);
    if (!t || t->phase != PHASE_RUNNING || !t->stream) return;
    if (entry_index < t->sent_upto) return;
    if (t->request_closed) {
        /* cannot be delivered on this attempt; the next one replays it */
        return;
    }
    struct fwd_ctx c = {t};
    int rc = stet_table_journal_scan(inv->ports.store, id, t->sent_upto, entry_index + 1, forward_entry_cb, &c);
    if (rc < 0) attempt_fail(t, "cannot read the journal to forward a notification (error %d)", rc);
    touch(t);
}

/* ---- attempt start ------------------------------------------------------------------- */

struct replay_ctx {
    struct stet_buf *out;
    uint64_t last_at;
};

static int replay_cb(void *arg, uint32_t index, const struct stet_journal_entry *e) {
    STET_UNUSED(index);
    struct replay_ctx *c = arg;
    stet_frame_encode(c->out, e->type, 0, e->payload.ptr, e->payload.len);
    c->last_at = e->appended_at_ms;
    return 0;
}

struct state_ctx {
    struct stet_state_entry *entries;
    size_t n, cap;
    struct stet_buf arena;
    size_t bytes;
    size_t limit;
    bool truncated;
};

static int state_cb(void *arg, struct stet_slice k, struct stet_slice v) {
    struct state_ctx *c = arg;
    if (c->bytes + k.len + v.len > c->limit) {
        c->truncated = true;
        return 1; /* stop */
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->entries = realloc(c->entries, c->cap * sizeof(*c->entries));
        STET_ASSERT(c->entries != NULL);
    }
    /* store offsets now, fix pointers once the arena stops growing */
    size_t ko = c->arena.len;
    stet_buf_append(&c->arena, k.ptr, k.len);
    size_t vo = c->arena.len;
    stet_buf_append(&c->arena, v.ptr, v.len);
    c->entries[c->n].key = (struct stet_slice){(const uint8_t *)(uintptr_t)ko, k.len};
    c->entries[c->n].value = (struct stet_slice){(const uint8_t *)(uintptr_t)vo, v.len};
    c->n++;
    c->bytes += k.len + v.len;
    return 0;
}

static void split_uri(const char *uri, char *authority, size_t alen, char *prefix, size_t plen) {
    const char *p = uri;
    if (strncmp(p, "http://", 7) == 0) p += 7;
    else if (strncmp(p, "https://", 8) == 0) p += 8;
    const char *slash = strchr(p, '/');
    size_t an = slash ? (size_t)(slash - p) : strlen(p);
    if (an >= alen) an = alen - 1;
    memcpy(authority, p, an);
    authority[an] = 0;
    snprintf(prefix, plen, "%s", slash ? slash : "/");
    size_t pl = strlen(prefix);
    if (pl == 0 || prefix[pl - 1] != '/') {
        if (pl + 1 < plen) { prefix[pl] = '/'; prefix[pl + 1] = 0; }
    }
}

static void on_headers(void *ud, int status, const char *ct, size_t ctlen);
static void on_data(void *ud, const uint8_t *data, size_t len);
static void on_response_end(void *ud);
static void on_close(void *ud, int error, const char *message);
static const struct stet_invoker_stream_cbs stream_cbs = {
    .on_headers = on_headers, .on_data = on_data, .on_end = on_response_end, .on_close = on_close};

static void attempt_start(struct task *t) {
    struct stet_invoker *inv = t->inv;
    struct stet_store *store = inv->ports.store;

    /* §9.4: never replay a journal that lacks what the previous attempt produced */
    if (!task_settled(t)) {
        t->phase = PHASE_BACKOFF;
        if (t->proposal_queued) {
            /* the log refused a proposal for now (rare): look again shortly */
            timer_start(t, 10);
        } else {
            inv->ports.applied.when_applied(inv->ports.applied.ctx, partition_of(inv, &t->id), t->last_proposed_lsn,
                                            &t->waiter, task_applied_cb, t);
        }
        return;
    }

    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(store, &t->id, &st);
    if (rc != 0 || st.state != STET_INV_INVOKED) {
        /* completed, suspended, paused, killed meanwhile: nothing to run */
        stet_inv_status_free(&st);
        task_free(t);
        return;
    }
    if (st.pausing && !t->has_slot) {
        /* a pause arrived while no attempt ran (e.g. the invocation waited in the store) */
        stet_inv_status_free(&st);
        propose_final(t, STET_EFFECT_PAUSED, NULL, 0);
        task_free(t);
        return;
    }
    if (!t->has_slot) {
        /* FIFO: while others wait, a newcomer queues behind them (drain_waitlist takes them
         * in order) */
        bool others_wait = inv->waitlist_head < inv->waitlist.len && !inv->draining;
        if (!may_take_slot(inv) || others_wait) {
            stet_inv_status_free(&st);
            t->phase = PHASE_IDLE;
            if (!t->waiting_slot) {
                t->waiting_slot = true;
                stet_buf_append(&inv->waitlist, t->id_bytes, 24);
            }
            return;
        }
        t->has_slot = true;
        inv->slots_used++;
        inv->started_this_tick++;
    }
    const struct stet_schema *schema = inv->ports.schema(inv->ports.ctx);
    const struct stet_deployment_schema *dep = NULL;
    const struct stet_service_schema *svc = NULL;
    if (st.has_pinned) {
        dep = stet_schema_find_deployment(schema, st.deployment_id);
        if (dep) svc = stet_schema_deployment_service(dep, (const char *)st.service.ptr, st.service.len);
    } else {
        svc = stet_schema_find_service_dep(schema, (const char *)st.service.ptr, st.service.len, &dep);
    }
    t->phase = PHASE_RUNNING;
    t->attempt_failed = false;
    t->terminal_received = false;
    t->request_closed = false;
    t->abort_phase = false;
    t->last_start_at_ms = now_ms(inv);
    t->keyed = st.keyed;
    t->service_type = st.service_type;
    t->handler_type = st.handler_type;
    t->state_writes_allowed = st.keyed && st.handler_type != STET_HANDLER_SHARED;
    inv->stats.attempts_started++;
    if (!dep || !svc) {
        char svcname[256];
        snprintf(svcname, sizeof(svcname), "%.*s", (int)st.service.len, (const char *)st.service.ptr);
        stet_inv_status_free(&st);
        if (!dep && st.has_pinned) attempt_fail(t, "the pinned deployment of this invocation was removed");
        else attempt_fail(t, "cannot find a deployment for service '%s'", svcname);
        return;
    }
    const struct stet_handler_schema *h =
        stet_schema_find_handler(svc, (const char *)st.handler.ptr, st.handler.len);
    t->inactivity_ms = stet_schema_inactivity_timeout(svc, h, inv->ports.inactivity_timeout_ms);
    t->abort_ms = stet_schema_abort_timeout(svc, h, inv->ports.abort_timeout_ms);
    stet_schema_retry_policy(svc, h, inv->ports.schema_defaults(inv->ports.ctx), &t->retry);
    bool lazy = stet_schema_lazy_state(svc, h);
    t->request_response = dep->request_response || t->inactivity_ms == 0;

    /* protocol version: min(deployment max, ours) if within the deployment range */
    uint32_t version = t->protocol_version;
    if (!st.has_pinned || version == 0) {
        version = dep->max_protocol < SERVER_MAX_PROTOCOL ? dep->max_protocol : SERVER_MAX_PROTOCOL;
        if (version < dep->min_protocol || version < SERVER_MIN_PROTOCOL) {
            stet_inv_status_free(&st);
            attempt_fail(t, "the deployment supports service protocol versions %u..%u, this server %d..%d",
                         dep->min_protocol, dep->max_protocol, SERVER_MIN_PROTOCOL, SERVER_MAX_PROTOCOL);
            return;
        }
    }
    if (st.has_pinned && st.protocol_version) version = st.protocol_version;
    t->protocol_version = version;
    /* every effect of this attempt carries the deployment; the first stored one pins it */
    memcpy(t->deployment_id, dep->id, 16);

    /* Start message + replayed journal */
    struct stet_buf body = STET_BUF_INIT, start = STET_BUF_INIT;
    struct replay_ctx rc_ctx = {&body, st.created_at_ms};
    struct stet_buf journal = STET_BUF_INIT;
    rc_ctx.out = &journal;
    rc = stet_table_journal_scan(store, &t->id, 0, st.journal_len, replay_cb, &rc_ctx);
    if (rc < 0) {
        stet_buf_free(&journal);
        stet_inv_status_free(&st);
        attempt_fail(t, "cannot read the journal (error %d)", rc);
        return;
    }
    struct state_ctx sc = {0};
    bool partial = true;
    if (st.keyed && !lazy) {
        sc.limit = inv->ports.eager_state_size_limit;
        rc = stet_table_state_scan(store, t->id.partition_key, st.service, st.key, state_cb, &sc);
        /* past the limit the map holds the entries (in key order) that fit, and is partial */
        partial = sc.truncated;
    }
    for (size_t i = 0; i < sc.n; i++) {
        sc.entries[i].key.ptr = sc.arena.data + (uintptr_t)sc.entries[i].key.ptr;
        sc.entries[i].value.ptr = sc.arena.data + (uintptr_t)sc.entries[i].value.ptr;
    }
    uint64_t now = now_ms(inv);
    if (t->last_entry_at_ms < rc_ctx.last_at) t->last_entry_at_ms = rc_ctx.last_at;
    struct stet_start_msg sm;
    memset(&sm, 0, sizeof(sm));
    memcpy(sm.id, t->id_bytes, 24);
    sm.debug_id = t->id_str;
    sm.known_entries = st.journal_len;
    sm.state = sc.entries;
    sm.state_len = sc.n;
    sm.partial_state = partial;
    sm.key = st.keyed ? st.key : (struct stet_slice){NULL, 0};
    sm.retry_count_since_last_stored_entry = t->retry_count_since_last_stored_entry;
    sm.duration_since_last_stored_entry_ms = now > t->last_entry_at_ms ? now - t->last_entry_at_ms : 0;
    sm.random_seed = stet_xxhash64(t->id_bytes, 24, 0x7265737461746521ull);
    stet_proto_encode_start(&start, &sm);
    stet_frame_encode(&body, STET_MSG_START, 0, start.data, start.len);
    stet_buf_append(&body, journal.data, journal.len);
    t->sent_upto = st.journal_len;

    /* request */
    char authority[256], prefix[1024], path[2048], ctype[64];
    split_uri(dep->uri, authority, sizeof(authority), prefix, sizeof(prefix));
    snprintf(path, sizeof(path), "%sinvoke/%.*s/%.*s", prefix, (int)st.service.len, (const char *)st.service.ptr,
             (int)st.handler.len, (const char *)st.handler.ptr);
    snprintf(ctype, sizeof(ctype), "application/vnd.restate.invocation.v%u", version);
    struct stet_invoker_header hdrs[48];
    size_t nh = 0;
    hdrs[nh++] = (struct stet_invoker_header){"content-type", 12, ctype, strlen(ctype)};
    hdrs[nh++] = (struct stet_invoker_header){"accept", 6, ctype, strlen(ctype)};
    hdrs[nh++] = (struct stet_invoker_header){"x-restate-invocation-id", 23, t->id_str, strlen(t->id_str)};
    struct stet_buf enc_key = STET_BUF_INIT;
    if (st.keyed) {
        stet_percent_encode((const char *)st.key.ptr, st.key.len, &enc_key);
        hdrs[nh++] = (struct stet_invoker_header){"x-restate-service-key", 21, (const char *)enc_key.data, enc_key.len};
    }
    const char *cluster = inv->ports.cluster_name;
    hdrs[nh++] = (struct stet_invoker_header){"x-restate-cluster-name", 22, cluster, strlen(cluster)};
    for (size_t i = 0; i < dep->n_headers && nh < STET_ARRAY_LEN(hdrs); i++)
        hdrs[nh++] = (struct stet_invoker_header){dep->headers[i].key, strlen(dep->headers[i].key),
                                                  dep->headers[i].value, strlen(dep->headers[i].value)};
    stet_frame_decoder_free(&t->dec);
    stet_frame_decoder_init(&t->dec, MAX_MESSAGE_BYTES);
    struct stet_invoker_request treq = {.authority = authority, .path = path, .headers = hdrs, .n_headers = nh,
                                        .http11 = dep->use_http_11, .body = body.data, .body_len = body.len,
                                        .max_response_bytes = MAX_MESSAGE_BYTES + (1u << 20)};
    const struct stet_invoker_transport *tr = &inv->ports.transport;
    if (dep->use_http_11) {
        /* HTTP/1.1: request/response only; everything goes in one request */
        t->request_response = true;
        t->request_closed = true;
    }
    if ((rc = tr->open(tr->ctx, &treq, &stream_cbs, t, &t->stream)) == 0) {
        if (dep->use_http_11) {
            t->abort_phase = true;
            timer_start(t, t->abort_ms);
        } else if (t->request_response) {
            /* request/response: everything is sent; only the abort timeout bounds the wait */
            stream_end_request(t);
            t->abort_phase = true;
            timer_start(t, t->abort_ms);
        } else {
            timer_start(t, t->inactivity_ms);
        }
        stet_debug(MOD, "attempt started inv=%s deployment=%s known_entries=%u", t->id_str, dep->uri, st.journal_len);
    }
    stet_buf_free(&enc_key);
    stet_buf_free(&body);
    stet_buf_free(&start);
    stet_buf_free(&journal);
    free(sc.entries);
    stet_buf_free(&sc.arena);
    stet_inv_status_free(&st);
    if (rc != 0) attempt_fail(t, "cannot start a request to %s: error %d", authority, rc);
}

void stet_invoker_invoke(struct stet_invoker *inv, const struct stet_invocation_id *id) {
    if (inv->destroying) return;
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    struct task *t = stet_hmap_get(&inv->tasks, b, 24);
    if (!t && (inv->n_tasks >= inv->max_tasks || inv->overflowed > 0)) {
        /* full, or others already wait in the store: this one waits there too (in the order
         * the scan finds them), so memory stays bounded whatever the backlog */
        overflow_mark(inv, id);
        return;
    }
    if (!t) {
        t = task_get_or_create(inv, id);
        /* the previous task of this invocation ended moments ago: its records come first */
        uint64_t lsn = (uint64_t)(uintptr_t)stet_hmap_get(&inv->finishing_set, b, 24);
        if (lsn == UINT64_MAX) t->proposal_queued = true;
        else if (lsn > t->last_proposed_lsn) t->last_proposed_lsn = lsn;
    }
    t->pausing = false;
    switch (t->phase) {
    case PHASE_IDLE:
        if (!t->waiting_slot) attempt_start(t);
        break;
    case PHASE_CLOSING:
        t->restart_requested = true;
        break;
    case PHASE_RUNNING:
        if (t->terminal_received) t->restart_requested = true;
        break;
    case PHASE_BACKOFF:
        break;
    }
}

void stet_invoker_pause(struct stet_invoker *inv, const struct stet_invocation_id *id) {
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    struct task *t = stet_hmap_get(&inv->tasks, b, 24);
    if (!t) return;
    t->pausing = true;
    if (t->phase == PHASE_RUNNING) {
        if (!t->terminal_received && !t->request_closed) {
            stream_end_request(t);
            t->abort_phase = true;
            timer_start(t, t->abort_ms);
        }
    } else if (t->phase == PHASE_BACKOFF || t->phase == PHASE_IDLE) {
        propose_final(t, STET_EFFECT_PAUSED, NULL, 0);
        task_free(t);
    }
}

void stet_invoker_partition_lost(struct stet_invoker *inv, uint32_t partition_id) {
    STET_ASSERT(partition_id < inv->ports.num_partitions);
    /* collect first: task_free changes the map */
    struct task **victims = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < inv->tasks.cap; i++) {
        if (inv->tasks.slots[i].state != 1) continue;
        struct task *t = inv->tasks.slots[i].value;
        if (partition_of(inv, &t->id) != partition_id) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            victims = realloc(victims, cap * sizeof(*victims));
            STET_ASSERT(victims != NULL);
        }
        victims[n++] = t;
    }
    /* freeing a task hands its slot to a waiting one: none of the victims may start meanwhile */
    uint8_t(*ids)[24] = n ? malloc(n * sizeof(*ids)) : NULL;
    for (size_t i = 0; i < n; i++) {
        victims[i]->waiting_slot = false;
        memcpy(ids[i], victims[i]->id_bytes, 24);
    }
    for (size_t i = 0; i < n; i++) {
        struct task *t = stet_hmap_get(&inv->tasks, ids[i], 24); /* still there? */
        if (t) task_free(t);
    }
    free(ids);
    free(victims);
    struct overflow *o = &inv->overflow[partition_id];
    if (o->active) inv->overflowed--;
    *o = (struct overflow){0};
    if (n) stet_info(MOD, "partition %u is no longer led here: %zu attempts stopped", partition_id, n);
}

void stet_invoker_abort(struct stet_invoker *inv, const struct stet_invocation_id *id) {
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    struct task *t = stet_hmap_get(&inv->tasks, b, 24);
    if (t) task_free(t);
}

/* ---- failure and retry --------------------------------------------------------------- */

static uint64_t backoff_delay(struct task *t) {
    const struct stet_retry_policy *p = &t->retry;
    double d = (double)p->initial_interval_ms;
    for (uint32_t i = 1; i < t->failed_attempts && d < 3.6e9; i++) d *= p->factor;
    if (p->has_max_interval && d > (double)p->max_interval_ms) d = (double)p->max_interval_ms;
    return (uint64_t)d;
}

/* Called once the attempt's stream is gone (or never existed): decide what comes next. */
static void attempt_finished(struct task *t) {
    struct stet_invoker *inv = t->inv;
    release_slot(t);
    if (t->attempt_failed && t->pausing) {
        stet_info(MOD, "attempt ended while pausing inv=%s last_failure=\"%s\"; the invocation is paused", t->id_str,
                  t->last_failure);
        propose_final(t, STET_EFFECT_PAUSED, NULL, 0);
        task_free(t);
        return;
    }
    if (t->attempt_failed) {
        t->failed_attempts++;
        t->retry_count_since_last_stored_entry++;
        inv->stats.attempts_failed++;
        if (t->retry.max_attempts && t->failed_attempts >= t->retry.max_attempts) {
            if (t->retry.on_max_attempts == STET_ON_MAX_ATTEMPTS_KILL) {
                stet_warn(MOD, "giving up after %u attempts, killing inv=%s last_failure=\"%s\"", t->failed_attempts,
                          t->id_str, t->last_failure);
                struct stet_record r;
                memset(&r, 0, sizeof(r));
                r.kind = STET_REC_INVOKER_EFFECT;
                r.id = t->id;
                r.effect = STET_EFFECT_FAILED;
                const char *msg = t->last_error_code ? t->last_error_message : t->last_failure;
                r.failure_code = t->last_error_code ? t->last_error_code : 500;
                r.failure_message = (struct stet_slice){(const uint8_t *)msg, strlen(msg)};
                r.payload = (struct stet_slice){t->last_stacktrace.data, t->last_stacktrace.len};
                if (task_propose(t, &r) != 0) {
                    /* the log failed or the node stops: the next leader invokes it again */
                }
            } else {
                stet_warn(MOD, "pausing after %u attempts inv=%s last_failure=\"%s\"; resume it with the admin API",
                          t->failed_attempts, t->id_str, t->last_failure);
                propose_final(t, STET_EFFECT_PAUSED, NULL, 0);
            }
            task_free(t);
            return;
        }
        uint64_t delay = t->override_delay ? t->next_delay_ms : backoff_delay(t);
        t->override_delay = false;
        t->phase = PHASE_BACKOFF;
        t->next_retry_at_ms = now_ms(inv) + delay;
        inv->stats.retries++;
        stet_warn(MOD, "invocation attempt failed inv=%s attempt=%u error=\"%s\"; retrying in %llums", t->id_str,
                  t->failed_attempts, t->last_failure, (unsigned long long)delay);
        timer_start(t, delay);
        return;
    }
    if (t->restart_requested) {
        t->restart_requested = false;
        t->phase = PHASE_IDLE;
        attempt_start(t);
        return;
    }
    task_free(t);
}

static void attempt_fail(struct task *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->last_failure, sizeof(t->last_failure), fmt, ap);
    va_end(ap);
    t->last_error_code = 0;
    stet_buf_reset(&t->last_stacktrace);
    t->attempt_failed = true;
    timer_stop(t);
    close_transport(t);
    attempt_finished(t);
}

/* ---- stream callbacks ---------------------------------------------------------------- */

/* §1.4: status 200 and our content-type, else the attempt fails. Returns false if it failed. */
static bool check_response_head(struct task *t, int status, const char *ct, size_t ctlen) {
    if (status != 200) {
        const char *what = status == 502 || status == 504   ? "service unavailable"
                           : status == 503 || status == 429 ? "rate limited"
                           : status == 415                  ? "unsupported protocol version"
                           : status == 413                  ? "content too large"
                                                            : "unexpected response";
        attempt_fail(t, "%s: the deployment answered HTTP status %d", what, status);
        return false;
    }
    char expect[64];
    snprintf(expect, sizeof(expect), "application/vnd.restate.invocation.v%u", t->protocol_version);
    if (!ct) {
        attempt_fail(t, "the deployment's response has no content-type, expected '%s'", expect);
        return false;
    }
    if (ctlen != strlen(expect) || strncmp(ct, expect, ctlen) != 0) {
        attempt_fail(t, "unexpected content-type '%.*s' in the deployment's response, expected '%s'", (int)ctlen, ct,
                     expect);
        return false;
    }
    return true;
}

static void on_headers(void *ud, int status, const char *ct, size_t ctlen) {
    struct task *t = ud;
    touch(t);
    check_response_head(t, status, ct, ctlen);
}

/* Call/OneWayCall: resolve the target against the schema (the processor must not read the
 * schema: replays have to give the same result whatever the schema is by then). */
static bool resolve_call_target(struct task *t, const struct stet_command *c, struct stet_record *r) {
    struct stet_invoker *inv = t->inv;
    const struct stet_service_schema *svc = stet_schema_find_service(inv->ports.schema(inv->ports.ctx),
                                                                     (const char *)c->service_name.ptr, c->service_name.len);
    if (!svc) {
        attempt_fail(t, "the invocation target service '%.*s' was not found", (int)c->service_name.len,
                     (const char *)c->service_name.ptr);
        return false;
    }
    const struct stet_handler_schema *h =
        stet_schema_find_handler(svc, (const char *)c->handler_name.ptr, c->handler_name.len);
    if (!h) {
        attempt_fail(t, "the invocation target handler '%s/%.*s' was not found", svc->name, (int)c->handler_name.len,
                     (const char *)c->handler_name.ptr);
        return false;
    }
    if (svc->ty == STET_SERVICE && c->has_key && c->key.len > 0) {
        attempt_fail(t, "the invocation target service '%s' is not keyed, but the call names key '%.*s'", svc->name,
                     (int)c->key.len, (const char *)c->key.ptr);
        return false;
    }
    const struct stet_schema_defaults *d = inv->ports.schema_defaults(inv->ports.ctx);
    r->target_service_type = (uint8_t)svc->ty;
    r->target_handler_type = (uint8_t)h->ty;
    r->target_completion_retention_ms = stet_schema_completion_retention(svc, h, d);
    r->target_journal_retention_ms = stet_schema_journal_retention(svc, h, d);
    return true;
}

static bool validate_command(struct task *t, uint16_t type, const uint8_t *p, size_t len, struct stet_record *r) {
    struct stet_command c;
    int rc = stet_proto_decode_command(type, p, len, &c);
    if (rc != 0) {
        attempt_fail(t, "protocol violation: cannot decode %s command (type 0x%04x)", stet_msg_name(type), type);
        return false;
    }
    bool ok = true;
    switch (type) {
    case STET_CMD_CALL:
    case STET_CMD_ONE_WAY_CALL:
        ok = resolve_call_target(t, &c, r);
        if (ok && c.has_idempotency_key && c.idempotency_key.len == 0) {
            attempt_fail(t, "the idempotency key of a call must not be empty");
            ok = false;
        }
        break;
    case STET_CMD_SEND_SIGNAL: {
        struct stet_invocation_id target;
        if (stet_invocation_id_parse((const char *)c.target_invocation_id.ptr, c.target_invocation_id.len, &target,
                                     NULL) != 0) {
            attempt_fail(t, "cannot parse the target invocation id '%.*s' of a signal", (int)c.target_invocation_id.len,
                         (const char *)c.target_invocation_id.ptr);
            ok = false;
        }
        break;
    }
    case STET_CMD_COMPLETE_AWAKEABLE: {
        struct stet_invocation_id target;
        uint32_t idx;
        bool legacy;
        if (stet_awakeable_id_parse((const char *)c.awakeable_id.ptr, c.awakeable_id.len, &target, &idx, &legacy,
                                    NULL) != 0) {
            attempt_fail(t, "cannot parse the awakeable id '%.*s'", (int)c.awakeable_id.len,
                         (const char *)c.awakeable_id.ptr);
            ok = false;
        }
        break;
    }
    case STET_CMD_SET_STATE:
    case STET_CMD_CLEAR_STATE:
    case STET_CMD_CLEAR_ALL_STATE:
        if (!t->state_writes_allowed) {
            attempt_fail(t, "journal mismatch: state can be modified only by exclusive object handlers and workflow "
                            "run handlers");
            ok = false;
        }
        break;
    case STET_CMD_GET_LAZY_STATE:
    case STET_CMD_GET_LAZY_STATE_KEYS:
    case STET_CMD_GET_EAGER_STATE:
    case STET_CMD_GET_EAGER_STATE_KEYS:
        if (!t->keyed) {
            attempt_fail(t, "state can be read only by virtual object and workflow handlers");
            ok = false;
        }
        break;
    case STET_CMD_GET_PROMISE:
    case STET_CMD_PEEK_PROMISE:
    case STET_CMD_COMPLETE_PROMISE:
        if (t->service_type != STET_WORKFLOW) {
            attempt_fail(t, "durable promises can be used only by workflow handlers");
            ok = false;
        }
        break;
    default:
        break;
    }
    stet_command_free(&c);
    return ok;
}

static void handle_message(struct task *t, const struct stet_frame *f) {
    enum stet_msg_kind kind = stet_msg_kind(f->type);
    if (kind == STET_KIND_COMMAND) {
        if (t->terminal_received) return;
        if (f->type == STET_CMD_INPUT) {
            attempt_fail(t, "protocol violation: the SDK sent an Input command");
            return;
        }
        if (!stet_msg_type_known(f->type)) {
            attempt_fail(t, "protocol violation: unknown command type 0x%04x", f->type);
            return;
        }
        struct stet_record r;
        memset(&r, 0, sizeof(r));
        if (!validate_command(t, f->type, f->payload, f->len, &r)) return;
        t->retry_count_since_last_stored_entry = 0;
        t->last_entry_at_ms = now_ms(t->inv);
        r.kind = STET_REC_INVOKER_EFFECT;
        r.id = t->id;
        r.effect = STET_EFFECT_ENTRY;
        r.entry_type = f->type;
        r.payload = (struct stet_slice){f->payload, f->len};
        memcpy(r.deployment_id, t->deployment_id, 16);
        r.protocol_version = t->protocol_version;
        if (task_propose(t, &r) != 0) attempt_fail(t, "cannot store the journal entry: the log is unavailable");
        /* the SDK never sees its own commands again on this attempt */
        return;
    }
    if (kind == STET_KIND_CUSTOM) {
        if (propose_effect(t, STET_EFFECT_ENTRY, f->type, f->payload, f->len) != 0)
            attempt_fail(t, "cannot store the journal entry: the log is unavailable");
        return;
    }
    if (kind == STET_KIND_NOTIFICATION) {
        attempt_fail(t, "protocol violation: unexpected message %s from the SDK", stet_msg_name(f->type));
        return;
    }
    switch (f->type) {
    case STET_MSG_PROPOSE_RUN_COMPLETION: {
        struct stet_run_proposal prop;
        if (stet_proto_decode_run_proposal(f->payload, f->len, &prop) != 0) {
            attempt_fail(t, "protocol violation: malformed ProposeRunCompletion");
            return;
        }
        t->last_entry_at_ms = now_ms(t->inv);
        if (propose_effect(t, STET_EFFECT_RUN_PROPOSAL, 0, f->payload, f->len) != 0)
            attempt_fail(t, "cannot store the run result: the log is unavailable");
        return;
    }
    case STET_MSG_AWAITING_ON:
        return;
    case STET_MSG_END:
        t->terminal_received = true;
        propose_final(t, STET_EFFECT_END, NULL, 0);
        t->inv->stats.invocations_completed++;
        stream_end_request(t);
        return;
    case STET_MSG_SUSPENSION: {
        struct stet_suspension s;
        if (stet_proto_decode_suspension(f->payload, f->len, &s) != 0) {
            attempt_fail(t, "protocol violation: suspension without anything to wait for");
            return;
        }
        stet_proto_suspension_free(&s);
        t->terminal_received = true;
        t->inv->stats.suspensions++;
        propose_final(t, STET_EFFECT_SUSPENDED, f->payload, f->len);
        stream_end_request(t);
        return;
    }
    case STET_MSG_ERROR: {
        struct stet_error_msg e;
        if (stet_proto_decode_error(f->payload, f->len, &e) != 0) {
            attempt_fail(t, "protocol violation: malformed ErrorMessage");
            return;
        }
        char rel[200] = "";
        if (e.has_related_command_index || e.related_command_name.len)
            snprintf(rel, sizeof(rel), " (related command %u%s%.*s)", e.related_command_index,
                     e.related_command_name.len ? " " : "", (int)e.related_command_name.len,
                     (const char *)e.related_command_name.ptr);
        snprintf(t->last_failure, sizeof(t->last_failure), "[%u] %.*s%s", e.code, (int)e.message.len,
                 (const char *)e.message.ptr, rel);
        t->last_error_code = e.code;
        snprintf(t->last_error_message, sizeof(t->last_error_message), "%.*s", (int)e.message.len,
                 (const char *)e.message.ptr);
        stet_buf_reset(&t->last_stacktrace);
        stet_buf_append(&t->last_stacktrace, e.stacktrace.ptr, e.stacktrace.len);
        if (e.has_next_retry_delay) {
            t->override_delay = true;
            t->next_delay_ms = e.next_retry_delay_ms;
        }
        t->terminal_received = true;
        t->attempt_failed = true;
        stream_end_request(t);
        return;
    }
    default:
        attempt_fail(t, "protocol violation: unexpected message %s (0x%04x) from the SDK", stet_msg_name(f->type),
                     f->type);
        return;
    }
}

static void on_data(void *ud, const uint8_t *data, size_t len) {
    struct task *t = ud;
    touch(t);
    feed_body(t, data, len);
}

/* Decodes and handles every complete message in data. */
static void feed_body(struct task *t, const uint8_t *data, size_t len) {
    stet_frame_decoder_feed(&t->dec, data, len);
    for (;;) {
        struct stet_frame f;
        int rc = stet_frame_decoder_next(&t->dec, &f);
        if (rc == 0) break;
        if (rc < 0) {
            attempt_fail(t, rc == -EMSGSIZE ? "protocol violation: message larger than the 32 MiB limit"
                                            : "protocol violation: malformed message header");
            return;
        }
        handle_message(t, &f);
        /* handle_message may have failed the attempt (the task memory stays valid until the
         * loop runs its close callback) */
        if (t->phase != PHASE_RUNNING || !t->stream || t->attempt_failed) return;
    }
}

/* The deployment ended its response. Normal after End/Suspension/Error (we half-closed
 * already); otherwise the attempt is broken: fail it now instead of waiting for a timeout. */
static void on_response_end(void *ud) {
    struct task *t = ud;
    if (t->terminal_received || t->phase != PHASE_RUNNING) return;
    size_t pending = stet_frame_decoder_pending(&t->dec);
    if (pending)
        attempt_fail(t, "protocol violation: the deployment ended its response in the middle of a message (%zu bytes "
                        "of an incomplete message)", pending);
    else
        attempt_fail(t, "the deployment ended its response without End, Suspension or Error message");
}

static void on_close(void *ud, int error, const char *message) {
    struct task *t = ud;
    t->stream = NULL;
    timer_stop(t);
    if (t->inv->destroying) return;
    if (!t->terminal_received) {
        snprintf(t->last_failure, sizeof(t->last_failure), "%s",
                 error ? (message ? message : "stream error")
                       : "the deployment closed the stream without End, Suspension or Error message");
        t->last_error_code = 0;
        t->attempt_failed = true;
    } else if (error && !t->attempt_failed) {
        /* terminal message already received and proposed: a late reset does not matter */
    }
    t->phase = PHASE_CLOSING;
    attempt_finished(t);
}

/* ---- API ----------------------------------------------------------------------------- */

int stet_invoker_create(const struct stet_invoker_ports *ports, struct stet_invoker **out) {
    STET_ASSERT(ports->num_partitions > 0);
    struct stet_invoker *inv = calloc(1, sizeof(*inv));
    if (!inv) return -ENOMEM;
    inv->ports = *ports;
    inv->max_running = ports->concurrent_invocations_limit ? ports->concurrent_invocations_limit : DEFAULT_RUNNING_ATTEMPTS;
    inv->max_tasks = ports->max_tasks ? ports->max_tasks : DEFAULT_MAX_TASKS;
    if (inv->max_tasks < inv->max_running) inv->max_tasks = inv->max_running;
    inv->scan_min_room = inv->max_tasks / 4 < SCAN_MIN_ROOM ? inv->max_tasks / 4 : SCAN_MIN_ROOM;
    if (inv->scan_min_room == 0) inv->scan_min_room = 1;
    inv->overflow = calloc(ports->num_partitions, sizeof(*inv->overflow));
    if (!inv->overflow) {
        free(inv);
        return -ENOMEM;
    }
    stet_hmap_init(&inv->tasks);
    stet_hmap_init(&inv->finishing_set);
    *out = inv;
    return 0;
}

void stet_invoker_destroy(struct stet_invoker *inv) {
    if (!inv) return;
    inv->destroying = true;
    for (size_t i = 0; i < inv->tasks.cap; i++) {
        if (inv->tasks.slots[i].state != 1) continue;
        struct task *t = inv->tasks.slots[i].value;
        close_transport(t);
        inv->ports.applied.cancel(inv->ports.applied.ctx, &t->waiter);
        stet_env_timer_destroy(inv->ports.env, t->timer);
        t->grave_next = inv->graveyard;
        inv->graveyard = t;
    }
    graveyard_empty(inv);
    stet_hmap_free(&inv->tasks);
    stet_hmap_free(&inv->finishing_set);
    stet_buf_free(&inv->waitlist);
    free(inv->overflow);
    free(inv);
}

void stet_invoker_stats(const struct stet_invoker *inv, struct stet_invoker_stats *out) {
    *out = inv->stats;
    uint64_t waiting = 0;
    for (size_t i = 0; i < inv->tasks.cap; i++) {
        if (inv->tasks.slots[i].state != 1) continue;
        const struct task *t = inv->tasks.slots[i].value;
        if (t->waiting_slot) waiting++;
    }
    out->waiting = waiting;
}

void stet_invoker_check(const struct stet_invoker *inv) {
    uint32_t tasks = 0, slots = 0, waiting = 0;
    for (size_t i = 0; i < inv->tasks.cap; i++) {
        if (inv->tasks.slots[i].state != 1) continue;
        const struct task *t = inv->tasks.slots[i].value;
        tasks++;
        if (t->has_slot) slots++;
        if (t->waiting_slot) {
            waiting++;
            STET_ASSERT(!t->has_slot && t->phase == PHASE_IDLE);
        }
        if (t->phase == PHASE_RUNNING) STET_ASSERT(t->has_slot);
        STET_ASSERT(memcmp(t->id_bytes, inv->tasks.slots[i].key, 24) == 0);
    }
    STET_ASSERT(tasks == inv->n_tasks && tasks == inv->stats.open_tasks);
    STET_ASSERT(tasks <= inv->max_tasks);
    STET_ASSERT(slots == inv->slots_used && slots <= inv->max_running);
    /* every waiting task has an entry in the waitlist */
    STET_ASSERT((inv->waitlist.len - inv->waitlist_head) / 24 >= waiting);
    uint32_t overflowed = 0;
    for (uint32_t i = 0; i < inv->ports.num_partitions; i++) {
        const struct overflow *o = &inv->overflow[i];
        if (o->active) overflowed++;
        else STET_ASSERT(!o->rescan);
    }
    STET_ASSERT(overflowed == inv->overflowed);
    for (size_t i = 0; i < inv->finishing_set.cap; i++)
        if (inv->finishing_set.slots[i].state == 1) STET_ASSERT(inv->finishing_set.slots[i].value != NULL);
}

void stet_invoker_each_task(const struct stet_invoker *inv,
                            void (*cb)(void *arg, const struct stet_invocation_id *id,
                                       const struct stet_invoker_task_info *ti),
                            void *arg) {
    for (size_t i = 0; i < inv->tasks.cap; i++) {
        if (inv->tasks.slots[i].state != 1) continue;
        const struct task *t = inv->tasks.slots[i].value;
        struct stet_invoker_task_info ti;
        if (stet_invoker_task_info(inv, &t->id, &ti)) cb(arg, &t->id, &ti);
    }
}

bool stet_invoker_task_info(const struct stet_invoker *inv, const struct stet_invocation_id *id,
                            struct stet_invoker_task_info *out) {
    uint8_t b[24];
    stet_invocation_id_to_bytes(id, b);
    struct task *t = stet_hmap_get(&inv->tasks, b, 24);
    if (!t) return false;
    out->running = t->phase == PHASE_RUNNING;
    out->retry_count = t->failed_attempts;
    out->next_retry_at_ms = t->phase == PHASE_BACKOFF ? t->next_retry_at_ms : 0;
    out->last_start_at_ms = t->last_start_at_ms;
    snprintf(out->last_failure, sizeof(out->last_failure), "%s", t->last_failure);
    return true;
}
