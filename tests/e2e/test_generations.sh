#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034
# test_generations.sh - issue 15: what a node gets changes only when the
# operator says so. A generation is an immutable snapshot of its inputs (the
# profile files as they were, vars, secrets, spec default):
#  - edit a profile's files and restart: the same bytes and ETag are served,
#    the cluster says its profile changed (with the diff), and adopting it
#    makes generation 2, which nodes get from then on;
#  - PATCH twice, roll back to 1: generation 4 is generation 1 byte for byte
#    (same ETag), the history lists 4, the diff of 3 and 4 names exactly the
#    changed lines;
#  - two kindlings with different template folders on one database serve the
#    same bytes for the same cluster (on SQLite one after the other, on
#    PostgreSQL side by side);
#  - every fetch records the generation served: fetches and nodes per
#    generation; --keep-generations bounds the history;
#  - bad changes get a 422 naming the field, and change nothing.
# timeout: 300
source "$(dirname "$0")/lib.sh"
plan 58
require_tool curl jq

TPL=$T/tpl
cp -r templates "$TPL"
UNIT=$TPL/etcd/systemd/etcd-member.service.d/20-clct-etcd-member.conf

token_of() { jq -r '.pointer.ignition.config.replace.httpHeaders[0].value' "$1" | sed -n 's/^Bearer //p'; }
# fetch NAME TOKEN OUT - a node's fetch; the ETag into $ETAG.
fetch() {
	api GET "/clusters/$1/ignition" -H "Authorization: Bearer $2"
	cp "$BODY" "$3"
	ETAG=$(header ETag)
}
# generation NAME - the cluster's current generation.
generation() { api GET "/clusters/$1"; jqb .generation; }
# refused NAME GEN WHAT FIELD - the last answer was a 422 naming FIELD (kept
# in $T/refused.json), and the cluster is still at GEN.
refused() {
	local st=$STATUS field f=$4
	cp "$BODY" "$T/refused.json"
	field=$(jqb '.errors[0].field')
	if [ "$st" = 422 ] && [ "$field" = "$f" ] && [ "$(generation "$1")" = "$2" ]; then
		pass "$3: 422 on $f, still generation $2"
	else
		fail "$3: status $st field $field (want 422 $f), generation $(generation "$1") (want $2)"
	fi
}

# ---- 1: edits to the folders change nothing served until adopted ----
kindling_start --templates "$TPL" || exit 1
post_json /clusters '{"name": "gen-a", "size": 3}'
expect "create gen-a" 201
TA=$(token_of "$BODY")
check "generation 1 names its profile versions" [ "$(jqb '.profile_versions | length')" = 1 ]
check "a new cluster has no profile changes" [ "$(jqb '.profiles_changed | length')" = 0 ]
fetch gen-a "$TA" "$T/a1.json"
E1=$ETAG
check "the config is served" [ "$STATUS" = 200 ] && [ -s "$T/a1.json" ]
api GET /clusters/gen-a/generations
check "history: one generation, made by the create" \
	[ "$(jqb '[.generations[] | .generation, .change.kind] | join(",")')" = "1,created" ]
kindling_stop

printf '\n# edited by test_generations\n' >>"$UNIT"
kindling_start --templates "$TPL" || exit 1
fetch gen-a "$TA" "$T/a1b.json"
check "after the edit and a restart: the same bytes" cmp -s "$T/a1.json" "$T/a1b.json"
check "... and the same ETag ($E1)" [ "$ETAG" = "$E1" ]
api GET /clusters/gen-a
check "the cluster says its profile changed" \
	[ "$(jqb '.profiles_changed[0].message')" = "profile etcd changed since generation 1" ]
api GET "/clusters/gen-a/diff?from=1&to=profiles"
expect "the diff of generation 1 and the folders' profiles" 200
check "... names the edited item and its added line" \
	[ "$(jqb '[.items[] | .status] | join(",")')" = changed ] &&
	[ "$(jqb '[.items[0].lines[] | select(.op == "+") | .text] | join("|")')" = "|# edited by test_generations" ]
