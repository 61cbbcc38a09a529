/*
 * util.h: small helpers shared by fetchd, fetchctl and the tests.
 *
 * Time inside fetchd has one type and one unit: int64_t microseconds on the
 * monotonic clock (ev_now() * 1e6), named "usec".  Durations parsed from
 * configuration are usec too.  Sizes are uint64_t bytes.
 *
 * The x* allocators call fatalx() on out-of-memory; use them only for sizes
 * the daemon controls (STYLE principle 21).
 */
#ifndef FETCHD_UTIL_H
#define FETCHD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define USEC_PER_MSEC	1000LL
#define USEC_PER_SEC	1000000LL

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define ATTR_PRINTF(f, a)	__attribute__((format(printf, f, a)))

void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...) ATTR_PRINTF(2, 3);
int		 xvasprintf(char **, const char *, va_list) ATTR_PRINTF(2, 0);

/* Growable byte buffer; always NUL-terminated after data[len]. */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void		 buf_init(struct buf *);
void		 buf_free(struct buf *);
void		 buf_reset(struct buf *);
void		 buf_reserve(struct buf *, size_t);
void		 buf_add(struct buf *, const void *, size_t);
void		 buf_adds(struct buf *, const char *);
void		 buf_addc(struct buf *, char);
void		 buf_printf(struct buf *, const char *, ...) ATTR_PRINTF(2, 3);
void		 buf_consume(struct buf *, size_t);	/* drop from the front */

/*
 * Parsers return 0 on success, -1 with *cause (malloc'd, may be NULL if
 * cause is NULL) saying what was expected.  Outputs are untouched on failure.
 */
int		 util_parse_duration(const char *, int64_t *, char **);
int		 util_parse_size(const char *, uint64_t *, char **);
int		 util_parse_uint(const char *, uint64_t, uint64_t, uint64_t *,
		    char **);
int		 util_parse_bool(const char *, int *, char **);
int		 util_parse_percent(const char *, double *, char **);
/* Format a usec duration in systemd syntax ("1h30m", "250ms", "0"). */
void		 util_format_duration(int64_t, char *, size_t);
/* Format a size ("8M", "512K", "100"). */
void		 util_format_size(uint64_t, char *, size_t);

/*
 * "scheme://host:port" identity of a URL's origin, lowercased, with the
 * default port filled in; -1 if the URL is not http(s) or has no host.
 */
int		 util_url_origin(const char *, char *, size_t);

/* Out-of-the-box paths (DESIGN.md "Running it"); malloc'd. */
char		*util_default_socket(void);
char		*util_default_state_dir(void);

/* mkdir -p with mode for the created components; 0 or -1 with errno. */
int		 util_mkdirs(const char *, mode_t);

/* Edit distance, for "did you mean" suggestions. */
size_t		 util_levenshtein(const char *, const char *);

/* Is the buffer valid UTF-8 (no overlongs, no surrogates)? */
int		 util_utf8_valid(const char *, size_t);

/*
 * How many leading bytes of s[0..n) a JSON string holds as they are:
 * ASCII from 0x20 to 0x7f other than '"' and '\\'.  The fast part of
 * both JSON escapers (results.c, body.c); each handles the other bytes.
 */
size_t		 util_json_plain(const char *s, size_t n);

/* Base64 (RFC 4648, padded) of a buffer, appended to b. */
void		 util_base64(struct buf *, const void *, size_t);

/* Wall clock in milliseconds since the epoch, for timestamps in results. */
int64_t		 util_wallclock_ms(void);

#endif /* FETCHD_UTIL_H */
