/*
 * fuzz_proto.c: libFuzzer target for what a control-socket client can
 * reach: the bounded line framing, the request parser and the command
 * dispatcher (daemon/control_cmd.c, every handler) with a fake client and
 * a fake job layer.
 *
 * The input is cut into reads whose sizes come from its first byte, fed
 * through a small linebuf (so oversized lines and resynchronizing are
 * exercised), and every line is parsed and dispatched as control.c does.
 * The fake client (the session_* functions control_cmd.c calls) checks
 * that every reply is exactly one line of valid JSON and runs long replies'
 * pumps to the end; its uid is root or a stranger (bit 0 of the first
 * byte), so mutating commands are both refused and executed.  The fake job
 * layer (job_* and friends, defined here so job.c, fetch transfers and the
 * state directory stay out) holds one job "alpha" with a finished run 1
 * and a running run 2, whose results and attempts files are written to a
 * temporary directory at start-up; it never changes between inputs.
 *
 * Any input must never crash, hang, leak, grow the buffer past its bound
 * or produce an invalid reply.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fetchd.h"
#include "proto.h"

#define FUZZ_MAX_LINE	512
#define FUZZ_MAX_PUMPS	10000

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/*
 * The fake client.
 */
struct session {
	uid_t	  uid;
	int	(*pump)(struct session *, void *);
	void	(*release)(void *);
	void	 *arg;
	size_t	  lines;
};

/* One or more complete lines, each a JSON object. */
static void
check_lines(const char *p, size_t n)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	const char		*nl;

	if (n == 0 || p[n - 1] != '\n' || memchr(p, '\0', n) != NULL)
		abort();
	if ((tok = json_tokener_new_ex(128)) == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	while (n > 0) {
		nl = memchr(p, '\n', n);
		json_tokener_reset(tok);
		o = json_tokener_parse_ex(tok, p, (int)(nl - p));
		if (o == NULL || !json_object_is_type(o, json_type_object) ||
		    (size_t)json_tokener_get_parse_end(tok) != (size_t)(nl - p))
			abort();
		json_object_put(o);
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	json_tokener_free(tok);
}

void
session_send(struct session *s, struct json_object *o)
{
	char	*out;
	size_t	 n;

	if (o == NULL)
		abort();
	out = proto_serialize(o, &n);
	if (memchr(out, '\n', n - 1) != NULL)
		abort();
	check_lines(out, n);
	free(out);
	json_object_put(o);
	s->lines++;
}

void
session_send_raw(struct session *s, const char *p, size_t n)
{
	check_lines(p, n);
	s->lines++;
}

void
session_set_pump(struct session *s, int (*pump)(struct session *, void *),
    void (*release)(void *), void *arg)
{
	if (s->pump != NULL)
		abort();
	s->pump = pump;
	s->release = release;
	s->arg = arg;
}

void
session_watch(struct session *s, const char *job, unsigned run, int64_t id)
{
}

uid_t
session_uid(const struct session *s)
{
	return (s->uid);
}

int
session_in_group(const struct session *s, gid_t gid)
{
	return (0);
}

/*
 * The fake job layer: what control_cmd.c calls of job.c and fetchd.c.
 */
const char *const run_state_names[] = {
	"queued", "running", "done", "partial", "failed", "cancelled"
};

static struct jobq	 jobs = TAILQ_HEAD_INITIALIZER(jobs);
static struct job	 alpha;
static struct run	 run1, run2, run3;
static char		 s_503[] = "http_503", s_timeout[] = "timeout";
static char		 s_alpha[] = "alpha", s_reason[] = "2 of 3 failed";
static char		 s_pause[] = "by request";
static struct namecount	 errs1[] = { { s_503, 2 }, { s_timeout, 1 } };
static char		 dir[] = "/tmp/fuzz_proto.XXXXXX";
static char		 path1[64], path2[64], attempts1[64];

struct jobq *
job_list(void)
{
	return (&jobs);
}

struct job *
job_find(const char *name)
{
	return (strcmp(name, "alpha") == 0 ? &alpha : NULL);
}

struct run *
job_run(struct job *j, unsigned n)
{
	if (n == 0 || n == 2)
		return (&run2);
	return (n == 1 ? &run1 : NULL);
}

int
job_submit(struct jobfile *jf, struct run **runs, size_t max, char **cause)
{
	size_t	 i;

	*cause = NULL;
	if (jf->njobs > max) {
		xasprintf(cause, "too many jobs in one file (at most %zu)",
		    max);
		return (-1);
	}
	for (i = 0; i < jf->njobs; i++)
		runs[i] = &run2;
	return (0);
}

int
job_cancel(struct run *r, const char *why)
{
	return (RUN_FINISHED(r) ? -1 : 0);
}

int
job_pause(struct run *r, const char *why)
{
	return (RUN_FINISHED(r) ? -1 : 0);
}

int
job_unpause(struct run *r)
{
	return (RUN_FINISHED(r) ? -1 : 0);
}

int
job_set(struct run *r, const char *key, const char *value, char **cause)
{
	if (RUN_FINISHED(r) || strcmp(key, "concurrency") != 0) {
		xasprintf(cause, "cannot set '%s' to '%s'", key, value);
		return (-1);
	}
	return (0);
}

struct run *
job_retry_failed(struct run *r, char **cause)
{
	if (!RUN_FINISHED(r)) {
		*cause = xstrdup("the run is still running");
		return (NULL);
	}
	return (&run3);
}

void
job_hosts_held(void (*fn)(const struct host_view *, void *), void *arg)
{
	struct host_view	 v;

	memset(&v, 0, sizeof(v));
	v.origin = "http://127.0.0.1:1";
	v.state = "down";
	v.until_wall = 1790000000000LL;
	v.failures = 3;
	fn(&v, arg);
}

int64_t
histo_quantile(const struct histo *h, double q)
{
	return (h->n == 0 ? 0 : (int64_t)(q * 1000));
}

uint64_t
histo_count_le(const struct histo *h, int64_t usec)
{
	return (h->n / 2);
}

int
fetchd_reload(char **cause)
{
	*cause = xstrdup("/etc/fetchd/fetchd.conf:3: unknown key 'x'\n"
	    "/etc/fetchd/jobs.d/a.conf:1: bad \"quoted\"\tvalue");
	return (-1);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL || fputs(text, fp) == EOF ||
	    fclose(fp) == EOF)
		abort();
}

