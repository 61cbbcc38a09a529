/*
 * body.c: one HTTP response body, from its first byte to its place in a
 * result record.
 *
 * A struct body owns the raw bytes of the body and a scanner that checks,
 * as the bytes arrive, whether they form one JSON text (RFC 8259): tokens
 * (strings with their escapes, the number grammar, true/false/null) and
 * the structure (brackets, member names, ':' and ',', nesting depth).
 * body_finish() decides what the body is: JSON when the scanner accepts it
 * and it is valid UTF-8, a string when it is valid UTF-8, binary
 * otherwise; body_encode() writes it as the "body" or "body_base64" member
 * of a record.
 *
 * Without extract, json-c is not used at all: a JSON body is copied into
 * the record with the whitespace between tokens dropped (a record stays
 * one line), and written exactly as json-c would re-print it: string
 * escapes json-c would print differently (\/ and \uXXXX) are decoded and
 * escaped again, "-0" becomes 0.  Only a duplicate member name differs:
 * the copy keeps every occurrence, json-c kept the last value.  With
 * extract, a json-c incremental tokener is fed as well, and the value it
 * builds is what extract applies to.
 *
 * The scanner accepts exactly what json-c 0.16 in strict mode (depth 64)
 * accepts, minus what json-c accepts but is not JSON, or changes: NaN,
 * -Infinity, "1.", raw control characters in strings, 'single quotes',
 * integers beyond 64 bits (json-c clamps them), "[0-1]" (fed byte by byte
 * json-c reads [0]), leading zeros.  json-c's UTF-8 validation
 * (JSON_TOKENER_VALIDATE_UTF8) is not used: it rejects a valid sequence
 * split between two calls and accepts overlongs and surrogates, so the
 * whole body goes through util_utf8_valid() instead, which the
 * string/binary decision needs anyway.
 *
 * Nothing here logs; errors are returned as values.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fetchd.h"

#define BODY_MAX_DEPTH	64		/* nesting accepted as JSON */
#define BODY_TOK_CHUNK	(1 << 30)	/* json_tokener_parse_ex takes an int */
#define BODY_RAW_MIN	512		/* first allocation of raw bytes */

enum body_kind {
	BK_EMPTY,
	BK_JSON,		/* json-c value (extract) */
	BK_TEXT,		/* JSON text, copied (no extract) */
	BK_STRING,
	BK_BINARY
};

/* Where the JSON recognition stands. */
enum jstate {
	JS_PARSING,		/* scanner (and tokener) active */
	JS_TRAILING,		/* value complete, only whitespace may follow */
	JS_FAILED		/* not JSON */
};

/* States of the token scanner. */
enum lstate {
	L_OUT,			/* between tokens */
	L_STR,			/* inside a string */
	L_ESC,			/* after a backslash inside a string */
	L_HEX,			/* in the 4 hex digits of \uXXXX */
	L_LIT,			/* in true, false or null */
	L_MINUS,		/* number: after '-' */
	L_ZERO,			/* number: integer part is "0" */
	L_INT,			/* number: in the integer part */
	L_FRAC0,		/* number: after '.' */
	L_FRAC,			/* number: in the fraction */
	L_EXP0,			/* number: after 'e' */
	L_EXPS,			/* number: after the exponent's sign */
	L_EXP			/* number: in the exponent */
};

/* What the structure allows between tokens. */
enum gstate {
	G_VALUE,		/* a value: at the start, after ':' or an array's ',' */
	G_FIRST,		/* after '[': a value or ']' */
	G_KEY0,			/* after '{': a member name or '}' */
	G_KEY,			/* after an object's ',': a member name */
	G_COLON,		/* after a member name */
	G_AFTER			/* after a value: ',' or a close; at top level, nothing */
};

#define LEX_MAXDIG	20	/* digits of UINT64_MAX */

struct lex {
	enum lstate	 st;
	enum gstate	 g;
	unsigned	 open;		/* containers open */
	uint64_t	 objs;		/* bit n: container n is an object */
	const char	*lit;		/* L_LIT: the rest of the word */
	unsigned	 hex;		/* L_HEX: digits still to come */
	int		 rewrite;	/* the copy must be rewritten */
	int		 neg;
	size_t		 ndig;
	char		 dig[LEX_MAXDIG];
};

