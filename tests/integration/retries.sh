#!/usr/bin/env bash
# Retries as far as the foundation goes: transient failures are retried
# with backoff and end in success; Retry-After lengthens the wait; POST is
# not retried without retry-unsafe; the retry budget caps the retries of a
# run and marks the rest `budget`.
. "$(dirname "$0")/../lib.sh"
t_init retries
t_upstream
t_fetchd
# breaker = never: these jobs share one origin and fail on purpose; the
# breaker has its own test (politeness.sh).
cat > "$T/r.conf" <<CONF
[job flaky]
breaker = never
url = $UP/flaky/[1-5]?fail=2
retries = 2
backoff = 10ms
backoff-max = 100ms

[job after]
breaker = never
url = $UP/after/1?fail=1&retry_after=1
backoff = 10ms
backoff-max = 5s

[job post]
breaker = never
url = $UP/post/1?status=503
method = POST
body = {"x":1}
backoff = 10ms

[job spent]
breaker = never
url = $UP/spent/[1-50]?status=503
retries = 2
backoff = 1ms
backoff-max = 5ms
retry-budget = 20%
CONF
t_ctl submit "$T/r.conf" --wait > "$T/out" 2>&1
[ $? -eq 1 ] || t_fail "expected exit 1 (post and spent fail): $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "retry checks"
import json, sys
def load(job):
    return [json.loads(l) for l in open(f"{sys.argv[1]}/{job}/1.ndjson")]
flaky = load("flaky")
assert len(flaky) == 5 and all(r["status"] == 200 and r["attempts"] == 3 for r in flaky), flaky
a = load("after")[0]
assert a["status"] == 200 and a["attempts"] == 2, a
s = json.load(open(f"{sys.argv[1]}/after/1.summary.json"))
assert s["elapsed_ms"] >= 990, s          # waited for Retry-After: 1
p = load("post")[0]
assert p["error"] == "http_503" and p["attempts"] == 1, p
spent = load("spent")
retries = sum(r["attempts"] - 1 for r in spent)
assert retries <= 10, retries              # 20% of 50 = 10
assert any(r["error"] == "budget" for r in spent), spent
assert all(r["error"] in ("budget", "http_503") for r in spent), spent
PY
# The upstream saw exactly 3 attempts per flaky URL: 5 URLs x 2 retries =
# 10 retries, over 20% of 5 but within the budget's floor of 10 per run.
n=$(t_up_count "/flaky/4?fail=2")
[ "$n" = 3 ] || t_fail "upstream saw $n attempts for /flaky/4, expected 3"
t_stop_fetchd
t_pass
