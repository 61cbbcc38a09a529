/*
 * fetchd.h: structures shared between the daemon's modules, and one
 * labelled prototype block per .c file.  Structures used by a single file
 * stay private to it.
 *
 * Which file may call which (arrows mean "calls into"):
 *   fetchd.c -> every module's init/free
 *   control.c -> control_cmd.c -> job.c, results.c (reading), proto
 *   job.c -> fetch.c, retry.c, results.c, body.c, glob.c
 * fetch.c knows nothing of jobs: it reports back through the function
 * pointers in struct xfer.  parse.c, glob.c, retry.c and body.c depend on
 * nothing else in daemon/ and never log above debug.
 */
#ifndef FETCHD_FETCHD_H
#define FETCHD_FETCHD_H

#include <stdint.h>
#include <stdio.h>

#include <ev.h>

#include "log.h"
#include "util.h"

/*
 * Memory kept on a free list for reuse (items, bodies) is poisoned while
 * it waits, so AddressSanitizer still reports a use after free.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FETCHD_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FETCHD_ASAN	1
#endif
#endif
#ifdef FETCHD_ASAN
#include <sanitizer/asan_interface.h>
#define KEEP_POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define KEEP_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KEEP_POISON(p, n)	((void)(p), (void)(n))
#define KEEP_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

/* Failure classes: stable names used in results, status, journal, metrics. */
enum fclass {
	FC_NONE = 0,
	FC_DNS,			/* "dns" */
	FC_CONNECT,		/* "connect" */
	FC_TLS,			/* "tls" */
	FC_TIMEOUT,		/* "timeout": per attempt */
	FC_STALL,		/* "stall": no byte for stall-timeout */
	FC_RESET,		/* "reset": connection reset / closed early */
	FC_HTTP,		/* "http_NNN": status outside expect */
	FC_TOO_LARGE,		/* "too-large": over max-body */
	FC_BAD_BODY,		/* "bad-body": extract set, body not usable */
	FC_HOST_DOWN,		/* "host-down" */
	FC_CANCELLED,		/* "cancelled" */
	FC_DEADLINE,		/* "deadline" */
	FC_BUDGET,		/* "budget" */
	FC_PROTOCOL,		/* "protocol": refused scheme, bad redirect, HTTP framing */
	FC_OTHER,		/* "error": anything else curl reports */
	FC_MAX
};
extern const char *const fclass_names[FC_MAX];

/* retry-on bits. */
#define RETRY_CONNECT	0x01
#define RETRY_DNS	0x02
#define RETRY_TIMEOUT	0x04
#define RETRY_5XX	0x08
#define RETRY_429	0x10
#define RETRY_408	0x20
#define RETRY_RESET	0x40
#define RETRY_ALL	0x7f

/* When results reach the disk: fsync every 200 ms of writes, every batch, or at the end. */
enum sync_mode {
	SYNC_BATCH = 0,
	SYNC_ALWAYS,
	SYNC_NEVER
};

enum overlap {
	OVERLAP_SKIP = 0,
	OVERLAP_QUEUE,
	OVERLAP_CANCEL
};

struct strlist {
	char	**v;
	size_t	  n;
};
void	strlist_add(struct strlist *, const char *);
void	strlist_free(struct strlist *);

/* "file:line: message" strings from a parse. */
struct errlist {
	char	**v;
	size_t	  n;
};
void	errlist_add(struct errlist *, const char *, ...) ATTR_PRINTF(2, 3);
void	errlist_free(struct errlist *);

struct status_range {
	int	lo;
	int	hi;
};

/* One [job NAME] section, fully validated, defaults filled in. */
struct jobdef {
	char			*name;
	char			*file;		/* where it was defined */
	unsigned		 line;
	char			*dir;		/* base for relative file names */

	struct strlist		 urls;		/* patterns, globs allowed */
	char			*urls_file;	/* absolute after parse */
	char			*method;	/* "GET" */
	struct strlist		 headers;	/* "Name: value" */
	struct strlist		 secret_headers; /* names whose values are hidden */
	char			*body;
	char			*body_file;	/* absolute after parse */

