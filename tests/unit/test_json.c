/* Tests for src/json: parser (grammar, limits, serde_json-style errors, duplicate keys,
 * getters), writer (commas, escaping, numbers) and parse -> write -> parse round trips. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/timefmt.h"
#include "json/json.h"

static struct stet_json *parse_ok(const char *text) {
    struct stet_json *j = NULL;
    char err[128];
    int rc = stet_json_parse(text, strlen(text), &j, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "unexpected parse error for %s: %s\n", text, err);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    return j;
}

static void expect_error_n(const char *text, size_t len, const char *want) {
    struct stet_json *j = (struct stet_json *)0x1;
    char err[128];
    int rc = stet_json_parse(text, len, &j, err, sizeof(err));
    assert_int_equal(rc, -EINVAL);
    assert_null(j);
    if (want != NULL && strcmp(err, want) != 0) {
        fprintf(stderr, "input %.*s: got '%s' want '%s'\n", (int)len, text, err, want);
        fail();
    }
}

static void expect_error(const char *text, const char *want) { expect_error_n(text, strlen(text), want); }

/* Compact write-back of a parsed document. */
static char *roundtrip_text(const char *text) {
    struct stet_json *j = parse_ok(text);
    struct stet_buf b = STET_BUF_INIT;
    stet_json_write_value(&b, j);
    stet_json_free(j);
    char *s = stet_buf_strdup(&b);
    stet_buf_free(&b);
    return s;
}

static void test_scalars(void **state) {
    (void)state;
    struct stet_json *j = parse_ok("null");
    assert_int_equal(stet_json_type(j), STET_JSON_NULL);
    stet_json_free(j);
    j = parse_ok(" true ");
    assert_int_equal(stet_json_type(j), STET_JSON_BOOL);
    assert_true(stet_json_bool(j));
    stet_json_free(j);
    j = parse_ok("\t\r\nfalse\n");
    assert_false(stet_json_bool(j));
    stet_json_free(j);
    j = parse_ok("\"hi\"");
    size_t len;
    assert_string_equal(stet_json_string(j, &len), "hi");
    assert_int_equal(len, 2);
    /* wrong-type getters give zero values */
    assert_false(stet_json_bool(j));
    assert_true(stet_json_number(j) == 0.0);
    assert_int_equal(stet_json_array_len(j), 0);
    assert_int_equal(stet_json_object_len(j), 0);
    assert_null(stet_json_object_get(j, "x"));
    assert_null(stet_json_array_at(j, 0));
    int64_t i64;
    assert_false(stet_json_int64(j, &i64));
    stet_json_free(j);
    stet_json_free(NULL);
    assert_int_equal(stet_json_type(NULL), STET_JSON_NULL);
    assert_null(stet_json_string(NULL, &len));
    assert_int_equal(len, 0);
}

