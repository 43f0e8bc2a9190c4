/* Retried proposals. See proposals.h.
 *
 * Invariants (stet_proposals_check):
 *  1. queued == the sum of the per-partition list lengths.
 *  2. The retry timer is armed whenever queued > 0.
 *  3. settled(pid) is false exactly when pid's list is non-empty.
 *
 * Backoff: the first retry comes 1 ms after a refusal (a group commit usually ends by then and
 * frees the log's budget); every retry round that is refused again doubles the delay up to
 * 1 s; a round that empties the queue resets it.
 */
#include "worker/proposals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "proposals"
#define RETRY_MIN_MS 1
#define RETRY_MAX_MS 1000

struct entry {
    struct entry *next;
    stet_log_append_cb cb;
    void *arg;
    size_t len;
    uint8_t rec[];
};

struct pqueue {
    struct entry *head, *tail;
    uint64_t count;
    uint64_t last_lsn; /* highest LSN appended through the proposer */
};

struct stet_proposals {
    const struct stet_env *env;
    struct stet_proposals_port port;
    struct pqueue *parts;
    uint32_t n_parts;
    uint32_t next_start; /* round robin over partitions in retry rounds */
    struct stet_env_timer *timer;
    bool armed;
    uint64_t delay_ms;
    struct stet_proposals_stats stats;
};

static void retry_cb(void *arg);

int stet_proposals_create(const struct stet_env *env, const struct stet_proposals_port *port,
                          struct stet_proposals **out) {
    struct stet_proposals *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->env = env;
    p->port = *port;
    p->delay_ms = RETRY_MIN_MS;
    p->timer = stet_env_timer_create(env, retry_cb, p);
    if (!p->timer) {
        free(p);
        return -ENOMEM;
    }
    *out = p;
    return 0;
}

static struct pqueue *queue_for(struct stet_proposals *p, uint32_t pid) {
    if (pid >= p->n_parts) {
        uint32_t n = p->n_parts ? p->n_parts : 32;
        while (n <= pid) n *= 2;
        struct pqueue *q = realloc(p->parts, n * sizeof(*q));
        STET_ASSERT(q != NULL);
        memset(q + p->n_parts, 0, (n - p->n_parts) * sizeof(*q));
        p->parts = q;
        p->n_parts = n;
    }
    return &p->parts[pid];
}

/* Unlinks and frees every queued entry of q, telling each callback `status`. */
static void drop_all(struct stet_proposals *p, struct pqueue *q, int status) {
    struct entry *e = q->head;
    q->head = q->tail = NULL;
    p->stats.queued -= q->count;
    p->stats.dropped += q->count;
    q->count = 0;
    while (e) {
        struct entry *next = e->next;
        if (e->cb) e->cb(e->arg, status, 0);
        free(e);
        e = next;
    }
}

void stet_proposals_destroy(struct stet_proposals *p) {
    if (!p) return;
    for (uint32_t i = 0; i < p->n_parts; i++) drop_all(p, &p->parts[i], -ESHUTDOWN);
    stet_env_timer_destroy(p->env, p->timer);
    free(p->parts);
    free(p);
}

static void arm(struct stet_proposals *p) {
    if (p->armed) return;
    p->armed = true;
    stet_env_timer_start(p->env, p->timer, p->delay_ms);
}

static void enqueue(struct stet_proposals *p, struct pqueue *q, const uint8_t *rec, size_t len, stet_log_append_cb cb,
                    void *arg) {
    struct entry *e = malloc(sizeof(*e) + len);
    STET_ASSERT(e != NULL);
    e->next = NULL;
    e->cb = cb;
    e->arg = arg;
    e->len = len;
    memcpy(e->rec, rec, len);
    if (q->tail) q->tail->next = e;
    else q->head = e;
    q->tail = e;
    q->count++;
    p->stats.queued++;
    arm(p);
}