	unsigned		 concurrency;	/* 50 */
	unsigned		 per_host;	/* 16 */
	double			 rate;		/* requests/s, 0 = unlimited */
	int64_t			 connect_timeout; /* usec, 5s */
	int64_t			 timeout;	/* usec, 30s */
	int64_t			 stall_timeout;	/* usec, 15s */
	int64_t			 deadline;	/* usec, 0 = none */
	unsigned		 retries;	/* 2 */
	unsigned		 retry_on;	/* RETRY_* bits, RETRY_ALL */
	int64_t			 backoff;	/* usec, 250ms */
	int64_t			 backoff_max;	/* usec, 30s */
	uint64_t		 max_body;	/* bytes, 8M */
	unsigned		 max_redirs;	/* 10 */
	struct status_range	*expect;	/* 200-299 */
	size_t			 nexpect;
	char			*extract;	/* JSON pointer or NULL */
	int			 retry_unsafe;	/* 0 */
	double			 retry_budget;	/* fraction, 0.2 */
	double			 min_success;	/* count, or fraction if pct */
	int			 min_success_pct;
	uint64_t		 abort_after;	/* 0 = never */
	unsigned		 breaker;	/* 10 */
	char			*ca_file;
	int			 insecure;
	char			*proxy;		/* NULL = environment */
	int			 compressed;	/* 1 */
	int			 http2;		/* 1 */
	int64_t			 every;		/* usec, 0 = run once */
	enum overlap		 overlap;
	int			 conditional;
	unsigned		 keep;		/* 10 */
};

/* What parse_jobs() produces from one file. */
struct jobfile {
	struct jobdef	**jobs;
	size_t		  njobs;
};

/* The daemon file, [daemon] section. */
struct daemonconf {
	char		*file;		/* NULL when running on defaults */
	char		*socket;
	char		*state_dir;
	char		*jobs_dir;	/* NULL = none */
	unsigned	 max_connections; /* 512 */
	unsigned	 fetch_threads;	/* 0 = auto: the CPUs, at most 4 */
	char		*user_agent;	/* "fetchd/VERSION" */
	int		 log_level;	/* LOG_INFO */
	uint64_t	 max_urls;	/* 10,000,000 */
	unsigned	 max_clients;	/* 64 */
	unsigned	 max_jobs;	/* 1024 */
	int64_t		 drain_timeout;	/* usec, 10s: SIGTERM waits this long */
	int		 sync;		/* SYNC_BATCH */
	char		*admin_group;	/* may use mutating commands, or NULL */
	char		*user;		/* drop to this user when root, or NULL */
	struct strlist	 submit_dirs;	/* submitted jobs may name files here */
};

/* parse.c: job files and the daemon file, from a buffer. */
int	 parse_jobs(const char *name, const char *buf, size_t len,
	    const struct daemonconf *, struct jobfile *, struct errlist *);
int	 parse_daemon(const char *name, const char *buf, size_t len,
	    struct daemonconf *, struct errlist *);
int	 parse_read_file(const char *path, size_t max, char **buf, size_t *len,
	    char **cause);
int	 parse_jobs_dir(const char *dir, const struct daemonconf *,
	    struct jobfile *, struct errlist *);
void	 daemonconf_defaults(struct daemonconf *);
void	 daemonconf_free(struct daemonconf *);
void	 jobdef_free(struct jobdef *);
void	 jobfile_free(struct jobfile *);
/* rel made absolute against the directory of file, as parse_jobs() does. */
char	*parse_resolve(const char *file, const char *rel);
/* Is the value of this "Name: value" header secret (never shown)? */
int	 parse_header_secret(const struct jobdef *, const char *);
/* The sorted key table, for "did you mean", printconf and the man check. */
const char *const *parse_job_keys(size_t *);
const char *const *parse_daemon_keys(size_t *);

