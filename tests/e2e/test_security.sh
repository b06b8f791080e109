#!/usr/bin/env bash
# test_security.sh - the admin token on every operator route, fetch tokens
# and their rotation, no secrets in logs, and TLS: the real Ignition fetch
# stage trusting kindling only through the CA in kindling's pointer config.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
plan 37

ADMIN=adm1n-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$ADMIN" >"$T/admin-token"
# the grace period: long enough that "still works during it" holds on a
# loaded machine; "refused after it" is waited for
GRACE=6
kindling_start --admin-token-file "$T/admin-token" --token-grace $GRACE || exit 1

# ---- every operator route: 401 without / with a wrong token ----------------
post_json /clusters '{"name":"sec","size":3,"profiles":["etcd","rabbitmq"]}' -H "Authorization: Bearer $ADMIN"
expect "create with the admin token" 201
routes=("GET /clusters" "POST /clusters" "GET /clusters/sec" "PATCH /clusters/sec"
	"DELETE /clusters/sec" "POST /clusters/sec/token" "GET /clusters/sec/userdata"
	"GET /profiles" "GET /new" "POST /new")
for rt in "${routes[@]}"; do
	m=${rt% *}
	p=${rt#* }
	api "$m" "$p" -H 'Content-Type: application/json' --data-binary '{}'
	[ "$m" = GET ] && api "$m" "$p"
	ok=1
	[ "$STATUS" = 401 ] || ok=0
	grep -qi '^WWW-Authenticate: Bearer realm="kindling"' "$HEADERS" || ok=0
	[ "$(jqb .status)" = 401 ] || ok=0
	api "$m" "$p" -H "Authorization: Bearer not-$ADMIN"
	[ "$STATUS" = 401 ] || ok=0
	api "$m" "$p" -u "admin:not-$ADMIN"
	[ "$STATUS" = 401 ] || ok=0
	if [ $ok = 1 ]; then pass "$rt: 401 + WWW-Authenticate without or with a wrong token"; else
		fail "$rt: status $STATUS without a valid token"; fi
done
api GET /clusters -u "anyone:$ADMIN"
expect "Basic auth with the token as password" 200
api GET /clusters
check "browser routes offer a Basic challenge" grep -qi '^WWW-Authenticate: Basic realm="kindling"' "$HEADERS"
api GET /healthz
expect "healthz needs no token" 200
api GET /metrics
expect "metrics needs no token" 200

# ---- fetch tokens ---------------------------------------------------------
curl -s -H "Authorization: Bearer $ADMIN" "$BASE/clusters/sec/userdata" >"$T/ptr.ign"
OLD=$(jq -r '.ignition.config.replace.httpHeaders[0].value | sub("^Bearer ";"")' "$T/ptr.ign")
check "fetch token has >= 128 bits (64 hex)" bash -c "[[ '$OLD' =~ ^[0-9a-f]{64}$ ]]"
api GET /clusters/sec/ignition -H "Authorization: Bearer ${OLD}x"
check "node route with a wrong token: 403 and no config bytes" \
	bash -c "[ '$STATUS' = 403 ] && ! grep -q '\"ignition\"' '$BODY'"
api GET /clusters/sec/ignition -H "Authorization: Bearer $ADMIN"
check "the admin token does not open a node route" [ "$STATUS" = 403 ]
api POST /clusters/sec/token -H "Authorization: Bearer $ADMIN"
ROTATED=$SECONDS
expect "rotate the fetch token" 200
NEW=$(jqb '.pointer.ignition.config.replace.httpHeaders[0].value | sub("^Bearer ";"")')
check_that "rotation gives a new token" '[ -n "$NEW" ] && [ "$NEW" != "$OLD" ]'
api GET /clusters/sec/ignition -H "Authorization: Bearer $NEW"
expect "the new token works" 200
api GET /clusters/sec/ignition -H "Authorization: Bearer $OLD"
expect "the old token works during the grace period" 200
old_refused() {
	api GET /clusters/sec/ignition -H "Authorization: Bearer $OLD"
	[ "$STATUS" = 403 ]
}
eventually 60 old_refused
refused_after=$((SECONDS - ROTATED))
check_that "the old token is refused after the grace period (403 after ${refused_after} s, grace $GRACE s)" \
	'[ "$STATUS" = 403 ] && [ "$refused_after" -ge $((GRACE - 1)) ]'
api GET "/clusters/sec/ignition?token=$NEW"
expect "?token= works too (spec 3.0 and 2.x pointers)" 200

# ---- no secret in the log ---------------------------------------------------
DTOKEN=$(curl -s -H "Authorization: Bearer $ADMIN" "$BASE/clusters/sec" | jq -r '.discovery_url | sub(".*/";"")')
curl -s "$BASE/discovery/$DTOKEN/_config/size" >/dev/null
check "no admin, fetch or discovery token in the log" \
	bash -c "! grep -qE '$ADMIN|$OLD|$NEW|$DTOKEN' '$T/kindling.log'"
sqlite_only "the database file's mode" || check "the database file is 0600" [ "$(stat -c %a "$T/db/kindling.db")" = 600 ]
kindling_stop

# ---- TLS: Ignition trusts kindling only through the pointer's CA ------------
require_tool openssl ignition-validate "$IGNITION_BIN"
mkdir -p "$T/tls"
(
	cd "$T/tls" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj /CN=kindling-test-ca -days 2
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\n' >ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext
) >"$T/tls/openssl.log" 2>&1
kindling_start --tls-cert "$T/tls/srv.pem" --tls-key "$T/tls/srv.key" --tls-ca "$T/tls/ca.pem" --http-total 10 || exit 1
BASE="https://127.0.0.1:$PORT"
post_json /clusters '{"name":"tls","size":1}' --cacert "$T/tls/ca.pem"
expect "create over HTTPS" 201
check "URLs are https" [ "$(jqb .ignition_url)" = "$BASE/clusters/tls/ignition" ]
curl -s --cacert "$T/tls/ca.pem" "$BASE/clusters/tls/userdata" >"$T/tls-ptr.ign"
check "the pointer carries the CA as a data URL" \
	[ "$(jq -r '.ignition.security.tls.certificateAuthorities[0].source | startswith("data:")' "$T/tls-ptr.ign")" = true ]
check "ignition-validate accepts the TLS pointer with no output" \
	bash -c "[ -z \"\$(ignition-validate '$T/tls-ptr.ign' 2>&1)\" ]"
check "the pointer stays under 4 KB with the CA" [ "$(wc -c <"$T/tls-ptr.ign")" -lt 4096 ]
if ignition_fetch "$T/node" "$T/tls-ptr.ign"; then pass "Ignition fetches over HTTPS with the pointer's CA"; else
	fail "Ignition fetch over HTTPS: $(tail -5 "$T/node/fetch.log")"; fi
curl -s --cacert "$T/tls/ca.pem" -H "Authorization: $(jq -r '.ignition.config.replace.httpHeaders[0].value' "$T/tls-ptr.ign")" \
	"$BASE/clusters/tls/ignition" >"$T/served.ign"
check "Ignition received exactly the bytes kindling serves (sha512 from its log)" \
	[ "$(ignition_fetched_sha512 "$T/node")" = "$(sha512sum <"$T/served.ign" | cut -d' ' -f1)" ]
jq 'del(.ignition.security)' "$T/tls-ptr.ign" >"$T/no-ca.ign"
if ignition_fetch "$T/node2" "$T/no-ca.ign"; then fail "Ignition must not trust kindling without the CA"; else
	check "without the CA Ignition refuses the certificate" grep -qiE 'certificate|x509' "$T/node2/fetch.log"; fi
kindling_stop
finish