static void test_numbers(void **state) {
    (void)state;
    struct {
        const char *text;
        double value;
    } cases[] = {{"0", 0}, {"-0", -0.0}, {"1", 1}, {"-12", -12}, {"3.25", 3.25}, {"1e3", 1000}, {"1E+2", 100},
                 {"2.5e-3", 0.0025}, {"-0.5", -0.5}, {"123456789012", 123456789012.0}, {"1e-400", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stet_json *j = parse_ok(cases[i].text);
        assert_int_equal(stet_json_type(j), STET_JSON_NUMBER);
        assert_true(stet_json_number(j) == cases[i].value);
        size_t len;
        assert_string_equal(stet_json_number_text(j, &len), cases[i].text);
        stet_json_free(j);
    }
    int64_t i64;
    uint64_t u64;
    struct stet_json *j = parse_ok("9223372036854775807");
    assert_true(stet_json_int64(j, &i64));
    assert_true(i64 == INT64_MAX);
    assert_true(stet_json_uint64(j, &u64));
    assert_true(u64 == (uint64_t)INT64_MAX);
    stet_json_free(j);
    j = parse_ok("-9223372036854775808");
    assert_true(stet_json_int64(j, &i64));
    assert_true(i64 == INT64_MIN);
    assert_false(stet_json_uint64(j, &u64));
    stet_json_free(j);
    j = parse_ok("9223372036854775808");
    assert_false(stet_json_int64(j, &i64));
    assert_true(stet_json_uint64(j, &u64));
    assert_true(u64 == 9223372036854775808ULL);
    stet_json_free(j);
    j = parse_ok("18446744073709551615");
    assert_true(stet_json_uint64(j, &u64));
    assert_true(u64 == UINT64_MAX);
    stet_json_free(j);
    j = parse_ok("18446744073709551616");
    assert_false(stet_json_uint64(j, &u64));
    assert_false(stet_json_int64(j, &i64));
    assert_true(stet_json_number(j) == 18446744073709551616.0);
    stet_json_free(j);
    j = parse_ok("-9223372036854775809");
    assert_false(stet_json_int64(j, &i64));
    stet_json_free(j);
    j = parse_ok("1.0");
    assert_false(stet_json_int64(j, &i64));
    assert_false(stet_json_uint64(j, &u64));
    stet_json_free(j);
    j = parse_ok("1e2");
    assert_false(stet_json_int64(j, &i64));
    stet_json_free(j);
    j = parse_ok("-0");
    assert_true(stet_json_int64(j, &i64));
    assert_true(i64 == 0);
    assert_true(stet_json_uint64(j, &u64));
    assert_true(u64 == 0);
    stet_json_free(j);
    j = parse_ok("-5");
    assert_false(stet_json_uint64(j, &u64));
    assert_true(stet_json_int64(j, &i64));
    assert_true(i64 == -5);
    stet_json_free(j);
}

static void test_strings(void **state) {
    (void)state;
    size_t len;
    struct stet_json *j = parse_ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"");
    assert_string_equal(stet_json_string(j, &len), "a\"b\\c/d\b\f\n\r\t");
    stet_json_free(j);
    j = parse_ok("\"\\u0041\\u00e9\\u20AC\"");
    assert_string_equal(stet_json_string(j, &len), "A\xc3\xa9\xe2\x82\xac");
    stet_json_free(j);
    j = parse_ok("\"\\ud83d\\ude00\""); /* surrogate pair -> U+1F600 */
    assert_string_equal(stet_json_string(j, &len), "\xf0\x9f\x98\x80");
    assert_int_equal(len, 4);
    stet_json_free(j);
    j = parse_ok("\"a\\u0000b\"");
    const char *s = stet_json_string(j, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4); /* still NUL-terminated after the embedded NUL */
    stet_json_free(j);
    j = parse_ok("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    assert_string_equal(stet_json_string(j, &len), "caf\xc3\xa9 \xf0\x9f\x98\x80");
    stet_json_free(j);
    j = parse_ok("\"\"");
    assert_string_equal(stet_json_string(j, &len), "");
    assert_int_equal(len, 0);
    stet_json_free(j);
    /* DEL and non-ASCII are fine raw */
    j = parse_ok("\"\x7f\"");
    stet_json_free(j);
}

static void test_arrays_objects(void **state) {
    (void)state;
    struct stet_json *j = parse_ok(" [ 1 , \"two\" , [ ] , { } , null ] ");
    assert_int_equal(stet_json_type(j), STET_JSON_ARRAY);
    assert_int_equal(stet_json_array_len(j), 5);
    assert_true(stet_json_number(stet_json_array_at(j, 0)) == 1);
    assert_string_equal(stet_json_string(stet_json_array_at(j, 1), NULL), "two");
    assert_int_equal(stet_json_type(stet_json_array_at(j, 2)), STET_JSON_ARRAY);
    assert_int_equal(stet_json_array_len(stet_json_array_at(j, 2)), 0);
    assert_int_equal(stet_json_type(stet_json_array_at(j, 3)), STET_JSON_OBJECT);
    assert_int_equal(stet_json_object_len(stet_json_array_at(j, 3)), 0);
    assert_int_equal(stet_json_type(stet_json_array_at(j, 4)), STET_JSON_NULL);
    assert_null(stet_json_array_at(j, 5));
    stet_json_free(j);

    j = parse_ok("{\"name\":\"Counter\",\"handlers\":[{\"name\":\"add\",\"ty\":\"Exclusive\"}],\"n\":3,\"k\\u0000\":1}");
    assert_int_equal(stet_json_object_len(j), 4);
    size_t klen;
    assert_string_equal(stet_json_object_key_at(j, 0, &klen), "name");
    assert_int_equal(klen, 4);
    assert_string_equal(stet_json_string(stet_json_object_get(j, "name"), NULL), "Counter");
    const struct stet_json *handlers = stet_json_object_get(j, "handlers");
    assert_int_equal(stet_json_array_len(handlers), 1);
    assert_string_equal(stet_json_string(stet_json_object_get(stet_json_array_at(handlers, 0), "ty"), NULL),
                        "Exclusive");
    assert_null(stet_json_object_get(j, "missing"));
    assert_null(stet_json_object_get(j, NULL));
    assert_non_null(stet_json_object_get_n(j, "k\0", 2));
    assert_null(stet_json_object_get(j, "k")); /* "k" != "k\0" */
    assert_true(stet_json_object_value_at(j, 2) == stet_json_object_get(j, "n"));
    assert_null(stet_json_object_value_at(j, 4));
    assert_null(stet_json_object_key_at(j, 4, &klen));
    stet_json_free(j);
}

static void test_duplicate_keys(void **state) {
    (void)state;
    struct stet_json *j = parse_ok("{\"a\":1,\"b\":2,\"a\":3}");
    assert_int_equal(stet_json_object_len(j), 2);
    assert_string_equal(stet_json_object_key_at(j, 0, NULL), "a");
    assert_true(stet_json_number(stet_json_object_get(j, "a")) == 3);
    assert_true(stet_json_number(stet_json_object_get(j, "b")) == 2);
    stet_json_free(j);

    /* large object: hash-table path */
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_str(&b, "{");
    for (int i = 0; i < 200; i++) stet_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i % 50, i);
    stet_buf_append_str(&b, "}");
    char err[128];
    assert_int_equal(stet_json_parse((const char *)b.data, b.len, &j, err, sizeof(err)), 0);
    assert_int_equal(stet_json_object_len(j), 50);
    for (int k = 0; k < 50; k++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", k);
        assert_string_equal(stet_json_object_key_at(j, (size_t)k, NULL), key);
        assert_true(stet_json_number(stet_json_object_get(j, key)) == 150 + k);
    }
    stet_json_free(j);
    stet_buf_free(&b);
}

