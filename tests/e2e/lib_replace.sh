#!/usr/bin/env bash
# lib_replace.sh - a machine's life in test_scenario.sh's world, for the
# replacement tests (test_replace.sh: v2 discovery; test_replace_v3.sh: v3):
# first boot through the real Ignition, etcd-member.service's join step
# (/opt/kindling/etcd-join, written by Ignition) and etcd as the written
# units say. Uses the caller's T, START, DROPIN, PIDS_TO_STOP and the
# ETCD_PIDS / JOIN_PIDS arrays; the pointer config is $T/pointer.ign; the
# kindling checks use KURL, CLUSTER and AUTH.
# shellcheck disable=SC2154,SC2034,SC2004 # T, START, DROPIN, the arrays: the caller's

# boot I - machine I's first boot: Ignition fetch + files from the pointer,
# in its namespace; then what coreos-metadata.service writes. Returns
# Ignition's status.
boot() {
	local i=$1 R=$T/n$1
	mkdir -p "$R"
	cp "$T/pointer.ign" "$R/config.ign"
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$(scn_ns "$i")" "$IGNITION_BIN" >"$R/ignition"
	chmod 755 "$R/ignition"
	IGNITION_BIN=$R/ignition ignition_boot "$R" "$R/config.ign" || return 1
	mkdir -p "$R/sysroot/run/metadata"
	echo "COREOS_EC2_IPV4_LOCAL=$(scn_addr "$i")" >"$R/sysroot/run/metadata/coreos"
}

# join_start I - etcd-member.service starting on machine I: its ExecStartPre
# (the join step) in the background, with the environment the unit gives it
# (its EnvironmentFiles; ETCD_NAME and ETCD_DATA_DIR of the vendor unit: nI
# and the machine's /var/lib/etcd). Sets JOIN_PIDS[I]; output appended to
# $T/nI/etcd-join.log.
join_start() {
	local i=$1 S=$T/n$1/sysroot envs pre
	unit_env_rooted "$S" "$S/$DROPIN" || return 1
	mapfile -t envs < <(unit_env_words)
	IFS=$'\t' read -r -a pre < <(unit_exec_rooted "$S" "$S/$DROPIN" ExecStartPre)
	echo "---- boot at $((SECONDS - START)) s" >>"$T/n$i/etcd-join.log"
	in_ns "$(scn_ns "$i")" env "${envs[@]}" ETCD_NAME="n$i" ETCD_DATA_DIR="$S/var/lib/etcd" \
		"${pre[@]}" >>"$T/n$i/etcd-join.log" 2>&1 &
	JOIN_PIDS[$i]=$!
	PIDS_TO_STOP+=("$!")
}
join_done() { ! pid_alive "${JOIN_PIDS[$1]}"; }
# join_ok I - the join step ended with status 0.
join_ok() {
	wait "${JOIN_PIDS[$1]}"
}

# etcd_run I - ExecStart of etcd-member.service on machine I, with the flags
# the join step wrote (Debian's etcd for the etcd-wrapper, as in
# test_scenario.sh). Sets ETCD_PIDS[I].
etcd_run() {
	local i=$1 S=$T/n$1/sysroot flags=() w words
	unit_env_rooted "$S" "$S/$DROPIN" || return 1
	mapfile -t words < <(unit_words "$(unit_values "$S/$DROPIN" ExecStart | tail -1)")
	for w in "${words[@]:1}"; do flags+=("$w"); done
	# a test may stand in for what this etcd cannot do itself (test_replace_v3.sh:
	# v3 discovery), rewriting flags
	if declare -F etcd_flags_hook >/dev/null; then etcd_flags_hook "$i" || return 1; fi
	printf '%s\n' "${flags[@]}" >"$T/n$i/etcd.flags"
	in_ns "$(scn_ns "$i")" etcd --name "n$i" --data-dir "$S/var/lib/etcd" "${flags[@]}" >>"$T/n$i/etcd.log" 2>&1 &
	ETCD_PIDS[$i]=$!
	PIDS_TO_STOP+=("$!")
}

