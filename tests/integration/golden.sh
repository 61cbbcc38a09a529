#!/usr/bin/env bash
# Golden output of every fetchctl command, as a table or text and with
# --json, from one deterministic scenario: two upstreams with fixed
# answers and jobs in known states (done; partial with failed items and a
# retry; periodic; paused with one transfer hanging), then the commands
# that change things (set, submit --wait, retry-failed, resume, cancel,
# reload) and error replies.  Output goes to files, never a terminal.
#
# Each case is tests/golden/NAME.out: the command line, its exit status,
# stdout and stderr, masked by tests/golden/normalize.py (times,
# durations, rates, latencies, pids, versions, paths and ports; see its
# top comment).  A difference fails the test and is printed as a diff.
#
# usage: golden.sh [--update] [CASE ...]
#   --update  rewrite tests/golden/*.out from what fetchctl prints now;
#             review the diff (git diff tests/golden) before committing.
#   CASE      check (or update) only these cases (the others still run).
# From a build directory:
#   top_srcdir=SRC top_builddir=. bash SRC/tests/integration/golden.sh --update
. "$(dirname "$0")/../lib.sh"
update=0
if [ "${1:-}" = --update ]; then
	update=1
	shift
fi
only=" $* "
t_init golden
GOLDEN=$top_srcdir/tests/golden
NORMALIZE=$GOLDEN/normalize.py
[ -f "$NORMALIZE" ] || t_fail "no $NORMALIZE"
command -v timeout > /dev/null || t_skip "no timeout(1)"
export LC_ALL=C TZ=UTC
unset NO_COLOR
t_upstream
UP1=$UP
t_upstream
UP2=$UP
t_upstream
UP3=$UP
UP=$UP1
t_fetchd

NFAIL=0
NCASE=0
# g_case NAME ARGS...: run fetchctl ARGS (with --json, masked as JSON) and
# compare what it printed with tests/golden/NAME.out.  G_WRAP, if set, is
# a command fetchctl runs under (timeout).
g_case()
{
	local name=$1 mode=text a rc
	shift
	for a in "$@"; do
		[ "$a" = --json ] && mode=json
	done
	# Streams (watch, --wait): counters of running runs move.
	[ "$mode" = json ] && [[ " $* " == *" watch "* || " $* " == *" --wait "* ]] &&
	    mode=json-live
	if [ "$only" != "  " ] && [[ $only != *" $name "* ]]; then
		${G_WRAP:-} "$FETCHCTL" -s "$FETCHD_SOCKET" "$@" > /dev/null 2>&1
		return 0
	fi
	${G_WRAP:-} "$FETCHCTL" -s "$FETCHD_SOCKET" "$@" \
	    > "$T/$name.stdout" 2> "$T/$name.stderr"
	rc=$?
	g_compare "$name" "$mode" "$rc" "$@"
}

g_compare()
{
	local name=$1 mode=$2 rc=$3 subs
	shift 3
	subs=("T=$T" "UP2=$UP2" "UP3=$UP3" "UP=$UP1")
	{
		printf '$ fetchctl %s\n' "$*" |
		    "$T_PYTHON" "$NORMALIZE" text "${subs[@]}"
		printf 'exit %s\n--- stdout\n' "$rc"
		"$T_PYTHON" "$NORMALIZE" "$mode" "${subs[@]}" \
		    < "$T/$name.stdout"
		printf -- '--- stderr\n'
		"$T_PYTHON" "$NORMALIZE" text "${subs[@]}" < "$T/$name.stderr"
	} > "$T/$name.out"
	NCASE=$((NCASE + 1))
	# make distcheck ships only the files listed one by one.
	if [ -f "$top_srcdir/tests/operator.am" ] &&
	    ! grep -q "tests/golden/$name\.out" "$top_srcdir/tests/operator.am"; then
		t_log "$name: tests/golden/$name.out is not in tests/operator.am"
		NFAIL=$((NFAIL + 1))
	fi
	if [ "$update" = 1 ]; then
		cp "$T/$name.out" "$GOLDEN/$name.out"
	elif [ ! -f "$GOLDEN/$name.out" ]; then
		t_log "$name: no tests/golden/$name.out (golden.sh --update)"
		NFAIL=$((NFAIL + 1))
	elif ! diff -u "$GOLDEN/$name.out" "$T/$name.out" > "$T/$name.diff"
	then
		t_log "$name: output differs from tests/golden/$name.out:"
		cat "$T/$name.diff" >&2
		NFAIL=$((NFAIL + 1))
	fi
}

field_of()
{
	t_ctl status "$1" --json | "$T_PYTHON" -c \
	    'import json,sys; print(json.load(sys.stdin)["jobs"][0][sys.argv[1]])' "$2"
}
finished()
{
	t_wait_until "[ \"\$(field_of $1 state)\" ${2:-!=} running ]" 20 ||
	    t_fail "$1: still running"
}

