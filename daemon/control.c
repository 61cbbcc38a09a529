/*
 * control.c: owns the control socket and every client session on it: the
 * listening socket (made here, or passed by systemd), accepting, each
 * session's bounded input line buffer and output queue, the version check
 * at the edge (proto_parse_request), and the watch streams.  Commands
 * themselves live in control_cmd.c and reach a session only through the
 * session_* functions below.
 *
 * Nothing here blocks and nothing grows without bound (STYLE principles 10
 * to 12, after bgpd's control.c and tmux's proc.c).  Output is a queue of
 * chunks written when the socket is writable, with three marks: under
 * CONTROL_LOW_MARK long replies are produced in slices (the pump); over
 * CONTROL_HIGH_MARK the session's requests are no longer read; over
 * CONTROL_HARD_LIMIT the client is dropped.  A watching session gets
 * "started" and "finished" at once and coalesced "progress" snapshots from
 * a 250 ms timer, skipped while it is behind.  A client whose output has
 * not moved for CONTROL_STALL seconds (a watcher that never reads, whose
 * queue stays under the hard limit only because progress coalesces) is
 * dropped too.  At max-clients, a new connection takes the place of the
 * session idle the longest (no request for CONTROL_IDLE_GRACE seconds,
 * nothing being sent, not watching); with none, accepting stops and the
 * connection waits in the backlog until a session leaves or goes idle.
 * A session is never freed while a callback may still hold it: closing
 * marks it dead, releases its fd and buffers, and a zero timer frees it on
 * the next loop iteration.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fetchd.h"
#include "proto.h"

#define CONTROL_BACKLOG		128
#define CONTROL_LOW_MARK	(64 * 1024)
#define CONTROL_HIGH_MARK	(1024 * 1024)
#define CONTROL_HARD_LIMIT	(16 * 1024 * 1024)
#define CONTROL_CHUNK		(16 * 1024)	/* small lines are packed */
#define CONTROL_IOV		64		/* chunks per sendmsg() */
#define CONTROL_ACCEPTS		64		/* accepts per callback */
#define CONTROL_PAUSE		1.0		/* s without accept on EMFILE */
#define CONTROL_ROOM_CHECK	0.25		/* s between looks when full */
#define CONTROL_IDLE_GRACE	1.0		/* s idle before it may be closed */
#define CONTROL_STALL		30.0		/* s of output not moving: drop */
#define CONTROL_SWEEP		5.0		/* s between stall checks */
#define CONTROL_EVICT_LOG	60.0		/* s between notices of each kind */
#define CONTROL_PERIOD		0.25		/* s between progress events */
#define CONTROL_SEEN		32		/* runs a watcher remembers */
#define CONTROL_MAX_CLIENTS	64		/* if the daemon file says 0 */

struct chunk {
	TAILQ_ENTRY(chunk)	 entry;
	char			*data;
	size_t			 off;		/* bytes already sent */
	size_t			 len;		/* bytes filled */
	size_t			 cap;		/* 0: a whole line, no more */
};
TAILQ_HEAD(chunkq, chunk);

/* The last version of a run a watcher was sent. */
struct seen {
	char		*job;			/* NULL: free slot */
	unsigned	 run;
	uint64_t	 version;
};

struct session {
	TAILQ_ENTRY(session)	 entry;
	unsigned		 id;		/* for log messages */
	int			 fd;
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
	ev_io			 rio;
	ev_io			 wio;

	struct linebuf		 lb;
	int			 more;		/* lb may hold a whole line */
	int			 eof;		/* the client stopped writing */
	int			 throttled;	/* output over the high mark */
	int			 dead;		/* closed, to be freed */
	ev_tstamp		 active;	/* last request or output progress */
	ev_tstamp		 wsince;	/* output last moved, or queued */

	struct chunkq		 outq;
	size_t			 queued;	/* bytes in outq */

	int			(*pump)(struct session *, void *);
	void			(*release)(void *);
	void			*pump_arg;
	int			 in_pump;

	int			 watching;
	char			*watch_job;	/* NULL: every job */
	unsigned		 watch_run;	/* 0: every run */
	int64_t			 watch_id;
	struct seen		*seen;		/* CONTROL_SEEN slots */
	unsigned		 seen_next;	/* next slot to reuse */
};
TAILQ_HEAD(sessionq, session);

