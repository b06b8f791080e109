#!/usr/bin/env bash
# shellcheck disable=SC2016 # check_that takes single-quoted expressions, evaluated later
# test_events.sh - GET /clusters/NAME/events, a cluster's events as
# Server-Sent Events (issue 18, item 1 and acceptance 3), with curl -N as an
# operator would: every kind of event arrives live (a node's config fetch, a
# member registration, a change, a rotation, the delete, which ends the
# stream); a stream reconnecting with Last-Event-ID gets what it missed; an
# id of an earlier kindling gets a "gap" event and what is still kept; a bad
# Last-Event-ID is a 400 problem+json; node-supplied text (the User-Agent) is
# JSON-escaped so it cannot break the framing; --max-event-streams answers
# 503 with Retry-After; the operator token is required; SIGTERM ends open
# streams and kindling exits 0.
# timeout: 300
source "$(dirname "$0")/lib.sh"
plan 32

SPIDS=()
# stream NAME FILE [CURL-ARG...] - follows NAME's events into FILE (background).
stream() {
	local name=$1 file=$2
	shift 2
	curl -sN --max-time 120 "$@" "$BASE/clusters/$name/events" >"$file" 2>&1 &
	SPIDS+=($!)
}
# has FILE TEXT - FILE holds TEXT.
has() { grep -qF -- "$2" "$1"; }
token_of() { jq -r '.pointer.ignition.config.replace.httpHeaders[0].value' "$1"; }
stop_streams() {
	local p
	for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	SPIDS=()
}

kindling_start --event-keepalive 1 --max-event-streams 3 || exit 1
post_json /clusters '{"name":"ev","size":3}'
cp "$BODY" "$T/ev.json"
expect "create cluster ev" 201
TOKEN=$(token_of "$T/ev.json")
DISC=$(jq -r .discovery_url "$T/ev.json")

api GET /clusters/nosuch/events
check_that "a stream of a cluster that does not exist is 404 problem+json" \
	'[ "$STATUS" = 404 ] && [ "$(header Content-Type)" = application/problem+json ]'

stream ev "$T/s1" -D "$T/s1.headers"
check "the stream opens with retry: and a comment naming the cluster" eventually 20 has "$T/s1" ': events of cluster ev'
check_that "it is text/event-stream, not cached" \
	'grep -qi "^content-type: text/event-stream" "$T/s1.headers" && grep -qi "^cache-control: no-store" "$T/s1.headers"'

# a node fetches, with a hostile User-Agent
UA=$'<script>"x"\\</script>\x01'
curl -s -o /dev/null -H "Authorization: $TOKEN" -A "$UA" "$BASE/clusters/ev/ignition"
check "a node's config fetch arrives as config-fetched" eventually 20 has "$T/s1" 'event: config-fetched'
check_that "the fetch event names the address, spec version and status" \
	'sed -n "s/^data: \(.*config-fetched.*\)/\\1/p" "$T/s1" | jq -se "any(.[]; .client == \"127.0.0.1\" and .version == \"3.3.0\" and .status == 200)" >/dev/null'
check_that "node-supplied text arrives intact, JSON-escaped (quotes, backslash, a control byte)" \
	'sed -n "s/^data: \(.*config-fetched.*\)/\\1/p" "$T/s1" | jq -se --arg ua "$UA" "any(.[]; .user_agent == \$ua)" >/dev/null'
check_that "every data line of the stream is one JSON document" \
	'sed -n "s/^data: //p" "$T/s1" | jq -e . >/dev/null'

curl -s -o /dev/null -X PUT "$DISC/a1?prevExist=false" -d value=n1=http://10.0.0.1:2380
check "a registration arrives as member-registered" eventually 20 has "$T/s1" 'event: member-registered'
check_that "with the member's id, name and index" \
	'sed -n "s/^data: \(.*member-registered.*\)/\\1/p" "$T/s1" | jq -se "any(.[]; .id == \"a1\" and .name == \"n1\" and .index > 0)" >/dev/null'

