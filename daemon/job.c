/*
 * job.c: owns the jobs, their runs and everything a run holds while it
 * executes: the lazy URL source (globs by index, then urls-file lines), the
 * window of pending URLs, the retry timers, the per-origin host table and
 * the admission that hands transfers to fetch.c within the limits
 * (max-connections for the daemon, concurrency per run, per-host per
 * origin).  Completions come back through struct xfer's done(); each final
 * outcome becomes one record appended to the run's results file.
 *
 * Memory of a run is O(window + retries + hosts), never O(URLs): the window
 * holds about 2 x concurrency URLs.  Runs share max-connections fairly:
 * admission takes one URL from each active run in turn.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fetchd.h"

#define SCAN_MAX	64	/* pending URLs looked at for a free host */
#define ADMIT_BATCH	64	/* transfers started per job_admit() call */
#define HOST_BUCKETS	1024

/* Journal MESSAGE_IDs, one per event kind (systemd/fetchd.catalog). */
#define MSGID_RUN_STARTED	"5c1d2a8f0e6b4d7a9c3e1f20b4a6d8e1"
#define MSGID_RUN_DONE		"7a2e4c6b8d0f41a3b5c7d9e1f3a5b7c9"
#define MSGID_RUN_PARTIAL	"8b3f5d7e9a1c42b4c6d8e0f2a4b6c8d0"
#define MSGID_RUN_FAILED	"9c4a6e8f0b2d43c5d7e9f1a3b5c7d9e2"
#define MSGID_URL_FAILED	"1d5b7f9a2c4e44d6e8f0a2b4c6d8e0f3"
#define MSGID_URL_OK		"2e6c8a0b3d5f45e7f9a1b3c5d7e9f1a4"
/* The host events (MSGID_HOST_*) are in log.h. */

const char *const run_state_names[] = {
	"queued", "running", "done", "partial", "failed", "cancelled"
};

/* An origin ("https://host:port") and the transfers in flight to it. */
struct host {
	struct host	*next;		/* hash chain */
	unsigned	 refs;		/* items pointing here */
	unsigned	 inflight;
	unsigned	 load[FETCH_SHARDS_MAX];	/* in flight per shard */
	uint32_t	 fnv;		/* of origin */
	unsigned	 limit;		/* adaptive cap, 0 = the job's per-host */
	unsigned	 consec;	/* consecutive failures (breaker) */
	unsigned	 probes;	/* failed probes while down */
	int		 down;		/* breaker open */
	int		 probing;	/* the probe is in flight */
	int64_t		 paused_until;	/* Retry-After pause, usec */
	int64_t		 probe_at;	/* next probe while down, usec */
	ev_timer	 wake;		/* end of a pause or the next probe */
	char		 origin[];
};

/* A job definition shared by a job and the runs started from it. */
struct defhold {
	struct jobdef	*def;
	unsigned	 refs;
	uint64_t	 shape;		/* for struct xfer, unique */
};

enum item_state {
	ITEM_PENDING,
	ITEM_INFLIGHT,
	ITEM_WAITING
};

/* One URL of a run, from the window until its final record. */
struct item {
	TAILQ_ENTRY(item)	 entry;		/* pending or inflight list */
	char			*url;
	size_t			 url_cap;	/* bytes allocated for url */
	/* Those above stay unpoisoned while spare (LeakSanitizer). */
	struct run		*run;
	uint64_t		 i;
	struct host		*host;
	enum item_state		 state;
	unsigned		 attempts;
	int64_t			 queued_at;	/* entered the queue */
	int64_t			 queue_usec;	/* all attempts */
	int64_t			 attempt_queue;	/* this attempt */
	int64_t			 start_wall;	/* this attempt, epoch ms */
	int			 probe;		/* probing a host that is down */
	int			 unchanged;	/* 304 to a conditional request */
	const char		*old_etag;	/* conditional: sent validators */
	const char		*old_lm;
	struct body		*body;
	struct xfer		 x;
	ev_timer		 retry;
};
TAILQ_HEAD(itemq, item);

struct run_priv {
	TAILQ_ENTRY(run_priv)	 active;	/* in J.active while running */
	struct run		*run;
	struct defhold		*hold;
	size_t			 pattern;	/* next url pattern */
	struct glob		*glob;
	uint64_t		 glob_pos;
	FILE			*urls_fp;
	uint64_t		 next_i;
	int			 src_done;
	struct itemq		 pending;
	struct itemq		 inflight;
	struct itemq		 waiting;
	size_t			 npending;
	char			*reqbody;
	size_t			 reqbody_len;
	struct rfile		*rf;
	struct buf		 line;
	enum fclass		 stop_class;	/* cancel/deadline in progress */
	int			 flushing;	/* job_stop() runs finished done()s */
	enum fclass		 flush_fc;	/* a stop asked meanwhile */
	int			 aborted;	/* abort-after reached */
	unsigned		 concurrency;	/* def's, or set at run time */
	double			 rate;
	uint64_t		 final_failures;
	double			 tokens;	/* rate: token bucket */
	int64_t			 tokens_at;
	ev_timer		 rate_timer;
	ev_timer		 disk_timer;	/* retries a failed write */
	FILE			*retry_fp;	/* retry-failed: old results */
	struct validators	*val;		/* conditional: last run's */
	struct host		*host_cache;	/* origin of the last URL */
	char			*host_prefix;	/* its scheme://authority */
	size_t			 host_plen;
	uint64_t		*done;		/* resume: indices with a record */
	size_t			 ndone;		/* words in done */
	struct rfile		*af;		/* RUN.attempts.ndjson */
	uint64_t		 retries_granted; /* against retry-budget */
	ev_timer		 deadline;
	ev_timer		 flush;		/* progress hook rate */
};
TAILQ_HEAD(privq, run_priv);

static struct {
	struct ev_loop		*loop;
	const struct daemonconf	*dc;
	struct jobq		 jobs;
	unsigned		 njobs;
	struct privq		 active;
	unsigned		 inflight;	/* all runs */
	struct host		*hosts[HOST_BUCKETS];
	void			(*hook)(struct run *, enum run_event);
	void			(*shutdown_cb)(void);
	void			(*idle_cb)(void);	/* job_drain() */
	int			 draining;
	int			 resuming;	/* job_resume() at start-up */
	int			 shutting_down;
	unsigned		 nclosing;	/* runs flushing results */
	ev_idle			 admit_idle;
	ev_check		 admit_check;	/* admit_idle, when never idle */
	ev_idle			 drain_idle;	/* reports idle after a drain */
	struct item		*spare;		/* freed items, for item_new() */
	unsigned		 nspare;
} J;

static void	run_finish(struct run *);
static void	run_check_done(struct run *);
static void	job_admit(void);
static void	job_stop(struct run *, enum fclass, const char *);
static void	drain_idle_cb(struct ev_loop *, ev_idle *, int);
static void	host_wake_cb(struct ev_loop *, ev_timer *, int);
static void	admit_soon(void);
static void	job_schedule(struct job *, int64_t);
static struct run *job_start_run(struct job *);
static void	job_prune(struct job *);
static int	unsigned_cmp(const void *, const void *);
static int64_t	now_usec(void);

/* Statistics helpers. */

static unsigned
histo_index(int64_t v)
{
	unsigned	 e = 0;
	uint64_t	 u = v <= 0 ? 0 : (uint64_t)v;

	if (u < HISTO_SUB)
		return ((unsigned)u);
	while ((u >> e) >= 2 * HISTO_SUB)
		e++;
	/* u >> e is in [HISTO_SUB, 2*HISTO_SUB). */
	return ((e + 1) * HISTO_SUB + (unsigned)((u >> e) - HISTO_SUB));
}

static int64_t
histo_value(unsigned idx)
{
	unsigned	 e;

	if (idx < HISTO_SUB)
		return (idx);
	e = idx / HISTO_SUB - 1;
	/* Middle of the bucket. */
	return ((int64_t)(((uint64_t)(idx % HISTO_SUB + HISTO_SUB) << e) +
	    ((1ULL << e) >> 1)));
}

void
histo_add(struct histo *h, int64_t usec)
{
	unsigned	 idx = histo_index(usec);

	if (idx >= HISTO_BUCKETS)
		idx = HISTO_BUCKETS - 1;
	h->b[idx]++;
	h->n++;
}

int64_t
histo_quantile(const struct histo *h, double q)
{
	uint64_t	 want, seen = 0;
	unsigned	 i;

	if (h->n == 0)
		return (0);
	want = (uint64_t)ceil(q * (double)h->n);
	if (want == 0)
		want = 1;
	for (i = 0; i < HISTO_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return (histo_value(i));
	}
	return (histo_value(HISTO_BUCKETS - 1));
}

/* Samples at or below usec (bucket midpoints), for histogram metrics. */
uint64_t
histo_count_le(const struct histo *h, int64_t usec)
{
	uint64_t	 n = 0;
	unsigned	 i;

	for (i = 0; i < HISTO_BUCKETS; i++)
		if (histo_value(i) <= usec)
			n += h->b[i];
	return (n);
}

void
namecount_inc(struct namecount **v, size_t *n, size_t max, const char *name)
{
	size_t	 i;

	for (i = 0; i < *n; i++) {
		if (strcmp((*v)[i].name, name) == 0) {
			(*v)[i].n++;
			return;
		}
	}
	if (*n >= max) {
		name = "other";
		for (i = 0; i < *n; i++) {
			if (strcmp((*v)[i].name, name) == 0) {
				(*v)[i].n++;
				return;
			}
		}
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n].name = xstrdup(name);
	(*v)[*n].n = 1;
	(*n)++;
}

void
runstats_free(struct runstats *st)
{
	size_t	 i;

	for (i = 0; i < st->nerrors; i++)
		free(st->errors[i].name);
	free(st->errors);
	for (i = 0; i < st->nhosts; i++)
		free(st->hosts[i].name);
	free(st->hosts);
	for (i = 0; i < RUN_SLOWEST; i++)
		free(st->slowest[i].url);
	memset(st, 0, sizeof(*st));
}

/* Keep the RUN_SLOWEST slowest successful URLs, slowest first. */
static void
stats_slowest(struct runstats *st, const char *url, int64_t usec)
{
	int	 i, j;

	for (i = 0; i < RUN_SLOWEST; i++)
		if (st->slowest[i].url == NULL || usec > st->slowest[i].usec)
			break;
	if (i == RUN_SLOWEST)
		return;
	free(st->slowest[RUN_SLOWEST - 1].url);
	for (j = RUN_SLOWEST - 1; j > i; j--)
		st->slowest[j] = st->slowest[j - 1];
	st->slowest[i].url = xstrdup(url);
	st->slowest[i].usec = usec;
}

/* Hosts. */

