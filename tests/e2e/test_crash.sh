#!/usr/bin/env bash
# test_crash.sh - durability under kill -9: CRASH_ROUNDS (default 20) rounds
# of: start kindling on the same database; 4 workers concurrently create
# clusters, register members on their discovery URLs, patch vars and delete
# clusters, journalling every request and its outcome; kill -9 kindling at a
# random moment; restart and check
#  - every acknowledged change (2xx) is there: clusters, generation and vars
#    after patches, registered member ids in the discovery directory, deletes;
#  - nothing refused (4xx/5xx) or never sent was applied, and a request cut
#    off by the kill was applied completely or not at all;
#  - the database is consistent (a cluster with built-in discovery has its
#    discovery_tokens row and vice versa, members only under live tokens,
#    PRAGMA integrity_check and foreign_key_check clean);
#  - what earlier rounds settled is unchanged.
# First, without a crash: concurrent PATCHes of one cluster all stick.
# Keeps to about 2 minutes; stops only the processes it started. Each round
# kills kindling only after the load has at least one acknowledged request.
# timeout: 900
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=${CRASH_ROUNDS:-20}
plan $((ROUNDS + 7))
require_tool curl sqlite3 python3 jq
WORKERS=4
J="$T/journal"
mkdir -p "$J"
: >"$T/settled.json"

