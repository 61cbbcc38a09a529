/*
 * fetch.c: owns the libcurl multi handles (one per shard: the daemon's
 * loop and each fetch thread's), their ev_timers, one ev_io per socket
 * libcurl asks us to watch, a small pool of reusable easy handles per
 * shard, and the queues between the loop thread and the fetch threads.
 * It is the only file that includes curl/curl.h.
 *
 * The wiring is curl's evhiperfifo pattern without its bugs (STYLE.md, the
 * curl + libev section): libcurl's socket callback starts, changes or stops
 * an ev_io; its timer callback re-arms the shard's one ev_timer (never
 * calling back into libcurl); both watchers call curl_multi_socket_action()
 * and then drain curl_multi_info_read().  Finished transfers are removed
 * from the multi before their owner's done() runs, so done() may start new
 * ones; done() always runs on the loop thread (a fetch thread posts the
 * transfer back).  fetch.c knows nothing of jobs: it reports through
 * struct xfer.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fetchd.h"

#define POOL_MAX	1024		/* idle easy handles kept for reuse */
#define MAX_HEADER_BYTES (256 * 1024)	/* all response headers of a transfer */
#define POOL_SCAN	8		/* pooled handles looked at for a match */
#define BUSY_CHECK	0.001		/* s of socket work between yield checks */
#define BUSY_EVERY	4		/* socket events between clock reads */
#define SWEEP_MIN	0.001		/* s: the soonest a timeout sweep runs */
#define SWEEP_LATE	0.1		/* s: a sweep this late looks again */
#define SWEEP_RECHECK	0.02		/* s: after the sockets were read */
#define SOCK_SPARE	256		/* freed socket watchers kept */

/*
 * One socket libcurl watches; the ev_io is first so a watcher casts back.
 * A socket whose event came after the iteration was cut short waits in
 * F.deferred with the event in mask (see fetch_busy()).  Its watcher stays
 * active (no epoll_ctl back and forth); what it reports meanwhile joins
 * the mask.
 */
struct fsock {
	ev_io			 io;
	curl_socket_t		 fd;
	int			 mask;		/* CURL_CSELECT_*, deferred */
	int			 deferred;
	TAILQ_ENTRY(fsock)	 dentry;
};
TAILQ_HEAD(fsockq, fsock);

/*
 * An easy handle.  Idle in the pool it keeps the options of its last
 * transfer; key says which (see fetch_key()), 0 when they must not be
 * reused.  base is the header list of those options: the job's headers,
 * User-Agent and Accept-Encoding.
 */
struct fhandle {
	CURL			*e;
	uint64_t		 key;
	struct curl_slist	*base;
	/*
	 * The transfer on the handle.  curl's callbacks, its private pointer
	 * and its error buffer point at the handle and are set with the
	 * other options that stay (fetch_setup_def), not per transfer.
	 */
	struct xfer		*x;
	char			 err[CURL_ERROR_SIZE];
	/* As set on the handle, to skip setting them again: */
	const struct curl_slist	*hdrs_set;	/* CURLOPT_HTTPHEADER */
	long			 pipewait;	/* CURLOPT_PIPEWAIT, or -1 */
	/* In flight (F.live), for timeout and stall-timeout: */
	TAILQ_ENTRY(fhandle)	 live;
	int			 inlive;
	ev_tstamp		 started;
	ev_tstamp		 deadline;	/* timeout */
	ev_tstamp		 stall;		/* stall-timeout, 0 = none */
	ev_tstamp		 last_rx;	/* a byte last came (or went) */
	int			 armed;		/* the request went out */
	curl_off_t		 ul_seen;	/* request body bytes sent */
};
TAILQ_HEAD(fhandleq, fhandle);
_Static_assert(sizeof(((struct xfer *)0)->detail) >= CURL_ERROR_SIZE,
    "fetch_fill() copies the error buffer into detail");

/* A queue of transfers between threads (under the shard's lock). */
struct xlist {
	struct xfer	*head, *tail;
};

/*
 * A transfer's place (x->fstate).  On the loop thread's own shard it is
 * X_IDLE or X_LOCAL and only that thread looks at it; on a fetch thread's
 * shard it changes under the shard's lock:
 *
 *   fetch_start ------> QUEUED --(thread takes it)--> RUNNING
 *   RUNNING --(finished)--> POSTED --(loop takes it, done())--> IDLE
 *   RUNNING --(fetch_cancel_begin)--> CANCELLING --(thread stops it)--> IDLE
 *   QUEUED, POSTED --(fetch_cancel_begin)--> IDLE (taken off the queue)
 */
enum { X_IDLE, X_LOCAL, X_QUEUED, X_RUNNING, X_CANCELLING, X_POSTED };

/*
 * One libcurl multi handle with its event loop: shard 0 runs on the loop
 * thread (the daemon's loop), shards 1.. each on a fetch thread of their
 * own (fetch-threads).  Everything here but the queues belongs to the
 * shard's thread; the code reaches its own shard through F.
 */
struct fshard {
	unsigned	 id;
	struct ev_loop	*loop;
	CURLM		*multi;
	ev_timer	 timer;
	unsigned	 iter;		/* loop iteration of mark */
	ev_tstamp	 mark;		/* yield last asked (or poll returned) */
	int		 yielding;	/* cut this iteration short */
	unsigned	 nbusy;		/* socket events in this iteration */
	struct fhandle	*pool[POOL_MAX];
	unsigned	 npool;
	char		*ua;		/* the user agent last seen */
	uint64_t	 ua_epoch;	/* bumped when it changes */
	int		 running;
	int		 draining;
	struct fsockq	 deferred;	/* sockets with an event to handle */
	/*
	 * libcurl stops watching a keep-alive socket when its transfer ends
	 * and starts again with the next one: a watcher per transfer.
	 */
	struct fsock	*sock_spare[SOCK_SPARE];
	unsigned	 nsock_spare;
	struct fhandleq	 live;		/* transfers in flight, oldest first */
	ev_timer	 sweep;		/* their next timeout or stall */
	ev_tstamp	 sweep_at;
	ev_tstamp	 now;		/* coarse monotonic, of the fetch_action */
	int		 rechecking;	/* this sweep looks again after a late one */
	ev_tstamp	 coarse_res;	/* resolution of CLOCK_MONOTONIC_COARSE */
	ev_check	 resume;	/* handles them first, each iteration */
	ev_idle		 nowait;	/* keeps the loop from blocking meanwhile */
	struct fhandle	 sweep_mark;	/* the sweep's place in live */

	/* Loop thread only: transfers given to this shard, not yet back. */
	unsigned	 n;

	/* Fetch threads: the queues to and from the loop thread. */
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a cancel is through */
	struct xlist	 inbox;		/* to start */
	struct xlist	 cancels;	/* to stop */
	struct xlist	 posted;	/* finished: done() to run */
	int		 stop;
	int		 started;	/* its thread runs */
	ev_async	 wake;		/* inbox, cancels or stop */
};

static struct fshard		*shards;
static unsigned			 nshards;
static _Thread_local struct fshard *Fp;	/* this thread's shard */
#define F	(*Fp)