/* FNV-1a of an origin: its bucket, and its home fetch shard (fetch.c). */
static uint32_t
origin_fnv(const char *s)
{
	uint32_t	 h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return (h);
}

static unsigned
host_hash(const char *s)
{
	return (origin_fnv(s) % HOST_BUCKETS);
}

static struct host *
host_get(const char *url)
{
	char		 origin[1024];
	struct host	*h;
	unsigned	 b;

	if (util_url_origin(url, origin, sizeof(origin)) == -1)
		snprintf(origin, sizeof(origin), "invalid");
	b = host_hash(origin);
	for (h = J.hosts[b]; h != NULL; h = h->next)
		if (strcmp(h->origin, origin) == 0)
			break;
	if (h == NULL) {
		h = xcalloc(1, sizeof(*h) + strlen(origin) + 1);
		strcpy(h->origin, origin);
		h->fnv = origin_fnv(origin);
		ev_timer_init(&h->wake, host_wake_cb, 0., 0.);
		h->next = J.hosts[b];
		J.hosts[b] = h;
	}
	h->refs++;
	return (h);
}

static void
host_put(struct host *h)
{
	struct host	**pp;

	if (--h->refs > 0 || h->inflight > 0)
		return;
	/* An origin with a history (paused, down, limited) is remembered. */
	if (h->consec > 0 || h->down || h->limit > 0 ||
	    h->paused_until > now_usec())
		return;
	for (pp = &J.hosts[host_hash(h->origin)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			ev_timer_stop(J.loop, &h->wake);
			free(h);
			return;
		}
	}
}


/*
 * Host politeness.  A 429/503 with Retry-After pauses every queued request
 * to the origin; 429, 503 and timeouts halve its concurrency, each success
 * adds one back up to per-host; after `breaker` consecutive failures the
 * origin is down: its queued URLs fail with host-down, and one probe per
 * backoff period tests whether it is back.
 */

static int64_t
now_usec(void)
{
	return ((int64_t)(ev_now(J.loop) * USEC_PER_SEC));
}

static void
host_wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	job_admit();
}

/* Wake admission at usec (a pause ending, a probe due). */
static void
host_arm(struct host *h, int64_t at)
{
	double	 after = (double)(at - now_usec()) / USEC_PER_SEC;

	if (ev_is_active(&h->wake) && ev_timer_remaining(J.loop, &h->wake) <=
	    after)
		return;
	ev_timer_stop(J.loop, &h->wake);
	ev_timer_set(&h->wake, after > 0 ? after : 0., 0.);
	ev_timer_start(J.loop, &h->wake);
}

/* Transfers a run may have in flight to this origin now. */
static unsigned
host_limit(const struct host *h, const struct jobdef *d)
{
	if (h->limit > 0 && h->limit < d->per_host)
		return (h->limit);
	return (d->per_host);
}

static void
host_log(const struct host *h, const struct run *r, const char *msgid,
    int pri, const char *what)
{
	struct log_fields	 f;

	memset(&f, 0, sizeof(f));
	f.message_id = msgid;
	f.job = r->job->name;
	f.run = r->number;
	f.url = h->origin;
	log_event(pri, &f, "host %s %s", h->origin, what);
}

/* Does this failure count against the origin (breaker, adaptive cap)? */
static int
host_fault(enum fclass fc, int status)
{
	switch (fc) {
	case FC_DNS:
	case FC_CONNECT:
	case FC_TLS:
	case FC_TIMEOUT:
	case FC_STALL:
	case FC_RESET:
		return (1);
	case FC_HTTP:
		return (status >= 500 || status == 429 || status == 408);
	default:
		return (0);
	}
}

static void
host_success(struct host *h, const struct run *r)
{
	h->consec = 0;
	if (h->down) {
		h->down = 0;
		h->probes = 0;
		host_log(h, r, MSGID_HOST_UP, LOG_NOTICE, "is back: probe "
		    "succeeded");
	}
	if (h->limit > 0 && ++h->limit >= r->p->hold->def->per_host)
		h->limit = 0;
}

/* Pause the origin until Retry-After (capped by backoff-max). */
static void
host_pause(struct host *h, const struct run *r, int64_t ra)
{
	const struct jobdef	*d = r->p->hold->def;
	char			 msg[128];
	int64_t			 until;

	if (ra > d->backoff_max)
		ra = d->backoff_max;
	until = now_usec() + ra;
	if (until <= h->paused_until)
		return;
	h->paused_until = until;
	host_arm(h, until);
	snprintf(msg, sizeof(msg), "paused for %.1fs (Retry-After)",
	    (double)ra / USEC_PER_SEC);
	host_log(h, r, MSGID_HOST_PAUSED, LOG_NOTICE, msg);
}

/* Open the breaker, or push the next probe further after a failed one. */
static void
host_trip(struct host *h, const struct run *r, int was_probe)
{
	const struct jobdef	*d = r->p->hold->def;
	int64_t			 wait = d->backoff;
	unsigned		 i;
	char			 msg[160];

	if (h->down && !was_probe)
		return;
	if (was_probe)
		h->probes++;
	for (i = 0; i < h->probes && wait < d->backoff_max; i++)
		wait *= 2;
	if (wait > d->backoff_max)
		wait = d->backoff_max;
	h->probe_at = now_usec() + wait;
	host_arm(h, h->probe_at);
	if (!h->down) {
		h->down = 1;
		snprintf(msg, sizeof(msg), "is down after %u consecutive "
		    "failures; next probe in %.1fs", h->consec,
		    (double)wait / USEC_PER_SEC);
		host_log(h, r, MSGID_HOST_DOWN, LOG_WARNING, msg);
	}
}

/* What one finished attempt tells about its origin. */
static void
host_feedback(struct item *it, enum fclass fc, int64_t ra)
{
	struct host		*h = it->host;
	struct run		*r = it->run;
	const struct jobdef	*d = r->p->hold->def;
	int			 status = it->x.status;
	unsigned		 cur;

	if (it->probe)
		h->probing = 0;
	if (fc == FC_NONE) {
		host_success(h, r);
		return;
	}
	if (!host_fault(fc, status))
		return;
	if ((status == 429 || status == 503) && ra >= 0)
		host_pause(h, r, ra);
	if (status == 429 || status == 503 || fc == FC_TIMEOUT) {
		cur = host_limit(h, d);
		h->limit = cur > 1 ? cur / 2 : 1;
	}
	h->consec++;
	/*
	 * Only with nothing else in flight there: with many transfers at
	 * once, failures that come back first (a 503 is quicker than a 200)
	 * are not yet a verdict on the origin.
	 */
	if (d->breaker > 0 && (it->probe || (h->consec >= d->breaker &&
	    h->inflight == 0)))
		host_trip(h, r, it->probe);
}

/*
 * Rate limit: a token bucket per run.  It holds one token plus up to 50 ms
 * worth (at most one more), so a timer that fires a little late loses no
 * time and the long-run rate holds exactly, with bursts of at most two.
 */
static int
rate_take(struct run_priv *p)
{
	double	 rate = p->rate;
	int64_t	 now = now_usec();
	double	 wait, cap;

	if (rate <= 0)
		return (1);
	cap = 1 + (rate * 0.05 < 1 ? rate * 0.05 : 1);
	p->tokens += (double)(now - p->tokens_at) * rate / USEC_PER_SEC;
	p->tokens_at = now;
	if (p->tokens > cap)
		p->tokens = cap;
	if (p->tokens >= 1 - 1e-9)
		return (1);
	if (!ev_is_active(&p->rate_timer)) {
		wait = (1 - p->tokens) / rate;
		ev_timer_set(&p->rate_timer, wait, 0.);
		ev_timer_start(J.loop, &p->rate_timer);
	}
	return (0);
}

static void
rate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	job_admit();
}

static void
hosts_free(void)
{
	struct host	*h;
	size_t		 b;

	for (b = 0; b < HOST_BUCKETS; b++) {
		while ((h = J.hosts[b]) != NULL) {
			J.hosts[b] = h->next;
			ev_timer_stop(J.loop, &h->wake);
			free(h);
		}
	}
}

/* Definitions shared by jobs and runs. */

static struct defhold *
hold_new(struct jobdef *def)
{
	static uint64_t	 shapes;
	struct defhold	*h = xcalloc(1, sizeof(*h));

	h->def = def;
	h->refs = 1;
	h->shape = ++shapes;
	return (h);
}

static void
hold_put(struct defhold *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	jobdef_free(h->def);
	free(h);
}

/* Items. */

static void	item_done(struct xfer *);

static int
item_on_data(struct xfer *x, const char *p, size_t len)
{
	struct item	*it = x->arg;

	return (body_feed(it->body, p, len));
}

/* Length of "scheme://authority" at the start of a URL. */
static size_t
url_prefix_len(const char *url)
{
	const char	*a = strstr(url, "://");

	if (a == NULL)
		return (0);
	a += 3;
	return ((size_t)(a - url) + strcspn(a, "/?#"));
}

/*
 * The origin of a URL; the run remembers the last one, since the URLs of
 * a glob usually share it (parsing every URL's origin was measurable).
 */
static struct host *
run_host(struct run *r, const char *url)
{
	struct run_priv	*p = r->p;
	struct host	*h;
	size_t		 n = url_prefix_len(url);

	if (p->host_cache != NULL && n > 0 && n == p->host_plen &&
	    memcmp(url, p->host_prefix, n) == 0) {
		p->host_cache->refs++;
		return (p->host_cache);
	}
	h = host_get(url);
	if (p->host_cache != NULL)
		host_put(p->host_cache);
	free(p->host_prefix);
	p->host_cache = h;
	h->refs++;
	p->host_prefix = xstrndup(url, n);
	p->host_plen = n;
	return (h);
}

/*
 * Items are kept on a free list (up to ITEM_SPARE_MAX, with their URL
 * buffers) instead of a calloc and two frees per URL; poisoned meanwhile
 * under AddressSanitizer (fetchd.h).
 */
#define ITEM_SPARE_MAX	1024

static struct item *
item_new(struct run *r, uint64_t i, const char *url)
{
	struct item	*it = J.spare;
	size_t		 n = strlen(url) + 1;
	char		*ubuf = NULL;
	size_t		 ucap = 0;

	if (it != NULL) {
		KEEP_UNPOISON(it, sizeof(*it));
		J.spare = TAILQ_NEXT(it, entry);
		J.nspare--;
		ubuf = it->url;
		ucap = it->url_cap;
		KEEP_UNPOISON(ubuf, ucap);
		memset(it, 0, sizeof(*it));
	} else
		it = xcalloc(1, sizeof(*it));
	if (n > ucap) {
		free(ubuf);
		ucap = n < 64 ? 64 : n;
		ubuf = xmalloc(ucap);
	}
	memcpy(ubuf, url, n);
	it->url = ubuf;
	it->url_cap = ucap;
	it->run = r;
	it->i = i;
	it->host = run_host(r, url);
	it->state = ITEM_PENDING;
	it->queued_at = (int64_t)(ev_now(J.loop) * USEC_PER_SEC);
	return (it);
}

