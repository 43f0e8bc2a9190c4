/* A Stet node: owns the event loop, the store, the log, the partition processors, the
 * invoker, the ingress and the admin API, and wires them together (restate: crates/node).
 *
 * Data flow for one invocation:
 *   ingress ──stet_node_propose(INVOKE)──► log (group commit) ──durable──► partition apply
 *   partition action INVOKE ──► invoker opens an HTTP/2 stream to the deployment
 *   invoker ──stet_node_propose(INVOKER_EFFECT)──► log ──► partition apply ──► NOTIFY /
 *   INGRESS_RESPONSE actions ──► invoker / ingress.
 *
 * Everything runs on one libuv loop thread; only the log's fsync runs on the thread pool.
 */
#ifndef STET_NODE_H
#define STET_NODE_H

#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "log/log.h"
#include "partition/partition.h"
#include "schema/schema.h"
#include "store/store.h"

struct stet_node;

int stet_node_create(const struct stet_config *cfg, struct stet_node **out, char *err, size_t errlen);
/* Runs the loop until SIGINT/SIGTERM; returns the exit code. */
int stet_node_run(struct stet_node *n);
void stet_node_destroy(struct stet_node *n);

/* Appends a record to the log of the partition that owns r->id.partition_key. Stamps
 * timestamp_ms (if 0) and epoch. cb (may be NULL) runs after the record is durable.
 * Returns 0 or a negative errno (log failed / overloaded). */
int stet_node_propose(struct stet_node *n, struct stet_record *r, stet_log_append_cb cb, void *arg,
                      uint64_t *lsn_out) __attribute__((warn_unused_result));
/* Highest applied LSN of the partition owning partition_key. */
uint64_t stet_node_applied_lsn(struct stet_node *n, uint64_t partition_key);
const struct stet_schema *stet_node_schema(struct stet_node *n);
const struct stet_schema_defaults *stet_node_schema_defaults(struct stet_node *n);
struct stet_store *stet_node_store(struct stet_node *n);
const struct stet_env *stet_node_env(struct stet_node *n);
const struct stet_config *stet_node_config(struct stet_node *n);
uv_loop_t *stet_node_loop(struct stet_node *n);
uint64_t stet_node_incarnation(struct stet_node *n);
uint32_t stet_node_num_partitions(struct stet_node *n);

#endif
