#!/usr/bin/env bash
# test_pages.sh - the browser pages: content negotiation, headers, escaping,
# the delete form's guards and the static files with curl; then the real
# pages in Debian's headless Chromium driven by playwright-core
# (tests/browser/pages.test.mjs), with and without an admin token.
# Screenshots go to build/screenshots/ (SHOTS=DIR to change). The browser
# part needs Debian's nodejs, npm and chromium (TEST_DEBS): without them it is
# skipped, or FAILs under CI=true.
source "$(dirname "$0")/lib.sh"
# the checks of tests/browser/pages.test.mjs, per MODE (it prints one line per step)
declare -A BROWSER_CHECKS=([empty]=1 [pages]=19 [auth]=3)
plan 89

SHOTS=${SHOTS:-$PWD/build/screenshots}
BROWSER_UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36'
BROWSER_ACCEPT='text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'
IGNITION_ACCEPT='application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1'
XSS='<script>alert(1)</script> "double" '"'single'"' </textarea><b>bold</b>'

# lock_version - the playwright-core version package-lock.json pins.
lock_version() { jq -r '.packages["node_modules/playwright-core"].version' tests/browser/package-lock.json; }
# installed_version - the one in tests/browser/node_modules ("" when none).
installed_version() { jq -r .version tests/browser/node_modules/playwright-core/package.json 2>/dev/null; }

# browser_ready - node, npm, Chromium, and playwright-core as locked (npm ci
# when it is missing or another version). Prints why not, when not.
browser_ready() {
	local m
	m=$(missing_tools node npm /usr/bin/chromium) || {
		echo "needs $m (Debian: nodejs npm chromium)"
		return 1
	}
	echo "# browser: node $(node --version) ($(command -v node)), npm $(npm --version), $(/usr/bin/chromium --version 2>/dev/null)" >&2
	if [ "$(installed_version)" != "$(lock_version)" ]; then
		(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) >&2 || {
			echo "npm ci in tests/browser failed"
			return 1
		}
	fi
}

# run_browser MODE - runs the browser test in MODE; its PASS/FAIL lines are
# this script's checks (BROWSER_CHECKS[MODE] of them). Without a browser:
# those checks are skipped (a FAIL under CI).
run_browser() {
	local out="$T/browser-$1.out" rc=0 n=${BROWSER_CHECKS[$1]}
	if [ "$BROWSER" != ready ]; then
		skip_or_fail "$n" "browser checks ($1): $BROWSER_WHY"
		return
	fi
	BASE=$BASE MODE=$1 SHOTS=$SHOTS TOKEN=${TOKEN:-} XSS=$XSS \
		timeout 300 node tests/browser/pages.test.mjs >"$out" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL) ' "$out"
	PASSES=$((PASSES + $(grep -c '^PASS ' "$out")))
	FAILS=$((FAILS + $(grep -c '^FAIL ' "$out")))
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		fail "browser test $1 exited $rc"
		tail -30 "$out" >&2
	elif grep -q '^FAIL ' "$out"; then
		grep -vE '^(PASS|FAIL) ' "$out" | tail -30 >&2
	fi
}

mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
kindling_start || exit 1

# ---- curl: the empty state, negotiation, headers ------------------------------
api GET / -H "Accept: $BROWSER_ACCEPT"
expect "GET / answers 200" 200
check "GET / is HTML" [ "$(header Content-Type)" = "text/html; charset=utf-8" ]
check "the empty state shows the curl command with the public URL" \
	grep -qF "curl -s -X POST $BASE/clusters" "$BODY"
check "HTML has the Content-Security-Policy" [ "$(header Content-Security-Policy)" = \
	"default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'" ]
check "HTML has nosniff and Referrer-Policy same-origin" \
	[ "$(header X-Content-Type-Options) $(header Referrer-Policy)" = "nosniff same-origin" ]
check "HTML pages are not cached" [ "$(header Cache-Control)" = no-store ]
api GET / -H 'Accept: application/json'
check "GET / is HTML even for a JSON client (no redirect)" \
	[ "$STATUS $(header Content-Type)" = "200 text/html; charset=utf-8" ]
api HEAD / -I
check "HEAD / answers 200" [ "$STATUS" = 200 ]
BROWSER=missing
if BROWSER_WHY=$(browser_ready); then BROWSER=ready; fi
run_browser empty

post_json /clusters "$(jq -nc --arg x "$XSS" \
	'{name: "xss", size: 3, profiles: ["etcd", "rabbitmq"], vars: {rabbitmq_admin_user: $x}}')"
