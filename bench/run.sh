#!/bin/bash
# bench/run.sh: fetchd side by side with the floor (bench/floor.c), curl
# --parallel, aiohttp, wget2, aria2c and h2load, on one machine, in one run.
# See bench/README.md.  Everything talks to 127.0.0.1 only; every process is
# started and stopped by PID (tests/lib.sh).
#
#   bench/run.sh [--quick] [--runs N] [--only LIST] [--build DIR] [--out FILE]
#
# It builds the committed HEAD (git archive) into $BENCH_WORK (default
# /tmp/fetchd-bench) unless --build names a build directory, so the numbers
# always name a commit.  --only takes scenario ids: a b50 b500 c d d0 e f.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RUNS=3 RUNS_SET= QUICK=0 ONLY= BUILD= OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=$2 RUNS_SET=1; shift ;;
	--only) ONLY=,$2, ; shift ;;
	--build) BUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ "$RUNS" -ge 1 ] 2>/dev/null || { echo "run.sh: bad --runs" >&2; exit 2; }
CMDLINE="bench/run.sh$([ $QUICK = 1 ] && echo ' --quick')$([ "$RUNS" != 3 ] &&
    echo " --runs $RUNS")$([ -n "$ONLY" ] && echo " --only ${ONLY:1:-1}")"
WORK=${BENCH_WORK:-/tmp/fetchd-bench}
PY=/usr/bin/python3
mkdir -p "$WORK"

say() { printf 'bench: %s\n' "$*" >&2; }
want() { [ -z "$ONLY" ] || [[ $ONLY == *",$1,"* ]]; }
now_ns() { date +%s%N; }

# --- build ------------------------------------------------------------------

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -z "$BUILD" ]; then
	SRC=$WORK/src-$COMMIT
	BUILD=$WORK/build-$COMMIT
	if [ ! -x "$BUILD/daemon/fetchd" ] ||
	    [ ! -x "$BUILD/tests/upstream/upstream" ]; then
		say "building $COMMIT (git archive HEAD) in $BUILD"
		rm -rf "$SRC" "$BUILD"
		mkdir -p "$SRC" "$BUILD"
		git -C "$REPO" archive HEAD | tar -x -C "$SRC" || exit 1
		(cd "$SRC" && ./autogen.sh && cd "$BUILD" &&
		    "$SRC/configure" && make -j2 all tests/upstream/upstream) \
		    >"$WORK/build-$COMMIT.log" 2>&1 ||
		    { say "build failed: $WORK/build-$COMMIT.log"; exit 1; }
	fi
else
	BUILD=$(cd "$BUILD" && pwd)
	SRC=$(sed -n 's/^ac_cs_srcdir=//p;s/^srcdir=//p' \
	    "$BUILD/config.status" 2>/dev/null | head -1 | tr -d "'\"")
	[ -d "$SRC" ] || SRC=$REPO
	COMMIT="$COMMIT (build dir $BUILD, may differ)"
fi
FLOOR=$WORK/floor
cc -O2 -Wall -o "$FLOOR" "$HERE/floor.c" -lev -lcurl ||
    { say "cannot build the floor"; exit 1; }
# floor-req: the floor sending fetchd's default request byte for byte
AGENT=fetchd/$("$BUILD/daemon/fetchd" --version | cut -d' ' -f2)
# floor-P: floor-req split over as many processes as fetchd runs fetch
# threads (fetch-threads = auto: the CPUs, at most 4): the floor on as
# many cores as fetchd uses
NP=$(nproc)
[ "$NP" -gt 4 ] && NP=4

# --- servers (tests/lib.sh) ---------------------------------------------------

export top_srcdir=$SRC top_builddir=$BUILD
# shellcheck source=../tests/lib.sh
. "$SRC/tests/lib.sh"
t_init bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null
ulimit -n 65536 2>/dev/null
T_NGX_ACCESS_LOG=0 t_nginx
[ "$NGX_HAS_ECHO" = 1 ] || say "no nginx echo module: scenario d skipped"
t_upstream -q -k 1000 -a 0
RAW=$T/raw.tsv META=$T/meta.tsv LOG=$T/runs.log
: >"$RAW"
: >"$META"