/* Shared by the shards, set before the fetch threads start. */
static struct {
	struct ev_loop	*loop;		/* the loop thread's */
	void		(*admit)(void);
	int		(*yield)(void);	/* other work waiting? */
	char		*ae;		/* Accept-Encoding: what libcurl decodes */
	int		 proxy_env;	/* a proxy in the environment */
	ev_async	 posted;	/* a fetch thread posted a transfer */
	unsigned	 first;		/* shard whose posts come first, next */
	/*
	 * The user agents given by fetch_start() (the caller's string may go
	 * at a reload while a fetch thread has yet to read it), newest first.
	 */
	struct fua {
		struct fua	*next;
		char		 s[];
	}		*uas;
} G;

static void	fetch_drain(void);
static void	fetch_finish(struct xfer *);
static ev_tstamp	mono(clockid_t);
static void	live_add(struct fhandle *, const struct jobdef *);
static void	live_remove(struct fhandle *);

/* CURLMOPT_TIMERFUNCTION: re-arm our single timer; never call curl here. */
static int
fetch_timer_cb(CURLM *m, long ms, void *arg)
{
	ev_timer_stop(F.loop, &F.timer);
	if (ms >= 0) {
		ev_timer_set(&F.timer, (double)ms / 1000.0, 0.);
		ev_timer_start(F.loop, &F.timer);
	}
	return (0);
}

/* Run libcurl on one socket (or on timeouts), then reap what finished. */
static void
fetch_action(curl_socket_t fd, int mask)
{
	CURLMcode	 rc;

	/* for the callbacks' "a byte came": never before the true time */
	F.now = mono(CLOCK_MONOTONIC_COARSE) + F.coarse_res;
	rc = curl_multi_socket_action(F.multi, fd, mask, &F.running);
	if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
		fatalx("curl_multi_socket_action: %s", curl_multi_strerror(rc));
	fetch_drain();
}

static void
fetch_timer_ev(struct ev_loop *loop, ev_timer *w, int revents)
{
	fetch_action(CURL_SOCKET_TIMEOUT, 0);
}

/*
 * Should the rest of this loop iteration's socket events wait?  One
 * iteration handles every socket that is ready: at 500 transfers in flight
 * that was tens of milliseconds, and a control request waited for all of
 * it.  Every BUSY_CHECK of socket work the yield hook is asked whether
 * other work waits; if so the iteration is cut short.  Ending iterations
 * early regardless costs throughput: each one polls every ready socket
 * again.  The clock is read every BUSY_EVERY events (tens of microseconds
 * each), not at every one.
 */
static int
fetch_busy(void)
{
	unsigned	 it = ev_iteration(F.loop);
	ev_tstamp	 now;

	if (F.id != 0)
		return (0);		/* a fetch thread has nothing else to do */
	if (it != F.iter) {
		F.iter = it;
		F.mark = ev_now(F.loop);
		F.yielding = 0;
		F.nbusy = 0;
	}
	if (F.yielding || G.yield == NULL)
		return (F.yielding);
	if (++F.nbusy % BUSY_EVERY != 0)
		return (0);		/* a clock read per event was measurable */
	now = ev_time();
	if (now - F.mark < BUSY_CHECK)
		return (0);
	F.mark = now;
	F.yielding = G.yield();
	return (F.yielding);
}

/* Handle a socket's event in a later iteration (fetch_resume_ev). */
static void
fetch_defer(struct fsock *fs, int mask)
{
	fs->mask |= mask;
	if (!fs->deferred) {
		fs->deferred = 1;
		TAILQ_INSERT_TAIL(&F.deferred, fs, dentry);
	}
	ev_check_start(F.loop, &F.resume);
	ev_idle_start(F.loop, &F.nowait);
}

/*
 * At the start of an iteration (an ev_check above the curl watchers,
 * below the control socket's), the deferred sockets first, oldest first:
 * at least one, and all unless the iteration is cut short again.
 */
static void
fetch_resume(void)
{
	struct fsock	*fs;
	curl_socket_t	 fd;
	int		 mask, n = 0;

	while ((fs = TAILQ_FIRST(&F.deferred)) != NULL) {
		if (n++ > 0 && fetch_busy())
			return;
		TAILQ_REMOVE(&F.deferred, fs, dentry);
		fs->deferred = 0;
		fd = fs->fd;
		mask = fs->mask;
		fs->mask = 0;
		fetch_action(fd, mask);		/* may free fs */
	}
	ev_check_stop(F.loop, &F.resume);
	ev_idle_stop(F.loop, &F.nowait);
}

static void
fetch_resume_ev(struct ev_loop *loop, ev_check *w, int revents)
{
	fetch_resume();
}

static void
fetch_nowait_ev(struct ev_loop *loop, ev_idle *w, int revents)
{
	fetch_resume();
}

static void
fetch_io_ev(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fsock	*fs = (struct fsock *)w;
	int		 mask = 0;

	if (revents & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (revents & EV_ERROR)
		mask |= CURL_CSELECT_ERR;
	if (fs->deferred || fetch_busy()) {
		fetch_defer(fs, mask);
		return;
	}
	/* Read fd before the call: the fsock may be freed inside it. */
	fetch_action(fs->fd, mask);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop the socket's watcher. */
static int
fetch_sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct fsock	*fs = sockp;
	int		 events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			ev_io_stop(F.loop, &fs->io);
			if (fs->deferred)
				TAILQ_REMOVE(&F.deferred, fs, dentry);
			curl_multi_assign(F.multi, fd, NULL);
			if (F.nsock_spare < SOCK_SPARE) {
				KEEP_POISON(fs, sizeof(*fs));
				F.sock_spare[F.nsock_spare++] = fs;
			} else
				free(fs);
		}
		return (0);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (fs == NULL) {
		if (F.nsock_spare > 0) {
			fs = F.sock_spare[--F.nsock_spare];
			KEEP_UNPOISON(fs, sizeof(*fs));
			memset(fs, 0, sizeof(*fs));
		} else if ((fs = calloc(1, sizeof(*fs))) == NULL) {
			log_warnx("out of memory watching a socket; "
			    "libcurl aborts all transfers");
			return (-1);
		}
		fs->fd = fd;
		ev_io_init(&fs->io, fetch_io_ev, fd, events);
		curl_multi_assign(F.multi, fd, fs);
	} else {
		ev_io_stop(F.loop, &fs->io);
		ev_io_modify(&fs->io, events);
	}
	ev_io_start(F.loop, &fs->io);
	return (0);
}

/* Map a transport failure to a failure class. */
static enum fclass
fetch_classify(CURLcode rc, struct xfer *x, CURL *e)
{
	curl_off_t	 sent = 0;

	switch (rc) {
	case CURLE_OK:
		return (FC_NONE);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return (FC_DNS);
	case CURLE_COULDNT_CONNECT:
		return (FC_CONNECT);
	case CURLE_OPERATION_TIMEDOUT:
		if (strstr(x->detail, "too slow") != NULL)
			return (FC_STALL);
		/*
		 * No request sent yet means the time went on connecting; a
		 * reused connection has no connect time, but it has this.
		 */
		curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &sent);
		return (sent == 0 ? FC_CONNECT : FC_TIMEOUT);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
		return (FC_TLS);
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (FC_RESET);
	case CURLE_FILESIZE_EXCEEDED:
		return (FC_TOO_LARGE);
	case CURLE_WRITE_ERROR:
		/* Our write callback refused: over max-body. */
		return (FC_TOO_LARGE);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_URL_MALFORMAT:
	case CURLE_WEIRD_SERVER_REPLY:
		return (FC_PROTOCOL);
	case CURLE_ABORTED_BY_CALLBACK:
		return (FC_CANCELLED);
	default:
		return (FC_OTHER);
	}
}

