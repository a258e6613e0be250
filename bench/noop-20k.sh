#!/bin/sh
# No-op rebuild of a 20,000-file context with `COPY . .`: builds once, then times rebuilds
# that change nothing. Target: under 0.3 s wall time. Not a test: run it by hand.
#
#   bench/noop-20k.sh            # uses target/release/rbuild (built if missing)
#   RBUILD=/path/to/rbuild bench/noop-20k.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
rbuild=${RBUILD:-$here/target/release/rbuild}
if [ ! -x "$rbuild" ]; then
    (cd "$here" && cargo build --release --bin rbuild)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/store
ctx=$work/ctx

# A one-binary base image (busybox from PATH); COPY never runs it.
base=$work/busybox.tar
bb=$(command -v busybox || echo /bin/busybox)
mkdir -p "$work/rootfs/bin"
cp "$bb" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
tar -C "$work/rootfs" -cf "$base" .
"$rbuild" --root "$root" import "$base" base:1 >/dev/null

# 20,000 files: 200 directories of 100 small files each.
mkdir -p "$ctx"
i=0
while [ $i -lt 200 ]; do
    d=$ctx/src/d$i
    mkdir -p "$d"
    j=0
    while [ $j -lt 100 ]; do
        echo "file $i/$j" > "$d/f$j.txt"
        j=$((j + 1))
    done
    i=$((i + 1))
done
printf 'FROM base:1\nWORKDIR /app\nCOPY . .\n' > "$ctx/Dockerfile"
echo "context: $(find "$ctx" -type f | wc -l) files"

build() { "$rbuild" --root "$root" build --progress plain -t noop:1 "$ctx" 2>/dev/null; }
sleep 1  # past the racy window so the first build remembers every digest
/usr/bin/time -f "first build: %e s" "$rbuild" --root "$root" build --progress plain -t noop:1 "$ctx" 2>&1 >/dev/null | tail -1
build  # warm the page cache

if command -v hyperfine >/dev/null; then
    hyperfine --warmup 2 --runs 20 --export-markdown "$work/result.md" \
        "$rbuild --root $root build --progress plain -t noop:1 $ctx"
    cat "$work/result.md"
else
    n=10
    start=$(date +%s.%N)
    k=0
    while [ $k -lt $n ]; do build; k=$((k + 1)); done
    end=$(date +%s.%N)
    echo "mean no-op rebuild: $(echo "($end - $start) / $n" | bc -l) s over $n runs"
fi
