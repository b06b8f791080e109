#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that takes single-quoted expressions, evaluated later
# test_scenario.sh - the scenario kindling exists for, end to end: an operator
# creates cluster rmq (profiles etcd + rabbitmq, size 3) with curl; three
# machines, each a network namespace with its own address and its own
# loopback, boot from the pointer config: the real Ignition 2.14 fetch stage
# fetches the config from kindling across the network and the files stage
# writes it into the machine's root; each machine then starts its services as
# the written units say - etcd (Debian's etcd 3.4) with the drop-in's
# ExecStart flags, RabbitMQ (Debian's rabbitmq-server 3.10 in place of the
# Docker image) with the written rabbitmq.conf, enabled_plugins and Erlang
# cookie once its etcd answers healthy (the unit's ExecStartPre); the three
# etcd members form one cluster through kindling's discovery URL, the three
# RabbitMQ nodes form one cluster through etcd, and kindling shows 3/3 members
# and 3 fetches. Prints the etcd member list, the RabbitMQ cluster status and
# the cluster JSON. Tears everything down by PID and deletes its namespaces.
# On PostgreSQL (pg:tests/e2e/test_scenario.sh) kindling is three replicas on
# one database behind the one public URL, and each machine is pinned to a
# different one (node 1 to A, 2 to B, 3 to C), as a load balancer may do: the
# operator creates through A, the machines fetch, register, watch and report
# through three processes, and the operator reads the result through B and C.
# Needs root and the Debian packages iproute2 ignition etcd-server
# etcd-client rabbitmq-server curl jq (see lib_scenario.sh for the network;
# nftables for the replicas).
# timeout: 900
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
source "$(dirname "$0")/lib_scenario.sh"
# on PostgreSQL: the replicas answer, the registrations' replicas, two more stops
if on_pg; then plan 68; else plan 64; fi

RMQ_BIN=/usr/lib/rabbitmq/bin
CLUSTER=rmq
# The scenario's report (the notes and outputs below, without the PASS/FAIL
# lines) also goes to this file, which outlives the test's folder: tests/run.sh
# keeps no log of a passing test.
# (Emptied once this run holds the scenario lock.)
REPORT=${SCENARIO_REPORT:-build/test-scenario$(on_pg && echo -pg).log}
# note TEXT - a line of the scenario's report.
note() { echo "# $*" | tee -a "$REPORT"; }
# show TITLE FILE - prints FILE into the report, framed, each line prefixed
# "| ", without terminal escapes (rabbitmqctl prints bold headings).
show() {
	{
		echo "# ---- $1"
		sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/| /' "$2"
	} | tee -a "$REPORT"
}

# Debian packages: iproute2 ignition etcd-server etcd-client rabbitmq-server curl jq util-linux
require_tool "$IGNITION_BIN" /usr/bin/etcd /usr/bin/etcdctl /usr/bin/epmd "$RMQ_BIN/rabbitmq-server" \
	"$RMQ_BIN/rabbitmqctl" /usr/bin/curl /usr/bin/jq /usr/bin/flock ip
on_pg && require_tool nft psql
LOCK_START=$SECONDS
if ! scn_lock; then
	fail "another scenario run held $SCN_LOCK for 300 s"
	exit 1
fi
mkdir -p "$(dirname "$REPORT")" && : >"$REPORT" || REPORT=/dev/null
[ $((SECONDS - LOCK_START)) -gt 1 ] && note "waited $((SECONDS - LOCK_START)) s for another scenario run"
START=$SECONDS

# The machines' processes, by node: stopped by PID at the end (and by the
# EXIT trap: scn_net_down kills whatever is still inside the namespaces, then
# lib.sh's cleanup).
declare -A ETCD_PIDS=() EPMD_PIDS=() RMQ_WRAPPER=() RMQ_VM=()
trap 'st=$?; scn_net_down; cleanup $st' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the network --------------------------------------------------------------------------
check "network: hub namespace $SCN_HUB with bridge $SCN_NET.1/24, nodes ${SCN_NODES[*]} at $SCN_NET.11-13" scn_net_up
[ "$FAILS" -eq 0 ] || exit 1

