#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that takes single-quoted expressions, evaluated later
# test_ignition.sh - the node side of kindling, with the real Ignition 2.14
# (Debian package `ignition`): a cluster's userdata (the pointer config) makes
# the real fetch stage fetch the rendered config from the running kindling
# with the fetch token (in httpHeaders for spec >= 3.1, in the URL for 3.0.0),
# with and without a pinned sha512; a wrong token or hash fails the boot; the
# real files stage writes the etcd + rabbitmq units, drop-in and files with the
# right modes and owners and systemd-analyze verify accepts them; and the
# /ignition route's rules (401/403, ETag, HEAD, version negotiation, 406,
# token rotation with a grace period). Needs root (Ignition's files stage).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
plan 122
require_tool "$IGNITION_BIN" ignition-validate systemd-analyze systemctl sqlite3

IGN_ACCEPT='application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1'
N=$T/nodes
mkdir -p "$N"

# fetch_count NAME - the cluster's fetches.count.
fetch_count() { curl -sS --max-time 10 "$BASE/clusters/$1" | jq -r '.fetches.count'; }
# wait_fetch_count NAME N - waits (30 s at most: fetches are written in
# batches, later on a loaded machine) until fetches.count is N.
wait_fetch_count() {
	local c
	for _ in $(seq 1 300); do
		c=$(fetch_count "$1")
		[ "$c" = "$2" ] && return 0
		sleep 0.1
	done
	echo "fetches.count of $1 is $c, want $2" >&2
	return 1
}
# log_count PATTERN - request-log lines of kindling matching PATTERN (ERE).
log_count() { grep -cE "$1" "$T/kindling.log"; }
# strip - jq: drops the empty objects/arrays/nulls Ignition adds when it
# re-serializes a config, so a cached config compares with the served one.
STRIP='walk(if type == "object" then with_entries(select(.value != {} and .value != [] and .value != null)) else . end)'
# same_config SERVED CACHED - the cached (translated) config says what the
# served one says: equal storage/systemd/passwd after dropping empty values.
same_config() {
	[ "$(jq -S "$STRIP | del(.ignition)" "$1")" = "$(jq -S "$STRIP | del(.ignition)" "$2")" ] &&
		[ "$(jq -S "del(.ignition)" "$1" | wc -c)" -gt 50 ]
}
# quiet_validate FILE - ignition-validate accepts FILE and prints nothing.
quiet_validate() {
	local out
	out=$(timeout 30 ignition-validate "$1" 2>&1) && [ -z "$out" ] && return 0
	echo "ignition-validate $1: $out" >&2
	return 1
}
# req METHOD PATH [CURL-ARG...] - api with the previous body removed first (curl
# writes no file for an empty body, and a stale body must not pass a check).
req() {
	rm -f "$BODY"
	api "$@"
}
# ign_get NAME TOKEN [CURL-ARG...] - GET /clusters/NAME/ignition with the token
# in the Authorization header.
ign_get() {
	local name=$1 tok=$2
	shift 2
	req GET "/clusters/$name/ignition" -H "Authorization: Bearer $tok" "$@"
}
# not_a_config - the last body is no Ignition config (no ignition/systemd/storage).
not_a_config() {
	! jq -e 'has("ignition") or has("systemd") or has("storage")' "$BODY" >/dev/null 2>&1 &&
		! grep -q 'rabbitmq' "$BODY"
}

# bearer_of_body - the token in the last body's (a pointer's) Authorization header
bearer_of_body() { jqb '.ignition.config.replace.httpHeaders[]? | select(.name == "Authorization") | .value' | sed -n 's/^Bearer //p'; }
# spec_validate FILE - the project's validator of 3.5.0/3.6.0 (no Debian
# Ignition knows them) accepts FILE and prints nothing.
spec_validate() {
	local out
	out=$(sh tests/unit/check_3x_spec.sh "$1" 2>&1) && [ -z "$out" ] && return 0
	echo "check_3x_spec.sh $1: $out" >&2
	return 1
}

# A profile only spec 3.6.0 can express: a setuid helper (mode 4755).
mkdir -p "$T/extra/suid/files/usr/local/bin"
printf '{"description": "a setuid helper", "files": {"/usr/local/bin/helper": {"mode": "4755"}}}\n' \
	>"$T/extra/suid/profile.json"
