/*
 * output.c: how fetchctl shows fetchd's replies; owns stdout and the
 * terminal.
 *
 * Two outputs, chosen once in main() (bgpctl's output.c/output_json.c):
 * output_human prints aligned tables, a detail view of one run, failure
 * histograms and, for watch and submit --wait, one progress line per run;
 * on a terminal these lines are redrawn in place (at most 10 times a
 * second, a run's line left behind for good when it finishes), elsewhere a
 * plain line per run at most once a second.  output_json prints each reply
 * line as fetchd sent it, except that results and failures print the inner
 * records alone, which is the NDJSON of the results file.
 *
 * On a terminal (and only there) run states are coloured, unless NO_COLOR
 * is set to anything or TERM is "dumb", and the status table is fitted to
 * the terminal's width by cutting job names.  Elsewhere tables depend on
 * their content alone, so that scripts may grep them.
 */
#include "config.h"

#include <sys/ioctl.h>

#include <inttypes.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proto.h"
#include "util.h"
#include "fetchctl.h"

#define TABLE_COLS	12
#define TABLE_MEASURE	1000	/* rows that size a table's columns */
#define REDRAW_USEC	(100 * 1000)	/* terminal: 10 redraws/s */
#define PLAIN_USEC	(1000 * 1000)	/* elsewhere: a line a second */
#define BAR_MIN		10
#define BAR_MAX		30
#define LABEL_MIN	12	/* a job name may be cut to this */
/* Room after the bar: "62%  124/200  48.1/s  ETA 1.6s  3 failed". */
#define TAIL_ROOM	48

/* Formatting helpers. */

static int64_t
now_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000);
}

