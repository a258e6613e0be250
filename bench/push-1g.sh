#!/usr/bin/env bash
# Push of a 1 GiB image to a local docker-registry, with rbuild's peak RSS from GNU time.
#
#   bench/push-1g.sh [RBUILD_BINARY]     (default: target/release/rbuild, else target/debug/rbuild)
#
# Builds an image whose top layer is 1 GiB of random data (so the blob stays ~1 GiB after
# gzip), starts docker-registry on 127.0.0.1, then measures: the first push (blobs streamed
# from disk), a second push (nothing uploaded), a push to another repository (cross-repository
# mount), and a pull into an empty store (verified streaming download). Prints one Markdown
# table row per case and fails when a push or the pull peaks at 100 MiB RSS or more.
# Needs root (RUN), docker-registry, GNU time and about 4 GiB free in $TMPDIR.
set -euo pipefail

cd "$(dirname "$0")/.."
RBUILD=${1:-}
if [ -z "$RBUILD" ]; then
    if [ -x target/release/rbuild ]; then RBUILD=target/release/rbuild; else RBUILD=target/debug/rbuild; fi
fi
RBUILD=$(realpath "$RBUILD")
LIMIT_KIB=$((100 * 1024))
[ "$(id -u)" = 0 ] || { echo "needs root (RUN uses namespaces and overlayfs)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "needs docker-registry (apt install docker-registry)" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "needs a static busybox at $BUSYBOX (busybox-static)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rbuild-push-bench-XXXXXX")
reg_pid=
cleanup() {
    if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
store=$work/store
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG"

# The registry, on a port nothing listens on.
port=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
cat > "$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
reg=127.0.0.1:$port

# A minimal busybox base image and the 1 GiB image on top of it.
base=$work/base
mkdir -p "$base/bin" "$base/tmp" "$base/etc"
cp "$BUSYBOX" "$base/bin/busybox"
for a in sh head; do ln -s busybox "$base/bin/$a"; done
chmod 1777 "$base/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' > "$base/etc/passwd"
echo 'root:x:0:' > "$base/etc/group"
tar -C "$base" -cf "$work/base.tar" .
"$RBUILD" --root "$store" import "$work/base.tar" bench-base:latest >/dev/null
ctx=$work/ctx
mkdir -p "$ctx"
printf 'FROM bench-base:latest\nRUN head -c 1073741824 /dev/urandom > /big\n' > "$ctx/Dockerfile"
"$RBUILD" --root "$store" build --progress plain -t "$reg/big:1" "$ctx" >"$work/build.txt" 2>&1 || {
    cat "$work/build.txt" >&2; exit 1; }
"$RBUILD" --root "$store" tag "$reg/big:1" "$reg/other:1" 2>/dev/null ||
    "$RBUILD" --root "$store" build --progress plain -t "$reg/other:1" "$ctx" >/dev/null 2>&1

over=0
# measure NAME CMD... : runs CMD under GNU time, prints "| NAME | seconds | peak RSS MiB |".
measure() {
    local name=$1; shift
    /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt" 2>&1 || {
        cat "$work/out.txt" >&2; echo "FAILED: $name" >&2; exit 1; }
    local rss secs
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    printf '| %s | %s | %.1f |\n' "$name" "$secs" "$(echo "$rss / 1024" | bc -l)"
    if [ "$rss" -ge "$LIMIT_KIB" ]; then over=1; fi
}

size=$(du -b "$store/blobs/sha256" | tail -1 | cut -f1)
echo "rbuild: $RBUILD"
echo "blobs in the store: $((size / 1048576)) MiB"
echo "| case | wall time | peak RSS (MiB) |"
echo "|---|---|---|"
measure "first push (1 GiB layer uploaded)" "$RBUILD" --root "$store" push "$reg/big:1"
measure "second push (every blob exists)" "$RBUILD" --root "$store" push "$reg/big:1"
measure "push to another repository (mounted)" "$RBUILD" --root "$store" push "$reg/other:1"
measure "pull into an empty store (verified)" "$RBUILD" --root "$work/store2" pull "$reg/big:1"
if [ "$over" = 1 ]; then
    echo "FAILED: peak RSS reached 100 MiB" >&2
    exit 1
fi