static struct {
	struct ev_loop		*loop;
	int			 fd;
	char			*path;		/* ours to unlink, or NULL */
	dev_t			 dev;
	ino_t			 ino;
	unsigned		 max_clients;
	ev_io			 accept;
	ev_timer		 pause;		/* accept paused (EMFILE, full) */
	ev_timer		 sweep;		/* drops stalled sessions */
	ev_timer		 progress;	/* runs while anyone watches */
	ev_timer		 reap;		/* frees dead sessions */
	struct sessionq		 sessions;
	struct sessionq		 dead;
	unsigned		 nsessions;
	unsigned		 nwatchers;
	unsigned		 next_id;
	int			 changed;	/* a run made progress */
	int			 waiting;	/* accept stopped: full */
	ev_tstamp		 full_log;	/* next notice of being full */
	ev_tstamp		 pause_log;	/* next notice of EMFILE */
	unsigned		 evicted;	/* idle sessions closed, unlogged */
	ev_tstamp		 evict_log;	/* next notice of evictions */
} C = { .fd = -1 };

static void	session_close(struct session *, const char *);
static void	session_run(struct session *);

#define CONTROL_POLL	64		/* fds per poll() in control_pending() */

/*
 * Is a control request waiting: a connection to accept, or input on a
 * session?  One poll(2) that does not wait.  fetch.c asks this every few
 * milliseconds of a busy loop iteration, and ends the iteration early if
 * so: these watchers come first in the next one (EV_MAXPRI).
 */
int
control_pending(void)
{
	struct pollfd	 pfd[CONTROL_POLL];
	struct session	*s;
	nfds_t		 n = 0;

	if (C.fd != -1 && ev_is_active(&C.accept)) {
		pfd[n].fd = C.fd;
		pfd[n++].events = POLLIN;
	}
	TAILQ_FOREACH(s, &C.sessions, entry) {
		if (!ev_is_active(&s->rio))
			continue;
		if (n == CONTROL_POLL) {
			if (poll(pfd, n, 0) > 0)
				return (1);
			n = 0;
		}
		pfd[n].fd = s->fd;
		pfd[n++].events = POLLIN;
	}
	return (n > 0 && poll(pfd, n, 0) > 0);
}

/*
 * The output queue.
 */

static void
out_clear(struct session *s)
{
	struct chunk	*c;

	while ((c = TAILQ_FIRST(&s->outq)) != NULL) {
		TAILQ_REMOVE(&s->outq, c, entry);
		free(c->data);
		free(c);
	}
	s->queued = 0;
}

static struct chunk *
chunk_new(struct session *s, char *data, size_t cap)
{
	struct chunk	*c;

	c = xcalloc(1, sizeof(*c));
	c->data = data;
	c->cap = cap;
	TAILQ_INSERT_TAIL(&s->outq, c, entry);
	return (c);
}

/*
 * Queue len bytes of complete lines.  own is NULL, or data itself when it
 * is malloc'd and ours now.  Small lines are packed into shared chunks,
 * large ones queued as they are.  A client whose queue would go over the
 * hard limit is not reading: the session closes (one line alone may be
 * larger; the daemon built it, so its size is the daemon's to bound).
 */
static void
out_add(struct session *s, const char *data, size_t len, char *own)
{
	struct chunk	*c = TAILQ_LAST(&s->outq, chunkq);

	if (s->dead || len == 0)
		goto done;
	if (s->queued > 0 && s->queued + len > CONTROL_HARD_LIMIT) {
		log_notice("control: client %u (pid %ld) does not read its "
		    "replies: %zu bytes queued, limit %d MiB; closing the "
		    "connection", s->id, (long)s->pid, s->queued + len,
		    CONTROL_HARD_LIMIT / (1024 * 1024));
		session_close(s, "output over the hard limit");
		goto done;
	}
	if (s->queued == 0)
		s->wsince = ev_now(C.loop);
	if (c != NULL && c->cap > 0 && c->cap - c->len >= len) {
		memcpy(c->data + c->len, data, len);
		c->len += len;
	} else if (len < CONTROL_CHUNK / 2) {
		c = chunk_new(s, xmalloc(CONTROL_CHUNK), CONTROL_CHUNK);
		memcpy(c->data, data, len);
		c->len = len;
	} else {
		c = chunk_new(s, own != NULL ? own : xmalloc(len), 0);
		if (own == NULL)
			memcpy(c->data, data, len);
		c->len = len;
		own = NULL;
	}
	s->queued += len;
	if (s->queued > CONTROL_HIGH_MARK)
		s->throttled = 1;
	if (!ev_is_active(&s->wio))
		ev_io_start(C.loop, &s->wio);
done:
	free(own);
}

/* Drop n sent bytes from the front of the queue. */
static void
out_consume(struct session *s, size_t n)
{
	struct chunk	*c;
	size_t		 k;

	s->queued -= n;
	while (n > 0 && (c = TAILQ_FIRST(&s->outq)) != NULL) {
		k = c->len - c->off < n ? c->len - c->off : n;
		c->off += k;
		n -= k;
		if (c->off < c->len)
			break;
		TAILQ_REMOVE(&s->outq, c, entry);
		free(c->data);
		free(c);
	}
}

