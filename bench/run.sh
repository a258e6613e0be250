#!/usr/bin/env bash
# Side-by-side benchmark: rbuild vs BuildKit (dockerd's built-in, via DOCKER_BUILDKIT=1
# /usr/bin/docker build) vs buildah (runc), on the corpus in bench/cases/.
#
#   sudo bench/run.sh                       # everything; writes docs/PERFORMANCE.md's section
#
# Environment knobs (defaults in brackets):
#   BENCH_CASES="simple-app run50"  only these cases, keeping the other cases' results [all]
#   BENCH_BUILDERS="rbuild docker"  only these builders [rbuild docker buildah]
#   BENCH_RUNS=3 BENCH_WARMUP=1     hyperfine runs per measurement, warmups for rebuilds
#   BENCH_CACHE=/var/cache/rbuild-bench   where the debootstrap'd Debian rootfs tarball is kept
#   BENCH_WRITE_DOC=0               do not touch docs/PERFORMANCE.md (results stay in bench/results)
#   BENCH_RBUILD=path/to/rbuild     use this binary instead of building one
#   BENCH_RBUILD_FLAGS="--network host --allow network.host"   extra flags of rbuild builds
#                                   (e.g. to compare with a version without the private network)
#   BENCH_KEEP=1                    keep the work directory (logs, stores) for inspection
#   BENCH_BASELINE=path/to/rbuild   before/after mode: instead of the side-by-side, time this
#                                   "before" binary against rbuild ("after") on every case,
#                                   interleaved round by round (bench/ab.py); results in
#                                   bench/results-ab/ (ab.md), docs/PERFORMANCE.md untouched
#   BENCH_BASELINE_FLAGS="..."      extra build flags of the baseline (BENCH_RBUILD_FLAGS are
#                                   the "after" binary's)
#   BENCH_AB_RUNS=10                rounds per measurement in before/after mode
#   BENCH_AB_PAUSE=60               seconds of rest after each case's stores are removed
#
# What it does, on a fresh Debian machine with only apt reachable: installs the peers and tools,
# starts two docker-registry instances on 127.0.0.1 (one holds the bases every builder pulls
# through the same reference, the other receives the pushes), starts a private dockerd, builds
# rbuild in release mode, makes a busybox base (and a debootstrap'd Debian base) and pushes
# them, generates the corpus, then measures with hyperfine per case and builder:
#   cold   — the builder's caches pruned before every run (base image pulled again too)
#   noop   — rebuild with nothing changed
#   touch  — rebuild after editing one source file (the case's TOUCH)
# plus `push` of the large-context image to an emptied registry, and rbuild's peak RSS
# (/usr/bin/time -v) for a cold, a no-op and a touch build. bench/report.py turns the hyperfine
# JSON into the markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
[ "$(id -u)" = 0 ] || { echo "run as root: dockerd, buildah and rbuild's RUN need it" >&2; exit 1; }

RUNS=${BENCH_RUNS:-3}
WARMUP=${BENCH_WARMUP:-1}
BUILDERS=${BENCH_BUILDERS:-rbuild docker buildah}
CACHE=${BENCH_CACHE:-/var/cache/rbuild-bench}
RESULTS=$REPO/bench/results
W=$(mktemp -d /var/tmp/rbuild-bench.XXXXXX)
mkdir -p "$W"/{bin,ctx,logs,json,rss} "$CACHE"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

make_bases() {
    local tmp=$W/base-store
    log "busybox base → $REG_base/busybox:latest"
    target/release/examples/busybox-tarball "$W/busybox.tar"
    $RBUILD --root "$tmp" import "$W/busybox.tar" "$REG_base/busybox:latest" >/dev/null
    $RBUILD --root "$tmp" push "$REG_base/busybox:latest" >/dev/null
    DEBIAN_OK=0
    local tar
    if tar=$(debian_tarball); then
        log "debian base → $REG_base/debian:bookworm"
        $RBUILD --root "$tmp" import "$tar" "$REG_base/debian:bookworm" >/dev/null
        $RBUILD --root "$tmp" push "$REG_base/debian:bookworm" >/dev/null
        DEBIAN_OK=1
    else
        echo "warning: no Debian base could be made; the debian-base case is skipped" >&2
    fi
    skopeo inspect --tls-verify=false "docker://$REG_base/busybox:latest" >/dev/null
}

