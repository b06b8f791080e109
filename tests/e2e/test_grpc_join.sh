#!/usr/bin/env bash
# test_grpc_join.sh - v3 discovery beyond one etcdctl (test_grpc.sh has
# etcdctl 3.4, the 3.4 oracle and the npm etcd3 JoinCluster replay):
#  - etcdctl 3.5 (Debian sid's .debs unpacked by tools/fetch-etcd35.sh into
#    build/etcd-3.5) against kindling and against a real etcd 3.5 server,
#    the same command sequence side by side;
#  - a discovery_protocol v3 cluster made with POST /clusters: its members
#    (ids, names, peer URLs of "name=url,url" values) in JSON and on the page;
#    DELETE ends its watches and removes its keys (a Put then: NotFound);
#    the rendered etcd-v3 and etcd (v2) profiles pass ignition-validate;
#  - members restarted mid-watch (npm etcd3 replay, process killed and
#    started again) re-open and finish;
#  - kill -9 of kindling after 2 of 3 registrations: after the restart the
#    third registers and both waiting members' re-opened watches see all 3;
#  - a v2 cluster of 3 real etcd 3.4 members bootstraps beside a v3 one on
#    the same kindling;
#  - TLS: with --tls-cert/--tls-key the gRPC listener speaks TLS with ALPN
#    h2 (the HTTPS listener's certificate), hands out an https endpoint, and
#    etcdctl --cacert works through it.
# shellcheck disable=SC2034
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 35
need_tools etcd etcdctl curl jq ss node npm apt-get dpkg openssl

export ETCDCTL_API=3
GPORT=$(free_port) || exit 1
kindling_start --grpc-listen "127.0.0.1:$GPORT" || exit 1
GURL="http://127.0.0.1:$GPORT"

# ctl ETCDCTL ENDPOINT ARG... - one etcdctl command, bounded.
ctl() {
	local bin=$1 ep=$2
	shift 2
	timeout 20 "$bin" --endpoints="$ep" --dial-timeout=3s --command-timeout=8s "$@"
}
new_token() { curl -sS --max-time 10 "$BASE/new?size=$1" | sed 's|.*/||'; }

# ---- etcdctl 3.5 against kindling and a real etcd 3.5, side by side ----
E35=build/etcd-3.5/usr/bin
# sequence ETCDCTL ENDPOINT TOKEN OUT - test_grpc.sh's discovery client
# sequence: get size, get --prefix members, put members, keys-only, limit,
# count, create order, watch --prefix --rev=N from history and live.
sequence() {
	local bin=$1 ep=$2 r=/_etcd/registry/$3 out=$4 first wpid
	{
		ctl "$bin" "$ep" get "$r/_config/size"
		ctl "$bin" "$ep" get --prefix "$r/members"
		ctl "$bin" "$ep" put "$r/members/a1" "n1=http://10.0.0.1:2380"
		ctl "$bin" "$ep" put "$r/members/b2" "n2=http://10.0.0.2:2380,http://10.0.1.2:2380"
		ctl "$bin" "$ep" get --prefix "$r/members"
		ctl "$bin" "$ep" get --prefix --keys-only "$r/"
		ctl "$bin" "$ep" get --prefix --limit=1 "$r/members"
		ctl "$bin" "$ep" get --prefix --keys-only -w json "$r/members" | jq .count
		ctl "$bin" "$ep" get -w json --prefix "$r/members" |
			jq -r '.kvs | sort_by(.create_revision) | .[].key | @base64d'
		first=$(ctl "$bin" "$ep" get -w json --prefix "$r/members" | jq '[.kvs[].create_revision] | min')
		timeout 4 "$bin" --endpoints="$ep" watch --prefix --rev="$first" "$r/members" >"$out.watch" 2>&1 &
		wpid=$!
		sleep 1.5
		ctl "$bin" "$ep" put "$r/members/c3" "n3=http://10.0.0.3:2380"
		wait "$wpid"
		cat "$out.watch" # after the put's OK: the order of the two outputs is fixed
	} >"$out" 2>&1
}
if ! why=$(sh tools/fetch-etcd35.sh build/etcd-3.5 2>&1); then
	skip "etcd 3.5 .debs not obtainable: $why" 4
