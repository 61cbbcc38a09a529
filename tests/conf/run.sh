#!/bin/sh
#
# tests/conf/run.sh: golden tests of `fetchd -t -v -c FILE`.
#
# Each NN-name.in is a job file.  For each, a scratch directory gets a
# daemon file whose jobs-dir holds just that file (as NN-name.conf); lines
# "#daemon: key = value" of the .in are added to the [daemon] section.
# fetchd -t -v runs on it, and its exit status, stdout and stderr, with the
# scratch directory written as @DIR@, must equal NN-name.ok.  When the
# check passes, its printout must parse again and print the same (the
# daemon section as the daemon file, the jobs as one job file).
#
# usage: run.sh [--update] [NN-name ...]
#   --update  rewrite the .ok files from what fetchd prints now
#   FETCHD    the binary (default: $top_builddir/daemon/fetchd)
#
# Exit status: 0 all passed, 1 some failed, 99 setup error (automake's
# "hard error").

here=$(cd "$(dirname "$0")" && pwd)
FETCHD=${FETCHD:-${top_builddir:-$here/../..}/daemon/fetchd}
update=0
if [ "$1" = "--update" ]; then
	update=1
	shift
fi
if [ ! -x "$FETCHD" ]; then
	echo "run.sh: $FETCHD not found; build it or set FETCHD" >&2
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetchd-conf.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

# The scratch path as a sed pattern.
tmp_re=$(printf '%s\n' "$tmp" | sed 's/[].[*^$\/]/\\&/g')

# Run one case; its result (exit status, stdout, stderr) on stdout.
run_case() {
	name=$1
	dir=$tmp/$name
	mkdir -p "$dir/jobs.d" || return 1
	cp "$here/$name.in" "$dir/jobs.d/$name.conf" || return 1
	{
		echo "[daemon]"
		echo "socket = $dir/control.sock"
		echo "state-dir = $dir/state"
		echo "jobs-dir = $dir/jobs.d"
		echo "user-agent = fetchd/test"
		sed -n 's/^#daemon: //p' "$here/$name.in"
	} >"$dir/fetchd.conf"
	"$FETCHD" -t -v -c "$dir/fetchd.conf" >"$dir/stdout" 2>"$dir/stderr"
	rc=$?
	echo "exit $rc"
	echo "--- stdout"
	sed "s/$tmp_re\/$name/@DIR@/g" "$dir/stdout"
	echo "--- stderr"
	sed "s/$tmp_re\/$name/@DIR@/g" "$dir/stderr"
}

# The printout of a passing case, fed back to fetchd, prints the same.
reparse() {
	dir=$tmp/$1
	again=$dir/again
	[ "$(sed -n 1p "$dir/stdout")" = "[daemon]" ] || return 0
	mkdir -p "$again/jobs.d" || return 1
	# Up to the first blank line: the daemon file, with jobs-dir moved.
	awk -v d="$again" '
		!blank && $0 == "" { blank = 1; next }
		!blank && $1 == "jobs-dir" { $0 = "jobs-dir = " d "/jobs.d" }
		!blank { print > (d "/fetchd.conf"); next }
		{ print > (d "/jobs.d/printed.conf") }' "$dir/stdout"
	"$FETCHD" -t -v -c "$again/fetchd.conf" >"$again/stdout" 2>/dev/null ||
	    return 1
	grep -v '^jobs-dir = ' "$dir/stdout" >"$again/want"
	grep -v '^jobs-dir = ' "$again/stdout" | diff -u "$again/want" -
}

if [ $# -eq 0 ]; then
	for f in "$here"/*.in; do
		set -- "$@" "$(basename "$f" .in)"
	done
fi

failed=0
for name in "$@"; do
	name=${name%.in}
	if [ ! -f "$here/$name.in" ]; then
		echo "run.sh: no $here/$name.in" >&2
		exit 99
	fi
	run_case "$name" >"$tmp/$name.out"
	if [ $update -eq 1 ]; then
		cp "$tmp/$name.out" "$here/$name.ok"
		echo "updated $name.ok"
	elif ! diff -u "$here/$name.ok" "$tmp/$name.out"; then
		echo "FAIL: $name"
		failed=1
	elif reparse "$name"; then
		echo "PASS: $name"
	else
		echo "FAIL: $name (the printout does not print the same again)"
		echo "FAIL: $name"
		failed=1
	fi
done
exit $failed
