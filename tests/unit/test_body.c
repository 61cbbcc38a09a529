/*
 * test_body.c: unit tests of body.c (what a response body becomes in a
 * result record, fed in one chunk and byte by byte), of results_record()
 * (the exact text of record lines), and of the results writer thread (a
 * real loop, a temporary state directory, 10,000 records and a summary,
 * write errors and recovery, resuming after a torn last line).
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fetchd.h"

#define NLINES	10000

/* Feed s in chunks of the given size (0: all at once). */
static struct body *
feed(const char *extract, uint64_t max, const char *s, size_t len,
    size_t chunk)
{
	struct body	*b;
	size_t		 off, n;

	b = body_new(max, extract);
	if (chunk == 0)
		chunk = len;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		assert_int_equal(body_feed(b, s + off, n), 0);
	}
	return (b);
}

/* The body member for s, both ways of feeding; they must agree. */
static void
check_body(const char *s, size_t len, const char *want)
{
	struct body	*b;
	struct buf	 out;
	char		*cause;
	size_t		 chunk;

	for (chunk = 0; chunk <= 1; chunk++) {
		b = feed(NULL, 1 << 20, s, len, chunk);
		assert_int_equal(body_finish(b, &cause), 0);
		assert_null(cause);
		buf_init(&out);
		buf_adds(&out, "");
		body_encode(b, &out);
		assert_string_equal(out.data, want);
		buf_free(&out);
		body_free(b);
	}
}
#define CHECK(s, want)	check_body(s, sizeof(s) - 1, want)

static void	check_nesting(const char *, size_t, int);

