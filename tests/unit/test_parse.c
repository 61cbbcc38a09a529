/*
 * test_parse.c: unit tests of daemon/parse.c and daemon/printconf.c.
 *
 * Every error message of the parser is checked by its exact text, with its
 * file and line; the defaults of every key; relative paths; the daemon
 * file; a jobs directory with several files; and the round trip
 * parse -> print -> parse -> print, which must print identically.
 */
#include "config.h"

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetchd.h"

#define NAME	"jobs.conf"

static int
parse(const char *name, const char *text, const struct daemonconf *dc,
    struct jobfile *jf, struct errlist *errs)
{
	return (parse_jobs(name, text, strlen(text), dc, jf, errs));
}

/* text must parse; the caller frees jf. */
static void
parse_ok(const char *name, const char *text, struct jobfile *jf)
{
	struct errlist	 errs = { NULL, 0 };

	memset(jf, 0, sizeof(*jf));
	if (parse(name, text, NULL, jf, &errs) == -1)
		fail_msg("unexpected error: %s", errs.v[0]);
	assert_int_equal(errs.n, 0);
}

/* text (with dc, may be NULL) must fail with exactly the listed errors. */
static void
check_errors_dc(const struct daemonconf *dc, const char *text, ...)
{
	struct jobfile	 jf = { NULL, 0 };
	struct errlist	 errs = { NULL, 0 };
	const char	*want;
	va_list		 ap;
	size_t		 i = 0;

	assert_int_equal(parse(NAME, text, dc, &jf, &errs), -1);
	assert_null(jf.jobs);			/* untouched */
	assert_int_equal(jf.njobs, 0);
	va_start(ap, text);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (i >= errs.n)
			fail_msg("missing error: %s", want);
		assert_string_equal(errs.v[i], want);
		i++;
	}
	va_end(ap);
	if (i < errs.n)
		fail_msg("unexpected error: %s", errs.v[i]);
	errlist_free(&errs);
}

#define check_errors(...)	check_errors_dc(NULL, __VA_ARGS__)

/* One bad "key = value" on line 3 of a job that is otherwise fine. */
static void
bad_value(const char *line, const char *want)
{
	char	*text, *msg;

	if (asprintf(&text, "[job x]\nurl = http://x/\n%s\n", line) == -1 ||
	    asprintf(&msg, NAME ":3: %s", want) == -1)
		fail();
	check_errors(text, msg, NULL);
	free(text);
	free(msg);
}

/* One good "key = value" in job x; returns its jobdef (caller frees jf). */
static struct jobdef *
good_value(struct jobfile *jf, const char *line)
{
	char	*text;

	if (asprintf(&text, "[job x]\nurl = http://x/\n%s\n", line) == -1)
		fail();
	parse_ok("/etc/fetchd/jobs.d/x.conf", text, jf);
	free(text);
	assert_int_equal(jf->njobs, 1);
	return (jf->jobs[0]);
}

/* What printconf writes, as a string. */
static char *
print_jobs(const struct jobfile *jf)
{
	char	*s = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&s, &len)) == NULL)
		fail();
	printconf_jobs(fp, jf);
	fclose(fp);
	return (s);
}

/* Secret header values are hidden, except in saved definitions. */
static void
t_print_secrets(void **state)
{
	static const char text[] = "[job s]\nurl = http://x/\n"
	    "header = Authorization: Bearer T0K\n"
	    "header = cookie: c=C00K\nheader = X-Key: K3Y\n"
	    "header = X-Plain: visible\nsecret-headers = x-key, X-Other\n";
	struct jobfile	 jf = { NULL, 0 };
	struct errlist	 errs = { NULL, 0 };
	char		*p = NULL;
	size_t		 len = 0;
	FILE		*fp;

	(void)state;
	assert_int_equal(parse_jobs(NAME, text, strlen(text), NULL, &jf,
	    &errs), 0);
	p = print_jobs(&jf);
	assert_non_null(strstr(p, "header = Authorization: <hidden>\n"));
	assert_non_null(strstr(p, "header = cookie: <hidden>\n"));
	assert_non_null(strstr(p, "header = X-Key: <hidden>\n"));
	assert_non_null(strstr(p, "header = X-Plain: visible\n"));
	assert_non_null(strstr(p, "secret-headers = x-key X-Other\n"));
	assert_null(strstr(p, "T0K"));
	assert_null(strstr(p, "C00K"));
	assert_null(strstr(p, "K3Y"));
	free(p);
	p = NULL;
	if ((fp = open_memstream(&p, &len)) == NULL)
		fail();
	printconf_jobs_saved(fp, &jf);
	fclose(fp);
	assert_non_null(strstr(p, "header = Authorization: Bearer T0K\n"));
	assert_non_null(strstr(p, "header = X-Key: K3Y\n"));
	free(p);
	jobfile_free(&jf);
}

static char *
print_daemon(const struct daemonconf *dc)
{
	char	*s = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&s, &len)) == NULL)
		fail();
	printconf_daemon(fp, dc);
	fclose(fp);
	return (s);
}

/* The key tables are sorted (bsearch) and have no duplicates. */
static void
t_key_tables(void **state)
{
	const char *const	*k;
	size_t			 n, i;

	(void)state;
	k = parse_job_keys(&n);
	assert_int_equal(n, 36);
	for (i = 1; i < n; i++)
		assert_true(strcmp(k[i - 1], k[i]) < 0);
	k = parse_daemon_keys(&n);
	assert_int_equal(n, 15);
	for (i = 1; i < n; i++)
		assert_true(strcmp(k[i - 1], k[i]) < 0);
}

