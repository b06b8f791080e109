#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that takes single-quoted expressions, evaluated later
# test_replace_v3.sh - node replacement (issue 16, acceptance 5) for a
# cluster on v3 discovery ("discovery_protocol": "v3", profile etcd-v3), in
# test_replace.sh's world: network namespaces, the real Ignition 2.14 writing
# the etcd-v3 profile's files, the real join step (/opt/kindling/etcd-join,
# the same file as the etcd profile's) and Debian's etcd 3.4.
#
# What runs for real and what stands in: etcd 3.4 has no v3 discovery and
# no etcd >= 3.6 exists here (reference V3.md). So when a founding member's
# join step decides to bootstrap through v3 discovery (it writes
# --discovery-token and --discovery-endpoints), the test does what an etcd
# 3.6 member does with those flags (V3.md's JoinCluster steps 1-6) with
# Debian's etcdctl 3.4 - clientv3 over gRPC, the library members use -
# against kindling's gRPC port: reads the size key, registers the member
# under its etcd member id (computed as etcd does: sha1 of the peer URL and
# the cluster token, here the discovery token), lists the registrations by
# create revision, and starts etcd 3.4 with the --initial-cluster that
# yields. The replacement is all real: node 2 is destroyed, node 4 boots from
# the same pointer, and its join step (reading the registrations the v3
# founders made, over kindling's HTTP view of the same directory) removes
# n2, adds itself and starts etcd 3.4 with --initial-cluster-state=existing,
# registers itself and reports the replacement to kindling. No RabbitMQ
# (test_replace.sh covers it; v3 changes nothing there).
# Needs root and the Debian packages iproute2 ignition etcd-server
# etcd-client curl jq util-linux.
# timeout: 600
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
source "$(dirname "$0")/lib_scenario.sh"
source "$(dirname "$0")/lib_replace.sh"
plan 19

CLUSTER=v3c
REPLACE_AFTER=15
REPORT=${REPLACE_REPORT:-build/test-replace-v3.log}
note() { echo "# $*" | tee -a "$REPORT"; }
show() {
	{
		echo "# ---- $1"
		sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/| /' "$2"
	} | tee -a "$REPORT"
}

require_tool "$IGNITION_BIN" /usr/bin/etcd /usr/bin/etcdctl /usr/bin/curl /usr/bin/jq /usr/bin/flock \
	/usr/bin/sha1sum ip
if ! scn_lock; then
	fail "another scenario run held $SCN_LOCK for 300 s"
	exit 1
fi
mkdir -p "$(dirname "$REPORT")" && : >"$REPORT" || REPORT=/dev/null
START=$SECONDS

declare -A ETCD_PIDS=() JOIN_PIDS=()
trap 'st=$?; scn_net_down; cleanup $st' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check "network: hub $SCN_HUB, nodes 1-3 at $SCN_NET.11-13" scn_net_up
[ "$FAILS" -eq 0 ] || exit 1

# ---- kindling on the hub, with its gRPC (v3 discovery) port ---------------------------------------
KURL=http://$SCN_NET.1:8080
GURL=http://$SCN_NET.1:8081
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$SCN_HUB" "$(realpath "$KINDLING_BIN")" >"$T/kindling-in-hub"
chmod 755 "$T/kindling-in-hub"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/admin-token"
KINDLING_BIN=$T/kindling-in-hub kindling_start --listen "$SCN_NET.1:8080" --public-url "$KURL" \
	--grpc-listen "$SCN_NET.1:8081" --admin-token-file "$T/admin-token" --http-total 60 || {
	fail "kindling starts in $SCN_HUB on $KURL and $GURL"
	exit 1
}
BASE=$KURL
curl() { ip netns exec "$SCN_HUB" curl "$@"; }
AUTH="Authorization: Bearer $(cat "$T/admin-token")"
curl -s -X POST "$KURL/clusters" -H "$AUTH" -H 'Content-Type: application/json' \
	-d "{\"name\": \"$CLUSTER\", \"size\": 3, \"discovery_protocol\": \"v3\", \"profiles\": [\"etcd-v3\"], \"vars\": {\"etcd_replace_after\": \"$REPLACE_AFTER\", \"etcd_join_retry\": \"3\"}}" >"$T/created.json"
curl -s "$KURL/clusters/$CLUSTER/userdata" -H "$AUTH" >"$T/pointer.ign"
TOKEN=$(jq -r .discovery_token "$T/created.json")
DISCOVERY_URL=$(jq -r .discovery_url "$T/created.json")
check_that "POST /clusters creates $CLUSTER on v3 discovery (profile etcd-v3, its token and gRPC endpoint), and its pointer" \
	'jq -e ".discovery_protocol == \"v3\" and .discovery_endpoints == [\"$GURL\"] and (.discovery_token | test(\"^[0-9a-f]{32}$\"))" "$T/created.json" >/dev/null && jq -e .ignition.config.replace.source "$T/pointer.ign" >/dev/null'
