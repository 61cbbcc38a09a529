/*
 * fetch.c: owns the libcurl multi handle, its single ev_timer, one ev_io per
 * socket libcurl asks us to watch, and a small pool of reusable easy
 * handles.  It is the only file that includes curl/curl.h.
 *
 * The wiring is curl's evhiperfifo pattern without its bugs (STYLE.md, the
 * curl + libev section): libcurl's socket callback starts, changes or stops
 * an ev_io; its timer callback re-arms our one ev_timer (never calling back
 * into libcurl); both watchers call curl_multi_socket_action() and then
 * drain curl_multi_info_read().  Finished transfers are removed from the
 * multi before their owner's done() runs, so done() may start new ones.
 * fetch.c knows nothing of jobs: it reports through struct xfer.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fetchd.h"

#define POOL_MAX	1024		/* idle easy handles kept for reuse */
#define MAX_HEADER_BYTES (256 * 1024)	/* all response headers of a transfer */

/* One socket libcurl watches; the ev_io is first so a watcher casts back. */
struct fsock {
	ev_io		 io;
	curl_socket_t	 fd;
};

static struct {
	struct ev_loop	*loop;
	CURLM		*multi;
	ev_timer	 timer;
	void		(*admit)(void);
	CURL		*pool[POOL_MAX];
	unsigned	 npool;
	int		 running;
	int		 draining;
} F;

static void	fetch_drain(void);

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

static void
fetch_io_ev(struct ev_loop *loop, ev_io *w, int revents)
{
	int	 mask = 0;

	/* Read fd before the call: the fsock may be freed inside it. */
	if (revents & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (revents & EV_ERROR)
		mask |= CURL_CSELECT_ERR;
	fetch_action(w->fd, mask);
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
			curl_multi_assign(F.multi, fd, NULL);
			free(fs);
		}
		return (0);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (fs == NULL) {
		if ((fs = calloc(1, sizeof(*fs))) == NULL) {
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
fetch_fill(struct xfer *x, CURL *e, CURLcode rc)
{
	long		 status = 0, ver = 0;
	curl_off_t	 t;
	char		 was[192];
	const char	*h;
	int		 n = 0;

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
	curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &ver);
	x->http_version = ver == CURL_HTTP_VERSION_2_0 ? "2" :
	    ver == CURL_HTTP_VERSION_3 ? "3" :
	    ver == CURL_HTTP_VERSION_1_0 ? "1.0" : "1.1";
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
		x = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
		fetch_fill(x, e, rc);
		curl_multi_remove_handle(F.multi, e);
		x->done(x);
	}
	F.draining = 0;
	if (F.admit != NULL)
		F.admit();
}

static size_t
fetch_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n;

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
	char		 loc[1024], a[300], b[300];
	char		*cur = NULL;
	int		 n;

	if (x->status < 300 || x->status > 399 || x->def->max_redirs == 0 ||
	    fetch_carried_secret(x->def, &n) == NULL)
		return (0);
	header_value(v, vl, loc, sizeof(loc));
	if (strstr(loc, "://") == NULL && strncmp(loc, "//", 2) != 0)
		return (0);		/* a path: the same origin */
	if (curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &cur) !=
	    CURLE_OK || cur == NULL)
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

/* Apply the request shape of the job. */
static int
fetch_setup_request(CURL *e, struct xfer *x, struct curl_slist **hdrs)
{
	const struct jobdef	*d = x->def;
	size_t			 i;
	struct curl_slist	*l;

	for (i = 0; i < d->headers.n; i++) {
		if ((l = curl_slist_append(*hdrs, d->headers.v[i])) == NULL)
			return (-1);
		*hdrs = l;
	}
	if (conditional_header(hdrs, "If-None-Match", x->if_none_match) ==
	    -1 || conditional_header(hdrs, "If-Modified-Since",
	    x->if_modified_since) == -1)
		return (-1);
	if (*hdrs != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
	if (strcmp(d->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(d->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, d->method);
	if (x->reqbody != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->reqbody_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->reqbody);
	}
	return (0);
}

/* Timeouts, limits, TLS and protocol options of one transfer. */
static void
fetch_setup_limits(CURL *e, struct xfer *x)
{
	const struct jobdef	*d = x->def;
	long			 stall;

	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(d->connect_timeout / USEC_PER_MSEC));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)(d->timeout / USEC_PER_MSEC));
	if (d->stall_timeout > 0) {
		stall = (long)((d->stall_timeout + USEC_PER_SEC - 1) /
		    USEC_PER_SEC);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall);
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
	if (!d->http2)
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
		    CURL_HTTP_VERSION_1_1);
	else {
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
		    CURL_HTTP_VERSION_2TLS);
		/*
		 * Wait for a connection that may multiplex only where
		 * HTTP/2 is possible (https with ALPN): for plain HTTP/1.1
		 * it would delay the first wave by a round trip (STYLE
		 * pitfall 16).
		 */
		if (strncasecmp(x->url, "https:", 6) == 0)
			curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	}
}

