/*
 * control_cmd.c: one handler per control command, dispatched through a
 * table.  Handlers build their replies from snapshots of the runs
 * (control_cmd_snapshot) and never serialize internal structs directly;
 * long replies (results, failures) are produced in slices through the
 * session's pump as the client reads.  docs/protocol.md is the reference
 * for every reply.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fetchd.h"
#include "proto.h"

#define SUBMIT_MAX_JOBS	64		/* jobs in one submitted file */
#define SLICE		(64 * 1024)	/* bytes read per pump call */

struct cmd {
	const char	*name;
	int		 mutating;
	void		(*fn)(struct session *, struct json_object *, int64_t);
};

static const struct daemonconf *cmd_dc;

/* Request argument helpers: absent is fine, a wrong type is not. */

static int
arg_string(struct json_object *req, const char *key, const char **out)
{
	struct json_object	*v;

	*out = NULL;
	if (!json_object_object_get_ex(req, key, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_string))
		return (-1);
	*out = json_object_get_string(v);
	return (0);
}

static int
arg_uint(struct json_object *req, const char *key, unsigned *out)
{
	struct json_object	*v;
	int64_t			 n;

	*out = 0;
	if (!json_object_object_get_ex(req, key, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_int))
		return (-1);
	n = json_object_get_int64(v);
	if (n < 0 || n > UINT32_MAX)
		return (-1);
	*out = (unsigned)n;
	return (0);
}

static int
arg_bool(struct json_object *req, const char *key, int *out)
{
	struct json_object	*v;

	*out = 0;
	if (!json_object_object_get_ex(req, key, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_boolean))
		return (-1);
	*out = json_object_get_boolean(v);
	return (0);
}

static void
reply_error(struct session *s, int64_t id, enum proto_err code,
    const char *msg)
{
	session_send(s, proto_reply_error(id, code, "%s", msg));
}

/* The nearest job name, for "did you mean". */
static const char *
nearest_job(const char *name)
{
	struct job	*j;
	const char	*best = NULL;
	size_t		 d, bestd = 4;

	TAILQ_FOREACH(j, job_list(), entry) {
		d = util_levenshtein(name, j->name);
		if (d < bestd) {
			bestd = d;
			best = j->name;
		}
	}
	return (best);
}

static void
reply_no_job(struct session *s, int64_t id, const char *name)
{
	const char	*near = nearest_job(name);

	if (near != NULL)
		session_send(s, proto_reply_error(id, PERR_NO_SUCH_JOB,
		    "no job named '%s' (did you mean '%s'?)", name, near));
	else
		session_send(s, proto_reply_error(id, PERR_NO_SUCH_JOB,
		    "no job named '%s'", name));
}

/*
 * The run a request names ("job", optional "run"), or NULL after an error
 * reply.  job_required: a missing "job" is an error.
 */
static struct run *
req_run(struct session *s, struct json_object *req, int64_t id)
{
	const char	*name;
	unsigned	 n;
	struct job	*j;
	struct run	*r;

	if (arg_string(req, "job", &name) == -1 || name == NULL ||
	    arg_uint(req, "run", &n) == -1) {
		reply_error(s, id, PERR_BAD_REQUEST,
		    "\"job\" (string) is required; \"run\" must be a number");
		return (NULL);
	}
	if ((j = job_find(name)) == NULL) {
		reply_no_job(s, id, name);
		return (NULL);
	}
	if ((r = job_run(j, n)) == NULL) {
		session_send(s, proto_reply_error(id, PERR_NO_SUCH_RUN,
		    "job '%s' has no run %u in memory", name, n));
		return (NULL);
	}
	return (r);
}

/* Snapshots. */

static struct json_object *
snap_counts(const struct namecount *v, size_t n)
{
	struct json_object	*o = json_object_new_object();
	size_t			 i;

	for (i = 0; i < n; i++)
		json_object_object_add(o, v[i].name,
		    json_object_new_int64((int64_t)v[i].n));
	return (o);
}

