/* The metadata client: the stet_metadata contract for a node without the metadata-server role
 * (restate-cluster.md §2.1). It keeps no copy of its own in the store; it asks a metadata server
 * (any member: each forwards to the raft leader) over the node port, through a port:
 *
 *   PUT  request: u64 BE expected version | u16 BE key length | key | value
 *        answer:  status (0, -ESTALE, -EAGAIN, -ETIMEDOUT, ...) and u64 BE version
 *   READ request: empty; the member passes its read barrier, then
 *        answer:  u32 BE count | count x (u16 BE key length, key, u64 BE version, u32 BE value
 *                 length, value): every key of the metadata store
 *
 * get() reads the last READ's answer (a cache replaced whole); sync() is a READ, so a read after
 * a sync sees every put acknowledged anywhere before the sync began; refresh() (the node calls
 * it about once a second) keeps the cache and its change notifications (ports.changed) moving
 * without requests. A put refreshes the cache when it succeeds, so the node reads its writes.
 * Members to ask come from the port, which fails over between them.
 */
#ifndef STET_METADATA_REMOTE_H
#define STET_METADATA_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "metadata/metadata.h"

enum stet_metadata_remote_op { STET_MD_REMOTE_PUT = 1, STET_MD_REMOTE_READ = 2 };

/* status 0 or a negative errno; body borrowed for the call. */
typedef void (*stet_metadata_remote_done)(void *arg, int status, const uint8_t *body, size_t len);

struct stet_metadata_remote_ports {
    void *ctx;
    /* Sends one request to a metadata server; done runs exactly once, never inside request. */
    void (*request)(void *ctx, uint8_t op, const void *body, size_t len, stet_metadata_remote_done done, void *arg);
    /* A key's version changed in the cache (after a READ): may be NULL. */
    void (*changed)(void *ctx, const char *key, uint64_t version);
};

int stet_metadata_create_remote(const struct stet_metadata_remote_ports *ports, struct stet_metadata **out);
/* A READ without a waiting caller (at most one in flight). */
void stet_metadata_remote_refresh(struct stet_metadata *md);

/* The codec, shared with the serving side (src/node/cluster.c) and fuzzed. */
void stet_metadata_remote_put_encode(struct stet_buf *out, const char *key, const void *value, size_t len,
                                     uint64_t expected);
/* 0 with key copied (NUL-terminated, <= STET_METADATA_KEY_MAX) and value borrowed, or -EPROTO. */
int stet_metadata_remote_put_decode(const uint8_t *p, size_t len, char *key, uint64_t *expected,
                                    const uint8_t **value, size_t *vlen);
/* Appends one key of a READ answer (the caller writes the u32 count first). */
void stet_metadata_remote_read_append(struct stet_buf *out, const char *key, uint64_t version, const void *value,
                                      size_t len);
/* Walks a READ answer: cb per key; 0, or -EPROTO (cb may have run for a prefix). */
int stet_metadata_remote_read_decode(const uint8_t *p, size_t len,
                                     void (*cb)(void *arg, const char *key, uint64_t version, const uint8_t *value,
                                                size_t vlen),
                                     void *arg);

#endif
