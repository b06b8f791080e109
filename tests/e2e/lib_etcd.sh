# lib_etcd.sh - real etcd members (Debian etcd-server 3.4) and the real
# discovery.etcd.io server (Debian etcd-discovery) for end-to-end tests, all
# on 127.0.0.1 with ports below 32768. Source it after lib.sh: it uses $T,
# fail and PIDS_TO_STOP (stopped by lib.sh's cleanup, by PID). Every wait
# is bounded.
# shellcheck shell=bash disable=SC2034 # the variables set here are for the sourcing test

ETCD_BIN=${ETCD_BIN:-etcd}
ETCDCTL_BIN=${ETCDCTL_BIN:-etcdctl}
DISCOVERY_BIN=${DISCOVERY_BIN:-discovery.etcd.io}
declare -A ETCD_PID=()   # member name -> PID of its etcd
declare -A ETCD_RC=()    # member name -> exit status once it has exited
declare -A ETCD_CLIENT=() # member name -> its client URL
declare -A ETCD_ARGS=()   # member name -> "DATADIR CLIENT_PORT PEER_PORT DISCOVERY_URL" (for etcd_restart)
UPSTREAM_URL=""          # base URL of the discovery.etcd.io started by upstream_start
UPSTREAM_PID=""
UPSTREAM_ETCD_PID=""
UPSTREAM_ETCD_PORT=""

# need_tools CMD... - the test needs these (Debian: etcd-server etcd-client
# etcd-discovery curl jq iproute2): a missing one is a FAIL under CI=true,
# and a SKIP of the rest of the test otherwise (report.sh's require_tool).
need_tools() { require_tool "$@"; }

