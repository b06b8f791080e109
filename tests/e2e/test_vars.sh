#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that takes single-quoted expressions, evaluated later
# test_vars.sh - issue 12, item 7: variable values must not break out of what
# they are rendered into. Each of the four attacks (a newline in
# rabbitmq_admin_user adding keys to rabbitmq.conf, a quote in
# rabbitmq_etcd_endpoint closing ExecStartPre's sh -c '...', systemd
# specifiers / $VAR / extra words in rabbitmq_image, a newline in the one-line
# Erlang cookie) is refused by POST /clusters and by PATCH with a 422 naming
# the variable and its rule, and changes nothing. A value that passes its rule
# but holds systemd- or shell-special bytes is served escaped (checked in the
# units of GET /ignition, with ignition-validate and systemd-analyze verify).
# GET /profiles shows the rules. A profile with a bad rule stops start-up with
# a message naming profile, variable and rule.
source "$(dirname "$0")/lib.sh"
plan 55

# quiet_validate FILE - ignition-validate accepts FILE and prints nothing.
quiet_validate() {
	local out
	out=$(timeout 30 ignition-validate "$1" 2>&1) && [ -z "$out" ] && return 0
	echo "ignition-validate $1: $out" >&2
	return 1
}
# undata - stdin: a data: URL; stdout: its bytes.
undata() { python3 -c 'import sys, urllib.parse; sys.stdout.write(urllib.parse.unquote(sys.stdin.read().strip()[len("data:,"):]))'; }
# token_of FILE - the fetch token in a create answer's pointer config.
token_of() { jq -r '.pointer.ignition.config.replace.httpHeaders[0].value' "$1" | sed -n 's/^Bearer //p'; }
# unit_of FILE UNIT - the contents of a unit in a served config.
unit_of() { jq -j --arg u "$2" '.systemd.units[] | select(.name == $u) | .contents' "$1"; }
# file_of FILE PATH - the contents of a file in a served config.
file_of() { jq -j --arg p "$2" '.storage.files[] | select(.path == $p) | .contents.source' "$1" | undata; }

# refused NAME FIELD MESSAGE - the last answer is a 422 problem+json whose
# errors hold {field: FIELD, message: MESSAGE} exactly.
refused() {
	local ok=1
	[ "$STATUS" = 422 ] || ok=0
	[ "$(header Content-Type)" = application/problem+json ] || ok=0
	[ "$(jq -r --arg f "$2" --arg m "$3" '[.errors[] | select(.field == $f and .message == $m)] | length' "$BODY" 2>/dev/null)" = 1 ] || ok=0
	if [ $ok = 1 ]; then pass "$1 -> 422 $2: $3"; else
		fail "$1 (status $STATUS, want 422 $2 \"$3\"): $(head -c 400 "$BODY")"
	fi
}

# The attacks: VAR, value (JSON string), the exact message.
ATTACKS=(
	"rabbitmq_admin_user" '"admin\ndefault_pass = owned"'
	"must be one line (no control characters); got a newline at byte 5"
	"rabbitmq_etcd_endpoint" "\"127.0.0.1:2379'; touch /tmp/kindling-owned; '\""
	"must be host:port (a host name, an IPv4 address or an [IPv6] address, then a port 1-65535); got a single quote at byte 14"
	"rabbitmq_image" '"docker.io/library/rabbitmq:%H"'
	"must be an OCI image reference ([registry[:port]/]path[:tag][@sha256:64 hex digits]; path components of a-z 0-9 joined by . _ __ or -); got '%' at byte 27"
	"rabbitmq_image" '"rabbitmq$MAINPID"'
	"must be an OCI image reference ([registry[:port]/]path[:tag][@sha256:64 hex digits]; path components of a-z 0-9 joined by . _ __ or -); got '\$' at byte 8"
	"rabbitmq_image" '"rabbitmq --privileged -v /:/host"'
	"must be an OCI image reference ([registry[:port]/]path[:tag][@sha256:64 hex digits]; path components of a-z 0-9 joined by . _ __ or -); got a space at byte 8"
	"rabbitmq_erlang_cookie" '"abc\ndef"'
	"must be a secret of one or more of A-Z a-z 0-9 . _ ~ + / = -; got a character outside that set at byte 3"
)

