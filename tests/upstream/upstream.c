/*
 * upstream: the fault-injecting HTTP/1.1 server of fetchd's integration
 * tests and benchmarks.  One thread, one libev loop, non-blocking sockets:
 * it holds thousands of keep-alive connections and serves many requests on
 * each, pipelined ones one at a time and in order.  Every request chooses
 * its own behaviour through its query string (delay, status, fail the
 * first K attempts, Retry-After, large streamed bodies, text, binary or
 * broken JSON bodies, resets before or in the middle of the body, hangs,
 * slow drips, chunked encoding, conditional requests, an echo of the
 * request); tests/upstream/README.md lists the parameters.  A bounded
 * table counts requests per request-target, so tests can ask how many
 * attempts arrived (/__count) and /__stats reports totals and the highest
 * concurrency seen.  Nothing ever sleeps: delays and drips are ev_timers.
 *
 * Layout: buffers and helpers; the per-target counter table; the request
 * parser (request line, headers, body); query parameters; the router,
 * which turns a request into a struct resp; the response writer (headers,
 * body generator, chunking, drip); the connection lifecycle (callbacks and
 * the state machine in conn_run); the listener and main.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* accept4, strptime, timegm */
#endif

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <linux/sockios.h>		/* SIOCOUTQ */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#define MAX_HEADER	8192		/* request line + headers, else 431 */
#define IN_CAP		16384		/* per-connection input buffer */
#define OUT_SLICE	16384		/* body bytes generated per step */
#define OUT_KEEP	4096		/* idle output buffer kept up to this */
#define WRITE_BUDGET	(256 * 1024)	/* bytes per callback, then yield */
#define ECHO_BODY_MAX	65536		/* request body bytes echoed back */
#define MAX_KEYS	1000000		/* default bound of the counter table */
#define MAX_DIGITS	18		/* longest path number reported as n */
#define RST_PAUSE	0.01		/* poll the send queue before a RST */
#define RST_POLLS	500		/* at most 5 s, then RST anyway */
#define DRAIN_TIMEOUT	1.0		/* lingering close, Connection: close */
#define ACCEPT_PAUSE	0.1		/* accept paused this long on EMFILE */
#define ACCEPT_BATCH	256		/* accepts per callback */
#define LISTEN_BACKLOG	65535		/* the kernel caps it at somaxconn */
#define LOG_PER_KEY	1000		/* arrival times kept per key */
#define ARRIVALS_MAX	100000		/* default size of the arrival ring */

/* Where a connection is in serving its current request. */
enum cstate {
	CS_HEAD,		/* reading a request line and headers */
	CS_BODY,	/* reading (mostly discarding) the request body */
	CS_WAIT,		/* delay=: timer before the response starts */
	CS_HANG,		/* hang=: never answering */
	CS_SEND,	/* writing headers and body as the socket drains */
	CS_DRIP,		/* drip=: one body byte per timer tick */
	CS_RSTWAIT,	/* reset_mid=: part of the body sent, RST soon */
	CS_DRAIN		/* write side shut, reading until EOF */
};

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum btype { BT_JSON, BT_TEXT, BT_BINARY, BT_BADJSON, BT_JSON_LATIN1,
    BT_JSON_NUL, BT_JSON_ESCAPES };

struct buf {
	char		*p;
	size_t		 off;		/* first unconsumed byte */
	size_t		 len;		/* end of the data */
	size_t		 cap;
};

/* The request being read or served. */
struct req {
	char		*target;	/* request-target, NUL-terminated */
	char		 method[32];
	int		 minor;		/* HTTP/1.minor */
	int		 keepalive;
	int		 expect100;
	int		 has_cl;
	enum body_mode	 bmode;
	enum chunk_state cstate;
	uint64_t	 body_left;	/* Content-Length or chunk bytes left */
	uint64_t	 body_len;	/* request body bytes seen */
	char		 inm[256];	/* If-None-Match */
	char		 ims[64];	/* If-Modified-Since */
	struct buf	 echo;		/* headers as JSON members (echo=1) */
	struct buf	 ebody;		/* request body kept for echo=1 */
};

/* Query parameters; numbers are -1 when absent. */
struct params {
	long long	 chunked;
	long long	 close;
	long long	 delay;
	long long	 drip;
	long long	 echo;
	long long	 endless_headers;
	long long	 fail;
	long long	 faildelay;
	long long	 failstatus;
	long long	 gzip;
	long long	 hang;
	long long	 lastmod;
	long long	 loop;
	long long	 reset;
	long long	 reset_mid;
	long long	 retry_after;
	long long	 retry_after_date;
	long long	 size;
	long long	 status;
	long long	 redirect;	/* hops left: 302 to ?redirect=N-1 */
	enum btype	 type;
	const char	*etag;		/* points into req.target */
	size_t		 etaglen;
	const char	*loc;		/* points into req.target, %-encoded */
	size_t		 loclen;
	const char	*bad;		/* first parameter with a bad value */
};

/*
 * The response being written.  The body is generated on the fly from
 * three parts: a head string, `nfill` copies of one byte (or `nfill`
 * bytes of a repeated pattern), a tail string.
 */
struct resp {
	int		 status;
	const char	*ctype;
	int		 chunked;
	int		 send_body;	/* 0 for HEAD, 204 and 304 */
	int		 send_cl;	/* 0 for 204 and 304 */
	int		 close;
	int		 reset;
	int		 reset_mid;
	int		 hang;
	double		 delay;
	double		 drip;
	long long	 retry_after;
	long long	 retry_after_date;
	long long	 lastmod;
	long long	 redirect;	/* hops left, or -1 */
	const char	*etag;		/* points into req.target */
	size_t		 etaglen;
	const char	*loc;		/* points into req.target, %-encoded */
	size_t		 loclen;
	char		*bhead;		/* malloc'd */
	size_t		 bhlen;
	int		 fill;
	uint64_t	 nfill;
	const char	*rep;		/* pattern filling nfill, or NULL */
	size_t		 replen;
	const char	*btail;
	size_t		 btlen;
	char		*btail_own;	/* malloc'd btail, or NULL */
	char		 repbuf[64];	/* rep of gzip= and endless_headers= */
	int		 gzip;		/* Content-Encoding: gzip */
	int		 endless;	/* endless_headers=: no end of head */
	uint64_t	 blen;		/* whole body */
	uint64_t	 bend;		/* bytes to send: blen, or half */
	uint64_t	 bsent;		/* body bytes generated */
	int		 term;		/* last chunk queued */
	int		 rst_polls;	/* send queue checks before the RST */
};

struct stats {
	unsigned long long requests;
	unsigned long long connections;
	unsigned long long bad;
	unsigned long long resets;
	unsigned long long hangs;
	long		 open;
	long		 max_open;
	long		 inflight;
	long		 max_inflight;
};

/*
 * A key's arrival times, ms since start: the first in t0, the next ones
 * in tv, whose room follows from nlog (see ctab_log), so a key hit once
 * costs no allocation.  Only the first LOG_PER_KEY are kept.
 */
struct kent {
	uint64_t	 h;
	char		*key;
	uint32_t	 klen;		/* keys are < MAX_HEADER bytes */
	uint32_t	 nlog;		/* times kept: t0, then tv[] */
	unsigned long long count;
	double		 t0;
	double		*tv;
};

/* Requests per request-target: open addressing, linear probing. */
struct ctab {
	struct kent	*tab;
	size_t		 size;		/* slots, a power of two */
	size_t		 used;
	size_t		 max;		/* keys kept at most */
	unsigned long long untracked;	/* requests whose key found no room */
};

/* Every request's arrival, newest over the oldest once full. */
struct arrival {
	const char	*key;		/* the ctab's copy; NULL if untracked */
	double		 t;		/* ms since start */
};

struct aring {
	struct arrival	*a;		/* max slots, allocated lazily */
	size_t		 max;
	size_t		 head;		/* next slot written */
	size_t		 n;		/* slots in use */
	unsigned long long overwritten;
};

struct server;

struct conn {
	struct conn	*prev, *next;
	struct server	*srv;
	int		 fd;
	enum cstate	 state;
	ev_io		 rio;
	ev_io		 wio;
	ev_timer	 tmr;
	struct buf	 in;
	struct buf	 out;
	size_t		 scan;		/* header bytes searched so far */
	int		 peer_eof;
	int		 inflight;	/* counted in stats.inflight */
	struct req	 req;
	struct params	 par;
	struct resp	 resp;
};

struct server {
	struct ev_loop	*loop;
	int		 lfd;
	ev_io		 accept_w;
	ev_timer	 accept_pause;
	ev_signal	 sigterm;
	ev_signal	 sigint;
	struct conn	*conns;
	struct ctab	 keys;
	struct aring	 arrivals;
	struct timespec	 start;		/* CLOCK_MONOTONIC at start */
	struct stats	 st;
	int		 verbose;
	int		 quiet;
};

static int	conn_run(struct conn *);
static void	conn_timer(struct conn *, double);
static void	conn_close(struct conn *);
static void	conn_rst(struct conn *);
static int	resp_begin(struct conn *);

/*
 * Helpers: messages, growable buffers, JSON escaping, numbers, dates.
 */

static void logmsg(const struct server *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Level 0 is a warning (silenced by -q), level 1 a trace (shown by -v). */
static void
logmsg(const struct server *s, int level, const char *fmt, ...)
{
	va_list	 ap;

	if ((level == 0 && s->quiet) || (level > 0 && !s->verbose))
		return;
	va_start(ap, fmt);
	fputs("upstream: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static size_t
buf_pending(const struct buf *b)
{
	return (b->len - b->off);
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Makes room for n more bytes, compacting before growing; -1 on OOM. */
static int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 cap;
	char	*p;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return (0);
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return (0);
	}
	cap = b->cap > 0 ? b->cap : 256;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return (-1);
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL)
		return (-1);
	b->p = p;
	b->cap = cap;
	return (0);
}

static int
buf_add(struct buf *b, const void *d, size_t n)
{
	if (n == 0)			/* d may be NULL then */
		return (0);
	if (buf_reserve(b, n) == -1)
		return (-1);
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return (0);
}

static int
buf_str(struct buf *b, const char *s)
{
	return (buf_add(b, s, strlen(s)));
}

static int buf_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (buf_reserve(b, 128) == -1)
		return (-1);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (-1);
	if ((size_t)n >= b->cap - b->len) {
		if (buf_reserve(b, (size_t)n + 1) == -1)
			return (-1);
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return (-1);
	}
	b->len += (size_t)n;
	return (0);
}