# ---------------------------------------------------------------- corpus
make_case() { # NAME → $W/ctx/NAME with @REG@ substituted and generated contents
    local name=$1 src=$REPO/bench/cases/$1 ctx=$W/ctx/$1
    mkdir -p "$ctx"
    if [ -d "$src/context" ]; then cp -a "$src/context/." "$ctx/"; fi
    sed "s|@REG@|$REG_base|g" "$src/Dockerfile" >"$ctx/Dockerfile"
    if [ -x "$src/gen.sh" ] || [ -f "$src/gen.sh" ]; then sh "$src/gen.sh" "$ctx"; fi
}

case_conf() { # NAME → sets TOUCH FLAGS NEEDS
    TOUCH= FLAGS= NEEDS=
    # shellcheck disable=SC1090
    . "$REPO/bench/cases/$1/case.conf"
}

# ---------------------------------------------------------------- builders
# Each builder gets tiny scripts: build-B CASE, prune-B, touch CASE. hyperfine runs the build
# command itself (no shell, -N) so no wrapper time is measured; scripts are for prepare steps.
write_scripts() {
    # The old root is moved aside, not deleted: on ext4 without a journal (this kind of VM)
    # the inode allocator skips inodes freed in the last minute, so a build right after an
    # rm -rf of 20,000 files pays for the deletion (docs/PERFORMANCE.md, "the ext4 effect").
    # The trash is removed at the end of the run.
    cat >"$W/bin/prune-rbuild" <<EOF
#!/bin/sh
mkdir -p "$W/trash"
[ ! -e "$W/rbuild-root" ] || mv "$W/rbuild-root" "$W/trash/root.\$\$.\$(date +%s%N)"
EOF
    cat >"$W/bin/prune-docker" <<EOF
#!/bin/sh
export DOCKER_HOST=$DOCKER_HOST
$DOCKER builder prune -af >/dev/null
ids=\$($DOCKER image ls -aq)
[ -z "\$ids" ] || $DOCKER image rm -f \$ids >/dev/null
EOF
    cat >"$W/bin/prune-buildah" <<EOF
#!/bin/sh
# Containers, then every image: buildah keeps its layer cache as intermediate images.
$BUILDAH rm --all >/dev/null
$BUILDAH rmi --all --force >/dev/null 2>&1 || true
EOF
    cat >"$W/bin/prune-root" <<EOF
#!/bin/sh
# The rbuild store \$1 moved aside, as prune-rbuild does (before/after mode).
mkdir -p "$W/trash"
[ ! -e "\$1" ] || mv "\$1" "$W/trash/root.\$\$.\$(date +%s%N)"
EOF
    cat >"$W/bin/touch-file" <<'EOF'
#!/bin/sh
# Edits (not just touches) one file, so every builder's content-based cache sees a change.
echo "# edit $(date +%s%N)" >> "$1"
EOF
    cat >"$W/bin/prune-push" <<EOF
#!/bin/sh
rm -rf "$W/registry-push/storage/docker"
EOF
    chmod +x "$W"/bin/*
}

build_cmd() { # BUILDER CASE → the command line hyperfine runs
    local b=$1 c=$2 ctx=$W/ctx/$2
    case_conf "$c"
    case $b in
    rbuild) echo "$RBUILD --root $W/rbuild-root build --progress plain -t bench-$c:latest $FLAGS ${BENCH_RBUILD_FLAGS:-} $ctx" ;;
    docker) echo "$DOCKER build --progress plain -t bench-$c:latest $FLAGS $ctx" ;;
    buildah) echo "$BUILDAH build --runtime /usr/sbin/runc --tls-verify=false --layers -t bench-$c:latest $FLAGS $ctx" ;;
    esac
}

push_cmd() { # BUILDER → command pushing bench-large-context to the push registry
    local dst=$REG_push/large-context:$1
    case $1 in
    rbuild) echo "$RBUILD --root $W/rbuild-root push $dst" ;;
    docker) echo "$DOCKER push $dst" ;;
    buildah) echo "$BUILDAH push --tls-verify=false bench-large-context:latest docker://$dst" ;;
    esac
}

hf() { # NAME OUT-JSON hyperfine-args... ; logs the builds' output, never aborts the bench
    local name=$1 out=$2
    shift 2
    if hyperfine -N --show-output --export-json "$out" "$@" >"$W/logs/$name.log" 2>&1; then
        printf '   %-40s %s s\n' "$name" "$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"], 3))' "$out")"
    else
        rm -f "$out"
        echo "   $name FAILED — last lines of $W/logs/$name.log:"
        tail -15 "$W/logs/$name.log" | sed 's/^/      /'
        cp "$W/logs/$name.log" "$RESULTS/failed-$name.log" 2>/dev/null || true
    fi
}

measure_case() { # CASE BUILDER
    local c=$1 b=$2 cmd ctx=$W/ctx/$1 j=$RESULTS  # written as measured: a crash keeps them
    cmd=$(build_cmd "$b" "$c")
    case_conf "$c"
    log "$c / $b"
    hf "$c.$b.cold" "$j/$c.$b.cold.json" --runs "$RUNS" --prepare "$W/bin/prune-$b" "$cmd"
    [ -f "$j/$c.$b.cold.json" ] || return 0
    hf "$c.$b.noop" "$j/$c.$b.noop.json" --warmup "$WARMUP" --runs "$RUNS" "$cmd"
    hf "$c.$b.touch" "$j/$c.$b.touch.json" --warmup "$WARMUP" --runs "$RUNS" \
        --prepare "$W/bin/touch-file $ctx/$TOUCH" "$cmd"
    if [ "$b" = rbuild ]; then
        "$W/bin/prune-rbuild"
        /usr/bin/time -v -o "$W/rss/$c.cold.txt" $cmd >/dev/null 2>&1 || true
        /usr/bin/time -v -o "$W/rss/$c.noop.txt" $cmd >/dev/null 2>&1 || true
        "$W/bin/touch-file" "$ctx/$TOUCH"
        /usr/bin/time -v -o "$W/rss/$c.touch.txt" $cmd >/dev/null 2>&1 || true
    fi
    if [ "$c" = large-context ]; then
        case $b in
        rbuild) $RBUILD --root "$W/rbuild-root" tag bench-large-context:latest "$REG_push/large-context:rbuild" ;;
        docker) $DOCKER tag bench-large-context:latest "$REG_push/large-context:docker" ;;
        esac
        hf "$c.$b.push" "$j/$c.$b.push.json" --runs "$RUNS" --prepare "$W/bin/prune-push" "$(push_cmd "$b")"
        if [ "$b" = rbuild ]; then
            "$W/bin/prune-push"
            /usr/bin/time -v -o "$W/rss/$c.push.txt" $(push_cmd rbuild) >/dev/null 2>&1 || true
        fi
    fi
}

measure_ab() { # CASE: the baseline (a) against rbuild (b), interleaved
    local c=$1 ctx=$W/ctx/$1 a b ra=$W/ab-root-a rb=$W/ab-root-b push=()
    case_conf "$c"
    a="$BASELINE --root $ra build --progress plain -t bench-$c:latest $FLAGS ${BENCH_BASELINE_FLAGS:-} $ctx"
    b="$RBUILD --root $rb build --progress plain -t bench-$c:latest $FLAGS ${BENCH_RBUILD_FLAGS:-} $ctx"
    if [ "$c" = large-context ]; then
        # The tag (a few ms) is timed with the push, alike for both.
        push=(--prune-push "$W/bin/prune-push"
            --push-a "$BASELINE --root $ra tag bench-$c:latest $REG_push/$c:a && $BASELINE --root $ra push $REG_push/$c:a"
            --push-b "$RBUILD --root $rb tag bench-$c:latest $REG_push/$c:b && $RBUILD --root $rb push $REG_push/$c:b")
    fi
    log "$c / before ($BASELINE) and after ($RBUILD), $AB_RUNS rounds"
    python3 "$REPO/bench/ab.py" measure --case "$c" --runs "$AB_RUNS" --out "$RESULTS/ab-$c.json" \
        --build-a "$a" --prune-a "$W/bin/prune-root $ra" \
        --build-b "$b" --prune-b "$W/bin/prune-root $rb" \
        --touch "$W/bin/touch-file $ctx/$TOUCH" "${push[@]}" ||
        echo "   $c FAILED"
    # Every cold round left a store in the trash (large-context: 2 x rounds stores of 20,000
    # files); empty it, then give ext4 the minute after which freed inodes are reused freely.
    rm -rf "$W/trash" "$ra" "$rb"
    sleep "${BENCH_AB_PAUSE:-60}"
}

machine_info() {
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "nproc=$(nproc)"
        echo "mem=$(free -g | awk '/^Mem:/ { print $2 " GiB total, " $7 " GiB available" }')"
        echo "kernel=$(uname -srm)"
        echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
        echo "cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
        echo "fs=$(df -T "$W" | awk 'NR == 2 { print $2 }')"
        echo "docker=$($DOCKER version --format 'client {{.Client.Version}}, server {{.Server.Version}}' 2>/dev/null)"
        echo "buildah=$($BUILDAH --version)"
        echo "runc=$(runc --version | head -1)"
        echo "hyperfine=$(hyperfine --version)"
        echo "rbuild=$RBUILD_REV"
        if [ -n "$BASELINE" ]; then
            echo "baseline=$BASELINE flags='${BENCH_BASELINE_FLAGS:-}'; after flags='${BENCH_RBUILD_FLAGS:-}'"
            echo "runs=$AB_RUNS interleaved rounds per measurement (bench/ab.py)"
        else
            echo "runs=cold $RUNS runs; no-op and touch $WARMUP warmup + $RUNS runs"
        fi
        echo "load_start=$LOAD_START"
        echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "debian_base=$DEBIAN_OK"
    } >"$RESULTS/machine.txt"
}

# ---------------------------------------------------------------- main
# Everything runs from one function that bash parses whole before running it, so editing this
# file while a bench runs cannot derail the run.
main() {
    install_packages
    SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    DOCKER=/usr/bin/docker
    BUILDAH="buildah --root $W/buildah/root --runroot $W/buildah/run --storage-driver overlay"
    export BUILDAH_RUNTIME=/usr/sbin/runc BUILDAH_ISOLATION=oci

    if [ -n "${BENCH_RBUILD:-}" ] && [ -x target/release/examples/busybox-tarball ]; then
        RBUILD=$(realpath "$BENCH_RBUILD")
    else
        log "building rbuild (release)"
        cargo build --release --locked --bin rbuild --example busybox-tarball -p rbuild -p rbuild-testkit
        RBUILD=$REPO/target/release/rbuild.bench
        # A private copy: others may rebuild target/release/rbuild while the bench runs.
        cp target/release/rbuild "$RBUILD.tmp" && mv "$RBUILD.tmp" "$RBUILD"
    fi

    BASELINE=
    AB_RUNS=${BENCH_AB_RUNS:-10}
    if [ -n "${BENCH_BASELINE:-}" ]; then
        BASELINE=$(realpath "$BENCH_BASELINE")
        RESULTS=$REPO/bench/results-ab
    fi
    RBUILD_REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src crates Cargo.lock || echo ' + uncommitted changes')"
    [ -z "${BENCH_RBUILD:-}" ] || RBUILD_REV="$RBUILD (given; tree at $RBUILD_REV)"
    start_registry base
    start_registry push
    start_dockerd "$REG_base" "$REG_push"
    make_bases
    write_scripts
    # A full run replaces the results; BENCH_CASES=... reruns only those cases' files. Earlier
    # runs kept in subdirectories (bench/results-ab/stop27/, stop28/, ...) are left alone.
    if [ -z "${BENCH_CASES:-}" ] && [ -d "$RESULTS" ]; then
        find "$RESULTS" -maxdepth 1 -type f -delete
    fi
    mkdir -p "$RESULTS"

    CASES=${BENCH_CASES:-$(ls "$REPO/bench/cases")}
    for c in $CASES; do
        case_conf "$c"
        if [ "$NEEDS" = debian ] && [ "$DEBIAN_OK" != 1 ]; then
            echo "skipping $c: no Debian base" | tee "$RESULTS/skipped-$c.txt"
            continue
        fi
        rm -f "$RESULTS/$c".* "$RESULTS/failed-$c".* "$RESULTS/skipped-$c".*
        log "corpus: $c"
        make_case "$c"
        if [ -n "$BASELINE" ]; then
            measure_ab "$c"
        else
            for b in $BUILDERS; do measure_case "$c" "$b"; done
        fi
    done

    machine_info
    cp "$W"/json/*.json "$RESULTS/" 2>/dev/null || true
    for f in "$W"/rss/*.txt; do
        [ -e "$f" ] || continue
        awk -F': ' '/Maximum resident set size/ { print $2 }' "$f" >"$RESULTS/$(basename "$f" .txt).rss-kib"
    done
    if [ -n "$BASELINE" ]; then
        python3 "$REPO/bench/ab.py" report "$RESULTS" | tee "$RESULTS/ab.md"
        return
    fi
    write_doc=()
    [ "${BENCH_WRITE_DOC:-1}" = 1 ] && write_doc=(--doc "$REPO/docs/PERFORMANCE.md")
    python3 "$REPO/bench/report.py" "$RESULTS" "${write_doc[@]}" | tee "$RESULTS/report.md"
}

main "$@"
exit
