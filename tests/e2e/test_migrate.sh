#!/usr/bin/env bash
# test_migrate.sh - kindling migrate: an SQLite deployment (clusters of
# several profiles and spec versions, a PATCHed one, rotated tokens within
# their grace, v2 registrations as etcd PUTs them, a GET /new directory, a v3
# cluster registered through etcdctl, a fetch log) copied into an empty
# PostgreSQL; a kindling on it then serves byte-identical configs, cluster
# JSON and discovery answers (bodies, X-Etcd-Index, v3 revisions), the old
# tokens still work, and every table holds the same rows. Bad cases: a
# missing source, an unreachable or non-PostgreSQL target, a source with a
# table migrate does not know, a copy that fails half-way (nothing stays),
# a target that is not empty (nothing changes). Then MIGRATE_BULK clusters
# (default 200; README: 10 000 for issue 13's acceptance 8) with 3
# registrations each, written straight into the SQLite file, migrated, and
# every config compared. Needs a throw-away PostgreSQL (tests/pg.sh).
# timeout: 1800
# shellcheck disable=SC2016 # check_that evaluates single-quoted expressions
KINDLING_TEST_DB=sqlite # the source is SQLite; the target is named explicitly
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
# shellcheck source=tests/pg.sh
source tests/pg.sh # pg_newdb
BULK=${MIGRATE_BULK:-200}
plan 50
need_tools curl jq sqlite3 psql pg_dump etcdctl ss
pg_ensure || { fail "a throw-away PostgreSQL starts (tests/pg.sh)"; exit 1; }
export ETCDCTL_API=3
IGN_ACCEPT='application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1'
PUB=http://kindling.test:8080
TABLES="clusters discovery_tokens discovery_members fetch_tokens_prev fetches cluster_members"
GPORT=$(free_port) || exit 1
# the same public URL and v3 endpoint on both sides: what nodes are handed
# is stored (discovery URLs) or derived from these, never from the port
FLAGS=(--public-url "$PUB" --grpc-endpoint http://kindling.test:2379 --token-grace 3600)
SRC=$T/src/kindling.db

# migrate ARG... - runs kindling migrate; sets MRC, writes $T/m.out and $T/m.err.
migrate() {
	MRC=0
	"$KINDLING_BIN" migrate "$@" >"$T/m.out" 2>"$T/m.err" || MRC=$?
	cat "$T/m.err" >>"$(kindling_log migrate)"
}
# newdb NAME - an empty PostgreSQL database; prints its URL.
newdb() { pg_newdb "m_$$_$1"; }
# pgq URL SQL - one query on PostgreSQL, rows "a|b".
pgq() { psql "$1" -Atq -v ON_ERROR_STOP=1 -c "$2"; }
# tables_of - which tables the database at URL holds.
ntables() { pgq "$1" "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"; }
# dump_sqlite DB TABLE / dump_pg URL TABLE - the table's rows, every column, sorted.
cols_of() { sqlite3 "$SRC" "SELECT group_concat(name, ', ') FROM pragma_table_info('$1')"; }
dump_sqlite() { sqlite3 -readonly "$1" "SELECT $(cols_of "$2") FROM $2" | LC_ALL=C sort; }
dump_pg() { pgq "$1" "SELECT $(cols_of "$2") FROM $2" | LC_ALL=C sort; }
# capture DIR - what a kindling serves that must survive the move: the
# cluster list (JSON), every directory (body and X-Etcd-Index, and its size
# key), the v3 directory as etcdctl reads it. No config fetch (those count).
capture() {
	local d=$1 t
	mkdir -p "$d"
	curl -sS --max-time 30 -H 'Accept: application/json' "$BASE/clusters?limit=100" >"$d/list.json"
	for t in $TOKENS; do
		curl -sS --max-time 30 -D "$d/$t.h" "$BASE/discovery/$t" >"$d/$t.body"
		grep -i '^x-etcd-index:' "$d/$t.h" | tr -d '\r' >"$d/$t.index"
		curl -sS --max-time 30 "$BASE/discovery/$t/_config/size" >>"$d/$t.body"
	done
	timeout 20 etcdctl --endpoints="http://127.0.0.1:$GPORT" --dial-timeout=3s --command-timeout=8s \
		get -w json --prefix "/_etcd/registry/$V3TOK/" >"$d/v3.json" 2>&1
}
# configs DIR - every cluster's config with its current token, and c-rot's
# with each earlier token.
configs() {
	local d=$1 n
	mkdir -p "$d"
	: >"$d/status"
	for n in $NAMES; do
		curl -sS --max-time 30 -o "$d/$n.ign" -w '%{http_code}\n' -H "Accept: $IGN_ACCEPT" \
			-H "Authorization: Bearer ${TOKEN[$n]}" "$BASE/clusters/$n/ignition" >>"$d/status"
	done
	for n in 0 1; do
		curl -sS --max-time 30 -o "$d/c-rot.old$n.ign" -w '%{http_code}\n' -H "Accept: $IGN_ACCEPT" \
			-H "Authorization: Bearer ${OLD[$n]}" "$BASE/clusters/c-rot/ignition" >>"$d/status"
	done
}

# fetch_token - the fetch token in the last answer's pointer config (a
# header from spec 3.1 on, ?token= before).
fetch_token() {
	jqb '.pointer.ignition.config.replace | (.httpHeaders[0].value // "" | sub("^Bearer "; "")) as $h |
		if $h != "" then $h else (.source | capture("token=(?<t>[0-9a-f]+)").t) end'
}

# ---- 1. an SQLite deployment ----
kindling_start --db "$SRC" --grpc-listen "127.0.0.1:$GPORT" "${FLAGS[@]}" || exit 1
declare -A TOKEN=()
NAMES="c-etcd c-rmq c-v3 c-old c-patch c-rot"
ok=1
for spec in 'c-etcd|"profiles":["etcd"]' 'c-rmq|"profiles":["etcd","rabbitmq"],"vars":{"rabbitmq_admin_user":"ops"}' \
	'c-v3|"profiles":["etcd-v3"],"discovery_protocol":"v3"' 'c-old|"profiles":["etcd"],"ignition_version":"2.3.0"' \
	'c-patch|"profiles":["etcd"]' 'c-rot|"profiles":["etcd","rabbitmq"]'; do
	n=${spec%%|*}
	post_json /clusters "{\"name\":\"$n\",\"size\":3,${spec#*|}}"
	[ "$STATUS" = 201 ] || { ok=0; echo "create $n: $STATUS $(head -c 300 "$BODY")" >&2; }
	TOKEN[$n]=$(fetch_token)
	[ "$n" = c-v3 ] && V3TOK=$(jqb .discovery_url | sed 's|.*/||')
	[ "$n" = c-etcd ] && ETOK=$(jqb .discovery_url | sed 's|.*/||')
	[ "$n" = c-rmq ] && RTOK=$(jqb .discovery_url | sed 's|.*/||')
done
check_that "6 clusters created (etcd, etcd+rabbitmq, v3, spec 2.3.0, ...)" '[ "$ok" = 1 ] && [ -n "${TOKEN[c-rot]}" ] && [ -n "$V3TOK" ]'
api PATCH /clusters/c-patch -H 'Content-Type: application/merge-patch+json' --data-binary '{"vars":{"etcd_join_retry":"20"}}'
check_that "PATCH bumps c-patch to generation 2" '[ "$STATUS" = 200 ] && [ "$(jqb .generation)" = 2 ]'
OLD=("${TOKEN[c-rot]}")
api POST /clusters/c-rot/token
s1=$STATUS
OLD+=("$(fetch_token)")
api POST /clusters/c-rot/token
TOKEN[c-rot]=$(fetch_token)
check_that "c-rot rotated twice (two earlier tokens in their grace)" \
	'[ "$s1" = 200 ] && [ "$STATUS" = 200 ] && [ "${OLD[0]}" != "${OLD[1]}" ] && [ "${OLD[1]}" != "${TOKEN[c-rot]}" ]'
NEWTOK=$(curl -sS --max-time 10 "$BASE/new?size=3" | sed 's|.*/||')
TOKENS="$ETOK $RTOK $V3TOK $NEWTOK"
# registrations as etcd 3.4 sends them: PUT <dir>/<id>?prevExist=false, value=name=peer-url
ok=1
i=0
for t in $ETOK $ETOK $ETOK $RTOK $RTOK $NEWTOK $NEWTOK; do
	i=$((i + 1))
	api PUT "/discovery/$t/$(printf '%016x' $((0x5eed000 + i)))?prevExist=false" \
		--data-urlencode "value=n$i=http://10.0.0.$i:2380"
	[ "$STATUS" = 201 ] || ok=0
done
check "7 v2 registrations (PUT prevExist=false) answered 201" [ "$ok" = 1 ]
R=/_etcd/registry/$V3TOK/members
v3ok=$(for m in a1 b2; do
	timeout 20 etcdctl --endpoints="http://127.0.0.1:$GPORT" --dial-timeout=3s --command-timeout=8s \
		put "$R/$m" "$m=http://10.0.1.${#m}:2380"
done)
check_that "2 v3 registrations (etcdctl put) answered OK" '[ "$v3ok" = "$(printf "OK\nOK")" ]'
# a member state (cluster_members): the join step's report that b2 replaced a1
post_json "/discovery/$V3TOK/_kindling/replacements" '{"member":"b2","replaces":"a1"}'
check_that "a replacement report on c-v3 (b2 replaces a1): recorded" '[ "$STATUS" = 200 ] && [ "$(jqb .recorded)" = true ]'
configs "$T/before" # also the fetch log and counts the move must carry
check_that "every config (and c-rot's with both earlier tokens) fetched: 200" \
	'[ "$(sort -u "$T/before/status")" = 200 ] && [ "$(wc -l <"$T/before/status")" = 8 ]'
kindling_stop
# a second start: the fetch counts are on disk now; capture what must survive
kindling_start --db "$SRC" --grpc-listen "127.0.0.1:$GPORT" "${FLAGS[@]}" || exit 1
capture "$T/before"
check_that "the captured list shows the fetches and registrations" \
	'[ "$(jq -c "[.items // .clusters // . | .[] | select(.name == \"c-etcd\") | .fetches.count, .members.registered][0:2]" "$T/before/list.json")" = "[1,3]" ]'
kindling_stop

# ---- 2. what migrate refuses: nothing changes ----
EMPTY=$(newdb empty) || exit 1
migrate --from "$T/nope.db" --to "$EMPTY"
check_that "a missing source: exit 1 naming the file, not created, the target untouched" \
	'[ "$MRC" = 1 ] && grep -q "nope.db: No such file" "$T/m.err" && [ ! -e "$T/nope.db" ] && [ "$(ntables "$EMPTY")" = 0 ]'
DEAD=$(free_port) || exit 1
migrate --from "$SRC" --to "postgresql://kindling@127.0.0.1:$DEAD/x?connect_timeout=3"
check_that "an unreachable target: exit 1 naming it, nothing was changed" \
	'[ "$MRC" = 1 ] && grep -q "127.0.0.1:$DEAD" "$T/m.err" && grep -q "nothing was changed" "$T/m.err"'
migrate --from "$SRC" --to "$T/other.db"
check_that "a target that is not a postgresql:// URL: exit 2, said so" \
	'[ "$MRC" = 2 ] && grep -q "not a postgresql:// URL" "$T/m.err" && [ ! -e "$T/other.db" ]'
migrate --to "$EMPTY"
check_that "no --from: exit 2, said so" '[ "$MRC" = 2 ] && grep -q -- "--from FILE" "$T/m.err"'
echo "not a database" >"$T/junk.db"
migrate --from "$T/junk.db" --to "$EMPTY"
junk=$MRC
sqlite3 "$SRC" ".backup '$T/old.db'" && sqlite3 "$T/old.db" "PRAGMA user_version = 3"
migrate --from "$T/old.db" --to "$EMPTY"
check_that "a file that is not a database, a database of an older schema: exit 1, said so" \
	'[ "$junk" = 1 ] && [ "$MRC" = 1 ] && grep -q "schema version 3 is older than this kindling" "$T/m.err" && [ "$(ntables "$EMPTY")" = 0 ]'
migrate --help
check_that "kindling migrate --help: exit 0, its flags; kindling --help names the subcommand" \
	'[ "$MRC" = 0 ] && grep -q -- "--to URL" "$T/m.out" && "$KINDLING_BIN" --help 2>>"$(kindling_log help)" | grep -q "kindling migrate --from"'
sqlite3 "$SRC" ".backup '$T/extra.db'" && sqlite3 "$T/extra.db" "CREATE TABLE member_states (x TEXT)"
migrate --from "$T/extra.db" --to "$EMPTY"
check_that "a source with a table migrate does not know: refused naming it, target untouched" \
	'[ "$MRC" = 1 ] && grep -q "table member_states is not one kindling migrate knows" "$T/m.err" && [ "$(ntables "$EMPTY")" = 0 ]'
# all or nothing: the last table's last row cannot go into PostgreSQL
sqlite3 "$SRC" ".backup '$T/bad.db'" &&
	sqlite3 "$T/bad.db" "UPDATE fetches SET user_agent = CAST(X'ff41' AS TEXT) WHERE id = (SELECT max(id) FROM fetches)"
HALF=$(newdb half) || exit 1
migrate --from "$T/bad.db" --to "$HALF"
check_that "a copy failing at the last row: exit 1 naming table and column, no row stays" \
	'[ "$MRC" = 1 ] && grep -q "table fetches, row .*column user_agent is not valid UTF-8" "$T/m.err" &&
	 [ "$(pgq "$HALF" "SELECT (SELECT count(*) FROM clusters) + (SELECT count(*) FROM discovery_members)")" = 0 ]'

# ---- 3. the move ----
DST=$(newdb dst) || exit 1
migrate --from "$SRC" --to "$DST"
cat "$T/m.out"
ok=1
for t in $TABLES; do
	[ "$(awk -v t="$t" '$1 == t { print $2 }' "$T/m.out")" = "$(sqlite3 "$SRC" "SELECT count(*) FROM $t")" ] || ok=0
done
check_that "migrate exits 0, prints every table's count (equal to the source's) and the verification" \
	'[ "$MRC" = 0 ] && [ "$ok" = 1 ] && grep -q "^verified after the commit" "$T/m.out"'
for t in $TABLES; do
	dump_sqlite "$SRC" "$t" >"$T/$t.sqlite"
	dump_pg "$DST" "$t" >"$T/$t.pg"
	check_that "table $t: every row and column equal ($(wc -l <"$T/$t.sqlite") rows)" \
		'[ -s "$T/$t.sqlite" ] && cmp -s "$T/$t.sqlite" "$T/$t.pg"'
done
check_that "the discovery counter is the highest index copied; cluster_count the clusters" \
	'[ "$(pgq "$DST" "SELECT n FROM discovery_index")" = "$(sqlite3 "$SRC" "SELECT max(last_index) FROM discovery_tokens")" ] &&
	 [ "$(pgq "$DST" "SELECT n FROM cluster_count")" = 6 ]'
# (pg_dump's \restrict lines carry a random key of each run)
pgdump() { pg_dump "$1" | grep -vE '^\\(un)?restrict '; }
pgdump "$DST" >"$T/dst.before.sql"
migrate --from "$SRC" --to "$DST"
pgdump "$DST" >"$T/dst.after.sql"
cat "$T/m.err"
check_that "a second migrate into the filled target: exit 1, not empty, nothing changed" \
	'[ "$MRC" = 1 ] && grep -q "is not empty (clusters: 6 rows" "$T/m.err" && cmp -s "$T/dst.before.sql" "$T/dst.after.sql"'

# ---- 4. kindling on PostgreSQL serves the same ----
kindling_start --db "$DST" --grpc-listen "127.0.0.1:$GPORT" "${FLAGS[@]}" || exit 1
capture "$T/after"
check "the cluster list (JSON) is byte-identical" cmp "$T/before/list.json" "$T/after/list.json"
for t in $TOKENS; do
	check_that "discovery $t: body, size key and X-Etcd-Index identical" \
		'[ -s "$T/after/$t.index" ] && cmp -s "$T/before/$t.body" "$T/after/$t.body" && cmp -s "$T/before/$t.index" "$T/after/$t.index"'
done
check_that "v3: etcdctl get --prefix (keys, values, revisions) identical" \
	'grep -q create_revision "$T/after/v3.json" && cmp -s "$T/before/v3.json" "$T/after/v3.json"'
configs "$T/after"
check_that "every fetch answers 200, the earlier tokens of c-rot too" \
	'[ "$(sort -u "$T/after/status")" = 200 ] && [ "$(wc -l <"$T/after/status")" = 8 ]'
for n in $NAMES; do
	check "config of $n byte-identical" cmp "$T/before/$n.ign" "$T/after/$n.ign"
done
check_that "c-rot with its earlier tokens: the same config" \
	'cmp -s "$T/before/c-rot.ign" "$T/after/c-rot.old0.ign" && cmp -s "$T/before/c-rot.ign" "$T/after/c-rot.old1.ign"'
top=$(sqlite3 "$SRC" "SELECT max(last_index) FROM discovery_tokens")
api PUT "/discovery/$ETOK/00000000000000ff?prevExist=false" --data-urlencode "value=late=http://10.0.0.99:2380"
check_that "a registration after the move gets an index past every copied one" \
	'[ "$STATUS" = 201 ] && [ "$(jqb .node.createdIndex)" -gt "$top" ]'
kindling_stop

# ---- 5. many clusters ----
# Written straight into the SQLite file, in one transaction (mirroring
# db/sqlite/0001-0007 with each row's generation, as bench/run.sh fills its 100 000): 10 000 creates
# and 30 000 registrations through the API take minutes of curl on two
# cores, and what the API writes is covered above; this part is about
# volume. The configs are rendered by kindling from those rows, before and after.
BIG=$T/big/kindling.db
kindling_start --db "$BIG" "${FLAGS[@]}" && kindling_stop # the schema
NOW=$(($(date +%s) * 1000))
sqlite3 "$BIG" >"$T/big.log" 2>&1 <<-EOF
	BEGIN;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BULK)
	INSERT INTO clusters (id, name, size, profiles, vars, secrets, ignition_version, discovery_mode,
	                      discovery_url, fetch_token, generation, created_at, updated_at, discovery_protocol)
	SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('b%06d', i), 3,
	       CASE i % 2 WHEN 0 THEN '["etcd"]' ELSE '["etcd","rabbitmq"]' END,
	       printf('{"etcd_join_retry":"%d"}', 10 + i % 50),
	       printf('{"rabbitmq_admin_password":"p%d","rabbitmq_erlang_cookie":"c%d"}', i, i),
	       CASE i % 3 WHEN 0 THEN '2.3.0' ELSE '3.3.0' END, 'builtin',
	       printf('$PUB/discovery/%032x', i), lower(hex(randomblob(32))), 1 + i % 4,
	       $NOW + i, $NOW + i, CASE i % 5 WHEN 0 THEN 'v3' ELSE 'v2' END FROM n;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BULK)
	INSERT INTO discovery_tokens (token, size, cluster_id, last_index, created_at)
	SELECT printf('%032x', i), 3, printf('%08x-0000-4000-8000-%012x', i, i), 3 * i + 1, $NOW FROM n;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BULK),
	               m(j) AS (VALUES (0), (1), (2))
	INSERT INTO discovery_members (token, member_id, value, created_index, created_at)
	SELECT printf('%032x', i), printf('%016x', i * 4 + j), printf('m%d=http://10.%d.%d.%d:2380', j, i / 65536, i / 256 % 256, i % 256),
	       3 * i - 1 + j, $NOW FROM n, m;
	.read tests/e2e/fixtures/generations_of_rows.sql
	COMMIT;
