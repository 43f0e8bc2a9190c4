/* Tests for src/common/timefmt.c: duration parsing (jiff friendly + ISO 8601, as restate
 * accepts them) and printing, timestamp formats from http-api.md §1.3, percent coding, UTF-8. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/timefmt.h"

static void expect_duration(const char *s, uint64_t want_ms) {
    uint64_t ms = 12345;
    char err[256];
    int rc = stet_duration_parse(s, strlen(s), &ms, err, sizeof(err));
    if (rc != 0 || ms != want_ms) {
        fprintf(stderr, "duration '%s': rc=%d ms=%llu want %llu (%s)\n", s, rc, (unsigned long long)ms,
                (unsigned long long)want_ms, err);
        fail();
    }
}

static void expect_duration_error(const char *s, const char *fragment) {
    uint64_t ms = 777;
    char err[256] = "unset";
    int rc = stet_duration_parse(s, strlen(s), &ms, err, sizeof(err));
    if (rc != -EINVAL) {
        fprintf(stderr, "duration '%s' unexpectedly parsed as %llu\n", s, (unsigned long long)ms);
        fail();
    }
    assert_int_equal(ms, 777); /* untouched on error */
    assert_true(strlen(err) > 0);
    if (fragment != NULL && strstr(err, fragment) == NULL) {
        fprintf(stderr, "duration '%s': error '%s' lacks '%s'\n", s, err, fragment);
        fail();
    }
}

static void test_duration_friendly(void **state) {
    (void)state;
    expect_duration("2h", 7200000);
    expect_duration("90s", 90000);
    expect_duration("500ms", 500);
    expect_duration("1h 30m", 5400000);
    expect_duration("1h30m", 5400000);
    expect_duration("10 sec", 10000);
    expect_duration("60 sec", 60000);
    expect_duration("1 hour 2 minutes", 3720000);
    expect_duration("1 hour, 2 minutes", 3720000);
    expect_duration("1d", 86400000);
    expect_duration("2000ms", 2000);
    expect_duration("0s", 0);
    expect_duration("0d", 0);
    expect_duration("0 days", 0);
    expect_duration("0", 0);
    expect_duration("1w", 604800000);
    expect_duration("1 week", 604800000);
    expect_duration("1w4d", 950400000);
    expect_duration("1 wk 4 days", 950400000);
    expect_duration("3d4h59m", 277140000);
    expect_duration("3 days, 4 hours, 59 minutes", 277140000);
    expect_duration("3 mins 34s 123ms", 214123);
    expect_duration("3 mins 34.123 secs", 214123);
    expect_duration("3 mins 34,123s", 214123);
    expect_duration("1.5s", 1500);
    expect_duration("1.5h", 5400000);
    expect_duration("10.5 hours", 37800000);
    expect_duration("0.0021s", 2);   /* 2.1ms truncated */
    expect_duration("999us", 0);
    expect_duration("1500us", 1);
    expect_duration("1500\xc2\xb5s", 1);
    expect_duration("2000000ns", 2);
    expect_duration("1ms 999us 999ns", 1);
    expect_duration("10hrs 30mins", 37800000);
    expect_duration("1 millisecond", 1);
    expect_duration("5 msecs", 5);
    expect_duration("10:30:00", 37800000);
    expect_duration("01:01:01.5", 3661500);
    expect_duration("01:01:01,5", 3661500);
    expect_duration("1 day, 01:00:00", 90000000);
    expect_duration("1d 00:00:01", 86401000);
    expect_duration("+5s", 5000);
    expect_duration("0y 1d", 86400000);
    expect_duration("0 months 2s", 2000);
    expect_duration("-0s", 0);
    expect_duration("1s ", 1000);
    expect_duration("213503982334d", 213503982334ULL * 86400000ULL); /* close to u64 ms max */
}

static void test_duration_iso(void **state) {
    (void)state;
    expect_duration("PT1M", 60000);
    expect_duration("PT2S", 2000);
    expect_duration("P1DT2H", 93600000);
    expect_duration("PT0.5S", 500);
    expect_duration("PT1.5M", 90000);
    expect_duration("PT1,5S", 1500);
    expect_duration("P1D", 86400000);
    expect_duration("P2W", 1209600000);
    expect_duration("pt2h30m", 9000000);
    expect_duration("PT2H30M0.123456789S", 9000123);
    expect_duration("PT86400S", 86400000);
    expect_duration("P0D", 0);
    expect_duration("PT0S", 0);
    expect_duration("P0Y1D", 86400000);
    expect_duration("+PT1S", 1000);
}

