/*
 * test_glob.c: unit tests of daemon/glob.c, linked alone with libcommon.
 *
 * Every kind of part (ranges, padding, steps, letters, sets), their
 * cartesian product in curl's order, escapes, IPv6 literals, every error
 * message by its exact text, the max-urls limit, 64-bit overflow, and random
 * access into a ten-million-URL glob.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fetchd.h"

/* Compile pat (no limit) or fail the test. */
static struct glob *
compile_ok(const char *pat, uint64_t max)
{
	struct glob	*g = NULL;
	char		*cause = NULL;

	if (glob_compile(pat, max, &g, &cause) == -1)
		fail_msg("'%s': %s", pat, cause);
	assert_non_null(g);
	return (g);
}

/* URL number idx of g, in a static buffer the test frees. */
static char *
expand(const struct glob *g, uint64_t idx)
{
	struct buf	 b;

	buf_init(&b);
	buf_adds(&b, "");
	glob_expand(g, idx, &b);
	return (b.data);
}

static void
check_url(const struct glob *g, uint64_t idx, const char *want)
{
	char	*s = expand(g, idx);

	assert_string_equal(s, want);
	free(s);
}

/* Every URL of pat, in order. */
static void
check_all(const char *pat, const char *const *want, size_t n)
{
	struct glob	*g = compile_ok(pat, 0);
	size_t		 i;

	assert_int_equal(glob_count(g), n);
	for (i = 0; i < n; i++)
		check_url(g, i, want[i]);
	glob_free(g);
}

/* pat must fail with exactly this cause. */
static void
check_error(const char *pat, uint64_t max, const char *want)
{
	struct glob	*g = (struct glob *)1;
	char		*cause = NULL;

	assert_int_equal(glob_compile(pat, max, &g, &cause), -1);
	assert_ptr_equal(g, (struct glob *)1);	/* output untouched */
	assert_non_null(cause);
	assert_string_equal(cause, want);
	free(cause);
}

static void
t_literal(void **state)
{
	static const char *const w[] = { "http://example.com/a?b=c#d" };

	(void)state;
	check_all("http://example.com/a?b=c#d", w, 1);
	check_all("", (const char *const[]){ "" }, 1);
}

static void
t_range(void **state)
{
	struct glob	*g;

	(void)state;
	g = compile_ok("http://x/item/[0-199]", 0);
	assert_int_equal(glob_count(g), 200);
	check_url(g, 0, "http://x/item/0");
	check_url(g, 9, "http://x/item/9");
	check_url(g, 10, "http://x/item/10");
	check_url(g, 199, "http://x/item/199");
	glob_free(g);
	check_all("x[7-7]", (const char *const[]){ "x7" }, 1);
}

static void
t_padding(void **state)
{
	struct glob	*g;

	(void)state;
	g = compile_ok("http://x/[001-200].json", 0);
	assert_int_equal(glob_count(g), 200);
	check_url(g, 0, "http://x/001.json");
	check_url(g, 98, "http://x/099.json");
	check_url(g, 199, "http://x/200.json");
	glob_free(g);
	/* The width of the first number; wider values are not cut. */
	g = compile_ok("[01-100]", 0);
	check_url(g, 0, "01");
	check_url(g, 99, "100");
	glob_free(g);
	/* A lone "0" does not pad. */
	check_all("[0-10:5]", (const char *const[]){ "0", "5", "10" }, 3);
}

static void
t_step(void **state)
{
	struct glob	*g;

	(void)state;
	g = compile_ok("http://x/?p=[0-100:10]", 0);
	assert_int_equal(glob_count(g), 11);
	check_url(g, 3, "http://x/?p=30");
	check_url(g, 10, "http://x/?p=100");
	glob_free(g);
	/* The last value is the last step that fits. */
	check_all("[0-9:4]", (const char *const[]){ "0", "4", "8" }, 3);
	check_all("[000-20:10]", (const char *const[]){ "000", "010", "020" },
	    3);
}

