#!/usr/bin/env bash
# test_examples.sh - checks examples/: the systemd unit with systemd-analyze;
# the Terraform example's HCL with HashiCorp's own parser and formatter (hcl
# v2's hclfmt, built from Debian's golang-github-hashicorp-hcl-v2-dev) and
# its variables (every var.X used is declared, every declared one used, the
# tfvars example sets only declared ones); and, when terraform is installed
# (it is not a Debian package: counted SKIPs without it), the terraform checks.
# `terraform plan` of the whole example needs the aws/restapi/http providers
# from the Terraform registry and an AWS account: always a counted SKIP.
#
#   sh tests/run.sh tests/image/test_examples.sh     (make test-image runs it)
#
# The curl variant in examples/terraform/README.md is applied and destroyed
# against a real kindling ($KINDLING_BIN, default build/kindling; built when
# missing). Prints "PASS test_examples: name" / "FAIL ..." / "SKIP ..." lines
# and the end line (tests/report.sh).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$PWD
TEST_NAME=test_examples
T=$(mktemp -d /tmp/kindling-test-examples.XXXXXX)
KPID=""
# shellcheck source=../report.sh
source tests/report.sh
UNIT_CHECKS=12 TF_CHECKS=14
plan $((UNIT_CHECKS + 15 + TF_CHECKS))
cleanup() {
	local st=$1
	[ -n "$KPID" ] && kill -KILL "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	rm -rf "$T"
	report_end "$st"
	exit $?
}
trap 'cleanup $?' EXIT

# --- examples/kindling.service ---------------------------------------------------
UNIT=examples/kindling.service
if m=$(missing_tools systemd-analyze unshare); then
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
else
	skip_or_fail "$UNIT_CHECKS" "$UNIT: needs $m (Debian: systemd, util-linux)"
fi

# --- examples/terraform: HCL syntax and formatting, with hcl v2's hclfmt ----------
TF=examples/terraform
HCL_SRC=/usr/share/gocode/src/github.com/hashicorp/hcl/v2
TF_FILES=("$TF"/main.tf "$TF"/outputs.tf "$TF"/variables.tf "$TF"/versions.tf)
# The README's hcl blocks (the curl variant) as one more file.
awk '/^```hcl$/ { on = 1; next } /^```$/ { on = 0 } on' "$TF/README.md" >"$T/readme-blocks.tf"
m=$(missing_tools go)
[ -f "$HCL_SRC/cmd/hclfmt/main.go" ] || m="${m:+$m }$HCL_SRC"
if [ -z "$m" ]; then
	# Debian packages Go libraries as source: build the command offline (GOPATH mode).
	check "hclfmt builds from Debian's hcl v2 source" bash -c \
		"cd '$T' && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE='$ROOT/build/gocache' GOFLAGS= \
			go build -o '$T/hclfmt' github.com/hashicorp/hcl/v2/cmd/hclfmt >'$T/go-build.log' 2>&1 || { cat '$T/go-build.log'; false; }"
	for f in "${TF_FILES[@]}" "$T/readme-blocks.tf"; do
		n=${f#"$ROOT"/}
		[ "$f" = "$T/readme-blocks.tf" ] && n="$TF/README.md's hcl blocks"
		check "$n parses as HCL (hclfmt -check)" bash -c "'$T/hclfmt' -check '$f' >/dev/null"
		check "$n is formatted (hclfmt: no change, as terraform fmt)" bash -c "'$T/hclfmt' -require-no-change '$f' >/dev/null"
	done
else
	skip_or_fail 11 "the HCL syntax checks: needs $m (Debian: golang-go golang-github-hashicorp-hcl-v2-dev)"
fi

# --- examples/terraform: variables used vs declared -------------------------------
# var_names KIND - sorted unique names: "used" (var.X in the .tf files and the
# README's hcl blocks), "declared" (variable "X" blocks), "set" (the keys of
# terraform.tfvars.example). Comments are left out.
var_names() {
	/usr/bin/python3 - "$1" "$TF" "$T/readme-blocks.tf" <<'PYEOF'
import glob, re, sys
kind, tf, readme = sys.argv[1:4]
def text(path):
    s = open(path).read()
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)(#|//).*$", "", l) for l in s.splitlines())
files = sorted(glob.glob(tf + "/*.tf"))
names = set()
if kind == "used":
    for f in files + [readme]:
        names |= set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", text(f)))
elif kind == "declared":
    for f in files:
        names |= set(re.findall(r'^\s*variable\s+"([^"]+)"\s*\{', text(f), flags=re.M))
elif kind == "set":
    names |= set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=", text(tf + "/terraform.tfvars.example"), flags=re.M))
print("\n".join(sorted(names)))
PYEOF
}
used=$(var_names used)
declared=$(var_names declared)
set_vars=$(var_names set)
undeclared=$(comm -23 <(echo "$used") <(echo "$declared") | paste -sd' ')
unused=$(comm -13 <(echo "$used") <(echo "$declared") | paste -sd' ')
unknown=$(comm -23 <(echo "$set_vars") <(echo "$declared") | paste -sd' ')
check_that "every var.X used is declared (${undeclared:-all $(echo "$used" | wc -l) are})" \
	'[ -n "$used" ] && [ -z "$undeclared" ]'
check_that "every declared variable is used (${unused:-all $(echo "$declared" | wc -l) are})" \
	'[ -n "$declared" ] && [ -z "$unused" ]'
check_that "terraform.tfvars.example sets only declared variables (${unknown:-all $(echo "$set_vars" | wc -l) are})" \
	'[ -n "$set_vars" ] && [ -z "$unknown" ]'
skip "terraform plan of $TF: needs the aws, restapi and http providers from the Terraform registry and an AWS account (not here, not in CI)"

# --- examples/terraform: with terraform (not a Debian package) --------------------
if ! have_tool terraform; then
	skip "the terraform checks (fmt, init, console, plan of the variables, validate, apply and destroy of the curl variant): terraform is not installed, and not in Debian" "$TF_CHECKS"
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
# its log is checked for sanitizer reports when it stops (an ASan build under tests/run.sh)
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
export KINDLING_ADMIN_TOKEN
KINDLING_ADMIN_TOKEN=$(cat "$T/token")
"$KINDLING_BIN" --listen 127.0.0.1:0 --db "$T/kindling.db" --templates templates \
	--admin-token-file "$T/token" --threads 2 2>"$T/kindling.log" &
KPID=$!
PORT=""
for _ in $(seq 1 400); do
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
kill -TERM "$KPID"
rc=0
wait "$KPID" || rc=$?
KPID=""
check "kindling exits 0 on SIGTERM with no sanitizer report in its log (rc=$rc)" bash -c \
	"[ $rc = 0 ] && ! grep -qaE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|: runtime error: ' '$T/kindling.log'"
exit 0
