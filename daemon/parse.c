/*
 * parse.c: job files and the daemon file, parsed from a buffer.
 *
 * The syntax is that of systemd units: "[job NAME]" or "[daemon]" section
 * headers, "key = value" lines, full-line "#" comments and blank lines; in a
 * value, a "#" that follows whitespace starts a trailing comment.  Each kind
 * of section has one table of keys, sorted by name for bsearch(), holding
 * the setter, the field, the limits and the default as text.  The same table
 * fills in the defaults (by parsing them), suggests the nearest key for a
 * misspelt one and gives parse_job_keys() its list.
 *
 * Errors are "FILE:LINE: message" strings added to a struct errlist; the
 * parser resyncs at the next line and carries on, and hands its result out
 * only when there were none.  All state lives in a struct pstate on the
 * stack: no globals, nothing logged, the file system touched only by
 * parse_read_file() and parse_jobs_dir().
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fetchd.h"

#define PARSE_MAX_FILE		(8 * 1024 * 1024)	/* a job file */
#define PARSE_MAX_LINE		65536
#define PARSE_MAX_ERRORS	100	/* per file, then we give up */
#define PARSE_MAX_NAME		64	/* job names */
#define PARSE_MAX_KEY		32	/* longer: no "did you mean" */
#define PARSE_MAX_HEADERS	100
#define PARSE_MAX_EXPECT	64
#define PARSE_MAX_METHOD	32
#define PARSE_MAX_DURATION	(365LL * 86400 * USEC_PER_SEC)
#define PARSE_MAX_RATE		1000000
#define PARSE_MAX_SOCKET	107	/* sizeof(sun_path) - 1 */
#define PARSE_SUGGEST		3	/* distance for "did you mean" */
#define ERR_MAX_LEN		1024	/* bytes of one error message */
#define DEFAULT_MAX_URLS	10000000
#define DEFAULT_MAX_JOBS	1024

#define XSTR(x)			#x
#define STR(x)			XSTR(x)

/* Key flags. */
#define K_REPEAT	0x01	/* may be given more than once */
#define K_ZERO		0x02	/* "never" (counts), "none" (durations): 0 */
#define K_EMPTY		0x04	/* an empty value unsets (NULL) */
#define K_AUTO		0x08	/* "auto" (counts): 0 */

enum section {
	SEC_NONE,		/* before the first section header */
	SEC_JOB,
	SEC_DAEMON,
	SEC_SKIP		/* after a bad header: keys are ignored */
};

struct pstate;

/* One key of a section: how to set it, where, its limits and default. */
struct key {
	const char	*name;
	int		(*set)(struct pstate *, const struct key *, void *,
			    const char *, char **);
	size_t		 off;
	size_t		 size;
	uint64_t	 min;
	uint64_t	 max;
	int		 flags;
	const char	*def;
};

/* A word of a keyword list (overlap, retry-on). */
struct word {
	const char	*name;
	unsigned	 value;
};

#define SETTER(f)							\
static int	f(struct pstate *, const struct key *, void *, const char *, \
		    char **)
SETTER(set_count);
SETTER(set_duration);
SETTER(set_size);
SETTER(set_bool);
SETTER(set_percent);
SETTER(set_string);
SETTER(set_path);
SETTER(set_method);
SETTER(set_header);
SETTER(set_url);
SETTER(set_expect);
SETTER(set_retry_on);
SETTER(set_overlap);
SETTER(set_sync);
SETTER(set_rate);
SETTER(set_min_success);
SETTER(set_extract);
SETTER(set_proxy);
SETTER(set_log_level);
SETTER(set_agent);
SETTER(set_user);
SETTER(set_names);
SETTER(set_dirs);

#define MS	USEC_PER_MSEC
#define SEC	USEC_PER_SEC
#define DMAX	PARSE_MAX_DURATION
#define GIB	(1024ULL * 1024 * 1024)

/*
 * The job keys, sorted by name.  K(name, setter, field, min, max, flags,
 * default) expands into the key table and into the list of names.
 */
#define JOB_KEYS(K)							\
	K("abort-after", set_count, abort_after,			\
	    1, UINT64_MAX, K_ZERO, "never")				\
	K("backoff", set_duration, backoff,				\
	    0, DMAX, 0, "250ms")					\
	K("backoff-max", set_duration, backoff_max,			\
	    0, DMAX, 0, "30s")						\
	K("body", set_string, body,					\
	    0, 0, K_EMPTY, NULL)					\
	K("body-file", set_path, body_file,				\
	    0, 0, K_EMPTY, NULL)					\
	K("breaker", set_count, breaker,				\
	    1, 1000000, K_ZERO, "10")					\
	K("ca-file", set_path, ca_file,					\
	    0, 0, K_EMPTY, NULL)					\
	K("compressed", set_bool, compressed,				\
	    0, 0, 0, "yes")						\
	K("concurrency", set_count, concurrency,			\
	    1, 100000, 0, "50")						\
	K("conditional", set_bool, conditional,				\
	    0, 0, 0, "no")						\
	K("connect-timeout", set_duration, connect_timeout,		\
	    MS, DMAX, 0, "5s")						\
	K("deadline", set_duration, deadline,				\
	    MS, DMAX, K_ZERO, "none")					\
	K("every", set_duration, every,					\
	    SEC, DMAX, K_ZERO, "none")					\
	K("expect", set_expect, expect,					\
	    100, 599, 0, "200-299")					\
	K("extract", set_extract, extract,				\
	    0, 0, K_EMPTY, NULL)					\
	K("header", set_header, headers,				\
	    0, 0, K_REPEAT, NULL)					\
	K("http2", set_bool, http2,					\
	    0, 0, 0, "yes")						\
	K("insecure", set_bool, insecure,				\
	    0, 0, 0, "no")						\
	K("keep", set_count, keep,					\
	    1, 100000, 0, "10")						\
	K("max-body", set_size, max_body,				\
	    1, GIB, 0, "8M")						\
	K("max-redirs", set_count, max_redirs,				\
	    0, 100, 0, "10")						\
	K("method", set_method, method,					\
	    0, 0, 0, "GET")						\
	K("min-success", set_min_success, min_success,			\
	    0, 1000000000000ULL, 0, "1")				\
	K("overlap", set_overlap, overlap,				\
	    0, 0, 0, "skip")						\
	K("per-host", set_count, per_host,				\
	    1, 100000, 0, "16")						\
	K("proxy", set_proxy, proxy,					\
	    0, 0, 0, "env")						\
	K("rate", set_rate, rate,					\
	    0, PARSE_MAX_RATE, 0, "unlimited")				\
	K("retries", set_count, retries,				\
	    0, 100, 0, "2")						\
	K("retry-budget", set_percent, retry_budget,			\
	    0, 0, 0, "20%")						\
	K("retry-on", set_retry_on, retry_on,				\
	    0, 0, 0, "connect dns timeout 5xx 429 408 reset")		\
	K("retry-unsafe", set_bool, retry_unsafe,			\
	    0, 0, 0, "no")						\
	K("secret-headers", set_names, secret_headers,			\
	    0, 0, 0, NULL)						\
	K("stall-timeout", set_duration, stall_timeout,			\
	    SEC, DMAX, K_ZERO, "15s")					\
	K("timeout", set_duration, timeout,				\
	    MS, DMAX, 0, "30s")						\
	K("url", set_url, urls,						\
	    0, 0, K_REPEAT, NULL)					\
	K("urls-file", set_path, urls_file,				\
	    0, 0, K_EMPTY, NULL)

