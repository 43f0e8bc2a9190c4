/* Tests for the worker layer's leader services (src/worker: retried proposals, timer service,
 * shuffle) and for the invoker's proposals and bounded memory, on a small in-process node: a
 * partition processor per partition over the in-memory store, a fake log that commits every
 * millisecond and can refuse appends (-ENOBUFS) in bursts, and the modules wired through their
 * ports as src/node/node.c wires them.
 *
 * Every scenario runs twice where it makes sense: with the proposals going through
 * src/worker/proposals (the fix) the work survives the refused appends; with plain appends
 * (what the node did before) the same burst loses it. The second run shows the test can fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "common/buf.h"
#include "h2client/h2client.h"
#include "invoker/invoker.h"
#include "node/env_prod.h"
#include "partition/partition.h"
#include "schema/schema.h"
#include "sim_env.h"
#include "worker/proposals.h"
#include "worker/shuffle.h"
#include "worker/timers.h"
#include "worker/worker.h"

#define NP 4

/* ---- the harness: a worker over the mem store and a fake log ------------------------- */

struct appended {
    uint32_t pid;
    uint64_t lsn;
    stet_log_append_cb cb;
    void *arg;
};

struct fake_part_log {
    struct stet_buf *recs; /* recs[lsn - 1] */
    uint64_t assigned, durable;
};

struct harness {
    const struct stet_env *env;
    struct stet_store *store;
    struct fake_part_log logs[NP];
    struct appended *pending; /* appended, not yet committed, in append order */
    size_t n_pending, cap_pending;
    struct stet_env_timer *commit_timer;
    bool commit_armed;
    int refuse;       /* the next appends fail with -ENOBUFS */
    uint64_t refused;
    bool retry;       /* the invoker's proposals are retried (the fix) or plain appends */
    struct stet_worker *worker;
    struct stet_invoker *invoker;
    size_t invokes;   /* INVOKE actions */
    size_t lost[NP];  /* leadership lost notifications */
    /* a fake invoker (when invoker is NULL and fake_sdk is set): INVOKE -> Output + End */
    bool fake_sdk;
    /* every third append is preceded by an LSN that holds no record (read answers 2), as a raft
     * log's own entries (src/log/raftlog.h) */
    bool gaps;
};

static void commit_cb(void *arg) {
    struct harness *h = arg;
    h->commit_armed = false;
    struct appended *batch = h->pending;
    size_t n = h->n_pending;
    h->pending = NULL;
    h->n_pending = h->cap_pending = 0;
    /* durable tails first, then the worker reads, then the append callbacks (the log's order) */
    bool touched[NP] = {false};
    for (size_t i = 0; i < n; i++) {
        struct fake_part_log *l = &h->logs[batch[i].pid];
        /* the next record (h->gaps: possibly after one LSN without a record) */
        assert_true(batch[i].lsn > l->durable && batch[i].lsn - l->durable <= (h->gaps ? 2u : 1u));
        l->durable = batch[i].lsn;
        touched[batch[i].pid] = true;
    }
    for (uint32_t p = 0; p < NP; p++)
        if (touched[p]) assert_int_equal(stet_worker_log_durable(h->worker, p), 0);
    stet_worker_check(h->worker);
    for (size_t i = 0; i < n; i++)
        if (batch[i].cb) batch[i].cb(batch[i].arg, 0, batch[i].lsn);
    free(batch);
}

static int fake_append(void *ctx, uint32_t pid, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                       uint64_t *lsn_out) {
    struct harness *h = ctx;
    assert_true(pid < NP);
    if (h->refuse > 0) {
        h->refuse--;
        h->refused++;
        return -ENOBUFS;
    }
    struct fake_part_log *l = &h->logs[pid];
    if (h->gaps && l->assigned % 3 == 1) { /* an empty entry marks an LSN without a record */
        l->recs = realloc(l->recs, (l->assigned + 1) * sizeof(*l->recs));
        l->recs[l->assigned++] = (struct stet_buf)STET_BUF_INIT;
    }
    l->recs = realloc(l->recs, (l->assigned + 1) * sizeof(*l->recs));
    l->recs[l->assigned] = (struct stet_buf)STET_BUF_INIT;
    stet_buf_append(&l->recs[l->assigned], rec, len);
    l->assigned++;
    if (h->n_pending == h->cap_pending) {
        h->cap_pending = h->cap_pending ? h->cap_pending * 2 : 64;
        h->pending = realloc(h->pending, h->cap_pending * sizeof(*h->pending));
    }
    h->pending[h->n_pending++] = (struct appended){.pid = pid, .lsn = l->assigned, .cb = cb, .arg = arg};
    if (lsn_out) *lsn_out = l->assigned;
    if (!h->commit_armed) {
        h->commit_armed = true;
        stet_env_timer_start(h->env, h->commit_timer, 1);
    }
    return 0;
}

