#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that evaluates single-quoted expressions later
# test_replicas.sh - several kindling replicas on one PostgreSQL behave as
# one kindling (issue 13, acceptance 2, 3, 4, 6). PostgreSQL only: run it as
# "sh tests/run.sh pg:tests/e2e/test_replicas.sh" (it is in run.sh's
# PG_E2E); on SQLite it skips every check, saying so. It starts a
# PostgreSQL of its own (tests/pg.sh), since it stops and crashes it, and
# three replicas A, B, C on one database:
#  - create via A, read via B and C; PATCH via B, C serves the new
#    generation; rotate via A, the new token works via B and C and the old
#    one too (grace); DELETE via C, A and B answer 404 and never a config
#    after that;
#  - real etcd members register through three different replicas and form
#    one cluster, while watches parked on the other replicas wake; every
#    index seen strictly increases;
#  - 50 parallel same-name creates over the replicas: exactly one 201;
#    --max-clusters 10 under 50 parallel creates: exactly 10;
#  - PostgreSQL stopped 10 s under load: every answer is a success or a 503
#    problem+json with Retry-After, /healthz is 503 meanwhile, and every
#    replica serves normally soon after it is back, without a restart;
#    pg_ctl -m immediate stop under write load, then start: every
#    acknowledged create is there.
# Waits are bounded and generous (no upper time bounds: the measured
# delays are printed as comments). Stops only what it started, by PID.
# timeout: 600
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 44
if ! on_pg; then
	skip "PostgreSQL only: run it as pg:tests/e2e/test_replicas.sh (tests/run.sh e2e-pg does)" 43
	exit 0
