#!/usr/bin/env bash
# Redirects: followed up to max-redirs (default 10), then the URL fails
# with class "protocol" and a detail naming max-redirs; a redirect loop
# stops there too.  Redirects to anything but http and https (file://,
# gopher://) are refused, and nothing is fetched from them.
. "$(dirname "$0")/../lib.sh"
t_init sec_redirects
t_upstream
t_fetchd

rec() {	# JOB URL-SUBSTRING EXPR: a field of the URL's result record
	t_ndjson "$T/state/results/$1/1.ndjson" \
	    "[r for r in d if '$2' in r['url']][0]$3"
}

cat > "$T/dflt.conf" <<EOF
[job dflt]
url = $UP/a/1?redirect=10
url = $UP/b/1?redirect=11
retries = 0
EOF
t_ctl submit "$T/dflt.conf" --wait > "$T/out" 2>&1
t_assert_eq 200 "$(rec dflt /a/1 "['status']")" "10 redirects are followed by default"
t_assert_eq 1 "$(t_up_count '/a/1?redirect=0')" "the end of the chain was fetched"
t_assert_eq protocol "$(rec dflt /b/1 "['error']")" "11 redirects"
t_assert_match "more than max-redirs \(10\) redirects" "$(rec dflt /b/1 "['detail']")"
t_assert_eq 0 "$(t_up_count '/b/1?redirect=0')" "the 12th request was not made"
t_assert_eq 1 "$(t_up_count '/b/1?redirect=1')" "the 11th request was made"

cat > "$T/low.conf" <<EOF
[job low]
url = $UP/c/1?redirect=3
url = $UP/c/2?redirect=2
url = $UP/loop/1?redirect=1000000
retries = 0
max-redirs = 2
EOF
t_ctl submit "$T/low.conf" --wait > "$T/out" 2>&1
t_assert_eq 200 "$(rec low /c/2 "['status']")" "2 redirects with max-redirs = 2"
t_assert_eq protocol "$(rec low /c/1 "['error']")" "3 redirects with max-redirs = 2"
t_assert_match "more than max-redirs \(2\) redirects" "$(rec low /loop/1 "['detail']")"
n=$(t_get "$UP/__keys?prefix=/loop/" | t_json - 'sum(d.values())')
t_assert_eq 3 "$n" "a redirect loop stops after max-redirs (1 + 2 requests)"
t_ctl explain low "$UP/c/1?redirect=3" > "$T/explain" 2>&1
grep -q "max-redirs" "$T/explain" || t_fail "explain: $(cat "$T/explain")"

printf '[job none]\nurl = %s/z/1?redirect=1\nmax-redirs = 0\nretries = 0\n' "$UP" > "$T/none.conf"
t_ctl submit "$T/none.conf" --wait > "$T/out" 2>&1
t_assert_eq protocol "$(rec none /z/1 "['error']")" "max-redirs = 0 follows none"
t_assert_eq 0 "$(t_up_count '/z/1?redirect=0')" "max-redirs = 0 made a second request"

# Other schemes: refused.  The gopher URL points at our upstream, which
# would count a request it cannot parse as "bad".
bad0=$(t_up_stat bad)
gopher=$(t_up_urlenc "gopher://127.0.0.1:$UP_PORT/1/probe")
file=$(t_up_urlenc "file:///etc/passwd")
cat > "$T/scheme.conf" <<EOF
[job scheme]
url = $UP/f/1?status=302&location=$file
url = $UP/g/1?status=301&location=$gopher
retries = 0
EOF
t_ctl submit "$T/scheme.conf" --wait > "$T/out" 2>&1
for u in /f/1 /g/1; do
	t_assert_eq protocol "$(rec scheme $u "['error']")" "redirect $u"
	t_assert_match "refused: fetchd speaks and follows only http and https" \
	    "$(rec scheme $u "['detail']")"
	rec scheme $u "" | grep -q root: && t_fail "file content in the record"
done
t_assert_eq "$bad0" "$(t_up_stat bad)" "a gopher request reached the upstream"
t_stop_fetchd
t_pass