static int fake_read(void *ctx, uint32_t pid, uint64_t lsn, struct stet_buf *out) {
    struct harness *h = ctx;
    struct fake_part_log *l = &h->logs[pid];
    if (lsn == 0 || lsn > l->durable) return 1;
    if (l->recs[lsn - 1].len == 0) return 2;
    stet_buf_reset(out);
    stet_buf_append(out, l->recs[lsn - 1].data, l->recs[lsn - 1].len);
    return 0;
}

static uint64_t fake_tail(void *ctx, uint32_t pid) { return ((struct harness *)ctx)->logs[pid].durable; }

/* what the test itself proposes (ingress-like: a plain append) */
static int h_propose(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct harness *h = ctx;
    return stet_worker_propose(h->worker, r, cb, arg, lsn_out);
}

/* the invoker's port: retried (the fix) or a plain append (as before) */
static int h_invoker_propose(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct harness *h = ctx;
    return h->retry ? stet_worker_propose_retried(h->worker, r, cb, arg, lsn_out)
                    : stet_worker_propose(h->worker, r, cb, arg, lsn_out);
}

static bool h_settled(void *ctx, uint32_t pid, uint64_t *last) {
    return stet_worker_settled(((struct harness *)ctx)->worker, pid, last);
}

static uint64_t h_applied(void *ctx, uint32_t pid) { return stet_worker_applied_lsn(((struct harness *)ctx)->worker, pid); }

static void fake_sdk_invoke(struct harness *h, const struct stet_invocation_id *id);

static void h_invoker_action(void *ctx, const struct stet_action *a) {
    struct harness *h = ctx;
    if (a->kind == STET_ACTION_INVOKE) h->invokes++;
    if (h->invoker) {
        switch (a->kind) {
        case STET_ACTION_INVOKE: stet_invoker_invoke(h->invoker, &a->id); break;
        case STET_ACTION_NOTIFY: stet_invoker_notify(h->invoker, &a->id, a->entry_index); break;
        case STET_ACTION_ABORT: stet_invoker_abort(h->invoker, &a->id); break;
        case STET_ACTION_PAUSE: stet_invoker_pause(h->invoker, &a->id); break;
        default: break;
        }
    } else if (h->fake_sdk && a->kind == STET_ACTION_INVOKE) {
        fake_sdk_invoke(h, &a->id);
    }
}

static void h_respond(void *ctx, const struct stet_action *a) {
    (void)ctx;
    (void)a;
}

static void h_leadership(void *ctx, uint32_t pid, bool leader) {
    struct harness *h = ctx;
    if (!leader) {
        h->lost[pid]++;
        if (h->invoker) stet_invoker_partition_lost(h->invoker, pid);
    }
}

static void harness_open(struct harness *h, const struct stet_env *env, bool retry) {
    memset(h, 0, sizeof(*h));
    h->env = env;
    h->retry = retry;
    h->store = stet_store_create_mem();
    h->commit_timer = stet_env_timer_create(env, commit_cb, h);
    struct stet_worker_ports wp = {.ctx = h, .env = env, .store = h->store, .num_partitions = NP,
                                   .append = fake_append, .read = fake_read, .durable_tail = fake_tail,
                                   .invoker_action = h_invoker_action, .respond = h_respond,
                                   .leadership = h_leadership};
    char err[256];
    assert_int_equal(stet_worker_create(&wp, &h->worker, err, sizeof(err)), 0);
    for (uint32_t i = 0; i < NP; i++) assert_int_equal(stet_worker_become_leader(h->worker, i), 0);
}

static void harness_close(struct harness *h) {
    h->refuse = 0;
    stet_worker_stop(h->worker); /* what waits for a retry is dropped (-ESHUTDOWN) */
    while (h->n_pending) commit_cb(h); /* what was appended becomes durable */
    stet_worker_check(h->worker);
    stet_worker_destroy(h->worker);
    free(h->pending);
    stet_env_timer_destroy(h->env, h->commit_timer);
    for (uint32_t p = 0; p < NP; p++) {
        for (uint64_t i = 0; i < h->logs[p].assigned; i++) stet_buf_free(&h->logs[p].recs[i]);
        free(h->logs[p].recs);
    }
    stet_store_destroy(h->store);
}

static struct stet_slice S(const char *s) { return (struct stet_slice){(const uint8_t *)s, strlen(s)}; }

static struct stet_invocation_id make_id(uint64_t pk, uint8_t tag) {
    struct stet_invocation_id id;
    memset(&id, 0, sizeof(id));
    id.partition_key = pk;
    memset(id.uuid, tag, 16);
    return id;
}