static CURL *
fetch_easy_get(void)
{
	if (F.npool > 0)
		return (F.pool[--F.npool]);
	return (curl_easy_init());
}

/* Start one transfer: 0, or -1 with *cause. */
int
fetch_start(struct xfer *x, char **cause)
{
	CURL			*e;
	struct curl_slist	*hdrs = NULL;
	CURLMcode		 rc;

	x->status = 0;
	x->fclass = FC_NONE;
	x->detail[0] = x->retry_after[0] = '\0';
	x->etag[0] = x->last_modified[0] = '\0';
	x->bytes = x->header_bytes = 0;
	x->refused = 0;
	x->t_dns = x->t_connect = x->t_tls = x->t_ttfb = x->t_total = 0;
	if ((e = fetch_easy_get()) == NULL) {
		*cause = xstrdup("curl_easy_init failed");
		return (-1);
	}
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->detail);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fetch_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	if (x->user_agent != NULL)
		curl_easy_setopt(e, CURLOPT_USERAGENT, x->user_agent);
	fetch_setup_limits(e, x);
	if (fetch_setup_request(e, x, &hdrs) == -1) {
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(e);
		*cause = xstrdup("out of memory building headers");
		return (-1);
	}
	x->easy = e;
	x->headers = hdrs;
	if ((rc = curl_multi_add_handle(F.multi, e)) != CURLM_OK) {
		xasprintf(cause, "curl_multi_add_handle: %s",
		    curl_multi_strerror(rc));
		fetch_cleanup(x);
		return (-1);
	}
	return (0);
}

/* Return a finished or cancelled transfer's handle to the pool. */
void
fetch_cleanup(struct xfer *x)
{
	CURL	*e = x->easy;

	if (e == NULL)
		return;
	x->easy = NULL;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	if (F.npool < POOL_MAX) {
		curl_easy_reset(e);
		F.pool[F.npool++] = e;
	} else
		curl_easy_cleanup(e);
}

/* Stop a transfer in flight; its done() will not be called. */
void
fetch_cancel(struct xfer *x)
{
	if (x->easy == NULL)
		return;
	curl_multi_remove_handle(F.multi, x->easy);
	fetch_cleanup(x);
}

void
fetch_set_admit(void (*admit)(void))
{
	F.admit = admit;
}

const char *
fetch_version(void)
{
	return (curl_version_info(CURLVERSION_NOW)->version);
}

/* Create the multi handle; refuse a libcurl that would block the loop. */
int
fetch_init(struct ev_loop *loop, const struct daemonconf *dc, char **cause)
{
	curl_version_info_data	*vi;

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
	memset(&F, 0, sizeof(F));
	F.loop = loop;
	if ((F.multi = curl_multi_init()) == NULL) {
		*cause = xstrdup("curl_multi_init failed");
		curl_global_cleanup();
		return (-1);
	}
	ev_timer_init(&F.timer, fetch_timer_ev, 0., 0.);
	curl_multi_setopt(F.multi, CURLMOPT_SOCKETFUNCTION, fetch_sock_cb);
	curl_multi_setopt(F.multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb);
	curl_multi_setopt(F.multi, CURLMOPT_MAXCONNECTS,
	    (long)dc->max_connections);
	curl_multi_setopt(F.multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	return (0);
}

/*
 * Teardown order matters (STYLE pitfall 9): the owners have removed their
 * transfers; curl_multi_cleanup() may still call the socket callback, so it
 * runs while the loop is alive; the global cleanup comes last.
 */
void
fetch_free(void)
{
	if (F.multi == NULL)
		return;
	while (F.npool > 0)
		curl_easy_cleanup(F.pool[--F.npool]);
	curl_multi_cleanup(F.multi);
	F.multi = NULL;
	ev_timer_stop(F.loop, &F.timer);
	curl_global_cleanup();
}