/* Write what the socket takes; -1 if the session was closed. */
static int
session_flush(struct session *s)
{
	struct iovec	 iov[CONTROL_IOV];
	struct msghdr	 msg;
	struct chunk	*c;
	ssize_t		 n;
	int		 i;

	while (!s->dead && s->queued > 0) {
		i = 0;
		TAILQ_FOREACH(c, &s->outq, entry) {
			if (i == CONTROL_IOV)
				break;
			iov[i].iov_base = c->data + c->off;
			iov[i++].iov_len = c->len - c->off;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)i;
		if ((n = sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)) ==
		    -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			log_debug("control: client %u: write: %s", s->id,
			    strerror(errno));
			session_close(s, "write failed");
			return (-1);
		}
		if (n > 0)
			s->active = s->wsince = ev_now(C.loop);
		out_consume(s, (size_t)n);
	}
	return (s->dead ? -1 : 0);
}

/*
 * Session lifecycle.
 */

/* Store the peer's credentials; unknown ones can do nothing privileged. */
static void
session_peercred(struct session *s)
{
	struct ucred	 uc;
	socklen_t	 len = sizeof(uc);

	if (getsockopt(s->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		log_warn("control: client %u: SO_PEERCRED", s->id);
		s->uid = (uid_t)-1;
		s->gid = (gid_t)-1;
		s->pid = -1;
		return;
	}
	s->uid = uc.uid;
	s->gid = uc.gid;
	s->pid = uc.pid;
}

static void	read_cb(struct ev_loop *, ev_io *, int);
static void	write_cb(struct ev_loop *, ev_io *, int);

static struct session *
session_new(int fd)
{
	struct session	*s;

	s = xcalloc(1, sizeof(*s));
	s->id = ++C.next_id;
	s->fd = fd;
	s->active = s->wsince = ev_now(C.loop);
	session_peercred(s);
	linebuf_init(&s->lb, PROTO_MAX_REQUEST);
	TAILQ_INIT(&s->outq);
	ev_io_init(&s->rio, read_cb, fd, EV_READ);
	ev_io_init(&s->wio, write_cb, fd, EV_WRITE);
	/*
	 * Control traffic first: with hundreds of transfers ready in one
	 * loop pass, a status request must not wait behind them.
	 */
	ev_set_priority(&s->rio, EV_MAXPRI);
	ev_set_priority(&s->wio, EV_MAXPRI);
	s->rio.data = s->wio.data = s;
	TAILQ_INSERT_TAIL(&C.sessions, s, entry);
	if (C.nsessions++ == 0)
		ev_timer_again(C.loop, &C.sweep);
	ev_io_start(C.loop, &s->rio);
	log_debug("control: client %u connected (pid %ld, uid %ld, gid %ld)",
	    s->id, (long)s->pid, (long)s->uid, (long)s->gid);
	return (s);
}

/* Finish the pump: forget it first, so release() may do anything. */
static void
pump_end(struct session *s)
{
	void	(*release)(void *) = s->release;
	void	*arg = s->pump_arg;

	s->pump = NULL;
	s->release = NULL;
	s->pump_arg = NULL;
	if (release != NULL)
		release(arg);
}

static void
watch_end(struct session *s)
{
	unsigned	 i;

	if (!s->watching)
		return;
	for (i = 0; i < CONTROL_SEEN; i++)
		free(s->seen[i].job);
	free(s->seen);
	free(s->watch_job);
	s->seen = NULL;
	s->watch_job = NULL;
	s->watching = 0;
	if (--C.nwatchers == 0)
		ev_timer_stop(C.loop, &C.progress);
}

/*
 * Close a session: everything but the struct goes now; the struct is freed
 * by reap_cb, so callers up the stack may still look at s->dead.
 */
static void
session_close(struct session *s, const char *why)
{
	if (s->dead)
		return;
	s->dead = 1;
	log_debug("control: client %u closed: %s", s->id, why);
	ev_io_stop(C.loop, &s->rio);
	ev_io_stop(C.loop, &s->wio);
	close(s->fd);
	s->fd = -1;
	if (s->pump != NULL && !s->in_pump)
		pump_end(s);		/* else session_pump() does it */
	out_clear(s);
	linebuf_free(&s->lb);
	watch_end(s);
	TAILQ_REMOVE(&C.sessions, s, entry);
	if (--C.nsessions == 0)
		ev_timer_stop(C.loop, &C.sweep);
	TAILQ_INSERT_TAIL(&C.dead, s, entry);
	if (!ev_is_active(&C.reap))
		ev_timer_start(C.loop, &C.reap);
	if (C.nsessions < C.max_clients && C.waiting) {
		C.waiting = 0;			/* a waiting connection may come */
		ev_timer_stop(C.loop, &C.pause);
		ev_io_start(C.loop, &C.accept);
	}
}

/*
 * Every CONTROL_SWEEP seconds while there are sessions: drop watchers
 * whose output has not moved for CONTROL_STALL seconds (the hard limit
 * alone does not catch a watcher that never reads: its progress
 * coalesces, so its queue stays small).  Other clients with stalled
 * output are dropped only while connections wait for a slot: a long
 * `fetchctl results | less` holds a bounded buffer (the pump stops at the
 * low mark) and is cut off only when its slot is needed.
 */
static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session	*s, *next;
	ev_tstamp	 now = ev_now(loop);

	TAILQ_FOREACH_SAFE(s, &C.sessions, entry, next) {
		if (s->queued == 0 || now - s->wsince < CONTROL_STALL ||
		    (!s->watching && !C.waiting))
			continue;
		log_notice("control: client %u (pid %ld, uid %ld) has not "
		    "read its output for %.0fs (%zu bytes queued); closing "
		    "the connection", s->id, (long)s->pid, (long)s->uid,
		    now - s->wsince, s->queued);
		session_close(s, "output stalled");
	}
}

