#!/usr/bin/env bash
# scripts/demo.sh: the README's first Quick start command.
#
# Installs the build dependencies that are missing (Debian 12, as root),
# builds fetchd in build-demo/, starts the local demo upstream on
# 127.0.0.1:18080 and fetchd with its out-of-the-box defaults (default
# socket and state directory, no config file), submits
# conf/examples/demo.conf with `fetchctl submit --wait`, shows the first
# result lines, and stops both servers again by PID.  Safe to run again:
# each run builds only what changed and adds one run to the job "demo".
#
# Exit status: that of `fetchctl submit --wait` (0 when every URL
# succeeded, 1 when some failed, 2 on an error or Ctrl-C), or 1 when
# something could not be set up.
set -eu
set -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
top=$PWD
port=18080
deps="build-essential autoconf automake libtool pkg-config libev-dev
libcurl4-openssl-dev libjson-c-dev libsystemd-dev"

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
[ -t 1 ] || say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

up_pid=
fetchd_pid=

# Stop what we started, by PID, and wait for it.
stop() {
	local pid=$1 what=$2
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$what (pid $pid) did not stop; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	stop "$fetchd_pid" fetchd
	stop "$up_pid" upstream
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Build dependencies, only those dpkg does not know as installed.
missing=
for p in $deps; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] ||
	    die "missing packages:$missing (run as root, or: sudo apt-get install$missing)"
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
else
	say "build dependencies are installed"
fi

# 2. Build.  Out of tree in build-demo/, unless the source tree itself
# has been configured (then configure refuses a second build directory).
[ -x configure ] || { say "./autogen.sh"; ./autogen.sh; }
if [ -f config.status ]; then
	build=$top
else
	build=$top/build-demo
	mkdir -p "$build"
fi
cd "$build"
if [ ! -f Makefile ]; then
	say "configure (in ${build#"$top"/})"
	"$top/configure" -q
fi
say "make"
make -s -j"$(nproc)"
make -s tests/upstream/upstream
cd "$top"
rel=${build#"$top"}
rel=${rel#/}
bin=${rel:+$rel/}
fetchd=$build/daemon/fetchd
fetchctl=$build/client/fetchctl
logs=$build/demo-logs
mkdir -p "$logs"

# 3. The demo upstream on 127.0.0.1:18080.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	die "something already listens on 127.0.0.1:$port; stop it and run the demo again"
fi
say "starting the demo upstream: ${bin}tests/upstream/upstream -l 127.0.0.1 -p $port"
"$build/tests/upstream/upstream" -l 127.0.0.1 -p "$port" 2>"$logs/upstream.log" &
up_pid=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$up_pid" 2>/dev/null ||
	    die "the upstream did not start: $(cat "$logs/upstream.log")"
	sleep 0.1
done

# 4. fetchd on its defaults, in the background of this script.
if "$fetchctl" ping >/dev/null 2>&1; then
	die "a fetchd already answers on its default socket ($("$fetchctl" ping)); stop it and run the demo again"
fi
say "starting fetchd with its defaults: ${bin}daemon/fetchd (log: ${logs#"$top"/}/fetchd.log)"
"$fetchd" 2>"$logs/fetchd.log" &
fetchd_pid=$!
for _ in $(seq 100); do
	"$fetchctl" ping >/dev/null 2>&1 && break
	kill -0 "$fetchd_pid" 2>/dev/null ||
	    die "fetchd did not start: $(cat "$logs/fetchd.log")"
	sleep 0.1
done
"$fetchctl" ping >/dev/null 2>&1 || die "fetchd does not answer: $(cat "$logs/fetchd.log")"
say "fetchd is running (pid $fetchd_pid)"
grep -m1 'ready' "$logs/fetchd.log" | sed 's/^<[0-9]>/  /' || true

# 5. Submit the demo job and wait for its run.
say "${bin}client/fetchctl submit conf/examples/demo.conf --wait"
echo
rc=0
"$fetchctl" submit conf/examples/demo.conf --wait || rc=$?
echo
if [ "$rc" -ge 2 ]; then
	# An error, or Ctrl-C (which fetchctl turns into exit 2).
	say "fetchctl exited $rc; stopping fetchd and the upstream"
	exit "$rc"
fi

# 6. The first result lines, from the results file itself.
results=$("$fetchctl" --json status demo |
    sed -n 's/.*"results":"\([^"]*\)".*/\1/p' | sed 's|\\/|/|g')
if [ -n "$results" ] && [ -f "$results" ]; then
	say "the first 3 of $(wc -l <"$results") lines of $results:"
	head -n 3 "$results"
	echo
	say "more: ${bin}client/fetchctl results demo --ordered; ${bin}client/fetchctl status demo"
fi

# 7. Stop fetchd (SIGTERM: it flushes results and exits 0), then the upstream.
say "stopping fetchd (pid $fetchd_pid) and the upstream (pid $up_pid)"
stop "$fetchd_pid" fetchd
fetchd_pid=
stop "$up_pid" upstream
up_pid=
exit "$rc"
