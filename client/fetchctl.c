/*
 * fetchctl.c: the command-line client of fetchd.
 *
 * A straight-line program (STYLE principle 22): parse the arguments, find
 * the command in cmds[], build its request, connect to the control socket,
 * send the request, then hand each reply line to the command's print
 * function until it returns an exit status.  What people see is drawn by
 * the struct output chosen once (output.c: human or --json); this file
 * formats only usage and error messages.  I/O is blocking and there is no
 * event loop: the only long waits are watch and submit (or retry-failed)
 * --wait, which end on the last "finished" event, on Ctrl-C, or when
 * fetchd hangs up.
 *
 * Exit status: 0 success; 1 a run shown finished partial, failed or
 * cancelled; 2 a usage or connection error, an error reply, or Ctrl-C
 * during --wait (the runs go on in fetchd).  An error reply listed in
 * answers[] (retry-failed of a run without failures) is printed and
 * exits 0.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proto.h"
#include "util.h"
#include "fetchctl.h"

#define SUBMIT_MAX	PROTO_MAX_REQUEST /* largest job file, bytes */
#define REPLY_DEPTH	1024		/* JSON nesting in bodies */
#define REPLY_TIMEOUT	30		/* seconds of silence */

/* Options.  Global ones go with every command, the others where listed. */
#define O_SOCKET	0x01
#define O_JSON		0x02
#define O_HELP		0x04
#define O_VERSION	0x08
#define O_GLOBAL	(O_SOCKET | O_JSON | O_HELP | O_VERSION)
#define O_WAIT		0x10
#define O_RUN		0x20
#define O_ORDERED	0x40
#define O_FAILED	0x80

struct optdef {
	const char	*name;
	char		 letter;
	int		 flag;
	int		 hasarg;
};

static const struct optdef optdefs[] = {
	{ "--socket",	's',	O_SOCKET,	1 },
	{ "--json",	0,	O_JSON,		0 },
	{ "--help",	'h',	O_HELP,		0 },
	{ "--version",	'V',	O_VERSION,	0 },
	{ "--wait",	0,	O_WAIT,		0 },
	{ "--run",	0,	O_RUN,		1 },
	{ "--ordered",	0,	O_ORDERED,	0 },
	{ "--failed",	0,	O_FAILED,	0 },
};

struct args {
	int		 opts;		/* O_* given */
	const char	*socket;
	int64_t		 run;
	const char	*pos[2];	/* JOB or FILE (not the command) */
	int		 npos;
};

/* A run started by submit --wait, until its "finished" event. */
struct waitrun {
	char			*name;
	int64_t			 run;
	struct json_object	*final;
};

struct ctl;

struct cmd {
	const char	*name;
	const char	*usage;
	const char	*help;
	int		 mutating;	/* needs more than read access */
	int		 opts;		/* O_* taken, O_GLOBAL apart */
	int		 minpos;
	int		 maxpos;
	struct json_object *(*build_request)(struct ctl *);
	int		(*print)(struct ctl *, const struct reply *);
};

struct ctl {
	const struct cmd	*cmd;
	const struct output	*out;
	struct args		 args;
	char			*socket;
	int			 fd;
	int64_t			 id;		/* last request */
	struct linebuf		 lb;
	struct json_tokener	*tok;
	struct waitrun		*runs;		/* submit --wait */
	size_t			 nruns;
	size_t			 nfinished;
	int			(*interrupt)(struct ctl *);
};

static volatile sig_atomic_t	 got_sigint;

static struct json_object *build_job(struct ctl *);
static struct json_object *build_submit(struct ctl *);
static struct json_object *build_explain(struct ctl *);
static struct json_object *build_version(struct ctl *);
static struct json_object *build_set(struct ctl *);
static int	print_submit(struct ctl *, const struct reply *);
static int	print_retry(struct ctl *, const struct reply *);
static int	print_explain(struct ctl *, const struct reply *);
static int	print_reload(struct ctl *, const struct reply *);
static int	print_status(struct ctl *, const struct reply *);
static int	print_list(struct ctl *, const struct reply *);
static int	print_watch(struct ctl *, const struct reply *);
static int	print_results(struct ctl *, const struct reply *);
static int	print_failures(struct ctl *, const struct reply *);
static int	print_cancel(struct ctl *, const struct reply *);
static int	print_ping(struct ctl *, const struct reply *);
static int	print_version(struct ctl *, const struct reply *);
static int	print_metrics(struct ctl *, const struct reply *);
static int	print_set(struct ctl *, const struct reply *);

