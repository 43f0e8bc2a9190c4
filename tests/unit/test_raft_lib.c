/* Smoke test of libraft 0.22.1 (scripts/install-raft.sh, design/cluster.md section 1) through its
 * pure step API, raft_step(r, &event, &update): the library does no I/O and keeps no log, so
 * this file plays every part Stet will play.
 *
 * - Three struct raft in one process, each with a fake disk (term, vote and a log of copied
 *   entries) that persists at once: after a step that asked for entries to be written, the
 *   next step reports RAFT_PERSISTED_ENTRIES up to the last one.
 * - A fake network: one FIFO of messages, delivered in order with no latency. Outgoing
 *   AppendEntries carry no entries (only prev index/term and a count): the sender fills them from
 *   its own log, as a real transport will.
 * - A manual clock: when no message is in flight, time jumps to the earliest raft_timeout()
 *   and that node gets a RAFT_TIMEOUT.
 * - Bootstrap by hand (step mode has no raft_bootstrap): every disk starts with term 1 and entry 1,
 *   a RAFT_CHANGE holding raft_configuration_encode() of the 3 voters; RAFT_START loads it.
 *
 * Memory ownership as the library expects it (read from its sources and its own test cluster):
 * - RAFT_UPDATE_ENTRIES hands the caller the data batch (entries[0].batch, raft_malloc'd):
 *   it is freed with raft_free() once persisted. update.entries.batch itself (the array) points
 *   into a submit event, a received message or struct raft: copy it before the next step.
 * - A received AppendEntries: the receiver's caller allocates the entries array and the data
 *   batch with raft_malloc. raft frees the batch itself unless it hands it back through
 *   RAFT_UPDATE_ENTRIES; the array is always the caller's to free after raft_step returns.
 * - update.messages.batch is raft's own buffer, valid until the next raft_step on that node.
 *
 * Everything is deterministic: fixed seeds, no wall clock. A second test proves the library was
 * built with its asserts on (a contract violation aborts instead of corrupting state). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>

#define N_NODES 3
#define LOG_MAX 16
#define QUEUE_MAX 256
#define ELECTION_TIMEOUT_MS 300
#define HEARTBEAT_TIMEOUT_MS 50

struct node {
    struct raft raft;
    char address[16];
    /* the fake disk */
    raft_term term;
    raft_id voted_for;
    struct raft_entry log[LOG_MAX]; /* log[i] is entry i + 1; buf owned here (malloc) */
    unsigned n_log;
    raft_index persist_pending; /* written, to be reported as persisted: 0 if none */
};

struct envelope {
    raft_id to;
    struct raft_message message; /* server_id/address name the sender */
};

static struct node nodes[N_NODES];
static struct envelope queue[QUEUE_MAX];
static unsigned queue_head, queue_n;
static raft_time now_ms;

static struct node *node_get(raft_id id) {
    assert_true(id >= 1 && id <= N_NODES);
    return &nodes[id - 1];
}

/* Truncate the disk log from index on, then append copies of entries. */
static void disk_write(struct node *n, raft_index index, const struct raft_entry *entries, unsigned count) {
    assert_true(index >= 1);
    assert_true(index <= n->n_log + 1);
    while (n->n_log >= index) {
        free(n->log[--n->n_log].buf.base);
    }
    for (unsigned i = 0; i < count; i++) {
        assert_true(n->n_log < LOG_MAX);
        struct raft_entry *e = &n->log[n->n_log++];
        e->term = entries[i].term;
        e->type = entries[i].type;
        e->buf.len = entries[i].buf.len;
        e->buf.base = malloc(e->buf.len ? e->buf.len : 1);
        assert_non_null(e->buf.base);
        memcpy(e->buf.base, entries[i].buf.base, e->buf.len);
        e->batch = NULL;
    }
}

/* Fill an outgoing AppendEntries from the sender's log: one raft_malloc'd batch for the data
 * and one raft_malloc'd array, as the receiving side of a transport would decode them. */
