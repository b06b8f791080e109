#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that takes single-quoted expressions, evaluated later
# test_replace.sh - node replacement (issue 16) in test_scenario.sh's world:
# machines are network namespaces that boot from the cluster's pointer with
# the real Ignition 2.14, then start their services as the written units say
# - etcd-member.service's ExecStartPre (the join step /opt/kindling/etcd-join
# that Ignition wrote) before Debian's etcd 3.4 with the flags it decided,
# and Debian's RabbitMQ 3.10 with the written rabbitmq.conf. The cluster
# (size 3, etcd + rabbitmq) sets etcd_replace_after 15 and etcd_join_retry 3,
# so a replacement waits 15 s, not the default 120 s, before it removes a
# member.
#   1. replacement: 3 nodes boot; a key is written and a durable (quorum)
#      queue declared with a message; node 2's namespace is destroyed; node 4
#      boots at a new address from the same pointer: etcd lists n1, n3, n4
#      started and no n2, the key reads back from node 4, and RabbitMQ's
#      cluster status on node 4 lists exactly nodes 1, 3 and 4 (running and
#      disk nodes: node 2 forgotten), the queue and its message still there.
#   3. reboot: node 3 restarts with its data directory: it rejoins as itself,
#      nothing is removed (etcd and RabbitMQ).
#   2. quorum lost: nodes 3 and 4 destroyed; node 5 boots: its join step
#      removes nothing, says why, waits; node 3 comes back (its data intact):
#      node 5 then completes the replacement (n4 removed, n5 added).
#   4. repeated replacement: nodes 1, 3 and 5 are replaced one after another
#      (by 6, 7, 8); each time the cluster is back to 3 started, healthy
#      members holding the key - the last replacement finds the cluster only
#      through the replacements' own registrations (no founder is left).
# After each replacement kindling's cluster JSON and page show the member
# states the join steps reported: founding, replacement of X, removed.
# RabbitMQ runs in step 1 and 3 only (CPU: the machine is small). Tears
# everything down by PID and deletes its namespaces. Needs root and the
# Debian packages iproute2 ignition etcd-server etcd-client rabbitmq-server
# curl jq util-linux.
# timeout: 1200
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
source "$(dirname "$0")/lib_scenario.sh"
source "$(dirname "$0")/lib_replace.sh"
plan 46

RMQ_BIN=/usr/lib/rabbitmq/bin
CLUSTER=rmq
REPLACE_AFTER=15
REPORT=${REPLACE_REPORT:-build/test-replace.log}
note() { echo "# $*" | tee -a "$REPORT"; }
show() {
	{
		echo "# ---- $1"
		sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/| /' "$2"
	} | tee -a "$REPORT"
}

require_tool "$IGNITION_BIN" /usr/bin/etcd /usr/bin/etcdctl /usr/bin/epmd "$RMQ_BIN/rabbitmq-server" \
	"$RMQ_BIN/rabbitmqctl" /usr/bin/curl /usr/bin/jq /usr/bin/flock ip
if ! scn_lock; then
	fail "another scenario run held $SCN_LOCK for 300 s"
	exit 1
fi
mkdir -p "$(dirname "$REPORT")" && : >"$REPORT" || REPORT=/dev/null
START=$SECONDS

declare -A ETCD_PIDS=() JOIN_PIDS=() EPMD_PIDS=() RMQ_WRAPPER=() RMQ_VM=() RMQ_NODE=()
trap 'st=$?; scn_net_down; cleanup $st' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check "network: hub $SCN_HUB, nodes 1-3 at $SCN_NET.11-13" scn_net_up
[ "$FAILS" -eq 0 ] || exit 1

