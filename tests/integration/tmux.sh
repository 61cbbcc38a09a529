#!/usr/bin/env bash
# fetchctl's live progress in a real terminal: tmux (on a private socket,
# with no configuration, a 100x30 pane) runs `fetchctl submit --wait` on
# a job with latency; capture-pane at intervals (wrapped lines joined)
# shows one bar line, no wider than the pane,
# redrawn in place (same row, never scrolling), whose percentage and
# done count grow, then the run's line left at 100% and a right summary.
# Then `fetchctl watch JOB` and Ctrl-C (send-keys C-c): fetchctl exits 0
# saying the run keeps running, and the run goes on to the end in fetchd.
# Ctrl-C in submit --wait likewise (exit 2).  Then redraws counted: at most 10 a second on a terminal (script(1)),
# a line a second into a file.  Last, a 40-column pane: status fitted to
# it is never wider than in a file.
# Only the tmux server this test starts is touched (kill-server on its
# own socket).
. "$(dirname "$0")/../lib.sh"
t_init tmux
t_tmux_init || t_skip "tmux is not installed"

t_upstream
t_fetchd

# 40 URLs of 400 ms, 4 at a time: about 4 s.
printf '[job lat]\nurl = %s/lat/[1-40]?delay=400\nconcurrency = 4\nper-host = 64\n' \
    "$UP" > "$T/lat.conf"
# 40 URLs of 400 ms, 2 at a time: about 8 s, watched then left.
printf '[job lat2]\nurl = %s/lat2/[1-40]?delay=400\nconcurrency = 2\nper-host = 64\n' \
    "$UP" > "$T/lat2.conf"

# A pane running CMD; "[exit N]" is printed when it ends.
pane()
{
	local name=$1 cmd=$2
	tm new-session -d -s "$name" -x 100 -y 30 \
	    "env -u NO_COLOR TERM=xterm LC_ALL=C.UTF-8 bash -c '$cmd; echo \"[exit \$?]\"; exec sleep 600'" ||
	    t_fail "tmux new-session $name"
}
capture()
{
	tm capture-pane -p -J -t "$1"
}

# --- submit --wait ----------------------------------------------------------
pane wait "'$FETCHCTL' -s '$FETCHD_SOCKET' submit '$T/lat.conf' --wait"
t_wait_until "capture wait | grep -q '^submitted lat'" 10 ||
    t_fail "no submit line: $(capture wait)"
n=0
while :; do
	capture wait > "$T/cap.$n"
	grep -q '^\[exit ' "$T/cap.$n" && break
	n=$((n + 1))
	[ "$n" -lt 200 ] || t_fail "submit --wait did not end in 40 s"
	sleep 0.2
done
t_log "$n captures while the bar ran"
# Every capture: at most one bar line of lat, on the same row each time.
"$T_PYTHON" - "$T" "$n" <<'PY' || t_fail "progress bar: see above"
import re, sys
d, n = sys.argv[1], int(sys.argv[2])
BAR = re.compile(r"^lat\s+\[([#.]+)\]\s+(\d+)%\s+(\d+)/40\b")
rows, pcts, dones, fills = set(), [], [], []
for k in range(n + 1):
    lines = open("%s/cap.%d" % (d, k), encoding="utf-8").read().split("\n")
    bars = [(i, BAR.match(l)) for i, l in enumerate(lines) if BAR.match(l)]
    assert len(bars) <= 1, "capture %d: %d bar lines:\n%s" % (k, len(bars), "\n".join(lines))
    for l in lines:
        assert len(l) <= 100, "capture %d: a line wider than the pane" % k
    if bars:
        i, m = bars[0]
        rows.add(i)
        fills.append(m.group(1).count("#"))
        pcts.append(int(m.group(2)))
        dones.append(int(m.group(3)))
assert len(rows) == 1, "the bar moved between rows %s (scrolling, not redrawn)" % sorted(rows)
assert pcts == sorted(pcts) and dones == sorted(dones) and fills == sorted(fills), \
    "progress went back: %s %s" % (pcts, dones)