have() { command -v "$1" >/dev/null 2>&1; }
TOOLS_EXTRA=
have wget2 && TOOLS_EXTRA+=" wget2"
have aria2c && TOOLS_EXTRA+=" aria2c"

# --- capacity of the upstreams --------------------------------------------------

CAP=$T/capacity.txt
h2rate() { sed -n 's/^finished in \([0-9.]*\)s, \([0-9.]*\) req\/s.*/\1 s, \2 req\/s/p'; }
h2ok() { sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed.*/\1 ok, \2 failed/p'; }
capacity()
{
	local what=$1 out
	shift
	out=$(timeout 60 h2load "$@" 2>&1)
	printf '| %s | `h2load %s` | %s | %s |\n' "$what" "$*" \
	    "$(h2rate <<<"$out")" "$(h2ok <<<"$out")" >>"$CAP"
}
if have h2load; then
	say "upstream capacity (h2load)"
	{
		echo "| server | command | time, rate | result |"
		echo "|---|---|---|---|"
	} >"$CAP"
	capacity "nginx h1" --h1 -n 100000 -c 50 "$NGX/json/1"
	capacity "nginx h2 (TLS)" -n 100000 -c 5 -m 10 "$NGXS/json/1"
	capacity "upstream, 100 ms × 500" --h1 -n 10000 -c 500 \
	    "$UP/item/1?delay=100"
	[ "$NGX_HAS_ECHO" = 1 ] && capacity "nginx echo, 100 ms × 500, h2" \
	    -n 10000 -c 5 -m 100 "$NGXS/delay/1?s=0.1"
	cat "$CAP" >&2
fi

# --- fetchd -------------------------------------------------------------------

DCONF=$T/fetchd.conf
printf '[daemon]\nmax-connections = 1000\nlog-level = warning\n' >"$DCONF"
# BENCH_FETCH_THREADS=N: the daemon's fetch-threads (default: auto)
[ -z "${BENCH_FETCH_THREADS:-}" ] ||
    echo "fetch-threads = $BENCH_FETCH_THREADS" >>"$DCONF"
start_fetchd()
{
	rm -rf "$T/state"
	t_fetchd -c "$DCONF"
}
stop_fetchd() { t_stop_fetchd; }

# jobfile GLOB C [extra lines]
jobfile()
{
	local f=$T/job.conf
	{
		echo "[job bench]"
		echo "url = $1"
		echo "concurrency = $2"
		echo "per-host = $2"
		case $1 in https:*) echo "ca-file = $NGX_CA" ;; esac
		shift 2
		for l in "$@"; do echo "$l"; done
	} >"$f"
	echo "$f"
}

# urls GLOB-LIKE: PREFIX N SUFFIX -> a file of PREFIX<i>SUFFIX lines
urlfile()
{
	local f=$T/urls.$RANDOM
	awk -v p="$1" -v n="$2" -v s="$3" \
	    'BEGIN { for (i = 0; i < n; i++) print p i s }' >"$f"
	echo "$f"
}

