/* The payloads of the node port's FORWARD and REPLY frames (frame.h): a request to another node
 * (the metadata leader, or any member) and its answer. Pure codec, fuzzed (fuzz_nodeport_rpc):
 * everything here decodes bytes another process sent.
 *
 *   FORWARD: u64 BE rpc id | u8 op | body
 *   REPLY:   u64 BE rpc id | i32 BE status (0 or a negative errno) | body
 *
 * Bodies by op (src/node/cluster.c serves them):
 *   SUBMIT      request: a metadata command;  reply: u64 index (status 0) or u32 leader hint
 *   READ_INDEX  request: empty;               reply: u64 index of an applied read barrier
 *   INFO        request: empty;               reply: group info (below)
 *   LOG_COPY    request: empty (the metadata group), or u32 group | u8 leader only (a partition
 *               group: -EAGAIN from a member that does not lead it when leader only is set);
 *                                             reply: u64 term | u64 snapshot index (0: none) |
 *                                                    u64 snapshot term | u64 conf index |
 *                                                    u32 conf len | conf | u32 data len | data |
 *                                                    u32 n | n x (u64 term, u8 type, u32 len,
 *                                                    bytes): the sender's snapshot and the
 *                                                    entries after it
 *   PROPOSE     request: u32 partition | an encoded partition record (src/partition/records.c);
 *               reply: u64 LSN once committed and applied on the partition's leader (status 0),
 *               or u32 leader hint (-EAGAIN: not appended; -ECANCELED: appended but lost to a
 *               leader change; both safe to send again)
 *   BARRIER     request: u32 partition; reply: u64 LSN of a read barrier the partition's leader
 *               committed and applied after the request arrived (or u32 leader hint, -EAGAIN)
 *   TASKS       request: empty; reply: the answering node's invoker tasks (below)
 *   MD_PUT, MD_READ: a metadata client's requests to any member (codec in src/metadata/remote.h);
 *               the answer is the body of the reply.
 *   group info: u8 has_group | u64 fingerprint | u8 n | n x u32 voters | u32 leader | u64 last index
 */
#ifndef STET_NODEPORT_RPC_H
#define STET_NODEPORT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum stet_np_op {
    STET_NP_OP_SUBMIT = 1,
    STET_NP_OP_READ_INDEX = 2,
    STET_NP_OP_INFO = 3,
    STET_NP_OP_LOG_COPY = 4,
    STET_NP_OP_MD_PUT = 5,  /* a metadata client's put (body: src/metadata/remote.h) */
    STET_NP_OP_MD_READ = 6, /* a metadata client's read of every key, after a read barrier */
    STET_NP_OP_PROPOSE = 7, /* a record for a partition's leader */
    STET_NP_OP_BARRIER = 8, /* a read barrier of a partition's leader */
    STET_NP_OP_TASKS = 9,   /* the invoker's tasks of a node (another node's /query) */
};

#define STET_NP_MAX_VOTERS 16

struct stet_np_forward {
    uint64_t rpc;
    uint8_t op;
    const uint8_t *body; /* borrowed from the input */
    size_t len;
};

struct stet_np_reply {
    uint64_t rpc;
    int32_t status;
    const uint8_t *body; /* borrowed from the input */
    size_t len;
};

struct stet_np_group_info {
    bool has_group;
    uint64_t fingerprint;
    uint32_t voters[STET_NP_MAX_VOTERS];
    unsigned n_voters;
    uint32_t leader;
    uint64_t last_index;
};

struct stet_np_log_entry {
    uint64_t term;
    uint8_t type;
    const uint8_t *data; /* borrowed from the input */
    uint32_t len;
};

void stet_np_forward_encode(struct stet_buf *out, uint64_t rpc, uint8_t op, const void *body, size_t len);
int stet_np_forward_decode(const uint8_t *p, size_t len, struct stet_np_forward *out); /* 0 or -EPROTO */
void stet_np_reply_encode(struct stet_buf *out, uint64_t rpc, int32_t status, const void *body, size_t len);
int stet_np_reply_decode(const uint8_t *p, size_t len, struct stet_np_reply *out); /* 0 or -EPROTO */

void stet_np_group_info_encode(struct stet_buf *out, const struct stet_np_group_info *g);
int stet_np_group_info_decode(const uint8_t *p, size_t len, struct stet_np_group_info *out); /* 0 or -EPROTO */

struct stet_np_log_copy {
    uint64_t term;
    uint64_t snap_index, snap_term, conf_index; /* snap_index 0: no snapshot */
    const uint8_t *conf, *data;                 /* borrowed from the input */
    uint32_t conf_len, data_len;
    struct stet_np_log_entry *entries; /* malloc'ed by decode (caller frees); the first is at snap_index + 1 */
    uint32_t n;
};
/* LOG_COPY reply body: begin with the term, the snapshot and the entry count, then append each
 * entry. */
void stet_np_log_copy_begin(struct stet_buf *out, const struct stet_np_log_copy *head);
void stet_np_log_copy_append(struct stet_buf *out, uint64_t term, uint8_t type, const void *data, uint32_t len);
/* Decodes the whole body: 0 (entries allocated when n > 0), or -EPROTO (nothing allocated).
 * Terms never exceed the copy's term and never decrease; there is a snapshot or an entry. */
int stet_np_log_copy_decode(const uint8_t *p, size_t len, struct stet_np_log_copy *out);

/* The REPLICAS frame (frame.h): a node's replicas of partitions, sent to every peer about twice
 * a second, so every node can show (and issue 17 can trim by) every replica's progress:
 *   u32 n | n x (u32 partition | u64 applied LSN | u64 durable LSN | u64 flushed LSN)
 * flushed: the applied LSN the node's last store flush covered (durable in its partition store).
 * Partitions strictly increasing; applied <= durable is not required (a replica replaying). */
/* TASKS reply: u32 n | n x (24 bytes invocation id | u8 running | u32 retry count |
 * u64 next retry at ms | u64 last start at ms | u16 len | last failure (UTF-8, no NUL)). */
#define STET_NP_TASKS_MAX 1000000
#define STET_NP_TASK_FAILURE_MAX 511
struct stet_np_task {
    uint8_t id[24];
    bool running;
    uint32_t retry_count;
    uint64_t next_retry_at_ms, last_start_at_ms;
    const char *failure; /* borrowed from the input; not NUL-terminated */
    uint16_t failure_len; /* <= STET_NP_TASK_FAILURE_MAX */
};
void stet_np_tasks_begin(struct stet_buf *out, uint32_t n);
void stet_np_tasks_append(struct stet_buf *out, const struct stet_np_task *t);
/* Checks the whole payload, then calls cb for each task: 0, or -EPROTO (nothing called). */
int stet_np_tasks_decode(const uint8_t *p, size_t len, void (*cb)(void *arg, const struct stet_np_task *t), void *arg);

#define STET_NP_REPLICAS_MAX 65536
struct stet_np_replica_status {
    uint32_t partition;
    uint64_t applied, durable, flushed;
};
void stet_np_replicas_begin(struct stet_buf *out, uint32_t n);
void stet_np_replicas_append(struct stet_buf *out, const struct stet_np_replica_status *r);
/* Calls cb for each entry (after the whole payload checked): 0, or -EPROTO (nothing called). */
int stet_np_replicas_decode(const uint8_t *p, size_t len,
                            void (*cb)(void *arg, const struct stet_np_replica_status *r), void *arg);

#endif