fi
require_tool curl jq psql "$ETCD_BIN" "$ETCDCTL_BIN"
# a PostgreSQL of this test's own: it is stopped and crashed below
unset KINDLING_TEST_PG_URL
pg_ensure || { fail "a PostgreSQL for the test starts"; exit 1; }
PG_PORT=${KINDLING_TEST_PG_URL##*:}
PG_PORT=${PG_PORT%%/*}
DB=$(pg_url_of "$T/db/kindling.db")

declare -A RG=() # replica name -> its etcd v3 gRPC endpoint (RB, RP, RL: lib.sh's replica_start)

# replica NAME DB [FLAG...] - starts one replica on DB.
replica() {
	local n=$1 db=$2
	shift 2
	replica_start "$n" --db "$db" --token-grace 600 "$@"
}

# at NAME METHOD PATH [CURL-ARG...] - api against replica NAME.
at() {
	local n=$1
	shift
	BASE=${RB[$n]} api "$@"
}

# fetch NAME CLUSTER TOKEN - the node fetch via replica NAME: prints
# "STATUS GENERATION" (X-Kindling-Generation, - when none).
fetch() {
	local h g
	h=$(curl -sS -o /dev/null -D - --max-time 20 -H "Authorization: Bearer $3" \
		"${RB[$1]}/clusters/$2/ignition" 2>/dev/null | tr -d '\r')
	g=$(printf '%s\n' "$h" | sed -n 's/^[Xx]-[Kk]indling-[Gg]eneration: \([0-9]*\).*/\1/p')
	echo "$(printf '%s\n' "$h" | sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p') ${g:--}"
}

# ms - milliseconds since the epoch.
ms() { date +%s%3N; }

# token_via NAME CLUSTER - the fetch token in the pointer config replica NAME hands out.
token_via() {
	curl -sS --max-time 20 "${RB[$1]}/clusters/$2/userdata" 2>/dev/null |
		jq -r '.ignition.config.replace.httpHeaders[0].value' | sed 's/^Bearer //'
}

# fetch_is WANT NAME CLUSTER TOKEN - fetch prints WANT.
fetch_is() {
	local want=$1
	shift
	[ "$(fetch "$@")" = "$want" ]
}

for n in A B C; do
	RG[$n]=127.0.0.1:$(free_port)
	replica "$n" "$DB" --grpc-listen "${RG[$n]}" || { fail "replica $n starts"; exit 1; }
done
pass "three replicas start on one PostgreSQL database"

# ---- acceptance 2: one cluster through three replicas
post_json_at() { BASE=${RB[$1]} post_json "${@:2}"; }
post_json_at A /clusters '{"name":"r1","size":3,"profiles":["etcd","rabbitmq"]}'
expect "create r1 via A" 201 || exit 1
ID=$(jqb .id)
TOK=$(token_via A r1)
# C's event stream of r1: what A and B do arrives there too
curl -sN --max-time 120 "${RB[C]}/clusters/r1/events" >"$T/stream.C" 2>/dev/null &
PIDS_TO_STOP+=("$!")
at B GET /clusters/r1
check_that "B reads r1 with A's id" '[ "$STATUS" = 200 ] && [ "$(jqb .id)" = "$ID" ]'
at C GET /clusters/r1
check_that "C reads r1 with A's id" '[ "$STATUS" = 200 ] && [ "$(jqb .id)" = "$ID" ]'
check_that "B and C serve the config of generation 1 (and cache it)" \
	'[ "$(fetch B r1 "$TOK")" = "200 1" ] && [ "$(fetch C r1 "$TOK")" = "200 1" ]'

at B PATCH /clusters/r1 -H 'Content-Type: application/merge-patch+json' \
	--data-binary '{"vars":{"rabbitmq_admin_user":"ops"}}'
check_that "PATCH via B: generation 2" '[ "$STATUS" = 200 ] && [ "$(jqb .generation)" = 2 ]'
t0=$(ms)
check "C serves generation 2 after the PATCH via B" eventually 10 fetch_is "200 2" C r1 "$TOK"
echo "# C served generation 2 $(($(ms) - t0)) ms after B's PATCH answer"

at A POST /clusters/r1/token
NEW=$(token_via A r1)
check_that "rotate via A gives a new token" '[ "$STATUS" = 200 ] && [ -n "$NEW" ] && [ "$NEW" != "$TOK" ]'
check_that "the new token works via B and C at once" \
	'[ "$(fetch B r1 "$NEW")" = "200 2" ] && [ "$(fetch C r1 "$NEW")" = "200 2" ]'
remote_events() {
	sed -n 's/^data: //p' "$T/stream.C" | jq -se 'any(.[]; .kind == "cluster-changed" and .generation == 2 and .remote) and any(.[]; .kind == "token-rotated" and .remote)' >/dev/null 2>&1
}
check "C's event stream of r1 shows B's change (generation 2) and A's rotation, marked remote" eventually 10 remote_events
# a node's boot report through A reaches C's stream (issue 18: events across replicas)
at A POST /clusters/r1/reports -H "Authorization: Bearer $NEW" -H 'Content-Type: application/json' \
	--data-binary '{"hostname":"node-x","boot_id":"0f1e2d3c-aaaa-4bbb-8ccc-123456789abc","addresses":["10.0.0.9"],"ignition":"success","failed_units":[]}'
check_that "a boot report through A is stored (204)" '[ "$STATUS" = 204 ]'
remote_report() {
	sed -n 's/^data: //p' "$T/stream.C" | jq -se 'any(.[]; .kind == "node-reported" and .node == "node-x" and .remote)' >/dev/null 2>&1
}
check "C's event stream of r1 shows the report made through A, marked remote" eventually 10 remote_report
check_that "the old token still works via A, B and C (grace)" \
	'[ "$(fetch A r1 "$TOK")" = "200 2" ] && [ "$(fetch B r1 "$TOK")" = "200 2" ] && [ "$(fetch C r1 "$TOK")" = "200 2" ]'

at C DELETE /clusters/r1
expect "DELETE r1 via C" 204
t0=$(ms)
gone() { [ "$(fetch A r1 "$NEW" | cut -d' ' -f1)" = 404 ] && [ "$(fetch B r1 "$NEW" | cut -d' ' -f1)" = 404 ]; }
check "A and B answer 404 after the DELETE via C" eventually 10 gone
echo "# A and B answered 404 $(($(ms) - t0)) ms after C's DELETE answer"
never=0
for i in $(seq 1 20); do
	for n in A B; do
		s=$(fetch "$n" r1 "$NEW" | cut -d' ' -f1)
		[ "$s" = 404 ] || never=$((never + 1))
	done
done
check_that "never a config after that (40 fetches via A and B: all 404)" '[ "$never" = 0 ]'

# ---- acceptance 4: global uniqueness and --max-clusters
dir=$T/race
mkdir -p "$dir"
reps=(A B C)
for i in $(seq 1 50); do
	n=${reps[$((i % 3))]}
	curl -sS -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST -H 'Content-Type: application/json' \
		--data-binary '{"name":"same","size":1}' "${RB[$n]}/clusters" >"$dir/$i" 2>/dev/null &
done
wait_race() { local f; for f in "$dir"/*; do [ -s "$f" ] || return 1; done; }
eventually 120 wait_race
c201=$(cat "$dir"/* | grep -c '^201$')
c409=$(cat "$dir"/* | grep -c '^409$')
check_that "50 parallel same-name creates over 3 replicas: exactly one 201, 49 409 (got $c201, $c409)" \
	'[ "$c201" = 1 ] && [ "$c409" = 49 ]'

DB2=$(pg_url_of "$T/db/limit.db")
for n in D E F; do replica "$n" "$DB2" --max-clusters 10 || { fail "replica $n starts"; exit 1; }; done
rm -rf "$dir"
mkdir -p "$dir"
reps=(D E F)
for i in $(seq 1 50); do
	n=${reps[$((i % 3))]}
	curl -sS -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"lim$i\",\"size\":1}" "${RB[$n]}/clusters" >"$dir/$i" 2>/dev/null &
done
eventually 120 wait_race
c201=$(cat "$dir"/* | grep -c '^201$')
rows=$(psql "$DB2" -Atq -c 'SELECT count(*) FROM clusters')
check_that "--max-clusters 10 under 50 parallel creates over 3 replicas: exactly 10 201s and 10 rows (got $c201, $rows)" \
	'[ "$c201" = 10 ] && [ "$rows" = 10 ]'
for n in D E F; do kill -TERM "${RP[$n]}"; done

# ---- acceptance 3: etcd members through three replicas, watches elsewhere
post_json_at A /clusters '{"name":"e3","size":3}'
expect "create e3 via A" 201
DURL=$(jqb .discovery_url)
DPATH=/discovery/${DURL##*/discovery/}
# etcd derives its cluster id from the discovery URL: every member needs the
# same one, as behind a load balancer. tests/e2e/fixtures/balancer sends each
# new connection to the next replica.
python3 tests/e2e/fixtures/balancer/balancer.py "$T/lb.port" "${RB[A]##*:}" "${RB[B]##*:}" "${RB[C]##*:}" \
	>"$T/lb.log" 2>&1 &
PIDS_TO_STOP+=("$!")
eventually 20 test -s "$T/lb.port"
LB="http://127.0.0.1:$(cat "$T/lb.port")"
IDX=$T/indexes # every X-Etcd-Index / createdIndex seen, in order, per reader
: >"$IDX"
# watches parked on C and B before any registration
curl -sS -D "$T/w1.h" -o "$T/w1.b" --max-time 60 "${RB[C]}$DPATH?wait=true&recursive=true" 2>/dev/null &
W1=$!
curl -sS -D "$T/w2.h" -o "$T/w2.b" --max-time 60 "${RB[B]}$DPATH?wait=true&recursive=true&waitIndex=1" 2>/dev/null &
W2=$!
sleep 0.5
check_that "the watches on C and B are parked before any registration" 'kill -0 "$W1" && kill -0 "$W2" 2>/dev/null'
for i in 1 2 3; do
	etcd_member "m$i" "$T/m$i" "$(free_port)" "$(free_port)" "$LB$DPATH"
	sleep 0.3 # one after the other: their first connections go to A, B, C
done
EPS="${ETCD_CLIENT[m1]},${ETCD_CLIENT[m2]},${ETCD_CLIENT[m3]}"
wait "$W1" "$W2" 2>/dev/null
check_that "a watch parked on C wakes with m1..m3's first registration (through another replica)" \
	'jq -e ".action == \"create\"" "$T/w1.b" >/dev/null'
check_that "a watch parked on B wakes too" 'jq -e ".action == \"create\"" "$T/w2.b" >/dev/null'
check "3 etcd members register through A, B, C and form one healthy cluster" etcd_wait_healthy "$EPS" 120
check "etcd lists 3 started members" [ "$(etcd_member_count "${ETCD_CLIENT[m1]}")" = 3 ]
puts=0
for n in A B C; do grep -q 'PUT /discovery/{token}/{key\*} 201' "${RL[$n]}" && puts=$((puts + 1)); done
check_that "the members' registrations went through all three replicas" '[ "$puts" = 3 ]'
# every reader's view: created indexes in listing order, X-Etcd-Index per replica
mono=0
for n in A B C; do
	at "$n" GET "$DPATH"
	jq -r '.node.nodes[].createdIndex' <"$BODY" >"$T/ci.$n"
	sort -n -c -u "$T/ci.$n" 2>/dev/null || mono=$((mono + 1))
	[ "$(wc -l <"$T/ci.$n")" = 3 ] || mono=$((mono + 1))
	cmp -s "$T/ci.A" "$T/ci.$n" || mono=$((mono + 1))
done
check_that "A, B and C list the same 3 members with strictly increasing createdIndex" '[ "$mono" = 0 ]'
# X-Etcd-Index seen by polling all replicas while more registrations go through all of them
post_json_at B /clusters '{"name":"ix","size":10}'
IURL=$(jqb .discovery_url)
DPATH=/discovery/${IURL##*/discovery/}
# Each registration through the next replica, then a read of the directory
# through another one: the indexes handed out strictly increase over the
# run, and every listing a reader gets is a prefix of the final order (it
# never shows index N+1 without N; it may lag by the notification's delay).
xbad=0
last=0
: >"$T/listings"
for k in $(seq 1 30); do
	n=$(echo "ABC" | cut -c$((k % 3 + 1)))
	x=$(curl -sS --max-time 20 -X PUT --data-binary "value=x$k%3Dhttp%3A%2F%2F127.0.0.1%3A1" \
		"${RB[$n]}$DPATH/$(printf '%016x' "$k")?prevExist=false" 2>/dev/null | jq -r .node.createdIndex)
	echo "$x" >>"$IDX"
	[ -n "$x" ] && [ "$x" != null ] && [ "$x" -gt "$last" ] || xbad=$((xbad + 1))
	last=${x:-$last}
	curl -sS --max-time 20 "${RB[$(echo "CAB" | cut -c$((k % 3 + 1)))]}$DPATH" 2>/dev/null |
		jq -r '[.node.nodes[]?.createdIndex] | map(tostring) | join(" ")' >>"$T/listings"
done
check_that "30 registrations through rotating replicas: the indexes they get strictly increase ($xbad out of order)" '[ "$xbad" = 0 ]'
all30() {
	local n
	for n in A B C; do
		[ "$(curl -sS --max-time 20 "${RB[$n]}$DPATH" | jq '.node.nodes | length')" = 30 ] || return 1
	done
}
check "every replica lists all 30 soon after" eventually 10 all30
final=$(curl -sS --max-time 20 "${RB[A]}$DPATH" | jq -r '[.node.nodes[].createdIndex] | map(tostring) | join(" ")')
notprefix=0
while IFS= read -r l; do
	[ -z "$l" ] && continue # nothing seen yet: a prefix too
	case "$final " in "$l "*) ;; *) notprefix=$((notprefix + 1)) ;; esac