static void
t_job_defaults(void **state)
{
	struct jobfile	 jf;
	struct jobdef	*d;

	(void)state;
	parse_ok("/etc/fetchd/jobs.d/a.conf", "[job a]\nurl = http://x/\n",
	    &jf);
	d = jf.jobs[0];
	assert_string_equal(d->name, "a");
	assert_string_equal(d->file, "/etc/fetchd/jobs.d/a.conf");
	assert_int_equal(d->line, 1);
	assert_string_equal(d->dir, "/etc/fetchd/jobs.d");
	assert_int_equal(d->urls.n, 1);
	assert_string_equal(d->urls.v[0], "http://x/");
	assert_null(d->urls_file);
	assert_string_equal(d->method, "GET");
	assert_int_equal(d->headers.n, 0);
	assert_null(d->body);
	assert_null(d->body_file);
	assert_int_equal(d->concurrency, 50);
	assert_int_equal(d->per_host, 16);
	assert_true(d->rate == 0);
	assert_int_equal(d->connect_timeout, 5 * USEC_PER_SEC);
	assert_int_equal(d->timeout, 30 * USEC_PER_SEC);
	assert_int_equal(d->stall_timeout, 15 * USEC_PER_SEC);
	assert_int_equal(d->deadline, 0);
	assert_int_equal(d->retries, 2);
	assert_int_equal(d->retry_on, RETRY_ALL);
	assert_int_equal(d->backoff, 250 * USEC_PER_MSEC);
	assert_int_equal(d->backoff_max, 30 * USEC_PER_SEC);
	assert_int_equal(d->max_body, 8 * 1024 * 1024);
	assert_int_equal(d->nexpect, 1);
	assert_int_equal(d->expect[0].lo, 200);
	assert_int_equal(d->expect[0].hi, 299);
	assert_null(d->extract);
	assert_int_equal(d->retry_unsafe, 0);
	assert_true(d->retry_budget > 0.1999 && d->retry_budget < 0.2001);
	assert_true(d->min_success == 1);
	assert_int_equal(d->min_success_pct, 0);
	assert_int_equal(d->abort_after, 0);
	assert_int_equal(d->breaker, 10);
	assert_null(d->ca_file);
	assert_int_equal(d->insecure, 0);
	assert_null(d->proxy);
	assert_int_equal(d->compressed, 1);
	assert_int_equal(d->http2, 1);
	assert_int_equal(d->every, 0);
	assert_int_equal(d->overlap, OVERLAP_SKIP);
	assert_int_equal(d->conditional, 0);
	assert_int_equal(d->keep, 10);
	jobfile_free(&jf);
}

/* Every key set to something other than its default. */
static const char full_job[] =
    "# A job with every key.\n"
    "[job full]\n"
    "url = https://api.example.com/item/[001-200]\n"
    "url = HTTP://{a,b}.example.com/x?q=1#frag\n"
    "urls-file = urls.txt\n"
    "method = POST\n"
    "header = Accept:   application/json\n"
    "header = X-Empty:\n"
    "body = {\"a\": 1} # trailing comment\n"
    "concurrency = 20\n"
    "per-host = 4\n"
    "rate = 12.5\n"
    "connect-timeout = 2s\n"
    "timeout = 1m30s\n"
    "stall-timeout = none\n"
    "deadline = 1h\n"
    "retries = 5\n"
    "retry-on = 5xx, 429 timeout\n"
    "backoff = 1.5s\n"
    "backoff-max = 1min\n"
    "max-body = 512K\n"
    "expect = 200-299, 304\n"
    "extract = /data/items\n"
    "retry-unsafe = yes\n"
    "retry-budget = 50%\n"
    "min-success = 90%\n"
    "abort-after = 100\n"
    "breaker = never\n"
    "ca-file = /etc/ssl/ca.pem\n"
    "insecure = on\n"
    "proxy = none\n"
    "compressed = off\n"
    "http2 = false\n"
    "every = 5m\n"
    "overlap = queue\n"
    "conditional = 1\n"
    "keep = 3\n";

static void
t_job_values(void **state)
{
	struct jobfile	 jf;
	struct jobdef	*d;

	(void)state;
	parse_ok("/etc/fetchd/jobs.d/full.conf", full_job, &jf);
	d = jf.jobs[0];
	assert_int_equal(d->line, 2);
	assert_int_equal(d->urls.n, 2);
	assert_string_equal(d->urls.v[1],
	    "HTTP://{a,b}.example.com/x?q=1#frag");
	assert_string_equal(d->urls_file, "/etc/fetchd/jobs.d/urls.txt");
	assert_string_equal(d->method, "POST");
	assert_int_equal(d->headers.n, 2);
	assert_string_equal(d->headers.v[0], "Accept: application/json");
	assert_string_equal(d->headers.v[1], "X-Empty:");
	assert_string_equal(d->body, "{\"a\": 1}");
	assert_int_equal(d->concurrency, 20);
	assert_int_equal(d->per_host, 4);
	assert_true(d->rate == 12.5);
	assert_int_equal(d->connect_timeout, 2 * USEC_PER_SEC);
	assert_int_equal(d->timeout, 90 * USEC_PER_SEC);
	assert_int_equal(d->stall_timeout, 0);
	assert_int_equal(d->deadline, 3600 * USEC_PER_SEC);
	assert_int_equal(d->retries, 5);
	assert_int_equal(d->retry_on, RETRY_5XX | RETRY_429 | RETRY_TIMEOUT);
	assert_int_equal(d->backoff, 1500 * USEC_PER_MSEC);
	assert_int_equal(d->backoff_max, 60 * USEC_PER_SEC);
	assert_int_equal(d->max_body, 512 * 1024);
	assert_int_equal(d->nexpect, 2);
	assert_int_equal(d->expect[1].lo, 304);
	assert_int_equal(d->expect[1].hi, 304);
	assert_string_equal(d->extract, "/data/items");
	assert_int_equal(d->retry_unsafe, 1);
	assert_true(d->retry_budget == 0.5);
	assert_true(d->min_success > 0.8999 && d->min_success < 0.9001);
	assert_int_equal(d->min_success_pct, 1);
	assert_int_equal(d->abort_after, 100);
	assert_int_equal(d->breaker, 0);
	assert_string_equal(d->ca_file, "/etc/ssl/ca.pem");
	assert_int_equal(d->insecure, 1);
	assert_string_equal(d->proxy, "");
	assert_int_equal(d->compressed, 0);
	assert_int_equal(d->http2, 0);
	assert_int_equal(d->every, 300 * USEC_PER_SEC);
	assert_int_equal(d->overlap, OVERLAP_QUEUE);
	assert_int_equal(d->conditional, 1);
	assert_int_equal(d->keep, 3);
	jobfile_free(&jf);
}