api PATCH /clusters/ev -H 'Content-Type: application/json' --data-binary '{"vars":{}}'
check "a change arrives as cluster-changed" eventually 20 has "$T/s1" 'event: cluster-changed'
check_that "with the new generation" \
	'sed -n "s/^data: \(.*cluster-changed.*\)/\\1/p" "$T/s1" | jq -se "any(.[]; .generation == 2)" >/dev/null'
api POST /clusters/ev/token
check "a rotation arrives as token-rotated" eventually 20 has "$T/s1" 'event: token-rotated'
check_that "no token in any event" '! grep -qF "${TOKEN#Bearer }" "$T/s1" && ! grep -q "$(jq -r .discovery_url "$T/ev.json" | sed "s|.*/||")" "$T/s1"'
check "an idle stream gets keep-alive comments" eventually 20 has "$T/s1" ': keep-alive'
check_that "event ids are START-N and increase" \
	'sed -n "s/^id: //p" "$T/s1" | awk -F- "NR > 1 && (\$1 != s || \$2 <= n) { bad = 1 } { s = \$1; n = \$2 } END { exit bad || NR < 4 }"'

# resume: what happened while away
ID=$(sed -n 's/^id: //p' "$T/s1" | head -1)
curl -s -o /dev/null -X PUT "$DISC/a2?prevExist=false" -d value=n2=http://10.0.0.2:2380
stream ev "$T/s2" -H "Last-Event-ID: $ID"
check "reconnecting with Last-Event-ID gets the events after it" eventually 20 has "$T/s2" '"id":"a2"'
check_that "... all of them (the change and rotation too), and not the one it had" \
	'has "$T/s2" "event: cluster-changed" && has "$T/s2" "event: token-rotated" && ! grep -q "^id: $ID\$" "$T/s2"'
stream ev "$T/s3" -H 'Last-Event-ID: 1-1'
check "an id of an earlier kindling gets a gap event" eventually 20 has "$T/s3" 'event: gap'
check_that "... and then everything still kept" 'eventually 20 has "$T/s3" "\"id\":\"a2\""'

api GET /clusters/ev/events -H 'Last-Event-ID: nonsense'
check_that "a malformed Last-Event-ID is 400 problem+json naming it" \
	'[ "$STATUS" = 400 ] && grep -q "Last-Event-ID" "$BODY"'
api GET /clusters/ev/events --max-time 2
check_that "past --max-event-streams: 503 problem+json with Retry-After" \
	'[ "$STATUS" = 503 ] && [ -n "$(header Retry-After)" ] && grep -q max-event-streams "$BODY"'

api DELETE /clusters/ev
expect "delete the cluster" 204
check "the delete arrives as cluster-deleted" eventually 20 has "$T/s1" 'event: cluster-deleted'
check "... and ends the stream (curl exits)" eventually 20 bash -c "! kill -0 ${SPIDS[0]} 2>/dev/null"
stop_streams
kindling_stop

# the operator token guards the stream; SIGTERM ends open streams
printf 'sekrit-admin-token-0123456789abcdef\n' >"$T/admin"
kindling_start --admin-token-file "$T/admin" || exit 1
post_json /clusters '{"name":"ev2","size":1}' -H 'Authorization: Bearer sekrit-admin-token-0123456789abcdef'
expect "create ev2 with the admin token" 201
api GET /clusters/ev2/events --max-time 3
check_that "without the admin token the stream is 401" '[ "$STATUS" = 401 ]'
stream ev2 "$T/s4" -H 'Authorization: Bearer sekrit-admin-token-0123456789abcdef'
check "with it the stream opens" eventually 20 has "$T/s4" ': events of cluster ev2'
kindling_stop
check "SIGTERM ended the open stream (curl exits)" eventually 20 bash -c "! kill -0 ${SPIDS[0]} 2>/dev/null"
stop_streams
