#!/usr/bin/env python3
"""tests/golden/normalize.py: mask what changes from run to run in
fetchctl's output, so that tests/integration/golden.sh can compare it
with the files in tests/golden/.

usage: normalize.py text|json|json-live [NAME=VALUE ...] < output > normalized

Each NAME=VALUE replaces the literal VALUE with @NAME@ (the test's
directory, the upstreams' base URLs), longest VALUE first.  Then:

text (tables, detail views, timelines, messages):
  - wall-clock times "2026-11-24 19:45:17" -> @TIME@, times of day
    "19:45:17.232" or "19:45:17" -> @CLOCK@;
  - durations "850ms", "4.2s", "2m05s", "1h02m" -> @DUR@, rates
    "48.1/s" -> @RATE@, other decimal numbers "0.1" -> @N@ (latencies and
    phase times; counts are integers and stay);
  - "pid 1234" -> pid @PID@, versions "0.1.0" -> @VER@ and the library
    versions of `version`;
  - metrics: the values of the latency histogram (_bucket, _sum) -> @N@;
  - the lines of the "slowest" block of a detail view are sorted (their
    order is by latency);
  - progress lines of runs going ("items  62%  124/200  48.1/s ...";
    not those of runs finished or paused) are dropped: how many a watch
    or --wait prints, and what they say, depends on timing;
  - runs of two or more spaces become two: column widths follow the
    masked values, so alignment is not compared (cli.sh checks widths).

json (one reply object per line, as fetchctl --json prints them):
  - lines are parsed; members whose value is a measurement or a time
    (VOLATILE below) become "@N@", whatever their number; key order and
    every other value are kept, so the structure and the stable values are
    compared;
  - strings are masked as text lines are (durations in "why", paths);
    the "text" of metrics as metrics text;
  - "slowest" arrays are sorted by URL;
  - watch "progress" events are dropped (how many come depends on
    timing); a line that is not JSON is kept as text.

json-live (watch and --wait with --json): as json, and in the snapshots
of runs still running the counters that move (LIVE below) become "@N@".
"""
import json
import re
import sys

VOLATILE = {
    "elapsed_ms", "rate", "eta_ms", "started", "ended", "ms", "queue_ms",
    "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms", "start",
    "delay_ms", "p50", "p95", "p99", "pid", "next_run", "until", "version",
    "curl", "libev", "json_c",
}

LIVE = {
    "done", "ok", "failed", "in_flight", "queued", "retrying", "attempts",
    "retries", "bytes", "slowest",
}

SUBS = []


def literal(s):
    for name, value in SUBS:
        s = s.replace(value, "@%s@" % name)
    return s


RULES = [
    (re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b"), "@TIME@"),
    (re.compile(r"\b\d\d:\d\d:\d\d\.\d{3}\b"), "@CLOCK@"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "@CLOCK@"),
    (re.compile(r"\b\d+\.\d+/s\b"), "@RATE@"),
    (re.compile(r"\b\d+h\d\dm\b"), "@DUR@"),
    (re.compile(r"\b\d+m\d\ds\b"), "@DUR@"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s)\b"), "@DUR@"),
    (re.compile(r"\bpid \d+\b"), "pid @PID@"),
    (re.compile(r"\b\d+\.\d+\.\d+\b"), "@VER@"),
    (re.compile(r"\b(curl|libev|json-c) [0-9][^,)]*"), r"\1 @VER@"),
    (re.compile(r"(?<![\w@])\d+\.\d+\b"), "@N@"),
    (re.compile(r'"start":\d+'), '"start":@N@'),  # epoch ms in raw records
]
METRIC_VOLATILE = re.compile(
    r"^(fetchd_latency_seconds_(?:bucket|sum)(?:\{[^}]*\})?) \S+$")


def mask_text_line(line):
    m = METRIC_VOLATILE.match(line)
    if m:
        return m.group(1) + " @N@"
    line = literal(line)
    for rx, rep in RULES:
        line = rx.sub(rep, line)
    return line


def sort_slowest(lines):
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("  slowest "):
            out.append(line)
            i += 1
            continue
        block = [line[len("  slowest "):].strip()]
        i += 1
        while i < len(lines) and lines[i].startswith("   ") and \
                not lines[i].strip().startswith(("results", "failures")):
            block.append(lines[i].strip())
            i += 1
        block.sort()
        out.append("  slowest " + block[0])
        out.extend("          " + b for b in block[1:])
    return out


PROGRESS = re.compile(r"^\S+ +(?:\d+|\?)%  \d+/(?:\d+|\?)  @RATE@")


def norm_text(text):
    lines = [mask_text_line(l) for l in text.split("\n")]
    lines = [l for l in lines if not PROGRESS.match(l)]
    lines = sort_slowest(lines)
    return "\n".join(re.sub(r"(?<=\S)  +", "  ", l.rstrip())
                     for l in lines)


def norm_value(key, v, live=False):
    if key in VOLATILE and not isinstance(v, (dict, list)):
        return "@N@"
    if isinstance(v, dict):
        going = live and v.get("state") == "running"
        return {literal(k): "@N@" if going and k in LIVE else
                norm_value(k, x, live) for k, x in v.items()}
    if isinstance(v, list):
        v = [norm_value(None, x, live) for x in v]
        if key == "slowest":
            v.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return v
    if isinstance(v, str):
        if key == "text":
            return "\n".join(mask_text_line(l) for l in v.split("\n"))
        return mask_text_line(v)
    return v


def norm_json(text, live):
    out = []
    for line in text.split("\n"):
        try:
            o = json.loads(line)
        except ValueError:
            out.append(mask_text_line(line))
            continue
        if isinstance(o, dict) and o.get("event") == "progress":
            continue
        out.append(json.dumps(norm_value(None, o, live),
                              ensure_ascii=False))
    return "\n".join(out)


def main():
    mode = sys.argv[1]
    for arg in sys.argv[2:]:
        name, _, value = arg.partition("=")
        if value:
            SUBS.append((name, value))
    SUBS.sort(key=lambda nv: -len(nv[1]))
    text = sys.stdin.read()
    if mode in ("json", "json-live"):
        sys.stdout.write(norm_json(text, mode == "json-live"))
    else:
        sys.stdout.write(norm_text(text))


if __name__ == "__main__":
    main()