static void test_duration_errors(void **state) {
    (void)state;
    expect_duration_error("", NULL);
    expect_duration_error("10", "unit designator");
    expect_duration_error("5", NULL);
    expect_duration_error("00", NULL);
    expect_duration_error("1M", "unit designator");
    expect_duration_error("abc", NULL);
    expect_duration_error("1x", NULL);
    expect_duration_error("1h1h", "after unit");
    expect_duration_error("1m1h", "after unit");
    expect_duration_error("1.5d", "fractional");
    expect_duration_error("1.5s 3ms", NULL);
    expect_duration_error("1y", "please use units of days or smaller");
    expect_duration_error("2 months", "please use units of days or smaller");
    expect_duration_error("P1Y", "please use units of days or smaller");
    expect_duration_error("P1M", "please use units of days or smaller");
    expect_duration_error("-5s", "negative");
    expect_duration_error("5s ago", "negative");
    expect_duration_error("-PT1S", "negative");
    expect_duration_error("1.s", NULL);
    expect_duration_error("1.1234567891s", "fractional digits");
    expect_duration_error("1h 30", NULL);
    expect_duration_error("1h,30m", NULL);
    expect_duration_error(" 1s", NULL);
    expect_duration_error("P", "at least one unit");
    expect_duration_error("PT", "time unit after 'T'");
    expect_duration_error("P1H", NULL);
    expect_duration_error("PT1D", NULL);
    expect_duration_error("P1.5D", "fractional");
    expect_duration_error("PT1.5S2M", NULL);
    expect_duration_error("PT1S1M", NULL);
    expect_duration_error("PT1SX", "unparsed input");
    expect_duration_error("01:60:00", "minute");
    expect_duration_error("01:00:60", "second");
    expect_duration_error("1h 01:00:00", NULL);
    expect_duration_error("99999999999999999999s", "too big");
    expect_duration_error("213503982335d", "too large"); /* > u64 ms */
    expect_duration_error("18446744073709551615s", "too large");
    expect_duration_error("-5s ago", NULL);
    /* error buffer optional */
    uint64_t ms;
    assert_int_equal(stet_duration_parse("x", 1, &ms, NULL, 0), -EINVAL);
    /* non-terminated input is honoured by length */
    assert_int_equal(stet_duration_parse("5sXYZ", 2, &ms, NULL, 0), 0);
    assert_int_equal(ms, 5000);
}

static void expect_friendly(uint64_t ms, const char *want) {
    char out[64];
    stet_duration_format_friendly(ms, out, sizeof(out));
    assert_string_equal(out, want);
    /* and it parses back */
    uint64_t back;
    assert_int_equal(stet_duration_parse(out, strlen(out), &back, NULL, 0), 0);
    assert_true(back == ms);
}

static void expect_iso(uint64_t ms, const char *want) {
    char out[64];
    stet_duration_format_iso(ms, out, sizeof(out));
    assert_string_equal(out, want);
    uint64_t back;
    assert_int_equal(stet_duration_parse(out, strlen(out), &back, NULL, 0), 0);
    assert_true(back == ms);
}

static void test_duration_format(void **state) {
    (void)state;
    expect_friendly(0, "0s");
    expect_friendly(86400000, "1d");
    expect_friendly(3600000, "1h");
    expect_friendly(1800000, "30m");
    expect_friendly(90000, "1m 30s");
    expect_friendly(500, "500ms");
    expect_friendly(93784005, "1d 2h 3m 4s 5ms");
    expect_friendly(86400000ULL * 400 + 1, "400d 1ms");
    expect_friendly(UINT64_MAX, "213503982334d 14h 25m 51s 615ms");

    expect_iso(0, "P0D");
    expect_iso(86400000, "PT86400S");
    expect_iso(1500, "PT1.5S");
    expect_iso(5, "PT0.005S");
    expect_iso(1050, "PT1.05S");
    expect_iso(123, "PT0.123S");
    expect_iso(60000, "PT60S");

    /* truncation keeps a terminated prefix */
    char tiny[4];
    stet_duration_format_friendly(93784005, tiny, sizeof(tiny));
    assert_string_equal(tiny, "1d ");
    stet_duration_format_iso(86400000, tiny, sizeof(tiny));
    assert_string_equal(tiny, "PT8");
}

