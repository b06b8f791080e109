#!/usr/bin/env bash
# test_http_hardening.sh - the HTTP layer's defences (issue 12), one group per
# defect, each failing on the code before the fix:
#   cross-site  state changes refused when a browser says another site sent them
#   host        DNS rebinding: only the names kindling is known by (421 otherwise)
#   listen      a non-loopback --listen without a token never accepts a connection
#   framing     Content-Length + Transfer-Encoding, unknown codings, bad chunks,
#               --header-max exactly, libmicrohttpd's own errors as problem+json
#   secret-405  no discovery token in a 405's detail
#   public-url  the URL handed out with --listen port 0 is final before serving
#   sigterm     requests still parked at the end of --drain-timeout get a 503, exit 0
#   ipv6        --listen [::1]:0 end to end
#   flags-env   flags win over KINDLING_* variables
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# the harness of main declares plans (with it every kindling_stop is a check too)
if declare -F plan >/dev/null; then plan 86; fi

HEX32='[0-9a-f]{32}'

# raw PY_STRING [TIMEOUT] - writes the bytes (Python escapes) to a fresh
# connection and prints what comes back until the server closes, then a line
# "<closed after S s>" or "<open after S s>" (nothing came for TIMEOUT s).
raw() {
	python3 - "$PORT" "$1" "${2:-3}" <<'EOF'
import socket, sys, time
port, data, to = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
data = data.encode("latin-1").decode("unicode_escape").encode("latin-1")
s = socket.create_connection(("127.0.0.1", port), timeout=to)
t = time.time()
s.sendall(data)
buf, end = b"", "open"
try:
    while True:
        c = s.recv(65536)
        if not c:
            end = "closed"
            break
        buf += c
except socket.timeout:
    pass
except OSError:
    end = "closed"
sys.stdout.write(buf.decode("latin-1"))
print("\n<%s after %.1f s>" % (end, time.time() - t))
EOF
}

# problem_of TEXT STATUS - TEXT (a raw answer) is exactly one response: status
# STATUS, application/problem+json whose .status is STATUS.
problem_of() {
	python3 - "$2" <<EOF
import json, re, sys
want = int(sys.argv[1])
a = open("$1", "rb").read().decode("latin-1")
a = a[: a.rfind("\n<")]
if len(re.findall(r"(?:^|\n)HTTP/1\.1 \d{3} ", a)) != 1 or not a.startswith("HTTP/1.1 %d " % want):
    sys.exit("want one status line %d, got: %r" % (want, a[:300]))
head, body = a.split("\r\n\r\n", 1)
if "content-type: application/problem+json" not in head.lower():
    sys.exit("not problem+json: %r" % head)
j = json.loads(body)
if j.get("status") != want or not j.get("type") or not j.get("detail"):
    sys.exit("bad problem: %r" % j)
EOF
}

# is_problem STATUS - the last api answer is problem+json with that status.
is_problem() {
	[ "$STATUS" = "$1" ] && [ "$(header Content-Type)" = application/problem+json ] &&
		[ "$(jqb .status)" = "$1" ] && [ -n "$(jqb .detail)" ]
}

dir_count() { sqlite3 -readonly "$T/db/kindling.db" 'SELECT count(*) FROM discovery_tokens'; }
fetch_token() {
	curl -s "${AUTH[@]}" "$BASE/clusters/$1/userdata" |
		jq -r '.ignition.config.replace.httpHeaders[0].value'
}

