#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that takes single-quoted expressions, evaluated later
# test_rabbitmq_files.sh - the RabbitMQ files kindling renders work on a real
# RabbitMQ: kindling serves an etcd+rabbitmq cluster's config, the real
# Ignition 2.14 fetch and files stages write it into a scratch root, and from
# what they wrote (rabbitmq.conf, enabled_plugins, the Erlang cookie) one real
# RabbitMQ node (Debian rabbitmq-server) starts against one real etcd (Debian
# etcd-server), all on 127.0.0.1: the node boots, the etcd peer discovery
# plugin runs, the node registers itself under the cluster's name in etcd, and
# the default user/password from the file authenticate.
# Needs root and the Debian packages etcd-server etcd-client rabbitmq-server
# ignition systemd.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
plan 23

RMQ_BIN=/usr/lib/rabbitmq/bin
# Debian packages: ignition etcd-server etcd-client rabbitmq-server
require_tool "$IGNITION_BIN" /usr/bin/etcd /usr/bin/etcdctl /usr/bin/epmd "$RMQ_BIN/rabbitmq-server" "$RMQ_BIN/rabbitmqctl"

CLUSTER=rmq-files
NODE=rabbit@localhost
R=$T/node
RQ=$T/rabbitmq
mkdir -p "$R" "$RQ/home" "$RQ/mnesia" "$RQ/log" "$RQ/plugins" "$T/etcd"

# ---- kindling renders, Ignition writes -------------------------------------------
kindling_start --http-total 20 || exit 1
post_json /clusters "{\"name\":\"$CLUSTER\",\"size\":1,\"profiles\":[\"etcd\",\"rabbitmq\"]}"
expect "create an etcd+rabbitmq cluster" 201
api GET "/clusters/$CLUSTER/userdata?hash=1"
expect "GET userdata" 200
cp "$BODY" "$T/ptr.ign"
ignition_boot "$R" "$T/ptr.ign"
rc=$?
check "Ignition fetch + files stages from kindling exit 0 (rc=$rc)" [ "$rc" = 0 ]
kindling_stop
S=$R/sysroot
WCONF=$S/etc/rabbitmq/rabbitmq.conf
WPLUGINS=$S/etc/rabbitmq/enabled_plugins
WCOOKIE=$S/var/lib/rabbitmq/.erlang.cookie
check_that "Ignition wrote rabbitmq.conf, enabled_plugins and the cookie" '[ -s "$WCONF" ] && [ -s "$WPLUGINS" ] && [ -s "$WCOOKIE" ]'
if [ "$FAILS" -ne 0 ]; then
	cat "$R/fetch.log" "$R/files.log" >&2
	finish
	exit
fi

# ---- ports: all on 127.0.0.1, free ones below 32768 -------------------------------
B=$(free_port_block 16) || {
	fail "no 16 consecutive free ports"
	exit 1
}
ETCD_CLIENT=$B ETCD_PEER=$((B + 1)) EPMD_PORT=$((B + 2)) AMQP_PORT=$((B + 3))
DIST_PORT=$((B + 4)) MGMT_PORT=$((B + 5)) CTL_MIN=$((B + 6)) CTL_MAX=$((B + 15))

# The written rabbitmq.conf, rewritten ONLY where this machine must differ from
# a node, line for line (each must be there exactly as written, or this fails):
#   cluster_formation.etcd.endpoints.1 = 127.0.0.1:2379  -> 127.0.0.1:$ETCD_CLIENT
#       the node's etcd listens on 2379; ours on a free port (2379 may be taken,
#       e.g. by a developer's own etcd, and tests may run side by side)
#   listeners.tcp.default = 5672       -> 127.0.0.1:$AMQP_PORT   (same reason;
#       and loopback only: on a node the AMQP port is for the other nodes and
#       clients, here for nobody else)
#   management.tcp.port = 15672        -> $MGMT_PORT   (same reason)
#   + one line added after it: management.tcp.ip = 127.0.0.1   (loopback only)
# Everything else is used as written: peer_discovery_backend, cluster_name,
# default_user/default_pass, loopback_users, log.console. enabled_plugins is
# used as the written file itself, and the cookie as written (content and
# mode 0400) becomes $HOME/.erlang.cookie (the path the official image's
# /var/lib/rabbitmq/.erlang.cookie is for the rabbitmq user, whose HOME it is).
# The node name differs from the unit's rabbit@<EC2 private IPv4> (long names)
# on purpose: short rabbit@localhost is what loopback allows.
CONF=$RQ/rabbitmq.conf
sed -e "s/^cluster_formation\.etcd\.endpoints\.1 = 127\.0\.0\.1:2379\$/cluster_formation.etcd.endpoints.1 = 127.0.0.1:$ETCD_CLIENT/" \
	-e "s/^listeners\.tcp\.default = 5672\$/listeners.tcp.default = 127.0.0.1:$AMQP_PORT/" \
	-e "s/^management\.tcp\.port = 15672\$/management.tcp.port = $MGMT_PORT\nmanagement.tcp.ip = 127.0.0.1/" \
	"$WCONF" >"$CONF"