struct body {
	char			*raw;		/* the bytes, unless json-c has them */
	/* raw stays unpoisoned while spare (LeakSanitizer). */
	size_t			 len;
	size_t			 cap;
	uint64_t		 max;
	char			*extract;
	uint64_t		 total;
	int			 too_large;
	int			 finished;
	int			 rc;		/* of body_finish() */
	char			*cause;		/* of body_finish(), kept */
	enum body_kind		 kind;

	enum jstate		 js;
	struct lex		 lex;
	struct json_tokener	*tok;		/* extract only */
	/*
	 * A tokener that parsed a whole value, back to the pool in
	 * body_free() (the loop thread; body_feed() may run on a fetch
	 * thread).
	 */
	struct json_tokener	*tok_spent;
	struct json_object	*value;
};

static int	is_ws(unsigned char);
static int	all_ws(const char *, size_t);
static int	lex_number_end(struct lex *);
static int	num_class(unsigned char);
static int	lex_number(struct lex *, unsigned char, int *);
static int	gram_value(struct lex *);
static int	gram_close(struct lex *, int);
static int	lex_out(struct lex *, unsigned char);
static int	lex_esc(struct lex *, unsigned char);
static int	hexval(unsigned char);
static int	lex_scan(struct lex *, const char *, size_t);
static int	lex_eof(struct lex *);
static void	raw_add(struct body *, const char *, size_t);
static void	raw_drop(struct body *);
static void	json_fail(struct body *);
static void	json_feed(struct body *, const char *, size_t);
static void	json_end(struct body *);
static int	apply_extract(struct body *, char **);
static int	finish_cause(struct body *, char **, const char *);
static void	encode_string(struct buf *, const char *, size_t);
static void	encode_text(struct buf *, const struct body *);

static int
is_ws(unsigned char c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

static int
all_ws(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!is_ws((unsigned char)s[i]))
			return (0);
	return (1);
}

/*
 * A number token ended.  Integers outside the 64-bit range json-c can hold
 * are refused: json-c would clamp them and change the data.  "-0" is an
 * integer json-c prints as 0, so the copy must be rewritten.
 */
static int
lex_number_end(struct lex *l)
{
	enum lstate	 st = l->st;

	l->st = L_OUT;
	if (st == L_FRAC || st == L_EXP)
		return (0);
	if (st != L_ZERO && st != L_INT)
		return (-1);
	if (l->neg) {
		if (st == L_ZERO)
			l->rewrite = 1;
		return (l->ndig > 19 || (l->ndig == 19 &&
		    memcmp(l->dig, "9223372036854775808", 19) > 0) ? -1 : 0);
	}
	return (l->ndig > 20 || (l->ndig == 20 &&
	    memcmp(l->dig, "18446744073709551615", 20) > 0) ? -1 : 0);
}

/*
 * Numbers (RFC 8259 section 6) as a transition table: the next state for
 * each state and class of byte (any other byte is N_BAD), N_BAD when the
 * text cannot be JSON, N_END when the number ended before this byte.  Only
 * whitespace, ',', ']' or '}' may end a number: json-c fed byte by byte
 * takes "[0-1]" for [0].
 */
#define N_BAD	(-1)
#define N_END	(-2)
static const signed char numtab[][6] = {
	/*            0        1-9      .        eE       +-       ws , ] } */
	[L_MINUS] = { L_ZERO,  L_INT,   N_BAD,   N_BAD,   N_BAD,   N_BAD },
	[L_ZERO] =  { N_BAD,   N_BAD,   L_FRAC0, L_EXP0,  N_BAD,   N_END },
	[L_INT] =   { L_INT,   L_INT,   L_FRAC0, L_EXP0,  N_BAD,   N_END },
	[L_FRAC0] = { L_FRAC,  L_FRAC,  N_BAD,   N_BAD,   N_BAD,   N_BAD },
	[L_FRAC] =  { L_FRAC,  L_FRAC,  N_BAD,   L_EXP0,  N_BAD,   N_END },
	[L_EXP0] =  { L_EXP,   L_EXP,   N_BAD,   N_BAD,   L_EXPS,  N_BAD },
	[L_EXPS] =  { L_EXP,   L_EXP,   N_BAD,   N_BAD,   N_BAD,   N_BAD },
	[L_EXP] =   { L_EXP,   L_EXP,   N_BAD,   N_BAD,   N_BAD,   N_END },
};

