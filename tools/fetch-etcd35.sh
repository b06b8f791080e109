#!/bin/sh
# fetch-etcd35.sh DIR - etcd 3.5 (Debian forky/sid etcd-server and
# etcd-client .debs, which run on bookworm) unpacked into DIR with dpkg -x,
# installing nothing: DIR/usr/bin/etcd and DIR/usr/bin/etcdctl. apt's own
# client with a source list and state folder of its own under DIR/apt (see
# the shared V3.md). Exits 0 when both binaries run; prints why not otherwise.
set -u
dir=${1:?usage: fetch-etcd35.sh DIR}
if [ -x "$dir/usr/bin/etcdctl" ] && [ -x "$dir/usr/bin/etcd" ]; then exit 0; fi
mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || exit 1
a=$dir/apt
mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/debs" || exit 1
echo "deb http://deb.debian.org/debian sid main" >"$a/sources.list"
opts="-o Dir::Etc::SourceList=$a/sources.list -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache -o APT::Sandbox::User=root
      -o Acquire::Retries=1 -o Acquire::http::Timeout=20"
# shellcheck disable=SC2086 # opts is a list of words
if ! timeout 300 apt-get -q $opts update >"$a/update.log" 2>&1; then
	echo "apt-get update of Debian sid failed: $(tail -1 "$a/update.log")"
	exit 1
fi
# shellcheck disable=SC2086
if ! (cd "$a/debs" && timeout 300 apt-get -q $opts download etcd-server etcd-client) >"$a/download.log" 2>&1; then
	echo "apt-get download etcd-server etcd-client (sid) failed: $(tail -1 "$a/download.log")"
	exit 1
fi
for d in "$a"/debs/*.deb; do
	dpkg -x "$d" "$dir" || exit 1
done
v=$("$dir/usr/bin/etcdctl" version 2>&1 | head -1)
case $v in
*3.5.*) exit 0 ;;
*) echo "the unpacked etcdctl says: $v" && exit 1 ;;
esac
