/* Tests for src/common/ids.c: vectors captured from restate-server 1.7.12 traces
 * (/work/shared/reference/traces) and http-api.md §1.1, plus error paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"

static void hex_to_bytes(const char *hex, uint8_t *out, size_t n) {
    assert_int_equal(strlen(hex), n * 2);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* (24 raw bytes, string) pairs from the StartMessage of the v6 traces. */
static const struct {
    const char *hex;
    const char *str;
} trace_ids[] = {
    {"3f6a4e5d0bec84a51e929f81eef4789e37d7319fe93776d0", "inv_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaa"},
    {"0208d51895a2b6dc21556f68b3b8540da4a8ef382e94c429", "inv_1iWQQq48fzCW1gOwngPhL1ya0KNpuo9jeV"},
    {"12969d8632bad96263f7226be6f84d8da18fc10d0e52c7d5", "inv_18ub5BF6kjyG6voseuEyhqPntd0l3C6AYX"},
    {"4647fc5c894517b1a927b916afbc18fb72eaa499390a1b6d", "inv_1fcElpmDcvIi3jSwis2uXehcVnQhffaHFf"},
    {"5402245c23044f910eb6cb33daee2387125e7767bb91fbde", "inv_1cttqfy89hGI6MLgn4wpfPabcJbzJnpcLQ"},
    {"5402245c23044f9119b301bcdbf7278372b027abeca4035b", "inv_1cttqfy89hGI2LJXXPdKwIQhAZosF6CfUZ"},
    {"50f4ca91a381a50290299c935126f24f19e2aa744e7cda79", "inv_10e5pBMGXYVa3HVV1woHkz9CevibvtpBkY"},
};

static void test_invocation_id_trace_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(trace_ids) / sizeof(trace_ids[0]); i++) {
        uint8_t raw[24], back[24];
        hex_to_bytes(trace_ids[i].hex, raw, 24);
        struct stet_invocation_id id;
        stet_invocation_id_from_bytes(raw, &id);
        char s[STET_INVOCATION_ID_STRLEN + 1];
        stet_invocation_id_format(&id, s);
        assert_string_equal(s, trace_ids[i].str);
        assert_int_equal(strlen(s), STET_INVOCATION_ID_STRLEN);

        struct stet_invocation_id parsed;
        const char *reason = NULL;
        assert_int_equal(stet_invocation_id_parse(trace_ids[i].str, strlen(trace_ids[i].str), &parsed, &reason), 0);
        assert_int_equal(stet_invocation_id_cmp(&parsed, &id), 0);
        stet_invocation_id_to_bytes(&parsed, back);
        assert_memory_equal(raw, back, 24);
    }
}

static void test_invocation_id_http_api_example(void **state) {
    (void)state;
    const char *s = "inv_12RpYcEXsHAb6nYlc5mE4oTbcV1E8MCf9F";
    struct stet_invocation_id id;
    assert_int_equal(stet_invocation_id_parse(s, strlen(s), &id, NULL), 0);
    assert_true(id.partition_key == 4540985286643766305ULL);
    char back[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&id, back);
    assert_string_equal(back, s);
}

static void test_invocation_id_extremes(void **state) {
    (void)state;
    struct stet_invocation_id zero = {0}, max, parsed;
    memset(&max, 0xff, sizeof(max));
    char s[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&zero, s);
    assert_string_equal(s, "inv_1000000000000000000000000000000000");
    assert_int_equal(stet_invocation_id_parse(s, strlen(s), &parsed, NULL), 0);
    assert_int_equal(stet_invocation_id_cmp(&parsed, &zero), 0);
    stet_invocation_id_format(&max, s);
    assert_int_equal(stet_invocation_id_parse(s, strlen(s), &parsed, NULL), 0);
    assert_int_equal(stet_invocation_id_cmp(&parsed, &max), 0);
    assert_true(stet_invocation_id_cmp(&zero, &max) < 0);
    assert_true(stet_invocation_id_cmp(&max, &zero) > 0);
    /* partition key dominates the ordering */
    struct stet_invocation_id a = {.partition_key = 1}, b = {.partition_key = 2};
    a.uuid[0] = 0xff;
    assert_true(stet_invocation_id_cmp(&a, &b) < 0);
}

static void expect_inv_error(const char *s, const char *want) {
    struct stet_invocation_id id;
    const char *reason = NULL;
    assert_int_equal(stet_invocation_id_parse(s, strlen(s), &id, &reason), -EINVAL);
    assert_non_null(reason);
    assert_string_equal(reason, want);
}

