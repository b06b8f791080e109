#!/usr/bin/env bash
# shellcheck disable=SC2016 # check_that takes single-quoted expressions, evaluated later
# test_member_states.sh - member states (issue 16, item 3) with curl: the
# join step's report POST {discovery_url}/_kindling/replacements
# {"member", "replaces"} records a replacement durably (cluster_members),
# shows it in the cluster JSON (members.list[].state, replaces, removed_by)
# and on the cluster page, and publishes one member-replaced event; the same
# report again changes nothing. Bad reports - an unknown or malformed token,
# a GET /new token (no cluster), another cluster's member, an unknown
# member, malformed bodies, a wrong content type, an oversized body,
# contradictions - get problem+json 4xx and change nothing. The states
# survive a restart and go with their cluster; no token reaches the log.
# Runs on PostgreSQL too (tests/run.sh PG_E2E).
# timeout: 300
source "$(dirname "$0")/lib.sh"
plan 38

HEX32='[0-9a-f]{32}'
SPID=""
kindling_start --event-keepalive 1 || exit 1

# new_cluster NAME - POST /clusters (size 3); prints its discovery URL.
new_cluster() {
	post_json /clusters "{\"name\":\"$1\",\"size\":3}"
	[ "$STATUS" = 201 ] && jqb .discovery_url
}
# reg URL ID NAME - a registration, as etcd makes it.
reg() { curl -s -o /dev/null -w '%{http_code}' -X PUT "$1/$2?prevExist=false" --data-urlencode "value=$3=http://10.0.0.${3#n}:2380"; }
# report URL JSON [CURL-ARG...] - the join step's report (path relative to BASE).
report() {
	local url=$1 json=$2
	shift 2
	post_json "${url#"$BASE"}/_kindling/replacements" "$json" "$@"
}
# problem STATUS - the last answer is problem+json with that status.
problem() {
	[ "$STATUS" = "$1" ] && [ "$(header Content-Type)" = application/problem+json ] &&
		[ "$(jqb .status)" = "$1" ]
}
# states NAME - "id:state:replaces:removed_by ..." of cluster NAME's members.
states() {
	curl -s "$BASE/clusters/$1" | jq -r '[.members.list[] | "\(.id):\(.state):\(.replaces // "-"):\(.removed_by // "-")"] | join(" ")'
}

