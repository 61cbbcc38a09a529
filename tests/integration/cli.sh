#!/usr/bin/env bash
# fetchctl's operator features against a real fetchd: `metrics` is
# OpenMetrics a strict parser accepts (and promtool, when installed);
# `set` changes the concurrency of a running run, seen in its in_flight;
# run states are coloured on a terminal only, never with NO_COLOR or into
# a pipe; the status table fits a narrow terminal (empty optional
# columns left out, then names cut); unknown commands and
# jobs name the nearest one; the bash completion loads and completes.
. "$(dirname "$0")/../lib.sh"
t_init cli
t_upstream
t_fetchd

ESC=$'\033'

# A run that stays running: slow URLs, 4 at a time.
printf '[job slow]\nurl = %s/slow/[1-400]?delay=200\nconcurrency = 4\nper-host = 64\n' \
    "$UP" > "$T/slow.conf"
printf '[job quick]\nurl = %s/q/[1-5]\n' "$UP" > "$T/quick.conf"
t_ctl submit "$T/quick.conf" > /dev/null || t_fail "submit quick"
t_wait_until "t_ctl status quick --json | grep -q '\"state\":\"done\"'" 10 ||
    t_fail "quick did not finish"
t_ctl submit "$T/slow.conf" > /dev/null || t_fail "submit slow"
inflight()
{
	t_ctl status slow --json | "$T_PYTHON" -c \
	    'import json,sys; print(json.load(sys.stdin)["jobs"][0]["in_flight"])'
}
t_wait_until '[ "$(inflight)" = 4 ]' 5 || t_fail "slow: in_flight $(inflight), not 4"

# --- metrics -------------------------------------------------------------
t_ctl metrics > "$T/metrics.txt" || t_fail "metrics: $(cat "$T/metrics.txt")"
"$T_PYTHON" - "$T/metrics.txt" <<'PY' || t_fail "metrics are not OpenMetrics"
# A strict reading of the OpenMetrics text format: metadata before the
# samples of its family, families not interleaved, sample names that
# belong to their family's type, label syntax, numeric values, # EOF last.
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert text.endswith("# EOF\n"), "does not end in '# EOF\\n'"
lines = text[:-1].split("\n")
assert lines[-1] == "# EOF" and "# EOF" not in lines[:-1]
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"(%s)(\{(?:%s(?:,%s)*)?\})? (\S+)(?: (\S+))?$" % (NAME, LABEL, LABEL))
SUFFIX = {"counter": ["_total", "_created"], "gauge": [""],
          "histogram": ["_bucket", "_count", "_sum", "_created"],
          "summary": ["", "_count", "_sum", "_created"],
          "info": ["_info"], "stateset": [""], "unknown": [""],
          "gaugehistogram": ["_bucket", "_gcount", "_gsum"]}
types, helps, done, cur = {}, set(), set(), None
nsamples = 0
def family(name):
    for fam, ty in types.items():
        for sfx in SUFFIX[ty]:
            if name == fam + sfx:
                return fam
    return None
for n, line in enumerate(lines[:-1], 1):
    assert line != "", "line %d: empty" % n
    if line.startswith("#"):
        m = re.match(r"# (TYPE|HELP|UNIT) (%s)(?: (.*))?$" % NAME, line)
        assert m, "line %d: bad metadata: %r" % (n, line)
        kind, fam, rest = m.groups()
        if cur != fam:
            assert fam not in done, "line %d: family %s interleaved" % (n, fam)
            if cur: done.add(cur)
            cur = fam
        if kind == "TYPE":
            assert rest in SUFFIX, "line %d: type %r" % (n, rest)
            assert fam not in types, "line %d: second TYPE" % n
            types[fam] = rest
        elif kind == "HELP":
            assert fam not in helps, "line %d: second HELP" % n
            helps.add(fam)
        continue
    m = SAMPLE.match(line)
    assert m, "line %d: bad sample: %r" % (n, line)
    name, labels, value = m.group(1), m.group(2) or "", m.group(3)
    fam = family(name)
    assert fam is not None, "line %d: %s has no # TYPE" % (n, name)
    assert fam == cur, "line %d: %s outside its family" % (n, name)
    assert re.match(r"^(?:[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|[-+]?Inf|NaN)$", value), \
        "line %d: value %r" % (n, value)
    if types[fam] == "counter" and name.endswith("_total"):
        assert float(value) >= 0, "line %d: negative counter" % n
    if name.endswith("_bucket"):
        assert re.search(r'le="[^"]+"', labels), "line %d: bucket without le" % n
    nsamples += 1