static void
item_free(struct item *it)
{
	if (it == NULL)
		return;
	ev_timer_stop(J.loop, &it->retry);
	fetch_cleanup(&it->x);
	body_free(it->body);
	host_put(it->host);
	if (J.nspare < ITEM_SPARE_MAX) {
		TAILQ_NEXT(it, entry) = J.spare;
		J.spare = it;
		J.nspare++;
		KEEP_POISON(it->url, it->url_cap);
		KEEP_POISON(&it->run, sizeof(*it) - offsetof(struct item, run));
		return;
	}
	free(it->url);
	free(it);
}

static void
items_spare_free(void)
{
	struct item	*it;

	while ((it = J.spare) != NULL) {
		KEEP_UNPOISON(it, sizeof(*it));
		KEEP_UNPOISON(it->url, it->url_cap);
		J.spare = TAILQ_NEXT(it, entry);
		free(it->url);
		free(it);
	}
	J.nspare = 0;
}

/* Resume: one bit per URL index that already has a final record. */
static int
done_has(const struct run_priv *p, uint64_t i)
{
	return (i / 64 < p->ndone && (p->done[i / 64] >> (i % 64) & 1));
}

static void
done_set(struct run_priv *p, uint64_t i)
{
	size_t	 n;

	if (i / 64 >= p->ndone) {
		n = i / 64 + 1 + p->ndone;
		p->done = xreallocarray(p->done, n, sizeof(*p->done));
		memset(p->done + p->ndone, 0, (n - p->ndone) *
		    sizeof(*p->done));
		p->ndone = n;
	}
	p->done[i / 64] |= 1ULL << (i % 64);
}

/* The URL source: url patterns by index, then the urls-file. */

/* Next URL of the run into buf; 0 done, 1 got one. */
static int
source_next(struct run *r, struct buf *url)
{
	struct run_priv		*p = r->p;
	const struct jobdef	*d = p->hold->def;
	char			*cause = NULL, line[16384];
	size_t			 n;

	while (p->retry_fp != NULL) {
		if (!results_next_failed(p->retry_fp, url))
			break;
		if (!r->st.total_known)
			r->st.total++;
		if (!done_has(p, p->next_i))
			return (1);
		p->next_i++;
	}
	if (p->retry_fp != NULL) {
		fclose(p->retry_fp);
		p->retry_fp = NULL;
		return (0);
	}
	if (r->retry_of > 0)
		return (0);
	while (p->pattern < d->urls.n) {
		if (p->glob == NULL && glob_compile(d->urls.v[p->pattern],
		    J.dc->max_urls, &p->glob, &cause) == -1) {
			/* Validated at parse time; cannot happen. */
			free(cause);
			p->pattern++;
			continue;
		}
		if (p->glob_pos < glob_count(p->glob)) {
			if (done_has(p, p->next_i)) {
				/* Fetched before a restart: skip it. */
				p->glob_pos++;
				p->next_i++;
				continue;
			}
			buf_reset(url);
			glob_expand(p->glob, p->glob_pos++, url);
			return (1);
		}
		glob_free(p->glob);
		p->glob = NULL;
		p->glob_pos = 0;
		p->pattern++;
	}
	while (p->urls_fp != NULL && fgets(line, sizeof(line), p->urls_fp)) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n == 0 || line[strspn(line, " \t")] == '#' ||
		    line[strspn(line, " \t")] == '\0')
			continue;
		if (!r->st.total_known)
			r->st.total++;
		if (done_has(p, p->next_i)) {
			p->next_i++;
			continue;
		}
		buf_reset(url);
		buf_adds(url, line + strspn(line, " \t"));
		return (1);
	}
	if (p->urls_fp != NULL) {
		fclose(p->urls_fp);
		p->urls_fp = NULL;
	}
	return (0);
}

/* Fill the window to about 2 x concurrency pending + in flight. */
static void
run_fill(struct run *r)
{
	struct run_priv	*p = r->p;
	struct item	*it;
	struct buf	 url;
	size_t		 want;

	if (p->src_done || p->stop_class != FC_NONE)
		return;
	want = 2 * (size_t)p->concurrency;
	buf_init(&url);
	while (p->npending + r->st.in_flight < want) {
		if (!source_next(r, &url)) {
			p->src_done = 1;
			r->st.total_known = 1;
			break;
		}
		it = item_new(r, p->next_i++, url.data);
		TAILQ_INSERT_TAIL(&p->pending, it, entry);
		p->npending++;
		r->st.queued++;
	}
	buf_free(&url);
}

/* Results. */

static void
run_event(struct run *r, enum run_event ev)
{
	r->version++;
	if (J.hook != NULL)
		J.hook(r, ev);
}

/* Append the final record of an item and account for it. */
static void
item_record(struct item *it, enum fclass fc, const char *error,
    const char *detail)
{
	struct run	*r = it->run;
	struct record	 rec;
	struct log_fields f;

	memset(&rec, 0, sizeof(rec));
	rec.i = it->i;
	rec.url = it->url;
	rec.status = it->x.status;
	rec.error = error;
	rec.detail = detail;
	rec.attempts = it->attempts;
	rec.usec = it->x.t_total;
	rec.queue_usec = it->queue_usec;
	rec.body = error == NULL && !it->unchanged ? it->body : NULL;
	rec.unchanged = it->unchanged;
	if (error == NULL) {
		rec.x = &it->x;
		rec.start_wall = it->start_wall;
	}
	if (r->p->hold->def->conditional && error == NULL) {
		/* Keep the validators: new ones, or those a 304 confirmed. */
		rec.etag = it->x.etag[0] != '\0' ? it->x.etag : it->old_etag;
		rec.last_modified = it->x.last_modified[0] != '\0' ?
		    it->x.last_modified : it->old_lm;
	}
	buf_reset(&r->p->line);
	results_record(&r->p->line, &rec);
	results_append(r->p->rf, r->p->line.data, r->p->line.len);

	r->st.done++;
	if (error == NULL) {
		r->st.ok++;
		histo_add(&r->st.latency, it->x.t_total);
		r->st.latency_sum += it->x.t_total;
		stats_slowest(&r->st, it->url, it->x.t_total);
		if (log_getlevel() < LOG_DEBUG)
			return;		/* the per-success event is debug */
	}
	memset(&f, 0, sizeof(f));
	f.job = r->job->name;
	f.run = r->number;
	f.url = it->url;
	f.status = it->x.status;
	f.attempt = it->attempts;
	f.duration_ms = (double)it->x.t_total / 1000.0;
	f.has_duration = 1;
	if (error == NULL) {
		f.message_id = MSGID_URL_OK;
		log_event(LOG_DEBUG, &f, "%s run %u: %s: %d in %.1f ms",
		    r->job->name, r->number, it->url, it->x.status,
		    f.duration_ms);
		return;
	}
	r->st.failed++;
	namecount_inc(&r->st.errors, &r->st.nerrors, 64, error);
	namecount_inc(&r->st.hosts, &r->st.nhosts, RUN_MAX_HOSTS,
	    it->host->origin);
	f.message_id = MSGID_URL_FAILED;
	f.error = error;
	log_event(fc == FC_CANCELLED ? LOG_INFO : LOG_WARNING, &f,
	    "%s run %u: %s failed after %u attempt%s: %s (%s)", r->job->name,
	    r->number, it->url, it->attempts, it->attempts == 1 ? "" : "s",
	    error, detail != NULL ? detail : "");
}

/* Remove an item from whatever list holds it. */
static void
item_unlink(struct item *it)
{
	struct run_priv	*p = it->run->p;

	switch (it->state) {
	case ITEM_PENDING:
		TAILQ_REMOVE(&p->pending, it, entry);
		p->npending--;
		it->run->st.queued--;
		break;
	case ITEM_INFLIGHT:
		TAILQ_REMOVE(&p->inflight, it, entry);
		it->run->st.in_flight--;
		it->host->inflight--;
		J.inflight--;
		if (J.inflight == 0 && J.draining)
			ev_idle_start(J.loop, &J.drain_idle);
		break;
	case ITEM_WAITING:
		TAILQ_REMOVE(&p->waiting, it, entry);
		ev_timer_stop(J.loop, &it->retry);
		it->run->st.retrying--;
		break;
	}
}

/* Admission. */

static int
item_start(struct item *it)
{
	struct run	*r = it->run;
	struct run_priv	*p = r->p;
	char		*cause = NULL;
	int64_t		 now = (int64_t)(ev_now(J.loop) * USEC_PER_SEC);

	item_unlink(it);
	it->attempt_queue = now - it->queued_at;
	it->queue_usec += it->attempt_queue;
	it->start_wall = util_wallclock_ms();
	it->attempts++;
	r->st.attempts++;
	if (it->attempts > 1)
		r->st.retries++;
	body_free(it->body);
	it->body = body_new(p->hold->def->max_body, p->hold->def->extract);
	memset(&it->x, 0, sizeof(it->x));
	it->x.url = it->url;
	it->x.def = p->hold->def;
	it->x.shape = p->hold->shape;
	it->x.load = it->host->load;
	it->x.origin_hash = it->host->fnv;
	it->x.user_agent = J.dc->user_agent;
	it->x.reqbody = p->reqbody;
	it->x.reqbody_len = p->reqbody_len;
	if (p->val != NULL) {
		results_validators_get(p->val, it->url, &it->old_etag,
		    &it->old_lm);
		it->x.if_none_match = it->old_etag;
		it->x.if_modified_since = it->old_lm;
	}
	it->x.arg = it;
	it->x.on_data = item_on_data;
	it->x.done = item_done;
	it->state = ITEM_INFLIGHT;
	TAILQ_INSERT_TAIL(&p->inflight, it, entry);
	r->st.in_flight++;
	it->host->inflight++;
	J.inflight++;
	if (fetch_start(&it->x, &cause) == -1) {
		item_unlink(it);
		snprintf(it->x.detail, sizeof(it->x.detail), "%s", cause);
		free(cause);
		item_record(it, FC_OTHER, fclass_names[FC_OTHER],
		    it->x.detail);
		item_free(it);
		return (-1);
	}
	return (0);
}

/*
 * The first pending item of a run whose origin may take it now.  Items of
 * an origin that is down fail at once with host-down, except one probe per
 * backoff period; paused origins and full ones are skipped.
 */