static void test_timestamps(void **state) {
    (void)state;
    char out[64];
    stet_time_format_rfc3339_nanos(1795499494473ULL, out, sizeof(out));
    assert_string_equal(out, "2026-11-24T05:51:34.473000000Z");
    stet_time_format_rfc3339_millis(1795499488254ULL, out, sizeof(out));
    assert_string_equal(out, "2026-11-24T05:51:28.254Z");
    stet_time_format_rfc3339_offset(1795585888262ULL, out, sizeof(out));
    assert_string_equal(out, "2026-11-25T05:51:28.262+00:00");
    stet_time_format_http_date(1795500531000ULL, out, sizeof(out));
    assert_string_equal(out, "Tue, 24 Nov 2026 06:08:51 GMT");
    stet_time_format_http_date(1795500531999ULL, out, sizeof(out));
    assert_string_equal(out, "Tue, 24 Nov 2026 06:08:51 GMT");
    stet_time_format_rfc3339_millis(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    stet_time_format_http_date(0, out, sizeof(out));
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    stet_time_format_rfc3339_millis(951868799999ULL, out, sizeof(out));
    assert_string_equal(out, "2000-02-29T23:59:59.999Z");
    stet_time_format_http_date(951868799999ULL, out, sizeof(out));
    assert_string_equal(out, "Tue, 29 Feb 2000 23:59:59 GMT");
    stet_time_format_rfc3339_millis(4107542400000ULL, out, sizeof(out));
    assert_string_equal(out, "2100-03-01T00:00:00.000Z");
    stet_time_format_http_date(4107542400000ULL, out, sizeof(out));
    assert_string_equal(out, "Mon, 01 Mar 2100 00:00:00 GMT");
}

static void expect_ts(const char *s, uint64_t want) {
    uint64_t ms = 0;
    int rc = stet_time_parse_rfc3339(s, strlen(s), &ms);
    if (rc != 0 || ms != want) {
        fprintf(stderr, "timestamp %s: rc=%d ms=%llu\n", s, rc, (unsigned long long)ms);
        fail();
    }
}

static void test_timestamp_parse(void **state) {
    (void)state;
    expect_ts("2026-11-24T05:51:28.254Z", 1795499488254ULL);
    expect_ts("2026-11-24T05:51:34.473000000Z", 1795499494473ULL);
    expect_ts("2026-11-25T05:51:28.262+00:00", 1795585888262ULL);
    expect_ts("2026-11-25T07:51:28.262+02:00", 1795585888262ULL);
    expect_ts("2026-11-25T03:21:28.262-02:30", 1795585888262ULL);
    expect_ts("1970-01-01T00:00:00Z", 0);
    expect_ts("2000-02-29t23:59:59.9999z", 951868799999ULL);
    expect_ts("2000-02-29 23:59:59.9z", 951868799900ULL);
    uint64_t ms;
    const char *bad[] = {"", "2026-11-24", "2026-11-24T05:51:28", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                         "2025-02-29T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T05:51:28.Z",
                         "2026-11-24T05:51:28Zx", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00+00:01",
                         "2026-11-24T05:51:28+0100", "26-11-24T05:51:28Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (stet_time_parse_rfc3339(bad[i], strlen(bad[i]), &ms) != -EINVAL) {
            fprintf(stderr, "timestamp %s parsed\n", bad[i]);
            fail();
        }
    }
    /* format -> parse round trip over a range of instants */
    for (uint64_t t = 0; t < 5000000000000ULL; t += 123456789017ULL) {
        char out[64];
        stet_time_format_rfc3339_nanos(t, out, sizeof(out));
        expect_ts(out, t);
        stet_time_format_rfc3339_offset(t, out, sizeof(out));
        expect_ts(out, t);
    }
}

