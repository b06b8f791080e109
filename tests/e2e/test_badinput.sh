#!/usr/bin/env bash
# test_badinput.sh - a table of bad inputs across every route but the cluster
# CRUD cases test_clusters.sh has: /userdata and /ignition parameters and
# tokens, /new, /discovery tokens, ids, watches and registration bodies,
# integer overflow, invalid UTF-8 and NUL bytes, path tricks, huge and many
# headers, wrong methods, header injection through vars. Each must be a
# clear 4xx: problem+json where kindling answers (P), the etcd error JSON on
# discovery reads (E), libmicrohttpd's own answer where it answers before
# kindling sees the request (M). Afterwards nothing was stored, no token is in
# the log, and the server is healthy.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
plan 112

# shellcheck disable=SC2119
kindling_start || exit 1

# ---- fixtures: one cluster with rabbitmq, its tokens ------------------------
post_json /clusters '{"name":"alpha","size":3,"profiles":["etcd","rabbitmq"]}'
expect "fixture cluster created" 201 || exit 1
TOK=$(jqb .discovery_url | sed 's|.*/||')
DP=/discovery/$TOK
FETCH=$(jqb '.pointer.ignition.config.replace.httpHeaders[0].value' | sed 's/^Bearer //')
api PUT "$DP/0123456789abcdef?prevExist=false" --data-urlencode "value=m1=http://127.0.0.1:2380"
expect "fixture member registered" 201

db() { db_sql "$1" 2>/dev/null; }
state() {
	local gens="group_concat(generation)"
	if on_pg; then gens="string_agg(generation::text, ',' ORDER BY name)"; fi
	db "SELECT (SELECT count(*) FROM clusters), (SELECT count(*) FROM discovery_tokens),
	    (SELECT count(*) FROM discovery_members), (SELECT $gens FROM clusters)"
}
STATE0=$(state)
# 600 two-byte characters: a 1 KiB problem detail would end in the middle of one
LONG_UTF8=$(for _ in $(seq 600); do printf '%%C3%%A9'; done)

# row NAME WANT KIND METHOD PATH [CURL-ARG...]
#   WANT: a status, or "4xx"; KIND: P problem+json, E etcd JSON, M libmicrohttpd, - any
ROWS=0
row() {
	local name=$1 want=$2 kind=$3 method=$4 path=$5 ok=1 why=""
	shift 5
	ROWS=$((ROWS + 1))
	api "$method" "$path" --path-as-is "$@"
	if [ "$want" = 4xx ]; then
		[[ $STATUS =~ ^4[0-9][0-9]$ ]] || { ok=0; why="status $STATUS, want a 4xx"; }
	elif [ "$STATUS" != "$want" ]; then
		ok=0
		why="status $STATUS, want $want"
	fi
	case $kind in
	P)
		if [ "$(header Content-Type)" != application/problem+json ] || [ "$(jqb .status)" != "$STATUS" ] ||
			[ -z "$(jqb .detail)" ]; then
			ok=0
			why="$why; not problem+json with status and detail"
		fi
		;;
	E)
		[ "$(jqb .errorCode)" = 100 ] || { ok=0; why="$why; not etcd's errorCode 100"; }
		;;
	esac
	if [ $ok = 1 ]; then
		pass "bad input: $name -> $STATUS"
	else
		fail "bad input: $name ($why): $(head -c 200 "$BODY" 2>/dev/null | tr -d '\0')"
	fi
}