# ---- a custom profile: every systemd-special byte through a rule that allows it ----
TPL=$T/tpl
mkdir -p "$TPL/esc/systemd"
cat >"$TPL/esc/profile.json" <<'EOF'
{
  "description": "test_vars.sh: a one-line value in every kind of unit line",
  "variables": {"v": {"type": "line", "default": "plain"}},
  "units": {"esc.service": {"enabled": true}, "esc-path.service": {"enabled": false}}
}
EOF
cat >"$TPL/esc/systemd/esc.service" <<'EOF'
[Unit]
Description=esc ${v}

[Service]
Type=oneshot
Environment=V=${v}
ExecStart=/bin/echo ${v} "${v}"
ExecStartPost=/bin/sh -c 'echo ${v|sh}'

[Install]
WantedBy=multi-user.target
EOF
# systemd-analyze verify prints the executable path as systemd parsed it
printf '[Service]\nType=oneshot\nExecStart=/nonexistent/${v}\n' >"$TPL/esc/systemd/esc-path.service"

kindling_start --templates "$TPL" || exit 1

# ---- the four attacks at creation ------------------------------------------------
for ((i = 0; i < ${#ATTACKS[@]}; i += 3)); do
	var=${ATTACKS[i]} val=${ATTACKS[i + 1]} msg=${ATTACKS[i + 2]}
	post_json /clusters "{\"name\":\"atk$i\",\"size\":3,\"profiles\":[\"etcd\",\"rabbitmq\"],\"vars\":{\"$var\":$val}}"
	refused "POST /clusters with $var=$val" "vars.$var" "$msg"
	api GET "/clusters/atk$i"
	check "... and no cluster atk$i was created (404)" [ "$STATUS" = 404 ]
done
api GET /clusters
check "no cluster at all after the refused creates" [ "$(jqb .total)" = 0 ]

# ---- and by PATCH: 422, the cluster unchanged ------------------------------------
post_json /clusters '{"name":"rmq","size":3,"profiles":["etcd","rabbitmq"],"vars":{"rabbitmq_admin_user":"ops"}}'
expect "create an etcd+rabbitmq cluster" 201
cp "$BODY" "$T/created.json"
TOKEN=$(token_of "$T/created.json")
check "the create answer's pointer carries a fetch token" [ ${#TOKEN} -ge 22 ]
api GET /clusters/rmq/ignition -H "Authorization: Bearer $TOKEN"
cp "$BODY" "$T/before.ign"
for ((i = 0; i < ${#ATTACKS[@]}; i += 3)); do
	var=${ATTACKS[i]} val=${ATTACKS[i + 1]} msg=${ATTACKS[i + 2]}
	api PATCH /clusters/rmq -H 'Content-Type: application/merge-patch+json' --data-binary "{\"vars\":{\"$var\":$val}}"
	refused "PATCH with $var=$val" "vars.$var" "$msg"
	api GET /clusters/rmq
	check_that "... and the cluster is unchanged (generation 1, same vars)" \
		'[ "$(jqb .generation)" = 1 ] && [ "$(jq -c .vars "$BODY")" = "$(jq -c .vars "$T/created.json")" ]'
done
api GET /clusters/rmq/ignition -H "Authorization: Bearer $TOKEN"
cp "$BODY" "$T/after.ign"
check "the served config is byte for byte the one before the refused PATCHes" cmp -s "$T/after.ign" "$T/before.ign"
check_that "nothing of the attacks reached the served config" \
	'[ -s "$T/after.ign" ] && ! grep -qE "owned|%H|MAINPID|privileged" "$T/after.ign"'

# ---- a value that passes its rule is served escaped ----------------------------------
# [fd00::1]:2379 is host:port, and [..] is a shell glob: ExecStartPre gets a
# quoted shell word inside the systemd single-quoted script; rabbitmq.conf
# (a raw file) gets it as is.
api PATCH /clusters/rmq -H 'Content-Type: application/merge-patch+json' \
	--data-binary '{"vars":{"rabbitmq_etcd_endpoint":"[fd00::1]:2379"}}'
expect "PATCH rabbitmq_etcd_endpoint to an IPv6 host:port" 200
api GET /clusters/rmq/ignition -H "Authorization: Bearer $TOKEN"
cp "$BODY" "$T/v6.ign"
cat >"$T/want-pre" <<'EOF'
ExecStartPre=/bin/sh -c 'until curl -fsS http://\'[fd00::1]:2379\'/health; do sleep 2; done'
EOF
check "ExecStartPre quotes the endpoint for sh, inside systemd's single quotes" \
	grep -qxFf "$T/want-pre" <(unit_of "$T/v6.ign" rabbitmq.service)
check "rabbitmq.conf (a raw file) gets the endpoint as is" \
	grep -qxF "cluster_formation.etcd.endpoints.1 = [fd00::1]:2379" <(file_of "$T/v6.ign" /etc/rabbitmq/rabbitmq.conf)
check "the config with the escaped endpoint passes ignition-validate silently" quiet_validate "$T/v6.ign"

VAL='50% $HOME ${X} it'"'"'s "q" a\b %H;'
post_json /clusters "$(jq -nc --arg v "$VAL" '{name: "esc", size: 1, profiles: ["esc"], vars: {v: $v}}')"
expect "create a cluster of the custom profile with a value full of systemd-special bytes" 201
ETOKEN=$(token_of "$BODY")
api GET /clusters/esc/ignition -H "Authorization: Bearer $ETOKEN"
cp "$BODY" "$T/esc.ign"
unit_of "$T/esc.ign" esc.service >"$T/esc.service"
unit_of "$T/esc.ign" esc-path.service >"$T/esc-path.service"
# Description= (a plain setting): % doubled only. Environment=: C escapes and
# %%, no $$ (it expands no variables). Exec*=: %%, $$ and C escapes, unquoted
# and inside "..."; with |sh a shell word first, the command-line escaping around it.
cat >"$T/want.service" <<'EOF'
[Unit]
Description=esc 50%% $HOME ${X} it's "q" a\b %%H;

[Service]
Type=oneshot
Environment=V=50%%\x20$HOME\x20${X}\x20it\'s\x20\"q\"\x20a\x5cb\x20%%H\x3b
ExecStart=/bin/echo 50%%\x20$$HOME\x20$${X}\x20it\'s\x20\"q\"\x20a\x5cb\x20%%H\x3b "50%%\x20$$HOME\x20$${X}\x20it\'s\x20\"q\"\x20a\x5cb\x20%%H\x3b"
ExecStartPost=/bin/sh -c 'echo \'50%%\x20$$HOME\x20$${X}\x20it\'\x5c\'\'s\x20\"q\"\x20a\x5cb\x20%%H\x3b\''

[Install]
WantedBy=multi-user.target
EOF
check "the unit holds the value escaped for each line" cmp "$T/want.service" "$T/esc.service"
check "the custom profile's config passes ignition-validate silently" quiet_validate "$T/esc.ign"
# systemd itself: no escape or quoting complaint, and the parsed path is the value
sa=$(cd "$T" && timeout 30 systemd-analyze verify --man=no "$T/esc.service" 2>&1)
check_that "systemd-analyze verify accepts the escaped unit silently" '[ -z "$sa" ] || { echo "$sa" >&2; false; }'
sa=$(cd "$T" && timeout 30 systemd-analyze verify --man=no "$T/esc-path.service" 2>&1)
# (the executable path is not variable-expanded, so its $$ stays; arguments get $)
cat >"$T/want-path" <<'EOF'
/nonexistent/50% $$HOME $${X} it's "q" a\b %H;
EOF
check_that "systemd parses the escaped word back to the value (specifiers, quotes, escapes)" \
	'grep -qFf "$T/want-path" <<<"$sa" || { echo "$sa" >&2; false; }'
check_that "... with no complaint about escapes or quoting" '! grep -qiE "escape|quot" <<<"$sa"'

# ---- GET /profiles shows the rules ------------------------------------------------
api GET /profiles
rmqv() { jqb ".profiles[] | select(.name == \"rabbitmq\") | .variables[] | select(.name == \"$1\") | $2"; }
check_that "GET /profiles: each rabbitmq variable has its declared type" \
	'[ "$(jqb "[.profiles[] | select(.name == \"rabbitmq\") | .variables[] | .name + \"=\" + .type] | join(\",\")")" = "rabbitmq_admin_password=secret,rabbitmq_admin_user=line,rabbitmq_erlang_cookie=secret,rabbitmq_etcd_endpoint=host_port,rabbitmq_image=image" ]'
check_that "GET /profiles: max_length, pattern and the rule in words" \
	'[ "$(rmqv rabbitmq_erlang_cookie .max_length)" = 255 ] && [ "$(rmqv rabbitmq_erlang_cookie .pattern)" = "[A-Za-z0-9]+" ] && [[ "$(rmqv rabbitmq_etcd_endpoint .rule)" == "host:port (a host name"* ]]'
check_that "GET /profiles: the built-ins the etcd profile uses, with their rules" \
	'[ "$(jqb ".builtins[] | select(.name == \"discovery_url\") | .type")" = url ] && [ "$(jqb ".builtins[] | select(.name == \"size\") | \"\(.min)-\(.max)\"")" = 1-99 ]'
check_that "GET /profiles: an undeclared rule is the default (one line, 4096 bytes)" \
	'[ "$(jqb ".profiles[] | select(.name == \"esc\") | .variables[0] | .type + \" \" + (.max_length|tostring)")" = "line 4096" ]'
kindling_stop && pass "kindling stops cleanly"

# ---- a value stored before its rule existed is not rendered ------------------------
if on_pg; then
	psql "$(pg_url_of "$T/db/kindling.db")" -q -v ON_ERROR_STOP=1 -c \
		"UPDATE clusters SET vars = (vars::jsonb || jsonb_build_object('rabbitmq_admin_user', 'ops' || chr(10) || 'default_pass = owned'))::text WHERE name = 'rmq'"
else
	sqlite3 "$T/db/kindling.db" \
		"UPDATE clusters SET vars = json_set(vars, '\$.rabbitmq_admin_user', 'ops' || char(10) || 'default_pass = owned') WHERE name = 'rmq'"
fi
kindling_start --templates "$TPL" || exit 1
api GET /clusters/rmq/ignition -H "Authorization: Bearer $TOKEN"
check_that "an old stored value that fails its rule: /ignition serves no config (500 problem+json: Ignition retries)" \
	'[ "$STATUS" = 500 ] && [ "$(header Content-Type)" = application/problem+json ] && ! grep -q owned "$BODY"'
api PATCH /clusters/rmq -H 'Content-Type: application/merge-patch+json' --data-binary '{"vars":{"rabbitmq_admin_user":"ops"}}'
expect "... PATCHing it to a good value" 200
api GET /clusters/rmq/ignition -H "Authorization: Bearer $TOKEN"
check_that "... serves the config again" '[ "$STATUS" = 200 ] && jq -e .ignition.version "$BODY" >/dev/null'
kindling_stop && pass "kindling stops cleanly (2nd instance)"

# ---- a profile with a bad rule: kindling refuses to start ---------------------------
# bad_profile NAME PROFILE_JSON MESSAGE - kindling with --templates holding the
# one profile "bad" exits non-zero, its message naming profile, variable and rule.
bad_profile() {
	local d=$T/bad-$1 out rc
	mkdir -p "$d/bad/files/etc"
	printf '%s\n' "$2" >"$d/bad/profile.json"
	printf 'x=${v}\n' >"$d/bad/files/etc/bad.conf"
	out=$(timeout 20 "$KINDLING_BIN" --listen 127.0.0.1:0 --db "$T/bad.db" --templates "$d" 2>&1)
	rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qF -- "$d/bad/profile.json: $3" <<<"$out"; then
		pass "a profile with $1: kindling refuses to start: $3"
	else
		fail "a profile with $1 (rc $rc, want non-zero naming \"$3\"): $out"
	fi
}
bad_profile "a bad regular expression" '{"variables": {"v": {"pattern": "[a-z"}}}' \
	'variables.v.pattern: "[a-z" is not a POSIX extended regular expression: '
bad_profile "an unknown type" '{"variables": {"v": {"type": "email"}}}' \
	'variables.v.type: unknown type "email" (types: line, text, word, hostname, host_port, url, image, secret, integer)'
bad_profile "a default failing its rule" '{"variables": {"v": {"type": "host_port", "default": "localhost"}}}' \
	'variables.v: the default "localhost" fails the variable'"'"'s own rule: must be host:port'
bad_profile "a generated secret failing its rule" '{"variables": {"v": {"generate": "secret", "pattern": "[a-f0-9]{64}"}}}' \
	'variables.v: a generated secret (32 random characters of A-Z a-z 0-9) does not satisfy'
finish