api GET "/clusters/gen-a" -H 'Accept: text/html'
check "the page says so, with an adopt button" grep -q 'id="adopt"' "$BODY"
api PATCH /clusters/gen-a -H 'Content-Type: application/json' --data-binary '{"adopt_profiles": true}'
expect "adopt the profile files" 200
check "... as generation 2" [ "$(jqb .generation)" = 2 ] && [ "$(jqb '.profiles_changed | length')" = 0 ]
fetch gen-a "$TA" "$T/a2.json"
check "nodes now get the edit" grep -q 'edited by test_generations' "$T/a2.json"
check "... under another ETag" [ "$ETAG" != "$E1" ]
api PATCH /clusters/gen-a -H 'Content-Type: application/json' --data-binary '{"adopt_profiles": true}'
refused gen-a 2 "adopting again, nothing changed" adopt_profiles
api GET /clusters/gen-a/generations
check "history: 2 then 1, the adoption naming profile etcd" \
	[ "$(jqb '[.generations[] | .generation] | join(",")')" = "2,1" ] &&
	[ "$(jqb '.generations[0].change.kind + " " + .generations[0].change.profiles[0].profile')" = "profiles etcd" ]
check "fetches are counted per generation" \
	[ "$(jqb '[.generations[] | .fetches] | join(",")')" = "1,2" ]
check "nodes per generation: the one client is on 2" [ "$(jqb '.nodes_by_generation["2"]')" = 1 ]

# ---- 2: PATCH twice, roll back to 1 ----
post_json /clusters '{"name": "gen-b", "size": 3}'
expect "create gen-b" 201
TB=$(token_of "$BODY")
fetch gen-b "$TB" "$T/b1.json"
B1=$ETAG
api PATCH /clusters/gen-b -H 'Content-Type: application/json' --data-binary '{"vars": {"etcd_join_retry": "20"}}'
expect "PATCH 1 (generation 2)" 200
api PATCH /clusters/gen-b -H 'Content-Type: application/json' --data-binary '{"vars": {"etcd_replace_after": "300"}}'
expect "PATCH 2 (generation 3)" 200
fetch gen-b "$TB" "$T/b3.json"
check "generation 3 serves other bytes" [ "$ETAG" != "$B1" ]
api PATCH /clusters/gen-b -H 'Content-Type: application/json' --data-binary '{"rollback_to": 1}'
expect "rollback to 1" 200
check "... is generation 4 with generation 1's vars" [ "$(jqb .generation)" = 4 ] && [ "$(jqb '.vars | length')" = 0 ]
fetch gen-b "$TB" "$T/b4.json"
check "generation 4 is generation 1 byte for byte" cmp -s "$T/b1.json" "$T/b4.json"
check "... with the same ETag ($B1)" [ "$ETAG" = "$B1" ]
api GET /clusters/gen-b/generations
check "history lists 4, newest first" [ "$(jqb '[.generations[] | .generation] | join(",")')" = "4,3,2,1" ]
check "... the 4th a rollback to 1" [ "$(jqb '.generations[0].change | .kind + " " + (.to | tostring)')" = "rollback 1" ]
api GET "/clusters/gen-b/diff?from=3&to=4"
expect "diff of 3 and 4" 200
jq -c '[.items[] | {item, lines: [.lines[] | select(.op != " ") | .op + .text]}]' "$BODY" >"$T/d34.json"
check "... names exactly the changed lines (both vars, in the join helper's env file)" \
	[ "$(jq -r '[.[].lines[]] | sort | join("|")' "$T/d34.json")" = "+KINDLING_JOIN_RETRY=10|+KINDLING_REPLACE_AFTER=120|-KINDLING_JOIN_RETRY=20|-KINDLING_REPLACE_AFTER=300" ]