printf '#!/bin/sh\necho helper\n' >"$T/extra/suid/files/usr/local/bin/helper"

kindling_start --http-total 20 --templates "$T/extra" || exit 1

# ---- create, userdata ----------------------------------------------------
post_json /clusters '{"name":"ign","size":3,"profiles":["etcd","rabbitmq"],"vars":{},"ignition_version":"3.3.0"}'
expect "create an etcd+rabbitmq cluster" 201
cp "$BODY" "$T/cluster.json"
IGN_URL=$(jq -r .ignition_url "$T/cluster.json")
DISCOVERY_URL=$(jq -r .discovery_url "$T/cluster.json")

req GET /clusters/ign/userdata
expect "GET userdata returns 200" 200
cp "$BODY" "$T/ptr.ign"
check "userdata is application/vnd.coreos.ignition+json" \
	[ "$(header Content-Type)" = application/vnd.coreos.ignition+json ]
TOKEN=$(jq -r '.ignition.config.replace.httpHeaders[]? | select(.name == "Authorization") | .value' \
	"$T/ptr.ign" | sed -n 's/^Bearer //p')
check_that "3.3.0 pointer: replace.source is the ignition_url, token in an Authorization header" \
	'[ "$(jq -r ".ignition.version + \" \" + .ignition.config.replace.source" "$T/ptr.ign")" = "3.3.0 $IGN_URL" ] && [ ${#TOKEN} -ge 22 ]'
check "pointer has timeouts.httpTotal from --http-total, no hash unless asked" \
	[ "$(jq -r '(.ignition.timeouts.httpTotal|tostring) + " " + (.ignition.config.replace.verification.hash // "none")' "$T/ptr.ign")" = "20 none" ]
check "userdata is under 2 KB without a CA ($(wc -c <"$T/ptr.ign") bytes)" [ "$(wc -c <"$T/ptr.ign")" -lt 2048 ]
check "ignition-validate accepts the pointer with no output" quiet_validate "$T/ptr.ign"

req GET '/clusters/ign/userdata?format=base64'
expect "GET userdata?format=base64 returns 200" 200
check_that "format=base64 is text/plain" '[[ "$(header Content-Type)" == text/plain* ]]'
check_that "format=base64 decodes to the same bytes" 'base64 -d <"$BODY" | cmp -s - "$T/ptr.ign"'

# ---- what GET /ignition serves -----------------------------------------------
ign_get ign "$TOKEN" -H "Accept: $IGN_ACCEPT"
expect "GET ignition with the token (Ignition's Accept) returns 200" 200
cp "$BODY" "$T/served.ign"
ETAG=$(header ETag)
check_that "served config is application/vnd.coreos.ignition+json with an ETag" \
	'[ "$(header Content-Type)" = application/vnd.coreos.ignition+json ] && [ -n "$ETAG" ]'
check_that "served config is spec 3.3.0 and ignition-validate accepts it silently" \
	'[ "$(jq -r .ignition.version "$T/served.ign")" = 3.3.0 ] && quiet_validate "$T/served.ign"'
ign_get ign "$TOKEN"
check "GET ignition without Accept serves the same bytes (cluster default 3.3.0)" cmp -s "$BODY" "$T/served.ign"
req GET "/clusters/ign/ignition?token=$TOKEN"
check_that "?token= works as well as the header" '[ "$STATUS" = 200 ] && cmp -s "$BODY" "$T/served.ign"'

# ---- the real Ignition fetch stage against kindling ------------------------------
before=$(fetch_count ign)
ok200=$(log_count 'GET /clusters/ign/ignition 200 ')
ignition_fetch "$N/a" "$T/ptr.ign"
rc=$?
check "Ignition fetch stage with the 3.3.0 pointer (token header) exits 0 (rc=$rc)" [ "$rc" = 0 ]
check "Ignition fetched exactly the bytes GET /ignition serves (sha512)" \
	[ "$(ignition_fetched_sha512 "$N/a")" = "$(sha512sum "$T/served.ign" | cut -d' ' -f1)" ]
check "the cached config says what the served config says" same_config "$T/served.ign" "$N/a/run/ignition.json"
check "kindling logged the node's fetch as a 200" \
	eventually 20 eval '[ "$(log_count "GET /clusters/ign/ignition 200 ")" = $((ok200 + 1)) ]'