/* Appends s as the inside of a JSON string; bytes >= 0x7f become \u00XX. */
static int
buf_json(struct buf *b, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 ch;
	char			 e[6];
	size_t			 i;

	if (buf_reserve(b, n) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			if (buf_add(b, &s[i], 1) == -1)
				return (-1);
			continue;
		}
		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			if (buf_add(b, e, 2) == -1)
				return (-1);
			continue;
		}
		memcpy(e, "\\u00", 4);
		e[4] = hex[ch >> 4];
		e[5] = hex[ch & 15];
		if (buf_add(b, e, 6) == -1)
			return (-1);
	}
	return (0);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}

/* Decodes %XX escapes of s into dst (room for n bytes); returns length. */
static size_t
pct_decode(const char *s, size_t n, char *dst)
{
	size_t	 i, j;
	int	 hi, lo;

	for (i = j = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval(s[i + 1])) != -1 &&
		    (lo = hexval(s[i + 2])) != -1) {
			dst[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			dst[j++] = s[i];
	}
	return (j);
}

/* Parses n decimal digits into *v; -1 unless all digits and <= max. */
static int
parse_num(const char *s, size_t n, long long max, long long *v)
{
	long long	 x = 0;
	size_t		 i;

	if (n == 0 || n > MAX_DIGITS)
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		x = x * 10 + (s[i] - '0');
	}
	if (x > max)
		return (-1);
	*v = x;
	return (0);
}

static void
http_date(time_t t, char *dst, size_t n)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dst, n, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		snprintf(dst, n, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static const char *
reason(int status)
{
	static const struct {
		int		 code;
		const char	*text;
	} reasons[] = {
		{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
		{ 202, "Accepted" }, { 204, "No Content" },
		{ 206, "Partial Content" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 303, "See Other" },
		{ 304, "Not Modified" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 408, "Request Timeout" }, { 409, "Conflict" },
		{ 410, "Gone" }, { 413, "Content Too Large" },
		{ 418, "I'm a teapot" }, { 425, "Too Early" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return (reasons[i].text);
	return ("Status");
}

/*
 * The counter table: how many requests each request-target received.
 * It holds at most `max` keys; requests for further keys are counted as
 * untracked and behave as if seen for the first time after their K fails.
 */

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t	 h = 14695981039346656037ULL;
	size_t		 i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (h);
}

static struct kent *
ctab_slot(const struct ctab *t, const char *key, size_t n, uint64_t h)
{
	struct kent	*e;
	size_t		 i, mask = t->size - 1;

	for (i = h & mask;; i = (i + 1) & mask) {
		e = &t->tab[i];
		if (e->key == NULL || (e->h == h && e->klen == n &&
		    memcmp(e->key, key, n) == 0))
			return (e);
	}
}

static int
ctab_grow(struct ctab *t)
{
	struct kent	*old = t->tab, *e;
	size_t		 osize = t->size, i;

	t->size = osize > 0 ? osize * 2 : 1024;
	if ((t->tab = calloc(t->size, sizeof(*t->tab))) == NULL) {
		t->tab = old;
		t->size = osize;
		return (-1);
	}
	for (i = 0; i < osize; i++) {
		if (old[i].key == NULL)
			continue;
		e = ctab_slot(t, old[i].key, old[i].klen, old[i].h);
		*e = old[i];
	}
	free(old);
	return (0);
}

/*
 * Keeps arrival time now for e, up to LOG_PER_KEY times.  Time k (0-based,
 * k >= 1) goes to tv[k - 1]; tv grows when that index is 0 or a power of
 * two, doubling, up to LOG_PER_KEY - 1 slots.  Out of memory, the time
 * is not kept and the next request tries again.
 */
static void
ctab_log(struct kent *e, double now)
{
	size_t	 j, room;
	double	*tv;

	if (e->nlog == 0) {
		e->t0 = now;
		e->nlog = 1;
		return;
	}
	if (e->nlog >= LOG_PER_KEY)
		return;
	j = e->nlog - 1;
	if (j == 0 || (j & (j - 1)) == 0) {
		room = j == 0 ? 1 : 2 * j;
		if (room > LOG_PER_KEY - 1)
			room = LOG_PER_KEY - 1;
		if ((tv = realloc(e->tv, room * sizeof(*tv))) == NULL)
			return;
		e->tv = tv;
	}
	e->tv[j] = now;
	e->nlog++;
}

/*
 * Counts one request for key, arrived at now; returns its count, 0 if
 * untracked, and the table's copy of the key in *stored (else NULL).
 */
static unsigned long long
ctab_hit(struct ctab *t, const char *key, double now, const char **stored)
{
	struct kent	*e;
	size_t		 n = strlen(key);
	uint64_t	 h = fnv1a(key, n);

	*stored = NULL;
	if (t->size == 0 && ctab_grow(t) == -1)
		goto untracked;
	e = ctab_slot(t, key, n, h);
	if (e->key != NULL) {
		e->count++;
		ctab_log(e, now);
		*stored = e->key;
		return (e->count);
	}
	if (t->used >= t->max || (e->key = strdup(key)) == NULL)
		goto untracked;
	e->h = h;
	e->klen = (uint32_t)n;
	e->count = 1;
	ctab_log(e, now);
	*stored = e->key;
	if (++t->used * 2 > t->size)
		(void)ctab_grow(t);	/* on OOM the table just gets fuller */
	return (1);
 untracked:
	t->untracked++;
	return (0);
}

static const struct kent *
ctab_find(const struct ctab *t, const char *key, size_t n)
{
	const struct kent	*e;

	if (t->size == 0)
		return (NULL);
	e = ctab_slot(t, key, n, fnv1a(key, n));
	return (e->key != NULL ? e : NULL);
}

static unsigned long long
ctab_get(const struct ctab *t, const char *key, size_t n)
{
	const struct kent	*e = ctab_find(t, key, n);

	return (e != NULL ? e->count : 0);
}

static void
ctab_clear(struct ctab *t)
{
	size_t	 i;

	for (i = 0; i < t->size; i++) {
		free(t->tab[i].key);
		free(t->tab[i].tv);
	}
	free(t->tab);
	t->tab = NULL;
	t->size = t->used = 0;
	t->untracked = 0;
}

/*
 * Query parameters.  Unknown ones are ignored (URLs from fetchd's globs
 * may carry their own), a known one with a bad value makes the request a
 * 400 naming it.  "name" without "=" means name=1.
 */

struct ptab {
	const char	*name;
	size_t		 off;
	long long	 max;
	int		(*set)(struct params *, const struct ptab *,
			    const char *, size_t);
};

static int
set_num(struct params *p, const struct ptab *pt, const char *v, size_t n)
{
	long long	*dst = (long long *)(void *)((char *)p + pt->off);

	return (parse_num(v, n, pt->max, dst));
}

static int
set_status(struct params *p, const struct ptab *pt, const char *v, size_t n)
{
	long long	 x;

	if (parse_num(v, n, 599, &x) == -1 || x < 200)
		return (-1);
	*(long long *)(void *)((char *)p + pt->off) = x;
	return (0);
}

static int
set_type(struct params *p, const struct ptab *pt, const char *v, size_t n)
{
	static const struct {
		const char	*name;
		enum btype	 type;
	} types[] = {
		{ "json", BT_JSON }, { "text", BT_TEXT },
		{ "binary", BT_BINARY }, { "badjson", BT_BADJSON },
		{ "json_latin1", BT_JSON_LATIN1 }, { "json_nul", BT_JSON_NUL },
		{ "json_escapes", BT_JSON_ESCAPES },
	};
	size_t	 i;

	(void)pt;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strlen(types[i].name) == n &&
		    memcmp(types[i].name, v, n) == 0) {
			p->type = types[i].type;
			return (0);
		}
	}
	return (-1);
}

static int
set_etag(struct params *p, const struct ptab *pt, const char *v, size_t n)
{
	size_t	 i;

	(void)pt;
	if (n == 0 || n > 64)
		return (-1);
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", v[i]) == NULL)
			return (-1);
	p->etag = v;
	p->etaglen = n;
	return (0);
}

static int
set_location(struct params *p, const struct ptab *pt, const char *v,
    size_t n)
{
	(void)pt;
	if (n == 0)
		return (-1);
	p->loc = v;
	p->loclen = n;
	return (0);
}

#define PN(name, max)	{ #name, offsetof(struct params, name), max, set_num }
static const struct ptab ptab[] = {
	PN(chunked, 1),
	PN(close, 1),
	PN(delay, 86400000),
	PN(drip, 86400000),
	PN(echo, 1),
	PN(endless_headers, 2),
	{ "etag", 0, 0, set_etag },
	PN(fail, 1000000000),
	PN(faildelay, 86400000),
	{ "failstatus", offsetof(struct params, failstatus), 0, set_status },
	PN(gzip, 1LL << 40),
	PN(hang, 1),
	PN(lastmod, 1LL << 40),
	{ "location", 0, 0, set_location },
	PN(loop, 1),
	PN(redirect, 1000000),
	PN(reset, 1),
	PN(reset_mid, 1),
	PN(retry_after, 1000000000),
	PN(retry_after_date, 1000000000),
	PN(size, 1LL << 40),
	{ "status", offsetof(struct params, status), 0, set_status },
	{ "type", 0, 0, set_type },
};
#undef PN

static void
params_init(struct params *p)
{
	memset(p, 0, sizeof(*p));
	p->chunked = p->close = p->delay = p->drip = p->echo = -1;
	p->endless_headers = p->gzip = p->loop = -1;
	p->fail = p->faildelay = p->failstatus = p->hang = p->lastmod = -1;
	p->reset = p->reset_mid = p->retry_after = -1;
	p->retry_after_date = p->size = p->status = -1;
	p->redirect = -1;
	p->type = BT_JSON;
}

static void
params_one(struct params *p, const char *s, size_t n)
{
	const char	*eq, *v;
	size_t		 klen, vlen, i;

	if ((eq = memchr(s, '=', n)) != NULL) {
		klen = (size_t)(eq - s);
		v = eq + 1;
		vlen = n - klen - 1;
	} else {
		klen = n;
		v = "1";
		vlen = 1;
	}
	for (i = 0; i < sizeof(ptab) / sizeof(ptab[0]); i++) {
		if (strlen(ptab[i].name) != klen ||
		    memcmp(ptab[i].name, s, klen) != 0)
			continue;
		if (ptab[i].set(p, &ptab[i], v, vlen) == -1 && p->bad == NULL)
			p->bad = ptab[i].name;
		return;
	}
}

/* Parses the query of target (NUL-terminated) into p. */
static void
params_parse(struct params *p, const char *target)
{
	const char	*q, *amp;

	params_init(p);
	if ((q = strchr(target, '?')) == NULL)
		return;
	for (q++; *q != '\0'; q = amp + 1) {
		if ((amp = strchr(q, '&')) == NULL)
			amp = q + strlen(q);
		if (amp > q)
			params_one(p, q, (size_t)(amp - q));
		if (*amp == '\0')
			break;
	}
}

/*
 * The request parser: request line, header fields, then the body, which
 * is skipped (Content-Length or chunked) and kept only for echo=1.
 */

static int
is_tchar(int ch)
{
	return ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL));
}