static void
t_syntax(void **state)
{
	struct jobfile	 jf;
	struct jobdef	*d;
	char		 name[65], text[128];

	(void)state;
	/* Comments, blank lines, CRLF, tabs, a BOM, several jobs. */
	parse_ok(NAME, "\xef\xbb\xbf# comment\r\n\r\n  # indented\n"
	    "[job a]  # trailing\r\n\turl\t=\thttp://x/#frag\r\n"
	    "body = #not a comment\n"
	    "concurrency=7 # seven\n\n[ job  b.c_d-9 ]\nurls-file = /u\n",
	    &jf);
	assert_int_equal(jf.njobs, 2);
	d = jf.jobs[0];
	assert_string_equal(d->urls.v[0], "http://x/#frag");
	assert_string_equal(d->body, "#not a comment");
	assert_int_equal(d->concurrency, 7);
	assert_string_equal(jf.jobs[1]->name, "b.c_d-9");
	assert_int_equal(jf.jobs[1]->line, 9);
	jobfile_free(&jf);
	/* An empty file is fine: no jobs. */
	parse_ok(NAME, "", &jf);
	assert_int_equal(jf.njobs, 0);
	jobfile_free(&jf);
	/* A 64-character name is the longest. */
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(text, sizeof(text), "[job %s]\nurl = http://x/\n", name);
	parse_ok(NAME, text, &jf);
	assert_string_equal(jf.jobs[0]->name, name);
	jobfile_free(&jf);
}

/* Relative file names are made absolute against the file's directory. */
static void
t_paths(void **state)
{
	struct jobfile	 jf;
	struct jobdef	*d;
	char		 cwd[4096], want[4200];

	(void)state;
	parse_ok("/etc/fetchd/jobs.d/p.conf", "[job p]\nurls-file = u.txt\n"
	    "body-file = ../b.json\nca-file = /abs/ca.pem\n", &jf);
	d = jf.jobs[0];
	assert_string_equal(d->urls_file, "/etc/fetchd/jobs.d/u.txt");
	assert_string_equal(d->body_file, "/etc/fetchd/jobs.d/../b.json");
	assert_string_equal(d->ca_file, "/abs/ca.pem");
	jobfile_free(&jf);
	parse_ok("/p.conf", "[job p]\nurls-file = u.txt\n", &jf);
	assert_string_equal(jf.jobs[0]->urls_file, "/u.txt");
	jobfile_free(&jf);
	/* A relative file name: against the working directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	parse_ok("sub/p.conf", "[job p]\nurls-file = u.txt\n", &jf);
	snprintf(want, sizeof(want), "%s/sub/u.txt", cwd);
	assert_string_equal(jf.jobs[0]->urls_file, want);
	jobfile_free(&jf);
	/* An empty value unsets. */
	parse_ok(NAME, "[job p]\nurl = http://x/\nurls-file =\n", &jf);
	assert_null(jf.jobs[0]->urls_file);
	jobfile_free(&jf);
}

static void
t_structure_errors(void **state)
{
	(void)state;
	check_errors("\nurl = http://x/\n",
	    NAME ":2: key 'url' outside of a [job NAME] section", NULL);
	check_errors("[job x]\nurl = http://x/\nconcurency = 3\n",
	    NAME ":3: unknown key 'concurency' (did you mean 'concurrency'?)",
	    NULL);
	check_errors("[job x]\nurl = http://x/\nTimeOut = 3s\n",
	    NAME ":3: unknown key 'TimeOut' (did you mean 'timeout'?)", NULL);
	check_errors("[job x]\nurl = http://x/\nzzzzzzzz = 3\n",
	    NAME ":3: unknown key 'zzzzzzzz'", NULL);
	check_errors("[job x]\nurl = http://x/\nx = 3\n",
	    NAME ":3: unknown key 'x'", NULL);
	check_errors("[job x]\nurl = http://x/\n"
	    "concurrencyconcurrencyconcurrencyconcurrency = 3\n",
	    NAME ":3: unknown key "
	    "'concurrencyconcurrencyconcurrencyconcurrency'", NULL);
	check_errors("[job x]\n",
	    NAME ":1: job 'x': no url or urls-file", NULL);
	check_errors("[job x]\nurl = http://x/\ntimeout = 1s\ntimeout = 2s\n",
	    NAME ":4: timeout: already set on line 3", NULL);
	check_errors("[job a]\nurl = http://x/\n[job a]\nurl = http://y/\n",
	    NAME ":3: job 'a' already defined on line 1", NULL);
	check_errors("[job .x]\n", NAME ":1: job name '.x': expected 1 to 64 "
	    "of A-Z a-z 0-9 _ . - not starting with '.'", NULL);
	check_errors("[job a/b]\n", NAME ":1: job name 'a/b': expected 1 to "
	    "64 of A-Z a-z 0-9 _ . - not starting with '.'", NULL);
	check_errors("[job a b]\n", NAME ":1: job name 'a b': expected 1 to "
	    "64 of A-Z a-z 0-9 _ . - not starting with '.'", NULL);
	check_errors("[job aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaa]\n",
	    NAME ":1: job name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaa': expected 1 to 64 of A-Z a-z 0-9 _ . - "
	    "not starting with '.'", NULL);
	check_errors("[job]\n",
	    NAME ":1: section [job] needs a name, like [job items]", NULL);
	check_errors("[jobs x]\nurl = http://x/\n",
	    NAME ":1: unknown section '[jobs x]' (expected [job NAME])", NULL);
	check_errors("[daemon]\nsocket = /x\n",
	    NAME ":1: unknown section '[daemon]' (expected [job NAME])", NULL);
	check_errors("[job x\nurl = http://x/\n",
	    NAME ":1: expected ']' at the end of '[job x'", NULL);
	check_errors("[job x]\nurl = http://x/\nfoo # bar\n",
	    NAME ":3: expected 'key = value', got 'foo'", NULL);
	check_errors("[job x]\nurl = http://x/\n= 5\n",
	    NAME ":3: expected 'key = value', got '= 5'", NULL);
}

