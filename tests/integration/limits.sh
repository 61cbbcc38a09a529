#!/usr/bin/env bash
# The daemon enforces its limits itself: a job's concurrency, per-host per
# origin, and max-connections over all jobs together (measured as the
# upstream's highest number of requests in flight at once).  Runs share
# max-connections: a 3-URL job finishes while a 400-URL job holds the slots.
. "$(dirname "$0")/../lib.sh"
t_init limits
t_upstream
printf '[daemon]\nmax-connections = 12\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf"

run_job() {	# NAME CONF-BODY: submit, wait, print the upstream's max
	printf '[job %s]\n%s\n' "$1" "$2" > "$T/$1.conf"
	t_get "$UP/__reset" > /dev/null
	t_ctl submit "$T/$1.conf" --wait > "$T/$1.out" 2>&1 || t_fail "$1: $(cat "$T/$1.out")"
	t_up_stat max_concurrent
}
m=$(run_job conc "url = $UP/c/[1-60]?delay=100
concurrency = 7")
t_assert_eq 7 "$m" "concurrency = 7"
m=$(run_job perhost "url = $UP/p/[1-60]?delay=100
concurrency = 50
per-host = 3")
t_assert_eq 3 "$m" "per-host = 3"
m=$(run_job global "url = $UP/g/[1-60]?delay=100
concurrency = 50
per-host = 50")
t_assert_eq 12 "$m" "max-connections = 12"

# Fair share: a small job is not starved by a big one.
printf '[job big]\nurl = %s/b/[1-400]?delay=100\nconcurrency = 50\nper-host = 50\n' "$UP" > "$T/big.conf"
printf '[job small]\nurl = %s/s/[1-3]?delay=100\nper-host = 50\n' "$UP" > "$T/small.conf"
t_ctl submit "$T/big.conf" > /dev/null || t_fail "big"
sleep 0.3
start=$(date +%s%N)
t_ctl submit "$T/small.conf" --wait > "$T/small.out" 2>&1 || t_fail "small: $(cat "$T/small.out")"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_ctl status big --json > "$T/bigstatus"; grep -q "\"state\":\"running\"" "$T/bigstatus" || t_fail "big finished first; test proves nothing: $(cat "$T/bigstatus")"
echo "limits: the 3-URL job took ${ms} ms beside a 400-URL job"
[ "$ms" -lt 1500 ] || t_fail "small job took ${ms} ms: starved"
t_stop_fetchd
t_pass
