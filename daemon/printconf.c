/*
 * printconf.c: the normalized configuration, as `fetchd -t -v` prints it.
 *
 * Every key of a section is printed with its effective value, defaults
 * included, in the order of parse.c's key table (parse_job_keys(),
 * parse_daemon_keys()), in canonical spelling: durations and sizes as
 * util_format_duration() and util_format_size() write them, lists space
 * separated, file names absolute.  The output parses again to the same
 * configuration and so prints identically a second time; the golden tests
 * in tests/conf diff it.  An unset optional value prints as "key =", which
 * parses back to unset.  Values of secret headers print as "<hidden>"
 * (which parses again, to a header that is still secret), except in
 * printconf_jobs_saved().  Here each key name is paired with a printer; a key
 * that parse.c knows and this table does not is printed as a comment, and
 * the unit tests catch it.
 */
#include "config.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetchd.h"

struct pkey {
	const char	*name;
	void		(*print)(FILE *, const struct pkey *, const void *, int);
	size_t		 off;
	size_t		 size;
};

#define FIELD(obj, k, type)						\
	((const type *)(const void *)((const char *)(obj) + (k)->off))

#define PK(type, n, fn, f)						\
	{ n, fn, offsetof(struct type, f), sizeof(((struct type *)0)->f) }

/* "name = value", or "name =" for an empty value. */
static void
kv(FILE *fp, const char *name, const char *val)
{
	if (val == NULL || *val == '\0')
		fprintf(fp, "%s =\n", name);
	else
		fprintf(fp, "%s = %s\n", name, val);
}

static uint64_t
get_uint(const struct pkey *k, const void *obj)
{
	if (k->size == sizeof(uint64_t))
		return (*FIELD(obj, k, uint64_t));
	return (*FIELD(obj, k, unsigned));
}

static void
pr_count(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	fprintf(fp, "%s = %" PRIu64 "\n", k->name, get_uint(k, obj));
}

/* A count where 0 means "auto". */
static void
pr_auto(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	if (get_uint(k, obj) == 0)
		kv(fp, k->name, "auto");
	else
		pr_count(fp, k, obj, hide);
}

/* A count where 0 means "never". */
static void
pr_never(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	if (get_uint(k, obj) == 0)
		kv(fp, k->name, "never");
	else
		pr_count(fp, k, obj, hide);
}

static void
pr_duration(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	char	 s[64];

	util_format_duration(*FIELD(obj, k, int64_t), s, sizeof(s));
	kv(fp, k->name, s);
}

/* A duration where 0 means "none". */
static void
pr_none(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	if (*FIELD(obj, k, int64_t) == 0)
		kv(fp, k->name, "none");
	else
		pr_duration(fp, k, obj, hide);
}

static void
pr_size(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	char	 s[32];

	util_format_size(*FIELD(obj, k, uint64_t), s, sizeof(s));
	kv(fp, k->name, s);
}

static void
pr_bool(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	kv(fp, k->name, *FIELD(obj, k, int) ? "yes" : "no");
}

static void
pr_string(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	kv(fp, k->name, *FIELD(obj, k, char *const));
}

/* A repeatable key: one line per value, none if the list is empty. */
static void
pr_list(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	const struct strlist	*sl = FIELD(obj, k, struct strlist);
	size_t			 i;

	for (i = 0; i < sl->n; i++)
		kv(fp, k->name, sl->v[i]);
}

/*
 * header: the value of a secret header (Authorization, Cookie,
 * Proxy-Authorization, secret-headers) prints as "<hidden>", except in the
 * saved definitions of STATE/jobs, which need it to resume.
 */
static void
pr_headers(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	const struct strlist	*sl = FIELD(obj, k, struct strlist);
	const char		*colon;
	size_t			 i;

	for (i = 0; i < sl->n; i++) {
		colon = strchr(sl->v[i], ':');
		if (hide && colon != NULL && parse_header_secret(obj,
		    sl->v[i]))
			fprintf(fp, "%s = %.*s: <hidden>\n", k->name,
			    (int)(colon - sl->v[i]), sl->v[i]);
		else
			kv(fp, k->name, sl->v[i]);
	}
}

