/* The node port's streams over TCP (transport.h), on the node port itself: node-to-node
 * connections share the listening socket with the HTTP endpoints curl and Prometheus use
 * (/health, /metrics) by an HTTP/1.1 Upgrade:
 *
 *   client: GET /stet/node-port HTTP/1.1 | Host | Connection: Upgrade | Upgrade: stet-node-port
 *   server: HTTP/1.1 101 Switching Protocols | Connection: Upgrade | Upgrade: stet-node-port
 *
 * after which both directions carry node-port frames (frame.h). The server side: the node's
 * HTTP handler takes the socket from the HTTP server (stet_http_request_detach) and adopts it
 * here. Outgoing connections resolve the peer's name with getaddrinfo on the thread pool (a
 * stopped container's name can hang a lookup: RESOLVE_TIMEOUT_MS), connect (CONNECT_TIMEOUT_MS)
 * and upgrade (UPGRADE_TIMEOUT_MS); any failure ends in `closed`. TCP_NODELAY is on.
 */
#ifndef STET_NODEPORT_TRANSPORT_TCP_H
#define STET_NODEPORT_TRANSPORT_TCP_H

#include <stdbool.h>
#include <uv.h>

#include "nodeport/transport.h"

#define STET_NP_UPGRADE_PATH "/stet/node-port"
#define STET_NP_UPGRADE_TOKEN "stet-node-port"

struct stet_np_tcp;

int stet_np_tcp_create(uv_loop_t *loop, struct stet_np_tcp **out);
/* Closes every stream (no events) and frees the transport once its handles are closed (keep
 * running the loop). */
void stet_np_tcp_destroy(struct stet_np_tcp *t);
struct stet_np_transport stet_np_tcp_port(struct stet_np_tcp *t);

/* Adopts a socket taken from the HTTP server after an upgrade request (fd is owned from now
 * on, even on failure), answers 101, and returns the stream; `rest` are bytes already read
 * after the request. 0 or a negative errno. */
int stet_np_tcp_adopt(struct stet_np_tcp *t, int fd, const uint8_t *rest, size_t rest_len,
                      struct stet_np_stream **out);

/* Whether a request is a node-port upgrade (path and Upgrade header). */
struct stet_http_request;
bool stet_np_tcp_is_upgrade(const struct stet_http_request *req);

struct stet_np_tcp_stats {
    uint64_t connects, connect_failures, accepted, bytes_out, bytes_in, open;
};
void stet_np_tcp_stats(const struct stet_np_tcp *t, struct stet_np_tcp_stats *out);

#endif
