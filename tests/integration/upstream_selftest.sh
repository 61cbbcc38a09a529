#!/bin/bash
# upstream_selftest: starts tests/upstream/upstream through tests/lib.sh and
# checks every fault mode with curl, so the other integration tests can
# rely on it.  Also the smallest example of a test written with lib.sh.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

. "$(dirname "$0")/../lib.sh"

t_init upstream_selftest
command -v curl >/dev/null || t_skip "curl is not installed"
"$T_PYTHON" -c '' 2>/dev/null || t_skip "python3 is not installed"
t_upstream

# fetch URL [CURL ARGS]: body to $T/body, headers to $T/head; prints
# "CODE SECONDS BYTES CURL_EXIT".
fetch()
{
	local url=$1 out rc

	shift
	out=$(curl -s -o "$T/body" -D "$T/head" \
	    -w '%{http_code} %{time_total} %{size_download}' "$@" "$url")
	rc=$?
	echo "$out $rc"
}

header()
{
	sed -n "s/^$1: *\\(.*\\)\\r\$/\\1/Ip" "$T/head"
}

# seconds_between LOW HIGH VALUE
seconds_between()
{
	"$T_PYTHON" -c 'import sys; lo, hi, v = map(float, sys.argv[1:])
sys.exit(0 if lo <= v <= hi else 1)' "$@"
}

# default: small JSON, n taken from the path
read -r code secs bytes rc <<<"$(fetch "$UP/item/17")"
t_assert_eq 200 "$code" "default status"
t_assert_eq '{"path":"/item/17","n":17}' "$(cat "$T/body")" "default body"
t_assert_match '^application/json' "$(header Content-Type)" "content type"

# delay=MS is a timer, not a sleep: two in parallel take one delay
read -r code secs bytes rc <<<"$(fetch "$UP/slow/1?delay=300")"
t_assert_eq 200 "$code" "delay status"
seconds_between 0.29 1.5 "$secs" || t_fail "delay=300 took ${secs}s"
start=$(date +%s%N)
curl -s -o /dev/null "$UP/p/1?delay=500" & c1=$!
curl -s -o /dev/null "$UP/p/2?delay=500" & c2=$!
wait $c1 $c2
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 950 ] || t_fail "two parallel delay=500 took ${ms}ms"

# status=NNN
read -r code secs bytes rc <<<"$(fetch "$UP/missing/3?status=404")"
t_assert_eq 404 "$code" "status=404"
t_assert_eq 404 "$(t_json "$T/body" 'd["status"]')" "status in body"

# fail=K counts attempts per path+query; Retry-After only on failures
target='/flaky/5?fail=2&retry_after=1'
for want in 503 503 200 200; do
	read -r code secs bytes rc <<<"$(fetch "$UP$target")"
	t_assert_eq "$want" "$code" "fail=2 attempt"
	if [ "$want" = 503 ]; then
		t_assert_eq 1 "$(header Retry-After)" "Retry-After on 503"
	else
		t_assert_eq "" "$(header Retry-After)" "no Retry-After on 200"
	fi
done
t_assert_eq 4 "$(t_up_count "$target")" "/__count of $target"
read -r code secs bytes rc <<<"$(fetch \
    "$UP/flaky/6?fail=1&failstatus=429&retry_after_date=30")"
t_assert_eq 429 "$code" "failstatus=429"
http_date='^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
t_assert_match "$http_date" "$(header Retry-After)" "HTTP-date Retry-After"

# size=N: exactly N bytes of valid JSON, streamed (the upstream stays small)
read -r code secs bytes rc <<<"$(fetch "$UP/big/7?size=100000")"
t_assert_eq 100000 "$bytes" "size=100000"
t_assert_eq 7 "$(t_json "$T/body" 'd["n"]')" "size=N body is JSON"
curl -s -o /dev/null "$UP/huge?size=300000000" ||
    t_fail "size=300000000 transfer failed"
rss=$(t_rss_kb "$UP_PID")
[ "$rss" -lt 65536 ] || t_fail "upstream RSS ${rss} kB after a 300 MB body"

# type=text, type=binary (not UTF-8), type=badjson
read -r code secs bytes rc <<<"$(fetch "$UP/t/3?type=text")"
t_assert_eq 'hello 3' "$(cat "$T/body")" "type=text"
t_assert_match '^text/plain' "$(header Content-Type)" "text content type"
read -r code secs bytes rc <<<"$(fetch "$UP/b/4?type=binary")"
t_assert_eq 200 "$code" "type=binary status"
"$T_PYTHON" -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' \
    "$T/body" 2>/dev/null && t_fail "type=binary body is valid UTF-8"
read -r code secs bytes rc <<<"$(fetch "$UP/j/5?type=badjson")"
t_json "$T/body" d >/dev/null 2>&1 && t_fail "type=badjson parses as JSON"

# reset=1: RST, no response; reset_mid=1: headers + half the body, RST
read -r code secs bytes rc <<<"$(fetch "$UP/r/1?reset=1")"
t_assert_eq 000 "$code" "reset=1 status"
t_assert_match '^(52|56)$' "$rc" "reset=1 curl exit"
read -r code secs bytes rc <<<"$(fetch "$UP/r/2?reset_mid=1&size=200000")"
t_assert_eq 200 "$code" "reset_mid=1 status"
t_assert_eq 100000 "$bytes" "reset_mid=1 bytes"
t_assert_match '^(18|56)$' "$rc" "reset_mid=1 curl exit"