# port_in_use PORT - true when any TCP socket (listening, connected or in
# TIME-WAIT) on this machine uses PORT locally.
port_in_use() {
	[ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
}

# free_port - prints a TCP port in 20000..31999 that no socket uses (checked
# with ss) and that this test has not handed out before (it may run in a
# subshell: the ports given are kept in $T/ports).
free_port() {
	local p i
	for i in $(seq 1 500); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		grep -qx "$p" "$T/ports" 2>/dev/null && continue
		port_in_use "$p" && continue
		echo "$p" >>"$T/ports"
		echo "$p"
		return 0
	done
	echo "free_port: no free port found" >&2
	return 1
}

# etcd_member NAME DATADIR CLIENT_PORT PEER_PORT DISCOVERY_URL [FLAG...] -
# starts an etcd member on 127.0.0.1 in the background, logging to
# $T/etcd-NAME.log (an earlier run's log moves to $T/etcd-NAME.old.log).
# Sets ETCD_PID[NAME] and ETCD_CLIENT[NAME]; the PID is stopped at cleanup.
# An empty DISCOVERY_URL starts it without --discovery. Paths and URLs must
# not hold spaces.
etcd_member() {
	local name=$1 dir=$2 cport=$3 pport=$4 disc=$5
	shift 5
	local log="$T/etcd-$name.log" client="http://127.0.0.1:$cport" peer="http://127.0.0.1:$pport"
	[ -f "$log" ] && cat "$log" >>"$T/etcd-$name.old.log"
	local dflag=()
	[ -n "$disc" ] && dflag=(--discovery "$disc")
	"$ETCD_BIN" --name "$name" --data-dir "$dir" \
		--listen-client-urls "$client" --advertise-client-urls "$client" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		"${dflag[@]}" "$@" >"$log" 2>&1 &
	ETCD_PID[$name]=$!
	ETCD_CLIENT[$name]=$client
	ETCD_ARGS[$name]="$dir $cport $pport $disc"
	unset "ETCD_RC[$name]"
	PIDS_TO_STOP+=("$!")
}

# etcd_restart NAME [FLAG...] - starts NAME again (after it stopped) with the
# data dir, ports and discovery URL of its last etcd_member.
etcd_restart() {
	local name=$1
	shift
	# shellcheck disable=SC2086 # ETCD_ARGS holds four words
	etcd_member "$name" ${ETCD_ARGS[$name]} "$@"
}

# etcd_running NAME - true while the member's process is alive.
etcd_running() {
	local pid=${ETCD_PID[$1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# etcd_wait_exit NAME TIMEOUT_S - waits for the member to exit by itself;
# true when it did, with its exit status in ETCD_RC[NAME].
etcd_wait_exit() {
	local name=$1 timeout=$2 pid=${ETCD_PID[$1]:-} i rc=0
	[ -n "$pid" ] || return 1
	for i in $(seq 1 $((timeout * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid" 2>/dev/null || rc=$?
	ETCD_RC[$name]=$rc
	ETCD_PID[$name]=""
	return 0
}

# etcd_stop NAME - SIGTERM, up to 10 s, then SIGKILL; waits for the process.
etcd_stop() {
	local name=$1 pid=${ETCD_PID[$1]:-} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	ETCD_PID[$name]=""
}

# etcd_log_has NAME PATTERN [TIMEOUT_S] - waits (default 0 s) until the
# member's log matches the extended regular expression PATTERN.
etcd_log_has() {
	local log="$T/etcd-$1.log" pat=$2 timeout=${3:-0} i
	for i in $(seq 0 $((timeout * 10))); do
		grep -qE -- "$pat" "$log" 2>/dev/null && return 0
		[ "$i" -lt $((timeout * 10)) ] && sleep 0.1
	done
	return 1
}

# etcd_wait_healthy ENDPOINTS TIMEOUT_S - waits until every endpoint
# (comma-separated client URLs) reports healthy through etcdctl.
etcd_wait_healthy() {
	local eps=$1 timeout=$2 end=$((SECONDS + $2))
	while [ "$SECONDS" -le "$end" ]; do
		ETCDCTL_API=3 timeout 5 "$ETCDCTL_BIN" --endpoints="$eps" --dial-timeout=1s \
			--command-timeout=2s endpoint health >/dev/null 2>&1 && return 0
		sleep 0.3
	done
	echo "etcd endpoints $eps not healthy after ${timeout}s" >&2
	return 1
}

# etcd_member_count ENDPOINT - prints how many members the cluster lists as
# started (ETCDCTL_API=3 etcdctl member list); prints nothing on failure.
etcd_member_count() {
	local out
	out=$(ETCDCTL_API=3 timeout 5 "$ETCDCTL_BIN" --endpoints="$1" --dial-timeout=1s \
		--command-timeout=2s member list 2>/dev/null) || return 1
	printf '%s\n' "$out" | grep -c ', started, '
}

# etcd_member_names ENDPOINT - prints the started members' names, sorted, comma-separated.
etcd_member_names() {
	ETCDCTL_API=3 timeout 5 "$ETCDCTL_BIN" --endpoints="$1" --dial-timeout=1s \
		--command-timeout=2s member list 2>/dev/null |
		awk -F', ' '$2 == "started" { print $3 }' | sort | paste -sd, -
}

# etcd_wait_member_count ENDPOINT N TIMEOUT_S - waits until N members are started.
etcd_wait_member_count() {
	local end=$((SECONDS + $3)) n=""
	while [ "$SECONDS" -le "$end" ]; do
		n=$(etcd_member_count "$1")
		[ "$n" = "$2" ] && return 0
		sleep 0.3
	done
	echo "etcd at $1 lists ${n:-no} started members, want $2" >&2
	return 1
}

# etcd_put_get ENDPOINT - writes a key through one member and reads it back
# (proof that the cluster has a quorum and serves requests).
etcd_put_get() {
	local v="v$RANDOM"
	ETCDCTL_API=3 timeout 5 "$ETCDCTL_BIN" --endpoints="$1" --command-timeout=3s \
		put /kindling-e2e "$v" >/dev/null 2>&1 &&
		[ "$(ETCDCTL_API=3 timeout 5 "$ETCDCTL_BIN" --endpoints="$1" --command-timeout=3s \
			get --print-value-only /kindling-e2e 2>/dev/null)" = "$v" ]
}

# etcd_cluster NAME_PREFIX COUNT DISCOVERY_URL [FLAG...] - starts COUNT
# members PREFIX1..PREFIXn with data in $T/PREFIXi; sets CLUSTER_ENDPOINTS
# (comma-separated client URLs) and CLUSTER_NAMES (space-separated).
etcd_cluster() {
	local prefix=$1 count=$2 disc=$3 i
	shift 3
	CLUSTER_ENDPOINTS=""
	CLUSTER_NAMES=""
	for i in $(seq 1 "$count"); do
		local cp pp
		cp=$(free_port) && pp=$(free_port) || return 1
		etcd_member "$prefix$i" "$T/$prefix$i" "$cp" "$pp" "$disc" "$@"
		CLUSTER_ENDPOINTS="$CLUSTER_ENDPOINTS${CLUSTER_ENDPOINTS:+,}${ETCD_CLIENT[$prefix$i]}"
		CLUSTER_NAMES="$CLUSTER_NAMES${CLUSTER_NAMES:+ }$prefix$i"
	done
}

# etcd_cluster_stop NAME_PREFIX COUNT - stops PREFIX1..PREFIXn.
etcd_cluster_stop() {
	local i
	for i in $(seq 1 "$2"); do etcd_stop "$1$i"; done
}

# wait_http URL TIMEOUT_S [BODY-REGEX] - waits until URL answers 200 (and
# its body matches BODY-REGEX when given).
wait_http() {
	local end=$((SECONDS + $2)) b
	while [ "$SECONDS" -le "$end" ]; do
		if b=$(curl -sf --max-time 2 "$1" 2>/dev/null); then
			[ -z "${3:-}" ] && return 0
			printf '%s' "$b" | grep -qE -- "$3" && return 0
		fi
		sleep 0.2
	done
	return 1
}

# upstream_start - starts the real discovery.etcd.io in front of a
# single-member etcd with the v2 API (its own data in $T/upstream-etcd);
# sets UPSTREAM_URL (also the --host it hands out), UPSTREAM_PID,
# UPSTREAM_ETCD_PID and UPSTREAM_ETCD_PORT. Logs: $T/upstream*.log.
upstream_start() {
	local cp pp dp
	cp=$(free_port) && pp=$(free_port) && dp=$(free_port) || return 1
	UPSTREAM_ETCD_PORT=$cp
	"$ETCD_BIN" --name upstream --data-dir "$T/upstream-etcd" --enable-v2=true \
		--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
		--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "upstream=http://127.0.0.1:$pp" >"$T/upstream-etcd.log" 2>&1 &
	UPSTREAM_ETCD_PID=$!
	PIDS_TO_STOP+=("$!")
	UPSTREAM_URL="http://127.0.0.1:$dp"
	"$DISCOVERY_BIN" --etcd "http://127.0.0.1:$cp" --host "$UPSTREAM_URL" \
		--addr "127.0.0.1:$dp" >"$T/upstream.log" 2>&1 &
	UPSTREAM_PID=$!
	PIDS_TO_STOP+=("$!")
	if ! wait_http "$UPSTREAM_URL/health" 20 '^OK$'; then
		echo "discovery.etcd.io did not become healthy:" >&2
		tail -20 "$T/upstream.log" "$T/upstream-etcd.log" >&2
		return 1
	fi
}

# upstream_stop - stops discovery.etcd.io and its etcd, by PID.
upstream_stop() {
	local p
	for p in $UPSTREAM_PID $UPSTREAM_ETCD_PID; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $UPSTREAM_PID $UPSTREAM_ETCD_PID; do
		wait "$p" 2>/dev/null
	done
	UPSTREAM_PID=""
	UPSTREAM_ETCD_PID=""
}

# silent_listener PORT - listens on 127.0.0.1:PORT and never answers (the
# kernel completes connections; nothing reads them). Sets SILENT_PID.
silent_listener() {
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
print("listening", flush=True)
time.sleep(600)
' "$1" >"$T/silent-$1.log" 2>&1 &
	SILENT_PID=$!
	PIDS_TO_STOP+=("$!")
	local i
	for i in $(seq 1 50); do
		grep -q listening "$T/silent-$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
