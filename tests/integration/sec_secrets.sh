#!/usr/bin/env bash
# Secrets: the values of Authorization, Cookie, Proxy-Authorization and of
# the headers named in secret-headers reach the server, but never fetchd's
# output: not its log (at debug level), status, list, explain, results,
# failures, metrics, the results and attempts files, or `fetchd -t -v`.
# The saved definition (STATE/jobs/NAME.conf) keeps them to resume the job
# after a restart, readable by fetchd's user only (0600).  A header error
# names the header, never its value.
. "$(dirname "$0")/../lib.sh"
t_init sec_secrets
t_upstream

# A server that records the headers of every request (one JSON per line);
# /fail answers 503, anything else 200.
cat > "$T/recorder.py" <<'EOF'
import http.server, json, os, sys
log, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(log, "a") as f:
            h = {k.lower(): v for k, v in self.headers.items()}
            h[":path"] = self.path
            f.write(json.dumps(h) + "\n")
        st = 503 if self.path.startswith("/fail") else 200
        body = b'{"status":%d}' % st
        self.send_response(st)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
EOF
"$T_PYTHON" "$T/recorder.py" "$T/headers.log" "$T/rec.port" 2>> "$T/recorder.log" &
t_track $! recorder
t_wait_until "[ -s '$T/rec.port' ]" 5 || t_fail "recorder did not start"
REC=http://127.0.0.1:$(cat "$T/rec.port")

A=AuthZ-$RANDOM-s3cr3t C=Cook-$RANDOM-s3cr3t K=ApiK-$RANDOM-s3cr3t P=Prox-$RANDOM-s3cr3t
# Redirects: within the upstream, and from it to another origin (the
# recorder).
to_rec=$(t_up_urlenc "$REC/ok/redirected")
cat > "$T/s.conf" <<EOF
[job s]
url = $REC/ok/[1-4]
url = $REC/fail/1
url = $UP/same/1?redirect=2
url = $UP/abs/1?status=302&location=$UP/abs/2
url = $UP/rd/1?status=302&location=$to_rec
header = Authorization: Bearer $A
header = Cookie: session=$C
header = X-Api-Key: $K
header = Proxy-Authorization: Basic $P
header = X-Visible: plain-value
secret-headers = x-api-key
retries = 1
backoff = 10ms
EOF
printf '[daemon]\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf" --log-level debug
t_ctl submit "$T/s.conf" --wait > "$T/o.submit" 2>&1
t_assert_eq 1 "$?" "a run with a failed URL (partial)"

# The server got them (and the retry of /fail too).
for v in "$A" "$C" "$K"; do
	grep -q -- "$v" "$T/headers.log" || t_fail "the server never got $v"
done
grep -q plain-value "$T/headers.log" || t_fail "the server never got X-Visible"
# A redirect within the origin is followed; one to another origin that
# would carry X-Api-Key or Proxy-Authorization (libcurl drops only
# Authorization and Cookie there) is refused.
t_assert_eq 1 "$(t_up_count '/same/1?redirect=0')" "a same-origin redirect"
t_assert_eq 1 "$(t_up_count '/abs/2')" "a same-origin redirect by absolute URL"
rec=$T/state/results/s/1.ndjson
t_assert_eq protocol "$(t_ndjson "$rec" '[r for r in d if "/rd/1" in r["url"]][0]["error"]')" "cross-origin redirect with secrets"
t_assert_match "refused: a redirect to another origin would carry the secret header X-Api-Key" \
    "$(t_ndjson "$rec" '[r for r in d if "/rd/1" in r["url"]][0]["detail"]')"
grep -q '"/ok/redirected"' "$T/headers.log" && t_fail "a secret went to another origin"
# With only Authorization and Cookie, libcurl drops them at the new origin.
cat > "$T/a.conf" <<EOF
[job a]
url = $UP/rd/2?status=302&location=$to_rec
header = Authorization: Bearer $A
header = Cookie: session=$C
header = X-Visible: plain-value
EOF
t_ctl submit "$T/a.conf" --wait > "$T/o.a" 2>&1 || t_fail "job a: $(cat "$T/o.a")"
t_ndjson "$T/headers.log" '[h for h in d if h[":path"] == "/ok/redirected"][0]' > "$T/redirected" ||
    t_fail "the redirect was not followed"
grep -q '"authorization"\|"cookie"' "$T/redirected" && t_fail "credentials went to another origin: $(cat "$T/redirected")"
grep -q '"x-visible"' "$T/redirected" || t_fail "the redirected request lost its plain headers"

# fetchd shows them nowhere.
t_ctl status s --json > "$T/o.status" 2>&1
t_ctl status --json > "$T/o.status-all" 2>&1
t_ctl list --json > "$T/o.list" 2>&1
t_ctl results s --json > "$T/o.results" 2>&1
t_ctl failures s --json > "$T/o.failures" 2>&1
t_ctl explain s "$REC/fail/1" --json > "$T/o.explain" 2>&1
t_ctl explain s "$REC/ok/1" > "$T/o.explain-text" 2>&1
t_ctl metrics > "$T/o.metrics" 2>&1
grep -q '"attempt":2' "$T/o.explain" || t_fail "explain shows no retry: $(cat "$T/o.explain")"
mkdir -p "$T/jobs.d" && cp "$T/s.conf" "$T/jobs.d/"
printf '[daemon]\njobs-dir = %s/jobs.d\n' "$T" > "$T/dt.conf"
"$FETCHD" -t -v -c "$T/dt.conf" > "$T/o.printconf" 2>&1 || t_fail "fetchd -t"
grep -q '^header = Authorization: <hidden>$' "$T/o.printconf" || t_fail "printconf: $(grep header "$T/o.printconf")"
grep -q '^header = X-Visible: plain-value$' "$T/o.printconf" || t_fail "printconf hid a plain header"
t_stop_fetchd
for v in "$A" "$C" "$K" "$P"; do
	hits=$(grep -rl -- "$v" "$T"/o.* "$T/fetchd.log" "$T/state" | grep -v "^$T/state/jobs/[as].conf$")
	[ -z "$hits" ] || t_fail "$v shown in: $hits"
done
ls "$T/state/results/s/"*.attempts.ndjson > /dev/null || t_fail "no attempts file was checked"

# The saved definition keeps them, for fetchd's user only.
t_assert_eq 600 "$(stat -c %a "$T/state/jobs/s.conf")" "saved job mode"
grep -q -- "Authorization: Bearer $A" "$T/state/jobs/s.conf" || t_fail "saved job lost the value"

# After a restart the saved job still sends them (a new run via retry-failed).
: > "$T/headers.log"
t_fetchd -c "$T/d.conf" --log-level debug
t_ctl retry-failed s --wait > "$T/o.retry" 2>&1
grep -q -- "$A" "$T/headers.log" || t_fail "the resumed job did not send Authorization: $(cat "$T/o.retry")"

# A bad header line: the error names the header, not the value.
printf '[job b]\nurl = %s/x\nheader = Authorization Bearer %s\n' "$REC" "$A" > "$T/b.conf"
t_ctl submit "$T/b.conf" > "$T/o.bad" 2>&1 && t_fail "a bad header was taken"
grep -q "no ':' after 'Authorization'" "$T/o.bad" || t_fail "message: $(cat "$T/o.bad")"
t_stop_fetchd
for v in "$A"; do
	hits=$(grep -l -- "$v" "$T/o.bad" "$T/o.retry" "$T/fetchd.log")
	[ -z "$hits" ] || t_fail "$v shown in: $hits"
done
t_pass
