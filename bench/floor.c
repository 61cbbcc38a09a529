/*
 * floor.c: the benchmark's measuring stick.  A bare libev loop driving a
 * libcurl multi handle through curl_multi_socket_action, as in curl's
 * evhiperfifo.c but with that example's bugs fixed (STYLE.md, "curl multi +
 * libev").  It fetches a list of URLs with at most C transfers in flight,
 * discards the bodies, and prints how long that took.  Nothing else: no
 * parsing, no result records, no bookkeeping beyond a count.  Whatever fetchd
 * costs above this is fetchd's own work.
 *
 *   floor [-k1z] [-A CAFILE] [-H LINE]... [-R AGENT] [-o MASK] [-P PROCS]
 *         -c C (-f FILE | -g PREFIX -n N [-s SUFFIX])
 *
 * -f reads one URL per line (all read up front: fine for 10^4 lines); -g
 * builds PREFIX<i>SUFFIX for i in [0, N) as transfers start, so a million
 * URLs cost no memory.  -1 forces HTTP/1.1; otherwise HTTP/2 is used where
 * TLS offers it, with CURLOPT_PIPEWAIT on https URLs only (STYLE pitfall 16).
 * Easy handles are reused (a pool of C), as fetchd does.
 *
 * -H adds a request header line (through CURLOPT_HTTPHEADER, one list built
 * once, as fetchd sends its User-Agent and Accept-Encoding) and -z sets
 * CURLOPT_ACCEPT_ENCODING "" so that libcurl decodes what such a header
 * announces.  -R AGENT is -z with the two lines fetchd adds by default:
 * "User-Agent: AGENT" and the Accept-Encoding of every encoding this
 * libcurl decodes (built as daemon/fetch.c builds it): with it the floor
 * sends the request fetchd sends by default, byte for byte ("floor-req" in
 * bench/run.sh).
 *
 * -o MASK is for profiling only: it adds the easy options fetchd sets, so
 * that their cost inside libcurl can be told apart from fetchd's own work.
 * 1 Accept-Encoding (compressed = yes); 2 FOLLOWLOCATION, MAXREDIRS,
 * PROTOCOLS_STR, REDIR_PROTOCOLS_STR; 4 CONNECTTIMEOUT, TIMEOUT,
 * LOW_SPEED_LIMIT/TIME; 8 USERAGENT, HEADERFUNCTION, ERRORBUFFER,
 * MAXFILESIZE; 16 curl_easy_reset() before each reuse, options set again;
 * 32 the five CURLINFO_*_TIME_T reads after each transfer; 64 a fixed
 * Accept-Encoding header through CURLOPT_HTTPHEADER (built once) instead of
 * CURLOPT_ACCEPT_ENCODING (libcurl then does not decode).  The benchmark
 * runs the floor with no -o.
 *
 * -P PROCS splits the work over that many processes, each such a loop with
 * its share of C and every PROCS-th URL: the floor on several cores, for
 * comparison with fetchd's fetch-threads ("floor-P2" in bench/ab.sh).  The
 * time is the parent's, from before the first fork to the last exit.
 *
 * Output, one line: "floor: N ok, M failed, W s, R req/s".
 * Build: cc -O2 -o floor bench/floor.c -lev -lcurl
 */

#include <curl/curl.h>
#include <ev.h>

#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct fsock {
	ev_io		 io;
	curl_socket_t	 fd;
};

static struct {
	struct ev_loop	*loop;
	CURLM		*multi;
	ev_timer	 timer;
	char		**urls;		/* -f */
	const char	*prefix;	/* -g */
	const char	*suffix;
	long		 n;		/* URLs in all */
	long		 next;		/* next URL to start */
	long		 stride;	/* -P: every stride-th URL */
	long		 running;
	long		 ok, failed;
	int		 insecure, h1, opts, decode;
	struct curl_slist *hdrs;	/* -H */
	char		 errbuf[CURL_ERROR_SIZE];
	const char	*cafile;
	CURL		**pool;
	int		 npool;
} G;

static void	 drain(void);
static void	 setup(CURL *);

static size_t
header_cb(char *p, size_t sz, size_t n, void *arg)
{
	(void)arg;
	if (sz * n > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		G.errbuf[0] = '\0';
	return (sz * n);
}

static double
mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static size_t
discard_cb(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (sz * n);
}

/* CURLMOPT_TIMERFUNCTION: re-arm the one timer; never call curl here. */
static int
timer_cb(CURLM *m, long ms, void *arg)
{
	(void)m;
	(void)arg;
	ev_timer_stop(G.loop, &G.timer);
	if (ms >= 0) {
		ev_timer_set(&G.timer, ms / 1000.0, 0.);
		ev_timer_start(G.loop, &G.timer);
	}
	return (0);
}

static void
action(curl_socket_t fd, int mask)
{
	int		 still;
	CURLMcode	 rc;

	rc = curl_multi_socket_action(G.multi, fd, mask, &still);
	if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET) {
		fprintf(stderr, "floor: socket_action: %s\n",
		    curl_multi_strerror(rc));
		exit(2);
	}
	drain();
}

