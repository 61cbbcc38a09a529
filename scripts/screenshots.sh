#!/usr/bin/env bash
# scripts/screenshots.sh: the README's "What it looks like", captured from
# a real terminal.
#
# Starts the test upstream and fetchd on 127.0.0.1 (through tests/lib.sh,
# in a temporary directory, stopped again by PID), gives them a few jobs
# (one done, one partial with failures and retries, one periodic, one
# still running), and types fetchctl commands into an interactive bash in
# a tmux pane of 100x30 on a private socket (killed at the end by that
# socket): status, status JOB, submit --wait captured mid-run, explain.
# Each pane is captured as text (capture-pane, no colours).
#
# usage: scripts/screenshots.sh [--readme README.md]
#   prints the Markdown of the section; with --readme, replaces what lies
#   between the "screenshots:begin" and "screenshots:end" comments of
#   that file instead.
# Needs a built tree: top_builddir (default: the source tree) with
# daemon/fetchd, client/fetchctl and tests/upstream/upstream.
set -u
readme=
if [ "${1:-}" = --readme ]; then
	readme=${2:?--readme FILE}
	readme=$(cd "$(dirname "$readme")" && pwd)/$(basename "$readme")
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
top_srcdir=${top_srcdir:-$here}
top_builddir=${top_builddir:-$here}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
t_init shots
t_tmux_init || t_fail "tmux is not installed"

t_upstream
t_fetchd
mkdir -p "$T/jobs"
cat > "$T/jobs/catalog.conf" <<EOF
[job catalog]
url = $UP/catalog/item/[1-500]
concurrency = 50
EOF
cat > "$T/jobs/prices.conf" <<EOF
[job prices]
url = $UP/prices/[1-180]?delay=20
url = $UP/prices/gone/[1-12]?status=404
url = $UP/prices/flaky/[1-8]?fail=2&failstatus=503
concurrency = 8
retries = 3
backoff = 100ms
breaker = never
EOF
cat > "$T/jobs/feeds.conf" <<EOF
[job feeds]
url = $UP/feeds/[1-40]
every = 15m
EOF
cat > "$T/jobs/images.conf" <<EOF
[job images]
url = $UP/images/[1-2000]?delay=400
concurrency = 10
EOF
cat > "$T/jobs/nightly.conf" <<EOF
[job nightly]
url = $UP/nightly/[1-300]?delay=250
concurrency = 20
EOF
for j in catalog prices feeds; do
	t_ctl submit "$T/jobs/$j.conf" > /dev/null || t_fail "submit $j"
done
t_wait_until "t_ctl status prices --json | grep -q '\"state\":\"partial\"'" 30 ||
    t_fail "prices did not end partial"
t_ctl submit "$T/jobs/images.conf" > /dev/null || t_fail "submit images"
sleep 3

# An interactive bash with a plain prompt, fetchctl on its PATH.
tm new-session -d -s shot -x 100 -y 30 -c "$T/jobs" \
    "env -u NO_COLOR TERM=xterm LC_ALL=C.UTF-8 PATH='$top_builddir/client':\$PATH FETCHD_SOCKET='$FETCHD_SOCKET' PS1='\$ ' bash --norc --noprofile -i" ||
    t_fail "tmux new-session"
t_wait_until "tm capture-pane -p -t shot | grep -q '^\\$'" 5 || t_fail "no prompt"

# shot CMD WAIT: clear the pane, type CMD, wait until WAIT (a command
# over the capture in $T/pane) succeeds, print the pane as Markdown.
shot()
{
	local cmd=$1 wait=$2
	tm send-keys -t shot 'clear' Enter
	sleep 0.3
	tm send-keys -t shot "$cmd" Enter
	t_wait_until "tm capture-pane -p -t shot > '$T/pane' && $wait" 30 ||
	    t_fail "$cmd: $(cat "$T/pane")"
	sleep 0.2
	[ "${SHOT_NOW:-0}" = 1 ] || tm capture-pane -p -t shot > "$T/pane"
	printf '```\n'
	# No trailing blank lines, nor the prompt waiting for the next one.
	sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$T/pane" | sed '${/^\$ *$/d}'
	printf '```\n\n'
}
prompt_back="tail -n +2 '$T/pane' | grep -q '^\\$ *\$'"
{
	printf 'Captured from a real terminal (tmux, 100 columns) by\n'
	printf '`scripts/screenshots.sh`; on a terminal states are coloured.\n\n'
	printf 'All jobs, one row each:\n\n'
	shot "fetchctl status" "$prompt_back"
	printf 'One run in detail:\n\n'
	shot "fetchctl status prices" "$prompt_back"
	printf '`submit --wait`, half way:\n\n'
	SHOT_NOW=1 shot "fetchctl submit nightly.conf --wait" \
	    "grep -Eq '^nightly +\\[[#.]+\\] +([4-6][0-9])%' '$T/pane'"
	t_wait_until "tm capture-pane -p -t shot | grep -q '^nightly run 1:'" 30 ||
	    t_fail "nightly did not end"
	printf 'Every attempt at one URL:\n\n'
	shot "fetchctl explain prices 194" \
	    "$prompt_back"
} > "$T/section.md"

if [ -z "$readme" ]; then
	cat "$T/section.md"
else
	"$T_PYTHON" - "$readme" "$T/section.md" <<'PY' || t_fail "README not updated"
import sys
path, new = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
text = open(path, encoding="utf-8").read()
begin, end = "<!-- screenshots:begin -->\n", "<!-- screenshots:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(path, "w", encoding="utf-8").write(text[:a] + new + text[b:])
PY
	t_log "updated $readme"
fi
t_ctl cancel images > /dev/null
tm kill-server > /dev/null 2>&1
t_stop_fetchd
exit 0
