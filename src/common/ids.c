/* Restate identifiers (see ids.h and http-api.md §1.1, service-protocol.md §10.6).
 *
 * String ids are "<prefix>_<version><payload>" with version '1'. The payload of invocation,
 * deployment and subscription ids is fixed-width base62 of integers, where the integer is
 * "byte-swapped": restate calls `to_be()` on a little-endian machine before encoding, so the
 * number's big-endian bytes are read back as a little-endian integer. We work on bytes, so
 * encoding a big-endian byte string b[0..n) means encoding sum(b[i] << 8*i).
 *
 * Parsing mirrors restate's IdDecoder, so the error texts match what the ingress and admin
 * APIs report:
 *   1. empty input                                   "bad length"
 *   2. no '_' separator                              "bad format"
 *   3. prefix not inv/dp/sub/prom/sign/snap          "unrecognized resource type: <prefix>"
 *   4. a known prefix of another id type             "id doesn't match the expected type"
 *   5. version char missing                          "bad length"
 *      version char != '1'                           "unrecognized codec version"
 *   6. payload shorter than the fixed width          "bad length"
 *      invalid base62 char or value out of range     "base62 decode error"
 *   7. extra characters after the payload            "bad length" (restate ignores them for
 *      invocation ids; we reject them so every id has exactly one spelling)
 *
 * Partition keys of keyed targets are xxHash64 (seed 0) of the key bytes, computed by libxxhash
 * (the only file that includes xxhash.h). The value is persisted inside every invocation id,
 * so the function must never change.
 */
#include "common/ids.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "common/assert.h"
#include "common/buf.h"

typedef unsigned __int128 u128;

static const char base62_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

static int base62_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 36;
    return -1;
}

static void base62_encode(u128 v, char *out, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[i] = base62_alphabet[(int)(v % 62)];
        v /= 62;
    }
    STET_ASSERT(v == 0); /* the width always suffices: 62^11 > 2^64, 62^22 > 2^128 */
}

static int base62_decode(const char *in, int width, u128 *v) {
    u128 acc = 0;
    const u128 max = ~(u128)0;
    for (int i = 0; i < width; i++) {
        int d = base62_digit(in[i]);
        if (d < 0) return -EINVAL;
        if (acc > (max - (u128)d) / 62) return -EINVAL;
        acc = acc * 62 + (u128)d;
    }
    *v = acc;
    return 0;
}

/* Big-endian bytes read as a little-endian integer (restate's `to_be()` on x86/arm). */
static u128 swapped_from_bytes(const uint8_t *be, int n) {
    u128 v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | be[i];
    return v;
}

static void swapped_to_bytes(u128 v, uint8_t *be, int n) {
    for (int i = 0; i < n; i++) {
        be[i] = (uint8_t)v;
        v >>= 8;
    }
}

void stet_base62_encode_u64(uint64_t v, char out[11]) {
    uint8_t be[8];
    stet_store_u64be(be, v);
    base62_encode(swapped_from_bytes(be, 8), out, 11);
}

int stet_base62_decode_u64(const char in[11], uint64_t *v) {
    u128 x;
    if (base62_decode(in, 11, &x) != 0 || x > UINT64_MAX) return -EINVAL;
    uint8_t be[8];
    swapped_to_bytes(x, be, 8);
    *v = stet_load_u64be(be);
    return 0;
}

void stet_base62_encode_u128(const uint8_t be[16], char out[22]) { base62_encode(swapped_from_bytes(be, 16), out, 22); }

int stet_base62_decode_u128(const char in[22], uint8_t be[16]) {
    u128 x;
    if (base62_decode(in, 22, &x) != 0) return -EINVAL;
    swapped_to_bytes(x, be, 16);
    return 0;
}

/* ---- prefixed id decoding (restate IdDecoder) ---- */

static _Thread_local char unrecognized_type_reason[96];

static const char *const known_prefixes[] = {"inv", "dp", "sub", "prom", "sign", "snap"};

/* Checks "<prefix>_1" where prefix must be one of `accepted` (count n). On success returns 0,
 * *matched = index into accepted and *payload points after the version char. */