/* The [daemon] keys, sorted by name. */
#define DAEMON_KEYS(K)							\
	K("admin-group", set_string, admin_group,			\
	    0, 0, K_EMPTY, NULL)					\
	K("drain-timeout", set_duration, drain_timeout,			\
	    0, 3600 * SEC, 0, "10s")					\
	K("fetch-threads", set_count, fetch_threads,			\
	    1, FETCH_SHARDS_MAX, K_AUTO, "auto")					\
	K("jobs-dir", set_path, jobs_dir,				\
	    0, 0, K_EMPTY, NULL)					\
	K("log-level", set_log_level, log_level,			\
	    0, 0, 0, "info")						\
	K("max-clients", set_count, max_clients,			\
	    1, 100000, 0, "64")						\
	K("max-connections", set_count, max_connections,		\
	    1, 100000, 0, "512")					\
	K("max-jobs", set_count, max_jobs,				\
	    1, 1000000, 0, STR(DEFAULT_MAX_JOBS))			\
	K("max-urls", set_count, max_urls,				\
	    1, 1000000000000ULL, 0, STR(DEFAULT_MAX_URLS))		\
	K("socket", set_path, socket,					\
	    0, PARSE_MAX_SOCKET, 0, NULL)				\
	K("state-dir", set_path, state_dir,				\
	    0, 0, 0, NULL)						\
	K("submit-dirs", set_dirs, submit_dirs,				\
	    0, 0, 0, NULL)						\
	K("sync", set_sync, sync,					\
	    0, 0, 0, "batch")						\
	K("user", set_user, user,					\
	    0, 0, K_EMPTY, NULL)					\
	K("user-agent", set_agent, user_agent,				\
	    0, 0, 0, "fetchd/" PACKAGE_VERSION)

#define KEY_OF(type, n, fn, f, lo, hi, fl, d)				\
	{ n, fn, offsetof(struct type, f), sizeof(((struct type *)0)->f), \
	    lo, hi, fl, d },
#define JOB_KEY(...)	KEY_OF(jobdef, __VA_ARGS__)
#define DAEMON_KEY(...)	KEY_OF(daemonconf, __VA_ARGS__)
#define KEY_NAME(n, ...)	n,

static const struct key job_keys[] = { JOB_KEYS(JOB_KEY) };
static const char *const job_key_names[] = { JOB_KEYS(KEY_NAME) };
static const struct key daemon_keys[] = { DAEMON_KEYS(DAEMON_KEY) };
static const char *const daemon_key_names[] = { DAEMON_KEYS(KEY_NAME) };

_Static_assert(nitems(daemon_keys) <= nitems(job_keys),
    "pstate.seen is sized for the job keys");

static const struct word retry_words[] = {
	{ "connect", RETRY_CONNECT }, { "dns", RETRY_DNS },
	{ "timeout", RETRY_TIMEOUT }, { "5xx", RETRY_5XX },
	{ "429", RETRY_429 }, { "408", RETRY_408 }, { "reset", RETRY_RESET },
};

static const struct word sync_words[] = {
	{ "batch", SYNC_BATCH }, { "always", SYNC_ALWAYS },
	{ "never", SYNC_NEVER },
};

static const struct word overlap_words[] = {
	{ "skip", OVERLAP_SKIP }, { "queue", OVERLAP_QUEUE },
	{ "cancel", OVERLAP_CANCEL },
};

/* Everything one parse needs. */
struct pstate {
	const char		*name;		/* file, for messages */
	char			*dir;		/* base of relative names */
	unsigned		 line;
	struct errlist		*errs;
	size_t			 nerrs;
	int			 stop;		/* too many errors */
	int			 daemon;	/* the daemon file */
	const struct key	*keys;
	size_t			 nkeys;
	unsigned		 seen[nitems(job_keys)]; /* line of each key */
	enum section		 sec;
	unsigned		 secline;
	void			*obj;		/* jobdef, daemonconf */
	struct jobfile		*jf;
	uint64_t		 max_urls;
	unsigned		 max_jobs;
	int			 jobs_over;
	uint64_t		 nurls;		/* URLs of the job so far */
	int			 urls_over;
};

/* Lists. */

static int
is_ctl(char c)
{
	return ((unsigned char)c < 0x20 || c == 0x7f);
}

void
strlist_add(struct strlist *sl, const char *s)
{
	sl->v = xreallocarray(sl->v, sl->n + 2, sizeof(*sl->v));
	sl->v[sl->n++] = xstrdup(s);
	sl->v[sl->n] = NULL;
}

void
strlist_free(struct strlist *sl)
{
	size_t	 i;

	for (i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	sl->v = NULL;
	sl->n = 0;
}

/*
 * Add a formatted message.  Control characters (from the input being
 * quoted) become '?', and a message is cut at ERR_MAX_LEN bytes.
 */
void
errlist_add(struct errlist *el, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, *p;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	for (p = s; *p != '\0'; p++)
		if (is_ctl(*p))
			*p = '?';
	if (p - s > ERR_MAX_LEN)
		memcpy(s + ERR_MAX_LEN - 3, "...", 4);
	el->v = xreallocarray(el->v, el->n + 1, sizeof(*el->v));
	el->v[el->n++] = s;
}

void
errlist_free(struct errlist *el)
{
	size_t	 i;

	for (i = 0; i < el->n; i++)
		free(el->v[i]);
	free(el->v);
	el->v = NULL;
	el->n = 0;
}

/* Errors. */

static int	cerr(char **, const char *, ...) ATTR_PRINTF(2, 3);
static void	perr_at(struct pstate *, unsigned, const char *, ...)
		    ATTR_PRINTF(3, 4);

/* Set *cause for a setter and fail. */
static int
cerr(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Record "FILE:LINE: message"; past the limit, say so once and stop. */
static void
perr_at(struct pstate *ps, unsigned line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (ps->stop)
		return;
	if (ps->nerrs++ == PARSE_MAX_ERRORS) {
		errlist_add(ps->errs, "%s: too many errors, giving up",
		    ps->name);
		ps->stop = 1;
		return;
	}
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	errlist_add(ps->errs, "%s:%u: %s", ps->name, line, msg);
	free(msg);
}

/* Small string helpers. */

static int
is_blank(char c)
{
	return (c == ' ' || c == '\t' || c == '\r');
}

static char *
trim(char *s)
{
	size_t	 n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return (s);
}

/* Cut a trailing comment: a '#' after whitespace (not at the start). */
static void
cut_comment(char *s)
{
	char	*p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '#' && p > s && is_blank(p[-1])) {
			*p = '\0';
			break;
		}
	}
	trim(s);
}

