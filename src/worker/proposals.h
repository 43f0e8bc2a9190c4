/* Retried proposals: records that must reach a partition's log even when the log refuses an
 * append for a while.
 *
 * Some records carry work nobody else remembers: a fired timer (the timer scan has moved past
 * it), an outbox delivery or truncation, an attempt's End/Suspension/Paused/Failed effect
 * (the attempt is gone once it ends). If the log refuses such an append (-ENOBUFS: too many
 * unflushed bytes) and the record were dropped, the work would wait for the next start. The
 * proposer keeps a copy and appends it again with backoff (1 ms doubling to 1 s) until the log
 * takes it, or until the partition stops being led here (stet_proposals_cancel_partition) or
 * the log failed for good (-EIO).
 *
 * Order: per partition, records submitted through the proposer reach the log in submission
 * order. While a partition has queued records, new submissions queue behind them even if the
 * log would take them, so an attempt's End never overtakes its last journal entry.
 *
 * Ownership: the proposer copies the bytes at submit; the callback runs exactly once.
 */
#ifndef STET_WORKER_PROPOSALS_H
#define STET_WORKER_PROPOSALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/env.h"
#include "log/log.h"

struct stet_proposals;

/* What the proposer needs: an append to a partition's log with stet_log_append's contract
 * (0 and an LSN, or -ENOBUFS to try later, or another negative errno for good). */
struct stet_proposals_port {
    void *ctx;
    int (*append)(void *ctx, uint32_t partition_id, const uint8_t *rec, size_t len, stet_log_append_cb cb, void *arg,
                  uint64_t *lsn_out);
};

int stet_proposals_create(const struct stet_env *env, const struct stet_proposals_port *port,
                          struct stet_proposals **out);
/* Drops what is still queued (callbacks get -ESHUTDOWN) and frees the proposer. */
void stet_proposals_destroy(struct stet_proposals *p);

/* Proposes rec to partition_id's log. Returns 0 when the record was appended (*lsn_out gets
 * its LSN) or queued for a retry (*lsn_out = 0); cb (may be NULL) then runs exactly once:
 * status 0 with the LSN once durable, or < 0 if it was dropped (-ECANCELED: the partition
 * stopped being led here, -ESHUTDOWN, -EIO: the log failed). Returns a negative errno when
 * the record is refused for good right away (the log failed, too many log ids); cb does not
 * run then. lsn_out may be NULL. */
int stet_proposals_submit(struct stet_proposals *p, uint32_t partition_id, const uint8_t *rec, size_t len,
                          stet_log_append_cb cb, void *arg, uint64_t *lsn_out) __attribute__((warn_unused_result));

/* false while records of partition_id wait in the queue; otherwise true with *last_lsn = the
 * highest LSN appended through the proposer for it: once a submit returned LSN 0, "everything
 * I proposed there is applied" holds when settled and applied >= *last_lsn. */
bool stet_proposals_settled(const struct stet_proposals *p, uint32_t partition_id, uint64_t *last_lsn);

/* The partition stopped being led here: its queued records are dropped (callbacks get
 * -ECANCELED); the next leader re-derives their work from the partition store. */
void stet_proposals_cancel_partition(struct stet_proposals *p, uint32_t partition_id);

struct stet_proposals_stats {
    uint64_t queued;  /* records waiting now */
    uint64_t retried; /* appends refused and queued since the start */
    uint64_t dropped; /* queued records dropped (cancel, shutdown, failed log) */
};
void stet_proposals_stats(const struct stet_proposals *p, struct stet_proposals_stats *out);

/* Asserts the queue's invariants (counts match the lists, the timer is armed while records
 * wait). For tests and the simulator. */
void stet_proposals_check(const struct stet_proposals *p);

#endif