static void
cleanup(void)
{
	unlink(path1);
	unlink(path2);
	unlink(attempts1);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct daemonconf	 dc;

	log_init(LOG_ERR, 1);
	daemonconf_defaults(&dc);
	control_cmd_init(&dc);
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(path1, sizeof(path1), "%s/alpha.1.ndjson", dir);
	snprintf(path2, sizeof(path2), "%s/alpha.2.ndjson", dir);
	snprintf(attempts1, sizeof(attempts1), "%s/alpha.1.attempts.ndjson",
	    dir);
	write_file(path1,
	    "{\"i\":2,\"url\":\"http://127.0.0.1:1/b\",\"status\":200,"
	    "\"attempts\":1,\"ms\":1.5,\"queue_ms\":0.0,"
	    "\"start\":1790000000001,\"dns_ms\":0.0,\"connect_ms\":0.2,"
	    "\"tls_ms\":0.0,\"ttfb_ms\":1.4,\"body\":{\"x\":1}}\n"
	    "{\"i\":3,\"url\":[1],\"status\":\"200\",\"attempts\":\"1\","
	    "\"ms\":null,\"start\":{},\"dns_ms\":\"x\"}\n"
	    "{\"i\":0,\"url\":\"http://127.0.0.1:1/\\u00e9\",\"status\":503,"
	    "\"error\":\"http_503\",\"attempts\":3,\"ms\":2.0,"
	    "\"queue_ms\":0.1}\n"
	    "{\"i\":1,\"url\":\"http://127.0.0.1:1/a\",\"error\":\"timeout\","
	    "\"attempts\":3,\"ms\":30000.0,\"queue_ms\":0.0}\n"
	    "{\"summary\":true,\"ok\":1,\"failed\":2}\n");
	write_file(path2, "");
	write_file(attempts1,
	    "{\"i\":0,\"url\":\"http://127.0.0.1:1/\\u00e9\",\"n\":1,"
	    "\"error\":\"http_503\",\"decision\":\"retry\"}\n"
	    "{\"i\":1,\"url\":\"http://127.0.0.1:1/a\",\"n\":1,"
	    "\"error\":\"timeout\",\"decision\":\"final\"}\n"
	    "{\"i\":0,\"url\":\"http://127.0.0.1:1/\\u00e9\",\"n\":2,"
	    "\"error\":\"http_503\",\"decision\":\"final\"}\n");

	alpha.name = s_alpha;
	TAILQ_INIT(&alpha.runs);
	alpha.next_run = 1790000060000LL;
	run1.job = run2.job = run3.job = &alpha;
	run1.number = 1;
	run1.state = RUN_PARTIAL;
	run1.path = path1;
	run1.started = 1000000;
	run1.ended = 9000000;
	run1.started_wall = 1790000000000LL;
	run1.ended_wall = 1790000008000LL;
	run1.st.total = run1.st.done = 3;
	run1.st.total_known = 1;
	run1.st.ok = 1;
	run1.st.failed = 2;
	run1.st.errors = errs1;
	run1.st.nerrors = nitems(errs1);
	run1.st.latency.n = 4;
	run1.reason = s_reason;
	run2.number = 2;
	run2.state = RUN_RUNNING;
	run2.path = path2;
	run2.started = 1;
	run2.st.total = 10;
	run2.st.done = 4;
	run2.st.total_known = 1;
	run2.paused = PAUSE_USER;
	run2.pause_reason = s_pause;
	run3.number = 3;
	run3.state = RUN_QUEUED;
	run3.retry_of = 1;
	run3.st.total = 2;
	TAILQ_INSERT_TAIL(&alpha.runs, &run1, entry);
	TAILQ_INSERT_TAIL(&alpha.runs, &run2, entry);
	TAILQ_INSERT_TAIL(&jobs, &alpha, entry);
	return (0);
}