/* Any control character (tab allowed if tab_ok)? */
static int
has_ctl(const char *s, int tab_ok)
{
	for (; *s != '\0'; s++)
		if (is_ctl(*s) && !(*s == '\t' && tab_ok))
			return (1);
	return (0);
}

/* Any whitespace or control character? */
static int
has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s) || is_ctl(*s))
			return (1);
	return (0);
}

/* "dir/rel", without doubling the slash; dir may be NULL. */
static char *
path_join(const char *dir, const char *rel)
{
	char	*p;
	size_t	 n;

	if (dir == NULL || *dir == '\0')
		return (xstrdup(rel));
	n = strlen(dir);
	xasprintf(&p, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", rel);
	return (p);
}

/* The directory of a file name, made absolute against the cwd. */
static char *
dir_of(const char *name)
{
	const char	*slash = strrchr(name, '/');
	char		 cwd[PATH_MAX];
	char		*d, *abs;

	if (slash == name)
		return (xstrdup("/"));
	if (slash == NULL)
		d = xstrdup("");
	else
		d = xstrndup(name, (size_t)(slash - name));
	if (*d == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return (d);
	abs = *d == '\0' ? xstrdup(cwd) : path_join(cwd, d);
	free(d);
	return (abs);
}

/* A file name as parse_jobs(file, ...) makes it absolute. */
char *
parse_resolve(const char *file, const char *rel)
{
	char	*dir, *p;

	if (*rel == '/')
		return (xstrdup(rel));
	dir = dir_of(file);
	p = path_join(dir, rel);
	free(dir);
	return (p);
}

/* "8M", or "100 bytes" when the size has no unit. */
static void
size_text(uint64_t n, char *s, size_t len)
{
	size_t	 l;

	util_format_size(n, s, len);
	l = strlen(s);
	if (l > 0 && isdigit((unsigned char)s[l - 1]))
		snprintf(s + l, len - l, " bytes");
}

/* Next token of a list separated by commas and/or whitespace. */
static const char *
next_token(const char **pp, size_t *len)
{
	const char	*p = *pp, *t;

	while (*p == ',' || is_blank(*p))
		p++;
	if (*p == '\0')
		return (NULL);
	t = p;
	while (*p != '\0' && *p != ',' && !is_blank(*p))
		p++;
	*len = (size_t)(p - t);
	*pp = p;
	return (t);
}

static int
word_find(const struct word *w, size_t n, const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strlen(w[i].name) == len && strncmp(w[i].name, s, len) == 0)
			return ((int)i);
	return (-1);
}

#define FIELD(obj, k, type)	((type *)(void *)((char *)(obj) + (k)->off))

/* Setters: parse val into the field of obj that k names. */

static int
set_count(struct pstate *ps, const struct key *k, void *obj, const char *val,
    char **cause)
{
	uint64_t	 v;

	(void)ps;
	if (((k->flags & K_ZERO) && strcmp(val, "never") == 0) ||
	    ((k->flags & K_AUTO) && strcmp(val, "auto") == 0))
		v = 0;
	else if (util_parse_uint(val, k->min, k->max, &v, NULL) == -1)
		return (cerr(cause, "expected %sa number from %" PRIu64 " to %"
		    PRIu64 ", got '%s'", (k->flags & K_ZERO) ? "'never' or " :
		    (k->flags & K_AUTO) ? "'auto' or " : "", k->min, k->max,
		    val));
	if (k->size == sizeof(uint64_t))
		*FIELD(obj, k, uint64_t) = v;
	else
		*FIELD(obj, k, unsigned) = (unsigned)v;
	return (0);
}

static int
set_duration(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	int64_t		 v;
	char		 lo[32], hi[32];

	(void)ps;
	if ((k->flags & K_ZERO) && strcmp(val, "none") == 0)
		v = 0;
	else if (util_parse_duration(val, &v, cause) == -1)
		return (-1);
	else if (v < (int64_t)k->min || v > (int64_t)k->max) {
		util_format_duration((int64_t)k->min, lo, sizeof(lo));
		util_format_duration((int64_t)k->max, hi, sizeof(hi));
		return (cerr(cause, "expected %sa duration from %s to %s, "
		    "got '%s'", (k->flags & K_ZERO) ? "'none' or " : "", lo,
		    hi, val));
	}
	*FIELD(obj, k, int64_t) = v;
	return (0);
}

static int
set_size(struct pstate *ps, const struct key *k, void *obj, const char *val,
    char **cause)
{
	uint64_t	 v;
	char		 lo[32], hi[32];

	(void)ps;
	if (util_parse_size(val, &v, cause) == -1)
		return (-1);
	if (v < k->min || v > k->max) {
		util_format_size(k->min, lo, sizeof(lo));
		util_format_size(k->max, hi, sizeof(hi));
		return (cerr(cause, "expected a size from %s to %s, got '%s'",
		    lo, hi, val));
	}
	*FIELD(obj, k, uint64_t) = v;
	return (0);
}

static int
set_bool(struct pstate *ps, const struct key *k, void *obj, const char *val,
    char **cause)
{
	(void)ps;
	return (util_parse_bool(val, FIELD(obj, k, int), cause));
}

static int
set_percent(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	(void)ps;
	return (util_parse_percent(val, FIELD(obj, k, double), cause));
}

/* Replace a string field; NULL unsets it. */
static void
str_replace(char **f, const char *val)
{
	free(*f);
	*f = val == NULL ? NULL : xstrdup(val);
}

static int
set_string(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	(void)ps;
	(void)cause;
	str_replace(FIELD(obj, k, char *), *val == '\0' ? NULL : val);
	return (0);
}

/* A file name, made absolute against the directory of the parsed file. */
static int
set_path(struct pstate *ps, const struct key *k, void *obj, const char *val,
    char **cause)
{
	char		**f = FIELD(obj, k, char *), *p;
	size_t		  max = k->max != 0 ? k->max : PATH_MAX - 1;

	if (*val == '\0') {
		if (!(k->flags & K_EMPTY))
			return (cerr(cause, "expected a path, got ''"));
		str_replace(f, NULL);
		return (0);
	}
	if (has_ctl(val, 0))
		return (cerr(cause, "expected a path without control "
		    "characters, got '%s'", val));
	p = *val == '/' ? xstrdup(val) : path_join(ps->dir, val);
	if (strlen(p) > max) {
		free(p);
		return (cerr(cause, "expected a path of at most %zu bytes, "
		    "got '%s'", max, val));
	}
	free(*f);
	*f = p;
	return (0);
}

/* An uppercase token: GET, POST, M-SEARCH. */
static int
set_method(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	size_t	 i;

	(void)ps;
	for (i = 0; val[i] != '\0'; i++) {
		if (isupper((unsigned char)val[i]) ||
		    (i > 0 && (isdigit((unsigned char)val[i]) ||
		    val[i] == '-' || val[i] == '_')))
			continue;
		break;
	}
	if (i == 0 || val[i] != '\0' || i > PARSE_MAX_METHOD)
		return (cerr(cause, "expected an uppercase method like GET or "
		    "POST, got '%s'", val));
	str_replace(FIELD(obj, k, char *), val);
	return (0);
}

/* RFC 9110 token characters, for header names. */
static int
is_tchar(char c)
{
	return (isalnum((unsigned char)c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

/* "Name: value", stored as exactly that (one space after the colon). */
static int
set_header(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	struct strlist	*sl = FIELD(obj, k, struct strlist);
	const char	*v;
	char		*h;
	size_t		 n;

	(void)ps;
	for (n = 0; is_tchar(val[n]); n++)
		;
	/* Messages name the header, never its value: it may be secret. */
	if (n == 0)
		return (cerr(cause, "expected 'Name: value', with a name "
		    "of letters, digits and !#$%%&'*+-.^_`|~"));
	if (val[n] != ':')
		return (cerr(cause, "expected 'Name: value', got no ':' "
		    "after '%.*s'", (int)n, val));
	if (has_ctl(val, 1))
		return (cerr(cause, "control character in the value of "
		    "'%.*s'", (int)n, val));
	if (sl->n >= PARSE_MAX_HEADERS)
		return (cerr(cause, "more than %d headers",
		    PARSE_MAX_HEADERS));
	for (v = val + n + 1; is_blank(*v); v++)
		;
	xasprintf(&h, "%.*s:%s%s", (int)n, val, *v == '\0' ? "" : " ", v);
	strlist_add(sl, h);
	free(h);
	return (0);
}

/* Does the URL start with http:// or https:// and name some host? */
static int
url_scheme_ok(const char *u)
{
	size_t	 n;

	if (strncasecmp(u, "http://", 7) == 0)
		n = 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		n = 8;
	else
		return (0);
	return (u[n] != '\0' && u[n] != '/');
}

/* A URL pattern: scheme, characters, glob, and the job's total count. */
static int
set_url(struct pstate *ps, const struct key *k, void *obj, const char *val,
    char **cause)
{
	struct jobdef	*jd = obj;
	struct glob	*g;
	uint64_t	 n;

	if (!url_scheme_ok(val))
		return (cerr(cause, "expected an http:// or https:// URL, got "
		    "'%s'", val));
	if (has_space(val))
		return (cerr(cause, "expected a URL without whitespace or "
		    "control characters, got '%s'", val));
	if (glob_compile(val, ps->max_urls, &g, cause) == -1)
		return (-1);
	n = glob_count(g);
	glob_free(g);
	if (!ps->urls_over && n > ps->max_urls - ps->nurls) {
		ps->urls_over = 1;
		return (cerr(cause, "job '%s' has more than max-urls %" PRIu64
		    " URLs in total", jd->name, ps->max_urls));
	}
	ps->nurls += n;
	strlist_add(FIELD(obj, k, struct strlist), val);
	return (0);
}

/* One status "404" or range "200-299" from the len bytes at t. */
static int
status_range(const char *t, size_t len, const struct key *k,
    struct status_range *r)
{
	char		 s[16], *end;
	unsigned long	 lo, hi;

	if (len >= sizeof(s) || !isdigit((unsigned char)*t))
		return (-1);
	memcpy(s, t, len);
	s[len] = '\0';
	lo = hi = strtoul(s, &end, 10);
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return (-1);
		hi = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || lo < k->min || hi > k->max || lo > hi)
		return (-1);
	r->lo = (int)lo;
	r->hi = (int)hi;
	return (0);
}

/* Accepted statuses: "200-299, 304". */
static int
set_expect(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	struct jobdef		*jd = obj;
	struct status_range	 r[PARSE_MAX_EXPECT];
	const char		*p = val, *t;
	size_t			 n = 0, len;

	(void)ps;
	(void)k;
	while ((t = next_token(&p, &len)) != NULL) {
		if (n == nitems(r))
			return (cerr(cause, "more than %zu statuses or ranges",
			    nitems(r)));
		if (status_range(t, len, k, &r[n++]) == -1)
			break;
	}
	if (n == 0 || t != NULL)
		return (cerr(cause, "expected statuses from %" PRIu64 " to %"
		    PRIu64 " like 200-299, 304, got '%s'", k->min, k->max,
		    val));
	free(jd->expect);
	jd->expect = xreallocarray(NULL, n, sizeof(*r));
	memcpy(jd->expect, r, n * sizeof(*r));
	jd->nexpect = n;
	return (0);
}

/* Failure classes to retry: "connect dns 5xx", or "none". */
static int
set_retry_on(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	const char	*p = val, *t;
	size_t		 len;
	unsigned	 bits = 0;
	int		 i;

	(void)ps;
	if (strcmp(val, "none") != 0) {
		while ((t = next_token(&p, &len)) != NULL) {
			i = word_find(retry_words, nitems(retry_words), t, len);
			if (i == -1)
				return (cerr(cause, "unknown failure class "
				    "'%.*s' (expected connect, dns, timeout, "
				    "5xx, 429, 408 or reset)", (int)len, t));
			bits |= retry_words[i].value;
		}
		if (bits == 0)
			return (cerr(cause, "expected failure classes like "
			    "'connect dns 5xx' or none, got '%s'", val));
	}
	*FIELD(obj, k, unsigned) = bits;
	return (0);
}

/*
 * One word of a list, its value in *out; the error lists every word
 * ("expected batch, always or never").
 */
static int
word_set(const struct word *w, size_t n, const char *val, unsigned *out,
    char **cause)
{
	struct buf	 b;
	size_t		 i;
	int		 at;

	if ((at = word_find(w, n, val, strlen(val))) != -1) {
		*out = w[at].value;
		return (0);
	}
	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i == 0 ? "" : i + 1 == n ? " or " :
		    ", ", w[i].name);
	cerr(cause, "expected %.*s, got '%s'", (int)b.len, b.data, val);
	buf_free(&b);
	return (-1);
}

static int
set_sync(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	unsigned	 v;

	(void)ps;
	if (word_set(sync_words, nitems(sync_words), val, &v, cause) == -1)
		return (-1);
	*FIELD(obj, k, int) = (int)v;
	return (0);
}

static int
set_overlap(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	unsigned	 v;

	(void)ps;
	if (word_set(overlap_words, nitems(overlap_words), val, &v,
	    cause) == -1)
		return (-1);
	*FIELD(obj, k, enum overlap) = (enum overlap)v;
	return (0);
}

/* Requests per second, a decimal number; "unlimited" or 0 is no limit. */
static int
set_rate(struct pstate *ps, const struct key *k, void *obj, const char *val,
    char **cause)
{
	char	*end;
	double	 v = 0;

	(void)ps;
	if (strcmp(val, "unlimited") != 0) {
		if (!isdigit((unsigned char)*val))
			goto bad;
		errno = 0;
		v = strtod(val, &end);
		if (errno != 0 || *end != '\0' || v > (double)k->max)
			goto bad;
	}
	*FIELD(obj, k, double) = v;
	return (0);
bad:
	return (cerr(cause, "expected 'unlimited' or requests per second up "
	    "to %" PRIu64 ", got '%s'", k->max, val));
}

/* A count of URLs ("1") or a share of them ("90%"). */
static int
set_min_success(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	struct jobdef	*jd = obj;
	uint64_t	 n;
	double		 v;
	size_t		 len = strlen(val);

	(void)ps;
	if (len > 0 && val[len - 1] == '%') {
		if (util_parse_percent(val, &v, NULL) == -1)
			goto bad;
		jd->min_success = v;
		jd->min_success_pct = 1;
		return (0);
	}
	if (util_parse_uint(val, k->min, k->max, &n, NULL) == -1)
		goto bad;
	jd->min_success = (double)n;
	jd->min_success_pct = 0;
	return (0);
bad:
	return (cerr(cause, "expected a count like 1 or a percentage like "
	    "90%%, got '%s'", val));
}

/* A JSON pointer (RFC 6901): empty, or '/' segments with ~0 ~1 escapes. */
static int
set_extract(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	const char	*p;

	(void)ps;
	if (*val != '\0' && *val != '/')
		goto bad;
	for (p = val; *p != '\0'; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			goto bad;
	str_replace(FIELD(obj, k, char *), *val == '\0' ? NULL : val);
	return (0);
bad:
	return (cerr(cause, "expected a JSON pointer like /data/items, got "
	    "'%s'", val));
}

/* "env" (NULL: curl reads the environment), "none" (""), or a proxy. */
static int
set_proxy(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	(void)ps;
	if (has_space(val))
		return (cerr(cause, "expected env, none or a proxy like "
		    "http://proxy:3128, got '%s'", val));
	if (*val == '\0' || strcmp(val, "env") == 0)
		val = NULL;
	else if (strcmp(val, "none") == 0)
		val = "";
	str_replace(FIELD(obj, k, char *), val);
	return (0);
}

static int
set_log_level(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	int	 level;

	(void)ps;
	level = log_level_parse(val);
	if (level < LOG_ERR || level > LOG_DEBUG)
		return (cerr(cause, "expected debug, info, notice, warning or "
		    "err, got '%s'", val));
	*FIELD(obj, k, int) = level;
	return (0);
}

static int
set_agent(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	(void)ps;
	if (*val == '\0' || has_ctl(val, 0))
		return (cerr(cause, "expected a User-Agent like fetchd/1.0, "
		    "got '%s'", val));
	str_replace(FIELD(obj, k, char *), val);
	return (0);
}

/*
 * The user to run as: a name (or number) the system knows.  Looked up
 * again when fetchd drops to it; here only so that a typo is FILE:LINE.
 */
static int
set_user(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	uint64_t	 uid;

	(void)ps;
	if (*val == '\0') {
		str_replace(FIELD(obj, k, char *), NULL);
		return (0);
	}
	if (has_space(val) || strlen(val) > 256)
		return (cerr(cause, "expected a user name, got '%s'", val));
	if (getpwnam(val) == NULL && (util_parse_uint(val, 0, UINT32_MAX - 1,
	    &uid, NULL) == -1 || getpwuid((uid_t)uid) == NULL))
		return (cerr(cause, "no such user '%s'", val));
	str_replace(FIELD(obj, k, char *), val);
	return (0);
}

/* A list of header names ("X-Api-Key, X-Token"), replacing any earlier. */
static int
set_names(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	struct strlist	*sl = FIELD(obj, k, struct strlist);
	struct strlist	 new = { NULL, 0 };
	const char	*p = val, *t;
	char		*name;
	size_t		 len, i;

	(void)ps;
	while ((t = next_token(&p, &len)) != NULL) {
		for (i = 0; i < len && is_tchar(t[i]); i++)
			;
		if (i < len || new.n >= PARSE_MAX_HEADERS) {
			strlist_free(&new);
			if (i < len)
				return (cerr(cause, "expected header names "
				    "like X-Api-Key, got '%s'", val));
			return (cerr(cause, "more than %d header names",
			    PARSE_MAX_HEADERS));
		}
		name = xstrndup(t, len);
		strlist_add(&new, name);
		free(name);
	}
	strlist_free(sl);
	*sl = new;
	return (0);
}

/* Absolute directory names, separated by whitespace, replacing any earlier. */
static int
set_dirs(struct pstate *ps, const struct key *k, void *obj,
    const char *val, char **cause)
{
	struct strlist	*sl = FIELD(obj, k, struct strlist);
	struct strlist	 new = { NULL, 0 };
	const char	*p = val, *t;
	char		*d;
	size_t		 len;

	(void)ps;
	if (has_ctl(val, 1))
		return (cerr(cause, "expected directories without control "
		    "characters"));
	while ((t = next_token(&p, &len)) != NULL) {
		if (*t != '/' || len >= PATH_MAX || new.n >= 64) {
			strlist_free(&new);
			return (cerr(cause, "expected at most 64 absolute "
			    "directories like /srv/fetchd/lists, got '%s'",
			    val));
		}
		d = xstrndup(t, len);
		while (len > 1 && d[len - 1] == '/')
			d[--len] = '\0';
		strlist_add(&new, d);
		free(d);
	}
	strlist_free(sl);
	*sl = new;
	return (0);
}

/* Names whose values are secret in every job. */
static const char *const secret_builtin[] = {
	"Authorization", "Cookie", "Proxy-Authorization"
};

static int
name_is(const char *hdr, size_t n, const char *name)
{
	return (strlen(name) == n && strncasecmp(hdr, name, n) == 0);
}

int
parse_header_secret(const struct jobdef *jd, const char *hdr)
{
	const char	*colon = strchr(hdr, ':');
	size_t		 n, i;

	n = colon != NULL ? (size_t)(colon - hdr) : strlen(hdr);
	for (i = 0; i < nitems(secret_builtin); i++)
		if (name_is(hdr, n, secret_builtin[i]))
			return (1);
	for (i = 0; jd != NULL && i < jd->secret_headers.n; i++)
		if (name_is(hdr, n, jd->secret_headers.v[i]))
			return (1);
	return (0);
}

/* Keys. */

static int
key_cmp(const void *a, const void *b)
{
	return (strcmp(a, ((const struct key *)b)->name));
}

static const struct key *
key_find(const struct pstate *ps, const char *name)
{
	return (bsearch(name, ps->keys, ps->nkeys, sizeof(*ps->keys),
	    key_cmp));
}

/* Line where a key was last set in this section, 0 if never. */
static unsigned
key_line(const struct pstate *ps, const char *name)
{
	const struct key	*k = key_find(ps, name);

	return (k == NULL ? 0 : ps->seen[k - ps->keys]);
}

/* The known key nearest to a misspelt one, or NULL if none is close. */
static const char *
key_suggest(const struct pstate *ps, const char *name)
{
	const char	*best = NULL;
	size_t		 i, d, bestd = SIZE_MAX;

	if (strlen(name) > PARSE_MAX_KEY)
		return (NULL);		/* far from all, and slow to compare */
	for (i = 0; i < ps->nkeys; i++) {
		d = util_levenshtein(name, ps->keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = ps->keys[i].name;
		}
	}
	if (bestd > PARSE_SUGGEST || bestd >= strlen(name))
		return (NULL);
	return (best);
}

/* Fill obj with the defaults of a key table, by parsing them. */
static void
keys_default(struct pstate *ps, const struct key *keys, size_t n, void *obj)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (keys[i].def == NULL)
			continue;
		cause = NULL;
		if (keys[i].set(ps, &keys[i], obj, keys[i].def, &cause) == -1)
			free(cause);	/* not reached: the tests check */
	}
}

const char *const *
parse_job_keys(size_t *n)
{
	*n = nitems(job_key_names);
	return (job_key_names);
}

const char *const *
parse_daemon_keys(size_t *n)
{
	*n = nitems(daemon_key_names);
	return (daemon_key_names);
}

/* Sections. */

/* Job names become directory names: [A-Za-z0-9_.-]{1,64}, no leading dot. */
static int
job_name_ok(const char *s)
{
	size_t	 i;

	if (*s == '.')
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("_.-", s[i]) == NULL)
			return (0);
	return (i > 0 && i <= PARSE_MAX_NAME);
}