static int decode_header(const char *s, size_t len, const char *const *accepted, int n, int *matched,
                         const char **payload, const char **reason) {
    if (len == 0) {
        *reason = "bad length";
        return -EINVAL;
    }
    const char *sep = memchr(s, '_', len);
    if (sep == NULL) {
        *reason = "bad format";
        return -EINVAL;
    }
    size_t prefix_len = (size_t)(sep - s);
    bool known = false;
    for (size_t i = 0; i < STET_ARRAY_LEN(known_prefixes); i++) {
        if (strlen(known_prefixes[i]) == prefix_len && memcmp(known_prefixes[i], s, prefix_len) == 0) known = true;
    }
    if (!known) {
        int shown = prefix_len > 48 ? 48 : (int)prefix_len;
        snprintf(unrecognized_type_reason, sizeof(unrecognized_type_reason), "unrecognized resource type: %.*s",
                 shown, s);
        *reason = unrecognized_type_reason;
        return -EINVAL;
    }
    *matched = -1;
    for (int i = 0; i < n; i++) {
        if (strlen(accepted[i]) == prefix_len && memcmp(accepted[i], s, prefix_len) == 0) *matched = i;
    }
    if (*matched < 0) {
        *reason = "id doesn't match the expected type";
        return -EINVAL;
    }
    size_t rest = len - prefix_len - 1;
    if (rest == 0) {
        *reason = "bad length";
        return -EINVAL;
    }
    if (sep[1] != '1') {
        *reason = "unrecognized codec version";
        return -EINVAL;
    }
    *payload = sep + 2;
    return 0;
}

/* ---- invocation ids ---- */

void stet_invocation_id_to_bytes(const struct stet_invocation_id *id, uint8_t out[24]) {
    STET_ASSERT(id != NULL && out != NULL);
    stet_store_u64be(out, id->partition_key);
    memcpy(out + 8, id->uuid, 16);
}

void stet_invocation_id_from_bytes(const uint8_t in[24], struct stet_invocation_id *id) {
    STET_ASSERT(id != NULL && in != NULL);
    id->partition_key = stet_load_u64be(in);
    memcpy(id->uuid, in + 8, 16);
}

void stet_invocation_id_format(const struct stet_invocation_id *id, char out[STET_INVOCATION_ID_STRLEN + 1]) {
    STET_ASSERT(id != NULL && out != NULL);
    memcpy(out, "inv_1", 5);
    stet_base62_encode_u64(id->partition_key, out + 5);
    stet_base62_encode_u128(id->uuid, out + 16);
    out[STET_INVOCATION_ID_STRLEN] = '\0';
}

int stet_invocation_id_parse(const char *s, size_t len, struct stet_invocation_id *out, const char **reason) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(out != NULL);
    const char *unused_reason;
    if (reason == NULL) reason = &unused_reason;
    static const char *const accepted[] = {"inv"};
    int matched;
    const char *payload;
    int rc = decode_header(s, len, accepted, 1, &matched, &payload, reason);
    if (rc != 0) return rc;
    size_t payload_len = len - (size_t)(payload - s);
    struct stet_invocation_id id;
    if (payload_len < 11) goto bad_length;
    if (stet_base62_decode_u64(payload, &id.partition_key) != 0) goto bad_codec;
    if (payload_len < 33) goto bad_length;
    if (stet_base62_decode_u128(payload + 11, id.uuid) != 0) goto bad_codec;
    if (payload_len != 33) goto bad_length;
    *out = id;
    return 0;
bad_length:
    *reason = "bad length";
    return -EINVAL;
bad_codec:
    *reason = "base62 decode error";
    return -EINVAL;
}

int stet_invocation_id_cmp(const struct stet_invocation_id *a, const struct stet_invocation_id *b) {
    if (a->partition_key != b->partition_key) return a->partition_key < b->partition_key ? -1 : 1;
    int c = memcmp(a->uuid, b->uuid, 16);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

/* ---- deployment ids ---- */

void stet_deployment_id_format(const uint8_t id[16], char out[STET_DEPLOYMENT_ID_STRLEN + 1]) {
    STET_ASSERT(id != NULL && out != NULL);
    memcpy(out, "dp_1", 4);
    stet_base62_encode_u128(id, out + 4);
    out[STET_DEPLOYMENT_ID_STRLEN] = '\0';
}

int stet_deployment_id_parse(const char *s, size_t len, uint8_t out[16]) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(out != NULL);
    static const char *const accepted[] = {"dp"};
    int matched;
    const char *payload, *reason;
    if (decode_header(s, len, accepted, 1, &matched, &payload, &reason) != 0) return -EINVAL;
    if (len != STET_DEPLOYMENT_ID_STRLEN) return -EINVAL;
    return stet_base62_decode_u128(payload, out);
}

