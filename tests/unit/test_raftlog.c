/* Partition logs on raft groups (src/log/raftlog.c) over the real consensus module: three nodes
 * in one process on a simulated clock, each with two logs (groups 1 and 2) in a mem store. Records
 * appended on a leader are readable on every node in the same order, raft's own entries read as
 * "skip", a follower cannot append, and an append made by a leader that was cut off and replaced
 * is answered -ECANCELED while its index holds the new leader's record everywhere. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "consensus/consensus.h"
#include "consensus/store.h"
#include "log/raftlog.h"
#include "sim_env.h"
#include "store/store.h"

#define NODES 3
#define LOGS 2
static const uint32_t VOTERS[NODES] = {1, 2, 3};

struct node {
    struct stet_store *store;
    struct stet_consensus_store *cs;
    struct stet_consensus_storage st;
    struct stet_consensus *c;
    struct stet_raftlog *rl;
    uint64_t durable_last[LOGS];
};

struct packet {
    uint32_t from, to;
    uint8_t *data;
    size_t len;
};

static struct node N[NODES];
static struct sim_env SIM;
static struct packet *Q;
static size_t QN;
static int ISOLATED = -1; /* a node cut off from the others (index), -1: none */

static void net_send(void *ctx, uint32_t to, const uint8_t *msg, size_t len) {
    struct node *n = ctx;
    Q = realloc(Q, (QN + 1) * sizeof(*Q));
    Q[QN] = (struct packet){.from = (uint32_t)(n - N) + 1, .to = to, .data = malloc(len), .len = len};
    memcpy(Q[QN].data, msg, len);
    QN++;
}

static void app_apply(void *ctx, uint32_t group, uint64_t index, const struct stet_consensus_entry *e) {
    struct node *n = ctx;
    stet_raftlog_committed(n->rl, group, index, e->term, e->type, e->data, e->len);
}

static void on_durable(void *arg, uint32_t log_id, uint64_t first, uint64_t last) {
    struct node *n = arg;
    assert_int_equal(first, n->durable_last[log_id] + 1);
    n->durable_last[log_id] = last;
}

static int port_submit(void *ctx, uint32_t group, const void *data, size_t len, uint64_t *index, uint64_t *term) {
    struct node *n = ctx;
    int rc = stet_consensus_submit(n->c, group, data, len, index);
    if (rc != 0) return rc;
    struct stet_consensus_group_info gi;
    assert_true(stet_consensus_group_info(n->c, group, &gi));
    *term = gi.term;
    return 0;
}

static int port_get(void *ctx, uint32_t group, uint64_t index, uint8_t *type, uint64_t *term, struct stet_buf *out) {
    struct node *n = ctx;
    struct stet_consensus_entry e;
    int rc = n->st.get(n->st.ctx, group, index, &e);
    if (rc != 0) return rc;
    *type = e.type;
    *term = e.term;
    stet_buf_reset(out);
    stet_buf_append(out, e.data, e.len);
    return 0;
}

static void start(int i) {
    struct node *n = &N[i];
    n->store = stet_store_create_mem();
    assert_int_equal(stet_consensus_store_create(&SIM.env, n->store, &n->cs), 0);
    n->st = stet_consensus_store_port(n->cs);
    struct stet_raftlog_ports rp = {.ctx = n, .submit = port_submit, .get = port_get};
    assert_int_equal(stet_raftlog_create(&rp, LOGS, 1, on_durable, n, &n->rl), 0);
    struct stet_consensus_network net = {n, net_send};
    struct stet_consensus_app app = {.ctx = n, .apply = app_apply};
    struct stet_consensus_config cfg = {.node_id = (uint32_t)i + 1, .seed = 11 + (uint64_t)i, .generation = 1};
    assert_int_equal(stet_consensus_create(&SIM.env, &cfg, &n->st, &net, &app, &n->c), 0);
    for (uint32_t g = 1; g <= LOGS; g++) assert_int_equal(stet_consensus_add_group(n->c, g, VOTERS, NODES), 0);
}

