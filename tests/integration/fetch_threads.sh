#!/usr/bin/env bash
# fetch-threads: transfers run on several event loops (daemon/fetch.c,
# shards).  With 3: the threads exist; 600 URLs all arrive, right; an
# origin's connections stay within per-host however its transfers are
# spread, and one fetched one at a time keeps one connection; an HTTP/2
# origin keeps one multiplexed connection; reloads that change the user
# agent under load are safe; timeouts expire on every thread; a cancel
# stops transfers on every thread at once and frees their slots (a later
# run gets all of its concurrency); abort-after stops a run from inside a
# completion; SIGTERM with transfers in flight on the threads suspends the
# run and exits 0; a fetch thread that cannot get its descriptors is a
# clear error.  Then fetch-threads = 1 (a single loop) resumes the run and
# does more work.
. "$(dirname "$0")/../lib.sh"
t_init fetch_threads
t_upstream
printf '[daemon]\nfetch-threads = 3\ndrain-timeout = 1s\n' >"$T/d.conf"
t_fetchd -c "$T/d.conf"

grep -q "ready: .*, transfers on 3 loops" "$T/fetchd.log" ||
	t_fail "the start message does not say 3 loops"
names=$(cat /proc/"$FETCHD_PID"/task/*/comm | sort | tr '\n' ' ')
case $names in
*"fetch/1 fetch/2 "*) ;;
*) t_fail "fetch threads 1 and 2 not running: $names" ;;
esac
case $names in
*fetch/3*) t_fail "more fetch threads than asked: $names" ;;
esac

stats()	# a field of upstream's /__stats
{
	curl -s "$UP/__stats" | "$T_PYTHON" -c \
	    "import json,sys; print(json.load(sys.stdin)['$1'])"
}

# 600 URLs from one origin, per-host 9: each one's own body comes back,
# and no more than 9 connections were ever open to the origin.
curl -s "$UP/__reset" >/dev/null
printf '[job many]\nurl = %s/item/[1-600]?delay=2\nconcurrency = 40\nper-host = 9\n' \
    "$UP" >"$T/many.conf"
t_ctl submit "$T/many.conf" --wait >"$T/many.out" 2>&1 ||
	t_fail "many: $(cat "$T/many.out")"
"$T_PYTHON" - "$T/state/results/many/1.ndjson" <<'PY' || t_fail "many: results"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 600, len(recs)
assert sorted(r["i"] for r in recs) == list(range(600))
for r in recs:
    assert r["status"] == 200 and r["body"]["n"] == r["i"] + 1, r
PY
# (max_open counts our own /__reset request's connection too.)
n=$(stats max_open)
[ "$n" -le 10 ] || t_fail "$n connections open at once to a per-host 9 origin"
# Each fetch thread ran a share of them (run time in ns, schedstat).
for task in /proc/"$FETCHD_PID"/task/*; do
	case $(cat "$task/comm") in fetch/*) ;; *) continue ;; esac
	ns=$(cut -d' ' -f1 "$task/schedstat")
	echo "$(cat "$task/comm"): ran ${ns} ns"
	[ "$ns" -gt 3000000 ] || t_fail "$(cat "$task/comm") ran only $ns ns"
done

# An HTTP/2 origin stays on its home thread: one multiplexed connection.
t_nginx
printf '[job h2]\nurl = %s/json/[1-200]\nca-file = %s\nconcurrency = 20\nper-host = 20\n' \
    "$NGXS" "$NGX_CA" >"$T/h2.conf"
t_ctl submit "$T/h2.conf" --wait >"$T/h2.out" 2>&1 || t_fail "h2: $(cat "$T/h2.out")"
n=$(awk '$2 == "HTTP/2.0" && $3 == "https" { print $1 }' "$NGX_ACCESS_LOG" |
    sort -u | wc -l)
t_assert_eq 1 "$n" "HTTP/2 connections to one origin with 3 fetch threads"

# Reloads that change the user agent while transfers wait in a fetch
# thread's queue: the thread reads fetch.c's copy of the old one, never
# the freed string (AddressSanitizer and valgrind see to it).  An
# upstream of its own: the job leaves idle connections.
UP1=$UP
t_upstream
printf '[job ua]\nurl = %s/ua/[1-6000]\nconcurrency = 200\nper-host = 200\n' \
    "$UP" >"$T/ua.conf"
UP=$UP1
t_ctl submit "$T/ua.conf" >/dev/null || t_fail "submit ua"
for k in 1 2 3 4 5 6 7 8; do
	printf '[daemon]\nfetch-threads = 3\ndrain-timeout = 1s\nuser-agent = test/%s\n' \
	    "$k" >"$T/d.conf"
	t_ctl reload >/dev/null || t_fail "reload $k"
done
t_wait_until "t_ctl status ua --json | grep -q '\"state\":\"done\"'" 60 ||
	t_fail "ua: run did not finish"
t_assert_eq 6000 "$(grep -c '"status":200' "$T/state/results/ua/1.ndjson")" \
    "ua: records"

# Timeouts fire on every thread: 30 hanging URLs, timeout 400ms (from
# an upstream of their own: the failures open its breaker).
UP1=$UP
t_upstream
printf '[job slow]\nurl = %s/hang/[1-30]?hang=1\nconcurrency = 30\nper-host = 30\ntimeout = 400ms\nretries = 0\nbreaker = 100\n' \
    "$UP" >"$T/slow.conf"
# An origin fetched one at a time keeps one connection (its home shard).
curl -s "$UP/__reset" >/dev/null
# Twice: the origin's home is a hash of the origin, not of fetchd's
# record of it (which goes between the runs).
printf '[job single]\nurl = %s/s/[1-40]\nper-host = 1\n' "$UP" >"$T/single.conf"
for run in 1 2; do
	t_ctl submit "$T/single.conf" --wait >"$T/single.out" 2>&1 ||
		t_fail "single $run: $(cat "$T/single.out")"
done
t_assert_eq 2 "$(stats connections)" "connections of a per-host 1 origin (and ours)"
UP=$UP1
t_ctl submit "$T/slow.conf" --wait >"$T/slow.out" 2>&1
"$T_PYTHON" - "$T/state/results/slow/1.ndjson" <<'PY' || t_fail "slow: results"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 30 and all(r["error"] == "timeout" for r in recs), recs
assert all(r["ms"] < 3000 for r in recs), [r["ms"] for r in recs]
PY

# Cancel 60 transfers in flight on all threads: all recorded cancelled.
printf '[job hang]\nurl = %s/h/[1-60]?hang=1\nconcurrency = 60\nper-host = 60\ntimeout = 60s\nstall-timeout = 60s\n' \
    "$UP" >"$T/hang.conf"
t_ctl submit "$T/hang.conf" >/dev/null || t_fail "submit hang"
t_wait_until "t_ctl status hang --json | grep -q '\"in_flight\":60'" 10 ||
	t_fail "hang: not 60 in flight"
t_ctl cancel hang >"$T/cancel.out" 2>&1 || t_fail "cancel: $(cat "$T/cancel.out")"
t_wait_until "t_ctl status hang --json | grep -q '\"state\":\"cancelled\"'" 5 ||
	t_fail "hang: run not cancelled"
"$T_PYTHON" - "$T/state/results/hang/1.ndjson" <<'PY' || t_fail "hang: results"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 60 and all(r["error"] == "cancelled" for r in recs), recs
PY
# Their slots are free again: a run of the same origin gets 60 at once.
curl -s "$UP/__reset" >/dev/null
printf '[job again]\nurl = %s/a/[1-120]?delay=300\nconcurrency = 60\nper-host = 60\n' \
    "$UP" >"$T/again.conf"
t_ctl submit "$T/again.conf" --wait >"$T/again.out" 2>&1 ||
	t_fail "again: $(cat "$T/again.out")"
t_assert_eq 60 "$(stats max_concurrent)" "requests at once after a cancel"
n=$(stats max_open)
[ "$n" -le 61 ] || t_fail "$n connections open at once after a cancel (60 + ours)"

# abort-after: the third failure stops the run from inside a done(),
# while transfers of it are in flight on the threads and others have
# finished there (30 failures come back at once): each URL gets one
# record, its own failure or cancelled, and at least 3 failures.
printf '[job abort]\nurl = %s/bad/[1-30]?status=500&delay=200\nurl = %s/h2/[1-40]?hang=1\nconcurrency = 70\nper-host = 70\nretries = 0\nabort-after = 3\nbreaker = 1000\n' \
    "$UP" "$UP" >"$T/abort.conf"
t_ctl submit "$T/abort.conf" --wait >"$T/abort.out" 2>&1
"$T_PYTHON" - "$T/state/results/abort/1.ndjson" <<'PY' || t_fail "abort: results"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
e = sorted(r["error"] for r in recs)
assert sorted(r["i"] for r in recs) == list(range(70)), e
assert e.count("http_500") >= 3, e
assert e.count("http_500") + e.count("cancelled") == 70, e
assert all(r["error"] == "cancelled" for r in recs if r["i"] >= 30), e
PY
grep -q "abort run 1 failed: .*: abort-after: [0-9]* URLs failed" "$T/fetchd.log" ||
	t_fail "abort: the run's end does not give abort-after as the reason"
t_ctl ping >/dev/null || t_fail "fetchd died"

# SIGTERM with 50 transfers in flight on the threads: the drain-timeout
# passes, the run is suspended, fetchd exits 0 (the run resumes below).
printf '[job term]\nurl = %s/t/[1-50]?delay=3000\nconcurrency = 50\nper-host = 50\n' \
    "$UP" >"$T/term.conf"
t_ctl submit "$T/term.conf" >/dev/null || t_fail "submit term"
t_wait_until "t_ctl status term --json | grep -q '\"in_flight\":50'" 10 ||
	t_fail "term: not 50 in flight"
t_stop_fetchd
grep -q "term run 1 suspended at 0/50" "$T/fetchd.log" ||
	t_fail "term: run not suspended"

# fetch-threads = 16 where a fetch thread's loop cannot get its file
# descriptors: a clear error, no crash (fetch_free() joined threads that
# never started).
printf '[daemon]\nfetch-threads = 16\n' >"$T/d16.conf"
(ulimit -n 40; exec "$FETCHD" -c "$T/d16.conf" --socket "$T/x.sock" \
    --state-dir "$T/x" >"$T/d16.out" 2>&1)
rc=$?
t_assert_eq 1 "$rc" "exit status when a fetch thread cannot start ($(cat "$T/d16.out"))"
grep -q "fetch thread" "$T/d16.out" || t_fail "no clear error: $(cat "$T/d16.out")"

# fetch-threads = 1: no fetch thread, the same work done.
printf '[daemon]\nfetch-threads = 1\n' >"$T/d1.conf"
t_fetchd -c "$T/d1.conf"
grep -q fetch/ /proc/"$FETCHD_PID"/task/*/comm && t_fail "a fetch thread with fetch-threads = 1"
t_wait_until "t_ctl status term --json | grep -q '\"state\":\"done\"'" 10 ||
	t_fail "term: the resumed run did not finish"
t_assert_eq 50 "$(grep -c '"status":200' "$T/state/results/term/1.ndjson")" \
    "term: records after resuming"
printf '[job one]\nurl = %s/o/[1-300]\nconcurrency = 20\n' "$UP" >"$T/one.conf"
t_ctl submit "$T/one.conf" --wait >"$T/one.out" 2>&1 || t_fail "one: $(cat "$T/one.out")"
t_assert_eq 300 "$(grep -c '"status":200' "$T/state/results/one/1.ndjson")" "one: records"
t_stop_fetchd
t_pass
