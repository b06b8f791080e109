# lib_node.sh - node-side helpers for the end-to-end tests: run the real
# Ignition 2.14 fetch and files stages (Debian package `ignition`) against a
# scratch root the way a first boot would, and check the units it wrote with
# systemd-analyze. Source it after lib.sh (it needs root, like Ignition).
#
# A node's scratch folder ROOTDIR holds:
#   ROOTDIR/system.d/        empty IGNITION_SYSTEM_CONFIG_DIR (no base configs)
#   ROOTDIR/run/ignition.json  the config cache the fetch stage writes
#   ROOTDIR/run/state        Ignition's state file
#   ROOTDIR/fetch.log, ROOTDIR/files.log   Ignition's output of each stage
#   ROOTDIR/sysroot/         what the files stage wrote (fresh each run)
#   ROOTDIR/sysroot.verify/  a copy of its systemd config plus stand-ins, for
#                            systemd-analyze verify and preset checks
# Every external command is bounded by timeout(1).

LIB_NODE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IGNITION_BIN=${IGNITION_BIN:-/usr/lib/dracut/modules.d/30ignition/ignition}
# Seconds one Ignition stage may take. The pointer configs set
# timeouts.httpTotal (5xx and refused connections are retried until then);
# this is the outer bound in case one does not.
IGNITION_STAGE_TIMEOUT=${IGNITION_STAGE_TIMEOUT:-60}
# Programs the units call that exist on Container Linux / Flatcar but not
# here: systemd-analyze verify checks that every Exec*= command is executable
# below --root, so the verify root gets a stand-in script at each of these.
# A command not in this list makes verify_units fail (a typo in a path, say).
NODE_STANDIN_EXECS=${NODE_STANDIN_EXECS:-"/usr/bin/docker /usr/bin/dockerd /usr/lib/coreos/etcd-wrapper
/usr/bin/coreos-metadata /usr/bin/sh /bin/sh /usr/bin/curl /usr/bin/true /bin/true"}

# ignition_fetch ROOTDIR POINTER_FILE - runs the real fetch stage with
# -platform file on POINTER_FILE (the userdata a launch configuration carries).
# Ignition follows config.replace, so the config it caches in
# ROOTDIR/run/ignition.json is what the pointer's source served. Starts from
# an empty ROOTDIR/run each time. Returns Ignition's exit status; its output is
# in ROOTDIR/fetch.log.
ignition_fetch() {
	local root=$1 pointer=$2
	rm -rf "$root/run" "$root/system.d"
	mkdir -p "$root/run" "$root/system.d"
	IGNITION_SYSTEM_CONFIG_DIR="$root/system.d" IGNITION_CONFIG_FILE="$pointer" \
		timeout -k 5 "$IGNITION_STAGE_TIMEOUT" "$IGNITION_BIN" -platform file -stage fetch \
		-config-cache "$root/run/ignition.json" -state-file "$root/run/state" \
		-neednet "$root/run/neednet" -log-to-stdout </dev/null >"$root/fetch.log" 2>&1
}

# ignition_fetched_sha512 ROOTDIR - the SHA512 (hex) Ignition logged for the
# last config it fetched through config.replace/merge: the hash of the exact
# bytes it received from the server.
ignition_fetched_sha512() {
	sed -n 's/.*fetched referenced config at .* with SHA512: \([0-9a-f]*\).*/\1/p' \
		"$1/fetch.log" | tail -1
}

# ignition_files ROOTDIR - runs the real files stage on the config cached by
# ignition_fetch, into a fresh ROOTDIR/sysroot that has what the stage needs:
# etc/passwd and etc/group with root and core (and the rabbitmq user, uid/gid
# 999 as in the official image, when the config names it: numeric ids need no
# entry), etc/selinux/config, and a no-op setfiles first on PATH. Returns
# Ignition's exit status; its output is in ROOTDIR/files.log.
ignition_files() {
	local root=$1 sysroot=$1/sysroot
	if [ ! -s "$root/run/ignition.json" ]; then
		echo "ignition_files: no cached config in $root/run (run ignition_fetch first)" >"$root/files.log"
		return 1
	fi
	rm -rf "$sysroot" "$root/fakebin"
	mkdir -p "$sysroot/etc/selinux" "$root/fakebin" "$root/system.d"
	printf 'root:x:0:0:root:/root:/bin/bash\ncore:x:500:500:CoreOS Admin:/home/core:/bin/bash\n' \
		>"$sysroot/etc/passwd"
	printf 'root:x:0:\ncore:x:500:core\n' >"$sysroot/etc/group"
	if jq -e '[.. | objects | (.user?, .group?) | objects | .name? // empty] | index("rabbitmq") != null' \
		"$root/run/ignition.json" >/dev/null 2>&1; then
		echo 'rabbitmq:x:999:999:RabbitMQ:/var/lib/rabbitmq:/sbin/nologin' >>"$sysroot/etc/passwd"
		echo 'rabbitmq:x:999:' >>"$sysroot/etc/group"
	fi
	printf 'SELINUX=disabled\nSELINUXTYPE=targeted\n' >"$sysroot/etc/selinux/config"
	printf '#!/bin/sh\nexit 0\n' >"$root/fakebin/setfiles"
	chmod 755 "$root/fakebin/setfiles"
	PATH="$root/fakebin:$PATH" IGNITION_SYSTEM_CONFIG_DIR="$root/system.d" \
		timeout -k 5 "$IGNITION_STAGE_TIMEOUT" "$IGNITION_BIN" -platform file -stage files \
		-root "$sysroot" -config-cache "$root/run/ignition.json" -state-file "$root/run/state" \
		-log-to-stdout </dev/null >"$root/files.log" 2>&1
}

# ignition_boot ROOTDIR POINTER_FILE - fetch then files, as a first boot does.
ignition_boot() {
	ignition_fetch "$1" "$2" && ignition_files "$1"
}

# _node_verify_root SYSROOT - (re)builds SYSROOT.verify: the host's vendor
# units (for targets such as sysinit.target), the stand-in Container Linux
# units and presets from fixtures/node, stand-in executables, and a copy of
# what Ignition wrote under SYSROOT/etc/systemd (which overrides any stand-in
# of the same name, as /etc does on a node).
_node_verify_root() {
	local sysroot=$1 vr=$1.verify e
	rm -rf "$vr"
	mkdir -p "$vr/usr/lib/systemd" "$vr/etc"
	cp -a /usr/lib/systemd/system "$vr/usr/lib/systemd/" || return 1
	cp -a "$LIB_NODE_DIR/fixtures/node/." "$vr/" || return 1
	for e in $NODE_STANDIN_EXECS; do
		mkdir -p "$vr$(dirname "$e")"
		printf '#!/bin/sh\nexit 0\n' >"$vr$e"
		chmod 755 "$vr$e"
	done
	[ -d "$sysroot/etc/systemd" ] && cp -a "$sysroot/etc/systemd" "$vr/etc/"
	# programs a profile writes itself (the etcd profile's /opt/kindling/etcd-join)
	[ -d "$sysroot/opt" ] && cp -a "$sysroot/opt" "$vr/"
	return 0
}

# verify_units SYSROOT - systemd-analyze verify --man=no on every unit Ignition
# wrote under SYSROOT/etc/systemd/system and on the base unit of every drop-in
# folder there (a stand-in from fixtures/node when Ignition wrote only the
# drop-in, e.g. etcd-member.service), with the stand-in base units
# (coreos-metadata.service, docker.socket, ...) present for their
# dependencies. systemd-analyze reports most problems as warnings with exit
# status 0, so ANY output is a failure: prints the output and returns 1. Also
# fails when there is no unit at all to verify.
verify_units() {
	local sysroot=$1 vr=$1.verify out rc f base units=()
	_node_verify_root "$sysroot" || {
		echo "verify_units: cannot build $vr"
		return 1
	}
	for f in "$vr"/etc/systemd/system/*; do
		case $f in
		*.service | *.socket | *.target | *.timer | *.path | *.mount | *.automount | *.swap | *.slice)
			[ -f "$f" ] && [ ! -L "$f" ] && units+=("$f")
			;;
		*.d)
			[ -d "$f" ] || continue
			base=$(basename "$f" .d)
			[ -e "$vr/etc/systemd/system/$base" ] && continue
			# the node's vendor unit, or a missing path that verify reports
			units+=("$vr/usr/lib/systemd/system/$base")
			;;
		esac
	done
	if [ "${#units[@]}" -eq 0 ]; then
		echo "verify_units: no unit under $sysroot/etc/systemd/system"
		return 1
	fi
	rc=0
	out=$(cd "$vr" && SYSTEMD_LOG_COLOR=0 timeout -k 5 60 systemd-analyze verify --man=no \
		--root="$vr" "${units[@]}" 2>&1) || rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out"
		echo "verify_units: systemd-analyze verify exited $rc on ${units[*]#"$vr"}"
		return 1
	fi
	return 0
}

# unit_preset_state SYSROOT UNIT... - applies the presets Ignition wrote
# (etc/systemd/system-preset/20-ignition.preset) in SYSROOT.verify, where the
# stand-in 99-default-disable.preset disables everything else as Flatcar and
# Fedora CoreOS do, and prints `systemctl is-enabled` for each UNIT, one a
# line. Run verify_units first (it builds SYSROOT.verify).
unit_preset_state() {
	local vr=$1.verify u
	shift
	timeout 30 systemctl --root="$vr" preset "$@" >/dev/null 2>&1
	for u in "$@"; do
		s=$(timeout 30 systemctl --root="$vr" is-enabled "$u" 2>/dev/null)
		echo "${s:-unknown}"
	done
}

# stat_of PATH - "MODE UID:GID" (octal mode without leading zeros, e.g. 400).
stat_of() { stat -c '%a %u:%g' "$1" 2>/dev/null || echo missing; }


# free_port_block COUNT - prints the first port of COUNT consecutive TCP ports
# in 10000-32767 (below Linux's ephemeral range, so no outgoing connection
# takes one meanwhile) that nothing on this machine uses, picked at random.
free_port_block() {
	local count=$1 used base p ok
	used=" $(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -un | tr '\n' ' ') "
	for _ in $(seq 1 200); do
		base=$((10000 + RANDOM % (32768 - 10000 - count)))
		ok=1
		for p in $(seq "$base" $((base + count - 1))); do
			case $used in *" $p "*) ok=0 && break ;; esac
		done
		[ "$ok" = 1 ] && echo "$base" && return 0
	done
	return 1
}

# wait_until SECONDS INTERVAL COMMAND... - runs COMMAND every INTERVAL seconds
# until it succeeds; fails after SECONDS.
wait_until() {
	local limit=$1 interval=$2 end
	shift 2
	end=$(($(date +%s) + limit))
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep "$interval"
	done
}

# pid_alive PID - the process exists and is not a zombie (a child of ours
# that exited stays a zombie until waited for, and kill -0 still succeeds).
pid_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# stop_pid PID [SECONDS] - SIGTERM, wait up to SECONDS (default 10) for the
# process to go, then SIGKILL. Returns 1 when it had to SIGKILL.
stop_pid() {
	local pid=$1 limit=${2:-10}
	[ -n "$pid" ] || return 0
	pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 $((limit * 10))); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 1
}
