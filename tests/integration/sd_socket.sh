#!/usr/bin/env bash
# Socket activation: systemd-socket-activate holds the control socket and
# execs fetchd on the first connection with the socket as fd 3
# (LISTEN_FDS=1, LISTEN_FDNAMES=control); fetchctl works through it, and
# fetchd leaves the socket file, which it did not create, when it exits.
. "$(dirname "$0")/../lib.sh"
t_init sd_socket
command -v systemd-socket-activate >/dev/null ||
    t_skip "systemd-socket-activate is not installed"
t_upstream
FETCHD_SOCKET=$T/ctl.sock
mkdir -p "$T/state"
systemd-socket-activate -l "$FETCHD_SOCKET" --fdname=control \
    "$FETCHD" --socket "$FETCHD_SOCKET" --state-dir "$T/state" \
    >>"$T/fetchd.log" 2>&1 &
FETCHD_PID=$!
t_track "$FETCHD_PID" "systemd-socket-activate/fetchd"
t_wait_until "[ -S '$FETCHD_SOCKET' ]" 5 || t_fail "no socket"
ino=$(stat -c %i "$FETCHD_SOCKET")
tr '\0' ' ' < "/proc/$FETCHD_PID/cmdline" | grep -q "^systemd-socket-activate " ||
    t_fail "fetchd started before the first connection"
[ -z "$(ls "$T/state")" ] || t_fail "fetchd ran before the first connection"

out=$(t_ctl ping 2>&1) || t_fail "ping through the activated socket: $out"
t_wait_until "tr '\\0' ' ' < /proc/$FETCHD_PID/cmdline | grep -q '^$FETCHD '" 5 ||
    t_fail "fetchd was not exec'd: $(tr '\0' ' ' < "/proc/$FETCHD_PID/cmdline")"
cat > "$T/a.conf" <<CONF
[job a]
url = $UP/a/[1-5]
CONF
t_ctl submit "$T/a.conf" > /dev/null || t_fail "submit"
t_wait_until "t_ctl status a --json | grep -q '\"state\":\"done\"'" 5 ||
    t_fail "job a did not finish"
[ "$(t_ndjson "$T/state/results/a/1.ndjson" 'len(d)')" = 5 ] ||
    t_fail "results of job a"
t_stop_fetchd
[ -S "$FETCHD_SOCKET" ] || t_fail "fetchd removed a socket it did not create"
[ "$(stat -c %i "$FETCHD_SOCKET")" = "$ino" ] || t_fail "socket file replaced"
t_pass