static void run(unsigned ms) {
    for (unsigned t = 0; t < ms; t++) {
        sim_env_run_for(&SIM, 1);
        size_t n = QN;
        struct packet *q = Q;
        Q = NULL;
        QN = 0;
        for (size_t k = 0; k < n; k++) {
            bool cut = ISOLATED >= 0 && ((int)q[k].from - 1 == ISOLATED || (int)q[k].to - 1 == ISOLATED);
            if (!cut) stet_consensus_receive(N[q[k].to - 1].c, q[k].from, q[k].data, q[k].len);
            free(q[k].data);
        }
        free(q);
        for (int i = 0; i < NODES; i++) stet_consensus_flush(N[i].c);
        sim_env_run_for(&SIM, 0);
    }
}

static int leader_of(uint32_t group, int except) {
    for (int i = 0; i < NODES; i++) {
        struct stet_consensus_group_info gi;
        if (i != except && stet_consensus_group_info(N[i].c, group, &gi) && gi.leader) return i;
    }
    return -1;
}

static void setup(void) {
    memset(N, 0, sizeof(N));
    sim_env_init(&SIM, 3);
    ISOLATED = -1;
    for (int i = 0; i < NODES; i++) start(i);
}

static void teardown(void) {
    for (int i = 0; i < NODES; i++) {
        stet_raftlog_destroy(N[i].rl);
        stet_consensus_destroy(N[i].c);
    }
    sim_env_run_for(&SIM, 10); /* syncs in flight finish */
    for (int i = 0; i < NODES; i++) {
        stet_consensus_store_destroy(N[i].cs);
        stet_store_destroy(N[i].store);
    }
    for (size_t k = 0; k < QN; k++) free(Q[k].data);
    free(Q);
    Q = NULL;
    QN = 0;
    sim_env_free(&SIM);
}

struct acked {
    int status; /* 1: not answered yet */
    uint64_t lsn;
};
static void append_cb(void *arg, int status, uint64_t lsn) {
    struct acked *a = arg;
    assert_int_equal(a->status, 1); /* once */
    a->status = status;
    a->lsn = lsn;
}

/* Every node's log `log_id` up to its tail, as "rec:..." lines and "-" for raft's own entries. */
static void dump(int i, uint32_t log_id, struct stet_buf *out) {
    stet_buf_reset(out);
    struct stet_buf rec = STET_BUF_INIT;
    uint64_t tail = stet_raftlog_durable_tail(N[i].rl, log_id);
    for (uint64_t lsn = 1; lsn <= tail; lsn++) {
        int rc = stet_raftlog_read(N[i].rl, log_id, lsn, &rec);
        assert_true(rc == 0 || rc == 2);
        if (rc == 2) stet_buf_append_str(out, "-\n");
        else stet_buf_printf(out, "%llu:%.*s\n", (unsigned long long)lsn, (int)rec.len, (const char *)rec.data);
    }
    assert_int_equal(stet_raftlog_read(N[i].rl, log_id, tail + 1, &rec), 1); /* not durable yet */
    stet_buf_free(&rec);
}

static void assert_logs_equal(uint32_t log_id) {
    struct stet_buf a = STET_BUF_INIT, b = STET_BUF_INIT;
    dump(0, log_id, &a);
    for (int i = 1; i < NODES; i++) {
        dump(i, log_id, &b);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
    }
    stet_buf_free(&a);
    stet_buf_free(&b);
}