proc_cpu()	# utime+stime of PID in seconds
{
	local st
	st=$(cat "/proc/$1/stat") || return 1
	st=${st##*) }
	awk -v tck="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($12 + $13) / tck }' \
	    <<<"$st"
}

# row SCEN TOOL RUN WALL CPU RSS_KB OK FAILED INNER
row()
{
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"
	printf 'bench:   %-5s %-10s run %s: %6.3f s wall, %6.2f s cpu, ' \
	    "$1" "$2" "$3" "$4" "$5" >&2
	printf '%5.1f MiB, %s ok, %s failed%s\n' "$(awk -v k="$6" \
	    'BEGIN { print k / 1024 }')" "$7" "$8" \
	    "$([ -n "${9:-}" ] && [ "$9" != - ] && echo ", inner $9 s")" >&2
}

# run_fetchd SCEN RUN JOBFILE N
run_fetchd()
{
	local scen=$1 run=$2 job=$3 n=$4 c0 c1 t0 t1 out ok failed hwm
	echo 5 >"/proc/$FETCHD_PID/clear_refs" 2>/dev/null  # reset VmHWM
	c0=$(proc_cpu "$FETCHD_PID")
	t0=$(now_ns)
	out=$(timeout 600 "$FETCHCTL" -s "$FETCHD_SOCKET" --json submit \
	    "$job" --wait 2>&1)
	t1=$(now_ns)
	c1=$(proc_cpu "$FETCHD_PID")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$FETCHD_PID/status")
	ok=$(grep -o '"ok":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)
	failed=$(grep -o '"failed":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)
	echo "$out" | tail -c 2000 >>"$LOG"
	rm -rf "$T/state/results/bench"
	row "$scen" fetchd "$run" "$(awk -v a="$t0" -v b="$t1" \
	    'BEGIN { printf "%.4f", (b - a) / 1e9 }')" \
	    "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')" \
	    "$hwm" "${ok:-0}" "${failed:-$n}" -
}

# run_peer SCEN TOOL RUN N CMD...: wall from outside, CPU and RSS from time(1)
run_peer()
{
	local scen=$1 tool=$2 run=$3 n=$4 tf=$T/time.out t0 t1 out ok failed \
	    inner=- e u s m
	shift 4
	t0=$(now_ns)
	out=$(timeout 300 /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" 2>&1)
	t1=$(now_ns)
	printf '%s %s\n%s\n' "$tool" "$*" "$(tail -c 1500 <<<"$out")" >>"$LOG"
	read -r e u s m <"$tf" 2>/dev/null || { u=0 s=0 m=0; }
	case $tool in
	floor*|aiohttp)
		ok=$(sed -n 's/^[a-z]*: \([0-9]*\) ok.*/\1/p' <<<"$out")
		inner=$(sed -n 's/.* failed, \([0-9.]*\) s.*/\1/p' <<<"$out") ;;
	h2load*)
		ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' \
		    <<<"$out")
		inner=$(sed -n 's/^finished in \([0-9.]*\)s.*/\1/p' <<<"$out") ;;
	curl)	ok=$(grep -c '^200$' <<<"$out") ;;
	wget2|aria2c)
		# exit 0 means every download succeeded
		[ "$(tail -1 "$tf" | grep -c 'exited with non-zero')" = 0 ] &&
		    ok=$n || ok=0 ;;
	esac
	ok=${ok:-0}
	failed=$((n - ok))
	row "$scen" "$tool" "$run" "$(awk -v a="$t0" -v b="$t1" \
	    'BEGIN { printf "%.4f", (b - a) / 1e9 }')" \
	    "$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.3f", a + b }')" \
	    "${m:-0}" "$ok" "$failed" "$inner"
}

# tool_cmd TOOL URLFILE C N HOSTURL: the command line of a peer
curlcfg()
{
	local f=$1.curl
	[ -s "$f" ] || awk '{ printf "url = \"%s\"\noutput = \"/dev/null\"\n", $0 }' \
	    "$1" >"$f"
	echo "$f"
}

