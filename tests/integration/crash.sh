#!/usr/bin/env bash
# Crash torture: a run of 3000 URLs is SIGKILLed at random moments and
# restarted each time.  At the end every URL has exactly one final record,
# no URL that had a record on disk when fetchd was killed was requested
# again after that, and the summary's counts match the file.  Bounded: 8
# kills, well under a minute.
. "$(dirname "$0")/../lib.sh"
t_init crash
t_upstream
t_fetchd
cat > "$T/c.conf" <<CONF
[job crash]
url = $UP/c/[0-2999]?delay=40
concurrency = 60
per-host = 60
CONF
t_ctl submit "$T/c.conf" > /dev/null || t_fail submit
res=$T/state/results/crash/1.ndjson
for k in 1 2 3 4 5 6 7 8; do
	sleep "0.$(( RANDOM % 4 + 1 ))"
	kill -KILL "$FETCHD_PID"
	wait "$FETCHD_PID" 2>/dev/null
	t_untrack "$FETCHD_PID"
	# What is on disk now, and how often the upstream was asked so far.
	cp "$res" "$T/disk.$k" 2>/dev/null || : > "$T/disk.$k"
	t_get "$UP/__keys?prefix=/c/" > "$T/counts.$k"
	rm -f "$T/ctl.sock"
	t_fetchd
done
t_wait_until "t_ctl status crash --json | grep -q '\"state\":\"done\"'" 60 || t_fail "run did not finish"
t_get "$UP/__keys?prefix=/c/" > "$T/counts.end"
"$T_PYTHON" - "$T" <<'PY' || t_fail "crash checks"
import json, sys, glob
T = sys.argv[1]
recs = [json.loads(l) for l in open(f"{T}/state/results/crash/1.ndjson")]
idx = sorted(r["i"] for r in recs)
assert idx == list(range(3000)), ("records", len(idx), len(set(idx)))
assert all(r.get("status") == 200 for r in recs)
end = json.load(open(f"{T}/counts.end"))
def key(i): return f"/c/{i}?delay=40"
for k in range(1, 9):
    done = set()
    for line in open(f"{T}/disk.{k}"):
        if line.endswith("\n"):
            try: done.add(json.loads(line)["i"])
            except ValueError: pass
    then = json.load(open(f"{T}/counts.{k}"))
    again = [i for i in done if end.get(key(i), 0) != then.get(key(i), 0)]
    assert not again, (f"kill {k}: fetched again after a record", again[:5])
s = json.load(open(f"{T}/state/results/crash/1.summary.json"))
assert s["ok"] == 3000 and s["failed"] == 0 and s["state"] == "done", s
assert 1 <= s["resumed"] <= 8, s    # the run may end before the last kill
refetched = sum(end.values()) - 3000
print(f"crash: 8 kills, {refetched} URLs fetched twice (in flight at a kill)")
PY
# After one more restart the finished run is still there for status and
# results, read back from its summary.
t_stop_fetchd
t_fetchd
t_ctl status crash --json | grep -q '"state":"done"' || t_fail "finished run lost at restart"
[ "$(t_ctl results crash | wc -l)" -eq 3000 ] || t_fail "results after restart"
t_stop_fetchd
t_pass