/* ---- base64url ---- */

static const char base64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t stet_base64url_encode(const uint8_t *in, size_t len, char *out, size_t outlen) {
    STET_ASSERT(in != NULL || len == 0);
    size_t need = (len / 3) * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
    STET_ASSERT(out != NULL && outlen >= need + 1);
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = base64url_alphabet[(v >> 18) & 63];
        out[o++] = base64url_alphabet[(v >> 12) & 63];
        out[o++] = base64url_alphabet[(v >> 6) & 63];
        out[o++] = base64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = base64url_alphabet[(v >> 18) & 63];
        out[o++] = base64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = base64url_alphabet[(v >> 18) & 63];
        out[o++] = base64url_alphabet[(v >> 12) & 63];
        out[o++] = base64url_alphabet[(v >> 6) & 63];
    }
    STET_ASSERT(o == need);
    out[o] = '\0';
    return o;
}

static int base64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int stet_base64url_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen) {
    STET_ASSERT(in != NULL || len == 0);
    STET_ASSERT(outlen != NULL);
    /* Padding is optional, but if present it must complete the last quantum exactly. */
    size_t data_len = len;
    while (data_len > 0 && in[data_len - 1] == '=') data_len--;
    if (data_len != len) {
        if (len % 4 != 0 || len - data_len > 2) return -EINVAL;
    }
    if (data_len % 4 == 1) return -EINVAL;
    size_t need = (data_len / 4) * 3 + (data_len % 4 == 0 ? 0 : data_len % 4 - 1);
    if (need > outcap) return -EINVAL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data_len; i++) {
        int v = base64url_value(in[i]);
        if (v < 0) return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return -EINVAL; /* non-canonical: trailing bits must be zero */
    STET_ASSERT(o == need);
    *outlen = o;
    return 0;
}

/* ---- awakeable / signal ids ---- */

void stet_awakeable_id_format(const uint8_t inv_bytes[24], uint32_t signal_idx, char *out, size_t outlen) {
    STET_ASSERT(inv_bytes != NULL && out != NULL);
    STET_ASSERT(outlen > STET_AWAKEABLE_ID_STRLEN);
    uint8_t raw[28];
    memcpy(raw, inv_bytes, 24);
    stet_store_u32be(raw + 24, signal_idx);
    memcpy(out, "sign_1", 6);
    size_t n = stet_base64url_encode(raw, sizeof(raw), out + 6, outlen - 6);
    STET_ASSERT(n + 6 == STET_AWAKEABLE_ID_STRLEN);
}

int stet_awakeable_id_parse(const char *s, size_t len, struct stet_invocation_id *inv, uint32_t *idx, bool *legacy,
                            const char **reason) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(inv != NULL && idx != NULL && legacy != NULL);
    const char *unused_reason;
    if (reason == NULL) reason = &unused_reason;
    static const char *const accepted[] = {"sign", "prom"};
    int matched;
    const char *payload;
    int rc = decode_header(s, len, accepted, 2, &matched, &payload, reason);
    if (rc != 0) return rc;
    uint8_t raw[64];
    size_t raw_len;
    size_t payload_len = len - (size_t)(payload - s);
    if (payload_len > 80) {
        *reason = "bad length";
        return -EINVAL;
    }
    if (stet_base64url_decode(payload, payload_len, raw, sizeof(raw), &raw_len) != 0) {
        *reason = "base62 decode error"; /* restate maps base64 errors to IdDecodeError::Codec */
        return -EINVAL;
    }
    if (raw_len != 28) {
        *reason = "bad length";
        return -EINVAL;
    }
    stet_invocation_id_from_bytes(raw, inv);
    *idx = stet_load_u32be(raw + 24);
    *legacy = matched == 1;
    return 0;
}

/* ---- ULIDs ---- */