/* A duration for people: "850ms", "4.2s", "2m05s", "1h02m". */
static const char *
fmt_dur(double ms, char *b, size_t len)
{
	long long	 s = (long long)(ms / 1000.0 + 0.5);

	if (ms < 1000.0)
		snprintf(b, len, "%.0fms", ms < 0 ? 0 : ms);
	else if (ms < 60000.0)
		snprintf(b, len, "%.1fs", ms / 1000.0);
	else if (s < 3600)
		snprintf(b, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(b, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
	return (b);
}

/* A latency: "41.2ms", "1.25s". */
static const char *
fmt_lat(double ms, char *b, size_t len)
{
	if (ms < 1000.0)
		snprintf(b, len, "%.1fms", ms);
	else
		snprintf(b, len, "%.2fs", ms / 1000.0);
	return (b);
}

static const char *
fmt_bytes(double v, char *b, size_t len)
{
	static const char	 sfx[] = "KMGT";
	int			 i = -1;

	while (v >= 1024.0 && i < 3) {
		v /= 1024.0;
		i++;
	}
	if (i < 0)
		snprintf(b, len, "%.0fB", v);
	else
		snprintf(b, len, "%.1f%c", v, sfx[i]);
	return (b);
}

static int64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* "→" where the locale's charset is UTF-8, else "->". */
static const char *
arrow(void)
{
	static const char	*a;

	if (a == NULL)
		a = strcmp(nl_langinfo(CODESET), "UTF-8") == 0 ?
		    "\xe2\x86\x92" : "->";
	return (a);
}

/* Wall-clock milliseconds since the epoch, in local time. */
static const char *
fmt_wall(int64_t ms, char *b, size_t len)
{
	struct tm	 tm;
	time_t		 t = (time_t)(ms / 1000);

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(b, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(b, len, "%" PRId64, ms);
	return (b);
}

/* Width on screen of UTF-8 text (one column per code point). */
static size_t
textwidth(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return (n);
}

/* A copy fit for one table cell: control characters become spaces. */
static char *
cell(const char *s)
{
	char	*c, *p;

	c = xstrdup(s != NULL ? s : "-");
	for (p = c; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return (c);
}

static char *
cellf(const char *fmt, ...) ATTR_PRINTF(1, 2);

static char *
cellf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	return (s);
}

/* A string member for printing: "?" when absent. */
static const char *
ostr(struct json_object *o, const char *key)
{
	const char	*s = obj_str(o, key);

	return (s != NULL ? s : "?");
}

static size_t
array_len(struct json_object *a)
{
	if (a == NULL || !json_object_is_type(a, json_type_array))
		return (0);
	return (json_object_array_length(a));
}

static size_t
term_cols(void)
{
	struct winsize	 ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return (ws.ws_col);
	return (80);
}

/* Is stdout a terminal that takes escape sequences?  Asked once. */
static int
term_tty(void)
{
	static int	 tty = -1;
	const char	*term;

	if (tty == -1) {
		term = getenv("TERM");
		tty = isatty(STDOUT_FILENO) &&
		    (term == NULL || strcmp(term, "dumb") != 0);
	}
	return (tty);
}

/* Colours: on a terminal, unless NO_COLOR is set (https://no-color.org). */
static int
term_colour(void)
{
	static int	 colour = -1;
	const char	*no = getenv("NO_COLOR");

	if (colour == -1)
		colour = term_tty() && (no == NULL || *no == '\0');
	return (colour);
}

/* The SGR sequence of a run state, "" for none. */
static const char *
state_sgr(const char *state)
{
	static const struct {
		const char	*state;
		const char	*sgr;
	} sgrs[] = {
		{ "done",	"\033[32m" },		/* green */
		{ "partial",	"\033[33m" },		/* yellow */
		{ "failed",	"\033[1;31m" },	/* bold red */
		{ "cancelled",	"\033[31m" },		/* red */
		{ "running",	"\033[34m" },		/* blue */
		{ "paused",	"\033[35m" },		/* magenta */
	};
	size_t	 i;

	if (state == NULL || !term_colour())
		return ("");
	for (i = 0; i < nitems(sgrs); i++) {
		if (strcmp(state, sgrs[i].state) == 0)
			return (sgrs[i].sgr);
	}
	return ("");
}

/* Print a state in its colour. */
static void
put_state(const char *state)
{
	const char	*sgr = state_sgr(state);

	printf("%s%s%s", sgr, state != NULL ? state : "?",
	    *sgr != '\0' ? "\033[m" : "");
}

/*
 * Tables: columns two spaces apart, numbers right-aligned, the last column
 * not padded.  The first TABLE_MEASURE rows are held to size the columns;
 * later rows print as they come with those widths (a long table streams).
 * On a terminal a table is fitted to the width of the terminal: first
 * optional columns with nothing to say (every cell "-" or "0") are left
 * out, from the right, then the elastic column's cells are cut ("~"
 * marks the cut), never below TABLE_CUT_MIN columns; a state column is
 * coloured.
 */
#define TABLE_CUT_MIN	8

struct table {
	size_t		  ncols;
	const char	 *head[TABLE_COLS];
	int		  right[TABLE_COLS];
	int		  optional[TABLE_COLS];
	int		  hidden[TABLE_COLS];
	size_t		  width[TABLE_COLS];
	char		**cells;
	size_t		  nrows;
	size_t		  total;
	int		  fixed;
	int		  elastic;	/* column cut to fit, or -1 */
	int		  state;	/* column coloured, or -1 */
	int		  cut;		/* elastic cells may be cut */
};

/*
 * cols: the heads; ">NAME" is right-aligned, "~NAME" elastic, "*NAME"
 * a run state, "?NAME" optional (">?NAME": both).
 */
static void
table_init(struct table *t, const char *const *cols, size_t ncols)
{
	const char	*h;
	size_t		 i;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->elastic = t->state = -1;
	for (i = 0; i < ncols; i++) {
		for (h = cols[i]; strchr(">~*?", *h) != NULL; h++) {
			if (*h == '>')
				t->right[i] = 1;
			else if (*h == '~')
				t->elastic = (int)i;
			else if (*h == '*')
				t->state = (int)i;
			else if (*h == '?')
				t->optional[i] = 1;
		}
		t->head[i] = h;
		t->width[i] = strlen(t->head[i]);
	}
	t->cells = xreallocarray(NULL, TABLE_MEASURE * ncols, sizeof(char *));
}

/* Print text cut to w columns, the last one a "~" if it was cut. */
static void
put_cut(const char *s, size_t w)
{
	size_t	 i, cols = 0;

	if (textwidth(s) <= w) {
		fputs(s, stdout);
		return;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && cols++ == w - 1)
			break;
	}
	fwrite(s, 1, i, stdout);
	fputc('~', stdout);
}

static void
table_print_row(const struct table *t, char *const *row, int head)
{
	const char	*sgr;
	size_t		 i, w, pad, last = 0;

	for (i = 0; i < t->ncols; i++) {
		if (!t->hidden[i])
			last = i;
	}
	for (i = 0; i < t->ncols; i++) {
		if (t->hidden[i])
			continue;
		w = textwidth(row[i]);
		if (t->cut && (int)i == t->elastic && w > t->width[i])
			w = t->width[i];
		pad = w < t->width[i] ? t->width[i] - w : 0;
		sgr = !head && (int)i == t->state ? state_sgr(row[i]) : "";
		if (t->right[i])
			printf("%*s", (int)pad, "");
		fputs(sgr, stdout);
		put_cut(row[i], w);
		if (*sgr != '\0')
			fputs("\033[m", stdout);
		if (!t->right[i] && i < last)
			printf("%*s", (int)pad, "");
		fputs(i < last ? "  " : "\n", stdout);
	}
}

/* The width of the visible columns, with their gaps. */
static size_t
table_width(const struct table *t)
{
	size_t	 i, sum = 0;

	for (i = 0; i < t->ncols; i++) {
		if (!t->hidden[i])
			sum += t->width[i] + 2;
	}
	return (sum > 2 ? sum - 2 : sum);
}

/* Does column c say nothing (every row held is "-" or "0")? */
static int
table_empty(const struct table *t, size_t c)
{
	const char	*v;
	size_t		 r;

	for (r = 0; r < t->nrows; r++) {
		v = t->cells[r * t->ncols + c];
		if (strcmp(v, "-") != 0 && strcmp(v, "0") != 0)
			return (0);
	}
	return (1);
}

/*
 * On a terminal: leave out empty optional columns (only when every row is
 * held: all), then narrow the elastic column, until the rows fit.
 */
static void
table_fit(struct table *t, int all)
{
	size_t	 i, sum, cols, e;

	if (!term_tty())
		return;
	cols = term_cols();
	for (i = t->ncols; all && i-- > 0 && table_width(t) > cols;) {
		if (t->optional[i] && table_empty(t, i))
			t->hidden[i] = 1;
	}
	if (t->elastic == -1 || (sum = table_width(t)) <= cols)
		return;
	e = (size_t)t->elastic;
	t->cut = 1;
	if (t->width[e] > TABLE_CUT_MIN + (sum - cols))
		t->width[e] -= sum - cols;
	else if (t->width[e] > TABLE_CUT_MIN)
		t->width[e] = TABLE_CUT_MIN;
	if (t->width[e] < strlen(t->head[e]))
		t->width[e] = strlen(t->head[e]);
}

static void
table_flush(struct table *t, int all)
{
	char	*head[TABLE_COLS];
	size_t	 i;

	if (t->fixed)
		return;
	t->fixed = 1;
	table_fit(t, all);
	for (i = 0; i < t->ncols; i++)
		head[i] = xstrdup(t->head[i]);
	table_print_row(t, head, 1);
	for (i = 0; i < t->ncols; i++)
		free(head[i]);
	for (i = 0; i < t->nrows * t->ncols; i++) {
		if (i % t->ncols == 0)
			table_print_row(t, t->cells + i, 0);
		free(t->cells[i]);
	}
	t->nrows = 0;
}

/* Add a row of malloc'd cells (the table frees them). */
static void
table_add(struct table *t, char **row)
{
	size_t	 i, w;

	t->total++;
	if (t->fixed) {
		table_print_row(t, row, 0);
		for (i = 0; i < t->ncols; i++)
			free(row[i]);
		return;
	}
	for (i = 0; i < t->ncols; i++) {
		if ((w = textwidth(row[i])) > t->width[i])
			t->width[i] = w;
		t->cells[t->nrows * t->ncols + i] = row[i];
	}
	if (++t->nrows == TABLE_MEASURE)
		table_flush(t, 0);
}

static void
table_end(struct table *t)
{
	if (t->total > 0)
		table_flush(t, 1);
	free(t->cells);
	t->cells = NULL;
}

/*
 * A {"key":count} object, largest first, one "key  count" line each
 * (aligned) or "key: count"; the first line starts with first if not NULL.
 */
struct count {
	const char	*key;
	int64_t		 n;
};

static int
count_cmp(const void *a, const void *b)
{
	const struct count	*x = a, *y = b;

	if (x->n != y->n)
		return (x->n < y->n ? 1 : -1);
	return (strcmp(x->key, y->key));
}

static void
print_counts(struct json_object *o, const char *indent, const char *first,
    int colon)
{
	struct count	*c;
	size_t		 n = 0, i, w = 0;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) == 0)
		return;
	c = xcalloc((size_t)json_object_object_length(o), sizeof(*c));
	json_object_object_foreach(o, key, val) {
		c[n].key = key;
		c[n++].n = json_object_get_int64(val);
		if (textwidth(key) > w)
			w = textwidth(key);
	}
	qsort(c, n, sizeof(*c), count_cmp);
	for (i = 0; i < n; i++) {
		printf("%s", i == 0 && first != NULL ? first : indent);
		if (colon)
			printf("%s: %" PRId64 "\n", c[i].key, c[i].n);
		else
			printf("%-*s  %" PRId64 "\n", (int)w, c[i].key, c[i].n);
	}
	free(c);
}

/* Human output: one-line replies. */

static void
human_client_version(void)
{
	printf("fetchctl %s (protocol %d)\n", PACKAGE_VERSION, PROTO_VERSION);
	fflush(stdout);
}

