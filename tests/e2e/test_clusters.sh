#!/usr/bin/env bash
# test_clusters.sh - the cluster API with curl against the real binary:
# create/list/get/patch/delete, every bad input, durability, concurrency,
# the request log (one line per request, no secret).
source "$(dirname "$0")/lib.sh"
plan 133

kindling_start || exit 1
check "builtin discovery does not load libcurl (idle memory)" bash -c "! grep -q libcurl /proc/$KPID/maps"

# ---- the happy path ------------------------------------------------------
post_json /clusters '{"name":"alpha","size":3}'
expect "create returns 201" 201
check "create sets Location" [ "$(header Location)" = /clusters/alpha ]
check "create answers application/json" [ "$(header Content-Type)" = application/json ]
check "created cluster has name, size, defaults" \
	[ "$(jqb '[.name,.size,.profiles[0],.ignition_version,.generation,.discovery] | join(",")')" = "alpha,3,etcd,3.3.0,1,builtin" ]
check "created cluster has a builtin discovery URL" \
	bash -c "jq -r .discovery_url <'$BODY' | grep -Eq '^$BASE/discovery/[0-9a-f]{32}\$'"
check "created cluster has ignition and userdata URLs" \
	[ "$(jqb '.ignition_url + " " + .userdata_url')" = "$BASE/clusters/alpha/ignition $BASE/clusters/alpha/userdata" ]
check "created cluster has id, members, fetches, times" \
	[ "$(jqb '(.id|test("^[0-9a-f-]{36}$")) and .members.registered == 0 and .members.size == 3 and .fetches.count == 0 and (.created_at|test("Z$"))')" = true ]

post_json /clusters '{"name":"beta","size":5,"profiles":["etcd","rabbitmq"],"vars":{"rabbitmq_admin_user":"x'"'"'); DROP TABLE clusters;--"},"ignition_version":"3.1.0"}'
expect "create with profiles, vars, version" 201
check "SQL metacharacters in vars round-trip" \
	[ "$(jqb '.vars.rabbitmq_admin_user')" = "x'); DROP TABLE clusters;--" ]
check "generated secrets are listed by name only" \
	[ "$(jqb '.secrets | sort | join(",")')" = "rabbitmq_admin_password,rabbitmq_erlang_cookie" ]

api GET /clusters
expect "list returns 200" 200
check "list holds both, sorted by name" [ "$(jqb '[.clusters[].name] | join(",")')" = "alpha,beta" ]
check "list total" [ "$(jqb .total)" = 2 ]

api GET /clusters/beta
expect "get returns 200" 200
check "get returns the stored cluster" [ "$(jqb '.name + " " + (.size|tostring) + " " + .ignition_version')" = "beta 5 3.1.0" ]

api PATCH /clusters/beta -H 'Content-Type: application/merge-patch+json' \
	--data-binary '{"vars":{"rabbitmq_admin_user":"ops","rabbitmq_image":"example/rmq:1"}}'
expect "patch vars returns 200" 200
check "patch bumps generation and changes vars" \
	[ "$(jqb '(.generation|tostring) + " " + .vars.rabbitmq_admin_user + " " + .vars.rabbitmq_image')" = "2 ops example/rmq:1" ]
api PATCH /clusters/beta -H 'Content-Type: application/json' --data-binary '{"vars":{"rabbitmq_image":null}}'
expect "patch with null removes a var" 200
check "the var is gone, generation 3" [ "$(jqb '(.generation|tostring) + " " + (.vars|has("rabbitmq_image")|tostring)')" = "3 false" ]

api HEAD /clusters/alpha -I
check "HEAD on a cluster returns 200" [ "$STATUS" = 200 ]

# ---- pagination, filter, sort -----------------------------------------------
for n in c01 c02 c03 c04 c05 c06 c07; do
	post_json /clusters "{\"name\":\"$n\",\"size\":1}" >/dev/null