static void propose_invoke(struct harness *h, struct stet_invocation_id id, const char *svc, uint64_t execute_at) {
    struct stet_buf in = STET_BUF_INIT;
    stet_proto_encode_input(&in, NULL, 0, (const uint8_t *)"\"x\"", 3);
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKE;
    r.id = id;
    r.service = S(svc);
    r.handler = S("h");
    r.service_type = STET_SERVICE;
    r.handler_type = STET_HANDLER_UNSET;
    r.input_entry = (struct stet_slice){in.data, in.len};
    r.completion_retention_ms = 86400000;
    r.execute_at_ms = execute_at;
    assert_int_equal(h_propose(h, &r, NULL, NULL, NULL), 0);
    stet_buf_free(&in);
}

static int status_of(struct harness *h, const struct stet_invocation_id *id) {
    struct stet_inv_status st;
    stet_inv_status_init(&st);
    int rc = stet_table_status_get(h->store, id, &st);
    int state = rc == 0 ? (int)st.state : -1;
    stet_inv_status_free(&st);
    return state;
}

/* ---- proposals alone ----------------------------------------------------------------- */

struct cb_log {
    int status[16];
    uint64_t lsn[16];
    size_t n;
};

static void record_cb(void *arg, int status, uint64_t lsn) {
    struct cb_log *l = arg;
    l->status[l->n] = status;
    l->lsn[l->n] = lsn;
    l->n++;
}

/* A log that only counts: appends get the next LSN of their partition, or -ENOBUFS. */
struct counting_log {
    int refuse;
    uint64_t lsn[NP];
    struct appended done[64];
    size_t n_done;
};

static int counting_append(void *ctx, uint32_t pid, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                           uint64_t *lsn_out) {
    (void)rec;
    (void)len;
    struct counting_log *c = ctx;
    if (c->refuse > 0) {
        c->refuse--;
        return -ENOBUFS;
    }
    *lsn_out = ++c->lsn[pid];
    assert_true(c->n_done < 64);
    c->done[c->n_done++] = (struct appended){.pid = pid, .lsn = *lsn_out, .cb = cb, .arg = arg};
    return 0;
}

static void counting_commit(struct counting_log *c) {
    for (size_t i = 0; i < c->n_done; i++)
        if (c->done[i].cb) c->done[i].cb(c->done[i].arg, 0, c->done[i].lsn);
    c->n_done = 0;
}

static void test_proposals_retry_in_order(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 1);
    struct counting_log c = {0};
    struct stet_proposals *prop;
    struct stet_proposals_port pp = {.ctx = &c, .append = counting_append};
    assert_int_equal(stet_proposals_create(&sim.env, &pp, &prop), 0);
    struct cb_log l = {0};
    uint64_t lsn = 99, last = 0;
    /* appended at once */
    assert_int_equal(stet_proposals_submit(prop, 0, (const uint8_t *)"a", 1, record_cb, &l, &lsn), 0);
    assert_int_equal(lsn, 1);
    /* refused: queued, and what follows queues behind it even though the log would take it */
    c.refuse = 1;
    assert_int_equal(stet_proposals_submit(prop, 0, (const uint8_t *)"b", 1, record_cb, &l, &lsn), 0);
    assert_int_equal(lsn, 0);
    assert_false(stet_proposals_settled(prop, 0, &last));
    assert_int_equal(stet_proposals_submit(prop, 0, (const uint8_t *)"c", 1, record_cb, &l, &lsn), 0);
    assert_int_equal(lsn, 0);
    stet_proposals_check(prop);
    /* other partitions are not held up */
    assert_int_equal(stet_proposals_submit(prop, 1, (const uint8_t *)"d", 1, NULL, NULL, &lsn), 0);
    assert_int_equal(lsn, 1);
    c.refuse = 2; /* two more refusals inside the retry rounds */
    sim_env_run_for(&sim, 100);
    counting_commit(&c);
    stet_proposals_check(prop);
    assert_true(stet_proposals_settled(prop, 0, &last));
    assert_int_equal(last, 3);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(l.status[i], 0);
        assert_int_equal(l.lsn[i], i + 1); /* a, b, c in submission order */
    }
    struct stet_proposals_stats st;
    stet_proposals_stats(prop, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.retried, 1);
    /* a step-down drops what waits, with -ECANCELED */
    c.refuse = 1000;
    assert_int_equal(stet_proposals_submit(prop, 2, (const uint8_t *)"e", 1, record_cb, &l, &lsn), 0);
    sim_env_run_for(&sim, 20);
    stet_proposals_cancel_partition(prop, 2);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.status[3], -ECANCELED);
    stet_proposals_check(prop);
    /* shutdown drops the rest with -ESHUTDOWN */
    assert_int_equal(stet_proposals_submit(prop, 3, (const uint8_t *)"f", 1, record_cb, &l, &lsn), 0);
    stet_proposals_destroy(prop);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.status[4], -ESHUTDOWN);
    sim_env_free(&sim);
}

