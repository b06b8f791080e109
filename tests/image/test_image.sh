#!/usr/bin/env bash
# test_image.sh - builds the Dockerfile with podman and runs the image: no
# Docker engine and no registry needed (../shared/reference/container-build.md).
#
#   bash tests/image/test_image.sh          (or: make test-image)
#
# Steps, each timed ("# time STEP: N.Ns"):
#   deps     installs the podman packages below when missing (as root)
#   base     debian:bookworm-slim made with debootstrap from this machine's
#            Debian mirror, imported and tagged docker.io/library/debian:bookworm-slim
#            (the tarball is cached in build/podman/cache, the image in build/podman/storage)
#   build    podman build --pull=never --network host --format docker
#   run      the image on a free loopback port (host network) with an admin
#            token file and a named volume; cluster created, userdata and
#            /ignition fetched through it with curl; healthcheck; non-root
#   stop     podman stop -t 10: exits 0 promptly on SIGTERM
#   persist  a new container on the same volume still has the cluster
#   defaults the image's own defaults (0.0.0.0:8080) in an isolated network
#   unit     examples/kindling.service under a real systemd in a container
#   cleanup  removes every container and volume it made, unmounts its storage
#
# Prints "PASS test_image: name" / "FAIL test_image: name" lines, its plan
# and end line (tests/report.sh); exits non-zero on any failure. No check has
# an upper time bound (the times are printed); waits are generous. Everything podman keeps
# (storage, volumes, runtime state, events, network config) is under
# build/podman (KINDLING_PODMAN_DIR): the machine's default container storage
# and networks are never used. Images stay cached there for the next run;
# KINDLING_IMAGE_CLEAN=1 removes them too (the base tarball stays).
#
# The script runs in its own mount namespace (unshare), so the mounts podman
# makes are never seen outside it and vanish with it; there /var/lib is
# overlaid with build/podman/varlib, because podman build writes a blob-info
# cache to /var/lib/containers/cache whatever its storage settings say.
# KINDLING_IMAGE_CONTEXT=DIR builds another tree (e.g. a `git archive` of a
# commit) instead of the work tree; it must hold the Dockerfile.
# timeout: 1800
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
if [ -z "${KINDLING_IMAGE_NS:-}" ] && [ "$(id -u)" = 0 ]; then
	KINDLING_IMAGE_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
ROOT=$PWD
TEST_NAME=test_image
W=${KINDLING_PODMAN_DIR:-$ROOT/build/podman}
IMAGE=localhost/kindling:test
# podman runs HEALTHCHECKs from systemd timers; there is no systemd here, so
# the timers are off and the test runs the check itself (podman healthcheck run).
RUN_OPTS=(--pull=never --health-interval=disable)
CONTEXT=${KINDLING_IMAGE_CONTEXT:-$ROOT}
BASE_IMAGE=docker.io/library/debian:bookworm-slim
PODMAN_DEBS="podman buildah debootstrap runc uidmap fuse-overlayfs slirp4netns
             containernetworking-plugins golang-github-containers-common conmon catatonit"
HOST_DEBS="curl jq"
T=$(mktemp -d /tmp/kindling-test-image.XXXXXX)
RUN_ID=$$
CONTAINERS=()
VOLUMES=()
VARLIB_MOUNTED=""
# shellcheck source=../report.sh
source tests/report.sh
plan 53
note() { echo "# $*"; }

# step NAME / step_end: times one step.
STEP="" STEP_T0=""
TIMES=()
step() {
	step_end
	STEP=$1
	STEP_T0=$EPOCHREALTIME
	note "---- $STEP"
}
step_end() {
	[ -n "$STEP" ] || return 0
	local ms=$(((${EPOCHREALTIME/./} - ${STEP_T0/./}) / 1000))
	TIMES+=("$STEP $(printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100)))s")
	note "time $STEP: $(printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100)))s"
	STEP=""
}
secs_since() { # T0 (an $EPOCHREALTIME) -> seconds, one decimal
	local ms=$(((${EPOCHREALTIME/./} - ${1/./}) / 1000))
	printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100))
}