/* A list of words on one line, "key =" when empty. */
static void
pr_words(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	const struct strlist	*sl = FIELD(obj, k, struct strlist);
	size_t			 i;

	fprintf(fp, "%s =", k->name);
	for (i = 0; i < sl->n; i++)
		fprintf(fp, " %s", sl->v[i]);
	fputc('\n', fp);
}

/* A fraction printed as a percentage ("20%"). */
static void
pr_percent(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	fprintf(fp, "%s = %g%%\n", k->name, *FIELD(obj, k, double) * 100.0);
}

static void
pr_rate(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	double	 v = *FIELD(obj, k, double);

	if (v <= 0)
		kv(fp, k->name, "unlimited");
	else
		fprintf(fp, "%s = %g\n", k->name, v);
}

static void
pr_min_success(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	const struct jobdef	*jd = obj;

	if (jd->min_success_pct)
		fprintf(fp, "%s = %g%%\n", k->name, jd->min_success * 100.0);
	else
		fprintf(fp, "%s = %.0f\n", k->name, jd->min_success);
}

static void
pr_expect(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	const struct jobdef	*jd = obj;
	size_t			 i;

	fprintf(fp, "%s =", k->name);
	for (i = 0; i < jd->nexpect; i++) {
		if (jd->expect[i].lo == jd->expect[i].hi)
			fprintf(fp, " %d", jd->expect[i].lo);
		else
			fprintf(fp, " %d-%d", jd->expect[i].lo,
			    jd->expect[i].hi);
	}
	fputc('\n', fp);
}

static void
pr_retry_on(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	static const char *const names[] = {
		"connect", "dns", "timeout", "5xx", "429", "408", "reset"
	};
	static const unsigned bits[] = {
		RETRY_CONNECT, RETRY_DNS, RETRY_TIMEOUT, RETRY_5XX,
		RETRY_429, RETRY_408, RETRY_RESET
	};
	unsigned	 v = *FIELD(obj, k, unsigned);
	size_t		 i;

	if ((v & RETRY_ALL) == 0) {
		kv(fp, k->name, "none");
		return;
	}
	fprintf(fp, "%s =", k->name);
	for (i = 0; i < nitems(names); i++)
		if (v & bits[i])
			fprintf(fp, " %s", names[i]);
	fputc('\n', fp);
}

static void
pr_sync(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	static const char *const names[] = { "batch", "always", "never" };
	int		 v = *FIELD(obj, k, int);

	kv(fp, k->name, v >= 0 && (size_t)v < nitems(names) ? names[v] :
	    "batch");
}

static void
pr_overlap(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	static const char *const names[] = { "skip", "queue", "cancel" };
	enum overlap	 v = *FIELD(obj, k, enum overlap);

	kv(fp, k->name, (size_t)v < nitems(names) ? names[v] : "skip");
}

/*
 * NULL: from the environment; "": no proxy.  A password in the proxy URL
 * (http://user:password@host) is hidden like a secret header.
 */
static void
pr_proxy(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	const char	*v = *FIELD(obj, k, char *const);
	const char	*u, *at, *colon;
	size_t		 n;

	if (hide && v != NULL && (u = strstr(v, "://")) != NULL) {
		u += 3;
		n = strcspn(u, "/?#");
		at = memchr(u, '@', n);
		colon = at != NULL ? memchr(u, ':', (size_t)(at - u)) : NULL;
		if (colon != NULL) {
			fprintf(fp, "%s = %.*s:<hidden>%s\n", k->name,
			    (int)(colon - v), v, at);
			return;
		}
	}
	kv(fp, k->name, v == NULL ? "env" : *v == '\0' ? "none" : v);
}

static void
pr_log_level(FILE *fp, const struct pkey *k, const void *obj, int hide)
{
	kv(fp, k->name, log_level_name(*FIELD(obj, k, int)));
}

#define JK(n, fn, f)	PK(jobdef, n, fn, f)
#define DK(n, fn, f)	PK(daemonconf, n, fn, f)