static void
snap_add_int(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* A double with one decimal, serialized as such ("41.2", not 41.19999). */
static struct json_object *
dec1(double v)
{
	char	 s[64];

	snprintf(s, sizeof(s), "%.1f", v);
	return (json_object_new_double_s(v, s));
}

static void
snap_add_ms(struct json_object *o, const char *k, double ms)
{
	json_object_object_add(o, k, dec1(ms));
}

/* Latency quantiles and the slowest URLs. */
static void
snap_latency(struct json_object *o, const struct runstats *st)
{
	struct json_object	*lat, *slow, *e;
	int			 i;

	lat = json_object_new_object();
	snap_add_ms(lat, "p50", (double)histo_quantile(&st->latency, 0.50) /
	    1000.0);
	snap_add_ms(lat, "p95", (double)histo_quantile(&st->latency, 0.95) /
	    1000.0);
	snap_add_ms(lat, "p99", (double)histo_quantile(&st->latency, 0.99) /
	    1000.0);
	json_object_object_add(o, "latency_ms", lat);
	slow = json_object_new_array();
	for (i = 0; i < RUN_SLOWEST && st->slowest[i].url != NULL; i++) {
		e = json_object_new_object();
		json_object_object_add(e, "url",
		    json_object_new_string(st->slowest[i].url));
		snap_add_ms(e, "ms", (double)st->slowest[i].usec / 1000.0);
		json_object_array_add(slow, e);
	}
	json_object_object_add(o, "slowest", slow);
}

#define HELD_MAX	32	/* held origins listed in a snapshot */

static void
snap_host(const struct host_view *v, void *arg)
{
	struct json_object	*a = arg, *e;

	if (json_object_array_length(a) >= HELD_MAX)
		return;
	e = json_object_new_object();
	json_object_object_add(e, "origin", json_object_new_string(v->origin));
	json_object_object_add(e, "state", json_object_new_string(v->state));
	if (v->until_wall > 0)
		snap_add_int(e, "until", (uint64_t)v->until_wall);
	snap_add_int(e, "limit", v->limit);
	snap_add_int(e, "in_flight", v->in_flight);
	snap_add_int(e, "failures", v->failures);
	json_object_array_add(a, e);
}

/* The run snapshot of docs/protocol.md. */
struct json_object *
control_cmd_snapshot(const struct run *r)
{
	struct json_object	*o = json_object_new_object();
	const struct runstats	*st = &r->st;
	struct json_object	*held;
	double			 elapsed, rate;
	int64_t			 end;

	json_object_object_add(o, "name", json_object_new_string(r->job->name));
	snap_add_int(o, "run", r->number);
	/* A run is finished for clients once its results are on disk. */
	json_object_object_add(o, "state", json_object_new_string(
	    r->closing ? run_state_names[RUN_RUNNING] :
	    run_state_names[r->state]));
	if (r->closing)
		json_object_object_add(o, "finishing",
		    json_object_new_boolean(1));
	snap_add_int(o, "total", st->total);
	json_object_object_add(o, "total_known",
	    json_object_new_boolean(st->total_known));
	snap_add_int(o, "done", st->done);
	snap_add_int(o, "ok", st->ok);
	snap_add_int(o, "failed", st->failed);
	snap_add_int(o, "in_flight", st->in_flight);
	snap_add_int(o, "queued", st->queued);
	snap_add_int(o, "retrying", st->retrying);
	snap_add_int(o, "attempts", st->attempts);
	snap_add_int(o, "retries", st->retries);
	snap_add_int(o, "bytes", st->bytes);
	json_object_object_add(o, "errors", snap_counts(st->errors,
	    st->nerrors));
	json_object_object_add(o, "hosts", snap_counts(st->hosts, st->nhosts));
	if (r->started_wall > 0)
		snap_add_int(o, "started", (uint64_t)r->started_wall);
	if (RUN_FINISHED(r) && r->ended_wall > 0)
		snap_add_int(o, "ended", (uint64_t)r->ended_wall);
	end = RUN_FINISHED(r) ? r->ended :
	    (int64_t)(ev_now(EV_DEFAULT) * USEC_PER_SEC);
	elapsed = r->started > 0 ? (double)(end - r->started) / 1000.0 : 0;
	snap_add_ms(o, "elapsed_ms", elapsed);
	rate = elapsed > 0 ? (double)st->done * 1000.0 / elapsed : 0;
	json_object_object_add(o, "rate", dec1(rate));
	if (!RUN_FINISHED(r) && rate > 0 && st->total_known)
		snap_add_ms(o, "eta_ms", (double)(st->total - st->done) *
		    1000.0 / rate);
	snap_latency(o, st);
	if (!RUN_FINISHED(r)) {
		held = json_object_new_array();
		job_hosts_held(snap_host, held);
		json_object_object_add(o, "hosts_held", held);
	}
	if (r->retry_of > 0)
		snap_add_int(o, "retry_of", r->retry_of);
	if (r->resumed > 0)
		snap_add_int(o, "resumed", r->resumed);
	if (r->job->next_run > 0)
		snap_add_int(o, "next_run", (uint64_t)r->job->next_run);
	if (r->paused && !RUN_FINISHED(r)) {
		json_object_object_add(o, "paused", json_object_new_boolean(1));
		if (r->pause_reason != NULL)
			json_object_object_add(o, "pause_reason",
			    json_object_new_string(r->pause_reason));
	}
	if (r->path != NULL)
		json_object_object_add(o, "results",
		    json_object_new_string(r->path));
	if (r->reason != NULL)
		json_object_object_add(o, "reason",
		    json_object_new_string(r->reason));
	return (o);
}

/*
 * status JOB: the last RECENT_MAX failed records of the run, oldest first,
 * each cut to its identifying fields, from at most the last RECENT_SCAN
 * bytes of its results file (records are appended in completion order).
 * A detail view reads this once; list, watch and metrics never do.
 */
#define RECENT_MAX	5
#define RECENT_SCAN	(256 * 1024)	/* at most ~0.3 ms of the loop */

static void
snap_recent_failures(struct json_object *o, const struct run *r)
{
	static const char *const keep[] = { "i", "url", "status", "error",
	    "detail", "attempts", "ms" };
	struct json_object	*found[RECENT_MAX], *rec, *e, *v, *a;
	struct stat		 sb;
	char			*data;
	size_t			 len, end, i, k, n = 0;
	ssize_t			 got;
	off_t			 start;
	int			 fd;

	if (r->st.failed == 0 || r->path == NULL ||
	    (fd = open(r->path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &sb) == -1 || sb.st_size <= 0) {
		close(fd);
		return;
	}
	start = sb.st_size > RECENT_SCAN ? sb.st_size - RECENT_SCAN : 0;
	len = (size_t)(sb.st_size - start);
	data = xmalloc(len + 1);
	do
		got = pread(fd, data, len, start);
	while (got == -1 && errno == EINTR);
	close(fd);
	len = got > 0 ? (size_t)got : 0;
	/* Lines from the end; a cut first line and a torn last one skipped. */
	for (end = len; end > 0 && data[end - 1] != '\n'; end--)
		;
	while (end > 0 && n < RECENT_MAX) {
		data[end - 1] = '\0';
		for (i = end - 1; i > 0 && data[i - 1] != '\n'; i--)
			;
		if (i == 0 && start > 0)
			break;
		/* Most lines are successes: parse only possible failures. */
		rec = strstr(data + i, "\"error\":") != NULL ?
		    json_tokener_parse(data + i) : NULL;
		if (rec != NULL &&
		    json_object_object_get_ex(rec, "error", NULL)) {
			e = json_object_new_object();
			for (k = 0; k < nitems(keep); k++)
				if (json_object_object_get_ex(rec, keep[k], &v))
					json_object_object_add(e, keep[k],
					    json_object_get(v));
			found[n++] = e;
		}
		json_object_put(rec);
		end = i;
	}
	free(data);
	a = json_object_new_array();
	while (n > 0)
		json_object_array_add(a, found[--n]);
	json_object_object_add(o, "recent_failures", a);
}

/* Commands. */

static void
cmd_ping(struct session *s, struct json_object *req, int64_t id)
{
	struct json_object	*o = proto_reply_ok(id);

	json_object_object_add(o, "pong", json_object_new_boolean(1));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	session_send(s, o);
}

static void
cmd_version(struct session *s, struct json_object *req, int64_t id)
{
	struct json_object	*o = proto_reply_ok(id);
	char			 ev[32];

	snprintf(ev, sizeof(ev), "%d.%d", ev_version_major(),
	    ev_version_minor());
	json_object_object_add(o, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "protocol",
	    json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "curl",
	    json_object_new_string(fetch_version()));
	json_object_object_add(o, "libev", json_object_new_string(ev));
	json_object_object_add(o, "json_c",
	    json_object_new_string(json_c_version()));
	session_send(s, o);
}

/* invalid_job with every parse error. */
static void
reply_invalid(struct session *s, int64_t id, const struct errlist *errs)
{
	struct json_object	*o, *a;
	size_t			 i;

	o = proto_reply_error(id, PERR_INVALID_JOB, "%s%s", errs->v[0],
	    errs->n > 1 ? " (and more errors)" : "");
	a = json_object_new_array();
	for (i = 0; i < errs->n; i++)
		json_object_array_add(a, json_object_new_string(errs->v[i]));
	json_object_object_add(o, "errors", a);
	session_send(s, o);
}

/*
 * Files named in a submitted job are data, not paths.  fetchd does not
 * open a urls-file, body-file or ca-file because a client named it: the
 * request's "files" carries each one's content (base64, by the value as
 * written in the job), which fetchd keeps as STATE/files/JOB.KEY.HASH
 * (0600) and names in the job instead.  A file that was not sent is taken
 * only when it lies under one of the daemon's submit-dirs (links
 * resolved).  Job files of jobs-dir, which the daemon's own configuration
 * names, keep their paths.
 */
static int
b64_decode(const char *s, size_t n, struct buf *out)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;
	uint32_t		 acc = 0;
	unsigned char		 c;
	int			 bits = 0;
	size_t			 i;

	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || (p = memchr(tab, s[i], 64)) == NULL)
			return (-1);
		acc = (acc << 6) | (uint32_t)(p - tab);
		if ((bits += 6) >= 8) {
			bits -= 8;
			c = (unsigned char)(acc >> bits);
			buf_add(out, &c, 1);
			acc &= (1U << bits) - 1;
		}
	}
	return (0);
}

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*p++) * 0x100000001b3ULL;
	return (h);
}