check "the node fetch shows up: fetches.count $before -> $((before + 1))" wait_fetch_count ign $((before + 1))
check_that "cluster JSON has the last fetch time" \
	'curl -sS --max-time 10 "$BASE/clusters/ign" | jq -e ".fetches.last_at | type == \"string\"" >/dev/null'

req GET '/clusters/ign/userdata?hash=1'
expect "GET userdata?hash=1 returns 200" 200
cp "$BODY" "$T/ptr-hash.ign"
check "hash=1 pins sha512 of the served bytes" \
	[ "$(jq -r .ignition.config.replace.verification.hash "$T/ptr-hash.ign")" = "sha512-$(sha512sum "$T/served.ign" | cut -d' ' -f1)" ]
check "ignition-validate accepts the hashed pointer with no output" quiet_validate "$T/ptr-hash.ign"
ignition_fetch "$N/b" "$T/ptr-hash.ign"
rc=$?
check_that "Ignition fetch stage with the hashed pointer verifies it and exits 0 (rc=$rc)" \
	'[ "$rc" = 0 ] && same_config "$T/served.ign" "$N/b/run/ignition.json"'

# every 3.x spec this Ignition knows, hashed, for this 3.3.0 cluster
for v in 3.0.0 3.1.0 3.2.0 3.3.0; do
	req GET "/clusters/ign/userdata?version=$v&hash=1"
	cp "$BODY" "$T/ptr-$v.ign"
	check_that "userdata?version=$v&hash=1: a $v pointer ignition-validate accepts silently" \
		'[ "$STATUS" = 200 ] && [ "$(jq -r .ignition.version "$T/ptr-$v.ign")" = "$v" ] && quiet_validate "$T/ptr-$v.ign"'
	ignition_fetch "$N/v$v" "$T/ptr-$v.ign"
	rc=$?
	check "Ignition fetch stage with the $v hashed pointer exits 0 (rc=$rc)" [ "$rc" = 0 ]
done

# ---- a spec 3.0.0 cluster: the token rides in the URL --------------------------
post_json /clusters '{"name":"ign30","size":1,"profiles":["etcd","rabbitmq"],"ignition_version":"3.0.0"}'
expect "create a 3.0.0 cluster" 201
req GET /clusters/ign30/userdata
cp "$BODY" "$T/ptr30.ign"
SRC30=$(jq -r .ignition.config.replace.source "$T/ptr30.ign")
TOKEN30=$(printf '%s' "$SRC30" | sed -n 's/.*[?&]token=\([^&]*\).*/\1/p')
check_that "3.0.0 pointer: token as ?token= in the source, no httpHeaders" \
	'[ "$STATUS" = 200 ] && [ "$(jq -r ".ignition.version + \" \" + (.ignition.config.replace | has(\"httpHeaders\") | tostring)" "$T/ptr30.ign")" = "3.0.0 false" ] && [ ${#TOKEN30} -ge 22 ]'
check "ignition-validate accepts the 3.0.0 pointer with no output" quiet_validate "$T/ptr30.ign"
req GET "${SRC30#"$BASE"}" -H "Accept: $IGN_ACCEPT"
cp "$BODY" "$T/served30.ign"
check_that "the 3.0.0 pointer's source serves a config to Ignition's Accept" '[ "$STATUS" = 200 ] && quiet_validate "$T/served30.ign"'
ignition_fetch "$N/c" "$T/ptr30.ign"
rc=$?
check "Ignition fetch stage with the 3.0.0 pointer (token in URL) exits 0 (rc=$rc)" [ "$rc" = 0 ]
check "Ignition fetched exactly what GET /ignition serves it (3.0.0 cluster)" \
	[ "$(ignition_fetched_sha512 "$N/c")" = "$(sha512sum "$T/served30.ign" | cut -d' ' -f1)" ]
check_that "the 3.0.0 cluster's cached config is its own (cluster_name ign30)" \
	'jq -r ".storage.files[] | select(.path == \"/etc/rabbitmq/rabbitmq.conf\") | .contents.source" "$N/c/run/ignition.json" | grep -q "cluster_name%20%3D%20ign30%0A"'
req GET '/clusters/ign30/userdata?hash=1'
cp "$BODY" "$T/ptr30-hash.ign"
ignition_fetch "$N/c2" "$T/ptr30-hash.ign"
rc=$?
check "Ignition fetch stage with the hashed 3.0.0 pointer exits 0 (rc=$rc)" [ "$rc" = 0 ]

