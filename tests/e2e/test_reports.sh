#!/usr/bin/env bash
# shellcheck disable=SC2016 # check_that takes single-quoted expressions, evaluated later
# test_reports.sh - node boot reports (issue 18 item 2, acceptance 4):
# POST /clusters/NAME/reports with the cluster's fetch token stores the
# newest report per node (bounded per cluster), publishes node-reported on
# the event stream, and shows in the cluster JSON (nodes, health), the
# cluster page (the nodes table, the boot timeline SVG) and the list page's
# health summary; hostile reports (huge, deep JSON, HTML and control
# characters, wrong types, unknown fields, invalid UTF-8, a wrong token,
# another cluster's token) are refused with problem+json naming the field, or
# shown as text; /metrics counts them; the report profile's own script,
# rendered by kindling, sends a report with a failed unit's journal lines
# (systemctl and journalctl are stand-ins here: no systemd runs the test).
# timeout: 300
source "$(dirname "$0")/lib.sh"
plan 35

SPIDS=()
stop_streams() {
	local p
	for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	SPIDS=()
}
token_of() { jq -r '.pointer.ignition.config.replace.httpHeaders[0].value' "$1"; }
# report NAME TOKEN JSON - POSTs a report (sets STATUS, BODY).
report() {
	local name=$1 tok=$2
	shift 2
	post_json "/clusters/$name/reports" "$1" -H "Authorization: $tok"
}
# field_named FIELD - the last 422 names FIELD.
field_named() { jq -e --arg f "$1" 'any(.errors[]; .field == $f)' "$BODY" >/dev/null 2>&1; }
problem() { [ "$(header Content-Type)" = application/problem+json ]; }
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }

kindling_start --event-keepalive 1 || exit 1
mkdir -p "$T/root"
post_json /clusters "{\"name\":\"rp\",\"size\":3,\"profiles\":[\"etcd\",\"report\"],\"vars\":{\"report_pointer\":\"$T/pointer.ign\",\"report_wait\":\"0\",\"report_journal_lines\":\"3\"}}"
cp "$BODY" "$T/rp.json"
expect "create cluster rp (etcd + report)" 201
post_json /clusters '{"name":"other","size":1,"profiles":["report"]}'
cp "$BODY" "$T/other.json"
expect "create cluster other (size 1)" 201
TOKEN=$(token_of "$T/rp.json")
OTHER=$(token_of "$T/other.json")

curl -sN --max-time 120 "$BASE/clusters/rp/events" >"$T/events" 2>&1 &
SPIDS+=($!)
eventually 20 grep -q 'events of cluster rp' "$T/events"

# ---- a healthy node, then one with a failed unit and hostile text ----
report rp "$TOKEN" '{"hostname":"node-1","boot_id":"0f1e2d3c-aaaa-4bbb-8ccc-123456789abc","addresses":["127.0.0.1"],"ignition":"success","trigger":"boot","uptime_s":42,"services":{"etcd":"healthy"},"failed_units":[]}'
expect "a node's report with the fetch token is stored: 204" 204
check "node-reported arrives on the event stream, naming the node and its state" eventually 20 eval \
	'sed -n "s/^data: \(.*node-reported.*\)/\\1/p" "$T/events" | jq -se "any(.[]; .node == \"node-1\" and .state == \"healthy\")" >/dev/null'
HOSTILE=$'<script>alert(1)</script> & "quotes" \x1b[31mred\x07'
HOSTILE_JSON=$(jq -cn --arg l "$HOSTILE" '$l')
report rp "$TOKEN" "{\"hostname\":\"node-2\",\"boot_id\":\"1f1e2d3c-aaaa-4bbb-8ccc-123456789abc\",\"addresses\":[\"10.0.0.2\",\"fd00::2\"],\"ignition\":\"success\",\"services\":{\"etcd\":\"<b>bold</b>\"},\"failed_units\":[{\"unit\":\"app.service\",\"journal\":[\"line one\",$HOSTILE_JSON]}]}"
expect "a report with a failed unit, HTML and control characters in its journal: 204" 204
api GET /clusters/rp
cp "$BODY" "$T/rp-after.json"
check_that "the cluster JSON: node-1 healthy (services, Ignition), node-2 failed with app.service" \
	'jq -e ".health == {healthy: 1, failed: 1} and any(.nodes[]; .name == \"node-1\" and .state == \"healthy\" and .report.services.etcd == \"healthy\" and .report.ignition == \"success\" and .fetched_at == null) and any(.nodes[]; .name == \"node-2\" and .state == \"failed\" and .report.failed_units[0].unit == \"app.service\")" "$T/rp-after.json" >/dev/null'
check_that "the journal lines are kept as text: HTML as is, control characters as visible pictures (␛ ␇)" \
	'[ "$(jq -r ".nodes[] | select(.name == \"node-2\") | .report.failed_units[0].journal[1]" "$T/rp-after.json")" = "<script>alert(1)</script> & \"quotes\" ␛[31mred␇" ]'