/* Errors are counted and parsing carries on at the next line. */
static void
t_resync(void **state)
{
	(void)state;
	check_errors("[job a]\nconcurrency = abc\nurl = ftp://x\n"
	    "timeout = 10 parsecs\n[job b]\nurl = http://ok/\n[job c]\n"
	    "retries = 1\n",
	    NAME ":2: concurrency: expected a number from 1 to 100000, "
	    "got 'abc'",
	    NAME ":3: url: expected an http:// or https:// URL, got 'ftp://x'",
	    NAME ":4: timeout: expected a duration like 250ms, 10s, 5m or "
	    "1h30m, got '10 parsecs'",
	    NAME ":7: job 'c': no url or urls-file", NULL);
	/* Keys after a bad section header are skipped, not reported. */
	check_errors("[jobx]\nurl = http://x/\nbogus = 1\n[job ok]\n"
	    "url = http://x/\n",
	    NAME ":1: unknown section '[jobx]' (expected [job NAME])", NULL);
}

static void
t_limits(void **state)
{
	char	*big;
	size_t	 i, n;

	(void)state;
	/* A line longer than 64 KiB. */
	n = 70000;
	big = malloc(n + 32);
	assert_non_null(big);
	strcpy(big, "[job x]\nbody = ");
	for (i = strlen(big); i < n; i++)
		big[i] = 'a';
	strcpy(big + n, "\nurl = http://x/\n");
	check_errors(big, NAME ":2: line longer than 65536 bytes", NULL);
	free(big);
	/* A NUL byte. */
	{
		struct jobfile	 jf = { NULL, 0 };
		struct errlist	 errs = { NULL, 0 };
		static const char t[] =
		    "[job x]\nurl = http://x/\nbody = a\0b\n";

		assert_int_equal(parse_jobs(NAME, t, sizeof(t) - 1, NULL, &jf,
		    &errs), -1);
		assert_int_equal(errs.n, 1);
		assert_string_equal(errs.v[0], NAME ":3: NUL byte in line");
		errlist_free(&errs);
	}
	/* More than 8 MiB. */
	{
		struct jobfile	 jf = { NULL, 0 };
		struct errlist	 errs = { NULL, 0 };

		n = 8 * 1024 * 1024 + 1;
		big = calloc(1, n + 1);
		assert_non_null(big);
		memset(big, '\n', n);
		assert_int_equal(parse_jobs(NAME, big, n, NULL, &jf, &errs),
		    -1);
		assert_int_equal(errs.n, 1);
		assert_string_equal(errs.v[0], NAME ": larger than 8M");
		errlist_free(&errs);
		free(big);
	}
}

/* A file holds at most max-jobs jobs. */
static void
t_max_jobs(void **state)
{
	struct daemonconf	 dc;
	struct buf		 b;
	int			 i;

	(void)state;
	daemonconf_defaults(&dc);
	dc.max_jobs = 3;
	buf_init(&b);
	for (i = 0; i < 5; i++)
		buf_printf(&b, "[job j%d]\nurl = http://x/\n", i);
	check_errors_dc(&dc, b.data,
	    NAME ":7: more than max-jobs 3 jobs in one file", NULL);
	buf_free(&b);
	daemonconf_free(&dc);
}

/* After 100 errors the parser says so once and stops. */
static void
t_too_many_errors(void **state)
{
	struct jobfile	 jf = { NULL, 0 };
	struct errlist	 errs = { NULL, 0 };
	struct buf	 b;
	int		 i;

	(void)state;
	buf_init(&b);
	buf_adds(&b, "[job x]\nurl = http://x/\n");
	for (i = 0; i < 150; i++)
		buf_adds(&b, "bogus\n");
	assert_int_equal(parse_jobs(NAME, b.data, b.len, NULL, &jf, &errs),
	    -1);
	assert_int_equal(errs.n, 101);
	assert_string_equal(errs.v[0], NAME ":3: expected 'key = value', got "
	    "'bogus'");
	assert_string_equal(errs.v[99], NAME ":102: expected 'key = value', "
	    "got 'bogus'");
	assert_string_equal(errs.v[100], NAME ": too many errors, giving up");
	errlist_free(&errs);
	buf_free(&b);
}

static void
t_url_errors(void **state)
{
	struct daemonconf	 dc;
	struct jobfile		 jf;
	struct jobdef		*d;

	(void)state;
	bad_value("url = ftp://x/", "url: expected an http:// or https:// "
	    "URL, got 'ftp://x/'");
	bad_value("url = http://", "url: expected an http:// or https:// "
	    "URL, got 'http://'");
	bad_value("url = http:///x", "url: expected an http:// or https:// "
	    "URL, got 'http:///x'");
	bad_value("url = x.com", "url: expected an http:// or https:// URL, "
	    "got 'x.com'");
	bad_value("url = http://x/a b", "url: expected a URL without "
	    "whitespace or control characters, got 'http://x/a b'");
	bad_value("url = http://x/[9-0]",
	    "url: reversed range '[9-0]' at position 10");
	bad_value("url = http://x/{}", "url: empty set '{}' at position 10");
	d = good_value(&jf, "url = HTTPS://[::1]:8443/{a,b}/[01-10]");
	assert_string_equal(d->urls.v[1], "HTTPS://[::1]:8443/{a,b}/[01-10]");
	jobfile_free(&jf);
	/* max-urls: one glob, and the job's total. */
	daemonconf_defaults(&dc);
	dc.max_urls = 100;
	check_errors_dc(&dc, "[job x]\nurl = http://x/[1-200]\n",
	    NAME ":2: url: glob expands to 200 URLs, more than max-urls 100",
	    NULL);
	check_errors_dc(&dc, "[job x]\nurl = http://x/[1-60]\n"
	    "url = http://y/[1-40]\nurl = http://z/[1-2]\nurl = http://w/\n",
	    NAME ":4: url: job 'x' has more than max-urls 100 URLs in total",
	    NULL);
	memset(&jf, 0, sizeof(jf));
	{
		struct errlist	 errs = { NULL, 0 };
		const char	*t = "[job x]\nurl = http://x/[1-60]\n"
		    "url = http://y/[1-40]\n[job y]\nurl = http://x/[1-100]\n";

		assert_int_equal(parse(NAME, t, &dc, &jf, &errs), 0);
		jobfile_free(&jf);
	}
	daemonconf_free(&dc);
}