static void test_records_replicate_in_order(void **state) {
    (void)state;
    setup();
    run(2000);
    struct acked acks[LOGS][20];
    for (uint32_t log = 0; log < LOGS; log++) {
        int l = leader_of(log + 1, -1);
        assert_true(l >= 0);
        /* a follower cannot append */
        int f = (l + 1) % NODES;
        struct acked none = {1, 0};
        assert_int_equal(stet_raftlog_append(N[f].rl, log, "x", 1, append_cb, &none, NULL), -EAGAIN);
        uint64_t prev = 0;
        for (int k = 0; k < 20; k++) {
            char rec[16];
            int len = snprintf(rec, sizeof(rec), "r%u.%d", log, k);
            acks[log][k] = (struct acked){1, 0};
            uint64_t lsn = 0;
            assert_int_equal(stet_raftlog_append(N[l].rl, log, rec, (size_t)len, append_cb, &acks[log][k], &lsn), 0);
            assert_true(lsn > prev);
            prev = lsn;
        }
        assert_int_equal(none.status, 1);
    }
    run(200);
    for (uint32_t log = 0; log < LOGS; log++) {
        for (int k = 0; k < 20; k++) assert_int_equal(acks[log][k].status, 0);
        assert_logs_equal(log);
        /* entry 1 is raft's bootstrap configuration, then the leader's barrier: skipped */
        struct stet_buf r = STET_BUF_INIT;
        assert_int_equal(stet_raftlog_read(N[0].rl, log, 1, &r), 2);
        assert_int_equal(stet_raftlog_read(N[0].rl, log, acks[log][0].lsn, &r), 0);
        char want[16];
        int len = snprintf(want, sizeof(want), "r%u.0", log);
        assert_int_equal(r.len, (size_t)len);
        assert_memory_equal(r.data, want, (size_t)len);
        stet_buf_free(&r);
        for (int i = 0; i < NODES; i++) assert_int_equal(N[i].durable_last[log], stet_raftlog_durable_tail(N[i].rl, log));
    }
    teardown();
}

static void test_cut_off_leader_appends_are_cancelled(void **state) {
    (void)state;
    setup();
    run(2000);
    int old = leader_of(1, -1);
    assert_true(old >= 0);
    struct acked before = {1, 0};
    assert_int_equal(stet_raftlog_append(N[old].rl, 0, "before", 6, append_cb, &before, NULL), 0);
    run(100);
    assert_int_equal(before.status, 0);
    /* the leader is cut off; what it appends now cannot commit */
    ISOLATED = old;
    struct acked lost[3];
    for (int k = 0; k < 3; k++) {
        lost[k] = (struct acked){1, 0};
        assert_int_equal(stet_raftlog_append(N[old].rl, 0, "lost", 4, append_cb, &lost[k], NULL), 0);
    }
    run(3000);
    int neu = leader_of(1, old);
    assert_true(neu >= 0 && neu != old);
    struct acked won[4];
    for (int k = 0; k < 4; k++) {
        won[k] = (struct acked){1, 0};
        assert_int_equal(stet_raftlog_append(N[neu].rl, 0, "won", 3, append_cb, &won[k], NULL), 0);
    }
    run(200);
    for (int k = 0; k < 4; k++) assert_int_equal(won[k].status, 0);
    for (int k = 0; k < 3; k++) assert_int_equal(lost[k].status, 1); /* the old leader does not know yet */
    /* heal: the old leader's entries are replaced; its appends are answered -ECANCELED */
    ISOLATED = -1;
    run(3000);
    for (int k = 0; k < 3; k++) assert_int_equal(lost[k].status, -ECANCELED);
    assert_logs_equal(0);
    struct stet_buf d = STET_BUF_INIT;
    dump(old, 0, &d);
    assert_null(memmem(d.data, d.len, "lost", 4)); /* nothing cancelled is in the log */
    assert_non_null(memmem(d.data, d.len, "won", 3));
    stet_buf_free(&d);
    struct stet_raftlog_stats st;
    stet_raftlog_stats(N[old].rl, &st);
    assert_int_equal(st.appends_cancelled, 3);
    teardown();
}

/* One voter (a single node), its log continuing one kept elsewhere up to LSN 100
 * (stet_consensus_add_group_from): the group starts as if a snapshot covered 1..100 (install
 * at 100, the durable tail at 100), elects itself, its records get LSNs after 100 and commit
 * once synced; after a snapshot (the log trimmed) and a restart on the same store, the tail
 * comes back from the snapshot and the remaining records are read again. */
static uint64_t INSTALLED;

static void solo_install(void *ctx, uint32_t group, uint64_t index, const uint8_t *data, size_t len) {
    struct node *n = ctx;
    (void)data;
    assert_int_equal(len, 0);
    INSTALLED = index;
    stet_raftlog_install(n->rl, group, index);
    n->durable_last[group - 1] = index; /* durable callbacks continue after it */
}

