/* Tests for src/config/toml.c: values, tables, redefinition rules, errors with positions,
 * single values (environment variables), writer round trip. */
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

#include "config/toml.h"

static struct stet_toml_value *parse_ok(const char *text) {
    struct stet_toml_value *root = NULL;
    char err[256];
    int rc = stet_toml_parse(text, strlen(text), &root, err, sizeof(err));
    if (rc != 0) fail_msg("parse failed: %s\n%s", err, text);
    assert_non_null(root);
    assert_int_equal(root->type, STET_TOML_TABLE);
    return root;
}

/* Expects a parse error whose message contains `needle`. */
static void parse_err(const char *text, const char *needle) {
    struct stet_toml_value *root = NULL;
    char err[256];
    int rc = stet_toml_parse(text, strlen(text), &root, err, sizeof(err));
    if (rc == 0) fail_msg("expected an error containing '%s' for:\n%s", needle, text);
    assert_int_equal(rc, -EINVAL);
    assert_null(root);
    if (strstr(err, needle) == NULL) fail_msg("error '%s' does not contain '%s'", err, needle);
}

static const struct stet_toml_value *path(const struct stet_toml_value *t, const char *dotted) {
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", dotted);
    const struct stet_toml_value *v = t;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        v = stet_toml_get(v, k);
        if (v == NULL) return NULL;
    }
    return v;
}

static void assert_str(const struct stet_toml_value *t, const char *key, const char *expect) {
    const struct stet_toml_value *v = path(t, key);
    if (v == NULL) fail_msg("missing key %s", key);
    assert_int_equal(v->type, STET_TOML_STRING);
    assert_string_equal(v->u.str.ptr, expect);
    assert_int_equal(v->u.str.len, strlen(expect));
}

static void assert_int(const struct stet_toml_value *t, const char *key, int64_t expect) {
    const struct stet_toml_value *v = path(t, key);
    if (v == NULL) fail_msg("missing key %s", key);
    assert_int_equal(v->type, STET_TOML_INTEGER);
    assert_true(v->u.integer == expect);
}

static void test_scalars(void **state) {
    (void)state;
    struct stet_toml_value *r = parse_ok(
        "# comment\n"
        "s = \"a\\tb \\\"q\\\" \\u00e9 \\U0001F600\" # trailing comment\n"
        "lit = 'C:\\path\\n'\n"
        "i = +1_000\n"
        "neg = -17\n"
        "hex = 0xff\n"
        "oct = 0o17\n"
        "bin = 0b101\n"
        "max = 9223372036854775807\n"
        "min = -9223372036854775808\n"
        "f = 6.5e-1\n"
        "inf = -inf\n"
        "nan = nan\n"
        "t = true\n"
        "ff = false\n"
        "\"quoted key\" = 1\n"
        "'lit key' = 2\n"
        "bare-key_1 = 3\n");
    assert_str(r, "s", "a\tb \"q\" \xc3\xa9 \xf0\x9f\x98\x80");
    assert_str(r, "lit", "C:\\path\\n");
    assert_int(r, "i", 1000);
    assert_int(r, "neg", -17);
    assert_int(r, "hex", 255);
    assert_int(r, "oct", 15);
    assert_int(r, "bin", 5);
    assert_int(r, "max", INT64_MAX);
    assert_int(r, "min", INT64_MIN);
    assert_true(path(r, "f")->type == STET_TOML_FLOAT && path(r, "f")->u.flt == 0.65);
    assert_true(isinf(path(r, "inf")->u.flt) && path(r, "inf")->u.flt < 0);
    assert_true(isnan(path(r, "nan")->u.flt));
    assert_true(path(r, "t")->type == STET_TOML_BOOL && path(r, "t")->u.boolean);
    assert_false(path(r, "ff")->u.boolean);
    assert_int(r, "quoted key", 1);
    assert_int(r, "lit key", 2);
    assert_int(r, "bare-key_1", 3);
    assert_int_equal(path(r, "s")->line, 2);
    stet_toml_free(r);
}

static void test_multiline_strings(void **state) {
    (void)state;
    struct stet_toml_value *r = parse_ok(
        "a = \"\"\"\nline1\nline2\"\"\"\n"
        "b = \"\"\"one \\\n    two\"\"\"\n"
        "c = '''\nraw \\n\n'''\n"
        "d = \"\"\"two quotes: \"\"\"\"\"\n"
        "e = \"\"\"crlf\r\nline\"\"\"\n");
    assert_str(r, "a", "line1\nline2");
    assert_str(r, "b", "one two");
    assert_str(r, "c", "raw \\n\n");
    assert_str(r, "d", "two quotes: \"\"");
    assert_str(r, "e", "crlf\nline");
    stet_toml_free(r);
}

