/*
 * proto.c: the control protocol's mechanics, shared by fetchd and fetchctl:
 * the error-code names, the bounded line framing, the request envelope
 * check, and the builders for replies and requests.
 *
 * The line buffer never holds much more than one maximal line: a line over
 * the limit is reported once and then skipped up to its newline, so the
 * stream resynchronizes and the session goes on.  Requests are parsed with
 * a depth-limited, strict json-c tokener, and every failure is described
 * precisely enough for a person typing into socat to fix it.  Nothing here
 * logs; failures are returned as values (STYLE principle 18).
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "proto.h"
#include "util.h"

#define LB_INITIAL	4096		/* first allocation */
#define LB_MINREAD	1024		/* less room: compact or grow */
#define LB_SLACK	4096		/* room beyond max + "\r\n" + NUL */
#define LB_KEEP		(64 * 1024)	/* an empty buffer larger is freed */
#define REQUEST_DEPTH	16		/* nesting allowed in a request */

const char *const proto_err_names[PERR_MAX] = {
	"ok",
	"bad_request",
	"too_large",
	"unsupported_version",
	"unknown_command",
	"no_such_job",
	"no_such_run",
	"invalid_job",
	"permission_denied",
	"not_active",
	"limit",
	"internal",
	"no_such_url",
	"no_failures",
	"reload_failed"
};

/*
 * Line framing.
 *
 * data[off..len) holds the bytes not yet returned; the buffer never grows
 * past max + 2 (a "\r\n") + 1 (the NUL) + LB_SLACK.  Callers drain
 * linebuf_next() until LB_NONE before asking for space again; then the
 * unconsumed bytes are at most one partial line of at most max + 1 bytes,
 * and there is always room.  Empty lines (also "\r\n" alone) are skipped.
 */

/* Largest allocation: one maximal line with "\r\n", NUL and read slack. */
static size_t
lb_limit(const struct linebuf *lb)
{
	if (lb->max > SIZE_MAX / 2)
		return (SIZE_MAX / 2);
	return (lb->max + 3 + LB_SLACK);
}

void
linebuf_init(struct linebuf *lb, size_t max)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max;
}

void
linebuf_free(struct linebuf *lb)
{
	free(lb->data);
	linebuf_init(lb, lb->max);
}

/* Move the unconsumed bytes to the front of the buffer. */
static void
lb_compact(struct linebuf *lb)
{
	if (lb->off == 0)
		return;
	if (lb->len > lb->off)
		memmove(lb->data, lb->data + lb->off, lb->len - lb->off);
	lb->len -= lb->off;
	lb->off = 0;
}

char *
linebuf_space(struct linebuf *lb, size_t *room)
{
	size_t	 cap, limit = lb_limit(lb);

	if (lb->data == NULL) {
		lb->cap = LB_INITIAL < limit ? LB_INITIAL : limit;
		lb->data = xmalloc(lb->cap);
		lb->len = lb->off = 0;
	}
	if (lb->off > 0 && (lb->cap - lb->len < LB_MINREAD ||
	    lb->off >= lb->cap / 2))
		lb_compact(lb);
	if (lb->cap - lb->len < LB_MINREAD && lb->cap < limit) {
		cap = lb->cap > limit / 2 ? limit : lb->cap * 2;
		lb->data = xreallocarray(lb->data, cap, 1);
		lb->cap = cap;
	}
	if (lb->cap - lb->len < 2) {
		/*
		 * Only a caller that skipped linebuf_next() gets here.  Give
		 * it a little more rather than fail; it is its own memory.
		 */
		lb->cap += LB_MINREAD;
		lb->data = xreallocarray(lb->data, lb->cap, 1);
	}
	*room = lb->cap - lb->len - 1;		/* keep a byte for the NUL */
	return (lb->data + lb->len);
}

void
linebuf_commit(struct linebuf *lb, size_t n)
{
	lb->len += n;
	lb->data[lb->len] = '\0';
}

/* The buffer is empty: rewind it, and give back a large allocation. */
static void
lb_empty(struct linebuf *lb)
{
	lb->off = lb->len = 0;
	if (lb->cap > LB_KEEP) {
		free(lb->data);
		lb->data = NULL;
		lb->cap = 0;
	}
}

/* Inside an oversized line: drop bytes up to and including its newline. */
static int
lb_discard(struct linebuf *lb)
{
	char	*nl;

	nl = memchr(lb->data + lb->off, '\n', lb->len - lb->off);
	if (nl == NULL) {
		lb_empty(lb);
		return (0);
	}
	lb->off = (size_t)(nl - lb->data) + 1;
	lb->discarding = 0;
	return (1);
}

