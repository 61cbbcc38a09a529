#!/usr/bin/env bash
# Periodic jobs: `every = 1s` runs again and again; overlap = skip leaves a
# period out while the last run goes on, queue starts it when that run
# ends, cancel cancels the last run; `keep` removes the files of older
# finished runs; status shows the next run.
. "$(dirname "$0")/../lib.sh"
t_init periodic
t_upstream
t_fetchd
cat > "$T/p.conf" <<CONF
[job tick]
url = $UP/tick/[1-3]
every = 1s
keep = 2

[job skip]
url = $UP/skip/1?delay=1500
every = 1s
overlap = skip

[job queue]
url = $UP/queue/1?delay=1500
every = 1s
overlap = queue

[job cancel]
url = $UP/cancel/1?delay=1500
every = 1s
overlap = cancel
CONF
t_ctl submit "$T/p.conf" > /dev/null || t_fail submit
t_ctl status tick --json | grep -q '"next_run":' || t_fail "no next_run in status"
sleep 4.3
n() { ls "$T/state/results/$1/" | grep -c '^[0-9]*\.ndjson$'; }
sums() { ls "$T/state/results/$1/" | grep -c '\.summary\.json$'; }
tick=$(t_ctl status tick --json | "$T_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["run"])')
echo "periodic: tick reached run $tick, skip $(n skip) runs, queue $(n queue), cancel $(n cancel)"
[ "$tick" -ge 4 ] && [ "$tick" -le 6 ] || t_fail "tick ran $tick times in ~4 s"
[ "$(sums tick)" -le 2 ] || t_fail "keep = 2 left $(sums tick) summaries"
[ "$(n tick)" -le 3 ] || t_fail "keep = 2 left $(n tick) results files"
# skip: runs at 0, (1 skipped), 2, (3 skipped), 4 → about half the periods.
[ "$(n skip)" -ge 2 ] && [ "$(n skip)" -le 3 ] || t_fail "skip ran $(n skip) runs"
grep -q "overlap = skip" "$T/fetchd.log" || t_fail "no skip message"
grep -q "overlap = queue" "$T/fetchd.log" || t_fail "no queue message"
# cancel: every earlier run was cancelled by the next one.
"$T_PYTHON" - "$T/state/results/cancel" <<'PY' || t_fail "cancel overlap"
import json, sys, glob
sums = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.summary.json")]
assert sums and all(s["state"] == "cancelled" for s in sums), sums
PY
t_stop_fetchd
t_pass