int stet_proposals_submit(struct stet_proposals *p, uint32_t partition_id, const uint8_t *rec, size_t len,
                          stet_log_append_cb cb, void *arg, uint64_t *lsn_out) {
    struct pqueue *q = queue_for(p, partition_id);
    if (lsn_out) *lsn_out = 0;
    if (q->head) {
        /* behind what already waits: order per partition is kept */
        enqueue(p, q, rec, len, cb, arg);
        return 0;
    }
    uint64_t lsn = 0;
    int rc = p->port.append(p->port.ctx, partition_id, rec, len, cb, arg, &lsn);
    if (rc == 0) {
        if (lsn > q->last_lsn) q->last_lsn = lsn;
        if (lsn_out) *lsn_out = lsn;
        return 0;
    }
    if (rc != -ENOBUFS) return rc;
    p->stats.retried++;
    enqueue(p, q, rec, len, cb, arg);
    return 0;
}

/* Appends the queued records of q in order until the log refuses one. Returns 0 when q is
 * empty, -ENOBUFS when the log is still full. Other refusals drop the record (or the queue). */
static int drain_queue(struct stet_proposals *p, uint32_t pid) {
    for (;;) {
        /* re-read every round: a callback below may submit to a new partition (realloc) */
        struct pqueue *q = &p->parts[pid];
        if (!q->head) break;
        struct entry *e = q->head;
        uint64_t lsn = 0;
        int rc = p->port.append(p->port.ctx, pid, e->rec, e->len, e->cb, e->arg, &lsn);
        if (rc == -ENOBUFS) return rc;
        q->head = e->next;
        if (!q->head) q->tail = NULL;
        q->count--;
        p->stats.queued--;
        if (rc == 0) {
            if (lsn > q->last_lsn) q->last_lsn = lsn;
        } else {
            p->stats.dropped++;
            stet_error(MOD, "partition %u: a retried proposal was refused for good (%s); its work waits for the next "
                            "leader", pid, strerror(-rc));
            if (e->cb) e->cb(e->arg, rc, 0);
            if (rc == -EIO || rc == -ESHUTDOWN) {
                free(e);
                drop_all(p, &p->parts[pid], rc);
                return 0;
            }
        }
        free(e);
    }
    return 0;
}

static void retry_cb(void *arg) {
    struct stet_proposals *p = arg;
    p->armed = false;
    bool full = false;
    uint32_t n = p->n_parts;
    for (uint32_t k = 0; k < n && !full; k++) {
        uint32_t pid = (p->next_start + k) % n;
        if (!p->parts[pid].head) continue;
        if (drain_queue(p, pid) == -ENOBUFS) {
            full = true;
            p->next_start = pid; /* this partition goes first next round */
        }
    }
    if (p->stats.queued == 0) {
        p->delay_ms = RETRY_MIN_MS;
        return;
    }
    if (full) {
        p->delay_ms *= 2;
        if (p->delay_ms > RETRY_MAX_MS) p->delay_ms = RETRY_MAX_MS;
    }
    arm(p);
}

bool stet_proposals_settled(const struct stet_proposals *p, uint32_t partition_id, uint64_t *last_lsn) {
    *last_lsn = 0;
    if (partition_id >= p->n_parts) return true; /* nothing was ever proposed there */
    const struct pqueue *q = &p->parts[partition_id];
    if (q->head) return false;
    *last_lsn = q->last_lsn;
    return true;
}

void stet_proposals_cancel_partition(struct stet_proposals *p, uint32_t partition_id) {
    if (partition_id >= p->n_parts) return;
    drop_all(p, &p->parts[partition_id], -ECANCELED);
}

void stet_proposals_stats(const struct stet_proposals *p, struct stet_proposals_stats *out) { *out = p->stats; }

void stet_proposals_check(const struct stet_proposals *p) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < p->n_parts; i++) {
        const struct pqueue *q = &p->parts[i];
        uint64_t c = 0;
        const struct entry *last = NULL;
        for (const struct entry *e = q->head; e; e = e->next) {
            c++;
            last = e;
        }
        STET_ASSERT(c == q->count);
        STET_ASSERT(last == q->tail);
        total += c;
    }
    STET_ASSERT(total == p->stats.queued);
    STET_ASSERT(total == 0 || p->armed);
}
