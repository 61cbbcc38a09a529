/*
 * fetchd.c: the daemon's main(): options, the daemon file, `-t` checks,
 * then every module's init in dependency order, one libev loop, and the
 * teardown in reverse.  Signals are libev watchers, so their work runs in
 * normal loop context: SIGTERM/SIGINT stop gracefully (in-flight transfers
 * are cancelled and recorded, results flushed); a second one exits at once.
 * fetchd never forks into the background.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetchd.h"

struct opts {
	const char	*conf;
	const char	*socket;
	const char	*state_dir;
	const char	*log_level;
	int		 test;
	int		 verbose;
};

static struct ev_loop	*loop;
static int		 stopping;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fetchd [-c FILE] [--socket PATH] "
	    "[--state-dir DIR] [--log-level LEVEL] [-t [-v]] [--version]\n");
	exit(2);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:s:tvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->conf = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'S':
			o->state_dir = optarg;
			break;
		case 'l':
			o->log_level = optarg;
			break;
		case 't':
			o->test = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'V':
			printf("fetchd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

static void
print_errors(const struct errlist *errs)
{
	size_t	 i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->v[i]);
}

/* The daemon file (if any), then command-line overrides; exits on errors. */
static void
load_conf(const struct opts *o, struct daemonconf *dc)
{
	struct errlist	 errs;
	char		*buf = NULL, *cause = NULL;
	size_t		 len;
	int		 level;

	memset(&errs, 0, sizeof(errs));
	daemonconf_defaults(dc);
	if (o->conf != NULL) {
		if (parse_read_file(o->conf, 1024 * 1024, &buf, &len, &cause) ==
		    -1) {
			fprintf(stderr, "fetchd: %s\n", cause);
			exit(1);
		}
		if (parse_daemon(o->conf, buf, len, dc, &errs) == -1) {
			print_errors(&errs);
			fprintf(stderr, "fetchd: %zu error%s in %s\n", errs.n,
			    errs.n == 1 ? "" : "s", o->conf);
			exit(1);
		}
		free(buf);
		free(dc->file);
		dc->file = xstrdup(o->conf);
	}
	if (o->socket != NULL) {
		free(dc->socket);
		dc->socket = xstrdup(o->socket);
	}
	if (o->state_dir != NULL) {
		free(dc->state_dir);
		dc->state_dir = xstrdup(o->state_dir);
	}
	if (dc->socket == NULL)
		dc->socket = util_default_socket();
	if (dc->state_dir == NULL)
		dc->state_dir = util_default_state_dir();
	if (o->log_level != NULL) {
		if ((level = log_level_parse(o->log_level)) == -1) {
			fprintf(stderr, "fetchd: unknown log level '%s' "
			    "(debug info notice warning err)\n", o->log_level);
			exit(2);
		}
		dc->log_level = level;
	}
}

/* Parse every job file of jobs-dir; 0 or -1 with errors printed/logged. */
static int
load_jobs(const struct daemonconf *dc, struct jobfile *jf, int to_stderr)
{
	struct errlist	 errs;
	size_t		 i;

	memset(&errs, 0, sizeof(errs));
	memset(jf, 0, sizeof(*jf));
	if (dc->jobs_dir == NULL)
		return (0);
	if (parse_jobs_dir(dc->jobs_dir, dc, jf, &errs) == 0)
		return (0);
	for (i = 0; i < errs.n; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", errs.v[i]);
		else
			log_warnx("%s", errs.v[i]);
	}
	errlist_free(&errs);
	return (-1);
}

/* fetchd -t [-v]: check everything, print the normalized config. */
static int
check_conf(const struct daemonconf *dc, int verbose)
{
	struct jobfile	 jf;
	int		 rc;

	rc = load_jobs(dc, &jf, 1);
	if (rc == 0 && verbose) {
		printconf_daemon(stdout, dc);
		printconf_jobs(stdout, &jf);
	}
	if (rc == 0)
		fprintf(stderr, "fetchd: configuration OK (%zu job%s)\n",
		    jf.njobs, jf.njobs == 1 ? "" : "s");
	jobfile_free(&jf);
	return (rc == 0 ? 0 : 1);
}

