#!/usr/bin/env bash
# A 1 GiB layer through rbuild, with peak RSS measured by GNU time (`/usr/bin/time -v`).
#
#   bench/layer-1g.sh [RBUILD_BINARY]     (default: target/release/rbuild, else target/debug/rbuild)
#
# Cases: RUN writing 1 GiB of random data (diff → tar → gzip → store, then snapshot commit),
# COPY of a 1 GiB context file, the same RUN with zstd layers, `rbuild save` of the image, and
# `--output type=local` (the applier unpacking the 1 GiB layer). Needs root (RUN) and about
# 6 GiB of free disk in $TMPDIR. Prints one Markdown table row per case.
set -euo pipefail

cd "$(dirname "$0")/.."
RBUILD=${1:-}
if [ -z "$RBUILD" ]; then
    if [ -x target/release/rbuild ]; then RBUILD=target/release/rbuild; else RBUILD=target/debug/rbuild; fi
fi
RBUILD=$(realpath "$RBUILD")
[ "$(id -u)" = 0 ] || { echo "needs root (RUN uses namespaces and overlayfs)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "needs a static busybox at $BUSYBOX (busybox-static)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rbuild-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
store=$work/store

# A minimal busybox base image.
base=$work/base
mkdir -p "$base/bin" "$base/tmp" "$base/etc"
cp "$BUSYBOX" "$base/bin/busybox"
for a in sh head cat rm mkdir echo true; do ln -s busybox "$base/bin/$a"; done
chmod 1777 "$base/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' > "$base/etc/passwd"
echo 'root:x:0:' > "$base/etc/group"
tar -C "$base" -cf "$work/base.tar" .
"$RBUILD" --root "$store" import "$work/base.tar" bench-base:latest >/dev/null

# measure NAME CMD... : runs CMD under GNU time, prints "| NAME | seconds | peak RSS MiB |".
measure() {
    local name=$1; shift
    /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt" 2>&1 || {
        cat "$work/out.txt" >&2; echo "FAILED: $name" >&2; exit 1; }
    local rss secs
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    printf '| %s | %s | %.1f |\n' "$name" "$secs" "$(echo "$rss / 1024" | bc -l)"
}

ctx_run=$work/ctx-run
mkdir -p "$ctx_run"
printf 'FROM bench-base:latest\nRUN head -c 1073741824 /dev/urandom > /big\n' > "$ctx_run/Dockerfile"

ctx_copy=$work/ctx-copy
mkdir -p "$ctx_copy"
head -c 1073741824 /dev/urandom > "$ctx_copy/big.bin"
printf 'FROM bench-base:latest\nCOPY big.bin /big.bin\n' > "$ctx_copy/Dockerfile"

echo "rbuild: $RBUILD"
echo "| case | wall time | peak RSS (MiB) |"
echo "|---|---|---|"
measure "RUN head -c 1G /dev/urandom (gzip layer)" \
    "$RBUILD" --root "$store" build --progress plain -t big:run "$ctx_run"
measure "COPY of a 1 GiB file (gzip layer)" \
    "$RBUILD" --root "$store" build --progress plain -t big:copy "$ctx_copy"
measure "RUN 1 GiB, zstd layer (--no-cache)" \
    "$RBUILD" --root "$store" build --progress plain --no-cache -o type=image,compression=zstd -t big:zstd "$ctx_run"
measure "rbuild save (1 GiB image to an OCI tar)" \
    "$RBUILD" --root "$store" save -o "$work/big.tar" big:run
rm -f "$work/big.tar"
measure "--output type=local (apply the 1 GiB layer)" \
    "$RBUILD" --root "$store" build --progress plain -o "type=local,dest=$work/rootfs" "$ctx_run"
echo
"$RBUILD" --root "$store" images