static void
human_ping(const struct reply *r)
{
	printf("fetchd is alive (pid %" PRId64 ")\n", obj_int(r->obj, "pid"));
}

static void
human_version(const struct reply *r)
{
	static const char *const libs[] = { "curl", "libev", "json_c" };
	const char	*v;
	size_t		 i, n = 0;

	printf("fetchd   %s (protocol %" PRId64, ostr(r->obj, "version"),
	    obj_int(r->obj, "protocol"));
	for (i = 0; i < nitems(libs); i++) {
		if ((v = obj_str(r->obj, libs[i])) != NULL)
			printf("%s%s %s", n++ == 0 ? "; " : ", ",
			    strcmp(libs[i], "json_c") == 0 ? "json-c" : libs[i],
			    v);
	}
	printf(")\n");
}

static void
human_reloaded(const struct reply *r)
{
	(void)r;
	printf("fetchd reloaded its configuration\n");
}

/* An error reply that answers the question: its message, on stdout. */
static void
human_notice(const struct reply *r)
{
	struct json_object	*e = obj_get(r->obj, "error");

	printf("%s\n", obj_str(e, "message") != NULL ?
	    obj_str(e, "message") : ostr(e, "code"));
}

static void
human_submitted(const struct reply *r)
{
	struct json_object	*runs = obj_get(r->obj, "runs"), *o;
	size_t			 i, n = array_len(runs);

	if (n == 0)
		printf("submitted: no jobs in the file\n");
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(runs, i);
		printf("submitted %s: run %" PRId64 "\n", ostr(o, "name"),
		    obj_int(o, "run"));
		if (obj_str(o, "results") != NULL)
			printf("  results: %s\n", obj_str(o, "results"));
		if (state_finished(obj_str(o, "state")))
			printf("  %s%s%s\n", obj_str(o, "state"),
			    obj_str(o, "reason") != NULL ? ": " : "",
			    obj_str(o, "reason") != NULL ?
			    obj_str(o, "reason") : "");
	}
	fflush(stdout);
}

/* "retrying 12 failed URLs of items run 3 as run 4". */
static void
human_retrying(const struct reply *r)
{
	struct json_object	*runs = obj_get(r->obj, "runs"), *o;
	size_t			 i;

	for (i = 0; i < array_len(runs); i++) {
		o = json_object_array_get_idx(runs, i);
		printf("retrying ");
		if (obj_get(o, "total") != NULL)
			printf("%" PRId64 " failed URL%s", obj_int(o, "total"),
			    obj_int(o, "total") == 1 ? "" : "s");
		else
			printf("the failed URLs");
		if (obj_get(o, "retry_of") != NULL)
			printf(" of %s run %" PRId64, ostr(o, "name"),
			    obj_int(o, "retry_of"));
		else
			printf(" of %s", ostr(o, "name"));
		printf(" as run %" PRId64 "\n", obj_int(o, "run"));
		if (obj_str(o, "results") != NULL)
			printf("  results: %s\n", obj_str(o, "results"));
	}
	fflush(stdout);
}

/* cancel, pause, resume: "cancelled items run 3", "paused items run 3". */
static void
human_cancelled(const struct reply *r)
{
	static const char *const words[] = {
		"cancelling", "cancelled", "paused", "resumed"
	};
	const char	*state = obj_str(r->obj, "state");
	const char	*word = "cancelled";
	size_t		 i;

	for (i = 0; state != NULL && i < sizeof(words) / sizeof(words[0]);
	    i++)
		if (strcmp(state, words[i]) == 0)
			word = words[i];
	printf("%s %s run %" PRId64 "\n", word, ostr(r->obj, "name"),
	    obj_int(r->obj, "run"));
}

/* metrics: the text as fetchd made it (it ends in "# EOF\n"). */
static void
human_metrics(const struct reply *r)
{
	struct json_object	*t = obj_get(r->obj, "text");

	if (t == NULL || !json_object_is_type(t, json_type_string))
		return;
	fwrite(json_object_get_string(t), 1,
	    (size_t)json_object_get_string_len(t), stdout);
}

/* set: "items run 3: concurrency = 20". */
static void
human_set(const struct reply *r)
{
	printf("%s run %" PRId64 ": %s = %s\n", ostr(r->obj, "name"),
	    obj_int(r->obj, "run"), ostr(r->obj, "key"),
	    ostr(r->obj, "value"));
}

/* Human output: status and list. */

static char *
progress_cell(struct json_object *s)
{
	if (obj_get(s, "total_known") != NULL && !obj_bool(s, "total_known"))
		return (cellf("%" PRId64 "/?", obj_int(s, "done")));
	return (cellf("%" PRId64 "/%" PRId64, obj_int(s, "done"),
	    obj_int(s, "total")));
}

/*
 * The state shown for a run: "paused" for a running run that is held
 * (the snapshot's state stays "running", with "paused":true).
 */
static const char *
shown_state(struct json_object *s)
{
	const char	*state = obj_str(s, "state");

	if (obj_bool(s, "paused") && !state_finished(state))
		return ("paused");
	return (state);
}

/* ETA of a run going, "-" otherwise. */
static char *
eta_cell(struct json_object *s)
{
	char	 d[32];

	if (obj_get(s, "eta_ms") == NULL ||
	    state_finished(obj_str(s, "state")))
		return (cell("-"));
	return (cell(fmt_dur(obj_double(s, "eta_ms"), d, sizeof(d))));
}

/* When a periodic job runs next: "in 4m05s", "due"; "-" if not periodic. */
static const char *
fmt_next(struct json_object *s, int64_t now, char *b, size_t len)
{
	char	 d[32];
	int64_t	 next = obj_int(s, "next_run");

	if (obj_get(s, "next_run") == NULL || next <= 0)
		snprintf(b, len, "-");
	else if (next <= now)
		snprintf(b, len, "due");
	else
		snprintf(b, len, "in %s", fmt_dur((double)(next - now), d,
		    sizeof(d)));
	return (b);
}

static void
human_table(const struct reply *r)
{
	static const char *const cols[] = { "~NAME", ">RUN", "*STATE",
	    ">PROGRESS", ">OK", ">FAILED", ">?RETRY", ">?INFLIGHT", ">RATE",
	    ">ELAPSED", ">?ETA", "?NEXT" };
	struct json_object	*jobs = obj_get(r->obj, "jobs"), *s;
	struct table		 t;
	char			*row[TABLE_COLS], d[32];
	size_t			 i, n = array_len(jobs);
	int64_t			 now = wall_ms();

	if (n == 0) {
		printf("no jobs\n");
		return;
	}
	table_init(&t, cols, nitems(cols));
	for (i = 0; i < n; i++) {
		s = json_object_array_get_idx(jobs, i);
		row[0] = cell(obj_str(s, "name"));
		row[1] = cellf("%" PRId64, obj_int(s, "run"));
		row[2] = cell(shown_state(s));
		row[3] = progress_cell(s);
		row[4] = cellf("%" PRId64, obj_int(s, "ok"));
		row[5] = cellf("%" PRId64, obj_int(s, "failed"));
		row[6] = cellf("%" PRId64, obj_int(s, "retrying"));
		row[7] = cellf("%" PRId64, obj_int(s, "in_flight"));
		row[8] = cellf("%.1f/s", obj_double(s, "rate"));
		row[9] = cell(fmt_dur(obj_double(s, "elapsed_ms"), d,
		    sizeof(d)));
		row[10] = eta_cell(s);
		row[11] = cell(fmt_next(s, now, d, sizeof(d)));
		table_add(&t, row);
	}
	table_end(&t);
}

