/* Partition logs on raft groups (see raftlog.h).
 *
 * Per log: the durable tail (highest committed index handed to `committed`) and the appends of
 * this node waiting for their index to be committed. Invariants:
 *  1. tail only grows, by one per `committed` call (the consensus module applies in index order).
 *  2. A pending append's index is > tail (it is answered as soon as tail reaches it).
 */
#include "log/raftlog.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/assert.h"
#include "consensus/consensus.h"

struct pend {
    struct pend *next;
    uint64_t index, term;
    stet_log_append_cb cb;
    void *arg;
};

struct plog {
    uint64_t tail;
    struct pend *pending, *pending_tail; /* in append order: the head is usually the next to commit */
    bool unsorted; /* an append took an index not above the previous one (a re-election) */
};

struct stet_raftlog {
    struct stet_raftlog_ports ports;
    uint32_t n_logs, first_group;
    stet_log_durable_cb durable_cb;
    void *durable_arg;
    struct plog *logs;
    struct stet_buf scratch;
    struct stet_raftlog_stats stats;
    /* the entry being committed (valid during its durable callback only) */
    uint32_t cur_log;
    uint64_t cur_index; /* 0: none */
    uint8_t cur_type;
    const uint8_t *cur_data;
    size_t cur_len;
};

int stet_raftlog_create(const struct stet_raftlog_ports *ports, uint32_t n_logs, uint32_t first_group,
                        stet_log_durable_cb durable_cb, void *durable_arg, struct stet_raftlog **out) {
    STET_ASSERT(ports->submit != NULL && ports->get != NULL && n_logs > 0);
    struct stet_raftlog *l = calloc(1, sizeof(*l));
    if (!l) return -ENOMEM;
    l->logs = calloc(n_logs, sizeof(*l->logs));
    if (!l->logs) {
        free(l);
        return -ENOMEM;
    }
    l->ports = *ports;
    l->n_logs = n_logs;
    l->first_group = first_group;
    l->durable_cb = durable_cb;
    l->durable_arg = durable_arg;
    stet_buf_init(&l->scratch);
    *out = l;
    return 0;
}

void stet_raftlog_destroy(struct stet_raftlog *l) {
    if (!l) return;
    for (uint32_t i = 0; i < l->n_logs; i++) {
        while (l->logs[i].pending) {
            struct pend *p = l->logs[i].pending;
            l->logs[i].pending = p->next;
            if (p->cb) p->cb(p->arg, -ESHUTDOWN, p->index);
            free(p);
        }
    }
    free(l->logs);
    stet_buf_free(&l->scratch);
    free(l);
}

int stet_raftlog_append(struct stet_raftlog *l, uint32_t log_id, const void *rec, size_t len, stet_log_append_cb cb,
                        void *arg, uint64_t *lsn_out) {
    if (log_id >= l->n_logs) return -ENOENT;
    uint64_t index = 0, term = 0;
    int rc = l->ports.submit(l->ports.ctx, l->first_group + log_id, rec, len, &index, &term);
    if (rc == -EAGAIN) l->stats.not_leader++;
    if (rc != 0) return rc;
    struct plog *pl = &l->logs[log_id];
    STET_ASSERT(index > pl->tail); /* invariant 2: a new entry lies beyond what is committed */
    struct pend *p = calloc(1, sizeof(*p));
    STET_ASSERT(p != NULL);
    *p = (struct pend){.next = NULL, .index = index, .term = term, .cb = cb, .arg = arg};
    if (pl->pending_tail) {
        if (index <= pl->pending_tail->index) pl->unsorted = true;
        pl->pending_tail->next = p;
    } else {
        pl->pending = p;
        pl->unsorted = false;
    }
    pl->pending_tail = p;
    l->stats.appends++;
    if (lsn_out) *lsn_out = index;
    return 0;
}

