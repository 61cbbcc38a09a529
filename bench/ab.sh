#!/bin/bash
# bench/ab.sh: fetchd builds side by side with the floor, alternating, on
# the b shape (N URLs from nginx /json/, HTTP/1.1 keep-alive), for before
# and after comparisons of one change.  Lighter than run.sh: no peers.
#
#   bench/ab.sh [-n N] [-c C] [-r RUNS] [-t THREADS] BUILD...
#
# -t sets the daemon's fetch-threads (default: its default, auto).  With
# more than one fetch thread the rounds also run floor-req-P<n>: floor-req
# split over as many processes (floor -P), the floor on as many cores.
# One fetchd per build (private socket and state directory) runs
# `fetchctl submit --wait` of `url = $NGX/json/[0-N-1]`, concurrency =
# per-host = C; the floor runs `-1 -c C -g $NGX/json/ -n N`, and again as
# floor-req with `-R fetchd/VERSION` (the request fetchd sends, byte for
# byte: its User-Agent and Accept-Encoding lines).  Prints each run, then
# the medians of wall seconds (nanosecond clock around each run) and CPU
# seconds: of the daemon the run time of its threads from
# /proc/PID/task/*/schedstat (nanoseconds), of the floors the children's
# user+sys from the shell's `times` (milliseconds).  time(1) and
# /proc/PID/stat count in 10 ms: 3-4 % of a 0.3 s run.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
N=10000 C=50 RUNS=5 THREADS=
while getopts n:c:r:t: o; do
	case $o in
	n) N=$OPTARG ;;
	c) C=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,12p' "$0"; exit 2; }

export top_srcdir=$REPO top_builddir=$(cd "$1" && pwd)
# shellcheck source=../tests/lib.sh
. "$REPO/tests/lib.sh"
t_init ab
ulimit -n 65536 2>/dev/null
T_NGX_ACCESS_LOG=0 t_nginx
cc -O2 -Wall -o "$T/floor" "$HERE/floor.c" -lev -lcurl ||
    t_fail "cannot build the floor"
printf '[daemon]\nmax-connections = 1000\nlog-level = warning\n' >"$T/d.conf"
[ -z "$THREADS" ] || echo "fetch-threads = $THREADS" >>"$T/d.conf"
printf '[job bench]\nurl = %s/json/[0-%d]\nconcurrency = %d\nper-host = %d\n' \
    "$NGX" $((N - 1)) "$C" "$C" >"$T/job.conf"

P=${THREADS:-$(nproc)}
[ "$P" -gt 4 ] && [ -z "$THREADS" ] && P=4
FLOORS="floor floor-req"
[ "$P" -gt 1 ] && FLOORS="$FLOORS floor-req-P$P"
AGENT=fetchd/$("$top_builddir/daemon/fetchd" --version | cut -d' ' -f2)

cpu()	# seconds run by PID's threads (the daemon's are long-lived)
{
	cat /proc/"$1"/task/*/schedstat 2>/dev/null |
	    awk '{ ns += $1 } END { printf "%.4f", ns / 1e9 }'
}

secs()	# bash `times` format 0m1.234s -> 1.234
{
	awk -v t="$1" 'BEGIN { split(t, a, "m"); sub("s", "", a[2]);
	    printf "%.3f", a[1] * 60 + a[2] }'
}

BUILDS=() PIDS=() NAMES=()
i=0
for b in "$@"; do
	b=$(cd "$b" && pwd)
	mkdir -p "$T/s$i"
	"$b/daemon/fetchd" --socket "$T/s$i/ctl.sock" --state-dir "$T/s$i" \
	    -c "$T/d.conf" >>"$T/fetchd$i.log" 2>&1 &
	PIDS+=($!)
	t_track $! "fetchd $b"
	t_wait_until "'$b/client/fetchctl' -s '$T/s$i/ctl.sock' ping" 10 ||
	    t_fail "fetchd of $b does not answer"
	BUILDS+=("$b")
	NAMES+=("$i:$(basename "$b")")
	i=$((i + 1))
done

: >"$T/rows"
for r in $(seq "$RUNS"); do
	for f in $FLOORS; do
		req=()
		case $f in
		floor-req) req=(-R "$AGENT") ;;
		floor-req-P*) req=(-R "$AGENT" -P "$P") ;;
		esac
		t0=$(date +%s%N)
		( "$T/floor" -1 -c "$C" "${req[@]}" -g "$NGX/json/" \
		    -n "$N" >/dev/null; times ) >"$T/ft"
		t1=$(date +%s%N)
		read -r u s < <(tail -1 "$T/ft")
		echo "$f $(awk -v a="$t0" -v b="$t1" \
		    'BEGIN { printf "%.4f", (b - a) / 1e9 }') $(awk \
		    -v u="$(secs "$u")" -v s="$(secs "$s")" \
		    'BEGIN { printf "%.3f", u + s }')" | tee -a "$T/rows"
	done
	for i in "${!BUILDS[@]}"; do
		c0=$(cpu "${PIDS[$i]}")
		t0=$(date +%s%N)
		"${BUILDS[$i]}/client/fetchctl" -s "$T/s$i/ctl.sock" --json \
		    submit "$T/job.conf" --wait >"$T/out" 2>&1 ||
		    t_fail "${NAMES[$i]}: $(tail -c 300 "$T/out")"
		t1=$(date +%s%N)
		c1=$(cpu "${PIDS[$i]}")
		rm -rf "$T/s$i/results/bench"
		echo "${NAMES[$i]} $(awk -v a="$t0" -v b="$t1" \
		    'BEGIN { printf "%.4f", (b - a) / 1e9 }') $(awk -v a="$c0" \
		    -v b="$c1" 'BEGIN { printf "%.4f", b - a }')" |
		    tee -a "$T/rows"
	done
done
echo "medians of $RUNS runs, $N URLs, concurrency $C:"
"$T_PYTHON" - "$T/rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu)))
def med(name, k):
    return statistics.median(r[k] for r in rows[name]) or 1e-9
def paired(name, ref, k):
    # ratio within each round (same minute of machine noise), then median
    return statistics.median(a[k] / max(b[k], 1e-9)
                             for a, b in zip(rows[name], rows[ref]))
def spread(name, ref, k):
    # the middle half of the per-round ratios: how far one may trust them
    r = sorted(a[k] / max(b[k], 1e-9) for a, b in zip(rows[name], rows[ref]))
    if len(r) < 4:
        return ""
    q = statistics.quantiles(r, n=4)
    return f"{q[0]:.2f}-{q[2]:.2f}"
print("  medians; in brackets the median of the per-round ratios, which")
print("  cancels the machine's slow drift better than a ratio of medians")
refs = [n for n in rows if n.startswith("floor")]
for name in rows:
    out = []
    for k, what in ((0, "wall"), (1, "cpu")):
        out.append(f"{what} {med(name, k):.3f} s (" + ", ".join(
            f"x {ref} {med(name, k) / med(ref, k):.2f} "
            f"[{paired(name, ref, k):.2f}]" for ref in refs) + ")")
    print(f"  {name:16} " + ("\n  " + " " * 17).join(out))
for name in rows:
    if name.startswith("floor"):
        continue
    print(f"  {name}: per-round wall ratios, middle half: " + ", ".join(
        f"x {ref} {spread(name, ref, 0)}" for ref in refs))
PY
for p in "${PIDS[@]}"; do t_stop "$p" 0; done
exit 0
