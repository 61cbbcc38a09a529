#!/usr/bin/env bash
# The control socket: created 0660; a second fetchd on a live socket
# refuses to start and leaves the first alone; after SIGKILL the stale
# socket is replaced by the next start; SIGTERM removes it.
. "$(dirname "$0")/../lib.sh"
t_init socket
t_fetchd
mode=$(stat -c %a "$FETCHD_SOCKET")
[ "$mode" = 660 ] || t_fail "socket mode $mode, expected 660"
"$FETCHD" --socket "$FETCHD_SOCKET" --state-dir "$T/state2" > "$T/second.log" 2>&1
rc=$?
[ $rc -ne 0 ] || t_fail "a second fetchd started on a live socket"
grep -qi "already\|another" "$T/second.log" || t_fail "second fetchd message: $(cat "$T/second.log")"
t_ctl ping > /dev/null || t_fail "first daemon disturbed"
kill -9 "$FETCHD_PID"; wait "$FETCHD_PID" 2>/dev/null
[ -S "$FETCHD_SOCKET" ] || t_fail "expected a stale socket after SIGKILL"
t_fetchd
t_ctl ping > /dev/null || t_fail "restart on a stale socket"
t_stop_fetchd
[ -e "$FETCHD_SOCKET" ] && t_fail "socket left behind after SIGTERM"
# fetchctl's message when nothing listens
"$FETCHCTL" -s "$T/none.sock" ping > "$T/out" 2>&1
[ $? -eq 2 ] || t_fail "ping without a daemon should exit 2"
grep -q "not running" "$T/out" || t_fail "message: $(cat "$T/out")"
t_pass