# raw NAME WANT BYTES - sends BYTES (backslash escapes decoded) on a raw
# connection; the status of the first answer line must be WANT: a status,
# 4xx, or "lenient" for inputs libmicrohttpd 0.9.75 accepts (anything but a
# 5xx or no answer; printed as a NOTE).
raw() {
	local name=$1 want=$2 got
	ROWS=$((ROWS + 1))
	got=$(python3 - "$PORT" "$3" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1")
s.sendall(data)
try:
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
buf = b""
try:
    while not buf.count(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
except OSError:
    pass
line = buf.split(b"\r\n", 1)[0].decode("latin-1")
print(line.split(" ")[1] if line.startswith("HTTP/") else "none:" + line[:40])
EOF
	)
	if [ "$want" = lenient ] && [[ $got =~ ^[1-4][0-9][0-9]$ ]]; then
		pass "bad input: $name -> $got (libmicrohttpd accepts it)"
		echo "# NOTE: libmicrohttpd 0.9.75 accepts: $name (answered $got)"
	elif [ "$got" = "$want" ] || { [ "$want" = 4xx ] && [[ $got =~ ^4[0-9][0-9]$ ]]; }; then
		pass "bad input: $name -> $got"
	else
		fail "bad input: $name (got $got, want $want)"
	fi
}

# ---- /clusters/{name}/userdata -----------------------------------------------
row "userdata ?version unsupported" 422 P GET "/clusters/alpha/userdata?version=9.9.9"
row "userdata ?version empty" 422 P GET "/clusters/alpha/userdata?version="
row "userdata ?version with NUL" 422 P GET "/clusters/alpha/userdata?version=3.3.0%00"
row "userdata ?hash=2" 422 P GET "/clusters/alpha/userdata?hash=2"
row "userdata ?format=yaml" 422 P GET "/clusters/alpha/userdata?format=yaml"
row "userdata of a missing cluster" 404 P GET "/clusters/nope/userdata"
row "userdata by POST" 405 P POST "/clusters/alpha/userdata" --data-binary ''
# ---- /clusters/{name}/ignition -----------------------------------------------
row "ignition without a token" 401 P GET "/clusters/alpha/ignition"
check "ignition 401 carries WWW-Authenticate" [ -n "$(header WWW-Authenticate)" ]
row "ignition with a wrong token" 403 P GET "/clusters/alpha/ignition" -H "Authorization: Bearer ${FETCH%?}x"
check "ignition 403 holds no config bytes" bash -c "! grep -q '\"ignition\"' '$BODY'"
row "ignition with a 6 KiB token (under --header-max)" 403 P GET "/clusters/alpha/ignition" \
	-H "Authorization: Bearer $(head -c 6144 /dev/zero | tr '\0' a)"
row "ignition with the token and trailing garbage" 403 P GET "/clusters/alpha/ignition" \
	-H "Authorization: Bearer $FETCH;x"
row "ignition with a wrong ?token=" 403 P GET "/clusters/alpha/ignition?token=${FETCH%?}$([ "${FETCH: -1}" = 0 ] && echo 1 || echo 0)"
row "ignition Accept: only version 4.0.0" 406 P GET "/clusters/alpha/ignition" \
	-H "Authorization: Bearer $FETCH" -H 'Accept: application/vnd.coreos.ignition+json;version=4.0.0'
row "ignition Accept: only version 1.0.0" 406 P GET "/clusters/alpha/ignition" \
	-H "Authorization: Bearer $FETCH" -H 'Accept: application/vnd.coreos.ignition+json; version=1.0.0'
row "ignition ?version=3.3" 406 P GET "/clusters/alpha/ignition?version=3.3" -H "Authorization: Bearer $FETCH"
row "ignition of a missing cluster" 404 P GET "/clusters/nope/ignition" -H "Authorization: Bearer $FETCH"
row "ignition of an invalid UTF-8 name (Ignition retries 5xx forever)" 404 P GET "/clusters/%ff/ignition"
row "ignition with a wrong token and a script as User-Agent" 403 P GET "/clusters/alpha/ignition" \
	-H "Authorization: Bearer ${FETCH%?}x" -H 'User-Agent: <script>alert(1)</script>"><img src=x onerror=alert(2)>'
api GET /clusters/alpha -H 'Accept: text/html'
check "the cluster page shows the fetch log's User-Agent escaped (status $STATUS)" \
	bash -c "[ '$STATUS' = 200 ] && grep -qi '<html' '$BODY' && ! grep -qiE '<script>alert|<img src=x' '$BODY'"
row "cluster name of invalid UTF-8" 404 P GET "/clusters/%ff%fe"
row "cluster name of 64 characters" 404 P GET "/clusters/$(printf 'a%.0s' $(seq 64))"
row "token rotation of a missing cluster" 404 P POST "/clusters/nope/token"
row "list ?limit=0x10" 422 P GET "/clusters?limit=0x10"
row "list ?limit=-1" 422 P GET "/clusters?limit=-1"
row "list ?q= of 64 characters" 422 P GET "/clusters?q=$(printf 'q%.0s' $(seq 64))"
row "list created cursor with an overflowing time" 422 P GET \
	"/clusters?sort=created&cursor=99999999999999999999999.alpha"
row "create with an unknown field named in multi-byte UTF-8" 422 P POST /clusters \
	-H 'Content-Type: application/json' --data-binary "{\"name\":\"b\",\"size\":1,\"a$(printf 'é%.0s' $(seq 121))\":1}"
row "create nested 100000 deep" 400 P POST /clusters -H 'Content-Type: application/json' \
	--data-binary "$(head -c 100000 /dev/zero | tr '\0' '[')"
row "patch with invalid UTF-8" 400 P PATCH /clusters/alpha -H 'Content-Type: application/json' \
	--data-binary "$(printf '{"vars":{"rabbitmq_admin_user":"\xc3\x28"}}')"
row "create with a bad escape before a multi-byte character" 400 P POST /clusters \
	-H 'Content-Type: application/json' --data-binary "$(printf '{"name":"x\\\xc3\xa9"}')"
row "patch with a bad escape before a multi-byte character" 400 P PATCH /clusters/alpha \
	-H 'Content-Type: application/json' --data-binary "$(printf '{"vars":{"a":"\\\xc3\xa9"}}')"
row "patch body is a JSON null" 400 P PATCH /clusters/alpha -H 'Content-Type: application/json' --data-binary 'null'

# ---- header injection through vars ---------------------------------------------
row "var value with CR LF Set-Cookie (create)" 422 P POST /clusters -H 'Content-Type: application/json' \
	--data-binary '{"name":"inj","size":1,"profiles":["rabbitmq"],"vars":{"rabbitmq_admin_user":"x\r\nSet-Cookie: injected=1"}}'
row "var value with CR LF Set-Cookie (patch)" 422 P PATCH /clusters/alpha -H 'Content-Type: application/json' \
	--data-binary '{"vars":{"rabbitmq_admin_user":"x\r\nSet-Cookie: injected=1\r\n\r\n"}}'
row "var value with LF Set-Cookie in a unit's variable" 422 P PATCH /clusters/alpha \
	-H 'Content-Type: application/json' --data-binary '{"vars":{"rabbitmq_image":"x\nSet-Cookie: injected=1"}}'
# A newline in a one-line variable of a file is refused too (it would add
# keys to rabbitmq.conf); and no stored value reaches a response header.
row "a file's one-line var with LF Set-Cookie (patch)" 422 P PATCH /clusters/alpha \
	-H 'Content-Type: application/json' \
	--data-binary '{"vars":{"rabbitmq_admin_user":"ops\nSet-Cookie: injected=1\nX-Injected: 1"}}'
api GET /clusters/alpha
GEN_ALPHA=$(jqb .generation)
inj=0
for req in "/clusters/alpha/ignition" "/clusters/alpha/ignition?version=2.2.0" "/clusters/alpha/userdata" \
	"/clusters/alpha/userdata?hash=1" "/clusters/alpha/userdata?format=base64" "/clusters/alpha" "/clusters"; do
	for m in GET HEAD; do
		if [ $m = HEAD ]; then api HEAD "$req" -I -H "Authorization: Bearer $FETCH"; else
			api GET "$req" -H "Authorization: Bearer $FETCH"; fi
		if grep -qiE '^(Set-Cookie|X-Injected):' "$HEADERS" || [ "$STATUS" != 200 ]; then
			inj=$((inj + 1))
			echo "# $m $req: status $STATUS" >&2
		fi
	done
done
check "no Set-Cookie / X-Injected header from vars on /ignition, /userdata, /clusters (GET and HEAD)" [ "$inj" = 0 ]

# ---- /new -------------------------------------------------------------------------
row "/new ?size=9223372036854775808 (overflow)" 400 P GET "/new?size=9223372036854775808"
row "/new ?size=3abc" 400 P GET "/new?size=3abc"
row "/new ?size= (empty)" 400 P GET "/new?size="
row "/new ?size=3 with a NUL" 400 P GET "/new?size=3%00"
row "/new ?size= in multi-byte UTF-8" 400 P GET "/new?size=a$(printf '%%C3%%A9%.0s' $(seq 20))"
row "/new by PUT" 405 P PUT "/new?size=3" --data-binary ''

# ---- /discovery ------------------------------------------------------------------
row "discovery token of invalid UTF-8" 404 E GET "/discovery/%ff%fe"
row "discovery token of 31 hex digits" 404 E GET "/discovery/${TOK%?}"
row "discovery token of 33 hex digits" 404 E GET "/discovery/${TOK}0"
row "discovery token with a NUL" 404 - GET "/discovery/${TOK}%00"
row "discovery member id upper case" 404 P GET "$DP/0123456789ABCDEF"
row "discovery member id of 33 hex digits" 404 P GET "$DP/$(printf '1%.0s' $(seq 33))"
row "discovery member id not hex" 404 P GET "$DP/xyz"
row "discovery key in multi-byte UTF-8" 404 P GET "$DP/a$(printf '%%C3%%A9%.0s' $(seq 40))"
row "register: id upper case" 400 P PUT "$DP/ABCDEF?prevExist=false" --data-urlencode "value=x=http://127.0.0.1:1"
row "register: id of 17 hex digits" 400 P PUT "$DP/0123456789abcdef0?prevExist=false" \
	--data-urlencode "value=x=http://127.0.0.1:1"
row "register: id in multi-byte UTF-8" 400 P PUT "$DP/a$(printf '%%C3%%A9%.0s' $(seq 40))?prevExist=false" \
	--data-urlencode "value=x=http://127.0.0.1:1"
row "register: no prevExist" 400 P PUT "$DP/1234" --data-urlencode "value=x=http://127.0.0.1:1"
row "register: prevExist=true" 400 P PUT "$DP/1234?prevExist=true" --data-urlencode "value=x=http://127.0.0.1:1"
row "register: no value= in the form" 400 P PUT "$DP/1234?prevExist=false" --data-binary "val=x"
row "register: empty value" 400 P PUT "$DP/1234?prevExist=false" --data-binary "value="
row "register: value with CR LF" 400 P PUT "$DP/1234?prevExist=false" --data-binary "value=x%0d%0aSet-Cookie:%20a=1"
row "register: value with a bad escape" 400 P PUT "$DP/1234?prevExist=false" --data-binary "value=x%zz"
row "register: value with NUL" 400 P PUT "$DP/1234?prevExist=false" --data-binary "value=x%00y"
row "register: value of 1025 bytes" 400 P PUT "$DP/1234?prevExist=false" \
	--data-binary "value=$(head -c 1025 /dev/zero | tr '\0' a)"
row "register: value of invalid UTF-8" 400 P PUT "$DP/1234?prevExist=false" --data-binary "value=x%3Dhttp%3A%2F%2F1%ff%fe"
row "register: body over the 4 KiB route limit" 413 P PUT "$DP/1234?prevExist=false" \
	--data-binary "value=$(head -c 5000 /dev/zero | tr '\0' a)"
row "watch: waitIndex=abc" 400 P GET "$DP?wait=true&waitIndex=abc"
row "watch: waitIndex=-1" 400 P GET "$DP?wait=true&waitIndex=-1"
row "watch: waitIndex=9223372036854775808 (overflow)" 400 P GET "$DP?wait=true&waitIndex=9223372036854775808"
row "watch: waitIndex=1e3" 400 P GET "$DP?wait=true&waitIndex=1e3"
row "watch: waitIndex in multi-byte UTF-8" 400 P GET "$DP?wait=true&waitIndex=a$(printf '%%C3%%A9%.0s' $(seq 20))"
row "watch: recursive on a key" 400 P GET "$DP/0123456789abcdef?wait=true&recursive=true"
row "discovery: DELETE of a member" 405 P DELETE "$DP/0123456789abcdef"
check "405 on a member names the allowed methods" [ "$(header Allow)" = "GET, HEAD, PUT" ]

# ---- paths --------------------------------------------------------------------------
row "path /clusters/../healthz is not normalised" 404 P GET "/clusters/../healthz"
row "path //clusters" 404 P GET "//clusters"
row "path /clusters/%2e%2e" 404 P GET "/clusters/%2e%2e"
row "path /clusters/%2e%2e/%2e%2e/healthz" 404 P GET "/clusters/%2e%2e/%2e%2e/healthz"
row "path /healthz/ (trailing slash)" 404 P GET "/healthz/"
row "path of invalid UTF-8" 404 P GET "/%ff"
row "path of 3000 bytes" 404 P GET "/$(head -c 3000 /dev/zero | tr '\0' a)"
row "path of 1200 multi-byte characters" 404 P GET "/$LONG_UTF8"
row "405 path of 1200 multi-byte characters" 405 P PUT "/clusters/$LONG_UTF8" --data-binary ''
row "path with LF, CR and ESC (log injection)" 404 P GET "/x%0aFORGED%20info%20DELETE%20/clusters/prod%20204%0d%1b%5b31m"
row "path of 100 KiB" 4xx M GET "/$(head -c 102400 /dev/zero | tr '\0' a)"

# ---- headers and framing ---------------------------------------------------------
row "one 64 KiB header" 431 M GET /healthz -H "X-Big: $(head -c 65536 /dev/zero | tr '\0' a)"
hdrs=()
for i in $(seq 1 3000); do hdrs+=(-H "X-H$i: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"); done
row "3000 headers (150 KiB)" 431 M GET /healthz "${hdrs[@]}"
row "Content-Length: 18446744073709551616" 4xx - POST /clusters -H 'Content-Type: application/json' \
	-H 'Content-Length: 18446744073709551616' --data-binary '{}'
raw "Content-Length: -1" 400 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}'
# RFC 9112 6.3: differing Content-Length values must be refused (request smuggling)
raw "two different Content-Length headers" 400 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}'
raw "a bad chunk size" 4xx 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'
raw "a NUL in the request line" lenient 'GET /healthz\x00x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
raw "a NUL in a header" lenient 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n'
raw "HTTP/1.1 without Host" lenient 'GET /healthz HTTP/1.1\r\n\r\n'
raw "method in lower case" 405 'get /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
raw "method TRACE" 405 'TRACE /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
raw "an unknown method" 405 'FOO /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
row "OPTIONS on /clusters" 405 P OPTIONS /clusters
row "DELETE on /healthz" 405 P DELETE /healthz
row "POST on /profiles" 405 P POST /profiles --data-binary '{}'
row "POST /clusters as text/json" 415 P POST /clusters -H 'Content-Type: text/json' --data-binary '{"name":"x","size":1}'

# ---- afterwards --------------------------------------------------------------------
echo "# $ROWS bad inputs"
check "at least 40 bad inputs in the table ($ROWS)" [ "$ROWS" -ge 40 ]
api GET /healthz
expect "healthz answers 200 after the bad inputs" 200
STATE1=$(state)
# no change at all: every PATCH above was refused
want_state=$(echo "$STATE0" | awk -F'|' -v g="$GEN_ALPHA" '{print $1 "|" $2 "|" $3 "|" g}')
check "nothing stored by any bad input (clusters|tokens|members|generation: $STATE1)" \
	[ "$STATE1" = "$want_state" ]
api GET "$DP"
check "the directory lists exactly the fixture member" \
	[ "$(jqb '[.node.nodes[]?.key | split("/") | last] | join(",")')" = 0123456789abcdef ]
check "the request log never names the discovery token" bash -c "! grep -q '$TOK' '$T/kindling.log'"
check "the request log holds no forged line and no raw control character" \
	bash -c "! grep -qE '^FORGED|'$'\r''|'$'\x1b' '$T/kindling.log'"
check "the request log never names the fetch token" bash -c "! grep -q '$FETCH' '$T/kindling.log'"
kindling_stop
finish