# ==== cross-site: every state change refuses what a page on another site can send ====
group_cross_site() {
	# run twice: without an admin token, and with one (a browser attaches cached
	# Basic credentials to a cross-site form post, so credentials prove nothing)
	ADMIN=adm1n-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$ADMIN" >"$T/admin-token"
	for mode in open token; do
		AUTH=()
		if [ $mode = token ]; then
			kindling_start --admin-token-file "$T/admin-token" || { fail "cross-site: kindling starts"; return; }
			AUTH=(-H "Authorization: Bearer $ADMIN")
		else
			kindling_start || { fail "cross-site: kindling starts"; return; }
		fi
		post_json /clusters '{"name":"xs","size":1}' "${AUTH[@]}"
		expect "cross-site ($mode): a create from curl works" 201
		TOK0=$(fetch_token xs)
		n=0
		for marker in "Sec-Fetch-Site: cross-site" "Sec-Fetch-Site: same-site" \
			"Origin: http://evil.example" "Origin: null" "Origin: http://127.0.0.1:1" \
			"Referer: http://evil.example/page?x=1" "Content-Type: text/plain" \
			"Content-Type: application/x-www-form-urlencoded" "Content-Type: multipart/form-data; boundary=b"; do
			api POST /clusters/xs/token "${AUTH[@]}" -H "$marker" --data-binary ''
			if is_problem 403 && [ "$(jqb .type)" = urn:kindling:problem:cross-site-request ]; then
				n=$((n + 1))
			else
				fail "cross-site ($mode): token rotation with $marker is refused (status $STATUS)"
			fi
		done
		check_that "cross-site ($mode): token rotation refused 403 for 9 browser markers ($n)" '[ $n = 9 ]'
		check_that "cross-site ($mode): the fetch token did not change" '[ "$(fetch_token xs)" = "$TOK0" ]'
		api POST /clusters/xs/token "${AUTH[@]}"
		expect "cross-site ($mode): plain curl -X POST still rotates" 200
		api POST /clusters/xs/token "${AUTH[@]}" -H "Origin: $BASE" -H 'Sec-Fetch-Site: same-origin'
		expect "cross-site ($mode): kindling's own origin may rotate" 200
		api POST /clusters/xs/token "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '{}'
		expect "cross-site ($mode): a JSON body from curl may rotate" 200

		D0=$(dir_count)
		for marker in "Sec-Fetch-Site: cross-site" "Sec-Fetch-Site: same-site" "Origin: http://evil.example" \
			"Referer: http://evil.example/"; do
			api GET '/new?size=3' "${AUTH[@]}" -H "$marker" -H 'Sec-Fetch-Dest: image' -H 'Sec-Fetch-Mode: no-cors'
			is_problem 403 || fail "cross-site ($mode): GET /new (an <img>) with $marker is refused (status $STATUS)"
			api POST '/new?size=3' "${AUTH[@]}" -H "$marker"
			is_problem 403 || fail "cross-site ($mode): POST /new with $marker is refused (status $STATUS)"
		done
		check_that "cross-site ($mode): no discovery URL allocated cross-site" '[ "$(dir_count)" = "$D0" ]'
		api GET '/new?size=3' "${AUTH[@]}" -H 'Sec-Fetch-Site: none'
		expect "cross-site ($mode): GET /new typed into the address bar works" 200
		api GET '/new?size=3' "${AUTH[@]}"
		expect "cross-site ($mode): GET /new from curl works" 200

		api POST /clusters "${AUTH[@]}" -H 'Content-Type: text/plain' --data-binary '{"name":"xs2","size":1}'
		check_that "cross-site ($mode): a create posted as text/plain (a form) is refused, nothing stored" \
			'is_problem 415 && [ "$(curl -s "${AUTH[@]}" -o /dev/null -w "%{http_code}" "$BASE/clusters/xs2")" = 404 ]'
		api PATCH /clusters/xs "${AUTH[@]}" -H 'Origin: http://evil.example' \
			-H 'Content-Type: application/merge-patch+json' --data-binary '{"vars":{}}'
		check "cross-site ($mode): PATCH from another origin is 403" is_problem 403
		api DELETE /clusters/xs "${AUTH[@]}" -H 'Sec-Fetch-Site: cross-site'
		check "cross-site ($mode): DELETE from another site is 403" is_problem 403
		FORM='Content-Type: application/x-www-form-urlencoded'
		api POST /clusters/xs/delete "${AUTH[@]}" -H "$FORM" -H 'Origin: http://evil.example' --data 'confirm=xs'
		check "cross-site ($mode): the delete form from another origin is 403 problem+json" is_problem 403
		api POST /clusters/xs/delete "${AUTH[@]}" -H "$FORM" --data 'confirm=xs'
		check "cross-site ($mode): the delete form without Origin or Referer is 403" is_problem 403
		api GET /clusters/xs "${AUTH[@]}"
		expect "cross-site ($mode): the cluster is still there" 200
		api POST /clusters/xs/delete "${AUTH[@]}" -H "$FORM" -H "Origin: $BASE" -H 'Sec-Fetch-Site: same-origin' \
			--data 'confirm=xs'
		check_that "cross-site ($mode): the delete form on kindling's page still deletes (303)" \
			'[ "$STATUS $(header Location)" = "303 /" ]'
		kindling_stop
	done
}