static void
reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&C.dead)) != NULL) {
		TAILQ_REMOVE(&C.dead, s, entry);
		free(s);
	}
}

/*
 * Requests.
 */

/* One request line: parse, check the envelope, dispatch. */
static void
session_request(struct session *s, const char *line, size_t len)
{
	struct json_object	*req;
	enum proto_err		 err;
	const char		*cmd;
	int64_t			 id;
	char			*msg;

	s->active = ev_now(C.loop);
	req = proto_parse_request(line, len, &id, &cmd, &err, &msg);
	if (req == NULL) {
		log_debug("control: client %u: %s: %s", s->id,
		    proto_err_names[err], msg);
		session_send(s, proto_reply_error(id, err, "%s", msg));
		free(msg);
		return;
	}
	log_debug("control: client %u: %s (id %" PRId64 ")", s->id, cmd, id);
	control_cmd_dispatch(s, req, id, cmd);
	json_object_put(req);
}

/* Handle the next buffered line if the session may; 0 if it did not. */
static int
session_process_one(struct session *s)
{
	char	*line;
	size_t	 len;

	if (s->dead || s->pump != NULL || s->watching || s->throttled ||
	    !s->more)
		return (0);
	switch (linebuf_next(&s->lb, &line, &len)) {
	case LB_NONE:
		s->more = 0;
		return (0);
	case LB_OVERSIZED:
		s->active = ev_now(C.loop);
		log_debug("control: client %u: request over %d bytes",
		    s->id, PROTO_MAX_REQUEST);
		session_send(s, proto_reply_error(0, PERR_TOO_LARGE,
		    "request larger than %d bytes", PROTO_MAX_REQUEST));
		break;
	case LB_LINE:
		session_request(s, line, len);
		break;
	}
	if (s->watching && !s->dead) {
		linebuf_free(&s->lb);	/* a stream now: input is ignored */
		s->more = 0;
	}
	return (1);
}

/*
 * Produce slices while the queue is under the low mark.  A pump that has
 * more but queued nothing is tried again on the next loop iteration.
 */
static void
session_pump(struct session *s)
{
	size_t	 before;
	int	 more;

	while (s->pump != NULL && s->queued < CONTROL_LOW_MARK) {
		before = s->queued;
		s->in_pump = 1;
		more = s->pump(s, s->pump_arg);
		s->in_pump = 0;
		if (!more || s->dead) {
			pump_end(s);
			break;
		}
		if (s->queued == before)
			break;
	}
}

/* Arm the watchers for what the session waits for, or close it. */
static void
session_update(struct session *s)
{
	int	 rd, wr;

	if (s->dead)
		return;
	if (s->eof && s->pump == NULL && s->queued == 0 &&
	    (s->watching || !s->more)) {
		session_close(s, "client finished");
		return;
	}
	rd = !s->eof && !s->throttled &&
	    (s->watching || (s->pump == NULL && !s->more));
	wr = s->queued > 0 || (s->pump != NULL &&
	    s->queued < CONTROL_LOW_MARK);
	if (rd && !ev_is_active(&s->rio))
		ev_io_start(C.loop, &s->rio);
	else if (!rd && ev_is_active(&s->rio))
		ev_io_stop(C.loop, &s->rio);
	if (wr && !ev_is_active(&s->wio))
		ev_io_start(C.loop, &s->wio);
	else if (!wr && ev_is_active(&s->wio))
		ev_io_stop(C.loop, &s->wio);
}

