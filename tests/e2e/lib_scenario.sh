# lib_scenario.sh - helpers for test_scenario.sh: a small private network of
# simulated machines made of network namespaces, and reading what a node's
# systemd units say (ExecStart flags, ExecStartPre commands, EnvironmentFile
# variables) so the test starts each service as its unit would. Source it
# after lib.sh and lib_node.sh; needs root (ip netns). Every wait is bounded.
# shellcheck shell=bash
#
# The network, all of it inside namespaces this file creates (nothing is
# added to the host's own network namespace):
#
#   kindling-hub   bridge kbr0 with $SCN_NET.1/24: kindling's machine
#   kindling-n1    eth0 $SCN_NET.11/24 (veth to kbr0), lo 127.0.0.1   node 1
#   kindling-n2    eth0 $SCN_NET.12/24                                 node 2
#   kindling-n3    eth0 $SCN_NET.13/24                                 node 3
#
# Each node has its own loopback and its own ports, so the units' fixed
# addresses (etcd on 0.0.0.0:2379, RabbitMQ's etcd endpoint 127.0.0.1:2379,
# epmd on 4369, AMQP 5672, ...) work unchanged, as on separate machines.

SCN_NET=${SCN_NET:-10.213.87}
SCN_HUB=kindling-hub
SCN_NODES=(kindling-n1 kindling-n2 kindling-n3)
SCN_LOCK=${SCN_LOCK:-/run/lock/kindling-scenario.lock}

# scn_addr I - the address of node I (1-based).
scn_addr() { echo "$SCN_NET.$((10 + $1))"; }

# in_ns NAMESPACE COMMAND... - runs COMMAND inside NAMESPACE.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# scn_lock - takes the scenario's lock (the namespace names are fixed, so two
# runs at once would collide): waits up to 300 s. The lock is held by file
# descriptor 9 until the test exits.
scn_lock() {
	mkdir -p "$(dirname "$SCN_LOCK")"
	exec 9>"$SCN_LOCK"
	flock -w 300 9
}

# scn_ns_exists NAME - the named network namespace exists.
scn_ns_exists() { [ -e "/run/netns/$1" ]; }

# scn_ns_pids NAME - the PIDs of processes inside namespace NAME, one a line.
scn_ns_pids() { scn_ns_exists "$1" && ip netns pids "$1" 2>/dev/null; }

# scn_net_up - creates the hub and the node namespaces and wires them. Fails
# (returns 1, with a message) when one of the names already exists and holds
# processes (another run of this test, or one that crashed and left them);
# an existing but empty namespace of these names, left by a killed run, is
# removed first.
scn_net_up() {
	local ns i a
	# (and replacement machines' namespaces a killed run may have left)
	for ns in "$SCN_HUB" "${SCN_NODES[@]}" $(find /run/netns -maxdepth 1 -name 'kindling-n[0-9]*' -printf '%f\n' 2>/dev/null | grep -vxE 'kindling-n[123]'); do
		scn_ns_exists "$ns" || continue
		if [ -n "$(scn_ns_pids "$ns")" ]; then
			echo "scn_net_up: namespace $ns exists and runs PIDs $(scn_ns_pids "$ns" | paste -sd' ')" >&2
			return 1
		fi
		ip netns del "$ns" || return 1
	done
	ip netns add "$SCN_HUB" || return 1
	in_ns "$SCN_HUB" ip link set lo up &&
		in_ns "$SCN_HUB" ip link add kbr0 type bridge &&
		in_ns "$SCN_HUB" ip addr add "$SCN_NET.1/24" dev kbr0 &&
		in_ns "$SCN_HUB" ip link set kbr0 up || return 1
	for i in 1 2 3; do
		scn_node_up "$i" || return 1
	done
}

# scn_ns I - the namespace of node I (kindling-nI).
scn_ns() { echo "kindling-n$1"; }

# scn_node_up I - a machine joins the network: creates node I's namespace
# (I 1-99) at $SCN_NET.(10+I), with a veth to the hub's bridge, and adds it to
# SCN_NODES (once), so scn_net_down ends it. For a replacement machine (4, 5,
# ...) or one coming back (the namespace of a destroyed node, at its old
# address). Fails when the namespace exists.
scn_node_up() {
	local i=$1 ns a
	ns=$(scn_ns "$i")
	a=$(scn_addr "$i")
	ip netns add "$ns" || return 1
	case " ${SCN_NODES[*]} " in *" $ns "*) ;; *) SCN_NODES+=("$ns") ;; esac
	# the veth pair is created inside the hub: nothing touches the host
	in_ns "$SCN_HUB" ip link add "veth-n$i" type veth peer name eth0 netns "$ns" &&
		in_ns "$SCN_HUB" ip link set "veth-n$i" master kbr0 &&
		in_ns "$SCN_HUB" ip link set "veth-n$i" up &&
		in_ns "$ns" ip link set lo up &&
		in_ns "$ns" ip addr add "$a/24" dev eth0 &&
		in_ns "$ns" ip link set eth0 up &&
		in_ns "$ns" ip route add default via "$SCN_NET.1"
}

