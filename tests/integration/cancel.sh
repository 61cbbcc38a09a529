#!/usr/bin/env bash
# `fetchctl cancel` stops a run: transfers in flight are recorded as
# `cancelled`, results already fetched are kept, the run ends `cancelled`,
# and a second cancel says the run already finished.
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
t_stop_fetchd
t_pass
