/*
 * notify.c: fetchd's side of the systemd service protocol, and the only
 * includer of sd-daemon.h: the socket handed over by socket activation,
 * READY=1, STATUS= (at most once a second, only when it changed),
 * WATCHDOG=1 from a loop timer at half of WATCHDOG_USEC, RELOADING=1 with
 * MONOTONIC_USEC= around a reload, and STOPPING=1 with EXTEND_TIMEOUT_USEC=
 * while draining.  Outside systemd every call is a cheap no-op.
 */
#include "config.h"

#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "fetchd.h"

static struct {
	struct ev_loop	*loop;
	ev_timer	 watchdog;
	ev_timer	 status;
	char		*(*status_fn)(void);
	char		*last;
} N;

/* The control socket passed by systemd (fetchd.socket), or -1. */
int
notify_listen_fd(void)
{
	int	 n;

	n = sd_listen_fds(1);
	if (n < 0) {
		log_warnx("sd_listen_fds: %s; creating the socket",
		    strerror(-n));
		return (-1);
	}
	if (n == 0)
		return (-1);
	if (n > 1)
		log_warnx("systemd passed %d sockets; using the first", n);
	return (SD_LISTEN_FDS_START);
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	sd_notify(0, "WATCHDOG=1");
}

static void
status_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	char	*s;

	if (N.status_fn == NULL)
		return;
	s = N.status_fn();
	if (N.last != NULL && strcmp(s, N.last) == 0) {
		free(s);
		return;
	}
	free(N.last);
	N.last = s;
	notify_status(s);
}

void
notify_init(struct ev_loop *loop, char *(*status_fn)(void))
{
	uint64_t	 usec = 0;

	memset(&N, 0, sizeof(N));
	N.loop = loop;
	N.status_fn = status_fn;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		ev_timer_init(&N.watchdog, watchdog_cb, 0.,
		    (double)usec / 2.0 / USEC_PER_SEC);
		ev_timer_again(loop, &N.watchdog);
		log_debug("watchdog: WATCHDOG=1 every %.3fs",
		    (double)usec / 2.0 / USEC_PER_SEC);
	}
	if (getenv("NOTIFY_SOCKET") != NULL) {
		ev_timer_init(&N.status, status_cb, 1., 1.);
		ev_timer_start(loop, &N.status);
	}
}

void
notify_ready(void)
{
	sd_notify(0, "READY=1");
}

/* RELOADING=1 with the CLOCK_MONOTONIC time, as systemd asks. */
void
notify_reloading(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * USEC_PER_SEC +
	    (unsigned long long)ts.tv_nsec / 1000);
}

/* STOPPING=1; the stop may take up to extend usec more (0: no extension). */
void
notify_stopping(uint64_t extend)
{
	if (extend > 0)
		sd_notifyf(0, "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu",
		    (unsigned long long)extend);
	else
		sd_notify(0, "STOPPING=1");
}

void
notify_status(const char *s)
{
	sd_notifyf(0, "STATUS=%s", s);
}

void
notify_free(void)
{
	if (N.loop == NULL)
		return;
	ev_timer_stop(N.loop, &N.watchdog);
	ev_timer_stop(N.loop, &N.status);
	free(N.last);
	N.last = NULL;
}