/* Detail view: when the run started and ended. */
static void
detail_times(struct json_object *s)
{
	char	 a[64], b[64];

	fmt_dur(obj_double(s, "elapsed_ms"), b, sizeof(b));
	if (obj_get(s, "started") == NULL) {
		printf("  elapsed   %s\n", b);
		return;
	}
	printf("  started   %s", fmt_wall(obj_int(s, "started"), a,
	    sizeof(a)));
	if (obj_get(s, "ended") != NULL)
		printf("   ended %s", fmt_wall(obj_int(s, "ended"), a,
		    sizeof(a)));
	printf("   elapsed %s\n", b);
}

/*
 * A held host's state and what its "until" means: "paused for 1.2s
 * (until 12:00:03)" (a Retry-After pause), "down, probe in 3.0s (until
 * 12:00:05)" (the breaker is open), "limited" (adaptive concurrency below
 * per-host).
 */
static const char *
held_state(struct json_object *h, int64_t now, char *b, size_t len)
{
	const char	*state = ostr(h, "state");
	char		 d[32];
	int64_t		 until = obj_int(h, "until");

	struct tm	 tm;
	time_t		 t = (time_t)(until / 1000);
	char		 at[16];

	if (obj_get(h, "until") == NULL || until <= now)
		snprintf(b, len, "%s", state);
	else {
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(at, sizeof(at), "%H:%M:%S", &tm) == 0)
			at[0] = '\0';
		snprintf(b, len, "%s%s %s%s%s%s", state,
		    strcmp(state, "down") == 0 ? ", probe in" : " for",
		    fmt_dur((double)(until - now), d, sizeof(d)),
		    at[0] != '\0' ? " (until " : "", at,
		    at[0] != '\0' ? ")" : "");
	}
	return (b);
}

/*
 * Detail view: the origins held back, aligned,
 * "  held      http://h:8080  paused for 1.2s  limit 4  in flight 2 ...".
 */
static void
detail_held(struct json_object *s)
{
	struct json_object	*held = obj_get(s, "hosts_held"), *h;
	char			 st[96];
	size_t			 i, n = array_len(held), ow = 0, sw = 0;
	int64_t			 now = wall_ms();

	for (i = 0; i < n; i++) {
		h = json_object_array_get_idx(held, i);
		if (textwidth(ostr(h, "origin")) > ow)
			ow = textwidth(ostr(h, "origin"));
		if (strlen(held_state(h, now, st, sizeof(st))) > sw)
			sw = strlen(st);
	}
	for (i = 0; i < n; i++) {
		h = json_object_array_get_idx(held, i);
		printf("%s%s%*s  %-*s", i == 0 ? "  held      " : "            ",
		    ostr(h, "origin"),
		    (int)(ow - textwidth(ostr(h, "origin"))), "", (int)sw,
		    held_state(h, now, st, sizeof(st)));
		if (obj_int(h, "limit") > 0)	/* 0: per-host */
			printf("  limit %" PRId64, obj_int(h, "limit"));
		printf("  in flight %" PRId64 "  failures %" PRId64 "\n",
		    obj_int(h, "in_flight"), obj_int(h, "failures"));
	}
}

/*
 * Detail view: the last failures (status JOB only), oldest first,
 * "  failures  #17  http_503  3 attempts  http://h/item/17".
 */
static void
detail_recent(struct json_object *s)
{
	struct json_object	*rec = obj_get(s, "recent_failures"), *o;
	char			 a[32];
	size_t			 i, n = array_len(rec), iw = 0, ew = 0;

	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(rec, i);
		if ((size_t)snprintf(a, sizeof(a), "#%" PRId64,
		    obj_int(o, "i")) > iw)
			iw = strlen(a);
		if (textwidth(ostr(o, "error")) > ew)
			ew = textwidth(ostr(o, "error"));
	}
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(rec, i);
		snprintf(a, sizeof(a), "#%" PRId64, obj_int(o, "i"));
		printf("%s%-*s  %-*s  %" PRId64 " attempt%s  %s\n",
		    i == 0 ? "  failures  " : "            ", (int)iw, a,
		    (int)ew, ostr(o, "error"), obj_int(o, "attempts"),
		    obj_int(o, "attempts") == 1 ? " " : "s", ostr(o, "url"));
	}
}

/* Detail view: errors, hosts, slowest URLs, where the results are. */
static void
detail_tail(struct json_object *s)
{
	struct json_object	*slow = obj_get(s, "slowest"), *o;
	char			 a[64];
	size_t			 i;

	print_counts(obj_get(s, "errors"), "            ", "  errors    ", 0);
	print_counts(obj_get(s, "hosts"), "            ", "  hosts     ", 0);
	detail_held(s);
	for (i = 0; i < array_len(slow); i++) {
		o = json_object_array_get_idx(slow, i);
		printf("%s%9s  %s\n", i == 0 ? "  slowest " : "          ",
		    fmt_lat(obj_double(o, "ms"), a, sizeof(a)),
		    ostr(o, "url"));
	}
	detail_recent(s);
	if (obj_str(s, "results") != NULL)
		printf("  results   %s\n", obj_str(s, "results"));
	if (obj_int(s, "failed") > 0)
		printf("see: fetchctl failures %s --run %" PRId64 "\n",
		    ostr(s, "name"), obj_int(s, "run"));
}