[ "$FAILS" -eq 0 ] || exit 1

DROPIN=etc/systemd/system/etcd-member.service.d/20-clct-etcd-member.conf
R=/_etcd/registry/$TOKEN

# gctl I ARG... - Debian's etcdctl 3.4 (clientv3 over gRPC) on machine I
# against kindling's v3 discovery endpoint; up to 5 tries (etcdctl's own
# deadline is 5 s, and the machine is shared: no upper time bound here; every
# command used is idempotent, a put of the same value included).
gctl() {
	local i=$1 n out
	shift
	for n in 1 2 3 4 5; do
		if out=$(in_ns "$(scn_ns "$i")" env ETCDCTL_API=3 timeout 15 etcdctl --endpoints "$GURL" \
			--dial-timeout 2s --command-timeout 5s "$@"); then
			printf '%s\n' "$out"
			return 0
		fi
		echo "# etcdctl $1 on node $i failed (try $n of 5)" >&2
		sleep 1
	done
	return 1
}
# member_id PEER-URL CLUSTER-TOKEN - the id etcd gives a member of an
# initial cluster: the first 8 bytes of sha1(peer URLs sorted and joined,
# then the cluster token), in hex without leading zeros.
member_id() { printf '%s%s' "$1" "$2" | sha1sum | cut -c1-16 | sed 's/^0*//'; }

# v3_register I - step 3 of an etcd 3.6 member's JoinCluster, after steps
# 1-2 (the size key, the members): machine I registers under its member id.
v3_register() {
	local i=$1 peer
	peer=http://$(scn_addr "$i"):2380
	[ "$(gctl "$i" get --print-value-only "$R/_config/size")" = 3 ] || return 1
	gctl "$i" get --prefix "$R/members" >/dev/null || return 1
	[ "$(gctl "$i" put "$R/members/$(member_id "$peer" "$TOKEN")" "n$i=$peer")" = OK ]
}
# etcd_flags_hook I - (lib_replace.sh's etcd_run) when the join step chose v3
# discovery: steps 4-6 - the registrations by create revision, the first
# size of them the --initial-cluster - and etcd 3.4 starts with that in
# place of the discovery flags it does not know. A replacement's flags
# (--initial-cluster from member add) are left as they are.
etcd_flags_hook() {
	local f v3=0 kept=() ic
	for f in "${flags[@]}"; do
		case $f in
		--discovery-token=* | --discovery-endpoints=*) v3=1 ;;
		*) kept+=("$f") ;;
		esac
	done
	[ "$v3" = 1 ] || return 0
	ic=$(gctl "$1" get --prefix "$R/members" --sort-by=CREATE --order=ASCEND --print-value-only |
		grep = | head -3 | paste -sd,)
	[ "$(echo "$ic" | tr , '\n' | grep -c .)" = 3 ] || return 1
	flags=("${kept[@]}" "--initial-cluster=$ic" --initial-cluster-state=new "--initial-cluster-token=$TOKEN")
}

# ==== founding: 3 nodes through v3 discovery ========================================================
boot_pids=()
for i in 1 2 3; do
	(
		boot "$i"
		echo $? >"$T/boot$i.rc"
	) &
	boot_pids+=("$!")
done
wait "${boot_pids[@]}"
check_that "nodes 1-3 boot: Ignition fetch + files exit 0, the etcd-v3 profile's join step and its v3 inputs written" \
	'(for i in 1 2 3; do [ "$(cat $T/boot$i.rc)" = 0 ] && [ -x $T/n$i/sysroot/opt/kindling/etcd-join ] && grep -qx "KINDLING_DISCOVERY_TOKEN=$TOKEN" $T/n$i/sysroot/etc/kindling/etcd-join.env || exit 1; done)'
ok=1
for i in 1 2 3; do
	join_start "$i" && wait_until 60 0.5 join_done "$i" && join_ok "$i" || ok=0
done
check_that "nodes 1-3: each join step decides 'a founding member' through the v3 discovery token and writes --discovery-token, --discovery-endpoints" \
	'[ $ok = 1 ] && (for i in 1 2 3; do grep -q "a founding member, bootstrapping through the v3 discovery token" $T/n$i/etcd-join.log && grep -qx "KINDLING_ETCD_BOOTSTRAP=--discovery-token=$TOKEN --discovery-endpoints=$GURL" $T/n$i/sysroot/run/kindling/etcd-bootstrap.env || exit 1; done)'
