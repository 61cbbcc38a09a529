#!/usr/bin/env bash
# The service notification protocol, against a NOTIFY_SOCKET listener of
# our own (a datagram socket, as systemd's): READY=1 once the socket
# listens, STATUS= with the one-line summary, WATCHDOG=1 at half of
# WATCHDOG_USEC, RELOADING=1 + MONOTONIC_USEC= then READY=1 around a
# SIGHUP reload, STOPPING=1 + EXTEND_TIMEOUT_USEC= (drain-timeout + 5 s)
# on SIGTERM; in that order.
. "$(dirname "$0")/../lib.sh"
t_init sd_notify
t_upstream

# One line per datagram, its lines joined by " | ", with the monotonic
# time of arrival first (to check MONOTONIC_USEC).
"$T_PYTHON" -u -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[2], "a") as out:
    while True:
        m = s.recv(4096).decode()
        out.write("%d %s\n" % (time.monotonic_ns() // 1000,
            " | ".join(m.split("\n"))))
        out.flush()
' "$T/notify.sock" "$T/notify.out" 2>>"$T/listener.log" &
t_track $! "notify listener"
t_wait_until "[ -e '$T/notify.sock.ready' ]" 5 || t_fail "listener"

export NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000
mkdir -p "$T/jobs.d"
printf '[daemon]\njobs-dir = %s/jobs.d\ndrain-timeout = 3s\n' "$T" > "$T/d.conf"
cat > "$T/jobs.d/n.conf" <<CONF
[job n]
url = $UP/n/[1-4]
CONF
t_fetchd -c "$T/d.conf"
t_wait_until "grep -q 'STATUS=.*4/4 done\|STATUS=0 jobs running' '$T/notify.out'" 5 ||
    t_fail "no STATUS= line: $(cat "$T/notify.out")"
t_wait_until "grep -q WATCHDOG=1 '$T/notify.out'" 2 || t_fail "no WATCHDOG=1"
kill -HUP "$FETCHD_PID"
t_wait_until "grep -q 'RELOADING=1' '$T/notify.out' &&
    [ \$(grep -c READY=1 '$T/notify.out') = 2 ]" 5 ||
    t_fail "no RELOADING=1 then READY=1: $(cat "$T/notify.out")"
t_stop_fetchd
t_wait_until "grep -q STOPPING=1 '$T/notify.out'" 2 || t_fail "no STOPPING=1"

"$T_PYTHON" - "$T/notify.out" <<'PY' || t_fail "notify order: $(cat "$T/notify.out")"
import sys
lines = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1])]
msgs = [m for _, m in lines]
def first(prefix, start=0):
    for i in range(start, len(msgs)):
        if msgs[i].startswith(prefix):
            return i
    raise AssertionError("no %s after #%d: %r" % (prefix, start, msgs))
ready = first("READY=1")
assert ready == 0, ("READY=1 comes first", msgs)
status = first("STATUS=", ready)
assert "running" in msgs[status] and "done" in msgs[status], msgs[status]
first("WATCHDOG=1", ready)
rel = first("RELOADING=1", ready)
fields = dict(kv.split("=", 1) for kv in msgs[rel].split(" | "))
mono = int(fields["MONOTONIC_USEC"])
arrived = int(lines[rel][0])
assert abs(arrived - mono) < 2000000, (arrived, mono)
ready2 = first("READY=1", rel + 1)
stop = first("STOPPING=1", ready2 + 1)
fields = dict(kv.split("=", 1) for kv in msgs[stop].split(" | "))
assert fields["EXTEND_TIMEOUT_USEC"] == "8000000", fields
assert not any(m.startswith("READY=1") for m in msgs[stop:]), msgs
# WATCHDOG=1 about every 200 ms while running.
wd = [int(t) for t, m in lines if m == "WATCHDOG=1"]
assert len(wd) >= 3, wd
gaps = [b - a for a, b in zip(wd, wd[1:])]
assert all(100000 < g < 400000 for g in gaps), gaps
PY
t_pass
