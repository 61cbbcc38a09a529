#!/usr/bin/env bash
# SIGTERM in the middle of a run drains: no new transfer starts, those in
# flight may finish within drain-timeout (and are kept as successes); what
# is still running then is dropped without a record, the results are on
# disk, no summary is written, and fetchd exits 0.  The next start resumes
# the run: only the dropped URLs are fetched again, and the summary says
# the run was resumed.  A second SIGTERM exits at once.
. "$(dirname "$0")/../lib.sh"
t_init signals
t_upstream
printf '[daemon]\ndrain-timeout = 2s\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf"
cat > "$T/s.conf" <<CONF
[job s]
url = $UP/fast/[1-50]
url = $UP/medium/[1-5]?delay=600
url = $UP/slow/[1-5]?delay=4000
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
[ -e "$T/state/results/s/1.summary.json" ] && t_fail "a suspended run has a summary"
"$T_PYTHON" - "$T/state/results/s" <<'PY' || t_fail "results after SIGTERM"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/1.ndjson")]
assert len(recs) == 55 and all("error" not in r for r in recs), recs
assert not any("/slow/" in r["url"] for r in recs), recs
PY

# The next start resumes run 1 and fetches only the 5 slow URLs.
printf '[daemon]\ndrain-timeout = 1h\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf"
t_wait_until "t_ctl status s --json | grep -q '\"state\":\"done\"'" 15 || t_fail "run 1 not resumed"
"$T_PYTHON" - "$T/state/results/s" <<'PY' || t_fail "results after resume"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/1.ndjson")]
assert sorted(r["i"] for r in recs) == list(range(60)), recs
assert all("error" not in r for r in recs), recs
s = json.load(open(sys.argv[1] + "/1.summary.json"))
assert s["state"] == "done" and s["ok"] == 60 and s["resumed"] == 1, s
PY
[ "$(t_up_count /fast/7)" = 1 ] || t_fail "a URL done before the stop was fetched again"
[ "$(t_up_count '/slow/2?delay=4000')" = 2 ] || t_fail "a dropped URL was not fetched again"

# A second signal does not wait for the drain.
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