/* Checks that involve several keys, when a [job] section ends. */
static void
job_check(struct pstate *ps)
{
	struct jobdef	*jd = ps->obj;
	unsigned	 a, b;
	char		 s1[32], s2[32];

	if (jd->urls.n == 0 && jd->urls_file == NULL &&
	    key_line(ps, "url") == 0)
		perr_at(ps, ps->secline, "job '%s': no url or urls-file",
		    jd->name);
	a = key_line(ps, "body");
	b = key_line(ps, "body-file");
	if (jd->body != NULL && jd->body_file != NULL)
		perr_at(ps, a > b ? a : b, "job '%s': body and body-file "
		    "are mutually exclusive", jd->name);
	a = key_line(ps, "backoff");
	b = key_line(ps, "backoff-max");
	if (jd->backoff_max < jd->backoff) {
		util_format_duration(jd->backoff_max, s1, sizeof(s1));
		util_format_duration(jd->backoff, s2, sizeof(s2));
		perr_at(ps, a > b ? a : b, "job '%s': backoff-max (%s) is "
		    "less than backoff (%s)", jd->name, s1, s2);
	}
}

static void
section_end(struct pstate *ps)
{
	if (ps->sec == SEC_JOB)
		job_check(ps);
	ps->sec = SEC_NONE;
}