/* Printers of the job keys, sorted by name. */
static const struct pkey job_print[] = {
	JK("abort-after", pr_never, abort_after),
	JK("backoff", pr_duration, backoff),
	JK("backoff-max", pr_duration, backoff_max),
	JK("body", pr_string, body),
	JK("body-file", pr_string, body_file),
	JK("breaker", pr_never, breaker),
	JK("ca-file", pr_string, ca_file),
	JK("compressed", pr_bool, compressed),
	JK("concurrency", pr_count, concurrency),
	JK("conditional", pr_bool, conditional),
	JK("connect-timeout", pr_duration, connect_timeout),
	JK("deadline", pr_none, deadline),
	JK("every", pr_none, every),
	JK("expect", pr_expect, expect),
	JK("extract", pr_string, extract),
	JK("header", pr_headers, headers),
	JK("http2", pr_bool, http2),
	JK("insecure", pr_bool, insecure),
	JK("keep", pr_count, keep),
	JK("max-body", pr_size, max_body),
	JK("max-redirs", pr_count, max_redirs),
	JK("method", pr_string, method),
	JK("min-success", pr_min_success, min_success),
	JK("overlap", pr_overlap, overlap),
	JK("per-host", pr_count, per_host),
	JK("proxy", pr_proxy, proxy),
	JK("rate", pr_rate, rate),
	JK("retries", pr_count, retries),
	JK("retry-budget", pr_percent, retry_budget),
	JK("retry-on", pr_retry_on, retry_on),
	JK("retry-unsafe", pr_bool, retry_unsafe),
	JK("secret-headers", pr_words, secret_headers),
	JK("stall-timeout", pr_none, stall_timeout),
	JK("timeout", pr_duration, timeout),
	JK("url", pr_list, urls),
	JK("urls-file", pr_string, urls_file),
};

/* Printers of the [daemon] keys, sorted by name. */
static const struct pkey daemon_print[] = {
	DK("admin-group", pr_string, admin_group),
	DK("drain-timeout", pr_duration, drain_timeout),
	DK("fetch-threads", pr_auto, fetch_threads),
	DK("jobs-dir", pr_string, jobs_dir),
	DK("log-level", pr_log_level, log_level),
	DK("max-clients", pr_count, max_clients),
	DK("max-connections", pr_count, max_connections),
	DK("max-jobs", pr_count, max_jobs),
	DK("max-urls", pr_count, max_urls),
	DK("socket", pr_string, socket),
	DK("state-dir", pr_string, state_dir),
	DK("submit-dirs", pr_words, submit_dirs),
	DK("sync", pr_sync, sync),
	DK("user", pr_string, user),
	DK("user-agent", pr_string, user_agent),
};

static int
pkey_cmp(const void *a, const void *b)
{
	return (strcmp(a, ((const struct pkey *)b)->name));
}

/* Print every key of names[] that has a printer, in that order. */
static void
print_keys(FILE *fp, const char *const *names, size_t n,
    const struct pkey *tab, size_t ntab, const void *obj, int hide)
{
	const struct pkey	*k;
	size_t			 i;

	for (i = 0; i < n; i++) {
		k = bsearch(names[i], tab, ntab, sizeof(*tab), pkey_cmp);
		if (k != NULL)
			k->print(fp, k, obj, hide);
		else
			fprintf(fp, "# %s: no printer\n", names[i]);
	}
}

void
printconf_daemon(FILE *fp, const struct daemonconf *dc)
{
	const char *const	*names;
	size_t			 n;

	names = parse_daemon_keys(&n);
	fprintf(fp, "[daemon]\n");
	print_keys(fp, names, n, daemon_print, nitems(daemon_print), dc, 1);
}

/* Every job as its own section, each preceded by a blank line. */
static void
print_jobs(FILE *fp, const struct jobfile *jf, int hide)
{
	const char *const	*names;
	size_t			 n, i;

	names = parse_job_keys(&n);
	for (i = 0; i < jf->njobs; i++) {
		fprintf(fp, "\n[job %s]\n", jf->jobs[i]->name);
		print_keys(fp, names, n, job_print, nitems(job_print),
		    jf->jobs[i], hide);
	}
}

void
printconf_jobs(FILE *fp, const struct jobfile *jf)
{
	print_jobs(fp, jf, 1);
}

/* For STATE/jobs/NAME.conf (mode 0600): secret values kept. */
void
printconf_jobs_saved(FILE *fp, const struct jobfile *jf)
{
	print_jobs(fp, jf, 0);
}