static void expect_decode(const char *in, const char *want, size_t want_len) {
    struct stet_buf b = STET_BUF_INIT;
    stet_buf_append_str(&b, "pre:");
    assert_int_equal(stet_percent_decode(in, strlen(in), &b), 0);
    assert_int_equal(b.len, 4 + want_len);
    assert_memory_equal(b.data + 4, want, want_len);
    stet_buf_free(&b);
}

static void expect_decode_error(const char *in) {
    struct stet_buf b = STET_BUF_INIT;
    assert_int_equal(stet_percent_decode(in, strlen(in), &b), -EINVAL);
    stet_buf_free(&b);
}

static void expect_encode(const char *in, size_t len, const char *want) {
    struct stet_buf b = STET_BUF_INIT;
    stet_percent_encode(in, len, &b);
    char *s = stet_buf_strdup(&b);
    assert_string_equal(s, want);
    /* decoding gives the input back when it is UTF-8 */
    struct stet_buf d = STET_BUF_INIT;
    if (stet_utf8_valid((const uint8_t *)in, len)) {
        assert_int_equal(stet_percent_decode(s, strlen(s), &d), 0);
        assert_int_equal(d.len, len);
        if (len > 0) assert_memory_equal(d.data, in, len);
    }
    free(s);
    stet_buf_free(&d);
    stet_buf_free(&b);
}

static void test_percent(void **state) {
    (void)state;
    expect_decode("", "", 0);
    expect_decode("abc", "abc", 3);
    expect_decode("a%20b", "a b", 3);
    expect_decode("a+b", "a+b", 3);
    expect_decode("%2F%2f", "//", 2);
    expect_decode("caf%C3%A9", "caf\xc3\xa9", 5);
    expect_decode("%00", "\0", 1);
    expect_decode("%E2%82%AC", "\xe2\x82\xac", 3);
    expect_decode_error("%");
    expect_decode_error("%2");
    expect_decode_error("a%2");
    expect_decode_error("%zz");
    expect_decode_error("%2G");
    expect_decode_error("%FF");
    expect_decode_error("%C3");
    expect_decode_error("%C0%AF");
    expect_decode_error("%ED%A0%80");

    expect_encode("", 0, "");
    expect_encode("abcXYZ019", 9, "abcXYZ019");
    expect_encode("-_.!~*'()", 9, "-_.!~*'()");
    expect_encode("a b/c?d=e&f#g", 13, "a%20b%2Fc%3Fd%3De%26f%23g");
    expect_encode("caf\xc3\xa9", 5, "caf%C3%A9");
    expect_encode("+%:@", 4, "%2B%25%3A%40");
    expect_encode("\0\xff", 2, "%00%FF");
}

static void test_utf8(void **state) {
    (void)state;
    assert_true(stet_utf8_valid((const uint8_t *)"", 0));
    assert_true(stet_utf8_valid((const uint8_t *)"ascii", 5));
    assert_true(stet_utf8_valid((const uint8_t *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
    assert_true(stet_utf8_valid((const uint8_t *)"\xed\x9f\xbf\xee\x80\x80", 6)); /* around surrogates */
    const char *bad[] = {"\x80", "\xc3", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
                         "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                         "\xff", "\xe2\x82", ("a\xe2\x82" "b")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(stet_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])));

    uint32_t cp;
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xe2\x82", 2, &cp), -2); /* truncated: maximal subpart */
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xe2\x82x", 3, &cp), -2);
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xe2x", 2, &cp), -1);
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xc0\xaf", 2, &cp), -1);
    assert_int_equal(stet_utf8_decode((const uint8_t *)"\xed\xa0\x80", 3, &cp), -1);

    struct stet_buf b = STET_BUF_INIT;
    const uint32_t cps[] = {0x24, 0xA2, 0x20AC, 0xFFFF, 0x10348, 0x10FFFF, 0};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        stet_buf_reset(&b);
        stet_utf8_append(&b, cps[i]);
        assert_true(stet_utf8_valid(b.data, b.len));
        assert_int_equal(stet_utf8_decode(b.data, b.len, &cp), (int)b.len);
        assert_int_equal(cp, cps[i]);
    }
    stet_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_friendly),
        cmocka_unit_test(test_duration_iso),
        cmocka_unit_test(test_duration_errors),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_timestamp_parse),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