static const struct jobdef *
job_lookup(const struct jobfile *jf, const char *name)
{
	size_t	 i;

	for (i = 0; i < jf->njobs; i++)
		if (strcmp(jf->jobs[i]->name, name) == 0)
			return (jf->jobs[i]);
	return (NULL);
}

/* "[job NAME]": a fresh jobdef with every default, added to the file. */
static void
job_begin(struct pstate *ps, const char *name)
{
	struct jobfile		*jf = ps->jf;
	const struct jobdef	*old;
	struct jobdef		*jd;

	ps->sec = SEC_SKIP;
	if (!job_name_ok(name)) {
		perr_at(ps, ps->line, "job name '%s': expected 1 to %d of "
		    "A-Z a-z 0-9 _ . - not starting with '.'", name,
		    PARSE_MAX_NAME);
		return;
	}
	if (jf->njobs >= ps->max_jobs) {
		if (!ps->jobs_over)
			perr_at(ps, ps->line, "more than max-jobs %u jobs in "
			    "one file", ps->max_jobs);
		ps->jobs_over = 1;
		return;
	}
	if ((old = job_lookup(jf, name)) != NULL) {
		perr_at(ps, ps->line, "job '%s' already defined on line %u",
		    name, old->line);
		return;
	}
	jd = xcalloc(1, sizeof(*jd));
	jd->name = xstrdup(name);
	jd->file = xstrdup(ps->name);
	jd->line = ps->line;
	jd->dir = xstrdup(ps->dir != NULL ? ps->dir : "");
	keys_default(ps, job_keys, nitems(job_keys), jd);
	jf->jobs = xreallocarray(jf->jobs, jf->njobs + 1, sizeof(*jf->jobs));
	jf->jobs[jf->njobs++] = jd;
	ps->obj = jd;
	ps->sec = SEC_JOB;
	ps->nurls = 0;
	ps->urls_over = 0;
	memset(ps->seen, 0, sizeof(ps->seen));
}

