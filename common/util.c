/*
 * util.c: allocation wrappers, a growable buffer, the parsers for values that
 * appear in configuration (durations in systemd syntax, sizes, numbers,
 * booleans, percentages), URL origins, default paths, UTF-8 validation and
 * base64.  Nothing here logs except fatalx() on out-of-memory.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatalx("out of memory (%zu bytes)", n);
	return (p);
}

void *
xcalloc(size_t n, size_t sz)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, sz == 0 ? 1 : sz)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, sz);
	return (p);
}

void *
xreallocarray(void *p, size_t n, size_t sz)
{
	void	*q;

	if (sz != 0 && n > SIZE_MAX / sz)
		fatalx("allocation overflow (%zu x %zu)", n, sz);
	if ((q = realloc(p, n * sz == 0 ? 1 : n * sz)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, sz);
	return (q);
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatalx("out of memory");
	return (p);
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatalx("out of memory");
	return (p);
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	 n;

	if ((n = vasprintf(ret, fmt, ap)) == -1)
		fatalx("out of memory");
	return (n);
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* Buffers. */

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_reserve(struct buf *b, size_t n)
{
	size_t	 cap;

	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap == 0 ? 256 : b->cap;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2)
			fatalx("buffer overflow");
		cap *= 2;
	}
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("buf_printf: bad format");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

/* Parsers. */

static int	cause_set(char **, const char *, ...) ATTR_PRINTF(2, 3);