# ==== host: DNS rebinding — only names kindling is known by =========================
group_host() {
	kindling_start --allow-host kindling.example,Other.Example --allow-host third.example \
		--public-url http://pub.example:8443 || { fail "host: kindling starts"; return; }
	api GET /healthz -H 'Host: evil.example'
	check_that "host: an unknown Host is 421 problem+json naming it and --allow-host" \
		'is_problem 421 && [[ $(jqb .detail) == *evil.example*--allow-host* ]]'
	api GET /clusters/x/ignition -H "Host: evil.example:$PORT" -H 'Authorization: Bearer x'
	check "host: node routes too (421)" is_problem 421
	for h in "127.0.0.1:$PORT" "localhost:$PORT" "LOCALHOST" "[::1]:$PORT" "10.9.8.7" \
		"kindling.example" "other.example:1" "third.example." "pub.example:8443"; do
		api GET /healthz -H "Host: $h"
		[ "$STATUS" = 200 ] || fail "host: Host $h is answered (status $STATUS)"
	done
	pass "host: IP literals, localhost, --allow-host names and the --public-url host are answered"
	api GET /healthz -H 'Host: a b'
	check "host: an invalid Host is 400" is_problem 400
	raw 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' >"$T/nohost"
	check "host: HTTP/1.1 without Host is 400 problem+json" problem_of "$T/nohost" 400
	raw 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n' >"$T/twohost"
	check "host: two Host headers are 400" problem_of "$T/twohost" 400
	kindling_stop
	KINDLING_ALLOW_HOST=env.example kindling_start || { fail "host: kindling starts"; return; }
	api GET /healthz -H 'Host: env.example'
	expect "host: KINDLING_ALLOW_HOST adds a name" 200
	kindling_stop
	if "$KINDLING_BIN" --listen 127.0.0.1:0 --db "$T/db/k2.db" --allow-host 'kindling.example:80' 2>"$T/ah.log"; then
		fail "host: --allow-host with a port is refused"
	else
		check "host: --allow-host with a port is refused with a reason" grep -q 'no port' "$T/ah.log"
	fi
}

# ==== listen: no connection is ever accepted before the token check refuses =====
group_listen() {
	P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$T/probe.py" <<-'EOF'
	import socket, subprocess, sys
	argv, port = sys.argv[2:], int(sys.argv[1])
	p = subprocess.Popen(argv, stderr=open(sys.argv[0] + ".log", "w"))
	connects, answers = 0, []
	socks = []
	while p.poll() is None:
	    s = socket.socket()
	    s.settimeout(0.5)
	    try:
	        s.connect(("127.0.0.1", port))
	        connects += 1
	        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	        socks.append(s)
	    except OSError:
	        s.close()
	for s in socks:
	    try:
	        b = s.recv(100)
	        if b:
	            answers.append(b.split(b"\r\n")[0].decode())
	    except OSError:
	        pass
	print(p.returncode, connects, len(answers))
	EOF
	bad=0
	for i in 1 2 3 4 5; do
		read -r rc connects answers < <(python3 "$T/probe.py" "$P" "$KINDLING_BIN" --listen "0.0.0.0:$P" \
			--db "$T/db/listen.db" --templates templates --threads 2)
		if [ "$rc" = 0 ] || [ "$connects" != 0 ] || [ "$answers" != 0 ]; then
			bad=$((bad + 1))
			echo "# run $i: exit $rc, $connects connections accepted, $answers answered"
		fi
	done
	check_that "listen: --listen 0.0.0.0 without a token exits non-zero and never accepts a connection (5 runs)" \
		'[ $bad = 0 ]'
	check "listen: it says why" grep -q "refusing to listen on 0.0.0.0:$P without an admin token" "$T/probe.py.log"
}