assert types, "no # TYPE lines"
assert helps, "no # HELP lines"
assert nsamples > 0, "no samples"
for need in ("fetchd_in_flight", "fetchd_urls_ok"):
    assert need in types, "no family %s" % need
assert re.search(r'^fetchd_in_flight\{[^}]*job="slow"[^}]*\} 4$', text, re.M), \
    "fetchd_in_flight of slow is not 4"
PY
if command -v promtool > /dev/null 2>&1; then
	promtool check metrics < "$T/metrics.txt" > "$T/promtool.out" 2>&1 ||
	    t_fail "promtool check metrics: $(cat "$T/promtool.out")"
fi
# --json: the reply line, whose text is the same.
t_ctl metrics --json | "$T_PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.read())
assert r["ok"] and r["text"].endswith("# EOF\n")' || t_fail "metrics --json"

# --- set -----------------------------------------------------------------
out=$(t_ctl set slow concurrency=12 2>&1) || t_fail "set: $out"
t_assert_eq "slow run 1: concurrency = 12" "$out" "set output"
t_wait_until '[ "$(inflight)" = 12 ]' 5 || t_fail "after set: in_flight $(inflight), not 12"
t_ctl set slow concurrency=2 --run 1 --json > "$T/set.json" || t_fail "set --json"
[ "$(t_json "$T/set.json" 'd["ok"] and d["key"] == "concurrency" and d["run"] == 1')" = true ] ||
    t_fail "set --json: $(cat "$T/set.json")"
t_wait_until '[ "$(inflight)" = 2 ]' 5 || t_fail "after set 2: in_flight $(inflight)"
t_ctl set slow concurrency > "$T/set.err" 2>&1
t_assert_eq 2 $? "set without =VALUE"
grep -q 'expected KEY=VALUE' "$T/set.err" || t_fail "set usage: $(cat "$T/set.err")"

# --- errors a human can act on ------------------------------------------
t_ctl sttaus > "$T/e1" 2>&1
t_assert_eq 2 $? "unknown command"
grep -q "did you mean 'status'" "$T/e1" || t_fail "unknown command: $(cat "$T/e1")"
t_ctl status slwo > "$T/e2" 2>&1
t_assert_eq 2 $? "unknown job"
grep -q "did you mean 'slow'" "$T/e2" || t_fail "unknown job: $(cat "$T/e2")"
"$FETCHCTL" -s "$T/nothing.sock" ping > "$T/e3" 2>&1
grep -q "no socket at $T/nothing.sock" "$T/e3" || t_fail "no socket: $(cat "$T/e3")"

# --- colours and widths ----------------------------------------------------
# Not a terminal: no escape sequence anywhere, NO_COLOR or not.
for cmd in "status" "list" "status quick" "status slow"; do
	t_ctl $cmd > "$T/plain" 2>&1
	! grep -q "$ESC" "$T/plain" || t_fail "escape codes in '$cmd' into a file"
