#!/usr/bin/env bash
# 5% of URLs answer 500 every time: every success is kept, every failure is
# classed http_500 after its retries, the run ends `partial`, and
# `fetchctl submit --wait` exits 1.
. "$(dirname "$0")/../lib.sh"
t_init errors5xx
t_upstream
t_fetchd

for i in $(seq 0 199); do
	if [ $((i % 20)) -eq 7 ]; then
		echo "$UP/item/$i?status=500"
	else
		echo "$UP/item/$i"
	fi
done > "$T/urls.txt"
cat > "$T/mixed.conf" <<CONF
[job mixed]
urls-file = urls.txt
retries = 1
backoff = 10ms
backoff-max = 50ms
retry-budget = 100%
CONF

t_ctl submit "$T/mixed.conf" --wait > "$T/out" 2>&1
rc=$?
[ $rc -eq 1 ] || t_fail "submit --wait exited $rc, expected 1 (partial): $(cat "$T/out")"
/usr/bin/python3 - "$T/state/results/mixed/1.ndjson" "$T/state/results/mixed/1.summary.json" <<'PY' || t_fail "results check failed"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 200, len(recs)
ok = [r for r in recs if "error" not in r]
bad = [r for r in recs if "error" in r]
assert len(ok) == 190 and len(bad) == 10, (len(ok), len(bad))
for r in bad:
    assert r["error"] == "http_500", r
    assert r["status"] == 500, r
    assert r["attempts"] == 2, r
    assert r["i"] % 20 == 7, r
for r in ok:
    assert r["status"] == 200 and isinstance(r["body"], dict), r
s = json.load(open(sys.argv[2]))
assert s["state"] == "partial", s
assert s["errors"] == {"http_500": 10}, s
assert s["ok"] == 190 and s["failed"] == 10, s
PY
t_ctl status mixed > "$T/status" 2>&1
[ $? -eq 1 ] || t_fail "status of a partial run should exit 1"
t_ctl failures mixed > "$T/failures" 2>&1
grep -q "http_500" "$T/failures" || t_fail "failures does not list http_500: $(cat "$T/failures")"
# --failed keeps only failures
n=$(t_ctl results mixed --failed | wc -l)
[ "$n" -eq 10 ] || t_fail "results --failed printed $n lines, expected 10"
t_stop_fetchd
t_pass
