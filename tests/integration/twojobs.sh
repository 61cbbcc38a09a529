#!/usr/bin/env bash
# Two jobs at once from one file, plus a third submitted while they run:
# each gets its own run and results file, all finish, none starves.
. "$(dirname "$0")/../lib.sh"
t_init twojobs
t_upstream
t_fetchd

cat > "$T/two.conf" <<CONF
[job slow]
url = $UP/slow/[1-60]?delay=100
concurrency = 10

[job fast]
url = $UP/fast/[1-300]
concurrency = 20
CONF
printf '[job tiny]\nurl = %s/tiny/{a,b,c}\n' "$UP" > "$T/tiny.conf"

t_ctl submit "$T/two.conf" > "$T/out" 2>&1 || t_fail "submit: $(cat "$T/out")"
grep -q "slow" "$T/out" && grep -q "fast" "$T/out" || t_fail "submit output: $(cat "$T/out")"
t_ctl submit "$T/tiny.conf" --wait > "$T/tiny.out" 2>&1 || t_fail "tiny: $(cat "$T/tiny.out")"
# tiny (3 URLs) must not wait for slow (60 x 100 ms at concurrency 10 = 0.6 s)
t_ctl status slow --json | grep -q '"state":"running"' || echo "note: slow finished before tiny"
t_wait_until "t_ctl status slow --json | grep -q '\"state\":\"done\"'" 10 || t_fail "slow did not finish"
t_wait_until "t_ctl status fast --json | grep -q '\"state\":\"done\"'" 10 || t_fail "fast did not finish"
[ "$(wc -l < "$T/state/results/slow/1.ndjson")" -eq 60 ] || t_fail "slow results"
[ "$(wc -l < "$T/state/results/fast/1.ndjson")" -eq 300 ] || t_fail "fast results"
[ "$(wc -l < "$T/state/results/tiny/1.ndjson")" -eq 3 ] || t_fail "tiny results"
t_ctl list > "$T/list" 2>&1
for j in slow fast tiny; do grep -q "$j" "$T/list" || t_fail "list lacks $j: $(cat "$T/list")"; done
# Resubmitting replaces the definition and starts run 2.
t_ctl submit "$T/tiny.conf" --wait > "$T/tiny2.out" 2>&1 || t_fail "tiny run 2"
[ -f "$T/state/results/tiny/2.ndjson" ] || t_fail "no run 2 for tiny"
t_ctl results tiny --run 1 --ordered > "$T/r1" || t_fail "results --run 1"
/usr/bin/python3 -c '
import json,sys
recs=[json.loads(l) for l in open(sys.argv[1])]
assert [r["i"] for r in recs]==[0,1,2], recs
assert [r["url"].rsplit("/",1)[1] for r in recs]==["a","b","c"], recs
' "$T/r1" || t_fail "ordered results of tiny"
# The saved definition: the same text again is not rewritten (the file
# keeps its inode); a changed definition replaces it.
saved=$T/state/jobs/tiny.conf
ino=$(stat -c %i "$saved") || t_fail "tiny was not saved"
t_ctl submit "$T/tiny.conf" --wait > /dev/null 2>&1 || t_fail "tiny run 3"
[ "$(stat -c %i "$saved")" = "$ino" ] || t_fail "unchanged definition rewritten"
sed 's/^\(url = .*\)$/\1\nheader = X-Changed: 1/' "$T/tiny.conf" > "$T/tiny2.conf"
t_ctl submit "$T/tiny2.conf" --wait > /dev/null 2>&1 || t_fail "tiny run 4"
grep -q "X-Changed: 1" "$saved" || t_fail "changed definition not saved: $(cat "$saved")"
t_stop_fetchd
t_pass
