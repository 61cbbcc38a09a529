#!/usr/bin/env bash
# timeout and stall-timeout are fetchd's own (not libcurl's): a hung
# response times out near its `timeout`; a body whose bytes keep coming
# still times out at `timeout`; bytes that come more often than
# `stall-timeout` keep a transfer alive, a silence that long (before the
# headers or inside the body) is a stall; twenty transfers that expire
# together all end as timeouts and the run goes on (timeouts then halve
# what the host gets in flight, so the rest go a few at a time); a request with a body
# (progress callback path) succeeds, and stalls when no answer comes.
# Bounds are loose (loaded CI machines): they catch a timeout that never
# fires or fires at the wrong moment, not milliseconds.
. "$(dirname "$0")/../lib.sh"
t_init timeouts
t_upstream
t_fetchd

cat > "$T/t.conf" <<CONF
[job hang]
url = $UP/hang/1?hang=1
timeout = 300ms
retries = 0

[job flowing]
url = $UP/flow/1?drip=200&size=40
timeout = 1s
stall-timeout = 1s
retries = 0

[job alive]
url = $UP/alive/1?drip=300&size=8
stall-timeout = 1s
timeout = 20s
retries = 0

[job silent]
url = $UP/silent/1?delay=3000
url = $UP/gap/1?drip=2500&size=3
stall-timeout = 1s
timeout = 20s
retries = 0

[job many]
url = $UP/many/[1-30]?hang=1
concurrency = 20
per-host = 20
timeout = 400ms
retries = 0
breaker = never

[job post]
url = $UP/post/1
url = $UP/posthang/1?hang=1
method = POST
body = {"hello": "world"}
stall-timeout = 1s
retries = 0
CONF
t0=$(date +%s%N)
t_ctl submit "$T/t.conf" --wait > "$T/out" 2>&1
rc=$?
t1=$(date +%s%N)
[ $rc -eq 1 ] || t_fail "expected exit 1 (partial/failed runs): $rc $(tail -5 "$T/out")"
/usr/bin/python3 - "$T/state/results" $(( (t1 - t0) / 1000000 )) <<'PY' || t_fail "records"
import json, sys
res, wall = sys.argv[1], int(sys.argv[2])
def load(job):
    return {r["url"].split("/")[-1].split("?")[0] + ":" + str(r["i"]): r
            for r in map(json.loads, open(f"{res}/{job}/1.ndjson"))}
def one(job):
    recs = list(load(job).values())
    assert len(recs) == 1, recs
    return recs[0]

r = one("hang")
assert r["error"] == "timeout", r
assert 300 <= r["ms"] < 3000, r                     # timeout = 300ms
assert "timed out after" in r["detail"], r

r = one("flowing")                                   # 40 bytes, 8 s of drip
assert r["error"] == "timeout", r                    # not stall: bytes flow
assert 1000 <= r["ms"] < 4000, r

r = one("alive")                                     # a byte every 300 ms
assert "error" not in r and r["status"] == 200, r

s = load("silent")
assert len(s) == 2, s
for r in s.values():
    assert r["error"] == "stall", r                  # 3 s before headers,
    assert 1000 <= r["ms"] < 2400, r                 # 2.5 s between bytes
    assert "stall-timeout" in r["detail"], r

m = list(load("many").values())
assert len(m) == 30, len(m)
assert all(r["error"] == "timeout" and r["attempts"] == 1 for r in m), m
assert all(400 <= r["ms"] < 4000 for r in m), [r["ms"] for r in m]

p = {r["i"]: r for r in load("post").values()}
assert p[0]["status"] == 200 and "error" not in p[0], p[0]
assert p[1]["error"] == "stall", p[1]
assert wall < 60000, wall
PY
# explain shows the timeout attempt with its class
t_ctl explain hang 0 > "$T/explain" 2>&1 || t_fail "explain: $(cat "$T/explain")"
grep -q "timeout" "$T/explain" || t_fail "explain: $(cat "$T/explain")"
t_stop_fetchd
t_pass