/* What control.c does with one line: parse, then dispatch or refuse. */
static void
handle_line(struct session *s, const char *line, size_t len)
{
	struct json_object	*req;
	enum proto_err		 err;
	const char		*cmd;
	int64_t			 id;
	char			*msg;
	size_t			 before = s->lines, n;

	req = proto_parse_request(line, len, &id, &cmd, &err, &msg);
	if (req == NULL) {
		if (err <= PERR_OK || err >= PERR_MAX || msg == NULL)
			abort();
		session_send(s, proto_reply_error(id, err, "%s", msg));
		free(msg);
		return;
	}
	if (cmd == NULL || msg != NULL)
		abort();
	control_cmd_dispatch(s, req, id, cmd);
	json_object_put(req);
	/* A long reply: pump it to the end, as the session's writes would. */
	for (n = 0; s->pump != NULL; n++) {
		if (n == FUZZ_MAX_PUMPS)
			abort();
		if (s->pump(s, s->arg) == 0) {
			s->release(s->arg);
			s->pump = NULL;
		}
	}
	/* Every request is answered (watch included: its first snapshot). */
	if (s->lines == before)
		abort();
}

static void
drain(struct session *s, struct linebuf *lb)
{
	enum lb_result	 r;
	char		*line;
	size_t		 len;

	while ((r = linebuf_next(lb, &line, &len)) != LB_NONE) {
		if (r != LB_LINE)
			continue;
		if (len == 0 || len > lb->max || line[len] != '\0')
			abort();
		handle_line(s, line, len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session	 s;
	struct linebuf	 lb;
	size_t		 room, step, k;
	char		*p;

	memset(&s, 0, sizeof(s));
	linebuf_init(&lb, FUZZ_MAX_LINE);
	/*
	 * The first byte: bit 0 makes the client root (else a stranger, who
	 * may not use mutating commands); the rest the read size, 1..128.
	 */
	step = 1;
	s.uid = geteuid() + 1;
	if (size > 0) {
		step = (size_t)(data[0] >> 1) + 1;
		if (data[0] & 1)
			s.uid = 0;
		data++;
		size--;
	}
	while (size > 0) {
		p = linebuf_space(&lb, &room);
		k = size < step ? size : step;
		if (k > room)
			k = room;
		memcpy(p, data, k);
		linebuf_commit(&lb, k);
		data += k;
		size -= k;
		drain(&s, &lb);
		if (lb.cap > FUZZ_MAX_LINE + 3 + 8192)
			abort();
	}
	/* End of input: a last line without a newline, as the daemon does. */
	p = linebuf_space(&lb, &room);
	*p = '\n';
	linebuf_commit(&lb, 1);
	drain(&s, &lb);
	linebuf_free(&lb);
	return (0);
}