/* Write b to a new file path (0600), atomically: 0 or -1 with errno. */
static int
write_private(const char *path, const struct buf *b)
{
	char	*tmp;
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd, rc = -1, saved;

	xasprintf(&tmp, "%s.tmp", path);
	if ((unlink(tmp) == -1 && errno != ENOENT) || (fd = open(tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		saved = errno;
		free(tmp);
		errno = saved;
		return (-1);
	}
	while (off < b->len && ((n = write(fd, b->data + off, b->len - off)) >
	    0 || (n == -1 && errno == EINTR)))
		off += n > 0 ? (size_t)n : 0;
	if (off == b->len && fsync(fd) == 0 && close(fd) == 0 &&
	    rename(tmp, path) == 0)
		rc = 0;
	else {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
	}
	free(tmp);
	return (rc);
}

/* Keep a sent file; *path becomes STATE/files/JOB.KEY.HASH. */
static int
keep_file(const char *job, const char *key, const struct buf *b,
    char **path, char **cause)
{
	struct stat	 st;
	char		*dir, *p;

	xasprintf(&dir, "%s/files", cmd_dc->state_dir);
	xasprintf(&p, "%s/%s.%s.%016" PRIx64, dir, job, key,
	    fnv1a(b->data != NULL ? b->data : "", b->len));
	if (!(stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == b->len) && (util_mkdirs(dir, 0700) ==
	    -1 || write_private(p, b) == -1)) {
		xasprintf(cause, "keeping %s: %s", p, strerror(errno));
		free(dir);
		free(p);
		return (-1);
	}
	free(dir);
	free(*path);
	*path = p;
	return (0);
}

/* The real path of path if it lies under a submit-dirs entry, or NULL. */
static char *
under_submit_dirs(const char *path)
{
	char	 rp[PATH_MAX], rd[PATH_MAX];
	size_t	 i, n;

	if (cmd_dc->submit_dirs.n == 0 || realpath(path, rp) == NULL)
		return (NULL);
	for (i = 0; i < cmd_dc->submit_dirs.n; i++) {
		if (realpath(cmd_dc->submit_dirs.v[i], rd) == NULL)
			continue;
		n = strlen(rd);
		if (strncmp(rp, rd, n) == 0 && (rp[n] == '/' ||
		    (n == 1 && rd[0] == '/')))
			return (xstrdup(rp));
	}
	return (NULL);
}

/* The content sent for *path: 1 found (in b), 0 not sent, -1 not base64. */
static int
sent_file(struct json_object *files, const char *file, const char *path,
    struct buf *b)
{
	char	*abs;
	int	 found;

	if (files == NULL)
		return (0);
	json_object_object_foreach(files, k, v) {
		abs = parse_resolve(file, k);
		found = strcmp(abs, path) == 0;
		free(abs);
		if (!found)
			continue;
		if (!json_object_is_type(v, json_type_string))
			return (-1);
		return (b64_decode(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), b) == -1 ? -1 : 1);
	}
	return (0);
}

/* One file-naming key of one job. */
static void
submit_file(struct jobdef *jd, const char *key, char **path,
    struct json_object *files, const char *file, struct errlist *errs)
{
	struct buf	 b;
	char		*cause = NULL, *rp;
	int		 rc;

	if (*path == NULL)
		return;
	buf_init(&b);
	if ((rc = sent_file(files, file, *path, &b)) == 1) {
		if (keep_file(jd->name, key, &b, path, &cause) == -1) {
			errlist_add(errs, "%s:%u: job '%s': %s", jd->file,
			    jd->line, jd->name, cause);
			free(cause);
		}
	} else if (rc == -1)
		errlist_add(errs, "%s:%u: job '%s': %s %s: the content sent "
		    "is not base64", jd->file, jd->line, jd->name, key, *path);
	else if ((rp = under_submit_dirs(*path)) != NULL) {
		free(*path);
		*path = rp;
	} else
		errlist_add(errs, "%s:%u: job '%s': %s %s: fetchd opens no "
		    "file a submitted job names; fetchctl sends the file's "
		    "content when it can read it%s", jd->file, jd->line,
		    jd->name, key, *path, cmd_dc->submit_dirs.n > 0 ?
		    ", or it must be under submit-dirs" : " (no submit-dirs "
		    "are set)");
	buf_free(&b);
}

/*
 * After a submit: the copies of a job's urls-file and body-file that its
 * definition no longer names go.  Runs read those two when they start, so
 * no run needs an older copy; ca-file copies (read at every connection)
 * are small and stay.
 */
static void
prune_copies(const struct job *j)
{
	const struct jobdef	*d = j->def;
	struct dirent		*de;
	DIR			*dir;
	char			*path, *u, *b;
	size_t			 nu, nb;

	xasprintf(&path, "%s/files", cmd_dc->state_dir);
	dir = opendir(path);
	free(path);
	if (dir == NULL)
		return;
	xasprintf(&u, "%s.urls-file.", j->name);
	xasprintf(&b, "%s.body-file.", j->name);
	nu = strlen(u);
	nb = strlen(b);
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, u, nu) != 0 &&
		    strncmp(de->d_name, b, nb) != 0)
			continue;
		xasprintf(&path, "%s/files/%s", cmd_dc->state_dir,
		    de->d_name);
		if ((d->urls_file == NULL || strcmp(d->urls_file, path) != 0) &&
		    (d->body_file == NULL || strcmp(d->body_file, path) != 0) &&
		    unlinkat(dirfd(dir), de->d_name, 0) == -1)
			log_warn("removing %s", path);
		free(path);
	}
	closedir(dir);
	free(u);
	free(b);
}

static int
submit_files(struct jobfile *jf, const char *file,
    struct json_object *files, struct errlist *errs)
{
	struct jobdef	*jd;
	size_t		 i;

	for (i = 0; i < jf->njobs; i++) {
		jd = jf->jobs[i];
		submit_file(jd, "urls-file", &jd->urls_file, files, file, errs);
		submit_file(jd, "body-file", &jd->body_file, files, file, errs);
		submit_file(jd, "ca-file", &jd->ca_file, files, file, errs);
	}
	return (errs->n > 0 ? -1 : 0);
}