static void
req_free(struct req *r)
{
	free(r->target);
	buf_free(&r->echo);
	buf_free(&r->ebody);
	memset(r, 0, sizeof(*r));
}

/* Finds the end of the header block; returns its length, 0 if not yet. */
static size_t
head_end(struct conn *c)
{
	const char	*d = c->in.p + c->in.off, *nl;
	size_t		 len = buf_pending(&c->in), i, j;

	for (i = c->scan; i < len; i = j + 1) {
		if ((nl = memchr(d + i, '\n', len - i)) == NULL)
			break;
		j = (size_t)(nl - d);
		if (j >= 1 && d[j - 1] == '\n')
			return (j + 1);
		if (j >= 2 && d[j - 1] == '\r' && d[j - 2] == '\n')
			return (j + 1);
	}
	c->scan = len;
	return (0);
}

/* METHOD SP request-target SP HTTP/1.x; absolute-form keeps its path. */
static int
parse_reqline(struct req *r, const char *s, size_t n)
{
	const char	*end = s + n, *sp1, *sp2, *tgt, *p;
	size_t		 tlen;

	if ((sp1 = memchr(s, ' ', n)) == NULL || sp1 == s ||
	    (size_t)(sp1 - s) >= sizeof(r->method))
		return (-1);
	for (p = s; p < sp1; p++)
		if (!is_tchar((unsigned char)*p))
			return (-1);
	tgt = sp1 + 1;
	if ((sp2 = memchr(tgt, ' ', (size_t)(end - tgt))) == NULL ||
	    sp2 == tgt)
		return (-1);
	for (p = tgt; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return (-1);
	if (end - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    sp2[8] < '0' || sp2[8] > '9')
		return (-1);
	r->minor = sp2[8] - '0';
	memcpy(r->method, s, (size_t)(sp1 - s));
	r->method[sp1 - s] = '\0';
	if (*tgt != '/') {
		if (sp2 - tgt > 7 && strncasecmp(tgt, "http://", 7) == 0)
			tgt += 7;
		else if (sp2 - tgt > 8 && strncasecmp(tgt, "https://", 8) == 0)
			tgt += 8;
		else
			return (-1);
		if ((p = memchr(tgt, '/', (size_t)(sp2 - tgt))) == NULL)
			return (-1);
		tgt = p;
	}
	tlen = (size_t)(sp2 - tgt);
	if ((r->target = malloc(tlen + 1)) == NULL)
		return (-1);
	memcpy(r->target, tgt, tlen);
	r->target[tlen] = '\0';
	return (0);
}

static int
hdr_is(const char *name, size_t n, const char *want)
{
	return (strlen(want) == n && strncasecmp(name, want, n) == 0);
}

/* Whether the comma-separated list v contains token tok. */
static int
has_token(const char *v, size_t n, const char *tok)
{
	const char	*end = v + n, *comma;
	size_t		 tlen = strlen(tok), len;

	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		if ((comma = memchr(v, ',', (size_t)(end - v))) == NULL)
			comma = end;
		len = (size_t)(comma - v);
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len == tlen && strncasecmp(v, tok, len) == 0)
			return (1);
		v = comma;
	}
	return (0);
}