done
api GET '/clusters?limit=3'
check "a page holds limit items and a cursor" [ "$(jqb '[.clusters[].name]|join(",")') $(jqb .next_cursor)" = "alpha,beta,c01 c01" ]
check "a page has a Link rel=next" bash -c "grep -qi '^Link: </clusters?limit=3&cursor=c01>; rel=\"next\"' '$HEADERS'"
api GET '/clusters?limit=3&cursor=c01'
check "the next page follows the cursor" [ "$(jqb '[.clusters[].name]|join(",")')" = "c02,c03,c04" ]
api GET '/clusters?limit=3&cursor=c07'
check "the last page has no next cursor" [ "$(jqb '.clusters|length') $(jqb .next_cursor)" = "0 null" ]
api GET '/clusters?q=c0&limit=100'
check "q filters by name substring" [ "$(jqb '.total') $(jqb '[.clusters[].name]|join(",")')" = "7 c01,c02,c03,c04,c05,c06,c07" ]
api GET '/clusters?sort=-name&limit=2'
check "sort=-name" [ "$(jqb '[.clusters[].name]|join(",")')" = "c07,c06" ]
api GET '/clusters?sort=created&limit=2'
check "sort=created" [ "$(jqb '[.clusters[].name]|join(",")')" = "alpha,beta" ]
api GET "/clusters?sort=created&limit=2&cursor=$(jqb .next_cursor)"
check "sort=created with its cursor" [ "$(jqb '[.clusters[].name]|join(",")')" = "c01,c02" ]
api GET '/clusters?sort=-created&limit=1'
check "sort=-created" [ "$(jqb '[.clusters[].name]|join(",")')" = "c07" ]