static int
num_class(unsigned char c)
{
	if (c == '0')
		return (0);
	if (c >= '1' && c <= '9')
		return (1);
	if (c == '.')
		return (2);
	if (c == 'e' || c == 'E')
		return (3);
	if (c == '+' || c == '-')
		return (4);
	if (is_ws(c) || c == ',' || c == ']' || c == '}')
		return (5);
	return (-1);
}

/*
 * One byte inside a number.  Sets *more to 0 when the byte is not part of
 * it: the number has ended and the byte must be looked at again as L_OUT.
 */
static int
lex_number(struct lex *l, unsigned char c, int *more)
{
	int	 cl = num_class(c), next;

	*more = 1;
	next = cl == -1 ? N_BAD : numtab[l->st][cl];
	if (next == N_BAD)
		return (-1);
	if (next == N_END) {
		*more = 0;
		return (lex_number_end(l));
	}
	if (next == L_ZERO || next == L_INT) {	/* a digit of the integer */
		if (l->ndig < LEX_MAXDIG)
			l->dig[l->ndig] = (char)c;
		if (l->ndig <= LEX_MAXDIG)
			l->ndig++;
	}
	l->st = (enum lstate)next;
	return (0);
}

/*
 * A value starts here.  json-c refuses a value inside BODY_MAX_DEPTH open
 * containers ("nesting too deep"); an empty container there is fine.
 */
static int
gram_value(struct lex *l)
{
	if (l->g != G_VALUE && l->g != G_FIRST)
		return (-1);
	if (l->open >= BODY_MAX_DEPTH)
		return (-1);
	l->g = G_AFTER;
	return (0);
}

/* '}' (obj) or ']': it must close the innermost container, after a value. */
static int
gram_close(struct lex *l, int obj)
{
	if (l->open == 0 || (int)((l->objs >> (l->open - 1)) & 1) != obj)
		return (-1);
	if (l->g != G_AFTER && l->g != (obj ? G_KEY0 : G_FIRST))
		return (-1);
	l->open--;
	l->objs &= ~((uint64_t)1 << l->open);
	l->g = G_AFTER;
	return (0);
}

/* One byte between tokens: structure, whitespace, or a token's start. */
static int
lex_out(struct lex *l, unsigned char c)
{
	int	 more;

	switch (c) {
	case ' ': case '\t': case '\n': case '\r':
		if (l->open > 0)
			l->rewrite = 1;		/* inside the value */
		return (0);
	case '{': case '[':
		if (gram_value(l) == -1)
			return (-1);
		if (c == '{')
			l->objs |= (uint64_t)1 << l->open;
		l->open++;
		l->g = c == '{' ? G_KEY0 : G_FIRST;
		return (0);
	case '}': case ']':
		return (gram_close(l, c == '}'));
	case ',':
		if (l->g != G_AFTER || l->open == 0)
			return (-1);
		l->g = (l->objs >> (l->open - 1)) & 1 ? G_KEY : G_VALUE;
		return (0);
	case ':':
		if (l->g != G_COLON)
			return (-1);
		l->g = G_VALUE;
		return (0);
	case '"':
		if (l->g == G_KEY0 || l->g == G_KEY)
			l->g = G_COLON;
		else if (gram_value(l) == -1)
			return (-1);
		l->st = L_STR;
		return (0);
	case '-':
		if (gram_value(l) == -1)
			return (-1);
		l->neg = 1;
		l->ndig = 0;
		l->st = L_MINUS;
		return (0);
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if (gram_value(l) == -1)
			return (-1);
		l->neg = 0;
		l->ndig = 0;
		l->st = L_MINUS;	/* as if after the sign */
		return (lex_number(l, c, &more));
	case 't': case 'f': case 'n':
		if (gram_value(l) == -1)
			return (-1);
		l->lit = c == 't' ? "rue" : c == 'f' ? "alse" : "ull";
		l->st = L_LIT;
		return (0);
	default:
		return (-1);
	}
}

