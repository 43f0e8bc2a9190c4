/* The consensus storage port (consensus.h) over the node's ordered store (src/store): terms,
 * votes and entries of every raft group in one key range, made durable by one synced store
 * write for all groups (the store's WAL: one fdatasync).
 *
 * Keys (prefix 'C' is owned by this file):
 *   'C' u32 BE group 'v'              -> u64 BE term, u64 BE vote
 *   'C' u32 BE group 'e' u64 BE index -> u64 BE term, u8 type, data
 *   'C' u32 BE group 's'              -> the snapshot record: u64 BE index, u64 BE term,
 *                                        u64 BE configuration index, u32 BE configuration
 *                                        length, configuration, app data
 *
 * Staged writes go into a store batch (not yet written) and into a per-group in-memory copy of
 * the entries not known durable, so `get` sees them at once. `sync` hands the batch to
 * env->submit_short as ONE synchronous store write; writes staged meanwhile fill the next
 * batch. A truncation is a point delete of each staged or stored index from first_index to the
 * group's last index (truncations are rare: conflicting entries after a leader change).
 * A trim is one range deletion of the entry keys up to its index. The snapshot record staged
 * last is kept in memory until the sync that wrote it completes (like entries), so
 * get_snapshot sees it at once.
 */
#ifndef STET_CONSENSUS_STORE_H
#define STET_CONSENSUS_STORE_H

#include <stdbool.h>

#include "common/env.h"
#include "consensus/consensus.h"
#include "store/store.h"

struct stet_consensus_store;

int stet_consensus_store_create(const struct stet_env *env, struct stet_store *store,
                                struct stet_consensus_store **out);
/* No sync may be in flight (drain the loop first). */
void stet_consensus_store_destroy(struct stet_consensus_store *s);
struct stet_consensus_storage stet_consensus_store_port(struct stet_consensus_store *s);
/* A sync is in flight (its done callback has not run yet). */
bool stet_consensus_store_syncing(const struct stet_consensus_store *s);

#endif
