#!/usr/bin/env bash
# Bounded memory: a 200,000-URL run (lazy glob, concurrency 200, a fast
# upstream) completes with the daemon's peak RSS (VmHWM) under 128 MiB.
# The 1M-URL figure is measured in bench/; this only catches regressions.
. "$(dirname "$0")/../lib.sh"
t_init memory
ldd "$FETCHD" | grep -q libasan && t_skip "sanitizer build: RSS is not the daemon's"
ulimit -n 4096 2>/dev/null || true
t_upstream
t_fetchd
printf '[job m]\nurl = %s/m/[1-200000]\nconcurrency = 200\nper-host = 200\n' "$UP" > "$T/m.conf"
t_ctl submit "$T/m.conf" > /dev/null || t_fail submit
t_wait_until "t_ctl status m --json | grep -q '\"state\":\"done\"'" 120 || t_fail "run did not finish"
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$FETCHD_PID/status")
lines=$(wc -l < "$T/state/results/m/1.ndjson")
echo "memory: 200000 URLs, peak RSS ${hwm} kB"
[ "$lines" -eq 200000 ] || t_fail "$lines result lines"
[ "$hwm" -lt 131072 ] || t_fail "peak RSS ${hwm} kB, bound 128 MiB"
t_stop_fetchd
t_pass