# ---- boots that must fail -------------------------------------------------
forbidden=$(log_count 'GET /clusters/ign/ignition 403 ')
jq -c '.ignition.config.replace.httpHeaders = [{"name":"Authorization","value":"Bearer wrong-token-wrong-token-wrong"}]' \
	"$T/ptr.ign" >"$T/ptr-badtoken.ign"
ignition_fetch "$N/d" "$T/ptr-badtoken.ign"
rc=$?
check "a pointer with a wrong token: Ignition exits non-zero (rc=$rc)" [ "$rc" != 0 ]
check "a pointer with a wrong token: kindling logged one 403" \
	eventually 20 eval '[ "$(log_count "GET /clusters/ign/ignition 403 ")" = $((forbidden + 1)) ]'
check "a pointer with a wrong token: no config cached" [ ! -e "$N/d/run/ignition.json" ]

jq -c --arg h "sha512-$(echo tampered | sha512sum | cut -d' ' -f1)" '.ignition.config.replace.verification.hash = $h' \
	"$T/ptr-hash.ign" >"$T/ptr-badhash.ign"
ignition_fetch "$N/e" "$T/ptr-badhash.ign"
rc=$?
check_that "a pointer with a wrong hash: Ignition exits non-zero with \"hash verification failed\" (rc=$rc)" \
	'[ "$rc" != 0 ] && grep -q "hash verification failed" "$N/e/fetch.log"'
check "a pointer with a wrong hash: no config cached" [ ! -e "$N/e/run/ignition.json" ]

# ---- the files stage: what lands on the node ---------------------------------
ignition_files "$N/a"
rc=$?
check "Ignition files stage exits 0 (rc=$rc)" [ "$rc" = 0 ]
S=$N/a/sysroot
CONF=$S/etc/rabbitmq/rabbitmq.conf
COOKIE=$S/var/lib/rabbitmq/.erlang.cookie
check "rabbitmq.conf is 0640 root:999" [ "$(stat_of "$CONF")" = "640 0:999" ]
check_that "rabbitmq.conf names the cluster and the etcd endpoint, sets default_user/pass" '
	grep -qx "cluster_formation.peer_discovery_backend = etcd" "$CONF" &&
	grep -qx "cluster_formation.etcd.cluster_name = ign" "$CONF" &&
	grep -qx "cluster_formation.etcd.endpoints.1 = 127.0.0.1:2379" "$CONF" &&
	grep -qx "default_user = admin" "$CONF" &&
	grep -qE "^default_pass = [A-Za-z0-9_-]{16,}\$" "$CONF"'
check_that "rabbitmq.conf has no unsubstituted \${...}" '! grep -qF "\${" "$CONF"'
check_that "enabled_plugins is 0644 root:root and enables the etcd peer discovery plugin" \
	'[ "$(stat_of "$S/etc/rabbitmq/enabled_plugins")" = "644 0:0" ] && grep -q "rabbitmq_peer_discovery_etcd" "$S/etc/rabbitmq/enabled_plugins"'
check "the Erlang cookie is 0400 999:999" [ "$(stat_of "$COOKIE")" = "400 999:999" ]
check_that "the Erlang cookie is a secret of 20+ characters, no newline" \
	'grep -qE "^[A-Za-z0-9_-]{20,}\$" "$COOKIE" && [ "$(wc -l <"$COOKIE")" = 0 ]'
ignition_files "$N/c"
check_that "each cluster has its own Erlang cookie" \
	'[ -s "$N/c/sysroot/var/lib/rabbitmq/.erlang.cookie" ] && ! cmp -s "$COOKIE" "$N/c/sysroot/var/lib/rabbitmq/.erlang.cookie"'
DROPIN=$S/etc/systemd/system/etcd-member.service.d/20-clct-etcd-member.conf
check "the etcd drop-in is 0644 root:root" [ "$(stat_of "$DROPIN")" = "644 0:0" ]
check_that "the etcd drop-in runs the join step first, takes its bootstrap flags from it and keeps \${COREOS_EC2_IPV4_LOCAL}" \
	'grep -qx "ExecStartPre=/opt/kindling/etcd-join /etc/kindling/etcd-join.env /run/kindling/etcd-bootstrap.env" "$DROPIN" && grep -qx "  \$KINDLING_ETCD_BOOTSTRAP" "$DROPIN" && grep -qF "http://\${COREOS_EC2_IPV4_LOCAL}:2380" "$DROPIN"'
