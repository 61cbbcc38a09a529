#!/usr/bin/env bash
# Response bodies as stored: JSON parsed (and cut by `extract`), text as a
# string, non-UTF-8 as body_base64, over max-body failing `too-large`
# (both with and without Content-Length), non-JSON with extract `bad-body`;
# gzip decoded with compressed = yes.
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

# compressed = yes (the default): libcurl decodes a gzip body, and the
# request carries one Accept-Encoding header (fetchd sends its own, built
# once, instead of libcurl's; one User-Agent likewise; a job's own header
# replaces either); compressed = no sends none and stores what comes.  A small server here gzips when asked to and says what it got.
cat > "$T/gz.py" <<'PY'
import gzip, http.server, json, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        ae = self.headers.get_all("Accept-Encoding") or []
        ua = self.headers.get_all("User-Agent") or []
        body = json.dumps({"path": self.path, "ae": ae, "ua": ua}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if any("gzip" in v for v in ae):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
"$T_PYTHON" "$T/gz.py" "$T/gz.port" >>"$T/gz.log" 2>&1 &
GZ_PID=$!
t_track "$GZ_PID" gzip-server
t_wait_until "[ -s '$T/gz.port' ]" 10 || t_fail "gzip server did not start"
GZ=http://127.0.0.1:$(cat "$T/gz.port")
cat > "$T/gz.conf" <<CONF
[job gz]
url = $GZ/z/[1-3]
concurrency = 1

[job plain]
url = $GZ/p/[1-2]
compressed = no
concurrency = 1

[job own]
url = $GZ/o/[1-2]
header = User-Agent: mine/1
header = Accept-Encoding: identity
concurrency = 1
CONF
t_ctl submit "$T/gz.conf" --wait > "$T/out.gz" 2>&1 ||
    t_fail "gzip jobs: $(cat "$T/out.gz")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "gzip checks"
import json, sys
def load(job):
    return [json.loads(l) for l in open(f"{sys.argv[1]}/{job}/1.ndjson")]
for r in load("gz"):
    b = r["body"]
    assert isinstance(b, dict) and b["path"].startswith("/z/"), r
    assert len(b["ae"]) == 1 and "gzip" in b["ae"][0], r
    assert len(b["ua"]) == 1 and b["ua"][0].startswith("fetchd/"), r
for r in load("plain"):
    assert r["body"]["ae"] == [], r
    assert len(r["body"]["ua"]) == 1, r
for r in load("own"):
    assert r["body"]["ae"] == ["identity"], r
    assert r["body"]["ua"] == ["mine/1"], r
PY
t_stop "$GZ_PID" 0
t_stop_fetchd
t_pass