/* The byte after a backslash in a string. */
static int
lex_esc(struct lex *l, unsigned char c)
{
	switch (c) {
	case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
		l->st = L_STR;		/* json-c prints these the same */
		return (0);
	case '/':
		l->rewrite = 1;
		l->st = L_STR;
		return (0);
	case 'u':
		l->rewrite = 1;
		l->hex = 4;
		l->st = L_HEX;
		return (0);
	default:
		return (-1);
	}
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Scan a chunk; -1 as soon as it cannot be part of a JSON text. */
static int
lex_scan(struct lex *l, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*e = p + len;
	int			 more;

	while (p < e) {
		switch (l->st) {
		case L_OUT:
			if (lex_out(l, *p) == -1)
				return (-1);
			break;
		case L_STR:
			/*
			 * Long plain ASCII runs a word at a time (with runs of
			 * UTF-8 between them), the last few bytes one by one.
			 */
			while (e - p >= 16) {
				p += util_json_plain((const char *)p,
				    (size_t)(e - p));
				if (p == e || *p < 0x80)
					break;
				while (p < e && *p >= 0x80)
					p++;
			}
			while (p < e && *p != '"' && *p != '\\' && *p >= 0x20)
				p++;
			if (p == e)
				return (0);
			if (*p < 0x20)
				return (-1);
			l->st = *p == '"' ? L_OUT : L_ESC;
			break;
		case L_ESC:
			if (lex_esc(l, *p) == -1)
				return (-1);
			break;
		case L_HEX:
			if (hexval(*p) == -1)
				return (-1);
			if (--l->hex == 0)
				l->st = L_STR;
			break;
		case L_LIT:
			if (*p != (unsigned char)*l->lit)
				return (-1);
			if (*++l->lit == '\0')
				l->st = L_OUT;
			break;
		default:
			if (lex_number(l, *p, &more) == -1)
				return (-1);
			if (!more)
				continue;	/* look at *p again */
			break;
		}
		p++;
	}
	return (0);
}

/* The body ended: is it one whole value, its last token complete? */
static int
lex_eof(struct lex *l)
{
	if (l->st != L_OUT && lex_number_end(l) == -1)
		return (-1);
	return (l->g == G_AFTER && l->open == 0 ? 0 : -1);
}

/* Keep raw bytes; the buffer never grows past max (+1 for the NUL). */
static void
raw_add(struct body *b, const char *data, size_t len)
{
	size_t	 need = b->len + len + 1, cap;

	if (need > b->cap) {
		cap = b->cap == 0 ? BODY_RAW_MIN : b->cap;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		if (b->max < SIZE_MAX && cap > b->max + 1 && need <= b->max + 1)
			cap = (size_t)b->max + 1;
		b->raw = xreallocarray(b->raw, cap, 1);
		b->cap = cap;
	}
	memcpy(b->raw + b->len, data, len);
	b->len += len;
	b->raw[b->len] = '\0';
}

/*
 * With extract, a few tokeners are kept for reuse: a new one per body was
 * a good part of the cost of a small body (an allocation of the parse
 * stack each time).  Only a tokener that parsed a whole value goes back:
 * json_tokener_reset() in json-c 0.16 keeps a pending high surrogate, so
 * after a body cut short in "\ud83d the next body's "\ude00" would
 * become U+1F600.  The loop thread is the only user (on a fetch thread
 * body_feed() takes no tokener and returns none: see tok_spent).
 */
#define TOK_POOL	64
static struct json_tokener	*tok_pool[TOK_POOL];
static size_t			 tok_npool;

static struct json_tokener *
tok_get(void)
{
	struct json_tokener	*t;

	if (tok_npool > 0) {
		t = tok_pool[--tok_npool];
		json_tokener_reset(t);
		return (t);
	}
	if ((t = json_tokener_new_ex(BODY_MAX_DEPTH)) == NULL)
		fatalx("json_tokener_new_ex: out of memory");
	json_tokener_set_flags(t, JSON_TOKENER_STRICT);
	return (t);
}

static void
tok_put(struct json_tokener *t)
{
	if (t == NULL)
		return;
	if (tok_npool < TOK_POOL)
		tok_pool[tok_npool++] = t;
	else
		json_tokener_free(t);
}

/*
 * Freed bodies are kept (up to BODY_SPARE, each with a first buffer of at
 * most BODY_SPARE_RAW bytes) for body_new(): one per attempt otherwise
 * cost a calloc, a malloc and two frees.  Poisoned meanwhile under
 * AddressSanitizer (fetchd.h).
 */
#define BODY_SPARE	1024
#define BODY_SPARE_RAW	4096
static struct body	*body_spare[BODY_SPARE];
static size_t		 body_nspare;

/* Release the pooled tokeners and bodies (daemon exit, leak checkers). */
void
body_cleanup(void)
{
	struct body	*b;

	while (tok_npool > 0)
		json_tokener_free(tok_pool[--tok_npool]);
	while (body_nspare > 0) {
		b = body_spare[--body_nspare];
		KEEP_UNPOISON(b, sizeof(*b));
		KEEP_UNPOISON(b->raw, b->cap);
		free(b->raw);
		free(b);
	}
}

static void
raw_drop(struct body *b)
{
	free(b->raw);
	b->raw = NULL;
	b->len = b->cap = 0;
}

/* The body is not JSON: release the tokener and any value. */
static void
json_fail(struct body *b)
{
	b->js = JS_FAILED;
	if (b->tok != NULL) {
		json_tokener_free(b->tok);	/* its state is unknown */
		b->tok = NULL;
	}
	json_object_put(b->value);
	b->value = NULL;
}

/* Feed a chunk to the scanner and, with extract, the tokener. */
static void
json_feed(struct body *b, const char *data, size_t len)
{
	struct json_object	*obj;
	enum json_tokener_error	 err;
	size_t			 n, end;

	if (b->js == JS_FAILED)
		return;
	if (lex_scan(&b->lex, data, len) == -1) {
		json_fail(b);
		return;
	}
	if (b->extract == NULL)
		return;
	if (b->js == JS_TRAILING) {
		if (!all_ws(data, len))
			json_fail(b);
		return;
	}
	while (len > 0) {
		n = len > BODY_TOK_CHUNK ? BODY_TOK_CHUNK : len;
		obj = json_tokener_parse_ex(b->tok, data, (int)n);
		err = json_tokener_get_error(b->tok);
		if (err == json_tokener_continue) {
			data += n;
			len -= n;
			continue;
		}
		if (err != json_tokener_success) {
			json_fail(b);
			return;
		}
		end = json_tokener_get_parse_end(b->tok);
		b->tok_spent = b->tok;
		b->tok = NULL;
		b->value = obj;
		b->js = JS_TRAILING;
		if (end > n || !all_ws(data + end, len - end))
			json_fail(b);
		return;
	}
}

/*
 * End of input for the JSON side.  A top-level number only ends at the end
 * of the input, which json-c learns from a NUL passed as a last byte.
 */
static void
json_end(struct body *b)
{
	struct json_object	*obj;

	if (b->js == JS_FAILED)
		return;
	if (lex_eof(&b->lex) == -1) {
		json_fail(b);
		return;
	}
	if (b->js == JS_TRAILING || b->extract == NULL) {
		b->js = JS_TRAILING;
		return;
	}
	obj = json_tokener_parse_ex(b->tok, "", 1);
	if (json_tokener_get_error(b->tok) != json_tokener_success) {
		json_object_put(obj);
		json_fail(b);
		return;
	}
	tok_put(b->tok);
	b->tok = NULL;
	b->value = obj;
	b->js = JS_TRAILING;
}

struct body *
body_new(uint64_t max, const char *extract)
{
	struct body	*b;
	char		*raw = NULL;
	size_t		 cap = 0;

	if (body_nspare > 0) {
		b = body_spare[--body_nspare];
		KEEP_UNPOISON(b, sizeof(*b));
		raw = b->raw;
		cap = b->cap;
		KEEP_UNPOISON(raw, cap);
		memset(b, 0, sizeof(*b));
		b->raw = raw;
		b->cap = cap;
	} else
		b = xcalloc(1, sizeof(*b));
	b->max = max;
	if (extract != NULL)
		b->extract = xstrdup(extract);
	b->js = JS_PARSING;
	b->lex.st = L_OUT;
	b->lex.g = G_VALUE;
	if (extract != NULL)
		b->tok = tok_get();
	return (b);
}

/*
 * Add bytes.  Once the total exceeds max, everything held is released and
 * this and every later call return -1; the body then encodes as empty.
 * Bytes fed after body_finish() are ignored.
 */
int
body_feed(struct body *b, const char *data, size_t len)
{
	if (b->too_large)
		return (-1);
	if (b->finished || len == 0)
		return (0);
	if (len > b->max - b->total) {
		b->too_large = 1;
		raw_drop(b);
		json_fail(b);
		return (-1);
	}
	b->total += len;
	raw_add(b, data, len);
	json_feed(b, data, len);
	return (0);
}

static int
finish_cause(struct body *b, char **cause, const char *why)
{
	xasprintf(&b->cause, "extract '%s': %s", b->extract, why);
	if (cause != NULL)
		*cause = xstrdup(b->cause);
	return (-1);
}

/*
 * Replace the value by the one extract points to.  On failure the whole
 * value stays, so the record can still show what came back.
 */
static int
apply_extract(struct body *b, char **cause)
{
	struct json_object	*res;

	if (b->extract == NULL || b->extract[0] == '\0')
		return (0);
	if (b->value == NULL)		/* the body is JSON null */
		return (finish_cause(b, cause, "no such member"));
	if (json_pointer_get(b->value, b->extract, &res) == -1)
		return (finish_cause(b, cause, errno == ENOENT ?
		    "no such member" : "not a member name or array index"));
	json_object_get(res);
	json_object_put(b->value);
	b->value = res;
	return (0);
}

/*
 * After the last byte: decide what the body is.  0, or -1 with *cause when
 * extract is set and cannot be applied (the body then keeps its whole
 * value, or its bytes, for body_encode()).  A second call returns the same.
 */
int
body_finish(struct body *b, char **cause)
{
	int	 utf8;

	if (cause != NULL)
		*cause = NULL;
	if (b->finished) {
		if (b->rc == -1 && cause != NULL)
			*cause = xstrdup(b->cause);
		return (b->rc);
	}
	b->finished = 1;
	if (b->too_large || b->len == 0) {
		b->kind = BK_EMPTY;
		json_fail(b);
		if (b->extract != NULL && !b->too_large)
			b->rc = finish_cause(b, cause, "body is empty");
		return (b->rc);
	}
	json_end(b);
	utf8 = util_utf8_valid(b->raw, b->len);
	if (b->js == JS_TRAILING && utf8 && b->extract == NULL) {
		b->kind = BK_TEXT;
		return (0);
	}
	if (b->js == JS_TRAILING && utf8) {
		b->kind = BK_JSON;
		raw_drop(b);
		b->rc = apply_extract(b, cause);
		return (b->rc);
	}
	json_fail(b);
	b->kind = utf8 ? BK_STRING : BK_BINARY;
	if (b->extract != NULL)
		b->rc = finish_cause(b, cause, "body is not JSON");
	return (b->rc);
}

/* A valid UTF-8 string as a JSON string. */
static void
encode_string(struct buf *out, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	char			*o;
	size_t			 i, n;

	buf_reserve(out, len * 6 + 2);
	o = out->data + out->len;
	*o++ = '"';
	for (i = 0; i < len; i++) {
		n = util_json_plain(s + i, len - i);
		memcpy(o, p + i, n);
		o += n;
		if ((i += n) == len)
			break;
		switch (p[i]) {
		case '"':
		case '\\':
			*o++ = '\\';
			*o++ = (char)p[i];
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		case '\r':
			*o++ = '\\';
			*o++ = 'r';
			break;
		case '\t':
			*o++ = '\\';
			*o++ = 't';
			break;
		default:
			if (p[i] >= 0x20) {
				*o++ = (char)p[i];
				/* a run of non-ASCII text */
				while (i + 1 < len && p[i + 1] >= 0x80)
					*o++ = (char)p[++i];
				break;
			}
			memcpy(o, "\\u00", 4);
			o[4] = hex[p[i] >> 4];
			o[5] = hex[p[i] & 0xf];
			o += 6;
			break;
		}
	}
	*o++ = '"';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
}

/* A code point as UTF-8, escaped as json-c prints it in a string. */
static char *
put_cp(char *o, uint32_t cp)
{
	static const char	 hex[] = "0123456789abcdef";

	if (cp < 0x80) {
		switch (cp) {
		case '"': case '\\':
			*o++ = '\\';
			*o++ = (char)cp;
			return (o);
		case '\b':
			return (memcpy(o, "\\b", 2), o + 2);
		case '\f':
			return (memcpy(o, "\\f", 2), o + 2);
		case '\n':
			return (memcpy(o, "\\n", 2), o + 2);
		case '\r':
			return (memcpy(o, "\\r", 2), o + 2);
		case '\t':
			return (memcpy(o, "\\t", 2), o + 2);
		}
		if (cp >= 0x20) {
			*o++ = (char)cp;
			return (o);
		}
		memcpy(o, "\\u00", 4);
		o[4] = hex[cp >> 4];
		o[5] = hex[cp & 0xf];
		return (o + 6);
	}
	if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
	}
	*o++ = (char)(0x80 | (cp & 0x3f));
	return (o);
}