static const char *fetch_carried_secret(const struct jobdef *, int *);

/* Copy status, timings and the failure class of a finished transfer. */
static void
fetch_fill(struct fhandle *fh, CURL *e, CURLcode rc)
{
	struct xfer	*x = fh->x;
	long		 status = 0;
	curl_off_t	 t;
	char		 was[192];
	const char	*h;
	int		 n = 0;

	memcpy(x->detail, fh->err, strlen(fh->err) + 1);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	x->status = (int)status;
	if (curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t) == CURLE_OK)
		x->t_dns = t;
	if (curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK)
		x->t_connect = t;
	if (curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t) == CURLE_OK)
		x->t_tls = t;
	if (curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t) ==
	    CURLE_OK)
		x->t_ttfb = t;
	if (curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK)
		x->t_total = t;
	x->fclass = fetch_classify(rc, x, e);
	if (x->fclass != FC_NONE && x->detail[0] == '\0')
		snprintf(x->detail, sizeof(x->detail), "%s",
		    curl_easy_strerror(rc));
	if (x->refused) {
		h = fetch_carried_secret(x->def, &n);
		x->fclass = FC_PROTOCOL;
		snprintf(x->detail, sizeof(x->detail), "refused: a redirect "
		    "to another origin would carry the secret header %.*s",
		    n, h != NULL ? h : "");
	} else if (x->header_bytes > MAX_HEADER_BYTES) {
		x->fclass = FC_TOO_LARGE;
		snprintf(x->detail, sizeof(x->detail), "response headers "
		    "larger than %d bytes", MAX_HEADER_BYTES);
	} else if (rc == CURLE_OUT_OF_MEMORY && status > 0 && x->bytes == 0) {
		/* What curl says of one header line over its 100 KiB. */
		x->fclass = FC_TOO_LARGE;
		snprintf(x->detail, sizeof(x->detail), "a response header "
		    "line is larger than libcurl's limit (100 KiB)");
	} else if (x->fclass == FC_TOO_LARGE)
		snprintf(x->detail, sizeof(x->detail),
		    "body larger than max-body (%llu bytes)",
		    (unsigned long long)x->def->max_body);
	else if (rc == CURLE_TOO_MANY_REDIRECTS)
		snprintf(x->detail, sizeof(x->detail),
		    "more than max-redirs (%u) redirects", x->def->max_redirs);
	else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
		snprintf(was, sizeof(was), "%.180s", x->detail);
		snprintf(x->detail, sizeof(x->detail), "refused: fetchd "
		    "speaks and follows only http and https (%s)", was);
	}
}

/*
 * Reap every finished transfer.  Fields are copied out of the message
 * before the handle is removed; done() runs after the removal, so it may
 * add or remove handles.  Then let the scheduler admit more work.
 */
static void
fetch_drain(void)
{
	CURLMsg		*msg;
	CURL		*e;
	CURLcode	 rc;
	struct fhandle	*fh;
	struct xfer	*x;
	int		 left;

	if (F.draining)
		return;
	F.draining = 1;
	while ((msg = curl_multi_info_read(F.multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		e = msg->easy_handle;
		rc = msg->data.result;
		fh = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&fh);
		x = fh->x;
		fetch_fill(fh, e, rc);
		live_remove(fh);
		curl_multi_remove_handle(F.multi, e);
		fetch_finish(x);
	}
	F.draining = 0;
	if (F.id == 0 && G.admit != NULL)
		G.admit();
}

/*
 * timeout and stall-timeout.  libcurl's CURLOPT_TIMEOUT_MS and
 * CURLOPT_LOW_SPEED_* cost about 1.3k instructions per transfer (timer
 * bookkeeping in every state of every transfer, bench/RESULTS.md); here a
 * transfer costs a list insert and remove, a callback when its request
 * goes out and a time stamp per data callback.
 *
 * F.live holds the transfers in flight, oldest first; one ev_timer is set
 * for the soonest moment one of them may expire (a byte arriving only
 * moves a stall later, so the sweep may find nothing: it then re-arms).
 * A sweep is O(transfers in flight) and runs about once per stall-timeout
 * while bytes flow, or when a timeout is due.
 *
 * - Times are CLOCK_MONOTONIC (ev_now() is the wall clock: a clock step
 *   must not expire or hold everything); the per-callback stamp is the
 *   coarse clock (no TSC read) of the current fetch_action() plus its
 *   resolution, so a stall is never early, at most a few ms late.
 * - The stall clock starts when the request goes out (the PREREQFUNCTION):
 *   name resolution, TCP and TLS are connect-timeout's, failing as connect.
 * - A byte counts when it reaches fetchd (header and write callbacks; for
 *   a request body, the progress callback as it goes out): compressed
 *   input that decodes to nothing for a whole stall-timeout is a stall.
 * - A sweep that runs late (the loop was held up: a long callback, a
 *   stopped process, a paused VM) expires no stall: it looks again once
 *   the sockets have been read (SWEEP_RECHECK), since data may be waiting
 *   in them.  Timeouts expire regardless; the time did pass.
 */

static ev_tstamp
ts_sec(const struct timespec *ts)
{
	return ((ev_tstamp)ts->tv_sec + (ev_tstamp)ts->tv_nsec * 1e-9);
}

static ev_tstamp
mono(clockid_t id)
{
	struct timespec	 ts;

	clock_gettime(id, &ts);
	return (ts_sec(&ts));
}

/* When fh expires, given what it has done so far. */
static ev_tstamp
live_due(const struct fhandle *fh)
{
	ev_tstamp	 t = fh->deadline;

	if (fh->armed && fh->stall > 0 && fh->last_rx + fh->stall < t)
		t = fh->last_rx + fh->stall;
	return (t);
}

static void
sweep_arm(ev_tstamp at, ev_tstamp now)
{
	ev_tstamp	 in = at - now;

	ev_timer_stop(F.loop, &F.sweep);
	if (in < SWEEP_MIN)
		in = SWEEP_MIN;
	F.sweep_at = now + in;
	ev_timer_set(&F.sweep, in, 0.);
	ev_timer_start(F.loop, &F.sweep);
}

static void
live_add(struct fhandle *fh, const struct jobdef *d)
{
	ev_tstamp	 now = mono(CLOCK_MONOTONIC), due;

	fh->started = fh->last_rx = now;
	fh->deadline = now + (ev_tstamp)d->timeout / USEC_PER_SEC;
	fh->stall = (ev_tstamp)d->stall_timeout / USEC_PER_SEC;
	fh->armed = 0;
	fh->ul_seen = 0;
	TAILQ_INSERT_TAIL(&F.live, fh, live);
	fh->inlive = 1;
	due = live_due(fh);
	if (!ev_is_active(&F.sweep) || due < F.sweep_at)
		sweep_arm(due, now);
}

static void
live_remove(struct fhandle *fh)
{
	if (!fh->inlive)
		return;
	TAILQ_REMOVE(&F.live, fh, live);
	fh->inlive = 0;
	if (TAILQ_EMPTY(&F.live))
		ev_timer_stop(F.loop, &F.sweep);
}

/* CURLOPT_PREREQFUNCTION: the request goes out; the stall clock starts. */
static int
fetch_prereq_cb(void *arg, char *ip, char *local, int port, int lport)
{
	struct fhandle	*fh = arg;
	ev_tstamp	 now = mono(CLOCK_MONOTONIC), due;

	fh->armed = 1;
	fh->last_rx = now;
	due = live_due(fh);		/* the stall may now come first */
	if (fh->inlive && (!ev_is_active(&F.sweep) || due < F.sweep_at))
		sweep_arm(due, now);
	return (CURL_PREREQFUNC_OK);
}

/*
 * End a transfer that ran out of time as libcurl would have: the error
 * text decides the class in fetch_classify() ("too slow" is a stall; a
 * timeout before the request went out is a connect failure).
 */
static void
fetch_expire(struct fhandle *fh, ev_tstamp now)
{
	struct xfer	*x = fh->x;
	int64_t		 ran = (int64_t)((now - fh->started) * USEC_PER_SEC);
	char		 d[32];

	if (now < fh->deadline) {
		util_format_duration(x->def->stall_timeout, d, sizeof(d));
		snprintf(fh->err, sizeof(fh->err), "Operation too slow: no "
		    "byte for %s (stall-timeout)", d);
	} else
		snprintf(fh->err, sizeof(fh->err), "Operation timed out "
		    "after %lld milliseconds with %llu bytes received",
		    (long long)(ran / USEC_PER_MSEC),
		    (unsigned long long)x->bytes);
	fetch_fill(fh, fh->e, CURLE_OPERATION_TIMEDOUT);
	if (x->t_total < ran)
		x->t_total = ran;
	live_remove(fh);
	curl_multi_remove_handle(F.multi, fh->e);
	fetch_finish(x);
}

/*
 * Expire what is due.  done() may start and cancel transfers: a marker
 * entry keeps the place in F.live, whatever leaves it meanwhile.
 */
static void
fetch_sweep_ev(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fhandle		*mark = &F.sweep_mark;	/* e == NULL */
	struct fhandle		*fh;
	ev_tstamp		 now = mono(CLOCK_MONOTONIC), next = 0, due;
	int			 expired = 0, late;

	/* Late: look again after the sockets, once (see above). */
	late = !F.rechecking && now - F.sweep_at > SWEEP_LATE;
	F.rechecking = late;
	TAILQ_INSERT_HEAD(&F.live, mark, live);
	while ((fh = TAILQ_NEXT(mark, live)) != NULL) {
		TAILQ_REMOVE(&F.live, mark, live);
		TAILQ_INSERT_AFTER(&F.live, fh, mark, live);
		if (fh->e == NULL)
			continue;
		due = live_due(fh);
		if (late && due <= now && now < fh->deadline)
			due = now + SWEEP_RECHECK;	/* a stall: look again */
		if (due <= now) {
			fetch_expire(fh, now);
			expired = 1;
		} else if (next == 0 || due < next)
			next = due;
	}
	TAILQ_REMOVE(&F.live, mark, live);
	if (next > 0)
		sweep_arm(next, now);
	else
		ev_timer_stop(loop, &F.sweep);
	if (expired && F.id == 0 && G.admit != NULL)
		G.admit();
}

static size_t
fetch_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fhandle	*fh = arg;
	struct xfer	*x = fh->x;
	size_t		 len = size * n;

	fh->last_rx = F.now;
	x->bytes += len;
	if (x->on_data != NULL && x->on_data(x, p, len) == -1)
		return (0);	/* CURLE_WRITE_ERROR: too large */
	return (len);
}