static void append_entries_fill(const struct node *from, struct raft_append_entries *args) {
    if (args->n_entries == 0) {
        args->entries = NULL;
        return;
    }
    raft_index first = args->prev_log_index + 1;
    assert_true(first + args->n_entries - 1 <= from->n_log);
    size_t size = 0;
    for (unsigned i = 0; i < args->n_entries; i++) {
        size += from->log[first - 1 + i].buf.len;
    }
    uint8_t *batch = raft_malloc(size ? size : 1);
    assert_non_null(batch);
    args->entries = raft_malloc(args->n_entries * sizeof *args->entries);
    assert_non_null(args->entries);
    size_t offset = 0;
    for (unsigned i = 0; i < args->n_entries; i++) {
        const struct raft_entry *src = &from->log[first - 1 + i];
        struct raft_entry *dst = &args->entries[i];
        dst->term = src->term;
        dst->type = src->type;
        dst->buf.base = batch + offset;
        dst->buf.len = src->buf.len;
        dst->batch = batch;
        memcpy(dst->buf.base, src->buf.base, src->buf.len);
        offset += src->buf.len;
    }
}

static void message_release(struct raft_message *message) {
    if (message->type == RAFT_APPEND_ENTRIES && message->append_entries.n_entries > 0) {
        raft_free(message->append_entries.entries[0].batch);
        raft_free(message->append_entries.entries);
    }
}

static void step(struct node *n, struct raft_event *event);

static void send_all(struct node *from, const struct raft_message *messages, unsigned count) {
    for (unsigned i = 0; i < count; i++) {
        assert_true(queue_n < QUEUE_MAX);
        /* raft never sends InstallSnapshot here: no snapshot was taken */
        assert_int_not_equal(messages[i].type, RAFT_INSTALL_SNAPSHOT);
        struct envelope *env = &queue[(queue_head + queue_n++) % QUEUE_MAX];
        env->to = messages[i].server_id;
        env->message = messages[i];
        env->message.server_id = from->raft.id;
        env->message.server_address = from->address;
        if (env->message.type == RAFT_APPEND_ENTRIES) {
            append_entries_fill(from, &env->message.append_entries);
        }
    }
}

/* One raft_step plus everything its update asks for, in the order the header requires:
 * term and vote durable before any message leaves. */
static void step(struct node *n, struct raft_event *event) {
    struct raft_update update;
    event->time = now_ms;
    event->capacity = 0; /* no capacity threshold is set */
    int rv = raft_step(&n->raft, event, &update);
    assert_int_equal(rv, 0);

    if (update.flags & RAFT_UPDATE_CURRENT_TERM) {
        n->term = raft_current_term(&n->raft);
    }
    if (update.flags & RAFT_UPDATE_VOTED_FOR) {
        n->voted_for = raft_voted_for(&n->raft);
    }
    if (update.flags & RAFT_UPDATE_ENTRIES) {
        assert_true(update.entries.n > 0);
        disk_write(n, update.entries.index, update.entries.batch, update.entries.n);
        raft_free(update.entries.batch[0].batch); /* handed to us */
        n->persist_pending = update.entries.index + update.entries.n - 1;
    }
    assert_false(update.flags & RAFT_UPDATE_SNAPSHOT);
    if (update.flags & RAFT_UPDATE_MESSAGES) {
        send_all(n, update.messages.batch, update.messages.n);
    }
    /* RAFT_UPDATE_TIMEOUT: the loop asks raft_timeout() each time. RAFT_UPDATE_COMMIT_INDEX: a
     * real caller applies entries up to raft_commit_index() and feeds committed RAFT_CHANGE
     * entries back as RAFT_CONFIGURATION; this test has no membership change. */

    if (n->persist_pending != 0) { /* the fake disk is done already */
        struct raft_event done = {.type = RAFT_PERSISTED_ENTRIES};
        done.persisted_entries.index = n->persist_pending;
        n->persist_pending = 0;
        step(n, &done);
    }
}

