#!/usr/bin/env bash
# The headline case of DESIGN.md: 200 URLs, each answered 200 ms late, at
# concurrency 200, through `fetchctl submit --wait`.  It must finish in well
# under 2 s (a sanity bound, not a benchmark), keep all 200 bodies, and
# write one result line per URL plus the summary.
. "$(dirname "$0")/../lib.sh"
t_init headline
t_upstream
t_fetchd

cat > "$T/items.conf" <<CONF
[job items]
url = $UP/item/[0-199]?delay=200
concurrency = 200
per-host = 200
CONF

start=$(date +%s%N)
t_ctl submit "$T/items.conf" --wait > "$T/out" 2>&1 || t_fail "submit --wait exited $? $(cat "$T/out")"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "headline: 200 x 200ms at concurrency 200 took ${ms} ms"
[ "$ms" -lt 2000 ] || t_fail "took ${ms} ms, expected well under 2000"

res="$T/state/results/items/1.ndjson"
[ -f "$res" ] || t_fail "no results file $res"
[ -f "$T/state/results/items/1.summary.json" ] || t_fail "no summary"
/usr/bin/python3 - "$res" "$T/state/results/items/1.summary.json" <<'PY' || t_fail "results check failed"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 200, len(recs)
assert sorted(r["i"] for r in recs) == list(range(200))
for r in recs:
    assert r["status"] == 200, r
    assert r["attempts"] == 1, r
    assert "error" not in r, r
    n = int(r["url"].split("/item/")[1].split("?")[0])
    assert r["body"]["n"] == n, r
    assert r["ms"] >= 199.0, r
s = json.load(open(sys.argv[2]))
assert s["state"] == "done", s
assert s["ok"] == 200 and s["failed"] == 0, s
assert 195 <= s["latency_ms"]["p50"] <= 400, s
PY
grep -q "results:" "$T/out" || t_fail "no results path in the summary output: $(cat "$T/out")"
# The upstream saw exactly 200 requests: nothing fetched twice.
n=$(curl -s "$UP/__stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
[ "$n" -eq 200 ] || t_fail "upstream saw $n requests, expected 200"
t_stop_fetchd
t_pass
