#!/usr/bin/env bash
# SIGTERM in the middle of a run drains: no new transfer starts, those in
# flight may finish within drain-timeout (and are kept as successes), what
# is still running then is cancelled and recorded as such, everything is
# on disk with a summary, and fetchd exits 0.  A second SIGTERM exits at
# once.
. "$(dirname "$0")/../lib.sh"
t_init signals
t_upstream
printf '[daemon]\ndrain-timeout = 2s\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf"
cat > "$T/s.conf" <<CONF
[job s]
url = $UP/fast/[1-50]
url = $UP/medium/[1-5]?delay=600
url = $UP/slow/[1-5]?delay=20000
concurrency = 60
CONF
t_ctl submit "$T/s.conf" > /dev/null || t_fail submit
t_wait_until "t_ctl status s --json | grep -q '\"done\":50'" 10 || t_fail "fast URLs"
start=$(date +%s%N)
t_stop_fetchd
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -ge 1500 ] && [ "$ms" -lt 5000 ] ||
    t_fail "fetchd took $ms ms to stop; drain-timeout is 2s"
t_log "stopped in $ms ms"
"$T_PYTHON" - "$T/state/results/s" <<'PY' || t_fail "results after SIGTERM"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/1.ndjson")]
ok = [r for r in recs if "error" not in r]
cancelled = [r for r in recs if r.get("error") == "cancelled"]
assert len(ok) == 55, ("successes (fast + medium)", len(ok), recs)
assert all("/slow/" in r["url"] for r in cancelled), cancelled
assert len(cancelled) == 5, recs
s = json.load(open(sys.argv[1] + "/1.summary.json"))
assert s["state"] == "cancelled", s
PY
grep -q "fetchd is stopping" "$T/state/results/s/1.ndjson" ||
    grep -q "fetchd is stopping" "$T/state/results/s/1.summary.json" ||
    t_fail "no reason 'fetchd is stopping' recorded"

# A second signal does not wait for the drain.
printf '[daemon]\ndrain-timeout = 1h\n' > "$T/d.conf"
rm -f "$T/ctl.sock"
t_fetchd -c "$T/d.conf"
cat > "$T/h.conf" <<CONF
[job h]
url = $UP/slow/[1-3]?delay=20000
CONF
t_ctl submit "$T/h.conf" > /dev/null || t_fail "submit h"
t_wait_until "t_ctl status h --json | grep -q '\"in_flight\":3'" 5 ||
    t_fail "h in flight"
kill -TERM "$FETCHD_PID"
sleep 0.3
t_alive "$FETCHD_PID" || t_fail "fetchd did not drain after one SIGTERM"
start=$(date +%s%N)
t_stop_fetchd
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 2000 ] || t_fail "second SIGTERM took $ms ms"
t_pass
