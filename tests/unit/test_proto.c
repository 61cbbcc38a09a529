/*
 * test_proto.c: the protocol mechanics of common/proto.c on their own: line
 * framing (split reads, several lines per read, CRLF, empty lines, the
 * exact limit, resynchronizing after an oversized line, bounded memory),
 * the request envelope check with its exact messages, and the exact text
 * of the reply and request builders.
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
#include <json-c/json.h>

#include "proto.h"
#include "util.h"

/* Every result of draining a linebuf, as text: "L:line" or "O". */
struct drained {
	char	 v[64][256];
	size_t	 n;
};

static void
drain(struct linebuf *lb, struct drained *d)
{
	enum lb_result	 r;
	char		*line;
	size_t		 len;

	while ((r = linebuf_next(lb, &line, &len)) != LB_NONE) {
		assert_true(d->n < nitems(d->v));
		if (r == LB_OVERSIZED) {
			snprintf(d->v[d->n++], sizeof(d->v[0]), "O");
			continue;
		}
		assert_int_equal(line[len], '\0');
		assert_int_equal(strlen(line), len);
		snprintf(d->v[d->n++], sizeof(d->v[0]), "L:%s", line);
	}
}

/* Feed text in chunks of at most step bytes, draining after each. */
static void
feed(struct linebuf *lb, const char *text, size_t n, size_t step,
    struct drained *d)
{
	size_t	 room, k;
	char	*p;

	while (n > 0) {
		p = linebuf_space(lb, &room);
		assert_true(room > 0);
		k = n < step ? n : step;
		if (k > room)
			k = room;
		memcpy(p, text, k);
		linebuf_commit(lb, k);
		text += k;
		n -= k;
		drain(lb, d);
	}
}

static void
feeds(struct linebuf *lb, const char *text, size_t step, struct drained *d)
{
	feed(lb, text, strlen(text), step, d);
}

static void
test_split_bytewise(void **state)
{
	struct linebuf	 lb;
	struct drained	 d = { .n = 0 };

	linebuf_init(&lb, 64);
	feeds(&lb, "{\"cmd\":\"ping\"}\n{\"cmd\":\"list\"}\npartial", 1, &d);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.v[0], "L:{\"cmd\":\"ping\"}");
	assert_string_equal(d.v[1], "L:{\"cmd\":\"list\"}");
	feeds(&lb, " end\n", 1, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[2], "L:partial end");
	linebuf_free(&lb);
}

static void
test_several_per_read(void **state)
{
	struct linebuf	 lb;
	struct drained	 d = { .n = 0 };

	linebuf_init(&lb, 64);
	feeds(&lb, "one\ntwo\nthree\nfo", 4096, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0], "L:one");
	assert_string_equal(d.v[1], "L:two");
	assert_string_equal(d.v[2], "L:three");
	feeds(&lb, "ur\n", 4096, &d);
	assert_int_equal(d.n, 4);
	assert_string_equal(d.v[3], "L:four");
	linebuf_free(&lb);
}

static void
test_crlf_and_empty(void **state)
{
	struct linebuf	 lb;
	struct drained	 d = { .n = 0 };

	linebuf_init(&lb, 64);
	feeds(&lb, "a\r\n\n\r\n\nb\r\nc\rd\n\r\r\n", 4096, &d);
	assert_int_equal(d.n, 4);
	assert_string_equal(d.v[0], "L:a");
	assert_string_equal(d.v[1], "L:b");
	assert_string_equal(d.v[2], "L:c\rd");	/* only a trailing CR goes */
	assert_string_equal(d.v[3], "L:\r");
	/* The CR and the LF in different reads. */
	feeds(&lb, "x\r", 4096, &d);
	feeds(&lb, "\n", 4096, &d);
	assert_int_equal(d.n, 5);
	assert_string_equal(d.v[4], "L:x");
	linebuf_free(&lb);
}