# ---- bad input: each a clear 4xx problem+json naming the field, nothing stored
count_before=$(curl -s "$BASE/clusters?limit=1" | jq .total)
# bad NAME STATUS FIELD METHOD PATH BODY [CONTENT-TYPE]
bad() {
	local name=$1 want=$2 field=$3 method=$4 path=$5 body=$6 ct=${7-application/json}
	# an empty ct sends no Content-Type at all (curl would add a form type)
	api "$method" "$path" -H "Content-Type: $ct" --data-binary "$body"
	local ok=1
	[ "$STATUS" = "$want" ] || ok=0
	[ "$(header Content-Type)" = application/problem+json ] || ok=0
	[ "$(jqb .status)" = "$want" ] || ok=0
	[ -n "$(jqb .detail)" ] || ok=0
	if [ -n "$field" ] && [ "$(jqb "[.errors[]?.field] | index(\"$field\") != null")" != true ]; then
		ok=0
	fi
	if [ $ok = 1 ]; then pass "bad input: $name -> $want"; else
		fail "bad input: $name (status $STATUS, want $want, field $field): $(head -c 300 "$BODY")"
	fi
}
bad "malformed JSON" 400 "" POST /clusters '{"name":'
bad "JSON array, not object" 400 "" POST /clusters '["name"]'
bad "JSON string, not object" 400 "" POST /clusters '"alpha"'
bad "empty body" 400 "" POST /clusters ''
bad "trailing garbage" 400 "" POST /clusters '{"name":"x","size":1} x'
bad "duplicate key" 400 "" POST /clusters '{"name":"x","name":"y","size":1}'
bad "invalid UTF-8" 400 "" POST /clusters "$(printf '{"name":"\xff\xfe","size":1}')"
bad "wrong content type" 415 "" POST /clusters '{"name":"x","size":1}' text/plain
bad "no content type" 415 "" POST /clusters '{"name":"x","size":1}' ""
bad "form content type" 415 "" POST /clusters 'name=x&size=1' application/x-www-form-urlencoded
bad "unknown field" 422 colour POST /clusters '{"name":"x","size":1,"colour":"red"}'
bad "name missing" 422 name POST /clusters '{"size":1}'
bad "name empty" 422 name POST /clusters '{"name":"","size":1}'
bad "name too long (64)" 422 name POST /clusters "{\"name\":\"$(printf 'a%.0s' $(seq 64))\",\"size\":1}"
bad "name upper case" 422 name POST /clusters '{"name":"Alpha","size":1}'
bad "name leading hyphen" 422 name POST /clusters '{"name":"-a","size":1}'
bad "name trailing hyphen" 422 name POST /clusters '{"name":"a-","size":1}'
bad "name with /" 422 name POST /clusters '{"name":"a/b","size":1}'
bad "name .." 422 name POST /clusters '{"name":"..","size":1}'
bad "name %2f" 422 name POST /clusters '{"name":"a%2fb","size":1}'
bad "name unicode" 422 name POST /clusters '{"name":"ålpha","size":1}'
bad "name with NUL" 400 "" POST /clusters '{"name":"a\u0000b","size":1}'
bad "name a number" 422 name POST /clusters '{"name":12,"size":1}'
bad "name with SQL" 422 name POST /clusters "{\"name\":\"a'; DROP TABLE clusters;--\",\"size\":1}"
bad "size missing" 422 size POST /clusters '{"name":"x"}'
bad "size 0" 422 size POST /clusters '{"name":"x","size":0}'
bad "size negative" 422 size POST /clusters '{"name":"x","size":-3}'
bad "size 100" 422 size POST /clusters '{"name":"x","size":100}'
bad "size float" 422 size POST /clusters '{"name":"x","size":3.5}'
bad "size string" 422 size POST /clusters '{"name":"x","size":"3"}'
bad "size huge (jansson: too big integer)" 400 "" POST /clusters '{"name":"x","size":99999999999999999999}'
bad "vars not an object" 422 vars POST /clusters '{"name":"x","size":1,"vars":["a"]}'
bad "vars non-string value" 422 vars.rabbitmq_admin_user POST /clusters '{"name":"x","size":1,"profiles":["rabbitmq"],"vars":{"rabbitmq_admin_user":5}}'
bad "vars key not an identifier" 422 "vars.bad key" POST /clusters '{"name":"x","size":1,"profiles":["rabbitmq"],"vars":{"bad key":"v"}}'
bad "vars unknown variable" 422 vars.nope POST /clusters '{"name":"x","size":1,"vars":{"nope":"v"}}'
bad "vars value over the limit" 422 vars.rabbitmq_admin_user POST /clusters "{\"name\":\"x\",\"size\":1,\"profiles\":[\"rabbitmq\"],\"vars\":{\"rabbitmq_admin_user\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}}"
bad "profiles not an array" 422 profiles POST /clusters '{"name":"x","size":1,"profiles":"etcd"}'
bad "unknown profile" 422 "profiles[0]" POST /clusters '{"name":"x","size":1,"profiles":["nope"]}'
bad "unknown ignition_version" 422 ignition_version POST /clusters '{"name":"x","size":1,"ignition_version":"9.9.9"}'
bad "bad discovery mode" 422 discovery POST /clusters '{"name":"x","size":1,"discovery":"dns"}'
bad "upstream without --discovery-upstream" 422 discovery POST /clusters '{"name":"x","size":1,"discovery":"upstream"}'
bad "duplicate name" 409 "" POST /clusters '{"name":"alpha","size":1}'
bad "patch size" 422 size PATCH /clusters/alpha '{"size":5}'
bad "patch name" 422 name PATCH /clusters/alpha '{"name":"other"}'
bad "patch unknown field" 422 colour PATCH /clusters/alpha '{"colour":"red"}'
bad "patch vars not an object" 422 vars PATCH /clusters/alpha '{"vars":"x"}'
bad "patch unknown variable" 422 vars.nope PATCH /clusters/alpha '{"vars":{"nope":"v"}}'
bad "patch missing cluster" 404 "" PATCH /clusters/nope '{"vars":{}}'
bad "patch malformed JSON" 400 "" PATCH /clusters/alpha '{'
bad "delete missing cluster" 404 "" DELETE /clusters/nope ''
bad "get missing cluster" 404 "" GET /clusters/nope ''
bad "get path with encoded slash" 404 "" GET /clusters/a%2fb ''
bad "get path with NUL" 404 "" GET /clusters/alpha%00x ''
bad "PUT not allowed" 405 "" PUT /clusters/alpha '{}'
bad "DELETE on the collection" 405 "" DELETE /clusters ''
bad "unknown route" 404 "" GET /nope ''
bad "limit 0" 422 limit GET '/clusters?limit=0' ''
bad "limit huge" 422 limit GET '/clusters?limit=99999999999999999999' ''
bad "limit text" 422 limit GET '/clusters?limit=ten' ''
bad "bad sort" 422 sort GET '/clusters?sort=size' ''
bad "bad cursor" 422 cursor GET '/clusters?cursor=%27%3B--' ''
bad "created cursor on name sort" 422 cursor GET '/clusters?sort=created&cursor=abc' ''
api PUT /clusters/alpha
check "405 carries Allow" [ "$(header Allow)" = "GET, HEAD, PATCH, DELETE" ]
api POST /clusters -H 'Content-Type: application/json' -H 'Content-Length: 99999999' --data-binary '{}'
check "declared body over the limit -> 413" [ "$STATUS" = 413 ]
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
api POST /clusters -H 'Content-Type: application/json' --data-binary "@$T/big.json"
check_that "body over the limit -> 413 problem+json" '[ "$STATUS" = 413 ] && [ "$(jqb .status)" = 413 ]'
api POST /clusters -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "@$T/big.json"
check "chunked body over the limit -> 413" [ "$STATUS" = 413 ]
check "nothing was stored by any bad request" [ "$(curl -s "$BASE/clusters?limit=1" | jq .total)" = "$count_before" ]
api GET /clusters/alpha
check "alpha unchanged by the bad patches" [ "$(jqb .generation)" = 1 ]

# ---- delete ----------------------------------------------------------------
api DELETE /clusters/c07
expect "delete returns 204" 204
check "delete has an empty body" [ ! -s "$BODY" ]
api GET /clusters/c07
expect "deleted cluster is gone" 404

# ---- health and metrics --------------------------------------------------------
api GET /healthz
check_that "healthz ok" '[ "$STATUS" = 200 ] && [ "$(jqb .status)" = ok ]'
api GET /metrics
check "metrics count requests by route and status" \
	grep -q 'kindling_http_requests_total{method="POST",route="/clusters",status="201"} 9' "$BODY"
check "metrics has a latency histogram and the cluster gauge" \
	bash -c "grep -q 'kindling_http_request_duration_seconds_bucket{le=\"+Inf\"}' '$BODY' && grep -q '^kindling_clusters 8$' '$BODY' && grep -q '^kindling_fetches_dropped_total 0$' '$BODY'"

# ---- concurrency: 50 simultaneous creates of one name ------------------------------------
racers=()
for i in $(seq 1 50); do
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
		--data-binary '{"name":"race","size":3}' "$BASE/clusters" >>"$T/race" &
	racers+=($!)
done
wait "${racers[@]}"
check "50 concurrent creates: exactly one 201" [ "$(grep -c '^201$' "$T/race")" = 1 ]
check "50 concurrent creates: 49 409s" [ "$(grep -c '^409$' "$T/race")" = 49 ]
check "50 concurrent creates: one row stored" \
	[ "$(db_sql "SELECT count(*) FROM clusters WHERE name = 'race'")" = 1 ]

# ---- durability: kill -9 right after 201s ------------------------------------------
: >"$T/acked"
for i in $(seq 1 20); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"d$i\",\"size\":3}" "$BASE/clusters")
	[ "$code" = 201 ] && echo "d$i" >>"$T/acked"
