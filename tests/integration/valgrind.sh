#!/usr/bin/env bash
# The integration path under valgrind: fetchd runs jobs with successes,
# HTTP errors, retries, text and binary bodies, a cancel, hostile protocol
# input and a results stream, then stops on SIGTERM with no memory errors
# and no leaks (valgrind's exit code says so).  Skipped in sanitizer builds.
. "$(dirname "$0")/../lib.sh"
t_init valgrind
command -v valgrind > /dev/null || t_skip "valgrind is not installed"
ldd "$FETCHD" | grep -Eq 'lib(asan|tsan)' && t_skip "sanitizer build"
t_upstream
FETCHD_SOCKET=$T/ctl.sock
valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --log-file="$T/vg.log" \
    "$FETCHD" --socket "$FETCHD_SOCKET" --state-dir "$T/state" >> "$T/fetchd.log" 2>&1 &
FETCHD_PID=$!
t_track "$FETCHD_PID" fetchd
t_wait_until "'$FETCHCTL' -s '$FETCHD_SOCKET' ping" 30 || t_fail "fetchd under valgrind did not start"
cat > "$T/v.conf" <<CONF
[job v]
url = $UP/ok/[1-30]
url = $UP/text/1?type=text
url = $UP/bin/1?type=binary
url = $UP/err/[1-3]?status=500
url = $UP/flaky/1?fail=1
backoff = 1ms
extract =

[job x]
url = $UP/item/[1-5]
extract = /n
CONF
t_ctl submit "$T/v.conf" --wait > "$T/out" 2>&1; [ $? -eq 1 ] || t_fail "submit: $(cat "$T/out")"
t_ctl results v --ordered > /dev/null || t_fail results
t_ctl failures v > /dev/null || t_fail failures
t_ctl status > /dev/null
printf '[job h]\nurl = %s/hang/[1-3]?hang=1\n' "$UP" > "$T/h.conf"
t_ctl submit "$T/h.conf" > /dev/null || t_fail "submit h"
/usr/bin/python3 - "$FETCHD_SOCKET" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
for raw in (b'junk\n', b'{"v":1,"id":1,"cmd":"nope"}\n', b'{"v":1,"id":2,"cmd":"watch"}\n'):
    s.sendall(raw); f.readline()
s.close()
PY
t_wait_until "t_ctl status h --json | grep -q '\"in_flight\":3'" 20 || t_fail "hang job"
t_ctl cancel h > /dev/null || t_fail cancel
t_stop "$FETCHD_PID" 0 || true
if [ -s "$T/vg.log" ]; then
	cat "$T/vg.log"
	t_fail "valgrind reported errors"
fi
t_pass