else
	check_that "etcdctl and etcd 3.5.x unpacked from Debian sid's .debs" \
		'"$E35/etcdctl" version | grep -q "^etcdctl version: 3\.5\." && "$E35/etcd" --version | grep -q "Version: 3\.5\."'
	EC=$(free_port) && EP=$(free_port) || exit 1
	ETCD_BIN=$E35/etcd etcd_member oracle35 "$T/etcd35" "$EC" "$EP" "" \
		--initial-cluster "oracle35=http://127.0.0.1:$EP"
	EURL="http://127.0.0.1:$EC"
	TOK=$(new_token 3)
	if ETCDCTL_BIN=$E35/etcdctl etcd_wait_healthy "$EURL" 60; then
		ctl "$E35/etcdctl" "$EURL" put "/_etcd/registry/$TOK/_config/size" 3 >/dev/null
		sequence "$E35/etcdctl" "$EURL" "$TOK" "$T/etcd35.seq"
		sequence "$E35/etcdctl" "$GURL" "$TOK" "$T/kindling35.seq"
	fi
	if diff -u "$T/etcd35.seq" "$T/kindling35.seq" >"$T/seq35.diff" 2>&1; then
		pass "etcdctl 3.5 sequence (get, get --prefix, put, keys-only, limit, count, create order, watch from history and live): kindling answers as etcd 3.5"
	else
		fail "etcdctl 3.5 sequence differs from etcd 3.5: $(head -c 600 "$T/seq35.diff")"
	fi
	check_that "both 3.5 sequences saw the 3 registrations through the watch" \
		'[ "$(grep -c "^PUT$" "$T/kindling35.seq")" = 3 ] && [ "$(grep -c "^PUT$" "$T/etcd35.seq")" = 3 ]'
	check_that "the sequence read the size key and both members back" \
		'grep -qx 3 "$T/kindling35.seq" && grep -qx "n2=http://10.0.0.2:2380,http://10.0.1.2:2380" "$T/kindling35.seq"'
	etcd_stop oracle35
fi

# ---- a v3 cluster from POST /clusters; its members in JSON and HTML ----
post_json /clusters '{"name":"v3a","size":3,"profiles":["etcd-v3"],"discovery_protocol":"v3"}'
expect "POST /clusters with discovery_protocol v3: 201" 201
VT=$(jqb .discovery_token)
check_that "the v3 cluster shows its protocol, token and gRPC endpoint" \
	'[ "$(jqb .discovery_protocol)" = v3 ] && [ ${#VT} = 32 ] && [ "$(jqb ".discovery_endpoints[0]")" = "$GURL" ]'
VR=/_etcd/registry/$VT
ctl etcdctl "$GURL" put "$VR/members/8e9e05c52164694d" "infra0=http://10.0.0.10:2380,http://10.0.0.11:2380" >/dev/null
ctl etcdctl "$GURL" put "$VR/members/91bc3c398fb3c146" "infra1=http://10.0.0.12:2380" >/dev/null
api GET /clusters/v3a
check_that "members of a v3 cluster: registered 2 of 3" \
	'[ "$(jqb ".members.registered")/$(jqb .members.size)" = 2/3 ]'
check_that "members.list: ids, names and every peer URL of a v3 \"name=url,url\" value" \
	'[ "$(jq -c "[.members.list[] | [.id, .name, .peer_urls]]" "$BODY")" = "[[\"8e9e05c52164694d\",\"infra0\",[\"http://10.0.0.10:2380\",\"http://10.0.0.11:2380\"]],[\"91bc3c398fb3c146\",\"infra1\",[\"http://10.0.0.12:2380\"]]]" ]'
api GET /clusters/v3a -H 'Accept: text/html'
check_that "the cluster page lists the v3 members' names and peer URLs" \
	'grep -q infra0 "$BODY" && grep -q "http://10.0.0.11:2380" "$BODY" && grep -q 91bc3c398fb3c146 "$BODY"'