done
kindling_kill9
check "20 creates acknowledged before kill -9" [ "$(wc -l <"$T/acked")" = 20 ]
kindling_start || exit 1
missing=0
while read -r n; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/clusters/$n")" = 200 ] || missing=$((missing + 1))
done <"$T/acked"
check "every acknowledged cluster survives kill -9" [ "$missing" = 0 ]
sqlite_only "PRAGMA integrity_check, the file's and folder's modes" 3 || {
	check "integrity_check ok after kill -9" [ "$(sqlite3 "$T/db/kindling.db" 'PRAGMA integrity_check')" = ok ]
	check "database file is private (0600)" [ "$(stat -c %a "$T/db/kindling.db")" = 600 ]
	check "database folder is private (0700)" [ "$(stat -c %a "$T/db")" = 700 ]
}

# ---- flags ----------------------------------------------------------------
# (each run's stderr is a kindling log of its own: scanned for sanitizer reports at exit)
check "--help exits 0 and lists flags with KINDLING_ names" \
	bash -c "'$KINDLING_BIN' --help 2>'$(kindling_log help)' | grep -q -- '--public-url' && '$KINDLING_BIN' --help 2>>'$(kindling_log help)' | grep -q KINDLING_"
check "--version prints the version" bash -c "'$KINDLING_BIN' --version 2>'$(kindling_log version)' | grep -q '^kindling [0-9]'"
check "an unknown flag exits 1 with a message" \
	bash -c "! '$KINDLING_BIN' --nope 2>'$(kindling_log nope)' && grep -q 'unknown flag' '$(kindling_log nope)'"