static void test_errors_serde_messages(void **state) {
    (void)state;
    expect_error("", "EOF while parsing a value at line 1 column 0");
    expect_error("   ", "EOF while parsing a value at line 1 column 3");
    expect_error("{\"a\": 1", "EOF while parsing an object at line 1 column 7");
    expect_error("{\"a\":}", "expected value at line 1 column 6");
    expect_error("1 2", "trailing characters at line 1 column 3");
    expect_error("[1,]", "trailing comma at line 1 column 4");
    expect_error("{\"a\":1,}", "trailing comma at line 1 column 8");
    expect_error("[1 2]", "expected `,` or `]` at line 1 column 4");
    expect_error("{\"a\":1 \"b\":2}", "expected `,` or `}` at line 1 column 8");
    expect_error("{\"a\" 1}", "expected `:` at line 1 column 6");
    expect_error("{1:2}", "key must be a string at line 1 column 2");
    expect_error("[", "EOF while parsing a list at line 1 column 1");
    expect_error("[1", "EOF while parsing a list at line 1 column 2");
    expect_error("\"abc", "EOF while parsing a string at line 1 column 4");
    expect_error("{\n  \"a\": x\n}", "expected value at line 2 column 8");
    expect_error("tru", "EOF while parsing a value at line 1 column 3");
    expect_error("trux", "expected ident at line 1 column 4");
    expect_error("nul1", "expected ident at line 1 column 4");
    expect_error("NaN", "expected value at line 1 column 1");
    expect_error("Infinity", "expected value at line 1 column 1");
    expect_error("-Infinity", "invalid number at line 1 column 2");
    expect_error("01", "invalid number at line 1 column 2");
    expect_error("-01", "invalid number at line 1 column 3");
    expect_error("+1", "expected value at line 1 column 1");
    expect_error("1.", "EOF while parsing a value at line 1 column 2");
    expect_error("1.x", "invalid number at line 1 column 3");
    expect_error(".5", "expected value at line 1 column 1");
    expect_error("1e", "EOF while parsing a value at line 1 column 2");
    expect_error("1e+", "EOF while parsing a value at line 1 column 3");
    expect_error("[1e]", "invalid number at line 1 column 4");
    expect_error("1e400", "number out of range at line 1 column 5");
    expect_error("\"a\\x\"", "invalid escape at line 1 column 4");
    expect_error("\"\\u12G4\"", "invalid escape at line 1 column 7");
    expect_error("\"\\u12", "EOF while parsing a string at line 1 column 5");
    expect_error("\"\\ud800\"", "unexpected end of hex escape at line 1 column 8");
    expect_error("\"\\ud800\\u0041\"", "lone leading surrogate in hex escape at line 1 column 13");
    expect_error("\"\\udc00\"", "lone trailing surrogate in hex escape at line 1 column 7");
    expect_error("\"a\nb\"", "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0");
    expect_error("\"\t\"", "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 2");
    expect_error("\"\xff\"", "invalid unicode code point at line 1 column 2");
    expect_error("\"\xc3\"", "invalid unicode code point at line 1 column 2");
    expect_error("\"\xe2\x82\"", "invalid unicode code point at line 1 column 3");
    expect_error("\"\xc0\xaf\"", "invalid unicode code point at line 1 column 2");     /* overlong */
    expect_error("\"\xed\xa0\x80\"", "invalid unicode code point at line 1 column 2"); /* UTF-8 surrogate */
    expect_error("\"\xf4\x90\x80\x80\"", "invalid unicode code point at line 1 column 2"); /* > U+10FFFF */
    expect_error("{\"a\":1}}", "trailing characters at line 1 column 8");
    expect_error("[1,,2]", "expected value at line 1 column 4");
    expect_error("{,}", "key must be a string at line 1 column 2");
    expect_error("'a'", "expected value at line 1 column 1");
    expect_error_n("1\0", 2, "trailing characters at line 1 column 2");
    expect_error_n("\"a\0\"", 4, "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3");
    /* no error buffer is fine */
    struct stet_json *j;
    assert_int_equal(stet_json_parse("[", 1, &j, NULL, 0), -EINVAL);
    /* a tiny error buffer is truncated, still terminated */
    char small[8];
    assert_int_equal(stet_json_parse("[", 1, &j, small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), 7);
}

