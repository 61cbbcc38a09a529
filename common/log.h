/*
 * log.h: the logging API of fetchd (modelled on ntpd's log.h).
 *
 * log_warn() appends strerror(errno); log_warnx() does not.  fatal() and
 * fatalx() log and exit(1).  All preserve errno.  One backend is chosen at
 * log_init(): sd_journal_send() with MESSAGE_ID and FETCHD_* fields when
 * stderr is connected to the journal (JOURNAL_STREAM), else lines on stderr
 * with sd-daemon "<N>" priority prefixes.  log.c is the only includer of
 * sd-journal.h.  Header values of requests never reach a log: callers pass
 * URLs and failure classes, never a jobdef's headers.
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

/*
 * MESSAGE_IDs of the daemon's own events (one per kind, each explained in
 * systemd/fetchd.catalog).  The run and URL events are job.c's MSGID_*;
 * the catalog lists them all.
 */
#define MSGID_DAEMON_START	"98630b4e72af4826b043da3db3e1b3ce"
#define MSGID_DAEMON_STOP	"8651a44824604f31ab6239fbf2ea138f"
#define MSGID_RELOAD		"a7cf404323704675b2bae2c2574ec2a9"
#define MSGID_CONFIG_REJECTED	"eebabbbf70a54cceb47bc1c0d6e0d9fc"
#define MSGID_HOST_PAUSED	"3f7d9b1c4e6a46f8a0b2c4d6e8f0a2b5"
#define MSGID_HOST_DOWN		"4a8e0c2d5f7b47a9b1c3d5e7f9a1b3c6"
#define MSGID_HOST_UP		"5b9f1d3e6a8c48b0c2d4e6f8a0b2c4d7"

void	log_init(int level, int force_stderr);
void	log_setlevel(int);
int	log_getlevel(void);
int	log_level_parse(const char *);		/* -1 if unknown */
const char *log_level_name(int);
int	log_to_journal(void);			/* 1 if the journal backend */

/*
 * Every call site passes its location, sent as CODE_FILE, CODE_LINE and
 * CODE_FUNC to the journal: call the macros, not the *_at functions.
 */
#define LOG_AT	__FILE__, __LINE__, __func__
#define log_event(...)	log_event_at(LOG_AT, __VA_ARGS__)
#define log_warn(...)	log_warn_at(LOG_AT, __VA_ARGS__)
#define log_warnx(...)	log_warnx_at(LOG_AT, __VA_ARGS__)
#define log_notice(...)	log_notice_at(LOG_AT, __VA_ARGS__)
#define log_info(...)	log_info_at(LOG_AT, __VA_ARGS__)
#define log_debug(...)	log_debug_at(LOG_AT, __VA_ARGS__)
#define fatal(...)	fatal_at(LOG_AT, __VA_ARGS__)
#define fatalx(...)	fatalx_at(LOG_AT, __VA_ARGS__)

void	log_event_at(const char *, int, const char *, int,
	    const struct log_fields *, const char *, ...) ATTR_PRINTF(6, 7);
void	log_warn_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5);
void	log_warnx_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5);
void	log_notice_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5);
void	log_info_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5);
void	log_debug_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5);
void	fatal_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5) __attribute__((noreturn));
void	fatalx_at(const char *, int, const char *, const char *, ...)
	    ATTR_PRINTF(4, 5) __attribute__((noreturn));

#endif /* FETCHD_LOG_H */