static void test_invocation_id_errors(void **state) {
    (void)state;
    expect_inv_error("", "bad length");
    expect_inv_error("xyz", "bad format");
    expect_inv_error("inv_bogus", "unrecognized codec version");
    expect_inv_error("inv_2ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaa", "unrecognized codec version");
    expect_inv_error("inv_", "bad length");
    expect_inv_error("inv_1", "bad length");
    expect_inv_error("inv_1ed3pgwJSRZ", "bad length");
    expect_inv_error("inv_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoa", "bad length");
    expect_inv_error("inv_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaaa", "bad length");
    expect_inv_error("inv_1ed3pgwJ-RZ56lmqEPxyLXyKh4FagXJoaa", "base62 decode error");
    expect_inv_error("inv_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJo!a", "base62 decode error");
    /* 11 x 'Z' is > 2^64 */
    expect_inv_error("inv_1ZZZZZZZZZZZ56lmqEPxyLXyKh4FagXJoaa", "base62 decode error");
    expect_inv_error("inv_1ed3pgwJSRZZZZZZZZZZZZZZZZZZZZZZZZ", "base62 decode error");
    expect_inv_error("dp_11KtnKBN2zjPWodnT5O7Ibv", "id doesn't match the expected type");
    expect_inv_error("sign_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAEQ", "id doesn't match the expected type");
    expect_inv_error("foo_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaa", "unrecognized resource type: foo");
    expect_inv_error("_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaa", "unrecognized resource type: ");
    /* reason may be NULL */
    struct stet_invocation_id id;
    assert_int_equal(stet_invocation_id_parse("x", 1, &id, NULL), -EINVAL);
}

static void test_deployment_id(void **state) {
    (void)state;
    const char *s = "dp_11KtnKBN2zjPWodnT5O7Ibv";
    uint8_t id[16];
    assert_int_equal(stet_deployment_id_parse(s, strlen(s), id), 0);
    char back[STET_DEPLOYMENT_ID_STRLEN + 1];
    stet_deployment_id_format(id, back);
    assert_string_equal(back, s);
    assert_int_equal(strlen(back), STET_DEPLOYMENT_ID_STRLEN);

    uint8_t ulid[16];
    stet_ulid_make(1700000000000ULL, 0x1234, 0x0123456789abcdefULL, ulid);
    stet_deployment_id_format(ulid, back);
    assert_int_equal(strncmp(back, "dp_1", 4), 0);
    assert_int_equal(stet_deployment_id_parse(back, strlen(back), id), 0);
    assert_memory_equal(id, ulid, 16);

    assert_int_equal(stet_deployment_id_parse("xyz", 3, id), -EINVAL);
    assert_int_equal(stet_deployment_id_parse("dp_21KtnKBN2zjPWodnT5O7Ibv", 26, id), -EINVAL);
    assert_int_equal(stet_deployment_id_parse("dp_11KtnKBN2zjPWodnT5O7Ib", 25, id), -EINVAL);
    assert_int_equal(stet_deployment_id_parse("dp_11KtnKBN2zjPWodnT5O7Ibvv", 27, id), -EINVAL);
    assert_int_equal(stet_deployment_id_parse("dp_11KtnKBN2zjPWodnT5O7Ib*", 26, id), -EINVAL);
    assert_int_equal(stet_deployment_id_parse("inv_1KtnKBN2zjPWodnT5O7Ibv", 26, id), -EINVAL);
    assert_int_equal(stet_deployment_id_parse("", 0, id), -EINVAL);
}