api GET /clusters/rp -H 'Accept: text/html'
cp "$BODY" "$T/rp.html"
check_that "the page shows the journal line escaped (no markup from a node) and the failed unit" \
	'grep -qF "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; ␛[31mred␇" "$T/rp.html" && ! grep -qF "<script>alert" "$T/rp.html" && ! grep -qF "<b>bold" "$T/rp.html" && grep -qF "<code>app.service</code>" "$T/rp.html"'
check_that "the page's nodes section says 1 healthy, 1 failed and draws the boot timeline (inline SVG, a lane per node, report marks)" \
	'grep -qF "Nodes (1 healthy, 1 failed)" "$T/rp.html" && grep -q "<svg class=\"timeline\"" "$T/rp.html" && [ "$(grep -o "<g class=\"lane\">" "$T/rp.html" | wc -l)" = 2 ] && grep -q "class=\"mark-healthy\"" "$T/rp.html" && grep -q "class=\"mark-failed\"" "$T/rp.html"'
check_that "the SVG parses as XML (node names and titles escaped)" \
	'sed -n "/<svg class=\"timeline\"/,/<\/svg>/p" "$T/rp.html" | sed "s/^.*<svg/<svg/; s/<\/svg>.*/<\/svg>/" | python3 -c "import sys,xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.read())"'
api GET /clusters -H 'Accept: text/html'
check_that "the list page's health column: rp 1 healthy, 1 failed; other no reports" \
	'grep -qF "<span class=\"status-ok\">1 healthy</span>, <span class=\"status-bad\">1 failed</span>" "$BODY" && grep -qF "no reports" "$BODY"'

# ---- refused: nothing stored ----
report rp "Bearer nope"  '{"hostname":"evil","boot_id":"abc"}'
check_that "a wrong token: 403 problem+json" '[ "$STATUS" = 403 ] && problem'
api POST /clusters/rp/reports -H 'Content-Type: application/json' --data-binary '{"hostname":"evil","boot_id":"abc"}'
check_that "no token: 401 with WWW-Authenticate" '[ "$STATUS" = 401 ] && [ -n "$(header WWW-Authenticate)" ] && problem'
report rp "$OTHER" '{"hostname":"evil","boot_id":"abc"}'
check_that "another cluster's fetch token (a node of cluster other reporting to rp): 403" '[ "$STATUS" = 403 ] && problem'
report nosuch "$TOKEN" '{"hostname":"evil","boot_id":"abc"}'
check_that "a cluster that does not exist: 404" '[ "$STATUS" = 404 ] && problem'
head -c 70000 /dev/zero | tr '\0' 'a' | sed 's/^/{"hostname":"big","boot_id":"1","trigger":"/; s/$/"}/' >"$T/huge.json"
api POST /clusters/rp/reports -H "Authorization: $TOKEN" -H 'Content-Type: application/json' --data-binary @"$T/huge.json"
check_that "a huge report (70 KB): 413 problem+json" '[ "$STATUS" = 413 ] && problem'
DEEP=$(printf '[%.0s' $(seq 1 60))$(printf ']%.0s' $(seq 1 60))
report rp "$TOKEN" "{\"hostname\":\"deep\",\"boot_id\":\"1\",\"services\":$DEEP}"
check_that "deep JSON (60 levels): 422 naming the body and the depth" '[ "$STATUS" = 422 ] && problem && field_named body && grep -q "deeper than" "$BODY"'
report rp "$TOKEN" '{"hostname":7,"boot_id":"1","failed_units":"all","addresses":["not-an-ip"],"services":{"etcd":3},"ignition":"maybe"}'
check_that "wrong types: 422 naming each field (hostname, failed_units, addresses[0], services.etcd, ignition)" \
	'[ "$STATUS" = 422 ] && field_named hostname && field_named failed_units && field_named "addresses[0]" && field_named services.etcd && field_named ignition'
report rp "$TOKEN" '{"hostname":"x y<z>","boot_id":"1","root_password":"x"}'
check_that "a bad host name and an unknown field: 422 naming both" '[ "$STATUS" = 422 ] && field_named hostname && field_named root_password'
printf '{"hostname":"u","boot_id":"1","trigger":"\xff\xfe"}' >"$T/bad-utf8.json"
api POST /clusters/rp/reports -H "Authorization: $TOKEN" -H 'Content-Type: application/json' --data-binary @"$T/bad-utf8.json"
check_that "invalid UTF-8: 422 naming the body" '[ "$STATUS" = 422 ] && field_named body'
api POST /clusters/rp/reports -H "Authorization: $TOKEN" -H 'Content-Type: text/plain' --data-binary '{"hostname":"t","boot_id":"1"}'
check_that "not application/json: 415" '[ "$STATUS" = 415 ]'
api GET /clusters/rp
check_that "after the refusals still exactly node-1 and node-2 are reported" \
	'[ "$(jqb "[.nodes[] | select(.report != null) | .name] | sort | join(\",\")")" = "node-1,node-2" ]'