static struct item *
run_pick(struct run *r, int *failed)
{
	struct item		*it, *next;
	const struct jobdef	*d = r->p->hold->def;
	struct host		*h;
	int64_t			 now = now_usec();
	int			 n = 0;

	for (it = TAILQ_FIRST(&r->p->pending); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		h = it->host;
		if (h->down && (h->probing || now < h->probe_at)) {
			item_unlink(it);
			it->x.status = 0;
			item_record(it, FC_HOST_DOWN, fclass_names[FC_HOST_DOWN],
			    "host is down (breaker open); not tried");
			item_free(it);
			run_event(r, RUNEV_PROGRESS);
			(*failed)++;
			continue;
		}
		if (h->paused_until > now) {
			host_arm(h, h->paused_until);
		} else if (h->down || h->inflight < host_limit(h, d)) {
			it->probe = h->down;
			if (h->down)
				h->probing = 1;
			return (it);
		}
		if (++n >= SCAN_MAX)
			break;
	}
	return (NULL);
}

/*
 * Pausing.  A paused run starts no transfer; those in flight finish and are
 * recorded.  A results file that cannot be written (a full disk) pauses
 * its run with the reason; a timer has the writer try again every second,
 * and the run goes on by itself once the records are on disk (or at
 * fetchctl resume).
 */
static void
run_set_reason(struct run *r)
{
	free(r->pause_reason);
	r->pause_reason = NULL;
	if (r->paused & PAUSE_DISK)
		xasprintf(&r->pause_reason, "results cannot be written: %s; "
		    "retrying every second", strerror(results_errno(r->p->rf)));
	else if (r->paused & PAUSE_USER)
		r->pause_reason = xstrdup("paused by request");
	run_event(r, RUNEV_PROGRESS);
}

static void
disk_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run_priv	*p = (struct run_priv *)((char *)w -
	    offsetof(struct run_priv, disk_timer));
	struct run	*r = p->run;

	if (p->rf == NULL || results_errno(p->rf) == 0) {
		ev_timer_stop(loop, w);
		r->paused &= ~PAUSE_DISK;
		log_notice("%s run %u: results are written again; going on",
		    r->job->name, r->number);
		run_set_reason(r);
		job_admit();
		return;
	}
	results_kick(p->rf);
}

/* Is the run held back (paused, or its results cannot be written)? */
static int
run_held(struct run *r)
{
	struct run_priv	*p = r->p;
	struct log_fields f;

	if (!(r->paused & PAUSE_DISK) && p->rf != NULL &&
	    results_errno(p->rf) != 0) {
		r->paused |= PAUSE_DISK;
		run_set_reason(r);
		memset(&f, 0, sizeof(f));
		f.job = r->job->name;
		f.run = r->number;
		log_event(LOG_WARNING, &f, "%s run %u paused: %s", r->job->name,
		    r->number, r->pause_reason);
		ev_timer_init(&p->disk_timer, disk_cb, 1., 1.);
		ev_timer_start(J.loop, &p->disk_timer);
	}
	return (r->paused != 0);
}

/*
 * set: change the concurrency or the rate of a running run (not of the
 * job's definition: later runs use the file's values).
 */
int
job_set(struct run *r, const char *key, const char *value, char **cause)
{
	uint64_t	 n;
	char		*end;
	double		 d;

	if (RUN_FINISHED(r) || r->closing) {
		xasprintf(cause, "run %u of '%s' already finished", r->number,
		    r->job->name);
		return (-1);
	}
	if (strcmp(key, "concurrency") == 0) {
		if (util_parse_uint(value, 1, 100000, &n, cause) == -1)
			return (-1);
		r->p->concurrency = (unsigned)n;
	} else if (strcmp(key, "rate") == 0) {
		if (strcmp(value, "unlimited") == 0)
			d = 0;
		else {
			d = strtod(value, &end);
			if (end == value || *end != '\0' || !(d >= 0) ||
			    d > 1e9) {
				xasprintf(cause, "expected a rate (requests "
				    "per second) or unlimited, got '%s'", value);
				return (-1);
			}
		}
		r->p->rate = d;
		r->p->tokens = 1;
		r->p->tokens_at = now_usec();
	} else {
		xasprintf(cause, "'%s' cannot be set at run time (concurrency "
		    "or rate)", key);
		return (-1);
	}
	log_info("%s run %u: %s set to %s", r->job->name, r->number, key,
	    value);
	run_event(r, RUNEV_PROGRESS);
	admit_soon();
	return (0);
}

int
job_pause(struct run *r, const char *why)
{
	if (RUN_FINISHED(r) || r->closing)
		return (-1);
	r->paused |= PAUSE_USER;
	run_set_reason(r);
	log_info("%s run %u paused: %s", r->job->name, r->number, why);
	return (0);
}

int
job_unpause(struct run *r)
{
	if (RUN_FINISHED(r) || r->closing)
		return (-1);
	r->paused &= ~PAUSE_USER;
	if (r->paused & PAUSE_DISK)
		results_kick(r->p->rf);
	run_set_reason(r);
	log_info("%s run %u resumed by request", r->job->name, r->number);
	admit_soon();
	return (0);
}

/*
 * Start transfers while there is room: one per active run in turn, so runs
 * share max-connections fairly, each within its concurrency and per-host.
 * At most ADMIT_BATCH per call, so that one loop iteration stays short (a
 * control request waits for it); the next batch comes in the next one.
 */
static void
job_admit(void)
{
	struct run_priv	*p, *next;
	struct item	*it;
	int		 progress = 1, failed, n = 0;

	if (J.shutting_down || J.draining)
		return;
	while (progress && J.inflight < J.dc->max_connections) {
		progress = 0;
		TAILQ_FOREACH_SAFE(p, &J.active, active, next) {
			if (J.inflight >= J.dc->max_connections)
				break;
			if (n == ADMIT_BATCH) {
				admit_soon();
				return;
			}
			if (p->stop_class != FC_NONE || p->flushing ||
			    p->run->st.in_flight >= p->concurrency ||
			    run_held(p->run))
				continue;
			run_fill(p->run);
			if (!TAILQ_EMPTY(&p->pending) && !rate_take(p))
				continue;
			failed = 0;
			if ((it = run_pick(p->run, &failed)) == NULL) {
				/* URLs failed fast leave room: go round again. */
				if (failed > 0)
					progress = 1;
				run_check_done(p->run);
				continue;
			}
			if (p->rate > 0)
				p->tokens -= 1;
			item_start(it);
			n++;
			progress = 1;
			/* Round robin: the next slot goes to the next run. */
			TAILQ_REMOVE(&J.active, p, active);
			TAILQ_INSERT_TAIL(&J.active, p, active);
		}
	}
}

/*
 * Admission after the current callback, from the loop: when it is idle, or
 * from an ev_check in the next iteration (a busy loop is never idle; the
 * active ev_idle keeps it from blocking until then).
 */
static void
admit_later(void)
{
	ev_idle_stop(J.loop, &J.admit_idle);
	ev_check_stop(J.loop, &J.admit_check);
	job_admit();
}

static void
admit_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	admit_later();
}

static void
admit_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	admit_later();
}

static void
admit_soon(void)
{
	ev_idle_start(J.loop, &J.admit_idle);
	ev_check_start(J.loop, &J.admit_check);
}

/* Completions. */

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct item	*it = (struct item *)((char *)w -
	    offsetof(struct item, retry));
	struct run_priv	*p = it->run->p;

	item_unlink(it);
	it->state = ITEM_PENDING;
	it->queued_at = (int64_t)(ev_now(loop) * USEC_PER_SEC);
	/* Retries go first: they are the oldest work of the run. */
	TAILQ_INSERT_HEAD(&p->pending, it, entry);
	p->npending++;
	it->run->st.queued++;
	job_admit();
}

#define RETRY_BUDGET_FLOOR	10	/* retries always allowed per run */

/*
 * Should this failed attempt be retried?  RETRY_YES sets *delay; RETRY_BUDGET
 * means it would be, but the run's retry budget (a share of its URLs, at
 * least RETRY_BUDGET_FLOOR) is spent.
 */
enum { RETRY_NO, RETRY_YES, RETRY_SPENT };
static int
item_retryable(struct item *it, enum fclass fc, int64_t ra, int64_t *delay,
    char *why, size_t len)
{
	struct run		*r = it->run;
	const struct jobdef	*d = r->p->hold->def;
	double			 budget;
	char			 b[32];

	if (r->p->stop_class != FC_NONE)
		return (snprintf(why, len, "the run is stopping"), RETRY_NO);
	if (!retry_covers(d->retry_on, fc, it->x.status))
		return (snprintf(why, len, "not in retry-on"), RETRY_NO);
	if (it->attempts > d->retries)
		return (snprintf(why, len, "retries spent (%u attempts)",
		    it->attempts), RETRY_NO);
	if (!d->retry_unsafe && !retry_idempotent(d->method))
		return (snprintf(why, len, "%s is not idempotent and "
		    "retry-unsafe is off", d->method), RETRY_NO);
	*delay = retry_delay(d, it->attempts, ra, drand48());
	if (d->deadline > 0 && now_usec() + *delay > r->started + d->deadline)
		return (snprintf(why, len, "a retry in %.1fms would pass the "
		    "deadline", (double)*delay / 1000.0), RETRY_NO);
	budget = d->retry_budget * (double)r->st.total;
	if (budget < RETRY_BUDGET_FLOOR)
		budget = RETRY_BUDGET_FLOOR;
	if ((double)r->p->retries_granted + 1 > budget)
		return (snprintf(why, len, "retry budget spent (%.0f retries)",
		    budget), RETRY_SPENT);
	r->p->retries_granted++;
	util_format_duration(d->backoff, b, sizeof(b));
	snprintf(why, len, "in retry-on; attempt %u of %u; backoff %s x 2^%u "
	    "with full jitter%s: waiting %.1fms", it->attempts, d->retries + 1,
	    b, it->attempts - 1, ra >= 0 ? ", Retry-After honoured" : "",
	    (double)*delay / 1000.0);
	return (RETRY_YES);
}

/* One line of RUN.attempts.ndjson, for explain. */
static void
item_log_attempt(struct item *it, const char *error, const char *decision,
    int64_t delay, const char *why)
{
	struct run_priv	*p = it->run->p;
	struct attempt	 a;

	if (p->af == NULL)
		return;
	memset(&a, 0, sizeof(a));
	a.i = it->i;
	a.url = it->url;
	a.n = it->attempts;
	a.start_wall = it->start_wall;
	a.queue_usec = it->attempt_queue;
	a.x = &it->x;
	a.error = error;
	a.decision = decision;
	a.delay_usec = delay;
	a.why = why;
	buf_reset(&p->line);
	results_attempt(&p->line, &a);
	results_append(p->af, p->line.data, p->line.len);
}

