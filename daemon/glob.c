/*
 * glob.c: curl-style URL globs, compiled once and then read by index.
 *
 * A pattern is a sequence of parts: literal text, numeric ranges ([0-199],
 * [001-200] zero-padded to the width of the first number, [0-100:10] with a
 * step), letter ranges ([a-z], [A-Z:2]) and sets ({a,b,c}).  The URLs are
 * the cartesian product of the parts, the rightmost part varying fastest,
 * as curl numbers them.  glob_expand() writes the URL of any index in time
 * proportional to its length, so a job with ten million URLs never holds
 * more than the compiled pattern.  A backslash makes [ ] { } and , literal;
 * "[" followed by an IPv6 address ("http://[::1]:8080/") is taken as the
 * literal host, as curl's globbing does.  Errors name the position (1-based)
 * of the offending bracket and what was expected.  No state outside the
 * struct glob; nothing here logs.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetchd.h"

#define GLOB_MAX_PARTS	100	/* ranges and sets per URL */
#define GLOB_MAX_DIGITS	18	/* numbers below 10^18 */
#define GLOB_SHOW	40	/* bytes of a range quoted */

enum gtype {
	G_TEXT,
	G_SET,
	G_NUM,
	G_ALPHA
};

struct gpart {
	enum gtype	 type;
	size_t		 off;		/* TEXT: in text; SET: first span */
	size_t		 len;		/* TEXT: bytes */
	uint64_t	 lo;		/* NUM, ALPHA: first value */
	uint64_t	 step;
	uint64_t	 n;		/* variants; 1 for TEXT */
	uint64_t	 stride;	/* product of n of the parts after it */
	int		 width;		/* NUM: zero padding */
};

struct span {
	size_t		 off;
	size_t		 len;
};

struct glob {
	struct buf	 text;		/* literals and set elements */
	struct gpart	*parts;
	size_t		 nparts;
	struct span	*spans;		/* set elements */
	size_t		 nspans;
	uint64_t	 count;
};

/* Compiler state: the pattern, where we are, and the glob being built. */
struct gstate {
	const char	*pat;
	size_t		 pos;
	struct glob	*g;
	size_t		 nvar;		/* ranges and sets so far */
	char		**cause;
};

static int	gerr(struct gstate *, const char *, ...) ATTR_PRINTF(2, 3);

