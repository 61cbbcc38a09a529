/*
 * fuzz_headers.c: libFuzzer target for what fetchd reads from response
 * headers: curl's header callback (daemon/fetch.c, fetch_header_cb: keeps
 * Retry-After, ETag and Last-Modified of the final response) fed the
 * input line by line as curl would, then Retry-After parsing
 * (daemon/retry.c) of the captured value and of the whole input, in both
 * forms (delta-seconds, IMF-fixdate), and the retry delay built from it.
 *
 * Must hold for any input: every line is consumed; captured values are
 * NUL-terminated inside their buffers, trimmed in front, and carry no CR or LF (they
 * go back out as If-None-Match / If-Modified-Since request headers); a
 * status line clears them; a parsed Retry-After is -1 or a delay in
 * [0, 365 days]; the retry delay stays within [0, backoff-max].
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetchd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Both forms are capped at a year. */
#define MAX_DELAY	(365LL * 86400 * USEC_PER_SEC)

static void
check_value(const char *v, size_t size)
{
	size_t	 n;

	if ((n = strnlen(v, size)) == size)
		abort();
	if (memchr(v, '\r', n) != NULL || memchr(v, '\n', n) != NULL)
		abort();
	if (n > 0 && (v[0] == ' ' || v[0] == '\t'))
		abort();
}

static void
check_retry(const char *v, time_t now)
{
	struct jobdef	 d;
	int64_t		 ra, delay;

	ra = retry_after_parse(v, now);
	if (ra < -1 || ra > MAX_DELAY)
		abort();
	memset(&d, 0, sizeof(d));
	d.backoff = 250000;
	d.backoff_max = 30 * USEC_PER_SEC;
	delay = retry_delay(&d, 3, ra, 0.5);
	if (delay < 0 || delay > d.backoff_max)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jobdef def;
	struct xfer	 x;
	const uint8_t	*p, *nl, *end = data + size;
	char		*line, *all;
	size_t		 n;
	time_t		 now;

	/* The first byte moves "now" around 2026, so dates fall both sides. */
	if (size < 1)
		return (0);
	now = (time_t)1790000000 + ((time_t)data[0] - 128) * 86400 * 200;
	data++;
	size--;

	memset(&x, 0, sizeof(x));
	/* No secret headers: a Location is checked, never refused. */
	def.max_redirs = 10;
	x.def = &def;
	for (p = data; p < end; p = nl) {
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl != NULL ? nl + 1 : end;
		n = (size_t)(nl - p);
		/* Exactly the line's bytes, so ASan sees any over-read. */
		line = xmalloc(n);
		memcpy(line, p, n);
		/* Only a head over fetch.c's 256 KiB cap is refused. */
		if (fetch_header_cb(line, 1, n, &x) != n &&
		    x.header_bytes <= 256 * 1024)
			abort();
		if (n > 5 && memcmp(line, "HTTP/", 5) == 0 &&
		    (x.retry_after[0] != '\0' || x.etag[0] != '\0' ||
		    x.last_modified[0] != '\0'))
			abort();
		free(line);
		check_value(x.retry_after, sizeof(x.retry_after));
		check_value(x.etag, sizeof(x.etag));
		check_value(x.last_modified, sizeof(x.last_modified));
	}
	check_retry(x.retry_after, now);

	/* The whole input as one Retry-After value. */
	all = xstrndup((const char *)data, size);
	check_retry(all, now);
	free(all);
	return (0);
}
