/* The node port's byte streams: how src/nodeport/peers.c reaches other nodes. A port, so the
 * simulation (issue 13) can replace TCP with an in-process network that delays, drops and
 * partitions; production is transport_tcp.c.
 *
 * A stream is a reliable, ordered byte pipe to one other node (TCP after an HTTP Upgrade on
 * the node port, in production). Outgoing streams come from `connect`; incoming ones are
 * handed to the peers module by whoever accepted them (the node's node-port HTTP handler) and
 * get their event receiver with `attach`.
 *
 * Events (all on the loop thread, never inside connect/write/close):
 *   connected: an outgoing stream is ready (address resolved, connected, upgraded);
 *   data:      bytes arrived (borrowed for the call);
 *   closed:    the stream ended (peer closed, error, timeout); it is freed after the call and
 *              must not be used again.
 * After the owner calls `close`, no event runs any more.
 *
 * Ownership: streams are owned by the transport; the owner holds a pointer from connect/accept
 * until `closed` runs or it calls `close`.
 */
#ifndef STET_NODEPORT_TRANSPORT_H
#define STET_NODEPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct stet_np_stream;

struct stet_np_stream_events {
    void (*connected)(void *user, struct stet_np_stream *s);
    void (*data)(void *user, const uint8_t *data, size_t len);
    void (*closed)(void *user, int status);
};

struct stet_np_transport {
    void *ctx;
    /* Starts a connection to `address` ("http://host:port[/]" or "host:port"): 0 with *out
     * (events follow), or a negative errno (no events). Names resolve asynchronously, again on
     * every connect, with a timeout. */
    int (*connect)(void *ctx, const char *address, const struct stet_np_stream_events *ev, void *user,
                   struct stet_np_stream **out);
    /* Gives an accepted stream its receiver; bytes that arrived before are delivered from the
     * loop afterwards. */
    void (*attach)(void *ctx, struct stet_np_stream *s, const struct stet_np_stream_events *ev, void *user);
    /* Queues bytes (copied): 0, or a negative errno (the stream is closing). */
    int (*write)(void *ctx, struct stet_np_stream *s, const uint8_t *data, size_t len);
    /* Bytes queued and not yet handed to the network. */
    size_t (*queued)(void *ctx, const struct stet_np_stream *s);
    void (*close)(void *ctx, struct stet_np_stream *s);
};

#endif