done <"$T/listings"
check_that "every listing read on another replica meanwhile is a prefix of the final order ($notprefix not)" \
	'[ "$notprefix" = 0 ] && [ "$(wc -l <"$T/listings")" = 30 ]'
etcd_cluster_stop m 3

# v3: a watch stream on C's gRPC endpoint sees registrations through A and B
V3TOK=$(curl -sS --max-time 10 "${RB[A]}/new?size=3" | sed 's|.*/||')
V3R=/_etcd/registry/$V3TOK
ctl3() {
	local ep=$1
	shift
	ETCDCTL_API=3 timeout 20 "$ETCDCTL_BIN" --endpoints="http://$ep" --dial-timeout=3s --command-timeout=8s "$@"
}
ETCDCTL_API=3 timeout 30 "$ETCDCTL_BIN" --endpoints="http://${RG[C]}" watch --prefix "$V3R/members" >"$T/v3.watch" 2>&1 &
PIDS_TO_STOP+=("$!")
sleep 1
check_that "etcdctl put of a member through A's and B's gRPC endpoints" \
	'[ "$(ctl3 "${RG[A]}" put "$V3R/members/a1" "n1=http://10.0.0.1:2380")" = OK ] && [ "$(ctl3 "${RG[B]}" put "$V3R/members/b2" "n2=http://10.0.0.2:2380")" = OK ]'
