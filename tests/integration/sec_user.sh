#!/usr/bin/env bash
# Privileges: started as root without `user =`, fetchd warns once that it
# runs with privileges it does not need.  With `user =`, it gives the state
# directory (what earlier root runs left there too, but not what links
# point to) and its socket to that user, drops to the user's uid, gid and
# groups before the first transfer, and still runs jobs and writes results.
# An unknown user is a FILE:LINE error; a non-root fetchd cannot switch.
. "$(dirname "$0")/../lib.sh"
t_init sec_user
[ "$(id -u)" = 0 ] || t_skip "needs root to drop privileges"
for c in useradd userdel groupadd groupdel setpriv; do
	command -v $c > /dev/null || t_skip "$c is missing"
done
U=fdt$$ G=fdts$$
del_users() {
	userdel "$U" > /dev/null 2>&1
	groupdel "$U" > /dev/null 2>&1
	groupdel "$G" > /dev/null 2>&1
}
trap 'rc=$?; del_users; (exit $rc); t_cleanup' EXIT
groupadd --system "$G" || t_fail "groupadd"
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group \
    --groups "$G" "$U" || t_fail "useradd"
uid=$(id -u "$U") gid=$(id -g "$U") sgid=$(getent group "$G" | cut -d: -f3)
chmod 755 "$T"
t_upstream

# 1. Root without user: one warning, even after a reload.
printf '[daemon]\n' > "$T/root.conf"
printf '[job r]\nurl = %s/r/[1-5]\n' "$UP" > "$T/r.conf"
t_fetchd -c "$T/root.conf"
t_ctl submit "$T/r.conf" --wait > "$T/out" 2>&1 || t_fail "root run: $(cat "$T/out")"
t_ctl reload > /dev/null || t_fail "reload"
t_assert_eq 1 "$(grep -c 'running as root, with privileges fetchd does not need' "$T/fetchd.log")" "warned once"
grep -q "set user = in the \[daemon\] section of $T/root.conf" "$T/fetchd.log" || t_fail "the warning names the key and file"
t_stop_fetchd
[ "$(stat -c %u "$T/state/results/r/1.ndjson")" = 0 ] || t_fail "root's results not root's"

# Things the drop must not give away: what a link in the state dir points to.
echo secret > "$T/victim" && echo secret > "$T/victim2"
ln -s "$T/victim" "$T/state/results/r/evil-symlink"
ln "$T/victim2" "$T/state/results/r/evil-hardlink"