static void test_tables(void **state) {
    (void)state;
    struct stet_toml_value *r = parse_ok(
        "top = 1\n"
        "a.b.c = 2\n"
        "[server]\n"
        "bind-address = \"0.0.0.0:9070\"\n"
        "[worker.snapshots]\n"
        "destination = \"s3://restate/snapshots\"\n"
        "[worker]\n"
        "x = 1\n"
        "[fruit]\n"
        "apple.color = \"red\"\n"
        "[fruit.apple.texture]\n"
        "smooth = true\n"
        "[[products]]\n"
        "name = \"Hammer\"\n"
        "[[products]]\n"
        "[[products]]\n"
        "name = \"Nail\"\n"
        "[inline]\n"
        "p = { x = 1, y.z = \"q\" }\n"
        "arr = [ 1, [2, 3], \"s\", { k = [] }, ]\n");
    assert_int(r, "top", 1);
    assert_int(r, "a.b.c", 2);
    assert_str(r, "server.bind-address", "0.0.0.0:9070");
    assert_str(r, "worker.snapshots.destination", "s3://restate/snapshots");
    assert_int(r, "worker.x", 1);
    assert_str(r, "fruit.apple.color", "red");
    assert_true(path(r, "fruit.apple.texture.smooth")->u.boolean);
    const struct stet_toml_value *p = path(r, "products");
    assert_int_equal(p->type, STET_TOML_ARRAY);
    assert_int_equal(p->u.arr.n, 3);
    assert_str(p->u.arr.items[0], "name", "Hammer");
    assert_int_equal(p->u.arr.items[1]->u.tab.n, 0);
    assert_str(p->u.arr.items[2], "name", "Nail");
    assert_int(r, "inline.p.x", 1);
    assert_str(r, "inline.p.y.z", "q");
    const struct stet_toml_value *arr = path(r, "inline.arr");
    assert_int_equal(arr->u.arr.n, 4);
    assert_int_equal(arr->u.arr.items[1]->type, STET_TOML_ARRAY);
    assert_int_equal(arr->u.arr.items[3]->type, STET_TOML_TABLE);
    /* definition order is kept */
    assert_string_equal(r->u.tab.items[0].key, "top");
    assert_string_equal(r->u.tab.items[1].key, "a");
    stet_toml_free(r);
}

static void test_errors(void **state) {
    (void)state;
    parse_err("a = 1\na = 2\n", "line 2, column 6: duplicate key 'a' (first defined on line 1)");
    parse_err("[a]\nb = 1\n[a]\n", "line 3, column 4: table [a] is defined twice");
    parse_err("a.b = 1\n[a]\n", "table [a] is defined twice");
    parse_err("[fruit]\napple.color = 1\n[fruit.apple]\n", "table [fruit.apple] is defined twice");
    parse_err("a = {b = 1}\n[a.c]\n", "'a' is already an inline table (line 1)");
    parse_err("a = {b = 1}\na.c = 2\n", "cannot add to 'a'");
    parse_err("[a.b]\nx = 1\n[a]\nb.y = 2\n", "cannot add to 'b'");
    parse_err("a = 1\n[a.b]\n", "cannot define table [a.b]: 'a' is already an integer (line 1)");
    parse_err("a = [1]\n[[a]]\n", "is already an array");
    parse_err("[[a]]\n[a]\n", "already defined as an array of tables");
    parse_err("a = 1979-05-27\n", "dates and times are not supported");
    parse_err("a = 07:32:00\n", "dates and times are not supported");
    parse_err("a = hello\n", "line 1, column 5: invalid value starting with 'h' (strings must be quoted)");
    parse_err("a = 01\n", "invalid value '01'");
    parse_err("a = 1__0\n", "invalid value");
    parse_err("a = 9223372036854775808\n", "does not fit in 64 bits");
    parse_err("a = 0x8000000000000000\n", "does not fit in 64 bits");
    parse_err("a = -0x1\n", "a sign is not allowed");
    parse_err("a = 1.\n", "invalid value");
    parse_err("a = \"unterminated\n", "unterminated string");
    parse_err("a = \"bad \\q escape\"\n", "invalid escape sequence '\\q'");
    parse_err("a = \"\\uD800\"\n", "is not a Unicode scalar value");
    parse_err("a = \"tab\x01\"\n", "control character 0x01");
    parse_err("a = 1 b = 2\n", "expected the end of the line");
    parse_err("a 1\n", "expected '=' after the key 'a'");
    parse_err("= 1\n", "expected a key");
    parse_err("[a\n", "expected ']'");
    parse_err("a = [1 2]\n", "expected ',' or ']'");
    parse_err("a = {b = 1,}\n", "trailing comma in an inline table");
    parse_err("a = {b = 1\n}\n", "inline tables must fit on one line");
    parse_err("a = \"\xff\"\n", "not valid UTF-8");
    parse_err("a = 1\rb = 2\n", "carriage return");
    parse_err("a = truee\n", "invalid value starting with 't'");
    parse_err("a = \"\"\"x\"\"\"\"\"\"\n", "too many quotes");
    /* deep nesting is bounded */
    char deep[200];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "a = ");
    for (int i = 0; i < 40; i++) deep[n++] = '[';
    deep[n] = '\0';
    parse_err(deep, "nesting deeper than");
}