int stet_raftlog_read(struct stet_raftlog *l, uint32_t log_id, uint64_t lsn, struct stet_buf *out) {
    if (log_id >= l->n_logs) return -ENOENT;
    if (lsn == 0 || lsn > l->logs[log_id].tail) return 1;
    uint8_t type = 0;
    uint64_t term = 0;
    if (l->cur_index == lsn && l->cur_log == log_id) { /* the entry being committed: no storage read */
        type = l->cur_type;
        stet_buf_reset(out);
        if (l->cur_len) stet_buf_append(out, l->cur_data, l->cur_len);
    } else {
        int rc = l->ports.get(l->ports.ctx, l->first_group + log_id, lsn, &type, &term, out);
        if (rc != 0) return rc;
    }
    /* an empty command is a read barrier (src/node/partitions.c), not a record */
    return type == STET_CONSENSUS_COMMAND && out->len > 0 ? 0 : 2;
}

uint64_t stet_raftlog_durable_tail(const struct stet_raftlog *l, uint32_t log_id) {
    return log_id < l->n_logs ? l->logs[log_id].tail : 0;
}

/* Unlinks the pending appends at indexes up to `upto`, in append order; the list stays
 * consistent for callbacks that append again. */
static struct pend *take_upto(struct plog *pl, uint64_t upto) {
    struct pend *done = NULL, **dtail = &done, *prev = NULL;
    for (struct pend *p = pl->pending, *next; p; p = next) {
        next = p->next;
        if (p->index > upto) {
            if (!pl->unsorted) break; /* in index order: nothing further is at or below upto */
            prev = p;
            continue;
        }
        if (prev) prev->next = next;
        else pl->pending = next;
        if (pl->pending_tail == p) pl->pending_tail = prev;
        p->next = NULL;
        *dtail = p;
        dtail = &p->next;
    }
    return done;
}

/* Answers taken appends: 0 for one whose own entry committed (term: the committed entry's, 0
 * for none), -ECANCELED for one another entry replaced. */
static void answer(struct stet_raftlog *l, struct pend *done, uint64_t term) {
    while (done) {
        struct pend *p = done;
        done = p->next;
        int status = term != 0 && p->term == term ? 0 : -ECANCELED;
        if (status == 0) l->stats.appends_committed++;
        else l->stats.appends_cancelled++;
        if (p->cb) p->cb(p->arg, status, p->index);
        free(p);
    }
}

void stet_raftlog_committed(struct stet_raftlog *l, uint32_t group, uint64_t index, uint64_t term, uint8_t type,
                            const uint8_t *data, size_t len) {
    if (group < l->first_group || group - l->first_group >= l->n_logs) return;
    uint32_t log_id = group - l->first_group;
    struct plog *pl = &l->logs[log_id];
    STET_ASSERT(index == pl->tail + 1); /* invariant 1 */
    pl->tail = index;
    if (type == STET_CONSENSUS_COMMAND && len > 0) {
        l->stats.records++;
        l->stats.record_bytes += len;
    }
    l->cur_log = log_id;
    l->cur_index = index;
    l->cur_type = type;
    l->cur_data = data;
    l->cur_len = len;
    if (l->durable_cb) l->durable_cb(l->durable_arg, log_id, index, index);
    l->cur_index = 0;
    /* the append at this index (if ours): committed, or replaced by another leader's entry; one
     * at a lower index cannot exist (invariant 2) */
    struct pend *done = take_upto(pl, index);
    for (const struct pend *p = done; p; p = p->next) STET_ASSERT(p->index == index);
    answer(l, done, term);
}

void stet_raftlog_install(struct stet_raftlog *l, uint32_t group, uint64_t index) {
    if (group < l->first_group || group - l->first_group >= l->n_logs) return;
    struct plog *pl = &l->logs[group - l->first_group];
    if (index <= pl->tail) return;
    pl->tail = index;
    answer(l, take_upto(pl, index), 0); /* covered by the snapshot: never applied as appended */
}

void stet_raftlog_stats(const struct stet_raftlog *l, struct stet_raftlog_stats *out) { *out = l->stats; }
