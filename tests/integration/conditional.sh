#!/usr/bin/env bash
# conditional = yes: a run sends If-None-Match / If-Modified-Since from the
# last finished run; a 304 is stored as "unchanged" (a success, no body),
# with the validators carried on so the run after it is conditional too.
. "$(dirname "$0")/../lib.sh"
t_init conditional
t_upstream
t_fetchd
cat > "$T/c.conf" <<CONF
[job c]
url = $UP/c/1?etag=v1
url = $UP/c/2?lastmod=1700000000
url = $UP/c/3
conditional = yes
CONF
for run in 1 2 3; do
	t_ctl submit "$T/c.conf" --wait > "$T/out.$run" 2>&1 || t_fail "run $run: $(cat "$T/out.$run")"
done
"$T_PYTHON" - "$T/state/results/c" <<'PY' || t_fail "conditional"
import json, sys
def recs(n):
    return {r["i"]: r for r in map(json.loads, open(f"{sys.argv[1]}/{n}.ndjson"))}
r1 = recs(1)
assert all(r["status"] == 200 and "unchanged" not in r for r in r1.values()), r1
assert r1[0]["etag"] == '"v1"' and "last_modified" in r1[1], r1
for n in (2, 3):
    r = recs(n)
    assert r[0]["status"] == 304 and r[0]["unchanged"] is True and "body" not in r[0], r
    assert r[1]["status"] == 304 and r[1]["unchanged"] is True, r
    assert r[2]["status"] == 200 and "unchanged" not in r[2], r
    assert r[0]["etag"] == '"v1"' and "last_modified" in r[1], r
    s = json.load(open(f"{sys.argv[1]}/{n}.summary.json"))
    assert s["state"] == "done" and s["ok"] == 3, s
PY
t_stop_fetchd
t_pass