static void
t_value_errors(void **state)
{
	(void)state;
	bad_value("concurrency = abc", "concurrency: expected a number from "
	    "1 to 100000, got 'abc'");
	bad_value("concurrency = 0", "concurrency: expected a number from "
	    "1 to 100000, got '0'");
	bad_value("per-host = -1", "per-host: expected a number from 1 to "
	    "100000, got '-1'");
	bad_value("retries = 101", "retries: expected a number from 0 to "
	    "100, got '101'");
	bad_value("keep = 0", "keep: expected a number from 1 to 100000, "
	    "got '0'");
	bad_value("abort-after = x", "abort-after: expected 'never' or a "
	    "number from 1 to 18446744073709551615, got 'x'");
	bad_value("breaker = 0", "breaker: expected 'never' or a number from "
	    "1 to 1000000, got '0'");
	bad_value("timeout = 10 parsecs", "timeout: expected a duration like "
	    "250ms, 10s, 5m or 1h30m, got '10 parsecs'");
	bad_value("connect-timeout = 0", "connect-timeout: expected a "
	    "duration from 1ms to 365d, got '0'");
	bad_value("timeout = 400d", "timeout: expected a duration from 1ms "
	    "to 365d, got '400d'");
	bad_value("every = 10ms", "every: expected 'none' or a duration from "
	    "1s to 365d, got '10ms'");
	bad_value("deadline = never", "deadline: expected a duration like "
	    "250ms, 10s, 5m or 1h30m, got 'never'");
	bad_value("max-body = big", "max-body: expected a size like 512K, 8M "
	    "or 1G, got 'big'");
	bad_value("max-body = 2G", "max-body: expected a size from 1 to 1G, "
	    "got '2G'");
	bad_value("insecure = maybe", "insecure: expected yes or no, got "
	    "'maybe'");
	bad_value("retry-budget = 0.2", "retry-budget: expected a percentage "
	    "from 0% to 100%, got '0.2'");
	bad_value("min-success = many", "min-success: expected a count like 1 "
	    "or a percentage like 90%, got 'many'");
	bad_value("min-success = 120%", "min-success: expected a count like 1 "
	    "or a percentage like 90%, got '120%'");
	bad_value("rate = fast", "rate: expected 'unlimited' or requests per "
	    "second up to 1000000, got 'fast'");
	bad_value("rate = 1e9", "rate: expected 'unlimited' or requests per "
	    "second up to 1000000, got '1e9'");
	bad_value("overlap = kill", "overlap: expected skip, queue or cancel, "
	    "got 'kill'");
	bad_value("method = get", "method: expected an uppercase method like "
	    "GET or POST, got 'get'");
	bad_value("method = GET /", "method: expected an uppercase method "
	    "like GET or POST, got 'GET /'");
	bad_value("method =", "method: expected an uppercase method like GET "
	    "or POST, got ''");
	bad_value("extract = data", "extract: expected a JSON pointer like "
	    "/data/items, got 'data'");
	bad_value("extract = /a~2", "extract: expected a JSON pointer like "
	    "/data/items, got '/a~2'");
	bad_value("proxy = http://a b", "proxy: expected env, none or a proxy "
	    "like http://proxy:3128, got 'http://a b'");
	bad_value("ca-file = a\x01" "b", "ca-file: expected a path without "
	    "control characters, got 'a?b'");
}

static void
t_list_errors(void **state)
{
	struct buf	 b;
	int		 i;

	(void)state;
	bad_value("expect = 600", "expect: expected statuses from 100 to 599 "
	    "like 200-299, 304, got '600'");
	bad_value("expect = 299-200", "expect: expected statuses from 100 to "
	    "599 like 200-299, 304, got '299-200'");
	bad_value("expect = 200-", "expect: expected statuses from 100 to 599 "
	    "like 200-299, 304, got '200-'");
	bad_value("expect = ,", "expect: expected statuses from 100 to 599 "
	    "like 200-299, 304, got ','");
	buf_init(&b);
	buf_adds(&b, "expect =");
	for (i = 0; i < 65; i++)
		buf_printf(&b, " %d", 200 + i);
	bad_value(b.data, "expect: more than 64 statuses or ranges");
	buf_free(&b);
	bad_value("retry-on = 5xx foo", "retry-on: unknown failure class "
	    "'foo' (expected connect, dns, timeout, 5xx, 429, 408 or reset)");
	bad_value("retry-on =", "retry-on: expected failure classes like "
	    "'connect dns 5xx' or none, got ''");
	bad_value("header = NoColon", "header: expected 'Name: value', got no "
	    "':' after 'NoColon'");
	bad_value("header = : x", "header: expected 'Name: value', with a "
	    "name of letters, digits and !#$%&'*+-.^_`|~");
	bad_value("header = Bad Name: x", "header: expected 'Name: value', "
	    "got no ':' after 'Bad'");
	/* Errors name a header, never quote its value (it may be secret). */
	bad_value("Authorization: Bearer a=b", "expected 'key = value', got a "
	    "line 'Authorization: ...' (header = Authorization: ...?)");
	bad_value("cookie: c", "expected 'key = value', got a line "
	    "'cookie: ...' (header = cookie: ...?)");
	bad_value("X-Other: v", "expected 'key = value', got 'X-Other: v'");
	bad_value("header = Cookie: a\x01b", "header: control character in "
	    "the value of 'Cookie'");
	bad_value("secret-headers = X-Ok, Bad/Name", "secret-headers: expected "
	    "header names like X-Api-Key, got 'X-Ok, Bad/Name'");
	bad_value("max-redirs = 101", "max-redirs: expected a number from 0 "
	    "to 100, got '101'");
	bad_value("header = X-A: a\rb", "header: control character in "
	    "the value of 'X-A'");
}

static void
t_header_limit(void **state)
{
	struct buf	 b;
	int		 i;

	(void)state;
	buf_init(&b);
	buf_adds(&b, "[job x]\nurl = http://x/\n");
	for (i = 0; i < 101; i++)
		buf_printf(&b, "header = X-%d: %d\n", i, i);
	check_errors(b.data, NAME ":103: header: more than 100 headers", NULL);
	buf_free(&b);
}

