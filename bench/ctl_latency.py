#!/usr/bin/python3
"""Control-plane latency: time `status` round trips on fetchd's socket.

Each round trip is what `fetchctl status --json` does: connect, send one
request line, read the one reply line, close.  Requests go out every
INTERVAL ms until STOPFILE exists (or MAXSECS pass).  Only samples taken
while the daemon reports at least MININFLIGHT transfers in flight count.

usage: ctl_latency.py SOCKET STOPFILE [INTERVAL_MS] [MININFLIGHT] [MAXSECS]
prints: "status: n=N p50=X ms p99=Y ms max=Z ms (in flight >= K)"
"""
import json
import os
import socket
import sys
import time

REQ = b'{"v":1,"id":1,"cmd":"status"}\n'


def one(path):
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(REQ)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    dt = (time.perf_counter() - t0) * 1000.0
    return dt, json.loads(buf)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    path, stop = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) / 1000.0 if len(sys.argv) > 3 else 0.01
    minfl = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    maxsecs = float(sys.argv[5]) if len(sys.argv) > 5 else 600
    end = time.monotonic() + maxsecs
    samples, seen = [], 0
    while not os.path.exists(stop) and time.monotonic() < end:
        try:
            dt, rep = one(path)
        except OSError:
            time.sleep(interval)
            continue
        seen += 1
        fl = sum(j.get("in_flight", 0) for j in rep.get("jobs", [])
                 if j.get("state") == "running")
        if fl >= minfl:
            samples.append(dt)
        time.sleep(interval)
    if not samples:
        print("status: n=0 (no sample with %d in flight; %d taken)"
              % (minfl, seen))
        return 1
    print("status: n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms "
          "(in flight >= %d)" % (len(samples), pct(samples, 50),
                                 pct(samples, 99), max(samples), minfl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