static void
test_json(void **state)
{
	(void)state;
	CHECK("{\"a\": 1, \"b\": [true, false, null, \"x\\u00e9\\/\"],\n"
	    "  \"c\": {\"d\": -1.5e3, \"e\": 0.25}}\r\n",
	    ",\"body\":{\"a\":1,\"b\":[true,false,null,\"x\xc3\xa9/\"],"
	    "\"c\":{\"d\":-1.5e3,\"e\":0.25}}");
	CHECK(" [1, 2 ,3 ] ", ",\"body\":[1,2,3]");
	CHECK("[]", ",\"body\":[]");
	CHECK("42", ",\"body\":42");
	CHECK("-0.5\n", ",\"body\":-0.5");
	CHECK("1E+2", ",\"body\":1E+2");
	CHECK("[2e-3,0,-0.0e0]", ",\"body\":[2e-3,0,-0.0e0]");
	CHECK("18446744073709551615", ",\"body\":18446744073709551615");
	CHECK("[-9223372036854775808]", ",\"body\":[-9223372036854775808]");
	CHECK("\"hi\\n\\\"there\\\"\"", ",\"body\":\"hi\\n\\\"there\\\"\"");
	CHECK("true", ",\"body\":true");
	CHECK("null", ",\"body\":null");
	/* Multi-byte characters split between chunks are still JSON. */
	CHECK("{\"k\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	    ",\"body\":{\"k\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
	CHECK("\"\\u0000\"", ",\"body\":\"\\u0000\"");
}

static void
test_not_json(void **state)
{
	(void)state;
	/* Trailing garbage. */
	CHECK("{\"a\":1} x", ",\"body\":\"{\\\"a\\\":1} x\"");
	CHECK("{\"a\":1}{}", ",\"body\":\"{\\\"a\\\":1}{}\"");
	CHECK("12 3", ",\"body\":\"12 3\"");
	/* Invalid JSON. */
	CHECK("{\"a\":}", ",\"body\":\"{\\\"a\\\":}\"");
	CHECK("hello, world\n", ",\"body\":\"hello, world\\n\"");
	CHECK("  ", ",\"body\":\"  \"");
	CHECK("[1,]", ",\"body\":\"[1,]\"");
	/* What json-c's strict mode lets through but is not JSON. */
	CHECK("NaN", ",\"body\":\"NaN\"");
	CHECK("[-Infinity]", ",\"body\":\"[-Infinity]\"");
	CHECK("1.", ",\"body\":\"1.\"");
	CHECK("[1.e5]", ",\"body\":\"[1.e5]\"");
	CHECK("-01", ",\"body\":\"-01\"");
	CHECK("{'a':1}", ",\"body\":\"{'a':1}\"");
	CHECK("\"a\tb\"", ",\"body\":\"\\\"a\\tb\\\"\"");
	CHECK("TRUE", ",\"body\":\"TRUE\"");
	/* Numbers json-c gets wrong, or would take apart byte by byte. */
	CHECK("[0-1]", ",\"body\":\"[0-1]\"");
	CHECK("12-0", ",\"body\":\"12-0\"");
	CHECK("[1.5.3]", ",\"body\":\"[1.5.3]\"");
	CHECK("[1e]", ",\"body\":\"[1e]\"");
	CHECK("[-]", ",\"body\":\"[-]\"");
	CHECK("{\"a\":1.}", ",\"body\":\"{\\\"a\\\":1.}\"");
	/* Integers json-c would clamp. */
	CHECK("18446744073709551616", ",\"body\":\"18446744073709551616\"");
	CHECK("[-9223372036854775809]", ",\"body\":\"[-9223372036854775809]\"");
	/* A control character in a string body is escaped. */
	CHECK("a\x01" "b\x7f", ",\"body\":\"a\\u0001b\x7f\"");
}

/*
 * Without extract, bodies are checked by body.c's own scanner and copied,
 * json-c is not used: what it accepts, and how the copy is written.
 */
static void
test_fast_path(void **state)
{
	char	 s[400];
	size_t	 i, n;

	(void)state;
	/* Whitespace between tokens dropped: the record stays one line. */
	CHECK("{\n  \"a\" : [ 1 ,\r\n\t{ \"b\" : null } ] ,\"c\":\"x y\"\n}\n",
	    ",\"body\":{\"a\":[1,{\"b\":null}],\"c\":\"x y\"}");
	CHECK("\n\n[\"\\n\"]\n\n", ",\"body\":[\"\\n\"]");
	/* Escapes json-c prints differently are decoded; others are kept. */
	CHECK("[\"a\\/b\", \"\\u0041\\u00e9\\u20ac\", \"\\ud83d\\ude00\"]",
	    ",\"body\":[\"a/b\",\"A\xc3\xa9\xe2\x82\xac\",\"\xf0\x9f\x98\x80\"]");
	CHECK("\"\\b\\f\\n\\r\\t\\\"\\\\\"", ",\"body\":\"\\b\\f\\n\\r\\t\\\"\\\\\"");
	CHECK("\"\\u0022\\u005c\\u002f\\u000a\\u001f\\u007f\"",
	    ",\"body\":\"\\\"\\\\/\\n\\u001f\x7f\"");
	/* Lone surrogates become U+FFFD, as json-c has it. */
	CHECK("[\"\\ud83d\", \"\\ude00x\", \"\\ud800\\ud800\\udc00\"]",
	    ",\"body\":[\"\xef\xbf\xbd\",\"\xef\xbf\xbdx\","
	    "\"\xef\xbf\xbd\xf0\x90\x80\x80\"]");
	CHECK("\"\\ud83d\\u0041\"", ",\"body\":\"\xef\xbf\xbd" "A\"");
	/* -0 is the integer 0; an exponent's sign and -0.0 are kept. */
	CHECK("[-0, -0.0, 1e-0, -0e1, -0 ]", ",\"body\":[0,-0.0,1e-0,-0e1,0]");
	CHECK(" -0 ", ",\"body\":0");
	CHECK("-0", ",\"body\":0");
	/* Invalid JSON: stored as text. */
	CHECK("{\"a\" 1}", ",\"body\":\"{\\\"a\\\" 1}\"");
	CHECK("[1 2]", ",\"body\":\"[1 2]\"");
	CHECK("{1:2}", ",\"body\":\"{1:2}\"");
	CHECK("[,]", ",\"body\":\"[,]\"");
	CHECK("{\"a\":1,}", ",\"body\":\"{\\\"a\\\":1,}\"");
	CHECK("[}", ",\"body\":\"[}\"");
	CHECK("{\"a\":1]", ",\"body\":\"{\\\"a\\\":1]\"");
	CHECK("{\"a\":1}}", ",\"body\":\"{\\\"a\\\":1}}\"");
	CHECK("\"\\x\"", ",\"body\":\"\\\"\\\\x\\\"\"");
	CHECK("\"\\u12G4\"", ",\"body\":\"\\\"\\\\u12G4\\\"\"");
	CHECK("truex", ",\"body\":\"truex\"");
	CHECK("[true1]", ",\"body\":\"[true1]\"");
	CHECK("[nulll]", ",\"body\":\"[nulll]\"");
	CHECK("{\"a\"::1}", ",\"body\":\"{\\\"a\\\"::1}\"");
	CHECK("{\"a\":1 \"b\":2}", ",\"body\":\"{\\\"a\\\":1 \\\"b\\\":2}\"");
	CHECK("[\"a\":1]", ",\"body\":\"[\\\"a\\\":1]\"");
	/* Truncated JSON. */
	CHECK("{\"a\":[1,2", ",\"body\":\"{\\\"a\\\":[1,2\"");
	CHECK("\"abc", ",\"body\":\"\\\"abc\"");
	CHECK("tru", ",\"body\":\"tru\"");
	CHECK("{\"a\"", ",\"body\":\"{\\\"a\\\"\"");
	CHECK("{\"a\":", ",\"body\":\"{\\\"a\\\":\"");
	CHECK("[1,", ",\"body\":\"[1,\"");
	CHECK("\"\\u12", ",\"body\":\"\\\"\\\\u12\"");
	CHECK("\"\\", ",\"body\":\"\\\"\\\\\"");
	CHECK("-", ",\"body\":\"-\"");
	CHECK("1e", ",\"body\":\"1e\"");
	/* NUL bytes: not JSON, inside a string or out. */
	check_body("[1,\0 2]", 7, ",\"body\":\"[1,\\u0000 2]\"");
	check_body("\"a\0b\"", 5, ",\"body\":\"\\\"a\\u0000b\\\"\"");
	check_body("{}\0", 3, ",\"body\":\"{}\\u0000\"");
	/* Invalid UTF-8 in a JSON string: binary. */
	CHECK("{\"a\":\"\xff\"}", ",\"body_base64\":\"eyJhIjoi/yJ9\"");
	CHECK("[\"\xe2\x82\"]", ",\"body_base64\":\"WyLigiJd\"");
	/* Nesting: json-c takes a value inside at most 63 containers. */
	n = 64;
	for (i = 0; i < n; i++) {
		s[i] = '[';
		s[2 * n - 1 - i] = ']';
	}
	s[2 * n] = '\0';
	check_nesting(s, 2 * n, 1);
	memmove(s + 1, s, 2 * n + 1);		/* 65 */
	s[0] = '[';
	strcat(s, "]");
	check_nesting(s, 2 * n + 2, 0);
	for (n = 63; n <= 64; n++) {
		for (i = 0; i < n; i++)
			memcpy(s + 5 * i, "{\"a\":", 5);
		s[5 * n] = '1';
		memset(s + 5 * n + 1, '}', n);
		s[6 * n + 1] = '\0';
		check_nesting(s, 6 * n + 1, n == 63);
	}
}

/* Is s (of len) JSON, by the record's first bytes? */
static void
check_nesting(const char *s, size_t len, int json)
{
	struct body	*b;
	struct buf	 out;

	b = feed(NULL, 1 << 20, s, len, 0);
	assert_int_equal(body_finish(b, NULL), 0);
	buf_init(&out);
	body_encode(b, &out);
	assert_int_equal(strncmp(out.data, ",\"body\":\"", 9) != 0, json);
	if (json)
		assert_memory_equal(out.data + 8, s, len);
	buf_free(&out);
	body_free(b);
}

/* The record member for s: extract NULL (copied) or "" (json-c). */
static char *
encode_with(const char *extract, const char *s, size_t len, size_t chunk)
{
	struct body	*b;
	struct buf	 out;

	b = feed(extract, 1 << 20, s, len, chunk);
	(void)body_finish(b, NULL);
	buf_init(&out);
	buf_adds(&out, "");
	body_encode(b, &out);
	body_free(b);
	return (out.data);
}

/* json_tokener_parse() with body.c's depth (its own is 32). */
static struct json_object *
parse64(const char *s)
{
	struct json_tokener	*t;
	struct json_object	*o;

	t = json_tokener_new_ex(64);
	o = json_tokener_parse_ex(t, s, (int)strlen(s));
	json_tokener_free(t);
	return (o);
}

/*
 * The copy and json-c must agree on s: the same record member, or (a
 * duplicate member name, which json-c collapses) the same JSON value.
 */
static int
check_same(const char *s, size_t len)
{
	struct json_object	*a, *b;
	char			*fast, *slow, *fast1;
	int			 same;

	fast = encode_with(NULL, s, len, 0);
	fast1 = encode_with(NULL, s, len, 1);
	slow = encode_with("", s, len, 0);
	assert_string_equal(fast, fast1);
	assert_null(strchr(fast, '\n'));
	same = strcmp(fast, slow) == 0;
	if (!same) {
		if (strncmp(fast, ",\"body\":", 8) != 0 ||
		    strncmp(slow, ",\"body\":", 8) != 0)
			fail_msg("%s: %s vs %s", s, fast, slow);
		a = parse64(fast + 8);
		b = parse64(slow + 8);
		if (a == NULL || b == NULL || !json_object_equal(a, b) ||
		    strlen(fast) <= strlen(slow))
			fail_msg("'%s': copied %s, json-c %s", s, fast, slow);
		json_object_put(a);
		json_object_put(b);
	}
	free(fast);
	free(fast1);
	free(slow);
	return (same);
}

static uint32_t	 rnd_state = 12345;

static uint32_t
rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return ((rnd_state >> 8) % n);
}

