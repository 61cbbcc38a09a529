#!/usr/bin/env bash
# `fetchctl cancel` stops a run: transfers in flight are recorded as
# `cancelled`, results already fetched are kept, the run ends `cancelled`,
# and a second cancel says the run already finished.  `fetchctl pause`
# holds a run (what is in flight finishes) and `resume` lets it go on.
. "$(dirname "$0")/../lib.sh"
t_init cancel
t_upstream
t_fetchd

cat > "$T/c.conf" <<CONF
[job c]
url = $UP/quick/[1-20]
url = $UP/hang/[1-5]?hang=1
concurrency = 25
timeout = 60s
stall-timeout = 60s
CONF
t_ctl submit "$T/c.conf" > /dev/null || t_fail submit
t_wait_until "t_ctl status c --json | grep -q '\"done\":20'" 10 || t_fail "quick URLs did not finish"
t_ctl cancel c > "$T/out" 2>&1 || t_fail "cancel: $(cat "$T/out")"
t_wait_until "t_ctl status c --json | grep -q '\"state\":\"cancelled\"'" 5 || t_fail "run not cancelled"
t_ctl cancel c > "$T/out2" 2>&1
[ $? -eq 2 ] || t_fail "second cancel should fail with 2"
grep -qi "already finished" "$T/out2" || t_fail "second cancel message: $(cat "$T/out2")"
/usr/bin/python3 - "$T/state/results/c/1.ndjson" <<'PY' || t_fail "results"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in recs if "error" not in r]
can = [r for r in recs if r.get("error") == "cancelled"]
assert len(ok) == 20 and len(can) == 5, (len(ok), len(can))
PY
t_ctl status c > /dev/null; [ $? -eq 1 ] || t_fail "status of a cancelled run should exit 1"

# pause: transfers in flight finish, no new one starts; resume goes on.
printf '[job p]\nurl = %s/p/[1-100]?delay=100\nconcurrency = 10\n' "$UP" > "$T/p.conf"
t_ctl submit "$T/p.conf" > /dev/null || t_fail "submit p"
t_wait_until "t_ctl status p --json | grep -q '\"in_flight\":10'" 5 || t_fail "p in flight"
t_ctl pause p > "$T/pause.out" 2>&1 || t_fail "pause: $(cat "$T/pause.out")"
grep -q "paused p run 1" "$T/pause.out" || t_fail "pause output: $(cat "$T/pause.out")"
t_wait_until "t_ctl status p --json | grep -q '\"in_flight\":0'" 5 || t_fail "in-flight did not drain"
d1=$(t_ctl status p --json | "$T_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["done"])')
sleep 0.5
d2=$(t_ctl status p --json | "$T_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["done"])')
[ "$d1" = "$d2" ] || t_fail "a paused run went on ($d1 -> $d2)"
t_ctl status p --json | grep -q '"pause_reason":"paused by request"' || t_fail "no pause reason"
t_ctl resume p > /dev/null || t_fail resume
t_wait_until "t_ctl status p --json | grep -q '\"state\":\"done\"'" 10 || t_fail "p after resume"

# results --ordered of a run with no record yet: an empty list, and the
# daemon lives on (fuzz_proto found qsort() handed NULL here).
printf '[job h]\nurl = %s/h/[1-3]?hang=1\n' "$UP" > "$T/h.conf"
t_ctl submit "$T/h.conf" > /dev/null || t_fail "submit h"
t_wait_until "t_ctl status h --json | grep -q '\"in_flight\":3'" 5 || t_fail "h in flight"
t_ctl results h --ordered > "$T/h.out" 2>&1 || t_fail "results --ordered: $(cat "$T/h.out")"
t_assert_eq 0 "$(wc -l < "$T/h.out")" "records of a run without any"
t_ctl ping > /dev/null || t_fail "fetchd died on results --ordered of an empty run"
t_ctl cancel h > /dev/null || t_fail "cancel h"
t_stop_fetchd
t_pass