# scn_node_via I ADDR PORT TO - machine I's TCP connections to ADDR:PORT go to
# TO:PORT instead (a DNAT rule in the machine's own namespace, nftables): a
# load balancer that pins this machine to one backend. The backend sees the
# machine's own address; the machine sees answers from ADDR.
scn_node_via() {
	local ns
	ns=$(scn_ns "$1")
	in_ns "$ns" nft add table ip kindling-lb &&
		in_ns "$ns" nft 'add chain ip kindling-lb out { type nat hook output priority -100 ; }' &&
		in_ns "$ns" nft add rule ip kindling-lb out ip daddr "$2" tcp dport "$3" dnat to "$4:$3"
}

# scn_node_destroy I - a machine gone: SIGKILLs every process in node I's
# namespace (only processes this test started can be there), waits for them
# (10 s at most), and deletes the namespace with its veth. Its folder (the
# machine's disk) is left alone. Returns 1 when something survived.
scn_node_destroy() {
	local ns p
	ns=$(scn_ns "$1")
	scn_ns_exists "$ns" || return 0
	for p in $(scn_ns_pids "$ns"); do kill -KILL "$p" 2>/dev/null; done
	for _ in $(seq 1 100); do
		[ -z "$(scn_ns_pids "$ns")" ] && break
		sleep 0.1
	done
	[ -z "$(scn_ns_pids "$ns")" ] || return 1
	# the veth first: a deleted namespace's devices go asynchronously, and a
	# machine coming back at once needs the name veth-nI again
	in_ns "$SCN_HUB" ip link del "veth-n$1" 2>/dev/null
	ip netns del "$ns"
}

# scn_net_down - ends what still runs inside the namespaces (by PID: only
# processes this test started can be in them), then deletes the namespaces
# by name, which removes their veths and the bridge. Prints what it had to
# kill. Returns 1 when a namespace could not be deleted.
scn_net_down() {
	local ns p pids rc=0
	for ns in "${SCN_NODES[@]}" "$SCN_HUB"; do
		scn_ns_exists "$ns" || continue
		pids=$(scn_ns_pids "$ns")
		if [ -n "$pids" ]; then
			echo "# scn_net_down: killing leftover PIDs in $ns: $(echo "$pids" | paste -sd' ')"
			for p in $pids; do kill -KILL "$p" 2>/dev/null; done
			for _ in $(seq 1 50); do
				[ -z "$(scn_ns_pids "$ns")" ] && break
				sleep 0.1
			done
		fi
		ip netns del "$ns" || rc=1
	done
	return $rc
}

# unit_values FILE KEY - prints every value of KEY= in systemd unit FILE, one
# a line, with continuation lines (a trailing backslash) joined and empty
# values (the "ExecStart=" that resets a list) left out.
unit_values() {
	awk '{ if (sub(/\\$/, "")) printf "%s ", $0; else print }' "$1" |
		sed -n "s/^$2=//p" | grep -v '^[[:space:]]*$'
}

# declare -A UNIT_ENV - the variables of a unit's EnvironmentFile.
declare -A UNIT_ENV=()

# unit_env_load FILE - loads KEY=VALUE lines of an EnvironmentFile into UNIT_ENV.
unit_env_load() {
	UNIT_ENV=()
	unit_env_add "$1"
}

# unit_env_add FILE - adds KEY=VALUE lines of an EnvironmentFile to UNIT_ENV.
unit_env_add() {
	local k v
	while IFS='=' read -r k v; do
		case $k in '' | '#'*) continue ;; esac
		UNIT_ENV[$k]=$v
	done <"$1"
}