# ---- bounded per cluster: size 1 keeps 2 ----
for n in a b c; do report other "$OTHER" "{\"hostname\":\"o-$n\",\"boot_id\":\"1\"}"; done
api GET /clusters/other
check_that "cluster other (size 1) keeps its newest 2 reports of 3 nodes" \
	'[ "$(jqb "[.nodes[] | .name] | sort | join(\",\")")" = "o-b,o-c" ]'
report other "$OTHER" '{"hostname":"o-c","boot_id":"2","failed_units":[{"unit":"x.service"}]}'
api GET /clusters/other
check_that "a node's newer report replaces its older one (o-c: boot 2, failed)" \
	'[ "$(jqb "[.nodes[] | select(.name == \"o-c\") | .report.boot_id + \"/\" + .state] | join(\",\")")" = "2/failed" ]'

# ---- the report profile's own script, as kindling renders it ----
api GET /clusters/rp/ignition -H "Authorization: $TOKEN"
cp "$BODY" "$T/rp.ign"
check_that "the rendered config has the report units, the OnFailure drop-in for all services and the script" \
	'jq -e "[.systemd.units[].name] as \$u | (\$u | index(\"kindling-report.service\")) and ([.storage.files[].path] | index(\"/etc/systemd/system/kindling-report@.service\") and index(\"/etc/systemd/system/service.d/10-kindling-report.conf\") and index(\"/opt/kindling/boot-report\"))" "$T/rp.ign" >/dev/null'
# file PATH - writes the config's file PATH under $T/root (data URLs, percent-encoded)
file() {
	mkdir -p "$T/root$(dirname "$1")"
	jq -r --arg p "$1" '.storage.files[] | select(.path == $p) | .contents.source' "$T/rp.ign" |
		sed 's/^data:,//; s/%/\\x/g' | xargs -0 printf '%b' >"$T/root$1"
}
file /opt/kindling/boot-report
file /etc/kindling/report.env
chmod 755 "$T/root/opt/kindling/boot-report"
curl -s "$BASE/clusters/rp/userdata" >"$T/pointer.ign"
# systemctl and journalctl stand-ins: one failed unit, with its journal
mkdir -p "$T/bin"
printf '#!/bin/sh\ncase "$*" in *--failed*) echo "broken.service loaded failed failed Broken";; esac\n' >"$T/bin/systemctl"
printf '#!/bin/sh\ncase "$*" in *broken.service*) printf "%%s\\n" "starting broken" "error: cannot open /etc/broken.conf <No such file>" "broken.service: Main process exited, code=exited, status=1/FAILURE";; esac\n' >"$T/bin/journalctl"
chmod 755 "$T/bin/systemctl" "$T/bin/journalctl"
PATH="$T/bin:$PATH" timeout 60 bash "$T/root/opt/kindling/boot-report" "$T/root/etc/kindling/report.env" boot >"$T/script.out" 2>&1
check_that "boot-report (the profile's script) finds the token in the pointer config and kindling takes its report" \
	'grep -q "boot-report: sent (boot): 1 failed units" "$T/script.out"'
HOST=$(cat /proc/sys/kernel/hostname)
api GET /clusters/rp
check_that "its report shows in the JSON: this host, failed broken.service with its 3 journal lines" \
	'jq -e --arg h "$HOST" "any(.nodes[]; .name == \$h and .state == \"failed\" and .report.failed_units[0].unit == \"broken.service\" and (.report.failed_units[0].journal | length) == 3 and .report.trigger == \"boot\")" "$BODY" >/dev/null'
PATH="$T/bin:$PATH" timeout 60 bash "$T/root/opt/kindling/boot-report" "$T/root/etc/kindling/report.env" failure broken.service >"$T/script2.out" 2>&1
api GET /clusters/rp
check_that "a failure report (kindling-report@broken.service) replaces it, saying what triggered it" \
	'jq -e --arg h "$HOST" "any(.nodes[]; .name == \$h and .report.trigger == \"failure of broken.service\")" "$BODY" >/dev/null'

# ---- /metrics ----
curl -s "$BASE/metrics" >"$T/metrics"
check_that "/metrics: kindling_reports_received_total 8, kindling_reports_refused_total 8" \
	'grep -qx "kindling_reports_received_total 8" "$T/metrics" && grep -qx "kindling_reports_refused_total 8" "$T/metrics"'
check_that "/metrics: kindling_nodes_reported 5, kindling_nodes_failed 3, kindling_event_streams_open 1 (no per-node labels)" \
	'grep -qx "kindling_nodes_reported 5" "$T/metrics" && grep -qx "kindling_nodes_failed 3" "$T/metrics" && grep -qx "kindling_event_streams_open 1" "$T/metrics" && ! grep -E "^kindling_(nodes|reports)_[a-z_]*\{" "$T/metrics"'
check "no fetch token in the log" log_lacks "${TOKEN#Bearer }" "${OTHER#Bearer }"
stop_streams

# ---- a deleted cluster's reports go with it ----
api DELETE /clusters/rp
expect "delete rp" 204
check_that "its reports are gone (kindling_nodes_reported 2)" '[ "$(metric kindling_nodes_reported)" = 2 ]'
kindling_stop
finish
