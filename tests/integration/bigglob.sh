#!/usr/bin/env bash
# A [0-999999] glob starts at once (lazy expansion: total is known without
# expanding), runs for a few seconds, is cancelled, and the daemon's RSS
# stays small the whole time: a window of URLs, never the million.
. "$(dirname "$0")/../lib.sh"
t_init bigglob
t_upstream
t_fetchd

cat > "$T/big.conf" <<CONF
[job big]
url = $UP/big/[0-999999]
concurrency = 100
CONF
t_ctl submit "$T/big.conf" > /dev/null || t_fail submit
t_ctl status big --json > "$T/s0" || t_fail status
grep -q '"total":1000000' "$T/s0" || t_fail "total not known at start: $(cat "$T/s0")"
max=0
for _ in 1 2 3 4 5 6; do
	sleep 0.5
	rss=$(t_rss_kb "$FETCHD_PID")
	[ "$rss" -gt "$max" ] && max=$rss
done
done_n=$(t_ctl status big --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["done"])')
echo "bigglob: $done_n URLs done in ~3 s, peak RSS ${max} kB"
[ "$done_n" -gt 1000 ] || t_fail "only $done_n done"
# ASan's shadow memory and quarantine inflate RSS; the bound is for real builds.
if ldd "$FETCHD" | grep -q libasan; then
	echo "bigglob: sanitizer build, RSS bound not checked"
else
	[ "$max" -lt 65536 ] || t_fail "RSS ${max} kB, expected < 64 MiB"
fi
t_ctl cancel big > /dev/null || t_fail cancel
t_wait_until "t_ctl status big --json | grep -q '\"state\":\"cancelled\"'" 10 || t_fail "not cancelled"
lines=$(wc -l < "$T/state/results/big/1.ndjson")
[ "$lines" -ge "$done_n" ] || t_fail "results file has $lines lines, fewer than $done_n done"
t_stop_fetchd
t_pass