done
# A terminal (script(1) gives a pty): states coloured, unless NO_COLOR.
if command -v script > /dev/null 2>&1; then
	pty()
	{
		script -qec "stty cols ${COLS:-200} 2>/dev/null; $*" /dev/null
	}
	env -u NO_COLOR TERM=xterm bash -c "$(declare -f pty); pty '$FETCHCTL -s $FETCHD_SOCKET list'" \
	    > "$T/tty" 2>&1
	grep -q "${ESC}\[32mdone${ESC}\[m" "$T/tty" || t_fail "done not green: $(cat -v "$T/tty")"
	grep -q "${ESC}\[34mrunning${ESC}\[m" "$T/tty" || t_fail "running not blue: $(cat -v "$T/tty")"
	env -u NO_COLOR TERM=xterm bash -c "$(declare -f pty); pty '$FETCHCTL -s $FETCHD_SOCKET status quick'" \
	    > "$T/tty2" 2>&1
	grep -q "quick run 1: ${ESC}\[32mdone" "$T/tty2" || t_fail "detail state not green: $(cat -v "$T/tty2")"
	NO_COLOR=1 TERM=xterm bash -c "$(declare -f pty); pty '$FETCHCTL -s $FETCHD_SOCKET list'" \
	    > "$T/nocolor" 2>&1
	! grep -q "$ESC" "$T/nocolor" || t_fail "escape codes with NO_COLOR: $(cat -v "$T/nocolor")"
	# A long job name is cut to fit 100 columns on a terminal, not in a file.
	long=a-job-whose-name-is-far-too-long-for-a-hundred-columns-x
	printf '[job %s]\nurl = %s/q/[1-2]\n' "$long" "$UP" > "$T/long.conf"
	t_ctl submit "$T/long.conf" > /dev/null || t_fail "submit long"
	t_ctl list | grep -q "^$long " || t_fail "the name is cut in a file"
	NO_COLOR=1 COLS=100 bash -c "$(declare -f pty); pty '$FETCHCTL -s $FETCHD_SOCKET list'" \
	    > "$T/narrow" 2>&1
	tr -d '\r' < "$T/narrow" | awk 'length > 100 { bad = 1 } END { exit bad }' ||
	    t_fail "rows wider than 100 columns: $(cat "$T/narrow")"
	grep -q '^a-job-whose-[a-z-]*~ ' "$T/narrow" || t_fail "name not cut: $(cat "$T/narrow")"
	# Narrower: optional columns with nothing to say (NEXT: no periodic
	# job) are left out before names are cut further; never in a file.
	NO_COLOR=1 COLS=90 bash -c "$(declare -f pty); pty '$FETCHCTL -s $FETCHD_SOCKET list'" \
	    > "$T/narrow90" 2>&1
	tr -d '\r' < "$T/narrow90" | awk 'length > 90 { bad = 1 } END { exit bad }' ||
	    t_fail "rows wider than 90 columns: $(cat "$T/narrow90")"
	! head -n 1 "$T/narrow90" | grep -q NEXT ||
	    t_fail "an empty NEXT column kept on 90 columns: $(cat "$T/narrow90")"
	grep -q '^quick ' "$T/narrow90" || t_fail "90 columns: $(cat "$T/narrow90")"
	t_ctl list | head -n 1 | grep -q '  ETA  NEXT$' ||
	    t_fail "columns left out in a file: $(t_ctl list)"
else
	t_log "no script(1): terminal checks skipped"
fi

# --- bash completion -------------------------------------------------------
comp=$top_srcdir/contrib/fetchctl.bash
bash -c "source '$comp'; complete -p fetchctl" > "$T/complete" 2>&1 ||
    t_fail "completion: $(cat "$T/complete")"
grep -q -- '-F _fetchctl fetchctl' "$T/complete" || t_fail "complete -p: $(cat "$T/complete")"
# Completion of WORDS... as bash would ask for the last one.
complete_words()
{
	bash -c '
	source "$1"; shift
	COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	_fetchctl; printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$comp" "$@"
}
t_assert_eq "$(printf 'set\nstatus\nsubmit')" "$(complete_words fetchctl s)" "commands"
t_assert_eq "$(printf -- '--ordered')" "$(complete_words fetchctl results x --or)" "options"
t_assert_eq "$(printf 'quick')" "$(complete_words "$FETCHCTL" -s "$FETCHD_SOCKET" status q)" "job names"
t_assert_eq "$(printf 'slow')" "$(complete_words "$FETCHCTL" --socket="$FETCHD_SOCKET" set sl)" "job names (--socket=)"
t_assert_eq "concurrency=" "$(complete_words fetchctl set slow con)" "set keys"
out=$(complete_words "$FETCHCTL" -s "$T/nothing.sock" status "" 2>&1)
t_assert_eq "" "$out" "no daemon: no names, no noise"

t_ctl cancel slow > /dev/null || t_fail "cancel slow"
t_stop_fetchd
t_pass
