/* Metadata store: small named values (the schema registry, later nodes configuration and
 * partition tables) with versioned conditional writes.
 *
 * Model
 *   Each key holds (version, bytes). A key that was never written has version 0. A put
 *   names the version it expects to replace: 0 means "the key must not exist yet". If the
 *   stored version differs, the put fails with -ESTALE and nothing changes; otherwise the
 *   value is stored with version expected + 1. This is the compare-and-swap the Restate
 *   metadata server offers (`put` with a Precondition), so callers are written for a
 *   replicated store from the start: read, compute, put(expected), and on -ESTALE re-read
 *   and recompute.
 *
 * Interface
 *   struct stet_metadata is an ops vtable so that a Raft-replicated implementation can
 *   replace the local one without touching callers. Puts complete through a callback
 *   because a replicated (or fsyncing) write takes time; gets are synchronous reads of the
 *   local copy.
 *
 * Threading: every function is called on the loop thread; callbacks run on it too.
 *
 * Ownership: implementations are created with *_create and released with
 *   stet_metadata_destroy (no puts may be pending). get copies into the caller's buffer;
 *   put copies key and value before returning.
 */
#ifndef STET_METADATA_H
#define STET_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/env.h"
#include "store/store.h"

#define STET_METADATA_KEY_MAX 200

struct stet_metadata;

/* status: 0 stored (new_version = expected_version + 1), -ESTALE version mismatch
 * (new_version = the version actually stored), or another negative errno (I/O). */
typedef void (*stet_metadata_put_cb)(void *arg, int status, uint64_t new_version);
/* status: 0 the local copy has everything committed before the sync began, or a negative
 * errno (-EAGAIN no quorum reachable, -ETIMEDOUT): the local copy may be behind. */
typedef void (*stet_metadata_sync_cb)(void *arg, int status);

struct stet_metadata_ops {
    /* 0 found (value replaced in *value, *version >= 1), 1 not found (*version = 0, value
     * emptied), negative errno on error. */
    int (*get)(struct stet_metadata *md, const char *key, uint64_t *version, struct stet_buf *value);
    /* Conditional write; see the model above. cb runs exactly once. It may run before put
     * returns (local store with an inline env), so callers must not hold state that cb
     * invalidates. Argument errors (empty/too long key) are reported through cb with
     * -EINVAL. */
    void (*put)(struct stet_metadata *md, const char *key, const void *value, size_t len,
                uint64_t expected_version, stet_metadata_put_cb cb, void *arg);
    /* Read barrier for replicated stores (NULL: the local copy is always current). cb runs
     * exactly once, never before sync returns. */
    void (*sync)(struct stet_metadata *md, stet_metadata_sync_cb cb, void *arg);
    void (*destroy)(struct stet_metadata *md);
};

struct stet_metadata {
    const struct stet_metadata_ops *ops;
};

/* Local implementation on a store (borrowed; must outlive the metadata store). Keys live
 * under the prefix 'M' as 'M' + key; values are u64be version + bytes; every write is a
 * store write with sync=true. Puts are applied one at a time in call order.
 * stet_metadata_create_local writes inline on the calling thread (the put callback runs
 * before put returns); stet_metadata_create_local_env runs each write through env->submit
 * so an fsync does not block the loop (env borrowed). Return 0 or -ENOMEM. */
int stet_metadata_create_local(struct stet_store *store, struct stet_metadata **out);
int stet_metadata_create_local_env(struct stet_store *store, const struct stet_env *env, struct stet_metadata **out);

static inline int stet_metadata_get(struct stet_metadata *md, const char *key, uint64_t *version,
                                    struct stet_buf *value) {
    return md->ops->get(md, key, version, value);
}
static inline void stet_metadata_put(struct stet_metadata *md, const char *key, const void *value, size_t len,
                                     uint64_t expected_version, stet_metadata_put_cb cb, void *arg) {
    md->ops->put(md, key, value, len, expected_version, cb, arg);
}
/* Whether reads of md may lag behind writes made through other nodes (then call sync first). */
static inline bool stet_metadata_needs_sync(const struct stet_metadata *md) { return md->ops->sync != NULL; }
static inline void stet_metadata_sync(struct stet_metadata *md, stet_metadata_sync_cb cb, void *arg) {
    md->ops->sync(md, cb, arg);
}
static inline void stet_metadata_destroy(struct stet_metadata *md) {
    if (md != NULL) md->ops->destroy(md);
}

#endif