/* A final failure: abort-after may stop the rest of the run. */
static void
run_count_failure(struct run *r)
{
	const struct jobdef	*d = r->p->hold->def;
	char			 why[96];

	if (d->abort_after == 0 || ++r->p->final_failures < d->abort_after ||
	    r->p->stop_class != FC_NONE)
		return;
	r->p->aborted = 1;
	snprintf(why, sizeof(why), "abort-after: %llu URLs failed",
	    (unsigned long long)r->p->final_failures);
	job_stop(r, FC_CANCELLED, why);
}

static int
status_expected(const struct jobdef *d, int status)
{
	size_t	 i;

	for (i = 0; i < d->nexpect; i++)
		if (status >= d->expect[i].lo && status <= d->expect[i].hi)
			return (1);
	return (0);
}

/* Copy a short name (truncated to len). */
static void
name_copy(char *name, size_t len, const char *s)
{
	size_t	 n = strlen(s);

	if (n >= len)
		n = len - 1;
	memcpy(name, s, n);
	name[n] = '\0';
}

/* The class of a finished attempt, with HTTP status and body checked. */
static enum fclass
item_outcome(struct item *it, char *name, size_t len)
{
	struct xfer		*x = &it->x;
	enum fclass		 fc = x->fclass;
	char			*cause = NULL;

	if (fc == FC_NONE && x->status == 304 && it->run->p->val != NULL) {
		it->unchanged = 1;	/* conditional: same as last run */
		name_copy(name, len, fclass_names[FC_NONE]);
		return (FC_NONE);
	}
	if (fc == FC_NONE && !status_expected(it->run->p->hold->def,
	    x->status))
		fc = FC_HTTP;
	if (fc == FC_NONE && body_finish(it->body, &cause) == -1) {
		fc = FC_BAD_BODY;
		snprintf(x->detail, sizeof(x->detail), "%s", cause);
		free(cause);
	}
	if (fc == FC_HTTP) {
		snprintf(name, len, "http_%03d", x->status);
		snprintf(x->detail, sizeof(x->detail), "HTTP status %d",
		    x->status);
	} else
		name_copy(name, len, fclass_names[fc]);
	return (fc);
}

static void
item_wait(struct item *it, int64_t delay)
{
	struct run	*r = it->run;

	it->state = ITEM_WAITING;
	TAILQ_INSERT_TAIL(&r->p->waiting, it, entry);
	r->st.retrying++;
	ev_timer_init(&it->retry, retry_cb, (double)delay / USEC_PER_SEC, 0.);
	ev_timer_start(J.loop, &it->retry);
}

/* A transfer finished: success, retry, or final failure. */
static void
item_done(struct xfer *x)
{
	struct item	*it = x->arg;
	struct run	*r = it->run;
	enum fclass	 fc;
	char		 name[32], detail[256], why[256];
	int64_t		 delay = -1, ra;

	item_unlink(it);
	fetch_cleanup(x);
	if (x->start_failed) {
		/* As when fetch_start() fails on the loop thread's shard. */
		item_record(it, FC_OTHER, fclass_names[FC_OTHER], x->detail);
		item_free(it);
		run_event(r, RUNEV_PROGRESS);
		run_check_done(r);
		return;
	}
	r->st.bytes += x->bytes;
	fc = item_outcome(it, name, sizeof(name));
	ra = x->retry_after[0] == '\0' ? -1 :
	    retry_after_parse(x->retry_after, time(NULL));
	host_feedback(it, fc, ra);
	if (fc == FC_NONE) {
		/*
		 * A first try that succeeded is told by its record, phase
		 * times included; explain reads it there (control_cmd.c).
		 */
		if (it->attempts > 1 || x->retry_after[0] != '\0')
			item_log_attempt(it, NULL, "ok", -1, NULL);
		item_record(it, fc, NULL, NULL);
		item_free(it);
		run_event(r, RUNEV_PROGRESS);
		run_check_done(r);
		return;
	}
	switch (item_retryable(it, fc, ra, &delay, why, sizeof(why))) {
	case RETRY_YES:
		item_log_attempt(it, name, "retry", delay, why);
		log_debug("%s run %u: %s: %s, %s", r->job->name, r->number,
		    it->url, name, why);
		item_wait(it, delay);
		run_event(r, RUNEV_PROGRESS);
		return;
	case RETRY_SPENT:
		item_log_attempt(it, name, "final", -1, why);
		/* Truncation of the detail text is fine. */
		if (snprintf(detail, sizeof(detail), "retry budget spent; "
		    "last attempt: %s: %.150s", name, x->detail) > 0)
			memcpy(x->detail, detail, sizeof(x->detail));
		fc = FC_BUDGET;
		snprintf(name, sizeof(name), "%s", fclass_names[fc]);
		break;
	default:
		item_log_attempt(it, name, "final", -1, why);
		break;
	}
	item_record(it, fc, name, x->detail);
	item_free(it);
	run_event(r, RUNEV_PROGRESS);
	run_count_failure(r);
	run_check_done(r);
}

/* Runs. */

static struct run *
run_new(struct job *j)
{
	struct run	*r = xcalloc(1, sizeof(*r));
	struct run_priv	*p = xcalloc(1, sizeof(*p));

	r->p = p;
	p->run = r;
	r->job = j;
	r->number = ++j->last_number;
	TAILQ_INIT(&p->pending);
	TAILQ_INIT(&p->inflight);
	TAILQ_INIT(&p->waiting);
	buf_init(&p->line);
	ev_timer_init(&p->rate_timer, rate_cb, 0., 0.);
	ev_timer_init(&p->disk_timer, disk_cb, 1., 1.);
	p->tokens = 1;
	p->tokens_at = now_usec();
	TAILQ_INSERT_TAIL(&j->runs, r, entry);
	j->nruns++;
	return (r);
}

/* Drop every URL the run holds, in flight or not, without a record. */
static void
run_drop_items(struct run_priv *p)
{
	struct item	*it;

	TAILQ_FOREACH(it, &p->inflight, entry)
		fetch_cancel_begin(&it->x);	/* one round trip for all */
	while ((it = TAILQ_FIRST(&p->inflight)) != NULL ||
	    (it = TAILQ_FIRST(&p->waiting)) != NULL ||
	    (it = TAILQ_FIRST(&p->pending)) != NULL) {
		fetch_cancel(&it->x);
		item_unlink(it);
		item_free(it);
	}
}

/* A run leaves the active list: its timers stop, the attempt log closes. */
static void
run_deactivate(struct run_priv *p)
{
	TAILQ_REMOVE(&J.active, p, active);
	ev_timer_stop(J.loop, &p->deadline);
	ev_timer_stop(J.loop, &p->rate_timer);
	ev_timer_stop(J.loop, &p->disk_timer);
	if (p->af != NULL) {
		results_close(p->af, NULL, NULL, NULL);
		p->af = NULL;
	}
}

static void
run_free(struct run *r)
{
	struct run_priv	*p = r->p;

	run_drop_items(p);
	if (p->rf != NULL)
		results_close(p->rf, NULL, NULL, NULL);
	if (p->af != NULL)
		results_close(p->af, NULL, NULL, NULL);
	ev_timer_stop(J.loop, &p->rate_timer);
	ev_timer_stop(J.loop, &p->disk_timer);
	free(r->pause_reason);
	glob_free(p->glob);
	if (p->urls_fp != NULL)
		fclose(p->urls_fp);
	if (p->retry_fp != NULL)
		fclose(p->retry_fp);
	free(p->done);
	results_validators_free(p->val);
	if (p->host_cache != NULL)
		host_put(p->host_cache);
	free(p->host_prefix);
	free(p->reqbody);
	buf_free(&p->line);
	hold_put(p->hold);
	runstats_free(&r->st);
	free(r->reason);
	free(r->path);
	free(p);
	free(r);
}

/* Drop the oldest finished runs beyond the job's keep. */
static void
job_trim(struct job *j)
{
	struct run	*r, *next;
	unsigned	 keep = j->def->keep > 0 ? j->def->keep : 1;

	for (r = TAILQ_FIRST(&j->runs); r != NULL && j->nruns > keep;
	    r = next) {
		next = TAILQ_NEXT(r, entry);
		if (!RUN_FINISHED(r) || r->closing)
			continue;
		TAILQ_REMOVE(&j->runs, r, entry);
		j->nruns--;
		run_free(r);
	}
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run_priv	*p = (struct run_priv *)((char *)w -
	    offsetof(struct run_priv, deadline));

	job_stop(p->run, FC_DEADLINE, "deadline reached");
}

/* Read the body-file once per run; bounded by max-body. */
static int
run_load_body(struct run *r, char **cause)
{
	const struct jobdef	*d = r->p->hold->def;

	if (d->body != NULL) {
		r->p->reqbody = xstrdup(d->body);
		r->p->reqbody_len = strlen(d->body);
		return (0);
	}
	if (d->body_file == NULL)
		return (0);
	return (parse_read_file(d->body_file, d->max_body, &r->p->reqbody,
	    &r->p->reqbody_len, cause));
}

/*
 * conditional: the validators of the newest finished run before this one
 * (the newest run number below ours that has a summary).
 */
static void
run_load_validators(struct run *r)
{
	char		*path, *sum;
	struct stat	 st;
	unsigned	 n;

	for (n = r->number - 1; n > 0 && n + 100 > r->number; n--) {
		xasprintf(&sum, "%s/results/%s/%u.summary.json",
		    J.dc->state_dir, r->job->name, n);
		xasprintf(&path, "%s/results/%s/%u.ndjson", J.dc->state_dir,
		    r->job->name, n);
		if (stat(sum, &st) == 0)
			r->p->val = results_validators(path);
		free(sum);
		free(path);
		if (r->p->val != NULL)
			return;
	}
	/* The first run: still send nothing, but record the validators. */
	r->p->val = NULL;
}

