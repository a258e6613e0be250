#!/usr/bin/env bash
# Multi-platform builds (issue 16), two measurements:
#
#  1. Cross-compiling: a builder stage on $BUILDPLATFORM does a few seconds of native CPU work
#     (it generates and gzips data for every target architecture into /out/$arch), and the
#     final stage of each platform only copies its own file (`COPY --from=build
#     /out/$TARGETARCH`, no emulated RUN). Cold builds, a fresh store for each (the bases are
#     imported before the clock starts), `--platform linux/amd64` and `--platform
#     linux/amd64,linux/arm64` interleaved. Target: the 2-platform build takes at most 1.2x
#     the single-platform one (medians); its plain progress shows the builder stage ran once.
#  2. Emulated RUN overhead: an arm64 RUN step of >= 1 s of CPU work run by rbuild through
#     binfmt_misc and QEMU, against the same command run by hand under qemu-aarch64-static
#     with the same arm64 busybox (both interleaved, hyperfine). The step's own time inside
#     rbuild is its `done` event's duration_ms in `--progress=rawjson`. Target: (step - by
#     hand) / by hand <= 10 % (medians), for every workload.
#
#   bench/platforms.sh [RBUILD_BINARY]     (default: target/release/rbuild)
#
# Environment: RUNS (runs of each command; default 9), CROSS_LINES (lines generated and
# gzipped per architecture by the builder stage; default 3000000), LOOP (iterations of the
# emulated shell loop; default 40000), GZIP_LINES (lines gzipped by the emulated pipeline;
# default 400000), PARTS (default "cross emu": which of the two to run).
#
# The bases are made offline as tests/e2e_platforms.rs makes them: busybox-static for amd64
# from the host, for arm64 from Debian's busybox-static:arm64 package (`dpkg
# --add-architecture arm64`, `apt-get download`; kept in /var/cache/rbuild-test/arm64 like the
# test's), and `busybox:latest` built by rbuild as a two-platform index from the two rootfs
# tarballs. Needs root (RUN, binfmt_misc), qemu-user-static (`rbuild setup binfmt` registers
# it), busybox-static, hyperfine, python3, and a few hundred MiB in $TMPDIR (default /var/tmp).
# Prints Markdown tables; exits 1 when a target is missed.
set -euo pipefail

cd "$(dirname "$0")/.."
RBUILD=$(realpath "${1:-target/release/rbuild}")
RUNS=${RUNS:-9}
CROSS_LINES=${CROSS_LINES:-3000000}
LOOP=${LOOP:-40000}
GZIP_LINES=${GZIP_LINES:-400000}
PARTS=${PARTS:-cross emu}
[ "$(id -u)" = 0 ] || { echo "needs root (RUN steps, binfmt_misc)" >&2; exit 1; }
for tool in hyperfine python3 tar dpkg apt-get; do
    command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
QEMU=$(command -v qemu-aarch64-static) || { echo "needs qemu-aarch64-static (qemu-user-static)" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "needs a static busybox at $BUSYBOX (busybox-static)" >&2; exit 1; }

# The arm64 busybox, downloaded once per machine (the e2e test's cache).
arm_cache=/var/cache/rbuild-test/arm64
ARM_BUSYBOX=$arm_cache/bin/busybox
if [ ! -x "$ARM_BUSYBOX" ]; then
    mkdir -p "$arm_cache"
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
    (cd "$arm_cache" && apt-get download -qq busybox-static:arm64 \
        && dpkg-deb -x busybox-static_*_arm64.deb . && rm -f busybox-static_*_arm64.deb)
    [ -x "$ARM_BUSYBOX" ] || { echo "no busybox in Debian's busybox-static:arm64 package" >&2; exit 1; }