/* Pump and handle requests as far as the marks allow, then re-arm. */
static void
session_run(struct session *s)
{
	for (;;) {
		session_pump(s);
		if (!session_process_one(s))
			break;
	}
	session_update(s);
}

/* The client shut down its side: a last line needs no newline. */
static void
session_eof(struct session *s)
{
	size_t	 room;
	char	*p;

	s->eof = 1;
	if (s->watching || s->lb.discarding || s->lb.len == s->lb.off)
		return;
	p = linebuf_space(&s->lb, &room);
	*p = '\n';
	linebuf_commit(&s->lb, 1);
	s->more = 1;
}

/* Read once.  A read that brought no newline cannot complete a line. */
static void
session_read(struct session *s)
{
	char	 scratch[4096], *p;
	size_t	 room;
	ssize_t	 n;

	if (s->watching) {
		p = scratch;
		room = sizeof(scratch);
	} else
		p = linebuf_space(&s->lb, &room);
	if ((n = read(s->fd, p, room)) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("control: client %u: read: %s", s->id,
		    strerror(errno));
		session_close(s, "read failed");
		return;
	}
	if (n == 0) {
		session_eof(s);
		return;
	}
	if (s->watching)
		return;
	linebuf_commit(&s->lb, (size_t)n);
	if (memchr(p, '\n', (size_t)n) != NULL || s->lb.discarding ||
	    s->lb.len - s->lb.off > s->lb.max)
		s->more = 1;
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session	*s = w->data;

	session_read(s);
	session_run(s);
	/* Answer now rather than a loop pass later, when the socket takes it. */
	if (!s->dead && s->queued > 0 && session_flush(s) == 0) {
		if (s->throttled && s->queued < CONTROL_LOW_MARK)
			s->throttled = 0;
		session_run(s);
	}
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session	*s = w->data;

	if (session_flush(s) == -1)
		return;
	if (s->throttled && s->queued < CONTROL_LOW_MARK)
		s->throttled = 0;
	session_run(s);
}

/*
 * The session API used by control_cmd.c.
 */

void
session_send(struct session *s, struct json_object *o)
{
	char	*line;
	size_t	 len;

	if (o == NULL)
		return;
	if (s->dead) {
		json_object_put(o);
		return;
	}
	line = proto_serialize_reply(o, &len);
	json_object_put(o);
	out_add(s, line, len, line);
}

void
session_send_raw(struct session *s, const char *data, size_t len)
{
	out_add(s, data, len, NULL);
}

size_t
session_queued(const struct session *s)
{
	return (s->queued);
}

/* Primary group, then the supplementary groups (SO_PEERGROUPS). */
int
session_in_group(const struct session *s, gid_t g)
{
	gid_t		 groups[256];
	socklen_t	 len = sizeof(groups);
	size_t		 i;

	if (s->gid == g)
		return (1);
	if (s->dead || getsockopt(s->fd, SOL_SOCKET, SO_PEERGROUPS, groups,
	    &len) == -1)
		return (0);
	for (i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == g)
			return (1);
	return (0);
}

uid_t
session_uid(const struct session *s)
{
	return (s->uid);
}

void
session_set_pump(struct session *s, int (*pump)(struct session *, void *),
    void (*release)(void *), void *arg)
{
	if (s->dead) {
		if (release != NULL)
			release(arg);
		return;
	}
	if (s->pump != NULL)
		fatalx("control: client %u: a second pump while one runs",
		    s->id);
	s->pump = pump;
	s->release = release;
	s->pump_arg = arg;
	if (!ev_is_active(&s->wio))	/* write_cb starts pumping */
		ev_io_start(C.loop, &s->wio);
}

/*
 * Watching.
 */

static int
watch_matches(const struct session *s, const struct run *r)
{
	if (s->watch_job != NULL && strcmp(s->watch_job, r->job->name) != 0)
		return (0);
	return (s->watch_run == 0 || s->watch_run == r->number);
}

static struct seen *
seen_find(struct session *s, const struct run *r)
{
	unsigned	 i;

	for (i = 0; i < CONTROL_SEEN; i++)
		if (s->seen[i].job != NULL && s->seen[i].run == r->number &&
		    strcmp(s->seen[i].job, r->job->name) == 0)
			return (&s->seen[i]);
	return (NULL);
}

/* Remember that s has r's current version; reuse a slot when full. */
static void
seen_set(struct session *s, const struct run *r)
{
	struct seen	*e;
	unsigned	 i;

	if ((e = seen_find(s, r)) == NULL) {
		for (i = 0; i < CONTROL_SEEN && s->seen[i].job != NULL; i++)
			;
		if (i == CONTROL_SEEN)
			i = s->seen_next++ % CONTROL_SEEN;
		e = &s->seen[i];
		free(e->job);
		e->job = xstrdup(r->job->name);
		e->run = r->number;
	}
	e->version = r->version;
}