/* Open the run's sources and results file and make it active. */
static int
run_start(struct run *r, char **cause)
{
	struct run_priv		*p = r->p;
	const struct jobdef	*d = p->hold->def;
	struct log_fields	 f;
	uint64_t		 i;
	struct glob		*g;

	p->concurrency = d->concurrency;
	p->rate = d->rate;
	for (i = 0; i < d->urls.n && p->retry_fp == NULL; i++) {
		if (glob_compile(d->urls.v[i], J.dc->max_urls, &g, cause) ==
		    -1)
			return (-1);
		r->st.total += glob_count(g);
		glob_free(g);
	}
	if (d->urls_file != NULL && p->retry_fp == NULL &&
	    (p->urls_fp = fopen(d->urls_file, "re")) == NULL) {
		xasprintf(cause, "urls-file %s: %s", d->urls_file,
		    strerror(errno));
		return (-1);
	}
	r->st.total_known = p->urls_fp == NULL &&
	    (p->retry_fp == NULL || r->st.total > 0);
	if (run_load_body(r, cause) == -1)
		return (-1);
	if ((p->rf = results_open(J.dc->state_dir, r->job->name, r->number,
	    cause)) == NULL)
		return (-1);
	if ((p->af = results_open_attempts(J.dc->state_dir, r->job->name,
	    r->number, cause)) == NULL)
		return (-1);
	if (d->conditional)
		run_load_validators(r);
	r->path = xstrdup(results_path(p->rf));
	r->state = RUN_RUNNING;
	r->started = (int64_t)(ev_now(J.loop) * USEC_PER_SEC);
	r->started_wall = util_wallclock_ms();
	TAILQ_INSERT_TAIL(&J.active, p, active);
	if (d->deadline > 0) {
		ev_timer_init(&p->deadline, deadline_cb,
		    (double)d->deadline / USEC_PER_SEC, 0.);
		ev_timer_start(J.loop, &p->deadline);
	}
	memset(&f, 0, sizeof(f));
	f.message_id = MSGID_RUN_STARTED;
	f.job = r->job->name;
	f.run = r->number;
	if (d->insecure)
		log_event(LOG_WARNING, &f, "%s run %u: insecure = yes: TLS "
		    "certificates and host names are not verified",
		    r->job->name, r->number);
	log_event(LOG_INFO, &f, "%s run %u started: %llu URLs%s", r->job->name,
	    r->number, (unsigned long long)r->st.total,
	    r->st.total_known ? "" : " and a urls-file");
	run_event(r, RUNEV_STARTED);
	admit_soon();
	return (0);
}

/* Is the run out of work?  Then finish it. */
static void
run_check_done(struct run *r)
{
	struct run_priv	*p = r->p;

	if (RUN_FINISHED(r) || r->closing || r->state != RUN_RUNNING)
		return;
	if (!p->src_done && p->stop_class == FC_NONE)
		return;
	if (p->npending > 0 && p->stop_class == FC_NONE)
		return;
	if (r->st.in_flight > 0 || r->st.retrying > 0)
		return;
	run_finish(r);
}

static void
run_closed(void *arg)
{
	struct run		*r = arg;
	struct log_fields	 f;
	int			 pri;

	r->closing = 0;
	J.nclosing--;
	memset(&f, 0, sizeof(f));
	f.job = r->job->name;
	f.run = r->number;
	f.has_duration = 1;
	f.duration_ms = (double)(r->ended - r->started) / 1000.0;
	switch (r->state) {
	case RUN_DONE:
		f.message_id = MSGID_RUN_DONE;
		pri = LOG_INFO;
		break;
	case RUN_PARTIAL:
		f.message_id = MSGID_RUN_PARTIAL;
		pri = LOG_NOTICE;
		break;
	default:
		f.message_id = MSGID_RUN_FAILED;
		pri = r->state == RUN_CANCELLED ? LOG_NOTICE : LOG_ERR;
		break;
	}
	log_event(pri, &f, "%s run %u %s: %llu ok, %llu failed of %llu in "
	    "%.1fs%s%s", r->job->name, r->number, run_state_names[r->state],
	    (unsigned long long)r->st.ok, (unsigned long long)r->st.failed,
	    (unsigned long long)r->st.total, f.duration_ms / 1000.0,
	    r->reason ? ": " : "", r->reason ? r->reason : "");
	run_event(r, RUNEV_FINISHED);
	job_trim(r->job);
	job_prune(r->job);
	if (r->job->queued && !J.shutting_down) {
		r->job->queued = 0;
		job_start_run(r->job);
	}
	if (J.shutting_down && TAILQ_EMPTY(&J.active) && J.nclosing == 0)
		J.shutdown_cb();
}

/* The final state from the counts and the success policy. */
static enum run_state
run_outcome(struct run *r)
{
	const struct jobdef	*d = r->p->hold->def;
	double			 need;

	if (r->p->aborted)
		return (RUN_FAILED);
	if (r->p->stop_class == FC_CANCELLED)
		return (RUN_CANCELLED);
	if (r->st.ok == r->st.total && r->st.failed == 0 && r->st.total > 0)
		return (RUN_DONE);
	need = d->min_success_pct ? d->min_success * (double)r->st.total :
	    d->min_success;
	if (need < 1)
		need = 1;
	if ((double)r->st.ok >= need)
		return (RUN_PARTIAL);
	if (r->reason == NULL)
		r->reason = xstrdup(r->st.total == 0 ? "the job has no URLs" :
		    "too few URLs succeeded (min-success)");
	return (RUN_FAILED);
}

static void
run_finish(struct run *r)
{
	struct run_priv	*p = r->p;
	char		*summary;

	run_deactivate(p);
	r->state = run_outcome(r);
	r->ended = (int64_t)(ev_now(J.loop) * USEC_PER_SEC);
	r->ended_wall = util_wallclock_ms();
	r->closing = 1;
	J.nclosing++;
	summary = results_summary(r);
	results_close(p->rf, summary, run_closed, r);
	p->rf = NULL;
}

/*
 * Stop a run early (cancel, deadline, shutdown): what is in flight or
 * waiting gets a record with the class; URLs not started are not fetched.
 */
static void
job_stop(struct run *r, enum fclass fc, const char *why)
{
	struct run_priv	*p = r->p;
	struct item	*it;

	if (RUN_FINISHED(r) || r->closing || p->stop_class != FC_NONE)
		return;
	if (p->flushing) {
		/*
		 * A done() of the flush below stops the run (abort-after):
		 * that failure came first, so its class and reason win; the
		 * outer call stops the run once the flush is over.
		 */
		if (p->flush_fc == FC_NONE) {
			p->flush_fc = fc;
			if (r->reason == NULL)
				r->reason = xstrdup(why);
		}
		return;
	}
	/*
	 * Transfers a fetch thread finished, waiting for their done(): their
	 * results stand (on the loop thread's shard done() would have run
	 * already).  A done() may finish this run meanwhile, or stop it
	 * (above); admission leaves the run alone until then.
	 */
	p->flushing = 1;
	p->flush_fc = FC_NONE;
	fetch_flush();
	p->flushing = 0;
	if (RUN_FINISHED(r) || r->closing || p->stop_class != FC_NONE) {
		admit_later();
		return;
	}
	if (p->flush_fc != FC_NONE) {
		fc = p->flush_fc;
		why = r->reason;
	}
	p->stop_class = fc;
	if (r->reason == NULL)
		r->reason = xstrdup(why);
	TAILQ_FOREACH(it, &p->inflight, entry)
		fetch_cancel_begin(&it->x);	/* one round trip for all */
	while ((it = TAILQ_FIRST(&p->inflight)) != NULL ||
	    (it = TAILQ_FIRST(&p->waiting)) != NULL) {
		fetch_cancel(&it->x);
		item_unlink(it);
		it->x.status = 0;
		item_record(it, fc, fclass_names[fc], why);
		item_free(it);
	}
	while ((it = TAILQ_FIRST(&p->pending)) != NULL) {
		item_unlink(it);
		item_free(it);
	}
	run_event(r, RUNEV_PROGRESS);
	run_check_done(r);
	admit_later();		/* the slots freed go to other runs */
}

int
job_cancel(struct run *r, const char *why)
{
	if (RUN_FINISHED(r) || r->closing)
		return (-1);
	job_stop(r, FC_CANCELLED, why);
	return (0);
}

/* Jobs. */

struct jobq *
job_list(void)
{
	return (&J.jobs);
}

struct job *
job_find(const char *name)
{
	struct job	*j;

	TAILQ_FOREACH(j, &J.jobs, entry)
		if (strcmp(j->name, name) == 0)
			return (j);
	return (NULL);
}

struct run *
job_run(struct job *j, unsigned n)
{
	struct run	*r;

	if (n == 0)
		return (TAILQ_LAST(&j->runs, runq));
	TAILQ_FOREACH(r, &j->runs, entry)
		if (r->number == n)
			return (r);
	return (NULL);
}

unsigned
job_running(void)
{
	struct run_priv	*p;
	unsigned	 n = 0;

	TAILQ_FOREACH(p, &J.active, active)
		n++;
	return (n);
}

/* A run that could not start: failed at once, with the reason logged. */
static void
run_not_started(struct run *r, char *why)
{
	struct log_fields	 f;

	r->state = RUN_FAILED;
	r->reason = xstrdup(why);
	r->started_wall = r->ended_wall = util_wallclock_ms();
	r->started = r->ended = (int64_t)(ev_now(J.loop) * USEC_PER_SEC);
	memset(&f, 0, sizeof(f));
	f.message_id = MSGID_RUN_FAILED;
	f.job = r->job->name;
	f.run = r->number;
	f.error = "start";
	log_event(LOG_ERR, &f, "%s run %u failed to start: %s", r->job->name,
	    r->number, why);
	run_event(r, RUNEV_FINISHED);
}

/*
 * Saved definitions: STATE/jobs/NAME.conf, the normalized text of the job
 * (printconf), written to a temporary name, fsync'd and renamed, so a job
 * submitted at run time is known again after a restart.  This happens at
 * submit or reload, off the transfer path, but on the loop: the fsyncs
 * took 10-15 ms here, so a definition already saved with the same text
 * (the same job submitted again) is not written again.
 */