static void
cmd_submit(struct session *s, struct json_object *req, int64_t id)
{
	const char		*file, *text;
	struct jobfile		 jf;
	struct errlist		 errs;
	struct run		*runs[SUBMIT_MAX_JOBS];
	struct json_object	*o, *a, *e, *files = NULL;
	char			*cause = NULL;
	size_t			 i, n;
	int			 rc;

	if (arg_string(req, "file", &file) == -1 ||
	    arg_string(req, "text", &text) == -1 || text == NULL ||
	    (json_object_object_get_ex(req, "files", &files) && files !=
	    NULL && !json_object_is_type(files, json_type_object))) {
		reply_error(s, id, PERR_BAD_REQUEST,
		    "submit needs \"text\" (string) and \"file\" (string), "
		    "and \"files\" is an object");
		return;
	}
	if (file == NULL)
		file = "submitted";
	memset(&jf, 0, sizeof(jf));
	memset(&errs, 0, sizeof(errs));
	if (parse_jobs(file, text, strlen(text), cmd_dc, &jf, &errs) == -1 ||
	    submit_files(&jf, file, files, &errs) == -1) {
		reply_invalid(s, id, &errs);
		goto out;
	}
	n = jf.njobs;
	rc = job_submit(&jf, runs, nitems(runs), &cause);
	if (rc == -1 && (n > nitems(runs) || runs[0] == NULL)) {
		reply_error(s, id, PERR_LIMIT, cause);
		goto out;
	}
	for (i = 0; i < n && runs[i] != NULL; i++)
		prune_copies(runs[i]->job);
	o = proto_reply_ok(id);
	a = json_object_new_array();
	for (i = 0; i < n && runs[i] != NULL; i++) {
		e = json_object_new_object();
		json_object_object_add(e, "name",
		    json_object_new_string(runs[i]->job->name));
		snap_add_int(e, "run", runs[i]->number);
		json_object_object_add(e, "state",
		    json_object_new_string(run_state_names[runs[i]->state]));
		if (runs[i]->path != NULL)
			json_object_object_add(e, "results",
			    json_object_new_string(runs[i]->path));
		if (runs[i]->reason != NULL)
			json_object_object_add(e, "reason",
			    json_object_new_string(runs[i]->reason));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "runs", a);
	session_send(s, o);
out:
	free(cause);
	jobfile_free(&jf);
	errlist_free(&errs);
}

/* {"ok":true,"jobs":[...]} for one run or the latest run of every job. */
static struct json_object *
build_jobs(int64_t id, struct run *only)
{
	struct json_object	*o = proto_reply_ok(id);
	struct json_object	*a = json_object_new_array();
	struct job		*j;
	struct run		*r;

	if (only != NULL)
		json_object_array_add(a, control_cmd_snapshot(only));
	else {
		TAILQ_FOREACH(j, job_list(), entry)
			if ((r = job_run(j, 0)) != NULL)
				json_object_array_add(a,
				    control_cmd_snapshot(r));
	}
	json_object_object_add(o, "jobs", a);
	return (o);
}

static void
cmd_list(struct session *s, struct json_object *req, int64_t id)
{
	session_send(s, build_jobs(id, NULL));
}

static void
cmd_status(struct session *s, struct json_object *req, int64_t id)
{
	struct json_object	*o, *a;
	struct run		*r = NULL;
	const char		*name;

	if (arg_string(req, "job", &name) == -1) {
		reply_error(s, id, PERR_BAD_REQUEST, "\"job\" must be a string");
		return;
	}
	if (name != NULL && (r = req_run(s, req, id)) == NULL)
		return;
	o = build_jobs(id, r);
	if (r != NULL && json_object_object_get_ex(o, "jobs", &a))
		snap_recent_failures(json_object_array_get_idx(a, 0), r);
	session_send(s, o);
}

static void
cmd_watch(struct session *s, struct json_object *req, int64_t id)
{
	struct run	*r = NULL;
	const char	*name;
	unsigned	 n;

	if (arg_string(req, "job", &name) == -1 ||
	    arg_uint(req, "run", &n) == -1) {
		reply_error(s, id, PERR_BAD_REQUEST,
		    "\"job\" must be a string and \"run\" a number");
		return;
	}
	if (name != NULL && (r = req_run(s, req, id)) == NULL)
		return;
	session_send(s, build_jobs(id, r));
	session_watch(s, name, n, id);
}

static void
cmd_cancel(struct session *s, struct json_object *req, int64_t id)
{
	struct run		*r;
	struct json_object	*o;

	if ((r = req_run(s, req, id)) == NULL)
		return;
	if (job_cancel(r, "cancelled by request") == -1) {
		session_send(s, proto_reply_error(id, PERR_NOT_ACTIVE,
		    "run %u of '%s' already finished (%s)", r->number,
		    r->job->name, run_state_names[r->state]));
		return;
	}
	o = proto_reply_ok(id);
	json_object_object_add(o, "name", json_object_new_string(r->job->name));
	snap_add_int(o, "run", r->number);
	json_object_object_add(o, "state", json_object_new_string(
	    r->closing || RUN_FINISHED(r) ? "cancelled" : "cancelling"));
	session_send(s, o);
}

/*
 * Streaming records.  The results file is read in slices; each complete
 * line becomes {"v":1,"id":N,"record":LINE}.  For "ordered", a first pass
 * indexes (i, offset, length) of every line and sorts it.
 */
struct entry {
	uint64_t	i;
	off_t		off;
	uint32_t	len;
};

struct rstream {
	int64_t		 id;
	int		 fd;
	int		 failed_only;
	int		 ordered;
	off_t		 off;		/* next read */
	struct buf	 in;
	struct buf	 out;
	uint64_t	 count;
	struct entry	*idx;
	size_t		 nidx;
	size_t		 pos;
};

static void
rstream_free(void *arg)
{
	struct rstream	*rs = arg;

	if (rs->fd != -1)
		close(rs->fd);
	buf_free(&rs->in);
	buf_free(&rs->out);
	free(rs->idx);
	free(rs);
}

static int
record_failed(const char *line, size_t len)
{
	struct json_object	*o, *v;
	int			 failed;

	if ((o = json_tokener_parse(line)) == NULL)
		return (0);
	failed = json_object_object_get_ex(o, "error", &v);
	json_object_put(o);
	return (failed);
}

/* Wrap one stored line and queue it. */
static void
rstream_emit(struct session *s, struct rstream *rs, const char *line,
    size_t len)
{
	if (len == 0 || line[0] != '{')
		return;
	if (rs->failed_only && !record_failed(line, len))
		return;
	buf_reset(&rs->out);
	buf_printf(&rs->out, "{\"v\":%d,\"id\":%" PRId64 ",\"record\":",
	    PROTO_VERSION, rs->id);
	buf_add(&rs->out, line, len);
	buf_adds(&rs->out, "}\n");
	session_send_raw(s, rs->out.data, rs->out.len);
	rs->count++;
}

static void
rstream_end(struct session *s, struct rstream *rs)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "id", json_object_new_int64(rs->id));
	json_object_object_add(o, "end", json_object_new_boolean(1));
	snap_add_int(o, "count", rs->count);
	session_send(s, o);
}

