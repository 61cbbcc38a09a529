#!/usr/bin/env bash
# A full disk: results stop fitting on a tiny tmpfs, the run pauses with
# the reason in status (no crash, nothing dropped), and when space comes
# back it goes on by itself; at the end every URL has one valid record.
# Runs in a mount namespace of its own, so the tmpfs is nobody else's.
if [ -z "${FETCHD_IN_MOUNTNS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a tmpfs"; exit 77; }
	unshare --mount --propagation private true 2>/dev/null ||
	    { echo "SKIP: no mount namespace"; exit 77; }
	FETCHD_IN_MOUNTNS=1 exec unshare --mount --propagation private \
	    bash "$0" "$@"
fi
. "$(dirname "$0")/../lib.sh"
t_init diskfull
t_upstream
mkdir -p "$T/state"
mount -t tmpfs -o size=256k tmpfs "$T/state" || t_skip "cannot mount a tmpfs"
t_fetchd
cat > "$T/d.conf" <<CONF
[job d]
url = $UP/d/[1-400]?size=2000
concurrency = 20
breaker = never
CONF
t_ctl submit "$T/d.conf" > /dev/null || t_fail submit
t_wait_until "t_ctl status d --json | grep -q '\"paused\":true'" 15 ||
    t_fail "the run did not pause on a full disk: $(t_ctl status d --json)"
t_ctl status d > "$T/st" 2>&1
t_ctl status d --json | grep -q "No space left on device" ||
    t_fail "no reason in status: $(t_ctl status d --json)"
kill -0 "$FETCHD_PID" || t_fail "fetchd died"
sleep 1
t_ctl status d --json | grep -q '"state":"running"' || t_fail "run not running while paused"
mount -o remount,size=16m "$T/state" || t_fail "remount"
t_wait_until "t_ctl status d --json | grep -q '\"state\":\"done\"'" 20 ||
    t_fail "the run did not go on: $(t_ctl status d --json)"
"$T_PYTHON" - "$T/state/results/d/1.ndjson" <<'PY' || t_fail "records"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == ""
recs = [json.loads(l) for l in lines[:-1]]
assert sorted(r["i"] for r in recs) == list(range(400)), len(recs)
PY
grep -q "written again" "$T/fetchd.log" || t_fail "no recovery message in the log"
t_stop_fetchd
umount "$T/state"
t_pass