static void
copy_field(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Remembers one header as "name":"value" for echo=1. */
static int
echo_header(struct req *r, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
	char	 lower[256];
	size_t	 i;

	if (nlen > sizeof(lower))
		nlen = sizeof(lower);
	for (i = 0; i < nlen; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	if ((r->echo.len > 0 && buf_str(&r->echo, ",") == -1) ||
	    buf_str(&r->echo, "\"") == -1 ||
	    buf_json(&r->echo, lower, nlen) == -1 ||
	    buf_str(&r->echo, "\":\"") == -1 ||
	    buf_json(&r->echo, v, vlen) == -1 ||
	    buf_str(&r->echo, "\"") == -1)
		return (-1);
	return (0);
}

static int
parse_header(struct conn *c, const char *s, size_t n)
{
	struct req	*r = &c->req;
	const char	*colon, *v, *p;
	size_t		 nlen, vlen;
	long long	 cl;

	if ((colon = memchr(s, ':', n)) == NULL || colon == s)
		return (-1);
	nlen = (size_t)(colon - s);
	for (p = s; p < colon; p++)
		if (!is_tchar((unsigned char)*p))
			return (-1);
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;

	if (hdr_is(s, nlen, "content-length")) {
		if (parse_num(v, vlen, 1LL << 40, &cl) == -1 ||
		    (r->has_cl && r->body_left != (uint64_t)cl))
			return (-1);
		r->has_cl = 1;
		r->body_left = (uint64_t)cl;
	} else if (hdr_is(s, nlen, "transfer-encoding")) {
		if (vlen < 7 || strncasecmp(v + vlen - 7, "chunked", 7) != 0)
			return (-1);
		r->bmode = BODY_CHUNKED;
	} else if (hdr_is(s, nlen, "connection")) {
		if (has_token(v, vlen, "close"))
			r->keepalive = -1;
		else if (has_token(v, vlen, "keep-alive") && r->keepalive == 0)
			r->keepalive = 1;
	} else if (hdr_is(s, nlen, "expect")) {
		if (vlen == 12 && strncasecmp(v, "100-continue", 12) == 0)
			r->expect100 = 1;
	} else if (hdr_is(s, nlen, "if-none-match"))
		copy_field(r->inm, sizeof(r->inm), v, vlen);
	else if (hdr_is(s, nlen, "if-modified-since"))
		copy_field(r->ims, sizeof(r->ims), v, vlen);
	if (c->par.echo == 1 && echo_header(r, s, nlen, v, vlen) == -1)
		return (-1);
	return (0);
}

/*
 * Parses the request head at the start of the input buffer.  Returns 0
 * when more input is needed, 1 when parsed and consumed, or an HTTP error
 * status (400, 431) for a request that cannot be served.
 */
static int
req_parse(struct conn *c)
{
	struct req	*r = &c->req;
	const char	*d, *line, *nl, *end;
	size_t		 hlen, llen;
	int		 first = 1;

	if (c->scan == 0)		/* tolerate empty lines before it */
		while (buf_pending(&c->in) > 0 &&
		    (c->in.p[c->in.off] == '\r' || c->in.p[c->in.off] == '\n'))
			c->in.off++;
	if ((hlen = head_end(c)) == 0)
		return (buf_pending(&c->in) > MAX_HEADER ? 431 : 0);
	if (hlen > MAX_HEADER)
		return (431);

	req_free(r);
	params_init(&c->par);
	d = c->in.p + c->in.off;
	end = d + hlen;
	for (line = d; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		llen = (size_t)(nl - line);
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen == 0)
			break;
		if (first) {
			if (parse_reqline(r, line, llen) == -1)
				return (400);
			params_parse(&c->par, r->target);
			first = 0;
		} else if (parse_header(c, line, llen) == -1)
			return (400);
	}
	if (r->bmode == BODY_CHUNKED && r->has_cl)
		return (400);
	if (r->bmode != BODY_CHUNKED)
		r->bmode = r->body_left > 0 ? BODY_LENGTH : BODY_NONE;
	r->cstate = CH_SIZE;
	if (r->keepalive == -1)
		r->keepalive = 0;
	else if (r->minor >= 1)
		r->keepalive = 1;
	c->in.off += hlen;
	c->scan = 0;
	return (1);
}

/* Takes up to n body bytes from the input: counted, kept for echo=1. */
static void
body_take(struct conn *c, size_t n)
{
	struct req	*r = &c->req;
	size_t		 keep;

	if (c->par.echo == 1 && r->ebody.len < ECHO_BODY_MAX) {
		keep = ECHO_BODY_MAX - r->ebody.len;
		if (keep > n)
			keep = n;
		(void)buf_add(&r->ebody, c->in.p + c->in.off, keep);
	}
	r->body_len += n;
	c->in.off += n;
}

/* One line of chunked framing; returns its length with the newline. */
static size_t
body_line(struct conn *c, const char **line, size_t *llen)
{
	const char	*d = c->in.p + c->in.off, *nl;

	if ((nl = memchr(d, '\n', buf_pending(&c->in))) == NULL)
		return (0);
	*line = d;
	*llen = (size_t)(nl - d);
	if (*llen > 0 && d[*llen - 1] == '\r')
		(*llen)--;
	return ((size_t)(nl - d) + 1);
}

static int
chunk_size(const char *s, size_t n, uint64_t *size)
{
	size_t	 i;
	int	 h;

	*size = 0;
	for (i = 0; i < n && (h = hexval((unsigned char)s[i])) != -1; i++) {
		if (i >= 15)
			return (-1);
		*size = *size << 4 | (uint64_t)h;
	}
	if (i == 0 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'))
		return (-1);
	return (0);
}

/* Consumes chunked body framing; 1 at its end, 0 for more input, -1. */
static int
body_chunked(struct conn *c)
{
	struct req	*r = &c->req;
	const char	*line;
	size_t		 n, llen;

	for (;;) {
		switch (r->cstate) {
		case CH_SIZE:
		case CH_TRAILER:
			if ((n = body_line(c, &line, &llen)) == 0)
				return (buf_pending(&c->in) > MAX_HEADER ?
				    -1 : 0);
			c->in.off += n;
			if (r->cstate == CH_TRAILER) {
				if (llen == 0)
					return (1);
				continue;
			}
			if (chunk_size(line, llen, &r->body_left) == -1)
				return (-1);
			r->cstate = r->body_left > 0 ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			if ((n = buf_pending(&c->in)) == 0)
				return (0);
			if (n > r->body_left)
				n = (size_t)r->body_left;
			body_take(c, n);
			if ((r->body_left -= n) == 0)
				r->cstate = CH_DATA_END;
			break;
		case CH_DATA_END:
			if ((n = body_line(c, &line, &llen)) == 0)
				return (buf_pending(&c->in) > 2 ? -1 : 0);
			if (llen != 0)
				return (-1);
			c->in.off += n;
			r->cstate = CH_SIZE;
			break;
		}
	}
}

/* Consumes request body bytes; 1 when the body is complete, 0, -1. */
static int
body_consume(struct conn *c)
{
	struct req	*r = &c->req;
	size_t		 n;

	switch (r->bmode) {
	case BODY_NONE:
		return (1);
	case BODY_LENGTH:
		n = buf_pending(&c->in);
		if (n > r->body_left)
			n = (size_t)r->body_left;
		body_take(c, n);
		r->body_left -= n;
		return (r->body_left == 0);
	case BODY_CHUNKED:
		return (body_chunked(c));
	}
	return (-1);
}

/*
 * The router: turns the parsed request and its parameters into a struct
 * resp.  Paths under /__ are control endpoints and never misbehave.
 */

/* The last run of digits in the path, leading zeros dropped, or NULL. */
static const char *
path_number(const char *path, size_t plen, size_t *n)
{
	size_t	 end = plen, start;

	while (end > 0 && (path[end - 1] < '0' || path[end - 1] > '9'))
		end--;
	if (end == 0)
		return (NULL);
	for (start = end; start > 0 && path[start - 1] >= '0' &&
	    path[start - 1] <= '9'; start--)
		;
	while (start + 1 < end && path[start] == '0')
		start++;
	if (end - start > MAX_DIGITS)
		return (NULL);
	*n = end - start;
	return (path + start);
}

/* Sets the body to head + nfill * fill + tail, taking ownership of head. */
static void
body_set(struct resp *r, struct buf *head, int fill, uint64_t nfill,
    const char *tail)
{
	r->bhead = head->p;
	r->bhlen = head->len;
	r->fill = fill;
	r->nfill = nfill;
	r->btail = tail;
	r->btlen = strlen(tail);
	r->blen = r->bhlen + r->nfill + r->btlen;
	memset(head, 0, sizeof(*head));
}

/* Makes a body of exactly size bytes from a prefix, padding and a tail. */
static void
body_sized(struct resp *r, struct buf *pre, const char *alt, int fill,
    const char *tail, uint64_t size)
{
	uint64_t	 tl = strlen(tail);

	if (pre->len + tl > size) {
		pre->len = 0;
		if (alt != NULL && strlen(alt) + tl <= size)
			(void)buf_str(pre, alt);
		else
			tail = "";
	}
	tl = strlen(tail);
	if (pre->len > size)		/* OOM while building: pad only */
		pre->len = 0;
	body_set(r, pre, fill, size - pre->len - tl, tail);
}

/* The JSON members describing the request: "status", "path", "n". */
static int
json_members(struct buf *b, int status, const char *path, size_t plen)
{
	const char	*num;
	size_t		 nlen;

	if (status != 200 && buf_printf(b, "\"status\":%d,", status) == -1)
		return (-1);
	if (buf_str(b, "\"path\":\"") == -1 ||
	    buf_json(b, path, plen) == -1 || buf_str(b, "\"") == -1)
		return (-1);
	if ((num = path_number(path, plen, &nlen)) != NULL &&
	    (buf_str(b, ",\"n\":") == -1 || buf_add(b, num, nlen) == -1))
		return (-1);
	return (0);
}

static int
body_echo(struct conn *c, const char *path, size_t plen)
{
	struct req	*q = &c->req;
	struct buf	 b;
	const char	*query;

	memset(&b, 0, sizeof(b));
	query = strchr(q->target, '?');
	if (buf_str(&b, "{\"method\":\"") == -1 ||
	    buf_json(&b, q->method, strlen(q->method)) == -1 ||
	    buf_str(&b, "\",\"path\":\"") == -1 ||
	    buf_json(&b, path, plen) == -1 ||
	    buf_str(&b, "\",\"query\":\"") == -1 ||
	    (query != NULL &&
	    buf_json(&b, query + 1, strlen(query + 1)) == -1) ||
	    buf_str(&b, "\",\"headers\":{") == -1 ||
	    buf_add(&b, q->echo.p, q->echo.len) == -1 ||
	    buf_printf(&b, "},\"body_len\":%llu,\"body\":\"",
	    (unsigned long long)q->body_len) == -1 ||
	    buf_json(&b, q->ebody.p, q->ebody.len) == -1 ||
	    buf_str(&b, "\"}") == -1) {
		buf_free(&b);
		return (-1);
	}
	c->resp.ctype = "application/json";
	body_set(&c->resp, &b, 0, 0, "");
	return (0);
}

/* {"path":…,"n":…} or, with size=N, exactly N bytes of JSON. */
static int
body_json(struct conn *c, struct buf *b, const char *path, size_t plen)
{
	long long	 size = c->par.size;
	int		 rc;

	c->resp.ctype = "application/json";
	rc = buf_str(b, "{") == -1 ||
	    json_members(b, c->resp.status, path, plen) == -1 ||
	    buf_str(b, size < 0 ? "}" : ",\"pad\":\"") == -1;
	if (size >= 0 && size < 10) {
		b->len = 0;		/* too small for a string: digits */
		body_set(&c->resp, b, '1', (uint64_t)size, "");
	} else if (size >= 0)
		body_sized(&c->resp, b, "{\"pad\":\"", 'x', "\"}",
		    (uint64_t)size);
	return (rc);
}

/* "hello N\n", padded with x before the newline for size=N. */
static int
body_text(struct conn *c, struct buf *b, const char *path, size_t plen)
{
	const char	*num;
	size_t		 nlen;
	int		 rc;

	c->resp.ctype = "text/plain; charset=utf-8";
	num = path_number(path, plen, &nlen);
	rc = buf_str(b, "hello") == -1 || (num != NULL &&
	    (buf_str(b, " ") == -1 || buf_add(b, num, nlen) == -1)) ||
	    buf_str(b, c->par.size < 0 ? "\n" : " ") == -1;
	if (c->par.size >= 0)
		body_sized(&c->resp, b, NULL, 'x', "\n",
		    (uint64_t)c->par.size);
	return (rc);
}

/* Bytes that are not UTF-8, padded with 0xff for size=N. */
static int
body_binary(struct conn *c, struct buf *b, const char *path, size_t plen)
{
	static const char	 bin[16] = "\xff\xfe\xfd\xfc\x00\x01\x02\x03"
				    "\x80\x81\xc0\xc1\xf5\xf8\xfe\xff";
	size_t			 n = sizeof(bin);
	int			 rc;

	(void)path;
	(void)plen;
	c->resp.ctype = "application/octet-stream";
	if (c->par.size >= 0 && (uint64_t)c->par.size < n)
		n = (size_t)c->par.size;
	rc = buf_add(b, bin, n) == -1;
	if (c->par.size >= 0)
		body_sized(&c->resp, b, NULL, 0xff, "", (uint64_t)c->par.size);
	return (rc);
}

/* "{not json", padded with { for size=N. */
static int
body_badjson(struct conn *c, struct buf *b, const char *path, size_t plen)
{
	int	 rc;

	(void)path;
	(void)plen;
	c->resp.ctype = "application/json";
	rc = buf_str(b, "{not json") == -1;
	if (c->par.size >= 0)
		body_sized(&c->resp, b, NULL, '{', "", (uint64_t)c->par.size);
	return (rc);
}

/* JSON with a string that is not UTF-8 (ISO 8859-1 bytes). */
static int
body_json_latin1(struct conn *c, struct buf *b, const char *path,
    size_t plen)
{
	(void)path;
	(void)plen;
	c->resp.ctype = "application/json";
	return (buf_str(b, "{\"name\":\"caf\xe9 cr\xe8me\",\"ok\":true}"));
}

/* JSON-looking text with a raw NUL byte inside a string: not JSON. */
static int
body_json_nul(struct conn *c, struct buf *b, const char *path, size_t plen)
{
	static const char	 t[] = "{\"s\":\"a\0b\",\"ok\":true}";

	(void)path;
	(void)plen;
	c->resp.ctype = "application/json";
	return (buf_add(b, t, sizeof(t) - 1));
}

/* Valid JSON whose strings hold escapes: NUL, a control, lone surrogates. */
static int
body_json_escapes(struct conn *c, struct buf *b, const char *path,
    size_t plen)
{
	(void)path;
	(void)plen;
	c->resp.ctype = "application/json";
	return (buf_str(b, "{\"nul\":\"a\\u0000b\",\"ctl\":\"\\u001f\","
	    "\"lone\":\"\\ud800\",\"low\":\"\\udc00x\",\"e\":\"\\u00e9\","
	    "\"pair\":\"\\ud83d\\ude00\"}"));
}

/*
 * gzip=N: a gzip stream that inflates to {"pad":"xxx…"} of at least N
 * bytes (269 + 2064 k), at about 1:159.  Built by hand, so upstream needs
 * no zlib: a stored block holds {"pad":"x, then one fixed-Huffman block
 * of length-258, distance-1 matches repeats the x (8 matches are exactly
 * 13 bytes, the repeated pattern), then "} and the end of block.  The
 * trailer's CRC-32 over the whole run of x is computed in O(log N) by
 * raising the CRC's one-byte step, an affine map, to the power N.
 */
struct bitw {
	unsigned char	 b[32];
	size_t		 len;
	uint32_t	 acc;
	int		 nb;
};

static void
bitw_put(struct bitw *w, uint32_t v, int n)	/* LSB first */
{
	w->acc |= v << w->nb;
	w->nb += n;
	while (w->nb >= 8) {
		w->b[w->len++] = (unsigned char)w->acc;
		w->acc >>= 8;
		w->nb -= 8;
	}
}

static void
bitw_huff(struct bitw *w, uint32_t code, int n)	/* MSB of the code first */
{
	uint32_t	 r = 0;
	int		 i;

	for (i = 0; i < n; i++)
		r |= ((code >> i) & 1) << (n - 1 - i);
	bitw_put(w, r, n);
}

static void
bitw_flush(struct bitw *w)
{
	if (w->nb > 0)
		bitw_put(w, 0, 8 - w->nb);
}

#define GZ_LEN258	0xc5, 8		/* literal/length code 285 */
#define GZ_DIST1	0x00, 5		/* distance code 0 */

static uint32_t	crc_tab[256];

/* The affine map s -> M s ^ k over GF(2)^32; M as its 32 columns. */
struct affine {
	uint32_t	 col[32];
	uint32_t	 k;
};

static uint32_t
affine_apply(const struct affine *a, uint32_t v)
{
	uint32_t	 r = 0;
	int		 i;

	for (i = 0; i < 32; i++)
		if (v & (1U << i))
			r ^= a->col[i];
	return (r);
}

static void
affine_compose(struct affine *out, const struct affine *a,
    const struct affine *b)		/* out = a after b */
{
	struct affine	 t;
	int		 i;

	for (i = 0; i < 32; i++)
		t.col[i] = affine_apply(a, b->col[i]);
	t.k = affine_apply(a, b->k) ^ a->k;
	*out = t;
}

/* The CRC-32 state after n more bytes of value byte. */
static uint32_t
crc_run(uint32_t s, unsigned char byte, uint64_t n)
{
	struct affine	 base, res;
	int		 i;

	for (i = 0; i < 32; i++) {
		base.col[i] = (1U << i) & 0xff ? crc_tab[1U << i] : 0;
		base.col[i] ^= (1U << i) >> 8;
		res.col[i] = 1U << i;
	}
	base.k = crc_tab[byte];
	res.k = 0;
	for (; n > 0; n >>= 1) {
		if (n & 1)
			affine_compose(&res, &base, &res);
		affine_compose(&base, &base, &base);
	}
	return (affine_apply(&res, s) ^ res.k);
}

static uint32_t
crc_add(uint32_t s, const char *p, size_t n)
{
	while (n-- > 0)
		s = crc_tab[(s ^ (unsigned char)*p++) & 0xff] ^ (s >> 8);
	return (s);
}

static void
crc_init(void)
{
	uint32_t	 c;
	int		 i, j;

	for (i = 0; i < 256; i++) {
		for (c = (uint32_t)i, j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_tab[i] = c;
	}
}

static void
le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static int
body_gzip(struct conn *c, uint64_t want)
{
	static const char	 pre[] = "{\"pad\":\"x", post[] = "\"}";
	struct resp		*r = &c->resp;
	struct bitw		 w;
	struct buf		 head;
	uint64_t		 groups, nx;
	uint32_t		 crc;
	int			 i;

	groups = want > 269 ? (want - 269 + 2063) / 2064 : 0;
	nx = 1 + 258 + 2064 * groups;		/* the x in the output */
	memset(&head, 0, sizeof(head));
	memset(&w, 0, sizeof(w));
	/* gzip header; a stored block, not final, holding pre. */
	if (buf_add(&head, "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10) == -1)
		return (-1);
	bitw_put(&w, 0, 3);
	bitw_flush(&w);
	bitw_put(&w, sizeof(pre) - 1, 16);
	bitw_put(&w, (uint32_t)~(sizeof(pre) - 1) & 0xffff, 16);
	/* The final fixed-Huffman block: 3 header bits and a match = 16. */
	bitw_put(&w, 1, 1);
	bitw_put(&w, 1, 2);
	bitw_huff(&w, GZ_LEN258);
	bitw_huff(&w, GZ_DIST1);
	if (buf_add(&head, w.b, 5) == -1 ||
	    buf_add(&head, pre, sizeof(pre) - 1) == -1 ||
	    buf_add(&head, w.b + 5, w.len - 5) == -1) {
		buf_free(&head);
		return (-1);
	}
	/* The pattern: 8 matches, 104 bits. */
	memset(&w, 0, sizeof(w));
	for (i = 0; i < 8; i++) {
		bitw_huff(&w, GZ_LEN258);
		bitw_huff(&w, GZ_DIST1);
	}
	memcpy(r->repbuf, w.b, w.len);
	r->rep = r->repbuf;
	r->replen = w.len;
	/* post, end of block, then CRC-32 and ISIZE. */
	memset(&w, 0, sizeof(w));
	bitw_huff(&w, 0x30 + '"', 8);
	bitw_huff(&w, 0x30 + '}', 8);
	bitw_huff(&w, 0, 7);
	bitw_flush(&w);
	crc = crc_add(0xffffffffU, pre, sizeof(pre) - 2);
	crc = crc_run(crc, 'x', nx);
	crc = crc_add(crc, post, sizeof(post) - 1);
	le32(w.b + w.len, ~crc);
	le32(w.b + w.len + 4, (uint32_t)(nx + sizeof(pre) - 2 +
	    sizeof(post) - 1));
	if ((r->btail_own = malloc(w.len + 8)) == NULL) {
		buf_free(&head);
		return (-1);
	}
	memcpy(r->btail_own, w.b, w.len + 8);
	body_set(r, &head, 0, 13 * groups, "");
	r->btail = r->btail_own;
	r->btlen = w.len + 8;
	r->blen = r->bhlen + r->nfill + r->btlen;
	r->gzip = 1;
	r->ctype = "application/json";
	return (0);
}

/*
 * endless_headers=1: header lines forever, the head never ends;
 * endless_headers=2: one header line that never ends.
 */
static void
body_endless(struct resp *r, int mode)
{
	static const char	 line[] = "X-Endless: "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
	struct buf		 head;

	memset(&head, 0, sizeof(head));
	free(r->bhead);
	r->bhead = NULL;
	if (mode == 2)
		(void)buf_str(&head, "X-Endless: ");
	body_set(r, &head, 'x', 1ULL << 60, "");
	if (mode == 1) {
		memcpy(r->repbuf, line, sizeof(line) - 1);
		r->rep = r->repbuf;
		r->replen = sizeof(line) - 1;
	}
	r->endless = 1;
	r->chunked = 0;
}

/* Chooses the body by echo=, type= and size=; -1 on OOM. */
static int
body_choose(struct conn *c, const char *path, size_t plen)
{
	static int	(*const make[])(struct conn *, struct buf *,
			    const char *, size_t) = {
		[BT_JSON] = body_json,
		[BT_TEXT] = body_text,
		[BT_BINARY] = body_binary,
		[BT_BADJSON] = body_badjson,
		[BT_JSON_LATIN1] = body_json_latin1,
		[BT_JSON_NUL] = body_json_nul,
		[BT_JSON_ESCAPES] = body_json_escapes,
	};
	struct buf	 b;
	int		 rc;

	if (c->par.echo == 1)
		return (body_echo(c, path, plen));
	memset(&b, 0, sizeof(b));
	rc = make[c->par.type](c, &b, path, plen);
	if (c->par.size < 0)
		body_set(&c->resp, &b, 0, 0, "");
	buf_free(&b);
	if (rc == 0 && c->par.gzip >= 0) {
		free(c->resp.bhead);
		c->resp.bhead = NULL;
		rc = body_gzip(c, (uint64_t)c->par.gzip);
	}
	return (rc ? -1 : 0);
}

/* A conditional GET matching etag= or lastmod= gets a 304. */
static int
not_modified(const struct conn *c)
{
	const struct params	*p = &c->par;
	const char		*inm = c->req.inm, *hit;
	struct tm		 tm;
	time_t			 t;

	if (p->etag != NULL && inm[0] != '\0') {
		if (strcmp(inm, "*") == 0)
			return (1);
		for (hit = inm; (hit = strchr(hit, '"')) != NULL; hit++)
			if (strncmp(hit + 1, p->etag, p->etaglen) == 0 &&
			    hit[1 + p->etaglen] == '"')
				return (1);
	}
	if (p->lastmod >= 0 && c->req.ims[0] != '\0') {
		memset(&tm, 0, sizeof(tm));
		if (strptime(c->req.ims, "%a, %d %b %Y %H:%M:%S GMT",
		    &tm) != NULL && (t = timegm(&tm)) != (time_t)-1 &&
		    t >= (time_t)p->lastmod)
			return (1);
	}
	return (0);
}

static void
resp_init(struct resp *r)
{
	free(r->bhead);
	free(r->btail_own);
	memset(r, 0, sizeof(*r));
	r->retry_after = r->retry_after_date = r->lastmod = -1;
	r->btail = "";
	r->send_body = r->send_cl = 1;
}

/* A small JSON response built from a ready body (control endpoints). */
static int
resp_simple(struct conn *c, int status, struct buf *body)
{
	struct resp	*r = &c->resp;

	resp_init(r);
	r->status = status;
	r->ctype = "application/json";
	r->close = !c->req.keepalive;
	body_set(r, body, 0, 0, "");
	return (0);
}

/*
 * Arrival times: ms since the upstream started, per key (ctab_log) and
 * for every request in a ring that /__arrivals filters by prefix.
 */

static double
now_ms(const struct server *s)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)(ts.tv_sec - s->start.tv_sec) * 1000.0 +
	    (double)(ts.tv_nsec - s->start.tv_nsec) / 1e6);
}

static void
aring_add(struct aring *r, const char *key, double t)
{
	if (r->max == 0 || (r->a == NULL &&
	    (r->a = calloc(r->max, sizeof(*r->a))) == NULL))
		return;
	if (r->n == r->max)
		r->overwritten++;
	else
		r->n++;
	r->a[r->head].key = key;
	r->a[r->head].t = t;
	r->head = (r->head + 1) % r->max;
}

/* Forgets every arrival; the ring's keys die with the ctab's. */
static void
aring_clear(struct aring *r)
{
	r->head = r->n = 0;
	r->overwritten = 0;
}

/*
 * Control endpoints: GET /__NAME?QUERY, never counted.  Each handler
 * writes a JSON body into b and returns the status.  The value of key=
 * and prefix= is the rest of the query, %-decoded, so a target with its
 * own query needs no escaping.
 */

/* The %-decoded rest of the query after name= (malloc'd), or NULL. */
static char *
query_rest(const char *q, const char *name, size_t *len)
{
	const char	*v;
	size_t		 n = strlen(name);
	char		*dec;

	if (q == NULL)
		return (NULL);
	for (v = q + 1;; v++) {
		if (strncmp(v, name, n) == 0 && v[n] == '=')
			break;
		if ((v = strchr(v, '&')) == NULL)
			return (NULL);
	}
	v += n + 1;
	if ((dec = malloc(strlen(v) + 1)) == NULL)
		return (NULL);
	*len = pct_decode(v, strlen(v), dec);
	dec[*len] = '\0';
	return (dec);
}

static int
ctl_stats(struct conn *c, const char *q, struct buf *b)
{
	struct server	*s = c->srv;
	struct stats	*st = &s->st;

	(void)q;
	(void)buf_printf(b, "{\"requests\":%llu,\"connections\":%llu,"
	    "\"max_concurrent\":%ld,\"open\":%ld,\"inflight\":%ld,"
	    "\"max_open\":%ld,\"keys\":%zu,\"untracked\":%llu,"
	    "\"bad\":%llu,\"resets\":%llu,\"hangs\":%llu,\"arrivals\":%zu}",
	    st->requests, st->connections, st->max_inflight, st->open,
	    st->inflight, st->max_open, s->keys.used, s->keys.untracked,
	    st->bad, st->resets, st->hangs, s->arrivals.n);
	return (200);
}

static int
ctl_reset(struct conn *c, const char *q, struct buf *b)
{
	struct server	*s = c->srv;
	struct stats	*st = &s->st;

	(void)q;
	aring_clear(&s->arrivals);
	ctab_clear(&s->keys);
	memset(st, 0, offsetof(struct stats, open));
	st->max_open = st->open;
	st->max_inflight = st->inflight;
	(void)buf_str(b, "{\"reset\":true}");
	return (200);
}

static int
ctl_count(struct conn *c, const char *q, struct buf *b)
{
	char	*key;
	size_t	 klen;

	if ((key = query_rest(q, "key", &klen)) == NULL) {
		(void)buf_str(b, "{\"error\":\"usage: /__count?key=TARGET\"}");
		return (400);
	}
	(void)buf_str(b, "{\"key\":\"");
	(void)buf_json(b, key, klen);
	(void)buf_printf(b, "\",\"count\":%llu}",
	    ctab_get(&c->srv->keys, key, klen));
	free(key);
	return (200);
}

/* The arrival times of one key, oldest first (the first LOG_PER_KEY). */
static int
ctl_log(struct conn *c, const char *q, struct buf *b)
{
	const struct kent	*e;
	char			*key;
	size_t			 klen;
	uint32_t		 i;

	if ((key = query_rest(q, "key", &klen)) == NULL) {
		(void)buf_str(b, "{\"error\":\"usage: /__log?key=TARGET\"}");
		return (400);
	}
	e = ctab_find(&c->srv->keys, key, klen);
	(void)buf_str(b, "{\"key\":\"");
	(void)buf_json(b, key, klen);
	(void)buf_printf(b, "\",\"count\":%llu,\"t_ms\":[",
	    e != NULL ? e->count : 0);
	for (i = 0; e != NULL && i < e->nlog; i++)
		(void)buf_printf(b, "%s%.3f", i > 0 ? "," : "",
		    i == 0 ? e->t0 : e->tv[i - 1]);
	(void)buf_str(b, "]}");
	free(key);
	return (200);
}

/* Arrival times of the requests whose target starts with prefix=. */
static int
ctl_arrivals(struct conn *c, const char *q, struct buf *b)
{
	const struct aring	*r = &c->srv->arrivals;
	const struct arrival	*a;
	char			*pre;
	size_t			 plen = 0, i, n = 0;

	if ((pre = query_rest(q, "prefix", &plen)) == NULL)
		pre = strdup("");
	(void)buf_str(b, "{\"prefix\":\"");
	if (pre != NULL)
		(void)buf_json(b, pre, plen);
	(void)buf_str(b, "\",\"t_ms\":[");
	for (i = 0; pre != NULL && i < r->n; i++) {
		a = &r->a[(r->head + r->max - r->n + i) % r->max];
		if (plen > 0 && (a->key == NULL ||
		    strncmp(a->key, pre, plen) != 0))
			continue;
		(void)buf_printf(b, "%s%.3f", n++ > 0 ? "," : "", a->t);
	}
	(void)buf_printf(b, "],\"count\":%zu,\"overwritten\":%llu}", n,
	    r->overwritten);
	free(pre);
	return (200);
}

/* Request counts of every key that starts with prefix=, as one object. */
static int
ctl_keys(struct conn *c, const char *q, struct buf *b)
{
	const struct ctab	*t = &c->srv->keys;
	const struct kent	*e;
	char			*pre;
	size_t			 plen = 0, i, n = 0;

	if ((pre = query_rest(q, "prefix", &plen)) == NULL)
		pre = strdup("");
	(void)buf_str(b, "{");
	for (i = 0; pre != NULL && i < t->size; i++) {
		e = &t->tab[i];
		if (e->key == NULL || e->klen < plen ||
		    strncmp(e->key, pre, plen) != 0)
			continue;
		(void)buf_str(b, n++ > 0 ? ",\"" : "\"");
		(void)buf_json(b, e->key, e->klen);
		(void)buf_printf(b, "\":%llu", e->count);
	}
	(void)buf_str(b, "}");
	free(pre);
	return (200);
}

static const struct ctlep {
	const char	*path;
	int		(*fn)(struct conn *, const char *, struct buf *);
} ctleps[] = {
	{ "/__stats",		ctl_stats },
	{ "/__reset",		ctl_reset },
	{ "/__count",		ctl_count },
	{ "/__log",		ctl_log },
	{ "/__arrivals",	ctl_arrivals },
	{ "/__keys",		ctl_keys },
};

static void
route_control(struct conn *c, const char *path, size_t plen, const char *q)
{
	struct buf	 b;
	size_t		 i;
	int		 status = 404;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < sizeof(ctleps) / sizeof(ctleps[0]); i++) {
		if (strlen(ctleps[i].path) == plen &&
		    memcmp(ctleps[i].path, path, plen) == 0) {
			status = ctleps[i].fn(c, q, &b);
			break;
		}
	}
	if (status == 404)
		(void)buf_str(&b, "{\"error\":\"unknown control endpoint "
		    "(/__stats, /__reset, /__count?key=TARGET, "
		    "/__log?key=TARGET, /__arrivals?prefix=PATH, "
		    "/__keys?prefix=PATH)\"}");
	(void)resp_simple(c, status, &b);
}

/* A 400 naming the first parameter with a bad value. */
static void
resp_bad_param(struct conn *c)
{
	struct resp	*r = &c->resp;
	struct buf	 b;

	memset(&b, 0, sizeof(b));
	(void)buf_printf(&b, "{\"error\":\"bad value for %s\"}", c->par.bad);
	r->status = 400;
	r->ctype = "application/json";
	body_set(r, &b, 0, 0, "");
}

/*
 * Without fail= every parameter applies to every request.  With fail=K
 * the first K attempts of this exact target answer failstatus (503) and
 * carry the faults (faildelay, hang, reset, reset_mid, drip,
 * retry_after*); later attempts answer status (200).  delay= applies to
 * every attempt.  Returns whether this attempt fails.
 */
static int
resp_faults(struct conn *c, unsigned long long attempt)
{
	const struct params	*p = &c->par;
	struct resp		*r = &c->resp;
	int			 failing;

	failing = p->fail >= 0 && attempt != 0 &&
	    attempt <= (unsigned long long)p->fail;
	if (failing)
		r->status = p->failstatus >= 0 ? (int)p->failstatus : 503;
	else
		r->status = p->status >= 0 ? (int)p->status : 200;
	r->delay = (p->delay > 0 ? p->delay : 0) / 1000.0;
	if (failing && p->faildelay > 0)
		r->delay += p->faildelay / 1000.0;
	if (p->fail < 0 || failing) {
		r->reset = p->reset == 1;
		r->reset_mid = p->reset_mid == 1;
		r->hang = p->hang == 1;
		r->drip = (p->drip > 0 ? p->drip : 0) / 1000.0;
		r->retry_after = p->retry_after;
		r->retry_after_date = p->retry_after_date;
	}
	return (failing);
}

/*
 * redirect=N (N > 0): a 302 (or status=3xx) to the same path with
 * redirect=N-1 and no other parameter; redirect=0 answers normally.  A
 * chain of N hops, or with a large N a loop as far as the client goes.
 */
static void
redirect_set(struct conn *c)
{
	struct resp	*r = &c->resp;

	r->redirect = r->status < 400 ? c->par.redirect : -1;
	if (r->redirect > 0 && r->status < 300)
		r->status = 302;
}

static int
redirect_header(const struct conn *c, struct buf *o)
{
	const char	*t = c->req.target;

	/* A request that never parsed (a 400) has no target. */
	if (c->resp.redirect <= 0 || t == NULL)
		return (0);
	return (buf_printf(o, "Location: %.*s?redirect=%lld\r\n",
	    (int)strcspn(t, "?"), t, c->resp.redirect - 1));
}

/* An ordinary request: counted, then answered as its parameters say. */
static void
route_fault(struct conn *c, const char *path, size_t plen)
{
	struct server	*s = c->srv;
	struct params	*p = &c->par;
	struct resp	*r = &c->resp;
	unsigned long long attempt;
	const char	*key;
	double		 t = now_ms(s);

	s->st.requests++;
	c->inflight = 1;
	if (++s->st.inflight > s->st.max_inflight)
		s->st.max_inflight = s->st.inflight;
	attempt = ctab_hit(&s->keys, c->req.target, t, &key);
	aring_add(&s->arrivals, key, t);
	resp_init(r);
	r->close = !c->req.keepalive || p->close == 1;
	if (p->bad != NULL) {
		resp_bad_param(c);
		return;
	}
	if (!resp_faults(c, attempt)) {
		r->lastmod = p->lastmod;
		if (not_modified(c))
			r->status = 304;
	}
	r->etag = p->etag;
	r->etaglen = p->etaglen;
	r->loc = p->loc;
	r->loclen = p->loclen;
	redirect_set(c);
	if (p->loop == 1) {		/* a redirect to itself */
		r->status = 302;
		r->loc = c->req.target;
		r->loclen = strlen(c->req.target);
	}
	r->chunked = p->chunked == 1 && c->req.minor >= 1;
	if (body_choose(c, path, plen) == -1)
		r->reset = 1;		/* out of memory: drop the request */
	if (p->endless_headers > 0)
		body_endless(r, (int)p->endless_headers);
	if (r->status == 204 || r->status == 304)
		r->send_body = r->send_cl = r->chunked = 0;
	if (strcmp(c->req.method, "HEAD") == 0)
		r->send_body = 0;
	logmsg(s, 1, "%s %s -> %d (attempt %llu)%s%s%s", c->req.method,
	    c->req.target, r->status, attempt, r->reset ? " reset" : "",
	    r->hang ? " hang" : "", r->reset_mid ? " reset_mid" : "");
}

/* Routes the request whose head and body have been read. */
static void
route(struct conn *c)
{
	const char	*t = c->req.target, *q;
	size_t		 plen;

	q = strchr(t, '?');
	plen = q != NULL ? (size_t)(q - t) : strlen(t);
	if (plen >= 3 && memcmp(t, "/__", 3) == 0)
		route_control(c, t, plen, q);
	else
		route_fault(c, t, plen);
}

/*
 * The response writer: headers, then the body generated slice by slice
 * as the socket drains (chunk-framed for chunked=1), or byte by byte on a
 * timer for drip=.
 */

/* Bytes [off, off + n) of an endless repetition of rep into dst. */
static void
pattern_gen(const char *rep, size_t replen, uint64_t off, char *dst,
    size_t n)
{
	size_t	 i = (size_t)(off % replen), k;

	while (n > 0) {
		k = replen - i < n ? replen - i : n;
		memcpy(dst, rep + i, k);
		dst += k;
		n -= k;
		i = 0;
	}
}

/* Copies body bytes [off, off + n) of r into dst. */
static void
body_gen(const struct resp *r, char *dst, uint64_t off, size_t n)
{
	size_t	 k;

	if (off < r->bhlen) {
		k = r->bhlen - (size_t)off;
		k = k < n ? k : n;
		memcpy(dst, r->bhead + off, k);
		dst += k;
		off += k;
		n -= k;
	}
	if (n > 0 && off < r->bhlen + r->nfill) {
		k = r->bhlen + r->nfill - off < n ?
		    (size_t)(r->bhlen + r->nfill - off) : n;
		if (r->rep == NULL)
			memset(dst, r->fill, k);
		else
			pattern_gen(r->rep, r->replen, off - r->bhlen, dst, k);
		dst += k;
		off += k;
		n -= k;
	}
	if (n > 0)
		memcpy(dst, r->btail + (off - r->bhlen - r->nfill), n);
}

/* Queues up to max body bytes (one chunk if chunked); -1 on OOM. */
static int
body_emit(struct conn *c, size_t max)
{
	struct resp	*r = &c->resp;
	size_t		 n = 0;

	if (r->send_body && r->bsent < r->bend) {
		n = r->bend - r->bsent < max ? (size_t)(r->bend - r->bsent) :
		    max;
		if (buf_reserve(&c->out, n + 32) == -1)
			return (-1);
		if (r->chunked)
			c->out.len += (size_t)sprintf(c->out.p + c->out.len,
			    "%zx\r\n", n);
		body_gen(r, c->out.p + c->out.len, r->bsent, n);
		c->out.len += n;
		r->bsent += n;
		if (r->chunked && buf_add(&c->out, "\r\n", 2) == -1)
			return (-1);
	}
	if (r->chunked && r->send_body && !r->term && !r->reset_mid &&
	    r->bsent == r->blen) {
		if (buf_add(&c->out, "0\r\n\r\n", 5) == -1)
			return (-1);
		r->term = 1;
	}
	return (0);
}

/* One write(2) of queued output: bytes written, 0 on EAGAIN, -1. */
static ssize_t
out_write(struct conn *c)
{
	ssize_t	 n;

	for (;;) {
		n = write(c->fd, c->out.p + c->out.off, buf_pending(&c->out));
		if (n >= 0) {
			c->out.off += (size_t)n;
			if (c->out.off == c->out.len)
				c->out.off = c->out.len = 0;
			return (n);
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (0);
		if (errno != EINTR)
			return (-1);
	}
}

static int
out_flush(struct conn *c)
{
	ssize_t	 n;

	while (buf_pending(&c->out) > 0)
		if ((n = out_write(c)) <= 0)
			return (n == 0 ? 0 : -1);
	return (0);
}

/* Queues the status line and headers of c->resp. */
static int
resp_headers(struct conn *c)
{
	struct resp	*r = &c->resp;
	struct buf	*o = &c->out;
	char		 date[64], *loc;
	size_t		 n, i;
	int		 rc;

	rc = buf_printf(o, "HTTP/1.1 %d %s\r\nServer: fetchd-upstream\r\n",
	    r->status, reason(r->status));
	if (r->send_cl && r->ctype != NULL)
		rc |= buf_printf(o, "Content-Type: %s\r\n", r->ctype);
	if (r->gzip && r->send_cl)
		rc |= buf_str(o, "Content-Encoding: gzip\r\n");
	if (r->endless)
		;			/* no framing: the head never ends */
	else if (r->chunked)
		rc |= buf_str(o, "Transfer-Encoding: chunked\r\n");
	else if (r->send_cl)
		rc |= buf_printf(o, "Content-Length: %llu\r\n",
		    (unsigned long long)r->blen);
	if (r->retry_after >= 0)
		rc |= buf_printf(o, "Retry-After: %lld\r\n", r->retry_after);
	else if (r->retry_after_date >= 0) {
		http_date(time(NULL) + (time_t)r->retry_after_date, date,
		    sizeof(date));
		rc |= buf_printf(o, "Retry-After: %s\r\n", date);
	}
	if (r->etag != NULL)
		rc |= buf_printf(o, "ETag: \"%.*s\"\r\n", (int)r->etaglen,
		    r->etag);
	if (r->lastmod >= 0) {
		http_date((time_t)r->lastmod, date, sizeof(date));
		rc |= buf_printf(o, "Last-Modified: %s\r\n", date);
	}
	if (r->loc != NULL && (loc = malloc(r->loclen)) != NULL) {
		n = pct_decode(r->loc, r->loclen, loc);
		rc |= buf_str(o, "Location: ");
		for (i = 0; i < n; i++)		/* no header injection */
			if ((unsigned char)loc[i] >= 0x20 && loc[i] != 0x7f)
				rc |= buf_add(o, &loc[i], 1);
		rc |= buf_str(o, "\r\n");
		free(loc);
	}
	rc |= redirect_header(c, o);
	if (r->close)
		rc |= buf_str(o, "Connection: close\r\n");
	else if (c->req.minor == 0)
		rc |= buf_str(o, "Connection: keep-alive\r\n");
	if (!r->endless)
		rc |= buf_str(o, "\r\n");
	return (rc != 0 ? -1 : 0);
}

/* Starts the response (after any delay); -1 if the connection is gone. */
static int
resp_begin(struct conn *c)
{
	struct resp	*r = &c->resp;

	if (r->reset) {
		c->srv->st.resets++;
		conn_rst(c);
		return (-1);
	}
	if (r->hang) {
		c->srv->st.hangs++;
		c->state = CS_HANG;
		return (0);
	}
	if (resp_headers(c) == -1) {
		conn_rst(c);
		return (-1);
	}
	r->bend = r->reset_mid ? r->blen / 2 : r->blen;
	if (!r->send_body)
		r->bend = 0;
	if (r->drip > 0 && r->bend > 0) {
		c->state = CS_DRIP;
		if (out_flush(c) == -1) {
			conn_close(c);
			return (-1);
		}
		conn_timer(c, r->drip);
		return (0);
	}
	c->state = CS_SEND;
	return (0);
}

/* Arms delay= or starts the response now. */
static int
resp_arm(struct conn *c)
{
	if (c->resp.delay > 0) {
		c->state = CS_WAIT;
		conn_timer(c, c->resp.delay);
		return (0);
	}
	return (resp_begin(c));
}

/* One drip= tick: one more body byte; SEND finishes the response. */
static int
drip_tick(struct conn *c)
{
	struct resp	*r = &c->resp;

	if (body_emit(c, 1) == -1 || out_flush(c) == -1) {
		conn_close(c);
		return (-1);
	}
	if (r->bsent >= r->bend) {
		c->state = CS_SEND;
		return (0);
	}
	conn_timer(c, r->drip);
	return (0);
}

/*
 * Writes the response as the socket drains.  Returns 1 when complete, 0
 * to wait for the socket (or the reset_mid timer), -1 if closed.
 */
static int
send_more(struct conn *c)
{
	size_t	 sent = 0;
	ssize_t	 n;

	for (;;) {
		if (buf_pending(&c->out) < OUT_SLICE / 2 &&
		    body_emit(c, OUT_SLICE) == -1) {
			conn_rst(c);
			return (-1);
		}
		if (buf_pending(&c->out) == 0) {
			if (!c->resp.reset_mid)
				return (1);
			c->state = CS_RSTWAIT;
			conn_timer(c, RST_PAUSE);
			return (0);
		}
		if (sent >= WRITE_BUDGET)
			return (0);
		if ((n = out_write(c)) == -1) {
			conn_close(c);
			return (-1);
		}
		if (n == 0)
			return (0);
		sent += (size_t)n;
	}
}

/*
 * Connection lifecycle.  conn_run drives the state machine after every
 * event; conn_io then arms the read and write watchers it needs.
 */

static void
conn_io(struct conn *c)
{
	struct ev_loop	*loop = c->srv->loop;
	int		 want_r, want_w;

	if (buf_pending(&c->in) == 0)
		buf_free(&c->in);
	if (buf_pending(&c->out) == 0 && c->out.cap > OUT_KEEP)
		buf_free(&c->out);
	want_r = !c->peer_eof && (c->state == CS_HANG ||
	    c->state == CS_DRAIN || c->state == CS_RSTWAIT ||
	    buf_pending(&c->in) < IN_CAP);
	want_w = buf_pending(&c->out) > 0 || c->state == CS_SEND;
	if (want_r && !ev_is_active(&c->rio))
		ev_io_start(loop, &c->rio);
	else if (!want_r && ev_is_active(&c->rio))
		ev_io_stop(loop, &c->rio);
	if (want_w && !ev_is_active(&c->wio))
		ev_io_start(loop, &c->wio);
	else if (!want_w && ev_is_active(&c->wio))
		ev_io_stop(loop, &c->wio);
}

/* The request is answered: keep the connection for the next one or not. */
static int
resp_finish(struct conn *c)
{
	struct server	*s = c->srv;

	if (c->inflight) {
		c->inflight = 0;
		s->st.inflight--;
	}
	if (c->peer_eof) {
		conn_close(c);
		return (-1);
	}
	if (c->resp.close) {
		c->state = CS_DRAIN;
		(void)shutdown(c->fd, SHUT_WR);
		buf_free(&c->in);
		conn_timer(c, DRAIN_TIMEOUT);
		return (0);
	}
	resp_init(&c->resp);
	req_free(&c->req);
	params_init(&c->par);
	c->state = CS_HEAD;
	return (0);
}

/* Answers a request that cannot be parsed, then closes. */
static void
conn_error(struct conn *c, int status)
{
	struct buf	 b;

	c->srv->st.bad++;
	memset(&b, 0, sizeof(b));
	(void)buf_printf(&b, "{\"error\":\"%s\"}", reason(status));
	c->req.keepalive = 0;
	(void)resp_simple(c, status, &b);
	logmsg(c->srv, 1, "bad request -> %d", status);
}

static int
conn_run(struct conn *c)
{
	int	 rc;

	for (;;) {
		switch (c->state) {
		case CS_HEAD:
			if ((rc = req_parse(c)) == 0)
				goto input;
			if (rc != 1) {
				conn_error(c, rc);
				if (resp_begin(c) == -1)
					return (-1);
				break;
			}
			c->state = CS_BODY;
			if (c->req.expect100 && c->req.bmode != BODY_NONE &&
			    c->req.minor >= 1 &&
			    (buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n")
			    == -1 || out_flush(c) == -1)) {
				conn_close(c);
				return (-1);
			}
			break;
		case CS_BODY:
			if ((rc = body_consume(c)) == 0)
				goto input;
			if (rc == -1)
				conn_error(c, 400);
			else
				route(c);
			if (resp_arm(c) == -1)
				return (-1);
			break;
		case CS_SEND:
			if ((rc = send_more(c)) == -1)
				return (-1);
			if (rc == 0) {
				conn_io(c);
				return (0);
			}
			if (resp_finish(c) == -1)
				return (-1);
			break;
		default:
			conn_io(c);
			return (0);
		}
	}
 input:
	if (c->peer_eof) {		/* no complete request will come */
		conn_close(c);
		return (-1);
	}
	conn_io(c);
	return (0);
}

/* Reads input; in HANG, DRAIN and RSTWAIT it is only watched for EOF. */
static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = w->data;
	char		 junk[4096];
	ssize_t		 n;

	(void)loop;
	(void)revents;
	if (c->state == CS_HANG || c->state == CS_DRAIN ||
	    c->state == CS_RSTWAIT) {
		n = read(c->fd, junk, sizeof(junk));
		if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EINTR)))
			return;
		conn_close(c);
		return;
	}
	if (c->in.p == NULL) {
		if ((c->in.p = malloc(IN_CAP)) == NULL) {
			conn_rst(c);
			return;
		}
		c->in.cap = IN_CAP;
	} else if (c->in.off > 0) {
		memmove(c->in.p, c->in.p + c->in.off, buf_pending(&c->in));
		c->in.len -= c->in.off;
		c->in.off = 0;
	}
	n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) {
		c->peer_eof = 1;
		/* As nginx's 499: a client that leaves drops its request. */
		if (c->state == CS_WAIT || c->state == CS_DRIP ||
		    c->state == CS_SEND) {
			conn_close(c);
			return;
		}
	}
	c->in.len += (size_t)n;
	(void)conn_run(c);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = w->data;

	(void)loop;
	(void)revents;
	if (c->state != CS_SEND) {
		if (out_flush(c) == -1) {
			conn_close(c);
			return;
		}
		conn_io(c);
		return;
	}
	(void)conn_run(c);
}