/* A "[...]" line: [job NAME] in job files, [daemon] in the daemon file. */
static void
parse_section(struct pstate *ps, char *s)
{
	char	*in;
	size_t	 n;

	section_end(ps);
	ps->sec = SEC_SKIP;
	ps->secline = ps->line;
	cut_comment(s);
	n = strlen(s);
	if (s[n - 1] != ']') {
		perr_at(ps, ps->line, "expected ']' at the end of '%s'", s);
		return;
	}
	s[n - 1] = '\0';
	in = trim(s + 1);
	if (ps->daemon && strcmp(in, "daemon") == 0)
		ps->sec = SEC_DAEMON;
	else if (ps->daemon)
		perr_at(ps, ps->line, "unknown section '[%s]' (expected "
		    "[daemon])", in);
	else if (strncmp(in, "job", 3) == 0 && is_blank(in[3]))
		job_begin(ps, trim(in + 3));
	else if (strcmp(in, "job") == 0)
		perr_at(ps, ps->line, "section [job] needs a name, like "
		    "[job items]");
	else
		perr_at(ps, ps->line, "unknown section '[%s]' (expected "
		    "[job NAME])", in);
}

/* An unknown key, with the nearest known one if it is close. */
static void
key_unknown(struct pstate *ps, const char *key)
{
	const char	*near;

	if ((near = key_suggest(ps, key)) != NULL)
		perr_at(ps, ps->line, "unknown key '%s' (did you mean '%s'?)",
		    key, near);
	else
		perr_at(ps, ps->line, "unknown key '%s'", key);
}