/* ---- timers -------------------------------------------------------------------------- */

static void run_env(struct harness *h, uint64_t ms) {
    (void)h;
    sim_env_run_for((struct sim_env *)(uintptr_t)h->env->ctx, ms);
}

/* Delayed invocations' start timers fire during a burst of refused appends. */
static void test_timers_survive_refused_appends(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 2);
    struct harness h;
    harness_open(&h, &sim.env, true);
    run_env(&h, 5); /* the leader announcements are applied */
    for (uint32_t i = 0; i < NP; i++) assert_true(stet_worker_is_leader(h.worker, i));
    struct stet_invocation_id ids[NP];
    for (uint32_t i = 0; i < NP; i++) {
        uint64_t start, end;
        stet_partition_key_range(i, NP, &start, &end);
        ids[i] = make_id(start + 5, (uint8_t)(i + 1));
        propose_invoke(&h, ids[i], "Svc", sim.now_ms + 50);
    }
    run_env(&h, 10);
    for (uint32_t i = 0; i < NP; i++) assert_int_equal(status_of(&h, &ids[i]), STET_INV_SCHEDULED);
    h.refuse = 6; /* the timers fire into a full log */
    run_env(&h, 3000);
    assert_true(h.refused >= 1);
    for (uint32_t i = 0; i < NP; i++) assert_int_equal(status_of(&h, &ids[i]), STET_INV_INVOKED);
    assert_int_equal(h.invokes, NP);
    harness_close(&h);
    sim_env_free(&sim);
}

/* ---- shuffle ------------------------------------------------------------------------- */

/* An invocation calls another; the outbox message meets a burst of refused appends. */
static void test_outbox_survives_refused_appends(void **state) {
    (void)state;
    struct sim_env sim;
    sim_env_init(&sim, 3);
    struct harness h;
    harness_open(&h, &sim.env, true);
    run_env(&h, 5);
    struct stet_invocation_id caller = make_id(7, 1);
    propose_invoke(&h, caller, "Caller", 0);
    run_env(&h, 5);
    assert_int_equal(status_of(&h, &caller), STET_INV_INVOKED);
    /* CallCommand{service Greeter, handler greet, parameter, id-notification 1, result 2} */
    struct stet_buf pl = STET_BUF_INIT;
    stet_pb_put_bytes_field(&pl, 1, "Greeter", 7);
    stet_pb_put_bytes_field(&pl, 2, "greet", 5);
    stet_pb_put_bytes_field(&pl, 3, "\"bob\"", 5);
    stet_pb_put_uint_field(&pl, 10, 1);
    stet_pb_put_uint_field(&pl, 11, 2);
    struct stet_record e;
    memset(&e, 0, sizeof(e));
    e.kind = STET_REC_INVOKER_EFFECT;
    e.id = caller;
    e.effect = STET_EFFECT_ENTRY;
    e.entry_type = STET_CMD_CALL;
    e.payload = (struct stet_slice){pl.data, pl.len};
    e.target_service_type = STET_SERVICE;
    e.target_handler_type = STET_HANDLER_UNSET;
    e.target_completion_retention_ms = 1000;
    assert_int_equal(h_propose(&h, &e, NULL, NULL, NULL), 0);
    h.refuse = 5; /* the delivery and then the truncation meet a full log */
    size_t before = h.invokes;
    run_env(&h, 3000);
    uint32_t src = stet_partition_for_key(caller.partition_key, NP);
    struct stet_buf v = STET_BUF_INIT;
    int rc = stet_partition_outbox_get(h.store, src, 1, &v);
    struct stet_worker_stats ws;
    stet_worker_stats(h.worker, &ws);
    assert_true(h.refused >= 1);
    assert_int_equal(h.invokes, before + 1); /* the callee started once */
    assert_int_equal(rc, 1);                 /* and the outbox is empty again */
    assert_int_equal(ws.shuffle_delivered, 1);
    assert_int_equal(ws.shuffle_lost, 0);
    stet_buf_free(&v);
    stet_buf_free(&pl);
    harness_close(&h);
    sim_env_free(&sim);
}

/* ---- leadership ---------------------------------------------------------------------- */

/* A fake SDK behind the worker's invoker port: every INVOKE completes (Output "ok" + End)
 * 20 ms later, proposed with the epoch the partition had when it was invoked. A zombie keeps
 * doing that after its partition was stepped down (a deposed leader's late appends): those
 * records go straight to the log with the old epoch. */
struct fake_call {
    struct stet_invocation_id id;
    uint64_t due_ms;
    uint64_t epoch;
    bool zombie;
};
static struct fake_call fake_calls[512];
static size_t n_fake_calls;