static void solo_start(struct node *n, bool fresh) {
    if (fresh) {
        n->store = stet_store_create_mem();
        n->durable_last[0] = 0;
    }
    assert_int_equal(stet_consensus_store_create(&SIM.env, n->store, &n->cs), 0);
    n->st = stet_consensus_store_port(n->cs);
    struct stet_raftlog_ports rp = {.ctx = n, .submit = port_submit, .get = port_get};
    assert_int_equal(stet_raftlog_create(&rp, 1, 1, on_durable, n, &n->rl), 0);
    struct stet_consensus_network net = {n, net_send};
    struct stet_consensus_app app = {.ctx = n, .apply = app_apply, .install = solo_install};
    struct stet_consensus_config cfg = {.node_id = 1, .seed = 5, .generation = fresh ? 1 : 2};
    assert_int_equal(stet_consensus_create(&SIM.env, &cfg, &n->st, &net, &app, &n->c), 0);
    static const uint32_t one[1] = {1};
    assert_int_equal(stet_consensus_add_group_from(n->c, 1, one, 1, 100, 5), 0);
}

static void solo_run(struct node *n, unsigned ms) {
    for (unsigned t = 0; t < ms; t++) {
        sim_env_run_for(&SIM, 1);
        stet_consensus_flush(n->c);
        sim_env_run_for(&SIM, 0);
    }
}

static void solo_stop(struct node *n, bool keep_store) {
    stet_raftlog_destroy(n->rl);
    stet_consensus_destroy(n->c);
    sim_env_run_for(&SIM, 10);
    stet_consensus_store_destroy(n->cs);
    if (!keep_store) stet_store_destroy(n->store);
}

static void appended(void *arg, int status, uint64_t lsn) {
    uint64_t *out = arg;
    assert_int_equal(status, 0);
    *out = lsn;
}

static void test_one_voter_continues_a_log(void **state) {
    (void)state;
    sim_env_init(&SIM, 7);
    struct node *n = &N[0];
    memset(n, 0, sizeof(*n));
    INSTALLED = 0;
    solo_start(n, true);
    assert_int_equal(INSTALLED, 100);
    assert_int_equal(stet_raftlog_durable_tail(n->rl, 0), 100);
    struct stet_buf d = STET_BUF_INIT;
    assert_int_equal(stet_raftlog_read(n->rl, 0, 100, &d), 1); /* below the base: not here */
    solo_run(n, 50);
    struct stet_consensus_group_info gi;
    assert_true(stet_consensus_group_info(n->c, 1, &gi));
    assert_true(gi.leader);
    assert_true(gi.term >= 5);
    uint64_t done[3] = {0}, lsn[3];
    for (int i = 0; i < 3; i++) {
        char rec[8];
        snprintf(rec, sizeof(rec), "r%d", i);
        assert_int_equal(stet_raftlog_append(n->rl, 0, rec, strlen(rec), appended, &done[i], &lsn[i]), 0);
        assert_true(lsn[i] > 100);
    }
    solo_run(n, 20);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(done[i], lsn[i]);
        assert_int_equal(stet_raftlog_read(n->rl, 0, lsn[i], &d), 0);
        assert_int_equal(d.len, 2);
        assert_int_equal(d.data[1], '0' + i);
    }
    /* trim behind the second record, restart on the same store */
    assert_int_equal(stet_consensus_snapshot(n->c, 1, lsn[1], NULL, 0, 0), 0);
    solo_run(n, 20);
    assert_true(stet_consensus_group_info(n->c, 1, &gi));
    assert_int_equal(gi.snapshot_index, lsn[1]);
    solo_stop(n, true);
    INSTALLED = 0;
    solo_start(n, false);
    assert_int_equal(INSTALLED, lsn[1]);
    solo_run(n, 50);
    assert_true(stet_raftlog_durable_tail(n->rl, 0) >= lsn[2]);
    assert_int_equal(stet_raftlog_read(n->rl, 0, lsn[2], &d), 0);
    assert_int_equal(d.data[1], '2');
    assert_int_equal(stet_raftlog_read(n->rl, 0, lsn[0], &d), 1); /* trimmed */
    stet_buf_free(&d);
    solo_stop(n, false);
    sim_env_free(&SIM);
}

int main(void) {
    stet_log_set_level(STET_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_replicate_in_order),
        cmocka_unit_test(test_cut_off_leader_appends_are_cancelled),
        cmocka_unit_test(test_one_voter_continues_a_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