# deleting the cluster deletes the token's keys and ends its watches; a Put
# to a token that is gone (another cluster's, deleted) is NOT_FOUND
DELC=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary '{"name":"v3d","size":3,"profiles":["etcd-v3"],"discovery_protocol":"v3"}' "$BASE/clusters")
DT=$(curl -sS --max-time 10 "$BASE/clusters/v3d" | jq -r .discovery_token)
ctl etcdctl "$GURL" put "/_etcd/registry/$DT/members/0a" "d0=http://10.0.0.20:2380" >/dev/null
timeout 15 etcdctl --endpoints="$GURL" watch --prefix "/_etcd/registry/$DT/members" >"$T/del.watch" 2>&1 &
WPID=$!
PIDS_TO_STOP+=("$WPID")
sleep 1
api DELETE /clusters/v3d
for _ in $(seq 1 50); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.2; done
check_that "DELETE of a v3 cluster ends its open watch (etcdctl watch returns)" \
	'[ "$DELC" = 201 ] && [ "$STATUS" = 204 ] && ! kill -0 "$WPID" 2>/dev/null'
wait "$WPID" 2>/dev/null
out=$(ctl etcdctl "$GURL" put "/_etcd/registry/$DT/members/0b" "d1=http://10.0.0.21:2380" 2>&1)
check_that "its keys are gone (get --prefix: nothing) and a Put under its token is NotFound" \
	'[ -z "$(ctl etcdctl "$GURL" get --prefix "/_etcd/registry/$DT/")" ] && [[ $out == *NotFound* ]]'

# ---- the rendered etcd profiles, v3 and v2, pass ignition-validate (3.0-3.3) ----
# validate_profile CLUSTER FIXED-STRING... - the cluster's served config for
# spec 3.0.0-3.3.0: ignition-validate prints nothing, and it holds each string
validate_profile() {
	local name=$1 v tok out w
	shift
	api GET "/clusters/$name/userdata"
	tok=$(jq -r '.ignition.config.replace.httpHeaders[]? | select(.name == "Authorization") | .value' "$BODY" | sed 's/^Bearer //')
	for v in 3.0.0 3.1.0 3.2.0 3.3.0; do
		api GET "/clusters/$name/ignition?version=$v" -H "Authorization: Bearer $tok"
		[ "$STATUS" = 200 ] && [ "$(jq -r .ignition.version "$BODY")" = "$v" ] || return 1
		out=$(timeout 30 ignition-validate "$BODY" 2>&1) && [ -z "$out" ] || { echo "$v: $out" >&2; return 1; }
		for w in "$@"; do grep -qF -- "$w" "$BODY" || return 1; done
	done
}
if have_tool ignition-validate; then
	check "the etcd-v3 profile of a v3 cluster passes ignition-validate silently (3.0-3.3), with its token and endpoints for the join step" \
		validate_profile v3a "$VT" "KINDLING_DISCOVERY_TOKEN" "KINDLING_DISCOVERY_ENDPOINTS"
	post_json /clusters '{"name":"v2r","size":3,"profiles":["etcd"]}'
	V2T=$(jqb .discovery_url | sed 's|.*/||')
	check "the etcd profile of a v2 cluster passes ignition-validate silently (3.0-3.3), with its discovery URL" \
		validate_profile v2r "$V2T" "KINDLING_DISCOVERY_URL"
else
	skip_or_fail 2 "ignition-validate is missing (Debian: ignition)"
fi