EOF
check_that "$BULK clusters and $((BULK * 3)) registrations written into the SQLite file" \
	'[ "$(sqlite3 "$BIG" "SELECT (SELECT count(*) FROM clusters) || \" \" || (SELECT count(*) FROM discovery_members)")" = "$BULK $((BULK * 3))" ]'
# bigfetch DIR - every config of the big database, one curl, keep-alive.
bigfetch() {
	mkdir -p "$1"
	sqlite3 -separator ' ' "$BIG" "SELECT name, fetch_token FROM clusters ORDER BY name" |
		while read -r n tok; do
			[ "$n" = b000001 ] || echo next
			printf 'url = "%s/clusters/%s/ignition"\noutput = "%s/%s.ign"\nheader = "Authorization: Bearer %s"\nheader = "Accept: %s"\nwrite-out = "%%{http_code}\\n"\n' \
				"$BASE" "$n" "$1" "$n" "$tok" "$IGN_ACCEPT"
		done >"$1.curl"
	curl -sS --max-time 1200 -K "$1.curl" >"$1.status"
}
kindling_start --db "$BIG" "${FLAGS[@]}" || exit 1
bigfetch "$T/bigbefore"
kindling_stop
BIGDST=$(newdb big) || exit 1
start=$(date +%s%N)
migrate --from "$BIG" --to "$BIGDST"
took=$((($(date +%s%N) - start) / 1000000))
cat "$T/m.out"
echo "# migrate of $BULK clusters took $took ms"
ok=1
for t in $TABLES; do
	[ "$(pgq "$BIGDST" "SELECT count(*) FROM $t")" = "$(sqlite3 "$BIG" "SELECT count(*) FROM $t")" ] || ok=0
done
check_that "$BULK clusters migrated: every table's count equal (${took} ms)" '[ "$MRC" = 0 ] && [ "$ok" = 1 ]'
kindling_start --db "$BIGDST" "${FLAGS[@]}" || exit 1
bigfetch "$T/bigafter"
same=$(cd "$T/bigbefore" && for f in *.ign; do cmp -s "$f" "../bigafter/$f" && echo same; done | wc -l)
check_that "all $BULK configs 200 before and after, every one byte-identical" \
	'[ "$(sort -u "$T/bigbefore.status")" = 200 ] && [ "$(sort -u "$T/bigafter.status")" = 200 ] &&
	 [ "$(wc -l <"$T/bigafter.status")" = "$BULK" ] && [ "$same" = "$BULK" ]'
kindling_stop