/* printconf.c: normalized config, parseable again (fetchd -t -v). */
void	 printconf_daemon(FILE *, const struct daemonconf *);
void	 printconf_jobs(FILE *, const struct jobfile *);	/* secrets hidden */
void	 printconf_jobs_saved(FILE *, const struct jobfile *);	/* kept */

/*
 * glob.c: curl-style URL globs ([0-199], [001-200], [0-100:10], [a-z],
 * {a,b,c}; several per URL, cartesian, rightmost varies fastest), as random
 * access by index, never expanded into memory.
 */
struct glob;
int	 glob_compile(const char *, uint64_t max, struct glob **, char **);
uint64_t glob_count(const struct glob *);
void	 glob_expand(const struct glob *, uint64_t, struct buf *);
void	 glob_free(struct glob *);

/* retry.c: pure retry decisions; time and randomness are parameters. */
#include <time.h>
int	 retry_idempotent(const char *);
int	 retry_covers(unsigned, enum fclass, int);
int64_t	 retry_after_parse(const char *, time_t);
int64_t	 retry_delay(const struct jobdef *, unsigned, int64_t, double);

/* Latency histogram with ~3% precision, fixed size. */
#define HISTO_SUB	32
#define HISTO_BUCKETS	(40 * HISTO_SUB)
struct histo {
	uint32_t	b[HISTO_BUCKETS];
	uint64_t	n;
};
void	 histo_add(struct histo *, int64_t usec);
int64_t	 histo_quantile(const struct histo *, double);
uint64_t histo_count_le(const struct histo *, int64_t);

/* Counters of one run, kept by job.c and read by status and the summary. */
#define RUN_SLOWEST	10
#define RUN_MAX_HOSTS	256	/* per-host error rows kept; the rest "other" */
struct namecount {
	char		*name;
	uint64_t	 n;
};
struct runstats {
	uint64_t	 total;		/* URLs known so far */
	int		 total_known;	/* all sources enumerated */
	uint64_t	 done;		/* URLs with a final record */
	uint64_t	 ok;
	uint64_t	 failed;
	uint64_t	 in_flight;
	uint64_t	 queued;	/* ready, waiting for a slot */
	uint64_t	 retrying;	/* waiting for a retry timer */
	uint64_t	 attempts;
	uint64_t	 retries;
	uint64_t	 bytes;
	struct namecount *errors;	/* by error name ("timeout", "http_503") */
	size_t		 nerrors;
	struct namecount *hosts;	/* failures by origin */
	size_t		 nhosts;
	struct histo	 latency;	/* of successful attempts */
	int64_t		 latency_sum;	/* usec, for metrics */
	struct {
		char	*url;
		int64_t	 usec;
	}		 slowest[RUN_SLOWEST];
};
void	 namecount_inc(struct namecount **, size_t *, size_t max,
	    const char *);
void	 runstats_free(struct runstats *);

/* fetch.c: the only includer of curl.h. */
#define FETCH_SHARDS_MAX 16	/* the loop thread's and 15 fetch threads */
struct xfer {
	/* Set by the caller before fetch_start(). */
	const char		*url;
	const struct jobdef	*def;
	const char		*user_agent;
	const char		*reqbody;	/* request body or NULL */
	size_t			 reqbody_len;
	const char		*if_none_match;	/* conditional: or NULL */
	const char		*if_modified_since;
	/*
	 * Transfers with the same non-zero shape have the same jobdef
	 * options (a pooled handle keeps them); 0 = set them every time.
	 */
	uint64_t		 shape;
	/*
	 * The origin's transfers on each fetch shard (the caller's, kept
	 * by fetch.c): an origin is spread so that no shard holds more
	 * than its share, and so no more connections than before.  NULL:
	 * anywhere.
	 */
	unsigned		*load;
	uint32_t		 origin_hash;	/* picks the origin's home shard */
	void			*arg;
	/* Body bytes as they arrive; return -1 to abort with FC_TOO_LARGE. */
	int			(*on_data)(struct xfer *, const char *, size_t);
	/*
	 * Called once, on the loop thread, after the handle left the multi.
	 * on_data runs where the transfer runs: on a fetch thread (see
	 * fetch-threads) it may touch only what belongs to this transfer.
	 */
	void			(*done)(struct xfer *);