static int
cause_set(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		xvasprintf(cause, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

static const struct {
	const char	*name;
	int64_t		 usec;
} duration_units[] = {
	{ "usec", 1 }, { "us", 1 }, { "µs", 1 },
	{ "msec", USEC_PER_MSEC }, { "ms", USEC_PER_MSEC },
	{ "seconds", USEC_PER_SEC }, { "second", USEC_PER_SEC },
	{ "sec", USEC_PER_SEC }, { "s", USEC_PER_SEC },
	{ "minutes", 60 * USEC_PER_SEC }, { "minute", 60 * USEC_PER_SEC },
	{ "min", 60 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC },
	{ "hours", 3600 * USEC_PER_SEC }, { "hour", 3600 * USEC_PER_SEC },
	{ "hr", 3600 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
	{ "days", 86400 * USEC_PER_SEC }, { "day", 86400 * USEC_PER_SEC },
	{ "d", 86400 * USEC_PER_SEC },
	{ "weeks", 604800 * USEC_PER_SEC }, { "week", 604800 * USEC_PER_SEC },
	{ "w", 604800 * USEC_PER_SEC },
};

/* Length of the unit at s, and its multiplier; 0 if none matches. */
static size_t
duration_unit(const char *s, int64_t *mult)
{
	size_t	 i, n, best = 0;

	for (i = 0; i < nitems(duration_units); i++) {
		n = strlen(duration_units[i].name);
		if (n > best && strncmp(s, duration_units[i].name, n) == 0 &&
		    !isalpha((unsigned char)s[n])) {
			best = n;
			*mult = duration_units[i].usec;
		}
	}
	return (best);
}

/*
 * systemd time spans: "250ms", "10s", "5m", "1h30m", "1h 30min", "1.5s";
 * a bare number means seconds.  "0" is zero.
 */
int
util_parse_duration(const char *s, int64_t *out, char **cause)
{
#define expect "expected a duration like 250ms, 10s, 5m or 1h30m, got '%s'"
	const char		*p = s;
	char			*end;
	double			 v, total = 0;
	int64_t			 mult;
	size_t			 n;
	int			 parts = 0;

	while (*p != '\0') {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return (cause_set(cause, expect, s));
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno != 0 || v < 0)
			return (cause_set(cause, expect, s));
		p = end;
		while (*p == ' ')
			p++;
		mult = USEC_PER_SEC;
		if ((n = duration_unit(p, &mult)) == 0 && isalpha((unsigned char)*p))
			return (cause_set(cause, expect, s));
		if (n == 0 && parts > 0)
			return (cause_set(cause, expect, s));
		p += n;
		total += v * (double)mult;
		parts++;
	}
	if (parts == 0 || total > (double)INT64_MAX / 2)
		return (cause_set(cause, expect, s));
	*out = (int64_t)(total + 0.5);
	return (0);
#undef expect
}

void
util_format_duration(int64_t usec, char *out, size_t len)
{
	static const struct {
		const char	*name;
		int64_t		 usec;
	} u[] = {
		{ "d", 86400 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
		{ "min", 60 * USEC_PER_SEC }, { "s", USEC_PER_SEC },
		{ "ms", USEC_PER_MSEC }, { "us", 1 },
	};
	size_t	 i, off = 0;
	int	 n;

	if (usec <= 0) {
		snprintf(out, len, "0");
		return;
	}
	out[0] = '\0';
	for (i = 0; i < nitems(u) && usec > 0 && off < len; i++) {
		if (usec < u[i].usec)
			continue;
		n = snprintf(out + off, len - off, "%" PRId64 "%s",
		    usec / u[i].usec, u[i].name);
		if (n < 0)
			break;
		off += (size_t)n;
		usec %= u[i].usec;
	}
}

/* Sizes: "100", "512K", "8M", "1G", "1.5M"; K=1024; optional "B"/"iB". */
int
util_parse_size(const char *s, uint64_t *out, char **cause)
{
#define expect "expected a size like 512K, 8M or 1G, got '%s'"
	char			*end;
	double			 v, mult = 1;

	if (!isdigit((unsigned char)*s))
		return (cause_set(cause, expect, s));
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0)
		return (cause_set(cause, expect, s));
	switch (toupper((unsigned char)*end)) {
	case 'K':
		mult = 1024.0;
		end++;
		break;
	case 'M':
		mult = 1024.0 * 1024;
		end++;
		break;
	case 'G':
		mult = 1024.0 * 1024 * 1024;
		end++;
		break;
	case 'T':
		mult = 1024.0 * 1024 * 1024 * 1024;
		end++;
		break;
	}
	if (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0)
		end += strlen(end);
	if (*end != '\0' || v * mult > 9.0e18)
		return (cause_set(cause, expect, s));
	*out = (uint64_t)(v * mult);
	return (0);
#undef expect
}

void
util_format_size(uint64_t v, char *out, size_t len)
{
	static const char	 sfx[] = "KMGT";
	int			 i = -1;

	while (v >= 1024 && v % 1024 == 0 && i < 3) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(out, len, "%" PRIu64, v);
	else
		snprintf(out, len, "%" PRIu64 "%c", v, sfx[i]);
}

int
util_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    char **cause)
{
	char			*end;
	unsigned long long	 v;

	if (!isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < min || v > max)
		goto bad;
	*out = v;
	return (0);
bad:
	if (cause != NULL)
		xasprintf(cause, "expected a number from %" PRIu64 " to %"
		    PRIu64 ", got '%s'", min, max, s);
	return (-1);
}

int
util_parse_bool(const char *s, int *out, char **cause)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t	 i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return (0);
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return (0);
		}
	}
	return (cause_set(cause, "expected yes or no, got '%s'", s));
}

/* "20%" -> 0.2; "0.2" is refused to avoid ambiguity. */
int
util_parse_percent(const char *s, double *out, char **cause)
{
	char	*end;
	double	 v;

	if (!isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || strcmp(end, "%") != 0 || v < 0 ||
	    v > 100)
		goto bad;
	*out = v / 100.0;
	return (0);
bad:
	return (cause_set(cause, "expected a percentage from 0%% to 100%%, "
	    "got '%s'", s));
}

