#!/usr/bin/env bash
# The docs and packaging move with the code: man pages lint clean; every
# config key the parser knows is documented in fetchd.conf(5); every file
# in conf/ parses; the systemd unit verifies and its hardening scores at
# most 1.5 with systemd-analyze security.
. "$(dirname "$0")/../lib.sh"
t_init docs
S=$top_srcdir

if command -v mandoc >/dev/null; then
	mandoc -Tlint -Wwarning "$S/doc/fetchd.8" "$S/doc/fetchctl.1" \
	    "$S/doc/fetchd.conf.5" > "$T/lint" 2>&1 || t_fail "mandoc: $(cat "$T/lint")"
else
	t_log "mandoc not installed; man page lint skipped"
fi

# Every key printed by -t -v (the parser's own key table) is in the man page.
mkdir -p "$T/jobs.d"
cp "$S/conf/jobs.d/example.conf" "$S/conf/examples/demo.conf" "$T/jobs.d/"
printf '[daemon]\njobs-dir = %s/jobs.d\n' "$T" > "$T/d.conf"
"$FETCHD" -t -v -c "$T/d.conf" > "$T/print" 2> "$T/err" || t_fail "conf/ examples: $(cat "$T/err")"
keys=$(sed -n "s/^\([a-z0-9-]*\) =.*/\1/p" "$T/print" | sort -u)
[ "$(echo "$keys" | wc -l)" -gt 40 ] || t_fail "too few keys printed: $keys"
for k in $keys; do
	grep -q "^\.It Cm $k\( \|$\)\|Cm $k No =" "$S/doc/fetchd.conf.5" ||
	    t_fail "key '$k' is not documented in fetchd.conf(5)"
done
# The shipped daemon file parses (with its jobs-dir pointed here).
sed "s|^jobs-dir *=.*|jobs-dir = $T/jobs.d|" "$S/conf/fetchd.conf" > "$T/f.conf"
"$FETCHD" -t -c "$T/f.conf" > /dev/null 2> "$T/err" || t_fail "conf/fetchd.conf: $(cat "$T/err")"

if command -v systemd-analyze >/dev/null; then
	unit=$T/fetchd.service
	sed -e "s|@sbindir@|$top_builddir/daemon|" -e "s|@sysconfdir@|$T|" \
	    "$S/systemd/fetchd.service.in" > "$unit"
	cp "$S/systemd/fetchd.socket" "$T/"
	systemd-analyze verify --man=no "$unit" "$T/fetchd.socket" > "$T/verify" 2>&1
	[ ! -s "$T/verify" ] || t_fail "systemd-analyze verify: $(cat "$T/verify")"
	systemd-analyze security --offline=true --threshold=15 "$unit" > "$T/sec" 2>&1 ||
	    t_fail "systemd-analyze security: $(tail -3 "$T/sec")"
	t_log "unit: $(tail -1 "$T/sec")"
else
	t_log "systemd-analyze not installed; unit checks skipped"
fi
t_pass