/* Read the next slice into rs->in; 0 at end of file. */
static ssize_t
rstream_read(struct rstream *rs)
{
	ssize_t	 n;

	buf_reserve(&rs->in, SLICE);
	do
		n = pread(rs->fd, rs->in.data + rs->in.len, SLICE, rs->off);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		rs->in.len += (size_t)n;
		rs->in.data[rs->in.len] = '\0';
		rs->off += n;
	}
	return (n);
}

/* Completion order: one slice per call. */
static int
pump_plain(struct session *s, void *arg)
{
	struct rstream	*rs = arg;
	char		*nl, *p;
	ssize_t		 n;

	if ((n = rstream_read(rs)) <= 0) {
		rstream_end(s, rs);
		return (0);
	}
	p = rs->in.data;
	while ((nl = memchr(p, '\n', rs->in.len - (size_t)(p - rs->in.data)))
	    != NULL) {
		*nl = '\0';
		rstream_emit(s, rs, p, (size_t)(nl - p));
		p = nl + 1;
	}
	buf_consume(&rs->in, (size_t)(p - rs->in.data));
	return (1);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry	*x = a, *y = b;

	return (x->i < y->i ? -1 : x->i > y->i);
}

/* First pass of an ordered stream: index every line by "i". */
static void
rstream_index(struct rstream *rs)
{
	off_t	 base = 0;
	char	*p, *nl;

	while (rstream_read(rs) > 0) {
		p = rs->in.data;
		while ((nl = memchr(p, '\n', rs->in.len -
		    (size_t)(p - rs->in.data))) != NULL) {
			if (strncmp(p, "{\"i\":", 5) == 0) {
				rs->idx = xreallocarray(rs->idx, rs->nidx + 1,
				    sizeof(*rs->idx));
				rs->idx[rs->nidx].i = strtoull(p + 5, NULL, 10);
				rs->idx[rs->nidx].off = base +
				    (p - rs->in.data);
				rs->idx[rs->nidx].len = (uint32_t)(nl - p);
				rs->nidx++;
			}
			p = nl + 1;
		}
		base += p - rs->in.data;
		buf_consume(&rs->in, (size_t)(p - rs->in.data));
	}
	if (rs->nidx > 1)		/* qsort(NULL, 0, ...) is undefined */
		qsort(rs->idx, rs->nidx, sizeof(*rs->idx), entry_cmp);
}

/* Input order: up to about a slice of records per call. */
static int
pump_ordered(struct session *s, void *arg)
{
	struct rstream	*rs = arg;
	struct entry	*e;
	size_t		 sent = 0;

	if (rs->idx == NULL && rs->nidx == 0 && rs->pos == 0) {
		rstream_index(rs);
		if (rs->nidx == 0) {
			rstream_end(s, rs);
			return (0);
		}
	}
	while (rs->pos < rs->nidx && sent < SLICE) {
		e = &rs->idx[rs->pos++];
		buf_reset(&rs->in);
		buf_reserve(&rs->in, e->len);
		if (pread(rs->fd, rs->in.data, e->len, e->off) != (ssize_t)e->len)
			continue;
		rs->in.data[e->len] = '\0';
		rstream_emit(s, rs, rs->in.data, e->len);
		sent += e->len;
	}
	if (rs->pos < rs->nidx)
		return (1);
	rstream_end(s, rs);
	return (0);
}

/* results and failures share this. */
static void
stream_records(struct session *s, struct json_object *req, int64_t id,
    int failed_only)
{
	struct run		*r;
	struct rstream		*rs;
	struct json_object	*o;
	int			 ordered = 0, failed = failed_only, fd;

	if (arg_bool(req, "ordered", &ordered) == -1 ||
	    (!failed_only && arg_bool(req, "failed", &failed) == -1)) {
		reply_error(s, id, PERR_BAD_REQUEST,
		    "\"ordered\" and \"failed\" must be booleans");
		return;
	}
	if ((r = req_run(s, req, id)) == NULL)
		return;
	if (r->path == NULL || (fd = open(r->path, O_RDONLY | O_CLOEXEC)) ==
	    -1) {
		session_send(s, proto_reply_error(id, PERR_NO_SUCH_RUN,
		    "run %u of '%s' has no results file%s%s", r->number,
		    r->job->name, r->reason ? ": " : "",
		    r->reason ? r->reason : ""));
		return;
	}
	o = proto_reply_ok(id);
	json_object_object_add(o, "name", json_object_new_string(r->job->name));
	snap_add_int(o, "run", r->number);
	json_object_object_add(o, "state",
	    json_object_new_string(run_state_names[r->state]));
	json_object_object_add(o, "results", json_object_new_string(r->path));
	if (failed_only) {
		json_object_object_add(o, "errors",
		    snap_counts(r->st.errors, r->st.nerrors));
		json_object_object_add(o, "hosts",
		    snap_counts(r->st.hosts, r->st.nhosts));
	}
	session_send(s, o);
	rs = xcalloc(1, sizeof(*rs));
	rs->id = id;
	rs->fd = fd;
	rs->failed_only = failed;
	rs->ordered = ordered;
	buf_init(&rs->in);
	buf_init(&rs->out);
	session_set_pump(s, ordered ? pump_ordered : pump_plain, rstream_free,
	    rs);
}

static void
cmd_results(struct session *s, struct json_object *req, int64_t id)
{
	stream_records(s, req, id, 0);
}

static void
cmd_failures(struct session *s, struct json_object *req, int64_t id)
{
	stream_records(s, req, id, 1);
}

/*
 * explain: every attempt of one URL, read from RUN.attempts.ndjson in
 * slices, then the URL's final record from the results file.  A success's
 * last attempt has no line of its own when it was the first (job.c
 * item_done()): its record carries the phase times, and the attempt is
 * rebuilt from it, with the keys the line would have had.
 */
struct explain {
	int64_t			 id;
	int			 fd;
	int			 phase;		/* 0 attempts, 1 record */
	off_t			 off;
	struct buf		 in;
	char			*url;		/* or NULL: by index */
	int			 plain;		/* url needs no JSON escaping */
	int64_t			 i;		/* -1 until known */
	char			*results;
	struct json_object	*reply;
	struct json_object	*attempts;
};

static void
explain_free(void *arg)
{
	struct explain	*e = arg;

	if (e->fd != -1)
		close(e->fd);
	buf_free(&e->in);
	free(e->url);
	free(e->results);
	json_object_put(e->reply);
	free(e);
}

/* Does this attempt line belong to the URL asked about? */
static int
explain_match(struct explain *e, const char *line, struct json_object **out)
{
	struct json_object	*o, *v;
	int			 ok;

	if (e->url != NULL && e->plain && strstr(line, e->url) == NULL)
		return (0);
	if ((o = json_tokener_parse(line)) == NULL)
		return (0);
	if (e->url != NULL)
		ok = json_object_object_get_ex(o, "url", &v) &&
		    strcmp(json_object_get_string(v), e->url) == 0;
	else
		ok = json_object_object_get_ex(o, "i", &v) &&
		    json_object_get_int64(v) == e->i;
	if (ok && e->i < 0 && json_object_object_get_ex(o, "i", &v))
		e->i = json_object_get_int64(v);
	if (!ok) {
		json_object_put(o);
		return (0);
	}
	*out = o;
	return (1);
}