# scenario ID TITLE N C LIMIT_S GLOB PREFIX SUFFIX TOOLS...
scenario()
{
	local id=$1 title=$2 n=$3 c=$4 limit=$5 glob=$6 prefix=$7 suffix=$8
	local urls job tools r k i tool ca= h1= hc hm runs=$RUNS
	shift 8
	tools=("$@")
	want "$id" || return 0
	# short zero-latency runs are the noisiest: more of them, same minutes
	[ $QUICK = 0 ] && [ -z "$RUNS_SET" ] && [ "$limit" = - ] && runs=5
	say "scenario $id: $title"
	printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$title" "$n" "$c" "$limit" >>"$META"
	urls=$(urlfile "$prefix" "$n" "$suffix")
	job=$(jobfile "$glob" "$c")
	case $prefix in https:*) ca=$NGX_CA ;; *) h1=-1 ;; esac
	start_fetchd
	for ((r = 1; r <= runs; r++)); do
		k=${#tools[@]}
		for ((i = 0; i < k; i++)); do	# rotate the order each round
			tool=${tools[(i + r - 1) % k]}
			# aria2c takes ~20 s a run at b50: three runs are enough
			[ "$tool" = aria2c ] && [ "$r" -gt 3 ] && continue
			case $tool in
			fetchd)	run_fetchd "$id" "$r" "$job" "$n" ;;
			floor)	run_peer "$id" floor "$r" "$n" "$FLOOR" $h1 \
				    ${ca:+-A "$ca"} -c "$c" -f "$urls" ;;
			floor-req) run_peer "$id" floor-req "$r" "$n" "$FLOOR" \
				    $h1 ${ca:+-A "$ca"} -R "$AGENT" -c "$c" \
				    -f "$urls" ;;
			floor-P) run_peer "$id" floor-P "$r" "$n" "$FLOOR" \
				    $h1 ${ca:+-A "$ca"} -R "$AGENT" -P "$NP" \
				    -c "$c" -f "$urls" ;;
			curl)	run_peer "$id" curl "$r" "$n" curl -s \
				    --no-progress-meter --parallel --parallel-max "$c" \
				    --parallel-immediate ${ca:+--cacert "$ca"} \
				    -w '%{http_code}\n' -K "$(curlcfg "$urls")" ;;
			aiohttp) run_peer "$id" aiohttp "$r" "$n" "$PY" \
				    "$HERE/peer_aiohttp.py" "$urls" "$c" $ca ;;
			wget2)	run_peer "$id" wget2 "$r" "$n" wget2 -q \
				    --no-config --max-threads="$c" \
				    ${ca:+--ca-certificate="$ca"} \
				    -O /dev/null -i "$urls" ;;
			aria2c)	rm -rf "$T/aria"
				run_peer "$id" aria2c "$r" "$n" aria2c -q \
				    -j "$c" -d "$T/aria" -i "$urls" \
				    --allow-overwrite=true \
				    --auto-file-renaming=false \
				    --file-allocation=none \
				    ${ca:+--ca-certificate="$ca"} ;;
			h2load-h1) run_peer "$id" h2load-h1 "$r" "$n" h2load \
				    --h1 -n "$n" -c "$c" -i "$urls" ;;
			h2load-h2)
				hc=$(((c + 99) / 100)); hm=$(((c + hc - 1) / hc))
				run_peer "$id" h2load-h2 "$r" "$n" h2load \
				    -n "$n" -c "$hc" -m "$hm" -i "$urls" ;;
			esac
		done
	done
	stop_fetchd
}

# --- scenarios ------------------------------------------------------------------

PEERS="fetchd floor curl aiohttp"
if [ $QUICK = 1 ]; then
	NE=100000 NF=100000
else
	NE=1000000 NF=300000
fi

# (a) the headline: 200 URLs x 200 ms, concurrency 200, end to end
# shellcheck disable=SC2086
scenario a "200 URLs × 200 ms, concurrency 200 (HTTP/1.1, upstream)" \
    200 200 0.2 "$UP/item/[0-199]?delay=200" "$UP/item/" "?delay=200" \
    $PEERS $([ $QUICK = 0 ] && echo "$TOOLS_EXTRA")
# (b) 10,000 URLs, zero latency, keep-alive, concurrency 50 and 500
# shellcheck disable=SC2086
scenario b50 "10,000 URLs, nginx, HTTP/1.1 keep-alive, concurrency 50" \
    10000 50 - "$NGX/json/[0-9999]" "$NGX/json/" "" \
    $PEERS floor-req floor-P h2load-h1 \
    $([ $QUICK = 0 ] && echo "$TOOLS_EXTRA")
# shellcheck disable=SC2086
scenario b500 "10,000 URLs, nginx, HTTP/1.1 keep-alive, concurrency 500" \
    10000 500 - "$NGX/json/[0-9999]" "$NGX/json/" "" $PEERS floor-req \
    floor-P h2load-h1