/*
 * Copy a header's value, trimmed, truncated to the buffer.  A value with a
 * CR, LF or NUL inside is dropped: ETag and Last-Modified go back out as
 * request headers (conditional), where a CR would split the header.
 */
static void
header_value(const char *v, size_t vl, char *out, size_t len)
{
	while (vl > 0 && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
	    v[vl - 1] == ' '))
		vl--;
	if (memchr(v, '\r', vl) != NULL || memchr(v, '\n', vl) != NULL ||
	    memchr(v, '\0', vl) != NULL)
		vl = 0;
	if (vl >= len)
		vl = len - 1;
	memcpy(out, v, vl);
	out[vl] = '\0';
}

/*
 * libcurl drops Authorization and Cookie when a redirect leaves the
 * origin, but carries every other header along: the first secret header
 * it would carry (Proxy-Authorization, secret-headers), or NULL.
 */
static const char *
fetch_carried_secret(const struct jobdef *d, int *namelen)
{
	const char	*h;
	size_t		 i, n;

	for (i = 0; i < d->headers.n; i++) {
		h = d->headers.v[i];
		n = strcspn(h, ":");
		if (!parse_header_secret(d, h) || (n == 13 &&
		    strncasecmp(h, "Authorization", n) == 0) || (n == 6 &&
		    strncasecmp(h, "Cookie", n) == 0))
			continue;
		*namelen = (int)n;
		return (h);
	}
	return (NULL);
}

/* Would following this 3xx Location carry a secret to another origin? */
static int
fetch_redirect_refused(struct xfer *x, const char *v, size_t vl)
{
	struct fhandle	*fh;
	char		 loc[1024], a[300], b[300];
	char		*cur = NULL;
	int		 n;

	if (x->status < 300 || x->status > 399 || x->def->max_redirs == 0 ||
	    fetch_carried_secret(x->def, &n) == NULL)
		return (0);
	header_value(v, vl, loc, sizeof(loc));
	if (strstr(loc, "://") == NULL && strncmp(loc, "//", 2) != 0)
		return (0);		/* a path: the same origin */
	fh = x->easy;
	if (fh == NULL || curl_easy_getinfo(fh->e, CURLINFO_EFFECTIVE_URL,
	    &cur) != CURLE_OK || cur == NULL)
		return (1);
	return (util_url_origin(cur, a, sizeof(a)) == -1 ||
	    util_url_origin(loc, b, sizeof(b)) == -1 || strcmp(a, b) != 0);
}

/*
 * Keep Retry-After, ETag and Last-Modified of the final response (reset at
 * each status line); stop before a redirect that would carry a secret
 * header to another origin.  Header bytes over all responses (1xx,
 * redirects) are capped: an endless head fails with too-large, whatever
 * curl's own limit is.  Not
 * static: tests/fuzz/fuzz_headers.c calls it.
 */
size_t
fetch_header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n, i;

	if ((x->header_bytes += len) > MAX_HEADER_BYTES)
		return (0);	/* CURLE_WRITE_ERROR, see fetch_fill() */
	switch (len > 0 ? p[0] : '\0') {	/* most lines are none of these */
	case 'H': case 'R': case 'r': case 'E': case 'e': case 'L': case 'l':
		break;
	default:
		return (len);
	}
	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		x->retry_after[0] = x->etag[0] = x->last_modified[0] = '\0';
		for (i = 5; i < len && p[i] != ' '; i++)
			;
		for (x->status = 0, i++; i < len && i < 13 &&
		    p[i] >= '0' && p[i] <= '9'; i++)
			x->status = x->status * 10 + (p[i] - '0');
	} else if (len > 9 && strncasecmp(p, "Location:", 9) == 0 &&
	    fetch_redirect_refused(x, p + 9, len - 9)) {
		x->refused = 1;
		return (0);
	} else if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		header_value(p + 12, len - 12, x->retry_after,
		    sizeof(x->retry_after));
	else if (len > 5 && strncasecmp(p, "ETag:", 5) == 0)
		header_value(p + 5, len - 5, x->etag, sizeof(x->etag));
	else if (len > 14 && strncasecmp(p, "Last-Modified:", 14) == 0)
		header_value(p + 14, len - 14, x->last_modified,
		    sizeof(x->last_modified));
	return (len);
}

