#!/usr/bin/env bash
# A results file whose last line was torn by a crash is repaired at start:
# the partial line is cut (never taken as a result), the run resumes, and
# that URL is fetched again.  A crash during the summary's rename leaves a
# complete run that finishes at start without fetching; a crash during
# pruning leaves nothing that looks unfinished.  The job definition comes from the state
# directory, as a submitted job's would after a restart.
. "$(dirname "$0")/../lib.sh"
t_init torn
t_upstream
mkdir -p "$T/state/jobs" "$T/state/results/t"
printf '[job t]\nurl = %s/t/[0-9]\n' "$UP" > "$T/state/jobs/t.conf"
for i in 0 1 2; do
	printf '{"i":%d,"url":"%s/t/%d","status":200,"attempts":1,"ms":1.0,"queue_ms":0.0,"body":{"n":%d}}\n' \
	    "$i" "$UP" "$i" "$i"
done > "$T/state/results/t/1.ndjson"
printf '{"i":3,"url":"%s/t/3","status":200,"attem' "$UP" >> "$T/state/results/t/1.ndjson"
# A crash while the summary of run 1 of job u was being renamed: every
# record is there, the summary only as its temporary file.
mkdir -p "$T/state/results/u"
printf '[job u]\nurl = %s/u/[0-4]\n' "$UP" > "$T/state/jobs/u.conf"
for i in 0 1 2 3 4; do
	printf '{"i":%d,"url":"%s/u/%d","status":200,"attempts":1,"ms":1.0,"queue_ms":0.0}\n' \
	    "$i" "$UP" "$i"
done > "$T/state/results/u/1.ndjson"
printf '{"state":' > "$T/state/results/u/1.summary.json.tmp"
# A crash while pruning run 1 of job v: its results are gone, the
# summary and attempts remain.  It must not look unfinished.
mkdir -p "$T/state/results/v"
printf '[job v]\nurl = %s/v/1\n' "$UP" > "$T/state/jobs/v.conf"
printf '{"state":"done"}\n' > "$T/state/results/v/1.summary.json"
: > "$T/state/results/v/1.attempts.ndjson"
t_fetchd
t_wait_until "t_ctl status t --json | grep -q '\"state\":\"done\"'" 10 || t_fail "run not resumed"
t_wait_until "t_ctl status u --json | grep -q '\"state\":\"done\"'" 10 || t_fail "run u not finished"
t_json "$T/state/results/u/1.summary.json" 'd["ok"] == 5 and d["resumed"] == 1' | grep -q true ||
    t_fail "u summary: $(cat "$T/state/results/u/1.summary.json")"
[ "$(t_up_count /u/2)" = 0 ] || t_fail "a complete run was fetched again"
t_ctl status v > /dev/null 2>&1 && t_fail "a pruned run came back"
"$T_PYTHON" - "$T/state/results/t/1.ndjson" <<'PY' || t_fail "repaired file"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "file does not end with a newline"
recs = [json.loads(l) for l in lines[:-1]]
assert sorted(r["i"] for r in recs) == list(range(10)), recs
PY
[ "$(t_up_count /t/3)" = 1 ] || t_fail "the torn URL was not fetched again"
[ "$(t_up_count /t/1)" = 0 ] || t_fail "a recorded URL was fetched again"
grep -qi "torn\|partial\|cut" "$T/fetchd.log" || t_fail "no warning about the torn line: $(cat "$T/fetchd.log")"
t_stop_fetchd
t_pass
