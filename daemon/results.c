/*
 * results.c: result records, the results files of runs, and run summaries.
 *
 * Each run appends one NDJSON line per URL to STATE/results/JOB/RUN.ndjson
 * and writes RUN.summary.json when it ends.  The loop never waits for the
 * disk: records are copied into a per-file batch, and a batch goes to the
 * one writer thread when it reaches BATCH_MAX bytes or BATCH_DELAY after
 * its first record.  The thread writes batches in order through a FIFO
 * (mutex + condition variable), and closes files: fsync the NDJSON, write
 * the summary atomically (temporary file, fsync, rename, fsync of the
 * directory), close.  It reports back through an ev_async: the loop then
 * logs write errors and runs the close callbacks.
 *
 * Ownership: the loop owns a struct rfile from results_open() until
 * results_close(); after that only the thread touches it, until it hands it
 * back through the async watcher, where the loop frees it.  The fields
 * marked "shared" are guarded by the mutex.  The thread never logs and
 * never allocates.
 *
 * A failed write keeps its batch (up to HOLD_MAX bytes per file) and is
 * retried before the next batch, so a full disk that recovers loses
 * nothing; whatever cannot be held is counted as lost and logged.  A partial
 * write is cut back with ftruncate so the file always ends with a whole
 * line.  results_errno() is the seam for pausing a run while its file
 * cannot be written.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fetchd.h"

#define BATCH_MAX	(64 * 1024)	/* hand a batch over at this size */
#define BATCH_DELAY	0.1		/* or this long after its first */
#define HOLD_MAX	(16 * 1024 * 1024) /* unwritten bytes kept per file */
#define TRIM_CHUNK	4096

/* Bytes for the thread; with close set, the file's last request. */
struct batch {
	TAILQ_ENTRY(batch)	 entry;
	struct rfile		*rf;
	int			 close;
	char			*data;
	size_t			 len;
	size_t			 cap;
};
TAILQ_HEAD(batchq, batch);

struct rfile {
	/* Fixed at open. */
	char			*path;		/* RUN.ndjson */
	char			*dir;
	char			*sum_path;	/* RUN.summary.json */
	char			*tmp_path;	/* RUN.summary.json.tmp */
	int			 fd;

	/* Loop only. */
	LIST_ENTRY(rfile)	 entry;		/* open files */
	struct batch		*cur;		/* being filled */
	ev_timer		 timer;		/* hands cur over */
	int			 logged_err;	/* last error logged */
	uint64_t		 logged_lost;

	/* Thread only, and set by the loop before the close is queued. */
	struct batchq		 held;		/* not yet on disk */
	size_t			 held_bytes;
	off_t			 size;		/* bytes in the file */
	int64_t			 synced_ms;	/* last fdatasync, monotonic */
	int			 unsynced;	/* written since */
	char			*summary;
	void			(*cb)(void *);
	void			*arg;

	/* Shared; only the thread changes err, so it reads it unlocked. */
	TAILQ_ENTRY(rfile)	 nentry;	/* in w.news */
	int			 innews;
	int			 err;		/* 0, or errno of a failure */
	const char		*errop;		/* what failed */
	uint64_t		 lost;		/* bytes of records dropped */
	int			 closed;	/* the thread is done with it */
};
LIST_HEAD(rfileq, rfile);
TAILQ_HEAD(newsq, rfile);

static struct {
	struct ev_loop		*loop;
	int			 running;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct batchq		 queue;		/* shared: for the thread */
	struct newsq		 news;		/* shared: for the loop */
	int			 stop;		/* shared */
	ev_async		 async;
	struct rfileq		 open;		/* loop: not closed yet */
	int			 sync;		/* set before the first write */
} w;

static struct batch *batch_new(struct rfile *, size_t);
static void	batch_add(struct batch *, const char *, size_t);
static void	batch_free(struct batch *);
static void	writer_post(struct rfile *);
static void	writer_fail(struct rfile *, const char *, int);
static int	write_all(int, const char *, size_t);
static int	writer_flush(struct rfile *);
static void	writer_sync(struct rfile *);
static int	writer_summary(struct rfile *);
static void	writer_close(struct rfile *);
static void	writer_batch(struct batch *);
static void	*writer_main(void *);
static void	rfile_submit(struct rfile *, int);
static void	rfile_timer_cb(struct ev_loop *, ev_timer *, int);
static void	rfile_report(struct rfile *, int, const char *, uint64_t);
static void	rfile_free(struct rfile *);
static void	results_deliver(void);
static void	results_async_cb(struct ev_loop *, ev_async *, int);
static int	rfile_trim(struct rfile *, char **);
static void	put_u64(struct buf *, uint64_t);
static void	put_ms(struct buf *, int64_t);
static size_t	utf8_seq(const unsigned char *, size_t);
static void	put_str(struct buf *, const char *, int);
static void	put_phases(struct buf *, const struct xfer *);
static struct json_object *ms_object(int64_t);
static struct json_object *namecounts(const struct namecount *, size_t);
static struct json_object *slowest(const struct runstats *);