fi
"$RBUILD" setup binfmt >/dev/null || { echo "rbuild setup binfmt failed" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/rbuild-platforms-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

# rootfs ARCH BUSYBOX: $work/rootfs-ARCH (a directory) and $work/base/rootfs-ARCH.tar.
mkdir "$work/base"
rootfs() {
    local root=$work/rootfs-$1
    mkdir -p "$root/bin" "$root/etc" "$root/tmp"
    cp "$2" "$root/bin/busybox"
    for applet in sh cat echo uname ls mkdir true seq sed gzip sha256sum wc; do
        ln -s busybox "$root/bin/$applet"
    done
    chmod 1777 "$root/tmp"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
    echo 'root:x:0:' > "$root/etc/group"
    tar -C "$root" -cf "$work/base/rootfs-$1.tar" .
}
rootfs amd64 "$BUSYBOX"
rootfs arm64 "$ARM_BUSYBOX"
printf 'FROM scratch\nARG TARGETARCH\nADD rootfs-${TARGETARCH}.tar /\n' > "$work/base/Dockerfile"
# fresh-store.sh (also hyperfine's --prepare): an empty store holding busybox:latest for
# linux/amd64 and linux/arm64, its writes synced.
store=$work/store
cat > "$work/fresh-store.sh" <<EOF
set -e
rm -rf '$store'
'$RBUILD' --root '$store' build -q --platform linux/amd64,linux/arm64 -t busybox:latest '$work/base' >/dev/null
sync
EOF
fresh_store="sh $work/fresh-store.sh"
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR==1 {a=$1} {b=$1} END {printf "%.2f-%.2f", a, b}'; }
# hf JSON CMD [PREPARE]: one hyperfine run of CMD (shell: sh); prints "wall user+sys".
hf() {
    local json=$1 cmd=$2 prep=${3:-true}
    hyperfine --runs 1 --prepare "$prep" --export-json "$json" "$cmd" >/dev/null 2>"$json.err" || {
        cat "$json.err" >&2; echo "FAILED: $cmd" >&2; exit 1; }
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"][0]
print("%.3f %.3f" % (r["mean"], r["user"] + r["system"]))' "$json"
}
echo "rbuild: $RBUILD"
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
failed=0

# --- 1. Cross-compiling -------------------------------------------------------------------
if [[ " $PARTS " == *" cross "* ]]; then
cross=$work/cross
mkdir "$cross"
cat > "$cross/Dockerfile" <<EOF
FROM --platform=\$BUILDPLATFORM busybox AS build
RUN echo "builder-stage-ran-on-\$(uname -m)" && for arch in amd64 arm64; do \\
      mkdir -p /out/\$arch && seq 1 $CROSS_LINES | sed "s/^/\$arch /" | gzip -9 > /out/\$arch/app.gz; \\
    done && sha256sum /out/*/app.gz
FROM busybox
ARG TARGETARCH
COPY --from=build /out/\$TARGETARCH /app
EOF
build_cmd() { echo "'$RBUILD' --root '$store' build --progress plain --platform $1 -t cross:1 '$cross'"; }
one=() both=() one_cpu=() both_cpu=()
for i in $(seq "$RUNS"); do
    for which in $([ $((i % 2)) = 1 ] && echo "one both" || echo "both one"); do
        if [ "$which" = one ]; then p=linux/amd64; else p=linux/amd64,linux/arm64; fi
        read -r wall cpu < <(hf "$work/cross-$which-$i.json" "$(build_cmd $p)" "$fresh_store")
        if [ "$which" = one ]; then one+=("$wall"); one_cpu+=("$cpu"); else both+=("$wall"); both_cpu+=("$cpu"); fi
    done
done
# The plain progress of one more 2-platform build: the builder stage's output appears once.
$fresh_store
"$RBUILD" --root "$store" build --progress plain --platform linux/amd64,linux/arm64 -t cross:1 "$cross" > "$work/cross-plain.txt" 2>&1
ran=$(grep -c 'builder-stage-ran-on-x86_64$' "$work/cross-plain.txt" || true)
m1=$(median "${one[@]}"); m2=$(median "${both[@]}")
ratio=$(python3 -c "print(f'{$m2 / $m1:.2f}')")
echo
echo "### Cross-compiling ($RUNS cold runs each, interleaved; load after: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| build | wall, median | wall, min-max | CPU (user+sys), median | runs |"
echo "|---|---:|---:|---:|---|"
echo "| \`--platform linux/amd64\` | $m1 s | $(spread "${one[@]}") s | $(median "${one_cpu[@]}") s | ${one[*]} |"
echo "| \`--platform linux/amd64,linux/arm64\` | $m2 s | $(spread "${both[@]}") s | $(median "${both_cpu[@]}") s | ${both[*]} |"
echo
echo "2-platform / single: $ratio (target <= 1.2); builder stage output lines: $ran (expected 1)"
echo
echo "Plain progress of the 2-platform build, the builder stage's lines:"
echo '```'
grep -E 'RUN echo "builder-stage|builder-stage-ran-on|CACHED|COPY --from' "$work/cross-plain.txt" || true
echo '```'
python3 -c "import sys; sys.exit(0 if $ratio <= 1.2 and $ran == 1 else 1)" || {
    echo "MISSED: 2-platform/single $ratio > 1.2 or the builder stage ran $ran times" >&2; failed=1; }
fi

# --- 2. Emulated RUN overhead ------------------------------------------------------------
if [[ " $PARTS " == *" emu "* ]]; then
emu=$work/emu
mkdir "$emu"
$fresh_store
printf 'i=0; s=1; while [ $i -lt %s ]; do s=$(( (s * 1103515245 + 12345) %% 2147483648 )); i=$((i + 1)); done; echo $s\n' \
    "$LOOP" > "$emu/loop.sh"
printf 'seq 1 %s | gzip -9 | sha256sum\n' "$GZIP_LINES" > "$emu/gzip.sh"
# `true`: the fixed cost of a step (sandbox, network, snapshot commit); no target for it.
echo true > "$emu/true.sh"
echo
echo "### Emulated RUN (linux/arm64 on $(uname -m), $RUNS runs each, interleaved)"
echo
echo "| workload | by hand (qemu-aarch64-static), median | min-max | rbuild step (rawjson), median | min-max | rbuild build wall, median | step - by hand | sandbox overhead |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for w in true loop gzip; do
    printf 'FROM busybox\nRUN --mount=type=bind,source=%s.sh,target=/work.sh sh /work.sh\n' "$w" > "$emu/Dockerfile"
    hand_cmd="'$QEMU' '$work/rootfs-arm64/bin/busybox' sh '$emu/$w.sh'"
    expected=$(sh -c "$hand_cmd")
    hand=() step=() wall=()
    for i in $(seq "$RUNS"); do
        for which in $([ $((i % 2)) = 1 ] && echo "hand rbuild" || echo "rbuild hand"); do
            if [ "$which" = hand ]; then
                read -r t _ < <(hf "$work/emu-$w-hand-$i.json" "$hand_cmd")
                hand+=("$t")
            else
                raw=$work/emu-$w-$i.jsonl
                read -r t _ < <(hf "$work/emu-$w-rbuild-$i.json" \
                    "'$RBUILD' --root '$store' build --no-cache --progress rawjson --platform linux/arm64 -t emu:1 '$emu' 2>'$raw'")
                wall+=("$t")
                # The RUN vertex's own duration, and a check that it printed what the hand run did.
                step+=("$(python3 - "$raw" "$expected" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
run = {e["vertex"] for e in events if e["type"] == "started" and "RUN" in e["name"]}
assert len(run) == 1, run
out = "".join(e["data"] for e in events if e["type"] == "log" and e["vertex"] in run)
assert sys.argv[2] in out, (out, sys.argv[2])
print([e["duration_ms"] for e in events if e["type"] == "done" and e["vertex"] in run][0] / 1000)
PY
)")
            fi
        done
    done
    mh=$(median "${hand[@]}"); ms=$(median "${step[@]}")
    over=$(python3 -c "print(f'{100 * ($ms - $mh) / $mh:+.1f}')")
    diff=$(python3 -c "print(f'{1000 * ($ms - $mh):+.0f}')")
    echo "| \`$(sed "s/|/\\\\|/g" "$emu/$w.sh")\` | $mh s | $(spread "${hand[@]}") s | $ms s | $(spread "${step[@]}") s | $(median "${wall[@]}") s | $diff ms | $over % |"
    [ "$w" != true ] || continue
    python3 -c "import sys; sys.exit(0 if $over <= 10 and $mh >= 1 else 1)" || {
        echo "MISSED ($w): overhead $over % > 10 % (or the step took under 1 s by hand: $mh s)" >&2; failed=1; }
done
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