static void test_depth_limit(void **state) {
    (void)state;
    char buf[300];
    /* exactly 64 nested arrays parse */
    memset(buf, '[', 64);
    memset(buf + 64, ']', 64);
    struct stet_json *j;
    char err[128];
    assert_int_equal(stet_json_parse(buf, 128, &j, err, sizeof(err)), 0);
    stet_json_free(j);
    /* 65 do not */
    memset(buf, '[', 65);
    memset(buf + 65, ']', 65);
    assert_int_equal(stet_json_parse(buf, 130, &j, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "recursion limit exceeded at line 1 column 65");
    /* mixed objects count too */
    struct stet_buf b = STET_BUF_INIT;
    for (int i = 0; i < 65; i++) stet_buf_append_str(&b, "{\"a\":");
    stet_buf_append_str(&b, "1");
    for (int i = 0; i < 65; i++) stet_buf_append_str(&b, "}");
    assert_int_equal(stet_json_parse((const char *)b.data, b.len, &j, err, sizeof(err)), -EINVAL);
    stet_buf_free(&b);
    /* a deep unterminated input fails without crashing */
    memset(buf, '[', sizeof(buf));
    assert_int_equal(stet_json_parse(buf, sizeof(buf), &j, err, sizeof(err)), -EINVAL);
}

static void test_writer_basic(void **state) {
    (void)state;
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_object(&w);
    stet_json_key(&w, "s");
    stet_json_write_string(&w, "x");
    stet_json_key(&w, "i");
    stet_json_write_int(&w, -42);
    stet_json_key(&w, "u");
    stet_json_write_uint(&w, UINT64_MAX);
    stet_json_key(&w, "t");
    stet_json_write_bool(&w, true);
    stet_json_key(&w, "f");
    stet_json_write_bool(&w, false);
    stet_json_key(&w, "n");
    stet_json_write_null(&w);
    stet_json_key(&w, "ns");
    stet_json_write_string(&w, NULL);
    stet_json_key_n(&w, "arr\0x", 5);
    stet_json_begin_array(&w);
    stet_json_write_int(&w, 1);
    stet_json_begin_array(&w);
    stet_json_end_array(&w);
    stet_json_begin_object(&w);
    stet_json_end_object(&w);
    stet_json_write_raw(&w, "{\"r\":[1,2]}", 11);
    stet_json_write_string_n(&w, "a\0b", 3);
    stet_json_end_array(&w);
    stet_json_key(&w, "d");
    stet_json_write_double(&w, 1.5);
    stet_json_end_object(&w);
    assert_int_equal(w.depth, 0);
    char *s = stet_buf_strdup(&b);
    assert_string_equal(s, "{\"s\":\"x\",\"i\":-42,\"u\":18446744073709551615,\"t\":true,\"f\":false,\"n\":null,"
                           "\"ns\":null,\"arr\\u0000x\":[1,[],{},{\"r\":[1,2]},\"a\\u0000b\"],\"d\":1.5}");
    /* and it parses back */
    struct stet_json *j = parse_ok(s);
    assert_true(stet_json_number(stet_json_object_get(j, "u")) == 18446744073709551615.0);
    stet_json_free(j);
    free(s);

    /* top-level scalars and arrays of values */
    stet_buf_reset(&b);
    stet_json_writer_init(&w, &b);
    stet_json_begin_array(&w);
    for (int i = 0; i < 3; i++) stet_json_write_int(&w, i);
    stet_json_end_array(&w);
    s = stet_buf_strdup(&b);
    assert_string_equal(s, "[0,1,2]");
    free(s);
    stet_buf_reset(&b);
    stet_json_writer_init(&w, &b);
    stet_json_write_string(&w, "top");
    s = stet_buf_strdup(&b);
    assert_string_equal(s, "\"top\"");
    free(s);
    stet_buf_free(&b);
}

static void expect_escaped(const char *in, size_t len, const char *want) {
    struct stet_buf b = STET_BUF_INIT;
    stet_json_escape_string(&b, in, len);
    char *s = stet_buf_strdup(&b);
    if (strcmp(s, want) != 0) {
        fprintf(stderr, "escape: got %s want %s\n", s, want);
        fail();
    }
    assert_true(stet_utf8_valid(b.data, b.len));
    /* output always parses back */
    struct stet_json *j = parse_ok(s);
    assert_int_equal(stet_json_type(j), STET_JSON_STRING);
    stet_json_free(j);
    free(s);
    stet_buf_free(&b);
}

static void test_writer_escaping(void **state) {
    (void)state;
    expect_escaped("", 0, "\"\"");
    expect_escaped("plain", 5, "\"plain\"");
    expect_escaped("q\"b\\", 4, "\"q\\\"b\\\\\"");
    expect_escaped("\n\t\r\b\f", 5, "\"\\n\\t\\r\\b\\f\"");
    expect_escaped("\x01\x1f\x7f/", 4, "\"\\u0001\\u001f\x7f/\"");
    expect_escaped("\0", 1, "\"\\u0000\"");
    expect_escaped("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");
    expect_escaped("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"");
    /* invalid UTF-8 -> U+FFFD per maximal subpart */
    expect_escaped("a\xff" "b", 3, "\"a\xef\xbf\xbd" "b\"");
    expect_escaped("\xc3", 1, "\"\xef\xbf\xbd\"");
    expect_escaped("\xe2\x82", 2, "\"\xef\xbf\xbd\"");
    expect_escaped("\xe2\x82x", 3, "\"\xef\xbf\xbdx\"");
    expect_escaped("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_escaped("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_escaped("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_escaped("\x80\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void expect_double(double v, const char *want) {
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_write_double(&w, v);
    char *s = stet_buf_strdup(&b);
    if (strcmp(s, want) != 0) {
        fprintf(stderr, "double %.17g: got %s want %s\n", v, s, want);
        fail();
    }
    if (isfinite(v)) {
        struct stet_json *j = parse_ok(s);
        assert_true(stet_json_number(j) == v);
        stet_json_free(j);
    }
    free(s);
    stet_buf_free(&b);
}

static void test_writer_doubles(void **state) {
    (void)state;
    /* serde_json (ryu) formatting */
    expect_double(0.0, "0.0");
    expect_double(-0.0, "-0.0");
    expect_double(1.0, "1.0");
    expect_double(-1.0, "-1.0");
    expect_double(1.5, "1.5");
    expect_double(0.1, "0.1");
    expect_double(100.0, "100.0");
    expect_double(123.456, "123.456");
    expect_double(1e15, "1000000000000000.0");
    expect_double(1e16, "1e16");
    expect_double(1.5e17, "1.5e17");
    expect_double(0.0001, "0.0001");
    expect_double(0.00001, "0.00001");
    expect_double(0.000001, "1e-6");
    expect_double(1.25e-7, "1.25e-7");
    expect_double(5e-324, "5e-324");
    expect_double(1.7976931348623157e308, "1.7976931348623157e308");
    expect_double(0.30000000000000004, "0.30000000000000004");
    expect_double(NAN, "null");
    expect_double(INFINITY, "null");
    expect_double(-INFINITY, "null");
}

static void expect_roundtrip(const char *in, const char *want) {
    char *s = roundtrip_text(in);
    if (strcmp(s, want) != 0) {
        fprintf(stderr, "roundtrip %s: got %s want %s\n", in, s, want);
        fail();
    }
    struct stet_json *a = parse_ok(in), *b = parse_ok(s);
    assert_true(stet_json_equal(a, b));
    stet_json_free(a);
    stet_json_free(b);
    free(s);
}

static void test_roundtrip_and_equal(void **state) {
    (void)state;
    expect_roundtrip(" { \"a\" : [ 1 , 2.50 , -0 , 1E5 ] , \"b\" : { } } ", "{\"a\":[1,2.50,-0,1E5],\"b\":{}}");
    expect_roundtrip("\"\\u00e9\\/\"", "\"\xc3\xa9/\"");
    expect_roundtrip("{\"a\":1,\"a\":2}", "{\"a\":2}");
    expect_roundtrip("[true,false,null,\"\\u001f\"]", "[true,false,null,\"\\u001f\"]");

    struct stet_json *a = parse_ok("{\"x\":1,\"y\":[1,2]}");
    struct stet_json *b = parse_ok("{\"y\":[1,2.0],\"x\":1.0}");
    struct stet_json *c = parse_ok("{\"y\":[2,1],\"x\":1}");
    struct stet_json *d = parse_ok("{\"y\":[1,2],\"z\":1}");
    struct stet_json *e = parse_ok("[9007199254740993]");
    struct stet_json *f = parse_ok("[9007199254740992]");
    assert_true(stet_json_equal(a, b));
    assert_false(stet_json_equal(a, c));
    assert_false(stet_json_equal(a, d));
    assert_false(stet_json_equal(e, f)); /* exact integers, not doubles */
    assert_false(stet_json_equal(a, NULL));
    assert_true(stet_json_equal(NULL, NULL));
    stet_json_free(a);
    stet_json_free(b);
    stet_json_free(c);
    stet_json_free(d);
    stet_json_free(e);
    stet_json_free(f);
}

static void test_big_document(void **state) {
    (void)state;
    /* Large strings and arrays exercise arena chunks bigger than the default size. */
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_array(&w);
    char *big = malloc(20000);
    memset(big, 'x', 20000);
    stet_json_write_string_n(&w, big, 20000);
    for (int i = 0; i < 5000; i++) stet_json_write_int(&w, i);
    stet_json_end_array(&w);
    struct stet_json *j;
    char err[128];
    assert_int_equal(stet_json_parse((const char *)b.data, b.len, &j, err, sizeof(err)), 0);
    assert_int_equal(stet_json_array_len(j), 5001);
    size_t len;
    const char *s = stet_json_string(stet_json_array_at(j, 0), &len);
    assert_int_equal(len, 20000);
    assert_memory_equal(s, big, 20000);
    int64_t v;
    assert_true(stet_json_int64(stet_json_array_at(j, 5000), &v));
    assert_int_equal(v, 4999);
    struct stet_buf out = STET_BUF_INIT;
    stet_json_write_value(&out, j);
    assert_int_equal(out.len, b.len);
    assert_memory_equal(out.data, b.data, b.len);
    stet_json_free(j);
    stet_buf_free(&out);
    stet_buf_free(&b);
    free(big);
}

/* Parse every corpus file if the fuzz corpus exists (the fuzzer itself runs in ctest). */
static void test_writer_json_value(void **state) {
    (void)state;
    struct stet_json *j = parse_ok("{\"k\":[1,\"v\"]}");
    struct stet_buf b = STET_BUF_INIT;
    struct stet_json_writer w;
    stet_json_writer_init(&w, &b);
    stet_json_begin_array(&w);
    stet_json_write_json(&w, j);
    stet_json_write_json(&w, stet_json_object_get(j, "k"));
    stet_json_end_array(&w);
    char *s = stet_buf_strdup(&b);
    assert_string_equal(s, "[{\"k\":[1,\"v\"]},[1,\"v\"]]");
    free(s);
    stet_buf_free(&b);
    stet_json_free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_arrays_objects),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_errors_serde_messages),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_writer_basic),
        cmocka_unit_test(test_writer_escaping),
        cmocka_unit_test(test_writer_doubles),
        cmocka_unit_test(test_roundtrip_and_equal),
        cmocka_unit_test(test_big_document),
        cmocka_unit_test(test_writer_json_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