static int
gerr(struct gstate *gs, const char *fmt, ...)
{
	va_list	 ap;

	if (gs->cause != NULL) {
		va_start(ap, fmt);
		xvasprintf(gs->cause, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/* The range at gs->pos (len bytes shown) is not one we know. */
static int
bad_range(struct gstate *gs, size_t len, int col)
{
	return (gerr(gs, "bad range '%.*s' at position %d: expected [0-9], "
	    "[001-100], [0-100:10] or [a-z]", (int)len, gs->pat + gs->pos,
	    col));
}

/* Append a new part of the given type and return it. */
static struct gpart *
part_new(struct glob *g, enum gtype type)
{
	struct gpart	*p;

	g->parts = xreallocarray(g->parts, g->nparts + 1, sizeof(*g->parts));
	p = &g->parts[g->nparts++];
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->n = 1;
	p->step = 1;
	return (p);
}

/* Add literal bytes, extending the last part if it is text. */
static void
text_add(struct glob *g, const char *s, size_t len)
{
	struct gpart	*p;

	if (g->nparts == 0 || g->parts[g->nparts - 1].type != G_TEXT) {
		p = part_new(g, G_TEXT);
		p->off = g->text.len;
	} else
		p = &g->parts[g->nparts - 1];
	buf_add(&g->text, s, len);
	p->len += len;
}

/*
 * Length of an IPv6 literal "[...]" at p, brackets included, or 0 when p
 * does not start one: hex digits, dots and at least two colons, optionally
 * a "%zone" of unreserved characters.
 */
static size_t
ipv6_len(const char *p)
{
	size_t	 i, colons = 0;
	int	 zone = 0;

	for (i = 1; p[i] != ']'; i++) {
		if (p[i] == '\0')
			return (0);
		if (zone) {
			if (!isalnum((unsigned char)p[i]) &&
			    strchr("-._~%", p[i]) == NULL)
				return (0);
		} else if (p[i] == ':')
			colons++;
		else if (p[i] == '%' && colons >= 2)
			zone = 1;
		else if (!isxdigit((unsigned char)p[i]) && p[i] != '.')
			return (0);
	}
	return (colons >= 2 ? i + 1 : 0);
}

/*
 * Read a decimal number of at most GLOB_MAX_DIGITS digits at *pp; the
 * number of digits in *ndig (0 if none, more than the maximum if too long).
 */
static int
get_num(const char **pp, const char *end, uint64_t *v, size_t *ndig)
{
	const char	*p = *pp;

	*v = 0;
	*ndig = 0;
	while (p < end && isdigit((unsigned char)*p)) {
		if (++*ndig > GLOB_MAX_DIGITS)
			return (-1);
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	}
	*pp = p;
	return (*ndig == 0 ? -1 : 0);
}

/* The optional ":STEP" at the end of a range; 0 on success. */
static int
get_step(struct gstate *gs, const char *p, const char *end, uint64_t *step,
    int col, size_t len)
{
	const char	*s = gs->pat + gs->pos;
	size_t		 ndig;

	*step = 1;
	if (p == end)
		return (0);
	if (*p++ != ':' || get_num(&p, end, step, &ndig) == -1 || p != end)
		return (bad_range(gs, len, col));
	if (*step == 0)
		return (gerr(gs, "bad step in '%.*s' at position %d: expected "
		    "a step of at least 1", (int)len, s, col));
	return (0);
}

/* Fill a numeric range part from "LO-HI[:STEP]" between p and end. */
static int
range_num(struct gstate *gs, const char *p, const char *end, int col,
    size_t len)
{
	const char	*s = gs->pat + gs->pos, *lo = p;
	uint64_t	 a, b, step;
	size_t		 da = 0, db = 0;
	struct gpart	*gp;

	if (get_num(&p, end, &a, &da) == -1 || p == end || *p++ != '-')
		goto bad;
	if (p < end && isalpha((unsigned char)*p))
		return (gerr(gs, "mixed letters and numbers in '%.*s' at "
		    "position %d", (int)len, s, col));
	if (get_num(&p, end, &b, &db) == -1)
		goto bad;
	if (get_step(gs, p, end, &step, col, len) == -1)
		return (-1);
	if (a > b)
		return (gerr(gs, "reversed range '%.*s' at position %d",
		    (int)len, s, col));
	gp = part_new(gs->g, G_NUM);
	gp->lo = a;
	gp->step = step;
	gp->n = (b - a) / step + 1;
	gp->width = (*lo == '0' && da > 1) ? (int)da : 0;
	return (0);
bad:
	if (da > GLOB_MAX_DIGITS || db > GLOB_MAX_DIGITS)
		return (gerr(gs, "number too large in '%.*s' at position %d",
		    (int)len, s, col));
	return (bad_range(gs, len, col));
}

/* Fill a letter range part from "a-z[:STEP]" between p and end. */
static int
range_alpha(struct gstate *gs, const char *p, const char *end, int col,
    size_t len)
{
	const char	*s = gs->pat + gs->pos;
	unsigned char	 a, b;
	uint64_t	 step;
	struct gpart	*gp;

	a = (unsigned char)*p++;
	if (end - p < 2 || *p++ != '-')
		goto bad;
	b = (unsigned char)*p++;
	if (isdigit(b))
		return (gerr(gs, "mixed letters and numbers in '%.*s' at "
		    "position %d", (int)len, s, col));
	if (!isalpha(b))
		goto bad;
	if (!!islower(a) != !!islower(b))
		return (gerr(gs, "letters of different case in '%.*s' at "
		    "position %d", (int)len, s, col));
	if (get_step(gs, p, end, &step, col, len) == -1)
		return (-1);
	if (a > b)
		return (gerr(gs, "reversed range '%.*s' at position %d",
		    (int)len, s, col));
	gp = part_new(gs->g, G_ALPHA);
	gp->lo = a;
	gp->step = step;
	gp->n = (uint64_t)(b - a) / step + 1;
	return (0);
bad:
	return (bad_range(gs, len, col));
}

/* A "[...]" range at gs->pos; advances past the closing bracket. */
static int
compile_range(struct gstate *gs)
{
	const char	*s = gs->pat + gs->pos, *p, *end;
	int		 col = (int)gs->pos + 1;
	size_t		 len, show;

	for (p = s + 1; *p != ']'; p++) {
		if (*p == '\0')
			return (gerr(gs, "unmatched '[' at position %d", col));
		if (*p == '[' || *p == '{' || *p == '}')
			return (gerr(gs, "nested '%c' in a range at position "
			    "%d", *p, (int)(p - gs->pat) + 1));
	}
	end = p;
	len = (size_t)(end - s) + 1;
	show = len > GLOB_SHOW ? GLOB_SHOW : len;
	if (end == s + 1)
		return (gerr(gs, "empty range '[]' at position %d", col));
	if (isdigit((unsigned char)s[1])) {
		if (range_num(gs, s + 1, end, col, show) == -1)
			return (-1);
	} else if (isalpha((unsigned char)s[1])) {
		if (range_alpha(gs, s + 1, end, col, show) == -1)
			return (-1);
	} else
		return (bad_range(gs, show, col));
	gs->pos += len;
	return (0);
}

/* Start a new set element at the end of the text buffer. */
static void
span_new(struct glob *g)
{
	g->spans = xreallocarray(g->spans, g->nspans + 1, sizeof(*g->spans));
	g->spans[g->nspans].off = g->text.len;
	g->spans[g->nspans].len = 0;
	g->nspans++;
}

/* A "{a,b,c}" set at gs->pos; advances past the closing brace. */
static int
compile_set(struct gstate *gs)
{
	struct glob	*g = gs->g;
	const char	*p = gs->pat + gs->pos + 1;
	int		 col = (int)gs->pos + 1;
	size_t		 first = g->nspans;
	struct gpart	*gp;

	if (*p == '}')
		return (gerr(gs, "empty set '{}' at position %d", col));
	span_new(g);
	for (; *p != '}'; p++) {
		if (*p == '\0')
			return (gerr(gs, "unmatched '{' at position %d", col));
		if (*p == '{' || *p == '[')
			return (gerr(gs, "nested '%c' in a set at position %d",
			    *p, (int)(p - gs->pat) + 1));
		if (*p == ',') {
			span_new(g);
			continue;
		}
		if (*p == '\\' && p[1] != '\0' && strchr("[]{},", p[1]) != NULL)
			p++;
		buf_addc(&g->text, *p);
		g->spans[g->nspans - 1].len++;
	}
	gp = part_new(g, G_SET);
	gp->off = first;
	gp->n = g->nspans - first;
	gs->pos = (size_t)(p - gs->pat) + 1;
	return (0);
}

/* One step of the compiler: a literal, an escape, a range or a set. */
static int
compile_one(struct gstate *gs)
{
	const char	*s = gs->pat + gs->pos;
	size_t		 n;

	if (*s == '\\' && s[1] != '\0' && strchr("[]{},", s[1]) != NULL) {
		text_add(gs->g, s + 1, 1);
		gs->pos += 2;
		return (0);
	}
	if (*s == '[' && (n = ipv6_len(s)) > 0) {
		text_add(gs->g, s, n);
		gs->pos += n;
		return (0);
	}
	if (*s == ']' || *s == '}')
		return (gerr(gs, "unmatched '%c' at position %zu (escape it "
		    "as \\%c)", *s, gs->pos + 1, *s));
	if (*s != '[' && *s != '{') {
		text_add(gs->g, s, 1);
		gs->pos++;
		return (0);
	}
	if (++gs->nvar > GLOB_MAX_PARTS)
		return (gerr(gs, "more than %d ranges and sets at position %zu",
		    GLOB_MAX_PARTS, gs->pos + 1));
	return (*s == '[' ? compile_range(gs) : compile_set(gs));
}

/*
 * Compute the strides from the right and the total count; refuse a total
 * above max (0: no limit) or above what 64 bits hold.
 */
static int
compile_count(struct gstate *gs, uint64_t max)
{
	struct glob	*g = gs->g;
	uint64_t	 total = 1;
	size_t		 i;

	for (i = g->nparts; i-- > 0;) {
		g->parts[i].stride = total;
		if (total > UINT64_MAX / g->parts[i].n)
			return (gerr(gs, "glob expands to more than %" PRIu64
			    " URLs", UINT64_MAX));
		total *= g->parts[i].n;
	}
	if (max != 0 && total > max)
		return (gerr(gs, "glob expands to %" PRIu64 " URLs, more than "
		    "max-urls %" PRIu64, total, max));
	g->count = total;
	return (0);
}

/*
 * Compile a pattern.  On success *gp is the glob and 0 is returned; on
 * failure -1 with *cause saying where and what was expected.  A count
 * above max is refused (max 0: only the 64-bit limit applies).
 */
int
glob_compile(const char *pat, uint64_t max, struct glob **gp, char **cause)
{
	struct gstate	 gs;
	struct glob	*g;

	g = xcalloc(1, sizeof(*g));
	buf_init(&g->text);
	buf_reserve(&g->text, 0);
	memset(&gs, 0, sizeof(gs));
	gs.pat = pat;
	gs.g = g;
	gs.cause = cause;
	while (pat[gs.pos] != '\0') {
		if (compile_one(&gs) == -1)
			goto fail;
	}
	if (compile_count(&gs, max) == -1)
		goto fail;
	*gp = g;
	return (0);
fail:
	glob_free(g);
	return (-1);
}

uint64_t
glob_count(const struct glob *g)
{
	return (g->count);
}

/* v in decimal, zero-padded to width; cheaper than buf_printf per URL. */
static void
put_num(struct buf *b, uint64_t v, int width)
{
	char	 tmp[64], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (p > tmp && tmp + sizeof(tmp) - p < width)
		*--p = '0';
	buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Append URL number idx (0 <= idx < count) to b; nothing if out of range. */
void
glob_expand(const struct glob *g, uint64_t idx, struct buf *b)
{
	const struct gpart	*p;
	const struct span	*sp;
	uint64_t		 k;
	size_t			 i;

	if (idx >= g->count)
		return;
	for (i = 0; i < g->nparts; i++) {
		p = &g->parts[i];
		k = (idx / p->stride) % p->n;
		switch (p->type) {
		case G_TEXT:
			buf_add(b, g->text.data + p->off, p->len);
			break;
		case G_SET:
			sp = &g->spans[p->off + k];
			buf_add(b, g->text.data + sp->off, sp->len);
			break;
		case G_NUM:
			put_num(b, p->lo + k * p->step, p->width);
			break;
		case G_ALPHA:
			buf_addc(b, (char)(p->lo + k * p->step));
			break;
		}
	}
}

void
glob_free(struct glob *g)
{
	if (g == NULL)
		return;
	buf_free(&g->text);
	free(g->parts);
	free(g->spans);
	free(g);
}