/* Read one slice of the current file; call fn per complete line. */
static ssize_t
explain_slice(struct explain *e, void (*fn)(struct explain *, char *))
{
	ssize_t	 n;
	char	*p, *nl;

	buf_reserve(&e->in, SLICE);
	do
		n = pread(e->fd, e->in.data + e->in.len, SLICE, e->off);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return (n);
	e->in.len += (size_t)n;
	e->in.data[e->in.len] = '\0';
	e->off += n;
	p = e->in.data;
	while ((nl = memchr(p, '\n', e->in.len - (size_t)(p - e->in.data)))
	    != NULL) {
		*nl = '\0';
		fn(e, p);
		p = nl + 1;
	}
	buf_consume(&e->in, (size_t)(p - e->in.data));
	return (n);
}

static void
explain_attempt(struct explain *e, char *line)
{
	struct json_object	*o;

	if (explain_match(e, line, &o))
		json_object_array_add(e->attempts, o);
}

/* Is o an attempt line of URL i, number n, with decision "ok"? */
static int
explain_is_ok_line(struct json_object *o, int64_t i, int64_t n)
{
	struct json_object	*v;

	return (json_object_object_get_ex(o, "i", &v) &&
	    json_object_get_int64(v) == i &&
	    json_object_object_get_ex(o, "attempt", &v) &&
	    json_object_get_int64(v) == n &&
	    json_object_object_get_ex(o, "decision", &v) &&
	    strcmp(json_object_get_string(v), "ok") == 0);
}

/*
 * The attempt a success's record stands for, if no line told it: only a
 * first attempt (job.c leaves out only its line; a later attempt's line
 * may simply not be on disk yet).  Lines of an earlier life of a resumed
 * run may name attempt 1 too, but not with "ok".  The keys are those of an
 * attempt line, in its order (results.c results_attempt()).
 */
static void
explain_from_record(struct explain *e, struct json_object *rec)
{
	static const char *const keys[][2] = {	/* attempt line, record */
	    { "i", "i" }, { "url", "url" }, { "attempt", "attempts" },
	    { "start", "start" }, { "queue_ms", "queue_ms" },
	    { "dns_ms", "dns_ms" }, { "connect_ms", "connect_ms" },
	    { "tls_ms", "tls_ms" }, { "ttfb_ms", "ttfb_ms" },
	    { "total_ms", "ms" }, { "status", "status" } };
	struct json_object	*a, *v, *n;
	size_t			 k;

	if (json_object_object_get_ex(rec, "error", NULL) ||
	    !json_object_object_get_ex(rec, "start", NULL) ||
	    !json_object_object_get_ex(rec, "attempts", &n) ||
	    json_object_get_int64(n) != 1 ||
	    !json_object_object_get_ex(rec, "i", &v))
		return;
	for (k = 0; k < json_object_array_length(e->attempts); k++)
		if (explain_is_ok_line(json_object_array_get_idx(e->attempts,
		    k), json_object_get_int64(v), 1))
			return;		/* its line was written */
	a = json_object_new_object();
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (json_object_object_get_ex(rec, keys[k][1], &v))
			json_object_object_add(a, keys[k][0],
			    json_object_get(v));
	json_object_object_add(a, "decision", json_object_new_string("ok"));
	json_object_array_add(e->attempts, a);
}

static void
explain_record(struct explain *e, char *line)
{
	struct json_object	*o, *v;
	char			 pre[32];

	if (json_object_object_get_ex(e->reply, "record", NULL))
		return;			/* the first one found */
	if (e->i >= 0) {
		snprintf(pre, sizeof(pre), "{\"i\":%" PRId64 ",", e->i);
		if (strncmp(line, pre, strlen(pre)) != 0 ||
		    (o = json_tokener_parse(line)) == NULL)
			return;
	} else {			/* by URL, no attempt line named it */
		if (e->plain && strstr(line, e->url) == NULL)
			return;
		if ((o = json_tokener_parse(line)) == NULL)
			return;
		if (!json_object_object_get_ex(o, "url", &v) ||
		    strcmp(json_object_get_string(v), e->url) != 0 ||
		    !json_object_object_get_ex(o, "i", &v)) {
			json_object_put(o);
			return;
		}
		e->i = json_object_get_int64(v);
	}
	json_object_object_add(e->reply, "record", o);
	explain_from_record(e, o);
}

static int
explain_pump(struct session *s, void *arg)
{
	struct explain		*e = arg;
	struct json_object	*u;

	if (e->phase == 0 && explain_slice(e, explain_attempt) > 0)
		return (1);
	if (e->phase == 0) {
		close(e->fd);
		buf_reset(&e->in);
		e->off = 0;
		e->phase = 1;
		e->fd = e->i >= 0 || e->url != NULL ? open(e->results,
		    O_RDONLY | O_CLOEXEC) : -1;
	}
	if (e->fd != -1 && !json_object_object_get_ex(e->reply, "record",
	    NULL) && explain_slice(e, explain_record) > 0)
		return (1);		/* until the record is found */
	if (json_object_array_length(e->attempts) == 0) {
		session_send(s, proto_reply_error(e->id, PERR_NO_SUCH_URL,
		    "no attempt of that URL in this run"));
		return (0);
	}
	if (e->i >= 0)
		json_object_object_add(e->reply, "i",
		    json_object_new_int64(e->i));
	if (e->url == NULL && json_object_object_get_ex(
	    json_object_array_get_idx(e->attempts, 0), "url", &u))
		json_object_object_add(e->reply, "url", json_object_get(u));
	session_send(s, e->reply);
	e->reply = NULL;
	return (0);
}

static int
url_plain(const char *u)
{
	for (; *u != '\0'; u++)
		if (*u == '"' || *u == '\\' || (unsigned char)*u < 0x20 ||
		    (unsigned char)*u >= 0x7f)
			return (0);
	return (1);
}