static void fake_sdk_invoke(struct harness *h, const struct stet_invocation_id *id) {
    assert_true(n_fake_calls < 512);
    uint32_t pid = stet_partition_for_key(id->partition_key, NP);
    fake_calls[n_fake_calls++] = (struct fake_call){*id, stet_env_now_ms(h->env) + 20, stet_worker_epoch(h->worker, pid),
                                                    false};
}

static void fake_sdk_complete(struct harness *h, struct fake_call *c) {
    struct stet_buf out = STET_BUF_INIT, enc = STET_BUF_INIT;
    struct stet_result res = {.kind = STET_RESULT_VALUE, .value = S("\"ok\"")};
    stet_proto_encode_output(&out, &res);
    struct stet_record r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_REC_INVOKER_EFFECT;
    r.id = c->id;
    r.effect = STET_EFFECT_ENTRY;
    r.entry_type = STET_CMD_OUTPUT;
    r.payload = (struct stet_slice){out.data, out.len};
    struct stet_record end;
    memset(&end, 0, sizeof(end));
    end.kind = STET_REC_INVOKER_EFFECT;
    end.id = c->id;
    end.effect = STET_EFFECT_END;
    uint32_t pid = stet_partition_for_key(c->id.partition_key, NP);
    if (!c->zombie) {
        assert_int_equal(stet_worker_propose_retried(h->worker, &r, NULL, NULL, NULL), 0);
        assert_int_equal(stet_worker_propose_retried(h->worker, &end, NULL, NULL, NULL), 0);
    } else {
        uint64_t lsn;
        r.timestamp_ms = end.timestamp_ms = stet_env_now_ms(h->env);
        r.epoch = end.epoch = c->epoch;
        stet_record_encode(&enc, &r);
        assert_int_equal(fake_append(h, pid, enc.data, enc.len, NULL, NULL, &lsn), 0);
        stet_buf_reset(&enc);
        stet_record_encode(&enc, &end);
        assert_int_equal(fake_append(h, pid, enc.data, enc.len, NULL, NULL, &lsn), 0);
    }
    stet_buf_free(&out);
    stet_buf_free(&enc);
}

static void fake_sdk_run(struct harness *h, uint64_t ms) {
    struct sim_env *sim = (struct sim_env *)(uintptr_t)h->env->ctx;
    for (uint64_t t = 0; t < ms; t++) {
        sim_env_run_for(sim, 1);
        for (size_t i = 0; i < n_fake_calls; i++) {
            struct fake_call *c = &fake_calls[i];
            if (c->due_ms == 0 || c->due_ms > sim->now_ms) continue;
            c->due_ms = 0;
            fake_sdk_complete(h, c);
        }
    }
}

/* A partition stepped down and up again continues every invocation exactly once: the new
 * leader re-invokes what was running, and the old leader's late appends are dropped. */