static void
detail_one(struct json_object *s)
{
	struct json_object	*lat = obj_get(s, "latency_ms");
	const char		*state = ostr(s, "state");
	char			 a[64], b[64], c[64];
	int64_t			 total = obj_int(s, "total");

	printf("%s run %" PRId64 ": ", ostr(s, "name"), obj_int(s, "run"));
	put_state(shown_state(s));
	if (obj_bool(s, "finishing"))
		printf(" (finishing)");
	printf("\n");
	if (obj_str(s, "reason") != NULL)
		printf("  reason    %s\n", obj_str(s, "reason"));
	if (obj_bool(s, "paused") && !state_finished(state))
		printf("  paused    %s\n", obj_str(s, "pause_reason") != NULL ?
		    obj_str(s, "pause_reason") : "yes");
	if (obj_get(s, "retry_of") != NULL)
		printf("  retry of  run %" PRId64 "\n", obj_int(s, "retry_of"));
	detail_times(s);
	printf("  progress  %" PRId64, obj_int(s, "done"));
	if (obj_get(s, "total_known") == NULL || obj_bool(s, "total_known"))
		printf("/%" PRId64 " (%d%%)", total, total > 0 ?
		    (int)(obj_int(s, "done") * 100 / total) : 0);
	printf("   ok %" PRId64 "   failed %" PRId64 "   in flight %" PRId64
	    "   queued %" PRId64 "   retrying %" PRId64 "\n", obj_int(s, "ok"),
	    obj_int(s, "failed"), obj_int(s, "in_flight"),
	    obj_int(s, "queued"), obj_int(s, "retrying"));
	printf("  attempts  %" PRId64 " (%" PRId64 " retries)   received %s\n",
	    obj_int(s, "attempts"), obj_int(s, "retries"),
	    fmt_bytes(obj_double(s, "bytes"), a, sizeof(a)));
	printf("  rate      %.1f/s", obj_double(s, "rate"));
	if (obj_get(s, "eta_ms") != NULL && !state_finished(state))
		printf("   ETA %s", fmt_dur(obj_double(s, "eta_ms"), a,
		    sizeof(a)));
	printf("\n");
	if (obj_get(s, "next_run") != NULL)
		printf("  next run  %s (%s)\n", fmt_wall(obj_int(s, "next_run"),
		    a, sizeof(a)), fmt_next(s, wall_ms(), b, sizeof(b)));
	if (lat != NULL)
		printf("  latency   p50 %s   p95 %s   p99 %s\n",
		    fmt_lat(obj_double(lat, "p50"), a, sizeof(a)),
		    fmt_lat(obj_double(lat, "p95"), b, sizeof(b)),
		    fmt_lat(obj_double(lat, "p99"), c, sizeof(c)));
	detail_tail(s);
}

static void
human_detail(const struct reply *r)
{
	struct json_object	*jobs = obj_get(r->obj, "jobs");
	size_t			 i;

	for (i = 0; i < array_len(jobs); i++) {
		if (i > 0)
			printf("\n");
		detail_one(json_object_array_get_idx(jobs, i));
	}
}

/* Past the JSON value at s[i] (the line is known to be valid JSON). */
static size_t
skip_value(const char *s, size_t len, size_t i)
{
	int	 depth = 0, instr = 0;

	for (; i < len; i++) {
		if (instr) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"') {
				instr = 0;
				if (depth == 0)
					return (i + 1);
			}
			continue;
		}
		switch (s[i]) {
		case '"':
			instr = 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return (i);	/* the enclosing end */
			if (--depth == 0)
				return (i + 1);
			break;
		case ',':
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			if (depth == 0)
				return (i);
			break;
		}
	}
	return (i);
}

static size_t
skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
	    s[i] == '\n'))
		i++;
	return (i);
}

/*
 * The text of the top-level member key of a JSON object line, as it came:
 * the stored result line inside {"v":1,"id":5,"record":{...}}.
 */
static int
raw_member(const char *s, size_t len, const char *key, const char **val,
    size_t *vlen)
{
	size_t	 i, k, v, klen = strlen(key);
	int	 match;

	if ((i = skip_ws(s, len, 0)) >= len || s[i] != '{')
		return (-1);
	for (i++;; i++) {
		if ((i = skip_ws(s, len, i)) >= len || s[i] != '"')
			return (-1);
		k = i + 1;
		i = skip_value(s, len, i);
		match = i - 1 - k == klen && memcmp(s + k, key, klen) == 0;
		if ((i = skip_ws(s, len, i)) >= len || s[i] != ':')
			return (-1);
		v = skip_ws(s, len, i + 1);
		i = skip_value(s, len, v);
		if (match) {
			*val = s + v;
			*vlen = i - v;
			return (0);
		}
		if ((i = skip_ws(s, len, i)) >= len || s[i] != ',')
			return (-1);
	}
}