static void
test_exact_max(void **state)
{
	struct linebuf	 lb;
	struct drained	 d = { .n = 0 };
	const char	*sixteen = "0123456789abcdef";
	char		 text[128];

	linebuf_init(&lb, 16);
	snprintf(text, sizeof(text), "%s\n%s\r\n%sX\n%s", sixteen, sixteen,
	    sixteen, sixteen);
	feeds(&lb, text, 1, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0], "L:0123456789abcdef");
	assert_string_equal(d.v[1], "L:0123456789abcdef");
	assert_string_equal(d.v[2], "O");
	/* A max-long partial line, then a CR, is still pending. */
	feeds(&lb, "\r", 1, &d);
	assert_int_equal(d.n, 3);
	feeds(&lb, "\n", 1, &d);
	assert_int_equal(d.n, 4);
	assert_string_equal(d.v[3], "L:0123456789abcdef");
	linebuf_free(&lb);
}

/* An oversized line is reported once and the next line comes through. */
static void
test_oversized_resync(void **state)
{
	struct linebuf	 lb;
	struct drained	 d;
	char		*big;
	size_t		 steps[] = { 1, 7, 100, 5000 }, i;

	big = xmalloc(3000 + 32);
	memset(big, 'x', 3000);
	strcpy(big + 3000, "\r\n{\"ok\":1}\n");
	for (i = 0; i < nitems(steps); i++) {
		memset(&d, 0, sizeof(d));
		linebuf_init(&lb, 100);
		feeds(&lb, "before\n", steps[i], &d);
		feeds(&lb, big, steps[i], &d);
		feeds(&lb, "after\n", steps[i], &d);
		assert_int_equal(d.n, 4);
		assert_string_equal(d.v[0], "L:before");
		assert_string_equal(d.v[1], "O");
		assert_string_equal(d.v[2], "L:{\"ok\":1}");
		assert_string_equal(d.v[3], "L:after");
		linebuf_free(&lb);
	}
	free(big);
}

/* Feeding megabytes without a newline never buffers much more than max. */
static void
test_bounded_memory(void **state)
{
	struct linebuf	 lb;
	struct drained	 d = { .n = 0 };
	char		*junk;
	size_t		 max = 64 * 1024, i;

	junk = xmalloc(16384);
	memset(junk, 'j', 16384);
	linebuf_init(&lb, max);
	for (i = 0; i < 256; i++) {
		feed(&lb, junk, 16384, 16384, &d);
		assert_true(lb.cap <= max + 8192);
		assert_true(lb.len - lb.off <= max + 8192);
	}
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0], "O");
	feeds(&lb, "\nnext\n", 16384, &d);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.v[1], "L:next");
	linebuf_free(&lb);
	free(junk);
}

/* Requests. */

struct parsed {
	struct json_object	*req;
	int64_t			 id;
	const char		*cmd;
	enum proto_err		 err;
	char			*msg;
};

static void
parse(const char *text, struct parsed *p)
{
	p->req = proto_parse_request(text, strlen(text), &p->id, &p->cmd,
	    &p->err, &p->msg);
}

static void
parsed_free(struct parsed *p)
{
	json_object_put(p->req);
	free(p->msg);
}

/* A request that must fail with this code, id and message. */
static void
expect_error(const char *text, enum proto_err err, int64_t id,
    const char *msg)
{
	struct parsed	 p;

	parse(text, &p);
	assert_null(p.req);
	assert_null(p.cmd);
	assert_int_equal(p.err, err);
	assert_int_equal(p.id, id);
	assert_non_null(p.msg);
	assert_string_equal(p.msg, msg);
	parsed_free(&p);
}

static void
test_parse_ok(void **state)
{
	struct parsed		 p;
	struct json_object	*v;

	parse("{\"v\":1,\"id\":42,\"cmd\":\"status\",\"job\":\"items\"}", &p);
	assert_non_null(p.req);
	assert_int_equal(p.err, PERR_OK);
	assert_null(p.msg);
	assert_int_equal(p.id, 42);
	assert_string_equal(p.cmd, "status");
	assert_true(json_object_object_get_ex(p.req, "job", &v));
	assert_string_equal(json_object_get_string(v), "items");
	parsed_free(&p);

	/* v and id may be omitted; whitespace around is fine. */
	parse("  {\"cmd\":\"ping\"}\t ", &p);
	assert_non_null(p.req);
	assert_int_equal(p.id, 0);
	assert_string_equal(p.cmd, "ping");
	parsed_free(&p);

	parse("{\"cmd\":\"ping\",\"id\":-3,\"v\":1}", &p);
	assert_non_null(p.req);
	assert_int_equal(p.id, -3);
	parsed_free(&p);
}

