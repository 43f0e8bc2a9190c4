/* The node port's wire format (issue 12 item 2, first piece): what travels on the one
 * connection between two nodes. Pure codec: no I/O.
 *
 * A connection starts with a HELLO frame from each side; everything after is frames:
 *
 *   u32 LE length (of what follows, 5..max) | u8 kind | u32 LE group | payload
 *
 * kinds: HELLO (handshake), CONSENSUS (a batch for src/consensus, group = 0), PING / PONG
 * (liveness, payload u64 LE nonce), FORWARD (a request forwarded to a leader: payload owned by the
 * caller), REPLY (its answer), REJECT (a refused HELLO: u8 code | reason), RESPONSE (an
 * INGRESS_RESPONSE / ADMIN_RESPONSE action for a request this node holds: src/partition/response.h;
 * group = the partition). Unknown kinds from a newer peer are skipped by length, not fatal.
 *
 * HELLO payload:
 *   u16 LE min version | u16 LE max version | u32 LE node id | u64 LE generation |
 *   u64 LE cluster fingerprint | u8 name length | cluster name | u8 length | node name
 * The two sides use the highest version both support, or close the connection; the cluster
 * name and fingerprint identify (they do not authenticate: README says so).
 *
 * The streaming decoder takes bytes in any chunks and yields whole frames; a frame longer than
 * the configured maximum or a malformed HELLO is an error that closes the connection.
 */
#ifndef STET_NODEPORT_FRAME_H
#define STET_NODEPORT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum stet_np_kind {
    STET_NP_HELLO = 1,
    STET_NP_CONSENSUS = 2,
    STET_NP_PING = 3,
    STET_NP_PONG = 4,
    STET_NP_FORWARD = 5,
    STET_NP_REPLY = 6,
    STET_NP_REJECT = 7, /* the HELLO was refused: u8 code | reason text; the sender closes */
    STET_NP_RESPONSE = 8, /* a partition leader's answer to a request held on the receiving node */
    STET_NP_REPLICAS = 9, /* the sender's partition replicas' progress (rpc.h); group = flags
                             (1: the sender is stopping) */
};

enum stet_np_reject_code {
    STET_NP_REJECT_VERSION = 1,
    STET_NP_REJECT_CLUSTER_NAME = 2,
    STET_NP_REJECT_FINGERPRINT = 3,
    STET_NP_REJECT_NODE_ID = 4,
};

#define STET_NP_VERSION_MIN 1
#define STET_NP_VERSION_MAX 1
#define STET_NP_NAME_MAX 255

struct stet_np_hello {
    uint16_t min_version, max_version;
    uint32_t node_id;
    uint64_t generation;
    uint64_t fingerprint;
    char cluster_name[STET_NP_NAME_MAX + 1];
    char node_name[STET_NP_NAME_MAX + 1];
};

struct stet_np_frame {
    uint8_t kind;
    uint32_t group;
    const uint8_t *payload; /* borrowed from the decoder until the next call */
    size_t len;
};

/* Appends one frame to out. */
void stet_np_frame_encode(struct stet_buf *out, uint8_t kind, uint32_t group, const void *payload, size_t len);
void stet_np_hello_encode(struct stet_buf *out, const struct stet_np_hello *h);
/* Decodes a HELLO frame's payload: 0 or -EPROTO. */
int stet_np_hello_decode(const uint8_t *payload, size_t len, struct stet_np_hello *out);
/* The version two sides speak: the highest both support, or 0 when none. */
uint16_t stet_np_negotiate(const struct stet_np_hello *a, const struct stet_np_hello *b);

struct stet_np_decoder {
    struct stet_buf buf;
    size_t pos;
    size_t max_frame;
};

void stet_np_decoder_init(struct stet_np_decoder *d, size_t max_frame);
void stet_np_decoder_free(struct stet_np_decoder *d);
/* Adds received bytes. */
void stet_np_decoder_feed(struct stet_np_decoder *d, const uint8_t *data, size_t len);
/* 1: *f holds the next frame; 0: more bytes needed; -EMSGSIZE (longer than max_frame) or
 * -EPROTO (shorter than its header): the connection must close. */
int stet_np_decoder_next(struct stet_np_decoder *d, struct stet_np_frame *f);

#endif
