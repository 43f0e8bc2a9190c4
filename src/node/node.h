/* A Stet node: owns the event loop, the store, the log, the worker (partitions), the
 * invoker, the ingress and the admin API, and wires them together through their ports
 * (restate: crates/node). No module calls back into the node: each declares the ports it
 * needs in its own header and node.c fills them in.
 *
 * Data flow for one invocation:
 *   ingress ──ports.propose(INVOKE)──► worker ──► log (group commit) ──durable──► worker's
 *   replica reads (lsn, bytes) ──► partition processor ──actions──► worker (leader role)
 *   action INVOKE ──► invoker opens an HTTP/2 stream to the deployment
 *   invoker ──ports.propose(INVOKER_EFFECT, retried)──► worker ──► log ──► processor ──►
 *   NOTIFY / INGRESS_RESPONSE ──► invoker / response router ──► ingress.
 *
 * Everything runs on one libuv loop thread; only slow fsyncs and store flushes run on the
 * thread pool.
 */
#ifndef STET_NODE_H
#define STET_NODE_H

#include <stdint.h>
#include <uv.h>

#include "config/config.h"

struct stet_node;

int stet_node_create(const struct stet_config *cfg, struct stet_node **out, char *err, size_t errlen);
/* Runs the loop until SIGINT/SIGTERM; returns the exit code. */
int stet_node_run(struct stet_node *n);
void stet_node_destroy(struct stet_node *n);

#endif