int
util_url_origin(const char *url, char *out, size_t len)
{
	const char	*p, *h, *end, *at;
	const char	*port = NULL;
	int		 tls, n;
	size_t		 hl, i;

	if (strncasecmp(url, "http://", 7) == 0) {
		tls = 0;
		h = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		tls = 1;
		h = url + 8;
	} else
		return (-1);
	end = h + strcspn(h, "/?#");
	if ((at = memchr(h, '@', (size_t)(end - h))) != NULL)
		h = at + 1;
	if (*h == '[') {
		if ((p = memchr(h, ']', (size_t)(end - h))) == NULL)
			return (-1);
		hl = (size_t)(p + 1 - h);
		if (p[1] == ':')
			port = p + 2;
	} else {
		p = memchr(h, ':', (size_t)(end - h));
		hl = (size_t)((p != NULL ? p : end) - h);
		if (p != NULL)
			port = p + 1;
	}
	if (hl == 0)
		return (-1);
	n = snprintf(out, len, "%s://", tls ? "https" : "http");
	if (n < 0 || (size_t)n + hl + 8 >= len)
		return (-1);
	for (i = 0; i < hl; i++)
		out[n + i] = (char)tolower((unsigned char)h[i]);
	n += (int)hl;
	if (port != NULL && port < end)
		snprintf(out + n, len - (size_t)n, ":%.*s", (int)(end - port),
		    port);
	else
		snprintf(out + n, len - (size_t)n, ":%d", tls ? 443 : 80);
	return (0);
}

/* Default paths. */

char *
util_default_socket(void)
{
	const char	*rt = getenv("XDG_RUNTIME_DIR");
	char		*p;

	if (rt != NULL && *rt == '/')
		xasprintf(&p, "%s/fetchd/control.sock", rt);
	else if (geteuid() == 0)
		p = xstrdup("/run/fetchd/control.sock");
	else
		xasprintf(&p, "/tmp/fetchd-%u/control.sock",
		    (unsigned)geteuid());
	return (p);
}

char *
util_default_state_dir(void)
{
	const char	*st = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	char		*p;

	if (st != NULL && *st == '/')
		xasprintf(&p, "%s/fetchd", st);
	else if (home != NULL && *home == '/')
		xasprintf(&p, "%s/.local/state/fetchd", home);
	else
		p = xstrdup("/var/lib/fetchd");
	return (p);
}

int
util_mkdirs(const char *path, mode_t mode)
{
	char	*p, *s, c;
	int	 rc = 0;

	p = xstrdup(path);
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		if (*s == '/' && s[1] == '/')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return (rc);
}

size_t
util_levenshtein(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b), i, j, prev, tmp, best;
	size_t	*row;

	row = xcalloc(lb + 1, sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	best = row[lb];
	free(row);
	return (best);
}

/*
 * Eight bytes at a time: a word holds a byte that needs care if any byte
 * has its top bit set, is below 0x20, or equals '"' or '\\' (the
 * "has a byte less than n" and "has a zero byte" word tests; exact as a
 * yes/no answer).  The word with such a byte is then looked at bytewise.
 */
size_t
util_json_plain(const char *s, size_t n)
{
	const uint64_t		 ones = 0x0101010101010101ULL;
	const uint64_t		 high = 0x8080808080808080ULL;
	const unsigned char	*p = (const unsigned char *)s;
	uint64_t		 w, q, b;
	size_t			 i = 0;

	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		if ((w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
		    ((b - ones) & ~b)) & high)
			break;
	}
	for (; i < n; i++)
		if (p[i] < 0x20 || p[i] >= 0x80 || p[i] == '"' ||
		    p[i] == '\\')
			break;
	return (i);
}

int
util_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*e = p + len;
	unsigned		 c, n, min, i;
	uint64_t		 w;

	while (p < e) {
		/* ASCII eight bytes at a time (most bodies are all ASCII) */
		while (e - p >= 8) {
			memcpy(&w, p, 8);
			if (w & 0x8080808080808080ULL)
				break;
			p += 8;
		}
		if (p == e)
			break;
		c = *p++;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			min = 0x80;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			min = 0x800;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			min = 0x10000;
			c &= 0x07;
		} else
			return (0);
		if ((size_t)(e - p) < n)
			return (0);
		for (i = 0; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (0);
			c = (c << 6) | (p[i] & 0x3f);
		}
		p += n;
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return (0);
	}
	return (1);
}

void
util_base64(struct buf *b, const void *data, size_t len)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*p = data;
	char			*o;
	size_t			 i;
	unsigned		 v;

	buf_reserve(b, (len + 2) / 3 * 4);
	o = b->data + b->len;
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

int64_t
util_wallclock_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
