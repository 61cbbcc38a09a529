#!/usr/bin/env bash
# Under a real service manager: systemd boots as PID 1 of a fenced
# namespace (tests/systemd/sd-ns.sh), the units are installed as shipped
# (only the binary's path changed by a drop-in) with the sysusers entry
# applied inside, and then: `systemctl start` returns once fetchd is ready
# (the socket answers at once); `systemctl status` shows the STATUS= line;
# events reach `journalctl -u fetchd` with their FETCHD_* fields;
# `systemctl reload` takes a new job file; the watchdog restarts a stopped
# (SIGSTOP) daemon; `systemctl stop` ends with Result=success; and
# fetchd.socket starts the service on the first fetchctl connection.
# Root only; skipped when systemd cannot boot here.
. "$(dirname "$0")/../lib.sh"
t_init sd_service
# LeakSanitizer stops threads with ptrace at exit, which the unit's
# SystemCallFilter forbids: the service would end "failed" for that alone.
ldd "$FETCHD" | grep -q libasan &&
    t_skip "sanitizer build: the hardened unit forbids LeakSanitizer's ptrace"
S=$top_srcdir
SDNS=$S/tests/systemd/sd-ns.sh
[ "$(id -u)" = 0 ] || t_skip "booting systemd in a namespace needs root"
for c in unshare nsenter systemctl journalctl systemd-sysusers; do
	command -v "$c" >/dev/null || t_skip "$c is not installed"
done
[ -x /lib/systemd/systemd ] || t_skip "no /lib/systemd/systemd"
t_upstream

D=$T/sd
BIN=/run/fetchd-test/fetchd
SOCK=/run/fetchd/control.sock
mkdir -p "$D/units/fetchd.service.d"
sed -e 's|@sbindir@|/usr/sbin|g' -e 's|@sysconfdir@|/etc|g' \
    "$S/systemd/fetchd.service.in" > "$D/units/fetchd.service"
cp "$S/systemd/fetchd.socket" "$D/units/"
exec_start=$(sed -n 's|^ExecStart=/usr/sbin/fetchd|ExecStart='"$BIN"'|p' \
    "$D/units/fetchd.service")
[ -n "$exec_start" ] || t_fail "no ExecStart=/usr/sbin/fetchd in the unit"
printf '[Service]\nExecStart=\n%s\n' "$exec_start" \
    > "$D/units/fetchd.service.d/binary.conf"

# The namespace is stopped whatever happens (before lib.sh's cleanup).
trap 'rc=$?; "$SDNS" stop "$D" >> "$T/sdns.log" 2>&1; (exit $rc); t_cleanup' EXIT
"$SDNS" start "$D" >> "$T/sdns.log" 2>&1 ||
    t_skip "systemd does not boot in a namespace here: $(tail -3 "$T/sdns.log")"

ns() { "$SDNS" run "$D" "$@"; }
ctl() { ns "$FETCHCTL" -s "$SOCK" "$@"; }
prop() { ns systemctl show -p "$1" --value "${2:-fetchd.service}"; }
journal() {
	ns journalctl -u fetchd.service -o json --no-pager "$@" > "$T/j" 2>&1
}
jwait() { # CONDITION over the entries d, then journalctl matches
	local cond=$1 n

	shift
	for n in $(seq 60); do
		journal "$@"
		t_ndjson "$T/j" "$cond" 2>/dev/null | grep -qx true && return 0
		sleep 0.05
	done
	return 1
}
why() { ns journalctl --no-pager -n 30 -u fetchd.service 2>&1; }

# Install: binary into the namespace's /run, user and group from the
# sysusers entry, the shipped daemon file.
ns mkdir -p /run/fetchd-test /etc/fetchd/jobs.d
ns install -m 755 "$FETCHD" "$BIN"
ns systemd-sysusers "$S/systemd/fetchd.sysusers" >> "$T/sdns.log" 2>&1 ||
    t_fail "systemd-sysusers"
ns getent passwd fetchd > /dev/null || t_fail "no user fetchd"
ns install -m 644 "$S/conf/fetchd.conf" /etc/fetchd/fetchd.conf
ns systemctl daemon-reload

# start returns after READY=1: the socket answers at once.
ns systemctl start fetchd.service || t_fail "systemctl start: $(why)"
ctl ping > /dev/null || t_fail "not answering right after start: $(why)"
t_assert_eq fetchd "$(ns ps -o user= -p "$(prop MainPID)")" "service user"
t_wait_until "[ -n \"\$(prop StatusText)\" ]" 3 || t_fail "no STATUS="
ns systemctl status --no-pager fetchd.service > "$T/status" 2>&1
grep -q 'Status: "[0-9]* jobs\? running, ' "$T/status" ||
    t_fail "systemctl status: $(cat "$T/status")"