static void
t_alpha(void **state)
{
	struct glob	*g;

	(void)state;
	g = compile_ok("http://x/[a-z]", 0);
	assert_int_equal(glob_count(g), 26);
	check_url(g, 0, "http://x/a");
	check_url(g, 25, "http://x/z");
	glob_free(g);
	check_all("[A-E:2]", (const char *const[]){ "A", "C", "E" }, 3);
}

static void
t_set(void **state)
{
	(void)state;
	check_all("http://{a,b,c}.example/",
	    (const char *const[]){ "http://a.example/", "http://b.example/",
	    "http://c.example/" }, 3);
	check_all("http{,s}://x/", (const char *const[]){ "http://x/",
	    "https://x/" }, 2);
	check_all("{one}", (const char *const[]){ "one" }, 1);
	check_all("{a\\,b,c\\}}", (const char *const[]){ "a,b", "c}" }, 2);
}

/* The rightmost part varies fastest, as in curl. */
static void
t_cartesian(void **state)
{
	static const char *const w[] = {
		"http://a/1/x", "http://a/1/y", "http://a/2/x", "http://a/2/y",
		"http://a/3/x", "http://a/3/y", "http://b/1/x", "http://b/1/y",
		"http://b/2/x", "http://b/2/y", "http://b/3/x", "http://b/3/y",
	};

	(void)state;
	check_all("http://{a,b}/[1-3]/[x-y]", w, nitems(w));
}

/* Index i of a 3 x 4 x 5 product matches the nested loops. */
static void
t_random_access(void **state)
{
	struct glob	*g;
	char		 want[64];
	unsigned	 a, b, c, i = 0;

	(void)state;
	g = compile_ok("{p,q,r}-[0-3]-[a-e]", 0);
	assert_int_equal(glob_count(g), 60);
	for (a = 0; a < 3; a++)
		for (b = 0; b < 4; b++)
			for (c = 0; c < 5; c++) {
				snprintf(want, sizeof(want), "%c-%u-%c",
				    "pqr"[a], b, 'a' + c);
				check_url(g, i++, want);
			}
	/* Out of range: nothing is appended. */
	check_url(g, 60, "");
	glob_free(g);
}

static void
t_escapes(void **state)
{
	(void)state;
	check_all("http://x/\\[1-2\\]", (const char *const[]){
	    "http://x/[1-2]" }, 1);
	check_all("http://x/\\{a\\,b\\}", (const char *const[]){
	    "http://x/{a,b}" }, 1);
	/* A backslash before anything else stays, as does a trailing one. */
	check_all("a\\d\\", (const char *const[]){ "a\\d\\" }, 1);
	/* Outside a set, a comma is an ordinary character. */
	check_all("a,b", (const char *const[]){ "a,b" }, 1);
}

static void
t_ipv6(void **state)
{
	struct glob	*g;

	(void)state;
	check_all("http://[::1]:8080/x", (const char *const[]){
	    "http://[::1]:8080/x" }, 1);
	check_all("http://[2001:db8::1]/{a,b}", (const char *const[]){
	    "http://[2001:db8::1]/a", "http://[2001:db8::1]/b" }, 2);
	check_all("http://[::ffff:192.0.2.1]/", (const char *const[]){
	    "http://[::ffff:192.0.2.1]/" }, 1);
	g = compile_ok("http://[fe80::1%25eth0]:80/[1-3]", 0);
	assert_int_equal(glob_count(g), 3);
	check_url(g, 2, "http://[fe80::1%25eth0]:80/3");
	glob_free(g);
}