static void step_down_and_up(bool gaps) {
    struct sim_env sim;
    sim_env_init(&sim, 4);
    struct harness h;
    harness_open(&h, &sim.env, true);
    h.fake_sdk = true;
    h.gaps = gaps;
    n_fake_calls = 0;
    fake_sdk_run(&h, 5);
    enum { N = 40 };
    struct stet_invocation_id ids[N];
    for (int i = 0; i < N; i++) {
        ids[i] = make_id((uint64_t)i * (UINT64_MAX / N) + 3, (uint8_t)(i + 1));
        propose_invoke(&h, ids[i], "Svc", 0);
    }
    fake_sdk_run(&h, 5); /* invoked; their completions are due in 20 ms */
    assert_int_equal(h.invokes, N);
    uint32_t victim = 1;
    uint64_t old_epoch = stet_worker_epoch(h.worker, victim);
    stet_worker_step_down(h.worker, victim);
    assert_false(stet_worker_is_leader(h.worker, victim));
    assert_int_equal(h.lost[victim], 1);
    /* the deposed leader's attempts keep running (a zombie) */
    size_t zombies = 0;
    for (size_t i = 0; i < n_fake_calls; i++)
        if (stet_partition_for_key(fake_calls[i].id.partition_key, NP) == victim) {
            fake_calls[i].zombie = true;
            zombies++;
        }
    assert_true(zombies > 0);
    /* a proposal to a partition not led here is refused */
    struct stet_invocation_id late = ids[victim * (N / NP)];
    struct stet_record kill;
    memset(&kill, 0, sizeof(kill));
    kill.kind = STET_REC_KILL;
    kill.id = late;
    assert_int_equal(stet_worker_propose(h.worker, &kill, NULL, NULL, NULL), -EAGAIN);
    fake_sdk_run(&h, 3);
    /* up, down and up again before the first announcement is even durable: only the last
     * announcement counts (the first one's callbacks must not make it lead) */
    assert_int_equal(stet_worker_become_leader(h.worker, victim), 0);
    stet_worker_step_down(h.worker, victim);
    assert_int_equal(stet_worker_become_leader(h.worker, victim), 0);
    fake_sdk_run(&h, 5);
    assert_true(stet_worker_is_leader(h.worker, victim));
    assert_int_equal(stet_worker_epoch(h.worker, victim), old_epoch + 2);
    fake_sdk_run(&h, 100);
    for (int i = 0; i < N; i++) {
        struct stet_inv_status st;
        stet_inv_status_init(&st);
        assert_int_equal(stet_table_status_get(h.store, &ids[i], &st), 0);
        assert_int_equal(st.state, STET_INV_COMPLETED);
        assert_int_equal(st.journal_len, 2); /* input + exactly one output */
        stet_inv_status_free(&st);
    }
    struct stet_worker_stats ws;
    stet_worker_stats(h.worker, &ws);
    assert_int_equal(ws.records_dropped_stale, 2 * zombies); /* every zombie Output and End */
    assert_int_equal(h.invokes, N + zombies);                /* re-invoked once by the new leader */
    /* a given epoch (a raft term): it must be above every epoch seen; the partition leads with it */
    stet_worker_step_down(h.worker, victim);
    assert_int_equal(stet_worker_become_leader_at(h.worker, victim, old_epoch + 2), -ESTALE);
    assert_false(stet_worker_is_leader(h.worker, victim));
    assert_int_equal(stet_worker_become_leader_at(h.worker, victim, old_epoch + 10), 0);
    fake_sdk_run(&h, 5);
    assert_true(stet_worker_is_leader(h.worker, victim));
    assert_int_equal(stet_worker_epoch(h.worker, victim), old_epoch + 10);
    if (gaps) { /* the reader skipped LSNs without a record and applied every record after them */
        uint64_t holes = 0;
        for (uint32_t p = 0; p < NP; p++)
            for (uint64_t i = 0; i < h.logs[p].durable; i++) holes += h.logs[p].recs[i].len == 0;
        assert_true(holes > 0);
        /* an LSN without a record counts as read: waiters (read barriers) past the last record
         * fire without waiting for another record */
        for (uint32_t p = 0; p < NP; p++) assert_int_equal(stet_worker_applied_lsn(h.worker, p), h.logs[p].durable);
    }
    harness_close(&h);
    sim_env_free(&sim);
}

static void test_step_down_and_up_continues_exactly_once(void **state) {
    (void)state;
    step_down_and_up(false);
}

/* The same over a log whose LSNs are not dense (a raft log: its own entries hold no record). */
static void test_step_down_and_up_over_a_log_with_gaps(void **state) {
    (void)state;
    step_down_and_up(true);
}

/* ---- invoker ------------------------------------------------------------------------- */

/* Services whose only deployment refuses connections: every attempt fails at once. K is
 * killed after 2 attempts, P paused after 2, One killed after its first. */
static const char *DEAD_SCHEMA =
    "{\"format\":1,\"version\":1,\"deployments\":[{\"id\":\"dp_11KtnKBN2zjPWodnT5O7Ibv\",\"uri\":\"http://"
    "127.0.0.1:1/\",\"use_http_11\":false,\"request_response\":false,\"min_protocol\":5,\"max_protocol\":6,"
    "\"sdk_version\":\"test\",\"created_at_ms\":1,\"headers\":{},\"metadata\":{},\"services\":["
    "{\"name\":\"K\",\"ty\":\"SERVICE\",\"revision\":1,\"public\":true,\"enable_lazy_state\":false,\"retry\":{\"initial_interval_ms\":1,"
    "\"factor\":1.0,\"max_attempts\":2,\"on_max_attempts\":\"KILL\"},\"metadata\":{},\"handlers\":[{\"name\":\"h\","
    "\"ty\":\"UNSET\",\"public\":null,\"input_required\":false,\"output_set_content_type_if_empty\":false,\"enable_lazy_state\":null,\"retry\":{},\"metadata\":{}}]},"
    "{\"name\":\"P\",\"ty\":\"SERVICE\",\"revision\":1,\"public\":true,\"enable_lazy_state\":false,\"retry\":{\"initial_interval_ms\":1,"
    "\"factor\":1.0,\"max_attempts\":2,\"on_max_attempts\":\"PAUSE\"},\"metadata\":{},\"handlers\":[{\"name\":\"h\","
    "\"ty\":\"UNSET\",\"public\":null,\"input_required\":false,\"output_set_content_type_if_empty\":false,\"enable_lazy_state\":null,\"retry\":{},\"metadata\":{}}]},"
    "{\"name\":\"One\",\"ty\":\"SERVICE\",\"revision\":1,\"public\":true,\"enable_lazy_state\":false,\"retry\":{\"initial_interval_ms\":1,"
    "\"factor\":1.0,\"max_attempts\":1,\"on_max_attempts\":\"KILL\"},\"metadata\":{},\"handlers\":[{\"name\":\"h\","
    "\"ty\":\"UNSET\",\"public\":null,\"input_required\":false,\"output_set_content_type_if_empty\":false,\"enable_lazy_state\":null,\"retry\":{},\"metadata\":{}}]}]}]}";