check "... and the vars that changed" [ "$(jqb '.vars | sort | join(",")')" = "etcd_join_retry,etcd_replace_after" ]
api GET "/clusters/gen-b/generations/1?format=config&reveal=1"
check "generation 1's config (revealed) is what nodes were served" cmp -s "$BODY" "$T/b1.json"
api GET "/clusters/gen-b/generations/3"
check "generation 3's inputs hold its vars" [ "$(jqb '.inputs.vars.etcd_replace_after')" = 300 ]
api GET "/clusters/gen-b/diff?from=3&to=4" -H 'Accept: text/html'
check "the diff page shows the lines" grep -q 'KINDLING_REPLACE_AFTER=300' "$BODY"

# ---- bad changes: 422 naming the field, nothing changed ----
patch() { api PATCH /clusters/gen-b -H 'Content-Type: application/json' --data-binary "$1"; }
patch '{"rollback_to": 0}'
refused gen-b 4 "rollback_to 0" rollback_to
patch '{"rollback_to": "1"}'
refused gen-b 4 "rollback_to a string" rollback_to
patch '{"rollback_to": 99}'
refused gen-b 4 "rollback_to a generation never made" rollback_to
patch '{"rollback_to": 4}'
refused gen-b 4 "rollback_to the current one" rollback_to
patch '{"rollback_to": 1, "vars": {"etcd_join_retry": "5"}}'
refused gen-b 4 "rollback_to with vars" rollback_to
patch '{"adopt_profiles": false}'
refused gen-b 4 "adopt_profiles false" adopt_profiles
patch '{}'
refused gen-b 4 "an empty change" vars
api GET /clusters/gen-b/generations/abc
expect "GET generations/abc: 422" 422
api GET /clusters/gen-b/generations/99
expect "GET generations/99: 404" 404
api GET "/clusters/gen-b/diff?from=x"
expect "diff?from=x: 422" 422
api GET "/clusters/nope/generations"
expect "generations of no cluster: 404" 404
kindling_stop

# ---- 3: another kindling, other folders, the same database ----
DB=$T/db/kindling.db
fetch_with_other() {
	kindling_start --db "$DB" || return 1
	fetch gen-a "$TA" "$T/a2-other.json"
	kindling_stop
}
# the shipped templates (without the edit) only
fetch_with_other
check "a kindling with the shipped folders serves the adopted generation's bytes" cmp -s "$T/a2.json" "$T/a2-other.json"
if on_pg; then
	kindling_start --templates "$TPL" || exit 1
	P1=$BASE K1=$KPID
	kindling_start || exit 1
	PIDS_TO_STOP+=("$K1")
	curl -sS -o "$T/p1.json" -H "Authorization: Bearer $TA" "$P1/clusters/gen-a/ignition"
	curl -sS -o "$T/p2.json" -H "Authorization: Bearer $TA" "$BASE/clusters/gen-a/ignition"
	check "side by side on PostgreSQL: the same bytes from both" cmp -s "$T/p1.json" "$T/p2.json"
	kill -TERM "$K1"
	kindling_stop
else
	kindling_start --templates "$TPL" || exit 1
	fetch gen-a "$TA" "$T/a2-edited.json"
	check "... and so does one with the edited folders" cmp -s "$T/a2.json" "$T/a2-edited.json"
	kindling_stop
fi

# ---- --keep-generations ----
kindling_start --keep-generations 2 || exit 1
post_json /clusters '{"name": "gen-c", "size": 1}'
for v in 11 12 13; do
	api PATCH /clusters/gen-c -H 'Content-Type: application/json' --data-binary "{\"vars\": {\"etcd_join_retry\": \"$v\"}}"
done
api GET /clusters/gen-c/generations
check "--keep-generations 2: the newest 2 of 4 are kept" [ "$(jqb '[.generations[] | .generation] | join(",")')" = "4,3" ]
api PATCH /clusters/gen-c -H 'Content-Type: application/json' --data-binary '{"rollback_to": 1}'
refused gen-c 4 "rollback to a generation no longer kept" rollback_to
check "... saying why" grep -q 'keep-generations' "$T/refused.json"
api PATCH /clusters/gen-c -H 'Content-Type: application/json' --data-binary '{"rollback_to": 3}'
check "rollback to a kept one works" [ "$STATUS" = 200 ] && [ "$(jqb '.vars.etcd_join_retry')" = 12 ]
kindling_stop
finish