enum lb_result
linebuf_next(struct linebuf *lb, char **line, size_t *len)
{
	char	*start, *nl;
	size_t	 n;

	while (lb->data != NULL && lb->off < lb->len) {
		if (lb->discarding && !lb_discard(lb))
			break;
		start = lb->data + lb->off;
		nl = memchr(start, '\n', lb->len - lb->off);
		if (nl == NULL) {
			if (lb->len - lb->off <= lb->max + 1)
				break;		/* may still end in "\r\n" */
			lb->discarding = 1;
			lb_empty(lb);
			return (LB_OVERSIZED);
		}
		lb->off = (size_t)(nl - lb->data) + 1;
		n = (size_t)(nl - start);
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > lb->max)
			return (LB_OVERSIZED);
		if (n == 0)
			continue;
		start[n] = '\0';
		*line = start;
		*len = n;
		return (LB_LINE);
	}
	if (lb->data != NULL && lb->off == lb->len)
		lb_empty(lb);
	return (LB_NONE);
}

/*
 * Requests.
 */

static void	 set_error(enum proto_err *, char **, enum proto_err,
		    const char *, ...) ATTR_PRINTF(4, 5);

static void
set_error(enum proto_err *err, char **msg, enum proto_err code,
    const char *fmt, ...)
{
	va_list	 ap;

	*err = code;
	va_start(ap, fmt);
	xvasprintf(msg, fmt, ap);
	va_end(ap);
}

/* "an array", "a string", ... for messages about the wrong type. */
static const char *
type_name(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		return ("null");
	case json_type_boolean:
		return ("a boolean");
	case json_type_double:
	case json_type_int:
		return ("a number");
	case json_type_object:
		return ("an object");
	case json_type_array:
		return ("an array");
	case json_type_string:
		return ("a string");
	}
	return ("something else");
}

/*
 * Parse the text as one JSON value, strictly; NULL with a message if it is
 * not exactly one valid value (trailing whitespace allowed).
 */
static struct json_object *
parse_json(const char *buf, size_t len, enum proto_err *err, char **msg)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	enum json_tokener_error	 jerr;
	const char		*nul;
	size_t			 end;

	if ((nul = memchr(buf, '\0', len)) != NULL) {
		set_error(err, msg, PERR_BAD_REQUEST, "request is not valid "
		    "JSON: NUL byte at offset %zu", (size_t)(nul - buf));
		return (NULL);
	}
	if (strspn(buf, " \t\r") == len) {
		set_error(err, msg, PERR_BAD_REQUEST, "request is empty");
		return (NULL);
	}
	if ((tok = json_tokener_new_ex(REQUEST_DEPTH)) == NULL)
		fatalx("out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	if ((jerr = json_tokener_get_error(tok)) == json_tokener_continue) {
		/* End of input: finishes a bare number, else incomplete. */
		o = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	if (jerr != json_tokener_success)
		set_error(err, msg, PERR_BAD_REQUEST, "request is not valid "
		    "JSON: %s at offset %zu", json_tokener_error_desc(jerr),
		    end);
	else if (o == NULL)			/* the JSON value null */
		set_error(err, msg, PERR_BAD_REQUEST,
		    "request must be a JSON object, not null");
	else if (!util_utf8_valid(buf, len)) {
		/*
		 * json-c lets overlong forms and encoded surrogates through;
		 * echoed in a reply they would make it invalid JSON.
		 */
		set_error(err, msg, PERR_BAD_REQUEST, "request is not valid "
		    "JSON: invalid UTF-8 (overlong form or surrogate)");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return (o);
}

/* The optional integer member key; -1 with a message if it is not one. */
static int
get_int(struct json_object *req, const char *key, int64_t *out,
    enum proto_err *err, char **msg)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(req, key, &v))
		return (0);
	if (v == NULL || !json_object_is_type(v, json_type_int)) {
		set_error(err, msg, PERR_BAD_REQUEST, "\"%s\" must be an "
		    "integer, not %s", key, v == NULL ? "null" : type_name(v));
		return (-1);
	}
	*out = json_object_get_int64(v);
	if (*out == INT64_MAX && json_object_get_uint64(v) > INT64_MAX) {
		set_error(err, msg, PERR_BAD_REQUEST, "\"%s\" is out of range "
		    "(at most %" PRId64 ")", key, INT64_MAX);
		return (-1);
	}
	return (0);
}

/* Check the envelope: id, then v (before cmd, whose meaning v governs). */
static int
check_envelope(struct json_object *req, int64_t *id, const char **cmd,
    enum proto_err *err, char **msg)
{
	struct json_object	*c;
	int64_t			 v = PROTO_VERSION, n = 0;