/* The 4 hex digits at p (checked by the scanner). */
static uint32_t
hex4(const char *p)
{
	return ((uint32_t)(hexval((unsigned char)p[0]) << 12 |
	    hexval((unsigned char)p[1]) << 8 |
	    hexval((unsigned char)p[2]) << 4 | hexval((unsigned char)p[3])));
}

/*
 * The escape at p (after the backslash, before e), as json-c decodes and
 * prints it: a surrogate pair becomes one character, a lone surrogate
 * U+FFFD.  Returns the position after what was used.
 */
static const char *
copy_escape(char **op, const char *p, const char *e)
{
	uint32_t	 cp, lo;

	if (*p != 'u') {
		if (*p == '/')
			*(*op)++ = '/';
		else {
			*(*op)++ = '\\';
			*(*op)++ = *p;
		}
		return (p + 1);
	}
	cp = hex4(p + 1);
	p += 5;
	if (cp >= 0xd800 && cp <= 0xdbff && e - p >= 6 && p[0] == '\\' &&
	    p[1] == 'u' && (lo = hex4(p + 2)) >= 0xdc00 && lo <= 0xdfff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	} else if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	*op = put_cp(*op, cp);
	return (p);
}

/*
 * A JSON text the scanner accepted, as json-c would print it: without
 * whitespace between tokens, \/ and \uXXXX decoded (and escaped again
 * where json-c escapes), -0 as 0.  The scanner said whether anything but
 * the leading and trailing whitespace has to change; the result is never
 * longer than the input.
 */
