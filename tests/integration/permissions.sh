#!/usr/bin/env bash
# Who may do what, by the peer's credentials (SO_PEERCRED): a user of the
# socket's group may read (status, results) but not change (submit,
# cancel) - permission_denied, and a notice naming the uid - unless it is
# in admin-group; root may do everything.  A user outside the socket's
# group (mode 0660) cannot connect at all, and fetchctl says why.
. "$(dirname "$0")/../lib.sh"
t_init permissions
[ "$(id -u)" = 0 ] || t_skip "needs root to act as another user"
command -v setpriv > /dev/null || t_skip "setpriv (util-linux) is missing"
t_upstream
chmod 755 "$T"
printf '[job p]\nurl = %s/p/[1-3]\n' "$UP" > "$T/p.conf"
chmod 644 "$T/p.conf"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$FETCHCTL" -s "$FETCHD_SOCKET" "$@"
}
printf '[daemon]\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf"
chgrp 65534 "$FETCHD_SOCKET"
t_ctl submit "$T/p.conf" --wait > /dev/null || t_fail "root may submit"
as_nobody status p > "$T/out" 2>&1 || t_fail "a group member may read: $(cat "$T/out")"
as_nobody results p > /dev/null 2>&1 || t_fail "a group member may read results"
as_nobody submit "$T/p.conf" > "$T/out" 2>&1
[ $? -eq 2 ] || t_fail "nobody could submit: $(cat "$T/out")"
grep -q "permission denied" "$T/out" || t_fail "message: $(cat "$T/out")"
as_nobody cancel p > "$T/out" 2>&1; [ $? -eq 2 ] || t_fail "nobody could cancel"
grep -q "uid 65534 may not use 'submit'" "$T/fetchd.log" || t_fail "no notice naming the uid"

# Not in the socket's group: no connection at all, not even ping.
t_assert_eq 660 "$(stat -c %a "$FETCHD_SOCKET")" "socket mode"
setpriv --reuid=65534 --regid=1 --clear-groups \
    "$FETCHCTL" -s "$FETCHD_SOCKET" ping > "$T/out" 2>&1
[ $? -eq 2 ] || t_fail "a non-member could connect: $(cat "$T/out")"
grep -q "permission denied on $FETCHD_SOCKET: join the socket's group" "$T/out" ||
    t_fail "message: $(cat "$T/out")"
setpriv --reuid=65534 --regid=1 --clear-groups \
    "$FETCHCTL" -s "$FETCHD_SOCKET" status > "$T/out" 2>&1
[ $? -eq 2 ] || t_fail "a non-member could read status"
t_stop_fetchd

# With admin-group, its members may change things too.
printf '[daemon]\nadmin-group = nogroup\n' > "$T/d.conf"
t_fetchd -c "$T/d.conf"
chgrp 65534 "$FETCHD_SOCKET"
as_nobody submit "$T/p.conf" --wait > "$T/out" 2>&1 || t_fail "admin-group member: $(cat "$T/out")"
# A reload that drops admin-group takes the right away at once, and one
# that sets it again gives it back.
printf '[daemon]\n' > "$T/d.conf"
t_ctl reload > /dev/null || t_fail "reload"
as_nobody submit "$T/p.conf" > "$T/out" 2>&1
[ $? -eq 2 ] || t_fail "admin-group removed by reload, but nobody could still submit"
printf '[daemon]\nadmin-group = nogroup\n' > "$T/d.conf"
t_ctl reload > /dev/null || t_fail "reload"
as_nobody submit "$T/p.conf" > "$T/out" 2>&1 || t_fail "admin-group set by reload: $(cat "$T/out")"
t_stop_fetchd
t_pass
