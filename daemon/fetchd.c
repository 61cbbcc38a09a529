/*
 * fetchd.c: the daemon's main(): options, the daemon file, `-t` checks,
 * then every module's init in dependency order, one libev loop, and the
 * teardown in reverse.  Signals are libev watchers, so their work runs in
 * normal loop context.  SIGTERM/SIGINT stop gracefully: no new transfers,
 * those in flight may finish for up to drain-timeout, then what is left is
 * cancelled and recorded, results are flushed and fetchd exits 0; a second
 * signal exits at once.  SIGHUP (and the control command "reload") re-read
 * the daemon file and jobs-dir: all or nothing.  fetchd never forks into
 * the background.  Started as root with `user =`, it drops to that user
 * and its groups once the control socket and the state directory are
 * open, before the first transfer.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
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
	int		 log_level;	/* -1: from the daemon file */
	int		 test;
	int		 verbose;
};

/* The running daemon: what signal handlers and reload act on. */
static struct {
	struct ev_loop		*loop;
	struct opts		 o;
	struct daemonconf	 dc;	/* modules keep a pointer to it */
	ev_signal		 sigterm, sigint, sighup;
	ev_timer		 drain;
	int			 inherited;	/* control socket from systemd */
	int			 stopping;	/* signals received */
	int			 finishing;	/* job_shutdown() called */
} D;

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
	o->log_level = -1;
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
			if ((o->log_level = log_level_parse(optarg)) == -1) {
				fprintf(stderr, "fetchd: unknown log level "
				    "'%s' (debug info notice warning err)\n",
				    optarg);
				exit(2);
			}
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

/* Replace a string setting, if the command line gave one. */
static void
override(char **field, const char *value)
{
	if (value == NULL)
		return;
	free(*field);
	*field = xstrdup(value);
}

/*
 * The daemon file (if any), then the command-line overrides: 0, or -1 with
 * the errors in errs.  Used at start and at every reload.
 */
static int
conf_read(const struct opts *o, struct daemonconf *dc, struct errlist *errs)
{
	char	*buf = NULL, *cause = NULL;
	size_t	 len;
	int	 rc = 0;

	daemonconf_defaults(dc);
	if (o->conf != NULL) {
		if (parse_read_file(o->conf, 1024 * 1024, &buf, &len, &cause) ==
		    -1) {
			errlist_add(errs, "%s", cause);
			free(cause);
			return (-1);
		}
		rc = parse_daemon(o->conf, buf, len, dc, errs);
		free(buf);
		free(dc->file);
		dc->file = xstrdup(o->conf);
	}
	override(&dc->socket, o->socket);
	override(&dc->state_dir, o->state_dir);
	if (o->log_level != -1)
		dc->log_level = o->log_level;
	return (rc);
}

/* At start: the configuration, or exit 1 with every error printed. */
static void
load_conf(const struct opts *o, struct daemonconf *dc)
{
	struct errlist	 errs;

	memset(&errs, 0, sizeof(errs));
	if (conf_read(o, dc, &errs) == 0)
		return;
	print_errors(&errs);
	if (o->conf != NULL && errs.n > 0)
		fprintf(stderr, "fetchd: %zu error%s in %s\n", errs.n,
		    errs.n == 1 ? "" : "s", o->conf);
	exit(1);
}

/* Each error of a rejected configuration, as its own journal event. */
static void
log_conf_errors(const struct errlist *errs)
{
	struct log_fields	 f;
	size_t			 i;

	memset(&f, 0, sizeof(f));
	f.message_id = MSGID_CONFIG_REJECTED;
	for (i = 0; i < errs->n; i++)
		log_event(LOG_ERR, &f, "configuration rejected: %s",
		    errs->v[i]);
}

/* Parse every job file of jobs-dir; 0 or -1 with errors printed/logged. */
static int
load_jobs(const struct daemonconf *dc, struct jobfile *jf, int to_stderr)
{
	struct errlist	 errs;

	memset(&errs, 0, sizeof(errs));
	memset(jf, 0, sizeof(*jf));
	if (dc->jobs_dir == NULL)
		return (0);
	if (parse_jobs_dir(dc->jobs_dir, dc, jf, &errs) == 0)
		return (0);
	if (to_stderr)
		print_errors(&errs);
	else
		log_conf_errors(&errs);
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
	xasprintf(&s, "%s%u job%s running, %llu/%llu done, %llu failed",
	    D.stopping ? "stopping: " : "", running, running == 1 ? "" : "s",
	    (unsigned long long)done, (unsigned long long)total,
	    (unsigned long long)failed);
	return (s);
}

/* --- reload ------------------------------------------------------------ */

