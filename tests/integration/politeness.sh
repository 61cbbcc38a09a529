#!/usr/bin/env bash
# Being a good client to a struggling host (DESIGN.md): a 429/503 with
# Retry-After pauses every queued request to that origin; 429s halve the
# origin's concurrency; after `breaker` consecutive failures the origin is
# down and its queued URLs fail fast with host-down, and a later probe finds
# it back; `rate` holds whatever the concurrency.  Times come from fetchd's
# own attempt log (wall-clock start of every attempt).
. "$(dirname "$0")/../lib.sh"
t_init politeness
t_upstream
t_fetchd
LOCAL=http://localhost:$UP_PORT		# a second origin on the same server

cat > "$T/p.conf" <<CONF
[job pause]
url = $UP/pause/0?fail=1&failstatus=503&retry_after=1
url = $UP/pause/[1-5]
concurrency = 1
backoff = 10ms
backoff-max = 5s
breaker = never

# Another origin: the pause above holds every request to $UP for 1 s.
[job rate]
url = $LOCAL/rate/[1-200]
concurrency = 100
per-host = 100
rate = 100
breaker = never
CONF
t_ctl submit "$T/p.conf" --wait > "$T/out" 2>&1 || t_fail "pause/rate: $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "pause or rate"
import json, sys
def attempts(job):
    # A first try that succeeded has no line: its record tells it (as
    # explain rebuilds it).
    a = [json.loads(l) for l in open(f"{sys.argv[1]}/{job}/1.attempts.ndjson")]
    have = {(x["i"], x["attempt"]) for x in a}
    for r in map(json.loads, open(f"{sys.argv[1]}/{job}/1.ndjson")):
        if "error" not in r and "start" in r and (r["i"], r["attempts"]) not in have:
            a.append(dict(i=r["i"], url=r["url"], attempt=r["attempts"],
                          start=r["start"], queue_ms=r["queue_ms"],
                          total_ms=r["ms"], status=r.get("status"),
                          decision="ok"))
    return a
a = attempts("pause")
first = [x for x in a if x["i"] == 0 and x["attempt"] == 1][0]
assert first["status"] == 503 and first["decision"] == "retry", first
paused_at = first["start"] + first["total_ms"]
later = [x for x in a if x is not first]
assert len(later) == 6, later                 # 5 others + the retry of i=0
early = [x for x in later if x["start"] < paused_at + 1000 - 15]
assert not early, ("requests during the pause", early)
r = sorted(x["start"] for x in attempts("rate"))
span = (r[-1] - r[0]) / 1000.0
print(f"rate: 200 requests at rate 100/s over {span:.2f}s (ideal 1.99s)")
assert 1.99 * 0.9 <= span <= 1.99 * 1.1 + 0.05, span
PY

# Breaker: 3 consecutive failures open it; the rest fail fast, untried.
cat > "$T/b.conf" <<CONF
[job down]
url = $LOCAL/down/[1-10]?status=500
concurrency = 1
retries = 0
breaker = 3
backoff = 500ms
CONF
t_ctl submit "$T/b.conf" --wait > "$T/out" 2>&1; [ $? -eq 1 ] || t_fail "down: $(cat "$T/out")"
n=$(t_get "$UP/__stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
/usr/bin/python3 - "$T/state/results/down/1.ndjson" <<'PY' || t_fail "breaker"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
errs = sorted(r["error"] for r in recs)
assert errs == ["host-down"] * 7 + ["http_500"] * 3, errs
PY
# After the backoff period, one probe tests the origin; it is back.
sleep 0.6
printf '[job back]\nurl = %s/back/[1-5]\nconcurrency = 1\nbreaker = 3\n' "$LOCAL" > "$T/back.conf"
t_ctl submit "$T/back.conf" --wait > "$T/out" 2>&1 || t_fail "back: $(cat "$T/out")"
grep -q "is back" "$T/fetchd.log" || t_fail "no host-up event in the log"

# 429s halve the origin's concurrency (seen as "limited" in status).
# Successes add one back each; slow ones keep the origin limited for a
# second or more, long enough to be seen on a loaded machine.
cat > "$T/a.conf" <<CONF
[job adapt]
url = $UP/adapt/[1-8]?fail=1&failstatus=429&delay=300
url = $UP/adapt2/[1-40]?delay=300
concurrency = 8
per-host = 8
backoff = 10ms
breaker = never
retry-budget = 100%
CONF
t_ctl submit "$T/a.conf" > /dev/null || t_fail "adapt"
t_wait_until "t_ctl status adapt --json | grep -q '\"state\":\"limited\"'" 5 ||
    t_fail "the origin's concurrency was not reduced after 429s"
t_wait_until "t_ctl status adapt --json | grep -q '\"state\":\"done\"'" 20 || t_fail "adapt did not finish"
t_stop_fetchd
t_pass