check_that "the join step (0755) and its inputs (0600: the discovery URL is a secret) hold the cluster's discovery URL and size" \
	'[ "$(stat_of "$S/opt/kindling/etcd-join")" = "755 0:0" ] && [ "$(stat_of "$S/etc/kindling/etcd-join.env")" = "600 0:0" ] && grep -qxF "KINDLING_DISCOVERY_URL=$DISCOVERY_URL" "$S/etc/kindling/etcd-join.env" && grep -qx "KINDLING_CLUSTER_SIZE=3" "$S/etc/kindling/etcd-join.env"'
check "no etcd-member.service unit file, only its drop-in" [ ! -e "$S/etc/systemd/system/etcd-member.service" ]
check "rabbitmq.service is 0644 root:root" [ "$(stat_of "$S/etc/systemd/system/rabbitmq.service")" = "644 0:0" ]
check_that "rabbitmq.service runs the default image after docker.socket" '
	grep -q "docker.io/library/rabbitmq:3.10-management" "$S/etc/systemd/system/rabbitmq.service" &&
	grep -qx "Requires=docker.socket" "$S/etc/systemd/system/rabbitmq.service"'
check_that "the preset file enables rabbitmq.service and etcd-member.service" '
	grep -qx "enable rabbitmq.service" "$S/etc/systemd/system-preset/20-ignition.preset" &&
	grep -qx "enable etcd-member.service" "$S/etc/systemd/system-preset/20-ignition.preset"'
check "systemd-analyze verify prints nothing for the written units" verify_units "$S"
check "after presets (others disabled) rabbitmq.service and etcd-member.service are enabled" \
	[ "$(unit_preset_state "$S" rabbitmq.service etcd-member.service docker.socket | tr '\n' ' ')" = "enabled enabled disabled " ]

# ---- /ignition serving rules -------------------------------------------------
req GET /clusters/ign/ignition
check_that "no token -> 401 problem+json, no config" \
	'[ "$STATUS" = 401 ] && [ "$(header Content-Type)" = application/problem+json ] && not_a_config'
ign_get ign "not-$TOKEN"
check_that "wrong token in the header -> 403, no config" '[ "$STATUS" = 403 ] && not_a_config'
req GET "/clusters/ign/ignition?token=${TOKEN}x"
check_that "wrong ?token= -> 403, no config" '[ "$STATUS" = 403 ] && not_a_config'
ign_get ign "$TOKEN30"
check_that "another cluster's token -> 403, no config" '[ "$STATUS" = 403 ] && not_a_config'
req GET /clusters/nope/ignition -H "Authorization: Bearer $TOKEN"
check_that "unknown cluster -> 4xx (not 5xx, not a redirect), no config" \
	'[[ "$STATUS" == 40[134] ]] && not_a_config'
ign_get ign "$TOKEN" -H "If-None-Match: $ETAG"
check_that "If-None-Match with the ETag -> 304, empty body" '[ "$STATUS" = 304 ] && [ ! -s "$BODY" ]'
ign_get ign "$TOKEN" -H "If-None-Match: \"zz\", $ETAG"
check_that "If-None-Match with a list holding the ETag -> 304" '[ "$STATUS" = 304 ]'
ign_get ign "$TOKEN" -H "If-None-Match: W/$ETAG"
check_that "If-None-Match with the weak ETag -> 304" '[ "$STATUS" = 304 ]'
ign_get ign "$TOKEN" -H 'If-None-Match: "other"'
check_that "If-None-Match with another ETag -> 200, the config" '[ "$STATUS" = 200 ] && cmp -s "$BODY" "$T/served.ign"'
req GET /clusters/ign/ignition -H "If-None-Match: $ETAG"
check "If-None-Match without the token -> 401, not 304" [ "$STATUS" = 401 ]
req HEAD /clusters/ign/ignition -I -H "Authorization: Bearer $TOKEN"
check_that "HEAD with the token -> 200, same ETag and Content-Length" \
	'[ "$STATUS" = 200 ] && [ "$(header ETag)" = "$ETAG" ] && [ "$(header Content-Length)" = "$(wc -c <"$T/served.ign")" ]'