struct inv_fixture {
    uv_loop_t loop;
    struct stet_env_prod prod; /* the production env on the fixture's loop */
    struct harness h;
    struct stet_h2_pool *pool;
    struct stet_invoker_http http;
    struct stet_schema *schema;
    struct stet_schema_defaults defaults;
    uv_prepare_t tick;
};

static struct inv_fixture *FX;
static const struct stet_schema *fx_schema_cb(void *ctx) {
    (void)ctx;
    return FX->schema;
}
static const struct stet_schema_defaults *fx_defaults_cb(void *ctx) {
    (void)ctx;
    return &FX->defaults;
}

static void tick_cb(uv_prepare_t *p) {
    struct inv_fixture *fx = p->data;
    if (fx->h.invoker) {
        stet_invoker_tick(fx->h.invoker);
        stet_invoker_check(fx->h.invoker);
    }
}

static void fx_run_ms(struct inv_fixture *fx, uint64_t ms) {
    uint64_t end = stet_env_prod_monotonic_ms() + ms;
    while (stet_env_prod_monotonic_ms() < end) uv_run(&fx->loop, UV_RUN_NOWAIT);
}

static void fx_open(struct inv_fixture *fx, bool retry, uint32_t max_running, uint32_t max_tasks) {
    memset(fx, 0, sizeof(*fx));
    FX = fx;
    uv_loop_init(&fx->loop);
    stet_env_prod_init(&fx->prod, &fx->loop);
    harness_open(&fx->h, &fx->prod.env, retry);
    char err[256];
    int rc = stet_schema_from_json(DEAD_SCHEMA, strlen(DEAD_SCHEMA), &fx->schema, err, sizeof(err));
    if (rc != 0) fail_msg("schema: %s", err);
    stet_schema_defaults_init(&fx->defaults);
    assert_int_equal(stet_h2_pool_create(&fx->loop, NULL, &fx->pool), 0);
    fx->http = (struct stet_invoker_http){.pool = fx->pool, .loop = &fx->loop};
    struct stet_invoker_ports ip = {
        .ctx = &fx->h, .transport = stet_invoker_http_transport(&fx->http), .env = &fx->prod.env, .store = fx->h.store, .num_partitions = NP,
        .cluster_name = "test", .inactivity_timeout_ms = 60000, .abort_timeout_ms = 600000,
        .eager_state_size_limit = 1 << 20, .concurrent_invocations_limit = max_running, .max_tasks = max_tasks,
        .schema = fx_schema_cb, .schema_defaults = fx_defaults_cb, .applied_lsn = h_applied,
        .applied = stet_worker_applied_port(fx->h.worker), .propose = h_invoker_propose, .settled = h_settled};
    assert_int_equal(stet_invoker_create(&ip, &fx->h.invoker), 0);
    uv_prepare_init(&fx->loop, &fx->tick);
    fx->tick.data = fx;
    uv_prepare_start(&fx->tick, tick_cb);
    /* the leader announcements are applied (a real loop and disk: wait up to 5 s on a busy machine) */
    for (int round = 0; round < 1000; round++) {
        bool all = true;
        for (uint32_t i = 0; i < NP; i++) all = all && stet_worker_is_leader(fx->h.worker, i);
        if (all) break;
        fx_run_ms(fx, 5);
    }
    for (uint32_t i = 0; i < NP; i++) assert_true(stet_worker_is_leader(fx->h.worker, i));
}


