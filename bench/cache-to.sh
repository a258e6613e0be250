#!/usr/bin/env bash
# What `--cache-to type=registry,mode=max` adds to a build (issue 15: ≤ 1 s + the upload time
# of new bytes, 500-step graphs included).
#
#   bench/cache-to.sh [RBUILD_BINARY] [STEPS]   (default: target/release/rbuild, 500 steps)
#
# A build of STEPS `COPY` steps (deterministic layers, so a rebuild makes the same blobs) on a
# busybox base, against docker-registry on 127.0.0.1, in interleaved rounds (medians):
#   plain      --no-cache, no --cache-to                       (the build alone)
#   first      --no-cache, --cache-to a new tag, new content   (every layer is new bytes)
#   again      --no-cache, --cache-to the same tag             (no new bytes: pure overhead)
#   push       `rbuild push` of new content to a new repository (the upload time of new bytes)
# and prints the overheads: again − plain must be ≤ 1 s; first − plain ≤ 1 s + push.
# Needs root, docker-registry and a static busybox (busybox-static).
set -euo pipefail

cd "$(dirname "$0")/.."
RBUILD=${1:-}
STEPS=${2:-500}
if [ -z "$RBUILD" ]; then
    if [ -x target/release/rbuild ]; then RBUILD=target/release/rbuild; else RBUILD=target/debug/rbuild; fi
fi
RBUILD=$(realpath "$RBUILD")
[ "$(id -u)" = 0 ] || { echo "needs root (builds use namespaces and overlayfs)" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "needs docker-registry (apt install docker-registry)" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "needs a static busybox at $BUSYBOX (busybox-static)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/rbuild-cacheto-bench-XXXXXX")
mkdir -p "$W/logs"
# The registry and the cleanup (trap) are bench/lib.sh's, as bench/run.sh and fleet.sh use.
# shellcheck source=bench/lib.sh
. bench/lib.sh
work=$W
store=$work/store
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG"
start_registry bench
reg=$REG_bench

base=$work/base
mkdir -p "$base/bin" "$base/tmp" "$base/etc"
cp "$BUSYBOX" "$base/bin/busybox"
ln -s busybox "$base/bin/sh"
chmod 1777 "$base/tmp"
tar -C "$base" -cf "$work/base.tar" .
"$RBUILD" --root "$store" import "$work/base.tar" bench-base:latest >/dev/null

ctx=$work/ctx
mkdir -p "$ctx"
echo 'FROM bench-base:latest' > "$ctx/Dockerfile"
for i in $(seq "$STEPS"); do
    echo "COPY f$i /f$i" >> "$ctx/Dockerfile"
done
# new_content: other random files, so the next build's layers are bytes no registry has
# seen (the same content would be found, or mounted from another repository, not sent).
new_content() {
    local i
    for i in $(seq "$STEPS"); do head -c 4096 /dev/urandom > "$ctx/f$i"; done
}
new_content

# timed CMD...: the wall time of CMD in seconds.
timed() {
    local s e
    s=$(date +%s.%N)
    "$@" >"$work/out.txt" 2>&1 || { cat "$work/out.txt" >&2; echo "FAILED: $*" >&2; exit 1; }
    e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
build() { "$RBUILD" --root "$store" build --no-cache --progress plain -t "$reg/app:1" "$@" "$ctx"; }
n=0
first_to() { n=$((n + 1)); build --cache-to "type=registry,ref=$reg/cache:new$n,mode=max"; }
# push_new: builds new content (untimed), then times `rbuild push` of it to a new repository:
# the upload time of 500 new layers.
n_push=0
push_new() {
    n_push=$((n_push + 1))
    new_content
    build >/dev/null 2>&1
    "$RBUILD" --root "$store" tag "$reg/app:1" "$reg/push$n_push:1"
    local s e
    s=$(date +%s.%N)
    "$RBUILD" --root "$store" push "$reg/push$n_push:1" >/dev/null 2>&1 || { echo "FAILED: push" >&2; exit 1; }
    e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}

build >/dev/null 2>&1  # warm the page cache and the store's base
# Rounds, interleaved so that the machine's drift falls on every case alike; each round on
# new content, built once untimed first (so that no timed build is the first on its content:
# the first one also creates the steps' snapshots): plain; --cache-to a new tag (every layer
# new bytes: nothing was pushed yet); then, after an untimed export of the same content to the
# tag `same`, --cache-to that tag again (no new bytes).
ROUNDS=${ROUNDS:-5}
plains=() firsts=() agains=()
for _ in $(seq "$ROUNDS"); do
    new_content
    build >/dev/null 2>&1
    plains+=("$(timed build)")
    firsts+=("$(timed first_to)")
    build --cache-to "type=registry,ref=$reg/cache:same,mode=max" >/dev/null 2>&1
    agains+=("$(timed build --cache-to "type=registry,ref=$reg/cache:same,mode=max")")
done
plain=$(median "${plains[@]}")
first=$(median "${firsts[@]}")
again=$(median "${agains[@]}")
push=$(median $(for _ in 1 2 3; do push_new; done))
bytes=$(du -sb "$W/registry-bench/storage/docker/registry/v2/blobs" | cut -f1)
echo "rbuild: $RBUILD; $STEPS COPY steps; registry holds $((bytes / 1024)) KiB"
echo "$ROUNDS interleaved rounds; plain: ${plains[*]}; new tag: ${firsts[*]}; same tag: ${agains[*]}"
echo "| case | median wall time (s) |"
echo "|---|---:|"
printf '| build, no --cache-to | %.2f |\n' "$plain"
printf '| build, --cache-to a new tag (all layers new) | %.2f |\n' "$first"
printf '| build, --cache-to the same tag (no new bytes) | %.2f |\n' "$again"
printf '| rbuild push of a new image (500 new layers) to a new repository | %.2f |\n' "$push"
o_again=$(echo "$again - $plain" | bc -l)
o_first=$(echo "$first - $plain" | bc -l)
printf 'overhead without new bytes: %.2f s (target ≤ 1 s)\n' "$o_again"
printf 'overhead with every layer new: %.2f s (target ≤ 1 s + push %.2f s)\n' "$o_first" "$push"
fail=0
[ "$(echo "$o_again <= 1" | bc -l)" = 1 ] || { echo "FAILED: overhead without new bytes above 1 s" >&2; fail=1; }
[ "$(echo "$o_first <= 1 + $push" | bc -l)" = 1 ] || { echo "FAILED: overhead above 1 s + upload" >&2; fail=1; }
exit $fail
