#!/usr/bin/env bash
# Events in a real journal: fetchd runs with its stderr on journald's
# stream socket and JOURNAL_STREAM set (as under systemd), and
# `journalctl -o json FETCHD_JOB=...` shows run started/finished and URL
# failed events with their MESSAGE_IDs, priorities, FETCHD_* fields and
# CODE_FILE/CODE_LINE/CODE_FUNC; a success is logged only at debug (after
# a reload to log-level = debug); header values never reach the journal.
# The catalog covers every MESSAGE_ID in the source and `journalctl -x`
# explains the events with it.
#
# Uses the machine's journald when /run/systemd/journal/socket exists;
# otherwise (root only) a private systemd-journald inside a mount
# namespace with its own tmpfs on /run and /var/log/journal, logging to
# the console, stopped by PID.
if [ -z "${SD_JOURNAL_NS:-}" ] && [ ! -S /run/systemd/journal/socket ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
	    [ ! -x /lib/systemd/systemd-journald ]; then
		echo "SKIP: sd_journal: no journald, and starting one needs" \
		    "root, unshare and /lib/systemd/systemd-journald" >&2
		exit 77
	fi
	SD_JOURNAL_NS=1 exec unshare --mount --propagation private \
	    bash "$0" "$@"
fi
. "$(dirname "$0")/../lib.sh"
t_init sd_journal
S=$top_srcdir
command -v journalctl >/dev/null || t_skip "journalctl is not installed"

if [ -n "${SD_JOURNAL_NS:-}" ]; then
	mount -t tmpfs -o mode=755 fetchd-test-run /run ||
	    t_skip "cannot mount a tmpfs on /run in a mount namespace"
	mount -t tmpfs -o mode=755 fetchd-test-journal /var/log/journal \
	    2>/dev/null || true
	mkdir -p /run/systemd/journal /run/log
	SYSTEMD_LOG_TARGET=console /lib/systemd/systemd-journald \
	    >>"$T/journald.log" 2>&1 &
	t_track $! systemd-journald
	t_wait_until "[ -S /run/systemd/journal/socket ] &&
	    [ -S /run/systemd/journal/stdout ]" 5 || t_fail "journald did not start"
	t_log "private journald (pid $!)"
fi

# journalctl -o json for a match, polled (journald writes asynchronously)
# until the Python condition over the entries `d` holds; output in $T/j.
jwait()
{
	local cond=$1 n

	shift
	for n in $(seq 60); do
		journalctl -o json --no-pager "$@" > "$T/j" 2>>"$T/journalctl.log"
		t_ndjson "$T/j" "$cond" 2>/dev/null | grep -qx true && return 0
		sleep 0.05
	done
	return 1
}

t_upstream
JOB=jt$$x$RANDOM
FETCHD_SOCKET=$T/ctl.sock
mkdir -p "$T/state"
printf '[daemon]\nlog-level = info\n' > "$T/d.conf"
"$T_PYTHON" "$S/tests/systemd/journal-stream.py" fetchd "$FETCHD" \
    -c "$T/d.conf" --socket "$FETCHD_SOCKET" --state-dir "$T/state" &
FETCHD_PID=$!
t_track "$FETCHD_PID" fetchd
t_wait_until "t_ctl ping" 5 || t_fail "fetchd does not answer ping"
cat > "$T/j.conf" <<CONF
[job $JOB]
url = $UP/ok/[1-3]
url = $UP/bad/[1-2]?status=500
retries = 0
header = Authorization: Bearer s3cr3t-t0ken
CONF
t_ctl submit "$T/j.conf" > /dev/null || t_fail submit
jwait "any(e.get('MESSAGE_ID') == '8b3f5d7e9a1c42b4c6d8e0f2a4b6c8d0' for e in d)" \
    FETCHD_JOB="$JOB" || t_fail "no 'run finished partial' event: $(cat "$T/j")"
cp "$T/j" "$T/j1"
"$T_PYTHON" - "$T/j1" "$JOB" "$UP" <<'PY' || t_fail "journal entries of run 1"
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
job, up = sys.argv[2], sys.argv[3]
by = {}
for e in d:
    by.setdefault(e.get("MESSAGE_ID"), []).append(e)
for e in d:
    assert e["FETCHD_JOB"] == job and e["FETCHD_RUN"] == "1", e
    assert e["SYSLOG_IDENTIFIER"] == "fetchd", e
    assert e["CODE_FILE"].endswith(".c") and int(e["CODE_LINE"]) > 0, e
    assert e["CODE_FUNC"], e
(start,) = by["5c1d2a8f0e6b4d7a9c3e1f20b4a6d8e1"]
assert start["PRIORITY"] == "6", start
(fin,) = by["8b3f5d7e9a1c42b4c6d8e0f2a4b6c8d0"]
assert fin["PRIORITY"] == "5", fin
assert "FETCHD_DURATION_MS" in fin, fin
fails = by["1d5b7f9a2c4e44d6e8f0a2b4c6d8e0f3"]
assert sorted(e["FETCHD_URL"] for e in fails) == \
    [up + "/bad/%d?status=500" % i for i in (1, 2)], fails
for e in fails:
    assert e["PRIORITY"] == "4", e
    assert e["FETCHD_STATUS"] == "500" and e["FETCHD_ATTEMPT"] == "1", e
    assert e["FETCHD_ERROR"] == "http_500", e
    float(e["FETCHD_DURATION_MS"])
    assert e["CODE_FILE"].endswith("job.c"), e
assert "2e6c8a0b3d5f45e7f9a1b3c5d7e9f1a4" not in by, "success at info"
PY

# Reload to debug: the reload is an event, and successes now show.
printf '[daemon]\nlog-level = debug\n' > "$T/d.conf"
kill -HUP "$FETCHD_PID"
jwait "len(d) == 1 and d[0]['PRIORITY'] == '6'" _PID="$FETCHD_PID" \
    MESSAGE_ID=a7cf404323704675b2bae2c2574ec2a9 || t_fail "no reload event"
sed -i "s/^\[job $JOB\]/[job ${JOB}b]/" "$T/j.conf"
t_ctl submit "$T/j.conf" > /dev/null || t_fail "submit ${JOB}b"
jwait "len([e for e in d if e['PRIORITY'] == '7' and
    e['FETCHD_STATUS'] == '200' and e['FETCHD_URL'].startswith('$UP/ok/')]) == 3" \
    FETCHD_JOB="${JOB}b" MESSAGE_ID=2e6c8a0b3d5f45e7f9a1b3c5d7e9f1a4 ||
    t_fail "no successes at debug: $(cat "$T/j")"