static void
gen_ws(struct buf *b)
{
	static const char *const ws[] = { "", "", "", " ", "\n", "\r\n\t" };

	buf_adds(b, ws[rnd(6)]);
}

/* A random JSON value, mostly valid. */
static void
gen_value(struct buf *b, int depth)
{
	static const char *const atoms[] = { "0", "-0", "1", "-1.5e3",
	    "1e-0", "-0.0", "0.25", "18446744073709551615",
	    "-9223372036854775808", "true", "false", "null", "\"\"",
	    "\"x\"", "\"a\\/b\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"",
	    "\"\\ud83d\"", "\"\\udc00\\u0041\"", "\"\\u0000\\n\\\"\"",
	    "\"\xc3\xa9\"", "\"\\\\\"", "\"\\u001F\\u007f\"" };
	static const char *const keys[] = { "\"a\"", "\"b\"", "\"\\u0061\"",
	    "\"k\\/\"", "\"\"" };
	int	 n, i, kind = depth > 70 ? 0 : (int)rnd(depth > 5 ? 3 : 4);

	if (kind == 0 || kind == 3) {
		buf_adds(b, atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))]);
		return;
	}
	buf_addc(b, kind == 1 ? '[' : '{');
	n = depth > 55 ? 1 : (int)rnd(4);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(b, ',');
		gen_ws(b);
		if (kind == 2) {
			buf_adds(b, keys[rnd(sizeof(keys) / sizeof(keys[0]))]);
			gen_ws(b);
			buf_addc(b, ':');
			gen_ws(b);
		}
		gen_value(b, depth + 1);
		gen_ws(b);
	}
	buf_addc(b, kind == 1 ? ']' : '}');
}