expect "a cluster with HTML in its vars is created" 201
created=0
for i in $(seq -w 1 30); do
	post_json /clusters "{\"name\":\"c$i\",\"size\":3}" >/dev/null
	[ "$STATUS" = 201 ] && created=$((created + 1))
done
check "30 more clusters c01-c30 created ($created)" [ "$created" = 30 ]
post_json /clusters '{"name":"doomed","size":1}'
expect "create the cluster that curl deletes" 201
# c07 gets generations 2 and 3 for the history, diff and rollback pages
for v in 20 30; do
	curl -s -o /dev/null -X PATCH -H 'Content-Type: application/json' \
		--data-binary "{\"vars\": {\"etcd_join_retry\": \"$v\"}}" "$BASE/clusters/c07"
done
# A member in discovery and two config fetches for the detail page.
DISC=$(curl -s "$BASE/clusters/xss" | jq -r .discovery_url)
api PUT "${DISC#"$BASE"}/8e9e05c52164694d?prevExist=false" \
	--data-urlencode "value=node1=http://10.0.0.1:2380,node1=http://10.0.0.2:2380"
expect "a member registers in discovery" 201
FETCH_TOKEN=$(curl -s "$BASE/clusters/xss/userdata" | jq -r '.ignition.config.replace.httpHeaders[0].value')
api GET /clusters/xss/ignition -H "Authorization: $FETCH_TOKEN" -A 'Ignition/Debian 2.14.0+ds1-1+b6' \
	-H "Accept: $IGNITION_ACCEPT"
expect "a node fetches its config" 200
api GET /clusters/xss/ignition -A 'Ignition/v2.17.0'
expect "a fetch without the token is refused (and logged)" 401

for path in /clusters /clusters/xss; do
	api GET "$path"
	check "GET $path without Accept is JSON" \
		[ "$STATUS $(header Content-Type) $(jqb 'type')" = "200 application/json object" ]
	api GET "$path" -H 'Accept: application/json'
	check "GET $path with Accept: application/json is JSON" \
		[ "$STATUS $(header Content-Type) $(jqb 'type')" = "200 application/json object" ]
	api GET "$path" -H 'Accept: */*'
	check "GET $path with Accept: */* is JSON" [ "$(header Content-Type)" = application/json ]
	api GET "$path" -H "Accept: $IGNITION_ACCEPT"
	check "GET $path with Ignition's Accept is JSON" [ "$(header Content-Type)" = application/json ]
	api GET "$path" -H "Accept: $BROWSER_ACCEPT" -A "$BROWSER_UA"
	check "GET $path from a browser is HTML" \
		[ "$STATUS $(header Content-Type)" = "200 text/html; charset=utf-8" ]
	check "GET $path varies on Accept" [ "$(header Vary)" = Accept ]
	check "GET $path HTML has no inline script or event handler" \
		bash -c "! grep -qiE '<script>|<script [^>]*>[^<]|[[:space:]]on[a-z]+=|style=' '$BODY'"
done

api GET /clusters/xss -H "Accept: $BROWSER_ACCEPT"
check "vars are escaped on the detail page" \
	grep -qF '&lt;script&gt;alert(1)&lt;/script&gt; &quot;double&quot; &#39;single&#39; &lt;/textarea&gt;&lt;b&gt;bold&lt;/b&gt;' "$BODY"
check "no raw <script>alert on the detail page" bash -c "! grep -qF '<script>alert' '$BODY'"
check "the pointer (fetch token) is hidden until revealed" \
	bash -c "! grep -qF '${FETCH_TOKEN#Bearer }' '$BODY'"
check "the rendered config masks the secrets" grep -qF 'hiddenUntilRevealed' "$BODY"
check "the fetch log shows the Ignition version from the User-Agent" \
	grep -qF 'title="Ignition/Debian 2.14.0+ds1-1+b6">2.14.0<' "$BODY"
check "the members table lists the member's peer URLs" \
	grep -qF '<code>http://10.0.0.1:2380</code><br><code>http://10.0.0.2:2380</code>' "$BODY"
api GET '/clusters/xss?reveal=1' -H "Accept: $BROWSER_ACCEPT"
check "revealed, the pointer holds the fetch token" grep -qF "${FETCH_TOKEN#Bearer }" "$BODY"
B64=$(curl -s "$BASE/clusters/xss/userdata?format=base64")
check "the base64 pointer equals GET /userdata?format=base64" grep -qF ">$B64</pre>" "$BODY"
api GET /clusters/nope -H "Accept: $BROWSER_ACCEPT"
check "an unknown cluster is an HTML 404 for a browser" \
	[ "$STATUS $(header Content-Type)" = "404 text/html; charset=utf-8" ]