t_stop_fetchd
jwait "len(d) == 1" _PID="$FETCHD_PID" MESSAGE_ID=98630b4e72af4826b043da3db3e1b3ce ||
    t_fail "no 'ready' event"
jwait "len(d) == 1" _PID="$FETCHD_PID" MESSAGE_ID=8651a44824604f31ab6239fbf2ea138f ||
    t_fail "no 'stopped' event"
journalctl -o json --no-pager _PID="$FETCHD_PID" > "$T/all"
[ -s "$T/all" ] || t_fail "nothing from fetchd in the journal"
! grep -q "s3cr3t" "$T/all" || t_fail "a header value reached the journal"
! grep -q '"MESSAGE":"<[0-7]>' "$T/all" || t_fail "plain <N> lines in the journal"

# The catalog: every MESSAGE_ID of the source has an entry, it compiles,
# and journalctl -x explains an event with it.
R=$T/root
mkdir -p "$R/usr/lib/systemd/catalog" "$R/var/lib/systemd/catalog"
cp "$S/systemd/fetchd.catalog" "$R/usr/lib/systemd/catalog/"
journalctl --root="$R" --update-catalog 2> "$T/catalog.err" ||
    t_fail "journalctl --update-catalog: $(cat "$T/catalog.err")"
[ ! -s "$T/catalog.err" ] || t_fail "catalog: $(cat "$T/catalog.err")"
journalctl --root="$R" --list-catalog > "$T/list"
for id in $(sed -n 's/^#define MSGID_[A-Z_]*[[:space:]]*"\([0-9a-f]\{32\}\)".*/\1/p' \
    "$S/common/log.h" "$S/daemon/job.c" | sort -u); do
	grep -q "^$id fetchd: " "$T/list" || t_fail "MESSAGE_ID $id is not in the catalog"
done
t_log "catalog: $(grep -c fetchd: "$T/list") entries"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	# journalctl 252 reads -x texts from /var/lib/systemd/catalog even
	# with --root: show it ours, in a mount namespace of its own.
	unshare --mount --propagation private bash -c '
		mount --bind "$1/var/lib/systemd/catalog" /var/lib/systemd/catalog &&
		journalctl -x --no-pager FETCHD_JOB="$2" \
		    MESSAGE_ID=1d5b7f9a2c4e44d6e8f0a2b4c6d8e0f3' _ "$R" "$JOB" \
	    > "$T/x" 2>&1
	grep -q "Subject: URL $UP/bad/1?status=500 of job $JOB failed: http_500" \
	    "$T/x" || t_fail "journalctl -x: $(cat "$T/x")"
fi
t_pass
