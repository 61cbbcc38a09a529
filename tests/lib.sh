# tests/lib.sh: shared helpers for fetchd's integration tests (bash).
#
# A test script sources this file, calls t_init NAME, starts what it needs
# (t_upstream, t_nginx, t_fetchd), checks, and ends with t_pass.  Exit
# status follows automake: 0 pass, 1 fail, 77 skip.  Each test gets its own
# directory $T under ${TMPDIR:-/tmp}, removed at exit (kept with T_KEEP=1,
# and the tails of its logs are printed when a test fails).  Every process
# a helper starts is recorded by PID and stopped by that PID at exit; the
# helpers never signal anything they did not start, never use pkill or
# killall, never touch system services and talk only to 127.0.0.1.
#
# Call the t_* starters directly, not inside $(...) or a pipeline: a
# subshell would record the PIDs (and the trap) in a copy that is lost.
#
#   t_init NAME             temp dir $T, cleanup trap, paths, hermetic env
#   t_upstream [ARGS]       our fault-injecting upstream: UP, UP_PORT, UP_PID
#   t_nginx                 nginx: NGX, NGXS, NGX_CA, NGX_PID, NGX_HAS_ECHO,
#                           NGX_ACCESS_LOG
#   t_fetchd [ARGS]         fetchd in the foreground: FETCHD_PID, FETCHD_SOCKET
#   t_ctl ARGS              fetchctl -s $FETCHD_SOCKET ARGS
#   t_stop_fetchd           SIGTERM, wait, require exit status 0
#   t_stop PID [STATUS]     the same for any PID a helper started
#   t_get URL               GET an http:// URL with bash alone, print the body
#   t_up_count TARGET       requests our upstream got for TARGET
#   t_up_stat FIELD         one counter of our upstream's /__stats
#   t_up_log TARGET         arrival times (ms) of TARGET's requests, a line each
#   t_up_arrivals PREFIX    arrival times of all requests under PREFIX
#   t_up_gaps               (filter) differences between successive times
#   t_wait_until CMD SECS   poll CMD (a string) until it succeeds or time out
#   t_json FILE EXPR        evaluate a Python expression over JSON `d`
#   t_ndjson FILE EXPR      the same over a list of NDJSON objects `d`
#   t_rss_kb PID            VmRSS of PID in kB
#   t_assert_eq WANT GOT [MSG]  t_assert_match ERE STRING [MSG]
#   t_log MSG   t_fail MSG   t_skip MSG   t_pass
#
# FETCHD_VALGRIND=1 (make check-valgrind) runs fetchd and fetchctl under
# valgrind: see t_valgrind_setup below.

# Sourced by another shell (automake's $(SHELL) may be dash): run the
# whole test again under bash.  The guard runs before any bash syntax.
if [ -z "${BASH_VERSION:-}" ]; then
	if command -v bash >/dev/null 2>&1 && [ -f "$0" ]; then
		exec bash "$0" "$@"
	fi
	echo "tests/lib.sh needs bash" >&2
	exit 99
fi

T_NAME=
T=
T_PIDS=()		# PIDs we started, in start order
T_PARENTS=()		# the shell that started each ($BASHPID)
T_WHAT=()		# what each one is, for messages

# --- reporting ---------------------------------------------------------

t_log()
{
	printf '%s: %s\n' "${T_NAME:-test}" "$*" >&2
}

t_fail()
{
	printf 'FAIL: %s: %s\n' "${T_NAME:-test}" "$*" >&2
	exit 1
}

t_skip()
{
	printf 'SKIP: %s: %s\n' "${T_NAME:-test}" "$*" >&2
	exit 77
}

t_pass()
{
	printf 'PASS: %s\n' "${T_NAME:-test}" >&2
	exit 0
}

t_assert_eq()
{
	[ "$1" = "$2" ] ||
	    t_fail "${3:-assertion}: expected '$1', got '$2'"
}

# ERE match, as bash's [[ =~ ]].
t_assert_match()
{
	[[ $2 =~ $1 ]] ||
	    t_fail "${3:-assertion}: '$2' does not match /$1/"
}