check "a bad number exits 1 naming the flag" \
	bash -c "! '$KINDLING_BIN' --threads x 2>'$(kindling_log threads)' && grep -q -- '--threads' '$(kindling_log threads)'"
check "KINDLING_ variables are read" \
	bash -c "! KINDLING_THREADS=nope '$KINDLING_BIN' 2>'$(kindling_log env)' && grep -q KINDLING_THREADS '$(kindling_log env)'"
check "a non-loopback listen address without a token is refused" \
	bash -c "! timeout 10 '$KINDLING_BIN' --listen 0.0.0.0:0 --db '$T/other.db' 2>'$(kindling_log refuse)' && grep -q 'refusing' '$(kindling_log refuse)'"

kindling_stop # "SIGTERM drains and exits 0"

# ---- limits set by flags ---------------------------------------------------
kindling_start --db "$T/limits.db" --max-profiles 1 --max-vars 1 --max-registrations 2 --max-clusters 2 || exit 1
post_json /clusters '{"name":"l1","size":1,"profiles":["etcd","rabbitmq"]}'
check_that "--max-profiles: 422 naming profiles" '[ "$STATUS" = 422 ] && [ "$(jqb ".errors[0].field")" = profiles ]'
post_json /clusters '{"name":"l1","size":1,"profiles":["rabbitmq"],"vars":{"rabbitmq_image":"a","rabbitmq_admin_user":"b"}}'
check_that "--max-vars: 422 naming vars" '[ "$STATUS" = 422 ] && [ "$(jqb ".errors[0].field")" = vars ]'
post_json /clusters '{"name":"l1","size":1}'
expect "within the limits: 201" 201
LD=$(jqb .discovery_url)
for id in a1 a2 a3; do
	code=$(curl -s -o "$T/reg" -w '%{http_code}' -X PUT -H 'Content-Type: application/x-www-form-urlencoded' \
		--data 'value=m%3Dhttp%3A%2F%2F127.0.0.1%3A2380' "$LD/$id?prevExist=false")
	echo "$code" >>"$T/regs"
done
check "--max-registrations: 2 accepted, the 3rd refused with 403" [ "$(tr '\n' ' ' <"$T/regs")" = "201 201 403 " ]
post_json /clusters '{"name":"l2","size":1}'
post_json /clusters '{"name":"l3","size":1}'
check_that "--max-clusters: 409 limit-reached" '[ "$STATUS" = 409 ] && [ "$(jqb .type)" = urn:kindling:problem:limit-reached ]'
kindling_stop

# ---- an older database: migration 0002 counts the clusters it holds ----------
if on_pg; then
	skip "SQLite only: an SQLite file of schema version 1 (db/sqlite/0001_init.sql) upgraded" 4