/* "2 jobs running, 150/200 done, 3 failed" for STATUS=. */
static char *
status_line(void)
{
	struct job	*j;
	struct run	*r;
	uint64_t	 done = 0, total = 0, failed = 0;
	unsigned	 running = 0;
	char		*s;

	TAILQ_FOREACH(j, job_list(), entry) {
		TAILQ_FOREACH(r, &j->runs, entry) {
			if (RUN_FINISHED(r))
				continue;
			running++;
			done += r->st.done;
			total += r->st.total;
			failed += r->st.failed;
		}
	}
	xasprintf(&s, "%u job%s running, %llu/%llu done, %llu failed",
	    running, running == 1 ? "" : "s", (unsigned long long)done,
	    (unsigned long long)total, (unsigned long long)failed);
	return (s);
}

static void
drained(void)
{
	ev_break(loop, EVBREAK_ALL);
}

static void
stop_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	if (stopping++) {
		log_warnx("second signal %d: exiting now", w->signum);
		ev_break(l, EVBREAK_ALL);
		return;
	}
	log_info("signal %d: stopping; cancelling transfers in flight and "
	    "flushing results", w->signum);
	notify_stopping();
	job_shutdown(drained);
}

static void
hup_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	log_notice("SIGHUP: reloading the configuration is not implemented "
	    "yet; keeping the running configuration");
}

/* Start the jobs of jobs-dir; a bad jobs-dir keeps fetchd from starting. */
static void
start_jobs(const struct daemonconf *dc)
{
	struct jobfile	 jf;
	struct run	*runs[1024];
	char		*cause = NULL;

	if (load_jobs(dc, &jf, 0) == -1)
		fatalx("%s: errors in job files; not starting", dc->jobs_dir);
	if (jf.njobs > 0 && job_submit(&jf, runs, nitems(runs), &cause) == -1)
		log_warnx("starting jobs from %s: %s", dc->jobs_dir, cause);
	free(cause);
	jobfile_free(&jf);
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct daemonconf	 dc;
	ev_signal		 sigterm, sigint, sighup;
	char			*cause = NULL;
	int			 rc;

	parse_opts(argc, argv, &o);
	load_conf(&o, &dc);
	if (o.test) {
		rc = check_conf(&dc, o.verbose);
		daemonconf_free(&dc);
		return (rc);
	}
	log_init(dc.log_level, 0);
	signal(SIGPIPE, SIG_IGN);
	if (util_mkdirs(dc.state_dir, 0750) == -1)
		fatal("state directory %s", dc.state_dir);
	loop = EV_DEFAULT;
	ev_signal_init(&sigterm, stop_cb, SIGTERM);
	ev_signal_init(&sigint, stop_cb, SIGINT);
	ev_signal_init(&sighup, hup_cb, SIGHUP);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sighup);

	if (results_init(loop) == -1)
		fatalx("cannot start the results writer");
	if (fetch_init(loop, &dc, &cause) == -1)
		fatalx("%s", cause);
	job_init(loop, &dc);
	control_cmd_init(&dc);
	if (control_init(loop, &dc, notify_listen_fd(), &cause) == -1)
		fatalx("%s", cause);
	job_set_hook(control_run_event);
	start_jobs(&dc);
	notify_init(loop, status_line);
	notify_ready();
	log_info("fetchd %s ready: socket %s, state %s", PACKAGE_VERSION,
	    dc.socket, dc.state_dir);

	ev_run(loop, 0);

	log_info("fetchd stopped");
	notify_free();
	control_free();
	job_free();
	fetch_free();
	results_free();
	daemonconf_free(&dc);
	ev_loop_destroy(loop);
	return (0);
}