v3_both() { grep -q "n1=http://10.0.0.1:2380" "$T/v3.watch" && grep -q "n2=http://10.0.0.2:2380" "$T/v3.watch"; }
check "a v3 watch stream on C sees both registrations" eventually 10 v3_both

# ---- acceptance 6: PostgreSQL away under load
post_json_at A /clusters '{"name":"live","size":1}'
expect "create live via A" 201
LTOK=$(token_via A live)
LOAD=$T/load
mkdir -p "$LOAD"
# answer CURL-ARG... - one request; prints CODE CONTENT-TYPE RETRY-AFTER.
answer() {
	local out
	out=$(curl -sS -o /dev/null -D - --max-time 25 "$@" 2>/dev/null | tr -d '\r')
	printf '%s %s %s\n' \
		"$(printf '%s\n' "$out" | sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p')" \
		"$(printf '%s\n' "$out" | sed -n 's/^[Cc]ontent-[Tt]ype: \([^;]*\).*/\1/p' | head -1)" \
		"$(printf '%s\n' "$out" | sed -n 's/^[Rr]etry-[Aa]fter: //p' | head -1)"
}

# loader W - until $T/stop-load exists: a node fetch, a read and a create
# through replica W; one line per answer in $LOAD/W.
loader() {
	local w=$1 k=0 b=${RB[$1]}
	while [ ! -e "$T/stop-load" ] && [ "$k" -lt 5000 ]; do
		k=$((k + 1))
		{
			answer -H "Authorization: Bearer $LTOK" "$b/clusters/live/ignition"
			answer "$b/clusters/live"
			answer -X POST -H 'Content-Type: application/json' \
				--data-binary "{\"name\":\"ld-${w,,}-$k\",\"size\":1}" "$b/clusters"
		} >>"$LOAD/$w"
		sleep 0.05
	done
}
for n in A B C; do loader "$n" & PIDS_TO_STOP+=("$!"); done
sleep 2
pg_ctl_do() { pg_as_owner "$PG_BIN/pg_ctl" -D "$KINDLING_TEST_PG_DIR/data" -l "$KINDLING_TEST_PG_DIR/log" -w -t 30 "$@" >/dev/null 2>&1; }
pg_up() {
	pg_ctl_do -o "-p $PG_PORT -k $KINDLING_TEST_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start
}
pg_ctl_do -m fast stop
check_that "PostgreSQL stops (pg_ctl -m fast)" '! psql "$DB" -Atqc "select 1" >/dev/null 2>&1'
sleep 3
h=0
for n in A B C; do
	[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 25 "${RB[$n]}/healthz")" = 503 ] && h=$((h + 1))