# ---- kindling on the hub, reachable by the nodes ---------------------------------------------
# kindling runs inside the hub namespace (the wrapper execs into it, so $KPID
# is kindling's PID). A non-loopback listen address needs an admin token:
# the operator's curl carries it, the nodes never need it. (kindling_start
# passes --listen 127.0.0.1:0 first; the later --listen wins.)
# KURL is the public URL, the one every config names. RURL[I] is where machine
# I's requests for it arrive and RLOG[I] that kindling's log: with one
# kindling, KURL and its log for all three.
KURL=http://$SCN_NET.1:8080
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$SCN_HUB" "$(realpath "$KINDLING_BIN")" >"$T/kindling-in-hub"
chmod 755 "$T/kindling-in-hub"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/admin-token"
KFLAGS=(--public-url "$KURL" --admin-token-file "$T/admin-token" --http-total 60)
declare -A RURL=() RLOG=() RNAME=([1]=A [2]=B [3]=C)
if on_pg; then
	# Three replicas, A, B and C at $SCN_NET.2-4, on one database of a
	# PostgreSQL of this test's own, reached by its Unix socket (the hub has
	# a loopback of its own). Machine I's packets for the public URL go to
	# replica I: a DNAT rule in the machine (scn_node_via), so kindling still
	# sees the machine's own address.
	unset KINDLING_TEST_PG_URL
	pg_ensure || { fail "a PostgreSQL for the replicas starts"; exit 1; }
	url=$(pg_url_of "$T/db/kindling.db") || { fail "a database for the replicas"; exit 1; }
	port=${KINDLING_TEST_PG_URL##*:}
	DB="postgresql://kindling@/${url##*/}?host=$KINDLING_TEST_PG_DIR&port=${port%%/*}"
	for i in 1 2 3; do
		a=$SCN_NET.$((1 + i))
		in_ns "$SCN_HUB" ip addr add "$a/24" dev kbr0 &&
			KINDLING_BIN=$T/kindling-in-hub replica_start "${RNAME[$i]}" --db "$DB" \
				--listen "$a:8080" "${KFLAGS[@]}" || {
			fail "replica ${RNAME[$i]} starts in $SCN_HUB on $a:8080"
			exit 1
		}
		RURL[$i]=http://$a:8080 # (RB holds 127.0.0.1: kindling_start's view from the host)
		RLOG[$i]=${RL[${RNAME[$i]}]}
		scn_node_via "$i" "$SCN_NET.1" 8080 "$a" || {
			fail "node $i reaches $KURL at replica ${RNAME[$i]} ($a:8080)"
			exit 1
		}
	done
	check_that "replicas A, B, C answer at ${RURL[1]}, ${RURL[2]}, ${RURL[3]} (one PostgreSQL database); node 1 reaches A, node 2 B, node 3 C at $KURL" \
		'(for i in 1 2 3; do in_ns "$SCN_HUB" curl -sf --max-time 5 -o /dev/null "${RURL[$i]}/healthz" && in_ns "${SCN_NODES[$((i - 1))]}" curl -sf --max-time 5 -o /dev/null "$KURL/healthz" && eventually 10 grep -qE "GET /healthz 200 .* $(scn_addr $i)( |$)" "${RLOG[$i]}" || exit 1; done)'
else
	KINDLING_BIN=$T/kindling-in-hub kindling_start --listen "$SCN_NET.1:8080" "${KFLAGS[@]}" || {
		fail "kindling starts in $SCN_HUB on $KURL"
		exit 1
	}
	for i in 1 2 3; do
		RURL[$i]=$KURL
		RLOG[$i]=$(readlink -f "$T/kindling.log")
	done
fi
# kindling_logs_all - every kindling's request log, once each.
kindling_logs_all() { printf '%s\n' "${RLOG[@]}" | sort -u | xargs cat; }
BASE=${RURL[1]}
# the operator works on kindling's machine: every curl runs in the hub
curl() { ip netns exec "$SCN_HUB" curl "$@"; }
AUTH="Authorization: Bearer $(cat "$T/admin-token")"
check "kindling answers /healthz at $KURL from node 1, across its veth" \
	in_ns "${SCN_NODES[0]}" curl -sf --max-time 5 -o /dev/null "$KURL/healthz"

# ---- the operator: create the cluster, take the pointer config (README's curl) -----------------
# the report profile too: each machine reports its boot; its script finds
# the fetch token in the pointer config, which is the file platform's config
# file here (report_pointer; on EC2 it reads the user data itself)
CREATE="{\"name\": \"rmq\", \"size\": 3, \"profiles\": [\"etcd\", \"rabbitmq\", \"report\"], \"vars\": {\"report_pointer\": \"$T/pointer.ign\", \"report_wait\": \"60\", \"report_journal_lines\": \"10\"}}"
note "\$ curl -s -X POST ${RURL[1]}/clusters -H 'Authorization: Bearer …' -H 'Content-Type: application/json' -d '$CREATE'"
curl -s -X POST "${RURL[1]}/clusters" -H "$AUTH" \
	-H 'Content-Type: application/json' \
	-d "$CREATE" >"$T/created.json"
check_that "POST /clusters creates rmq (size 3, etcd + rabbitmq + report) with a discovery URL under $KURL" \
	'jq -e --arg u "$KURL/discovery/" ".name == \"rmq\" and .size == 3 and .profiles == [\"etcd\",\"rabbitmq\",\"report\"] and (.discovery_url | startswith(\$u))" "$T/created.json" >/dev/null'
DISCOVERY_URL=$(jq -r .discovery_url "$T/created.json")
note "\$ curl -s ${RURL[1]}/clusters/rmq/userdata -H 'Authorization: Bearer …' > pointer.ign"
curl -s "${RURL[1]}/clusters/rmq/userdata" -H "$AUTH" >"$T/pointer.ign"
check_that "the pointer config names $KURL/clusters/rmq/ignition and carries the fetch token" \
	'jq -e --arg s "$KURL/clusters/rmq/ignition" ".ignition.config.replace.source == \$s and (.ignition.config.replace.httpHeaders[0].value | length > 20)" "$T/pointer.ign" >/dev/null'
note "pointer config: $(wc -c <"$T/pointer.ign") bytes"
if [ "$FAILS" -ne 0 ]; then
	cat "$T/created.json" "$T/pointer.ign" >&2
	exit 1
fi

# ---- first boot: Ignition fetch + files on the three machines at once ------------------------
# The pointer is the file platform's config file (what user data is on EC2);
# Ignition runs inside the machine's namespace, so its fetch goes over the
# machine's eth0 to kindling.
boot_pids=()
for i in 1 2 3; do
	ns=${SCN_NODES[$((i - 1))]}
	R=$T/n$i
	mkdir -p "$R"
	cp "$T/pointer.ign" "$R/config.ign"
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$ns" "$IGNITION_BIN" >"$R/ignition"
	chmod 755 "$R/ignition"
	(
		IGNITION_BIN=$R/ignition ignition_boot "$R" "$R/config.ign"
		echo $? >"$R/boot.rc"
	) &
	boot_pids+=("$!")
done
wait "${boot_pids[@]}"
for i in 1 2 3; do
	R=$T/n$i
	check_that "node $i ($(scn_addr "$i")): Ignition fetch + files stages exit 0" '[ "$(cat "$R/boot.rc")" = 0 ]'
	S=$R/sysroot
	check_that "node $i: Ignition wrote the etcd drop-in, rabbitmq.service, rabbitmq.conf, enabled_plugins and the cookie (0400)" \
		'[ -s "$S/etc/systemd/system/etcd-member.service.d/20-clct-etcd-member.conf" ] && [ -s "$S/etc/systemd/system/rabbitmq.service" ] && [ -s "$S/etc/rabbitmq/rabbitmq.conf" ] && [ -s "$S/etc/rabbitmq/enabled_plugins" ] && [ "$(stat -c %a "$S/var/lib/rabbitmq/.erlang.cookie")" = 400 ]'
done
check "kindling logged one 200 config fetch from each machine's own address$(on_pg && echo ", each on its own replica (3 in all)")" eventually 30 eval \
	'(for i in 1 2 3; do [ "$(grep -cE "GET /clusters/rmq/ignition 200 .* $(scn_addr $i)( |$)" "${RLOG[$i]}")" = 1 ] || exit 1; done; [ "$(kindling_logs_all | grep -c "GET /clusters/rmq/ignition 200")" = 3 ])'
if [ "$FAILS" -ne 0 ]; then
	for i in 1 2 3; do cat "$T/n$i/fetch.log" "$T/n$i/files.log"; done | tail -60 >&2
	kindling_logs_all | grep ignition >&2
	exit 1
fi
show "node 1: Ignition fetch stage (the config.replace fetch)" \
	<(grep -E 'fetching config|GET|fetched|config.replace|replac' "$T/n1/fetch.log" | head -12)
show "kindling's request log: the 3 config fetches" <(kindling_logs_all | grep 'ignition')

# ---- etcd-member.service: the drop-in's ExecStart --------------------------------------------
# coreos-metadata.service writes /run/metadata/coreos on EC2 (the unit's
# EnvironmentFile); here the test writes the machine's address there.
DROPIN=etc/systemd/system/etcd-member.service.d/20-clct-etcd-member.conf
for i in 1 2 3; do
	ns=${SCN_NODES[$((i - 1))]}
	R=$T/n$i
	S=$R/sysroot
	mkdir -p "$S/run/metadata"
	echo "COREOS_EC2_IPV4_LOCAL=$(scn_addr "$i")" >"$S/run/metadata/coreos"
	# the drop-in's ExecStartPre first: the join step (etcd-member.service
	# gives it ETCD_NAME and ETCD_DATA_DIR) writes the bootstrap flags; a
	# founding member's are --discovery=<the cluster's URL>
	unit_env_rooted "$S" "$S/$DROPIN"
	mapfile -t envs < <(unit_env_words)
	IFS=$'\t' read -r -a pre < <(unit_exec_rooted "$S" "$S/$DROPIN" ExecStartPre)
	in_ns "$ns" env "${envs[@]}" ETCD_NAME="n$i" ETCD_DATA_DIR="$S/var/lib/etcd" \
		timeout 60 "${pre[@]}" >"$R/etcd-join.log" 2>&1
	check_that "node $i: the join step (ExecStartPre) decides: a founding member, bootstrapping through the discovery URL" \
		'grep -q "a founding member, bootstrapping through the discovery URL" "$R/etcd-join.log"'
	unit_env_rooted "$S" "$S/$DROPIN"
	envfile="$(unit_values "$S/$DROPIN" EnvironmentFile | paste -sd' ')"
	line=$(unit_values "$S/$DROPIN" ExecStart | tail -1)
	mapfile -t words < <(unit_words "$line")
	flags=()
	bad=""
	for w in "${words[@]:1}"; do
		if [[ $w =~ ^--[a-z0-9-]+=. ]]; then flags+=("$w"); else bad="$bad $w"; fi
	done
	check_that "node $i: the drop-in runs /usr/lib/coreos/etcd-wrapper with only --flag=value words (from $envfile)" \
		'[ "${words[0]}" = /usr/lib/coreos/etcd-wrapper ] && [ -z "$bad" ] && [ "${#flags[@]}" -ge 5 ]'
	check_that "node $i: its --discovery is the cluster's kindling URL, as the join step wrote it" \
		'printf "%s\n" "${flags[@]}" | grep -qxF -- "--discovery=$DISCOVERY_URL"'
	printf '%s\n' "${flags[@]}" >"$R/etcd.flags"
	# Debian's etcd in place of the etcd-wrapper (Container Linux's etcd-member
	# sets the name and /var/lib/etcd; here n1..n3 and the machine's root)
	ip netns exec "$ns" etcd --name "n$i" --data-dir "$S/var/lib/etcd" "${flags[@]}" >"$R/etcd.log" 2>&1 &
	ETCD_PIDS[$i]=$!
	PIDS_TO_STOP+=("$!")
done
note "node 1 runs: etcd --name n1 --data-dir …/var/lib/etcd $(paste -sd' ' "$T/n1/etcd.flags" | sed 's|/discovery/[0-9a-f]*|/discovery/<token>|')"

# ectl NODE ARG... - etcdctl (v3 API) on machine NODE against its own etcd.
ectl() {
	local i=$1
	shift
	in_ns "${SCN_NODES[$((i - 1))]}" env ETCDCTL_API=3 timeout 10 etcdctl --endpoints 127.0.0.1:2379 \
		--dial-timeout 2s --command-timeout 5s "$@"
}
ALL_EPS="$(scn_addr 1):2379,$(scn_addr 2):2379,$(scn_addr 3):2379"
PEERS="n1=http://$(scn_addr 1):2380,n2=http://$(scn_addr 2):2380,n3=http://$(scn_addr 3):2380"
etcd_formed() {
	[ "$(ectl 1 member list 2>/dev/null | grep -c ', started, ')" = 3 ] &&
		ectl 1 --endpoints "$ALL_EPS" endpoint health >/dev/null 2>&1
}
check "etcd: the 3 members formed one cluster through kindling's discovery (3 started, all healthy; 120 s at most)" \
	wait_until 120 1 etcd_formed
if [ "$FAILS" -ne 0 ]; then
	for i in 1 2 3; do tail -15 "$T/n$i/etcd.log"; done >&2
	exit 1
fi
ectl 1 member list -w table >"$T/member-list.txt" 2>&1
ectl 1 --endpoints "$ALL_EPS" endpoint health -w table >"$T/endpoint-health.txt" 2>&1
check_that "each machine's etcd lists the same 3 members n1-n3 with peer URLs on their own addresses" \
	'(for i in 1 2 3; do [ "$(ectl $i member list 2>/dev/null | awk -F", " "{print \$3 \"=\" \$4}" | sort | paste -sd,)" = "$PEERS" ] || exit 1; done)'
# Proof that discovery formed the cluster: the members etcd lists are exactly
# the ones that registered in kindling's discovery directory (member ids are
# random per bootstrap, so only members that registered can match), and the
# directory holds no other.
ectl 1 member list >"$T/member-ids.txt" 2>&1
# (the directory as replica B has it: the operator reads a replica directly)
curl -s "${RURL[2]}${DISCOVERY_URL#"$KURL"}?quorum=false&recursive=false&sorted=false" >"$T/discovery-dir.json"
ETCD_IDS=$(cut -d, -f1 "$T/member-ids.txt" | sed 's/^0*//' | sort | paste -sd,)
DISC_IDS=$(jq -r '.node.nodes[]?.key | split("/") | last' "$T/discovery-dir.json" | sed 's/^0*//' | sort | paste -sd,)
check_that "the 3 members bootstrapped through kindling's discovery: etcd's member ids are the ones registered there ($ETCD_IDS)" \
	'[ "$(echo "$ETCD_IDS" | tr "," "\n" | grep -c .)" = 3 ] && [ "$ETCD_IDS" = "$DISC_IDS" ]'

# ---- rabbitmq.service: ExecStartPre, then the docker run's environment -----------------------
# From the written unit: the -e variables of its `docker run --net=host`
# (RABBITMQ_USE_LONGNAME, RABBITMQ_NODENAME=rabbit@<the machine's address>);
# its -v mounts put the written /etc/rabbitmq and /var/lib/rabbitmq where the
# image reads them, so here: the config file and enabled_plugins as written,
# HOME = the written /var/lib/rabbitmq (the image's HOME: its .erlang.cookie is
# the written cookie, 0400), data under it. Per machine besides: our own epmd
# (started first, so the VM does not spawn a daemon one), logs, pid file, and
# no /etc/rabbitmq/rabbitmq-env.conf of this host.
UNIT=etc/systemd/system/rabbitmq.service
declare -A RMQ_NODE=()
# rmq_env I - prints machine I's RabbitMQ environment (server and CLI), one
# VAR=VALUE a line: the unit's -e variables, then the paths.
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
# rmqctl I ARG... - rabbitmqctl on machine I, against its own node.
rmqctl() {
	local i=$1 envs
	shift
	mapfile -t envs < <(rmq_env "$i")
	in_ns "${SCN_NODES[$((i - 1))]}" env "${envs[@]}" \
		timeout "${RMQCTL_TIMEOUT:-30}" "$RMQ_BIN/rabbitmqctl" -n "${RMQ_NODE[$i]}" "$@"
}
for i in 1 2 3; do
	ns=${SCN_NODES[$((i - 1))]}
	R=$T/n$i
	S=$R/sysroot
	unit_env_load "$S$(unit_values "$S/$UNIT" EnvironmentFile)"
	mapfile -t words < <(unit_words "$(unit_values "$S/$UNIT" ExecStart)")
	: >"$R/rabbitmq.env"
	for ((k = 0; k < ${#words[@]}; k++)); do
		[ "${words[$k]}" = -e ] && echo "${words[$((k + 1))]}" >>"$R/rabbitmq.env"
	done
	check_that "node $i: rabbitmq.service runs the image with --net=host, the /etc/rabbitmq and /var/lib/rabbitmq mounts and RABBITMQ_NODENAME=rabbit@$(scn_addr "$i")" \
		'printf "%s\n" "${words[@]}" | grep -qx -- --net=host && printf "%s\n" "${words[@]}" | grep -qx /etc/rabbitmq:/etc/rabbitmq && printf "%s\n" "${words[@]}" | grep -qx /var/lib/rabbitmq:/var/lib/rabbitmq && grep -qx "RABBITMQ_NODENAME=rabbit@$(scn_addr $i)" "$R/rabbitmq.env"'
	RMQ_NODE[$i]=$(sed -n 's/^RABBITMQ_NODENAME=//p' "$R/rabbitmq.env")
	mkdir -p "$S/var/log/rabbitmq"
	ip netns exec "$ns" epmd -port 4369 >"$R/epmd.log" 2>&1 &
	EPMD_PIDS[$i]=$!
	PIDS_TO_STOP+=("$!")
done
check_that "the written rabbitmq.conf is used as written: its etcd endpoint 127.0.0.1:2379 is each machine's own etcd" \
	'(for i in 1 2 3; do grep -qx "cluster_formation.etcd.endpoints.1 = 127.0.0.1:2379" "$T/n$i/sysroot/etc/rabbitmq/rabbitmq.conf" || exit 1; done)'
check "epmd listens on 4369 in each machine" wait_until 30 0.2 bash -c \
	'for ns in "$@"; do ip netns exec "$ns" ss -Htln | grep -q ":4369 " || exit 1; done' _ "${SCN_NODES[@]}"

# The unit's ExecStartPre lines, in the machine (the docker rm is for Docker
# only): the one that waits for etcd to answer healthy is what orders
# RabbitMQ after etcd. Bounded here by 120 s (the unit: TimeoutStartSec=900).
for i in 1 2 3; do
	ns=${SCN_NODES[$((i - 1))]}
	R=$T/n$i
	S=$R/sysroot
	ok=1
	while IFS= read -r pre; do
		case $pre in *docker*) continue ;; esac
		pre=${pre#-}
		mapfile -t pw < <(unit_words "$pre")
		note "node $i ExecStartPre: ${pw[*]}"
		in_ns "$ns" timeout 120 "${pw[@]}" >>"$R/execstartpre.log" 2>&1 || ok=0
	done < <(unit_values "$S/$UNIT" ExecStartPre)
	check_that "node $i: the unit's ExecStartPre (etcd at 127.0.0.1:2379 answers healthy) succeeds" '[ $ok = 1 ] && grep -q "\"health\":\"true\"" "$R/execstartpre.log"'
	mapfile -t envs < <(rmq_env "$i")
	ip netns exec "$ns" env "${envs[@]}" "$RMQ_BIN/rabbitmq-server" >"$R/rabbitmq-server.log" 2>&1 &
	RMQ_WRAPPER[$i]=$!
	PIDS_TO_STOP+=("$!")
	note "node $i: rabbitmq-server (${RMQ_NODE[$i]}) started at $((SECONDS - START)) s"
done
for i in 1 2 3; do
	S=$T/n$i/sysroot
	wait_until 120 0.5 test -s "$S/var/lib/rabbitmq/rabbitmq.pid"
	RMQ_VM[$i]=$(cat "$S/var/lib/rabbitmq/rabbitmq.pid" 2>/dev/null)
	[ -n "${RMQ_VM[$i]}" ] && PIDS_TO_STOP+=("${RMQ_VM[$i]}")
	check "node $i: the RabbitMQ VM runs (pid file written)" pid_alive "${RMQ_VM[$i]:-0}"
done

# ---- RabbitMQ formed one cluster through etcd --------------------------------------------------
WANT=$(printf '%s\n' "${RMQ_NODE[1]}" "${RMQ_NODE[2]}" "${RMQ_NODE[3]}" | sort | paste -sd,)
# running_nodes I - node I's cluster_status running_nodes, sorted, comma-separated.
running_nodes() { rmqctl "$1" cluster_status --formatter json 2>/dev/null | jq -r '.running_nodes | sort | join(",")' 2>/dev/null; }
rmq_formed() { [ "$(running_nodes 1)" = "$WANT" ]; }
check "RabbitMQ: node 1 sees all 3 nodes running ($WANT; 180 s at most)" wait_until 180 3 rmq_formed
note "RabbitMQ cluster formed at $((SECONDS - START)) s"
for i in 2 3; do
	check_that "RabbitMQ: node $i sees the same 3 running nodes" '[ "$(running_nodes $i)" = "$WANT" ]'
done
KEYS=/rabbitmq/discovery/rabbitmq/clusters/$CLUSTER/nodes/
ectl 2 get --prefix "$KEYS" >"$T/rabbitmq-keys.txt" 2>&1
check_that "etcd holds the 3 nodes' keys under $KEYS" \
	'[ "$(grep "^/" "$T/rabbitmq-keys.txt" | sed "s|^$KEYS||" | sort | paste -sd,)" = "$WANT" ]'
rmqctl 1 cluster_status >"$T/cluster-status.txt" 2>&1
check_that "node 1 runs with the Erlang cookie Ignition wrote (HOME/.erlang.cookie, 0400)" \
	'[ "$(rmqctl 1 eval "erlang:get_cookie()." 2>/dev/null | tr -d "\\047")" = "$(cat "$T/n1/sysroot/var/lib/rabbitmq/.erlang.cookie")" ]'
rmqctl 1 cluster_status --formatter json >"$T/cluster-status.json" 2>/dev/null

# ---- kindling saw it all ------------------------------------------------------------------------
# (with replicas: read through C, the page through B)
fetched_and_registered() {
	curl -s "${RURL[3]}/clusters/rmq" -H "$AUTH" >"$T/cluster.json" &&
		jq -e '.members.registered == 3 and .members.size == 3 and .fetches.count == 3' "$T/cluster.json" >/dev/null
}
check "kindling's cluster JSON: members.registered 3 of size 3, fetches.count 3 (waited for: fetches are written in batches)" \
	wait_until 60 0.5 fetched_and_registered
# Each etcd member registered through its machine's replica and waited there
# for the others: the two watches parked on one replica were answered by
# registrations written through the other two.
on_pg && check_that "each member registered through its own machine's replica: n1's PUT in A's log, n2's in B's, n3's in C's, from the machine's address" \
	'(for i in 1 2 3; do [ "$(grep -cE "PUT /discovery/[^ ]+ 201 .* $(scn_addr $i)( |$)" "${RLOG[$i]}")" = 1 ] || exit 1; done; [ "$(kindling_logs_all | grep -cE "PUT /discovery/[^ ]+ 201")" = 3 ])'
check_that "its members list names the 3 etcd members with their peer URLs" \
	'[ "$(jq -r ".members.list[] | .name + \"=\" + (.peer_urls | join(\",\"))" "$T/cluster.json" | sort | paste -sd,)" = "$PEERS" ]'
# the page (a browser's Accept): 3 of 3
page_status=$(curl -s -o "$T/cluster.html" -w '%{http_code} %{content_type}' "${RURL[2]}/clusters/rmq" \
	-H "$AUTH" -H 'Accept: text/html')
check_that "kindling's cluster page ($page_status) shows 3 of 3 members and the 3 members' addresses" \
	'[[ $page_status == "200 text/html"* ]] && grep -qE "\b3 (of|/) ?3\b" "$T/cluster.html" && [ "$(grep -oE "$SCN_NET[.]1[123]:2380" "$T/cluster.html" | sort -u | wc -l)" = 3 ]'

# ---- boot reports (the report profile): every machine reports, one then fails a unit ----------
# No systemd runs inside the namespaces: each machine runs the written
# kindling-report.service's ExecStart itself (in its own UTS namespace, with
# its host name node-I), and systemctl / journalctl are stand-ins that answer
# from what the machine ran: a unit whose command exited non-zero is
# "failed", its output is its journal.
scn_report_tools "$T"
REPORT_UNIT=etc/systemd/system/kindling-report.service
FAIL_UNIT=etc/systemd/system/kindling-report@.service
report_rc=""
for i in 1 2 3; do
	S=$T/n$i/sysroot
	UNIT_ENV=()
	IFS=$'\t' read -r -a cmd < <(unit_exec_rooted "$S" "$S/$REPORT_UNIT" ExecStart)
	scn_report_run "$i" "${cmd[@]}" >"$T/n$i/report.log" 2>&1
	report_rc="$report_rc$?"
done
check_that "every machine runs its kindling-report.service (the written unit's ExecStart) and kindling takes its boot report" \
	'[ "$report_rc" = 000 ] && grep -q "boot-report: sent (boot)" "$T/n1/report.log"'
curl -s "${RURL[2]}/clusters/rmq" -H "$AUTH" >"$T/cluster-reports.json"
check_that "kindling's cluster JSON: 3 healthy nodes node-1..3, each fetched, registered (joined by address) and reporting etcd healthy, RabbitMQ running" \
	'jq -e ".health == {healthy: 3, failed: 0} and ([.nodes[] | select(.state == \"healthy\" and .fetched_at != null and .registered_at != null and .report.services.etcd == \"healthy\" and .report.services.rabbitmq == \"running\") | .name] | sort) == [\"node-1\",\"node-2\",\"node-3\"]" "$T/cluster-reports.json" >/dev/null'
curl -s -o "$T/cluster-reports.html" "${RURL[3]}/clusters/rmq" -H "$AUTH" -H 'Accept: text/html'
check_that "kindling's cluster page: Nodes (3 healthy, 0 failed), the boot timeline with 3 lanes of fetch, registration and report marks" \
	'grep -qF "Nodes (3 healthy, 0 failed)" "$T/cluster-reports.html" && [ "$(grep -o "<g class=\"lane\">" "$T/cluster-reports.html" | wc -l)" = 3 ] && [ "$(grep -o "class=\"mark-fetch\"" "$T/cluster-reports.html" | wc -l)" = 3 ] && [ "$(grep -o "class=\"mark-register\"" "$T/cluster-reports.html" | wc -l)" = 3 ] && [ "$(grep -o "class=\"mark-healthy\"" "$T/cluster-reports.html" | wc -l)" = 3 ]'
curl -s -o "$T/list.html" "${RURL[1]}/clusters" -H "$AUTH" -H 'Accept: text/html'
check_that "the cluster list shows rmq: 3 healthy" 'grep -qF "3 healthy</span>" "$T/list.html"'
# node 2: a unit fails; its OnFailure= (service.d drop-in) starts
# kindling-report@<unit>.service, whose ExecStart runs here
S=$T/n2/sysroot
printf '[Unit]\nDescription=an application that cannot start\n\n[Service]\nExecStart=/bin/sh -c '"'"'echo "app: reading /etc/app.conf"; echo "app: <config> missing & cannot start" >&2; exit 3'"'"'\n' >"$S/etc/systemd/system/app.service"
scn_unit_run 2 "$S" app.service
UNIT_ENV=()
IFS=$'\t' read -r -a cmd < <(unit_exec_rooted "$S" "$S/$FAIL_UNIT" ExecStart)
cmd=("${cmd[@]//%i/app.service}")
scn_report_run 2 "${cmd[@]}" >"$T/n2/report-failure.log" 2>&1
check_that "node 2: app.service fails; kindling-report@app.service (its ExecStart) sends the report again" \
	'grep -q "boot-report: sent (failure): 1 failed units" "$T/n2/report-failure.log"'
curl -s "${RURL[3]}/clusters/rmq" -H "$AUTH" >"$T/cluster-failed.json"
check_that "kindling's cluster JSON: node-2 failed with app.service and its journal lines, 2 healthy" \
	'jq -e ".health == {healthy: 2, failed: 1} and any(.nodes[]; .name == \"node-2\" and .state == \"failed\" and .report.trigger == \"failure of app.service\" and .report.failed_units[0].unit == \"app.service\" and (.report.failed_units[0].journal | index(\"app: <config> missing & cannot start\")))" "$T/cluster-failed.json" >/dev/null'
curl -s -o "$T/cluster-failed.html" "${RURL[1]}/clusters/rmq" -H "$AUTH" -H 'Accept: text/html'
check_that "kindling's cluster page shows node-2's app.service with its journal lines (as text)" \
	'grep -qF "Nodes (2 healthy, 1 failed)" "$T/cluster-failed.html" && grep -qF "<code>app.service</code>" "$T/cluster-failed.html" && grep -qF "app: &lt;config&gt; missing &amp; cannot start" "$T/cluster-failed.html"'
curl -s "${RURL[1]}/metrics" >"$T/metrics.txt"

# ---- the log: what the closing note quotes ------------------------------------------------------
show "ETCDCTL_API=3 etcdctl member list -w table   (on node 1)" "$T/member-list.txt"
show "ETCDCTL_API=3 etcdctl --endpoints $ALL_EPS endpoint health -w table" "$T/endpoint-health.txt"
show "rabbitmqctl -n ${RMQ_NODE[1]} cluster_status   (on node 1)" "$T/cluster-status.txt"
show "rabbitmqctl -n ${RMQ_NODE[1]} cluster_status --formatter json | jq '{running_nodes, disk_nodes}'" \
	<(jq '{running_nodes, disk_nodes}' "$T/cluster-status.json")
show "etcdctl get --prefix $KEYS   (on node 2)" "$T/rabbitmq-keys.txt"
show "curl -s ${RURL[3]}/clusters/rmq | jq 'del(.pointer)'   (the pointer carries the fetch token)" \
	<(jq 'del(.pointer)' "$T/cluster.json")
show "kindling's request log: the members' discovery registrations" <(kindling_logs_all | grep 'PUT /discovery')
show "curl -s ${RURL[3]}/clusters/rmq | jq '.health, [.nodes[] | {name, state, addresses, fetched_at, registered_at, reported_at, services: .report.services, failed_units: .report.failed_units}]'   (after app.service failed on node 2)" \
	<(jq '.health, [.nodes[] | {name, state, addresses, fetched_at, registered_at, reported_at, services: .report.services, failed_units: .report.failed_units}]' "$T/cluster-failed.json")
show "the machines' boot-report lines" <(cat "$T"/n[123]/report.log "$T/n2/report-failure.log")
cp "$T/cluster-reports.html" "$T/cluster-failed.html" "$(dirname "$REPORT")/" 2>/dev/null
show "curl -s ${RURL[1]}/metrics | grep -E 'clusters|ignition|discovery'" \
	<(grep -E '^kindling_' "$T/metrics.txt" | grep -E 'clusters|ignition|discovery|reports|nodes_' | head -24)
note "scenario up (3 fetches, 3 etcd members, 3 RabbitMQ nodes) in $((SECONDS - START)) s"

# ---- teardown by PID, bounded; nothing left -------------------------------------------------------
for i in 1 2 3; do [ -n "${RMQ_WRAPPER[$i]:-}" ] && kill -TERM "${RMQ_WRAPPER[$i]}" 2>/dev/null; done
for i in 1 2 3; do
	check "node $i: RabbitMQ stops on SIGTERM to its wrapper (60 s at most)" stop_pid "${RMQ_WRAPPER[$i]:-}" 60
	stop_pid "${RMQ_VM[$i]:-}" 10
done
check_that "the cleanly stopped nodes removed their keys from etcd" \
	'ectl 1 get --prefix "$KEYS" --keys-only >"$T/keys-after.txt" 2>&1 && ! grep -q . "$T/keys-after.txt"'
for i in 1 2 3; do kill -TERM "${ETCD_PIDS[$i]}" 2>/dev/null; done
for i in 1 2 3; do
	check "node $i: etcd stops on SIGTERM (15 s at most)" stop_pid "${ETCD_PIDS[$i]}" 15
	check "node $i: epmd stops on SIGTERM (10 s at most)" stop_pid "${EPMD_PIDS[$i]}" 10
done
if on_pg; then replica_stop A B C; else kindling_stop; fi
wait 2>/dev/null
left=""
for ns in "$SCN_HUB" "${SCN_NODES[@]}"; do left="$left$(scn_ns_pids "$ns" | paste -sd' ')"; done
check_that "nothing runs in the namespaces any more" '[ -z "$left" ]'
scn_net_down
check_that "the namespaces (and with them the bridge and the veths) are gone" \
	'(for ns in "$SCN_HUB" "${SCN_NODES[@]}"; do ! scn_ns_exists "$ns" || exit 1; done)'
check_that "no process of this test is left (none uses its folder)" '! pgrep -f -- "$T" >/dev/null'
# all stopped and waited for above: lib.sh's cleanup must not SIGKILL these
# PIDs again (the VMs' are not our children; their PIDs may be reused by now)
PIDS_TO_STOP=()
note "total $((SECONDS - START)) s (report: $REPORT)"
if [ "$FAILS" -ne 0 ]; then
	for i in 1 2 3; do
		echo "---- node $i: rabbitmq-server (tail)"
		tail -20 "$T/n$i/rabbitmq-server.log"
	done >&2
fi
finish
