#!/usr/bin/env bash
# test_discovery_etcd.sh - upstream v3 discovery (--discovery-etcd URL[,URL]):
# a "discovery": "upstream" v3 cluster gets its size key written into a
# real etcd 3.4 through its v3 JSON gateway (libcurl), hands out that etcd's
# endpoints, and shows the members registered there (read back through the
# gateway); members (npm etcd3 replaying JoinCluster) bootstrap against the
# etcd itself; the etcd-v3 profile renders the token and those endpoints;
# DELETE removes the token's keys from the etcd. An unreachable etcd: 502
# problem+json and nothing stored. A first endpoint that is down is passed
# over for the next.
# shellcheck disable=SC2034
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 14
need_tools etcd etcdctl curl jq ss node npm
export ETCDCTL_API=3

EC=$(free_port) && EP=$(free_port) && DEAD=$(free_port) || exit 1
etcd_member up "$T/etcd-up" "$EC" "$EP" "" --initial-cluster "up=http://127.0.0.1:$EP"
EURL="http://127.0.0.1:$EC"
etcd_wait_healthy "$EURL" 60 || fail "the etcd for --discovery-etcd did not become healthy"
kindling_start --discovery-etcd "http://127.0.0.1:$DEAD,$EURL" --upstream-timeout-ms 8000 || exit 1

post_json /clusters '{"name":"up3","size":3,"profiles":["etcd-v3"],"discovery_protocol":"v3","discovery":"upstream"}'
expect "POST a v3 upstream cluster: 201 (the first, dead, endpoint passed over)" 201
TOK=$(jqb .discovery_token)
check_that "its JSON: discovery upstream, a 32-hex token, the etcd endpoints" \
	'[ "$(jqb .discovery)" = upstream ] && [[ $TOK =~ ^[0-9a-f]{32}$ ]] && [ "$(jq -c .discovery_endpoints "$BODY")" = "[\"http://127.0.0.1:$DEAD\",\"$EURL\"]" ]'
check_that "the size key is in the etcd (etcdctl get)" \
	'[ "$(timeout 10 etcdctl --endpoints="$EURL" get --print-value-only "/_etcd/registry/$TOK/_config/size")" = 3 ]'
check_that "nothing of it in kindling's own discovery (/discovery/<token>: 404)" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" "$BASE/discovery/$TOK/_config/size")" = 404 ]'

if ! [ -d tests/grpc/node_modules/etcd3 ] &&
	! (cd tests/grpc && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2; then
	skip_or_fail 3 "npm ci in tests/grpc failed (npm etcd3)"
else
	timeout 60 node tests/grpc/join.mjs "$EURL" "$TOK" 1 3 >"$T/join" 2>&1
	check_that "3 members join through the etcd: identical initial-clusters" \
		'[ "$(jq -r ".initial_cluster // empty" "$T/join" | wc -l)" = 3 ] && [ "$(jq -r .initial_cluster "$T/join" | sort -u | wc -l)" = 1 ]'
	api GET /clusters/up3
	check_that "the cluster's members, read from the etcd: 3 registered, names m1..m3 in create order, peer URLs" \
		'[ "$(jqb .members.registered)" = 3 ] && [ "$(jq -r "[.members.list[].name] | sort | join(\",\")" "$BODY")" = m1,m2,m3 ] && [ "$(jq -r ".members.list[0].peer_urls[0]" "$BODY")" != null ]'
	api GET /clusters/up3 -H 'Accept: text/html'
	check_that "the cluster page lists them" 'grep -q "http://127.0.0.2:2380" "$BODY"'
fi
api GET /clusters/up3/userdata
FT=$(jq -r '.ignition.config.replace.httpHeaders[]? | select(.name == "Authorization") | .value' "$BODY")
api GET /clusters/up3/ignition -H "Authorization: $FT"
cp "$BODY" "$T/up3.ign"
# the join step's inputs (/etc/kindling/etcd-join.env): it turns them into
# --discovery-token and --discovery-endpoints for a founding member
jq -r '.storage.files[] | select(.path == "/etc/kindling/etcd-join.env") | .contents.source' "$T/up3.ign" |
	python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.stdin.read().strip().split(",", 1)[1]))' >"$T/up3.env"
check_that "the etcd-v3 profile renders the token and the etcd's endpoints (the join step's inputs)" \
	'grep -qxF "KINDLING_DISCOVERY_TOKEN=$TOK" "$T/up3.env" && grep -qxF "KINDLING_DISCOVERY_ENDPOINTS=http://127.0.0.1:$DEAD,$EURL" "$T/up3.env"'
api DELETE /clusters/up3
eventually 10 bash -c "[ -z \"\$(timeout 5 etcdctl --endpoints='$EURL' get --prefix --keys-only '/_etcd/registry/$TOK/')\" ]"
check_that "DELETE: 204, and the token's keys are removed from the etcd" \
	'[ "$STATUS" = 204 ] && [ -z "$(timeout 5 etcdctl --endpoints="$EURL" get --prefix --keys-only "/_etcd/registry/$TOK/")" ]'

kindling_stop

# an etcd that is not there: 502, nothing stored
kindling_start --discovery-etcd "http://127.0.0.1:$DEAD" --upstream-timeout-ms 1500 --upstream-retries 1 || exit 1
post_json /clusters '{"name":"down3","size":3,"profiles":["etcd-v3"],"discovery_protocol":"v3","discovery":"upstream"}'
check_that "unreachable etcd: 502 application/problem+json naming the endpoint" \
	'[ "$STATUS" = 502 ] && [[ "$(header Content-Type)" == application/problem+json* ]] && grep -q "127.0.0.1:$DEAD" "$BODY"'
api GET /clusters/down3
check_that "and nothing was stored (GET: 404)" '[ "$STATUS" = 404 ]'
kindling_stop
etcd_stop up
