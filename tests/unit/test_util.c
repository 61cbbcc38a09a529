/*
 * test_util.c: the value parsers of common/util.c (durations in systemd
 * syntax, sizes, numbers, percentages, booleans), URL origins, UTF-8
 * validation, base64, the JSON escapers' plain-byte scanner, and the
 * latency histogram of job.c.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fetchd.h"

static void
dur_ok(const char *s, int64_t want)
{
	int64_t	 v = -1;
	char	*cause = NULL;

	if (util_parse_duration(s, &v, &cause) != 0)
		fail_msg("'%s': %s", s, cause);
	assert_int_equal(v, want);
}

static void
dur_bad(const char *s)
{
	int64_t	 v = 42;
	char	*cause = NULL, want[256];

	assert_int_equal(util_parse_duration(s, &v, &cause), -1);
	assert_int_equal(v, 42);	/* output untouched */
	snprintf(want, sizeof(want), "expected a duration like 250ms, 10s, "
	    "5m or 1h30m, got '%s'", s);
	assert_string_equal(cause, want);
	free(cause);
}

static void
test_durations(void **state)
{
	dur_ok("250ms", 250 * USEC_PER_MSEC);
	dur_ok("10s", 10 * USEC_PER_SEC);
	dur_ok("5m", 300 * USEC_PER_SEC);
	dur_ok("5min", 300 * USEC_PER_SEC);
	dur_ok("1h30m", 5400 * USEC_PER_SEC);
	dur_ok("1h 30min", 5400 * USEC_PER_SEC);
	dur_ok("1.5s", 1500 * USEC_PER_MSEC);
	dur_ok("30", 30 * USEC_PER_SEC);
	dur_ok("0", 0);
	dur_ok("2d", 172800 * USEC_PER_SEC);
	dur_ok("100us", 100);
	dur_bad("");
	dur_bad("abc");
	dur_bad("10 parsecs");
	dur_bad("-5s");
	dur_bad("5s 3");
	dur_bad("ms");
}

static void
test_format_duration(void **state)
{
	char	 b[64];

	util_format_duration(5400 * USEC_PER_SEC, b, sizeof(b));
	assert_string_equal(b, "1h30min");
	util_format_duration(250 * USEC_PER_MSEC, b, sizeof(b));
	assert_string_equal(b, "250ms");
	util_format_duration(0, b, sizeof(b));
	assert_string_equal(b, "0");
	util_format_duration(1500 * USEC_PER_MSEC, b, sizeof(b));
	assert_string_equal(b, "1s500ms");
}

