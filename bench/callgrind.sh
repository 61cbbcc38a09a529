#!/bin/bash
# bench/callgrind.sh: instructions per URL of fetchd and of the floor for the
# same work (the b50 shape by default), counted by valgrind's callgrind.
# Instruction counts are stable on a noisy, shared machine; wall time is not.
#
#   bench/callgrind.sh [--build DIR] [-n N] [-c C] [-o MASK] [--req]
#                      [--out DIR] [--job LINE]... [--only fetchd|floor]
#
# fetchd (from DIR, default the build of the source tree) is started under
# callgrind with a private socket and state directory; one `fetchctl submit
# --wait` of `url = $NGX/json/[0-N-1]` at concurrency = per-host = C (plus
# any --job lines, e.g. --job 'compressed = no'); then SIGTERM.  The floor
# runs under callgrind with `-1 -c C -g $NGX/json/ -n N [-o MASK]`; --req
# adds `-R fetchd/VERSION`, the floor sending fetchd's request.  Counts
# include start-up and shutdown.  The callgrind files are kept in --out
# (default: a temp dir, printed) for callgrind_annotate.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=$REPO N=5000 C=50 MASK= OUTDIR= ONLY= JOBLINES=() REQ=
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	-n) N=$2; shift ;;
	-c) C=$2; shift ;;
	-o) MASK=$2; shift ;;
	--req) REQ=1 ;;
	--out) OUTDIR=$2; shift ;;
	--job) JOBLINES+=("$2"); shift ;;
	--only) ONLY=$2; shift ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
BUILD=$(cd "$BUILD" && pwd) || exit 2
command -v valgrind >/dev/null || { echo "callgrind.sh: no valgrind" >&2; exit 77; }

export top_srcdir=$REPO top_builddir=$BUILD
# shellcheck source=../tests/lib.sh
. "$REPO/tests/lib.sh"
t_init callgrind
[ -n "$OUTDIR" ] || OUTDIR=$(mktemp -d /tmp/fetchd-callgrind.XXXXXX)
mkdir -p "$OUTDIR"
ulimit -n 65536 2>/dev/null
T_NGX_ACCESS_LOG=0 t_nginx

say() { printf 'callgrind: %s\n' "$*" >&2; }
total_ir() { callgrind_annotate "$1" 2>/dev/null |
    sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,; }
report() {	# WHAT FILE
	local ir
	ir=$(total_ir "$2")
	awk -v w="$1" -v ir="$ir" -v n="$N" 'BEGIN {
	    printf "%-8s %12.1f M instructions  %7.1f k per URL\n", w,
	    ir / 1e6, ir / n / 1e3 }'
	echo "$ir" >"$2.total"
}

if [ "$ONLY" != floor ]; then
	DCONF=$T/fetchd.conf
	printf '[daemon]\nmax-connections = 1000\nlog-level = warning\n' \
	    >"$DCONF"
	JOB=$T/job.conf
	{
		echo "[job bench]"
		echo "url = $NGX/json/[0-$((N - 1))]"
		echo "concurrency = $C"
		echo "per-host = $C"
		for l in "${JOBLINES[@]}"; do echo "$l"; done
	} >"$JOB"
	FETCHD_SOCKET=$T/ctl.sock
	mkdir -p "$T/state"
	valgrind -q --tool=callgrind --callgrind-out-file="$OUTDIR/fetchd.cg" \
	    "$BUILD/daemon/fetchd" --socket "$FETCHD_SOCKET" \
	    --state-dir "$T/state" -c "$DCONF" >>"$T/fetchd.log" 2>&1 &
	FETCHD_PID=$!
	t_track "$FETCHD_PID" fetchd
	t_wait_until "! t_alive $FETCHD_PID ||
	    '$FETCHCTL' -s '$FETCHD_SOCKET' ping" 60 ||
	    t_fail "fetchd (callgrind) does not answer ping"
	out=$("$FETCHCTL" -s "$FETCHD_SOCKET" --json submit "$JOB" --wait 2>&1)
	ok=$(grep -o '"ok":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)
	[ "${ok:-0}" = "$N" ] || { say "fetchd: ${ok:-0} of $N ok"; echo "$out" | tail -3 >&2; }
	t_stop "$FETCHD_PID" 0
	report fetchd "$OUTDIR/fetchd.cg"
fi
if [ "$ONLY" != fetchd ]; then
	FLOOR=$OUTDIR/floor
	cc -O2 -Wall -o "$FLOOR" "$HERE/floor.c" -lev -lcurl ||
	    t_fail "cannot build the floor"
	valgrind -q --tool=callgrind --callgrind-out-file="$OUTDIR/floor.cg" \
	    "$FLOOR" -1 -c "$C" ${MASK:+-o "$MASK"} \
	    ${REQ:+-R "fetchd/$("$BUILD/daemon/fetchd" --version | cut -d' ' -f2)"} \
	    -g "$NGX/json/" -n "$N" \
	    >"$T/floor.out" 2>&1 || { cat "$T/floor.out" >&2; t_fail "floor failed"; }
	grep -q "^floor: $N ok" "$T/floor.out" || cat "$T/floor.out" >&2
	report "floor${MASK:+ -o $MASK}${REQ:+ -R}" "$OUTDIR/floor.cg"
fi
if [ -z "$ONLY" ]; then
	awk -v a="$(cat "$OUTDIR/fetchd.cg.total")" \
	    -v b="$(cat "$OUTDIR/floor.cg.total")" \
	    'BEGIN { printf "fetchd / floor: %.2f\n", a / b }'
fi
say "callgrind files in $OUTDIR (callgrind_annotate --inclusive=yes FILE)"
