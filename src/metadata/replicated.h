/* The replicated metadata store: the stet_metadata contract over a raft group. See
 * replicated.c for the command format and the outcomes of a put (0, -ESTALE, -ECANCELED when
 * leadership changed and the put did not happen, -EAGAIN when this node does not lead). */
#ifndef STET_METADATA_REPLICATED_H
#define STET_METADATA_REPLICATED_H

#include <stddef.h>
#include <stdint.h>

#include "common/env.h"

#include "consensus/consensus.h"
#include "metadata/metadata.h"
#include "store/store.h"

/* done(arg, 0, index): the log took the entry at index; or a negative errno: -EAGAIN (no leader
 * reachable), -ETIMEDOUT, -ESHUTDOWN. May run before the port call returns. */
typedef void (*stet_metadata_replicated_done)(void *arg, int status, uint64_t index);

struct stet_metadata_replicated_ports {
    void *ctx;
    const struct stet_env *env; /* deadlines (a timer) */
    /* Appends a command to the metadata group's log, on this node or through the leader. */
    void (*submit)(void *ctx, const void *data, size_t len, stet_metadata_replicated_done done, void *arg);
    /* An index committed after this call (the leader's barrier: an empty command). */
    void (*read_index)(void *ctx, stet_metadata_replicated_done done, void *arg);
    /* A put won at apply time (any node's): key and its new version. May be NULL. */
    void (*changed)(void *ctx, const char *key, uint64_t version);
    unsigned timeout_ms; /* a put's or sync's deadline; 0 = 5000 */
};

/* store (borrowed) holds the local copy under 'M'; origin (non-zero, random per process start)
 * tags this process's puts. */
int stet_metadata_create_replicated(struct stet_store *store, uint64_t origin,
                                    const struct stet_metadata_replicated_ports *ports, struct stet_metadata **out);
/* A committed entry of the metadata group (the consensus app's apply for that group). */
void stet_metadata_replicated_apply(struct stet_metadata *md, uint64_t index, uint8_t type, const uint8_t *data,
                                    size_t len);
uint64_t stet_metadata_replicated_applied(const struct stet_metadata *md);
/* Every key of the local copy (in key order) with its version and value (borrowed for the
 * call): what a member answers a metadata client's read with. 0 or a negative errno. */
int stet_metadata_replicated_each(struct stet_metadata *md,
                                  void (*cb)(void *arg, const char *key, uint64_t version, const uint8_t *value,
                                             size_t len),
                                  void *arg);

/* Snapshots (the consensus group's snapshot data; format in replicated.c). */
/* Serializes the whole local copy as of its applied index (*index) into out (replacing its
 * contents). 0, or a negative errno (a store read failed). */
int stet_metadata_replicated_snapshot(struct stet_metadata *md, struct stet_buf *out, uint64_t *index);
/* The consensus app's install for the metadata group: when index is above the applied index,
 * the local copy becomes the snapshot's (one store batch), pending puts whose entry it covers
 * fail with -ETIMEDOUT (outcome unknown: the caller re-reads), read barriers it covers
 * complete, and ports.changed runs for every key whose version changed. 0 (also when skipped:
 * index <= applied), -EPROTO for malformed data (nothing changed), or another negative errno. */
int stet_metadata_replicated_install(struct stet_metadata *md, uint64_t index, const uint8_t *data, size_t len);

struct stet_metadata_replicated_stats {
    uint64_t puts, puts_failed, puts_timed_out, puts_cancelled, syncs;
};
void stet_metadata_replicated_stats(const struct stet_metadata *md, struct stet_metadata_replicated_stats *out);

#endif