/*
 * Records.
 */

/*
 * Append n bytes; with a constant n (put_lit) the copy is inlined.  Record
 * lines are built from many short pieces, one per URL or attempt: calls to
 * buf_adds() were a good part of their cost.
 */
static inline void
put_raw(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}
#define put_lit(b, s)	put_raw((b), (s), sizeof(s) - 1)

/* Append ,"key":<ms> for a phase time; curl reports 0 for phases not reached. */
#define put_phase(b, key, usec) do {					\
	put_lit((b), ",\"" key "\":");					\
	put_ms((b), (usec));						\
} while (0)

/*
 * Decimal digits of v, ending at end (two at a time); returns the first.
 * At most 20 digits.
 */
static char *
fmt_u64(char *end, uint64_t v)
{
	static const char	 pairs[] =
	    "00010203040506070809101112131415161718192021222324252627282930"
	    "31323334353637383940414243444546474849505152535455565758596061"
	    "6263646566676869707172737475767778798081828384858687888990"
	    "919293949596979899";
	char			*p = end;
	unsigned		 d;

	while (v >= 100) {
		d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--p = pairs[d + 1];
		*--p = pairs[d];
	}
	if (v >= 10) {
		d = (unsigned)v * 2;
		*--p = pairs[d + 1];
		*--p = pairs[d];
	} else
		*--p = (char)('0' + v);
	return (p);
}

