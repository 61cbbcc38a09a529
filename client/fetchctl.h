/*
 * fetchctl.h: what fetchctl.c (commands, the connection, exit status) and
 * output.c (how replies look) share.
 *
 * fetchctl.c reads reply lines from fetchd and decides what they mean; it
 * hands each one to an output, a table of functions chosen once in main():
 * output_human formats tables, detail views and progress bars, output_json
 * prints the daemon's lines as they came (bgpctl's struct output).  The
 * outputs never talk to the socket and never choose an exit status.
 */
#ifndef FETCHCTL_H
#define FETCHCTL_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Exit status (DESIGN.md "fetchctl"); CTL_MORE: read another line. */
#define CTL_EXIT_OK	0	/* success */
#define CTL_EXIT_RUN	1	/* a run ended partial/failed/cancelled */
#define CTL_EXIT_ERR	2	/* usage, connection or daemon error */
#define CTL_MORE	(-1)

/* One line from fetchd: the parsed object and the text as received. */
struct reply {
	struct json_object	*obj;
	const char		*line;		/* without '\n' */
	size_t			 len;
};

/* Why a run snapshot is shown (watch and submit --wait). */
enum watch_ev {
	WEV_SNAPSHOT,		/* from the first reply of watch */
	WEV_STARTED,
	WEV_PROGRESS,
	WEV_FINISHED
};

/*
 * One function per kind of reply.  table: list and status; detail: status
 * JOB.  watch_line gets each watch line that is kept (the first reply and
 * the events of the runs shown), progress each snapshot in it; idle says
 * that watch has nothing running to show; summary shows a run that submit
 * --wait saw finish; stop ends progress output (done, Ctrl-C or error).
 * retrying: the reply to retry-failed; notice: an error reply that is an
 * answer (nothing to retry), not a failure; metrics: the OpenMetrics
 * text; set: the setting a run now has.
 */
struct output {
	void	(*client_version)(void);
	void	(*ping)(const struct reply *);
	void	(*version)(const struct reply *);
	void	(*submitted)(const struct reply *);
	void	(*retrying)(const struct reply *);
	void	(*reloaded)(const struct reply *);
	void	(*explain)(const struct reply *);
	void	(*cancelled)(const struct reply *);
	void	(*metrics)(const struct reply *);
	void	(*set)(const struct reply *);
	void	(*notice)(const struct reply *);
	void	(*table)(const struct reply *);
	void	(*detail)(const struct reply *);
	void	(*record)(const struct reply *, struct json_object *);
	void	(*failures_head)(const struct reply *);
	void	(*failures_record)(const struct reply *,
		    struct json_object *);
	void	(*failures_end)(const struct reply *);
	void	(*watch_line)(const struct reply *);
	void	(*progress)(struct json_object *, enum watch_ev);
	void	(*idle)(void);
	void	(*summary)(struct json_object *);
	void	(*stop)(void);
	void	(*error)(const struct reply *, const char *, int);
};

extern const struct output	output_human;
extern const struct output	output_json;

/* fetchctl.c: reading replies; absent or mistyped members read as 0. */
struct json_object *obj_get(struct json_object *, const char *);
const char	*obj_str(struct json_object *, const char *);
int64_t		 obj_int(struct json_object *, const char *);
double		 obj_double(struct json_object *, const char *);
int		 obj_bool(struct json_object *, const char *);
/* States: finished is done or bad; bad is partial, failed or cancelled. */
int		 state_finished(const char *);
int		 state_bad(const char *);

#endif /* FETCHCTL_H */
