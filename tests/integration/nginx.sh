#!/usr/bin/env bash
# A second, real server: Debian's nginx over HTTP/1.1 keep-alive and over
# HTTPS with HTTP/2, trusting a CA the test made.  Connections are reused
# (nginx logs far fewer connections than requests) and the TLS job really
# speaks HTTP/2.  Without a ca-file the TLS job fails with class `tls`.
. "$(dirname "$0")/../lib.sh"
t_init nginx
t_nginx
t_fetchd
cat > "$T/n.conf" <<CONF
[job plain]
url = $NGX/json/[1-300]
concurrency = 10
per-host = 10

[job h2]
url = $NGXS/json/[1-300]
ca-file = $NGX_CA
concurrency = 20
per-host = 20

[job untrusted]
url = $NGXS/json/1
retries = 0

[job insecure]
url = $NGXS/json/insecure
insecure = yes
CONF
t_ctl submit "$T/n.conf" --wait > "$T/out" 2>&1
[ $? -eq 1 ] || t_fail "expected exit 1 (untrusted fails): $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "results"
import json, sys
for job in ("plain", "h2"):
    recs = [json.loads(l) for l in open(f"{sys.argv[1]}/{job}/1.ndjson")]
    assert len(recs) == 300 and all(r["status"] == 200 for r in recs), job
    assert all(isinstance(r["body"], dict) for r in recs), job
u = [json.loads(l) for l in open(f"{sys.argv[1]}/untrusted/1.ndjson")]
assert u[0]["error"] == "tls", u
k = [json.loads(l) for l in open(f"{sys.argv[1]}/insecure/1.ndjson")]
assert k[0]["status"] == 200, k
PY
[ "$(grep -c 'insecure = yes: TLS certificates' "$T/fetchd.log")" = 1 ] ||
	t_fail "insecure = yes not warned about exactly once"
log="$NGX_ACCESS_LOG"
[ -f "$log" ] || t_fail "no nginx access log"
# An HTTP/2 origin stays on one fetch thread (its home), so on one
# multiplexed connection whatever fetch-threads is.
/usr/bin/python3 - "$log" <<'PY' || t_fail "connection reuse / protocol"
import sys
plain_conns, h2_conns, h2_reqs, h1_reqs = set(), set(), 0, 0
for line in open(sys.argv[1]):
    f = line.split()
    # log_format: $connection $server_protocol $scheme $status $request_uri
    conn, proto, scheme = f[0], f[1], f[2]
    if f[-1] == "/json/insecure":     # the insecure job's own request
        continue
    if scheme == "https" and proto == "HTTP/2.0":
        h2_conns.add(conn); h2_reqs += 1
    elif scheme == "http":
        plain_conns.add(conn); h1_reqs += 1
assert h1_reqs == 300, h1_reqs
assert h2_reqs == 300, h2_reqs
assert len(plain_conns) <= 12, len(plain_conns)   # keep-alive: ~per-host connections
assert len(h2_conns) <= 2, len(h2_conns)          # multiplexed
print(f"nginx: 300 HTTP/1.1 requests on {len(plain_conns)} connections, 300 HTTP/2 on {len(h2_conns)}")
PY
t_stop_fetchd
t_pass