/*
 * reset_mid: a RST discards whatever the kernel has not sent yet, so it
 * waits until the client has been sent (and acknowledged) the part.
 */
static int
rst_ready(struct conn *c)
{
	int	 queued;

	if (++c->resp.rst_polls >= RST_POLLS ||
	    ioctl(c->fd, SIOCOUTQ, &queued) == -1)
		return (1);
	return (queued == 0);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn	*c = w->data;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case CS_WAIT:
		if (resp_begin(c) == -1)
			return;
		break;
	case CS_DRIP:
		if (drip_tick(c) == -1)
			return;
		break;
	case CS_RSTWAIT:
		if (rst_ready(c))
			conn_rst(c);
		else
			conn_timer(c, RST_PAUSE);
		return;
	case CS_DRAIN:
		conn_close(c);
		return;
	default:
		break;
	}
	(void)conn_run(c);
}

static struct conn *
conn_new(struct server *s, int fd)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->srv = s;
	c->fd = fd;
	c->state = CS_HEAD;
	params_init(&c->par);
	resp_init(&c->resp);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_init(&c->tmr, conn_timer_cb);
	c->rio.data = c->wio.data = c->tmr.data = c;
	if ((c->next = s->conns) != NULL)
		c->next->prev = c;
	s->conns = c;
	s->st.connections++;
	if (++s->st.open > s->st.max_open)
		s->st.max_open = s->st.open;
	ev_io_start(s->loop, &c->rio);
	return (c);
}