mid = sorted(set(p for p in pcts if 0 < p < 100))
assert len(mid) >= 2, "the bar did not advance in steps: %s" % pcts
assert pcts[-1] == 100 and dones[-1] == 40, "the last bar is not 40/40: %s %s" % (pcts, dones)
print("bar row %d; percentages seen: %s" % (rows.pop(), sorted(set(pcts))), file=sys.stderr)
PY
final=$T/cap.$n
grep -Eq '^lat +\[#+\] +100% +40/40 +done in ' "$final" ||
    t_fail "no final line at 100%: $(cat "$final")"
grep -q '^lat run 1: done, 40 ok, 0 failed, 40 total, ' "$final" ||
    t_fail "summary: $(cat "$final")"
grep -q '^  latency: p50 ' "$final" || t_fail "summary latency: $(cat "$final")"
grep -q '^\[exit 0\]' "$final" || t_fail "exit status: $(cat "$final")"
# Each URL waited 400 ms: p50 must say so (a generous bound).
p50=$(sed -n 's/^  latency: p50 \([0-9.]*\)ms.*/\1/p' "$final")
[ -n "$p50" ] && awk -v p="$p50" 'BEGIN { exit !(p >= 390 && p < 5000) }' ||
    t_fail "p50 '$p50' is not about 400 ms: $(cat "$final")"

# --- watch, then Ctrl-C -------------------------------------------------------
t_ctl submit "$T/lat2.conf" > /dev/null || t_fail "submit lat2"
pane watch "'$FETCHCTL' -s '$FETCHD_SOCKET' watch lat2"
t_wait_until "capture watch | grep -Eq '^lat2 +\\[[#.]+\\] +[0-9]+%'" 10 ||
    t_fail "watch shows no bar: $(capture watch)"
capture watch > "$T/w1"
first=$(sed -n 's/^lat2 *\[[#.]*\] *[0-9]*% *\([0-9]*\)\/40.*/\1/p' "$T/w1")
t_wait_until "[ \"\$(capture watch | sed -n 's/^lat2 *\\[[#.]*\\] *[0-9]*% *\\([0-9]*\\)\\/40.*/\\1/p')\" -gt ${first:-0} ]" 10 ||
    t_fail "watch: the bar did not advance from ${first:-?}: $(capture watch)"
state=$(t_ctl status lat2 --json | "$T_PYTHON" -c \
    'import json,sys; print(json.load(sys.stdin)["jobs"][0]["state"])')
[ "$state" = running ] || t_fail "lat2 is $state before Ctrl-C; the test needs it running"
tm send-keys -t watch C-c
t_wait_until "capture watch | grep -q '^\[exit '" 10 ||
    t_fail "watch did not end on Ctrl-C: $(capture watch)"
capture watch > "$T/w2"
grep -q '^\[exit 0\]' "$T/w2" || t_fail "watch exit status: $(cat "$T/w2")"
grep -q 'stopped watching; lat2 run 1 keeps running in fetchd (fetchctl status lat2)' "$T/w2" ||
    t_fail "no 'keeps running' message: $(cat "$T/w2")"
[ "$(grep -c '^lat2 ' "$T/w2")" -le 1 ] || t_fail "watch left several bar lines: $(cat "$T/w2")"
# The run went on without us, to the end.
t_ctl status lat2 > "$T/s1"
grep -Eq '^lat2 run 1: (running|done)' "$T/s1" || t_fail "after Ctrl-C: $(cat "$T/s1")"
t_wait_until "t_ctl status lat2 --json | grep -q '\"state\":\"done\"'" 30 ||
    t_fail "lat2 did not finish after watch left: $(t_ctl status lat2)"
t_ctl status lat2 --json | grep -q '"ok":40' || t_fail "lat2: not 40 ok: $(t_ctl status lat2)"

# Ctrl-C in submit --wait: exit 2, the run named as going on, and it does.
printf '[job lat5]\nurl = %s/lat5/[1-40]?delay=400\nconcurrency = 2\nper-host = 64\n' \
    "$UP" > "$T/lat5.conf"
pane stop "'$FETCHCTL' -s '$FETCHD_SOCKET' submit '$T/lat5.conf' --wait"
t_wait_until "capture stop | grep -Eq '^lat5 +\\[[#.]+\\] +[0-9]+%'" 10 ||
    t_fail "submit --wait shows no bar: $(capture stop)"
