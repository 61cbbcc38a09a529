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

# A pooled easy handle keeps its job's options from one transfer to the
# next (concurrency 1: always the same handle); what belongs to one
# transfer (validators) or to another job (method, body, headers) must not
# carry over.
cat > "$T/l.conf" <<CONF
[job leak]
url = $UP/l/1?etag=v1
url = $UP/l/2?echo=1
url = $UP/l/3?lastmod=1700000000
url = $UP/l/4?echo=1
concurrency = 1
conditional = yes
CONF
cat > "$T/p.conf" <<CONF
[job post]
url = $UP/p/1?echo=1
url = $UP/p/2?echo=1
method = POST
body = hello
header = X-Leak: 1
concurrency = 1
CONF
cat > "$T/g.conf" <<CONF
[job get]
url = $UP/g/1?echo=1
url = $UP/g/2?echo=1
concurrency = 1
CONF
for f in l l p p g; do
	t_ctl submit "$T/$f.conf" --wait > "$T/out.$f" 2>&1 ||
	    t_fail "$f: $(cat "$T/out.$f")"
done
"$T_PYTHON" - "$T/state/results" <<'PY' || t_fail "options carried over"
import json, sys
def recs(job, n):
    return {r["i"]: r for r in map(json.loads,
            open(f"{sys.argv[1]}/{job}/{n}.ndjson"))}
r = recs("leak", 2)
assert r[0]["status"] == 304 and r[2]["status"] == 304, r
for i in (1, 3):
    h = r[i]["body"]["headers"]
    assert "if-none-match" not in h and "if-modified-since" not in h, r[i]
for n in (1, 2):
    for rec in recs("post", n).values():
        b = rec["body"]
        assert b["method"] == "POST" and b["body"] == "hello", rec
        assert b["headers"].get("x-leak") == "1", rec
for rec in recs("get", 1).values():
    b = rec["body"]
    assert b["method"] == "GET" and b["body_len"] == 0, rec
    assert "x-leak" not in b["headers"], rec
PY
t_stop_fetchd
t_pass
