/*
 * fuzz_proto.c: libFuzzer target for what a control-socket client can
 * reach first: the bounded line framing and the request parser.  The input
 * is cut into reads whose sizes come from the input itself, fed through a
 * small linebuf (so oversized lines and resynchronizing are exercised), and
 * every line is parsed and answered with an error reply as the daemon
 * would.  Any input must never crash, hang, leak or grow the buffer past
 * its bound.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proto.h"
#include "util.h"

#define FUZZ_MAX_LINE	512

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the daemon does with one line: parse, then reply. */
static void
handle_line(const char *line, size_t len)
{
	struct json_object	*req, *reply;
	enum proto_err		 err;
	const char		*cmd;
	int64_t			 id;
	char			*msg, *out;
	size_t			 n;

	req = proto_parse_request(line, len, &id, &cmd, &err, &msg);
	if (req == NULL) {
		if (err <= PERR_OK || err >= PERR_MAX || msg == NULL)
			abort();
		reply = proto_reply_error(id, err, "%s", msg);
		free(msg);
	} else {
		if (cmd == NULL || msg != NULL)
			abort();
		reply = proto_reply_ok(id);
		json_object_object_add(reply, "cmd",
		    json_object_new_string(cmd));
		json_object_put(req);
	}
	out = proto_serialize(reply, &n);
	if (n == 0 || out[n - 1] != '\n' || memchr(out, '\n', n - 1) != NULL)
		abort();
	free(out);
	json_object_put(reply);
}

static void
drain(struct linebuf *lb)
{
	enum lb_result	 r;
	char		*line;
	size_t		 len;

	while ((r = linebuf_next(lb, &line, &len)) != LB_NONE) {
		if (r != LB_LINE)
			continue;
		if (len == 0 || len > lb->max || line[len] != '\0')
			abort();
		handle_line(line, len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linebuf	 lb;
	size_t		 room, step, k;
	char		*p;

	linebuf_init(&lb, FUZZ_MAX_LINE);
	/* The first byte chooses the read size, 1..256. */
	step = size > 0 ? (size_t)data[0] + 1 : 1;
	if (size > 0) {
		data++;
		size--;
	}
	while (size > 0) {
		p = linebuf_space(&lb, &room);
		k = size < step ? size : step;
		if (k > room)
			k = room;
		memcpy(p, data, k);
		linebuf_commit(&lb, k);
		data += k;
		size -= k;
		drain(&lb);
		if (lb.cap > FUZZ_MAX_LINE + 3 + 8192)
			abort();
	}
	/* End of input: a last line without a newline, as the daemon does. */
	p = linebuf_space(&lb, &room);
	*p = '\n';
	linebuf_commit(&lb, 1);
	drain(&lb);
	linebuf_free(&lb);
	return (0);
}