# --- the scenario ----------------------------------------------------------
# fine: 5 URLs, done.  mixed (one at a time): 3 ok, one that fails once
# (500) and is retried, two 404s: partial.  periodic: every hour, done,
# with a next run.  lost: seven 404s one after the other (status shows
# the last five).  blocked, after them: a 429 with a Retry-After of 10
# minutes that holds its origin (UP3) back: failed.
cat > "$T/jobs.conf" <<EOF
[job fine]
url = $UP1/ok/[1-5]

[job mixed]
url = $UP2/item/[1-3]
url = $UP2/flaky/1?fail=1&failstatus=500
url = $UP2/missing/[1-2]?status=404
concurrency = 1
retries = 1
retry-on = 5xx
backoff = 10ms

[job periodic]
url = $UP1/tick/[1-2]
every = 1h

[job lost]
url = $UP2/lost/[1-7]?status=404
concurrency = 1
EOF
cat > "$T/blocked.conf" <<EOF
[job blocked]
url = $UP3/busy/1?status=429&retry_after=600
retries = 0
backoff-max = 10m
EOF
# held: one transfer that hangs, the rest waiting; paused.
cat > "$T/held.conf" <<EOF
[job held]
url = $UP1/slow/[1-4]?hang=1
concurrency = 1
timeout = 10m
stall-timeout = 10m
EOF
# waited: three URLs of 500 ms each, all at once (submit --wait).
cat > "$T/waited.conf" <<EOF
[job waited]
url = $UP1/wait/[1-3]?delay=500
concurrency = 3
EOF
sed 's/job waited/job waited-json/' "$T/waited.conf" > "$T/waited-json.conf"

g_case submit submit "$T/jobs.conf"
finished fine
finished mixed
finished periodic
finished lost
"$FETCHCTL" -s "$FETCHD_SOCKET" submit "$T/blocked.conf" > /dev/null ||
    t_fail "submit blocked"
finished blocked
g_case submit.json submit "$T/held.conf" --json
t_wait_until '[ "$(field_of held in_flight)" = 1 ]' 10 ||
    t_fail "held: not one transfer in flight"
g_case pause pause held
g_case resume.json resume held --json
g_case pause.json pause held --json

# --- reading: every command, text and --json -------------------------------
g_case ping ping
g_case ping.json ping --json
g_case version version
g_case version.json version --json
g_case client-version -V
g_case help help
g_case help-status help status
g_case list list
g_case list.json list --json
g_case status status
g_case status.json status --json
for j in fine mixed periodic lost blocked held; do
	g_case "status-$j" status "$j"
	g_case "status-$j.json" status "$j" --json
done
g_case failures failures mixed
g_case failures.json failures mixed --json
g_case failures-none failures fine
g_case failures-none.json failures fine --json
g_case results results mixed --ordered
g_case results.json results mixed --ordered --json
g_case results-failed results mixed --failed --ordered
g_case explain explain mixed "$UP2/flaky/1?fail=1&failstatus=500"
g_case explain.json explain mixed "$UP2/flaky/1?fail=1&failstatus=500" --json
g_case explain-index explain mixed 4
g_case explain-index.json explain mixed 4 --json
# a first-try success: no attempt line, the attempt comes from the record
g_case explain-first explain mixed "$UP2/item/1"
g_case explain-first.json explain mixed 0 --json
g_case metrics metrics
g_case metrics.json metrics --json
# watch of a paused run: its line, then Ctrl-C (SIGINT) after 3 s.
G_WRAP="timeout --preserve-status -s INT 3" g_case watch watch held
G_WRAP="timeout --preserve-status -s INT 3" g_case watch.json watch held --json

# --- errors ---------------------------------------------------------------
g_case error-nojob status mixd
g_case error-nojob.json status mixd --json
g_case error-nourl explain mixed "$UP2/nowhere"
g_case error-norun status fine --run 9
g_case error-usage results
g_case error-cancel.json cancel fine --json

# --- changing things --------------------------------------------------------
g_case set set held concurrency=2
g_case set.json set held rate=5 --json
g_case submit-wait submit "$T/waited.conf" --wait
g_case submit-wait.json submit "$T/waited-json.conf" --wait --json
g_case retry-failed retry-failed mixed --run 1 --wait
finished mixed
g_case retry-failed.json retry-failed mixed --run 1 --json
finished mixed
g_case resume resume held
t_wait_until '[ "$(field_of held in_flight)" = 2 ]' 10 ||
    t_fail "held: not two transfers in flight after resume"
g_case cancel cancel held
finished held
g_case status-after status
g_case reload reload
g_case reload.json reload --json

t_stop_fetchd
[ "$NCASE" -gt 0 ] || t_fail "no case ran"
if [ "$update" = 1 ]; then
	t_log "wrote $NCASE files in $GOLDEN (review: git diff tests/golden)"
	t_pass
fi
[ "$NFAIL" = 0 ] ||
    t_fail "$NFAIL of $NCASE cases differ (if that is meant: golden.sh --update)"
t_pass
