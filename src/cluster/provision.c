/* Provisioning decisions (see provision.h). */
#include "cluster/provision.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void take_voters(struct stet_provision_decision *out, const uint32_t *v, unsigned n) {
    if (n > STET_PROVISION_MAX_VOTERS) n = STET_PROVISION_MAX_VOTERS;
    memcpy(out->voters, v, n * sizeof(*v));
    out->n_voters = n;
    qsort(out->voters, n, sizeof(*out->voters), cmp_u32);
}

void stet_provision_decide(const struct stet_provision_input *in, struct stet_provision_decision *out) {
    memset(out, 0, sizeof(*out));
    uint32_t ids[STET_PROVISION_MAX_VOTERS];
    unsigned nids = 0;
    bool all = true;
    const struct stet_provision_peer *best = NULL;
    for (size_t i = 0; i < in->n_peers; i++) {
        const struct stet_provision_peer *p = &in->peers[i];
        if (p->self) {
            out->self_seen = true;
            if (nids < STET_PROVISION_MAX_VOTERS) ids[nids++] = in->self_id;
            continue;
        }
        if (p->node == 0 || !p->reachable || !p->answered) {
            all = false;
            if (!out->waiting_for) out->waiting_for = p->address;
            continue;
        }
        if (p->has_group && p->n_voters > 0) {
            bool member = false;
            for (unsigned k = 0; k < p->n_voters; k++) member |= p->voters[k] == in->self_id;
            out->fingerprint = p->fingerprint;
            out->source = p->node;
            if (!member) {
                out->action = STET_PROVISION_NOT_MEMBER;
                take_voters(out, p->voters, p->n_voters);
                return;
            }
            if (p->last_index <= 1) {
                out->action = STET_PROVISION_JOIN_BOOTSTRAP;
                take_voters(out, p->voters, p->n_voters);
                return;
            }
            if (p->leader != 0 && p->leader != in->self_id && p->leader_reachable) {
                out->action = STET_PROVISION_COPY;
                out->source = p->leader;
                take_voters(out, p->voters, p->n_voters);
                return;
            }
            /* a group with no reachable leader: never provision another; copy the longest log
             * once the wait is over */
            all = false;
            out->group_seen = true;
            if (!best || p->last_index > best->last_index) best = p;
            continue;
        }
        if (nids < STET_PROVISION_MAX_VOTERS) ids[nids++] = p->node;
        else all = false;
    }
    if (best && in->leaderless_wait_over) {
        out->action = STET_PROVISION_COPY;
        out->source = best->node;
        out->fingerprint = best->fingerprint;
        take_voters(out, best->voters, best->n_voters);
        return;
    }
    if (!out->self_seen) all = false;
    if (all && in->auto_provision && nids > 0 && !out->group_seen) {
        out->action = STET_PROVISION_BOOTSTRAP;
        out->source = 0;
        out->fingerprint = 0;
        take_voters(out, ids, nids);
        return;
    }
    out->action = STET_PROVISION_WAIT;
    out->source = 0;
}