/* Set one key of the current section. */
static void
parse_key(struct pstate *ps, const char *key, const char *val)
{
	const struct key	*k;
	unsigned		*seen;
	char			*cause = NULL;

	if (ps->sec == SEC_SKIP)
		return;
	if (ps->sec == SEC_NONE) {
		perr_at(ps, ps->line, "key '%s' outside of a %s section", key,
		    ps->daemon ? "[daemon]" : "[job NAME]");
		return;
	}
	if ((k = key_find(ps, key)) == NULL) {
		key_unknown(ps, key);
		return;
	}
	seen = &ps->seen[k - ps->keys];
	if (*seen != 0 && !(k->flags & K_REPEAT)) {
		perr_at(ps, ps->line, "%s: already set on line %u", key,
		    *seen);
		return;
	}
	*seen = ps->line;
	if (k->set(ps, k, ps->obj, val, &cause) == -1) {
		perr_at(ps, ps->line, "%s: %s", key, cause);
		free(cause);
	}
}

/*
 * A line "Name: value" whose Name is a secret header (a forgotten
 * "header ="): the length of Name, else 0.  Its value must not be quoted.
 */
static size_t
secret_line(const struct pstate *ps, const char *s)
{
	size_t	 n;

	for (n = 0; is_tchar(s[n]); n++)
		;
	if (n == 0 || s[n] != ':' || !parse_header_secret(ps->sec == SEC_JOB ?
	    ps->obj : NULL, s))
		return (0);
	return (n);
}

/* "key = value", with an optional trailing comment. */
static void
parse_assign(struct pstate *ps, char *s)
{
	char	*eq, *key, *val;
	size_t	 n;

	if ((n = secret_line(ps, s)) > 0) {
		perr_at(ps, ps->line, "expected 'key = value', got a line "
		    "'%.*s: ...' (header = %.*s: ...?)", (int)n, s, (int)n, s);
		return;
	}
	if ((eq = strchr(s, '=')) == NULL) {
		cut_comment(s);
		perr_at(ps, ps->line, "expected 'key = value', got '%s'", s);
		return;
	}
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	cut_comment(val);
	if (*key == '\0') {
		perr_at(ps, ps->line, "expected 'key = value', got '= %s'",
		    val);
		return;
	}
	parse_key(ps, key, val);
}

/* One line, NUL-terminated and without its newline. */
static void
parse_line(struct pstate *ps, char *line)
{
	char	*s = trim(line);

	if (*s == '\0' || *s == '#')
		return;
	if (*s == '[')
		parse_section(ps, s);
	else
		parse_assign(ps, s);
}

/* Split the buffer into lines; a line too long or with a NUL is an error. */
static void
parse_buffer(struct pstate *ps, const char *buf, size_t len)
{
	const char	*p = buf, *end = buf + len, *nl;
	char		*line;
	size_t		 n;

	char		 max[32];

	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		p += 3;		/* a UTF-8 byte order mark */
	if (len > PARSE_MAX_FILE) {
		size_text(PARSE_MAX_FILE, max, sizeof(max));
		errlist_add(ps->errs, "%s: larger than %s", ps->name, max);
		ps->nerrs++;
		return;
	}
	while (p < end && !ps->stop) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		ps->line++;
		if (n > PARSE_MAX_LINE)
			perr_at(ps, ps->line, "line longer than %d bytes",
			    PARSE_MAX_LINE);
		else if (memchr(p, '\0', n) != NULL)
			perr_at(ps, ps->line, "NUL byte in line");
		else {
			line = xstrndup(p, n);
			parse_line(ps, line);
			free(line);
		}
		p += n + 1;
	}
	section_end(ps);
}

static void
pstate_init(struct pstate *ps, const char *name, struct errlist *errs,
    int daemon)
{
	memset(ps, 0, sizeof(*ps));
	ps->name = name;
	ps->dir = dir_of(name);
	ps->errs = errs;
	ps->daemon = daemon;
	ps->keys = daemon ? daemon_keys : job_keys;
	ps->nkeys = daemon ? nitems(daemon_keys) : nitems(job_keys);
	ps->sec = SEC_NONE;
}

/*
 * Parse a job file.  On success (0) *jf, which must be zeroed or hold a
 * previous result, is freed and replaced; on failure (-1) it is untouched
 * and errs has every error.  dc gives max-urls (NULL: the default).
 */
int
parse_jobs(const char *name, const char *buf, size_t len,
    const struct daemonconf *dc, struct jobfile *jf, struct errlist *errs)
{
	struct pstate	 ps;
	struct jobfile	 new;

	memset(&new, 0, sizeof(new));
	pstate_init(&ps, name, errs, 0);
	ps.jf = &new;
	ps.max_urls = dc != NULL ? dc->max_urls : DEFAULT_MAX_URLS;
	ps.max_jobs = dc != NULL ? dc->max_jobs : DEFAULT_MAX_JOBS;
	parse_buffer(&ps, buf, len);
	free(ps.dir);
	if (ps.nerrs > 0) {
		jobfile_free(&new);
		return (-1);
	}
	jobfile_free(jf);
	*jf = new;
	return (0);
}