# etcd_up I [SECONDS] - join step, then etcd, as the unit runs them: fails
# when the join step does not end with 0 within SECONDS (default 120).
etcd_up() {
	join_start "$1" && wait_until "${2:-120}" 0.5 join_done "$1" && join_ok "$1" && etcd_run "$1"
}

# ectl I ARG... - etcdctl (v3) on machine I against its own etcd.
ectl() {
	local i=$1
	shift
	in_ns "$(scn_ns "$i")" env ETCDCTL_API=3 timeout 15 etcdctl --endpoints 127.0.0.1:2379 \
		--dial-timeout 2s --command-timeout 5s "$@"
}
# started I - the names of the started members in machine I's member list, sorted, comma-separated.
started() { ectl "$1" member list 2>/dev/null | awk -F', ' '$2 == "started" { print $3 }' | sort | paste -sd,; }
# all_members I - every member (name or id when unstarted), sorted, comma-separated.
all_members() { ectl "$1" member list 2>/dev/null | awk -F', ' '{ print ($3 == "" ? $1 : $3) }' | sort | paste -sd,; }
# cluster_is I NAMES - machine I lists exactly NAMES (started, no other
# member) and each of them answers healthy.
cluster_is() {
	local i=$1 want=$2 eps
	[ "$(started "$i")" = "$want" ] && [ "$(all_members "$i")" = "$want" ] || return 1
	eps=$(ectl "$i" member list 2>/dev/null | awk -F', ' '{ print $5 }' | paste -sd,)
	ectl "$i" --endpoints "$eps" endpoint health >/dev/null 2>&1
}


# states_are NAME=STATE[:OTHER]... - kindling's cluster JSON shows each
# member NAME (of members.list) in STATE: founding, replacement (of OTHER),
# removed (replaced by OTHER); OTHER is a member name. Saves the JSON in
# $T/cluster.json.
states_are() {
	local want name state other
	curl -s "$KURL/clusters/$CLUSTER" -H "$AUTH" >"$T/cluster.json" || return 1
	for want in "$@"; do
		name=${want%%=*} state=${want#*=} other=
		case $state in *:*) other=${state#*:} state=${state%%:*} ;; esac
		jq -e --arg n "$name" --arg s "$state" --arg o "$other" '
			(.members.list | map({(.id): .name}) | add) as $names
			| [.members.list[] | select(.name == $n)] | length == 1 and (.[0]
			| .state == $s
			and (if $s == "replacement" then $names[.replaces] == $o and .replaced_at != null
			     elif $s == "removed" then $names[.removed_by] == $o and .removed_at != null
			     else .replaces == null and .removed_by == null end))' "$T/cluster.json" >/dev/null || {
			echo "# kindling: member $name is not $state${other:+ ($other)}" >&2
			return 1
		}
	done
}

# page_states_are NAME=STATE[:OTHER]... - the same on the cluster's page
# (its Registered members table: the row of NAME, its State cell naming
# OTHER's id). Uses $T/cluster.json of the last states_are for the ids.
page_states_are() {
	local want name state other oid row
	curl -s "$KURL/clusters/$CLUSTER" -H "$AUTH" -H 'Accept: text/html' >"$T/cluster.html" || return 1
	for want in "$@"; do
		name=${want%%=*} state=${want#*=} other=
		case $state in *:*) other=${state#*:} state=${state%%:*} ;; esac
		row=$(grep -o "<td data-label=\"Name\">$name</td><td data-label=\"State\"[^>]*>[^/]*\(/code>[^/]*\)\?</td>" "$T/cluster.html") || return 1
		[[ $row == *"data-state=\"$state\">$state"* ]] || return 1
		if [ -n "$other" ]; then
			oid=$(jq -r --arg o "$other" '.members.list[] | select(.name == $o) | .id' "$T/cluster.json")
			[[ $row == *"<code>$oid</code>"* ]] || return 1
		fi
	done
}
