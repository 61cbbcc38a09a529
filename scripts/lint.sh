#!/bin/sh
# lint.sh: cppcheck and clang-tidy over fetchd's C sources; exit 1 on any
# finding.  Needs a configured build tree for config.h:
#   scripts/lint.sh [--deep] [BUILDDIR]     (BUILDDIR defaults to .)
# The checks and why each left-out one is out: .clang-tidy.  --deep adds
# clang-tidy's static analyzer (clang-analyzer-*, slow: minutes).
# False positives are suppressed inline, with a reason, next to the code.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
deep=
if [ "${1:-}" = --deep ]; then deep=1; shift; fi
build=$(cd "${1:-.}" && pwd)
if [ ! -f "$build/config.h" ]; then
	echo "lint: $build/config.h not found; run configure first" >&2
	exit 2
fi
cd "$top"
srcs="common/*.c daemon/*.c client/*.c tests/upstream/upstream.c tests/fuzz/*.c"
cflags="-std=c11 -I$build -Icommon -Idaemon -Iclient $(pkg-config --cflags json-c libcurl libsystemd 2>/dev/null) -DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\""
rc=0

echo "lint: cppcheck"
# sys/queue.h is forced in: cppcheck does not read system headers, and
# without TAILQ_* it stops at the first TAILQ_FOREACH.
# shellcheck disable=SC2086
cppcheck --enable=warning,portability --std=c11 --quiet --inline-suppr \
    --error-exitcode=1 --suppress=missingIncludeSystem \
    --include=/usr/include/x86_64-linux-gnu/sys/queue.h \
    -I"$build" -Icommon -Idaemon -Iclient \
    -DSYSCONFDIR='"/etc"' -DLOCALSTATEDIR='"/var"' $srcs || rc=1

echo "lint: clang-tidy"
checks=
[ -n "$deep" ] && checks="--checks=clang-analyzer-*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling"
# shellcheck disable=SC2086
clang-tidy --quiet $checks $srcs -- $cflags 2>/dev/null >"$build/clang-tidy.out" || rc=1
if grep -q 'warning:\|error:' "$build/clang-tidy.out"; then
	grep -A3 'warning:\|error:' "$build/clang-tidy.out"
	rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