static void test_parse_value(void **state) {
    (void)state;
    struct stet_toml_value *v = NULL;
    char err[200];
    const char *arr = " [\"http://a:5122\", \"http://b:5122\"] ";
    assert_int_equal(stet_toml_parse_value(arr, strlen(arr), &v, err, sizeof(err)), 0);
    assert_int_equal(v->type, STET_TOML_ARRAY);
    assert_int_equal(v->u.arr.n, 2);
    assert_string_equal(v->u.arr.items[1]->u.str.ptr, "http://b:5122");
    stet_toml_free(v);
    assert_int_equal(stet_toml_parse_value("true", 4, &v, err, sizeof(err)), 0);
    assert_int_equal(v->type, STET_TOML_BOOL);
    stet_toml_free(v);
    assert_int_equal(stet_toml_parse_value("2", 1, &v, err, sizeof(err)), 0);
    assert_int_equal(v->type, STET_TOML_INTEGER);
    stet_toml_free(v);
    assert_int_equal(stet_toml_parse_value("{node = 2}", 10, &v, err, sizeof(err)), 0);
    assert_int_equal(v->type, STET_TOML_TABLE);
    stet_toml_free(v);
    assert_int_equal(stet_toml_parse_value("http://x", 8, &v, err, sizeof(err)), -EINVAL);
    assert_null(v);
    assert_int_equal(stet_toml_parse_value("1 2", 3, &v, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unexpected characters after the value"));
    assert_int_equal(stet_toml_parse_value("", 0, &v, err, sizeof(err)), -EINVAL);
}

static void test_limits(void **state) {
    (void)state;
    size_t n = STET_TOML_MAX_INPUT + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    struct stet_toml_value *v = NULL;
    char err[200];
    assert_int_equal(stet_toml_parse(big, n, &v, err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "more than the limit"));
    free(big);
}

static void test_write_roundtrip(void **state) {
    (void)state;
    const char *doc = "z = \"q\\\"\\n\\u0001\"\n"
                      "f = 1.0\n"
                      "g = -0.5e300\n"
                      "n = nan\n"
                      "arr = [1, \"x\", [true], {a = 1}]\n"
                      "\"key with space\" = 1\n"
                      "[t.u]\nv = 1\n[t]\nw = 2\n"
                      "[[aot]]\nx = 1\n[[aot]]\n"
                      "[e]\n";
    struct stet_toml_value *a = parse_ok(doc);
    struct stet_buf out = STET_BUF_INIT;
    stet_toml_write(&out, a);
    stet_buf_append_byte(&out, 0);
    struct stet_toml_value *b = parse_ok((const char *)out.data);
    assert_true(stet_toml_equal(a, b));
    assert_non_null(strstr((const char *)out.data, "\"key with space\" = 1\n"));
    assert_non_null(strstr((const char *)out.data, "[t]\nw = 2\n"));
    assert_non_null(strstr((const char *)out.data, "[t.u]\nv = 1\n"));
    assert_non_null(strstr((const char *)out.data, "aot = [{ x = 1 }, {}]\n"));
    assert_non_null(strstr((const char *)out.data, "f = 1.0\n"));
    /* a different value is not equal */
    struct stet_toml_value *c = parse_ok("z = 1\n");
    assert_false(stet_toml_equal(a, c));
    stet_toml_free(a);
    stet_toml_free(b);
    stet_toml_free(c);
    stet_buf_free(&out);
}

static void test_corpus_files_parse(void **state) {
    (void)state;
    /* the valid fuzz corpus documents parse; the bad_* ones fail */
    const char *dir = getenv("STET_SOURCE_DIR");
    char path_buf[1024];
    const char *good[] = {"restate_cluster.toml", "strings.toml", "numbers.toml", "tables.toml", "crlf.toml"};
    const char *bad[] = {"bad_dup.toml", "bad_table_twice.toml", "bad_date.toml", "bad_inline_extend.toml"};
    for (size_t pass = 0; pass < 2; pass++) {
        size_t count = pass == 0 ? sizeof(good) / sizeof(good[0]) : sizeof(bad) / sizeof(bad[0]);
        for (size_t i = 0; i < count; i++) {
            snprintf(path_buf, sizeof(path_buf), "%s/fuzz/corpus/toml/%s", dir ? dir : ".", pass == 0 ? good[i] : bad[i]);
            FILE *f = fopen(path_buf, "rb");
            if (f == NULL) fail_msg("cannot open %s", path_buf);
            char buf[8192];
            size_t n = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            struct stet_toml_value *v = NULL;
            char err[256];
            int rc = stet_toml_parse(buf, n, &v, err, sizeof(err));
            if (pass == 0 && rc != 0) fail_msg("%s: %s", path_buf, err);
            if (pass == 1 && rc == 0) fail_msg("%s parsed but should not", path_buf);
            stet_toml_free(v);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),         cmocka_unit_test(test_multiline_strings),
        cmocka_unit_test(test_tables),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_parse_value),     cmocka_unit_test(test_limits),
        cmocka_unit_test(test_write_roundtrip), cmocka_unit_test(test_corpus_files_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
