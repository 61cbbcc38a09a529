/*
 * log.c: fetchd's logging, the only includer of sd-journal.h.
 *
 * One backend is chosen at log_init(): when stderr is the journal (the
 * JOURNAL_STREAM device/inode pair matches fd 2, as systemd documents),
 * events go through sd_journal_send() with MESSAGE_ID, the FETCHD_* fields
 * and CODE_* of this file; otherwise lines go to stderr with "<N>" priority
 * prefixes that systemd-cat and terminals both read.  Messages below the
 * configured level are dropped before formatting.  Every function keeps
 * errno as it found it.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static int	log_level = LOG_INFO;
static int	log_journal;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"
};

/* Is fd 2 the journal's stream socket (JOURNAL_STREAM=dev:ino)? */
static int
stderr_is_journal(void)
{
	const char		*e = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &st) == -1)
		return (0);
	return ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino);
}

void
log_init(int level, int force_stderr)
{
	log_level = level;
	log_journal = !force_stderr && stderr_is_journal();
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return (log_level);
}

int
log_level_parse(const char *s)
{
	int	 i;

	for (i = 0; i < (int)nitems(level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (i);
	if (strcmp(s, "error") == 0)
		return (LOG_ERR);
	if (strcmp(s, "warn") == 0)
		return (LOG_WARNING);
	return (-1);
}

const char *
log_level_name(int level)
{
	if (level < 0 || level >= (int)nitems(level_names))
		return ("info");
	return (level_names[level]);
}

/* Append "NAME=value" to the iovec array when the value is set. */
static void
field(struct iovec *iov, int *n, char *store, size_t len, const char *name,
    const char *value)
{
	int	 w;

	if (value == NULL || *value == '\0')
		return;
	w = snprintf(store, len, "%s=%s", name, value);
	if (w < 0)
		return;
	iov[*n].iov_base = store;
	iov[*n].iov_len = (size_t)w < len ? (size_t)w : len - 1;
	(*n)++;
}

/* Send one message with its fields to the journal. */
static void
journal_send(int pri, const struct log_fields *f, const char *msg)
{
	struct iovec	 iov[12];
	char		 s[12][1024], num[32];
	int		 n = 0;

	field(iov, &n, s[n], sizeof(s[0]), "MESSAGE", msg);
	snprintf(num, sizeof(num), "%d", pri);
	field(iov, &n, s[n], sizeof(s[0]), "PRIORITY", num);
	field(iov, &n, s[n], sizeof(s[0]), "SYSLOG_IDENTIFIER", "fetchd");
	if (f != NULL) {
		field(iov, &n, s[n], sizeof(s[0]), "MESSAGE_ID",
		    f->message_id);
		field(iov, &n, s[n], sizeof(s[0]), "FETCHD_JOB", f->job);
		field(iov, &n, s[n], sizeof(s[0]), "FETCHD_URL", f->url);
		field(iov, &n, s[n], sizeof(s[0]), "FETCHD_ERROR", f->error);
		if (f->run) {
			snprintf(num, sizeof(num), "%u", f->run);
			field(iov, &n, s[n], sizeof(s[0]), "FETCHD_RUN", num);
		}
		if (f->status) {
			snprintf(num, sizeof(num), "%d", f->status);
			field(iov, &n, s[n], sizeof(s[0]), "FETCHD_STATUS", num);
		}
		if (f->attempt) {
			snprintf(num, sizeof(num), "%u", f->attempt);
			field(iov, &n, s[n], sizeof(s[0]), "FETCHD_ATTEMPT",
			    num);
		}
		if (f->has_duration) {
			snprintf(num, sizeof(num), "%.1f", f->duration_ms);
			field(iov, &n, s[n], sizeof(s[0]),
			    "FETCHD_DURATION_MS", num);
		}
	}
	sd_journal_sendv(iov, n);
}

static void
vlog(int pri, const struct log_fields *f, const char *fmt, va_list ap)
{
	char	 msg[4096];
	int	 saved = errno;

	if (pri > log_level) {
		errno = saved;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal)
		journal_send(pri, f, msg);
	else
		fprintf(stderr, "<%d>%s\n", pri, msg);
	errno = saved;
}

void
log_event(int pri, const struct log_fields *f, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(pri, f, fmt, ap);
	va_end(ap);
}

/* Like vlog, with ": strerror(errno)" appended. */
static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char	 msg[4096];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_event(pri, NULL, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_NOTICE, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