/* Settings that only a restart can change. */
static void
check_restart_keys(const struct daemonconf *old,
    const struct daemonconf *dc, struct errlist *errs)
{
	const char	*where = dc->file != NULL ? dc->file : "fetchd";

	if (strcmp(old->socket, dc->socket) != 0)
		errlist_add(errs, "%s: socket: changed from %s to %s; restart "
		    "fetchd to apply it", where, old->socket, dc->socket);
	if ((old->user == NULL) != (dc->user == NULL) || (old->user != NULL &&
	    strcmp(old->user, dc->user) != 0))
		errlist_add(errs, "%s: user: changed from %s to %s; restart "
		    "fetchd to apply it", where, old->user != NULL ?
		    old->user : "(none)", dc->user != NULL ? dc->user :
		    "(none)");
	if (strcmp(old->state_dir, dc->state_dir) != 0)
		errlist_add(errs, "%s: state-dir: changed from %s to %s; "
		    "restart fetchd to apply it", where, old->state_dir,
		    dc->state_dir);
}

/* Swap a string setting into the running configuration. */
static void
take(char **running, char **fresh)
{
	char	*old = *running;

	*running = *fresh;
	*fresh = old;
}

/* Make a checked configuration the running one, then hand over the jobs. */
static int
apply(struct daemonconf *dc, struct jobfile *jf, char **cause)
{
	struct strlist	 sl;

	if (dc->max_clients != D.dc.max_clients)
		log_notice("max-clients: %u until fetchd restarts",
		    D.dc.max_clients);
	if (dc->fetch_threads != D.dc.fetch_threads)
		log_notice("fetch-threads: as before until fetchd restarts");
	take(&D.dc.jobs_dir, &dc->jobs_dir);
	take(&D.dc.user_agent, &dc->user_agent);
	take(&D.dc.file, &dc->file);
	take(&D.dc.admin_group, &dc->admin_group);
	sl = D.dc.submit_dirs;
	D.dc.submit_dirs = dc->submit_dirs;
	dc->submit_dirs = sl;
	D.dc.max_connections = dc->max_connections;
	D.dc.max_urls = dc->max_urls;
	D.dc.max_jobs = dc->max_jobs;
	D.dc.drain_timeout = dc->drain_timeout;
	D.dc.log_level = dc->log_level;
	log_setlevel(D.dc.log_level);
	return (job_reload(jf, cause));
}

/* Join the errors into one cause, one per line. */
static char *
join_errors(const struct errlist *errs)
{
	struct buf	 b;
	size_t		 i;
	char		*s;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < errs->n; i++) {
		if (i > 0)
			buf_add(&b, "\n", 1);
		buf_add(&b, errs->v[i], strlen(errs->v[i]));
	}
	s = xstrndup(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return (s);
}

/* Read and check everything; any error rejects the whole reload. */
static int
reload_read(struct daemonconf *dc, struct jobfile *jf, struct errlist *errs)
{
	if (conf_read(&D.o, dc, errs) == -1)
		return (-1);
	check_restart_keys(&D.dc, dc, errs);
	if (errs->n == 0 && dc->jobs_dir != NULL)
		parse_jobs_dir(dc->jobs_dir, dc, jf, errs);
	return (errs->n == 0 ? 0 : -1);
}

int
fetchd_reload(char **cause)
{
	struct log_fields	 f;
	struct daemonconf	 dc;
	struct jobfile		 jf;
	struct errlist		 errs;
	int			 rc;

	if (D.stopping) {
		*cause = xstrdup("fetchd is stopping; not reloading");
		log_notice("%s", *cause);
		return (-1);
	}
	notify_reloading();
	memset(&f, 0, sizeof(f));
	memset(&errs, 0, sizeof(errs));
	memset(&jf, 0, sizeof(jf));
	f.message_id = MSGID_RELOAD;
	if ((rc = reload_read(&dc, &jf, &errs)) == -1) {
		log_conf_errors(&errs);
		log_notice("%zu error%s: keeping the running configuration",
		    errs.n, errs.n == 1 ? "" : "s");
		*cause = join_errors(&errs);
	} else if ((rc = apply(&dc, &jf, cause)) == -1)
		log_warnx("reload: starting new jobs: %s", *cause);
	else
		log_event(LOG_INFO, &f, "configuration reloaded from %s",
		    D.dc.file != NULL ? D.dc.file : "defaults");
	jobfile_free(&jf);
	daemonconf_free(&dc);
	errlist_free(&errs);
	notify_ready();
	return (rc);
}

/* --- signals and stopping ---------------------------------------------- */

static void
drained(void)
{
	ev_break(D.loop, EVBREAK_ALL);
}