static int
fsync_dir(const char *dir)
{
	int	 fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

static void
job_persist(struct job *j)
{
	struct jobfile	 jf;
	struct jobdef	*one[1];
	char		*dir, *path, *tmp, *text = NULL, *old = NULL;
	char		*cause = NULL;
	size_t		 len = 0, oldlen;
	FILE		*fp;
	int		 ok, fd;

	xasprintf(&dir, "%s/jobs", J.dc->state_dir);
	xasprintf(&path, "%s/%s.conf", dir, j->name);
	xasprintf(&tmp, "%s.tmp", path);
	one[0] = j->def;
	jf.jobs = one;
	jf.njobs = 1;
	if ((fp = open_memstream(&text, &len)) == NULL)
		fatal("open_memstream");
	printconf_jobs_saved(fp, &jf);
	if (fclose(fp) != 0)
		fatal("open_memstream");
	if (parse_read_file(path, len + 1, &old, &oldlen, &cause) == 0 &&
	    oldlen == len && memcmp(old, text, len) == 0)
		ok = 1;			/* saved already */
	else {
		/* 0600: it keeps the values of secret headers (printconf.c). */
		fp = NULL;
		if (util_mkdirs(dir, 0750) == 0 && (unlink(tmp) == 0 ||
		    errno == ENOENT) && (fd = open(tmp, O_WRONLY | O_CREAT |
		    O_EXCL | O_CLOEXEC, 0600)) != -1 &&
		    (fp = fdopen(fd, "w")) == NULL)
			close(fd);
		ok = fp != NULL;
		if (ok) {
			ok = fwrite(text, 1, len, fp) == len &&
			    fflush(fp) == 0 && fsync(fileno(fp)) == 0;
			ok = fclose(fp) == 0 && ok;
			ok = ok && rename(tmp, path) == 0 &&
			    fsync_dir(dir) == 0;
		}
	}
	if (!ok)
		log_warn("saving job %s to %s; it will not survive a restart",
		    j->name, path);
	free(cause);
	free(old);
	free(text);
	free(dir);
	free(path);
	free(tmp);
}

/*
 * The run numbers N of the files N<suffix> in a results directory,
 * ascending, in a malloc'd array (NULL when there are none).
 */
static size_t
run_numbers(const char *dir, const char *suffix, unsigned **out)
{
	DIR		*d;
	struct dirent	*de;
	unsigned long	 n;
	char		*end;
	size_t		 nv = 0;

	*out = NULL;
	if ((d = opendir(dir)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		n = strtoul(de->d_name, &end, 10);
		if (n == 0 || n > UINT32_MAX || strcmp(end, suffix) != 0)
			continue;
		*out = xreallocarray(*out, nv + 1, sizeof(**out));
		(*out)[nv++] = (unsigned)n;
	}
	closedir(d);
	if (nv > 0)
		qsort(*out, nv, sizeof(**out), unsigned_cmp);
	return (nv);
}

/*
 * Periodic jobs (every).  A job's timer fires once per period; the first
 * one of a job defined from a file (jobs-dir, or saved jobs at start-up)
 * comes at an offset within the period taken from a hash of its name, so
 * many jobs with the same period do not start at once.  When the previous
 * run is still going, overlap decides: skip this one, queue it (it starts
 * when the previous run ends), or cancel the previous run.
 */
static void
every_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job	*j = (struct job *)((char *)w - offsetof(struct job,
	    every));
	struct run	*last = job_run(j, 0);

	j->next_run = util_wallclock_ms() +
	    (int64_t)(w->repeat * 1000.0);
	if (last != NULL && (!RUN_FINISHED(last) || last->closing)) {
		switch (j->def->overlap) {
		case OVERLAP_SKIP:
			log_info("%s: run %u still going; this period's run "
			    "is skipped (overlap = skip)", j->name,
			    last->number);
			return;
		case OVERLAP_QUEUE:
			log_info("%s: run %u still going; the next run waits "
			    "for it (overlap = queue)", j->name, last->number);
			j->queued = 1;
			return;
		case OVERLAP_CANCEL:
			job_cancel(last, "a new periodic run starts "
			    "(overlap = cancel)");
			break;
		}
	}
	job_start_run(j);
}

/* Arm the job's timer: first run after delay, then every period. */
static void
job_schedule(struct job *j, int64_t delay)
{
	double	 every = (double)j->def->every / USEC_PER_SEC;

	ev_timer_stop(J.loop, &j->every);
	j->next_run = 0;
	if (j->def->every <= 0)
		return;
	ev_timer_init(&j->every, every_cb, (double)delay / USEC_PER_SEC,
	    every);
	ev_timer_start(J.loop, &j->every);
	j->next_run = util_wallclock_ms() + delay / 1000;
}

/* The offset of a job's first periodic run within its period. */
static int64_t
job_offset(const struct job *j)
{
	const char	*c;
	uint64_t	 h = 1469598103934665603ULL;

	for (c = j->name; *c != '\0'; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return ((int64_t)(h % (uint64_t)j->def->every));
}

static int64_t
job_offset_or0(const struct job *j)
{
	return (j->def->every > 0 ? job_offset(j) : 0);
}

/* A new run of the job now; NULL if it could not start (logged). */
static struct run *
job_start_run(struct job *j)
{
	struct run	*r;
	char		*why = NULL;

	r = run_new(j);
	r->p->hold = j->hold;
	j->hold->refs++;
	if (run_start(r, &why) == -1) {
		run_not_started(r, why);
		free(why);
		return (NULL);
	}
	return (r);
}

/*
 * Keep: the files of finished runs beyond the job's `keep` newest are
 * removed, results first and the summary last, so a crash in between
 * never leaves a results file that looks unfinished (it would resume).
 * A reader with the file open keeps reading it.
 */
static void
job_prune(struct job *j)
{
	static const char *const ext[] = {
		"ndjson", "attempts.ndjson", "resumes", "retry", "summary.json"
	};
	char		*dir, *path;
	unsigned	*v;
	size_t		 nv, i, k;

	xasprintf(&dir, "%s/results/%s", J.dc->state_dir, j->name);
	nv = run_numbers(dir, ".summary.json", &v);
	for (i = 0; i + j->def->keep < nv; i++) {
		for (k = 0; k < nitems(ext); k++) {
			xasprintf(&path, "%s/%u.%s", dir, v[i], ext[k]);
			if (unlink(path) == -1 && errno != ENOENT)
				log_warn("keep: %s", path);
			free(path);
		}
		log_debug("%s: run %u pruned (keep = %u)", j->name, v[i],
		    j->def->keep);
	}
	free(v);
	free(dir);
}

/* Find or create the job of this definition; the job takes def. */
static struct job *
job_define(struct jobdef *def)
{
	struct job	*j;
	unsigned	 last;

	if ((j = job_find(def->name)) == NULL) {
		j = xcalloc(1, sizeof(*j));
		j->name = xstrdup(def->name);
		TAILQ_INIT(&j->runs);
		TAILQ_INSERT_TAIL(&J.jobs, j, entry);
		J.njobs++;
	}
	hold_put(j->hold);
	j->hold = hold_new(def);
	j->def = def;
	if (!J.resuming)
		job_persist(j);
	/* Run numbers continue after a restart: ask the results directory. */
	last = results_last_run(J.dc->state_dir, j->name);
	if (last > j->last_number)
		j->last_number = last;
	return (j);
}

/*
 * Define or replace the jobs of a parsed file and start one run of each.
 * The jobfile's definitions are taken over (jf is left empty).  On error,
 * runs already started stay started; *nruns says how many there are.
 */
int
job_submit(struct jobfile *jf, struct run **runs, size_t max, char **cause)
{
	struct job	*j;
	struct run	*r;
	size_t		 i, n;
	char		*why = NULL;

	*cause = NULL;
	for (i = 0, n = 0; i < jf->njobs; i++)
		if (job_find(jf->jobs[i]->name) == NULL)
			n++;
	if (J.njobs + n > J.dc->max_jobs) {
		xasprintf(cause, "too many jobs (max-jobs is %u)",
		    J.dc->max_jobs);
		return (-1);
	}
	if (jf->njobs > max) {
		xasprintf(cause, "too many jobs in one file (at most %zu)",
		    max);
		return (-1);
	}
	for (i = 0; i < jf->njobs; i++)
		runs[i] = NULL;
	for (i = 0; i < jf->njobs; i++) {
		j = job_define(jf->jobs[i]);
		jf->jobs[i] = NULL;
		/* A periodic job runs now, then every period from now. */
		job_schedule(j, j->def->every);
		r = run_new(j);
		r->p->hold = j->hold;
		j->hold->refs++;
		runs[i] = r;
		if (run_start(r, &why) == 0)
			continue;
		/* This run cannot start; the others of the file still do. */
		run_not_started(r, why);
		if (*cause == NULL)
			*cause = why;
		else
			free(why);
		why = NULL;
	}
	return (*cause == NULL ? 0 : -1);
}

/*
 * Resume.  A run is unfinished when RUN.ndjson exists without
 * RUN.summary.json.  Its records say which URL indices are done (a bit
 * each); the run continues with the others, counts rebuilt from the file.
 * A torn last line is cut when the file is opened (results.c), so that URL
 * is fetched again.
 */

/* Count one stored record into the run's bitmap and counters. */
static void
resume_line(struct run *r, const char *line)
{
	const char	*e;
	char		 name[64];
	uint64_t	 i;
	size_t		 n;

	if (strncmp(line, "{\"i\":", 5) != 0)
		return;
	i = strtoull(line + 5, NULL, 10);
	if (done_has(r->p, i))
		return;
	done_set(r->p, i);
	r->st.done++;
	/* Records put "error" right after "url" and "status". */
	if ((e = strstr(line, ",\"error\":\"")) == NULL ||
	    (strstr(line, ",\"body") != NULL && strstr(line, ",\"body") < e)) {
		r->st.ok++;
		return;
	}
	r->st.failed++;
	e += 10;
	n = strcspn(e, "\"");
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, e, n);
	name[n] = '\0';
	namecount_inc(&r->st.errors, &r->st.nerrors, 64, name);
}

static int
resume_scan(struct run *r, const char *path)
{
	FILE	*fp;
	char	*line = NULL;
	size_t	 cap = 0;

	if ((fp = fopen(path, "re")) == NULL)
		return (-1);
	while (getline(&line, &cap, fp) != -1)
		if (line[0] != '\0' && line[strlen(line) - 1] == '\n')
			resume_line(r, line);
	free(line);
	fclose(fp);
	return (0);
}

/* How many times this run was resumed: one byte per resume in RUN.resumes. */
static unsigned
resume_count(const char *dir, unsigned n)
{
	char		*path;
	struct stat	 st;
	int		 fd;
	unsigned	 count = 1;

	xasprintf(&path, "%s/%u.resumes", dir, n);
	if (stat(path, &st) == 0)
		count = (unsigned)st.st_size + 1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0640)) != -1) {
		if (write(fd, "r", 1) != 1)
			log_warn("%s", path);
		close(fd);
	}
	free(path);
	return (count);
}