# unit_words LINE - splits a command line the way systemd does for these
# units (double or single quotes group, and are removed) and expands
# ${NAME} from UNIT_ENV; a whole word $NAME expands to its words and an unset
# one to no word at all, as systemd does. Prints one word a line. Returns 1,
# naming it, when a ${NAME} is not in UNIT_ENV.
unit_words() {
	local w out name
	while IFS= read -r w; do
		if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
			name=${BASH_REMATCH[1]}
			# shellcheck disable=SC2086 # systemd splits an unbraced $NAME into words
			[ -n "${UNIT_ENV[$name]:-}" ] && printf '%s\n' ${UNIT_ENV[$name]}
			continue
		fi
		out=$w
		while [[ $out =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
			name=${BASH_REMATCH[1]}
			if [ -z "${UNIT_ENV[$name]+set}" ]; then
				echo "unit_words: \${$name} is not set by the EnvironmentFile" >&2
				return 1
			fi
			out=${out//"\${$name}"/${UNIT_ENV[$name]}}
		done
		printf '%s\n' "$out"
	done < <(printf '%s\n' "$1" | xargs -n1 printf '%s\n')
}

# unit_env_rooted ROOT UNIT_FILE - loads every EnvironmentFile= of UNIT_FILE,
# as the node at ROOT has it (ROOT/run/metadata/coreos for
# /run/metadata/coreos), in order, into UNIT_ENV; a "-" one may be missing.
# Returns 1, naming it, when another one is missing.
unit_env_rooted() {
	local root=$1 f opt
	UNIT_ENV=()
	while IFS= read -r f; do
		opt=""
		case $f in -*) f=${f#-} opt=1 ;; esac
		if [ -f "$root$f" ]; then
			unit_env_add "$root$f"
		elif [ -z "$opt" ]; then
			echo "unit_env_rooted: $root$f is missing" >&2
			return 1
		fi
	done < <(unit_values "$2" EnvironmentFile)
}

# rooted ROOT WORD - a command word as the node at ROOT sees it: an absolute
# path under the node's folder (/opt/kindling/etcd-join -> ROOT/opt/...),
# anything else as is.
rooted() {
	case $2 in /*) echo "$1$2" ;; *) echo "$2" ;; esac
}

# unit_exec_rooted ROOT UNIT_FILE KEY - the KEY= command lines of UNIT_FILE
# (ExecStartPre, ...), split into words with UNIT_ENV, each absolute word
# rooted at ROOT: prints one command a line, its words separated by tabs.
unit_exec_rooted() {
	local root=$1 line w out
	local -a words
	while IFS= read -r line; do
		mapfile -t words < <(unit_words "${line#-}")
		out=""
		for w in "${words[@]}"; do out="$out${out:+$'\t'}$(rooted "$root" "$w")"; done
		printf '%s\n' "$out"
	done < <(unit_values "$2" "$3")
}

# unit_env_words - UNIT_ENV as VAR=VALUE words for env(1), one a line: the
# environment systemd gives the unit's commands.
unit_env_words() {
	local k
	for k in "${!UNIT_ENV[@]}"; do printf '%s=%s\n' "$k" "${UNIT_ENV[$k]}"; done
}

# ---- boot reports without systemd ------------------------------------------------------------
# No systemd runs in the machines: scn_unit_run runs a unit's ExecStart and
# keeps what systemd would (its exit status, its output as its journal) in
# the machine's folder, and the stand-ins scn_report_tools writes answer
# systemctl list-units --failed and journalctl -u UNIT -n N from there.

# scn_report_tools T - writes T/report-bin/systemctl and journalctl, which
# read the state folder $SCN_STATE (scn_report_run sets it per machine).
scn_report_tools() {
	mkdir -p "$1/report-bin"
	cat >"$1/report-bin/systemctl" <<'TOOL'
#!/bin/sh
# systemctl stand-in: list-units --failed from $SCN_STATE/UNIT.rc
case "$*" in
*--failed*)
	for f in "$SCN_STATE"/*.rc; do
		[ -f "$f" ] || continue
		[ "$(cat "$f")" = 0 ] && continue
		u=$(basename "$f" .rc)
		echo "$u loaded failed failed $u"
	done
	;;
esac
exit 0
TOOL
	cat >"$1/report-bin/journalctl" <<'TOOL'
#!/bin/sh
# journalctl stand-in: -u UNIT [-n N] prints the tail of $SCN_STATE/UNIT.journal
unit="" n=10
while [ $# -gt 0 ]; do
	case $1 in
	-u) unit=$2; shift ;;
	-n) n=$2; shift ;;
	esac
	shift
done
[ -n "$unit" ] && [ -f "$SCN_STATE/$unit.journal" ] && tail -n "$n" "$SCN_STATE/$unit.journal"
exit 0
TOOL
	chmod 755 "$1/report-bin/systemctl" "$1/report-bin/journalctl"
}

# scn_unit_run I ROOT UNIT - runs ROOT's unit UNIT's ExecStart in machine I
# (60 s at most), its output (stdout and stderr) into the journal and its exit
# status into the state folder; returns that status.
scn_unit_run() {
	local i=$1 root=$2 unit=$3 st rc
	local -a words
	st=$(dirname "$root")/units
	mkdir -p "$st"
	mapfile -t words < <(unit_words "$(unit_values "$root/etc/systemd/system/$unit" ExecStart | tail -1)")
	in_ns "$(scn_ns "$i")" timeout 60 "${words[@]}" >"$st/$unit.journal" 2>&1
	rc=$?
	echo "$rc" >"$st/$unit.rc"
	return $rc
}

# scn_report_run I COMMAND... - runs COMMAND in machine I as a unit would, in
# a UTS namespace of its own with the host name node-I, with the stand-ins
# first on PATH and SCN_STATE its state folder; 200 s at most.
scn_report_run() {
	local i=$1
	shift
	mkdir -p "$T/n$i/units"
	in_ns "$(scn_ns "$i")" unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && exec "$@"' \
		"node-$i" env PATH="$T/report-bin:$PATH" SCN_STATE="$T/n$i/units" timeout 200 "$@"
}