static void
conn_close(struct conn *c)
{
	struct server	*s = c->srv;

	ev_io_stop(s->loop, &c->rio);
	ev_io_stop(s->loop, &c->wio);
	ev_timer_stop(s->loop, &c->tmr);
	close(c->fd);
	if (c->inflight)
		s->st.inflight--;
	s->st.open--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	buf_free(&c->in);
	buf_free(&c->out);
	req_free(&c->req);
	free(c->resp.bhead);
	free(c);
}

/* (Re)arms the connection's one timer: delay, drip, RST or drain. */
static void
conn_timer(struct conn *c, double after)
{
	ev_timer_stop(c->srv->loop, &c->tmr);
	ev_timer_set(&c->tmr, after, 0.);
	ev_timer_start(c->srv->loop, &c->tmr);
}

/* Closes with SO_LINGER 0, so the peer sees a RST instead of a FIN. */
static void
conn_rst(struct conn *c)
{
	struct linger	 l = { 1, 0 };

	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	conn_close(c);
}

/*
 * The listener: accept4 in batches; on EMFILE and friends accepting pauses
 * for a moment instead of spinning.
 */

static void
accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server	*s = w->data;

	(void)revents;
	ev_io_start(loop, &s->accept_w);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server	*s = w->data;
	int		 fd, i, one = 1;

	(void)revents;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			logmsg(s, 0, "accept: %s, pausing for %.1fs",
			    strerror(errno), ACCEPT_PAUSE);
			ev_io_stop(loop, &s->accept_w);
			ev_timer_set(&s->accept_pause, ACCEPT_PAUSE, 0.);
			ev_timer_start(loop, &s->accept_pause);
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (conn_new(s, fd) == NULL)
			close(fd);
	}
}

