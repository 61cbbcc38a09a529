#!/usr/bin/env bash
# Reload (SIGHUP, and `fetchctl reload`):
# a job file with an error rejects the whole reload: the error is logged
# with the config-rejected MESSAGE_ID and the running jobs go on; fixed, the
# new job appears and runs; a changed periodic job fetches its new URLs
# from its next run; a changed socket or state-dir is refused (restart).
. "$(dirname "$0")/../lib.sh"
t_init sd_reload
t_upstream
mkdir -p "$T/jobs.d"
printf '[daemon]\njobs-dir = %s/jobs.d\nlog-level = info\n' "$T" > "$T/d.conf"
cat > "$T/jobs.d/a.conf" <<CONF
[job a]
url = $UP/a/[1-2]
every = 1s
CONF
t_fetchd -c "$T/d.conf"
t_wait_until "t_ctl status a --json | grep -q '\"state\":\"done\"'" 5 ||
    t_fail "job a did not run"

# Broken: nothing of it is taken, not even the good job in the same file.
cat > "$T/jobs.d/b.conf" <<CONF
[job b]
url = $UP/b/[1-2]
[job c]
url = $UP/c/1
retries = lots
CONF
kill -HUP "$FETCHD_PID"
t_wait_until "grep -q 'b.conf:5.*retries' '$T/fetchd.log'" 5 ||
    t_fail "reload error not logged"
grep -q "^<3>configuration rejected: .*b.conf:5" "$T/fetchd.log" ||
    t_fail "the error is not logged at priority err"
grep -q "keeping the running configuration" "$T/fetchd.log" ||
    t_fail "no 'keeping the running configuration'"
sleep 0.3
t_ctl status b > /dev/null 2>&1 && t_fail "job b defined by a rejected reload"
t_ctl status a > /dev/null || t_fail "job a gone after a rejected reload"
t_alive "$FETCHD_PID" || t_fail "fetchd exited"

# The control command rejects it too, with the errors in its reply.
out=$(t_ctl --json reload 2>/dev/null) && t_fail "fetchctl reload succeeded: $out"
t_json - 'd["error"]["code"]' <<<"$out" | grep -qx reload_failed ||
    t_fail "fetchctl reload: $out"
t_json - 'd["errors"][0]' <<<"$out" | grep -q "b.conf:5: retries: expected" ||
    t_fail "fetchctl reload errors: $out"
t_ctl status b > /dev/null 2>&1 && t_fail "job b defined by a rejected reload"

# Fixed: job c appears and runs; job a's next run uses its new URLs.
sed -i 's/retries = lots/retries = 1/' "$T/jobs.d/b.conf"
sed -i "s|$UP/a/\[1-2\]|$UP/a2/[1-2]|" "$T/jobs.d/a.conf"
t_ctl reload > /dev/null || t_fail "fetchctl reload of a fixed job file"
t_wait_until "t_ctl status c --json | grep -q '\"state\":\"done\"'" 5 ||
    t_fail "job c did not appear after the fix"
t_wait_until "t_ctl status b --json | grep -q '\"state\":\"done\"'" 5 ||
    t_fail "job b did not run"
grep -q "configuration reloaded" "$T/fetchd.log" || t_fail "no reload logged"
# The changed periodic job takes its new definition from its next run.
t_wait_until "[ \"\$(t_up_count /a2/1)\" -ge 1 ]" 3 ||
    t_fail "job a's next run did not fetch its new URLs"

t_stop_fetchd

# Settings only a restart can change (set in the daemon file only, as the
# command line's --socket and --state-dir win over it).
printf '[daemon]\nsocket = %s/d2.sock\nstate-dir = %s/state2\n' "$T" "$T" \
    > "$T/d2.conf"
"$FETCHD" -c "$T/d2.conf" >> "$T/fetchd2.log" 2>&1 &
FETCHD_PID=$! FETCHD_SOCKET=$T/d2.sock
t_track "$FETCHD_PID" fetchd2
t_wait_until "t_ctl ping" 5 || t_fail "fetchd with d2.conf"
printf '[daemon]\nsocket = %s/other.sock\nstate-dir = %s/state3\n' "$T" "$T" \
    > "$T/d2.conf"
kill -HUP "$FETCHD_PID"
t_wait_until "grep -q 'state-dir: changed from .* restart fetchd' '$T/fetchd2.log'" 5 ||
    t_fail "state-dir change not refused"
grep -q "socket: changed from $T/d2.sock to $T/other.sock; restart fetchd" \
    "$T/fetchd2.log" || t_fail "socket change not refused"
t_ctl ping > /dev/null || t_fail "old socket gone"
[ ! -e "$T/state3" ] || t_fail "new state-dir created"
t_stop_fetchd
t_pass