/* Records: the line of the results file, byte for byte. */
static void
print_record(const struct reply *r, struct json_object *rec)
{
	const char	*v;
	size_t		 n;

	if (raw_member(r->line, r->len, "record", &v, &n) == 0)
		fwrite(v, 1, n, stdout);
	else
		fputs(json_object_to_json_string_ext(rec,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
		    stdout);
	fputc('\n', stdout);
}

/* Human output: failures, a histogram then a table. */

static struct table	 failtab;

static void
human_failures_head(const struct reply *r)
{
	static const char *const cols[] = { ">I", "ERROR", ">ATTEMPTS", ">MS",
	    "URL", "DETAIL" };
	struct json_object	*errs = obj_get(r->obj, "errors");
	int64_t			 nfail = 0;

	if (errs != NULL && json_object_is_type(errs, json_type_object)) {
		json_object_object_foreach(errs, key, val) {
			(void)key;
			nfail += json_object_get_int64(val);
		}
	}
	printf("%s run %" PRId64 " (%s): %" PRId64 " failed\n",
	    ostr(r->obj, "name"), obj_int(r->obj, "run"),
	    ostr(r->obj, "state"), nfail);
	print_counts(errs, "  ", NULL, 0);
	if (obj_get(r->obj, "hosts") != NULL &&
	    json_object_object_length(obj_get(r->obj, "hosts")) > 0) {
		printf("by host:\n");
		print_counts(obj_get(r->obj, "hosts"), "  ", NULL, 0);
	}
	printf("\n");
	table_init(&failtab, cols, nitems(cols));
}

static void
human_failures_record(const struct reply *r, struct json_object *rec)
{
	char	*row[TABLE_COLS];

	(void)r;
	if (failtab.cells == NULL)
		return;
	row[0] = cellf("%" PRId64, obj_int(rec, "i"));
	row[1] = cell(obj_str(rec, "error"));
	row[2] = cellf("%" PRId64, obj_int(rec, "attempts"));
	row[3] = cellf("%.1f", obj_double(rec, "ms"));
	row[4] = cell(obj_str(rec, "url"));
	row[5] = cell(obj_str(rec, "detail") != NULL ?
	    obj_str(rec, "detail") : "");
	table_add(&failtab, row);
}

static void
human_failures_end(const struct reply *r)
{
	(void)r;
	if (failtab.total == 0)
		printf("no failed URLs\n");
	table_end(&failtab);
}

/*
 * Human output: explain, a timeline with one block per attempt,
 * #1  12:00:00.123  +0.0ms  → 503 http_503 (Retry-After: 1)
 *     queued 0.0ms  dns 0.1  connect 0.4  tls -  first byte 12.0  total 12.3 ms
 *     retry in 1000.0ms: http_503 is in retry-on; attempt 1 of 3; ...
 * then what the URL came to.  On a terminal the decision is folded at
 * word boundaries to its width; elsewhere it is one line, for grep.
 */

/* Local time of day with milliseconds: "12:00:00.123". */
static const char *
fmt_clock(double ms, char *b, size_t len)
{
	struct tm	 tm;
	time_t		 t = (time_t)(ms / 1000.0);
	int		 milli = (int)(ms - (double)t * 1000.0);

	if (ms < 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(b, len, "%H:%M:%S", &tm) == 0)
		snprintf(b, len, "%.0f", ms);
	else
		snprintf(b + strlen(b), len - strlen(b), ".%03d", milli);
	return (b);
}

/* A phase time from the attempt's start, "-" when absent (tls: or 0). */
static void
explain_phase(struct buf *b, struct json_object *a, const char *label,
    const char *key, int zero_is_none)
{
	if (obj_get(a, key) == NULL ||
	    (zero_is_none && obj_double(a, key) == 0.0))
		buf_printf(b, "  %s -", label);
	else
		buf_printf(b, "  %s %.1f", label, obj_double(a, key));
}

/* "→ 503 http_503 (Retry-After: 1)", "→ timeout (detail)", "→ 200 ok". */
static void
explain_result(struct buf *b, struct json_object *a)
{
	const char	*err = obj_str(a, "error");
	const char	*detail = obj_str(a, "detail");
	const char	*ra = obj_str(a, "retry_after");

	buf_printf(b, "  %s", arrow());
	if (obj_int(a, "status") > 0)
		buf_printf(b, " %" PRId64, obj_int(a, "status"));
	buf_printf(b, " %s", err != NULL ? err : "ok");
	if (err == NULL || strncmp(err, "http_", 5) == 0)
		detail = NULL;		/* the status says it */
	if (detail != NULL && ra != NULL)
		buf_printf(b, " (%s; Retry-After: %s)", detail, ra);
	else if (detail != NULL || ra != NULL)
		buf_printf(b, " (%s%s)", ra != NULL ? "Retry-After: " : "",
		    ra != NULL ? ra : detail);
}

/*
 * Print text indented; on a terminal folded at spaces to its width, the
 * lines after the first indented by two more.
 */
static void
put_folded(int indent, const char *text)
{
	size_t	 cols = term_tty() ? term_cols() : 0, room, len, cut;
	int	 ind = indent;

	for (;;) {
		room = cols > (size_t)ind + 20 ? cols - 1 - (size_t)ind : 0;
		len = strlen(text);
		if (room == 0 || len <= room) {
			printf("%*s%s\n", ind, "", text);
			return;
		}
		for (cut = room; cut > 0 && text[cut] != ' '; cut--)
			;
		if (cut == 0)
			cut = room;
		printf("%*s%.*s\n", ind, "", (int)cut, text);
		for (text += cut; *text == ' '; text++)
			;
		if (*text == '\0')
			return;
		ind = indent + 2;
	}
}

static void
explain_attempt(struct json_object *a, double t0)
{
	struct buf	 b;
	const char	*dec = obj_str(a, "decision");
	const char	*why = obj_str(a, "why");
	char		 c[64];
	double		 off = obj_double(a, "start") - t0;

	buf_init(&b);
	buf_printf(&b, "#%" PRId64 "  %s  +", obj_int(a, "attempt"),
	    fmt_clock(obj_double(a, "start"), c, sizeof(c)));
	if (off < 10000.0)
		buf_printf(&b, "%.1fms", off);
	else
		buf_adds(&b, fmt_dur(off, c, sizeof(c)));
	explain_result(&b, a);
	puts(b.data);
	buf_reset(&b);
	buf_printf(&b, "    queued %.1fms", obj_double(a, "queue_ms"));
	explain_phase(&b, a, "dns", "dns_ms", 0);
	explain_phase(&b, a, "connect", "connect_ms", 0);
	explain_phase(&b, a, "tls", "tls_ms", 1);
	explain_phase(&b, a, "first byte", "ttfb_ms", 0);
	explain_phase(&b, a, "total", "total_ms", 0);
	buf_adds(&b, " ms");
	puts(b.data);
	buf_reset(&b);
	if (dec != NULL && strcmp(dec, "retry") == 0)
		buf_printf(&b, "retry in %.1fms%s%s",
		    obj_double(a, "delay_ms"), why != NULL ? ": " : "",
		    why != NULL ? why : "");
	else if (dec != NULL && strcmp(dec, "final") == 0)
		buf_printf(&b, "no retry%s%s", why != NULL ? ": " : "",
		    why != NULL ? why : "");
	if (b.len > 0)
		put_folded(4, b.data);
	buf_free(&b);
}

/* What the URL came to: its result record, or not finished yet. */
static void
explain_outcome(struct json_object *rec)
{
	const char	*err = obj_str(rec, "error");
	int64_t		 n = obj_int(rec, "attempts");

	if (rec == NULL) {
		printf("outcome: not finished yet\n");
		return;
	}
	printf("outcome: %s,", err != NULL ? "failed" : "ok");
	if (obj_int(rec, "status") > 0)
		printf(" %" PRId64, obj_int(rec, "status"));
	if (err != NULL)
		printf(" %s", err);
	printf(" after %" PRId64 " attempt%s (last %.1fms, queued %.1fms)",
	    n, n == 1 ? "" : "s", obj_double(rec, "ms"),
	    obj_double(rec, "queue_ms"));
	if (err != NULL && obj_str(rec, "detail") != NULL)
		printf(": %s", obj_str(rec, "detail"));
	printf("\n");
}

static void
human_explain(const struct reply *r)
{
	struct json_object	*att = obj_get(r->obj, "attempts"), *a0;
	const char		*url = obj_str(r->obj, "url");
	size_t			 i, n = array_len(att);

	a0 = n > 0 ? json_object_array_get_idx(att, 0) : NULL;
	if (url == NULL)		/* asked by index */
		url = obj_str(obj_get(r->obj, "record"), "url");
	if (url == NULL)
		url = obj_str(a0, "url");
	printf("%s run %" PRId64 ", URL %" PRId64 ": %s\n",
	    ostr(r->obj, "name"), obj_int(r->obj, "run"),
	    obj_int(r->obj, "i"), url != NULL ? url : "?");
	if (n == 0)
		printf("%s\n", obj_get(r->obj, "record") != NULL ?
		    "no attempt was made" : "no attempts yet");
	for (i = 0; i < n; i++)
		explain_attempt(json_object_array_get_idx(att, i),
		    obj_double(a0, "start"));
	explain_outcome(obj_get(r->obj, "record"));
}

/*
 * Progress of runs (watch, submit --wait).  On a terminal the lines of the
 * runs still going form a region at the bottom that is redrawn in place;
 * a run that finishes is written above it once more and left there.
 */
struct liverun {
	char			*name;
	int64_t			 run;
	struct json_object	*snap;
	int			 finished;
	int64_t			 printed;	/* no terminal: usec */
};

static struct {
	int		 init;
	int		 tty;
	struct liverun	*runs;
	size_t		 n;
	size_t		 drawn;		/* lines above cursor */
	int64_t		 last;		/* last redraw, usec */
	int		 pending;	/* a change not drawn yet */
} live;

static struct liverun *
live_get(struct json_object *snap)
{
	const char	*name = obj_str(snap, "name");
	int64_t		 run = obj_int(snap, "run");
	size_t		 i;

	if (!live.init) {
		live.init = 1;
		live.tty = term_tty();
	}
	if (name == NULL)
		name = "?";
	for (i = 0; i < live.n; i++) {
		if (live.runs[i].run == run &&
		    strcmp(live.runs[i].name, name) == 0)
			return (&live.runs[i]);
	}
	live.runs = xreallocarray(live.runs, live.n + 1, sizeof(*live.runs));
	memset(&live.runs[live.n], 0, sizeof(*live.runs));
	live.runs[live.n].name = xstrdup(name);
	live.runs[live.n].run = run;
	return (&live.runs[live.n++]);
}

/* "items", or "items#3" when two runs of items are on screen. */
static void
live_label(const struct liverun *lr, char *b, size_t len)
{
	size_t	 i;

	for (i = 0; i < live.n; i++) {
		if (&live.runs[i] != lr &&
		    strcmp(live.runs[i].name, lr->name) == 0) {
			snprintf(b, len, "%s#%" PRId64, lr->name, lr->run);
			return;
		}
	}
	snprintf(b, len, "%s", lr->name);
}

/* Cut a line to fit n columns, not inside a UTF-8 sequence. */
static void
fit(struct buf *b, size_t start, size_t n)
{
	size_t	 i, cols = 0;

	for (i = start; i < b->len; i++) {
		if (((unsigned char)b->data[i] & 0xc0) != 0x80 && cols++ == n) {
			b->len = i;
			b->data[i] = '\0';
			return;
		}
	}
}

/*
 * A run's progress as text, " 62%  124/200  48.1/s  ETA 1.6s  3 failed"
 * (a finished run shows its state and duration instead of the rate, a
 * paused one "paused"), and
 * the share done, -1 when the total is not known yet.
 */
static double
live_text(struct json_object *s, char *b, size_t len)
{
	const char	*state = obj_str(s, "state");
	char		 d[32];
	int64_t		 done = obj_int(s, "done");
	int64_t		 total = obj_int(s, "total");
	double		 share = -1;
	size_t		 n;

	if (state == NULL)
		state = "?";
	if (obj_get(s, "total_known") == NULL || obj_bool(s, "total_known")) {
		if (done >= total)
			share = total > 0 || state_finished(state) ? 1.0 : 0;
		else
			share = (double)done / (double)total;
		snprintf(b, len, "%3d%%  %" PRId64 "/%" PRId64,
		    (int)(share * 100), done, total);
	} else
		snprintf(b, len, "  ?%%  %" PRId64 "/?", done);
	n = strlen(b);
	if (state_finished(state))
		snprintf(b + n, len - n, "  %s in %s", state,
		    fmt_dur(obj_double(s, "elapsed_ms"), d, sizeof(d)));
	else if (strcmp(state, "running") != 0)
		snprintf(b + n, len - n, "  %s", state);
	else if (obj_bool(s, "paused"))
		snprintf(b + n, len - n, "  paused");
	else if (obj_get(s, "eta_ms") != NULL)
		snprintf(b + n, len - n, "  %.1f/s  ETA %s",
		    obj_double(s, "rate"), fmt_dur(obj_double(s, "eta_ms"), d,
		    sizeof(d)));
	else
		snprintf(b + n, len - n, "  %.1f/s", obj_double(s, "rate"));
	n = strlen(b);
	if (obj_int(s, "failed") > 0)
		snprintf(b + n, len - n, "  %" PRId64 " failed",
		    obj_int(s, "failed"));
	return (share);
}

/*
 * One run's line: "items  [#####.....]  62%  124/200 ...".  On a
 * terminal the label is cut to labelw and the line to cols; elsewhere
 * there is no bar.
 */
static void
live_line(struct buf *b, const struct liverun *lr, size_t labelw,
    size_t cols)
{
	char		 label[256], text[192];
	double		 share;
	size_t		 barw, filled = 0, i, start = b->len;

	share = live_text(lr->snap, text, sizeof(text));
	live_label(lr, label, sizeof(label));
	if (textwidth(label) > labelw) {
		buf_adds(b, label);
		fit(b, start, labelw - 1);
		buf_adds(b, "~  ");
	} else
		buf_printf(b, "%s%*s  ", label,
		    (int)(labelw - textwidth(label)), "");
	if (live.tty) {
		/* The bar's width depends on the terminal, not the text. */
		barw = cols > labelw + 6 + TAIL_ROOM + BAR_MIN ?
		    cols - labelw - 6 - TAIL_ROOM : BAR_MIN;
		if (barw > BAR_MAX)
			barw = BAR_MAX;
		if (share > 0)
			filled = (size_t)(share * (double)barw);
		buf_addc(b, '[');
		for (i = 0; i < barw; i++)
			buf_addc(b, i < filled ? '#' : '.');
		buf_adds(b, "]  ");
	}
	buf_adds(b, text);
	if (live.tty)
		fit(b, start, cols - 1);
}

/* Terminal: rewrite the region; finished runs go above it for good. */
static void
live_redraw(void)
{
	struct buf	 b;
	size_t		 i, j, labelw = 0, maxw, left = 0;
	size_t		 cols = term_cols();
	char		 label[256];

	for (i = 0; i < live.n; i++) {
		live_label(&live.runs[i], label, sizeof(label));
		if (textwidth(label) > labelw)
			labelw = textwidth(label);
	}
	maxw = LABEL_MIN;
	if (cols > LABEL_MIN + 6 + BAR_MIN + TAIL_ROOM)
		maxw = cols - 6 - BAR_MIN - TAIL_ROOM;
	if (labelw > maxw)
		labelw = maxw;
	buf_init(&b);
	if (live.drawn > 0)
		buf_printf(&b, "\033[%zuA", live.drawn);
	for (j = 0; j < 2; j++) {
		for (i = 0; i < live.n; i++) {
			if (live.runs[i].finished != (j == 0))
				continue;
			buf_addc(&b, '\r');
			live_line(&b, &live.runs[i], labelw, cols);
			buf_adds(&b, "\033[K\n");
		}
	}
	buf_adds(&b, "\033[J");
	fwrite(b.data, 1, b.len, stdout);
	fflush(stdout);
	buf_free(&b);
	for (i = 0; i < live.n; i++) {
		if (live.runs[i].finished) {
			free(live.runs[i].name);
			json_object_put(live.runs[i].snap);
		} else
			live.runs[left++] = live.runs[i];
	}
	live.n = left;
	live.drawn = left;
	live.last = now_usec();
	live.pending = 0;
}

/* Not a terminal: a plain line for this run. */
static void
live_plain(struct liverun *lr)
{
	struct buf	 b;
	char		 label[256];

	live_label(lr, label, sizeof(label));
	buf_init(&b);
	live_line(&b, lr, textwidth(label), 0);
	puts(b.data);
	fflush(stdout);
	buf_free(&b);
	lr->printed = now_usec();
	if (lr->finished) {
		free(lr->name);
		json_object_put(lr->snap);
		*lr = live.runs[--live.n];
	}
}

static void
human_progress(struct json_object *snap, enum watch_ev ev)
{
	struct liverun	*lr;

	if (snap == NULL)
		return;
	lr = live_get(snap);
	json_object_put(lr->snap);
	lr->snap = json_object_get(snap);
	if (ev == WEV_FINISHED || state_finished(obj_str(snap, "state")))
		lr->finished = 1;
	if (live.tty) {
		if (ev != WEV_PROGRESS || now_usec() - live.last >= REDRAW_USEC)
			live_redraw();
		else
			live.pending = 1;
	} else if (ev != WEV_PROGRESS || lr->printed == 0 ||
	    now_usec() - lr->printed >= PLAIN_USEC)
		live_plain(lr);
}

static void
human_idle(void)
{
	printf("no runs in progress; waiting for new ones (Ctrl-C to stop)\n");
	fflush(stdout);
}

/* Draw what is pending, leave the region; on a terminal wipe a "^C". */
static void
human_stop(void)
{
	size_t	 i;

	if (live.tty && live.pending)
		live_redraw();
	if (live.tty)
		fputs("\r\033[K", stdout);
	for (i = 0; i < live.n; i++) {
		free(live.runs[i].name);
		json_object_put(live.runs[i].snap);
	}
	free(live.runs);
	live.runs = NULL;
	live.n = live.drawn = 0;
	fflush(stdout);
}

/* submit --wait: what a finished run came to. */
static void
human_summary(struct json_object *s)
{
	struct json_object	*lat = obj_get(s, "latency_ms");
	char			 a[64], b[64], c[64];

	printf("\n%s run %" PRId64 ": %s, %" PRId64 " ok, %" PRId64
	    " failed, %" PRId64 " total, %s\n", ostr(s, "name"),
	    obj_int(s, "run"), ostr(s, "state"), obj_int(s, "ok"),
	    obj_int(s, "failed"), obj_int(s, "total"),
	    fmt_dur(obj_double(s, "elapsed_ms"), a, sizeof(a)));
	if (obj_str(s, "reason") != NULL)
		printf("  reason: %s\n", obj_str(s, "reason"));
	if (lat != NULL)
		printf("  latency: p50 %s, p95 %s, p99 %s\n",
		    fmt_lat(obj_double(lat, "p50"), a, sizeof(a)),
		    fmt_lat(obj_double(lat, "p95"), b, sizeof(b)),
		    fmt_lat(obj_double(lat, "p99"), c, sizeof(c)));
	if (obj_get(s, "errors") != NULL &&
	    json_object_object_length(obj_get(s, "errors")) > 0) {
		printf("  errors:\n");
		print_counts(obj_get(s, "errors"), "    ", NULL, 1);
	}
	if (obj_str(s, "results") != NULL)
		printf("  results: %s\n", obj_str(s, "results"));
	if (obj_int(s, "failed") > 0)
		printf("  see: fetchctl failures %s --run %" PRId64 "\n",
		    ostr(s, "name"), obj_int(s, "run"));
}

/* What became of the request, after an error reply with "errors". */
static const struct {
	const char	*code;
	const char	*what;
} error_ends[] = {
	{ "invalid_job",	"nothing submitted" },
	{ "reload_failed",	"fetchd keeps its previous configuration" },
};

/* Error replies, on stderr in both outputs. */
static void
error_text(const struct reply *r, const char *cmd, int mutating)
{
	struct json_object	*e = obj_get(r->obj, "error");
	struct json_object	*list = obj_get(r->obj, "errors");
	const char		*code = obj_str(e, "code");
	const char		*msg = obj_str(e, "message");
	const char		*first;
	size_t			 i, n = array_len(list);
	int			 dup;

	fflush(stdout);
	/* invalid_job: "errors" has them all, the message maybe the first. */
	first = array_len(list) > 0 ? json_object_get_string(
	    json_object_array_get_idx(list, 0)) : NULL;
	dup = first != NULL && (msg == NULL ||
	    strncmp(msg, first, strlen(first)) == 0);
	if (msg != NULL && !dup)
		fprintf(stderr, "fetchctl: %s\n", msg);
	else if (msg == NULL && first == NULL)
		fprintf(stderr, "fetchctl: fetchd: %s\n",
		    code != NULL ? code : "error");
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s\n",
		    json_object_get_string(json_object_array_get_idx(list, i)));
	for (i = 0; code != NULL && i < nitems(error_ends); i++) {
		if (strcmp(code, error_ends[i].code) != 0)
			continue;
		if (n > 0)
			fprintf(stderr, "fetchctl: %s (%zu error%s)\n",
			    error_ends[i].what, n, n > 1 ? "s" : "");
		else
			fprintf(stderr, "fetchctl: %s\n", error_ends[i].what);
	}
	if (mutating && code != NULL && strcmp(code, "permission_denied") == 0)
		fprintf(stderr, "fetchctl: %s changes fetchd's state: run it "
		    "as root, as fetchd's user or as a member of its admin "
		    "group\n", cmd);
}