static void
run_resume(struct job *j, const char *dir, unsigned n)
{
	struct log_fields f;
	struct run	*r;
	char		*path, *old, *cause = NULL;
	FILE		*fp;
	unsigned	 of = 0;

	r = run_new(j);
	j->last_number--;		/* run_new() took a new number */
	r->number = n;
	r->p->hold = j->hold;
	j->hold->refs++;
	xasprintf(&path, "%s/%u.ndjson", dir, n);
	resume_scan(r, path);
	free(path);
	/* A retry-failed run reads the failures of its first run again. */
	xasprintf(&path, "%s/%u.retry", dir, n);
	if ((fp = fopen(path, "re")) != NULL) {
		/* Our own file; a garbled number names no run: ignored. */
		/* NOLINTNEXTLINE(cert-err34-c) */
		if (fscanf(fp, "%u", &of) == 1 && of > 0) {
			xasprintf(&old, "%s/%u.ndjson", dir, of);
			r->p->retry_fp = fopen(old, "re");
			r->retry_of = of;
			free(old);
		}
		fclose(fp);
	}
	free(path);
	r->resumed = resume_count(dir, n);
	if (run_start(r, &cause) == -1) {
		run_not_started(r, cause);
		free(cause);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.message_id = MSGID_RUN_STARTED;
	f.job = j->name;
	f.run = n;
	log_event(LOG_INFO, &f, "%s run %u resumed (%u time%s): %llu URLs "
	    "already done", j->name, n, r->resumed, r->resumed == 1 ? "" :
	    "s", (unsigned long long)r->st.done);
}

/* RUN.retry names the run whose failures a retry-failed run fetches. */
static void
retry_mark(struct run *r)
{
	char	*dir, *path;
	FILE	*fp;

	xasprintf(&dir, "%s/results/%s", J.dc->state_dir, r->job->name);
	xasprintf(&path, "%s/%u.retry", dir, r->number);
	if (util_mkdirs(dir, 0750) == 0 && (fp = fopen(path, "we")) != NULL) {
		fprintf(fp, "%u\n", r->retry_of);
		fclose(fp);
	}
	free(path);
	free(dir);
}

/*
 * After a restart: the newest finished run is read back from its summary
 * (so status and results show it), and every unfinished run is resumed,
 * in the order of their numbers.
 */
static void
run_restore(struct job *j, const char *dir, unsigned n)
{
	struct run	*r;
	char		*path;

	r = run_new(j);
	j->last_number--;		/* run_new() took a new number */
	r->number = n;
	r->p->hold = j->hold;
	j->hold->refs++;
	xasprintf(&path, "%s/%u.summary.json", dir, n);
	if (results_read_summary(path, r) == -1)
		r->state = RUN_FAILED;
	free(path);
	xasprintf(&r->path, "%s/%u.ndjson", dir, n);
	r->ended = now_usec();
	r->started = r->ended - (r->ended_wall - r->started_wall) *
	    USEC_PER_MSEC;
}

static void
job_resume_runs(struct job *j)
{
	char		*dir, *sum;
	unsigned	*all, *v, last_done = 0;
	size_t		 nall, nv = 0, i;
	struct stat	 st;

	xasprintf(&dir, "%s/results/%s", J.dc->state_dir, j->name);
	nall = run_numbers(dir, ".ndjson", &all);
	v = xcalloc(nall, sizeof(*v));
	for (i = 0; i < nall; i++) {
		xasprintf(&sum, "%s/%u.summary.json", dir, all[i]);
		if (stat(sum, &st) == -1 && errno == ENOENT)
			v[nv++] = all[i];
		else
			last_done = all[i];	/* ascending: the newest wins */
		free(sum);
	}
	for (i = 0; i < nv && v[i] < last_done; i++)
		run_resume(j, dir, v[i]);
	if (last_done > 0)
		run_restore(j, dir, last_done);
	for (; i < nv; i++)
		run_resume(j, dir, v[i]);
	free(all);
	free(v);
	free(dir);
}

static int
unsigned_cmp(const void *a, const void *b)
{
	unsigned	 x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x < y ? -1 : x > y);
}

/* Define the jobs saved in STATE/jobs and resume their unfinished runs. */
void
job_resume(void)
{
	struct jobfile	 jf;
	struct errlist	 errs;
	struct job	*j;
	char		*dir;
	size_t		 i;

	xasprintf(&dir, "%s/jobs", J.dc->state_dir);
	memset(&jf, 0, sizeof(jf));
	memset(&errs, 0, sizeof(errs));
	if (access(dir, F_OK) == 0 &&
	    parse_jobs_dir(dir, J.dc, &jf, &errs) == -1) {
		for (i = 0; i < errs.n; i++)
			log_warnx("saved job: %s", errs.v[i]);
		log_warnx("%s: saved jobs not loaded; their unfinished runs "
		    "stay on disk", dir);
	}
	J.resuming = 1;
	for (i = 0; i < jf.njobs; i++) {
		j = job_define(jf.jobs[i]);
		jf.jobs[i] = NULL;
		job_resume_runs(j);
		job_schedule(j, job_offset_or0(j));
	}
	J.resuming = 0;
	jobfile_free(&jf);
	errlist_free(&errs);
	free(dir);
}

/*
 * A new run of the job holding only the failed URLs of a finished run,
 * read back from its results file.  The new run records retry_of.
 */
struct run *
job_retry_failed(struct run *old, char **cause)
{
	struct job	*j = old->job;
	struct run	*r;
	FILE		*fp;

	if (!RUN_FINISHED(old) || old->closing) {
		xasprintf(cause, "run %u of '%s' is still running", old->number,
		    j->name);
		return (NULL);
	}
	if (old->st.failed == 0 || old->path == NULL) {
		xasprintf(cause, "run %u of '%s' has no failed URLs",
		    old->number, j->name);
		return (NULL);
	}
	if ((fp = fopen(old->path, "re")) == NULL) {
		xasprintf(cause, "%s: %s", old->path, strerror(errno));
		return (NULL);
	}
	r = run_new(j);
	r->p->hold = j->hold;
	j->hold->refs++;
	r->p->retry_fp = fp;
	r->retry_of = old->number;
	r->st.total = old->st.failed;
	retry_mark(r);
	if (run_start(r, cause) == -1) {
		run_not_started(r, *cause);
		return (r);
	}
	r->st.total_known = 1;
	return (r);
}

/* Call fn for every origin that is paused, down or held below per-host. */
void
job_hosts_held(void (*fn)(const struct host_view *, void *), void *arg)
{
	struct host_view	 v;
	struct host		*h;
	int64_t			 now = now_usec();
	int64_t			 wall = util_wallclock_ms();
	size_t			 b;

	for (b = 0; b < HOST_BUCKETS; b++) {
		for (h = J.hosts[b]; h != NULL; h = h->next) {
			memset(&v, 0, sizeof(v));
			if (h->down) {
				v.state = "down";
				v.until = h->probe_at;
			} else if (h->paused_until > now) {
				v.state = "paused";
				v.until = h->paused_until;
			} else if (h->limit > 0)
				v.state = "limited";
			else
				continue;
			if (v.until > 0)
				v.until_wall = wall + (v.until - now) / 1000;
			v.origin = h->origin;
			v.limit = h->limit;
			v.in_flight = h->inflight;
			v.failures = h->consec;
			fn(&v, arg);
		}
	}
}

void
job_set_hook(void (*hook)(struct run *, enum run_event))
{
	J.hook = hook;
}

int
job_init(struct ev_loop *loop, const struct daemonconf *dc)
{
	memset(&J, 0, sizeof(J));
	J.loop = loop;
	J.dc = dc;
	TAILQ_INIT(&J.jobs);
	TAILQ_INIT(&J.active);
	ev_idle_init(&J.admit_idle, admit_idle_cb);
	ev_check_init(&J.admit_check, admit_check_cb);
	ev_idle_init(&J.drain_idle, drain_idle_cb);
	fetch_set_admit(job_admit);
	srand48((long)getpid() ^ (long)time(NULL));
	return (0);
}

static void
drain_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	ev_idle_stop(loop, w);
	if (J.draining && J.idle_cb != NULL)
		J.idle_cb();
}

/*
 * Start no more transfers; those in flight go on.  idle() is called (from
 * the loop) once none is in flight.  Retry timers keep running, but what
 * they queue waits.
 */
void
job_drain(void (*idle)(void))
{
	J.draining = 1;
	J.idle_cb = idle;
	if (J.inflight == 0)
		ev_idle_start(J.loop, &J.drain_idle);
}

/*
 * Take the definitions of a reloaded jobs-dir: a job whose definition
 * changed gets it for its next run (runs in progress keep theirs); a new
 * job is defined and starts a run, like at start-up.  Jobs absent from the
 * new files are left as they are.  The jobfile is emptied.
 */
int
job_reload(struct jobfile *jf, char **cause)
{
	struct jobfile	 fresh;
	struct run	*runs[1024];
	struct job	*j;
	size_t		 i;
	int64_t		 every;
	int		 rc = 0;

	memset(&fresh, 0, sizeof(fresh));
	for (i = 0; i < jf->njobs; i++) {
		if ((j = job_find(jf->jobs[i]->name)) != NULL) {
			every = j->def->every;
			hold_put(j->hold);
			j->hold = hold_new(jf->jobs[i]);
			j->def = jf->jobs[i];
			job_persist(j);
			/* Takes effect from the next run: keep the phase. */
			if (j->def->every != every)
				job_schedule(j, job_offset_or0(j));
		} else {
			fresh.jobs = xreallocarray(fresh.jobs, fresh.njobs + 1,
			    sizeof(*fresh.jobs));
			fresh.jobs[fresh.njobs++] = jf->jobs[i];
		}
		jf->jobs[i] = NULL;
	}
	jf->njobs = 0;
	if (fresh.njobs > 0)
		rc = job_submit(&fresh, runs, nitems(runs), cause);
	jobfile_free(&fresh);
	return (rc);
}

static void
run_suspended(void *arg)
{
	J.nclosing--;
	if (J.shutting_down && J.nclosing == 0 && J.shutdown_cb != NULL)
		J.shutdown_cb();
}

/*
 * Stop a run for a daemon stop: what is in flight or waiting is dropped
 * without a record, the results are flushed and no summary is written, so
 * the next start resumes the run and fetches those URLs again.
 */
static void
run_suspend(struct run *r)
{
	struct run_priv	*p = r->p;

	run_drop_items(p);
	run_deactivate(p);
	r->closing = 1;
	J.nclosing++;
	results_close(p->rf, NULL, run_suspended, r);
	p->rf = NULL;
	log_info("%s run %u suspended at %llu/%llu done; it resumes at the "
	    "next start", r->job->name, r->number,
	    (unsigned long long)r->st.done, (unsigned long long)r->st.total);
}

/*
 * Daemon stop: suspend every active run (it resumes at the next start),
 * then call done once the results are on disk.
 */
void
job_shutdown(void (*done)(void))
{
	struct run_priv	*p, *next;
	struct job	*j;

	J.shutdown_cb = done;
	J.shutting_down = 1;
	TAILQ_FOREACH(j, &J.jobs, entry)
		ev_timer_stop(J.loop, &j->every);
	TAILQ_FOREACH_SAFE(p, &J.active, active, next)
		run_suspend(p->run);
	if (J.nclosing == 0)
		done();
}

void
job_free(void)
{
	struct job	*j;
	struct run	*r;

	while ((j = TAILQ_FIRST(&J.jobs)) != NULL) {
		TAILQ_REMOVE(&J.jobs, j, entry);
		while ((r = TAILQ_FIRST(&j->runs)) != NULL) {
			TAILQ_REMOVE(&j->runs, r, entry);
			run_free(r);
		}
		ev_timer_stop(J.loop, &j->every);
		hold_put(j->hold);
		free(j->name);
		free(j);
	}
	ev_idle_stop(J.loop, &J.admit_idle);
	ev_check_stop(J.loop, &J.admit_check);
	ev_idle_stop(J.loop, &J.drain_idle);
	items_spare_free();
	hosts_free();
}
