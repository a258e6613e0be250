#!/bin/sh
# Measures write_layer on a ~1 GiB tree: wall time and peak RSS per compression.
# Usage: crates/rbuild-layer/bench/layer-1g.sh [src-dir-to-copy-from] [MiB]
# Needs: cargo, GNU time (/usr/bin/time). Writes to $BENCH_DIR (default /tmp/rbuild-layer-bench).
set -eu
SRC=${1:-/usr/lib}
MIB=${2:-1024}
WORK=${BENCH_DIR:-/tmp/rbuild-layer-bench}
# OUT=/dev/null measures the pipeline without the output disk's write speed.
OUT=${OUT:-$WORK/layer.out}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)

cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p rbuild-layer --example mklayer --example applylayer
BIN="$ROOT/target/release/examples/mklayer"
APPLY="$ROOT/target/release/examples/applylayer"

# The tree: real files (binaries, libraries, text) copied from $SRC until $MIB MiB,
# plus one hardlink group, a long name and, as root, an overlay whiteout and opaque dir.
if [ ! -f "$WORK/.done-$MIB" ]; then
    rm -rf "$WORK"
    mkdir -p "$WORK/tree"
    find "$SRC" -type f -size -64M -print0 2>/dev/null | sort -z |
        python3 -c '
import os, shutil, sys
limit = int(sys.argv[1]) << 20
dst = sys.argv[2]
total = 0
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p or total >= limit:
        continue
    try:
        size = os.lstat(p).st_size
        target = os.path.join(dst.encode(), p.lstrip(b"/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(p, target)
        total += size
    except OSError:
        pass
print(f"copied {total >> 20} MiB", file=sys.stderr)
' "$MIB" "$WORK/tree"
    first=$(find "$WORK/tree" -type f | head -n 1)
    ln "$first" "$WORK/tree/hardlink-to-first"
    mkdir -p "$WORK/tree/$(printf 'd%.0s' $(seq 1 120))"
    echo long > "$WORK/tree/$(printf 'd%.0s' $(seq 1 120))/$(printf 'f%.0s' $(seq 1 200))"
    if [ "$(id -u)" = 0 ]; then
        mknod "$WORK/tree/whiteout" c 0 0
        mkdir "$WORK/tree/opaque"
        python3 -c 'import os,sys; os.setxattr(sys.argv[1], "trusted.overlay.opaque", b"y")' "$WORK/tree/opaque"
    fi
    touch "$WORK/.done-$MIB"
fi
echo "tree: $(du -sm "$WORK/tree" | cut -f1) MiB, $(find "$WORK/tree" | wc -l) entries"

for c in none gzip:1 gzip:6 zstd:3; do
    /usr/bin/time -v "$BIN" "$WORK/tree" "$OUT" "$c" 2> "$WORK/time.txt" > "$WORK/digests.txt"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
    cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$WORK/time.txt")
    usr=$(awk -F': ' '/User time/ {print $2}' "$WORK/time.txt")
    sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/time.txt")
    size=$(awk '/^size/ {print $2}' "$WORK/digests.txt")
    digest=$(awk '/^digest/ {print $2}' "$WORK/digests.txt")
    printf '%-7s wall=%s cpu=%s user=%ss sys=%ss peak_rss=%s KiB out=%s MiB digest=%s\n' \
        "$c" "$wall" "$cpu" "$usr" "$sys" "$rss" "$((size >> 20))" "$(echo "$digest" | cut -c1-19)"
done
# Unpacking the gzip layer again (decompress + apply_layer), then comparing with the source.
"$BIN" "$WORK/tree" "$WORK/layer.out" gzip:1 > /dev/null
rm -rf "$WORK/unpacked" && mkdir "$WORK/unpacked"
/usr/bin/time -v "$APPLY" "$WORK/layer.out" "$WORK/unpacked" 2> "$WORK/time.txt" > /dev/null
printf 'apply gzip:1 wall=%s user=%ss sys=%ss peak_rss=%s KiB\n' \
    "$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")" \
    "$(awk -F': ' '/User time/ {print $2}' "$WORK/time.txt")" \
    "$(awk -F': ' '/System time/ {print $2}' "$WORK/time.txt")" \
    "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")"
# Contents, then type/mode/owner/mtime/link count (whiteouts carry no metadata in a layer).
meta() { (cd "$1" && find . -mindepth 1 ! -name whiteout -exec stat -c '%n %F %a %u %g %Y %h %t:%T' {} + | sort); }
if diff -r --no-dereference -x whiteout "$WORK/tree" "$WORK/unpacked" > /dev/null 2>&1 &&
    [ "$(meta "$WORK/tree")" = "$(meta "$WORK/unpacked")" ]; then
    echo "unpacked tree: identical (contents, types, modes, owners, mtimes, link counts)"
else
    echo "unpacked tree: DIFFERS"
fi
rm -rf "$WORK/unpacked"
# Determinism across runs: the digest of a second gzip run must match.
"$BIN" "$WORK/tree" /dev/null gzip:1 | awk '/^digest/ {print "rerun gzip:1 digest=" substr($2,1,19)}'
rm -f "$WORK/layer.out" "$WORK/layer2.out"
sync