# worker ROUND W - runs until killed. Journal lines, one per request, after it ends:
#   OP NAME ARG HTTP_CODE CURL_EXIT [EXTRA]
# OP: create (ARG -, EXTRA token), reg (ARG member id), patch (ARG value,
# EXTRA generation), delete (ARG -). Before each request "begin OP NAME ARG".
worker() {
	local r=$1 w=$2 j="$J/$1.$2" k=0 name out code rc body tok gen i m val
	while :; do
		k=$((k + 1))
		name="c$r-$w-$k"
		echo "begin create $name -" >>"$j"
		out=$(curl -sS -w '\n%{http_code}' --max-time 20 -X POST -H 'Content-Type: application/json' \
			--data-binary "{\"name\":\"$name\",\"size\":5,\"profiles\":[\"etcd\",\"rabbitmq\"]}" \
			"$BASE/clusters" 2>/dev/null)
		rc=$?
		code=${out##*$'\n'}
		body=${out%$'\n'*}
		tok=-
		[[ $body =~ /discovery/([0-9a-f]{32}) ]] && tok=${BASH_REMATCH[1]}
		echo "create $name - $code $rc $tok" >>"$j"
		[ "$code" = 201 ] || continue
		for i in $(seq 1 $((RANDOM % 4))); do
			m=$(printf '%x%04x' "$w" "$((k * 8 + i))")
			echo "begin reg $name $m" >>"$j"
			code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -X PUT \
				--data-binary "value=m$m%3Dhttp%3A%2F%2F127.0.0.1%3A2380" \
				"$BASE/discovery/$tok/$m?prevExist=false" 2>/dev/null)
			rc=$?
			echo "reg $name $m $code $rc" >>"$j"
		done
		for i in $(seq 1 $((RANDOM % 4))); do
			val="img-$r-$w-$k-$i"
			echo "begin patch $name $val" >>"$j"
			out=$(curl -sS -w '\n%{http_code}' --max-time 20 -X PATCH -H 'Content-Type: application/json' \
				--data-binary "{\"vars\":{\"rabbitmq_image\":\"$val\"}}" "$BASE/clusters/$name" 2>/dev/null)
			rc=$?
			code=${out##*$'\n'}
			gen=-
			[[ $out =~ \"generation\":\ *([0-9]+) ]] && gen=${BASH_REMATCH[1]}
			echo "patch $name $val $code $rc $gen" >>"$j"
		done
		if [ $((RANDOM % 3)) = 0 ]; then
			echo "begin delete $name -" >>"$j"
			code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -X DELETE \
				"$BASE/clusters/$name" 2>/dev/null)
			rc=$?
			echo "delete $name - $code $rc" >>"$j"
		fi
	done
}

# verify ROUND - checks the restarted server and database against the
# journals; appends this round's observed state to settled.json.
verify() {
	local db=$T/db/kindling.db
	if on_pg; then db=$(pg_url_of "$db"); fi
	python3 - "$1" "$BASE" "$db" "$J" "$T/settled.json" <<'EOF'
import glob, json, subprocess, sys, urllib.request, urllib.error
rnd, base, dbpath, jdir, settled_path = sys.argv[1:6]
problems = []

def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None

on_pg = dbpath.startswith("postgres")

def sql(q):
    cmd = (["psql", dbpath, "-Atq", "-F|", "-v", "ON_ERROR_STOP=1", "-c", q] if on_pg
           else ["sqlite3", "-readonly", dbpath, q])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        problems.append(cmd[0] + ": " + out.stderr.strip())
    return [l.split("|") for l in out.stdout.splitlines() if l]

# ---- the journals of this round: per cluster, its requests in order
ops = {}  # name -> list of (op, arg, outcome, extra); outcome: ack, nack, unknown
nreq = {"ack": 0, "nack": 0, "unknown": 0}
for f in glob.glob(f"{jdir}/{rnd}.*"):
    pending = None
    for line in open(f):
        p = line.split()
        if p[0] == "begin":
            pending = p[1:4]
            continue
        op, name, arg, code, rc = p[0:5]
        extra = p[5] if len(p) > 5 else "-"
        pending = None
        if code.startswith("2"):
            outcome = "ack"
        elif code != "000" or rc == "7":   # an HTTP answer, or never connected
            outcome = "nack"
        else:
            outcome = "unknown"                # cut off by the kill
        nreq[outcome] += 1
        ops.setdefault(name, []).append((op, arg, outcome, extra))
    if pending:  # the worker was killed during this request
        nreq["unknown"] += 1
        ops.setdefault(pending[1], []).append((pending[0], pending[2], "unknown", "-"))

# ---- what the server and the database say
listing = {}
cursor = ""
while True:
    st, page = get("/clusters?limit=1000" + cursor)
    if st != 200:
        problems.append(f"GET /clusters: {st}")
        break
    for c in page["clusters"]:
        listing[c["name"]] = c
    if not page.get("next_cursor"):
        break
    cursor = "&cursor=" + page["next_cursor"]
rows = {r[0]: r for r in sql("SELECT name, id, discovery_mode, generation, discovery_url FROM clusters")}
tokens = sql("SELECT token, cluster_id FROM discovery_tokens WHERE cluster_id IS NOT NULL")
members = {}
for tok, mid in sql("SELECT token, member_id FROM discovery_members"):
    members.setdefault(tok, set()).add(mid)

# ---- consistency: no half-applied create or delete
ids = {r[1]: r for r in rows.values()}
tok_of = {}
for tok, cid in tokens:
    if cid not in ids:
        problems.append(f"discovery token {tok[:6]}... belongs to no cluster")
    tok_of[cid] = tok
for name, r in rows.items():
    if r[2] == "builtin":
        t = tok_of.get(r[1])
        if not t:
            problems.append(f"cluster {name} (builtin discovery) has no discovery_tokens row")
        elif not r[4].endswith("/discovery/" + t):
            problems.append(f"cluster {name}: discovery_url does not name its token")
live = {t for t, _ in sql("SELECT token, 1 FROM discovery_tokens")}
for t in members:
    if t not in live:
        problems.append(f"members under a deleted token {t[:6]}...")
if set(listing) != set(rows):
    problems.append(f"GET /clusters and the database disagree: {sorted(set(listing) ^ set(rows))[:5]}")
# (PostgreSQL checks its foreign keys itself: nothing to ask it)
ic = [["ok"]] if on_pg else sql("PRAGMA integrity_check")
if ic != [["ok"]]:
    problems.append(f"integrity_check: {ic[:3]}")
fk = [] if on_pg else sql("PRAGMA foreign_key_check")
if fk:
    problems.append(f"foreign_key_check: {fk[:3]}")

def observed(name):
    c = listing.get(name)
    if not c:
        return None
    tok = c["discovery_url"].rsplit("/", 1)[-1]
    return {"gen": c["generation"], "img": c["vars"].get("rabbitmq_image"),
            "members": sorted(members.get(tok, set())), "registered": c["members"]["registered"],
            "token": tok}

# ---- earlier rounds: exactly as settled
settled = {}
for line in open(settled_path):
    settled.update(json.loads(line))
for name, want in settled.items():
    got = observed(name)
    if want is None and got is not None:
        problems.append(f"{name}: deleted in an earlier round, back again")
    elif want is not None and got is None:
        problems.append(f"{name}: settled in an earlier round, now lost")
    elif want is not None and {k: got[k] for k in ("gen", "img", "members")} != \
            {k: want[k] for k in ("gen", "img", "members")}:
        problems.append(f"{name}: changed since it settled: {want} -> {got}")

# ---- this round: acknowledged changes present, nothing else
checked_dirs = 0
now = {}
for name, seq in ops.items():
    got = observed(name)
    now[name] = got
    create = seq[0]
    deletes = [o for o in seq if o[0] == "delete"]
    if create[2] == "nack":
        if got is not None:
            problems.append(f"{name}: create refused ({create}) but the cluster exists")
        continue
    if create[2] == "ack" and not deletes and got is None:
        problems.append(f"{name}: acknowledged create lost")
        continue
    if deletes and deletes[-1][2] == "ack" and got is not None:
        problems.append(f"{name}: acknowledged delete undone")
        continue
    if deletes and deletes[-1][2] == "nack" and got is None:
        problems.append(f"{name}: refused delete applied")
        continue
    if got is None:
        continue  # a create or a delete cut off by the kill: all or nothing, checked above
    # generation and vars: 1 + acknowledged patches (+1 if the cut-off one applied)
    patches = [o for o in seq if o[0] == "patch"]
    acked = [o for o in patches if o[2] == "ack"]
    unknown = [o for o in patches if o[2] == "unknown"]
    want_gen = 1 + len(acked)
    if acked and acked[-1][3] != str(want_gen):
        problems.append(f"{name}: patch answered generation {acked[-1][3]}, want {want_gen}")
    last_img = acked[-1][1] if acked else None
    if got["gen"] == want_gen and got["img"] == last_img:
        pass
    elif unknown and want_gen < got["gen"] <= want_gen + len(unknown) and \
            got["img"] in [u[1] for u in unknown]:
        pass  # cut-off patches (a killed request, then one the killed worker began) may apply
    else:
        problems.append(f"{name}: generation/vars {got['gen']}/{got['img']}, want "
                        f"{want_gen}/{last_img}" + (f" or +1/{unknown[-1][1]}" if unknown else ""))
    # registrations: acknowledged ones listed, refused ones not, nothing else
    regs = {o[1]: o[2] for o in seq if o[0] == "reg"}
    st, d = get("/discovery/" + got["token"])
    checked_dirs += 1
    listed = set()
    if st != 200:
        problems.append(f"{name}: GET of its discovery directory: {st}")
    else:
        listed = {n["key"].rsplit("/", 1)[-1] for n in d["node"].get("nodes", [])}
    for mid, outcome in regs.items():
        if outcome == "ack" and mid not in listed:
            problems.append(f"{name}: acknowledged registration {mid} lost")
        if outcome == "nack" and mid in listed:
            problems.append(f"{name}: refused registration {mid} applied")
    extra = listed - set(regs)
    if extra:
        problems.append(f"{name}: members nobody registered: {sorted(extra)}")
    if listed != set(got["members"]) or got["registered"] != len(listed):
        problems.append(f"{name}: directory, database and cluster JSON disagree on members")

with open(settled_path, "a") as f:
    f.write(json.dumps(now) + "\n")
if nreq["ack"] == 0:
    problems.append("no request was acknowledged this round: nothing was put to the test")
print(f"# round {rnd}: {nreq['ack']} acknowledged, {nreq['nack']} refused or unsent, "
      f"{nreq['unknown']} cut off; {len(rows)} clusters, {checked_dirs} directories checked")
for p in problems[:20]:
    print("# PROBLEM " + p)
sys.exit(1 if problems else 0)
EOF
}

# ---- concurrent PATCHes of one cluster: each acknowledged one is reflected ----
# (a merge patch computed from a stale read and written whole loses the
# others' variables although every PATCH answered 200 and bumped generation)
kindling_start --threads 4 || exit 1
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' "$BASE/clusters" \
	--data-binary '{"name":"shared","size":1,"profiles":["etcd","rabbitmq"]}'
lost=0
acked=0
conflicts=0 # 409, or 503 (kindling gave up after 16 tries: "still changing")
other=""
# value_of VAR I - a value of round I that VAR's rule accepts
value_of() { if [ "$1" = rabbitmq_etcd_endpoint ]; then echo "127.0.0.$2:2379"; else echo "v$2"; fi; }
total=0
gen0=$(curl -s "$BASE/clusters/shared" | jq .generation)
for i in $(seq 1 10); do
	ppids=()
	for v in rabbitmq_image rabbitmq_etcd_endpoint rabbitmq_admin_user rabbitmq_admin_password; do
		curl -s -o /dev/null -w "%{http_code} $v\n" -X PATCH -H 'Content-Type: application/json' \
			--data-binary "{\"vars\":{\"$v\":\"$(value_of "$v" "$i")\"}}" "$BASE/clusters/shared" >"$T/patch.$v" &
		ppids+=($!)
	done
	wait "${ppids[@]}"
	vars=$(curl -s "$BASE/clusters/shared" | jq -c .vars)
	for v in rabbitmq_image rabbitmq_etcd_endpoint rabbitmq_admin_user rabbitmq_admin_password; do
		total=$((total + 1))
		code=$(cut -d' ' -f1 "$T/patch.$v")
		case $code in
		200)
			acked=$((acked + 1))
			[ "$(jq -r ".$v" <<<"$vars")" = "$(value_of "$v" "$i")" ] || lost=$((lost + 1))
			;;
		409 | 503) conflicts=$((conflicts + 1)) ;;
		*) other="$other $code" ;;
		esac
	done
