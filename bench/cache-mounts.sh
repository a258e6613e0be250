#!/usr/bin/env bash
# Portable cache mounts (issue 14): a cache mount of 1 GiB in many files of varied sizes is
# exported to a local docker-registry, 1 % of its files (every 100th, so spread over the
# whole tree) are rewritten, it is exported again, and imported into a fresh store; the
# import is timed against `tar -x` of the same tree.
#
#   bench/cache-mounts.sh [RBUILD_BINARY]     (default: target/release/rbuild)
#
# Environment: SIZE_MIB (default 1024), RUNS (imports and tar runs, alternated; default 3).
# The registry's storage and the tar archive live in a tmpfs, so both the import and tar read
# their source from memory and write the tree to the same disk ($TMPDIR). Nothing is synced
# by either; `sync` runs before every timed command, and no tree is deleted until the end
# (ext4 skips inodes freed in the last minutes when it allocates new ones, which slows every
# file creation after a mass delete). Prints a Markdown table and fails when the second
# export sends more than 5 % of the mount's bytes or the median import takes more than twice
# the median `tar -x`. Needs root (RUN, tmpfs), docker-registry, busybox-static, python3, GNU
# tar and time, about (2 x RUNS + 2) GiB free in $TMPDIR and 2.5 GiB of memory.
set -euo pipefail

cd "$(dirname "$0")/.."
RBUILD=$(realpath "${1:-target/release/rbuild}")
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
[ "$(id -u)" = 0 ] || { echo "needs root (RUN steps, a tmpfs)" >&2; exit 1; }
for tool in docker-registry python3 tar; do
    command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "needs a static busybox at $BUSYBOX (busybox-static)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rbuild-cachemounts-bench-XXXXXX")
reg_pid=
cleanup() {
    if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
    umount "$work/ram" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/ram"
mount -t tmpfs -o size=$((SIZE_MIB * 5 / 2 + 512))m tmpfs "$work/ram"
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG"
a=$work/a
rb() { "$RBUILD" --root "$a" "$@"; }

# The registry (storage in the tmpfs), on a port nothing listens on.
port=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/ram/registry" "$port" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/cache:latest

# A busybox base image.
base=$work/base
mkdir -p "$base/bin" "$base/tmp" "$base/etc"
cp "$BUSYBOX" "$base/bin/busybox"
for x in sh head mkdir; do ln -s busybox "$base/bin/$x"; done
chmod 1777 "$base/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' > "$base/etc/passwd"
echo 'root:x:0:' > "$base/etc/group"
tar -C "$base" -cf "$work/base.tar" .
rb import "$work/base.tar" bench-base:latest >/dev/null

# gen.sh writes the tree (sizes log-uniform: 80 % of files 100 B-16 KiB, 19 % 16-512 KiB,
# 1 % 512 KiB-16 MiB) and change.sh rewrites every 100th file with new bytes of its size.
ctx=$work/ctx
mkdir -p "$ctx/scripts"
read -r files total changed changed_bytes < <(python3 - "$ctx/scripts" "$SIZE_MIB" <<'PY'
import math, random, sys
ctx, target = sys.argv[1], int(sys.argv[2]) << 20
rnd = random.Random(14)
lu = lambda a, b: int(math.exp(rnd.uniform(math.log(a), math.log(b))))
files, total = [], 0
while total < target:
    r = rnd.random()
    size = lu(100, 16 << 10) if r < 0.80 else lu(16 << 10, 512 << 10) if r < 0.99 else lu(512 << 10, 16 << 20)
    n = len(files)
    files.append((f"d{n % 64:02d}/e{n // 64 % 16:02d}/f{n:06d}", size))
    total += size
with open(f"{ctx}/gen.sh", "w") as g:
    g.write("cd /cache\n")
    for d in sorted({p.rsplit("/", 1)[0] for p, _ in files}):
        g.write(f"mkdir -p {d}\n")
    for p, s in files:
        g.write(f"head -c {s} /dev/urandom > {p}\n")
picked = [f for i, f in enumerate(files) if i % 100 == 50]
with open(f"{ctx}/change.sh", "w") as c:
    c.write("cd /cache\n")
    for p, s in picked:
        c.write(f"head -c {s} /dev/urandom > {p}\n")
print(len(files), total, len(picked), sum(s for _, s in picked))
PY
)
# The bind mount is of scripts/ only, so the Dockerfile's second version keeps the first RUN cached.
run_line='RUN --mount=type=cache,id=bench,target=/cache --mount=type=bind,source=scripts,target=/ctx sh /ctx'
printf 'FROM bench-base:latest\n%s/gen.sh\n' "$run_line" > "$ctx/Dockerfile"
rb build --progress plain -t bench:1 "$ctx" >"$work/build.txt" 2>&1 || { cat "$work/build.txt" >&2; exit 1; }
data=$a/cachemounts/$(printf %s bench | sha256sum | cut -c1-32)/data

# timed NAME CMD...: runs CMD (after a sync) under GNU time; its output stays in $work/NAME.out.
timed() {
    local name=$1; shift
    sync
    /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.out" 2>&1 || {
        cat "$work/$name.out" >&2; echo "FAILED: $name" >&2; exit 1; }
    read -r secs rss < "$work/$name.time"
}
reg_bytes() { du -sb "$work/ram/registry" | cut -f1; }
sent_bytes() { sed -n 's/^sent [0-9]* blobs (\([0-9]*\) bytes.*/\1/p' "$work/$1.out"; }
pct() { python3 -c "print(f'{100 * $1 / $2:.2f}')"; }

