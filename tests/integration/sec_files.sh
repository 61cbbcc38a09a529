#!/usr/bin/env bash
# Submitted files are data, not paths: fetchctl sends the content of a
# job's urls-file and body-file along, fetchd keeps a private copy
# (STATE/files, 0600) and never opens a path a client named, unless it
# lies under submit-dirs (links resolved).  Job files of jobs-dir keep
# their paths.  Job names cannot steer where results are written.
. "$(dirname "$0")/../lib.sh"
t_init sec_files
t_upstream
mkdir -p "$T/lists" "$T/jobs.d" "$T/elsewhere"

# A request straight on the socket, as any client could send it.
raw() {	# JSON-REQUEST: prints the first reply line
	"$T_PYTHON" - "$FETCHD_SOCKET" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
f = s.makefile("rb")
print(f.readline().decode().strip())
EOF
}
submit_raw() {	# JOB-TEXT [FILES-OBJECT]
	raw "$("$T_PYTHON" -c 'import json, sys
r = {"v": 1, "id": 1, "cmd": "submit", "file": sys.argv[3] + "/x.conf", "text": sys.argv[1]}
if sys.argv[2]: r["files"] = json.loads(sys.argv[2])
print(json.dumps(r))' "$1" "${2:-}" "$T")"
}

# jobs-dir names a file by path: the daemon's own configuration, allowed.
for i in 1 2 3; do echo "$UP/jd/$i"; done > "$T/elsewhere/jd.txt"
printf '[job jd]\nurls-file = %s/elsewhere/jd.txt\n' "$T" > "$T/jobs.d/jd.conf"
printf '[daemon]\njobs-dir = %s/jobs.d\nsubmit-dirs = %s/lists\n' "$T" "$T" > "$T/d.conf"
t_fetchd -c "$T/d.conf"
t_wait_until "[ \"\$(t_up_count /jd/3)\" = 1 ]" 10 || t_fail "the jobs-dir job did not read its urls-file"

# 1. fetchctl sends the files; fetchd keeps its own copy.
for i in 1 2 3 4; do echo "$UP/u/$i?echo=1"; done > "$T/urls.txt"
printf 'bin\000ary\377body' > "$T/body.bin"
cat > "$T/job.conf" <<EOF
[job f]
urls-file = urls.txt   # relative to the job file
body-file = $T/body.bin
method = POST
EOF
(cd / && t_ctl submit "$T/job.conf" --wait) > "$T/out" 2>&1 || t_fail "submit: $(cat "$T/out")"
t_assert_eq 4 "$(t_ndjson "$T/state/results/f/1.ndjson" 'len(d)')" "4 URLs from the urls-file"
t_assert_eq 12 "$(t_ndjson "$T/state/results/f/1.ndjson" 'd[0]["body"]["body_len"]')" "the binary body was sent whole"
grep -q "^urls-file = $T/state/files/f.urls-file." "$T/state/jobs/f.conf" || t_fail "saved job: $(grep file "$T/state/jobs/f.conf")"
t_assert_eq 700 "$(stat -c %a "$T/state/files")" "files dir mode"
for f in "$T/state/files/"*; do
	t_assert_eq 600 "$(stat -c %a "$f")" "mode of $f"
done
cmp -s "$T/body.bin" "$T/state/files/"f.body-file.* || t_fail "the kept body differs"
cmp -s "$T/urls.txt" "$T/state/files/"f.urls-file.* || t_fail "the kept urls-file differs"
# Submitted again with another list: the old copy goes, the job takes the
# new one.
for i in 5 6; do echo "$UP/u/$i"; done > "$T/urls.txt"
t_ctl submit "$T/job.conf" --wait > "$T/out" 2>&1 || t_fail "submit again: $(cat "$T/out")"
t_assert_eq 1 "$(ls "$T/state/files/" | grep -c '^f\.urls-file\.')" "copies of the urls-file kept"
cmp -s "$T/urls.txt" "$T/state/files/"f.urls-file.* || t_fail "the new urls-file was not kept"
t_assert_eq 2 "$(t_ndjson "$T/state/results/f/2.ndjson" 'len(d)')" "run 2 used the new list"
t_assert_eq 1 "$(ls "$T/state/files/" | grep -c '^f\.body-file\.')" "the same body is one copy"

# A missing file is the client's error, named.
printf '[job m]\nurls-file = missing.txt\n' > "$T/m.conf"
t_ctl submit "$T/m.conf" > "$T/out" 2>&1
t_assert_eq 2 "$?" "missing urls-file"
grep -q "missing.txt: urls-file named by $T/m.conf: No such file" "$T/out" || t_fail "message: $(cat "$T/out")"

# 2. A client that names paths without sending them: refused.
echo "root-only-secret" > "$T/secret.txt" && chmod 600 "$T/secret.txt"
r=$(submit_raw "[job x]
url = $UP/x
method = POST
body-file = $T/secret.txt")
t_assert_match '"code":"invalid_job"' "$r" "body-file outside submit-dirs"
t_assert_match "x.conf:1: job 'x': body-file $T/secret.txt: fetchd opens no file a submitted job names" "$r"
r=$(submit_raw "[job x]
urls-file = /etc/passwd")
t_assert_match '"code":"invalid_job"' "$r" "urls-file /etc/passwd"
t_assert_eq 0 "$(t_up_count /x)" "a refused job fetched"
[ -e "$T/state/results/x" ] && t_fail "a refused job made a results dir"

# 3. submit-dirs: a path under it is taken, a way out of it is not.
for i in 1 2; do echo "$UP/l/$i"; done > "$T/lists/l.txt"
ln -s "$T/secret.txt" "$T/lists/link.txt"
r=$(submit_raw "[job l]
urls-file = $T/lists/l.txt")
t_assert_match '"ok":true' "$r" "urls-file under submit-dirs"
t_wait_until "[ \"\$(t_up_count /l/2)\" = 1 ]" 10 || t_fail "the submit-dirs job did not run"
for p in "$T/lists/../secret.txt" "$T/lists/link.txt" "$T/listsx/l.txt"; do
	r=$(submit_raw "[job y]
urls-file = $p")
	t_assert_match '"code":"invalid_job"' "$r" "urls-file $p"
done
# Sent content wins over the path, and must be base64.
r=$(submit_raw "[job z]
urls-file = whatever.txt" '{"whatever.txt": "!!!"}')
t_assert_match "the content sent is not base64" "$r"

# 4. Job names cannot leave the results directory.
for name in '../evil' 'a/b' '.hidden' '..' 'x y'; do
	r=$(submit_raw "[job $name]
url = $UP/n")
	t_assert_match '"code":"invalid_job"' "$r" "job name '$name'"
done
r=$(raw "$("$T_PYTHON" -c 'import json; print(json.dumps({"cmd": "submit", "file": "x", "text": "[job a\u0001b]\nurl = http://127.0.0.1/\n"}))')")
t_assert_match '"code":"invalid_job"' "$r" "a control character in a job name"
[ -e "$T/state/evil" ] || [ -e "$T/evil" ] && t_fail "a job name escaped"
t_assert_eq 0 "$(t_up_count /n)" "a job with a bad name ran"
t_stop_fetchd
t_pass
