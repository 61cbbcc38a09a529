#!/usr/bin/env bash
# The success policy and the tools around failures: deadline keeps what was
# fetched and classes the rest `deadline`; abort-after stops a run after N
# final failures; backoff gaps stay within the full-jitter bounds;
# Retry-After as an HTTP-date is honoured; a name under .invalid fails as
# `dns` (in a network namespace); explain lists exactly the attempts the server saw; retry-failed
# fetches only the failed URLs again.
. "$(dirname "$0")/../lib.sh"
t_init policy
# Jobs that pause or slow down an origin on purpose get origins of their
# own: a second upstream, and "localhost" for the first one.
t_upstream
UP2=$UP
t_upstream
t_fetchd
LOCAL=http://localhost:$UP_PORT	# own origin: Retry-After pauses a whole origin
cat > "$T/p.conf" <<CONF
[job dl]
url = $UP/dl/fast/[1-20]
url = $UP/dl/hang/[1-5]?hang=1
deadline = 1s
timeout = 30s
stall-timeout = 30s
breaker = never

[job abort]
url = $UP/abort/[1-30]?status=500
concurrency = 1
retries = 0
abort-after = 5
breaker = never

[job spacing]
url = $UP2/spacing/1?fail=4
retries = 4
backoff = 100ms
backoff-max = 300ms
breaker = never

[job date]
url = $LOCAL/date/1?fail=1&retry_after_date=2
backoff = 10ms
backoff-max = 10s
breaker = never
CONF
t_ctl submit "$T/p.conf" --wait > "$T/out" 2>&1; [ $? -eq 1 ] || t_fail "submit: $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results" <<'PY' || t_fail "policy checks"
import json, sys
R = sys.argv[1]
def recs(job): return [json.loads(l) for l in open(f"{R}/{job}/1.ndjson")]
def summ(job): return json.load(open(f"{R}/{job}/1.summary.json"))
def att(job): return [json.loads(l) for l in open(f"{R}/{job}/1.attempts.ndjson")]
d = recs("dl")
assert len([r for r in d if r.get("status") == 200]) == 20, d
assert sorted(r["error"] for r in d if "error" in r) == ["deadline"] * 5, d
s = summ("dl"); assert s["state"] == "partial" and s["ok"] == 20, s
assert 900 <= s["elapsed_ms"] <= 3000, s
a = recs("abort")
assert len(a) == 5 and all(r["error"] == "http_500" for r in a), a
s = summ("abort"); assert s["state"] == "failed" and "abort-after" in s.get("reason", ""), s
sp = sorted(att("spacing"), key=lambda x: x["attempt"])
assert [x["attempt"] for x in sp] == [1, 2, 3, 4, 5], sp
for prev, cur in zip(sp, sp[1:]):
    gap = cur["start"] - (prev["start"] + prev["total_ms"])
    cap = min(300, 100 * 2 ** (prev["attempt"] - 1))
    assert prev["decision"] == "retry" and 0 <= prev["delay_ms"] <= cap, prev
    assert gap >= prev["delay_ms"] - 5 and gap <= cap + 100, (gap, prev)
assert sp[-1]["decision"] == "ok", sp[-1]
dt = att("date")
assert dt[0]["decision"] == "retry" and dt[0]["delay_ms"] >= 900, dt[0]
assert dt[1]["start"] - dt[0]["start"] >= 900, dt
PY

# dns: a name that does not resolve.  The lookup would go to the machine's
# nameserver, which is off limits, so this fetchd runs in a network
# namespace of its own with no route anywhere: the query never leaves.
if unshare --net true 2>/dev/null; then
	unshare --net "$FETCHD" --socket "$T/dns.sock" --state-dir "$T/dns" \
	    >> "$T/fetchd-dns.log" 2>&1 &
	DNS_PID=$!
	t_track "$DNS_PID" fetchd-dns
	t_wait_until "'$FETCHCTL' -s '$T/dns.sock' ping" 5 || t_fail "fetchd in a netns"
	printf '[job dns]\nurl = http://fetchd-test.invalid/x\nretries = 0\n' > "$T/dns.conf"
	"$FETCHCTL" -s "$T/dns.sock" submit "$T/dns.conf" --wait > "$T/dns.out" 2>&1
	grep -q '"error":"dns"' "$T/dns/results/dns/1.ndjson" ||
	    t_fail "dns: $(cat "$T/dns/results/dns/1.ndjson")"
	t_stop "$DNS_PID" 0