static void
t_cross_checks(void **state)
{
	(void)state;
	check_errors("[job x]\nurl = http://x/\nbody-file = b\nbody = x\n",
	    NAME ":4: job 'x': body and body-file are mutually exclusive",
	    NULL);
	check_errors("[job x]\nbackoff-max = 100ms\nurl = http://x/\n",
	    NAME ":2: job 'x': backoff-max (100ms) is less than backoff "
	    "(250ms)", NULL);
	/* A bad url is reported once, not again as "no url". */
	check_errors("[job x]\nurl = ftp://x/\n",
	    NAME ":2: url: expected an http:// or https:// URL, got "
	    "'ftp://x/'", NULL);
}

static void
t_good_values(void **state)
{
	struct jobfile	 jf;
	struct jobdef	*d;

	(void)state;
	d = good_value(&jf, "retry-on = none");
	assert_int_equal(d->retry_on, 0);
	jobfile_free(&jf);
	d = good_value(&jf, "min-success = 0");
	assert_true(d->min_success == 0);
	assert_int_equal(d->min_success_pct, 0);
	jobfile_free(&jf);
	d = good_value(&jf, "rate = 0");
	assert_true(d->rate == 0);
	jobfile_free(&jf);
	d = good_value(&jf, "method = M-SEARCH");
	assert_string_equal(d->method, "M-SEARCH");
	jobfile_free(&jf);
	d = good_value(&jf, "proxy = http://proxy:3128");
	assert_string_equal(d->proxy, "http://proxy:3128");
	jobfile_free(&jf);
	d = good_value(&jf, "proxy = env");
	assert_null(d->proxy);
	jobfile_free(&jf);
	d = good_value(&jf, "extract =");
	assert_null(d->extract);
	jobfile_free(&jf);
	d = good_value(&jf, "extract = /a~0b/~1c/0");
	assert_string_equal(d->extract, "/a~0b/~1c/0");
	jobfile_free(&jf);
	d = good_value(&jf, "expect = 200 204,301-308");
	assert_int_equal(d->nexpect, 3);
	assert_int_equal(d->expect[2].lo, 301);
	assert_int_equal(d->expect[2].hi, 308);
	jobfile_free(&jf);
	d = good_value(&jf, "deadline = 0.5s");
	assert_int_equal(d->deadline, 500 * USEC_PER_MSEC);
	jobfile_free(&jf);
}

/* An output that is not touched on errors keeps what it held. */
static void
t_output_untouched(void **state)
{
	struct jobfile	 jf;
	struct errlist	 errs = { NULL, 0 };
	struct jobdef	*keep;

	(void)state;
	parse_ok(NAME, "[job a]\nurl = http://x/\n", &jf);
	keep = jf.jobs[0];
	assert_int_equal(parse(NAME, "[job b]\n", NULL, &jf, &errs), -1);
	assert_ptr_equal(jf.jobs[0], keep);
	assert_int_equal(jf.njobs, 1);
	/* A clean parse replaces it. */
	assert_int_equal(parse(NAME, "[job c]\nurl = http://y/\n", NULL, &jf,
	    &errs), 0);
	assert_string_equal(jf.jobs[0]->name, "c");
	jobfile_free(&jf);
	errlist_free(&errs);
}

/* parse -> print -> parse -> print prints the same text. */
static void
round_trip(const char *text)
{
	struct jobfile	 jf1, jf2;
	char		*p1, *p2;

	parse_ok("/etc/fetchd/jobs.d/rt.conf", text, &jf1);
	p1 = print_jobs(&jf1);
	parse_ok("/elsewhere/printed.conf", p1, &jf2);
	p2 = print_jobs(&jf2);
	assert_string_equal(p1, p2);
	free(p1);
	free(p2);
	jobfile_free(&jf1);
	jobfile_free(&jf2);
}

static void
t_round_trip(void **state)
{
	(void)state;
	round_trip(full_job);
	round_trip("[job a]\nurl = http://x/\n[job b]\nurls-file = u\n"
	    "min-success = 33.3%\nrate = 0.25\nretry-on = none\n"
	    "deadline = 1h30m15s250ms\nbody = #x\nmax-body = 1000\n");
}

/* The printed defaults, and every key printed once. */
static void
t_print(void **state)
{
	static const char want[] =
	    "\n[job d]\n"
	    "abort-after = never\nbackoff = 250ms\nbackoff-max = 30s\n"
	    "body =\nbody-file =\nbreaker = 10\nca-file =\ncompressed = yes\n"
	    "concurrency = 50\nconditional = no\nconnect-timeout = 5s\n"
	    "deadline = none\nevery = none\nexpect = 200-299\nextract =\n"
	    "http2 = yes\ninsecure = no\nkeep = 10\nmax-body = 8M\n"
	    "max-redirs = 10\nmethod = GET\nmin-success = 1\noverlap = skip\nper-host = 16\n"
	    "proxy = env\nrate = unlimited\nretries = 2\nretry-budget = 20%\n"
	    "retry-on = connect dns timeout 5xx 429 408 reset\n"
	    "retry-unsafe = no\nsecret-headers =\nstall-timeout = 15s\n"
	    "timeout = 30s\nurl = http://x/\nurls-file =\n";
	const char *const	*keys;
	struct jobfile		 jf;
	char			*p, *line;
	size_t			 n, i;

	(void)state;
	parse_ok(NAME, "[job d]\nurl = http://x/\n", &jf);
	p = print_jobs(&jf);
	assert_string_equal(p, want);
	free(p);
	jobfile_free(&jf);
	/* With every key set, every key of the table is printed. */
	parse_ok(NAME, full_job, &jf);
	p = print_jobs(&jf);
	keys = parse_job_keys(&n);
	for (i = 0; i < n; i++) {
		if (asprintf(&line, "\n%s =", keys[i]) == -1)
			fail();
		if (strstr(p, line) == NULL)
			fail_msg("key %s not printed", keys[i]);
		free(line);
	}
	assert_null(strstr(p, "no printer"));
	free(p);
	jobfile_free(&jf);
}