/* Break it a little: delete, insert, replace or cut bytes. */
static void
mutate(struct buf *b)
{
	static const char	 bytes[] = "{}[],:\"\\ \n-0.eE+tfnu1x\x01\xff\xc3";
	size_t			 at;
	int			 m = (int)rnd(5), k;

	if (b->len == 0)
		return;
	at = rnd((uint32_t)b->len);
	switch (m) {
	case 0:
		memmove(b->data + at, b->data + at + 1, b->len - at);
		b->len--;
		break;
	case 1:
		buf_reserve(b, 1);
		memmove(b->data + at + 1, b->data + at, b->len - at + 1);
		b->data[at] = bytes[rnd(sizeof(bytes) - 1)];
		b->len++;
		break;
	case 2:
		b->data[at] = bytes[rnd(sizeof(bytes) - 1)];
		break;
	case 3:
		b->len = at;
		b->data[at] = '\0';
		break;
	default:
		for (k = 0; k < 2; k++)
			mutate(b);
		break;
	}
}

static void
test_fast_vs_jsonc(void **state)
{
	static const char *const fixed[] = { "{\"a\":1,\"a\":2}",
	    "{\"a\":1,\"b\":2,\"a\":3}", "[00]", "[01]", "1.", "NaN", "nan",
	    "[1,]", "{,}", "\"\\'\"", "\"\\a\"", "[\"\\u00\"]", "{\"a\":nul}",
	    "[truefalse]", "[true false]", "\xef\xbb\xbf[]", "[1]\x0c",
	    "[1e+]", "[.5]", "[+1]", "[1E400]", "[-1e-400]" };
	struct buf	 b;
	size_t		 i;
	int		 same = 0, depth;

	(void)state;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		same += check_same(fixed[i], strlen(fixed[i]));
	buf_init(&b);
	for (i = 0; i < 20000; i++) {
		buf_reset(&b);
		buf_adds(&b, "");
		gen_ws(&b);
		depth = rnd(10) == 0 ? 50 + (int)rnd(20) : 0;
		gen_value(&b, depth);
		gen_ws(&b);
		if (rnd(2) == 0)
			mutate(&b);
		same += check_same(b.data, b.len);
	}
	buf_free(&b);
	/* Most agree byte for byte (the rest had a duplicate name). */
	assert_true(same > 15000);
}

/*
 * Strings long enough for the word-at-a-time scan: a byte that needs care
 * (the string's end, an escape, a control byte, UTF-8, bytes that are
 * not UTF-8) at every offset around the 8- and 16-byte steps, and after a
 * run of UTF-8; the copy must mean what json-c reads.
 */
static void
test_long_strings(void **state)
{
	static const char *const special[] = { "\"", "\\n", "\\u00e9",
	    "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xff",
	    "\xe2\x82", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x" };
	struct buf	 b;
	size_t		 i, off;

	(void)state;
	buf_init(&b);
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		for (off = 0; off < 41; off++) {
			buf_reset(&b);
			buf_adds(&b, "[\"");
			while (b.len < off + 2)
				buf_adds(&b, "a");
			buf_adds(&b, special[i]);
			buf_adds(&b, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"]");
			check_same(b.data, b.len);
		}
	buf_free(&b);
}

static void
test_binary(void **state)
{
	(void)state;
	CHECK("\xff\x00\x01" "abc", ",\"body_base64\":\"/wABYWJj\"");
	CHECK("\x89PNG\r\n\x1a\n", ",\"body_base64\":\"iVBORw0KGgo=\"");
	/* An overlong inside a JSON string: not UTF-8, so not JSON. */
	CHECK("\"\xc0\x80\"", ",\"body_base64\":\"IsCAIg==\"");
	/* A surrogate. */
	CHECK("\"\xed\xa0\x80\"", ",\"body_base64\":\"Iu2ggCI=\"");
}

static void
test_deep(void **state)
{
	struct body	*b;
	struct buf	 out;
	char		 s[201];

	(void)state;
	memset(s, '[', 100);
	memset(s + 100, ']', 100);
	s[200] = '\0';
	b = feed(NULL, 1 << 20, s, 200, 0);
	assert_int_equal(body_finish(b, NULL), 0);
	buf_init(&out);
	body_encode(b, &out);
	assert_int_equal(strncmp(out.data, ",\"body\":\"[[[", 12), 0);
	buf_free(&out);
	body_free(b);
}

/* Finish with extract; return the cause (or NULL) and the encoding. */
static int
extract(const char *ptr, const char *s, char **cause, struct buf *out)
{
	struct body	*b;
	int		 rc;
	char		*again;

	b = feed(ptr, 1 << 20, s, strlen(s), 1);
	rc = body_finish(b, cause);
	assert_int_equal(body_finish(b, &again), rc);
	if (rc == -1) {
		assert_non_null(again);
		assert_string_equal(again, *cause);
	}
	free(again);
	buf_init(out);
	body_encode(b, out);
	body_free(b);
	return (rc);
}

static void
test_extract(void **state)
{
	const char	*doc =
	    "{\"data\":{\"x\":[10,{\"y\":\"z\"}],\"n\":null}}";
	struct buf	 out;
	char		*cause;

	(void)state;
	assert_int_equal(extract("/data/x/1", doc, &cause, &out), 0);
	assert_null(cause);
	assert_string_equal(out.data, ",\"body\":{\"y\":\"z\"}");
	buf_free(&out);

	assert_int_equal(extract("/data/x/0", doc, &cause, &out), 0);
	assert_string_equal(out.data, ",\"body\":10");
	buf_free(&out);

	assert_int_equal(extract("/data/n", doc, &cause, &out), 0);
	assert_string_equal(out.data, ",\"body\":null");
	buf_free(&out);

	assert_int_equal(extract("", doc, &cause, &out), 0);
	assert_string_equal(out.data + 8, doc);
	buf_free(&out);

	/* Missing: the whole document stays for the record. */
	assert_int_equal(extract("/data/missing", doc, &cause, &out), -1);
	assert_string_equal(cause, "extract '/data/missing': no such member");
	assert_string_equal(out.data + 8, doc);
	free(cause);
	buf_free(&out);

	assert_int_equal(extract("/data/x/7", doc, &cause, &out), -1);
	assert_string_equal(cause, "extract '/data/x/7': no such member");
	free(cause);
	buf_free(&out);

	assert_int_equal(extract("/data", "null", &cause, &out), -1);
	assert_string_equal(cause, "extract '/data': no such member");
	free(cause);
	buf_free(&out);

	assert_int_equal(extract("/data", "<html>oops</html>", &cause, &out),
	    -1);
	assert_string_equal(cause, "extract '/data': body is not JSON");
	assert_string_equal(out.data, ",\"body\":\"<html>oops</html>\"");
	free(cause);
	buf_free(&out);

	assert_int_equal(extract("/data", "", &cause, &out), -1);
	assert_string_equal(cause, "extract '/data': body is empty");
	assert_string_equal(out.data == NULL ? "" : out.data, "");
	free(cause);
	buf_free(&out);
}

/*
 * A tokener reused after a body cut short inside a surrogate pair must not
 * join its half to the next body's (json-c 0.16 keeps it across a reset).
 */
static void
test_extract_reuse(void **state)
{
	struct buf	 out;
	char		*cause;
	int		 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(extract("", "\"\\ud83d", &cause, &out), -1);
		free(cause);
		buf_free(&out);
		assert_int_equal(extract("", "[\"\\ud83d\\x\"]", &cause, &out),
		    -1);
		free(cause);
		buf_free(&out);
	}
	assert_int_equal(extract("", "\"\\ude00\"", &cause, &out), 0);
	assert_string_equal(out.data, ",\"body\":\"\xef\xbf\xbd\"");
	buf_free(&out);
}

