/*
 * retry.c: the retry decisions of fetchd as pure functions: which failures
 * may be retried, how long to wait (exponential backoff with full jitter,
 * Retry-After in both of its forms), and the failure class names.  Time and
 * randomness are parameters, so unit tests need no clock.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fetchd.h"

const char *const fclass_names[FC_MAX] = {
	[FC_NONE] = "ok",
	[FC_DNS] = "dns",
	[FC_CONNECT] = "connect",
	[FC_TLS] = "tls",
	[FC_TIMEOUT] = "timeout",
	[FC_STALL] = "stall",
	[FC_RESET] = "reset",
	[FC_HTTP] = "http",
	[FC_TOO_LARGE] = "too-large",
	[FC_BAD_BODY] = "bad-body",
	[FC_HOST_DOWN] = "host-down",
	[FC_CANCELLED] = "cancelled",
	[FC_DEADLINE] = "deadline",
	[FC_BUDGET] = "budget",
	[FC_PROTOCOL] = "protocol",
	[FC_OTHER] = "error",
};

/* Methods that may be retried without retry-unsafe (RFC 9110 9.2.2). */
int
retry_idempotent(const char *method)
{
	static const char *const safe[] = {
		"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"
	};
	size_t	 i;

	for (i = 0; i < nitems(safe); i++)
		if (strcmp(method, safe[i]) == 0)
			return (1);
	return (0);
}

/* Does retry-on cover this failure? */
int
retry_covers(unsigned retry_on, enum fclass c, int status)
{
	switch (c) {
	case FC_DNS:
		return ((retry_on & RETRY_DNS) != 0);
	case FC_CONNECT:
		return ((retry_on & RETRY_CONNECT) != 0);
	case FC_TIMEOUT:
	case FC_STALL:
		return ((retry_on & RETRY_TIMEOUT) != 0);
	case FC_RESET:
		return ((retry_on & RETRY_RESET) != 0);
	case FC_HTTP:
		if (status >= 500 && status <= 599)
			return ((retry_on & RETRY_5XX) != 0);
		if (status == 429)
			return ((retry_on & RETRY_429) != 0);
		if (status == 408)
			return ((retry_on & RETRY_408) != 0);
		return (0);
	default:
		return (0);
	}
}

/*
 * Retry-After as a delay in usec from now_wall (seconds since the epoch):
 * delta-seconds or an IMF-fixdate, either capped at a year.  -1 when
 * absent or unparseable.
 */
int64_t
retry_after_parse(const char *v, time_t now_wall)
{
	struct tm	 tm;
	char		*end;
	long long	 secs;
	time_t		 t;

	if (v == NULL || *v == '\0')
		return (-1);
	if (isdigit((unsigned char)*v)) {
		secs = strtoll(v, &end, 10);
		if (*end != '\0' || secs < 0)
			return (-1);
		if (secs > 365LL * 86400)
			secs = 365LL * 86400;
		return ((int64_t)secs * USEC_PER_SEC);
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return (-1);
	if ((t = timegm(&tm)) == (time_t)-1)
		return (-1);
	if (t <= now_wall)
		return (0);
	if (t - now_wall > 365LL * 86400)
		return (365LL * 86400 * USEC_PER_SEC);
	return ((int64_t)(t - now_wall) * USEC_PER_SEC);
}

/*
 * Delay before attempt number attempts+1: full jitter over
 * min(backoff-max, backoff * 2^(attempts-1)), with rnd uniform in [0,1).
 * A Retry-After lengthens the wait (never shortens it), capped by
 * backoff-max.
 */
int64_t
retry_delay(const struct jobdef *d, unsigned attempts, int64_t retry_after,
    double rnd)
{
	double	 cap = (double)d->backoff;
	int64_t	 delay;
	unsigned i;

	for (i = 1; i < attempts && cap < (double)d->backoff_max; i++)
		cap *= 2;
	if (cap > (double)d->backoff_max)
		cap = (double)d->backoff_max;
	delay = (int64_t)(cap * rnd);
	if (retry_after > delay)
		delay = retry_after < d->backoff_max ? retry_after :
		    d->backoff_max;
	return (delay);
}