static void
t_daemon(void **state)
{
	struct daemonconf	 dc;
	struct errlist		 errs = { NULL, 0 };
	const char		*t;

	(void)state;
	daemonconf_defaults(&dc);
	assert_null(dc.file);
	assert_non_null(dc.socket);
	assert_non_null(dc.state_dir);
	assert_null(dc.jobs_dir);
	assert_int_equal(dc.max_connections, 512);
	assert_string_equal(dc.user_agent, "fetchd/" PACKAGE_VERSION);
	assert_int_equal(dc.log_level, LOG_INFO);
	assert_int_equal(dc.max_urls, 10000000);
	assert_int_equal(dc.max_clients, 64);
	assert_int_equal(dc.max_jobs, 1024);
	assert_int_equal(dc.drain_timeout, 10 * USEC_PER_SEC);
	assert_int_equal(dc.fetch_threads, 0);		/* auto */
	t = "# fetchd\n[daemon]\nsocket = /run/fetchd/control.sock\n"
	    "state-dir = /var/lib/fetchd\njobs-dir = jobs.d\n"
	    "max-connections = 512        # all jobs together\n"
	    "user-agent = fetchd/VERSION\nlog-level = debug\n"
	    "max-urls = 20000000\nmax-clients = 8\nmax-jobs = 16\n"
	    "drain-timeout = 1m30s\nfetch-threads = 2\n";
	assert_int_equal(parse_daemon("/etc/fetchd/fetchd.conf", t, strlen(t),
	    &dc, &errs), 0);
	assert_string_equal(dc.file, "/etc/fetchd/fetchd.conf");
	assert_string_equal(dc.socket, "/run/fetchd/control.sock");
	assert_string_equal(dc.state_dir, "/var/lib/fetchd");
	assert_string_equal(dc.jobs_dir, "/etc/fetchd/jobs.d");
	assert_string_equal(dc.user_agent, "fetchd/VERSION");
	assert_int_equal(dc.log_level, LOG_DEBUG);
	assert_int_equal(dc.max_urls, 20000000);
	assert_int_equal(dc.max_clients, 8);
	assert_int_equal(dc.max_jobs, 16);
	assert_int_equal(dc.drain_timeout, 90 * USEC_PER_SEC);
	assert_int_equal(dc.fetch_threads, 2);
	daemonconf_free(&dc);
}

static void
check_daemon_errors(const char *text, const char *want)
{
	struct daemonconf	 dc;
	struct errlist		 errs = { NULL, 0 };

	daemonconf_defaults(&dc);
	assert_int_equal(parse_daemon("fetchd.conf", text, strlen(text), &dc,
	    &errs), -1);
	assert_int_equal(dc.max_connections, 512);	/* untouched */
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0], want);
	errlist_free(&errs);
	daemonconf_free(&dc);
}

static void
t_daemon_errors(void **state)
{
	char	 t[256], want[256];

	(void)state;
	check_daemon_errors("socket = /x\n", "fetchd.conf:1: key 'socket' "
	    "outside of a [daemon] section");
	check_daemon_errors("[job x]\n", "fetchd.conf:1: unknown section "
	    "'[job x]' (expected [daemon])");
	check_daemon_errors("[daemon]\nmax-connection = 5\n"
	    "max-connections = 5\n",
	    "fetchd.conf:2: unknown key 'max-connection' (did you mean "
	    "'max-connections'?)");
	check_daemon_errors("[daemon]\nlog-level = loud\n", "fetchd.conf:2: "
	    "log-level: expected debug, info, notice, warning or err, got "
	    "'loud'");
	check_daemon_errors("[daemon]\nlog-level = emerg\n", "fetchd.conf:2: "
	    "log-level: expected debug, info, notice, warning or err, got "
	    "'emerg'");
	check_daemon_errors("[daemon]\nsocket =\n", "fetchd.conf:2: socket: "
	    "expected a path, got ''");
	snprintf(t, sizeof(t), "[daemon]\nsocket = /%0120d\n", 0);
	snprintf(want, sizeof(want), "fetchd.conf:2: socket: expected a path "
	    "of at most 107 bytes, got '/%0120d'", 0);
	check_daemon_errors(t, want);
	check_daemon_errors("[daemon]\nuser-agent =\n", "fetchd.conf:2: "
	    "user-agent: expected a User-Agent like fetchd/1.0, got ''");
	check_daemon_errors("[daemon]\nmax-urls = 0\n", "fetchd.conf:2: "
	    "max-urls: expected a number from 1 to 1000000000000, got '0'");
	check_daemon_errors("[daemon]\nsync = sometimes\n", "fetchd.conf:2: "
	    "sync: expected batch, always or never, got 'sometimes'");
	check_daemon_errors("[daemon]\nfetch-threads = 0\n", "fetchd.conf:2: "
	    "fetch-threads: expected 'auto' or a number from 1 to 16, got '0'");
	check_daemon_errors("[daemon]\ndrain-timeout = 2h\n", "fetchd.conf:2: "
	    "drain-timeout: expected a duration from 0 to 1h, got '2h'");
	check_daemon_errors("[daemon]\nmax-jobs = 1\n[daemon]\nmax-jobs = 2\n",
	    "fetchd.conf:4: max-jobs: already set on line 2");
}

static void
t_daemon_round_trip(void **state)
{
	struct daemonconf	 dc;
	struct errlist		 errs = { NULL, 0 };
	char			*p1, *p2;
	const char		*t = "[daemon]\nsocket = /run/f.sock\n"
	    "state-dir = /var/lib/fetchd\nlog-level = warning\n";

	(void)state;
	daemonconf_defaults(&dc);
	assert_int_equal(parse_daemon("/etc/f.conf", t, strlen(t), &dc,
	    &errs), 0);
	p1 = print_daemon(&dc);
	assert_string_equal(p1, "[daemon]\nadmin-group =\n"
	    "drain-timeout = 10s\nfetch-threads = auto\n"
	    "jobs-dir =\nlog-level = warning\n"
	    "max-clients = 64\nmax-connections = 512\nmax-jobs = 1024\n"
	    "max-urls = 10000000\nsocket = /run/f.sock\n"
	    "state-dir = /var/lib/fetchd\nsubmit-dirs =\nsync = batch\n"
	    "user =\n"
	    "user-agent = fetchd/" PACKAGE_VERSION
	    "\n");
	assert_int_equal(parse_daemon("/other/f.conf", p1, strlen(p1), &dc,
	    &errs), 0);
	p2 = print_daemon(&dc);
	assert_string_equal(p1, p2);
	free(p1);
	free(p2);
	daemonconf_free(&dc);
}