static void walk_close(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void fx_close(struct inv_fixture *fx) {
    stet_invoker_destroy(fx->h.invoker);
    fx->h.invoker = NULL;
    stet_h2_pool_destroy(fx->pool, NULL, NULL);
    harness_close(&fx->h);
    stet_env_prod_close(&fx->prod);
    uv_walk(&fx->loop, walk_close, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx->loop);
    stet_schema_unref(fx->schema);
}

/* Retries exhausted while the log refuses appends: kill (K) and pause (P) still happen. */
static void run_invoker_burst(bool retry, bool expect_done) {
    struct inv_fixture fx;
    fx_open(&fx, retry, 0, 0);
    struct stet_invocation_id k = make_id(3, 1), p = make_id(UINT64_MAX - 3, 2);
    propose_invoke(&fx.h, k, "K", 0);
    propose_invoke(&fx.h, p, "P", 0);
    /* the INVOKEs are committed after 1 ms; the attempts fail on connect; the final effect
     * (Failed / Paused) then meets a log that refuses appends for a while */
    fx.h.refuse = 1000000;
    fx_run_ms(&fx, 150);
    assert_true(fx.h.refused > 0);
    assert_int_equal(status_of(&fx.h, &k), STET_INV_INVOKED);
    fx.h.refuse = 0;
    fx_run_ms(&fx, 1500);
    if (expect_done) {
        assert_int_equal(status_of(&fx.h, &k), STET_INV_COMPLETED);
        assert_int_equal(status_of(&fx.h, &p), STET_INV_PAUSED);
    } else {
        assert_int_equal(status_of(&fx.h, &k), STET_INV_INVOKED);
        assert_int_equal(status_of(&fx.h, &p), STET_INV_INVOKED);
    }
    struct stet_invoker_stats st;
    stet_invoker_stats(fx.h.invoker, &st);
    assert_int_equal(st.attempts_started, 4);
    assert_int_equal(st.open_tasks, 0);
    fx_close(&fx);
}

static void test_invoker_kill_pause_survive_refused_appends(void **state) {
    (void)state;
    run_invoker_burst(true, true);
}

static void test_invoker_kill_pause_without_retries_are_lost(void **state) {
    (void)state;
    run_invoker_burst(false, false);
}

/* More INVOKEs than tasks: the rest wait in the store and are taken by the overflow scan,
 * each exactly once, while the invoker never holds more than max_tasks. */
static void test_invoker_overflow_takes_invocations_from_the_store(void **state) {
    (void)state;
    struct inv_fixture fx;
    fx_open(&fx, true, 2, 4);
    enum { N = 60 };
    struct stet_invocation_id ids[N];
    for (int i = 0; i < N; i++) {
        ids[i] = make_id((uint64_t)i * 0x0400000000000000ull + 17, (uint8_t)(i + 1));
        propose_invoke(&fx.h, ids[i], "One", 0);
    }
    uint64_t end = stet_env_prod_monotonic_ms() + 5000;
    size_t done = 0;
    while (stet_env_prod_monotonic_ms() < end && done < N) {
        uv_run(&fx.loop, UV_RUN_NOWAIT);
        struct stet_invoker_stats st;
        stet_invoker_stats(fx.h.invoker, &st);
        assert_true(st.open_tasks <= 4);
        done = 0;
        for (int i = 0; i < N; i++) done += status_of(&fx.h, &ids[i]) == STET_INV_COMPLETED;
    }
    assert_int_equal(done, N);
    struct stet_invoker_stats st;
    stet_invoker_stats(fx.h.invoker, &st);
    assert_int_equal(st.attempts_started, N); /* exactly one attempt each: none taken twice */
    assert_true(st.deferred > 0);
    assert_true(st.picked_up > 0);
    assert_int_equal(st.overflowed_partitions, 0);
    fx_close(&fx);
}

/* A pause requested while the invocation waits in the store pauses it when it is taken. */
static void test_invoker_pause_of_a_deferred_invocation(void **state) {
    (void)state;
    struct inv_fixture fx;
    fx_open(&fx, true, 1, 1);
    /* blocker occupies the only task for a while (K retries once, 1 ms apart) */
    struct stet_invocation_id a = make_id(1, 1), b = make_id(2, 2);
    propose_invoke(&fx.h, a, "K", 0);
    propose_invoke(&fx.h, b, "K", 0);
    struct stet_record pr;
    memset(&pr, 0, sizeof(pr));
    pr.kind = STET_REC_PAUSE;
    pr.id = b;
    pr.sink.kind = STET_SINK_ADMIN;
    assert_int_equal(h_propose(&fx.h, &pr, NULL, NULL, NULL), 0);
    fx_run_ms(&fx, 500);
    assert_int_equal(status_of(&fx.h, &a), STET_INV_COMPLETED);
    assert_int_equal(status_of(&fx.h, &b), STET_INV_PAUSED);
    struct stet_invoker_stats st;
    stet_invoker_stats(fx.h.invoker, &st);
    assert_int_equal(st.attempts_started, 2); /* b never ran */
    fx_close(&fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proposals_retry_in_order),
        cmocka_unit_test(test_timers_survive_refused_appends),
        cmocka_unit_test(test_outbox_survives_refused_appends),
        cmocka_unit_test(test_step_down_and_up_continues_exactly_once),
        cmocka_unit_test(test_step_down_and_up_over_a_log_with_gaps),
        cmocka_unit_test(test_invoker_kill_pause_survive_refused_appends),
        cmocka_unit_test(test_invoker_kill_pause_without_retries_are_lost),
        cmocka_unit_test(test_invoker_overflow_takes_invocations_from_the_store),
        cmocka_unit_test(test_invoker_pause_of_a_deferred_invocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