else
sqlite3 "$T/v1.db" <db/sqlite/0001_init.sql
sqlite3 "$T/v1.db" "PRAGMA user_version = 1; INSERT INTO clusters (id, name, size, profiles, vars, secrets,
	ignition_version, discovery_mode, discovery_url, fetch_token, created_at, updated_at)
	SELECT 'id-' || value, 'old' || value, 3, '[\"etcd\"]', '{}', '{}', '3.3.0', 'builtin',
	'http://x/discovery/0', 'tok', 1, 1 FROM json_each('[1,2,3]');"
kindling_start --db "$T/v1.db" || exit 1
api GET /healthz
check_that "a version-1 database with 3 clusters: migrated, /healthz counts 3" '[ "$(jqb .clusters)" = 3 ]'
api DELETE /clusters/old2
post_json /clusters '{"name":"new1","size":1}'
post_json /clusters '{"name":"new2","size":1}'
api GET /healthz
check_that "... the kept count follows creates and deletes (3 - 1 + 2 = 4)" '[ "$(jqb .clusters)" = 4 ]'
check "... and agrees with the table" [ "$(sqlite3 "$T/v1.db" 'SELECT count(*) FROM clusters')" = 4 ]
kindling_stop
fi

# ---- the request log: exactly one line per request, and no secret in it ------------------
# A fresh kindling, a known list of requests (secrets in query strings, in
# Authorization headers, in discovery paths, in answers), then SIGTERM (which
# writes out the log): as many request lines as requests, none naming a secret.
kindling_start --db "$T/log.db" || exit 1
REQS=0
# lreq CURL-ARG... - one request to this kindling, counted; the body goes to $BODY.
lreq() {
	REQS=$((REQS + 1))
	curl -s -o "$BODY" --max-time 30 "$@"
}
QSECRET=qsecret$RANDOM$RANDOM$RANDOM
lreq -X POST -H 'Content-Type: application/json' --data-binary '{"name":"logc","size":3}' "$BASE/clusters"
LTOK=$(jqb .discovery_url | sed 's|.*/||')
lreq "$BASE/clusters/logc/userdata"
LFETCH=$(jqb '.ignition.config.replace.httpHeaders[0].value' | sed 's/^Bearer //')
lreq -H "Authorization: Bearer $LFETCH" "$BASE/clusters/logc/ignition"
lreq "$BASE/clusters/logc/ignition?token=$LFETCH"
lreq "$BASE/clusters/logc/ignition?token=$QSECRET"
lreq "$BASE/clusters/logc?token=$QSECRET&reveal=1"
lreq "$BASE/clusters?q=logc&secret=$QSECRET"
lreq "$BASE/discovery/$LTOK/_config/size?quorum=false&recursive=false&sorted=false"
lreq -X PUT --data-urlencode "value=m1=http://127.0.0.1:2380" "$BASE/discovery/$LTOK/0123456789abcdef?prevExist=false"
lreq "$BASE/discovery/$LTOK?recursive=true&wait=true&waitIndex=1"
lreq "$BASE/new?size=3"
LNEW=$(sed 's|.*/||' "$BODY")
lreq "$BASE/discovery/$LNEW/_config/size"
lreq -X POST "$BASE/clusters/logc/token"
LFETCH2=$(jqb '.pointer.ignition.config.replace.httpHeaders[0].value' | sed 's/^Bearer //')
lreq "$BASE/nope?token=$QSECRET"
lreq -I "$BASE/healthz?x=$QSECRET"
kindling_stop
reqlines=$(grep -cE ' (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /[^ ]* [0-9-]+ [0-9]+B ' "$T/kindling.log")
check "the request log has exactly one line per request ($reqlines lines for $REQS requests)" \
	[ "$reqlines" = "$REQS" ]
check_that "the request log holds no token or query secret (fetch tokens, discovery tokens, ?token=, ?secret=)" \
	'[ ${#LTOK} = 32 ] && [ ${#LNEW} = 32 ] && [ ${#LFETCH} -ge 22 ] && [ ${#LFETCH2} -ge 22 ] &&
	! grep -qF -e "$LTOK" -e "$LNEW" -e "$LFETCH" -e "$LFETCH2" -e "$QSECRET" "$T/kindling.log"'
finish