static void
seen_drop(struct session *s, const struct run *r)
{
	struct seen	*e;

	if ((e = seen_find(s, r)) != NULL) {
		free(e->job);
		e->job = NULL;
	}
}

/* The run's snapshot as compact JSON text, without a newline. */
static char *
snapshot_text(const struct run *r, size_t *len)
{
	struct json_object	*o = control_cmd_snapshot(r);
	char			*text;

	text = proto_serialize_reply(o, len);
	json_object_put(o);
	text[--(*len)] = '\0';
	return (text);
}

/* {"v":1,"id":ID,"event":EVENT,"run":SNAPSHOT}, one line. */
static void
send_event(struct session *s, const char *event, const char *snap,
    size_t len)
{
	struct buf	 b;

	buf_init(&b);
	buf_printf(&b, "{\"v\":%d,\"id\":%" PRId64 ",\"event\":\"%s\","
	    "\"run\":", PROTO_VERSION, s->watch_id, event);
	buf_add(&b, snap, len);
	buf_adds(&b, "}\n");
	out_add(s, b.data, b.len, b.data);
}

void
session_watch(struct session *s, const char *job, unsigned run, int64_t id)
{
	struct job	*j;
	struct run	*r;

	if (s->dead)
		return;
	if (!s->watching) {
		s->watching = 1;
		s->seen = xcalloc(CONTROL_SEEN, sizeof(*s->seen));
		if (C.nwatchers++ == 0) {
			ev_timer_set(&C.progress, CONTROL_PERIOD,
			    CONTROL_PERIOD);
			ev_timer_start(C.loop, &C.progress);
		}
	}
	free(s->watch_job);
	s->watch_job = job != NULL ? xstrdup(job) : NULL;
	s->watch_run = run;
	s->watch_id = id;
	/* The reply had the current snapshots: only changes from now on. */
	TAILQ_FOREACH(j, job_list(), entry)
		TAILQ_FOREACH(r, &j->runs, entry)
			if (!RUN_FINISHED(r) && watch_matches(s, r))
				seen_set(s, r);
}

/* Send r's progress to every watcher that has an older version of it. */
static void
progress_run(const struct run *r)
{
	struct session	*s, *next;
	struct seen	*e;
	char		*snap = NULL;
	size_t		 len = 0;

	TAILQ_FOREACH_SAFE(s, &C.sessions, entry, next) {
		if (!s->watching || s->eof || !watch_matches(s, r))
			continue;
		if ((e = seen_find(s, r)) != NULL && e->version == r->version)
			continue;
		if (s->queued > CONTROL_LOW_MARK) {
			C.changed = 1;		/* behind: a later snapshot */
			continue;
		}
		if (snap == NULL)
			snap = snapshot_text(r, &len);
		send_event(s, "progress", snap, len);
		if (!s->dead)
			seen_set(s, r);
	}
	free(snap);
}

static void
progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job	*j;
	struct run	*r;

	if (!C.changed)
		return;
	C.changed = 0;
	TAILQ_FOREACH(j, job_list(), entry)
		TAILQ_FOREACH(r, &j->runs, entry)
			if (!RUN_FINISHED(r))
				progress_run(r);
}

/* The job hook: started and finished go out now, progress on the timer. */
void
control_run_event(struct run *r, enum run_event ev)
{
	struct session	*s, *next;
	const char	*event;
	char		*snap = NULL;
	size_t		 len = 0;

	if (ev == RUNEV_PROGRESS) {
		C.changed = 1;
		return;
	}
	if (C.nwatchers == 0)
		return;
	event = ev == RUNEV_STARTED ? "started" : "finished";
	TAILQ_FOREACH_SAFE(s, &C.sessions, entry, next) {
		if (!s->watching || s->eof || !watch_matches(s, r))
			continue;
		if (snap == NULL)
			snap = snapshot_text(r, &len);
		send_event(s, event, snap, len);
		if (s->dead)
			continue;
		if (ev == RUNEV_STARTED)
			seen_set(s, r);
		else
			seen_drop(s, r);
	}
	free(snap);
}

/*
 * Accepting.
 */

/*
 * At max-clients or out of file descriptors (why): close the session idle
 * the longest, if one has been idle (no request, no output, not watching
 * or streaming) for at least CONTROL_IDLE_GRACE seconds; 1 if there is
 * room now.  Connections opened and left idle cannot lock others out, and
 * a client between connect() and its first request is safe for a moment.
 */