tm send-keys -t stop C-c
t_wait_until "capture stop | grep -q '^\\[exit '" 10 ||
    t_fail "submit --wait did not end on Ctrl-C: $(capture stop)"
capture stop > "$T/stop"
grep -q '^\[exit 2\]' "$T/stop" || t_fail "submit --wait, Ctrl-C: $(cat "$T/stop")"
grep -q 'stopped waiting; job lat5 keeps running (fetchctl status lat5)' "$T/stop" ||
    t_fail "no 'keeps running' message: $(cat "$T/stop")"
t_wait_until "t_ctl status lat5 --json | grep -q '\"ok\":40'" 30 ||
    t_fail "lat5 did not go on to the end: $(t_ctl status lat5)"

# How often: on a terminal at most 10 redraws a second (each ends in
# ESC [J), into a file at most a line a second.  Upper bounds only: a
# loaded machine draws less, never more.
if command -v script > /dev/null 2>&1; then
	for n in 3 4; do
		printf '[job lat%s]\nurl = %s/lat%s/[1-40]?delay=400\nconcurrency = 4\nper-host = 64\n' \
		    "$n" "$UP" "$n" > "$T/lat$n.conf"
	done
	t0=$(date +%s%N)
	env -u NO_COLOR TERM=xterm script -qec \
	    "stty cols 100; '$FETCHCTL' -s '$FETCHD_SOCKET' submit '$T/lat3.conf' --wait" \
	    /dev/null > "$T/raw" 2>&1 || t_fail "submit lat3 --wait: $(cat -v "$T/raw")"
	ms=$((($(date +%s%N) - t0) / 1000000))
	redraws=$(grep -o $'\033\[J' "$T/raw" | wc -l)
	t_log "terminal: $redraws redraws in $ms ms"
	[ "$redraws" -ge 3 ] || t_fail "only $redraws redraws: $(cat -v "$T/raw")"
	[ "$redraws" -le $((ms / 100 + 5)) ] ||
	    t_fail "$redraws redraws in $ms ms: more than 10 a second"
	t0=$(date +%s%N)
	t_ctl submit "$T/lat4.conf" --wait > "$T/plain" 2>&1 ||
	    t_fail "submit lat4 --wait: $(cat "$T/plain")"
	ms=$((($(date +%s%N) - t0) / 1000000))
	lines=$(grep -c '^lat4 ' "$T/plain")
	t_log "file: $lines progress lines in $ms ms"
	! grep -q $'\033' "$T/plain" || t_fail "escape codes into a file: $(cat -v "$T/plain")"
	[ "$lines" -ge 2 ] && [ "$lines" -le $((ms / 1000 + 3)) ] ||
	    t_fail "$lines progress lines in $ms ms into a file: $(cat "$T/plain")"
fi

# A terminal far too narrow for the table: fitting it may leave columns
# out and cut names, never make a row wider than it is in a file.
t_ctl status > "$T/table"
tm new-session -d -s narrow -x 40 -y 10 \
    "env NO_COLOR=1 TERM=xterm bash -c '$FETCHCTL -s $FETCHD_SOCKET status; echo \"[exit \$?]\"; exec sleep 600'" ||
    t_fail "tmux new-session narrow"
t_wait_until "capture narrow | grep -q '^\[exit '" 10 || t_fail "status on 40 columns: $(capture narrow)"
capture narrow > "$T/table40"
wide=$(awk '{ if (length > n) n = length } END { print n }' "$T/table")
narrow=$(grep -v '^\[exit' "$T/table40" | awk '{ if (length > n) n = length } END { print n }')
[ "$narrow" -le "$wide" ] ||
    t_fail "on 40 columns rows of $narrow, in a file $wide: $(cat "$T/table40")"
# ... nor a column (the names: where RUN starts).
at_run() { head -n 1 "$1" | awk '{ print index($0, " RUN") }'; }
[ "$(at_run "$T/table40")" -le "$(at_run "$T/table")" ] ||
    t_fail "names wider on 40 columns than in a file: $(cat "$T/table40")"
grep -q '^lat2 ' "$T/table40" || t_fail "status on 40 columns: $(cat "$T/table40")"

tm kill-server > /dev/null 2>&1
t_stop_fetchd
t_pass