# Events in the journal, with their fields.
cat > "$T/svc.conf" <<CONF
[job svc]
url = $UP/svc/[1-3]
url = $UP/svcbad/1?status=500
retries = 0
CONF
ctl submit "$T/svc.conf" > /dev/null || t_fail "submit: $(why)"
jwait "any(e.get('MESSAGE_ID') == '8b3f5d7e9a1c42b4c6d8e0f2a4b6c8d0' for e in d)" \
    FETCHD_JOB=svc || t_fail "no run-finished event: $(cat "$T/j")"
"$T_PYTHON" - "$T/j" "$UP" <<'PY' || t_fail "journal -u fetchd: $(cat "$T/j")"
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
for e in d:
    assert e["_SYSTEMD_UNIT"] == "fetchd.service", e
    assert e["FETCHD_RUN"] == "1" and e["CODE_FILE"], e
(f,) = [e for e in d if e.get("MESSAGE_ID") == "1d5b7f9a2c4e44d6e8f0a2b4c6d8e0f3"]
assert f["PRIORITY"] == "4" and f["FETCHD_ERROR"] == "http_500", f
assert f["FETCHD_URL"] == sys.argv[2] + "/svcbad/1?status=500", f
assert f["FETCHD_STATUS"] == "500" and f["FETCHD_ATTEMPT"] == "1", f
PY

# systemctl reload: a new job file is taken.
printf '[job fromreload]\nurl = %s/r/[1-2]\n' "$UP" |
    ns tee /etc/fetchd/jobs.d/r.conf > /dev/null
ns systemctl reload fetchd.service || t_fail "systemctl reload: $(why)"
t_wait_until "ctl status fromreload --json | grep -q '\"state\":\"done\"'" 5 ||
    t_fail "job of the reloaded jobs-dir: $(why)"
jwait "len(d) >= 1" MESSAGE_ID=a7cf404323704675b2bae2c2574ec2a9 ||
    t_fail "no reload event"
t_assert_eq active "$(prop ActiveState)" "after reload"

# The watchdog restarts a stopped daemon.  (No core file: LimitCORE=0.)
printf '[Service]\nWatchdogSec=2s\nLimitCORE=0\n' \
    > "$D/units/fetchd.service.d/watchdog.conf"
ns systemctl daemon-reload
ns systemctl restart fetchd.service || t_fail "restart: $(why)"
old=$(prop MainPID)
t_assert_eq 2s "$(prop WatchdogUSec)" "WatchdogUSec"
sleep 2.5			# pings keep it alive past WatchdogSec
t_assert_eq "$old" "$(prop MainPID)" "restarted while healthy"
ns kill -STOP "$old"
t_wait_until "[ \"\$(prop MainPID)\" != '$old' ] && [ \"\$(prop MainPID)\" != 0 ] &&
    [ \"\$(prop ActiveState)\" = active ]" 10 ||
    t_fail "watchdog did not restart the stopped daemon: $(why)"
[ "$(prop NRestarts)" -ge 1 ] || t_fail "NRestarts $(prop NRestarts)"
ns journalctl --no-pager -u fetchd.service > "$T/wd"
grep -q "Watchdog timeout" "$T/wd" || t_fail "no watchdog timeout logged"
ctl ping > /dev/null || t_fail "not answering after the restart"

# systemctl stop: a clean exit.
ns systemctl stop fetchd.service
t_assert_eq inactive "$(prop ActiveState)" "after stop"
t_assert_eq success "$(prop Result)" "Result after stop"
t_assert_eq 0 "$(prop ExecMainStatus)" "exit status"
jwait "len(d) >= 1" MESSAGE_ID=8651a44824604f31ab6239fbf2ea138f ||
    t_fail "no 'stopped' event"

# fetchd.socket starts the service on the first connection.
ns rm -f "$SOCK"
ns systemctl start fetchd.socket || t_fail "start fetchd.socket"
t_assert_eq inactive "$(prop ActiveState)" "service before a connection"
t_assert_eq "660 fetchd" "$(ns stat -c '%a %G' "$SOCK")" "socket mode/group"
ctl ping > /dev/null || t_fail "ping through fetchd.socket: $(why)"
t_assert_eq active "$(prop ActiveState)" "service after a connection"
ctl submit "$T/svc.conf" > /dev/null || t_fail "submit through fetchd.socket"
ns systemctl stop fetchd.service
t_assert_eq success "$(prop Result)" "Result after stop (socket)"
ns test -S "$SOCK" || t_fail "fetchd removed the socket of fetchd.socket"
ctl ping > /dev/null || t_fail "fetchd.socket did not start it again"
ns systemctl stop fetchd.socket fetchd.service
t_pass