static void
test_parse_not_json(void **state)
{
	expect_error("{\"v\":1,\"id\":1,\"cm", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: unexpected end of data at offset 17");
	expect_error("<html>", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: unexpected character at offset 0");
	expect_error("{\"cmd\":\"ping\"} trailing", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: unexpected character at offset 15");
	expect_error("{\"cmd\":\"ping\",}", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: unexpected character at offset 14");
	expect_error("{\"cmd\":\"\xff\xfe\"}", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: invalid utf-8 string at offset 8");
	expect_error("{\"cmd\":\"\xc0\xafping\"}", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: invalid UTF-8 (overlong form or "
	    "surrogate)");
	expect_error("{\"cmd\":\"\xed\xa0\x80\"}", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: invalid UTF-8 (overlong form or "
	    "surrogate)");
	expect_error("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", PERR_BAD_REQUEST, 0,
	    "request is not valid JSON: nesting too deep at offset 16");
	expect_error(" \t ", PERR_BAD_REQUEST, 0, "request is empty");
}

static void
test_parse_nul(void **state)
{
	struct parsed	 p;
	const char	 text[] = "{\"cmd\":\"ping\"}\0junk";

	p.req = proto_parse_request(text, sizeof(text) - 1, &p.id, &p.cmd,
	    &p.err, &p.msg);
	assert_null(p.req);
	assert_int_equal(p.err, PERR_BAD_REQUEST);
	assert_string_equal(p.msg,
	    "request is not valid JSON: NUL byte at offset 14");
	parsed_free(&p);
}

static void
test_parse_not_object(void **state)
{
	expect_error("[1,2,3]", PERR_BAD_REQUEST, 0,
	    "request must be a JSON object, not an array");
	expect_error("\"ping\"", PERR_BAD_REQUEST, 0,
	    "request must be a JSON object, not a string");
	expect_error("42", PERR_BAD_REQUEST, 0,
	    "request must be a JSON object, not a number");
	expect_error("null", PERR_BAD_REQUEST, 0,
	    "request must be a JSON object, not null");
	expect_error("true", PERR_BAD_REQUEST, 0,
	    "request must be a JSON object, not a boolean");
}

static void
test_parse_types(void **state)
{
	expect_error("{\"v\":1,\"id\":5,\"cmd\":42}", PERR_BAD_REQUEST, 5,
	    "\"cmd\" must be a string, not a number");
	expect_error("{\"v\":1,\"id\":6,\"cmd\":null}", PERR_BAD_REQUEST, 6,
	    "\"cmd\" must be a string, not null");
	expect_error("{\"v\":1,\"id\":7}", PERR_BAD_REQUEST, 7,
	    "\"cmd\" is missing: the request names no command");
	expect_error("{\"id\":\"7\",\"cmd\":\"ping\"}", PERR_BAD_REQUEST, 0,
	    "\"id\" must be an integer, not a string");
	expect_error("{\"id\":1.5,\"cmd\":\"ping\"}", PERR_BAD_REQUEST, 0,
	    "\"id\" must be an integer, not a number");
	expect_error("{\"id\":99999999999999999999,\"cmd\":\"ping\"}",
	    PERR_BAD_REQUEST, 0,
	    "\"id\" is out of range (at most 9223372036854775807)");
	expect_error("{\"v\":\"1\",\"id\":8,\"cmd\":\"ping\"}",
	    PERR_BAD_REQUEST, 8, "\"v\" must be an integer, not a string");
	expect_error("{\"v\":[1],\"id\":8,\"cmd\":\"ping\"}", PERR_BAD_REQUEST,
	    8, "\"v\" must be an integer, not an array");
}

static void
test_parse_version(void **state)
{
	expect_error("{\"v\":2,\"id\":6,\"cmd\":\"ping\"}", PERR_VERSION, 6,
	    "protocol version 2 not supported (this daemon speaks 1)");
	/* v is checked before cmd: a v2 request may spell cmd otherwise. */
	expect_error("{\"v\":0,\"id\":9,\"command\":\"ping\"}", PERR_VERSION, 9,
	    "protocol version 0 not supported (this daemon speaks 1)");
}

/* Builders. */

static void
assert_serialized(struct json_object *o, const char *want)
{
	char	*s;
	size_t	 len;

	s = proto_serialize(o, &len);
	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	free(s);
	json_object_put(o);
}

static void
test_builders(void **state)
{
	struct json_object	*o;

	assert_serialized(proto_reply_ok(7),
	    "{\"v\":1,\"id\":7,\"ok\":true}\n");
	assert_serialized(proto_reply_error(7, PERR_NO_SUCH_JOB,
	    "no job named '%s' (did you mean '%s'?)", "a/b", "a/c"),
	    "{\"v\":1,\"id\":7,\"ok\":false,\"error\":{"
	    "\"code\":\"no_such_job\",\"message\":"
	    "\"no job named 'a/b' (did you mean 'a/c'?)\"}}\n");
	assert_serialized(proto_reply_error(-1, PERR_TOO_LARGE,
	    "request larger than %d bytes", PROTO_MAX_REQUEST),
	    "{\"v\":1,\"id\":-1,\"ok\":false,\"error\":{\"code\":\"too_large\","
	    "\"message\":\"request larger than 1048576 bytes\"}}\n");
	assert_serialized(proto_reply_error(1, PERR_MAX, "%s", "\"quoted\"\n"),
	    "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"internal\","
	    "\"message\":\"\\\"quoted\\\"\\n\"}}\n");
	assert_serialized(proto_request_new(3, "status"),
	    "{\"v\":1,\"id\":3,\"cmd\":\"status\"}\n");
	o = proto_request_new(INT64_MAX, "watch");
	json_object_object_add(o, "job", json_object_new_string("items"));
	assert_serialized(o, "{\"v\":1,\"id\":9223372036854775807,"
	    "\"cmd\":\"watch\",\"job\":\"items\"}\n");
}

/* A reply string that is not UTF-8 (a URL from a file): U+FFFD escapes. */
static void
test_reply_utf8(void **state)
{
	struct json_object	*o;
	const char		*want = "{\"v\":1,\"id\":1,\"ok\":true,\"url\":"
	    "\"/caf\\ufffd/\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
	    "\\ufffd\\ufffd\"}\n";
	char			*s;
	size_t			 len;

	o = proto_reply_ok(1);
	json_object_object_add(o, "url", json_object_new_string(
	    "/caf\xe9/\xc3\xa9\xc0\xaf\xed\xa0\x80\xf0\x9f"));
	s = proto_serialize_reply(o, &len);
	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	free(s);
	/* Requests go out as they are: the daemon refuses them. */
	s = proto_serialize(o, &len);
	assert_non_null(strstr(s, "/caf\xe9/"));
	free(s);
	json_object_put(o);
}

/* A request built by proto_request_new() parses back. */
static void
test_roundtrip(void **state)
{
	struct json_object	*o;
	struct parsed		 p;
	char			*s;
	size_t			 len;

	o = proto_request_new(12, "results");
	s = proto_serialize(o, &len);
	p.req = proto_parse_request(s, len - 1, &p.id, &p.cmd, &p.err, &p.msg);
	assert_non_null(p.req);
	assert_int_equal(p.id, 12);
	assert_string_equal(p.cmd, "results");
	parsed_free(&p);
	free(s);
	json_object_put(o);
}

static void
test_err_names(void **state)
{
	static const char *const want[] = {
		"ok", "bad_request", "too_large", "unsupported_version",
		"unknown_command", "no_such_job", "no_such_run", "invalid_job",
		"permission_denied", "not_active", "limit", "internal",
		"no_such_url", "no_failures", "reload_failed"
	};
	size_t	 i;

	assert_int_equal(nitems(want), PERR_MAX);
	for (i = 0; i < PERR_MAX; i++)
		assert_string_equal(proto_err_names[i], want[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_bytewise),
		cmocka_unit_test(test_several_per_read),
		cmocka_unit_test(test_crlf_and_empty),
		cmocka_unit_test(test_exact_max),
		cmocka_unit_test(test_oversized_resync),
		cmocka_unit_test(test_bounded_memory),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_not_json),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_not_object),
		cmocka_unit_test(test_parse_types),
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_reply_utf8),
		cmocka_unit_test(test_err_names),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