# --- private podman configuration --------------------------------------------
# Each run is a new "boot" for podman: runtime state from an earlier run (whose
# mounts died with its namespace) is dropped; images and volumes stay.
rm -rf "$W/run" "$W/tmp" "$W/varlib"
mkdir -p "$W"/{storage,run,tmp,net,cache}
export CONTAINERS_CONF="$W/containers.conf"
export CONTAINERS_STORAGE_CONF="$W/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$W/registries.conf"
export TMPDIR="$W/tmp"
# crun cannot run here (cgroups hybrid mode) and the default rlimits are above
# this machine's hard limits; events to a file (no journald).
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu)
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/tmp/events.log"
tmp_dir = "$W/tmp"
volume_path = "$W/storage/volumes"

[network]
network_config_dir = "$W/net"
EOF
driver=overlay
grep -qw overlay /proc/filesystems || driver=vfs
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "$driver"
graphroot = "$W/storage"
runroot = "$W/run"
EOF
# Nothing is pulled: every image is built or imported here.
cat >"$CONTAINERS_REGISTRIES_CONF" <<EOF
unqualified-search-registries = []
EOF

cleanup() {
	step cleanup
	local c v m
	for c in "${CONTAINERS[@]}"; do
		podman rm -f -t 0 "$c" >/dev/null 2>&1
	done
	for v in "${VOLUMES[@]}"; do
		podman volume rm -f "$v" >/dev/null 2>&1
	done
	if [ "${KINDLING_IMAGE_CLEAN:-0}" = 1 ]; then
		podman rm -a -f -t 0 >/dev/null 2>&1
		podman rmi -a -f >/dev/null 2>&1
	fi
	# The overlay driver keeps its folder mounted (private); unmount everything
	# under $W, deepest first.
	for m in $(awk -v w="$W/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	[ -n "$VARLIB_MOUNTED" ] && umount /var/lib 2>/dev/null
	if [ "${KINDLING_IMAGE_CLEAN:-0}" = 1 ]; then
		rm -rf "$W/storage" "$W/run" "$W/tmp" "$W/net" "$W/varlib"
	fi
	left=$(awk -v w="$W/" 'index($5, w) == 1' /proc/self/mountinfo | wc -l)
	rm -rf "$T"
	step_end
	if [ "$left" -eq 0 ]; then pass "cleanup: no mount left under $W"; else fail "cleanup: $left mounts left under $W"; fi
	echo "# times: ${TIMES[*]}"
}
trap 'st=$?; cleanup; report_exit $st' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- deps ----------------------------------------------------------------------
step deps
missing=""
for p in $PODMAN_DEBS $HOST_DEBS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		fail "deps: missing Debian packages:$missing (run as root to install them)"
		exit 1
	fi
	note "installing:$missing"
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing; } >"$T/apt.log" 2>&1; then
		tail -20 "$T/apt.log"
		fail "deps: apt-get install$missing"
		exit 1
	fi
fi
if [ "$(id -u)" != 0 ]; then
	fail "deps: this test runs podman as root (private storage, host network)"
	exit 1
fi
pass "deps: podman $(podman version --format '{{.Client.Version}}' 2>/dev/null), runc, debootstrap installed"