done
check_that "/healthz is 503 on every replica while PostgreSQL is away" '[ "$h" = 3 ]'
sleep 7
pg_up
t0=$(ms)
normal() {
	local n
	for n in A B C; do
		[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "${RB[$n]}/healthz")" = 200 ] || return 1
		fetch_is "200 1" "$n" live "$LTOK" || return 1
	done
}
check "every replica serves normally again after PostgreSQL's return, without a restart" eventually 30 normal
echo "# all replicas served normally $(($(ms) - t0)) ms after PostgreSQL was back"
touch "$T/stop-load"
sleep 1
for i in $(seq 1 100); do
	[ "$(find "$LOAD" -newer "$T/stop-load" -type f | wc -l)" = 0 ] && break
	sleep 0.3
done
sleep 1
total=$(cat "$LOAD"/* | wc -l)
bad=$(cat "$LOAD"/* | awk '!($1 ~ /^(200|201|304)$/ || ($1 == 503 && $2 == "application/problem+json" && $3 != ""))' | wc -l)
n503=$(cat "$LOAD"/* | awk '$1 == 503' | wc -l)
check_that "under load with PostgreSQL away: every one of $total answers a success or a 503 problem+json with Retry-After ($n503 503s, $bad others)" \
	'[ "$bad" = 0 ] && [ "$n503" -gt 0 ] && [ "$total" -gt 30 ]'
[ "$bad" = 0 ] || cat "$LOAD"/* | awk '!($1 ~ /^(200|201|304)$/ || ($1 == 503 && $2 == "application/problem+json"))' | sort | uniq -c | head >&2

# crash under write load: every acknowledged create survives
ACK=$T/acked
: >"$ACK.A"
: >"$ACK.B"
: >"$ACK.C"
writer_load() {
	local w=$1 k=0 code
	while [ ! -e "$T/stop-writes" ] && [ "$k" -lt 3000 ]; do
		k=$((k + 1))
		code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 25 -X POST -H 'Content-Type: application/json' \
			--data-binary "{\"name\":\"cr-${w,,}-$k\",\"size\":1}" "${RB[$w]}/clusters" 2>/dev/null)
		[ "$code" = 201 ] && echo "cr-${w,,}-$k" >>"$ACK.$w"
	done
}
for n in A B C; do writer_load "$n" & PIDS_TO_STOP+=("$!"); done
sleep 3
pg_ctl_do -m immediate stop
sleep 1
pg_up
check "PostgreSQL starts again after pg_ctl -m immediate stop" psql "$DB" -Atqc "select 1"
check "every replica serves normally again after the crash" eventually 30 normal
touch "$T/stop-writes"
sleep 2
for i in $(seq 1 100); do
	[ "$(find "$T" -maxdepth 1 -name 'acked.*' -newer "$T/stop-writes" | wc -l)" = 0 ] && break
	sleep 0.3
done
sleep 1
cat "$ACK".* | sort -u >"$T/acked.all"
psql "$DB" -Atqc "SELECT name FROM clusters WHERE name LIKE 'cr-%'" | sort -u >"$T/stored"
lost=$(comm -23 "$T/acked.all" "$T/stored" | wc -l)
check_that "every acknowledged create ($(wc -l <"$T/acked.all")) is in the database after the crash ($lost lost)" \
	'[ "$lost" = 0 ] && [ "$(wc -l <"$T/acked.all")" -gt 0 ]'

replica_stop A B C
relogged=0
for n in A B C; do
	grep -q "listening for other replicas' changes again" "${RL[$n]}" && relogged=$((relogged + 1))
done
check_that "every replica logged the broken change feed and its return" '[ "$relogged" = 3 ]'