/* A scratch directory with files; removed by rmtree(). */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path;
	FILE	*fp;

	if (asprintf(&path, "%s/%s", dir, name) == -1)
		fail();
	if ((fp = fopen(path, "w")) == NULL)
		fail_msg("%s", path);
	fputs(text, fp);
	fclose(fp);
	free(path);
}

static void
rmtree(const char *dir)
{
	char	*cmd;

	if (asprintf(&cmd, "rm -rf '%s'", dir) == -1)
		fail();
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void
t_jobs_dir(void **state)
{
	char		 dir[] = "/tmp/test_parse.XXXXXX", *m1, *m2;
	struct jobfile	 jf = { NULL, 0 };
	struct errlist	 errs = { NULL, 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "b.conf", "[job b]\nurl = http://b/\n");
	write_file(dir, "a.conf", "[job a1]\nurl = http://a/\n"
	    "[job a2]\nurl = http://a/\n");
	write_file(dir, ".hidden.conf", "garbage\n");
	write_file(dir, "notes.txt", "garbage\n");
	write_file(dir, "conf", "garbage\n");
	assert_int_equal(parse_jobs_dir(dir, NULL, &jf, &errs), 0);
	assert_int_equal(jf.njobs, 3);
	assert_string_equal(jf.jobs[0]->name, "a1");
	assert_string_equal(jf.jobs[1]->name, "a2");
	assert_string_equal(jf.jobs[2]->name, "b");
	assert_string_equal(jf.jobs[2]->dir, dir);
	/* Errors of every file; a job defined twice across files. */
	write_file(dir, "c.conf", "[job c]\nretries = x\n");
	write_file(dir, "d.conf", "[job b]\nurl = http://d/\n");
	write_file(dir, "e.conf", "[job e]\n");
	assert_int_equal(parse_jobs_dir(dir, NULL, &jf, &errs), -1);
	assert_int_equal(jf.njobs, 3);		/* untouched */
	assert_int_equal(errs.n, 4);
	if (asprintf(&m1, "%s/c.conf:2: retries: expected a number from 0 to "
	    "100, got 'x'", dir) == -1)
		fail();
	assert_string_equal(errs.v[0], m1);
	free(m1);
	if (asprintf(&m1, "%s/c.conf:1: job 'c': no url or urls-file",
	    dir) == -1)
		fail();
	assert_string_equal(errs.v[1], m1);
	free(m1);
	if (asprintf(&m1, "%s/d.conf:1: job 'b' already defined in "
	    "%s/b.conf:1", dir, dir) == -1 ||
	    asprintf(&m2, "%s/e.conf:1: job 'e': no url or urls-file",
	    dir) == -1)
		fail();
	assert_string_equal(errs.v[2], m1);
	assert_string_equal(errs.v[3], m2);
	free(m1);
	free(m2);
	errlist_free(&errs);
	jobfile_free(&jf);
	rmtree(dir);
	/* A directory that is not there. */
	assert_int_equal(parse_jobs_dir("/nonexistent/jobs.d", NULL, &jf,
	    &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0],
	    "/nonexistent/jobs.d: No such file or directory");
	errlist_free(&errs);
	/* No directory: no jobs. */
	assert_int_equal(parse_jobs_dir(NULL, NULL, &jf, &errs), 0);
	assert_int_equal(jf.njobs, 0);
}

static void
t_read_file(void **state)
{
	char	 dir[] = "/tmp/test_parse.XXXXXX";
	char	*path, *buf, *cause, *want;
	size_t	 len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "f", "0123456789");
	if (asprintf(&path, "%s/f", dir) == -1)
		fail();
	assert_int_equal(parse_read_file(path, 10, &buf, &len, &cause), 0);
	assert_int_equal(len, 10);
	assert_string_equal(buf, "0123456789");
	free(buf);
	assert_int_equal(parse_read_file(path, 9, &buf, &len, &cause), -1);
	if (asprintf(&want, "%s: larger than 9 bytes", path) == -1)
		fail();
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	assert_int_equal(parse_read_file(dir, 9, &buf, &len, &cause), -1);
	if (asprintf(&want, "%s: Is a directory", dir) == -1)
		fail();
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	assert_int_equal(parse_read_file("/nonexistent", 9, &buf, &len,
	    &cause), -1);
	assert_string_equal(cause, "/nonexistent: No such file or directory");
	free(cause);
	free(path);
	rmtree(dir);
}

/* Error messages never carry control characters and stay bounded. */
static void
t_errlist(void **state)
{
	struct errlist	 el = { NULL, 0 };
	char		 big[3000];

	(void)state;
	errlist_add(&el, "a\tb\x1b[31mc%d", 1);
	assert_string_equal(el.v[0], "a?b?[31mc1");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errlist_add(&el, "%s", big);
	assert_int_equal(strlen(el.v[1]), 1024);
	assert_string_equal(el.v[1] + 1021, "...");
	errlist_free(&el);
	assert_null(el.v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_key_tables),
		cmocka_unit_test(t_job_defaults),
		cmocka_unit_test(t_job_values),
		cmocka_unit_test(t_syntax),
		cmocka_unit_test(t_paths),
		cmocka_unit_test(t_structure_errors),
		cmocka_unit_test(t_resync),
		cmocka_unit_test(t_limits),
		cmocka_unit_test(t_max_jobs),
		cmocka_unit_test(t_too_many_errors),
		cmocka_unit_test(t_url_errors),
		cmocka_unit_test(t_value_errors),
		cmocka_unit_test(t_list_errors),
		cmocka_unit_test(t_header_limit),
		cmocka_unit_test(t_cross_checks),
		cmocka_unit_test(t_good_values),
		cmocka_unit_test(t_output_untouched),
		cmocka_unit_test(t_round_trip),
		cmocka_unit_test(t_print),
		cmocka_unit_test(t_print_secrets),
		cmocka_unit_test(t_daemon),
		cmocka_unit_test(t_daemon_errors),
		cmocka_unit_test(t_daemon_round_trip),
		cmocka_unit_test(t_jobs_dir),
		cmocka_unit_test(t_read_file),
		cmocka_unit_test(t_errlist),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
