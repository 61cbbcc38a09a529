/*
 * log.h: the logging API of fetchd (modelled on ntpd's log.h).
 *
 * log_warn() appends strerror(errno); log_warnx() does not.  fatal() and
 * fatalx() log and exit(1).  All preserve errno.  One backend is chosen at
 * log_init(): sd_journal_send() with MESSAGE_ID and FETCHD_* fields when
 * stderr is connected to the journal (JOURNAL_STREAM), else lines on stderr
 * with sd-daemon "<N>" priority prefixes.  log.c is the only includer of
 * sd-journal.h.
 */
#ifndef FETCHD_LOG_H
#define FETCHD_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

/* Structured fields of one event; unset members are 0/NULL and omitted. */
struct log_fields {
	const char	*message_id;	/* 32 hex digits, see systemd/fetchd.catalog */
	const char	*job;
	unsigned	 run;
	const char	*url;
	int		 status;
	unsigned	 attempt;
	const char	*error;
	double		 duration_ms;
	int		 has_duration;
};

void	log_init(int level, int force_stderr);
void	log_setlevel(int);
int	log_getlevel(void);
int	log_level_parse(const char *);		/* -1 if unknown */
const char *log_level_name(int);
void	log_event(int, const struct log_fields *, const char *, ...)
	    ATTR_PRINTF(3, 4);
void	log_warn(const char *, ...) ATTR_PRINTF(1, 2);
void	log_warnx(const char *, ...) ATTR_PRINTF(1, 2);
void	log_notice(const char *, ...) ATTR_PRINTF(1, 2);
void	log_info(const char *, ...) ATTR_PRINTF(1, 2);
void	log_debug(const char *, ...) ATTR_PRINTF(1, 2);
void	fatal(const char *, ...) ATTR_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) ATTR_PRINTF(1, 2) __attribute__((noreturn));

#endif /* FETCHD_LOG_H */