# Only this namespace sees the overlay; fd 9 keeps the real /var/lib in view.
exec 9</var/lib
default_storage_before=$(ls -d /proc/self/fd/9/containers/* /run/containers/storage 2>/dev/null)
mkdir -p "$W"/varlib/{upper,work}
if [ -z "${KINDLING_IMAGE_NS:-}" ] ||
	! mount -t overlay kindling-varlib -o "lowerdir=/var/lib,upperdir=$W/varlib/upper,workdir=$W/varlib/work" /var/lib; then
	fail "deps: cannot overlay /var/lib in a private mount namespace"
	exit 1
fi
VARLIB_MOUNTED=1

# --- base image ----------------------------------------------------------------
step base
base_tar="$W/cache/debian-bookworm-slim.tar"
make_base_tar() {
	local rootfs="$W/rootfs" mirror
	mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
	[ -n "$mirror" ] || mirror=$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	note "debootstrap --variant=minbase bookworm from $mirror"
	rm -rf "$rootfs"
	if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$T/debootstrap.log" 2>&1; then
		tail -20 "$T/debootstrap.log"
		rm -rf "$rootfs"
		return 1
	fi
	# What the official slim image does: no docs, man pages or translations,
	# no apt caches, and apt configured the same way from now on.
	rm -rf "$rootfs"/usr/share/{doc,man,info,groff,lintian,linda,locale}/* \
		"$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
		"$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/etc/hostname
	: >"$rootfs/etc/resolv.conf"
	cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
	cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
	echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
	echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
	# The machine's own sources (bookworm, -updates, -security), as deb822 like the real image.
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
		rm -f "$rootfs/etc/apt/sources.list"
	fi
	tar --numeric-owner -C "$rootfs" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
	local rc=$?
	rm -rf "$rootfs"
	return $rc
}
if podman image exists "$BASE_IMAGE"; then
	pass "base: $BASE_IMAGE already in $W/storage"
else
	if [ ! -s "$base_tar" ]; then
		t0=$EPOCHREALTIME
		if make_base_tar; then
			note "debootstrap and trim took $(secs_since "$t0")s, tarball $(($(stat -c %s "$base_tar") / 1048576)) MiB"
		else
			fail "base: debootstrap bookworm"
			exit 1
		fi
	else
		note "base tarball cached: $base_tar"
	fi
	if podman import --change 'CMD ["bash"]' "$base_tar" "$BASE_IMAGE" >"$T/import.log" 2>&1; then
		pass "base: $BASE_IMAGE imported from debootstrap"
	else
		cat "$T/import.log"
		fail "base: podman import"
		exit 1
	fi
fi

# --- build ---------------------------------------------------------------------
step build
# The Dockerfile names the build packages itself (so that editing the Makefile
# keeps the apt layer cached): they must be the Makefile's BUILD_DEBS.
mk_debs=$(make -pnq -C "$CONTEXT" 2>/dev/null | sed -n 's/^BUILD_DEBS := //p' | tr ' ' '\n' | sort | xargs)
df_debs=$(awk '/^FROM .* AS build/ { b = 1 } b && /apt-get install/ { on = 1; next } on && /^ *&&/ { exit } on' \
	"$CONTEXT/Dockerfile" | tr -s ' \\\t' '\n' | grep -v '^$' | sort | xargs)
check "Dockerfile's build packages are the Makefile's BUILD_DEBS ($mk_debs)" [ "${mk_debs:-none}" = "$df_debs" ]
t0=$EPOCHREALTIME
if podman build --pull=never --network host --format docker --layers -t "$IMAGE" "$CONTEXT" >"$T/build.log" 2>&1; then
	pass "build: podman build --format docker ($(secs_since "$t0")s)"
else
	tail -40 "$T/build.log"
	fail "build: podman build"
	exit 1
fi
note "build: $(grep -c 'STEP [0-9]' "$T/build.log") steps, $(grep -c '^--> Using cache' "$T/build.log") from the layer cache"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
note "image $IMAGE: $((size / 1000000)) MB ($size bytes)"
check "image is small (< 120 MB, is $((size / 1000000)) MB)" [ "$size" -lt 120000000 ]
cfg() { podman image inspect --format "$1" "$IMAGE"; }
check "image runs as uid 10001" [ "$(cfg '{{.Config.User}}')" = 10001:10001 ]
check "image entrypoint is /usr/bin/kindling" [ "$(cfg '{{json .Config.Entrypoint}}')" = '["/usr/bin/kindling"]' ]
check "image declares the /var/lib/kindling volume" bash -c "[[ '$(cfg '{{json .Config.Volumes}}')' == *'\"/var/lib/kindling\"'* ]]"
check "image exposes 8080/tcp" bash -c "[[ '$(cfg '{{json .Config.ExposedPorts}}')' == *'8080/tcp'* ]]"
hc_cfg=$(cfg '{{json .Config.Healthcheck}}')
check "image has a HEALTHCHECK that GETs /healthz" bash -c '[[ $1 == *CMD-SHELL* && $1 == *"/healthz"* ]]' _ "$hc_cfg"
check "image sets KINDLING_* defaults" bash -c "podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' '$IMAGE' |
	grep -qx KINDLING_ADMIN_TOKEN_FILE=/run/secrets/kindling-admin-token"
libs=$(podman run --rm --network none "${RUN_OPTS[@]}" --entrypoint bash "$IMAGE" -c \
	'dpkg-query -W -f="\${Package}\n" | grep -cE "^(gcc|cpp|make|pkg-config|libc6-dev|.*-dev|curl)$"' 2>/dev/null)
check "runtime stage has no compiler, -dev package or curl" [ "$libs" = 0 ]

# --- run -----------------------------------------------------------------------
step run
free_port() {
	local p hex
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		hex=$(printf '%04X' "$p")
		awk -v h=":$hex" '$2 ~ h"$"' /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q . || {
			echo "$p"
			return 0
		}
	done
	return 1
}
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
ADMIN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
install -d -m 0700 "$T/secrets"
printf '%s\n' "$ADMIN" >"$T/secrets/admin-token"
chown 10001:10001 "$T/secrets/admin-token" # the image's user reads it
chmod 0400 "$T/secrets/admin-token"
VOL=kindling-test-$RUN_ID
podman volume create "$VOL" >/dev/null && VOLUMES+=("$VOL")
C1=kindling-test-$RUN_ID-a
# start_kindling NAME [PODMAN-RUN-FLAG...]: kindling on $PORT, host network,
# the volume and the token.
start_kindling() {
	local name=$1
	shift
	CONTAINERS+=("$name")
	podman run -d --name "$name" "${RUN_OPTS[@]}" --network host "$@" \
		-v "$VOL:/var/lib/kindling" \
		-v "$T/secrets/admin-token:/run/secrets/kindling-admin-token:ro" \
		-e KINDLING_PUBLIC_URL="$BASE" \
		"$IMAGE" --listen "127.0.0.1:$PORT" --threads 2 >"$T/$name.id" 2>"$T/$name.err" || {
		cat "$T/$name.err"
		return 1
	}
	for _ in $(seq 1 600); do
		curl -sf -o /dev/null "$BASE/healthz" && return 0
		[ "$(podman inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
		sleep 0.1
	done
	podman logs "$name" 2>&1 | tail -20
	return 1
}
t0=$EPOCHREALTIME
if start_kindling "$C1"; then
	pass "container starts and answers /healthz on 127.0.0.1:$PORT ($(secs_since "$t0")s)"
else
	fail "container starts and answers /healthz"
	exit 1
fi
STATUS="" BODY="$T/body"
req() { # METHOD PATH [curl args...] -> $STATUS, body in $BODY
	local m=$1 p=$2
	shift 2
	STATUS=$(curl -s -o "$BODY" -w '%{http_code}' -X "$m" "$@" "$BASE$p")
}
jqb() { jq -r "$1" <"$BODY"; }
AUTH=(-H "Authorization: Bearer $ADMIN")

req GET /healthz
check "/healthz: 200 {status: ok}" [ "$STATUS $(jqb .status)" = "200 ok" ]
req GET /clusters
check "operator route without the admin token: 401" [ "$STATUS" = 401 ]
req POST /clusters "${AUTH[@]}" -H 'Content-Type: application/json' \
	-d '{"name": "img", "size": 3, "profiles": ["etcd", "rabbitmq"]}'
check "create cluster img through the container: 201" [ "$STATUS" = 201 ]
CLUSTER_ID=$(jqb .id)
check "cluster URLs use the public URL" [ "$(jqb .ignition_url)" = "$BASE/clusters/img/ignition" ]
req GET /clusters/img/userdata "${AUTH[@]}"
check "userdata: 200, a pointer to /ignition" \
	[ "$STATUS $(jqb .ignition.config.replace.source)" = "200 $BASE/clusters/img/ignition" ]
FETCH=$(jqb '.ignition.config.replace.httpHeaders[0].value')
check "userdata carries the fetch token" bash -c "[[ '$FETCH' == 'Bearer '?* ]]"
req GET /clusters/img/ignition
check "/ignition without the fetch token: 401" [ "$STATUS" = 401 ]
req GET /clusters/img/ignition -H "Authorization: $FETCH"
check "/ignition with the fetch token: 200, spec 3.3.0" [ "$STATUS $(jqb .ignition.version)" = "200 3.3.0" ]
check "/ignition carries the etcd drop-in and rabbitmq files" \
	[ "$(jqb '[(.systemd.units[]? | .name), (.storage.files[]? | .path)] | map(select(test("etcd-member|rabbitmq.conf"))) | length >= 2')" = true ]
units=$(jqb '[.systemd.units[]?.name] | join(",")')
note "ignition units: $units"

t0=$EPOCHREALTIME
hc=$(podman healthcheck run "$C1" 2>&1)
hrc=$?
check "podman healthcheck run: healthy ($(secs_since "$t0")s)" [ "$hrc" = 0 ]
[ "$hrc" = 0 ] || note "healthcheck said: $hc"
pid=$(podman inspect --format '{{.State.Pid}}' "$C1")
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)
check "kindling runs as uid 10001, not root (host /proc: $uids)" [ "$uids" = "10001 10001 10001 10001" ]
check "podman exec id -u: 10001" [ "$(podman exec "$C1" id -u 2>/dev/null)" = 10001 ]
check "kindling is PID 1 in the container" [ "$(podman exec "$C1" cat /proc/1/comm 2>/dev/null)" = kindling ]
dbls=$(podman exec "$C1" stat -c '%U %a %n' /var/lib/kindling/kindling.db 2>/dev/null)
check "database in the volume, owned by kindling, mode 600 ($dbls)" [ "$dbls" = "kindling 600 /var/lib/kindling/kindling.db" ]

# --- stop ----------------------------------------------------------------------
step stop
t0=$EPOCHREALTIME
podman stop -t 10 "$C1" >/dev/null 2>&1
took=$(secs_since "$t0")
code=$(podman inspect --format '{{.State.ExitCode}}' "$C1")
# Stopped by itself on SIGTERM, before the 10 s after which podman SIGKILLs
# (exit code 137): exit code 0 says so. The wall time is printed, not checked
# (it includes podman's own work, slower on a loaded machine).
check "podman stop -t 10: the container is stopped (${took}s)" \
	[ "$(podman inspect --format '{{.State.Running}}' "$C1")" = false ]
check "exit code 0 after SIGTERM, not SIGKILLed (was $code)" [ "$code" = 0 ]
podman logs "$C1" >"$T/c1.log" 2>&1
check "log says SIGTERM: draining and stopping, then stopped" \
	bash -c "grep -q 'SIGTERM: draining and stopping' '$T/c1.log' && grep -q 'stopped' '$T/c1.log'"
# kindling's own part, from its log: SIGTERM received -> stopped.
ms_of() { # an ISO time with milliseconds at the start of a log line -> ms of the day
	local t=${1:11:12}
	echo $(((10#${t:0:2} * 3600 + 10#${t:3:2} * 60 + 10#${t:6:2}) * 1000 + 10#${t:9:3}))
}
t_term=$(grep -m1 'SIGTERM: draining' "$T/c1.log")
t_stop=$(grep -m1 'info stopped' "$T/c1.log")
drain=-1
[ -n "$t_term" ] && [ -n "$t_stop" ] && drain=$(($(ms_of "$t_stop") - $(ms_of "$t_term")))
check "kindling logs SIGTERM, then drains and stops (${drain} ms later)" [ "$drain" -ge 0 ]
check "log holds no token" bash -c "! grep -qF -e '$ADMIN' -e '${FETCH#Bearer }' '$T/c1.log'"
sed 's/^/# c1: /' "$T/c1.log" | head -12

# --- persist -------------------------------------------------------------------
step persist
C2=kindling-test-$RUN_ID-b
# This time as locked down as it goes: read-only root, no capabilities.
if start_kindling "$C2" --read-only --cap-drop all --security-opt no-new-privileges; then
	pass "restarts with --read-only --cap-drop all --security-opt no-new-privileges"
	req GET /clusters/img "${AUTH[@]}"
	check "a new container on the same volume still has cluster img (same id)" \
		[ "$STATUS $(jqb .id)" = "200 $CLUSTER_ID" ]
	req GET /clusters/img/ignition -H "Authorization: $FETCH"
	check "the fetch token still works after the restart" [ "$STATUS" = 200 ]
	podman stop -t 10 "$C2" >/dev/null 2>&1
	check "second container exits 0" [ "$(podman inspect --format '{{.State.ExitCode}}' "$C2")" = 0 ]
else
	fail "a new container on the same volume starts"
fi

# --- defaults ------------------------------------------------------------------
step defaults
# The image as shipped: 0.0.0.0:8080, in its own network namespace.
C3=kindling-test-$RUN_ID-c
CONTAINERS+=("$C3")
out=$(timeout 30 podman run --name "$C3" "${RUN_OPTS[@]}" --network none "$IMAGE" 2>&1)
rc=$?
out=$(grep -v 'systemd connection' <<<"$out") # podman's own noise: no systemd here
check "without the admin token file: exits 1 at once (rc=$rc)" [ "$rc" = 1 ]
check "... saying which file is missing" bash -c "[[ '$out' == *'/run/secrets/kindling-admin-token'* ]]"
note "no token: $out"
C4=kindling-test-$RUN_ID-d
CONTAINERS+=("$C4")
podman run -d --name "$C4" "${RUN_OPTS[@]}" --network none \
	-v "$T/secrets/admin-token:/run/secrets/kindling-admin-token:ro" "$IMAGE" >/dev/null 2>&1
ok=1
for _ in $(seq 1 300); do
	podman healthcheck run "$C4" >/dev/null 2>&1 && { ok=0; break; }
	sleep 0.1
done
check "defaults (0.0.0.0:8080, env only): podman healthcheck run is healthy" [ "$ok" = 0 ]
check "defaults: listens on 0.0.0.0:8080" bash -c "podman logs '$C4' 2>&1 | grep -q 'listening on 0.0.0.0:8080'"
podman stop -t 10 "$C4" >/dev/null 2>&1
podman rm -f -t 0 "$C4" >/dev/null 2>&1
# --insecure-no-auth the way the Dockerfile's header says (Docker's way, as
# podman has it too): the token variable unset by env(1), kindling still PID 1.
podman run -d --name "$C4" "${RUN_OPTS[@]}" --network none --entrypoint env "$IMAGE" \
	-u KINDLING_ADMIN_TOKEN_FILE /usr/bin/kindling --insecure-no-auth >/dev/null 2>&1
ok=1
for _ in $(seq 1 300); do
	podman healthcheck run "$C4" >/dev/null 2>&1 && { ok=0; break; }
	sleep 0.1
done
check "--entrypoint env -u KINDLING_ADMIN_TOKEN_FILE ... --insecure-no-auth: healthy" [ "$ok" = 0 ]
podman rm -f -t 0 "$C4" >/dev/null 2>&1
# A running container where nothing serves /healthz must be unhealthy.
# (it must be running: a container that did not start is "unhealthy" too)
ok=1
podman run -d --name "$C4" "${RUN_OPTS[@]}" --network none --entrypoint sleep "$IMAGE" 60 >/dev/null 2>&1
running=$(podman inspect --format '{{.State.Running}}' "$C4" 2>/dev/null)
podman healthcheck run "$C4" >/dev/null 2>&1 || ok=0
check "healthcheck is unhealthy when nothing serves /healthz (in a running container: $running)" \
	[ "$ok:$running" = 0:true ]
podman rm -f -t 0 "$C4" >/dev/null 2>&1

# --- unit ----------------------------------------------------------------------
# examples/kindling.service under a real systemd (252, bookworm's) as PID 1 of a
# container, with the binary and templates of the image just built.
step unit
U="$T/unit"
mkdir -p "$U"
cp examples/kindling.service "$U/"
UNIT_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# the runtime libraries: the lib* packages the Dockerfile's last stage installs
RUNTIME_LIBS=$(awk '/^FROM /{n++} n==2' Dockerfile | grep -v '^#' | tr ' ' '\n' | grep -E '^lib[a-z0-9.+-]+$' | sort -u | tr '\n' ' ')
cat >"$U/Containerfile" <<EOF
FROM $IMAGE AS kindling
FROM $BASE_IMAGE
RUN apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends systemd systemd-sysv curl \\
        $RUNTIME_LIBS >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
COPY --from=kindling /usr/bin/kindling /usr/local/bin/kindling
COPY --from=kindling /usr/share/kindling/templates /usr/local/share/kindling/templates
COPY kindling.service /etc/systemd/system/kindling.service
RUN systemctl enable kindling
CMD ["/lib/systemd/systemd"]
EOF
SD_IMAGE=localhost/kindling-systemd:test
t0=$EPOCHREALTIME
if podman build --pull=never --network host --format docker --layers -t "$SD_IMAGE" "$U" >"$T/sd-build.log" 2>&1; then
	pass "unit: image with systemd and examples/kindling.service ($(secs_since "$t0")s)"
	C5=kindling-test-$RUN_ID-e
	CONTAINERS+=("$C5")
	# The token and an environment file, as an operator writes them (the
	# token file root-only: LoadCredential hands it to the dynamic user).
	install -d -m 0700 "$U/etc"
	printf '%s\n' "$UNIT_TOKEN" >"$U/etc/admin-token"
	chmod 0600 "$U/etc/admin-token"
	echo 'KINDLING_PUBLIC_URL=http://kindling.test:8080' >"$U/etc/kindling.env"
	podman run -d --name "$C5" "${RUN_OPTS[@]}" --network none --systemd=always \
		-v "$U/etc:/etc/kindling:ro" "$SD_IMAGE" >/dev/null 2>"$T/sd-run.err"
	sx() { podman exec "$C5" "$@" 2>/dev/null; }
	state=""
	for _ in $(seq 1 600); do
		state=$(sx systemctl is-active kindling)
		[ "$state" = active ] && break
		sleep 0.1
	done
	check "unit: systemctl is-active kindling: $state" [ "$state" = active ]
	for _ in $(seq 1 300); do
		sx curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break
		sleep 0.1
	done
	code=$(sx curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $UNIT_TOKEN" \
		-H 'Content-Type: application/json' -d '{"name": "sd", "size": 1}' http://127.0.0.1:8080/clusters)
	check "unit: POST /clusters with the LoadCredential token: 201" [ "$code" = 201 ]
	url=$(sx curl -s -H "Authorization: Bearer $UNIT_TOKEN" http://127.0.0.1:8080/clusters/sd | jq -r .ignition_url)
	check "unit: EnvironmentFile sets the public URL ($url)" [ "$url" = http://kindling.test:8080/clusters/sd/ignition ]
	mpid=$(sx systemctl show -P MainPID kindling)
	muid=$(sx awk '/^Uid:/ { print $2 }' "/proc/$mpid/status")
	check "unit: kindling runs as a dynamic user (uid $muid), not root" [ "${muid:-0}" != 0 ]
	check "unit: the database is in StateDirectory (/var/lib/private/kindling)" \
		sx test -s /var/lib/private/kindling/kindling.db
	sx systemctl stop kindling
	res=$(sx systemctl show -P Result kindling)
	st=$(sx systemctl show -P ExecMainStatus kindling)
	check "unit: systemctl stop: Result=$res, exit status $st" [ "$res:$st" = success:0 ]
	sx journalctl -u kindling --no-pager -o cat >"$T/sd-journal.log"
	check "unit: journal has the start and the drained stop, no token" bash -c \
		"grep -q 'listening on 0.0.0.0:8080' '$T/sd-journal.log' && grep -q '^.*info stopped' '$T/sd-journal.log' && ! grep -qF '$UNIT_TOKEN' '$T/sd-journal.log'"
	sed 's/^/# unit: /' "$T/sd-journal.log" | tail -6
	podman rm -f -t 0 "$C5" >/dev/null 2>&1
else
	tail -20 "$T/sd-build.log"
	fail "unit: podman build of the systemd image"
fi

# --- default storage ------------------------------------------------------------
default_storage_after=$(ls -d /proc/self/fd/9/containers/* /run/containers/storage 2>/dev/null)
check "the default container storage was not touched" [ "$default_storage_before" = "$default_storage_after" ]
note "what podman wrote to /var/lib went to the overlay: $(cd "$W/varlib/upper" && find . -mindepth 1 | tr '\n' ' ')"
check "no bridge network made (no cni-podman0)" [ ! -e /sys/class/net/cni-podman0 ]
exit 0