	if (get_int(req, "id", &n, err, msg) == -1)
		return (-1);
	*id = n;
	if (get_int(req, "v", &v, err, msg) == -1)
		return (-1);
	if (v != PROTO_VERSION) {
		set_error(err, msg, PERR_VERSION, "protocol version %" PRId64
		    " not supported (this daemon speaks %d)", v,
		    PROTO_VERSION);
		return (-1);
	}
	if (!json_object_object_get_ex(req, "cmd", &c)) {
		set_error(err, msg, PERR_BAD_REQUEST,
		    "\"cmd\" is missing: the request names no command");
		return (-1);
	}
	if (c == NULL || !json_object_is_type(c, json_type_string)) {
		set_error(err, msg, PERR_BAD_REQUEST, "\"cmd\" must be a "
		    "string, not %s", c == NULL ? "null" : type_name(c));
		return (-1);
	}
	*cmd = json_object_get_string(c);
	return (0);
}

struct json_object *
proto_parse_request(const char *buf, size_t len, int64_t *id,
    const char **cmd, enum proto_err *err, char **msg)
{
	struct json_object	*req;

	*id = 0;
	*cmd = NULL;
	*err = PERR_OK;
	*msg = NULL;
	if (len > INT_MAX - 1) {
		set_error(err, msg, PERR_TOO_LARGE, "request larger than %d "
		    "bytes", PROTO_MAX_REQUEST);
		return (NULL);
	}
	if ((req = parse_json(buf, len, err, msg)) == NULL)
		return (NULL);
	if (!json_object_is_type(req, json_type_object)) {
		set_error(err, msg, PERR_BAD_REQUEST, "request must be a JSON "
		    "object, not %s", type_name(req));
		goto fail;
	}
	if (check_envelope(req, id, cmd, err, msg) == -1)
		goto fail;
	return (req);
fail:
	*cmd = NULL;
	json_object_put(req);
	return (NULL);
}

/*
 * Builders.
 */

/* A fresh {"v":1,"id":id}, the start of every message. */
static struct json_object *
envelope(int64_t id)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		fatalx("out of memory");
	json_object_object_add(o, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "id", json_object_new_int64(id));
	return (o);
}

struct json_object *
proto_reply_ok(int64_t id)
{
	struct json_object	*o = envelope(id);

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return (o);
}

struct json_object *
proto_reply_error(int64_t id, enum proto_err code, const char *fmt, ...)
{
	struct json_object	*o = envelope(id), *e;
	va_list			 ap;
	char			*msg;

	if ((int)code < 0 || code >= PERR_MAX || code == PERR_OK)
		code = PERR_INTERNAL;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if ((e = json_object_new_object()) == NULL)
		fatalx("out of memory");
	json_object_object_add(e, "code",
	    json_object_new_string(proto_err_names[code]));
	json_object_object_add(e, "message", json_object_new_string(msg));
	free(msg);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", e);
	return (o);
}

struct json_object *
proto_request_new(int64_t id, const char *cmd)
{
	struct json_object	*o = envelope(id);

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return (o);
}

/*
 * json-c writes the bytes of a string as they are, so a string that is not
 * UTF-8 (a URL or name read from a file) would make the line invalid JSON.
 * Outside strings the text is ASCII: each byte that starts no valid
 * sequence becomes \ufffd.  Returns the new length; dst has room for 6n.
 * Only replies are repaired: fetchctl's requests go out as they are, so a
 * file that is not UTF-8 is refused by the daemon, not silently changed.
 */
static size_t
utf8_repair(char *dst, const char *src, size_t n)
{
	const unsigned char	*p = (const unsigned char *)src;
	const unsigned char	*e = p + n;
	char			*o = dst;
	size_t			 k;

	while (p < e) {
		k = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 :
		    *p >= 0xe0 && *p <= 0xef ? 3 :
		    *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
		if (k == 0 || k > (size_t)(e - p) ||
		    !util_utf8_valid((const char *)p, k)) {
			memcpy(o, "\\ufffd", 6);
			o += 6;
			p++;
			continue;
		}
		memcpy(o, p, k);
		o += k;
		p += k;
	}
	return ((size_t)(o - dst));
}

static char *
serialize(struct json_object *o, size_t *len, int repair)
{
	const char	*s;
	char		*line;
	size_t		 n;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (s == NULL)
		fatalx("out of memory");
	if (repair && !util_utf8_valid(s, n)) {
		line = xreallocarray(NULL, n + 1, 6);
		n = utf8_repair(line, s, n);
	} else {
		line = xmalloc(n + 2);
		memcpy(line, s, n);
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return (line);
}

char *
proto_serialize(struct json_object *o, size_t *len)
{
	return (serialize(o, len, 0));
}

char *
proto_serialize_reply(struct json_object *o, size_t *len)
{
	return (serialize(o, len, 1));
}