else
	t_log "no network namespace (not root?): dns class not checked"
fi

# explain lists exactly the attempts the upstream saw, with decisions.
/usr/bin/python3 - "$FETCHD_SOCKET" "$UP2" <<'PY' || t_fail "explain"
import json, socket, sys, urllib.request
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
url = sys.argv[2] + "/spacing/1?fail=4"
s.sendall((json.dumps({"v": 1, "id": 1, "cmd": "explain", "job": "spacing", "url": url}) + "\n").encode())
r = json.loads(f.readline())
assert r["ok"], r
assert [a["decision"] for a in r["attempts"]] == ["retry"] * 4 + ["ok"], r
assert r["record"]["attempts"] == 5 and r["record"]["status"] == 200, r
seen = json.load(urllib.request.urlopen(sys.argv[2] + "/__count?key=/spacing/1%3Ffail%3D4"))
assert seen["count"] == 5, seen
s.sendall(b'{"v":1,"id":3,"cmd":"explain","job":"spacing","i":0}\n')
r = json.loads(f.readline())
assert r["ok"] and r["url"] == url and len(r["attempts"]) == 5, r
s.sendall(b'{"v":1,"id":2,"cmd":"explain","job":"spacing","url":"http://nowhere/x"}\n')
r = json.loads(f.readline()); assert r["error"]["code"] == "no_such_url", r
PY

# The same through fetchctl: a readable timeline, one block per attempt.
t_ctl explain spacing 0 > "$T/explain" 2>&1 || t_fail "fetchctl explain: $(cat "$T/explain")"
[ "$(grep -c '^#[0-9]' "$T/explain")" -eq 5 ] || t_fail "explain blocks: $(cat "$T/explain")"
grep -q "retry in" "$T/explain" || t_fail "explain lacks the retry decisions: $(cat "$T/explain")"

# retry-failed: a new run of only the failed URLs, linked to the old one.
cat > "$T/rf.conf" <<CONF
[job rf]
url = $UP/rf/ok/[1-4]
url = $UP/rf/bad/[1-3]?fail=1&failstatus=500
retries = 0
breaker = never
CONF
t_ctl submit "$T/rf.conf" --wait > /dev/null 2>&1; [ $? -eq 1 ] || t_fail "rf run 1 should be partial"
/usr/bin/python3 - "$FETCHD_SOCKET" <<'PY' || t_fail "retry-failed"
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
s.sendall(b'{"v":1,"id":1,"cmd":"retry-failed","job":"rf"}\n')
r = json.loads(f.readline())
assert r["ok"] and r["runs"][0]["run"] == 2 and r["runs"][0]["retry_of"] == 1, r
assert r["runs"][0]["total"] == 3, r
for _ in range(100):
    s.sendall(b'{"v":1,"id":2,"cmd":"status","job":"rf"}\n')
    st = json.loads(f.readline())["jobs"][0]
    if st["state"] not in ("running", "queued"): break
    time.sleep(0.05)
assert st["state"] == "done" and st["ok"] == 3 and st["total"] == 3, st
s.sendall(b'{"v":1,"id":3,"cmd":"retry-failed","job":"rf"}\n')
r = json.loads(f.readline()); assert r["error"]["code"] == "no_failures", r
PY
s=$(cat "$T/state/results/rf/2.summary.json")
echo "$s" | grep -q '"retry_of"' || t_fail "summary of run 2 lacks retry_of"
[ "$(wc -l < "$T/state/results/rf/2.ndjson")" -eq 3 ] || t_fail "run 2 fetched more than the failures"
t_stop_fetchd
t_pass