MS=$(new_cluster ms)
OT=$(new_cluster other)
check_that "two clusters (ms, other) with discovery URLs" '[[ $MS =~ /discovery/$HEX32$ ]] && [[ $OT =~ /discovery/$HEX32$ ]]'
ok=1
for m in a1:n1 a2:n2 a3:n3 a4:n4; do [ "$(reg "$MS" "${m%%:*}" "${m#*:}")" = 201 ] || ok=0; done
[ "$(reg "$OT" b1 n1)" = 201 ] || ok=0
check_that "registrations: a1-a4 in ms (a4 after the cluster formed), b1 in other" '[ $ok = 1 ]'
check_that "before any report: a1-a3 founding, a4 added (registered past size), no replaces" \
	'[ "$(states ms)" = "a1:founding:-:- a2:founding:-:- a3:founding:-:- a4:added:-:-" ]'

curl -sN --max-time 60 "$BASE/clusters/ms/events" >"$T/events" 2>&1 &
SPID=$!
PIDS_TO_STOP+=("$SPID")
check "the event stream of ms opens" eventually 20 grep -qF ': events of cluster ms' "$T/events"

# ---- the report ----
report "$MS" '{"member":"a4","replaces":"a2"}'
check_that "a4 reports it replaced a2: 200, recorded" \
	'[ "$STATUS" = 200 ] && [ "$(jqb "[.cluster, .member, .state, .replaces, .recorded] | join(\",\")" )" = "ms,a4,replacement,a2,true" ]'
check_that "cluster JSON: a4 a replacement of a2, a2 removed by a4, a1 and a3 founding" \
	'[ "$(states ms)" = "a1:founding:-:- a2:removed:-:a4 a3:founding:-:- a4:replacement:a2:-" ]'
curl -s "$BASE/clusters/ms" >"$T/ms.json"
check_that "the times: a4's replaced_at and a2's removed_at, ISO 8601" \
	'jq -e "(.members.list[3].replaced_at | test(\"^20[0-9-]{8}T[0-9:.]{12}Z$\")) and .members.list[1].removed_at == .members.list[3].replaced_at and .members.list[0].replaced_at == null" "$T/ms.json" >/dev/null'
curl -s "$BASE/clusters/ms" -H 'Accept: text/html' >"$T/ms.html"
check_that "the cluster page: a State column; a4 'replacement of a2', a2 'removed (replaced by a4)', a1 'founding'" \
	'grep -qF "<th scope=\"col\">State</th>" "$T/ms.html" && grep -qF "data-state=\"replacement\">replacement of <code>a2</code></td>" "$T/ms.html" && grep -qF "data-state=\"removed\">removed (replaced by <code>a4</code>)</td>" "$T/ms.html" && grep -qF "data-state=\"founding\">founding</td>" "$T/ms.html"'
check "the event stream shows one member-replaced event (member a4, replaces a2)" \
	eventually 20 grep -q '^data: {"member":"a4","replaces":"a2","kind":"member-replaced",.*"cluster":"ms"' "$T/events"
report "$MS" '{"member":"a4","replaces":"a2"}'
check_that "the same report again: 200, not recorded twice" '[ "$STATUS" = 200 ] && [ "$(jqb .recorded)" = false ]'
SNAP=$(states ms)

# ---- bad reports: problem+json, nothing changes ----
report "$BASE/discovery/0123456789abcdef0123456789abcdef" '{"member":"a4","replaces":"a2"}'
check_that "a token no cluster has: 404 problem+json" 'problem 404'
report "$BASE/discovery/NOT-A-TOKEN" '{"member":"a4","replaces":"a2"}'
check_that "a malformed token: 404 problem+json" 'problem 404'
NEW=$(curl -s "$BASE/new?size=3")
reg "$NEW" c1 n1 >/dev/null
reg "$NEW" c2 n2 >/dev/null
report "$NEW" '{"member":"c2","replaces":"c1"}'
check_that "a GET /new token (a directory of no cluster): 404 'no cluster has this discovery token'" \
	'problem 404 && [[ $(jqb .detail) == *"no cluster has this discovery token"* ]]'
report "$MS" '{"member":"a3","replaces":"b1"}'
check_that "ms's token about other's member b1: 422, field replaces not registered in this cluster" \
	'problem 422 && [ "$(jqb ".errors[0].field")" = replaces ] && [[ $(jqb ".errors[0].message") == *"not registered in this cluster"* ]]'
report "$OT" '{"member":"b1","replaces":"a3"}'
check_that "other's token about ms's member a3: 422 (a token reports about its own cluster only)" \
	'problem 422 && [ "$(jqb ".errors[0].field")" = replaces ]'
report "$MS" '{"member":"a9","replaces":"a3"}'
check_that "an unknown member: 422, field member" 'problem 422 && [ "$(jqb ".errors[0].field")" = member ]'
report "$MS" '{"member":"a3",'
check_that "malformed JSON: 400 problem+json" 'problem 400'
report "$MS" '["a3","a1"]'
check_that "not an object: 400 problem+json" 'problem 400'
report "$MS" '{}'
check_that "no fields: 422 naming member and replaces" \
	'problem 422 && [ "$(jqb "[.errors[].field] | join(\",\")")" = member,replaces ]'
report "$MS" '{"member":"A3","replaces":"a1"}'
check_that "an id in upper case: 422" 'problem 422 && [ "$(jqb ".errors[0].field")" = member ]'
report "$MS" '{"member":3,"replaces":"a1"}'
check_that "an id that is not a string: 422" 'problem 422 && [ "$(jqb ".errors[0].field")" = member ]'
report "$MS" '{"member":"a3","replaces":"a3"}'
check_that "a member replacing itself: 422" 'problem 422 && [[ $(jqb ".errors[0].message") == *itself* ]]'
report "$MS" '{"member":"a3","replaces":"a1","name":"x"}'
check_that "an unknown field: 422 naming it" 'problem 422 && [ "$(jqb ".errors[0].field")" = name ]'
api POST "${MS#"$BASE"}/_kindling/replacements" -H 'Content-Type: text/plain' --data-binary '{"member":"a3","replaces":"a1"}'
check_that "a body that is not application/json: 415" 'problem 415'
head -c 5000 /dev/zero | tr '\0' ' ' >"$T/big"
api POST "${MS#"$BASE"}/_kindling/replacements" -H 'Content-Type: application/json' --data-binary @"$T/big"
check_that "a body over 4096 bytes: 413" 'problem 413'
report "$MS" '{"member":"a3","replaces":"a2"}'
check_that "a3 'replacing' a2, which a4 replaced: 409 naming a4" 'problem 409 && [[ $(jqb .detail) == *a4* ]]'
report "$MS" '{"member":"a4","replaces":"a1"}'
check_that "a4, a replacement of a2 already, 'replacing' a1: 409" 'problem 409'
report "$MS" '{"member":"a2","replaces":"a1"}'
check_that "a2, removed, reporting: 409" 'problem 409 && [[ $(jqb .detail) == *removed* ]]'
api GET "${MS#"$BASE"}/_kindling/replacements"
check_that "GET on the report route is no report (a discovery key lookup: 404)" '[ "$STATUS" = 404 ]'
check_that "after every bad report the states are as before" '[ "$(states ms)" = "$SNAP" ] && [ "$(states other)" = "b1:founding:-:-" ]'
check_that "the event stream got no second member-replaced event" '[ "$(grep -c "^event: member-replaced" "$T/events")" = 1 ]'
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null

# ---- durable, and gone with the cluster ----
kindling_stop
kindling_start || exit 1
MS=$BASE/discovery/${MS##*/}
check_that "after a restart the states are still there" '[ "$(states ms)" = "$SNAP" ]'
check_that "the database holds them in cluster_members (2 rows)" '[ "$(db_sql "SELECT count(*) FROM cluster_members")" = 2 ]'
api DELETE /clusters/ms
check_that "deleting ms deletes its member states" '[ "$STATUS" = 204 ] && [ "$(db_sql "SELECT count(*) FROM cluster_members")" = 0 ]'
kindling_stop
check "no kindling log holds a discovery token" log_lacks_re "$HEX32"
finish
