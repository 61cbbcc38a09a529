#!/usr/bin/env bash
# tests/systemd/sd-ns.sh: boot systemd as PID 1 of private PID, mount and
# UTS namespaces, on a private minimal unit set, so that tests can run
# `systemctl start fetchd` and `journalctl -u fetchd` for real on a
# machine whose PID 1 is not systemd.  Root only; boots in well under 1 s.
# (After ../shared/reference/sd-ns.sh, whose fences are all kept here.)
#
#   sd-ns.sh start DIR        boot; DIR/units/ may already hold units
#   sd-ns.sh run DIR CMD...   run CMD inside (systemctl, journalctl ...)
#   sd-ns.sh stop DIR         `systemctl exit`, SIGKILL to the namespace's
#                             PID 1 after 10 s; removes its cgroups
#
# Exit status of start: 0 booted, 1 it could not boot (DIR/boot.log and
# DIR/console.log tell why), 2 usage.
#
# Fences that keep the host untouched:
# - SYSTEMD_UNIT_PATH holds only DIR/units: a copied minimal set (targets,
#   journald and its sockets, systemd-exit/halt/poweroff), so no host unit
#   (nginx, tmpfiles, sysctl, tmp.mount ...) starts;
# - /sys/fs/cgroup is a tmpfs of the namespace's own with the host's
#   hierarchies mounted again, and systemd's part of them is a sub-cgroup
#   fetchd-sdns-NAME (PID 1 remounts /sys/fs/cgroup read-only otherwise);
# - /proc/sys is read-only inside (PID 1 writes core_pattern, nr_open);
# - /run, /var/log/journal, /dev/console (-> DIR/console.log) and the
#   hostname are private; journald logs to the console, not /dev/kmsg;
# - /etc and /var are copy-on-write overlays whose upper layers are in
#   DIR: users made by systemd-sysusers, ConfigurationDirectory= and
#   StateDirectory= stay in the namespace.
# The network is the host's: servers on 127.0.0.1 are reachable.
set -eu
cmd=${1:-}; D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || { sed -n '7,14p' "$0"; exit 2; }
mkdir -p "$D"; D=$(cd "$D" && pwd)
CG=fetchd-sdns-$(basename "$D")

pid1() { # host PID of the namespace's PID 1 (the child of unshare --fork)
	local u; u=$(cat "$D/unshare.pid" 2>/dev/null) || return 1
	cat "/proc/$u/task/$u/children" 2>/dev/null | awk '{ print $1 }'
}
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }

units() {
	mkdir -p "$D/units/sockets.target.wants" "$D/units/sysinit.target.wants"
	for u in sysinit.target basic.target sockets.target paths.target \
	    timers.target slices.target local-fs.target local-fs-pre.target \
	    swap.target shutdown.target umount.target final.target \
	    exit.target halt.target poweroff.target multi-user.target \
	    network.target network-online.target nss-lookup.target \
	    remote-fs.target time-sync.target systemd-exit.service \
	    systemd-halt.service systemd-poweroff.service \
	    systemd-journald.service systemd-journald.socket \
	    systemd-journald-dev-log.socket; do
		[ -e "$D/units/$u" ] || cp "/lib/systemd/system/$u" "$D/units/"
	done
	ln -sfn ../systemd-journald.socket "$D/units/sockets.target.wants/"
	ln -sfn ../systemd-journald-dev-log.socket "$D/units/sockets.target.wants/"
	ln -sfn ../systemd-journald.service "$D/units/sysinit.target.wants/"
	mkdir -p "$D/units/systemd-journald.service.d"
	printf '[Service]\nEnvironment=SYSTEMD_LOG_TARGET=console\n' \
	    > "$D/units/systemd-journald.service.d/sandbox.conf"
	cat > "$D/units/sandbox.target" <<-EOF
	[Unit]
	Description=sandbox boot target
	Requires=basic.target
	After=basic.target
	EOF
}

start() {
	local p

	if p=$(pid1) && [ -n "$p" ]; then
		echo "already running: pid1=$p" >&2; exit 1
	fi
	units
	for h in systemd unified; do
		[ -d "/sys/fs/cgroup/$h" ] && mkdir -p "/sys/fs/cgroup/$h/$CG"
	done
	mkdir -p "$D/etc.up" "$D/etc.work" "$D/var.up" "$D/var.work"
	export D CG
	: > "$D/console.log"
	unshare --pid --fork --mount --uts --propagation private --mount-proc bash -c '
		set -e
		cgm=$(grep -E "^[^ ]+ /sys/fs/cgroup/[^ ]+ cgroup2? " /proc/mounts)
		mount -t tmpfs -o mode=755 sandbox-cgroup /sys/fs/cgroup
		echo "$cgm" | while read -r src dst type opts _; do
			mkdir -p "$dst"; mount -t "$type" -o "$opts" "$src" "$dst"
		done
		for h in systemd unified; do
			[ -d /sys/fs/cgroup/$h/$CG ] &&
			    echo $$ > /sys/fs/cgroup/$h/$CG/cgroup.procs
		done
		mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
		mount -t overlay sandbox-etc -o lowerdir=/etc,upperdir=$D/etc.up,workdir=$D/etc.work /etc
		mount -t overlay sandbox-var -o lowerdir=/var,upperdir=$D/var.up,workdir=$D/var.work /var
		mount -t tmpfs tmpfs /var/log/journal
		mount -t tmpfs -o mode=755 sandbox-run /run
		mount --bind "$D/console.log" /dev/console
		hostname fetchd-sandbox
		exec env -i container=sandbox SYSTEMD_UNIT_PATH=$D/units \
		    /lib/systemd/systemd --system --unit=sandbox.target \
		    --log-target=journal --show-status=no
	' > "$D/boot.log" 2>&1 < /dev/null &
	echo $! > "$D/unshare.pid"
	for _ in $(seq 100); do
		p=$(pid1) && [ -n "$p" ] && nsenter -t "$p" -m -p \
		    systemctl is-system-running >/dev/null 2>&1 && break
		sleep 0.1
	done
	p=$(pid1) || true
	if [ -z "$p" ] || ! nsenter -t "$p" -m -p systemctl is-system-running \
	    >/dev/null 2>&1; then
		echo "boot failed:" >&2; cat "$D/boot.log" "$D/console.log" >&2
		stop >/dev/null
		exit 1
	fi
	echo "pid1=$p state=$(nsenter -t "$p" -m -p systemctl is-system-running 2>&1)"
}

stop() {
	local p u

	p=$(pid1) || true
	u=$(cat "$D/unshare.pid" 2>/dev/null || true)
	if [ -n "$p" ]; then
		nsenter -t "$p" -m -p systemctl exit >/dev/null 2>&1 || true
		for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
		if alive "$p"; then
			echo "PID 1 $p still there after 10 s: SIGKILL" >&2
			kill -KILL "$p"
		fi
	fi
	[ -n "$u" ] && for _ in $(seq 50); do alive "$u" || break; sleep 0.1; done
	for h in systemd unified; do
		[ -d "/sys/fs/cgroup/$h/$CG" ] &&
		    find "/sys/fs/cgroup/$h/$CG" -depth -type d \
		    -exec rmdir {} \; 2>/dev/null
	done
	rm -f "$D/unshare.pid"
	echo stopped
}

case $cmd in
start)	start ;;
run)
	shift 2
	p=$(pid1) || { echo "not running" >&2; exit 1; }
	exec nsenter -t "$p" -m -u -p --wd="$PWD" "$@"
	;;
stop)	stop ;;
*)	sed -n '7,14p' "$0"; exit 2 ;;
esac