# hang=1: never answers; the client gives up, the upstream lets go
read -r code secs bytes rc <<<"$(fetch "$UP/h/1?hang=1" --max-time 1)"
t_assert_eq 28 "$rc" "hang=1 curl exit (timeout)"
t_wait_until '[ "$(t_up_stat open)" = 1 ]' 2 ||
    t_fail "hung connection still open after the client left"

# drip=MS: one body byte every MS ms ("hello 9\n" is 8 bytes)
read -r code secs bytes rc <<<"$(fetch "$UP/d/9?drip=100&type=text")"
t_assert_eq 'hello 9' "$(cat "$T/body")" "drip body"
seconds_between 0.75 3 "$secs" || t_fail "drip=100 of 8 bytes took ${secs}s"

# chunked=1
read -r code secs bytes rc <<<"$(fetch "$UP/c/2?chunked=1&size=50000")"
t_assert_eq chunked "$(header Transfer-Encoding)" "chunked=1 header"
t_assert_eq 50000 "$bytes" "chunked=1 body"
t_assert_eq "" "$(header Content-Length)" "no Content-Length when chunked"

# echo=1 shows method, headers and body as received
read -r code secs bytes rc <<<"$(fetch "$UP/e/1?echo=1" \
    -H 'X-Probe: 42' -d '{"a":1}')"
t_assert_eq POST "$(t_json "$T/body" 'd["method"]')" "echo method"
t_assert_eq 42 "$(t_json "$T/body" 'd["headers"]["x-probe"]')" "echo header"
t_assert_eq '{"a":1}' "$(t_json "$T/body" 'd["body"]')" "echo body"

# garbage gets a 400 and a close
exec {fd}<>"/dev/tcp/127.0.0.1/$UP_PORT"
printf 'NOT HTTP AT ALL\r\n\r\n' >&$fd
reply=$(cat <&$fd)
exec {fd}>&-
t_assert_match '^HTTP/1.1 400 ' "$reply" "garbage request"

# /__stats: requests counted, concurrency seen
t_get "$UP/__reset" >/dev/null
curl -s -o /dev/null --parallel --parallel-immediate --parallel-max 20 \
    "$UP/conc/[1-20]?delay=300" 2>/dev/null
t_assert_eq 20 "$(t_up_stat requests)" "requests after reset"
t_assert_eq 20 "$(t_up_stat max_concurrent)" "max_concurrent"

# /__log and /__arrivals: arrival times in ms, oldest first
t_get "$UP/__reset" >/dev/null
target='/log/1?fail=1&x=y'
for i in 1 2 3; do
	curl -s -o /dev/null "$UP$target"
	[ "$i" = 3 ] || sleep 0.2
done
curl -s -o /dev/null "$UP/log/2"
curl -s -o /dev/null "$UP/other/1"
t_assert_eq 3 "$(t_up_log "$target" | wc -l)" "t_up_log lines"
t_assert_eq 3 "$(t_json - 'd["count"]' \
    < <(t_get "$UP/__log?key=$(t_up_urlenc "$target")"))" "/__log count"
for gap in $(t_up_log "$target" | t_up_gaps); do
	seconds_between 0.19 2 "$(awk -v g="$gap" 'BEGIN { print g / 1000 }')" ||
	    t_fail "gap of ${gap}ms between requests 0.2 s apart"
done
t_assert_eq 0 "$(t_up_log /never | wc -l)" "t_up_log of an unknown key"
t_assert_eq 4 "$(t_up_arrivals /log/ | wc -l)" "t_up_arrivals /log/"
t_assert_eq 5 "$(t_up_arrivals / | wc -l)" "t_up_arrivals /"
t_assert_eq "$(t_up_log "$target")" "$(t_up_arrivals '/log/1?')" \
    "per-key log and arrival ring agree"
sort -c -g <(t_up_arrivals /) || t_fail "arrivals not oldest first"
# A key keeps its first 1000 times, and counts on.
for i in $(seq 1005); do
	printf 'url = "%s/cap"\noutput = "/dev/null"\n' "$UP"
done > "$T/cap.curl"
curl -s -K "$T/cap.curl" || t_fail "1005 requests to /cap"
t_assert_eq 1005 "$(t_up_count /cap)" "count past the log bound"
t_assert_eq 1000 "$(t_up_log /cap | wc -l)" "times kept per key"
t_get "$UP/__reset" >/dev/null
t_assert_eq 0 "$(t_up_arrivals / | wc -l)" "arrivals after /__reset"
t_assert_eq 0 "$(t_up_log /cap | wc -l)" "log after /__reset"
# The ring (-a N) keeps the last N arrivals and counts the others.
up1=$UP up1_pid=$UP_PID
t_upstream -a 10
for i in $(seq 15); do
	printf 'url = "%s/ring/%d"\noutput = "/dev/null"\n' "$UP" "$i"
done > "$T/ring.curl"
curl -s -K "$T/ring.curl" || t_fail "15 requests to /ring/"
t_assert_eq 10 "$(t_up_arrivals /ring/ | wc -l)" "arrivals kept by -a 10"
t_assert_eq 5 "$(t_get "$UP/__arrivals" | t_json - 'd["overwritten"]')" \
    "arrivals overwritten"
t_assert_eq "$(t_up_log /ring/15)" "$(t_up_arrivals /ring/ | tail -1)" \
    "newest arrival"
t_stop "$UP_PID" 0
UP=$up1 UP_PID=$up1_pid

# SIGTERM: clean exit
t_stop "$UP_PID" 0
t_pass