timed export1 "$RBUILD" --root "$a" cache export --mounts "$ref"
export1=("$secs" "$rss" "$(sent_bytes export1)")
printf 'FROM bench-base:latest\n%s/gen.sh\n%s/change.sh\n' "$run_line" "$run_line" > "$ctx/Dockerfile"
rb build --progress plain -t bench:2 "$ctx" >"$work/build.txt" 2>&1 || { cat "$work/build.txt" >&2; exit 1; }
before=$(reg_bytes)
timed export2 "$RBUILD" --root "$a" cache export --mounts "$ref"
export2=("$secs" "$rss" "$(sent_bytes export2)" "$(( $(reg_bytes) - before ))")
tar --numeric-owner -C "$data" -cf "$work/ram/tree.tar" .
imports=() tars=()
for i in $(seq "$RUNS"); do
    timed "import$i" "$RBUILD" --root "$work/b$i" cache import "$ref"
    imports+=("$secs"); import_rss=$rss
    if [ "$i" = 1 ]; then
        got=$work/b$i/cachemounts/$(printf %s bench | sha256sum | cut -c1-32)/data
        list() { (cd "$1" && find . -printf '%p %y %m %U %G %s %T@ %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
        cmp <(list "$data") <(list "$got") >/dev/null || { echo "FAILED: the imported tree differs" >&2; exit 1; }
    fi
    mkdir "$work/x$i"
    timed "tar$i" tar --numeric-owner -C "$work/x$i" -xpf "$work/ram/tree.tar"
    tars+=("$secs")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
mi=$(median "${imports[@]}"); mt=$(median "${tars[@]}")

echo "rbuild: $RBUILD"
echo "tree: $files files, $total bytes; changed: $changed files, $changed_bytes bytes ($(pct "$changed_bytes" "$total") %)"
echo "first export: $(sed -n 's/^cache mount bench: //p' "$work/export1.out")"
echo "second export: $(sed -n 's/^cache mount bench: //p' "$work/export2.out")"
echo "| step | wall | peak RSS | bytes sent | % of the mount |"
echo "|---|---:|---:|---:|---:|"
echo "| first export (every pack new) | ${export1[0]} s | $((export1[1] / 1024)) MiB | ${export1[2]} | $(pct "${export1[2]}" "$total") |"
echo "| second export, 1 % of files changed | ${export2[0]} s | $((export2[1] / 1024)) MiB | ${export2[2]} (registry grew ${export2[3]}) | $(pct "${export2[2]}" "$total") ($(pct "${export2[3]}" "$total")) |"
echo "| import into a fresh store (median of $RUNS: ${imports[*]}) | $mi s | $((import_rss / 1024)) MiB | | |"
echo "| tar -x of the same tree (median of $RUNS: ${tars[*]}) | $mt s | | | |"
echo "import / tar -x: $(python3 -c "print(f'{$mi / $mt:.2f}')")"
python3 -c "import sys; sys.exit(0 if ${export2[3]} <= 0.05 * $total and $mi <= 2 * $mt else 1)" || {
    echo "FAILED: second export over 5 % or import over 2x tar -x" >&2; exit 1; }