static void
cmd_explain(struct session *s, struct json_object *req, int64_t id)
{
	struct run		*r;
	struct explain		*e;
	struct json_object	*v;
	const char		*url;
	char			*path;
	int			 fd;

	if (arg_string(req, "url", &url) == -1 || (url == NULL &&
	    (!json_object_object_get_ex(req, "i", &v) ||
	    !json_object_is_type(v, json_type_int)))) {
		reply_error(s, id, PERR_BAD_REQUEST,
		    "explain needs \"url\" (string) or \"i\" (number)");
		return;
	}
	if ((r = req_run(s, req, id)) == NULL)
		return;
	if (r->path == NULL || strlen(r->path) < 7) {
		reply_error(s, id, PERR_NO_SUCH_RUN, "the run has no results");
		return;
	}
	xasprintf(&path, "%.*s.attempts.ndjson", (int)(strlen(r->path) - 7),
	    r->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1) {
		reply_error(s, id, PERR_NO_SUCH_URL, "this run has no "
		    "attempts log");
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->id = id;
	e->fd = fd;
	e->i = url == NULL ? json_object_get_int64(v) : -1;
	e->url = url != NULL ? xstrdup(url) : NULL;
	e->plain = url != NULL && url_plain(url);
	e->results = xstrdup(r->path);
	buf_init(&e->in);
	e->reply = proto_reply_ok(id);
	json_object_object_add(e->reply, "name",
	    json_object_new_string(r->job->name));
	snap_add_int(e->reply, "run", r->number);
	if (url != NULL)
		json_object_object_add(e->reply, "url",
		    json_object_new_string(url));
	e->attempts = json_object_new_array();
	json_object_object_add(e->reply, "attempts", e->attempts);
	session_set_pump(s, explain_pump, explain_free, e);
}

static void
cmd_retry_failed(struct session *s, struct json_object *req, int64_t id)
{
	struct run		*old, *r;
	struct json_object	*o, *a, *e;
	char			*cause = NULL;

	if ((old = req_run(s, req, id)) == NULL)
		return;
	if ((r = job_retry_failed(old, &cause)) == NULL) {
		reply_error(s, id, old->st.failed == 0 && RUN_FINISHED(old) &&
		    !old->closing ? PERR_NO_FAILURES : PERR_NOT_ACTIVE, cause);
		free(cause);
		return;
	}
	free(cause);
	o = proto_reply_ok(id);
	a = json_object_new_array();
	e = json_object_new_object();
	json_object_object_add(e, "name", json_object_new_string(r->job->name));
	snap_add_int(e, "run", r->number);
	json_object_object_add(e, "state",
	    json_object_new_string(run_state_names[r->state]));
	snap_add_int(e, "retry_of", r->retry_of);
	snap_add_int(e, "total", r->st.total);
	if (r->path != NULL)
		json_object_object_add(e, "results",
		    json_object_new_string(r->path));
	if (r->reason != NULL)
		json_object_object_add(e, "reason",
		    json_object_new_string(r->reason));
	json_object_array_add(a, e);
	json_object_object_add(o, "runs", a);
	session_send(s, o);
}

/* set: {"job","run"?,"key","value"} for a running run. */
static void
cmd_set(struct session *s, struct json_object *req, int64_t id)
{
	struct run		*r;
	struct json_object	*o;
	const char		*key, *value;
	char			*cause = NULL;

	if (arg_string(req, "key", &key) == -1 || key == NULL ||
	    arg_string(req, "value", &value) == -1 || value == NULL) {
		reply_error(s, id, PERR_BAD_REQUEST,
		    "set needs \"key\" and \"value\" (strings)");
		return;
	}
	if ((r = req_run(s, req, id)) == NULL)
		return;
	if (job_set(r, key, value, &cause) == -1) {
		reply_error(s, id, RUN_FINISHED(r) ? PERR_NOT_ACTIVE :
		    PERR_BAD_REQUEST, cause);
		free(cause);
		return;
	}
	o = proto_reply_ok(id);
	json_object_object_add(o, "name", json_object_new_string(r->job->name));
	snap_add_int(o, "run", r->number);
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "value", json_object_new_string(value));
	session_send(s, o);
}

/*
 * metrics: OpenMetrics text of the latest run of every job, for Prometheus
 * (node_exporter's textfile collector: fetchctl metrics > file.prom).
 */
static void
om_label(struct buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_addc(b, '\\');
		if (*v == '\n') {
			buf_adds(b, "\\n");
			continue;
		}
		buf_addc(b, *v);
	}
}

static void
om_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

/* name{job="..",run="N"[,extra]} value */
static void
om_sample(struct buf *b, const char *name, const struct run *r,
    const char *lk, const char *lv, double v)
{
	buf_printf(b, "%s{job=\"", name);
	om_label(b, r->job->name);
	buf_printf(b, "\",run=\"%u\"", r->number);
	if (lk != NULL && lv != NULL) {
		buf_printf(b, ",%s=\"", lk);
		om_label(b, lv);
		buf_addc(b, '"');
	}
	buf_printf(b, "} %.17g\n", v);
}

/* The counters and gauges that are one field of struct runstats. */
static const struct {
	const char	*name;
	const char	*type;
	const char	*help;
	size_t		 off;
} om_simple[] = {
	{ "fetchd_urls_ok", "counter", "URLs of the run that succeeded.",
	    offsetof(struct runstats, ok) },
	{ "fetchd_urls_failed", "counter", "URLs of the run that failed for "
	    "good.", offsetof(struct runstats, failed) },
	{ "fetchd_attempts", "counter", "Attempts made (retries included).",
	    offsetof(struct runstats, attempts) },
	{ "fetchd_retries", "counter", "Retries made.",
	    offsetof(struct runstats, retries) },
	{ "fetchd_bytes", "counter", "Body bytes received.",
	    offsetof(struct runstats, bytes) },
	{ "fetchd_urls", "gauge", "URLs of the run known so far.",
	    offsetof(struct runstats, total) },
	{ "fetchd_in_flight", "gauge", "Transfers in flight.",
	    offsetof(struct runstats, in_flight) },
	{ "fetchd_queued", "gauge", "URLs waiting for a slot.",
	    offsetof(struct runstats, queued) },
	{ "fetchd_retrying", "gauge", "URLs waiting for a retry timer.",
	    offsetof(struct runstats, retrying) },
};

static void
om_latency(struct buf *b, const struct run *r)
{
	static const double	 le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	    0.5, 1, 2.5, 5, 10, 30 };
	char			 v[32];
	size_t			 i;

	for (i = 0; i < nitems(le); i++) {
		/* OpenMetrics wants floats: "1.0", not "1". */
		snprintf(v, sizeof(v), le[i] == (double)(int64_t)le[i] ?
		    "%.1f" : "%g", le[i]);
		om_sample(b, "fetchd_latency_seconds_bucket", r, "le", v,
		    (double)histo_count_le(&r->st.latency,
		    (int64_t)(le[i] * USEC_PER_SEC)));
	}
	om_sample(b, "fetchd_latency_seconds_bucket", r, "le", "+Inf",
	    (double)r->st.latency.n);
	om_sample(b, "fetchd_latency_seconds_count", r, NULL, NULL,
	    (double)r->st.latency.n);
	om_sample(b, "fetchd_latency_seconds_sum", r, NULL, NULL,
	    (double)r->st.latency_sum / USEC_PER_SEC);
}

static void
om_held(const struct host_view *v, void *arg)
{
	struct buf	*b = arg;

	buf_adds(b, "fetchd_host_held{origin=\"");
	om_label(b, v->origin);
	buf_printf(b, "\",state=\"%s\"} 1\n", v->state);
}

