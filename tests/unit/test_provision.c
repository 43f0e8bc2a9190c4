/* Provisioning decisions (src/cluster/provision.c): the no-fork rule, joining, copying,
 * refusing a node that is not a voter; plus a seeded property run over random views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/provision.h"

static const uint32_t V123[] = {3, 1, 2};

/* Three metadata addresses: node 1 is this node; 2 and 3 are peers. */
static void three(struct stet_provision_peer p[3]) {
    memset(p, 0, 3 * sizeof(*p));
    p[0] = (struct stet_provision_peer){.address = "http://n1:5122", .self = true};
    p[1] = (struct stet_provision_peer){.address = "http://n2:5122", .node = 2, .reachable = true, .answered = true};
    p[2] = (struct stet_provision_peer){.address = "http://n3:5122", .node = 3, .reachable = true, .answered = true};
}

static struct stet_provision_decision decide(const struct stet_provision_peer *p, size_t n, bool autop, bool waited) {
    struct stet_provision_input in = {.self_id = 1, .auto_provision = autop, .peers = p, .n_peers = n,
                                      .leaderless_wait_over = waited};
    struct stet_provision_decision d;
    stet_provision_decide(&in, &d);
    return d;
}

static void test_bootstrap_only_when_every_address_answered(void **state) {
    (void)state;
    struct stet_provision_peer p[3];
    three(p);
    struct stet_provision_decision d = decide(p, 3, true, false);
    assert_int_equal(d.action, STET_PROVISION_BOOTSTRAP);
    assert_int_equal(d.n_voters, 3);
    assert_int_equal(d.voters[0], 1);
    assert_int_equal(d.voters[1], 2);
    assert_int_equal(d.voters[2], 3);
    /* without auto-provision: wait for the node that has it */
    d = decide(p, 3, false, false);
    assert_int_equal(d.action, STET_PROVISION_WAIT);
    assert_null(d.waiting_for);
    /* any address not yet answering (unknown id, unreachable, no answer): wait, naming it */
    for (int k = 0; k < 3; k++) {
        three(p);
        if (k == 0) p[2].node = 0;
        if (k == 1) p[2].reachable = false;
        if (k == 2) p[2].answered = false;
        d = decide(p, 3, true, false);
        assert_int_equal(d.action, STET_PROVISION_WAIT);
        assert_string_equal(d.waiting_for, "http://n3:5122");
    }
    /* this node's own address not seen among them: wait */
    three(p);
    p[0].self = false;
    p[0].node = 4;
    p[0].reachable = p[0].answered = true;
    d = decide(p, 3, true, false);
    assert_int_equal(d.action, STET_PROVISION_WAIT);
    assert_false(d.self_seen);
}

static void test_joins_an_existing_group(void **state) {
    (void)state;
    struct stet_provision_peer p[3];
    /* a group that holds only its bootstrap configuration: the same bootstrap here */
    three(p);
    p[2].has_group = true;
    p[2].voters = V123;
    p[2].n_voters = 3;
    p[2].last_index = 1;
    p[2].fingerprint = 77;
    struct stet_provision_decision d = decide(p, 3, true, false);
    assert_int_equal(d.action, STET_PROVISION_JOIN_BOOTSTRAP);
    assert_int_equal(d.source, 3);
    assert_int_equal(d.voters[0], 1);
    assert_int_equal(d.voters[2], 3);
    assert_int_equal(d.fingerprint, 77);
    /* a group with history and a reachable leader: copy the leader's log */
    p[2].last_index = 40;
    p[2].leader = 2;
    p[2].leader_reachable = true;
    d = decide(p, 3, true, false);
    assert_int_equal(d.action, STET_PROVISION_COPY);
    assert_int_equal(d.source, 2);
    /* no reachable leader: never provision another group; wait, then copy the longest log */
    p[2].leader_reachable = false;
    p[1].has_group = true;
    p[1].voters = V123;
    p[1].n_voters = 3;
    p[1].last_index = 55;
    d = decide(p, 3, true, false);
    assert_int_equal(d.action, STET_PROVISION_WAIT);
    assert_true(d.group_seen);
    d = decide(p, 3, true, true);
    assert_int_equal(d.action, STET_PROVISION_COPY);
    assert_int_equal(d.source, 2); /* node 2 has the longer log */
    /* a group that this node is not a voter of */
    static const uint32_t V234[] = {2, 3, 4};
    three(p);
    p[1].has_group = true;
    p[1].voters = V234;
    p[1].n_voters = 3;
    p[1].last_index = 9;
    d = decide(p, 3, true, false);
    assert_int_equal(d.action, STET_PROVISION_NOT_MEMBER);
    assert_int_equal(d.source, 2);
}

/* Random views of 1..6 addresses: a bootstrap happens only when this node has auto-provision,
 * saw itself, and every other address is identified, reachable, answered, and holds no group;
 * whenever some peer reports a group, the decision is never a bootstrap. */
static void test_never_forks(void **state) {
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 200000; round++) {
        struct stet_provision_peer p[6];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t r = x;
        size_t n = 1 + r % 6;
        r /= 6;
        int self_at = (int)(r % (n + 1)) - 1; /* -1: not seen */
        r /= n + 1;
        bool autop = r & 1;
        r >>= 1;
        bool any_group = false, all_answered = true;
        for (size_t i = 0; i < n; i++) {
            memset(&p[i], 0, sizeof(p[i]));
            p[i].address = "a";
            if ((int)i == self_at) {
                p[i].self = true;
                continue;
            }
            p[i].node = (r & 7) ? (uint32_t)(i + 2) : 0;
            p[i].reachable = (r >> 3) & 3;
            p[i].answered = (r >> 5) & 3;
            p[i].has_group = ((r >> 7) & 3) == 0;
            p[i].voters = V123;
            p[i].n_voters = 3;
            p[i].last_index = (r >> 9) & 7;
            p[i].leader = (r >> 12) & 3;
            p[i].leader_reachable = (r >> 14) & 1;
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            bool counted = p[i].node && p[i].reachable && p[i].answered;
            if (!counted) all_answered = false;
            if (counted && p[i].has_group) any_group = true;
        }
        struct stet_provision_decision d = decide(p, n, autop, (x >> 40) & 1);
        if (d.action == STET_PROVISION_BOOTSTRAP) {
            assert_true(autop);
            assert_true(self_at >= 0);
            assert_true(all_answered);
            assert_false(any_group);
            assert_int_equal(d.n_voters, n);
        }
        if (any_group) assert_int_not_equal(d.action, STET_PROVISION_BOOTSTRAP);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_only_when_every_address_answered),
        cmocka_unit_test(test_joins_an_existing_group),
        cmocka_unit_test(test_never_forks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