	/* Filled by fetch.c. */
	void			*easy;		/* fetch.c's handle */
	void			*headers;	/* fetch.c's header list */
	int			 status;	/* HTTP status, 0 if none */
	enum fclass		 fclass;	/* FC_NONE on transport success */
	char			 detail[256];	/* curl's error text */
	char			 retry_after[64]; /* raw header value, or "" */
	char			 etag[128];	/* validators of the response */
	char			 last_modified[64];
	int64_t			 t_dns;		/* usec from start, phase ends */
	int64_t			 t_connect;
	int64_t			 t_tls;
	int64_t			 t_ttfb;
	int64_t			 t_total;
	uint64_t		 bytes;
	uint64_t		 header_bytes;	/* of every response so far */
	int			 refused;	/* a redirect would leak a secret */
	int			 start_failed;	/* on a fetch thread: FC_OTHER */
	/* fetch.c's: which fetch thread, and its queues (under its lock) */
	unsigned		 shard;
	int			 fstate;
	struct xfer		*qprev, *qnext;
};
int	 fetch_init(struct ev_loop *, const struct daemonconf *, char **);
void	 fetch_free(void);
int	 fetch_start(struct xfer *, char **);
void	 fetch_cancel(struct xfer *);	/* done() is not called */
/* Ask now, wait in fetch_cancel(): many cancels cost one round trip. */
void	 fetch_cancel_begin(struct xfer *);
/* Run done() of what fetch threads finished (before a run stops). */
void	 fetch_flush(void);
void	 fetch_cleanup(struct xfer *);	/* free the easy handle */
void	 fetch_set_admit(void (*)(void));
/* Asked during long loop iterations: is other work waiting (control)? */
void	 fetch_set_yield(int (*)(void));
const char *fetch_version(void);
unsigned fetch_loops(void);	/* the daemon's loop and the fetch threads' */
/* curl's header callback (arg: the xfer), pure; for the header fuzzer. */
size_t	 fetch_header_cb(char *, size_t, size_t, void *);

/*
 * body.c: one response body, fed as it arrives (json-c incremental
 * tokener), then encoded into a result record.
 */
struct body;
struct body *body_new(uint64_t max, const char *extract);
int	 body_feed(struct body *, const char *, size_t);	/* -1: too large */
/* After the last byte: 0, or -1 with *cause when extract cannot apply. */
int	 body_finish(struct body *, char **cause);
/* Append ,"body":... or ,"body_base64":"..." (nothing if empty). */
void	 body_encode(struct body *, struct buf *);
void	 body_free(struct body *);
void	 body_cleanup(void);		/* at exit: pooled parsers */

/* results.c: result records, the NDJSON writer thread, summaries. */
struct record {
	uint64_t	 i;
	const char	*url;
	int		 status;	/* 0 if none */
	const char	*error;		/* error name, NULL on success */
	const char	*detail;
	unsigned	 attempts;
	int64_t		 usec;		/* last attempt */
	int64_t		 queue_usec;	/* waiting for slots, all attempts */
	struct body	*body;		/* may be NULL */
	const char	*etag;		/* conditional: validators to keep */
	const char	*last_modified;
	int		 unchanged;	/* 304 to a conditional request */
	/*
	 * A success's last attempt, whose line RUN.attempts.ndjson does not
	 * repeat (when it was the first: see item_done()); NULL x: none.
	 */
	const struct xfer *x;
	int64_t		 start_wall;	/* epoch ms */
};
/* conditional: the validators of a finished run, by URL. */
struct validators;
struct validators *results_validators(const char *path);
void	 results_validators_get(const struct validators *, const char *,
	    const char **, const char **);