static void deliver_one(void) {
    struct envelope env = queue[queue_head];
    queue_head = (queue_head + 1) % QUEUE_MAX;
    queue_n--;
    struct raft_event event = {.type = RAFT_RECEIVE};
    event.receive.message = &env.message;
    step(node_get(env.to), &event);
    /* the entries array stays ours; the data batch went to raft (freed there or handed back) */
    if (env.message.type == RAFT_APPEND_ENTRIES) {
        raft_free(env.message.append_entries.entries);
    }
}

/* Deliver messages until none is in flight, then fire the earliest timeout. */
static void advance(void) {
    if (queue_n > 0) {
        deliver_one();
        return;
    }
    struct node *next = NULL;
    for (unsigned i = 0; i < N_NODES; i++) {
        if (next == NULL || raft_timeout(&nodes[i].raft) < raft_timeout(&next->raft)) {
            next = &nodes[i];
        }
    }
    raft_time t = raft_timeout(&next->raft);
    assert_true(t >= now_ms);
    now_ms = t;
    struct raft_event event = {.type = RAFT_TIMEOUT};
    step(next, &event);
}

/* Election safety, checked after every step: at most one leader per term. */
static struct node *leader_check(void) {
    struct node *leader = NULL;
    for (unsigned i = 0; i < N_NODES; i++) {
        if (raft_state(&nodes[i].raft) != RAFT_LEADER) {
            continue;
        }
        if (leader != NULL) {
            assert_int_not_equal(raft_current_term(&leader->raft), raft_current_term(&nodes[i].raft));
            if (raft_current_term(&nodes[i].raft) > raft_current_term(&leader->raft)) {
                leader = &nodes[i];
            }
        } else {
            leader = &nodes[i];
        }
    }
    return leader;
}

static void cluster_start(void) {
    memset(nodes, 0, sizeof nodes);
    queue_head = queue_n = 0;
    now_ms = 1000;

    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (raft_id id = 1; id <= N_NODES; id++) {
        char address[16];
        snprintf(address, sizeof address, "node-%llu", id);
        assert_int_equal(raft_configuration_add(&conf, id, address, RAFT_VOTER), 0);
    }
    struct raft_buffer encoded;
    assert_int_equal(raft_configuration_encode(&conf, &encoded), 0);
    raft_configuration_close(&conf);

    for (raft_id id = 1; id <= N_NODES; id++) {
        struct node *n = node_get(id);
        snprintf(n->address, sizeof n->address, "node-%llu", id);
        assert_int_equal(raft_init(&n->raft, NULL, NULL, id, n->address), 0);
        /* step mode: raft_init leaves the PRNG unseeded; seed before any timeout is drawn */
        raft_seed(&n->raft, 0x5eed0000u + (unsigned)id);
        n->raft.tracer = NULL; /* the default tracer formats every line (even when silent) */
        raft_set_election_timeout(&n->raft, ELECTION_TIMEOUT_MS);
        raft_set_heartbeat_timeout(&n->raft, HEARTBEAT_TIMEOUT_MS);
        raft_set_pre_vote(&n->raft, true);

        /* bootstrap: term 1 and entry 1 = the configuration, written to disk by hand */
        struct raft_entry first = {.term = 1, .type = RAFT_CHANGE, .buf = encoded, .batch = encoded.base};
        n->term = 1;
        disk_write(n, 1, &first, 1);

        struct raft_event event = {.type = RAFT_START};
        event.start.term = n->term;
        event.start.voted_for = n->voted_for;
        event.start.metadata = NULL;
        event.start.start_index = 1;
        event.start.entries = n->log; /* borrowed for the call: raft keeps no pointer into it */
        event.start.n_entries = n->n_log;
        step(n, &event);
        assert_int_equal(raft_state(&n->raft), RAFT_FOLLOWER);
        assert_int_equal(raft_commit_index(&n->raft), 1); /* entry 1 counts as committed */
        assert_true(raft_timeout(&n->raft) > now_ms);
    }
    raft_free(encoded.base);
}

static void cluster_stop(void) {
    while (queue_n > 0) {
        message_release(&queue[queue_head].message);
        queue_head = (queue_head + 1) % QUEUE_MAX;
        queue_n--;
    }
    for (unsigned i = 0; i < N_NODES; i++) {
        raft_close(&nodes[i].raft, NULL); /* io == NULL: synchronous, no callback */
        for (unsigned j = 0; j < nodes[i].n_log; j++) {
            free(nodes[i].log[j].buf.base);
        }
    }
}