/* Binds addr:port; returns the socket and the bound port in *bound. */
static int
listen_open(const char *addr, long port, int *bound)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sl;
	int			 fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (strcmp(addr, "localhost") == 0)
		addr = "127.0.0.1";
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		fprintf(stderr, "upstream: bad address: %s\n", addr);
		return (-1);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		perror("upstream: socket");
		return (-1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
		fprintf(stderr, "upstream: %s:%ld: %s\n", addr, port,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	*bound = ntohs(ss.ss_family == AF_INET ? sin->sin_port :
	    sin6->sin6_port);
	return (fd);
}

/* Writes the port to path atomically: a temporary file, then rename. */
static int
portfile_write(const char *path, int port)
{
	char	 tmp[PATH_MAX];
	FILE	*f;
	int	 fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp))
		return (-1);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return (-1);
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		return (-1);
	}
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) == -1) {
		unlink(tmp);
		return (-1);
	}
	return (0);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Thousands of connections need more than the usual 1024 descriptors. */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
server_free(struct server *s)
{
	while (s->conns != NULL)
		conn_close(s->conns);
	ev_io_stop(s->loop, &s->accept_w);
	ev_timer_stop(s->loop, &s->accept_pause);
	ev_signal_stop(s->loop, &s->sigterm);
	ev_signal_stop(s->loop, &s->sigint);
	close(s->lfd);
	aring_clear(&s->arrivals);
	free(s->arrivals.a);
	ctab_clear(&s->keys);
}