void	 results_validators_free(struct validators *);
/* One attempt, for RUN.attempts.ndjson (explain). */
struct attempt {
	uint64_t		 i;
	const char		*url;
	unsigned		 n;
	int64_t			 start_wall;	/* epoch ms */
	int64_t			 queue_usec;
	const struct xfer	*x;
	const char		*error;		/* NULL on success */
	const char		*decision;	/* "ok", "retry", "final" */
	int64_t			 delay_usec;	/* retry, else -1 */
	const char		*why;
};
void	 results_attempt(struct buf *, const struct attempt *);
struct rfile;
struct run;
int	 results_init(struct ev_loop *);
void	 results_set_sync(int);
void	 results_free(void);
void	 results_record(struct buf *, const struct record *);
struct rfile *results_open(const char *state_dir, const char *job,
	    unsigned run, char **cause);
struct rfile *results_open_attempts(const char *, const char *, unsigned,
	    char **);
int	 results_next_failed(FILE *, struct buf *);
void	 results_append(struct rfile *, const char *, size_t);
void	 results_close(struct rfile *, char *summary, void (*)(void *),
	    void *);
const char *results_path(const struct rfile *);
int	 results_errno(const struct rfile *);
void	 results_kick(struct rfile *);
char	*results_summary(const struct run *);
unsigned results_last_run(const char *state_dir, const char *job);
int	 results_read_summary(const char *, struct run *);


/* job.c: jobs, runs and their states; admission; completions. */
#include <sys/queue.h>
#ifndef TAILQ_FOREACH_SAFE		/* glibc's sys/queue.h lacks it */
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

enum run_state {
	RUN_QUEUED = 0,
	RUN_RUNNING,
	RUN_DONE,
	RUN_PARTIAL,
	RUN_FAILED,
	RUN_CANCELLED
};
extern const char *const run_state_names[];
#define RUN_FINISHED(r)	((r)->state >= RUN_DONE)

enum run_event {
	RUNEV_STARTED,
	RUNEV_PROGRESS,
	RUNEV_FINISHED
};

struct job;
struct run_priv;
struct run {
	TAILQ_ENTRY(run)	 entry;		/* in job->runs, oldest first */
	struct job		*job;
	unsigned		 number;
	enum run_state		 state;
	int			 closing;	/* final results being flushed */
	char			*reason;	/* why failed/cancelled, or NULL */
	int64_t			 started;	/* monotonic usec */
	int64_t			 ended;
	int64_t			 started_wall;	/* ms since the epoch */
	int64_t			 ended_wall;
	uint64_t		 version;	/* bumped on every change */
	struct runstats		 st;
	char			*path;		/* results file */
	unsigned		 retry_of;	/* retry-failed of this run */
	unsigned		 resumed;	/* times resumed after a stop */
	int			 paused;	/* PAUSE_* bits: no new transfers */
	char			*pause_reason;
	struct run_priv		*p;		/* job.c's own */
};
TAILQ_HEAD(runq, run);

struct defhold;
struct job {
	TAILQ_ENTRY(job)	 entry;
	char			*name;
	struct jobdef		*def;		/* the current definition */
	struct defhold		*hold;		/* job.c's reference to def */
	struct runq		 runs;
	unsigned		 nruns;
	unsigned		 last_number;
	ev_timer		 every;		/* periodic runs */
	int			 queued;	/* overlap = queue: a run waits */
	int64_t			 next_run;	/* epoch ms of the next, or 0 */
};
TAILQ_HEAD(jobq, job);

