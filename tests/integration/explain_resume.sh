#!/usr/bin/env bash
# explain after a restart while a URL waited for its retry: the waiting
# retry is dropped (no record) and the resumed run fetches the URL again
# from attempt 1, which succeeds and writes no attempts line (its record
# tells it).  explain must show both lives: the old attempt 1 (503,
# retry) from the attempts file and the new attempt 1 (200, ok) rebuilt
# from the record, not take the old line for the new attempt.
. "$(dirname "$0")/../lib.sh"
t_init explain_resume
t_upstream
t_fetchd
# The retry waits a full-jitter draw from [0, 20s]: a short draw (~1 in
# 500) lets it go through before the stop, and the run ends in its first
# life.  Then the scenario did not happen: again with another job name.
J=
for name in r s t; do
	cat > "$T/$name.conf" <<CONF
[job $name]
url = $UP/again/$name?fail=1&failstatus=503
backoff = 20s
backoff-max = 20s
retries = 1
CONF
	t_ctl submit "$T/$name.conf" > "$T/out" 2>&1 || t_fail "submit: $(cat "$T/out")"
	t_wait_until "grep -q '\"decision\":\"retry\"' '$T/state/results/$name/1.attempts.ndjson' 2>/dev/null" 10 ||
	    t_fail "no retry decision"
	t_stop_fetchd
	if [ ! -s "$T/state/results/$name/1.ndjson" ]; then
		J=$name
		break
	fi
	t_fetchd
done
[ -n "$J" ] || t_fail "three retries in a row went through before the stop"
t_fetchd
t_wait_until "[ -s '$T/state/results/$J/1.summary.json' ]" 20 ||
    t_fail "the resumed run did not finish"
t_ctl --json explain "$J" 0 > "$T/ex.json" 2>&1 || t_fail "explain: $(cat "$T/ex.json")"
/usr/bin/python3 - "$T/ex.json" <<'PY' || t_fail "explain of the resumed URL: $(cat "$T/ex.json")"
import json, sys
e = json.load(open(sys.argv[1]))
a = e["attempts"]
assert [(x["attempt"], x.get("status"), x["decision"]) for x in a] == \
    [(1, 503, "retry"), (1, 200, "ok")], a
assert e["record"]["status"] == 200 and e["record"]["attempts"] == 1, e
PY
t_ctl explain "$J" 0 > "$T/ex.txt" 2>&1 || t_fail "explain text"
[ "$(grep -c '^#1 ' "$T/ex.txt")" = 2 ] || t_fail "text: $(cat "$T/ex.txt")"
t_stop_fetchd
t_pass
