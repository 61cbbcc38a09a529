#!/usr/bin/env bash
# Hostile control clients (issue 7): a request line over 1 MiB, invalid
# UTF-8, JSON nested 100,000 deep, 1000 connections opened and left idle
# (max-clients is 64: the longest-idle session makes room for a new one;
# the daemon must not spin), 64 watchers (none idle: a new client waits
# until one leaves), and idle connections when the daemon runs out of file
# descriptors (EMFILE).  Through the first three a 3000-URL run goes on:
# it must complete, all successes; `fetchctl status` must keep answering,
# the daemon's RSS must stay bounded and its CPU time must not run away.
. "$(dirname "$0")/../lib.sh"
t_init hostile_client
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 1100 ] ||
    t_skip "the hard limit on open files ($hard) is under 1100"
command -v prlimit > /dev/null || t_skip "prlimit (util-linux) is not installed"
t_upstream
t_fetchd

cat > "$T/hc.py" <<'PY'
import json, os, resource, socket, sys, time

path = os.environ["FETCHD_SOCKET"]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s

class Lines:
    def __init__(self, s):
        self.s, self.buf = s, b""
    def next(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("daemon closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode("utf-8"))

def expect_error(r, code, *words):
    assert r.get("ok") is False and r["error"]["code"] == code, (code, r)
    for w in words:
        assert w.lower() in r["error"]["message"].lower(), (w, r)

def abuse():
    s = conn()
    rd = Lines(s)
    # Over 1 MiB: too_large, the rest of the line is dropped, the
    # session goes on (docs/protocol.md).
    big = b'{"v":1,"id":1,"cmd":"ping","pad":"' + b"x" * (1536 * 1024) + b'"}\n'
    s.sendall(big + b'{"v":1,"id":2,"cmd":"ping"}\n')
    expect_error(rd.next(), "too_large", "larger than")
    r = rd.next()
    assert r["id"] == 2 and r.get("pong") is True, r
    # Invalid UTF-8 in a string, and in cmd: bad_request, nothing else.
    s.sendall(b'{"v":1,"id":3,"cmd":"status","job":"\xff\xfe"}\n')
    expect_error(rd.next(), "bad_request", "utf")
    s.sendall(b'{"v":1,"id":4,"cmd":"\xc0\xafping"}\n')	# overlong
    expect_error(rd.next(), "bad_request", "utf")
    s.sendall(b'{"v":1,"id":7,"cmd":"status","job":"\xed\xa0\x80"}\n')
    expect_error(rd.next(), "bad_request", "utf")
    # Escaped, a lone surrogate is valid JSON: the reply must stay UTF-8.
    s.sendall(b'{"v":1,"id":8,"cmd":"status","job":"\\ud800x"}\n')
    expect_error(rd.next(), "no_such_job")
    # Deep nesting: json-c's depth limit, a clear error, no crash.
    deep = b"[" * 100000 + b"]" * 100000
    s.sendall(b'{"v":1,"id":5,"cmd":"ping","x":' + deep + b"}\n")
    expect_error(rd.next(), "bad_request", "nesting too deep")
    s.sendall(b'{"v":1,"id":6,"cmd":"ping"}\n')
    r = rd.next()
    assert r["id"] == 6 and r.get("pong") is True, r
    s.close()
    # An oversized line that never ends, then a hang-up.
    s = conn()
    s.sendall(b'{"cmd":"' + b"y" * (2 * 1024 * 1024))
    s.close()
    print("abuse: ok")

def idle(n, hold):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks, t0 = [], time.monotonic()
    pending = None
    while len(socks) < n:
        if time.monotonic() - t0 > 120:
            raise SystemExit(f"only {len(socks)} of {n} connected in 120 s")
        if pending is None:
            pending = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            pending.setblocking(False)
        try:
            pending.connect(path)
        except (BlockingIOError, InterruptedError):
            time.sleep(0.01)	# the backlog is full: accepts wait
            continue
        socks.append(pending)
        pending = None
    print(f"idle: {n} connections open after {time.monotonic() - t0:.1f}s",
          flush=True)
    open(os.environ["T"] + "/idle.ready", "w").close()
    # Left idle.  Count those the daemon closed (EOF) as time goes.
    end = time.monotonic() + hold
    while time.monotonic() < end and not os.path.exists(
            os.environ["T"] + "/idle.stop"):
        time.sleep(0.2)
    closed = 0
    for s in socks:
        try:
            closed += s.recv(1, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
    print(f"idle: {closed} of {n} closed by the daemon", flush=True)
    with open(os.environ["T"] + "/idle.closed", "w") as f:
        f.write(f"{closed}\n")

def busy(n):
    T = os.environ["T"]
    socks = []
    for i in range(n):
        s = conn()
        s.sendall(b'{"v":1,"id":1,"cmd":"watch"}\n')
        r = Lines(s).next()
        assert r.get("ok") is True, r
        socks.append(s)
    open(T + "/busy.ready", "w").close()
    while not os.path.exists(T + "/busy.release"):
        time.sleep(0.1)
    socks.pop().close()
    while not os.path.exists(T + "/busy.stop"):
        time.sleep(0.1)
    print(f"busy: {n} watchers held", flush=True)

if sys.argv[1] == "abuse":
    abuse()
elif sys.argv[1] == "busy":
    busy(int(sys.argv[2]))
else:
    idle(int(sys.argv[2]), float(sys.argv[3]))
PY
export T FETCHD_SOCKET

cpu_ticks() {	# utime + stime of the daemon, in clock ticks
	awk '{ print $14 + $15 }' "/proc/$FETCHD_PID/stat"
}
hz=$(getconf CLK_TCK)
rss_max=0
rss_sample() {
	local r
	r=$(t_rss_kb "$FETCHD_PID")
	[ "${r:-0}" -gt "$rss_max" ] && rss_max=$r
	return 0
}

# A run goes on through everything below.
printf '[job bg]\nurl = %s/bg/[1-3000]?delay=100\nconcurrency = 20\nper-host = 20\nretries = 0\n' \
    "$UP" > "$T/bg.conf"
t_ctl submit "$T/bg.conf" > /dev/null || t_fail "submit bg"

# 1. Malformed and oversized requests.
"$T_PYTHON" "$T/hc.py" abuse > "$T/abuse.out" 2>&1 ||
    t_fail "protocol abuse: $(cat "$T/abuse.out")"
t_alive "$FETCHD_PID" || t_fail "fetchd died"
t_ctl ping > /dev/null || t_fail "ping after the abuse"
rss_sample

# 2. 1000 connections opened and left idle.
"$T_PYTHON" "$T/hc.py" idle 1000 300 > "$T/idle.out" 2>&1 &
idle_pid=$!
t_track "$idle_pid" idle-clients
t_wait_until "[ -e '$T/idle.ready' ] || ! t_alive $idle_pid" 150 ||
    t_fail "1000 connections: $(cat "$T/idle.out")"
[ -e "$T/idle.ready" ] || t_fail "idle clients: $(cat "$T/idle.out")"
rss_sample
# A separate client still gets answers (it may wait in the backlog
# while idle sessions are closed to make room).
for n in 1 2 3; do
	start=$(date +%s%N)
	timeout 60 "$FETCHCTL" -s "$FETCHD_SOCKET" --json status bg \
	    > "$T/st.$n" 2>&1 || t_fail "status beside 1000 idle clients: $(cat "$T/st.$n")"
	echo "hostile_client: status $n answered in" \
	    "$(( ($(date +%s%N) - start) / 1000000 )) ms beside 1000 idle connections"
	rss_sample
done
# Not spinning: little CPU while the idle connections sit there.
c0=$(cpu_ticks); sleep 3; c1=$(cpu_ticks)
echo "hostile_client: $((c1 - c0)) CPU ticks ($hz/s) in 3 s beside 1000 idle connections"
[ $((c1 - c0)) -lt $((hz * 3 / 2)) ] || t_fail "daemon busy: $((c1 - c0)) ticks in 3 s"
nfd=$(ls "/proc/$FETCHD_PID/fd" | wc -l)
echo "hostile_client: $nfd fds open in the daemon"
[ "$nfd" -lt 200 ] || t_fail "$nfd fds open: more than max-clients sessions?"
t_wait_until "grep -q 'closed [0-9]* idle one(s) to make room' '$T/fetchd.log'" 10 ||
    t_fail "no notice of idle sessions closed"
touch "$T/idle.stop"
wait "$idle_pid" || t_fail "idle clients: $(cat "$T/idle.out")"
t_untrack "$idle_pid"
closed=$(cat "$T/idle.closed")
[ "$closed" -ge 900 ] || t_fail "only $closed of 1000 idle connections were closed"
rm -f "$T/idle.ready" "$T/idle.stop" "$T/idle.closed"

# The run completed with every result, all of them successes.
t_wait_until "t_ctl --json status bg | grep -q '\"state\":\"done\"'" 120 ||
    t_fail "run bg did not finish (done): $(t_ctl status bg 2>&1)"
lines=$(wc -l < "$T/state/results/bg/1.ndjson")
t_assert_eq 3000 "$lines" "result lines of run bg"

# 3. 64 watchers: none is idle, so a 65th client waits (no error, no
# spin) and gets in as soon as one of them leaves.
"$T_PYTHON" "$T/hc.py" busy 64 > "$T/busy.out" 2>&1 &
busy_pid=$!
t_track "$busy_pid" watchers
t_wait_until "[ -e '$T/busy.ready' ] || ! t_alive $busy_pid" 60 ||
    t_fail "64 watchers: $(cat "$T/busy.out")"
[ -e "$T/busy.ready" ] || t_fail "64 watchers: $(cat "$T/busy.out")"
"$FETCHCTL" -s "$FETCHD_SOCKET" ping > "$T/wait.out" 2>&1 &
wait_pid=$!
t_track "$wait_pid" waiting-ping
c0=$(cpu_ticks); sleep 2; c1=$(cpu_ticks)
t_alive "$wait_pid" || t_fail "a 65th client beside 64 watchers did not wait: $(cat "$T/wait.out")"
[ $((c1 - c0)) -lt $hz ] || t_fail "daemon busy while a client waits: $((c1 - c0)) ticks in 2 s"
grep -q 'none idle; new connections wait' "$T/fetchd.log" ||
    t_fail "no notice that new connections wait"
touch "$T/busy.release"
t_wait_until "! t_alive $wait_pid" 30 || t_fail "the waiting client never got in"
wait "$wait_pid" || t_fail "the waiting ping failed: $(cat "$T/wait.out")"
t_untrack "$wait_pid"
echo "hostile_client: a 65th client waited beside 64 watchers, then got in"
touch "$T/busy.stop"
wait "$busy_pid" || t_fail "watchers: $(cat "$T/busy.out")"
t_untrack "$busy_pid"

# 4. Out of file descriptors (no run now: transfers would fail for want
# of sockets): accepting pauses, or makes room, and never spins.
nfd=$(ls "/proc/$FETCHD_PID/fd" | wc -l)
prlimit --pid "$FETCHD_PID" --nofile=$((nfd + 30)): ||
    t_fail "prlimit on the daemon"
"$T_PYTHON" "$T/hc.py" idle 300 300 > "$T/emfile.out" 2>&1 &
idle_pid=$!
t_track "$idle_pid" emfile-clients
t_wait_until "[ -e '$T/idle.ready' ] || ! t_alive $idle_pid" 150 ||
    t_fail "300 connections: $(cat "$T/emfile.out")"
[ -e "$T/idle.ready" ] || t_fail "emfile clients: $(cat "$T/emfile.out")"
t_wait_until "grep -Eq 'out of file descriptors|Too many open files' '$T/fetchd.log'" 10 ||
    t_fail "the daemon never ran out of file descriptors: the test proves nothing"
c0=$(cpu_ticks); sleep 3; c1=$(cpu_ticks)
echo "hostile_client: $((c1 - c0)) CPU ticks in 3 s out of file descriptors"
[ $((c1 - c0)) -lt $((hz * 3 / 2)) ] || t_fail "daemon busy at EMFILE: $((c1 - c0)) ticks in 3 s"
timeout 60 "$FETCHCTL" -s "$FETCHD_SOCKET" ping > "$T/ping.out" 2>&1 ||
    t_fail "ping at EMFILE: $(cat "$T/ping.out")"
touch "$T/idle.stop"
wait "$idle_pid" || t_fail "emfile clients: $(cat "$T/emfile.out")"
t_untrack "$idle_pid"
prlimit --pid "$FETCHD_PID" --nofile=4096: || t_fail "prlimit back"
rss_sample

echo "hostile_client: RSS at most ${rss_max} kB sampled"
t_assert_peak_rss hostile_client "$FETCHD_PID" 65536
t_stop_fetchd
t_pass