static void
test_max(void **state)
{
	struct body	*b;
	struct buf	 out;

	(void)state;
	b = body_new(10, NULL);
	assert_int_equal(body_feed(b, "[1,2,", 5), 0);
	assert_int_equal(body_feed(b, "3,4]", 4), 0);
	assert_int_equal(body_feed(b, " ", 1), 0);	/* exactly max */
	assert_int_equal(body_feed(b, " ", 1), -1);
	assert_int_equal(body_feed(b, "", 0), -1);
	assert_int_equal(body_finish(b, NULL), 0);
	buf_init(&out);
	body_encode(b, &out);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	body_free(b);

	b = body_new(0, NULL);
	assert_int_equal(body_feed(b, "x", 1), -1);
	body_free(b);
	body_free(NULL);
}

static void
test_empty(void **state)
{
	struct body	*b;
	struct buf	 out;

	(void)state;
	b = body_new(100, NULL);
	assert_int_equal(body_finish(b, NULL), 0);
	buf_init(&out);
	buf_adds(&out, "{");
	body_encode(b, &out);
	assert_string_equal(out.data, "{");
	buf_free(&out);
	body_free(b);
}

static void
test_record(void **state)
{
	struct record	 r;
	struct buf	 out;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.i = 17;
	r.url = "http://127.0.0.1:8080/item/17";
	r.status = 200;
	r.attempts = 1;
	r.usec = 41234;
	r.body = feed(NULL, 100, "{\"id\": 17}", 10, 0);
	buf_init(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":17,"
	    "\"url\":\"http://127.0.0.1:8080/item/17\",\"status\":200,"
	    "\"attempts\":1,\"ms\":41.2,\"queue_ms\":0.0,"
	    "\"body\":{\"id\":17}}\n");
	body_free(r.body);

	/* A success's last attempt: start and phase times before the body. */
	{
		struct xfer	 x;

		memset(&x, 0, sizeof(x));
		x.t_connect = 250;
		x.t_ttfb = 41049;
		memset(&r, 0, sizeof(r));
		r.i = 17;
		r.url = "u";
		r.status = 200;
		r.attempts = 1;
		r.usec = 41234;
		r.x = &x;
		r.start_wall = 1790000000123LL;
		buf_reset(&out);
		results_record(&out, &r);
		assert_string_equal(out.data, "{\"i\":17,\"url\":\"u\","
		    "\"status\":200,\"attempts\":1,\"ms\":41.2,"
		    "\"queue_ms\":0.0,\"start\":1790000000123,\"dns_ms\":0.0,"
		    "\"connect_ms\":0.3,\"tls_ms\":0.0,\"ttfb_ms\":41.0}\n");
	}

	memset(&r, 0, sizeof(r));
	r.i = 18;
	r.url = "http://h/a\"b\\c\x01 \xff\xc3\xa9";
	r.error = "timeout";
	r.detail = "Operation timed out\n\"x\"\t\xfe";
	r.attempts = 3;
	r.usec = 30012468;
	r.queue_usec = 1550;
	buf_reset(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":18,"
	    "\"url\":\"http://h/a\\\"b\\\\c\\u0001 %FF\xc3\xa9\","
	    "\"error\":\"timeout\","
	    "\"detail\":\"Operation timed out\\n\\\"x\\\"\\t\\ufffd\","
	    "\"attempts\":3,\"ms\":30012.5,\"queue_ms\":1.6}\n");

	/* Numbers at the edges of the two-digit formatting. */
	memset(&r, 0, sizeof(r));
	r.i = UINT64_MAX;
	r.url = "u";
	r.status = 10;
	r.attempts = 100;
	r.usec = INT64_MAX;
	r.queue_usec = 999950;
	buf_reset(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":18446744073709551615,"
	    "\"url\":\"u\",\"status\":10,\"attempts\":100,"
	    "\"ms\":9223372036854775.8,\"queue_ms\":1000.0}\n");
	r.i = 9;
	r.status = 99;
	r.attempts = 1000;
	r.usec = 950;
	r.queue_usec = 99949;
	buf_reset(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":9,\"url\":\"u\",\"status\":99,"
	    "\"attempts\":1000,\"ms\":1.0,\"queue_ms\":99.9}\n");

	/* Runs of UTF-8 text next to invalid bytes, past a word boundary. */
	memset(&r, 0, sizeof(r));
	r.i = 19;
	r.url = "http://h/\xc3\xa9\xe2\x82\xac\xff\xc3\xa9" "abcdefgh\x80";
	r.error = "x";
	r.detail = "\xc3\xa9\xe2\x82\xac\xff\xc3\xa9" "abcdefgh\x80";
	r.attempts = 1;
	buf_reset(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":19,"
	    "\"url\":\"http://h/\xc3\xa9\xe2\x82\xac%FF\xc3\xa9" "abcdefgh%80\","
	    "\"error\":\"x\","
	    "\"detail\":\"\xc3\xa9\xe2\x82\xac\\ufffd\xc3\xa9" "abcdefgh\\ufffd\","
	    "\"attempts\":1,\"ms\":0.0,\"queue_ms\":0.0}\n");

	/* A status with an error, no detail; rounding at the edges. */
	memset(&r, 0, sizeof(r));
	r.i = 0;
	r.url = "u";
	r.status = 503;
	r.error = "http_503";
	r.attempts = 2;
	r.usec = 49;
	r.queue_usec = -5;
	r.body = feed(NULL, 100, "busy", 4, 0);
	buf_reset(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":0,\"url\":\"u\",\"status\":503,"
	    "\"error\":\"http_503\",\"attempts\":2,\"ms\":0.0,\"queue_ms\":0.0,"
	    "\"body\":\"busy\"}\n");
	body_free(r.body);

	/* Detail only on failure. */
	memset(&r, 0, sizeof(r));
	r.url = "u";
	r.detail = "ignored";
	r.usec = 50;
	buf_reset(&out);
	results_record(&out, &r);
	assert_string_equal(out.data, "{\"i\":0,\"url\":\"u\",\"attempts\":0,"
	    "\"ms\":0.1,\"queue_ms\":0.0}\n");
	buf_free(&out);
}