# curl -I never reads a body: send the HEAD by hand, read to EOF.
raw_head() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf 'HEAD /clusters/ign/ignition HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' "$TOKEN" >&3
	timeout 10 cat <&3 >"$T/raw-head"
	exec 3<&-
}
raw_head
check_that "HEAD sends the headers and no body" \
	'head -1 "$T/raw-head" | grep -q "^HTTP/1.1 200 " && [ "$(sed "1,/^\r\$/d" "$T/raw-head" | wc -c)" = 0 ]'
req HEAD /clusters/ign/ignition -I
check "HEAD without the token -> 401" [ "$STATUS" = 401 ]
ign_get ign "$TOKEN" -G -d version=9.9.9
check_that "?version=9.9.9 -> 406, no config" '[ "$STATUS" = 406 ] && not_a_config'
ign_get ign "$TOKEN" -G -d version=3.1.0
check_that "?version=3.1.0 -> a 3.1.0 config ignition-validate accepts silently" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.1.0 ] && quiet_validate "$BODY"'
ign_get ign "$TOKEN" -G -d version=3.1.0 -H "Accept: $IGN_ACCEPT"
check_that "?version= wins over Accept" '[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.1.0 ]'
ign_get ign "$TOKEN" -H 'Accept: application/vnd.coreos.ignition+json;version=3.2.0, */*;q=0.1'
check_that "Accept version=3.2.0 -> a 3.2.0 config" '[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.2.0 ]'
ign_get ign "$TOKEN" -H 'Accept: application/vnd.coreos.ignition+json; version=2.2.0, application/vnd.coreos.ignition+json; version=1; q=0.5, */*; q=0.1'
check_that "old Ignition's Accept (version=2.2.0) -> a 2.2.0 config" '[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 2.2.0 ]'
ign_get ign "$TOKEN" -H 'Accept: application/vnd.coreos.ignition+json;version=9.9.9'
check_that "Accept with only an unsupported version -> 406, no config" '[ "$STATUS" = 406 ] && not_a_config'

# ---- spec 3.5.0 and 3.6.0: negotiation (no Debian Ignition knows them) --------
ign_get ign "$TOKEN" -H 'Accept: application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1'
check_that "Accept version=3.6.0 (Fedora CoreOS) -> a 3.6.0 config the spec validator accepts" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.6.0 ] && spec_validate "$BODY"'
ign_get ign "$TOKEN" -H 'Accept: application/vnd.coreos.ignition+json;version=3.5.0, */*;q=0.1'
check_that "Accept version=3.5.0 (Flatcar) -> a 3.5.0 config the spec validator accepts" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.5.0 ] && spec_validate "$BODY"'
ign_get ign "$TOKEN" -H 'Accept: application/vnd.coreos.ignition+json;version=3.7.0, */*;q=0.1'
check_that "Accept version=3.7.0 (newer than kindling knows) -> the newest known, 3.6.0" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.6.0 ]'
ign_get ign "$TOKEN" -G -d version=3.7.0
check_that "?version=3.7.0 -> 3.6.0 too (one rule for ?version= and Accept)" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.6.0 ]'
req GET '/clusters/ign/userdata?version=3.6.0'
check_that "userdata?version=3.6.0: a 3.6.0 pointer (token in httpHeaders) the spec validator accepts" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.6.0 ] && [ -n "$(bearer_of_body)" ] && spec_validate "$BODY"'
req GET '/clusters/ign/userdata?version=3.7.0'
check_that "userdata?version=3.7.0 -> a 3.6.0 pointer" '[ "$STATUS" = 200 ] && [ "$(jqb .ignition.version)" = 3.6.0 ]'

# ---- what a lower spec cannot express is refused, never dropped ---------------
post_json /clusters '{"name":"suid33","size":1,"profiles":["suid"]}'
check_that "create with a setuid file and the default spec 3.3.0 -> 422 naming ignition_version, the file and the reason" \
	'[ "$STATUS" = 422 ] && [ "$(jqb ".errors[0].field")" = ignition_version ] && jqb ".errors[0].message" | grep -q "file /usr/local/bin/helper has mode 04755 with setuid/setgid/sticky bits, which spec 3.3.0 cannot express"'