/* The drain is over: cancel and record what is left, flush, then stop. */
static void
drain_over(const char *why)
{
	if (D.finishing++)
		return;
	ev_timer_stop(D.loop, &D.drain);
	log_info("%s; recording what is left and flushing results", why);
	job_shutdown(drained);
}

static void
drain_idle(void)
{
	drain_over("no transfer in flight");
}

static void
drain_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	drain_over("drain-timeout passed");
}

static void
stop_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	char	 s[32];

	if (D.stopping++) {
		log_warnx("second signal %d: exiting now", w->signum);
		ev_break(l, EVBREAK_ALL);
		return;
	}
	util_format_duration(D.dc.drain_timeout, s, sizeof(s));
	log_info("signal %d: stopping; transfers in flight may finish "
	    "within %s", w->signum, s);
	notify_stopping((uint64_t)D.dc.drain_timeout + 5 * USEC_PER_SEC);
	ev_timer_init(&D.drain, drain_timer_cb,
	    (double)D.dc.drain_timeout / USEC_PER_SEC, 0.);
	ev_timer_start(l, &D.drain);
	job_drain(drain_idle);
}

static void
hup_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	char	*cause = NULL;

	fetchd_reload(&cause);		/* logs what it does */
	free(cause);
}

static void
signals_start(void)
{
	ev_signal_init(&D.sigterm, stop_cb, SIGTERM);
	ev_signal_init(&D.sigint, stop_cb, SIGINT);
	ev_signal_init(&D.sighup, hup_cb, SIGHUP);
	ev_signal_start(D.loop, &D.sigterm);
	ev_signal_start(D.loop, &D.sigint);
	ev_signal_start(D.loop, &D.sighup);
	ev_timer_init(&D.drain, drain_timer_cb, 0., 0.);
}

/* --- privileges -------------------------------------------------------- */

#define GIVE_MAX_DEPTH	8	/* STATE/results/JOB/N.ndjson is 3 deep */

/*
 * Give name (in directory at) and, for a directory, what it holds to
 * uid:gid, so that fetchd can go on with the results and saved jobs of
 * runs it made as root.  Nothing is followed: symbolic links are left
 * alone, other file systems are not entered, and a file with more than
 * one link (it could be a hard link to anything) is not changed.  Each
 * entry is opened first and changed through its descriptor, so a name
 * swapped in meanwhile cannot redirect the change.
 */