static const struct cmd cmds[] = {
	{ "submit", "FILE [--wait]",
	    "submit a job file; --wait shows progress until its runs end",
	    1, O_WAIT, 1, 1, build_submit, print_submit },
	{ "status", "[JOB [--run N]]",
	    "all jobs in a table, or one run in detail",
	    0, O_RUN, 0, 1, build_job, print_status },
	{ "list", "",
	    "the latest run of every job, in a table",
	    0, 0, 0, 0, build_job, print_list },
	{ "watch", "[JOB [--run N]]",
	    "show progress of runs as they go, until Ctrl-C",
	    0, O_RUN, 0, 1, build_job, print_watch },
	{ "results", "JOB [--run N] [--ordered] [--failed]",
	    "print a run's records, one JSON object per line",
	    0, O_RUN | O_ORDERED | O_FAILED, 1, 1, build_job, print_results },
	{ "failures", "JOB [--run N]",
	    "a run's failed URLs: counts by error, then a table",
	    0, O_RUN, 1, 1, build_job, print_failures },
	{ "explain", "JOB URL|INDEX [--run N]",
	    "every attempt of one URL: timings, status, retry decisions",
	    0, O_RUN, 2, 2, build_explain, print_explain },
	{ "retry-failed", "JOB [--run N] [--wait]",
	    "a new run of the URLs that failed in a run; --wait as submit",
	    1, O_RUN | O_WAIT, 1, 1, build_job, print_retry },
	{ "cancel", "JOB [--run N]",
	    "cancel a run (the latest unless --run)",
	    1, O_RUN, 1, 1, build_job, print_cancel },
	{ "pause", "JOB [--run N]",
	    "start no new transfers for a run (those in flight finish)",
	    1, O_RUN, 1, 1, build_job, print_cancel },
	{ "resume", "JOB [--run N]",
	    "let a paused run go on (also after a write error)",
	    1, O_RUN, 1, 1, build_job, print_cancel },
	{ "set", "JOB KEY=VALUE [--run N]",
	    "change a setting of a run as it goes: concurrency or rate",
	    1, O_RUN, 2, 2, build_set, print_set },
	{ "metrics", "",
	    "counters of every job and host as OpenMetrics text",
	    0, 0, 0, 0, build_job, print_metrics },
	{ "reload", "",
	    "make fetchd read its configuration and jobs-dir again",
	    1, 0, 0, 0, build_job, print_reload },
	{ "ping", "",
	    "check that fetchd answers",
	    0, 0, 0, 0, build_job, print_ping },
	{ "version", "",
	    "fetchctl's and fetchd's versions",
	    0, 0, 0, 0, build_version, print_version },
	{ "help", "[COMMAND]",
	    "this text, or one command's",
	    0, 0, 0, 1, NULL, NULL },
};

/* Reading reply objects: absent or mistyped members read as 0 or NULL. */

struct json_object *
obj_get(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return (NULL);
	return (v);
}

const char *
obj_str(struct json_object *o, const char *key)
{
	struct json_object	*v = obj_get(o, key);

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

int64_t
obj_int(struct json_object *o, const char *key)
{
	struct json_object	*v = obj_get(o, key);

	if (v == NULL || !(json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_double)))
		return (0);
	return (json_object_get_int64(v));
}

double
obj_double(struct json_object *o, const char *key)
{
	struct json_object	*v = obj_get(o, key);

	if (v == NULL || !(json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_double)))
		return (0);
	return (json_object_get_double(v));
}

int
obj_bool(struct json_object *o, const char *key)
{
	struct json_object	*v = obj_get(o, key);

	return (v != NULL && json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v));
}

int
state_finished(const char *state)
{
	return (state != NULL && (strcmp(state, "done") == 0 ||
	    state_bad(state)));
}

int
state_bad(const char *state)
{
	return (state != NULL && (strcmp(state, "partial") == 0 ||
	    strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0));
}

/* Usage, generated from cmds[]. */

static void
usage_cmd(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: fetchctl [-s PATH] [--json] %s%s%s\n", c->name,
	    *c->usage != '\0' ? " " : "", c->usage);
}

static void
usage(FILE *f)
{
	const struct cmd	*c;
	char			*sock;

	fprintf(f, "usage: fetchctl [-s PATH] [--json] COMMAND [ARGS]\n\n"
	    "commands:\n");
	for (c = cmds; c < cmds + nitems(cmds); c++)
		fprintf(f, "  %s%s%s\n      %s\n", c->name,
		    *c->usage != '\0' ? " " : "", c->usage, c->help);
	sock = util_default_socket();
	fprintf(f, "\noptions:\n"
	    "  -s, --socket PATH  fetchd's control socket (default:"
	    " $FETCHD_SOCKET, else\n"
	    "                     %s)\n"
	    "      --json         print fetchd's reply lines unchanged;"
	    " results and\n"
	    "                     failures print the records alone\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      fetchctl's version (no daemon needed)\n"
	    "\nexit status: 0 success; 1 a run shown finished partial, failed"
	    " or\ncancelled; 2 a usage or connection error, an error from"
	    " fetchd, or Ctrl-C\nduring submit or retry-failed --wait (the runs"
	    " keep going: see fetchctl\nstatus).  watch runs until Ctrl-C and"
	    " then exits 0; retry-failed of a run\nwithout failures says so and"
	    " exits 0.\n", sock);
	free(sock);
}

/* A usage error of command c (NULL: before one is known); exits 2. */
static void __attribute__((noreturn, format(printf, 2, 3)))
usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list	 ap;

	fputs("fetchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL)
		usage_cmd(stderr, c);
	else
		fputs("run 'fetchctl help' for the commands\n", stderr);
	exit(CTL_EXIT_ERR);
}

/* Arguments. */

static const struct cmd *
cmd_find(const char *name)
{
	const struct cmd	*c, *near = NULL;
	size_t			 d, best = 3;

	for (c = cmds; c < cmds + nitems(cmds); c++) {
		if (strcmp(c->name, name) == 0)
			return (c);
		if ((d = util_levenshtein(c->name, name)) < best) {
			best = d;
			near = c;
		}
	}
	if (near != NULL)
		usage_error(NULL, "unknown command '%s' (did you mean '%s'?)",
		    name, near->name);
	usage_error(NULL, "unknown command '%s'", name);
}