check_that "rabbitmq.conf rewritten in exactly 3 lines (etcd endpoint, AMQP and management ports) plus management.tcp.ip" \
	'[ "$(diff "$WCONF" "$CONF" | grep -c "^>")" = 4 ] && [ "$(diff "$WCONF" "$CONF" | grep -c "^<")" = 3 ] && grep -qx "management.tcp.ip = 127.0.0.1" "$CONF"'
install -m 0400 "$WCOOKIE" "$RQ/home/.erlang.cookie"
ADMIN_USER=$(sed -n 's/^default_user = //p' "$CONF")
ADMIN_PASS=$(sed -n 's/^default_pass = //p' "$CONF")

# ---- etcd ---------------------------------------------------------------------------
etcd --name kt --data-dir "$T/etcd/data" \
	--listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	--initial-cluster "kt=http://127.0.0.1:$ETCD_PEER" >"$T/etcd/etcd.log" 2>&1 &
ETCD_PID=$!
PIDS_TO_STOP+=("$ETCD_PID")
ectl() { ETCDCTL_API=3 timeout 10 etcdctl --endpoints "127.0.0.1:$ETCD_CLIENT" --dial-timeout 2s --command-timeout 5s "$@"; }
# RabbitMQ's etcd client never recovers from a refused first connection: etcd
# must answer healthy before the node starts.
check "etcd answers healthy (waited for, 60 s at most)" wait_until 60 0.2 ectl endpoint health
if [ "$FAILS" -ne 0 ]; then
	tail -20 "$T/etcd/etcd.log" >&2
	exit 1
fi

# ---- epmd, then RabbitMQ --------------------------------------------------------------
# Our own epmd on a private port: otherwise the first node spawns a daemon epmd
# on 4369 that outlives the test.
epmd -port "$EPMD_PORT" -address 127.0.0.1 >"$RQ/epmd.log" 2>&1 &
EPMD_PID=$!
PIDS_TO_STOP+=("$EPMD_PID")
# rmq_env - the environment the server and the CLI tools share.
rmq_env() {
	env HOME="$RQ/home" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
		RABBITMQ_CONF_ENV_FILE=/dev/null RABBITMQ_NODENAME="$NODE" \
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$AMQP_PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
		RABBITMQ_CTL_DIST_PORT_MIN="$CTL_MIN" RABBITMQ_CTL_DIST_PORT_MAX="$CTL_MAX" \
		RABBITMQ_CONFIG_FILE="$CONF" RABBITMQ_ADVANCED_CONFIG_FILE="$RQ/advanced.config" \
		RABBITMQ_ENABLED_PLUGINS_FILE="$WPLUGINS" RABBITMQ_PLUGINS_EXPAND_DIR="$RQ/plugins" \
		RABBITMQ_MNESIA_BASE="$RQ/mnesia" RABBITMQ_LOG_BASE="$RQ/log" RABBITMQ_PID_FILE="$RQ/rabbit.pid" \
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" "$@"
}
rmqctl() { rmq_env timeout "${RMQCTL_TIMEOUT:-30}" "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@"; }
check "epmd listens" wait_until 30 0.1 bash -c "ss -Htln | grep -q '127.0.0.1:$EPMD_PORT '"