/* curl's header callback: its argument is the handle. */
static size_t
fetch_header_fh(char *p, size_t size, size_t n, void *arg)
{
	struct fhandle	*fh = arg;

	fh->last_rx = F.now;
	return (fetch_header_cb(p, size, n, fh->x));
}

/* Progress, for transfers with a request body: bytes going out count. */
static int
fetch_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct fhandle	*fh = arg;

	if (ulnow != fh->ul_seen) {
		fh->ul_seen = ulnow;
		fh->last_rx = F.now;
	}
	return (0);
}

static int
conditional_header(struct curl_slist **hdrs, const char *name,
    const char *value)
{
	struct curl_slist	*l;
	char			 line[256];

	if (value == NULL || *value == '\0')
		return (0);
	snprintf(line, sizeof(line), "%s: %s", name, value);
	if ((l = curl_slist_append(*hdrs, line)) == NULL)
		return (-1);
	*hdrs = l;
	return (0);
}

/* Is the header line "Name:..." (or libcurl's "Name;" for empty)? */
static int
header_is(const char *line, const char *name)
{
	size_t	 n = strlen(name);

	return (strncasecmp(line, name, n) == 0 &&
	    (line[n] == ':' || line[n] == ';'));
}

/* Add a line to the handle's base header list. */
static int
base_add(struct fhandle *fh, const char *line)
{
	struct curl_slist	*l;

	if ((l = curl_slist_append(fh->base, line)) == NULL)
		return (-1);
	fh->base = l;
	return (0);
}

/* Could this job's requests go through a proxy (CONNECT)? */
static int
fetch_proxied(const struct jobdef *d)
{
	if (d->proxy != NULL)
		return (d->proxy[0] != '\0');
	return (G.proxy_env);
}

/*
 * The options that come from the job definition (and the user agent):
 * set when a handle is new or was last used for another definition.
 *
 * The User-Agent and Accept-Encoding headers go into the handle's base
 * header list, after the job's own headers (which win, as they would over
 * libcurl's): given CURLOPT_USERAGENT or CURLOPT_ACCEPT_ENCODING, libcurl
 * formats the header again for every request.  CURLOPT_ACCEPT_ENCODING
 * stays set, so that libcurl decodes what it announced; CURLOPT_USERAGENT
 * only where a proxy may be used, for the CONNECT request.
 */
static int
fetch_setup_def(struct fhandle *fh, const struct xfer *x)
{
	const struct jobdef	*d = x->def;
	CURL			*e = fh->e;
	size_t			 i;
	int			 ae = d->compressed && G.ae != NULL;
	int			 ua = x->user_agent != NULL;
	char			 line[512];

	curl_slist_free_all(fh->base);
	fh->base = NULL;
	for (i = 0; i < d->headers.n; i++) {
		if (header_is(d->headers.v[i], "Accept-Encoding"))
			ae = 0;
		if (header_is(d->headers.v[i], "User-Agent"))
			ua = 0;
		if (base_add(fh, d->headers.v[i]) == -1)
			return (-1);
	}
	if (ua && (size_t)snprintf(line, sizeof(line), "User-Agent: %s",
	    x->user_agent) < sizeof(line) && base_add(fh, line) == -1)
		return (-1);
	if (ae && base_add(fh, G.ae) == -1)
		return (-1);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fetch_header_fh);
	curl_easy_setopt(e, CURLOPT_PRIVATE, fh);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, fh->err);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, fh);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, fh);
	fh->hdrs_set = NULL;
	fh->pipewait = -1;
	if (x->user_agent != NULL && (fetch_proxied(d) ||
	    strlen(x->user_agent) >= sizeof(line) - 12))
		curl_easy_setopt(e, CURLOPT_USERAGENT, x->user_agent);
	if (strcmp(d->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(d->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, d->method);
	/* timeout and stall-timeout are fetchd's own: see fetch_sweep_ev() */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(d->connect_timeout / USEC_PER_MSEC));
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, fetch_prereq_cb);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, fh);
	if (x->reqbody != NULL) {
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION,
		    fetch_progress_cb);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, fh);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)d->max_body);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)d->max_redirs);
	if (d->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, d->ca_file);
	if (d->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (d->proxy != NULL)
		curl_easy_setopt(e, CURLOPT_PROXY, d->proxy);
	if (d->compressed)
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, d->http2 ?
	    CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
	return (0);
}

/*
 * The options of this transfer: its URL, its header list, its request
 * body (where its data goes is the handle, see struct fhandle).  The
 * header list is the handle's base list, or with this URL's validators a
 * copy of it that the transfer owns; it is set again whenever it is not
 * the base list already set on the handle, so a validator never carries
 * over to the next transfer on the handle.
 */
static int
fetch_setup_xfer(struct fhandle *fh, struct xfer *x)
{
	CURL			*e = fh->e;
	struct curl_slist	*hdrs = NULL, *l, *b;
	long			 pw;

	fh->x = x;
	fh->err[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	if (x->if_none_match != NULL || x->if_modified_since != NULL) {
		for (b = fh->base; b != NULL; b = b->next) {
			if ((l = curl_slist_append(hdrs, b->data)) == NULL)
				goto fail;
			hdrs = l;
		}
		if (conditional_header(&hdrs, "If-None-Match",
		    x->if_none_match) == -1 || conditional_header(&hdrs,
		    "If-Modified-Since", x->if_modified_since) == -1)
			goto fail;
	}
	x->headers = hdrs;
	if (hdrs != NULL || fh->hdrs_set != fh->base) {
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs != NULL ? hdrs :
		    fh->base);
		fh->hdrs_set = hdrs != NULL ? hdrs : fh->base;
	}
	if (x->reqbody != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->reqbody_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->reqbody);
	}
	/*
	 * Wait for a connection that may multiplex only where HTTP/2 is
	 * possible (https with ALPN): for plain HTTP/1.1 it would delay the
	 * first wave by a round trip (STYLE pitfall 16).
	 */
	if (x->def->http2) {
		pw = strncasecmp(x->url, "https:", 6) == 0 ? 1L : 0L;
		if (pw != fh->pipewait)
			curl_easy_setopt(e, CURLOPT_PIPEWAIT, pw);
		fh->pipewait = pw;
	}
	return (0);
fail:
	curl_slist_free_all(hdrs);
	return (-1);
}

/*
 * Which options a transfer needs beyond its own: those of its job
 * definition (x->shape, 0 for "do not reuse"), the user agent, and
 * whether a body is sent (POSTFIELDS turns a request into a POST).
 */
