/*
 * log.c: fetchd's logging, the only includer of sd-journal.h.
 *
 * One backend is chosen at log_init(): when stderr is the journal (the
 * JOURNAL_STREAM device/inode pair matches fd 2, as systemd documents),
 * events go through sd_journal_sendv() with MESSAGE_ID, the FETCHD_* fields
 * and the caller's CODE_FILE/CODE_LINE/CODE_FUNC (log.h's macros pass
 * them); otherwise lines go to stderr with "<N>" priority
 * prefixes that systemd-cat and terminals both read.  Messages below the
 * configured level are dropped before formatting.  Every function keeps
 * errno as it found it.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

/* Atomic: fetch threads log (rarely) while a reload may change it. */
static _Atomic int log_level = LOG_INFO;
static int	log_journal;

/* Where a message was logged from: CODE_FILE, CODE_LINE, CODE_FUNC. */
struct logsite {
	const char	*file;
	int		 line;
	const char	*func;
};

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

	/* An out-of-range number just does not match: not the journal. */
	/* NOLINTNEXTLINE(cert-err34-c) */
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

int
log_to_journal(void)
{
	return (log_journal);
}

/* The fields of one journal entry, packed into one buffer. */
struct jentry {
	struct iovec	 iov[16];
	int		 n;
	char		 buf[12 * 1024];
	size_t		 used;
};

/* Append "NAME=value" when the value is set; long values are cut. */
static void
field(struct jentry *e, const char *name, const char *value)
{
	size_t	 room = sizeof(e->buf) - e->used;
	int	 w;

	if (value == NULL || *value == '\0' || e->n == (int)nitems(e->iov) ||
	    room < 2)
		return;
	w = snprintf(e->buf + e->used, room, "%s=%s", name, value);
	if (w < 0)
		return;
	if ((size_t)w >= room)
		w = (int)room - 1;
	e->iov[e->n].iov_base = e->buf + e->used;
	e->iov[e->n].iov_len = (size_t)w;
	e->n++;
	e->used += (size_t)w + 1;
}

static void
field_num(struct jentry *e, const char *name, const char *fmt, ...)
    ATTR_PRINTF(3, 4);

static void
field_num(struct jentry *e, const char *name, const char *fmt, ...)
{
	char	 num[32];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(num, sizeof(num), fmt, ap);
	va_end(ap);
	field(e, name, num);
}

/*
 * Send one message with its fields to the journal.  sd_journal_sendv()
 * writes one datagram to journald's socket: it does not wait for journald
 * to process it (only a full socket queue could hold it up briefly).
 */
static void
journal_send(const struct logsite *at, int pri, const struct log_fields *f,
    const char *msg)
{
	struct jentry	 e;

	e.n = 0;
	e.used = 0;
	field(&e, "MESSAGE", msg);
	field_num(&e, "PRIORITY", "%d", pri);
	field(&e, "SYSLOG_IDENTIFIER", "fetchd");
	field(&e, "CODE_FILE", at->file);
	field_num(&e, "CODE_LINE", "%d", at->line);
	field(&e, "CODE_FUNC", at->func);
	if (f != NULL) {
		field(&e, "MESSAGE_ID", f->message_id);
		field(&e, "FETCHD_JOB", f->job);
		field(&e, "FETCHD_URL", f->url);
		field(&e, "FETCHD_ERROR", f->error);
		if (f->run)
			field_num(&e, "FETCHD_RUN", "%u", f->run);
		if (f->status)
			field_num(&e, "FETCHD_STATUS", "%d", f->status);
		if (f->attempt)
			field_num(&e, "FETCHD_ATTEMPT", "%u", f->attempt);
		if (f->has_duration)
			field_num(&e, "FETCHD_DURATION_MS", "%.1f",
			    f->duration_ms);
	}
	sd_journal_sendv(e.iov, e.n);
}

static void	vlog(const struct logsite *, int, const struct log_fields *,
		    const char *, va_list) ATTR_PRINTF(4, 0);
static void	vlog_errno(const struct logsite *, int, const char *, va_list)
		    ATTR_PRINTF(3, 0);
static void	vlog_plain(const struct logsite *, int, const char *, va_list)
		    ATTR_PRINTF(3, 0);

static void
vlog(const struct logsite *at, int pri, const struct log_fields *f,
    const char *fmt, va_list ap)
{
	char	 msg[4096];
	int	 saved = errno;

	if (pri > log_level) {
		errno = saved;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal)
		journal_send(at, pri, f, msg);
	else
		fprintf(stderr, "<%d>%s\n", pri, msg);
	errno = saved;
}

void
log_event_at(const char *file, int line, const char *func, int pri,
    const struct log_fields *f, const char *fmt, ...)
{
	struct logsite	 at = { file, line, func };
	va_list		 ap;

	va_start(ap, fmt);
	vlog(&at, pri, f, fmt, ap);
	va_end(ap);
}

/* Like vlog, with ": strerror(errno)" appended. */
static void
vlog_errno(const struct logsite *at, int pri, const char *fmt, va_list ap)
{
	char	 msg[4096];
	int	 saved = errno;

	if (pri > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_event_at(at->file, at->line, at->func, pri, NULL, "%s: %s", msg,
	    strerror(saved));
	errno = saved;
}

/* The plain functions, one per priority. */
#define LOG_FN(name, pri, vfn)						\
void									\
name(const char *file, int line, const char *func, const char *fmt, ...) \
{									\
	struct logsite	 at = { file, line, func };			\
	va_list		 ap;						\
									\
	va_start(ap, fmt);						\
	vfn(&at, pri, fmt, ap);						\
	va_end(ap);							\
}

static void
vlog_plain(const struct logsite *at, int pri, const char *fmt, va_list ap)
{
	vlog(at, pri, NULL, fmt, ap);
}

LOG_FN(log_warn_at, LOG_WARNING, vlog_errno)
LOG_FN(log_warnx_at, LOG_WARNING, vlog_plain)
LOG_FN(log_notice_at, LOG_NOTICE, vlog_plain)
LOG_FN(log_info_at, LOG_INFO, vlog_plain)
LOG_FN(log_debug_at, LOG_DEBUG, vlog_plain)

/*
 * Exit after a fatal error.  On another thread than the main one (a fetch
 * thread) without the exit handlers, which would run while the main
 * thread goes on.
 */
static void __attribute__((noreturn))
die(void)
{
	if (gettid() != getpid()) {
		fflush(stderr);
		_exit(1);
	}
	exit(1);
}

void
fatal_at(const char *file, int line, const char *func, const char *fmt, ...)
{
	struct logsite	 at = { file, line, func };
	va_list		 ap;

	va_start(ap, fmt);
	vlog_errno(&at, LOG_CRIT, fmt, ap);
	va_end(ap);
	die();
}

void
fatalx_at(const char *file, int line, const char *func, const char *fmt, ...)
{
	struct logsite	 at = { file, line, func };
	va_list		 ap;

	va_start(ap, fmt);
	vlog(&at, LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	die();
}
