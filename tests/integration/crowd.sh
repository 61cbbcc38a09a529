#!/usr/bin/env bash
# The breaker judges an origin only when nothing else is in flight there:
# with 100 slow successes in flight, 12 quick 503s (each succeeds when
# retried) must not mark the origin down, and every URL succeeds.  (The
# demo job of the Quick start is this shape.)
. "$(dirname "$0")/../lib.sh"
t_init crowd
t_upstream
t_fetchd
cat > "$T/c.conf" <<CONF
[job crowd]
url = $UP/slow/[1-100]?delay=300
url = $UP/flaky/[1-12]?fail=1
concurrency = 112
per-host = 112
retry-budget = 100%
CONF
t_ctl submit "$T/c.conf" --wait > "$T/out" 2>&1 || t_fail "crowd: $(cat "$T/out")"
grep -q "is down" "$T/fetchd.log" && t_fail "the origin was marked down"
t_stop_fetchd
t_pass
