/*
 * fuzz_results.c: libFuzzer target for the result-line encoder: a response
 * body of arbitrary bytes, fed in chunks through daemon/body.c (with or
 * without an extract pointer, with or without a small max-body), then
 * encoded by results_record() together with arbitrary URL, detail and
 * validator strings.  The line must always be exactly one line of valid
 * UTF-8 JSON (checked with json-c, strict), an object with "i" and "url";
 * a binary body must come back byte for byte from "body_base64".
 *
 * Input layout: byte 0 flags (bit 0: extract, bit 1: small max-body,
 * bit 2: error record), byte 1 chunk size - 1, then a header line (up to
 * the first '\n': the extract pointer and the URL), then the body.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fetchd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

/* Decode padded base64; -1 on anything malformed. */
static int
b64dec(const char *s, size_t n, struct buf *out)
{
	size_t	 i;
	int	 v[4], k;

	if (n % 4 != 0)
		return (-1);
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 :
			    b64val((unsigned char)s[i + k]);
			if (v[k] < 0)
				return (-1);
		}
		buf_addc(out, (char)(v[0] << 2 | v[1] >> 4));
		if (s[i + 2] != '=')
			buf_addc(out, (char)((v[1] & 0xf) << 4 | v[2] >> 2));
		if (s[i + 3] != '=')
			buf_addc(out, (char)((v[2] & 0x3) << 6 | v[3]));
	}
	return (0);
}

/* One line, valid UTF-8, strict JSON object; returns it parsed. */
static struct json_object *
check_line(const struct buf *line)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	size_t			 n = line->len;

	if (n < 3 || line->data[n - 1] != '\n' ||
	    memchr(line->data, '\n', n - 1) != NULL ||
	    memchr(line->data, '\0', n) != NULL)
		abort();
	if (!util_utf8_valid(line->data, n))
		abort();
	/* The body may nest 64 deep; the record adds one level. */
	if ((tok = json_tokener_new_ex(128)) == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, line->data, (int)(n - 1));
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != n - 1 ||
	    !json_object_is_type(o, json_type_object))
		abort();
	json_tokener_free(tok);
	return (o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record		 rec;
	struct body		*b;
	struct buf		 line, dec;
	struct json_object	*o, *v;
	const char		*body, *nl;
	char			*head, *cause = NULL;
	size_t			 blen, step, k, hlen;
	int			 flags, rc, too_large = 0;
	uint64_t		 max;

	if (size < 2)
		return (0);
	flags = data[0];
	step = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	nl = memchr(data, '\n', size);
	hlen = nl != NULL ? (size_t)(nl - (const char *)data) : 0;
	head = xstrndup((const char *)data, hlen);	/* stops at a NUL */
	body = (const char *)data + (nl != NULL ? hlen + 1 : 0);
	blen = size - (size_t)(body - (const char *)data);
	max = (flags & 2) ? (uint64_t)(flags >> 3) * 8 : 1 << 20;

	b = body_new(max, (flags & 1) ? head : NULL);
	for (k = 0; k < blen; k += step)
		if (body_feed(b, body + k, blen - k < step ? blen - k : step)
		    == -1)
			too_large = 1;
	if (too_large != (blen > max))
		abort();
	rc = body_finish(b, &cause);
	if ((rc == -1) != (cause != NULL) || (rc == -1 && !(flags & 1)))
		abort();

	memset(&rec, 0, sizeof(rec));
	rec.i = (uint64_t)blen * 7919;
	rec.url = head;
	rec.status = (flags & 4) ? 599 : 200;
	rec.attempts = (unsigned)step;
	rec.usec = (int64_t)blen * 1000 - 5000;
	rec.queue_usec = (int64_t)step * 333;
	rec.body = b;
	if (flags & 4 || rc == -1) {
		rec.error = rc == -1 ? "bad-body" : "http_599";
		rec.detail = cause != NULL ? cause : head;
	}
	rec.etag = head;
	rec.last_modified = (flags & 8) ? head : NULL;
	rec.unchanged = (flags & 16) != 0;
	buf_init(&line);
	results_record(&line, &rec);
	o = check_line(&line);
	if (!json_object_object_get_ex(o, "i", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (uint64_t)json_object_get_int64(v) != rec.i ||
	    !json_object_object_get_ex(o, "url", &v) ||
	    !json_object_is_type(v, json_type_string))
		abort();
	/* Bytes that are not UTF-8 come back exactly, through base64. */
	if (json_object_object_get_ex(o, "body_base64", &v)) {
		if (too_large || !json_object_is_type(v, json_type_string))
			abort();
		buf_init(&dec);
		if (b64dec(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), &dec) == -1 ||
		    dec.len != blen || memcmp(dec.data, body, blen) != 0 ||
		    util_utf8_valid(body, blen))
			abort();
		buf_free(&dec);
	}
	if (too_large && (json_object_object_get_ex(o, "body", NULL)))
		abort();
	json_object_put(o);
	buf_free(&line);
	body_free(b);
	free(cause);
	free(head);
	return (0);
}