/*
 * The writer.
 */

struct wait {
	int	(*pred)(void *);
	void	*arg;
	int	 ticks;
};

static void
wait_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct wait	*wt = t->data;

	(void)revents;
	if (wt->pred(wt->arg) || --wt->ticks == 0)
		ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until pred(arg) holds, at most ms milliseconds. */
static int
run_for(struct ev_loop *loop, int (*pred)(void *), void *arg, int ms)
{
	struct wait	 wt = { pred, arg, ms / 5 };
	ev_timer	 t;

	ev_timer_init(&t, wait_cb, 0.005, 0.005);
	t.data = &wt;
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
	return (pred(arg));
}

static int
run_until(struct ev_loop *loop, int (*pred)(void *), void *arg)
{
	return (run_for(loop, pred, arg, 10000));
}

static int
flag_set(void *arg)
{
	return (*(int *)arg != 0);
}

static void
closed_cb(void *arg)
{
	(*(int *)arg)++;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	*f;
	char	*s;
	long	 n;

	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return (s);
}

static void
record_line(struct buf *b, uint64_t i)
{
	struct record	 r;
	char		 url[64];

	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:8080/item/%llu",
	    (unsigned long long)i);
	r.i = i;
	r.url = url;
	r.status = i % 10 == 0 ? 503 : 200;
	r.error = i % 10 == 0 ? "http_503" : NULL;
	r.attempts = 1;
	r.usec = (int64_t)i * 7;
	results_record(b, &r);
}