# ---- kindling on the hub (as in test_scenario.sh) ----------------------------------------------
KURL=http://$SCN_NET.1:8080
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$SCN_HUB" "$(realpath "$KINDLING_BIN")" >"$T/kindling-in-hub"
chmod 755 "$T/kindling-in-hub"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/admin-token"
KINDLING_BIN=$T/kindling-in-hub kindling_start --listen "$SCN_NET.1:8080" --public-url "$KURL" \
	--admin-token-file "$T/admin-token" --http-total 60 || {
	fail "kindling starts in $SCN_HUB on $KURL"
	exit 1
}
BASE=$KURL
curl() { ip netns exec "$SCN_HUB" curl "$@"; }
AUTH="Authorization: Bearer $(cat "$T/admin-token")"
curl -s -X POST "$KURL/clusters" -H "$AUTH" -H 'Content-Type: application/json' \
	-d "{\"name\": \"$CLUSTER\", \"size\": 3, \"profiles\": [\"etcd\", \"rabbitmq\"], \"vars\": {\"etcd_replace_after\": \"$REPLACE_AFTER\", \"etcd_join_retry\": \"3\"}}" >"$T/created.json"
curl -s "$KURL/clusters/$CLUSTER/userdata" -H "$AUTH" >"$T/pointer.ign"
check_that "POST /clusters creates $CLUSTER (size 3, etcd + rabbitmq, etcd_replace_after $REPLACE_AFTER), and its pointer" \
	'jq -e ".size == 3 and .vars.etcd_replace_after == \"$REPLACE_AFTER\"" "$T/created.json" >/dev/null && jq -e .ignition.config.replace.source "$T/pointer.ign" >/dev/null'
DISCOVERY_URL=$(jq -r .discovery_url "$T/created.json")
[ "$FAILS" -eq 0 ] || exit 1

# ---- a machine's life: tests/e2e/lib_replace.sh --------------------------------------------------
DROPIN=etc/systemd/system/etcd-member.service.d/20-clct-etcd-member.conf
UNIT=etc/systemd/system/rabbitmq.service

