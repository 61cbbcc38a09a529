#!/usr/bin/env bash
# SIGTERM in the middle of a run: transfers in flight are cancelled and
# recorded as such, everything fetched before is on disk with a summary,
# and fetchd exits 0.
. "$(dirname "$0")/../lib.sh"
t_init signals
t_upstream
t_fetchd
cat > "$T/s.conf" <<CONF
[job s]
url = $UP/fast/[1-50]
url = $UP/slow/[1-10]?delay=20000
concurrency = 60
CONF
t_ctl submit "$T/s.conf" > /dev/null || t_fail submit
t_wait_until "t_ctl status s --json | grep -q '\"done\":50'" 10 || t_fail "fast URLs"
t_stop_fetchd
/usr/bin/python3 - "$T/state/results/s" <<'PY' || t_fail "results after SIGTERM"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/1.ndjson")]
assert len([r for r in recs if "error" not in r]) == 50, recs
assert len([r for r in recs if r.get("error") == "cancelled"]) == 10, recs
s = json.load(open(sys.argv[1] + "/1.summary.json"))
assert s["state"] == "cancelled", s
PY
t_pass