static const struct optdef *
opt_find(const char *arg, size_t *namelen)
{
	const struct optdef	*o;
	size_t			 n;

	for (o = optdefs; o < optdefs + nitems(optdefs); o++) {
		if (arg[1] != '-') {
			if (o->letter != 0 && arg[1] == o->letter) {
				*namelen = 2;
				return (o);
			}
			continue;
		}
		n = strlen(o->name);
		if (strncmp(arg, o->name, n) == 0 &&
		    (arg[n] == '\0' || (arg[n] == '=' && o->hasarg))) {
			*namelen = n;
			return (o);
		}
	}
	usage_error(NULL, "unknown option '%s'", arg);
}

/* One option at argv[0]; returns how many arguments it took. */
static int
parse_option(struct args *a, int argc, char *argv[])
{
	const struct optdef	*o;
	const char		*val = NULL;
	size_t			 n;
	uint64_t		 run;
	int			 used = 1;

	o = opt_find(argv[0], &n);
	if (o->hasarg) {
		if (argv[0][n] != '\0')
			val = argv[0] + n + (argv[0][n] == '=');
		else if (argc > 1) {
			val = argv[1];
			used = 2;
		} else
			usage_error(NULL, "option %s needs a value", o->name);
	} else if (argv[0][n] != '\0')
		usage_error(NULL, "unknown option '%s'", argv[0]);
	a->opts |= o->flag;
	if (o->flag == O_SOCKET)
		a->socket = val;
	else if (o->flag == O_RUN) {
		if (util_parse_uint(val, 1, INT64_MAX, &run, NULL) == -1)
			usage_error(NULL, "--run: expected a run number, got "
			    "'%s'", val);
		a->run = (int64_t)run;
	}
	return (used);
}

/* Options may come before or after the command; "--" ends them. */
static const struct cmd *
parse_args(struct args *a, int argc, char *argv[])
{
	const struct cmd	*c = NULL;
	const struct optdef	*o;
	const char		*name = NULL;
	int			 i, bad, npos = 0, dashdash = 0;

	for (i = 1; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0)
			dashdash = 1;
		else if (!dashdash && argv[i][0] == '-' && argv[i][1] != '\0')
			i += parse_option(a, argc - i, argv + i) - 1;
		else if (name == NULL)
			name = argv[i];
		else if (npos++ < (int)nitems(a->pos))
			a->pos[a->npos++] = argv[i];
	}
	if (name != NULL)
		c = cmd_find(name);
	if (a->opts & O_HELP)
		return (c);
	if (c == NULL)
		return (NULL);
	if ((bad = a->opts & ~(O_GLOBAL | c->opts)) != 0) {
		for (o = optdefs; (o->flag & bad) == 0; o++)
			;
		usage_error(c, "%s takes no %s option", c->name, o->name);
	}
	if (npos < c->minpos)
		usage_error(c, "%s: missing argument", c->name);
	if (npos > c->maxpos)
		usage_error(c, "%s: unexpected argument '%s'", c->name,
		    a->pos[c->maxpos]);
	if ((a->opts & O_RUN) && a->npos == 0)
		usage_error(c, "--run needs a JOB");
	return (c);
}

/* help [COMMAND], -h and -V: no daemon needed. */
static void
help(const struct cmd *c, const struct args *a)
{
	if (c != NULL && c->build_request == NULL && a->npos > 0)
		c = cmd_find(a->pos[0]);
	if (c == NULL || c->build_request == NULL)
		usage(stdout);
	else {
		usage_cmd(stdout, c);
		printf("%s\n", c->help);
	}
	exit(CTL_EXIT_OK);
}

static void
ctl_init(struct ctl *ctl, int argc, char *argv[])
{
	const char	*env;

	memset(ctl, 0, sizeof(*ctl));
	ctl->fd = -1;
	ctl->cmd = parse_args(&ctl->args, argc, argv);
	if (ctl->args.opts & O_VERSION) {
		printf("fetchctl %s (protocol %d)\n", PACKAGE_VERSION,
		    PROTO_VERSION);
		exit(CTL_EXIT_OK);
	}
	if ((ctl->args.opts & O_HELP) ||
	    (ctl->cmd != NULL && ctl->cmd->build_request == NULL))
		help(ctl->cmd, &ctl->args);
	if (ctl->cmd == NULL) {
		usage(stderr);
		exit(CTL_EXIT_ERR);
	}
	ctl->out = (ctl->args.opts & O_JSON) ? &output_json : &output_human;
	if (ctl->args.socket != NULL)
		ctl->socket = xstrdup(ctl->args.socket);
	else if ((env = getenv("FETCHD_SOCKET")) != NULL && *env != '\0')
		ctl->socket = xstrdup(env);
	else
		ctl->socket = util_default_socket();
	linebuf_init(&ctl->lb, PROTO_MAX_REPLY);
	if ((ctl->tok = json_tokener_new_ex(REPLY_DEPTH)) == NULL)
		errx(CTL_EXIT_ERR, "out of memory");
}

static void
ctl_free(struct ctl *ctl)
{
	size_t	 i;

	for (i = 0; i < ctl->nruns; i++) {
		free(ctl->runs[i].name);
		json_object_put(ctl->runs[i].final);
	}
	free(ctl->runs);
	json_tokener_free(ctl->tok);
	linebuf_free(&ctl->lb);
	if (ctl->fd != -1)
		close(ctl->fd);
	free(ctl->socket);
}

/* Signals: SIGPIPE ignored, SIGINT only noted (read() sees EINTR). */

static void
on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static void
signals_init(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_sigint;		/* no SA_RESTART */
	sigaction(SIGINT, &sa, NULL);
}