static void test_awakeable_id_vectors(void **state) {
    (void)state;
    static const struct {
        const char *hex;
        uint32_t idx;
        const char *str;
    } cases[] = {
        {"4647fc5c894517b1a927b916afbc18fb72eaa499390a1b6d", 17, "sign_1Rkf8XIlFF7GpJ7kWr7wY-3LqpJk5ChttAAAAEQ"},
        {"3f6a4e5d0bec84a51e929f81eef4789e37d7319fe93776d0", 17, "sign_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAEQ"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t raw[24], back[24];
        hex_to_bytes(cases[i].hex, raw, 24);
        char s[STET_AWAKEABLE_ID_STRLEN + 1];
        stet_awakeable_id_format(raw, cases[i].idx, s, sizeof(s));
        assert_string_equal(s, cases[i].str);

        struct stet_invocation_id inv;
        uint32_t idx = 0;
        bool legacy = true;
        const char *reason = NULL;
        assert_int_equal(stet_awakeable_id_parse(s, strlen(s), &inv, &idx, &legacy, &reason), 0);
        assert_int_equal(idx, cases[i].idx);
        assert_false(legacy);
        stet_invocation_id_to_bytes(&inv, back);
        assert_memory_equal(raw, back, 24);

        /* legacy prefix, same layout */
        char prom[64];
        snprintf(prom, sizeof(prom), "prom_1%s", s + 6);
        assert_int_equal(stet_awakeable_id_parse(prom, strlen(prom), &inv, &idx, &legacy, &reason), 0);
        assert_true(legacy);
        assert_int_equal(idx, cases[i].idx);
        stet_invocation_id_to_bytes(&inv, back);
        assert_memory_equal(raw, back, 24);

        /* padded base64 is accepted too */
        char padded[64];
        snprintf(padded, sizeof(padded), "%s==", s);
        assert_int_equal(stet_awakeable_id_parse(padded, strlen(padded), &inv, &idx, &legacy, &reason), 0);
    }
    /* the debug id of the same invocation matches */
    struct stet_invocation_id inv;
    uint32_t idx;
    bool legacy;
    const char *s = "sign_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAEQ";
    assert_int_equal(stet_awakeable_id_parse(s, strlen(s), &inv, &idx, &legacy, NULL), 0);
    char inv_s[STET_INVOCATION_ID_STRLEN + 1];
    stet_invocation_id_format(&inv, inv_s);
    assert_string_equal(inv_s, "inv_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaa");
}

static void expect_awk_error(const char *s, const char *want) {
    struct stet_invocation_id inv;
    uint32_t idx;
    bool legacy;
    const char *reason = NULL;
    assert_int_equal(stet_awakeable_id_parse(s, strlen(s), &inv, &idx, &legacy, &reason), -EINVAL);
    assert_non_null(reason);
    assert_string_equal(reason, want);
}

static void test_awakeable_id_errors(void **state) {
    (void)state;
    expect_awk_error("", "bad length");
    expect_awk_error("sign1abc", "bad format");
    expect_awk_error("sig_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAEQ", "unrecognized resource type: sig");
    expect_awk_error("inv_1ed3pgwJSRZ56lmqEPxyLXyKh4FagXJoaa", "id doesn't match the expected type");
    expect_awk_error("sign_2P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAEQ", "unrecognized codec version");
    expect_awk_error("sign_", "bad length");
    expect_awk_error("sign_1P2pOXQvshKUekp+B7vR4njfXMZ_pN3bQAAAAEQ", "base62 decode error");
    expect_awk_error("sign_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAE", "base62 decode error"); /* trailing bits */
    expect_awk_error("sign_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAA", "bad length");            /* 27 bytes */
    expect_awk_error("sign_1P2pOXQvshKUekp-B7vR4njfXMZ_pN3bQAAAAEQAA", "bad length");        /* 29 bytes */
    expect_awk_error("sign_1", "bad length");
}

static void test_base64url(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
                 {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        size_t n = stet_base64url_encode((const uint8_t *)cases[i].in, strlen(cases[i].in), out, sizeof(out));
        assert_int_equal(n, strlen(cases[i].out));
        assert_string_equal(out, cases[i].out);
        uint8_t dec[32];
        size_t dlen = 99;
        assert_int_equal(stet_base64url_decode(out, n, dec, sizeof(dec), &dlen), 0);
        assert_int_equal(dlen, strlen(cases[i].in));
        assert_memory_equal(dec, cases[i].in, dlen);
    }
    uint8_t dec[8];
    size_t dlen;
    assert_int_equal(stet_base64url_decode("Zm8=", 4, dec, sizeof(dec), &dlen), 0);
    assert_int_equal(dlen, 2);
    assert_int_equal(stet_base64url_decode("Zg==", 4, dec, sizeof(dec), &dlen), 0);
    assert_int_equal(dlen, 1);
    assert_int_equal(stet_base64url_decode("Zg=", 3, dec, sizeof(dec), &dlen), -EINVAL);  /* bad padding */
    assert_int_equal(stet_base64url_decode("Zm9v=", 5, dec, sizeof(dec), &dlen), -EINVAL);
    assert_int_equal(stet_base64url_decode("Z", 1, dec, sizeof(dec), &dlen), -EINVAL);    /* impossible length */
    assert_int_equal(stet_base64url_decode("Zm+v", 4, dec, sizeof(dec), &dlen), -EINVAL); /* standard alphabet */
    assert_int_equal(stet_base64url_decode("Zh", 2, dec, sizeof(dec), &dlen), -EINVAL);   /* trailing bits */
    assert_int_equal(stet_base64url_decode("Zm9vYmFy", 8, dec, 5, &dlen), -EINVAL);      /* too small */
    assert_int_equal(stet_base64url_decode("Zm=v", 4, dec, sizeof(dec), &dlen), -EINVAL);
}

static void test_ulid(void **state) {
    (void)state;
    uint8_t u[16], back[16];
    /* the ulid spec: decodeTime("01ARYZ6S41TSV4RRFFQ69G5FAV") == 1469918176385 */
    stet_ulid_make(1469918176385ULL, 0, 0, u);
    char s[27];
    stet_ulid_format(u, s);
    assert_int_equal(strlen(s), 26);
    assert_int_equal(strncmp(s, "01ARYZ6S41", 10), 0);
    assert_string_equal(s + 10, "0000000000000000");
    assert_int_equal(stet_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FAV", 26, back), 0);
    stet_ulid_format(back, s);
    assert_string_equal(s, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_int_equal(stet_ulid_parse("01arz3ndektsv4rrffq69g5fav", 26, back), 0);
    stet_ulid_format(back, s);
    assert_string_equal(s, "01ARZ3NDEKTSV4RRFFQ69G5FAV");

    stet_ulid_make(0xffffffffffffULL, 0xffff, UINT64_MAX, u);
    stet_ulid_format(u, s);
    assert_string_equal(s, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    assert_int_equal(stet_ulid_parse(s, 26, back), 0);
    assert_memory_equal(u, back, 16);
    /* random bits land after the timestamp */
    stet_ulid_make(1, 0xabcd, 0x1122334455667788ULL, u);
    static const uint8_t want[16] = {0, 0, 0, 0, 0, 1, 0xab, 0xcd, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_memory_equal(u, want, 16);

    assert_int_equal(stet_ulid_parse("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", 26, back), -EINVAL); /* overflow */
    assert_int_equal(stet_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FA", 25, back), -EINVAL);
    assert_int_equal(stet_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FAU", 26, back), -EINVAL); /* U not in alphabet */
}

static void test_hashes(void **state) {
    (void)state;
    /* reference values from libxxhash 0.8.1 XXH64(seed 0) */
    assert_true(stet_xxhash64("", 0, 0) == 0xef46db3751d8e999ULL);
    assert_true(stet_xxhash64(NULL, 0, 0) == 0xef46db3751d8e999ULL);
    assert_true(stet_xxhash64("a", 1, 0) == 0xd24ec4f1a98c6e5bULL);
    assert_true(stet_xxhash64("abc", 3, 0) == 0x44bc2cf5ad770999ULL);
    const char *s1 = "Nobody inspects the spammish repetition";
    assert_true(stet_xxhash64(s1, strlen(s1), 0) == 0xfbcea83c8a378bf1ULL);
    const char *s2 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!";
    assert_true(stet_xxhash64(s2, strlen(s2), 0) == 0xaa4dcad69fac0eb3ULL);
    assert_true(stet_partition_key_for_key("my-key", 6) == 0x70cd7c7b0745de43ULL);

    uint8_t d[32];
    stet_sha256("abc", 3, d);
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    assert_memory_equal(d, abc, 32);
    stet_sha256(NULL, 0, d);
    assert_int_equal(d[0], 0xe3);
    assert_int_equal(d[31], 0x55);
}

/* Known answers computed with the hand-written XXH64 that ids.c carried before it switched to
 * libxxhash: ids (partition keys inside invocation ids) and WAL checksums on disk depend on
 * these values staying bit-identical. Input byte i is (uint8_t)(i * 131 + 7). Lengths cover
 * every tail path (0, 1-3, 4, 8) and the 32-byte stripe boundary; the second seed is the one
 * the invoker uses for the SDK random seed. */
static void test_xxhash64_known_answers(void **state) {
    (void)state;
    uint8_t data[101];
    for (int i = 0; i < 100; i++) data[i] = (uint8_t)(i * 131 + 7);
    static const struct {
        size_t len;
        uint64_t seed;
        uint64_t want;
    } cases[] = {
        {0, 0x0000000000000000ULL, 0xef46db3751d8e999ULL},
        {1, 0x0000000000000000ULL, 0xa96c7f0ce858bbb7ULL},
        {3, 0x0000000000000000ULL, 0xbed43740ee6332bbULL},
        {4, 0x0000000000000000ULL, 0xfa212ae44b3bb23dULL},
        {8, 0x0000000000000000ULL, 0x994b676b71ce94ddULL},
        {31, 0x0000000000000000ULL, 0x6711d55e306b5d8fULL},
        {32, 0x0000000000000000ULL, 0x07f7b8e3bc5d6e25ULL},
        {33, 0x0000000000000000ULL, 0x09f85eeb4e1cbe9fULL},
        {100, 0x0000000000000000ULL, 0x9ddada11d3dc2d8fULL},
        {0, 0x7265737461746521ULL, 0x529c175b93026ed4ULL},
        {1, 0x7265737461746521ULL, 0x8847e5f28e2a82b1ULL},
        {3, 0x7265737461746521ULL, 0x7c2c69473857144cULL},
        {4, 0x7265737461746521ULL, 0x0d05a6be75115f75ULL},
        {8, 0x7265737461746521ULL, 0xc8387b603623725fULL},
        {31, 0x7265737461746521ULL, 0x822dd49d32e66cceULL},
        {32, 0x7265737461746521ULL, 0xf677496cd74f6495ULL},
        {33, 0x7265737461746521ULL, 0xdd5ebc23f973988dULL},
        {100, 0x7265737461746521ULL, 0x1fce6648ef260555ULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = stet_xxhash64(cases[i].len > 0 ? data : NULL, cases[i].len, cases[i].seed);
        if (got != cases[i].want)
            fail_msg("xxhash64 len %zu seed %#llx: got %#llx want %#llx", cases[i].len,
                     (unsigned long long)cases[i].seed, (unsigned long long)got, (unsigned long long)cases[i].want);
        /* the same bytes at an odd address hash the same (no alignment assumption) */
        memmove(data + 1, data, 100);
        got = stet_xxhash64(data + 1, cases[i].len, cases[i].seed);
        memmove(data, data + 1, 100);
        assert_true(got == cases[i].want);
    }
}

static void test_deterministic_uuids(void **state) {
    (void)state;
    uint8_t u[16], want[16];
    /* sha256("wf,Wf,key1")[0..16] */
    stet_uuid_for_workflow("Wf", 2, "key1", 4, u);
    hex_to_bytes("d4810b771185b0b3ffdd4ddd56879f9c", want, 16);
    assert_memory_equal(u, want, 16);
    /* sha256("ik,Svc,h,idem1") */
    stet_uuid_for_idempotency("Svc", 3, NULL, 0, "h", 1, "idem1", 5, u);
    hex_to_bytes("0cd1782da5a9801bfd2d0959552a1ddb", want, 16);
    assert_memory_equal(u, want, 16);
    /* sha256("ik,Obj,k,h,idem1") */
    stet_uuid_for_idempotency("Obj", 3, "k", 1, "h", 1, "idem1", 5, u);
    hex_to_bytes("b33f88ea3bfb15ae02794b24b27fb9d6", want, 16);
    assert_memory_equal(u, want, 16);
    /* an empty key differs from no key */
    uint8_t u2[16];
    stet_uuid_for_idempotency("Obj", 3, "", 0, "h", 1, "idem1", 5, u2);
    stet_uuid_for_idempotency("Obj", 3, NULL, 0, "h", 1, "idem1", 5, u);
    assert_memory_not_equal(u, u2, 16);
}

static void test_base62_helpers(void **state) {
    (void)state;
    char out[22];
    uint64_t v;
    stet_base62_encode_u64(4540985286643766305ULL, out);
    assert_memory_equal(out, "2RpYcEXsHAb", 11);
    assert_int_equal(stet_base62_decode_u64(out, &v), 0);
    assert_true(v == 4540985286643766305ULL);
    assert_int_equal(stet_base62_decode_u64("ZZZZZZZZZZZ", &v), -EINVAL);
    assert_int_equal(stet_base62_decode_u64("0000000000_", &v), -EINVAL);
    uint8_t be[16], back[16];
    for (int i = 0; i < 16; i++) be[i] = (uint8_t)(i * 17 + 3);
    stet_base62_encode_u128(be, out);
    assert_int_equal(stet_base62_decode_u128(out, back), 0);
    assert_memory_equal(be, back, 16);
    assert_int_equal(stet_base62_decode_u128("ZZZZZZZZZZZZZZZZZZZZZZ", back), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invocation_id_trace_vectors),
        cmocka_unit_test(test_invocation_id_http_api_example),
        cmocka_unit_test(test_invocation_id_extremes),
        cmocka_unit_test(test_invocation_id_errors),
        cmocka_unit_test(test_deployment_id),
        cmocka_unit_test(test_awakeable_id_vectors),
        cmocka_unit_test(test_awakeable_id_errors),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_ulid),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_xxhash64_known_answers),
        cmocka_unit_test(test_deterministic_uuids),
        cmocka_unit_test(test_base62_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
