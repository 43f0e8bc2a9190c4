/* Restate identifiers and the hashing/encoding primitives behind them.
 *
 * Invocation ids (http-api.md §1.1): 24 bytes = partition key (u64 big-endian) || 16-byte
 * uuid. String form "inv_" + version '1' + base62(pk) in 11 chars + base62(uuid as u128)
 * in 22 chars, 38 chars total. Restate's base62 encodes the "byte-swapped" integer: the
 * big-endian bytes of the number read as a little-endian integer; digits are written most
 * significant first, left-padded with '0' to the fixed width; alphabet 0-9, a-z, A-Z.
 * Deployment ids: "dp_" + '1' + 22 base62 chars of a u128.
 * Awakeable/signal ids (service-protocol.md §10.6): "sign_1" + base64url_nopad(24 invocation
 * id bytes || u32be signal index); the legacy "prom_1" prefix has the same layout.
 * ULIDs: 48-bit ms timestamp + 80 random bits, 26 Crockford base32 chars.
 * Deterministic uuids for workflows and idempotent requests: first 16 bytes of SHA-256 over
 * the inputs (see ids.c for the exact byte layout).
 * Partition keys of keyed targets: xxHash64 (seed 0) of the key bytes. This must never
 * change once data exists.
 *
 * All functions are pure; outputs are caller-provided buffers. This module (ids.c) is the
 * only file that includes OpenSSL headers.
 */
#ifndef STET_IDS_H
#define STET_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stet_invocation_id {
    uint64_t partition_key;
    uint8_t uuid[16];
};

#define STET_INVOCATION_ID_BYTES 24
#define STET_INVOCATION_ID_STRLEN 38 /* "inv_1" + 11 + 22 */

void stet_invocation_id_to_bytes(const struct stet_invocation_id *id, uint8_t out[24]); /* pk BE then uuid */
void stet_invocation_id_from_bytes(const uint8_t in[24], struct stet_invocation_id *id);
/* Writes 38 chars + NUL. */
void stet_invocation_id_format(const struct stet_invocation_id *id, char out[STET_INVOCATION_ID_STRLEN + 1]);
/* Returns 0 or -EINVAL with *reason (may pass NULL) set to Restate's IdDecodeError text,
 * checked in Restate's order: "bad length" (empty, or too short/long), "bad format" (no '_'),
 * "unrecognized resource type: <prefix>" (unknown prefix; thread-local buffer valid until the
 * next call on this thread), "id doesn't match the expected type" (a known non-"inv" prefix),
 * "unrecognized codec version" (version char != '1', e.g. "inv_bogus"),
 * "base62 decode error" (bad char or overflow). Other reasons are static strings. */
int stet_invocation_id_parse(const char *s, size_t len, struct stet_invocation_id *out, const char **reason);
/* Orders by partition key, then uuid bytes (= memcmp of the 24-byte form). */
int stet_invocation_id_cmp(const struct stet_invocation_id *a, const struct stet_invocation_id *b);

/* deployment ids dp_1 + 22 base62 chars of a u128 (same byte-swapped base62 rule) */
#define STET_DEPLOYMENT_ID_STRLEN 26
void stet_deployment_id_format(const uint8_t id[16], char out[STET_DEPLOYMENT_ID_STRLEN + 1]);
int stet_deployment_id_parse(const char *s, size_t len, uint8_t out[16]); /* 0 or -EINVAL */

/* awakeable/signal ids: "sign_1" + base64url_nopad(24 id bytes || u32be idx) = 44 chars;
 * also parse legacy "prom_1" (same layout). */
#define STET_AWAKEABLE_ID_STRLEN 44
/* outlen must be > STET_AWAKEABLE_ID_STRLEN (asserted). */
void stet_awakeable_id_format(const uint8_t inv_bytes[24], uint32_t signal_idx, char *out, size_t outlen);
/* Returns 0 or -EINVAL with *reason (may pass NULL; same texts as invocation ids, base64
 * errors are "base62 decode error" as in Restate, a payload that is not 28 bytes is
 * "bad length"). *legacy is true for "prom_1". */
int stet_awakeable_id_parse(const char *s, size_t len, struct stet_invocation_id *inv, uint32_t *idx,
                            bool *legacy, const char **reason);

/* ULIDs: 48-bit ms timestamp + 80 random bits; 16 bytes; string = 26-char Crockford base32 */
void stet_ulid_make(uint64_t now_ms, uint64_t rand_hi, uint64_t rand_lo, uint8_t out[16]);
void stet_ulid_format(const uint8_t ulid[16], char out[27]);
int stet_ulid_parse(const char *s, size_t len, uint8_t out[16]); /* 0 or -EINVAL, case-insensitive */

/* deterministic ids (http-api.md §1.1): first 16 bytes of SHA-256 ... */
void stet_uuid_for_workflow(const char *service, size_t slen, const char *key, size_t klen, uint8_t out[16]);
void stet_uuid_for_idempotency(const char *service, size_t slen, const char *key,
                               size_t klen /* key may be NULL = unkeyed */, const char *handler, size_t hlen,
                               const char *idem, size_t ilen, uint8_t out[16]);

/* Partition key of a keyed target: xxHash64 (seed 0) of the key bytes. Fixed forever. */
uint64_t stet_partition_key_for_key(const void *key, size_t len);
uint64_t stet_xxhash64(const void *data, size_t len, uint64_t seed);

void stet_sha256(const void *data, size_t len, uint8_t out[32]); /* via libcrypto EVP */

/* no padding; returns chars written (NUL-terminated if room: outlen must be >= 4*ceil(len/3)+1,
 * asserted). */
size_t stet_base64url_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
/* accepts with or without padding; 0 or -EINVAL (bad char, bad length, too small outcap) */
int stet_base64url_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen);

/* Restate base62 of the byte-swapped integer (see above). Alphabet 0-9a-zA-Z. */
void stet_base62_encode_u64(uint64_t v, char out[11]);
int stet_base62_decode_u64(const char in[11], uint64_t *v);          /* 0 or -EINVAL */
void stet_base62_encode_u128(const uint8_t be[16], char out[22]);    /* be = big-endian u128 */
int stet_base62_decode_u128(const char in[22], uint8_t be[16]);      /* 0 or -EINVAL */

#endif