static void
timer_ev(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	action(CURL_SOCKET_TIMEOUT, 0);
}

static void
io_ev(struct ev_loop *loop, ev_io *w, int revents)
{
	curl_socket_t	 fd = ((struct fsock *)w)->fd;	/* before: may be freed */
	int		 mask;

	(void)loop;
	mask = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
	    (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	action(fd, mask);
}

/* CURLMOPT_SOCKETFUNCTION: a fresh watcher per socket, stop-modify-start. */
static int
sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct fsock	*s = sockp;
	int		 ev;

	(void)e;
	(void)arg;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			ev_io_stop(G.loop, &s->io);
			free(s);
			curl_multi_assign(G.multi, fd, NULL);
		}
		return (0);
	}
	ev = (what & CURL_POLL_IN ? EV_READ : 0) |
	    (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return (-1);
		s->fd = fd;
		ev_io_init(&s->io, io_ev, fd, ev);
		curl_multi_assign(G.multi, fd, s);
	} else {
		ev_io_stop(G.loop, &s->io);
		ev_io_modify(&s->io, ev);
	}
	ev_io_start(G.loop, &s->io);
	return (0);
}

/* Point a (possibly reused) easy handle at URL number i and add it. */
static void
start(CURL *e, long i)
{
	char		 buf[4096];
	const char	*url;

	if (G.urls != NULL)
		url = G.urls[i];
	else {
		snprintf(buf, sizeof(buf), "%s%ld%s", G.prefix, i,
		    G.suffix != NULL ? G.suffix : "");
		url = buf;			/* libcurl copies it */
	}
	if (G.opts & 16)
		setup(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (strncasecmp(url, "https:", 6) == 0 && !G.h1)
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	if (curl_multi_add_handle(G.multi, e) != CURLM_OK) {
		fprintf(stderr, "floor: add_handle failed\n");
		exit(2);
	}
	G.running++;
}

/* The options of every transfer (and -o's extras). */
static void
setup(CURL *e)
{
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, G.h1 ?
	    CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS);
	if (G.cafile != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, G.cafile);
	if (G.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	static struct curl_slist	*ae;

	if (G.hdrs != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, G.hdrs);
	if (G.decode)
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (G.opts & 1)
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (G.opts & 64) {
		if (ae == NULL)
			ae = curl_slist_append(NULL,
			    "Accept-Encoding: deflate, gzip, br, zstd");
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, ae);
	}
	if (G.opts & 2) {
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (G.opts & 4) {
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 15L);
	}
	if (G.opts & 8) {
		curl_easy_setopt(e, CURLOPT_USERAGENT, "fetchd/0.1.0");
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, G.errbuf);
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)8 << 20);
	}
}

static CURL *
new_easy(void)
{
	CURL	*e;

	if ((e = curl_easy_init()) == NULL) {
		fprintf(stderr, "floor: curl_easy_init failed\n");
		exit(2);
	}
	if (!(G.opts & 16))
		setup(e);
	return (e);
}

/* Drain finished transfers, then start new ones on the freed handles. */
static void
drain(void)
{
	CURLMsg		*msg;
	CURL		*e;
	CURLcode	 res;
	long		 code;
	int		 left;

	while ((msg = curl_multi_info_read(G.multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		e = msg->easy_handle;		/* copy out before remove */
		res = msg->data.result;
		code = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (G.opts & 32) {
			curl_off_t	 t;

			curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t);
			curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t);
			curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t);
			curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t);
			curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t);
		}
		curl_multi_remove_handle(G.multi, e);
		if (G.opts & 16)
			curl_easy_reset(e);
		G.running--;
		if (res == CURLE_OK && code >= 200 && code < 300)
			G.ok++;
		else
			G.failed++;
		G.pool[G.npool++] = e;
	}
	while (G.npool > 0 && G.next < G.n) {
		start(G.pool[--G.npool], G.next);
		G.next += G.stride;
	}
	if (G.running == 0 && G.next >= G.n)
		ev_break(G.loop, EVBREAK_ALL);
}

static void
read_urls(const char *path)
{
	FILE	*fp;
	char	*line = NULL;
	size_t	 cap = 0, alloc = 0;
	ssize_t	 len;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if ((size_t)G.n == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			G.urls = realloc(G.urls, alloc * sizeof(*G.urls));
			if (G.urls == NULL)
				exit(2);
		}
		if ((G.urls[G.n++] = strdup(line)) == NULL)
			exit(2);
	}
	free(line);
	fclose(fp);
}