/* Append a decimal number. */
static void
put_u64(struct buf *b, uint64_t v)
{
	char	 tmp[20], *p = fmt_u64(tmp + sizeof(tmp), v);

	put_raw(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Append usec as milliseconds with one decimal, rounded: 41234 -> 41.2. */
static void
put_ms(struct buf *b, int64_t usec)
{
	uint64_t	 t;
	char		 tmp[22], *p;

	t = usec <= 0 ? 0 : ((uint64_t)usec + 50) / 100;
	tmp[21] = (char)('0' + t % 10);
	tmp[20] = '.';
	p = fmt_u64(tmp + 20, t / 10);
	put_raw(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Length of the valid UTF-8 sequence at p, or 0 if the byte starts none. */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	size_t	 n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return (0);
	if (n > left || !util_utf8_valid((const char *)p, n))
		return (0);
	return (n);
}

/*
 * Append a JSON string.  A byte that is not valid UTF-8 becomes "%XX" in a
 * URL (what a browser would send) and U+FFFD elsewhere.
 */
static void
put_str(struct buf *b, const char *str, int url)
{
	static const char	 hex[] = "0123456789abcdef";
	static const char	 pct[] = "0123456789ABCDEF";
	const unsigned char	*p = (const unsigned char *)str;
	const unsigned char	*e;
	size_t			 n;
	char			*o;

	n = strlen(str);
	e = p + n;
	buf_reserve(b, n * 6 + 2);
	o = b->data + b->len;
	*o++ = '"';
	while (p < e) {
		n = util_json_plain((const char *)p, (size_t)(e - p));
		memcpy(o, p, n);
		o += n;
		p += n;
		if (p == e)
			break;
		if (*p >= 0x80 && (n = utf8_seq(p, (size_t)(e - p))) > 0) {
			do {	/* a run of non-ASCII text */
				memcpy(o, p, n);
				o += n;
				p += n;
			} while (p < e && *p >= 0x80 &&
			    (n = utf8_seq(p, (size_t)(e - p))) > 0);
			continue;
		}
		if (*p >= 0x80) {
			if (url) {
				*o++ = '%';
				*o++ = pct[*p >> 4];
				*o++ = pct[*p & 0xf];
			} else {
				memcpy(o, "\\ufffd", 6);
				o += 6;
			}
			p++;
			continue;
		}
		*o++ = '\\';
		switch (*p) {
		case '"':
		case '\\':
			*o++ = (char)*p;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[*p >> 4];
			o[4] = hex[*p & 0xf];
			o += 5;
			break;
		}
		p++;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

/* Append one record as a complete NDJSON line (DESIGN.md "Results"). */
void
results_record(struct buf *b, const struct record *r)
{
	put_lit(b, "{\"i\":");
	put_u64(b, r->i);
	put_lit(b, ",\"url\":");
	put_str(b, r->url != NULL ? r->url : "", 1);
	if (r->status > 0) {
		put_lit(b, ",\"status\":");
		put_u64(b, (uint64_t)r->status);
	}
	if (r->error != NULL) {
		put_lit(b, ",\"error\":");
		put_str(b, r->error, 0);
		if (r->detail != NULL && r->detail[0] != '\0') {
			put_lit(b, ",\"detail\":");
			put_str(b, r->detail, 0);
		}
	}
	put_lit(b, ",\"attempts\":");
	put_u64(b, r->attempts);
	put_lit(b, ",\"ms\":");
	put_ms(b, r->usec);
	put_lit(b, ",\"queue_ms\":");
	put_ms(b, r->queue_usec);
	if (r->x != NULL) {
		put_lit(b, ",\"start\":");
		put_u64(b, (uint64_t)r->start_wall);
		put_phases(b, r->x);
	}
	if (r->unchanged)
		put_lit(b, ",\"unchanged\":true");
	if (r->etag != NULL && r->etag[0] != '\0') {
		put_lit(b, ",\"etag\":");
		put_str(b, r->etag, 0);
	}
	if (r->last_modified != NULL && r->last_modified[0] != '\0') {
		put_lit(b, ",\"last_modified\":");
		put_str(b, r->last_modified, 0);
	}
	if (r->body != NULL)
		body_encode(r->body, b);
	put_lit(b, "}\n");
}

/* The phases of an attempt, in record and attempt lines alike. */
static void
put_phases(struct buf *b, const struct xfer *x)
{
	put_phase(b, "dns_ms", x->t_dns);
	put_phase(b, "connect_ms", x->t_connect);
	put_phase(b, "tls_ms", x->t_tls);
	put_phase(b, "ttfb_ms", x->t_ttfb);
}

/* One attempt as a line of RUN.attempts.ndjson (docs/protocol.md explain). */
void
results_attempt(struct buf *b, const struct attempt *a)
{
	const struct xfer	*x = a->x;

	put_lit(b, "{\"i\":");
	put_u64(b, a->i);
	put_lit(b, ",\"url\":");
	put_str(b, a->url, 1);
	put_lit(b, ",\"attempt\":");
	put_u64(b, a->n);
	put_lit(b, ",\"start\":");
	put_u64(b, (uint64_t)a->start_wall);
	put_phase(b, "queue_ms", a->queue_usec);
	put_phases(b, x);
	put_phase(b, "total_ms", x->t_total);
	if (x->status > 0) {
		put_lit(b, ",\"status\":");
		put_u64(b, (uint64_t)x->status);
	}
	if (a->error != NULL) {
		put_lit(b, ",\"error\":");
		put_str(b, a->error, 0);
		put_lit(b, ",\"detail\":");
		put_str(b, x->detail, 0);
	}
	if (x->retry_after[0] != '\0') {
		put_lit(b, ",\"retry_after\":");
		put_str(b, x->retry_after, 0);
	}
	put_lit(b, ",\"decision\":");
	put_str(b, a->decision, 0);
	if (a->delay_usec >= 0)
		put_phase(b, "delay_ms", a->delay_usec);
	if (a->why != NULL) {
		put_lit(b, ",\"why\":");
		put_str(b, a->why, 0);
	}
	put_lit(b, "}\n");
}

/*
 * The writer thread.  It only does system calls on the batches and files
 * it is given, and reports through writer_post().
 */

static struct batch *
batch_new(struct rfile *rf, size_t cap)
{
	struct batch	*bt;

	bt = xcalloc(1, sizeof(*bt));
	bt->rf = rf;
	if (cap > 0) {
		bt->data = xmalloc(cap);
		bt->cap = cap;
	}
	return (bt);
}

static void
batch_add(struct batch *bt, const char *data, size_t len)
{
	size_t	 cap;

	if (len > bt->cap - bt->len) {
		cap = bt->cap == 0 ? BATCH_MAX : bt->cap;
		while (cap - bt->len < len)
			cap *= 2;
		bt->data = xreallocarray(bt->data, cap, 1);
		bt->cap = cap;
	}
	memcpy(bt->data + bt->len, data, len);
	bt->len += len;
}

static void
batch_free(struct batch *bt)
{
	free(bt->data);
	free(bt);
}

/* Tell the loop to look at rf.  Called with the lock held. */
static void
writer_post(struct rfile *rf)
{
	if (!rf->innews) {
		rf->innews = 1;
		TAILQ_INSERT_TAIL(&w.news, rf, nentry);
	}
	ev_async_send(w.loop, &w.async);
}

/* Record a failure (err != 0) or a recovery (err == 0) for the loop. */
static void
writer_fail(struct rfile *rf, const char *op, int err)
{
	pthread_mutex_lock(&w.lock);
	if (rf->err != err) {
		rf->err = err;
		rf->errop = op;
		writer_post(rf);
	}
	pthread_mutex_unlock(&w.lock);
}

/* write() all of it; 0, or -1 with errno. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Write the held batches in order; stop at the first failure and cut the
 * file back to its last whole line.  0 when nothing is held any more.
 */
/*
 * The durability policy (daemon key sync): "batch" fsyncs a file when 200
 * ms have passed since its last fsync (so a power loss costs at most the
 * last batch), "always" after every batch, "never" only when the run ends.
 * A process crash loses nothing written either way: write(2) is done.
 */
static void
writer_sync(struct rfile *rf)
{
	struct timespec	 ts;
	int64_t		 now;

	if (w.sync == SYNC_NEVER)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (w.sync == SYNC_BATCH && now - rf->synced_ms < 200)
		return;
	if (fdatasync(rf->fd) == 0) {
		rf->synced_ms = now;
		rf->unsynced = 0;
	}
}

void
results_set_sync(int mode)
{
	w.sync = mode;
}

static int
writer_flush(struct rfile *rf)
{
	struct batch	*bt;
	int		 saved;

	while ((bt = TAILQ_FIRST(&rf->held)) != NULL) {
		if (write_all(rf->fd, bt->data, bt->len) == -1) {
			saved = errno;
			(void)ftruncate(rf->fd, rf->size);
			writer_fail(rf, "write", saved);
			return (-1);
		}
		rf->size += (off_t)bt->len;
		rf->unsynced = 1;
		rf->held_bytes -= bt->len;
		TAILQ_REMOVE(&rf->held, bt, entry);
		batch_free(bt);
	}
	writer_sync(rf);
	if (rf->err != 0)	/* only this thread writes rf->err */
		writer_fail(rf, NULL, 0);
	return (0);
}

/* Write the summary next to the results, atomically. */
static int
writer_summary(struct rfile *rf)
{
	int	 fd, dfd, saved;

	fd = open(rf->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd == -1)
		return (-1);
	if (write_all(fd, rf->summary, strlen(rf->summary)) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		(void)close(fd);
		(void)unlink(rf->tmp_path);
		errno = saved;
		return (-1);
	}
	if (close(fd) == -1 || rename(rf->tmp_path, rf->sum_path) == -1) {
		saved = errno;
		(void)unlink(rf->tmp_path);
		errno = saved;
		return (-1);
	}
	if ((dfd = open(rf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	if (fsync(dfd) == -1) {
		saved = errno;
		(void)close(dfd);
		errno = saved;
		return (-1);
	}
	return (close(dfd));
}

/*
 * The file's last request.  The records are made durable before the
 * summary appears, since a summary says the run is complete: one
 * fdatasync (the data and the size), none when the last flush just did
 * it.  A run's end waits for these.
 */
static void
writer_close(struct rfile *rf)
{
	struct batch	*bt;
	uint64_t	 lost = 0;

	while ((bt = TAILQ_FIRST(&rf->held)) != NULL) {
		lost += bt->len;
		TAILQ_REMOVE(&rf->held, bt, entry);
		batch_free(bt);
	}
	rf->held_bytes = 0;
	if (rf->unsynced && fdatasync(rf->fd) == -1)
		writer_fail(rf, "fdatasync", errno);
	if (rf->summary != NULL && writer_summary(rf) == -1)
		writer_fail(rf, "write summary", errno);
	if (close(rf->fd) == -1)
		writer_fail(rf, "close", errno);
	rf->fd = -1;
	free(rf->summary);
	rf->summary = NULL;

	pthread_mutex_lock(&w.lock);
	rf->lost += lost;
	rf->closed = 1;
	writer_post(rf);
	pthread_mutex_unlock(&w.lock);
}

/* One batch from the queue: hold it, write what is held, maybe close. */
static void
writer_batch(struct batch *bt)
{
	struct rfile	*rf = bt->rf;
	int		 last = bt->close;

	if (bt->len == 0)
		batch_free(bt);
	else if (rf->held_bytes > 0 && rf->held_bytes + bt->len > HOLD_MAX) {
		pthread_mutex_lock(&w.lock);
		rf->lost += bt->len;
		writer_post(rf);
		pthread_mutex_unlock(&w.lock);
		batch_free(bt);
	} else {
		rf->held_bytes += bt->len;
		TAILQ_INSERT_TAIL(&rf->held, bt, entry);
	}
	(void)writer_flush(rf);
	if (last)
		writer_close(rf);
}

static void *
writer_main(void *arg)
{
	struct batchq	 q;
	struct batch	*bt;

	(void)arg;
	pthread_mutex_lock(&w.lock);
	for (;;) {
		while (TAILQ_EMPTY(&w.queue) && !w.stop)
			pthread_cond_wait(&w.cond, &w.lock);
		if (TAILQ_EMPTY(&w.queue))
			break;
		TAILQ_INIT(&q);
		TAILQ_CONCAT(&q, &w.queue, entry);
		pthread_mutex_unlock(&w.lock);
		while ((bt = TAILQ_FIRST(&q)) != NULL) {
			TAILQ_REMOVE(&q, bt, entry);
			writer_batch(bt);
		}
		pthread_mutex_lock(&w.lock);
	}
	pthread_mutex_unlock(&w.lock);
	return (NULL);
}

/*
 * The loop side.
 */

/* Hand the current batch to the thread (with close, even if empty). */
static void
rfile_submit(struct rfile *rf, int last)
{
	struct batch	*bt = rf->cur;

	ev_timer_stop(w.loop, &rf->timer);
	rf->cur = NULL;
	if (bt == NULL) {
		if (!last)
			return;
		bt = batch_new(rf, 0);
	}
	bt->close = last;
	pthread_mutex_lock(&w.lock);
	TAILQ_INSERT_TAIL(&w.queue, bt, entry);
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

static void
rfile_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	rfile_submit(t->data, 0);
}

/* Log what changed since the last report: errors, recovery, losses. */
static void
rfile_report(struct rfile *rf, int err, const char *op, uint64_t lost)
{
	if (err != rf->logged_err) {
		if (err != 0)
			log_warnx("results %s: %s: %s; keeping the records "
			    "in memory and retrying with the next batch",
			    rf->path, op, strerror(err));
		else
			log_info("results %s: writing again", rf->path);
		rf->logged_err = err;
	}
	if (lost > rf->logged_lost) {
		log_warnx("results %s: %" PRIu64 " bytes of records could not "
		    "be written and were dropped", rf->path,
		    lost - rf->logged_lost);
		rf->logged_lost = lost;
	}
}

static void
rfile_free(struct rfile *rf)
{
	if (rf->cur != NULL)
		batch_free(rf->cur);
	free(rf->path);
	free(rf->dir);
	free(rf->sum_path);
	free(rf->tmp_path);
	free(rf);
}

/* Take the thread's news: log errors, finish closed files. */
static void
results_deliver(void)
{
	struct newsq	 q;
	struct rfile	*rf;
	const char	*op;
	uint64_t	 lost;
	int		 err, closed;

	TAILQ_INIT(&q);
	pthread_mutex_lock(&w.lock);
	TAILQ_CONCAT(&q, &w.news, nentry);
	pthread_mutex_unlock(&w.lock);
	while ((rf = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, rf, nentry);
		pthread_mutex_lock(&w.lock);
		rf->innews = 0;
		err = rf->err;
		op = rf->errop;
		lost = rf->lost;
		closed = rf->closed;
		pthread_mutex_unlock(&w.lock);
		rfile_report(rf, err, op, lost);
		if (!closed)
			continue;
		ev_unref(w.loop);	/* taken in results_close() */
		if (rf->cb != NULL)
			rf->cb(rf->arg);
		rfile_free(rf);
	}
}

static void
results_async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)loop;
	(void)a;
	(void)revents;
	results_deliver();
}

/* Start the writer thread, with every signal blocked (the loop takes them). */
int
results_init(struct ev_loop *loop)
{
	sigset_t	 all, old;
	int		 rc;

	if (w.running)
		return (0);
	w.loop = loop;
	TAILQ_INIT(&w.queue);
	TAILQ_INIT(&w.news);
	LIST_INIT(&w.open);
	w.stop = 0;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	ev_async_init(&w.async, results_async_cb);
	ev_async_start(loop, &w.async);
	ev_unref(loop);		/* the watcher alone keeps no loop alive */

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		ev_ref(loop);
		ev_async_stop(loop, &w.async);
		pthread_cond_destroy(&w.cond);
		pthread_mutex_destroy(&w.lock);
		errno = rc;
		return (-1);
	}
	w.running = 1;
	return (0);
}

/*
 * Close what is still open (without summaries), let the thread write
 * everything, join it, and run the last callbacks.
 */
void
results_free(void)
{
	struct rfile	*rf;

	if (!w.running)
		return;
	while ((rf = LIST_FIRST(&w.open)) != NULL)
		results_close(rf, NULL, NULL, NULL);
	pthread_mutex_lock(&w.lock);
	w.stop = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	results_deliver();
	ev_ref(w.loop);
	ev_async_stop(w.loop, &w.async);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	w.running = 0;
}

/*
 * A crash (SIGKILL, power loss) can leave a partial last line; cut the file
 * back to its last newline so appended records start on a line of their
 * own.  Sets rf->size.
 */
static int
rfile_trim(struct rfile *rf, char **cause)
{
	struct stat	 st;
	char		 chunk[TRIM_CHUNK];
	off_t		 end, off;
	ssize_t		 n, i;

	errno = 0;
	if (fstat(rf->fd, &st) == -1)
		goto fail;
	end = off = st.st_size;
	while (off > 0) {
		n = off < TRIM_CHUNK ? (ssize_t)off : TRIM_CHUNK;
		off -= n;
		if (pread(rf->fd, chunk, (size_t)n, off) != n) {
			if (errno == 0)
				errno = EIO;
			goto fail;
		}
		for (i = n; i > 0 && chunk[i - 1] != '\n'; i--)
			continue;
		if (i > 0) {
			off += i;
			break;
		}
	}
	if (off != end) {
		if (ftruncate(rf->fd, off) == -1)
			goto fail;
		log_warnx("results %s: dropped an incomplete last line "
		    "(%jd bytes)", rf->path, (intmax_t)(end - off));
	}
	rf->size = off;
	return (0);
fail:
	xasprintf(cause, "%s: %s", rf->path, strerror(errno));
	return (-1);
}

/*
 * Open (create, or continue) STATE/results/JOB/RUN.ndjson.  Runs on the
 * loop: creating a directory and opening a file are quick enough.
 */
static struct rfile *rfile_open(const char *, const char *, unsigned,
		    const char *, char **);

struct rfile *
results_open(const char *state_dir, const char *job, unsigned run,
    char **cause)
{
	return (rfile_open(state_dir, job, run, "ndjson", cause));
}

/* RUN.attempts.ndjson: one line per attempt, for explain. */
struct rfile *
results_open_attempts(const char *state_dir, const char *job, unsigned run,
    char **cause)
{
	return (rfile_open(state_dir, job, run, "attempts.ndjson", cause));
}

static struct rfile *
rfile_open(const char *state_dir, const char *job, unsigned run,
    const char *ext, char **cause)
{
	struct rfile	*rf;

	if (!w.running) {
		*cause = xstrdup("the results writer is not running");
		return (NULL);
	}
	if (job[0] == '\0' || strchr(job, '/') != NULL ||
	    strcmp(job, ".") == 0 || strcmp(job, "..") == 0) {
		xasprintf(cause, "'%s' cannot name a results directory", job);
		return (NULL);
	}
	rf = xcalloc(1, sizeof(*rf));
	rf->fd = -1;
	TAILQ_INIT(&rf->held);
	xasprintf(&rf->dir, "%s/results/%s", state_dir, job);
	xasprintf(&rf->path, "%s/%u.%s", rf->dir, run, ext);
	xasprintf(&rf->sum_path, "%s/%u.summary.json", rf->dir, run);
	xasprintf(&rf->tmp_path, "%s.tmp", rf->sum_path);
	if (util_mkdirs(rf->dir, 0750) == -1) {
		xasprintf(cause, "mkdir %s: %s", rf->dir, strerror(errno));
		goto fail;
	}
	/* O_RDWR, not O_WRONLY: rfile_trim() reads the tail. */
	rf->fd = open(rf->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (rf->fd == -1) {
		xasprintf(cause, "%s: %s", rf->path, strerror(errno));
		goto fail;
	}
	if (rfile_trim(rf, cause) == -1)
		goto fail;
	ev_timer_init(&rf->timer, rfile_timer_cb, BATCH_DELAY, 0.);
	rf->timer.data = rf;
	LIST_INSERT_HEAD(&w.open, rf, entry);
	return (rf);
fail:
	if (rf->fd != -1)
		close(rf->fd);
	rfile_free(rf);
	return (NULL);
}

/*
 * Copy bytes (whole lines) into the file's current batch.  A batch that
 * has no room for them goes to the thread first, so batches stay within
 * BATCH_MAX unless one record alone is larger.
 */
void
results_append(struct rfile *rf, const char *data, size_t len)
{
	if (len == 0)
		return;
	if (rf->cur != NULL && len > rf->cur->cap - rf->cur->len)
		rfile_submit(rf, 0);
	if (rf->cur == NULL)
		rf->cur = batch_new(rf, len > BATCH_MAX ? len : BATCH_MAX);
	batch_add(rf->cur, data, len);
	if (rf->cur->len >= BATCH_MAX)
		rfile_submit(rf, 0);
	else if (!ev_is_active(&rf->timer)) {
		ev_timer_set(&rf->timer, BATCH_DELAY, 0.);
		ev_timer_start(w.loop, &rf->timer);
	}
}

/*
 * Queue the last batch and the close.  Takes summary (malloc'd, may be
 * NULL).  cb(arg) runs on the loop once records and summary are on disk
 * and the file is closed; rf is gone by then.  A pending close keeps the
 * loop alive.
 */
void
results_close(struct rfile *rf, char *summary, void (*cb)(void *), void *arg)
{
	LIST_REMOVE(rf, entry);
	rf->summary = summary;
	rf->cb = cb;
	rf->arg = arg;
	ev_ref(w.loop);
	rfile_submit(rf, 1);
}

/* Have the writer try again what it holds (after a write error). */
void
results_kick(struct rfile *rf)
{
	struct batch	*bt;

	if (rf->cur != NULL) {
		rfile_submit(rf, 0);
		return;
	}
	bt = batch_new(rf, 0);
	pthread_mutex_lock(&w.lock);
	TAILQ_INSERT_TAIL(&w.queue, bt, entry);
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

const char *
results_path(const struct rfile *rf)
{
	return (rf->path);
}

/* 0 while the file is written fine, else the errno of the last failure. */
int
results_errno(const struct rfile *rf)
{
	int	 err;

	pthread_mutex_lock(&w.lock);
	err = rf->err;
	pthread_mutex_unlock(&w.lock);
	return (err);
}

/*
 * Summaries.
 */

/* Milliseconds with one decimal, written as such ("41.2", not 41.2000001). */
static struct json_object *
ms_object(int64_t usec)
{
	struct buf		 b;
	struct json_object	*o;

	buf_init(&b);
	put_ms(&b, usec);
	o = json_object_new_double_s((double)(usec < 0 ? 0 : usec) / 1000.0,
	    b.data);
	buf_free(&b);
	return (o);
}

static struct json_object *
namecounts(const struct namecount *nc, size_t n)
{
	struct json_object	*o;
	size_t			 i;

	o = json_object_new_object();
	for (i = 0; i < n; i++)
		json_object_object_add(o, nc[i].name,
		    json_object_new_uint64(nc[i].n));
	return (o);
}

static struct json_object *
slowest(const struct runstats *st)
{
	struct json_object	*a, *e;
	size_t			 i;

	a = json_object_new_array();
	for (i = 0; i < RUN_SLOWEST; i++) {
		if (st->slowest[i].url == NULL)
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "url",
		    json_object_new_string(st->slowest[i].url));
		json_object_object_add(e, "ms", ms_object(st->slowest[i].usec));
		json_object_array_add(a, e);
	}
	return (a);
}

/* The summary of a run as JSON text (malloc'd), for RUN.summary.json. */
char *
results_summary(const struct run *run)
{
	const struct runstats	*st = &run->st;
	struct json_object	*o, *lat;
	char			*s;

	o = json_object_new_object();
	json_object_object_add(o, "name",
	    json_object_new_string(run->job->name));
	json_object_object_add(o, "run", json_object_new_uint64(run->number));
	json_object_object_add(o, "state",
	    json_object_new_string(run_state_names[run->state]));
	if (run->reason != NULL)
		json_object_object_add(o, "reason",
		    json_object_new_string(run->reason));
	json_object_object_add(o, "started",
	    json_object_new_int64(run->started_wall));
	if (run->ended_wall != 0)
		json_object_object_add(o, "ended",
		    json_object_new_int64(run->ended_wall));
	json_object_object_add(o, "elapsed_ms", ms_object(run->ended != 0 ?
	    run->ended - run->started : 0));
	json_object_object_add(o, "total", json_object_new_uint64(st->total));
	json_object_object_add(o, "ok", json_object_new_uint64(st->ok));
	json_object_object_add(o, "failed", json_object_new_uint64(st->failed));
	json_object_object_add(o, "attempts",
	    json_object_new_uint64(st->attempts));
	json_object_object_add(o, "retries",
	    json_object_new_uint64(st->retries));
	json_object_object_add(o, "bytes", json_object_new_uint64(st->bytes));
	json_object_object_add(o, "errors",
	    namecounts(st->errors, st->nerrors));
	json_object_object_add(o, "hosts", namecounts(st->hosts, st->nhosts));
	if (st->latency.n > 0) {
		lat = json_object_new_object();
		json_object_object_add(lat, "p50",
		    ms_object(histo_quantile(&st->latency, 0.50)));
		json_object_object_add(lat, "p95",
		    ms_object(histo_quantile(&st->latency, 0.95)));
		json_object_object_add(lat, "p99",
		    ms_object(histo_quantile(&st->latency, 0.99)));
		json_object_object_add(o, "latency_ms", lat);
	}
	json_object_object_add(o, "slowest", slowest(st));
	if (run->retry_of > 0)
		json_object_object_add(o, "retry_of",
		    json_object_new_int64(run->retry_of));
	if (run->resumed > 0)
		json_object_object_add(o, "resumed",
		    json_object_new_int64(run->resumed));
	if (run->path != NULL)
		json_object_object_add(o, "results",
		    json_object_new_string(run->path));
	xasprintf(&s, "%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return (s);
}

/*
 * The highest N among STATE/results/JOB/N.ndjson, 0 if none, so run numbers
 * continue after a restart.
 */
unsigned
results_last_run(const char *state_dir, const char *job)
{
	DIR		*d;
	struct dirent	*de;
	char		*dir, *end;
	unsigned long	 n;
	unsigned	 last = 0;

	xasprintf(&dir, "%s/results/%s", state_dir, job);
	d = opendir(dir);
	free(dir);
	if (d == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		errno = 0;
		n = strtoul(de->d_name, &end, 10);
		if (errno != 0 || n > UINT_MAX || strcmp(end, ".ndjson") != 0)
			continue;
		if (n > last)
			last = (unsigned)n;
	}
	closedir(d);
	return (last);
}

/*
 * The next failed record of a results file (retry-failed): appends its URL
 * to url and returns 1, or 0 at the end.  Lines that do not parse (a torn
 * last line) are skipped.
 */
int
results_next_failed(FILE *fp, struct buf *url)
{
	char			*line = NULL;
	size_t			 cap = 0;
	struct json_object	*o, *u, *e;
	int			 found = 0;

	while (!found && getline(&line, &cap, fp) != -1) {
		if (strstr(line, "\"error\":") == NULL ||
		    (o = json_tokener_parse(line)) == NULL)
			continue;
		found = json_object_object_get_ex(o, "error", &e) &&
		    json_object_object_get_ex(o, "url", &u) &&
		    json_object_is_type(u, json_type_string);
		if (found) {
			buf_reset(url);
			buf_adds(url, json_object_get_string(u));
		}
		json_object_put(o);
	}
	free(line);
	return (found);
}

/*
 * conditional: the ETag and Last-Modified of every URL of a finished run,
 * read from its results file, by URL.  The table holds only URLs that had
 * validators; it lives as long as the run that uses it.
 */
struct vent {
	struct vent	*next;
	char		*url;
	char		*etag;
	char		*lm;
};

struct validators {
	struct vent	**tab;
	size_t		  size;
};

static size_t
vhash(const char *s, size_t size)
{
	uint64_t	 h = 1469598103934665603ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return ((size_t)(h % size));
}

static void
vadd(struct validators *v, struct json_object *o)
{
	struct json_object	*u, *e = NULL, *l = NULL;
	struct vent		*ve;
	size_t			 b;

	if (!json_object_object_get_ex(o, "url", &u) ||
	    (!json_object_object_get_ex(o, "etag", &e) &&
	    !json_object_object_get_ex(o, "last_modified", &l)))
		return;
	(void)json_object_object_get_ex(o, "etag", &e);
	(void)json_object_object_get_ex(o, "last_modified", &l);
	ve = xcalloc(1, sizeof(*ve));
	ve->url = xstrdup(json_object_get_string(u));
	if (e != NULL)
		ve->etag = xstrdup(json_object_get_string(e));
	if (l != NULL)
		ve->lm = xstrdup(json_object_get_string(l));
	b = vhash(ve->url, v->size);
	ve->next = v->tab[b];
	v->tab[b] = ve;
}

struct validators *
results_validators(const char *path)
{
	struct validators	*v;
	struct json_object	*o;
	FILE			*fp;
	char			*line = NULL;
	size_t			 cap = 0;

	if (path == NULL || (fp = fopen(path, "re")) == NULL)
		return (NULL);
	v = xcalloc(1, sizeof(*v));
	v->size = 4096;
	v->tab = xcalloc(v->size, sizeof(*v->tab));
	while (getline(&line, &cap, fp) != -1) {
		if (strstr(line, "\"etag\":") == NULL &&
		    strstr(line, "\"last_modified\":") == NULL)
			continue;
		if ((o = json_tokener_parse(line)) == NULL)
			continue;
		vadd(v, o);
		json_object_put(o);
	}
	free(line);
	fclose(fp);
	return (v);
}

void
results_validators_get(const struct validators *v, const char *url,
    const char **etag, const char **lm)
{
	const struct vent	*ve;

	*etag = *lm = NULL;
	if (v == NULL)
		return;
	for (ve = v->tab[vhash(url, v->size)]; ve != NULL; ve = ve->next) {
		if (strcmp(ve->url, url) == 0) {
			*etag = ve->etag;
			*lm = ve->lm;
			return;
		}
	}
}

void
results_validators_free(struct validators *v)
{
	struct vent	*ve;
	size_t		 b;

	if (v == NULL)
		return;
	for (b = 0; b < v->size; b++) {
		while ((ve = v->tab[b]) != NULL) {
			v->tab[b] = ve->next;
			free(ve->url);
			free(ve->etag);
			free(ve->lm);
			free(ve);
		}
	}
	free(v->tab);
	free(v);
}

/*
 * A finished run read back from its summary after a restart, so status and
 * results still show it: state, counts, times, reason.  0 or -1.
 */
int
results_read_summary(const char *path, struct run *r)
{
	struct json_object	*o, *v;
	size_t			 i;

	if ((o = json_object_from_file(path)) == NULL)
		return (-1);
	if (json_object_object_get_ex(o, "state", &v))
		for (i = RUN_DONE; i <= RUN_CANCELLED; i++)
			if (strcmp(json_object_get_string(v),
			    run_state_names[i]) == 0)
				r->state = (enum run_state)i;
	if (json_object_object_get_ex(o, "total", &v))
		r->st.total = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "ok", &v))
		r->st.ok = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "failed", &v))
		r->st.failed = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "started", &v))
		r->started_wall = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "ended", &v))
		r->ended_wall = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "reason", &v))
		r->reason = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "resumed", &v))
		r->resumed = (unsigned)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "retry_of", &v))
		r->retry_of = (unsigned)json_object_get_int64(v);
	r->st.done = r->st.ok + r->st.failed;
	r->st.total_known = 1;
	json_object_put(o);
	return (RUN_FINISHED(r) ? 0 : -1);
}