static void
give_tree(int at, const char *name, const char *path, uid_t uid, gid_t gid,
    dev_t *dev, int depth)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		*sub;
	int		 fd;

	fd = openat(at, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
	    (depth > 0 ? O_NOFOLLOW : 0));
	if (fd == -1) {
		if (errno != ELOOP && errno != ENXIO)
			log_warn("state directory: %s", path);
		return;
	}
	if (fstat(fd, &st) == -1 || (depth > 0 && st.st_dev != *dev) ||
	    (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(fd);
		return;
	}
	*dev = st.st_dev;
	if (S_ISREG(st.st_mode) && st.st_nlink != 1)
		log_warnx("%s has %ju links; not giving it to uid %u", path,
		    (uintmax_t)st.st_nlink, (unsigned)uid);
	else if ((st.st_uid != uid || st.st_gid != gid) &&
	    fchown(fd, uid, gid) == -1)
		log_warn("chown %s", path);
	if (!S_ISDIR(st.st_mode) || depth >= GIVE_MAX_DEPTH ||
	    (d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		xasprintf(&sub, "%s/%s", path, de->d_name);
		give_tree(dirfd(d), de->d_name, sub, uid, gid, dev, depth + 1);
		free(sub);
	}
	closedir(d);
}

/* The socket fetchd made (not one from systemd) goes with it. */
static void
give_socket(const struct daemonconf *dc, uid_t uid, gid_t gid)
{
	struct stat	 st;

	if (D.inherited || lstat(dc->socket, &st) == -1 ||
	    !S_ISSOCK(st.st_mode))
		return;
	if (lchown(dc->socket, uid, gid) == -1)
		log_warn("chown %s", dc->socket);
}

/*
 * Started as root: with `user =`, give it the state directory and the
 * socket, then take its groups, gid and uid, and make sure root cannot be
 * had back; without, warn once.  Not root: `user =` must be who we are.
 */
static void
priv_drop(const struct daemonconf *dc)
{
	struct passwd	*pw;
	char		*name;
	uid_t		 uid;
	gid_t		 gid;
	dev_t		 dev = 0;
	uint64_t	 n;

	if (dc->user == NULL) {
		if (geteuid() == 0)
			log_warnx("running as root, with privileges fetchd "
			    "does not need: set user = in the [daemon] "
			    "section of %s", dc->file != NULL ? dc->file :
			    "fetchd.conf (fetchd -c FILE)");
		return;
	}
	if ((pw = getpwnam(dc->user)) == NULL && (util_parse_uint(dc->user, 0,
	    UINT32_MAX - 1, &n, NULL) == -1 || (pw = getpwuid((uid_t)n)) ==
	    NULL))
		fatalx("user %s: no such user", dc->user);
	name = xstrdup(pw->pw_name);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (geteuid() != 0) {
		if (geteuid() != uid)
			fatalx("user = %s, but fetchd runs as uid %u, not as "
			    "root: it cannot change to another user",
			    dc->user, (unsigned)geteuid());
		free(name);
		return;
	}
	if (uid == 0)
		log_warnx("user = %s is root: fetchd keeps privileges it "
		    "does not need", dc->user);
	give_tree(AT_FDCWD, dc->state_dir, dc->state_dir, uid, gid, &dev, 0);
	give_socket(dc, uid, gid);
	if (initgroups(name, gid) == -1)
		fatal("initgroups %s", name);
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %u", (unsigned)uid);
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		fatalx("could become root again after dropping to %s", name);
	if (access(dc->state_dir, R_OK | W_OK | X_OK) == -1)
		fatal("user %s cannot use the state directory %s (is every "
		    "directory above it searchable?)", name, dc->state_dir);
	log_info("running as user %s (uid %u, gid %u)", name, (unsigned)uid,
	    (unsigned)gid);
	free(name);
}

/* --- start and stop ---------------------------------------------------- */

/* Start the jobs of jobs-dir; a bad jobs-dir keeps fetchd from starting. */
static void
start_jobs(const struct daemonconf *dc)
{
	struct jobfile	 jf;
	char		*cause = NULL;

	if (load_jobs(dc, &jf, 0) == -1)
		fatalx("%s: errors in job files; not starting", dc->jobs_dir);
	/*
	 * Saved jobs first, with their unfinished runs resumed; then
	 * jobs-dir: a job seen for the first time starts a run, a known one
	 * only takes the file's definition for its next run.
	 */
	job_resume();
	if (jf.njobs > 0 && job_reload(&jf, &cause) == -1)
		log_warnx("starting jobs from %s: %s", dc->jobs_dir, cause);
	free(cause);
	jobfile_free(&jf);
}

/* Every module, in dependency order. */
static void
modules_init(struct daemonconf *dc)
{
	char	*cause = NULL;
	int	 fd;

	results_set_sync(dc->sync);
	if (results_init(D.loop) == -1)
		fatalx("cannot start the results writer");
	if (fetch_init(D.loop, dc, &cause) == -1)
		fatalx("%s", cause);
	job_init(D.loop, dc);
	control_cmd_init(dc);
	fd = notify_listen_fd();
	D.inherited = fd >= 0;
	if (control_init(D.loop, dc, fd, &cause) == -1)
		fatalx("%s", cause);
	job_set_hook(control_run_event);
	fetch_set_yield(control_pending);
}

static void
modules_free(void)
{
	notify_free();
	control_free();
	job_free();
	fetch_free();
	results_free();
	body_cleanup();
}

int
main(int argc, char **argv)
{
	struct log_fields	 f;
	int			 rc;

	parse_opts(argc, argv, &D.o);
	load_conf(&D.o, &D.dc);
	if (D.o.test) {
		rc = check_conf(&D.dc, D.o.verbose);
		daemonconf_free(&D.dc);
		return (rc);
	}
	log_init(D.dc.log_level, 0);
	signal(SIGPIPE, SIG_IGN);
	if (util_mkdirs(D.dc.state_dir, 0750) == -1)
		fatal("state directory %s", D.dc.state_dir);
	D.loop = EV_DEFAULT;
	signals_start();
	modules_init(&D.dc);
	priv_drop(&D.dc);
	start_jobs(&D.dc);
	notify_init(D.loop, status_line);
	notify_ready();
	memset(&f, 0, sizeof(f));
	f.message_id = MSGID_DAEMON_START;
	log_event(LOG_INFO, &f, "fetchd %s ready: socket %s, state %s, "
	    "transfers on %u loop%s", PACKAGE_VERSION, D.dc.socket,
	    D.dc.state_dir, fetch_loops(), fetch_loops() == 1 ? "" : "s");

	ev_run(D.loop, 0);

	f.message_id = MSGID_DAEMON_STOP;
	log_event(LOG_INFO, &f, "fetchd stopped");
	ev_timer_stop(D.loop, &D.drain);
	modules_free();
	daemonconf_free(&D.dc);
	ev_loop_destroy(D.loop);
	return (0);
}