static void
cmd_metrics(struct session *s, struct json_object *req, int64_t id)
{
	struct json_object	*o;
	struct job		*j;
	struct run		*r;
	struct buf		 b;
	char			 name[64];
	size_t			 i, k;

	buf_init(&b);
	for (i = 0; i < nitems(om_simple); i++) {
		om_family(&b, om_simple[i].name, om_simple[i].type,
		    om_simple[i].help);
		/* Counter samples are NAME_total (OpenMetrics). */
		snprintf(name, sizeof(name), "%s%s", om_simple[i].name,
		    strcmp(om_simple[i].type, "counter") == 0 ? "_total" : "");
		TAILQ_FOREACH(j, job_list(), entry) {
			if ((r = job_run(j, 0)) == NULL)
				continue;
			om_sample(&b, name, r, NULL, NULL, (double)*(const
			    uint64_t *)((const char *)&r->st +
			    om_simple[i].off));
		}
	}
	om_family(&b, "fetchd_running", "gauge", "1 while the run goes on.");
	TAILQ_FOREACH(j, job_list(), entry)
		if ((r = job_run(j, 0)) != NULL)
			om_sample(&b, "fetchd_running", r, NULL, NULL,
			    !RUN_FINISHED(r) || r->closing);
	om_family(&b, "fetchd_failures", "counter", "Final failures by class.");
	TAILQ_FOREACH(j, job_list(), entry)
		if ((r = job_run(j, 0)) != NULL)
			for (k = 0; k < r->st.nerrors; k++)
				om_sample(&b, "fetchd_failures_total", r,
				    "class", r->st.errors[k].name,
				    (double)r->st.errors[k].n);
	om_family(&b, "fetchd_latency_seconds", "histogram",
	    "Duration of successful attempts.");
	TAILQ_FOREACH(j, job_list(), entry)
		if ((r = job_run(j, 0)) != NULL)
			om_latency(&b, r);
	om_family(&b, "fetchd_host_held", "gauge", "Origins paused, down or "
	    "limited (state label).");
	job_hosts_held(om_held, &b);
	buf_adds(&b, "# EOF\n");
	o = proto_reply_ok(id);
	json_object_object_add(o, "text", json_object_new_string(b.data));
	session_send(s, o);
	buf_free(&b);
}

/* pause and resume: {"ok":true,"name":..,"run":..,"state":"paused"}. */
static void
pause_reply(struct session *s, struct json_object *req, int64_t id,
    int pause)
{
	struct run		*r;
	struct json_object	*o;
	int			 rc;

	if ((r = req_run(s, req, id)) == NULL)
		return;
	rc = pause ? job_pause(r, "by request") : job_unpause(r);
	if (rc == -1) {
		session_send(s, proto_reply_error(id, PERR_NOT_ACTIVE,
		    "run %u of '%s' already finished (%s)", r->number,
		    r->job->name, run_state_names[r->state]));
		return;
	}
	o = proto_reply_ok(id);
	json_object_object_add(o, "name", json_object_new_string(r->job->name));
	snap_add_int(o, "run", r->number);
	json_object_object_add(o, "state",
	    json_object_new_string(pause ? "paused" : "resumed"));
	if (r->pause_reason != NULL)
		json_object_object_add(o, "reason",
		    json_object_new_string(r->pause_reason));
	session_send(s, o);
}

static void
cmd_pause(struct session *s, struct json_object *req, int64_t id)
{
	pause_reply(s, req, id, 1);
}

static void
cmd_resume(struct session *s, struct json_object *req, int64_t id)
{
	pause_reply(s, req, id, 0);
}

/* reload: re-read the daemon file and jobs-dir; all or nothing. */
static void
cmd_reload(struct session *s, struct json_object *req, int64_t id)
{
	struct json_object	*o, *a;
	char			*cause = NULL, *line, *save = NULL;

	if (fetchd_reload(&cause) == 0) {
		session_send(s, proto_reply_ok(id));
		free(cause);
		return;
	}
	if (cause == NULL)
		cause = xstrdup("reload failed");
	o = proto_reply_error(id, PERR_RELOAD, "reload rejected; the "
	    "running configuration is kept");
	a = json_object_new_array();
	for (line = strtok_r(cause, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		json_object_array_add(a, json_object_new_string(line));
	json_object_object_add(o, "errors", a);
	session_send(s, o);
	free(cause);
}

/* Sorted by name. */
static const struct cmd cmds[] = {
	{ "cancel",	1, cmd_cancel },
	{ "explain",	0, cmd_explain },
	{ "failures",	0, cmd_failures },
	{ "list",	0, cmd_list },
	{ "metrics",	0, cmd_metrics },
	{ "pause",	1, cmd_pause },
	{ "ping",	0, cmd_ping },
	{ "reload",	1, cmd_reload },
	{ "results",	0, cmd_results },
	{ "resume",	1, cmd_resume },
	{ "retry-failed", 1, cmd_retry_failed },
	{ "set",	1, cmd_set },
	{ "status",	0, cmd_status },
	{ "submit",	1, cmd_submit },
	{ "version",	0, cmd_version },
	{ "watch",	0, cmd_watch },
};

static int
cmd_cmp(const void *key, const void *elem)
{
	return (strcmp(key, ((const struct cmd *)elem)->name));
}

void
control_cmd_init(const struct daemonconf *dc)
{
	cmd_dc = dc;
}

/*
 * Who may change things (SO_PEERCRED): root, the daemon's own user and
 * members of admin-group.  Read-only commands are for anyone who can open
 * the socket (mode 0660: its owner and group).  The group is looked up
 * when its name changes (start, reload), not per request.
 */
static int
may_change(struct session *s)
{
	static char	*cached;
	static gid_t	 gid;
	static int	 known;
	struct group	*gr;
	uid_t		 uid = session_uid(s);

	if (uid == 0 || uid == geteuid())
		return (1);
	if (cmd_dc->admin_group == NULL)
		return (0);
	if (cached == NULL || strcmp(cached, cmd_dc->admin_group) != 0) {
		free(cached);
		cached = xstrdup(cmd_dc->admin_group);
		known = (gr = getgrnam(cached)) != NULL;
		if (known)
			gid = gr->gr_gid;
		else
			log_warnx("admin-group '%s' does not exist", cached);
	}
	return (known && session_in_group(s, gid));
}

/* Find the command and run it; unknown names get a coded error. */
void
control_cmd_dispatch(struct session *s, struct json_object *req, int64_t id,
    const char *name)
{
	const struct cmd	*c;

	c = bsearch(name, cmds, nitems(cmds), sizeof(cmds[0]), cmd_cmp);
	if (c == NULL) {
		session_send(s, proto_reply_error(id, PERR_UNKNOWN_CMD,
		    "unknown command '%s'", name));
		return;
	}
	if (c->mutating && !may_change(s)) {
		log_notice("control: uid %ld may not use '%s' (permission "
		    "denied)", (long)session_uid(s), name);
		session_send(s, proto_reply_error(id, PERR_PERMISSION,
		    "permission denied: '%s' changes fetchd; it is for root, "
		    "fetchd's own user%s%s%s", name,
		    cmd_dc->admin_group != NULL ? " and members of group '" :
		    "", cmd_dc->admin_group != NULL ? cmd_dc->admin_group : "",
		    cmd_dc->admin_group != NULL ? "'" : ""));
		return;
	}
	c->fn(s, req, id);
}