/* Ctrl-C outside watch and submit --wait: die of it, as usual. */
static int
die_of_sigint(struct ctl *ctl)
{
	ctl->out->stop();
	fflush(stdout);
	signal(SIGINT, SIG_DFL);
	raise(SIGINT);
	return (CTL_EXIT_ERR);
}

/* The connection. */

static void
ctl_connect(struct ctl *ctl)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	const char		*p = ctl->socket;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(p) >= sizeof(sun.sun_path))
		errx(CTL_EXIT_ERR, "socket path too long: %s", p);
	memcpy(sun.sun_path, p, strlen(p));
	if ((ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(CTL_EXIT_ERR, "socket");
	if (connect(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return;
	switch (errno) {
	case ENOENT:
	case ENOTDIR:
		errx(CTL_EXIT_ERR, "fetchd is not running (no socket at %s); "
		    "start it with `fetchd` or `systemctl start fetchd`", p);
	case ECONNREFUSED:
		if (stat(p, &st) == 0 && !S_ISSOCK(st.st_mode))
			errx(CTL_EXIT_ERR, "%s is not a socket", p);
		errx(CTL_EXIT_ERR, "fetchd is not running (nothing listens "
		    "on %s); start it with `fetchd` or `systemctl start "
		    "fetchd`", p);
	case EACCES:
	case EPERM:
		errx(CTL_EXIT_ERR, "permission denied on %s: join the "
		    "socket's group (ls -l %s)", p, p);
	case EINTR:
		errx(CTL_EXIT_ERR, "interrupted");
	default:
		err(CTL_EXIT_ERR, "connect %s", p);
	}
}

static struct json_object *
ctl_request(struct ctl *ctl, const char *cmd)
{
	return (proto_request_new(++ctl->id, cmd));
}

static void
ctl_send(struct ctl *ctl, struct json_object *req)
{
	char	*s;
	size_t	 len, off = 0;
	ssize_t	 n;

	s = proto_serialize(req, &len);
	if (len > PROTO_MAX_REQUEST + 1)
		errx(CTL_EXIT_ERR, "request too large (%zu bytes; fetchd "
		    "takes up to %d)", len, PROTO_MAX_REQUEST);
	while (off < len) {
		n = send(ctl->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			errx(CTL_EXIT_ERR, "fetchd closed the connection");
		if (n == -1)
			err(CTL_EXIT_ERR, "send to %s", ctl->socket);
		off += (size_t)n;
	}
	free(s);
}

/*
 * Wait for bytes from fetchd, at most REPLY_TIMEOUT seconds without any:
 * a wedged daemon must not hang a script that asks for status.  watch and
 * submit --wait, once they are streaming, wait as long as it takes.
 */
static int
readable(struct ctl *ctl)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = ctl->fd;
	pfd.events = POLLIN;
	if ((n = poll(&pfd, 1, REPLY_TIMEOUT * 1000)) == -1 && errno != EINTR)
		err(CTL_EXIT_ERR, "poll");
	if (n == 0)
		errx(CTL_EXIT_ERR, "fetchd did not answer within %d seconds",
		    REPLY_TIMEOUT);
	return (n > 0);
}

/* The next reply line into r (caller puts r->obj); -1 on Ctrl-C. */
static int
ctl_recv(struct ctl *ctl, struct reply *r)
{
	struct json_object	*o;
	char			*line, *p;
	size_t			 len, room;
	ssize_t			 n;

	for (;;) {
		if (got_sigint)
			return (-1);
		switch (linebuf_next(&ctl->lb, &line, &len)) {
		case LB_LINE:
			if (len == 0)
				continue;
			goto parse;
		case LB_OVERSIZED:
			errx(CTL_EXIT_ERR, "a reply line from fetchd is over "
			    "%d MiB", PROTO_MAX_REPLY / (1024 * 1024));
		case LB_NONE:
			break;
		}
		if (ctl->interrupt == NULL && !readable(ctl))
			continue;
		p = linebuf_space(&ctl->lb, &room);
		if ((n = read(ctl->fd, p, room)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				errx(CTL_EXIT_ERR, "fetchd closed the "
				    "connection");
			err(CTL_EXIT_ERR, "read from %s", ctl->socket);
		}
		if (n == 0)
			errx(CTL_EXIT_ERR, "fetchd closed the connection");
		linebuf_commit(&ctl->lb, (size_t)n);
	}
parse:
	json_tokener_reset(ctl->tok);
	o = json_tokener_parse_ex(ctl->tok, line, (int)len);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		errx(CTL_EXIT_ERR, "fetchd sent a line that is not a JSON "
		    "object: %.60s", line);
	if (obj_get(o, "v") != NULL && obj_int(o, "v") != PROTO_VERSION)
		errx(CTL_EXIT_ERR, "fetchd speaks protocol version %lld, "
		    "fetchctl %d: upgrade one of them",
		    (long long)obj_int(o, "v"), PROTO_VERSION);
	r->obj = o;
	r->line = line;
	r->len = len;
	return (0);
}

/* Output to a closed pipe ends us quietly; other write errors do not. */
static void
check_stdout(void)
{
	if (!ferror(stdout))
		return;
	if (errno == EPIPE)
		exit(CTL_EXIT_OK);
	errx(CTL_EXIT_ERR, "cannot write to stdout: %s", strerror(errno));
}

static int
is_error(const struct reply *r)
{
	struct json_object	*ok = obj_get(r->obj, "ok");

	return (ok != NULL && !json_object_get_boolean(ok));
}

/* Requests. */

/* The request of most commands: JOB, --run, --ordered, --failed. */
static struct json_object *
build_job(struct ctl *ctl)
{
	struct json_object	*req;
	const struct args	*a = &ctl->args;

	req = ctl_request(ctl, ctl->cmd->name);
	if (a->npos > 0)
		json_object_object_add(req, "job",
		    json_object_new_string(a->pos[0]));
	if (a->opts & O_RUN)
		json_object_object_add(req, "run",
		    json_object_new_int64(a->run));
	if (a->opts & O_ORDERED)
		json_object_object_add(req, "ordered",
		    json_object_new_boolean(1));
	if (a->opts & O_FAILED)
		json_object_object_add(req, "failed",
		    json_object_new_boolean(1));
	return (req);
}

/* explain: a URL, or its index in the job's input when all digits. */
static struct json_object *
build_explain(struct ctl *ctl)
{
	struct json_object	*req;
	const char		*url = ctl->args.pos[1];
	uint64_t		 i;

	req = build_job(ctl);
	if (util_parse_uint(url, 0, INT64_MAX, &i, NULL) == 0)
		json_object_object_add(req, "i", json_object_new_int64(
		    (int64_t)i));
	else
		json_object_object_add(req, "url", json_object_new_string(url));
	return (req);
}

/* set: "KEY=VALUE" split; fetchd checks the key and the value. */
static struct json_object *
build_set(struct ctl *ctl)
{
	struct json_object	*req;
	const char		*kv = ctl->args.pos[1], *eq;

	if ((eq = strchr(kv, '=')) == NULL || eq == kv)
		usage_error(ctl->cmd, "set: expected KEY=VALUE, got '%s'", kv);
	req = build_job(ctl);
	json_object_object_add(req, "key",
	    json_object_new_string_len(kv, (int)(eq - kv)));
	json_object_object_add(req, "value", json_object_new_string(eq + 1));
	return (req);
}

static struct json_object *
build_version(struct ctl *ctl)
{
	ctl->out->client_version();
	return (build_job(ctl));
}

/* Read a job file whole, up to SUBMIT_MAX bytes; exits on errors. */
static void
read_job_file(const char *path, struct buf *b)
{
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		err(CTL_EXIT_ERR, "%s", path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		errx(CTL_EXIT_ERR, "%s: is a directory, not a job file", path);
	for (;;) {
		buf_reserve(b, 65536);
		n = read(fd, b->data + b->len, 65536);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(CTL_EXIT_ERR, "%s", path);
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		if (b->len > SUBMIT_MAX)
			errx(CTL_EXIT_ERR, "%s: larger than %d MiB, the most "
			    "fetchd takes in a job file (put long URL lists in "
			    "a urls-file)", path, SUBMIT_MAX / (1024 * 1024));
	}
	close(fd);
	if (!util_utf8_valid(b->data, b->len))
		errx(CTL_EXIT_ERR, "%s: not UTF-8 text", path);
}

/* FILE made absolute as the user named it (links are not resolved). */
static char *
abs_path(const char *path)
{
	char	*cwd, *p;

	if (path[0] == '/')
		return (xstrdup(path));
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if ((cwd = getcwd(NULL, 0)) == NULL)
		err(CTL_EXIT_ERR, "getcwd");
	xasprintf(&p, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path);
	free(cwd);
	return (p);
}

/*
 * Files named in a job (urls-file, body-file, ca-file) are data, not
 * paths: fetchd does not open them for a submitted job.  fetchctl reads
 * each one, with the caller's rights, and sends its content along in
 * "files" (value as written in the job -> base64), as long as the request
 * stays within fetchd's limit.  A file it cannot read (no permission) or
 * that does not fit goes as a bare name: fetchd takes it only if it lies
 * under one of its submit-dirs.  A file that does not exist is an error.
 */
static int
is_blank(char c)
{
	return (c == ' ' || c == '\t' || c == '\r');
}

/* "key = value  # comment" -> key and value, trimmed; 0 if not that. */
static int
split_assign(char *line, char **key, char **val)
{
	char	*eq, *p, *e;

	while (is_blank(*line))
		line++;
	if (*line == '#' || *line == '[' || (eq = strchr(line, '=')) == NULL)
		return (0);
	for (e = eq; e > line && is_blank(e[-1]); e--)
		;
	*e = '\0';
	for (p = eq + 1; is_blank(*p); p++)
		;
	for (e = p; *e != '\0'; e++)
		if (*e == '#' && e > p && is_blank(e[-1]))
			break;
	while (e > p && is_blank(e[-1]))
		e--;
	*e = '\0';
	*key = line;
	*val = p;
	return (1);
}

/* Read path whole if it has at most max bytes: 0, 1 too large, -1 errno. */
static int
read_small(const char *path, size_t max, struct buf *b)
{
	struct stat	 st;
	ssize_t		 n;
	int		 fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return (-1);
	}
	if ((uint64_t)st.st_size > max)
		rc = 1;
	while (rc == 0) {
		buf_reserve(b, 65536);
		n = read(fd, b->data + b->len, 65536);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? 0 : -1;
			break;
		}
		b->len += (size_t)n;
		if (b->len > max)
			rc = 1;
	}
	close(fd);
	return (rc);
}

static void
add_files(const char *job, const char *abs, const struct buf *text,
    struct json_object *files)
{
	static const char *const keys[] = { "urls-file", "body-file",
	    "ca-file" };
	struct buf	 b, enc;
	char		*copy, *line, *next, *key, *val, *dir, *path, *slash;
	size_t		 room, i;
	int		 rc;

	room = SUBMIT_MAX > text->len * 2 + 4096 ? (SUBMIT_MAX - text->len *
	    2 - 4096) / 4 * 3 : 0;
	dir = xstrdup(abs);
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[slash == dir ? 1 : 0] = '\0';
	copy = xstrndup(text->data, text->len);
	for (line = copy; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (!split_assign(line, &key, &val) || *val == '\0' ||
		    json_object_object_get_ex(files, val, NULL))
			continue;
		for (i = 0; i < nitems(keys); i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == nitems(keys))
			continue;
		if (*val == '/')
			path = xstrdup(val);
		else
			xasprintf(&path, "%s%s%s", dir, strcmp(dir, "/") == 0 ?
			    "" : "/", val);
		buf_init(&b);
		if ((rc = read_small(path, room, &b)) == -1 &&
		    errno != EACCES && errno != EPERM)
			err(CTL_EXIT_ERR, "%s: %s named by %s", path, key,
			    job);
		if (rc == 0) {
			buf_init(&enc);
			util_base64(&enc, b.data, b.len);
			json_object_object_add(files, val,
			    json_object_new_string_len(enc.data != NULL ?
			    enc.data : "", (int)enc.len));
			room -= b.len;
			buf_free(&enc);
		}
		buf_free(&b);
		free(path);
	}
	free(copy);
	free(dir);
}

static struct json_object *
build_submit(struct ctl *ctl)
{
	struct json_object	*req, *files;
	struct buf		 b;
	const char		*path = ctl->args.pos[0];
	char			*abs, *s;
	size_t			 len;

	buf_init(&b);
	read_job_file(path, &b);
	abs = abs_path(path);
	req = ctl_request(ctl, "submit");
	json_object_object_add(req, "file", json_object_new_string(abs));
	json_object_object_add(req, "text",
	    json_object_new_string_len(b.data, (int)b.len));
	files = json_object_new_object();
	add_files(path, abs, &b, files);
	if (json_object_object_length(files) > 0)
		json_object_object_add(req, "files", files);
	else
		json_object_put(files);
	s = proto_serialize(req, &len);
	if (len > PROTO_MAX_REQUEST + 1)
		errx(CTL_EXIT_ERR, "%s: %zu bytes once encoded, more than the "
		    "%d MiB fetchd takes in a request (put long URL lists in a "
		    "urls-file)", path, len, PROTO_MAX_REQUEST / (1024 * 1024));
	free(s);
	free(abs);
	buf_free(&b);
	return (req);
}

/* Replies. */

/* Error replies that answer the question rather than fail: exit 0. */
static const struct answer {
	const char	*cmd;
	const char	*code;
} answers[] = {
	{ "retry-failed",	"no_failures" },	/* nothing to retry */
};

/* Any error reply: print it and exit 2, or 0 for the answers above. */
static int
print_error(struct ctl *ctl, const struct reply *r)
{
	const char	*code = obj_str(obj_get(r->obj, "error"), "code");
	size_t		 i;

	ctl->out->stop();
	for (i = 0; code != NULL && i < nitems(answers); i++) {
		if (strcmp(answers[i].cmd, ctl->cmd->name) == 0 &&
		    strcmp(answers[i].code, code) == 0) {
			ctl->out->notice(r);
			return (CTL_EXIT_OK);
		}
	}
	ctl->out->error(r, ctl->cmd->name, ctl->cmd->mutating);
	return (CTL_EXIT_ERR);
}

static int
print_ping(struct ctl *ctl, const struct reply *r)
{
	ctl->out->ping(r);
	return (CTL_EXIT_OK);
}

static int
print_version(struct ctl *ctl, const struct reply *r)
{
	ctl->out->version(r);
	return (CTL_EXIT_OK);
}

static int
print_metrics(struct ctl *ctl, const struct reply *r)
{
	ctl->out->metrics(r);
	return (CTL_EXIT_OK);
}

static int
print_set(struct ctl *ctl, const struct reply *r)
{
	ctl->out->set(r);
	return (CTL_EXIT_OK);
}

static int
print_explain(struct ctl *ctl, const struct reply *r)
{
	ctl->out->explain(r);
	return (CTL_EXIT_OK);
}

static int
print_reload(struct ctl *ctl, const struct reply *r)
{
	ctl->out->reloaded(r);
	return (CTL_EXIT_OK);
}

static int
print_cancel(struct ctl *ctl, const struct reply *r)
{
	ctl->out->cancelled(r);
	return (CTL_EXIT_OK);
}

static int
print_list(struct ctl *ctl, const struct reply *r)
{
	ctl->out->table(r);
	return (CTL_EXIT_OK);
}

/* status: 1 if a run shown finished partial, failed or cancelled. */
static int
print_status(struct ctl *ctl, const struct reply *r)
{
	struct json_object	*jobs = obj_get(r->obj, "jobs");
	size_t			 i, n;
	int			 rc = CTL_EXIT_OK;

	if (ctl->args.npos > 0)
		ctl->out->detail(r);
	else
		ctl->out->table(r);
	n = json_object_is_type(jobs, json_type_array) ?
	    json_object_array_length(jobs) : 0;
	for (i = 0; i < n; i++) {
		if (state_bad(obj_str(json_object_array_get_idx(jobs, i),
		    "state")))
			rc = CTL_EXIT_RUN;
	}
	return (rc);
}

/* results: a header line, record lines, an end line. */
static int
print_results(struct ctl *ctl, const struct reply *r)
{
	struct json_object	*rec;

	if ((rec = obj_get(r->obj, "record")) != NULL)
		ctl->out->record(r, rec);
	else if (obj_bool(r->obj, "end"))
		return (CTL_EXIT_OK);
	return (CTL_MORE);
}

static int
print_failures(struct ctl *ctl, const struct reply *r)
{
	struct json_object	*rec;

	if ((rec = obj_get(r->obj, "record")) != NULL)
		ctl->out->failures_record(r, rec);
	else if (obj_bool(r->obj, "end")) {
		ctl->out->failures_end(r);
		return (CTL_EXIT_OK);
	} else if (obj_get(r->obj, "ok") != NULL)
		ctl->out->failures_head(r);
	return (CTL_MORE);
}

/* The kind of a watch event line; -1 for kinds this client does not know. */
static int
watch_event(const struct reply *r)
{
	const char	*ev = obj_str(r->obj, "event");

	if (ev == NULL || obj_get(r->obj, "run") == NULL)
		return (-1);
	if (strcmp(ev, "started") == 0)
		return (WEV_STARTED);
	if (strcmp(ev, "progress") == 0)
		return (WEV_PROGRESS);
	if (strcmp(ev, "finished") == 0)
		return (WEV_FINISHED);
	return (-1);
}

/*
 * watch: keep the runs shown that are still going (a finished one is
 * dropped, so a long watch holds only what runs), so that Ctrl-C can say
 * which runs go on without us.
 */
static void
watch_note(struct ctl *ctl, struct json_object *snap, int finished)
{
	const char	*name = obj_str(snap, "name");
	int64_t		 run = obj_int(snap, "run");
	size_t		 i;

	if (name == NULL)
		return;
	for (i = 0; i < ctl->nruns; i++) {
		if (ctl->runs[i].run == run &&
		    strcmp(ctl->runs[i].name, name) == 0)
			break;
	}
	if (finished && i < ctl->nruns) {
		free(ctl->runs[i].name);
		ctl->runs[i] = ctl->runs[--ctl->nruns];
	} else if (!finished && i == ctl->nruns) {
		ctl->runs = xreallocarray(ctl->runs, ctl->nruns + 1,
		    sizeof(*ctl->runs));
		memset(&ctl->runs[i], 0, sizeof(ctl->runs[i]));
		ctl->runs[i].name = xstrdup(name);
		ctl->runs[i].run = run;
		ctl->nruns++;
	}
}

/* Ctrl-C in watch: the runs still going keep going; say so, exit 0. */
static int
watch_interrupt(struct ctl *ctl)
{
	struct buf	 b;
	const char	*one = "";
	size_t		 i, n = 0;

	ctl->out->stop();
	fflush(stdout);
	buf_init(&b);
	for (i = 0; i < ctl->nruns; i++) {
		one = ctl->runs[i].name;
		buf_printf(&b, "%s%s run %" PRId64, n++ > 0 ? ", " : "",
		    one, ctl->runs[i].run);
	}
	if (n > 0)
		fprintf(stderr, "fetchctl: stopped watching; %s keep%s "
		    "running in fetchd (fetchctl status%s%s)\n", b.data,
		    n == 1 ? "s" : "", n == 1 ? " " : "", n == 1 ? one : "");
	buf_free(&b);
	return (CTL_EXIT_OK);
}

/*
 * watch: the first reply holds the current snapshots (without a JOB only
 * runs still going are shown), then events come until Ctrl-C.
 */
static int
print_watch(struct ctl *ctl, const struct reply *r)
{
	struct json_object	*jobs, *snap;
	size_t			 i, n, shown = 0;
	int			 ev;

	ctl->interrupt = watch_interrupt;
	if ((jobs = obj_get(r->obj, "jobs")) != NULL) {
		ctl->out->watch_line(r);
		n = json_object_is_type(jobs, json_type_array) ?
		    json_object_array_length(jobs) : 0;
		for (i = 0; i < n; i++) {
			snap = json_object_array_get_idx(jobs, i);
			if (ctl->args.npos == 0 &&
			    state_finished(obj_str(snap, "state")))
				continue;
			watch_note(ctl, snap,
			    state_finished(obj_str(snap, "state")));
			ctl->out->progress(snap, WEV_SNAPSHOT);
			shown++;
		}
		if (shown == 0)
			ctl->out->idle();
	} else if ((ev = watch_event(r)) != -1) {
		snap = obj_get(r->obj, "run");
		watch_note(ctl, snap, ev == WEV_FINISHED ||
		    state_finished(obj_str(snap, "state")));
		ctl->out->watch_line(r);
		ctl->out->progress(snap, ev);
	}
	return (CTL_MORE);
}

/* submit --wait: the run of ours a snapshot is about, or NULL. */
static struct waitrun *
wait_find(struct ctl *ctl, struct json_object *snap)
{
	const char	*name = obj_str(snap, "name");
	int64_t		 run = obj_int(snap, "run");
	size_t		 i;

	if (name == NULL)
		return (NULL);
	for (i = 0; i < ctl->nruns; i++) {
		if (ctl->runs[i].run == run &&
		    strcmp(ctl->runs[i].name, name) == 0)
			return (&ctl->runs[i]);
	}
	return (NULL);
}

/* Show one of our snapshots; keep it if the run has finished. */
static void
wait_track(struct ctl *ctl, struct waitrun *w, struct json_object *snap,
    enum watch_ev ev)
{
	if (ev == WEV_SNAPSHOT && state_finished(obj_str(snap, "state")))
		ev = WEV_FINISHED;
	ctl->out->progress(snap, ev);
	if (ev == WEV_FINISHED) {
		w->final = json_object_get(snap);
		ctl->nfinished++;
	}
}

/* All our runs have finished: summaries, and 0 only if all are done. */
static int
wait_done(struct ctl *ctl)
{
	const char	*state;
	size_t		 i;
	int		 rc = CTL_EXIT_OK;

	ctl->out->stop();
	for (i = 0; i < ctl->nruns; i++) {
		ctl->out->summary(ctl->runs[i].final);
		state = obj_str(ctl->runs[i].final, "state");
		if (state == NULL || strcmp(state, "done") != 0)
			rc = CTL_EXIT_RUN;
	}
	return (rc);
}

static int
wait_interrupt(struct ctl *ctl)
{
	struct buf	 b;
	size_t		 i, n = 0;

	ctl->out->stop();
	fflush(stdout);
	buf_init(&b);
	for (i = 0; i < ctl->nruns; i++) {
		if (ctl->runs[i].final != NULL)
			continue;
		buf_printf(&b, "%s%s", n++ > 0 ? ", " : "", ctl->runs[i].name);
	}
	if (n == 1)
		fprintf(stderr, "fetchctl: stopped waiting; job %s keeps "
		    "running (fetchctl status %s)\n", b.data, b.data);
	else
		fprintf(stderr, "fetchctl: stopped waiting; jobs %s keep "
		    "running (fetchctl status)\n", b.data);
	buf_free(&b);
	return (CTL_EXIT_ERR);
}

/*
 * Watch what submit started, on the same connection: one job and run
 * exactly, else everything (the events of other runs are dropped).
 */
static void
wait_start(struct ctl *ctl, struct json_object *runs)
{
	struct json_object	*req, *o;
	size_t			 i, n = json_object_array_length(runs);
	const char		*name;

	ctl->runs = xcalloc(n, sizeof(*ctl->runs));
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(runs, i);
		name = obj_str(o, "name");
		ctl->runs[i].name = xstrdup(name != NULL ? name : "");
		ctl->runs[i].run = obj_int(o, "run");
	}
	ctl->nruns = n;
	req = ctl_request(ctl, "watch");
	if (n == 1) {
		json_object_object_add(req, "job",
		    json_object_new_string(ctl->runs[0].name));
		json_object_object_add(req, "run",
		    json_object_new_int64(ctl->runs[0].run));
	}
	ctl_send(ctl, req);
	json_object_put(req);
	ctl->interrupt = wait_interrupt;
}

/*
 * submit and retry-failed: the reply names the runs started.  With
 * --wait, then the first watch reply and the events of those runs until
 * each has finished.
 */
static int
wait_reply(struct ctl *ctl, const struct reply *r)
{
	struct json_object	*runs, *jobs, *snap;
	struct waitrun		*w;
	size_t			 i, n;
	int			 ev;

	if (ctl->nruns == 0) {			/* the reply that started */
		runs = obj_get(r->obj, "runs");
		if (!(ctl->args.opts & O_WAIT) ||
		    !json_object_is_type(runs, json_type_array) ||
		    json_object_array_length(runs) == 0)
			return (CTL_EXIT_OK);
		wait_start(ctl, runs);
		return (CTL_MORE);
	}
	if ((jobs = obj_get(r->obj, "jobs")) != NULL) {
		ctl->out->watch_line(r);
		n = json_object_is_type(jobs, json_type_array) ?
		    json_object_array_length(jobs) : 0;
		for (i = 0; i < n; i++) {
			snap = json_object_array_get_idx(jobs, i);
			if ((w = wait_find(ctl, snap)) != NULL &&
			    w->final == NULL)
				wait_track(ctl, w, snap, WEV_SNAPSHOT);
		}
	} else if ((ev = watch_event(r)) != -1) {
		snap = obj_get(r->obj, "run");
		if ((w = wait_find(ctl, snap)) == NULL || w->final != NULL)
			return (CTL_MORE);
		ctl->out->watch_line(r);
		wait_track(ctl, w, snap, ev);
	}
	if (ctl->nfinished == ctl->nruns)
		return (wait_done(ctl));
	return (CTL_MORE);
}

static int
print_submit(struct ctl *ctl, const struct reply *r)
{
	if (ctl->nruns == 0)
		ctl->out->submitted(r);
	return (wait_reply(ctl, r));
}

static int
print_retry(struct ctl *ctl, const struct reply *r)
{
	if (ctl->nruns == 0)
		ctl->out->retrying(r);
	return (wait_reply(ctl, r));
}

int
main(int argc, char *argv[])
{
	struct ctl		 ctl;
	struct json_object	*req;
	struct reply		 r;
	int			 rc = CTL_MORE;

	setlocale(LC_CTYPE, "");	/* output.c: UTF-8 or ASCII symbols */
	ctl_init(&ctl, argc, argv);
	req = ctl.cmd->build_request(&ctl);
	signals_init();
	ctl_connect(&ctl);
	ctl_send(&ctl, req);
	json_object_put(req);
	while (rc == CTL_MORE && ctl_recv(&ctl, &r) == 0) {
		if (is_error(&r))
			rc = print_error(&ctl, &r);
		else
			rc = ctl.cmd->print(&ctl, &r);
		json_object_put(r.obj);
		check_stdout();
	}
	if (rc == CTL_MORE)
		rc = ctl.interrupt != NULL ? ctl.interrupt(&ctl) :
		    die_of_sigint(&ctl);
	ctl_free(&ctl);
	if (fflush(stdout) == EOF)
		check_stdout();
	return (rc);
}
