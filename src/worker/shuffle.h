/* The shuffle: delivers a led partition's outbox messages to their target partitions.
 *
 * Everything between invocations (calls, sends, call results, signals, attach) leaves a
 * partition through its outbox: the processor writes message `seq` together with the state
 * change that caused it and emits an OUTBOX action. The shuffle reads the message, proposes it
 * to the target partition's log tagged with (source partition + 1, seq) so the target drops
 * duplicates, and once that record is durable proposes OUTBOX_TRUNCATE to the source so the
 * message is deleted. Both proposals go through a port that retries refused appends
 * (src/worker/proposals.h): a message is never stuck in the outbox until the next start.
 * If a proposal is dropped (the partition stopped being led here, shutdown), the message stays
 * in the outbox and the next leader delivers it again (become_leader emits OUTBOX actions).
 */
#ifndef STET_WORKER_SHUFFLE_H
#define STET_WORKER_SHUFFLE_H

#include <stdint.h>

#include "log/log.h"
#include "partition/partition.h"
#include "store/store.h"

struct stet_shuffle_port {
    void *ctx;
    struct stet_store *store; /* the partition store (read only) */
    uint32_t num_partitions;
    /* Proposes r to the log of the partition owning r->id.partition_key; refused appends are
     * retried (cb runs once: 0 durable, < 0 dropped). Returns < 0 when refused for good. */
    int (*propose)(void *ctx, struct stet_record *r, stet_log_append_cb cb, void *arg, uint64_t *lsn_out);
};

struct stet_shuffle_stats {
    uint64_t delivered; /* messages durable in their target log */
    uint64_t truncated; /* truncations proposed */
    uint64_t lost;      /* proposals dropped: left in the outbox for the next leader */
};

struct stet_shuffle;

int stet_shuffle_create(const struct stet_shuffle_port *port, struct stet_shuffle **out);
/* Callbacks of proposals still in flight must have run (drop the proposer first). */
void stet_shuffle_destroy(struct stet_shuffle *s);
/* Outbox message `seq` of partition_id awaits delivery (the partition's OUTBOX action). */
void stet_shuffle_deliver(struct stet_shuffle *s, uint32_t partition_id, uint64_t seq);
void stet_shuffle_stats(const struct stet_shuffle *s, struct stet_shuffle_stats *out);

#endif