static void
encode_text(struct buf *out, const struct body *b)
{
	const char	*s = b->raw, *e = b->raw + b->len, *q;
	char		*o;

	while (s < e && is_ws((unsigned char)*s))
		s++;
	while (e > s && is_ws((unsigned char)e[-1]))
		e--;
	if (!b->lex.rewrite) {
		buf_add(out, s, (size_t)(e - s));
		return;
	}
	buf_reserve(out, (size_t)(e - s));
	o = out->data + out->len;
	while (s < e) {
		if (is_ws((unsigned char)*s)) {
			s++;
			continue;
		}
		if (*s == '-' && s[1] == '0' && (s == b->raw ||
		    (s[-1] != 'e' && s[-1] != 'E')) && (e - s == 2 ||
		    (s[2] != '.' && s[2] != 'e' && s[2] != 'E'))) {
			*o++ = '0';
			s += 2;
			continue;
		}
		if (*s != '"') {
			*o++ = *s++;
			continue;
		}
		*o++ = *s++;			/* a string */
		for (;;) {
			q = s;
			while (*q != '"' && *q != '\\')
				q++;
			memcpy(o, s, (size_t)(q - s));
			o += q - s;
			s = q + 1;
			if (*q == '"')
				break;
			s = copy_escape(&o, s, e);
		}
		*o++ = '"';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
}

/*
 * Append the body as a record member: ,"body":<JSON value> for JSON,
 * ,"body":"<string>" for UTF-8 text, ,"body_base64":"..." for anything
 * else; nothing for an empty (or too large) body.
 */
void
body_encode(struct body *b, struct buf *out)
{
	const char	*s;
	size_t		 len;

	if (!b->finished)
		(void)body_finish(b, NULL);
	switch (b->kind) {
	case BK_EMPTY:
		break;
	case BK_JSON:
		s = json_object_to_json_string_length(b->value,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &len);
		buf_adds(out, ",\"body\":");
		buf_add(out, s, len);
		break;
	case BK_TEXT:
		buf_adds(out, ",\"body\":");
		encode_text(out, b);
		break;
	case BK_STRING:
		buf_adds(out, ",\"body\":");
		encode_string(out, b->raw, b->len);
		break;
	case BK_BINARY:
		buf_adds(out, ",\"body_base64\":\"");
		util_base64(out, b->raw, b->len);
		buf_addc(out, '"');
		break;
	}
}

void
body_free(struct body *b)
{
	if (b == NULL)
		return;
	json_fail(b);
	tok_put(b->tok_spent);
	b->tok_spent = NULL;
	free(b->extract);
	free(b->cause);
	if (body_nspare < BODY_SPARE && b->cap <= BODY_SPARE_RAW) {
		b->len = 0;
		body_spare[body_nspare++] = b;
		KEEP_POISON(b->raw, b->cap);
		KEEP_POISON(&b->len, sizeof(*b) - offsetof(struct body, len));
		return;
	}
	raw_drop(b);
	free(b);
}