/* A run with a few of everything in it. */
static void
fake_run(struct run *run, struct job *job, char *path)
{
	static char		 e503[] = "http_503";
	static char		 origin[] = "http://127.0.0.1:8080";
	static char		 slow[] = "http://127.0.0.1:8080/item/9999";
	static struct namecount	 errors[1], hosts[1];

	memset(job, 0, sizeof(*job));
	memset(run, 0, sizeof(*run));
	job->name = xstrdup("items");
	run->job = job;
	run->number = 3;
	run->state = RUN_PARTIAL;
	run->started = 1000000;
	run->ended = 3234567;
	run->started_wall = 1764000000000;
	run->ended_wall = 1764000002235;
	run->path = path;
	run->st.total = run->st.done = NLINES;
	run->st.ok = NLINES - 1000;
	run->st.failed = 1000;
	run->st.attempts = NLINES;
	errors[0].name = e503;
	errors[0].n = 1000;
	hosts[0].name = origin;
	hosts[0].n = 1000;
	run->st.errors = errors;
	run->st.nerrors = 1;
	run->st.hosts = hosts;
	run->st.nhosts = 1;
	run->st.latency.n = 9000;
	run->st.slowest[0].url = slow;
	run->st.slowest[0].usec = 69993;
}

static char *
tmpdir(void)
{
	const char	*t = getenv("TMPDIR");
	char		*d;

	xasprintf(&d, "%s/test_body.XXXXXX", t != NULL && *t != '\0' ?
	    t : "/tmp");
	assert_non_null(mkdtemp(d));
	return (d);
}

