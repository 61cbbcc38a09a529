#!/usr/bin/env bash
# A job file with errors: fetchctl prints every error as file:line with the
# key and what was expected, exits 2, and the daemon goes on serving.
# fetchd -t reports the same errors and exits 1.
. "$(dirname "$0")/../lib.sh"
t_init badjob
t_fetchd

cat > "$T/bad.conf" <<'CONF'
[job bad]
url = http://127.0.0.1:1/x
concurency = 5
timeout = 10 parsecs
CONF
t_ctl submit "$T/bad.conf" > "$T/out" 2>&1
rc=$?
[ $rc -eq 2 ] || t_fail "submit of a bad file exited $rc, expected 2"
grep -qF "$T/bad.conf:3: unknown key 'concurency' (did you mean 'concurrency'?)" "$T/out" ||
	t_fail "missing unknown-key error: $(cat "$T/out")"
grep -qF "$T/bad.conf:4: timeout: expected a duration like 250ms, 10s, 5m or 1h30m, got '10 parsecs'" "$T/out" ||
	t_fail "missing duration error: $(cat "$T/out")"
t_ctl ping > /dev/null || t_fail "daemon stopped answering after a bad submit"
t_ctl status bad > /dev/null 2>&1 && t_fail "a rejected job must not exist"

# The same file through fetchd -t.
mkdir -p "$T/jobs.d"
cp "$T/bad.conf" "$T/jobs.d/bad.conf"
printf '[daemon]\njobs-dir = %s/jobs.d\n' "$T" > "$T/fetchd.conf"
"$FETCHD" -t -c "$T/fetchd.conf" > "$T/t.out" 2>&1
rc=$?
[ $rc -eq 1 ] || t_fail "fetchd -t exited $rc, expected 1"
grep -qF "bad.conf:3: unknown key 'concurency' (did you mean 'concurrency'?)" "$T/t.out" ||
	t_fail "fetchd -t output: $(cat "$T/t.out")"
rm "$T/jobs.d/bad.conf"
printf '[job good]\nurl = http://127.0.0.1:1/[1-3]\n' > "$T/jobs.d/good.conf"
"$FETCHD" -t -c "$T/fetchd.conf" > "$T/t.out" 2>&1 || t_fail "fetchd -t on a good config: $(cat "$T/t.out")"
t_stop_fetchd
t_pass
