#!/usr/bin/env bash
# timeout and stall-timeout are fetchd's own (not libcurl's): a hung
# response times out near its `timeout`; a body whose bytes keep coming
# still times out at `timeout`; bytes that come more often than
# `stall-timeout` keep a transfer alive, a silence that long (before the
# headers or inside the body) is a stall; twenty transfers that expire
# together all end as timeouts and the run goes on (timeouts then halve
# what the host gets in flight, so the rest go a few at a time); a stall
# alone re-arms the timer; a handshake that never ends is connect's, not
# a stall; a loop held up (SIGSTOP) reads waiting bytes before judging; a request with a body
# (progress callback path) succeeds, and stalls when no answer comes.
# Bounds are loose (loaded CI machines): they catch a timeout that never
# fires or fires at the wrong moment, not milliseconds.
. "$(dirname "$0")/../lib.sh"
t_init timeouts
t_upstream
t_fetchd

# These two first: the timeouts below open the upstream's breaker.
# A stall with nothing else in flight: the one timer must be re-armed for
# it when its request goes out (it was set for the timeout before).
printf '[job lone]\nurl = %s/lone/1?drip=3000&size=10\nstall-timeout = 1s\ntimeout = 20s\nretries = 0\n' \
    "$UP" > "$T/lone.conf"
t_ctl submit "$T/lone.conf" --wait > "$T/lone.out" 2>&1
/usr/bin/python3 - "$T/state/results/lone/1.ndjson" <<'PY' || t_fail "lone stall"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]["error"] == "stall", r
assert 1000 <= r[0]["ms"] < 2900, r
PY

# A loop held up longer than stall-timeout (here SIGSTOP: a paused VM or a
# long callback look the same) while bytes keep coming: the bytes waiting
# in the sockets are read before any stall is decided.
printf '[job held]\nurl = %s/held/[1-5]?drip=300&size=12\nstall-timeout = 1s\ntimeout = 30s\nretries = 0\n' \
    "$UP" > "$T/held.conf"
t_ctl submit "$T/held.conf" > "$T/held.out" 2>&1 || t_fail "submit held: $(cat "$T/held.out")"
sleep 0.8
kill -STOP "$FETCHD_PID"
sleep 2.5
kill -CONT "$FETCHD_PID"
t_wait_until "[ \$(wc -l < '$T/state/results/held/1.ndjson' 2>/dev/null || echo 0) -ge 5 ]" 30 ||
    t_fail "held: not all records"
/usr/bin/python3 - "$T/state/results/held/1.ndjson" <<'PY' || t_fail "held loop"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 5, r
assert all(x.get("status") == 200 and "error" not in x for x in r), r
PY

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
# The stall clock starts when the request goes out: a TLS handshake that
# never completes (a server that accepts and says nothing) is connect-
# timeout's, class connect, not a stall.
cat > "$T/silent.py" <<'PY'
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept()
    held.append(c)          # read nothing, answer nothing
PY
"$T_PYTHON" "$T/silent.py" "$T/silent.port" >>"$T/silent.log" 2>&1 &
SILENT_PID=$!
t_track "$SILENT_PID" silent-server
t_wait_until "[ -s '$T/silent.port' ]" 10 || t_fail "silent server did not start"
printf '[job tls]\nurl = https://127.0.0.1:%s/x\nconnect-timeout = 2s\nstall-timeout = 1s\ntimeout = 10s\nretries = 0\nbreaker = never\n' \
    "$(cat "$T/silent.port")" > "$T/tls.conf"
t_ctl submit "$T/tls.conf" --wait > "$T/tls.out" 2>&1
/usr/bin/python3 - "$T/state/results/tls/1.ndjson" <<'PY' || t_fail "silent TLS"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]["error"] == "connect", r
assert 1900 <= r[0]["ms"] < 6000, r
PY
t_stop "$SILENT_PID" 143	# SIGTERM, not handled

# explain shows the timeout attempt with its class
t_ctl explain hang 0 > "$T/explain" 2>&1 || t_fail "explain: $(cat "$T/explain")"
grep -q "timeout" "$T/explain" || t_fail "explain: $(cat "$T/explain")"
t_stop_fetchd
t_pass