static int
make_room(const char *why)
{
	struct session	*s, *best = NULL;
	ev_tstamp	 now = ev_now(C.loop);

	TAILQ_FOREACH(s, &C.sessions, entry) {
		if (s->watching || s->pump != NULL || s->queued > 0 ||
		    s->more || now - s->active < CONTROL_IDLE_GRACE)
			continue;
		if (best == NULL || s->active < best->active)
			best = s;
	}
	if (best == NULL)
		return (0);
	C.evicted++;
	if (now >= C.evict_log) {
		log_notice("control: %u clients connected, %s; closed %u "
		    "idle one(s) to make room, last client %u (pid %ld, uid "
		    "%ld, idle %.0fs)", C.nsessions, why, C.evicted, best->id,
		    (long)best->pid, (long)best->uid, now - best->active);
		C.evicted = 0;
		C.evict_log = now + CONTROL_EVICT_LOG;
	}
	session_close(best, "idle, closed to make room");
	return (1);
}

/* A connection waits to be accepted (no session is closed for nothing). */
static int
pending(void)
{
	struct pollfd	 p;

	p.fd = C.fd;
	p.events = POLLIN;
	p.revents = 0;
	return (poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
}

/* Full and nobody idle: stop accepting; new connections wait. */
static void
wait_room(void)
{
	if (ev_now(C.loop) >= C.full_log) {
		log_warnx("control: %u clients connected, the maximum "
		    "(max-clients), none idle; new connections wait until "
		    "one leaves or goes idle", C.nsessions);
		C.full_log = ev_now(C.loop) + CONTROL_EVICT_LOG;
	}
	C.waiting = 1;
	ev_io_stop(C.loop, &C.accept);
	ev_timer_stop(C.loop, &C.pause);
	ev_timer_set(&C.pause, CONTROL_ROOM_CHECK, 0.);
	ev_timer_start(C.loop, &C.pause);
}

/* 1 to keep accepting after this error, 0 to stop for now. */
static int
accept_error(void)
{
	int	 saved;

	switch (errno) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
		return (1);
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return (0);
	case EMFILE:
	case ENFILE:
		saved = errno;
		if (pending() && make_room("out of file descriptors"))
			return (1);
		errno = saved;
		/* FALLTHROUGH */
	case ENOBUFS:
	case ENOMEM:
		if (ev_now(C.loop) >= C.pause_log) {	/* once a minute */
			log_warn("control: accept; not accepting for %.0fs",
			    CONTROL_PAUSE);
			C.pause_log = ev_now(C.loop) + CONTROL_EVICT_LOG;
		}
		ev_io_stop(C.loop, &C.accept);
		ev_timer_stop(C.loop, &C.pause);
		ev_timer_set(&C.pause, CONTROL_PAUSE, 0.);
		ev_timer_start(C.loop, &C.pause);
		return (0);
	default:
		log_warn("control: accept");
		return (0);
	}
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int	 fd, i;

	for (i = 0; i < CONTROL_ACCEPTS; i++) {
		if (C.nsessions >= C.max_clients) {
			if (!pending())
				return;
			if (!make_room("the maximum (max-clients)")) {
				wait_room();
				return;
			}
		}
		fd = accept4(C.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (accept_error())
				continue;
			return;
		}
		/* The request is often there already: read it now. */
		read_cb(loop, &session_new(fd)->rio, EV_READ);
	}
}

static void
pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	C.waiting = 0;
	ev_io_start(loop, &C.accept);
}

/*
 * The listening socket.
 */

static int	 set_cause(char **, const char *, ...) ATTR_PRINTF(2, 3);

static int
set_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* The socket systemd passed: it must be a listening Unix stream socket. */
static int
listen_inherited(int fd, char **cause)
{
	struct sockaddr_un	 sun;
	socklen_t		 len = sizeof(sun);
	int			 type, on;
	socklen_t		 olen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sun, &len) == -1)
		return (set_cause(cause, "the socket passed by systemd "
		    "(fd %d): %s", fd, strerror(errno)));
	if (type != SOCK_STREAM || sun.sun_family != AF_UNIX)
		return (set_cause(cause, "the socket passed by systemd "
		    "(fd %d) is not a Unix stream socket; check "
		    "fetchd.socket", fd));
	olen = sizeof(on);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) == 0 &&
	    !on && listen(fd, CONTROL_BACKLOG) == -1)
		return (set_cause(cause, "listen on the socket passed by "
		    "systemd: %s", strerror(errno)));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return (set_cause(cause, "fcntl on the socket passed by "
		    "systemd: %s", strerror(errno)));
	C.fd = fd;
	log_info("control: listening on the socket passed by systemd");
	return (0);
}

/* mkdir -p the socket's directory. */
static int
make_dir(const char *path, char **cause)
{
	char	*dir, *slash;
	int	 rc = 0;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (util_mkdirs(dir, 0755) == -1)
			rc = set_cause(cause, "cannot create the socket's "
			    "directory %s: %s", dir, strerror(errno));
	}
	free(dir);
	return (rc);
}