# rmq_env I / rmqctl I ARG... / rmq_start I - RabbitMQ on machine I as in test_scenario.sh.
rmq_env() {
	local S=$T/n$1/sysroot
	cat "$T/n$1/rabbitmq.env"
	printf '%s\n' "HOME=$S/var/lib/rabbitmq" RABBITMQ_CONF_ENV_FILE=/dev/null \
		"RABBITMQ_CONFIG_FILE=$S/etc/rabbitmq/rabbitmq.conf" \
		"RABBITMQ_ADVANCED_CONFIG_FILE=$S/etc/rabbitmq/advanced.config" \
		"RABBITMQ_ENABLED_PLUGINS_FILE=$S/etc/rabbitmq/enabled_plugins" \
		"RABBITMQ_MNESIA_BASE=$S/var/lib/rabbitmq/mnesia" "RABBITMQ_LOG_BASE=$S/var/log/rabbitmq" \
		"RABBITMQ_PID_FILE=$S/var/lib/rabbitmq/rabbitmq.pid"
}
rmqctl() {
	local i=$1 envs
	shift
	mapfile -t envs < <(rmq_env "$i")
	in_ns "$(scn_ns "$i")" env "${envs[@]}" timeout 30 "$RMQ_BIN/rabbitmqctl" -n "${RMQ_NODE[$i]}" "$@"
}
rmq_start() {
	local i=$1 S=$T/n$1/sysroot R=$T/n$1 ns words envs k
	ns=$(scn_ns "$i")
	unit_env_rooted "$S" "$S/$UNIT" || return 1
	mapfile -t words < <(unit_words "$(unit_values "$S/$UNIT" ExecStart)")
	: >"$R/rabbitmq.env"
	for ((k = 0; k < ${#words[@]}; k++)); do
		[ "${words[$k]}" = -e ] && echo "${words[$((k + 1))]}" >>"$R/rabbitmq.env"
	done
	RMQ_NODE[$i]=$(sed -n 's/^RABBITMQ_NODENAME=//p' "$R/rabbitmq.env")
	mkdir -p "$S/var/log/rabbitmq"
	rm -f "$S/var/lib/rabbitmq/rabbitmq.pid"
	ip netns exec "$ns" epmd -port 4369 >>"$R/epmd.log" 2>&1 &
	EPMD_PIDS[$i]=$!
	PIDS_TO_STOP+=("$!")
	wait_until 30 0.2 bash -c 'ip netns exec "$1" ss -Htln | grep -q ":4369 "' _ "$ns" || return 1
	# the unit's ExecStartPre: etcd answers healthy first
	in_ns "$ns" timeout 120 sh -c 'until curl -fsS http://127.0.0.1:2379/health; do sleep 2; done' \
		>>"$R/execstartpre.log" 2>&1 || return 1
	mapfile -t envs < <(rmq_env "$i")
	ip netns exec "$ns" env "${envs[@]}" "$RMQ_BIN/rabbitmq-server" >>"$R/rabbitmq-server.log" 2>&1 &
	RMQ_WRAPPER[$i]=$!
	PIDS_TO_STOP+=("$!")
	wait_until 120 0.5 test -s "$S/var/lib/rabbitmq/rabbitmq.pid" || return 1
	RMQ_VM[$i]=$(cat "$S/var/lib/rabbitmq/rabbitmq.pid")
	PIDS_TO_STOP+=("${RMQ_VM[$i]}")
}
rmq_addrs() { local i; for i in "$@"; do echo "rabbit@$(scn_addr "$i")"; done | sort | paste -sd,; }
# rmq_cluster_is I NODES... - machine I's cluster_status: running nodes and
# disk nodes are exactly NODES.
rmq_cluster_is() {
	local i=$1 want
	shift
	want=$(rmq_addrs "$@")
	rmqctl "$i" cluster_status --formatter json >"$T/cs.json" 2>/dev/null &&
		[ "$(jq -r '.running_nodes | sort | join(",")' "$T/cs.json")" = "$want" ] &&
		[ "$(jq -r '.disk_nodes | sort | join(",")' "$T/cs.json")" = "$want" ]
}

# ==== 1. replacement ================================================================================
boot_pids=()
for i in 1 2 3; do
	(
		boot "$i"
		echo $? >"$T/boot$i.rc"
	) &
	boot_pids+=("$!")
done
wait "${boot_pids[@]}"
check_that "nodes 1-3 boot: Ignition fetch + files exit 0, the join step and its inputs written" \
	'(for i in 1 2 3; do [ "$(cat $T/boot$i.rc)" = 0 ] && [ -x $T/n$i/sysroot/opt/kindling/etcd-join ] || exit 1; done)'
for i in 1 2 3; do etcd_up "$i" 60; done
check_that "nodes 1-3: each join step decides 'a founding member' (no data, the directory not full)" \
	'(for i in 1 2 3; do grep -q "a founding member, bootstrapping through the discovery URL" $T/n$i/etcd-join.log || exit 1; done)'
check "etcd: n1, n2, n3 formed one cluster through kindling's discovery (120 s at most)" \
	wait_until 120 1 cluster_is 1 n1,n2,n3
for i in 1 2 3; do rmq_start "$i" || fail "node $i: RabbitMQ starts"; done
check "RabbitMQ: node 1 sees nodes 1, 2, 3 running (180 s at most)" wait_until 180 3 rmq_cluster_is 1 1 2 3
note "3 nodes up at $((SECONDS - START)) s"
check "etcd: key /replace/probe written through node 1" eval "ectl 1 put /replace/probe survives >/dev/null"
PASS_ADMIN=$(sed -n 's/^default_pass = //p' "$T/n1/sysroot/etc/rabbitmq/rabbitmq.conf")
mgmt() { in_ns "$(scn_ns "$1")" curl -fsS --max-time 20 -u "admin:$PASS_ADMIN" -H 'Content-Type: application/json' "${@:2}"; }
mgmt 1 -X PUT http://127.0.0.1:15672/api/queues/%2F/orders -d '{"durable": true, "arguments": {"x-queue-type": "quorum"}}' >/dev/null
mgmt 1 -X POST http://127.0.0.1:15672/api/exchanges/%2F/amq.default/publish \
	-d '{"properties": {"delivery_mode": 2}, "routing_key": "orders", "payload": "order 1", "payload_encoding": "string"}' >"$T/published.json"
queue_has_message() {
	rmqctl "$1" list_queues name type durable messages --formatter json 2>/dev/null >"$T/queues.json" &&
		jq -e '.[] | select(.name == "orders" and .type == "quorum" and .durable == true and .messages == 1)' "$T/queues.json" >/dev/null
}
check "RabbitMQ: durable quorum queue 'orders' declared with one persistent message (management API on node 1)" \
	wait_until 30 1 queue_has_message 1
ectl 1 member list -w table >"$T/members-before.txt" 2>&1
show "before: etcdctl member list -w table (node 1)" "$T/members-before.txt"

check "node 2 destroyed: its processes killed, its namespace gone" scn_node_destroy 2
T_GONE=$SECONDS
check "node 4 boots at $(scn_addr 4) from the same pointer (Ignition fetch + files)" eval 'scn_node_up 4 && boot 4'
etcd_up 4 180
check_that "node 4's join step ends with 0 within 180 s, having added itself" \
	'grep -q "added as member [0-9a-f]*: starting with --initial-cluster=" "$T/n4/etcd-join.log"'
check_that "node 4 removed n2 only after it had not answered for $REPLACE_AFTER s, with a healthy quorum, and said so" \
	'grep -qE "member n2 \([0-9a-f]+, http://$SCN_NET.12:2380\) has not answered for ([0-9]+) s \(limit $REPLACE_AFTER s\) and 2 of 3 members are healthy: removing it" "$T/n4/etcd-join.log" && grep -q "unreachable for [0-9]* s; a member is removed only after $REPLACE_AFTER s" "$T/n4/etcd-join.log"'
show "node 4: the join step's log (etcd-member.service's journal)" "$T/n4/etcd-join.log"
check "etcd: node 4's member list shows n1, n3, n4 started, all healthy, and no n2 (90 s at most)" \
	wait_until 90 1 cluster_is 4 n1,n3,n4
note "etcd replaced n2 by n4 $((SECONDS - T_GONE)) s after node 2 was destroyed"
check_that "the key reads back from node 4" '[ "$(ectl 4 get /replace/probe --print-value-only 2>/dev/null)" = survives ]'
check_that "node 4 registered itself in kindling's discovery directory (4 registrations for size 3)" \
	'[ "$(curl -s "$DISCOVERY_URL" | jq "[.node.nodes[]?] | length")" = 4 ]'
check_that "kindling records it (cluster JSON): n4 a replacement of n2, n2 removed, n1 and n3 founding; node 4's join step reported it" \
	'states_are n1=founding n2=removed:n4 n3=founding n4=replacement:n2 && grep -q "reported to kindling: member [0-9a-f]* replaces member [0-9a-f]*" "$T/n4/etcd-join.log"'
check_that "the cluster page shows the same states (n4: replacement of n2's id, n2: removed, replaced by n4's id)" \
	'page_states_are n1=founding n2=removed:n4 n3=founding n4=replacement:n2'
check "node 4: RabbitMQ starts (its etcd healthy first)" rmq_start 4
check "RabbitMQ: node 4's cluster_status lists exactly nodes 1, 3, 4 running and as disk nodes - node 2 forgotten by peer-discovery cleanup (300 s at most)" \
	wait_until 300 5 rmq_cluster_is 4 1 3 4
note "RabbitMQ forgot node 2 $((SECONDS - T_GONE)) s after it was destroyed"
check "the quorum queue 'orders' and its message survived, seen from node 4" queue_has_message 4
ectl 4 member list -w table >"$T/members-after.txt" 2>&1
rmqctl 4 cluster_status >"$T/cs-after.txt" 2>&1
show "after: etcdctl member list -w table (node 4)" "$T/members-after.txt"
show "after: rabbitmqctl cluster_status (node 4)" "$T/cs-after.txt"
show "after: rabbitmqctl list_queues name type durable messages (node 4)" "$T/queues.json"
grep -h "Peer discovery: .*cleanup\|removing unknown node\|Removing node" "$T"/n[134]/rabbitmq-server.log 2>/dev/null |
	sed 's/\x1b\[[0-9;]*m//g' | sort -u | head -6 >"$T/cleanup-lines.txt"
show "RabbitMQ's peer-discovery cleanup" "$T/cleanup-lines.txt"

# ==== 3. reboot with the data directory ===========================================================
ID3=$(ectl 1 member list 2>/dev/null | awk -F', ' '$3 == "n3" { print $1 }')
IDS_BEFORE=$(ectl 1 member list 2>/dev/null | cut -d, -f1 | sort | paste -sd,)
check "node 3 reboots: its processes end, the machine comes back at $(scn_addr 3) with its disk" \
	eval 'scn_node_destroy 3 && scn_node_up 3'
etcd_up 3 60
check_that "node 3's join step: data directory intact, starts as member n3, nothing changes in the cluster" \
	'tail -3 "$T/n3/etcd-join.log" | grep -q "data directory .* is intact: starting as member n3, nothing changes in the cluster" && ! grep -q "removing\|member add" "$T/n3/etcd-join.log"'
check_that "etcd: n1, n3, n4 started again, the same member ids ($ID3 for n3): nothing removed or added (60 s at most)" \
	'wait_until 60 1 cluster_is 1 n1,n3,n4 && [ "$(ectl 1 member list 2>/dev/null | cut -d, -f1 | sort | paste -sd,)" = "$IDS_BEFORE" ]'
check "node 3: RabbitMQ starts again from its data" rmq_start 3
check "RabbitMQ: nodes 1, 3, 4 running again, node 3 as itself (180 s at most)" wait_until 180 3 rmq_cluster_is 4 1 3 4
# The quorum queue is deleted first (while its three members run), then the
# nodes stop one after another: the last member of a quorum queue, its
# majority gone, once took 158 s to stop on a loaded CI machine, and members
# told to stop at the same moment can wait on one another. What needed
# SIGKILL is named in the check.
killed=""
mgmt 4 -X DELETE http://127.0.0.1:15672/api/queues/%2F/orders >"$T/queue-deleted.txt" 2>&1 || killed=" (the queue could not be deleted: $(head -c 200 "$T/queue-deleted.txt"))"
for i in 4 3 1; do
	t0=$SECONDS
	stop_pid "${RMQ_WRAPPER[$i]}" 120 || killed+=" wrapper-of-node-$i"
	stop_pid "${RMQ_VM[$i]}" 30 || killed+=" vm-of-node-$i"
	stop_pid "${EPMD_PIDS[$i]}" 10 || killed+=" epmd-of-node-$i"
	note "node $i: RabbitMQ stopped in $((SECONDS - t0)) s"
done
check_that "the queue deleted, RabbitMQ stopped on nodes 4, 3, 1 in turn (SIGTERM; the rest of the test is etcd only)${killed:+; needed SIGKILL:$killed}" '[ -z "$killed" ]'
note "steps 1 and 3 done at $((SECONDS - START)) s"

# ==== 2. quorum lost ==================================================================================
check "nodes 3 and 4 destroyed: 1 of 3 members left" eval 'scn_node_destroy 3 && scn_node_destroy 4'
check "node 5 boots at $(scn_addr 5) from the same pointer" eval 'scn_node_up 5 && boot 5'
join_start 5
check_that "node 5's join step says the quorum is lost, changes nothing, and waits (60 s at most)" \
	'wait_until 60 1 grep -q "quorum lost: 0 of 3 members healthy (answering: n1), 2 needed; .*nothing changes; waiting" "$T/n5/etcd-join.log" && pid_alive "${JOIN_PIDS[5]}"'
sleep $((REPLACE_AFTER + 5))
check_that "past etcd_replace_after, still nothing removed: n1's member list is n1, n3, n4; node 5 still waits" \
	'[ "$(all_members 1)" = n1,n3,n4 ] && pid_alive "${JOIN_PIDS[5]}" && ! grep -q "removing it\|member add" "$T/n5/etcd-join.log"'
check "node 3 comes back with its data: its join step lets it start as itself" eval 'scn_node_up 3 && etcd_up 3 60'
check_that "node 5 then completes the replacement: n4 removed, n5 added, its join step ends with 0 (120 s at most)" \
	'wait_until 120 1 join_done 5 && join_ok 5 && grep -q "member n4 (.*) has not answered for" "$T/n5/etcd-join.log"'
etcd_run 5
check "etcd: n1, n3, n5 started and healthy, the key reads back from node 5 (90 s at most)" \
	eval 'wait_until 90 1 cluster_is 5 n1,n3,n5 && [ "$(ectl 5 get /replace/probe --print-value-only)" = survives ]'
check_that "kindling: n5 a replacement of n4, n4 removed; node 3's reboot changed nothing (founding)" \
	'states_are n1=founding n2=removed:n4 n3=founding n4=removed:n5 n5=replacement:n4'
show "node 5: the join step's log" "$T/n5/etcd-join.log"
note "step 2 done at $((SECONDS - START)) s"

# ==== 4. repeated replacement ==========================================================================
members=(1 3 5)
new=6
for old in 1 3 5; do
	members=("${members[@]/$old/$new}")
	want=$(printf 'n%s\n' "${members[@]}" | sort | paste -sd,)
	t0=$SECONDS
	scn_node_destroy "$old"
	check "replacement $((new - 5)) of 3: node $old destroyed, node $new boots, its join step adds it (180 s at most)" \
		eval 'scn_node_up $new && boot $new && etcd_up $new 180'
	check "replacement $((new - 5)): the cluster is back to 3 started, healthy members ($want) holding the key (90 s at most)" \
		eval 'wait_until 90 1 cluster_is $new $want && [ "$(ectl $new get /replace/probe --print-value-only)" = survives ]'
	note "node $old replaced by node $new in $((SECONDS - t0)) s"
	new=$((new + 1))
done
check_that "the last replacement found the cluster with no founding member left (through the replacements' registrations); every replacement registered itself (8 registrations)" \
	'grep -q "added as member [0-9a-f]" "$T/n8/etcd-join.log" && [ "$(started 8)" = n6,n7,n8 ] && [ "$(curl -s "$DISCOVERY_URL" | jq "[.node.nodes[]?] | length")" = 8 ]'
check_that "kindling, JSON and page: n1-n5 removed (each replaced by its successor), n6, n7, n8 replacements of n1, n3, n5" \
	'states_are n1=removed:n6 n2=removed:n4 n3=removed:n7 n4=removed:n5 n5=removed:n8 n6=replacement:n1 n7=replacement:n3 n8=replacement:n5 && page_states_are n1=removed:n6 n2=removed:n4 n5=removed:n8 n6=replacement:n1 n7=replacement:n3 n8=replacement:n5'
ectl 8 member list -w table >"$T/members-end.txt" 2>&1
show "end: etcdctl member list -w table (node 8)" "$T/members-end.txt"
curl -s "$KURL/clusters/$CLUSTER" -H "$AUTH" | jq -c '.members.list[] | {name, id, state, replaces, removed_by}' >"$T/members.json"
show "kindling's cluster JSON .members.list (3 founders + 5 replacements, with their states)" "$T/members.json"

# ---- teardown ----------------------------------------------------------------------------------------
for i in 6 7 8; do kill -TERM "${ETCD_PIDS[$i]}" 2>/dev/null; done
ok=1
for i in 6 7 8; do stop_pid "${ETCD_PIDS[$i]}" 15 || ok=0; done
check_that "etcd stops on SIGTERM on nodes 6, 7, 8" '[ $ok = 1 ]'
kindling_stop
scn_net_down >/dev/null
check_that "the namespaces are gone" '(for ns in "$SCN_HUB" "${SCN_NODES[@]}"; do ! scn_ns_exists "$ns" || exit 1; done)'
PIDS_TO_STOP=()
note "total $((SECONDS - START)) s (report: $REPORT)"
finish
