#!/usr/bin/env bash
# Transport failures get their stable class names: timeout (also on a
# reused keep-alive connection), connect, reset (before the headers and
# in the middle of the body), stall, protocol (a
# redirect to a scheme other than http/https), http_404 (no retry).
. "$(dirname "$0")/../lib.sh"
t_init classes
t_upstream
t_fetchd
dead=$(t_free_port)
cat > "$T/c.conf" <<CONF
[job reused]
breaker = never
url = $UP/first/1
url = $UP/slow/2?delay=3000
concurrency = 1
timeout = 1s
retries = 0

[job misc]
url = http://127.0.0.1:$dead/nothing
url = $UP/reset/1?reset=1
url = $UP/drip/1?drip=3000&size=100
url = $UP/redir/1?status=302&location=ftp%3A%2F%2F127.0.0.1%2Fx
url = $UP/missing/1?status=404
url = $UP/resetmid/1?reset_mid=1&size=100000
stall-timeout = 1s
retries = 2
backoff = 1ms
breaker = never
CONF
t_ctl submit "$T/c.conf" --wait > "$T/out" 2>&1
[ $? -eq 1 ] || t_fail "expected exit 1: $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "classes"
import json, sys
def load(job):
    return {r["i"]: r for r in map(json.loads, open(f"{sys.argv[1]}/{job}/1.ndjson"))}
r = load("reused")
assert r[0]["status"] == 200, r[0]
assert r[1]["error"] == "timeout", r[1]
m = load("misc")
want = {0: "connect", 1: "reset", 2: "stall", 3: "protocol", 4: "http_404",
        5: "reset"}
for i, cls in want.items():
    assert m[i]["error"] == cls, (cls, m[i])
assert m[0]["attempts"] == 3 and m[1]["attempts"] == 3, m   # retried
assert m[3]["attempts"] == 1 and m[4]["attempts"] == 1, m   # not retried
PY
t_stop_fetchd
t_pass