# (c) 10,000 URLs x 100 ms, concurrency 500
# shellcheck disable=SC2086
scenario c "10,000 URLs × 100 ms, concurrency 500 (HTTP/1.1, upstream)" \
    10000 500 2.0 "$UP/item/[0-9999]?delay=100" "$UP/item/" "?delay=100" \
    $PEERS h2load-h1
# (d) the same over HTTPS + HTTP/2 (nginx echo_sleep), and HTTP/1.1 to the
# same nginx location for the h2-vs-h1 comparison; d0: zero latency over h2
if [ "$NGX_HAS_ECHO" = 1 ]; then
	# shellcheck disable=SC2086
	scenario d "10,000 URLs × 100 ms, concurrency 500, HTTPS + HTTP/2 (nginx)" \
	    10000 500 2.0 "$NGXS/delay/[0-9999]?s=0.1" "$NGXS/delay/" "?s=0.1" \
	    $PEERS h2load-h2
	scenario d1 "10,000 URLs × 100 ms, concurrency 500, HTTP/1.1 (same nginx)" \
	    10000 500 2.0 "$NGX/delay/[0-9999]?s=0.1" "$NGX/delay/" "?s=0.1" \
	    fetchd floor
fi
# shellcheck disable=SC2086
scenario d0 "10,000 URLs, nginx, HTTPS + HTTP/2, concurrency 50" \
    10000 50 - "$NGXS/json/[0-9999]" "$NGXS/json/" "" \
    fetchd floor curl h2load-h2

# (e) a big glob at concurrency 500: rate and peak RSS
if want e; then
	say "scenario e: $NE URLs from a glob, concurrency 500"
	printf 'e\t%s URLs from a glob, nginx, concurrency 500\t%s\t500\t-\n' \
	    "$NE" "$NE" >>"$META"
	start_fetchd
	job=$(jobfile "$NGX/json/[0-$((NE - 1))]" 500)
	for ((r = 1; r <= RUNS; r++)); do
		run_fetchd e "$r" "$job" "$NE"
	done
	stop_fetchd
fi

# (f) control-plane latency while a big run is in flight
FRES=
if want f; then
	say "scenario f: status round trips while $NF URLs run at concurrency 500"
	start_fetchd
	job=$(jobfile "$NGX/json/[0-$((NF - 1))]" 500)
	rm -f "$T/f.stop"
	"$PY" "$HERE/ctl_latency.py" "$FETCHD_SOCKET" "$T/f.stop" 10 400 300 \
	    >"$T/f.out" 2>&1 &
	FPID=$!
	t_track "$FPID" ctl_latency
	sleep 0.3
	run_fetchd f 1 "$job" "$NF"
	touch "$T/f.stop"
	wait "$FPID"
	t_untrack "$FPID"
	FRES=$(cat "$T/f.out")
	say "$FRES"
	stop_fetchd
fi

# --- report ---------------------------------------------------------------------

MD=$T/report.md
{
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT"
	echo
	echo "- command: \`$CMDLINE\` ($RUNS runs per tool, alternating," \
	    "$([ $QUICK = 0 ] && [ -z "$RUNS_SET" ] && echo "5 for the" \
	    "zero-latency scenarios, ")medians)"
	echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' \
	    /proc/cpuinfo | head -1), $(uname -r)"
	echo "- versions: $(curl --version | head -1 | cut -d' ' -f1-3)," \
	    "$("$FETCHD" --version 2>/dev/null | head -1)," \
	    "nginx $(nginx -v 2>&1 | sed 's/.*\///'), Python aiohttp" \
	    "$("$PY" -c 'import aiohttp; print(aiohttp.__version__)' 2>/dev/null)"
	echo
	if [ -s "$CAP" ]; then
		echo "Upstream capacity:"
		echo
		cat "$CAP"
		echo
	fi
	"$PY" "$HERE/summarize.py" "$META" "$RAW" "$FRES"
} >"$MD"
cat "$MD"
if [ -n "$OUT" ]; then
	cp "$MD" "$OUT"
	cp "$RAW" "${OUT%.md}.tsv"
	say "report written to $OUT"
fi
t_pass 2>/dev/null || exit 0