/*
 * Something is at path: refuse if a daemon answers there or it is not a
 * socket; remove a stale socket (nothing listening).
 */
static int
check_existing(const struct sockaddr_un *sun, char **cause)
{
	const char	*path = sun->sun_path;
	struct stat	 st;
	int		 fd, rc, saved;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return (0);
		return (set_cause(cause, "%s: %s", path, strerror(errno)));
	}
	if (!S_ISSOCK(st.st_mode))
		return (set_cause(cause, "%s exists and is not a socket; "
		    "not replacing it", path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (set_cause(cause, "socket: %s", strerror(errno)));
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	saved = errno;
	close(fd);
	if (rc == 0 || saved == EAGAIN || saved == EINPROGRESS)
		return (set_cause(cause, "another fetchd is listening on %s",
		    path));
	if (saved != ECONNREFUSED && saved != ENOENT)
		return (set_cause(cause, "cannot tell whether a fetchd is "
		    "listening on %s: %s", path, strerror(saved)));
	if (unlink(path) == -1 && errno != ENOENT)
		return (set_cause(cause, "cannot remove the stale socket "
		    "%s: %s", path, strerror(errno)));
	log_info("control: removed the stale socket %s", path);
	return (0);
}

/* Bind path mode 0660 and listen; remember it to unlink at exit. */
static int
listen_path(const char *path, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	int			 fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return (set_cause(cause, "socket path %s is too long (at "
		    "most %zu bytes)", path, sizeof(sun.sun_path) - 1));
	memcpy(sun.sun_path, path, strlen(path));
	if (make_dir(path, cause) == -1 || check_existing(&sun, cause) == -1)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (set_cause(cause, "socket: %s", strerror(errno)));
	old = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1 && errno == EADDRINUSE) {
		set_cause(cause, "another fetchd is listening on %s", path);
		goto fail;
	}
	if (rc == -1) {
		set_cause(cause, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0660) == -1 || listen(fd, CONTROL_BACKLOG) == -1 ||
	    stat(path, &st) == -1) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	C.fd = fd;
	C.path = xstrdup(path);
	C.dev = st.st_dev;
	C.ino = st.st_ino;
	log_debug("control: listening on %s", path);
	return (0);
fail:
	close(fd);
	return (-1);
}

int
control_init(struct ev_loop *loop, const struct daemonconf *dc, int fd,
    char **cause)
{
	memset(&C, 0, sizeof(C));
	C.fd = -1;
	TAILQ_INIT(&C.sessions);
	TAILQ_INIT(&C.dead);
	if (fd >= 0) {
		if (listen_inherited(fd, cause) == -1)
			return (-1);
	} else if (listen_path(dc->socket, cause) == -1)
		return (-1);
	C.loop = loop;
	C.max_clients = dc->max_clients > 0 ? dc->max_clients :
	    CONTROL_MAX_CLIENTS;
	ev_io_init(&C.accept, accept_cb, C.fd, EV_READ);
	ev_set_priority(&C.accept, EV_MAXPRI);
	ev_timer_init(&C.pause, pause_cb, CONTROL_PAUSE, 0.);
	ev_timer_init(&C.progress, progress_cb, CONTROL_PERIOD,
	    CONTROL_PERIOD);
	ev_timer_init(&C.reap, reap_cb, 0., 0.);
	ev_timer_init(&C.sweep, sweep_cb, 0., CONTROL_SWEEP);
	ev_io_start(loop, &C.accept);
	return (0);
}

/*
 * Close every session (after one last non-blocking write, so a watcher
 * may still get its "finished"), then the listener; unlink the socket if
 * we made it and it is still ours.
 */
void
control_free(void)
{
	struct session	*s;
	struct stat	 st;

	if (C.loop == NULL)
		return;
	C.max_clients = 0;		/* closing makes no room */
	while ((s = TAILQ_FIRST(&C.sessions)) != NULL) {
		session_flush(s);
		session_close(s, "daemon stopping");
	}
	reap_cb(C.loop, &C.reap, 0);
	ev_io_stop(C.loop, &C.accept);
	ev_timer_stop(C.loop, &C.pause);
	ev_timer_stop(C.loop, &C.sweep);
	ev_timer_stop(C.loop, &C.progress);
	ev_timer_stop(C.loop, &C.reap);
	close(C.fd);
	if (C.path != NULL && stat(C.path, &st) == 0 && st.st_dev == C.dev &&
	    st.st_ino == C.ino)
		unlink(C.path);
	free(C.path);
	memset(&C, 0, sizeof(C));
	C.fd = -1;
}