# 2. Root with user: the drop.
printf '[daemon]\nuser = %s\n' "$U" > "$T/user.conf"
: > "$T/fetchd.log"
t_fetchd -c "$T/user.conf"
st=/proc/$FETCHD_PID/status
t_assert_match "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid\$" "$(grep '^Uid:' "$st")" "uids"
t_assert_match "^Gid:[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid\$" "$(grep '^Gid:' "$st")" "gids"
groups=" $(grep '^Groups:' "$st" | cut -d: -f2 | xargs) "
case $groups in *" $sgid "*) ;; *) t_fail "supplementary group $sgid missing: $groups" ;; esac
case $groups in *" 0 "*) t_fail "still in group 0: $groups" ;; esac
for task in /proc/$FETCHD_PID/task/*; do	# the results writer thread too
	t_assert_match "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid\$" "$(grep '^Uid:' "$task/status")" "uids of $task"
done
[ "$(ls /proc/$FETCHD_PID/task | wc -l)" -gt 1 ] || t_log "only one thread checked"
t_assert_eq 0000000000000000 "$(awk '/^CapEff:/ { print $2 }' "$st")" "no effective capabilities"
t_assert_eq 0000000000000000 "$(awk '/^CapPrm:/ { print $2 }' "$st")" "no permitted capabilities"
grep -q "running as user $U (uid $uid, gid $gid)" "$T/fetchd.log" || t_fail "no notice of the drop"
grep -q "privileges fetchd does not need" "$T/fetchd.log" && t_fail "warned although user is set"
t_assert_eq "$uid:$gid" "$(stat -c %u:%g "$FETCHD_SOCKET")" "the socket is the user's"
t_assert_eq "$uid:$gid" "$(stat -c %u:%g "$T/state")" "the state dir is the user's"
t_assert_eq "$uid" "$(stat -c %u "$T/state/results/r/1.ndjson")" "earlier results given to the user"
t_assert_eq 0 "$(stat -c %u "$T/victim")" "a symlink's target was given away"
t_assert_eq 0 "$(stat -c %u "$T/victim2")" "a hard link's file was given away"

# A job still runs: the saved job resumes, and a new one writes results.
printf '[job u]\nurl = %s/u/[1-20]\n' "$UP" > "$T/u.conf"
t_ctl submit "$T/u.conf" --wait > "$T/out" 2>&1 || t_fail "run as $U: $(cat "$T/out")"
t_assert_eq 20 "$(t_ndjson "$T/state/results/u/1.ndjson" 'len([r for r in d if r.get("status") == 200])')" "results written"
t_assert_eq "$uid" "$(stat -c %u "$T/state/results/u/1.ndjson")" "new results are the user's"
# The daemon's own user may change things (permission model): as the user.
setpriv --reuid="$uid" --regid="$gid" --init-groups \
    "$FETCHCTL" -s "$FETCHD_SOCKET" submit "$T/u.conf" --wait > "$T/out" 2>&1 ||
    t_fail "fetchd's user may submit: $(cat "$T/out")"
t_stop_fetchd

# A state directory the user cannot reach: a clear error at start.
mkdir -m 700 "$T/closed" && mkdir "$T/closed/state"
t_assert_eq 0 "$(stat -c %u "$T/closed")" "closed dir owner"
"$FETCHD" -c "$T/user.conf" --socket "$T/closed.sock" --state-dir "$T/closed/state" > "$T/closed.out" 2>&1
t_assert_eq 1 "$?" "unreachable state dir"
grep -q "user $U cannot use the state directory $T/closed/state" "$T/closed.out" || t_fail "message: $(cat "$T/closed.out")"

# 3. An unknown user: FILE:LINE, exit 1.
printf '[daemon]\n\nuser = no-such-user-%s\n' "$$" > "$T/bad.conf"
"$FETCHD" -c "$T/bad.conf" --socket "$T/bad.sock" --state-dir "$T/bad" > "$T/bad.out" 2>&1
t_assert_eq 1 "$?" "unknown user exit status"
grep -q "^$T/bad.conf:3: user: no such user 'no-such-user-$$'" "$T/bad.out" || t_fail "message: $(cat "$T/bad.out")"

# 4. Not root, user = someone else: refused with a clear message.
mkdir -p "$T/nb" && chown 65534 "$T/nb"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    env XDG_RUNTIME_DIR="$T/nb" "$FETCHD" -c "$T/user.conf" --socket "$T/nb/ctl.sock" \
    --state-dir "$T/nb/state" > "$T/nb.out" 2>&1
t_assert_eq 1 "$?" "non-root with another user"
grep -q "user = $U, but fetchd runs as uid 65534, not as root" "$T/nb.out" || t_fail "message: $(cat "$T/nb.out")"

# 5. Not root, user = who it already is (as under systemd's User=): fine,
# and no warning.
printf '[daemon]\nuser = 65534\n' > "$T/self.conf"	# a number works too
setpriv --reuid=65534 --regid=65534 --clear-groups \
    env XDG_RUNTIME_DIR="$T/nb" "$FETCHD" -c "$T/self.conf" --socket "$T/nb/ctl.sock" \
    --state-dir "$T/nb/state" > "$T/self.log" 2>&1 &
self=$!
t_track "$self" fetchd-as-nobody
t_wait_until "'$FETCHCTL' -s '$T/nb/ctl.sock' ping" 5 || t_fail "fetchd as nobody with user = nobody: $(cat "$T/self.log")"
t_stop "$self"
grep -q "privileges fetchd does not need\|running as user" "$T/self.log" && t_fail "$(cat "$T/self.log")"
t_pass