# --- process bookkeeping -----------------------------------------------

t_track()
{
	T_PIDS+=("$1")
	T_PARENTS+=("$BASHPID")
	T_WHAT+=("$2")
}

t_untrack()
{
	local i

	for i in "${!T_PIDS[@]}"; do
		if [ "${T_PIDS[$i]}" = "$1" ]; then
			unset 'T_PIDS[i]' 'T_PARENTS[i]' 'T_WHAT[i]'
		fi
	done
}

# "STATE PPID" of a live process, from /proc/PID/stat; fails if gone.
t_proc_state()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }		# what follows "PID (comm) "
	printf '%s\n' "${stat% "${stat#* * }"}"
}

# Running (not a zombie)?
t_alive()
{
	local st

	st=$(t_proc_state "$1") && [ "${st%% *}" != Z ]
}

# Running and still the child of the shell that started it?  This keeps
# cleanup from ever signalling a recycled PID.
t_is_ours()
{
	local st

	st=$(t_proc_state "$1") && [ "${st%% *}" != Z ] &&
	    [ "${st#* }" = "$2" ]
}

# Stops every recorded process, newest first: SIGTERM, up to 5 s, SIGKILL.
t_stop_all()
{
	local idx i j= n

	idx=("${!T_PIDS[@]}")
	for ((i = ${#idx[@]} - 1; i >= 0; i--)); do
		j=${idx[i]}
		t_is_ours "${T_PIDS[j]}" "${T_PARENTS[j]}" &&
		    kill -TERM "${T_PIDS[j]}" 2>/dev/null
	done
	for ((n = 0; n < 50; n++)); do
		for j in "${idx[@]}"; do
			t_is_ours "${T_PIDS[j]}" "${T_PARENTS[j]}" && break
			j=
		done
		[ -z "$j" ] && break
		sleep 0.1
	done
	for j in "${idx[@]}"; do
		if t_is_ours "${T_PIDS[j]}" "${T_PARENTS[j]}"; then
			t_log "${T_WHAT[j]} (pid ${T_PIDS[j]})" \
			    "ignored SIGTERM, killing it"
			kill -KILL "${T_PIDS[j]}" 2>/dev/null
		fi
		wait "${T_PIDS[j]}" 2>/dev/null
	done
	T_PIDS=() T_PARENTS=() T_WHAT=()
}

t_cleanup()
{
	local rc=$? f

	set +eu				# whatever the test script set
	trap - EXIT INT TERM HUP
	t_stop_all
	if [ "${FETCHD_VALGRIND:-0}" = 1 ] && [ -d "$T/vg" ] &&
	    ! t_valgrind_check && [ "$rc" -eq 0 ]; then
		rc=1
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
			for f in "$T"/*.log; do
				[ -s "$f" ] || continue
				printf -- '--- %s (last 25 lines)\n' "$f" >&2
				tail -n 25 "$f" >&2
			done
		fi
		if [ "${T_KEEP:-0}" = 1 ]; then
			t_log "kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# --- setup ---------------------------------------------------------------

t_init()
{
	local here base

	T_NAME=${1:?t_init NAME}
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	: "${top_srcdir:=$(dirname "$here")}"
	: "${top_builddir:=$top_srcdir}"
	export top_srcdir top_builddir
	FETCHD=$top_builddir/daemon/fetchd
	FETCHCTL=$top_builddir/client/fetchctl
	UPSTREAM=$top_builddir/tests/upstream/upstream
	T_PYTHON=${T_PYTHON:-/usr/bin/python3}
	[ -x "$T_PYTHON" ] || T_PYTHON=$(command -v python3 || echo python3)

	base=${TMPDIR:-/tmp}
	# A control socket path must fit in sun_path (108 bytes).
	[ ${#base} -gt 60 ] && base=/tmp
	T=$(mktemp -d "$base/fetchd-$T_NAME.XXXXXX") ||
	    t_fail "cannot create a temp dir under $base"
	trap t_cleanup EXIT
	trap 'exit 1' INT TERM HUP

	# Hermetic: no proxies, no systemd handshakes, no user state.
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY \
	    all_proxy NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES \
	    WATCHDOG_USEC WATCHDOG_PID JOURNAL_STREAM FETCHD_SOCKET
	export NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1
	export XDG_RUNTIME_DIR=$T/run XDG_STATE_HOME=$T/xdg-state
	mkdir -p "$T/run" "$T/xdg-state"
	chmod 700 "$T/run"
	if [ "${FETCHD_VALGRIND:-0}" = 1 ]; then
		t_valgrind_setup
	fi
}

# --- valgrind (make check-valgrind) ---------------------------------------

# With FETCHD_VALGRIND=1, $FETCHD and $FETCHCTL become wrappers that exec
# the real binaries under valgrind (same PID, so tracking and signals work),
# one log per process in $T/vg/; at exit any error or definite leak in
# those logs fails the test (t_valgrind_check).  Waits are stretched 5x.
# Tests that cannot run under valgrind skip here, each with its reason.
t_valgrind_setup()
{
	local why= b real

	case $T_NAME in
	valgrind)	why="it runs fetchd under valgrind itself" ;;
	memory|bigglob)	why="it bounds RSS; valgrind's own memory is counted" ;;
	crash)		why="it SIGKILLs fetchd on purpose (no exit, no leak check)" ;;
	sd_service)	why="systemd starts a copy of the binary, not the wrapper" ;;
	headline|status_latency)
			why="it asserts timings valgrind is 20-50x too slow for" ;;
	cancel)		why="it catches 10 transfers in flight at one moment" ;;
	sd_notify)	why="it times watchdog pings (200 ms apart, +-100 ms)" ;;
	sd_socket)	why="it checks the image systemd-socket-activate exec'd" ;;
	cli)		why="it cancels a 400-URL run it expects still running" ;;
	limits)		why="it races a small job against a 400-URL one" ;;
	politeness|policy|periodic)
			why="its outcome depends on rates, deadlines or periods" ;;
	esac
	[ -z "$why" ] || t_skip "not under valgrind: $why"
	command -v valgrind >/dev/null || t_skip "valgrind is not installed"
	ldd "$FETCHD" 2>/dev/null | grep -Eq "lib(asan|tsan)" &&
	    t_skip "sanitizer build: valgrind cannot run it"
	mkdir -p "$T/vg" "$T/vgbin"
	# permissions.sh runs fetchctl as other users: they log here too.
	chmod 1777 "$T/vg"
	for b in fetchd fetchctl; do
		if [ $b = fetchd ]; then real=$FETCHD; else real=$FETCHCTL; fi
		printf '#!/bin/sh\nexec valgrind --leak-check=full %s \\\n    %s \\\n    --log-file=%s %s "$@"\n' \
		    "--show-leak-kinds=definite --errors-for-leak-kinds=definite" \
		    "--error-exitcode=1 --num-callers=30" \
		    "'$T/vg/$b.%p.log'" "'$real'" >"$T/vgbin/$b"
		chmod +x "$T/vgbin/$b"
	done
	FETCHD=$T/vgbin/fetchd
	FETCHCTL=$T/vgbin/fetchctl
}

# Every valgrind log of the test: 0 errors (definite leaks count as
# errors).  A log without a summary is a process killed with SIGKILL.
t_valgrind_check()
{
	local f n=0 bad=0 cut=0

	for f in "$T"/vg/*.log; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		if ! grep -q 'ERROR SUMMARY:' "$f"; then
			cut=$((cut + 1))
		elif ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
			bad=$((bad + 1))
			printf -- '--- valgrind: %s\n' "$f" >&2
			grep -v '^==[0-9]*== *$' "$f" | head -n 80 >&2
		fi
	done
	printf 'valgrind: %s: %d processes, %d with errors, %d killed\n' \
	    "$T_NAME" "$n" "$bad" "$cut" >&2
	[ "$bad" -eq 0 ]
}

# t_wait_until CMD SECS: runs CMD (eval'd) every 50 ms; 0 once it succeeds,
# 1 after SECS (fractions allowed).
t_wait_until()
{
	local cmd=$1 secs=${2:-5} end now whole

	whole=${secs%.*}
	[ "${FETCHD_VALGRIND:-0}" = 1 ] && whole=$(( (${whole:-0} + 1) * 5 ))
	end=$(( $(date +%s%N) + ${whole:-0} * 1000000000 ))
	case $secs in
	*.*)	now=${secs#*.}000000000
		end=$((end + 10#${now:0:9})) ;;
	esac
	while :; do
		eval "$cmd" >/dev/null 2>&1 && return 0
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

# Does something accept TCP connections on 127.0.0.1:PORT?
t_port_open()
{
	(exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# A port that was free a moment ago (the caller retries on EADDRINUSE).
t_free_port()
{
	"$T_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 40000))
}

# t_get URL: a GET over bash's /dev/tcp (HTTP/1.0, so the server closes);
# prints the body, returns 0 for a 2xx status.
t_get()
{
	local url=$1 rest hostport host port path resp status fd

	rest=${url#http://}
	[ "$rest" != "$url" ] || { t_log "t_get: only http:// URLs"; return 2; }
	hostport=${rest%%/*}
	path=/${rest#"$hostport"}
	path=${path#//}
	[ "${path:0:1}" = / ] || path=/$path
	case $hostport in
	\[*\]:*) host=${hostport%%]*} host=${host#[} port=${hostport##*]:} ;;
	\[*\]) host=${hostport#[} host=${host%]} port=80 ;;
	*:*)	host=${hostport%:*} port=${hostport##*:} ;;
	*)	host=$hostport port=80 ;;
	esac
	{ exec {fd}<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 2
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&$fd
	resp=$(cat <&$fd)
	exec {fd}>&-
	status=${resp#HTTP/1.? }
	status=${status:0:3}
	printf '%s\n' "${resp#*$'\r\n\r\n'}"
	[ "${status:0:1}" = 2 ]
}

# --- our upstream ----------------------------------------------------------

# t_upstream [ARGS]: starts tests/upstream/upstream on an ephemeral port.
# ARGS go to upstream (e.g. -l 127.0.0.2, -k 100); a second call starts a
# second instance and overwrites UP, UP_PORT, UP_PID (save them first).
t_upstream()
{
	local addr=127.0.0.1 pf a prev=

	[ -x "$UPSTREAM" ] || t_fail "no $UPSTREAM (run make check, or" \
	    "make tests/upstream/upstream)"
	for a in "$@"; do
		[ "$prev" = -l ] && addr=$a
		prev=$a
	done
	T_UP_N=$(( ${T_UP_N:-0} + 1 ))
	pf=$T/upstream.$T_UP_N.port
	"$UPSTREAM" -p 0 -P "$pf" "$@" >>"$T/upstream.log" 2>&1 &
	UP_PID=$!
	t_track "$UP_PID" upstream
	t_wait_until "[ -s '$pf' ]" 5 ||
	    t_fail "upstream did not write its port file"
	UP_PORT=$(cat "$pf")
	case $addr in
	*:*)	UP=http://[$addr]:$UP_PORT ;;
	*)	UP=http://$addr:$UP_PORT ;;
	esac
	t_wait_until "t_get $UP/__stats" 5 ||
	    t_fail "upstream at $UP does not answer"
	t_get "$UP/__reset" >/dev/null	# counters start at zero
	export UP UP_PORT UP_PID
}

# t_up_count TARGET: how many requests the upstream got for TARGET (path
# and query exactly as requested, e.g. /item/3?fail=2).
t_up_count()
{
	local key=$1

	key=${key//%/%25}
	key=${key//&/%26}
	key=${key//\?/%3F}
	key=${key//#/%23}
	key=${key// /%20}
	t_get "$UP/__count?key=$key" | sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}

# t_up_stat FIELD: requests, connections, max_concurrent, open, inflight...
t_up_stat()
{
	t_get "$UP/__stats" | sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p"
}

# t_up_urlenc STRING: STRING with the characters that matter in a query
# value %-escaped (as t_up_count does).
t_up_urlenc()
{
	local s=$1

	s=${s//%/%25}
	s=${s//&/%26}
	s=${s//\?/%3F}
	s=${s//#/%23}
	s=${s// /%20}
	printf '%s\n' "$s"
}

# The "t_ms" array of an upstream reply on stdin, one time per line.
t_up_times()
{
	sed -n 's/.*"t_ms":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | sed '/^$/d'
}

# t_up_log TARGET: when each request for TARGET arrived, in milliseconds
# since the upstream started, oldest first, one per line (the first 1000).
t_up_log()
{
	t_get "$UP/__log?key=$(t_up_urlenc "$1")" | t_up_times
}

# t_up_arrivals PREFIX: the same for every request whose target starts
# with PREFIX (e.g. /r/), from the upstream's ring of the last 100,000.
t_up_arrivals()
{
	t_get "$UP/__arrivals?prefix=$(t_up_urlenc "$1")" | t_up_times
}

# t_up_gaps: reads times, one per line, prints the gaps between them.
t_up_gaps()
{
	awk 'NR > 1 { printf "%.3f\n", $1 - prev } { prev = $1 }'
}

# --- nginx -----------------------------------------------------------------

# A throw-away CA and a server certificate for localhost/127.0.0.1/::1.
t_make_certs()
{
	local d=$1

	command -v openssl >/dev/null || t_skip "openssl is not installed"
	openssl req -x509 -new -newkey ec \
	    -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
	    -subj "/CN=fetchd test CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" \
	    >>"$T/openssl.log" 2>&1 || t_fail "openssl: CA"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$d/server.key" -out "$d/server.csr" \
	    -subj "/CN=localhost" >>"$T/openssl.log" 2>&1 ||
	    t_fail "openssl: server key"
	cat >"$d/server.ext" <<-EOF
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
	EOF
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
	    -CAkey "$d/ca.key" -CAcreateserial -days 2 \
	    -extfile "$d/server.ext" -out "$d/server.pem" \
	    >>"$T/openssl.log" 2>&1 || t_fail "openssl: server certificate"
}

t_nginx_conf()
{
	local d=$1 p1=$2 p2=$3 echo_mod=$4 nofile access=off

	nofile=$(ulimit -Hn)		# raising past the hard limit fails
	case $nofile in
	unlimited) nofile=65536 ;;
	*)	[ "$nofile" -le 65536 ] || nofile=65536 ;;
	esac
	# One line per request, unbuffered, so a test can read it at once.
	[ -n "$NGX_ACCESS_LOG" ] && access="$NGX_ACCESS_LOG t_conn"
	{
		[ -n "$echo_mod" ] && echo "load_module $echo_mod;"
		# As root the workers would become nobody, who cannot read $T.
		[ "$(id -u)" = 0 ] && echo "user $(id -un) $(id -gn);"
		cat <<-EOF
		worker_processes 1;
		worker_rlimit_nofile $nofile;
		daemon off;
		master_process on;
		pid $d/nginx.pid;
		error_log $T/nginx.log warn;
		events { worker_connections $((nofile / 2)); }
		http {
		    log_format t_conn '\$connection \$server_protocol \$scheme '
		        '\$status \$request_uri';
		    access_log $access;
		    default_type application/json;
		    client_body_temp_path $d/tmp/body;
		    proxy_temp_path $d/tmp/proxy;
		    fastcgi_temp_path $d/tmp/fastcgi;
		    uwsgi_temp_path $d/tmp/uwsgi;
		    scgi_temp_path $d/tmp/scgi;
		    keepalive_requests 1000000;
		    keepalive_timeout 75s;
		    map \$arg_s \$t_sleep { "" 0.1; default \$arg_s; }
		    server {
		        listen 127.0.0.1:$p1;
		        listen 127.0.0.1:$p2 ssl http2;
		        server_name localhost 127.0.0.1;
		        ssl_certificate $d/server.pem;
		        ssl_certificate_key $d/server.key;
		        location /json/ {
		            return 200 '{"ok":true,"uri":"\$uri"}\n';
		        }
		        location = /503 {
		            add_header Retry-After 1 always;
		            return 503 '{"status":503}\n';
		        }
		        location = /429 {
		            add_header Retry-After 1 always;
		            return 429 '{"status":429}\n';
		        }
		EOF
		if [ -n "$echo_mod" ]; then
			cat <<-EOF
		        location /delay/ {
		            echo_sleep \$t_sleep;
		            echo '{"ok":true,"uri":"\$uri"}';
		        }
			EOF
		fi
		cat <<-EOF
		        location / {
		            return 404 '{"status":404}\n';
		        }
		    }
		}
		EOF
	} >"$d/nginx.conf"
}

# t_nginx: Debian's nginx from $T/nginx with its own config, listening on
# 127.0.0.1: plain HTTP/1.1 keep-alive at $NGX and HTTPS + HTTP/2 at $NGXS
# (trust $NGX_CA).  Locations: /json/ (small JSON), /503 and /429 (with
# Retry-After: 1), /delay/...?s=SECONDS (default 0.1; only when the echo
# module is installed: NGX_HAS_ECHO=1), everything else 404.
# $NGX_ACCESS_LOG gets one line per request: "$connection $server_protocol
# $scheme $status $request_uri" (connection reuse, h1 vs h2); benchmarks
# can turn it off with T_NGX_ACCESS_LOG=0 (NGX_ACCESS_LOG is then empty).
t_nginx()
{
	local nginx d echo_mod= p1 p2 try

	nginx=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$nginx" ] || t_skip "nginx is not installed"
	d=$T/nginx
	mkdir -p "$d/tmp"
	t_make_certs "$d"
	for echo_mod in /usr/lib/nginx/modules/ngx_http_echo_module.so ""; do
		[ -z "$echo_mod" ] || [ -f "$echo_mod" ] && break
	done
	NGX_HAS_ECHO=0
	[ -n "$echo_mod" ] && NGX_HAS_ECHO=1
	NGX_ACCESS_LOG=$T/nginx.access.log
	[ "${T_NGX_ACCESS_LOG:-1}" = 0 ] && NGX_ACCESS_LOG=

	for try in 1 2 3 4 5; do
		p1=$(t_free_port)
		p2=$(t_free_port)
		[ "$p1" != "$p2" ] || continue
		t_nginx_conf "$d" "$p1" "$p2" "$echo_mod"
		: >"$T/nginx.log"
		"$nginx" -c "$d/nginx.conf" -p "$d" -e "$T/nginx.log" \
		    >>"$T/nginx.log" 2>&1 &
		NGX_PID=$!
		t_track "$NGX_PID" nginx
		if t_wait_until "! t_alive $NGX_PID || (t_port_open $p1 &&
		    t_port_open $p2)" 5 && t_alive "$NGX_PID"; then
			NGX=http://127.0.0.1:$p1
			NGXS=https://127.0.0.1:$p2
			NGX_CA=$d/ca.pem
			export NGX NGXS NGX_CA NGX_PID NGX_HAS_ECHO \
			    NGX_ACCESS_LOG
			return 0
		fi
		wait "$NGX_PID" 2>/dev/null
		t_untrack "$NGX_PID"
		grep -q "Address already in use" "$T/nginx.log" ||
		    t_fail "nginx did not start"
	done
	t_fail "nginx: no free ports after 5 tries"
}

# --- fetchd ----------------------------------------------------------------

# t_fetchd [ARGS]: fetchd in the foreground (backgrounded by us) with a
# private socket and state dir; ARGS are added (e.g. -c FILE).
t_fetchd()
{
	[ -x "$FETCHD" ] || t_fail "no $FETCHD"
	[ -x "$FETCHCTL" ] || t_fail "no $FETCHCTL"
	FETCHD_SOCKET=$T/ctl.sock
	mkdir -p "$T/state"
	"$FETCHD" --socket "$FETCHD_SOCKET" --state-dir "$T/state" "$@" \
	    >>"$T/fetchd.log" 2>&1 &
	FETCHD_PID=$!
	t_track "$FETCHD_PID" fetchd
	t_wait_until "! t_alive $FETCHD_PID ||
	    '$FETCHCTL' -s '$FETCHD_SOCKET' ping" 5 ||
	    t_fail "fetchd does not answer ping on $FETCHD_SOCKET"
	t_alive "$FETCHD_PID" || t_fail "fetchd exited at start"
	export FETCHD_PID FETCHD_SOCKET
}

t_ctl()
{
	"$FETCHCTL" -s "$FETCHD_SOCKET" "$@"
}

# t_stop PID [STATUS]: SIGTERM a process we started, wait up to 10 s, and
# require its exit status (default 0).
t_stop()
{
	local pid=$1 want=${2:-0} what=process i rc

	for i in "${!T_PIDS[@]}"; do
		[ "${T_PIDS[$i]}" = "$pid" ] && what=${T_WHAT[$i]} && break
	done
	[ "$what" != process ] || t_fail "t_stop: $pid was not started here"
	t_is_ours "$pid" "${T_PARENTS[$i]}" && kill -TERM "$pid"
	t_wait_until "! t_is_ours $pid ${T_PARENTS[$i]}" 10 || {
		kill -KILL "$pid" 2>/dev/null
		t_fail "$what (pid $pid) did not exit within 10 s of SIGTERM"
	}
	wait "$pid" 2>/dev/null
	rc=$?
	t_untrack "$pid"
	[ "$rc" = "$want" ] ||
	    t_fail "$what exited with status $rc, expected $want"
}

t_stop_fetchd()
{
	t_stop "$FETCHD_PID" 0
}

# --- inspection --------------------------------------------------------

t_rss_kb()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# t_assert_peak_rss NAME PID KB: the peak RSS (VmHWM) of PID stays under
# KB.  ASan keeps up to 256 MiB of freed memory in quarantine (TSan has
# its shadow memory), and under valgrind RSS includes valgrind's own
# memory: there only gross growth is checked (1 GiB, 256 MiB).
t_assert_peak_rss()
{
	local name=$1 pid=$2 bound=$3 hwm
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
	echo "$name: peak RSS ${hwm} kB"
	if ldd "$FETCHD" 2>/dev/null | grep -Eq "lib(asan|tsan)"; then
		bound=1048576
	elif [ "${FETCHD_VALGRIND:-0}" = 1 ]; then
		bound=262144
	fi
	[ "$hwm" -lt "$bound" ] || t_fail "$name: peak RSS ${hwm} kB, bound ${bound} kB"
}

# t_json FILE EXPR: EXPR is Python over the parsed JSON `d` (FILE - is
# stdin); strings print bare, everything else as JSON.
t_json()
{
	"$T_PYTHON" -c '
import json, sys
f = sys.stdin if sys.argv[1] == "-" else open(sys.argv[1])
d = json.load(f)
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# t_ndjson FILE EXPR: as t_json, `d` being the list of the file's lines.
t_ndjson()
{
	"$T_PYTHON" -c '
import json, sys
f = sys.stdin if sys.argv[1] == "-" else open(sys.argv[1])
d = [json.loads(l) for l in f if l.strip()]
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# A private tmux server for terminal tests (tmux.sh, scripts/screenshots.sh):
# `tm ARGS` runs tmux on it; it is killed at exit, before t_cleanup stops
# fetchd and the upstream.  Only this server is ever touched.  Returns 1
# when tmux is not installed.
t_tmux_init()
{
	command -v tmux > /dev/null 2>&1 || return 1
	TMUX_SOCK=$T/tmux.sock
	unset TMUX TMUX_PANE
	trap 'rc=$?; tm kill-server > /dev/null 2>&1; (exit $rc); t_cleanup' EXIT
}
tm()
{
	tmux -S "$TMUX_SOCK" -f /dev/null "$@"
}