/*
 * Parse the daemon file over the defaults.  On success *dc, which must hold
 * a valid config (daemonconf_defaults() or an earlier parse), is freed and
 * replaced; on failure it is untouched.
 */
int
parse_daemon(const char *name, const char *buf, size_t len,
    struct daemonconf *dc, struct errlist *errs)
{
	struct pstate		 ps;
	struct daemonconf	 new;

	daemonconf_defaults(&new);
	new.file = xstrdup(name);
	pstate_init(&ps, name, errs, 1);
	ps.obj = &new;
	parse_buffer(&ps, buf, len);
	free(ps.dir);
	if (ps.nerrs > 0) {
		daemonconf_free(&new);
		return (-1);
	}
	daemonconf_free(dc);
	*dc = new;
	return (0);
}

void
daemonconf_defaults(struct daemonconf *dc)
{
	struct pstate	 ps;

	memset(dc, 0, sizeof(*dc));
	memset(&ps, 0, sizeof(ps));
	keys_default(&ps, daemon_keys, nitems(daemon_keys), dc);
	dc->socket = util_default_socket();
	dc->state_dir = util_default_state_dir();
}

void
daemonconf_free(struct daemonconf *dc)
{
	if (dc == NULL)
		return;
	free(dc->file);
	free(dc->socket);
	free(dc->state_dir);
	free(dc->jobs_dir);
	free(dc->user_agent);
	free(dc->admin_group);
	free(dc->user);
	strlist_free(&dc->submit_dirs);
	memset(dc, 0, sizeof(*dc));
}

void
jobdef_free(struct jobdef *jd)
{
	if (jd == NULL)
		return;
	free(jd->name);
	free(jd->file);
	free(jd->dir);
	strlist_free(&jd->urls);
	free(jd->urls_file);
	free(jd->method);
	strlist_free(&jd->headers);
	strlist_free(&jd->secret_headers);
	free(jd->body);
	free(jd->body_file);
	free(jd->expect);
	free(jd->extract);
	free(jd->ca_file);
	free(jd->proxy);
	free(jd);
}

void
jobfile_free(struct jobfile *jf)
{
	size_t	 i;

	if (jf == NULL)
		return;
	for (i = 0; i < jf->njobs; i++)
		jobdef_free(jf->jobs[i]);
	free(jf->jobs);
	jf->jobs = NULL;
	jf->njobs = 0;
}

/* Files. */

/*
 * Read a whole regular file of at most max bytes into a NUL-terminated
 * buffer.  On failure *cause (when cause is not NULL) names the file and
 * says what went wrong.
 */
int
parse_read_file(const char *path, size_t max, char **bufp, size_t *lenp,
    char **cause)
{
	struct stat	 st;
	struct buf	 b;
	ssize_t		 n;
	int		 fd, saved;
	char		 sz[32];

	buf_init(&b);
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	do {
		buf_reserve(&b, 65536);
		n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n > 0)
			b.len += (size_t)n;
		if (b.len > max)
			goto big;
	} while (n > 0 || (n == -1 && errno == EINTR));
	if (n == -1)
		goto fail;
	close(fd);
	b.data[b.len] = '\0';
	*bufp = b.data;
	*lenp = b.len;
	return (0);
big:
	errno = EFBIG;
fail:
	saved = errno;
	size_text(max, sz, sizeof(sz));
	if (cause != NULL && saved == EFBIG)
		xasprintf(cause, "%s: larger than %s", path, sz);
	else if (cause != NULL)
		xasprintf(cause, "%s: %s", path, strerror(saved));
	if (fd != -1)
		close(fd);
	buf_free(&b);
	errno = saved;
	return (-1);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* The *.conf names of dir (not hidden), sorted bytewise. */
static int
conf_names(const char *dir, struct strlist *names, struct errlist *errs)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n;

	if ((d = opendir(dir)) == NULL) {
		errlist_add(errs, "%s: %s", dir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n <= 5 ||
		    strcmp(de->d_name + n - 5, ".conf") != 0)
			continue;
		strlist_add(names, de->d_name);
	}
	closedir(d);
	if (names->n > 0)
		qsort(names->v, names->n, sizeof(*names->v), name_cmp);
	return (0);
}

/* Move the jobs of one file into all, refusing names already there. */
static void
jobs_merge(struct jobfile *all, struct jobfile *one, struct errlist *errs)
{
	const struct jobdef	*old;
	struct jobdef		*jd;
	size_t			 i;

	for (i = 0; i < one->njobs; i++) {
		jd = one->jobs[i];
		if ((old = job_lookup(all, jd->name)) != NULL) {
			errlist_add(errs, "%s:%u: job '%s' already defined in "
			    "%s:%u", jd->file, jd->line, jd->name, old->file,
			    old->line);
			continue;
		}
		all->jobs = xreallocarray(all->jobs, all->njobs + 1,
		    sizeof(*all->jobs));
		all->jobs[all->njobs++] = jd;
		one->jobs[i] = NULL;
	}
	jobfile_free(one);
}

/*
 * Parse every *.conf file of dir in name order, collecting the errors of
 * all of them.  The result replaces *jf only when there were none.
 */
int
parse_jobs_dir(const char *dir, const struct daemonconf *dc,
    struct jobfile *jf, struct errlist *errs)
{
	struct strlist	 names = { NULL, 0 };
	struct jobfile	 all = { NULL, 0 }, one;
	size_t		 i, len, nerrs = errs->n;
	char		*path, *buf, *cause;

	if (dir != NULL && conf_names(dir, &names, errs) == -1)
		return (-1);
	for (i = 0; i < names.n; i++) {
		path = path_join(dir, names.v[i]);
		memset(&one, 0, sizeof(one));
		if (parse_read_file(path, PARSE_MAX_FILE, &buf, &len,
		    &cause) == -1) {
			errlist_add(errs, "%s", cause);
			free(cause);
		} else {
			if (parse_jobs(path, buf, len, dc, &one, errs) == 0)
				jobs_merge(&all, &one, errs);
			free(buf);
		}
		free(path);
	}
	strlist_free(&names);
	if (errs->n != nerrs) {
		jobfile_free(&all);
		return (-1);
	}
	jobfile_free(jf);
	*jf = all;
	return (0);
}