post_json /clusters '{"name":"suid","size":1,"profiles":["suid"],"ignition_version":"3.6.0"}'
expect "create it with ignition_version 3.6.0" 201
req GET '/clusters/suid/userdata?version=3.3.0'
cp "$BODY" "$T/ptr-suid33.ign"
SUIDTOKEN=$(bearer_of_body)
ign_get suid "$SUIDTOKEN"
check_that "its config (3.6.0) keeps mode 04755 and the spec validator accepts it" \
	'[ "$STATUS" = 200 ] && [ "$(jqb ".storage.files[0].mode")" = 2541 ] && spec_validate "$BODY"'
ign_get suid "$SUIDTOKEN" -H "Accept: $IGN_ACCEPT"
check_that "Ignition 2.14's Accept (3.3.0) -> 406 problem+json naming the file, no config" \
	'[ "$STATUS" = 406 ] && [ "$(header Content-Type)" = application/problem+json ] && [ "$(jqb ".errors[0].field")" = version ] && jqb ".errors[0].message" | grep -q "/usr/local/bin/helper" && not_a_config'
ignition_fetch "$N/suid" "$T/ptr-suid33.ign"
rc=$?
check_that "real Ignition 2.14 with a 3.3.0 pointer to it fails the boot (rc=$rc), nothing cached" \
	'[ "$rc" != 0 ] && [ ! -e "$N/suid/run/ignition.json" ]'
req GET '/clusters/suid/userdata?version=3.5.0&hash=1'
check_that "userdata?version=3.5.0&hash=1 for it -> 422 naming version and the file" \
	'[ "$STATUS" = 422 ] && [ "$(jqb ".errors[0].field")" = version ] && jqb ".errors[0].message" | grep -q "/usr/local/bin/helper"'
req GET '/clusters/suid?version=3.3.0' -H 'Accept: text/html'
check_that "its page for spec 3.3.0 says why instead of a config (file, mode, the versions that can)" \
	'[ "$STATUS" = 200 ] && grep -q "Spec 3.3.0 cannot express this cluster" "$BODY" && grep -q "/usr/local/bin/helper has mode 04755" "$BODY" && grep -q "the versions that can: 3.6.0" "$BODY"'
req GET /profiles
check_that "GET /profiles: the versions (3.6.0 first, its features), and that profile suid fits only 3.6.0" \
	'[ "$(jqb "[.ignition.versions[0].version, (.ignition.versions[0].features | index(\"special_mode_bits\") != null), .ignition.default] | @tsv")" = "$(printf "3.6.0\ttrue\t3.3.0")" ] && [ "$(jqb "[.profiles[] | select(.name == \"suid\") | .ignition.versions[]] | join(\",\")")" = 3.6.0 ]'

# refused requests are no fetches: after 401, 403, 403, 406 and then one
# good fetch the count grows by exactly one
before=$(fetch_count ign)
req GET /clusters/ign/ignition
ign_get ign "not-$TOKEN"
req GET "/clusters/ign/ignition?token=${TOKEN}x"
ign_get ign "$TOKEN" -G -d version=9.9.9
ign_get ign "$TOKEN"
check "401/403/406 do not count as fetches: fetches.count $before -> $((before + 1))" wait_fetch_count ign $((before + 1))

# a burst of concurrent fetches: each is counted (the log writer sums a
# batch per cluster), and the log keeps the newest --fetch-log-size (50)
before=$(fetch_count ign)
seq 300 | xargs -P 16 -I{} curl -s -o /dev/null --max-time 10 -H "Authorization: Bearer $TOKEN" \
	"$BASE/clusters/ign/ignition"
check "300 concurrent fetches: fetches.count $before -> $((before + 300))" wait_fetch_count ign $((before + 300))
check_that "... and the fetch log keeps the newest 50 of them" \
	'[ "$(db_sql "SELECT count(*) FROM fetches JOIN clusters ON clusters.id = cluster_id WHERE name = '"'ign'"' AND status = 200")" = 50 ]'