/* -R: the User-Agent and Accept-Encoding lines fetchd sends by default. */
static void
fetchd_request(const char *agent)
{
	curl_version_info_data	*vi = curl_version_info(CURLVERSION_NOW);
	char			 line[512];

	snprintf(line, sizeof(line), "User-Agent: %s", agent);
	G.hdrs = curl_slist_append(G.hdrs, line);
	if (vi->features & CURL_VERSION_LIBZ) {
		snprintf(line, sizeof(line), "Accept-Encoding: deflate, gzip%s%s",
		    vi->features & CURL_VERSION_BROTLI ? ", br" : "",
		    vi->features & CURL_VERSION_ZSTD ? ", zstd" : "");
		G.hdrs = curl_slist_append(G.hdrs, line);
	}
	if (G.hdrs == NULL)
		exit(2);
	G.decode = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: floor [-k1z] [-A cafile] [-H line]... "
	    "[-R agent] [-o mask] -c conc\n"
	    "             (-f file | -g prefix -n count [-s suffix])\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct curl_slist	*l;
	double			 t0, t1;
	long			 c = 0, i, procs = 1, ok, failed;
	int			 ch, fds[2], status;
	FILE			*fp;

	while ((ch = getopt(argc, argv, "1A:c:f:g:H:kn:o:P:R:s:z")) != -1) {
		switch (ch) {
		case '1': G.h1 = 1; break;
		case 'A': G.cafile = optarg; break;
		case 'c': c = strtol(optarg, NULL, 10); break;
		case 'f': read_urls(optarg); break;
		case 'g': G.prefix = optarg; break;
		case 'H':
			if ((l = curl_slist_append(G.hdrs, optarg)) == NULL)
				return (2);
			G.hdrs = l;
			break;
		case 'R':
			fetchd_request(optarg);
			break;
		case 'k': G.insecure = 1; break;
		case 'n': G.n = strtol(optarg, NULL, 10); break;
		case 'o': G.opts = (int)strtol(optarg, NULL, 0); break;
		case 'P': procs = strtol(optarg, NULL, 10); break;
		case 's': G.suffix = optarg; break;
		case 'z': G.decode = 1; break;
		default: usage();
		}
	}
	if (c <= 0 || G.n <= 0 || (G.urls == NULL && G.prefix == NULL) ||
	    procs < 1 || procs > c)
		usage();
	G.stride = 1;
	t0 = mono();
	if (procs > 1) {
		if (pipe(fds) == -1)
			return (2);
		for (i = 0; i < procs; i++) {
			switch (fork()) {
			case -1:
				return (2);
			case 0:
				close(fds[0]);
				if (dup2(fds[1], STDOUT_FILENO) == -1)
					_exit(2);
				G.next = i;
				G.stride = procs;
				c = c / procs + (i < c % procs);
				goto run;
			}
		}
		close(fds[1]);
		if ((fp = fdopen(fds[0], "r")) == NULL)
			return (2);
		G.ok = G.failed = 0;
		while (fscanf(fp, "floor: %ld ok, %ld failed, %*[^\n]\n",
		    &ok, &failed) == 2) {
			G.ok += ok;
			G.failed += failed;
		}
		while (wait(&status) > 0)
			if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
				G.failed++;
		t1 = mono();
		printf("floor: %ld ok, %ld failed, %.3f s, %.0f req/s\n",
		    G.ok, G.failed, t1 - t0, (G.ok + G.failed) / (t1 - t0));
		return (G.failed == 0 ? 0 : 1);
	}
run:
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return (2);
	G.loop = EV_DEFAULT;
	G.multi = curl_multi_init();
	ev_timer_init(&G.timer, timer_ev, 0., 0.);
	curl_multi_setopt(G.multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(G.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(G.multi, CURLMOPT_MAXCONNECTS, c);
	curl_multi_setopt(G.multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	if (c > G.n)
		c = G.n;
	if ((G.pool = calloc(c, sizeof(*G.pool))) == NULL)
		return (2);
	for (i = 0; i < c && G.next < G.n; i++) {
		start(new_easy(), G.next);
		G.next += G.stride;
	}
	ev_run(G.loop, 0);
	t1 = mono();
	printf("floor: %ld ok, %ld failed, %.3f s, %.0f req/s\n", G.ok,
	    G.failed, t1 - t0, (G.ok + G.failed) / (t1 - t0));
	for (i = 0; i < G.npool; i++)
		curl_easy_cleanup(G.pool[i]);
	curl_multi_cleanup(G.multi);
	curl_slist_free_all(G.hdrs);
	ev_loop_destroy(G.loop);
	curl_global_cleanup();
	return (G.failed == 0 ? 0 : 1);
}