static void
human_nothing(const struct reply *r)
{
	(void)r;
}

const struct output output_human = {
	.client_version =	human_client_version,
	.ping =			human_ping,
	.version =		human_version,
	.submitted =		human_submitted,
	.retrying =		human_retrying,
	.reloaded =		human_reloaded,
	.explain =		human_explain,
	.cancelled =		human_cancelled,
	.metrics =		human_metrics,
	.set =			human_set,
	.notice =		human_notice,
	.table =		human_table,
	.detail =		human_detail,
	.record =		print_record,
	.failures_head =	human_failures_head,
	.failures_record =	human_failures_record,
	.failures_end =		human_failures_end,
	.watch_line =		human_nothing,
	.progress =		human_progress,
	.idle =			human_idle,
	.summary =		human_summary,
	.stop =			human_stop,
	.error =		error_text,
};

/* JSON output: the reply lines as received. */

static void
json_line(const struct reply *r)
{
	fwrite(r->line, 1, r->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static void
json_void(void)
{
}

static void
json_progress(struct json_object *snap, enum watch_ev ev)
{
	(void)snap;
	(void)ev;
}

static void
json_summary(struct json_object *snap)
{
	(void)snap;
}

static void
json_stop(void)
{
	fflush(stdout);
}

static void
json_error(const struct reply *r, const char *cmd, int mutating)
{
	json_line(r);
	error_text(r, cmd, mutating);
}

const struct output output_json = {
	.client_version =	json_void,
	.ping =			json_line,
	.version =		json_line,
	.submitted =		json_line,
	.retrying =		json_line,
	.reloaded =		json_line,
	.explain =		json_line,
	.cancelled =		json_line,
	.metrics =		json_line,
	.set =			json_line,
	.notice =		json_line,
	.table =		json_line,
	.detail =		json_line,
	.record =		print_record,
	.failures_head =	human_nothing,
	.failures_record =	print_record,
	.failures_end =		human_nothing,
	.watch_line =		json_line,
	.progress =		json_progress,
	.idle =			json_void,
	.summary =		json_summary,
	.stop =			json_stop,
	.error =		json_error,
};
