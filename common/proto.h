/*
 * proto.h: the control protocol shared by fetchd and fetchctl.
 *
 * JSON Lines over a Unix stream socket: one request object per line, one or
 * more reply lines per request (docs/protocol.md is the reference).  Every
 * line carries "v" (PROTO_VERSION) and the request's "id".
 *
 * Version policy (bump this with care): new commands, new request fields
 * and new reply fields keep v.  v changes only when an existing message
 * changes meaning.  Error codes are never renumbered or reused; a new
 * condition gets a new code appended at the end.  A request whose v differs
 * is answered with "unsupported_version" naming both versions.
 */
#ifndef FETCHD_PROTO_H
#define FETCHD_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

#define PROTO_VERSION		1
#define PROTO_MAX_REQUEST	(1024 * 1024)	/* one request line, bytes */
#define PROTO_MAX_REPLY		(64 * 1024 * 1024) /* client-side cap per line */

/* Error codes; parallel to proto_err_names[].  Append only. */
enum proto_err {
	PERR_OK = 0,
	PERR_BAD_REQUEST,	/* "bad_request": not JSON, wrong types */
	PERR_TOO_LARGE,		/* "too_large": line over PROTO_MAX_REQUEST */
	PERR_VERSION,		/* "unsupported_version" */
	PERR_UNKNOWN_CMD,	/* "unknown_command" */
	PERR_NO_SUCH_JOB,	/* "no_such_job" */
	PERR_NO_SUCH_RUN,	/* "no_such_run" */
	PERR_INVALID_JOB,	/* "invalid_job": job file errors, see "errors" */
	PERR_PERMISSION,	/* "permission_denied" */
	PERR_NOT_ACTIVE,	/* "not_active": run already finished */
	PERR_LIMIT,		/* "limit": a daemon limit was reached */
	PERR_INTERNAL,		/* "internal" */
	PERR_NO_SUCH_URL,	/* "no_such_url": explain of a URL not in the run */
	PERR_NO_FAILURES,	/* "no_failures": retry-failed of a clean run */
	PERR_RELOAD,		/* "reload_failed": see "errors" */
	PERR_MAX
};
extern const char *const proto_err_names[PERR_MAX];

/*
 * Line framing with a hard cap.  Feed bytes in, take complete lines out.
 * A line longer than max is reported once as LB_OVERSIZED and its bytes are
 * discarded up to the next newline, so the stream resynchronizes.
 */
enum lb_result {
	LB_NONE = 0,		/* no complete line buffered */
	LB_LINE,		/* line and len hold one line, no newline */
	LB_OVERSIZED		/* a line over max was dropped */
};
struct linebuf {
	char	*data;
	size_t	 len;		/* bytes buffered */
	size_t	 off;		/* start of unconsumed data */
	size_t	 cap;
	size_t	 max;		/* longest accepted line, without '\n' */
	int	 discarding;	/* inside an oversized line */
};
void		 linebuf_init(struct linebuf *, size_t max);
void		 linebuf_free(struct linebuf *);
/* Room to read into: returns a pointer and sets *room (> 0). */
char		*linebuf_space(struct linebuf *, size_t *room);
void		 linebuf_commit(struct linebuf *, size_t n);
/* The returned line is valid until the next call; it is NUL-terminated. */
enum lb_result	 linebuf_next(struct linebuf *, char **line, size_t *len);

/*
 * Parse one request line.  On success returns the object (caller puts it)
 * with *id and *cmd filled (cmd points into the object).  On failure returns
 * NULL, sets *err and *msg (malloc'd), and *id if it could be read (else 0).
 */
struct json_object *proto_parse_request(const char *, size_t, int64_t *,
		    const char **, enum proto_err *, char **);
/* A fresh {"v":1,"id":id,"ok":true} object. */
struct json_object *proto_reply_ok(int64_t);
/* A fresh {"v":1,"id":id,"ok":false,"error":{"code":..,"message":..}}. */
struct json_object *proto_reply_error(int64_t, enum proto_err, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
/* A fresh request {"v":1,"id":id,"cmd":cmd}. */
struct json_object *proto_request_new(int64_t, const char *);
/* Serialize compactly with a trailing '\n'; malloc'd, length in *len. */
char		*proto_serialize(struct json_object *, size_t *);
/* The same, bytes that are not UTF-8 in strings as \ufffd (the daemon). */
char		*proto_serialize_reply(struct json_object *, size_t *);

#endif /* FETCHD_PROTO_H */