static void
t_errors(void **state)
{
	(void)state;
	check_error("http://x/[]", 0, "empty range '[]' at position 10");
	check_error("http://x/[9-0]", 0,
	    "reversed range '[9-0]' at position 10");
	check_error("[z-a]", 0, "reversed range '[z-a]' at position 1");
	check_error("[0-10:0]", 0, "bad step in '[0-10:0]' at position 1: "
	    "expected a step of at least 1");
	check_error("[a-9]", 0,
	    "mixed letters and numbers in '[a-9]' at position 1");
	check_error("[1-z]", 0,
	    "mixed letters and numbers in '[1-z]' at position 1");
	check_error("[a-Z]", 0,
	    "letters of different case in '[a-Z]' at position 1");
	check_error("x[1-5", 0, "unmatched '[' at position 2");
	check_error("x{a,b", 0, "unmatched '{' at position 2");
	check_error("x]", 0, "unmatched ']' at position 2 (escape it as \\])");
	check_error("x}", 0, "unmatched '}' at position 2 (escape it as \\})");
	check_error("{a,{b}}", 0, "nested '{' in a set at position 4");
	check_error("{a,[1-2]}", 0, "nested '[' in a set at position 4");
	check_error("[1-[2]]", 0, "nested '[' in a range at position 4");
	check_error("x{}", 0, "empty set '{}' at position 2");
	check_error("[x]", 0, "bad range '[x]' at position 1: expected "
	    "[0-9], [001-100], [0-100:10] or [a-z]");
	check_error("[-1]", 0, "bad range '[-1]' at position 1: expected "
	    "[0-9], [001-100], [0-100:10] or [a-z]");
	check_error("[1-2:]", 0, "bad range '[1-2:]' at position 1: expected "
	    "[0-9], [001-100], [0-100:10] or [a-z]");
	check_error("[1-2x]", 0, "bad range '[1-2x]' at position 1: expected "
	    "[0-9], [001-100], [0-100:10] or [a-z]");
	check_error("[0-9999999999999999999]", 0, "number too large in "
	    "'[0-9999999999999999999]' at position 1");
}

static void
t_too_many_parts(void **state)
{
	char	 pat[512];
	size_t	 i;

	(void)state;
	pat[0] = '\0';
	for (i = 0; i < 100; i++)
		strcat(pat, "{a}");
	glob_free(compile_ok(pat, 0));
	strcat(pat, "{a}");
	check_error(pat, 0, "more than 100 ranges and sets at position 301");
}

static void
t_max(void **state)
{
	(void)state;
	glob_free(compile_ok("[1-100]", 100));
	check_error("http://x/[1-100]", 99,
	    "glob expands to 100 URLs, more than max-urls 99");
	check_error("[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]", 10000000,
	    "glob expands to 100000000 URLs, more than max-urls 10000000");
}

static void
t_overflow(void **state)
{
	struct glob	*g;

	(void)state;
	g = compile_ok("[0-999999999999999999]", 0);
	assert_true(glob_count(g) == 1000000000000000000ULL);
	check_url(g, 999999999999999999ULL, "999999999999999999");
	glob_free(g);
	/* 10^18 x 10^18 does not fit in 64 bits. */
	check_error("[0-999999999999999999][0-999999999999999999]", 0,
	    "glob expands to more than 18446744073709551615 URLs");
	/* 10^18 x 20 does not either; 10^18 x 9 does. */
	check_error("[0-999999999999999999][a-t]", 0,
	    "glob expands to more than 18446744073709551615 URLs");
	g = compile_ok("[0-999999999999999999][a-r:2]", 0);
	assert_true(glob_count(g) == 9000000000000000000ULL);
	check_url(g, 9000000000000000000ULL - 1, "999999999999999999q");
	glob_free(g);
}

/* Ten million URLs: exact count, last element, nothing expanded. */
static void
t_huge(void **state)
{
	struct glob	*g;

	(void)state;
	g = compile_ok("https://api.example.com/item/[0-9999999]", 10000000);
	assert_int_equal(glob_count(g), 10000000);
	check_url(g, 9999999, "https://api.example.com/item/9999999");
	check_url(g, 5000000, "https://api.example.com/item/5000000");
	glob_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_literal),
		cmocka_unit_test(t_range),
		cmocka_unit_test(t_padding),
		cmocka_unit_test(t_step),
		cmocka_unit_test(t_alpha),
		cmocka_unit_test(t_set),
		cmocka_unit_test(t_cartesian),
		cmocka_unit_test(t_random_access),
		cmocka_unit_test(t_escapes),
		cmocka_unit_test(t_ipv6),
		cmocka_unit_test(t_errors),
		cmocka_unit_test(t_too_many_parts),
		cmocka_unit_test(t_max),
		cmocka_unit_test(t_overflow),
		cmocka_unit_test(t_huge),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