# ---- token rotation ------------------------------------------------------------
req POST /clusters/ign/token
check_that "POST /token rotates (2xx)" '[[ "$STATUS" == 20[01] ]]'
req GET /clusters/ign/userdata
NEWTOKEN=$(bearer_of_body)
cp "$BODY" "$T/ptr-new.ign"
check_that "userdata carries a new token after rotation" '[ ${#NEWTOKEN} -ge 22 ] && [ "$NEWTOKEN" != "$TOKEN" ]'
ign_get ign "$TOKEN"
check "the old token still works during the grace period" [ "$STATUS" = 200 ]
ign_get ign "$NEWTOKEN"
check_that "the new token works" '[ "$STATUS" = 200 ] && cmp -s "$BODY" "$T/served.ign"'
ignition_fetch "$N/f" "$T/ptr-new.ign"
rc=$?
check "Ignition fetch stage with the rotated pointer exits 0 (rc=$rc)" [ "$rc" = 0 ]
check_that "no token appears in kindling's log" \
	'! grep -qF -e "$TOKEN" -e "$NEWTOKEN" -e "$TOKEN30" "$T/kindling.log"'

# ---- a change reaches the nodes; delete and re-create ---------------------------
req PATCH /clusters/ign -H 'Content-Type: application/merge-patch+json' --data-binary '{"vars":{"rabbitmq_image":"example.org/rmq:changed"}}'
expect "PATCH vars" 200
ign_get ign "$NEWTOKEN" -H "Accept: $IGN_ACCEPT"
cp "$BODY" "$T/served-gen2.ign"
check_that "after PATCH the served config has the new value and a new ETag" \
	'[ "$STATUS" = 200 ] && grep -q "example.org/rmq:changed" "$T/served-gen2.ign" && [ -n "$(header ETag)" ] && [ "$(header ETag)" != "$ETAG" ]'
ign_get ign "$NEWTOKEN" -H "If-None-Match: $ETAG"
check "after PATCH If-None-Match with the old ETag -> 200" [ "$STATUS" = 200 ]
ignition_fetch "$N/g" "$T/ptr-hash.ign"
rc=$?
check_that "a hashed pointer pins its generation: after PATCH Ignition fails it (rc=$rc)" \
	'[ "$rc" != 0 ] && grep -q "hash verification failed" "$N/g/fetch.log"'
req GET /clusters/ign/userdata?hash=1
cp "$BODY" "$T/ptr-hash2.ign"
ignition_fetch "$N/h" "$T/ptr-hash2.ign"
rc=$?
check_that "a new hashed pointer after PATCH boots, with the new config (rc=$rc)" \
	'[ "$rc" = 0 ] && [ "$(ignition_fetched_sha512 "$N/h")" = "$(sha512sum "$T/served-gen2.ign" | cut -d" " -f1)" ]'
req DELETE /clusters/ign30
expect "DELETE the 3.0.0 cluster" 204
req GET "/clusters/ign30/ignition?token=$TOKEN30"
check_that "a deleted cluster's config is gone (404, no config)" '[ "$STATUS" = 404 ] && not_a_config'
post_json /clusters '{"name":"ign30","size":1,"profiles":["etcd","rabbitmq"],"ignition_version":"3.0.0"}'
expect "re-create it under the same name" 201
req GET "/clusters/ign30/ignition?token=$TOKEN30"
check_that "the old token does not open the re-created cluster (403, no config)" '[ "$STATUS" = 403 ] && not_a_config'
kindling_stop # 1st instance

GRACE=4 # long enough for "works right after rotation" on a loaded machine
kindling_start --http-total 20 --templates "$T/extra" --token-grace $GRACE || exit 1
ign_get ign "$NEWTOKEN"
check "the token survives a restart" [ "$STATUS" = 200 ]
req POST /clusters/ign/token
ROTATED=$SECONDS
check_that "POST /token with --token-grace $GRACE (2xx)" '[[ "$STATUS" == 20[01] ]]'
req GET /clusters/ign/userdata
TOKEN3=$(bearer_of_body)
ign_get ign "$NEWTOKEN"
check "--token-grace $GRACE: the old token works right after rotation" [ "$STATUS" = 200 ]
old_refused() {
	ign_get ign "$NEWTOKEN"
	[ "$STATUS" = 403 ]
}
eventually 60 old_refused
after=$((SECONDS - ROTATED))
check_that "--token-grace $GRACE: the old token is refused (403, no config) once it is over (after ${after} s)" \
	'[ "$STATUS" = 403 ] && not_a_config && [ "$after" -ge $((GRACE - 1)) ]'
ign_get ign "$TOKEN3"
check_that "--token-grace $GRACE: the new token works" '[ "$STATUS" = 200 ] && [ ${#TOKEN3} -ge 22 ] && [ "$TOKEN3" != "$NEWTOKEN" ]'
kindling_stop # 2nd instance
finish
