#!/usr/bin/env bash
# A `watch` client that never reads (issue 7) while a 10,000-URL run
# progresses.  Its URLs are long, so each progress snapshot (which lists
# the slowest URLs) is large and the socket fills within seconds.  Behind,
# the watcher gets coalesced snapshots: its queue stays small, so the hard
# limit never trips; once its output has not moved for 30 s it is dropped
# with a notice.  Meanwhile `fetchctl status` keeps answering, the daemon's
# RSS stays bounded, and the run completes with every result.  What the
# watcher finally reads is whole JSON lines up to the point it was cut.
# A `results` client that stops reading at the same time (a pager) is not a
# watcher: with slots free it is left alone and later reads every line.
. "$(dirname "$0")/../lib.sh"
t_init hostile_watch
t_upstream
t_fetchd

cat > "$T/w.py" <<'PY'
import json, os, socket, sys, time
T = os.environ["T"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["FETCHD_SOCKET"])
s.sendall(b'{"v":1,"id":1,"cmd":"watch"}\n')
open(T + "/watch.ready", "w").close()
while not os.path.exists(T + "/watch.read"):	# never reads until told
    time.sleep(0.2)
s.settimeout(60)
data = b""
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    data += d
lines = data.split(b"\n")
tail = lines.pop()				# a line cut by the close, or b""
ev = {}
for l in lines:
    o = json.loads(l.decode("utf-8"))
    k = o.get("event", "reply")
    ev[k] = ev.get(k, 0) + 1
assert ev.get("reply") == 1 and ev.get("started") == 1, ev
assert "finished" not in ev, ev	# queued behind, dropped with the client
print(f"watcher: {len(data)} bytes, events {ev}, cut line {len(tail)} bytes")
PY
cat > "$T/r.py" <<'PY'
import json, os, socket, time
T = os.environ["T"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["FETCHD_SOCKET"])
s.sendall(b'{"v":1,"id":1,"cmd":"results","job":"big"}\n')
open(T + "/results.ready", "w").close()
while not os.path.exists(T + "/watch.read"):	# a pager that waits
    time.sleep(0.2)
s.settimeout(60)
data = b""
while not data.endswith(b"\n") or data.count(b"\n") < 3002:
    d = s.recv(1 << 20)
    assert d, f"connection closed after {len(data)} bytes"
    data += d
lines = [json.loads(l) for l in data.split(b"\n")[:-1]]
n = sum(1 for o in lines if "record" in o)
assert lines[-1].get("end") and lines[-1]["count"] == 3000, lines[-1]
assert n == 3000, n
print(f"results reader: {n} records after stalling")
PY
export T FETCHD_SOCKET
pad=$(printf '%01500d' 0)
printf '[job big]\nurl = %s/b/[1-3000]?pad=%s\nconcurrency = 100\nper-host = 100\n' \
    "$UP" "$pad" > "$T/big.conf"
t_ctl submit --wait "$T/big.conf" > /dev/null || t_fail "submit big"
"$T_PYTHON" "$T/r.py" > "$T/results.out" 2>&1 &
rpid=$!
t_track "$rpid" results-reader
t_wait_until "[ -e '$T/results.ready' ]" 10 || t_fail "reader: $(cat "$T/results.out")"
"$T_PYTHON" "$T/w.py" > "$T/watch.out" 2>&1 &
wpid=$!
t_track "$wpid" watcher
t_wait_until "[ -e '$T/watch.ready' ]" 10 || t_fail "watcher: $(cat "$T/watch.out")"

pad=$(printf '%01500d' 0)
printf '[job w]\nurl = %s/w/[1-10000]?delay=200&pad=%s\nconcurrency = 100\nper-host = 100\nretries = 0\n' \
    "$UP" "$pad" > "$T/w.conf"
t_ctl submit "$T/w.conf" > /dev/null || t_fail "submit"

rss_max=0
n=0
end=$(( $(date +%s) + 120 ))
while ! grep -q 'has not read its output' "$T/fetchd.log"; do
	[ "$(date +%s)" -lt "$end" ] || t_fail "the watcher was never dropped"
	timeout 60 "$FETCHCTL" -s "$FETCHD_SOCKET" --json status w > "$T/st" 2>&1 ||
	    t_fail "status while a watcher does not read: $(cat "$T/st")"
	n=$((n + 1))
	r=$(t_rss_kb "$FETCHD_PID")
	[ "$r" -gt "$rss_max" ] && rss_max=$r
	sleep 1
done
echo "hostile_watch: $n status replies while the watcher stalled;" \
    "$(grep -o 'has not read its output.*' "$T/fetchd.log")"
grep -q 'does not read its replies' "$T/fetchd.log" &&
    t_fail "the hard limit tripped: progress did not coalesce"

t_assert_eq 1 "$(grep -c 'has not read its output' "$T/fetchd.log")" \
    "stalled clients dropped (the watcher only)"
touch "$T/watch.read"
wait "$wpid" || t_fail "watcher: $(cat "$T/watch.out")"
t_untrack "$wpid"
cat "$T/watch.out"
wait "$rpid" || t_fail "results reader: $(cat "$T/results.out")"
t_untrack "$rpid"
cat "$T/results.out"

t_wait_until "t_ctl --json status w | grep -q '\"state\":\"done\"'" 120 ||
    t_fail "run w did not finish (done): $(t_ctl status w 2>&1)"
t_assert_eq 10000 "$(wc -l < "$T/state/results/w/1.ndjson")" "result lines"
echo "hostile_watch: RSS at most ${rss_max} kB sampled"
t_assert_peak_rss hostile_watch "$FETCHD_PID" 65536
t_stop_fetchd
t_pass