done
gen=$(curl -s "$BASE/clusters/shared" | jq .generation)
echo "# concurrent PATCHes: $total sent, $acked acknowledged ($lost of them lost), $conflicts conflicts,${other:- no} other answers; generation $gen0 -> $gen"
check_that "concurrent PATCHes: at least one succeeds, and each of the $total is a 200 or a conflict (409/503): $acked + $conflicts${other:+, other:$other}" \
	'[ "$acked" -ge 1 ] && [ $((acked + conflicts)) = "$total" ] && [ "$total" = 40 ]'
check_that "concurrent PATCHes: the generation grew by exactly the $acked successes ($gen0 -> $gen)" \
	'[ "$gen0" = 1 ] && [ "$gen" = $((1 + acked)) ]'
check_that "concurrent PATCHes of different vars: none of the $acked acknowledged ones is lost ($lost lost)" \
	'[ "$acked" -ge 1 ] && [ "$lost" = 0 ]'
curl -s -o /dev/null -X DELETE "$BASE/clusters/shared"
kindling_kill9

start_s=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
	kindling_start || {
		fail "round $r: kindling restarts"
		break
	}
	wpids=()
	for w in $(seq 1 $WORKERS); do
		worker "$r" "$w" &
		wpids+=($!)
	done
	PIDS_TO_STOP+=("${wpids[@]}")
	# once the load has an acknowledged request (on a loaded machine that can
	# take a while), a random moment 0-2 s later (the log of the killed
	# kindling is scanned for sanitizer reports at exit, with all the others)
	eventually 60 bash -c "cat '$J'/$r.* 2>/dev/null | grep -qE '^[a-z]+ [^ ]+ [^ ]+ 2[0-9][0-9] '"
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", rand() * 2 }')"
	kindling_kill9
	for p in "${wpids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait "${wpids[@]}" 2>/dev/null
	kindling_start || {
		fail "round $r: kindling restarts after kill -9"
		break
	}
	if out=$(verify "$r"); then
		pass "round $r: acknowledged changes survive kill -9, nothing half-applied, integrity ok"
	else
		fail "round $r: state after kill -9"
	fi
	echo "$out"
	kindling_kill9 # the next round starts it again
done
kindling_start || exit 1
kindling_stop
sqlite_only "PRAGMA integrity_check" ||
	check "integrity_check ok after a clean stop" [ "$(sqlite3 "$T/db/kindling.db" 'PRAGMA integrity_check')" = ok ]
creates=$(cat "$J"/* | grep -c '^create .* 201 ')
regs=$(cat "$J"/* | grep -c '^reg .* 201 ')
patches=$(cat "$J"/* | grep -c '^patch .* 200 ')
deletes=$(cat "$J"/* | grep -c '^delete .* 204 ')
echo "# $ROUNDS rounds in $(($(date +%s) - start_s)) s: acknowledged $creates creates, $regs registrations, $patches patches, $deletes deletes"
if [ "$creates" -gt 0 ] && [ "$regs" -gt 0 ] && [ "$patches" -gt 0 ] && [ "$deletes" -gt 0 ]; then
	pass "the load did acknowledged work of every kind"
else
	fail "the load did acknowledged work of every kind"
fi
finish
