/* The replicated metadata store: the stet_metadata contract over a raft group. See
 * replicated.c for the command format and the outcomes of a put (0, -ESTALE, -ECANCELED when
 * leadership changed and the put did not happen, -EAGAIN when this node does not lead). */
#ifndef STET_METADATA_REPLICATED_H
#define STET_METADATA_REPLICATED_H

#include <stdint.h>

#include "consensus/consensus.h"
#include "metadata/metadata.h"
#include "store/store.h"

struct stet_metadata_replicated_ports {
    void *ctx;
    /* Appends a command to the metadata group's log: 0 and *index, -EAGAIN when this node does
     * not lead the group (stet_consensus_submit). */
    int (*submit)(void *ctx, const void *data, size_t len, uint64_t *index);
};

/* store (borrowed) holds the local copy under 'M'; origin (non-zero, random per process start)
 * tags this process's puts. */
int stet_metadata_create_replicated(struct stet_store *store, uint64_t origin,
                                    const struct stet_metadata_replicated_ports *ports, struct stet_metadata **out);
/* A committed entry of the metadata group (the consensus app's apply for that group). */
void stet_metadata_replicated_apply(struct stet_metadata *md, uint64_t index, uint8_t type, const uint8_t *data,
                                    size_t len);
uint64_t stet_metadata_replicated_applied(const struct stet_metadata *md);

#endif