# ==== framing (RFC 9112) =========================================================
group_framing() {
	kindling_start --header-max 8192 || { fail "framing: kindling starts"; return; }
	raw 'POST /clusters/x/token HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' 2 >"$T/tecl"
	check "framing: Transfer-Encoding + Content-Length is one 400 problem+json" problem_of "$T/tecl" 400
	check_that "framing: ... and the connection is closed after it (no pipelined answer)" \
		'grep -qi "^Connection: close" "$T/tecl" && grep -q "<closed" "$T/tecl"'
	for te in 'gzip, chunked' 'xyz' 'chunked, gzip'; do
		raw "POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: $te\r\n\r\n2\r\n{}\r\n0\r\n\r\n" 5 >"$T/te"
		check_that "framing: Transfer-Encoding: $te is 501 problem+json at once, not a hang" \
			'problem_of "$T/te" 501 && grep -qE "<closed after [01]\." "$T/te"'
	done
	raw 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n' >"$T/chunk"
	check "framing: a bad chunk is one 400 problem+json (was libmicrohttpd's HTML)" problem_of "$T/chunk" 400
	eventually 2 grep -q 'POST /clusters 400 .* 127.0.0.1' "$T/kindling.log"
	check "framing: ... logged as a request line with its status" grep -q 'POST /clusters 400 ' "$T/kindling.log"
	raw 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n' >"$T/cl"
	check "framing: Content-Length -1 is one 400 problem+json (was two status lines)" problem_of "$T/cl" 400
	raw 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999\r\n\r\n' >"$T/cl2"
	check "framing: a Content-Length past 2^64 is one 413 problem+json" problem_of "$T/cl2" 413
	raw 'POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n' >"$T/ws"
	check "framing: whitespace before a header's colon is 400 problem+json (RFC 9112 5.1)" problem_of "$T/ws" 400
	raw 'GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' >"$T/te10"
	check "framing: Transfer-Encoding in HTTP/1.0 is 400" problem_of "$T/te10" 400
	# --header-max: request line + header lines with CRLFs + the empty line
	cat >"$T/hsize.py" <<-'EOF'
	import socket, sys
	port, total, nh = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
	base = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
	rest = total - len(base) - 2
	per = rest // nh
	lines = []
	for i in range(nh):
	    n = per if i < nh - 1 else rest - per * (nh - 1)
	    name = "X-H%d: " % i
	    lines.append(name + "a" * (n - len(name) - 2) + "\r\n")
	head = (base + "".join(lines) + "\r\n").encode()
	assert len(head) == total
	s = socket.create_connection(("127.0.0.1", port), timeout=5)
	s.sendall(head)
	b = b""
	while True:
	    c = s.recv(65536)
	    if not c:
	        break
	    b += c
	st = b.split(b" ")[1].decode() if b else "none"
	ok = st != "431" or (b"application/problem+json" in b and b.count(b"HTTP/1.1 ") == 1)
	print(st if ok else "431-not-problem")
	EOF
	hm=""
	for nh in 1 20 100 250; do
		hm="$hm $nh:$(python3 "$T/hsize.py" "$PORT" 8192 "$nh")/$(python3 "$T/hsize.py" "$PORT" 8193 "$nh")"
	done
	check_that "framing: --header-max 8192 is exact: 8192 bytes pass, 8193 get 431 problem+json, with 1..250 fields ($hm)" \
		'[ "$hm" = " 1:200/431 20:200/431 100:200/431 250:200/431" ]'
	raw "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: $(head -c 65536 /dev/zero | tr '\0' a)\r\n\r\n" >"$T/big"
	check "framing: a 64 KiB header (past libmicrohttpd's memory) is one 431 problem+json" problem_of "$T/big" 431
	kindling_stop
	# aborted uploads give their --bodies-max share back at once
	kindling_start --bodies-max 1 || { fail "framing: kindling starts"; return; }
	cat >"$T/abort.py" <<-'EOF'
	import socket, sys, time
	port, chunked = int(sys.argv[1]), sys.argv[2] == "chunked"
	for i in range(4):
	    s = socket.create_connection(("127.0.0.1", port), timeout=5)
	    if chunked:
	        s.sendall(b"POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
	        s.sendall(b"%x\r\n" % 700000 + b" " * 700000 + b"\r\n")
	    else:
	        s.sendall(b"POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
	        s.sendall(b" " * 700000)
	    time.sleep(0.3)
	    s.close()
	time.sleep(0.2)
	s = socket.create_connection(("127.0.0.1", port), timeout=5)
	s.sendall(b"POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 600000\r\nConnection: close\r\n\r\n" + b" " * 600000)
	print(s.recv(200).split(b" ")[1].decode())
	EOF
	for how in length chunked; do
		got=$(python3 "$T/abort.py" "$PORT" $how)
		check_that "framing: 4 aborted 700 KB uploads ($how) leave --bodies-max 1 free for the next (got $got, not 503)" \
			'[ "$got" = 400 ]'
	done
	kindling_stop
}

# ==== secret-405: no discovery token in a problem detail ===========================
group_secret_405() {
	kindling_start || { fail "secret-405: kindling starts"; return; }
	post_json /clusters '{"name":"sec","size":1}'
	DTOK=$(jqb .discovery_url | sed 's|.*/||')
	api DELETE "/discovery/$DTOK"
	check_that "secret-405: DELETE /discovery/TOKEN is 405 showing the pattern, not the token" \
		'is_problem 405 && [[ $(jqb .detail) != *$DTOK* ]] && [[ $(jqb .detail) == */discovery/\{token\}* ]]'
	api POST "/discovery/$DTOK/0123456789abcdef"
	check_that "secret-405: POST on a member key neither" 'is_problem 405 && ! grep -q "$DTOK" "$BODY"'
	api DELETE "/discovery/$DTOK/x/y/z"
	check_that "secret-405: nor on a deeper path" '[ "$STATUS" = 405 ] && ! grep -q "$DTOK" "$BODY"'
	check "secret-405: and the log has no token" bash -c "! grep -q '$DTOK' '$T/kindling.log'"
	kindling_stop
}

# ==== public-url: the URL is set before the port listens ==========================
group_public_url() {
	# The old order (serve, then set the URL for port 0) is a data race that
	# ThreadSanitizer reports (main.c set_public_url vs api_discovery_new); here:
	# the first request the moment the port listens gets the final URL.
	cat >"$T/first.py" <<-'EOF'
	import os, re, socket, subprocess, sys
	p = subprocess.Popen(sys.argv[1:], stderr=subprocess.DEVNULL)
	def port():
	    inodes = set()
	    try:
	        for fd in os.listdir("/proc/%d/fd" % p.pid):
	            try:
	                m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (p.pid, fd)))
	            except OSError:
	                continue
	            if m:
	                inodes.add(m.group(1))
	    except OSError:
	        return None
	    for line in open("/proc/net/tcp").read().splitlines()[1:]:
	        f = line.split()
	        if f[3] == "0A" and f[9] in inodes:
	            return int(f[1].split(":")[1], 16)
	while p.poll() is None:
	    n = port()
	    if n:
	        break
	s = socket.create_connection(("127.0.0.1", n))
	s.sendall(b"GET /new HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	b = b""
	while True:
	    c = s.recv(4096)
	    if not c:
	        break
	    b += c
	body = b.split(b"\r\n\r\n", 1)[1].decode()
	print("ok" if body.startswith("http://127.0.0.1:%d/discovery/" % n) else body)
	p.terminate()
	p.wait()
	EOF
	bad=""
	for i in 1 2 3 4 5; do
		got=$(python3 "$T/first.py" "$KINDLING_BIN" --listen 127.0.0.1:0 --db "$T/db/url.db" --templates templates --threads 2)
		[ "$got" = ok ] || bad="$bad $got"
	done
	check_that "public-url: with port 0 the first request gets http://127.0.0.1:PORT/... (5 runs)$bad" '[ -z "$bad" ]'
}

# ==== sigterm: parked requests answered 503 at the end of the drain, exit 0 =========
group_sigterm() {
	cat >"$T/silent.py" <<-'EOF'
	import socket, sys
	s = socket.socket()
	s.bind(("127.0.0.1", 0))
	s.listen(64)
	print(s.getsockname()[1], flush=True)
	held = []
	while True:
	    held.append(s.accept()[0])  # read nothing, answer nothing
	EOF
	python3 "$T/silent.py" >"$T/silent.port" &
	PIDS_TO_STOP+=($!)
	eventually 5 test -s "$T/silent.port"
	SILENT=$(cat "$T/silent.port")
	kindling_start --discovery-upstream "http://127.0.0.1:$SILENT" --upstream-timeout-ms 30000 \
		--drain-timeout 1 || { fail "sigterm: kindling starts"; return; }
	api GET '/new?size=3'
	WTOK=$(sed 's|.*/||' "$BODY")
	curl -s -o "$T/watch.out" -w '%{http_code}' --max-time 20 "$BASE/discovery/$WTOK?wait=true" >"$T/watch.status" &
	W=$!
	CREATES=()
	for i in 1 2; do
		curl -s -D "$T/create$i.h" -o "$T/create$i.out" -w '%{http_code}' --max-time 20 -X POST "$BASE/clusters" \
			-H 'Content-Type: application/json' --data-binary "{\"name\":\"parked$i\",\"size\":1}" >"$T/create$i.status" &
		CREATES+=($!)
	done
	sleep 1
	KP=$KPID
	kill -TERM "$KP"
	rc=0
	wait "$KP" || rc=$?
	KPID=""
	wait "$W" "${CREATES[@]}"
	check_that "sigterm: kindling exits 0 with requests parked behind a silent upstream (rc $rc; was 134)" '[ $rc = 0 ]'
	check "sigterm: no sanitizer report" sanitizer_clean "$T/kindling.log"
	check_that "sigterm: the watch got its empty 200" '[ "$(cat "$T/watch.status")" = 200 ]'
	for i in 1 2; do
		check_that "sigterm: parked create $i got 503 problem+json with Retry-After" \
			'[ "$(cat "$T/create$i.status")" = 503 ] && jq -e ".status == 503" "$T/create$i.out" >/dev/null && grep -qi "^Retry-After: [0-9]" "$T/create$i.h"'
	done
	n=$(sqlite3 -readonly "$T/db/kindling.db" "SELECT count(*) FROM clusters WHERE name LIKE 'parked%'")
	check_that "sigterm: nothing was stored for them ($n)" '[ "$n" = 0 ]'
}

# ==== ipv6: --listen [::1]:0 end to end ==========================================
group_ipv6() {
	if ! ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
		echo "# no ::1 on lo: skipping the IPv6 group"
		if declare -F skip_or_fail >/dev/null; then skip_or_fail 4 "no ::1 on lo"; fi
	else
		kindling_start --listen '[::1]:0' || { fail "ipv6: kindling starts"; return; }
		BASE="http://[::1]:$PORT"
		post_json /clusters '{"name":"six","size":1}' -g
		check_that "ipv6: a create over [::1] hands out http://[::1]:PORT URLs" \
			'[ "$STATUS" = 201 ] && [[ $(jqb .discovery_url) =~ ^http://\[::1\]:$PORT/discovery/$HEX32$ ]]'
		TOKEN=$(curl -sg "$BASE/clusters/six/userdata" | jq -r '.ignition.config.replace.httpHeaders[0].value')
		api GET /clusters/six/ignition -g -H "Authorization: $TOKEN"
		check_that "ipv6: the node fetch works over [::1]" '[ "$STATUS" = 200 ] && jq -e .ignition "$BODY" >/dev/null'
		check "ipv6: 127.0.0.1 is not listened on" bash -c "! curl -s --max-time 2 http://127.0.0.1:$PORT/healthz"
		kindling_stop
	fi
}

# ==== flags-env: flags win over KINDLING_* =========================================
group_flags_env() {
	# kindling_start passes --listen 127.0.0.1:0 and --threads 2 as flags
	KINDLING_LISTEN=127.0.0.1:1 KINDLING_THREADS=7 KINDLING_DRAIN_TIMEOUT=3 kindling_start || { fail "flags-env: kindling starts"; return; }
	check "flags-env: --listen wins over KINDLING_LISTEN" grep -q 'listening on 127.0.0.1:0 (port' "$T/kindling.log"
	check "flags-env: --threads wins over KINDLING_THREADS" grep -q ', 2 threads' "$T/kindling.log"
	kindling_stop
	KINDLING_ALLOW_HOST=env.example kindling_start --allow-host flag.example || { fail "flags-env: kindling starts"; return; }
	api GET /healthz -H 'Host: flag.example'
	expect "flags-env: --allow-host applies" 200
	api GET /healthz -H 'Host: env.example'
	expect "flags-env: --allow-host replaces KINDLING_ALLOW_HOST's list (like --templates)" 421
	kindling_stop
}

group_cross_site
group_host
group_listen
group_framing
group_secret_405
group_public_url
group_sigterm
group_ipv6
group_flags_env
finish