static const char crockford_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void stet_ulid_make(uint64_t now_ms, uint64_t rand_hi, uint64_t rand_lo, uint8_t out[16]) {
    STET_ASSERT(out != NULL);
    now_ms &= (((uint64_t)1) << 48) - 1;
    for (int i = 0; i < 6; i++) out[i] = (uint8_t)(now_ms >> (8 * (5 - i)));
    out[6] = (uint8_t)(rand_hi >> 8);
    out[7] = (uint8_t)rand_hi;
    stet_store_u64be(out + 8, rand_lo);
}

void stet_ulid_format(const uint8_t ulid[16], char out[27]) {
    STET_ASSERT(ulid != NULL && out != NULL);
    u128 v = 0;
    for (int i = 0; i < 16; i++) v = (v << 8) | ulid[i];
    for (int i = 25; i >= 0; i--) {
        out[i] = crockford_alphabet[(int)(v & 31)];
        v >>= 5;
    }
    out[26] = '\0';
}

static int crockford_value(char c) {
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    const char *p = c == '\0' ? NULL : strchr(crockford_alphabet, c);
    return p == NULL ? -1 : (int)(p - crockford_alphabet);
}

int stet_ulid_parse(const char *s, size_t len, uint8_t out[16]) {
    STET_ASSERT(s != NULL || len == 0);
    STET_ASSERT(out != NULL);
    if (len != 26) return -EINVAL;
    u128 v = 0;
    for (size_t i = 0; i < 26; i++) {
        int d = crockford_value(s[i]);
        if (d < 0) return -EINVAL;
        if (i == 0 && d > 7) return -EINVAL; /* 26 * 5 = 130 bits: the top 2 must be zero */
        v = (v << 5) | (u128)d;
    }
    for (int i = 15; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
    return 0;
}

/* ---- hashing ---- */

void stet_sha256(const void *data, size_t len, uint8_t out[32]) {
    STET_ASSERT(data != NULL || len == 0);
    STET_ASSERT(out != NULL);
    unsigned int out_len = 0;
    static const uint8_t empty = 0;
    int ok = EVP_Digest(len == 0 ? &empty : data, len, out, &out_len, EVP_sha256(), NULL);
    STET_ASSERT(ok == 1);
    STET_ASSERT(out_len == 32);
}

static void sha256_first16(const struct stet_buf *b, uint8_t out[16]) {
    uint8_t digest[32];
    stet_sha256(b->data, b->len, digest);
    memcpy(out, digest, 16);
}

void stet_uuid_for_workflow(const char *service, size_t slen, const char *key, size_t klen, uint8_t out[16]) {
    STET_ASSERT(service != NULL && out != NULL);
    STET_ASSERT(key != NULL || klen == 0);
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append(&b, "wf,", 3);
    stet_buf_append(&b, service, slen);
    stet_buf_append_byte(&b, ',');
    stet_buf_append(&b, key, klen);
    sha256_first16(&b, out);
    stet_buf_free(&b);
}

void stet_uuid_for_idempotency(const char *service, size_t slen, const char *key, size_t klen, const char *handler,
                               size_t hlen, const char *idem, size_t ilen, uint8_t out[16]) {
    /* empty names may come as NULL (a hostile or malformed record must not abort the node) */
    STET_ASSERT((service != NULL || slen == 0) && (handler != NULL || hlen == 0) && (idem != NULL || ilen == 0) &&
                out != NULL);
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append(&b, "ik,", 3);
    stet_buf_append(&b, service, slen);
    if (key != NULL) {
        stet_buf_append_byte(&b, ',');
        stet_buf_append(&b, key, klen);
    }
    stet_buf_append_byte(&b, ',');
    stet_buf_append(&b, handler, hlen);
    stet_buf_append_byte(&b, ',');
    stet_buf_append(&b, idem, ilen);
    sha256_first16(&b, out);
    stet_buf_free(&b);
}

/* libxxhash's XXH64, the same function restate uses for partition keys. The known-answer
 * vectors in tests/unit/test_ids.c pin its output: partition keys inside invocation ids and
 * the WAL's record checksums are on disk. */
uint64_t stet_xxhash64(const void *data, size_t len, uint64_t seed) {
    STET_ASSERT(data != NULL || len == 0);
    return (uint64_t)XXH64(len > 0 ? data : "", len, (XXH64_hash_t)seed);
}

uint64_t stet_partition_key_for_key(const void *key, size_t len) { return stet_xxhash64(key, len, 0); }