api GET /clusters/nope
check "an unknown cluster is problem+json for curl" \
	[ "$STATUS $(header Content-Type)" = "404 application/problem+json" ]
api GET '/?sort=sideways' -H "Accept: $BROWSER_ACCEPT"
expect "a bad sort is an HTML 422" 422

# ---- curl: the static files ------------------------------------------------------
api GET /static/kindling.css
check "the stylesheet is served as text/css" \
	[ "$STATUS $(header Content-Type)" = "200 text/css; charset=utf-8" ]
ETAG=$(header ETag)
check "the stylesheet has an ETag" [ -n "$ETAG" ]
VERSION=$(curl -s "$BASE/" | grep -o 'kindling.css?v=[0-9a-f]*' | head -1 | cut -d= -f2)
check "pages link the stylesheet with its version" [ "\"$VERSION\"" = "$ETAG" ]
api GET "/static/kindling.css?v=$VERSION"
check "the versioned stylesheet is cached for a year" \
	[ "$(header Cache-Control)" = "public, max-age=31536000, immutable" ]
api GET /static/kindling.css -H "If-None-Match: $ETAG"
expect "If-None-Match answers 304" 304
api GET /static/kindling.js
check "the script is served as JavaScript" \
	[ "$STATUS $(header Content-Type)" = "200 text/javascript; charset=utf-8" ]
api GET /static/favicon.svg
check "the icon is served as SVG" [ "$STATUS $(header Content-Type)" = "200 image/svg+xml" ]
api GET /static/nope.css
expect "an unknown static file is 404" 404
api GET /static/..%2Fhtml.c
expect "no path escapes the embedded files" 404

# ---- curl: the delete form's guards ------------------------------------------------
FORM='Content-Type: application/x-www-form-urlencoded'
api POST /clusters/doomed/delete -H "$FORM" --data 'confirm=doomed'
expect "delete without Origin or Referer is 403" 403
api POST /clusters/doomed/delete -H "$FORM" -H 'Origin: http://evil.example' --data 'confirm=doomed'
expect "delete from another origin is 403" 403
api POST /clusters/doomed/delete -H "$FORM" -H "Referer: http://evil.example/clusters/doomed" --data 'confirm=doomed'
expect "delete with another site's Referer is 403" 403
api POST /clusters/doomed/delete -H "$FORM" -H "Origin: $BASE" --data 'confirm=doome'
expect "delete with the wrong confirmation is 422" 422
api POST /clusters/doomed/delete -H "$FORM" -H "Origin: $BASE"
expect "delete without a confirmation is 422" 422
api GET /clusters/doomed
expect "nothing was deleted" 200
api POST /clusters/doomed/delete -H "$FORM" -H "Origin: $BASE" --data 'confirm=doomed'
check "delete with the name answers 303 to /" [ "$STATUS $(header Location)" = "303 /" ]
api GET /clusters/doomed
expect "the cluster is gone" 404
api GET /clusters/doomed/ignition -H "Authorization: Bearer x"
expect "its config is gone" 404

# ---- the browser --------------------------------------------------------------------
run_browser pages
kindling_stop

# ---- with an admin token: Basic for browsers ---------------------------------------
TOKEN=adm1n-$RANDOM-$RANDOM-token
printf '%s\n' "$TOKEN" >"$T/admin-token"
kindling_start --admin-token-file "$T/admin-token" || exit 1
api GET / -H "Accept: $BROWSER_ACCEPT"
check "with a token, / answers 401 with a Basic challenge" \
	bash -c "[ '$STATUS' = 401 ] && grep -qi '^WWW-Authenticate: Basic realm=\"kindling\"' '$HEADERS'"
api GET / -u "ops:$TOKEN"
expect "with a token, Basic with the token as password opens /" 200
api GET /static/kindling.css
expect "the static files stay public" 200
for n in guarded guarded2; do
	api POST /clusters -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
		--data-binary "{\"name\":\"$n\",\"size\":1}"
	expect "create $n with the token" 201
done
api POST /clusters/guarded/delete -H "$FORM" -H "Origin: $BASE" --data 'confirm=guarded'
expect "the delete form needs the token too" 401
run_browser auth
kindling_stop
echo "# screenshots in $SHOTS"
finish