ok=1
for i in 1 2 3; do v3_register "$i" || ok=0; done
check_that "v3 discovery steps 1-3 over gRPC (etcdctl 3.4): size 3, each node registered; kindling's HTTP view of the directory lists the same 3" \
	'[ $ok = 1 ] && [ "$(gctl 1 get --prefix "$R/members" --keys-only | grep -c .)" = 3 ] && [ "$(curl -s "$DISCOVERY_URL" | jq "[.node.nodes[]?] | length")" = 3 ]'
for i in 1 2 3; do etcd_run "$i"; done
check "etcd 3.4: n1, n2, n3 formed one cluster from the v3 registrations (120 s at most)" \
	wait_until 120 1 cluster_is 1 n1,n2,n3
check_that "etcd's member ids are the ids registered in kindling (the id a member computes and registers)" \
	'[ "$(ectl 1 member list 2>/dev/null | cut -d, -f1 | sort | paste -sd,)" = "$(curl -s "$DISCOVERY_URL" | jq -r ".node.nodes[].key" | sed "s|.*/||" | sort | paste -sd,)" ]'
check "etcd: key /replace/probe written through node 1" eval "ectl 1 put /replace/probe survives >/dev/null"
ectl 1 member list -w table >"$T/members-before.txt" 2>&1
show "before: etcdctl member list -w table (node 1)" "$T/members-before.txt"
note "3 nodes up at $((SECONDS - START)) s"

# ==== replacement: all real ============================================================================
check "node 2 destroyed: its processes killed, its namespace gone" scn_node_destroy 2
T_GONE=$SECONDS
check "node 4 boots at $(scn_addr 4) from the same pointer (Ignition fetch + files)" eval 'scn_node_up 4 && boot 4'
etcd_up 4 180
check_that "node 4's join step removed n2 after $REPLACE_AFTER s unreachable (quorum healthy), added itself, starts with --initial-cluster-state=existing" \
	'grep -qE "member n2 \([0-9a-f]+, http://$SCN_NET.12:2380\) has not answered for ([0-9]+) s \(limit $REPLACE_AFTER s\) and 2 of 3 members are healthy: removing it" "$T/n4/etcd-join.log" && grep -q "added as member [0-9a-f]*: starting with --initial-cluster=.* --initial-cluster-state=existing" "$T/n4/etcd-join.log" && grep -q -- "--initial-cluster-state=existing" "$T/n4/etcd.flags"'
show "node 4: the join step's log (etcd-member.service's journal)" "$T/n4/etcd-join.log"
check "etcd: node 4's member list shows n1, n3, n4 started, all healthy, and no n2 (90 s at most)" \
	wait_until 90 1 cluster_is 4 n1,n3,n4
note "etcd replaced n2 by n4 $((SECONDS - T_GONE)) s after node 2 was destroyed"
check_that "the key reads back from node 4" '[ "$(ectl 4 get /replace/probe --print-value-only 2>/dev/null)" = survives ]'
check_that "node 4 registered itself: 4 registrations, over HTTP and over gRPC" \
	'[ "$(curl -s "$DISCOVERY_URL" | jq "[.node.nodes[]?] | length")" = 4 ] && [ "$(gctl 1 get --prefix "$R/members" --keys-only | grep -c .)" = 4 ]'
check_that "kindling records it (cluster JSON and page): n4 a replacement of n2, n2 removed, n1 and n3 founding; node 4 reported it" \
	'states_are n1=founding n2=removed:n4 n3=founding n4=replacement:n2 && page_states_are n1=founding n2=removed:n4 n3=founding n4=replacement:n2 && grep -q "reported to kindling: member [0-9a-f]* replaces member [0-9a-f]*" "$T/n4/etcd-join.log"'
curl -s "$KURL/clusters/$CLUSTER" -H "$AUTH" | jq -c '.members.list[] | {name, id, state, replaces, removed_by}' >"$T/members.json"
show "kindling's cluster JSON .members.list" "$T/members.json"

# ---- teardown ----------------------------------------------------------------------------------------
for i in 1 3 4; do kill -TERM "${ETCD_PIDS[$i]}" 2>/dev/null; done
ok=1
for i in 1 3 4; do stop_pid "${ETCD_PIDS[$i]}" 15 || ok=0; done
check_that "etcd stops on SIGTERM on nodes 1, 3, 4" '[ $ok = 1 ]'
kindling_stop
scn_net_down >/dev/null
check_that "the namespaces are gone" '(for ns in "$SCN_HUB" "${SCN_NODES[@]}"; do ! scn_ns_exists "$ns" || exit 1; done)'
PIDS_TO_STOP=()
note "total $((SECONDS - START)) s (report: $REPORT)"
finish