static void test_version(void **state) {
    (void)state;
    assert_int_equal(raft_version_number(), 2201);
    assert_int_equal(RAFT_VERSION_NUMBER, 2201);
}

static void test_elect_and_commit(void **state) {
    (void)state;
    cluster_start();

    /* elect a leader */
    struct node *leader = NULL;
    unsigned steps = 0;
    for (; steps < 1000 && leader == NULL; steps++) {
        advance();
        leader = leader_check();
    }
    assert_non_null(leader);
    raft_term term = raft_current_term(&leader->raft);
    assert_true(term >= 2);
    /* with pre-vote, the first timeout wins without a split: a few hundred ms */
    assert_true(now_ms - 1000 <= 2 * 2 * ELECTION_TIMEOUT_MS);
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader(&leader->raft, &leader_id, &leader_address);
    assert_int_equal(leader_id, leader->raft.id);

    /* submit one entry: term = the leader's current term, data raft_malloc'd, batch set */
    static const char payload[] = "hello raft";
    struct raft_entry entry = {.term = raft_current_term(&leader->raft), .type = RAFT_COMMAND};
    entry.buf.len = sizeof payload;
    entry.buf.base = raft_malloc(entry.buf.len);
    assert_non_null(entry.buf.base);
    memcpy(entry.buf.base, payload, sizeof payload);
    entry.batch = entry.buf.base;
    struct raft_event submit = {.type = RAFT_SUBMIT};
    submit.submit.entries = &entry;
    submit.submit.n = 1;
    step(leader, &submit);
    raft_index index = raft_last_index(&leader->raft);
    assert_int_equal(index, 2);

    /* run until all three have it committed (followers learn it from the next heartbeat) */
    bool all = false;
    for (unsigned i = 0; i < 1000 && !all; i++) {
        advance();
        assert_ptr_equal(leader_check(), leader);
        all = true;
        for (unsigned j = 0; j < N_NODES; j++) {
            all = all && raft_commit_index(&nodes[j].raft) >= index;
        }
    }
    assert_true(all);

    for (unsigned j = 0; j < N_NODES; j++) {
        struct node *n = &nodes[j];
        assert_int_equal(raft_current_term(&n->raft), term);
        assert_int_equal(n->term, term);
        assert_int_equal(n->n_log, 2);
        assert_int_equal(n->log[1].type, RAFT_COMMAND);
        assert_int_equal(n->log[1].term, term);
        assert_int_equal(n->log[1].buf.len, sizeof payload);
        assert_memory_equal(n->log[1].buf.base, payload, sizeof payload);
        assert_int_equal(raft_state(&n->raft), n == leader ? RAFT_LEADER : RAFT_FOLLOWER);
        if (n != leader) {
            raft_leader(&n->raft, &leader_id, &leader_address);
            assert_int_equal(leader_id, leader->raft.id);
            assert_string_equal(leader_address, leader->address);
        }
    }
    raft_index match = 0;
    for (raft_id id = 1; id <= N_NODES; id++) {
        assert_int_equal(raft_match_index(&leader->raft, id, &match), 0);
        assert_int_equal(match, index);
    }
    cluster_stop();
}

/* The library must keep its asserts (design/cluster.md section 1): raft_step asserts its event is
 * not NULL. With asserts compiled out it would dereference NULL instead (SIGSEGV, or an ASan
 * report and exit code 1), so only SIGABRT passes. */
static void test_asserts_are_on(void **state) {
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDERR_FILENO);
        }
        struct raft r;
        struct raft_update update;
        if (raft_init(&r, NULL, NULL, 1, "node-1") != 0) {
            _exit(3);
        }
        raft_seed(&r, 1);
        r.tracer = NULL;
        raft_step(&r, NULL, &update);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_elect_and_commit),
        cmocka_unit_test(test_asserts_are_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