static uint64_t
fetch_key(const struct xfer *x)
{
	const char	*ua = x->user_agent != NULL ? x->user_agent : "";

	if (x->shape == 0)
		return (0);
	if (F.ua == NULL || strcmp(F.ua, ua) != 0) {
		free(F.ua);
		F.ua = xstrdup(ua);
		F.ua_epoch++;
	}
	return (x->shape << 21 | (F.ua_epoch & 0xfffff) << 1 |
	    (x->reqbody != NULL));
}

static void
fetch_handle_free(struct fhandle *fh)
{
	curl_easy_cleanup(fh->e);
	curl_slist_free_all(fh->base);
	free(fh);
}

/*
 * A handle for a transfer that needs key: preferably an idle one that has
 * those options already (*same = 1); else one reset, or a new one.
 */
static struct fhandle *
fetch_handle_get(uint64_t key, int *same)
{
	struct fhandle	*fh;
	unsigned	 i;

	*same = 0;
	if (F.npool == 0) {
		fh = xcalloc(1, sizeof(*fh));
		if ((fh->e = curl_easy_init()) == NULL) {
			free(fh);
			return (NULL);
		}
		return (fh);
	}
	for (i = F.npool; key != 0 && i > 0 && F.npool - i < POOL_SCAN; i--)
		if (F.pool[i - 1]->key == key) {
			fh = F.pool[i - 1];
			F.pool[i - 1] = F.pool[F.npool - 1];
			F.npool--;
			*same = 1;
			return (fh);
		}
	fh = F.pool[--F.npool];
	curl_easy_reset(fh->e);
	fh->key = 0;
	return (fh);
}

/* Start one transfer on this thread's shard: 0, or -1 with *cause. */
static int
fetch_start_here(struct xfer *x, char **cause)
{
	struct fhandle	*fh;
	CURLMcode	 rc;
	uint64_t	 key = fetch_key(x);
	int		 same;

	if ((fh = fetch_handle_get(key, &same)) == NULL) {
		*cause = xstrdup("curl_easy_init failed");
		return (-1);
	}
	if ((!same && fetch_setup_def(fh, x) == -1) ||
	    fetch_setup_xfer(fh, x) == -1) {
		fetch_handle_free(fh);
		*cause = xstrdup("out of memory building headers");
		return (-1);
	}
	fh->key = key;
	x->easy = fh;
	if ((rc = curl_multi_add_handle(F.multi, fh->e)) != CURLM_OK) {
		xasprintf(cause, "curl_multi_add_handle: %s",
		    curl_multi_strerror(rc));
		fetch_cleanup(x);
		return (-1);
	}
	live_add(fh, x->def);
	return (0);
}

/* The queues: a transfer is on at most one, linked through x->qprev/qnext. */
static void
xl_push(struct xlist *l, struct xfer *x)
{
	x->qnext = NULL;
	x->qprev = l->tail;
	if (l->tail != NULL)
		l->tail->qnext = x;
	else
		l->head = x;
	l->tail = x;
}

static void
xl_remove(struct xlist *l, struct xfer *x)
{
	if (x->qprev != NULL)
		x->qprev->qnext = x->qnext;
	else
		l->head = x->qnext;
	if (x->qnext != NULL)
		x->qnext->qprev = x->qprev;
	else
		l->tail = x->qprev;
	x->qprev = x->qnext = NULL;
}

/*
 * The shard for a transfer: the one with the fewest transfers of its
 * origin, looking from the origin's home shard on (x->origin_hash), so
 * that on a tie the origin stays home.  Always taking the
 * least loaded, shard i holds at most ceil((per-host - i') / shards) of
 * the origin's transfers (i' its place after home): as many connections
 * in all as per-host allows, and one origin fetched one at a time keeps
 * one connection.  Many origins spread over the shards by their homes.
 * Without an origin (load NULL): the fewest transfers in all.
 */
static struct fshard *
fetch_pick(const unsigned *load, uint32_t hash)
{
	unsigned	 i, k, best, home;

	if (nshards == 1)
		return (&shards[0]);
	if (load == NULL) {
		for (best = 0, i = 1; i < nshards; i++)
			if (shards[i].n < shards[best].n)
				best = i;
		return (&shards[best]);
	}
	home = hash % nshards;
	for (best = home, k = 1; k < nshards; k++) {
		i = (home + k) % nshards;
		if (load[i] < load[best])
			best = i;
	}
	return (&shards[best]);
}

/* The loop thread's count of a transfer it gave shard s (+1 or -1). */
static void
fetch_count(struct fshard *s, struct xfer *x, int d)
{
	s->n += d;
	if (x->load != NULL)
		x->load[s->id] += d;
}

/* fetch.c's copy of a user agent, kept until fetch_free(). */
static const char *
fetch_ua(const char *ua)
{
	struct fua	*u;
	size_t		 n;

	for (u = G.uas; u != NULL; u = u->next)
		if (strcmp(u->s, ua) == 0)
			return (u->s);
	n = strlen(ua) + 1;
	u = xmalloc(sizeof(*u) + n);
	memcpy(u->s, ua, n);
	u->next = G.uas;
	G.uas = u;
	return (u->s);
}

/*
 * Start one transfer: 0, or -1 with *cause.  On a fetch thread's shard
 * it is queued and started there; a failure to start then comes back
 * through done() as class other.
 */
int
fetch_start(struct xfer *x, char **cause)
{
	struct fshard	*s;

	/*
	 * A transfer that may multiplex (HTTP/2 over TLS) stays on its
	 * origin's home shard: one multi handle, one connection, as with a
	 * single loop.  The others spread (fetch_pick()).
	 */
	if (x->def->http2 && nshards > 1 && x->load != NULL &&
	    strncasecmp(x->url, "https:", 6) == 0)
		s = &shards[x->origin_hash % nshards];
	else
		s = fetch_pick(x->load, x->origin_hash);

	x->status = 0;
	x->fclass = FC_NONE;
	x->detail[0] = x->retry_after[0] = '\0';
	x->etag[0] = x->last_modified[0] = '\0';
	x->bytes = x->header_bytes = 0;
	x->refused = 0;
	x->t_dns = x->t_connect = x->t_tls = x->t_ttfb = x->t_total = 0;
	x->headers = NULL;
	x->easy = NULL;
	x->start_failed = 0;
	x->shard = s->id;
	if (x->user_agent != NULL)
		x->user_agent = fetch_ua(x->user_agent);
	if (s->id == 0) {
		if (fetch_start_here(x, cause) == -1)
			return (-1);
		x->fstate = X_LOCAL;
		fetch_count(s, x, 1);
		return (0);
	}
	pthread_mutex_lock(&s->lock);
	x->fstate = X_QUEUED;
	xl_push(&s->inbox, x);
	pthread_mutex_unlock(&s->lock);
	fetch_count(s, x, 1);
	ev_async_send(s->loop, &s->wake);
	return (0);
}

/*
 * A transfer finished on this thread's shard.  On the loop thread done()
 * runs now; a fetch thread returns the handle to its own pool and posts
 * the transfer to the loop thread, unless the loop thread is waiting to
 * cancel it (then done() is not called, as fetch_cancel() promises).
 */
