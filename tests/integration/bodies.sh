#!/usr/bin/env bash
# Response bodies as stored: JSON parsed (and cut by `extract`), text as a
# string, non-UTF-8 as body_base64, over max-body failing `too-large`
# (both with and without Content-Length), non-JSON with extract `bad-body`.
. "$(dirname "$0")/../lib.sh"
t_init bodies
t_upstream
t_fetchd

cat > "$T/b.conf" <<CONF
[job b]
url = $UP/json/1
url = $UP/text/2?type=text
url = $UP/bin/3?type=binary
url = $UP/big/4?size=2000000
url = $UP/bigchunked/5?size=2000000&chunked=1
url = $UP/ok/6?size=500000
max-body = 1M
retries = 0

[job x]
url = $UP/item/7
url = $UP/text/8?type=text
extract = /n
retries = 0
CONF
t_ctl submit "$T/b.conf" --wait > "$T/out" 2>&1
[ $? -eq 1 ] || t_fail "expected partial runs: $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "body checks"
import json, sys, base64
def load(job):
    return {r["i"]: r for r in map(json.loads, open(f"{sys.argv[1]}/{job}/1.ndjson"))}
b = load("b")
assert isinstance(b[0]["body"], dict), b[0]
assert b[1]["body"] == "hello 2\n" or isinstance(b[1]["body"], str), b[1]
assert "body_base64" in b[2] and "body" not in b[2], b[2]
raw = base64.b64decode(b[2]["body_base64"])
assert raw and not raw.decode("utf-8", "replace") == raw.decode("latin-1"), raw[:20]
assert b[3]["error"] == "too-large", b[3]
assert b[4]["error"] == "too-large", b[4]
assert "body" not in b[3] and "body" not in b[4]
assert b[5]["status"] == 200 and "error" not in b[5], {k: v for k, v in b[5].items() if k != "body"}
x = load("x")
assert x[0]["body"] == 7, x[0]
assert x[1]["error"] == "bad-body", x[1]
PY
t_stop_fetchd
t_pass
