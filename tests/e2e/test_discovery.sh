#!/usr/bin/env bash
# test_discovery.sh - kindling's built-in etcd v2 discovery: the protocol with
# curl, mirroring the captures in shared/reference/etcd-discovery/, then real
# etcd 3.4 members bootstrapping through it (3 and 5 members, a late member,
# an unknown token, restarts, a wiped data dir, kindling killed mid-bootstrap).
# shellcheck disable=SC2016,SC2034 # checkc evaluates single-quoted expressions later
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 126
need_tools etcd etcdctl curl jq ss sqlite3

HEX32='[0-9a-f]{32}'
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# new_cluster NAME SIZE - POST /clusters; sets DURL (its discovery URL), TOK
# and DPATH (DURL without $BASE). Fails the test when the create fails.
new_cluster() {
	post_json /clusters "{\"name\":\"$1\",\"size\":$2}"
	DURL=$(jqb .discovery_url)
	TOK=${DURL##*/}
	DPATH=${DURL#"$BASE"}
	if [ "$STATUS" != 201 ] || ! [[ $DURL =~ ^$BASE/discovery/$HEX32$ ]]; then
		fail "create cluster $1 (status $STATUS): $(head -c 300 "$BODY")"
		return 1
	fi
}

# dput ID VALUE [CURL-ARG...] - a member's registration PUT on $DPATH.
dput() {
	local id=$1 value=$2
	shift 2
	api PUT "$DPATH/$id?prevExist=false" --data-urlencode "value=$value" "$@"
}

# jqn FILTER - a number from the last body (0 when it is not one).
jqn() {
	local v
	v=$(jqb "$1")
	if [[ $v =~ ^[0-9]+$ ]]; then echo "$v"; else echo 0; fi
}

# etcd_index - the X-Etcd-Index of the last response ("" when absent or not a number).
etcd_index() {
	local i
	i=$(header X-Etcd-Index)
	[[ $i =~ ^[0-9]+$ ]] && echo "$i"
}

# bg_get NAME PATH - a GET in the background (a watch), 15 s at most; the
# answer goes to $T/NAME.body, "STATUS SECONDS" to $T/NAME.meta. Sets BG_PID.
bg_get() {
	curl -sS -o "$T/$1.body" -w '%{http_code} %{time_total}' --max-time 15 "$BASE$2" \
		>"$T/$1.meta" 2>"$T/$1.err" &
	BG_PID=$!
	PIDS_TO_STOP+=("$BG_PID")
}

# alive PID - the background request is still running.
alive() { kill -0 "$1" 2>/dev/null; }

# bg_done PID WITHIN_MS - true when the background request ends within
# WITHIN_MS: a bound for the wait, generous (the answer's content, or its
# status, tells what ended it: kindling holds watches --long-poll-timeout).
bg_done() {
	local end=$(($(now_ms) + $2))
	while [ "$(now_ms)" -le "$end" ]; do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.02
	done
	! kill -0 "$1" 2>/dev/null
}

# checkc NAME EXPR - PASS when the shell expression EXPR (single-quoted by
# the caller, evaluated now) is true.
checkc() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
# is4xx - the last status is a 4xx.
is4xx() { [ "$STATUS" -ge 400 ] 2>/dev/null && [ "$STATUS" -lt 500 ]; }
# etcd_error STATUS CODE - the last answer is STATUS with etcd errorCode CODE.
etcd_error() { [ "$STATUS" = "$1" ] && [ "$(jqb .errorCode)" = "$2" ]; }

# discovery_log_lines - how many discovery requests kindling has logged.
discovery_log_lines() { grep -cE '(GET|PUT|POST|DELETE|HEAD) /discovery' "$T/kindling.log"; }

###############################################################################
# Part 1: the protocol with curl (kindling holds a watch at most 2 s)
###############################################################################
kindling_start --long-poll-timeout 2 || exit 1

new_cluster proto 3 || exit 1
checkc "discovery URL is $BASE/discovery/<32 hex> ($DURL)" '[[ $DURL =~ ^$BASE/discovery/$HEX32$ ]] && [ ${#TOK} = 32 ]'

# 1. the size GET, as members send it
api GET "$DPATH/_config/size?quorum=false&recursive=false&sorted=false"
expect "size GET answers 200" 200
check "size GET is application/json" [ "$(header Content-Type)" = application/json ]
check "size GET body is etcd's" [ "$(jqb '[.action, .node.key, .node.value, (.node.modifiedIndex|type), (.node.createdIndex|type)] | join(" ")')" = "get /_etcd/registry/$TOK/_config/size 3 number number" ]
check "size GET has X-Etcd-Index" [ -n "$(etcd_index)" ]

# 2. the directory GET with nobody registered
api GET "$DPATH?quorum=false&recursive=false&sorted=false"
expect "dir GET answers 200" 200
check "dir GET names the directory, without nodes" [ "$(jqb '[.action, .node.key, (.node.dir|tostring), (.node|has("nodes")|tostring)] | join(" ")')" = "get /_etcd/registry/$TOK true false" ]
IDX0=$(etcd_index)
check "dir GET has a numeric X-Etcd-Index" [ -n "$IDX0" ]
IDX0=${IDX0:-0}

# 3. registration
ID1=187166fb04b19282
dput "$ID1" "m1=http://127.0.0.1:32801"
expect "registration PUT answers 201" 201
check "PUT body is etcd's create event" [ "$(jqb '[.action, .node.key, .node.value] | join(" ")')" = "create /_etcd/registry/$TOK/$ID1 m1=http://127.0.0.1:32801" ]
N1=$(jqn .node.modifiedIndex)
checkc "PUT modifiedIndex == createdIndex > the directory's X-Etcd-Index" \
	'[ "$(jqb ".node.modifiedIndex == .node.createdIndex")" = true ] && [ "${N1:-0}" -gt "$IDX0" ]'
check "PUT X-Etcd-Index is the new index" [ "$(etcd_index)" = "$N1" ]

api GET "$DPATH?quorum=false&recursive=false&sorted=false"
check "dir GET lists the member" [ "$(jqb '[.node.nodes[] | .key + " " + .value + " " + (.createdIndex|tostring) + " " + (.modifiedIndex|tostring)] | join(",")')" = "/_etcd/registry/$TOK/$ID1 m1=http://127.0.0.1:32801 $N1 $N1" ]
check "dir GET X-Etcd-Index follows the PUT" [ "$(etcd_index)" = "$N1" ]

# 4. a second PUT of the same id: 412, byte for byte what etcd says
dput "$ID1" "m1=http://127.0.0.1:32801"
expect "duplicate PUT answers 412" 412
check "duplicate PUT body has errorCode 105, message, cause, index" [ "$(jqb '[(.errorCode|tostring), .message, .cause, (.index|type)] | join(" ")')" = "105 Key already exists /_etcd/registry/$TOK/$ID1 number" ]
check "duplicate PUT body is etcd's, field for field" \
	grep -qE "^\{\"errorCode\":105,\"message\":\"Key already exists\",\"cause\":\"/_etcd/registry/$TOK/$ID1\",\"index\":[0-9]+\}\$" "$BODY"
check "duplicate PUT is application/json" [ "$(header Content-Type)" = application/json ]

# 5. the member's watch on its own key is answered from history (a watch
# that waited instead would end empty after --long-poll-timeout: the event
# in the answer is the proof, not its speed)
t0=$(now_ms)
api GET "$DPATH/$ID1?recursive=false&wait=true&waitIndex=$N1"
dt=$(($(now_ms) - t0))
checkc "self watch at createdIndex answered from history with the create event (${dt} ms)" \
	'[ "$STATUS" = 200 ] &&
	[ "$(jqb ".action + \" \" + .node.key + \" \" + (.node.modifiedIndex|tostring)")" = "create /_etcd/registry/$TOK/$ID1 $N1" ]'

# 6. a recursive watch from before the PUT is answered from history
t0=$(now_ms)
api GET "$DPATH?recursive=true&wait=true&waitIndex=$((IDX0 + 1))"
dt=$(($(now_ms) - t0))
checkc "recursive watch from X-Etcd-Index+1 gets the PUT from history (${dt} ms)" \
	'[ "$STATUS" = 200 ] &&
	[ "$(jqb ".node.key + \" \" + .node.value + \" \" + (.node.modifiedIndex|tostring)")" = "/_etcd/registry/$TOK/$ID1 m1=http://127.0.0.1:32801 $N1" ]'

# 7. _config is never an event: a watch from the start of history gets the member
api GET "$DPATH?recursive=true&wait=true&waitIndex=1"
checkc "a watch from index 1 skips _config and gets the first member" \
	'[ "$STATUS" = 200 ] && [ "$(jqb .node.key)" = "/_etcd/registry/$TOK/$ID1" ]'

# 8. a pending watch is released by a later PUT
bg_get watch1 "$DPATH?recursive=true&wait=true&waitIndex=$((N1 + 1))"
W1=$BG_PID
sleep 0.5
check "a watch past the last index waits" alive "$W1"
ID2=828f68a1698236b7
t0=$(now_ms)
dput "$ID2" "m2=http://127.0.0.1:32802"
expect "second registration answers 201" 201
N2=$(jqn .node.modifiedIndex)
check "the pending watch is released by the PUT" bg_done "$W1" 10000
checkc "the released watch carries the new member" \
	'[ "$(cut -d" " -f1 "$T/watch1.meta" 2>/dev/null)" = 200 ] &&
	[ "$(jq -r ".node.key + \" \" + .node.value + \" \" + (.node.modifiedIndex|tostring)" "$T/watch1.body" 2>/dev/null)" = "/_etcd/registry/$TOK/$ID2 m2=http://127.0.0.1:32802 $N2" ]'

# 9. waitIndex 0 (or none) means "from now", not "from the start"
bg_get watch0 "$DPATH?recursive=true&wait=true&waitIndex=0"
W0=$BG_PID
bg_get watchnone "$DPATH?recursive=true&wait=true"
WN=$BG_PID
sleep 0.5
check "waitIndex=0 does not replay history" alive "$W0"
check "no waitIndex does not replay history" alive "$WN"
ID3=fa1b2c3d4e5f607 # 15 digits: etcd prints ids without leading zeros
dput "$ID3" "m3=http://127.0.0.1:32803,m3=http://127.0.0.1:32813"
expect "a 15-digit id with two peer URLs registers" 201
N3=$(jqn .node.modifiedIndex)
checkc "waitIndex=0 watch gets the next event" \
	'bg_done "$W0" 10000 && [ "$(jq -r .node.key "$T/watch0.body" 2>/dev/null)" = "/_etcd/registry/$TOK/$ID3" ]'
checkc "watch without waitIndex gets the next event" \
	'bg_done "$WN" 10000 && [ "$(jq -r .node.key "$T/watchnone.body" 2>/dev/null)" = "/_etcd/registry/$TOK/$ID3" ]'

# 10. --long-poll-timeout 2: an empty 200, not before 2 s
t0=$(now_ms)
api GET "$DPATH?recursive=true&wait=true&waitIndex=$((N3 + 1))"
dt=$(($(now_ms) - t0))
checkc "a watch with nothing to report ends in an empty 200 after --long-poll-timeout 2 s (status $STATUS, $(wc -c <"$BODY") bytes, ${dt} ms)" \
	'[ "$STATUS" = 200 ] && [ ! -s "$BODY" ] && [ "$dt" -ge 1800 ]'

# 11. bad input: nothing stored
api GET "$DPATH?quorum=false&recursive=false&sorted=false"
nodes_before=$(jqb '.node.nodes | length')
check "three members registered so far" [ "$nodes_before" = 3 ]
for id in "" ABCDEF0123456789 xyz0123456789abc 0x1234 "$(printf 'a%.0s' $(seq 64))" "_config" "aa%2Fbb" "..%2F.."; do
	dput "$id" "bad=http://127.0.0.1:1"
	check "PUT with bad id '${id:0:20}' is rejected (status $STATUS)" is4xx
done
api PUT "$DPATH/_config/size?prevExist=false" --data-urlencode "value=1"
check "PUT on _config/size is rejected (status $STATUS)" is4xx
api PUT "$DPATH/aaaa/bbbb?prevExist=false" --data-urlencode "value=x=http://127.0.0.1:1"
check "PUT on a nested key is rejected (status $STATUS)" is4xx
head -c 2100000 /dev/zero | tr '\0' a >"$T/big"
api PUT "$DPATH/0123456789abcdef?prevExist=false" -H 'Content-Type: application/x-www-form-urlencoded' \
	--data-binary "@$T/big"
expect "an oversized registration body is rejected with 413" 413
api PUT "$DPATH/0123456789abcdee?prevExist=false" --data-urlencode "value=x=http://127.0.0.1:1/$(head -c 70000 /dev/zero | tr '\0' a)"
check "a 70 kB registration value is rejected (status $STATUS)" is4xx
api GET "$DPATH/_config/size?quorum=false&recursive=false&sorted=false"
check "size unchanged after bad PUTs" [ "$(jqb .node.value)" = 3 ]
api GET "$DPATH?quorum=false&recursive=false&sorted=false"
check "no member added by bad PUTs" [ "$(jqb '.node.nodes | length')" = "$nodes_before" ]

# 12. the cluster JSON counts the registrations
api GET /clusters/proto
check "cluster JSON: members.registered 3 of 3" [ "$(jqb '"\(.members.registered) \(.members.size) \(.members.list|length)"')" = "3 3 3" ]
check "cluster JSON: ids, names, peer URLs" [ "$(jqb '[.members.list | sort_by(.name)[] | .id + " " + .name + " " + (.peer_urls|join(","))] | join(";")')" = "$ID1 m1 http://127.0.0.1:32801;$ID2 m2 http://127.0.0.1:32802;$ID3 m3 http://127.0.0.1:32803,http://127.0.0.1:32813" ]
check "cluster JSON: registered_at is a UTC time" [ "$(jqb '[.members.list[].registered_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")] | all')" = true ]

# 13. unknown and malformed tokens
UNK=00000000000000000000000000000000
api GET "/discovery/$UNK/_config/size?quorum=false&recursive=false&sorted=false"
expect "unknown token size GET is 404" 404
check "unknown token: errorCode 100 Key not found with cause" [ "$(jqb '"\(.errorCode) \(.message) \(.cause) \(.index|type)"')" = "100 Key not found /_etcd/registry/$UNK number" ]
api GET "/discovery/$UNK?quorum=false&recursive=false&sorted=false"
check "unknown token dir GET is 404 errorCode 100" etcd_error 404 100
api PUT "/discovery/$UNK/0123456789abcdef?prevExist=false" --data-urlencode "value=x=http://127.0.0.1:1"
check "unknown token PUT is 404 errorCode 100" etcd_error 404 100
api GET "/discovery/$UNK?recursive=true&wait=true&waitIndex=1"
check "unknown token watch is 404 at once" [ "$STATUS" = 404 ]
api GET "/discovery/not-a-valid-token/_config/size?quorum=false&recursive=false&sorted=false"
expect "malformed token is 404" 404
api GET "/discovery/$(echo "$TOK" | tr a-f A-F)/_config/size"
expect "upper-case token is 404" 404

# requests no member sends: refused, and the token stays out of the log
for m in DELETE POST OPTIONS; do
	api "$m" "$DPATH" --data-binary ''
	check "$m on a discovery URL is refused (status $STATUS)" is4xx
done
api POST "$DPATH/0123456789abcdef" --data-urlencode "value=x=http://127.0.0.1:1"
check "POST of a registration is refused (status $STATUS)" is4xx
api GET "/discovery//$TOK"
check "a discovery path with an empty segment is refused (status $STATUS)" is4xx
api GET "$DPATH/a/b/c"
check "a nested discovery key is refused (status $STATUS)" is4xx
check "kindling's log does not name the token after requests it refused" \
	bash -c "! grep -q '$TOK' '$T/kindling.log'"

# 14. DELETE of the cluster releases a pending watch and removes the registrations
new_cluster gone 3 || exit 1
GONE_PATH=$DPATH
GONE_TOK=$TOK
dput 0123456789abcdef "g1=http://127.0.0.1:1"
GN=$(jqn .node.modifiedIndex)
bg_get watchdel "$GONE_PATH?recursive=true&wait=true&waitIndex=$((GN + 1))"
WD=$BG_PID
sleep 0.5
check "a watch on the doomed cluster waits" alive "$WD"
api DELETE /clusters/gone
expect "DELETE the cluster answers 204" 204
# ended by the DELETE (404, Key not found), not by --long-poll-timeout (an empty 200)
checkc "DELETE releases the pending watch: 404 errorCode 100 ($(cat "$T/watchdel.meta" 2>/dev/null))" \
	'bg_done "$WD" 10000 && [ "$(cut -d" " -f1 "$T/watchdel.meta")" = 404 ] && [ "$(jq -r .errorCode "$T/watchdel.body" 2>/dev/null)" = 100 ]'
check "the released watch reports no member event" \
	bash -c "! jq -e '.node.key' '$T/watchdel.body' >/dev/null 2>&1"
DPATH=$GONE_PATH
api GET "$DPATH?quorum=false&recursive=false&sorted=false"
check "deleted cluster's token is 404 errorCode 100" etcd_error 404 100
dput fedcba9876543210 "late=http://127.0.0.1:1"
check "deleted cluster's token refuses registrations" [ "$STATUS" = 404 ]
check "no row in the database names the deleted token" \
	eval 'db_dump >"$T/dump.sql" && [ -s "$T/dump.sql" ] && ! grep -q "$GONE_TOK" "$T/dump.sql"' 

# 15. GET /new?size=N: a discovery-only token
api GET /clusters
total_before=$(jqb .total)
api GET '/new?size=3'
expect "GET /new?size=3 answers 200" 200
check "/new answers text/plain" bash -c "grep -qi '^Content-Type: text/plain' '$HEADERS'"
NEWURL=$(cat "$BODY")
checkc "/new body is one URL without a newline" \
	'[[ $NEWURL =~ ^$BASE/discovery/$HEX32$ ]] && [ "$(wc -c <"$BODY")" = "${#NEWURL}" ]'
api GET "${NEWURL#"$BASE"}/_config/size?quorum=false&recursive=false&sorted=false"
checkc "the /new token's size GET says 3" '[ "$STATUS" = 200 ] && [ "$(jqb .node.value)" = 3 ]'
api GET "${NEWURL#"$BASE"}?quorum=false&recursive=false&sorted=false"
checkc "the /new token's directory is empty" '[ "$STATUS" = 200 ] && [ "$(jqb ".node|has(\"nodes\")")" = false ]'
api PUT "${NEWURL#"$BASE"}/0123456789abcdef?prevExist=false" --data-urlencode "value=n1=http://127.0.0.1:1"
expect "the /new token takes registrations" 201
api GET /new
checkc "GET /new defaults to size 3" \
	'[ "$STATUS" = 200 ] && [ "$(curl -s "$(cat "$BODY")/_config/size" | jq -r .node.value)" = 3 ]'
api POST '/new?size=5'
checkc "POST /new?size=5 works too (discovery.etcd.io accepts any method)" \
	'[ "$STATUS" = 200 ] && [ "$(curl -s "$(cat "$BODY")/_config/size" | jq -r .node.value)" = 5 ]'
for bad in abc -1 0 100 3.5 99999999999999999999; do
	api GET "/new?size=$bad"
	check "/new?size=$bad answers 400 (status $STATUS)" [ "$STATUS" = 400 ]
done
api GET /clusters
check "/new creates no cluster" [ "$(jqb .total)" = "$total_before" ]

kindling_stop || true

###############################################################################
# Part 2: real etcd members
###############################################################################
kindling_start || exit 1
KPORT=$PORT

# cluster_json_ok NAME SIZE PREFIX - kindling's members of NAME match the
# etcd members PREFIX1..PREFIXn: count, ids (as etcdctl prints them), names, peer URLs.
cluster_json_ok() {
	local name=$1 size=$2 prefix=$3 i want="" got etcd_ids kind_ids
	api GET "/clusters/$name"
	[ "$(jqb '"\(.members.registered) \(.members.size) \(.members.list|length)"')" = "$size $size $size" ] || {
		echo "members of $name: $(jq -c .members <"$BODY")" >&2
		return 1
	}
	for i in $(seq 1 "$size"); do
		local args
		read -r -a args <<<"${ETCD_ARGS[$prefix$i]}"
		want="$want${want:+;}$prefix$i http://127.0.0.1:${args[2]}"
	done
	got=$(jqb '[.members.list[] | .name + " " + (.peer_urls|join(","))] | sort | join(";")')
	[ "$got" = "$want" ] || {
		echo "members of $name: got $got, want $want" >&2
		return 1
	}
	etcd_ids=$(ETCDCTL_API=3 etcdctl --endpoints="${ETCD_CLIENT[${prefix}1]}" member list 2>/dev/null |
		cut -d, -f1 | sed 's/^0*//' | sort | paste -sd, -)
	kind_ids=$(jqb '[.members.list[].id] | sort | join(",")')
	[ "$etcd_ids" = "$kind_ids" ] || {
		echo "ids: etcd $etcd_ids, kindling $kind_ids" >&2
		return 1
	}
}

# (1) three members form a cluster through kindling
post_json /clusters '{"name":"e3","size":3}'
expect "create e3" 201
E3=$(jqb .discovery_url)
t0=$SECONDS
etcd_cluster a 3 "$E3"
E3_EPS=$CLUSTER_ENDPOINTS
check "3 etcd members bootstrap through kindling and are healthy" etcd_wait_healthy "$E3_EPS" 90
check "etcd lists 3 started members a1,a2,a3" [ "$(etcd_member_names "${ETCD_CLIENT[a1]}")" = a1,a2,a3 ]
check "the 3-member cluster takes a write" etcd_put_get "$E3_EPS"
check "kindling shows e3's 3 members with etcd's ids, names, peer URLs" cluster_json_ok e3 3 a
echo "# 3 members formed in $((SECONDS - t0)) s"

# ... and five
post_json /clusters '{"name":"e5","size":5}'
expect "create e5" 201
E5=$(jqb .discovery_url)
t0=$SECONDS
etcd_cluster b 5 "$E5"
E5_EPS=$CLUSTER_ENDPOINTS
check "5 etcd members bootstrap through kindling and are healthy" etcd_wait_healthy "$E5_EPS" 90
check "etcd lists 5 started members" [ "$(etcd_member_count "${ETCD_CLIENT[b3]}")" = 5 ]
check "the 5-member cluster takes a write" etcd_put_get "$E5_EPS"
check "kindling shows e5's 5 members" cluster_json_ok e5 5 b
echo "# 5 members formed in $((SECONDS - t0)) s"

# (2) a late member: exit or proxy
etcd_member a4 "$T/a4" "$(free_port)" "$(free_port)" "$E3" --discovery-fallback=exit
check "a 4th member with --discovery-fallback=exit exits" etcd_wait_exit a4 60
check "... with a non-zero status (${ETCD_RC[a4]:-running})" [ "${ETCD_RC[a4]:-0}" != 0 ]
check "... saying the cluster is full" etcd_log_has a4 'cluster is full'
etcd_member a5 "$T/a5" "$(free_port)" "$(free_port)" "$E3"
check "a 4th member with the default fallback becomes a proxy" \
	etcd_log_has a5 'discovery cluster full, falling back to proxy' 60
check "... and starts proxying" etcd_log_has a5 'proxy started listening' 30
sleep 1
check "... and keeps running" etcd_running a5
etcd_stop a5
api GET /clusters/e3
check "late members did not register" [ "$(jqb .members.registered)" = 3 ]

# (3) an unknown token; restarts; a wiped data dir
etcd_member u1 "$T/u1" "$(free_port)" "$(free_port)" "$BASE/discovery/00000000000000000000000000000000"
check "a member with an unknown token exits" etcd_wait_exit u1 60
check "... saying 100: Key not found" etcd_log_has u1 '100: Key not found'

sleep 0.5
lines_before=$(discovery_log_lines)
etcd_stop a2
etcd_restart a2
check "a2 restarted with its data dir rejoins" etcd_wait_healthy "$E3_EPS" 90
check "... ignoring the discovery token" etcd_log_has a2 'discovery token ignored since a cluster has already been initialized'
sleep 1
lines_after=$(discovery_log_lines)
checkc "... without one discovery request ($lines_before before, $lines_after after)" \
	'[ "$lines_before" -gt 0 ] && [ "$lines_before" = "$lines_after" ]'

etcd_stop a3
rm -rf "$T/a3"
etcd_restart a3
check "a3 with a wiped data dir exits" etcd_wait_exit a3 60
check "... because it has previously registered (412/105)" etcd_log_has a3 'has previously registered'
check "kindling answered that PUT with 412" eventually 20 grep -qE 'PUT /discovery.* 412' "$T/kindling.log"
api GET /clusters/e3
check "e3 still lists 3 members" [ "$(jqb .members.registered)" = 3 ]
etcd_cluster_stop a 3

# deleting a cluster drops its registrations
etcd_cluster_stop b 5
api DELETE /clusters/e5
expect "DELETE e5" 204
api GET "${E5#"$BASE"}/_config/size"
check "e5's discovery URL is 404 errorCode 100 afterwards" etcd_error 404 100

# (4) kindling killed with 2 of 3 registered, restarted on the same db and port
post_json /clusters '{"name":"k3","size":3}'
expect "create k3" 201
K3=$(jqb .discovery_url)
etcd_member k1 "$T/k1" "$(free_port)" "$(free_port)" "$K3"
etcd_member k2 "$T/k2" "$(free_port)" "$(free_port)" "$K3"
registered=""
for i in $(seq 1 600); do
	registered=$(curl -s "$BASE/clusters/k3" | jq -r .members.registered)
	[ "$registered" = 2 ] && break
	sleep 0.1
done
check "two of three members registered" [ "$registered" = 2 ]
kindling_kill9
t0=$SECONDS
kindling_start --listen "127.0.0.1:$KPORT" --public-url "http://127.0.0.1:$KPORT"
check "kindling restarts on the same port" [ "$PORT" = "$KPORT" ]
api GET /clusters/k3
check "after kill -9 both registrations are still there" [ "$(jqb .members.registered)" = 2 ]
etcd_member k3 "$T/k3" "$(free_port)" "$(free_port)" "$K3"
check "the third member joins and the cluster forms" \
	etcd_wait_healthy "${ETCD_CLIENT[k1]},${ETCD_CLIENT[k2]},${ETCD_CLIENT[k3]}" 90
echo "# the cluster formed $((SECONDS - t0)) s after kindling's restart"
checkc "k1 or k2 saw kindling gone while waiting and retried" \
	'etcd_log_has k1 "error connecting to" || etcd_log_has k2 "error connecting to"'
check "etcd lists k1,k2,k3 started" [ "$(etcd_member_names "${ETCD_CLIENT[k3]}")" = k1,k2,k3 ]
check "kindling shows k3's 3 members" cluster_json_ok k3 3 k
api GET "${K3#"$BASE"}?quorum=false&recursive=false&sorted=false"
checkc "indexes go on after the restart: k3's createdIndex is the highest, X-Etcd-Index covers it" \
	'[ "$(jqb "([.node.nodes[] | select(.value|startswith(\"k3=\")) | .createdIndex] | first) as \$n | \$n > ([.node.nodes[] | select(.value|startswith(\"k3=\")|not) | .createdIndex] | max) and \$n <= $(etcd_index || echo 0)")" = true ]'
etcd_cluster_stop k 3

kindling_stop
check "no kindling log (of the $(kindling_logs | wc -l) starts) holds a discovery token" log_lacks_re "$HEX32"
finish