static void
usage(void)
{
	fprintf(stderr, "usage: upstream [-qv] [-a arrivals] [-k maxkeys] "
	    "[-l address] [-p port|0] [-P portfile]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct server	 s;
	const char	*addr = "127.0.0.1", *portfile = NULL;
	long		 port = 0, maxkeys = MAX_KEYS, narr = ARRIVALS_MAX;
	char		*ep;
	int		 ch, bound;

	memset(&s, 0, sizeof(s));
	crc_init();
	while ((ch = getopt(argc, argv, "a:hk:l:P:p:qv")) != -1) {
		switch (ch) {
		case 'a':
			narr = strtol(optarg, &ep, 10);
			if (*optarg == '\0' || *ep != '\0' || narr < 0 ||
			    narr > 100000000)
				usage();
			break;
		case 'k':
			maxkeys = strtol(optarg, &ep, 10);
			if (*optarg == '\0' || *ep != '\0' || maxkeys < 0)
				usage();
			break;
		case 'l':
			addr = optarg;
			break;
		case 'P':
			portfile = optarg;
			break;
		case 'p':
			port = strtol(optarg, &ep, 10);
			if (*optarg == '\0' || *ep != '\0' || port < 0 ||
			    port > 65535)
				usage();
			break;
		case 'q':
			s.quiet = 1;
			break;
		case 'v':
			s.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	clock_gettime(CLOCK_MONOTONIC, &s.start);
	s.keys.max = (size_t)maxkeys;
	s.arrivals.max = (size_t)narr;
	if ((s.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
		fprintf(stderr, "upstream: cannot initialise libev\n");
		return (1);
	}
	if ((s.lfd = listen_open(addr, port, &bound)) == -1)
		return (1);
	if (portfile != NULL && portfile_write(portfile, bound) == -1) {
		fprintf(stderr, "upstream: %s: %s\n", portfile,
		    strerror(errno));
		return (1);
	}
	logmsg(&s, 1, "listening on %s port %d", addr, bound);

	ev_io_init(&s.accept_w, accept_cb, s.lfd, EV_READ);
	ev_init(&s.accept_pause, accept_resume_cb);
	ev_signal_init(&s.sigterm, signal_cb, SIGTERM);
	ev_signal_init(&s.sigint, signal_cb, SIGINT);
	s.accept_w.data = s.accept_pause.data = &s;
	ev_io_start(s.loop, &s.accept_w);
	ev_signal_start(s.loop, &s.sigterm);
	ev_signal_start(s.loop, &s.sigint);

	ev_run(s.loop, 0);

	server_free(&s);
	if (portfile != NULL)
		(void)unlink(portfile);
	logmsg(&s, 1, "stopped");
	return (0);
}