# ---- npm etcd3: members restarted mid-watch ----
node_ready() {
	[ -d tests/grpc/node_modules/etcd3 ] ||
		(cd tests/grpc && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2
}
# registered TOKEN - how many member keys the token has (etcdctl 3.4).
registered() {
	ctl etcdctl "$GURL" get --prefix --keys-only -w json "/_etcd/registry/$1/members" | jq '.count // 0'
}
# watching TOKEN N - waits until N members registered, then 1.5 s more
# (steps 4-5: the members' watches open right after their registration).
watching() {
	local i
	for i in $(seq 1 100); do
		[ "$(registered "$1")" -ge "$2" ] 2>/dev/null && break
		sleep 0.2
	done
	sleep 1.5
}
if ! node_ready; then
	skip_or_fail 12 "npm ci in tests/grpc failed (npm etcd3)"
else
	join() { timeout 90 node tests/grpc/join.mjs "$GURL" "$@"; }
	# join_bg TOKEN FIRST COUNT OUT - join in the background (node itself, so
	# that JPID is the process to kill; join.mjs's own timer bounds it)
	join_bg() {
		JOIN_TIMEOUT_MS=80000 node tests/grpc/join.mjs "$GURL" "$1" "$2" "$3" >"$4" 2>&1 &
		JPID=$!
		PIDS_TO_STOP+=("$JPID")
	}
	TR=$(new_token 3)
	join_bg "$TR" 1 2 "$T/restart.a"
	watching "$TR" 2
	kill -KILL "$JPID" 2>/dev/null
	wait "$JPID" 2>/dev/null
	join_bg "$TR" 1 2 "$T/restart.b"
	sleep 3
	join "$TR" 3 1 >"$T/restart.c" 2>&1
	wait "$JPID" 2>/dev/null
	cat "$T/restart.b" "$T/restart.c" >"$T/restart.all"
	check_that "started again, they re-register the same keys, re-open their watches and finish with the third: 3 identical initial-clusters of 3" \
		'[ "$(jq -r ".initial_cluster // empty" "$T/restart.all" | wc -l)" = 3 ] && [ "$(jq -r .initial_cluster "$T/restart.all" | sort -u | wc -l)" = 1 ] && [ "$(jq -r .initial_cluster "$T/restart.all" | head -1 | tr , "\n" | wc -l)" = 3 ]'
	check_that "the restarts added no registration: 3 member keys" \
		'[ "$(registered "$TR")" = 3 ]'
	check_that "the 2 members killed mid-watch had printed nothing (they were waiting)" '! grep -q initial_cluster "$T/restart.a"'

	# ---- kill -9 of kindling after 2 of 3 registrations ----
	post_json /clusters '{"name":"v3k","size":3,"profiles":["etcd-v3"],"discovery_protocol":"v3"}'
	TK=$(jqb .discovery_token)
	join_bg "$TK" 1 2 "$T/crash.ab"
	watching "$TK" 2
	check_that "2 of 3 registered, both members watching" \
		'[ "$(registered "$TK")" = 2 ]'
	kindling_kill9
	sleep 1
	kindling_start --grpc-listen "127.0.0.1:$GPORT" || exit 1
	check_that "kindling restarted after kill -9 on the same gRPC port; the 2 registrations are there" \
		'[ "$(registered "$TK")" = 2 ]'
	join "$TK" 3 1 >"$T/crash.c" 2>&1
	wait "$JPID" 2>/dev/null
	cat "$T/crash.ab" "$T/crash.c" >"$T/crash.all"
	check_that "the third registers after the restart" '[ "$(jq -r "select(.name == \"m3\") | .initial_cluster | split(\",\") | length" "$T/crash.c")" = 3 ]'
	check_that "the 2 members' re-opened watches see all 3: identical initial-clusters" \
		'[ "$(jq -r ".initial_cluster // empty" "$T/crash.all" | wc -l)" = 3 ] && [ "$(jq -r .initial_cluster "$T/crash.all" | sort -u | wc -l)" = 1 ]'
	timeout 5 etcdctl --endpoints="$GURL" watch --prefix --rev=1 "/_etcd/registry/$TK/members" >"$T/crash.watch" 2>&1 &
	WPID=$!
	PIDS_TO_STOP+=("$WPID")
	eventually 8 grep -q "m3=http" "$T/crash.watch"
	check_that "a watch from revision 1 after the restart replays the 3 registrations in order" \
		'[ "$(grep "=http" "$T/crash.watch" | cut -d= -f1 | paste -sd, -)" = m1,m2,m3 ] || [ "$(grep "=http" "$T/crash.watch" | cut -d= -f1 | paste -sd, -)" = m2,m1,m3 ]'
	kill -TERM "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null

	# ---- v2 with real etcd 3.4 members beside v3 on the same kindling ----
	post_json /clusters '{"name":"v2e","size":3,"profiles":["etcd"],"discovery_protocol":"v2"}'
	expect "a v2 cluster beside the v3 ones: 201" 201
	DURL=$(jqb .discovery_url)
	TB=$(new_token 3)
	join_bg "$TB" 1 3 "$T/beside.v3"
	etcd_cluster e 3 "$DURL"
	if etcd_wait_member_count "$CLUSTER_ENDPOINTS" 3 60 && etcd_put_get "${ETCD_CLIENT[e1]}"; then
		pass "3 real etcd 3.4 members bootstrap through the v2 cluster's discovery URL"
	else
		fail "3 real etcd 3.4 members bootstrap through the v2 cluster's discovery URL: $(tail -3 "$T/etcd-e1.log")"
	fi
	wait "$JPID" 2>/dev/null
	check_that "meanwhile 3 v3 members join through the gRPC endpoint" \
		'[ "$(jq -r ".initial_cluster // empty" "$T/beside.v3" | sort -u | wc -l)" = 1 ] && [ "$(jq -r ".initial_cluster // empty" "$T/beside.v3" | wc -l)" = 3 ]'
	api GET /clusters/v2e
	check_that "the v2 cluster's members: names e1..e3 with their peer URLs" \
		'[ "$(jq -r "[.members.list[].name] | sort | join(\",\")" "$BODY")" = e1,e2,e3 ] && [ "$(jq -r "[.members.list[].peer_urls[0]] | map(test(\"^http://127.0.0.1:[0-9]+$\")) | all" "$BODY")" = true ]'
	etcd_cluster_stop e 3
fi
check "kindling logs no v3 token" log_lacks "$VT" "$TK"
kindling_stop

# ---- TLS: with --tls-cert the gRPC listener serves TLS with ALPN h2 ----
TLS=$T/tls
mkdir -p "$TLS"
(
	cd "$TLS" || exit 1
	printf 'subjectAltName=IP:127.0.0.1\n' >ext
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
		-subj /CN=kindling-test-ca -days 2
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout s.key -out s.csr -subj /CN=kindling
	openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile ext
) >"$TLS/openssl.log" 2>&1 || fail "cannot make the test certificates: $(tail -3 "$TLS/openssl.log")"
SPORT=$(free_port) || exit 1
kindling_start --tls-cert "$TLS/s.pem" --tls-key "$TLS/s.key" --tls-ca "$TLS/ca.pem" \
	--grpc-listen "127.0.0.1:$SPORT" || exit 1
BASE="https://127.0.0.1:$PORT"
SURL="https://127.0.0.1:$SPORT"
post_json /clusters '{"name":"v3t","size":3,"profiles":["etcd-v3"],"discovery_protocol":"v3"}' --cacert "$TLS/ca.pem"
ST=$(jqb .discovery_token)
check_that "with a certificate the endpoint handed to v3 members is https" \
	'[ "$STATUS" = 201 ] && [ "$(jqb ".discovery_endpoints[0]")" = "$SURL" ]'
check_that "etcdctl --cacert reads the size key over TLS" \
	'[ "$(ctl etcdctl "$SURL" --cacert "$TLS/ca.pem" get --print-value-only "/_etcd/registry/$ST/_config/size")" = 3 ]'
ctl etcdctl "$SURL" --cacert "$TLS/ca.pem" put "/_etcd/registry/$ST/members/a1" "t1=https://10.0.0.1:2380" >"$T/tls.put" 2>&1
timeout 4 etcdctl --endpoints="$SURL" --cacert "$TLS/ca.pem" watch --prefix --rev=1 "/_etcd/registry/$ST/members" >"$T/tls.watch" 2>&1 &
WPID=$!
PIDS_TO_STOP+=("$WPID")
eventually 6 grep -q "t1=https" "$T/tls.watch"
check_that "etcdctl --cacert puts a member and watches it from history over TLS" \
	'[ "$(cat "$T/tls.put")" = OK ] && grep -qx "t1=https://10.0.0.1:2380" "$T/tls.watch"'
wait "$WPID" 2>/dev/null
# the etcd-v3 profile's join step, run as on the node (founding member, the
# directory not full): etcd's v3 discovery client gets TLS with kindling's
# CA (written to /etc/ssl/certs/kindling-ca.pem; here the node's copy)
FT=$(jqb '.pointer.ignition.config.replace.httpHeaders[0].value')
api GET /clusters/v3t/ignition -H "Authorization: $FT" --cacert "$TLS/ca.pem"
NODE=$T/tls-node
mkdir -p "$NODE"
for f in /opt/kindling/etcd-join /etc/kindling/etcd-join.env /etc/ssl/certs/kindling-ca.pem; do
	jq -r --arg p "$f" '.storage.files[] | select(.path == $p) | .contents.source' "$BODY" |
		python3 -c 'import sys, urllib.parse, base64
s = sys.stdin.read().strip()
head, data = s.split(",", 1)
sys.stdout.write(base64.b64decode(data).decode() if head.endswith(";base64") else urllib.parse.unquote(data))' \
		>"$NODE/$(basename "$f")"
done
sed -i "s|^KINDLING_CA=/etc/ssl/certs/kindling-ca.pem$|KINDLING_CA=$NODE/kindling-ca.pem|" "$NODE/etcd-join"
ETCD_NAME=t1 COREOS_EC2_IPV4_LOCAL=10.0.0.1 ETCD_DATA_DIR="$NODE/data" \
	timeout 30 sh "$NODE/etcd-join" "$NODE/etcd-join.env" "$NODE/bootstrap.env" >"$NODE/join.log" 2>&1
# the same inputs with a plaintext endpoint: etcd's default (no TLS flags)
sed "s|^KINDLING_DISCOVERY_ENDPOINTS=https://|KINDLING_DISCOVERY_ENDPOINTS=http://|" "$NODE/etcd-join.env" >"$NODE/plain.env"
ETCD_NAME=t1 COREOS_EC2_IPV4_LOCAL=10.0.0.1 ETCD_DATA_DIR="$NODE/data" \
	timeout 30 sh "$NODE/etcd-join" "$NODE/plain.env" "$NODE/plain-bootstrap.env" >>"$NODE/join.log" 2>&1
check_that "etcd-v3 over TLS: the join step gives etcd --discovery-insecure-transport=false and --discovery-cacert (kindling's CA); a plaintext endpoint neither" \
	'grep -q "^KINDLING_ETCD_BOOTSTRAP=--discovery-token=$ST --discovery-endpoints=$SURL --discovery-insecure-transport=false --discovery-cacert=$NODE/kindling-ca.pem$" "$NODE/bootstrap.env" && grep -q "^-----BEGIN CERTIFICATE" "$NODE/kindling-ca.pem" && grep -qx "KINDLING_DISCOVERY_ENDPOINTS=$SURL" "$NODE/etcd-join.env" && grep -qx "KINDLING_ETCD_BOOTSTRAP=--discovery-token=$ST --discovery-endpoints=http://127.0.0.1:$SPORT" "$NODE/plain-bootstrap.env"'
check_that "the TLS listener negotiates ALPN h2" \
	'openssl s_client -connect "127.0.0.1:$SPORT" -alpn h2 </dev/null 2>/dev/null | grep -q "^ALPN protocol: h2"'
out=$(ctl etcdctl "http://127.0.0.1:$SPORT" --dial-timeout=2s get "/_etcd/registry/$ST/_config/size" 2>&1)
check_that "a plaintext (h2c) client on the TLS port gets nothing" '[ "$out" != 3 ]'
kindling_stop