rmq_env "$RMQ_BIN/rabbitmq-server" >"$RQ/server.log" 2>&1 &
RMQ_PID=$!
PIDS_TO_STOP+=("$RMQ_PID")
# the VM's PID (the wrapper's child) once it wrote the pid file
wait_until 120 0.2 test -s "$RQ/rabbit.pid"
VM_PID=$(cat "$RQ/rabbit.pid" 2>/dev/null)
[ -n "$VM_PID" ] && PIDS_TO_STOP+=("$VM_PID")
fails_before_start=$FAILS
check "the RabbitMQ node starts (pid file written, VM running)" pid_alive "${VM_PID:-0}"
RMQCTL_TIMEOUT=130 check "rabbitmqctl await_startup succeeds" rmqctl await_startup --timeout 120
node_up=$([ "$FAILS" -eq "$fails_before_start" ] && echo yes)
# a node that did not come up: straight to the teardown (time bound)
if [ -n "$node_up" ]; then
	rmqctl status --formatter json >"$RQ/status.json" 2>"$RQ/status.err"
	check_that "the node runs the etcd peer discovery plugin (active_plugins)" \
		'jq -e ".active_plugins | index(\"rabbitmq_peer_discovery_etcd\") != null" "$RQ/status.json" >/dev/null'
	check_that "the node listens for AMQP and management on 127.0.0.1 only, on the ports from the rewritten conf" \
		'[ "$(ss -Htln | awk "{print \$4}" | grep -cE ":($AMQP_PORT|$MGMT_PORT)\$")" = 2 ] && ss -Htln | grep -q "127.0.0.1:$AMQP_PORT " && ss -Htln | grep -q "127.0.0.1:$MGMT_PORT "'
	check_that "the node runs with the written Erlang cookie" \
		'[ "$(rmqctl eval "atom_to_list(erlang:get_cookie())." 2>/dev/null | tr -d "\"")" = "$(cat "$WCOOKIE")" ]'

	# the registration in etcd under the cluster name from the written conf
	KEYPREFIX=/rabbitmq/discovery/rabbitmq/clusters/$CLUSTER/nodes/
	registered() { ectl get --prefix "$KEYPREFIX" >"$RQ/etcd-nodes" 2>&1 && grep -qx "$KEYPREFIX$NODE" "$RQ/etcd-nodes"; }
	check "the node registered $KEYPREFIX$NODE in etcd (waited for, 90 s at most)" wait_until 90 1 registered
	check_that "the registration names the node and carries a lease" \
		'sed -n 2p "$RQ/etcd-nodes" | jq -e --arg n "$NODE" ".node == \$n and (.lease_id | type == \"number\")" >/dev/null'

	check_that "default_user/default_pass from rabbitmq.conf authenticate" \
		'[ -n "$ADMIN_PASS" ] && rmqctl authenticate_user "$ADMIN_USER" "$ADMIN_PASS" >"$RQ/auth.out" 2>&1'
	# refused as a bad password (any failure of rabbitmqctl would pass a bare "!")
	rc=0
	rmqctl authenticate_user "$ADMIN_USER" "wrong-$ADMIN_PASS" >"$RQ/auth-wrong.out" 2>&1 || rc=$?
	check_that "a wrong password does not (rc=$rc: $(grep -o 'invalid credentials' "$RQ/auth-wrong.out" | head -1))" \
		'[ "$rc" != 0 ] && grep -q "failed to authenticate user" "$RQ/auth-wrong.out" && grep -q "invalid credentials" "$RQ/auth-wrong.out"'
fi

# ---- teardown by PID, bounded; nothing left running -----------------------------------
check "RabbitMQ stops on SIGTERM to its wrapper (30 s at most)" stop_pid "$RMQ_PID" 30
stop_pid "${VM_PID:-}" 10
[ -n "$node_up" ] && check_that "the cleanly stopped node removed its key from etcd" \
	'ectl get --prefix "$KEYPREFIX" --keys-only >"$RQ/etcd-after" 2>&1 && ! grep -q . "$RQ/etcd-after"'
check "etcd stops on SIGTERM (10 s at most)" stop_pid "$ETCD_PID" 10
check "epmd stops on SIGTERM (10 s at most)" stop_pid "$EPMD_PID" 10
wait 2>/dev/null
check_that "nothing of this test is left running (no process using its folder or ports)" \
	'! pgrep -f -- "$T" >/dev/null && ! ss -Htln | awk "{print \$4}" | grep -qE ":($ETCD_CLIENT|$ETCD_PEER|$EPMD_PORT|$AMQP_PORT|$DIST_PORT|$MGMT_PORT)\$"'
if [ "$FAILS" -ne 0 ]; then
	echo "---- rabbitmq server output (tail)" >&2
	tail -30 "$RQ/server.log" >&2
fi
finish