static void
test_sizes(void **state)
{
	uint64_t v = 0;
	char	*cause = NULL, b[32];

	assert_int_equal(util_parse_size("8M", &v, NULL), 0);
	assert_int_equal(v, 8 * 1024 * 1024);
	assert_int_equal(util_parse_size("512K", &v, NULL), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(util_parse_size("100", &v, NULL), 0);
	assert_int_equal(v, 100);
	assert_int_equal(util_parse_size("1GiB", &v, NULL), 0);
	assert_int_equal(v, 1024ULL * 1024 * 1024);
	assert_int_equal(util_parse_size("8X", &v, &cause), -1);
	assert_string_equal(cause, "expected a size like 512K, 8M or 1G, "
	    "got '8X'");
	free(cause);
	util_format_size(8 * 1024 * 1024, b, sizeof(b));
	assert_string_equal(b, "8M");
	util_format_size(1000, b, sizeof(b));
	assert_string_equal(b, "1000");
}

static void
test_numbers(void **state)
{
	uint64_t v;
	double	 d;
	int	 b;
	char	*cause = NULL;

	assert_int_equal(util_parse_uint("50", 1, 100, &v, NULL), 0);
	assert_int_equal(v, 50);
	assert_int_equal(util_parse_uint("0", 1, 100, &v, &cause), -1);
	assert_string_equal(cause, "expected a number from 1 to 100, got '0'");
	free(cause);
	assert_int_equal(util_parse_uint("12abc", 1, 100, &v, NULL), -1);
	assert_int_equal(util_parse_uint("-1", 0, 100, &v, NULL), -1);
	assert_int_equal(util_parse_percent("20%", &d, NULL), 0);
	assert_true(d > 0.1999 && d < 0.2001);
	assert_int_equal(util_parse_percent("20", &d, &cause), -1);
	assert_string_equal(cause, "expected a percentage from 0% to 100%, "
	    "got '20'");
	free(cause);
	assert_int_equal(util_parse_percent("101%", &d, NULL), -1);
	assert_int_equal(util_parse_bool("yes", &b, NULL), 0);
	assert_int_equal(b, 1);
	assert_int_equal(util_parse_bool("off", &b, NULL), 0);
	assert_int_equal(b, 0);
	assert_int_equal(util_parse_bool("maybe", &b, NULL), -1);
}

static void
origin_is(const char *url, const char *want)
{
	char	 o[256];

	if (want == NULL) {
		assert_int_equal(util_url_origin(url, o, sizeof(o)), -1);
		return;
	}
	assert_int_equal(util_url_origin(url, o, sizeof(o)), 0);
	assert_string_equal(o, want);
}

static void
test_origin(void **state)
{
	origin_is("http://Example.COM/x", "http://example.com:80");
	origin_is("https://example.com/x?y", "https://example.com:443");
	origin_is("http://127.0.0.1:8080/item/1", "http://127.0.0.1:8080");
	origin_is("http://user:pw@h:81/", "http://h:81");
	origin_is("http://[::1]:9000/a", "http://[::1]:9000");
	origin_is("http://[::1]/a", "http://[::1]:80");
	origin_is("HTTPS://h", "https://h:443");
	origin_is("ftp://h/", NULL);
	origin_is("http:///x", NULL);
}

/* The plain bytewise check, as util_utf8_valid() was before its fast path. */
static int
utf8_ref(const unsigned char *p, size_t len)
{
	size_t		 i = 0, n, k;
	unsigned	 c, min;

	while (i < len) {
		c = p[i++];
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, min = 0x80, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, min = 0x800, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, min = 0x10000, c &= 0x07;
		else
			return (0);
		if (len - i < n)
			return (0);
		for (k = 0; k < n; k++, i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (0);
			c = (c << 6) | (p[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return (0);
	}
	return (1);
}

/* The eight-bytes-at-a-time path: every sequence at every offset. */
static void
test_utf8_offsets(void **state)
{
	static const char *const seq[] = { "\xc3\xa9", "\xf0\x9f\x98\x80",
	    "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xff", "\x80", "\xe2\x82",
	    "\xf4\x90\x80\x80", "\x7f" };
	char		 buf[64];
	size_t		 i, off, tail, n;

	(void)state;
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		for (off = 0; off < 20; off++)
			for (tail = 0; tail < 10; tail++) {
				memset(buf, 'a', sizeof(buf));
				n = strlen(seq[i]);
				memcpy(buf + off, seq[i], n);
				n += off + tail;
				assert_int_equal(util_utf8_valid(buf, n),
				    utf8_ref((unsigned char *)buf, n));
			}
}

static void
test_utf8_base64(void **state)
{
	struct buf	 b;

	assert_true(util_utf8_valid("h\xc3\xa9llo", 6));
	assert_true(util_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_false(util_utf8_valid("\xc3", 1));		/* truncated */
	assert_false(util_utf8_valid("\xc0\xaf", 2));		/* overlong */
	assert_false(util_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(util_utf8_valid("\xff", 1));
	buf_init(&b);
	util_base64(&b, "", 0);
	assert_string_equal(b.data == NULL ? "" : b.data, "");
	util_base64(&b, "f", 1);
	assert_string_equal(b.data, "Zg==");
	buf_reset(&b);
	util_base64(&b, "foob", 4);
	assert_string_equal(b.data, "Zm9vYg==");
	buf_reset(&b);
	util_base64(&b, "\xff\xfe\xfd", 3);
	assert_string_equal(b.data, "//79");
	buf_free(&b);
}

static void
test_histo(void **state)
{
	struct histo	 h;
	int64_t		 v;
	int		 i;

	memset(&h, 0, sizeof(h));
	assert_int_equal(histo_quantile(&h, 0.5), 0);
	for (i = 1; i <= 1000; i++)
		histo_add(&h, (int64_t)i * 1000);	/* 1..1000 ms */
	v = histo_quantile(&h, 0.5);
	assert_true(v > 480000 && v < 520000);
	v = histo_quantile(&h, 0.99);
	assert_true(v > 960000 && v < 1020000);
	histo_add(&h, INT64_MAX / 2);	/* clamps, no overflow */
	assert_int_equal(h.n, 1001);
}

/*
 * util_json_plain() against the bytewise rule, for every byte value at
 * every position of a 1..40 byte string (the word loop and the tail).
 */
static void
test_json_plain(void **state)
{
	char	 s[41];
	size_t	 len, at, want;
	int	 c;

	assert_int_equal(util_json_plain("", 0), 0);
	assert_int_equal(util_json_plain("http://127.0.0.1:8080/json/1234", 31),
	    31);
	assert_int_equal(util_json_plain("abc\"def", 7), 3);
	for (len = 1; len <= 40; len++)
		for (at = 0; at < len; at++)
			for (c = 0; c < 256; c++) {
				memset(s, 'a', sizeof(s));
				s[at] = (char)c;
				want = c < 0x20 || c >= 0x80 || c == '"' ||
				    c == '\\' ? at : len;
				if (util_json_plain(s, len) != want)
					fail_msg("len %zu, byte 0x%02x at %zu",
					    len, c, at);
			}
	/* Only the first n bytes count. */
	memset(s, 'a', sizeof(s));
	s[20] = '"';
	assert_int_equal(util_json_plain(s, 20), 20);
	assert_int_equal(util_json_plain(s, 21), 20);
	/* Bytes next to each other across a word boundary. */
	memcpy(s, "aaaaaaa\x7f\x1f", 9);
	assert_int_equal(util_json_plain(s, 9), 8);
}

static void
test_levenshtein(void **state)
{
	assert_int_equal(util_levenshtein("concurency", "concurrency"), 1);
	assert_int_equal(util_levenshtein("", "abc"), 3);
	assert_int_equal(util_levenshtein("same", "same"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_utf8_base64),
		cmocka_unit_test(test_utf8_offsets),
		cmocka_unit_test(test_histo),
		cmocka_unit_test(test_levenshtein),
		cmocka_unit_test(test_json_plain),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