static void
fetch_finish(struct xfer *x)
{
	struct fshard	*s = Fp;
	int		 post;

	if (s->id == 0) {
		x->fstate = X_IDLE;
		fetch_count(s, x, -1);
		x->done(x);
		return;
	}
	fetch_cleanup(x);
	pthread_mutex_lock(&s->lock);
	if ((post = x->fstate != X_CANCELLING)) {
		x->fstate = X_POSTED;
		xl_push(&s->posted, x);
	} else {
		xl_remove(&s->cancels, x);
		x->fstate = X_IDLE;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	if (post)
		ev_async_send(G.loop, &G.posted);
}

/* Fetch thread: start what was queued, stop what is to be cancelled. */
static void
fetch_wake_ev(struct ev_loop *loop, ev_async *w, int revents)
{
	struct fshard	*s = Fp;
	struct xfer	*x;
	struct fhandle	*fh;
	char		*cause;

	pthread_mutex_lock(&s->lock);
	if (s->stop) {
		pthread_mutex_unlock(&s->lock);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	while ((x = s->inbox.head) != NULL) {
		xl_remove(&s->inbox, x);
		x->fstate = X_RUNNING;
		pthread_mutex_unlock(&s->lock);
		cause = NULL;
		if (fetch_start_here(x, &cause) == -1) {
			x->start_failed = 1;
			x->fclass = FC_OTHER;
			snprintf(x->detail, sizeof(x->detail), "%s", cause);
			free(cause);
			fetch_finish(x);
		}
		pthread_mutex_lock(&s->lock);
	}
	while ((x = s->cancels.head) != NULL) {
		xl_remove(&s->cancels, x);
		pthread_mutex_unlock(&s->lock);
		if ((fh = x->easy) != NULL)
			curl_multi_remove_handle(F.multi, fh->e);
		fetch_cleanup(x);
		pthread_mutex_lock(&s->lock);
		x->fstate = X_IDLE;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Loop thread: run done() of what the fetch threads finished, one at a
 * time (a done() may cancel another posted transfer, which then leaves
 * the queue), at most max; the shard that comes first turns.  With
 * yield, after each BUSY_CHECK of them the yield hook is asked whether a
 * control request waits, as between socket events (fetch_busy()).
 */
static unsigned
fetch_take_posted(unsigned max, int yield)
{
	struct fshard	*s;
	struct xfer	*x;
	unsigned	 i, k, n = 0;
	ev_tstamp	 mark = yield ? ev_time() : 0, now;

	if (nshards < 2)
		return (0);
	G.first = G.first % (nshards - 1) + 1;
	for (k = 0; k < nshards - 1; k++) {
		i = (G.first - 1 + k) % (nshards - 1) + 1;
		s = &shards[i];
		while (n < max) {
			pthread_mutex_lock(&s->lock);
			if ((x = s->posted.head) != NULL) {
				xl_remove(&s->posted, x);
				x->fstate = X_IDLE;
			}
			pthread_mutex_unlock(&s->lock);
			if (x == NULL)
				break;
			fetch_count(s, x, -1);
			n++;
			x->done(x);
			if (!yield || G.yield == NULL || n % BUSY_EVERY != 0)
				continue;
			if ((now = ev_time()) - mark < BUSY_CHECK)
				continue;
			mark = now;
			if (G.yield())
				return (max);	/* as if full: the rest later */
		}
	}
	return (n);
}

/*
 * The posted transfers, at most POSTED_MAX per call so control gets its
 * turn; then admission.
 */
#define POSTED_MAX	256
static void
fetch_posted_ev(struct ev_loop *loop, ev_async *w, int revents)
{
	unsigned	 n = fetch_take_posted(POSTED_MAX, 1);

	if (n == POSTED_MAX)
		ev_async_send(loop, w);		/* more may wait: next round */
	if (n > 0 && G.admit != NULL)
		G.admit();
}

/*
 * Run done() of every transfer a fetch thread has finished: before a run
 * stops, so that what was fetched counts as on the loop thread's shard
 * (there done() runs as soon as libcurl reports the end).  No admission.
 */
void
fetch_flush(void)
{
	(void)fetch_take_posted(UINT_MAX, 0);	/* re-entered: takes the rest */
}

/*
 * Return a finished or cancelled transfer's handle to the pool, with its
 * options: the next transfer of the same key sets only its own.  (A fetch
 * thread's transfer has done so before it was posted: easy is NULL.)
 */
void
fetch_cleanup(struct xfer *x)
{
	struct fhandle	*fh = x->easy;

	if (fh == NULL)
		return;
	live_remove(fh);
	x->easy = NULL;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	if (F.npool < POOL_MAX)
		F.pool[F.npool++] = fh;
	else
		fetch_handle_free(fh);
}

/*
 * Ask for a transfer to stop.  On the loop thread's shard, or while queued
 * either way, it is done at once; a fetch thread is asked, and
 * fetch_cancel() waits for it: cancelling many, begin each first.
 */
void
fetch_cancel_begin(struct xfer *x)
{
	struct fshard	*s;

	if (x->shard == 0 || x->shard >= nshards)
		return;
	s = &shards[x->shard];
	pthread_mutex_lock(&s->lock);
	switch (x->fstate) {
	case X_QUEUED:
		xl_remove(&s->inbox, x);
		x->fstate = X_IDLE;
		fetch_count(s, x, -1);
		break;
	case X_POSTED:
		xl_remove(&s->posted, x);
		x->fstate = X_IDLE;
		fetch_count(s, x, -1);
		break;
	case X_RUNNING:
		x->fstate = X_CANCELLING;
		xl_push(&s->cancels, x);
		fetch_count(s, x, -1);
		ev_async_send(s->loop, &s->wake);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Stop a transfer in flight; its done() will not be called. */
void
fetch_cancel(struct xfer *x)
{
	struct fshard	*s;
	struct fhandle	*fh;

	if (x->shard == 0 || x->shard >= nshards) {
		fh = x->easy;	/* (a fetch thread's to write otherwise) */
		if (x->fstate == X_LOCAL) {
			x->fstate = X_IDLE;
			fetch_count(Fp, x, -1);
		}
		if (fh == NULL)
			return;
		curl_multi_remove_handle(F.multi, fh->e);
		fetch_cleanup(x);
		return;
	}
	fetch_cancel_begin(x);
	s = &shards[x->shard];
	pthread_mutex_lock(&s->lock);
	while (x->fstate == X_CANCELLING)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void
fetch_set_admit(void (*admit)(void))
{
	G.admit = admit;
}

void
fetch_set_yield(int (*yield)(void))
{
	G.yield = yield;
}

unsigned
fetch_loops(void)
{
	return (nshards);
}

const char *
fetch_version(void)
{
	return (curl_version_info(CURLVERSION_NOW)->version);
}

/* How many shards: fetch-threads, or auto: the CPUs we may use, up to 4. */
static unsigned
fetch_nshards(const struct daemonconf *dc)
{
	cpu_set_t	 set;
	int		 n;

	if (dc->fetch_threads > 0)
		return (dc->fetch_threads);
	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return (1);
	n = CPU_COUNT(&set);
	return (n < 1 ? 1 : n > 4 ? 4 : (unsigned)n);
}

/* One shard's multi handle and watchers, on its loop. */
static int
shard_init(struct fshard *s, unsigned id, struct ev_loop *loop,
    const struct daemonconf *dc, char **cause)
{
	struct timespec	 res;

	s->id = id;
	s->loop = loop;
	if ((s->multi = curl_multi_init()) == NULL) {
		*cause = xstrdup("curl_multi_init failed");
		return (-1);
	}
	ev_timer_init(&s->timer, fetch_timer_ev, 0., 0.);
	ev_timer_init(&s->sweep, fetch_sweep_ev, 0., 0.);
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0)
		s->coarse_res = ts_sec(&res);
	ev_set_priority(&s->sweep, EV_MINPRI);	/* after this round's sockets */
	TAILQ_INIT(&s->live);
	TAILQ_INIT(&s->deferred);
	ev_check_init(&s->resume, fetch_resume_ev);
	ev_set_priority(&s->resume, 1);	/* control is EV_MAXPRI */
	ev_idle_init(&s->nowait, fetch_nowait_ev);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, fetch_sock_cb);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb);
	/*
	 * The connections a shard keeps: libcurl closes one as soon as its
	 * cache (in use included) holds more, and a shard may hold up to all
	 * of max-connections (an origin's share is bounded, a shard's not).
	 */
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS,
	    (long)dc->max_connections);
	curl_multi_setopt(s->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	if (id == 0)
		return (0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	ev_async_init(&s->wake, fetch_wake_ev);
	ev_async_start(loop, &s->wake);
	return (0);
}

/* A fetch thread: its shard's loop, until fetch_free() stops it. */
static void *
shard_main(void *arg)
{
	char	 name[16];

	Fp = arg;
	snprintf(name, sizeof(name), "fetch/%u", Fp->id);
	(void)pthread_setname_np(pthread_self(), name);	/* top -H, ps -L */
	ev_run(Fp->loop, 0);
	return (NULL);
}

/* Release a shard's handles and multi (its thread, if any, has ended). */
static void
shard_free(struct fshard *s)
{
	struct fshard	*self = Fp;

	Fp = s;		/* curl_multi_cleanup() calls the socket callback */
	while (F.npool > 0)
		fetch_handle_free(F.pool[--F.npool]);
	free(F.ua);
	F.ua = NULL;
	if (F.multi != NULL)
		curl_multi_cleanup(F.multi);
	F.multi = NULL;
	while (F.nsock_spare > 0) {
		KEEP_UNPOISON(F.sock_spare[F.nsock_spare - 1],
		    sizeof(struct fsock));
		free(F.sock_spare[--F.nsock_spare]);
	}
	ev_timer_stop(F.loop, &F.timer);
	ev_timer_stop(F.loop, &F.sweep);
	ev_check_stop(F.loop, &F.resume);
	ev_idle_stop(F.loop, &F.nowait);
	if (s->id != 0) {
		ev_async_stop(F.loop, &F.wake);
		ev_loop_destroy(F.loop);
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
	}
	Fp = self;
}

/*
 * Create the shards and start the fetch threads; refuse a libcurl that
 * would block the loop.  The threads block every signal: they go to the
 * loop thread.
 */
int
fetch_init(struct ev_loop *loop, const struct daemonconf *dc, char **cause)
{
	curl_version_info_data	*vi;
	struct ev_loop		*l;
	sigset_t		 all, old;
	unsigned		 i;
	int			 rc, probe[4];

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*cause = xstrdup("curl_global_init failed");
		return (-1);
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_ASYNCHDNS)) {
		xasprintf(cause, "libcurl %s resolves names synchronously "
		    "(no AsynchDNS), which would block the event loop",
		    vi->version);
		curl_global_cleanup();
		return (-1);
	}
	G.loop = loop;
	G.proxy_env = getenv("http_proxy") != NULL ||
	    getenv("https_proxy") != NULL || getenv("HTTPS_PROXY") != NULL ||
	    getenv("all_proxy") != NULL || getenv("ALL_PROXY") != NULL;
	if (vi->features & CURL_VERSION_LIBZ)	/* libcurl's order */
		xasprintf(&G.ae, "Accept-Encoding: deflate, gzip%s%s",
		    vi->features & CURL_VERSION_BROTLI ? ", br" : "",
		    vi->features & CURL_VERSION_ZSTD ? ", zstd" : "");
	nshards = fetch_nshards(dc);
	shards = xcalloc(nshards, sizeof(*shards));
	Fp = &shards[0];
	for (i = 0; i < nshards; i++) {
		/*
		 * A fetch thread's shard takes four descriptors: its loop's
		 * epoll, the socketpair of its multi handle (libcurl's
		 * wakeup) and the eventfd of its ev_async, which libev
		 * aborts without: all four are tried first.
		 */
		l = NULL;
		if (i > 0 && pipe(probe) == 0) {
			if (pipe(probe + 2) == 0) {
				close(probe[2]);
				close(probe[3]);
				close(probe[0]);
				close(probe[1]);
				l = ev_loop_new(EVFLAG_AUTO);
			} else {
				rc = errno;
				close(probe[0]);
				close(probe[1]);
				errno = rc;
			}
		} else if (i == 0)
			l = loop;
		if (l == NULL) {
			xasprintf(cause, "cannot create an event loop for a "
			    "fetch thread (fetch-threads = %u): %s", nshards,
			    strerror(errno));
			nshards = i;
			fetch_free();
			return (-1);
		}
		if (shard_init(&shards[i], i, l, dc, cause) == -1) {
			if (i > 0)
				ev_loop_destroy(l);
			nshards = i;
			fetch_free();
			return (-1);
		}
	}
	ev_async_init(&G.posted, fetch_posted_ev);
	ev_async_start(loop, &G.posted);
	ev_unref(loop);		/* the watcher alone keeps no loop alive */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < nshards; i++)
		if ((rc = pthread_create(&shards[i].thread, NULL, shard_main,
		    &shards[i])) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			xasprintf(cause, "cannot start a fetch thread: %s",
			    strerror(rc));
			for (rc = (int)i; rc < (int)nshards; rc++)
				shard_free(&shards[rc]);
			nshards = i;
			fetch_free();
			return (-1);
		} else
			shards[i].started = 1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (0);
}

/*
 * Teardown order matters (STYLE pitfall 9): the owners have removed their
 * transfers; the fetch threads stop and are joined; curl_multi_cleanup()
 * may still call the socket callback, so it runs while its loop is alive;
 * the global cleanup comes last.
 */
void
fetch_free(void)
{
	struct fshard	*s;
	struct fua	*u;
	unsigned	 i;

	if (shards == NULL)
		return;
	for (i = 1; i < nshards; i++) {
		s = &shards[i];
		if (!s->started)
			continue;
		pthread_mutex_lock(&s->lock);
		s->stop = 1;
		pthread_mutex_unlock(&s->lock);
		ev_async_send(s->loop, &s->wake);
		pthread_join(s->thread, NULL);
	}
	for (i = nshards; i > 0; i--)
		shard_free(&shards[i - 1]);
	if (ev_is_active(&G.posted)) {
		ev_ref(G.loop);
		ev_async_stop(G.loop, &G.posted);
	}
	free(G.ae);
	G.ae = NULL;
	while ((u = G.uas) != NULL) {
		G.uas = u->next;
		free(u);
	}
	free(shards);
	shards = NULL;
	nshards = 0;
	Fp = NULL;
	curl_global_cleanup();
}