static void
rmtree(const char *dir)
{
	char	*cmd;

	assert_true(xasprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void
test_writer(void **state)
{
	struct ev_loop		*loop = ev_loop_new(EVFLAG_AUTO);
	struct rfile		*rf;
	struct buf		 b, want;
	struct run		 run;
	struct job		 job;
	struct json_object	*o, *v;
	char			*dir, *cause, *s, *p;
	size_t			 len;
	uint64_t		 i;
	int			 done = 0;

	(void)state;
	dir = tmpdir();
	assert_int_equal(results_init(loop), 0);
	assert_int_equal(results_last_run(dir, "items"), 0);
	rf = results_open(dir, "items", 3, &cause);
	assert_non_null(rf);
	xasprintf(&p, "%s/results/items/3.ndjson", dir);
	assert_string_equal(results_path(rf), p);

	buf_init(&b);
	buf_init(&want);
	for (i = 0; i < NLINES; i++) {
		buf_reset(&b);
		record_line(&b, i);
		buf_add(&want, b.data, b.len);
		results_append(rf, b.data, b.len);
		if (i == NLINES / 2)	/* let the 100 ms timer hand one over */
			run_for(loop, flag_set, &done, 150);
	}
	assert_int_equal(results_errno(rf), 0);
	fake_run(&run, &job, p);
	results_close(rf, results_summary(&run), closed_cb, &done);
	assert_true(run_until(loop, flag_set, &done));
	assert_int_equal(done, 1);

	s = read_file(p, &len);
	assert_int_equal(len, want.len);
	assert_memory_equal(s, want.data, len);
	free(s);

	free(p);
	xasprintf(&p, "%s/results/items/3.summary.json", dir);
	assert_non_null(o = json_object_from_file(p));
	assert_true(json_object_object_get_ex(o, "name", &v));
	assert_string_equal(json_object_get_string(v), "items");
	assert_true(json_object_object_get_ex(o, "run", &v));
	assert_int_equal(json_object_get_int(v), 3);
	assert_true(json_object_object_get_ex(o, "state", &v));
	assert_string_equal(json_object_get_string(v), "partial");
	assert_true(json_object_object_get_ex(o, "elapsed_ms", &v));
	assert_string_equal(json_object_to_json_string(v), "2234.6");
	assert_true(json_object_object_get_ex(o, "failed", &v));
	assert_int_equal(json_object_get_int(v), 1000);
	assert_int_equal(json_pointer_get(o, "/errors/http_503", &v), 0);
	assert_int_equal(json_object_get_int(v), 1000);
	assert_int_equal(json_pointer_get(o, "/latency_ms/p99", &v), 0);
	assert_true(json_object_is_type(v, json_type_double));
	assert_int_equal(json_pointer_get(o, "/slowest/0/ms", &v), 0);
	assert_string_equal(json_object_to_json_string(v), "70.0");
	assert_false(json_object_object_get_ex(o, "reason", &v));
	json_object_put(o);
	free(job.name);
	free(p);
	xasprintf(&p, "%s/results/items/3.summary.json.tmp", dir);
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	assert_int_equal(results_last_run(dir, "items"), 3);
	xasprintf(&p, "%s/results/items/12.ndjson", dir);
	close(open(p, O_CREAT | O_WRONLY, 0640));
	free(p);
	xasprintf(&p, "%s/results/items/013.ndjson", dir);
	close(open(p, O_CREAT | O_WRONLY, 0640));
	free(p);
	xasprintf(&p, "%s/results/items/99.ndjson.old", dir);
	close(open(p, O_CREAT | O_WRONLY, 0640));
	free(p);
	assert_int_equal(results_last_run(dir, "items"), 12);

	assert_null(results_open(dir, "../x", 1, &cause));
	assert_non_null(cause);
	free(cause);

	buf_free(&b);
	buf_free(&want);
	results_free();
	ev_loop_destroy(loop);
	rmtree(dir);
	free(dir);
}

/* A torn last line from a crash is cut off before appending. */
static void
test_resume(void **state)
{
	struct ev_loop	*loop = ev_loop_new(EVFLAG_AUTO);
	struct rfile	*rf;
	char		*dir, *p, *cause, *s;
	size_t		 len;
	int		 fd, done = 0;

	(void)state;
	dir = tmpdir();
	assert_int_equal(results_init(loop), 0);
	xasprintf(&p, "%s/results/j", dir);
	assert_int_equal(util_mkdirs(p, 0750), 0);
	free(p);
	xasprintf(&p, "%s/results/j/1.ndjson", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0640);
	assert_int_equal(write(fd, "{\"i\":0}\n{\"i\":1}\n{\"i\":2,\"u", 25),
	    25);
	close(fd);
	assert_non_null(rf = results_open(dir, "j", 1, &cause));
	results_append(rf, "{\"i\":2}\n", 8);
	results_close(rf, NULL, closed_cb, &done);
	assert_true(run_until(loop, flag_set, &done));
	s = read_file(p, &len);
	assert_string_equal(s, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
	free(s);
	free(p);
	xasprintf(&p, "%s/results/j/1.summary.json", dir);
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	/* Left open: results_free() closes it. */
	assert_non_null(rf = results_open(dir, "j", 2, &cause));
	results_append(rf, "{\"i\":9}\n", 8);
	results_free();
	xasprintf(&p, "%s/results/j/2.ndjson", dir);
	s = read_file(p, &len);
	assert_string_equal(s, "{\"i\":9}\n");
	free(s);
	free(p);
	ev_loop_destroy(loop);
	rmtree(dir);
	free(dir);
}

static int
errno_set(void *arg)
{
	return (results_errno(arg) != 0);
}

static int
errno_clear(void *arg)
{
	return (results_errno(arg) == 0);
}

/*
 * A write that fails (here: the file size limit) keeps its records and
 * retries them before the next batch; nothing is lost, nothing is torn.
 */
static void
test_write_error(void **state)
{
	struct ev_loop	*loop = ev_loop_new(EVFLAG_AUTO);
	struct rlimit	 old, lim;
	struct rfile	*rf;
	struct buf	 b, want;
	char		*dir, *cause, *s, *path;
	size_t		 len;
	uint64_t	 i;
	int		 done = 0;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	dir = tmpdir();
	assert_int_equal(results_init(loop), 0);
	assert_non_null(rf = results_open(dir, "e", 1, &cause));
	path = xstrdup(results_path(rf));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	buf_init(&b);
	buf_init(&want);
	for (i = 0; i < 3000; i++) {
		buf_reset(&b);
		record_line(&b, i);
		buf_add(&want, b.data, b.len);
		results_append(rf, b.data, b.len);
	}
	assert_true(run_until(loop, errno_set, rf));
	assert_int_equal(results_errno(rf), EFBIG);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	for (; i < 3100; i++) {
		buf_reset(&b);
		record_line(&b, i);
		buf_add(&want, b.data, b.len);
		results_append(rf, b.data, b.len);
	}
	assert_true(run_until(loop, errno_clear, rf));
	results_close(rf, NULL, closed_cb, &done);
	assert_true(run_until(loop, flag_set, &done));
	s = read_file(path, &len);
	assert_int_equal(len, want.len);
	assert_memory_equal(s, want.data, len);
	free(s);
	free(path);
	buf_free(&b);
	buf_free(&want);
	results_free();
	ev_loop_destroy(loop);
	rmtree(dir);
	free(dir);
}

/*
 * A text body is escaped by encode_string(): plain runs through the word
 * scanner (util_json_plain), the rest bytewise.  Pieces of every kind at
 * every offset against a simple reference; bodies start with "x" so they
 * are not JSON.  Consecutive bodies also reuse freed ones (body_free).
 */
static void
test_string_escape(void **state)
{
	static const char *const pieces[] = { "a", "\"", "\\", "\n", "\r",
	    "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80", "/", " " };
	static const char	 hex[] = "0123456789abcdef";
	const size_t		 np = sizeof(pieces) / sizeof(pieces[0]);
	char			 in[64], want[512], *w;
	size_t			 pad, k, j, m, len;
	unsigned char		 c;

	for (pad = 0; pad < 17; pad++)
		for (k = 0; k < np; k++)
			for (j = 0; j < np; j++) {
				len = 0;
				in[len++] = 'x';
				for (m = 0; m < pad; m++)
					in[len++] = 'b';
				memcpy(in + len, pieces[k], strlen(pieces[k]));
				len += strlen(pieces[k]);
				memcpy(in + len, pieces[j], strlen(pieces[j]));
				len += strlen(pieces[j]);
				in[len++] = 'z';
				in[len] = '\0';
				w = want + sprintf(want, ",\"body\":\"");
				for (m = 0; m < len; m++) {
					c = (unsigned char)in[m];
					if (c == '"' || c == '\\') {
						*w++ = '\\';
						*w++ = (char)c;
					} else if (c == '\n') {
						*w++ = '\\';
						*w++ = 'n';
					} else if (c == '\r') {
						*w++ = '\\';
						*w++ = 'r';
					} else if (c == '\t') {
						*w++ = '\\';
						*w++ = 't';
					} else if (c < 0x20) {
						w += sprintf(w, "\\u00%c%c",
						    hex[c >> 4], hex[c & 0xf]);
					} else
						*w++ = (char)c;
				}
				strcpy(w, "\"");
				check_body(in, len, want);
			}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_fast_vs_jsonc),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_extract),
		cmocka_unit_test(test_extract_reuse),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_string_escape),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