int	 job_init(struct ev_loop *, const struct daemonconf *);
void	 job_free(void);
void	 job_set_hook(void (*)(struct run *, enum run_event));
struct jobq *job_list(void);
struct job *job_find(const char *);
struct run *job_run(struct job *, unsigned);	/* 0 = latest */
/* Define or replace the jobs of a parsed file and start a run of each. */
int	 job_submit(struct jobfile *, struct run **, size_t, char **);
int	 job_cancel(struct run *, const char *);
#define PAUSE_USER	0x1	/* fetchctl pause */
#define PAUSE_DISK	0x2	/* results cannot be written */
/* Pause (no new transfers) or let a run go on; -1 if it finished. */
int	 job_pause(struct run *, const char *);
int	 job_set(struct run *, const char *, const char *, char **);
int	 job_unpause(struct run *);
/* Define the saved jobs and resume their unfinished runs (start-up). */
void	 job_resume(void);
/* A new run of only the failed URLs of a finished run. */
struct run *job_retry_failed(struct run *, char **);
/* An origin held back (paused, down, or limited), for snapshots. */
struct host_view {
	const char	*origin;
	const char	*state;		/* "paused", "down", "limited" */
	int64_t		 until;		/* monotonic usec, 0 if none */
	int64_t		 until_wall;	/* epoch ms, 0 if none */
	unsigned	 limit;		/* adaptive cap, 0 = per-host */
	unsigned	 in_flight;
	unsigned	 failures;	/* consecutive */
};
void	 job_hosts_held(void (*)(const struct host_view *, void *), void *);
/* Start no more transfers; call back once none is in flight. */
void	 job_drain(void (*)(void));
/* Take reloaded jobs-dir definitions (changed: next run; new: run now). */
int	 job_reload(struct jobfile *, char **);
/* Cancel everything, flush results, then call back (daemon stop). */
void	 job_shutdown(void (*)(void));
unsigned job_running(void);


/*
 * control.c: the listening socket and the client sessions (buffers,
 * watermarks, SO_PEERCRED, framing, watch streams).  control_cmd.c: one
 * handler per command, building replies from snapshots.
 */
struct json_object;
struct session;
int	 control_init(struct ev_loop *, const struct daemonconf *, int, char **);
void	 control_free(void);
int	 control_pending(void);	/* a request waits to be read */
void	 control_run_event(struct run *, enum run_event);
/* Queue one reply/event object as a line; takes the reference. */
void	 session_send(struct session *, struct json_object *);
/* Queue bytes that already form complete lines. */
void	 session_send_raw(struct session *, const char *, size_t);
size_t	 session_queued(const struct session *);
/*
 * Long replies are produced in slices: pump() is called whenever the
 * session's output drops below the low watermark, and returns 1 while it has
 * more to send, 0 when it is finished (then release(arg) is called; it is
 * also called if the session closes first).
 */
void	 session_set_pump(struct session *, int (*)(struct session *, void *),
	    void (*)(void *), void *);
/* Subscribe to run events: job name or NULL for all, run 0 for any. */
void	 session_watch(struct session *, const char *, unsigned, int64_t);
uid_t	 session_uid(const struct session *);
/* Is the peer a member of the group (primary or supplementary)? */
int	 session_in_group(const struct session *, gid_t);

/* control_cmd.c */
void	 control_cmd_init(const struct daemonconf *);
void	 control_cmd_dispatch(struct session *, struct json_object *, int64_t,
	    const char *);
struct json_object *control_cmd_snapshot(const struct run *);

/* notify.c: the only includer of sd-daemon.h. */
int	 notify_listen_fd(void);	/* socket from systemd, or -1 */
void	 notify_init(struct ev_loop *, char *(*)(void));
void	 notify_ready(void);
void	 notify_reloading(void);
void	 notify_stopping(uint64_t extend_usec);
void	 notify_status(const char *);
void	 notify_free(void);

/*
 * fetchd.c: main(), signals, reload.  fetchd_reload() re-reads the daemon
 * file and jobs-dir (SIGHUP, the control command "reload"); on errors it
 * keeps the running configuration and returns -1 with *cause holding every
 * error, one per line.
 */
int	 fetchd_reload(char **cause);

#endif /* FETCHD_FETCHD_H */
