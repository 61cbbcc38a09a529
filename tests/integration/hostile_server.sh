#!/usr/bin/env bash
# Hostile servers (issue 7), from our fault upstream, in one run beside 200
# ordinary URLs: endless response headers, a 2 GiB Content-Length with a
# slow body, 2 GiB chunked, a gzip bomb whose compressed size is under
# max-body (the decoded bytes count), a redirect loop (the default
# max-redirs, 10), non-UTF-8 and NUL bytes inside JSON strings, bodies that
# are not JSON (with and without extract), a slow drip against timeout and
# stall-timeout.  Each must fail (or be stored) with a clear class and
# detail, every result line must be one line of valid JSON, the ordinary
# URLs all succeed, and the daemon's peak RSS stays bounded.
. "$(dirname "$0")/../lib.sh"
t_init hostile_server
t_upstream
# A job file with a URL that is not UTF-8 (ISO 8859-1 é): every reply
# that shows it must still be valid UTF-8 JSON.
mkdir -p "$T/jobs"
printf '[job latin]\nurl = %s/caf\351/[1-3]?delay=200\nretries = 0\n' "$UP" \
    > "$T/jobs/latin.conf"
printf '[daemon]\njobs-dir = %s/jobs\n' "$T" > "$T/d.conf"
t_fetchd -c "$T/d.conf"

# Compressed 660 KB (< max-body), decoded 100 MiB (> max-body).
bomb=$((100 * 1024 * 1024))
cat > "$T/h.conf" <<CONF
[job h]
url = $UP/n/[1-200]
url = $UP/hdr/1?endless_headers=1
url = $UP/cl/2?size=2147483648&drip=200
url = $UP/chunk/3?size=2147483648&chunked=1
url = $UP/bomb/4?gzip=$bomb
url = $UP/bombc/5?gzip=$bomb&chunked=1
url = $UP/gz/6?gzip=100000
url = $UP/loop/7?loop=1
url = $UP/latin1/8?type=json_latin1
url = $UP/nul/9?type=json_nul
url = $UP/esc/10?type=json_escapes
url = $UP/text/11?type=text
url = $UP/bad/12?type=badjson
url = $UP/hdrline/13?endless_headers=2
max-body = 1M
retries = 0
timeout = 60s
concurrency = 20

[job x]
url = $UP/xtext/1?type=text
url = $UP/xbad/2?type=badjson
url = $UP/xnul/3?type=json_nul
url = $UP/xok/4
extract = /n
retries = 0

[job slow]
url = $UP/drip/1?size=2147483648&chunked=1&drip=100
timeout = 2s
max-body = 1G
retries = 0

[job stall]
url = $UP/stall/1?size=100&drip=3000
stall-timeout = 1s
retries = 0
CONF
t_ctl submit "$T/h.conf" --wait > "$T/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || t_fail "expected partial/failed runs (exit 1), got $rc: $(cat "$T/out")"

t_assert_peak_rss hostile_server "$FETCHD_PID" 65536

"$T_PYTHON" - "$T/state/results" "$bomb" <<'PY' || t_fail "result checks"
import json, sys, base64
res, bomb = sys.argv[1], int(sys.argv[2])
def load(job):
    out = {}
    with open(f"{res}/{job}/1.ndjson", "rb") as f:
        for raw in f:
            assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw[:200]
            line = raw.decode("utf-8")          # strict: valid UTF-8
            r = json.loads(line)
            out[r["url"].split("/", 3)[3].split("?")[0]] = r
    return out
def brief(r):
    return {k: (v if k not in ("body", "body_base64") else "...")
            for k, v in r.items()}
def fails(r, cls, *words):
    assert r.get("error") == cls, (cls, brief(r))
    for w in words:
        assert w.lower() in r.get("detail", "").lower(), (w, brief(r))
    assert "body" not in r and "body_base64" not in r, brief(r)

h = load("h")
assert len(h) == 213, len(h)
for i in range(1, 201):
    r = h[f"n/{i}"]
    assert r.get("status") == 200 and "error" not in r, brief(r)
    assert r["body"] == {"path": f"/n/{i}", "n": i}, brief(r)
fails(h["hdr/1"], "too-large", "header")
fails(h["hdrline/13"], "too-large", "header line")
fails(h["cl/2"], "too-large", "max-body")
fails(h["chunk/3"], "too-large", "max-body")
fails(h["bomb/4"], "too-large", "max-body")
fails(h["bombc/5"], "too-large", "max-body")
r = h["gz/6"]
assert "error" not in r and r["status"] == 200, brief(r)
assert set(r["body"]) == {"pad"} and len(r["body"]["pad"]) >= 100000 - 11, brief(r)
fails(h["loop/7"], "protocol", "redirect")
# Not UTF-8: kept byte for byte as body_base64.
r = h["latin1/8"]
assert "error" not in r and "body" not in r, brief(r)
assert base64.b64decode(r["body_base64"]) == b'{"name":"caf\xe9 cr\xe8me","ok":true}', r
# A raw NUL inside a string is not JSON: stored as a string, NUL escaped.
r = h["nul/9"]
assert "error" not in r and r["body"] == '{"s":"a\x00b","ok":true}', r
# Escapes are JSON: kept; lone surrogates become U+FFFD (json-c).
r = h["esc/10"]
assert "error" not in r, r
assert r["body"] == {"nul": "a\x00b", "ctl": "\x1f", "lone": "\ufffd",
                     "low": "\ufffdx", "e": "\xe9", "pair": "\U0001f600"}, r
assert h["text/11"]["body"] == "hello 11\n", h["text/11"]
assert h["bad/12"]["body"] == "{not json", h["bad/12"]

x = load("x")
for k in ("xtext/1", "xbad/2", "xnul/3"):
    fails(x[k], "bad-body", "not JSON")
assert x["xok/4"]["body"] == 4, x["xok/4"]

s = load("slow")
fails(s["drip/1"], "timeout")
s = load("stall")
fails(s["stall/1"], "stall")
PY
t_assert_eq 11 "$(t_up_count '/loop/7?loop=1')" "requests of the redirect loop (1 + max-redirs)"

# The non-UTF-8 URL: %-escaped in results, U+FFFD in control replies.
t_wait_until "t_ctl --json status latin | grep -q '\"state\":\"done\"'" 30 ||
    t_fail "run latin did not finish"
t_ctl --json status latin > "$T/latin.json" 2>&1
"$T_PYTHON" - "$T/latin.json" "$T/state/results/latin/1.ndjson" <<'PY' ||
import json, sys
st = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
run = st["jobs"][0]
assert run["state"] == "done", run
urls = [e["url"] for e in run["slowest"]]
assert urls and all("/caf\ufffd/" in u for u in urls), urls
for raw in open(sys.argv[2], "rb"):
    r = json.loads(raw.decode("utf-8"))
    assert "/caf%E9/" in r["url"] and r["status"] == 200, r
PY
    t_fail "non-UTF-8 URL in replies: $(head -c 600 "$T/latin.json")"

# The daemon still answers, and leaks nothing at exit (ASan build).
t_ctl ping > /dev/null || t_fail "ping after the hostile run"
t_ctl --json status h > "$T/st" 2>&1
t_assert_eq partial "$(t_json "$T/st" 'd["jobs"][0]["state"]')" "state of run h"
t_stop_fetchd
t_pass
