#!/usr/bin/env bash
# `fetchctl reload`: a broken job file in jobs-dir is rejected as a whole
# (exit 2, every error listed, the running jobs untouched); once fixed, the
# reload takes it and the new job runs.
. "$(dirname "$0")/../lib.sh"
t_init reload_cmd
t_upstream
mkdir -p "$T/jobs.d"
printf '[job one]\nurl = %s/one/[1-3]\n' "$UP" > "$T/jobs.d/one.conf"
printf '[daemon]\njobs-dir = %s/jobs.d\n' "$T" > "$T/fetchd.conf"
t_fetchd -c "$T/fetchd.conf"
t_wait_until "t_ctl status one --json | grep -q '\"state\":\"done\"'" 5 || t_fail "job one"
printf '[job two]\nurl = %s/two/[1-2]\nconcurency = 2\n' "$UP" > "$T/jobs.d/two.conf"
t_ctl reload > "$T/out" 2>&1
[ $? -eq 2 ] || t_fail "reload of a broken file should exit 2: $(cat "$T/out")"
grep -q "two.conf:3: unknown key 'concurency'" "$T/out" || t_fail "error text: $(cat "$T/out")"
t_ctl status two > /dev/null 2>&1 && t_fail "job two exists after a rejected reload"
t_ctl status one > /dev/null || t_fail "job one lost"
sed -i 's/concurency/concurrency/' "$T/jobs.d/two.conf"
t_ctl reload > "$T/out" 2>&1 || t_fail "reload: $(cat "$T/out")"
t_wait_until "t_ctl status two --json | grep -q '\"state\":\"done\"'" 5 || t_fail "job two did not run"
t_stop_fetchd
t_pass
