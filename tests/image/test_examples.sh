#!/usr/bin/env bash
# test_examples.sh - checks examples/: the systemd unit with systemd-analyze,
# the Terraform example with terraform (when installed: it is not a Debian
# package, so the Terraform checks are skipped without it).
#
#   bash tests/image/test_examples.sh     (make test-image runs it too)
#
# The curl variant in examples/terraform/README.md is applied and destroyed
# against a real kindling ($KINDLING_BIN, default build/kindling; built when
# missing). Prints "PASS test_examples: name" / "FAIL ..." and "N passed, N failed".
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$PWD
TEST_NAME=test_examples
T=$(mktemp -d /tmp/kindling-test-examples.XXXXXX)
KPID=""
# shellcheck source=../report.sh
source tests/report.sh
cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	rm -rf "$T"
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
trap 'cleanup; exit $?' EXIT

# --- examples/kindling.service ---------------------------------------------------
UNIT=examples/kindling.service
if ! command -v systemd-analyze >/dev/null; then
	fail "systemd-analyze is installed (Debian package systemd)"
else
	# verify wants ExecStart's binary to exist: a stand-in at /usr/local/bin,
	# seen only inside a private mount namespace.
	bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT")
	mkdir -p "$T/bin"
	cp /bin/true "$T/bin/$(basename "$bin")"
	out=$(unshare --mount --propagation private bash -c \
		'mount --bind "$1" "$2" && systemd-analyze verify "$3" 2>&1' _ "$T/bin" "$(dirname "$bin")" "$ROOT/$UNIT")
	rc=$?
	check "systemd-analyze verify $UNIT prints nothing" [ "$rc:$out" = "0:" ]
	[ -z "$out" ] || echo "$out" | sed 's/^/# /'
	sec=$(systemd-analyze security --offline=yes "$UNIT" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \(.*\)/\1 \2/p')
	check "systemd-analyze security: exposure ${sec:-?} (at most 2.0)" \
		awk -v s="${sec%% *}" 'BEGIN { exit !(s != "" && s + 0 <= 2.0) }'
	for k in DynamicUser=yes StateDirectory=kindling 'LoadCredential=admin-token:' NoNewPrivileges=yes \
		ProtectSystem=strict ProtectHome=yes PrivateTmp=yes 'RestrictAddressFamilies=' \
		'--db /var/lib/kindling/kindling.db' '--admin-token-file %d/admin-token'; do
		check "unit has $k" grep -qF -- "$k" "$UNIT"
	done
fi

# --- examples/terraform ------------------------------------------------------------
TF=examples/terraform
if ! command -v terraform >/dev/null; then
	echo "# terraform is not installed: the Terraform checks are skipped"
	exit 0
fi
export TF_IN_AUTOMATION=1 TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1
tf() { terraform "$@" -no-color 2>&1; }
check "terraform fmt -check $TF: parses, formatted" bash -c "terraform fmt -check -recursive '$TF' >/dev/null 2>&1"

# A module of variables.tf + main.tf's locals: no provider needed.
mod="$T/mod"
mkdir -p "$mod"
cp "$TF/variables.tf" "$mod/"
awk '/^locals \{/ { on = 1 } on { print } on && /^\}/ { exit }' "$TF/main.tf" >"$mod/locals.tf"
cat >"$mod/test.tfvars" <<'EOF'
kindling_url       = "http://127.0.0.1:1"
cluster_name       = "tfex"
ami_id             = "ami-0"
subnet_ids         = []
security_group_ids = []
cluster_vars       = { rabbitmq_admin_user = "ops" }
EOF
export TF_VAR_kindling_admin_token=unused-here-0123456789
# The README's curl variant (applied against a real kindling below).
awk '/<!-- curl-variant:begin -->/ { on = 1; next } /<!-- curl-variant:end -->/ { on = 0 } on && !/^```/' \
	"$TF/README.md" >"$mod/cluster.tf"
check "README holds the curl variant" grep -q 'resource "terraform_data" "cluster"' "$mod/cluster.tf"
out=$(cd "$mod" && tf init -input=false)
check "terraform init (built-in terraform_data only)" grep -q 'successfully initialized' <<<"$out"
body=$(cd "$mod" && echo 'jsonencode(local.cluster_body)' | terraform console -var-file=test.tfvars 2>/dev/null)
check "locals: POST body without ignition_version" \
	[ "$body" = '"{\"name\":\"tfex\",\"profiles\":[\"etcd\",\"rabbitmq\"],\"size\":3,\"vars\":{\"rabbitmq_admin_user\":\"ops\"}}"' ]
body=$(cd "$mod" && echo 'jsondecode(jsonencode(local.cluster_body)).ignition_version' |
	terraform console -var-file=test.tfvars -var ignition_version=2.2.0 2>/dev/null)
check "locals: POST body with ignition_version" [ "$body" = '"2.2.0"' ]
for bad in 'cluster_name=-bad' 'cluster_size=100' 'kindling_url=http://x/'; do
	out=$(cd "$mod" && tf plan -input=false -var-file=test.tfvars -var "$bad")
	check "variable validation refuses $bad" grep -q 'Invalid value for variable' <<<"$out"
done

KINDLING_BIN=${KINDLING_BIN:-build/kindling}
if [ ! -x "$KINDLING_BIN" ]; then
	make -s build/kindling >/dev/null 2>&1 || true
fi
if [ ! -x "$KINDLING_BIN" ]; then
	fail "kindling binary $KINDLING_BIN (make build/kindling failed)"
	exit 1
fi
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
export KINDLING_ADMIN_TOKEN
KINDLING_ADMIN_TOKEN=$(cat "$T/token")
"$KINDLING_BIN" --listen 127.0.0.1:0 --db "$T/kindling.db" --templates templates \
	--admin-token-file "$T/token" --threads 2 2>"$T/kindling.log" &
KPID=$!
PORT=""
for _ in $(seq 1 100); do
	PORT=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$T/kindling.log" | head -1)
	[ -n "$PORT" ] && break
	sleep 0.05
done
BASE="http://127.0.0.1:$PORT"
sed -i "s|^kindling_url .*|kindling_url       = \"$BASE\"|" "$mod/test.tfvars"
out=$(cd "$mod" && tf validate)
check "terraform validate the curl variant" grep -q 'The configuration is valid' <<<"$out"
out=$(cd "$mod" && tf apply -auto-approve -input=false -var-file=test.tfvars)
check "terraform apply: POST /clusters 201" grep -q 'POST /clusters: 201' <<<"$out"
got=$(curl -s -H "Authorization: Bearer $KINDLING_ADMIN_TOKEN" "$BASE/clusters/tfex" |
	jq -c '[.name, .size, .profiles, .vars]')
check "the cluster exists as declared ($got)" [ "$got" = '["tfex",3,["etcd","rabbitmq"],{"rabbitmq_admin_user":"ops"}]' ]
check "the admin token is not in the state" bash -c "! grep -qF '$KINDLING_ADMIN_TOKEN' '$mod/terraform.tfstate'"
out=$(cd "$mod" && tf destroy -auto-approve -input=false -var-file=test.tfvars)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KINDLING_ADMIN_TOKEN" "$BASE/clusters/tfex")
check "terraform destroy: DELETE, the cluster is gone (404)" [ "$code" = 404 ]
exit 0
